//! `cargo testflow iterate`.

use std::io::Write;

use anyhow::Result;

use testflow::{exit_code, iterate};

use crate::args::{IterateArgs, OutputFormat};
use crate::dispatch::run::{forced_exit, run_once};
use crate::dispatch::shared::{load_config, project_dir};

pub(crate) fn iterate_cmd(args: IterateArgs) -> Result<i32> {
    testflow::interrupt::install(forced_exit);
    let project_root = project_dir(args.run.project.as_deref())?;
    let root = testflow::project::git_root(&project_root).unwrap_or(project_root);
    let it_cfg = load_config(args.run.project.as_deref())?.iterate;
    let fix_cmd = args.fix_cmd.clone().or(it_cfg.fix_cmd);
    let rollback = args.rollback_on_regression || it_cfg.rollback_on_regression == Some(true);
    if rollback {
        if fix_cmd.is_none() {
            anyhow::bail!(
                "--rollback-on-regression needs --fix-cmd (it undoes what the fix command changed)"
            );
        }
        iterate::check_rollback_possible(&root)?;
    }
    let opts = iterate::IterateOptions {
        max_iterations: args.max_iterations.or(it_cfg.max_iterations).unwrap_or(5),
        plateau: args.plateau.or(it_cfg.plateau).unwrap_or(2),
        fix_cmd: fix_cmd.clone(),
        rollback_on_regression: rollback,
        project_root: root.clone(),
    };
    // Enter on stdin reruns at once when waiting for the user's edit.
    let (tx, rx) = std::sync::mpsc::channel();
    if fix_cmd.is_none() {
        std::thread::spawn(move || {
            for line in std::io::stdin().lines() {
                if line.is_err() || tx.send(()).is_err() {
                    break;
                }
            }
        });
    }
    let mut run_suite = |first: &[String]| -> Result<iterate::RunOutcome> {
        let (mut result, _) = run_once(&args.run, first)?;
        // The next iteration reads this run from history.
        if let Some(w) = result.history.wait() {
            let _ = writeln!(std::io::stderr(), "warning: {w}");
        }
        Ok(iterate::RunOutcome {
            interrupted: result.stopped == Some(testflow::runner::Stopped::Interrupted),
            run: std::sync::Arc::unwrap_or_clone(result.run), // history is written: no copy
        })
    };
    let mut wait = || -> Result<bool> {
        let _ = writeln!(
            std::io::stderr(),
            "waiting: fix the code and save (or press Enter) to run again; Ctrl-C stops"
        );
        Ok(iterate::wait_for_change(&root, &rx))
    };
    let mut err = std::io::stderr();
    let (status, history) = iterate::iterate(&opts, &mut run_suite, &mut wait, &mut err)?;
    let _ = writeln!(
        err,
        "iterate: {} after {} iterations",
        status.as_str(),
        history.len()
    );
    if args.run.format == OutputFormat::Json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(
            &mut out,
            &serde_json::json!({ "status": status, "iterations": history }),
        )?;
        writeln!(out)?;
    }
    Ok(match status {
        iterate::Status::Success => exit_code::OK,
        iterate::Status::Regression => exit_code::ITERATE_REGRESSION,
        iterate::Status::Plateau => exit_code::ITERATE_PLATEAU,
        iterate::Status::MaxIterations | iterate::Status::Continue => {
            exit_code::ITERATE_MAX_ITERATIONS
        }
        iterate::Status::Interrupted => {
            testflow::interrupt::exit_code().unwrap_or(exit_code::INTERRUPTED)
        }
    })
}
