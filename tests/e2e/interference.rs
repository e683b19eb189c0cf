//! Tests that fail only when they run alongside each other (rust-interfere): the failing
//! attempts ran with others, the retries ran alone and passed, and `analyze` says so.

use crate::util::Project;

const IDS: [&str; 2] = ["interfere$tests::writer_a", "interfere$tests::writer_b"];

#[test]
fn tests_that_fail_only_alongside_others_are_called_interfering() {
    let p = Project::new("rust-interfere");
    let out = p.run(&["--isolation", "binary", "-j", "2", "--retries", "1"]);
    assert_eq!(out.code, 0, "flaky, so passed: {}", out.stderr);
    let run = out.run();
    for id in IDS {
        let t = run.tests.iter().find(|t| t.id == id).expect(id);
        let attempts: Vec<(&str, Option<bool>)> = t
            .attempts
            .iter()
            .map(|a| (a.outcome.as_str(), a.concurrent))
            .collect();
        assert_eq!(
            attempts,
            vec![("failed", Some(true)), ("passed", Some(false))],
            "{id}: failed together, passed alone"
        );
        assert!(t.flaky, "{id}");
    }
    let json = p.cmd(&["analyze", "--format", "json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let a: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    let verdicts: Vec<(&str, &str)> = a["flaky"]
        .as_array()
        .expect("flaky tests")
        .iter()
        .map(|f| (f["id"].as_str().unwrap(), f["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(
        verdicts,
        vec![(IDS[0], "interference"), (IDS[1], "interference")]
    );
    let human = p.cmd(&["analyze"]);
    assert!(
        human
            .stdout
            .contains("Fails only when run alongside others"),
        "{}",
        human.stdout
    );
}

#[test]
fn run_one_at_a_time_they_pass() {
    let p = Project::new("rust-interfere");
    let out = p.run(&["--isolation", "binary", "-j", "1"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let concurrent: Vec<Option<bool>> = out
        .run()
        .tests
        .iter()
        .map(|t| t.attempts[0].concurrent)
        .collect();
    assert_eq!(concurrent, vec![Some(false), Some(false)]);
}
