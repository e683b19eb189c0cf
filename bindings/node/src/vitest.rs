//! The Vitest side of the addon (`VitestRecorder`, for `jest-testflow/vitest`): plain JS
//! fields into `testflow::frameworks::vitest` types, and calls. Same rules as the Jest
//! side: no call throws, the first error waits in `getLastError()`.

use std::sync::Mutex;

use napi_derive::napi;
use testflow::error::{Error as EngineError, Kind};
use testflow::frameworks::vitest::VitestError;
use testflow::frameworks::vitest::recorder::{
    VitestCase, VitestModule, VitestRecorder as Engine, VitestResult, VitestRunEnd,
};
use testflow::model::Framework;
use testflow::recorder::{RecorderConfig, parse_report_list};

use crate::{RunSummary, count, guarded};

#[napi(object)]
pub struct VitestRecorderOptions {
    /// Vitest's `root` (ids are relative to the nearest directory at or above it with a
    /// package.json), or the reporter's `rootDir` option with `rootGiven`.
    pub root_dir: String,
    pub root_given: Option<bool>,
    /// Extra reports, `junit=a.xml,json=b.json`.
    pub reports: Option<String>,
    /// Vitest's `--shard` as `K/N`, recorded in the run.
    pub shard: Option<String>,
    /// The running Vitest's version: the engine fails the run closed on one it cannot read.
    pub vitest_version: Option<String>,
}

/// A `TestError` / `SerializedError`, flattened.
#[napi(object)]
pub struct VitestErrorInput {
    pub name: Option<String>,
    pub message: Option<String>,
    pub stack: Option<String>,
    pub expected: Option<String>,
    pub actual: Option<String>,
    /// Unhandled errors: `type`, `VITEST_TEST_NAME`, `VITEST_TEST_PATH`.
    pub kind: Option<String>,
    pub test_name: Option<String>,
    pub test_path: Option<String>,
}

#[napi(object)]
pub struct VitestCaseInput {
    pub task_id: String,
    pub file: String,
    pub suite: Vec<String>,
    pub name: String,
    pub line: Option<u32>,
}

#[napi(object)]
pub struct VitestResultInput {
    pub case: VitestCaseInput,
    pub state: String,
    pub mode: String,
    pub duration_ms: Option<f64>,
    pub retry_count: Option<u32>,
    pub errors: Vec<VitestErrorInput>,
    pub note: Option<String>,
}

#[napi(object)]
pub struct VitestModuleInput {
    pub file: String,
    pub state: String,
    pub errors: Vec<VitestErrorInput>,
    pub tests: Vec<VitestResultInput>,
}

fn error(e: VitestErrorInput) -> VitestError {
    VitestError {
        name: e.name,
        message: e.message.unwrap_or_default(),
        stack: e.stack,
        expected: e.expected,
        actual: e.actual,
        kind: e.kind,
        test_name: e.test_name,
        test_path: e.test_path,
    }
}

fn case(c: VitestCaseInput) -> VitestCase {
    VitestCase {
        task_id: c.task_id,
        file: c.file,
        suite: c.suite,
        name: c.name,
        line: c.line,
    }
}

fn result(r: VitestResultInput) -> VitestResult {
    VitestResult {
        case: case(r.case),
        state: r.state,
        mode: r.mode,
        duration_ms: r.duration_ms.unwrap_or(0.0),
        retry_count: r.retry_count.unwrap_or(0),
        errors: r.errors.into_iter().map(error).collect(),
        note: r.note,
    }
}

fn module(m: VitestModuleInput) -> VitestModule {
    VitestModule {
        file: m.file,
        state: m.state,
        errors: m.errors.into_iter().map(error).collect(),
        tests: m.tests.into_iter().map(result).collect(),
    }
}

#[napi]
pub struct VitestRecorder {
    inner: Option<Engine>,
    last_error: Mutex<Option<(String, Option<Kind>)>>,
}

