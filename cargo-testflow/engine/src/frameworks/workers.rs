//! How many workers pytest (pytest-xdist `-n`) and Jest (`--maxWorkers`, `--runInBand`)
//! get: parallel only when it pays, never assumed.
//!
//! The rule, in order:
//! 1. `-j N` given by the user (or `[run] jobs`) always wins.
//! 2. One CPU (or `-j` defaulting to 1), or no way to run in parallel (pytest-xdist not
//!    installed): serial.
//! 3. History: the suite's serial work last time (`serial_ms`) against what N workers
//!    add (one worker's start-up, measured in an earlier run or estimated, plus a
//!    per-test dispatch cost). N workers run when `serial_ms × (1 − 1/N)` exceeds that.
//!    The serial work is read from what the last run's process tree used: its CPU time
//!    (user + sys; less the workers' own overhead when it had workers) plus the time it
//!    spent neither computing nor waiting for a CPU (sleeps, I/O): its wall time less its
//!    CPU time stretched by the load it ran under (how long the framework's process
//!    waited for a CPU for each second it had one, from the kernel's schedstat). Wall times
//!    alone grow with the load (at load 20 a trivial test "takes" 2–8 ms instead of
//!    0.1 ms) and would pick workers that cannot gain when no core is free; CPU time
//!    alone would miss that sleeping tests gain from workers on any machine. A run
//!    recorded before CPU time was falls back to the sum of its recorded test durations
//!    plus the framework's per-test cost.
//! 4. No history: serial below a threshold of collected tests (`Costs::threshold`),
//!    measured as the crossover on the bench machine (bench/RESULTS.md).

use crate::model::{Framework, WorkersDecision};

/// What parallel workers cost a framework, measured on the bench machine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Costs {
    /// The framework's own cost per test beyond the test's recorded duration (hooks,
    /// reporting), which parallel workers share out like the tests themselves.
    pub serial_per_test_ms: f64,
    /// Start-up of the workers beyond the serial run's own (spawning, importing,
    /// each worker collecting the suite), used when no run measured it.
    pub startup_ms: f64,
    /// What each test adds in parallel mode only (sending it to a worker and its report back).
    pub parallel_per_test_ms: f64,
    /// With no history: serial below this many collected tests.
    pub threshold: u64,
}

/// pytest-xdist, measured with `bench/pytest_jobs.py` (bench/RESULTS.md).
pub const XDIST: Costs = Costs {
    serial_per_test_ms: 0.8,
    startup_ms: 1200.0,
    parallel_per_test_ms: 0.7,
    threshold: 3000,
};

/// Jest workers, measured with `bench/jest/run.sh` (bench/RESULTS.md).
pub const JEST: Costs = Costs {
    serial_per_test_ms: 2.0,
    startup_ms: 600.0,
    parallel_per_test_ms: 0.1,
    threshold: 200,
};

/// How much better the other choice must be predicted to do before a run changes from
/// the last run's (serial or parallel): this share of the serial work, and at least
/// `HYSTERESIS_MIN_MS`. boltons' predictions sat 0.1-0.25 s from the crossover and its
/// choice flipped every run; a wider share would keep a loaded machine's xdist choice
/// even when serial is clearly better (`cpu_time_decides_and_load_does_not_pick_workers`).
const HYSTERESIS_SHARE: f64 = 0.05;
const HYSTERESIS_MIN_MS: f64 = 200.0;

/// The suite as history recorded it (`History::framework_time`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Past {
    pub tests: u64,
    /// Sum of the recorded test durations.
    pub duration_ms: f64,
    /// A worker start-up measured by an earlier run, when one did.
    pub startup_ms: Option<f64>,
    /// CPU time the run's process tree used (`WorkersDecision::cpu_ms`), when recorded.
    pub cpu_ms: Option<f64>,
    /// Its wall time (`WorkersDecision::wall_ms`).
    pub wall_ms: Option<f64>,
    /// How much waiting for a CPU stretched its CPU time (`WorkersDecision::stretch`).
    pub stretch: Option<f64>,
    /// The workers that run had (1: serial).
    pub workers: usize,
}

