//! Quarantine and flakiness across runs: quarantined failures still run and are reported
//! apart but do not fail the run or the gates; an expired entry fails the gate;
//! `quarantine add|remove|list` edit testflow.toml keeping its comments; `history flaky`
//! finds a test that passed and failed on one git tree, and `--quarantine-flaky` uses it.

use crate::util::{Project, RunExt};

const A: &str = "iterme$tests::a_is_one";
const B: &str = "iterme$tests::b_is_one";
const C: &str = "iterme$tests::c_is_one";

const ORIGINAL: &str =
    "# Settings for the iterate fixture; keep this comment.\n[run]\njobs = 2 # two is plenty\n";

#[test]
fn quarantined_failures_are_reported_apart_and_do_not_fail_the_run() {
    let p = Project::copy_of("rust-iterate");
    let toml = p.dir.join("testflow.toml");
    std::fs::write(&toml, ORIGINAL).unwrap();

    // Without a quarantine the two failing tests fail the run.
    let out = p.run(&[]);
    assert_eq!(out.code, 100, "{}", out.stderr);

    let add = p.cmd(&[
        "quarantine",
        "add",
        A,
        "--reason",
        "A is being reworked",
        "--until",
        "2099-12-31",
    ]);
    assert_eq!(add.code, 0, "{}", add.stderr);
    let add = p.cmd(&[
        "quarantine",
        "add",
        "--pattern",
        "iterme$*::b_is_?ne",
        "--reason",
        "B waits for #17",
    ]);
    assert_eq!(add.code, 0, "{}", add.stderr);
    let text = std::fs::read_to_string(&toml).unwrap();
    assert!(
        text.starts_with(ORIGINAL),
        "comments and formatting kept:\n{text}"
    );

    let list = p.cmd(&["quarantine", "list", "--format", "json"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let entries: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(entries[0]["id"], A);
    assert_eq!(entries[0]["until"], "2099-12-31");
    assert_eq!(entries[0]["expired"], false);
    assert_eq!(entries[1]["pattern"], "iterme$*::b_is_?ne");

    let out = p.run(&[
        "--report",
        "junit=out/junit.xml",
        "--report",
        "markdown=out/r.md",
    ]);
    assert_eq!(
        out.code, 0,
        "quarantined failures do not fail the run: {}",
        out.stderr
    );
    let run = out.run();
    // Still failed, never counted as passed.
    assert_eq!(run.test(A).outcome, testflow::model::Outcome::Failed);
    assert_eq!((run.summary.failed, run.summary.passed), (2, 1));
    let q = run
        .quarantine
        .as_ref()
        .expect("the run records its quarantine");
    let held: Vec<(&str, &str)> = q
        .tests
        .iter()
        .map(|t| (t.id.as_str(), t.reason.as_str()))
        .collect();
    assert_eq!(held, [(A, "A is being reworked"), (B, "B waits for #17")]);
    assert!(!held.iter().any(|(id, _)| *id == C));
    assert!(
        out.stderr.contains("2 quarantined (not counted):"),
        "{}",
        out.stderr
    );
    // run.json says the same.
    let stored: testflow::model::Run = serde_json::from_str(
        &std::fs::read_to_string(p.runs_dir().join(&run.run_id).join("run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(stored.quarantine, run.quarantine);
    let junit = std::fs::read_to_string(p.dir.join("out/junit.xml")).unwrap();
    assert!(junit.contains("testflow.quarantined"), "{junit}");
    assert!(
        junit.contains("<failure"),
        "the failures stay failures: {junit}"
    );
    let md = std::fs::read_to_string(p.dir.join("out/r.md")).unwrap();
    assert!(md.contains("Quarantined"), "{md}");
    assert!(md.contains("A is being reworked"), "{md}");

    // The gate reads the quarantine from the run.
    let gate = p.cmd(&["gate", "--format", "json"]);
    assert_eq!(gate.code, 0, "{}", gate.stdout);
    let g: serde_json::Value = serde_json::from_str(&gate.stdout).unwrap();
    let qg = g["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["gate"] == "quarantine")
        .expect("a run with a quarantine gets the quarantine gate");
    assert_eq!(qg["status"], "pass");

    // A run error is never excused: a quarantine that holds every failure cannot make a
    // run whose build fails green.
    std::fs::write(p.dir.join("src/lib.rs"), "this does not compile").unwrap();
    let out = p.run(&[]);
    assert_eq!(out.code, 101, "{}", out.stderr);
    crate::util::git(&p.dir, &["checkout", "src/lib.rs"]);

    // Remove both: the file is what it was.
    for target in [A, "iterme$*::b_is_?ne"] {
        let r = p.cmd(&["quarantine", "remove", target]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    assert_eq!(std::fs::read_to_string(&toml).unwrap(), ORIGINAL);
    let r = p.cmd(&["quarantine", "remove", A]);
    assert_eq!(r.code, 5, "nothing to remove: {}", r.stderr);
    let list = p.cmd(&["quarantine", "list", "--format", "json"]);
    assert_eq!(list.stdout.trim(), "[]");
}

#[test]
fn an_expired_entry_fails_the_gate_naming_the_entry_and_date() {
    let p = Project::copy_of("rust-iterate");
    std::fs::write(
        p.dir.join("testflow.toml"),
        format!(
            "[[quarantine]]\nid = \"{A}\"\nreason = \"old\"\nuntil = \"2020-01-31\"\n\n[[quarantine]]\nid = \"{B}\"\nreason = \"current\"\n"
        ),
    )
    .unwrap();
    let out = p.run(&[]);
    // A's entry has expired: A counts again.
    assert_eq!(out.code, 100, "{}", out.stderr);
    let q = out.run().quarantine.as_ref().unwrap();
    assert_eq!(
        q.tests.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        [B]
    );
    assert!(q.entries[0].expired);
    assert!(
        out.stderr.contains("expired on 2020-01-31"),
        "{}",
        out.stderr
    );

    let gate = p.cmd(&["gate"]);
    assert_eq!(gate.code, 3, "{}", gate.stdout);
    assert!(
        gate.stdout
            .contains(&format!("`{A}` expired on 2020-01-31")),
        "{}",
        gate.stdout
    );

    // Only the expired entry left, on a run where its test passes: the tests pass, the
    // gate still fails.
    std::fs::write(
        p.dir.join("testflow.toml"),
        format!("[[quarantine]]\nid = \"{C}\"\nreason = \"old\"\nuntil = \"2020-01-31\"\n"),
    )
    .unwrap();
    let out = p.run(&["c_is_one"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let gate = p.cmd(&["gate", "--format", "json"]);
    assert_eq!(gate.code, 3, "{}", gate.stdout);
    assert!(
        gate.stdout.contains("expired on 2020-01-31"),
        "{}",
        gate.stdout
    );
}

#[test]
fn bad_entries_are_usage_errors_naming_file_line_and_entry() {
    let p = Project::copy_of("rust-iterate");
    let toml = p.dir.join("testflow.toml");
    let cases = [
        (
            "[run]\njobs = 1\n\n[[quarantine]]\nid = \"x\"\n",
            ":4: quarantine entry 1 (id \"x\"): missing `reason`",
        ),
        (
            "[[quarantine]]\nid = \"x\"\nreason = \"r\"\n[[quarantine]]\npattern = \"y*\"\nreason = \"r\"\nuntil = \"2026-02-30\"\n",
            ":4: quarantine entry 2 (pattern \"y*\"): `until` = \"2026-02-30\": `2026-02-30` is not a date: write YYYY-MM-DD",
        ),
        (
            "[[quarantine]]\nid = \"x\"\nreason = \"r\"\nexpires = \"2026-01-01\"\n",
            ":4:1: unknown field `expires`",
        ),
    ];
    for (text, want) in cases {
        std::fs::write(&toml, text).unwrap();
        let out = p.run(&[]);
        assert_eq!(out.code, 2, "{text}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("{}{want}", toml.display())),
            "{text}: {}",
            out.stderr
        );
    }
    std::fs::remove_file(&toml).unwrap();
    let bad = p.cmd(&[
        "quarantine",
        "add",
        A,
        "--reason",
        "r",
        "--until",
        "31.12.2026",
    ]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("is not a date"), "{}", bad.stderr);
    assert!(!toml.exists(), "nothing written");
}

const FLAKY: &str = "calc::integ$flaky_first_attempt";

fn flaky_rows(p: &Project) -> Vec<serde_json::Value> {
    let out = p.cmd(&["history", "flaky", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn a_test_that_passes_and_fails_on_one_tree_is_flaky_and_can_be_quarantined() {
    let p = Project::copy_of("rust-basic");
    let fresh = || tempfile::tempdir().unwrap();
    // flaky_first_attempt fails while its FLAKY_DIR has no marker, then passes.
    let d1 = fresh();
    let first = p.run_env(
        &["flaky_first_attempt", "--no-doc"],
        &[("FLAKY_DIR", d1.path())],
    );
    assert_eq!(first.code, 100, "{}", first.stderr);
    let tree = std::process::Command::new("git")
        .args(["rev-parse", "HEAD^{tree}"])
        .current_dir(&p.dir)
        .output()
        .unwrap();
    let head_tree = String::from_utf8(tree.stdout).unwrap().trim().to_owned();
    let env1 = &first.run().environment;
    assert_eq!(
        env1.git_tree.as_deref(),
        Some(head_tree.as_str()),
        "a clean checkout"
    );

    // A different tree (an untracked file, same commit): pass then fail is not flaky.
    std::fs::write(p.dir.join("notes.txt"), "scratch\n").unwrap();
    let second = p.run_env(
        &["flaky_first_attempt", "--no-doc"],
        &[("FLAKY_DIR", d1.path())],
    );
    assert_eq!(second.code, 0, "{}", second.stderr);
    let env2 = &second.run().environment;
    assert_eq!(env2.git_commit, env1.git_commit);
    assert_ne!(
        env2.git_tree, env1.git_tree,
        "a dirty tree has its own hash"
    );
    assert!(flaky_rows(&p).is_empty(), "{:?}", flaky_rows(&p));

    // The same tree again, failing: flaky.
    let d2 = fresh();
    let third = p.run_env(
        &["flaky_first_attempt", "--no-doc"],
        &[("FLAKY_DIR", d2.path())],
    );
    assert_eq!(third.code, 100, "{}", third.stderr);
    assert_eq!(third.run().environment.git_tree, env2.git_tree);
    let rows = flaky_rows(&p);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["test_id"], FLAKY);
    assert_eq!(rows[0]["flipped_trees"], 1);
    assert_eq!(rows[0]["tree_failures"], 1);
    assert_eq!(rows[0]["tree_results"], 2);
    assert_eq!(rows[0]["tree_rate"], 0.5);
    assert_eq!(
        rows[0]["last_seen"],
        third.run().started_at.to_rfc3339().as_str(),
        "the newest run on the flipped tree"
    );
    let human = p.cmd(&["history", "flaky"]);
    assert!(human.stdout.contains("50.0%"), "{}", human.stdout);
    assert!(human.stdout.contains("last seen"), "{}", human.stdout);

    // --quarantine-flaky: it fails again, but is quarantined for this run, and says so.
    let d3 = fresh();
    let out = p.run_env(
        &["flaky_first_attempt", "--no-doc", "--quarantine-flaky"],
        &[("FLAKY_DIR", d3.path())],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let q = out.run().quarantine.as_ref().unwrap();
    assert_eq!(q.tests[0].id, FLAKY);
    assert_eq!(q.tests[0].origin, "flaky");
    assert!(
        out.stderr
            .contains("--quarantine-flaky: 1 test flaky across runs above 0.0%"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("[--quarantine-flaky]"),
        "{}",
        out.stderr
    );

    // Above its rate (now 2 of 3 failures, 66.7%) only: 90% quarantines nothing.
    let d4 = fresh();
    let out = p.run_env(
        &["flaky_first_attempt", "--no-doc", "--quarantine-flaky=90%"],
        &[("FLAKY_DIR", d4.path())],
    );
    assert_eq!(out.code, 100, "{}", out.stderr);
    assert!(out.run().quarantine.is_none());
    // Without the flag nothing is quarantined.
    let d5 = fresh();
    let out = p.run_env(
        &["flaky_first_attempt", "--no-doc"],
        &[("FLAKY_DIR", d5.path())],
    );
    assert_eq!(out.code, 100, "opt-in only: {}", out.stderr);
}
