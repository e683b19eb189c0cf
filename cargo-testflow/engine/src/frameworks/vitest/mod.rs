//! Vitest: what the `jest-testflow/vitest` reporter's results mean, and how `cargo
//! testflow run` drives a Vitest project.
//!
//! The reporter (npm/vitest.js, through the napi addon) uses Vitest's reporter API of
//! Vitest 3 and later (`onTestModuleCollected`, `onTestCaseReady`, `onTestCaseResult`,
//! `onTestModuleEnd`, `onTestRunEnd`) and hands over plain fields; what they mean is here
//! (failures, categories) and in [`recorder`] (ids, attempts, reconciling with Vitest's
//! own results). Ids are Jest's: `<file>#<describe › … › title>`, so a project moving
//! from Jest to Vitest keeps its history.

pub mod affected;
pub mod locate;
pub mod recorder;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result};
use regex::Regex;

use super::jest::{re, relative_file, split_stack, strip_ansi, user_location};
use crate::model::{Category, Failure, Framework, Outcome, Run, error_kind};

/// The oldest Vitest major whose reporter API testflow reads (`onTestCaseResult`,
/// `onTestRunEnd` with the test modules).
pub const MIN_VITEST_MAJOR: u64 = 3;

/// The Vitest versions the tests run (tests/run-all.sh). Vitest 5 needs Node 22.12+.
pub const TESTED_VITEST: [&str; 2] = ["3.2.7", "4.1.12"];

/// Name of the file, next to the driver's event log, that says the reporter reached
/// `onTestRunEnd`; it holds Vitest's own counts.
pub const FINISHED_FILE: &str = "vitest-finished.json";

/// Set by the driver with `--shard`: the reporter installs `jest-testflow/vitest-sequencer`
/// when the project uses Vitest's default sequencer, so the shard follows testflow's plan.
pub const SEQUENCER_ENV: &str = "TESTFLOW_VITEST_SEQUENCER";

/// The reporter's file in the `jest-testflow` package (its `./vitest` export).
pub const REPORTER_FILE: &str = "vitest.js";

/// Whether testflow can read the results of Vitest `version` (its package.json).
pub fn check_vitest_version(version: Option<&str>, where_: &str) -> Result<()> {
    let tested = TESTED_VITEST.join(", ");
    let Some(version) = version.map(str::trim).filter(|v| !v.is_empty()) else {
        anyhow::bail!(
            "cannot tell which Vitest version runs in {where_} (no package.json of vitest found): \
             testflow reads Vitest {MIN_VITEST_MAJOR} or newer (tested: {tested})"
        );
    };
    let major = version
        .trim_start_matches(['v', '^', '~', '='])
        .split(['.', '-'])
        .next()
        .and_then(|m| m.parse::<u64>().ok());
    match major {
        Some(m) if m >= MIN_VITEST_MAJOR => Ok(()),
        Some(_) => anyhow::bail!(
            "Vitest {version} (in {where_}) is not supported: testflow reads Vitest \
             {MIN_VITEST_MAJOR} or newer (tested: {tested}), whose reporter API reports each \
             test's final result; upgrade Vitest: npm install --save-dev vitest@4"
        ),
        None => anyhow::bail!(
            "cannot read Vitest's version `{version}` (in {where_}): testflow reads Vitest \
             {MIN_VITEST_MAJOR} or newer (tested: {tested})"
        ),
    }
}

/// One error as Vitest serializes it (`TestError`, `SerializedError`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VitestError {
    /// `name`: `AssertionError`, `TypeError`, `Error`, …
    pub name: Option<String>,
    pub message: String,
    pub stack: Option<String>,
    /// Present on assertion errors (already formatted by Vitest).
    pub expected: Option<String>,
    pub actual: Option<String>,
    /// Unhandled errors: Vitest's `type` (`Unhandled Rejection`, `Unhandled Error`).
    pub kind: Option<String>,
    /// Unhandled errors: the test and file Vitest was running (`VITEST_TEST_NAME`/`PATH`).
    pub test_name: Option<String>,
    pub test_path: Option<String>,
}

