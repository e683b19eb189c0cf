//! The Vitest recorder rules, on results shaped as Vitest 3 and 4 report them.

use std::path::Path;

use super::recorder::*;
use super::*;
use crate::events::fold_file;
use crate::model::ErrorKind;
use crate::recorder::RecorderConfig;
use crate::store::Store;

fn driven(root: &Path) -> (crate::store::Recording, VitestRecorder) {
    let store = Store::at(root.join(".testflow"));
    let driver = store
        .start_run(root, vec![Framework::Vitest], chrono::Utc::now(), None)
        .unwrap();
    let rec = VitestRecorder::start(RecorderConfig {
        framework: Framework::Vitest,
        project_root: root.to_owned(),
        events: Some(driver.log.path().to_owned()),
        reports: vec![],
        shard: None,
        keep_runs: crate::history::DEFAULT_KEEP_RUNS,
        quarantine: vec![],
        gates: None,
    })
    .unwrap();
    (driver, rec)
}

fn case(root: &Path, id: &str, file: &str, suite: &[&str], name: &str) -> VitestCase {
    VitestCase {
        task_id: id.into(),
        file: root.join(file).display().to_string(),
        suite: suite.iter().map(|s| s.to_string()).collect(),
        name: name.into(),
        line: None,
    }
}

fn error(name: &str, message: &str, stack_at: Option<&str>) -> VitestError {
    VitestError {
        name: Some(name.into()),
        message: message.into(),
        stack: stack_at.map(|at| format!("{name}: {message}\n    at {at}\n    at file:///p/node_modules/@vitest/runner/dist/index.js:1:1")),
        ..VitestError::default()
    }
}

fn result(c: VitestCase, state: &str, retry_count: u32, errors: Vec<VitestError>) -> VitestResult {
    VitestResult {
        case: c,
        state: state.into(),
        mode: "run".into(),
        duration_ms: 5.0,
        retry_count,
        errors,
        note: None,
    }
}

fn module(root: &Path, file: &str, state: &str, tests: Vec<VitestResult>) -> VitestModule {
    VitestModule {
        file: root.join(file).display().to_string(),
        state: state.into(),
        errors: vec![],
        tests,
    }
}

fn end(modules: Vec<VitestModule>, reason: &str) -> VitestRunEnd {
    VitestRunEnd {
        modules,
        unhandled: vec![],
        reason: reason.into(),
    }
}

fn finish(driver: crate::store::Recording) -> Run {
    driver.finish(true, None).unwrap().0
}

fn by_id<'a>(run: &'a Run, id: &str) -> &'a crate::model::TestCase {
    run.tests.iter().find(|t| t.id == id).unwrap_or_else(|| {
        panic!(
            "no {id} in {:?}",
            run.tests.iter().map(|t| &t.id).collect::<Vec<_>>()
        )
    })
}

#[test]
fn ids_are_jests_and_duplicate_titles_are_numbered_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (driver, rec) = driven(root);
    let a = case(root, "f_0", "src/a.test.js", &["twice"], "same");
    let b = case(root, "f_1", "src/a.test.js", &["twice"], "same");
    rec.module_collected(&[a.clone(), b.clone()]).unwrap();
    // The second finishes first (concurrent tests): ids still follow the file's order.
    let rb = result(
        b,
        "failed",
        0,
        vec![error(
            "AssertionError",
            "expected 1 to be 2",
            Some("/x.js:1:1"),
        )],
    );
    let ra = result(a, "passed", 0, vec![]);
    rec.case_result(&rb).unwrap();
    rec.case_result(&ra).unwrap();
    let (_, notes) = rec
        .finish_run(Some(&end(
            vec![module(root, "src/a.test.js", "failed", vec![ra, rb])],
            "failed",
        )))
        .unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    let run = finish(driver);
    assert_eq!(
        by_id(&run, "src/a.test.js#twice › same").outcome,
        Outcome::Passed
    );
    assert_eq!(
        by_id(&run, "src/a.test.js#twice › same@2").outcome,
        Outcome::Failed
    );
    assert!(run.errors.is_empty(), "{:?}", run.errors);
}

