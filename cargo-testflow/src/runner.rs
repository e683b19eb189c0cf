//! Scheduling: a pool of workers runs units of work (one test process, one test binary,
//! one doctest batch) in parallel, records every attempt in the event log as it happens,
//! retries, and stops on fail-fast, the run timeout or Ctrl-C.
//!
//! Nothing here knows a framework: a framework turns its tests into [`Unit`]s.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use anyhow::Result;
use chrono::Utc;

use crate::events::{Event, EventLog};
use crate::model::{DEFAULT_OUTPUT_CAP, Failure, Outcome, TestMeta};
use crate::process::{KillReason, ProcessTable};

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub jobs: usize,
    pub test_timeout: Option<Duration>,
    pub run_timeout: Option<Duration>,
    /// Extra attempts for a failing test.
    pub retries: u32,
    pub fail_fast: bool,
    /// Cap per captured stream.
    pub output_cap: usize,
    /// Test-name filters (substrings) for frameworks that select tests themselves.
    pub filters: Vec<String>,
    /// Shard, order and `--last-failed` for the frameworks that select their own tests.
    pub pass_through: PassThrough,
    /// `run --coverage`: the run's directory for coverage reports.
    pub coverage_dir: Option<std::path::PathBuf>,
    /// Extra environment for every Rust test process (cargo-llvm-cov's, under coverage).
    pub env: Vec<(String, String)>,
}

/// What `cargo testflow run --shard/--order/--last-failed` hands to pytest and Jest.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PassThrough {
    pub shard: Option<(crate::shard::ShardSpec, crate::shard::Strategy)>,
    pub order: crate::session::Order,
    pub last_failed: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: default_jobs(),
            test_timeout: None,
            run_timeout: None,
            retries: 0,
            fail_fast: false,
            output_cap: DEFAULT_OUTPUT_CAP,
            filters: Vec::new(),
            pass_through: PassThrough::default(),
            coverage_dir: None,
            env: Vec::new(),
        }
    }
}

pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// Sees every event as it is recorded (the terminal printer).
pub trait Listener: Send {
    /// `final_attempt` is false for a failed attempt that will be retried.
    fn on_event(&mut self, event: &Event, final_attempt: bool);
    /// More tests became known while running (doctests are only discovered by running them).
    fn add_planned(&mut self, _tests: usize) {}
}

/// One piece of schedulable work. It reports its tests through [`Ctx`] and may hand
/// back follow-up units (tests to re-run one per process after a batch crashed).
pub trait Unit: Send {
    /// How many tests this unit is expected to report (for progress).
    fn planned_tests(&self) -> usize;
    fn execute(self: Box<Self>, ctx: &Ctx) -> Vec<Box<dyn Unit>>;
}

/// Why the run stopped early, if it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    FailFast,
    RunTimeout,
    Interrupted,
}

/// What units share while they run.
pub struct Ctx {
    pub options: RunOptions,
    pub processes: Arc<ProcessTable>,
    pub run_id: String,
    log: Arc<EventLog>,
    listener: Mutex<Box<dyn Listener>>,
    fail_fast_hit: AtomicBool,
    write_error: Mutex<Option<String>>,
    planned: AtomicUsize,
    done: AtomicUsize,
    coverage_notes: Mutex<Vec<crate::model::FrameworkCoverage>>,
}

impl Ctx {
    pub fn new(
        options: RunOptions,
        run_id: String,
        log: Arc<EventLog>,
        listener: Box<dyn Listener>,
    ) -> Ctx {
        let processes = ProcessTable::new(options.run_timeout);
        Ctx {
            options,
            processes,
            run_id,
            log,
            listener: Mutex::new(listener),
            fail_fast_hit: AtomicBool::new(false),
            write_error: Mutex::new(None),
            planned: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            coverage_notes: Mutex::new(Vec::new()),
        }
    }

    /// A framework whose coverage could not be collected (`run --coverage`), and why.
    pub fn coverage_note(&self, note: crate::model::FrameworkCoverage) {
        self.coverage_notes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(note);
    }

