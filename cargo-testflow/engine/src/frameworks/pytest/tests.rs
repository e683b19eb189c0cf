use super::*;
use crate::frameworks::pytest::recorder::*;
use crate::recorder::{Recorder, RecorderConfig};
use std::sync::Mutex;

#[test]
fn the_listing_is_one_suite_per_file_with_every_node_id() {
    let ids: Vec<String> = [
        "tests/test_outcomes.py::test_passes",
        "tests/test_outcomes.py::test_params[a b]",
        "tests/test_outcomes.py::TestGroup::test_in_class",
        "tests/test_other.py::test_x[a::b]",
    ]
    .map(str::to_owned)
    .to_vec();
    let suites = listing_from_ids("pytest-basic", &ids);
    let got: Vec<(&str, usize, Option<usize>)> = suites
        .iter()
        .map(|s| (s.id.as_str(), s.tests, s.files))
        .collect();
    assert_eq!(
        got,
        [
            ("tests/test_outcomes.py", 3, Some(1)),
            ("tests/test_other.py", 1, Some(1))
        ]
    );
    let t = &suites[0].test_list[2];
    assert_eq!(t.id, "tests/test_outcomes.py::TestGroup::test_in_class");
    assert_eq!(t.name, "test_in_class");
    assert_eq!(
        t.ignored, None,
        "skip marks are only known when pytest runs"
    );
    assert_eq!(suites[1].test_list[0].name, "test_x[a::b]");
}

#[test]
fn items_group_by_file_in_the_order_files_first_appear_even_interleaved() {
    // A plugin's reordering (pytest-randomly, pytest_collection_modifyitems) interleaves
    // files: each is still one group, holding its items in order.
    let pairs = [
        ("b.py", "b1"),
        ("a.py", "a1"),
        ("b.py", "b2"),
        ("c.py", "c1"),
        ("a.py", "a2"),
        ("b.py", "b3"),
    ];
    let got = by_file(pairs.iter().map(|(f, i)| ((*f).to_owned(), *i)));
    assert_eq!(
        got,
        [
            ("b.py".to_owned(), vec!["b1", "b2", "b3"]),
            ("a.py".to_owned(), vec!["a1", "a2"]),
            ("c.py".to_owned(), vec!["c1"]),
        ]
    );
    // At a suite's size too (10,000 items over 500 files, interleaved round-robin).
    let many: Vec<(String, usize)> = (0..10_000)
        .map(|i| (format!("t{}.py", i % 500), i))
        .collect();
    let got = by_file(many);
    assert_eq!(got.len(), 500);
    assert!(
        got.iter()
            .enumerate()
            .all(|(k, (f, items))| *f == format!("t{k}.py")
                && items.len() == 20
                && items.iter().all(|i| i % 500 == k)),
        "every file once, in first-appearance order, with all its items"
    );
    let ids: Vec<String> = ["a.py::x", "b.py::y", "a.py::z"]
        .map(str::to_owned)
        .to_vec();
    let suites = listing_from_ids("p", &ids);
    let got: Vec<(&str, usize)> = suites.iter().map(|s| (s.id.as_str(), s.tests)).collect();
    assert_eq!(got, [("a.py", 2), ("b.py", 1)]);
}

#[test]
fn nodeids_split_outside_brackets() {
    let (f, s, n) = split_nodeid("tests/test_a.py::TestC::test_y[a::b c-é]");
    assert_eq!(f.as_deref(), Some("tests/test_a.py"));
    assert_eq!(s, vec!["TestC"]);
    assert_eq!(n, "test_y[a::b c-é]");
    let (f, s, n) = split_nodeid("test_b.py");
    assert_eq!(
        (f.as_deref(), s.len(), n.as_str()),
        (Some("test_b.py"), 0, "test_b.py")
    );
    assert_eq!(meta("a.py::t", Some(4)).line, Some(5), "1-based");
}

