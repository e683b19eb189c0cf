//! Scheduling: a pool of workers runs units of work (one test process, one test binary,
//! one doctest batch) in parallel, records every attempt in the event log as it happens,
//! retries, and stops on fail-fast, the run timeout or Ctrl-C.
//!
//! Nothing here knows a framework: a framework turns its tests into [`Unit`]s.

use std::collections::{HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::Utc;

use crate::events::{Event, EventLog};
use crate::model::{Category, DEFAULT_OUTPUT_CAP, Failure, Outcome, TestMeta, error_kind};
use crate::process::{KillReason, ProcessTable};

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub jobs: usize,
    /// `jobs` was asked for (`-j`, `[run] jobs`), not the default: frameworks that schedule
    /// their own workers (Jest's `maxWorkers`) keep the project's setting otherwise.
    pub jobs_given: bool,
    pub test_timeout: Option<Duration>,
    pub run_timeout: Option<Duration>,
    /// A test still running after this gets a `SLOW` line on the terminal, once per
    /// period (`--slow-timeout`, `run.slow_timeout`); nothing is recorded for it.
    pub slow_timeout: Option<Duration>,
    /// Extra attempts for a failing test.
    pub retries: u32,
    pub fail_fast: bool,
    /// Cap per captured stream.
    pub output_cap: usize,
    /// Test-name filters (substrings) for frameworks that select tests themselves.
    pub filters: Vec<String>,
    /// `run … -- ARGS`: handed to the framework as they are (pytest's and Jest's command
    /// line, every libtest invocation), after testflow's own.
    pub framework_args: Vec<String>,
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
    pub order: crate::ordering::Order,
    pub last_failed: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: default_jobs(),
            jobs_given: false,
            test_timeout: None,
            run_timeout: None,
            slow_timeout: Some(DEFAULT_SLOW_TIMEOUT),
            retries: 0,
            fail_fast: false,
            output_cap: DEFAULT_OUTPUT_CAP,
            filters: Vec::new(),
            framework_args: Vec::new(),
            pass_through: PassThrough::default(),
            coverage_dir: None,
            env: Vec::new(),
        }
    }
}

/// nextest's default: a test running longer than a minute is named.
pub const DEFAULT_SLOW_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// `test` has been running for more than `over` (a multiple of the slow timeout).
    fn slow(&mut self, _test: &TestMeta, _over: Duration) {}
}

/// One piece of schedulable work. It reports its tests through [`Ctx`] and may hand
/// back follow-up units (tests to re-run one per process after a batch crashed).
pub trait Unit: Send {
    /// How many tests this unit is expected to report (for progress).
    fn planned_tests(&self) -> usize;
    /// What the unit runs, named in the run error if testflow fails inside it (a panic)
    /// before any of its tests started.
    fn describe(&self) -> String {
        match self.planned_tests() {
            0 => "a framework run (its tests report themselves)".into(),
            n => format!("a unit of {n} planned tests"),
        }
    }
    fn execute(self: Box<Self>, ctx: &Ctx) -> Vec<Box<dyn Unit>>;
    /// Run with nothing else running (a retry that tells "fails alone" from "fails only
    /// alongside others"): the queue waits for running units and starts none meanwhile.
    fn exclusive(&self) -> bool {
        false
    }
}

pub use crate::verdict::Stopped;

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
    /// Warnings for the person running (an option a framework cannot honour), each once.
    warnings: Mutex<Vec<String>>,
    /// Attempts started and not yet finished, by the worker thread running them: the
    /// tests to name (and fail) when that worker's unit panics.
    in_flight: Mutex<HashMap<ThreadId, Vec<(TestMeta, u32)>>>,
    /// The listener panicked once: it is not called again (the log still gets every event).
    listener_broken: AtomicBool,
    /// Attempts running, by (test id, attempt): when each started, and how many slow
    /// periods were already shown.
    running: Mutex<HashMap<(String, u32), Running>>,
    /// What runs at the same time: the evidence for `Attempt::concurrent`.
    concurrency: Mutex<Concurrency>,
    /// Frameworks whose processes write to the log themselves and are followed now
    /// ([`Ctx::following_log`]): how many of their processes run, and the retries each
    /// attempt may have (to tell a last attempt from one that will be retried).
    followed: Mutex<HashMap<crate::model::Framework, (usize, u32)>>,
}

