//! `cargo testflow gate`.

use std::io::Write;

use anyhow::Result;

use testflow::store::Store;
use testflow::{exit_code, gate};

use crate::args::{GateCmdArgs, OutputFormat};
use crate::dispatch::shared::{load_config, project_dir};

pub(crate) fn gate_cmd(args: GateCmdArgs) -> Result<i32> {
    let cfg = load_config(args.project.as_deref())?;
    let root = project_dir(args.project.as_deref())?;
    // A verdict reads the newest run, even one that ran nothing: never an older green one.
    let (_, run) = Store::discover(&root).resolve_newest(&args.run)?;
    let _ = writeln!(std::io::stderr(), "{}", testflow::store::reading_line(&run));
    let report = gate::evaluate_stored(&run, &args.gates.gates(&cfg.gates), &args.coverage, &root)?;
    match args.format {
        OutputFormat::Json => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        OutputFormat::Human => write!(std::io::stdout().lock(), "{}", gate::render_human(&report))?,
    }
    Ok(if report.passed {
        exit_code::OK
    } else {
        exit_code::GATE_FAILED
    })
}