#[test]
fn lines_come_from_the_test_file_unless_vitest_gave_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(
        root.join("src/a.test.js"),
        "describe('twice', () => {\n  test('same', () => {});\n  test('same', () => {});\n});\n\
         for (const n of [1, 2]) test('looped', () => {});\ntest('own', () => {});\n",
    )
    .unwrap();
    let (driver, rec) = driven(root);
    let mut own = case(root, "f_4", "src/a.test.js", &[], "own");
    own.line = Some(40); // what `includeTaskLocation` said
    let cases = [
        case(root, "f_0", "src/a.test.js", &["twice"], "same"),
        case(root, "f_1", "src/a.test.js", &["twice"], "same"),
        case(root, "f_2", "src/a.test.js", &[], "looped"),
        case(root, "f_3", "src/a.test.js", &[], "looped"),
        own,
    ];
    rec.module_collected(&cases).unwrap();
    let results: Vec<VitestResult> = cases
        .iter()
        .map(|c| result(c.clone(), "passed", 0, vec![]))
        .collect();
    for r in &results {
        rec.case_result(r).unwrap();
    }
    let (_, notes) = rec
        .finish_run(Some(&end(
            vec![module(root, "src/a.test.js", "passed", results)],
            "passed",
        )))
        .unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    let run = finish(driver);
    let line = |id: &str| by_id(&run, &format!("src/a.test.js#{id}")).line;
    assert_eq!(line("twice › same"), Some(2));
    assert_eq!(line("twice › same@2"), Some(3));
    // Two `looped` of one call in a loop (or one of them made elsewhere): not certain.
    assert_eq!((line("looped"), line("looped@2")), (None, None));
    assert_eq!(line("own"), Some(40));
}

#[test]
fn retries_become_attempts_and_a_late_pass_is_flaky() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (driver, rec) = driven(root);
    let c = case(root, "f_0", "src/h.test.js", &["flaky"], "second time");
    rec.case_ready(&c).unwrap();
    let e = error("AssertionError", "expected 1 to be 2", Some("/x.js:1:1"));
    let r = result(c.clone(), "passed", 1, vec![e.clone()]);
    rec.case_result(&r).unwrap();
    let d = case(root, "f_1", "src/h.test.js", &["flaky"], "always");
    rec.case_ready(&d).unwrap();
    let rd = result(d, "failed", 2, vec![e.clone(), e.clone(), e]);
    rec.case_result(&rd).unwrap();
    rec.finish_run(Some(&end(
        vec![module(root, "src/h.test.js", "failed", vec![r, rd])],
        "failed",
    )))
    .unwrap();
    let run = finish(driver);
    let t = by_id(&run, "src/h.test.js#flaky › second time");
    assert_eq!(t.outcome, Outcome::Passed);
    assert!(t.flaky);
    let outcomes: Vec<Outcome> = t.attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(outcomes, [Outcome::Failed, Outcome::Passed]);
    let t = by_id(&run, "src/h.test.js#flaky › always");
    assert_eq!(t.attempts.len(), 3);
    assert!(!t.flaky);
    assert_eq!(t.failure.as_ref().unwrap().category, Category::Assertion);
}

