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
    assert_eq!(gate.code, 3, "{}", gate.stderr);
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

/// `cargo testflow ARGS…` started in `sub` of a copied fixture, recording under the
/// project's own `.testflow/` (no `TESTFLOW_DIR`).
fn in_subdir(p: &Project, sub: &str, args: &[&str]) -> crate::util::Output {
    let mut cmd = p.command(args);
    cmd.current_dir(p.dir.join(sub))
        .env_remove("TESTFLOW_DIR")
        .env_remove("VIRTUAL_ENV");
    let out = cmd.output().expect("run cargo-testflow");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    crate::util::Output {
        code: out.status.code().unwrap_or(-1),
        run: serde_json::from_str(&stdout).ok(),
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every `.testflow` directory under `dir`.
fn state_dirs(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let path = e.path();
        if e.file_name() == ".testflow" {
            found.push(path);
        } else if e.file_type().unwrap().is_dir() && e.file_name() != "target" {
            found.extend(state_dirs(&path));
        }
    }
    found
}

#[test]
fn a_run_from_a_subdirectory_records_at_the_cargo_workspace_root() {
    let p = Project::copy_of("rust-basic");
    let out = in_subdir(
        &p,
        "crates/calc/tests",
        &["run", "--no-doc", "tests::passes", "--format", "json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.run().ids(), ["calc$tests::passes"]);
    assert_eq!(state_dirs(&p.dir), [p.dir.join(".testflow")]);
    // Readers in the subdirectory read the same store, and create none.
    let show = in_subdir(&p, "crates/calc", &["show", "calc$tests::passes"]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(show.stdout.contains("passed"), "{}", show.stdout);
    assert_eq!(state_dirs(&p.dir), [p.dir.join(".testflow")]);
}

#[test]
fn a_pytest_run_from_tests_uses_the_project_root_and_its_virtualenv() {
    let p = Project::copy_of("pytest-basic");
    // The project's virtualenv: a Python that says who it is, then is python3.
    let python = p.dir.join(".venv/bin/python");
    std::fs::create_dir_all(python.parent().unwrap()).unwrap();
    std::fs::write(&python, "#!/bin/sh\nexec python3 \"$@\"\n").unwrap();
    let mut perms = std::fs::metadata(&python).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&python, perms).unwrap();
    let out = in_subdir(&p, "tests", &["run", "--format", "json"]);
    // The run is the project's: recorded at its root, with its virtualenv's Python
    // (which has no testflow plugin here, so the suite cannot start: exit 101).
    assert_eq!(
        state_dirs(&p.dir),
        [p.dir.join(".testflow")],
        "{}",
        out.stderr
    );
    let run = out.run();
    assert_eq!(
        run.project_root.as_deref(),
        Some(p.dir.to_str().unwrap()),
        "{}",
        out.stderr
    );
    if out.code == 101 {
        let message = &run.errors[0].message;
        assert!(message.contains(python.to_str().unwrap()), "{message}");
    } else {
        // A machine whose python3 has the plugin: the run finds the project's tests.
        assert!(!run.tests.is_empty(), "{}", out.stderr);
    }
}
