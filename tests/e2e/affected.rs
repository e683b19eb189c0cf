//! `run --affected` on fixture projects copied into fresh git repositories: one change
//! selects exactly the tests that depend on it (Rust: test binaries by their dep-info;
//! pytest: test files by their conftest and import closure), a lockfile or manifest change
//! selects everything, a deleted file selects what recorded it, and the tests that failed
//! last time are always selected. See tests/fixtures/affected-*/EXPECTED.md.

use std::path::Path;

use crate::util::{Output, Project, git};

fn append(p: &Project, file: &str, text: &str) {
    let path = p.dir.join(file);
    let mut old = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    old.push_str(text);
    std::fs::write(&path, old).unwrap();
}

fn restore(p: &Project) {
    git(&p.dir, &["checkout", "-q", "HEAD", "--", "."]);
}

/// The ids of the tests that ran, sorted.
fn ran(out: &Output) -> Vec<String> {
    let mut ids: Vec<String> = out.run().tests.iter().map(|t| t.id.clone()).collect();
    ids.sort();
    ids
}

/// (group, selected, rule) of every decision, sorted.
fn decisions(out: &Output) -> Vec<(String, bool, String)> {
    let a = out.run().affected.as_ref().expect("run.affected");
    let mut d: Vec<_> = a
        .groups
        .iter()
        .map(|g| (g.group.clone(), g.selected, g.rule.clone()))
        .collect();
    d.sort();
    d
}

const CORE_UNIT: &str = "core-lib$tests::doubles";
const CORE_IT: &str = "core-lib::core_it$doubles_from_outside";
const APP_UNIT: &str = "app$tests::quadruples";
const APP_IT: &str = "app::app_it$quadruples_from_outside";
const APP_OTHER: &str = "app::app_other$other_binary";

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