/// `Test timed out in 100ms.` / `Hook timed out in 100ms.`: Vitest's own timeouts.
fn timeout_message(message: &str) -> Option<(String, bool)> {
    static TIMEOUT: OnceLock<Regex> = OnceLock::new();
    let c = re(&TIMEOUT, r"(Test|Hook) timed out in \d+ms\.").captures(message)?;
    Some((c[0].to_owned(), &c[1] == "Hook"))
}

/// The module a "not found" import error names (Vitest/Vite's wording, which Jest's is not).
pub fn missing_module(text: &str) -> Option<String> {
    static MISSING: OnceLock<Regex> = OnceLock::new();
    let c = re(
        &MISSING,
        r#"(?:Cannot find (?:module|package) '([^']+)' imported from|Failed to resolve import "([^"]+)")"#,
    )
    .captures(text)?;
    Some(c.get(1).or_else(|| c.get(2))?.as_str().to_owned())
}

/// What a failed test's errors mean (several errors: one per attempt, or soft assertions
/// of one attempt; the first decides, the rest are in `details`).
pub fn classify_errors(root: &Path, errors: &[VitestError]) -> (Outcome, Failure) {
    let Some(first) = errors.first() else {
        return (
            Outcome::Failed,
            Failure {
                message: "Vitest reported the test as failed with no error".into(),
                ..Failure::default()
            },
        );
    };
    let message = strip_ansi(&first.message);
    let details: Vec<String> = errors
        .iter()
        .map(|e| strip_ansi(e.stack.as_deref().unwrap_or(&e.message)))
        .collect();
    let stack = first.stack.as_deref().map(strip_ansi).unwrap_or_default();
    let (_, frames) = split_stack(&stack);
    let mut failure = Failure {
        kind: first.name.clone().filter(|n| !n.is_empty()),
        message: message.trim().to_owned(),
        location: user_location(root, frames),
        details: Some(details.join("\n\n")).filter(|d| !d.trim().is_empty()),
        expected: first.expected.clone(),
        actual: first.actual.clone(),
        ..Failure::default()
    };
    if let Some((t, hook)) = timeout_message(&message) {
        failure.category = Category::Timeout;
        failure.kind = Some(if hook { "hook timeout" } else { "timeout" }.into());
        failure.message = t;
        return (Outcome::Timeout, failure);
    }
    if message.contains("process.exit unexpectedly called") {
        // Vitest stops the exit and fails the test; the test meant to end the process.
        failure.category = Category::Crash;
        failure.kind = Some("process.exit".into());
        return (Outcome::Crashed, failure);
    }
    if first.name.as_deref() == Some("AssertionError")
        || failure.expected.is_some()
        || failure.actual.is_some()
    {
        failure.category = Category::Assertion;
        return (Outcome::Failed, failure);
    }
    if missing_module(&message).is_some() {
        failure.category = Category::ImportError;
        return (Outcome::Error, failure);
    }
    let hook = failure.location.as_ref().is_some_and(|loc| {
        std::fs::read_to_string(root.join(&loc.file))
            .is_ok_and(|src| super::jest::in_hook(&src, loc.line))
    });
    if hook {
        failure.category = Category::SetupError;
        return (Outcome::Error, failure);
    }
    (Outcome::Failed, failure)
}

/// What a module's own errors mean (its import failed, or a `beforeAll`/`afterAll` failed).
pub fn classify_module_errors(root: &Path, errors: &[VitestError]) -> (Outcome, Failure) {
    let (_, mut failure) = classify_errors(root, errors);
    let message = &failure.message;
    if missing_module(message).is_some() {
        failure.category = Category::ImportError;
    } else if failure.kind.as_deref() == Some("SyntaxError")
        || message.contains("Transform failed")
        || message.contains("Failed to parse source")
    {
        failure.category = Category::BuildError;
    } else if failure.category != Category::Timeout {
        failure.category = Category::SetupError;
    }
    (Outcome::Error, failure)
}

// ---- detection -------------------------------------------------------------------------

const CONFIG_STEMS: [&str; 2] = ["vitest.config", "vitest.workspace"];
const VITE_STEM: &str = "vite.config";
const CONFIG_EXTS: [&str; 6] = ["js", "ts", "mjs", "cjs", "mts", "cts"];

