//! `testflow.node`: the napi-rs addon behind the `jest-testflow` reporters (Jest's here,
//! Vitest's in `vitest.rs`: one addon, one build, one prebuilt per platform).
//!
//! Thin on purpose: it converts plain JS strings and numbers into the engine's Jest
//! types (`testflow::frameworks::jest`) and calls it. No call throws: Jest does not await
//! per-case hooks, so an exception there would be lost or crash the run. Each method
//! returns `false` on failure and the message waits in `getLastError()`, its engine error
//! kind in `getLastErrorCode()` (`testflow::error::Kind::code`, e.g. `TESTFLOW_CONFIG`).
//! `selectFiles` throws an `Error` whose `code` is the same.

use std::path::PathBuf;
use std::sync::Mutex;

use napi_derive::napi;
use testflow::error::{Error as EngineError, Kind};
use testflow::frameworks::jest::recorder::JestRecorder;
use testflow::frameworks::jest::{JestCase, JestResult, JestTotals};
use testflow::model::Framework;
use testflow::recorder::{RecorderConfig, parse_report_list};

mod playwright;
mod vitest;

#[napi(object)]
pub struct RecorderOptions {
    /// Jest's `rootDir`, or the reporter's `rootDir` option (`root_given`). Ids and files
    /// are relative to the project root, and `.testflow/` goes there: the option as
    /// given, else the nearest directory at or above Jest's rootDir with a package.json.
    pub root_dir: String,
    pub root_given: Option<bool>,
    /// Extra reports, `junit=a.xml,json=b.json` (added to `$TESTFLOW_REPORT`'s; either
    /// replaces the configuration file's `run.reports`).
    pub reports: Option<String>,
    /// Jest's `--shard` as `K/N`: recorded in the run (the strategy is the one the
    /// sequencer uses: `$TESTFLOW_SHARD_STRATEGY`, else timings/hash from history).
    pub shard: Option<String>,
    /// The running Jest's version (its package.json): the engine fails the run closed on
    /// one it cannot read, or when it is unknown.
    pub jest_version: Option<String>,
}

/// One `AssertionResult`, flattened.
#[napi(object)]
pub struct CaseResult {
    pub file: String,
    pub ancestor_titles: Vec<String>,
    pub title: String,
    pub status: String,
    pub duration_ms: Option<f64>,
    pub failure_messages: Option<Vec<String>>,
    /// `JSON.stringify(failureDetails)`.
    pub failure_details_json: Option<String>,
    pub invocations: Option<u32>,
    pub line: Option<u32>,
    pub column: Option<u32>,
    /// `startedAt` (ms), which pairs a result with its start.
    pub started_at: Option<f64>,
}

/// Jest's `AggregatedResult` totals, flattened (`onRunComplete`).
#[napi(object)]
pub struct RunTotals {
    pub num_total_tests: f64,
    pub num_passed_tests: f64,
    pub num_failed_tests: f64,
    pub num_pending_tests: f64,
    pub num_todo_tests: f64,
    pub num_total_test_suites: f64,
    pub num_failed_test_suites: f64,
    pub num_runtime_error_test_suites: f64,
    pub success: Option<bool>,
    pub was_interrupted: bool,
    pub snapshot_failure: bool,
    pub run_exec_error: Option<String>,
    /// Files with failing tests or a `testExecError`.
    pub failed_files: Vec<String>,
    /// Files with a `testExecError` and the error text, as `[file, text]` pairs.
    pub failed_to_run: Vec<Vec<String>>,
}

/// A JS count as u64: negative, fractional or non-finite values become the nearest
/// count (never a panic; a wrong count then fails the reconciliation).
fn js_count(n: f64) -> u64 {
    if n.is_finite() && n > 0.0 {
        n.min(u64::MAX as f64) as u64
    } else {
        0
    }
}

