//! The engine side of the pytest plugin (the pyo3 module's `Recorder`): pytest's
//! per-phase reports folded into one result per node id and recorded through
//! [`crate::recorder`]. What a pytest report means is `pytest`; driving pytest from
//! `cargo testflow run` is `pytest` too.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Result;

use super::*;
use crate::model::*;
use crate::recorder::{Recorder, RecorderConfig};

/// The engine side of the pytest plugin: folds pytest's per-phase reports into one
/// result per node id and records it.
pub struct PytestRecorder {
    pub(crate) rec: Recorder,
    pub(crate) root: PathBuf,
    pub(crate) output_cap: usize,
    pub(crate) state: Mutex<State>,
}

#[derive(Default)]
pub(crate) struct State {
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
            given.extend(crate::recorder::parse_report_list(r).map_err(crate::settings::invalid)?);
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
        let (expected, actual) = if category == Category::Assertion
            && p.exc_type == Some("AssertionError")
        {
            super::compare::expected_actual(p.compare.as_ref(), strip_type_prefix(p.exc_type, raw))
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
    /// The finished run judged by the configured gates (see [`Recorder::gate_report`]).
    pub fn gate_report(&self, run: &Run) -> Option<crate::gate::GateReport> {
        self.rec.gate_report(run)
    }

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

/// Why collected tests did not run.
pub(crate) fn not_run_reason(st: &State, reason: Option<&str>) -> String {
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
