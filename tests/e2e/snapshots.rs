//! Snapshots of behaviour (issue 14): each fixture's `run.json` and human output, and the
//! `--help` of every command, held by insta in `tests/e2e/snapshots/`. They are the proof
//! that a restructuring left behaviour unchanged; each fixture's `EXPECTED.md` says why
//! the snapshot holds what it holds.
//!
//! Everything that differs between two runs of the same code is redacted (durations, times,
//! run ids, paths, thread ids, temp dir names, `concurrent` where scheduling decides it)
//! and everything whose order is the scheduler's is sorted (tests by id, run errors, the
//! progress lines of the human output).
//!
//! The Rust fixtures run with `cargo test`. The pytest and Jest ones need the tools
//! `tests/run-all.sh` installs, so they are `#[ignore]`d here and run by it with
//! `TESTFLOW_PYTHON` / `TESTFLOW_JEST_WORK` set; run without them they fail, never skip.
//! Regenerate after an intended change (then read every changed `.snap`):
//! `INSTA_UPDATE=always cargo test -p cargo-testflow --test e2e snapshots:: -- --include-ignored`
//! with the two variables set (the exact command is in CONTRIBUTING.md).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value};

use crate::util::{BIN, Project, fixture_target, repo_root};

/// Strings longer than this keep their head and tail only (`huge_output` keeps 64 KiB).
const LONG: usize = 2000;

