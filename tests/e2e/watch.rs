//! `cargo testflow watch` on a copy of rust-slow (its `waits_for_release` test runs until
//! the file named by RELEASE_FILE exists). Nothing here waits for time: each test reads
//! watch's `--format json` lines and waits for the event it needs; the only clock is a
//! generous guard against a hang.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{BIN, Project};

/// Only against hangs: no event takes this long on any machine.
const GUARD: Duration = Duration::from_secs(300);

/// A running `watch --format json`.
struct Watching {
    child: Child,
    stdin: Option<ChildStdin>,
    events: Receiver<Value>,
    seen: Vec<Value>,
    stderr: Arc<Mutex<String>>,
}

impl Watching {
    fn start(p: &Project, args: &[&str], env: &[(&str, &Path)]) -> Watching {
        Watching::start_of(p, Path::new(BIN), args, env)
    }

    /// Watch run by `program` (a copy of the binary).
    fn start_of(p: &Project, program: &Path, args: &[&str], env: &[(&str, &Path)]) -> Watching {
        let mut cmd = p.command_of(program, &[&["watch", "--format", "json"], args].concat());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start cargo-testflow watch");
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let into = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    return;
                }
                into.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Watching {
            stdin: child.stdin.take(),
            child,
            events,
            seen: Vec::new(),
            stderr,
        }
    }

    fn context(&self) -> String {
        let seen: Vec<String> = self.seen.iter().map(Value::to_string).collect();
        format!(
            "events so far:\n{}\nstderr:\n{}",
            seen.join("\n"),
            self.stderr.lock().unwrap()
        )
    }

    /// The next event of this kind (the ones before it are kept in `seen`).
    fn next(&mut self, kind: &str) -> Value {
        let until = Instant::now() + GUARD;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if v["event"] == kind {
                        return v;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no {kind} event within the guard; {}", self.context())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("watch ended before a {kind} event; {}", self.context())
                }
            }
        }
    }

    /// Every event since `from` (an index into `seen`) of this kind.
    fn seen_since(&self, from: usize, kind: &str) -> Vec<&Value> {
        self.seen[from..]
            .iter()
            .filter(|v| v["event"] == kind)
            .collect()
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Wait for watch to end (its stdout closes); its exit code.
    fn exit_code(&mut self) -> i32 {
        let until = Instant::now() + GUARD;
        loop {
            match self
                .events
                .recv_timeout(until.saturating_duration_since(Instant::now()))
            {
                Ok(v) => self.seen.push(v),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("watch did not end; {}", self.context())
                }
            }
        }
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        // A failed test must not leave watch running (its round stops with it).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn edit(p: &Project, rel: &str) {
    let path = p.dir.join(rel);
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    text.push_str(if rel.ends_with(".toml") {
        "\n# edited\n"
    } else {
        "\n// edited\n"
    });
    std::fs::write(path, text).unwrap();
}

fn write(p: &Project, rel: &str) {
    let path = p.dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, "x").unwrap();
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn an_edit_starts_a_round_naming_it_and_q_while_idle_stops() {
    let p = Project::copy_of("rust-slow");
    let mut w = Watching::start(&p, &["--all"], &[]);
    let watching = w.next("watching");
    assert_eq!(watching["mode"], "all");
    assert!(watching["files"].as_u64().unwrap() >= 2, "{watching}");
    let first = w.next("round_started");
    assert_eq!(first["round"], 1);
    assert_eq!(first["all"], true);
    let cmd = strings(&first["command"]);
    assert!(
        cmd.windows(2).any(|a| a == ["--order", "failed-first"]),
        "{cmd:?}"
    );
    assert!(!cmd.iter().any(|a| a == "--affected"), "{cmd:?}");
    let done = w.next("round_finished");
    assert_eq!(done["round"], 1, "{}", w.context());
    assert_eq!(done["exit_code"], 0, "{}", w.context());
    assert_eq!(done["summary"]["passed"], 2);
    assert_eq!(done["run_errors"], 0);

    edit(&p, "src/lib.rs");
    let second = w.next("round_started");
    assert_eq!(second["round"], 2);
    assert_eq!(strings(&second["changed"]), ["src/lib.rs"]);
    let done = w.next("round_finished");
    assert_eq!(done["round"], 2);
    assert_eq!(done["exit_code"], 0, "{}", w.context());
    assert_ne!(
        done["run_id"],
        w.seen_since(0, "round_finished")[0]["run_id"],
        "each round records its own run"
    );

    w.send("q");
    let stopped = w.next("stopped");
    assert_eq!(stopped["reason"], "quit");
    assert_eq!(stopped["exit_code"], 0);
    assert_eq!(w.exit_code(), 0);
}

