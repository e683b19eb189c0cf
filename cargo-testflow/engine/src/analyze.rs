//! Failure analysis: group a run's failures by root cause and say what to do about each.
//!
//! Categories come from the frameworks (the structured fields the bridges record); this
//! module never re-guesses them from text. It only normalizes messages so that the same
//! cause in many tests is one group, and builds a suggestion from the failure itself.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::model::{Category, Failure, Framework, Location, Run, RustIsolation, TestCase};

/// Version of the analysis JSON (`TESTFLOW_ANALYSIS` files, `analyze --format json`).
/// 2: groups are by cause (no place in the signature) and list their `locations`.
pub const ANALYSIS_VERSION: u32 = 2;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Analysis {
    pub analysis_version: u32,
    pub run_id: String,
    pub tests: u64,
    pub failures: u64,
    /// Failing tests (and run-level build errors) per category.
    pub categories: BTreeMap<String, u64>,
    /// Largest group first.
    pub groups: Vec<Group>,
    /// Tests that failed and then passed on a retry, with what their attempts say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flaky: Vec<FlakyTest>,
    /// Rust tests that failed one process per test (`--isolation process`) and passed in
    /// an earlier run where their binary ran in one process: verdict `interference`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub isolation: Vec<IsolationDependent>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct IsolationDependent {
    pub id: String,
    /// Always `interference`: it fails unless its binary's other tests share its process.
    pub verdict: String,
    /// The failure's message (first line).
    pub message: String,
    /// The earlier run in which it passed with its binary in one process.
    pub passed_in: String,
    pub suggestion: String,
}

/// The run to compare a process-per-test run with: the newest earlier one (of `earlier`,
/// newest first) that ran its Rust tests one process per binary, on the same commit
/// when both runs know theirs.
pub fn isolation_baseline(run: &Run, earlier: impl IntoIterator<Item = Run>) -> Option<Run> {
    if run.environment.rust_isolation != Some(RustIsolation::Process) {
        return None;
    }
    earlier.into_iter().find(|e| {
        e.run_id != run.run_id
            && e.started_at <= run.started_at
            && e.environment.rust_isolation == Some(RustIsolation::Binary)
            && match (&e.environment.git_commit, &run.environment.git_commit) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    })
}

/// `cargo testflow analyze`: [`analyze_against`] the run's isolation baseline among the
/// 20 runs before it in `store` (none unless it ran Rust one process per test).
pub fn analyze_stored(run: &Run, store: &crate::store::Store) -> Analysis {
    let baseline = (run.environment.rust_isolation == Some(RustIsolation::Process))
        .then(|| {
            let ids = store.run_ids().unwrap_or_default();
            let earlier = ids
                .into_iter()
                .rev()
                .filter(|id| *id < run.run_id)
                .take(20)
                .filter_map(|id| store.load(&id).ok());
            isolation_baseline(run, earlier)
        })
        .flatten();
    analyze_against(run, baseline.as_ref())
}

/// `analyze`, and the Rust tests that failed in this process-per-test run but passed in
/// `baseline` (see [`isolation_baseline`]) with their binary in one process.
pub fn analyze_against(run: &Run, baseline: Option<&Run>) -> Analysis {
    let mut a = analyze(run);
    let Some(base) = baseline else {
        return a;
    };
    let passed: std::collections::HashSet<&str> = base
        .tests
        .iter()
        .filter(|t| t.outcome == crate::model::Outcome::Passed)
        .map(|t| t.id.as_str())
        .collect();
    a.isolation = run
        .failed_tests()
        .filter(|t| {
            crate::frameworks::plugin(t.framework).is_some_and(|p| p.isolation_applies())
                && passed.contains(t.id.as_str())
        })
        .map(|t| IsolationDependent {
            id: t.id.clone(),
            verdict: "interference".into(),
            message: t
                .failure
                .as_ref()
                .map(|f| first_line(&f.message).to_owned())
                .unwrap_or_default(),
            passed_in: base.run_id.clone(),
            suggestion: format!(
                "Fails one process per test, passed in run {} with its binary in one process (the default isolation): it depends on state the tests of its binary share in a process (a static counter naming temp dirs, a global, a cache). Make that state its own, or run it with the default isolation (`[[isolation]]` in testflow.toml sets it per package or test).",
                base.run_id
            ),
        })
        .collect();
    a
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct FlakyTest {
    pub id: String,
    /// `interference`: every failing attempt ran alongside other tests and an attempt that
    /// ran alone passed. `flaky`: it failed and passed under the same conditions.
    /// `unknown`: whether its attempts ran alongside others was not recorded.
    pub verdict: String,
    pub attempts: u32,
    /// The first failing attempt's message (first line).
    pub message: String,
    pub suggestion: String,
}

/// What a flaky test's attempts say about why it failed (see [`FlakyTest::verdict`]).
pub fn flaky_verdict(t: &TestCase) -> &'static str {
    let failed: Vec<_> = t
        .attempts
        .iter()
        .filter(|a| a.outcome.is_failure())
        .collect();
    let passed: Vec<_> = t
        .attempts
        .iter()
        .filter(|a| a.outcome == crate::model::Outcome::Passed)
        .collect();
    if failed.iter().chain(&passed).any(|a| a.concurrent.is_none()) {
        return "unknown";
    }
    if failed.iter().all(|a| a.concurrent == Some(true))
        && passed.iter().any(|a| a.concurrent == Some(false))
    {
        "interference"
    } else {
        "flaky"
    }
}

