//! `cargo testflow`: the command line over the `testflow` engine. Parsing and dispatch
//! only; the work happens in the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use testflow::exit_code;
use testflow::frameworks::cargo::{
    self as cargo_fw, CargoOptions, DocMode, IgnoredMode, Isolation, Selection,
};
use testflow::model::Framework;
use testflow::report::{self, ReportFormat, ReportSpec};
use testflow::runner::{RunOptions, default_jobs};
use testflow::session::{self, RunRequest};
use testflow::store::Store;
use testflow::ui::{self, Printer, Style};

const EXIT_CODES: &str = "\
Exit codes:
    0    every test passed (tests that passed on a retry count as passed, marked flaky)
    1    testflow itself failed (cannot write its state directory, bad run file, …)
    2    usage error (bad flag or value)
    4    no tests ran (the filter matched nothing)
  100    tests failed, errored, timed out or crashed
  101    the build failed (or its test binaries could not be listed)
  130    interrupted by Ctrl-C; everything recorded so far is kept";

#[derive(Parser)]
#[command(
    name = "cargo testflow",
    bin_name = "cargo testflow",
    version,
    about = "Run, record and report test suites: Rust (one process per test), with a crash-safe event log",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build and run the workspace's tests, record the run, write reports.
    ///
    /// Every test runs in its own process (like cargo-nextest), so a crash or hang takes
    /// down only that test; doctests run too. The run is recorded as it goes in
    /// `.testflow/runs/<run-id>/events.jsonl` (or under $TESTFLOW_DIR), and `run.json` at the end.
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// Build the workspace and list the test suites found, with their test counts.
    List(ListArgs),
    /// Write a report (JUnit XML, JSON) from a recorded run.
    Report(ReportArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    /// For people.
    Human,
    /// For programs: one JSON document on stdout.
    Json,
}

#[derive(Args)]
struct SelectionArgs {
    /// Path to Cargo.toml.
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
    /// Package to test (repeatable).
    #[arg(short = 'p', long = "package", value_name = "SPEC")]
    packages: Vec<String>,
    /// Test every package in the workspace.
    #[arg(long)]
    workspace: bool,
    /// Exclude packages from --workspace (repeatable).
    #[arg(long, value_name = "SPEC")]
    exclude: Vec<String>,
    /// Features to activate (comma- or space-separated, repeatable).
    #[arg(short = 'F', long, value_name = "FEATURES")]
    features: Vec<String>,
    /// Activate all features.
    #[arg(long)]
    all_features: bool,
    /// Do not activate the `default` feature.
    #[arg(long)]
    no_default_features: bool,
    /// Build in release mode.
    #[arg(long)]
    release: bool,
    /// Test only the library's unit tests (no doctests unless --doc).
    #[arg(long)]
    lib: bool,
    /// Test only binaries' unit tests.
    #[arg(long)]
    bins: bool,
    /// Test only integration tests (`tests/*.rs`).
    #[arg(long)]
    tests: bool,
    /// Test only the named integration test (repeatable).
    #[arg(long = "test", value_name = "NAME")]
    test_targets: Vec<String>,
}

impl SelectionArgs {
    fn targets(&self) -> Vec<String> {
        let mut t = Vec::new();
        for (on, flag) in [
            (self.lib, "--lib"),
            (self.bins, "--bins"),
            (self.tests, "--tests"),
        ] {
            if on {
                t.push(flag.to_owned());
            }
        }
        for name in &self.test_targets {
            t.extend(["--test".to_owned(), name.clone()]);
        }
        t
    }

    fn selection(&self) -> Selection {
        Selection {
            dir: None,
            // Absolute, because cargo is also run from the workspace root (doctests).
            manifest_path: self
                .manifest_path
                .as_ref()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
            packages: self.packages.clone(),
            workspace: self.workspace,
            exclude: self.exclude.clone(),
            features: self.features.clone(),
            all_features: self.all_features,
            no_default_features: self.no_default_features,
            release: self.release,
            targets: self.targets(),
        }
    }
}

