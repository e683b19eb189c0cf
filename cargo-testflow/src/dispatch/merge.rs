//! `cargo testflow merge`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};

use testflow::session;
use testflow::store::Store;
use testflow::ui::{self, Style};

use crate::args::{MergeArgs, OutputFormat};
use crate::dispatch::shared::{coverage_dir, github_annotations, load_config, project_dir};

pub(crate) fn merge_cmd(args: MergeArgs) -> Result<i32> {
    let store = Store::discover(&project_dir(args.project.as_deref())?);
    let keep_runs = testflow::settings::keep_runs(&load_config(args.project.as_deref())?);
    let mut inputs = Vec::new();
    let mut dirs = Vec::new();
    for r in &args.runs {
        let path = store.resolve(r)?;
        let run = testflow::store::load_run(&path)?;
        dirs.push(coverage_dir(&store, &path, &run));
        inputs.push((r.clone(), run));
    }
    let coverage = merge_coverage(&inputs, &dirs)?;
    let expected: Option<Vec<String>> = match &args.expected {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            let ids: Option<Vec<String>> = match &v {
                serde_json::Value::Array(a) => {
                    a.iter().map(|x| x.as_str().map(str::to_owned)).collect()
                }
                _ => v["shards"].as_array().map(|shards| {
                    shards
                        .iter()
                        .flat_map(|s| s["tests"].as_array().into_iter().flatten())
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect()
                }),
            };
            Some(ids.with_context(|| {
                format!(
                    "{}: expected a shard plan or a JSON array of test ids",
                    path.display()
                )
            })?)
        }
    };
    let mut merged = testflow::merge::merge(inputs, expected.as_deref());
    let history = testflow::history::History::open(store.root()).ok();
    if let Some((cov, statuses)) = coverage {
        let baseline = |files: &[testflow::coverage::FileSummary]| {
            history
                .as_ref()?
                .coverage_baseline(&merged, files)
                .ok()
                .flatten()
        };
        merged.coverage = Some(testflow::coverage::collect::finish(
            &args.output.join(testflow::coverage::collect::DIR),
            &cov,
            statuses,
            Vec::new(),
            baseline,
        )?);
    }
    testflow::store::write_atomic(
        &args.output.join(testflow::store::RUN_FILE),
        &serde_json::to_vec(&merged)?,
    )?;
    // The merged run is a whole run: its timings plan the next shards.
    // Retention is the configuration's (`[history] keep_runs`), as after `run`.
    if let Some(mut h) = history {
        let _ = h.record(&merged, "merge", keep_runs);
    }
    github_annotations(
        &merged,
        Some(store.root()),
        testflow::annotations::Door::Merge,
        args.format == OutputFormat::Json,
    );
    let mut err = std::io::stderr();
    for e in merged
        .errors
        .iter()
        .filter(|e| matches!(e.kind.as_str(), "duplicate" | "missing" | "merge_conflict"))
    {
        let _ = writeln!(err, "warning: {}", e.message);
    }
    if args.format == OutputFormat::Json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, &merged)?;
        writeln!(out)?;
    } else {
        let _ = write!(err, "{}", ui::summary(&merged, Style::detect(false)));
        let _ = writeln!(
            err,
            "merged run written to {}",
            args.output.join(testflow::store::RUN_FILE).display()
        );
    }
    Ok(session::exit_code_for(&merged, None))
}

/// The shards' coverage, each report read with paths relative to its own run's project
/// (shards may run in different checkouts), merged; `None` when no shard measured any.
fn merge_coverage(
    inputs: &[(String, testflow::model::Run)],
    dirs: &[PathBuf],
) -> Result<
    Option<(
        testflow::coverage::Coverage,
        Vec<testflow::model::FrameworkCoverage>,
    )>,
> {
    if inputs.iter().all(|(_, r)| r.coverage.is_none()) {
        return Ok(None);
    }
    let mut cov = testflow::coverage::Coverage::default();
    let mut statuses = Vec::new();
    for ((label, run), dir) in inputs.iter().zip(dirs) {
        let Some(c) = &run.coverage else { continue };
        let (one, _) =
            testflow::coverage::collect::load_stored(c, dir, run.project_root.as_deref(), dir)
                .with_context(|| format!("coverage of {label}"))?;
        cov.merge(one);
        statuses.extend(c.frameworks.iter().cloned());
    }
    Ok(Some((
        cov,
        testflow::coverage::collect::combine_statuses(statuses),
    )))
}