fn to_totals(t: RunTotals) -> JestTotals {
    JestTotals {
        num_total_tests: js_count(t.num_total_tests),
        num_passed_tests: js_count(t.num_passed_tests),
        num_failed_tests: js_count(t.num_failed_tests),
        num_pending_tests: js_count(t.num_pending_tests),
        num_todo_tests: js_count(t.num_todo_tests),
        num_total_test_suites: js_count(t.num_total_test_suites),
        num_failed_test_suites: js_count(t.num_failed_test_suites),
        num_runtime_error_test_suites: js_count(t.num_runtime_error_test_suites),
        success: t.success,
        was_interrupted: t.was_interrupted,
        snapshot_failure: t.snapshot_failure,
        run_exec_error: t.run_exec_error,
        failed_files: t.failed_files,
        failed_to_run: t
            .failed_to_run
            .into_iter()
            .map(|mut p| {
                let text = if p.len() > 1 {
                    p.swap_remove(1)
                } else {
                    String::new()
                };
                (p.into_iter().next().unwrap_or_default(), text)
            })
            .collect(),
    }
}

#[napi(object)]
pub struct RunSummary {
    pub total: u32,
    pub passed: u32,
    pub failed: u32,
    pub error: u32,
    pub skipped: u32,
    pub timeout: u32,
    pub crashed: u32,
    pub flaky: u32,
    pub duration_ms: f64,
    /// `.testflow/runs/<id>` when the reporter owned the run.
    pub run_dir: Option<String>,
}

#[napi]
pub struct Recorder {
    inner: Option<JestRecorder>,
    /// The first error, and the engine's kind of it (`None`: not an engine error, such as
    /// a disagreement with Jest's totals, which is a run error of its own).
    last_error: Mutex<Option<(String, Option<Kind>)>>,
}

fn to_result(r: CaseResult) -> JestResult {
    JestResult {
        case: JestCase {
            file: r.file,
            ancestor_titles: r.ancestor_titles,
            title: r.title,
            line: r.line,
            column: r.column,
            started_at: r.started_at,
        },
        status: r.status,
        duration_ms: r.duration_ms.unwrap_or(0.0),
        failure_messages: r.failure_messages.unwrap_or_default(),
        failure_details_json: r.failure_details_json,
        invocations: r.invocations,
    }
}

/// The project root for Jest's `rootDir` (see `frameworks::jest::project_root`).
pub(crate) fn root_of(root_dir: &str, given: Option<bool>) -> PathBuf {
    let root = PathBuf::from(root_dir);
    if given == Some(true) {
        root
    } else {
        testflow::frameworks::jest::project_root(&root)
    }
}

/// The project root (`.testflow/`'s directory) for Jest's `rootDir`, for the sequencer.
#[napi]
pub fn project_root(root_dir: String) -> String {
    root_of(&root_dir, None).display().to_string()
}

/// What a reporter door's `finish` hands back: the run's counts and where it is.
pub(crate) fn run_summary(
    run: &testflow::model::Run,
    run_dir: Option<&std::path::Path>,
) -> RunSummary {
    let s = &run.summary;
    RunSummary {
        total: count(s.total),
        passed: count(s.passed),
        failed: count(s.failed),
        error: count(s.error),
        skipped: count(s.skipped),
        timeout: count(s.timeout),
        crashed: count(s.crashed),
        flaky: count(s.flaky),
        duration_ms: s.duration_ms,
        run_dir: run_dir.map(|p| p.display().to_string()),
    }
}

/// A reporter door's end of the run: a failed gate, else the disagreements with the
/// runner's own results (`notes`), become the pending error that fails the runner's run.
pub(crate) fn note_end(
    slot: &Mutex<Option<(String, Option<Kind>)>>,
    runner: &str,
    gate: Option<testflow::gate::GateReport>,
    notes: &[String],
) {
    let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(g) = gate.filter(|g| !g.passed) {
        slot.get_or_insert_with(|| {
            let m = format!(
                "testflow: a required quality gate failed:\n{}",
                testflow::gate::render_human(&g).trim_end()
            );
            (m, Some(Kind::GateFailed))
        });
    }
    if !notes.is_empty() {
        slot.get_or_insert_with(|| {
            let m = format!(
                "testflow: {runner}'s results and testflow's record disagree (run error `reconcile`):\n  {}",
                notes.join("\n  ")
            );
            (m, None)
        });
    }
}

