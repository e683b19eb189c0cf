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