#[test]
fn categories_come_from_type_and_phase() {
    assert_eq!(
        classify("call", Some("AssertionError"), "assert 1 == 2"),
        Category::Assertion
    );
    assert_eq!(
        classify("call", Some("ValueError"), "x"),
        Category::RuntimeError
    );
    assert_eq!(
        classify("call", Some("ModuleNotFoundError"), "x"),
        Category::ImportError
    );
    assert_eq!(
        classify("setup", Some("ValueError"), "x"),
        Category::SetupError
    );
    assert_eq!(classify("teardown", None, "x"), Category::SetupError);
    assert_eq!(
        classify("collect", Some("SyntaxError"), "x"),
        Category::BuildError
    );
    assert_eq!(
        classify("collect", Some("ModuleNotFoundError"), "x"),
        Category::ImportError
    );
    assert_eq!(
        classify(
            "call",
            Some("Failed"),
            "Failed: Timeout (>1.0s) from pytest-timeout."
        ),
        Category::Timeout
    );
    assert_eq!(classify("???", None, "worker crashed"), Category::Crash);
}

#[test]
fn type_prefix_is_stripped() {
    assert_eq!(
        strip_type_prefix(Some("ValueError"), "ValueError: boom"),
        "boom"
    );
    assert_eq!(strip_type_prefix(Some("m.E"), "m.E: boom"), "boom");
    assert_eq!(
        strip_type_prefix(Some("AssertionError"), "assert 1 == 2"),
        "assert 1 == 2"
    );
}

fn recorder(dir: &Path) -> PytestRecorder {
    PytestRecorder {
        rec: Recorder::start(RecorderConfig {
            framework: Framework::Pytest,
            project_root: dir.to_owned(),
            events: None,
            reports: vec![],
            shard: None,
            keep_runs: crate::history::DEFAULT_KEEP_RUNS,
            quarantine: vec![],
            gates: None,
        })
        .unwrap(),
        root: dir.to_owned(),
        output_cap: 1024,
        state: Mutex::new(State::default()),
    }
}

fn phase<'a>(id: &'a str, when: &'a str, outcome: &'a str) -> Phase<'a> {
    Phase {
        nodeid: id,
        when,
        outcome,
        duration: 0.001,
        ..Phase::default()
    }
}

