//! `cargo testflow merge`.

use anyhow::Result;
use std::io::Write;

use testflow::session;
use testflow::store::Store;
use testflow::ui::{self, Style};

use crate::args::{MergeArgs, OutputFormat};
use crate::dispatch::shared::{github_annotations, load_config, project_dir};

pub(crate) fn merge_cmd(args: MergeArgs) -> Result<i32> {
    let store = Store::discover(&project_dir(args.project.as_deref())?);
    // Retention is the configuration's (`[history] keep_runs`), as after `run`.
    let keep_runs = testflow::settings::keep_runs(&load_config(args.project.as_deref())?);
    let merged = testflow::merge::merge_stored(
        &store,
        &args.runs,
        args.expected.as_deref(),
        &args.output,
        keep_runs,
    )?;
    github_annotations(
        &merged,
        Some(store.root()),
        testflow::annotations::Door::Merge,
        args.format == OutputFormat::Json,
    );
    let mut err = std::io::stderr();
    for e in merged.errors.iter().filter(|e| {
        matches!(
            e.kind.as_str(),
            "duplicate" | "missing" | "merge_conflict" | "affected_mismatch"
        )
    }) {
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
