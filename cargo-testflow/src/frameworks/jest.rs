//! Jest: what the `jest-testflow` reporter's results mean, and how `cargo testflow run`
//! drives a Jest project.
//!
//! The reporter (npm/, through the napi addon in bindings/node) hands over Jest's own
//! fields as plain strings and numbers; everything Jest-specific about them lives here:
//! test ids, status → outcome, failure text → category, reconciling the per-attempt
//! `onTestCaseResult` stream with the authoritative `onTestFileResult`, and crashed
//! workers.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result};
use regex::Regex;

use crate::model::{Category, Failure, Framework, Location, Outcome, Run, TestMeta};
use crate::recorder::{Recorder, RecorderConfig};

/// Separator between describe blocks and the title in a Jest test id (Jest's own).
pub const ID_SEPARATOR: &str = " › ";

/// One Jest test case as the reporter sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JestCase {
    /// `testFilePath` (absolute) or a path relative to the root dir.
    pub file: String,
    pub ancestor_titles: Vec<String>,
    pub title: String,
    /// From `location` (only with `testLocationInResults`).
    pub line: Option<u32>,
    pub column: Option<u32>,
}

/// One result of a Jest test case (`AssertionResult`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JestResult {
    pub case: JestCase,
    /// `passed`, `failed`, `pending`, `skipped`, `todo`, `disabled`, `focused`.
    pub status: String,
    pub duration_ms: f64,
    pub failure_messages: Vec<String>,
    /// `JSON.stringify(failureDetails)` (raw error objects; holds `matcherResult`).
    pub failure_details_json: Option<String>,
    /// `invocations`: how many attempts Jest made (retryTimes).
    pub invocations: Option<u32>,
}

/// `<file relative to rootDir>#<describe › … › title>`.
pub fn test_id(file: &str, ancestor_titles: &[String], title: &str) -> String {
    let mut id = String::with_capacity(file.len() + title.len() + 16);
    id.push_str(file);
    id.push('#');
    for a in ancestor_titles {
        id.push_str(a);
        id.push_str(ID_SEPARATOR);
    }
    id.push_str(title);
    id
}

/// `path` relative to `root` with `/` separators (as given when it is not under `root`).
pub fn relative_file(root: &Path, path: &str) -> String {
    let p = Path::new(path);
    let rel = p.strip_prefix(root).unwrap_or(p);
    rel.to_string_lossy().replace('\\', "/")
}

fn meta(root: &Path, case: &JestCase) -> TestMeta {
    let file = relative_file(root, &case.file);
    TestMeta {
        id: test_id(&file, &case.ancestor_titles, &case.title),
        framework: Framework::Jest,
        name: case.title.clone(),
        suite: case.ancestor_titles.clone(),
        file: Some(file),
        line: case.line,
        binary: None,
    }
}

/// The id and metadata of the entry that stands for a whole file (it failed to run).
fn file_meta(root: &Path, file: &str) -> TestMeta {
    let file = relative_file(root, file);
    TestMeta {
        id: file.clone(),
        framework: Framework::Jest,
        name: file.rsplit('/').next().unwrap_or(&file).to_owned(),
        suite: vec![],
        file: Some(file),
        line: None,
        binary: None,
    }
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("valid regex"))
}

fn strip_ansi(s: &str) -> String {
    static ANSI: OnceLock<Regex> = OnceLock::new();
    re(&ANSI, r"\x1b\[[0-9;]*[A-Za-z]")
        .replace_all(s, "")
        .into_owned()
}

/// Split Jest's formatted error text into the message (before the stack) and the stack.
fn split_stack(text: &str) -> (&str, &str) {
    match text.find("\n    at ") {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, ""),
    }
}

/// The deepest frame in user code: the first stack frame outside node_modules and Node's
/// internals, relative to `root`.
fn user_location(root: &Path, stack: &str) -> Option<Location> {
    static FRAME: OnceLock<Regex> = OnceLock::new();
    let frame = re(&FRAME, r"^\s*at (?:.*? \()?(.+?):(\d+):(\d+)\)?\s*$");
    stack.lines().find_map(|l| {
        let c = frame.captures(l)?;
        let file = c.get(1)?.as_str();
        if file.contains("node_modules") || file.starts_with("node:") || !file.contains('/') {
            return None;
        }
        Some(Location {
            file: relative_file(root, file),
            line: c[2].parse().ok()?,
            column: c[3].parse().ok(),
        })
    })
}

/// `TypeError: x` → `TypeError`; Jest's `thrown: "…"` wrapper for non-Error throws → None.
fn error_kind(message: &str) -> Option<String> {
    static KIND: OnceLock<Regex> = OnceLock::new();
    let k = re(&KIND, r"^((?:[A-Z][A-Za-z0-9_]*)?(?:Error|Exception))\b")
        .captures(message)?
        .get(1)?
        .as_str();
    Some(k.to_owned())
}

