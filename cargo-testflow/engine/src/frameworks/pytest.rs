//! pytest: what the `pytest-testflow` plugin's reports mean, and how `cargo testflow run`
//! drives a pytest suite.
//!
//! The plugin stays thin: it hands each pytest report over as plain strings and numbers
//! ([`Phase`]) and [`PytestRecorder`] folds setup/call/teardown (and subtests and
//! pytest-rerunfailures attempts) into one result per node id, classifies the failure
//! and writes the events. The rules live here, in Rust, where they are unit-tested.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Result;

use crate::model::{
    Captured, Category, DEFAULT_OUTPUT_CAP, Failure, Framework, Location, Outcome, Run, TestMeta,
};
use crate::recorder::{Recorder, RecorderConfig};

/// The message pytest-timeout fails a test with (signal method).
const TIMEOUT_MARK: &str = "from pytest-timeout";

/// One pytest report (`TestReport` of one phase), as plain fields.
#[derive(Clone, Debug, Default)]
pub struct Phase<'a> {
    pub nodeid: &'a str,
    /// `setup`, `call`, `teardown`, or `???` (pytest-xdist: the worker crashed).
    pub when: &'a str,
    /// `passed`, `failed`, `skipped`, or `rerun` (pytest-rerunfailures).
    pub outcome: &'a str,
    /// Seconds, this phase only.
    pub duration: f64,
    /// The xfail reason when xfail logic applied (`report.wasxfail`).
    pub wasxfail: Option<&'a str>,
    /// The exception's type name (`AssertionError`, `mod.MyError`), from the exception itself.
    pub exc_type: Option<&'a str>,
    /// One-line message (`reprcrash.message`, or the skip reason).
    pub message: Option<&'a str>,
    /// Where the exception was raised (`reprcrash`), 1-based line.
    pub crash_file: Option<&'a str>,
    pub crash_line: Option<u32>,
    /// The full rendered `longrepr` (traceback).
    pub longrepr: Option<&'a str>,
    /// Captured output, as bytes: kept losslessly (`Captured`), whatever pytest captured.
    pub stdout: Option<&'a [u8]>,
    pub stderr: Option<&'a [u8]>,
    pub log: Option<&'a [u8]>,
    /// pytest 9 subtest context (`msg` and kwargs), when this is a `SubtestReport`.
    pub subtest: Option<&'a str>,
    /// The comparison pytest's assertion rewriting saw (`pytest_assertrepr_compare`).
    pub compare: Option<super::pytest_assert::Compare<'a>>,
}

/// Text from Python made safe for the schema: valid UTF-8 stays as it is, every byte
/// that is not part of valid UTF-8 becomes `\xNN`. The bindings hand Python strings over
/// as their `surrogateescape` bytes, so a lone surrogate (`"caf\udce9"`, a file name that
/// is not UTF-8) arrives as its byte and comes out as `caf\xe9`: readable and stable.
pub fn safe_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Split a pytest node id into file, enclosing classes and test name. `::` inside a
/// parametrize id (`test_x[a::b]`) does not split.
pub fn split_nodeid(nodeid: &str) -> (Option<String>, Vec<String>, String) {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let bytes = nodeid.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b':' if depth == 0 && bytes.get(i + 1) == Some(&b':') => {
                parts.push(&nodeid[start..i]);
                i += 2;
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&nodeid[start..]);
    if parts.len() == 1 {
        // A module-level item (doctest file, collector): the id is the file.
        return (Some(parts[0].to_owned()), vec![], parts[0].to_owned());
    }
    let name = parts.pop().unwrap_or_default().to_owned();
    let file = parts.remove(0).to_owned();
    (
        Some(file),
        parts.into_iter().map(str::to_owned).collect(),
        name,
    )
}

/// The test's metadata from its node id and pytest's 0-based `location` line.
pub fn meta(nodeid: &str, line0: Option<u32>) -> TestMeta {
    let (file, suite, name) = split_nodeid(nodeid);
    TestMeta {
        id: nodeid.to_owned(),
        framework: Framework::Pytest,
        name,
        suite,
        file: file.filter(|f| !f.is_empty()),
        line: line0.map(|l| l + 1),
        binary: None,
    }
}

/// The failure category of an exception of type `exc_type` (or a message) in phase `when`.
pub fn classify(when: &str, exc_type: Option<&str>, message: &str) -> Category {
    let base = exc_type.map(|t| t.rsplit('.').next().unwrap_or(t));
    if message.contains(TIMEOUT_MARK) || base == Some("Timeout") {
        return Category::Timeout;
    }
    match when {
        "collect" => return collect_category(exc_type),
        "setup" | "teardown" => return Category::SetupError,
        "???" => return Category::Crash,
        _ => {}
    }
    match base {
        Some("AssertionError") => Category::Assertion,
        Some("ImportError" | "ModuleNotFoundError") => Category::ImportError,
        _ => Category::RuntimeError,
    }
}

/// `ValueError: boom` -> `boom` when the type is `ValueError` (pytest prefixes the
/// type for everything but rewritten asserts).
fn strip_type_prefix<'a>(exc_type: Option<&str>, message: &'a str) -> &'a str {
    let Some(t) = exc_type else { return message };
    for name in [t, t.rsplit('.').next().unwrap_or(t)] {
        if let Some(rest) = message.strip_prefix(name)
            && let Some(rest) = rest.strip_prefix(": ")
        {
            return rest;
        }
    }
    if message == t {
        return "";
    }
    message
}

fn rank(o: Outcome) -> u8 {
    match o {
        Outcome::Passed => 0,
        Outcome::Skipped | Outcome::Xfailed | Outcome::Xpassed => 1,
        Outcome::Failed | Outcome::Error | Outcome::Timeout => 2,
        Outcome::Crashed => 3,
    }
}

/// One attempt of one test being folded.
struct Open {
    meta: TestMeta,
    attempt: u32,
    duration_s: f64,
    outcome: Option<Outcome>,
    failure: Option<Failure>,
    /// The skip / xfail reason (not a failure).
    reason: Option<String>,
    /// pytest-rerunfailures said this attempt will be re-run.
    rerun: bool,
    phases: u32,
}

/// The engine side of the pytest plugin: folds pytest's per-phase reports into one
/// result per node id and records it.
pub struct PytestRecorder {
    rec: Recorder,
    root: PathBuf,
    output_cap: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    open: HashMap<String, Open>,
    /// Last attempt number used per node id (reruns continue from it).
    attempts: HashMap<String, u32>,
    done: HashSet<String>,
    collected: Vec<(String, Option<u32>)>,
    /// The last recorded outcome per node id (what reconciling compares with pytest).
    finals: HashMap<String, Outcome>,
    collect_errors: usize,
    /// `pytest_keyboard_interrupt`: KeyboardInterrupt or `pytest.exit()` ended the session.
    interrupted: Option<String>,
    /// pytest stopped after its collection errors (`Interrupted: N errors during
    /// collection`): explained by the errors recorded, not an interruption.
    collection_stop: bool,
}

impl PytestRecorder {
    /// Start recording. `reports` are `FORMAT=PATH` entries (from `--testflow-report`);
    /// `TESTFLOW_EVENTS`, `TESTFLOW_REPORT` and the configuration file (`run.reports`,
    /// `keep_runs`, the quarantine) are resolved by `RecorderConfig::resolve`.
    pub fn start(
        root: &Path,
        reports: &[String],
        shard: Option<crate::model::ShardInfo>,
    ) -> Result<PytestRecorder> {
        let mut given = Vec::new();
        for r in reports {
            given.extend(crate::recorder::parse_report_list(r)?);
        }
        // The engine resolves the rest (the file, the environment): `settings`.
        let mut config = RecorderConfig::resolve(Framework::Pytest, root.to_owned(), given)?;
        config.shard = shard;
        Ok(PytestRecorder {
            rec: Recorder::start(config)?,
            root: root.to_owned(),
            output_cap: DEFAULT_OUTPUT_CAP,
            state: Mutex::new(State::default()),
        })
    }