#[derive(Args)]
struct RunArgs {
    /// Run only tests whose path contains one of these strings.
    filters: Vec<String>,
    #[command(flatten)]
    selection: SelectionArgs,
    /// Tests to run at once [default: number of CPUs].
    #[arg(short = 'j', long, value_name = "N")]
    jobs: Option<usize>,
    /// Kill a test (its whole process group) after SECS seconds; its outcome is `timeout`.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    test_timeout: Option<Duration>,
    /// Stop the whole run after SECS seconds; tests still running are `timeout`.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    timeout: Option<Duration>,
    /// Run a failing test up to N more times; one that then passes is `passed` and `flaky`.
    #[arg(long, value_name = "N", default_value_t = 0)]
    retries: u32,
    /// Stop scheduling tests after the first failure.
    #[arg(long)]
    fail_fast: bool,
    /// `process`: one process per test (default). `binary`: one process per test binary
    /// (libtest JSON; fastest for many tiny tests; tests left unfinished by a crash are
    /// re-run one per process so the crash is pinned on the right test).
    #[arg(long, value_enum, value_name = "MODE")]
    isolation: Option<Isolation>,
    /// Run only the #[ignore] tests.
    #[arg(long, conflicts_with = "include_ignored")]
    ignored: bool,
    /// Run #[ignore] tests too.
    #[arg(long)]
    include_ignored: bool,
    /// Skip doctests.
    #[arg(long, conflicts_with = "doc")]
    no_doc: bool,
    /// Run only doctests.
    #[arg(long)]
    doc: bool,
    /// Write a report: FORMAT=PATH with FORMAT one of json, junit (repeatable).
    #[arg(long = "report", value_name = "FORMAT=PATH", value_parser = parse_report)]
    reports: Vec<ReportSpec>,
    /// `json` prints the final run (the schema in docs/schema.md) on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    format: OutputFormat,
    /// No per-test lines or progress bar.
    #[arg(short, long)]
    quiet: bool,
    /// Directory to look for test suites in [default: current directory].
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    /// Run only this framework's suites (repeatable): rust, pytest, jest.
    #[arg(long = "framework", value_name = "NAME", value_parser = parse_framework)]
    frameworks: Vec<Framework>,
}

#[derive(Args)]
struct ListArgs {
    #[command(flatten)]
    selection: SelectionArgs,
    /// Skip doctests (listing them compiles them).
    #[arg(long)]
    no_doc: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    format: OutputFormat,
    /// Directory to look for test suites in [default: current directory].
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
}

#[derive(Args)]
struct ReportArgs {
    /// Report format.
    #[arg(long, value_parser = parse_format)]
    format: ReportFormat,
    /// `latest`, a run id, a run directory, or a run.json / events.jsonl file.
    #[arg(long, default_value = "latest", value_name = "RUN")]
    run: String,
    /// Output file [default: stdout].
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Project directory whose `.testflow/` holds the runs [default: current directory].
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(format!(
            "`{s}`: the time limit must be a positive number of seconds"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_report(s: &str) -> Result<ReportSpec, String> {
    ReportSpec::parse(s).map_err(|e| format!("{e:#}"))
}

fn parse_framework(s: &str) -> Result<Framework, String> {
    s.parse::<Framework>().map_err(|e| format!("{e:#}"))
}

fn parse_format(s: &str) -> Result<ReportFormat, String> {
    ReportFormat::parse(s).map_err(|e| format!("{e:#}"))
}

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
    let code = match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            if e.is::<cargo_fw::MetadataFailed>() {
                exit_code::BUILD_FAILED
            } else if e.is::<session::NothingToRun>() {
                exit_code::NO_TESTS
            } else {
                exit_code::INTERNAL
            }
        }
    };
    ExitCode::from(code as u8)
}

fn dispatch(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Run(args) => run(args),
        Command::List(args) => list(args),
        Command::Report(args) => report_cmd(args),
    }
}

