//! The process exit codes, in one place (documented in `--help` and the README).

/// Every test passed (flaky tests that passed on a retry count as passed).
pub const OK: i32 = 0;
/// Bad command line or configuration.
pub const USAGE: i32 = 2;
/// A required quality gate failed: `cargo testflow gate`, or `run --gate` when the tests
/// passed. (Before issue 14, `gate` exited 1, the code of an internal error.)
pub const GATE_FAILED: i32 = 3;
/// No tests ran (the filter matched nothing, or there are no tests).
pub const NO_TESTS: i32 = 4;
/// A reading command found nothing of what was asked: no runs recorded yet, an unknown
/// run or test id (`show`, `history test`, `report --run`), no run that ran tests.
pub const NOT_FOUND: i32 = 5;
/// At least one test failed, errored, timed out or crashed.
pub const TESTS_FAILED: i32 = 100;
/// The build (or listing the tests it produced) failed.
pub const BUILD_FAILED: i32 = 101;
/// The run cannot be trusted as a pass even though no recorded test failed: a run error
/// (the framework's own totals or exit status disagree with what was recorded, a damaged
/// event log, a testflow worker that panicked, shards that disagree). Fails closed.
pub const RUN_ERROR: i32 = 102;
/// Interrupted by Ctrl-C (SIGINT); everything recorded so far is kept.
pub const INTERRUPTED: i32 = 130;
/// Stopped by SIGTERM; everything recorded so far is kept.
pub const TERMINATED: i32 = 143;
/// Stopped by SIGHUP (the terminal went away); everything recorded so far is kept.
pub const HANGUP: i32 = 129;

/// The exit code of a run stopped by `signal` (128 + the signal number, as shells do).
/// Async-signal-safe: the second signal's handler calls it.
pub const fn for_signal(signal: i32) -> i32 {
    match signal {
        libc::SIGTERM => TERMINATED,
        libc::SIGHUP => HANGUP,
        _ => INTERRUPTED,
    }
}
/// Anything else that went wrong (cannot write the state directory, …).
pub const INTERNAL: i32 = 1;
/// `iterate` stopped because an iteration had more failures than the one before.
pub const ITERATE_REGRESSION: i32 = 20;
/// `iterate` stopped because the failure count stopped improving.
pub const ITERATE_PLATEAU: i32 = 21;
/// `iterate` reached `--max-iterations` with tests still failing.
pub const ITERATE_MAX_ITERATIONS: i32 = 22;

#[cfg(test)]
mod tests {
    #[test]
    fn a_signal_exits_with_128_plus_its_number() {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            assert_eq!(super::for_signal(sig), 128 + sig);
        }
    }
}