fn package_json(root: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(root.join("package.json")).ok()?;
    serde_json::from_str(&text).ok()
}

fn depends_on_vitest(pkg: &serde_json::Value) -> bool {
    ["dependencies", "devDependencies"]
        .iter()
        .any(|k| pkg.get(k).and_then(|d| d.get("vitest")).is_some())
}

fn has_config(root: &Path, stem: &str) -> bool {
    CONFIG_EXTS
        .iter()
        .any(|e| root.join(format!("{stem}.{e}")).is_file())
}

/// Whether `root` is configured for Vitest itself (a `vitest.config.*`, or a
/// `vite.config.*` in a project that depends on vitest, or a `test` script that runs
/// vitest): then a Jest that is only a dependency there is not run (see
/// `jest::is_jest_project`).
pub fn is_configured(root: &Path) -> bool {
    if CONFIG_STEMS.iter().any(|s| has_config(root, s)) {
        return true;
    }
    let Some(pkg) = package_json(root) else {
        return false;
    };
    let script = pkg
        .pointer("/scripts/test")
        .and_then(|s| s.as_str())
        .is_some_and(|s| s.contains("vitest"));
    script || (depends_on_vitest(&pkg) && has_config(root, VITE_STEM))
}

/// Does `root` hold a Vitest project? A Vitest configuration, or vitest among the
/// package.json's dependencies.
pub fn is_vitest_project(root: &Path) -> bool {
    is_configured(root) || package_json(root).is_some_and(|p| depends_on_vitest(&p))
}

/// The project's own Vitest and the installed reporter.
#[derive(Clone, Debug)]
pub struct VitestProject {
    pub root: PathBuf,
    pub vitest_bin: PathBuf,
    pub major: u64,
    pub reporter_dir: PathBuf,
}

fn vitest_missing(root: &Path) -> String {
    format!(
        "vitest is not installed: node_modules/.bin/vitest not found in {} or above; run npm \
         install (or `npm install --save-dev vitest`) there",
        root.display()
    )
}

impl VitestProject {
    pub fn locate(root: &Path) -> Result<VitestProject> {
        use super::jest::find_in_node_modules;
        if !root.join("package.json").is_file() {
            anyhow::bail!(
                "no Vitest project in {}: there is no package.json; create one with \
                 `npm init -y && npm install --save-dev vitest`",
                root.display()
            );
        }
        let vitest_bin = find_in_node_modules(root, ".bin/vitest")
            .ok_or_else(|| super::EnvironmentError(vitest_missing(root)))?;
        // node_modules/.bin/vitest -> vitest/vitest.mjs: the package it belongs to.
        let dir = std::fs::canonicalize(&vitest_bin)
            .ok()
            .and_then(|b| b.parent().map(Path::to_owned))
            .filter(|d| d.join("package.json").is_file())
            .or_else(|| find_in_node_modules(root, "vitest"));
        let version = dir.as_ref().and_then(|d| {
            let pkg = package_json(d)?;
            pkg.get("version")?.as_str().map(str::to_owned)
        });
        let where_ = dir.map_or_else(|| root.display().to_string(), |d| d.display().to_string());
        check_vitest_version(version.as_deref(), &where_)?;
        let major = version
            .as_deref()
            .and_then(|v| v.split('.').next()?.parse().ok())
            .unwrap_or(MIN_VITEST_MAJOR);
        let reporter_dir = find_in_node_modules(root, super::jest::REPORTER_PACKAGE)
            .filter(|d| d.join(REPORTER_FILE).is_file())
            .ok_or_else(|| {
                super::EnvironmentError(format!(
                    "the Vitest reporter `{}/vitest` is not installed in {}: {}",
                    super::jest::REPORTER_PACKAGE,
                    root.display(),
                    super::jest::install_hint(root)
                ))
            })?;
        Ok(VitestProject {
            root: root.to_owned(),
            vitest_bin,
            major,
            reporter_dir,
        })
    }

