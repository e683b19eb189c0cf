//! The default isolation is one process per test binary, as `cargo test` runs it: a suite
//! written for `cargo test` that names its temp dirs with a process-local counter
//! (rust-temp-race) passes under the default, and fails only under `--isolation process`,
//! where every process restarts the counter.

use crate::util::{Project, RunExt};

const IDS: [&str; 4] = [
    "temp-race$tests::alpha",
    "temp-race$tests::beta",
    "temp-race$tests::delta",
    "temp-race$tests::gamma",
];

fn outcomes(run: &testflow::model::Run) -> Vec<(&str, &str)> {
    let mut o: Vec<(&str, &str)> = run
        .tests
        .iter()
        .map(|t| (t.id.as_str(), t.outcome.as_str()))
        .collect();
    o.sort();
    o
}

#[test]
fn a_suite_sharing_a_process_local_counter_passes_under_the_default() {
    let p = Project::new("rust-temp-race");
    let out = p.run(&["-j", "2"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = out.run();
    assert_eq!(outcomes(run), IDS.map(|id| (id, "passed")).to_vec());
    assert!(run.errors.is_empty(), "{:?}", run.errors);
}

/// Under `--isolation process` the first test (one at a time, in cargo's order) takes
/// `scratch-0` and the others find it taken; `analyze` compares with the earlier default
/// run, where they passed, and calls them interference.
#[test]
fn the_same_suite_fails_one_process_per_test_and_analyze_names_interference() {
    let p = Project::new("rust-temp-race");
    let first = p.run(&["-j", "2"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let base = first.run();
    assert_eq!(
        base.environment.rust_isolation.as_ref().map(|i| i.as_str()),
        Some("binary")
    );
    let out = p.run(&["--isolation", "process", "-j", "1"]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    let run = out.run();
    assert_eq!(
        run.environment.rust_isolation.as_ref().map(|i| i.as_str()),
        Some("process")
    );
    assert_eq!(
        outcomes(run),
        vec![
            (IDS[0], "passed"),
            (IDS[1], "failed"),
            (IDS[2], "failed"),
            (IDS[3], "failed"),
        ]
    );
    for id in &IDS[1..] {
        let f = crate::util::failure(run.test(id));
        assert!(
            f.message.contains("scratch-0: File exists"),
            "{id}: {}",
            f.message
        );
    }
    let json = p.cmd(&["analyze", "--format", "json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let a: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    let named: Vec<(&str, &str, &str)> = a["isolation"]
        .as_array()
        .expect("isolation-dependent tests")
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap(),
                t["verdict"].as_str().unwrap(),
                t["passed_in"].as_str().unwrap(),
            )
        })
        .collect();
    let mut failed: Vec<&str> = IDS[1..].to_vec();
    failed.sort();
    let mut got: Vec<&str> = named.iter().map(|n| n.0).collect();
    got.sort();
    assert_eq!(got, failed);
    assert!(
        named
            .iter()
            .all(|n| n.1 == "interference" && n.2 == base.run_id),
        "{named:?}"
    );
    let human = p.cmd(&["analyze"]);
    assert!(
        human
            .stdout
            .contains("Fail only one process per test (3 tests):"),
        "{}",
        human.stdout
    );
}

/// `[[isolation]]` in testflow.toml picks the mode per package or test pattern, and
/// `--isolation` on the command line wins over it.
#[test]
fn isolation_rules_in_the_config_pick_the_mode_and_the_command_line_wins() {
    let mut p = Project::copy_of("rust-temp-race");
    p.no_flaky_dir = false; // the fixture's scratch root
    let config = p.dir.join("testflow.toml");
    std::fs::write(
        &config,
        "[[isolation]]\npackage = \"temp-race\"\nmode = \"process\"\n",
    )
    .unwrap();
    let out = p.run(&["-j", "1"]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    assert_eq!(
        out.run()
            .environment
            .rust_isolation
            .as_ref()
            .map(|i| i.as_str()),
        Some("process")
    );
    assert_eq!(out.run().summary.failed, 3);
    let out = p.run(&["--isolation", "binary", "-j", "1"]);
    assert_eq!(out.code, 0, "the command line wins: {}", out.stderr);
    assert_eq!(
        out.run()
            .environment
            .rust_isolation
            .as_ref()
            .map(|i| i.as_str()),
        Some("binary")
    );
    // A test pattern: `gamma` alone in its own process, after the others ran in one
    // process (-j 1 runs the binary first) and took scratch-0..2.
    std::fs::write(
        &config,
        "[[isolation]]\ntests = \"::gamma\"\nmode = \"process\"\n",
    )
    .unwrap();
    let out = p.run(&["-j", "1"]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    let run = out.run();
    assert_eq!(
        run.environment.rust_isolation.as_ref().map(|i| i.as_str()),
        Some("mixed")
    );
    assert_eq!(
        outcomes(run),
        vec![
            (IDS[0], "passed"),
            (IDS[1], "passed"),
            (IDS[2], "passed"),
            (IDS[3], "failed"),
        ]
    );
    // A rule that names no tests is refused at the door, with its file and line.
    std::fs::write(&config, "[[isolation]]\nmode = \"process\"\n").unwrap();
    let out = p.run(&[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("testflow.toml:1: [[isolation]] rule 1: an [[isolation]] rule needs"),
        "{}",
        out.stderr
    );
}
