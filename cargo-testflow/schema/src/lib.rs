//! The one result schema every framework ends in.
//!
//! A [`Run`] is what reports, gates, history and merging read. The pytest and Jest
//! bridges produce exactly these types (through the event log, see `events`), so
//! nothing downstream ever looks at a framework's own output. Documented field by
//! field in `docs/schema.md`; bump [`SCHEMA_VERSION`] on any incompatible change.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Version of the `Run` / event-log schema. Readers accept this version and older.
pub const SCHEMA_VERSION: u32 = 3;

/// Default cap for one captured stream (stdout or stderr) of one failure.
pub const DEFAULT_OUTPUT_CAP: usize = 64 * 1024;

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Framework {
    Rust,
    Pytest,
    Jest,
    Vitest,
    /// `go test`, driven through `go test -json`.
    Go,
    /// Playwright Test, through the `jest-testflow/playwright` reporter.
    Playwright,
}

impl Framework {
    pub const ALL: [Framework; 6] = [
        Framework::Rust,
        Framework::Pytest,
        Framework::Jest,
        Framework::Vitest,
        Framework::Go,
        Framework::Playwright,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Framework::Rust => "rust",
            Framework::Pytest => "pytest",
            Framework::Jest => "jest",
            Framework::Vitest => "vitest",
            Framework::Go => "go",
            Framework::Playwright => "playwright",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed,
    /// Setup/teardown failure, collection error, or a test that could not be run at all.
    Error,
    Skipped,
    Xfailed,
    Xpassed,
    /// Killed by testflow (or the framework) for exceeding its time limit.
    Timeout,
    /// The process running the test died (signal, abort, worker lost) or never reported back.
    Crashed,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Passed,
        Outcome::Failed,
        Outcome::Error,
        Outcome::Skipped,
        Outcome::Xfailed,
        Outcome::Xpassed,
        Outcome::Timeout,
        Outcome::Crashed,
    ];

    /// Does this outcome make the run fail?
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Outcome::Failed | Outcome::Error | Outcome::Timeout | Outcome::Crashed
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Error => "error",
            Outcome::Skipped => "skipped",
            Outcome::Xfailed => "xfailed",
            Outcome::Xpassed => "xpassed",
            Outcome::Timeout => "timeout",
            Outcome::Crashed => "crashed",
        }
    }
}

/// Why a test failed, the same vocabulary for every framework.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Missing module or crate, unresolved import.
    ImportError,
    /// assert / expect / assert_eq and friends.
    Assertion,
    /// Exceptions and panics that are not assertions, `Err` returned from a test.
    #[default]
    RuntimeError,
    Timeout,
    /// Fixture, beforeAll/beforeEach, setup or teardown failure.
    SetupError,
    /// Signal, abort, worker died.
    Crash,
    /// Compile or collection failure.
    BuildError,
    /// The run was interrupted (Ctrl-C) while the test was running.
    Interrupted,
}

impl Category {
    pub const ALL: [Category; 8] = [
        Category::ImportError,
        Category::Assertion,
        Category::RuntimeError,
        Category::Timeout,
        Category::SetupError,
        Category::Crash,
        Category::BuildError,
        Category::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::ImportError => "import_error",
            Category::Assertion => "assertion",
            Category::RuntimeError => "runtime_error",
            Category::Timeout => "timeout",
            Category::SetupError => "setup_error",
            Category::Crash => "crash",
            Category::BuildError => "build_error",
            Category::Interrupted => "interrupted",
        }
    }
}

/// A place in a source file. Lines and columns are 1-based.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
}

/// Captured output of one stream, capped.
///
/// `text` is always readable (invalid UTF-8 replaced by U+FFFD); when the bytes were
/// not valid UTF-8, `base64` holds them exactly, so nothing is lost. When the stream
/// was longer than the cap, the middle is cut and `truncated_bytes` says how much.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Captured {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub truncated_bytes: u64,
}

