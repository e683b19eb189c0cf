//! `run --coverage` on rust-basic: cargo-llvm-cov drives the instrumented build, two
//! shards merge to exactly the unsharded coverage, the baseline and `no_coverage_drop`
//! gate, `coverage gaps` on the stored run; and the message when cargo-llvm-cov is missing.
//!
//! The collecting test needs cargo-llvm-cov and llvm-tools. Where they are missing it
//! says so and only the "missing" path is tested, unless `TESTFLOW_REQUIRE_LLVM_COV=1`
//! (set by `.ci/run` once it has installed them), which makes their absence a failure.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::Project;

fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// cargo-llvm-cov runs and the toolchain has llvm-tools.
fn llvm_cov_works() -> bool {
    let ok = |cmd: &mut Command| {
        cmd.stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ok(Command::new(cargo()).args(["llvm-cov", "--version"])) {
        return false;
    }
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let Ok(tools) = std::fs::read_dir(Path::new(&sysroot).join("lib/rustlib")) else {
        return false;
    };
    tools
        .flatten()
        .any(|d| d.path().join("bin/llvm-profdata").is_file())
}

fn json(out: &crate::util::Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr))
}

fn lines(c: &testflow::model::RunCoverage) -> (u64, u64) {
    (c.totals.lines.covered, c.totals.lines.total)
}

#[test]
fn rust_coverage_is_collected_and_two_shards_merge_to_the_whole() {
    if !llvm_cov_works() {
        assert!(
            std::env::var_os("TESTFLOW_REQUIRE_LLVM_COV").is_none(),
            "TESTFLOW_REQUIRE_LLVM_COV is set but cargo-llvm-cov or llvm-tools do not work"
        );
        let _ = writeln!(
            std::io::stderr(),
            "cargo-llvm-cov or llvm-tools missing: Rust coverage collection not tested"
        );
        return;
    }
    // Its own copy and target: the instrumented build and the profiles are per project.
    let p = Project::copy_of("rust-basic");
    let full = p.run(&["--coverage", "--test-timeout", crate::util::HANG_LIMIT]);
    assert_eq!(
        full.code, 100,
        "rust-basic has failing tests\n{}",
        full.stderr
    );
    let run = full.run();
    let cov = run.coverage.as_ref().expect("the run has coverage");
    assert_eq!(cov.frameworks.len(), 1);
    assert_eq!(
        cov.frameworks[0].status, "collected",
        "{:?}",
        cov.frameworks
    );
    assert_eq!(cov.reports, ["coverage/rust.lcov"]);
    // Measured on this fixture (tests/fixtures/coverage/cargo-llvm-cov-0.9.1.lcov): the
    // library's 34 lines, 26 run; its tests' files are not measured.
    assert_eq!(lines(cov), (26, 34));
    let files: Vec<&str> = cov.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(files, ["crates/calc/src/lib.rs"]);
    assert_eq!(
        cov.previous, None,
        "the first run has nothing to compare with"
    );
    let full_dir = p.runs_dir().join(&run.run_id);
    assert!(full_dir.join("coverage/merged.lcov").is_file());
    assert!(
        full.stderr.contains("coverage: lines 76.5% (26/34)"),
        "{}",
        full.stderr
    );

    // Two shards, one after the other (they share the instrumented target directory).
    let mut shard_dirs = Vec::new();
    for k in ["1/2", "2/2"] {
        // By count: timings would put the slow `hangs` alone in one shard, and this split
        // runs `add` (line 8) in both shards, so the merge must sum the counts.
        let out = p.run(&[
            "--coverage",
            "--test-timeout",
            crate::util::HANG_LIMIT,
            "--shard",
            k,
            "--shard-strategy",
            "count",
        ]);
        let r = out.run();
        let c = r.coverage.as_ref().expect("a shard has coverage");
        assert!(
            lines(c).0 < 26 && lines(c).1 == 34,
            "shard {k} alone covers less: {:?} with {:?}",
            lines(c),
            r.tests.iter().map(|t| &t.id).collect::<Vec<_>>()
        );
        shard_dirs.push(p.runs_dir().join(&r.run_id));
    }
    let merged_dir = p.testflow_dir.path().join("merged");
    let (a, b) = (
        shard_dirs[0].display().to_string(),
        shard_dirs[1].display().to_string(),
    );
    let merged = p.cmd(&[
        "merge",
        &a,
        &b,
        "-o",
        &merged_dir.display().to_string(),
        "--format",
        "json",
    ]);
    let m = merged.run();
    let mc = m.coverage.as_ref().expect("the merged run has coverage");
    assert_eq!(lines(mc), (26, 34));
    assert_eq!(mc.files, cov.files);
    // Line by line, hit counts included: the merged LCOV equals the unsharded one.
    let lcov_of = |run: &Path| {
        let out = p.cmd(&[
            "coverage",
            "report",
            "--run",
            &run.display().to_string(),
            "--format",
            "lcov",
        ]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout
    };
    let whole = lcov_of(&full_dir);
    assert!(whole.contains("\nDA:8,4\n"), "`add` ran 4 times: {whole}");
    for shard in &shard_dirs {
        let one = lcov_of(shard);
        assert!(
            !one.contains("\nDA:8,0\n") && !one.contains("\nDA:8,4\n"),
            "{one}"
        );
    }
    assert_eq!(lcov_of(&merged_dir), whole);

    // Fewer tests cover less than the run before on this branch: no_coverage_drop fails.
    let fewer = p.run(&["passes", "--coverage", "--no-coverage-drop"]);
    assert_eq!(
        fewer.code, 3,
        "tests pass, the gate fails\n{}",
        fewer.stderr
    );
    let fc = fewer.run().coverage.as_ref().expect("coverage");
    let prev = fc
        .previous
        .as_ref()
        .expect("compared with the previous run");
    assert_eq!((prev.lines.covered, prev.lines.total), (26, 34));
    assert!(lines(fc).0 < 26);
    assert_eq!(prev.changed_files.len(), 1);
    assert!(
        fewer.stderr.contains("no_coverage_drop") && fewer.stderr.contains("-> "),
        "{}",
        fewer.stderr
    );
    // A drop within the allowance passes.
    let allowed = p.run(&["passes", "--coverage", "--no-coverage-drop=100"]);
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);

    // The gaps of the stored run, from its own sources: `div`'s error branch first.
    let gaps = p.cmd(&["coverage", "gaps", "--format", "json"]);
    assert_eq!(gaps.code, 0, "{}", gaps.stderr);
    let g = json(&gaps);
    assert_eq!(g["gaps"][0]["file"], "crates/calc/src/lib.rs");
}