#[test]
fn failures_are_classified_from_vitests_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(
        root.join("src/h.test.js"),
        "describe('d', () => {\n  beforeEach(() => {\n    throw new Error('db');\n  });\n  test('t', () => {});\n});\n",
    )
    .unwrap();
    let at = |l: u32| format!("{}:{l}:11", root.join("src/h.test.js").display());
    let (o, f) = classify_errors(root, &[error("Error", "db", Some(&at(3)))]);
    assert_eq!((o, f.category), (Outcome::Error, Category::SetupError));
    assert_eq!(f.location.unwrap().file, "src/h.test.js");
    let timeout = "Test timed out in 100ms.\nIf this is a long-running test, pass a timeout value as the last argument or configure it globally with \"testTimeout\".";
    let (o, f) = classify_errors(root, &[error("Error", timeout, None)]);
    assert_eq!((o, f.category), (Outcome::Timeout, Category::Timeout));
    assert_eq!(f.message, "Test timed out in 100ms.");
    let (o, f) = classify_errors(
        root,
        &[error(
            "Error",
            "process.exit unexpectedly called with \"3\"",
            None,
        )],
    );
    assert_eq!(
        (o, f.category, f.kind.as_deref()),
        (Outcome::Crashed, Category::Crash, Some("process.exit"))
    );
    let mut a = error(
        "AssertionError",
        "expected 2 to be 3 // Object.is equality",
        Some(&at(5)),
    );
    a.expected = Some("3".into());
    a.actual = Some("2".into());
    let (o, f) = classify_errors(root, &[a]);
    assert_eq!((o, f.category), (Outcome::Failed, Category::Assertion));
    assert_eq!(
        (f.expected.as_deref(), f.actual.as_deref()),
        (Some("3"), Some("2"))
    );
    let (o, f) = classify_errors(
        root,
        &[error(
            "TypeError",
            "Cannot read properties of null (reading 'boom')",
            Some(&at(5)),
        )],
    );
    assert_eq!(
        (o, f.category, f.kind.as_deref()),
        (Outcome::Failed, Category::RuntimeError, Some("TypeError"))
    );
    let missing = "Cannot find module './nope.js' imported from '/p/src/a.test.js'";
    let (o, f) = classify_module_errors(root, &[error("Error", missing, None)]);
    assert_eq!((o, f.category), (Outcome::Error, Category::ImportError));
    assert_eq!(missing_module(missing).as_deref(), Some("./nope.js"));
    // Vitest 4 names an awaited import's frame `at async /file:line:col`.
    let mut e = error("Error", missing, None);
    e.stack = Some(format!(
        "Error: {missing}\n    at async {}:2:1",
        root.join("src/b.test.js").display()
    ));
    let (_, f) = classify_module_errors(root, &[e]);
    assert_eq!(f.location.unwrap().file, "src/b.test.js");
    let (_, f) = classify_module_errors(root, &[error("SyntaxError", "Unexpected token", None)]);
    assert_eq!(f.category, Category::BuildError);
}

#[test]
fn skipped_todo_and_tests_no_hook_reported_are_recorded_from_the_modules_end() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (driver, rec) = driven(root);
    let mut skip = result(
        case(root, "f_0", "src/a.test.js", &[], "skipped"),
        "skipped",
        0,
        vec![],
    );
    skip.mode = "skip".into();
    let mut todo = result(
        case(root, "f_1", "src/a.test.js", &[], "todo"),
        "skipped",
        0,
        vec![],
    );
    todo.mode = "todo".into();
    // Only known from the module's end (never reported on its own).
    let quiet = result(
        case(root, "f_2", "src/a.test.js", &[], "quiet"),
        "passed",
        0,
        vec![],
    );
    rec.case_result(&skip).unwrap();
    let m = module(root, "src/a.test.js", "passed", vec![skip, todo, quiet]);
    rec.module_end(&m).unwrap();
    let (_, notes) = rec.finish_run(Some(&end(vec![m], "passed"))).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    let run = finish(driver);
    assert_eq!(
        by_id(&run, "src/a.test.js#skipped").outcome,
        Outcome::Skipped
    );
    let t = by_id(&run, "src/a.test.js#todo");
    assert_eq!((t.outcome, t.failure.is_none()), (Outcome::Skipped, true));
    assert_eq!(by_id(&run, "src/a.test.js#quiet").outcome, Outcome::Passed);
    assert!(run.errors.is_empty());
}

#[test]
fn a_module_that_fails_to_import_is_one_error_entry_for_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (driver, rec) = driven(root);
    let mut m = module(root, "src/broken.test.js", "failed", vec![]);
    m.errors = vec![error(
        "Error",
        "Cannot find module './x.js' imported from '/p/src/broken.test.js'",
        None,
    )];
    // Vitest 3 never ends such a module: the run's end does.
    let (_, notes) = rec.finish_run(Some(&end(vec![m], "failed"))).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    let run = finish(driver);
    let t = by_id(&run, "src/broken.test.js");
    assert_eq!(t.outcome, Outcome::Error);
    assert_eq!(t.failure.as_ref().unwrap().category, Category::ImportError);
}

