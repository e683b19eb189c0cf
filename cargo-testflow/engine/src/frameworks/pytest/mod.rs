//! pytest: what the `pytest-testflow` plugin's reports mean, and how `cargo testflow run`
//! drives a pytest suite.
//!
//! The plugin stays thin: it hands each pytest report over as plain strings and numbers
//! ([`Phase`]) and [`PytestRecorder`] folds setup/call/teardown (and subtests and
//! pytest-rerunfailures attempts) into one result per node id, classifies the failure
//! and writes the events. The rules live here, in Rust, where they are unit-tested.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::model::{Category, Failure, Framework, Outcome, TestMeta};

/// Expected and actual of a failed `assert a == b`.
mod affected;
pub mod compare;
/// Per-test dependencies observed while the tests ran (coverage contexts, opened files).
mod observed;
/// The interpreter probe's answer, kept while `sys.path` is unchanged.
mod probe_cache;
/// The recorder the pytest plugin calls: setup/call/teardown folded into one result.
pub mod recorder;

/// The message pytest-timeout fails a test with (signal method).
pub(crate) const TIMEOUT_MARK: &str = "from pytest-timeout";

/// One pytest report (`TestReport` of one phase), as plain fields.
#[derive(Clone, Debug, Default)]
pub struct Phase<'a> {
    pub nodeid: &'a str,
    /// `setup`, `call`, `teardown`, or `???` (pytest-xdist: the worker crashed).
    pub when: &'a str,
    /// `passed`, `failed`, `skipped`, or `rerun` (pytest-rerunfailures).
    pub outcome: &'a str,
    /// Seconds, this phase only.
    pub duration: f64,
    /// The xfail reason when xfail logic applied (`report.wasxfail`).
    pub wasxfail: Option<&'a str>,
    /// The exception's type name (`AssertionError`, `mod.MyError`), from the exception itself.
    pub exc_type: Option<&'a str>,
    /// One-line message (`reprcrash.message`, or the skip reason).
    pub message: Option<&'a str>,
    /// Where the exception was raised (`reprcrash`), 1-based line.
    pub crash_file: Option<&'a str>,
    pub crash_line: Option<u32>,
    /// The full rendered `longrepr` (traceback).
    pub longrepr: Option<&'a str>,
    /// Captured output, as bytes: kept losslessly (`Captured`), whatever pytest captured.
    pub stdout: Option<&'a [u8]>,
    pub stderr: Option<&'a [u8]>,
    pub log: Option<&'a [u8]>,
    /// pytest 9 subtest context (`msg` and kwargs), when this is a `SubtestReport`.
    pub subtest: Option<&'a str>,
    /// The comparison pytest's assertion rewriting saw (`pytest_assertrepr_compare`).
    pub compare: Option<compare::Compare<'a>>,
}

/// Text from Python made safe for the schema: valid UTF-8 stays as it is, every byte
/// that is not part of valid UTF-8 becomes `\xNN`. The bindings hand Python strings over
/// as their `surrogateescape` bytes, so a lone surrogate (`"caf\udce9"`, a file name that
/// is not UTF-8) arrives as its byte and comes out as `caf\xe9`: readable and stable.
pub fn safe_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Split a pytest node id into file, enclosing classes and test name. `::` inside a
/// parametrize id (`test_x[a::b]`) does not split.
pub fn split_nodeid(nodeid: &str) -> (Option<String>, Vec<String>, String) {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let bytes = nodeid.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b':' if depth == 0 && bytes.get(i + 1) == Some(&b':') => {
                parts.push(&nodeid[start..i]);
                i += 2;
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&nodeid[start..]);
    if parts.len() == 1 {
        // A module-level item (doctest file, collector): the id is the file.
        return (Some(parts[0].to_owned()), vec![], parts[0].to_owned());
    }
    let name = parts.pop().unwrap_or_default().to_owned();
    let file = parts.remove(0).to_owned();
    (
        Some(file),
        parts.into_iter().map(str::to_owned).collect(),
        name,
    )
}

/// The test's metadata from its node id and pytest's 0-based `location` line.
pub fn meta(nodeid: &str, line0: Option<u32>) -> TestMeta {
    let (file, suite, name) = split_nodeid(nodeid);
    TestMeta {
        id: nodeid.to_owned(),
        framework: Framework::Pytest,
        name,
        suite,
        file: file.filter(|f| !f.is_empty()),
        line: line0.map(|l| l + 1),
        binary: None,
    }
}

/// The failure category of an exception of type `exc_type` (or a message) in phase `when`.
pub fn classify(when: &str, exc_type: Option<&str>, message: &str) -> Category {
    let base = exc_type.map(|t| t.rsplit('.').next().unwrap_or(t));
    if message.contains(TIMEOUT_MARK) || base == Some("Timeout") {
        return Category::Timeout;
    }
    match when {
        "collect" => return collect_category(exc_type),
        "setup" | "teardown" => return Category::SetupError,
        "???" => return Category::Crash,
        _ => {}
    }
    match base {
        Some("AssertionError") => Category::Assertion,
        Some("ImportError" | "ModuleNotFoundError") => Category::ImportError,
        _ => Category::RuntimeError,
    }
}

/// `ValueError: boom` -> `boom` when the type is `ValueError` (pytest prefixes the
/// type for everything but rewritten asserts).
pub(crate) fn strip_type_prefix<'a>(exc_type: Option<&str>, message: &'a str) -> &'a str {
    let Some(t) = exc_type else { return message };
    for name in [t, t.rsplit('.').next().unwrap_or(t)] {
        if let Some(rest) = message.strip_prefix(name)
            && let Some(rest) = rest.strip_prefix(": ")
        {
            return rest;
        }
    }
    if message == t {
        return "";
    }
    message
}

pub(crate) fn rank(o: Outcome) -> u8 {
    match o {
        Outcome::Passed => 0,
        Outcome::Skipped | Outcome::Xfailed | Outcome::Xpassed => 1,
        Outcome::Failed | Outcome::Error | Outcome::Timeout => 2,
        Outcome::Crashed => 3,
    }
}