/// The module named in a "Cannot find module 'x'" message.
pub fn missing_module(text: &str) -> Option<String> {
    static MISSING: OnceLock<Regex> = OnceLock::new();
    let c = re(&MISSING, r"Cannot find module '([^']+)'").captures(text)?;
    Some(c[1].to_owned())
}

/// Which kind of block encloses `line` (1-based) of `source`: the nearest less-indented
/// `beforeEach(`/`test(`… opener above it. Used to tell a failing hook (setup_error) from
/// a failing test body, which Jest reports the same way.
fn in_hook(source: &str, line: u32) -> bool {
    static OPENER: OnceLock<Regex> = OnceLock::new();
    let opener = re(
        &OPENER,
        r"^(\s*)(beforeEach|beforeAll|afterEach|afterAll|test|it|fit|xit|xtest)\b(?:\.[A-Za-z]+)*\s*\(",
    );
    let lines: Vec<&str> = source.lines().collect();
    let Some(at) = (line as usize).checked_sub(1).filter(|i| *i < lines.len()) else {
        return false;
    };
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut limit = indent(lines[at]);
    for l in lines[..=at].iter().rev() {
        if l.trim().is_empty() {
            continue;
        }
        let i = indent(l);
        if let Some(c) = opener.captures(l)
            && c[1].len() <= limit
        {
            return c[2].starts_with("before") || c[2].starts_with("after");
        }
        limit = limit.min(i);
    }
    false
}

/// What a Jest test's status and failure messages mean.
pub fn classify_result(root: &Path, r: &JestResult) -> (Outcome, Option<Failure>) {
    match r.status.as_str() {
        "passed" => return (Outcome::Passed, None),
        "pending" | "skipped" | "disabled" => return (Outcome::Skipped, None),
        "todo" => {
            return (
                Outcome::Skipped,
                Some(Failure {
                    category: Category::RuntimeError,
                    kind: Some("todo".into()),
                    message: "todo".into(),
                    ..Failure::default()
                }),
            );
        }
        _ => {}
    }
    let text = strip_ansi(&r.failure_messages.join("\n\n"));
    let (head, stack) = split_stack(&text);
    let mut failure = Failure {
        message: head.trim().to_owned(),
        details: (!text.trim().is_empty()).then(|| text.clone()),
        location: user_location(root, stack),
        ..Failure::default()
    };
    failure.kind = error_kind(&failure.message);
    let matcher = r
        .failure_details_json
        .as_deref()
        .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
        .and_then(|v| {
            v.as_array()?
                .iter()
                .find_map(|d| d.get("matcherResult").cloned())
        });
    let mut outcome = Outcome::Failed;
    if let Some(t) = timeout_message(&failure.message) {
        outcome = Outcome::Timeout;
        failure.category = Category::Timeout;
        failure.kind = Some(if t.contains("for a hook") {
            "hook timeout".into()
        } else {
            "timeout".into()
        });
        failure.message = t;
    } else if let Some(m) = matcher {
        failure.category = Category::Assertion;
        failure.kind = m.get("name").and_then(|n| n.as_str()).map(str::to_owned);
        failure.message = failure
            .message
            .strip_prefix("Error: ")
            .unwrap_or(&failure.message)
            .to_owned();
        let show = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        failure.expected = m.get("expected").map(show);
        failure.actual = m.get("actual").map(show);
    } else if failure.message.contains("expect(") || failure.message.starts_with("AssertionError") {
        failure.category = Category::Assertion;
        if failure.kind.is_none() {
            failure.kind = Some("expect".into());
        }
    } else if let Some(module) = missing_module(&failure.message) {
        failure.category = Category::ImportError;
        failure.kind = Some(format!("Cannot find module '{module}'"));
    }
    if failure.category != Category::Timeout && failure.category != Category::Assertion {
        let hook = failure.location.as_ref().is_some_and(|loc| {
            std::fs::read_to_string(root.join(&loc.file)).is_ok_and(|src| in_hook(&src, loc.line))
        });
        if hook {
            outcome = Outcome::Error;
            failure.category = Category::SetupError;
        }
    }
    (outcome, Some(failure))
}

/// `Exceeded timeout of 100 ms for a test.` out of Jest's (possibly `thrown: "…"`-wrapped) text.
fn timeout_message(message: &str) -> Option<String> {
    static TIMEOUT: OnceLock<Regex> = OnceLock::new();
    let m = re(
        &TIMEOUT,
        r"Exceeded timeout of \d+ ms for a (?:test|hook)(?: while waiting for `done\(\)` to be called)?\.",
    )
    .find(message)?;
    Some(m.as_str().to_owned())
}