impl Past {
    /// The last run's work scaled to the `selected` of its `of` tests that this run runs
    /// (`--affected`): a handful of tests is not worth the workers the whole suite was.
    /// Start-up stays whole; the CPU time is scaled with the tests, which leaves a run's
    /// own fixed costs with fewer tests, so a small selection leans serial.
    pub fn share(self, selected: u64, of: u64) -> Past {
        if of == 0 || selected >= of {
            return self;
        }
        let f = selected as f64 / of as f64;
        Past {
            tests: ((self.tests as f64) * f).round() as u64,
            duration_ms: self.duration_ms * f,
            cpu_ms: self.cpu_ms.map(|c| c * f),
            wall_ms: self.wall_ms.map(|w| w * f),
            ..self
        }
    }
}

/// What the driver knows when it decides.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Input {
    /// `-j`, or the default (the number of CPUs).
    pub jobs: usize,
    pub jobs_given: bool,
    /// The framework can run in parallel here (pytest-xdist installed; always for Jest).
    pub available: bool,
    pub past: Option<Past>,
    /// Tests collected before deciding (only when there is no history).
    pub collected: Option<u64>,
    /// A worker start-up measured in this run (the collection pass), when there was one.
    pub startup_ms: Option<f64>,
}

/// The workers to use, and why. `workers` is 1 for serial.
pub fn decide(framework: Framework, input: Input, costs: Costs) -> WorkersDecision {
    let tool = match framework {
        Framework::Pytest => "xdist",
        _ => "worker",
    };
    let n = input.jobs.max(1);
    let made = |workers: usize, basis: &str, reason: String| WorkersDecision {
        framework,
        workers,
        basis: basis.into(),
        reason,
        serial_ms: None,
        startup_ms: input.startup_ms.map(round),
        tests: input.collected,
        cpu_ms: None,
        wall_ms: None,
        stretch: None,
    };
    if input.jobs_given {
        let workers = if input.available { n } else { 1 };
        let what = if workers == 1 {
            "serial".to_owned()
        } else {
            format!("{workers} workers")
        };
        let mut reason = format!("{what}: -j {n} given");
        if !input.available && n > 1 {
            reason.push_str(" but pytest-xdist is not installed");
        }
        return made(
            workers,
            if input.available {
                "user"
            } else {
                "unavailable"
            },
            reason,
        );
    }
    if n == 1 {
        return made(1, "cpus", "serial: one CPU".into());
    }
    if !input.available {
        return made(
            1,
            "unavailable",
            "serial: pytest-xdist is not installed".into(),
        );
    }
    if let Some(past) = input.past {
        let startup = input
            .startup_ms
            .or(past.startup_ms)
            .unwrap_or(costs.startup_ms);
        let added = startup + past.tests as f64 * costs.parallel_per_test_ms;
        // An xdist run's CPU time holds xdist's own dispatch, which varies (1.4-2.5 ms a
        // trivial test on this machine, not the 0.7 ms subtracted): read back from it, a
        // suite of quick tests looks like work and keeps xdist for good. Its tests'
        // durations do not hold it, so the smaller reading is taken.
        let by_durations = past.duration_ms + past.tests as f64 * costs.serial_per_test_ms;
        let (serial, took) = match serial_work(&past, startup, costs) {
            Some((cpu, waited))
                if past.workers > 1
                    && by_durations.is_finite()
                    && by_durations >= 0.0
                    && by_durations < cpu + waited =>
            {
                (
                    by_durations,
                    format!(
                        "would take {} serially by the durations its {} workers recorded last time (their CPU time reads {}, {tool}'s own dispatch included)",
                        secs(by_durations),
                        past.workers,
                        secs(cpu + waited)
                    ),
                )
            }
            Some((cpu, waited)) => (
                cpu + waited,
                format!(
                    "took {} serially last time ({} of CPU, {} waiting)",
                    secs(cpu + waited),
                    secs(cpu),
                    secs(waited)
                ),
            ),
            None => {
                let serial = past.duration_ms + past.tests as f64 * costs.serial_per_test_ms;
                (serial, format!("took {} serially last time", secs(serial)))
            }
        };
        let saved = serial * (1.0 - 1.0 / n as f64);
        let tests = thousands(past.tests);
        // Near the crossover both predictions are within their own error, and choosing
        // afresh each run flips between them: the last run's choice stands unless the
        // other is predicted to win by a margin.
        let margin = (serial * HYSTERESIS_SHARE).max(HYSTERESIS_MIN_MS);
        let kept_parallel = past.workers > 1;
        let parallel = if kept_parallel {
            saved + margin > added
        } else {
            saved > added + margin
        };
        let kept = if parallel == (saved > added) {
            ""
        } else if parallel {
            " (within the margin: kept from the last run)"
        } else {
            " (not by enough to change from the last run's serial)"
        };
        let (workers, reason) = if parallel {
            (
                n,
                format!(
                    "{n} workers: {tests} tests {took}; {n} workers save about {} for {} of {tool} start-up{kept}",
                    secs(saved),
                    secs(added)
                ),
            )
        } else {
            (
                1,
                format!(
                    "serial: {tests} tests {took}; {n} workers would save about {} but {tool} start-up would cost {}{kept}",
                    secs(saved),
                    secs(added)
                ),
            )
        };
        return WorkersDecision {
            serial_ms: Some(round(serial)),
            startup_ms: Some(round(startup)),
            tests: Some(past.tests),
            ..made(workers, "history", reason)
        };
    }
    match input.collected {
        Some(c) if c >= costs.threshold => made(
            n,
            "threshold",
            format!(
                "{n} workers: no history, {} tests collected (parallel from {})",
                thousands(c),
                thousands(costs.threshold)
            ),
        ),
        Some(c) => made(
            1,
            "threshold",
            format!(
                "serial: no history, {} collected (parallel from {})",
                if c == 1 {
                    "1 test".to_owned()
                } else {
                    format!("{} tests", thousands(c))
                },
                thousands(costs.threshold)
            ),
        ),
        None => made(
            1,
            "threshold",
            "serial: no history and the tests could not be counted".into(),
        ),
    }
}

