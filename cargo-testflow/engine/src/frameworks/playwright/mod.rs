//! Playwright Test: what the `jest-testflow/playwright` reporter's results mean, and how
//! `cargo testflow run` drives a Playwright project.
//!
//! The reporter (npm/playwright.js, through the napi addon) uses Playwright's reporter
//! API (`onBegin`, `onTestBegin`, `onTestEnd` for every attempt, `onStdOut`/`onStdErr`,
//! `onError`, `onEnd`, `onExit`, and `preprocess` for testflow's shard plan) and hands
//! over plain fields; what they mean is here (outcomes, categories) and in [`recorder`]
//! (ids, attempts, reconciling with Playwright's own end of the run). Ids are Jest's
//! syntax: `<file>#<describe › … › title>`, the project first (`[chromium] › …`) when the
//! configuration has more than one.
//!
//! Projects holding Playwright and Jest or Vitest: Playwright claims nothing
//! ([`crate::frameworks::Plugin::claims_node_project`] is false), so each runner runs its
//! own configuration: Playwright its `testDir`, Jest and Vitest theirs (which must not
//! match Playwright's spec files, as for `npm test`).

pub mod affected;
pub mod recorder;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result};
use regex::Regex;

use super::jest::{re, relative_file, split_stack, strip_ansi, user_location};
use crate::model::{Category, Failure, Framework, Location, Outcome, Run, error_kind};

/// The oldest Playwright testflow reads (the reporter API with `test.outcome()`,
/// `result.retry` and `onExit`).
pub const MIN_PLAYWRIGHT: (u64, u64) = (1, 40);

/// The Playwright version the tests run (tests/run-all.sh).
pub const TESTED_PLAYWRIGHT: &str = "1.65.1";

/// Name of the file, next to the driver's event log, that says the reporter reached
/// `onEnd`; it holds Playwright's own counts.
pub const FINISHED_FILE: &str = "playwright-finished.json";

/// The reporter's file in the `jest-testflow` package (its `./playwright` export).
pub const REPORTER_FILE: &str = "playwright.js";

/// Whether testflow can read the results of Playwright `version` (its package.json).
pub fn check_playwright_version(version: Option<&str>, where_: &str) -> Result<()> {
    let (maj, min) = MIN_PLAYWRIGHT;
    let Some(version) = version.map(str::trim).filter(|v| !v.is_empty()) else {
        anyhow::bail!(
            "cannot tell which Playwright version runs in {where_} (no package.json of \
             playwright found): testflow reads Playwright {maj}.{min} or newer (tested: \
             {TESTED_PLAYWRIGHT})"
        );
    };
    let mut parts = version
        .trim_start_matches(['v', '^', '~', '='])
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(a), Some(b)) if (a, b) >= MIN_PLAYWRIGHT => Ok(()),
        (Some(_), Some(_)) => anyhow::bail!(
            "Playwright {version} (in {where_}) is not supported: testflow reads Playwright \
             {maj}.{min} or newer (tested: {TESTED_PLAYWRIGHT}); upgrade it: npm install \
             --save-dev @playwright/test@latest"
        ),
        _ => anyhow::bail!(
            "cannot read Playwright's version `{version}` (in {where_}): testflow reads \
             Playwright {maj}.{min} or newer (tested: {TESTED_PLAYWRIGHT})"
        ),
    }
}

/// One error as Playwright reports it (`TestError`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlaywrightError {
    pub message: String,
    pub stack: Option<String>,
    /// `error.location`: where Playwright says it happened (absolute file).
    pub location: Option<Location>,
    /// `error.value`: what was thrown when it was not an Error.
    pub value: Option<String>,
}

/// An attachment of one result (`result.attachments`); in-memory ones have no path.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlaywrightAttachment {
    pub name: String,
    pub content_type: Option<String>,
    pub path: Option<String>,
}

/// One attempt's result (`onTestEnd(test, result)`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlaywrightResult {
    pub key: String,
    /// `result.retry`: 0 for the first attempt.
    pub retry: u32,
    /// `passed`, `failed`, `timedOut`, `skipped` or `interrupted`.
    pub status: String,
    /// `test.expectedStatus`: `failed` under `test.fail()`, `skipped` under skip/fixme.
    pub expected_status: String,
    pub duration_ms: f64,
    pub errors: Vec<PlaywrightError>,
    pub attachments: Vec<PlaywrightAttachment>,
    /// The `skip`/`fixme` annotation's description, when the test was skipped.
    pub skip_reason: Option<String>,
}

