//! Every framework testflow drives, each behind one plug-in interface: [`Plugin`] (what the
//! framework is: how to find its suites, how its ids map to files, where its coverage
//! lands, its JUnit and analyze specifics) and [`Suite`] (one suite found in a project:
//! build it before the run's log opens, list it, turn it into runner units).
//!
//! The rest of the engine asks [`PLUGINS`] (or [`plugin`]) instead of matching on a
//! framework. Adding a framework is a module here, registered in [`PLUGINS`], plus its
//! door (binding + package) if it has one: see CONTRIBUTING.md.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::history::History;
use crate::model::{Framework, FrameworkCoverage, TestCase};
use crate::runner::{Ctx, Unit};

// One folder per framework. cargo's options are in every build; its driver is the `cargo`
// feature (only `cargo testflow` has it): see cargo/mod.rs.
pub mod cargo;
pub mod go;
pub mod jest;
pub mod listing;
pub mod playwright;
pub mod pytest;
pub(crate) mod related;
pub mod reporter_run;
pub mod vitest;
pub mod workers;

pub use listing::{ListedSelection, ListedTest, SuiteListing};

/// Every framework, in the order a run lists them (and `cargo testflow list` shows them).
pub static PLUGINS: &[&dyn Plugin] = &[
    #[cfg(feature = "cargo")]
    &cargo::suite::Cargo,
    &pytest::Pytest,
    &jest::Jest,
    &vitest::Vitest,
    &go::Go,
    &playwright::Playwright,
];

/// The plug-in of `framework`.
pub fn plugin(framework: Framework) -> Option<&'static dyn Plugin> {
    PLUGINS.iter().copied().find(|p| p.framework() == framework)
}

/// What detection is given.
pub struct Detect<'a> {
    pub root: &'a Path,
    /// The framework was named with `--framework`: take `root` as its suite even when
    /// nothing marks it as one (running it then says what is missing).
    pub forced: bool,
    /// Suites of other frameworks were found in `root` (told to [`Plugin::encloses`]
    /// frameworks, which are detected after the others).
    pub others_found: bool,
    /// cargo's options from the command line (`--manifest-path`, packages, filters, `--doc`).
    pub cargo: &'a cargo::CargoOptions,
}

/// A framework testflow drives. One value per framework, registered in [`PLUGINS`].
pub trait Plugin: Sync {
    fn framework(&self) -> Framework;

    /// Its projects hold other frameworks' projects (a cargo workspace holds Python and Jest
    /// projects): it is detected after the others, and told whether they found a suite.
    fn encloses(&self) -> bool {
        false
    }

    /// `dir` is configured for this framework's own runner (a `vitest.config.*`), so a
    /// Jest that is only a dependency there is not run: Jest asks every plug-in.
    fn claims_node_project(&self, _dir: &Path) -> bool {
        false
    }

    /// Its suite in `d.root`, if there is one.
    fn detect(&self, d: &Detect<'_>) -> Result<Option<Box<dyn Suite>>>;

    /// Whether `dir` holds a project of this framework (configuration or test files).
    fn is_project(&self, dir: &Path) -> bool;

    /// Whether `dir` is a project root by the framework's own configuration (a pytest
    /// configuration file, a package.json that uses Jest); see `project::find_root`.
    fn is_configured_root(&self, _dir: &Path) -> bool {
        false
    }

    /// What detection looks for, for the "nothing found" message (`a cargo workspace`).
    fn looks_for(&self) -> &'static str;

    /// The file part of one of its test ids, when the id has its syntax (pytest's
    /// `file::test`, Jest's `file#name`).
    fn file_of<'a>(&self, id: &'a str) -> Option<&'a str>;

    /// Where its coverage report lands, relative to the run's coverage directory.
    fn coverage_report(&self) -> &'static str;

