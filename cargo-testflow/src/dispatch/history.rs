//! `cargo testflow history import|slowest|flaky|trend|test`.

use std::io::Write;

use anyhow::Result;

use testflow::exit_code;
use testflow::store::Store;

use crate::args::{HistoryCmd, OutputFormat};
use crate::dispatch::shared::{load_config, project_root};
use crate::output::{self, print_rows};

pub(crate) fn history_cmd(cmd: HistoryCmd) -> Result<i32> {
    use testflow::history::History;
    let common = match &cmd {
        HistoryCmd::Import { common, .. } => common.clone(),
        HistoryCmd::Slowest(q)
        | HistoryCmd::Flaky(q)
        | HistoryCmd::Trend(q)
        | HistoryCmd::Selection(q)
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
            print_rows(common.format, &imported, output::history_import_row)?;
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
            print_rows(q.common.format, &rows, output::slowest_row)?
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
            print_rows(q.common.format, &rows, output::flaky_row)?
        }
        HistoryCmd::Trend(q) => {
            print_rows(q.common.format, &history.trend(q.limit)?, output::trend_row)?
        }
        HistoryCmd::Selection(q) => {
            let report = testflow::affected::store::selection_report(&history, q.limit)?;
            let mut out = std::io::stdout().lock();
            match q.common.format {
                OutputFormat::Json => {
                    serde_json::to_writer_pretty(&mut out, &report)?;
                    writeln!(out)?;
                }
                OutputFormat::Human => {
                    write!(out, "{}", testflow::ui::tables::selection_text(&report))?
                }
            }
        }
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
            print_rows(query.common.format, &rows, output::test_row)?
        }
    }
    Ok(exit_code::OK)
}
