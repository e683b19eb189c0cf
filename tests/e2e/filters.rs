//! Selecting tests: name filters, `--ignored`, `--doc` / `--no-doc`, `-j 1`, `--fail-fast`.

use testflow::model::Outcome;

use crate::util::{Project, RunExt};

#[test]
fn a_filter_runs_only_matching_tests() {
    let out = Project::new("rust-basic").run(&["passes"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = out.run();
    assert_eq!(
        run.ids(),
        ["calc$tests::passes", "calc::integ$integ_passes"]
    );
    assert!(run.tests.iter().all(|t| t.outcome == Outcome::Passed));
    assert_eq!((run.summary.total, run.summary.passed), (2, 2));
}

#[test]
fn a_filter_matching_nothing_exits_4() {
    let out = Project::new("rust-basic").run(&["no_test_is_called_this"]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert_eq!(out.run().tests, vec![]);
}

#[test]
fn ignored_runs_only_the_ignored_tests() {
    let out = Project::new("rust-basic").run(&["--ignored"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = out.run();
    assert_eq!(run.ids(), ["calc$tests::ignored_slow"]);
    let t = run.test("calc$tests::ignored_slow");
    assert_eq!(t.outcome, Outcome::Passed);
    assert!(t.duration_ms >= 2000.0, "it sleeps 2 s: {}", t.duration_ms);
}

#[test]
fn no_doc_skips_the_doctests() {
    let out =
        Project::new("rust-basic").run(&["--no-doc", "--test-timeout", crate::util::HANG_LIMIT]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    let run = out.run();
    assert_eq!(run.tests.len(), 16, "{:?}", run.ids());
    assert!(
        run.tests
            .iter()
            .all(|t| t.binary.as_deref() != Some("calc::doctest"))
    );
}

#[test]
fn doc_runs_only_the_doctests() {
    let out = Project::new("rust-basic").run(&["--doc", "--test-timeout", crate::util::HANG_LIMIT]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    let run = out.run();
    assert_eq!(
        run.ids(),
        [
            "calc::doctest$crates/calc/src/lib.rs - add (line 5)",
            "calc::doctest$crates/calc/src/lib.rs - div (line 16)"
        ]
    );
    assert_eq!((run.summary.passed, run.summary.failed), (1, 1));
}

#[test]
fn one_job_runs_the_tests_one_at_a_time() {
    let out = Project::new("rust-basic").run(&["-j", "1", "integ_passes", "fails_assert"]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    let run = out.run();
    assert_eq!(
        run.ids(),
        [
            "calc$tests::fails_assert",
            "calc$tests::fails_assert_eq",
            "calc::integ$integ_passes"
        ]
    );
    assert_eq!((run.summary.passed, run.summary.failed), (1, 2));
    // One at a time: no two attempts overlap.
    let mut spans: Vec<(chrono::DateTime<chrono::Utc>, f64)> = run
        .tests
        .iter()
        .map(|t| (t.attempts[0].started_at.expect("started_at"), t.duration_ms))
        .collect();
    spans.sort_by_key(|s| s.0);
    for w in spans.windows(2) {
        let end = w[0].0 + chrono::Duration::microseconds((w[0].1 * 1000.0) as i64);
        assert!(end <= w[1].0, "attempts overlap: {spans:?}");
    }
}

#[test]
fn fail_fast_stops_after_the_first_failure() {
    // Three failing tests of one binary, one process each; -j 1 runs them in listing
    // (alphabetical) order.
    let p = Project::new("rust-basic");
    let out = p.run(&["--fail-fast", "--isolation", "process", "-j", "1", "fails_"]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    assert_eq!(out.run().ids(), ["calc$tests::fails_assert"]);
    assert_eq!(
        out.run().test("calc$tests::fails_assert").outcome,
        Outcome::Failed
    );
    // Without --fail-fast the same filter runs all three.
    let out = p.run(&["--isolation", "process", "-j", "1", "fails_"]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    assert_eq!(
        out.run().ids(),
        [
            "calc$tests::fails_assert",
            "calc$tests::fails_assert_eq",
            "calc$tests::fails_panic"
        ]
    );
}

#[test]
fn arguments_after_a_double_dash_reach_libtest_in_both_modes() {
    // An option libtest does not know: it can only fail if it reached libtest, and a
    // libtest that refused to run is never a pass.
    for isolation in ["process", "binary"] {
        let p = Project::new("rust-basic");
        let out = p.cmd(&[
            "run",
            "--no-doc",
            "--isolation",
            isolation,
            "passes",
            "--format",
            "json",
            "--",
            "--no-such-libtest-flag",
        ]);
        assert!(
            ![0, 2, 4].contains(&out.code),
            "{isolation}: {}",
            out.stderr
        );
        let run = out.run();
        assert!(!run.tests.is_empty(), "{isolation}");
        assert!(
            run.tests.iter().all(|t| t.outcome.is_failure()),
            "{isolation}: {:?}",
            run.tests.iter().map(|t| t.outcome).collect::<Vec<_>>()
        );
        let text = serde_json::to_string(run).unwrap();
        assert!(text.contains("no-such-libtest-flag"), "{isolation}: {text}");
    }
    // And a harmless one changes nothing: the same two tests pass.
    let p = Project::new("rust-basic");
    let out = p.cmd(&[
        "run",
        "--no-doc",
        "passes",
        "--format",
        "json",
        "--",
        "--test-threads=1",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.run().summary.passed, 2);
}