/// `Test timeout of 100ms exceeded.` (Playwright's own), and its hook variants.
fn timeout_message(message: &str) -> Option<String> {
    static TIMEOUT: OnceLock<Regex> = OnceLock::new();
    re(
        &TIMEOUT,
        r#"Test timeout of \d+ms exceeded(?: while (?:running|setting up|tearing down) "[^"]*")?\."#,
    )
    .find(message)
    .map(|m| m.as_str().to_owned())
}

/// `Expected: 3` / `Received: 2` lines of Playwright's expect messages.
fn expected_actual(message: &str) -> (Option<String>, Option<String>) {
    let line = |label: &str| {
        message.lines().find_map(|l| {
            let l = l.trim_start();
            l.strip_prefix(label)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        })
    };
    (
        line("Expected:").or_else(|| line("Expected string:")),
        line("Received:").or_else(|| line("Received string:")),
    )
}

fn location_of(root: &Path, e: &PlaywrightError) -> Option<Location> {
    if let Some(l) = &e.location {
        return Some(Location {
            file: relative_file(root, &l.file),
            line: l.line,
            column: l.column,
        });
    }
    let stack = strip_ansi(e.stack.as_deref().unwrap_or(""));
    user_location(root, split_stack(&stack).1)
}

fn failure_of(root: &Path, errors: &[PlaywrightError]) -> Failure {
    let Some(first) = errors.first() else {
        return Failure {
            message: "Playwright reported the test as failed with no error".into(),
            ..Failure::default()
        };
    };
    let text = strip_ansi(if first.message.is_empty() {
        first.value.as_deref().unwrap_or("")
    } else {
        &first.message
    });
    let message = split_stack(&text).0.trim().to_owned();
    let details: Vec<String> = errors
        .iter()
        .map(|e| strip_ansi(e.stack.as_deref().unwrap_or(&e.message)))
        .collect();
    let (expected, actual) = expected_actual(&message);
    Failure {
        kind: super::jest::error_kind(&message),
        location: location_of(root, first),
        details: Some(details.join("\n\n")).filter(|d| !d.trim().is_empty()),
        expected,
        actual,
        message,
        ..Failure::default()
    }
}

/// What one attempt's result means: its outcome, and its failure when it has one.
pub fn classify_attempt(root: &Path, r: &PlaywrightResult) -> (Outcome, Option<Failure>) {
    let expected_to_fail = r.expected_status == "failed";
    match r.status.as_str() {
        "passed" if expected_to_fail => (
            Outcome::Failed,
            Some(Failure {
                category: Category::Assertion,
                kind: Some("test.fail()".into()),
                message: "expected to fail (test.fail()), but passed".into(),
                ..Failure::default()
            }),
        ),
        "passed" => (Outcome::Passed, None),
        "failed" if expected_to_fail => (Outcome::Xfailed, None),
        "skipped" => (Outcome::Skipped, None),
        "interrupted" => (
            Outcome::Skipped,
            Some(Failure {
                category: Category::Interrupted,
                message: "interrupted before it finished (Playwright stopped the run)".into(),
                ..Failure::default()
            }),
        ),
        "timedOut" => {
            let mut f = failure_of(root, &r.errors);
            f.category = Category::Timeout;
            f.kind = Some("timeout".into());
            if let Some(t) = timeout_message(&f.message) {
                f.message = t;
            }
            (Outcome::Timeout, Some(f))
        }
        status => {
            let mut f = failure_of(root, &r.errors);
            if status != "failed" {
                f.message = format!("Playwright reported status `{status}`: {}", f.message);
            }
            let (outcome, category) = if f.message.contains("worker process exited unexpectedly")
                || f.message.contains("Worker process exited unexpectedly")
            {
                f.kind = Some("worker exited".into());
                (Outcome::Crashed, Category::Crash)
            } else if f.message.contains("expect(") || f.expected.is_some() || f.actual.is_some() {
                // `Error: expect(received).toBe(expected)`: the matcher names it, as in Jest.
                if let Some(m) = super::jest::matcher_name(&f.message) {
                    f.kind = Some(m);
                }
                (Outcome::Failed, Category::Assertion)
            } else if super::jest::missing_module(&f.message).is_some() {
                (Outcome::Error, Category::ImportError)
            } else {
                (Outcome::Failed, Category::RuntimeError)
            };
            f.category = category;
            if timeout_message(&f.message).is_some() && category != Category::Crash {
                f.category = Category::Timeout;
                return (Outcome::Timeout, Some(f));
            }
            (outcome, Some(f))
        }
    }
}