fn flaky_tests(run: &Run) -> Vec<FlakyTest> {
    run.tests
        .iter()
        .filter(|t| t.flaky)
        .map(|t| {
            let verdict = flaky_verdict(t);
            let message = t
                .attempts
                .iter()
                .find(|a| a.outcome.is_failure())
                .and_then(|a| a.failure.as_ref())
                .map(|f| first_line(&f.message).to_owned())
                .unwrap_or_default();
            let suggestion = match verdict {
                "interference" => "Fails only when run alongside others: it failed while other tests ran and passed when run alone. Look for what it shares with them (shared state, temp dirs, ports, env vars, the working directory) rather than at the code under test.",
                "flaky" => "Failed, then passed under the same conditions: flaky on its own (timing, randomness, order, an external service).",
                _ => "Failed, then passed on a retry (whether it ran alongside other tests was not recorded).",
            };
            FlakyTest {
                id: t.id.clone(),
                verdict: verdict.to_owned(),
                attempts: t.attempts.len() as u32,
                message,
                suggestion: suggestion.to_owned(),
            }
        })
        .collect()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Group {
    /// Stable id of the root cause (category, kind, normalized message): the same in
    /// every framework, and independent of where the failure happened.
    pub signature: String,
    pub category: Category,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The first test's message (first line).
    pub message: String,
    /// Where the failure happened, when every test in the group failed at the same place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    pub count: u64,
    pub tests: Vec<GroupTest>,
    /// Where the group's tests failed (the failure's place, else the test's own), most
    /// tests first: one cause hit from many places shows here.
    #[serde(default)]
    pub locations: Vec<GroupLocation>,
    pub suggestion: Suggestion,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct GroupLocation {
    pub file: String,
    pub line: u32,
    /// How many of the group's tests failed here.
    pub count: u64,
    /// Their ids, in run order.
    pub tests: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct GroupTest {
    pub id: String,
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Where this test failed (may differ from where it is defined).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Suggestion {
    /// One or two sentences a person or an agent can act on.
    pub text: String,
    /// A command that fixes it (install a missing module), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Unified diff of expected vs actual for comparisons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

pub fn analyze(run: &Run) -> Analysis {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut categories: BTreeMap<String, u64> = BTreeMap::new();
    let empty = Failure::default();
    for t in run.failed_tests() {
        let f = t.failure.as_ref().unwrap_or(&empty);
        *categories
            .entry(f.category.as_str().to_owned())
            .or_default() += 1;
        let sig = signature(f);
        let member = GroupTest {
            id: t.id.clone(),
            outcome: t.outcome.as_str().to_owned(),
            file: t.file.clone(),
            line: t.line,
            location: f.location.clone(),
        };
        match index.get(&sig) {
            Some(&i) => {
                let g = &mut groups[i];
                g.count += 1;
                if g.location != f.location {
                    g.location = None;
                }
                g.tests.push(member);
            }
            None => {
                index.insert(sig.clone(), groups.len());
                groups.push(Group {
                    signature: sig,
                    category: f.category,
                    kind: f.kind.clone(),
                    message: first_line(&f.message).to_owned(),
                    location: f.location.clone(),
                    count: 1,
                    tests: vec![member],
                    locations: vec![],
                    suggestion: suggest(t, f),
                });
            }
        }
    }
    // A build that failed is a root cause with no test attached.
    for e in run
        .errors
        .iter()
        .filter(|e| crate::model::error_kind::stops_suite(&e.kind))
    {
        *categories
            .entry(Category::BuildError.as_str().to_owned())
            .or_default() += 1;
        let f = Failure {
            category: Category::BuildError,
            message: e.message.clone(),
            ..Failure::default()
        };
        groups.push(Group {
            signature: signature(&f),
            category: Category::BuildError,
            kind: Some(e.kind.to_string()),
            message: first_error_line(&e.message).to_owned(),
            location: compiler_location(&e.message),
            count: 0,
            tests: vec![],
            locations: vec![],
            suggestion: Suggestion {
                text: format!(
                    "The {} failed, so no test of it ran: fix the first error ({}).",
                    match e.kind.as_str() {
                        "build" => "build",
                        "environment" => "suite's setup (a missing tool)",
                        _ => "test listing",
                    },
                    first_error_line(&e.message)
                ),
                command: None,
                diff: None,
            },
        });
    }
    for g in &mut groups {
        g.locations = locations(&g.tests);
    }
    groups.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.signature.cmp(&b.signature))
    });
    Analysis {
        analysis_version: ANALYSIS_VERSION,
        run_id: run.run_id.clone(),
        tests: run.summary.total,
        failures: run.summary.failures(),
        categories,
        groups,
        flaky: flaky_tests(run),
        isolation: vec![],
    }
}

/// The places a group's tests failed at, most tests first, then by file and line.
fn locations(tests: &[GroupTest]) -> Vec<GroupLocation> {
    let mut by_place: BTreeMap<(String, u32), Vec<String>> = BTreeMap::new();
    for t in tests {
        let place = match (&t.location, &t.file) {
            (Some(l), _) => (l.file.clone(), l.line),
            (None, Some(f)) => (f.clone(), t.line.unwrap_or(0)),
            (None, None) => continue,
        };
        by_place.entry(place).or_default().push(t.id.clone());
    }
    let mut out: Vec<GroupLocation> = by_place
        .into_iter()
        .map(|((file, line), tests)| GroupLocation {
            file,
            line,
            count: tests.len() as u64,
            tests,
        })
        .collect();
    // Stable: BTreeMap order breaks ties.
    out.sort_by_key(|l| std::cmp::Reverse(l.count));
    out
}

static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d+(\.\d+)?\b").expect("valid regex"));
static HEX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b0x[0-9a-fA-F]+\b").expect("valid regex"));
static TEMP_PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(/tmp|/var/folders|/private/var)/[^\s'`]*").expect("valid regex")
});
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
        .expect("valid regex")
});

