//! How to build, list and launch each framework's tests. Nothing framework-specific lives elsewhere.

use std::path::Path;

use anyhow::Result;

use crate::model::Framework;
use crate::runner::{Ctx, Unit};

pub mod cargo;
pub mod cargo_failure;
pub mod jest;
pub mod pytest;
pub mod pytest_assert;

/// A framework's suite found in a project (other than the cargo workspace, whose build
/// runs before the run's log exists): it becomes runner units once the run has started.
pub trait Suite {
    fn framework(&self) -> Framework;
    /// The units to run. A collection or setup problem that stops the suite is an `Err`
    /// (recorded as a run error); problems with single tests are recorded through `ctx`.
    fn units(self: Box<Self>, ctx: &Ctx) -> Result<Vec<Box<dyn Unit>>>;
    /// The suite's test files or groups with their test counts, for `cargo testflow list`.
    fn listing(&self) -> Result<Vec<cargo::SuiteListing>> {
        Ok(Vec::new())
    }
    /// The ids a shard plan splits, at the grain the framework shards at
    /// (`cargo testflow shard plan`).
    fn shard_items(&self) -> Result<(Vec<String>, crate::selection::Grain)> {
        Ok((Vec::new(), crate::selection::Grain::Test))
    }
}

/// What `detect_suites` looks for, for the "nothing found" message.
pub const DETECTED_HINT: &str =
    ", pytest configuration or test_*.py files, or a Jest project (package.json)";

/// Every non-cargo suite in `root` whose framework `wants` accepts.
pub fn detect_suites(
    root: &Path,
    wants: &dyn Fn(Framework) -> bool,
) -> Result<Vec<Box<dyn Suite>>> {
    let mut suites: Vec<Box<dyn Suite>> = Vec::new();
    if wants(Framework::Pytest)
        && let Some(s) = pytest::PytestSuite::detect(root)
    {
        suites.push(Box::new(s));
    }
    if wants(Framework::Jest) {
        suites.extend(jest::detect(root));
    }
    Ok(suites)
}