/// Durations are read leniently: a writer that produced NaN or infinity (serialized as
/// `null`) must not make the whole run unreadable.
pub fn lenient_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?
        .filter(|v| v.is_finite())
        .unwrap_or(0.0))
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Captured {
    /// Keep the first quarter and the last three quarters of `cap` bytes (the end of a
    /// stream is where panics and tracebacks are), cutting on UTF-8 boundaries.
    pub fn from_bytes(bytes: &[u8], cap: usize) -> Captured {
        if bytes.len() <= cap {
            return Captured::exact(bytes, 0);
        }
        let head_len = utf8_floor(bytes, cap / 4);
        let tail_start = utf8_ceil(bytes, bytes.len() - (cap - cap / 4));
        let cut = (tail_start - head_len) as u64;
        Captured::from_parts(&bytes[..head_len], &bytes[tail_start..], cut)
    }

    /// Build from the kept head and tail of a stream whose middle (`cut` bytes) was dropped while reading.
    pub fn from_parts(head: &[u8], tail: &[u8], cut: u64) -> Captured {
        if cut == 0 {
            let mut all = head.to_vec();
            all.extend_from_slice(tail);
            return Captured::exact(&all, 0);
        }
        let mut kept = Vec::with_capacity(head.len() + tail.len() + 64);
        kept.extend_from_slice(head);
        kept.extend_from_slice(format!("\n[… testflow cut {cut} bytes …]\n").as_bytes());
        kept.extend_from_slice(tail);
        Captured::exact(&kept, cut)
    }

    fn exact(bytes: &[u8], truncated_bytes: u64) -> Captured {
        match std::str::from_utf8(bytes) {
            Ok(s) => Captured {
                text: s.to_owned(),
                base64: None,
                truncated_bytes,
            },
            Err(_) => Captured {
                text: String::from_utf8_lossy(bytes).into_owned(),
                base64: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                truncated_bytes,
            },
        }
    }

    /// The exact bytes that were kept.
    pub fn bytes(&self) -> Vec<u8> {
        match &self.base64 {
            Some(b) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .unwrap_or_else(|_| self.text.as_bytes().to_vec()),
            None => self.text.as_bytes().to_vec(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

/// Largest index <= i that does not split a UTF-8 sequence (bytes that are not UTF-8 at all are cut anywhere).
fn utf8_floor(bytes: &[u8], mut i: usize) -> usize {
    let start = i;
    while i > 0 && i > start.saturating_sub(3) && is_continuation(bytes[i]) {
        i -= 1;
    }
    if is_continuation(bytes.get(i).copied().unwrap_or(0)) {
        start
    } else {
        i
    }
}

pub fn utf8_ceil(bytes: &[u8], mut i: usize) -> usize {
    let start = i;
    while i < bytes.len() && i < start + 3 && is_continuation(bytes[i]) {
        i += 1;
    }
    if i < bytes.len() && is_continuation(bytes[i]) {
        start
    } else {
        i
    }
}

fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// Why one attempt of a test did not pass.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Failure {
    #[serde(default = "default_category")]
    pub category: Category,
    /// Exception or panic kind: `AssertionError`, `assert_eq`, `panic`, `Err`, `SIGSEGV`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Expected / actual values when the failure is a comparison (`assert_eq!` right / left).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// Trace or longer explanation (backtrace, traceback, should_panic note).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// Signal number when the process was killed by one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<Captured>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<Captured>,
}

fn default_category() -> Category {
    Category::RuntimeError
}

impl Failure {
    /// The first line of the message with the kind named once: `ValueError: boom` for
    /// pytest (whose messages leave the type out) and for Jest (whose messages start with
    /// it, `TypeError: x`), never `TypeError: TypeError: x`.
    pub fn headline(&self) -> String {
        let first = self.message.lines().next().unwrap_or("");
        match self.kind.as_deref().filter(|k| !k.is_empty()) {
            Some(k) if !names_kind(first, k) => {
                if first.is_empty() {
                    k.to_owned()
                } else {
                    format!("{k}: {first}")
                }
            }
            _ => first.to_owned(),
        }
    }
}

/// `message` starts with `kind` as a word (`TypeError: x`, `TypeError`), also with the
/// module path left out (`json.decoder.JSONDecodeError` and `JSONDecodeError: x`).
fn names_kind(message: &str, kind: &str) -> bool {
    [kind, kind.rsplit('.').next().unwrap_or(kind)]
        .iter()
        .any(|k| {
            message.strip_prefix(k).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with(':') || rest.starts_with(' ')
            })
        })
}

/// What identifies a test and where it lives: everything about a test except its result.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TestMeta {
    /// Stable id: the same test has the same id in every run.
    /// Rust: `<binary id>$<test path>`; pytest: the node id; Jest: `<file>#<describe › title>`;
    /// Go: `<import path>::<test name>`.
    pub id: String,
    pub framework: Framework,
    pub name: String,
    /// Enclosing suites, outermost first (Rust modules, pytest classes, Jest describe blocks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suite: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The executable or worker group the test belongs to (Rust binary id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
}

/// One execution of a test.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Attempt {
    /// 1-based.
    pub attempt: u32,
    pub outcome: Outcome,
    #[serde(deserialize_with = "lenient_ms")]
    pub duration_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Whether another test (or another framework's run) was running at some moment of
    /// this attempt: `false` means it ran alone. Absent when not recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent: Option<bool>,
    /// Files the attempt left behind (Playwright's traces, screenshots, videos), by path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// A file an attempt left behind, linked by path (never copied into the run).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// The framework's name for it: `trace`, `screenshot`, `video`, or the test's own.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Relative to the project root when it is inside it, else absolute.
    pub path: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TestCase {
    pub id: String,
    pub framework: Framework,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suite: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
    /// Outcome of the last attempt.
    pub outcome: Outcome,
    /// Duration of the last attempt.
    #[serde(deserialize_with = "lenient_ms")]
    pub duration_ms: f64,
    /// Failed at least once, then passed on a retry within this run.
    #[serde(default)]
    pub flaky: bool,
    /// Every attempt in order; the last one decides `outcome`. The last attempt's
    /// failure is not repeated here: it is `failure`.
    pub attempts: Vec<Attempt>,
    /// Failure of the last attempt (absent when it passed or was skipped without reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Why the last attempt was skipped or xfailed (or, xpassed, what it was expected to
    /// fail for), when that is not a failure: pytest's skip and xfail reasons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl TestCase {
    pub fn meta(&self) -> TestMeta {
        TestMeta {
            id: self.id.clone(),
            framework: self.framework,
            name: self.name.clone(),
            suite: self.suite.clone(),
            file: self.file.clone(),
            line: self.line,
            binary: self.binary.clone(),
        }
    }

    /// A test case from its metadata and its attempts (at least one). The last
    /// attempt's failure moves to `TestCase::failure` (stored once, not twice).
    pub fn from_attempts(meta: TestMeta, mut attempts: Vec<Attempt>) -> TestCase {
        let last = attempts
            .last_mut()
            .expect("a test case has at least one attempt");
        let failure = last.failure.take();
        let (outcome, duration_ms) = (last.outcome, last.duration_ms);
        let failed_before = attempts[..attempts.len() - 1]
            .iter()
            .any(|a| a.outcome.is_failure());
        TestCase {
            outcome,
            duration_ms,
            failure,
            flaky: outcome == Outcome::Passed && failed_before,
            id: meta.id,
            framework: meta.framework,
            name: meta.name,
            suite: meta.suite,
            file: meta.file,
            line: meta.line,
            binary: meta.binary,
            attempts,
            reason: None,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Environment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_branch: Option<String>,
    /// The git tree hash of what was tested: `HEAD^{tree}` for a clean checkout, the tree
    /// of the working directory (tracked and untracked files, not ignored ones) for a
    /// dirty one. Two runs with the same tree ran the same code (cross-run flakiness).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_tree: Option<String>,
    /// `github`, `gitlab`, `circleci`, `buildkite`, `jenkins`, `azure`, or `ci` for an unknown one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<CiProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    pub os: String,
    pub arch: String,
    /// How the Rust tests ran: `binary` (one process per test binary, the default),
    /// `process` (one per test) or `mixed` (`[[isolation]]` rules). Absent when the run
    /// had no cargo workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rust_isolation: Option<RustIsolation>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Summary {
    pub total: u64,
    pub passed: u64,
    pub failed: u64,
    pub error: u64,
    pub skipped: u64,
    pub xfailed: u64,
    pub xpassed: u64,
    pub timeout: u64,
    pub crashed: u64,
    pub flaky: u64,
    /// Wall time of the run.
    #[serde(deserialize_with = "lenient_ms")]
    pub duration_ms: f64,
}

impl Summary {
    pub fn of(tests: &[TestCase], duration_ms: f64) -> Summary {
        Summary::of_iter(tests.iter(), duration_ms)
    }

    pub fn of_iter<'a>(tests: impl Iterator<Item = &'a TestCase>, duration_ms: f64) -> Summary {
        let mut s = Summary {
            duration_ms,
            ..Summary::default()
        };
        for t in tests {
            s.total += 1;
            if t.flaky {
                s.flaky += 1;
            }
            *s.count_mut(t.outcome) += 1;
        }
        s
    }

    fn count_mut(&mut self, o: Outcome) -> &mut u64 {
        match o {
            Outcome::Passed => &mut self.passed,
            Outcome::Failed => &mut self.failed,
            Outcome::Error => &mut self.error,
            Outcome::Skipped => &mut self.skipped,
            Outcome::Xfailed => &mut self.xfailed,
            Outcome::Xpassed => &mut self.xpassed,
            Outcome::Timeout => &mut self.timeout,
            Outcome::Crashed => &mut self.crashed,
        }
    }

    pub fn count(&self, o: Outcome) -> u64 {
        let mut copy = self.clone();
        *copy.count_mut(o)
    }

    /// Tests whose outcome fails the run.
    pub fn failures(&self) -> u64 {
        self.failed
            .saturating_add(self.error)
            .saturating_add(self.timeout)
            .saturating_add(self.crashed)
    }
}

/// An open vocabulary: an enum written as its `snake_case` string, with `Unknown` keeping
/// any other string as it was read (a newer testflow's value), so that it is written back
/// byte for byte and readers decide what an unknown value means.
macro_rules! open_vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this testflow does not know (written by a newer one), kept as read.
            Unknown(String),
        }

        impl $name {
            /// Every known value, in documentation order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            /// The value as written in `run.json` and `events.jsonl`.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::Unknown(s) => s,
                }
            }

            /// Reads a written value; any string is accepted (unknown ones as `Unknown`).
            pub fn from_wire(s: &str) -> Self {
                match s {
                    $( $wire => $name::$variant, )+
                    other => $name::Unknown(other.to_owned()),
                }
            }

            /// Whether this testflow knows the value.
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Unknown(_))
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name::from_wire(s)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match $name::from_wire(&s) {
                    $name::Unknown(_) => $name::Unknown(s),
                    known => known,
                }
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map($name::from)
            }
        }
    };
}

