//! What several commands share: the project and its configuration, the run a reading
//! command works on, and GitHub annotations.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;

use testflow::error::Error;
use testflow::frameworks::cargo::{CargoOptions, DocMode};
use testflow::store::Store;
use testflow::{config, session};

use crate::args::{AffectedPreviewArgs, SelectionArgs};

/// The configuration for the project directory (or the current one), validated.
pub(crate) fn load_config(project: Option<&std::path::Path>) -> Result<config::Config> {
    Ok(load_config_from(project)?.0)
}

/// [`load_config`] and the file it came from. A bad file is a usage error (exit 2).
pub(crate) fn load_config_from(
    project: Option<&std::path::Path>,
) -> Result<(config::Config, Option<PathBuf>)> {
    let loaded = config::load_checked(&project_dir(project)?).map_err(Error::Config)?;
    Ok((loaded.config, loaded.source))
}

/// The suites `list` and `shard plan` look at: every framework's found in the project
/// directory (the cargo workspace with `cargo`'s selection, filters and `--doc`).
pub(crate) struct SuitesHere {
    pub(crate) dir: PathBuf,
    pub(crate) suites: Vec<Box<dyn testflow::frameworks::Suite>>,
}

pub(crate) fn suites_here(
    selection_args: &SelectionArgs,
    project: Option<&std::path::Path>,
    filters: &[String],
    doctests: bool,
) -> Result<SuitesHere> {
    let mut selection = selection_args.selection();
    selection.dir = project.map(PathBuf::from);
    let dir = project_root(project)?;
    let cargo = CargoOptions {
        selection,
        filters: filters.to_vec(),
        doc: if doctests {
            DocMode::Include
        } else {
            DocMode::Skip
        },
        ..CargoOptions::default()
    };
    let suites = testflow::frameworks::detect_suites(&dir, &|_| true, &[], &cargo)?;
    if suites.is_empty() {
        return Err(session::NothingToRun(dir).into());
    }
    Ok(SuitesHere { dir, suites })
}

/// The run a reading command works on (`latest`: the newest that ran tests); which one
/// is said on stderr.
pub(crate) fn load_run(project: Option<PathBuf>, what: &str) -> Result<testflow::model::Run> {
    let store = Store::discover(&project_root(project.as_deref())?);
    let (_, run) = store.resolve_run(what)?;
    say_reading(&store, what, &run);
    Ok(run)
}

/// `reading run …` on stderr, and the newer runs `latest` passed over.
pub(crate) fn say_reading(store: &Store, what: &str, run: &testflow::model::Run) {
    let mut err = std::io::stderr();
    let _ = writeln!(err, "{}", testflow::store::reading_line(run));
    if what != "latest" {
        return;
    }
    let newer = store.newer_than(&run.run_id).unwrap_or_default();
    // Newest first, a few by name: a long streak of empty runs must not flood stderr.
    for (id, why) in newer.iter().rev().take(3) {
        let _ = writeln!(
            err,
            "note: newer run {id} {why}, so it is not `latest` (read it with --run {id})"
        );
    }
    if newer.len() > 3 {
        let _ = writeln!(
            err,
            "note: and {} more newer runs that are not `latest` (`cargo testflow history trend` lists them)",
            newer.len() - 3
        );
    }
}

pub(crate) use testflow::project::{dir as project_dir, root as project_root};

/// On GitHub Actions: failures as `::error` annotations on the diff (see
/// `testflow::annotations::github`). Workflow commands go to stdout, or to stderr when
/// stdout carries JSON (the runner reads both).
pub(crate) fn github_annotations(
    run: &testflow::model::Run,
    store_root: Option<&std::path::Path>,
    door: testflow::annotations::Door,
    json: bool,
) {
    let Some(gh) = testflow::annotations::github(run, store_root, door) else {
        return;
    };
    let _ = if json {
        std::io::stderr().write_all(gh.commands.as_bytes())
    } else {
        std::io::stdout().write_all(gh.commands.as_bytes())
    };
    if let Some(w) = gh.warning {
        let _ = writeln!(std::io::stderr(), "warning: {w}");
    }
}

/// `list --affected` / `shard plan --affected`: the selection `run --affected` would make
/// on `here`'s suites (`testflow::selection::affected_selection`), its notes (the base, a
/// full run's reason) on stderr. `Ok(None)` without `--affected`; `Err` with exit code
/// 101 when a suite could not be built. A `--since` that names no commit is a usage error.
pub(crate) fn affected_preview(
    args: &AffectedPreviewArgs,
    project: Option<&std::path::Path>,
    here: &mut SuitesHere,
) -> Result<Option<Result<testflow::affected::Plan, i32>>> {
    if !args.affected {
        return Ok(None);
    }
    let cfg = load_config(project)?;
    let req = testflow::affected::Request {
        mode: testflow::affected::Mode::Select,
        since: args.since.clone(),
        changed: args.changed.clone(),
        always_run: cfg.affected.always_run.clone(),
    };
    let mut err = std::io::stderr();
    let plan = testflow::selection::affected_selection(&mut here.suites, &here.dir, &req, &mut err)
        .map_err(|e| {
            if e.is::<testflow::affected::BadBase>() {
                testflow::settings::invalid(e)
            } else {
                e
            }
        })?;
    let Some(plan) = plan else {
        return Ok(Some(Err(testflow::exit_code::BUILD_FAILED)));
    };
    for n in &plan.notes {
        let _ = writeln!(err, "{n}");
    }
    Ok(Some(Ok(plan)))
}