    pub fn recorder(&self) -> &Recorder {
        &self.rec
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tests collected (to report those that never ran). `line0` is pytest's 0-based line.
    pub fn collected(&self, items: Vec<(String, Option<u32>)>) {
        self.lock().collected.extend(items);
    }

    /// `pytest_runtest_logstart`. Called again for each pytest-rerunfailures attempt.
    pub fn logstart(&self, nodeid: &str, line0: Option<u32>) -> Result<()> {
        let mut st = self.lock();
        if let Some(prev) = st.open.remove(nodeid) {
            // A new attempt of a test whose attempt is still open: the previous one was re-run.
            self.close(&mut st, prev)?;
        }
        let attempt = st.attempts.get(nodeid).copied().unwrap_or(0) + 1;
        st.attempts.insert(nodeid.to_owned(), attempt);
        let meta = meta(nodeid, line0);
        self.rec.test_started(meta.clone(), attempt)?;
        st.open.insert(
            nodeid.to_owned(),
            Open {
                meta,
                attempt,
                duration_s: 0.0,
                outcome: None,
                failure: None,
                reason: None,
                rerun: false,
                phases: 0,
            },
        );
        Ok(())
    }

    /// `pytest_runtest_logreport`: fold one phase into its test.
    pub fn report(&self, p: &Phase<'_>) -> Result<()> {
        let mut st = self.lock();
        if !st.open.contains_key(p.nodeid) {
            // A report without logstart (xdist crash report, plugins calling the hook directly).
            let attempt = st.attempts.get(p.nodeid).copied().unwrap_or(0) + 1;
            st.attempts.insert(p.nodeid.to_owned(), attempt);
            st.open.insert(
                p.nodeid.to_owned(),
                Open {
                    meta: meta(p.nodeid, None),
                    attempt,
                    duration_s: 0.0,
                    outcome: None,
                    failure: None,
                    reason: None,
                    rerun: false,
                    phases: 0,
                },
            );
        }
        let open = st.open.get_mut(p.nodeid).expect("inserted above");
        open.phases += 1;
        if p.duration.is_finite() && p.duration > 0.0 {
            open.duration_s += p.duration;
        }
        let (outcome, failure, reason) = self.judge(p);
        if p.outcome == "rerun" {
            open.rerun = true;
        }
        if open.outcome.is_none_or(|cur| rank(outcome) > rank(cur)) {
            open.outcome = Some(outcome);
            open.failure = failure;
            open.reason = reason;
        }
        if p.when == "???" {
            // The worker died: no logfinish will come for this test.
            let open = st.open.remove(p.nodeid).expect("present");
            self.close(&mut st, open)?;
        }
        Ok(())
    }

    /// `pytest_runtest_logfinish`: the test's last attempt is complete.
    pub fn logfinish(&self, nodeid: &str) -> Result<()> {
        let mut st = self.lock();
        if let Some(open) = st.open.remove(nodeid) {
            self.close(&mut st, open)?;
        }
        Ok(())
    }

    fn close(&self, st: &mut State, open: Open) -> Result<()> {
        let Open {
            meta,
            attempt,
            duration_s,
            outcome,
            failure,
            reason,
            rerun,
            phases,
        } = open;
        if phases == 0 {
            return Ok(());
        }
        let mut outcome = outcome.unwrap_or(Outcome::Passed);
        if rerun && !outcome.is_failure() {
            outcome = Outcome::Failed;
        }
        // A reason belongs to a skip, an xfail or an xpass only.
        let reason = reason.filter(|_| !outcome.is_failure() && outcome != Outcome::Passed);
        st.done.insert(meta.id.clone());
        st.finals.insert(meta.id.clone(), outcome);
        self.rec.test_finished_with_reason(
            meta,
            attempt,
            outcome,
            duration_s * 1000.0,
            failure,
            reason,
        )
    }

    /// The outcome, failure and reason one phase stands for. A skip, an xfail and an
    /// xpass are not failures: they carry no `failure`, only their reason.
    fn judge(&self, p: &Phase<'_>) -> (Outcome, Option<Failure>, Option<String>) {
        let xfail = p.wasxfail.is_some();
        let outcome = match (p.when, p.outcome) {
            ("???", _) => Outcome::Crashed,
            (_, "passed") if xfail && p.when == "call" => Outcome::Xpassed,
            (_, "passed") => Outcome::Passed,
            (_, "skipped") if xfail => Outcome::Xfailed,
            (_, "skipped") => Outcome::Skipped,
            ("setup" | "teardown", _) => Outcome::Error,
            _ => Outcome::Failed,
        };
        let message = p.message.unwrap_or_default();
        let reason = match outcome {
            Outcome::Xfailed | Outcome::Xpassed => p.wasxfail,
            // pytest's skip longrepr: `Skipped: reason`.
            Outcome::Skipped => Some(message.strip_prefix("Skipped: ").unwrap_or(message)),
            _ => None,
        }
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
        let failure = match outcome {
            Outcome::Passed | Outcome::Xpassed | Outcome::Skipped | Outcome::Xfailed => None,
            _ => Some(self.failure(p)),
        };
        let outcome = match &failure {
            Some(f) if f.category == Category::Timeout && outcome.is_failure() => Outcome::Timeout,
            _ => outcome,
        };
        (outcome, failure, reason)
    }

    fn failure(&self, p: &Phase<'_>) -> Failure {
        let raw = p.message.unwrap_or_default();
        let longrepr = p.longrepr.unwrap_or_default();
        let strict_xpass =
            raw.starts_with("[XPASS(strict)]") || longrepr.starts_with("[XPASS(strict)]");
        let mut category = if strict_xpass {
            Category::Assertion
        } else {
            classify(
                p.when,
                p.exc_type,
                if raw.is_empty() { longrepr } else { raw },
            )
        };
        if p.when == "???" {
            category = Category::Crash;
        }
        // The exception's type name, and nothing else: a strict xpass and a crashed
        // worker raised nothing (the category and message say what happened).
        let kind = if strict_xpass || p.when == "???" {
            None
        } else {
            p.exc_type.map(str::to_owned)
        };
        let mut message = strip_type_prefix(p.exc_type, raw).to_owned();
        if message.is_empty() {
            message = longrepr.lines().next().unwrap_or_default().to_owned();
        }
        if let Some(ctx) = p.subtest.filter(|s| !s.is_empty()) {
            message = format!("[{ctx}] {message}");
        }
        if matches!(p.when, "setup" | "teardown") {
            message = format!("error in {}: {message}", p.when);
        }
        let (expected, actual) =
            if category == Category::Assertion && p.exc_type == Some("AssertionError") {
                super::pytest_assert::expected_actual(
                    p.compare.as_ref(),
                    strip_type_prefix(p.exc_type, raw),
                )
                .unzip()
            } else {
                (None, None)
            };
        let location = p.crash_file.zip(p.crash_line).map(|(f, l)| Location {
            file: self.relative(f),
            line: l,
            column: None,
        });
        let cap = |s: Option<&[u8]>| {
            s.filter(|s| !s.is_empty())
                .map(|s| Captured::from_bytes(s, self.output_cap))
        };
        let stderr = match (
            p.stderr.filter(|s| !s.is_empty()),
            p.log.filter(|s| !s.is_empty()),
        ) {
            (e, Some(log)) => {
                let mut all = e.map(|e| [e, b"\n"].concat()).unwrap_or_default();
                all.extend_from_slice(b"----- captured log -----\n");
                all.extend_from_slice(log);
                Some(all)
            }
            (e, None) => e.map(<[u8]>::to_vec),
        };
        Failure {
            category,
            kind,
            message,
            location,
            expected,
            actual,
            details: Some(longrepr.to_owned()).filter(|d| !d.is_empty()),
            stdout: cap(p.stdout),
            stderr: cap(stderr.as_deref()),
            ..Failure::default()
        }
    }

    /// A path relative to the project root when it is inside it.
    fn relative(&self, path: &str) -> String {
        Path::new(path)
            .strip_prefix(&self.root)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| path.to_owned())
    }

    /// A collection error (`CollectReport` that failed): an `error` entry in category
    /// `import_error`. `message` should name the missing module (`str(exception)`).
    pub fn collect_error(
        &self,
        nodeid: &str,
        exc_type: Option<&str>,
        message: &str,
        longrepr: &str,
    ) -> Result<()> {
        let mut st = self.lock();
        let attempt = st.attempts.get(nodeid).copied().unwrap_or(0).max(1);
        st.attempts.insert(nodeid.to_owned(), attempt);
        // xdist: every worker reports the same error; it is one error.
        if st.done.insert(nodeid.to_owned()) {
            st.collect_errors += 1;
        }
        let mut m = meta(nodeid, None);
        if m.file.is_none() {
            m.file = Some(nodeid.to_owned());
        }
        let message = if message.is_empty() {
            longrepr.lines().next().unwrap_or_default()
        } else {
            message
        };
        let failure = Failure {
            category: collect_category(exc_type),
            kind: exc_type.map(str::to_owned),
            message: format!("collection failed: {message}"),
            details: Some(longrepr.to_owned()).filter(|d| !d.is_empty()),
            ..Failure::default()
        };
        // Same attempt number every time: xdist workers each report the same error once.
        self.rec
            .test_finished(m, attempt, Outcome::Error, 0.0, Some(failure))
    }

    pub fn run_error(&self, kind: &str, message: &str) -> Result<()> {
        self.rec.run_error(kind, message)
    }

    /// `pytest_keyboard_interrupt`: a KeyboardInterrupt (Ctrl-C, or raised by a test) or
    /// `pytest.exit()` ended the session; `message` is pytest's rendering of it.
    pub fn interrupted(&self, message: &str) -> Result<()> {
        let mut st = self.lock();
        if st.collect_errors > 0 && message.contains("during collection") {
            // pytest's own stop after collection errors (it goes through this hook too).
            st.collection_stop = true;
            return Ok(());
        }
        let first = st.interrupted.is_none();
        st.interrupted = Some(message.to_owned());
        drop(st);
        if first {
            self.rec.run_error(
                crate::model::error_kind::RECONCILE,
                &format!("pytest's session was interrupted: {message}"),
            )?;
        }
        Ok(())
    }

    /// End of the session: tests still open never finished. One that was running when
    /// the session was interrupted failed (`interrupted`); any other crashed the process
    /// it ran in (xdist lost it). Never a pass, whatever phases passed before. Tests
    /// collected and never run are recorded as such; with `verdict` (pytest's own view
    /// of the session) the run is reconciled with it; then the run is finished and the
    /// reports written.
    pub fn finish(
        &self,
        completed: bool,
        reason: Option<&str>,
        verdict: Option<&PytestVerdict>,
    ) -> Result<Run> {
        let mut st = self.lock();
        let open: Vec<Open> = st.open.drain().map(|(_, o)| o).collect();
        for mut o in open {
            if o.outcome.is_some_and(Outcome::is_failure) {
                self.close(&mut st, o)?;
                continue;
            }
            o.phases = o.phases.max(1);
            let failure = match &st.interrupted {
                Some(why) => {
                    o.outcome = Some(Outcome::Failed);
                    Failure {
                        category: Category::Interrupted,
                        kind: Some(why.split(':').next().unwrap_or("interrupted").to_owned()),
                        message: format!("the session was interrupted while it ran: {why}"),
                        ..Failure::default()
                    }
                }
                None => {
                    o.outcome = Some(Outcome::Crashed);
                    Failure {
                        category: Category::Crash,
                        message: "started but never finished: the process running it died".into(),
                        ..Failure::default()
                    }
                }
            };
            o.failure = Some(failure);
            self.close(&mut st, o)?;
        }
        // Collected and never run: no result, like planned tests a fail-fast or a run
        // timeout stopped (never `skipped`, which is a verdict pytest did not give): one
        // `not_run` run error with the count, why, and the first few ids.
        let collected = std::mem::take(&mut st.collected);
        let mut seen = HashSet::new();
        let not_run: Vec<String> = collected
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| !st.done.contains(id) && seen.insert(id.clone()))
            .collect();
        if !not_run.is_empty() {
            let why = not_run_reason(&st, reason);
            self.rec.run_error(
                crate::model::error_kind::NOT_RUN,
                &not_run_message(&not_run, &why),
            )?;
        }
        if let Some(v) = verdict {
            let recorded = Recorded {
                finals: &st.finals,
                collect_errors: st.collect_errors,
                interrupted: st.interrupted.is_some(),
            };
            for message in reconcile(&recorded, v) {
                self.rec
                    .run_error(crate::model::error_kind::RECONCILE, &message)?;
            }
        }
        // pytest.exit() can end the session with status OK: it is still not complete.
        let completed = completed && st.interrupted.is_none();
        drop(st);
        self.rec.finish(completed, reason)
    }
}