#[test]
fn without_cargo_llvm_cov_the_run_says_how_to_get_it() {
    // A cargo without the llvm-cov subcommand (as on a machine without cargo-llvm-cov).
    let p = Project::new("rust-basic");
    let tmp = tempfile::tempdir().unwrap();
    let fake = tmp.path().join("cargo");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nif [ \"$1\" = llvm-cov ]; then echo 'error: no such command: `llvm-cov`' >&2; exit 101; fi\nexec '{}' \"$@\"\n",
            cargo().to_string_lossy()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = p.run_env(
        &["passes", "--coverage", "--min-coverage", "50%"],
        &[("CARGO", &fake)],
    );
    // The tests pass and are recorded; coverage is not silently skipped: the required
    // coverage gate cannot be measured and fails the run.
    assert_eq!(out.code, 3, "{}", out.stderr);
    let run = out.run();
    assert!(run.summary.passed > 0);
    let cov = run
        .coverage
        .as_ref()
        .expect("coverage says why it is missing");
    assert_eq!(cov.frameworks[0].status, "unavailable");
    let msg = cov.frameworks[0].message.as_deref().unwrap_or_default();
    assert!(
        msg.contains("cargo install cargo-llvm-cov --locked")
            && msg.contains("rustup component add llvm-tools-preview"),
        "{msg}"
    );
    assert!(
        out.stderr
            .contains("rust coverage unavailable: cargo-llvm-cov is not installed"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("no coverage was collected (rust unavailable"),
        "{}",
        out.stderr
    );
}
