//! `cargo testflow coverage gaps` on `tests/fixtures/coverage-gaps` (ranking in its
//! EXPECTED.md).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::{BIN, fixture_dir, repo_root};

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `cargo testflow coverage gaps ARGS…` run in `cwd`.
fn gaps(cwd: &Path, args: &[&str]) -> Out {
    let out = Command::new(BIN)
        .args(["testflow", "coverage", "gaps"])
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run cargo-testflow");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json(out: &Out) -> serde_json::Value {
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

#[test]
fn json_ranks_the_fixture_functions() {
    let dir = fixture_dir("coverage-gaps");
    let v = json(&gaps(&dir, &["lcov.info", "--format", "json"]));
    let names: Vec<&str> = v["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["function"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Cart.checkout",
            "Basket.sum",
            "text::shout",
            "Stack::pop_or",
            "retry",
            "clamp",
            "total",
            "parse",
            "price",
            "Stack::default",
            "text::shout::bang",
            "unused",
            "Cart.checkout.receipt",
            "fmt",
            "Base.describe",
        ]
    );
    assert_eq!(
        v["gaps"][0],
        serde_json::json!({
            "file": "app/shop.py",
            "function": "Cart.checkout",
            "language": "python",
            "start_line": 21,
            "end_line": 30,
            "complexity": 3,
            "missed_lines": 6,
            "coverable_lines": 7,
            "missed_ranges": "25-30",
            "priority": 18,
        })
    );
    assert_eq!(v["gaps"][2]["missed_ranges"], "36-37, 41-42");
    assert_eq!(v["gaps"][2]["language"], "rust");
    assert_eq!(v["files_analyzed"], 4);
    assert_eq!(v["functions_analyzed"], 20);
    assert_eq!(v["skipped"], serde_json::json!([]));

    let top = json(&gaps(
        &dir,
        &["lcov.info", "--format", "json", "--limit", "3"],
    ));
    assert_eq!(top["gaps"].as_array().unwrap().len(), 3);
}

#[test]
fn human_table_from_another_directory() {
    let dir = fixture_dir("coverage-gaps");
    let lcov = dir.join("lcov.info");
    let out = gaps(
        &repo_root(),
        &[lcov.to_str().unwrap(), "--project", dir.to_str().unwrap()],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        " #  priority  missed  cx  location          function               missed lines"
    );
    assert_eq!(
        lines[1],
        " 1        18     6/7   3  app/shop.py:21    Cart.checkout          25-30"
    );
    assert_eq!(
        lines[15],
        "15         1     1/1   1  web/util.ts:7     Base.describe          8"
    );
    assert_eq!(
        out.stdout.lines().last(),
        Some("15 gaps in 20 functions of 4 files (priority = missed lines × complexity)")
    );
    assert!(!out.stdout.contains("note:"), "{}", out.stdout);
}

#[test]
fn a_missing_source_file_is_skipped_and_reported() {
    let dir = fixture_dir("coverage-gaps");
    let v = json(&gaps(&dir, &["lcov-missing.info", "--format", "json"]));
    assert_eq!(v["gaps"].as_array().unwrap().len(), 1);
    assert_eq!(v["gaps"][0]["function"], "total");
    assert_eq!(v["skipped"][0]["file"], "app/gone.py");
    assert_eq!(v["skipped"][0]["reason"], "unreadable");
    assert!(
        v["skipped"][0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("cannot read source: "),
        "{}",
        v["skipped"][0]
    );
    assert_eq!(v["skipped"][1]["file"], "tools/build.go");
    assert_eq!(v["skipped"][1]["reason"], "unknown_language");

    let out = gaps(&dir, &["lcov-missing.info"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let note = out.stdout.lines().last().unwrap();
    assert!(
        note.starts_with("note: skipped 2 files: app/gone.py (cannot read source: ")
            && note.ends_with("tools/build.go (unknown language (.go))"),
        "{}",
        out.stdout
    );
}

#[test]
fn without_report_files_the_latest_run_is_used() {
    // No report files and no runs: the error says what to do.
    let empty = tempfile::tempdir().unwrap();
    let out = gaps(empty.path(), &[]);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("no runs recorded yet") && out.stderr.contains("cargo testflow run"),
        "{}",
        out.stderr
    );
    let out = gaps(&fixture_dir("coverage-gaps"), &["no-such.info"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot read no-such.info"),
        "{}",
        out.stderr
    );
}
