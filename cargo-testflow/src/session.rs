//! One `cargo testflow run`, start to end: find the workspace, open the run's event log,
//! build, list, schedule, and fold the log into the final `Run`.

use std::io::Write;
use std::sync::{Arc, Mutex};

use anyhow::Result;

use crate::coverage::collect::{self, LlvmCov};
use crate::exit_code;
use crate::frameworks::{
    self,
    cargo::{self, BuildFailed, CargoOptions, Workspace},
};
use crate::history::History;
use crate::model::{Framework, Run};
use crate::runner::{self, Ctx, Listener, RunOptions, Stopped, Unit};
use crate::shard::{self, ShardSpec, Strategy};
use crate::store::Store;

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
}

/// Test order, from history.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    /// The framework's own order.
    #[default]
    Default,
    /// Tests that failed in the previous run first.
    FailedFirst,
    /// Longest recent duration first (fills the workers best).
    SlowestFirst,
    FastestFirst,
}

impl Order {
    /// `default`, `failed-first`, `slowest-first` or `fastest-first`.
    pub fn parse(s: &str) -> Result<Order> {
        <Order as clap::ValueEnum>::from_str(s.trim(), true).map_err(|_| {
            anyhow::anyhow!(
                "`{s}`: an order is default, failed-first, slowest-first or fastest-first"
            )
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Order::Default => "default",
            Order::FailedFirst => "failed-first",
            Order::SlowestFirst => "slowest-first",
            Order::FastestFirst => "fastest-first",
        }
    }
}

/// No suite of any framework was found (`crate::error::Error::NoTests`).
#[derive(Debug, thiserror::Error)]
#[error(
    "no test suites found in {} (looked for a cargo workspace{})",
    .0.display(),
    frameworks::DETECTED_HINT
)]
pub struct NothingToRun(pub std::path::PathBuf);

/// Whether `dir`'s tests include the cargo workspace: when a manifest is named, when
/// `dir` has its own Cargo.toml, or when nothing else was found and `dir` sits inside a
/// cargo workspace. A Python or Jest project inside some cargo workspace is not that
/// workspace.
pub fn uses_cargo(dir: &std::path::Path, manifest_given: bool, others_found: bool) -> bool {
    manifest_given
        || dir.join("Cargo.toml").is_file()
        || (!others_found && dir.ancestors().any(|d| d.join("Cargo.toml").is_file()))
}

pub struct RunResult {
    pub run: Run,
    pub run_dir: std::path::PathBuf,
    pub exit_code: i32,
    pub stopped: Option<Stopped>,
    /// Problems reading the event log back or writing history (reported, not fatal).
    pub log_warnings: Vec<String>,
    /// Things worth a line for people (an empty shard).
    pub notes: Vec<String>,
}

fn interrupted() -> bool {
    crate::interrupt::received().is_some()
}