/// What varies between runs of unchanged code, as (regex, replacement), applied after
/// the literal paths of the run.
const FILTERS: &[(&str, &str)] = &[
    // Run ids: `20261201T170131.479Z-c4b7`.
    (r"\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{4}", "[run_id]"),
    // Thread ids in Rust panic messages: `thread 'tests::x' (18474) panicked`.
    (r"(thread '[^']*') \(\d+\)", "$1 ([tid])"),
    // libtest prints this note after the first panic of each process only: in a binary
    // run, which test panics first is a race between test threads.
    (
        r"note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace(\\n|\n)?",
        "",
    ),
    // cargo's note that another cargo holds a lock: whether one did is a race.
    (r" *Blocking waiting for file lock on [^\n\\]*(\\n|\n)", ""),
    // Temp dirs not otherwise named (rustdoc's `/tmp/rustdoctestXXXXXX`).
    (r"/tmp/[A-Za-z0-9._-]+", "[tmp]"),
    // The standard library's sources in backtraces.
    (r"/rustc/[0-9a-f]{40}", "/rustc/[commit]"),
    // libtest's and rustdoc's own timings.
    (
        r"(finished in|ran in|compilation took|took) \d+(\.\d+)?s",
        "$1 [duration]",
    ),
    // Durations on the terminal: `PASS [   0.003s]`, `FAILED [11.855s]`.
    (r"\[\s*\d+(\.\d+)?s\]", "[duration]"),
    // libtest's own exec_time inside a quoted libtest line (the fixtures forge only short
    // ones: 0.001, -1, 1e300), and the rest of that quote up to where it was cut (the cut
    // moves with the number's and the thread id's digits).
    (
        r#"(exec_time\\": )0\.\d{4,}, [^…]*…"#,
        "$1[exec_time], […]…",
    ),
    (r#"(exec_time\\": )0\.\d{4,}"#, "$1[exec_time]"),
    // pytest-timeout's dump of the other threads' stacks (xdist's execnet thread, wherever
    // it happens to be), to the end of the JSON string it is in.
    (
        r#"~+ Stack of <[^>]*> \(\d+\) ~+(\\n|\n)([^"\\]|\\.)*"#,
        "[the other threads' stacks]",
    ),
    // Python's and installed packages' own files in tracebacks: where they are and their
    // line numbers belong to the install, not to testflow.
    (
        r"\[venv\]/lib/python3\.\d+/site-packages/",
        "[site-packages]/",
    ),
    (
        r#"(\[[a-z_]+\])?[^\s"'(\[]*/lib/python3\.\d+/"#,
        "[python-lib]/",
    ),
    (
        r#"(\[site-packages\]|\[python-lib\])/([^\s"':]+\.py)(:| line |\\?", line )\d+"#,
        "$1/$2$3[line]",
    ),
    // testflow's own cut of a huge message counts the characters it left out, paths
    // included.
    (
        r"\[… testflow cut \d+ (characters|bytes) …\]",
        "[… testflow cut [n] $1 …]",
    ),
    // The huge messages' filler on either side of that cut (how much of it is kept moves
    // with the length of the paths in the stack after it).
    (r"x{200,}", "[x…]"),
    // Object addresses in reprs.
    (r"0x[0-9a-f]{6,}", "0x[address]"),
    // pytest's header line of installed plugins and their versions.
    (r#"plugins: [^\n\\"]*"#, "plugins: [plugins]"),
    // Node's own sources in stacks (their lines move with the Node version).
    (r"(node:internal/[A-Za-z0-9_/.-]+):\d+:\d+", "$1:[line]"),
    // Python and Node versions in messages.
    (r"Python \d+\.\d+\.\d+", "Python [version]"),
    (r"pytest-\d+\.\d+\.\d+", "pytest-[version]"),
    (r"pluggy-\d+\.\d+\.\d+", "pluggy-[version]"),
    (r"Node\.js v\d+\.\d+\.\d+", "Node.js [version]"),
];

/// How one snapshot run is made: the fixture, the arguments after `run`, extra env.
struct Case<'a> {
    /// Snapshot name (a fixture and its variant).
    name: &'a str,
    args: &'a [&'a str],
    env: Vec<(&'a str, PathBuf)>,
    /// More literal paths to name (a tool's install dir).
    paths: Vec<(PathBuf, &'static str)>,
    /// More (regex, replacement) filters: text the fixture itself makes vary.
    filters: Vec<(&'static str, &'static str)>,
    /// `concurrent` is the point of the fixture and deterministic there (rust-interfere).
    keep_concurrent: bool,
}

impl<'a> Case<'a> {
    fn new(name: &'a str, args: &'a [&'a str]) -> Case<'a> {
        Case {
            name,
            args,
            env: vec![],
            paths: vec![],
            filters: vec![],
            keep_concurrent: false,
        }
    }
}

/// Run `cargo testflow run ARGS…` (no `--format json`: the terminal output is the human
/// one) and snapshot the exit code with the stored `run.json`, and the human output.
fn snapshot_run(p: &Project, case: &Case<'_>) {
    let mut all = vec!["run"];
    all.extend_from_slice(case.args);
    let mut cmd = p.command(&all);
    cmd.env("NO_COLOR", "1");
    for (k, v) in &case.env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run cargo-testflow");
    let code = out.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();

    let dirs = p.run_dirs();
    assert!(
        dirs.len() <= 1,
        "{}: more than one run recorded: {dirs:?}",
        case.name
    );
    let run = match dirs.first() {
        Some(dir) => {
            let text = std::fs::read_to_string(dir.join("run.json"))
                .unwrap_or_else(|e| panic!("{}: run.json in {}: {e}", case.name, dir.display()));
            let mut v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: run.json is not JSON: {e}", case.name));
            normalize(&mut v, None, case.keep_concurrent, &literal_paths(p, case));
            v
        }
        None => Value::Null,
    };
    let mut doc = Map::new();
    doc.insert("command".into(), Value::String(command_line(case)));
    doc.insert("exit_code".into(), Value::from(code));
    doc.insert("run".into(), run);

    let settings = settings(p, case);
    settings.bind(|| {
        insta::assert_json_snapshot!(format!("{}__run", case.name), Value::Object(doc));
        insta::assert_snapshot!(
            format!("{}__human", case.name),
            format!(
                "{}\n---- stdout ----\n{}",
                human(&stderr),
                stdout.trim_end()
            )
        );
    });
}

fn command_line(case: &Case<'_>) -> String {
    let mut s = String::new();
    for (k, _) in &case.env {
        s.push_str(&format!("{k}=… "));
    }
    s.push_str("cargo testflow run");
    for a in case.args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

/// The literal paths of this run with their names, longest first, so a directory inside
/// another is named for itself; canonical spellings too (a temp dir behind a symlink).
fn literal_paths(p: &Project, case: &Case<'_>) -> Vec<(String, &'static str)> {
    let mut literal: Vec<(PathBuf, &'static str)> = vec![
        (p.testflow_dir.path().to_owned(), "[testflow_dir]"),
        (p.flaky_dir.path().to_owned(), "[flaky_dir]"),
        (p.dir.clone(), "[project]"),
        (fixture_target(&p.fixture), "[target]"),
        (repo_root(), "[repo]"),
    ];
    if let Some(copy) = &p._copy {
        literal.push((copy.path().join("target"), "[target]"));
    }
    for (_, v) in &case.env {
        if v.is_absolute() {
            literal.push((v.clone(), "[env_path]"));
        }
    }
    for (path, name) in &case.paths {
        literal.push((path.clone(), name));
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| h.len() > 1) {
        literal.push((PathBuf::from(home), "[home]"));
    }
    let mut all: Vec<(String, &'static str)> = Vec::new();
    for (path, name) in literal {
        all.push((path.display().to_string(), name));
        if let Ok(c) = path.canonicalize() {
            all.push((c.display().to_string(), name));
        }
    }
    all.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));
    all
}

/// The literal paths of this run, then [`FILTERS`].
fn settings(p: &Project, case: &Case<'_>) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_description(command_line(case));
    s.set_omit_expression(true);
    for (path, name) in literal_paths(p, case) {
        s.add_filter(&regex::escape(&path), name);
    }
    for (re, with) in FILTERS.iter().chain(&case.filters) {
        s.add_filter(re, *with);
    }
    s
}

/// Redact what varies by key, sort what the scheduler orders, shorten huge strings (after
/// naming the run's paths in them, so whether and where a string is cut does not depend
/// on where the checkout is).
fn normalize(v: &mut Value, key: Option<&str>, keep_concurrent: bool, paths: &[(String, &str)]) {
    match (key, &mut *v) {
        (Some("duration_ms"), _) => *v = Value::String("[duration]".into()),
        (Some("started_at" | "finished_at" | "time"), _) => *v = Value::String("[time]".into()),
        (Some("run_id"), Value::String(_)) => *v = Value::String("[run_id]".into()),
        (Some("environment"), _) => *v = Value::String("[environment]".into()),
        (Some("pid"), _) => *v = Value::String("[pid]".into()),
        // Measured costs behind the workers decision (`Run.workers`).
        (Some("startup_ms" | "serial_ms" | "cpu_ms" | "wall_ms"), Value::Number(_)) => {
            *v = Value::String("[duration]".into())
        }
        (Some("stretch"), Value::Number(_)) => *v = Value::String("[stretch]".into()),
        (Some("concurrent"), _) if !keep_concurrent => *v = Value::String("[concurrent]".into()),
        (_, Value::Object(map)) => {
            for (k, x) in map.iter_mut() {
                normalize(x, Some(k), keep_concurrent, paths);
            }
        }
        (_, Value::Array(items)) => {
            for x in items.iter_mut() {
                normalize(x, None, keep_concurrent, paths);
            }
            if matches!(key, Some("tests" | "errors")) {
                // Tests by id, then the whole entry (a duplicate id is itself a finding).
                items.sort_by_cached_key(|x| {
                    (
                        x.get("id").map(|i| i.to_string()).unwrap_or_default(),
                        x.to_string(),
                    )
                });
            }
        }
        (_, Value::String(s)) => {
            let mut named = s.clone();
            for (path, name) in paths {
                named = named.replace(path.as_str(), name);
            }
            if named.chars().count() > LONG {
                named = shorten(&named);
            }
            *v = Value::String(named);
        }
        _ => {}
    }
}

/// A long string cut where the cut does not depend on where the checkout is: whole lines
/// (paths in them are redacted afterwards), and a line that is itself too long keeps its
/// head and tail without a character count (the count would include paths).
fn shorten(s: &str) -> String {
    let cut_line = |l: &str| -> String {
        if l.chars().count() <= LONG {
            return l.to_owned();
        }
        let n = l.chars().count();
        let head: String = l.chars().take(600).collect();
        let tail: String = l.chars().skip(n - 300).collect();
        format!("{head}[… a long line cut …]{tail}")
    };
    let lines: Vec<&str> = s.split_inclusive('\n').collect();
    if lines.len() <= 12 {
        return lines.into_iter().map(cut_line).collect();
    }
    let mut out: String = lines[..8].iter().map(|l| cut_line(l)).collect();
    out.push_str(&format!("[… {} lines …]\n", lines.len() - 11));
    out.extend(lines[lines.len() - 3..].iter().map(|l| cut_line(l)));
    out
}

/// The terminal output with cargo's own build lines left out (they depend on what was
/// built before) and the progress lines, one block per finished test in the order tests
/// finished, sorted.
fn human(text: &str) -> String {
    let cargo_line = regex::Regex::new(
        r"^\s+(Compiling|Finished|Running|Fresh|Blocking|Doc-tests|Locking|Adding|Updating|Downloaded|Downloading|Checking)\b",
    )
    .unwrap();
    // Durations first: the blocks are sorted on what is left.
    let text = regex::Regex::new(r"\[\s*\d+(\.\d+)?s\]")
        .unwrap()
        .replace_all(text, "[duration]");
    let status = regex::Regex::new(r"^\s*[A-Z]{2,}\s+\[duration\]").unwrap();
    let failing = regex::Regex::new(r"^\d+ failing:$").unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !cargo_line.is_match(l)).collect();
    #[derive(PartialEq)]
    enum State {
        Normal,
        Progress,
        Failing,
    }
    let mut state = State::Normal;
    let mut out: Vec<String> = Vec::new();
    let mut blocks: Vec<Vec<&str>> = Vec::new();
    let flush = |blocks: &mut Vec<Vec<&str>>, out: &mut Vec<String>| {
        blocks.sort();
        for b in blocks.drain(..) {
            out.extend(b.into_iter().map(str::to_owned));
        }
    };
    let continues = |l: &str| l.starts_with(' ') && !status.is_match(l);
    for (i, line) in lines.iter().enumerate() {
        if status.is_match(line) {
            if state != State::Progress {
                flush(&mut blocks, &mut out);
                state = State::Progress;
            }
            blocks.push(vec![line]);
        } else if state == State::Progress
            && (continues(line)
                || (line.is_empty() && lines.get(i + 1).is_some_and(|n| continues(n))))
        {
            blocks.last_mut().expect("a block").push(line);
        } else if state == State::Failing && line.starts_with("  ") {
            // The list of failing tests, one a line, in the order they were recorded.
            blocks.push(vec![line]);
        } else {
            flush(&mut blocks, &mut out);
            out.push((*line).to_owned());
            state = if failing.is_match(line) {
                State::Failing
            } else {
                State::Normal
            };
        }
    }
    flush(&mut blocks, &mut out);
    out.join("\n")
}

// ---- Rust fixtures ------------------------------------------------------------------

#[test]
fn rust_basic() {
    // The full run of rust_run.rs: `hangs` times out, failing tests get one retry, the
    // flaky test's first attempt fails and its retry passes.
    let args = [
        "--isolation",
        "process",
        "--test-timeout",
        crate::util::HANG_LIMIT,
        "--retries",
        "1",
    ];
    snapshot_run(&Project::new("rust-basic"), &Case::new("rust-basic", &args));
}

#[test]
fn rust_basic_binary_isolation() {
    // rust_isolation_binary.rs: one test thread, so the order (and the flaky test) is fixed.
    let args = [
        "--isolation",
        "binary",
        "-j",
        "1",
        "--test-timeout",
        crate::util::HANG_LIMIT,
        "--retries",
        "1",
    ];
    snapshot_run(
        &Project::new("rust-basic"),
        &Case::new("rust-basic-binary", &args),
    );
}

#[test]
fn rust_doctests() {
    snapshot_run(
        &Project::new("rust-doctests"),
        &Case::new("rust-doctests", &[]),
    );
}

#[test]
fn rust_doctests_packages() {
    snapshot_run(
        &Project::new("rust-doctests-packages"),
        &Case::new("rust-doctests-packages", &[]),
    );
}

#[test]
fn rust_hostile_output() {
    snapshot_run(
        &Project::new("rust-hostile-output"),
        &Case::new("rust-hostile-output", &[]),
    );
}

#[test]
fn rust_interfere() {
    // interference.rs: the two writers fail together (-j 2) and pass alone on the retry.
    let args = ["--isolation", "binary", "-j", "2", "--retries", "1"];
    let mut case = Case::new("rust-interfere", &args);
    case.keep_concurrent = true;
    // Both read back both names, in the order the two threads appended them.
    case.filters.push((r#""(?:ab|ba)(\\?")"#, "\"[ab or ba]$1"));
    snapshot_run(&Project::new("rust-interfere"), &case);
}

#[test]
fn rust_iterate() {
    // The starting point of the fix loop: a_is_one and b_is_one fail, c_is_one passes.
    snapshot_run(
        &Project::new("rust-iterate"),
        &Case::new("rust-iterate", &[]),
    );
}

#[test]
fn rust_slow() {
    // RELEASE_FILE exists from the start, so `waits_for_release` ends at once (slow.rs
    // covers the notice itself, which needs a test that is still running).
    let dir = tempfile::tempdir().unwrap();
    let release = dir.path().join("release");
    std::fs::write(&release, "").unwrap();
    let mut case = Case::new("rust-slow", &["--isolation", "process"]);
    case.env.push(("RELEASE_FILE", release));
    snapshot_run(&Project::new("rust-slow"), &case);
}

#[test]
fn rust_build_error() {
    snapshot_run(
        &Project::new("rust-build-error"),
        &Case::new("rust-build-error", &[]),
    );
}

/// fail_closed_rust.rs runs each of these in both isolation modes, one test thread.
fn fail_closed_rust(fixture: &str, extra: &[&str]) {
    for mode in ["process", "binary"] {
        let mut args = vec!["--isolation", mode, "-j", "1"];
        args.extend_from_slice(extra);
        let name = format!("{}-{mode}", fixture.replace('/', "-"));
        snapshot_run(&Project::new(fixture), &Case::new(&name, &args));
    }
}

#[test]
fn fail_closed_rust_exit_zero() {
    fail_closed_rust("fail-closed/rust-exit-zero", &[]);
}

#[test]
fn fail_closed_rust_forged_line() {
    fail_closed_rust("fail-closed/rust-forged-line", &[]);
}

#[test]
fn fail_closed_rust_bad_exec_time() {
    fail_closed_rust("fail-closed/rust-bad-exec-time", &[]);
}

#[test]
fn fail_closed_rust_exit_status() {
    fail_closed_rust("fail-closed/rust-exit-status", &[]);
    // The lib alone in binary mode: nothing fails, the exit status is the only problem.
    snapshot_run(
        &Project::new("fail-closed/rust-exit-status"),
        &Case::new(
            "fail-closed-rust-exit-status-binary-lib",
            &["--isolation", "binary", "--lib"],
        ),
    );
}

#[test]
fn fail_closed_rust_doctest_forged() {
    // fail_closed_rust.rs runs the doctests only.
    snapshot_run(
        &Project::new("fail-closed/rust-doctest-forged"),
        &Case::new("fail-closed-rust-doctest-forged", &["--doc"]),
    );
}

#[test]
fn fail_closed_sched_stop() {
    // Without `hangs` (it ends only on a signal: fail_closed_sched.rs) and without
    // `daemon_holds_output` (it leaves a `sleep 3600` behind that only that test kills).
    // One test thread, so only `spoofs_negative_exec_time`'s batch is named.
    for mode in ["process", "binary"] {
        let args = [
            "--isolation",
            mode,
            "-j",
            "1",
            "--no-doc",
            "passes",
            "spoofs_negative_exec_time",
        ];
        let name = format!("fail-closed-sched-stop-{mode}");
        snapshot_run(
            &Project::new("fail-closed/sched-stop"),
            &Case::new(&name, &args),
        );
    }
}

// ---- coverage-gaps (no run: sources and LCOV files) ----------------------------------

#[test]
fn coverage_gaps() {
    // coverage_gaps.rs: the ranking of the fixture's untested functions, JSON and text.
    let dir = crate::util::fixture_dir("coverage-gaps");
    let gaps = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(["testflow", "coverage", "gaps", "lcov.info"])
            .args(args)
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .output()
            .expect("run cargo-testflow");
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    let json: Value = serde_json::from_str(&gaps(&["--format", "json"])).expect("JSON");
    let text = gaps(&[]);
    let mut s = insta::Settings::clone_current();
    s.set_omit_expression(true);
    s.add_filter(&regex::escape(&dir.display().to_string()), "[project]");
    s.add_filter(&regex::escape(&repo_root().display().to_string()), "[repo]");
    s.set_description("cargo testflow coverage gaps lcov.info --format json");
    s.bind(|| insta::assert_json_snapshot!("coverage-gaps__json", json));
    s.set_description("cargo testflow coverage gaps lcov.info");
    s.bind(|| insta::assert_snapshot!("coverage-gaps__human", text));
}

// ---- --help ----------------------------------------------------------------------------

fn help(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("testflow")
        .args(args)
        .arg("--help")
        .env_remove("COLUMNS")
        .env("NO_COLOR", "1")
        .output()
        .expect("run cargo-testflow --help");
    assert!(out.status.success(), "{args:?} --help: {out:?}");
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// The subcommands a help text lists under `Commands:` (without `help`).
fn subcommands(text: &str) -> Vec<String> {
    let name = regex::Regex::new(r"^  ([a-z][a-z0-9-]*)(\s|$)").unwrap();
    text.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| name.captures(l).map(|c| c[1].to_owned()))
        .filter(|n| n != "help")
        .collect()
}

#[test]
fn help_of_every_command() {
    let mut todo: Vec<Vec<String>> = vec![vec![]];
    let mut seen = 0;
    while let Some(path) = todo.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&args);
        for sub in subcommands(&text) {
            let mut next = path.clone();
            next.push(sub);
            todo.push(next);
        }
        let name = if path.is_empty() {
            "help".to_owned()
        } else {
            format!("help-{}", path.join("-"))
        };
        let mut s = insta::Settings::clone_current();
        s.set_description(format!("cargo testflow {} --help", path.join(" ")));
        s.set_omit_expression(true);
        s.bind(|| insta::assert_snapshot!(name, text));
        seen += 1;
    }
    // The top level and its 13 commands at least: a parser that found none would pass.
    assert!(seen >= 14, "only {seen} help texts found");
}

// ---- pytest (needs TESTFLOW_PYTHON: a Python with pytest and the plugin) -------------
//
// Copies of the fixtures (pytest writes its cache and bytecode next to them), run the way
// python/tests/ runs them through `cargo testflow run`, with `CI=true` (see below).

fn python() -> PathBuf {
    let p = std::env::var_os("TESTFLOW_PYTHON")
        .filter(|p| !p.is_empty())
        .expect("set TESTFLOW_PYTHON to a Python with pytest and pytest-testflow (tests/run-all.sh: target/py-venv/bin/python)");
    PathBuf::from(p)
}

fn snapshot_pytest(fixture: &str, args: &[&str], setup: impl FnOnce(&Path)) {
    let python = python();
    assert!(
        python.is_file(),
        "TESTFLOW_PYTHON={} does not exist",
        python.display()
    );
    let p = Project::copy_of(fixture);
    setup(&p.dir);
    let name = fixture.replace('/', "-");
    let mut case = Case::new(&name, args);
    case.env.push(("TESTFLOW_PYTHON", python.clone()));
    // pytest shortens assertion explanations unless it thinks it runs on CI (`CI` or
    // `BUILD_NUMBER` set): the same answer on every machine.
    case.env.push(("CI", PathBuf::from("true")));
    if let Some(venv) = python.parent().and_then(Path::parent) {
        case.paths.push((venv.to_owned(), "[venv]"));
    }
    snapshot_run(&p, &case);
}

macro_rules! pytest_snapshots {
    ($($test:ident: $fixture:literal $args:expr;)*) => {$(
        #[test]
        #[ignore = "needs TESTFLOW_PYTHON (tests/run-all.sh runs it)"]
        fn $test() {
            snapshot_pytest($fixture, &$args, |_| {});
        }
    )*};
}

pytest_snapshots! {
    pytest_basic: "pytest-basic" ["-j", "2"];
    pytest_analyze: "pytest-analyze" [];
    pytest_collection_error: "pytest-collection-error" ["-j", "1"];
    pytest_coverage: "pytest-coverage" ["--coverage", "-j", "1"];
    pytest_crash: "pytest-crash" ["-j", "1"];
    pytest_import_error: "pytest-import-error" [];
    pytest_ini: "pytest-ini" ["-j", "1"];
    pytest_shard: "pytest-shard" ["-j", "1"];
    pytest_subtests: "pytest-subtests" ["-j", "1"];
    fail_closed_pytest_undecodable_message: "fail-closed/pytest-undecodable-message" ["-j", "1"];
    fail_closed_pytest_keyboard_interrupt: "fail-closed/pytest-keyboard-interrupt" ["-j", "1"];
    fail_closed_pytest_exit_in_test: "fail-closed/pytest-exit-in-test" ["-j", "1"];
    fail_closed_pytest_os_exit_zero: "fail-closed/pytest-os-exit-zero" ["-j", "1"];
    fail_closed_pytest_teardown_after_pass: "fail-closed/pytest-teardown-after-pass" ["-j", "2"];
    fail_closed_pytest_hook_error: "fail-closed/pytest-hook-error" ["-j", "1"];
}

#[test]
#[ignore = "needs TESTFLOW_PYTHON (tests/run-all.sh runs it)"]
fn fail_closed_pytest_non_utf8_filename() {
    use std::os::unix::ffi::OsStrExt;
    snapshot_pytest(
        "fail-closed/pytest-non-utf8-filename",
        &["-j", "1"],
        |dir| {
            // The name cannot be committed: python/tests/test_fail_closed.py makes it the same way.
            let name = std::ffi::OsStr::from_bytes(b"test_caf\xe9.py");
            std::fs::rename(dir.join("test_body.py.in"), dir.join(name))
                .expect("this file system takes a file name that is not UTF-8");
        },
    );
}

// ---- Jest (needs TESTFLOW_JEST_WORK: a directory with Jest and jest-testflow installed) -
//
// Copies of the fixtures with the work dir's node_modules linked in, run the way
// npm/test/ runs them through `cargo testflow run`. `CI=true` for Jest's own is-ci,
// whatever machine runs this.

fn snapshot_jest(fixture: &str, args: &[&str]) {
    snapshot_jest_with(fixture, args, &[]);
}

fn snapshot_jest_with(fixture: &str, args: &[&str], filters: &[(&'static str, &'static str)]) {
    let work = std::env::var_os("TESTFLOW_JEST_WORK")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .expect("set TESTFLOW_JEST_WORK to a directory with node_modules/{jest,jest-testflow} (tests/run-all.sh: target/jest-e2e)");
    let modules = work.join("node_modules");
    assert!(
        modules.join("jest").is_dir() && modules.join("jest-testflow").exists(),
        "{} has no jest and jest-testflow",
        modules.display()
    );
    let p = Project::copy_of(fixture);
    std::os::unix::fs::symlink(&modules, p.dir.join("node_modules")).expect("link node_modules");
    let name = fixture.replace('/', "-");
    let mut case = Case::new(&name, args);
    case.env.push(("CI", PathBuf::from("true")));
    case.paths.push((work, "[jest_work]"));
    case.filters.extend_from_slice(filters);
    snapshot_run(&p, &case);
}

macro_rules! jest_snapshots {
    ($($test:ident: $fixture:literal $args:expr;)*) => {$(
        #[test]
        #[ignore = "needs TESTFLOW_JEST_WORK (tests/run-all.sh runs it)"]
        fn $test() {
            snapshot_jest($fixture, &$args);
        }
    )*};
}

jest_snapshots! {
    jest_basic: "jest-basic" ["--framework", "jest", "-j", "2"];
    jest_coverage: "jest-coverage" ["--coverage"];
    jest_crash: "jest-crash" ["--framework", "jest"];
    jest_paths: "jest-paths" [];
    jest_shard: "jest-shard" [];
    jest_versions: "jest-versions" [];
    fail_closed_jest_duplicate_titles: "fail-closed/jest-duplicate-titles" ["--framework", "jest"];
    fail_closed_jest_hostile_text: "fail-closed/jest-hostile-text" ["--framework", "jest"];
    fail_closed_jest_obsolete_snapshot: "fail-closed/jest-obsolete-snapshot" ["--framework", "jest"];
}

#[test]
#[ignore = "needs TESTFLOW_JEST_WORK (tests/run-all.sh runs it)"]
fn fail_closed_jest_process_exit() {
    // The run error quotes what Jest printed before process.exit ended it: how much of
    // that reached the pipe, and in which order with the reporter's lines, is a race.
    snapshot_jest_with(
        "fail-closed/jest-process-exit",
        &["--framework", "jest", "-j", "1"],
        &[
            (
                r#"(or Jest stopped early; tests that had not run are missing)\\n([^"\\]|\\.)*"#,
                "$1\\n[what Jest printed]",
            ),
            (
                r"(or Jest stopped early; tests that had not run are missing)\n(?s:.*?)\n(RUN ERROR)",
                "$1\n[what Jest printed]\n$2",
            ),
        ],
    );
}

// ---- Vitest (needs TESTFLOW_VITEST_WORK: a directory with Vitest and jest-testflow) ---
//
// Like the Jest ones: a copy of the fixture with the work dir's node_modules linked in,
// run through `cargo testflow run`. tests/run-all.sh runs it in its Vitest section, on
// Vitest 4.1.12, once jest-testflow is linked in there.

fn snapshot_vitest(fixture: &str, args: &[&str]) {
    let work = std::env::var_os("TESTFLOW_VITEST_WORK")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .expect("set TESTFLOW_VITEST_WORK to a directory with node_modules/{vitest,jest-testflow} (tests/run-all.sh: target/vitest-versions/4.1.12)");
    let modules = work.join("node_modules");
    assert!(
        modules.join("vitest").is_dir() && modules.join("jest-testflow").exists(),
        "{} has no vitest and jest-testflow",
        modules.display()
    );
    let p = Project::copy_of(fixture);
    // Each package linked, not node_modules itself: Vite and Vitest keep their caches (the
    // results that order the next run's files) in node_modules/.vite*, here the copy's own.
    let own = p.dir.join("node_modules");
    std::fs::create_dir(&own).expect("node_modules");
    for entry in std::fs::read_dir(&modules).expect("read node_modules") {
        let entry = entry.expect("node_modules entry");
        if !entry.file_name().to_string_lossy().starts_with(".vite") {
            std::os::unix::fs::symlink(entry.path(), own.join(entry.file_name()))
                .expect("link a package");
        }
    }
    let mut case = Case::new(fixture, args);
    case.env.push(("CI", PathBuf::from("true")));
    case.paths.push((work, "[vitest_work]"));
    snapshot_run(&p, &case);
}

#[test]
#[ignore = "needs TESTFLOW_VITEST_WORK (tests/run-all.sh runs it)"]
fn vitest_basic() {
    snapshot_vitest("vitest-basic", &["--framework", "vitest", "-j", "2"]);
}

#[test]
#[ignore = "needs TESTFLOW_VITEST_WORK (tests/run-all.sh runs it)"]
fn vitest_crash() {
    // One worker: the unhandled rejection is attributed to the file that was running.
    snapshot_vitest("vitest-crash", &["--framework", "vitest", "-j", "1"]);
}

// ---- Playwright (needs TESTFLOW_PLAYWRIGHT_WORK: @playwright/test and jest-testflow) --
//
// A copy of the fixture with the work dir's node_modules linked in, run through `cargo
// testflow run` with the JUnit, Markdown and CTRF reports, which are snapshotted too.
// tests/run-all.sh runs it in its Playwright section (1.65.1, Debian's chromium).

/// A TCP port nobody listens on now, for the fixture's web server.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// What varies in the reports besides what [`FILTERS`] names: times and durations,
/// ids made from the run id, the fixture copy's commit.
const REPORT_FILTERS: &[(&str, &str)] = &[
    (r#"(time|timestamp)="[^"]*""#, r#"$1="[time]""#),
    (r"\b\d+(\.\d+)? (ms|s|min)\b", "[duration]"),
    (r"commit `[0-9a-f]{12}` on `[^`]*`", "commit [commit]"),
];

/// CTRF with what varies by key redacted (then [`normalize`], which names the paths).
fn normalize_ctrf(v: &mut Value, key: Option<&str>) {
    match (key, &mut *v) {
        (Some("duration" | "start" | "stop"), Value::Number(_)) => {
            *v = Value::String("[duration]".into())
        }
        (Some("timestamp"), _) => *v = Value::String("[time]".into()),
        (Some("reportId" | "executionId"), _) => *v = Value::String("[from run_id]".into()),
        (Some("runId"), _) => *v = Value::String("[run_id]".into()),
        (Some("commit" | "branchName"), _) => *v = Value::String("[git]".into()),
        (_, Value::Object(map)) => {
            for (k, x) in map.iter_mut() {
                normalize_ctrf(x, Some(k));
            }
        }
        (_, Value::Array(items)) => items.iter_mut().for_each(|x| normalize_ctrf(x, None)),
        _ => {}
    }
}

#[test]
#[ignore = "needs TESTFLOW_PLAYWRIGHT_WORK (tests/run-all.sh runs it)"]
fn playwright_basic() {
    let work = std::env::var_os("TESTFLOW_PLAYWRIGHT_WORK")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .expect("set TESTFLOW_PLAYWRIGHT_WORK to a directory with node_modules/{@playwright/test,jest-testflow} (tests/run-all.sh: target/playwright-versions/1.65.1)");
    let modules = work.join("node_modules");
    assert!(
        modules.join("@playwright/test").is_dir() && modules.join("jest-testflow").exists(),
        "{} has no @playwright/test and jest-testflow",
        modules.display()
    );
    let p = Project::copy_of("playwright-basic");
    std::os::unix::fs::symlink(&modules, p.dir.join("node_modules")).expect("link node_modules");
    let args = [
        "--report",
        "junit=out/junit.xml",
        "--report",
        "markdown=out/summary.md",
        "--report",
        "ctrf=out/ctrf.json",
    ];
    let mut case = Case::new("playwright-basic", &args);
    case.env.push(("CI", PathBuf::from("true")));
    case.env
        .push(("FIXTURE_PORT", PathBuf::from(free_port().to_string())));
    if let Some(chromium) = std::env::var_os("TESTFLOW_CHROMIUM") {
        case.env
            .push(("TESTFLOW_CHROMIUM", PathBuf::from(chromium)));
    }
    case.paths.push((work, "[playwright_work]"));
    case.filters.push((r"127\.0\.0\.1:\d+", "127.0.0.1:[port]"));
    // Playwright names a copied attachment with a hash that differs in every run.
    case.filters.push((r"-[0-9a-f]{40}\.", "-[sha1]."));
    // Node's warnings name the worker's pid.
    case.filters.push((r"\(node:\d+\)", "(node:[pid])"));
    snapshot_run(&p, &case);

    let read = |name: &str| {
        std::fs::read_to_string(p.dir.join("out").join(name))
            .unwrap_or_else(|e| panic!("playwright-basic: out/{name}: {e}"))
    };
    let mut ctrf: Value = serde_json::from_str(&read("ctrf.json")).expect("CTRF is JSON");
    normalize_ctrf(&mut ctrf, None);
    normalize(&mut ctrf, None, false, &literal_paths(&p, &case));
    let mut settings = settings(&p, &case);
    for (re, with) in REPORT_FILTERS {
        settings.add_filter(re, *with);
    }
    settings.bind(|| {
        insta::assert_snapshot!("playwright-basic__junit", read("junit.xml"));
        insta::assert_snapshot!(
            "playwright-basic__markdown",
            sorted_slowest(&read("summary.md"))
        );
        insta::assert_json_snapshot!("playwright-basic__ctrf", ctrf);
    });
}

/// The Markdown with its "Slowest tests" lines sorted: their order is the durations'.
fn sorted_slowest(md: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut block: Vec<String> = Vec::new();
    let mut inside = false;
    let duration = regex::Regex::new(r"^- \d+(\.\d+)? (ms|s|min) ").unwrap();
    for line in md.lines() {
        if line.starts_with("### ") {
            inside = line == "### Slowest tests";
        }
        if inside && line.starts_with("- ") {
            block.push(duration.replace(line, "- [duration] ").into_owned());
            continue;
        }
        block.sort();
        out.append(&mut block);
        out.push(line.to_owned());
    }
    block.sort();
    out.append(&mut block);
    out.join("\n")
}

// ---- Go fixtures --------------------------------------------------------------------

#[test]
fn go_basic() {
    // go.rs's full run: one package at a time (`-j 1`: `-p=1`), so the order is fixed;
    // failing tests get one retry, the flaky test passes on it.
    let p = Project::new("go-basic");
    let mut case = Case::new("go-basic", &["-j", "1", "--retries", "1"]);
    case.env
        .push(("GO_FLAKY_COUNTER", p.flaky_dir.path().join("go-counter")));
    snapshot_run(&p, &case);
}