/// What a file-level `testExecError` means: a crashed worker, a missing module, a syntax
/// or transform error, or any other error at module level.
pub fn classify_exec_error(root: &Path, message: &str) -> (Outcome, Failure) {
    let text = strip_ansi(message);
    let (head, stack) = split_stack(&text);
    let head = head.trim();
    let first = head
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('●'))
        .unwrap_or("")
        .to_owned();
    let mut failure = Failure {
        category: Category::RuntimeError,
        kind: error_kind(&first),
        message: first.clone(),
        location: user_location(root, stack),
        details: (!text.trim().is_empty()).then(|| text.clone()),
        ..Failure::default()
    };
    static SIGNAL: OnceLock<Regex> = OnceLock::new();
    let worker = text.contains("Jest worker") || text.contains("jest worker process");
    if worker {
        failure.category = Category::Crash;
        failure.kind = Some("worker crashed".into());
        failure.signal = re(&SIGNAL, r"signal=(SIG[A-Z0-9]+)")
            .captures(&text)
            .and_then(|c| signal_number(&c[1]));
        return (Outcome::Crashed, failure);
    }
    if let Some(module) = missing_module(&text) {
        failure.category = Category::ImportError;
        failure.kind = Some(format!("Cannot find module '{module}'"));
        failure.message = head
            .lines()
            .map(str::trim)
            .find(|l| l.contains("Cannot find module"))
            .unwrap_or(&first)
            .to_owned();
    } else if text.contains("SyntaxError")
        || text.contains("Jest encountered an unexpected token")
        || text.contains("Your test suite must contain at least one test")
    {
        failure.category = Category::BuildError;
    }
    (Outcome::Error, failure)
}

fn signal_number(name: &str) -> Option<i32> {
    Some(match name {
        "SIGHUP" => 1,
        "SIGINT" => 2,
        "SIGQUIT" => 3,
        "SIGILL" => 4,
        "SIGABRT" => 6,
        "SIGBUS" => 7,
        "SIGFPE" => 8,
        "SIGKILL" => 9,
        "SIGSEGV" => 11,
        "SIGTERM" => 15,
        _ => return None,
    })
}

#[derive(Default)]
struct State {
    /// Attempts started or finished so far, per test id.
    attempts: HashMap<String, u32>,
    /// Started and not finished: the attempt number.
    open: HashMap<String, (TestMeta, u32)>,
    /// Ids with at least one recorded result.
    done: HashSet<String>,
}

/// The engine side of the Jest reporter: a [`Recorder`] plus the bookkeeping that turns
/// Jest's hooks into attempts.
pub struct JestRecorder {
    recorder: Recorder,
    root: PathBuf,
    state: Mutex<State>,
}

impl JestRecorder {
    /// `root` is Jest's `rootDir`: test files and ids are relative to it.
    pub fn start(config: RecorderConfig) -> Result<JestRecorder> {
        let root = config.project_root.clone();
        Ok(JestRecorder {
            recorder: Recorder::start(config)?,
            root,
            state: Mutex::new(State::default()),
        })
    }

    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `onTestCaseStart`: a new attempt of this test. A previous attempt still open means
    /// the worker running it died and Jest re-ran the file: that attempt crashed.
    pub fn case_started(&self, case: &JestCase) -> Result<()> {
        let meta = meta(&self.root, case);
        let mut st = self.state();
        if let Some((prev, attempt)) = st.open.remove(&meta.id) {
            self.recorder.test_finished(
                prev,
                attempt,
                Outcome::Crashed,
                0.0,
                Some(Failure {
                    category: Category::Crash,
                    kind: Some("worker crashed".into()),
                    message: "the Jest worker running this test exited; Jest ran the file again"
                        .into(),
                    ..Failure::default()
                }),
            )?;
        }
        let n = st.attempts.entry(meta.id.clone()).or_insert(0);
        *n += 1;
        let attempt = *n;
        st.open.insert(meta.id.clone(), (meta.clone(), attempt));
        drop(st);
        self.recorder.test_started(meta, attempt)
    }

    /// `onTestCaseResult`: one attempt's result.
    pub fn case_result(&self, result: &JestResult) -> Result<()> {
        let meta = meta(&self.root, &result.case);
        let mut st = self.state();
        let attempt = match st.open.remove(&meta.id) {
            Some((_, a)) => a,
            None => {
                let n = st.attempts.entry(meta.id.clone()).or_insert(0);
                *n += 1;
                *n
            }
        };
        st.done.insert(meta.id.clone());
        drop(st);
        let (outcome, failure) = classify_result(&self.root, result);
        self.recorder
            .test_finished(meta, attempt, outcome, result.duration_ms, failure)
    }

