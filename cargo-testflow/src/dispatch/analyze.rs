//! `cargo testflow analyze`.

use std::io::Write;

use anyhow::Result;

use testflow::store::Store;
use testflow::{analyze, exit_code, ui};

use crate::args::{AnalyzeArgs, OutputFormat};
use crate::dispatch::shared::{load_run, project_root};

pub(crate) fn analyze_cmd(args: AnalyzeArgs) -> Result<i32> {
    let store = Store::discover(&project_root(args.project.as_deref())?);
    let run = load_run(args.project, &args.run)?;
    let analysis = analyze::analyze_stored(&run, &store);
    let json = serde_json::to_vec_pretty(&analysis)?;
    if let Some(path) = &args.output {
        testflow::store::write_atomic(path, &json)?;
    }
    match args.format {
        OutputFormat::Json => {
            let mut out = std::io::stdout().lock();
            out.write_all(&json)?;
            writeln!(out)?;
        }
        OutputFormat::Human => write!(
            std::io::stdout().lock(),
            "{}",
            ui::safe(&analyze::render_human(&analysis))
        )?,
    }
    Ok(exit_code::OK)
}