/// One attempt of one test being folded.
pub(crate) struct Open {
    pub(crate) meta: TestMeta,
    pub(crate) attempt: u32,
    pub(crate) duration_s: f64,
    pub(crate) outcome: Option<Outcome>,
    pub(crate) failure: Option<Failure>,
    /// The skip / xfail reason (not a failure).
    pub(crate) reason: Option<String>,
    /// pytest-rerunfailures said this attempt will be re-run.
    pub(crate) rerun: bool,
    pub(crate) phases: u32,
}

/// What `cargo testflow run` hands pytest to run the rest after a collection error.
pub const CONTINUE_HINT: &str = "pass pytest's --continue-on-collection-errors to run the other tests anyway (`cargo testflow run -- --continue-on-collection-errors`, or `pytest --testflow --continue-on-collection-errors`)";

pub(crate) fn not_run_message(ids: &[String], why: &str) -> String {
    const SHOWN: usize = 5;
    let mut m = format!(
        "{} collected tests did not run: {why}. Not run: {}",
        ids.len(),
        ids[..ids.len().min(SHOWN)].join(", ")
    );
    if ids.len() > SHOWN {
        m.push_str(&format!(" and {} more", ids.len() - SHOWN));
    }
    m
}

/// The category of a module pytest could not collect: a missing module is an
/// `import_error`; anything else (a syntax error, an exception at import time) kept the
/// module from being built: `build_error`.
pub fn collect_category(exc_type: Option<&str>) -> Category {
    match exc_type.map(|t| t.rsplit('.').next().unwrap_or(t)) {
        Some("ImportError" | "ModuleNotFoundError") | None => Category::ImportError,
        Some(_) => Category::BuildError,
    }
}

/// pytest's own view of a session, handed in by the plugin at its end: the status
/// pytest gave each report (`pytest_report_teststatus`, the words of its terminal
/// summary: `passed`, `failed`, `error`, `skipped`, `xfailed`, `xpassed`, `rerun`, …)
/// and the session's exit status.
#[derive(Clone, Debug, Default)]
pub struct PytestVerdict {
    pub reports: Vec<(String, String)>,
    pub exit_status: i32,
}

/// What the recorder recorded, for [`reconcile`].
pub struct Recorded<'a> {
    pub finals: &'a HashMap<String, Outcome>,
    pub collect_errors: usize,
    pub interrupted: bool,
}

/// pytest's verdict on one test: the worst status of its reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Said {
    Skipped,
    Xfailed,
    Passed,
    Xpassed,
    Failed,
}

impl Said {
    pub(crate) fn parse(status: &str) -> Option<Said> {
        // pytest 9 subtests report as `subtests passed`, `subtests failed`, …
        match status.strip_prefix("subtests ").unwrap_or(status) {
            "passed" => Some(Said::Passed),
            "failed" | "error" => Some(Said::Failed),
            "skipped" => Some(Said::Skipped),
            "xfailed" => Some(Said::Xfailed),
            "xpassed" => Some(Said::Xpassed),
            _ => None, // "" (setup/teardown passed), rerun, deselected, plugins' own words
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Said::Skipped => "skipped",
            Said::Xfailed => "xfailed",
            Said::Passed => "passed",
            Said::Xpassed => "xpassed",
            Said::Failed => "failed",
        }
    }
}

/// pytest's exit statuses (`pytest.ExitCode`).
pub(crate) fn exit_status_name(status: i32) -> &'static str {
    match status {
        0 => "OK",
        1 => "TESTS_FAILED",
        2 => "INTERRUPTED",
        3 => "INTERNAL_ERROR",
        4 => "USAGE_ERROR",
        5 => "NO_TESTS_COLLECTED",
        _ => "unknown",
    }
}

/// Compare what was recorded with pytest's own verdict; one message per disagreement,
/// naming both sides. Being stricter than pytest is a disagreement too (a bug either way),
/// but the dangerous direction is a test recorded green that pytest did not pass.
pub fn reconcile(recorded: &Recorded<'_>, verdict: &PytestVerdict) -> Vec<String> {
    const SHOWN: usize = 5;
    let mut said: HashMap<&str, Said> = HashMap::new();
    for (id, status) in &verdict.reports {
        if let Some(s) = Said::parse(status) {
            let e = said.entry(id.as_str()).or_insert(s);
            *e = (*e).max(s);
        }
    }
    let mut problems: Vec<String> = Vec::new();
    let mut ids: Vec<&String> = recorded.finals.keys().collect();
    ids.sort();
    for id in ids {
        let ours = recorded.finals[id];
        let theirs = said.get(id.as_str()).copied();
        let disagree = match theirs {
            Some(Said::Failed) => !ours.is_failure(),
            Some(_) => ours.is_failure(),
            // No verdict from pytest: only a pass would be unfounded.
            None => ours == Outcome::Passed,
        };
        if disagree {
            problems.push(format!(
                "{id}: pytest said {}, testflow recorded {}",
                theirs.map_or("nothing", Said::as_str),
                ours.as_str()
            ));
        }
    }
    let mut lost: Vec<&&str> = said
        .keys()
        .filter(|id| !recorded.finals.contains_key(**id))
        .collect();
    lost.sort();
    for id in lost {
        problems.push(format!(
            "{id}: pytest said {}, testflow recorded nothing",
            said[*id].as_str()
        ));
    }
    let mut out = Vec::new();
    if !problems.is_empty() {
        let n = problems.len();
        let mut m = format!("{n} tests disagree with pytest's own reports: ");
        m.push_str(&problems[..n.min(SHOWN)].join("; "));
        if n > SHOWN {
            m.push_str(&format!("; and {} more", n - SHOWN));
        }
        out.push(m);
    }
    let ours_failing =
        recorded.finals.values().filter(|o| o.is_failure()).count() + recorded.collect_errors;
    let theirs_failing = said.values().filter(|s| **s == Said::Failed).count();
    let status = verdict.exit_status;
    let name = exit_status_name(status);
    let unexplained = match status {
        0 => (ours_failing > 0 || theirs_failing > 0).then(|| {
            format!(
                "pytest's session ended OK (exit status 0) but {theirs_failing} tests failed by its reports and {ours_failing} by testflow's record"
            )
        }),
        1 => (ours_failing == 0 && theirs_failing == 0).then(|| {
            "pytest's session ended TESTS_FAILED (exit status 1) but no test failed, by its reports or by testflow's record".to_owned()
        }),
        // Collection errors end the session as INTERRUPTED; they are recorded as errors.
        // Any other interruption was recorded when it happened (`interrupted`).
        2 if recorded.collect_errors > 0 || recorded.interrupted => None,
        2 => Some(
            "pytest's session ended INTERRUPTED (exit status 2) with no collection error and no interruption seen".to_owned(),
        ),
        5 => (!recorded.finals.is_empty()).then(|| {
            format!(
                "pytest's session ended NO_TESTS_COLLECTED (exit status 5) but testflow recorded {} tests",
                recorded.finals.len()
            )
        }),
        _ => Some(format!(
            "pytest's session ended {name} (exit status {status}): the results may be incomplete"
        )),
    };
    out.extend(unexplained);
    out
}