open_vocabulary! {
    /// What a [`RunError`] is about (documented in docs/schema.md). The wire strings are
    /// also the [`error_kind`] constants, which the framework drivers and the bindings pass.
    pub enum ErrorKind {
        Build = "build",
        Environment = "environment",
        List = "list",
        LogDamaged = "log_damaged",
        LogNewer = "log_newer",
        Incomplete = "incomplete",
        Reconcile = "reconcile",
        ConflictingResults = "conflicting_results",
        Internal = "internal",
        NotRun = "not_run",
        Coverage = "coverage",
        Spawn = "spawn",
        Jest = "jest",
        Vitest = "vitest",
        Playwright = "playwright",
        UnhandledError = "unhandled_error",
        MergeConflict = "merge_conflict",
        Duplicate = "duplicate",
        Missing = "missing",
        SummaryMismatch = "summary_mismatch",
        AffectedMismatch = "affected_mismatch",
    }
}

impl ErrorKind {
    /// A suite could not run at all: built, listed or started (exit 101).
    pub fn stops_suite(&self) -> bool {
        matches!(
            self,
            ErrorKind::Build | ErrorKind::List | ErrorKind::Environment
        )
    }
}

open_vocabulary! {
    /// `FrameworkCoverage::status`.
    pub enum CoverageStatus {
        /// The framework's coverage report was read.
        Collected = "collected",
        /// The tool is missing (`message` says how to install it).
        Unavailable = "unavailable",
        /// The tool ran and wrote no report (`message` says what happened).
        Failed = "failed",
    }
}

open_vocabulary! {
    /// `ShardInfo::strategy`: how the tests were split into shards.
    pub enum ShardStrategy {
        /// Balanced by recorded durations.
        Timings = "timings",
        /// By a hash of each test id (stable as tests come and go).
        Hash = "hash",
        /// Round-robin over the sorted ids.
        Count = "count",
    }
}

open_vocabulary! {
    /// `Environment::ci`: the CI system the run ran on, from its environment variables.
    pub enum CiProvider {
        /// GitHub Actions (`GITHUB_ACTIONS`).
        Github = "github",
        /// GitLab CI (`GITLAB_CI`).
        Gitlab = "gitlab",
        /// CircleCI (`CIRCLECI`).
        Circleci = "circleci",
        /// Buildkite (`BUILDKITE`).
        Buildkite = "buildkite",
        /// Jenkins (`JENKINS_URL`).
        Jenkins = "jenkins",
        /// Azure Pipelines (`TF_BUILD`).
        Azure = "azure",
        /// Another CI system (`CI` is set).
        Ci = "ci",
    }
}

open_vocabulary! {
    /// `Environment::rust_isolation`: how the run's Rust tests ran.
    pub enum RustIsolation {
        /// One process per test binary (the default, as `cargo test`).
        Binary = "binary",
        /// One process per test (`--isolation process`).
        Process = "process",
        /// `[[isolation]]` rules gave these packages' tests both modes.
        Mixed = "mixed",
    }
}

open_vocabulary! {
    /// `WorkersDecision::basis`: what decided how many workers pytest or Jest got.
    pub enum WorkersBasis {
        /// The user's `-j`.
        User = "user",
        /// The suite's recorded serial time against worker start-up.
        History = "history",
        /// No history: the collected test count against a threshold.
        Threshold = "threshold",
        /// One CPU: one worker.
        Cpus = "cpus",
        /// The parallel plugin (pytest-xdist) is not installed.
        Unavailable = "unavailable",
        /// The project's own setting (Jest's `maxWorkers`) stands.
        Project = "project",
    }
}

/// A problem with the run itself rather than with one test (build failure, unreadable log
/// line, a framework whose own totals disagree with what was recorded).
///
/// Every run error fails the run closed: a run with any of them never exits 0 and fails
/// the `no_run_errors` gate. Readers treat an [`ErrorKind::Unknown`] kind the same way.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RunError {
    pub kind: ErrorKind,
    pub message: String,
}

