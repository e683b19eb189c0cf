//! `cargo testflow run --isolation process` on rust-basic, one process per test: every
//! outcome, failure category, kind, message and location listed in EXPECTED.md, and
//! every attempt (binary isolation, the default, is `rust_isolation_binary.rs`: there a
//! crash can take the flaky test's first attempt down with its binary).

use std::sync::OnceLock;

use testflow::model::{Category, Outcome, Run, TestCase};

use crate::util::{Output, Project, RunExt, failure};

const LIB: &str = "crates/calc/src/lib.rs";
const INTEG: &str = "crates/calc/tests/integ.rs";

/// The full rust-basic run, shared by the tests below and by `reports` (it is slow:
/// `hangs` times out twice). Reports are written next to the runs.
pub(crate) fn full_run() -> &'static (Project, Output) {
    static FULL: OnceLock<(Project, Output)> = OnceLock::new();
    FULL.get_or_init(|| {
        let p = Project::new("rust-basic");
        let junit = p.testflow_dir.path().join("reports/junit.xml");
        let json = p.testflow_dir.path().join("reports/run.json");
        let reports = p.testflow_dir.path().join("reports");
        let summary = p.testflow_dir.path().join("step-summary.md");
        std::fs::write(&summary, "earlier step output\n").unwrap();
        let out = p.run_env(
            &[
                "--isolation",
                "process",
                "--test-timeout",
                crate::util::HANG_LIMIT,
                "--retries",
                "1",
                "--report",
                &format!("junit={}", junit.display()),
                "--report",
                &format!("json={}", json.display()),
                "--report",
                &format!("ctrf={}", reports.join("ctrf.json").display()),
                "--report",
                &format!("markdown={}", reports.join("summary.md").display()),
                "--report",
                &format!("html={}", reports.join("report.html").display()),
            ],
            &[("GITHUB_STEP_SUMMARY", &summary)],
        );
        (p, out)
    })
}

/// How rust-basic was run, for the attempt counts and the flaky test.
#[derive(Clone, Copy)]
pub(crate) struct Mode {
    pub(crate) retries: bool,
    pub(crate) flaky_dir: bool,
}

fn attempts(mode: Mode, failing: bool) -> usize {
    if failing && mode.retries { 2 } else { 1 }
}

/// Outcome, declared place and attempt count.
fn check_test(run: &Run, mode: Mode, id: &str, outcome: Outcome, file: &str, line: u32) {
    let t = run.test(id);
    assert_eq!(t.outcome, outcome, "{id}: {t:#?}");
    assert_eq!(
        (t.file.as_deref(), t.line),
        (Some(file), Some(line)),
        "{id} declared at"
    );
    assert_eq!(
        t.attempts.len(),
        attempts(mode, outcome.is_failure()),
        "{id} attempts"
    );
    if outcome == Outcome::Passed && !(id.ends_with("flaky_first_attempt") && mode.flaky_dir) {
        assert!(!t.flaky, "{id} is not flaky");
        assert_eq!(t.failure, None, "{id} passed");
    }
}

/// Category, kind, message and location `file:line[:column]` of the last failure.
fn check_failure(
    t: &TestCase,
    category: Category,
    kind: &str,
    message: &str,
    location: Option<(&str, u32, Option<u32>)>,
) {
    let f = failure(t);
    assert_eq!(f.category, category, "{} category", t.id);
    assert_eq!(f.kind.as_deref(), Some(kind), "{} kind", t.id);
    assert_eq!(f.message, message, "{} message", t.id);
    let loc = f
        .location
        .as_ref()
        .map(|l| (l.file.as_str(), l.line, l.column));
    assert_eq!(loc, location, "{} location", t.id);
}