// ---------------------------------------------------------------------------------------
// `cargo testflow run` / `list` on a pytest project.

/// Environment variable naming a per-test time limit (seconds) the plugin enforces itself
/// when pytest-timeout is not installed: the test still running at the limit is recorded
/// as `timeout` and the pytest process ends (a whole-process watchdog).
pub const TEST_TIMEOUT_ENV: &str = "TESTFLOW_TEST_TIMEOUT";
/// Environment variable naming a file the plugin writes the collected node ids to (JSON
/// list), for `cargo testflow list`.
pub const COLLECT_ENV: &str = "TESTFLOW_COLLECT";
/// Environment variable naming a file the plugin writes pytest's session exit status to
/// (`{"exit_status": N}`) when the session ends, so the driver can tell a finished
/// session from a process that ended early (`os._exit(0)` in a test).
pub const STATUS_ENV: &str = "TESTFLOW_PYTEST_STATUS";
/// Environment variable choosing the Python interpreter that runs pytest.
pub const PYTHON_ENV: &str = "TESTFLOW_PYTHON";

/// How to install the plugin. pytest-testflow is not on PyPI yet: name the install that
/// works today, never a package name we cannot promise.
pub(crate) const INSTALL_HINT: &str = "pip install <testflow checkout>/python";

/// Is `root` a pytest project? pytest configuration (`pytest.ini`, `[tool.pytest…]` in
/// `pyproject.toml`, `[tool:pytest]` in `setup.cfg`, `[pytest]` in `tox.ini`), a root
/// `conftest.py`, or `test_*.py` / `*_test.py` files in the root, `tests/` or `test/`.
/// Whether `dir` holds a pytest configuration (`pytest.ini`, `[tool.pytest.ini_options]`
/// in pyproject.toml, `[tool:pytest]` in setup.cfg, `[pytest]` in tox.ini): a project
/// root, as pytest's own rootdir search sees it.
pub fn has_config(dir: &Path) -> bool {
    let contains = |file: &str, needle: &str| {
        std::fs::read_to_string(dir.join(file)).is_ok_and(|t| t.contains(needle))
    };
    dir.join("pytest.ini").is_file()
        || contains("pyproject.toml", "[tool.pytest")
        || contains("setup.cfg", "[tool:pytest]")
        || contains("tox.ini", "[pytest]")
}

pub fn is_pytest_project(root: &Path) -> bool {
    if has_config(root) || root.join("conftest.py").is_file() {
        return true;
    }
    [root.to_owned(), root.join("tests"), root.join("test")]
        .iter()
        .any(|dir| {
            std::fs::read_dir(dir).is_ok_and(|rd| {
                rd.flatten().any(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.ends_with(".py")
                        && (name.starts_with("test_") || name.ends_with("_test.py"))
                })
            })
        })
}

/// The Python that runs the project's tests: `$TESTFLOW_PYTHON`, the active virtualenv,
/// the project's `.venv/` or `venv/`, then `python3` / `python` on PATH.
pub fn find_python(root: &Path) -> PathBuf {
    if let Some(p) = std::env::var_os(PYTHON_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let mut candidates = Vec::new();
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV").filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(venv).join("bin/python"));
    }
    candidates.push(root.join(".venv/bin/python"));
    candidates.push(root.join("venv/bin/python"));
    if let Some(c) = candidates.into_iter().find(|c| c.is_file()) {
        return c;
    }
    let on_path = |name: &str| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    };
    on_path("python3")
        .or_else(|| on_path("python"))
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// What the project's Python has installed.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Probe {
    pub pytest: bool,
    pub testflow: bool,
    pub xdist: bool,
    pub timeout: bool,
    pub rerunfailures: bool,
    /// pytest-cov, for `run --coverage`.
    #[serde(default)]
    pub cov: bool,
}

/// Printed without the `json` module: importing it is a third of the probe's time
/// (12 of ~40 ms, `python -X importtime`), paid before every pytest run.
pub(crate) const PROBE: &str = r#"
import importlib.util as u
def has(m):
    try:
        return u.find_spec(m) is not None
    except Exception:
        return False
found = {"pytest": has("pytest"), "testflow": has("testflow.plugin") and has("testflow._native"),
  "xdist": has("xdist"), "timeout": has("pytest_timeout"), "rerunfailures": has("pytest_rerunfailures"),
  "cov": has("pytest_cov")}
print("{" + ", ".join('"%s": %s' % (k, "true" if v else "false") for k, v in found.items()) + "}")
import site, sys
paths = list(sys.path) + ([site.USER_SITE] if site.ENABLE_USER_SITE and site.USER_SITE else [])
if not any("\n" in p for p in paths):
    print("\n".join(paths))
"#;