/// What an error of a test file that failed to load means (`onError` before its tests).
pub fn classify_load_error(root: &Path, e: &PlaywrightError) -> (Outcome, Failure) {
    let mut f = failure_of(root, std::slice::from_ref(e));
    f.category = if super::jest::missing_module(&f.message).is_some() {
        Category::ImportError
    } else if f.kind.as_deref() == Some("SyntaxError") || f.message.contains("SyntaxError") {
        Category::BuildError
    } else {
        Category::SetupError
    };
    (Outcome::Error, f)
}

// ---- detection -------------------------------------------------------------------------

const CONFIG_EXTS: [&str; 6] = ["ts", "js", "mjs", "cjs", "mts", "cts"];

fn package_json(root: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(root.join("package.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// The project's `playwright.config.*`, if it has one.
pub fn config_file(root: &Path) -> Option<PathBuf> {
    CONFIG_EXTS
        .iter()
        .map(|e| root.join(format!("playwright.config.{e}")))
        .find(|p| p.is_file())
}

/// Does `root` hold a Playwright Test project? A `playwright.config.*`, or
/// `@playwright/test` among the package.json's dependencies.
pub fn is_playwright_project(root: &Path) -> bool {
    config_file(root).is_some()
        || package_json(root).is_some_and(|p| {
            ["dependencies", "devDependencies"]
                .iter()
                .any(|k| p.get(k).and_then(|d| d.get("@playwright/test")).is_some())
        })
}

/// The project's own Playwright and the installed reporter.
#[derive(Clone, Debug)]
pub struct PlaywrightProject {
    pub root: PathBuf,
    pub bin: PathBuf,
    pub reporter_dir: PathBuf,
}

fn playwright_missing(root: &Path) -> String {
    format!(
        "Playwright Test is not installed: node_modules/.bin/playwright not found in {} or \
         above; run npm install (or `npm install --save-dev @playwright/test`) there",
        root.display()
    )
}

impl PlaywrightProject {
    pub fn locate(root: &Path) -> Result<PlaywrightProject> {
        use super::jest::find_in_node_modules;
        if !root.join("package.json").is_file() {
            anyhow::bail!(
                "no Playwright project in {}: there is no package.json; create one with \
                 `npm init -y && npm install --save-dev @playwright/test`",
                root.display()
            );
        }
        let bin = find_in_node_modules(root, ".bin/playwright")
            .ok_or_else(|| super::EnvironmentError(playwright_missing(root)))?;
        let dir = find_in_node_modules(root, "playwright");
        let version = dir.as_ref().and_then(|d| {
            let pkg = package_json(d)?;
            pkg.get("version")?.as_str().map(str::to_owned)
        });
        let where_ = dir.map_or_else(|| root.display().to_string(), |d| d.display().to_string());
        check_playwright_version(version.as_deref(), &where_)?;
        let reporter_dir = find_in_node_modules(root, super::jest::REPORTER_PACKAGE)
            .filter(|d| d.join(REPORTER_FILE).is_file())
            .ok_or_else(|| {
                super::EnvironmentError(format!(
                    "the Playwright reporter `{}/playwright` is not installed in {}: {}",
                    super::jest::REPORTER_PACKAGE,
                    root.display(),
                    super::jest::install_hint(root)
                ))
            })?;
        Ok(PlaywrightProject {
            root: root.to_owned(),
            bin,
            reporter_dir,
        })
    }

    /// Arguments for one run under testflow: `playwright test`, Playwright's `list`
    /// reporter next to ours (they replace the configuration's reporters, so that no
    /// HTML report server waits on a failure), and the options Playwright honours
    /// itself. The user's own come last.
    pub fn args(
        &self,
        options: &crate::runner::RunOptions,
        decision: Option<&crate::model::WorkersDecision>,
    ) -> Vec<String> {
        let mut args = vec![
            "test".to_owned(),
            format!(
                "--reporter=list,{}",
                self.reporter_dir.join(REPORTER_FILE).display()
            ),
        ];
        let workers = if options.jobs_given {
            Some(options.jobs.max(1))
        } else {
            decision
                .filter(|d| d.basis == "history")
                .map(|d| d.workers.max(1))
        };
        if let Some(n) = workers {
            args.push(format!("--workers={n}"));
        }
        if let Some(t) = options.test_timeout {
            args.push(format!("--timeout={}", t.as_millis()));
        }
        if options.retries > 0 {
            args.push(format!("--retries={}", options.retries));
        }
        if options.fail_fast {
            args.push("--max-failures=1".to_owned());
        }
        if !options.filters.is_empty() {
            let alternatives: Vec<String> =
                options.filters.iter().map(|f| regex::escape(f)).collect();
            args.push(format!("--grep={}", alternatives.join("|")));
        }
        if let Some((spec, _)) = options.pass_through.shard {
            // testflow's plan through the reporter's preprocess (npm/playwright.js).
            args.push(format!("--shard={}/{}", spec.index, spec.total));
            args.push("--pass-with-no-tests".to_owned());
        }
        args.extend(options.framework_args.iter().cloned());
        args
    }
}

/// Playwright Test as a [`Plugin`](crate::frameworks::Plugin).
pub struct Playwright;

impl crate::frameworks::Plugin for Playwright {
    fn framework(&self) -> Framework {
        Framework::Playwright
    }

    fn detect(
        &self,
        d: &crate::frameworks::Detect<'_>,
    ) -> Result<Option<Box<dyn crate::frameworks::Suite>>> {
        Ok((d.forced || is_playwright_project(d.root)).then(|| {
            Box::new(PlaywrightSuite {
                root: d.root.to_owned(),
            }) as Box<dyn crate::frameworks::Suite>
        }))
    }

    fn is_project(&self, dir: &Path) -> bool {
        is_playwright_project(dir)
    }

    fn is_configured_root(&self, dir: &Path) -> bool {
        is_playwright_project(dir)
    }

    fn looks_for(&self) -> &'static str {
        "a Playwright Test project (playwright.config.* or @playwright/test in package.json)"
    }

    /// Jest's syntax: the file is before the first `#`.
    fn file_of<'a>(&self, id: &'a str) -> Option<&'a str> {
        crate::frameworks::file_before_hash(id)
    }

    fn coverage_report(&self) -> &'static str {
        "playwright/none"
    }

    fn junit_group<'a>(&self, t: &'a crate::model::TestCase) -> Option<&'a String> {
        t.file.as_ref().or(t.binary.as_ref())
    }

    /// Playwright's title path (project, describe blocks and title joined by ` › `); the
    /// classname is the file as in the id.
    fn junit_names(&self, t: &crate::model::TestCase) -> (String, String) {
        crate::frameworks::title_path_junit_names(t, " › ", "playwright")
    }

    fn missing_import(&self, message: &str) -> Option<String> {
        super::jest::missing_module(message)
    }

    /// The browsers the configuration's projects use, with their system packages, after
    /// `npm ci`; cached in Playwright's own browser directory by the installed version.
    fn ci_setup(&self, dir: &Path) -> Option<crate::frameworks::CiSetup> {
        let config = config_file(dir).and_then(|f| std::fs::read_to_string(f).ok());
        let browsers = ci_browsers(config.as_deref().unwrap_or(""));
        let lock = if dir.join("package-lock.json").is_file() {
            "package-lock.json"
        } else {
            "package.json"
        };
        Some(crate::frameworks::CiSetup {
            name: "Playwright browsers",
            github_action: None,
            github_with: vec![],
            script: format!(
                "npx playwright install --with-deps {}\n",
                browsers.join(" ")
            ),
            cache: Some(crate::frameworks::CiCache {
                key: "playwright-browsers",
                dir: ".cache/ms-playwright",
                dir_env: "PLAYWRIGHT_BROWSERS_PATH",
                version: CI_PLAYWRIGHT_VERSION,
                key_files: vec![lock],
            }),
        })
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

    /// Playwright's own dependency graph (see [`affected`]).
    fn selects_affected(&self) -> bool {
        true
    }
}

