//! The engine side of the Vitest reporter (the napi addon's `VitestRecorder`): Vitest's
//! reporter hooks turned into tests and attempts, recorded through [`crate::recorder`].
//!
//! Vitest names every test with a task id that is unique in the run, and reports each
//! test once, after its last retry (`diagnostic().retryCount`, one error per failed
//! attempt). The module's end and the run's end (`onTestRunEnd` with every module) are
//! the authority: what they list is checked against what was recorded, what no hook
//! reported is recorded then, and every disagreement is a `reconcile` run error.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};

use super::{FINISHED_FILE, VitestError, classify_errors, classify_module_errors};
use crate::frameworks::jest::{DUPLICATE_MARK, relative_file, test_id};
use crate::model::*;
use crate::recorder::{Recorder, RecorderConfig};

/// Console output kept per test (each stream), for its failure.
const OUTPUT_CAP: usize = 64 * 1024;

/// One test case as the reporter sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VitestCase {
    /// Vitest's task id (unique in the run; stable across runs of the same file).
    pub task_id: String,
    /// The module's id (an absolute path).
    pub file: String,
    /// Enclosing `describe` names, outermost first.
    pub suite: Vec<String>,
    pub name: String,
    /// Vitest's own, with `includeTaskLocation`; else the file's (see [`super::locate`]).
    pub line: Option<u32>,
}

/// A test's final result (`testCase.result()` and `diagnostic()`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VitestResult {
    pub case: VitestCase,
    /// `passed`, `failed`, `skipped` or `pending`.
    pub state: String,
    /// `options.mode`: `run`, `only`, `skip` or `todo`.
    pub mode: String,
    pub duration_ms: f64,
    /// `diagnostic().retryCount`: attempts beyond the first.
    pub retry_count: u32,
    pub errors: Vec<VitestError>,
    /// `ctx.skip(note)`.
    pub note: Option<String>,
}

/// A test module at its end, or as `onTestRunEnd` lists it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VitestModule {
    pub file: String,
    /// `passed`, `failed`, `skipped`, `pending` or `queued`.
    pub state: String,
    /// Errors outside the tests: an import that failed, a failing `beforeAll`/`afterAll`.
    pub errors: Vec<VitestError>,
    /// Every test of the module with its result, in order.
    pub tests: Vec<VitestResult>,
}

/// Vitest's view of the run's end (`onTestRunEnd`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VitestRunEnd {
    pub modules: Vec<VitestModule>,
    pub unhandled: Vec<VitestError>,
    /// `passed`, `failed` or `interrupted`.
    pub reason: String,
}

/// Vitest's counts at the end of the run, in the driver's `vitest-finished.json`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VitestCounts {
    pub tests: u64,
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    pub todo: u64,
    pub modules: u64,
    pub failed_modules: u64,
    pub unhandled_errors: u64,
    pub reason: String,
}

struct TestState {
    meta: TestMeta,
    /// Latest outcome recorded, and the attempts it took.
    last: Option<(Outcome, u32)>,
    started: bool,
    todo: bool,
}

#[derive(Default)]
struct FileState {
    /// Task ids in the order ids were given.
    order: Vec<String>,
    taken: HashSet<String>,
    ended: bool,
    /// A whole-file entry was recorded (its errors).
    file_entry: bool,
}

#[derive(Default)]
struct State {
    tests: HashMap<String, TestState>,
    files: HashMap<String, FileState>,
    /// Console output by task id: (stdout, stderr).
    output: HashMap<String, (String, String)>,
    /// Test lines found in their files, by task id, and the files read for them.
    lines: HashMap<String, u32>,
    located: HashSet<String>,
}

/// The engine side of the Vitest reporter.
pub struct VitestRecorder {
    recorder: Recorder,
    root: PathBuf,
    driven: bool,
    state: Mutex<State>,
}

