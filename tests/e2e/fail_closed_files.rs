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
    assert!(merged.stderr.contains("warning: calc::integ$flaky_first_attempt: shards disagree"));

    let gate = passing.cmd(&["gate", "--run", out_dir.path().to_str().unwrap()]);
    assert_eq!(gate.code, 1, "{}{}", gate.stdout, gate.stderr);
    assert!(gate.stdout.contains("merge_conflict"), "{}", gate.stdout);
}
