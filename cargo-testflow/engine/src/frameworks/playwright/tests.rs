//! The Playwright recorder rules, on results shaped as Playwright 1.65 reports them.

use std::path::Path;

use super::recorder::*;
use super::*;
use crate::model::ErrorKind;
use crate::recorder::RecorderConfig;
use crate::store::Store;

fn driven(root: &Path) -> (crate::store::Recording, PlaywrightRecorder) {
    let store = Store::at(root.join(".testflow"));
    let driver = store
        .start_run(root, vec![Framework::Playwright], chrono::Utc::now(), None)
        .unwrap();
    let rec = PlaywrightRecorder::start(RecorderConfig {
        framework: Framework::Playwright,
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

fn case(
    root: &Path,
    key: &str,
    file: &str,
    project: &str,
    suite: &[&str],
    title: &str,
) -> PlaywrightCase {
    PlaywrightCase {
        key: key.into(),
        file: root.join(file).display().to_string(),
        project: project.into(),
        suite: suite.iter().map(|s| s.to_string()).collect(),
        title: title.into(),
        line: Some(3),
    }
}

fn result(key: &str, retry: u32, status: &str, errors: Vec<PlaywrightError>) -> PlaywrightResult {
    PlaywrightResult {
        key: key.into(),
        retry,
        status: status.into(),
        expected_status: "passed".into(),
        duration_ms: 5.0,
        errors,
        attachments: vec![],
        skip_reason: None,
    }
}

fn error(root: &Path, message: &str, at: Option<(&str, u32)>) -> PlaywrightError {
    PlaywrightError {
        message: message.into(),
        stack: Some(format!("{message}\n    at /x.js:1:1")),
        location: at.map(|(f, line)| Location {
            file: root.join(f).display().to_string(),
            line,
            column: Some(5),
        }),
        value: None,
    }
}

fn end(status: &str, outcomes: &[(&str, &str)]) -> PlaywrightEnd {
    PlaywrightEnd {
        status: status.into(),
        outcomes: outcomes
            .iter()
            .map(|(k, o)| (k.to_string(), o.to_string()))
            .collect(),
    }
}

fn finish(driver: crate::store::Recording) -> Run {
    driver.finish(true, None).unwrap().0
}

fn kinds(run: &Run) -> Vec<String> {
    run.errors
        .iter()
        .map(|e| e.kind.as_str().to_owned())
        .collect()
}

const EXPECT: &str = "Error: \u{1b}[2mexpect(\u{1b}[22mreceived).toBe(expected) // Object.is equality\n\nExpected: \u{1b}[32m3\u{1b}[39m\nReceived: \u{1b}[31m2\u{1b}[39m";

#[test]
fn every_attempt_is_recorded_and_a_passing_retry_is_flaky() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (driver, rec) = driven(root);
    let cases = [
        case(
            root,
            "k1",
            "tests/a.spec.js",
            "",
            &["flaky"],
            "passes later",
        ),
        case(root, "k2", "tests/a.spec.js", "", &[], "fails"),
    ];
    rec.begin(1, &cases).unwrap();
    rec.test_begin("k1", 0).unwrap();
    rec.output(Some("k1"), 0, false, "attempt 1\n");
    let first = PlaywrightResult {
        attachments: vec![PlaywrightAttachment {
            name: "trace".into(),
            content_type: Some("application/zip".into()),
            path: Some(root.join("test-results/a/trace.zip").display().to_string()),
        }],
        ..result(
            "k1",
            0,
            "failed",
            vec![error(root, EXPECT, Some(("tests/a.spec.js", 7)))],
        )
    };
    rec.test_end(&first).unwrap();
    rec.test_begin("k1", 1).unwrap();
    rec.test_end(&result("k1", 1, "passed", vec![])).unwrap();
    rec.test_begin("k2", 0).unwrap();
    rec.test_end(&result(
        "k2",
        0,
        "failed",
        vec![error(root, "TypeError: x is not a function", None)],
    ))
    .unwrap();
    let (_, notes) = rec
        .finish_run(Some(&end(
            "failed",
            &[("k1", "flaky"), ("k2", "unexpected")],
        )))
        .unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    let run = finish(driver);
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    let t = &run.tests[0];
    assert_eq!(t.id, "tests/a.spec.js#flaky › passes later");
    assert_eq!(t.outcome, Outcome::Passed);
    assert!(t.flaky);
    assert_eq!(t.attempts.len(), 2);
    let f = t.attempts[0].failure.as_ref().unwrap();
    assert_eq!(f.category, Category::Assertion);
    assert_eq!(f.kind.as_deref(), Some("toBe"));
    assert_eq!(
        (f.expected.as_deref(), f.actual.as_deref()),
        (Some("3"), Some("2"))
    );
    assert_eq!(f.location.as_ref().unwrap().file, "tests/a.spec.js");
    assert_eq!(f.stdout.as_ref().unwrap().text, "attempt 1\n");
    assert_eq!(
        t.attempts[0].attachments[0].path,
        "test-results/a/trace.zip"
    );
    assert!(t.attempts[1].attachments.is_empty());
    let t = &run.tests[1];
    assert_eq!(t.outcome, Outcome::Failed);
    let f = t.failure.as_ref().unwrap();
    assert_eq!(
        (f.category, f.kind.as_deref()),
        (Category::RuntimeError, Some("TypeError"))
    );
}

#[test]
fn statuses_map_to_outcomes() {
    let root = Path::new("/p");
    let timed = result(
        "k",
        0,
        "timedOut",
        vec![error(
            root,
            "\u{1b}[31mTest timeout of 300ms exceeded.\u{1b}[39m",
            None,
        )],
    );
    let (o, f) = classify_attempt(root, &timed);
    assert_eq!(o, Outcome::Timeout);
    let f = f.unwrap();
    assert_eq!(
        (f.category, f.message.as_str()),
        (Category::Timeout, "Test timeout of 300ms exceeded.")
    );
    let crash = result(
        "k",
        0,
        "failed",
        vec![error(
            root,
            "Error: worker process exited unexpectedly (code=3, signal=null)",
            None,
        )],
    );
    let (o, f) = classify_attempt(root, &crash);
    assert_eq!(
        (o, f.unwrap().category),
        (Outcome::Crashed, Category::Crash)
    );
    assert_eq!(
        classify_attempt(root, &result("k", 0, "skipped", vec![])).0,
        Outcome::Skipped
    );
    let (o, f) = classify_attempt(root, &result("k", 0, "interrupted", vec![]));
    assert_eq!(
        (o, f.unwrap().category),
        (Outcome::Skipped, Category::Interrupted)
    );
    // test.fail(): failing is expected, passing is a failure (Playwright fails the run).
    let xfail = PlaywrightResult {
        expected_status: "failed".into(),
        ..result("k", 0, "failed", vec![])
    };
    assert_eq!(classify_attempt(root, &xfail).0, Outcome::Xfailed);
    let xpass = PlaywrightResult {
        expected_status: "failed".into(),
        ..result("k", 0, "passed", vec![])
    };
    assert_eq!(classify_attempt(root, &xpass).0, Outcome::Failed);
    // An unknown status is never a pass.
    assert!(
        classify_attempt(root, &result("k", 0, "exploded", vec![]))
            .0
            .is_failure()
    );
}

#[test]
fn more_than_one_project_names_it_in_the_id_and_duplicates_are_numbered() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (driver, rec) = driven(root);
    let cases = [
        case(root, "a", "t/x.spec.ts", "chromium", &["d"], "same"),
        case(root, "b", "t/x.spec.ts", "firefox", &["d"], "same"),
        case(root, "c", "t/x.spec.ts", "chromium", &["d"], "same"),
    ];
    assert_eq!(
        rec.ids_of(2, &cases),
        [
            "t/x.spec.ts#[chromium] › d › same",
            "t/x.spec.ts#[firefox] › d › same",
            "t/x.spec.ts#[chromium] › d › same@2"
        ]
    );
    rec.begin(2, &cases).unwrap();
    for k in ["a", "b", "c"] {
        rec.test_end(&result(k, 0, "passed", vec![])).unwrap();
    }
    rec.finish_run(Some(&end(
        "passed",
        &[("a", "expected"), ("b", "expected"), ("c", "expected")],
    )))
    .unwrap();
    let run = finish(driver);
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    assert_eq!(run.tests[1].binary.as_deref(), Some("firefox"));
    assert_eq!(run.tests[2].id, "t/x.spec.ts#[chromium] › d › same@2");
    // One project: no prefix.
    assert_eq!(rec.ids_of(1, &cases[..1]), ["t/x.spec.ts#d › same"]);
}

#[test]
fn a_file_that_fails_to_load_is_an_entry_and_other_errors_are_run_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (driver, rec) = driven(root);
    rec.begin(1, &[]).unwrap();
    rec.error(&error(
        root,
        "Error: Cannot find module './gone'",
        Some(("tests/bad.spec.js", 2)),
    ))
    .unwrap();
    rec.error(&error(
        root,
        "Error: global setup broke",
        Some(("global-setup.js", 4)),
    ))
    .unwrap();
    rec.error(&error(root, "Error: no location", None)).unwrap();
    rec.finish_run(Some(&end("failed", &[]))).unwrap();
    let run = finish(driver);
    assert_eq!(run.tests.len(), 1, "{:?}", run.tests);
    let bad = &run.tests[0];
    assert_eq!(
        (bad.id.as_str(), bad.outcome),
        ("tests/bad.spec.js", Outcome::Error)
    );
    assert_eq!(
        bad.failure.as_ref().unwrap().category,
        Category::ImportError
    );
    // Not a test file (global setup), or no location: run errors.
    assert_eq!(kinds(&run), ["playwright", "playwright"]);
}

