//! Printing what the commands show: rows as JSON or as the human lines that
//! `testflow::ui::tables` renders (every human renderer is in the engine's `ui`).

use std::io::Write;

use anyhow::Result;

use crate::args::OutputFormat;

/// Print rows as JSON, or as a table made by `human`.
pub(crate) fn print_rows<T: serde::Serialize>(
    format: OutputFormat,
    rows: &[T],
    human: impl Fn(&T) -> String,
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, rows)?;
            writeln!(out)?;
        }
        OutputFormat::Human => {
            for r in rows {
                writeln!(out, "{}", human(r))?;
            }
        }
    }
    Ok(())
}

pub(crate) use testflow::ui::tables::{
    flaky_row, history_import_row, list_text, quarantine_row, shard_plan_text, slowest_row,
    test_row, trend_row,
};