    pub fn take_coverage_notes(&self) -> Vec<crate::model::FrameworkCoverage> {
        std::mem::take(
            &mut *self
                .coverage_notes
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    fn record(&self, event: &Event, final_attempt: bool) {
        if let Err(e) = self.log.append(event) {
            // Keep running: the terminal still shows results; the error is reported at the end.
            let mut slot = self.write_error.lock().unwrap_or_else(|e| e.into_inner());
            slot.get_or_insert_with(|| format!("{e:#}"));
        }
        self.listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .on_event(event, final_attempt);
    }

    /// Run `f`, a framework process whose plugin appends to the run's log itself (pytest,
    /// Jest), and meanwhile show the events it writes to the listener as they land, so the
    /// progress bar and failure lines work for every framework.
    pub fn following_log<T>(&self, framework: crate::model::Framework, f: impl FnOnce() -> T) -> T {
        let start = std::fs::metadata(self.log.path())
            .map(|m| m.len())
            .unwrap_or(0);
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            let follower = s.spawn(|| self.follow(framework, start, &done));
            let out = f();
            done.store(true, Ordering::SeqCst);
            let _ = follower.join();
            out
        })
    }

    fn follow(&self, framework: crate::model::Framework, mut offset: u64, done: &AtomicBool) {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut file) = std::fs::File::open(self.log.path()) else {
            return;
        };
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let last_look = done.load(Ordering::SeqCst);
            let mut chunk = Vec::new();
            if file.seek(SeekFrom::Start(offset)).is_ok() && file.read_to_end(&mut chunk).is_ok() {
                offset += chunk.len() as u64;
                pending.extend_from_slice(&chunk);
            }
            // Whole lines only; the unfinished tail waits for the next look. (Draining line
            // by line would move the rest of a large chunk once per line.)
            let complete = pending
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            let lines: Vec<u8> = pending.drain(..complete).collect();
            for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                // Only this framework's test events: ours are shown when they are recorded.
                let Ok(event) = serde_json::from_slice::<Event>(line) else {
                    continue;
                };
                if let Event::TestFinished {
                    test,
                    attempt,
                    outcome,
                    ..
                } = &event
                    && test.framework == framework
                {
                    let last = !outcome.is_failure() || *attempt > self.options.retries;
                    let mut listener = self.listener.lock().unwrap_or_else(|e| e.into_inner());
                    if last {
                        listener.add_planned(1);
                    }
                    listener.on_event(&event, last);
                }
            }
            if last_look {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn started(&self, test: &TestMeta, attempt: u32) {
        self.record(
            &Event::TestStarted {
                time: Utc::now(),
                test: test.clone(),
                attempt,
            },
            true,
        );
    }

    /// Record an attempt's result. Returns true when the caller should retry the test.
    pub fn finished(
        &self,
        test: &TestMeta,
        attempt: u32,
        outcome: Outcome,
        duration: Duration,
        failure: Option<Failure>,
    ) -> bool {
        let retry =
            outcome.is_failure() && attempt <= self.options.retries && self.stopped().is_none();
        let event = Event::TestFinished {
            time: Utc::now(),
            test: test.clone(),
            attempt,
            outcome,
            duration_ms: round_ms(duration),
            failure,
        };
        self.record(&event, !retry);
        if !retry {
            self.done.fetch_add(1, Ordering::Relaxed);
        }
        if !retry && outcome.is_failure() && self.options.fail_fast {
            self.fail_fast_hit.store(true, Ordering::SeqCst);
        }
        retry
    }

    /// The run's event log, for test processes that record into it themselves
    /// (the pytest and Jest plugins, through `TESTFLOW_EVENTS`).
    pub fn events_path(&self) -> &std::path::Path {
        self.log.path()
    }

    pub fn run_error(&self, kind: &str, message: String) {
        self.record(
            &Event::RunError {
                time: Utc::now(),
                kind: kind.into(),
                message,
            },
            true,
        );
    }

    pub fn add_planned(&self, tests: usize) {
        self.planned.fetch_add(tests, Ordering::Relaxed);
        self.listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add_planned(tests);
    }

    pub fn stopped(&self) -> Option<Stopped> {
        match self.processes.stopping() {
            Some(KillReason::Interrupted) => Some(Stopped::Interrupted),
            Some(KillReason::RunTimeout) => Some(Stopped::RunTimeout),
            Some(KillReason::TestTimeout) | None => self
                .fail_fast_hit
                .load(Ordering::SeqCst)
                .then_some(Stopped::FailFast),
        }
    }

    /// Planned tests that got no final result (the run stopped early).
    pub fn not_run(&self) -> usize {
        self.planned
            .load(Ordering::Relaxed)
            .saturating_sub(self.done.load(Ordering::Relaxed))
    }

    pub fn write_error(&self) -> Option<String> {
        self.write_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

pub fn round_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

struct Queue {
    units: VecDeque<Box<dyn Unit>>,
    running: usize,
}

/// Run all units on `ctx.options.jobs` workers. Follow-up units go to the front of the
/// queue. Returns why the run stopped early, if it did.
pub fn execute(ctx: &Ctx, units: Vec<Box<dyn Unit>>) -> Result<Option<Stopped>> {
    let queue = Mutex::new(Queue {
        units: units.into(),
        running: 0,
    });
    let changed = Condvar::new();
    let workers = ctx.options.jobs.max(1);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let unit = {
                        let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
                        loop {
                            if ctx.stopped().is_some() {
                                q.units.clear();
                            }
                            if let Some(u) = q.units.pop_front() {
                                q.running += 1;
                                break Some(u);
                            }
                            if q.running == 0 {
                                break None;
                            }
                            q = changed.wait(q).unwrap_or_else(|e| e.into_inner());
                        }
                    };
                    let Some(unit) = unit else {
                        changed.notify_all();
                        return;
                    };
                    let follow_ups = unit.execute(ctx);
                    let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
                    q.running -= 1;
                    for u in follow_ups.into_iter().rev() {
                        q.units.push_front(u);
                    }
                    drop(q);
                    changed.notify_all();
                }
            });
        }
    });
    ctx.processes.shutdown();
    Ok(ctx.stopped())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Framework;

    struct Fake {
        id: String,
        outcomes: Vec<Outcome>,
    }

    impl Unit for Fake {
        fn planned_tests(&self) -> usize {
            1
        }
        fn execute(self: Box<Self>, ctx: &Ctx) -> Vec<Box<dyn Unit>> {
            let meta = TestMeta {
                id: self.id.clone(),
                framework: Framework::Rust,
                name: self.id.clone(),
                suite: vec![],
                file: None,
                line: None,
                binary: None,
            };
            for (i, o) in self.outcomes.iter().enumerate() {
                ctx.started(&meta, i as u32 + 1);
                if !ctx.finished(&meta, i as u32 + 1, *o, Duration::from_millis(1), None) {
                    break;
                }
            }
            vec![]
        }
    }

    struct Null;
    impl Listener for Null {
        fn on_event(&mut self, _: &Event, _: bool) {}
    }

    fn run(options: RunOptions, units: Vec<Box<dyn Unit>>) -> (crate::model::Run, Option<Stopped>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let log = Arc::new(EventLog::create(&path).unwrap());
        log.append(&Event::RunStarted {
            schema_version: 1,
            run_id: "r".into(),
            time: Utc::now(),
            testflow_version: "t".into(),
            project_root: None,
            environment: Default::default(),
            frameworks: vec![],
            shard: None,
        })
        .unwrap();
        let ctx = Ctx::new(options, "r".into(), log, Box::new(Null));
        let stopped = execute(&ctx, units).unwrap();
        (crate::events::fold_file(&path).unwrap().run, stopped)
    }

    fn fake(id: &str, outcomes: &[Outcome]) -> Box<dyn Unit> {
        Box::new(Fake {
            id: id.into(),
            outcomes: outcomes.to_vec(),
        })
    }

    #[test]
    fn retries_stop_at_the_first_pass_and_mark_flaky() {
        let options = RunOptions {
            retries: 2,
            jobs: 2,
            ..RunOptions::default()
        };
        let (run, stopped) = run(
            options,
            vec![
                fake(
                    "flaky",
                    &[Outcome::Failed, Outcome::Passed, Outcome::Passed],
                ),
                fake(
                    "broken",
                    &[
                        Outcome::Failed,
                        Outcome::Failed,
                        Outcome::Failed,
                        Outcome::Failed,
                    ],
                ),
            ],
        );
        assert_eq!(stopped, None);
        let flaky = run.tests.iter().find(|t| t.id == "flaky").unwrap();
        assert_eq!(
            (flaky.attempts.len(), flaky.flaky, flaky.outcome),
            (2, true, Outcome::Passed)
        );
        let broken = run.tests.iter().find(|t| t.id == "broken").unwrap();
        assert_eq!(
            (broken.attempts.len(), broken.outcome),
            (3, Outcome::Failed)
        );
    }

    #[test]
    fn fail_fast_stops_scheduling_new_units() {
        let options = RunOptions {
            fail_fast: true,
            jobs: 1,
            ..RunOptions::default()
        };
        let units = (0..10)
            .map(|i| fake(&format!("t{i}"), &[Outcome::Failed]))
            .collect();
        let (run, stopped) = run(options, units);
        assert_eq!(stopped, Some(Stopped::FailFast));
        assert_eq!(run.tests.len(), 1);
    }
}
