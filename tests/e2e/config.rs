//! `testflow.toml`: defaults from the file, command line and environment over it, and
//! errors that name the file, the line and the key.

use crate::util::Project;

#[test]
fn the_file_sets_reports_and_gates_and_the_command_line_wins() {
    let p = Project::copy_of("rust-iterate");
    std::fs::write(
        p.dir.join("testflow.toml"),
        "[run]\nreports = [\"json=out/from-file.json\"]\n\n[gates]\nmin_tests = 2\n",
    )
    .unwrap();
    // One passing test: the file's gate (min_tests = 2) fails the run.
    let out = p.run(&["c_is_one"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        p.dir.join("out/from-file.json").is_file(),
        "report from the file"
    );
    // The command line overrides the gate; the environment overrides the file's reports.
    let out = p
        .command(&["run", "c_is_one", "--min-tests", "1", "-q"])
        .env(
            "TESTFLOW_REPORT",
            "junit=out/from-env.xml,json=out/env.json",
        )
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(p.dir.join("out/from-env.xml").is_file() && p.dir.join("out/env.json").is_file());
}

#[test]
fn an_unknown_key_is_a_usage_error_naming_file_line_and_key() {
    let p = Project::copy_of("rust-iterate");
    std::fs::write(
        p.dir.join("testflow.toml"),
        "[run]\njobs = 2\n\n[gates]\nmax_flakey = 1\n",
    )
    .unwrap();
    let out = p.run(&[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("testflow.toml:5:1: unknown field `max_flakey`"),
        "{}",
        out.stderr
    );
}

/// `merge` prunes `history.db` by the file's `[history] keep_runs`, like `run` (it used
/// to keep the default 500 whatever the file said).
#[test]
fn merge_keeps_only_keep_runs_runs_in_history() {
    use testflow::model::Framework;
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join(".git")).unwrap();
    std::fs::write(d.path().join("testflow.toml"), "[history]\nkeep_runs = 2\n").unwrap();
    let store = testflow::store::Store::at(d.path().join(".testflow"));
    let rec = store
        .start_run(d.path(), vec![Framework::Pytest], chrono::Utc::now(), None)
        .unwrap();
    rec.finish(true, None).unwrap();
    let run_dir = rec.dir.clone();
    for i in 0..3 {
        let out_dir = d.path().join(format!("merged-{i}"));
        let out = std::process::Command::new(crate::util::BIN)
            .args(["testflow", "merge", run_dir.to_str().unwrap(), "-o"])
            .arg(&out_dir)
            .current_dir(d.path())
            .env_remove("TESTFLOW_DIR")
            .output()
            .unwrap();
        assert!(
            out_dir.join("run.json").is_file(),
            "merge {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let h = testflow::history::History::open(store.root()).unwrap();
    assert_eq!(h.run_count().unwrap(), 2, "three merges, keep_runs = 2");
}
