//! The append-only event log a run writes as it goes, and the fold that turns it into a [`Run`].
//!
//! One JSON object per line, written with a single `write` on a file opened for append,
//! so each event is in the kernel the moment it happens: a killed or crashed run keeps
//! everything before its last event, and several processes (pytest-xdist workers) can
//! append to the same log without interleaving inside a line.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::model::{
    Attempt, Category, Environment, Failure, Framework, Outcome, Run, RunError, SCHEMA_VERSION,
    ShardInfo, Summary, TestCase, TestMeta, error_kind, outcome_rank,
};

/// Set by `cargo testflow run` for a plugin it drives: the event log the plugin appends
/// to (it then writes no reports and no history of its own).
pub const EVENTS_ENV: &str = "TESTFLOW_EVENTS";

pub use testflow_schema::events::Event;

/// Appends events to `events.jsonl`, one unbuffered write per event.
pub struct EventLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl EventLog {
    pub fn create(path: &Path) -> Result<EventLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open event log {}", path.display()))?;
        Ok(EventLog {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn append(&self, event: &Event) -> Result<()> {
        let mut line = serde_json::to_vec(event).context("cannot serialize event")?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(&line)
            .with_context(|| format!("cannot write event log {}", self.path.display()))
    }
}

/// A `Run` folded from a log, with what was wrong with the log itself.
#[derive(Debug)]
pub struct Folded {
    pub run: Run,
    /// Unreadable lines, each naming the file and line.
    pub warnings: Vec<String>,
}

pub fn fold_file(path: &Path) -> Result<Folded> {
    let file =
        File::open(path).with_context(|| format!("cannot open event log {}", path.display()))?;
    fold_reader(BufReader::new(file), &path.display().to_string())
}

/// Fold events into a `Run`. Never fails on bad lines: they become warnings naming
/// `source` and the line number. A test started and never finished becomes `crashed`
/// (or `timeout` when the run says it was killed for time). A log without
/// "run finished" gives a run marked incomplete.
pub fn fold_reader(reader: impl Read, source: &str) -> Result<Folded> {
    let mut reader = BufReader::new(reader);
    let mut fold = Fold::default();
    let mut warnings = Vec::new();
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("cannot read {source}"))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let complete = buf.ends_with(b"\n");
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<Event>(text) {
            Ok(ev) => fold.apply(ev),
            Err(e) if !complete => {
                warnings.push(format!("{source}:{line_no}: last line is truncated (the writer stopped mid-event), ignored: {e}"))
            }
            Err(e) => warnings.push(format!("{source}:{line_no}: unreadable event, ignored: {e}")),
        }
    }
    // A line we could not read may have been any event, a failure included: the run
    // cannot be trusted to be green, so it is marked incomplete and fails closed.
    let damaged = !warnings.is_empty();
    if !fold.saw_start {
        anyhow::bail!(
            "{source}: not a testflow event log (no run_started event in {line_no} lines)"
        );
    }
    let mut run = fold.finish();
    for w in &warnings {
        run.errors.push(RunError {
            kind: error_kind::LOG_DAMAGED.into(),
            message: w.clone(),
        });
    }
    if damaged {
        run.completed = false;
    }
    Ok(Folded { run, warnings })
}

#[derive(Default)]
struct TestState {
    meta: Option<TestMeta>,
    attempts: Vec<Attempt>,
    /// Attempt number and start time of an attempt that started and has not finished.
    open: Option<(u32, DateTime<Utc>)>,
    /// The skip / xfail reason reported with an attempt, by attempt number.
    reasons: Vec<(u32, String)>,
}

#[derive(Default)]
struct Fold {
    saw_start: bool,
    run_id: String,
    version: String,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    last_time: Option<DateTime<Utc>>,
    completed: bool,
    finish_reason: Option<String>,
    project_root: Option<String>,
    environment: Environment,
    frameworks: Vec<Framework>,
    shard: Option<ShardInfo>,
    order: Vec<String>,
    tests: HashMap<String, TestState>,
    errors: Vec<RunError>,
    coverage: Option<crate::model::RunCoverage>,
    workers: Vec<crate::model::WorkersDecision>,
    quarantine: Vec<crate::model::QuarantineEntry>,
    affected: Option<crate::model::Affected>,
}

