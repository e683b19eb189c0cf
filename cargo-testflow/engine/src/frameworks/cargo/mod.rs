//! Rust through cargo. The options (`options`) are in every build: the bindings and the
//! command line both name them. The driver itself (build, list, libtest and doctest units,
//! cargo-llvm-cov, reading a failed test's output) is the `cargo` feature: only
//! `cargo testflow` has it.

mod options;
pub use options::*;

#[cfg(feature = "cargo")]
mod affected;
#[cfg(feature = "cargo")]
pub mod coverage;
#[cfg(feature = "cargo")]
mod driver;
#[cfg(feature = "cargo")]
pub use driver::*;
#[cfg(feature = "cargo")]
pub mod failure;
#[cfg(feature = "cargo")]
pub mod suite;
