//! The slow-test notice (rust-slow): a test running past `--slow-timeout` is named on
//! the terminal, and nothing is recorded for it. The fixture test runs until this test
//! creates a file, which it does only once the notice has appeared: no timing involved.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

use crate::util::{Project, RunExt};

#[test]
fn a_test_past_the_slow_timeout_is_named_once_per_period_and_not_recorded() {
    let p = Project::new("rust-slow");
    for isolation in ["process", "binary"] {
        let dir = tempfile::tempdir().unwrap();
        let release = dir.path().join("release");
        let mut cmd = p.command(&[
            "run",
            "--format",
            "json",
            "--slow-timeout",
            "1",
            // Bounds the run should the notice never come (then this test fails).
            "--test-timeout",
            "600",
            "--isolation",
            isolation,
        ]);
        cmd.env("RELEASE_FILE", &release)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start cargo-testflow");
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            stdout.read_to_string(&mut s).unwrap();
            s
        });
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut seen = Vec::new();
        let mut notice = None;
        let mut line = String::new();
        while stderr.read_line(&mut line).unwrap() > 0 {
            seen.push(line.clone());
            if line.contains("SLOW") && notice.is_none() {
                notice = Some(line.clone());
                std::fs::write(&release, "").unwrap();
            }
            line.clear();
        }
        let status = child.wait().unwrap();
        let stdout = reader.join().unwrap();
        let notice =
            notice.unwrap_or_else(|| panic!("no SLOW line ({isolation}):\n{}", seen.concat()));
        assert_eq!(
            notice.trim_end(),
            "   SLOW [>   1.000s] slow$tests::waits_for_release",
            "{isolation}"
        );
        assert_eq!(status.code(), Some(0), "{isolation}: {}", seen.concat());
        let run: testflow::model::Run = serde_json::from_str(&stdout).expect("a Run");
        let t = run.test("slow$tests::waits_for_release");
        assert_eq!(t.outcome.as_str(), "passed");
        assert_eq!(t.attempts.len(), 1);
        assert!(t.failure.is_none());
        assert!(run.errors.is_empty(), "{:?}", run.errors);
        // The event log has no event of its own for the notice.
        let events =
            std::fs::read_to_string(p.run_dirs().last().expect("a run dir").join("events.jsonl"))
                .unwrap();
        let mut kinds: Vec<String> = events
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["event"].to_string())
            .collect();
        kinds.sort();
        kinds.dedup();
        assert_eq!(
            kinds,
            [
                "\"git\"",
                "\"run_finished\"",
                "\"run_started\"",
                "\"test_finished\"",
                "\"test_started\""
            ],
            "{isolation}"
        );
    }
}