/// What `cargo testflow run` hands pytest to run the rest after a collection error.
pub const CONTINUE_HINT: &str = "pass pytest's --continue-on-collection-errors to run the other tests anyway (`cargo testflow run -- --continue-on-collection-errors`, or `pytest --testflow --continue-on-collection-errors`)";

/// Why collected tests did not run.
fn not_run_reason(st: &State, reason: Option<&str>) -> String {
    if let Some(why) = &st.interrupted {
        return format!("the session was interrupted: {why}");
    }
    if st.collection_stop || st.collect_errors > 0 && reason.is_none_or(|r| r == "interrupted") {
        // pytest without --continue-on-collection-errors (and without xdist) stops
        // after collecting when any module failed to: "Interrupted: N errors during collection".
        return format!(
            "pytest stopped after {} collection error{} and ran none of the tests it collected; {CONTINUE_HINT}",
            st.collect_errors,
            if st.collect_errors == 1 { "" } else { "s" }
        );
    }
    match reason {
        Some("interrupted") | None => "the session ended before they ran".to_owned(),
        Some(r) => r.to_owned(),
    }
}

fn not_run_message(ids: &[String], why: &str) -> String {
    const SHOWN: usize = 5;
    let mut m = format!(
        "{} collected tests did not run: {why}. Not run: {}",
        ids.len(),
        ids[..ids.len().min(SHOWN)].join(", ")
    );
    if ids.len() > SHOWN {
        m.push_str(&format!(" and {} more", ids.len() - SHOWN));
    }
    m
}

/// The category of a module pytest could not collect: a missing module is an
/// `import_error`; anything else (a syntax error, an exception at import time) kept the
/// module from being built: `build_error`.
pub fn collect_category(exc_type: Option<&str>) -> Category {
    match exc_type.map(|t| t.rsplit('.').next().unwrap_or(t)) {
        Some("ImportError" | "ModuleNotFoundError") | None => Category::ImportError,
        Some(_) => Category::BuildError,
    }
}

/// pytest's own view of a session, handed in by the plugin at its end: the status
/// pytest gave each report (`pytest_report_teststatus`, the words of its terminal
/// summary: `passed`, `failed`, `error`, `skipped`, `xfailed`, `xpassed`, `rerun`, …)
/// and the session's exit status.
#[derive(Clone, Debug, Default)]
pub struct PytestVerdict {
    pub reports: Vec<(String, String)>,
    pub exit_status: i32,
}

/// What the recorder recorded, for [`reconcile`].
pub struct Recorded<'a> {
    pub finals: &'a HashMap<String, Outcome>,
    pub collect_errors: usize,
    pub interrupted: bool,
}

/// pytest's verdict on one test: the worst status of its reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Said {
    Skipped,
    Xfailed,
    Passed,
    Xpassed,
    Failed,
}

impl Said {
    fn parse(status: &str) -> Option<Said> {
        // pytest 9 subtests report as `subtests passed`, `subtests failed`, …
        match status.strip_prefix("subtests ").unwrap_or(status) {
            "passed" => Some(Said::Passed),
            "failed" | "error" => Some(Said::Failed),
            "skipped" => Some(Said::Skipped),
            "xfailed" => Some(Said::Xfailed),
            "xpassed" => Some(Said::Xpassed),
            _ => None, // "" (setup/teardown passed), rerun, deselected, plugins' own words
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Said::Skipped => "skipped",
            Said::Xfailed => "xfailed",
            Said::Passed => "passed",
            Said::Xpassed => "xpassed",
            Said::Failed => "failed",
        }
    }
}

/// pytest's exit statuses (`pytest.ExitCode`).
fn exit_status_name(status: i32) -> &'static str {
    match status {
        0 => "OK",
        1 => "TESTS_FAILED",
        2 => "INTERRUPTED",
        3 => "INTERNAL_ERROR",
        4 => "USAGE_ERROR",
        5 => "NO_TESTS_COLLECTED",
        _ => "unknown",
    }
}

/// Compare what was recorded with pytest's own verdict; one message per disagreement,
/// naming both sides. Being stricter than pytest is a disagreement too (a bug either way),
/// but the dangerous direction is a test recorded green that pytest did not pass.
pub fn reconcile(recorded: &Recorded<'_>, verdict: &PytestVerdict) -> Vec<String> {
    const SHOWN: usize = 5;
    let mut said: HashMap<&str, Said> = HashMap::new();
    for (id, status) in &verdict.reports {
        if let Some(s) = Said::parse(status) {
            let e = said.entry(id.as_str()).or_insert(s);
            *e = (*e).max(s);
        }
    }
    let mut problems: Vec<String> = Vec::new();
    let mut ids: Vec<&String> = recorded.finals.keys().collect();
    ids.sort();
    for id in ids {
        let ours = recorded.finals[id];
        let theirs = said.get(id.as_str()).copied();
        let disagree = match theirs {
            Some(Said::Failed) => !ours.is_failure(),
            Some(_) => ours.is_failure(),
            // No verdict from pytest: only a pass would be unfounded.
            None => ours == Outcome::Passed,
        };
        if disagree {
            problems.push(format!(
                "{id}: pytest said {}, testflow recorded {}",
                theirs.map_or("nothing", Said::as_str),
                ours.as_str()
            ));
        }
    }
    let mut lost: Vec<&&str> = said
        .keys()
        .filter(|id| !recorded.finals.contains_key(**id))
        .collect();
    lost.sort();
    for id in lost {
        problems.push(format!(
            "{id}: pytest said {}, testflow recorded nothing",
            said[*id].as_str()
        ));
    }
    let mut out = Vec::new();
    if !problems.is_empty() {
        let n = problems.len();
        let mut m = format!("{n} tests disagree with pytest's own reports: ");
        m.push_str(&problems[..n.min(SHOWN)].join("; "));
        if n > SHOWN {
            m.push_str(&format!("; and {} more", n - SHOWN));
        }
        out.push(m);
    }
    let ours_failing =
        recorded.finals.values().filter(|o| o.is_failure()).count() + recorded.collect_errors;
    let theirs_failing = said.values().filter(|s| **s == Said::Failed).count();
    let status = verdict.exit_status;
    let name = exit_status_name(status);
    let unexplained = match status {
        0 => (ours_failing > 0 || theirs_failing > 0).then(|| {
            format!(
                "pytest's session ended OK (exit status 0) but {theirs_failing} tests failed by its reports and {ours_failing} by testflow's record"
            )
        }),
        1 => (ours_failing == 0 && theirs_failing == 0).then(|| {
            "pytest's session ended TESTS_FAILED (exit status 1) but no test failed, by its reports or by testflow's record".to_owned()
        }),
        // Collection errors end the session as INTERRUPTED; they are recorded as errors.
        // Any other interruption was recorded when it happened (`interrupted`).
        2 if recorded.collect_errors > 0 || recorded.interrupted => None,
        2 => Some(
            "pytest's session ended INTERRUPTED (exit status 2) with no collection error and no interruption seen".to_owned(),
        ),
        5 => (!recorded.finals.is_empty()).then(|| {
            format!(
                "pytest's session ended NO_TESTS_COLLECTED (exit status 5) but testflow recorded {} tests",
                recorded.finals.len()
            )
        }),
        _ => Some(format!(
            "pytest's session ended {name} (exit status {status}): the results may be incomplete"
        )),
    };
    out.extend(unexplained);
    out
}

// ---------------------------------------------------------------------------------------
// `cargo testflow run` / `list` on a pytest project.

/// Environment variable naming a per-test time limit (seconds) the plugin enforces itself
/// when pytest-timeout is not installed: the test still running at the limit is recorded
/// as `timeout` and the pytest process ends (a whole-process watchdog).
pub const TEST_TIMEOUT_ENV: &str = "TESTFLOW_TEST_TIMEOUT";
/// Environment variable naming a file the plugin writes the collected node ids to (JSON
/// list), for `cargo testflow list`.
pub const COLLECT_ENV: &str = "TESTFLOW_COLLECT";
/// Environment variable naming a file the plugin writes pytest's session exit status to
/// (`{"exit_status": N}`) when the session ends, so the driver can tell a finished
/// session from a process that ended early (`os._exit(0)` in a test).
pub const STATUS_ENV: &str = "TESTFLOW_PYTEST_STATUS";
/// Environment variable choosing the Python interpreter that runs pytest.
pub const PYTHON_ENV: &str = "TESTFLOW_PYTHON";

/// How to install the plugin. pytest-testflow is not on PyPI yet: name the install that
/// works today, never a package name we cannot promise.
const INSTALL_HINT: &str = "pip install <testflow checkout>/python";

/// Is `root` a pytest project? pytest configuration (`pytest.ini`, `[tool.pytest…]` in
/// `pyproject.toml`, `[tool:pytest]` in `setup.cfg`, `[pytest]` in `tox.ini`), a root
/// `conftest.py`, or `test_*.py` / `*_test.py` files in the root, `tests/` or `test/`.
/// Whether `dir` holds a pytest configuration (`pytest.ini`, `[tool.pytest.ini_options]`
/// in pyproject.toml, `[tool:pytest]` in setup.cfg, `[pytest]` in tox.ini): a project
/// root, as pytest's own rootdir search sees it.
pub fn has_config(dir: &Path) -> bool {
    let contains = |file: &str, needle: &str| {
        std::fs::read_to_string(dir.join(file)).is_ok_and(|t| t.contains(needle))
    };
    dir.join("pytest.ini").is_file()
        || contains("pyproject.toml", "[tool.pytest")
        || contains("setup.cfg", "[tool:pytest]")
        || contains("tox.ini", "[pytest]")
}

