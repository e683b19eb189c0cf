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
pub use crate::events::EVENTS_ENV;
/// Environment variable with reports to write: `junit=a.xml,json=b.json`.
pub use crate::names::REPORT_ENV;

pub use crate::settings::parse_report_list;

pub struct RecorderConfig {
    pub framework: Framework,
    /// Where `.testflow/` goes when the recorder owns the run.
    pub project_root: PathBuf,
    /// Append to this log instead of owning a run (from `TESTFLOW_EVENTS`).
    pub events: Option<PathBuf>,
    pub reports: Vec<ReportSpec>,
    /// The shard this run is, recorded in the run when the recorder owns it.
    pub shard: Option<ShardInfo>,
    /// Runs `history.db` keeps when the recorder owns the run (`[history] keep_runs`).
    pub keep_runs: usize,
    /// The configuration's quarantine entries, written into an owned run's log (a driver
    /// writes its own into the log it hands over).
    pub quarantine: Vec<crate::model::QuarantineEntry>,
    /// The gates an owned run is judged by at its end, when the settings apply them
    /// (`run.gate`, any `[gates]`); a driven run is the driver's to judge.
    pub gates: Option<Vec<crate::gate::Gate>>,
}

impl RecorderConfig {
    /// [`RecorderConfig::resolve`] with no reports of the plugin's own.
    pub fn from_env(framework: Framework, project_root: PathBuf) -> Result<RecorderConfig> {
        RecorderConfig::resolve(framework, project_root, vec![])
    }

