//! GitHub Actions annotations from `run` and `merge` on rust-basic (GITHUB_ACTIONS=true).

use std::path::Path;

use testflow::annotations::escape_property;
use testflow::model::Run;

use crate::util::{HANG_LIMIT, Output, Project};

fn on_github(p: &Project, args: &[&str], summary: &Path, extra: &[(&str, &str)]) -> Output {
    let mut cmd = p.command(args);
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", summary);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run cargo-testflow");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    Output {
        code: out.status.code().unwrap_or(-1),
        run: serde_json::from_str::<Run>(&stdout).ok(),
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn errors(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("::error ")).collect()
}

#[test]
fn failures_are_annotated_with_file_and_line_within_the_step_limit_and_the_rest_counted() {
    let p = Project::new("rust-basic").without_flaky_dir();
    let tmp = tempfile::tempdir().unwrap();
    let summary = tmp.path().join("summary.md");
    // --format json: stdout stays the Run, the workflow commands go to stderr.
    let out = on_github(
        &p,
        &["run", "--test-timeout", HANG_LIMIT, "--format", "json"],
        &summary,
        &[],
    );
    assert_eq!(out.code, 100, "{}", out.stderr);
    let run = out.run();
    assert!(errors(&out.stdout).is_empty());
    let annotated = errors(&out.stderr);
    let failing: Vec<_> = run.failed_tests().collect();
    assert_eq!(annotated.len(), failing.len().min(10), "{}", out.stderr);
    for line in &annotated {
        assert!(line.contains("file=") && line.contains(",line="), "{line}");
        assert!(line.contains(",title="), "{line}");
    }
    // Every annotated test is a failing one, named in the title.
    for line in &annotated {
        assert!(
            failing.iter().any(|t| line.contains(
                &escape_property(&format!(
                    "title={} {}",
                    t.outcome.as_str().to_uppercase(),
                    t.id
                ))
                .replacen("title%3D", "title=", 1)
            )),
            "{line}"
        );
    }
    // rust-basic has more failures than GitHub shows per step: the rest are counted.
    assert!(
        failing.len() > 10,
        "the fixture must exceed the limit: {}",
        failing.len()
    );
    let text = std::fs::read_to_string(&summary).expect("step summary written");
    assert!(
        text.contains(&format!("{} more failure", failing.len() - 10)),
        "{text}"
    );

    // Human output: the commands are on stdout, where the runner reads them.
    let out = on_github(&p, &["run", "--test-timeout", HANG_LIMIT], &summary, &[]);
    assert_eq!(errors(&out.stdout).len(), annotated.len(), "{}", out.stdout);
    // Turned off.
    let out = on_github(
        &p,
        &["run", "--test-timeout", HANG_LIMIT],
        &summary,
        &[("TESTFLOW_ANNOTATIONS", "never")],
    );
    assert!(errors(&out.stdout).is_empty() && errors(&out.stderr).is_empty());
}

#[test]
fn shards_leave_annotations_to_merge_which_annotates_once() {
    let p = Project::new("rust-basic").without_flaky_dir();
    let tmp = tempfile::tempdir().unwrap();
    let summary = tmp.path().join("summary.md");
    let mut ids = Vec::new();
    let mut failing = 0;
    for k in 1..=2 {
        let shard = format!("{k}/2");
        let out = on_github(
            &p,
            &[
                "run",
                "--test-timeout",
                HANG_LIMIT,
                "--shard",
                &shard,
                "--format",
                "json",
            ],
            &summary,
            &[],
        );
        assert!(
            errors(&out.stderr).is_empty() && errors(&out.stdout).is_empty(),
            "shard {k}: {}",
            out.stderr
        );
        let run = out.run();
        failing += run.failed_tests().count();
        ids.push(run.run_id.clone());
    }
    let merged_dir = tmp.path().join("merged");
    let mut args = vec!["merge"];
    args.extend(ids.iter().map(String::as_str));
    args.extend(["-o", merged_dir.to_str().unwrap()]);
    let out = on_github(&p, &args, &summary, &[]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    assert_eq!(errors(&out.stdout).len(), failing.min(10), "{}", out.stdout);
}