pub fn is_pytest_project(root: &Path) -> bool {
    if has_config(root) || root.join("conftest.py").is_file() {
        return true;
    }
    [root.to_owned(), root.join("tests"), root.join("test")]
        .iter()
        .any(|dir| {
            std::fs::read_dir(dir).is_ok_and(|rd| {
                rd.flatten().any(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.ends_with(".py")
                        && (name.starts_with("test_") || name.ends_with("_test.py"))
                })
            })
        })
}

/// The Python that runs the project's tests: `$TESTFLOW_PYTHON`, the active virtualenv,
/// the project's `.venv/` or `venv/`, then `python3` / `python` on PATH.
pub fn find_python(root: &Path) -> PathBuf {
    if let Some(p) = std::env::var_os(PYTHON_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let mut candidates = Vec::new();
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV").filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(venv).join("bin/python"));
    }
    candidates.push(root.join(".venv/bin/python"));
    candidates.push(root.join("venv/bin/python"));
    if let Some(c) = candidates.into_iter().find(|c| c.is_file()) {
        return c;
    }
    let on_path = |name: &str| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    };
    on_path("python3")
        .or_else(|| on_path("python"))
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// What the project's Python has installed.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Probe {
    pub pytest: bool,
    pub testflow: bool,
    pub xdist: bool,
    pub timeout: bool,
    pub rerunfailures: bool,
    /// pytest-cov, for `run --coverage`.
    #[serde(default)]
    pub cov: bool,
}

const PROBE: &str = r#"
import importlib.util as u, json
def has(m):
    try:
        return u.find_spec(m) is not None
    except Exception:
        return False
print(json.dumps({"pytest": has("pytest"), "testflow": has("testflow.plugin") and has("testflow._native"),
  "xdist": has("xdist"), "timeout": has("pytest_timeout"), "rerunfailures": has("pytest_rerunfailures"),
  "cov": has("pytest_cov")}))
"#;

pub fn probe(python: &Path, root: &Path) -> Result<Probe> {
    let out = std::process::Command::new(python)
        .args(["-c", PROBE])
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| super::EnvironmentError(format!("cannot run {}: {e}", python.display())))?;
    if !out.status.success() {
        anyhow::bail!(
            "{} failed ({}): {}",
            python.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim())
        .map_err(|e| anyhow::anyhow!("unexpected answer from {}: {e}: {text}", python.display()))
}

fn ready(python: &Path, root: &Path) -> Result<Probe> {
    let probe = probe(python, root)?;
    if !probe.pytest {
        return Err(super::EnvironmentError(format!(
            "pytest is not installed for {} (the Python used for {}); install it with: {py} -m pip install pytest, then the plugin: {py} -m {INSTALL_HINT}",
            python.display(),
            root.display(),
            py = python.display()
        ))
        .into());
    }
    if !probe.testflow {
        return Err(super::EnvironmentError(format!(
            "the pytest-testflow plugin is not installed for {} (the Python used for {}); install it with: {} -m {INSTALL_HINT}  (or choose another Python with ${PYTHON_ENV})",
            python.display(),
            root.display(),
            python.display()
        ))
        .into());
    }
    Ok(probe)
}

/// A `-k` expression from substring filters: each becomes a keyword (pytest matches
/// keywords as case-insensitive substrings of test names).
pub fn keyword_expr(filters: &[String]) -> Option<String> {
    let words: Vec<&str> = filters
        .iter()
        .map(|f| f.trim())
        .filter(|f| !f.is_empty())
        .collect();
    (!words.is_empty()).then(|| words.join(" or "))
}

/// The pytest command line for a run with these options.
/// `workers` is the decision of `frameworks::workers`: with pytest-xdist installed, 1 is
/// `-n 0` (no distribution, even if the project's `addopts` asks for it).
pub fn pytest_args(
    options: &crate::runner::RunOptions,
    probe: &Probe,
    workers: usize,
) -> Vec<String> {
    let mut args = vec!["-m".to_owned(), "pytest".to_owned()];
    if probe.xdist {
        let n = if workers > 1 { workers } else { 0 };
        args.extend(["-n".to_owned(), n.to_string()]);
    }
    if let (Some(t), true) = (options.test_timeout, probe.timeout) {
        args.push(format!("--timeout={}", t.as_secs_f64()));
    }
    if options.retries > 0 && probe.rerunfailures {
        args.push(format!("--reruns={}", options.retries));
    }
    if options.fail_fast {
        args.push("-x".to_owned());
    }
    if let Some(k) = keyword_expr(&options.filters) {
        args.extend(["-k".to_owned(), k]);
    }
    let pass = &options.pass_through;
    if let Some((spec, strategy)) = pass.shard {
        args.push(format!("--testflow-shard={}/{}", spec.index, spec.total));
        args.push(format!("--testflow-shard-strategy={}", strategy.as_str()));
    }
    if pass.order != crate::ordering::Order::Default {
        args.push(format!("--testflow-order={}", pass.order.as_str()));
    }
    if pass.last_failed {
        args.push("--testflow-last-failed".to_owned());
    }
    if let (Some(dir), true) = (&options.coverage_dir, probe.cov) {
        args.extend(coverage_args(dir).0);
    }
    // The user's own arguments come last, so they can override ours.
    args.extend(options.framework_args.iter().cloned());
    args
}

/// pytest as a [`Plugin`](super::Plugin).
pub struct Pytest;

impl super::Plugin for Pytest {
    fn framework(&self) -> Framework {
        Framework::Pytest
    }

    fn detect(&self, d: &super::Detect<'_>) -> Result<Option<Box<dyn super::Suite>>> {
        Ok(PytestSuite::detect(d.root).map(|s| Box::new(s) as Box<dyn super::Suite>))
    }

    fn is_project(&self, dir: &Path) -> bool {
        is_pytest_project(dir)
    }

    fn is_configured_root(&self, dir: &Path) -> bool {
        has_config(dir)
    }

    fn looks_for(&self) -> &'static str {
        "pytest configuration or test_*.py files"
    }

    /// A node id's file: before the first `::`.
    fn file_of<'a>(&self, id: &'a str) -> Option<&'a str> {
        id.find("::").map(|i| &id[..i])
    }

    fn coverage_report(&self) -> &'static str {
        "pytest.json"
    }

    fn junit_group<'a>(&self, t: &'a crate::model::TestCase) -> Option<&'a String> {
        t.file.as_ref().or(t.binary.as_ref())
    }

    /// Like pytest's own junitxml: classname = module path then classes.
    fn junit_names(&self, t: &crate::model::TestCase) -> (String, String) {
        let class: Vec<String> = t
            .file
            .as_deref()
            .map(super::dotted_path)
            .into_iter()
            .chain(t.suite.iter().cloned())
            .collect();
        let class = if class.is_empty() {
            "pytest".to_owned()
        } else {
            class.join(".")
        };
        (t.name.clone(), class)
    }

    fn missing_import(&self, message: &str) -> Option<String> {
        static PY: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(r#"No module named ['"]([^'"]+)['"]"#).expect("valid regex")
        });
        PY.captures(message).map(|c| c[1].to_owned())
    }

    fn install(&self, module: &str) -> (Option<String>, String) {
        // testflow's own packages are not published yet (and a registry's `testflow` is
        // someone else's): name the install that works today.
        if module.split('.').next() == Some("testflow") {
            return (
                Some("pip install <testflow checkout>/python".to_owned()),
                format!(
                    "Python module `{module}` (testflow's pytest plugin, not published yet) is not installed in the environment the tests ran in."
                ),
            );
        }
        let top = module.split('.').next().unwrap_or(module).to_owned();
        (
            Some(format!("pip install {}", pypi_name(&top))),
            format!(
                "Python module `{module}` is not installed in the environment the tests ran in."
            ),
        )
    }
}

/// pytest-cov's arguments and environment for a run whose reports go to `dir`.
pub fn coverage_args(dir: &Path) -> (Vec<String>, Vec<(String, String)>) {
    (
        vec![
            "--cov".into(),
            format!(
                "--cov-report=json:{}",
                dir.join(super::Plugin::coverage_report(&Pytest)).display()
            ),
        ],
        vec![(
            "COVERAGE_FILE".into(),
            dir.join(".coverage.pytest").display().to_string(),
        )],
    )
}

/// Import names whose PyPI distribution is named differently.
fn pypi_name(module: &str) -> &str {
    match module {
        "yaml" => "pyyaml",
        "cv2" => "opencv-python",
        "PIL" => "pillow",
        "sklearn" => "scikit-learn",
        "bs4" => "beautifulsoup4",
        "dateutil" => "python-dateutil",
        "dotenv" => "python-dotenv",
        "jwt" => "pyjwt",
        other => other,
    }
}

pub struct PytestSuite {
    root: PathBuf,
}

impl PytestSuite {
    pub fn detect(root: &Path) -> Option<PytestSuite> {
        is_pytest_project(root).then(|| PytestSuite {
            root: root.to_owned(),
        })
    }
}

impl super::Suite for PytestSuite {
    fn framework(&self) -> Framework {
        Framework::Pytest
    }

    fn units(
        self: Box<Self>,
        ctx: &crate::runner::Ctx,
        _plan: &mut super::Planning<'_>,
    ) -> Result<Vec<Box<dyn crate::runner::Unit>>> {
        let python = find_python(&self.root);
        let probe = ready(&python, &self.root)?;
        let decision = self.workers(ctx, &python, &probe);
        if let Err(e) = super::workers::record(ctx.events_path(), &decision) {
            ctx.warn(format!("cannot record the pytest workers decision: {e:#}"));
        }
        Ok(vec![Box::new(PytestUnit {
            root: self.root,
            args: pytest_args(&ctx.options, &probe, decision.workers),
            python,
            probe,
        })])
    }

    fn shard_items(
        &mut self,
        _echo: &mut (dyn std::io::Write + Send),
    ) -> Result<Option<(Vec<String>, crate::frameworks::Grain)>> {
        Ok(Some((
            self.collect()?.items,
            crate::frameworks::Grain::Test,
        )))
    }

