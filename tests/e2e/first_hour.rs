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