pub fn probe(python: &Path, root: &Path) -> Result<Probe> {
    let store = crate::store::Store::for_project(root);
    if let Some(kept) = probe_cache::load(store.root(), python, root) {
        return Ok(kept);
    }
    let out = std::process::Command::new(python)
        .args(["-c", PROBE])
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| super::EnvironmentError(format!("cannot run {}: {e}", python.display())))?;
    if !out.status.success() {
        anyhow::bail!(
            "{} failed ({}): {}",
            python.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (answer, paths) = text.split_once('\n').unwrap_or((&text, ""));
    let probe: Probe = serde_json::from_str(answer.trim())
        .map_err(|e| anyhow::anyhow!("unexpected answer from {}: {e}: {text}", python.display()))?;
    // Only an interpreter that has everything is worth remembering: one that lacks pytest
    // or the plugin is about to be fixed, and must be asked again then.
    if probe.pytest && probe.testflow && std::str::from_utf8(&out.stdout).is_ok() {
        let paths: Vec<String> = paths.lines().map(str::to_owned).collect();
        probe_cache::save(store.root(), python, root, &probe, &paths);
    }
    Ok(probe)
}

pub(crate) fn ready(python: &Path, root: &Path) -> Result<Probe> {
    let probe = probe(python, root)?;
    if !probe.pytest {
        return Err(super::EnvironmentError(format!(
            "pytest is not installed for {} (the Python used for {}); install it with: {py} -m pip install pytest, then the plugin: {py} -m {INSTALL_HINT}",
            python.display(),
            root.display(),
            py = python.display()
        ))
        .into());
    }
    if !probe.testflow {
        return Err(super::EnvironmentError(format!(
            "the pytest-testflow plugin is not installed for {} (the Python used for {}); install it with: {} -m {INSTALL_HINT}  (or choose another Python with ${PYTHON_ENV})",
            python.display(),
            root.display(),
            python.display()
        ))
        .into());
    }
    Ok(probe)
}

/// A `-k` expression from substring filters: each becomes a keyword (pytest matches
/// keywords as case-insensitive substrings of test names).
pub fn keyword_expr(filters: &[String]) -> Option<String> {
    let words: Vec<&str> = filters
        .iter()
        .map(|f| f.trim())
        .filter(|f| !f.is_empty())
        .collect();
    (!words.is_empty()).then(|| words.join(" or "))
}

/// The pytest command line for a run with these options.
/// `workers` is the decision of `frameworks::workers`: with pytest-xdist installed, 1 is
/// `-n 0` (no distribution, even if the project's `addopts` asks for it).
pub fn pytest_args(
    options: &crate::runner::RunOptions,
    probe: &Probe,
    workers: usize,
) -> Vec<String> {
    // `-q`: pytest's output only goes to the log kept for a crash's tail, and its default
    // verbosity costs it a path computation and a flushed write to our pipe for every test
    // (about 2% of a trivial test's CPU). Failures' tracebacks are printed the same.
    let mut args = vec!["-m".to_owned(), "pytest".to_owned(), "-q".to_owned()];
    if probe.xdist {
        let n = if workers > 1 { workers } else { 0 };
        args.extend(["-n".to_owned(), n.to_string()]);
    }
    if let (Some(t), true) = (options.test_timeout, probe.timeout) {
        args.push(format!("--timeout={}", t.as_secs_f64()));
    }
    if options.retries > 0 && probe.rerunfailures {
        args.push(format!("--reruns={}", options.retries));
    }
    if options.fail_fast {
        args.push("-x".to_owned());
    }
    if let Some(k) = keyword_expr(&options.filters) {
        args.extend(["-k".to_owned(), k]);
    }
    let pass = &options.pass_through;
    if let Some((spec, strategy)) = pass.shard {
        args.push(format!("--testflow-shard={}/{}", spec.index, spec.total));
        args.push(format!("--testflow-shard-strategy={}", strategy.as_str()));
    }
    if pass.order != crate::ordering::Order::Default {
        args.push(format!("--testflow-order={}", pass.order.as_str()));
    }
    if pass.last_failed {
        args.push("--testflow-last-failed".to_owned());
    }
    if let (Some(dir), true) = (&options.coverage_dir, probe.cov) {
        args.extend(coverage_args(dir).0);
    }
    // The user's own arguments come last, so they can override ours.
    args.extend(options.framework_args.iter().cloned());
    args
}

/// pytest as a [`Plugin`](super::Plugin).
pub struct Pytest;

impl Pytest {
    /// A node id's file (the id itself for a module-level item).
    pub(crate) fn file_of_id<'a>(&self, id: &'a str) -> &'a str {
        super::Plugin::file_of(self, id).unwrap_or(id)
    }
}

impl super::Plugin for Pytest {
    fn framework(&self) -> Framework {
        Framework::Pytest
    }

    fn detect(&self, d: &super::Detect<'_>) -> Result<Option<Box<dyn super::Suite>>> {
        Ok(PytestSuite::detect(d.root).map(|s| Box::new(s) as Box<dyn super::Suite>))
    }

    fn is_project(&self, dir: &Path) -> bool {
        is_pytest_project(dir)
    }

    fn is_configured_root(&self, dir: &Path) -> bool {
        has_config(dir)
    }

