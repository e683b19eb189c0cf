use super::*;
use crate::frameworks::jest::recorder::*;
use crate::recorder::RecorderConfig;

/// Jest 30.5.2 on jest-basic with `--json --testNamePattern '(?!)'` (trimmed to the
/// fields read): every test pending, missing.test.js failed to load.
#[test]
fn the_listing_has_every_test_by_its_title_and_the_files_that_failed() {
    let json = r##"{"numTotalTests": 9, "numTotalTestSuites": 3, "testResults": [{"name": "/p/src/math.test.js", "status": "skipped", "message": "", "assertionResults": [{"ancestorTitles": [], "fullName": "adds numbers", "status": "pending", "title": "adds numbers", "location": {"column": 1, "line": 3}}, {"ancestorTitles": [], "fullName": "compares badly", "status": "pending", "title": "compares badly", "location": {"column": 1, "line": 7}}, {"ancestorTitles": ["outer", "inner"], "fullName": "outer inner throws a TypeError", "status": "pending", "title": "throws a TypeError", "location": {"column": 5, "line": 13}}, {"ancestorTitles": ["outer", "inner"], "fullName": "outer inner is skipped", "status": "pending", "title": "is skipped", "location": {"column": 10, "line": 16}}, {"ancestorTitles": ["outer", "inner"], "fullName": "outer inner is todo", "status": "pending", "title": "is todo", "location": {"column": 10, "line": 17}}, {"ancestorTitles": [], "fullName": "is too slow", "status": "pending", "title": "is too slow", "location": {"column": 1, "line": 21}}]}, {"name": "/p/src/hooks.test.js", "status": "skipped", "message": "", "assertionResults": [{"ancestorTitles": ["with a broken beforeEach"], "fullName": "with a broken beforeEach never gets to run", "status": "pending", "title": "never gets to run", "location": {"column": 3, "line": 5}}, {"ancestorTitles": ["flaky"], "fullName": "flaky passes on the second attempt", "status": "pending", "title": "passes on the second attempt", "location": {"column": 3, "line": 11}}, {"ancestorTitles": ["flaky"], "fullName": "flaky always fails", "status": "pending", "title": "always fails", "location": {"column": 3, "line": 15}}]}, {"name": "/p/src/missing.test.js", "status": "failed", "message": "  \u25cf Test suite failed to run\n\n    Cannot find module 'left-pad-that-does-not-exist' from 'src/missing.test.js'", "assertionResults": []}]}"##;
    let (tests, problems) = parse_listing(Path::new("/p"), json).unwrap();
    let ids: Vec<(&str, Option<u32>)> = tests.iter().map(|t| (t.id.as_str(), t.line)).collect();
    assert_eq!(
        ids,
        [
            ("src/math.test.js#adds numbers", Some(3)),
            ("src/math.test.js#compares badly", Some(7)),
            (
                "src/math.test.js#outer › inner › throws a TypeError",
                Some(13)
            ),
            ("src/math.test.js#outer › inner › is skipped", Some(16)),
            ("src/math.test.js#outer › inner › is todo", Some(17)),
            ("src/math.test.js#is too slow", Some(21)),
            (
                "src/hooks.test.js#with a broken beforeEach › never gets to run",
                Some(5)
            ),
            (
                "src/hooks.test.js#flaky › passes on the second attempt",
                Some(11)
            ),
            ("src/hooks.test.js#flaky › always fails", Some(15)),
        ]
    );
    assert_eq!(tests[2].name, "throws a TypeError");
    assert_eq!(tests[2].file.as_deref(), Some("src/math.test.js"));
    assert_eq!(
        problems,
        [
            "src/missing.test.js: Jest could not load it: Cannot find module 'left-pad-that-does-not-exist' from 'src/missing.test.js'"
        ]
    );
    assert!(parse_listing(Path::new("/p"), "not json").is_err());
}

fn result(status: &str, messages: &[&str], details: Option<&str>) -> JestResult {
    JestResult {
        case: JestCase {
            file: "/p/src/a.test.js".into(),
            ancestor_titles: vec!["outer".into(), "inner".into()],
            title: "works".into(),
            line: Some(3),
            column: Some(1),
            started_at: None,
        },
        status: status.into(),
        duration_ms: 2.0,
        failure_messages: messages.iter().map(|s| s.to_string()).collect(),
        failure_details_json: details.map(str::to_owned),
        invocations: Some(1),
    }
}

