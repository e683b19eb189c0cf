//! One `cargo testflow run`, start to end: find the workspace, open the run's event log,
//! build, list, schedule, and fold the log into the final `Run`.

use std::io::Write;
use std::sync::{Arc, Mutex};

use anyhow::Result;

use crate::exit_code;
use crate::frameworks::cargo::{self, BuildFailed, CargoOptions, Workspace};
use crate::model::{Framework, Run};
use crate::process::{KillReason, ProcessTable};
use crate::runner::{self, Ctx, Listener, RunOptions, Stopped, Unit};
use crate::store::Store;

pub struct RunRequest {
    pub cargo: CargoOptions,
    pub options: RunOptions,
}

pub struct RunResult {
    pub run: Run,
    pub run_dir: std::path::PathBuf,
    pub exit_code: i32,
    pub stopped: Option<Stopped>,
    /// Problems reading the event log back (should not happen; reported, not fatal).
    pub log_warnings: Vec<String>,
}

/// The running run's process table, for the Ctrl-C handler.
static ACTIVE: Mutex<Option<Arc<ProcessTable>>> = Mutex::new(None);
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Install the Ctrl-C / SIGTERM handler once per process: it kills every running test
/// process group; the run then records what it has and exits 130.
pub fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
            // Second Ctrl-C: the user insists.
            std::process::exit(exit_code::INTERRUPTED);
        }
        if let Some(t) = ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            t.stop_all(KillReason::Interrupted);
        }
    });
}

fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Run a cargo workspace's tests. `build_echo` receives cargo's build output as it comes.
pub fn run_cargo(
    req: RunRequest,
    listener: Box<dyn Listener>,
    build_echo: &mut (dyn Write + Send),
) -> Result<RunResult> {
    let started = chrono::Utc::now();
    // Reading the workspace and building are independent: do both at once.
    let selection = &req.cargo.selection;
    let (ws, built) = std::thread::scope(|s| {
        let meta = s.spawn(|| Workspace::load(selection));
        let built = cargo::compile(selection, build_echo);
        (
            meta.join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("reading cargo metadata panicked"))),
            built,
        )
    });
    let ws = Arc::new(ws?);
    let store = Store::for_project(&ws.root);
    let rec = store.start_run(&ws.root, vec![Framework::Rust], started)?;
    let ctx = Ctx::new(
        req.options,
        rec.run_id.clone(),
        Arc::clone(&rec.log),
        listener,
    );
    *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&ctx.processes));
    if interrupted() {
        ctx.processes.stop_all(KillReason::Interrupted);
    }

    let mut exit_override = None;
    let stopped = match built {
        Err(e) => {
            match e.downcast::<BuildFailed>() {
                Ok(b) => ctx.run_error("build", b.diagnostics),
                Err(e) => ctx.run_error("build", format!("{e:#}")),
            }
            exit_override = Some(if interrupted() {
                exit_code::INTERRUPTED
            } else {
                exit_code::BUILD_FAILED
            });
            ctx.processes.shutdown();
            interrupted().then_some(Stopped::Interrupted)
        }
        Ok(built) => {
            let binaries = built.binaries(&ws);
            let binaries: Vec<Arc<cargo::TestBinary>> =
                binaries.into_iter().map(Arc::new).collect();
            let (tests, list_errors) = list_all(&ws, &binaries, ctx.options.jobs);
            for e in &list_errors {
                ctx.run_error("list", e.clone());
            }
            if !list_errors.is_empty() {
                exit_override = Some(exit_code::BUILD_FAILED);
            }
            let mut units: Vec<Box<dyn Unit>> = cargo::plan(&ctx, tests, &req.cargo);
            units.extend(cargo::doctest_units(&ws, &binaries, &req.cargo));
            ctx.add_planned(units.iter().map(|u| u.planned_tests()).sum());
            runner::execute(&ctx, units)?
        }
    };
    *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = None;
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
    if let Some(err) = ctx.write_error() {
        anyhow::bail!("the event log could not be written: {err}");
    }
    let (run, log_warnings) = rec.finish(completed, reason)?;
    let exit_code = exit_override.unwrap_or_else(|| exit_code_for(&run, stopped));
    let exit_code = if stopped == Some(Stopped::Interrupted) {
        exit_code::INTERRUPTED
    } else {
        exit_code
    };
    Ok(RunResult {
        run,
        run_dir: rec.dir.clone(),
        exit_code,
        stopped,
        log_warnings,
    })
}

pub fn exit_code_for(run: &Run, stopped: Option<Stopped>) -> i32 {
    if stopped == Some(Stopped::Interrupted) {
        exit_code::INTERRUPTED
    } else if run.summary.failures() > 0 || stopped == Some(Stopped::RunTimeout) {
        exit_code::TESTS_FAILED
    } else if run.summary.total == run.summary.skipped {
        exit_code::NO_TESTS
    } else {
        exit_code::OK
    }
}

/// List every binary's tests, a few binaries at a time.
fn list_all(
    ws: &Workspace,
    binaries: &[Arc<cargo::TestBinary>],
    jobs: usize,
) -> (Vec<cargo::RustTest>, Vec<String>) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<Vec<cargo::RustTest>>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, binaries.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(bin) = binaries.get(i) else { return };
                    let r = cargo::list_tests(ws, bin);
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