/// Units executing, and the attempts running now with whether anything else ran at
/// some moment of each (another attempt, or another unit: a framework's own run).
#[derive(Default)]
struct Concurrency {
    units: usize,
    attempts: HashMap<(String, u32), bool>,
    /// Attempts that ended (the framework reported them) but are not recorded yet.
    ended: HashMap<(String, u32), bool>,
}

impl Concurrency {
    fn others_now(&mut self) {
        for overlapped in self.attempts.values_mut() {
            *overlapped = true;
        }
    }
}

/// A running attempt: its test, when it started, slow periods already shown.
type Running = (TestMeta, Instant, u32);

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
            warnings: Mutex::new(Vec::new()),
            in_flight: Mutex::new(HashMap::new()),
            listener_broken: AtomicBool::new(false),
            running: Mutex::new(HashMap::new()),
            concurrency: Mutex::new(Concurrency::default()),
            followed: Mutex::new(HashMap::new()),
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

    /// Something the person running should know that does not make the verdict doubtful
    /// (an option a framework cannot honour, so it was not applied). Said once.
    pub fn warn(&self, message: String) {
        let mut w = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
        if !w.contains(&message) {
            w.push(message);
        }
    }

    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn record(&self, event: &Event, final_attempt: bool) {
        self.append(event);
        self.notify(|l| l.on_event(event, final_attempt));
    }

    fn append(&self, event: &Event) {
        if let Err(e) = self.log.append(event) {
            // Keep running: the terminal still shows results; the error is reported at the end.
            let mut slot = self.write_error.lock().unwrap_or_else(|e| e.into_inner());
            slot.get_or_insert_with(|| format!("{e:#}"));
        }
    }

    /// Call the listener; a panic in it must not take down the unit that recorded the
    /// event (the event is already in the log), so it is caught, recorded as an internal
    /// run error, and the listener is not called again.
    fn notify(&self, f: impl FnOnce(&mut dyn Listener)) {
        if self.listener_broken.load(Ordering::SeqCst) {
            return;
        }
        let mut listener = self.listener.lock().unwrap_or_else(|e| e.into_inner());
        let result = catch_unwind(AssertUnwindSafe(|| f(&mut **listener)));
        drop(listener);
        if let Err(payload) = result
            && !self.listener_broken.swap(true, Ordering::SeqCst)
        {
            self.append(&Event::RunError {
                time: Utc::now(),
                kind: error_kind::INTERNAL.into(),
                message: format!(
                    "testflow's terminal output panicked ({}); the results are in the event log, but the run is not trusted",
                    panic_message(&*payload)
                ),
            });
        }
    }

    /// Run `f`, a framework process whose plugin appends to the run's log itself (pytest,
    /// Jest), and meanwhile show the events it writes to the listener as they land, so the
    /// progress bar and failure lines work for every framework.
    pub fn following_log<T>(&self, framework: crate::model::Framework, f: impl FnOnce() -> T) -> T {
        self.following_log_retrying(framework, self.options.retries, f)
    }

    /// [`Ctx::following_log`] for a framework process that retries a failing test up to
    /// `retries` times itself (0 when it cannot: no failed attempt is shown as RETRY).
    pub fn following_log_retrying<T>(
        &self,
        framework: crate::model::Framework,
        retries: u32,
        f: impl FnOnce() -> T,
    ) -> T {
        // What the log holds from before this process is not its to show.
        self.log.catch_up(&mut |event| self.show_followed(event));
        self.follow_count(framework, retries, true);
        // Unfollowed on the way out, a panicking `f` included.
        struct Unfollow<'a>(&'a Ctx, crate::model::Framework, u32);
        impl Drop for Unfollow<'_> {
            fn drop(&mut self) {
                self.0.follow_count(self.1, self.2, false);
            }
        }
        let _unfollow = Unfollow(self, framework, retries);
        let done = AtomicBool::new(false);
        // Set on the way out even when `f` panics: the scope waits for the follower, which
        // would otherwise poll forever. The follower is woken at once, so the run goes on
        // the moment the process ends, not at the follower's next look.
        struct Done<'a>(&'a AtomicBool, std::thread::Thread);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
                self.1.unpark();
            }
        }
        std::thread::scope(|s| {
            let follower = s.spawn(|| self.follow(&done));
            let guard = Done(&done, follower.thread().clone());
            let out = f();
            drop(guard);
            let _ = follower.join();
            out
        })
    }

    fn follow_count(&self, framework: crate::model::Framework, retries: u32, more: bool) {
        let mut followed = self.followed.lock().unwrap_or_else(|e| e.into_inner());
        let entry = followed.entry(framework).or_insert((0, retries));
        if more {
            *entry = (entry.0 + 1, retries);
        } else if entry.0 <= 1 {
            followed.remove(&framework);
        } else {
            entry.0 -= 1;
        }
    }

    /// Reads the log as the framework's process writes it, until `done`, then once more.
    /// The reading is the log's own, shared by every follower and the run's final fold
    /// ([`EventLog::catch_up`]): each line is parsed once, here, while the tests run.
    fn follow(&self, done: &AtomicBool) {
        loop {
            let last_look = done.load(Ordering::SeqCst);
            self.log.catch_up(&mut |event| self.show_followed(event));
            if last_look {
                return;
            }
            // Woken early by `Done`; a spurious wake-up only means an extra look.
            std::thread::park_timeout(Duration::from_millis(100));
        }
    }

    /// A test event a followed framework's process wrote: shown as it lands. Ours (and
    /// other frameworks') are shown when they are recorded.
    fn show_followed(&self, event: &Event) {
        let (Event::TestStarted { test, .. } | Event::TestFinished { test, .. }) = event else {
            return;
        };
        let retries = {
            let followed = self.followed.lock().unwrap_or_else(|e| e.into_inner());
            match followed.get(&test.framework) {
                Some((_, retries)) => *retries,
                None => return,
            }
        };
        match event {
            Event::TestStarted { test, attempt, .. } => self.running_started(test, *attempt),
            Event::TestFinished {
                test,
                attempt,
                outcome,
                ..
            } => {
                self.running_finished(&test.id, *attempt);
                let last = !outcome.is_failure() || *attempt > retries;
                self.notify(|listener| {
                    if last {
                        listener.add_planned(1);
                    }
                    listener.on_event(event, last);
                });
            }
            _ => {}
        }
    }

    fn concurrency(&self) -> std::sync::MutexGuard<'_, Concurrency> {
        self.concurrency.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn unit_started(&self) {
        let mut c = self.concurrency();
        c.units += 1;
        if c.units > 1 {
            c.others_now();
        }
    }

    fn unit_finished(&self) {
        let mut c = self.concurrency();
        c.units = c.units.saturating_sub(1);
    }

    /// The framework reported this attempt's result, which is recorded later
    /// ([`Ctx::finished`]): what starts from now on did not run alongside it.
    /// It is no longer named as slow either.
    pub fn ended(&self, test: &TestMeta, attempt: u32) {
        self.running_finished(&test.id, attempt);
        let mut c = self.concurrency();
        let key = (test.id.clone(), attempt);
        if let Some(overlapped) = c.attempts.remove(&key) {
            c.ended.insert(key, overlapped);
        }
    }

    pub fn started(&self, test: &TestMeta, attempt: u32) {
        {
            let mut c = self.concurrency();
            let others = !c.attempts.is_empty() || c.units > 1;
            if others {
                c.others_now();
            }
            c.attempts.insert((test.id.clone(), attempt), others);
        }
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(std::thread::current().id())
            .or_default()
            .push((test.clone(), attempt));
        self.running_started(test, attempt);
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
        if let Some(running) = self
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&std::thread::current().id())
        {
            running.retain(|(t, a)| !(t.id == test.id && *a == attempt));
        }
        self.running_finished(&test.id, attempt);
        let concurrent = {
            let mut c = self.concurrency();
            let key = (test.id.clone(), attempt);
            c.attempts.remove(&key).or_else(|| c.ended.remove(&key))
        };
        let retry =
            outcome.is_failure() && attempt <= self.options.retries && self.stopped().is_none();
        // A skip is not a failure: what the framework said about it (an `#[ignore]`
        // reason) is its reason, never a `failure` with a made-up category.
        let (failure, reason) = match outcome {
            Outcome::Skipped | Outcome::Xfailed | Outcome::Xpassed => (
                None,
                failure.map(|f| f.message).filter(|m| !m.trim().is_empty()),
            ),
            _ => (failure, None),
        };
        let event = Event::TestFinished {
            time: Utc::now(),
            test: test.clone(),
            attempt,
            outcome,
            duration_ms: round_ms(duration),
            failure,
            reason,
            concurrent,
            attachments: vec![],
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

    fn running_started(&self, test: &TestMeta, attempt: u32) {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                (test.id.clone(), attempt),
                (test.clone(), Instant::now(), 0),
            );
    }

    fn running_finished(&self, id: &str, attempt: u32) {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(id.to_owned(), attempt));
    }

    /// Name each running test that has passed one more slow period since last looked at.
    pub fn check_slow(&self) {
        let Some(period) = self.options.slow_timeout.filter(|p| !p.is_zero()) else {
            return;
        };
        let now = Instant::now();
        let mut due = Vec::new();
        for (meta, since, shown) in self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values_mut()
        {
            let periods = slow_periods(now.saturating_duration_since(*since), period);
            if periods > *shown {
                *shown = periods;
                due.push((meta.clone(), period.saturating_mul(periods)));
            }
        }
        due.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        for (meta, over) in due {
            self.notify(|l| l.slow(&meta, over));
        }
    }

    pub fn add_planned(&self, tests: usize) {
        self.planned.fetch_add(tests, Ordering::Relaxed);
        self.notify(|l| l.add_planned(tests));
    }

    /// Attempts this thread started and did not finish (cleared).
    fn take_in_flight(&self) -> Vec<(TestMeta, u32)> {
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&std::thread::current().id())
            .unwrap_or_default()
    }

    /// A unit panicked: its running tests end as `error` (never passed), and the run
    /// gets an `internal` run error naming them.
    fn unit_panicked(&self, unit: &str, payload: &(dyn std::any::Any + Send)) {
        let why = panic_message(payload);
        let running = self.take_in_flight();
        for (test, attempt) in &running {
            self.running_finished(&test.id, *attempt);
            let failure = Failure {
                category: Category::Crash,
                kind: Some("testflow_internal".into()),
                message: format!(
                    "testflow failed while running this test (internal error: {why}); its real outcome is unknown"
                ),
                ..Failure::default()
            };
            self.record(
                &Event::TestFinished {
                    time: Utc::now(),
                    test: test.clone(),
                    attempt: *attempt,
                    outcome: Outcome::Error,
                    duration_ms: 0.0,
                    failure: Some(failure),
                    reason: None,
                    concurrent: None,
                    attachments: vec![],
                },
                true,
            );
            self.done.fetch_add(1, Ordering::Relaxed);
        }
        let what = if running.is_empty() {
            format!("{unit} (before any of its tests started; they have no result)")
        } else {
            let mut names: Vec<&str> = running.iter().map(|(t, _)| t.id.as_str()).collect();
            names.sort_unstable();
            format!("{} (recorded as error)", names.join(", "))
        };
        self.run_error(
            error_kind::INTERNAL,
            format!("testflow panicked while running {what}: {why}"),
        );
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

/// Whole slow periods in `elapsed` (0 before the first one ends).
pub fn slow_periods(elapsed: Duration, period: Duration) -> u32 {
    if period.is_zero() {
        return 0;
    }
    u32::try_from(elapsed.as_nanos() / period.as_nanos()).unwrap_or(u32::MAX)
}

pub fn round_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The text of a panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// How deep follow-ups of follow-ups may go (a crashed batch's per-test re-runs are 1):
/// a unit that keeps handing back work must not keep the run going forever.
const MAX_FOLLOW_UP_DEPTH: u32 = 8;

struct Queue {
    /// Each unit with how many follow-up steps it is from a planned unit.
    units: VecDeque<(Box<dyn Unit>, u32)>,
    running: usize,
    /// An exclusive unit is running.
    exclusive: bool,
}

/// Run all units on `ctx.options.jobs` workers. Follow-up units go to the front of the
/// queue. Returns why the run stopped early, if it did. A unit that panics is recorded
/// (see [`Ctx::unit_panicked`]) and the run goes on.
pub fn execute(ctx: &Ctx, units: Vec<Box<dyn Unit>>) -> Result<Option<Stopped>> {
    let queue = Mutex::new(Queue {
        units: units.into_iter().map(|u| (u, 0)).collect(),
        running: 0,
        exclusive: false,
    });
    let changed = Condvar::new();
    let workers = ctx.options.jobs.max(1);
    let all_done = (Mutex::new(false), Condvar::new());
    std::thread::scope(|s| {
        // Looks for slow tests a few times a second until the workers are done.
        s.spawn(|| {
            let (lock, cv) = &all_done;
            let mut done = lock.lock().unwrap_or_else(|e| e.into_inner());
            while !*done {
                done = cv
                    .wait_timeout(done, Duration::from_millis(200))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                ctx.check_slow();
            }
        });
        let mut handles = Vec::new();
        for _ in 0..workers {
            handles.push(s.spawn(|| {
                loop {
                    let unit = {
                        let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
                        loop {
                            if ctx.stopped().is_some() {
                                q.units.clear();
                            }
                            // An exclusive unit waits until nothing runs; while it runs,
                            // nothing else starts.
                            let next = match q.units.front() {
                                _ if q.exclusive => None,
                                Some((u, _)) if u.exclusive() && q.running > 0 => None,
                                Some(_) => q.units.pop_front(),
                                None => None,
                            };
                            if let Some(u) = next {
                                q.running += 1;
                                q.exclusive = u.0.exclusive();
                                break Some(u);
                            }
                            if q.running == 0 && q.units.is_empty() {
                                break None;
                            }
                            q = changed.wait(q).unwrap_or_else(|e| e.into_inner());
                        }
                    };
                    let Some((unit, depth)) = unit else {
                        changed.notify_all();
                        return;
                    };
                    let exclusive = unit.exclusive();
                    let label = unit.describe();
                    ctx.unit_started();
                    let follow_ups = match catch_unwind(AssertUnwindSafe(|| unit.execute(ctx))) {
                        Ok(f) => {
                            // A unit may leave attempts to its follow-ups: not this thread's now.
                            ctx.take_in_flight();
                            f
                        }
                        Err(payload) => {
                            ctx.unit_panicked(&label, &*payload);
                            vec![]
                        }
                    };
                    let follow_ups = if follow_ups.is_empty() || depth < MAX_FOLLOW_UP_DEPTH {
                        follow_ups
                    } else {
                        let names: Vec<String> = follow_ups.iter().map(|u| u.describe()).collect();
                        ctx.run_error(
                            error_kind::INTERNAL,
                            format!(
                                "{label} kept handing back follow-up work ({MAX_FOLLOW_UP_DEPTH} levels deep); not run: {}",
                                names.join(", ")
                            ),
                        );
                        vec![]
                    };
                    ctx.unit_finished();
                    let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
                    q.running -= 1;
                    if exclusive {
                        q.exclusive = false;
                    }
                    for u in follow_ups.into_iter().rev() {
                        q.units.push_front((u, depth + 1));
                    }
                    drop(q);
                    changed.notify_all();
                }
            }));
        }
        let panicked: Vec<_> = handles.into_iter().filter_map(|h| h.join().err()).collect();
        let (lock, cv) = &all_done;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
        if let Some(payload) = panicked.into_iter().next() {
            std::panic::resume_unwind(payload);
        }
    });
    ctx.processes.shutdown();
    Ok(ctx.stopped())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Framework;

    #[test]
    fn slow_periods_are_whole_periods() {
        let s = Duration::from_secs;
        assert_eq!(slow_periods(Duration::from_millis(999), s(1)), 0);
        assert_eq!(slow_periods(s(1), s(1)), 1);
        assert_eq!(slow_periods(s(179), s(60)), 2);
        assert_eq!(slow_periods(s(5), Duration::ZERO), 0);
        assert_eq!(
            slow_periods(Duration::MAX, Duration::from_nanos(1)),
            u32::MAX
        );
    }

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

    /// Starts its test (when `start`), then panics.
    struct Panics {
        id: String,
        start: bool,
    }

    impl Unit for Panics {
        fn planned_tests(&self) -> usize {
            1
        }
        fn describe(&self) -> String {
            format!("panicking unit for {}", self.id)
        }
        fn execute(self: Box<Self>, ctx: &Ctx) -> Vec<Box<dyn Unit>> {
            if self.start {
                ctx.started(&meta(&self.id), 1);
            }
            panic!("worker bug in {}", self.id);
        }
    }

    /// Hands back another of itself, forever.
    struct Endless(u32);

    impl Unit for Endless {
        fn planned_tests(&self) -> usize {
            0
        }
        fn describe(&self) -> String {
            format!("endless #{}", self.0)
        }
        fn execute(self: Box<Self>, _: &Ctx) -> Vec<Box<dyn Unit>> {
            vec![Box::new(Endless(self.0 + 1))]
        }
    }

    fn run(options: RunOptions, units: Vec<Box<dyn Unit>>) -> (crate::model::Run, Option<Stopped>) {
        run_with(options, units, Box::new(Null))
    }

    fn run_with(
        options: RunOptions,
        units: Vec<Box<dyn Unit>>,
        listener: Box<dyn Listener>,
    ) -> (crate::model::Run, Option<Stopped>) {
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
        let ctx = Ctx::new(options, "r".into(), log, listener);
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

    #[test]
    fn a_panicking_unit_errors_its_test_names_it_and_the_run_goes_on() {
        for jobs in [1, 2] {
            let options = RunOptions {
                jobs,
                ..RunOptions::default()
            };
            let (run, stopped) = run(
                options,
                vec![
                    Box::new(Panics {
                        id: "started".into(),
                        start: true,
                    }),
                    Box::new(Panics {
                        id: "early".into(),
                        start: false,
                    }),
                    fake("after", &[Outcome::Passed]),
                ],
            );
            assert_eq!(stopped, None);
            let t = run.tests.iter().find(|t| t.id == "started").unwrap();
            assert_eq!(t.outcome, Outcome::Error);
            let f = t.failure.as_ref().unwrap();
            assert_eq!(f.category, Category::Crash);
            assert!(
                f.message
                    .starts_with("testflow failed while running this test (internal error: worker bug in started)"),
                "{}",
                f.message
            );
            let after = run.tests.iter().find(|t| t.id == "after").unwrap();
            assert_eq!(after.outcome, Outcome::Passed);
            let messages: Vec<&str> = run
                .errors
                .iter()
                .filter(|e| e.kind == error_kind::INTERNAL)
                .map(|e| e.message.as_str())
                .collect();
            assert_eq!(messages.len(), 2, "{:?}", run.errors);
            assert!(messages.contains(
                &"testflow panicked while running started (recorded as error): worker bug in started"
            ));
            assert!(messages.contains(
                &"testflow panicked while running panicking unit for early (before any of its tests started; they have no result): worker bug in early"
            ));
            assert!(!run.distrust().is_empty());
        }
    }

    struct PanicsOnFailure;
    impl Listener for PanicsOnFailure {
        fn on_event(&mut self, event: &Event, _: bool) {
            if let Event::TestFinished { outcome, .. } = event
                && outcome.is_failure()
            {
                panic!("printer bug");
            }
        }
    }

    #[test]
    fn a_panicking_listener_loses_no_result() {
        let (run, stopped) = run_with(
            RunOptions {
                jobs: 1,
                ..RunOptions::default()
            },
            vec![
                fake("fails", &[Outcome::Failed]),
                fake("next", &[Outcome::Failed]),
            ],
            Box::new(PanicsOnFailure),
        );
        assert_eq!(stopped, None);
        for id in ["fails", "next"] {
            let t = run.tests.iter().find(|t| t.id == id).unwrap();
            assert_eq!(t.outcome, Outcome::Failed, "{id}");
        }
        // (The harness writes no `run_finished`: `incomplete` is expected too.)
        let internal: Vec<_> = run
            .errors
            .iter()
            .filter(|e| e.kind == error_kind::INTERNAL)
            .collect();
        assert_eq!(internal.len(), 1, "{:?}", run.errors);
        assert!(
            internal[0].message.contains("panicked (printer bug)"),
            "{}",
            internal[0].message
        );
    }

    #[test]
    fn a_panic_while_following_a_framework_log_does_not_hang() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(EventLog::create(&dir.path().join("events.jsonl")).unwrap());
        let ctx = Ctx::new(RunOptions::default(), "r".into(), log, Box::new(Null));
        let result = catch_unwind(AssertUnwindSafe(|| {
            ctx.following_log(Framework::Pytest, || panic!("pytest unit bug"))
        }));
        assert!(
            result.is_err(),
            "the panic comes through once the follower stopped"
        );
    }

    #[test]
    fn follow_ups_that_never_end_are_cut_off_with_a_run_error() {
        let (run, stopped) = run(RunOptions::default(), vec![Box::new(Endless(0))]);
        assert_eq!(stopped, None);
        let internal: Vec<_> = run
            .errors
            .iter()
            .filter(|e| e.kind == error_kind::INTERNAL)
            .collect();
        assert_eq!(internal.len(), 1, "{:?}", run.errors);
        assert_eq!(
            internal[0].message,
            format!(
                "endless #{MAX_FOLLOW_UP_DEPTH} kept handing back follow-up work ({MAX_FOLLOW_UP_DEPTH} levels deep); not run: endless #{}",
                MAX_FOLLOW_UP_DEPTH + 1
            )
        );
    }

    /// Runs tests `a` and `b` at the same time (both fail), then hands back a retry of
    /// `a` that runs alone and passes.
    struct Pair;

    struct Retry;

    impl Unit for Pair {
        fn planned_tests(&self) -> usize {
            2
        }
        fn execute(self: Box<Self>, ctx: &Ctx) -> Vec<Box<dyn Unit>> {
            ctx.started(&meta("a"), 1);
            ctx.started(&meta("b"), 1);
            let d = Duration::from_millis(1);
            ctx.finished(&meta("a"), 1, Outcome::Failed, d, None);
            ctx.finished(&meta("b"), 1, Outcome::Failed, d, None);
            vec![Box::new(Retry)]
        }
    }

    impl Unit for Retry {
        fn planned_tests(&self) -> usize {
            0
        }
        fn exclusive(&self) -> bool {
            true
        }
        fn execute(self: Box<Self>, ctx: &Ctx) -> Vec<Box<dyn Unit>> {
            ctx.started(&meta("a"), 2);
            ctx.finished(
                &meta("a"),
                2,
                Outcome::Passed,
                Duration::from_millis(1),
                None,
            );
            vec![]
        }
    }

    #[test]
    fn each_attempt_records_whether_another_test_ran_at_the_same_time() {
        let (run, _) = run(
            RunOptions {
                jobs: 1,
                retries: 1,
                ..RunOptions::default()
            },
            vec![Box::new(Pair), fake("c", &[Outcome::Passed])],
        );
        let attempts = |id: &str| -> Vec<Option<bool>> {
            run.tests
                .iter()
                .find(|t| t.id == id)
                .unwrap()
                .attempts
                .iter()
                .map(|a| a.concurrent)
                .collect()
        };
        assert_eq!(attempts("a"), vec![Some(true), Some(false)]);
        assert_eq!(attempts("b"), vec![Some(true)]);
        assert_eq!(attempts("c"), vec![Some(false)], "one job: c ran alone");
    }

    /// Notes what runs at the same time; an exclusive one must find nothing else.
    struct Probe {
        exclusive: bool,
        seen: Arc<Mutex<(usize, bool, Vec<String>)>>,
        then: Vec<Box<dyn Unit>>,
    }

    impl Unit for Probe {
        fn planned_tests(&self) -> usize {
            0
        }
        fn exclusive(&self) -> bool {
            self.exclusive
        }
        fn execute(self: Box<Self>, _: &Ctx) -> Vec<Box<dyn Unit>> {
            {
                let mut s = self.seen.lock().unwrap();
                s.0 += 1;
                if s.1 || (self.exclusive && s.0 > 1) {
                    let n = s.0;
                    s.2.push(format!("{n} running, exclusive: {}", self.exclusive));
                }
                s.1 |= self.exclusive;
            }
            for _ in 0..100 {
                std::thread::yield_now();
            }
            let mut s = self.seen.lock().unwrap();
            s.0 -= 1;
            if self.exclusive {
                s.1 = false;
            }
            self.then
        }
    }

    #[test]
    fn an_exclusive_unit_runs_with_nothing_else() {
        let seen = Arc::new(Mutex::new((0, false, Vec::new())));
        let probe = |exclusive, then| {
            Box::new(Probe {
                exclusive,
                seen: Arc::clone(&seen),
                then,
            }) as Box<dyn Unit>
        };
        let mut units = Vec::new();
        for i in 0..20 {
            let then = if i % 3 == 0 {
                vec![probe(true, vec![]), probe(false, vec![])]
            } else {
                vec![]
            };
            units.push(probe(i % 5 == 0, then));
        }
        run(
            RunOptions {
                jobs: 4,
                ..RunOptions::default()
            },
            units,
        );
        let s = seen.lock().unwrap();
        assert_eq!(s.2, Vec::<String>::new());
        assert_eq!((s.0, s.1), (0, false));
    }
}