#[test]
fn a_file_has_one_spelling_relative_to_the_project_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("src/sub")).unwrap();
    std::fs::write(root.join("package.json"), "{}").unwrap();
    std::fs::write(root.join("src/sub/a.test.js"), "").unwrap();
    // Jest's rootDir "src" (or a config in src/): the project is where package.json is.
    assert_eq!(project_root(&root.join("src")), root);
    assert_eq!(project_root(&root.join("src/sub")), root);
    let abs = root.join("src/sub/a.test.js").display().to_string();
    assert_eq!(relative_file(root, &abs), "src/sub/a.test.js");
    assert_eq!(
        relative_file(root, &format!("file://{abs}")),
        "src/sub/a.test.js"
    );
    assert_eq!(
        relative_file(root, "./src/sub/a.test.js"),
        "src/sub/a.test.js"
    );
    assert_eq!(
        relative_file(root, "src\\sub\\a.test.js"),
        "src/sub/a.test.js"
    );
    #[cfg(unix)]
    {
        let link = tempfile::tempdir().unwrap();
        let via = link.path().join("p");
        std::os::unix::fs::symlink(root, &via).unwrap();
        assert_eq!(relative_file(&via, &abs), "src/sub/a.test.js");
        assert_eq!(
            relative_file(root, &via.join("src/sub/a.test.js").display().to_string()),
            "src/sub/a.test.js"
        );
    }
}

#[test]
fn ids_join_the_relative_file_and_the_titles() {
    let r = result("passed", &[], None);
    let m = meta(Path::new("/p"), &r.case);
    assert_eq!(m.id, "src/a.test.js#outer › inner › works");
    assert_eq!(m.suite, ["outer", "inner"]);
    assert_eq!(m.file.as_deref(), Some("src/a.test.js"));
    assert_eq!(test_id("a.js", &[], "t"), "a.js#t");
}

#[test]
fn expect_failures_are_assertions_with_the_matcher_and_values() {
    let msg = "Error: expect(received).toBe(expected) // Object.is equality\n\nExpected: 3\nReceived: 2\n    at Object.toBe (/p/src/a.test.js:8:21)\n    at Promise.finally.completed (/p/node_modules/jest-circus/build/jestAdapterInit.js:1834:28)";
    let details =
        r#"[{"matcherResult":{"actual":2,"expected":3,"message":"m","name":"toBe","pass":false}}]"#;
    let (o, f) = classify_result(Path::new("/p"), &result("failed", &[msg], Some(details)));
    let f = f.unwrap();
    assert_eq!(o, Outcome::Failed);
    assert_eq!(f.category, Category::Assertion);
    assert_eq!(f.kind.as_deref(), Some("toBe"));
    assert_eq!(
        (f.expected.as_deref(), f.actual.as_deref()),
        (Some("3"), Some("2"))
    );
    assert!(
        f.message.starts_with("expect(received).toBe(expected)"),
        "{}",
        f.message
    );
    let loc = f.location.unwrap();
    assert_eq!(
        (loc.file.as_str(), loc.line, loc.column),
        ("src/a.test.js", 8, Some(21))
    );
}

#[test]
fn timeouts_are_timeouts() {
    let msg = "Error: thrown: \"Exceeded timeout of 100 ms for a test.\nAdd a timeout value to this test to increase the timeout, if this is a long-running test. See https://jestjs.io/docs/api#testname-fn-timeout.\"\n    at _getError (/p/node_modules/jest-circus/build/x.js:1:1)";
    let (o, f) = classify_result(Path::new("/p"), &result("failed", &[msg], Some("[{}]")));
    let f = f.unwrap();
    assert_eq!((o, f.category), (Outcome::Timeout, Category::Timeout));
    assert_eq!(f.message, "Exceeded timeout of 100 ms for a test.");
}

#[test]
fn thrown_errors_are_runtime_errors_with_their_kind() {
    let msg = "TypeError: Cannot read properties of null (reading 'boom')\n    at Object.boom (/p/src/a.test.js:14:12)";
    let (o, f) = classify_result(Path::new("/p"), &result("failed", &[msg], Some("[{}]")));
    let f = f.unwrap();
    assert_eq!((o, f.category), (Outcome::Failed, Category::RuntimeError));
    assert_eq!(f.kind.as_deref(), Some("TypeError"));
}

