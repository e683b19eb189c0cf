//! `cargo testflow history import|slowest|flaky|trend|test`.

use std::io::Write;

use anyhow::Result;

use testflow::exit_code;
use testflow::store::Store;

use crate::args::{HistoryCmd, OutputFormat};
use crate::dispatch::shared::{load_config, project_root};
use crate::output::print_rows;

pub(crate) fn history_cmd(cmd: HistoryCmd) -> Result<i32> {
    use testflow::history::History;
    let common = match &cmd {
        HistoryCmd::Import { common, .. } => common.clone(),
        HistoryCmd::Slowest(q)
        | HistoryCmd::Flaky(q)
        | HistoryCmd::Trend(q)
        | HistoryCmd::Test { query: q, .. } => q.common.clone(),
    };
    let store = Store::discover(&project_root(common.project.as_deref())?);
    let mut history = match &cmd {
        HistoryCmd::Import { .. } => History::open(store.root())?,
        // Reading never creates `.testflow/`.
        _ => History::open_existing(store.root())?.ok_or_else(|| {
            testflow::store::NotRecorded(testflow::store::no_runs_yet(store.root()))
        })?,
    };
    let human = common.format == OutputFormat::Human;
    let mut err = std::io::stderr();
    match cmd {
        HistoryCmd::Import { files, .. } => {
            let keep = testflow::settings::keep_runs(&load_config(common.project.as_deref())?);
            let mut imported = Vec::new();
            for f in &files {
                let run = testflow::import::import_file(f)?;
                history.record(&run, "import", keep)?;
                imported.push(serde_json::json!({ "file": f, "run_id": run.run_id, "tests": run.summary.total }));
            }
            print_rows(common.format, &imported, |r| {
                format!(
                    "{}: {} tests as {}",
                    r["file"].as_str().unwrap_or(""),
                    r["tests"],
                    r["run_id"].as_str().unwrap_or("")
                )
            })?;
        }
        HistoryCmd::Slowest(q) => {
            let rows = history.slowest(q.limit)?;
            if rows.is_empty() && human {
                let _ = writeln!(
                    err,
                    "no timed test results in the {} runs recorded in {}",
                    history.run_count()?,
                    history.path().display()
                );
            }
            print_rows(q.common.format, &rows, |r| {
                format!(
                    "{:>10.1} ms  (max {:.1}, {} runs)  {}",
                    r.recent_ms, r.max_ms, r.runs, r.test_id
                )
            })?
        }
        HistoryCmd::Flaky(q) => {
            let rows = history.flaky(q.limit)?;
            if rows.is_empty() && human {
                let _ = writeln!(
                    err,
                    "no flaky tests in the {} runs recorded in {}",
                    history.run_count()?,
                    history.path().display()
                );
            }
            print_rows(q.common.format, &rows, |r| {
                format!(
                    "{:>5.1}%  failed {} of {} on unchanged trees ({} trees flipped), {} passed on retry, {} runs, last seen {}  {}",
                    r.tree_rate * 100.0,
                    r.tree_failures,
                    r.tree_results,
                    r.flipped_trees,
                    r.passed_on_retry,
                    r.runs,
                    r.last_seen.as_deref().unwrap_or("-"),
                    r.test_id
                )
            })?
        }
        HistoryCmd::Trend(q) => print_rows(q.common.format, &history.trend(q.limit)?, |r| {
            let rate = r
                .pass_rate
                .map_or("-".to_owned(), |p| format!("{:.1}%", p * 100.0));
            format!(
                "{}  {:>6} tests  {:>7} passed  {:>3} flaky  {:>8.1}s  {}",
                r.started_at,
                r.total,
                rate,
                r.flaky,
                r.duration_ms / 1000.0,
                r.run_id
            )
        })?,
        HistoryCmd::Test { id, query } => {
            let rows = history.test(&id, query.limit)?;
            if rows.is_empty() {
                let where_ = format!("in the history ({})", history.path().display());
                return Err(testflow::store::NotRecorded(testflow::lookup::not_found(
                    &where_,
                    &id,
                    &history.test_ids()?,
                ))
                .into());
            }
            print_rows(query.common.format, &rows, |r| {
                format!(
                    "{}  {:<8} {:>10.1} ms  attempts {}  {}",
                    r.started_at, r.outcome, r.duration_ms, r.attempts, r.run_id
                )
            })?
        }
    }
    Ok(exit_code::OK)
}