/// The last run's serial work from its process tree: CPU time (less N workers' start-up
/// and dispatch, which a serial run does not pay) and the time it waited on something
/// other than a CPU (its wall time, times its workers, less its CPU time stretched by
/// the waits for a CPU). None when that run recorded no CPU time (or nonsense).
fn serial_work(past: &Past, startup: f64, costs: Costs) -> Option<(f64, f64)> {
    let ok = |v: f64| v.is_finite() && v >= 0.0;
    let cpu = past.cpu_ms.filter(|c| ok(*c))?;
    let workers = past.workers.max(1) as f64;
    let stretch = past.stretch.filter(|l| ok(*l)).unwrap_or(1.0).max(1.0);
    let (work, wall, busy) = if past.workers > 1 {
        let overhead = startup * workers + past.tests as f64 * costs.parallel_per_test_ms;
        let wall = past
            .wall_ms
            .filter(|w| ok(*w))
            .map(|w| (w - startup).max(0.0));
        // The workers' start-up ran in the `startup` cut from the wall time, so its CPU
        // (that wall time less the waits for a CPU) is cut from the CPU time the rest of
        // the wall time is compared with: otherwise the waiting disappears under it, and
        // a waiting suite reads as pure CPU after an xdist run.
        let busy = (cpu - startup * workers / stretch).max(0.0);
        ((cpu - overhead).max(0.0), wall, busy)
    } else {
        (cpu, past.wall_ms.filter(|w| ok(*w)), cpu)
    };
    let waited = wall.map_or(0.0, |w| (w * workers - busy * stretch).max(0.0));
    Some((work, waited))
}

fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

fn secs(ms: f64) -> String {
    format!("{:.1} s", ms / 1000.0)
}