/// The [`ErrorKind`] values as written (documented in docs/schema.md): what the framework
/// drivers and the bindings pass to `run_error`.
pub mod error_kind {
    use super::ErrorKind;

    /// A suite could not be built or collected.
    pub const BUILD: &str = "build";
    /// A tool a suite needs is missing or cannot start (pytest not installed for the
    /// Python, Jest not installed): the suite did not run, exit 101 like a build failure.
    pub const ENVIRONMENT: &str = "environment";

    /// A suite could not run at all: built, listed or started (exit 101).
    pub fn stops_suite(kind: &ErrorKind) -> bool {
        kind.stops_suite()
    }
    /// Listing a built suite's tests failed.
    pub const LIST: &str = "list";
    /// A line of the event log could not be read: the run is `completed: false`.
    pub const LOG_DAMAGED: &str = "log_damaged";
    /// The log was written by a newer testflow (events it does not know were ignored).
    pub const LOG_NEWER: &str = "log_newer";
    /// The run never wrote "run finished" (killed or crashed).
    pub const INCOMPLETE: &str = "incomplete";
    /// What testflow recorded disagrees with the framework's own totals or exit status.
    pub const RECONCILE: &str = "reconcile";
    /// One attempt of one test was reported twice with different verdicts.
    pub const CONFLICTING_RESULTS: &str = "conflicting_results";
    /// A bug in testflow itself (a worker panicked): the test it was running is named.
    pub const INTERNAL: &str = "internal";
    /// Planned tests did not run (fail-fast, run timeout, Ctrl-C).
    pub const NOT_RUN: &str = "not_run";
    /// Coverage could not be assembled.
    pub const COVERAGE: &str = "coverage";
    /// A test process (or `cargo test --doc`) could not be started.
    pub const SPAWN: &str = "spawn";
    /// Jest's process ended abnormally after it had reported tests (`cargo testflow run`).
    pub const JEST: &str = "jest";
    /// Vitest's process ended abnormally after it had reported tests (`cargo testflow run`).
    pub const VITEST: &str = "vitest";
    /// Playwright's process ended abnormally, or its end of the run says what testflow's
    /// record does not (a global timeout, a worker that died, an error outside the tests).
    pub const PLAYWRIGHT: &str = "playwright";
    /// The framework caught an error outside every test's result (Vitest's unhandled
    /// errors and rejections): the run fails even when every test passed.
    pub const UNHANDLED_ERROR: &str = "unhandled_error";
    /// `merge`: shards disagree about a test (the worst outcome is kept).
    pub const MERGE_CONFLICT: &str = "merge_conflict";
    /// `merge`: two inputs are the same shard.
    pub const DUPLICATE: &str = "duplicate";
    /// `merge`: a shard of the set is missing.
    pub const MISSING: &str = "missing";
    /// The run's stored `summary` does not match its `tests` (the tests are believed).
    pub const SUMMARY_MISMATCH: &str = "summary_mismatch";
    /// `merge`: the shards' `--affected` selections differ (some tests may have run in no
    /// shard, or in two).
    pub const AFFECTED_MISMATCH: &str = "affected_mismatch";
}

/// How bad an outcome is, for keeping the worst of two reports of one test
/// (merge conflicts, a re-sent attempt): any failure outranks any non-failure.
pub fn outcome_rank(o: Outcome) -> u8 {
    match o {
        Outcome::Skipped => 0,
        Outcome::Xfailed => 1,
        Outcome::Passed => 2,
        Outcome::Xpassed => 3,
        Outcome::Failed => 4,
        Outcome::Error => 5,
        Outcome::Timeout => 6,
        Outcome::Crashed => 7,
    }
}

/// Which part of a sharded run this is (`index` is 1-based).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ShardInfo {
    pub index: u32,
    pub total: u32,
    pub strategy: ShardStrategy,
}

/// One shard's totals inside a merged run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ShardSummary {
    /// What it was merged from (a run id or path).
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    pub run_id: String,
    pub summary: Summary,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Run {
    pub schema_version: u32,
    pub run_id: String,
    pub testflow_version: String,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// False when the run never wrote "run finished" (killed, crashed) or was interrupted.
    pub completed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_root: Option<String>,
    pub environment: Environment,
    pub frameworks: Vec<Framework>,
    /// Set when this run is one shard of a larger one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// For a merged run: the totals of each shard it was merged from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardSummary>,
    pub summary: Summary,
    pub tests: Vec<TestCase>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<RunError>,
    /// Coverage measured by this run (`run --coverage`, `--coverage-file`) or merged
    /// from its shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<RunCoverage>,
    /// How many workers pytest (xdist) and Jest were given, and why: one per framework
    /// the driver launched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<WorkersDecision>,
    /// The quarantine that applied to this run: its entries and the tests they matched
    /// (see `quarantine`). Absent when nothing is quarantined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<Quarantine>,
    /// `run --affected`: what changed since which base, and why each group of tests was
    /// selected or not. Tests not selected are not in `tests` (and not in the pass rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affected: Option<Affected>,
}

/// `run --affected`'s selection (see the engine's `affected` module).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Affected {
    /// `select` (run the affected tests), `record` (run everything, record dependencies)
    /// or `observe` (run everything, record what the selection would have missed).
    pub mode: String,
    /// The git revision the changes are counted from; absent with `--changed` or without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// Where the base came from: `since` (`--since`), `last_passing_run`, `merge_base`,
    /// `changed` (`--changed` paths given) or `none`.
    pub base_source: String,
    /// Set when every test was selected, and why (a tracked file changed, not a git
    /// repository, no base revision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_run: Option<String>,
    /// The change set, relative to the project root.
    #[serde(default)]
    pub changed: Vec<ChangedFile>,
    /// One decision per group of tests (a Rust test binary, a pytest or Jest test file,
    /// a failed test re-selected on its own), per framework.
    #[serde(default)]
    pub groups: Vec<AffectedGroup>,
    /// Tests (or test files, where only files are known) not selected.
    #[serde(default)]
    pub not_selected: u64,
    /// Observation mode: failures of this run that the selection would not have run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missed: Vec<String>,
}

/// One changed path: `added`, `modified`, `deleted`, `renamed` (from `old_path`),
/// `untracked` or `given` (`--changed`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ChangedFile {
    pub path: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
}