#[test]
fn skipped_and_todo_are_skipped() {
    let root = Path::new("/p");
    assert_eq!(
        classify_result(root, &result("pending", &[], None)).0,
        Outcome::Skipped
    );
    // Nothing failed: no failure with a made-up category or kind.
    for status in ["pending", "skipped", "disabled", "todo"] {
        assert_eq!(
            classify_result(root, &result(status, &[], None)),
            (Outcome::Skipped, None),
            "{status}"
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
    /// Any version text is an answer, never a panic; a version is refused exactly when
    /// its major is below 24. Any path spells as something, never a panic.
    #[test]
    fn a_jest_version_is_refused_exactly_below_24(
        text in ".{0,40}",
        major in 0u64..1000,
        rest in "[0-9a-z.+-]{0,12}",
    ) {
        let _ = check_jest_version(Some(&text), "p");
        let _ = relative_file(Path::new("/p"), &text);
        let v = format!("{major}.{rest}");
        proptest::prop_assert_eq!(check_jest_version(Some(&v), "p").is_ok(), major >= 24);
    }
}

#[test]
fn file_results_alone_record_every_test_once_as_jest_24_reports_them() {
    // Jest 24 calls no per-test hook: onTestResult's file result is all there is.
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let file = dir.path().join("a.test.js").display().to_string();
    let res = |title: &str, status: &str, msg: &[&str]| JestResult {
        case: case(dir.path(), "a.test.js", title),
        status: status.into(),
        failure_messages: msg.iter().map(|m| m.to_string()).collect(),
        ..JestResult::default()
    };
    let results = [
        res("passes", "passed", &[]),
        res(
            "fails",
            "failed",
            &["Error: expect(received).toBe(expected)"],
        ),
        res("skipped", "pending", &[]),
        res("todo", "todo", &[]),
    ];
    rec.file_result(&file, &results, None).unwrap();
    let jest = JestTotals {
        num_total_tests: 4,
        num_passed_tests: 1,
        num_failed_tests: 1,
        num_pending_tests: 1,
        num_todo_tests: 1,
        num_total_test_suites: 1,
        num_failed_test_suites: 1,
        failed_files: vec![file.clone()],
        ..JestTotals::default()
    };
    let (run, notes) = rec.finish_run(Some(&jest), true, None).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    assert!(run.errors.is_empty());
    let outcomes: Vec<(&str, Outcome)> = run
        .tests
        .iter()
        .map(|t| (t.name.as_str(), t.outcome))
        .collect();
    assert_eq!(outcomes.len(), 4);
    assert!(outcomes.contains(&("fails", Outcome::Failed)));
    assert!(run.tests.iter().all(|t| t.attempts.len() == 1));
}

#[test]
fn jest_before_24_or_of_unknown_version_is_refused_naming_the_version() {
    for ok in [
        "24.9.0",
        "26.6.3",
        "27.5.1",
        "29.7.0",
        "30.5.2",
        "31.0.0-alpha.1",
    ] {
        assert!(check_jest_version(Some(ok), "p").is_ok(), "{ok}");
    }
    let e = check_jest_version(Some("23.6.0"), "/p/node_modules/jest").unwrap_err();
    let e = format!("{e:#}");
    assert!(
        e.contains("Jest 23.6.0 (in /p/node_modules/jest) is not supported"),
        "{e}"
    );
    assert!(e.contains("Jest 24 or newer"), "{e}");
    assert!(
        format!("{:#}", check_jest_version(None, "/p").unwrap_err())
            .contains("cannot tell which Jest")
    );
    assert!(
        format!("{:#}", check_jest_version(Some("next"), "/p").unwrap_err()).contains("`next`")
    );
    // The reporter's door: a run error, so the run never passes.
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    assert!(rec.check_jest(Some("30.5.2")).is_none());
    let m = rec.check_jest(Some("22.4.4")).unwrap();
    assert!(m.contains("Jest 22.4.4"), "{m}");
    let run = rec.finish(true, None).unwrap();
    assert_eq!(run.errors.len(), 1);
    assert_eq!(run.errors[0].kind, error_kind::BUILD);
}

#[test]
fn a_failure_kind_is_a_type_never_the_message() {
    let root = Path::new("/p");
    // jest-jasmine2 (Jest < 27) has no matcherResult: the matcher comes from the text.
    let msg = "Error: expect(received).not.toEqual(expected) // deep equality\n\nExpected: not 3\n    at Object.<anonymous> (/p/src/a.test.js:8:21)";
    let f = classify_result(root, &result("failed", &[msg], None))
        .1
        .unwrap();
    assert_eq!(
        (f.category, f.kind.as_deref()),
        (Category::Assertion, Some("toEqual"))
    );
    let msg = "Cannot find module 'left-pad' from 'src/a.test.js'\n    at Resolver.resolveModule (/p/node_modules/jest-resolve/build/index.js:1:1)";
    let f = classify_result(root, &result("failed", &[msg], None))
        .1
        .unwrap();
    assert_eq!((f.category, f.kind), (Category::ImportError, None));
    let f = classify_result(root, &result("failed", &["RangeError: too far"], None))
        .1
        .unwrap();
    assert_eq!(f.kind.as_deref(), Some("RangeError"));
    let f = classify_result(root, &result("failed", &["thrown: \"a string\""], None))
        .1
        .unwrap();
    assert_eq!(f.kind, None);
}

#[test]
fn a_failure_inside_a_hook_is_a_setup_error() {
    let src = "describe('d', () => {\n  beforeEach(() => {\n    throw new Error('db');\n  });\n  test('t', () => {\n    expect(1).toBe(1);\n    throw new Error('x');\n  });\n});\n";
    assert!(in_hook(src, 3));
    assert!(!in_hook(src, 7));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("h.test.js"), src).unwrap();
    let msg = format!(
        "Error: db\n    at Object.<anonymous> ({}/h.test.js:3:11)",
        dir.path().display()
    );
    let (o, f) = classify_result(dir.path(), &result("failed", &[&msg], Some("[{}]")));
    assert_eq!(
        (o, f.unwrap().category),
        (Outcome::Error, Category::SetupError)
    );
}

#[test]
fn exec_errors_name_the_missing_module_or_the_crash() {
    let root = Path::new("/p");
    let (o, f) = classify_exec_error(
        root,
        "  ● Test suite failed to run\n\n    Cannot find module 'left-pad' from 'src/m.test.js'\n\n    > 1 | const pad = require('left-pad');\n\n      at Resolver._throwModNotFoundError (node_modules/jest-resolve/build/index.js:1031:11)",
    );
    assert_eq!((o, f.category), (Outcome::Error, Category::ImportError));
    assert_eq!(f.kind, None, "the message is not a kind");
    assert_eq!(
        f.message,
        "Cannot find module 'left-pad' from 'src/m.test.js'"
    );
    let (o, f) = classify_exec_error(
        root,
        "A jest worker process (pid=1) was terminated by another process: signal=SIGKILL, exitCode=null.",
    );
    assert_eq!(
        (o, f.category, f.signal),
        (Outcome::Crashed, Category::Crash, Some(9))
    );
    let (o, _) = classify_exec_error(
        root,
        "Jest worker encountered 4 child process exceptions, exceeding retry limit",
    );
    assert_eq!(o, Outcome::Crashed);
    let (_, f) = classify_exec_error(root, "SyntaxError: Unexpected token (3:4)");
    assert_eq!(f.category, Category::BuildError);
}

fn recorder(dir: &Path) -> JestRecorder {
    JestRecorder::start(RecorderConfig {
        framework: Framework::Jest,
        project_root: dir.to_owned(),
        events: None,
        reports: vec![],
        shard: None,
        keep_runs: crate::history::DEFAULT_KEEP_RUNS,
        quarantine: vec![],
        gates: None,
    })
    .unwrap()
}

fn case(dir: &Path, file: &str, title: &str) -> JestCase {
    JestCase {
        file: dir.join(file).display().to_string(),
        title: title.into(),
        ..JestCase::default()
    }
}

#[test]
fn retries_become_attempts_and_the_file_result_adds_skipped_tests() {
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let flaky = case(dir.path(), "a.test.js", "flaky");
    let res = |c: &JestCase, status: &str| JestResult {
        case: c.clone(),
        status: status.into(),
        duration_ms: 1.0,
        ..JestResult::default()
    };
    rec.case_started(&flaky).unwrap();
    rec.case_result(&res(&flaky, "failed")).unwrap();
    rec.case_started(&flaky).unwrap();
    rec.case_result(&res(&flaky, "passed")).unwrap();
    let skipped = case(dir.path(), "a.test.js", "skipped");
    let file = dir.path().join("a.test.js").display().to_string();
    rec.file_result(
        &file,
        &[res(&flaky, "passed"), res(&skipped, "pending")],
        None,
    )
    .unwrap();
    let run = rec.finish(true, None).unwrap();
    assert_eq!(run.tests.len(), 2);
    let t = &run.tests[0];
    assert_eq!(
        (t.id.as_str(), t.attempts.len(), t.flaky),
        ("a.test.js#flaky", 2, true)
    );
    assert_eq!(run.tests[1].outcome, Outcome::Skipped);
}

#[test]
fn an_exec_error_crashes_the_running_test_or_stands_for_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let a = case(dir.path(), "crash.test.js", "kills its worker");
    rec.case_started(&a).unwrap();
    rec.file_result(
        &a.file,
        &[],
        Some("A jest worker process (pid=1) was terminated by another process: signal=SIGKILL, exitCode=null."),
    )
    .unwrap();
    let missing = dir.path().join("missing.test.js").display().to_string();
    rec.file_result(
        &missing,
        &[],
        Some("Cannot find module 'x' from 'missing.test.js'"),
    )
    .unwrap();
    let run = rec.finish(true, None).unwrap();
    let crashed = &run.tests[0];
    assert_eq!(crashed.id, "crash.test.js#kills its worker");
    assert_eq!(crashed.outcome, Outcome::Crashed);
    assert_eq!(crashed.failure.as_ref().unwrap().signal, Some(9));
    let file = &run.tests[1];
    assert_eq!(
        (file.id.as_str(), file.outcome),
        ("missing.test.js", Outcome::Error)
    );
    assert_eq!(
        file.failure.as_ref().unwrap().category,
        Category::ImportError
    );
}