#[test]
fn the_end_of_the_run_is_checked_against_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (driver, rec) = driven(root);
    let cases = [
        case(root, "k1", "t/a.spec.js", "", &[], "one"),
        case(root, "k2", "t/a.spec.js", "", &[], "two"),
        case(root, "k3", "t/a.spec.js", "", &[], "three"),
    ];
    rec.begin(1, &cases).unwrap();
    rec.test_end(&result("k1", 0, "passed", vec![])).unwrap();
    rec.test_end(&result("k2", 0, "passed", vec![])).unwrap();
    // k2 Playwright calls unexpected; k3 never ran; an unknown test; status passed.
    let (_, notes) = rec
        .finish_run(Some(&end(
            "passed",
            &[
                ("k1", "expected"),
                ("k2", "unexpected"),
                ("k3", "skipped"),
                ("zz", "expected"),
            ],
        )))
        .unwrap();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes[0].contains("`t/a.spec.js#two`: Playwright's outcome is unexpected"),
        "{notes:?}"
    );
    assert!(notes[1].contains("lists test `zz`"), "{notes:?}");
    let run = finish(driver);
    let k = kinds(&run);
    assert!(
        k.contains(&"not_run".to_owned()) && k.contains(&"reconcile".to_owned()),
        "{k:?}"
    );
    assert!(
        run.errors
            .iter()
            .any(|e| e.kind == ErrorKind::NotRun && e.message.contains("t/a.spec.js#three"))
    );
}