/// A quoted value: `'…'` or `"…"` on one line, not an apostrophe inside a word (`can't`).
static QUOTED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?P<pre>^|[^\w])(?P<q>'[^'\n]*'|"[^"\n]*")"#).expect("valid regex")
});
/// A name: a module, key, attribute, type or path (`yaml`, `user_id`, `./missing`, `@a/b`).
static NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[\w.@/:\-]+$").expect("valid regex"));

/// The message with what varies between occurrences of one cause taken out.
pub fn normalize(message: &str) -> String {
    let m = first_line(message);
    // A quoted name (a module, key, attribute, type or path: `'yaml'`, `'user_id'`) is the
    // cause; quoted data (`'12 apples'`, `"}"`, `''`) is what the test happened to hold.
    let m = QUOTED.replace_all(m, |c: &regex::Captures<'_>| {
        let q = &c["q"];
        if NAME.is_match(&q[1..q.len() - 1]) {
            c[0].to_owned()
        } else {
            format!("{}<v>", &c["pre"])
        }
    });
    let m = UUID.replace_all(&m, "<id>");
    let m = TEMP_PATH.replace_all(&m, "<tmp>");
    let m = HEX.replace_all(&m, "<addr>");
    let m = NUMBER.replace_all(&m, "<n>");
    m.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The cause: category, kind and normalized message. Where it hit is not part of it (the
/// group lists its places), so one cause reached from 80 tests is one group.
fn signature(f: &Failure) -> String {
    format!(
        "{}|{}|{}",
        f.category.as_str(),
        f.kind.as_deref().unwrap_or(""),
        normalize(&f.message),
    )
}

fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

fn first_error_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| l.starts_with("error"))
        .unwrap_or_else(|| first_line(s))
}

/// ` --> src/lib.rs:11:22` in rustc output.
fn compiler_location(s: &str) -> Option<Location> {
    static ARROW: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?m)^\s*--> ([^:\s]+):(\d+):(\d+)").expect("valid regex"));
    let c = ARROW.captures(s)?;
    Some(Location {
        file: c[1].to_owned(),
        line: c[2].parse().ok()?,
        column: c[3].parse().ok(),
    })
}

