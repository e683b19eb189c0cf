//! The append-only event log a run writes as it goes, and the fold that turns it into a [`Run`].
//!
//! One JSON object per line, written with a single `write` on a file opened for append,
//! so each event is in the kernel the moment it happens: a killed or crashed run keeps
//! everything before its last event, and several processes (pytest-xdist workers) can
//! append to the same log without interleaving inside a line.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, Write};
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

/// Appends events to `events.jsonl`, one unbuffered write per event, and reads the log
/// back as it grows ([`EventLog::catch_up`]) so the run's end folds only what is new.
pub struct EventLog {
    path: PathBuf,
    file: Mutex<File>,
    tail: Mutex<Tail>,
    /// This process folds the log at the end ([`EventLog::run_log`]): the events it
    /// appends itself are folded as they are written, not parsed back.
    folds: bool,
}

impl EventLog {
    /// The log of a run this process owns and folds at its end ([`EventLog::fold`]).
    pub fn run_log(path: &Path) -> Result<EventLog> {
        Ok(EventLog {
            folds: true,
            ..EventLog::create(path)?
        })
    }

    /// A log to append to (another process's run: a driven plugin's).
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
            tail: Mutex::new(Tail::new(&path.display().to_string())),
            folds: false,
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
            .with_context(|| format!("cannot write event log {}", self.path.display()))?;
        if !self.folds {
            return Ok(());
        }
        // Opened for append: the offset is where this line ended, whoever wrote since.
        let end = file.stream_position();
        drop(file);
        // Never waits: a reader holding the tail (a follower showing an event, which
        // may append) reads this line from the file instead.
        if let (Ok(end), Ok(mut tail)) = (end, self.tail.try_lock()) {
            tail.own(end - line.len() as u64, &line, event);
        }
        Ok(())
    }

    fn tail(&self) -> std::sync::MutexGuard<'_, Tail> {
        self.tail.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Folds the whole lines appended since the last look (by this process or any other:
    /// a framework's plugin), showing each event to `seen` first. One reader for the
    /// run: every follower of a framework process shares it, so each line is parsed
    /// once, while the tests run, and [`EventLog::fold`] at the end reads only the rest.
    /// A read that fails is left for the end, which reads again and says so.
    pub fn catch_up(&self, seen: &mut dyn FnMut(&Event)) {
        let mut tail = self.tail();
        let _ = tail.read(&self.path, seen);
    }

    /// The run folded from the whole log: what [`fold_file`] gives, without parsing again
    /// the lines [`EventLog::catch_up`] folded already. Once only: a second call (or a log
    /// whose reader was lost) folds the file from its start.
    pub fn fold(&self) -> Result<Folded> {
        let mut tail = self.tail();
        if tail.spent {
            return fold_file(&self.path);
        }
        tail.read(&self.path, &mut |_| {})?;
        let shrank = tail.shrank(&self.path);
        let tail = std::mem::replace(&mut *tail, Tail::spent(&self.path.display().to_string()));
        let mut folded = tail.lines.finish()?;
        if let Some(message) = shrank {
            folded.warnings.push(message.clone());
            folded.run.errors.push(RunError {
                kind: error_kind::LOG_DAMAGED.into(),
                message,
            });
            folded.run.completed = false;
        }
        Ok(folded)
    }
}

/// The log as read so far: where the next read starts, the unfinished line it ends in,
/// and the fold of every whole line before.
struct Tail {
    file: Option<File>,
    offset: u64,
    pending: Vec<u8>,
    lines: LineFold,
    /// Folded into a run already ([`EventLog::fold`]).
    spent: bool,
}

impl Tail {
    fn new(source: &str) -> Tail {
        Tail {
            file: None,
            offset: 0,
            pending: Vec::new(),
            lines: LineFold::new(source),
            spent: false,
        }
    }

    fn spent(source: &str) -> Tail {
        Tail {
            spent: true,
            ..Tail::new(source)
        }
    }

