//! testflow: run, record, analyse and report test suites (Rust, pytest, Jest) with one engine.
//!
//! Data flows one way: frameworks → the event log (`events`) → a `Run` (`model`) →
//! reports. The `cargo-testflow` binary is a thin command line over this library.

pub mod affected;
pub mod analyze;
pub mod annotations;
pub mod choice;
#[cfg(feature = "ci")]
pub mod ci;
pub mod config;
pub mod coverage;
pub mod environment;
pub mod error;
pub mod events;
pub mod exit_code;
pub mod files;
pub mod frameworks;
// The fuzz targets' inputs under proptest (stable CI runs them).
#[cfg(all(test, feature = "full"))]
mod fuzz_props;
pub mod gate;
pub mod history;
pub mod import;
pub mod interrupt;
pub mod iterate;
pub mod js_syntax;
pub mod lookup;
pub mod merge;
pub mod names;
pub use testflow_schema as model;
pub mod ordering;
pub mod process;
pub mod project;
pub mod quarantine;
pub mod recorder;
pub mod report;
pub mod runner;
pub mod selection;
pub mod session;
pub mod settings;
pub mod shard;
pub mod show;
pub mod store;
pub mod ui;
pub mod verdict;
#[cfg(feature = "watch")]
pub mod watch;