    fn looks_for(&self) -> &'static str {
        "pytest configuration or test_*.py files"
    }

    fn selects_affected(&self) -> bool {
        true
    }

    /// A node id's file: before the first `::`.
    fn file_of<'a>(&self, id: &'a str) -> Option<&'a str> {
        id.find("::").map(|i| &id[..i])
    }

    fn coverage_report(&self) -> &'static str {
        "pytest.json"
    }

    fn junit_group<'a>(&self, t: &'a crate::model::TestCase) -> Option<&'a String> {
        t.file.as_ref().or(t.binary.as_ref())
    }

    /// Like pytest's own junitxml: classname = module path then classes.
    fn junit_names(&self, t: &crate::model::TestCase) -> (String, String) {
        let class: Vec<String> = t
            .file
            .as_deref()
            .map(super::dotted_path)
            .into_iter()
            .chain(t.suite.iter().cloned())
            .collect();
        let class = if class.is_empty() {
            "pytest".to_owned()
        } else {
            class.join(".")
        };
        (t.name.clone(), class)
    }

    fn missing_import(&self, message: &str) -> Option<String> {
        static PY: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(r#"No module named ['"]([^'"]+)['"]"#).expect("valid regex")
        });
        PY.captures(message).map(|c| c[1].to_owned())
    }

    fn install(&self, module: &str) -> (Option<String>, String) {
        // testflow's own packages are not published yet (and a registry's `testflow` is
        // someone else's): name the install that works today.
        if module.split('.').next() == Some("testflow") {
            return (
                Some("pip install <testflow checkout>/python".to_owned()),
                format!(
                    "Python module `{module}` (testflow's pytest plugin, not published yet) is not installed in the environment the tests ran in."
                ),
            );
        }
        let top = module.split('.').next().unwrap_or(module).to_owned();
        (
            Some(format!("pip install {}", pypi_name(&top))),
            format!(
                "Python module `{module}` is not installed in the environment the tests ran in."
            ),
        )
    }
}

/// coverage.py's data file for a run whose coverage reports go to `dir`.
fn coverage_data_file(dir: &Path) -> PathBuf {
    dir.join(".coverage.pytest")
}

/// pytest-cov's arguments and environment for a run whose reports go to `dir`.
pub fn coverage_args(dir: &Path) -> (Vec<String>, Vec<(String, String)>) {
    (
        vec![
            "--cov".into(),
            format!(
                "--cov-report=json:{}",
                dir.join(super::Plugin::coverage_report(&Pytest)).display()
            ),
        ],
        vec![(
            "COVERAGE_FILE".into(),
            coverage_data_file(dir).display().to_string(),
        )],
    )
}

/// Import names whose PyPI distribution is named differently.
pub(crate) fn pypi_name(module: &str) -> &str {
    match module {
        "yaml" => "pyyaml",
        "cv2" => "opencv-python",
        "PIL" => "pillow",
        "sklearn" => "scikit-learn",
        "bs4" => "beautifulsoup4",
        "dateutil" => "python-dateutil",
        "dotenv" => "python-dotenv",
        "jwt" => "pyjwt",
        other => other,
    }
}

pub struct PytestSuite {
    pub(crate) root: PathBuf,
    /// The Python and what it has installed, asked in `prepare` (beside the run's git
    /// calls, ~40 ms) and answered in `units`.
    probed: Option<(PathBuf, Result<Probe>)>,
    /// What `--collect-only` found, once per command (`list --affected` lists and
    /// selects from one collection).
    collected: std::sync::OnceLock<Collection>,
}

impl PytestSuite {
    pub fn detect(root: &Path) -> Option<PytestSuite> {
        is_pytest_project(root).then(|| PytestSuite {
            root: root.to_owned(),
            probed: None,
            collected: std::sync::OnceLock::new(),
        })
    }
}

impl super::Suite for PytestSuite {
    fn framework(&self) -> Framework {
        Framework::Pytest
    }

    fn prepare(&mut self, _p: &mut super::Prepare<'_>) -> Result<super::Prepared> {
        let python = find_python(&self.root);
        let probe = ready(&python, &self.root);
        self.probed = Some((python, probe));
        Ok(super::Prepared::default())
    }

    fn units(
        mut self: Box<Self>,
        ctx: &crate::runner::Ctx,
        plan: &mut super::Planning<'_>,
    ) -> Result<Vec<Box<dyn crate::runner::Unit>>> {
        let (python, probe) = match self.probed.take() {
            Some(probed) => probed,
            None => {
                let python = find_python(&self.root);
                let probe = ready(&python, &self.root);
                (python, probe)
            }
        };
        let probe = probe?;
        let affected = match plan.affected {
            Some(a) => affected::select(&self, &python, a, plan.history)?,
            None => None,
        };
        if affected.as_ref().is_some_and(|a| a.args.is_empty()) {
            return Ok(vec![]); // nothing affected: pytest does not start
        }
        let share = affected.as_ref().map(|a| (a.tests, a.collected));
        let decision = self.workers(ctx, &python, &probe, share, plan.history);
        if let Err(e) = super::workers::record(ctx.events_path(), &decision) {
            ctx.warn(format!("cannot record the pytest workers decision: {e:#}"));
        }
        let mut args = pytest_args(&ctx.options, &probe, decision.workers);
        // Before the user's own arguments (which come last).
        let mut ours = affected.map(|a| a.args).unwrap_or_default();
        let (observing, env) = self.observing(ctx, plan, &probe, &python);
        ours.extend(env.args);
        let at = args.len().saturating_sub(ctx.options.framework_args.len());
        args.splice(at..at, ours);
        Ok(vec![Box::new(PytestUnit {
            root: self.root,
            args,
            python,
            probe,
            decision,
            observing,
            env: env.vars,
        })])
    }

    fn shard_items(
        &mut self,
        _echo: &mut (dyn std::io::Write + Send),
    ) -> Result<Option<(Vec<String>, crate::frameworks::Grain)>> {
        Ok(Some((
            self.collect()?.items,
            crate::frameworks::Grain::Test,
        )))
    }

    /// The run's selection (`affected::select`, as `units` calls it).
    fn select_affected(
        &mut self,
        plan: &crate::affected::Plan,
        history: Option<&crate::history::History>,
        _echo: &mut (dyn std::io::Write + Send),
    ) -> Result<bool> {
        let python = find_python(&self.root);
        ready(&python, &self.root)?;
        affected::select(self, &python, plan, history)?;
        Ok(true)
    }

    fn listing(
        &mut self,
        _echo: &mut (dyn std::io::Write + Send),
    ) -> Result<Option<Vec<super::SuiteListing>>> {
        let Collection { items: ids, errors } = self.collect()?;
        let package = self
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut suites = listing_from_ids(&package, &ids);
        // A module pytest could not collect is listed with its error, never dropped.
        suites.extend(errors.into_iter().map(|e| super::SuiteListing {
            id: e.nodeid,
            package: package.clone(),
            kind: "pytest".into(),
            error: Some(format!("collection failed: {}", e.message)),
            ..Default::default()
        }));
        Ok(Some(suites))
    }
}