    fn read(&mut self, path: &Path, seen: &mut dyn FnMut(&Event)) -> Result<()> {
        use std::io::SeekFrom;
        if self.file.is_none() {
            self.file = Some(
                File::open(path)
                    .with_context(|| format!("cannot open event log {}", path.display()))?,
            );
        }
        let file = self.file.as_mut().expect("opened above");
        // What a failed read appended still counts as read: read again, it would be twice.
        let before = self.pending.len();
        let read = file
            .seek(SeekFrom::Start(self.offset))
            .and_then(|_| file.read_to_end(&mut self.pending));
        self.offset += (self.pending.len() - before) as u64;
        read.with_context(|| format!("cannot read {}", path.display()))?;
        // Whole lines only; the unfinished tail waits for the next look (or the end).
        let complete = self
            .pending
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        for line in self.pending[..complete].split_inclusive(|b| *b == b'\n') {
            self.lines.line(line, seen);
        }
        self.pending.drain(..complete);
        Ok(())
    }

    /// A line this process wrote at `start`, folded now when it is the next line to read
    /// (nothing unread before it, no line being written by another process). A test's
    /// start or end is folded as it is (reading it back gives the same event, its
    /// duration being finite); any other event is read from the line, as the file would be.
    fn own(&mut self, start: u64, line: &[u8], event: &Event) {
        if self.spent || !self.pending.is_empty() || self.offset != start {
            return;
        }
        let as_written = match event {
            Event::TestStarted { .. } => true,
            Event::TestFinished { duration_ms, .. } => duration_ms.is_finite(),
            _ => false,
        };
        if as_written {
            self.lines.line_no += 1;
            self.lines.fold.apply(event.clone());
        } else {
            self.lines.line(line, &mut |_| {});
        }
        self.offset += line.len() as u64;
    }

    /// Read to the end: a last line without its newline is the writer stopped mid-event.
    fn finish_pending(&mut self) {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.lines.line(&rest, &mut |_| {});
        }
    }

    /// Whether the file is now shorter than what was read of it: something truncated or
    /// replaced the log during the run, and lines after the cut may be lost.
    fn shrank(&mut self, path: &Path) -> Option<String> {
        self.finish_pending();
        let len = std::fs::metadata(path).map(|m| m.len()).ok()?;
        (len < self.offset).then(|| {
            format!(
                "{}: the event log shrank during the run ({} bytes read, {len} now): something truncated or replaced it, and events may be lost",
                path.display(),
                self.offset
            )
        })
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
    let mut lines = LineFold::new(source);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("cannot read {source}"))?;
        if n == 0 {
            break;
        }
        lines.line(&buf, &mut |_| {});
    }
    lines.finish()
}

/// The fold of a log line by line, as [`fold_reader`] and [`EventLog::fold`] read it.
struct LineFold {
    source: String,
    line_no: usize,
    fold: Fold,
    warnings: Vec<String>,
}

impl LineFold {
    fn new(source: &str) -> LineFold {
        LineFold {
            source: source.to_owned(),
            line_no: 0,
            fold: Fold::default(),
            warnings: Vec::new(),
        }
    }

    /// One line as read, with its newline (none: the log ends inside it).
    fn line(&mut self, buf: &[u8], seen: &mut dyn FnMut(&Event)) {
        self.line_no += 1;
        let complete = buf.ends_with(b"\n");
        let text = String::from_utf8_lossy(buf);
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let (source, line_no) = (&self.source, self.line_no);
        match serde_json::from_str::<Event>(text) {
            Ok(ev) => {
                seen(&ev);
                self.fold.apply(ev);
            }
            Err(e) if !complete => self.warnings.push(format!(
                "{source}:{line_no}: last line is truncated (the writer stopped mid-event), ignored: {e}"
            )),
            Err(e) => self
                .warnings
                .push(format!("{source}:{line_no}: unreadable event, ignored: {e}")),
        }
    }

