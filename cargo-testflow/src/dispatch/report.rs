//! `cargo testflow report`.

use std::io::Write;

use anyhow::Result;

use testflow::exit_code;
use testflow::report::{self, ReportSpec};
use testflow::store::Store;

use crate::args::ReportArgs;
use crate::dispatch::shared::{project_root, say_reading};

pub(crate) fn report_cmd(args: ReportArgs) -> Result<i32> {
    let store = Store::discover(&project_root(args.project.as_deref())?);
    let (_, run) = store.resolve_run(&args.run)?;
    say_reading(&store, &args.run, &run);
    // Unreadable or truncated log lines (a run killed mid-write) are skipped, not fatal: say so.
    let mut err = std::io::stderr();
    for e in run
        .errors
        .iter()
        .filter(|e| e.kind == testflow::model::error_kind::LOG_DAMAGED)
    {
        let _ = writeln!(err, "warning: {}", e.message);
    }
    let extras = testflow::report::Extras::load([args.format].into_iter(), Some(store.root()));
    match args.output {
        Some(path) => report::write_with(
            &run,
            &ReportSpec {
                format: args.format,
                path,
            },
            &extras,
        )?,
        None => {
            std::io::stdout()
                .lock()
                .write_all(&report::render_with(&run, args.format, &extras)?)?
        }
    }
    Ok(exit_code::OK)
}
