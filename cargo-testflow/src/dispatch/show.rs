//! `cargo testflow show`.

use std::io::Write;

use anyhow::Result;

use testflow::store::Store;
use testflow::{exit_code, ui};

use crate::args::{OutputFormat, ShowArgs};
use crate::dispatch::shared::project_root;

pub(crate) fn show_cmd(args: ShowArgs) -> Result<i32> {
    let store = Store::discover(&project_root(args.project.as_deref())?);
    let found = testflow::show::find(&store, &args.id, args.run.as_deref())?;
    let _ = writeln!(
        std::io::stderr(),
        "{}",
        testflow::store::reading_line(&found.run)
    );
    let mut out = std::io::stdout().lock();
    match args.format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &testflow::show::to_json(&found)?)?;
            writeln!(out)?;
        }
        OutputFormat::Human => write!(out, "{}", ui::safe(&testflow::show::render_human(&found)))?,
    }
    Ok(exit_code::OK)
}
