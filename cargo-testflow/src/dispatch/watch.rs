//! `cargo testflow watch`.

use std::io::{IsTerminal, Write};

use anyhow::{Context, Result};
use clap::{CommandFactory, FromArgMatches};

use testflow::error::Error;
use testflow::watch::{self, Mode, WatchEvent, WatchListener, WatchOptions};

use crate::args::{Cli, OutputFormat, RunArgs, WatchArgs};
use crate::dispatch::shared::project_root;

/// A forced exit after a signal: the terminal is given back first.
fn forced_exit(signal: i32) {
    watch::keys::restore_terminal();
    crate::dispatch::run::forced_exit(signal);
}

pub(crate) fn watch_cmd(args: WatchArgs) -> Result<i32> {
    let run = check_run_options(&args.run_args)?;
    testflow::interrupt::install(forced_exit);
    let root = project_root(args.project.as_deref())?;
    let opts = WatchOptions {
        root,
        mode: if args.all { Mode::All } else { Mode::Affected },
        debounce: std::time::Duration::from_millis(args.debounce),
        program: std::env::current_exe().context("cannot find the cargo-testflow binary")?,
        run_args: args.run_args.clone(),
        failed_first: !run.order_given,
        outputs: run.outputs,
        child_stdout_to_stderr: args.format == OutputFormat::Json,
    };
    let mut out: Box<dyn WatchListener> = match args.format {
        OutputFormat::Json => Box::new(JsonLines),
        OutputFormat::Human => Box::new(Human {
            clear: std::io::stdout().is_terminal(),
            files: 0,
        }),
    };
    let reason = watch::watch(&opts, out.as_mut())?;
    Ok(reason.exit_code())
}

/// What watch needs from the run options: checked once, as `run` would parse them.
struct RunOptionsSeen {
    order_given: bool,
    /// The reports each round writes: not changes.
    outputs: Vec<std::path::PathBuf>,
}

fn check_run_options(run_args: &[String]) -> Result<RunOptionsSeen> {
    // What selects a round's tests is watch's to give (before the framework's `--`).
    let own = run_args.iter().take_while(|a| *a != "--").find(|a| {
        ["--affected", "--changed"]
            .iter()
            .any(|f| a == f || a.starts_with(&format!("{f}=")))
    });
    if let Some(flag) = own {
        return Err(Error::config(anyhow::anyhow!(
            "{flag}: watch passes --affected and --changed to each round itself (--all runs every test instead)"
        ))
        .into());
    }
    let argv = ["cargo testflow", "run"]
        .into_iter()
        .map(str::to_owned)
        .chain(run_args.iter().cloned());
    let matches = Cli::command().try_get_matches_from(argv).map_err(|e| {
        Error::config(anyhow::anyhow!(
            "the run options after `--`: {}",
            e.render().to_string().trim_end()
        ))
    })?;
    let Some(("run", sub)) = matches.subcommand() else {
        anyhow::bail!("the run options after `--` did not parse as `run`'s")
    };
    let given = |id: &str| sub.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    for (id, flag) in [("project", "--project"), ("format", "--format")] {
        if given(id) {
            return Err(Error::config(anyhow::anyhow!(
                "{flag} is watch's own option: give it before `--` (cargo testflow watch {flag} … -- RUN OPTIONS)"
            ))
            .into());
        }
    }
    let parsed = RunArgs::from_arg_matches(sub).map_err(Error::config)?;
    Ok(RunOptionsSeen {
        order_given: given("order"),
        outputs: parsed.reports.into_iter().map(|r| r.path).collect(),
    })
}

/// `--format json`: one line per event, flushed, for programs that follow along.
struct JsonLines;

impl WatchListener for JsonLines {
    fn event(&mut self, event: &WatchEvent) {
        let mut out = std::io::stdout().lock();
        if serde_json::to_writer(&mut out, event).is_ok() {
            let _ = writeln!(out);
        }
        let _ = out.flush();
    }
}

struct Human {
    /// stdout is a terminal: a clear screen before each round.
    clear: bool,
    files: usize,
}

impl WatchListener for Human {
    fn event(&mut self, event: &WatchEvent) {
        if let WatchEvent::Watching { files, .. } = event {
            self.files = *files;
        }
        let mut out = std::io::stdout().lock();
        if self.clear && matches!(event, WatchEvent::RoundStarted { .. }) {
            // Home and clear the screen, not the scrollback.
            let _ = write!(out, "\x1b[H\x1b[2J");
        }
        if let Some(line) = testflow::ui::watch::line(event, self.files) {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }
}
