//! `cargo testflow`: the command line over the `testflow` engine. Parsing ([`args`]),
//! dispatch (one file per command in [`dispatch`]) and the human output ([`output`])
//! only; the work happens in the library.

mod args;
mod dispatch;
mod output;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use testflow::error::Error;
use testflow::exit_code;

use crate::args::Cli;

fn main() -> ExitCode {
    // As a cargo subcommand we are called `cargo-testflow testflow …`.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "testflow") {
        args.remove(1);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit_code::USAGE as u8
            } else {
                0
            });
        }
    };
    let code = match dispatch::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            let e = Error::from(e);
            let _ = writeln!(std::io::stderr(), "error: {e}");
            e.exit_code()
        }
    };
    ExitCode::from(code as u8)
}