/// 5000 → "5,000".
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Append the decision to the run's log, where the run (`Run::workers`) and history read it.
/// The rule for a runner that schedules its own workers, one per file (Jest, Vitest):
/// `-j` given wins; with history the measured choice ([`JEST`]'s costs); without, the
/// runner's own choice stands (`workers: 0`; its project setting or default), named
/// `runner` in the reason.
pub fn decide_self_scheduled(
    framework: Framework,
    runner: &str,
    history: Option<&crate::history::History>,
    options: &crate::runner::RunOptions,
) -> WorkersDecision {
    let mut input = Input {
        jobs: options.jobs,
        jobs_given: options.jobs_given,
        available: true,
        past: None,
        collected: None,
        startup_ms: None,
    };
    if !input.jobs_given && input.jobs > 1 {
        input.past = past_time(history, framework);
        if input.past.is_none() {
            return WorkersDecision {
                framework,
                workers: 0,
                basis: "project".into(),
                reason: format!(
                    "{runner}'s own choice: no history yet (the project's maxWorkers, or {runner}'s default)"
                ),
                serial_ms: None,
                startup_ms: None,
                tests: None,
                cpu_ms: None,
                wall_ms: None,
                stretch: None,
            };
        }
    }
    decide(framework, input, JEST)
}

pub fn record(events: &std::path::Path, decision: &WorkersDecision) -> anyhow::Result<()> {
    crate::events::EventLog::create(events)?.append(&crate::events::Event::Workers {
        time: chrono::Utc::now(),
        decision: decision.clone(),
    })
}

/// The framework's tests in the newest whole run history has of the project at `root`:
/// their count, the sum of their durations, and the worker start-up, CPU time and
/// workers that run recorded. None without history (or when it cannot be read: history
/// is derived data).
pub fn past_time(history: Option<&crate::history::History>, framework: Framework) -> Option<Past> {
    // The run's own history (no second open of history.db), and its store beside it.
    let history = history?;
    let store = crate::store::Store::at(history.path().parent()?.to_owned());
    let (run_id, tests, ms) = history.framework_time(framework.as_str()).ok()??;
    // Recorded with the run in history; a run recorded before that keeps them in its run.json.
    let decision = match history.workers_of(&run_id) {
        Ok(Some(workers)) => Some(workers),
        _ => store.workers_of(&run_id).ok(),
    }
    .and_then(|workers| workers.into_iter().find(|w| w.framework == framework));
    Some(Past {
        tests,
        duration_ms: ms,
        startup_ms: decision.as_ref().and_then(|w| w.startup_ms),
        // Only a run whose worker count is known can be read back as serial work.
        cpu_ms: decision
            .as_ref()
            .filter(|w| w.workers >= 1)
            .and_then(|w| w.cpu_ms),
        wall_ms: decision.as_ref().and_then(|w| w.wall_ms),
        stretch: decision.as_ref().and_then(|w| w.stretch),
        workers: decision.map_or(1, |w| w.workers.max(1)),
    })
}

