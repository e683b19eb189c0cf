//! One `cargo testflow run`, start to end: find the workspace, open the run's event log,
//! build, list, schedule, and fold the log into the final `Run`.

use std::io::Write;
use std::sync::Arc;

use anyhow::Result;

use crate::coverage::collect;
use crate::exit_code;
use crate::frameworks::{self, cargo::CargoOptions};
use crate::history::History;
use crate::model::{Framework, Run};
use crate::runner::{self, Ctx, Listener, RunOptions, Stopped, Unit};
use crate::shard::{self, ShardSpec, Strategy};
use crate::store::Store;
pub use crate::verdict::exit_code_for;

pub struct RunRequest {
    /// Where to look for suites (the current directory by default).
    pub project_dir: std::path::PathBuf,
    /// Only these frameworks (all found when `None`).
    pub frameworks: Option<Vec<Framework>>,
    pub cargo: CargoOptions,
    pub options: RunOptions,
    /// Run only this shard of the suite.
    pub shard: Option<ShardSpec>,
    /// How to split (default: timings when history has durations, else hash).
    pub shard_strategy: Option<Strategy>,
    pub order: Order,
    /// Only the tests that failed in the previous run (all when none did).
    pub last_failed: bool,
    /// Runs the history keeps.
    pub keep_runs: usize,
    /// Collect coverage with each framework's own tool (`run --coverage`).
    pub coverage: bool,
    /// Coverage reports to read after the run and keep with it (`--coverage-file`).
    pub coverage_files: Vec<std::path::PathBuf>,
    /// Quarantine entries from the configuration.
    pub quarantine: Vec<crate::model::QuarantineEntry>,
    /// `--quarantine-flaky`: also quarantine the tests history calls flaky across runs
    /// with a rate above this.
    pub quarantine_flaky: Option<f64>,
    /// `--affected`: run only the tests the changes affect (see `affected`).
    pub affected: Option<crate::affected::Request>,
}

/// Test order (moved to `ordering`; kept here for the bindings and older callers).
pub use crate::ordering::Order;

/// No suite of any framework was found.
#[derive(Debug)]
pub struct NothingToRun(pub std::path::PathBuf);

impl std::fmt::Display for NothingToRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no test suites found in {} (looked for {})",
            self.0.display(),
            frameworks::looked_for()
        )
    }
}
impl std::error::Error for NothingToRun {}

/// Whether `dir`'s tests include the cargo workspace (see `frameworks::cargo::suite`).
#[cfg(feature = "cargo")]
pub use crate::frameworks::cargo::suite::uses_cargo;

pub struct RunResult {
    /// Shared with the history write while it goes on.
    pub run: Arc<Run>,
    pub run_dir: std::path::PathBuf,
    pub exit_code: i32,
    pub stopped: Option<Stopped>,
    /// Problems reading the event log back or opening history (reported, not fatal).
    pub log_warnings: Vec<String>,
    /// Things worth a line for people (an empty shard).
    pub notes: Vec<String>,
    /// The run's history write, still going: wait for it before reading history (its
    /// failure is a warning); dropping the result waits too.
    pub history: crate::history::Pending,
}

fn interrupted() -> bool {
    crate::interrupt::received().is_some()
}