/// Everything EXPECTED.md says about one run of rust-basic.
pub(crate) fn check_rust_basic(run: &Run, mode: Mode) {
    use Outcome::*;
    assert!(run.completed, "{:?}", run.errors);
    assert_eq!(run.errors, vec![]);
    assert_eq!(run.tests.len(), 18, "{:?}", run.ids());
    let s = &run.summary;
    let flaky = u64::from(mode.flaky_dir && mode.retries);
    assert_eq!(
        (s.total, s.passed, s.failed, s.error, s.skipped),
        (18, 5, 9, 0, 1)
    );
    assert_eq!((s.timeout, s.crashed, s.flaky), (1, 2, flaky));
    assert_eq!((s.xfailed, s.xpassed), (0, 0));

    // Unit tests, binary `calc`.
    let id = |n: &str| format!("calc$tests::{n}");
    check_test(run, mode, &id("passes"), Passed, LIB, 31);
    check_test(run, mode, &id("should_panic_ok"), Passed, LIB, 57);

    check_test(run, mode, &id("fails_assert_eq"), Failed, LIB, 36);
    let t = run.test("calc$tests::fails_assert_eq");
    check_failure(
        t,
        Category::Assertion,
        "assert_eq",
        "assertion `left == right` failed",
        Some((LIB, 37, Some(9))),
    );
    let f = failure(t);
    assert_eq!(
        (f.expected.as_deref(), f.actual.as_deref()),
        (Some("5"), Some("4"))
    );

    check_test(run, mode, &id("fails_assert"), Failed, LIB, 41);
    check_failure(
        run.test(&id("fails_assert")),
        Category::Assertion,
        "assert",
        "assertion failed: 1 > 2",
        Some((LIB, 42, Some(9))),
    );

    check_test(run, mode, &id("fails_panic"), Failed, LIB, 46);
    check_failure(
        run.test(&id("fails_panic")),
        Category::RuntimeError,
        "panic",
        "boom 42",
        Some((LIB, 47, Some(9))),
    );

    // `Error: "bad input"` on stderr, no panic, so no location.
    check_test(run, mode, &id("returns_err"), Failed, LIB, 51);
    check_failure(
        run.test(&id("returns_err")),
        Category::RuntimeError,
        "Err",
        "\"bad input\"",
        None,
    );

    check_test(
        run,
        mode,
        &id("should_panic_wrong_message"),
        Failed,
        LIB,
        63,
    );
    let t = run.test(&id("should_panic_wrong_message"));
    check_failure(
        t,
        Category::Assertion,
        "should_panic",
        "panic did not contain expected string: panic message \"abc\", expected substring \"xyz\"",
        Some((LIB, 64, Some(9))),
    );
    let f = failure(t);
    assert_eq!(
        (f.expected.as_deref(), f.actual.as_deref()),
        (Some("xyz"), Some("abc"))
    );

    check_test(run, mode, &id("should_panic_no_panic"), Failed, LIB, 69);
    check_failure(
        run.test(&id("should_panic_no_panic")),
        Category::Assertion,
        "should_panic",
        "test did not panic as expected",
        Some((LIB, 69, Some(8))),
    );

    check_test(run, mode, &id("ignored_slow"), Skipped, LIB, 75);
    // A skip is no failure: the #[ignore] reason is the test's reason.
    let t = run.test(&id("ignored_slow"));
    assert!(t.failure.is_none(), "{:?}", t.failure);
    assert_eq!(t.reason.as_deref(), Some("slow"));

    // Integration tests, binary `calc::integ`.
    let id = |n: &str| format!("calc::integ${n}");
    check_test(run, mode, &id("integ_passes"), Passed, INTEG, 7);

    check_test(run, mode, &id("hangs"), Timeout, INTEG, 13);
    check_failure(
        run.test(&id("hangs")),
        Category::Timeout,
        "timeout",
        // Its own limit, from the fixture's `[[timeout]]` rule, over `--test-timeout`.
        "exceeded the per-test time limit of 1s and was killed",
        None,
    );

    check_test(run, mode, &id("aborts"), Crashed, INTEG, 21);
    let t = run.test(&id("aborts"));
    check_failure(
        t,
        Category::Crash,
        "SIGABRT",
        "process killed by signal 6 (SIGABRT)",
        None,
    );
    assert_eq!(failure(t).signal, Some(6));

    check_test(run, mode, &id("segfaults"), Crashed, INTEG, 61);
    let t = run.test(&id("segfaults"));
    check_failure(
        t,
        Category::Crash,
        "SIGSEGV",
        "process killed by signal 11 (SIGSEGV)",
        None,
    );
    assert_eq!(failure(t).signal, Some(11));

    let t = run.test(&id("flaky_first_attempt"));
    assert_eq!(t.outcome, Passed);
    assert_eq!((t.file.as_deref(), t.line), (Some(INTEG), Some(28)));
    assert_eq!(t.failure, None);
    if mode.flaky_dir && mode.retries {
        assert!(t.flaky, "{t:#?}");
        assert_eq!(t.attempts.len(), 2);
        let first = &t.attempts[0];
        assert_eq!((first.attempt, first.outcome), (1, Failed));
        let f = first.failure.as_ref().expect("the first attempt failed");
        assert_eq!(
            (f.category, f.message.as_str()),
            (Category::RuntimeError, "first attempt fails")
        );
        let loc = f.location.as_ref().expect("location");
        assert_eq!(
            (loc.file.as_str(), loc.line, loc.column),
            (INTEG, 35, Some(9))
        );
        assert_eq!((t.attempts[1].attempt, t.attempts[1].outcome), (2, Passed));
    } else if !mode.flaky_dir {
        assert!(!t.flaky);
        assert_eq!(t.attempts.len(), 1);
    }

    check_test(run, mode, &id("huge_output"), Failed, INTEG, 41);
    let t = run.test(&id("huge_output"));
    check_failure(
        t,
        Category::RuntimeError,
        "panic",
        "huge output done",
        Some((INTEG, 46, Some(5))),
    );
    let out = failure(t).stdout.as_ref().expect("huge_output stdout");
    assert!(out.truncated_bytes > 5_000_000, "{}", out.truncated_bytes);
    assert!(out.text.len() <= 64 * 1024 + 100, "{}", out.text.len());
    assert!(out.text.contains(" bytes …]\n"), "the cut is marked");
    assert!(
        out.text.ends_with(&format!("{}\n", "x".repeat(1023))),
        "ends with the test's own output: {:?}",
        &out.text[out.text.len() - 100..]
    );

    check_test(run, mode, &id("non_utf8_output"), Failed, INTEG, 51);
    let t = run.test(&id("non_utf8_output"));
    check_failure(
        t,
        Category::RuntimeError,
        "panic",
        "after non-utf8",
        Some((INTEG, 55, Some(5))),
    );
    let out = failure(t).stdout.as_ref().expect("non_utf8_output stdout");
    assert!(out.base64.is_some(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.bytes()),
        String::from_utf8_lossy(b"bad \xff\xfe bytes\n"),
        "stdout is the test's own bytes, exactly"
    );
    assert_eq!(out.bytes(), b"bad \xff\xfe bytes\n");

    // Doctests.
    let add = "calc::doctest$crates/calc/src/lib.rs - add (line 5)";
    let div = "calc::doctest$crates/calc/src/lib.rs - div (line 16)";
    check_test(run, mode, add, Passed, LIB, 5);
    check_test(run, mode, div, Failed, LIB, 16);
    let t = run.test(div);
    assert_eq!(t.binary.as_deref(), Some("calc::doctest"));
    check_failure(
        t,
        Category::Assertion,
        "assert_eq",
        "assertion `left == right` failed",
        Some((LIB, 16, None)),
    );
    let f = failure(t);
    assert_eq!(
        (f.expected.as_deref(), f.actual.as_deref()),
        (Some("4"), Some("3"))
    );

    // Names, suites and binaries.
    let t = run.test("calc$tests::passes");
    assert_eq!(
        (t.name.as_str(), t.suite.clone(), t.binary.as_deref()),
        ("passes", vec!["tests".to_owned()], Some("calc"))
    );
    let t = run.test("calc::integ$hangs");
    assert_eq!(
        (t.name.as_str(), t.suite.is_empty(), t.binary.as_deref()),
        ("hangs", true, Some("calc::integ"))
    );
}

