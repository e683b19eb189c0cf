//! How to build, list and launch each framework's tests. Nothing framework-specific lives elsewhere.
pub mod cargo;
pub mod cargo_failure;