    fn listing(
        &mut self,
        _echo: &mut (dyn std::io::Write + Send),
    ) -> Result<Option<Vec<super::SuiteListing>>> {
        let Collection { items: ids, errors } = self.collect()?;
        let package = self
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut suites = listing_from_ids(&package, &ids);
        // A module pytest could not collect is listed with its error, never dropped.
        suites.extend(errors.into_iter().map(|e| super::SuiteListing {
            id: e.nodeid,
            package: package.clone(),
            kind: "pytest".into(),
            error: Some(format!("collection failed: {}", e.message)),
            ..Default::default()
        }));
        Ok(Some(suites))
    }
}

/// One suite per test file, in collection order, with its tests' node ids.
pub fn listing_from_ids(package: &str, ids: &[String]) -> Vec<super::SuiteListing> {
    let mut files: Vec<(String, Vec<super::ListedTest>)> = Vec::new();
    for id in ids {
        let (file, _, name) = split_nodeid(id);
        let file = file.unwrap_or_default();
        // Skip marks are applied when pytest runs the test: not known here.
        let test = super::ListedTest {
            id: id.clone(),
            name,
            framework: Framework::Pytest,
            file: Some(file.clone()),
            line: None,
            ignored: None,
        };
        match files.iter_mut().find(|(f, _)| *f == file) {
            Some((_, list)) => list.push(test),
            None => files.push((file, vec![test])),
        }
    }
    files
        .into_iter()
        .map(|(file, tests)| super::SuiteListing {
            id: file,
            package: package.to_owned(),
            kind: "pytest".into(),
            tests: tests.len(),
            files: Some(1),
            test_list: tests,
            ..Default::default()
        })
        .collect()
}

/// What `pytest --collect-only` found, as the plugin writes it (`TESTFLOW_COLLECT`).
#[derive(Debug, Default, serde::Deserialize)]
struct Collection {
    items: Vec<String>,
    #[serde(default)]
    errors: Vec<CollectError>,
}

#[derive(Debug, serde::Deserialize)]
struct CollectError {
    nodeid: String,
    message: String,
}

impl<'de> serde::Deserialize<'de> for CollectionFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Either {
            Ids(Vec<String>),
            Full(Collection),
        }
        Ok(CollectionFile(match Either::deserialize(d)? {
            // An older plugin: the node ids only.
            Either::Ids(items) => Collection {
                items,
                errors: Vec::new(),
            },
            Either::Full(c) => c,
        }))
    }
}

struct CollectionFile(Collection);

/// One pytest process for the whole suite; the plugin appends its events to the run's log.
struct PytestUnit {
    root: PathBuf,
    python: PathBuf,
    args: Vec<String>,
    probe: Probe,
}

impl crate::runner::Unit for PytestUnit {
    fn planned_tests(&self) -> usize {
        0
    }

    fn execute(self: Box<Self>, ctx: &crate::runner::Ctx) -> Vec<Box<dyn crate::runner::Unit>> {
        let status_file = ctx
            .events_path()
            .with_file_name(format!("pytest-status-{}.json", crate::store::new_run_id()));
        let mut cmd = std::process::Command::new(&self.python);
        cmd.args(&self.args)
            .current_dir(&self.root)
            .env(crate::recorder::EVENTS_ENV, ctx.events_path())
            .env(STATUS_ENV, &status_file)
            .env_remove(crate::recorder::REPORT_ENV)
            .env_remove(COLLECT_ENV);
        if let (Some(t), false) = (ctx.options.test_timeout, self.probe.timeout) {
            cmd.env(TEST_TIMEOUT_ENV, t.as_secs_f64().to_string());
        }
        if let Some(dir) = &ctx.options.coverage_dir {
            if self.probe.cov {
                cmd.envs(coverage_args(dir).1);
            } else {
                ctx.coverage_note(crate::coverage::collect::unavailable(
                    Framework::Pytest,
                    format!(
                        "pytest-cov is not installed for {}: install it with `{} -m pip install pytest-cov`",
                        self.python.display(),
                        self.python.display()
                    ),
                ));
            }
        }
        for warning in option_warnings(&ctx.options, &self.probe, &self.python) {
            ctx.warn(warning);
        }
        // Without pytest-rerunfailures nothing is retried: no failed attempt is a RETRY.
        let retries = if self.probe.rerunfailures {
            ctx.options.retries
        } else {
            0
        };
        let log_size = || {
            std::fs::metadata(ctx.events_path())
                .map(|m| m.len())
                .unwrap_or(0)
        };
        let before = log_size();
        let result = ctx.following_log_retrying(Framework::Pytest, retries, || {
            ctx.processes.run(cmd, None, ctx.options.output_cap, None)
        });
        match result {
            Err(e) => ctx.run_error(
                "build",
                format!("cannot run {}: {e}", self.python.display()),
            ),
            Ok(out) => {
                // 0 passed, 1 tests failed, 5 nothing collected: the plugin recorded it all.
                // 2 (interrupted / collection errors) is recorded by the plugin too.
                let code = match out.exit {
                    crate::process::ExitKind::Code(c) => Some(c),
                    crate::process::ExitKind::Signal(_) => None,
                };
                let session = std::fs::read_to_string(&status_file)
                    .ok()
                    .map(|t| session_status(&t));
                let _ = std::fs::remove_file(&status_file);
                if let Some(Ok(status)) = &session
                    && let Some(note) = collection_note(status, &self.args)
                {
                    ctx.warn(note);
                }
                let session = session.map(|s| s.map(|s| s.exit_status));
                if out.killed.is_none()
                    && let Some(message) = check_exit(&self.root, code, session)
                {
                    ctx.run_error(crate::model::error_kind::RECONCILE, message);
                }
                if out.killed.is_none() && matches!(code, Some(3 | 4)) || code.is_none() {
                    let stderr = String::from_utf8_lossy(&out.stderr.contiguous()).into_owned();
                    let stdout = String::from_utf8_lossy(&out.stdout.contiguous()).into_owned();
                    let tail: String = format!("{stdout}{stderr}")
                        .lines()
                        .rev()
                        .take(30)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<Vec<_>>()
                        .join("\n");
                    // pytest that recorded nothing could not run the suite (usage or
                    // internal error): a build failure, exit 101. After tests ran, a
                    // strange exit is the crash the plugin already attributed.
                    let recorded = log_size() > before;
                    ctx.run_error(
                        if recorded { "pytest" } else { "build" },
                        format!(
                            "pytest in {} ended with {}:\n{tail}",
                            self.root.display(),
                            out.exit
                        ),
                    );
                }
            }
        }
        vec![]
    }
}

/// How pytest's session ended, from the plugin's status file.
#[derive(Debug, PartialEq, serde::Deserialize)]
struct SessionStatus {
    exit_status: i32,
    /// Modules that failed to collect (older plugins do not say: 0).
    #[serde(default)]
    collect_errors: usize,
}

/// The plugin's status file; `Err` with the text when unreadable.
fn session_status(text: &str) -> Result<SessionStatus, String> {
    serde_json::from_str::<SessionStatus>(text).map_err(|e| format!("{e}: {}", text.trim()))
}

/// Options of `cargo testflow run` that pytest cannot honour without a plugin, and so
/// were not applied: one warning each (not a run error: the verdict is not in doubt).
fn option_warnings(
    options: &crate::runner::RunOptions,
    probe: &Probe,
    python: &Path,
) -> Vec<String> {
    let py = python.display();
    let mut out = Vec::new();
    if options.retries > 0 && !probe.rerunfailures {
        out.push(format!(
            "--retries {} needs pytest-rerunfailures, which is not installed for {py}: pytest tests are not retried (install it with `{py} -m pip install pytest-rerunfailures`)",
            options.retries
        ));
    }
    if options.jobs_given && options.jobs > 1 && !probe.xdist {
        out.push(format!(
            "-j {} needs pytest-xdist, which is not installed for {py}: pytest runs its tests in one process, one at a time (install it with `{py} -m pip install pytest-xdist`)",
            options.jobs
        ));
    }
    out
}

/// pytest alone stops after a collection error; pytest-xdist (or
/// `--continue-on-collection-errors`) runs the other tests. When they ran despite
/// collection errors, say that `-j 1` would not have run them, so the two runs' different
/// `not_run` errors are explained.
fn collection_note(status: &SessionStatus, args: &[String]) -> Option<String> {
    if status.collect_errors == 0 || status.exit_status == 2 {
        return None;
    }
    let n = status.collect_errors;
    let errors = if n == 1 { "error" } else { "errors" };
    if args.iter().any(|a| a == "--continue-on-collection-errors") {
        return None;
    }
    let distributed = args.windows(2).any(|w| w[0] == "-n" && w[1] != "0")
        || args
            .iter()
            .any(|a| a.starts_with("--numprocesses") && a != "--numprocesses=0");
    distributed
        .then(|| {
            format!(
                "pytest could not collect {n} module{s} (recorded as {errors}) and pytest-xdist ran the other tests anyway; \
                 pytest without xdist (`-j 1`) stops after a collection error and runs none of them (a `not_run` run error) \
                 unless given `-- --continue-on-collection-errors`: either way the run fails",
                s = if n == 1 { "" } else { "s" },
            )
        })
}

/// The driver's side of reconciling: pytest's process exit code against the status its
/// session ended with (the plugin reconciled the tests themselves). `code` is None when a
/// signal ended the process (reported elsewhere); `session` None when the plugin never saw
/// the session end.
pub fn check_exit(
    root: &Path,
    code: Option<i32>,
    session: Option<Result<i32, String>>,
) -> Option<String> {
    let code = code?;
    match session {
        None => Some(format!(
            "pytest in {} exited with code {code} ({}) but its session never ended: a test or plugin ended the process early (os._exit, a crash), so its results are incomplete",
            root.display(),
            exit_status_name(code)
        )),
        Some(Err(e)) => Some(format!(
            "pytest in {} exited with code {code}; the session status the testflow plugin wrote is unreadable: {e}",
            root.display()
        )),
        Some(Ok(status)) if status != code => Some(format!(
            "pytest in {} exited with code {code} ({}) but its session ended with status {status} ({})",
            root.display(),
            exit_status_name(code),
            exit_status_name(status)
        )),
        Some(Ok(_)) => None,
    }
}

