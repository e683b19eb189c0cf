//! Helpers that make an end-to-end test about three lines long.
//!
//! A [`Project`] is a fixture workspace (run in place) with its own fresh
//! `TESTFLOW_DIR` and `FLAKY_DIR`, so tests running in parallel never share state.
//! Fixture builds go to `<workspace>/target/e2e-fixtures/<fixture>` and are cached
//! across runs. The environment of the outer `cargo test` is scrubbed so it cannot
//! leak into the fixture builds or test processes.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use testflow::model::{Failure, Run, TestCase};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_cargo-testflow");

/// The repository root (the cargo workspace holding `cargo-testflow/`).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
        .to_owned()
}

pub(crate) fn fixture_dir(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(name)
}

/// Where a fixture's test binaries are built: shared by all tests, cached between runs.
pub(crate) fn fixture_target(name: &str) -> PathBuf {
    repo_root().join("target/e2e-fixtures").join(name)
}

/// Remove what the outer `cargo test` (or the user's shell) may have set, then set
/// what the fixture runs need, for deterministic output.
fn scrub_env(cmd: &mut Command, fixture: &str) {
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        let leaks = (k.starts_with("CARGO_") && k != "CARGO_HOME" && !k.starts_with("CARGO_NET_"))
            || k.starts_with("RUST_")
            || k == "RUSTFLAGS"
            || k == "RUSTDOCFLAGS"
            || k.starts_with("TESTFLOW")
            || k == "FLAKY_DIR"
            || k == "GITHUB_STEP_SUMMARY"
            || k == "GITHUB_ACTIONS"
            || k == "NO_COLOR";
        if leaks {
            cmd.env_remove(&key);
        }
    }
    cmd.env("CARGO_TARGET_DIR", fixture_target(fixture))
        .env("CARGO_TERM_COLOR", "never")
        .env("RUST_BACKTRACE", "0");
}

fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Build a fixture's test binaries once per test process (the first test to get here
/// pays for it; the others wait), so the runs under test only see a warm build.
/// A fixture that is meant not to compile is not warmed.
fn warm(fixture: &str) {
    static WARMED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut warmed = WARMED.lock().unwrap_or_else(|e| e.into_inner());
    // Only cargo projects are built: a pytest or Jest fixture has no Cargo.toml, and
    // cargo would build the enclosing testflow workspace instead (minutes, for nothing).
    if fixture == "rust-build-error"
        || !fixture_dir(fixture).join("Cargo.toml").is_file()
        || warmed.iter().any(|f| f == fixture)
    {
        return;
    }
    let mut cmd = Command::new(cargo());
    cmd.args(["test", "--no-run", "--quiet"])
        .current_dir(fixture_dir(fixture))
        .stdin(Stdio::null());
    scrub_env(&mut cmd, fixture);
    let out = cmd.output().expect("run cargo");
    assert!(
        out.status.success(),
        "building fixture {fixture} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    warmed.push(fixture.to_owned());
}

/// A fixture with its own state directories.
pub(crate) struct Project {
    pub(crate) fixture: String,
    pub(crate) dir: PathBuf,
    pub(crate) testflow_dir: tempfile::TempDir,
    pub(crate) flaky_dir: tempfile::TempDir,
    /// Leave `FLAKY_DIR` unset (then `flaky_first_attempt` simply passes).
    pub(crate) no_flaky_dir: bool,
    /// For a fixture copied into its own git repository (`copy_of`).
    pub(crate) _copy: Option<tempfile::TempDir>,
}

/// What one invocation of `cargo testflow` did.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    /// The `Run` printed with `--format json` (by `run`) or by `report --format json`.
    pub(crate) run: Option<Run>,
}

impl Output {
    pub(crate) fn run(&self) -> &Run {
        self.run
            .as_ref()
            .unwrap_or_else(|| panic!("no Run on stdout; stderr:\n{}", self.stderr))
    }
}

impl Project {
    pub(crate) fn new(fixture: &str) -> Project {
        warm(fixture);
        Project {
            fixture: fixture.to_owned(),
            dir: fixture_dir(fixture),
            testflow_dir: tempfile::tempdir().expect("tempdir"),
            flaky_dir: tempfile::tempdir().expect("tempdir"),
            no_flaky_dir: false,
            _copy: None,
        }
    }

    /// A fixture copied into a fresh git repository with one commit, for tests that
    /// change its files (`iterate`, rollback).
    pub(crate) fn copy_of(fixture: &str) -> Project {
        let copy = tempfile::tempdir().expect("tempdir");
        let dir = copy.path().join(fixture);
        copy_tree(&fixture_dir(fixture), &dir);
        git(&dir, &["init", "-q"]);
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-qm", "fixture"]);
        Project {
            fixture: fixture.to_owned(),
            dir,
            testflow_dir: tempfile::tempdir().expect("tempdir"),
            flaky_dir: tempfile::tempdir().expect("tempdir"),
            no_flaky_dir: true,
            _copy: Some(copy),
        }
    }

    /// `rust-basic` with `FLAKY_DIR` unset.
    pub(crate) fn without_flaky_dir(mut self) -> Project {
        self.no_flaky_dir = true;
        self
    }