#[test]
fn a_restarted_attempt_means_the_previous_one_crashed() {
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let a = case(dir.path(), "exit.test.js", "exits");
    rec.case_started(&a).unwrap();
    rec.case_started(&a).unwrap();
    rec.file_result(
        &a.file,
        &[],
        Some("Jest worker encountered 4 child process exceptions, exceeding retry limit"),
    )
    .unwrap();
    let run = rec.finish(true, None).unwrap();
    assert_eq!(run.tests.len(), 1);
    assert_eq!(run.tests[0].attempts.len(), 2);
    assert_eq!(run.tests[0].outcome, Outcome::Crashed);
}

fn res(c: &JestCase, status: &str, invocations: u32) -> JestResult {
    JestResult {
        case: c.clone(),
        status: status.into(),
        duration_ms: 1.0,
        invocations: Some(invocations),
        failure_messages: if status == "failed" {
            vec!["Error: boom".into()]
        } else {
            vec![]
        },
        ..JestResult::default()
    }
}

fn attempts(run: &Run) -> Vec<(String, Vec<(u32, Outcome)>)> {
    run.tests
        .iter()
        .map(|t| {
            let a = t.attempts.iter().map(|a| (a.attempt, a.outcome)).collect();
            (t.id.clone(), a)
        })
        .collect()
}

