//! `cargo testflow coverage report` and `coverage gaps`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;

use testflow::exit_code;
use testflow::store::Store;

use crate::args::{CoverageCmd, CoverageGapsArgs, CoverageOutput, OutputFormat};
use crate::dispatch::shared::project_dir;

/// The coverage to report on: the files given, or the stored coverage of a run (with its
/// comparison against the previous run on the branch).
fn coverage_input(
    files: &[PathBuf],
    run: Option<&str>,
    project: Option<&std::path::Path>,
) -> Result<(
    testflow::coverage::Coverage,
    Option<testflow::model::RunCoverage>,
    PathBuf,
)> {
    let root = project_dir(project)?;
    if !files.is_empty() {
        return Ok((testflow::coverage::load(files, &root)?, None, root));
    }
    let store = Store::discover(&root);
    let what = run.unwrap_or("latest");
    let path = store.resolve(what)?;
    let run = testflow::store::load_run(&path)?;
    let dir = store.coverage_dir(&path, &run);
    let Some(c) = run.coverage else {
        anyhow::bail!(
            "run {} has no coverage: run `cargo testflow run --coverage`, or give coverage report files",
            run.run_id
        );
    };
    let (cov, run_root) =
        testflow::coverage::collect::load_stored(&c, &dir, run.project_root.as_deref(), &root)?;
    Ok((cov, Some(c), run_root))
}

pub(crate) fn coverage_cmd(cmd: CoverageCmd) -> Result<i32> {
    use testflow::coverage;
    let args = match cmd {
        CoverageCmd::Report(args) => args,
        CoverageCmd::Gaps(args) => return coverage_gaps_cmd(args),
    };
    let (cov, of_run, _) =
        coverage_input(&args.files, args.run.as_deref(), args.project.as_deref())?;
    let previous = of_run.as_ref().and_then(|c| c.previous.as_ref());
    let bytes = match args.format {
        CoverageOutput::Human => {
            let mut text = coverage::render_human(&cov);
            if let Some(c) = &of_run {
                text.push_str(&coverage::render_run_notes(c));
            }
            text.into_bytes()
        }
        CoverageOutput::Json => {
            let mut v = serde_json::to_vec_pretty(&serde_json::json!({
                "totals": cov.totals(),
                "files": cov.per_file(),
                "frameworks": of_run.as_ref().map(|c| &c.frameworks),
                "previous": previous,
            }))?;
            v.push(b'\n');
            v
        }
        CoverageOutput::Lcov => coverage::lcov::write(&cov).into_bytes(),
        CoverageOutput::Cobertura => coverage::cobertura::write(&cov).into_bytes(),
    };
    match &args.output {
        Some(path) => testflow::store::write_atomic(path, &bytes)?,
        None => std::io::stdout().lock().write_all(&bytes)?,
    }
    Ok(exit_code::OK)
}

pub(crate) fn coverage_gaps_cmd(args: CoverageGapsArgs) -> Result<i32> {
    use testflow::coverage::gaps;
    let (cov, _, root) = coverage_input(&args.files, args.run.as_deref(), args.project.as_deref())?;
    let mut report = gaps::rank(&cov, &root);
    let limit = match (args.limit, args.format) {
        (Some(0), _) | (None, OutputFormat::Json) => None,
        (Some(n), _) => Some(n),
        (None, OutputFormat::Human) => Some(20),
    };
    let bytes = match args.format {
        OutputFormat::Human => gaps::render_human(&report, limit).into_bytes(),
        OutputFormat::Json => {
            if let Some(n) = limit {
                report.gaps.truncate(n);
            }
            let mut v = serde_json::to_vec_pretty(&report)?;
            v.push(b'\n');
            v
        }
    };
    std::io::stdout().lock().write_all(&bytes)?;
    Ok(exit_code::OK)
}