#[test]
fn a_failed_status_with_nothing_failing_and_a_global_timeout_fail_closed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (driver, rec) = driven(root);
    let cases = [case(root, "k1", "t/a.spec.js", "", &[], "one")];
    rec.begin(1, &cases).unwrap();
    rec.test_end(&result("k1", 0, "passed", vec![])).unwrap();
    let (_, notes) = rec
        .finish_run(Some(&end("failed", &[("k1", "expected")])))
        .unwrap();
    assert_eq!(
        notes,
        ["Playwright ended the run as failed, but testflow recorded no failure"]
    );
    finish(driver);

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (driver, rec) = driven(root);
    rec.begin(1, &[case(root, "k1", "t/a.spec.js", "", &[], "one")])
        .unwrap();
    rec.test_begin("k1", 0).unwrap();
    rec.finish_run(Some(&end("timedout", &[("k1", "skipped")])))
        .unwrap();
    let run = finish(driver);
    assert_eq!(kinds(&run), ["playwright", "not_run"]);
    assert!(run.errors[0].message.contains("globalTimeout"));
}

#[test]
fn no_on_end_leaves_the_run_incomplete_and_unknown_tests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (driver, rec) = driven(root);
    rec.begin(1, &[case(root, "k1", "t/a.spec.js", "", &[], "one")])
        .unwrap();
    rec.test_end(&result("nobody", 0, "passed", vec![]))
        .unwrap();
    rec.test_end(&result("k1", 0, "passed", vec![])).unwrap();
    rec.test_end(&result("k1", 0, "failed", vec![])).unwrap();
    rec.finish_run(None).unwrap();
    let run = finish(driver);
    assert_eq!(run.tests.len(), 1);
    assert_eq!(kinds(&run), ["reconcile", "reconcile", "reconcile"]);
    assert!(run.errors[0].message.contains("onBegin did not list"));
    assert!(run.errors[1].message.contains("attempt 1 twice"));
    assert!(run.errors[2].message.contains("onEnd never ran"));
}