#[test]
fn tests_sharing_a_title_are_separate_tests_never_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let adds = case(dir.path(), "a.test.js", "adds");
    rec.case_started(&adds).unwrap();
    rec.case_result(&res(&adds, "failed", 1)).unwrap();
    rec.case_started(&adds).unwrap();
    rec.case_result(&res(&adds, "passed", 1)).unwrap();
    rec.file_result(
        &adds.file,
        &[res(&adds, "failed", 1), res(&adds, "passed", 1)],
        None,
    )
    .unwrap();
    let (run, notes) = rec
        .finish_run(
            Some(&JestTotals {
                num_total_tests: 2,
                num_passed_tests: 1,
                num_failed_tests: 1,
                num_total_test_suites: 1,
                num_failed_test_suites: 1,
                ..JestTotals::default()
            }),
            true,
            None,
        )
        .unwrap();
    assert_eq!(notes, Vec::<String>::new());
    assert_eq!(
        attempts(&run),
        [
            ("a.test.js#adds".into(), vec![(1, Outcome::Failed)]),
            ("a.test.js#adds@2".into(), vec![(1, Outcome::Passed)]),
        ]
    );
    assert_eq!(run.tests[1].name, "adds");
    assert!(run.errors.is_empty(), "{:?}", run.errors);
}

#[test]
fn retries_are_numbered_by_invocations_next_to_tests_sharing_a_title() {
    // jest.retryTimes(1): `twice` fails, the second `twice` passes, then Jest retries
    // the first one (after the rest of the block).
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let twice = case(dir.path(), "r.test.js", "twice");
    rec.case_started(&twice).unwrap();
    rec.case_result(&res(&twice, "failed", 1)).unwrap();
    rec.case_started(&twice).unwrap();
    rec.case_result(&res(&twice, "passed", 1)).unwrap();
    rec.case_started(&twice).unwrap();
    rec.case_result(&res(&twice, "failed", 2)).unwrap();
    rec.file_result(
        &twice.file,
        &[res(&twice, "failed", 2), res(&twice, "passed", 1)],
        None,
    )
    .unwrap();
    let run = rec.finish(true, None).unwrap();
    assert_eq!(
        attempts(&run),
        [
            (
                "r.test.js#twice".into(),
                vec![(1, Outcome::Failed), (2, Outcome::Failed)]
            ),
            ("r.test.js#twice@2".into(), vec![(1, Outcome::Passed)]),
        ]
    );
    assert!(run.errors.is_empty(), "{:?}", run.errors);
}

#[test]
fn a_start_that_overtakes_the_previous_result_is_paired_by_started_at() {
    // Jest awaits each reporter in turn: the second `adds` can start (here) before the
    // first one's result arrives. Not a crash, and two tests.
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let at = |t: f64| JestCase {
        started_at: Some(t),
        ..case(dir.path(), "a.test.js", "adds")
    };
    rec.case_started(&at(10.0)).unwrap();
    rec.case_started(&at(11.0)).unwrap();
    rec.case_result(&res(&at(10.0), "failed", 1)).unwrap();
    rec.case_result(&res(&at(11.0), "passed", 1)).unwrap();
    let run = rec.finish(true, None).unwrap();
    assert_eq!(
        attempts(&run),
        [
            ("a.test.js#adds".into(), vec![(1, Outcome::Failed)]),
            ("a.test.js#adds@2".into(), vec![(1, Outcome::Passed)]),
        ]
    );
}