/// One suite per test file, in collection order, with its tests' node ids.
pub fn listing_from_ids(package: &str, ids: &[String]) -> Vec<super::SuiteListing> {
    let mut files: Vec<(String, super::ListedTest)> = Vec::with_capacity(ids.len());
    for id in ids {
        let (file, _, name) = split_nodeid(id);
        let file = file.unwrap_or_default();
        // Skip marks are applied when pytest runs the test: not known here.
        let test = super::ListedTest {
            id: id.clone(),
            name,
            framework: Framework::Pytest,
            file: Some(file.clone()),
            line: None,
            ignored: None,
            affected: None,
        };
        files.push((file, test));
    }
    by_file(files)
        .into_iter()
        .map(|(file, tests)| super::SuiteListing {
            id: file,
            package: package.to_owned(),
            kind: "pytest".into(),
            tests: tests.len(),
            files: Some(1),
            test_list: tests,
            ..Default::default()
        })
        .collect()
}

/// `(file, item)` pairs grouped by file: the files in the order they first appear, each
/// with its items in order. By index, not by search: a suite has thousands of files.
pub(crate) fn by_file<T>(items: impl IntoIterator<Item = (String, T)>) -> Vec<(String, Vec<T>)> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<(String, Vec<T>)> = Vec::new();
    for (file, item) in items {
        match index.get(&file) {
            Some(&i) => out[i].1.push(item),
            None => {
                index.insert(file.clone(), out.len());
                out.push((file, vec![item]));
            }
        }
    }
    out
}

/// What `pytest --collect-only` found, as the plugin writes it (`TESTFLOW_COLLECT`).
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub(crate) struct Collection {
    pub(crate) items: Vec<String>,
    #[serde(default)]
    pub(crate) errors: Vec<CollectError>,
}

#[derive(Clone, Debug, serde::Deserialize)]
pub(crate) struct CollectError {
    pub(crate) nodeid: String,
    pub(crate) message: String,
}

impl<'de> serde::Deserialize<'de> for CollectionFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Either {
            Ids(Vec<String>),
            Full(Collection),
        }
        Ok(CollectionFile(match Either::deserialize(d)? {
            // An older plugin: the node ids only.
            Either::Ids(items) => Collection {
                items,
                errors: Vec::new(),
            },
            Either::Full(c) => c,
        }))
    }
}

pub(crate) struct CollectionFile(Collection);

/// What observing the tests' dependencies adds to pytest's command line and environment.
#[derive(Default)]
struct ObservingEnv {
    args: Vec<String>,
    vars: Vec<(String, String)>,
}

/// One pytest process for the whole suite; the plugin appends its events to the run's log.
pub(crate) struct PytestUnit {
    pub(crate) root: PathBuf,
    pub(crate) python: PathBuf,
    pub(crate) args: Vec<String>,
    pub(crate) probe: Probe,
    /// The workers decision, recorded again with the run's CPU time once pytest ended.
    pub(crate) decision: crate::model::WorkersDecision,
    /// Each test file's observed dependencies to record for `--affected` once pytest ended.
    observing: Option<observed::Job>,
    /// Environment of ours for pytest (where the observations go).
    env: Vec<(String, String)>,
}

impl crate::runner::Unit for PytestUnit {
    fn planned_tests(&self) -> usize {
        0
    }

