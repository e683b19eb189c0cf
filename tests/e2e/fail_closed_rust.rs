//! Fail closed, the Rust door (issue 12): the fixtures in `tests/fixtures/fail-closed/rust-*`
//! misbehave on purpose (a test exits 0 early, writes libtest-shaped lines past capture,
//! makes its binary exit non-zero after a clean summary). Each runs in both isolation
//! modes; what libtest and testflow say is in each fixture's `EXPECTED.md`.

use std::process::Stdio;
use std::time::Duration;

use testflow::model::{Outcome, Run, error_kind};

use crate::util::{Output, Project, RunExt, failure, wait_until};

const MODES: [&str; 2] = ["process", "binary"];

/// `run --isolation MODE -j 1 --format json`, killed (and the test failed) if it has not
/// ended after two minutes: a guard against the hang these tests exist for, not timing.
fn run(p: &Project, mode: &str) -> Output {
    let mut cmd = p.command(&["run", "--isolation", mode, "-j", "1", "--format", "json"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run cargo-testflow");
    let ended = wait_until(Duration::from_secs(120), || {
        child.try_wait().expect("wait for cargo-testflow").is_some()
    });
    if !ended {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("collect cargo-testflow");
    assert!(ended, "cargo testflow run --isolation {mode} hung");
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    Output {
        code: out.status.code().unwrap_or(-1),
        run: serde_json::from_str::<Run>(&stdout).ok(),
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn outcomes(run: &Run) -> Vec<(&str, Outcome)> {
    let mut v: Vec<(&str, Outcome)> = run
        .tests
        .iter()
        .map(|t| (t.id.as_str(), t.outcome))
        .collect();
    v.sort_by_key(|(id, _)| *id);
    v
}

fn details(run: &Run, id: &str) -> String {
    failure(run.test(id)).details.clone().unwrap_or_default()
}

/// `std::process::exit(0)` before the assertion: libtest never reports the test, so it
/// is not passed (cargo test itself exits 0 here).
#[test]
fn exit_zero_inside_a_test_is_not_a_pass() {
    let p = Project::new("fail-closed/rust-exit-zero");
    for mode in MODES {
        let out = run(&p, mode);
        assert_eq!(out.code, 100, "{mode}: {}", out.stderr);
        let run = out.run();
        assert_eq!(
            outcomes(run),
            vec![
                (
                    "exit_zero$tests::exits_zero_before_assert",
                    Outcome::Crashed
                ),
                ("exit_zero$tests::passes", Outcome::Passed),
            ],
            "{mode}"
        );
        let f = failure(run.test("exit_zero$tests::exits_zero_before_assert"));
        assert_eq!(f.kind.as_deref(), Some("no_result"), "{mode}");
        assert_eq!(
            f.message,
            "the process exited 0, but libtest never reported `tests::exits_zero_before_assert` passed: \
             its output has no `test result:` summary (did the test end the process itself, e.g. with std::process::exit?)",
            "{mode}"
        );
        assert!(run.errors.is_empty(), "{mode}: {:?}", run.errors);
    }
}

/// Lines shaped like libtest's JSON, written past capture (straight to stdout, and by a
/// child with inherited stdout), say `c_aborts` and `d_fails` passed. In binary mode the
/// stream names them before they started: the binary's results are suspect, every test
/// re-runs alone, and both keep their real outcome.
#[test]
fn forged_result_lines_never_make_a_failure_pass() {
    let p = Project::new("fail-closed/rust-forged-line");
    for mode in MODES {
        let out = run(&p, mode);
        assert_eq!(out.code, 100, "{mode}: {}", out.stderr);
        let run = out.run();
        assert_eq!(
            outcomes(run),
            vec![
                (
                    "forged_line$tests::a_forges_through_stdout",
                    Outcome::Passed
                ),
                (
                    "forged_line$tests::b_forges_through_a_child",
                    Outcome::Passed
                ),
                ("forged_line$tests::c_aborts", Outcome::Crashed),
                ("forged_line$tests::d_fails", Outcome::Failed),
            ],
            "{mode}"
        );
        for id in ["forged_line$tests::c_aborts", "forged_line$tests::d_fails"] {
            assert_eq!(run.test(id).attempts.len(), 1, "{mode} {id}");
        }
        assert_eq!(
            failure(run.test("forged_line$tests::d_fails")).message,
            "assertion `left == right` failed"
        );
        if mode == "binary" {
            let d = details(run, "forged_line$tests::d_fails");
            assert!(
                d.starts_with("re-run in its own process because libtest's output for forged_line could not be trusted: ")
                    && d.contains("a result for `tests::c_aborts`, which never started")
                    && d.contains("a result for `tests::d_fails`, which never started"),
                "{d}"
            );
        }
    }
}

/// A negative and a huge `exec_time` in libtest-shaped lines: no panic, no hang; the
/// stream is suspect and the real failure of `c_fails` (from the stream) is kept.
#[test]
fn impossible_exec_times_are_suspect_not_a_panic() {
    let p = Project::new("fail-closed/rust-bad-exec-time");
    for mode in MODES {
        let out = run(&p, mode);
        assert_eq!(out.code, 100, "{mode}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{mode}: {}", out.stderr);
        let run = out.run();
        assert_eq!(
            outcomes(run),
            vec![
                ("bad_exec_time$tests::a_negative_exec_time", Outcome::Passed),
                ("bad_exec_time$tests::b_huge_exec_time", Outcome::Passed),
                ("bad_exec_time$tests::c_fails", Outcome::Failed),
            ],
            "{mode}"
        );
        let c = run.test("bad_exec_time$tests::c_fails");
        assert_eq!(c.attempts.len(), 1, "{mode}");
        assert!(c.duration_ms < 60_000.0, "{mode}: {}", c.duration_ms);
        if mode == "binary" {
            let d = details(run, "bad_exec_time$tests::c_fails");
            assert!(
                d.contains("`tests::c_fails` reported with an impossible exec_time of -1.0s")
                    && d.contains(
                        "`tests::c_fails` reported with an impossible exec_time of 1e300s"
                    )
                    && d.contains("`tests::c_fails` reported 2 times"),
                "{d}"
            );
        }
    }
}

/// Every test passes by libtest's account, but an `atexit` hook makes the binary exit 7.
/// `hook_always`: the culprit fails alone too (explained). The lib: the hook only fires
/// when both tests ran in one process, so one process per test cannot explain it, and
/// binary mode ends with a `reconcile` run error.
#[test]
fn an_exit_status_that_contradicts_the_summary_is_reconciled() {
    let p = Project::new("fail-closed/rust-exit-status");
    for mode in MODES {
        let out = run(&p, mode);
        assert_eq!(out.code, 100, "{mode}: {}", out.stderr);
        let run = out.run();
        assert_eq!(
            outcomes(run),
            vec![
                ("exit_status$tests::together_one", Outcome::Passed),
                ("exit_status$tests::together_two", Outcome::Passed),
                ("exit_status::hook_always$plain", Outcome::Passed),
                (
                    "exit_status::hook_always$registers_the_hook",
                    Outcome::Failed
                ),
            ],
            "{mode}"
        );
        assert_eq!(
            failure(run.test("exit_status::hook_always$registers_the_hook")).message,
            "test failed with exit code 7"
        );
        let errors: Vec<(&str, &str)> = run
            .errors
            .iter()
            .map(|e| (e.kind.as_str(), e.message.as_str()))
            .collect();
        if mode == "binary" {
            assert_eq!(
                errors,
                vec![(
                    error_kind::RECONCILE,
                    "exit_status: the process ended with exit status 7 although libtest reported no failure; \
                     yet each of its tests passed when re-run in its own process"
                )]
            );
            assert_eq!(
                details(run, "exit_status::hook_always$registers_the_hook"),
                "re-run in its own process because libtest's output for exit_status::hook_always could not be trusted: \
                 the process ended with exit status 7 although libtest reported no failure"
            );
        } else {
            assert!(errors.is_empty(), "{errors:?}");
        }
    }
}

/// The lib binary alone in binary mode: nothing fails, so the unexplained exit status is
/// the run's only problem: `RUN ERROR`, exit 102, and `gate` fails on the stored run.
#[test]
fn an_unexplained_exit_status_alone_fails_the_run_and_the_gate() {
    let p = Project::new("fail-closed/rust-exit-status");
    let out = p.run(&["--isolation", "binary", "--lib"]);
    assert_eq!(out.code, 102, "{}", out.stderr);
    let run = out.run();
    assert!(run.tests.iter().all(|t| t.outcome == Outcome::Passed));
    assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
    assert_eq!(run.errors[0].kind, error_kind::RECONCILE);
    let gate = p.cmd(&["gate"]);
    assert_eq!(gate.code, 3, "{}{}", gate.stdout, gate.stderr);
    let no_run_errors = gate
        .stdout
        .lines()
        .find(|l| l.starts_with("no_run_errors"))
        .unwrap_or_else(|| panic!("no no_run_errors gate: {}", gate.stdout));
    assert!(no_run_errors.contains("FAIL"), "{no_run_errors}");
}

/// A doctest writes into rustdoc's own stdout a result for a doctest that does not
/// exist. rustdoc's summary counts 2 passed; the stream has 3: a `reconcile` run error,
/// exit 102 (the two real doctests passed).
#[test]
fn a_doctest_result_rustdoc_never_counted_fails_the_run() {
    let p = Project::new("fail-closed/rust-doctest-forged");
    let out = p.run(&["--doc"]);
    assert_eq!(out.code, 102, "{}", out.stderr);
    let run = out.run();
    for id in [
        "doctest_forged::doctest$src/lib.rs - add (line 4)",
        "doctest_forged::doctest$src/lib.rs - forges (line 11)",
    ] {
        assert_eq!(run.test(id).outcome, Outcome::Passed, "{id}");
    }
    let errors: Vec<(&str, &str)> = run
        .errors
        .iter()
        .map(|e| (e.kind.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        errors,
        vec![(
            error_kind::RECONCILE,
            "doctests of doctest_forged: libtest's summary says 2 passed, 0 failed, 0 ignored, \
             but its per-test lines say 3, 0, 0; libtest announced 2 tests and reported 3"
        )]
    );
    assert!(out.stderr.contains("RUN ERROR"), "{}", out.stderr);
}
