//! What survives when testflow itself dies or is stopped: SIGKILL and Ctrl-C mid-run
//! (the log is folded, the test processes die too), a log cut mid-line, and the
//! whole-run time limit.

use std::process::{Child, Stdio};
use std::time::Duration;

use testflow::model::{Category, Outcome};

use crate::util::{Project, RunExt, failure, live_processes, wait_until};

/// rust-basic without its `[[timeout]]` rule for `hangs` (testflow.toml), so `hangs`
/// runs until these tests stop it (the rule wins over `--test-timeout`). A copy builds
/// into its own target dir, so this costs one build of the fixture per test.
fn rust_basic_where_hangs_hangs() -> Project {
    let mut p = Project::copy_of("rust-basic");
    std::fs::remove_file(p.dir.join("testflow.toml")).expect("the fixture has a testflow.toml");
    p.no_flaky_dir = false;
    p
}

/// Start `run ARGS…` and wait until the log says `hangs` started; returns the child
/// and the pids of the `hangs` test processes it started.
fn start_until_hangs_runs(p: &Project, args: &[&str]) -> (Child, Vec<i32>) {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    let mut child = p
        .command(&all)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cargo-testflow");
    let started = wait_until(Duration::from_secs(120), || {
        p.run_dirs().iter().any(|d| {
            std::fs::read_to_string(d.join("events.jsonl")).is_ok_and(|log| {
                log.lines().any(|l| {
                    l.contains(r#""event":"test_started""#)
                        && l.contains(r#""id":"calc::integ$hangs""#)
                })
            })
        })
    });
    if !started {
        let _ = child.kill();
        panic!("hangs never started");
    }
    let mut pids = vec![];
    assert!(
        wait_until(Duration::from_secs(60), || {
            pids = live_processes(p.testflow_dir.path(), &["--exact", "hangs"]);
            !pids.is_empty()
        }),
        "no process running hangs"
    );
    (child, pids)
}

fn assert_gone(p: &Project, pids: &[i32]) {
    let gone = wait_until(Duration::from_secs(60), || {
        live_processes(p.testflow_dir.path(), &["--exact", "hangs"]).is_empty()
    });
    assert!(gone, "the hangs test process outlived testflow: {pids:?}");
}

#[test]
fn sigkill_mid_run_leaves_a_log_that_names_the_running_test() {
    let p = rust_basic_where_hangs_hangs();
    let (mut child, pids) =
        start_until_hangs_runs(&p, &["--test-timeout", "60", "--no-doc", "hangs"]);
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGKILL) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    // PDEATHSIG: the test dies with testflow.
    assert_gone(&p, &pids);

    let dir = p.the_run_dir();
    assert!(
        !dir.join("run.json").exists(),
        "a killed run writes no run.json"
    );
    let out = p.report_json("latest");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = out.run();
    assert!(!run.completed);
    assert_eq!(run.finished_at, None);
    assert_eq!(run.ids(), ["calc::integ$hangs"]);
    let t = run.test("calc::integ$hangs");
    assert_eq!(t.outcome, Outcome::Crashed);
    let f = failure(t);
    assert_eq!(f.category, Category::Crash);
    assert!(
        f.message.starts_with("started but never finished"),
        "{}",
        f.message
    );
    assert_eq!(run.summary.crashed, 1);
    assert!(
        run.errors.iter().any(|e| e.kind == "incomplete"),
        "{:?}",
        run.errors
    );
}

#[test]
fn ctrl_c_keeps_what_finished_and_stops_the_running_test() {
    let p = rust_basic_where_hangs_hangs();
    // -j 1, listing order: aborts and flaky_first_attempt finish before hangs starts,
    // integ_passes never starts.
    let (mut child, pids) = start_until_hangs_runs(
        &p,
        &[
            "--test-timeout",
            "60",
            "--no-doc",
            "-j",
            "1",
            "aborts",
            "flaky_first_attempt",
            "hangs",
            "integ_passes",
        ],
    );
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let finished = wait_until(Duration::from_secs(120), || {
        child.try_wait().unwrap().is_some()
    });
    if !finished {
        let _ = child.kill();
        panic!("testflow did not stop on Ctrl-C");
    }
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert_gone(&p, &pids);

    let dir = p.the_run_dir();
    let run: testflow::model::Run =
        serde_json::from_slice(&std::fs::read(dir.join("run.json")).expect("run.json written"))
            .unwrap();
    assert!(!run.completed);
    assert!(run.finished_at.is_some());
    assert_eq!(
        run.ids(),
        [
            "calc::integ$aborts",
            "calc::integ$flaky_first_attempt",
            "calc::integ$hangs"
        ]
    );
    assert_eq!(run.test("calc::integ$aborts").outcome, Outcome::Crashed);
    // FLAKY_DIR is set and there are no retries: its first (only) attempt fails.
    assert_eq!(
        run.test("calc::integ$flaky_first_attempt").outcome,
        Outcome::Failed
    );
    // A test cut short by Ctrl-C is skipped with category `interrupted` (docs/schema.md).
    let t = run.test("calc::integ$hangs");
    assert_eq!(t.outcome, Outcome::Skipped);
    assert_eq!(failure(t).category, Category::Interrupted);
    // `report` reads the same run back.
    assert_eq!(p.report_json("latest").run(), &run);
}

#[test]
fn a_log_cut_mid_line_still_loads_with_a_warning() {
    let p = Project::new("rust-basic");
    let out = p.run(&["--no-doc", "passes"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let dir = p.the_run_dir();
    let log = dir.join("events.jsonl");
    let mut text = std::fs::read(&log).unwrap();
    text.extend_from_slice(br#"{"event":"test_finished","time":"2026-01-0"#);
    std::fs::write(&log, &text).unwrap();
    std::fs::remove_file(dir.join("run.json")).unwrap();

    let folded = p.report_json(dir.to_str().unwrap());
    assert_eq!(folded.code, 0, "{}", folded.stderr);
    assert!(
        folded.stderr.contains("warning: ")
            && folded.stderr.contains("events.jsonl:")
            && folded.stderr.contains("last line is truncated"),
        "{}",
        folded.stderr
    );
    let run = folded.run();
    let original = out.run();
    // Everything before the cut is kept; the cut line may have been any event (a failure
    // included), so the run fails closed: `log_damaged`, not completed, gate fails.
    assert_eq!(run.tests, original.tests);
    assert_eq!(run.summary, original.summary);
    assert!(!run.completed, "a damaged log is never a completed run");
    assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
    assert_eq!(run.errors[0].kind, "log_damaged");
    assert!(run.errors[0].message.contains("last line is truncated"));
    let gate = p.cmd(&["gate", "--run", dir.to_str().unwrap()]);
    assert_eq!(gate.code, 3, "{}", gate.stderr);
    assert!(gate.stdout.contains("no_run_errors"), "{}", gate.stdout);
}

#[test]
fn the_run_time_limit_times_out_the_running_test() {
    let p = rust_basic_where_hangs_hangs();
    let out = p.run(&["--timeout", "2", "hangs"]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    let run = out.run();
    assert!(!run.completed);
    assert_eq!(run.ids(), ["calc::integ$hangs"]);
    let t = run.test("calc::integ$hangs");
    assert_eq!(t.outcome, Outcome::Timeout);
    let f = failure(t);
    assert_eq!(f.category, Category::Timeout);
    assert_eq!(
        f.message,
        "still running when the run's time limit of 2s was reached; killed"
    );
    assert_eq!(run.summary.timeout, 1);
}