/// The decision with what the framework's process used, once it ended (appended as a
/// second `workers` event, which replaces the first in the run).
pub fn measured(
    decision: &WorkersDecision,
    out: &crate::process::ProcessOutput,
) -> WorkersDecision {
    WorkersDecision {
        cpu_ms: Some(round(out.cpu.as_secs_f64() * 1000.0)),
        wall_ms: Some(round(out.duration.as_secs_f64() * 1000.0)),
        stretch: out.sched.and_then(|s| {
            let on = s.on_cpu.as_secs_f64();
            // Too little CPU to say how the load stretched it.
            (on >= 0.01).then(|| ((on + s.waiting.as_secs_f64()) / on * 100.0).round() / 100.0)
        }),
        ..decision.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> Input {
        Input {
            jobs: 2,
            jobs_given: false,
            available: true,
            past: None,
            collected: None,
            startup_ms: None,
        }
    }

    fn past(tests: u64, duration_ms: f64) -> Option<Past> {
        Some(Past {
            tests,
            duration_ms,
            ..Past::default()
        })
    }

    #[test]
    fn the_users_jobs_always_win() {
        for past in [None, past(5000, 100.0), past(10, 600_000.0)] {
            let d = decide(
                Framework::Pytest,
                Input {
                    jobs: 3,
                    jobs_given: true,
                    past,
                    ..input()
                },
                XDIST,
            );
            assert_eq!((d.workers, d.basis.as_str()), (3, "user"), "{past:?}");
            assert_eq!(d.reason, "3 workers: -j 3 given");
        }
        let one = decide(
            Framework::Pytest,
            Input {
                jobs: 1,
                jobs_given: true,
                past: past(10, 600_000.0),
                ..input()
            },
            XDIST,
        );
        assert_eq!(
            (one.workers, one.reason.as_str()),
            (1, "serial: -j 1 given")
        );
        let missing = decide(
            Framework::Pytest,
            Input {
                jobs: 4,
                jobs_given: true,
                available: false,
                ..input()
            },
            XDIST,
        );
        assert_eq!(
            (missing.workers, missing.basis.as_str()),
            (1, "unavailable")
        );
    }

    #[test]
    fn many_quick_tests_run_serially_and_the_reason_gives_the_numbers() {
        // The suite: 5,000 trivial tests, where xdist is slower than serial.
        let d = decide(
            Framework::Pytest,
            Input {
                past: past(5000, 250.0),
                ..input()
            },
            XDIST,
        );
        assert_eq!((d.workers, d.basis.as_str()), (1, "history"));
        assert_eq!(
            d.reason,
            "serial: 5,000 tests took 4.2 s serially last time; 2 workers would save about 2.1 s but xdist start-up would cost 4.7 s"
        );
        assert_eq!(d.serial_ms, Some(4250.0));
        assert_eq!(d.startup_ms, Some(1200.0));
        assert_eq!(d.tests, Some(5000));
    }

    #[test]
    fn slow_tests_get_workers() {
        let d = decide(
            Framework::Pytest,
            Input {
                jobs: 4,
                past: past(200, 60_000.0),
                ..input()
            },
            XDIST,
        );
        assert_eq!((d.workers, d.basis.as_str()), (4, "history"));
        assert!(
            d.reason.starts_with("4 workers: 200 tests took 60.2 s"),
            "{}",
            d.reason
        );
    }

    /// bench/RESULTS.md's loaded machine (load 16–24 on 2 CPUs): 1,000 trivial tests
    /// whose recorded (wall) durations sum to 8.4 s, while serial pytest used 3.1 s of
    /// CPU in 26.5 s, and `-n 2` 7.2 s of CPU in 40 s.
    #[test]
    fn cpu_time_decides_and_load_does_not_pick_workers() {
        let loaded = |cpu_ms: Option<f64>, wall_ms: f64, workers| {
            decide(
                Framework::Pytest,
                Input {
                    past: Some(Past {
                        tests: 1000,
                        duration_ms: 8400.0,
                        cpu_ms,
                        wall_ms: Some(wall_ms),
                        stretch: Some(11.0),
                        workers,
                        // xdist's start-up as that run measured it (at that load).
                        startup_ms: (workers > 1).then_some(1700.0),
                    }),
                    ..input()
                },
                XDIST,
            )
        };
        // Wall times alone (a run recorded before CPU time was): the load picks xdist.
        assert_eq!(loaded(None, 26_490.0, 1).workers, 2);
        let d = loaded(Some(3110.0), 26_490.0, 1);
        assert_eq!((d.workers, d.basis.as_str()), (1, "history"));
        assert_eq!(
            d.reason,
            "serial: 1,000 tests took 3.1 s serially last time (3.1 s of CPU, 0.0 s waiting); 2 workers would save about 1.6 s but xdist start-up would cost 1.9 s"
        );
        assert_eq!(d.serial_ms, Some(3110.0));
        // The same suite measured on xdist last time: its workers' start-up and dispatch
        // are taken out before weighing, and it goes back to serial.
        let d = loaded(Some(7170.0), 39_970.0, 2);
        assert_eq!(d.workers, 1, "{}", d.reason);
        assert!(
            d.reason.starts_with(
                "serial: 1,000 tests took 4.1 s serially last time (3.1 s of CPU, 1.1 s waiting)"
            ),
            "{}",
            d.reason
        );
        // Nonsense from a damaged file is not weighed: the durations decide.
        let d = loaded(Some(f64::NAN), 26_490.0, 1);
        assert!(d.reason.contains("took 9.2 s serially"), "{}", d.reason);
    }

    /// Tests that sleep (pytest-workers' `test_slow`: 4 × 1.5 s) use little CPU but gain
    /// from workers on any machine: the wall time the CPU does not explain is waiting.
    #[test]
    fn waiting_tests_get_workers_whatever_their_cpu_time() {
        let slow = |load| {
            decide(
                Framework::Pytest,
                Input {
                    past: Some(Past {
                        tests: 24,
                        duration_ms: 6100.0,
                        cpu_ms: Some(1000.0),
                        // 6 s of sleeps plus 1 s of CPU stretched by the load.
                        wall_ms: Some(6000.0 + 1000.0 * f64::max(load, 1.0)),
                        stretch: Some(load),
                        workers: 1,
                        startup_ms: None,
                    }),
                    ..input()
                },
                XDIST,
            )
        };
        for load in [0.2, 2.5, 10.0] {
            let d = slow(load);
            assert_eq!(d.workers, 2, "load {load}: {}", d.reason);
            assert_eq!(d.serial_ms, Some(7000.0), "load {load}");
        }
        assert_eq!(
            slow(2.5).reason,
            "2 workers: 24 tests took 7.0 s serially last time (1.0 s of CPU, 6.0 s waiting); 2 workers save about 3.5 s for 1.2 s of xdist start-up"
        );
    }

    #[test]
    fn a_measured_start_up_beats_the_estimate() {
        // 10 s of work saves 5 s on 2 workers: worth it for the estimated start-up,
        // not for a measured 6 s one (this run's first, then history's).
        let work = past(100, 10_000.0);
        let est = decide(
            Framework::Pytest,
            Input {
                past: work,
                ..input()
            },
            XDIST,
        );
        assert_eq!(est.workers, 2);
        let measured_now = Input {
            past: work,
            startup_ms: Some(6000.0),
            ..input()
        };
        assert_eq!(decide(Framework::Pytest, measured_now, XDIST).workers, 1);
        let recorded = Input {
            past: Some(Past {
                startup_ms: Some(6000.0),
                ..work.unwrap()
            }),
            ..input()
        };
        let d = decide(Framework::Pytest, recorded, XDIST);
        assert_eq!((d.workers, d.startup_ms), (1, Some(6000.0)));
    }

    #[test]
    fn without_history_the_collected_count_decides() {
        let at = |collected| {
            decide(
                Framework::Pytest,
                Input {
                    collected,
                    ..input()
                },
                XDIST,
            )
        };
        let below = at(Some(XDIST.threshold - 1));
        assert_eq!((below.workers, below.basis.as_str()), (1, "threshold"));
        assert_eq!(
            below.reason,
            "serial: no history, 2,999 tests collected (parallel from 3,000)"
        );
        assert_eq!(at(Some(XDIST.threshold)).workers, 2);
        assert_eq!(at(None).workers, 1, "uncounted: serial");
    }

    #[test]
    fn one_cpu_or_no_xdist_is_serial() {
        let one = decide(Framework::Pytest, Input { jobs: 1, ..input() }, XDIST);
        assert_eq!((one.workers, one.basis.as_str()), (1, "cpus"));
        let none = decide(
            Framework::Pytest,
            Input {
                available: false,
                past: past(10, 600_000.0),
                ..input()
            },
            XDIST,
        );
        assert_eq!((none.workers, none.basis.as_str()), (1, "unavailable"));
    }

    #[test]
    fn jest_speaks_of_workers() {
        let d = decide(
            Framework::Jest,
            Input {
                past: past(20, 100.0),
                ..input()
            },
            JEST,
        );
        assert_eq!(d.workers, 1);
        assert!(
            d.reason.contains("worker start-up would cost"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn the_decision_is_kept_in_the_run_and_read_back_as_history() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::for_project(dir.path());
        let rec = store
            .start_run(
                dir.path(),
                vec![Framework::Pytest],
                chrono::Utc::now(),
                None,
            )
            .unwrap();
        let first = decide(
            Framework::Pytest,
            Input {
                collected: Some(12),
                startup_ms: Some(750.0),
                ..input()
            },
            XDIST,
        );
        record(rec.log.path(), &first).unwrap();
        // Once pytest ended: the same decision with its process tree's CPU time.
        let ms = std::time::Duration::from_millis;
        let out = crate::process::ProcessOutput {
            exit: crate::process::ExitKind::Code(0),
            stdout: crate::process::CappedBuf::new(0),
            stderr: crate::process::CappedBuf::new(0),
            duration: ms(9000),
            cpu: ms(1500),
            sched: Some(crate::process::Sched {
                on_cpu: ms(1200),
                waiting: ms(3000),
            }),
            killed: None,
        };
        let after = measured(&first, &out);
        assert_eq!(
            (after.cpu_ms, after.wall_ms, after.stretch),
            (Some(1500.0), Some(9000.0), Some(3.5))
        );
        record(rec.log.path(), &after).unwrap();
        let (run, _) = rec.finish(true, None).unwrap();
        assert_eq!(
            run.workers,
            vec![after.clone()],
            "the measured one replaces it"
        );
        assert_eq!(run.workers[0].tests, Some(12));
        let history = |root: &std::path::Path| {
            crate::history::History::open(&crate::store::Store::for_project(root).root().to_owned())
                .unwrap()
        };
        assert_eq!(past_time(None, Framework::Pytest), None, "no history");
        assert_eq!(
            past_time(Some(&history(dir.path())), Framework::Pytest),
            None,
            "no history yet"
        );
        let mut run = run;
        run.tests = vec![crate::model::TestCase::from_attempts(
            crate::model::TestMeta {
                id: "t.py::a".into(),
                framework: Framework::Pytest,
                name: "a".into(),
                suite: vec![],
                file: None,
                line: None,
                binary: None,
            },
            vec![crate::model::Attempt {
                attempt: 1,
                outcome: crate::model::Outcome::Passed,
                duration_ms: 40.0,
                started_at: None,
                failure: None,
                concurrent: None,
                attachments: vec![],
            }],
        )];
        crate::history::History::open(store.root())
            .unwrap()
            .record(&run, "run", 10)
            .unwrap();
        assert_eq!(
            past_time(Some(&history(dir.path())), Framework::Pytest),
            Some(Past {
                tests: 1,
                duration_ms: 40.0,
                startup_ms: Some(750.0),
                cpu_ms: Some(1500.0),
                wall_ms: Some(9000.0),
                stretch: Some(3.5),
                workers: 1,
            }),
            "the start-up and CPU time measured by the first run are what the next one weighs"
        );
        assert_eq!(past_time(Some(&history(dir.path())), Framework::Jest), None);
    }

    /// One suite (2.2 s of CPU, 0.9 s of sleeps, 472 tests) as a serial run and as a
    /// 2-worker run (each worker starting in `startup`, dispatch shared out) record it.
    fn waiting_suite(workers: usize, startup: f64) -> Past {
        let (cpu, sleeps, tests) = (2200.0, 900.0, 472u64);
        let dispatch = tests as f64 * XDIST.parallel_per_test_ms;
        let (cpu_ms, wall_ms) = if workers == 1 {
            (cpu, cpu + sleeps)
        } else {
            let w = workers as f64;
            (
                cpu + startup * w + dispatch,
                startup + (cpu + sleeps + dispatch) / w,
            )
        };
        Past {
            tests,
            duration_ms: cpu + sleeps,
            startup_ms: Some(startup),
            cpu_ms: Some(cpu_ms),
            wall_ms: Some(wall_ms),
            stretch: Some(1.0),
            workers,
        }
    }

    #[test]
    fn a_serial_and_an_xdist_run_of_one_suite_read_the_same_serial_work() {
        let read = |p: Past| serial_work(&p, 600.0, XDIST).unwrap();
        let (cpu, waited) = read(waiting_suite(1, 600.0));
        assert_eq!((cpu.round(), waited.round()), (2200.0, 900.0));
        // Before, the workers' start-up hid the sleeps: 2.2 s of CPU and no waiting.
        let (cpu, waited) = read(waiting_suite(2, 600.0));
        assert_eq!((cpu.round(), waited.round()), (2200.0, 900.0));
    }

    /// bench/RESULTS.md 2026-12-03: 5,000 trivial tests once on xdist (a disturbed run
    /// chose it) used 19.7 s of CPU where serial pytest uses 4.5 s; read back from that
    /// CPU time the suite looked like 11.6 s of work and every later run stayed on xdist.
    #[test]
    fn quick_tests_once_on_xdist_go_back_to_serial() {
        let d = decide(
            Framework::Pytest,
            Input {
                past: Some(Past {
                    tests: 5000,
                    duration_ms: 480.0,
                    startup_ms: None,
                    cpu_ms: Some(19_671.5),
                    wall_ms: Some(10_736.0),
                    stretch: Some(1.68),
                    workers: 2,
                }),
                ..input()
            },
            XDIST,
        );
        assert_eq!(d.workers, 1, "{}", d.reason);
        assert!(
            d.reason.starts_with("serial: 5,000 tests would take 4.5 s serially by the durations its 2 workers recorded last time (their CPU time reads 13.8 s"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn near_the_crossover_the_last_choice_stands() {
        // 3.1 s of serial work saves 1.55 s on 2 workers; the start-up plus dispatch
        // (0.33 s) costs about as much: within the margin, whichever ran last runs again.
        let at = |workers: usize, startup: f64| {
            decide(
                Framework::Pytest,
                Input {
                    past: Some(waiting_suite(workers, startup)),
                    ..input()
                },
                XDIST,
            )
        };
        // 2 workers predicted 20 ms better: not enough to leave serial.
        let d = at(1, 1200.0);
        assert_eq!(d.workers, 1, "{}", d.reason);
        assert!(
            d.reason
                .ends_with(" (not by enough to change from the last run's serial)"),
            "{}",
            d.reason
        );
        assert_eq!(at(2, 1200.0).workers, 2);
        // Serial predicted 30 ms better: not enough to leave 2 workers.
        let d = at(2, 1250.0);
        assert_eq!(d.workers, 2, "{}", d.reason);
        assert!(
            d.reason
                .ends_with(" (within the margin: kept from the last run)"),
            "{}",
            d.reason
        );
        assert_eq!(at(1, 1250.0).workers, 1);
        // Far from it, the prediction decides whatever ran last.
        assert_eq!(at(1, 100.0).workers, 2);
        assert_eq!(at(2, 3000.0).workers, 1);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn a_share_of_the_last_run_scales_its_work_but_not_its_start_up() {
        let past = Past {
            tests: 400,
            duration_ms: 4000.0,
            startup_ms: Some(900.0),
            cpu_ms: Some(8000.0),
            wall_ms: Some(5000.0),
            stretch: Some(1.2),
            workers: 2,
        };
        let s = past.share(10, 400);
        assert_eq!(s.tests, 10);
        assert_eq!(s.duration_ms, 100.0);
        assert_eq!(s.cpu_ms, Some(200.0));
        assert_eq!(s.wall_ms, Some(125.0));
        assert_eq!(
            (s.startup_ms, s.stretch, s.workers),
            (Some(900.0), Some(1.2), 2)
        );
        // All of them, or nothing to scale by: the past as it was.
        assert_eq!(past.share(400, 400), past);
        assert_eq!(past.share(3, 0), past);
        // Ten tests of a suite that needed two workers do not.
        let input = Input {
            jobs: 2,
            jobs_given: false,
            available: true,
            past: Some(past.share(10, 400)),
            collected: None,
            startup_ms: None,
        };
        assert_eq!(decide(Framework::Pytest, input, XDIST).workers, 1);
        let whole = Input {
            past: Some(past),
            ..input
        };
        assert_eq!(decide(Framework::Pytest, whole, XDIST).workers, 2);
    }
}