    /// Arguments for one run under testflow: `vitest run`, our reporter next to the
    /// default one, and the options Vitest honours itself. The user's own come last.
    pub fn args(
        &self,
        options: &crate::runner::RunOptions,
        decision: Option<&crate::model::WorkersDecision>,
    ) -> Vec<String> {
        let mut args = vec![
            "run".to_owned(),
            "--reporter=default".to_owned(),
            format!(
                "--reporter={}",
                self.reporter_dir.join(REPORTER_FILE).display()
            ),
            // No `--includeTaskLocation`: the reporter finds each test's line in its file
            // (`locate`), which spares every test a stack trace in Vitest's workers.
        ];
        let workers = if options.jobs_given {
            Some(options.jobs.max(1))
        } else {
            decision
                .filter(|d| d.basis == "history")
                .map(|d| d.workers.max(1))
        };
        if let Some(n) = workers {
            if n == 1 {
                // One file at a time in one worker.
                args.push("--no-file-parallelism".to_owned());
            }
            args.push(format!("--maxWorkers={n}"));
            if self.major == 3 {
                // Vitest 3 refuses a maxWorkers below its default minWorkers (4 dropped it).
                args.push("--minWorkers=1".to_owned());
            }
        }
        if let Some(t) = options.test_timeout {
            args.push(format!("--testTimeout={}", t.as_millis()));
        }
        if options.retries > 0 {
            args.push(format!("--retry={}", options.retries));
        }
        if !options.filters.is_empty() {
            let alternatives: Vec<String> =
                options.filters.iter().map(|f| regex::escape(f)).collect();
            args.push("-t".to_owned());
            args.push(alternatives.join("|"));
        }
        if let Some((spec, _)) = options.pass_through.shard {
            // testflow's plan through the sequencer the reporter installs (npm/README.md);
            // an empty shard passes.
            args.push(format!("--shard={}/{}", spec.index, spec.total));
            args.push("--passWithNoTests".to_owned());
        }
        if let Some(dir) = &options.coverage_dir {
            args.extend(coverage_args(dir));
        }
        args.extend(options.framework_args.iter().cloned());
        args
    }
}

/// @vitest/coverage-v8's Istanbul JSON (coverage-final.json) into the run's coverage
/// directory; testflow prints the summary.
pub fn coverage_args(dir: &Path) -> Vec<String> {
    vec![
        "--coverage.enabled=true".into(),
        "--coverage.provider=v8".into(),
        "--coverage.reporter=json".into(),
        // Vitest 3 writes no report for a run with failures unless asked.
        "--coverage.reportOnFailure=true".into(),
        format!(
            "--coverage.reportsDirectory={}",
            dir.join("vitest").display()
        ),
    ]
}

/// Vitest as a [`Plugin`](crate::frameworks::Plugin).
pub struct Vitest;

impl crate::frameworks::Plugin for Vitest {
    fn framework(&self) -> Framework {
        Framework::Vitest
    }

    fn detect(
        &self,
        d: &crate::frameworks::Detect<'_>,
    ) -> Result<Option<Box<dyn crate::frameworks::Suite>>> {
        Ok((d.forced || is_vitest_project(d.root)).then(|| {
            Box::new(VitestSuite {
                root: d.root.to_owned(),
            }) as Box<dyn crate::frameworks::Suite>
        }))
    }

    fn is_project(&self, dir: &Path) -> bool {
        is_vitest_project(dir)
    }

    fn is_configured_root(&self, dir: &Path) -> bool {
        is_vitest_project(dir)
    }

    fn claims_node_project(&self, dir: &Path) -> bool {
        is_configured(dir)
    }