#[test]
fn a_change_during_a_round_cancels_it_and_the_next_round_runs() {
    let p = Project::copy_of("rust-slow");
    let outside = tempfile::tempdir().unwrap();
    let release = outside.path().join("release");
    let mut w = Watching::start(&p, &["--all"], &[("RELEASE_FILE", &release)]);
    assert_eq!(w.next("round_started")["round"], 1);
    // Round 1 cannot end: its test waits for the release file.
    edit(&p, "src/lib.rs");
    let cancelled = w.next("round_cancelled");
    assert_eq!(cancelled["round"], 1);
    // Interrupted like Ctrl-C (130), or by SIGINT itself before its handler was in place.
    assert!(
        cancelled["exit_code"] == 130 || cancelled["signal"] == 2,
        "{cancelled}"
    );
    let next = w.next("round_started");
    assert_eq!(next["round"], 2);
    assert_eq!(strings(&next["changed"]), ["src/lib.rs"]);
    assert!(
        w.seen_since(0, "round_finished").is_empty(),
        "round 1 never finished: {}",
        w.context()
    );
    std::fs::write(&release, "").unwrap();
    let done = w.next("round_finished");
    assert_eq!(done["round"], 2);
    assert_eq!(done["exit_code"], 0, "{}", w.context());
    assert_eq!(done["summary"]["passed"], 2);
    w.send("q");
    assert_eq!(w.next("stopped")["reason"], "quit");
    assert_eq!(w.exit_code(), 0);
}

#[test]
fn q_during_a_round_stops_it_then_watch_exits_0() {
    let p = Project::copy_of("rust-slow");
    let outside = tempfile::tempdir().unwrap();
    let release = outside.path().join("release");
    let mut w = Watching::start(&p, &["--all"], &[("RELEASE_FILE", &release)]);
    assert_eq!(w.next("round_started")["round"], 1);
    w.send("q");
    let cancelled = w.next("round_cancelled");
    assert_eq!(cancelled["round"], 1);
    let stopped = w.next("stopped");
    assert_eq!(stopped["reason"], "quit");
    assert_eq!(w.exit_code(), 0);
    assert!(
        !w.seen
            .iter()
            .any(|v| v["event"] == "round_started" && v["round"] == 2)
    );
}

#[test]
fn build_output_caches_editor_files_and_git_ignored_paths_are_no_change() {
    let p = Project::copy_of("rust-slow");
    std::fs::write(p.dir.join(".gitignore"), "*.log\n").unwrap();
    let mut w = Watching::start(&p, &["--all"], &[]);
    assert_eq!(w.next("round_finished")["exit_code"], 0, "{}", w.context());
    for ignored in [
        "target/debug/out.rs",
        "node_modules/pkg/index.js",
        ".testflow/runs/x/events.jsonl",
        "src/__pycache__/m.cpython-312.pyc",
        ".pytest_cache/v/cache/lastfailed",
        "src/.lib.rs.swp",
        "src/lib.rs~",
        "src/4913",
        "src/.#lib.rs",
        "build.log",
        ".git/testflow-probe",
    ] {
        write(&p, ignored);
    }
    edit(&p, "src/lib.rs");
    // Had any of those counted, it would be in this round, or in a round before it.
    let next = w.next("round_started");
    assert_eq!(next["round"], 2, "{}", w.context());
    assert_eq!(strings(&next["changed"]), ["src/lib.rs"], "{}", w.context());
    assert_eq!(w.next("round_finished")["exit_code"], 0);

    // A new directory is watched, and the file already in it counts.
    write(&p, "src/extra/deep/more.rs");
    let next = w.next("round_started");
    assert_eq!(next["round"], 3);
    assert_eq!(strings(&next["changed"]), ["src/extra/deep/more.rs"]);
    w.next("round_finished");
    w.send("q");
    assert_eq!(w.exit_code(), 0);
}