fn suggest(t: &TestCase, f: &Failure) -> Suggestion {
    let at = f
        .location
        .as_ref()
        .map(|l| format!(" at {}:{}", l.file, l.line))
        .unwrap_or_default();
    let plain = |text: String| Suggestion {
        text,
        command: None,
        diff: None,
    };
    match f.category {
        Category::ImportError => import_suggestion(t.framework, &f.message),
        Category::Assertion => {
            // One-line values read fine in the sentence; a diff helps with multi-line ones.
            let diff = match (&f.expected, &f.actual) {
                (Some(e), Some(a)) if e.contains('\n') || a.contains('\n') => {
                    Some(unified_diff(e, a))
                }
                _ => None,
            };
            let text = match (&f.expected, &f.actual) {
                (Some(e), Some(a)) if !e.contains('\n') && !a.contains('\n') => {
                    format!(
                        "Expected {e}, got {a}{at}: fix the code under test, or the expectation if it is wrong."
                    )
                }
                (Some(_), Some(_)) => format!("Expected and actual differ{at} (see the diff)."),
                _ => format!("{}{at}.", first_line(&f.message)),
            };
            Suggestion {
                text,
                command: None,
                diff,
            }
        }
        Category::Timeout => plain(format!(
            "{} Find what blocks (a lock, a network call, an endless loop), or raise the limit (--test-timeout) if the test is slow by design.",
            first_line(&f.message)
        )),
        Category::Crash => {
            let what = match f.kind.as_deref() {
                Some("SIGSEGV") | Some("SIGBUS") => {
                    "an invalid memory access (unsafe code, FFI): run it under a debugger or valgrind"
                }
                Some("SIGABRT") => {
                    "an abort (a panic that could not unwind, a failed C assertion, or std::process::abort)"
                }
                Some("SIGKILL") => "SIGKILL, often the out-of-memory killer",
                _ => "the test process dying",
            };
            plain(format!(
                "The process running it was killed by {what}. Run it alone to reproduce: the crash is attributed to this test."
            ))
        }
        Category::SetupError => plain(format!(
            "Setup failed before the test body ran ({}{at}): fix the fixture or hook; the test itself may be fine.",
            f.kind.as_deref().unwrap_or("setup")
        )),
        Category::BuildError => plain(format!(
            "It did not compile or collect: {}{at}.",
            first_error_line(&f.message)
        )),
        Category::Interrupted => {
            plain("The run was interrupted while this test ran; run it again.".into())
        }
        Category::RuntimeError => plain(format!(
            "{}{at}: fix the error the code raised.",
            f.headline()
        )),
    }
}

/// The missing module, and how its ecosystem installs it: the first framework whose
/// "not installed" error `message` is says which module and how to install it.
fn import_suggestion(framework: Framework, message: &str) -> Suggestion {
    let _ = framework;
    let found = crate::frameworks::PLUGINS
        .iter()
        .find_map(|p| p.missing_import(message).map(|m| (*p, m)));
    let Some((ecosystem, module)) = found else {
        return Suggestion {
            text: format!("An import failed: {}", first_line(message)),
            command: None,
            diff: None,
        };
    };
    let (command, text) = ecosystem.install(&module);
    Suggestion {
        text,
        command,
        diff: None,
    }
}

fn unified_diff(expected: &str, actual: &str) -> String {
    // Values have no final newline: add one, or every diff ends in "No newline at end of file".
    let (expected, actual) = (format!("{expected}\n"), format!("{actual}\n"));
    similar::TextDiff::from_lines(&expected, &actual)
        .unified_diff()
        .header("expected", "actual")
        .to_string()
}

/// For people: each group with its tests and what to do.
pub fn render_human(a: &Analysis) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if a.groups.is_empty() {
        let _ = writeln!(out, "No failures in run {} ({} tests).", a.run_id, a.tests);
        render_flaky(&mut out, a);
        render_isolation(&mut out, a);
        return out;
    }
    let cats: Vec<String> = a
        .categories
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    let _ = writeln!(
        out,
        "{} failing tests in {} groups ({}), run {}\n",
        a.failures,
        a.groups.len(),
        cats.join(", "),
        a.run_id
    );
    for (i, g) in a.groups.iter().enumerate() {
        let tests = match g.count {
            0 => "no test ran".to_owned(),
            n => plural(n),
        };
        // The kind names the cause for exceptions (`KeyError`), unless the message has it.
        let kind = match g.kind.as_deref() {
            Some(k) if g.category == Category::RuntimeError && !g.message.starts_with(k) => {
                format!("{k}: ")
            }
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "{}. [{}] {kind}{} ({tests})",
            i + 1,
            g.category.as_str(),
            g.message
        );
        if let Some(l) = &g.location {
            let _ = writeln!(out, "   at {}:{}", l.file, l.line);
        }
        if g.location.is_none() && g.locations.len() > 1 {
            // One cause, many places: each place with its tests.
            let _ = writeln!(out, "   at {} places:", g.locations.len());
            for l in g.locations.iter().take(10) {
                let ids: Vec<&str> = l.tests.iter().take(3).map(String::as_str).collect();
                let more = if l.tests.len() > 3 {
                    format!(", … {} more", l.tests.len() - 3)
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "   - {}:{} ({}): {}{more}",
                    l.file,
                    l.line,
                    plural(l.count),
                    ids.join(", ")
                );
            }
            if g.locations.len() > 10 {
                let _ = writeln!(out, "   … and {} more places", g.locations.len() - 10);
            }
        } else {
            for t in g.tests.iter().take(10) {
                let _ = writeln!(out, "   - {}", t.id);
            }
            if g.tests.len() > 10 {
                let _ = writeln!(out, "   … and {} more", g.tests.len() - 10);
            }
        }
        let _ = writeln!(out, "   → {}", g.suggestion.text);
        if let Some(c) = &g.suggestion.command {
            let _ = writeln!(out, "     $ {c}");
        }
        if let Some(d) = &g.suggestion.diff {
            for line in d.lines().take(30) {
                let _ = writeln!(out, "     {line}");
            }
        }
        out.push('\n');
    }
    render_flaky(&mut out, a);
    render_isolation(&mut out, a);
    out
}