#[test]
fn phases_fold_into_one_result_per_test() {
    let dir = tempfile::tempdir().unwrap();
    let r = recorder(dir.path());
    let run_one = |id: &str, phases: &[Phase<'_>]| {
        r.logstart(id, Some(0)).unwrap();
        for p in phases {
            r.report(p).unwrap();
        }
        r.logfinish(id).unwrap();
    };
    run_one(
        "t.py::ok",
        &[
            phase("t.py::ok", "setup", "passed"),
            phase("t.py::ok", "call", "passed"),
            phase("t.py::ok", "teardown", "passed"),
        ],
    );
    let mut fail = phase("t.py::bad", "call", "failed");
    fail.exc_type = Some("ValueError");
    fail.message = Some("ValueError: boom");
    fail.crash_file = Some(dir.path().join("t.py").to_str().unwrap().to_owned().leak());
    fail.crash_line = Some(7);
    fail.stdout = Some(b"out\n");
    run_one(
        "t.py::bad",
        &[
            phase("t.py::bad", "setup", "passed"),
            fail,
            phase("t.py::bad", "teardown", "passed"),
        ],
    );
    let mut setup_err = phase("t.py::fx", "setup", "failed");
    setup_err.exc_type = Some("RuntimeError");
    run_one("t.py::fx", &[setup_err]);
    let mut xf = phase("t.py::xf", "call", "skipped");
    xf.wasxfail = Some("known");
    run_one("t.py::xf", &[xf]);
    let mut to = phase("t.py::slow", "call", "failed");
    to.exc_type = Some("Failed");
    to.message = Some("Failed: Timeout (>0.5s) from pytest-timeout.");
    run_one("t.py::slow", &[to]);
    // rerunfailures: two attempts, the first re-run.
    let mut rerun = phase("t.py::flaky", "call", "rerun");
    rerun.exc_type = Some("AssertionError");
    r.logstart("t.py::flaky", Some(0)).unwrap();
    r.report(&rerun).unwrap();
    r.logstart("t.py::flaky", Some(0)).unwrap();
    r.report(&phase("t.py::flaky", "call", "passed")).unwrap();
    r.logfinish("t.py::flaky").unwrap();
    r.collected(vec![
        ("t.py::ok".into(), Some(0)),
        ("t.py::never".into(), Some(9)),
    ]);
    r.logstart("t.py::dies", Some(0)).unwrap();
    let run = r.finish(true, None, None).unwrap();
    let get = |id: &str| run.tests.iter().find(|t| t.id == id).unwrap();
    assert_eq!(get("t.py::ok").outcome, Outcome::Passed);
    let bad = get("t.py::bad");
    assert_eq!(bad.outcome, Outcome::Failed);
    let f = bad.failure.as_ref().unwrap();
    assert_eq!(
        (f.category, f.kind.as_deref(), f.message.as_str()),
        (Category::RuntimeError, Some("ValueError"), "boom")
    );
    assert_eq!(f.location.as_ref().unwrap().file, "t.py");
    assert_eq!(f.stdout.as_ref().unwrap().text, "out\n");
    assert!((bad.duration_ms - 3.0).abs() < 1e-6, "setup+call+teardown");
    let fx = get("t.py::fx");
    assert_eq!(
        (fx.outcome, fx.failure.as_ref().unwrap().category),
        (Outcome::Error, Category::SetupError)
    );
    assert_eq!(get("t.py::xf").outcome, Outcome::Xfailed);
    let slow = get("t.py::slow");
    assert_eq!(
        (slow.outcome, slow.failure.as_ref().unwrap().category),
        (Outcome::Timeout, Category::Timeout)
    );
    let flaky = get("t.py::flaky");
    assert_eq!(
        (flaky.outcome, flaky.flaky, flaky.attempts.len()),
        (Outcome::Passed, true, 2)
    );
    // Collected, never run: no result (never `skipped`), a `not_run` run error.
    assert!(run.tests.iter().all(|t| t.id != "t.py::never"));
    assert_eq!(get("t.py::dies").outcome, Outcome::Crashed);
    let not_run: Vec<_> = run.errors.iter().filter(|e| e.kind == "not_run").collect();
    assert_eq!(not_run.len(), 1);
    assert_eq!(
        not_run[0].message,
        "1 collected tests did not run: the session ended before they ran. Not run: t.py::never"
    );
}

#[test]
fn text_that_is_not_utf8_is_escaped_not_lost() {
    assert_eq!(safe_text("héllo".as_bytes()), "héllo");
    assert_eq!(safe_text(b"caf\xe9"), "caf\\xe9");
    // A surrogate passed through (surrogatepass) is three invalid bytes.
    assert_eq!(safe_text(b"a\xed\xa0\x80b"), "a\\xed\\xa0\\x80b");
}

#[test]
fn captured_output_that_is_not_utf8_is_kept_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let r = recorder(dir.path());
    r.logstart("t.py::bytes", Some(0)).unwrap();
    let mut p = phase("t.py::bytes", "call", "failed");
    p.exc_type = Some("AssertionError");
    p.message = Some("caf\\xe9");
    p.stdout = Some(b"caf\xe9\n");
    r.report(&p).unwrap();
    r.logfinish("t.py::bytes").unwrap();
    let run = r.finish(true, None, None).unwrap();
    let f = run.tests[0].failure.as_ref().unwrap();
    assert_eq!(run.tests[0].outcome, Outcome::Failed);
    assert_eq!(f.message, "caf\\xe9");
    let out = f.stdout.as_ref().unwrap();
    assert_eq!(out.base64.as_deref(), Some("Y2Fm6Qo="), "the exact bytes");
}