/// Why one group of tests was selected or not.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AffectedGroup {
    pub framework: Framework,
    /// The group: a Rust test binary id, a test file, or a single test id.
    pub group: String,
    pub selected: bool,
    /// The rule that decided: `changed_dependency`, `failed_last_run`, `no_dependencies`,
    /// `full_run`, `deleted_source`, `unaffected`, `fingerprint`, `selection_failed`,
    /// `selection_unavailable`.
    pub rule: String,
    /// The decision in words.
    pub reason: String,
    /// The changed files that selected it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// How many tests it holds, where known before running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<u64>,
}

/// The driver's choice of parallelism for one framework (`frameworks::workers`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkersDecision {
    pub framework: Framework,
    /// Worker processes asked for; 1 is serial (pytest without `-n`, Jest `--runInBand`).
    pub workers: usize,
    /// What decided: `user` (`-j`), `history`, `threshold` (no history: the collected test
    /// count), `unavailable` (pytest-xdist not installed) or `project` (the project's own
    /// setting stands).
    pub basis: WorkersBasis,
    /// The decision in words, for people.
    pub reason: String,
    /// The suite's serial time as history recorded it (sum of its test durations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_ms: Option<f64>,
    /// Start-up cost of one worker, measured in this run or taken from history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_ms: Option<f64>,
    /// Tests collected before deciding (no history), or recorded last time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<u64>,
    /// CPU time (user + sys) the framework's process tree used in this run, recorded when
    /// it ended: the suite's work, unlike wall times, does not grow with the machine's load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<f64>,
    /// Wall time of the same process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_ms: Option<f64>,
    /// How much waiting for a CPU stretched the framework's own process: (time on a CPU
    /// + time runnable, waiting for one) / time on a CPU, from the kernel's schedstat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stretch: Option<f64>,
}

/// One quarantine entry: a test id or a pattern, why, and until when.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct QuarantineEntry {
    /// A test id, matched exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A glob over test ids: `*` any characters, `?` one character.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    pub reason: String,
    /// Last day (UTC) the entry applies; after it the entry is expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<chrono::NaiveDate>,
    /// `config` (the configuration file) or `flaky` (`run --quarantine-flaky`).
    pub origin: String,
    /// The file the entry came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Computed when the run is folded: `until` is before the run's start day.
    #[serde(default)]
    pub expired: bool,
    /// Computed when the run is folded: how many of the run's tests it matches.
    #[serde(default)]
    pub matched: u64,
}

impl QuarantineEntry {
    /// The id or the pattern, as written.
    pub fn target(&self) -> &str {
        self.id
            .as_deref()
            .or(self.pattern.as_deref())
            .unwrap_or_default()
    }
}

/// A run's quarantine: every entry that applied, and the tests that were quarantined.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Quarantine {
    pub entries: Vec<QuarantineEntry>,
    /// The run's tests an entry (not expired) matched, in run order.
    #[serde(default)]
    pub tests: Vec<QuarantinedTest>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct QuarantinedTest {
    pub id: String,
    pub outcome: Outcome,
    pub reason: String,
    /// The entry's id or pattern.
    pub entry: String,
    pub origin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<chrono::NaiveDate>,
}

/// A run's coverage: where the reports are kept, the totals, and what changed against
/// the previous run on the same branch that measured coverage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunCoverage {
    /// Coverage reports kept with the run, relative to the run's directory
    /// (`coverage/pytest.json`, `coverage/jest/coverage-final.json`, `coverage/rust.lcov`).
    pub reports: Vec<String>,
    /// Per framework: whether coverage was collected, and why not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frameworks: Vec<FrameworkCoverage>,
    /// Line, branch and function totals over all files.
    pub totals: crate::coverage::Totals,
    /// Totals per file, in path order.
    pub files: Vec<crate::coverage::FileSummary>,
    /// The previous run on the same branch with coverage, to compare against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<CoverageBaseline>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameworkCoverage {
    pub framework: Framework,
    pub status: CoverageStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The previous run's coverage, and the files whose line coverage changed since.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoverageBaseline {
    pub run_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    pub lines: crate::coverage::Ratio,
    /// Files whose covered/total lines differ (added and removed files included).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_files: Vec<FileCoverageChange>,
    /// Newer runs with coverage passed over because `run --affected` left tests out of
    /// them (a selection's coverage is not comparable with a whole run's).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped_affected: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileCoverageChange {
    pub path: String,
    /// Line coverage before (none: the file is new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<crate::coverage::Ratio>,
    /// Line coverage now (none: the file is no longer measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<crate::coverage::Ratio>,
}

impl Run {
    /// A completed run of `tests`, with nothing else known (no environment, shard or
    /// coverage): the base that tests and benchmarks fill in with `..Run::of_tests(…)`.
    pub fn of_tests(
        run_id: impl Into<String>,
        started_at: DateTime<Utc>,
        tests: Vec<TestCase>,
        duration_ms: f64,
    ) -> Run {
        Run {
            schema_version: SCHEMA_VERSION,
            run_id: run_id.into(),
            testflow_version: env!("CARGO_PKG_VERSION").into(),
            started_at,
            finished_at: None,
            completed: true,
            project_root: None,
            environment: Environment::default(),
            frameworks: Vec::new(),
            shard: None,
            shards: Vec::new(),
            summary: Summary::of(&tests, duration_ms),
            tests,
            errors: Vec::new(),
            coverage: None,
            workers: Vec::new(),
            quarantine: None,
            affected: None,
        }
    }

    /// The ids of the tests quarantined in this run, recomputed from the entries and the
    /// tests (never taken from the stored list, which an edited file could contradict).
    pub fn quarantined_ids(&self) -> std::collections::HashSet<String> {
        self.recomputed_quarantine()
            .map(|q| q.tests.into_iter().map(|t| t.id).collect())
            .unwrap_or_default()
    }

    /// The quarantine recomputed from its entries and the tests (what verdicts use).
    pub fn recomputed_quarantine(&self) -> Option<Quarantine> {
        let q = self.quarantine.as_ref()?;
        quarantine::resolve(q.entries.clone(), &self.tests, self.started_at)
    }

    /// The summary of the tests that count for the verdict: every test but the
    /// quarantined ones. What the exit code and the gates use.
    pub fn verdict_summary(&self) -> Summary {
        let q = self.quarantined_ids();
        if q.is_empty() {
            return self.recomputed_summary();
        }
        Summary::of_iter(
            self.tests.iter().filter(|t| !q.contains(&t.id)),
            self.summary.duration_ms,
        )
    }

