//! What several commands share: the project and its configuration, the run a reading
//! command works on, and GitHub annotations.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};

use testflow::error::Error;
use testflow::frameworks::cargo::{CargoOptions, DocMode};
use testflow::report::{self, ReportFormat};
use testflow::store::Store;
use testflow::{config, session};

use crate::args::SelectionArgs;

/// The configuration for the project directory (or the current one), validated.
pub(crate) fn load_config(project: Option<&std::path::Path>) -> Result<config::Config> {
    Ok(load_config_from(project)?.0)
}

/// [`load_config`] and the file it came from.
pub(crate) fn load_config_from(
    project: Option<&std::path::Path>,
) -> Result<(config::Config, Option<PathBuf>)> {
    let dir = project_dir(project)?;
    let loaded = config::load(&dir).map_err(Error::Config)?;
    if let Some(src) = &loaded.source {
        loaded.config.validate(src).map_err(Error::Config)?;
    }
    Ok((loaded.config, loaded.source))
}

pub(crate) fn git_root(dir: &std::path::Path) -> Option<PathBuf> {
    let out = duct::cmd("git", ["rev-parse", "--show-toplevel"])
        .dir(dir)
        .stdout_capture()
        .stderr_null()
        .unchecked()
        .run()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
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

/// `--project DIR`, else the project root found from the current directory (the cargo
/// workspace, pytest or Jest root, else the git root): where suites are found, the
/// virtualenv is looked for and the one `.testflow/` lives.
pub(crate) fn project_root(project: Option<&std::path::Path>) -> Result<PathBuf> {
    match project {
        Some(_) => project_dir(project),
        None => Ok(testflow::project::find_root(&project_dir(None)?)),
    }
}

pub(crate) fn project_dir(project: Option<&std::path::Path>) -> Result<PathBuf> {
    match project {
        Some(p) => Ok(std::path::absolute(p).unwrap_or_else(|_| p.to_owned())),
        None => std::env::current_dir().context("cannot read the current directory"),
    }
}

/// The directory a run's coverage reports are relative to: the run's directory. A run given
/// as a JSON report file elsewhere (`run --report json=FILE`, as the CI pipelines merge
/// them) has its reports in its run directory in the store, found by its id (the CI jobs
/// carry the shards' `.testflow/runs/` along).
pub(crate) fn coverage_dir(
    store: &Store,
    path: &std::path::Path,
    run: &testflow::model::Run,
) -> PathBuf {
    let dir = if path.is_dir() {
        path.to_owned()
    } else {
        path.parent().map(PathBuf::from).unwrap_or_default()
    };
    let Some(c) = &run.coverage else { return dir };
    let by_id = store.runs_dir().join(&run.run_id);
    if c.reports.iter().any(|r| !dir.join(r).is_file())
        && c.reports.iter().all(|r| by_id.join(r).is_file())
    {
        by_id
    } else {
        dir
    }
}

/// History trends for the HTML report, read only when an HTML report is asked for.
pub(crate) fn report_extras(
    formats: impl Iterator<Item = ReportFormat>,
    store_root: Option<&std::path::Path>,
) -> report::Extras {
    let mut formats = formats;
    let trend = match (formats.any(|f| f == ReportFormat::Html), store_root) {
        (true, Some(root)) if root.join(testflow::history::DB_FILE).is_file() => {
            testflow::history::History::open(root)
                .and_then(|h| h.trend(50))
                .unwrap_or_default()
        }
        _ => vec![],
    };
    report::Extras { trend }
}

/// On GitHub Actions: failures as `::error` annotations on the diff (ranked, within the
/// step's limit), the ones that did not fit counted in the step summary. Workflow commands
/// go to stdout, or to stderr when stdout carries JSON (the runner reads both).
pub(crate) fn github_annotations(
    run: &testflow::model::Run,
    store_root: Option<&std::path::Path>,
    door: testflow::annotations::Door,
    json: bool,
) {
    use testflow::annotations;
    if !annotations::wanted(door, run.shard.is_some()) {
        return;
    }
    let before = store_root
        .and_then(|root| testflow::history::History::open(root).ok())
        .and_then(|h| h.failed_before(run).ok().flatten());
    let chosen = annotations::annotate(run, before.as_ref(), annotations::PER_STEP);
    let text: String = chosen.lines.iter().map(|l| format!("{l}\n")).collect();
    let _ = if json {
        std::io::stderr().write_all(text.as_bytes())
    } else {
        std::io::stdout().write_all(text.as_bytes())
    };
    if let (Some(note), Some(path)) = (
        annotations::omitted_note(chosen.omitted),
        std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()),
    ) && let Err(e) = report::append_to_step_summary(&note, std::path::Path::new(&path))
    {
        let _ = writeln!(std::io::stderr(), "warning: {e:#}");
    }
}