    /// `onTestFileResult`, the authority: records the tests no per-case hook reported
    /// (skipped, todo, or every test with a runner that has no per-case hooks), and a
    /// `testExecError` as the crash of the test that was running, or else as an error
    /// entry for the whole file.
    pub fn file_result(
        &self,
        file: &str,
        results: &[JestResult],
        exec_error: Option<&str>,
    ) -> Result<()> {
        for r in results {
            let id = meta(&self.root, &r.case).id;
            let (seen, open) = {
                let st = self.state();
                (st.done.contains(&id), st.open.contains_key(&id))
            };
            if seen && !open {
                continue;
            }
            if !seen && !open {
                // Never streamed: record its final attempt under Jest's own count.
                let n = r.invocations.unwrap_or(1).max(1);
                self.state().attempts.insert(id.clone(), n - 1);
            }
            self.case_result(r)?;
        }
        let Some(message) = exec_error.filter(|m| !m.trim().is_empty()) else {
            return Ok(());
        };
        let rel = relative_file(&self.root, file);
        let (outcome, failure) = classify_exec_error(&self.root, message);
        let open: Vec<(TestMeta, u32)> = {
            let mut st = self.state();
            let ids: Vec<String> = st
                .open
                .iter()
                .filter(|(_, (m, _))| m.file.as_deref() == Some(rel.as_str()))
                .map(|(id, _)| id.clone())
                .collect();
            ids.into_iter()
                .filter_map(|id| {
                    st.done.insert(id.clone());
                    st.open.remove(&id)
                })
                .collect()
        };
        if open.is_empty() {
            let meta = file_meta(&self.root, file);
            let attempt = {
                let mut st = self.state();
                let n = st.attempts.entry(meta.id.clone()).or_insert(0);
                *n += 1;
                *n
            };
            return self
                .recorder
                .test_finished(meta, attempt, outcome, 0.0, Some(failure));
        }
        for (meta, attempt) in open {
            let outcome = if outcome == Outcome::Crashed {
                Outcome::Crashed
            } else {
                Outcome::Error
            };
            self.recorder
                .test_finished(meta, attempt, outcome, 0.0, Some(failure.clone()))?;
        }
        Ok(())
    }

    pub fn run_error(&self, kind: &str, message: &str) -> Result<()> {
        self.recorder.run_error(kind, message)
    }

    pub fn finish(&self, completed: bool, reason: Option<&str>) -> Result<Run> {
        self.recorder.finish(completed, reason)
    }
}

// ---- `cargo testflow run` on a Jest project -------------------------------------------

/// Environment variables the sequencer reads (set by `cargo testflow run`, or by hand).
pub const SHARD_STRATEGY_ENV: &str = "TESTFLOW_SHARD_STRATEGY";
pub const ORDER_ENV: &str = "TESTFLOW_ORDER";
pub const LAST_FAILED_ENV: &str = "TESTFLOW_LAST_FAILED";

/// The npm package name of the reporter.
pub const REPORTER_PACKAGE: &str = "jest-testflow";

/// How to install the reporter, for error messages.
pub fn install_hint(root: &Path) -> String {
    format!(
        "install it there with `cd {} && npm install --save-dev <testflow checkout>/npm` \
         (its install script builds the addon with cargo)",
        root.display()
    )
}

/// Does `root` hold a Jest project? A `jest` key in package.json, a `jest.config.*`, or
/// jest in the dependencies with a test script that runs it.
pub fn is_jest_project(root: &Path) -> bool {
    const CONFIGS: [&str; 6] = [
        "jest.config.js",
        "jest.config.ts",
        "jest.config.mjs",
        "jest.config.cjs",
        "jest.config.json",
        "jest.config.cts",
    ];
    if CONFIGS.iter().any(|c| root.join(c).is_file()) {
        return root.join("package.json").is_file();
    }
    let Ok(text) = std::fs::read_to_string(root.join("package.json")) else {
        return false;
    };
    let Ok(pkg) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    if pkg.get("jest").is_some() {
        return true;
    }
    let in_deps = ["dependencies", "devDependencies"]
        .iter()
        .any(|k| pkg.get(k).and_then(|d| d.get("jest")).is_some());
    let test_script = pkg
        .pointer("/scripts/test")
        .and_then(|s| s.as_str())
        .is_some_and(|s| s.contains("jest"));
    in_deps && test_script
}

/// `node_modules/<rel>` in `root` or the nearest parent that has it (npm workspaces hoist).
fn find_in_node_modules(root: &Path, rel: &str) -> Option<PathBuf> {
    root.ancestors()
        .map(|d| d.join("node_modules").join(rel))
        .find(|p| p.exists())
}

/// The project's own Jest and the installed reporter.
#[derive(Clone, Debug)]
pub struct JestProject {
    pub root: PathBuf,
    pub jest_bin: PathBuf,
    pub reporter_dir: PathBuf,
}

impl JestProject {
    pub fn locate(root: &Path) -> Result<JestProject> {
        let jest_bin = find_in_node_modules(root, ".bin/jest").with_context(|| {
            format!(
                "{} uses Jest but node_modules/.bin/jest is missing: run `npm install` there first",
                root.display()
            )
        })?;
        let reporter_dir = find_in_node_modules(root, REPORTER_PACKAGE)
            .filter(|d| d.join("package.json").is_file())
            .with_context(|| {
                format!(
                    "the Jest reporter `{REPORTER_PACKAGE}` is not installed in {}: {}",
                    root.display(),
                    install_hint(root)
                )
            })?;
        Ok(JestProject {
            root: root.to_owned(),
            jest_bin,
            reporter_dir,
        })
    }