fn run(args: RunArgs) -> Result<i32> {
    session::install_interrupt_handler();
    let mut cargo = CargoOptions {
        selection: args.selection.selection(),
        filters: args.filters.clone(),
        ignored: if args.ignored {
            IgnoredMode::Only
        } else if args.include_ignored {
            IgnoredMode::Include
        } else {
            IgnoredMode::Skip
        },
        doc: if args.no_doc {
            DocMode::Skip
        } else if args.doc {
            DocMode::Only
        } else {
            DocMode::Include
        },
        isolation: args.isolation,
    };
    cargo.selection.dir = args.project.clone();
    let options = RunOptions {
        jobs: args.jobs.filter(|j| *j > 0).unwrap_or_else(default_jobs),
        test_timeout: args.test_timeout,
        run_timeout: args.timeout,
        retries: args.retries,
        fail_fast: args.fail_fast,
        filters: args.filters.clone(),
        ..RunOptions::default()
    };
    let style = Style::detect(args.quiet);
    let printer = Printer::new(style);
    let mut build_echo: Box<dyn Write + Send> = if args.quiet {
        Box::new(std::io::sink())
    } else {
        Box::new(std::io::stderr())
    };
    let result = session::run(
        RunRequest {
            project_dir: match &args.project {
                Some(p) => std::path::absolute(p).unwrap_or_else(|_| p.clone()),
                None => std::env::current_dir().context("cannot read the current directory")?,
            },
            frameworks: (!args.frameworks.is_empty()).then(|| args.frameworks.clone()),
            cargo,
            options,
        },
        Box::new(printer),
        &mut build_echo,
    )?;
    let mut err = std::io::stderr();
    for w in &result.log_warnings {
        let _ = writeln!(err, "warning: {w}");
    }
    let mut code = result.exit_code;
    for spec in &args.reports {
        if let Err(e) = report::write(&result.run, spec) {
            let _ = writeln!(err, "error: {e:#}");
            code = code.max(exit_code::INTERNAL);
        }
    }
    if !args.quiet || args.format == OutputFormat::Human {
        let _ = write!(err, "{}", ui::summary(&result.run, style));
        let _ = writeln!(err, "run recorded in {}", result.run_dir.display());
    }
    if args.format == OutputFormat::Json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, &result.run)?;
        writeln!(out)?;
    }
    Ok(code)
}

fn list(args: ListArgs) -> Result<i32> {
    let mut selection = args.selection.selection();
    selection.dir = args.project.clone();
    let dir = match &args.project {
        Some(p) => std::path::absolute(p).unwrap_or_else(|_| p.clone()),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let use_cargo = selection.manifest_path.is_some()
        || dir.ancestors().any(|d| d.join("Cargo.toml").is_file());
    let others = testflow::frameworks::detect_suites(&dir, &|_| true)?;
    if !use_cargo && others.is_empty() {
        return Err(session::NothingToRun(dir).into());
    }
    let mut suites = Vec::new();
    if use_cargo {
        let listing = cargo_fw::list_suites(&selection, !args.no_doc, &mut std::io::stderr())?;
        let Some(cargo_suites) = listing else {
            return Ok(exit_code::BUILD_FAILED);
        };
        suites = cargo_suites;
    }
    for suite in &others {
        suites.extend(suite.listing()?);
    }
    if args.format == OutputFormat::Json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &suites)?;
        writeln!(out)?;
    } else {
        let mut out = std::io::stdout().lock();
        let total: usize = suites.iter().map(|s| s.tests).sum();
        for s in &suites {
            let ignored = if s.ignored > 0 {
                format!(" ({} ignored)", s.ignored)
            } else {
                String::new()
            };
            writeln!(out, "{:>6}  {} [{}]{ignored}", s.tests, s.id, s.kind)?;
        }
        writeln!(out, "{total} tests in {} suites", suites.len())?;
    }
    Ok(exit_code::OK)
}

fn report_cmd(args: ReportArgs) -> Result<i32> {
    let project = match args.project {
        Some(p) => p,
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let store = Store::discover(&project);
    let run = store.load(&args.run)?;
    match args.output {
        Some(path) => report::write(
            &run,
            &ReportSpec {
                format: args.format,
                path,
            },
        )?,
        None => std::io::stdout()
            .lock()
            .write_all(&report::render(&run, args.format)?)?,
    }
    Ok(exit_code::OK)
}