    /// What a JUnit report groups its tests by (one `<testsuite>` each).
    fn junit_group<'a>(&self, t: &'a TestCase) -> Option<&'a String>;

    /// JUnit `name` and `classname`, which together identify a test uniquely.
    fn junit_names(&self, t: &TestCase) -> (String, String);

    /// The module a failed import names, when `message` is the framework's
    /// "not installed" error (`No module named 'x'`).
    fn missing_import(&self, message: &str) -> Option<String>;

    /// How its ecosystem installs `module`: the command, and a sentence for people.
    fn install(&self, module: &str) -> (Option<String>, String);

    /// What a CI shard job installs to run its suites in `dir`, besides testflow (`cargo
    /// testflow ci`). `None`: nothing of its own (Rust, pytest and Jest: `ci` sets those
    /// up, with their dependency caches).
    fn ci_setup(&self, _dir: &Path) -> Option<CiSetup> {
        None
    }

    /// A test of it that fails one process per test and passed in one shared process is
    /// an isolation dependent (`analyze`): only frameworks testflow isolates itself.
    fn isolation_applies(&self) -> bool {
        false
    }

    /// `run --affected`: whether its suite narrows itself to the affected tests (its
    /// `units` hand their groups and dependencies to `Planning::affected`). The default,
    /// no dependency data, runs every one of its tests: a framework is never
    /// under-selected for lack of support.
    fn selects_affected(&self) -> bool {
        false
    }
}

/// A framework's toolchain step in a generated CI pipeline: GitHub's action for it, and
/// the shell lines that install it elsewhere (GitLab, CircleCI), which put it on `PATH`
/// for the lines after them and, where the CI has one, in `$BASH_ENV`. The lines run
/// after the project's dependencies are installed (`npm ci`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CiSetup {
    /// The step's name (`Go`).
    pub name: &'static str,
    /// GitHub's action for it; `None`: `script` runs there too.
    pub github_action: Option<&'static str>,
    pub github_with: Vec<(&'static str, String)>,
    pub script: String,
    /// What `script` downloads, cached between pipelines.
    pub cache: Option<CiCache>,
}

/// A download cache of a [`CiSetup`] step, keyed by the version of what it downloads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CiCache {
    /// The key's prefix (`playwright-browsers`).
    pub key: &'static str,
    /// The directory, under the home directory (`.cache/ms-playwright`).
    pub dir: &'static str,
    /// The variable that moves it (GitLab caches only inside the project directory).
    pub dir_env: &'static str,
    /// A shell command that prints the version the cache is keyed by (GitHub, CircleCI).
    pub version: &'static str,
    /// What a CI that keys caches on files only (GitLab) keys it on: the lockfile.
    pub key_files: Vec<&'static str>,
}

/// What a suite may use before the run's log opens.
pub struct Prepare<'a> {
    /// `run --coverage`: set up the framework's coverage tool.
    pub coverage: bool,
    /// The build's output, as it comes.
    pub echo: &'a mut (dyn Write + Send),
}

/// Runs after the tests to write a framework's coverage report into the run's coverage
/// directory; the error is the message to record.
pub type CoverageReport = Box<dyn FnOnce(&Path) -> Result<(), String> + Send>;

/// What preparing a suite found out.
#[derive(Default)]
pub struct Prepared {
    /// The project root the run belongs to (cargo: the workspace root).
    pub root: Option<PathBuf>,
    /// History, opened (and its schema checked) while the suite was built.
    pub history: Option<Result<History>>,
    /// Environment for every test process under coverage (cargo-llvm-cov's).
    pub coverage_env: Vec<(String, String)>,
    /// Coverage the framework cannot collect, and why.
    pub coverage_notes: Vec<FrameworkCoverage>,
    /// The isolation its tests run with, for the run's environment.
    pub isolation: Option<crate::model::RustIsolation>,
    /// testflow schedules its tests itself, ordered by history's durations (frameworks
    /// that order themselves read history through their plugin).
    pub uses_durations: bool,
    /// Writes its coverage report after the tests.
    pub coverage_report: Option<CoverageReport>,
}

/// See [`Planning::select`]: the kept indices and lines for people.
pub type SelectFn<'f> = dyn Fn(&[String], Grain) -> (Vec<usize>, Vec<String>) + 'f;