    /// The settings of a plugin's run, resolved by the engine (`settings`): `events` from
    /// `TESTFLOW_EVENTS`; `reports` are the plugin's own (`--testflow-report`, the
    /// reporter's `reports` option), added to `TESTFLOW_REPORT`'s; both replace the
    /// file's `run.reports`. An owned run also takes `keep_runs` and the quarantine from
    /// the file. A driven run (`TESTFLOW_EVENTS`) reads no file: the driver resolved it
    /// and writes its own reports and history.
    pub fn resolve(
        framework: Framework,
        project_root: PathBuf,
        plugin_reports: Vec<ReportSpec>,
    ) -> Result<RecorderConfig> {
        let events = std::env::var_os(EVENTS_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let env_reports = match crate::settings::process_env(REPORT_ENV) {
            Some(v) => parse_report_list(&v)
                .with_context(|| format!("in ${REPORT_ENV}"))
                .map_err(crate::settings::invalid)?,
            None => vec![],
        };
        let given = if plugin_reports.is_empty() {
            vec![]
        } else {
            env_reports.iter().cloned().chain(plugin_reports).collect()
        };
        let mut config = RecorderConfig {
            framework,
            project_root,
            events,
            reports: vec![],
            shard: None,
            keep_runs: crate::history::DEFAULT_KEEP_RUNS,
            quarantine: vec![],
            gates: None,
        };
        if config.events.is_some() {
            config.reports = if given.is_empty() { env_reports } else { given };
            return Ok(config);
        }
        let flags = crate::settings::Flags {
            reports: given,
            ..Default::default()
        };
        let settings = crate::settings::resolve(&config.project_root, &flags)?;
        config.reports = settings.reports;
        config.keep_runs = settings.keep_runs;
        config.quarantine = settings.quarantine;
        config.gates = settings.apply_gates.then_some(settings.gates);
        Ok(config)
    }
}

pub struct Recorder {
    framework: Framework,
    log: Arc<EventLog>,
    /// Present when this recorder owns the run.
    recording: Option<Recording>,
    reports: Vec<ReportSpec>,
    run_dir: Option<PathBuf>,
    keep_runs: usize,
    gates: Option<Vec<crate::gate::Gate>>,
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
                    keep_runs: config.keep_runs,
                    gates: None,
                })
            }
            None => {
                let store = Store::for_project(&config.project_root);
                // The quarantine is the engine's rule in every door, resolved with the
                // other settings before the run starts (a bad entry fails there, named).
                let entries = config.quarantine;
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
                    keep_runs: config.keep_runs,
                    gates: config.gates,
                })
            }
        }
    }

    /// The finished run judged by the configured gates (as `cargo testflow run` judges
    /// its runs); `None` when no gate applies to this door's run. The plugin fails the
    /// framework's session on a failed report.
    pub fn gate_report(&self, run: &Run) -> Option<crate::gate::GateReport> {
        self.gates.as_ref().map(|g| crate::gate::evaluate(run, g))
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
        self.test_finished_with_attachments(
            test,
            attempt,
            outcome,
            duration_ms,
            failure,
            reason,
            vec![],
        )
    }

    /// [`Recorder::test_finished_with_reason`] with the files the attempt left behind
    /// (`Attempt::attachments`: Playwright's traces and screenshots).
    #[allow(clippy::too_many_arguments)]
    pub fn test_finished_with_attachments(
        &self,
        test: TestMeta,
        attempt: u32,
        outcome: Outcome,
        duration_ms: f64,
        failure: Option<Failure>,
        reason: Option<String>,
        attachments: Vec<crate::model::Attachment>,
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
            attachments,
        })
    }

    /// A runner version testflow cannot read (`refused`, from the plug-in's version
    /// check), recorded as a `build` run error so the run fails closed instead of passing
    /// empty. Returns the message for the reporter to print.
    pub fn runner_version_refused(&self, refused: anyhow::Error) -> String {
        let message = format!("testflow: {refused:#}");
        match self.run_error(crate::model::error_kind::BUILD, &message) {
            Ok(()) => message,
            Err(e) => format!("{message} (and it could not be recorded: {e:#})"),
        }
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
                let run = Arc::new(rec.fold_finished(completed, reason)?.run);
                // An owned run goes into history like a `cargo testflow run` (timings for
                // the next shard plan, --last-failed); driven runs are the driver's to record.
                // History is derived data: a failure here loses nothing. It is written on
                // its thread while run.json is; the reports wait for it (the HTML report's
                // trend includes this run).
                let history = rec
                    .dir
                    .parent()
                    .and_then(Path::parent)
                    .and_then(|root| History::open(root).ok())
                    .map(|h| {
                        h.record_in_background(
                            Arc::clone(&run),
                            self.framework.as_str(),
                            self.keep_runs,
                        )
                    });
                let written = rec.write_run(&run);
                if let Some(mut h) = history {
                    let _ = h.wait();
                }
                written?;
                Arc::unwrap_or_clone(run)
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

    /// An owned run's config as `RecorderConfig::resolve` makes it, with no environment.
    fn owned(root: &Path) -> RecorderConfig {
        let (config, source) = crate::settings::load_file(root).unwrap();
        let s = crate::settings::resolve_with(
            config,
            source,
            &|_| None,
            &crate::settings::Flags::default(),
        )
        .unwrap();
        RecorderConfig {
            framework: Framework::Pytest,
            project_root: root.to_owned(),
            events: None,
            reports: s.reports,
            shard: None,
            keep_runs: s.keep_runs,
            quarantine: s.quarantine,
            gates: s.apply_gates.then_some(s.gates),
        }
    }

    #[test]
    fn an_owned_run_takes_reports_and_keep_runs_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("testflow.toml"),
            "[run]\nreports = [\"json=out/run.json\"]\n[history]\nkeep_runs = 2\n",
        )
        .unwrap();
        let cwd = dir.path().join("out/run.json");
        for i in 0..3 {
            let mut config = owned(dir.path());
            // Relative report paths are relative to where testflow runs; pin it here.
            config.reports[0].path = cwd.clone();
            let rec = Recorder::start(config).unwrap();
            rec.test_finished(meta(&format!("t{i}")), 1, Outcome::Passed, 1.0, None)
                .unwrap();
            rec.finish(true, None).unwrap();
        }
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&cwd).unwrap()).unwrap();
        assert_eq!(
            written["tests"][0]["id"], "t2",
            "the file's report, of the last run"
        );
        let h = History::open(&dir.path().join(".testflow")).unwrap();
        assert_eq!(h.run_count().unwrap(), 2, "keep_runs = 2 pruned the oldest");
    }

    #[test]
    fn an_owned_run_is_judged_by_the_files_gates_and_a_driven_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let rec = Recorder::start(owned(dir.path())).unwrap();
        rec.test_finished(meta("t"), 1, Outcome::Passed, 1.0, None)
            .unwrap();
        let run = rec.finish(true, None).unwrap();
        assert!(
            rec.gate_report(&run).is_none(),
            "no [gates]: no gate applies"
        );

        std::fs::write(dir.path().join("testflow.toml"), "[gates]\nmin_tests = 2\n").unwrap();
        let rec = Recorder::start(owned(dir.path())).unwrap();
        rec.test_finished(meta("t"), 1, Outcome::Passed, 1.0, None)
            .unwrap();
        let run = rec.finish(true, None).unwrap();
        let report = rec.gate_report(&run).expect("the file's gates apply");
        assert!(!report.passed, "1 test < min_tests 2: {report:?}");

        let driven = Recorder::start(RecorderConfig {
            events: Some(run_dir_log(&rec)),
            ..owned(dir.path())
        })
        .unwrap();
        assert!(
            driven.gate_report(&run).is_none(),
            "a driven run is the driver's to judge"
        );
    }

    fn run_dir_log(rec: &Recorder) -> PathBuf {
        rec.events_path().to_owned()
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
            keep_runs: crate::history::DEFAULT_KEEP_RUNS,
            quarantine: vec![],
            gates: None,
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
            keep_runs: crate::history::DEFAULT_KEEP_RUNS,
            quarantine: vec![],
            gates: None,
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
        let rec = Recorder::start(owned(dir.path())).unwrap();
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
            crate::verdict::exit_code_for(&run, None),
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
            keep_runs: crate::history::DEFAULT_KEEP_RUNS,
            quarantine: vec![],
            gates: None,
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