    /// `cargo-testflow testflow ARGS…` in the fixture directory, not yet started.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("testflow").args(args);
        self.prepare(&mut cmd);
        cmd
    }

    /// [`Project::command`] running another copy of the binary.
    pub(crate) fn command_of(&self, program: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.arg("testflow").args(args);
        self.prepare(&mut cmd);
        cmd
    }

    /// A bash script (`bash -eo pipefail`, as GitHub Actions runs `run:` steps) in the
    /// fixture directory, with the fixture's environment plus `env`, and `cargo testflow`
    /// meaning the binary under test. Runs to the end.
    pub(crate) fn shell(&self, script: &str, env: &[(String, String)]) -> Output {
        let prelude = format!(
            "cargo() {{ if [ \"$1\" = testflow ]; then shift; \"{BIN}\" testflow \"$@\"; else command cargo \"$@\"; fi; }}\n"
        );
        let mut cmd = Command::new("bash");
        cmd.args(["-eo", "pipefail", "-c", &format!("{prelude}{script}")]);
        self.prepare(&mut cmd);
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        let out = cmd.output().expect("run bash");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        Output {
            code: out.status.code().unwrap_or(-1),
            run: serde_json::from_str::<Run>(&stdout).ok(),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The fixture's directory and environment on `cmd`.
    fn prepare(&self, cmd: &mut Command) {
        cmd.current_dir(&self.dir).stdin(Stdio::null());
        scrub_env(cmd, &self.fixture);
        if let Some(copy) = &self._copy {
            // Copies of one fixture build to identical artifact names: never share a target.
            cmd.env("CARGO_TARGET_DIR", copy.path().join("target"));
        }
        cmd.env("TESTFLOW_DIR", self.testflow_dir.path());
        if !self.no_flaky_dir {
            cmd.env("FLAKY_DIR", self.flaky_dir.path());
        }
    }

    /// Run `cargo testflow ARGS…` to the end; stdout is parsed as a `Run` when it is one.
    pub(crate) fn cmd(&self, args: &[&str]) -> Output {
        self.cmd_env(args, &[])
    }

    /// [`Project::cmd`] with extra environment variables.
    pub(crate) fn cmd_env(&self, args: &[&str], env: &[(&str, &std::path::Path)]) -> Output {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run cargo-testflow");
        let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
        let run = serde_json::from_str::<Run>(&stdout).ok();
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            run,
        }
    }

    /// `cargo testflow run ARGS… --format json`.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    /// [`Project::run`] with extra environment variables.
    pub(crate) fn run_env(&self, args: &[&str], env: &[(&str, &std::path::Path)]) -> Output {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--format", "json"]);
        self.cmd_env(&all, env)
    }

    /// `cargo testflow report --format json --run WHAT`.
    pub(crate) fn report_json(&self, what: &str) -> Output {
        self.cmd(&["report", "--format", "json", "--run", what])
    }

    pub(crate) fn runs_dir(&self) -> PathBuf {
        self.testflow_dir.path().join("runs")
    }

    /// Run directories recorded so far, oldest first.
    pub(crate) fn run_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = match std::fs::read_dir(self.runs_dir()) {
            Ok(entries) => entries.map(|e| e.expect("dir entry").path()).collect(),
            Err(_) => vec![],
        };
        dirs.sort();
        dirs
    }

    /// The only run directory (panics unless exactly one run was recorded).
    pub(crate) fn the_run_dir(&self) -> PathBuf {
        let dirs = self.run_dirs();
        assert_eq!(dirs.len(), 1, "expected exactly one run dir: {dirs:?}");
        dirs.into_iter().next().unwrap()
    }
}

/// Find tests in a run by id.
pub(crate) trait RunExt {
    fn test(&self, id: &str) -> &TestCase;
    fn ids(&self) -> Vec<&str>;
}

impl RunExt for Run {
    fn test(&self, id: &str) -> &TestCase {
        self.tests
            .iter()
            .find(|t| t.id == id)
            .unwrap_or_else(|| panic!("no test `{id}` in the run; tests: {:?}", self.ids()))
    }

    fn ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.tests.iter().map(|t| t.id.as_str()).collect();
        ids.sort();
        ids
    }
}

/// The failure of a test's last attempt (panics when it has none).
pub(crate) fn failure(t: &TestCase) -> &Failure {
    t.failure
        .as_ref()
        .unwrap_or_else(|| panic!("{} ({:?}) has no failure", t.id, t.outcome))
}

/// `--test-timeout` for runs of fixtures with a test that never ends: far above what any
/// other fixture test takes on a loaded machine (a doctest compiles in it), so only the
/// test that never ends times out. rust-basic's `hangs` has its own 1 s limit (the
/// fixture's `[[timeout]]` rule), so there this is only the other tests' safety net.
pub(crate) const HANG_LIMIT: &str = "10";

/// Poll `cond` every 50 ms until it holds or `limit` passes.
pub(crate) fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Live (not zombie) processes whose environment has `TESTFLOW_DIR=<dir>` and whose
/// command line contains every one of `words`: the processes one test started.
pub(crate) fn live_processes(testflow_dir: &Path, words: &[&str]) -> Vec<i32> {
    let needle = format!("TESTFLOW_DIR={}", testflow_dir.display());
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let p = e.path();
        let (Ok(environ), Ok(cmdline), Ok(stat)) = (
            std::fs::read(p.join("environ")),
            std::fs::read(p.join("cmdline")),
            std::fs::read_to_string(p.join("stat")),
        ) else {
            continue;
        };
        // The state is the field after the parenthesised command name.
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        if state.starts_with('Z') || state.starts_with('X') {
            continue;
        }
        let has_env = environ.split(|b| *b == 0).any(|v| v == needle.as_bytes());
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if has_env && words.iter().all(|w| args.iter().any(|a| a == w)) {
            pids.push(pid);
        }
    }
    pids
}

/// Copy a fixture's sources (not its build output or recorded runs).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for e in std::fs::read_dir(from).expect("read fixture dir").flatten() {
        let name = e.file_name();
        if name == "target" || name == ".testflow" {
            continue;
        }
        let (src, dst) = (e.path(), to.join(&name));
        if e.file_type().expect("file type").is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy file");
        }
    }
}

/// git in `dir`, without the machine's own git configuration.
pub(crate) fn git(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