#[test]
fn an_owned_run_that_never_saw_on_end_is_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let rec = PlaywrightRecorder::start(RecorderConfig {
        framework: Framework::Playwright,
        project_root: root.to_owned(),
        events: None,
        reports: vec![],
        shard: None,
        keep_runs: crate::history::DEFAULT_KEEP_RUNS,
        quarantine: vec![],
        gates: None,
    })
    .unwrap();
    rec.begin(1, &[case(root, "k1", "t/a.spec.js", "", &[], "one")])
        .unwrap();
    rec.test_end(&result("k1", 0, "passed", vec![])).unwrap();
    let (run, _) = rec.finish_run(None).unwrap();
    assert!(!run.completed);
    assert_eq!(kinds(&run), ["reconcile"]);
    assert_ne!(crate::verdict::exit_code_for(&run, None), 0);
}

#[test]
fn versions_and_listing() {
    assert!(check_playwright_version(Some("1.65.1"), "x").is_ok());
    assert!(check_playwright_version(Some("1.39.0"), "x").is_err());
    assert!(check_playwright_version(Some("next"), "x").is_err());
    assert!(check_playwright_version(None, "x").is_err());
    let json = r#"{"config": {"rootDir": "/p/tests", "projects": [{"name": "a"}]},
        "suites": [{"title": "a.spec.js", "file": "a.spec.js", "specs": [
            {"title": "top", "line": 3, "tests": [{"projectName": "a"}]}],
          "suites": [{"title": "d", "file": "a.spec.js", "specs": [
            {"title": "in", "line": 6, "tests": [{"projectName": "a"}]}]}]}],
        "errors": [{"message": "Error: boom\nmore"}]}"#;
    let (tests, errors) = parse_listing(Path::new("/p"), json).unwrap();
    let ids: Vec<&str> = tests.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["tests/a.spec.js#top", "tests/a.spec.js#d › in"]);
    assert_eq!(errors, ["Error: boom"]);
    assert!(parse_listing(Path::new("/p"), "not json").is_err());
}