pub(crate) fn count(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Run one engine call for a recorder (`what` names it). An error or a panic never reaches
/// the test framework: it is kept in `slot` for `getLastError()` (which fails the run) and
/// recorded through `record` as an `internal` run error, so the run fails closed in every
/// report even when a result was lost.
pub(crate) fn guarded(
    what: &str,
    slot: &Mutex<Option<(String, Option<Kind>)>>,
    f: impl FnOnce() -> anyhow::Result<()>,
    record: impl FnOnce(&str) -> anyhow::Result<()>,
) -> bool {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let (message, kind) = match outcome {
        Ok(Ok(())) => return true,
        Ok(Err(e)) => {
            let e = EngineError::recording(e);
            (format!("testflow: {e}"), e.kind())
        }
        Err(panic) => {
            let what_panicked = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            (
                format!("testflow: internal error in {what}: {what_panicked}"),
                Kind::Internal,
            )
        }
    };
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| record(&message)));
    let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
    slot.get_or_insert((message, Some(kind)));
    false
}

#[napi]
impl Recorder {
    /// Never throws: a recorder that could not start keeps the reason in `getLastError()`.
    #[napi(constructor)]
    pub fn new(options: RecorderOptions) -> Self {
        let start = || -> anyhow::Result<JestRecorder> {
            // The reporter's own reports; the engine resolves the rest (`settings`).
            let given = match options.reports.as_deref() {
                Some(r) => parse_report_list(r).map_err(EngineError::config)?,
                None => vec![],
            };
            let mut config = RecorderConfig::resolve(
                Framework::Jest,
                root_of(&options.root_dir, options.root_given),
                given,
            )?;
            config.shard = testflow::selection::Selection::reporter_shard(
                &config.project_root,
                options.shard.as_deref(),
            )?;
            JestRecorder::start(config)
        };
        match start() {
            Ok(r) => {
                // A Jest it cannot read: recorded as a `build` run error.
                let unsupported = r
                    .check_jest(options.jest_version.as_deref())
                    .map(|m| (m, Some(Kind::Build)));
                Recorder {
                    inner: Some(r),
                    last_error: Mutex::new(unsupported),
                }
            }
            Err(e) => {
                let e = EngineError::recording(e);
                Recorder {
                    inner: None,
                    last_error: Mutex::new(Some((format!("testflow: {e}"), Some(e.kind())))),
                }
            }
        }
    }

    /// Run one engine call. An error or a panic never reaches Jest: it is kept for
    /// `getLastError()` (which fails Jest's run) and recorded as an `internal` run error,
    /// so the run fails closed in every report even when a result was lost.
    fn call(&self, f: impl FnOnce(&JestRecorder) -> anyhow::Result<()>) -> bool {
        let Some(inner) = &self.inner else {
            return false;
        };
        guarded(
            "the Jest reporter",
            &self.last_error,
            || f(inner),
            |m| inner.run_error(testflow::model::error_kind::INTERNAL, m),
        )
    }

