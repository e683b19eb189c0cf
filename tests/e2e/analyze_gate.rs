//! `cargo testflow analyze` and quality gates on real runs of rust-basic.

use crate::util::Project;

#[test]
fn analyze_json_groups_real_failures_with_categories_and_suggestions() {
    let p = Project::new("rust-basic");
    // One process per test: in a binary run a crash can take flaky_first_attempt's failing
    // first attempt down with its binary (then its re-run passes, and there are 11).
    let run = p.run(&[
        "--isolation",
        "process",
        "--test-timeout",
        crate::util::HANG_LIMIT,
        "--no-doc",
    ]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    let out = p.cmd(&["analyze", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let a: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    // 6 unit-test failures, 5 integration failures, and flaky_first_attempt (no retries).
    assert_eq!(a["failures"], 12);
    let cats = &a["categories"];
    assert_eq!(
        (cats["assertion"].as_u64(), cats["runtime_error"].as_u64()),
        (Some(4), Some(5))
    );
    assert_eq!(
        (cats["crash"].as_u64(), cats["timeout"].as_u64()),
        (Some(2), Some(1))
    );
    let groups = a["groups"].as_array().expect("groups");
    assert_eq!(
        groups.len(),
        12,
        "every rust-basic failure has its own cause"
    );
    let by_test = |id: &str| {
        groups
            .iter()
            .find(|g| g["tests"].as_array().unwrap().iter().any(|t| t["id"] == id))
            .unwrap_or_else(|| panic!("no group holds {id}"))
    };
    let eq = by_test("calc$tests::fails_assert_eq");
    assert_eq!(eq["category"], "assertion");
    assert_eq!(eq["location"]["line"], 37);
    assert!(
        eq["suggestion"]["text"]
            .as_str()
            .unwrap()
            .starts_with("Expected 5, got 4 at crates/calc/src/lib.rs:37")
    );
    let seg = by_test("calc::integ$segfaults");
    assert!(
        seg["suggestion"]["text"]
            .as_str()
            .unwrap()
            .contains("invalid memory access")
    );
    let hang = by_test("calc::integ$hangs");
    assert!(
        hang["suggestion"]["text"]
            .as_str()
            .unwrap()
            .contains("--test-timeout")
    );
}

#[test]
fn analyze_of_a_build_failure_names_the_compiler_error() {
    let p = Project::new("rust-build-error");
    assert_eq!(p.run(&[]).code, 101);
    let out = p.cmd(&["analyze", "--format", "json"]);
    let a: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(a["groups"][0]["category"], "build_error");
    assert_eq!(a["groups"][0]["message"], "error[E0308]: mismatched types");
    assert_eq!(
        a["groups"][0]["location"]["file"],
        "crates/broken-build/src/lib.rs"
    );
}

#[test]
fn gates_pass_fail_and_advisory_on_real_runs() {
    let p = Project::new("rust-basic");
    // Two passing tests: the default gates pass; a duration gate of 1 ms cannot.
    let ok = p.run(&["passes", "--gate"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stderr.contains("gates passed"), "{}", ok.stderr);
    let slow = p.run(&["passes", "--max-duration", "0.001"]);
    assert_eq!(
        slow.code, 3,
        "tests passed, a required gate failed: {}",
        slow.stderr
    );
    let advisory = p.run(&[
        "passes",
        "--max-duration",
        "0.001",
        "--advisory",
        "max-duration",
    ]);
    assert_eq!(advisory.code, 0, "{}", advisory.stderr);

    let gate = p.cmd(&["gate", "--format", "json", "--min-coverage", "80%"]);
    assert_eq!(
        gate.code, 3,
        "coverage is not measured yet: a required gate fails"
    );
    let g: serde_json::Value = serde_json::from_str(&gate.stdout).expect("JSON");
    let cov = g["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["gate"] == "min_coverage")
        .unwrap();
    assert_eq!(cov["status"], "not_measured");

    // With a coverage report the gate is measured: 12 of 15 lines (80%), lib.rs at 75%.
    let lcov = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/coverage/lcov-llvm.info"
    );
    let gate = p.cmd(&[
        "gate",
        "--format",
        "json",
        "--min-coverage",
        "0.8",
        "--min-file-coverage",
        "70%",
        "--coverage",
        lcov,
    ]);
    assert_eq!(gate.code, 0, "{}{}", gate.stdout, gate.stderr);
    let g: serde_json::Value = serde_json::from_str(&gate.stdout).expect("JSON");
    let measured: Vec<_> = g["gates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["gate"] == "min_coverage" || x["gate"] == "min_file_coverage")
        .map(|x| (x["status"].clone(), x["actual"].clone()))
        .collect();
    assert_eq!(
        measured,
        [
            (serde_json::json!("pass"), serde_json::json!(80.0)),
            (serde_json::json!("pass"), serde_json::json!(75.0))
        ]
    );
    let gate = p.cmd(&["gate", "--min-file-coverage", "90%", "--coverage", lcov]);
    assert_eq!(gate.code, 3, "{}", gate.stdout);
    assert!(gate.stdout.contains("src/lib.rs 75.0%"), "{}", gate.stdout);
    // On `run`: the tests pass, the measured coverage gate fails (80% < 90%): exit 3.
    let run = p.run(&["passes", "--min-coverage", "0.9", "--coverage-file", lcov]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("12 of 15 lines covered"),
        "{}",
        run.stderr
    );
    let rep = p.cmd(&[
        "coverage",
        "report",
        lcov,
        lcov,
        "--format",
        "json",
        "--project",
        "/home/ci/project",
    ]);
    assert_eq!(rep.code, 0, "{}", rep.stderr);
    let r: serde_json::Value = serde_json::from_str(&rep.stdout).expect("JSON");
    assert_eq!(r["totals"]["lines"]["percent"], 80.0);
    assert_eq!(r["files"][0]["path"], "src/lib.rs");
    let bad = p.cmd(&["gate", "--advisory", "nope"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("unknown gate `nope`"), "{}", bad.stderr);
}

#[test]
fn rates_read_the_same_on_the_command_line_and_in_testflow_toml() {
    let p = Project::copy_of("rust-basic");
    // `70` is not a rate in either place; the error says how to write it.
    let cli = p.cmd(&["gate", "--min-pass-rate", "70"]);
    assert_eq!(cli.code, 2, "{}", cli.stderr);
    assert!(
        cli.stderr.contains("70 is not a rate: write 0.7 or 70%"),
        "{}",
        cli.stderr
    );
    let toml = p.dir.join("testflow.toml");
    std::fs::write(&toml, "[gates]\nmin_pass_rate = 70\n").unwrap();
    let file = p.run(&["passes"]);
    assert_eq!(file.code, 2, "{}", file.stderr);
    assert!(
        file.stderr.contains(&format!(
            "{}:2: `gates.min_pass_rate` = 70.0: 70 is not a rate: write 0.7 or 70%",
            toml.display()
        )),
        "{}",
        file.stderr
    );
    // `70%` and `0.7` are the same rate, in both places.
    std::fs::write(&toml, "[gates]\nmin_pass_rate = \"70%\"\n").unwrap();
    let run = p.run(&["passes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    std::fs::remove_file(&toml).unwrap();
    for rate in ["70%", "0.7"] {
        let gate = p.cmd(&["gate", "--format", "json", "--min-pass-rate", rate]);
        assert_eq!(gate.code, 0, "{rate}: {}{}", gate.stdout, gate.stderr);
        let g: serde_json::Value = serde_json::from_str(&gate.stdout).expect("JSON");
        let pass = g["gates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["gate"] == "min_pass_rate")
            .unwrap();
        assert_eq!(pass["threshold"], 0.7, "{rate}");
    }
}