#[test]
fn rust_changes_select_the_binaries_built_from_them() {
    let p = Project::copy_of("affected-rust");
    // A plain run records every binary's dependencies (and is the passing base).
    let first = p.run(&[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let all = sorted(&[CORE_UNIT, CORE_IT, APP_UNIT, APP_IT, APP_OTHER]);
    assert_eq!(ran(&first), all);
    assert!(first.run().affected.is_none());

    // One integration test file: only its binary.
    append(&p, "crates/app/tests/app_it.rs", "// edited\n");
    let out = p.run(&["--affected"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ran(&out), [APP_IT]);
    let a = out.run().affected.as_ref().unwrap();
    assert_eq!(a.mode, "select");
    assert_eq!(a.base_source, "last_passing_run");
    assert_eq!(a.not_selected, 4);
    assert_eq!(a.changed.len(), 1);
    assert_eq!(a.changed[0].path, "crates/app/tests/app_it.rs");
    assert_eq!(a.changed[0].status, "modified");
    let it = a.groups.iter().find(|g| g.group == "app::app_it").unwrap();
    assert!(it.selected);
    assert_eq!(it.rule, "changed_dependency");
    assert_eq!(it.files, ["crates/app/tests/app_it.rs"]);
    // Not selected is not passed: the summary counts only what ran.
    assert_eq!(out.run().summary.total, 1);
    assert_eq!(out.run().summary.passed, 1);
    restore(&p);

    // The library crate: both crates' tests (app links core-lib).
    append(&p, "crates/core/src/math.rs", "// edited\n");
    let out = p.run(&["--affected"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ran(&out), all);
    assert_eq!(out.run().affected.as_ref().unwrap().not_selected, 0);
    restore(&p);

    // app's library: app's three binaries, not core-lib's.
    append(&p, "crates/app/src/lib.rs", "// edited\n");
    let out = p.run(&["--affected"]);
    assert_eq!(ran(&out), sorted(&[APP_UNIT, APP_IT, APP_OTHER]));
    restore(&p);

    // Nothing changed: nothing runs, exit 0, and the record says so.
    let out = p.run(&["--affected"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(ran(&out).is_empty());
    assert_eq!(out.run().affected.as_ref().unwrap().not_selected, 5);
    assert!(
        out.stderr.contains("no test is affected by the changes"),
        "{}",
        out.stderr
    );

    // A manifest (or lockfile) change: everything, with the reason.
    append(&p, "crates/app/Cargo.toml", "# edited\n");
    let out = p.run(&["--affected"]);
    assert_eq!(ran(&out), all, "{}", out.stderr);
    let full = out.run().affected.as_ref().unwrap().full_run.clone();
    assert!(
        full.as_deref()
            .is_some_and(|f| f.contains("crates/app/Cargo.toml")),
        "{full:?}"
    );
    restore(&p);
    // (cargo rewrites a lockfile edit that changes nothing: the change set is given.)
    let out = p.run(&["--affected", "--changed", "Cargo.lock"]);
    assert_eq!(ran(&out), all, "{}", out.stderr);
    assert!(out.run().affected.as_ref().unwrap().full_run.is_some());
    restore(&p);

    // A test that failed last time is selected again on its own.
    let failing = p.run_env(&[], &[("AFFECTED_FAIL", Path::new("1"))]);
    assert_ne!(failing.code, 0);
    let out = p.run(&["--affected"]);
    assert_eq!(ran(&out), [CORE_IT]);
    assert!(decisions(&out).contains(&(CORE_IT.to_owned(), true, "failed_last_run".to_owned())));

    // --changed takes the change set from the caller (watch mode), not from git.
    let out = p.run(&["--affected", "--changed", "crates/core/tests/core_it.rs"]);
    assert_eq!(ran(&out), [CORE_IT]);
    assert_eq!(out.run().affected.as_ref().unwrap().base_source, "changed");

    // --explain: every group's decision for people.
    append(&p, "crates/app/tests/app_other.rs", "// edited\n");
    let out = p.cmd(&["run", "--affected", "--explain"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("selected     rust app::app_other"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("not selected rust core-lib::core_it"),
        "{}",
        out.stderr
    );
    restore(&p);
}

#[test]
fn a_plain_runs_dependencies_reach_the_history_merge_keeps() {
    let p = Project::copy_of("affected-rust");
    // A plain run (a default branch's pipeline without --affected) keeps the binaries'
    // dependencies with the run, as an --affected run does.
    let first = p.run(&[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let dir = p.runs_dir().join(&first.run().run_id);
    let deps: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("affected-deps.json")).expect("affected-deps.json"),
    )
    .unwrap();
    let groups = deps[0]["groups"].as_array().expect("groups");
    assert_eq!(deps[0]["framework"], "rust");
    assert!(
        groups.iter().any(|g| g[0] == "app::app_it"
            && g[1]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "crates/app/tests/app_it.rs")),
        "{deps}"
    );
    // The merge job's history is another machine's (the cache): only the run directory
    // carries the dependencies there.
    let history = p.testflow_dir.path().join("history.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", history.display()));
    }
    let merged = tempfile::tempdir().unwrap();
    let out = p.cmd(&[
        "merge",
        dir.to_str().unwrap(),
        "-o",
        merged.path().to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Its history now selects: one binary of five, not all five as `no_dependencies`.
    append(&p, "crates/app/tests/app_it.rs", "// edited\n");
    let out = p.run(&["--affected", "--since", "HEAD"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ran(&out), [APP_IT], "{:?}", decisions(&out));
    assert_eq!(out.run().affected.as_ref().unwrap().not_selected, 4);
}

#[test]
fn rust_selection_comes_before_the_shard_and_observe_runs_everything() {
    let p = Project::copy_of("affected-rust");
    assert_eq!(p.run(&[]).code, 0);
    append(&p, "crates/app/src/lib.rs", "// edited\n");
    // Select, then shard: the two shards split the three selected tests between them.
    let one = p.run(&["--affected", "--shard", "1/2"]);
    let two = p.run(&["--affected", "--shard", "2/2"]);
    let mut both = ran(&one);
    both.extend(ran(&two));
    both.sort();
    assert_eq!(both, sorted(&[APP_UNIT, APP_IT, APP_OTHER]));
    // Observation mode runs every test and records what the selection would skip.
    let out = p.run(&["--affected=observe"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ran(&out).len(), 5);
    let a = out.run().affected.as_ref().unwrap();
    assert_eq!(a.mode, "observe");
    assert!(a.missed.is_empty());
    let report = p.cmd(&["history", "selection", "--format", "json"]);
    assert_eq!(report.code, 0, "{}", report.stderr);
    let v: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 1);
    assert_eq!(v["tests"], 5);
    assert_eq!(v["would_skip"], 2);
    assert_eq!(v["missed"], 0);
    restore(&p);
}

#[test]
fn rust_observe_counts_a_failure_the_selection_would_miss() {
    let p = Project::copy_of("affected-rust");
    assert_eq!(p.run(&[]).code, 0);
    // core_it fails for a reason no file change explains (the environment): the
    // selection of an app change would not have run it.
    append(&p, "crates/app/src/lib.rs", "// edited\n");
    let out = p.run_env(
        &["--affected=observe"],
        &[("AFFECTED_FAIL", Path::new("1"))],
    );
    assert_ne!(out.code, 0);
    assert_eq!(out.run().affected.as_ref().unwrap().missed, [CORE_IT]);
    let report = p.cmd(&["history", "selection"]);
    assert!(
        report
            .stdout
            .contains("missed 1 of 1 failures (safety 100.0%)"),
        "{}",
        report.stdout
    );
}

#[test]
fn affected_usage_errors_name_the_value() {
    let p = Project::copy_of("affected-rust");
    let out = p.cmd(&["run", "--affected", "--since", "no-such-rev"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--since no-such-rev"), "{}", out.stderr);
    let out = p.cmd(&["run", "--since", "HEAD"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = p.cmd(&["run", "--affected=sometimes"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

/// Each listed test's (id, selected, rule) from `list --affected --format json`, sorted.
fn listed_decisions(out: &Output) -> Vec<(String, bool, String)> {
    let v: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    let mut d: Vec<(String, bool, String)> = v
        .as_array()
        .expect("suites")
        .iter()
        .flat_map(|s| s["test_list"].as_array().unwrap().iter())
        .map(|t| {
            let a = &t["affected"];
            (
                t["id"].as_str().unwrap().to_owned(),
                a["selected"].as_bool().expect("affected.selected"),
                a["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    d.sort();
    d
}

/// `shard plan --shards 2 --affected --format json`: every shard's tests, sorted, and the
/// whole plan.
fn planned_affected(p: &Project) -> (Vec<String>, serde_json::Value) {
    let plan = p.cmd(&[
        "shard",
        "plan",
        "--shards",
        "2",
        "--affected",
        "--format",
        "json",
    ]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let v: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let mut planned: Vec<String> = v["shards"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["tests"].as_array().unwrap().iter())
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    planned.sort();
    (planned, v)
}

#[test]
fn list_and_shard_plan_show_what_run_affected_would_select() {
    let p = Project::copy_of("affected-rust");
    assert_eq!(p.run(&[]).code, 0);
    append(&p, "crates/app/tests/app_it.rs", "// edited\n");
    let listed = p.cmd(&["list", "--affected", "--format", "json"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let unaffected = |id: &str| (id.to_owned(), false, "unaffected".to_owned());
    let mut want = vec![
        (APP_IT.to_owned(), true, "changed_dependency".to_owned()),
        unaffected(APP_OTHER),
        unaffected(APP_UNIT),
        unaffected(CORE_UNIT),
        unaffected(CORE_IT),
    ];
    want.sort();
    assert_eq!(listed_decisions(&listed), want);
    assert!(
        listed
            .stderr
            .contains("a run would select 1 of 5 tests (4 not selected)"),
        "{}",
        listed.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    let it = v
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["test_list"].as_array().unwrap().iter())
        .find(|t| t["id"] == APP_IT)
        .unwrap();
    assert_eq!(it["affected"]["group"], "app::app_it");
    assert_eq!(it["affected"]["files"][0], "crates/app/tests/app_it.rs");
    let human = p.cmd(&["list", "--affected", "--names"]);
    let line = |id: &str| {
        human
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("no line for {id}:\n{}", human.stdout))
            .to_owned()
    };
    assert!(
        line(APP_IT).ends_with("  (selected: changed_dependency)"),
        "{}",
        human.stdout
    );
    assert!(
        line(APP_UNIT).ends_with("  (not selected: unaffected)"),
        "{}",
        human.stdout
    );
    assert!(
        human
            .stdout
            .contains("app::app_it [test] (1 selected by --affected)")
    );

    // The shard plan splits the selection only, and the run selects the same.
    let (planned, v) = planned_affected(&p);
    assert_eq!(planned, [APP_IT]);
    assert_eq!(v["affected"]["not_selected"], 4);
    let run = p.run(&["--affected"]);
    assert_eq!(ran(&run), planned, "list, shard plan and run agree");
    // --changed too; and a --since that names no commit is a usage error.
    let listed = p.cmd(&[
        "list",
        "--affected",
        "--changed",
        "crates/core/src/math.rs",
        "--format",
        "json",
    ]);
    assert!(
        listed_decisions(&listed).iter().all(|(_, sel, _)| *sel),
        "{}",
        listed.stdout
    );
    let bad = p.cmd(&["list", "--affected", "--since", "no-such-rev"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("--since no-such-rev"), "{}", bad.stderr);
    let bad = p.cmd(&["shard", "plan", "--shards", "2", "--since", "HEAD"]);
    assert_eq!(bad.code, 2, "--since needs --affected: {}", bad.stderr);
    // Without --affected, the listing has no decisions.
    let plain = p.cmd(&["list", "--format", "json"]);
    assert!(!plain.stdout.contains("\"affected\""), "{}", plain.stdout);
}

#[test]
fn coverage_drop_never_compares_a_selection_with_a_whole_run() {
    let p = Project::copy_of("affected-rust");
    let lcov = |name: &str, hit: u32| {
        let path = p.dir.join(name);
        std::fs::write(
            &path,
            format!("SF:crates/core/src/lib.rs\nDA:1,1\nDA:2,{hit}\nend_of_record\n"),
        )
        .unwrap();
        path.to_str().unwrap().to_owned()
    };
    let (full, half) = (lcov("full.lcov", 1), lcov("half.lcov", 0));
    // Untracked report files are changes too; commit them so only the edit below counts.
    git(&p.dir, &["add", "-A"]);
    git(&p.dir, &["commit", "-qm", "coverage reports"]);
    let gate = |out: &Output| -> String {
        let c = out.run().coverage.as_ref().expect("coverage");
        assert!(out.stderr.contains("no_coverage_drop"), "{}", out.stderr);
        format!("{:?}", c.previous)
    };
    let first = p.run(&["--coverage-file", &full, "--no-coverage-drop"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    // A selection (4 tests left out) with half the coverage: not compared, not failed.
    append(&p, "crates/app/tests/app_it.rs", "// edited\n");
    let part = p.run(&["--affected", "--coverage-file", &half, "--no-coverage-drop"]);
    assert_eq!(part.code, 0, "{}", part.stderr);
    assert_eq!(gate(&part), "None", "no baseline for a selection");
    assert!(
        part.stderr
            .contains("not compared: --affected left 4 tests out of this run"),
        "{}",
        part.stderr
    );
    // The next whole run compares with the whole run, passing over the selection.
    let next = p.run(&["--coverage-file", &full, "--no-coverage-drop"]);
    assert_eq!(next.code, 0, "{}", next.stderr);
    let prev = next
        .run()
        .coverage
        .as_ref()
        .unwrap()
        .previous
        .as_ref()
        .unwrap();
    assert_eq!(prev.run_id, first.run().run_id);
    assert_eq!(prev.skipped_affected, 1);
    assert!(
        next.stderr
            .contains("passed over 1 newer run that --affected narrowed"),
        "{}",
        next.stderr
    );
    // Against the selection's 50% it would have risen; against the whole run it held.
    let drop = p.run(&["--coverage-file", &half, "--no-coverage-drop"]);
    assert_ne!(drop.code, 0, "a whole run that fell fails: {}", drop.stderr);
}

// ---- pytest (needs TESTFLOW_PYTHON: a Python with pytest and the plugin) -------------

fn python() -> std::path::PathBuf {
    std::env::var_os("TESTFLOW_PYTHON")
        .filter(|p| !p.is_empty())
        .map(Into::into)
        .expect("set TESTFLOW_PYTHON to a Python with pytest and pytest-testflow (tests/run-all.sh: target/py-venv/bin/python)")
}

#[test]
#[ignore = "needs TESTFLOW_PYTHON (tests/run-all.sh sets it)"]
fn pytest_changes_select_the_files_that_import_them() {
    let py = python();
    let p = Project::copy_of("affected-pytest");
    let run = |args: &[&str]| p.run_env(args, &[("TESTFLOW_PYTHON", &py)]);
    let first = run(&["--affected"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    // Nothing recorded yet: every file is selected, and recorded.
    assert_eq!(ran(&first).len(), 4);
    assert!(
        decisions(&first)
            .iter()
            .all(|(_, s, r)| *s && r == "no_dependencies")
    );

    // A module: the test file that imports it.
    append(&p, "app/core.py", "# edited\n");
    // `list --affected` says so first (the same selection; nothing runs).
    let listed = p.cmd_env(
        &["list", "--affected", "--format", "json"],
        &[("TESTFLOW_PYTHON", &py)],
    );
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let selected: Vec<String> = listed_decisions(&listed)
        .into_iter()
        .filter(|(_, s, _)| *s)
        .map(|(id, _, rule)| format!("{id} {rule}"))
        .collect();
    assert_eq!(
        selected,
        ["tests/unit/test_core.py::test_double changed_dependency"],
        "{}",
        listed.stdout
    );
    let out = run(&["--affected"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ran(&out), ["tests/unit/test_core.py::test_double"]);
    assert_eq!(out.run().affected.as_ref().unwrap().not_selected, 3);
    restore(&p);

    // A conftest.py: every test file under it.
    append(&p, "tests/unit/conftest.py", "# edited\n");
    let out = run(&["--affected"]);
    assert_eq!(
        ran(&out),
        [
            "tests/unit/test_core.py::test_double",
            "tests/unit/test_plain.py::test_plain"
        ]
    );
    restore(&p);

    // A deleted module: the file that imported it (as recorded) is selected and fails.
    std::fs::remove_file(p.dir.join("app/other.py")).unwrap();
    let out = run(&["--affected"]);
    assert_ne!(out.code, 0, "a missing module must fail the run");
    assert!(
        decisions(&out).contains(&(
            "tests/test_other.py".to_owned(),
            true,
            "changed_dependency".to_owned()
        )),
        "{:?}",
        decisions(&out)
    );
    assert_eq!(out.run().affected.as_ref().unwrap().not_selected, 3);
    let errors: Vec<&str> = out
        .run()
        .errors
        .iter()
        .map(|e| e.message.as_str())
        .collect();
    assert!(
        out.run()
            .tests
            .iter()
            .any(|t| t.id.starts_with("tests/test_other.py"))
            || errors.iter().any(|e| e.contains("test_other.py")),
        "{errors:?}"
    );
    restore(&p);

    // A failure is selected again, alone, until it passes.
    let failing = p.run_env(
        &[],
        &[("TESTFLOW_PYTHON", &py), ("AFFECTED_FAIL", Path::new("1"))],
    );
    assert_ne!(failing.code, 0);
    let out = run(&["--affected"]);
    assert_eq!(
        ran(&out),
        ["tests/test_standalone.py::test_standalone"],
        "{:?}",
        decisions(&out)
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// affected-pytest with a test file that loads a module by name (`importlib`) and one
/// that reads a data file: no import statement names app/plugins.py or tests/data.txt,
/// so only what the tests did can tell.
fn pytest_project_with_a_dynamic_import() -> Project {
    let p = Project::copy_of("affected-pytest");
    std::fs::write(p.dir.join("app/plugins.py"), "NAME = 'plugins'\n").unwrap();
    std::fs::write(
        p.dir.join("tests/test_dynamic.py"),
        "import importlib\n\n\ndef test_loads_a_plugin_by_name():\n    mod = importlib.import_module('app.' + 'plugins')\n    assert mod.NAME == 'plugins'\n",
    )
    .unwrap();
    std::fs::write(p.dir.join("tests/data.txt"), "42\n").unwrap();
    std::fs::write(
        p.dir.join("tests/test_data.py"),
        "import os\n\nHERE = os.path.dirname(__file__)\n\n\ndef test_reads_its_data():\n    with open(os.path.join(HERE, 'data.txt')) as f:\n        assert f.read().strip() == '42'\n",
    )
    .unwrap();
    git(&p.dir, &["add", "-A"]);
    git(&p.dir, &["commit", "-qm", "a plugin loaded by name"]);
    p
}

const DYNAMIC: &str = "tests/test_dynamic.py::test_loads_a_plugin_by_name";
const DATA: &str = "tests/test_data.py::test_reads_its_data";

#[test]
#[ignore = "needs TESTFLOW_PYTHON (tests/run-all.sh sets it)"]
fn pytest_coverage_contexts_record_what_the_import_scan_cannot_see() {
    let py = python();
    let p = pytest_project_with_a_dynamic_import();
    let run = |args: &[&str]| p.run_env(args, &[("TESTFLOW_PYTHON", &py)]);
    let decision_of = |id: &str| -> (bool, String) {
        let listed = p.cmd_env(
            &["list", "--affected", "--format", "json"],
            &[("TESTFLOW_PYTHON", &py)],
        );
        assert_eq!(listed.code, 0, "{}", listed.stderr);
        let d = listed_decisions(&listed);
        let (_, selected, rule) = d
            .into_iter()
            .find(|(t, ..)| t == id)
            .unwrap_or_else(|| panic!("{id} not listed: {}", listed.stdout));
        (selected, rule)
    };
    let unaffected = (false, "unaffected".to_owned());
    let changed = (true, "changed_dependency".to_owned());
    // The import scan alone (a plain --affected run records it): both edits are missed.
    assert_eq!(run(&["--affected"]).code, 0);
    append(&p, "app/plugins.py", "# edited\n");
    append(&p, "tests/data.txt", "\n");
    assert_eq!(decision_of(DYNAMIC), unaffected);
    assert_eq!(decision_of(DATA), unaffected);
    restore(&p);
    // A recording run (pytest-cov's test contexts, the files tests open): what each test
    // file used is kept, in the history and with the run.
    let recorded = run(&["--affected=record"]);
    assert_eq!(recorded.code, 0, "{}", recorded.stderr);
    assert_eq!(ran(&recorded).len(), 6);
    let deps: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            p.runs_dir()
                .join(&recorded.run().run_id)
                .join("affected-deps.json"),
        )
        .expect("affected-deps.json"),
    )
    .unwrap();
    let seen = deps
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["framework"] == "pytest:observed")
        .unwrap_or_else(|| panic!("{deps}"));
    let groups = seen["groups"].as_array().unwrap();
    let files_of = |file: &str| -> Vec<String> {
        let g = groups
            .iter()
            .find(|g| g[0] == file)
            .unwrap_or_else(|| panic!("{file}: {seen}"));
        serde_json::from_value(g[1].clone()).unwrap()
    };
    assert!(
        files_of("tests/test_dynamic.py").contains(&"app/plugins.py".to_owned()),
        "{seen}"
    );
    assert!(
        files_of("tests/test_data.py").contains(&"tests/data.txt".to_owned()),
        "{seen}"
    );
    // Nothing of it is left in the project or the run directory.
    assert!(!p.dir.join(".coverage").exists());
    let run_dir = p.runs_dir().join(&recorded.run().run_id);
    let left: Vec<String> = std::fs::read_dir(&run_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("pytest-reads") || n.starts_with(".coverage"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    append(&p, "app/plugins.py", "# edited\n");
    assert_eq!(decision_of(DYNAMIC), changed);
    assert_eq!(decision_of(DATA), unaffected);
    let out = run(&["--affected"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ran(&out), [DYNAMIC], "{:?}", decisions(&out));
    let a = out.run().affected.as_ref().unwrap();
    let why = a
        .groups
        .iter()
        .find(|g| g.group == "tests/test_dynamic.py")
        .unwrap();
    assert_eq!(why.files, ["app/plugins.py"]);
    restore(&p);
    // The data file a test reads.
    append(&p, "tests/data.txt", "\n");
    assert_eq!(decision_of(DATA), changed);
    assert_eq!(decision_of(DYNAMIC), unaffected);

    // `run --coverage` records the contexts too: after it, the first --affected run (which
    // records the scan, and selects everything) keeps what the tests executed as well.
    let q = pytest_project_with_a_dynamic_import();
    let covered = q.run_env(&["--coverage"], &[("TESTFLOW_PYTHON", &py)]);
    assert_eq!(covered.code, 0, "{}", covered.stderr);
    assert!(covered.run().coverage.is_some());
    assert_eq!(
        q.run_env(&["--affected"], &[("TESTFLOW_PYTHON", &py)]).code,
        0
    );
    append(&q, "app/plugins.py", "# edited\n");
    let listed = q.cmd_env(
        &["list", "--affected", "--format", "json"],
        &[("TESTFLOW_PYTHON", &py)],
    );
    assert!(
        listed_decisions(&listed).contains(&(
            DYNAMIC.to_owned(),
            true,
            "changed_dependency".to_owned()
        )),
        "{}",
        listed.stdout
    );
}

// ---- Jest (needs TESTFLOW_JEST_WORK: a directory with Jest and jest-testflow installed) -

/// A copy of affected-jest in a fresh git repository with `$TESTFLOW_JEST_WORK`'s
/// node_modules linked in.
fn jest_project() -> Project {
    let work: std::path::PathBuf = std::env::var_os("TESTFLOW_JEST_WORK")
        .filter(|p| !p.is_empty())
        .map(Into::into)
        .expect("set TESTFLOW_JEST_WORK to a directory with node_modules/{jest,jest-testflow} (tests/run-all.sh: target/jest-e2e)");
    let p = Project::copy_of("affected-jest");
    std::os::unix::fs::symlink(work.join("node_modules"), p.dir.join("node_modules"))
        .expect("link node_modules");
    p
}

#[test]
#[ignore = "needs TESTFLOW_JEST_WORK (tests/run-all.sh sets it)"]
fn jest_selects_through_find_related_tests() {
    let p = jest_project();
    let ci = Path::new("true");
    let run = |args: &[&str]| p.run_env(args, &[("CI", ci)]);
    let first = run(&["--affected"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(ran(&first).len(), 3);

    // A module: the test file Jest relates to it.
    append(&p, "src/math.js", "// edited\n");
    // `list --affected` agrees (each test under its file's decision).
    let listed = p.cmd_env(&["list", "--affected", "--format", "json"], &[("CI", ci)]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let selected: Vec<String> = listed_decisions(&listed)
        .into_iter()
        .filter(|(_, s, _)| *s)
        .map(|(id, _, _)| id)
        .collect();
    assert_eq!(selected, ["src/math.test.js#doubles"], "{}", listed.stdout);
    let out = run(&["--affected"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ran(&out), ["src/math.test.js#doubles"]);
    let math = decisions(&out);
    assert!(
        math.contains(&("src/math.test.js".into(), true, "changed_dependency".into())),
        "{math:?}"
    );
    assert!(
        math.contains(&("src/text.test.js".into(), false, "unaffected".into())),
        "{math:?}"
    );
    restore(&p);

    // A deleted module: Jest cannot tell who required it, so every file runs.
    std::fs::remove_file(p.dir.join("src/text.js")).unwrap();
    let out = run(&["--affected"]);
    assert_ne!(out.code, 0);
    assert!(
        decisions(&out)
            .iter()
            .all(|(_, s, r)| *s && r == "deleted_source")
    );
    restore(&p);

    // A failure is selected again on its own.
    let failing = p.run_env(&[], &[("CI", ci), ("AFFECTED_FAIL", Path::new("1"))]);
    assert_ne!(failing.code, 0);
    let out = run(&["--affected"]);
    assert_eq!(
        ran(&out),
        ["src/standalone.test.js#stands alone"],
        "{:?}",
        decisions(&out)
    );
}

#[test]
#[ignore = "needs TESTFLOW_JEST_WORK (tests/run-all.sh sets it)"]
fn jest_listing_that_fails_runs_every_jest_test_with_the_error() {
    let p = jest_project();
    let ci = Path::new("true");
    let first = p.run_env(&["--affected"], &[("CI", ci)]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    // Recorded: a change to src/math.js would select one file of three, but Jest cannot
    // list (the fixture's jest.config.js throws under `--listTests`): every test runs,
    // and the run says why, instead of failing as if the suite did not build.
    append(&p, "src/math.js", "// edited\n");
    let out = p.run_env(
        &["--affected"],
        &[("CI", ci), ("AFFECTED_BREAK_LISTING", Path::new("1"))],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        ran(&out),
        [
            "src/math.test.js#doubles",
            "src/standalone.test.js#stands alone",
            "src/text.test.js#shouts"
        ]
    );
    assert_eq!(
        decisions(&out),
        [("*".to_owned(), true, "selection_failed".to_owned())]
    );
    assert!(out.run().errors.is_empty(), "{:?}", out.run().errors);
    // The stored run.json holds Jest's own error, and what testflow did about it.
    let dir = p.runs_dir().join(&out.run().run_id);
    let stored: testflow::model::Run =
        serde_json::from_slice(&std::fs::read(dir.join("run.json")).expect("run.json")).unwrap();
    let a = stored.affected.as_ref().expect("run.json affected");
    assert_eq!(a.not_selected, 0);
    let reason = &a.groups[0].reason;
    assert!(
        reason.contains("Jest could not say which tests the changes affect"),
        "{reason}"
    );
    assert!(
        reason.contains("AFFECTED_BREAK_LISTING: this listing fails on purpose"),
        "{reason}"
    );
    assert!(reason.ends_with("every jest test runs"), "{reason}");
}

// ---- go (package grain) ------------------------------------------------------------

#[test]
fn go_changes_select_the_packages_whose_test_binaries_link_them() {
    let p = Project::copy_of("affected-go");
    let first = p.run(&["--affected"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let both = [
        "example.com/affected/high::TestQuadruple",
        "example.com/affected/low::TestDouble",
    ];
    assert_eq!(ran(&first), both);
    append(&p, "high/high_test.go", "// edited\n");
    // `list --affected` and `shard plan --affected` agree with the run (package grain).
    let listed = p.cmd(&["list", "--affected", "--format", "json"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert_eq!(
        listed_decisions(&listed),
        [
            (both[0].to_owned(), true, "changed_dependency".to_owned()),
            (both[1].to_owned(), false, "unaffected".to_owned()),
        ]
    );
    assert_eq!(planned_affected(&p).0, ["example.com/affected/high"]);
    let out = p.run(&["--affected"]);
    assert_eq!(
        ran(&out),
        ["example.com/affected/high::TestQuadruple"],
        "{:?}",
        decisions(&out)
    );
    restore(&p);
    append(&p, "low/low.go", "// edited\n");
    let out = p.run(&["--affected"]);
    assert_eq!(ran(&out), both, "{:?}", decisions(&out));
    restore(&p);
    let out = p.run(&["--affected"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(ran(&out).is_empty(), "{:?}", decisions(&out));
}

#[test]
fn go_changes_select_packages_in_the_module_that_holds_them() {
    let p = Project::copy_of("go-modules");
    let calc = "example.com/gomods/calc";
    let greet = "example.com/gomods/api/greet";
    let first = p.run(&["--affected"]);
    assert_eq!(first.code, 100, "{}", first.stderr);
    assert_eq!(ran(&first).len(), 7, "{:?}", ran(&first));
    // Nothing changed: only the package with last run's failure (services/api's).
    let out = p.run(&["--affected"]);
    assert!(
        ran(&out).iter().all(|id| id.starts_with(greet)),
        "{:?}",
        decisions(&out)
    );
    assert!(
        decisions(&out).contains(&(calc.to_owned(), false, "unaffected".to_owned())),
        "{:?}",
        decisions(&out)
    );
    // `list --affected` and `shard plan --affected` agree with the run, across modules.
    let listed_and_planned = || {
        let listed = p.cmd(&["list", "--affected", "--format", "json"]);
        assert_eq!(listed.code, 0, "{}", listed.stderr);
        (listed_decisions(&listed), planned_affected(&p).0)
    };
    let (listed, planned) = listed_and_planned();
    assert_eq!(listed.len(), 5, "{listed:?}");
    for (id, selected, rule) in &listed {
        let in_calc = id.starts_with(&format!("{calc}::"));
        assert_eq!(*selected, !in_calc, "{listed:?}");
        assert!(!in_calc || rule == "unaffected", "{listed:?}");
    }
    assert_eq!(planned, [greet]);
    // A change in go/ selects go/'s package again.
    append(&p, "go/calc.go", "// edited\n");
    let (listed, planned) = listed_and_planned();
    assert!(
        listed.iter().all(|(_, selected, _)| *selected),
        "{listed:?}"
    );
    assert!(
        listed
            .iter()
            .filter(|(id, ..)| id.starts_with(&format!("{calc}::")))
            .all(|(_, _, rule)| rule == "changed_dependency"),
        "{listed:?}"
    );
    assert_eq!(planned, [greet, calc]); // sorted
    let out = p.run(&["--affected"]);
    assert_eq!(ran(&out), ran(&first), "{:?}", decisions(&out));
    assert!(
        decisions(&out).contains(&(calc.to_owned(), true, "changed_dependency".to_owned())),
        "{:?}",
        decisions(&out)
    );
}

// ---- Vitest and Playwright (each runner's own graph; need their run-all.sh installs) ---

/// A copy of `fixture` in a fresh git repository with the node_modules of `$var` (a
/// directory with the runner and jest-testflow installed) linked in.
fn node_project(fixture: &str, var: &str) -> Project {
    let work: std::path::PathBuf = std::env::var_os(var)
        .filter(|p| !p.is_empty())
        .map(Into::into)
        .unwrap_or_else(|| panic!("set {var} to a directory with the runner and jest-testflow in node_modules (tests/run-all.sh sets it)"));
    let modules = work.join("node_modules");
    assert!(
        modules.join("jest-testflow").exists(),
        "{} has no jest-testflow",
        modules.display()
    );
    let p = Project::copy_of(fixture);
    std::os::unix::fs::symlink(&modules, p.dir.join("node_modules")).expect("link node_modules");
    p
}

/// The shared script of the Vitest and Playwright cases (record, select, observe):
/// `math` is the test file whose module reaches src/round.js (through src/math.js), `text`
/// the one requiring src/text.js; `framework` the runner's name in the decisions.
fn node_runner_selects(p: &Project, framework: &str, math: &str, text: &str, standalone: &str) {
    let ci = Path::new("true");
    let run = |args: &[&str]| p.run_env(args, &[("CI", ci)]);
    let all = sorted(&[math, text, standalone]);
    let file = |id: &str| id.split('#').next().unwrap().to_owned();

    // Record mode (a default branch's pipeline): everything runs, and the runner's
    // answer is recorded, in the history and with the run (for `merge`).
    let first = run(&["--affected=record"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(ran(&first), all, "{:?}", decisions(&first));
    let a = first.run().affected.as_ref().unwrap();
    assert_eq!((a.mode.as_str(), a.not_selected), ("record", 0));
    let deps: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            p.runs_dir()
                .join(&first.run().run_id)
                .join("affected-deps.json"),
        )
        .expect("affected-deps.json"),
    )
    .unwrap();
    assert_eq!(deps[0]["framework"], framework, "{deps}");
    let mut files: Vec<&str> = deps[0]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g[0].as_str().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, all.iter().map(|t| file(t)).collect::<Vec<_>>());

    // A module two imports away: the test file the runner's graph relates to it.
    append(p, "src/round.js", "// edited\n");
    let out = run(&["--affected", "--explain"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ran(&out), [math], "{:?}", decisions(&out));
    let d = decisions(&out);
    assert!(
        d.contains(&(file(math), true, "changed_dependency".into())),
        "{d:?}"
    );
    assert!(
        d.contains(&(file(text), false, "unaffected".into())),
        "{d:?}"
    );
    let a = out.run().affected.as_ref().unwrap();
    assert_eq!(a.not_selected, 2, "two files not selected");
    assert!(
        a.groups.iter().all(|g| g.framework.as_str() == framework),
        "{:?}",
        a.groups
    );
    assert!(
        out.stderr
            .contains(&format!("not selected {framework} {}", file(text))),
        "--explain names the file not selected:\n{}",
        out.stderr
    );
    restore(p);

    // A failure is selected again on its own (the rule is shared: Vitest only, to keep
    // the test short).
    if framework == "vitest" {
        let failing = p.run_env(&[], &[("CI", ci), ("AFFECTED_FAIL", Path::new("1"))]);
        assert_ne!(failing.code, 0, "{}", failing.stderr);
        let out = run(&["--affected"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(ran(&out), [standalone], "{:?}", decisions(&out));
        assert!(
            decisions(&out).contains(&(file(standalone), true, "failed_last_run".into())),
            "{:?}",
            decisions(&out)
        );
    }

    // --changed paths (watch mode), no git revision: Vitest's graph takes them as given;
    // Playwright's --only-changed takes HEAD, git's changes since it holding them all
    // (when they do not, it cannot be asked: see playwright's unit tests).
    if framework == "playwright" {
        append(p, "src/round.js", "// edited\n");
    }
    let out = run(&["--affected", "--changed", "src/round.js"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ran(&out), [math], "{:?}", decisions(&out));
    assert!(
        decisions(&out).contains(&(file(math), true, "changed_dependency".into())),
        "{:?}",
        decisions(&out)
    );
    restore(p);

    // Observation mode: everything runs, and the record says what the selection would
    // have run; a failure it would have left out is counted as missed.
    append(p, "src/round.js", "// edited\n");
    let out = p.run_env(
        &["--affected=observe"],
        &[("CI", ci), ("AFFECTED_FAIL", Path::new("1"))],
    );
    assert_ne!(out.code, 0, "a failure fails the run: {}", out.stderr);
    assert_eq!(ran(&out), all, "{:?}", decisions(&out));
    let d = decisions(&out);
    assert!(
        d.contains(&(file(math), true, "changed_dependency".into())),
        "{d:?}"
    );
    assert!(
        d.contains(&(file(standalone), false, "unaffected".into())),
        "{d:?}"
    );
    let a = out.run().affected.as_ref().unwrap();
    assert_eq!((a.mode.as_str(), a.not_selected), ("observe", 0));
    assert_eq!(a.missed, [standalone]);
    let report = p.cmd(&["history", "selection", "--format", "json"]);
    assert_eq!(report.code, 0, "{}", report.stderr);
    let v: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    assert_eq!(v["tests"], 3, "{v}");
    assert_eq!(v["would_skip"], 2, "{v}");
    assert_eq!(v["missed"], 1, "{v}");
    restore(p);

    // A lockfile: everything runs.
    std::fs::write(p.dir.join("package-lock.json"), "{}\n").unwrap();
    let out = run(&["--affected"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ran(&out), all);
    assert!(
        decisions(&out)
            .iter()
            .all(|(_, s, r)| *s && r == "full_run"),
        "{:?}",
        decisions(&out)
    );
    std::fs::remove_file(p.dir.join("package-lock.json")).unwrap();

    // A deleted module: no graph can say who imported it, so every file runs (the one
    // that imported it then fails to load; Playwright then runs no other file).
    std::fs::remove_file(p.dir.join("src/text.js")).unwrap();
    let out = run(&["--affected"]);
    assert_ne!(out.code, 0, "{}", out.stderr);
    let d = decisions(&out);
    assert!(
        !d.is_empty() && d.iter().all(|(_, s, r)| *s && r == "deleted_source"),
        "{d:?}"
    );
    let ids = ran(&out);
    assert!(ids.iter().any(|i| i.starts_with(&file(text))), "{ids:?}");
    if framework == "vitest" {
        assert!(
            ids.contains(&math.to_owned()) && ids.contains(&standalone.to_owned()),
            "{ids:?}"
        );
    }
}

#[test]
#[ignore = "needs TESTFLOW_VITEST_WORK (tests/run-all.sh sets it)"]
fn vitest_selects_through_its_own_module_graph() {
    let p = node_project("affected-vitest", "TESTFLOW_VITEST_WORK");
    node_runner_selects(
        &p,
        "vitest",
        "src/math.test.js#doubles",
        "src/text.test.js#shouts",
        "src/standalone.test.js#stands alone",
    );
}

#[test]
#[ignore = "needs TESTFLOW_PLAYWRIGHT_WORK (tests/run-all.sh sets it)"]
fn playwright_selects_through_its_own_dependency_graph() {
    let p = node_project("affected-playwright", "TESTFLOW_PLAYWRIGHT_WORK");
    node_runner_selects(
        &p,
        "playwright",
        "tests/math.spec.js#doubles",
        "tests/text.spec.js#shouts",
        "tests/standalone.spec.js#stands alone",
    );
}
