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

use crate::model::{Category, Failure, Framework, Location, Outcome, Run, TestMeta, error_kind};
use crate::recorder::{Recorder, RecorderConfig};

/// The oldest Jest major whose reporter API testflow reads: `onTestResult` with per-test
/// results (`testResults[]`) and `numTodoTests` in the totals.
pub const MIN_JEST_MAJOR: u64 = 24;

/// The Jest majors the tests run (tests/run-all.sh, "Jest versions").
pub const TESTED_JEST_MAJORS: [u64; 5] = [24, 26, 27, 29, 30];

/// Whether testflow can read the results of Jest `version` (from its package.json); the
/// error names the version and what to do. `where_` says where the version was found.
pub fn check_jest_version(version: Option<&str>, where_: &str) -> Result<()> {
    let tested = TESTED_JEST_MAJORS.map(|m| m.to_string()).join(", ");
    let Some(version) = version.map(str::trim).filter(|v| !v.is_empty()) else {
        anyhow::bail!(
            "cannot tell which Jest version runs in {where_} (no package.json of jest, jest-cli or \
             @jest/core found): testflow reads Jest {MIN_JEST_MAJOR} or newer (tested: {tested})"
        );
    };
    let major = version
        .trim_start_matches(['v', '^', '~', '='])
        .split(['.', '-'])
        .next()
        .and_then(|m| m.parse::<u64>().ok());
    match major {
        Some(m) if m >= MIN_JEST_MAJOR => Ok(()),
        Some(_) => anyhow::bail!(
            "Jest {version} (in {where_}) is not supported: testflow reads Jest {MIN_JEST_MAJOR} or \
             newer (tested: {tested}); older Jest reports results testflow cannot check, so the run \
             fails rather than pass empty. Upgrade Jest: npm install --save-dev jest@30"
        ),
        None => anyhow::bail!(
            "cannot read Jest's version `{version}` (in {where_}): testflow reads Jest \
             {MIN_JEST_MAJOR} or newer (tested: {tested})"
        ),
    }
}

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
    /// `startedAt` (ms): the same in a start and its result, which pairs them (Jest's
    /// dispatcher awaits each reporter in turn, so the next test's start can reach this
    /// reporter before the previous test's result).
    pub started_at: Option<f64>,
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

/// `path` relative to `root` with `/` separators: the one spelling of a Jest test's file,
/// in its id, `file`, failure locations and every report. `file://` URLs (ESM stack
/// frames) and a root reached through a symlink give the same spelling; a path outside
/// `root` stays as given.
pub fn relative_file(root: &Path, path: &str) -> String {
    let path = path.strip_prefix("file://").unwrap_or(path);
    let p = Path::new(path);
    let rel = match p.strip_prefix(root) {
        Ok(rel) => rel.to_owned(),
        Err(_) => match (std::fs::canonicalize(root), std::fs::canonicalize(p)) {
            (Ok(r), Ok(c)) => c
                .strip_prefix(&r)
                .map_or_else(|_| p.to_owned(), Path::to_owned),
            _ => p.to_owned(),
        },
    };
    let rel = rel.to_string_lossy().replace('\\', "/");
    rel.strip_prefix("./").map(str::to_owned).unwrap_or(rel)
}