    fn looks_for(&self) -> &'static str {
        "a Vitest project (vitest.config.* or vitest in package.json)"
    }

    /// Jest's syntax: the file is before the first `#`.
    fn file_of<'a>(&self, id: &'a str) -> Option<&'a str> {
        crate::frameworks::file_before_hash(id)
    }

    fn coverage_report(&self) -> &'static str {
        "vitest/coverage-final.json"
    }

    fn junit_group<'a>(&self, t: &'a crate::model::TestCase) -> Option<&'a String> {
        t.file.as_ref().or(t.binary.as_ref())
    }

    /// Vitest's full name (describe blocks and title joined by ` > `); the classname is
    /// the file as in the id.
    fn junit_names(&self, t: &crate::model::TestCase) -> (String, String) {
        crate::frameworks::title_path_junit_names(t, " > ", "vitest")
    }

    fn missing_import(&self, message: &str) -> Option<String> {
        missing_module(message)
    }

    fn install(&self, module: &str) -> (Option<String>, String) {
        if module.starts_with('.') || module.starts_with('/') {
            return (
                None,
                format!(
                    "`{module}` does not resolve from the importing file: check the path and the file's name."
                ),
            );
        }
        let pkg = super::jest::npm_package(module);
        (
            Some(format!("npm install --save-dev {pkg}")),
            format!("npm package `{pkg}` is not installed."),
        )
    }

    /// Vitest's own module graph (see [`affected`]).
    fn selects_affected(&self) -> bool {
        true
    }
}

/// A Vitest project found by detection.
pub struct VitestSuite {
    pub root: PathBuf,
}

impl crate::frameworks::Suite for VitestSuite {
    fn framework(&self) -> Framework {
        Framework::Vitest
    }

    fn prepare(
        &mut self,
        p: &mut crate::frameworks::Prepare<'_>,
    ) -> Result<crate::frameworks::Prepared> {
        let mut prepared = crate::frameworks::Prepared::default();
        if p.coverage
            && super::jest::find_in_node_modules(&self.root, "@vitest/coverage-v8").is_none()
        {
            prepared
                .coverage_notes
                .push(crate::coverage::collect::unavailable(
                Framework::Vitest,
                "@vitest/coverage-v8 is not installed: npm install --save-dev @vitest/coverage-v8 \
                 (the same version as vitest)"
                    .into(),
            ));
        }
        Ok(prepared)
    }

    /// The run's selection (`affected::select`, as `units` calls it).
    fn select_affected(
        &mut self,
        plan: &crate::affected::Plan,
        history: Option<&crate::history::History>,
        _echo: &mut (dyn std::io::Write + Send),
    ) -> Result<bool> {
        let project = VitestProject::locate(&self.root)?;
        affected::select(&project, plan, history);
        Ok(true)
    }

    fn units(
        self: Box<Self>,
        ctx: &crate::runner::Ctx,
        plan: &mut crate::frameworks::Planning<'_>,
    ) -> Result<Vec<Box<dyn crate::runner::Unit>>> {
        let project = VitestProject::locate(&self.root)?;
        let files = plan
            .affected
            .and_then(|a| affected::select(&project, a, plan.history));
        if files.as_ref().is_some_and(|f| f.is_empty()) {
            return Ok(vec![]); // nothing affected: Vitest does not start
        }
        let decision = vitest_workers(plan.history, &ctx.options);
        if let Err(e) = super::workers::record(ctx.events_path(), &decision) {
            ctx.warn(format!("cannot record the Vitest workers decision: {e:#}"));
        }
        Ok(vec![Box::new(VitestUnit {
            project,
            decision,
            files,
        })])
    }

    fn listing(
        &mut self,
        _echo: &mut (dyn std::io::Write + Send),
    ) -> Result<Option<Vec<crate::frameworks::SuiteListing>>> {
        let files = list_files(&self.root)?;
        let name = package_json(&self.root)
            .and_then(|p| p.get("name")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| self.root.display().to_string());
        let bin = super::jest::find_in_node_modules(&self.root, ".bin/vitest");
        let (tests, problems) = match &bin {
            Some(bin) if !files.is_empty() => collect_tests(&self.root, bin)?,
            _ => (vec![], vec![]),
        };
        Ok(Some(vec![crate::frameworks::SuiteListing {
            id: format!("vitest:{name}"),
            package: name,
            kind: "vitest".into(),
            tests: tests.len(),
            files: Some(files.len()),
            executable: bin,
            test_list: tests,
            problems,
            ..Default::default()
        }]))
    }

    fn shard_items(
        &mut self,
        _echo: &mut (dyn std::io::Write + Send),
    ) -> Result<Option<(Vec<String>, crate::frameworks::Grain)>> {
        Ok(Some((
            list_files(&self.root)?,
            crate::frameworks::Grain::File,
        )))
    }
}