impl Fold {
    fn state(&mut self, id: &str) -> &mut TestState {
        if !self.tests.contains_key(id) {
            self.order.push(id.to_owned());
            self.tests.insert(id.to_owned(), TestState::default());
        }
        self.tests.get_mut(id).expect("inserted above")
    }

    fn apply(&mut self, ev: Event) {
        match ev {
            Event::RunStarted {
                schema_version,
                run_id,
                time,
                testflow_version,
                project_root,
                environment,
                frameworks,
                shard,
            } => {
                if self.shard.is_none() {
                    self.shard = shard;
                }
                if schema_version > SCHEMA_VERSION {
                    self.errors.push(RunError {
                        kind: error_kind::LOG_NEWER.into(),
                        message: format!(
                            "written with schema version {schema_version}, newer than this testflow's {SCHEMA_VERSION}: fields it does not know were ignored"
                        ),
                    });
                }
                // Several writers (xdist workers, shards) may each announce the run: the first one wins.
                if !self.saw_start {
                    self.saw_start = true;
                    self.run_id = run_id;
                    self.started_at = Some(time);
                    self.version = testflow_version;
                    self.project_root = project_root;
                    self.environment = environment;
                }
                for f in frameworks {
                    if !self.frameworks.contains(&f) {
                        self.frameworks.push(f);
                    }
                }
                self.touch(time);
            }
            Event::TestStarted {
                time,
                test,
                attempt,
            } => {
                self.touch(time);
                self.add_framework(test.framework);
                let st = self.state(&test.id);
                st.meta = Some(test);
                st.open = Some((attempt, time));
            }
            Event::TestFinished {
                time,
                test,
                attempt,
                outcome,
                duration_ms,
                failure,
                reason,
                concurrent,
                attachments,
            } => {
                self.touch(time);
                self.add_framework(test.framework);
                let st = self.state(&test.id);
                let started_at = st.open.take().map(|(_, t)| t);
                st.reasons.retain(|(n, _)| *n != attempt);
                if let Some(r) = reason {
                    st.reasons.push((attempt, r));
                }
                // A re-sent attempt number (a worker restarted the test) replaces the earlier
                // record only if it is no better: a failure is never overwritten by a pass.
                // Two results that disagree for one attempt are a run error, not a retry.
                let new = Attempt {
                    attempt,
                    outcome,
                    duration_ms,
                    started_at,
                    failure,
                    concurrent,
                    attachments,
                };
                let mut conflict = None;
                match st.attempts.iter_mut().find(|a| a.attempt == attempt) {
                    Some(old) => {
                        if old.outcome.is_failure() != new.outcome.is_failure() {
                            conflict = Some((old.outcome, new.outcome));
                        }
                        if outcome_rank(new.outcome) >= outcome_rank(old.outcome) {
                            *old = new;
                        }
                    }
                    None => {
                        st.attempts.push(new);
                        st.attempts.sort_by_key(|a| a.attempt);
                    }
                }
                if let Some((a, b)) = conflict {
                    self.errors.push(RunError {
                        kind: error_kind::CONFLICTING_RESULTS.into(),
                        message: format!(
                            "test `{}` attempt {attempt} was reported twice, {} and {}: the failure is kept",
                            test.id,
                            a.as_str(),
                            b.as_str()
                        ),
                    });
                }
                let st = self.state(&test.id);
                st.meta = Some(test);
            }
            Event::RunError {
                time,
                kind,
                message,
            } => {
                self.touch(time);
                self.errors.push(RunError { kind, message });
            }
            Event::Workers { time, decision } => {
                self.touch(time);
                // One decision per framework: a later one (a re-launch) replaces it.
                self.workers.retain(|w| w.framework != decision.framework);
                self.workers.push(decision);
            }
            Event::Coverage { time, coverage } => {
                self.touch(time);
                self.coverage = Some(coverage);
            }
            Event::Quarantine { time, entries } => {
                self.touch(time);
                self.quarantine =
                    crate::quarantine::union([std::mem::take(&mut self.quarantine), entries]);
            }
            Event::RunFinished {
                time,
                completed,
                reason,
            } => {
                self.touch(time);
                self.finished_at = Some(time);
                self.completed = completed;
                self.finish_reason = reason;
            }
            Event::Affected { time, affected } => {
                self.touch(time);
                self.affected = Some(affected);
            }
            Event::Git {
                time,
                commit,
                branch,
                tree,
            } => {
                self.touch(time);
                self.environment.git_commit = commit;
                self.environment.git_branch = branch;
                self.environment.git_tree = tree;
            }
            Event::Unknown => {}
        }
    }