/// The project root of a Jest run whose `rootDir` is `root_dir`: the nearest directory at
/// or above it with a package.json (where `cargo testflow run` runs, and where
/// `.testflow/` goes), else `root_dir`. A `rootDir: "src"` or a config in a subdirectory
/// then spells files as the driver does: relative to the project, not to Jest's rootDir.
pub fn project_root(root_dir: &Path) -> PathBuf {
    root_dir
        .ancestors()
        .find(|d| d.join("package.json").is_file())
        .unwrap_or(root_dir)
        .to_owned()
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

/// `expect(received).not.toBe(expected)` → `toBe`: the matcher, as `matcherResult.name`.
fn matcher_name(message: &str) -> Option<String> {
    static MATCHER: OnceLock<Regex> = OnceLock::new();
    let c = re(
        &MATCHER,
        r"expect\([^)]*\)(?:\.(?:not|resolves|rejects))*\.([A-Za-z_][A-Za-z0-9_]*)\(",
    )
    .captures(message)?;
    Some(c[1].to_owned())
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
        // Nothing failed: no `failure` (a todo is counted apart only in Jest's totals).
        "pending" | "skipped" | "disabled" | "todo" => return (Outcome::Skipped, None),
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
        // Without `matcherResult` (jest-jasmine2, Jest < 27): the matcher named in the text.
        failure.kind = matcher_name(&failure.message).or(failure.kind.take());
    } else if missing_module(&failure.message).is_some() {
        // The kind stays the error's type as printed (none when the text names none).
        failure.category = Category::ImportError;
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
    if missing_module(&text).is_some() {
        failure.category = Category::ImportError;
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

/// Marks the second and later tests that share one full title in one file: `adds@2`,
/// `adds@3`, numbered by the order Jest reports them (see docs/schema.md).
pub const DUPLICATE_MARK: char = '@';

/// Name of the file, next to the driver's event log, that says the reporter reached the
/// end of Jest's run (`onRunComplete`); it holds Jest's own totals.
pub const FINISHED_FILE: &str = "jest-finished.json";

/// Statuses Jest never streams through `onTestCaseResult` (only the file result has them).
fn unstreamed(status: &str) -> bool {
    matches!(status, "pending" | "skipped" | "disabled")
}

/// One test Jest ran (one occurrence of a full title in a file), over all its attempts.
struct Instance {
    meta: TestMeta,
    /// The highest attempt number started or recorded.
    attempts: u32,
    /// Attempts made before Jest last (re)started the file (a worker crash restarts it).
    base: u32,
    /// Jest's `invocations` in the current run of the file; 0 until a result arrives.
    invocations: u32,
    /// Outcome of the latest recorded attempt.
    last: Option<Outcome>,
    /// The attempt that started and has no result yet, and its `startedAt`.
    open: Option<(u32, Option<f64>)>,
    /// The latest result is Jest's `todo`.
    todo: bool,
}

/// What Jest's `onTestFileResult` said about a file.
struct FileVerdict {
    results: usize,
    exec_error: bool,
}

#[derive(Default)]
struct FileState {
    instances: Vec<Instance>,
    /// Indices into `instances` per plain id (no duplicate mark), in order of occurrence.
    by_plain: HashMap<String, Vec<usize>>,
    /// Occurrences of each plain id started in the current run of the file.
    cursor: HashMap<String, usize>,
    /// Starts whose test is not known yet: a retry or the next test with the same title,
    /// or a start after the worker died (Jest then runs the file again). The result
    /// (`invocations`, and which starts are still open by then) decides; not in the log
    /// until then.
    pending: Vec<JestCase>,
    /// `startedAt` of results that came before their start (the late start is dropped).
    early_results: HashSet<(String, u64)>,
    taken: HashSet<String>,
    verdict: Option<FileVerdict>,
    /// An error was recorded for the file as a whole or for a test Jest could not finish.
    exec_error_recorded: bool,
}

impl FileState {
    fn plain(root: &Path, case: &JestCase) -> String {
        meta(root, case).id
    }

    /// The `n`-th (0-based) test titled like `case`, created when new.
    fn instance_at(&mut self, root: &Path, case: &JestCase, n: usize) -> usize {
        let mut m = meta(root, case);
        let plain = m.id.clone();
        if let Some(&i) = self.by_plain.get(&plain).and_then(|v| v.get(n)) {
            return i;
        }
        if n > 0 || self.taken.contains(&m.id) {
            let mut k = n + 1;
            loop {
                let id = format!("{plain}{DUPLICATE_MARK}{}", k.max(2));
                if !self.taken.contains(&id) {
                    m.id = id;
                    break;
                }
                k += 1;
            }
        }
        self.taken.insert(m.id.clone());
        self.instances.push(Instance {
            meta: m,
            attempts: 0,
            base: 0,
            invocations: 0,
            last: None,
            open: None,
            todo: false,
        });
        let i = self.instances.len() - 1;
        let list = self.by_plain.entry(plain).or_default();
        while list.len() < n {
            // Only reached when occurrences were skipped over; keep the numbering dense.
            list.push(i);
        }
        list.push(i);
        i
    }

    /// The next test of this title in the current run of the file.
    fn next_occurrence(&mut self, root: &Path, case: &JestCase) -> usize {
        let plain = Self::plain(root, case);
        let c = self.cursor.entry(plain).or_insert(0);
        let n = *c;
        *c += 1;
        self.instance_at(root, case, n)
    }

    /// Tests of this title in the current run of the file that Jest may retry: their
    /// latest attempt failed.
    fn retry_candidates(&self, plain: &str) -> Vec<usize> {
        let started = self.cursor.get(plain).copied().unwrap_or(0);
        self.by_plain
            .get(plain)
            .map(|v| {
                v.iter()
                    .take(started)
                    .copied()
                    .filter(|&i| {
                        let t = &self.instances[i];
                        t.open.is_none()
                            && t.invocations > 0
                            && t.last.is_some_and(Outcome::is_failure)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The test a retry with Jest's `invocations` = `k` belongs to: Jest retries in order,
    /// so the first candidate whose previous attempt is `k - 1`.
    fn retry_target(&self, plain: &str, k: Option<u32>) -> Option<usize> {
        let c = self.retry_candidates(plain);
        k.and_then(|k| {
            c.iter()
                .copied()
                .find(|&i| self.instances[i].invocations + 1 == k)
        })
        .or_else(|| c.first().copied())
    }

    /// The open test of this title with this `startedAt` (any open one when unknown).
    fn open_instance(&self, plain: &str, started_at: Option<f64>) -> Option<usize> {
        let open = |i: &usize| self.instances[*i].open.map(|(_, t)| t);
        let list = self.by_plain.get(plain)?;
        match started_at {
            Some(t0) => list.iter().copied().find(|i| open(i) == Some(Some(t0))),
            None => list.iter().copied().find(|i| open(i).is_some()),
        }
    }

    fn anything_open(&self) -> bool {
        !self.pending.is_empty() || self.instances.iter().any(|t| t.open.is_some())
    }

    /// Settle the pending start `p` with its result's `invocations` (`k`, None when it has
    /// none): a test still open that started before it means the worker died and Jest
    /// ran the file again. Returns the instance and the attempts that crashed.
    fn resolve(&mut self, root: &Path, p: usize, k: Option<u32>) -> (usize, Vec<(TestMeta, u32)>) {
        let case = self.pending.remove(p);
        let before = |t: &Instance| match (t.open, case.started_at) {
            (Some((_, Some(t0))), Some(t1)) => t0 < t1,
            (Some(_), _) => true,
            (None, _) => false,
        };
        let crashed = if self.instances.iter().any(before) {
            self.restart()
        } else {
            vec![]
        };
        let plain = Self::plain(root, &case);
        let i = match k {
            Some(1) => None,
            _ => self.retry_target(&plain, k),
        }
        .unwrap_or_else(|| self.next_occurrence(root, &case));
        (i, crashed)
    }

    /// Jest ran the file again after its worker died: what was running crashed, and
    /// occurrences count from the top again (attempt numbers go on).
    fn restart(&mut self) -> Vec<(TestMeta, u32)> {
        let mut crashed = Vec::new();
        for t in &mut self.instances {
            if let Some((a, _)) = t.open.take() {
                t.last = Some(Outcome::Crashed);
                crashed.push((t.meta.clone(), a));
            }
        }
        self.cursor.clear();
        for t in &mut self.instances {
            t.base = t.attempts;
            t.invocations = 0;
        }
        crashed
    }

    /// Record `outcome` as the result of instance `i` (Jest's `invocations` = `k`): the
    /// metadata and attempt number to log.
    fn finish(
        &mut self,
        i: usize,
        k: Option<u32>,
        r: &JestResult,
        outcome: Outcome,
    ) -> (TestMeta, u32) {
        let t = &mut self.instances[i];
        t.todo = r.status == "todo";
        // Start events carry no location; results do (with testLocationInResults).
        if r.case.line.is_some() {
            t.meta.line = r.case.line;
        }
        let attempt = match k {
            Some(k) => t.base + k,
            None => t.open.map_or(t.base + t.invocations + 1, |(a, _)| a),
        };
        t.invocations = attempt - t.base;
        t.open = None;
        t.attempts = t.attempts.max(attempt);
        t.last = Some(outcome);
        (t.meta.clone(), attempt)
    }
}

/// Jest's own totals for the run (`AggregatedResult`), as the reporter hands them over in
/// `onRunComplete`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JestTotals {
    pub num_total_tests: u64,
    pub num_passed_tests: u64,
    pub num_failed_tests: u64,
    pub num_pending_tests: u64,
    pub num_todo_tests: u64,
    pub num_total_test_suites: u64,
    pub num_failed_test_suites: u64,
    pub num_runtime_error_test_suites: u64,
    /// `success` (Jest sets it only after the reporters' `onRunComplete`, so it is often
    /// still false there; only `true` is evidence).
    pub success: Option<bool>,
    pub was_interrupted: bool,
    pub snapshot_failure: bool,
    /// `runExecError` text.
    pub run_exec_error: Option<String>,
    /// Files Jest counts as failed (failing tests or `testExecError`), as given.
    pub failed_files: Vec<String>,
    /// Files Jest could not run (`testExecError`), with the error text.
    pub failed_to_run: Vec<(String, String)>,
}

impl JestTotals {
    /// Jest's own verdict, the way Jest computes its exit status.
    pub fn failed(&self) -> bool {
        self.num_failed_tests > 0
            || self.num_runtime_error_test_suites > 0
            || self.snapshot_failure
            || self.run_exec_error.is_some()
            || self.was_interrupted
    }
}

/// Counts of what testflow recorded, in Jest's terms.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordedCounts {
    pub total: u64,
    pub passed: u64,
    pub failed: u64,
    pub pending: u64,
    pub todo: u64,
    /// Test files with a failing test or an error recorded for the file.
    pub failed_files: u64,
    /// Test files Jest could not run that have an error recorded.
    pub error_files: u64,
}

impl RecordedCounts {
    fn show(&self) -> String {
        format!(
            "{} tests ({} passed, {} failed, {} skipped, {} todo)",
            self.total, self.passed, self.failed, self.pending, self.todo
        )
    }
}

/// Where what testflow recorded and Jest's own totals disagree: one message each, naming
/// both numbers. Empty when they agree.
pub fn reconcile_totals(recorded: &RecordedCounts, jest: &JestTotals) -> Vec<String> {
    let mut out = Vec::new();
    let theirs = RecordedCounts {
        total: jest.num_total_tests,
        passed: jest.num_passed_tests,
        failed: jest.num_failed_tests,
        pending: jest.num_pending_tests,
        todo: jest.num_todo_tests,
        ..RecordedCounts::default()
    };
    let same = (
        recorded.total,
        recorded.passed,
        recorded.failed,
        recorded.pending,
        recorded.todo,
    ) == (
        theirs.total,
        theirs.passed,
        theirs.failed,
        theirs.pending,
        theirs.todo,
    );
    if !same {
        out.push(format!(
            "Jest counted {}, testflow recorded {}",
            theirs.show(),
            recorded.show()
        ));
    }
    if jest.num_runtime_error_test_suites > recorded.error_files {
        out.push(format!(
            "Jest says {} test files failed to run, testflow recorded an error for {}",
            jest.num_runtime_error_test_suites, recorded.error_files
        ));
    }
    if jest.num_failed_test_suites > recorded.failed_files {
        out.push(format!(
            "Jest counted {} failed test files, testflow recorded a failure in {}",
            jest.num_failed_test_suites, recorded.failed_files
        ));
    }
    let we_failed = recorded.failed > 0 || recorded.failed_files > 0;
    if jest.failed() && !we_failed && out.is_empty() {
        let why = if let Some(e) = &jest.run_exec_error {
            format!("Jest failed to run: {}", e.lines().next().unwrap_or(""))
        } else if jest.snapshot_failure {
            "Jest reports a snapshot failure".to_owned()
        } else if jest.was_interrupted {
            "Jest was interrupted".to_owned()
        } else {
            format!(
                "Jest counted {} failed tests and {} test files that failed to run",
                jest.num_failed_tests, jest.num_runtime_error_test_suites
            )
        };
        out.push(format!("{why}, but testflow recorded no failure"));
    }
    if jest.success == Some(true) && we_failed {
        out.push(format!(
            "Jest reports success, but testflow recorded {} failed tests in {} files",
            recorded.failed, recorded.failed_files
        ));
    }
    out
}

#[derive(Default)]
struct State {
    /// Per test file (relative to the root).
    files: HashMap<String, FileState>,
    /// Attempts of whole-file entries (a file that failed to run).
    file_entries: HashMap<String, u32>,
}

impl State {
    fn file(&mut self, rel: &str) -> &mut FileState {
        self.files.entry(rel.to_owned()).or_default()
    }
}

/// The engine side of the Jest reporter: a [`Recorder`] plus the bookkeeping that turns
/// Jest's hooks into tests and attempts.
pub struct JestRecorder {
    recorder: Recorder,
    root: PathBuf,
    /// Appending to a driver's log (`cargo testflow run`), not owning the run.
    driven: bool,
    state: Mutex<State>,
}

impl JestRecorder {
    /// `root` is Jest's `rootDir`: test files and ids are relative to it.
    pub fn start(config: RecorderConfig) -> Result<JestRecorder> {
        let root = config.project_root.clone();
        let driven = config.events.is_some();
        Ok(JestRecorder {
            recorder: Recorder::start(config)?,
            root,
            driven,
            state: Mutex::new(State::default()),
        })
    }

    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// The reporter's Jest (`version` from its package.json, None when it cannot be
    /// found): one that testflow cannot read is a `build` run error, so the run fails
    /// closed instead of passing empty. Returns the message.
    pub fn check_jest(&self, version: Option<&str>) -> Option<String> {
        let where_ = self.root.display().to_string();
        let e = check_jest_version(version, &where_).err()?;
        let message = format!("testflow: {e:#}");
        if let Err(e) = self.recorder.run_error(error_kind::BUILD, &message) {
            return Some(format!("{message} (and it could not be recorded: {e:#})"));
        }
        Some(message)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record_crashed(&self, crashed: Vec<(TestMeta, u32)>) -> Result<()> {
        for (meta, attempt) in crashed {
            self.recorder.test_finished(
                meta,
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
        Ok(())
    }

    /// `onTestCaseStart`: an attempt begins. Which test it is (a retry, or the next test
    /// with the same title) is settled here when it can be, else by the result.
    pub fn case_started(&self, case: &JestCase) -> Result<()> {
        let rel = relative_file(&self.root, &case.file);
        let plain = FileState::plain(&self.root, case);
        let start = {
            let mut st = self.state();
            let fs = st.file(&rel);
            if let Some(t) = case.started_at
                && fs.early_results.remove(&(plain.clone(), t.to_bits()))
            {
                return Ok(()); // its result is already recorded
            }
            // Which test this is can wait for the result: a retry, the next test with this
            // title, or (another test still open) the file run again after a crash.
            let ambiguous = !fs.retry_candidates(&plain).is_empty()
                || (fs.anything_open() && fs.cursor.get(&plain).is_some_and(|n| *n > 0));
            if ambiguous {
                fs.pending.push(case.clone());
                None
            } else {
                let i = fs.next_occurrence(&self.root, case);
                let t = &mut fs.instances[i];
                let attempt = t.base + t.invocations + 1;
                t.open = Some((attempt, case.started_at));
                t.attempts = t.attempts.max(attempt);
                Some((t.meta.clone(), attempt))
            }
        };
        match start {
            Some((meta, attempt)) => self.recorder.test_started(meta, attempt),
            None => Ok(()),
        }
    }

    /// `onTestCaseResult`: one attempt's result. Jest's `invocations` numbers it.
    pub fn case_result(&self, result: &JestResult) -> Result<()> {
        let rel = relative_file(&self.root, &result.case.file);
        let plain = FileState::plain(&self.root, &result.case);
        let (outcome, failure) = classify_result(&self.root, result);
        let k = result.invocations.filter(|k| *k > 0);
        let (meta, attempt, log_start, crashed) = {
            let mut st = self.state();
            let fs = st.file(&rel);
            let t0 = result.case.started_at;
            let same = |c: &JestCase| {
                FileState::plain(&self.root, c) == plain && (t0.is_none() || c.started_at == t0)
            };
            let (i, log_start, crashed) = if let Some(i) = fs.open_instance(&plain, t0) {
                (i, false, vec![])
            } else if let Some(p) = fs.pending.iter().position(same) {
                let (i, crashed) = fs.resolve(&self.root, p, k);
                (i, true, crashed)
            } else {
                // No start seen (todo, a runner without start events, or the start is late).
                if let Some(t) = t0 {
                    fs.early_results.insert((plain.clone(), t.to_bits()));
                }
                let i = match k {
                    Some(k) if k > 1 => fs.retry_target(&plain, Some(k)),
                    _ => None,
                }
                .unwrap_or_else(|| fs.next_occurrence(&self.root, &result.case));
                (i, false, vec![])
            };
            let (meta, attempt) = fs.finish(i, k, result, outcome);
            (meta, attempt, log_start, crashed)
        };
        self.record_crashed(crashed)?;
        if log_start {
            self.recorder.test_started(meta.clone(), attempt)?;
        }
        self.recorder
            .test_finished(meta, attempt, outcome, result.duration_ms, failure)
    }

    /// `onTestFileResult`, the authority: every final result of the file is checked
    /// against what the per-case hooks recorded (a disagreement is a `reconcile` run
    /// error), the tests no hook reported (skipped, or a runner without per-case hooks)
    /// are recorded, and a `testExecError` becomes the crash of the test that was running,
    /// or else an error entry for the whole file.
    pub fn file_result(
        &self,
        file: &str,
        results: &[JestResult],
        exec_error: Option<&str>,
    ) -> Result<()> {
        let rel = relative_file(&self.root, file);
        let exec_error = exec_error.filter(|m| !m.trim().is_empty());
        let mut to_record: Vec<(usize, &JestResult)> = Vec::new();
        let mut disagree: Vec<String> = Vec::new();
        {
            let mut st = self.state();
            let fs = st.file(&rel);
            fs.verdict = Some(FileVerdict {
                results: results.len(),
                exec_error: exec_error.is_some(),
            });
            let mut matched: HashMap<String, usize> = HashMap::new();
            let mut unstreamed_results = Vec::new();
            for r in results {
                if unstreamed(&r.status) {
                    unstreamed_results.push(r);
                    continue;
                }
                let plain = FileState::plain(&self.root, &r.case);
                let n = matched.entry(plain.clone()).or_insert(0);
                let existing = fs.by_plain.get(&plain).and_then(|v| v.get(*n)).copied();
                *n += 1;
                let Some(i) = existing else {
                    let i = fs.instance_at(&self.root, &r.case, *n - 1);
                    to_record.push((i, r));
                    continue;
                };
                let t = &fs.instances[i];
                let Some(last) = t.last.filter(|_| t.open.is_none()) else {
                    to_record.push((i, r));
                    continue;
                };
                let (theirs, _) = classify_result(&self.root, r);
                if theirs.is_failure() != last.is_failure() {
                    disagree.push(format!(
                        "test `{}`: Jest's result for {rel} says {}, testflow recorded {} (attempt {})",
                        t.meta.id,
                        r.status,
                        last.as_str(),
                        t.attempts
                    ));
                } else if let Some(k) = r.invocations.filter(|k| *k > 0 && *k != t.invocations) {
                    disagree.push(format!(
                        "test `{}`: Jest's result for {rel} says {k} invocations, testflow recorded {}",
                        t.meta.id, t.invocations
                    ));
                }
            }
            if exec_error.is_none() {
                for c in fs.pending.drain(..) {
                    disagree.push(format!(
                        "test `{}` in {rel} started, and Jest's result for the file has no result for that start",
                        FileState::plain(&self.root, &c)
                    ));
                }
            }
            if exec_error.is_none() || !results.is_empty() {
                let mut extra: Vec<(&String, usize, usize)> = fs
                    .by_plain
                    .iter()
                    .map(|(p, v)| (p, v.len(), matched.get(p).copied().unwrap_or(0)))
                    .filter(|(_, ours, theirs)| ours > theirs)
                    .collect();
                extra.sort();
                for (plain, ours, theirs) in extra {
                    disagree.push(format!(
                        "{rel}: testflow recorded {ours} tests titled `{plain}`, Jest's result for the file lists {theirs}"
                    ));
                }
            }
            for r in unstreamed_results {
                let plain = FileState::plain(&self.root, &r.case);
                let n = fs.by_plain.get(&plain).map_or(0, Vec::len);
                let i = fs.instance_at(&self.root, &r.case, n);
                to_record.push((i, r));
            }
        }
        for m in disagree {
            self.recorder.run_error(error_kind::RECONCILE, &m)?;
        }
        for (i, r) in to_record {
            let (outcome, failure) = classify_result(&self.root, r);
            let (meta, attempt) =
                self.state()
                    .file(&rel)
                    .finish(i, r.invocations.filter(|k| *k > 0), r, outcome);
            self.recorder
                .test_finished(meta, attempt, outcome, r.duration_ms, failure)?;
        }
        let Some(message) = exec_error else {
            return Ok(());
        };
        let (outcome, failure) = classify_exec_error(&self.root, message);
        let (open, crashed) = {
            let mut st = self.state();
            let fs = st.file(&rel);
            fs.exec_error_recorded = true;
            let mut crashed = Vec::new();
            while !fs.pending.is_empty() {
                let (i, c) = fs.resolve(&self.root, 0, None);
                crashed.extend(c);
                let t = &mut fs.instances[i];
                t.attempts += 1;
                t.open = Some((t.attempts, None));
            }
            let mut open = Vec::new();
            for t in &mut fs.instances {
                if let Some((a, _)) = t.open.take() {
                    t.last = Some(if outcome == Outcome::Crashed {
                        Outcome::Crashed
                    } else {
                        Outcome::Error
                    });
                    open.push((t.meta.clone(), a));
                }
            }
            (open, crashed)
        };
        self.record_crashed(crashed)?;
        if open.is_empty() {
            let meta = file_meta(&self.root, file);
            let attempt = {
                let mut st = self.state();
                let n = st.file_entries.entry(meta.id.clone()).or_insert(0);
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

    /// What this recorder recorded, counted the way Jest counts: the latest outcome of
    /// each test, leaving out files Jest ran no test of (it counts none for them).
    pub fn recorded_counts(&self) -> RecordedCounts {
        let st = self.state();
        let mut c = RecordedCounts::default();
        for fs in st.files.values() {
            let counted = !fs
                .verdict
                .as_ref()
                .is_some_and(|v| v.exec_error && v.results == 0);
            let mut failed_file = fs.exec_error_recorded;
            for t in &fs.instances {
                let Some(last) = t.last else { continue };
                if last.is_failure() {
                    failed_file = true;
                }
                if !counted {
                    continue;
                }
                c.total += 1;
                match last {
                    Outcome::Passed | Outcome::Xpassed | Outcome::Xfailed => c.passed += 1,
                    Outcome::Skipped if t.todo => c.todo += 1,
                    Outcome::Skipped => c.pending += 1,
                    _ => c.failed += 1,
                }
            }
            if failed_file {
                c.failed_files += 1;
            }
            if fs.exec_error_recorded {
                c.error_files += 1;
            }
        }
        c
    }

    /// Compare with Jest's own totals (`onRunComplete`): every disagreement is a
    /// `reconcile` run error, and a file Jest could not run with nothing recorded for it
    /// gets its error entry. Returns the messages.
    pub fn reconcile(&self, jest: &JestTotals) -> Result<Vec<String>> {
        let mut notes = Vec::new();
        for (file, message) in &jest.failed_to_run {
            let rel = relative_file(&self.root, file);
            let recorded = self
                .state()
                .files
                .get(&rel)
                .is_some_and(|f| f.exec_error_recorded);
            if !recorded {
                notes.push(format!(
                    "Jest could not run {rel}, and testflow had recorded nothing for it: {}",
                    strip_ansi(message).trim().lines().next().unwrap_or("")
                ));
                self.file_result(file, &[], Some(message))?;
            }
        }
        let counts = self.recorded_counts();
        notes.extend(reconcile_totals(&counts, jest));
        for n in &notes {
            self.recorder.run_error(error_kind::RECONCILE, n)?;
        }
        Ok(notes)
    }

    pub fn run_error(&self, kind: &str, message: &str) -> Result<()> {
        self.recorder.run_error(kind, message)
    }

    /// End of Jest's run: reconcile with Jest's totals when given, tell a driver the
    /// reporter got here, and end the run (when this recorder owns it). Returns the run
    /// and the disagreements with Jest (each already a `reconcile` run error).
    pub fn finish_run(
        &self,
        jest: Option<&JestTotals>,
        completed: bool,
        reason: Option<&str>,
    ) -> Result<(Run, Vec<String>)> {
        let mut notes = Vec::new();
        // Errors here are recorded before the run ends, so that run.json has them.
        if let Some(j) = jest {
            match self.reconcile(j) {
                Ok(n) => notes = n,
                Err(e) => {
                    let m = format!("testflow: cannot reconcile with Jest's totals: {e:#}");
                    self.recorder.run_error(error_kind::INTERNAL, &m)?;
                    notes.push(m);
                }
            }
            if self.driven {
                let path = self.recorder.events_path().with_file_name(FINISHED_FILE);
                let written = serde_json::to_string(j)
                    .context("cannot serialize Jest's totals")
                    .and_then(|text| {
                        std::fs::write(&path, text)
                            .with_context(|| format!("cannot write {}", path.display()))
                    });
                if let Err(e) = written {
                    self.recorder
                        .run_error(error_kind::INTERNAL, &format!("testflow: {e:#}"))?;
                }
            }
        }
        Ok((self.recorder.finish(completed, reason)?, notes))
    }

    pub fn finish(&self, completed: bool, reason: Option<&str>) -> Result<Run> {
        Ok(self.finish_run(None, completed, reason)?.0)
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

/// Does `root` hold a Jest project? A package.json and any sign of Jest: a
/// `jest.config.*`, a `jest` key in package.json, jest in `dependencies` or
/// `devDependencies` (whatever the `test` script says: `npm init -y` writes one that
/// only fails), or `node_modules/.bin/jest`.
pub fn is_jest_project(root: &Path) -> bool {
    const CONFIGS: [&str; 6] = [
        "jest.config.js",
        "jest.config.ts",
        "jest.config.mjs",
        "jest.config.cjs",
        "jest.config.json",
        "jest.config.cts",
    ];
    let Ok(text) = std::fs::read_to_string(root.join("package.json")) else {
        return false;
    };
    if CONFIGS.iter().any(|c| root.join(c).is_file())
        || root.join("node_modules/.bin/jest").exists()
    {
        return true;
    }
    let Ok(pkg) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    pkg.get("jest").is_some()
        || ["dependencies", "devDependencies"]
            .iter()
            .any(|k| pkg.get(k).and_then(|d| d.get("jest")).is_some())
}

/// The message when a Jest project's own Jest cannot be found.
fn jest_missing(root: &Path) -> String {
    format!(
        "jest is not installed: node_modules/.bin/jest not found in {} or above; run npm install \
         (or `npm install --save-dev jest`) there",
        root.display()
    )
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
        if !root.join("package.json").is_file() {
            anyhow::bail!(
                "no Jest project in {}: there is no package.json; create one with \
                 `npm init -y && npm install --save-dev jest`",
                root.display()
            );
        }
        let jest_bin = find_in_node_modules(root, ".bin/jest")
            .ok_or_else(|| super::EnvironmentError(jest_missing(root)))?;
        // The version Jest's bin belongs to (node_modules/.bin/jest -> jest/bin/jest.js).
        let jest_dir = std::fs::canonicalize(&jest_bin)
            .ok()
            .and_then(|b| b.parent()?.parent().map(Path::to_owned))
            .filter(|d| d.join("package.json").is_file())
            .or_else(|| find_in_node_modules(root, "jest"));
        let version = jest_dir.as_ref().and_then(|d| {
            let text = std::fs::read_to_string(d.join("package.json")).ok()?;
            let pkg: serde_json::Value = serde_json::from_str(&text).ok()?;
            pkg.get("version")?.as_str().map(str::to_owned)
        });
        let where_ =
            jest_dir.map_or_else(|| root.display().to_string(), |d| d.display().to_string());
        check_jest_version(version.as_deref(), &where_)?;
        let reporter_dir = find_in_node_modules(root, REPORTER_PACKAGE)
            .filter(|d| d.join("package.json").is_file())
            .ok_or_else(|| {
                super::EnvironmentError(format!(
                    "the Jest reporter `{REPORTER_PACKAGE}` is not installed in {}: {}",
                    root.display(),
                    install_hint(root)
                ))
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
        self.args_with(options, None)
    }

    /// [`JestProject::args`] with the driver's workers decision (`frameworks::workers`):
    /// without `-j`, history's serial is `--runInBand` and N workers `--maxWorkers=N`.
    pub fn args_with(
        &self,
        options: &crate::runner::RunOptions,
        decision: Option<&crate::model::WorkersDecision>,
    ) -> Vec<String> {
        // No `--ci`: Jest turns it on itself in CI (its `ci` option defaults to is-ci), and
        // forcing it elsewhere fails a new snapshot test that passes under `npx jest`.
        let mut args = vec![
            "--reporters=default".to_owned(),
            format!("--reporters={}", self.reporter_dir.display()),
        ];
        // The project's own `maxWorkers` stands unless `-j` asks otherwise.
        if options.jobs_given {
            args.push(format!("--maxWorkers={}", options.jobs.max(1)));
        } else if let Some(d) = decision.filter(|d| d.basis == "history") {
            args.push(if d.workers <= 1 {
                "--runInBand".to_owned()
            } else {
                format!("--maxWorkers={}", d.workers)
            });
        }
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
        if pass.shard.is_some() || pass.order != crate::ordering::Order::Default || pass.last_failed
        {
            args.push(format!(
                "--testSequencer={}",
                self.reporter_dir.join("sequencer.js").display()
            ));
        }
        if let Some(dir) = &options.coverage_dir {
            args.extend(coverage_args(dir));
        }
        // The user's own arguments come last, so they can override ours.
        args.extend(options.framework_args.iter().cloned());
        args
    }

    /// Environment for the sequencer: the shard strategy, order and `--last-failed`.
    pub fn env(&self, options: &crate::runner::RunOptions) -> Vec<(&'static str, String)> {
        let pass = &options.pass_through;
        let mut env = Vec::new();
        if let Some((_, strategy)) = pass.shard {
            env.push((SHARD_STRATEGY_ENV, strategy.as_str().to_owned()));
        }
        if pass.order != crate::ordering::Order::Default {
            env.push((ORDER_ENV, pass.order.as_str().to_owned()));
        }
        if pass.last_failed {
            env.push((LAST_FAILED_ENV, "1".to_owned()));
        }
        env
    }
}

/// Jest as a [`Plugin`](crate::frameworks::Plugin).
pub struct Jest;

impl crate::frameworks::Plugin for Jest {
    fn framework(&self) -> Framework {
        Framework::Jest
    }

    fn detect(
        &self,
        d: &crate::frameworks::Detect<'_>,
    ) -> Result<Option<Box<dyn crate::frameworks::Suite>>> {
        Ok(detect(d.root, d.forced))
    }

    fn is_project(&self, dir: &Path) -> bool {
        is_jest_project(dir)
    }

    fn is_configured_root(&self, dir: &Path) -> bool {
        is_jest_project(dir)
    }

    fn looks_for(&self) -> &'static str {
        "a Jest project (package.json)"
    }

    /// An id's file: before the first `#` (`file#describe title`).
    fn file_of<'a>(&self, id: &'a str) -> Option<&'a str> {
        id.find('#').map(|i| &id[..i])
    }

    fn coverage_report(&self) -> &'static str {
        "jest/coverage-final.json"
    }

    fn junit_group<'a>(&self, t: &'a crate::model::TestCase) -> Option<&'a String> {
        t.file.as_ref().or(t.binary.as_ref())
    }

    /// Jest's fullName: describe blocks and title joined by spaces; classname is the
    /// file spelled as in the id and `file` (project-root-relative, `/`).
    fn junit_names(&self, t: &crate::model::TestCase) -> (String, String) {
        let full: Vec<&str> = t
            .suite
            .iter()
            .map(String::as_str)
            .chain([t.name.as_str()])
            .collect();
        let class = t.file.clone().unwrap_or_else(|| "jest".to_owned());
        (full.join(" "), class)
    }

    fn missing_import(&self, message: &str) -> Option<String> {
        static JS: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
            Regex::new(r#"Cannot find module ['"]([^'"]+)['"]"#).expect("valid regex")
        });
        JS.captures(message).map(|c| c[1].to_owned())
    }

    fn install(&self, module: &str) -> (Option<String>, String) {
        if npm_package(module) == "jest-testflow" {
            return (
                Some("npm install --save-dev <testflow checkout>/npm".to_owned()),
                "npm package `jest-testflow` (testflow's Jest reporter, not published yet) is not installed; its install script builds the addon with cargo.".to_owned(),
            );
        }
        if module.starts_with('.') || module.starts_with('/') {
            return (
                None,
                format!(
                    "`{module}` does not resolve from the importing file: check the path and the file's name."
                ),
            );
        }
        let pkg = npm_package(module);
        (
            Some(format!("npm install --save-dev {pkg}")),
            format!("npm package `{pkg}` is not installed."),
        )
    }
}

/// Jest's own coverage, as coverage-final.json only (testflow prints the summary).
pub fn coverage_args(dir: &Path) -> Vec<String> {
    vec![
        "--coverage".into(),
        "--coverageReporters=json".into(),
        format!("--coverageDirectory={}", dir.join("jest").display()),
    ]
}

/// `@scope/pkg/sub/path` -> `@scope/pkg`, `pkg/sub` -> `pkg`.
fn npm_package(module: &str) -> String {
    let mut parts = module.split('/');
    match parts.next() {
        Some(scope) if scope.starts_with('@') => format!("{scope}/{}", parts.next().unwrap_or("")),
        Some(name) => name.to_owned(),
        None => module.to_owned(),
    }
}

/// A Jest project found by `detect_suites`.
pub struct JestSuite {
    pub root: PathBuf,
}

impl crate::frameworks::Suite for JestSuite {
    fn listing(
        &mut self,
        _echo: &mut (dyn std::io::Write + Send),
    ) -> Result<Option<Vec<crate::frameworks::SuiteListing>>> {
        Ok(Some(listing(&self.root)?.into_iter().collect()))
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

    fn framework(&self) -> Framework {
        Framework::Jest
    }

    fn units(
        self: Box<Self>,
        ctx: &crate::runner::Ctx,
        _plan: &mut crate::frameworks::Planning<'_>,
    ) -> Result<Vec<Box<dyn crate::runner::Unit>>> {
        let project = JestProject::locate(&self.root)?;
        let decision = jest_workers(&self.root, &ctx.options);
        if let Err(e) = super::workers::record(ctx.events_path(), &decision) {
            ctx.warn(format!("cannot record the Jest workers decision: {e:#}"));
        }
        Ok(vec![Box::new(JestUnit { project, decision })])
    }
}

/// In-band or N Jest workers, and why (`frameworks::workers`). With no history Jest's
/// own choice stands (its timing cache already runs a quick suite in band).
fn jest_workers(root: &Path, options: &crate::runner::RunOptions) -> crate::model::WorkersDecision {
    use super::workers::{Input, JEST, Past, decide};
    let mut input = Input {
        jobs: options.jobs,
        jobs_given: options.jobs_given,
        available: true,
        past: None,
        collected: None,
        startup_ms: None,
    };
    if !input.jobs_given && input.jobs > 1 {
        input.past =
            super::workers::past_time(root, Framework::Jest).map(|(tests, ms, startup)| Past {
                tests,
                duration_ms: ms,
                startup_ms: startup,
            });
        if input.past.is_none() {
            return crate::model::WorkersDecision {
                framework: Framework::Jest,
                workers: 0,
                basis: "project".into(),
                reason: "Jest's own choice: no history yet (the project's maxWorkers, or Jest's default)".into(),
                serial_ms: None,
                startup_ms: None,
                tests: None,
            };
        }
    }
    decide(Framework::Jest, input, JEST)
}

/// The whole Jest run as one unit: Jest schedules its own workers (`--maxWorkers`), and
/// the reporter appends every test event to the run's log (`TESTFLOW_EVENTS`).
struct JestUnit {
    project: JestProject,
    decision: crate::model::WorkersDecision,
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
        cmd.args(self.project.args_with(&ctx.options, Some(&self.decision)))
            .current_dir(&self.project.root)
            .env(crate::recorder::EVENTS_ENV, &events)
            // The driver writes the reports once, from the whole run.
            .env_remove(crate::recorder::REPORT_ENV)
            .env("TESTFLOW_RETRIES", ctx.options.retries.to_string())
            .env_remove(SHARD_STRATEGY_ENV)
            .env_remove(ORDER_ENV)
            .env_remove(LAST_FAILED_ENV)
            .envs(self.project.env(&ctx.options));
        let finished = events.with_file_name(FINISHED_FILE);
        let _ = std::fs::remove_file(&finished);
        let out = ctx.following_log(Framework::Jest, || {
            ctx.processes.run(cmd, None, ctx.options.output_cap, None)
        });
        let out = match out {
            Err(e) => {
                ctx.run_error(
                    "build",
                    format!("cannot start {}: {e}", self.project.jest_bin.display()),
                );
                return vec![];
            }
            // Killed for the run's time limit or Ctrl-C: the runner records that.
            Ok(out) if out.killed.is_some() => return vec![],
            Ok(out) => out,
        };
        let stderr = out.stderr.to_captured().text;
        let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let tail = tail.join("\n");
        let recorded = size(&events) > before;
        let ok_exit = matches!(out.exit, crate::process::ExitKind::Code(0 | 1));
        if (!ok_exit || !recorded) && !out.exit.success() {
            // Jest that reported no test could not run the suite: a build failure.
            ctx.run_error(
                if recorded { "jest" } else { "build" },
                format!(
                    "Jest in {} exited with {}{}:\n{tail}",
                    self.project.root.display(),
                    out.exit,
                    if recorded {
                        ""
                    } else {
                        " before reporting any test"
                    },
                ),
            );
            return vec![];
        }
        // What the log holds (one Jest project per run; other frameworks' tests are left
        // out by `reconcile_exit`), against Jest's exit status.
        let logged = crate::events::fold_file(&events);
        match logged {
            Err(e) => ctx.run_error(
                error_kind::RECONCILE,
                format!("cannot read back what Jest's reporter recorded: {e:#}"),
            ),
            Ok(logged) => {
                if let Some(m) = reconcile_exit(out.exit, finished.is_file(), &logged.run) {
                    ctx.run_error(
                        error_kind::RECONCILE,
                        format!("Jest in {}: {m}\n{tail}", self.project.root.display()),
                    );
                }
            }
        }
        vec![]
    }
}

/// The driver's check of Jest's exit status against what the run's log holds (`logged`,
/// its fold so far) and whether the reporter reached
/// `onRunComplete` (`reporter_finished`). A message when they disagree.
pub fn reconcile_exit(
    exit: crate::process::ExitKind,
    reporter_finished: bool,
    logged: &Run,
) -> Option<String> {
    let failing: Vec<&str> = logged
        .tests
        .iter()
        .filter(|t| t.framework == Framework::Jest && t.outcome.is_failure())
        .map(|t| t.id.as_str())
        .collect();
    let errors = logged
        .errors
        .iter()
        .filter(|e| e.kind != error_kind::INCOMPLETE)
        .count();
    let code = match exit {
        crate::process::ExitKind::Code(c) => format!("exit code {c}"),
        crate::process::ExitKind::Signal(s) => format!("signal {s}"),
    };
    if !reporter_finished {
        return Some(format!(
            "Jest ended ({code}) before jest-testflow saw the end of the run (onRunComplete never ran): \
             a test or module may have called process.exit, or Jest stopped early; tests that had not run are missing"
        ));
    }
    if exit.success() && !failing.is_empty() {
        return Some(format!(
            "Jest exited with {code}, but testflow recorded {} failing tests (first: `{}`)",
            failing.len(),
            failing[0]
        ));
    }
    if !exit.success() && failing.is_empty() && errors == 0 {
        return Some(format!(
            "Jest exited with {code}, but testflow recorded no failing test and no run error"
        ));
    }
    None
}

/// A Jest suite at `root`, if there is one; `forced` (`--framework jest`) takes `root` as
/// one regardless, so that a project Jest cannot run says what is missing.
pub fn detect(root: &Path, forced: bool) -> Option<Box<dyn crate::frameworks::Suite>> {
    (forced || is_jest_project(root)).then(|| {
        Box::new(JestSuite {
            root: root.to_owned(),
        }) as Box<dyn crate::frameworks::Suite>
    })
}

/// `cargo testflow list`: the project's test files as Jest sees them (`--listTests`).
pub fn list_files(root: &Path) -> Result<Vec<String>> {
    let bin = find_in_node_modules(root, ".bin/jest").with_context(|| jest_missing(root))?;
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

/// The Jest suite at `root` as `cargo testflow list` shows it: its files
/// (`--listTests`) and its tests, by their real titles, from a Jest run whose test-name
/// pattern matches nothing, so Jest loads each file (its top-level and `describe` code
/// runs), reports every test as skipped and runs none, and no hook.
pub fn listing(root: &Path) -> Result<Option<crate::frameworks::SuiteListing>> {
    if !is_jest_project(root) {
        return Ok(None);
    }
    let files = list_files(root)?;
    let name = std::fs::read_to_string(root.join("package.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|p| p.get("name")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| root.display().to_string());
    let bin = find_in_node_modules(root, ".bin/jest");
    let (tests, problems) = match &bin {
        Some(bin) if !files.is_empty() => collect_tests(root, bin)?,
        _ => (vec![], vec![]),
    };
    Ok(Some(crate::frameworks::SuiteListing {
        id: format!("jest:{name}"),
        package: name,
        kind: "jest".into(),
        tests: tests.len(),
        files: Some(files.len()),
        executable: bin,
        test_list: tests,
        problems,
        ..Default::default()
    }))
}

/// A test-name pattern no title matches (JavaScript's `(?!)` never matches).
const MATCH_NOTHING: &str = "(?!)";

fn collect_tests(
    root: &Path,
    bin: &Path,
) -> Result<(Vec<crate::frameworks::ListedTest>, Vec<String>)> {
    let out_file = std::env::temp_dir().join(format!(
        "testflow-jest-list-{}-{}.json",
        std::process::id(),
        crate::store::new_run_id()
    ));
    let out = std::process::Command::new(bin)
        .args([
            "--ci",
            "--json",
            "--passWithNoTests",
            "--testLocationInResults",
        ])
        .arg("--testNamePattern")
        .arg(MATCH_NOTHING)
        .arg("--outputFile")
        .arg(&out_file)
        .current_dir(root)
        .env("FORCE_COLOR", "0")
        .env_remove(crate::recorder::EVENTS_ENV)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    let text = std::fs::read_to_string(&out_file);
    let _ = std::fs::remove_file(&out_file);
    let text = text.map_err(|_| {
        anyhow::anyhow!(
            "Jest could not collect the tests in {} ({}):\n{}",
            root.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })?;
    parse_listing(root, &text)
}

#[derive(serde::Deserialize)]
struct ListingJson {
    #[serde(rename = "testResults")]
    test_results: Vec<ListingFile>,
}

#[derive(serde::Deserialize)]
struct ListingFile {
    name: String,
    #[serde(default)]
    message: String,
    #[serde(rename = "assertionResults", default)]
    assertion_results: Vec<ListingTest>,
}

#[derive(serde::Deserialize)]
struct ListingTest {
    #[serde(rename = "ancestorTitles", default)]
    ancestor_titles: Vec<String>,
    title: String,
    #[serde(default)]
    location: Option<ListingLocation>,
}

#[derive(serde::Deserialize)]
struct ListingLocation {
    line: u32,
}

/// Jest's `--json` results of a run that skipped every test: each test with its id (as
/// a run records it) and line, and each file that failed to load, with Jest's reason.
pub fn parse_listing(
    root: &Path,
    json: &str,
) -> Result<(Vec<crate::frameworks::ListedTest>, Vec<String>)> {
    let parsed: ListingJson =
        serde_json::from_str(json).context("unexpected `jest --json` output")?;
    let mut tests = Vec::new();
    let mut problems = Vec::new();
    for f in parsed.test_results {
        let file = relative_file(root, &f.name);
        if !f.message.trim().is_empty() {
            let why: Vec<&str> = f
                .message
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('●'))
                .take(1)
                .collect();
            problems.push(format!("{file}: Jest could not load it: {}", why.join(" ")));
        }
        for t in f.assertion_results {
            tests.push(crate::frameworks::ListedTest {
                id: test_id(&file, &t.ancestor_titles, &t.title),
                name: t.title,
                framework: Framework::Jest,
                file: Some(file.clone()),
                line: t.location.map(|l| l.line),
                // `.skip` and `.todo` are indistinguishable from the pattern's skips.
                ignored: None,
            });
        }
    }
    Ok((tests, problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Jest 30.5.2 on jest-basic with `--json --testNamePattern '(?!)'` (trimmed to the
    /// fields read): every test pending, missing.test.js failed to load.
    #[test]
    fn the_listing_has_every_test_by_its_title_and_the_files_that_failed() {
        let json = r##"{"numTotalTests": 9, "numTotalTestSuites": 3, "testResults": [{"name": "/p/src/math.test.js", "status": "skipped", "message": "", "assertionResults": [{"ancestorTitles": [], "fullName": "adds numbers", "status": "pending", "title": "adds numbers", "location": {"column": 1, "line": 3}}, {"ancestorTitles": [], "fullName": "compares badly", "status": "pending", "title": "compares badly", "location": {"column": 1, "line": 7}}, {"ancestorTitles": ["outer", "inner"], "fullName": "outer inner throws a TypeError", "status": "pending", "title": "throws a TypeError", "location": {"column": 5, "line": 13}}, {"ancestorTitles": ["outer", "inner"], "fullName": "outer inner is skipped", "status": "pending", "title": "is skipped", "location": {"column": 10, "line": 16}}, {"ancestorTitles": ["outer", "inner"], "fullName": "outer inner is todo", "status": "pending", "title": "is todo", "location": {"column": 10, "line": 17}}, {"ancestorTitles": [], "fullName": "is too slow", "status": "pending", "title": "is too slow", "location": {"column": 1, "line": 21}}]}, {"name": "/p/src/hooks.test.js", "status": "skipped", "message": "", "assertionResults": [{"ancestorTitles": ["with a broken beforeEach"], "fullName": "with a broken beforeEach never gets to run", "status": "pending", "title": "never gets to run", "location": {"column": 3, "line": 5}}, {"ancestorTitles": ["flaky"], "fullName": "flaky passes on the second attempt", "status": "pending", "title": "passes on the second attempt", "location": {"column": 3, "line": 11}}, {"ancestorTitles": ["flaky"], "fullName": "flaky always fails", "status": "pending", "title": "always fails", "location": {"column": 3, "line": 15}}]}, {"name": "/p/src/missing.test.js", "status": "failed", "message": "  \u25cf Test suite failed to run\n\n    Cannot find module 'left-pad-that-does-not-exist' from 'src/missing.test.js'", "assertionResults": []}]}"##;
        let (tests, problems) = parse_listing(Path::new("/p"), json).unwrap();
        let ids: Vec<(&str, Option<u32>)> = tests.iter().map(|t| (t.id.as_str(), t.line)).collect();
        assert_eq!(
            ids,
            [
                ("src/math.test.js#adds numbers", Some(3)),
                ("src/math.test.js#compares badly", Some(7)),
                (
                    "src/math.test.js#outer › inner › throws a TypeError",
                    Some(13)
                ),
                ("src/math.test.js#outer › inner › is skipped", Some(16)),
                ("src/math.test.js#outer › inner › is todo", Some(17)),
                ("src/math.test.js#is too slow", Some(21)),
                (
                    "src/hooks.test.js#with a broken beforeEach › never gets to run",
                    Some(5)
                ),
                (
                    "src/hooks.test.js#flaky › passes on the second attempt",
                    Some(11)
                ),
                ("src/hooks.test.js#flaky › always fails", Some(15)),
            ]
        );
        assert_eq!(tests[2].name, "throws a TypeError");
        assert_eq!(tests[2].file.as_deref(), Some("src/math.test.js"));
        assert_eq!(
            problems,
            [
                "src/missing.test.js: Jest could not load it: Cannot find module 'left-pad-that-does-not-exist' from 'src/missing.test.js'"
            ]
        );
        assert!(parse_listing(Path::new("/p"), "not json").is_err());
    }

    fn result(status: &str, messages: &[&str], details: Option<&str>) -> JestResult {
        JestResult {
            case: JestCase {
                file: "/p/src/a.test.js".into(),
                ancestor_titles: vec!["outer".into(), "inner".into()],
                title: "works".into(),
                line: Some(3),
                column: Some(1),
                started_at: None,
            },
            status: status.into(),
            duration_ms: 2.0,
            failure_messages: messages.iter().map(|s| s.to_string()).collect(),
            failure_details_json: details.map(str::to_owned),
            invocations: Some(1),
        }
    }

    #[test]
    fn a_file_has_one_spelling_relative_to_the_project_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/sub")).unwrap();
        std::fs::write(root.join("package.json"), "{}").unwrap();
        std::fs::write(root.join("src/sub/a.test.js"), "").unwrap();
        // Jest's rootDir "src" (or a config in src/): the project is where package.json is.
        assert_eq!(project_root(&root.join("src")), root);
        assert_eq!(project_root(&root.join("src/sub")), root);
        let abs = root.join("src/sub/a.test.js").display().to_string();
        assert_eq!(relative_file(root, &abs), "src/sub/a.test.js");
        assert_eq!(
            relative_file(root, &format!("file://{abs}")),
            "src/sub/a.test.js"
        );
        assert_eq!(
            relative_file(root, "./src/sub/a.test.js"),
            "src/sub/a.test.js"
        );
        assert_eq!(
            relative_file(root, "src\\sub\\a.test.js"),
            "src/sub/a.test.js"
        );
        #[cfg(unix)]
        {
            let link = tempfile::tempdir().unwrap();
            let via = link.path().join("p");
            std::os::unix::fs::symlink(root, &via).unwrap();
            assert_eq!(relative_file(&via, &abs), "src/sub/a.test.js");
            assert_eq!(
                relative_file(root, &via.join("src/sub/a.test.js").display().to_string()),
                "src/sub/a.test.js"
            );
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
        // Nothing failed: no failure with a made-up category or kind.
        for status in ["pending", "skipped", "disabled", "todo"] {
            assert_eq!(
                classify_result(root, &result(status, &[], None)),
                (Outcome::Skipped, None),
                "{status}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Any version text is an answer, never a panic; a version is refused exactly when
        /// its major is below 24. Any path spells as something, never a panic.
        #[test]
        fn a_jest_version_is_refused_exactly_below_24(
            text in ".{0,40}",
            major in 0u64..1000,
            rest in "[0-9a-z.+-]{0,12}",
        ) {
            let _ = check_jest_version(Some(&text), "p");
            let _ = relative_file(Path::new("/p"), &text);
            let v = format!("{major}.{rest}");
            proptest::prop_assert_eq!(check_jest_version(Some(&v), "p").is_ok(), major >= 24);
        }
    }

    #[test]
    fn file_results_alone_record_every_test_once_as_jest_24_reports_them() {
        // Jest 24 calls no per-test hook: onTestResult's file result is all there is.
        let dir = tempfile::tempdir().unwrap();
        let rec = recorder(dir.path());
        let file = dir.path().join("a.test.js").display().to_string();
        let res = |title: &str, status: &str, msg: &[&str]| JestResult {
            case: case(dir.path(), "a.test.js", title),
            status: status.into(),
            failure_messages: msg.iter().map(|m| m.to_string()).collect(),
            ..JestResult::default()
        };
        let results = [
            res("passes", "passed", &[]),
            res(
                "fails",
                "failed",
                &["Error: expect(received).toBe(expected)"],
            ),
            res("skipped", "pending", &[]),
            res("todo", "todo", &[]),
        ];
        rec.file_result(&file, &results, None).unwrap();
        let jest = JestTotals {
            num_total_tests: 4,
            num_passed_tests: 1,
            num_failed_tests: 1,
            num_pending_tests: 1,
            num_todo_tests: 1,
            num_total_test_suites: 1,
            num_failed_test_suites: 1,
            failed_files: vec![file.clone()],
            ..JestTotals::default()
        };
        let (run, notes) = rec.finish_run(Some(&jest), true, None).unwrap();
        assert!(notes.is_empty(), "{notes:?}");
        assert!(run.errors.is_empty());
        let outcomes: Vec<(&str, Outcome)> = run
            .tests
            .iter()
            .map(|t| (t.name.as_str(), t.outcome))
            .collect();
        assert_eq!(outcomes.len(), 4);
        assert!(outcomes.contains(&("fails", Outcome::Failed)));
        assert!(run.tests.iter().all(|t| t.attempts.len() == 1));
    }

    #[test]
    fn jest_before_24_or_of_unknown_version_is_refused_naming_the_version() {
        for ok in [
            "24.9.0",
            "26.6.3",
            "27.5.1",
            "29.7.0",
            "30.5.2",
            "31.0.0-alpha.1",
        ] {
            assert!(check_jest_version(Some(ok), "p").is_ok(), "{ok}");
        }
        let e = check_jest_version(Some("23.6.0"), "/p/node_modules/jest").unwrap_err();
        let e = format!("{e:#}");
        assert!(
            e.contains("Jest 23.6.0 (in /p/node_modules/jest) is not supported"),
            "{e}"
        );
        assert!(e.contains("Jest 24 or newer"), "{e}");
        assert!(
            format!("{:#}", check_jest_version(None, "/p").unwrap_err())
                .contains("cannot tell which Jest")
        );
        assert!(
            format!("{:#}", check_jest_version(Some("next"), "/p").unwrap_err()).contains("`next`")
        );
        // The reporter's door: a run error, so the run never passes.
        let dir = tempfile::tempdir().unwrap();
        let rec = recorder(dir.path());
        assert!(rec.check_jest(Some("30.5.2")).is_none());
        let m = rec.check_jest(Some("22.4.4")).unwrap();
        assert!(m.contains("Jest 22.4.4"), "{m}");
        let run = rec.finish(true, None).unwrap();
        assert_eq!(run.errors.len(), 1);
        assert_eq!(run.errors[0].kind, error_kind::BUILD);
    }

    #[test]
    fn a_failure_kind_is_a_type_never_the_message() {
        let root = Path::new("/p");
        // jest-jasmine2 (Jest < 27) has no matcherResult: the matcher comes from the text.
        let msg = "Error: expect(received).not.toEqual(expected) // deep equality\n\nExpected: not 3\n    at Object.<anonymous> (/p/src/a.test.js:8:21)";
        let f = classify_result(root, &result("failed", &[msg], None))
            .1
            .unwrap();
        assert_eq!(
            (f.category, f.kind.as_deref()),
            (Category::Assertion, Some("toEqual"))
        );
        let msg = "Cannot find module 'left-pad' from 'src/a.test.js'\n    at Resolver.resolveModule (/p/node_modules/jest-resolve/build/index.js:1:1)";
        let f = classify_result(root, &result("failed", &[msg], None))
            .1
            .unwrap();
        assert_eq!((f.category, f.kind), (Category::ImportError, None));
        let f = classify_result(root, &result("failed", &["RangeError: too far"], None))
            .1
            .unwrap();
        assert_eq!(f.kind.as_deref(), Some("RangeError"));
        let f = classify_result(root, &result("failed", &["thrown: \"a string\""], None))
            .1
            .unwrap();
        assert_eq!(f.kind, None);
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
        assert_eq!(f.kind, None, "the message is not a kind");
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
            keep_runs: crate::history::DEFAULT_KEEP_RUNS,
            quarantine: vec![],
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

    fn res(c: &JestCase, status: &str, invocations: u32) -> JestResult {
        JestResult {
            case: c.clone(),
            status: status.into(),
            duration_ms: 1.0,
            invocations: Some(invocations),
            failure_messages: if status == "failed" {
                vec!["Error: boom".into()]
            } else {
                vec![]
            },
            ..JestResult::default()
        }
    }

    fn attempts(run: &Run) -> Vec<(String, Vec<(u32, Outcome)>)> {
        run.tests
            .iter()
            .map(|t| {
                let a = t.attempts.iter().map(|a| (a.attempt, a.outcome)).collect();
                (t.id.clone(), a)
            })
            .collect()
    }

    #[test]
    fn tests_sharing_a_title_are_separate_tests_never_attempts() {
        let dir = tempfile::tempdir().unwrap();
        let rec = recorder(dir.path());
        let adds = case(dir.path(), "a.test.js", "adds");
        rec.case_started(&adds).unwrap();
        rec.case_result(&res(&adds, "failed", 1)).unwrap();
        rec.case_started(&adds).unwrap();
        rec.case_result(&res(&adds, "passed", 1)).unwrap();
        rec.file_result(
            &adds.file,
            &[res(&adds, "failed", 1), res(&adds, "passed", 1)],
            None,
        )
        .unwrap();
        let (run, notes) = rec
            .finish_run(
                Some(&JestTotals {
                    num_total_tests: 2,
                    num_passed_tests: 1,
                    num_failed_tests: 1,
                    num_total_test_suites: 1,
                    num_failed_test_suites: 1,
                    ..JestTotals::default()
                }),
                true,
                None,
            )
            .unwrap();
        assert_eq!(notes, Vec::<String>::new());
        assert_eq!(
            attempts(&run),
            [
                ("a.test.js#adds".into(), vec![(1, Outcome::Failed)]),
                ("a.test.js#adds@2".into(), vec![(1, Outcome::Passed)]),
            ]
        );
        assert_eq!(run.tests[1].name, "adds");
        assert!(run.errors.is_empty(), "{:?}", run.errors);
    }

    #[test]
    fn retries_are_numbered_by_invocations_next_to_tests_sharing_a_title() {
        // jest.retryTimes(1): `twice` fails, the second `twice` passes, then Jest retries
        // the first one (after the rest of the block).
        let dir = tempfile::tempdir().unwrap();
        let rec = recorder(dir.path());
        let twice = case(dir.path(), "r.test.js", "twice");
        rec.case_started(&twice).unwrap();
        rec.case_result(&res(&twice, "failed", 1)).unwrap();
        rec.case_started(&twice).unwrap();
        rec.case_result(&res(&twice, "passed", 1)).unwrap();
        rec.case_started(&twice).unwrap();
        rec.case_result(&res(&twice, "failed", 2)).unwrap();
        rec.file_result(
            &twice.file,
            &[res(&twice, "failed", 2), res(&twice, "passed", 1)],
            None,
        )
        .unwrap();
        let run = rec.finish(true, None).unwrap();
        assert_eq!(
            attempts(&run),
            [
                (
                    "r.test.js#twice".into(),
                    vec![(1, Outcome::Failed), (2, Outcome::Failed)]
                ),
                ("r.test.js#twice@2".into(), vec![(1, Outcome::Passed)]),
            ]
        );
        assert!(run.errors.is_empty(), "{:?}", run.errors);
    }

    #[test]
    fn a_start_that_overtakes_the_previous_result_is_paired_by_started_at() {
        // Jest awaits each reporter in turn: the second `adds` can start (here) before the
        // first one's result arrives. Not a crash, and two tests.
        let dir = tempfile::tempdir().unwrap();
        let rec = recorder(dir.path());
        let at = |t: f64| JestCase {
            started_at: Some(t),
            ..case(dir.path(), "a.test.js", "adds")
        };
        rec.case_started(&at(10.0)).unwrap();
        rec.case_started(&at(11.0)).unwrap();
        rec.case_result(&res(&at(10.0), "failed", 1)).unwrap();
        rec.case_result(&res(&at(11.0), "passed", 1)).unwrap();
        let run = rec.finish(true, None).unwrap();
        assert_eq!(
            attempts(&run),
            [
                ("a.test.js#adds".into(), vec![(1, Outcome::Failed)]),
                ("a.test.js#adds@2".into(), vec![(1, Outcome::Passed)]),
            ]
        );
    }

    #[test]
    fn a_worker_crash_restarts_the_file_as_new_attempts_of_the_same_tests() {
        let dir = tempfile::tempdir().unwrap();
        let rec = recorder(dir.path());
        let at = |title: &str, t: f64| JestCase {
            started_at: Some(t),
            ..case(dir.path(), "c.test.js", title)
        };
        rec.case_started(&at("before", 1.0)).unwrap();
        rec.case_result(&res(&at("before", 1.0), "passed", 1))
            .unwrap();
        rec.case_started(&at("kills", 2.0)).unwrap();
        // The worker died; Jest runs the file again.
        rec.case_started(&at("before", 3.0)).unwrap();
        rec.case_result(&res(&at("before", 3.0), "passed", 1))
            .unwrap();
        rec.case_started(&at("kills", 4.0)).unwrap();
        rec.file_result(
            &at("kills", 4.0).file,
            &[],
            Some("A jest worker process (pid=1) was terminated by another process: signal=SIGKILL, exitCode=null."),
        )
        .unwrap();
        let run = rec.finish(true, None).unwrap();
        assert_eq!(
            attempts(&run),
            [
                (
                    "c.test.js#before".into(),
                    vec![(1, Outcome::Passed), (2, Outcome::Passed)]
                ),
                (
                    "c.test.js#kills".into(),
                    vec![(1, Outcome::Crashed), (2, Outcome::Crashed)]
                ),
            ]
        );
    }

    #[test]
    fn a_literal_title_never_takes_a_duplicate_id() {
        let dir = tempfile::tempdir().unwrap();
        let rec = recorder(dir.path());
        let adds = case(dir.path(), "a.test.js", "adds");
        let literal = case(dir.path(), "a.test.js", "adds@2");
        for c in [&adds, &adds, &literal] {
            rec.case_started(c).unwrap();
            rec.case_result(&res(c, "passed", 1)).unwrap();
        }
        let run = rec.finish(true, None).unwrap();
        let ids: Vec<&str> = run.tests.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(
            ids,
            ["a.test.js#adds", "a.test.js#adds@2", "a.test.js#adds@2@2"]
        );
    }

    #[test]
    fn a_file_result_that_disagrees_with_the_stream_is_a_reconcile_error() {
        let dir = tempfile::tempdir().unwrap();
        let rec = recorder(dir.path());
        let a = case(dir.path(), "a.test.js", "a");
        rec.case_started(&a).unwrap();
        rec.case_result(&res(&a, "passed", 1)).unwrap();
        let b = case(dir.path(), "a.test.js", "b");
        rec.case_started(&b).unwrap();
        rec.case_result(&res(&b, "passed", 1)).unwrap();
        // Jest's file result says `a` failed and has no `b`.
        rec.file_result(&a.file, &[res(&a, "failed", 1)], None)
            .unwrap();
        let run = rec.finish(true, None).unwrap();
        let messages: Vec<&str> = run.errors.iter().map(|e| e.message.as_str()).collect();
        assert!(run.errors.iter().all(|e| e.kind == error_kind::RECONCILE));
        assert_eq!(
            messages,
            [
                "test `a.test.js#a`: Jest's result for a.test.js says failed, testflow recorded passed (attempt 1)",
                "a.test.js: testflow recorded 1 tests titled `a.test.js#b`, Jest's result for the file lists 0",
            ]
        );
    }

    #[test]
    fn jest_totals_that_disagree_name_both_numbers() {
        let recorded = RecordedCounts {
            total: 1,
            passed: 1,
            ..RecordedCounts::default()
        };
        let jest = JestTotals {
            num_total_tests: 2,
            num_passed_tests: 1,
            num_failed_tests: 1,
            num_failed_test_suites: 1,
            ..JestTotals::default()
        };
        assert_eq!(
            reconcile_totals(&recorded, &jest),
            [
                "Jest counted 2 tests (1 passed, 1 failed, 0 skipped, 0 todo), testflow recorded 1 tests (1 passed, 0 failed, 0 skipped, 0 todo)",
                "Jest counted 1 failed test files, testflow recorded a failure in 0",
            ]
        );
        // Same counts, but Jest failed (a snapshot failure): never a pass.
        let jest = JestTotals {
            num_total_tests: 1,
            num_passed_tests: 1,
            snapshot_failure: true,
            ..JestTotals::default()
        };
        assert_eq!(
            reconcile_totals(&recorded, &jest),
            ["Jest reports a snapshot failure, but testflow recorded no failure"]
        );
        let agree = JestTotals {
            num_total_tests: 1,
            num_passed_tests: 1,
            success: Some(false), // Jest sets it after onRunComplete: not evidence
            ..JestTotals::default()
        };
        assert!(reconcile_totals(&recorded, &agree).is_empty());
    }

    #[test]
    fn a_file_jest_could_not_run_gets_an_entry_and_a_reconcile_error() {
        let dir = tempfile::tempdir().unwrap();
        let rec = recorder(dir.path());
        let file = dir.path().join("b.test.js").display().to_string();
        let (run, notes) = rec
            .finish_run(
                Some(&JestTotals {
                    num_total_test_suites: 1,
                    num_failed_test_suites: 1,
                    num_runtime_error_test_suites: 1,
                    failed_files: vec![file.clone()],
                    failed_to_run: vec![(file, "SyntaxError: Unexpected token".into())],
                    ..JestTotals::default()
                }),
                true,
                None,
            )
            .unwrap();
        assert_eq!(
            notes,
            [
                "Jest could not run b.test.js, and testflow had recorded nothing for it: SyntaxError: Unexpected token"
            ]
        );
        assert_eq!(run.tests[0].id, "b.test.js");
        assert_eq!(run.tests[0].outcome, Outcome::Error);
        assert_eq!(run.errors[0].kind, error_kind::RECONCILE);
    }

    #[test]
    fn the_driver_checks_jests_exit_status_against_the_log() {
        use crate::process::ExitKind;
        let run = |tests| Run::of_tests("r", chrono::Utc::now(), tests, 0.0);
        let failing = run(vec![crate::model::TestCase::from_attempts(
            meta(Path::new("/p"), &case(Path::new("/p"), "a.test.js", "a")),
            vec![crate::model::Attempt {
                attempt: 1,
                outcome: Outcome::Failed,
                duration_ms: 0.0,
                started_at: None,
                failure: None,
                concurrent: None,
            }],
        )]);
        let empty = run(vec![]);
        assert_eq!(reconcile_exit(ExitKind::Code(1), true, &failing), None);
        assert_eq!(reconcile_exit(ExitKind::Code(0), true, &empty), None);
        assert_eq!(
            reconcile_exit(ExitKind::Code(0), true, &failing).unwrap(),
            "Jest exited with exit code 0, but testflow recorded 1 failing tests (first: `a.test.js#a`)"
        );
        assert_eq!(
            reconcile_exit(ExitKind::Code(1), true, &empty).unwrap(),
            "Jest exited with exit code 1, but testflow recorded no failing test and no run error"
        );
        assert!(
            reconcile_exit(ExitKind::Code(0), false, &empty)
                .unwrap()
                .contains("onRunComplete never ran")
        );
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
        // `npm init -y && npm install -D jest`: npm's default test script, no config.
        std::fs::write(
            &pkg,
            r#"{"devDependencies":{"jest":"^30.5.2"},"scripts":{"test":"echo \"Error: no test specified\" && exit 1"}}"#,
        )
        .unwrap();
        assert!(is_jest_project(dir.path()));
        std::fs::write(&pkg, r#"{"dependencies":{"jest":"30"}}"#).unwrap();
        assert!(is_jest_project(dir.path()));
        std::fs::write(&pkg, r#"{"name":"x"}"#).unwrap();
        std::fs::write(dir.path().join("jest.config.js"), "module.exports = {}").unwrap();
        assert!(is_jest_project(dir.path()));
        std::fs::remove_file(dir.path().join("jest.config.js")).unwrap();
        std::fs::create_dir_all(dir.path().join("node_modules/.bin")).unwrap();
        std::fs::write(dir.path().join("node_modules/.bin/jest"), "").unwrap();
        assert!(is_jest_project(dir.path()));
        // No package.json: not a Node project, whatever else is there.
        std::fs::remove_file(&pkg).unwrap();
        assert!(!is_jest_project(dir.path()));
        // Forced, a directory Jest cannot run says what is missing.
        let e = format!("{:#}", JestProject::locate(dir.path()).unwrap_err());
        assert!(e.contains("there is no package.json"), "{e}");
        std::fs::write(&pkg, r#"{"name":"x"}"#).unwrap();
        std::fs::remove_file(dir.path().join("node_modules/.bin/jest")).unwrap();
        let e = format!("{:#}", JestProject::locate(dir.path()).unwrap_err());
        assert!(
            e.starts_with("jest is not installed: node_modules/.bin/jest not found in"),
            "{e}"
        );
    }

    #[test]
    fn the_workers_decision_becomes_run_in_band_or_max_workers() {
        let p = JestProject {
            root: "/p".into(),
            jest_bin: "/p/node_modules/.bin/jest".into(),
            reporter_dir: "/p/node_modules/jest-testflow".into(),
        };
        let options = crate::runner::RunOptions {
            jobs: 2,
            ..Default::default()
        };
        let past = |tests, ms| super::super::workers::Past {
            tests,
            duration_ms: ms,
            startup_ms: None,
        };
        let decided = |past, options: &crate::runner::RunOptions| {
            super::super::workers::decide(
                Framework::Jest,
                super::super::workers::Input {
                    jobs: options.jobs,
                    jobs_given: options.jobs_given,
                    available: true,
                    past,
                    collected: None,
                    startup_ms: None,
                },
                super::super::workers::JEST,
            )
        };
        let flags = |d: Option<&crate::model::WorkersDecision>, o: &crate::runner::RunOptions| {
            p.args_with(o, d)
                .into_iter()
                .filter(|a| a.starts_with("--maxWorkers") || a == "--runInBand")
                .collect::<Vec<_>>()
        };
        let quick = decided(Some(past(20, 50.0)), &options);
        assert_eq!(flags(Some(&quick), &options), ["--runInBand"]);
        let big = decided(Some(past(2000, 500.0)), &options);
        assert_eq!((big.workers, big.basis.as_str()), (2, "history"));
        assert_eq!(flags(Some(&big), &options), ["--maxWorkers=2"]);
        // No history: Jest's own choice stands.
        let dir = tempfile::tempdir().unwrap();
        let none = jest_workers(dir.path(), &options);
        assert_eq!((none.workers, none.basis.as_str()), (0, "project"));
        assert!(flags(Some(&none), &options).is_empty());
        // -j wins over history.
        let given = crate::runner::RunOptions {
            jobs: 3,
            jobs_given: true,
            ..Default::default()
        };
        let user = decided(Some(past(20, 50.0)), &given);
        assert_eq!(user.basis, "user");
        assert_eq!(flags(Some(&user), &given), ["--maxWorkers=3"]);
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
            jobs_given: true,
            test_timeout: Some(std::time::Duration::from_millis(1500)),
            retries: 2,
            filters: vec!["adds".into(), "a.b".into()],
            ..crate::runner::RunOptions::default()
        };
        let args = p.args(&options);
        assert!(args.contains(&"--maxWorkers=2".to_owned()));
        assert!(
            !args.contains(&"--ci".to_owned()),
            "Jest decides --ci itself"
        );
        let default_jobs = crate::runner::RunOptions::default();
        assert!(
            !p.args(&default_jobs)
                .iter()
                .any(|a| a.starts_with("--maxWorkers")),
            "without -j the project's maxWorkers stands"
        );
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
        use crate::ordering::Order;
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
