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
pub mod workers;

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

/// A tool the suite needs is missing or cannot start (pytest not installed for the Python
/// that runs the tests, Jest not installed in the project): recorded as an `environment`
/// run error, not a build failure. The message says what is missing and how to install it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EnvironmentError(pub String);

/// What `detect_suites` looks for, for the "nothing found" message.
pub const DETECTED_HINT: &str =
    ", pytest configuration or test_*.py files, or a Jest project (package.json)";

/// Every non-cargo suite in `root` whose framework `wants` accepts.
/// Whether `dir` is a project root by a framework's own configuration (a pytest
/// configuration file, a package.json that uses Jest); see `project::find_root`.
pub fn is_configured_root(dir: &Path) -> bool {
    pytest::has_config(dir) || jest::is_jest_project(dir)
}

/// Whether `dir` holds a pytest or Jest project, by configuration or by its test files.
pub fn is_other_project(dir: &Path) -> bool {
    pytest::is_pytest_project(dir) || jest::is_jest_project(dir)
}

pub fn detect_suites(
    root: &Path,
    wants: &dyn Fn(Framework) -> bool,
) -> Result<Vec<Box<dyn Suite>>> {
    detect_suites_forced(root, wants, &[])
}

/// [`detect_suites`], taking `root` as a suite of each framework in `forced` (named with
/// `--framework`) even when nothing marks it as one: running it then says what is missing.
/// (Only Jest can be forced so far.)
pub fn detect_suites_forced(
    root: &Path,
    wants: &dyn Fn(Framework) -> bool,
    forced: &[Framework],
) -> Result<Vec<Box<dyn Suite>>> {
    let mut suites: Vec<Box<dyn Suite>> = Vec::new();
    if wants(Framework::Pytest)
        && let Some(s) = pytest::PytestSuite::detect(root)
    {
        suites.push(Box::new(s));
    }
    if wants(Framework::Jest) {
        suites.extend(jest::detect(root, forced.contains(&Framework::Jest)));
    }
    Ok(suites)
}
