//! The engine side of the pytest and Jest bridges: a long-lived recorder that the
//! plugins feed structured results into, one call per test event.
//!
//! Standalone (`pytest --testflow`), it owns a run: it creates
//! `.testflow/runs/<id>/events.jsonl` under the project root, and at `finish` writes
//! "run finished", folds the log into `run.json` and writes the requested reports.
//! Driven by `cargo testflow run` (`TESTFLOW_EVENTS` names the driver's log), it only
//! appends test events to that log; the driver owns the run. Either way every event is
//! on disk as soon as the call returns, so a crash of the test process loses nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::Utc;

use crate::events::{Event, EventLog, fold_file};
use crate::history::History;
use crate::model::{Failure, Framework, Outcome, Run, ShardInfo, TestMeta};
use crate::report::{self, ReportSpec};
use crate::store::{Recording, Store};

/// Environment variable naming the event log a driver (`cargo testflow run`) wants
/// plugins to append to.
pub const EVENTS_ENV: &str = "TESTFLOW_EVENTS";
/// Environment variable with reports to write: `junit=a.xml,json=b.json`.
pub const REPORT_ENV: &str = "TESTFLOW_REPORT";

pub struct RecorderConfig {
    pub framework: Framework,
    /// Where `.testflow/` goes when the recorder owns the run.
    pub project_root: PathBuf,
    /// Append to this log instead of owning a run (from `TESTFLOW_EVENTS`).
    pub events: Option<PathBuf>,
    pub reports: Vec<ReportSpec>,
    /// The shard this run is, recorded in the run when the recorder owns it.
    pub shard: Option<ShardInfo>,
}

impl RecorderConfig {
    /// `events` and reports from the environment (`TESTFLOW_EVENTS`, `TESTFLOW_REPORT`).
    pub fn from_env(framework: Framework, project_root: PathBuf) -> Result<RecorderConfig> {
        let events = std::env::var_os(EVENTS_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let reports = match std::env::var(REPORT_ENV) {
            Ok(v) if !v.trim().is_empty() => {
                parse_report_list(&v).with_context(|| format!("in ${REPORT_ENV}"))?
            }
            _ => vec![],
        };
        Ok(RecorderConfig {
            framework,
            project_root,
            events,
            reports,
            shard: None,
        })
    }
}

/// `junit=a.xml,json=b.json` (commas separate entries).
pub fn parse_report_list(s: &str) -> Result<Vec<ReportSpec>> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(ReportSpec::parse)
        .collect()
}

/// The configuration's quarantine entries for a run owned by a recorder (a driver
/// writes its own into the log it hands over).
fn quarantine_of(root: &Path) -> Result<Vec<crate::model::QuarantineEntry>> {
    let loaded = crate::config::load(root)?;
    let Some(src) = &loaded.source else {
        return Ok(vec![]);
    };
    loaded.config.validate(src)?;
    Ok(crate::quarantine::from_config(
        &loaded.config.quarantine,
        Some(src),
    ))
}

pub struct Recorder {
    framework: Framework,
    log: Arc<EventLog>,
    /// Present when this recorder owns the run.
    recording: Option<Recording>,
    reports: Vec<ReportSpec>,
    run_dir: Option<PathBuf>,
}

impl Recorder {
    pub fn start(config: RecorderConfig) -> Result<Recorder> {
        match config.events {
            Some(path) => {
                if !path.exists() {
                    bail!(
                        "${EVENTS_ENV} names {}, which does not exist: the driver must create the run first",
                        path.display()
                    );
                }
                let log = Arc::new(EventLog::create(&path)?);
                let run_dir = path.parent().map(Path::to_owned);
                Ok(Recorder {
                    framework: config.framework,
                    log,
                    recording: None,
                    reports: config.reports,
                    run_dir,
                })
            }
            None => {
                let store = Store::for_project(&config.project_root);
                // The quarantine is the engine's rule in every door: read it before the
                // run starts, so a bad entry fails here, named, before any test runs.
                let entries = quarantine_of(&config.project_root)?;
                let rec = store.start_run(
                    &config.project_root,
                    vec![config.framework],
                    Utc::now(),
                    config.shard,
                )?;
                if !entries.is_empty() {
                    rec.log.append(&Event::Quarantine {
                        time: Utc::now(),
                        entries,
                    })?;
                }
                Ok(Recorder {
                    framework: config.framework,
                    log: Arc::clone(&rec.log),
                    run_dir: Some(rec.dir.clone()),
                    recording: Some(rec),
                    reports: config.reports,
                })
            }
        }
    }

    pub fn framework(&self) -> Framework {
        self.framework
    }

    /// The run directory (`…/runs/<id>`), or the directory of the driver's log.
    pub fn run_dir(&self) -> Option<&Path> {
        self.run_dir.as_deref()
    }

    pub fn events_path(&self) -> &Path {
        self.log.path()
    }

    pub fn test_started(&self, test: TestMeta, attempt: u32) -> Result<()> {
        self.log.append(&Event::TestStarted {
            time: Utc::now(),
            test,
            attempt: attempt.max(1),
        })
    }

    pub fn test_finished(
        &self,
        test: TestMeta,
        attempt: u32,
        outcome: Outcome,
        duration_ms: f64,
        failure: Option<Failure>,
    ) -> Result<()> {
        self.test_finished_with_reason(test, attempt, outcome, duration_ms, failure, None)
    }

