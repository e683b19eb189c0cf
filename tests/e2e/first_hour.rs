//! Issue 13, "the first hour": which run `latest` is, commands that find nothing say
//! so, `show`, and running from a subdirectory.

use crate::util::{Project, RunExt};

/// Two unit tests of rust-basic: one passes, one fails (`boom 42`).
const TWO: [&str; 3] = ["--no-doc", "tests::fails_panic", "tests::passes"];
const FAILING: &str = "calc$tests::fails_panic";

#[test]
fn a_run_that_matched_nothing_does_not_hide_the_last_real_run() {
    let p = Project::new("rust-basic");
    let real = p.run(&TWO);
    assert_eq!(real.code, 100, "{}", real.stderr);
    let real_id = real.run().run_id.clone();
    assert_eq!(
        real.run().ids(),
        ["calc$tests::fails_panic", "calc$tests::passes"]
    );
    let empty = p.run(&["--no-doc", "no_test_is_called_this"]);
    assert_eq!(empty.code, 4, "{}", empty.stderr);
    assert_eq!(p.run_dirs().len(), 2, "the empty run is recorded");
    let empty_id = empty.run().run_id.clone();

    let analyzed = p.cmd(&["analyze", "--format", "json"]);
    assert_eq!(analyzed.code, 0, "{}", analyzed.stderr);
    let v: serde_json::Value = serde_json::from_str(&analyzed.stdout).unwrap();
    assert_eq!(v["run_id"], real_id.as_str());
    assert_eq!(v["failures"], 1);
    assert!(
        analyzed
            .stderr
            .contains(&format!("reading run {real_id} (")),
        "{}",
        analyzed.stderr
    );
    assert!(
        analyzed.stderr.contains(", 2 tests)"),
        "{}",
        analyzed.stderr
    );

    let report = p.report_json("latest");
    assert_eq!(report.run().run_id, real_id, "{}", report.stderr);
    assert!(
        report
            .stderr
            .contains(&format!("newer run {empty_id} ran no tests")),
        "{}",
        report.stderr
    );
    // A verdict never passes over a newer run for an older one.
    let gate = p.cmd(&["gate"]);
    assert_eq!(gate.code, 1, "{}", gate.stderr);
    assert!(
        gate.stderr.contains(&format!("reading run {empty_id} (")),
        "{}",
        gate.stderr
    );
    // The empty run is still there by its id, and in the history.
    assert_eq!(p.report_json(&empty_id).run().run_id, empty_id);
    let trend = p.cmd(&["history", "trend", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&trend.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");

    let again = p.run(&["--no-doc", "--last-failed"]);
    assert_eq!(again.run().ids(), [FAILING], "{}", again.stderr);
    assert!(
        again.stderr.contains(&format!("reading run {real_id} (")),
        "{}",
        again.stderr
    );

    let plan = p.cmd(&[
        "shard", "plan", "--shards", "2", "--no-doc", "--format", "json",
    ]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let v: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    // The newest run with tests is now the --last-failed one.
    assert_eq!(v["run_id"], again.run().run_id.as_str(), "{}", plan.stderr);
}

#[test]
fn show_prints_one_tests_last_result_in_full() {
    let p = Project::new("rust-basic");
    let real = p.run(&TWO);
    let run = real.run();
    let out = p.cmd(&["show", FAILING]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for want in [
        FAILING,
        "failed",
        "boom 42",
        "location: crates/calc/src/lib.rs:47:9",
        run.run_id.as_str(),
        "attempts: 1",
    ] {
        assert!(out.stdout.contains(want), "{want}:\n{}", out.stdout);
    }
    assert!(
        out.stderr
            .contains(&format!("reading run {} (", run.run_id))
    );

    let json = p.cmd(&["show", FAILING, "--format", "json", "--run", &run.run_id]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let t: testflow::model::TestCase = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(&t, run.test(FAILING));
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["run_id"], run.run_id.as_str());

    // The id as a shell leaves it when `$tests` is not quoted.
    let out = p.cmd(&["show", "calc::fails_panic"]);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("did you mean 'calc$tests::fails_panic'?"),
        "{}",
        out.stderr
    );
    // A part of the name.
    let out = p.cmd(&["show", "fails_pan"]);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("'calc$tests::fails_panic'"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn lookups_that_find_nothing_say_so_and_readers_create_nothing() {
    let p = Project::new("rust-basic");
    let state = p.testflow_dir.path();
    for args in [
        &["history", "flaky"][..],
        &["history", "test", FAILING],
        &["analyze"],
        &["show", FAILING],
        &["report", "--format", "json"],
    ] {
        let out = p.cmd(args);
        assert_eq!(out.code, 5, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr
                .contains(&format!("no runs recorded yet in {}", state.display())),
            "{args:?}: {}",
            out.stderr
        );
    }
    let left: Vec<_> = std::fs::read_dir(state).unwrap().collect();
    assert!(left.is_empty(), "readers wrote {left:?}");

    p.run(&TWO);
    let none = p.cmd(&["history", "flaky"]);
    assert_eq!(none.code, 0, "{}", none.stderr);
    assert!(
        none.stderr
            .contains("no flaky tests in the 1 runs recorded"),
        "{}",
        none.stderr
    );
    let unquoted = p.cmd(&["history", "test", "calc::fails_panic"]);
    assert_eq!(unquoted.code, 5, "{}", unquoted.stderr);
    assert!(
        unquoted
            .stderr
            .contains("did you mean 'calc$tests::fails_panic'?"),
        "{}",
        unquoted.stderr
    );
    let partial = p.cmd(&["history", "test", "passes", "--format", "json"]);
    assert_eq!(partial.code, 5, "{}", partial.stderr);
    assert!(
        partial.stderr.contains("'calc$tests::passes'"),
        "{}",
        partial.stderr
    );
    let found = p.cmd(&["history", "test", FAILING, "--format", "json"]);
    assert_eq!(found.code, 0, "{}", found.stderr);
}