    fn finish(self) -> Result<Folded> {
        let LineFold {
            source,
            line_no,
            fold,
            warnings,
        } = self;
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
    /// Each test's place in `tests`, which keeps the order tests first appeared in (the
    /// map holds only an index, so growing it moves no test's state).
    index: HashMap<String, usize>,
    tests: Vec<TestState>,
    errors: Vec<RunError>,
    coverage: Option<crate::model::RunCoverage>,
    workers: Vec<crate::model::WorkersDecision>,
    quarantine: Vec<crate::model::QuarantineEntry>,
    affected: Option<crate::model::Affected>,
}

impl Fold {
    fn state(&mut self, id: &str) -> &mut TestState {
        let i = match self.index.get(id) {
            Some(&i) => i,
            None => {
                self.index.insert(id.to_owned(), self.tests.len());
                self.tests.push(TestState::default());
                self.tests.len() - 1
            }
        };
        &mut self.tests[i]
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
        let mut tests = Vec::with_capacity(self.tests.len());
        for mut st in std::mem::take(&mut self.tests) {
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

    /// Writes `bytes` to the end of the log as another process would (not through `append`).
    fn write_raw(path: &Path, bytes: &[u8]) {
        let mut f = OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(bytes).unwrap();
    }

    #[test]
    fn a_log_read_as_it_grows_folds_to_what_the_whole_file_gives() {
        let text = log(&[
            start(),
            Event::TestStarted {
                time: t(1),
                test: meta("a"),
                attempt: 1,
            },
            finished("a", 1, Outcome::Failed, 2),
            Event::TestStarted {
                time: t(2),
                test: meta("a"),
                attempt: 2,
            },
            finished("a", 2, Outcome::Passed, 3),
            Event::TestStarted {
                time: t(3),
                test: meta("b"),
                attempt: 1,
            },
        ]) + "{not an event}\n"
            + &log(&[finished("b", 1, Outcome::Passed, 4)]);
        let bytes = text.as_bytes();
        // Every place a reader can look between two writes, mid-line included.
        for cut in [1, 7, 40, bytes.len() / 2, bytes.len() - 3, bytes.len()] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("events.jsonl");
            let whole = fold_reader(bytes, &path.display().to_string()).unwrap();
            let events = EventLog::create(&path).unwrap();
            write_raw(&path, &bytes[..cut]);
            let mut seen = Vec::new();
            events.catch_up(&mut |e| seen.push(serde_json::to_string(e).unwrap()));
            write_raw(&path, &bytes[cut..]);
            events.catch_up(&mut |e| seen.push(serde_json::to_string(e).unwrap()));
            // Each event shown once, in the log's order.
            let expected: Vec<String> = text
                .lines()
                .filter_map(|l| serde_json::from_str::<Event>(l).ok())
                .map(|e| serde_json::to_string(&e).unwrap())
                .collect();
            assert_eq!(seen, expected, "cut at {cut}");
            let folded = events.fold().unwrap();
            assert_eq!(
                serde_json::to_value(&folded.run).unwrap(),
                serde_json::to_value(&whole.run).unwrap(),
                "cut at {cut}"
            );
            assert_eq!(folded.warnings.len(), 1, "{:?}", folded.warnings);
            assert!(
                folded.warnings[0].contains(":7: unreadable event"),
                "{:?}",
                folded.warnings
            );
            // Asked again, the log is folded from its start: the same run.
            let again = events.fold().unwrap();
            assert_eq!(again.run.tests.len(), whole.run.tests.len());
        }
    }

    #[test]
    fn a_last_line_cut_off_is_named_truncated_at_the_end_and_not_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let events = EventLog::create(&path).unwrap();
        let line = serde_json::to_string(&finished("a", 1, Outcome::Failed, 2)).unwrap();
        write_raw(&path, log(&[start()]).as_bytes());
        write_raw(&path, &line.as_bytes()[..20]);
        let mut seen = 0;
        events.catch_up(&mut |_| seen += 1);
        assert_eq!(seen, 1, "the line being written waits");
        let folded = events.fold().unwrap();
        assert!(!folded.run.completed);
        assert!(
            folded.warnings[0].contains(":2: last line is truncated"),
            "{:?}",
            folded.warnings
        );
    }

    #[test]
    fn a_log_that_shrinks_during_the_run_fails_the_run_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let events = EventLog::create(&path).unwrap();
        events.append(&start()).unwrap();
        events
            .append(&finished("a", 1, Outcome::Failed, 2))
            .unwrap();
        events.catch_up(&mut |_| {});
        // A test cuts the log short: the failure it held is gone from the file.
        std::fs::write(&path, log(&[start()])).unwrap();
        let folded = events.fold().unwrap();
        assert!(!folded.run.completed);
        let damaged: Vec<_> = folded
            .run
            .errors
            .iter()
            .filter(|e| e.kind == error_kind::LOG_DAMAGED)
            .collect();
        assert_eq!(damaged.len(), 1, "{:?}", folded.run.errors);
        assert!(
            damaged[0].message.contains("shrank during the run"),
            "{damaged:?}"
        );
    }