const MODE: Mode = Mode {
    retries: true,
    flaky_dir: true,
};

#[test]
fn every_outcome_failure_and_location_is_exact() {
    let (_, out) = full_run();
    assert_eq!(out.code, 100, "{}", out.stderr);
    check_rust_basic(out.run(), MODE);
}

#[test]
fn the_run_dir_holds_the_log_and_the_same_run() {
    let (p, out) = full_run();
    let dir = p.the_run_dir();
    assert_eq!(
        dir.file_name().unwrap().to_str(),
        Some(out.run().run_id.as_str())
    );
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap();
    let printed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(stored, printed);
    let log = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("every log line is JSON"))
        .collect();
    assert_eq!(events.first().unwrap()["event"], "run_started");
    assert_eq!(events.last().unwrap()["event"], "run_finished");
    assert_eq!(events.last().unwrap()["completed"], true);
    // One test_finished per attempt: 18 tests, 12 of them failing twice, the flaky one twice.
    let finished = events
        .iter()
        .filter(|e| e["event"] == "test_finished")
        .count();
    assert_eq!(finished, 18 + 12 + 1);
    // The log folds to the same run.
    let folded = testflow::events::fold_file(&dir.join("events.jsonl")).unwrap();
    assert!(folded.warnings.is_empty(), "{:?}", folded.warnings);
    assert_eq!(&folded.run, out.run());
}

#[test]
fn the_human_summary_goes_to_stderr() {
    let (p, out) = full_run();
    assert!(
        out.stderr
            .contains("18 tests: 5 passed, 9 failed, 1 timed out, 2 crashed, 1 skipped, 1 flaky"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("run recorded in {}", p.the_run_dir().display())),
        "{}",
        out.stderr
    );
}
