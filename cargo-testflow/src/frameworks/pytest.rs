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
    pub stdout: Option<&'a str>,
    pub stderr: Option<&'a str>,
    pub log: Option<&'a str>,
    /// pytest 9 subtest context (`msg` and kwargs), when this is a `SubtestReport`.
    pub subtest: Option<&'a str>,
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
        "collect" => return Category::ImportError,
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
}

impl PytestRecorder {
    /// Start recording. `reports` are `FORMAT=PATH` entries (from `--testflow-report`);
    /// `TESTFLOW_EVENTS` and `TESTFLOW_REPORT` are read from the environment.
    pub fn start(root: &Path, reports: &[String]) -> Result<PytestRecorder> {
        let mut config = RecorderConfig::from_env(Framework::Pytest, root.to_owned())?;
        for r in reports {
            config
                .reports
                .extend(crate::recorder::parse_report_list(r)?);
        }
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
        let (outcome, failure) = self.judge(p);
        if p.outcome == "rerun" {
            open.rerun = true;
        }
        if open.outcome.is_none_or(|cur| rank(outcome) > rank(cur)) {
            open.outcome = Some(outcome);
            open.failure = failure;
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
        st.done.insert(meta.id.clone());
        self.rec
            .test_finished(meta, attempt, outcome, duration_s * 1000.0, failure)
    }

    /// The outcome and failure one phase stands for.
    fn judge(&self, p: &Phase<'_>) -> (Outcome, Option<Failure>) {
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
        let failure = match outcome {
            Outcome::Passed => None,
            Outcome::Xpassed => Some(Failure {
                category: Category::Assertion,
                kind: Some("XPASS".into()),
                message: format!("expected to fail but passed: {}", p.wasxfail.unwrap_or("")),
                ..Failure::default()
            }),
            Outcome::Skipped | Outcome::Xfailed => {
                let reason = if outcome == Outcome::Xfailed {
                    p.wasxfail.unwrap_or_default()
                } else {
                    message.strip_prefix("Skipped: ").unwrap_or(message)
                };
                Some(Failure {
                    category: Category::RuntimeError,
                    kind: Some(
                        p.exc_type
                            .filter(|_| outcome == Outcome::Xfailed)
                            .unwrap_or(if outcome == Outcome::Xfailed {
                                "xfail"
                            } else {
                                "skip"
                            })
                            .to_owned(),
                    ),
                    message: reason.to_owned(),
                    ..Failure::default()
                })
            }
            _ => Some(self.failure(p)),
        };
        let outcome = match &failure {
            Some(f) if f.category == Category::Timeout && outcome.is_failure() => Outcome::Timeout,
            _ => outcome,
        };
        (outcome, failure)
    }

    fn failure(&self, p: &Phase<'_>) -> Failure {
        let raw = p.message.unwrap_or_default();
        let longrepr = p.longrepr.unwrap_or_default();
        let strict_xpass = raw.starts_with("[XPASS(strict)]") || longrepr.starts_with("[XPASS(strict)]");
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
        let kind = if strict_xpass {
            Some("XPASS(strict)".to_owned())
        } else if p.when == "???" {
            Some("worker crashed".to_owned())
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
        let location = p.crash_file.zip(p.crash_line).map(|(f, l)| Location {
            file: self.relative(f),
            line: l,
            column: None,
        });
        let cap = |s: Option<&str>| {
            s.filter(|s| !s.is_empty())
                .map(|s| Captured::from_bytes(s.as_bytes(), self.output_cap))
        };
        let stderr = match (
            p.stderr.filter(|s| !s.is_empty()),
            p.log.filter(|s| !s.is_empty()),
        ) {
            (e, Some(log)) => Some(format!(
                "{}----- captured log -----\n{log}",
                e.map(|e| format!("{e}\n")).unwrap_or_default()
            )),
            (e, None) => e.map(str::to_owned),
        };
        Failure {
            category,
            kind,
            message,
            location,
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
        st.done.insert(nodeid.to_owned());
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
            category: Category::ImportError,
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

    /// End of the session: tests still open crashed the process they ran in (xdist
    /// lost them), tests collected and never run are recorded as such; then the run is
    /// finished and the reports written.
    pub fn finish(&self, completed: bool, reason: Option<&str>) -> Result<Run> {
        let mut st = self.lock();
        let open: Vec<Open> = st.open.drain().map(|(_, o)| o).collect();
        for mut o in open {
            if o.phases == 0 {
                // Started and never reported back.
                o.phases = 1;
                o.outcome = Some(Outcome::Crashed);
                o.failure = Some(Failure {
                    category: Category::Crash,
                    message: "started but never finished: the process running it died".into(),
                    ..Failure::default()
                });
            }
            self.close(&mut st, o)?;
        }
        let collected = std::mem::take(&mut st.collected);
        let mut seen = HashSet::new();
        let mut not_run = 0usize;
        for (id, line0) in collected {
            if st.done.contains(&id) || !seen.insert(id.clone()) {
                continue;
            }
            not_run += 1;
            let why = reason.unwrap_or("the session ended before it ran");
            self.rec.test_finished(
                meta(&id, line0),
                1,
                Outcome::Skipped,
                0.0,
                Some(Failure {
                    category: Category::Interrupted,
                    kind: Some("not run".into()),
                    message: format!("collected but never run ({why})"),
                    ..Failure::default()
                }),
            )?;
        }
        if not_run > 0 {
            self.rec
                .run_error("not_run", &format!("{not_run} collected tests did not run"))?;
        }
        drop(st);
        self.rec.finish(completed, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        fail.stdout = Some("out\n");
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
        let run = r.finish(true, None).unwrap();
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
        assert_eq!(
            get("t.py::never").failure.as_ref().unwrap().category,
            Category::Interrupted
        );
        assert_eq!(get("t.py::dies").outcome, Outcome::Crashed);
        assert_eq!(get("t.py::never").line, Some(10));
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
        let run = r.finish(true, None).unwrap();
        assert_eq!(run.tests.len(), 1);
        let f = run.tests[0].failure.as_ref().unwrap();
        assert_eq!(
            (run.tests[0].outcome, f.category),
            (Outcome::Error, Category::ImportError)
        );
        assert!(f.message.contains("nope"));
    }
}