#[test]
fn a_test_open_at_the_end_is_never_passed() {
    let dir = tempfile::tempdir().unwrap();
    let r = recorder(dir.path());
    // KeyboardInterrupt in the call: setup passed, no call report, no logfinish.
    r.logstart("t.py::kbi", Some(0)).unwrap();
    r.report(&phase("t.py::kbi", "setup", "passed")).unwrap();
    r.interrupted("KeyboardInterrupt: ").unwrap();
    // pytest.exit(returncode=0) ends the session OK: still not complete.
    let run = r.finish(true, None, None).unwrap();
    assert!(!run.completed);
    let t = &run.tests[0];
    let f = t.failure.as_ref().unwrap();
    assert_eq!(
        (t.outcome, f.category, f.kind.as_deref()),
        (
            Outcome::Failed,
            Category::Interrupted,
            Some("KeyboardInterrupt")
        )
    );
    assert!(run.errors.iter().any(|e| e.kind == "reconcile"
        && e.message.contains("interrupted")
        && e.message.contains("KeyboardInterrupt")));
    // Without an interruption the process running it died.
    let dir = tempfile::tempdir().unwrap();
    let r = recorder(dir.path());
    r.logstart("t.py::gone", Some(0)).unwrap();
    r.report(&phase("t.py::gone", "setup", "passed")).unwrap();
    let run = r.finish(true, None, None).unwrap();
    assert_eq!(run.tests[0].outcome, Outcome::Crashed);
}

fn verdict(reports: &[(&str, &str)], exit_status: i32) -> PytestVerdict {
    PytestVerdict {
        reports: reports
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect(),
        exit_status,
    }
}

fn recorded(finals: &[(&str, Outcome)]) -> HashMap<String, Outcome> {
    finals
        .iter()
        .map(|(id, o)| ((*id).to_owned(), *o))
        .collect()
}

#[test]
fn reconcile_agrees_with_pytest_on_an_ordinary_session() {
    let finals = recorded(&[
        ("a::ok", Outcome::Passed),
        ("a::bad", Outcome::Failed),
        ("a::teardown", Outcome::Error),
        ("a::flaky", Outcome::Passed),
        ("a::skip", Outcome::Skipped),
        ("a::slow", Outcome::Timeout),
    ]);
    let rec = Recorded {
        finals: &finals,
        collect_errors: 0,
        interrupted: false,
    };
    let v = verdict(
        &[
            ("a::ok", "passed"),
            ("a::bad", "failed"),
            ("a::teardown", "passed"),
            ("a::teardown", "error"),
            ("a::flaky", "rerun"),
            ("a::flaky", "passed"),
            ("a::skip", "skipped"),
            ("a::slow", "failed"),
        ],
        1,
    );
    assert_eq!(reconcile(&rec, &v), Vec::<String>::new());
}

#[test]
fn reconcile_names_both_sides_of_every_disagreement() {
    let finals = recorded(&[
        ("a::lost_failure", Outcome::Passed),
        ("a::unfounded", Outcome::Passed),
        ("a::stricter", Outcome::Failed),
    ]);
    let rec = Recorded {
        finals: &finals,
        collect_errors: 0,
        interrupted: false,
    };
    let v = verdict(
        &[
            ("a::lost_failure", "failed"),
            ("a::stricter", "passed"),
            ("a::unrecorded", "error"),
        ],
        1,
    );
    let out = reconcile(&rec, &v);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        out[0],
        "4 tests disagree with pytest's own reports: a::lost_failure: pytest said failed, testflow recorded passed; \
         a::stricter: pytest said passed, testflow recorded failed; \
         a::unfounded: pytest said nothing, testflow recorded passed; \
         a::unrecorded: pytest said failed, testflow recorded nothing"
    );
}