#[napi]
impl VitestRecorder {
    /// Never throws: a recorder that could not start keeps the reason in `getLastError()`.
    #[napi(constructor)]
    pub fn new(options: VitestRecorderOptions) -> Self {
        let start = || -> anyhow::Result<Engine> {
            let given = match options.reports.as_deref() {
                Some(r) => parse_report_list(r).map_err(EngineError::config)?,
                None => vec![],
            };
            let mut config = RecorderConfig::resolve(
                Framework::Vitest,
                crate::root_of(&options.root_dir, options.root_given),
                given,
            )?;
            config.shard = testflow::selection::Selection::reporter_shard(
                &config.project_root,
                options.shard.as_deref(),
            )?;
            Engine::start(config)
        };
        match start() {
            Ok(r) => {
                let unsupported = r
                    .check_vitest(options.vitest_version.as_deref())
                    .map(|m| (m, Some(Kind::Build)));
                VitestRecorder {
                    inner: Some(r),
                    last_error: Mutex::new(unsupported),
                }
            }
            Err(e) => {
                let e = EngineError::recording(e);
                VitestRecorder {
                    inner: None,
                    last_error: Mutex::new(Some((format!("testflow: {e}"), Some(e.kind())))),
                }
            }
        }
    }

    fn call(&self, f: impl FnOnce(&Engine) -> anyhow::Result<()>) -> bool {
        let Some(inner) = &self.inner else {
            return false;
        };
        guarded(
            "the Vitest reporter",
            &self.last_error,
            || f(inner),
            |m| inner.run_error(testflow::model::error_kind::INTERNAL, m),
        )
    }

    #[napi]
    pub fn get_last_error(&self) -> Option<String> {
        let slot = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        slot.as_ref().map(|(m, _)| m.clone())
    }

    #[napi]
    pub fn get_last_error_code(&self) -> Option<String> {
        let slot = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        slot.as_ref()
            .and_then(|(_, k)| k.map(|k| k.code().to_owned()))
    }

    /// `onTestModuleCollected`: the module's tests in file order.
    #[napi]
    pub fn module_collected(&self, cases: Vec<VitestCaseInput>) -> bool {
        let cases: Vec<VitestCase> = cases.into_iter().map(case).collect();
        self.call(|r| r.module_collected(&cases))
    }

    #[napi]
    pub fn case_ready(&self, c: VitestCaseInput) -> bool {
        let c = case(c);
        self.call(|r| r.case_ready(&c))
    }

    #[napi]
    pub fn case_result(&self, r: VitestResultInput) -> bool {
        let res = result(r);
        self.call(|rec| rec.case_result(&res))
    }

    #[napi]
    pub fn console_log(&self, task_id: Option<String>, stderr: bool, content: String) -> bool {
        self.call(|r| {
            r.console_log(task_id.as_deref(), stderr, &content);
            Ok(())
        })
    }

    #[napi]
    pub fn module_end(&self, m: VitestModuleInput) -> bool {
        let m = module(m);
        self.call(|r| r.module_end(&m))
    }

    #[napi]
    pub fn run_error(&self, kind: String, message: String) -> bool {
        self.call(|r| r.run_error(&kind, &message))
    }

    /// `onTestRunEnd` (`modules`, `unhandled`, `reason`), or `null` when the process is
    /// exiting without it: reconcile, end the run, write the reports.
    #[napi]
    pub fn finish(
        &self,
        modules: Option<Vec<VitestModuleInput>>,
        unhandled: Option<Vec<VitestErrorInput>>,
        reason: Option<String>,
    ) -> Option<RunSummary> {
        let end = modules.map(|m| VitestRunEnd {
            modules: m.into_iter().map(module).collect(),
            unhandled: unhandled
                .unwrap_or_default()
                .into_iter()
                .map(error)
                .collect(),
            reason: reason.unwrap_or_default(),
        });
        let mut out = None;
        self.call(|r| {
            let (run, notes) = r.finish_run(end.as_ref())?;
            // The configured gates, judged by the engine (an owned run only): a failed
            // one fails Vitest's run, as under the Jest reporter.
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
                let mut slot = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
                slot.get_or_insert_with(|| {
                    let m = format!(
                        "testflow: Vitest's results and testflow's record disagree (run error `reconcile`):\n  {}",
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
