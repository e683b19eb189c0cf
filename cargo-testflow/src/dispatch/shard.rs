//! `cargo testflow shard plan`.

use std::io::Write;

use anyhow::Result;

use testflow::exit_code;
use testflow::store::Store;

use crate::args::{OutputFormat, ShardPlanArgs};
use crate::dispatch::shared::{SuitesHere, affected_preview, suites_here};
use crate::output;

pub(crate) fn shard_plan_cmd(args: ShardPlanArgs) -> Result<i32> {
    let mut here = suites_here(
        &args.selection,
        args.project.as_deref(),
        &args.filters,
        !args.no_doc,
    )?;
    let affected = match affected_preview(&args.affected, args.project.as_deref(), &mut here)? {
        Some(Err(code)) => return Ok(code),
        Some(Ok(plan)) => Some(plan),
        None => None,
    };
    let SuitesHere { dir, suites: found } = here;
    let store = Store::discover(&dir);
    let Some(planned) = testflow::selection::plan_suites_affected(
        found,
        args.shards,
        args.shard_strategy,
        store.root(),
        affected.as_ref(),
        &mut std::io::stderr(),
    )?
    else {
        return Ok(exit_code::BUILD_FAILED);
    };
    let _ = match &planned.timings_run {
        Some(r) => writeln!(
            std::io::stderr(),
            "reading run {} ({}, {} tests) and the runs before it for timings",
            r.run_id,
            r.started_at,
            r.total
        ),
        None => writeln!(
            std::io::stderr(),
            "no recorded run with tests in {}: no timings",
            store.root().display()
        ),
    };
    let (plan, suites, timings_run) = (planned.plan, planned.suites, planned.timings_run);
    let mut out = std::io::stdout().lock();
    match args.format {
        OutputFormat::Json => {
            let mut v = serde_json::to_value(&plan)?;
            v["run_id"] = serde_json::json!(timings_run.as_ref().map(|r| &r.run_id));
            // `--affected`: the selection the shards split, as a run records it.
            if let Some(plan) = &affected {
                v["affected"] = serde_json::to_value(plan.record())?;
            }
            v["suites"] = serde_json::Value::Array(
                suites
                    .iter()
                    .map(|(f, p)| serde_json::json!({"framework": f.as_str(), "plan": p}))
                    .collect(),
            );
            serde_json::to_writer_pretty(&mut out, &v)?;
            writeln!(out)?;
        }
        OutputFormat::Human => write!(out, "{}", output::shard_plan_text(&plan, args.shards))?,
    }
    Ok(exit_code::OK)
}