/// The project's test files as Vitest sees them (`vitest list --filesOnly --json`).
pub fn list_files(root: &Path) -> Result<Vec<String>> {
    let bin = super::jest::find_in_node_modules(root, ".bin/vitest")
        .ok_or_else(|| super::EnvironmentError(vitest_missing(root)))?;
    let out = std::process::Command::new(&bin)
        .args(["list", "--filesOnly", "--json"])
        .current_dir(root)
        .env("FORCE_COLOR", "0")
        .env_remove(crate::events::EVENTS_ENV)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !out.status.success() {
        anyhow::bail!(
            "`vitest list --filesOnly` failed in {}: {}",
            root.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    parse_file_list(root, &String::from_utf8_lossy(&out.stdout))
}

/// The tests `vitest list --json` collects (it runs no test); a file that fails to load
/// makes Vitest print its error instead, which becomes the listing's problem.
fn collect_tests(
    root: &Path,
    bin: &Path,
) -> Result<(Vec<crate::frameworks::ListedTest>, Vec<String>)> {
    let out = std::process::Command::new(bin)
        .args(["list", "--json"])
        .current_dir(root)
        .env("FORCE_COLOR", "0")
        .env("NO_COLOR", "1")
        .env_remove(crate::events::EVENTS_ENV)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success()
        && let Ok(tests) = parse_listing(root, &stdout)
    {
        return Ok((tests, vec![]));
    }
    let text = strip_ansi(&format!(
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    ));
    let why = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no output")
        .to_owned();
    Ok((
        vec![],
        vec![format!("Vitest could not collect the tests: {why}")],
    ))
}

/// `vitest list --json`: `[{"name": "outer > inner > title", "file": "/abs"}, …]`, as
/// the ids a run records (skipped tests are not listed by Vitest). The name is split on
/// ` > `, Vitest's separator: a title that itself holds ` > ` lists under another id.
pub fn parse_listing(root: &Path, stdout: &str) -> Result<Vec<crate::frameworks::ListedTest>> {
    #[derive(serde::Deserialize)]
    struct Entry {
        name: String,
        file: String,
    }
    let start = stdout.find('[').unwrap_or(stdout.len());
    let entries: Vec<Entry> = serde_json::from_str(stdout[start..].trim()).with_context(|| {
        format!(
            "unexpected `vitest list --json` output in {}",
            root.display()
        )
    })?;
    let mut seen: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    Ok(entries
        .into_iter()
        .map(|e| {
            let file = relative_file(root, &e.file);
            let mut parts: Vec<String> = e.name.split(" > ").map(str::to_owned).collect();
            let name = parts.pop().unwrap_or_default();
            let plain = super::jest::test_id(&file, &parts, &name);
            let n = seen.entry(plain.clone()).or_insert(0);
            *n += 1;
            let id = if *n > 1 {
                format!("{plain}{}{n}", super::jest::DUPLICATE_MARK)
            } else {
                plain
            };
            crate::frameworks::ListedTest {
                id,
                name,
                framework: Framework::Vitest,
                file: Some(file),
                line: None,
                ignored: None,
                affected: None,
            }
        })
        .collect())
}

/// `vitest list --filesOnly --json`: `[{"file": "/abs/a.test.js"}, …]`, relative to `root`.
pub fn parse_file_list(root: &Path, stdout: &str) -> Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Entry {
        file: String,
    }
    let start = stdout.find('[').unwrap_or(stdout.len());
    let entries: Vec<Entry> = serde_json::from_str(stdout[start..].trim()).with_context(|| {
        format!(
            "unexpected `vitest list --json` output in {}",
            root.display()
        )
    })?;
    let mut files: Vec<String> = entries
        .iter()
        .map(|e| relative_file(root, &e.file))
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// Workers like Jest's rule (`frameworks::workers`): `-j` given wins; with history the
/// measured choice; without, Vitest's own.
pub(crate) fn vitest_workers(
    history: Option<&crate::history::History>,
    options: &crate::runner::RunOptions,
) -> crate::model::WorkersDecision {
    super::workers::decide_self_scheduled(Framework::Vitest, "Vitest", history, options)
}

/// The whole Vitest run as one unit: Vitest schedules its own workers, and the reporter
/// appends every test event to the run's log (`TESTFLOW_EVENTS`).
pub(crate) struct VitestUnit {
    pub(crate) project: VitestProject,
    pub(crate) decision: crate::model::WorkersDecision,
    /// `--affected`: only these test files (positional filters).
    pub(crate) files: Option<Vec<String>>,
}

impl crate::runner::Unit for VitestUnit {
    fn planned_tests(&self) -> usize {
        0 // Vitest only knows its tests once it runs them
    }

    fn execute(self: Box<Self>, ctx: &crate::runner::Ctx) -> Vec<Box<dyn crate::runner::Unit>> {
        let events = ctx.events_path().to_owned();
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let before = size(&events);
        let mut args = self.project.args(&ctx.options, Some(&self.decision));
        if let Some(files) = &self.files {
            // Before the user's own arguments (which come last).
            let at = args.len().saturating_sub(ctx.options.framework_args.len());
            args.splice(at..at, files.iter().cloned());
        }
        let mut cmd = std::process::Command::new(&self.project.vitest_bin);
        cmd.args(args)
            .current_dir(&self.project.root)
            .env(crate::events::EVENTS_ENV, &events)
            .env_remove(crate::names::REPORT_ENV)
            .env_remove(super::jest::SHARD_STRATEGY_ENV)
            .env_remove(super::jest::ORDER_ENV)
            .env_remove(super::jest::LAST_FAILED_ENV)
            .env_remove(SEQUENCER_ENV)
            .stdin(std::process::Stdio::null());
        if let Some((_, strategy)) = ctx.options.pass_through.shard {
            // The reporter puts testflow's sequencer in place (unless the project has its own).
            cmd.env(super::jest::SHARD_STRATEGY_ENV, strategy.as_str())
                .env(SEQUENCER_ENV, "1");
        }
        let finished = events.with_file_name(FINISHED_FILE);
        let _ = std::fs::remove_file(&finished);
        let out = ctx.following_log(Framework::Vitest, || {
            ctx.processes.run(cmd, None, ctx.options.output_cap, None)
        });
        let out = match out {
            Err(e) => {
                ctx.run_error(
                    error_kind::BUILD,
                    format!("cannot start {}: {e}", self.project.vitest_bin.display()),
                );
                return vec![];
            }
            Ok(out) if out.killed.is_some() => return vec![],
            Ok(out) => out,
        };
        let tail = super::reporter_run::tail_of(&out);
        let recorded = size(&events) > before;
        let ok_exit = matches!(out.exit, crate::process::ExitKind::Code(0 | 1));
        if (!ok_exit || !recorded) && !out.exit.success() {
            ctx.run_error(
                if recorded {
                    error_kind::VITEST
                } else {
                    error_kind::BUILD
                },
                format!(
                    "Vitest in {} exited with {}{}:\n{}",
                    self.project.root.display(),
                    out.exit,
                    if recorded {
                        ""
                    } else {
                        " before reporting any test"
                    },
                    tail.trim()
                ),
            );
            return vec![];
        }
        match crate::events::fold_file(&events) {
            Err(e) => ctx.run_error(
                error_kind::RECONCILE,
                format!("cannot read back what Vitest's reporter recorded: {e:#}"),
            ),
            Ok(logged) => {
                if let Some(m) = reconcile_exit(out.exit, finished.is_file(), &logged.run) {
                    ctx.run_error(
                        error_kind::RECONCILE,
                        format!(
                            "Vitest in {}: {m}\n{}",
                            self.project.root.display(),
                            tail.trim()
                        ),
                    );
                }
            }
        }
        vec![]
    }
}

/// The driver's check of Vitest's exit status against the log (`logged`) and whether the
/// reporter reached `onTestRunEnd` (`reporter_finished`). A message when they disagree.
pub fn reconcile_exit(
    exit: crate::process::ExitKind,
    reporter_finished: bool,
    logged: &Run,
) -> Option<String> {
    super::reporter_run::reconcile_exit(
        Framework::Vitest,
        "Vitest",
        "jest-testflow/vitest",
        "onTestRunEnd",
        exit,
        reporter_finished,
        logged,
    )
}