/// Prints the installed Playwright's version (`Version 1.65.1` → `1.65.1`): what `npm ci`
/// installed from the lockfile, and what decides which browser builds it needs.
pub const CI_PLAYWRIGHT_VERSION: &str = "npx playwright --version | sed 's/^Version //'";

/// The browsers `npx playwright install` needs for a configuration, read from its text
/// (it is code: not run): `browserName`s, the devices' engines (`Desktop Firefox`,
/// `iPhone 13`: WebKit) and branded channels (`chrome`, `msedge`). Chromium when it names
/// none, as Playwright's default project uses.
pub fn ci_browsers(config: &str) -> Vec<&'static str> {
    static CHANNEL: OnceLock<Regex> = OnceLock::new();
    let lower = config.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    let mut out = Vec::new();
    let channels: Vec<String> = re(
        &CHANNEL,
        r#"channel\s*:\s*['"`](chrome|msedge)(-beta|-dev|-canary)?['"`]"#,
    )
    .captures_iter(&lower)
    .map(|c| format!("{}{}", &c[1], c.get(2).map_or("", |m| m.as_str())))
    .collect();
    if has(&[
        "chromium",
        "desktop chrome",
        "desktop edge",
        "pixel",
        "galaxy",
        "nexus",
        "moto g",
    ]) {
        out.push("chromium");
    }
    if has(&["firefox"]) {
        out.push("firefox");
    }
    if has(&["webkit", "safari", "iphone", "ipad"]) {
        out.push("webkit");
    }
    // The channels `playwright install` installs.
    for channel in [
        "chrome",
        "chrome-beta",
        "msedge",
        "msedge-beta",
        "msedge-dev",
    ] {
        if channels.iter().any(|c| c == channel) {
            out.push(channel);
        }
    }
    if out.is_empty() {
        out.push("chromium");
    }
    out
}

