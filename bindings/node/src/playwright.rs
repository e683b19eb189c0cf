//! The Playwright side of the addon (`PlaywrightRecorder`, for `jest-testflow/playwright`):
//! plain JS fields into `testflow::frameworks::playwright` types, and calls. Same rules as
//! the Jest side: no call throws, the first error waits in `getLastError()`.

use std::sync::Mutex;

use napi_derive::napi;
use testflow::error::{Error as EngineError, Kind};
use testflow::frameworks::playwright::PlaywrightError;
use testflow::frameworks::playwright::recorder::{
    PlaywrightAttachment, PlaywrightCase, PlaywrightEnd, PlaywrightRecorder as Engine,
    PlaywrightResult,
};
use testflow::model::{Framework, Location};
use testflow::recorder::{RecorderConfig, parse_report_list};

use crate::{RunSummary, guarded};

#[napi(object)]
pub struct PlaywrightRecorderOptions {
    /// The configuration's directory (ids are relative to the nearest directory at or
    /// above it with a package.json), or the reporter's `rootDir` option with `rootGiven`.
    pub root_dir: String,
    pub root_given: Option<bool>,
    /// Extra reports, `junit=a.xml,json=b.json`.
    pub reports: Option<String>,
    /// Playwright's `--shard` as `K/N`, recorded in the run.
    pub shard: Option<String>,
    /// The running Playwright's version: the engine fails the run closed on one it
    /// cannot read.
    pub playwright_version: Option<String>,
}

#[napi(object)]
pub struct PlaywrightErrorInput {
    pub message: Option<String>,
    pub stack: Option<String>,
    pub value: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
}

#[napi(object)]
pub struct PlaywrightCaseInput {
    pub key: String,
    pub file: String,
    pub project: String,
    pub suite: Vec<String>,
    pub title: String,
    pub line: Option<u32>,
}

#[napi(object)]
pub struct PlaywrightAttachmentInput {
    pub name: String,
    pub content_type: Option<String>,
    pub path: Option<String>,
}

#[napi(object)]
pub struct PlaywrightResultInput {
    pub key: String,
    pub retry: u32,
    pub status: String,
    pub expected_status: String,
    pub duration_ms: Option<f64>,
    pub errors: Vec<PlaywrightErrorInput>,
    pub attachments: Vec<PlaywrightAttachmentInput>,
    pub skip_reason: Option<String>,
}

#[napi(object)]
pub struct PlaywrightShardPlan {
    /// Indices into the cases given, of the tests this shard runs.
    pub keep: Vec<u32>,
    /// Lines for people (the shard's share and predicted time).
    pub notes: Vec<String>,
}

fn error(e: PlaywrightErrorInput) -> PlaywrightError {
    PlaywrightError {
        message: e.message.unwrap_or_default(),
        stack: e.stack,
        value: e.value,
        location: e.file.zip(e.line).map(|(file, line)| Location {
            file,
            line,
            column: e.column,
        }),
    }
}

fn case(c: PlaywrightCaseInput) -> PlaywrightCase {
    PlaywrightCase {
        key: c.key,
        file: c.file,
        project: c.project,
        suite: c.suite,
        title: c.title,
        line: c.line,
    }
}

fn result(r: PlaywrightResultInput) -> PlaywrightResult {
    PlaywrightResult {
        key: r.key,
        retry: r.retry,
        status: r.status,
        expected_status: r.expected_status,
        duration_ms: r.duration_ms.unwrap_or(0.0),
        errors: r.errors.into_iter().map(error).collect(),
        attachments: r
            .attachments
            .into_iter()
            .map(|a| PlaywrightAttachment {
                name: a.name,
                content_type: a.content_type,
                path: a.path,
            })
            .collect(),
        skip_reason: r.skip_reason,
    }
}

#[napi]
pub struct PlaywrightRecorder {
    inner: Option<Engine>,
    last_error: Mutex<Option<(String, Option<Kind>)>>,
}

