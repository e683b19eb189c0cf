//! `cargo testflow shard plan`.

use std::io::Write;

use anyhow::Result;

use testflow::exit_code;
use testflow::store::Store;

use crate::args::{OutputFormat, ShardPlanArgs};
use crate::dispatch::shared::{SuitesHere, suites_here};
use crate::output;

pub(crate) fn shard_plan_cmd(args: ShardPlanArgs) -> Result<i32> {
    use testflow::shard;
    let SuitesHere { dir, suites: found } = suites_here(
        &args.selection,
        args.project.as_deref(),
        &args.filters,
        !args.no_doc,
    )?;
    let store = Store::discover(&dir);
    let history = testflow::history::History::open_existing(store.root())
        .ok()
        .flatten();
    let durations = history
        .as_ref()
        .and_then(|h| h.durations_for_sharding(20).ok())
        .unwrap_or_default();
    let timings_run = history
        .as_ref()
        .and_then(|h| h.latest_real_whole_run().ok().flatten());
    let _ = match &timings_run {
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
    let strategy = args
        .shard_strategy
        .unwrap_or_else(|| shard::default_strategy(&durations));
    // Each framework is planned at its own grain, as `run --shard` does; shard K runs
    // shard K of each.
    let mut suites: Vec<(String, shard::Plan)> = Vec::new();
    for mut suite in found {
        let Some((items, grain)) = suite.shard_items(&mut std::io::stderr())? else {
            return Ok(exit_code::BUILD_FAILED);
        };
        let plan =
            testflow::selection::plan_units(&items, args.shards, strategy, grain, &durations);
        suites.push((suite.framework().as_str().into(), plan));
    }
    let plans: Vec<shard::Plan> = suites.iter().map(|(_, p)| p.clone()).collect();
    let plan = shard::combine(&plans, strategy);
    let mut out = std::io::stdout().lock();
    match args.format {
        OutputFormat::Json => {
            let mut v = serde_json::to_value(&plan)?;
            v["run_id"] = serde_json::json!(timings_run.as_ref().map(|r| &r.run_id));
            v["suites"] = serde_json::Value::Array(
                suites
                    .iter()
                    .map(|(f, p)| serde_json::json!({"framework": f, "plan": p}))
                    .collect(),
            );
            serde_json::to_writer_pretty(&mut out, &v)?;
            writeln!(out)?;
        }
        OutputFormat::Human => write!(out, "{}", output::shard_plan_text(&plan, args.shards))?,
    }
    Ok(exit_code::OK)
}