/// Run every suite found in the project: the cargo workspace (when there is one) and
/// the other frameworks `frameworks::detect_suites` finds. `build_echo` receives cargo's
/// build output as it comes.
pub fn run(
    req: RunRequest,
    listener: Box<dyn Listener>,
    build_echo: &mut (dyn Write + Send),
) -> Result<RunResult> {
    let started = chrono::Utc::now();
    let wants = |f: Framework| req.frameworks.as_ref().is_none_or(|l| l.contains(&f));
    let forced = req.frameworks.as_deref().unwrap_or_default();
    let others = frameworks::detect_suites_forced(&req.project_dir, &wants, forced)?;
    let use_cargo = wants(Framework::Rust)
        && uses_cargo(
            &req.project_dir,
            req.cargo.selection.manifest_path.is_some(),
            !others.is_empty(),
        );
    if !use_cargo && others.is_empty() {
        return Err(NothingToRun(req.project_dir.clone()).into());
    }
    let mut coverage_notes = Vec::new();
    // Rust coverage changes how the tests are built, so it is set up before the build.
    let llvm_cov = match (req.coverage, use_cargo) {
        (true, true) => {
            let sel = &req.cargo.selection;
            let dir = sel.dir.clone().unwrap_or_else(|| req.project_dir.clone());
            match LlvmCov::setup(&cargo::cargo_bin(), &dir, sel.manifest_path.as_deref()) {
                Ok(c) => Some(c),
                Err(message) => {
                    coverage_notes.push(collect::unavailable(Framework::Rust, message));
                    None
                }
            }
        }
        _ => None,
    };
    let coverage_env = llvm_cov.as_ref().map(|c| c.env.clone()).unwrap_or_default();
    let mut selection = req.cargo.selection.clone();
    selection.env.extend(coverage_env.iter().cloned());
    let selection = &selection;

    // Reading the workspace, asking git about the checkout and building are
    // independent: do them at once (git and metadata cost ~10 ms each on a small suite).
    let project_dir = req.project_dir.clone();
    let (cargo_phase, environment) = std::thread::scope(|s| {
        let env = s.spawn(|| crate::environment::detect(&project_dir));
        let cargo_phase = use_cargo.then(|| {
            // History is opened (and its schema checked) while cargo builds, too.
            let meta = s.spawn(|| {
                Workspace::load(selection).map(|ws| {
                    let history = History::open(Store::for_project(&ws.root).root());
                    (ws, history)
                })
            });
            let built = cargo::compile(selection, build_echo);
            let ws = meta
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("reading cargo metadata panicked")));
            (ws, built)
        });
        let environment = env
            .join()
            .unwrap_or_else(|_| crate::environment::detect(&project_dir));
        (cargo_phase, environment)
    });
    let (ws, built, opened) = match cargo_phase {
        Some((ws, built)) => {
            let (mut ws, history) = ws?;
            ws.env.extend(coverage_env.iter().cloned());
            (Some(Arc::new(ws)), Some(built), Some(history))
        }
        None => (None, None, None),
    };
    let root = ws
        .as_ref()
        .map_or_else(|| req.project_dir.clone(), |w| w.root.clone());
    let mut framework_list: Vec<Framework> = Vec::new();
    if ws.is_some() {
        framework_list.push(Framework::Rust);
    }
    for s in &others {
        if !framework_list.contains(&s.framework()) {
            framework_list.push(s.framework());
        }
    }
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
    // Only the Rust scheduler orders by duration; pytest and Jest order themselves.
    let durations = history
        .as_ref()
        .filter(|_| ws.is_some())
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
    let mut environment = environment;
    environment.rust_isolation = ws
        .as_ref()
        .map(|ws| req.cargo.isolation_summary(&ws.package_names()).to_owned());
    let rec = store.start_run_in(
        &root,
        framework_list.clone(),
        started,
        shard_info.clone(),
        environment,
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
    let mut units: Vec<Box<dyn Unit>> = Vec::new();
    if let (Some(ws), Some(built)) = (&ws, built) {
        match built {
            // A build killed by the signal did not fail: the run was stopped.
            Err(_) if interrupted() => {}
            Err(e) => {
                match e.downcast::<BuildFailed>() {
                    Ok(b) => ctx.run_error("build", b.diagnostics),
                    Err(e) => ctx.run_error("build", format!("{e:#}")),
                }
                exit_override = Some(exit_code::BUILD_FAILED);
            }
            Ok(built) => {
                let binaries: Vec<Arc<cargo::TestBinary>> =
                    built.binaries(ws).into_iter().map(Arc::new).collect();
                let cache = store.root().join(LIST_CACHE);
                let (tests, list_errors) = list_all(ws, &binaries, ctx.options.jobs, Some(&cache));
                for e in &list_errors {
                    ctx.run_error("list", e.clone());
                }
                if !list_errors.is_empty() {
                    exit_override = Some(exit_code::BUILD_FAILED);
                }
                let mut cargo_opts = req.cargo.clone();
                cargo_opts.selection = selection.clone();
                let timings = Timings {
                    all: &durations,
                    for_sharding: &shard_durations,
                };
                select(
                    &mut cargo_opts,
                    &req,
                    &tests,
                    &binaries,
                    history.as_ref(),
                    timings,
                    strategy,
                    &mut notes,
                );
                units.extend(cargo::plan(&ctx, tests, &cargo_opts));
                units.extend(cargo::doctest_units(ws, &binaries, &cargo_opts));
            }
        }
    }
    for suite in others {
        match suite.units(&ctx) {
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
    ctx.add_planned(units.iter().map(|u| u.planned_tests()).sum());
    let stopped = if interrupted() {
        ctx.processes.shutdown();
        Some(Stopped::Interrupted)
    } else {
        runner::execute(&ctx, units)?
    };
    crate::interrupt::set_active(None);
    crate::interrupt::winding_down();
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
    if (req.coverage || !req.coverage_files.is_empty()) && stopped != Some(Stopped::Interrupted) {
        if let Some(c) = &llvm_cov
            && let Err(message) =
                c.report(&coverage_dir.join(collect::report_name(Framework::Rust)))
        {
            coverage_notes.push(collect::failed(Framework::Rust, message));
        }
        coverage_notes.extend(ctx.take_coverage_notes());
        let collected = if req.coverage {
            framework_list.clone()
        } else {
            Vec::new()
        };
        let baseline = |files: &[crate::coverage::FileSummary]| {
            let h = history.as_ref()?;
            h.coverage_baseline_of(
                &rec.run_id,
                rec.started,
                rec.environment.git_branch.as_deref(),
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
    if let Some(err) = ctx.write_error() {
        anyhow::bail!("the event log could not be written: {err}");
    }
    let (run, fold_warnings) = rec.finish(completed, reason)?;
    log_warnings.extend(ctx.take_warnings());
    log_warnings.extend(fold_warnings);
    if let Some(q) = &run.quarantine {
        log_warnings.extend(crate::quarantine::warnings(q));
    }
    if let Some(mut h) = history
        && let Err(e) = h.record(&run, "run", req.keep_runs)
    {
        log_warnings.push(format!("could not record the run in history: {e:#}"));
    }
    let empty_shard = req.shard.is_some() && run.summary.total == 0 && run.distrust().is_empty();
    if let (true, Some(s)) = (empty_shard, req.shard) {
        notes.push(format!(
            "shard {}/{} has no tests to run: nothing to do",
            s.index, s.total
        ));
    }
    let exit_code = match exit_override {
        Some(code) => code,
        None if empty_shard => exit_code::OK,
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
    })
}

/// The exit code of a finished run. Quarantined tests' failures do not count; run
/// errors always do.
pub fn exit_code_for(run: &Run, stopped: Option<Stopped>) -> i32 {
    let summary = run.recomputed_summary();
    let counted = run.verdict_summary();
    // A suite that could not be built, collected or started (any framework's).
    let broken = run
        .errors
        .iter()
        .any(|e| crate::model::error_kind::stops_suite(&e.kind));
    if stopped == Some(Stopped::Interrupted) {
        crate::interrupt::exit_code().unwrap_or(exit_code::INTERRUPTED)
    } else if broken {
        exit_code::BUILD_FAILED
    } else if counted.failures() > 0 || stopped == Some(Stopped::RunTimeout) {
        exit_code::TESTS_FAILED
    } else if !run.distrust().is_empty() {
        // Nothing recorded failed, but the run itself is in doubt: never green.
        exit_code::RUN_ERROR
    } else if summary.total == summary.skipped {
        exit_code::NO_TESTS
    } else {
        exit_code::OK
    }
}

/// Where `run` keeps each test binary's listing, reused while the binary is unchanged.
const LIST_CACHE: &str = "list-cache";

/// List every binary's tests, a few binaries at a time (from `cache` when it has them).
fn list_all(
    ws: &Workspace,
    binaries: &[Arc<cargo::TestBinary>],
    jobs: usize,
    cache: Option<&std::path::Path>,
) -> (Vec<cargo::RustTest>, Vec<String>) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<Vec<cargo::RustTest>>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, binaries.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(bin) = binaries.get(i) else { return };
                    let r = cargo::list_tests_cached(ws, bin, cache);
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((i, r));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _)| *i);
    let mut tests = Vec::new();
    let mut errors = Vec::new();
    for (_, r) in results {
        match r {
            Ok(t) => tests.extend(t),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    (tests, errors)
}

/// Recent test durations from history: from every run (ordering), and from whole runs
/// only (shard planning, see `History::durations_for_sharding`).
#[derive(Clone, Copy)]
struct Timings<'a> {
    all: &'a std::collections::HashMap<String, f64>,
    for_sharding: &'a std::collections::HashMap<String, f64>,
}

/// Narrow and order the cargo tests: the shard's share, `--last-failed`, `--order`, and
/// the loop's "previous failures first".
#[allow(clippy::too_many_arguments)]
fn select(
    opts: &mut CargoOptions,
    req: &RunRequest,
    tests: &[cargo::RustTest],
    binaries: &[Arc<cargo::TestBinary>],
    history: Option<&History>,
    timings: Timings<'_>,
    strategy: Strategy,
    notes: &mut Vec<String>,
) {
    let last_failed = history
        .and_then(|h| h.last_failed().ok().flatten())
        .unwrap_or_default();
    if let Some(spec) = req.shard {
        // Every selected test (and each package's doctests as one item) is planned, so
        // each lands in exactly one shard.
        let mut items: Vec<String> = tests
            .iter()
            .filter(|t| req.cargo.selects(&t.path))
            .map(|t| t.meta.id.clone())
            .collect();
        items.extend(
            cargo::doctest_packages(binaries, &req.cargo)
                .iter()
                .map(|p| cargo::doctest_shard_item(p)),
        );
        let plan = shard::plan(&items, spec.total, strategy, timings.for_sharding);
        let mine = &plan.shards[(spec.index - 1) as usize];
        notes.push(format!(
            "shard {}/{} ({}): {} of {} tests, predicted {:.1}s",
            spec.index,
            spec.total,
            strategy.as_str(),
            mine.tests.len(),
            items.len(),
            mine.predicted_ms / 1000.0
        ));
        opts.only = Some(mine.tests.iter().cloned().collect());
    }
    if req.last_failed && !last_failed.is_empty() {
        let failed: std::collections::HashSet<String> = last_failed.iter().cloned().collect();
        opts.only = Some(match opts.only.take() {
            Some(only) => only.intersection(&failed).cloned().collect(),
            None => failed,
        });
    }
    let mut order: Vec<String> = match req.order {
        Order::Default => vec![],
        Order::FailedFirst => last_failed,
        Order::SlowestFirst | Order::FastestFirst => {
            let mut known: Vec<(&String, f64)> = timings.all.iter().map(|(k, v)| (k, *v)).collect();
            known.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            if req.order == Order::FastestFirst {
                known.reverse();
            }
            known.into_iter().map(|(k, _)| k.clone()).collect()
        }
    };
    // The loop's previous failures come before any other order.
    let mut first = std::mem::take(&mut opts.first);
    first.append(&mut order);
    opts.first = first;
}

/// Build and list every test id the cargo workspace would run (with each package's
/// doctests as one item), for shard planning. `Ok(None)` when the build failed.
pub fn list_cargo_items(
    selection: &cargo::Selection,
    filters: &[String],
    doctests: bool,
    echo: &mut (dyn Write + Send),
) -> Result<Option<Vec<String>>> {
    let ws = Workspace::load(selection)?;
    let binaries: Vec<Arc<cargo::TestBinary>> = match cargo::build(&ws, selection, echo) {
        Ok(b) => b.into_iter().map(Arc::new).collect(),
        Err(e) if e.is::<BuildFailed>() => return Ok(None),
        Err(e) => return Err(e),
    };
    let (tests, errors) = list_all(&ws, &binaries, crate::runner::default_jobs(), None);
    if let Some(e) = errors.first() {
        anyhow::bail!("{e}");
    }
    let opts = CargoOptions {
        selection: selection.clone(),
        filters: filters.to_vec(),
        doc: if doctests {
            cargo::DocMode::Include
        } else {
            cargo::DocMode::Skip
        },
        ..CargoOptions::default()
    };
    let mut items: Vec<String> = tests
        .iter()
        .filter(|t| opts.selects(&t.path))
        .map(|t| t.meta.id.clone())
        .collect();
    items.extend(
        cargo::doctest_packages(&binaries, &opts)
            .iter()
            .map(|p| cargo::doctest_shard_item(p)),
    );
    Ok(Some(items))
}