    /// The summary recomputed from `tests`: what gates and verdicts use, because a
    /// stored `summary` is only a cache that a damaged or edited file can contradict.
    pub fn recomputed_summary(&self) -> Summary {
        Summary::of(&self.tests, self.summary.duration_ms)
    }

    /// Why this run cannot be trusted as a pass, beyond its tests' outcomes: its run
    /// errors, a missing "run finished", a stored summary that contradicts its tests.
    /// Empty for a run whose verdict is exactly its tests'.
    pub fn distrust(&self) -> Vec<String> {
        self.distrust_errors()
            .iter()
            .map(|e| format!("{}: {}", e.kind, e.message))
            .collect()
    }

    /// [`Run::distrust`] as run errors (what reports show): the run's own errors, then
    /// `incomplete` and `summary_mismatch` when they apply and are not recorded yet.
    pub fn distrust_errors(&self) -> Vec<RunError> {
        let mut why = self.errors.clone();
        if !self.completed && !self.errors.iter().any(|e| e.kind == error_kind::INCOMPLETE) {
            why.push(RunError {
                kind: error_kind::INCOMPLETE.into(),
                message: "the run did not complete".into(),
            });
        }
        let s = self.recomputed_summary();
        let mut stored = self.summary.clone();
        stored.duration_ms = s.duration_ms;
        if stored != s {
            why.push(RunError {
                kind: error_kind::SUMMARY_MISMATCH.into(),
                message: format!(
                    "the stored summary ({} tests, {} failing) does not match the {} tests recorded ({} failing)",
                    self.summary.total,
                    self.summary.failures(),
                    s.total,
                    s.failures()
                ),
            });
        }
        why
    }

    pub fn failed_tests(&self) -> impl Iterator<Item = &TestCase> {
        self.tests.iter().filter(|t| t.outcome.is_failure())
    }
}

// The vocabularies parse from the names they serialize to (bindings pass plain strings).
impl FromStr for Outcome {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Outcome, UnknownName> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| UnknownName::new(format!("unknown outcome `{s}` (expected one of passed, failed, error, skipped, xfailed, xpassed, timeout, crashed)")))
    }
}

impl FromStr for Category {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Category, UnknownName> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownName::new(format!("unknown failure category `{s}`")))
    }
}

impl FromStr for Framework {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Framework, UnknownName> {
        Framework::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Framework::ALL.iter().map(|f| f.as_str()).collect();
                UnknownName::new(format!(
                    "unknown framework `{s}` (expected one of {})",
                    names.join(", ")
                ))
            })
    }
}

/// A vocabulary name this version does not know (`Outcome`, `Category`, `Framework`
/// parse from the names they serialize to).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName(String);

impl UnknownName {
    fn new(message: String) -> UnknownName {
        UnknownName(message)
    }
}

impl std::fmt::Display for UnknownName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnknownName {}

/// Coverage totals as runs store them (`RunCoverage`); reading and merging coverage
/// reports is the engine's `coverage` module.
pub mod coverage {
    use serde::{Deserialize, Serialize};

    /// Covered out of total, and the percentage (none when there is nothing to cover).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Ratio {
        pub covered: u64,
        pub total: u64,
        pub percent: Option<f64>,
    }

    impl Ratio {
        pub fn new(covered: u64, total: u64) -> Ratio {
            Ratio {
                covered,
                total,
                percent: (total > 0).then(|| covered as f64 * 100.0 / total as f64),
            }
        }
    }

    #[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Totals {
        pub lines: Ratio,
        pub branches: Ratio,
        pub functions: Ratio,
    }

    impl Totals {
        pub fn new(l: (usize, usize), b: (usize, usize), f: (usize, usize)) -> Totals {
            Totals {
                lines: Ratio::new(l.0 as u64, l.1 as u64),
                branches: Ratio::new(b.0 as u64, b.1 as u64),
                functions: Ratio::new(f.0 as u64, f.1 as u64),
            }
        }

        pub fn add(&mut self, o: &Totals) {
            self.lines = Ratio::new(
                self.lines.covered + o.lines.covered,
                self.lines.total + o.lines.total,
            );
            self.branches = Ratio::new(
                self.branches.covered + o.branches.covered,
                self.branches.total + o.branches.total,
            );
            self.functions = Ratio::new(
                self.functions.covered + o.functions.covered,
                self.functions.total + o.functions.total,
            );
        }
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct FileSummary {
        pub path: String,
        #[serde(flatten)]
        pub totals: Totals,
    }
}

/// The event log's lines (`events.jsonl`); writing and folding them is the engine's
/// `events` module.
pub mod events {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Serialize};

    use crate::{Environment, Failure, Framework, Outcome, ShardInfo, TestMeta};

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[serde(tag = "event", rename_all = "snake_case")]
    pub enum Event {
        RunStarted {
            schema_version: u32,
            run_id: String,
            time: DateTime<Utc>,
            testflow_version: String,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            project_root: Option<String>,
            environment: Environment,
            #[serde(default)]
            frameworks: Vec<Framework>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            shard: Option<ShardInfo>,
        },
        /// An attempt of a test began. A test started and never finished is the one that
        /// crashed or hung the process.
        TestStarted {
            time: DateTime<Utc>,
            test: TestMeta,
            #[serde(default = "one")]
            attempt: u32,
        },
        /// An attempt of a test ended. `last` is false when a retry will follow.
        TestFinished {
            time: DateTime<Utc>,
            test: TestMeta,
            #[serde(default = "one")]
            attempt: u32,
            outcome: Outcome,
            #[serde(deserialize_with = "crate::lenient_ms")]
            duration_ms: f64,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            failure: Option<Failure>,
            /// Why a test was skipped or xfailed, or the xfail reason of one that xpassed:
            /// not a failure (pytest's skip and xfail reasons).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            reason: Option<String>,
            /// Another test ran at some moment of this attempt (`Attempt::concurrent`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            concurrent: Option<bool>,
            /// Files the attempt left behind (`Attempt::attachments`).
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            attachments: Vec<crate::Attachment>,
        },
        /// A problem with the run rather than a test (build failure, listing failure).
        RunError {
            time: DateTime<Utc>,
            kind: crate::ErrorKind,
            message: String,
        },
        /// How many workers the driver gave a framework, and why (`Run::workers`).
        Workers {
            time: DateTime<Utc>,
            decision: crate::WorkersDecision,
        },
        /// Coverage measured by the run (written once, after the tests and before
        /// `run_finished`).
        Coverage {
            time: DateTime<Utc>,
            coverage: crate::RunCoverage,
        },
        /// The quarantine entries that apply to the run (from the configuration and
        /// `--quarantine-flaky`), written before the tests; the fold matches them to the tests.
        Quarantine {
            time: DateTime<Utc>,
            entries: Vec<crate::QuarantineEntry>,
        },
        RunFinished {
            time: DateTime<Utc>,
            /// False when interrupted (Ctrl-C) or stopped by the run timeout.
            completed: bool,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            reason: Option<String>,
        },
        /// `run --affected`'s selection, written once the suites were planned; observation
        /// mode writes it again after the run with `missed` filled in (the later one wins).
        Affected {
            time: DateTime<Utc>,
            affected: crate::Affected,
        },
        /// What git says about the checkout, written by the driver once git has answered
        /// (it asks while the tests run): fills `Environment`'s `git_*` fields, which the
        /// run's `run_started` left empty.
        Git {
            time: DateTime<Utc>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            commit: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            branch: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            tree: Option<String>,
        },
        /// An event from a newer writer; ignored by this reader.
        #[serde(other)]
        Unknown,
    }

    fn one() -> u32 {
        1
    }
}