/// A Playwright project found by detection.
pub struct PlaywrightSuite {
    pub root: PathBuf,
}

impl crate::frameworks::Suite for PlaywrightSuite {
    fn framework(&self) -> Framework {
        Framework::Playwright
    }

    fn prepare(
        &mut self,
        p: &mut crate::frameworks::Prepare<'_>,
    ) -> Result<crate::frameworks::Prepared> {
        let mut prepared = crate::frameworks::Prepared::default();
        if p.coverage {
            prepared
                .coverage_notes
                .push(crate::coverage::collect::unavailable(
                    Framework::Playwright,
                    "Playwright Test writes no coverage report of its own (browser coverage \
                     needs page.coverage in the tests)"
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
        let project = PlaywrightProject::locate(&self.root)?;
        affected::select(&project, plan, history);
        Ok(true)
    }

    fn units(
        self: Box<Self>,
        ctx: &crate::runner::Ctx,
        plan: &mut crate::frameworks::Planning<'_>,
    ) -> Result<Vec<Box<dyn crate::runner::Unit>>> {
        let project = PlaywrightProject::locate(&self.root)?;
        let files = plan
            .affected
            .and_then(|a| affected::select(&project, a, plan.history));
        if files.as_ref().is_some_and(|f| f.is_empty()) {
            return Ok(vec![]); // nothing affected: Playwright does not start
        }
        let decision = super::workers::decide_self_scheduled(
            Framework::Playwright,
            "Playwright",
            plan.history,
            &ctx.options,
        );
        if let Err(e) = super::workers::record(ctx.events_path(), &decision) {
            ctx.warn(format!(
                "cannot record the Playwright workers decision: {e:#}"
            ));
        }
        Ok(vec![Box::new(PlaywrightUnit {
            project,
            decision,
            files,
        })])
    }

    fn listing(
        &mut self,
        _echo: &mut (dyn std::io::Write + Send),
    ) -> Result<Option<Vec<crate::frameworks::SuiteListing>>> {
        let name = package_json(&self.root)
            .and_then(|p| p.get("name")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| self.root.display().to_string());
        let bin = super::jest::find_in_node_modules(&self.root, ".bin/playwright");
        let (tests, problems) = match &bin {
            Some(bin) => list_tests(&self.root, bin)?,
            None => (vec![], vec![playwright_missing(&self.root)]),
        };
        let mut files: Vec<&str> = tests.iter().filter_map(|t| t.file.as_deref()).collect();
        files.sort();
        files.dedup();
        let files = files.len();
        Ok(Some(vec![crate::frameworks::SuiteListing {
            id: format!("playwright:{name}"),
            package: name,
            kind: "playwright".into(),
            tests: tests.len(),
            files: Some(files),
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
        let bin = super::jest::find_in_node_modules(&self.root, ".bin/playwright")
            .ok_or_else(|| super::EnvironmentError(playwright_missing(&self.root)))?;
        let (tests, problems) = list_tests(&self.root, &bin)?;
        if let Some(p) = problems.first() {
            anyhow::bail!("{p}");
        }
        Ok(Some((
            tests.into_iter().map(|t| t.id).collect(),
            crate::frameworks::Grain::Test,
        )))
    }
}

/// The tests `playwright test --list --reporter=json` lists (it runs none); a file that
/// fails to load is the listing's problem.
fn list_tests(
    root: &Path,
    bin: &Path,
) -> Result<(Vec<crate::frameworks::ListedTest>, Vec<String>)> {
    list_tests_with(root, bin, &[])
}

/// [`list_tests`] with more of Playwright's options (`--only-changed=REF`).
fn list_tests_with(
    root: &Path,
    bin: &Path,
    extra: &[String],
) -> Result<(Vec<crate::frameworks::ListedTest>, Vec<String>)> {
    let out = std::process::Command::new(bin)
        .args(["test", "--list", "--reporter=json"])
        .args(extra)
        .current_dir(root)
        .env("FORCE_COLOR", "0")
        .env_remove(crate::events::EVENTS_ENV)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    match parse_listing(root, &stdout) {
        Ok((tests, errors)) if out.status.success() && errors.is_empty() => Ok((tests, vec![])),
        Ok((tests, errors)) if !errors.is_empty() => Ok((
            tests,
            errors
                .into_iter()
                .map(|e| format!("Playwright could not load the tests: {e}"))
                .collect(),
        )),
        _ => {
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
                vec![format!("Playwright could not list the tests: {why}")],
            ))
        }
    }
}

/// `playwright test --list --reporter=json`: Playwright's JSON report with no results,
/// as the ids a run records (and the load errors it lists). The project prefix follows
/// the run's rule: only with more than one project in the configuration.
pub fn parse_listing(
    root: &Path,
    stdout: &str,
) -> Result<(Vec<crate::frameworks::ListedTest>, Vec<String>)> {
    #[derive(serde::Deserialize)]
    struct Report {
        config: Config,
        #[serde(default)]
        suites: Vec<Suite>,
        #[serde(default)]
        errors: Vec<Err>,
    }
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(default, rename = "rootDir")]
        root_dir: String,
        #[serde(default)]
        projects: Vec<serde_json::Value>,
    }
    #[derive(serde::Deserialize)]
    struct Suite {
        title: String,
        file: String,
        #[serde(default)]
        specs: Vec<Spec>,
        #[serde(default)]
        suites: Vec<Suite>,
    }
    #[derive(serde::Deserialize)]
    struct Spec {
        title: String,
        line: Option<u32>,
        #[serde(default)]
        tests: Vec<SpecTest>,
    }
    #[derive(serde::Deserialize)]
    struct SpecTest {
        #[serde(default, rename = "projectName")]
        project: String,
    }
    #[derive(serde::Deserialize)]
    struct Err {
        #[serde(default)]
        message: String,
    }
    let start = stdout.find('{').unwrap_or(stdout.len());
    let report: Report = serde_json::from_str(stdout[start..].trim()).with_context(|| {
        format!(
            "unexpected `playwright test --list --reporter=json` output in {}",
            root.display()
        )
    })?;
    let projects = report.config.projects.len();
    let base = PathBuf::from(&report.config.root_dir);
    let mut cases = Vec::new();
    fn walk(
        s: &Suite,
        file: &str,
        path: &mut Vec<String>,
        out: &mut Vec<(String, Vec<String>, String, Option<u32>)>,
    ) {
        for spec in &s.specs {
            for t in &spec.tests {
                out.push((
                    t.project.clone(),
                    path.clone(),
                    spec.title.clone(),
                    spec.line,
                ));
            }
            let _ = file;
        }
        for child in &s.suites {
            path.push(child.title.clone());
            walk(child, file, path, out);
            path.pop();
        }
    }
    for file_suite in &report.suites {
        let mut out = Vec::new();
        walk(file_suite, &file_suite.file, &mut vec![], &mut out);
        let abs = base.join(&file_suite.file);
        for (project, suite, title, line) in out {
            cases.push((abs.display().to_string(), project, suite, title, line));
        }
    }
    // Ids as the recorder gives them, in one pass so duplicates are numbered alike.
    let mut taken = std::collections::HashSet::new();
    let mut tests = Vec::new();
    for (file, project, suite, title, line) in cases {
        let rel = relative_file(root, &file);
        let mut path = Vec::new();
        if projects > 1 {
            path.push(format!("[{project}]"));
        }
        path.extend(suite);
        let plain = super::jest::test_id(&rel, &path, &title);
        let mut id = plain.clone();
        let mut k = 2;
        while !taken.insert(id.clone()) {
            id = format!("{plain}{}{k}", super::jest::DUPLICATE_MARK);
            k += 1;
        }
        tests.push(crate::frameworks::ListedTest {
            id,
            name: title,
            framework: Framework::Playwright,
            file: Some(rel),
            line,
            ignored: None,
            affected: None,
        });
    }
    let errors = report
        .errors
        .into_iter()
        .map(|e| {
            strip_ansi(&e.message)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    Ok((tests, errors))
}

/// The whole Playwright run as one unit: Playwright schedules its own workers, and the
/// reporter appends every test event to the run's log (`TESTFLOW_EVENTS`).
pub(crate) struct PlaywrightUnit {
    pub(crate) project: PlaywrightProject,
    pub(crate) decision: crate::model::WorkersDecision,
    /// `--affected`: only these test files (positional filters, see
    /// [`affected::file_filter`]).
    pub(crate) files: Option<Vec<String>>,
}

impl crate::runner::Unit for PlaywrightUnit {
    fn planned_tests(&self) -> usize {
        0 // Playwright only knows its tests once it loads them
    }

    fn execute(self: Box<Self>, ctx: &crate::runner::Ctx) -> Vec<Box<dyn crate::runner::Unit>> {
        let events = ctx.events_path().to_owned();
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let before = size(&events);
        let mut args = self.project.args(&ctx.options, Some(&self.decision));
        if let Some(files) = &self.files {
            // Before the user's own arguments (which come last).
            let at = args.len().saturating_sub(ctx.options.framework_args.len());
            args.splice(at..at, files.iter().map(|f| affected::file_filter(f)));
        }
        let mut cmd = std::process::Command::new(&self.project.bin);
        cmd.args(args)
            .current_dir(&self.project.root)
            .env(crate::events::EVENTS_ENV, &events)
            // Playwright's own "open the HTML report" never runs under testflow.
            .env("PW_TEST_HTML_REPORT_OPEN", "never")
            .env_remove(crate::names::REPORT_ENV)
            .env_remove(super::jest::SHARD_STRATEGY_ENV)
            .stdin(std::process::Stdio::null());
        if let Some((_, strategy)) = ctx.options.pass_through.shard {
            cmd.env(super::jest::SHARD_STRATEGY_ENV, strategy.as_str());
        }
        let finished = events.with_file_name(FINISHED_FILE);
        let _ = std::fs::remove_file(&finished);
        let out = ctx.following_log(Framework::Playwright, || {
            ctx.processes.run(cmd, None, ctx.options.output_cap, None)
        });
        let out = match out {
            Err(e) => {
                ctx.run_error(
                    error_kind::BUILD,
                    format!("cannot start {}: {e}", self.project.bin.display()),
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
                    error_kind::PLAYWRIGHT
                } else {
                    error_kind::BUILD
                },
                format!(
                    "Playwright in {} exited with {}{}:\n{}",
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
                format!("cannot read back what Playwright's reporter recorded: {e:#}"),
            ),
            Ok(logged) => {
                let m = super::reporter_run::reconcile_exit(
                    Framework::Playwright,
                    "Playwright",
                    "jest-testflow/playwright",
                    "onEnd",
                    out.exit,
                    finished.is_file(),
                    &logged.run,
                );
                if let Some(m) = m {
                    ctx.run_error(
                        error_kind::RECONCILE,
                        format!(
                            "Playwright in {}: {m}\n{}",
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

/// Run `logged` through the shared exit check (see [`super::reporter_run::reconcile_exit`]).
pub fn reconcile_exit(
    exit: crate::process::ExitKind,
    reporter_finished: bool,
    logged: &Run,
) -> Option<String> {
    super::reporter_run::reconcile_exit(
        Framework::Playwright,
        "Playwright",
        "jest-testflow/playwright",
        "onEnd",
        exit,
        reporter_finished,
        logged,
    )
}
