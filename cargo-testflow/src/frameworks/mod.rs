//! Per-framework parsers that turn raw test output into the shared result schema.
pub mod cargo_failure;