    /// The first error since the recorder started, if any.
    #[napi]
    pub fn get_last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(m, _)| m.clone())
    }

    /// The engine's kind of that error (`TESTFLOW_CONFIG`, `TESTFLOW_RUN_RECORD`, …), when
    /// it is one.
    #[napi]
    pub fn get_last_error_code(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|(_, k)| k.map(|k| k.code().to_owned()))
    }

    #[napi]
    pub fn case_started(
        &self,
        file: String,
        ancestor_titles: Vec<String>,
        title: String,
        line: Option<u32>,
        column: Option<u32>,
        started_at: Option<f64>,
    ) -> bool {
        self.call(|r| {
            r.case_started(&JestCase {
                file,
                ancestor_titles,
                title,
                line,
                column,
                started_at,
            })
        })
    }

    #[napi]
    pub fn case_result(&self, result: CaseResult) -> bool {
        self.call(|r| r.case_result(&to_result(result)))
    }

    /// [`Recorder::case_result`] with the result's fields as arguments: the reporter's
    /// per-test call (no object to take apart on this side of the boundary).
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn case_result_args(
        &self,
        file: String,
        ancestor_titles: Vec<String>,
        title: String,
        status: String,
        duration_ms: Option<f64>,
        invocations: Option<u32>,
        line: Option<u32>,
        column: Option<u32>,
        started_at: Option<f64>,
        failure_messages: Option<Vec<String>>,
        failure_details_json: Option<String>,
    ) -> bool {
        let result = CaseResult {
            file,
            ancestor_titles,
            title,
            status,
            duration_ms,
            failure_messages,
            failure_details_json,
            invocations,
            line,
            column,
            started_at,
        };
        self.call(|r| r.case_result(&to_result(result)))
    }

    /// `onTestFileResult`: every final result of the file, and `testExecError` text.
    #[napi]
    pub fn file_result(
        &self,
        file: String,
        results: Vec<CaseResult>,
        exec_error: Option<String>,
    ) -> bool {
        let results: Vec<JestResult> = results.into_iter().map(to_result).collect();
        self.call(|r| r.file_result(&file, &results, exec_error.as_deref()))
    }

    #[napi]
    pub fn run_error(&self, kind: String, message: String) -> bool {
        self.call(|r| r.run_error(&kind, &message))
    }

    /// Path of the event log being written.
    #[napi]
    pub fn events_path(&self) -> Option<String> {
        let r = self.inner.as_ref()?;
        Some(r.recorder().events_path().display().to_string())
    }

    /// End the run and write the reports; with Jest's totals, reconcile with them first
    /// (a disagreement is a `reconcile` run error). `null` on failure (see `getLastError()`).
    #[napi]
    pub fn finish(
        &self,
        completed: bool,
        reason: Option<String>,
        totals: Option<RunTotals>,
    ) -> Option<RunSummary> {
        let mut out = None;
        let totals = totals.map(to_totals);
        self.call(|r| {
            let (run, notes) = r.finish_run(totals.as_ref(), completed, reason.as_deref())?;
            // The configured gates, judged by the engine as `cargo testflow run` judges
            // (an owned run only): a failed one fails Jest through getLastError.
            if let Some(g) = r.gate_report(&run).filter(|g| !g.passed) {
                let mut slot = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
                slot.get_or_insert_with(|| {
                    let m = format!(
                        "testflow: a required quality gate failed:\n{}",
                        testflow::gate::render_human(&g).trim_end()
                    );
                    (m, Some(Kind::GateFailed))
                });
            }
            if !notes.is_empty() {
                // Already run errors in the log; through getLastError Jest fails too.
                let mut slot = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
                slot.get_or_insert_with(|| {
                    let m = format!(
                        "testflow: Jest's results and testflow's record disagree (run error `reconcile`):\n  {}",
                        notes.join("\n  ")
                    );
                    (m, None)
                });
            }
            let s = &run.summary;
            out = Some(RunSummary {
                total: count(s.total),
                passed: count(s.passed),
                failed: count(s.failed),
                error: count(s.error),
                skipped: count(s.skipped),
                timeout: count(s.timeout),
                crashed: count(s.crashed),
                flaky: count(s.flaky),
                duration_ms: s.duration_ms,
                run_dir: r.recorder().run_dir().map(|p| p.display().to_string()),
            });
            Ok(())
        });
        out
    }
}

/// Test files in the order to run them, for the sequencer's `sort()` (`files` absolute;
/// history keyed relative to `rootDir`). The engine resolves the order
/// (`$TESTFLOW_ORDER`, `$TESTFLOW_LAST_FAILED`: `testflow::settings::order`) and applies
/// it (`testflow::selection::sort_files`); without one, failed in the latest recorded run
/// first, then unknown files, then slowest first. Throws on a bad variable.
#[napi]
pub fn sort_files(root_dir: String, files: Vec<String>) -> napi::Result<Vec<String>> {
    use testflow::frameworks::jest::relative_file;
    let root = root_of(&root_dir, None);
    let (order, last_failed) = testflow::settings::order(None, false)
        .map_err(|e| napi::Error::from_reason(format!("testflow: {e:#}")))?;
    let rel: Vec<String> = files.iter().map(|f| relative_file(&root, f)).collect();
    Ok(
        testflow::selection::sort_files(&root, &rel, order, last_failed)
            .into_iter()
            .map(|i| files[i].clone())
            .collect(),
    )
}

