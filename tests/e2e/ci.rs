//! `cargo testflow ci`: the generated pipeline's own commands, run on one machine.

use std::collections::BTreeMap;

use serde_yaml_ng::Value;
use testflow::model::Run;

use crate::util::{Project, git};

fn outcomes(run: &Run) -> BTreeMap<String, String> {
    run.tests
        .iter()
        .map(|t| (t.id.clone(), t.outcome.as_str().to_owned()))
        .collect()
}

/// The `run:` script of the first step of `job` whose script contains `needle`.
fn step_script<'a>(job: &'a Value, needle: &str) -> &'a str {
    job["steps"]
        .as_sequence()
        .expect("steps")
        .iter()
        .filter_map(|s| s["run"].as_str())
        .find(|r| r.contains(needle))
        .unwrap_or_else(|| panic!("no step runs `{needle}`"))
}

#[test]
fn github_pipeline_shards_run_and_merge_into_the_unsharded_run() {
    let p = Project::copy_of("rust-basic");
    let generated = p.cmd(&["ci", "github", "--shards", "3"]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let yaml: Value = serde_yaml_ng::from_str(&generated.stdout).expect("valid YAML");
    let test = &yaml["jobs"]["test"];
    let shards: Vec<u64> = test["strategy"]["matrix"]["shard"]
        .as_sequence()
        .expect("a shard matrix")
        .iter()
        .map(|v| v.as_u64().expect("shard number"))
        .collect();
    assert_eq!(shards, [1, 2, 3]);
    assert_eq!(test["strategy"]["fail-fast"], Value::Bool(false));
    let run_script = step_script(test, "cargo testflow run");
    let merge_job = &yaml["jobs"]["merge"];
    assert_eq!(
        merge_job["needs"],
        serde_yaml_ng::from_str::<Value>("[install, test]").unwrap()
    );
    let merge_script = step_script(merge_job, "cargo testflow merge");
    let summary_script = step_script(merge_job, "GITHUB_STEP_SUMMARY");
    let gate_script = step_script(merge_job, "shard runs arrived");

    // The whole suite once: it records the timings the shard plan uses (in CI they come
    // from the cached history database).
    let full = p.run(&["--test-timeout", crate::util::HANG_LIMIT]);
    assert_eq!(full.code, 100, "{}", full.stderr);
    let full = full.run();

    // Each matrix leg: the job's env with `${{ matrix.shard }}` filled in, then its script.
    let mut seen = BTreeMap::new();
    for k in &shards {
        let mut env: Vec<(String, String)> = test["env"]
            .as_mapping()
            .expect("job env")
            .iter()
            .map(|(key, v)| {
                (
                    key.as_str().unwrap().to_owned(),
                    v.as_str()
                        .unwrap()
                        .replace("${{ matrix.shard }}", &k.to_string()),
                )
            })
            .collect();
        assert!(
            env.contains(&("TESTFLOW_SHARD".into(), format!("{k}/3"))),
            "{env:?}"
        );
        env.push(("TESTFLOW_TEST_TIMEOUT".into(), "3".into()));
        let out = p.shell(run_script, &env);
        assert!(
            out.code == 0 || out.code == 100,
            "shard {k}: exit {}\n{}",
            out.code,
            out.stderr
        );
        let shard_run: Run = serde_json::from_slice(
            &std::fs::read(p.dir.join(format!("testflow-out/run-shard-{k}.json")))
                .expect("the shard's JSON report"),
        )
        .unwrap();
        let info = shard_run.shard.as_ref().expect("a shard run");
        assert_eq!((info.index, info.total), (*k as u32, 3));
        assert_eq!(
            info.strategy, "timings",
            "the plan uses the recorded timings"
        );
        assert!(
            p.dir
                .join(format!("testflow-out/junit-shard-{k}.xml"))
                .is_file()
        );
        for t in &shard_run.tests {
            assert!(
                seen.insert(t.id.clone(), *k).is_none(),
                "{} ran twice",
                t.id
            );
        }
    }
    assert_eq!(seen.len(), full.tests.len(), "every test ran in one shard");

    // The merge job: merge (tests failed, exit 100, is left to the gate), then the reports.
    let merged = p.shell(merge_script, &[]);
    assert_eq!(merged.code, 0, "{}", merged.stderr);
    let merged: Run = serde_json::from_slice(
        &std::fs::read(p.dir.join("testflow-out/merged/run.json")).expect("merged run"),
    )
    .unwrap();
    assert_eq!(
        outcomes(&merged),
        outcomes(full),
        "same tests, same outcomes"
    );
    assert!(merged.completed);
    assert!(
        merged
            .errors
            .iter()
            .all(|e| e.kind != "duplicate" && e.kind != "missing"),
        "{:?}",
        merged.errors
    );
    let junit = std::fs::read_to_string(p.dir.join("testflow-out/junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), full.tests.len());
    // GitLab's junit report links each test to its file (CircleCI splits by it).
    for case in junit.split("<testcase ").skip(1) {
        let tag = &case[..case.find('>').unwrap()];
        assert!(
            tag.contains(" file=\"") && tag.contains(" line=\""),
            "no file/line: <testcase {tag}>"
        );
    }
    let report: Run =
        serde_json::from_slice(&std::fs::read(p.dir.join("testflow-out/run.json")).unwrap())
            .unwrap();
    assert_eq!(outcomes(&report), outcomes(full));

    // The job summary gets the gate table (appended, as GitHub expects).
    let summary = p.dir.join("summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let out = p.shell(
        summary_script,
        &[(
            "GITHUB_STEP_SUMMARY".into(),
            summary.to_str().unwrap().into(),
        )],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.starts_with("earlier step\n"), "{text}");
    assert!(text.contains("min_pass_rate"), "{text}");

    // rust-basic has failing tests: the gate step fails the pipeline.
    let gate = p.shell(gate_script, &[]);
    assert_eq!(gate.code, 3, "{}\n{}", gate.stdout, gate.stderr);
    assert!(gate.stdout.contains("min_pass_rate"), "{}", gate.stdout);
    // A shard that never delivered its run fails the gate step, whatever the merge says.
    std::fs::remove_file(p.dir.join("testflow-out/run-shard-2.json")).unwrap();
    let gate = p.shell(gate_script, &[]);
    assert_eq!(gate.code, 1);
    assert!(
        !gate.stdout.contains("min_pass_rate"),
        "stops before the gates"
    );
    assert!(
        gate.stderr.contains("2 of 3 shard runs arrived"),
        "{}",
        gate.stderr
    );
}

#[test]
fn ci_without_any_suite_is_exit_4_and_bad_shards_exit_2() {
    let p = Project::copy_of("rust-basic");
    let empty = tempfile::tempdir().unwrap();
    let out = p.cmd(&["ci", "gitlab", "--project", empty.path().to_str().unwrap()]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    let out = p.cmd(&["ci", "gitlab", "--shards", "0"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = p.cmd(&["ci", "travis"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn ci_writes_to_output_path_and_honours_the_install_command() {
    let p = Project::copy_of("rust-basic");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".circleci/config.yml");
    let out = p.cmd(&[
        "ci",
        "circleci",
        "--shards",
        "2",
        "--testflow-install",
        "cargo install --locked cargo-testflow --version 0.1.0",
        "-o",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(&path).unwrap();
    let yaml: Value = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(
        yaml["jobs"]["testflow-test"]["parallelism"].as_u64(),
        Some(2)
    );
    assert!(text.contains("cargo install --locked cargo-testflow --version 0.1.0"));
    assert!(!text.contains("git clone"));
}

#[test]
fn github_coverage_pipeline_merges_the_shards_coverage_and_writes_cobertura() {
    let p = Project::copy_of("rust-basic");
    let generated = p.cmd(&["ci", "github", "--shards", "2", "--coverage"]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let yaml: Value = serde_yaml_ng::from_str(&generated.stdout).expect("valid YAML");
    let test = &yaml["jobs"]["test"];
    // cargo-llvm-cov is built once, by the install job; the shards add llvm-tools only.
    let build = step_script(&yaml["jobs"]["install"], "cargo install");
    assert!(
        build.contains(
            "cargo install --locked --root testflow-dist cargo-llvm-cov --version 0.9.1\n"
        ),
        "{build}"
    );
    let install = step_script(test, "rustup component add llvm-tools-preview\n");
    assert!(!install.contains("cargo install"), "{install}");
    assert!(!install.contains("pytest-cov"), "rust-basic has no pytest");
    let run_script = step_script(test, "cargo testflow run");
    assert!(
        run_script.starts_with("cargo testflow run --coverage "),
        "{run_script}"
    );
    let merge_job = &yaml["jobs"]["merge"];
    let merge_script = step_script(merge_job, "cargo testflow merge");
    let summary_script = step_script(merge_job, "GITHUB_STEP_SUMMARY");
    let uploaded: Vec<&str> = merge_job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["with"]["name"] == "testflow-coverage")
        .expect("the coverage artifact")["with"]["path"]
        .as_str()
        .unwrap()
        .lines()
        .collect();

    // The merge job's coverage step before any shard delivered coverage: a warning, and
    // the step (and the gates after it) go on.
    let cobertura_line = merge_script
        .lines()
        .find(|l| l.contains("--format cobertura"))
        .expect("the Cobertura command");
    let out = p.shell(cobertura_line, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("has no coverage"), "{}", out.stderr);

    // The shard command as generated is one `cargo testflow run` accepts (everything before
    // `--help` is parsed).
    let help = p.shell(&format!("{} --help", run_script.trim_end()), &[]);
    assert_eq!(help.code, 0, "{}", help.stderr);
    assert!(help.stdout.contains("--coverage"), "{}", help.stdout);

    // The shards: with a real cargo-llvm-cov LCOV instead of collecting (that needs
    // cargo-llvm-cov, tested in coverage.rs): each shard run keeps it in its run directory.
    let lcov = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/coverage/cargo-llvm-cov-0.9.1.lcov");
    let shard_script = run_script.replacen(
        " --coverage ",
        &format!(" --coverage-file {} ", lcov.display()),
        1,
    );
    for k in 1..=2 {
        let env = [
            ("TESTFLOW_SHARD".to_owned(), format!("{k}/2")),
            ("SHARD".to_owned(), k.to_string()),
            ("TESTFLOW_TEST_TIMEOUT".to_owned(), "3".to_owned()),
        ];
        let out = p.shell(&shard_script, &env);
        assert!(
            out.code == 0 || out.code == 100,
            "shard {k}: {}",
            out.stderr
        );
        let shard: Run = serde_json::from_slice(
            &std::fs::read(p.dir.join(format!("testflow-out/run-shard-{k}.json"))).unwrap(),
        )
        .unwrap();
        assert!(shard.coverage.is_some(), "shard {k} has coverage");
    }
    let one = p.cmd(&[
        "coverage",
        "report",
        lcov.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(one.code, 0, "{}", one.stderr);
    let one: serde_json::Value = serde_json::from_str(&one.stdout).unwrap();

    // The merge job: the shards' coverage (found through their uploaded run directories),
    // merged and written as Cobertura, both files where the artifact upload looks.
    let merged = p.shell(merge_script, &[]);
    assert_eq!(merged.code, 0, "{}", merged.stderr);
    assert!(
        !merged.stderr.contains("has no coverage"),
        "{}",
        merged.stderr
    );
    for path in &uploaded {
        assert!(
            p.dir.join(path).is_file(),
            "{path} for the coverage artifact"
        );
    }
    let run: Run =
        serde_json::from_slice(&std::fs::read(p.dir.join("testflow-out/merged/run.json")).unwrap())
            .unwrap();
    let cov = run.coverage.expect("the merged run's coverage");
    // Both shards measured the same lines: the merge sums the hits, the totals stay.
    assert_eq!(
        serde_json::to_value(cov.totals).unwrap(),
        one["totals"],
        "merged totals"
    );
    let xml = std::fs::read_to_string(p.dir.join("testflow-out/coverage.xml")).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(
        xml.contains(&format!("lines-covered=\"{}\"", cov.totals.lines.covered)),
        "{xml}"
    );
    // GitLab's `coverage:` regex finds the percentage in what the merge printed.
    let regex = testflow::ci::GITLAB_COVERAGE_REGEX.trim_matches('/');
    let re = regex::Regex::new(regex).unwrap();
    let line = re.find(&merged.stderr).expect("the merge's coverage line");
    let percent = cov.totals.lines.percent.unwrap();
    assert_eq!(line.as_str(), format!("coverage: lines {percent:.1}%"));

    // The job summary (the Markdown report) has the coverage totals.
    let summary = p.dir.join("summary.md");
    let out = p.shell(
        summary_script,
        &[(
            "GITHUB_STEP_SUMMARY".into(),
            summary.to_str().unwrap().into(),
        )],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.contains("### Coverage"), "{text}");
}

fn ci_in(dir: &std::path::Path, args: &[&str]) -> (String, String, i32) {
    let out = std::process::Command::new(crate::util::BIN)
        .arg("ci")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run cargo-testflow");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn github_pipeline_triggers_on_the_repositorys_default_branch() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = tmp.path().join("origin");
    std::fs::create_dir(&origin).unwrap();
    git(&origin, &["init", "-q", "-b", "trunk"]);
    std::fs::write(
        origin.join("Cargo.toml"),
        "[package]\nname = \"x\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    git(&origin, &["add", "-A"]);
    git(&origin, &["commit", "-qm", "x"]);
    git(tmp.path(), &["clone", "-q", "origin", "clone"]);
    let clone = tmp.path().join("clone");
    // Working on a feature branch: the pipeline still triggers on origin's default.
    git(&clone, &["checkout", "-q", "-b", "feature"]);
    let branches = |yaml: &str| -> Vec<String> {
        let v: Value = serde_yaml_ng::from_str(yaml).expect("valid YAML");
        v["on"]["push"]["branches"]
            .as_sequence()
            .expect("push branches")
            .iter()
            .map(|b| b.as_str().unwrap().to_owned())
            .collect()
    };
    let (yaml, stderr, code) = ci_in(&clone, &["github"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(branches(&yaml), ["trunk"], "{yaml}");
    assert!(
        yaml.contains("# Default branch: trunk (")
            && yaml.contains("# from origin's HEAD (git symbolic-ref refs/remotes/origin/HEAD: refs/remotes/origin/trunk)."),
        "{yaml}"
    );
    let (yaml, stderr, code) = ci_in(&clone, &["github", "--branch", "release"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(branches(&yaml), ["release"], "{yaml}");
    assert!(yaml.contains("# given with --branch."), "{yaml}");
    let (_, stderr, code) = ci_in(&clone, &["github", "--branch", "a b"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`a b` is not a branch name"), "{stderr}");
    // No origin: the repository's own branch, when it is a usual default name.
    let (yaml, stderr, code) = ci_in(&origin, &["github"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(branches(&yaml), ["trunk"], "{yaml}");
    assert!(
        yaml.contains("# the current branch (no origin HEAD"),
        "{yaml}"
    );
}

/// A stand-in testflow repository: a `cargo-testflow` crate (no dependencies, so it builds
/// in seconds) that prints `says`, with its lock file, committed and tagged `v{tag}`; then
/// a later commit that says "untagged".
fn fake_testflow_repo(dir: &std::path::Path, tag: &str, says: &str) {
    let krate = dir.join("cargo-testflow");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    std::fs::write(
        krate.join("Cargo.toml"),
        "[package]\nname = \"cargo-testflow\"\nversion = \"0.0.0\"\nedition = \"2021\"\n[workspace]\n",
    )
    .unwrap();
    let main = |text: &str| format!("fn main() {{ println!(\"{text}\"); }}\n");
    std::fs::write(krate.join("src/main.rs"), main(says)).unwrap();
    // An empty lock file is one `--locked` accepts for a crate without dependencies.
    std::fs::write(
        krate.join("Cargo.lock"),
        "# This file is automatically @generated by Cargo.\n# It is not intended for manual editing.\nversion = 4\n\n[[package]]\nname = \"cargo-testflow\"\nversion = \"0.0.0\"\n",
    )
    .unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "release"]);
    git(dir, &["tag", &format!("v{tag}")]);
    std::fs::write(krate.join("src/main.rs"), main("untagged")).unwrap();
    git(dir, &["commit", "-qam", "later"]);
}

#[test]
fn the_install_job_builds_the_pinned_tag_once_and_each_cis_shards_only_install_it() {
    let p = Project::copy_of("rust-basic");
    let repo = tempfile::tempdir().unwrap();
    fake_testflow_repo(repo.path(), "0.3.0", "tagged 0.3.0");
    let url = repo.path().to_str().unwrap();
    let generated = p.cmd(&[
        "ci",
        "gitlab",
        "--shards",
        "2",
        "--testflow-version",
        "0.3.0",
        "--testflow-git",
        url,
    ]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let yaml: Value = serde_yaml_ng::from_str(&generated.stdout).expect("valid YAML");
    let variables: Vec<(String, String)> = yaml["variables"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.as_str().unwrap().starts_with("TESTFLOW_"))
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_owned(),
                v.as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        variables.contains(&("TESTFLOW_VERSION".into(), "0.3.0".into())),
        "{variables:?}"
    );
    let job = &yaml["testflow-install"];
    let build = job["script"][0].as_str().expect("one script item");

    // A cache miss: the job clones the tag (not the branch's newer commit) and builds it.
    let out = p.shell(build, &variables);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let bin = p.dir.join("testflow-dist/bin/cargo-testflow");
    let ran = std::process::Command::new(&bin)
        .output()
        .expect("the built binary");
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "tagged 0.3.0\n");
    assert_eq!(
        job["artifacts"]["paths"][0].as_str(),
        Some("testflow-dist/")
    );
    assert_eq!(job["cache"][0]["paths"][0].as_str(), Some("testflow-dist/"));

    // A cache hit (testflow-dist/ restored): nothing is cloned or built.
    std::fs::remove_dir_all(p.dir.join("testflow-src")).unwrap();
    let out = p.shell(build, &variables);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("testflow 0.3.0: restored from the cache, nothing to build"),
        "{}",
        out.stdout
    );
    assert!(!p.dir.join("testflow-src").exists(), "no clone on a hit");

    // A shard job (its artifact is testflow-dist/): the built binary is the one on PATH.
    let before: Vec<&str> = yaml["testflow-test"]["before_script"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let out = p.shell(
        &format!("{}\ncargo-testflow", before.join("\n")),
        &variables,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "tagged 0.3.0\n");

    // GitHub's and CircleCI's shard install steps, on the same build: the binary reaches
    // the next steps' PATH through $GITHUB_PATH / $BASH_ENV.
    let env_dir = tempfile::tempdir().unwrap();
    for (ci, job, var) in [
        ("github", "/jobs/test", "GITHUB_PATH"),
        ("circleci", "/jobs/testflow-test", "BASH_ENV"),
    ] {
        let generated = p.cmd(&["ci", ci, "--shards", "2", "--testflow-git", url]);
        assert_eq!(generated.code, 0, "{}", generated.stderr);
        let yaml: serde_json::Value =
            serde_json::to_value(serde_yaml_ng::from_str::<Value>(&generated.stdout).unwrap())
                .unwrap();
        let step = yaml
            .pointer(job)
            .and_then(|j| j["steps"].as_array())
            .unwrap()
            .iter()
            .find(|s| {
                s["name"] == "Install testflow (built by the install job)"
                    || s["run"]["name"] == "Install testflow (built by the install job)"
            })
            .unwrap_or_else(|| panic!("{ci}: no install step"));
        let script = step["run"]
            .as_str()
            .or_else(|| step["run"]["command"].as_str())
            .unwrap();
        let file = env_dir.path().join(var);
        std::fs::write(&file, "").unwrap();
        let env = [(var.to_owned(), file.to_str().unwrap().to_owned())];
        let out = p.shell(script, &env);
        assert_eq!(out.code, 0, "{ci}: {}", out.stderr);
        let next_step = match var {
            "GITHUB_PATH" => "PATH=\"$(cat \"$GITHUB_PATH\"):$PATH\" cargo-testflow",
            _ => ". \"$BASH_ENV\"; cargo-testflow",
        };
        let out = p.shell(next_step, &env);
        assert_eq!(out.code, 0, "{ci}: {}", out.stderr);
        assert_eq!(out.stdout, "tagged 0.3.0\n", "{ci}");
    }

    // A version with no tag fails the install job, and so the pipeline.
    std::fs::remove_dir_all(p.dir.join("testflow-dist")).unwrap();
    let missing = [("TESTFLOW_VERSION".to_owned(), "9.9.9".to_owned())];
    let out = p.shell(build, &missing);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(out.stderr.contains("v9.9.9"), "{}", out.stderr);
    assert!(!bin.exists());
}

#[test]
fn a_bad_testflow_version_is_a_usage_error_naming_it() {
    let p = Project::copy_of("rust-basic");
    let out = p.cmd(&["ci", "github", "--testflow-version", "latest"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("`latest` is not a testflow version"),
        "{}",
        out.stderr
    );
}

/// `git rev-parse REV` in `dir`.
fn rev_parse(dir: &std::path::Path, rev: &str) -> String {
    let out = std::process::Command::new("git")
        .args(["rev-parse", rev])
        .current_dir(dir)
        .output()
        .expect("git rev-parse");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn github_affected_pipeline_records_on_push_and_selects_once_across_shards_on_a_pr() {
    let p = Project::copy_of("affected-rust");
    let generated = p.cmd(&["ci", "github", "--shards", "2", "--affected"]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let yaml: Value = serde_yaml_ng::from_str(&generated.stdout).expect("valid YAML");
    let test = &yaml["jobs"]["test"];
    let run_script = step_script(test, "cargo testflow run");
    let merge_script = step_script(&yaml["jobs"]["merge"], "cargo testflow merge");
    let gate_script = step_script(&yaml["jobs"]["merge"], "shard runs arrived");
    // A matrix leg: the job's env with the shard and the event's base commit filled in.
    let leg = |k: u64, base: &str| -> Vec<(String, String)> {
        test["env"]
            .as_mapping()
            .expect("job env")
            .iter()
            .map(|(key, v)| {
                let v = v
                    .as_str()
                    .unwrap()
                    .replace("${{ matrix.shard }}", &k.to_string())
                    .replace("${{ github.event.pull_request.base.sha }}", base);
                (key.as_str().unwrap().to_owned(), v)
            })
            .collect()
    };
    let shard_run = |k: u64| -> Run {
        serde_json::from_slice(
            &std::fs::read(p.dir.join(format!("testflow-out/run-shard-{k}.json"))).unwrap(),
        )
        .unwrap()
    };
    let merged_run = || -> Run {
        serde_json::from_slice(&std::fs::read(p.dir.join("testflow-out/merged/run.json")).unwrap())
            .unwrap()
    };
    let history = p.testflow_dir.path().join("history.db");

    // A push to the default branch (no base): every test, every dependency recorded.
    for k in 1..=2 {
        let out = p.shell(run_script, &leg(k, ""));
        assert_eq!(out.code, 0, "shard {k}: {}", out.stderr);
        assert_eq!(shard_run(k).affected.as_ref().unwrap().mode, "record");
    }
    // The merge job's history comes from the cache, not from the shards' machines: the
    // dependencies reach it only through the shards' run directories.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", history.display()));
    }
    let out = p.shell(merge_script, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let merged = merged_run();
    assert_eq!(merged.tests.len(), 5);
    assert_eq!(merged.affected.as_ref().unwrap().not_selected, 0);
    assert!(merged.errors.is_empty(), "{:?}", merged.errors);

    // A pull request: one test file changed since the base commit.
    let base = rev_parse(&p.dir, "HEAD");
    std::fs::remove_dir_all(p.dir.join("testflow-out")).unwrap();
    let path = p.dir.join("crates/app/tests/app_it.rs");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("// edited\n");
    std::fs::write(&path, text).unwrap();
    let mut ran = Vec::new();
    for k in 1..=2 {
        let out = p.shell(run_script, &leg(k, &base));
        assert_eq!(out.code, 0, "shard {k}: {}", out.stderr);
        let run = shard_run(k);
        let a = run.affected.as_ref().unwrap();
        assert_eq!(
            (a.mode.as_str(), a.base.as_deref()),
            ("select", Some(base.as_str()))
        );
        assert_eq!(a.not_selected, 4, "shard {k} selected before it split");
        ran.extend(run.tests.iter().map(|t| t.id.clone()));
    }
    assert_eq!(
        ran,
        ["app::app_it$quadruples_from_outside"],
        "once, in one shard"
    );
    let out = p.shell(merge_script, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let merged = merged_run();
    assert!(merged.errors.is_empty(), "{:?}", merged.errors);
    assert_eq!(merged.affected.as_ref().unwrap().not_selected, 4);
    // Not selected is never passed: the merged run counts the one test that ran.
    assert_eq!((merged.summary.total, merged.summary.passed), (1, 1));
    let report = std::fs::read_to_string(p.dir.join("testflow-out/summary.md")).unwrap();
    assert!(report.contains("not selected"), "{report}");
    let gate = p.shell(gate_script, &[]);
    assert_eq!(gate.code, 0, "{}\n{}", gate.stdout, gate.stderr);

    // A shard that selected differently (here: no base, so it ran everything) fails the
    // merge closed: a test could otherwise have run in no shard.
    let out = p.shell(run_script, &leg(2, ""));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = p.shell(merge_script, &[]);
    assert!(
        out.stderr.contains("affected_mismatch")
            || out.stderr.contains("--affected selections differ"),
        "{}",
        out.stderr
    );
    let merged = merged_run();
    assert!(
        merged.errors.iter().any(|e| e.kind == "affected_mismatch"),
        "{:?}",
        merged.errors
    );
    let gate = p.shell(gate_script, &[]);
    assert_ne!(gate.code, 0, "{}", gate.stdout);
}