/// Which tests a run's quarantine entries hold back from the verdict.
pub mod quarantine {
    use chrono::{DateTime, NaiveDate, Utc};

    use crate::{Quarantine, QuarantineEntry, QuarantinedTest, TestCase};

    /// Does `pattern` match the whole of `text`? `*` matches any run of characters (`/`,
    /// `::` and `$` included), `?` exactly one character; every other character is literal.
    pub fn glob_match(pattern: &str, text: &str) -> bool {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        // Iterative matching with backtracking to the last `*`: linear in practice, never
        // exponential.
        let (mut pi, mut ti) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
                pi += 1;
                ti += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some((pi, ti));
                pi += 1;
            } else if let Some((sp, st)) = star {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|c| *c == '*')
    }

    impl QuarantineEntry {
        pub fn matches(&self, test_id: &str) -> bool {
            match (&self.id, &self.pattern) {
                (Some(id), _) => id == test_id,
                (None, Some(p)) => glob_match(p, test_id),
                (None, None) => false,
            }
        }

        /// Expired on `day`: its last day is before it.
        pub fn expired_on(&self, day: NaiveDate) -> bool {
            self.until.is_some_and(|u| day > u)
        }
    }

    /// The run's quarantine: each entry with `expired` (on the run's start day, UTC) and
    /// `matched` filled in, and the tests an entry that has not expired matches (the first
    /// such entry names the reason). `None` without entries.
    pub fn resolve(
        mut entries: Vec<QuarantineEntry>,
        tests: &[TestCase],
        started_at: DateTime<Utc>,
    ) -> Option<Quarantine> {
        if entries.is_empty() {
            return None;
        }
        let day = started_at.date_naive();
        for e in &mut entries {
            e.expired = e.expired_on(day);
            e.matched = tests.iter().filter(|t| e.matches(&t.id)).count() as u64;
        }
        let quarantined = tests
            .iter()
            .filter_map(|t| {
                let e = entries.iter().find(|e| !e.expired && e.matches(&t.id))?;
                Some(QuarantinedTest {
                    id: t.id.clone(),
                    outcome: t.outcome,
                    reason: e.reason.clone(),
                    entry: e.target().to_owned(),
                    origin: e.origin.clone(),
                    until: e.until,
                })
            })
            .collect();
        Some(Quarantine {
            entries,
            tests: quarantined,
        })
    }
}

#[cfg(test)]
mod headline_tests {
    use super::*;

    fn f(kind: Option<&str>, message: &str) -> Failure {
        Failure {
            kind: kind.map(str::to_owned),
            message: message.into(),
            ..Failure::default()
        }
    }

