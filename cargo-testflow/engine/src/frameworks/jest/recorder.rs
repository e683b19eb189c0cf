//! The engine side of the Jest reporter (the napi addon's `Recorder`): Jest's hooks
//! turned into tests and attempts, recorded through [`crate::recorder`]. What a Jest result
//! means is `jest`; driving Jest from `cargo testflow run` is `jest` too.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};

use super::*;
use crate::recorder::{Recorder, RecorderConfig};

#[derive(Default)]
struct State {
    /// Per test file (relative to the root).
    files: HashMap<String, FileState>,
    /// Attempts of whole-file entries (a file that failed to run).
    file_entries: HashMap<String, u32>,
}

impl State {
    fn file(&mut self, rel: &str) -> &mut FileState {
        // Looked up for every event: no key allocation once the file is known.
        if !self.files.contains_key(rel) {
            self.files.insert(rel.to_owned(), FileState::default());
        }
        self.files.get_mut(rel).expect("inserted above")
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
        Some(self.recorder.runner_version_refused(e))
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
        let plain = test_id(&rel, &case.ancestor_titles, &case.title);
        let start = {
            let mut st = self.state();
            let fs = st.file(&rel);
            if let Some(t) = case.started_at
                && !fs.early_results.is_empty()
                && fs.early_results.remove(&(plain.clone(), t.to_bits()))
            {
                return Ok(()); // its result is already recorded
            }
            // Which test this is can wait for the result: a retry, the next test with this
            // title, or (another test still open) the file run again after a crash.
            let ambiguous = !fs.retry_candidates(&plain).is_empty()
                || (fs.cursor.get(&plain).is_some_and(|n| *n > 0) && fs.anything_open());
            if ambiguous {
                fs.pending.push(case.clone());
                None
            } else {
                let i = fs.next_occurrence_of(&self.root, case, plain);
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
        let plain = test_id(&rel, &result.case.ancestor_titles, &result.case.title);
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

    /// The finished run judged by the configured gates (see [`Recorder::gate_report`]).
    pub fn gate_report(&self, run: &Run) -> Option<crate::gate::GateReport> {
        self.recorder.gate_report(run)
    }

    pub fn finish(&self, completed: bool, reason: Option<&str>) -> Result<Run> {
        Ok(self.finish_run(None, completed, reason)?.0)
    }
}