#[test]
fn a_worker_crash_restarts_the_file_as_new_attempts_of_the_same_tests() {
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let at = |title: &str, t: f64| JestCase {
        started_at: Some(t),
        ..case(dir.path(), "c.test.js", title)
    };
    rec.case_started(&at("before", 1.0)).unwrap();
    rec.case_result(&res(&at("before", 1.0), "passed", 1))
        .unwrap();
    rec.case_started(&at("kills", 2.0)).unwrap();
    // The worker died; Jest runs the file again.
    rec.case_started(&at("before", 3.0)).unwrap();
    rec.case_result(&res(&at("before", 3.0), "passed", 1))
        .unwrap();
    rec.case_started(&at("kills", 4.0)).unwrap();
    rec.file_result(
        &at("kills", 4.0).file,
        &[],
        Some("A jest worker process (pid=1) was terminated by another process: signal=SIGKILL, exitCode=null."),
    )
    .unwrap();
    let run = rec.finish(true, None).unwrap();
    assert_eq!(
        attempts(&run),
        [
            (
                "c.test.js#before".into(),
                vec![(1, Outcome::Passed), (2, Outcome::Passed)]
            ),
            (
                "c.test.js#kills".into(),
                vec![(1, Outcome::Crashed), (2, Outcome::Crashed)]
            ),
        ]
    );
}

#[test]
fn a_literal_title_never_takes_a_duplicate_id() {
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let adds = case(dir.path(), "a.test.js", "adds");
    let literal = case(dir.path(), "a.test.js", "adds@2");
    for c in [&adds, &adds, &literal] {
        rec.case_started(c).unwrap();
        rec.case_result(&res(c, "passed", 1)).unwrap();
    }
    let run = rec.finish(true, None).unwrap();
    let ids: Vec<&str> = run.tests.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        ["a.test.js#adds", "a.test.js#adds@2", "a.test.js#adds@2@2"]
    );
}

#[test]
fn a_file_result_that_disagrees_with_the_stream_is_a_reconcile_error() {
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let a = case(dir.path(), "a.test.js", "a");
    rec.case_started(&a).unwrap();
    rec.case_result(&res(&a, "passed", 1)).unwrap();
    let b = case(dir.path(), "a.test.js", "b");
    rec.case_started(&b).unwrap();
    rec.case_result(&res(&b, "passed", 1)).unwrap();
    // Jest's file result says `a` failed and has no `b`.
    rec.file_result(&a.file, &[res(&a, "failed", 1)], None)
        .unwrap();
    let run = rec.finish(true, None).unwrap();
    let messages: Vec<&str> = run.errors.iter().map(|e| e.message.as_str()).collect();
    assert!(run.errors.iter().all(|e| e.kind == error_kind::RECONCILE));
    assert_eq!(
        messages,
        [
            "test `a.test.js#a`: Jest's result for a.test.js says failed, testflow recorded passed (attempt 1)",
            "a.test.js: testflow recorded 1 tests titled `a.test.js#b`, Jest's result for the file lists 0",
        ]
    );
}

#[test]
fn jest_totals_that_disagree_name_both_numbers() {
    let recorded = RecordedCounts {
        total: 1,
        passed: 1,
        ..RecordedCounts::default()
    };
    let jest = JestTotals {
        num_total_tests: 2,
        num_passed_tests: 1,
        num_failed_tests: 1,
        num_failed_test_suites: 1,
        ..JestTotals::default()
    };
    assert_eq!(
        reconcile_totals(&recorded, &jest),
        [
            "Jest counted 2 tests (1 passed, 1 failed, 0 skipped, 0 todo), testflow recorded 1 tests (1 passed, 0 failed, 0 skipped, 0 todo)",
            "Jest counted 1 failed test files, testflow recorded a failure in 0",
        ]
    );
    // Same counts, but Jest failed (a snapshot failure): never a pass.
    let jest = JestTotals {
        num_total_tests: 1,
        num_passed_tests: 1,
        snapshot_failure: true,
        ..JestTotals::default()
    };
    assert_eq!(
        reconcile_totals(&recorded, &jest),
        ["Jest reports a snapshot failure, but testflow recorded no failure"]
    );
    let agree = JestTotals {
        num_total_tests: 1,
        num_passed_tests: 1,
        success: Some(false), // Jest sets it after onRunComplete: not evidence
        ..JestTotals::default()
    };
    assert!(reconcile_totals(&recorded, &agree).is_empty());
}

