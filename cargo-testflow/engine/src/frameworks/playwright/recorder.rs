//! The engine side of the Playwright reporter (the napi addon's `PlaywrightRecorder`):
//! Playwright Test's reporter hooks turned into tests and attempts, recorded through
//! [`crate::recorder`].
//!
//! Playwright names each test (one per project) with an id that is stable across runs
//! (`TestCase.id`), lists every test of the run in `onBegin` (`suite.allTests()`), and
//! reports every attempt on its own (`onTestBegin`/`onTestEnd` with `result.retry`). The
//! end of the run (`onEnd`: its status and each test's `test.outcome()`) is the
//! authority: a listed test with no result, an outcome Playwright counts differently, a
//! status that contradicts the record, a global timeout or an interrupted run are run
//! errors; an `onExit` with no `onEnd` leaves the run incomplete.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};

use super::{FINISHED_FILE, PlaywrightError, classify_attempt, classify_load_error};
pub use super::{PlaywrightAttachment, PlaywrightResult};
use crate::frameworks::jest::{DUPLICATE_MARK, ID_SEPARATOR, relative_file};
use crate::model::*;
use crate::recorder::{Recorder, RecorderConfig};

/// Console output kept per attempt (each stream), for its failure.
const OUTPUT_CAP: usize = 64 * 1024;

/// One test as Playwright lists it (`TestCase`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlaywrightCase {
    /// `test.id`: unique in the run, stable across runs.
    pub key: String,
    /// `test.location.file` (absolute).
    pub file: String,
    /// The project's name (`''` for the unnamed one).
    pub project: String,
    /// Enclosing `describe` titles, outermost first.
    pub suite: Vec<String>,
    pub title: String,
    pub line: Option<u32>,
}

/// The end of the run (`onEnd(result)`) and Playwright's verdict for every listed test.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlaywrightEnd {
    /// `passed`, `failed`, `timedout` or `interrupted`.
    pub status: String,
    /// `(test.id, test.outcome())`: `expected`, `unexpected`, `flaky` or `skipped`.
    pub outcomes: Vec<(String, String)>,
}

/// Playwright's counts at the end of the run, in the driver's `playwright-finished.json`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlaywrightCounts {
    pub tests: u64,
    pub expected: u64,
    pub unexpected: u64,
    pub flaky: u64,
    pub skipped: u64,
    pub status: String,
}

struct TestState {
    meta: TestMeta,
    /// Attempts recorded (their 1-based numbers) and the latest outcome.
    attempts: Vec<u32>,
    last: Option<Outcome>,
    /// A failed attempt was recorded before the latest.
    failed_before: bool,
    open: Option<u32>,
}

#[derive(Default)]
struct State {
    tests: HashMap<String, TestState>,
    /// Test keys in onBegin's order.
    order: Vec<String>,
    taken: HashSet<String>,
    /// Output by (test key, retry): (stdout, stderr).
    output: HashMap<(String, u32), (String, String)>,
    /// Whole-file entries recorded (files that failed to load).
    file_entries: HashSet<String>,
    /// Errors outside every test (`onError`), counted.
    errors_outside: usize,
    begun: bool,
    projects: usize,
}

/// The engine side of the Playwright reporter.
pub struct PlaywrightRecorder {
    recorder: Recorder,
    root: PathBuf,
    driven: bool,
    state: Mutex<State>,
}