    #[test]
    fn a_run_log_folds_its_own_events_as_written_and_the_others_read_back_alike() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let events = EventLog::run_log(&path).unwrap();
        let started = |id: &str, at| Event::TestStarted {
            time: t(at),
            test: meta(id),
            attempt: 1,
        };
        let mut nan = finished("c", 1, Outcome::Passed, 6);
        if let Event::TestFinished { duration_ms, .. } = &mut nan {
            *duration_ms = f64::NAN; // written as null, read back as 0
        }
        events.append(&start()).unwrap();
        events.append(&started("a", 1)).unwrap();
        // Another process's line: ours after it wait for the next read.
        write_raw(&path, log(&[started("b", 2)]).as_bytes());
        events
            .append(&finished("a", 1, Outcome::Failed, 3))
            .unwrap();
        let mut seen = Vec::new();
        events.catch_up(&mut |e| seen.push(serde_json::to_string(e).unwrap()));
        assert_eq!(
            seen.len(),
            2,
            "what this process wrote is not shown again: {seen:?}"
        );
        events
            .append(&finished("b", 1, Outcome::Passed, 4))
            .unwrap();
        events.append(&started("c", 5)).unwrap();
        events.append(&nan).unwrap();
        events
            .append(&Event::RunFinished {
                time: t(7),
                completed: true,
                reason: None,
            })
            .unwrap();
        let whole = fold_file(&path).unwrap();
        let folded = events.fold().unwrap();
        assert_eq!(
            serde_json::to_value(&folded.run).unwrap(),
            serde_json::to_value(&whole.run).unwrap()
        );
        assert!(folded.run.completed, "{:?}", folded.run.errors);
        assert_eq!(folded.run.tests.len(), 3);
        assert_eq!(folded.run.tests[2].duration_ms, 0.0);
    }

    #[test]
    fn writers_and_a_reader_at_once_fold_to_what_the_file_holds() {
        // The run's own threads append, another process's log handle appends, and a
        // follower reads, all at once: however they interleave, the fold at the end is the
        // fold of the file, and every event of the other writer is shown exactly once.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let events = std::sync::Arc::new(EventLog::run_log(&path).unwrap());
        events.append(&start()).unwrap();
        let plugin = EventLog::create(&path).unwrap();
        let shown = std::sync::atomic::AtomicUsize::new(0);
        let done = std::sync::atomic::AtomicBool::new(false);
        let one_test = |log: &EventLog, id: String| {
            log.append(&Event::TestStarted {
                time: t(1),
                test: meta(&id),
                attempt: 1,
            })
            .unwrap();
            log.append(&finished(&id, 1, Outcome::Passed, 2)).unwrap();
        };
        std::thread::scope(|s| {
            let mut writers = Vec::new();
            for w in 0..2 {
                let events = &events;
                writers.push(s.spawn(move || {
                    for i in 0..300 {
                        one_test(events, format!("own{w}-{i}"));
                    }
                }));
            }
            writers.push(s.spawn(|| {
                for i in 0..300 {
                    one_test(&plugin, format!("plugin-{i}"));
                }
            }));
            s.spawn(|| {
                let count = |e: &Event| {
                    if let Event::TestFinished { test, .. } = e
                        && test.id.starts_with("plugin-")
                    {
                        shown.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                };
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    events.catch_up(&mut |e| count(e));
                    std::thread::yield_now();
                }
            });
            // The writers end before the reader is told to stop.
            for w in writers {
                w.join().unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let mut last = 0;
        events.catch_up(&mut |e| {
            if let Event::TestFinished { test, .. } = e
                && test.id.starts_with("plugin-")
            {
                last += 1;
            }
        });
        let shown = shown.load(std::sync::atomic::Ordering::SeqCst) + last;
        let whole = fold_file(&path).unwrap();
        let folded = events.fold().unwrap();
        assert_eq!(
            serde_json::to_value(&folded.run).unwrap(),
            serde_json::to_value(&whole.run).unwrap()
        );
        assert_eq!(folded.run.tests.len(), 900);
        assert!(folded.warnings.is_empty(), "{:?}", folded.warnings);
        // A plugin's line is read from the file (never folded as its own by this log),
        // so each is shown to the reader once.
        assert_eq!(shown, 300);
    }
}