    /// Arguments for one run under testflow: our reporter next to the default one, and
    /// the options Jest can honour itself.
    pub fn args(&self, options: &crate::runner::RunOptions) -> Vec<String> {
        let mut args = vec![
            "--ci".to_owned(),
            "--reporters=default".to_owned(),
            format!("--reporters={}", self.reporter_dir.display()),
            format!("--maxWorkers={}", options.jobs.max(1)),
        ];
        if let Some(t) = options.test_timeout {
            args.push(format!("--testTimeout={}", t.as_millis()));
        }
        if options.retries > 0 {
            args.push(format!(
                "--setupFilesAfterEnv={}",
                self.reporter_dir.join("retry-setup.js").display()
            ));
        }
        if !options.filters.is_empty() {
            let alternatives: Vec<String> =
                options.filters.iter().map(|f| regex::escape(f)).collect();
            args.push("-t".to_owned());
            args.push(alternatives.join("|"));
        }
        let pass = &options.pass_through;
        if let Some((spec, _)) = pass.shard {
            // The sequencer plans the shard from history (file grain); an empty shard is
            // not a failure.
            args.push(format!("--shard={}/{}", spec.index, spec.total));
            args.push("--passWithNoTests".to_owned());
        }
        if pass.shard.is_some() || pass.order != crate::session::Order::Default || pass.last_failed
        {
            args.push(format!(
                "--testSequencer={}",
                self.reporter_dir.join("sequencer.js").display()
            ));
        }
        if let Some(dir) = &options.coverage_dir {
            args.extend(crate::coverage::collect::jest_args(dir));
        }
        args
    }

    /// Environment for the sequencer: the shard strategy, order and `--last-failed`.
    pub fn env(&self, options: &crate::runner::RunOptions) -> Vec<(&'static str, String)> {
        let pass = &options.pass_through;
        let mut env = Vec::new();
        if let Some((_, strategy)) = pass.shard {
            env.push((SHARD_STRATEGY_ENV, strategy.as_str().to_owned()));
        }
        if pass.order != crate::session::Order::Default {
            env.push((ORDER_ENV, pass.order.as_str().to_owned()));
        }
        if pass.last_failed {
            env.push((LAST_FAILED_ENV, "1".to_owned()));
        }
        env
    }
}

/// A Jest project found by `detect_suites`.
pub struct JestSuite {
    pub root: PathBuf,
}

impl crate::frameworks::Suite for JestSuite {
    fn listing(&self) -> Result<Vec<crate::frameworks::cargo::SuiteListing>> {
        Ok(listing(&self.root)?.into_iter().collect())
    }

    fn shard_items(&self) -> Result<(Vec<String>, crate::selection::Grain)> {
        Ok((list_files(&self.root)?, crate::selection::Grain::File))
    }

    fn framework(&self) -> Framework {
        Framework::Jest
    }

    fn units(
        self: Box<Self>,
        _ctx: &crate::runner::Ctx,
    ) -> Result<Vec<Box<dyn crate::runner::Unit>>> {
        let project = JestProject::locate(&self.root)?;
        Ok(vec![Box::new(JestUnit { project })])
    }
}

/// The whole Jest run as one unit: Jest schedules its own workers (`--maxWorkers`), and
/// the reporter appends every test event to the run's log (`TESTFLOW_EVENTS`).
struct JestUnit {
    project: JestProject,
}

impl crate::runner::Unit for JestUnit {
    fn planned_tests(&self) -> usize {
        0 // Jest only knows its tests once it runs them
    }

    fn execute(self: Box<Self>, ctx: &crate::runner::Ctx) -> Vec<Box<dyn crate::runner::Unit>> {
        let events = ctx.events_path().to_owned();
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let before = size(&events);
        let mut cmd = std::process::Command::new(&self.project.jest_bin);
        cmd.args(self.project.args(&ctx.options))
            .current_dir(&self.project.root)
            .env(crate::recorder::EVENTS_ENV, &events)
            // The driver writes the reports once, from the whole run.
            .env_remove(crate::recorder::REPORT_ENV)
            .env("TESTFLOW_RETRIES", ctx.options.retries.to_string())
            .env_remove(SHARD_STRATEGY_ENV)
            .env_remove(ORDER_ENV)
            .env_remove(LAST_FAILED_ENV)
            .envs(self.project.env(&ctx.options));
        let out = ctx.following_log(Framework::Jest, || {
            ctx.processes.run(cmd, None, ctx.options.output_cap, None)
        });
        match out {
            Err(e) => ctx.run_error(
                "build",
                format!("cannot start {}: {e}", self.project.jest_bin.display()),
            ),
            Ok(out) => {
                let recorded = size(&events) > before;
                let ok_exit = matches!(out.exit, crate::process::ExitKind::Code(0 | 1));
                if out.killed.is_none() && (!ok_exit || !recorded) && !out.exit.success() {
                    let stderr = out.stderr.to_captured().text;
                    let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    // Jest that reported no test could not run the suite: a build failure.
                    ctx.run_error(
                        if recorded { "jest" } else { "build" },
                        format!(
                            "Jest in {} exited with {:?}{}:\n{}",
                            self.project.root.display(),
                            out.exit,
                            if recorded {
                                ""
                            } else {
                                " before reporting any test"
                            },
                            tail.join("\n")
                        ),
                    );
                }
            }
        }
        vec![]
    }
}

