//! What the drivers of runners that report through a testflow reporter (Vitest,
//! Playwright) share once the runner's process has ended: its output's tail for the
//! messages, and the check of its exit status against what the reporter recorded.

use crate::model::{Framework, Run, error_kind};
use crate::process::{ExitKind, ProcessOutput};

/// The last 30 lines of the process's stdout, then of its stderr.
pub fn tail_of(out: &ProcessOutput) -> String {
    let tail = |s: &str| {
        let lines: Vec<&str> = s.lines().rev().take(30).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    };
    format!(
        "{}\n{}",
        tail(&out.stdout.to_captured().text),
        tail(&out.stderr.to_captured().text)
    )
}

/// The runner's exit status against the log (`logged`) and whether its reporter saw the
/// end of the run (`reporter_finished`; `reporter` and `last_hook` name the reporter and
/// the hook that says so, `jest-testflow/vitest`, `onTestRunEnd`). A message when they
/// disagree.
pub fn reconcile_exit(
    framework: Framework,
    runner: &str,
    reporter: &str,
    last_hook: &str,
    exit: ExitKind,
    reporter_finished: bool,
    logged: &Run,
) -> Option<String> {
    let failing: Vec<&str> = logged
        .tests
        .iter()
        .filter(|t| t.framework == framework && t.outcome.is_failure())
        .map(|t| t.id.as_str())
        .collect();
    let errors = logged
        .errors
        .iter()
        .filter(|e| e.kind != error_kind::INCOMPLETE)
        .count();
    let code = match exit {
        ExitKind::Code(c) => format!("exit code {c}"),
        ExitKind::Signal(s) => format!("signal {s}"),
    };
    if !reporter_finished {
        return Some(format!(
            "{runner} ended ({code}) before {reporter} saw the end of the run \
             ({last_hook} never ran): {runner} stopped early or the reporter was not loaded; tests that had not run are missing"
        ));
    }
    if exit.success() && !failing.is_empty() {
        return Some(format!(
            "{runner} exited with {code}, but testflow recorded {} failing tests (first: `{}`)",
            failing.len(),
            failing[0]
        ));
    }
    if !exit.success() && failing.is_empty() && errors == 0 {
        return Some(format!(
            "{runner} exited with {code}, but testflow recorded no failing test and no run error"
        ));
    }
    None
}