/// Run every suite found in the project (each framework's that `frameworks::detect_suites`
/// finds). `build_echo` receives build output (cargo's) as it comes.
pub fn run(
    req: RunRequest,
    listener: Box<dyn Listener>,
    build_echo: &mut (dyn Write + Send),
) -> Result<RunResult> {
    let started = chrono::Utc::now();
    // A --since that names no commit is a usage error, found before anything is built.
    if let Some(since) = req.affected.as_ref().and_then(|a| a.since.as_deref())
        && crate::affected::changes::toplevel(&req.project_dir).is_some()
        && crate::affected::changes::commit_of(&req.project_dir, since).is_none()
    {
        return Err(crate::settings::invalid(
            crate::affected::BadBase(since.to_owned()).into(),
        ));
    }
    let wants = |f: Framework| req.frameworks.as_ref().is_none_or(|l| l.contains(&f));
    let forced = req.frameworks.as_deref().unwrap_or_default();
    let mut suites = frameworks::detect_suites(&req.project_dir, &wants, forced, &req.cargo)?;
    if suites.is_empty() {
        return Err(NothingToRun(req.project_dir.clone()).into());
    }
    // git is asked on a thread of its own while the suites are built and run: the run
    // starts without its answer (three git processes, ~10 ms on a small checkout, more
    // when many files changed) and records it in a `git` event before the run finishes.
    let pending_git = crate::environment::PendingGit::start(&req.project_dir);
    let mut p = frameworks::Prepare {
        coverage: req.coverage,
        echo: build_echo,
    };
    let prepared: Result<Vec<frameworks::Prepared>> = suites
        .iter_mut()
        .map(|suite| suite.prepare(&mut p))
        .collect();
    let mut prepared = prepared?;
    let framework_list: Vec<Framework> = {
        let mut l: Vec<Framework> = Vec::new();
        for s in &suites {
            if !l.contains(&s.framework()) {
                l.push(s.framework());
            }
        }
        l
    };
    let root = prepared
        .iter()
        .find_map(|p| p.root.clone())
        .unwrap_or_else(|| req.project_dir.clone());
    let mut coverage_notes: Vec<_> = prepared
        .iter_mut()
        .flat_map(|p| std::mem::take(&mut p.coverage_notes))
        .collect();
    let coverage_env: Vec<(String, String)> = prepared
        .iter()
        .flat_map(|p| p.coverage_env.iter().cloned())
        .collect();
    let coverage_reports: Vec<(Framework, frameworks::CoverageReport)> = suites
        .iter()
        .zip(prepared.iter_mut())
        .filter_map(|(s, p)| p.coverage_report.take().map(|r| (s.framework(), r)))
        .collect();
    let uses_durations = prepared.iter().any(|p| p.uses_durations);
    let isolation = prepared.iter().find_map(|p| p.isolation.clone());
    let opened = prepared.iter_mut().find_map(|p| p.history.take());
    let store = Store::for_project(&root);
    let mut log_warnings = Vec::new();
    // History is derived data: without it, run in the default order and hash shards.
    let history = match opened.unwrap_or_else(|| History::open(store.root())) {
        Ok(h) => Some(h),
        Err(e) => {
            log_warnings.push(format!("history unavailable: {e:#}"));
            None
        }
    };
    // Only testflow's own scheduler orders by duration; pytest and Jest order themselves.
    // Only testflow's scheduler reads them, and only to order by duration: reading a
    // window of results costs tens of ms on a large history, so the default order skips it.
    let by_duration = matches!(req.order, Order::SlowestFirst | Order::FastestFirst);
    let durations = history
        .as_ref()
        .filter(|_| uses_durations && by_duration)
        .and_then(|h| h.durations(20).ok())
        .unwrap_or_default();
    let shard_durations = match req.shard {
        Some(_) => history
            .as_ref()
            .and_then(|h| h.durations_for_sharding(20).ok())
            .unwrap_or_default(),
        None => Default::default(),
    };
    let strategy = req
        .shard_strategy
        .unwrap_or_else(|| shard::default_strategy(&shard_durations));
    let shard_info = req.shard.map(|s| s.info(strategy));
    let mut environment = crate::environment::without_git();
    environment.rust_isolation = isolation;
    let rec = store.start_run_in(
        &root,
        framework_list.clone(),
        started,
        shard_info.clone(),
        environment,
        pending_git,
    )?;
    let mut notes = Vec::new();
    let mut quarantine = req.quarantine.clone();
    if let Some(above) = req.quarantine_flaky {
        match history.as_ref().map(|h| h.flaky(usize::MAX)) {
            Some(Ok(flaky)) => {
                let auto = crate::quarantine::from_flaky(&flaky, above);
                notes.push(format!(
                    "--quarantine-flaky: {} flaky across runs above {:.1}%, quarantined for this run{}",
                    crate::ui::plural(auto.len() as u64, "test", "tests"),
                    above * 100.0,
                    if auto.is_empty() {
                        String::new()
                    } else {
                        format!(
                            ": {}",
                            auto.iter().map(|e| e.target()).collect::<Vec<_>>().join(", ")
                        )
                    }
                ));
                quarantine.extend(auto);
            }
            Some(Err(e)) => log_warnings.push(format!(
                "--quarantine-flaky: cannot read flaky tests from history: {e:#}; none quarantined"
            )),
            None => log_warnings
                .push("--quarantine-flaky: no history: no test quarantined as flaky".into()),
        }
    }
    if !quarantine.is_empty() {
        rec.log.append(&crate::events::Event::Quarantine {
            time: chrono::Utc::now(),
            entries: quarantine,
        })?;
    }
    // Selected before sharding: each suite narrows to the affected tests, then shards them.
    let affected = match &req.affected {
        Some(a) => {
            // A --since that names no commit is a usage error (exit 2).
            let plan = crate::affected::Plan::build(&root, a, history.as_ref()).map_err(|e| {
                if e.is::<crate::affected::BadBase>() {
                    crate::settings::invalid(e)
                } else {
                    e
                }
            })?;
            notes.extend(plan.notes.iter().cloned());
            Some(plan)
        }
        None => None,
    };
    let mut options = req.options.clone();
    options.pass_through = crate::runner::PassThrough {
        shard: req.shard.map(|s| (s, strategy)),
        order: req.order,
        last_failed: req.last_failed,
    };
    let coverage_dir = rec.dir.join(collect::DIR);
    if req.coverage {
        options.coverage_dir = Some(coverage_dir.clone());
        options.env.extend(coverage_env.iter().cloned());
    }
    let ctx = Ctx::new(options, rec.run_id.clone(), Arc::clone(&rec.log), listener);
    crate::interrupt::set_active(Some(Arc::clone(&ctx.processes)));

    let mut exit_override = None;
    if req.last_failed || req.order == Order::FailedFirst {
        notes.push(
            match history
                .as_ref()
                .and_then(|h| h.latest_real_run().ok().flatten())
            {
                Some(r) => format!(
                    "reading run {} ({}, {} tests) for its failures",
                    r.run_id, r.started_at, r.total
                ),
                None => "no earlier run that ran tests: running every test".to_owned(),
            },
        );
    }
    let select = |ids: &[String], grain: crate::frameworks::Grain| {
        let applied = crate::selection::Selection::new(
            &root,
            req.shard,
            req.shard.map(|_| strategy),
            req.order,
            req.last_failed,
        )
        .apply(ids, grain);
        (applied.keep, applied.notes)
    };
    let known = crate::selection::HistorySnapshot {
        durations: durations.clone(),
        last_failed: history
            .as_ref()
            .and_then(|h| h.last_failed().ok().flatten()),
        ..Default::default()
    };
    let order_tests = |ids: &[String]| {
        crate::selection::order(ids, req.order, crate::frameworks::Grain::Test, &known)
    };
    let mut units: Vec<Box<dyn Unit>> = Vec::new();
    let mut background = Vec::new();
    for suite in suites {
        let mut planning = frameworks::Planning {
            history: history.as_ref(),
            durations: &durations,
            shard_durations: &shard_durations,
            notes: &mut notes,
            broken: false,
            select: &select,
            order_tests: &order_tests,
            affected: affected.as_ref(),
            background: &mut background,
            run_dir: &rec.dir,
            root: &root,
        };
        let planned = suite.units(&ctx, &mut planning);
        if planning.broken {
            exit_override = Some(exit_code::BUILD_FAILED);
        }
        match planned {
            Ok(u) => units.extend(u),
            Err(e) => {
                let kind = if e
                    .downcast_ref::<crate::frameworks::EnvironmentError>()
                    .is_some()
                {
                    crate::model::error_kind::ENVIRONMENT
                } else {
                    crate::model::error_kind::BUILD
                };
                ctx.run_error(kind, format!("{e:#}"));
                exit_override = Some(exit_code::BUILD_FAILED);
            }
        }
    }
    if let Some(plan) = &affected {
        for &f in &framework_list {
            if frameworks::plugin(f).is_none_or(|p| !p.selects_affected()) {
                plan.unsupported(f);
            }
        }
        let record = plan.record();
        // With the run, for `merge` (a CI shard's history.db stays on its machine).
        if let Err(e) = crate::affected::store::write_deps(&rec.dir, &plan.deps()) {
            log_warnings.push(format!("--affected: {e:#}"));
        }
        if plan.mode == crate::affected::Mode::Select && record.not_selected > 0 {
            notes.push(format!(
                "--affected: {} not selected (unaffected by the changes; --explain says why)",
                crate::ui::plural(record.not_selected, "test", "tests")
            ));
        }
        rec.log.append(&crate::events::Event::Affected {
            time: chrono::Utc::now(),
            affected: record,
        })?;
    }
    ctx.add_planned(units.iter().map(|u| u.planned_tests()).sum());
    let stopped = if interrupted() {
        ctx.processes.shutdown();
        Some(Stopped::Interrupted)
    } else {
        runner::execute(&ctx, units)?
    };
    crate::interrupt::set_active(None);
    crate::interrupt::winding_down();
    for task in background {
        let _ = task.join(); // derived data: a failed write is only a missed record
    }
    let not_run = ctx.not_run();
    let why = match stopped {
        Some(Stopped::FailFast) => Some("--fail-fast stopped the run after a failure"),
        Some(Stopped::RunTimeout) => Some("the run's --timeout was reached"),
        Some(Stopped::Interrupted) => Some("the run was interrupted"),
        None => None,
    };
    if let Some(why) = why.filter(|_| not_run > 0) {
        ctx.run_error(
            "not_run",
            format!("{not_run} planned tests did not run: {why}"),
        );
    }

    let reason = match stopped {
        Some(Stopped::Interrupted) => Some("interrupted"),
        Some(Stopped::RunTimeout) => Some("timeout"),
        Some(Stopped::FailFast) => Some("fail_fast"),
        None => None,
    };
    let completed = !matches!(stopped, Some(Stopped::Interrupted | Stopped::RunTimeout));
    let git = match rec.git() {
        Ok(git) => git,
        Err(e) => anyhow::bail!("the event log could not be written: {e:#}"),
    };
    if (req.coverage || !req.coverage_files.is_empty()) && stopped != Some(Stopped::Interrupted) {
        for (framework, report) in coverage_reports {
            if let Err(message) = report(&coverage_dir) {
                coverage_notes.push(collect::failed(framework, message));
            }
        }
        coverage_notes.extend(ctx.take_coverage_notes());
        let collected: Vec<(Framework, &str)> = if req.coverage {
            framework_list
                .iter()
                .filter_map(|&f| Some((f, frameworks::plugin(f)?.coverage_report())))
                .collect()
        } else {
            Vec::new()
        };
        // A selection's coverage is not comparable with a whole run's (`gate` says so).
        let narrowed = affected.as_ref().is_some_and(|p| {
            p.mode == crate::affected::Mode::Select && p.record().not_selected > 0
        });
        let baseline = |files: &[crate::coverage::FileSummary]| {
            let h = history.as_ref().filter(|_| !narrowed)?;
            h.coverage_baseline_of(
                &rec.run_id,
                rec.started,
                git.branch.as_deref(),
                shard_info.as_ref(),
                files,
            )
            .ok()
            .flatten()
        };
        match collect::assemble(
            &coverage_dir,
            &root,
            &collected,
            coverage_notes,
            &req.coverage_files,
            baseline,
        ) {
            Ok(coverage) => {
                if let Err(e) = rec.log.append(&crate::events::Event::Coverage {
                    time: chrono::Utc::now(),
                    coverage,
                }) {
                    anyhow::bail!("the event log could not be written: {e:#}");
                }
            }
            Err(e) => ctx.run_error("coverage", format!("{e:#}")),
        }
    }
    // Observation mode: which of this run's failures the selection would have missed.
    let mut observation = None;
    if let Some(plan) = affected
        .as_ref()
        .filter(|p| p.mode == crate::affected::Mode::Observe)
    {
        match crate::events::fold_file(&rec.dir.join(crate::store::EVENTS_FILE)) {
            Ok(folded) => {
                let (missed, would_skip) = plan.missed(&folded.run.tests);
                let mut record = plan.record();
                record.missed = missed.clone();
                rec.log.append(&crate::events::Event::Affected {
                    time: chrono::Utc::now(),
                    affected: record,
                })?;
                observation = Some(crate::affected::store::Observation {
                    run_id: rec.run_id.clone(),
                    started_at: rec.started.to_rfc3339(),
                    tests: folded.run.tests.len() as u64,
                    would_skip,
                    failures: folded
                        .run
                        .tests
                        .iter()
                        .filter(|t| t.outcome.is_failure())
                        .count() as u64,
                    missed,
                });
            }
            Err(e) => log_warnings.push(format!(
                "--affected=observe: cannot read the run back: {e:#}"
            )),
        }
    }
    if let Some(err) = ctx.write_error() {
        anyhow::bail!("the event log could not be written: {err}");
    }
    let crate::events::Folded {
        run,
        warnings: fold_warnings,
    } = rec.fold_finished(completed, reason)?;
    let run = Arc::new(run);
    if let (Some(o), Some(h)) = (&observation, history.as_ref())
        && let Err(e) = crate::affected::store::save_observation(h, o)
    {
        log_warnings.push(format!(
            "--affected=observe: cannot record the observation: {e:#}"
        ));
    }
    log_warnings.extend(ctx.take_warnings());
    log_warnings.extend(fold_warnings);
    if let Some(q) = &run.quarantine {
        log_warnings.extend(crate::quarantine::warnings(q));
    }
    // Written while run.json, the reports and the summary are: `RunResult::history`.
    let history = history
        .map(|h| h.record_in_background(Arc::clone(&run), "run", req.keep_runs))
        .unwrap_or_default();
    rec.write_run(&run)?;
    let empty_shard = req.shard.is_some() && run.summary.total == 0 && run.distrust().is_empty();
    // Nothing affected: a clean run of no tests, and the record says why.
    let nothing_affected = run.affected.as_ref().is_some_and(|a| {
        // Nothing was selected at all (a selected group whose tests a filter left out
        // is an ordinary empty run).
        a.mode == "select" && a.full_run.is_none() && a.groups.iter().all(|g| !g.selected)
    }) && run.summary.total == 0
        && run.distrust().is_empty();
    if nothing_affected {
        notes.push("--affected: no test is affected by the changes: nothing to run".to_owned());
    }
    if let (true, Some(s)) = (empty_shard, req.shard) {
        notes.push(format!(
            "shard {}/{} has no tests to run: nothing to do",
            s.index, s.total
        ));
    }
    let exit_code = match exit_override {
        Some(code) => code,
        None if empty_shard || nothing_affected => exit_code::OK,
        None => exit_code_for(&run, stopped),
    };
    let exit_code = if stopped == Some(Stopped::Interrupted) {
        crate::interrupt::exit_code().unwrap_or(exit_code::INTERRUPTED)
    } else {
        exit_code
    };
    Ok(RunResult {
        notes,
        run,
        run_dir: rec.dir.clone(),
        exit_code,
        stopped,
        log_warnings,
        history,
    })
}