#[test]
fn a_file_jest_could_not_run_gets_an_entry_and_a_reconcile_error() {
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let file = dir.path().join("b.test.js").display().to_string();
    let (run, notes) = rec
        .finish_run(
            Some(&JestTotals {
                num_total_test_suites: 1,
                num_failed_test_suites: 1,
                num_runtime_error_test_suites: 1,
                failed_files: vec![file.clone()],
                failed_to_run: vec![(file, "SyntaxError: Unexpected token".into())],
                ..JestTotals::default()
            }),
            true,
            None,
        )
        .unwrap();
    assert_eq!(
        notes,
        [
            "Jest could not run b.test.js, and testflow had recorded nothing for it: SyntaxError: Unexpected token"
        ]
    );
    assert_eq!(run.tests[0].id, "b.test.js");
    assert_eq!(run.tests[0].outcome, Outcome::Error);
    assert_eq!(run.errors[0].kind, error_kind::RECONCILE);
}

#[test]
fn the_driver_checks_jests_exit_status_against_the_log() {
    use crate::process::ExitKind;
    let run = |tests| Run::of_tests("r", chrono::Utc::now(), tests, 0.0);
    let failing = run(vec![crate::model::TestCase::from_attempts(
        meta(Path::new("/p"), &case(Path::new("/p"), "a.test.js", "a")),
        vec![crate::model::Attempt {
            attempt: 1,
            outcome: Outcome::Failed,
            duration_ms: 0.0,
            started_at: None,
            failure: None,
            concurrent: None,
            attachments: vec![],
        }],
    )]);
    let empty = run(vec![]);
    assert_eq!(reconcile_exit(ExitKind::Code(1), true, &failing), None);
    assert_eq!(reconcile_exit(ExitKind::Code(0), true, &empty), None);
    assert_eq!(
        reconcile_exit(ExitKind::Code(0), true, &failing).unwrap(),
        "Jest exited with exit code 0, but testflow recorded 1 failing tests (first: `a.test.js#a`)"
    );
    assert_eq!(
        reconcile_exit(ExitKind::Code(1), true, &empty).unwrap(),
        "Jest exited with exit code 1, but testflow recorded no failing test and no run error"
    );
    assert!(
        reconcile_exit(ExitKind::Code(0), false, &empty)
            .unwrap()
            .contains("onRunComplete never ran")
    );
}

