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
use std::sync::OnceLock;

use anyhow::{Context, Result};
use regex::Regex;

use crate::model::{Category, Failure, Framework, Location, Outcome, Run, TestMeta, error_kind};

/// The recorder the Jest reporter calls.
mod affected;
pub mod recorder;

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

pub(crate) fn meta(root: &Path, case: &JestCase) -> TestMeta {
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
pub(crate) fn file_meta(root: &Path, file: &str) -> TestMeta {
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

pub(crate) fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("valid regex"))
}

pub(crate) fn strip_ansi(s: &str) -> String {
    static ANSI: OnceLock<Regex> = OnceLock::new();
    re(&ANSI, r"\x1b\[[0-9;]*[A-Za-z]")
        .replace_all(s, "")
        .into_owned()
}

/// Split Jest's formatted error text into the message (before the stack) and the stack.
pub(crate) fn split_stack(text: &str) -> (&str, &str) {
    match text.find("\n    at ") {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, ""),
    }
}

/// The deepest frame in user code: the first stack frame outside node_modules and Node's
/// internals, relative to `root`.
pub(crate) fn user_location(root: &Path, stack: &str) -> Option<Location> {
    static FRAME: OnceLock<Regex> = OnceLock::new();
    // `at async /file:1:2` (an awaited frame, ESM) names the file after `async `.
    let frame = re(
        &FRAME,
        r"^\s*at (?:async )?(?:.*? \()?(.+?):(\d+):(\d+)\)?\s*$",
    );
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
pub(crate) fn error_kind(message: &str) -> Option<String> {
    static KIND: OnceLock<Regex> = OnceLock::new();
    let k = re(&KIND, r"^((?:[A-Z][A-Za-z0-9_]*)?(?:Error|Exception))\b")
        .captures(message)?
        .get(1)?
        .as_str();
    Some(k.to_owned())
}

/// `expect(received).not.toBe(expected)` → `toBe`: the matcher, as `matcherResult.name`.
pub(crate) fn matcher_name(message: &str) -> Option<String> {
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
pub(crate) fn in_hook(source: &str, line: u32) -> bool {
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
pub(crate) fn timeout_message(message: &str) -> Option<String> {
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

pub(crate) fn signal_number(name: &str) -> Option<i32> {
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
pub(crate) fn unstreamed(status: &str) -> bool {
    matches!(status, "pending" | "skipped" | "disabled")
}

/// One test Jest ran (one occurrence of a full title in a file), over all its attempts.
pub(crate) struct Instance {
    pub(crate) meta: TestMeta,
    /// The highest attempt number started or recorded.
    pub(crate) attempts: u32,
    /// Attempts made before Jest last (re)started the file (a worker crash restarts it).
    pub(crate) base: u32,
    /// Jest's `invocations` in the current run of the file; 0 until a result arrives.
    pub(crate) invocations: u32,
    /// Outcome of the latest recorded attempt.
    pub(crate) last: Option<Outcome>,
    /// The attempt that started and has no result yet, and its `startedAt`.
    pub(crate) open: Option<(u32, Option<f64>)>,
    /// The latest result is Jest's `todo`.
    pub(crate) todo: bool,
}

/// What Jest's `onTestFileResult` said about a file.
pub(crate) struct FileVerdict {
    pub(crate) results: usize,
    pub(crate) exec_error: bool,
}

#[derive(Default)]
pub(crate) struct FileState {
    pub(crate) instances: Vec<Instance>,
    /// Indices into `instances` per plain id (no duplicate mark), in order of occurrence.
    pub(crate) by_plain: HashMap<String, Vec<usize>>,
    /// Occurrences of each plain id started in the current run of the file.
    pub(crate) cursor: HashMap<String, usize>,
    /// Starts whose test is not known yet: a retry or the next test with the same title,
    /// or a start after the worker died (Jest then runs the file again). The result
    /// (`invocations`, and which starts are still open by then) decides; not in the log
    /// until then.
    pub(crate) pending: Vec<JestCase>,
    /// `startedAt` of results that came before their start (the late start is dropped).
    pub(crate) early_results: HashSet<(String, u64)>,
    pub(crate) taken: HashSet<String>,
    pub(crate) verdict: Option<FileVerdict>,
    /// An error was recorded for the file as a whole or for a test Jest could not finish.
    pub(crate) exec_error_recorded: bool,
}

impl FileState {
    /// The test's id without a duplicate mark (`meta(root, case).id`, without the rest of
    /// the metadata: this runs several times for every test).
    pub(crate) fn plain(root: &Path, case: &JestCase) -> String {
        test_id(
            &relative_file(root, &case.file),
            &case.ancestor_titles,
            &case.title,
        )
    }

    /// The `n`-th (0-based) test titled like `case`, created when new.
    pub(crate) fn instance_at(&mut self, root: &Path, case: &JestCase, n: usize) -> usize {
        let plain = Self::plain(root, case);
        self.instance_of(root, case, plain, n)
    }

    /// [`FileState::instance_at`] with the plain id already known.
    fn instance_of(&mut self, root: &Path, case: &JestCase, plain: String, n: usize) -> usize {
        if let Some(&i) = self.by_plain.get(&plain).and_then(|v| v.get(n)) {
            return i;
        }
        let mut m = meta(root, case);
        debug_assert_eq!(m.id, plain);
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
    pub(crate) fn next_occurrence(&mut self, root: &Path, case: &JestCase) -> usize {
        let plain = Self::plain(root, case);
        self.next_occurrence_of(root, case, plain)
    }

    /// [`FileState::next_occurrence`] with the plain id already known.
    pub(crate) fn next_occurrence_of(
        &mut self,
        root: &Path,
        case: &JestCase,
        plain: String,
    ) -> usize {
        let n = match self.cursor.get_mut(&plain) {
            Some(c) => {
                *c += 1;
                *c - 1
            }
            None => {
                self.cursor.insert(plain.clone(), 1);
                0
            }
        };
        self.instance_of(root, case, plain, n)
    }

    /// Tests of this title in the current run of the file that Jest may retry: their
    /// latest attempt failed.
    pub(crate) fn retry_candidates(&self, plain: &str) -> Vec<usize> {
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
    pub(crate) fn retry_target(&self, plain: &str, k: Option<u32>) -> Option<usize> {
        let c = self.retry_candidates(plain);
        k.and_then(|k| {
            c.iter()
                .copied()
                .find(|&i| self.instances[i].invocations + 1 == k)
        })
        .or_else(|| c.first().copied())
    }

    /// The open test of this title with this `startedAt` (any open one when unknown).
    pub(crate) fn open_instance(&self, plain: &str, started_at: Option<f64>) -> Option<usize> {
        let open = |i: &usize| self.instances[*i].open.map(|(_, t)| t);
        let list = self.by_plain.get(plain)?;
        match started_at {
            Some(t0) => list.iter().copied().find(|i| open(i) == Some(Some(t0))),
            None => list.iter().copied().find(|i| open(i).is_some()),
        }
    }

    pub(crate) fn anything_open(&self) -> bool {
        !self.pending.is_empty() || self.instances.iter().any(|t| t.open.is_some())
    }

    /// Settle the pending start `p` with its result's `invocations` (`k`, None when it has
    /// none): a test still open that started before it means the worker died and Jest
    /// ran the file again. Returns the instance and the attempts that crashed.
    pub(crate) fn resolve(
        &mut self,
        root: &Path,
        p: usize,
        k: Option<u32>,
    ) -> (usize, Vec<(TestMeta, u32)>) {
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
    pub(crate) fn restart(&mut self) -> Vec<(TestMeta, u32)> {
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
    pub(crate) fn finish(
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
    pub(crate) fn show(&self) -> String {
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

// ---- `cargo testflow run` on a Jest project -------------------------------------------

/// Environment variables the sequencer reads (set by `cargo testflow run`, or by hand).
pub use crate::shard::SHARD_STRATEGY_ENV;
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
/// only fails), or `node_modules/.bin/jest`; the last two not in a project configured
/// for Vitest (`vitest::is_configured`).
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
    if CONFIGS.iter().any(|c| root.join(c).is_file()) {
        return true;
    }
    let Ok(pkg) = serde_json::from_str::<serde_json::Value>(&text) else {
        return root.join("node_modules/.bin/jest").exists();
    };
    if pkg.get("jest").is_some() {
        return true;
    }
    // A project configured for Vitest runs its tests with Vitest; Jest there is only a
    // dependency (a migration, a tool that needs it): `Plugin::claims_node_project`.
    if super::PLUGINS.iter().any(|p| p.claims_node_project(root)) {
        return false;
    }
    root.join("node_modules/.bin/jest").exists()
        || ["dependencies", "devDependencies"]
            .iter()
            .any(|k| pkg.get(k).and_then(|d| d.get("jest")).is_some())
}

/// The message when a Jest project's own Jest cannot be found.
pub(crate) fn jest_missing(root: &Path) -> String {
    format!(
        "jest is not installed: node_modules/.bin/jest not found in {} or above; run npm install \
         (or `npm install --save-dev jest`) there",
        root.display()
    )
}

/// `node_modules/<rel>` in `root` or the nearest parent that has it (npm workspaces hoist).
pub(crate) fn find_in_node_modules(root: &Path, rel: &str) -> Option<PathBuf> {
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

    fn selects_affected(&self) -> bool {
        true
    }

    /// An id's file: before the first `#` (`file#describe title`).
    fn file_of<'a>(&self, id: &'a str) -> Option<&'a str> {
        crate::frameworks::file_before_hash(id)
    }

    fn coverage_report(&self) -> &'static str {
        COVERAGE_FILE
    }

    fn junit_group<'a>(&self, t: &'a crate::model::TestCase) -> Option<&'a String> {
        t.file.as_ref().or(t.binary.as_ref())
    }

    /// Jest's fullName: describe blocks and title joined by spaces; classname is the
    /// file spelled as in the id and `file` (project-root-relative, `/`).
    fn junit_names(&self, t: &crate::model::TestCase) -> (String, String) {
        crate::frameworks::title_path_junit_names(t, " ", "jest")
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

/// Where Jest writes its coverage under the driver. Jest's `coverageDirectory` is part of
/// its project config, which is part of its transform cache key: the run's own directory,
/// new every run, made Jest re-transform and re-instrument every file on every coverage
/// run (bench/RESULTS.md). So Jest writes into one directory per project and shard, kept
/// between runs (locked while a run uses it), and the report is moved into the run after.
struct CoverageWork {
    /// Passed as the run's coverage directory: Jest writes `dir/jest/coverage-final.json`.
    dir: PathBuf,
    _lock: std::fs::File,
}

impl CoverageWork {
    fn take(root: &Path, options: &crate::runner::RunOptions) -> Option<CoverageWork> {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        root.hash(&mut h);
        options
            .pass_through
            .shard
            .map(|(s, _)| (s.index, s.total))
            .hash(&mut h);
        let dir = std::env::temp_dir().join(format!("testflow-jest-coverage-{:016x}", h.finish()));
        std::fs::create_dir_all(dir.join("jest")).ok()?;
        let lock = std::fs::File::create(dir.join("lock")).ok()?;
        // SAFETY: flock on a descriptor we own; released when `lock` is closed.
        if unsafe {
            libc::flock(
                std::os::fd::AsRawFd::as_raw_fd(&lock),
                libc::LOCK_EX | libc::LOCK_NB,
            )
        } != 0
        {
            return None; // another run of this project uses it
        }
        // Nothing of an earlier run may be read as this run's report.
        match std::fs::remove_file(dir.join(COVERAGE_FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return None,
            _ => {}
        }
        Some(CoverageWork { dir, _lock: lock })
    }

    /// Move Jest's report to where the run reads it (`coverage_report`).
    fn hand_over(&self, run_coverage: &Path) -> std::io::Result<()> {
        let from = self.dir.join(COVERAGE_FILE);
        if !from.is_file() {
            return Ok(()); // Jest wrote none: the coverage step says so
        }
        let to = run_coverage.join(COVERAGE_FILE);
        std::fs::create_dir_all(run_coverage.join("jest"))?;
        std::fs::rename(&from, &to).or_else(|_| {
            // Another file system (the temp dir): copy, then remove.
            std::fs::copy(&from, &to)?;
            std::fs::remove_file(&from)
        })
    }
}

const COVERAGE_FILE: &str = "jest/coverage-final.json";

/// Jest's own coverage, as coverage-final.json only (testflow prints the summary).
pub fn coverage_args(dir: &Path) -> Vec<String> {
    vec![
        "--coverage".into(),
        "--coverageReporters=json".into(),
        format!("--coverageDirectory={}", dir.join("jest").display()),
    ]
}

/// `@scope/pkg/sub/path` -> `@scope/pkg`, `pkg/sub` -> `pkg`.
pub(crate) fn npm_package(module: &str) -> String {
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

    /// The run's selection (`affected::select`, as `units` calls it).
    fn select_affected(
        &mut self,
        plan: &crate::affected::Plan,
        history: Option<&crate::history::History>,
        _echo: &mut (dyn std::io::Write + Send),
    ) -> Result<bool> {
        let project = JestProject::locate(&self.root)?;
        affected::select(&project, plan, history);
        Ok(true)
    }

    fn framework(&self) -> Framework {
        Framework::Jest
    }

    fn units(
        self: Box<Self>,
        ctx: &crate::runner::Ctx,
        plan: &mut crate::frameworks::Planning<'_>,
    ) -> Result<Vec<Box<dyn crate::runner::Unit>>> {
        let project = JestProject::locate(&self.root)?;
        let paths = plan
            .affected
            .and_then(|a| affected::select(&project, a, plan.history));
        if paths.as_ref().is_some_and(|p| p.is_empty()) {
            return Ok(vec![]); // nothing affected: Jest does not start
        }
        let decision = jest_workers(plan.history, &ctx.options);
        if let Err(e) = super::workers::record(ctx.events_path(), &decision) {
            ctx.warn(format!("cannot record the Jest workers decision: {e:#}"));
        }
        Ok(vec![Box::new(JestUnit {
            project,
            decision,
            paths,
        })])
    }
}

/// In-band or N Jest workers, and why (`frameworks::workers`). With no history Jest's
/// own choice stands (its timing cache already runs a quick suite in band).
pub(crate) fn jest_workers(
    history: Option<&crate::history::History>,
    options: &crate::runner::RunOptions,
) -> crate::model::WorkersDecision {
    super::workers::decide_self_scheduled(Framework::Jest, "Jest", history, options)
}

/// The whole Jest run as one unit: Jest schedules its own workers (`--maxWorkers`), and
/// the reporter appends every test event to the run's log (`TESTFLOW_EVENTS`).
pub(crate) struct JestUnit {
    pub(crate) project: JestProject,
    pub(crate) decision: crate::model::WorkersDecision,
    /// `--affected`: only these test files (`--runTestsByPath`).
    pub(crate) paths: Option<Vec<String>>,
}

impl crate::runner::Unit for JestUnit {
    fn planned_tests(&self) -> usize {
        0 // Jest only knows its tests once it runs them
    }

    fn execute(self: Box<Self>, ctx: &crate::runner::Ctx) -> Vec<Box<dyn crate::runner::Unit>> {
        let events = ctx.events_path().to_owned();
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let before = size(&events);
        // Coverage goes to a directory kept between runs, then into the run (see
        // `CoverageWork`); without one (another run holds it) to the run's own.
        let work = ctx
            .options
            .coverage_dir
            .as_ref()
            .and_then(|_| CoverageWork::take(&self.project.root, &ctx.options));
        let mut options = ctx.options.clone();
        if let Some(w) = &work {
            options.coverage_dir = Some(w.dir.clone());
        }
        let mut args = self.project.args_with(&options, Some(&self.decision));
        if let Some(paths) = &self.paths {
            // Before the user's own arguments (which come last).
            let at = args.len().saturating_sub(options.framework_args.len());
            let by_path =
                std::iter::once("--runTestsByPath".to_owned()).chain(paths.iter().cloned());
            args.splice(at..at, by_path);
        }
        let mut cmd = std::process::Command::new(&self.project.jest_bin);
        cmd.args(args)
            .current_dir(&self.project.root)
            .env(crate::events::EVENTS_ENV, &events)
            // The driver writes the reports once, from the whole run.
            .env_remove(crate::names::REPORT_ENV)
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
        if let (Some(w), Some(run_dir)) = (&work, &ctx.options.coverage_dir)
            && let Err(e) = w.hand_over(run_dir)
        {
            ctx.warn(format!(
                "cannot move Jest's coverage report into the run: {e:#}"
            ));
        }
        // What the suite cost in CPU (Jest and the workers it waited for), for the next
        // run's workers decision (after `recorded`: this event is not Jest's).
        let measured = super::workers::measured(&self.decision, &out);
        if let Err(e) = super::workers::record(&events, &measured) {
            ctx.warn(format!("cannot record Jest's CPU time: {e:#}"));
        }
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
    let mut files: Vec<String> = list_tests(&bin, root, &[])?
        .iter()
        .map(|f| relative_file(root, f))
        .collect();
    files.sort();
    Ok(files)
}

/// `jest --listTests --json ARGS…` in `root`: the test files Jest finds, as it prints
/// them (absolute). What `list` shows and what `--affected` asks Jest (with
/// `--findRelatedTests`).
pub(crate) fn list_tests(
    bin: &Path,
    root: &Path,
    args: &[&std::ffi::OsStr],
) -> Result<Vec<String>> {
    let out = std::process::Command::new(bin)
        .args(["--listTests", "--json"])
        .args(args)
        .current_dir(root)
        .env("CI", "true")
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !out.status.success() {
        anyhow::bail!(
            "`jest --listTests` in {} ended with {}: {}",
            root.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The JSON array is the last line (Jest may print notices before it).
    let json = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('['))
        .unwrap_or("[]");
    serde_json::from_str(json).with_context(|| {
        format!(
            "unexpected `jest --listTests --json` output in {}: {}",
            root.display(),
            json.chars().take(200).collect::<String>()
        )
    })
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
pub(crate) const MATCH_NOTHING: &str = "(?!)";

pub(crate) fn collect_tests(
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
        .env_remove(crate::events::EVENTS_ENV)
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
pub(crate) struct ListingJson {
    #[serde(rename = "testResults")]
    pub(crate) test_results: Vec<ListingFile>,
}

#[derive(serde::Deserialize)]
pub(crate) struct ListingFile {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) message: String,
    #[serde(rename = "assertionResults", default)]
    pub(crate) assertion_results: Vec<ListingTest>,
}

#[derive(serde::Deserialize)]
pub(crate) struct ListingTest {
    #[serde(rename = "ancestorTitles", default)]
    pub(crate) ancestor_titles: Vec<String>,
    pub(crate) title: String,
    #[serde(default)]
    pub(crate) location: Option<ListingLocation>,
}

#[derive(serde::Deserialize)]
pub(crate) struct ListingLocation {
    pub(crate) line: u32,
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
                affected: None,
            });
        }
    }
    Ok((tests, problems))
}

#[cfg(test)]
mod tests;