fn render_flaky(out: &mut String, a: &Analysis) {
    use std::fmt::Write as _;
    if a.flaky.is_empty() {
        return;
    }
    let _ = writeln!(out, "Passed on a retry ({}):", plural(a.flaky.len() as u64));
    for f in &a.flaky {
        let _ = writeln!(out, "- {} [{}]: {}", f.id, f.verdict, f.message);
        let _ = writeln!(out, "   → {}", f.suggestion);
    }
}

fn render_isolation(out: &mut String, a: &Analysis) {
    use std::fmt::Write as _;
    if a.isolation.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "Fail only one process per test ({}):",
        plural(a.isolation.len() as u64)
    );
    for t in &a.isolation {
        let _ = writeln!(out, "- {} [{}]: {}", t.id, t.verdict, t.message);
    }
    if let Some(first) = a.isolation.first() {
        let _ = writeln!(out, "   → {}", first.suggestion);
    }
}

fn plural(n: u64) -> String {
    if n == 1 {
        "1 test".to_owned()
    } else {
        format!("{n} tests")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attempt, Outcome, TestMeta};

    fn failing(id: &str, framework: Framework, f: Failure) -> TestCase {
        let meta = TestMeta {
            id: id.into(),
            framework,
            name: id.into(),
            suite: vec![],
            file: Some("tests/test_x.py".into()),
            line: Some(1),
            binary: None,
        };
        let attempt = Attempt {
            attempt: 1,
            outcome: Outcome::Failed,
            duration_ms: 1.0,
            started_at: None,
            failure: Some(f),
            concurrent: None,
            attachments: vec![],
        };
        TestCase::from_attempts(meta, vec![attempt])
    }

    fn run(tests: Vec<TestCase>) -> Run {
        Run::of_tests("r", chrono::Utc::now(), tests, 0.0)
    }

    fn import_error(msg: &str) -> Failure {
        Failure {
            category: Category::ImportError,
            kind: Some("ModuleNotFoundError".into()),
            message: msg.into(),
            ..Failure::default()
        }
    }

    #[test]
    fn a_runtime_error_names_its_type_once_for_jest_and_pytest() {
        let jest = Failure {
            category: Category::RuntimeError,
            kind: Some("TypeError".into()),
            message: "TypeError: Cannot read properties of null (reading 'x')".into(),
            ..Failure::default()
        };
        let pytest = Failure {
            category: Category::RuntimeError,
            kind: Some("ValueError".into()),
            message: "boom".into(),
            ..Failure::default()
        };
        let a = analyze(&run(vec![
            failing("a.test.js", Framework::Jest, jest),
            failing("tests/test_x.py", Framework::Pytest, pytest),
        ]));
        let texts: Vec<&str> = a
            .groups
            .iter()
            .map(|g| g.suggestion.text.as_str())
            .collect();
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("TypeError: Cannot read properties")),
            "{texts:?}"
        );
        assert!(
            texts.iter().any(|t| t.starts_with("ValueError: boom")),
            "{texts:?}"
        );
        assert!(
            texts.iter().all(|t| !t.contains("TypeError: TypeError")),
            "{texts:?}"
        );
    }

    #[test]
    fn the_same_missing_module_in_many_tests_is_one_group_with_the_install_command() {
        let tests = (0..40)
            .map(|i| {
                failing(
                    &format!("tests/test_{i}.py"),
                    Framework::Pytest,
                    import_error("No module named 'yaml'"),
                )
            })
            .chain([failing(
                "tests/test_z.py",
                Framework::Pytest,
                import_error("No module named 'requests.adapters'"),
            )])
            .collect();
        let a = analyze(&run(tests));
        assert_eq!(a.groups.len(), 2);
        assert_eq!(a.groups[0].count, 40);
        assert_eq!(a.groups[0].tests.len(), 40);
        assert_eq!(
            a.groups[0].suggestion.command.as_deref(),
            Some("pip install pyyaml")
        );
        assert_eq!(
            a.groups[1].suggestion.command.as_deref(),
            Some("pip install requests")
        );
        assert_eq!(a.categories["import_error"], 41);
    }

    #[test]
    fn numbers_addresses_and_temp_paths_do_not_split_a_group() {
        assert_eq!(
            normalize("timed out after 5000 ms at 0x7ffe12 in /tmp/pytest-of-root/pytest-12/x.db"),
            normalize(
                "timed out after 3000 ms at 0xdeadbeef in /tmp/pytest-of-root/pytest-99/x.db"
            )
        );
        assert_ne!(
            normalize("No module named 'yaml'"),
            normalize("No module named 'toml'")
        );
    }

    #[test]
    fn one_assertion_at_different_places_is_one_group_listing_the_places_with_a_diff() {
        let eq = |line| Failure {
            category: Category::Assertion,
            kind: Some("assert_eq".into()),
            message: "assertion `left == right` failed".into(),
            location: Some(Location {
                file: "src/lib.rs".into(),
                line,
                column: Some(9),
            }),
            expected: Some("[\n    1,\n    2,\n]".into()),
            actual: Some("[\n    1,\n    3,\n]".into()),
            ..Failure::default()
        };
        let a = analyze(&run(vec![
            failing("a", Framework::Rust, eq(10)),
            failing("b", Framework::Rust, eq(20)),
            failing("c", Framework::Rust, eq(20)),
        ]));
        assert_eq!(a.groups.len(), 1);
        let g = &a.groups[0];
        assert_eq!(g.count, 3);
        assert_eq!(g.location, None, "not one place");
        let places: Vec<(u32, u64, Vec<String>)> = g
            .locations
            .iter()
            .map(|l| (l.line, l.count, l.tests.clone()))
            .collect();
        assert_eq!(
            places,
            vec![
                (20, 2, vec!["b".to_owned(), "c".to_owned()]),
                (10, 1, vec!["a".to_owned()])
            ]
        );
        let diff = g.suggestion.diff.as_deref().unwrap();
        assert!(
            diff.contains("-    2,") && diff.contains("+    3,"),
            "{diff}"
        );
        assert!(!diff.contains("No newline"), "{diff}");
    }

    fn raised(kind: &str, message: &str, file: &str, line: u32) -> Failure {
        Failure {
            category: Category::RuntimeError,
            kind: Some(kind.into()),
            message: message.into(),
            location: Some(Location {
                file: file.into(),
                line,
                column: None,
            }),
            ..Failure::default()
        }
    }

    #[test]
    fn ten_key_errors_from_ten_lines_and_two_bad_values_are_two_groups() {
        let mut tests: Vec<TestCase> = (0..10)
            .map(|i| {
                failing(
                    &format!("tests/test_keys.py::test_{i}"),
                    Framework::Pytest,
                    raised("KeyError", "'user_id'", "tests/test_keys.py", 10 + i),
                )
            })
            .collect();
        tests.push(failing(
            "tests/test_int.py::test_a",
            Framework::Pytest,
            raised(
                "ValueError",
                "invalid literal for int() with base 10: '12 apples'",
                "tests/test_int.py",
                3,
            ),
        ));
        tests.push(failing(
            "tests/test_int.py::test_b",
            Framework::Pytest,
            raised(
                "ValueError",
                "invalid literal for int() with base 10: '3 pears'",
                "tests/test_int.py",
                7,
            ),
        ));
        let a = analyze(&run(tests.clone()));
        assert_eq!(a.groups.len(), 2, "{:#?}", a.groups);
        assert_eq!((a.groups[0].count, a.groups[0].locations.len()), (10, 10));
        assert_eq!(a.groups[0].kind.as_deref(), Some("KeyError"));
        assert!(a.groups[0].locations.iter().all(|l| l.count == 1));
        assert_eq!((a.groups[1].count, a.groups[1].locations.len()), (2, 2));
        // Stable: the same run in another order gives the same groups and places.
        tests.reverse();
        let b = analyze(&run(tests));
        let sig = |a: &Analysis| -> Vec<(String, Vec<(String, u32)>)> {
            a.groups
                .iter()
                .map(|g| {
                    (
                        g.signature.clone(),
                        g.locations
                            .iter()
                            .map(|l| (l.file.clone(), l.line))
                            .collect(),
                    )
                })
                .collect()
        };
        assert_eq!(sig(&a), sig(&b));
        let text = render_human(&a);
        assert!(
            text.contains("[runtime_error] KeyError: 'user_id' (10 tests)"),
            "{text}"
        );
        assert!(text.contains("at 10 places:"), "{text}");
        assert!(
            text.contains("- tests/test_int.py:3 (1 test): tests/test_int.py::test_a"),
            "{text}"
        );
    }

    #[test]
    fn the_same_cause_has_the_same_signature_in_every_framework() {
        let f = raised("TypeError", "x is not a function", "a.js", 1);
        let a = analyze(&run(vec![
            failing("a", Framework::Jest, f.clone()),
            failing("b", Framework::Pytest, f.clone()),
            failing("c", Framework::Rust, f),
        ]));
        assert_eq!(a.groups.len(), 1);
        assert_eq!(
            a.groups[0].signature,
            "runtime_error|TypeError|x is not a function"
        );
    }

    #[test]
    fn quoted_names_are_kept_and_quoted_data_is_normalized() {
        assert_eq!(
            normalize("invalid literal for int() with base 10: '12 apples'"),
            normalize("invalid literal for int() with base 10: ''")
        );
        assert_eq!(
            normalize(r#"unexpected token "a b" in /src/x"#),
            normalize(r#"unexpected token "}" in /src/x"#)
        );
        assert_ne!(normalize("'user_id'"), normalize("'email'"));
        assert_ne!(
            normalize("'NoneType' object has no attribute 'foo'"),
            normalize("'NoneType' object has no attribute 'bar'")
        );
        // An apostrophe inside a word opens no quote.
        assert_eq!(
            normalize("can't open 'a.b' isn't it"),
            "can't open 'a.b' isn't it"
        );
    }

    #[test]
    fn jest_and_rust_missing_modules_get_their_own_install_commands() {
        let js = |m: &str| Failure {
            category: Category::ImportError,
            message: format!("Cannot find module '{m}' from 'src/a.test.js'"),
            ..Failure::default()
        };
        let a = analyze(&run(vec![
            failing("a", Framework::Jest, js("@testing-library/react/pure")),
            failing("b", Framework::Jest, js("./missing")),
            failing(
                "c",
                Framework::Rust,
                Failure {
                    category: Category::ImportError,
                    message: "error[E0432]: unresolved import `serde_yaml`".into(),
                    ..Failure::default()
                },
            ),
        ]));
        let cmds: Vec<Option<&str>> = a
            .groups
            .iter()
            .map(|g| g.suggestion.command.as_deref())
            .collect();
        assert!(cmds.contains(&Some("npm install --save-dev @testing-library/react")));
        assert!(cmds.contains(&Some("cargo add serde_yaml")));
        assert!(
            cmds.contains(&None),
            "a relative path has no install command"
        );
    }

    #[test]
    fn testflows_own_unpublished_packages_get_the_checkout_install() {
        let a = analyze(&run(vec![
            failing(
                "a",
                Framework::Jest,
                Failure {
                    category: Category::ImportError,
                    message: "Cannot find module 'jest-testflow/sequencer' from 'jest.config.js'"
                        .into(),
                    ..Failure::default()
                },
            ),
            failing(
                "b",
                Framework::Pytest,
                Failure {
                    category: Category::ImportError,
                    message: "ModuleNotFoundError: No module named 'testflow._native'".into(),
                    ..Failure::default()
                },
            ),
        ]));
        let cmds: Vec<&str> = a
            .groups
            .iter()
            .filter_map(|g| g.suggestion.command.as_deref())
            .collect();
        assert!(
            cmds.contains(&"npm install --save-dev <testflow checkout>/npm"),
            "{cmds:?}"
        );
        assert!(
            cmds.contains(&"pip install <testflow checkout>/python"),
            "{cmds:?}"
        );
        assert_eq!(cmds.len(), 2, "{cmds:?}");
    }

    #[test]
    fn a_build_failure_is_a_group_with_the_compiler_location() {
        let mut r = run(vec![]);
        r.errors.push(crate::model::RunError {
            kind: "build".into(),
            message: "   Compiling x v0.1.0\nerror[E0308]: mismatched types\n  --> crates/x/src/lib.rs:11:22\n".into(),
        });
        let a = analyze(&r);
        assert_eq!(a.groups.len(), 1);
        assert_eq!(a.groups[0].category, Category::BuildError);
        assert_eq!(a.groups[0].message, "error[E0308]: mismatched types");
        assert_eq!(a.groups[0].location.as_ref().unwrap().line, 11);
        assert_eq!(a.categories["build_error"], 1);
    }

    fn retried(id: &str, first: Option<bool>, second: Option<bool>) -> TestCase {
        let attempt = |n, outcome, concurrent| Attempt {
            attachments: vec![],
            attempt: n,
            outcome,
            duration_ms: 1.0,
            started_at: None,
            failure: (outcome == Outcome::Failed).then(|| Failure {
                category: Category::Assertion,
                message: "another test overwrote the shared file".into(),
                ..Failure::default()
            }),
            concurrent,
        };
        let meta = TestMeta {
            id: id.into(),
            framework: Framework::Rust,
            name: id.into(),
            suite: vec![],
            file: None,
            line: None,
            binary: None,
        };
        TestCase::from_attempts(
            meta,
            vec![
                attempt(1, Outcome::Failed, first),
                attempt(2, Outcome::Passed, second),
            ],
        )
    }

    #[test]
    fn failing_alongside_others_and_passing_alone_is_interference_not_a_bug() {
        let a = analyze(&run(vec![
            retried("shares", Some(true), Some(false)),
            retried("same_conditions", Some(false), Some(false)),
            retried("both_crowded", Some(true), Some(true)),
            retried("unrecorded", None, None),
        ]));
        assert!(a.groups.is_empty(), "they passed in the end");
        let verdicts: Vec<(&str, &str)> = a
            .flaky
            .iter()
            .map(|f| (f.id.as_str(), f.verdict.as_str()))
            .collect();
        assert_eq!(
            verdicts,
            vec![
                ("shares", "interference"),
                ("same_conditions", "flaky"),
                ("both_crowded", "flaky"),
                ("unrecorded", "unknown"),
            ]
        );
        assert!(
            a.flaky[0]
                .suggestion
                .starts_with("Fails only when run alongside others")
        );
        let text = render_human(&a);
        assert!(
            text.contains("- shares [interference]: another test overwrote the shared file"),
            "{text}"
        );
        assert!(text.contains("shared state, temp dirs, ports"), "{text}");
    }

    /// A Rust test that fails one process per test and passed in the newest earlier run
    /// one process per binary (same commit) is interference; other runs are not compared.
    #[test]
    fn failing_only_one_process_per_test_is_interference() {
        let taken = || Failure {
            category: Category::RuntimeError,
            message: "cannot create /tmp/x/scratch-0: File exists (os error 17)".into(),
            ..Failure::default()
        };
        let t0 = chrono::Utc::now();
        let at = |id: &str, isolation: &str, commit: &str, tests: Vec<TestCase>| {
            // Ids sort by time, as run ids do.
            let secs = if id.starts_with('3') { 60 } else { 0 };
            let mut r = Run::of_tests(id, t0 + chrono::Duration::seconds(secs), tests, 0.0);
            r.environment.rust_isolation = Some(isolation.into());
            r.environment.git_commit = Some(commit.into());
            r
        };
        let passed = |id: &str| {
            let mut t = failing(id, Framework::Rust, Failure::default());
            t.outcome = Outcome::Passed;
            t.failure = None;
            t
        };
        let now = at(
            "3",
            "process",
            "c1",
            vec![
                passed("p$tests::alpha"),
                failing("p$tests::beta", Framework::Rust, taken()),
                failing("p$tests::new", Framework::Rust, taken()),
            ],
        );
        let binary = at(
            "2",
            "binary",
            "c1",
            vec![passed("p$tests::alpha"), passed("p$tests::beta")],
        );
        let other_commit = at("1", "binary", "c0", vec![passed("p$tests::new")]);
        let also_process = at("2b", "process", "c1", vec![passed("p$tests::new")]);
        let base = isolation_baseline(
            &now,
            vec![also_process.clone(), binary.clone(), other_commit.clone()],
        )
        .expect("the binary run on the same commit");
        assert_eq!(base.run_id, "2");
        assert!(isolation_baseline(&now, vec![other_commit, also_process]).is_none());
        assert!(
            isolation_baseline(&binary, vec![now.clone()]).is_none(),
            "only process runs"
        );
        let a = analyze_against(&now, Some(&base));
        let named: Vec<(&str, &str, &str)> = a
            .isolation
            .iter()
            .map(|t| (t.id.as_str(), t.verdict.as_str(), t.passed_in.as_str()))
            .collect();
        // `new` did not pass in the binary run: nothing says it depends on isolation.
        assert_eq!(named, vec![("p$tests::beta", "interference", "2")]);
        assert_eq!(a.groups.len(), 1, "still a failure group");
        let text = render_human(&a);
        assert!(
            text.contains("Fail only one process per test (1 test):\n- p$tests::beta [interference]: cannot create"),
            "{text}"
        );
        assert_eq!(analyze_against(&now, None).isolation, vec![]);
    }
}