#[test]
fn unhandled_errors_fail_a_run_whose_tests_all_passed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (driver, rec) = driven(root);
    let r = result(
        case(root, "f_0", "src/u.test.js", &[], "leaves a rejection"),
        "passed",
        0,
        vec![],
    );
    rec.case_result(&r).unwrap();
    let mut e = end(
        vec![module(root, "src/u.test.js", "passed", vec![r])],
        "failed",
    );
    e.unhandled = vec![VitestError {
        kind: Some("Unhandled Rejection".into()),
        test_name: Some("leaves a rejection".into()),
        test_path: Some(root.join("src/u.test.js").display().to_string()),
        ..error("Error", "nobody awaited this", None)
    }];
    let (_, notes) = rec.finish_run(Some(&e)).unwrap();
    assert!(
        notes.is_empty(),
        "the unhandled error explains Vitest's verdict: {notes:?}"
    );
    let run = finish(driver);
    assert_eq!(run.errors.len(), 1);
    assert_eq!(run.errors[0].kind, ErrorKind::UnhandledError);
    assert!(run.errors[0].message.contains("Unhandled Rejection"));
    assert!(run.errors[0].message.contains("src/u.test.js"));
    assert!(run.errors[0].message.contains("`leaves a rejection`"));
    assert_ne!(
        crate::verdict::exit_code_for(&run, None),
        crate::exit_code::OK
    );
}

#[test]
fn disagreements_with_vitests_end_are_reconcile_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (driver, rec) = driven(root);
    let c = case(root, "f_0", "src/a.test.js", &[], "t");
    let passed = result(c.clone(), "passed", 0, vec![]);
    rec.case_result(&passed).unwrap();
    // A test recorded in a file Vitest's end does not list, and Vitest's verdict says
    // failed where this record has no failure.
    let other = result(
        case(root, "g_0", "src/b.test.js", &[], "u"),
        "passed",
        0,
        vec![],
    );
    rec.case_result(&other).unwrap();
    let failed = result(c, "failed", 0, vec![error("Error", "boom", None)]);
    let (_, notes) = rec
        .finish_run(Some(&end(
            vec![module(root, "src/a.test.js", "failed", vec![failed])],
            "failed",
        )))
        .unwrap();
    let run = finish(driver);
    let text = notes.join("\n");
    assert!(text.contains("does not list it"), "{text}");
    assert!(text.contains("Vitest counted 0 passed, 1 failed"), "{text}");
    assert!(
        run.errors.iter().any(|e| e.kind == ErrorKind::Reconcile
            && e.message.contains("says failed, testflow recorded passed")),
        "{:?}",
        run.errors
    );
    assert_ne!(
        crate::verdict::exit_code_for(&run, None),
        crate::exit_code::OK
    );
}

#[test]
fn a_reporter_that_never_saw_the_end_leaves_the_run_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let rec = VitestRecorder::start(RecorderConfig {
        framework: Framework::Vitest,
        project_root: root.to_owned(),
        events: None,
        reports: vec![],
        shard: None,
        keep_runs: crate::history::DEFAULT_KEEP_RUNS,
        quarantine: vec![],
        gates: None,
    })
    .unwrap();
    let c = case(root, "f_0", "src/a.test.js", &[], "t");
    rec.case_ready(&c).unwrap();
    let (run, _) = rec.finish_run(None).unwrap();
    assert!(!run.completed);
    assert_eq!(by_id(&run, "src/a.test.js#t").outcome, Outcome::Crashed);
    let again = fold_file(rec.recorder().events_path()).unwrap().run;
    assert!(!again.completed);
}

#[test]
fn console_output_goes_with_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (driver, rec) = driven(root);
    let c = case(root, "f_0", "src/a.test.js", &[], "t");
    rec.console_log(Some("f_0"), false, "state: ready\n");
    rec.console_log(Some("f_0"), true, "about to fail\n");
    rec.console_log(None, false, "not a test's\n");
    let r = result(
        c,
        "failed",
        0,
        vec![error("AssertionError", "expected 'a' to be 'b'", None)],
    );
    rec.case_result(&r).unwrap();
    rec.finish_run(Some(&end(
        vec![module(root, "src/a.test.js", "failed", vec![r])],
        "failed",
    )))
    .unwrap();
    let run = finish(driver);
    let f = by_id(&run, "src/a.test.js#t").failure.clone().unwrap();
    assert_eq!(f.stdout.unwrap().text, "state: ready\n");
    assert_eq!(f.stderr.unwrap().text, "about to fail\n");
}