/// A Jest suite at `root`, if there is one.
pub fn detect(root: &Path) -> Option<Box<dyn crate::frameworks::Suite>> {
    is_jest_project(root).then(|| {
        Box::new(JestSuite {
            root: root.to_owned(),
        }) as Box<dyn crate::frameworks::Suite>
    })
}

/// `cargo testflow list`: the project's test files as Jest sees them (`--listTests`).
pub fn list_files(root: &Path) -> Result<Vec<String>> {
    let bin = find_in_node_modules(root, ".bin/jest").with_context(|| {
        format!(
            "{} uses Jest but node_modules/.bin/jest is missing: run `npm install` there first",
            root.display()
        )
    })?;
    let out = std::process::Command::new(&bin)
        .args(["--listTests", "--json"])
        .current_dir(root)
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !out.status.success() {
        anyhow::bail!(
            "`jest --listTests` failed in {}: {}",
            root.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('['))
        .unwrap_or("[]");
    let files: Vec<String> = serde_json::from_str(json).with_context(|| {
        format!(
            "unexpected `jest --listTests --json` output in {}",
            root.display()
        )
    })?;
    let mut files: Vec<String> = files.iter().map(|f| relative_file(root, f)).collect();
    files.sort();
    Ok(files)
}

/// The Jest suite at `root` as `cargo testflow list` shows it; `tests` counts test
/// files (Jest knows its tests only by running them).
pub fn listing(root: &Path) -> Result<Option<crate::frameworks::cargo::SuiteListing>> {
    if !is_jest_project(root) {
        return Ok(None);
    }
    let files = list_files(root)?;
    let name = std::fs::read_to_string(root.join("package.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|p| p.get("name")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| root.display().to_string());
    Ok(Some(crate::frameworks::cargo::SuiteListing {
        id: format!("jest:{name}"),
        package: name,
        kind: "jest test files".into(),
        tests: files.len(),
        ignored: 0,
        executable: find_in_node_modules(root, ".bin/jest"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: &str, messages: &[&str], details: Option<&str>) -> JestResult {
        JestResult {
            case: JestCase {
                file: "/p/src/a.test.js".into(),
                ancestor_titles: vec!["outer".into(), "inner".into()],
                title: "works".into(),
                line: Some(3),
                column: Some(1),
            },
            status: status.into(),
            duration_ms: 2.0,
            failure_messages: messages.iter().map(|s| s.to_string()).collect(),
            failure_details_json: details.map(str::to_owned),
            invocations: Some(1),
        }
    }

    #[test]
    fn ids_join_the_relative_file_and_the_titles() {
        let r = result("passed", &[], None);
        let m = meta(Path::new("/p"), &r.case);
        assert_eq!(m.id, "src/a.test.js#outer › inner › works");
        assert_eq!(m.suite, ["outer", "inner"]);
        assert_eq!(m.file.as_deref(), Some("src/a.test.js"));
        assert_eq!(test_id("a.js", &[], "t"), "a.js#t");
    }

    #[test]
    fn expect_failures_are_assertions_with_the_matcher_and_values() {
        let msg = "Error: expect(received).toBe(expected) // Object.is equality\n\nExpected: 3\nReceived: 2\n    at Object.toBe (/p/src/a.test.js:8:21)\n    at Promise.finally.completed (/p/node_modules/jest-circus/build/jestAdapterInit.js:1834:28)";
        let details = r#"[{"matcherResult":{"actual":2,"expected":3,"message":"m","name":"toBe","pass":false}}]"#;
        let (o, f) = classify_result(Path::new("/p"), &result("failed", &[msg], Some(details)));
        let f = f.unwrap();
        assert_eq!(o, Outcome::Failed);
        assert_eq!(f.category, Category::Assertion);
        assert_eq!(f.kind.as_deref(), Some("toBe"));
        assert_eq!(
            (f.expected.as_deref(), f.actual.as_deref()),
            (Some("3"), Some("2"))
        );
        assert!(
            f.message.starts_with("expect(received).toBe(expected)"),
            "{}",
            f.message
        );
        let loc = f.location.unwrap();
        assert_eq!(
            (loc.file.as_str(), loc.line, loc.column),
            ("src/a.test.js", 8, Some(21))
        );
    }

    #[test]
    fn timeouts_are_timeouts() {
        let msg = "Error: thrown: \"Exceeded timeout of 100 ms for a test.\nAdd a timeout value to this test to increase the timeout, if this is a long-running test. See https://jestjs.io/docs/api#testname-fn-timeout.\"\n    at _getError (/p/node_modules/jest-circus/build/x.js:1:1)";
        let (o, f) = classify_result(Path::new("/p"), &result("failed", &[msg], Some("[{}]")));
        let f = f.unwrap();
        assert_eq!((o, f.category), (Outcome::Timeout, Category::Timeout));
        assert_eq!(f.message, "Exceeded timeout of 100 ms for a test.");
    }

    #[test]
    fn thrown_errors_are_runtime_errors_with_their_kind() {
        let msg = "TypeError: Cannot read properties of null (reading 'boom')\n    at Object.boom (/p/src/a.test.js:14:12)";
        let (o, f) = classify_result(Path::new("/p"), &result("failed", &[msg], Some("[{}]")));
        let f = f.unwrap();
        assert_eq!((o, f.category), (Outcome::Failed, Category::RuntimeError));
        assert_eq!(f.kind.as_deref(), Some("TypeError"));
    }

    #[test]
    fn skipped_and_todo_are_skipped() {
        let root = Path::new("/p");
        assert_eq!(
            classify_result(root, &result("pending", &[], None)).0,
            Outcome::Skipped
        );
        let (o, f) = classify_result(root, &result("todo", &[], None));
        assert_eq!(
            (o, f.unwrap().kind.as_deref()),
            (Outcome::Skipped, Some("todo"))
        );
    }

    #[test]
    fn a_failure_inside_a_hook_is_a_setup_error() {
        let src = "describe('d', () => {\n  beforeEach(() => {\n    throw new Error('db');\n  });\n  test('t', () => {\n    expect(1).toBe(1);\n    throw new Error('x');\n  });\n});\n";
        assert!(in_hook(src, 3));
        assert!(!in_hook(src, 7));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("h.test.js"), src).unwrap();
        let msg = format!(
            "Error: db\n    at Object.<anonymous> ({}/h.test.js:3:11)",
            dir.path().display()
        );
        let (o, f) = classify_result(dir.path(), &result("failed", &[&msg], Some("[{}]")));
        assert_eq!(
            (o, f.unwrap().category),
            (Outcome::Error, Category::SetupError)
        );
    }

    #[test]
    fn exec_errors_name_the_missing_module_or_the_crash() {
        let root = Path::new("/p");
        let (o, f) = classify_exec_error(
            root,
            "  ● Test suite failed to run\n\n    Cannot find module 'left-pad' from 'src/m.test.js'\n\n    > 1 | const pad = require('left-pad');\n\n      at Resolver._throwModNotFoundError (node_modules/jest-resolve/build/index.js:1031:11)",
        );
        assert_eq!((o, f.category), (Outcome::Error, Category::ImportError));
        assert_eq!(f.kind.as_deref(), Some("Cannot find module 'left-pad'"));
        assert_eq!(
            f.message,
            "Cannot find module 'left-pad' from 'src/m.test.js'"
        );
        let (o, f) = classify_exec_error(
            root,
            "A jest worker process (pid=1) was terminated by another process: signal=SIGKILL, exitCode=null.",
        );
        assert_eq!(
            (o, f.category, f.signal),
            (Outcome::Crashed, Category::Crash, Some(9))
        );
        let (o, _) = classify_exec_error(
            root,
            "Jest worker encountered 4 child process exceptions, exceeding retry limit",
        );
        assert_eq!(o, Outcome::Crashed);
        let (_, f) = classify_exec_error(root, "SyntaxError: Unexpected token (3:4)");
        assert_eq!(f.category, Category::BuildError);
    }

    fn recorder(dir: &Path) -> JestRecorder {
        JestRecorder::start(RecorderConfig {
            framework: Framework::Jest,
            project_root: dir.to_owned(),
            events: None,
            reports: vec![],
            shard: None,
        })
        .unwrap()
    }

    fn case(dir: &Path, file: &str, title: &str) -> JestCase {
        JestCase {
            file: dir.join(file).display().to_string(),
            title: title.into(),
            ..JestCase::default()
        }
    }

    #[test]
    fn retries_become_attempts_and_the_file_result_adds_skipped_tests() {
        let dir = tempfile::tempdir().unwrap();
        let rec = recorder(dir.path());
        let flaky = case(dir.path(), "a.test.js", "flaky");
        let res = |c: &JestCase, status: &str| JestResult {
            case: c.clone(),
            status: status.into(),
            duration_ms: 1.0,
            ..JestResult::default()
        };
        rec.case_started(&flaky).unwrap();
        rec.case_result(&res(&flaky, "failed")).unwrap();
        rec.case_started(&flaky).unwrap();
        rec.case_result(&res(&flaky, "passed")).unwrap();
        let skipped = case(dir.path(), "a.test.js", "skipped");
        let file = dir.path().join("a.test.js").display().to_string();
        rec.file_result(
            &file,
            &[res(&flaky, "passed"), res(&skipped, "pending")],
            None,
        )
        .unwrap();
        let run = rec.finish(true, None).unwrap();
        assert_eq!(run.tests.len(), 2);
        let t = &run.tests[0];
        assert_eq!(
            (t.id.as_str(), t.attempts.len(), t.flaky),
            ("a.test.js#flaky", 2, true)
        );
        assert_eq!(run.tests[1].outcome, Outcome::Skipped);
    }

    #[test]
    fn an_exec_error_crashes_the_running_test_or_stands_for_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let rec = recorder(dir.path());
        let a = case(dir.path(), "crash.test.js", "kills its worker");
        rec.case_started(&a).unwrap();
        rec.file_result(
            &a.file,
            &[],
            Some("A jest worker process (pid=1) was terminated by another process: signal=SIGKILL, exitCode=null."),
        )
        .unwrap();
        let missing = dir.path().join("missing.test.js").display().to_string();
        rec.file_result(
            &missing,
            &[],
            Some("Cannot find module 'x' from 'missing.test.js'"),
        )
        .unwrap();
        let run = rec.finish(true, None).unwrap();
        let crashed = &run.tests[0];
        assert_eq!(crashed.id, "crash.test.js#kills its worker");
        assert_eq!(crashed.outcome, Outcome::Crashed);
        assert_eq!(crashed.failure.as_ref().unwrap().signal, Some(9));
        let file = &run.tests[1];
        assert_eq!(
            (file.id.as_str(), file.outcome),
            ("missing.test.js", Outcome::Error)
        );
        assert_eq!(
            file.failure.as_ref().unwrap().category,
            Category::ImportError
        );
    }

    #[test]
    fn a_restarted_attempt_means_the_previous_one_crashed() {
        let dir = tempfile::tempdir().unwrap();
        let rec = recorder(dir.path());
        let a = case(dir.path(), "exit.test.js", "exits");
        rec.case_started(&a).unwrap();
        rec.case_started(&a).unwrap();
        rec.file_result(
            &a.file,
            &[],
            Some("Jest worker encountered 4 child process exceptions, exceeding retry limit"),
        )
        .unwrap();
        let run = rec.finish(true, None).unwrap();
        assert_eq!(run.tests.len(), 1);
        assert_eq!(run.tests[0].attempts.len(), 2);
        assert_eq!(run.tests[0].outcome, Outcome::Crashed);
    }

    #[test]
    fn jest_projects_are_detected_by_config_key_or_dependency() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("package.json");
        std::fs::write(&pkg, r#"{"name":"x"}"#).unwrap();
        assert!(!is_jest_project(dir.path()));
        std::fs::write(&pkg, r#"{"jest":{}}"#).unwrap();
        assert!(is_jest_project(dir.path()));
        std::fs::write(
            &pkg,
            r#"{"devDependencies":{"jest":"30"},"scripts":{"test":"jest --ci"}}"#,
        )
        .unwrap();
        assert!(is_jest_project(dir.path()));
        std::fs::write(
            &pkg,
            r#"{"devDependencies":{"jest":"30"},"scripts":{"test":"mocha"}}"#,
        )
        .unwrap();
        assert!(!is_jest_project(dir.path()));
        std::fs::write(dir.path().join("jest.config.js"), "module.exports = {}").unwrap();
        assert!(is_jest_project(dir.path()));
    }

    #[test]
    fn options_jest_can_honour_become_its_flags() {
        let p = JestProject {
            root: "/p".into(),
            jest_bin: "/p/node_modules/.bin/jest".into(),
            reporter_dir: "/p/node_modules/jest-testflow".into(),
        };
        let options = crate::runner::RunOptions {
            jobs: 2,
            test_timeout: Some(std::time::Duration::from_millis(1500)),
            retries: 2,
            filters: vec!["adds".into(), "a.b".into()],
            ..crate::runner::RunOptions::default()
        };
        let args = p.args(&options);
        assert!(args.contains(&"--maxWorkers=2".to_owned()));
        assert!(args.contains(&"--testTimeout=1500".to_owned()));
        assert!(args.contains(&"--reporters=/p/node_modules/jest-testflow".to_owned()));
        assert!(args.contains(
            &"--setupFilesAfterEnv=/p/node_modules/jest-testflow/retry-setup.js".to_owned()
        ));
        assert_eq!(
            args[args.len() - 2..],
            ["-t".to_owned(), r"adds|a\.b".to_owned()]
        );
        assert!(p.env(&options).is_empty());
    }

    #[test]
    fn shard_order_and_last_failed_reach_jest_through_the_sequencer() {
        use crate::session::Order;
        use crate::shard::{ShardSpec, Strategy};
        let p = JestProject {
            root: "/p".into(),
            jest_bin: "/p/node_modules/.bin/jest".into(),
            reporter_dir: "/p/node_modules/jest-testflow".into(),
        };
        let options = crate::runner::RunOptions {
            pass_through: crate::runner::PassThrough {
                shard: Some((ShardSpec::parse("2/4").unwrap(), Strategy::Count)),
                order: Order::SlowestFirst,
                last_failed: true,
            },
            ..crate::runner::RunOptions::default()
        };
        let args = p.args(&options);
        for want in [
            "--shard=2/4",
            "--passWithNoTests",
            "--testSequencer=/p/node_modules/jest-testflow/sequencer.js",
        ] {
            assert!(args.contains(&want.to_owned()), "{want} in {args:?}");
        }
        assert_eq!(
            p.env(&options),
            [
                (SHARD_STRATEGY_ENV, "count".to_owned()),
                (ORDER_ENV, "slowest-first".to_owned()),
                (LAST_FAILED_ENV, "1".to_owned()),
            ]
        );
    }
}
