//! `run --coverage`: each framework's own coverage tool writes its report into the run's
//! `coverage/` directory, and testflow reads them back into one `RunCoverage`.
//!
//! How each framework collects it is the framework's own (`frameworks::<name>`): its
//! arguments and environment, and [`Plugin::coverage_report`](crate::frameworks::Plugin::coverage_report),
//! where its report lands.
//!
//! A tool that is missing is never skipped silently: its framework is recorded as
//! `unavailable` with the command that installs it.

use std::path::{Path, PathBuf};

use crate::model::{Framework, FrameworkCoverage};

/// The run's coverage directory, relative to the run directory.
pub const DIR: &str = "coverage";

pub fn unavailable(framework: Framework, message: String) -> FrameworkCoverage {
    FrameworkCoverage {
        framework,
        status: "unavailable".into(),
        message: Some(message),
    }
}

pub fn failed(framework: Framework, message: String) -> FrameworkCoverage {
    FrameworkCoverage {
        framework,
        status: "failed".into(),
        message: Some(message),
    }
}

/// Read back what the frameworks wrote into `dir` (the run's coverage directory), plus
/// reports given with `--coverage-file` (copied in, so the run keeps them), into the run's
/// coverage. `collected` are the frameworks run with coverage, each with where its report
/// lands relative to `dir` (`Plugin::coverage_report`); `notes` say which of them could
/// not collect it.
pub fn assemble(
    dir: &Path,
    root: &Path,
    collected: &[(Framework, &str)],
    notes: Vec<FrameworkCoverage>,
    external: &[PathBuf],
    baseline: impl FnOnce(&[super::FileSummary]) -> Option<crate::model::CoverageBaseline>,
) -> anyhow::Result<crate::model::RunCoverage> {
    use anyhow::Context as _;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut frameworks = Vec::new();
    let mut reports: Vec<PathBuf> = Vec::new();
    for &(f, report_name) in collected {
        if let Some(n) = notes.iter().find(|n| n.framework == f) {
            frameworks.push(n.clone());
            continue;
        }
        let report = dir.join(report_name);
        if report.is_file() {
            frameworks.push(FrameworkCoverage {
                framework: f,
                status: "collected".into(),
                message: None,
            });
            reports.push(report);
        } else {
            frameworks.push(failed(
                f,
                format!(
                    "the tests ran but wrote no coverage report ({})",
                    report.display()
                ),
            ));
        }
    }
    for (i, src) in external.iter().enumerate() {
        let name = src
            .file_name()
            .map_or_else(|| "report".into(), |n| n.to_string_lossy().into_owned());
        let copy = dir.join("files").join(format!("{}-{name}", i + 1));
        std::fs::create_dir_all(copy.parent().unwrap_or(dir))?;
        std::fs::copy(src, &copy)
            .with_context(|| format!("cannot read coverage report {}", src.display()))?;
        reports.push(copy);
    }
    let cov = super::load(&reports, root)?;
    let run_dir = dir.parent().unwrap_or(dir);
    let names = reports.iter().map(|r| relative_name(r, run_dir)).collect();
    finish(dir, &cov, frameworks, names, baseline)
}

/// The run's coverage from merged coverage: writes it to `dir/merged.lcov` (one file for
/// coverage services; paths relative to the project) and summarises it.
pub fn finish(
    dir: &Path,
    cov: &super::Coverage,
    frameworks: Vec<FrameworkCoverage>,
    mut reports: Vec<String>,
    baseline: impl FnOnce(&[super::FileSummary]) -> Option<crate::model::CoverageBaseline>,
) -> anyhow::Result<crate::model::RunCoverage> {
    use anyhow::Context as _;
    let merged = dir.join(MERGED);
    if !cov.files.is_empty() || !reports.is_empty() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(&merged, super::lcov::write(cov))
            .with_context(|| format!("cannot write {}", merged.display()))?;
        if reports.is_empty() {
            reports.push(relative_name(&merged, dir.parent().unwrap_or(dir)));
        }
    }
    let files = cov.per_file();
    Ok(crate::model::RunCoverage {
        reports,
        frameworks,
        totals: cov.totals(),
        previous: baseline(&files),
        files,
    })
}

/// Read back the reports a run kept (`run_dir` holds them), with paths made relative to
/// the run's own `project_root` (shards may have run in other checkouts; `fallback_root`
/// when the run does not say). Returns the coverage and that root.
pub fn load_stored(
    c: &crate::model::RunCoverage,
    run_dir: &Path,
    project_root: Option<&str>,
    fallback_root: &Path,
) -> anyhow::Result<(super::Coverage, PathBuf)> {
    let root = project_root.map_or_else(|| fallback_root.to_owned(), PathBuf::from);
    let reports: Vec<PathBuf> = c.reports.iter().map(|r| run_dir.join(r)).collect();
    Ok((super::load(&reports, &root)?, root))
}

/// The merged LCOV in a run's coverage directory.
pub const MERGED: &str = "merged.lcov";

fn relative_name(path: &Path, run_dir: &Path) -> String {
    path.strip_prefix(run_dir)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Statuses of several runs' frameworks (shards): collected when any run collected it,
/// otherwise the first run's reason.
pub fn combine_statuses(
    all: impl IntoIterator<Item = FrameworkCoverage>,
) -> Vec<FrameworkCoverage> {
    let mut out: Vec<FrameworkCoverage> = Vec::new();
    for s in all {
        match out.iter_mut().find(|o| o.framework == s.framework) {
            Some(o) if o.status != "collected" && s.status == "collected" => *o = s,
            Some(_) => {}
            None => out.push(s),
        }
    }
    out
}