#[test]
fn the_driver_never_passes_what_the_record_contradicts() {
    use crate::process::ExitKind;
    let dir = tempfile::tempdir().unwrap();
    let (driver, _rec) = driven(dir.path());
    let run = finish(driver);
    assert!(
        reconcile_exit(ExitKind::Code(0), false, &run)
            .unwrap()
            .contains("onEnd never ran")
    );
    assert!(
        reconcile_exit(ExitKind::Code(1), true, &run)
            .unwrap()
            .contains("no failing test")
    );
    assert!(reconcile_exit(ExitKind::Code(0), true, &run).is_none());
}

#[test]
fn the_run_options_become_playwright_flags() {
    let project = PlaywrightProject {
        root: "/p".into(),
        bin: "/p/node_modules/.bin/playwright".into(),
        reporter_dir: "/p/node_modules/jest-testflow".into(),
    };
    let mut options = crate::runner::RunOptions {
        jobs: 3,
        jobs_given: true,
        test_timeout: Some(std::time::Duration::from_secs(5)),
        retries: 2,
        fail_fast: true,
        filters: vec!["a.b".into()],
        framework_args: vec!["tests/x.spec.js".into()],
        ..Default::default()
    };
    options.pass_through.shard = Some((
        crate::shard::ShardSpec::parse("2/4").unwrap(),
        crate::shard::Strategy::Timings,
    ));
    assert_eq!(
        project.args(&options, None),
        [
            "test",
            "--reporter=list,/p/node_modules/jest-testflow/playwright.js",
            "--workers=3",
            "--timeout=5000",
            "--retries=2",
            "--max-failures=1",
            "--grep=a\\.b",
            "--shard=2/4",
            "--pass-with-no-tests",
            "tests/x.spec.js",
        ]
    );
    // No -j and no history: Playwright's own workers.
    let plain = crate::runner::RunOptions {
        jobs_given: false,
        ..Default::default()
    };
    assert_eq!(project.args(&plain, None).len(), 2);
}

#[test]
fn attachments_are_linked_by_path_from_junit_and_html() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (driver, rec) = driven(root);
    rec.begin(1, &[case(root, "k1", "t/a.spec.js", "", &[], "shot")])
        .unwrap();
    let r = PlaywrightResult {
        attachments: vec![
            PlaywrightAttachment {
                name: "screenshot".into(),
                content_type: Some("image/png".into()),
                path: Some(root.join("test-results/a/shot.png").display().to_string()),
            },
            // In memory (a body, no path): not linked.
            PlaywrightAttachment {
                name: "inline".into(),
                content_type: None,
                path: None,
            },
        ],
        ..result("k1", 0, "failed", vec![error(root, EXPECT, None)])
    };
    rec.test_end(&r).unwrap();
    rec.finish_run(Some(&end("failed", &[("k1", "unexpected")])))
        .unwrap();
    let run = finish(driver);
    assert_eq!(run.tests[0].attempts[0].attachments.len(), 1);
    let junit = crate::report::render(&run, crate::report::ReportFormat::Junit).unwrap();
    let junit = String::from_utf8(junit).unwrap();
    assert!(
        junit.contains("[[ATTACHMENT|test-results/a/shot.png]]"),
        "{junit}"
    );
    let html = crate::report::html::data(&run).to_string();
    assert!(
        html.contains(r#""path":"test-results/a/shot.png""#),
        "{html}"
    );
}

// ---- --affected: running the selected files ---------------------------------------------

#[test]
fn affected_file_filters_are_escaped_and_anchored() {
    assert_eq!(
        affected::file_filter("tests/a.spec.js"),
        r"(?:^|/)tests\/a\.spec\.js$"
    );
    assert_eq!(
        affected::file_filter("/abs/x (1)/b+.spec.ts"),
        r"^\/abs\/x \(1\)\/b\+\.spec\.ts$"
    );
    // The filter matches its own file only (Playwright's reading: a RegExp over the path).
    let re = regex::Regex::new(&affected::file_filter("tests/a.spec.js")).unwrap();
    assert!(re.is_match("/repo/web/tests/a.spec.js"));
    assert!(!re.is_match("/repo/web/tests/a.spec.jsx"));
    assert!(!re.is_match("/repo/web/xtests/a.spec.js"));
    assert!(!re.is_match("/repo/web/tests/aXspec.js"));
}

