//! go test through `cargo testflow run` (real `go test -json`) on the go-* fixtures: every
//! outcome with its failure and location, subtests under their parent, retries and flaky,
//! crashes and time limits attributed to the test that ran, build failures, reconciling
//! with go's own verdict, list, JUnit and coverage. What each fixture test does is in
//! its EXPECTED.md.

use std::path::{Path, PathBuf};

use testflow::model::{Category, Outcome};

use crate::util::{Project, RunExt, failure};

fn counter(p: &Project) -> PathBuf {
    p.flaky_dir.path().join("go-counter")
}

#[test]
fn go_basic_records_every_outcome_with_its_failure_and_place() {
    let p = Project::new("go-basic");
    let c = counter(&p);
    let out = p.run_env(&["--retries", "1"], &[("GO_FLAKY_COUNTER", &c)]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    let run = out.run();
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    let outcome = |id: &str| run.test(&format!("example.com/gobasic::{id}")).outcome;
    for (id, want) in [
        ("TestAdd", Outcome::Passed),
        ("TestAddWrong", Outcome::Failed),
        ("TestFatal", Outcome::Failed),
        ("TestSkipped", Outcome::Skipped),
        ("TestSign", Outcome::Failed),
        ("TestSign/negative", Outcome::Passed),
        ("TestSign/zero", Outcome::Failed),
        ("TestSign/positive", Outcome::Passed),
        ("TestFlaky", Outcome::Passed),
        ("TestLogs", Outcome::Passed),
    ] {
        assert_eq!(outcome(id), want, "{id}");
    }
    assert_eq!(
        run.test("example.com/gobasic/strs::TestShout").outcome,
        Outcome::Passed
    );
    assert_eq!(run.tests.len(), 11);

    let wrong = run.test("example.com/gobasic::TestAddWrong");
    let f = failure(wrong);
    assert_eq!(f.category, Category::Assertion);
    assert_eq!(f.message, "Add(2, 2) = 4, want 5");
    let at = f.location.as_ref().unwrap();
    assert_eq!((at.file.as_str(), at.line), ("calc_test.go", 18));
    assert_eq!(
        (wrong.file.as_deref(), wrong.line),
        (Some("calc_test.go"), Some(16))
    );
    assert_eq!(wrong.binary.as_deref(), Some("example.com/gobasic"));
    // Failing tests were retried once, and failed again.
    assert_eq!(wrong.attempts.len(), 2);
    assert_eq!(
        failure(run.test("example.com/gobasic::TestFatal")).message,
        "cannot continue: no config"
    );

    // A subtest is its own result under its parent.
    let zero = run.test("example.com/gobasic::TestSign/zero");
    assert_eq!(
        (zero.name.as_str(), zero.suite.as_slice()),
        ("zero", &["TestSign".to_owned()][..])
    );
    assert_eq!(zero.file.as_deref(), Some("calc_test.go"));
    assert_eq!(
        failure(zero).message,
        r#"Sign(0) = "zero", want "positive""#
    );
    assert_eq!(failure(zero).location.as_ref().unwrap().line, 43);
    assert_eq!(
        zero.attempts.len(),
        2,
        "retried with -run '^TestSign$/^(zero)$'"
    );
    assert_eq!(
        failure(run.test("example.com/gobasic::TestSign")).message,
        "failing subtests: TestSign/zero"
    );

    // The flaky test failed, then passed on its retry.
    let flaky = run.test("example.com/gobasic::TestFlaky");
    assert!(flaky.flaky);
    let attempts: Vec<Outcome> = flaky.attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(attempts, [Outcome::Failed, Outcome::Passed]);
    assert_eq!(std::fs::read_to_string(&c).unwrap().trim(), "2");

    let skipped = run.test("example.com/gobasic::TestSkipped");
    assert_eq!(skipped.reason.as_deref(), Some("not on this machine"));
    assert!(skipped.failure.is_none());
    // Passed tests keep no failure; the terminal names failures with their place.
    assert!(run.test("example.com/gobasic::TestLogs").failure.is_none());
    assert!(out.stderr.contains("at calc_test.go:18"), "{}", out.stderr);
    assert_eq!(
        run.test("example.com/gobasic/strs::TestShout")
            .file
            .as_deref(),
        Some("strs/strs_test.go")
    );
}

#[test]
fn go_basic_without_retries_fails_the_flaky_test_and_writes_junit_by_package() {
    let p = Project::new("go-basic");
    let c = counter(&p);
    let junit = p.testflow_dir.path().join("junit.xml");
    let report = format!("junit={}", junit.display());
    let out = p.run_env(
        &["-j", "1", "--report", &report],
        &[("GO_FLAKY_COUNTER", &c)],
    );
    assert_eq!(out.code, 100, "{}", out.stderr);
    let run = out.run();
    let flaky = run.test("example.com/gobasic::TestFlaky");
    assert_eq!(flaky.outcome, Outcome::Failed);
    assert_eq!(failure(flaky).message, "first attempt fails (attempt 1)");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(r#"<testsuite name="example.com/gobasic""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<testsuite name="example.com/gobasic/strs""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"name="TestSign/zero" classname="example.com/gobasic""#),
        "{xml}"
    );
}

/// `t` crashed in a goroutine's nil-map panic, at `file:line` (relative to the project root).
fn crashed_on_a_nil_map(t: &testflow::model::TestCase, file: &str, line: u32) {
    assert_eq!(t.outcome, Outcome::Crashed);
    let f = failure(t);
    assert_eq!(f.category, Category::Crash);
    assert!(
        f.message.contains("assignment to entry in nil map"),
        "{}",
        f.message
    );
    let at = f.location.as_ref().unwrap();
    assert_eq!((at.file.as_str(), at.line), (file, line));
}

#[test]
fn go_crash_attributes_each_death_to_the_test_that_ran() {
    let p = Project::new("go-crash");
    let out = p.run(&["--test-timeout", crate::util::HANG_LIMIT]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    let run = out.run();
    let t = |id: &str| run.test(&format!("example.com/gocrash/{id}"));
    // A panic in a goroutine: the test waiting for it crashed; the one before passed.
    assert_eq!(t("panicky::TestBeforePanic").outcome, Outcome::Passed);
    crashed_on_a_nil_map(
        t("panicky::TestGoroutinePanic"),
        "panicky/panicky_test.go",
        19,
    );
    // os.Exit(0) in a test: go fails it; the test after it never ran.
    assert_eq!(t("exits::TestFirst").outcome, Outcome::Passed);
    let e = failure(t("exits::TestExitZero"));
    assert_eq!(t("exits::TestExitZero").outcome, Outcome::Failed);
    assert_eq!(e.message, "unexpected call to os.Exit(0) during test");
    // go's -timeout (from --test-timeout) ends the hanging test as a timeout.
    assert_eq!(t("hangs::TestQuick").outcome, Outcome::Passed);
    let h = t("hangs::TestHang");
    assert_eq!(h.outcome, Outcome::Timeout);
    assert_eq!(failure(h).category, Category::Timeout);
    assert_eq!(
        failure(h).location.as_ref().unwrap().file,
        "hangs/hangs_test.go"
    );
    // TestMain failed the package after its test passed.
    assert_eq!(t("mainfails::TestPasses").outcome, Outcome::Passed);
    // Tests that never ran are not results, but named in run errors.
    for never in ["TestAfterPanic", "TestNeverReached"] {
        assert!(
            run.tests.iter().all(|t| !t.id.ends_with(never)),
            "{never} has a result"
        );
    }
    let errors: Vec<(&str, &str)> = run
        .errors
        .iter()
        .map(|e| (e.kind.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors.iter().any(|(k, m)| *k == "not_run"
        && m.contains("example.com/gocrash/panicky::TestAfterPanic")
        && m.contains("died in TestGoroutinePanic")));
    assert!(
        errors
            .iter()
            .any(|(k, m)| *k == "not_run"
                && m.contains("example.com/gocrash/exits::TestNeverReached"))
    );
    assert!(errors.iter().any(|(k, m)| *k == "reconcile"
        && m.contains("example.com/gocrash/mainfails: go test failed the package, but none of its tests failed")
        && m.contains("leak check: 1 goroutine still running")));
    assert_eq!(run.tests.len(), 7);
}

#[test]
fn a_go_package_that_does_not_build_is_a_build_error_with_the_compilers_message() {
    let p = Project::new("go-build-error");
    let out = p.run(&[]);
    assert_eq!(out.code, 101, "{}", out.stderr);
    let run = out.run();
    assert_eq!(
        run.test("example.com/gobuilderror/good::TestDouble")
            .outcome,
        Outcome::Passed
    );
    assert_eq!(run.tests.len(), 1);
    assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
    assert_eq!(run.errors[0].kind, "build");
    let m = &run.errors[0].message;
    assert!(
        m.starts_with("example.com/gobuilderror/broken: go test could not build it"),
        "{m}"
    );
    assert!(
        m.contains(
            "broken/broken_test.go:6:14: cannot use Name() (value of type string) as int value"
        ),
        "{m}"
    );
    assert!(out.stderr.contains("BUILD FAILED"), "{}", out.stderr);
}

#[test]
fn list_shows_each_package_and_its_tests() {
    let p = Project::new("go-basic");
    let out = p.cmd(&["list", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("list JSON");
    let text = v.to_string();
    for id in [
        "example.com/gobasic::TestAdd",
        "example.com/gobasic::TestSign",
        "example.com/gobasic::TestLogs",
        "example.com/gobasic/strs::TestShout",
    ] {
        assert!(text.contains(&format!("\"{id}\"")), "{id}: {text}");
    }
    // Subtests are only known by running.
    assert!(!text.contains("TestSign/zero"), "{text}");
    let broken = Project::new("go-build-error").cmd(&["list"]);
    assert_ne!(broken.code, 0, "{}", broken.stderr);
    assert!(broken.stdout.contains("broken") || broken.stderr.contains("broken"));
}

#[test]
fn go_coverage_is_converted_into_the_runs_coverage() {
    let p = Project::new("go-basic");
    let out = p.cmd(&["run", "--coverage", "--format", "json", "--", "./strs/..."]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = out.run();
    let cov = run.coverage.as_ref().expect("coverage");
    assert!(
        cov.frameworks
            .iter()
            .any(|f| f.framework == testflow::model::Framework::Go && f.status == "collected"),
        "{:?}",
        cov.frameworks
    );
    assert!(
        cov.files.iter().any(|f| f.path == "strs/strs.go"),
        "{:?}",
        cov.files
    );
}

/// A `go` that runs the real one and then adds a line of its own to the stream.
fn damaging_go(dir: &Path) -> PathBuf {
    let real = which_go();
    let script = dir.join("go");
    std::fs::write(
        &script,
        format!("#!/bin/sh\n\"{}\" \"$@\"\nrc=$?\n[ \"$1\" = test ] && echo 'this is not JSON'\nexit $rc\n", real.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn which_go() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("go"))
        .find(|p| p.is_file())
        .expect("go on PATH")
}

#[test]
fn a_damaged_go_stream_fails_a_green_run_closed() {
    let p = Project::new("go-basic");
    let dir = tempfile::tempdir().unwrap();
    let go = damaging_go(dir.path());
    let out = p.cmd_env(
        &["run", "--format", "json", "--", "./strs/..."],
        &[("TESTFLOW_GO", &go)],
    );
    assert_eq!(out.code, 102, "{}", out.stderr);
    let run = out.run();
    assert_eq!(
        run.test("example.com/gobasic/strs::TestShout").outcome,
        Outcome::Passed
    );
    assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
    assert_eq!(run.errors[0].kind, "reconcile");
    assert!(
        run.errors[0].message.contains("this is not JSON"),
        "{}",
        run.errors[0].message
    );
}

#[test]
fn a_directory_without_go_mod_forced_to_go_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(crate::util::BIN)
        .args(["testflow", "run", "--framework", "go"])
        .current_dir(dir.path())
        .env("TESTFLOW_DIR", dir.path().join(".tf"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(101), "{stderr}");
    assert!(stderr.contains("go.mod"), "{stderr}");
}

/// The ids the two shards (`--shard-strategy count`) of `p` ran, sorted, each shard
/// asserted to run one whole package and no run error.
fn ids_of_two_shards_of_one_package_each(p: &Project) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for shard in ["1/2", "2/2"] {
        let out = p.run(&["--shard", shard, "--shard-strategy", "count"]);
        assert!(matches!(out.code, 0 | 100), "{shard}: {}", out.stderr);
        let run = out.run();
        assert!(run.errors.is_empty(), "{shard}: {:?}", run.errors);
        let mut packages: Vec<&str> = run
            .tests
            .iter()
            .map(|t| t.binary.as_deref().unwrap())
            .collect();
        packages.sort();
        packages.dedup();
        assert_eq!(
            packages.len(),
            1,
            "{shard}: one whole package each: {packages:?}"
        );
        seen.extend(run.tests.iter().map(|t| t.id.clone()));
    }
    seen.sort();
    seen
}

#[test]
fn shards_split_whole_packages_and_together_run_everything() {
    let mut seen = ids_of_two_shards_of_one_package_each(&Project::new("go-basic"));
    assert_eq!(seen.len(), 11, "{seen:?}");
    seen.dedup();
    assert_eq!(seen.len(), 11, "no test ran in both shards");
}

#[test]
fn test_name_filters_become_go_s_run_pattern() {
    let p = Project::new("go-basic");
    // `Sign/zero`: go matches `Sign` against top-level names and `zero` against subtests.
    let out = p.run(&["Sign/zero"]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    let mut ids = out.run().ids();
    ids.sort();
    assert_eq!(
        ids,
        [
            "example.com/gobasic::TestSign",
            "example.com/gobasic::TestSign/zero"
        ]
    );
}

/// A `go` that drops `-timeout=…`: go's own time limit never fires.
fn go_without_its_timeout(dir: &Path) -> PathBuf {
    let script = dir.join("go");
    std::fs::write(
        &script,
        format!(
            "#!/usr/bin/env bash\nargs=()\nfor a in \"$@\"; do case \"$a\" in -timeout=*) ;; *) args+=(\"$a\") ;; esac; done\nexec \"{}\" \"${{args[@]}}\"\n",
            which_go().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// `run --test-timeout 1 -- PATTERN` with a `go` that drops `-timeout=…`: testflow's
/// watchdog (the limit plus 10 s after the package's binary started) has to end the
/// hang. Checks that `<package>::TestHang` is a watchdog timeout and `TestQuick` passed.
fn hang_ended_by_the_watchdog(p: &Project, pattern: &str, package: &str) -> testflow::model::Run {
    let dir = tempfile::tempdir().unwrap();
    let go = go_without_its_timeout(dir.path());
    let out = p.cmd_env(
        &[
            "run",
            "--test-timeout",
            "1",
            "--format",
            "json",
            "--",
            pattern,
        ],
        &[("TESTFLOW_GO", &go)],
    );
    assert_eq!(out.code, 100, "{}", out.stderr);
    let run = out.run().clone();
    assert_eq!(
        run.test(&format!("{package}::TestQuick")).outcome,
        Outcome::Passed
    );
    let hang = run.test(&format!("{package}::TestHang"));
    assert_eq!(hang.outcome, Outcome::Timeout);
    assert!(
        failure(hang)
            .message
            .starts_with("testflow's watchdog stopped go test"),
        "{}",
        failure(hang).message
    );
    run
}

#[test]
fn a_hang_go_does_not_end_is_ended_by_the_watchdog_as_a_timeout() {
    let p = Project::new("go-crash");
    let run = hang_ended_by_the_watchdog(&p, "./hangs/...", "example.com/gocrash/hangs");
    assert_eq!(run.tests.len(), 2);
}

// ---- modules below the project root (tests/fixtures/go-modules, go-workspace) ----------

const CALC: &str = "example.com/gomods/calc";
const GREET: &str = "example.com/gomods/api/greet";

/// Every test of go-modules, sorted.
fn go_modules_ids() -> Vec<String> {
    let mut ids: Vec<String> = [
        format!("{CALC}::TestAdd"),
        format!("{CALC}::TestFlaky"),
        format!("{CALC}::TestSign"),
        format!("{CALC}::TestSign/negative"),
        format!("{CALC}::TestSign/zero"),
        format!("{GREET}::TestHello"),
        format!("{GREET}::TestHelloWrong"),
    ]
    .into();
    ids.sort();
    ids
}

#[test]
fn modules_below_the_root_each_run_in_their_own_directory() {
    let p = Project::new("go-modules");
    let c = counter(&p);
    let out = p.run_env(&["--retries", "1"], &[("GO_FLAKY_COUNTER", &c)]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    let run = out.run();
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    // Both modules, nothing from node_modules/ or testdata/, every id once.
    assert_eq!(run.ids(), go_modules_ids());
    assert_eq!(run.tests.len(), go_modules_ids().len());
    for (id, want) in [
        ("TestAdd", Outcome::Passed),
        ("TestSign", Outcome::Passed),
        ("TestSign/negative", Outcome::Passed),
        ("TestSign/zero", Outcome::Passed),
        ("TestFlaky", Outcome::Passed),
    ] {
        assert_eq!(run.test(&format!("{CALC}::{id}")).outcome, want, "{id}");
    }
    assert_eq!(
        run.test(&format!("{GREET}::TestHello")).outcome,
        Outcome::Passed
    );
    // Files are relative to the project root, through the module's directory.
    let add = run.test(&format!("{CALC}::TestAdd"));
    assert_eq!(
        (add.file.as_deref(), add.line, add.binary.as_deref()),
        (Some("go/calc_test.go"), Some(10), Some(CALC))
    );
    let zero = run.test(&format!("{CALC}::TestSign/zero"));
    assert_eq!(zero.suite, ["TestSign"]);
    assert_eq!(zero.file.as_deref(), Some("go/calc_test.go"));

    let wrong = run.test(&format!("{GREET}::TestHelloWrong"));
    assert_eq!(wrong.outcome, Outcome::Failed);
    let f = failure(wrong);
    assert_eq!(f.category, Category::Assertion);
    assert_eq!(f.message, r#"Hello("api") = "hello, api", want "hi, api""#);
    let at = f.location.as_ref().unwrap();
    assert_eq!(
        (at.file.as_str(), at.line),
        ("services/api/greet/greet_test.go", 14)
    );
    assert_eq!(
        (wrong.file.as_deref(), wrong.line),
        (Some("services/api/greet/greet_test.go"), Some(11))
    );
    // Retried in its module's directory (elsewhere go cannot find the package): it ran
    // again and failed again.
    assert_eq!(wrong.attempts.len(), 2);
    assert_eq!(
        wrong.attempts[1].outcome,
        Outcome::Failed,
        "{:?}",
        wrong.attempts
    );
    // The flaky test of the other module failed, then passed on its retry there.
    let flaky = run.test(&format!("{CALC}::TestFlaky"));
    assert!(flaky.flaky);
    let attempts: Vec<Outcome> = flaky.attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(attempts, [Outcome::Failed, Outcome::Passed]);
    assert_eq!(std::fs::read_to_string(&c).unwrap().trim(), "2");
    assert!(
        out.stderr
            .contains("at services/api/greet/greet_test.go:14"),
        "{}",
        out.stderr
    );
}

#[test]
fn list_shows_the_packages_of_every_module() {
    let p = Project::new("go-modules");
    let out = p.cmd(&["list", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("list JSON");
    let mut listed: Vec<(String, String, String)> = v
        .as_array()
        .expect("suites")
        .iter()
        .flat_map(|s| {
            let package = s["package"].as_str().unwrap().to_owned();
            s["test_list"].as_array().unwrap().iter().map(move |t| {
                (
                    t["id"].as_str().unwrap().to_owned(),
                    t["file"].as_str().unwrap().to_owned(),
                    package.clone(),
                )
            })
        })
        .collect();
    listed.sort();
    let calc = |n: &str| {
        (
            format!("{CALC}::{n}"),
            "go/calc_test.go".to_owned(),
            CALC.to_owned(),
        )
    };
    let greet = |n: &str| {
        (
            format!("{GREET}::{n}"),
            "services/api/greet/greet_test.go".to_owned(),
            "example.com/gomods/api".to_owned(),
        )
    };
    assert_eq!(
        listed,
        [
            greet("TestHello"),
            greet("TestHelloWrong"),
            calc("TestAdd"),
            calc("TestFlaky"),
            calc("TestSign"),
        ]
    );
}

#[test]
fn a_module_that_does_not_build_is_a_build_error_and_the_others_still_run() {
    let p = Project::copy_of("go-modules");
    std::fs::write(
        p.dir.join("services/api/greet/broken_test.go"),
        "package greet\n\nimport \"testing\"\n\nfunc TestBroken(t *testing.T) {\n\tvar n int = Hello(\"x\")\n\t_ = n\n}\n",
    )
    .unwrap();
    let out = p.run(&[]);
    assert_eq!(out.code, 101, "{}", out.stderr);
    let run = out.run();
    // The other module ran, with its own results.
    let ids = run.ids();
    assert!(ids.iter().all(|id| id.starts_with(CALC)), "{ids:?}");
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert_eq!(
        run.test(&format!("{CALC}::TestAdd")).outcome,
        Outcome::Passed
    );
    assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
    assert_eq!(run.errors[0].kind, "build");
    let m = &run.errors[0].message;
    assert!(
        m.starts_with(&format!("{GREET}: go test could not build it")),
        "{m}"
    );
    assert!(
        m.contains(
            "broken_test.go:6:14: cannot use Hello(\"x\") (value of type string) as int value"
        ),
        "{m}"
    );
    assert!(out.stderr.contains("BUILD FAILED"), "{}", out.stderr);
}

#[test]
fn two_modules_with_one_module_path_fail_closed_and_the_first_still_runs() {
    let p = Project::copy_of("go-modules");
    std::fs::write(
        p.dir.join("services/api/go.mod"),
        "module example.com/gomods/calc\n\ngo 1.22\n",
    )
    .unwrap();
    let out = p.run(&[]);
    assert_eq!(out.code, 101, "{}", out.stderr);
    let run = out.run();
    assert!(run.ids().iter().all(|id| id.starts_with(CALC)));
    assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
    assert_eq!(run.errors[0].kind, "build");
    let m = &run.errors[0].message;
    assert!(m.starts_with("services/api/go.mod: "), "{m}");
    assert!(m.contains("as go/go.mod does"), "{m}");
}

#[test]
fn package_patterns_are_relative_to_the_project_and_run_in_their_module() {
    let p = Project::new("go-modules");
    let out = p.cmd(&[
        "run",
        "--coverage",
        "--format",
        "json",
        "--",
        "./services/api/...",
    ]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    let run = out.run();
    assert_eq!(
        run.ids(),
        [
            format!("{GREET}::TestHello"),
            format!("{GREET}::TestHelloWrong")
        ]
    );
    let cov = run.coverage.as_ref().expect("coverage");
    let files: Vec<&str> = cov.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(files, ["services/api/greet/greet.go"]);
    // A pattern in no module is a named error, not an empty green run.
    // (`--format json` before `--`: after it, it would be go test's.)
    let none = p.cmd(&["run", "--format", "json", "--", "./docs/..."]);
    assert_ne!(none.code, 0, "{}", none.stderr);
    assert!(
        none.run()
            .errors
            .iter()
            .any(|e| e.kind == "build" && e.message.contains("./docs/...")),
        "{:?}",
        none.run().errors
    );
}

#[test]
fn coverage_of_every_module_is_one_report_with_paths_from_the_project_root() {
    let p = Project::new("go-modules");
    let out = p.run(&["--coverage"]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    let run = out.run();
    let cov = run.coverage.as_ref().expect("coverage");
    assert!(
        cov.frameworks
            .iter()
            .any(|f| f.framework == testflow::model::Framework::Go && f.status == "collected"),
        "{:?}",
        cov.frameworks
    );
    let mut files: Vec<&str> = cov.files.iter().map(|f| f.path.as_str()).collect();
    files.sort();
    assert_eq!(files, ["go/calc.go", "services/api/greet/greet.go"]);
}

#[test]
fn shards_split_the_packages_of_every_module() {
    let seen = ids_of_two_shards_of_one_package_each(&Project::new("go-modules"));
    assert_eq!(seen, go_modules_ids(), "together: every test once");
}

#[test]
fn a_go_work_runs_the_modules_it_uses_once_each() {
    let p = Project::new("go-workspace");
    let out = p.run(&[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = out.run();
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    // The root module imports the nested one through the go.work; the nested module's
    // test runs once (in its own module), the module the go.work does not use not at all.
    assert_eq!(
        run.ids(),
        [
            "example.com/ws/lib::TestTwice",
            "example.com/ws::TestQuadruple"
        ]
    );
    assert_eq!(
        run.test("example.com/ws/lib::TestTwice").file.as_deref(),
        Some("lib/lib_test.go")
    );
    assert!(
        out.stderr
            .contains("go: extra/go.mod is not used by go.work"),
        "{}",
        out.stderr
    );
}

/// go-modules with two more packages in the module below the root (services/api/): one
/// whose test binary dies in a goroutine's panic, one whose test never ends.
fn go_modules_with_a_crash_and_a_hang() -> Project {
    let p = Project::copy_of("go-modules");
    let api = p.dir.join("services/api");
    std::fs::create_dir_all(api.join("crashy")).unwrap();
    std::fs::create_dir_all(api.join("hangs")).unwrap();
    std::fs::write(
        api.join("crashy/crashy_test.go"),
        "package crashy\n\nimport (\n\t\"sync\"\n\t\"testing\"\n)\n\nfunc TestBefore(t *testing.T) {}\n\nfunc TestGoroutinePanic(t *testing.T) {\n\tvar wg sync.WaitGroup\n\twg.Add(1)\n\tgo func() {\n\t\tvar m map[string]int\n\t\tm[\"boom\"] = 1\n\t\twg.Done()\n\t}()\n\twg.Wait()\n}\n\nfunc TestAfter(t *testing.T) {}\n",
    )
    .unwrap();
    std::fs::write(
        api.join("hangs/hangs_test.go"),
        "package hangs\n\nimport (\n\t\"testing\"\n\t\"time\"\n)\n\nfunc TestQuick(t *testing.T) {}\n\nfunc TestHang(t *testing.T) {\n\ttime.Sleep(time.Hour)\n}\n",
    )
    .unwrap();
    p
}

#[test]
fn a_crash_and_a_hang_in_a_module_below_the_root_are_attributed_there() {
    let p = go_modules_with_a_crash_and_a_hang();
    let out = p.run(&["--test-timeout", crate::util::HANG_LIMIT]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    let run = out.run();
    let api = |id: &str| run.test(&format!("example.com/gomods/api/{id}"));
    assert_eq!(api("crashy::TestBefore").outcome, Outcome::Passed);
    // The place is relative to the project root, through the module's directory.
    crashed_on_a_nil_map(
        api("crashy::TestGoroutinePanic"),
        "services/api/crashy/crashy_test.go",
        15,
    );
    assert_eq!(api("hangs::TestQuick").outcome, Outcome::Passed);
    let h = api("hangs::TestHang");
    assert_eq!(h.outcome, Outcome::Timeout);
    assert_eq!(failure(h).category, Category::Timeout);
    assert_eq!(
        failure(h).location.as_ref().unwrap().file,
        "services/api/hangs/hangs_test.go"
    );
    // The test after the crash never ran: named, not a result.
    assert!(run.tests.iter().all(|t| !t.id.ends_with("TestAfter")));
    assert!(
        run.errors.iter().any(|e| e.kind == "not_run"
            && e.message
                .contains("example.com/gomods/api/crashy::TestAfter")
            && e.message.contains("died in TestGoroutinePanic")),
        "{:?}",
        run.errors
    );
    // The root's other module ran as ever.
    assert_eq!(
        run.test(&format!("{CALC}::TestAdd")).outcome,
        Outcome::Passed
    );
    assert_eq!(
        run.test(&format!("{GREET}::TestHelloWrong")).outcome,
        Outcome::Failed
    );
}

#[test]
fn the_watchdog_ends_a_hang_in_a_module_below_the_root() {
    let p = go_modules_with_a_crash_and_a_hang();
    let run = hang_ended_by_the_watchdog(
        &p,
        "./services/api/hangs/...",
        "example.com/gomods/api/hangs",
    );
    assert_eq!(
        run.ids(),
        [
            "example.com/gomods/api/hangs::TestHang",
            "example.com/gomods/api/hangs::TestQuick"
        ]
    );
}