#[test]
fn run_options_are_checked_before_watching_and_a_missing_project_is_exit_2() {
    let cases: [(&[&str], &str); 6] = [
        (&["--project", "/no/such/dir"], "cannot watch /no/such/dir"),
        (
            &["--", "--affected"],
            "watch passes --affected and --changed",
        ),
        (
            &["--", "-p", "x", "--changed=a.rs"],
            "watch passes --affected and --changed",
        ),
        (
            &["--", "--format", "json"],
            "--format is watch's own option",
        ),
        (&["--", "--project", "."], "--project is watch's own option"),
        (&["--", "--no-such-flag"], "the run options after `--`"),
    ];
    for (args, says) in cases {
        let out = std::process::Command::new(BIN)
            .arg("testflow")
            .arg("watch")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

// The default mode runs `run --affected --changed PATH…`, which the affected-tests
// branch adds to `run`.

#[test]
fn affected_mode_runs_the_affected_tests_of_the_changed_paths() {
    let p = Project::copy_of("rust-slow");
    let mut w = Watching::start(&p, &[], &[]);
    assert_eq!(w.next("watching")["mode"], "affected");
    let first = w.next("round_started");
    let cmd = strings(&first["command"]);
    assert!(cmd.iter().any(|a| a == "--affected"), "{cmd:?}");
    assert!(!cmd.iter().any(|a| a == "--changed"), "{cmd:?}");
    assert_eq!(first["all"], false);
    assert_eq!(w.next("round_finished")["exit_code"], 0, "{}", w.context());

    edit(&p, "src/lib.rs");
    let next = w.next("round_started");
    assert_eq!(strings(&next["changed"]), ["src/lib.rs"]);
    let cmd = strings(&next["command"]);
    assert!(
        cmd.windows(3)
            .any(|a| a == ["--affected", "--changed", "src/lib.rs"]),
        "{cmd:?}"
    );
    let done = w.next("round_finished");
    assert_eq!(done["exit_code"], 0, "{}", w.context());
    // Both tests are in the one crate the edit touched.
    assert_eq!(done["summary"]["passed"], 2, "{done}");
    w.send("q");
    assert_eq!(w.exit_code(), 0);
}

#[test]
fn affected_mode_r_reruns_everything_and_a_cancelled_rounds_changes_carry_over() {
    let p = Project::copy_of("rust-slow");
    let outside = tempfile::tempdir().unwrap();
    let release = outside.path().join("release");
    let mut w = Watching::start(&p, &[], &[("RELEASE_FILE", &release)]);
    w.next("round_started");
    std::fs::write(&release, "").unwrap();
    assert_eq!(w.next("round_finished")["exit_code"], 0, "{}", w.context());
    std::fs::remove_file(&release).unwrap();

    edit(&p, "src/lib.rs");
    assert_eq!(strings(&w.next("round_started")["changed"]), ["src/lib.rs"]);
    // Round 2 waits for the release file; a second edit cancels it.
    edit(&p, "Cargo.toml");
    w.next("round_cancelled");
    let next = w.next("round_started");
    let cmd = strings(&next["command"]);
    for path in ["Cargo.toml", "src/lib.rs"] {
        assert!(
            cmd.windows(2).any(|a| a == ["--changed", path]),
            "{path}: {cmd:?}"
        );
    }
    std::fs::write(&release, "").unwrap();
    assert_eq!(w.next("round_finished")["exit_code"], 0, "{}", w.context());

    w.send("r");
    let all = w.next("round_started");
    assert_eq!(all["all"], true);
    assert!(!strings(&all["command"]).iter().any(|a| a == "--affected"));
    assert_eq!(w.next("round_finished")["exit_code"], 0, "{}", w.context());
    w.send("q");
    assert_eq!(w.exit_code(), 0);
}

#[test]
fn ctrl_c_stops_the_round_and_watch_exits_130() {
    let p = Project::copy_of("rust-slow");
    let outside = tempfile::tempdir().unwrap();
    let release = outside.path().join("release");
    let mut w = Watching::start(&p, &["--all"], &[("RELEASE_FILE", &release)]);
    assert_eq!(w.next("round_started")["round"], 1);
    // SAFETY: kill(2) on the child this test started and has not reaped.
    unsafe {
        libc::kill(w.child.id() as i32, libc::SIGINT);
    }
    assert_eq!(w.next("round_cancelled")["round"], 1);
    let stopped = w.next("stopped");
    assert_eq!(stopped["reason"], "signal");
    assert_eq!(stopped["signal"], 2);
    assert_eq!(w.exit_code(), 130);
}

#[test]
fn a_round_that_cannot_start_is_reported_and_watching_goes_on() {
    let p = Project::copy_of("rust-slow");
    // Watch runs its rounds with its own binary: a link to it that is then removed.
    let bin_dir = tempfile::tempdir().unwrap();
    let program = bin_dir.path().join("cargo-testflow");
    if std::fs::hard_link(BIN, &program).is_err() {
        std::fs::copy(BIN, &program).unwrap();
    }
    let mut w = Watching::start_of(&p, &program, &["--all"], &[]);
    assert_eq!(w.next("round_finished")["exit_code"], 0, "{}", w.context());
    std::fs::remove_file(&program).unwrap();
    edit(&p, "src/lib.rs");
    let failed = w.next("round_not_started");
    assert_eq!(failed["round"], 2);
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("cannot start"), "{error}");
    // Still watching: the next change is another round (which cannot start either).
    edit(&p, "Cargo.toml");
    let again = w.next("round_not_started");
    assert_eq!(again["round"], 3);
    let started = w.seen_since(0, "round_started");
    assert_eq!(
        strings(&started.last().unwrap()["changed"]),
        ["Cargo.toml", "src/lib.rs"],
        "the round that could not start is owed to the next"
    );
    w.send("q");
    assert_eq!(w.next("stopped")["reason"], "quit");
    assert_eq!(w.exit_code(), 0);
}