#[test]
fn reconcile_checks_pytests_exit_status() {
    let passed = recorded(&[("a::ok", Outcome::Passed)]);
    let failed = recorded(&[("a::bad", Outcome::Failed)]);
    let none = HashMap::new();
    let rec = |finals, collect_errors, interrupted| Recorded {
        finals,
        collect_errors,
        interrupted,
    };
    let ok = [("a::ok", "passed")];
    let bad = [("a::bad", "failed")];
    assert!(reconcile(&rec(&passed, 0, false), &verdict(&ok, 0)).is_empty());
    assert_eq!(
        reconcile(&rec(&failed, 0, false), &verdict(&bad, 0)),
        [
            "pytest's session ended OK (exit status 0) but 1 tests failed by its reports and 1 by testflow's record"
        ]
    );
    assert_eq!(
        reconcile(&rec(&passed, 0, false), &verdict(&ok, 1)),
        [
            "pytest's session ended TESTS_FAILED (exit status 1) but no test failed, by its reports or by testflow's record"
        ]
    );
    // Collection errors and interruptions explain INTERRUPTED; nothing else does.
    assert!(reconcile(&rec(&none, 1, false), &verdict(&[], 2)).is_empty());
    assert!(reconcile(&rec(&passed, 0, true), &verdict(&ok, 2)).is_empty());
    assert_eq!(
        reconcile(&rec(&passed, 0, false), &verdict(&ok, 2)).len(),
        1
    );
    for status in [3, 4, 7] {
        let out = reconcile(&rec(&passed, 0, false), &verdict(&ok, status));
        assert_eq!(out.len(), 1, "{status}");
        assert!(
            out[0].contains(&format!("(exit status {status})")),
            "{out:?}"
        );
    }
    assert!(reconcile(&rec(&none, 0, false), &verdict(&[], 5)).is_empty());
    assert_eq!(
        reconcile(&rec(&passed, 0, false), &verdict(&[], 5)).len(),
        2
    );
}

#[test]
fn the_driver_checks_the_process_exit_against_the_session() {
    let root = Path::new("/p");
    assert_eq!(check_exit(root, Some(1), Some(Ok(1))), None);
    assert_eq!(
        check_exit(root, None, None),
        None,
        "a signal is reported elsewhere"
    );
    assert_eq!(
        check_exit(root, Some(0), None).unwrap(),
        "pytest in /p exited with code 0 (OK) but its session never ended: a test or plugin ended the process early (os._exit, a crash), so its results are incomplete"
    );
    assert_eq!(
        check_exit(root, Some(0), Some(Ok(1))).unwrap(),
        "pytest in /p exited with code 0 (OK) but its session ended with status 1 (TESTS_FAILED)"
    );
    let bad = check_exit(
        root,
        Some(0),
        Some(session_status("{oops").map(|s| s.exit_status)),
    )
    .unwrap();
    assert!(bad.contains("unreadable") && bad.contains("{oops"), "{bad}");
}