#[test]
fn jest_projects_are_detected_by_config_key_or_dependency() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("package.json");
    std::fs::write(&pkg, r#"{"name":"x"}"#).unwrap();
    assert!(!is_jest_project(dir.path()));
    std::fs::write(&pkg, r#"{"jest":{}}"#).unwrap();
    assert!(is_jest_project(dir.path()));
    std::fs::write(
        &pkg,
        r#"{"devDependencies":{"jest":"30"},"scripts":{"test":"jest --ci"}}"#,
    )
    .unwrap();
    assert!(is_jest_project(dir.path()));
    // `npm init -y && npm install -D jest`: npm's default test script, no config.
    std::fs::write(
        &pkg,
        r#"{"devDependencies":{"jest":"^30.5.2"},"scripts":{"test":"echo \"Error: no test specified\" && exit 1"}}"#,
    )
    .unwrap();
    assert!(is_jest_project(dir.path()));
    std::fs::write(&pkg, r#"{"dependencies":{"jest":"30"}}"#).unwrap();
    assert!(is_jest_project(dir.path()));
    std::fs::write(&pkg, r#"{"name":"x"}"#).unwrap();
    std::fs::write(dir.path().join("jest.config.js"), "module.exports = {}").unwrap();
    assert!(is_jest_project(dir.path()));
    std::fs::remove_file(dir.path().join("jest.config.js")).unwrap();
    std::fs::create_dir_all(dir.path().join("node_modules/.bin")).unwrap();
    std::fs::write(dir.path().join("node_modules/.bin/jest"), "").unwrap();
    assert!(is_jest_project(dir.path()));
    // No package.json: not a Node project, whatever else is there.
    std::fs::remove_file(&pkg).unwrap();
    assert!(!is_jest_project(dir.path()));
    // Forced, a directory Jest cannot run says what is missing.
    let e = format!("{:#}", JestProject::locate(dir.path()).unwrap_err());
    assert!(e.contains("there is no package.json"), "{e}");
    std::fs::write(&pkg, r#"{"name":"x"}"#).unwrap();
    std::fs::remove_file(dir.path().join("node_modules/.bin/jest")).unwrap();
    let e = format!("{:#}", JestProject::locate(dir.path()).unwrap_err());
    assert!(
        e.starts_with("jest is not installed: node_modules/.bin/jest not found in"),
        "{e}"
    );
}

#[test]
fn the_workers_decision_becomes_run_in_band_or_max_workers() {
    let p = JestProject {
        root: "/p".into(),
        jest_bin: "/p/node_modules/.bin/jest".into(),
        reporter_dir: "/p/node_modules/jest-testflow".into(),
    };
    let options = crate::runner::RunOptions {
        jobs: 2,
        ..Default::default()
    };
    let past = |tests, ms| super::super::workers::Past {
        tests,
        duration_ms: ms,
        ..Default::default()
    };
    let decided = |past, options: &crate::runner::RunOptions| {
        super::super::workers::decide(
            Framework::Jest,
            super::super::workers::Input {
                jobs: options.jobs,
                jobs_given: options.jobs_given,
                available: true,
                past,
                collected: None,
                startup_ms: None,
            },
            super::super::workers::JEST,
        )
    };
    let flags = |d: Option<&crate::model::WorkersDecision>, o: &crate::runner::RunOptions| {
        p.args_with(o, d)
            .into_iter()
            .filter(|a| a.starts_with("--maxWorkers") || a == "--runInBand")
            .collect::<Vec<_>>()
    };
    let quick = decided(Some(past(20, 50.0)), &options);
    assert_eq!(flags(Some(&quick), &options), ["--runInBand"]);
    let big = decided(Some(past(2000, 500.0)), &options);
    assert_eq!((big.workers, big.basis.as_str()), (2, "history"));
    assert_eq!(flags(Some(&big), &options), ["--maxWorkers=2"]);
    // No history: Jest's own choice stands.
    let none = jest_workers(None, &options);
    assert_eq!((none.workers, none.basis.as_str()), (0, "project"));
    assert!(flags(Some(&none), &options).is_empty());
    // -j wins over history.
    let given = crate::runner::RunOptions {
        jobs: 3,
        jobs_given: true,
        ..Default::default()
    };
    let user = decided(Some(past(20, 50.0)), &given);
    assert_eq!(user.basis, "user");
    assert_eq!(flags(Some(&user), &given), ["--maxWorkers=3"]);
}

#[test]
fn options_jest_can_honour_become_its_flags() {
    let p = JestProject {
        root: "/p".into(),
        jest_bin: "/p/node_modules/.bin/jest".into(),
        reporter_dir: "/p/node_modules/jest-testflow".into(),
    };
    let options = crate::runner::RunOptions {
        jobs: 2,
        jobs_given: true,
        test_timeout: Some(std::time::Duration::from_millis(1500)),
        retries: 2,
        filters: vec!["adds".into(), "a.b".into()],
        ..crate::runner::RunOptions::default()
    };
    let args = p.args(&options);
    assert!(args.contains(&"--maxWorkers=2".to_owned()));
    assert!(
        !args.contains(&"--ci".to_owned()),
        "Jest decides --ci itself"
    );
    let default_jobs = crate::runner::RunOptions::default();
    assert!(
        !p.args(&default_jobs)
            .iter()
            .any(|a| a.starts_with("--maxWorkers")),
        "without -j the project's maxWorkers stands"
    );
    assert!(args.contains(&"--testTimeout=1500".to_owned()));
    assert!(args.contains(&"--reporters=/p/node_modules/jest-testflow".to_owned()));
    assert!(
        args.contains(
            &"--setupFilesAfterEnv=/p/node_modules/jest-testflow/retry-setup.js".to_owned()
        )
    );
    assert_eq!(
        args[args.len() - 2..],
        ["-t".to_owned(), r"adds|a\.b".to_owned()]
    );
    assert!(p.env(&options).is_empty());
}

#[test]
fn shard_order_and_last_failed_reach_jest_through_the_sequencer() {
    use crate::ordering::Order;
    use crate::shard::{ShardSpec, Strategy};
    let p = JestProject {
        root: "/p".into(),
        jest_bin: "/p/node_modules/.bin/jest".into(),
        reporter_dir: "/p/node_modules/jest-testflow".into(),
    };
    let options = crate::runner::RunOptions {
        pass_through: crate::runner::PassThrough {
            shard: Some((ShardSpec::parse("2/4").unwrap(), Strategy::Count)),
            order: Order::SlowestFirst,
            last_failed: true,
        },
        ..crate::runner::RunOptions::default()
    };
    let args = p.args(&options);
    for want in [
        "--shard=2/4",
        "--passWithNoTests",
        "--testSequencer=/p/node_modules/jest-testflow/sequencer.js",
    ] {
        assert!(args.contains(&want.to_owned()), "{want} in {args:?}");
    }
    assert_eq!(
        p.env(&options),
        [
            (SHARD_STRATEGY_ENV, "count".to_owned()),
            (ORDER_ENV, "slowest-first".to_owned()),
            (LAST_FAILED_ENV, "1".to_owned()),
        ]
    );
}