    #[test]
    fn the_kind_is_named_once() {
        // Jest keeps the type in the message; pytest leaves it out.
        assert_eq!(
            f(Some("TypeError"), "TypeError: x is null\n  at y").headline(),
            "TypeError: x is null"
        );
        assert_eq!(f(Some("ValueError"), "boom").headline(), "ValueError: boom");
        assert_eq!(
            f(Some("json.decoder.JSONDecodeError"), "JSONDecodeError: bad").headline(),
            "JSONDecodeError: bad"
        );
        assert_eq!(
            f(Some("Error"), "Errors happen").headline(),
            "Error: Errors happen"
        );
        assert_eq!(f(Some("KeyError"), "").headline(), "KeyError");
        assert_eq!(f(None, "plain").headline(), "plain");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_keeps_non_utf8_bytes_exactly() {
        let raw = b"ok \xff\xfe bytes";
        let c = Captured::from_bytes(raw, 1024);
        assert!(c.base64.is_some());
        assert_eq!(c.bytes(), raw);
        assert!(c.text.contains('\u{fffd}'));
    }

    #[test]
    fn captured_cuts_the_middle_and_says_how_much() {
        let raw: String = "é".repeat(100_000); // 200_000 bytes, 2-byte chars
        let c = Captured::from_bytes(raw.as_bytes(), 1000);
        assert!(c.base64.is_none(), "cut must respect UTF-8 boundaries");
        assert!(c.truncated_bytes >= 199_000 && c.truncated_bytes <= 199_002);
        assert!(c.text.contains("testflow cut"));
    }

    #[test]
    fn flaky_means_failed_then_passed() {
        let meta = TestMeta {
            id: "a$b".into(),
            framework: Framework::Rust,
            name: "b".into(),
            suite: vec![],
            file: None,
            line: None,
            binary: None,
        };
        let att = |n, o| Attempt {
            attempt: n,
            outcome: o,
            duration_ms: 1.0,
            started_at: None,
            failure: None,
            concurrent: None,
            attachments: vec![],
        };
        let t = TestCase::from_attempts(
            meta.clone(),
            vec![att(1, Outcome::Failed), att(2, Outcome::Passed)],
        );
        assert!(t.flaky);
        assert_eq!(t.outcome, Outcome::Passed);
        let t =
            TestCase::from_attempts(meta, vec![att(1, Outcome::Failed), att(2, Outcome::Failed)]);
        assert!(!t.flaky);
        assert_eq!(t.outcome, Outcome::Failed);
    }

    #[test]
    fn vocabularies_parse_from_their_names() {
        assert_eq!("xfailed".parse::<Outcome>().unwrap(), Outcome::Xfailed);
        assert_eq!(
            "import_error".parse::<Category>().unwrap(),
            Category::ImportError
        );
        assert!(
            "nope"
                .parse::<Outcome>()
                .unwrap_err()
                .to_string()
                .contains("unknown outcome `nope`")
        );
    }

    /// The written names of the open vocabularies, exactly as run.json and events.jsonl
    /// have always spelled them (a rename here would change every stored log).
    const WIRE: &[(&str, &[&str])] = &[
        (
            "ErrorKind",
            &[
                "build",
                "environment",
                "list",
                "log_damaged",
                "log_newer",
                "incomplete",
                "reconcile",
                "conflicting_results",
                "internal",
                "not_run",
                "coverage",
                "spawn",
                "jest",
                "vitest",
                "playwright",
                "unhandled_error",
                "merge_conflict",
                "duplicate",
                "missing",
                "summary_mismatch",
                "affected_mismatch",
            ],
        ),
        ("CoverageStatus", &["collected", "unavailable", "failed"]),
        ("ShardStrategy", &["timings", "hash", "count"]),
        (
            "CiProvider",
            &[
                "github",
                "gitlab",
                "circleci",
                "buildkite",
                "jenkins",
                "azure",
                "ci",
            ],
        ),
        ("RustIsolation", &["binary", "process", "mixed"]),
        (
            "WorkersBasis",
            &[
                "user",
                "history",
                "threshold",
                "cpus",
                "unavailable",
                "project",
            ],
        ),
    ];

    fn known(name: &str) -> Vec<String> {
        match name {
            "ErrorKind" => ErrorKind::KNOWN.iter().map(ToString::to_string).collect(),
            "CoverageStatus" => CoverageStatus::KNOWN
                .iter()
                .map(ToString::to_string)
                .collect(),
            "ShardStrategy" => ShardStrategy::KNOWN
                .iter()
                .map(ToString::to_string)
                .collect(),
            "CiProvider" => CiProvider::KNOWN.iter().map(ToString::to_string).collect(),
            "RustIsolation" => RustIsolation::KNOWN
                .iter()
                .map(ToString::to_string)
                .collect(),
            "WorkersBasis" => WorkersBasis::KNOWN
                .iter()
                .map(ToString::to_string)
                .collect(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn open_vocabularies_keep_their_written_names() {
        for (name, wire) in WIRE {
            assert_eq!(known(name), *wire, "{name}");
        }
        for w in WIRE[0].1 {
            let k: ErrorKind = serde_json::from_str(&format!("\"{w}\"")).unwrap();
            assert!(k.is_known(), "{w}");
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{w}\""));
            assert_eq!(ErrorKind::from(*w), k);
        }
        for w in WIRE[1].1 {
            let k: CoverageStatus = serde_json::from_str(&format!("\"{w}\"")).unwrap();
            assert!(k.is_known(), "{w}");
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{w}\""));
        }
        for w in WIRE[2].1 {
            let k: ShardStrategy = serde_json::from_str(&format!("\"{w}\"")).unwrap();
            assert!(k.is_known(), "{w}");
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{w}\""));
        }
        // The constants the drivers and bindings pass are all known kinds.
        for c in [
            error_kind::BUILD,
            error_kind::ENVIRONMENT,
            error_kind::LIST,
            error_kind::LOG_DAMAGED,
            error_kind::LOG_NEWER,
            error_kind::INCOMPLETE,
            error_kind::RECONCILE,
            error_kind::CONFLICTING_RESULTS,
            error_kind::INTERNAL,
            error_kind::NOT_RUN,
            error_kind::COVERAGE,
            error_kind::SPAWN,
            error_kind::JEST,
            error_kind::MERGE_CONFLICT,
            error_kind::DUPLICATE,
            error_kind::MISSING,
            error_kind::SUMMARY_MISMATCH,
        ] {
            assert!(ErrorKind::from(c).is_known(), "{c}");
        }
    }

    #[test]
    fn a_newer_value_reads_back_and_is_written_as_it_was() {
        // A run error, a coverage status and a shard strategy some newer testflow wrote.
        let line = r#"{"kind":"gpu_lost","message":"the GPU went away"}"#;
        let e: RunError = serde_json::from_str(line).unwrap();
        assert_eq!(e.kind, ErrorKind::Unknown("gpu_lost".into()));
        assert!(!e.kind.is_known() && !e.kind.stops_suite());
        assert_eq!(e.kind, "gpu_lost");
        assert_eq!(serde_json::to_string(&e).unwrap(), line);

        let cov = r#"{"framework":"jest","status":"partial","message":"half"}"#;
        let f: FrameworkCoverage = serde_json::from_str(cov).unwrap();
        assert_eq!(f.status, CoverageStatus::Unknown("partial".into()));
        assert_ne!(f.status, CoverageStatus::Collected);
        assert_eq!(serde_json::to_string(&f).unwrap(), cov);

        let shard = r#"{"index":2,"total":3,"strategy":"weighted"}"#;
        let i: ShardInfo = serde_json::from_str(shard).unwrap();
        assert_eq!(i.strategy.as_str(), "weighted");
        assert!(!i.strategy.is_known());
        assert_eq!(serde_json::to_string(&i).unwrap(), shard);

        // The kind older logs wrote for a damaged line is kept as it was, too.
        assert_eq!(ErrorKind::from("log").to_string(), "log");
        // Not a string: still an error (only the value is open, not its type).
        assert!(serde_json::from_str::<RunError>(r#"{"kind":3,"message":""}"#).is_err());
    }

    #[test]
    fn docs_schema_md_documents_every_value() {
        let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let doc = manifest
            .ancestors()
            .map(|d| d.join("docs/schema.md"))
            .find(|p| p.is_file())
            .expect("docs/schema.md above the crate");
        let text = std::fs::read_to_string(doc).unwrap();
        for (name, wire) in WIRE {
            for w in *wire {
                assert!(
                    text.contains(&format!("| `{w}` |")),
                    "docs/schema.md has no table row for {name} `{w}`"
                );
            }
        }
    }
}