#[test]
fn collection_errors_are_import_errors_once() {
    let dir = tempfile::tempdir().unwrap();
    let r = recorder(dir.path());
    for _ in 0..2 {
        r.collect_error(
            "tests/test_b.py",
            Some("ModuleNotFoundError"),
            "No module named 'nope'",
            "trace",
        )
        .unwrap();
    }
    r.collect_error(
        "tests/test_c.py",
        Some("SyntaxError"),
        "invalid syntax (test_c.py, line 1)",
        "trace",
    )
    .unwrap();
    r.collected(vec![
        ("tests/test_a.py::t1".into(), Some(0)),
        ("tests/test_a.py::t2".into(), Some(3)),
    ]);
    // pytest stops after collecting, through pytest_keyboard_interrupt: its session
    // ends INTERRUPTED. That is no interruption (no reconcile error).
    r.interrupted("Interrupted: 2 errors during collection")
        .unwrap();
    let run = r.finish(false, Some("interrupted"), None).unwrap();
    assert_eq!(
        run.tests.len(),
        2,
        "the two broken modules, nothing skipped"
    );
    let f = run.tests[0].failure.as_ref().unwrap();
    assert_eq!(
        (run.tests[0].outcome, f.category),
        (Outcome::Error, Category::ImportError)
    );
    assert!(f.message.contains("nope"));
    let f = run.tests[1].failure.as_ref().unwrap();
    assert_eq!(
        (
            run.tests[1].outcome,
            f.category,
            f.kind.as_deref(),
            f.message.as_str()
        ),
        (
            Outcome::Error,
            Category::BuildError,
            Some("SyntaxError"),
            "collection failed: invalid syntax (test_c.py, line 1)"
        )
    );
    assert!(!run.completed);
    let errors: Vec<(&str, &str)> = run
        .errors
        .iter()
        .map(|e| (e.kind.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        errors,
        [(
            "not_run",
            "2 collected tests did not run: pytest stopped after 2 collection errors and ran none of the tests it collected; \
             pass pytest's --continue-on-collection-errors to run the other tests anyway \
             (`cargo testflow run -- --continue-on-collection-errors`, or `pytest --testflow --continue-on-collection-errors`). \
             Not run: tests/test_a.py::t1, tests/test_a.py::t2"
        )]
    );
}

#[test]
fn shard_order_and_last_failed_become_plugin_options() {
    use crate::ordering::Order;
    use crate::shard::{ShardSpec, Strategy};
    let mut options = crate::runner::RunOptions::default();
    assert!(
        !pytest_args(&options, &Probe::default(), 1)
            .iter()
            .any(|a| a.starts_with("--testflow"))
    );
    options.pass_through = crate::runner::PassThrough {
        shard: Some((ShardSpec::parse("3/4").unwrap(), Strategy::Timings)),
        order: Order::FailedFirst,
        last_failed: true,
    };
    let args = pytest_args(&options, &Probe::default(), 1);
    assert_eq!(
        args[args.len() - 4..],
        [
            "--testflow-shard=3/4",
            "--testflow-shard-strategy=timings",
            "--testflow-order=failed-first",
            "--testflow-last-failed",
        ]
    );
}

#[test]
fn options_pytest_cannot_honour_are_warnings_naming_the_plugin() {
    let py = Path::new("/venv/bin/python");
    let options = crate::runner::RunOptions {
        retries: 2,
        jobs: 4,
        jobs_given: true,
        ..Default::default()
    };
    let none = Probe {
        pytest: true,
        testflow: true,
        ..Probe::default()
    };
    let w = option_warnings(&options, &none, py);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].starts_with("--retries 2 needs pytest-rerunfailures")
            && w[0].contains("pip install pytest-rerunfailures")
    );
    assert!(
        w[1].starts_with("-j 4 needs pytest-xdist") && w[1].contains("pip install pytest-xdist")
    );
    let args = pytest_args(&options, &none, 4);
    assert!(
        !args.iter().any(|a| a == "-n" || a.starts_with("--reruns")),
        "{args:?}"
    );
    let all = Probe {
        xdist: true,
        rerunfailures: true,
        ..none
    };
    assert!(option_warnings(&options, &all, py).is_empty());
    // The default -j (not asked for) is no reason to warn.
    let default_jobs = crate::runner::RunOptions {
        jobs: 4,
        ..Default::default()
    };
    assert!(option_warnings(&default_jobs, &Probe::default(), py).is_empty());
}