    fn execute(self: Box<Self>, ctx: &crate::runner::Ctx) -> Vec<Box<dyn crate::runner::Unit>> {
        let status_file = ctx
            .events_path()
            .with_file_name(format!("pytest-status-{}.json", crate::store::new_run_id()));
        let mut cmd = std::process::Command::new(&self.python);
        cmd.args(&self.args)
            .current_dir(&self.root)
            .env(crate::events::EVENTS_ENV, ctx.events_path())
            .env(STATUS_ENV, &status_file)
            .env_remove(crate::names::REPORT_ENV)
            .env_remove(COLLECT_ENV);
        if let (Some(t), false) = (ctx.options.test_timeout, self.probe.timeout) {
            cmd.env(TEST_TIMEOUT_ENV, t.as_secs_f64().to_string());
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &ctx.options.coverage_dir {
            if self.probe.cov {
                cmd.envs(coverage_args(dir).1);
            } else {
                ctx.coverage_note(crate::coverage::collect::unavailable(
                    Framework::Pytest,
                    format!(
                        "pytest-cov is not installed for {}: install it with `{} -m pip install pytest-cov`",
                        self.python.display(),
                        self.python.display()
                    ),
                ));
            }
        }
        for warning in option_warnings(&ctx.options, &self.probe, &self.python) {
            ctx.warn(warning);
        }
        // Without pytest-rerunfailures nothing is retried: no failed attempt is a RETRY.
        let retries = if self.probe.rerunfailures {
            ctx.options.retries
        } else {
            0
        };
        let log_size = || {
            std::fs::metadata(ctx.events_path())
                .map(|m| m.len())
                .unwrap_or(0)
        };
        let before = log_size();
        let result = ctx.following_log_retrying(Framework::Pytest, retries, || {
            ctx.processes.run(cmd, None, ctx.options.output_cap, None)
        });
        match result {
            Err(e) => ctx.run_error(
                "build",
                format!("cannot run {}: {e}", self.python.display()),
            ),
            Ok(out) => {
                // 0 passed, 1 tests failed, 5 nothing collected: the plugin recorded it all.
                // 2 (interrupted / collection errors) is recorded by the plugin too.
                let code = match out.exit {
                    crate::process::ExitKind::Code(c) => Some(c),
                    crate::process::ExitKind::Signal(_) => None,
                };
                let session = std::fs::read_to_string(&status_file)
                    .ok()
                    .map(|t| session_status(&t));
                let _ = std::fs::remove_file(&status_file);
                if let Some(Ok(status)) = &session
                    && let Some(note) = collection_note(status, &self.args)
                {
                    ctx.warn(note);
                }
                let session = session.map(|s| s.map(|s| s.exit_status));
                if out.killed.is_none()
                    && let Some(message) = check_exit(&self.root, code, session)
                {
                    ctx.run_error(crate::model::error_kind::RECONCILE, message);
                }
                if out.killed.is_none() && matches!(code, Some(3 | 4)) || code.is_none() {
                    let stderr = String::from_utf8_lossy(&out.stderr.contiguous()).into_owned();
                    let stdout = String::from_utf8_lossy(&out.stdout.contiguous()).into_owned();
                    let tail = output_tail(&format!("{stdout}{stderr}"));
                    // pytest that recorded nothing could not run the suite (usage or
                    // internal error): a build failure, exit 101. After tests ran, a
                    // strange exit is the crash the plugin already attributed.
                    let recorded = log_size() > before;
                    let said = if tail.is_empty() {
                        String::new()
                    } else {
                        format!(":\n{tail}")
                    };
                    ctx.run_error(
                        if recorded { "pytest" } else { "build" },
                        format!(
                            "pytest in {} ended with {}{said}",
                            self.root.display(),
                            out.exit
                        ),
                    );
                }
                if let (Some(job), None) = (&self.observing, &out.killed) {
                    // Derived data: without it the import scan's dependencies stand.
                    if let Err(e) = observed::record(job) {
                        ctx.warn(format!(
                            "--affected: what the tests used was not recorded: {e:#}"
                        ));
                    }
                }
                // What the suite cost in CPU, for the next run's workers decision (last:
                // this event is not the plugin's, and must not count as its output).
                if out.killed.is_none() {
                    let measured = super::workers::measured(&self.decision, &out);
                    if let Err(e) = super::workers::record(ctx.events_path(), &measured) {
                        ctx.warn(format!("cannot record pytest's CPU time: {e:#}"));
                    }
                }
            }
        }
        vec![]
    }
}

/// The last 30 lines of what pytest printed, without its progress lines (`..F.s [ 40%]`):
/// the part that can say why a process ended.
pub(crate) fn output_tail(output: &str) -> String {
    let progress = |line: &str| {
        let line = line.trim_end();
        let marks = match line.rfind(" [") {
            Some(at) if line.ends_with("%]") => &line[..at],
            _ => line,
        };
        !marks.is_empty() && marks.trim_end().chars().all(|c| ".sFExXR".contains(c))
    };
    let lines: Vec<&str> = output.lines().filter(|l| !progress(l)).collect::<Vec<_>>();
    let from = lines.len().saturating_sub(30);
    lines[from..].join("\n").trim().to_owned()
}

/// How pytest's session ended, from the plugin's status file.
#[derive(Debug, PartialEq, serde::Deserialize)]
pub(crate) struct SessionStatus {
    pub(crate) exit_status: i32,
    /// Modules that failed to collect (older plugins do not say: 0).
    #[serde(default)]
    pub(crate) collect_errors: usize,
}

/// The plugin's status file; `Err` with the text when unreadable.
pub(crate) fn session_status(text: &str) -> Result<SessionStatus, String> {
    serde_json::from_str::<SessionStatus>(text).map_err(|e| format!("{e}: {}", text.trim()))
}

/// Options of `cargo testflow run` that pytest cannot honour without a plugin, and so
/// were not applied: one warning each (not a run error: the verdict is not in doubt).
pub(crate) fn option_warnings(
    options: &crate::runner::RunOptions,
    probe: &Probe,
    python: &Path,
) -> Vec<String> {
    let py = python.display();
    let mut out = Vec::new();
    if options.retries > 0 && !probe.rerunfailures {
        out.push(format!(
            "--retries {} needs pytest-rerunfailures, which is not installed for {py}: pytest tests are not retried (install it with `{py} -m pip install pytest-rerunfailures`)",
            options.retries
        ));
    }
    if options.jobs_given && options.jobs > 1 && !probe.xdist {
        out.push(format!(
            "-j {} needs pytest-xdist, which is not installed for {py}: pytest runs its tests in one process, one at a time (install it with `{py} -m pip install pytest-xdist`)",
            options.jobs
        ));
    }
    out
}

/// pytest alone stops after a collection error; pytest-xdist (or
/// `--continue-on-collection-errors`) runs the other tests. When they ran despite
/// collection errors, say that `-j 1` would not have run them, so the two runs' different
/// `not_run` errors are explained.
pub(crate) fn collection_note(status: &SessionStatus, args: &[String]) -> Option<String> {
    if status.collect_errors == 0 || status.exit_status == 2 {
        return None;
    }
    let n = status.collect_errors;
    let errors = if n == 1 { "error" } else { "errors" };
    if args.iter().any(|a| a == "--continue-on-collection-errors") {
        return None;
    }
    let distributed = args.windows(2).any(|w| w[0] == "-n" && w[1] != "0")
        || args
            .iter()
            .any(|a| a.starts_with("--numprocesses") && a != "--numprocesses=0");
    distributed
        .then(|| {
            format!(
                "pytest could not collect {n} module{s} (recorded as {errors}) and pytest-xdist ran the other tests anyway; \
                 pytest without xdist (`-j 1`) stops after a collection error and runs none of them (a `not_run` run error) \
                 unless given `-- --continue-on-collection-errors`: either way the run fails",
                s = if n == 1 { "" } else { "s" },
            )
        })
}

/// The driver's side of reconciling: pytest's process exit code against the status its
/// session ended with (the plugin reconciled the tests themselves). `code` is None when a
/// signal ended the process (reported elsewhere); `session` None when the plugin never saw
/// the session end.
pub fn check_exit(
    root: &Path,
    code: Option<i32>,
    session: Option<Result<i32, String>>,
) -> Option<String> {
    let code = code?;
    match session {
        None => Some(format!(
            "pytest in {} exited with code {code} ({}) but its session never ended: a test or plugin ended the process early (os._exit, a crash), so its results are incomplete",
            root.display(),
            exit_status_name(code)
        )),
        Some(Err(e)) => Some(format!(
            "pytest in {} exited with code {code}; the session status the testflow plugin wrote is unreadable: {e}",
            root.display()
        )),
        Some(Ok(status)) if status != code => Some(format!(
            "pytest in {} exited with code {code} ({}) but its session ended with status {status} ({})",
            root.display(),
            exit_status_name(code),
            exit_status_name(status)
        )),
        Some(Ok(_)) => None,
    }
}

impl PytestSuite {
    /// Serial or xdist, and why (`frameworks::workers`). Only when the choice is open
    /// (no `-j`, several CPUs, xdist installed) does it read history, or with none,
    /// collect the suite once to count its tests and time a worker's start-up.
    pub(crate) fn workers(
        &self,
        ctx: &crate::runner::Ctx,
        python: &Path,
        probe: &Probe,
        share: Option<(u64, u64)>,
        history: Option<&crate::history::History>,
    ) -> crate::model::WorkersDecision {
        use super::workers::{Input, XDIST, decide};
        let mut input = Input {
            jobs: ctx.options.jobs,
            jobs_given: ctx.options.jobs_given,
            available: probe.xdist,
            past: None,
            collected: None,
            startup_ms: None,
        };
        if input.jobs_given || input.jobs <= 1 || !input.available {
            return decide(Framework::Pytest, input, XDIST);
        }
        input.past = super::workers::past_time(history, Framework::Pytest);
        if let (Some(past), Some((selected, of))) = (input.past, share)
            && selected < of
        {
            input.past = Some(past.share(selected, of));
            let mut d = decide(Framework::Pytest, input, XDIST);
            d.reason = format!(
                "{} (the last run's work scaled to the {selected} of {of} tests --affected selected)",
                d.reason
            );
            return d;
        }
        if let (None, Some((selected, _))) = (input.past, share) {
            // `--affected` has just collected: no second collection to count them.
            input.collected = Some(selected);
            return decide(Framework::Pytest, input, XDIST);
        }
        if input.past.is_none() {
            let t0 = std::time::Instant::now();
            if let Ok(c) = self.collect_with(python) {
                input.collected = Some(c.items.len() as u64);
                input.startup_ms = Some(t0.elapsed().as_secs_f64() * 1000.0);
            }
        }
        decide(Framework::Pytest, input, XDIST)
    }