    fn touch(&mut self, t: DateTime<Utc>) {
        if self.last_time.is_none_or(|l| t > l) {
            self.last_time = Some(t);
        }
    }

    fn add_framework(&mut self, f: Framework) {
        if !self.frameworks.contains(&f) {
            self.frameworks.push(f);
        }
    }

    fn finish(mut self) -> Run {
        let started_at = self.started_at.unwrap_or_else(Utc::now);
        let end = self.finished_at.or(self.last_time).unwrap_or(started_at);
        let killed_for_time = self.finish_reason.as_deref() == Some("timeout");
        let interrupted = self.finish_reason.as_deref() == Some("interrupted");
        let mut tests = Vec::with_capacity(self.order.len());
        for id in &self.order {
            let Some(mut st) = self.tests.remove(id) else {
                continue;
            };
            let Some(meta) = st.meta.take() else { continue };
            if let Some((attempt, t0)) = st.open.take() {
                let duration_ms = (end - t0).num_microseconds().unwrap_or(0) as f64 / 1000.0;
                st.attempts.push(unfinished_attempt(
                    attempt,
                    t0,
                    duration_ms,
                    killed_for_time,
                    interrupted,
                ));
            }
            if st.attempts.is_empty() {
                continue;
            }
            let last = st.attempts.last().map(|a| a.attempt);
            let mut case = TestCase::from_attempts(meta, st.attempts);
            case.reason = st
                .reasons
                .into_iter()
                .find(|(n, _)| Some(*n) == last)
                .map(|(_, r)| r);
            tests.push(case);
        }
        if self.finished_at.is_none() {
            self.errors.push(RunError {
                kind: error_kind::INCOMPLETE.into(),
                message: "the run never finished (the process was killed or crashed); results up to that point are kept".into(),
            });
        }
        let duration_ms = (end - started_at).num_microseconds().unwrap_or(0) as f64 / 1000.0;
        Run {
            schema_version: SCHEMA_VERSION,
            run_id: self.run_id,
            testflow_version: self.version,
            started_at,
            finished_at: self.finished_at,
            completed: self.finished_at.is_some() && self.completed,
            project_root: self.project_root,
            environment: self.environment,
            frameworks: self.frameworks,
            shard: self.shard,
            shards: vec![],
            summary: Summary::of(&tests, duration_ms),
            coverage: self.coverage,
            quarantine: crate::quarantine::resolve(self.quarantine, &tests, started_at),
            tests,
            errors: self.errors,
            workers: self.workers,
            affected: self.affected,
        }
    }
}