#[test]
fn the_workers_decision_becomes_xdists_n() {
    let options = crate::runner::RunOptions::default();
    let xdist = Probe {
        xdist: true,
        ..Probe::default()
    };
    let n = |probe: &Probe, workers| {
        let args = pytest_args(&options, probe, workers);
        args.windows(2).find(|w| w[0] == "-n").map(|w| w[1].clone())
    };
    assert_eq!(n(&xdist, 3).as_deref(), Some("3"));
    // Serial overrides an `-n` in the project's addopts.
    assert_eq!(n(&xdist, 1).as_deref(), Some("0"));
    assert_eq!(n(&Probe::default(), 3), None, "no xdist, no -n");
    // Quiet: pytest's output is only kept for a crash's tail; the user's `-v` comes after.
    let mut verbose = options.clone();
    verbose.framework_args = vec!["-v".to_owned()];
    let args = pytest_args(&verbose, &xdist, 1);
    assert_eq!(args[..3], ["-m", "pytest", "-q"]);
    assert_eq!(args.last().map(String::as_str), Some("-v"));
    let status = SessionStatus {
        exit_status: 1,
        collect_errors: 1,
    };
    let serial = ["-m", "pytest", "-n", "0"].map(String::from);
    assert_eq!(collection_note(&status, &serial), None, "-n 0 is not xdist");
}

#[test]
fn collection_errors_under_xdist_explain_what_j1_does() {
    let st = |exit_status, collect_errors| SessionStatus {
        exit_status,
        collect_errors,
    };
    let xdist = ["-m", "pytest", "-n", "2"].map(String::from);
    let serial = ["-m", "pytest"].map(String::from);
    let note = collection_note(&st(1, 2), &xdist).unwrap();
    assert!(
        note.contains("could not collect 2 modules")
            && note.contains("--continue-on-collection-errors"),
        "{note}"
    );
    assert_eq!(
        collection_note(&st(2, 2), &serial),
        None,
        "the not_run error says it"
    );
    assert_eq!(collection_note(&st(1, 0), &xdist), None);
    let mut asked = xdist.to_vec();
    asked.push("--continue-on-collection-errors".into());
    assert_eq!(collection_note(&st(1, 1), &asked), None);
    assert_eq!(
        session_status(r#"{"exit_status": 2}"#),
        Ok(st(2, 0)),
        "an older plugin"
    );
}

#[test]
fn skips_and_xfails_carry_their_reason_and_no_failure() {
    let dir = tempfile::tempdir().unwrap();
    let r = recorder(dir.path());
    let run_one = |id: &str, p: Phase<'_>| {
        r.logstart(id, Some(0)).unwrap();
        r.report(&phase(id, "setup", "passed")).unwrap();
        r.report(&p).unwrap();
        r.report(&phase(id, "teardown", "passed")).unwrap();
        r.logfinish(id).unwrap();
    };
    // @pytest.mark.skip(reason=…): the setup phase is skipped, longrepr `Skipped: …`.
    r.logstart("t.py::skip", Some(0)).unwrap();
    let mut skip = phase("t.py::skip", "setup", "skipped");
    skip.message = Some("Skipped: not today");
    skip.exc_type = Some("Skipped");
    r.report(&skip).unwrap();
    r.report(&phase("t.py::skip", "teardown", "passed"))
        .unwrap();
    r.logfinish("t.py::skip").unwrap();
    // xfail (not strict): the call raised, pytest reports it skipped with wasxfail.
    let mut xf = phase("t.py::xf", "call", "skipped");
    xf.wasxfail = Some("known bug");
    xf.exc_type = Some("AssertionError");
    xf.message = Some("assert 1 == 2");
    run_one("t.py::xf", xf);
    // xfail without a reason.
    let mut bare = phase("t.py::bare", "call", "skipped");
    bare.wasxfail = Some("");
    run_one("t.py::bare", bare);
    // xpass (not strict): passed, with the xfail reason.
    let mut xp = phase("t.py::xp", "call", "passed");
    xp.wasxfail = Some("fixed already");
    run_one("t.py::xp", xp);
    // strict xpass: pytest fails the call with a string longrepr and no exception.
    let mut strict = phase("t.py::strict", "call", "failed");
    strict.longrepr = Some("[XPASS(strict)] must fail");
    strict.message = Some("[XPASS(strict)] must fail");
    run_one("t.py::strict", strict);
    let run = r.finish(true, None, None).unwrap();
    let get = |id: &str| run.tests.iter().find(|t| t.id == id).unwrap();
    let seen = |id: &str| {
        let t = get(id);
        (t.outcome, t.failure.is_none(), t.reason.as_deref())
    };
    assert_eq!(
        seen("t.py::skip"),
        (Outcome::Skipped, true, Some("not today"))
    );
    assert_eq!(
        seen("t.py::xf"),
        (Outcome::Xfailed, true, Some("known bug"))
    );
    assert_eq!(seen("t.py::bare"), (Outcome::Xfailed, true, None));
    assert_eq!(
        seen("t.py::xp"),
        (Outcome::Xpassed, true, Some("fixed already"))
    );
    let strict = get("t.py::strict");
    let f = strict.failure.as_ref().unwrap();
    assert_eq!(
        (
            strict.outcome,
            f.category,
            f.kind.as_deref(),
            f.message.as_str()
        ),
        (
            Outcome::Failed,
            Category::Assertion,
            None,
            "[XPASS(strict)] must fail"
        )
    );
    assert_eq!(strict.reason, None);
    assert!(run.errors.is_empty(), "{:?}", run.errors);
}

