//! History, shards and merging: the distributed path on one machine.

use std::collections::BTreeMap;
use std::process::Stdio;

use testflow::history::History;
use testflow::model::Run;

use crate::util::Project;

fn outcomes(run: &Run) -> BTreeMap<String, String> {
    run.tests
        .iter()
        .map(|t| (t.id.clone(), t.outcome.as_str().to_owned()))
        .collect()
}

#[test]
fn four_parallel_shards_merge_into_the_unsharded_run_and_history_stays_intact() {
    let p = Project::new("rust-basic").without_flaky_dir();
    let full = p.run(&["--test-timeout", crate::util::HANG_LIMIT]);
    assert_eq!(full.code, 100, "{}", full.stderr);
    let full = full.run();

    // Four shards at once, all writing their runs and the same history database.
    let children: Vec<_> = (1..=4)
        .map(|k| {
            p.command(&[
                "run",
                "--test-timeout",
                crate::util::HANG_LIMIT,
                "--shard",
                &format!("{k}/4"),
                "--format",
                "json",
                "-q",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let shards: Vec<Run> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
        })
        .collect();
    let mut seen = BTreeMap::new();
    for (i, s) in shards.iter().enumerate() {
        let info = s
            .shard
            .as_ref()
            .expect("a shard run says which shard it is");
        assert_eq!(
            (info.index, info.total, info.strategy.as_str()),
            (i as u32 + 1, 4, "timings")
        );
        for t in &s.tests {
            assert!(
                seen.insert(t.id.clone(), i).is_none(),
                "{} ran in two shards",
                t.id
            );
        }
    }
    assert_eq!(
        seen.len(),
        full.tests.len(),
        "every test ran in exactly one shard"
    );

    let out_dir = tempfile::tempdir().unwrap();
    let ids: Vec<&str> = shards.iter().map(|s| s.run_id.as_str()).collect();
    let mut args = vec!["merge"];
    args.extend(&ids);
    args.extend(["-o", out_dir.path().to_str().unwrap(), "--format", "json"]);
    let merged = p.cmd(&args);
    assert_eq!(merged.code, 100, "{}", merged.stderr);
    let merged = merged.run();
    assert_eq!(
        outcomes(merged),
        outcomes(full),
        "same tests, same outcomes"
    );
    assert!(merged.completed);
    assert!(
        merged
            .errors
            .iter()
            .all(|e| e.kind != "duplicate" && e.kind != "missing")
    );
    // Reports work on the merged run.
    let junit = p.cmd(&[
        "report",
        "--format",
        "junit",
        "--run",
        out_dir.path().to_str().unwrap(),
    ]);
    assert_eq!(junit.code, 0, "{}", junit.stderr);
    assert_eq!(junit.stdout.matches("<testcase ").count(), full.tests.len());
    assert_eq!(
        merged.shards.len(),
        4,
        "the merged run keeps each shard's totals"
    );
    let html = p.cmd(&[
        "report",
        "--format",
        "html",
        "--run",
        out_dir.path().to_str().unwrap(),
    ]);
    assert!(
        html.stdout.contains(r#""shards":[{"#),
        "the HTML report gets the per-shard breakdown"
    );

    let h = History::open(p.testflow_dir.path()).unwrap();
    assert!(h.integrity_ok().unwrap());
    assert_eq!(
        h.run_count().unwrap(),
        6,
        "the full run, four shards and the merge"
    );
}

#[test]
fn an_empty_shard_exits_0_with_a_clear_line() {
    let p = Project::new("rust-basic");
    // Two tests match `passes`: with the count strategy, shard 3 of 3 is empty.
    let out = p.run(&[
        "passes",
        "--shard",
        "3/3",
        "--shard-strategy",
        "count",
        "--no-doc",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("shard 3/3 has no tests to run"),
        "{}",
        out.stderr
    );
}

#[test]
fn history_import_last_failed_and_queries() {
    let p = Project::new("rust-basic").without_flaky_dir();
    let junit = p.testflow_dir.path().join("j.xml");
    let first = p.run(&[
        "--test-timeout",
        crate::util::HANG_LIMIT,
        "--no-doc",
        "--report",
        &format!("junit={}", junit.display()),
    ]);
    assert_eq!(first.code, 100);
    // --last-failed reruns exactly the failures of the previous run.
    let again = p.run(&[
        "--test-timeout",
        crate::util::HANG_LIMIT,
        "--no-doc",
        "--last-failed",
    ]);
    let failed_before: Vec<&str> = first.run().failed_tests().map(|t| t.id.as_str()).collect();
    let mut ran: Vec<&str> = again.run().tests.iter().map(|t| t.id.as_str()).collect();
    ran.sort();
    let mut want = failed_before.clone();
    want.sort();
    assert_eq!(ran, want);

    let imported = p.cmd(&[
        "history",
        "import",
        junit.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    let v: serde_json::Value = serde_json::from_str(&imported.stdout).unwrap();
    assert_eq!(v[0]["tests"], first.run().summary.total);
    let slow = p.cmd(&["history", "slowest", "--limit", "1", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&slow.stdout).unwrap();
    assert_eq!(
        v[0]["test_id"], "calc::integ$hangs",
        "the hang (killed at 3 s) is the slowest"
    );
    let t = p.cmd(&["history", "test", "calc$tests::passes", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&t.stdout).unwrap();
    assert_eq!(
        v.as_array().unwrap().len(),
        2,
        "the first run and the import (not --last-failed)"
    );

    let bad = p.cmd(&["history", "import", "Cargo.toml"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr
            .contains("Cargo.toml: neither JUnit XML nor a testflow run"),
        "{}",
        bad.stderr
    );
}

#[test]
fn shard_plan_json_lists_every_test_once() {
    let p = Project::new("rust-basic");
    let out = p.cmd(&["shard", "plan", "--shards", "3", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let mut all: Vec<String> = v["shards"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["tests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_owned())
        })
        .collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n);
    assert_eq!(n, 17, "16 tests and the doctests of calc as one item");
    assert_eq!(v["strategy"], "hash", "no history yet");
}

#[test]
fn order_failed_first_starts_last_runs_failures_before_the_others() {
    // One test at a time, one process each: the start times are the schedule.
    let p = Project::new("rust-basic").without_flaky_dir();
    let args = ["--no-doc", "--isolation", "process", "-j", "1", "tests::"];
    let first = p.run(&args);
    assert_eq!(first.code, 100, "{}", first.stderr);
    let failed: Vec<String> = first.run().failed_tests().map(|t| t.id.clone()).collect();
    assert!(!failed.is_empty() && failed.len() < first.run().tests.len());
    let again = p.run(&[&args[..], &["--order", "failed-first"]].concat());
    let mut started: Vec<(chrono::DateTime<chrono::Utc>, &str)> = again
        .run()
        .tests
        .iter()
        .filter_map(|t| Some((t.attempts.first()?.started_at?, t.id.as_str())))
        .collect();
    started.sort();
    let order: Vec<bool> = started
        .iter()
        .map(|(_, id)| failed.iter().any(|f| f == id))
        .collect();
    let n = failed.len();
    assert_eq!(
        order,
        [vec![true; n], vec![false; order.len() - n]].concat(),
        "last run's failures first: {started:?}"
    );
}