impl PytestSuite {
    /// Serial or xdist, and why (`frameworks::workers`). Only when the choice is open
    /// (no `-j`, several CPUs, xdist installed) does it read history, or with none,
    /// collect the suite once to count its tests and time a worker's start-up.
    fn workers(
        &self,
        ctx: &crate::runner::Ctx,
        python: &Path,
        probe: &Probe,
    ) -> crate::model::WorkersDecision {
        use super::workers::{Input, Past, XDIST, decide};
        let mut input = Input {
            jobs: ctx.options.jobs,
            jobs_given: ctx.options.jobs_given,
            available: probe.xdist,
            past: None,
            collected: None,
            startup_ms: None,
        };
        if input.jobs_given || input.jobs <= 1 || !input.available {
            return decide(Framework::Pytest, input, XDIST);
        }
        input.past =
            super::workers::past_time(&self.root, Framework::Pytest).map(|(tests, ms, startup)| {
                Past {
                    tests,
                    duration_ms: ms,
                    startup_ms: startup,
                }
            });
        if input.past.is_none() {
            let t0 = std::time::Instant::now();
            if let Ok(c) = self.collect_with(python) {
                input.collected = Some(c.items.len() as u64);
                input.startup_ms = Some(t0.elapsed().as_secs_f64() * 1000.0);
            }
        }
        decide(Framework::Pytest, input, XDIST)
    }

    /// The node ids pytest collects and the modules it could not collect (through the
    /// plugin, with `--collect-only`).
    fn collect(&self) -> Result<Collection> {
        let python = find_python(&self.root);
        ready(&python, &self.root)?;
        self.collect_with(&python)
    }

    fn collect_with(&self, python: &Path) -> Result<Collection> {
        let tmp = std::env::temp_dir().join(format!(
            "testflow-collect-{}-{}.json",
            std::process::id(),
            crate::store::new_run_id()
        ));
        let out = std::process::Command::new(python)
            .args([
                "-m",
                "pytest",
                "--collect-only",
                "-q",
                "-p",
                "no:cacheprovider",
            ])
            .env(COLLECT_ENV, &tmp)
            .env_remove(crate::recorder::EVENTS_ENV)
            .current_dir(&self.root)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", python.display()))?;
        let found = match std::fs::read_to_string(&tmp) {
            Ok(t) => {
                let _ = std::fs::remove_file(&tmp);
                serde_json::from_str::<CollectionFile>(&t)?.0
            }
            Err(_) => anyhow::bail!(
                "pytest could not collect the tests in {} ({}):\n{}",
                self.root.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout).trim()
            ),
        };
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listing_is_one_suite_per_file_with_every_node_id() {
        let ids: Vec<String> = [
            "tests/test_outcomes.py::test_passes",
            "tests/test_outcomes.py::test_params[a b]",
            "tests/test_outcomes.py::TestGroup::test_in_class",
            "tests/test_other.py::test_x[a::b]",
        ]
        .map(str::to_owned)
        .to_vec();
        let suites = listing_from_ids("pytest-basic", &ids);
        let got: Vec<(&str, usize, Option<usize>)> = suites
            .iter()
            .map(|s| (s.id.as_str(), s.tests, s.files))
            .collect();
        assert_eq!(
            got,
            [
                ("tests/test_outcomes.py", 3, Some(1)),
                ("tests/test_other.py", 1, Some(1))
            ]
        );
        let t = &suites[0].test_list[2];
        assert_eq!(t.id, "tests/test_outcomes.py::TestGroup::test_in_class");
        assert_eq!(t.name, "test_in_class");
        assert_eq!(
            t.ignored, None,
            "skip marks are only known when pytest runs"
        );
        assert_eq!(suites[1].test_list[0].name, "test_x[a::b]");
    }

    #[test]
    fn nodeids_split_outside_brackets() {
        let (f, s, n) = split_nodeid("tests/test_a.py::TestC::test_y[a::b c-é]");
        assert_eq!(f.as_deref(), Some("tests/test_a.py"));
        assert_eq!(s, vec!["TestC"]);
        assert_eq!(n, "test_y[a::b c-é]");
        let (f, s, n) = split_nodeid("test_b.py");
        assert_eq!(
            (f.as_deref(), s.len(), n.as_str()),
            (Some("test_b.py"), 0, "test_b.py")
        );
        assert_eq!(meta("a.py::t", Some(4)).line, Some(5), "1-based");
    }

    #[test]
    fn categories_come_from_type_and_phase() {
        assert_eq!(
            classify("call", Some("AssertionError"), "assert 1 == 2"),
            Category::Assertion
        );
        assert_eq!(
            classify("call", Some("ValueError"), "x"),
            Category::RuntimeError
        );
        assert_eq!(
            classify("call", Some("ModuleNotFoundError"), "x"),
            Category::ImportError
        );
        assert_eq!(
            classify("setup", Some("ValueError"), "x"),
            Category::SetupError
        );
        assert_eq!(classify("teardown", None, "x"), Category::SetupError);
        assert_eq!(
            classify("collect", Some("SyntaxError"), "x"),
            Category::BuildError
        );
        assert_eq!(
            classify("collect", Some("ModuleNotFoundError"), "x"),
            Category::ImportError
        );
        assert_eq!(
            classify(
                "call",
                Some("Failed"),
                "Failed: Timeout (>1.0s) from pytest-timeout."
            ),
            Category::Timeout
        );
        assert_eq!(classify("???", None, "worker crashed"), Category::Crash);
    }

    #[test]
    fn type_prefix_is_stripped() {
        assert_eq!(
            strip_type_prefix(Some("ValueError"), "ValueError: boom"),
            "boom"
        );
        assert_eq!(strip_type_prefix(Some("m.E"), "m.E: boom"), "boom");
        assert_eq!(
            strip_type_prefix(Some("AssertionError"), "assert 1 == 2"),
            "assert 1 == 2"
        );
    }

    fn recorder(dir: &Path) -> PytestRecorder {
        PytestRecorder {
            rec: Recorder::start(RecorderConfig {
                framework: Framework::Pytest,
                project_root: dir.to_owned(),
                events: None,
                reports: vec![],
                shard: None,
                keep_runs: crate::history::DEFAULT_KEEP_RUNS,
                quarantine: vec![],
            })
            .unwrap(),
            root: dir.to_owned(),
            output_cap: 1024,
            state: Mutex::new(State::default()),
        }
    }