#[test]
fn a_failed_equality_gets_expected_and_actual_from_the_hook_or_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let r = recorder(dir.path());
    let one = |id: &'static str, message: &'static str, compare| {
        let mut p = phase(id, "call", "failed");
        p.exc_type = Some("AssertionError");
        p.message = Some(message);
        p.compare = compare;
        r.logstart(id, Some(0)).unwrap();
        r.report(&p).unwrap();
        r.logfinish(id).unwrap();
    };
    use super::compare::Compare;
    one(
        "t.py::hook",
        "AssertionError: assert {'a': 1} == {'a': 2}\n  \n  Differing items:",
        Some(Compare {
            op: "==",
            left: "{'a': 1}",
            right: "{'a': 2}",
        }),
    );
    one("t.py::text", "AssertionError: assert 4 == 5", None);
    one("t.py::bare", "AssertionError: assert False", None);
    let run = r.finish(true, None, None).unwrap();
    let ea = |id: &str| {
        let f = run
            .tests
            .iter()
            .find(|t| t.id == id)
            .unwrap()
            .failure
            .clone()
            .unwrap();
        assert_eq!(f.category, Category::Assertion);
        (f.expected, f.actual)
    };
    assert_eq!(
        ea("t.py::hook"),
        (Some("{'a': 2}".into()), Some("{'a': 1}".into()))
    );
    assert_eq!(ea("t.py::text"), (Some("5".into()), Some("4".into())));
    assert_eq!(ea("t.py::bare"), (None, None));
}

#[test]
fn a_crash_tail_leaves_out_pytests_progress_lines() {
    let out = "....F..s                                 [ 40%]\n..\nFatal Python error: Segmentation fault\n\nCurrent thread 0x1 (most recent call first):\n  File \"t.py\", line 3 in test_x\n.";
    assert_eq!(
        output_tail(out),
        "Fatal Python error: Segmentation fault\n\nCurrent thread 0x1 (most recent call first):\n  File \"t.py\", line 3 in test_x"
    );
    assert_eq!(output_tail(".\n"), "", "only progress: nothing to say");
    // A line of text that merely starts with a dot is kept.
    assert_eq!(output_tail(".hidden file missing"), ".hidden file missing");
    let long: String = (0..40).map(|i| format!("line {i}\n")).collect();
    assert!(output_tail(&long).starts_with("line 10\n") && output_tail(&long).ends_with("line 39"));
}