    /// The node ids pytest collects and the modules it could not collect (through the
    /// plugin, with `--collect-only`).
    /// What this run observes of each test's dependencies for `--affected` (see
    /// `observed`), when there is a history to keep them in: coverage contexts when
    /// pytest-cov collects coverage anyway (`--coverage`); in an `--affected=record` run,
    /// the files the tests open, and coverage contexts with pytest-cov installed. The
    /// job, and the arguments and environment it needs.
    fn observing(
        &self,
        ctx: &crate::runner::Ctx,
        plan: &super::Planning<'_>,
        probe: &Probe,
        python: &Path,
    ) -> (Option<observed::Job>, ObservingEnv) {
        let mut env = ObservingEnv::default();
        let Some(store_root) = plan.history.and_then(|h| h.path().parent()) else {
            return (None, env);
        };
        let record = plan
            .affected
            .is_some_and(|a| a.mode == crate::affected::Mode::Record);
        let (data, remove) = match (&ctx.options.coverage_dir, probe.cov) {
            (_, false) => (None, false),
            (Some(dir), true) => (Some(coverage_data_file(dir)), false),
            (None, true) if record => {
                let data = plan.run_dir.join(".coverage.affected-pytest");
                env.args
                    .extend(["--cov".to_owned(), "--cov-report=".to_owned()]);
                env.vars
                    .push(("COVERAGE_FILE".into(), data.display().to_string()));
                (Some(data), true)
            }
            (None, true) => (None, false),
        };
        if data.is_some() {
            env.args.push(observed::CONTEXT_ARG.to_owned());
        }
        let reads = record.then(|| plan.run_dir.join("pytest-reads"));
        if let Some(r) = &reads {
            env.vars
                .push((observed::READS_ENV.into(), r.display().to_string()));
        }
        if data.is_none() && reads.is_none() {
            return (None, env);
        }
        let job = observed::Job {
            data,
            remove,
            reads,
            suite_root: self.root.clone(),
            project_root: plan.root.to_owned(),
            store_root: store_root.to_owned(),
            run_dir: plan.run_dir.to_owned(),
            python: python.to_owned(),
        };
        (Some(job), env)
    }

    pub(crate) fn collect(&self) -> Result<Collection> {
        let python = find_python(&self.root);
        ready(&python, &self.root)?;
        self.collect_with(&python)
    }

    /// [`collect_with`](Self::collect_with), once: later calls get the same collection.
    pub(crate) fn collect_with(&self, python: &Path) -> Result<Collection> {
        if let Some(c) = self.collected.get() {
            return Ok(c.clone());
        }
        let found = self.collect_now(python)?;
        Ok(self.collected.get_or_init(|| found).clone())
    }

    fn collect_now(&self, python: &Path) -> Result<Collection> {
        let tmp = std::env::temp_dir().join(format!(
            "testflow-collect-{}-{}.json",
            std::process::id(),
            crate::store::new_run_id()
        ));
        let out = std::process::Command::new(python)
            .args([
                "-m",
                "pytest",
                "--collect-only",
                "-q",
                "-p",
                "no:cacheprovider",
            ])
            .env(COLLECT_ENV, &tmp)
            .env_remove(crate::events::EVENTS_ENV)
            .current_dir(&self.root)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", python.display()))?;
        let found = match std::fs::read_to_string(&tmp) {
            Ok(t) => {
                let _ = std::fs::remove_file(&tmp);
                serde_json::from_str::<CollectionFile>(&t)?.0
            }
            Err(_) => anyhow::bail!(
                "pytest could not collect the tests in {} ({}):\n{}",
                self.root.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout).trim()
            ),
        };
        Ok(found)
    }
}

#[cfg(test)]
mod tests;