pub(crate) fn strategy_from_env() -> anyhow::Result<Option<testflow::shard::Strategy>> {
    match std::env::var(testflow::frameworks::jest::SHARD_STRATEGY_ENV) {
        Ok(v) if !v.trim().is_empty() => Ok(Some(testflow::shard::Strategy::parse(&v)?)),
        _ => Ok(None),
    }
}

#[napi(object)]
pub struct SelectOptions {
    /// Jest's `rootDir`: history is keyed by paths relative to it.
    pub root_dir: String,
    /// Absolute test file paths, as Jest gives them to the sequencer.
    pub files: Vec<String>,
    /// 1-based shard index and the shard count (Jest's `--shard`).
    pub shard_index: Option<u32>,
    pub shard_count: Option<u32>,
    /// timings, hash or count (default: `$TESTFLOW_SHARD_STRATEGY`, else timings when
    /// history has durations, else hash).
    pub strategy: Option<String>,
    /// default, failed-first, slowest-first, fastest-first.
    pub order: Option<String>,
    pub last_failed: Option<bool>,
}

#[napi(object)]
pub struct Selected {
    /// The files to run, in order (a subset of `files`).
    pub files: Vec<String>,
    /// Lines for people (the shard's share and predicted time).
    pub notes: Vec<String>,
}

/// The shard's share of the test files (whole files: the plan sums each file's test
/// durations from history), `--last-failed` and the order: the engine's
/// `testflow::selection` at file grain. Throws on a bad shard, strategy or order (an
/// `Error` with `code` `TESTFLOW_CONFIG`).
#[napi]
pub fn select_files(env: napi::Env, options: SelectOptions) -> napi::Result<Selected> {
    use testflow::frameworks::jest::relative_file;
    let bad = |e: anyhow::Error| throw(&env, EngineError::config(e));
    let root = root_of(&options.root_dir, None);
    let shard = match (options.shard_index, options.shard_count) {
        (Some(k), Some(n)) => {
            Some(testflow::shard::ShardSpec::parse(&format!("{k}/{n}")).map_err(bad)?)
        }
        _ => None,
    };
    let strategy = match options.strategy.as_deref() {
        Some(s) => Some(testflow::shard::Strategy::parse(s).map_err(bad)?),
        None => strategy_from_env().map_err(bad)?,
    };
    let order = options
        .order
        .as_deref()
        .map(testflow::session::Order::parse)
        .transpose()
        .map_err(bad)?
        .unwrap_or_default();
    let selection = testflow::selection::Selection::new(
        &root,
        shard,
        strategy,
        order,
        options.last_failed.unwrap_or(false),
    );
    let rel: Vec<String> = options
        .files
        .iter()
        .map(|f| relative_file(&root, f))
        .collect();
    let applied = selection.apply(&rel, testflow::selection::Grain::File);
    Ok(Selected {
        files: applied
            .keep
            .into_iter()
            .map(|i| options.files[i].clone())
            .collect(),
        notes: applied.notes,
    })
}

/// Throws the engine's error as a JS `Error` whose `code` is its kind's
/// (`testflow::error::Kind::code`); the returned error only says one is pending.
fn throw(env: &napi::Env, e: EngineError) -> napi::Error {
    let message = format!("testflow: {e}");
    match env.throw_error(&message, Some(e.kind().code())) {
        Ok(()) => napi::Error::new(napi::Status::PendingException, message),
        Err(_) => napi::Error::from_reason(message),
    }
}

/// The engine's version.
#[napi]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