#[test]
fn affected_revision_is_the_base_or_head_when_it_holds_every_changed_path() {
    use crate::affected::{Mode, Plan, Request};
    let git = crate::affected::tests::git;
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().canonicalize().unwrap();
    let web = repo.join("web");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("a.js"), "").unwrap();
    std::fs::write(web.join("b.js"), "").unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "one"]);
    std::fs::write(web.join("a.js"), "// edited\n").unwrap();
    let req = |since: Option<&str>, changed: &[&str]| Request {
        mode: Mode::Select,
        since: since.map(str::to_owned),
        changed: changed.iter().map(std::path::PathBuf::from).collect(),
        always_run: vec![],
    };
    // --changed paths git's changes since HEAD hold: HEAD.
    let plan = Plan::build(&web, &req(None, &["a.js"]), None).unwrap();
    assert_eq!(affected::revision(&plan, &web).as_deref(), Ok("HEAD"));
    // One it does not hold (unchanged since HEAD): Playwright cannot be asked.
    let plan = Plan::build(&web, &req(None, &["a.js", "b.js"]), None).unwrap();
    let e = affected::revision(&plan, &web).unwrap_err();
    assert!(e.contains("b.js is unchanged since HEAD"), "{e}");
    // A base: itself.
    let plan = Plan::build(&web, &req(Some("HEAD"), &[]), None).unwrap();
    assert_eq!(
        affected::revision(&plan, &web).as_deref(),
        Ok(plan.base.as_deref().unwrap())
    );
    // An untracked source outside the project: where --only-changed does not look.
    std::fs::write(repo.join("shared.js"), "").unwrap();
    let plan = Plan::build(&web, &req(Some("HEAD"), &[]), None).unwrap();
    let e = affected::revision(&plan, &web).unwrap_err();
    assert!(e.contains("outside the Playwright project"), "{e}");
}

#[test]
fn ci_installs_the_browsers_the_configuration_names() {
    assert_eq!(ci_browsers(""), ["chromium"]);
    assert_eq!(
        ci_browsers("export default defineConfig({ use: { baseURL: 'x' } })"),
        ["chromium"]
    );
    let all = "projects: [\n { name: 'chromium', use: { ...devices['Desktop Chrome'] } },\n { use: { ...devices['Desktop Firefox'] } },\n { use: { ...devices['Desktop Safari'] } },\n { use: { ...devices['Pixel 5'] } },\n { use: { channel: 'msedge' } },\n { use: { channel: \"chrome-beta\" } },\n { use: { channel: 'chrome-canary' } },\n]";
    assert_eq!(
        ci_browsers(all),
        ["chromium", "firefox", "webkit", "chrome-beta", "msedge"]
    );
    assert_eq!(ci_browsers("use: { browserName: 'webkit' }"), ["webkit"]);
    // The fixture: Debian's chromium by path locally, Playwright's chromium on CI.
    let plugin = crate::frameworks::plugin(Framework::Playwright).unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/playwright-basic");
    let setup = plugin.ci_setup(&fixture).expect("a set-up step");
    assert_eq!(
        setup.script,
        "npx playwright install --with-deps chromium\n"
    );
    assert_eq!(setup.cache.unwrap().key_files, ["package.json"]);
    // A project of another framework sets up no browsers.
    assert!(
        crate::frameworks::PLUGINS
            .iter()
            .filter(|p| p.framework() != Framework::Playwright && p.framework() != Framework::Go)
            .all(|p| p.ci_setup(&fixture).is_none())
    );
}