impl VitestRecorder {
    /// `config.project_root`: ids and files are relative to it.
    pub fn start(config: RecorderConfig) -> Result<VitestRecorder> {
        let root = config.project_root.clone();
        let driven = config.events.is_some();
        Ok(VitestRecorder {
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

    /// The running Vitest's version: one testflow cannot read is a `build` run error.
    pub fn check_vitest(&self, version: Option<&str>) -> Option<String> {
        let e = super::check_vitest_version(version, &self.root.display().to_string()).err()?;
        Some(self.recorder.runner_version_refused(e))
    }

    /// The id of `case`, given at first sight: Jest's `file#describe › title`, the
    /// second and later tests with one full title in a file marked `@2`, `@3`.
    fn meta_of(&self, st: &mut State, case: &VitestCase) -> TestMeta {
        let line = case.line.or_else(|| st.lines.get(&case.task_id).copied());
        if let Some(t) = st.tests.get_mut(&case.task_id) {
            if line.is_some() {
                t.meta.line = line;
            }
            return t.meta.clone();
        }
        let file = relative_file(&self.root, &case.file);
        let plain = test_id(&file, &case.suite, &case.name);
        let fs = st.files.entry(file.clone()).or_default();
        let mut id = plain.clone();
        let mut k = 2;
        while fs.taken.contains(&id) {
            id = format!("{plain}{DUPLICATE_MARK}{k}");
            k += 1;
        }
        fs.taken.insert(id.clone());
        fs.order.push(case.task_id.clone());
        let meta = TestMeta {
            id,
            framework: Framework::Vitest,
            name: case.name.clone(),
            suite: case.suite.clone(),
            file: Some(file),
            line,
            binary: None,
        };
        st.tests.insert(
            case.task_id.clone(),
            TestState {
                meta: meta.clone(),
                last: None,
                started: false,
                todo: false,
            },
        );
        meta
    }

    /// The lines of a module's tests that Vitest gave none (run without
    /// `includeTaskLocation`), from their file, once per file: `cases` are all its tests,
    /// in Vitest's order (needed to tell tests with one title apart).
    fn locate<'c>(&self, st: &mut State, cases: impl Iterator<Item = &'c VitestCase>) {
        let mut by_file: Vec<(&str, Vec<&VitestCase>)> = Vec::new();
        for c in cases {
            match by_file.iter_mut().find(|(f, _)| *f == c.file) {
                Some((_, list)) => list.push(c),
                None => by_file.push((&c.file, vec![c])),
            }
        }
        for (file, list) in by_file {
            if list.iter().all(|c| c.line.is_some()) || !st.located.insert(file.to_owned()) {
                continue;
            }
            let paths: Vec<Vec<&str>> = list
                .iter()
                .map(|c| {
                    c.suite
                        .iter()
                        .map(String::as_str)
                        .chain([c.name.as_str()])
                        .collect()
                })
                .collect();
            let lines = super::locate::lines_in_file(&self.root.join(file), &paths);
            for (c, line) in list.iter().zip(lines) {
                if let Some(line) = line {
                    st.lines.insert(c.task_id.clone(), line);
                }
            }
        }
    }

    /// `onTestModuleCollected`: the module's tests in order, so ids (and duplicate marks)
    /// follow the file's order, not the order tests finish in.
    pub fn module_collected(&self, cases: &[VitestCase]) -> Result<()> {
        let mut st = self.state();
        self.locate(&mut st, cases.iter());
        for c in cases {
            self.meta_of(&mut st, c);
        }
        Ok(())
    }

    /// `onTestCaseReady`: the test's first attempt begins.
    pub fn case_ready(&self, case: &VitestCase) -> Result<()> {
        let meta = {
            let mut st = self.state();
            let meta = self.meta_of(&mut st, case);
            let t = st.tests.get_mut(&case.task_id).expect("just given");
            if t.started || t.last.is_some() {
                return Ok(());
            }
            t.started = true;
            meta
        };
        self.recorder.test_started(meta, 1)
    }

    /// `onUserConsoleLog`: output of the test `task_id` (kept, capped, for its failure).
    pub fn console_log(&self, task_id: Option<&str>, stderr: bool, content: &str) {
        let Some(id) = task_id.filter(|id| !id.is_empty()) else {
            return;
        };
        let mut st = self.state();
        let (out, err) = st.output.entry(id.to_owned()).or_default();
        let s = if stderr { err } else { out };
        if s.len() < OUTPUT_CAP {
            let room = OUTPUT_CAP - s.len();
            let mut end = content.len().min(room);
            while !content.is_char_boundary(end) {
                end -= 1;
            }
            s.push_str(&content[..end]);
        }
    }

    fn with_output(&self, task_id: &str, mut failure: Failure) -> Failure {
        if let Some((out, err)) = self.state().output.get(task_id) {
            let cap =
                |s: &str| (!s.is_empty()).then(|| Captured::from_bytes(s.as_bytes(), OUTPUT_CAP));
            failure.stdout = cap(out);
            failure.stderr = cap(err);
        }
        failure
    }

    /// `onTestCaseResult`: the test's final result, recorded as its attempts (a retried
    /// test: one failed attempt per retry, then the last one's outcome).
    pub fn case_result(&self, r: &VitestResult) -> Result<()> {
        let (meta, started, previous) = {
            let mut st = self.state();
            let meta = self.meta_of(&mut st, &r.case);
            let t = st.tests.get_mut(&r.case.task_id).expect("just given");
            (meta, t.started, t.last)
        };
        let (outcome, attempts) = outcome_of(&self.root, r);
        if let Some((before, _)) = previous {
            // Reported twice: the same verdict is the same result; another is a bug somewhere.
            if before.is_failure() != outcome.is_failure() {
                self.recorder.run_error(
                    error_kind::RECONCILE,
                    &format!(
                        "test `{}`: Vitest reported it {} and then {}",
                        meta.id,
                        before.as_str(),
                        outcome.as_str()
                    ),
                )?;
            }
            return Ok(());
        }
        self.record(&meta, r, outcome, attempts, started)
    }

    fn record(
        &self,
        meta: &TestMeta,
        r: &VitestResult,
        outcome: Outcome,
        attempts: u32,
        started: bool,
    ) -> Result<()> {
        {
            let mut st = self.state();
            if let Some(t) = st.tests.get_mut(&r.case.task_id) {
                t.last = Some((outcome, attempts));
                t.started = true;
                t.todo = r.mode == "todo";
            }
        }
        if outcome == Outcome::Skipped {
            return self.recorder.test_finished_with_reason(
                meta.clone(),
                1,
                Outcome::Skipped,
                0.0,
                None,
                r.note
                    .clone()
                    .or_else(|| (r.mode == "todo").then(|| "todo".to_owned())),
            );
        }
        let per_attempt = r.errors.len() == attempts as usize && attempts > 1;
        // Vitest measures the test over all its attempts: the time goes to the last one.
        for a in 1..=attempts {
            if a > 1 || !started {
                self.recorder.test_started(meta.clone(), a)?;
            }
            let last = a == attempts;
            let (o, failure) = if last && !outcome.is_failure() {
                (outcome, None)
            } else {
                let errors = if per_attempt {
                    &r.errors[a as usize - 1..a as usize]
                } else {
                    &r.errors[..]
                };
                let (o, f) = if r.state == "pending" {
                    pending_failure()
                } else {
                    classify_errors(&self.root, errors)
                };
                (o, Some(self.with_output(&r.case.task_id, f)))
            };
            let ms = if last { r.duration_ms } else { 0.0 };
            self.recorder
                .test_finished(meta.clone(), a, o, ms, failure)?;
        }
        Ok(())
    }

    /// `onTestModuleEnd` (and, for modules it never ended, `onTestRunEnd`): every test
    /// Vitest lists is checked against what was recorded or recorded now, tests recorded
    /// for the file that Vitest does not list are a `reconcile` error, and errors of the
    /// module itself are one entry for the file.
    pub fn module_end(&self, m: &VitestModule) -> Result<()> {
        let rel = relative_file(&self.root, &m.file);
        let mut disagree = Vec::new();
        let mut to_record = Vec::new();
        let listed: HashSet<&str> = m.tests.iter().map(|t| t.case.task_id.as_str()).collect();
        {
            let mut st = self.state();
            if st.files.get(&rel).is_some_and(|f| f.ended) {
                return Ok(());
            }
            // Ids in file order for tests not collected before.
            self.locate(&mut st, m.tests.iter().map(|t| &t.case));
            for t in &m.tests {
                self.meta_of(&mut st, &t.case);
            }
            for r in &m.tests {
                let t = &st.tests[&r.case.task_id];
                match t.last {
                    None => to_record.push((t.meta.clone(), t.started, r)),
                    Some((ours, _)) => {
                        let (theirs, _) = outcome_of(&self.root, r);
                        if theirs.is_failure() != ours.is_failure() {
                            disagree.push(format!(
                                "test `{}`: Vitest's result for {rel} says {}, testflow recorded {}",
                                t.meta.id,
                                r.state,
                                ours.as_str()
                            ));
                        }
                    }
                }
            }
            let fs = st.files.entry(rel.clone()).or_default();
            fs.ended = true;
            let extra: Vec<String> = fs
                .order
                .iter()
                .filter(|id| !listed.contains(id.as_str()))
                .cloned()
                .collect();
            for id in extra {
                if let Some(t) = st.tests.get(&id)
                    && t.last.is_some()
                {
                    disagree.push(format!(
                        "test `{}` was recorded, and Vitest's result for {rel} does not list it",
                        t.meta.id
                    ));
                }
            }
        }
        for (meta, started, r) in to_record {
            let (outcome, attempts) = outcome_of(&self.root, r);
            self.record(&meta, r, outcome, attempts, started)?;
        }
        for d in disagree {
            self.recorder.run_error(error_kind::RECONCILE, &d)?;
        }
        if !m.errors.is_empty() {
            let (outcome, failure) = classify_module_errors(&self.root, &m.errors);
            let meta = TestMeta {
                id: rel.clone(),
                framework: Framework::Vitest,
                name: rel.rsplit('/').next().unwrap_or(&rel).to_owned(),
                suite: vec![],
                file: Some(rel.clone()),
                line: None,
                binary: None,
            };
            self.state().files.entry(rel).or_default().file_entry = true;
            self.recorder.test_started(meta.clone(), 1)?;
            self.recorder
                .test_finished(meta, 1, outcome, 0.0, Some(failure))?;
        } else if m.state == "failed"
            && m.tests
                .iter()
                .all(|t| !outcome_of(&self.root, t).0.is_failure())
        {
            self.recorder.run_error(
                error_kind::RECONCILE,
                &format!("Vitest says {rel} failed, with no failing test and no error of its own"),
            )?;
        }
        Ok(())
    }

    /// What was recorded, counted the way Vitest counts tests (whole-file entries apart).
    fn recorded(&self) -> (u64, u64, u64, u64) {
        let st = self.state();
        let (mut passed, mut failed, mut skipped, mut todo) = (0, 0, 0, 0);
        for t in st.tests.values() {
            match t.last {
                Some((o, _)) if o.is_failure() => failed += 1,
                Some((Outcome::Skipped, _)) if t.todo => todo += 1,
                Some((Outcome::Skipped, _)) => skipped += 1,
                Some(_) => passed += 1,
                None => {}
            }
        }
        (passed, failed, skipped, todo)
    }

    pub fn run_error(&self, kind: &str, message: &str) -> Result<()> {
        self.recorder.run_error(kind, message)
    }

    /// `onTestRunEnd`: end every module Vitest did not end, record its unhandled errors
    /// (`unhandled_error` run errors: the run fails even when every test passed), check
    /// its verdict and counts against the record, tell a driver the reporter got here, and
    /// end the run (when this recorder owns it). Returns the run and the disagreements.
    /// The finished run judged by the configured gates (see [`Recorder::gate_report`]).
    pub fn gate_report(&self, run: &Run) -> Option<crate::gate::GateReport> {
        self.recorder.gate_report(run)
    }

    pub fn finish_run(&self, end: Option<&VitestRunEnd>) -> Result<(Run, Vec<String>)> {
        let Some(end) = end else {
            return Ok((self.recorder.finish(false, Some("exited"))?, vec![]));
        };
        let mut notes = Vec::new();
        let listed: HashSet<String> = end
            .modules
            .iter()
            .map(|m| relative_file(&self.root, &m.file))
            .collect();
        for m in &end.modules {
            self.module_end(m)?;
        }
        {
            let st = self.state();
            let mut missing: Vec<&String> =
                st.files.keys().filter(|f| !listed.contains(*f)).collect();
            missing.sort();
            for f in missing {
                notes.push(format!(
                    "testflow recorded tests of {f}, and Vitest's end of the run does not list it"
                ));
            }
        }
        for e in &end.unhandled {
            let what = e.kind.as_deref().unwrap_or("Unhandled Error");
            let name = e.name.as_deref().unwrap_or("Error");
            let mut m = format!(
                "Vitest caught an error outside every test's result ({what}): {name}: {}",
                e.message.lines().next().unwrap_or("")
            );
            if let Some(p) = &e.test_path {
                m.push_str(&format!(" (in {}", relative_file(&self.root, p)));
                if let Some(t) = &e.test_name {
                    m.push_str(&format!(", while or after running `{t}`"));
                }
                m.push(')');
            }
            if let Some(loc) = e
                .stack
                .as_deref()
                .and_then(|s| super::user_location(&self.root, &strip(s)))
            {
                m.push_str(&format!(" at {}:{}", loc.file, loc.line));
            }
            self.recorder.run_error(error_kind::UNHANDLED_ERROR, &m)?;
        }
        let (passed, failed, skipped, todo) = self.recorded();
        let mut theirs = VitestCounts {
            reason: end.reason.clone(),
            modules: end.modules.len() as u64,
            unhandled_errors: end.unhandled.len() as u64,
            ..VitestCounts::default()
        };
        for m in &end.modules {
            if m.state == "failed" || !m.errors.is_empty() {
                theirs.failed_modules += 1;
            }
            for t in &m.tests {
                theirs.tests += 1;
                match (t.state.as_str(), t.mode.as_str()) {
                    ("passed", _) => theirs.passed += 1,
                    ("skipped", "todo") => theirs.todo += 1,
                    ("skipped", _) => theirs.skipped += 1,
                    _ => theirs.failed += 1,
                }
            }
        }
        if (passed, failed, skipped, todo)
            != (theirs.passed, theirs.failed, theirs.skipped, theirs.todo)
        {
            notes.push(format!(
                "Vitest counted {} passed, {} failed, {} skipped, {} todo; testflow recorded {passed} passed, {failed} failed, {skipped} skipped, {todo} todo",
                theirs.passed, theirs.failed, theirs.skipped, theirs.todo
            ));
        }
        let file_entries = self.state().files.values().filter(|f| f.file_entry).count();
        let tests_failed = failed > 0 || file_entries > 0;
        match end.reason.as_str() {
            "failed" if !tests_failed && end.unhandled.is_empty() => notes.push(
                "Vitest ended the run as failed, but testflow recorded no failure".to_owned(),
            ),
            // Vitest 4 ends a run whose only problem is an unhandled error as `passed` (and
            // exits 1): those are run errors already.
            "passed" if tests_failed => notes.push(format!(
                "Vitest ended the run as passed, but testflow recorded {failed} failing tests"
            )),
            _ => {}
        }
        for n in &notes {
            self.recorder.run_error(error_kind::RECONCILE, n)?;
        }
        if self.driven {
            let path = self.recorder.events_path().with_file_name(FINISHED_FILE);
            let written = serde_json::to_string(&theirs)
                .context("cannot serialize Vitest's counts")
                .and_then(|text| {
                    std::fs::write(&path, text)
                        .with_context(|| format!("cannot write {}", path.display()))
                });
            if let Err(e) = written {
                self.recorder
                    .run_error(error_kind::INTERNAL, &format!("testflow: {e:#}"))?;
            }
        }
        let interrupted = end.reason == "interrupted";
        let run = self
            .recorder
            .finish(!interrupted, interrupted.then_some("interrupted"))?;
        Ok((run, notes))
    }
}

fn strip(s: &str) -> String {
    let s = crate::frameworks::jest::strip_ansi(s);
    crate::frameworks::jest::split_stack(&s).1.to_owned()
}

/// A test Vitest ended while it was still running (its worker died, or the run ended).
fn pending_failure() -> (Outcome, Failure) {
    (
        Outcome::Crashed,
        Failure {
            category: Category::Crash,
            kind: Some("not finished".into()),
            message: "Vitest ended the test's module while the test was still running (its worker may have died)".into(),
            ..Failure::default()
        },
    )
}

/// The test's final outcome and how many attempts it took.
fn outcome_of(root: &Path, r: &VitestResult) -> (Outcome, u32) {
    let attempts = r.retry_count.saturating_add(1);
    match r.state.as_str() {
        "passed" => (Outcome::Passed, attempts),
        "skipped" => (Outcome::Skipped, 1),
        "pending" => (Outcome::Crashed, 1),
        _ => (classify_errors(root, &r.errors).0, attempts),
    }
}