    /// [`Recorder::test_finished`] with the skip / xfail reason (`TestCase::reason`).
    pub fn test_finished_with_reason(
        &self,
        test: TestMeta,
        attempt: u32,
        outcome: Outcome,
        duration_ms: f64,
        failure: Option<Failure>,
        reason: Option<String>,
    ) -> Result<()> {
        let duration_ms = if duration_ms.is_finite() && duration_ms >= 0.0 {
            duration_ms
        } else {
            0.0
        };
        self.log.append(&Event::TestFinished {
            time: Utc::now(),
            test,
            attempt: attempt.max(1),
            outcome,
            duration_ms,
            failure,
            reason,
            concurrent: None,
        })
    }

    pub fn run_error(&self, kind: &str, message: &str) -> Result<()> {
        self.log.append(&Event::RunError {
            time: Utc::now(),
            kind: kind.into(),
            message: message.into(),
        })
    }

    /// End the run: when owning it, write "run finished" and `run.json`; fold the log and
    /// write the reports. Returns the folded run (its `summary` is what the plugin prints).
    pub fn finish(&self, completed: bool, reason: Option<&str>) -> Result<Run> {
        let run = match &self.recording {
            Some(rec) => {
                let run = rec.finish(completed, reason)?.0;
                // An owned run goes into history like a `cargo testflow run` (timings for
                // the next shard plan, --last-failed); driven runs are the driver's to record.
                // History is derived data: a failure here loses nothing.
                if let Some(root) = rec.dir.parent().and_then(Path::parent)
                    && let Ok(mut h) = History::open(root)
                {
                    let _ = h.record(
                        &run,
                        self.framework.as_str(),
                        crate::history::DEFAULT_KEEP_RUNS,
                    );
                }
                run
            }
            None => fold_file(self.log.path())?.run,
        };
        for spec in &self.reports {
            report::write(&run, spec)?;
        }
        Ok(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str) -> TestMeta {
        TestMeta {
            id: id.into(),
            framework: Framework::Pytest,
            name: id.into(),
            suite: vec![],
            file: Some("tests/test_a.py".into()),
            line: Some(3),
            binary: None,
        }
    }

    #[test]
    fn standalone_recorder_owns_a_run_and_writes_reports() {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("out/junit.xml");
        let rec = Recorder::start(RecorderConfig {
            framework: Framework::Pytest,
            project_root: dir.path().to_owned(),
            events: None,
            shard: None,
            reports: parse_report_list(&format!("junit={}", report.display())).unwrap(),
        })
        .unwrap();
        rec.test_started(meta("tests/test_a.py::test_x"), 1)
            .unwrap();
        rec.test_finished(
            meta("tests/test_a.py::test_x"),
            1,
            Outcome::Passed,
            1.5,
            None,
        )
        .unwrap();
        rec.test_started(meta("tests/test_a.py::test_crash"), 1)
            .unwrap();
        let run = rec.finish(true, None).unwrap();
        assert!(run.completed);
        assert_eq!(run.summary.passed, 1);
        assert_eq!(run.summary.crashed, 1, "started and never finished");
        assert!(rec.run_dir().unwrap().join("run.json").is_file());
        assert!(std::fs::read_to_string(report).unwrap().contains("test_x"));
    }

    #[test]
    fn driven_recorder_appends_to_the_drivers_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join(".testflow"));
        let driver = store
            .start_run(dir.path(), vec![Framework::Pytest], Utc::now(), None)
            .unwrap();
        let rec = Recorder::start(RecorderConfig {
            framework: Framework::Pytest,
            project_root: dir.path().to_owned(),
            events: Some(driver.log.path().to_owned()),
            reports: vec![],
            shard: None,
        })
        .unwrap();
        rec.test_finished(
            meta("t"),
            1,
            Outcome::Failed,
            f64::NAN,
            Some(Failure::default()),
        )
        .unwrap();
        let (run, _) = driver.finish(true, None).unwrap();
        assert_eq!(run.summary.failed, 1);
        assert_eq!(run.tests[0].duration_ms, 0.0);
    }

    #[test]
    fn a_standalone_recorder_applies_the_configured_quarantine() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("pyproject.toml"),
            "[tool.testflow]\n[[tool.testflow.quarantine]]\npattern = \"tests/test_a.py::*\"\nreason = \"ports\"\n",
        )
        .unwrap();
        let rec = Recorder::start(RecorderConfig {
            framework: Framework::Pytest,
            project_root: dir.path().to_owned(),
            events: None,
            shard: None,
            reports: vec![],
        })
        .unwrap();
        rec.test_finished(
            meta("tests/test_a.py::test_x"),
            1,
            Outcome::Failed,
            1.0,
            Some(Failure::default()),
        )
        .unwrap();
        let run = rec.finish(true, None).unwrap();
        let q = run.quarantine.as_ref().unwrap();
        assert_eq!(q.tests[0].id, "tests/test_a.py::test_x");
        assert_eq!(q.tests[0].reason, "ports");
        assert_eq!(run.summary.failed, 1, "still failed");
        assert_eq!(
            crate::session::exit_code_for(&run, None),
            crate::exit_code::OK
        );
    }

    #[test]
    fn a_missing_driver_log_is_a_clear_error() {
        let err = Recorder::start(RecorderConfig {
            framework: Framework::Jest,
            project_root: ".".into(),
            events: Some("/nonexistent/events.jsonl".into()),
            reports: vec![],
            shard: None,
        })
        .err()
        .unwrap();
        assert!(
            err.to_string()
                .contains("TESTFLOW_EVENTS names /nonexistent/events.jsonl"),
            "{err}"
        );
    }
}
