//! How many workers pytest (pytest-xdist `-n`) and Jest (`--maxWorkers`, `--runInBand`)
//! get: parallel only when it pays, never assumed.
//!
//! The rule, in order:
//! 1. `-j N` given by the user (or `[run] jobs`) always wins.
//! 2. One CPU (or `-j` defaulting to 1), or no way to run in parallel (pytest-xdist not
//!    installed): serial.
//! 3. History: the suite's serial work last time (`serial_ms`: the sum of its recorded
//!    test durations plus the framework's per-test cost) against what N workers add
//!    (one worker's start-up, measured in an earlier run or estimated, plus a per-test
//!    dispatch cost). N workers run when `serial_ms × (1 − 1/N)` exceeds that.
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

/// The suite as history recorded it (`History::framework_time`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Past {
    pub tests: u64,
    /// Sum of the recorded test durations.
    pub duration_ms: f64,
    /// A worker start-up measured by an earlier run, when one did.
    pub startup_ms: Option<f64>,
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
        let serial = past.duration_ms + past.tests as f64 * costs.serial_per_test_ms;
        let saved = serial * (1.0 - 1.0 / n as f64);
        let added = startup + past.tests as f64 * costs.parallel_per_test_ms;
        let tests = thousands(past.tests);
        let (workers, reason) = if saved > added {
            (
                n,
                format!(
                    "{n} workers: {tests} tests took {} serially last time; {n} workers save about {} for {} of {tool} start-up",
                    secs(serial),
                    secs(saved),
                    secs(added)
                ),
            )
        } else {
            (
                1,
                format!(
                    "serial: {tests} tests took {} serially last time; {n} workers would save about {} but {tool} start-up would cost {}",
                    secs(serial),
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
pub fn record(events: &std::path::Path, decision: &WorkersDecision) -> anyhow::Result<()> {
    crate::events::EventLog::create(events)?.append(&crate::events::Event::Workers {
        time: chrono::Utc::now(),
        decision: decision.clone(),
    })
}

/// The framework's tests in the newest whole run history has of the project at `root`:
/// their count, the sum of their durations, and the worker start-up that run recorded.
/// None without history (or when it cannot be read: history is derived data).
pub fn past_time(root: &std::path::Path, framework: Framework) -> Option<(u64, f64, Option<f64>)> {
    let store = crate::store::Store::for_project(root);
    let history = crate::history::History::open_existing(store.root()).ok()??;
    let (run_id, tests, ms) = history.framework_time(framework.as_str()).ok()??;
    let startup = store.load(&run_id).ok().and_then(|run| {
        run.workers
            .into_iter()
            .find(|w| w.framework == framework)
            .and_then(|w| w.startup_ms)
    });
    Some((tests, ms, startup))
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
            startup_ms: None,
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
        let (run, _) = rec.finish(true, None).unwrap();
        assert_eq!(run.workers, vec![first.clone()]);
        assert_eq!(run.workers[0].tests, Some(12));
        assert_eq!(
            past_time(dir.path(), Framework::Pytest),
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
            }],
        )];
        crate::history::History::open(store.root())
            .unwrap()
            .record(&run, "run", 10)
            .unwrap();
        assert_eq!(
            past_time(dir.path(), Framework::Pytest),
            Some((1, 40.0, Some(750.0))),
            "the start-up measured by the first run is what the next one weighs"
        );
        assert_eq!(past_time(dir.path(), Framework::Jest), None);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