    fn phase<'a>(id: &'a str, when: &'a str, outcome: &'a str) -> Phase<'a> {
        Phase {
            nodeid: id,
            when,
            outcome,
            duration: 0.001,
            ..Phase::default()
        }
    }

    #[test]
    fn phases_fold_into_one_result_per_test() {
        let dir = tempfile::tempdir().unwrap();
        let r = recorder(dir.path());
        let run_one = |id: &str, phases: &[Phase<'_>]| {
            r.logstart(id, Some(0)).unwrap();
            for p in phases {
                r.report(p).unwrap();
            }
            r.logfinish(id).unwrap();
        };
        run_one(
            "t.py::ok",
            &[
                phase("t.py::ok", "setup", "passed"),
                phase("t.py::ok", "call", "passed"),
                phase("t.py::ok", "teardown", "passed"),
            ],
        );
        let mut fail = phase("t.py::bad", "call", "failed");
        fail.exc_type = Some("ValueError");
        fail.message = Some("ValueError: boom");
        fail.crash_file = Some(dir.path().join("t.py").to_str().unwrap().to_owned().leak());
        fail.crash_line = Some(7);
        fail.stdout = Some(b"out\n");
        run_one(
            "t.py::bad",
            &[
                phase("t.py::bad", "setup", "passed"),
                fail,
                phase("t.py::bad", "teardown", "passed"),
            ],
        );
        let mut setup_err = phase("t.py::fx", "setup", "failed");
        setup_err.exc_type = Some("RuntimeError");
        run_one("t.py::fx", &[setup_err]);
        let mut xf = phase("t.py::xf", "call", "skipped");
        xf.wasxfail = Some("known");
        run_one("t.py::xf", &[xf]);
        let mut to = phase("t.py::slow", "call", "failed");
        to.exc_type = Some("Failed");
        to.message = Some("Failed: Timeout (>0.5s) from pytest-timeout.");
        run_one("t.py::slow", &[to]);
        // rerunfailures: two attempts, the first re-run.
        let mut rerun = phase("t.py::flaky", "call", "rerun");
        rerun.exc_type = Some("AssertionError");
        r.logstart("t.py::flaky", Some(0)).unwrap();
        r.report(&rerun).unwrap();
        r.logstart("t.py::flaky", Some(0)).unwrap();
        r.report(&phase("t.py::flaky", "call", "passed")).unwrap();
        r.logfinish("t.py::flaky").unwrap();
        r.collected(vec![
            ("t.py::ok".into(), Some(0)),
            ("t.py::never".into(), Some(9)),
        ]);
        r.logstart("t.py::dies", Some(0)).unwrap();
        let run = r.finish(true, None, None).unwrap();
        let get = |id: &str| run.tests.iter().find(|t| t.id == id).unwrap();
        assert_eq!(get("t.py::ok").outcome, Outcome::Passed);
        let bad = get("t.py::bad");
        assert_eq!(bad.outcome, Outcome::Failed);
        let f = bad.failure.as_ref().unwrap();
        assert_eq!(
            (f.category, f.kind.as_deref(), f.message.as_str()),
            (Category::RuntimeError, Some("ValueError"), "boom")
        );
        assert_eq!(f.location.as_ref().unwrap().file, "t.py");
        assert_eq!(f.stdout.as_ref().unwrap().text, "out\n");
        assert!((bad.duration_ms - 3.0).abs() < 1e-6, "setup+call+teardown");
        let fx = get("t.py::fx");
        assert_eq!(
            (fx.outcome, fx.failure.as_ref().unwrap().category),
            (Outcome::Error, Category::SetupError)
        );
        assert_eq!(get("t.py::xf").outcome, Outcome::Xfailed);
        let slow = get("t.py::slow");
        assert_eq!(
            (slow.outcome, slow.failure.as_ref().unwrap().category),
            (Outcome::Timeout, Category::Timeout)
        );
        let flaky = get("t.py::flaky");
        assert_eq!(
            (flaky.outcome, flaky.flaky, flaky.attempts.len()),
            (Outcome::Passed, true, 2)
        );
        // Collected, never run: no result (never `skipped`), a `not_run` run error.
        assert!(run.tests.iter().all(|t| t.id != "t.py::never"));
        assert_eq!(get("t.py::dies").outcome, Outcome::Crashed);
        let not_run: Vec<_> = run.errors.iter().filter(|e| e.kind == "not_run").collect();
        assert_eq!(not_run.len(), 1);
        assert_eq!(
            not_run[0].message,
            "1 collected tests did not run: the session ended before they ran. Not run: t.py::never"
        );
    }

    #[test]
    fn text_that_is_not_utf8_is_escaped_not_lost() {
        assert_eq!(safe_text("héllo".as_bytes()), "héllo");
        assert_eq!(safe_text(b"caf\xe9"), "caf\\xe9");
        // A surrogate passed through (surrogatepass) is three invalid bytes.
        assert_eq!(safe_text(b"a\xed\xa0\x80b"), "a\\xed\\xa0\\x80b");
    }

    #[test]
    fn captured_output_that_is_not_utf8_is_kept_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let r = recorder(dir.path());
        r.logstart("t.py::bytes", Some(0)).unwrap();
        let mut p = phase("t.py::bytes", "call", "failed");
        p.exc_type = Some("AssertionError");
        p.message = Some("caf\\xe9");
        p.stdout = Some(b"caf\xe9\n");
        r.report(&p).unwrap();
        r.logfinish("t.py::bytes").unwrap();
        let run = r.finish(true, None, None).unwrap();
        let f = run.tests[0].failure.as_ref().unwrap();
        assert_eq!(run.tests[0].outcome, Outcome::Failed);
        assert_eq!(f.message, "caf\\xe9");
        let out = f.stdout.as_ref().unwrap();
        assert_eq!(out.base64.as_deref(), Some("Y2Fm6Qo="), "the exact bytes");
    }

    #[test]
    fn a_test_open_at_the_end_is_never_passed() {
        let dir = tempfile::tempdir().unwrap();
        let r = recorder(dir.path());
        // KeyboardInterrupt in the call: setup passed, no call report, no logfinish.
        r.logstart("t.py::kbi", Some(0)).unwrap();
        r.report(&phase("t.py::kbi", "setup", "passed")).unwrap();
        r.interrupted("KeyboardInterrupt: ").unwrap();
        // pytest.exit(returncode=0) ends the session OK: still not complete.
        let run = r.finish(true, None, None).unwrap();
        assert!(!run.completed);
        let t = &run.tests[0];
        let f = t.failure.as_ref().unwrap();
        assert_eq!(
            (t.outcome, f.category, f.kind.as_deref()),
            (
                Outcome::Failed,
                Category::Interrupted,
                Some("KeyboardInterrupt")
            )
        );
        assert!(run.errors.iter().any(|e| e.kind == "reconcile"
            && e.message.contains("interrupted")
            && e.message.contains("KeyboardInterrupt")));
        // Without an interruption the process running it died.
        let dir = tempfile::tempdir().unwrap();
        let r = recorder(dir.path());
        r.logstart("t.py::gone", Some(0)).unwrap();
        r.report(&phase("t.py::gone", "setup", "passed")).unwrap();
        let run = r.finish(true, None, None).unwrap();
        assert_eq!(run.tests[0].outcome, Outcome::Crashed);
    }

    fn verdict(reports: &[(&str, &str)], exit_status: i32) -> PytestVerdict {
        PytestVerdict {
            reports: reports
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect(),
            exit_status,
        }
    }

    fn recorded(finals: &[(&str, Outcome)]) -> HashMap<String, Outcome> {
        finals
            .iter()
            .map(|(id, o)| ((*id).to_owned(), *o))
            .collect()
    }

    #[test]
    fn reconcile_agrees_with_pytest_on_an_ordinary_session() {
        let finals = recorded(&[
            ("a::ok", Outcome::Passed),
            ("a::bad", Outcome::Failed),
            ("a::teardown", Outcome::Error),
            ("a::flaky", Outcome::Passed),
            ("a::skip", Outcome::Skipped),
            ("a::slow", Outcome::Timeout),
        ]);
        let rec = Recorded {
            finals: &finals,
            collect_errors: 0,
            interrupted: false,
        };
        let v = verdict(
            &[
                ("a::ok", "passed"),
                ("a::bad", "failed"),
                ("a::teardown", "passed"),
                ("a::teardown", "error"),
                ("a::flaky", "rerun"),
                ("a::flaky", "passed"),
                ("a::skip", "skipped"),
                ("a::slow", "failed"),
            ],
            1,
        );
        assert_eq!(reconcile(&rec, &v), Vec::<String>::new());
    }

    #[test]
    fn reconcile_names_both_sides_of_every_disagreement() {
        let finals = recorded(&[
            ("a::lost_failure", Outcome::Passed),
            ("a::unfounded", Outcome::Passed),
            ("a::stricter", Outcome::Failed),
        ]);
        let rec = Recorded {
            finals: &finals,
            collect_errors: 0,
            interrupted: false,
        };
        let v = verdict(
            &[
                ("a::lost_failure", "failed"),
                ("a::stricter", "passed"),
                ("a::unrecorded", "error"),
            ],
            1,
        );
        let out = reconcile(&rec, &v);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(
            out[0],
            "4 tests disagree with pytest's own reports: a::lost_failure: pytest said failed, testflow recorded passed; \
             a::stricter: pytest said passed, testflow recorded failed; \
             a::unfounded: pytest said nothing, testflow recorded passed; \
             a::unrecorded: pytest said failed, testflow recorded nothing"
        );
    }

    #[test]
    fn reconcile_checks_pytests_exit_status() {
        let passed = recorded(&[("a::ok", Outcome::Passed)]);
        let failed = recorded(&[("a::bad", Outcome::Failed)]);
        let none = HashMap::new();
        let rec = |finals, collect_errors, interrupted| Recorded {
            finals,
            collect_errors,
            interrupted,
        };
        let ok = [("a::ok", "passed")];
        let bad = [("a::bad", "failed")];
        assert!(reconcile(&rec(&passed, 0, false), &verdict(&ok, 0)).is_empty());
        assert_eq!(
            reconcile(&rec(&failed, 0, false), &verdict(&bad, 0)),
            [
                "pytest's session ended OK (exit status 0) but 1 tests failed by its reports and 1 by testflow's record"
            ]
        );
        assert_eq!(
            reconcile(&rec(&passed, 0, false), &verdict(&ok, 1)),
            [
                "pytest's session ended TESTS_FAILED (exit status 1) but no test failed, by its reports or by testflow's record"
            ]
        );
        // Collection errors and interruptions explain INTERRUPTED; nothing else does.
        assert!(reconcile(&rec(&none, 1, false), &verdict(&[], 2)).is_empty());
        assert!(reconcile(&rec(&passed, 0, true), &verdict(&ok, 2)).is_empty());
        assert_eq!(
            reconcile(&rec(&passed, 0, false), &verdict(&ok, 2)).len(),
            1
        );
        for status in [3, 4, 7] {
            let out = reconcile(&rec(&passed, 0, false), &verdict(&ok, status));
            assert_eq!(out.len(), 1, "{status}");
            assert!(
                out[0].contains(&format!("(exit status {status})")),
                "{out:?}"
            );
        }
        assert!(reconcile(&rec(&none, 0, false), &verdict(&[], 5)).is_empty());
        assert_eq!(
            reconcile(&rec(&passed, 0, false), &verdict(&[], 5)).len(),
            2
        );
    }

    #[test]
    fn the_driver_checks_the_process_exit_against_the_session() {
        let root = Path::new("/p");
        assert_eq!(check_exit(root, Some(1), Some(Ok(1))), None);
        assert_eq!(
            check_exit(root, None, None),
            None,
            "a signal is reported elsewhere"
        );
        assert_eq!(
            check_exit(root, Some(0), None).unwrap(),
            "pytest in /p exited with code 0 (OK) but its session never ended: a test or plugin ended the process early (os._exit, a crash), so its results are incomplete"
        );
        assert_eq!(
            check_exit(root, Some(0), Some(Ok(1))).unwrap(),
            "pytest in /p exited with code 0 (OK) but its session ended with status 1 (TESTS_FAILED)"
        );
        let bad = check_exit(
            root,
            Some(0),
            Some(session_status("{oops").map(|s| s.exit_status)),
        )
        .unwrap();
        assert!(bad.contains("unreadable") && bad.contains("{oops"), "{bad}");
    }

    #[test]
    fn collection_errors_are_import_errors_once() {
        let dir = tempfile::tempdir().unwrap();
        let r = recorder(dir.path());
        for _ in 0..2 {
            r.collect_error(
                "tests/test_b.py",
                Some("ModuleNotFoundError"),
                "No module named 'nope'",
                "trace",
            )
            .unwrap();
        }
        r.collect_error(
            "tests/test_c.py",
            Some("SyntaxError"),
            "invalid syntax (test_c.py, line 1)",
            "trace",
        )
        .unwrap();
        r.collected(vec![
            ("tests/test_a.py::t1".into(), Some(0)),
            ("tests/test_a.py::t2".into(), Some(3)),
        ]);
        // pytest stops after collecting, through pytest_keyboard_interrupt: its session
        // ends INTERRUPTED. That is no interruption (no reconcile error).
        r.interrupted("Interrupted: 2 errors during collection")
            .unwrap();
        let run = r.finish(false, Some("interrupted"), None).unwrap();
        assert_eq!(
            run.tests.len(),
            2,
            "the two broken modules, nothing skipped"
        );
        let f = run.tests[0].failure.as_ref().unwrap();
        assert_eq!(
            (run.tests[0].outcome, f.category),
            (Outcome::Error, Category::ImportError)
        );
        assert!(f.message.contains("nope"));
        let f = run.tests[1].failure.as_ref().unwrap();
        assert_eq!(
            (
                run.tests[1].outcome,
                f.category,
                f.kind.as_deref(),
                f.message.as_str()
            ),
            (
                Outcome::Error,
                Category::BuildError,
                Some("SyntaxError"),
                "collection failed: invalid syntax (test_c.py, line 1)"
            )
        );
        assert!(!run.completed);
        let errors: Vec<(&str, &str)> = run
            .errors
            .iter()
            .map(|e| (e.kind.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            errors,
            [(
                "not_run",
                "2 collected tests did not run: pytest stopped after 2 collection errors and ran none of the tests it collected; \
                 pass pytest's --continue-on-collection-errors to run the other tests anyway \
                 (`cargo testflow run -- --continue-on-collection-errors`, or `pytest --testflow --continue-on-collection-errors`). \
                 Not run: tests/test_a.py::t1, tests/test_a.py::t2"
            )]
        );
    }

    #[test]
    fn shard_order_and_last_failed_become_plugin_options() {
        use crate::ordering::Order;
        use crate::shard::{ShardSpec, Strategy};
        let mut options = crate::runner::RunOptions::default();
        assert!(
            !pytest_args(&options, &Probe::default(), 1)
                .iter()
                .any(|a| a.starts_with("--testflow"))
        );
        options.pass_through = crate::runner::PassThrough {
            shard: Some((ShardSpec::parse("3/4").unwrap(), Strategy::Timings)),
            order: Order::FailedFirst,
            last_failed: true,
        };
        let args = pytest_args(&options, &Probe::default(), 1);
        assert_eq!(
            args[args.len() - 4..],
            [
                "--testflow-shard=3/4",
                "--testflow-shard-strategy=timings",
                "--testflow-order=failed-first",
                "--testflow-last-failed",
            ]
        );
    }

    #[test]
    fn options_pytest_cannot_honour_are_warnings_naming_the_plugin() {
        let py = Path::new("/venv/bin/python");
        let options = crate::runner::RunOptions {
            retries: 2,
            jobs: 4,
            jobs_given: true,
            ..Default::default()
        };
        let none = Probe {
            pytest: true,
            testflow: true,
            ..Probe::default()
        };
        let w = option_warnings(&options, &none, py);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].starts_with("--retries 2 needs pytest-rerunfailures")
                && w[0].contains("pip install pytest-rerunfailures")
        );
        assert!(
            w[1].starts_with("-j 4 needs pytest-xdist")
                && w[1].contains("pip install pytest-xdist")
        );
        let args = pytest_args(&options, &none, 4);
        assert!(
            !args.iter().any(|a| a == "-n" || a.starts_with("--reruns")),
            "{args:?}"
        );
        let all = Probe {
            xdist: true,
            rerunfailures: true,
            ..none
        };
        assert!(option_warnings(&options, &all, py).is_empty());
        // The default -j (not asked for) is no reason to warn.
        let default_jobs = crate::runner::RunOptions {
            jobs: 4,
            ..Default::default()
        };
        assert!(option_warnings(&default_jobs, &Probe::default(), py).is_empty());
    }

    #[test]
    fn the_workers_decision_becomes_xdists_n() {
        let options = crate::runner::RunOptions::default();
        let xdist = Probe {
            xdist: true,
            ..Probe::default()
        };
        let n = |probe: &Probe, workers| {
            let args = pytest_args(&options, probe, workers);
            args.windows(2).find(|w| w[0] == "-n").map(|w| w[1].clone())
        };
        assert_eq!(n(&xdist, 3).as_deref(), Some("3"));
        // Serial overrides an `-n` in the project's addopts.
        assert_eq!(n(&xdist, 1).as_deref(), Some("0"));
        assert_eq!(n(&Probe::default(), 3), None, "no xdist, no -n");
        let status = SessionStatus {
            exit_status: 1,
            collect_errors: 1,
        };
        let serial = ["-m", "pytest", "-n", "0"].map(String::from);
        assert_eq!(collection_note(&status, &serial), None, "-n 0 is not xdist");
    }

    #[test]
    fn collection_errors_under_xdist_explain_what_j1_does() {
        let st = |exit_status, collect_errors| SessionStatus {
            exit_status,
            collect_errors,
        };
        let xdist = ["-m", "pytest", "-n", "2"].map(String::from);
        let serial = ["-m", "pytest"].map(String::from);
        let note = collection_note(&st(1, 2), &xdist).unwrap();
        assert!(
            note.contains("could not collect 2 modules")
                && note.contains("--continue-on-collection-errors"),
            "{note}"
        );
        assert_eq!(
            collection_note(&st(2, 2), &serial),
            None,
            "the not_run error says it"
        );
        assert_eq!(collection_note(&st(1, 0), &xdist), None);
        let mut asked = xdist.to_vec();
        asked.push("--continue-on-collection-errors".into());
        assert_eq!(collection_note(&st(1, 1), &asked), None);
        assert_eq!(
            session_status(r#"{"exit_status": 2}"#),
            Ok(st(2, 0)),
            "an older plugin"
        );
    }

    #[test]
    fn skips_and_xfails_carry_their_reason_and_no_failure() {
        let dir = tempfile::tempdir().unwrap();
        let r = recorder(dir.path());
        let run_one = |id: &str, p: Phase<'_>| {
            r.logstart(id, Some(0)).unwrap();
            r.report(&phase(id, "setup", "passed")).unwrap();
            r.report(&p).unwrap();
            r.report(&phase(id, "teardown", "passed")).unwrap();
            r.logfinish(id).unwrap();
        };
        // @pytest.mark.skip(reason=…): the setup phase is skipped, longrepr `Skipped: …`.
        r.logstart("t.py::skip", Some(0)).unwrap();
        let mut skip = phase("t.py::skip", "setup", "skipped");
        skip.message = Some("Skipped: not today");
        skip.exc_type = Some("Skipped");
        r.report(&skip).unwrap();
        r.report(&phase("t.py::skip", "teardown", "passed"))
            .unwrap();
        r.logfinish("t.py::skip").unwrap();
        // xfail (not strict): the call raised, pytest reports it skipped with wasxfail.
        let mut xf = phase("t.py::xf", "call", "skipped");
        xf.wasxfail = Some("known bug");
        xf.exc_type = Some("AssertionError");
        xf.message = Some("assert 1 == 2");
        run_one("t.py::xf", xf);
        // xfail without a reason.
        let mut bare = phase("t.py::bare", "call", "skipped");
        bare.wasxfail = Some("");
        run_one("t.py::bare", bare);
        // xpass (not strict): passed, with the xfail reason.
        let mut xp = phase("t.py::xp", "call", "passed");
        xp.wasxfail = Some("fixed already");
        run_one("t.py::xp", xp);
        // strict xpass: pytest fails the call with a string longrepr and no exception.
        let mut strict = phase("t.py::strict", "call", "failed");
        strict.longrepr = Some("[XPASS(strict)] must fail");
        strict.message = Some("[XPASS(strict)] must fail");
        run_one("t.py::strict", strict);
        let run = r.finish(true, None, None).unwrap();
        let get = |id: &str| run.tests.iter().find(|t| t.id == id).unwrap();
        let seen = |id: &str| {
            let t = get(id);
            (t.outcome, t.failure.is_none(), t.reason.as_deref())
        };
        assert_eq!(
            seen("t.py::skip"),
            (Outcome::Skipped, true, Some("not today"))
        );
        assert_eq!(
            seen("t.py::xf"),
            (Outcome::Xfailed, true, Some("known bug"))
        );
        assert_eq!(seen("t.py::bare"), (Outcome::Xfailed, true, None));
        assert_eq!(
            seen("t.py::xp"),
            (Outcome::Xpassed, true, Some("fixed already"))
        );
        let strict = get("t.py::strict");
        let f = strict.failure.as_ref().unwrap();
        assert_eq!(
            (
                strict.outcome,
                f.category,
                f.kind.as_deref(),
                f.message.as_str()
            ),
            (
                Outcome::Failed,
                Category::Assertion,
                None,
                "[XPASS(strict)] must fail"
            )
        );
        assert_eq!(strict.reason, None);
        assert!(run.errors.is_empty(), "{:?}", run.errors);
    }

    #[test]
    fn a_failed_equality_gets_expected_and_actual_from_the_hook_or_the_message() {
        let dir = tempfile::tempdir().unwrap();
        let r = recorder(dir.path());
        let one = |id: &'static str, message: &'static str, compare| {
            let mut p = phase(id, "call", "failed");
            p.exc_type = Some("AssertionError");
            p.message = Some(message);
            p.compare = compare;
            r.logstart(id, Some(0)).unwrap();
            r.report(&p).unwrap();
            r.logfinish(id).unwrap();
        };
        use super::super::pytest_assert::Compare;
        one(
            "t.py::hook",
            "AssertionError: assert {'a': 1} == {'a': 2}\n  \n  Differing items:",
            Some(Compare {
                op: "==",
                left: "{'a': 1}",
                right: "{'a': 2}",
            }),
        );
        one("t.py::text", "AssertionError: assert 4 == 5", None);
        one("t.py::bare", "AssertionError: assert False", None);
        let run = r.finish(true, None, None).unwrap();
        let ea = |id: &str| {
            let f = run
                .tests
                .iter()
                .find(|t| t.id == id)
                .unwrap()
                .failure
                .clone()
                .unwrap();
            assert_eq!(f.category, Category::Assertion);
            (f.expected, f.actual)
        };
        assert_eq!(
            ea("t.py::hook"),
            (Some("{'a': 2}".into()), Some("{'a': 1}".into()))
        );
        assert_eq!(ea("t.py::text"), (Some("5".into()), Some("4".into())));
        assert_eq!(ea("t.py::bare"), (None, None));
    }
}