impl PlaywrightRecorder {
    /// `config.project_root`: ids and files are relative to it.
    pub fn start(config: RecorderConfig) -> Result<PlaywrightRecorder> {
        let root = config.project_root.clone();
        let driven = config.events.is_some();
        Ok(PlaywrightRecorder {
            recorder: Recorder::start(config)?,
            root,
            driven,
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

    /// The running Playwright's version: one testflow cannot read is a `build` run error.
    pub fn check_playwright(&self, version: Option<&str>) -> Option<String> {
        let e = super::check_playwright_version(version, &self.root.display().to_string()).err()?;
        Some(self.recorder.runner_version_refused(e))
    }

    /// The id of a test: `<file>#<describe › … › title>`, the project first in brackets
    /// (`<file>#[chromium] › title`) when the run has more than one project; a second test
    /// with the same id is marked `@2`.
    fn give_id(&self, st: &mut State, case: &PlaywrightCase, projects: usize) -> TestMeta {
        if let Some(t) = st.tests.get(&case.key) {
            return t.meta.clone();
        }
        let file = relative_file(&self.root, &case.file);
        let mut path: Vec<String> = Vec::new();
        if projects > 1 {
            path.push(format!("[{}]", case.project));
        }
        path.extend(case.suite.iter().cloned());
        let mut plain = format!("{file}#");
        for p in &path {
            plain.push_str(p);
            plain.push_str(ID_SEPARATOR);
        }
        plain.push_str(&case.title);
        let mut id = plain.clone();
        let mut k = 2;
        while st.taken.contains(&id) {
            id = format!("{plain}{DUPLICATE_MARK}{k}");
            k += 1;
        }
        st.taken.insert(id.clone());
        st.order.push(case.key.clone());
        let meta = TestMeta {
            id,
            framework: Framework::Playwright,
            name: case.title.clone(),
            suite: path,
            file: Some(file),
            line: case.line,
            binary: (projects > 1).then(|| case.project.clone()),
        };
        st.tests.insert(
            case.key.clone(),
            TestState {
                meta: meta.clone(),
                attempts: vec![],
                last: None,
                failed_before: false,
                open: None,
            },
        );
        meta
    }

    /// The ids the tests `cases` (every test of the run, in Playwright's order) get, as
    /// `onBegin` gives them: what `preprocess` hands testflow's shard plan (the door calls
    /// `selection`, which this module cannot name).
    pub fn ids_of(&self, projects: usize, cases: &[PlaywrightCase]) -> Vec<String> {
        let mut scratch = State::default();
        cases
            .iter()
            .map(|c| self.give_id(&mut scratch, c, projects).id)
            .collect()
    }

    /// `onBegin`: every test of the run, in order, with the number of projects (ids name
    /// the project when there is more than one).
    pub fn begin(&self, projects: usize, cases: &[PlaywrightCase]) -> Result<()> {
        let mut st = self.state();
        st.begun = true;
        st.projects = projects;
        for c in cases {
            self.give_id(&mut st, c, projects);
        }
        Ok(())
    }

    fn meta_of_key(&self, key: &str) -> Result<TestMeta> {
        let st = self.state();
        st.tests.get(key).map(|t| t.meta.clone()).with_context(|| {
            format!("Playwright reported test `{key}`, which onBegin did not list")
        })
    }

    /// `onTestBegin`: an attempt starts (`retry` 0 is the first).
    pub fn test_begin(&self, key: &str, retry: u32) -> Result<()> {
        let meta = match self.meta_of_key(key) {
            Ok(m) => m,
            Err(e) => {
                return self
                    .recorder
                    .run_error(error_kind::RECONCILE, &format!("{e:#}"));
            }
        };
        let attempt = retry.saturating_add(1);
        if let Some(t) = self.state().tests.get_mut(key) {
            t.open = Some(attempt);
        }
        self.recorder.test_started(meta, attempt)
    }

    /// `onStdOut`/`onStdErr` of an attempt (kept, capped, for its failure). Output outside
    /// every test is not kept.
    pub fn output(&self, key: Option<&str>, retry: u32, stderr: bool, chunk: &str) {
        let Some(key) = key.filter(|k| !k.is_empty()) else {
            return;
        };
        let mut st = self.state();
        let (out, err) = st.output.entry((key.to_owned(), retry)).or_default();
        let s = if stderr { err } else { out };
        if s.len() < OUTPUT_CAP {
            let mut end = chunk.len().min(OUTPUT_CAP - s.len());
            while !chunk.is_char_boundary(end) {
                end -= 1;
            }
            s.push_str(&chunk[..end]);
        }
    }

    /// `onTestEnd`: one attempt's result, recorded as that attempt.
    pub fn test_end(&self, r: &PlaywrightResult) -> Result<()> {
        let meta = match self.meta_of_key(&r.key) {
            Ok(m) => m,
            Err(e) => {
                return self
                    .recorder
                    .run_error(error_kind::RECONCILE, &format!("{e:#}"));
            }
        };
        let attempt = r.retry.saturating_add(1);
        let (outcome, failure) = classify_attempt(&self.root, r);
        let failure = failure.map(|mut f| {
            if let Some((out, err)) = self.state().output.get(&(r.key.clone(), r.retry)) {
                let cap = |s: &str| {
                    (!s.is_empty()).then(|| Captured::from_bytes(s.as_bytes(), OUTPUT_CAP))
                };
                f.stdout = cap(out);
                f.stderr = cap(err);
            }
            f
        });
        let reason = (outcome == Outcome::Skipped)
            .then(|| r.skip_reason.clone())
            .flatten();
        let attachments: Vec<Attachment> = r
            .attachments
            .iter()
            .filter_map(|a| {
                Some(Attachment {
                    name: a.name.clone(),
                    content_type: a.content_type.clone(),
                    path: relative_file(&self.root, a.path.as_deref()?),
                })
            })
            .collect();
        let started = {
            let mut st = self.state();
            let t = st.tests.get_mut(&r.key).expect("listed");
            let started = t.open.take() == Some(attempt);
            if t.attempts.contains(&attempt) {
                drop(st);
                return self.recorder.run_error(
                    error_kind::RECONCILE,
                    &format!(
                        "test `{}`: Playwright reported attempt {attempt} twice",
                        meta.id
                    ),
                );
            }
            if t.last.is_some_and(Outcome::is_failure) {
                t.failed_before = true;
            }
            t.attempts.push(attempt);
            t.last = Some(outcome);
            started
        };
        if !started {
            self.recorder.test_started(meta.clone(), attempt)?;
        }
        self.recorder.test_finished_with_attachments(
            meta,
            attempt,
            outcome,
            r.duration_ms,
            failure,
            reason,
            attachments,
        )
    }

    /// `onError`: an error outside every test's result. One whose location is a test file
    /// before any test of it ran (its import failed) is a whole-file entry for that file;
    /// any other is a `playwright` run error (global setup, a worker's teardown).
    pub fn error(&self, e: &PlaywrightError) -> Result<()> {
        let file = e
            .location
            .as_ref()
            .map(|l| relative_file(&self.root, &l.file));
        let listed_file = {
            let st = self.state();
            file.as_ref()
                .filter(|f| {
                    !st.file_entries.contains(*f)
                        && !st.tests.values().any(|t| {
                            t.meta.file.as_deref() == Some(f.as_str()) && !t.attempts.is_empty()
                        })
                })
                .cloned()
        };
        let (outcome, failure) = classify_load_error(&self.root, e);
        match listed_file {
            Some(rel) if is_test_file(&rel) => {
                let meta = TestMeta {
                    id: rel.clone(),
                    framework: Framework::Playwright,
                    name: rel.rsplit('/').next().unwrap_or(&rel).to_owned(),
                    suite: vec![],
                    file: Some(rel.clone()),
                    line: None,
                    binary: None,
                };
                self.state().file_entries.insert(rel);
                self.recorder.test_started(meta.clone(), 1)?;
                self.recorder
                    .test_finished(meta, 1, outcome, 0.0, Some(failure))
            }
            _ => {
                self.state().errors_outside += 1;
                let at = failure
                    .location
                    .as_ref()
                    .map(|l| format!(" (at {}:{})", l.file, l.line))
                    .unwrap_or_default();
                self.recorder.run_error(
                    error_kind::PLAYWRIGHT,
                    &format!(
                        "Playwright reported an error outside every test: {}{at}",
                        failure.headline()
                    ),
                )
            }
        }
    }

    pub fn run_error(&self, kind: &str, message: &str) -> Result<()> {
        self.recorder.run_error(kind, message)
    }

    /// The finished run judged by the configured gates (see [`Recorder::gate_report`]).
    pub fn gate_report(&self, run: &Run) -> Option<crate::gate::GateReport> {
        self.recorder.gate_report(run)
    }

    /// `onEnd` (or `None` from `onExit` when `onEnd` never came): check every listed test
    /// and Playwright's status against the record, tell a driver the reporter got here,
    /// end the run (when this recorder owns it). Returns the run and the disagreements.
    pub fn finish_run(&self, end: Option<&PlaywrightEnd>) -> Result<(Run, Vec<String>)> {
        let Some(end) = end else {
            self.recorder.run_error(
                error_kind::RECONCILE,
                "Playwright's process ended before the end of the run (onEnd never ran): \
                 tests that had not run are missing",
            )?;
            return Ok((self.recorder.finish(false, Some("exited"))?, vec![]));
        };
        let mut notes = Vec::new();
        let mut not_run = Vec::new();
        let theirs: BTreeMap<&str, &str> = end
            .outcomes
            .iter()
            .map(|(k, o)| (k.as_str(), o.as_str()))
            .collect();
        let mut counts = PlaywrightCounts {
            status: end.status.clone(),
            ..PlaywrightCounts::default()
        };
        let (begun, has_file_entries, errors_outside) = {
            let st = self.state();
            for key in &st.order {
                let t = &st.tests[key];
                let Some(ours) = t.last else {
                    not_run.push(t.meta.id.clone());
                    continue;
                };
                let ours_says = if ours == Outcome::Skipped {
                    "skipped"
                } else if ours.is_failure() {
                    "unexpected"
                } else if t.failed_before {
                    "flaky"
                } else {
                    "expected"
                };
                match theirs.get(key.as_str()) {
                    None => notes.push(format!(
                        "test `{}` was recorded, and Playwright's end of the run does not list it",
                        t.meta.id
                    )),
                    Some(o) if *o != ours_says => notes.push(format!(
                        "test `{}`: Playwright's outcome is {o}, testflow recorded {ours_says} ({})",
                        t.meta.id,
                        ours.as_str()
                    )),
                    Some(_) => {}
                }
            }
            for (k, o) in &theirs {
                counts.tests += 1;
                match *o {
                    "expected" => counts.expected += 1,
                    "unexpected" => counts.unexpected += 1,
                    "flaky" => counts.flaky += 1,
                    _ => counts.skipped += 1,
                }
                if !st.tests.contains_key(*k) {
                    notes.push(format!(
                        "Playwright's end of the run lists test `{k}`, which onBegin did not"
                    ));
                }
            }
            (st.begun, !st.file_entries.is_empty(), st.errors_outside)
        };
        if !begun {
            notes.push("Playwright ended the run without onBegin: no test was listed".into());
        }
        let recorded_failure = has_file_entries || errors_outside > 0 || {
            let st = self.state();
            st.tests
                .values()
                .any(|t| t.last.is_some_and(Outcome::is_failure))
        };
        match end.status.as_str() {
            "passed" if recorded_failure => notes
                .push("Playwright ended the run as passed, but testflow recorded a failure".into()),
            "failed" if !recorded_failure && not_run.is_empty() => notes.push(
                "Playwright ended the run as failed, but testflow recorded no failure".into(),
            ),
            "passed" | "failed" | "interrupted" => {}
            "timedout" => self.recorder.run_error(
                error_kind::PLAYWRIGHT,
                "Playwright's global timeout (globalTimeout) ended the run: tests that had not \
                 finished are missing",
            )?,
            other => notes.push(format!("Playwright ended the run with status `{other}`")),
        }
        if !not_run.is_empty() {
            let shown: Vec<&str> = not_run.iter().take(5).map(String::as_str).collect();
            self.recorder.run_error(
                error_kind::NOT_RUN,
                &format!(
                    "{} of Playwright's tests did not run (Playwright ended the run as {}): {}{}",
                    not_run.len(),
                    end.status,
                    shown.join(", "),
                    if not_run.len() > shown.len() {
                        ", …"
                    } else {
                        ""
                    }
                ),
            )?;
        }
        for n in &notes {
            self.recorder.run_error(error_kind::RECONCILE, n)?;
        }
        if self.driven {
            let path = self.recorder.events_path().with_file_name(FINISHED_FILE);
            let written = serde_json::to_string(&counts)
                .context("cannot serialize Playwright's counts")
                .and_then(|text| {
                    std::fs::write(&path, text)
                        .with_context(|| format!("cannot write {}", path.display()))
                });
            if let Err(e) = written {
                self.recorder
                    .run_error(error_kind::INTERNAL, &format!("testflow: {e:#}"))?;
            }
        }
        let interrupted = end.status == "interrupted";
        let run = self
            .recorder
            .finish(!interrupted, interrupted.then_some("interrupted"))?;
        Ok((run, notes))
    }
}

/// A file Playwright loads tests from by its default `testMatch` (`*.spec.*`, `*.test.*`);
/// an error anywhere else (global setup, a helper) is a run error of its own.
fn is_test_file(rel: &str) -> bool {
    static TEST_FILE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    !rel.contains("node_modules")
        && crate::frameworks::jest::re(&TEST_FILE, r"\.(spec|test)\.[cm]?[jt]sx?$").is_match(rel)
}
