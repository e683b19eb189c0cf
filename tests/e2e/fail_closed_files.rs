//! Fail closed on files: merging shards that disagree, reports of distrusted runs, and
//! hostile files (`tests/fixtures/fail-closed/files/`, see its `EXPECTED.md`).

use std::path::PathBuf;

use testflow::model::{Outcome, Run};

use crate::util::{Project, RunExt, repo_root};

const FLAKY: &str = "calc::integ$flaky_first_attempt";

fn hostile(name: &str) -> PathBuf {
    repo_root()
        .join("tests/fixtures/fail-closed/files")
        .join(name)
}

/// Two real runs of one test, one failing and one passing, merged as two shards: the
/// failure wins, both attempts are kept, and merge and gate fail.
#[test]
fn merge_of_shards_that_disagree_keeps_the_failure_and_fails() {
    // With FLAKY_DIR set the first attempt fails; without it the test passes.
    let failing = Project::new("rust-basic");
    let out = failing.run(&["flaky_first_attempt", "--no-doc"]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    assert_eq!(out.run().test(FLAKY).outcome, Outcome::Failed);
    let passing = Project::new("rust-basic").without_flaky_dir();
    let out = passing.run(&["flaky_first_attempt", "--no-doc"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.run().test(FLAKY).outcome, Outcome::Passed);

    let pass_dir = passing.the_run_dir();
    let fail_dir = failing.the_run_dir();
    let out_dir = tempfile::tempdir().unwrap();
    let merged = passing.cmd(&[
        "merge",
        pass_dir.to_str().unwrap(),
        fail_dir.to_str().unwrap(),
        "-o",
        out_dir.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(merged.code, 100, "{}", merged.stderr);
    let run = merged.run();
    let t = run.test(FLAKY);
    assert_eq!(t.outcome, Outcome::Failed);
    assert!(!t.flaky);
    let attempts: Vec<Outcome> = t.attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(attempts, [Outcome::Passed, Outcome::Failed]);
    assert_eq!(run.summary.failed, 1);
    let conflict = run
        .errors
        .iter()
        .find(|e| e.kind == "merge_conflict")
        .unwrap_or_else(|| panic!("no merge_conflict in {:?}", run.errors));
    assert_eq!(
        conflict.message,
        format!(
            "{FLAKY}: shards disagree ({} says passed, {} says failed); kept failed, the worst, with every shard's attempts",
            pass_dir.display(),
            fail_dir.display()
        )
    );
    assert!(
        merged
            .stderr
            .contains("warning: calc::integ$flaky_first_attempt: shards disagree")
    );

    let gate = passing.cmd(&["gate", "--run", out_dir.path().to_str().unwrap()]);
    assert_eq!(gate.code, 3, "{}{}", gate.stdout, gate.stderr);
    assert!(gate.stdout.contains("merge_conflict"), "{}", gate.stdout);
}

/// JUnit `time` values that are no duration are an error naming the file and line.
#[test]
fn junit_import_of_a_time_that_is_no_duration_names_the_file_and_line() {
    let p = Project::new("rust-basic");
    for (file, value) in [
        ("junit-time-1e13.xml", "1e13"),
        ("junit-time-negative.xml", "-1"),
        ("junit-time-nan.xml", "NaN"),
        ("junit-time-inf.xml", "inf"),
    ] {
        let path = hostile(file);
        let out = p.cmd(&["history", "import", path.to_str().unwrap()]);
        assert_eq!(out.code, 1, "{file}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!(
                "{}:5: testcase `slow` has time=\"{value}\": expected a number of seconds from 0 to 31622400",
                path.display()
            )),
            "{file}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
}

/// Durations nobody could have measured are clamped in every report, never a panic.
#[test]
fn reports_of_runs_with_impossible_durations_clamp() {
    let p = Project::new("rust-basic");
    for file in [
        "run-huge-duration.json",
        "run-negative-duration.json",
        "run-null-duration.json",
    ] {
        let path = hostile(file);
        for format in ["junit", "json", "ctrf", "markdown", "html"] {
            let out = p.cmd(&[
                "report",
                "--format",
                format,
                "--run",
                path.to_str().unwrap(),
            ]);
            assert_eq!(out.code, 0, "{file} {format}: {}", out.stderr);
        }
        let junit = p.cmd(&[
            "report",
            "--format",
            "junit",
            "--run",
            path.to_str().unwrap(),
        ]);
        for t in junit.stdout.split("time=\"").skip(1) {
            let secs: f64 = t.split('"').next().unwrap().parse().unwrap();
            assert!(secs.is_finite() && secs >= 0.0, "{file}: time={secs}");
        }
    }
}

/// `gate --run FILE` recounts from the tests: a summary that lies, or that overflows
/// (skipped > total), fails the gate closed.
#[test]
fn gate_on_a_run_json_whose_summary_lies_fails_closed() {
    let p = Project::new("rust-basic");
    for (file, stored, recorded) in [
        (
            "run-summary-skipped-overflow.json",
            "2 tests, 0 failing",
            "2 tests recorded (1 failing)",
        ),
        (
            "run-summary-lies.json",
            "2 tests, 0 failing",
            "2 tests recorded (1 failing)",
        ),
        (
            "run-summary-overcounts.json",
            "1000 tests, 0 failing",
            "2 tests recorded (0 failing)",
        ),
    ] {
        let path = hostile(file);
        let out = p.cmd(&["gate", "--run", path.to_str().unwrap()]);
        assert_eq!(out.code, 3, "{file}: {}{}", out.stdout, out.stderr);
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with("no_run_errors"))
            .unwrap_or_else(|| panic!("{file}: {}", out.stdout));
        assert!(line.contains("FAIL"), "{file}: {line}");
        assert!(
            line.contains(&format!(
                "summary_mismatch: the stored summary ({stored}) does not match the {recorded}"
            )),
            "{file}: {line}"
        );
        assert!(out.stdout.contains("gates FAILED"), "{}", out.stdout);
        let md = p.cmd(&[
            "report",
            "--format",
            "markdown",
            "--run",
            path.to_str().unwrap(),
        ]);
        assert!(
            md.stdout.starts_with("## ❌ testflow: "),
            "{file}: {}",
            md.stdout
        );
        let json = p.report_json(path.to_str().unwrap());
        let run: &Run = json.run();
        assert_eq!(
            run.summary,
            run.recomputed_summary(),
            "the JSON report recounts"
        );
        assert!(run.errors.iter().any(|e| e.kind == "summary_mismatch"));
    }
}

/// A coverage path longer than a format width (65,535) prints, unpadded.
#[test]
fn coverage_report_of_a_path_longer_than_64_kib() {
    let p = Project::new("rust-basic");
    let dir = tempfile::tempdir().unwrap();
    let long = format!("src/{}.rs", "a".repeat(70_000));
    let lcov = dir.path().join("long.lcov");
    std::fs::write(
        &lcov,
        format!("TN:\nSF:{long}\nDA:1,1\nDA:2,0\nLF:2\nLH:1\nend_of_record\n"),
    )
    .unwrap();
    let out = p.cmd(&["coverage", "report", lcov.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(&long));
    assert!(out.stdout.contains("TOTAL"));
}
