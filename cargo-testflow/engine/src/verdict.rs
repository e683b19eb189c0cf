//! A run's verdict as an exit code: what every door (the command line, `merge`, the
//! recorder behind the plugins) exits with for a finished `Run`.

use crate::exit_code;
use crate::model::Run;

/// Why the run stopped early, if it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    FailFast,
    RunTimeout,
    Interrupted,
}

/// The exit code of a finished run. Quarantined tests' failures do not count; run
/// errors always do.
pub fn exit_code_for(run: &Run, stopped: Option<Stopped>) -> i32 {
    let summary = run.recomputed_summary();
    let counted = run.verdict_summary();
    // A suite that could not be built, collected or started (any framework's).
    let broken = run
        .errors
        .iter()
        .any(|e| crate::model::error_kind::stops_suite(&e.kind));
    if stopped == Some(Stopped::Interrupted) {
        crate::interrupt::exit_code().unwrap_or(exit_code::INTERRUPTED)
    } else if broken {
        exit_code::BUILD_FAILED
    } else if counted.failures() > 0 || stopped == Some(Stopped::RunTimeout) {
        exit_code::TESTS_FAILED
    } else if !run.distrust().is_empty() {
        // Nothing recorded failed, but the run itself is in doubt: never green.
        exit_code::RUN_ERROR
    } else if summary.total == summary.skipped {
        exit_code::NO_TESTS
    } else {
        exit_code::OK
    }
}