#[test]
fn versions_before_3_are_refused_by_name() {
    assert!(check_vitest_version(Some("3.2.7"), "x").is_ok());
    assert!(check_vitest_version(Some("4.1.12"), "x").is_ok());
    let e = check_vitest_version(Some("2.1.9"), "here")
        .unwrap_err()
        .to_string();
    assert!(e.contains("Vitest 2.1.9 (in here) is not supported"), "{e}");
    assert!(check_vitest_version(None, "x").is_err());
}

#[test]
fn detection_and_the_jest_vitest_choice() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("package.json"),
        r#"{"devDependencies": {"vitest": "^4", "jest": "^30"}}"#,
    )
    .unwrap();
    // Both as dependencies, no configuration: both are detected (each runs its own).
    assert!(is_vitest_project(root));
    assert!(crate::frameworks::jest::is_jest_project(root));
    // A Vitest configuration decides: Jest is only a dependency there.
    std::fs::write(root.join("vitest.config.ts"), "export default {}\n").unwrap();
    assert!(is_vitest_project(root));
    assert!(!crate::frameworks::jest::is_jest_project(root));
    // Unless Jest is configured too.
    std::fs::write(root.join("jest.config.js"), "module.exports = {}\n").unwrap();
    assert!(crate::frameworks::jest::is_jest_project(root));
    let other = tempfile::tempdir().unwrap();
    std::fs::write(
        other.path().join("package.json"),
        r#"{"devDependencies": {"vite": "^7"}}"#,
    )
    .unwrap();
    std::fs::write(other.path().join("vite.config.js"), "export default {}\n").unwrap();
    assert!(!is_vitest_project(other.path()), "vite without vitest");
}

#[test]
fn the_file_list_is_read_from_vitest_list() {
    let root = Path::new("/p");
    let out = "[\n  {\n    \"file\": \"/p/src/b.test.js\"\n  },\n  {\n    \"file\": \"/p/src/a.test.js\",\n    \"projectName\": \"\"\n  }\n]\n";
    assert_eq!(
        parse_file_list(root, out).unwrap(),
        ["src/a.test.js", "src/b.test.js"]
    );
    assert!(parse_file_list(root, "not json").is_err());
}

#[test]
fn the_listing_has_the_ids_a_run_records() {
    let root = Path::new("/p");
    let out = r#"[{"name": "adds numbers", "file": "/p/src/math.test.js"}, {"name": "outer > inner > throws", "file": "/p/src/math.test.js"}, {"name": "twice > same", "file": "/p/src/math.test.js"}, {"name": "twice > same", "file": "/p/src/math.test.js"}]"#;
    let ids: Vec<String> = parse_listing(root, out)
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(
        ids,
        [
            "src/math.test.js#adds numbers",
            "src/math.test.js#outer › inner › throws",
            "src/math.test.js#twice › same",
            "src/math.test.js#twice › same@2",
        ]
    );
}

// ---- --affected: the Node API's answer ------------------------------------------------

#[test]
fn affected_answer_is_the_marked_line_whatever_else_is_printed() {
    let out = "The CJS build of Vite's Node API is deprecated.\n\
               testflow-vitest-related:{\"all\":[\"/p/src/a.test.js\",\"/p/src/b.test.js\"],\"related\":[\"/p/src/a.test.js\"]}\n";
    let (all, related) = affected::parse_answer(out).unwrap();
    assert_eq!(all, ["/p/src/a.test.js", "/p/src/b.test.js"]);
    assert_eq!(related, ["/p/src/a.test.js"]);
}

#[test]
fn affected_answer_missing_or_damaged_is_an_error_naming_it() {
    let e = affected::parse_answer("Startup Error\nboom\n").unwrap_err();
    assert!(format!("{e:#}").contains("no answer line"), "{e:#}");
    assert!(format!("{e:#}").contains("boom"), "{e:#}");
    let e = affected::parse_answer("testflow-vitest-related:{\"all\":[1]}").unwrap_err();
    assert!(format!("{e:#}").contains("unreadable answer"), "{e:#}");
}