#[napi]
impl PlaywrightRecorder {
    /// Never throws: a recorder that could not start keeps the reason in `getLastError()`.
    #[napi(constructor)]
    pub fn new(options: PlaywrightRecorderOptions) -> Self {
        let start = || -> anyhow::Result<Engine> {
            let given = match options.reports.as_deref() {
                Some(r) => parse_report_list(r).map_err(EngineError::config)?,
                None => vec![],
            };
            let mut config = RecorderConfig::resolve(
                Framework::Playwright,
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
                    .check_playwright(options.playwright_version.as_deref())
                    .map(|m| (m, Some(Kind::Build)));
                PlaywrightRecorder {
                    inner: Some(r),
                    last_error: Mutex::new(unsupported),
                }
            }
            Err(e) => {
                let e = EngineError::recording(e);
                PlaywrightRecorder {
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
            "the Playwright reporter",
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

    /// `preprocess` with `--shard K/N`: testflow's plan at test grain over `cases` (the
    /// engine's ids, `testflow::selection` as in every door). `null` on an error (a bad
    /// shard or `$TESTFLOW_SHARD_STRATEGY`), which waits in `getLastError()`.
    #[napi]
    pub fn plan_shard(
        &self,
        projects: u32,
        cases: Vec<PlaywrightCaseInput>,
        shard: String,
    ) -> Option<PlaywrightShardPlan> {
        let cases: Vec<PlaywrightCase> = cases.into_iter().map(case).collect();
        let mut out = None;
        self.call(|r| {
            let ids = r.ids_of(projects as usize, &cases);
            let spec = testflow::shard::ShardSpec::parse(&shard).map_err(EngineError::config)?;
            let strategy = crate::strategy_from_env().map_err(EngineError::config)?;
            let selection = testflow::selection::Selection::new(
                r.root(),
                Some(spec),
                strategy,
                testflow::session::Order::default(),
                false,
            );
            let applied = selection.apply(&ids, testflow::selection::Grain::Test);
            let mut keep: Vec<u32> = applied
                .keep
                .into_iter()
                .filter_map(|i| u32::try_from(i).ok())
                .collect();
            keep.sort_unstable();
            out = Some(PlaywrightShardPlan {
                keep,
                notes: applied.notes,
            });
            Ok(())
        });
        out
    }

    #[napi]
    pub fn begin(&self, projects: u32, cases: Vec<PlaywrightCaseInput>) -> bool {
        let cases: Vec<PlaywrightCase> = cases.into_iter().map(case).collect();
        self.call(|r| r.begin(projects as usize, &cases))
    }

    #[napi]
    pub fn test_begin(&self, key: String, retry: u32) -> bool {
        self.call(|r| r.test_begin(&key, retry))
    }

    #[napi]
    pub fn test_end(&self, r: PlaywrightResultInput) -> bool {
        let res = result(r);
        self.call(|rec| rec.test_end(&res))
    }

    #[napi]
    pub fn output(&self, key: Option<String>, retry: u32, stderr: bool, chunk: String) -> bool {
        self.call(|r| {
            r.output(key.as_deref(), retry, stderr, &chunk);
            Ok(())
        })
    }

    #[napi]
    pub fn error(&self, e: PlaywrightErrorInput) -> bool {
        let e = error(e);
        self.call(|r| r.error(&e))
    }

    #[napi]
    pub fn run_error(&self, kind: String, message: String) -> bool {
        self.call(|r| r.run_error(&kind, &message))
    }

    /// `onEnd` (`status` and `[test.id, test.outcome()]` pairs), or `null` status when the
    /// process is exiting without it: reconcile, end the run, write the reports.
    #[napi]
    pub fn finish(
        &self,
        status: Option<String>,
        outcomes: Option<Vec<Vec<String>>>,
    ) -> Option<RunSummary> {
        let end = status.map(|status| PlaywrightEnd {
            status,
            outcomes: outcomes
                .unwrap_or_default()
                .into_iter()
                .map(|mut p| {
                    let o = if p.len() > 1 {
                        p.swap_remove(1)
                    } else {
                        String::new()
                    };
                    (p.into_iter().next().unwrap_or_default(), o)
                })
                .collect(),
        });
        let mut out = None;
        self.call(|r| {
            let (run, notes) = r.finish_run(end.as_ref())?;
            crate::note_end(&self.last_error, "Playwright", r.gate_report(&run), &notes);
            out = Some(crate::run_summary(&run, r.recorder().run_dir()));
            Ok(())
        });
        out
    }
}