fn unfinished_attempt(
    attempt: u32,
    t0: DateTime<Utc>,
    duration_ms: f64,
    timeout: bool,
    interrupted: bool,
) -> Attempt {
    let (outcome, category, message) = if timeout {
        (
            Outcome::Timeout,
            Category::Timeout,
            "still running when the run's time limit killed it".to_owned(),
        )
    } else if interrupted {
        (
            Outcome::Skipped,
            Category::Interrupted,
            "interrupted (Ctrl-C) before it finished".to_owned(),
        )
    } else {
        (
            Outcome::Crashed,
            Category::Crash,
            "started but never finished: the process running it died or was killed".to_owned(),
        )
    };
    Attempt {
        attempt,
        outcome,
        duration_ms,
        started_at: Some(t0),
        failure: Some(Failure {
            category,
            message,
            ..Failure::default()
        }),
        concurrent: None,
        attachments: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str) -> TestMeta {
        TestMeta {
            id: id.into(),
            framework: Framework::Rust,
            name: id.into(),
            suite: vec![],
            file: None,
            line: None,
            binary: None,
        }
    }

    fn t(s: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s as i64, 0).unwrap()
    }

    fn start() -> Event {
        Event::RunStarted {
            schema_version: SCHEMA_VERSION,
            run_id: "r1".into(),
            time: t(0),
            testflow_version: "0".into(),
            project_root: None,
            environment: Environment::default(),
            frameworks: vec![Framework::Rust],
            shard: None,
        }
    }

    fn finished(id: &str, attempt: u32, outcome: Outcome, at: u32) -> Event {
        Event::TestFinished {
            time: t(at),
            test: meta(id),
            attempt,
            outcome,
            duration_ms: 5.0,
            failure: None,
            reason: None,
            concurrent: None,
            attachments: vec![],
        }
    }

    fn log(events: &[Event]) -> String {
        events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect()
    }

    #[test]
    fn complete_log_folds_to_complete_run() {
        let text = log(&[
            start(),
            Event::TestStarted {
                time: t(1),
                test: meta("a"),
                attempt: 1,
            },
            finished("a", 1, Outcome::Passed, 2),
            Event::RunFinished {
                time: t(3),
                completed: true,
                reason: None,
            },
        ]);
        let f = fold_reader(text.as_bytes(), "events.jsonl").unwrap();
        assert!(f.run.completed);
        assert!(f.warnings.is_empty());
        assert_eq!(f.run.summary.passed, 1);
        assert_eq!(f.run.summary.duration_ms, 3000.0);
        assert_eq!(f.run.tests[0].attempts[0].started_at, Some(t(1)));
    }

    #[test]
    fn killed_run_names_the_running_test_crashed_and_keeps_the_rest() {
        let mut text = log(&[
            start(),
            Event::TestStarted {
                time: t(1),
                test: meta("a"),
                attempt: 1,
            },
            finished("a", 1, Outcome::Passed, 2),
            Event::TestStarted {
                time: t(2),
                test: meta("b"),
                attempt: 1,
            },
        ]);
        text.push_str(r#"{"event":"test_finished","time":"2023-11-14T22:1"#); // truncated mid-write
        let f = fold_reader(text.as_bytes(), "x/events.jsonl").unwrap();
        assert!(!f.run.completed);
        assert_eq!(f.warnings.len(), 1);
        assert!(
            f.warnings[0].starts_with("x/events.jsonl:5: last line is truncated"),
            "{}",
            f.warnings[0]
        );
        let b = f.run.tests.iter().find(|t| t.id == "b").unwrap();
        assert_eq!(b.outcome, Outcome::Crashed);
        assert_eq!(b.failure.as_ref().unwrap().category, Category::Crash);
        assert_eq!(f.run.summary.passed, 1);
        assert_eq!(f.run.summary.crashed, 1);
    }

    #[test]
    fn run_timeout_marks_running_tests_timeout() {
        let text = log(&[
            start(),
            Event::TestStarted {
                time: t(1),
                test: meta("slow"),
                attempt: 1,
            },
            Event::RunFinished {
                time: t(9),
                completed: false,
                reason: Some("timeout".into()),
            },
        ]);
        let f = fold_reader(text.as_bytes(), "e").unwrap();
        assert!(!f.run.completed);
        assert_eq!(f.run.tests[0].outcome, Outcome::Timeout);
        assert_eq!(f.run.tests[0].duration_ms, 8000.0);
    }

    #[test]
    fn retries_become_attempts_and_flaky() {
        let text = log(&[
            start(),
            finished("a", 1, Outcome::Failed, 1),
            finished("a", 2, Outcome::Passed, 2),
            Event::RunFinished {
                time: t(3),
                completed: true,
                reason: None,
            },
        ]);
        let f = fold_reader(text.as_bytes(), "e").unwrap();
        let a = &f.run.tests[0];
        assert_eq!(a.attempts.len(), 2);
        assert!(a.flaky);
        assert_eq!(a.outcome, Outcome::Passed);
        assert_eq!(f.run.summary.flaky, 1);
    }

    #[test]
    fn garbage_in_the_middle_is_reported_with_its_line_and_skipped() {
        let mut text = log(&[start()]);
        text.push_str("not json\n");
        text.push_str(&log(&[finished("a", 1, Outcome::Passed, 1)]));
        text.push_str("{\"event\":\"from_the_future\",\"x\":1}\n");
        let f = fold_reader(text.as_bytes(), "e").unwrap();
        assert_eq!(f.warnings.len(), 1);
        assert!(f.warnings[0].starts_with("e:2: unreadable event"));
        assert_eq!(f.run.tests.len(), 1);
    }

    #[test]
    fn a_damaged_line_fails_the_run_closed() {
        // A torn `test_finished` of a failed test, then more events: the failure is lost
        // from the log, so the run must never read as green.
        let mut text = log(&[start(), finished("a", 1, Outcome::Passed, 1)]);
        text.push_str(
            r#"{"event":"test_finished","time":"2023-11-14T22:13:21Z","test":{"id":"b","fram"#,
        );
        text.push('\n');
        text.push_str(&log(&[Event::RunFinished {
            time: t(3),
            completed: true,
            reason: None,
        }]));
        let run = fold_reader(text.as_bytes(), "runs/r1/events.jsonl")
            .unwrap()
            .run;
        assert!(!run.completed);
        assert_eq!(run.summary.failures(), 0);
        let e = &run.errors[0];
        assert_eq!(e.kind, error_kind::LOG_DAMAGED);
        assert!(
            e.message.starts_with("runs/r1/events.jsonl:3:"),
            "{}",
            e.message
        );
        assert!(!run.distrust().is_empty());
        let gates = crate::gate::evaluate(&run, &crate::gate::default_gates());
        assert!(!gates.passed);
        assert_ne!(
            crate::verdict::exit_code_for(&run, None),
            crate::exit_code::OK
        );
    }

    #[test]
    fn an_attempt_reported_failed_then_passed_keeps_the_failure() {
        let text = log(&[
            start(),
            finished("a", 1, Outcome::Failed, 1),
            finished("a", 1, Outcome::Passed, 2),
            Event::RunFinished {
                time: t(3),
                completed: true,
                reason: None,
            },
        ]);
        let run = fold_reader(text.as_bytes(), "e").unwrap().run;
        assert_eq!(run.tests[0].outcome, Outcome::Failed);
        assert!(!run.tests[0].flaky);
        assert_eq!(run.errors[0].kind, error_kind::CONFLICTING_RESULTS);
    }

    #[test]
    fn a_null_duration_from_a_careless_writer_reads_as_zero() {
        let mut text = log(&[start()]);
        text.push_str(r#"{"event":"test_finished","time":"2023-11-14T22:13:21Z","test":{"id":"a","framework":"jest","name":"a"},"outcome":"passed","duration_ms":null}"#);
        text.push('\n');
        let f = fold_reader(text.as_bytes(), "e").unwrap();
        assert!(f.warnings.is_empty(), "{:?}", f.warnings);
        assert_eq!(f.run.tests[0].duration_ms, 0.0);
    }

    #[test]
    fn git_answering_after_the_start_fills_the_environment() {
        let git = |commit: &str| Event::Git {
            time: t(2),
            commit: Some(commit.into()),
            branch: Some("main".into()),
            tree: Some("tree1".into()),
        };
        let mut started = start();
        if let Event::RunStarted { environment, .. } = &mut started {
            environment.hostname = Some("h".into());
        }
        let text = log(&[
            started.clone(),
            finished("a", 1, Outcome::Passed, 1),
            git("c1"),
        ]);
        let run = fold_reader(text.as_bytes(), "e").unwrap().run;
        assert_eq!(run.environment.git_commit.as_deref(), Some("c1"));
        assert_eq!(run.environment.git_branch.as_deref(), Some("main"));
        assert_eq!(run.environment.git_tree.as_deref(), Some("tree1"));
        assert_eq!(
            run.environment.hostname.as_deref(),
            Some("h"),
            "the rest is kept"
        );
        // Outside git the event says so: nothing is left from before.
        let none = Event::Git {
            time: t(3),
            commit: None,
            branch: None,
            tree: None,
        };
        let text = log(&[started, git("c1"), none]);
        let run = fold_reader(text.as_bytes(), "e").unwrap().run;
        assert_eq!(run.environment.git_tree, None);
        assert_eq!(run.environment.git_commit, None);
    }

    #[test]
    fn a_file_that_is_not_a_log_is_an_error() {
        let err = fold_reader("hello\n".as_bytes(), "notes.txt").unwrap_err();
        assert!(
            err.to_string()
                .contains("notes.txt: not a testflow event log")
        );
    }
}