/// What turning a suite into units may read and say.
pub struct Planning<'a> {
    pub history: Option<&'a History>,
    /// Recent durations from every run (ordering).
    pub durations: &'a HashMap<String, f64>,
    /// Recent durations from whole runs (shard plans).
    pub shard_durations: &'a HashMap<String, f64>,
    /// Lines for people (the shard's share).
    pub notes: &'a mut Vec<String>,
    /// Set when the suite recorded run errors of its own that make the run fail as a
    /// build failure while some of its units still run (a binary that could not list).
    pub broken: bool,
    /// The run's selection (`--shard`, `--last-failed`, `--order`) applied to `ids` at
    /// `grain`: the indices kept, in run order, and lines for people. The session makes
    /// it from `selection`, which asks this registry how ids map to files, so a framework
    /// never names that module (it would close a circle).
    pub select: &'a SelectFn<'a>,
    /// The tests `ids` (indices) in `--order`'s order, as `selection::order` gives it in
    /// every door.
    pub order_tests: &'a dyn Fn(&[String]) -> Vec<usize>,
    /// `run --affected`'s change set and rules, when asked: applied before the shard.
    pub affected: Option<&'a crate::affected::Plan>,
    /// Bookkeeping a suite does beside its tests (recording dependencies for a later
    /// `--affected`), off the path to the first test; the session waits for it before
    /// the run finishes.
    pub background: &'a mut Vec<std::thread::JoinHandle<()>>,
    /// The run's directory: what a suite keeps beside the run record (the dependency
    /// record `merge` carries into its history, `affected::store::DEPS_FILE`).
    pub run_dir: &'a std::path::Path,
    /// The project root: recorded dependencies are relative to it.
    pub root: &'a std::path::Path,
}

/// A framework's suite found in a project: prepared before the run's log opens, then
/// turned into runner units once the run has started.
pub trait Suite: Send {
    fn framework(&self) -> Framework;
    /// Build what the suite needs before the run's log opens (cargo's build).
    /// An `Err` stops the run before it starts (cargo cannot read the workspace).
    fn prepare(&mut self, _p: &mut Prepare<'_>) -> Result<Prepared> {
        Ok(Prepared::default())
    }
    /// The units to run. A collection or setup problem that stops the suite is an `Err`
    /// (recorded as a run error); problems with single tests are recorded through `ctx`.
    fn units(self: Box<Self>, ctx: &Ctx, plan: &mut Planning<'_>) -> Result<Vec<Box<dyn Unit>>>;
    /// The suite's test files or groups with their test counts, for `cargo testflow list`.
    /// `Ok(None)`: the suite could not be built (its diagnostics went to `echo`).
    fn listing(&mut self, echo: &mut (dyn Write + Send)) -> Result<Option<Vec<SuiteListing>>>;
    /// The ids a shard plan splits, at the grain the framework shards at
    /// (`cargo testflow shard plan`). `Ok(None)`: the suite could not be built.
    fn shard_items(
        &mut self,
        echo: &mut (dyn Write + Send),
    ) -> Result<Option<(Vec<String>, Grain)>>;
    /// `list --affected` and `shard plan --affected`: hand the suite's groups to `plan`
    /// through the same function its `units` calls in a run, so that `plan` then says
    /// which of its tests a run would select. Only frameworks that
    /// [select](Plugin::selects_affected) implement it. `Ok(false)`: the suite could not
    /// be built (its diagnostics went to `echo`).
    fn select_affected(
        &mut self,
        _plan: &crate::affected::Plan,
        _history: Option<&History>,
        _echo: &mut (dyn Write + Send),
    ) -> Result<bool> {
        Ok(true)
    }
}

/// What a shard is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Grain {
    /// Single tests (pytest node ids).
    Test,
    /// Test files (Jest runs whole files): durations are summed per file.
    File,
}

/// A tool the suite needs is missing or cannot start (pytest not installed for the Python
/// that runs the tests, Jest not installed in the project): recorded as an `environment`
/// run error, not a build failure. The message says what is missing and how to install it.
#[derive(Debug)]
pub struct EnvironmentError(pub String);

