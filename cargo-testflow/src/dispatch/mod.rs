//! One file per command: what it does, calling the engine, and what it prints.

mod analyze;
mod ci;
mod coverage;
mod gate;
mod history;
mod iterate;
mod list;
mod merge;
mod quarantine;
mod report;
mod run;
mod shard;
mod shared;
mod show;
mod watch;

use anyhow::Result;

use crate::args::{Cli, Command, ShardCmd};

/// Runs the command; its exit code.
pub(crate) fn dispatch(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Run(args) => run::run(*args),
        Command::Quarantine(cmd) => quarantine::quarantine_cmd(cmd),
        Command::List(args) => list::list(args),
        Command::Report(args) => report::report_cmd(args),
        Command::Analyze(args) => analyze::analyze_cmd(args),
        Command::Show(args) => show::show_cmd(args),
        Command::Coverage(cmd) => coverage::coverage_cmd(cmd),
        Command::Gate(args) => gate::gate_cmd(*args),
        Command::Iterate(args) => iterate::iterate_cmd(*args),
        Command::History(cmd) => history::history_cmd(cmd),
        Command::Shard(ShardCmd::Plan(args)) => shard::shard_plan_cmd(args),
        Command::Merge(args) => merge::merge_cmd(args),
        Command::Ci(args) => ci::ci_cmd(args),
        Command::Watch(args) => watch::watch_cmd(args),
    }
}