impl std::fmt::Display for EnvironmentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EnvironmentError {}

/// What detection looks for, every framework's, for the "nothing found" message:
/// `a cargo workspace, pytest configuration or test_*.py files, a Jest project (package.json), or …`.
pub fn looked_for() -> String {
    let all: Vec<&str> = PLUGINS.iter().map(|p| p.looks_for()).collect();
    match all.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{}, or {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_owned(),
        None => String::new(),
    }
}

/// Whether `dir` is a project root by a framework's own configuration (a pytest
/// configuration file, a package.json that uses Jest); see `project::find_root`.
pub fn is_configured_root(dir: &Path) -> bool {
    PLUGINS.iter().any(|p| p.is_configured_root(dir))
}

/// Whether `dir` holds a project of a framework that does not enclose others (pytest or
/// Jest, by configuration or by its test files): a cargo workspace above does not own it.
pub fn is_other_project(dir: &Path) -> bool {
    PLUGINS.iter().any(|p| !p.encloses() && p.is_project(dir))
}

/// The file part of a test id, by the syntax of the framework that claims it (the
/// shortest claim: before pytest's `::` or Jest's `#`); the id itself when none does.
pub fn file_of(id: &str) -> &str {
    PLUGINS
        .iter()
        .filter_map(|p| p.file_of(id))
        .min_by_key(|f| f.len())
        .unwrap_or(id)
}

/// The Node runners' ids (`file#title path`, Jest's syntax, which Vitest and Playwright
/// reuse): the file is before the first `#`.
pub(crate) fn file_before_hash(id: &str) -> Option<&str> {
    id.find('#').map(|i| &id[..i])
}

/// JUnit `name` and `classname` for the Node runners: the title path (describe blocks and
/// title) joined the runner's way, and the file as in the id (`fallback` without one).
pub(crate) fn title_path_junit_names(t: &TestCase, sep: &str, fallback: &str) -> (String, String) {
    let full: Vec<&str> = t
        .suite
        .iter()
        .map(String::as_str)
        .chain([t.name.as_str()])
        .collect();
    let class = t.file.clone().unwrap_or_else(|| fallback.to_owned());
    (full.join(sep), class)
}

/// `tests/unit/test_a.py` -> `tests.unit.test_a` (JUnit classnames).
pub fn dotted_path(file: &str) -> String {
    let file = file.strip_prefix("./").unwrap_or(file);
    let name_start = file.rfind(['/', '\\']).map_or(0, |i| i + 1);
    let stem_end = match file[name_start..].rfind('.') {
        Some(i) if i > 0 => name_start + i,
        _ => file.len(),
    };
    file[..stem_end].replace(['/', '\\'], ".")
}

/// Every suite in `root` whose framework `wants` accepts, in [`PLUGINS`]' order, taking
/// `root` as a suite of each framework in `forced` (named with `--framework`) even when
/// nothing marks it as one. Frameworks that [enclose](Plugin::encloses) others are
/// detected last and told whether the others found a suite.
pub fn detect_suites(
    root: &Path,
    wants: &dyn Fn(Framework) -> bool,
    forced: &[Framework],
    cargo: &cargo::CargoOptions,
) -> Result<Vec<Box<dyn Suite>>> {
    let mut found: Vec<(usize, Box<dyn Suite>)> = Vec::new();
    for enclosing in [false, true] {
        let others_found = !found.is_empty();
        for (i, p) in PLUGINS.iter().enumerate() {
            if p.encloses() != enclosing || !wants(p.framework()) {
                continue;
            }
            let d = Detect {
                root,
                forced: forced.contains(&p.framework()),
                others_found,
                cargo,
            };
            if let Some(s) = p.detect(&d)? {
                found.push((i, s));
            }
        }
    }
    found.sort_by_key(|(i, _)| *i);
    Ok(found.into_iter().map(|(_, s)| s).collect())
}

// They check every plug-in, cargo's included.
#[cfg(all(test, feature = "cargo"))]
mod tests;
