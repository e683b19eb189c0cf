//! `cargo testflow`: the command line over the `testflow` engine. Parsing and dispatch
//! only; the work happens in the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use testflow::choice::Choice;

use testflow::analyze;
use testflow::config;
use testflow::error::Error;
use testflow::exit_code;
use testflow::frameworks::cargo::{
    self as cargo_fw, CargoOptions, DocMode, IgnoredMode, Isolation, Selection,
};
use testflow::gate::{self, Gate, GateName};
use testflow::iterate;
use testflow::model::Framework;
use testflow::report::{self, ReportFormat, ReportSpec};
use testflow::runner::{RunOptions, default_jobs};
use testflow::session::Order;
use testflow::session::{self, RunRequest};
use testflow::shard::{ShardSpec, Strategy};
use testflow::store::Store;
use testflow::ui::{self, Printer, Style};

const EXIT_CODES: &str = "\
Exit codes:
    0    every test passed (tests that passed on a retry count as passed, marked flaky;
         the failures of quarantined tests do not count)
    1    testflow itself failed (cannot write its state directory, bad run file, …)
    2    usage error (bad flag, value or configuration file)
    3    a required quality gate failed (`gate`; `run --gate`: the tests passed, but a
         required gate failed)
    4    no tests ran (the filter matched nothing)
    5    nothing recorded matches what was asked (no runs yet, an unknown run or test id;
         the closest ids are suggested)
   20    iterate: stopped on a regression (more failures than the iteration before)
   21    iterate: stopped on a plateau (no improvement)
   22    iterate: reached --max-iterations
  100    tests failed, errored, timed out or crashed
  101    the build failed (or its tests could not be listed, or pytest / Jest could not run)
  102    run error: no test failed, but the run cannot be trusted as a pass (the framework's
         own totals or exit status disagree with what was recorded, a damaged event log,
         an incomplete run, a testflow worker that failed); each error is named
  129    stopped by SIGHUP; everything recorded so far is kept
  130    interrupted by Ctrl-C (SIGINT); everything recorded so far is kept
  143    stopped by SIGTERM; everything recorded so far is kept
         (a run that has not ended 5 s after the signal exits anyway; a second signal
         exits at once)";

#[derive(Parser)]
#[command(
    name = "cargo testflow",
    bin_name = "cargo testflow",
    version,
    about = "Run, record, analyse and report test suites (Rust, pytest, Jest) with one engine and a crash-safe event log",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the project's tests (Rust, pytest, Jest), record the run, write reports.
    ///
    /// Rust: every test runs in its own process (like cargo-nextest), so a crash or hang
    /// takes down only that test; doctests run too. pytest and Jest projects run through
    /// their own runner with the testflow plugin recording each test. The run is recorded as it goes in
    /// `.testflow/runs/<run-id>/events.jsonl` (or under $TESTFLOW_DIR), and `run.json` at the end.
    #[command(after_help = EXIT_CODES)]
    Run(Box<RunArgs>),
    /// Quarantine: tests that still run and are reported, but whose failures fail neither
    /// the run nor the gates. Edits the `[[quarantine]]` entries of the configuration file
    /// (keeping its comments and formatting); see docs/config.md.
    #[command(subcommand)]
    Quarantine(QuarantineCmd),
    /// Build the workspace and list the test suites found, with their test counts.
    List(ListArgs),
    /// Write a report (JUnit XML, JSON, CTRF, Markdown, HTML) from a recorded run.
    Report(ReportArgs),
    /// Apply quality gates to a recorded run (exit 0 when every required gate passes, 3 otherwise).
    ///
    /// Default gates: min_pass_rate 1.0 and min_tests 1.
    Gate(Box<GateCmdArgs>),
    /// The fix-and-retry loop: run, analyse, fix (with --fix-cmd, or wait for your edit),
    /// run again with the previous failures first, until green or no more progress.
    ///
    /// Stops with success (exit 0), regression (20: more failures than the iteration
    /// before), plateau (21: no improvement for --plateau iterations), max_iterations (22),
    /// or interrupted (130). Each iteration is kept in .testflow/iterations/.
    Iterate(Box<IterateArgs>),
    /// The history of past runs (.testflow/history.db): import results, query timings and flakiness.
    #[command(subcommand)]
    History(HistoryCmd),
    /// Plan how to split the suite across CI machines.
    #[command(subcommand)]
    Shard(ShardCmd),
    /// Join shard runs into one run (written to DIR/run.json; every report works on it).
    Merge(MergeArgs),
    /// Coverage reports: read, merge and summarise LCOV, Cobertura, coverage.py and
    /// Istanbul files, and rank the untested functions (`run --coverage` collects them).
    #[command(subcommand)]
    Coverage(CoverageCmd),
    /// One test's last result in full: outcome, duration, message, location, expected /
    /// actual / diff, captured output, every attempt, and the run it is from.
    ///
    /// Quote the id in single quotes: Rust ids hold a `$`, which a shell expands
    /// (`cargo testflow show 'calc::integ$adds'`). An unknown id gets the closest recorded
    /// ids (exit 5).
    Show(ShowArgs),
    /// Group a run's failures by root cause, with a suggestion for each group.
    ///
    /// `--format json` is compact and stable, for tools and agents.
    Analyze(AnalyzeArgs),
    /// Generate a CI pipeline for this project (Rust, pytest, Jest or a mix): one install
    /// job, N shard jobs split by recorded timings, a merge job with the reports and the
    /// quality gates.
    ///
    /// GitHub Actions (a matrix with TESTFLOW_SHARD), GitLab CI (`parallel: N`) or CircleCI
    /// (`parallelism: N`). The install job builds the pinned testflow version
    /// (TESTFLOW_VERSION at the top of the file) once, cached by version, OS and toolchain;
    /// the other jobs install its build without compiling. The history database travels in
    /// the CI cache: the shards restore it (this branch's, else the default branch's), the
    /// merge job saves it. With --coverage the shards collect coverage and the merge job
    /// gives the merged LCOV and Cobertura to the CI.
    Ci(CiArgs),
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
            env: Vec::new(),
        }
    }
}

#[derive(Args)]
struct RunArgs {
    /// Run only tests whose path contains one of these strings.
    filters: Vec<String>,
    /// After `--`: arguments handed to the framework as they are, after testflow's own:
    /// pytest's command line (`-- -p no:randomly -W error`), Jest's (`-- --silent`), and
    /// every libtest invocation of a Rust test (`-- --show-output`; testflow sets
    /// `--exact`, `--nocapture`, `--format` and `--test-threads` itself: use `-j`).
    #[arg(last = true, value_name = "FRAMEWORK ARGS")]
    framework_args: Vec<String>,
    #[command(flatten)]
    selection: SelectionArgs,
    /// Tests to run at once, at most 1024 (0: one per CPU) [default: number of CPUs].
    /// pytest gets `-n N` (pytest-xdist) and Jest `--maxWorkers=N` only when `-j` is given;
    /// without it, history decides whether their workers pay for their start-up (no
    /// history: pytest is serial below 3,000 collected tests, Jest keeps its own choice).
    #[arg(short = 'j', long, value_name = "N", env = "TESTFLOW_JOBS", value_parser = parse_jobs)]
    jobs: Option<usize>,
    /// Kill a test (its whole process group) after SECS seconds (at most 365 days); its outcome is `timeout`.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, env = "TESTFLOW_TEST_TIMEOUT")]
    test_timeout: Option<Duration>,
    /// Name a test on the terminal (`SLOW [> 60.000s] ID`) each time it has run another SECS
    /// seconds (nothing is recorded for it; at most 365 days; Rust tests and doctests: pytest
    /// and Jest do not report when a test starts) [default: 60].
    #[arg(long, value_name = "SECS", value_parser = parse_secs, env = "TESTFLOW_SLOW_TIMEOUT")]
    slow_timeout: Option<Duration>,
    /// Stop the whole run after SECS seconds (at most 365 days); tests still running are `timeout`.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, env = "TESTFLOW_TIMEOUT")]
    timeout: Option<Duration>,
    /// Run a failing test up to N more times (at most 100); one that then passes is `passed` and `flaky` [default: 0].
    #[arg(long, value_name = "N", env = "TESTFLOW_RETRIES", value_parser = parse_retries)]
    retries: Option<u32>,
    /// Stop scheduling tests after the first failure.
    #[arg(long)]
    fail_fast: bool,
    /// `binary` (default): one process per test binary, as `cargo test` (libtest JSON;
    /// a hung test is killed at its own --test-timeout, and tests left unfinished by a
    /// crash or a hang, or doubted, are re-run one per process). `process`: one process
    /// per test (nextest's semantics). Overrides `[[isolation]]` rules in the config.
    #[arg(long, value_parser = choice::<Isolation>(), value_name = "MODE", env = "TESTFLOW_ISOLATION")]
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
    /// Write a report: FORMAT=PATH with FORMAT one of json, junit, ctrf, markdown, html (repeatable).
    #[arg(long = "report", value_name = "FORMAT=PATH", value_parser = parse_report, env = "TESTFLOW_REPORT", value_delimiter = ',')]
    reports: Vec<ReportSpec>,
    /// `json` prints the final run (the schema in docs/schema.md) on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    format: OutputFormat,
    /// No per-test lines or progress bar.
    #[arg(short, long)]
    quiet: bool,
    /// Directory to look for test suites in [default: the project root: the cargo workspace, pytest or Jest root above the current directory, else the git root].
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    /// Run only shard K of N (1-based, N at most 1000). Read from the CI when not given: TESTFLOW_SHARD,
    /// GitLab CI_NODE_INDEX/TOTAL, CircleCI CIRCLE_NODE_INDEX/TOTAL, Buildkite.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    shard: Option<ShardSpec>,
    /// How to split [default: timings when history has durations, else hash].
    #[arg(long, value_parser = choice::<Strategy>(), value_name = "STRATEGY")]
    shard_strategy: Option<Strategy>,
    /// Test order, from history.
    #[arg(long, value_parser = choice::<Order>(), default_value = "default")]
    order: Order,
    /// Only the tests that failed in the latest run that ran tests (one whose filter
    /// matched nothing or whose build failed does not count; all tests if none failed).
    /// The run read is named on stderr.
    #[arg(long)]
    last_failed: bool,
    /// Apply quality gates after the run (implied by any gate flag); see `cargo testflow gate`.
    #[arg(long)]
    gate: bool,
    #[command(flatten)]
    gates: GateArgs,
    /// Collect coverage with each framework's own tool: pytest-cov, Jest's --coverage,
    /// cargo-llvm-cov for Rust (a missing tool is reported with how to install it). The
    /// reports are kept in the run's coverage/ directory, merged into coverage/merged.lcov,
    /// and compared with the previous run on the branch.
    #[arg(long)]
    coverage: bool,
    /// A coverage report to keep with the run and measure the coverage gates with, read
    /// after the run (repeatable; LCOV, Cobertura, coverage.py JSON, Istanbul JSON).
    #[arg(long = "coverage-file", value_name = "FILE", value_delimiter = ',')]
    coverage_files: Vec<PathBuf>,
    /// Run only this framework's suites (repeatable): rust, pytest, jest. `jest` takes the
    /// directory as a Jest project even when nothing marks it as one, and says what is
    /// missing when Jest cannot run there.
    #[arg(long = "framework", value_name = "NAME", value_parser = parse_framework)]
    frameworks: Vec<Framework>,
    /// Quarantine for this run the tests `history flaky` finds flaky across runs with a
    /// rate above RATE (0.1 or 10%) [default: 0: every one]; the summary names them.
    #[arg(long, value_name = "RATE", num_args = 0..=1, default_missing_value = "0", value_parser = parse_rate)]
    quarantine_flaky: Option<f64>,
}

#[derive(Args)]
struct ListArgs {
    #[command(flatten)]
    selection: SelectionArgs,
    /// Skip doctests (listing them compiles them).
    #[arg(long)]
    no_doc: bool,
    /// Show every test under its suite: its id (as `run` records it), file:line where
    /// known, and `ignored`. Rust: libtest's and rustdoc's listings (`#[ignore]` and
    /// ```` ```ignore ```` marked). pytest: `--collect-only` node ids. Jest: the real
    /// titles, from a Jest run whose test-name pattern matches nothing (Jest loads each
    /// file, runs no test and no hook); Jest's and pytest's skips are only known when
    /// they run, so their `ignored` is unknown. `--format json` always has them.
    /// (`--tests` is cargo's: only the integration tests.)
    #[arg(long)]
    names: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    format: OutputFormat,
    /// Directory to look for test suites in [default: the project root: the cargo workspace, pytest or Jest root above the current directory, else the git root].
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
}

#[derive(Args)]
struct ReportArgs {
    /// Report format: json, junit, ctrf, markdown, html.
    #[arg(long, value_parser = parse_format)]
    format: ReportFormat,
    /// `latest` (the newest run that ran tests: one whose filter matched nothing or whose
    /// build failed is passed over, and named on stderr; the newest when none ran tests),
    /// a run id, a run directory, or a run.json / events.jsonl file.
    #[arg(long, default_value = "latest", value_name = "RUN")]
    run: String,
    /// Output file [default: stdout].
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Project directory whose `.testflow/` holds the runs [default: the project root: the cargo workspace, pytest or Jest root above the current directory, else the git root].
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
}

#[derive(Args, Clone, Default)]
struct GateArgs {
    /// Gate: passed / tests that ran must be at least RATE: 0.95 or 95% [default: 1.0].
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    min_pass_rate: Option<f64>,
    /// Gate: at least N tests must be recorded [default: 1].
    #[arg(long, value_name = "N")]
    min_tests: Option<u64>,
    /// Gate: at most N skipped tests.
    #[arg(long, value_name = "N")]
    max_skipped: Option<u64>,
    /// Gate: at most N flaky tests (passed only on a retry).
    #[arg(long, value_name = "N")]
    max_flaky: Option<u64>,
    /// Gate: the run takes at most SECS seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_gate_secs)]
    max_duration: Option<f64>,
    /// Gate: total line coverage at least RATE (0.8 or 80%), from the run's coverage or
    /// the coverage reports given (without any: "not measured", which fails when required).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    min_coverage: Option<f64>,
    /// Gate: every file's line coverage at least RATE (0.8 or 80%; same coverage).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    min_file_coverage: Option<f64>,
    /// Gate: total line coverage must not fall below the previous run on the same branch
    /// that measured coverage, allowing PTS percentage points [default: 0].
    #[arg(long, value_name = "PTS", num_args = 0..=1, default_missing_value = "0", value_parser = parse_percent)]
    no_coverage_drop: Option<f64>,
    /// Make a gate advisory: reported, but it does not fail (repeatable).
    #[arg(long, value_name = "GATE", value_parser = parse_gate_name)]
    advisory: Vec<GateName>,
}

impl GateArgs {
    /// The gates to apply: command line over the configuration file over the defaults.
    fn gates(&self, file: &config::GatesConfig) -> Vec<Gate> {
        gate::configured(file, &self.flags())
    }

    /// The thresholds given on the command line, as the settings resolver takes them.
    fn flags(&self) -> config::GatesConfig {
        config::GatesConfig {
            min_pass_rate: self.min_pass_rate.map(config::RateSetting::Number),
            min_tests: self.min_tests,
            max_skipped: self.max_skipped,
            max_flaky: self.max_flaky,
            max_duration: self.max_duration,
            min_coverage: self.min_coverage.map(config::RateSetting::Number),
            min_file_coverage: self.min_file_coverage.map(config::RateSetting::Number),
            no_coverage_drop: self.no_coverage_drop.map(config::DropAllowance::Points),
            advisory: (!self.advisory.is_empty()).then(|| {
                self.advisory
                    .iter()
                    .map(|g| g.as_str().to_owned())
                    .collect()
            }),
        }
    }
}

#[derive(Args)]
struct GateCmdArgs {
    /// `latest` (the newest run, even one that ran no tests or failed to build: a verdict
    /// never falls back to an older run), a run id, a run directory, or a run.json /
    /// events.jsonl file.
    #[arg(long, default_value = "latest", value_name = "RUN")]
    run: String,
    #[command(flatten)]
    gates: GateArgs,
    /// Coverage reports (LCOV, Cobertura XML, coverage.py JSON, Istanbul JSON; merged)
    /// that measure the min_coverage and min_file_coverage gates.
    #[arg(long = "coverage", value_name = "FILE", num_args = 1..)]
    coverage: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    format: OutputFormat,
    /// Project directory whose `.testflow/` holds the runs [default: current directory].
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
}

#[derive(Subcommand)]
enum CoverageCmd {
    /// A run's coverage (the latest by default) or coverage report files (format detected
    /// from content, merged): totals, a per-file table and, for a run, what changed since
    /// the previous run on its branch; or the merged coverage as LCOV or Cobertura.
    Report(CoverageReportArgs),
    /// Rank the functions whose uncovered lines are most worth a test: missed lines ×
    /// complexity, highest first.
    ///
    /// Each file of the reports is read from the project (--project) and parsed with
    /// tree-sitter: Python (.py), JavaScript (.js .jsx .mjs .cjs), TypeScript (.ts .tsx .mts
    /// .cts) and Rust (.rs). A function's complexity is 1 + its decision points (if, loops,
    /// case/match arms, catch/except, ternaries, && || ?? and/or, Rust's `?`). Its missed
    /// lines are the report's lines in its span (less nested functions' lines) that never ran.
    /// Files whose source is missing or in another language are skipped and listed.
    ///
    /// JSON: {"files_analyzed", "functions_analyzed", "gaps": [{"file", "function",
    /// "language", "start_line", "end_line", "complexity", "missed_lines", "coverable_lines",
    /// "missed_ranges", "priority"}], "skipped": [{"file", "reason", "detail"}]}, where
    /// reason is "unreadable" or "unknown_language".
    Gaps(CoverageGapsArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum CoverageOutput {
    Human,
    Json,
    Lcov,
    Cobertura,
}

#[derive(Args)]
struct CoverageReportArgs {
    /// LCOV, Cobertura XML, coverage.py JSON or Istanbul coverage-final.json files
    /// [default: the coverage of the run given by --run].
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
    /// The run whose coverage to show: `latest`, a run id or directory [default: latest].
    #[arg(long, value_name = "RUN", conflicts_with = "files")]
    run: Option<String>,
    #[arg(long, value_enum, default_value_t = CoverageOutput::Human)]
    format: CoverageOutput,
    /// Output file [default: stdout].
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Paths are shown relative to DIR [default: current directory].
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
}

#[derive(Args)]
struct CoverageGapsArgs {
    /// LCOV, Cobertura XML, coverage.py JSON or Istanbul coverage-final.json files (merged)
    /// [default: the coverage of the run given by --run].
    #[arg(value_name = "FILE", num_args = 0..)]
    files: Vec<PathBuf>,
    /// The run whose coverage to rank: `latest`, a run id or directory [default: latest].
    #[arg(long, value_name = "RUN", conflicts_with = "files")]
    run: Option<String>,
    /// Project root: report paths are made relative to it and sources read from it
    /// [default: current directory].
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    format: OutputFormat,
    /// Show the top N gaps; 0 for all [default: 20 for human, all for json].
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

#[derive(Args)]
struct IterateArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Stop after N iterations [default: 5].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_iterations: Option<u32>,
    /// Shell command that tries a fix; it gets TESTFLOW_ANALYSIS (the analysis JSON path).
    /// Without it, the loop waits for you to edit files (or press Enter).
    #[arg(long, value_name = "CMD")]
    fix_cmd: Option<String>,
    /// Stop with `plateau` when the failure count has not improved for N iterations [default: 2].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    plateau: Option<u32>,
    /// When the fix command made things worse, restore the tracked files it changed
    /// (needs a clean git tree before it runs; nothing else is touched).
    #[arg(long)]
    rollback_on_regression: bool,
}

#[derive(Subcommand)]
enum QuarantineCmd {
    /// Add an entry (or replace the one with the same id or pattern).
    ///
    /// Quote the id in single quotes: Rust ids hold a `$`, which a shell expands.
    Add {
        /// The test id, as `run` records it.
        #[arg(required_unless_present = "pattern", conflicts_with = "pattern")]
        id: Option<String>,
        /// A glob over test ids instead of one id: `*` any characters (`/`, `::`, `$`
        /// too), `?` one character; the whole id must match.
        #[arg(long, value_name = "GLOB")]
        pattern: Option<String>,
        /// Why the test is quarantined (required).
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// The last day the entry applies (YYYY-MM-DD, UTC); after it, the gate fails.
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
        /// Project directory [default: the current directory; a new entry goes in the
        /// configuration file found from there, or a new testflow.toml at the project root].
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
    },
    /// Remove the entries with this id or pattern.
    Remove {
        id: String,
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
    },
    /// The entries, with their expiry (as of today, UTC).
    List {
        #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
        format: OutputFormat,
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum HistoryCmd {
    /// Ingest JUnit XML (any tool's) or testflow run JSON files / run directories.
    Import {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        common: HistoryCommon,
    },
    /// Slowest tests by recent duration (moving average).
    Slowest(HistoryQuery),
    /// Flaky tests: passed on a retry, or both passed and failed on the same git tree (the
    /// same code) across runs, with the rate (failures on unchanged trees where it also
    /// passed / its results on trees it ran on more than once) and when it was last seen.
    Flaky(HistoryQuery),
    /// Duration, pass rate and flaky count per run.
    Trend(HistoryQuery),
    /// One test's recent results.
    ///
    /// Quote the id in single quotes: Rust ids hold a `$`, which a shell expands
    /// (`cargo testflow history test 'calc::integ$adds'`). An id with no results gets the
    /// closest recorded ids (exit 5).
    Test {
        /// The test id, in single quotes (`'calc::integ$adds'`).
        id: String,
        #[command(flatten)]
        query: HistoryQuery,
    },
}

#[derive(Args, Clone)]
struct HistoryCommon {
    /// Project directory whose `.testflow/` holds the history [default: the project root: the cargo workspace, pytest or Jest root above the current directory, else the git root].
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    format: OutputFormat,
}

#[derive(Args, Clone)]
struct HistoryQuery {
    /// How many rows.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    #[command(flatten)]
    common: HistoryCommon,
}

#[derive(Subcommand)]
enum ShardCmd {
    /// Each shard's tests and predicted time, the imbalance and the lower bound.
    Plan(ShardPlanArgs),
}

#[derive(Args)]
struct ShardPlanArgs {
    /// Number of shards (at most 1000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=testflow::shard::MAX_SHARDS as i64))]
    shards: u32,
    #[arg(long, value_parser = choice::<Strategy>(), value_name = "STRATEGY")]
    shard_strategy: Option<Strategy>,
    /// Filters, as for `run`.
    filters: Vec<String>,
    #[command(flatten)]
    selection: SelectionArgs,
    /// Skip doctests.
    #[arg(long)]
    no_doc: bool,
    /// Directory to look for test suites in [default: the project root: the cargo workspace, pytest or Jest root above the current directory, else the git root].
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    format: OutputFormat,
}

#[derive(Args)]
struct MergeArgs {
    /// Runs: ids, run directories, run.json or events.jsonl files.
    #[arg(required = true, value_name = "RUN")]
    runs: Vec<String>,
    /// Output directory (gets run.json).
    #[arg(short, long, value_name = "DIR")]
    output: PathBuf,
    /// The full test list (a `shard plan --format json` file, or a JSON array of ids):
    /// tests in it that no shard reported are flagged.
    #[arg(long, value_name = "FILE")]
    expected: Option<PathBuf>,
    /// Project directory whose `.testflow/` holds the runs [default: current directory].
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    format: OutputFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum CiName {
    /// GitHub Actions (.github/workflows/testflow.yml).
    Github,
    /// GitLab CI (.gitlab-ci.yml).
    Gitlab,
    /// CircleCI (.circleci/config.yml).
    Circleci,
}

#[derive(Args)]
struct CiArgs {
    /// The CI system.
    #[arg(value_enum)]
    ci: CiName,
    /// Number of shard jobs.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=200))]
    shards: u32,
    /// Write the pipeline to PATH (parent directories are created) [default: stdout].
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Shell command that installs testflow in every CI job, instead of the install job
    /// [default: one install job builds testflow from the tag v<version> of --testflow-git
    /// (from this checkout when it is testflow itself) with `cargo install --locked`, plus
    /// the pytest wheel / Jest reporter tarball when the project needs them, caches the
    /// build by version, OS and toolchain, and the other jobs install what it built].
    #[arg(long, value_name = "CMD")]
    testflow_install: Option<String>,
    /// Git repository the install job builds testflow from.
    #[arg(long, value_name = "URL", default_value = env!("CARGO_PKG_REPOSITORY"))]
    testflow_git: String,
    /// The testflow version the pipeline pins: the TESTFLOW_VERSION variable at the top of
    /// the file (CircleCI: the testflow-version pipeline parameter); the install job builds
    /// the tag v<VERSION>.
    #[arg(long, value_name = "VERSION", default_value = env!("CARGO_PKG_VERSION"), value_parser = parse_testflow_version)]
    testflow_version: String,
    /// Project directory whose test suites the pipeline runs [default: current directory].
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    /// Collect coverage: the shard jobs install the coverage tools (cargo-llvm-cov and
    /// llvm-tools-preview for Rust, pytest-cov for pytest; Jest needs none) and run `cargo
    /// testflow run --coverage`; the merge job merges the shards' coverage and writes it as
    /// LCOV (testflow-out/merged/coverage/merged.lcov) and Cobertura (testflow-out/coverage.xml)
    /// for the CI: a GitHub artifact and the job summary, GitLab's coverage report and
    /// `coverage:` percentage, CircleCI artifacts. The merge job's gate applies
    /// `min_coverage` / `no_coverage_drop` from testflow.toml's `[gates]`.
    #[arg(long)]
    coverage: bool,
    /// The branch whose pushes run the pipeline (GitHub's `on.push.branches`) [default: the
    /// repository's default branch: origin's HEAD, else git's init.defaultBranch, else the
    /// current branch when it is main, master, trunk, develop or default, else main; the
    /// file's header says which].
    #[arg(long, value_name = "NAME", value_parser = parse_branch)]
    branch: Option<testflow::ci::DefaultBranch>,
}

#[derive(Args)]
struct ShowArgs {
    /// The test id, in single quotes (`'calc::integ$adds'`, `'tests/test_a.py::test_b'`).
    id: String,
    /// The run to read: a run id, a run directory or file, or `latest` [default: the
    /// newest run that has this test].
    #[arg(long, value_name = "RUN")]
    run: Option<String>,
    /// `json`: the test (the schema's TestCase) with its `run_id`.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    format: OutputFormat,
    /// Project directory whose `.testflow/` holds the runs [default: the project root].
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
}

#[derive(Args)]
struct AnalyzeArgs {
    /// `latest` (the newest run that ran tests: one whose filter matched nothing or whose
    /// build failed is passed over, and named on stderr; the newest when none ran tests),
    /// a run id, a run directory, or a run.json / events.jsonl file.
    #[arg(long, default_value = "latest", value_name = "RUN")]
    run: String,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    format: OutputFormat,
    /// Also write the JSON analysis to this file.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Project directory whose `.testflow/` holds the runs [default: the project root: the cargo workspace, pytest or Jest root above the current directory, else the git root].
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
}

// The same parsers as the settings resolver uses for the environment.
use testflow::settings::{parse_checked, parse_jobs, parse_retries, parse_secs};

/// The same rules as a rate in testflow.toml: `0.7` or `70%`.
fn parse_rate(s: &str) -> Result<f64, String> {
    config::parse_rate(s)
}

fn parse_percent(s: &str) -> Result<f64, String> {
    parse_checked(s, "a number", config::percent)
}

fn parse_gate_secs(s: &str) -> Result<f64, String> {
    parse_checked(s, "a number of seconds", config::seconds)
}

fn parse_testflow_version(s: &str) -> Result<String, String> {
    testflow::ci::check_version(s).map_err(|e| format!("{e:#}"))
}

fn parse_branch(s: &str) -> Result<testflow::ci::DefaultBranch, String> {
    testflow::ci::DefaultBranch::given(s).map_err(|e| format!("{e:#}"))
}

fn parse_report(s: &str) -> Result<ReportSpec, String> {
    ReportSpec::parse(s).map_err(|e| format!("{e:#}"))
}

fn parse_framework(s: &str) -> Result<Framework, String> {
    s.parse::<Framework>().map_err(|e| format!("{e:#}"))
}

fn parse_shard(s: &str) -> Result<ShardSpec, String> {
    ShardSpec::parse(s).map_err(|e| format!("{e:#}"))
}

fn parse_gate_name(s: &str) -> Result<GateName, String> {
    GateName::parse(s).map_err(|e| format!("{e:#}"))
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
            let e = Error::from(e);
            let _ = writeln!(std::io::stderr(), "error: {e}");
            e.exit_code()
        }
    };
    ExitCode::from(code as u8)
}

fn dispatch(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Run(args) => run(*args),
        Command::Quarantine(cmd) => quarantine_cmd(cmd),
        Command::List(args) => list(args),
        Command::Report(args) => report_cmd(args),
        Command::Analyze(args) => analyze_cmd(args),
        Command::Show(args) => show_cmd(args),
        Command::Coverage(cmd) => coverage_cmd(cmd),
        Command::Gate(args) => gate_cmd(*args),
        Command::Iterate(args) => iterate_cmd(*args),
        Command::History(cmd) => history_cmd(cmd),
        Command::Shard(ShardCmd::Plan(args)) => shard_plan_cmd(args),
        Command::Merge(args) => merge_cmd(args),
        Command::Ci(args) => ci_cmd(args),
    }
}

/// The run did not wind down within the grace time after a signal: say so as it exits.
fn forced_exit(signal: i32) {
    let _ = writeln!(
        std::io::stderr(),
        "error: the run did not stop within {}s of signal {signal}; exiting {} (the run's events.jsonl keeps what was recorded)",
        testflow::interrupt::GRACE.as_secs(),
        exit_code::for_signal(signal)
    );
}

fn run(args: RunArgs) -> Result<i32> {
    testflow::interrupt::install(forced_exit);
    let (result, code) = run_once(&args, &[])?;
    // On GitHub Actions the Markdown summary goes on the job's page (once per command:
    // `iterate` runs many times and must not pile summaries past the 1 MiB cap).
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty())
        && let Err(e) = report::append_step_summary(&result.run, std::path::Path::new(&path))
    {
        let _ = writeln!(std::io::stderr(), "warning: {e:#}");
    }
    let store_root = result.run_dir.parent().and_then(|runs| runs.parent());
    github_annotations(
        &result.run,
        store_root,
        testflow::annotations::Door::Run,
        args.format == OutputFormat::Json,
    );
    if args.format == OutputFormat::Json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, &result.run)?;
        writeln!(out)?;
    }
    Ok(code)
}

/// On GitHub Actions: failures as `::error` annotations on the diff (ranked, within the
/// step's limit), the ones that did not fit counted in the step summary. Workflow commands
/// go to stdout, or to stderr when stdout carries JSON (the runner reads both).
fn github_annotations(
    run: &testflow::model::Run,
    store_root: Option<&std::path::Path>,
    door: testflow::annotations::Door,
    json: bool,
) {
    use testflow::annotations;
    if !annotations::wanted(door, run.shard.is_some()) {
        return;
    }
    let before = store_root
        .and_then(|root| testflow::history::History::open(root).ok())
        .and_then(|h| h.failed_before(run).ok().flatten());
    let chosen = annotations::annotate(run, before.as_ref(), annotations::PER_STEP);
    let text: String = chosen.lines.iter().map(|l| format!("{l}\n")).collect();
    let _ = if json {
        std::io::stderr().write_all(text.as_bytes())
    } else {
        std::io::stdout().write_all(text.as_bytes())
    };
    if let (Some(note), Some(path)) = (
        annotations::omitted_note(chosen.omitted),
        std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()),
    ) && let Err(e) = report::append_to_step_summary(&note, std::path::Path::new(&path))
    {
        let _ = writeln!(std::io::stderr(), "warning: {e:#}");
    }
}

/// One run with the human output, reports and gates; `first` are test ids to schedule first.
fn run_once(args: &RunArgs, first: &[String]) -> Result<(session::RunResult, i32)> {
    // One resolver for every door: file < environment < flags (clap has already put the
    // environment's values into the flags that name a variable).
    let set = resolve_settings(args)?;
    let cfg = &set.config;
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
        // The command line (and TESTFLOW_ISOLATION) decides for every test; otherwise
        // the first `[[isolation]]` rule that matches, then `run.isolation`.
        isolation: args.isolation,
        isolation_rules: isolation_rules(cfg),
        first: first.to_vec(),
        only: None,
    };
    cargo.selection.dir = args.project.clone();
    let options = RunOptions {
        jobs: set.jobs.filter(|j| *j > 0).unwrap_or_else(default_jobs),
        jobs_given: set.jobs.is_some(),
        framework_args: args.framework_args.clone(),
        test_timeout: set.test_timeout,
        run_timeout: set.run_timeout,
        slow_timeout: Some(set.slow_timeout),
        retries: set.retries,
        fail_fast: set.fail_fast,
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
            project_dir: project_root(args.project.as_deref())?,
            frameworks: (!args.frameworks.is_empty()).then(|| args.frameworks.clone()),
            cargo,
            options,
            shard: match args.shard {
                Some(s) => Some(s),
                None => ShardSpec::from_env(&|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
                    .map_err(Error::Config)?,
            },
            shard_strategy: args.shard_strategy,
            order: set.order,
            last_failed: set.last_failed,
            coverage: set.coverage,
            coverage_files: args.coverage_files.clone(),
            keep_runs: set.keep_runs,
            quarantine: set.quarantine.clone(),
            quarantine_flaky: args.quarantine_flaky,
        },
        Box::new(printer),
        &mut build_echo,
    )?;
    let mut err = std::io::stderr();
    for w in &result.log_warnings {
        let _ = writeln!(err, "warning: {w}");
    }
    for n in &result.notes {
        let _ = writeln!(err, "{n}");
    }
    // Why pytest or Jest ran serially or on N workers (`run.workers`).
    for w in &result.run.workers {
        let _ = writeln!(err, "{}: {}", w.framework.as_str(), w.reason);
    }
    let mut code = result.exit_code;
    let reports = &set.reports;
    let store_root = result
        .run_dir
        .parent()
        .and_then(|p| p.parent())
        .map(PathBuf::from);
    let extras = report_extras(reports.iter().map(|r| r.format), store_root.as_deref());
    for spec in reports {
        if let Err(e) = report::write_with(&result.run, spec, &extras) {
            let _ = writeln!(err, "error: {e:#}");
            code = code.max(exit_code::INTERNAL);
        }
    }
    if !args.quiet || args.format == OutputFormat::Human {
        let _ = write!(err, "{}", ui::summary(&result.run, style));
        let _ = writeln!(err, "run recorded in {}", result.run_dir.display());
    }
    // Named by the summary above.
    if result.run.errors.iter().any(|e| e.kind == "coverage") {
        code = code.max(exit_code::INTERNAL);
    }
    if set.apply_gates || !args.coverage_files.is_empty() {
        let report = gate::evaluate(&result.run, &set.gates);
        let _ = write!(err, "\n{}", gate::render_human(&report));
        if !report.passed && code == exit_code::OK {
            code = exit_code::GATE_FAILED;
        }
    }
    Ok((result, code))
}

fn iterate_cmd(args: IterateArgs) -> Result<i32> {
    testflow::interrupt::install(forced_exit);
    let project_root = project_dir(args.run.project.as_deref())?;
    let root = git_root(&project_root).unwrap_or(project_root);
    let it_cfg = load_config(args.run.project.as_deref())?.iterate;
    let fix_cmd = args.fix_cmd.clone().or(it_cfg.fix_cmd);
    let rollback = args.rollback_on_regression || it_cfg.rollback_on_regression == Some(true);
    if rollback {
        if fix_cmd.is_none() {
            anyhow::bail!(
                "--rollback-on-regression needs --fix-cmd (it undoes what the fix command changed)"
            );
        }
        iterate::check_rollback_possible(&root)?;
    }
    let opts = iterate::IterateOptions {
        max_iterations: args.max_iterations.or(it_cfg.max_iterations).unwrap_or(5),
        plateau: args.plateau.or(it_cfg.plateau).unwrap_or(2),
        fix_cmd: fix_cmd.clone(),
        rollback_on_regression: rollback,
        project_root: root.clone(),
    };
    // Enter on stdin reruns at once when waiting for the user's edit.
    let (tx, rx) = std::sync::mpsc::channel();
    if fix_cmd.is_none() {
        std::thread::spawn(move || {
            for line in std::io::stdin().lines() {
                if line.is_err() || tx.send(()).is_err() {
                    break;
                }
            }
        });
    }
    let mut run_suite = |first: &[String]| -> Result<iterate::RunOutcome> {
        let (result, _) = run_once(&args.run, first)?;
        Ok(iterate::RunOutcome {
            interrupted: result.stopped == Some(testflow::runner::Stopped::Interrupted),
            run: result.run,
        })
    };
    let mut wait = || -> Result<bool> {
        let _ = writeln!(
            std::io::stderr(),
            "waiting: fix the code and save (or press Enter) to run again; Ctrl-C stops"
        );
        Ok(iterate::wait_for_change(&root, &rx))
    };
    let mut err = std::io::stderr();
    let (status, history) = iterate::iterate(&opts, &mut run_suite, &mut wait, &mut err)?;
    let _ = writeln!(
        err,
        "iterate: {} after {} iterations",
        status.as_str(),
        history.len()
    );
    if args.run.format == OutputFormat::Json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(
            &mut out,
            &serde_json::json!({ "status": status, "iterations": history }),
        )?;
        writeln!(out)?;
    }
    Ok(match status {
        iterate::Status::Success => exit_code::OK,
        iterate::Status::Regression => exit_code::ITERATE_REGRESSION,
        iterate::Status::Plateau => exit_code::ITERATE_PLATEAU,
        iterate::Status::MaxIterations | iterate::Status::Continue => {
            exit_code::ITERATE_MAX_ITERATIONS
        }
        iterate::Status::Interrupted => {
            testflow::interrupt::exit_code().unwrap_or(exit_code::INTERRUPTED)
        }
    })
}

/// The settings of `run` (and each iteration of `iterate`), from `testflow::settings`.
/// A bad file or environment value is a usage error (exit 2).
fn resolve_settings(args: &RunArgs) -> Result<testflow::settings::Settings> {
    let (config, source) = load_config_from(args.project.as_deref())?;
    let flags = testflow::settings::Flags {
        reports: args.reports.clone(),
        jobs: args.jobs,
        test_timeout: args.test_timeout,
        timeout: args.timeout,
        slow_timeout: args.slow_timeout,
        retries: args.retries,
        fail_fast: args.fail_fast,
        coverage: args.coverage,
        order: Some(args.order),
        last_failed: args.last_failed,
        gate: args.gate,
        gates: args.gates.flags(),
    };
    testflow::settings::resolve_with(config, source, &testflow::settings::process_env, &flags)
        .map_err(|e| Error::Config(e).into())
}

/// The configuration for the project directory (or the current one), validated.
fn load_config(project: Option<&std::path::Path>) -> Result<config::Config> {
    Ok(load_config_from(project)?.0)
}

/// [`load_config`] and the file it came from.
fn load_config_from(
    project: Option<&std::path::Path>,
) -> Result<(config::Config, Option<PathBuf>)> {
    let dir = project_dir(project)?;
    let loaded = config::load(&dir).map_err(Error::Config)?;
    if let Some(src) = &loaded.source {
        loaded.config.validate(src).map_err(Error::Config)?;
    }
    Ok((loaded.config, loaded.source))
}

fn git_root(dir: &std::path::Path) -> Option<PathBuf> {
    let out = duct::cmd("git", ["rev-parse", "--show-toplevel"])
        .dir(dir)
        .stdout_capture()
        .stderr_null()
        .unchecked()
        .run()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The suites `list` and `shard plan` look at: every framework's found in the project
/// directory (the cargo workspace with `cargo`'s selection, filters and `--doc`).
struct SuitesHere {
    dir: PathBuf,
    suites: Vec<Box<dyn testflow::frameworks::Suite>>,
}

fn suites_here(
    selection_args: &SelectionArgs,
    project: Option<&std::path::Path>,
    filters: &[String],
    doctests: bool,
) -> Result<SuitesHere> {
    let mut selection = selection_args.selection();
    selection.dir = project.map(PathBuf::from);
    let dir = project_root(project)?;
    let cargo = CargoOptions {
        selection,
        filters: filters.to_vec(),
        doc: if doctests {
            DocMode::Include
        } else {
            DocMode::Skip
        },
        ..CargoOptions::default()
    };
    let suites = testflow::frameworks::detect_suites(&dir, &|_| true, &[], &cargo)?;
    if suites.is_empty() {
        return Err(session::NothingToRun(dir).into());
    }
    Ok(SuitesHere { dir, suites })
}

fn list(args: ListArgs) -> Result<i32> {
    let SuitesHere { suites: found, .. } =
        suites_here(&args.selection, args.project.as_deref(), &[], !args.no_doc)?;
    let mut suites = Vec::new();
    for mut suite in found {
        let Some(listing) = suite.listing(&mut std::io::stderr())? else {
            return Ok(exit_code::BUILD_FAILED);
        };
        suites.extend(listing);
    }
    if args.format == OutputFormat::Json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &suites)?;
        writeln!(out)?;
    } else {
        let mut out = std::io::stdout().lock();
        write!(out, "{}", list_text(&suites, args.names))?;
    }
    // Tests in a file that could not be loaded are missing from the counts.
    let mut err = std::io::stderr();
    let problems: Vec<&String> = suites.iter().flat_map(|s| &s.problems).collect();
    for p in &problems {
        let _ = writeln!(err, "error: {p}");
    }
    // A suite that could not be collected (a pytest module with an import or syntax
    // error) is listed with its error, and the listing is not a success.
    let broken = suites.iter().filter(|s| s.error.is_some()).count();
    if broken > 0 {
        let _ = writeln!(
            err,
            "error: {broken} {} could not be collected (shown with {})",
            if broken == 1 { "suite" } else { "suites" },
            if broken == 1 {
                "its error"
            } else {
                "their errors"
            }
        );
    }
    Ok(if problems.is_empty() && broken == 0 {
        exit_code::OK
    } else {
        exit_code::BUILD_FAILED
    })
}

/// `cargo testflow list` for people: tests per suite (and files, for pytest and Jest),
/// each test under its suite with `--names`, then the totals.
fn list_text(suites: &[testflow::frameworks::SuiteListing], names: bool) -> String {
    let mut out = String::new();
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    for s in suites {
        let mut notes = Vec::new();
        if let Some(f) = s.files.filter(|_| s.kind != "pytest") {
            notes.push(format!("in {}", plural(f, "file", "files")));
        }
        if s.ignored > 0 {
            notes.push(format!("{} ignored", s.ignored));
        }
        if !s.problems.is_empty() {
            notes.push(format!(
                "{} could not be loaded",
                plural(s.problems.len(), "file", "files")
            ));
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join(", "))
        };
        out.push_str(&format!("{:>6}  {} [{}]{notes}\n", s.tests, s.id, s.kind));
        if let Some(e) = &s.error {
            out.push_str(&format!("        error: {e}\n"));
        }
        if names {
            for t in &s.test_list {
                let at = match (&t.file, t.line) {
                    (Some(f), Some(l)) => format!("  {f}:{l}"),
                    _ => String::new(),
                };
                let ignored = if t.ignored == Some(true) {
                    "  (ignored)"
                } else {
                    ""
                };
                out.push_str(&format!("        {}{at}{ignored}\n", t.id));
            }
        }
    }
    let total: usize = suites.iter().map(|s| s.tests).sum();
    let files: usize = suites.iter().filter_map(|s| s.files).sum();
    let files = if files > 0 {
        format!(" ({})", plural(files, "test file", "test files"))
    } else {
        String::new()
    };
    out.push_str(&format!(
        "{} in {}{files}\n",
        plural(total, "test", "tests"),
        plural(suites.len(), "suite", "suites")
    ));
    out
}

fn report_cmd(args: ReportArgs) -> Result<i32> {
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
    let extras = report_extras([args.format].into_iter(), Some(store.root()));
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

/// The run a reading command works on (`latest`: the newest that ran tests); which one
/// is said on stderr.
fn load_run(project: Option<PathBuf>, what: &str) -> Result<testflow::model::Run> {
    let store = Store::discover(&project_root(project.as_deref())?);
    let (_, run) = store.resolve_run(what)?;
    say_reading(&store, what, &run);
    Ok(run)
}

/// `reading run …` on stderr, and the newer runs `latest` passed over.
fn say_reading(store: &Store, what: &str, run: &testflow::model::Run) {
    let mut err = std::io::stderr();
    let _ = writeln!(err, "{}", testflow::store::reading_line(run));
    if what != "latest" {
        return;
    }
    let newer = store.newer_than(&run.run_id).unwrap_or_default();
    // Newest first, a few by name: a long streak of empty runs must not flood stderr.
    for (id, why) in newer.iter().rev().take(3) {
        let _ = writeln!(
            err,
            "note: newer run {id} {why}, so it is not `latest` (read it with --run {id})"
        );
    }
    if newer.len() > 3 {
        let _ = writeln!(
            err,
            "note: and {} more newer runs that are not `latest` (`cargo testflow history trend` lists them)",
            newer.len() - 3
        );
    }
}

fn show_cmd(args: ShowArgs) -> Result<i32> {
    let store = Store::discover(&project_root(args.project.as_deref())?);
    let found = testflow::show::find(&store, &args.id, args.run.as_deref())?;
    let _ = writeln!(
        std::io::stderr(),
        "{}",
        testflow::store::reading_line(&found.run)
    );
    let mut out = std::io::stdout().lock();
    match args.format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &testflow::show::to_json(&found)?)?;
            writeln!(out)?;
        }
        OutputFormat::Human => write!(out, "{}", ui::safe(&testflow::show::render_human(&found)))?,
    }
    Ok(exit_code::OK)
}

/// The file's `[[isolation]]` rules, then `run.isolation` as a rule for every test.
fn isolation_rules(cfg: &config::Config) -> Vec<cargo_fw::IsolationRule> {
    let mode = |m: config::IsolationMode| match m {
        config::IsolationMode::Process => Isolation::Process,
        config::IsolationMode::Binary => Isolation::Binary,
    };
    let mut rules: Vec<cargo_fw::IsolationRule> = cfg
        .isolation
        .iter()
        .map(|r| cargo_fw::IsolationRule {
            package: r.package.clone(),
            tests: r.tests.clone(),
            mode: mode(r.mode),
        })
        .collect();
    // Checked by `load_config`.
    if let Some(m) = cfg
        .run
        .isolation
        .as_ref()
        .and_then(config::IsolationSetting::mode)
    {
        rules.push(cargo_fw::IsolationRule {
            package: None,
            tests: None,
            mode: mode(m),
        });
    }
    rules
}

fn analyze_cmd(args: AnalyzeArgs) -> Result<i32> {
    let store = Store::discover(&project_root(args.project.as_deref())?);
    let run = load_run(args.project, &args.run)?;
    // A run one process per test is compared with the last run one process per binary.
    let baseline = (run.environment.rust_isolation.as_deref() == Some("process"))
        .then(|| {
            let ids = store.run_ids().unwrap_or_default();
            let earlier = ids
                .into_iter()
                .rev()
                .filter(|id| *id < run.run_id)
                .take(20)
                .filter_map(|id| store.load(&id).ok());
            analyze::isolation_baseline(&run, earlier)
        })
        .flatten();
    let analysis = analyze::analyze_against(&run, baseline.as_ref());
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

fn gate_cmd(args: GateCmdArgs) -> Result<i32> {
    let cfg = load_config(args.project.as_deref())?;
    let root = project_dir(args.project.as_deref())?;
    let coverage = if args.coverage.is_empty() {
        None
    } else {
        Some(testflow::coverage::load(&args.coverage, &root)?)
    };
    // A verdict reads the newest run, even one that ran nothing: never an older green one.
    let (_, run) = Store::discover(&root).resolve_newest(&args.run)?;
    let _ = writeln!(std::io::stderr(), "{}", testflow::store::reading_line(&run));
    // Reports given here replace the run's own coverage, compared with the same baseline.
    let coverage = coverage.map(|c| {
        let mut summary = c.summary();
        summary.previous =
            testflow::history::History::open_existing(Store::for_project(&root).root())
                .ok()
                .flatten()
                .and_then(|h| h.coverage_baseline(&run, &summary.files).ok().flatten());
        summary
    });
    let report = gate::evaluate_with(
        &run,
        &args.gates.gates(&cfg.gates),
        coverage.as_ref().or(run.coverage.as_ref()),
    );
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

/// The coverage to report on: the files given, or the stored coverage of a run (with its
/// comparison against the previous run on the branch).
fn coverage_input(
    files: &[PathBuf],
    run: Option<&str>,
    project: Option<&std::path::Path>,
) -> Result<(
    testflow::coverage::Coverage,
    Option<testflow::model::RunCoverage>,
    PathBuf,
)> {
    let root = project_dir(project)?;
    if !files.is_empty() {
        return Ok((testflow::coverage::load(files, &root)?, None, root));
    }
    let store = Store::discover(&root);
    let what = run.unwrap_or("latest");
    let path = store.resolve(what)?;
    let run = testflow::store::load_run(&path)?;
    let dir = coverage_dir(&store, &path, &run);
    let Some(c) = run.coverage else {
        anyhow::bail!(
            "run {} has no coverage: run `cargo testflow run --coverage`, or give coverage report files",
            run.run_id
        );
    };
    let (cov, run_root) =
        testflow::coverage::collect::load_stored(&c, &dir, run.project_root.as_deref(), &root)?;
    Ok((cov, Some(c), run_root))
}

fn coverage_cmd(cmd: CoverageCmd) -> Result<i32> {
    use testflow::coverage;
    let args = match cmd {
        CoverageCmd::Report(args) => args,
        CoverageCmd::Gaps(args) => return coverage_gaps_cmd(args),
    };
    let (cov, of_run, _) =
        coverage_input(&args.files, args.run.as_deref(), args.project.as_deref())?;
    let previous = of_run.as_ref().and_then(|c| c.previous.as_ref());
    let bytes = match args.format {
        CoverageOutput::Human => {
            let mut text = coverage::render_human(&cov);
            if let Some(c) = &of_run {
                text.push_str(&coverage::render_run_notes(c));
            }
            text.into_bytes()
        }
        CoverageOutput::Json => {
            let mut v = serde_json::to_vec_pretty(&serde_json::json!({
                "totals": cov.totals(),
                "files": cov.per_file(),
                "frameworks": of_run.as_ref().map(|c| &c.frameworks),
                "previous": previous,
            }))?;
            v.push(b'\n');
            v
        }
        CoverageOutput::Lcov => coverage::lcov::write(&cov).into_bytes(),
        CoverageOutput::Cobertura => coverage::cobertura::write(&cov).into_bytes(),
    };
    match &args.output {
        Some(path) => testflow::store::write_atomic(path, &bytes)?,
        None => std::io::stdout().lock().write_all(&bytes)?,
    }
    Ok(exit_code::OK)
}

fn coverage_gaps_cmd(args: CoverageGapsArgs) -> Result<i32> {
    use testflow::coverage::gaps;
    let (cov, _, root) = coverage_input(&args.files, args.run.as_deref(), args.project.as_deref())?;
    let mut report = gaps::rank(&cov, &root);
    let limit = match (args.limit, args.format) {
        (Some(0), _) | (None, OutputFormat::Json) => None,
        (Some(n), _) => Some(n),
        (None, OutputFormat::Human) => Some(20),
    };
    let bytes = match args.format {
        OutputFormat::Human => gaps::render_human(&report, limit).into_bytes(),
        OutputFormat::Json => {
            if let Some(n) = limit {
                report.gaps.truncate(n);
            }
            let mut v = serde_json::to_vec_pretty(&report)?;
            v.push(b'\n');
            v
        }
    };
    std::io::stdout().lock().write_all(&bytes)?;
    Ok(exit_code::OK)
}

/// `--project DIR`, else the project root found from the current directory (the cargo
/// workspace, pytest or Jest root, else the git root): where suites are found, the
/// virtualenv is looked for and the one `.testflow/` lives.
fn project_root(project: Option<&std::path::Path>) -> Result<PathBuf> {
    match project {
        Some(_) => project_dir(project),
        None => Ok(testflow::project::find_root(&project_dir(None)?)),
    }
}

fn project_dir(project: Option<&std::path::Path>) -> Result<PathBuf> {
    match project {
        Some(p) => Ok(std::path::absolute(p).unwrap_or_else(|_| p.to_owned())),
        None => std::env::current_dir().context("cannot read the current directory"),
    }
}

/// Print rows as JSON, or as a table made by `human`.
fn print_rows<T: serde::Serialize>(
    format: OutputFormat,
    rows: &[T],
    human: impl Fn(&T) -> String,
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, rows)?;
            writeln!(out)?;
        }
        OutputFormat::Human => {
            for r in rows {
                writeln!(out, "{}", human(r))?;
            }
        }
    }
    Ok(())
}

fn quarantine_cmd(cmd: QuarantineCmd) -> Result<i32> {
    use testflow::quarantine;
    let mut err = std::io::stderr();
    match cmd {
        QuarantineCmd::Add {
            id,
            pattern,
            reason,
            until,
            project,
        } => {
            let rule = config::QuarantineRule {
                id,
                pattern,
                reason: Some(reason),
                until,
            };
            rule.check()
                .map_err(|e| Error::Config(anyhow::anyhow!("{e}")))?;
            let loaded = config::load(&project_dir(project.as_deref())?).map_err(Error::Config)?;
            let path = quarantine::config_file(
                loaded.source.as_deref(),
                &project_root(project.as_deref())?,
            );
            let what = quarantine::add(&path, &rule).map_err(Error::Config)?;
            // The file must still be a valid configuration.
            config::parse_str(&std::fs::read_to_string(&path)?, &path).map_err(Error::Config)?;
            let target = rule.id.as_deref().or(rule.pattern.as_deref()).unwrap_or("");
            let _ = writeln!(
                err,
                "{} `{target}` in {}",
                match what {
                    quarantine::Added::New => "quarantined",
                    quarantine::Added::Replaced => "updated the quarantine entry",
                },
                path.display()
            );
            Ok(exit_code::OK)
        }
        QuarantineCmd::Remove { id, project } => {
            let loaded = config::load(&project_dir(project.as_deref())?).map_err(Error::Config)?;
            let Some(path) = loaded.source else {
                return Err(testflow::store::NotRecorded(format!(
                    "no configuration file: `{id}` is not quarantined"
                ))
                .into());
            };
            let n = quarantine::remove(&path, &id).map_err(Error::Config)?;
            if n == 0 {
                return Err(testflow::store::NotRecorded(format!(
                    "`{id}` is not quarantined in {}",
                    path.display()
                ))
                .into());
            }
            let _ = writeln!(
                err,
                "removed `{id}` from the quarantine in {}",
                path.display()
            );
            Ok(exit_code::OK)
        }
        QuarantineCmd::List { format, project } => {
            let (cfg, source) = load_config_from(project.as_deref())?;
            let today = chrono::Utc::now().date_naive();
            let mut entries = quarantine::from_config(&cfg.quarantine, source.as_deref());
            for e in &mut entries {
                e.expired = e.expired_on(today);
            }
            if entries.is_empty() && format == OutputFormat::Human {
                let _ = writeln!(err, "no test is quarantined");
            }
            print_rows(format, &entries, |e| {
                let until = match (e.until, e.expired) {
                    (Some(u), true) => format!("EXPIRED {u}"),
                    (Some(u), false) => format!("until {u}"),
                    (None, _) => "no expiry".to_owned(),
                };
                let kind = if e.id.is_some() { "id" } else { "pattern" };
                format!("{kind} {}  ({until})  {}", e.target(), e.reason)
            })?;
            Ok(exit_code::OK)
        }
    }
}

fn history_cmd(cmd: HistoryCmd) -> Result<i32> {
    use testflow::history::History;
    let common = match &cmd {
        HistoryCmd::Import { common, .. } => common.clone(),
        HistoryCmd::Slowest(q)
        | HistoryCmd::Flaky(q)
        | HistoryCmd::Trend(q)
        | HistoryCmd::Test { query: q, .. } => q.common.clone(),
    };
    let store = Store::discover(&project_root(common.project.as_deref())?);
    let mut history = match &cmd {
        HistoryCmd::Import { .. } => History::open(store.root())?,
        // Reading never creates `.testflow/`.
        _ => History::open_existing(store.root())?.ok_or_else(|| {
            testflow::store::NotRecorded(testflow::store::no_runs_yet(store.root()))
        })?,
    };
    let human = common.format == OutputFormat::Human;
    let mut err = std::io::stderr();
    match cmd {
        HistoryCmd::Import { files, .. } => {
            let keep = testflow::settings::keep_runs(&load_config(common.project.as_deref())?);
            let mut imported = Vec::new();
            for f in &files {
                let run = testflow::import::import_file(f)?;
                history.record(&run, "import", keep)?;
                imported.push(serde_json::json!({ "file": f, "run_id": run.run_id, "tests": run.summary.total }));
            }
            print_rows(common.format, &imported, |r| {
                format!(
                    "{}: {} tests as {}",
                    r["file"].as_str().unwrap_or(""),
                    r["tests"],
                    r["run_id"].as_str().unwrap_or("")
                )
            })?;
        }
        HistoryCmd::Slowest(q) => {
            let rows = history.slowest(q.limit)?;
            if rows.is_empty() && human {
                let _ = writeln!(
                    err,
                    "no timed test results in the {} runs recorded in {}",
                    history.run_count()?,
                    history.path().display()
                );
            }
            print_rows(q.common.format, &rows, |r| {
                format!(
                    "{:>10.1} ms  (max {:.1}, {} runs)  {}",
                    r.recent_ms, r.max_ms, r.runs, r.test_id
                )
            })?
        }
        HistoryCmd::Flaky(q) => {
            let rows = history.flaky(q.limit)?;
            if rows.is_empty() && human {
                let _ = writeln!(
                    err,
                    "no flaky tests in the {} runs recorded in {}",
                    history.run_count()?,
                    history.path().display()
                );
            }
            print_rows(q.common.format, &rows, |r| {
                format!(
                    "{:>5.1}%  failed {} of {} on unchanged trees ({} trees flipped), {} passed on retry, {} runs, last seen {}  {}",
                    r.tree_rate * 100.0,
                    r.tree_failures,
                    r.tree_results,
                    r.flipped_trees,
                    r.passed_on_retry,
                    r.runs,
                    r.last_seen.as_deref().unwrap_or("-"),
                    r.test_id
                )
            })?
        }
        HistoryCmd::Trend(q) => print_rows(q.common.format, &history.trend(q.limit)?, |r| {
            let rate = r
                .pass_rate
                .map_or("-".to_owned(), |p| format!("{:.1}%", p * 100.0));
            format!(
                "{}  {:>6} tests  {:>7} passed  {:>3} flaky  {:>8.1}s  {}",
                r.started_at,
                r.total,
                rate,
                r.flaky,
                r.duration_ms / 1000.0,
                r.run_id
            )
        })?,
        HistoryCmd::Test { id, query } => {
            let rows = history.test(&id, query.limit)?;
            if rows.is_empty() {
                let where_ = format!("in the history ({})", history.path().display());
                return Err(testflow::store::NotRecorded(testflow::lookup::not_found(
                    &where_,
                    &id,
                    &history.test_ids()?,
                ))
                .into());
            }
            print_rows(query.common.format, &rows, |r| {
                format!(
                    "{}  {:<8} {:>10.1} ms  attempts {}  {}",
                    r.started_at, r.outcome, r.duration_ms, r.attempts, r.run_id
                )
            })?
        }
    }
    Ok(exit_code::OK)
}

fn shard_plan_cmd(args: ShardPlanArgs) -> Result<i32> {
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
        OutputFormat::Human => {
            for s in &plan.shards {
                writeln!(
                    out,
                    "shard {}/{}: {:>5} tests, predicted {:.2}s",
                    s.index,
                    args.shards,
                    s.tests.len(),
                    s.predicted_ms / 1000.0
                )?;
            }
            writeln!(
                out,
                "strategy {}, imbalance {:.3} (max / mean), lower bound {:.2}s (longest test {:.2}s), {} tests without a recorded duration",
                plan.strategy.as_str(),
                plan.imbalance,
                plan.lower_bound_ms / 1000.0,
                plan.longest_test_ms / 1000.0,
                plan.unknown_durations
            )?;
        }
    }
    Ok(exit_code::OK)
}

fn merge_cmd(args: MergeArgs) -> Result<i32> {
    let store = Store::discover(&project_dir(args.project.as_deref())?);
    let keep_runs = testflow::settings::keep_runs(&load_config(args.project.as_deref())?);
    let mut inputs = Vec::new();
    let mut dirs = Vec::new();
    for r in &args.runs {
        let path = store.resolve(r)?;
        let run = testflow::store::load_run(&path)?;
        dirs.push(coverage_dir(&store, &path, &run));
        inputs.push((r.clone(), run));
    }
    let coverage = merge_coverage(&inputs, &dirs)?;
    let expected: Option<Vec<String>> = match &args.expected {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            let ids: Option<Vec<String>> = match &v {
                serde_json::Value::Array(a) => {
                    a.iter().map(|x| x.as_str().map(str::to_owned)).collect()
                }
                _ => v["shards"].as_array().map(|shards| {
                    shards
                        .iter()
                        .flat_map(|s| s["tests"].as_array().into_iter().flatten())
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect()
                }),
            };
            Some(ids.with_context(|| {
                format!(
                    "{}: expected a shard plan or a JSON array of test ids",
                    path.display()
                )
            })?)
        }
    };
    let mut merged = testflow::merge::merge(inputs, expected.as_deref());
    let history = testflow::history::History::open(store.root()).ok();
    if let Some((cov, statuses)) = coverage {
        let baseline = |files: &[testflow::coverage::FileSummary]| {
            history
                .as_ref()?
                .coverage_baseline(&merged, files)
                .ok()
                .flatten()
        };
        merged.coverage = Some(testflow::coverage::collect::finish(
            &args.output.join(testflow::coverage::collect::DIR),
            &cov,
            statuses,
            Vec::new(),
            baseline,
        )?);
    }
    testflow::store::write_atomic(
        &args.output.join(testflow::store::RUN_FILE),
        &serde_json::to_vec(&merged)?,
    )?;
    // The merged run is a whole run: its timings plan the next shards.
    // Retention is the configuration's (`[history] keep_runs`), as after `run`.
    if let Some(mut h) = history {
        let _ = h.record(&merged, "merge", keep_runs);
    }
    github_annotations(
        &merged,
        Some(store.root()),
        testflow::annotations::Door::Merge,
        args.format == OutputFormat::Json,
    );
    let mut err = std::io::stderr();
    for e in merged
        .errors
        .iter()
        .filter(|e| matches!(e.kind.as_str(), "duplicate" | "missing" | "merge_conflict"))
    {
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

/// The directory a run's coverage reports are relative to: the run's directory. A run given
/// as a JSON report file elsewhere (`run --report json=FILE`, as the CI pipelines merge
/// them) has its reports in its run directory in the store, found by its id (the CI jobs
/// carry the shards' `.testflow/runs/` along).
fn coverage_dir(store: &Store, path: &std::path::Path, run: &testflow::model::Run) -> PathBuf {
    let dir = if path.is_dir() {
        path.to_owned()
    } else {
        path.parent().map(PathBuf::from).unwrap_or_default()
    };
    let Some(c) = &run.coverage else { return dir };
    let by_id = store.runs_dir().join(&run.run_id);
    if c.reports.iter().any(|r| !dir.join(r).is_file())
        && c.reports.iter().all(|r| by_id.join(r).is_file())
    {
        by_id
    } else {
        dir
    }
}

/// The shards' coverage, each report read with paths relative to its own run's project
/// (shards may run in different checkouts), merged; `None` when no shard measured any.
fn merge_coverage(
    inputs: &[(String, testflow::model::Run)],
    dirs: &[PathBuf],
) -> Result<
    Option<(
        testflow::coverage::Coverage,
        Vec<testflow::model::FrameworkCoverage>,
    )>,
> {
    if inputs.iter().all(|(_, r)| r.coverage.is_none()) {
        return Ok(None);
    }
    let mut cov = testflow::coverage::Coverage::default();
    let mut statuses = Vec::new();
    for ((label, run), dir) in inputs.iter().zip(dirs) {
        let Some(c) = &run.coverage else { continue };
        let (one, _) =
            testflow::coverage::collect::load_stored(c, dir, run.project_root.as_deref(), dir)
                .with_context(|| format!("coverage of {label}"))?;
        cov.merge(one);
        statuses.extend(c.frameworks.iter().cloned());
    }
    Ok(Some((
        cov,
        testflow::coverage::collect::combine_statuses(statuses),
    )))
}

/// History trends for the HTML report, read only when an HTML report is asked for.
fn report_extras(
    formats: impl Iterator<Item = ReportFormat>,
    store_root: Option<&std::path::Path>,
) -> report::Extras {
    let mut formats = formats;
    let trend = match (formats.any(|f| f == ReportFormat::Html), store_root) {
        (true, Some(root)) if root.join(testflow::history::DB_FILE).is_file() => {
            testflow::history::History::open(root)
                .and_then(|h| h.trend(50))
                .unwrap_or_default()
        }
        _ => vec![],
    };
    report::Extras { trend }
}

fn ci_cmd(args: CiArgs) -> Result<i32> {
    use testflow::ci;
    let dir = project_dir(args.project.as_deref())?;
    let shape = ci::ProjectShape::detect(&dir);
    if shape.is_empty() {
        return Err(session::NothingToRun(dir).into());
    }
    let which = match args.ci {
        CiName::Github => ci::Ci::Github,
        CiName::Gitlab => ci::Ci::Gitlab,
        CiName::Circleci => ci::Ci::Circleci,
    };
    let opts = ci::Options {
        shards: args.shards,
        install: args.testflow_install,
        git: args.testflow_git,
        version: args.testflow_version,
        coverage: args.coverage,
        branch: args
            .branch
            .unwrap_or_else(|| ci::DefaultBranch::detect(&dir)),
    };
    let yaml = ci::generate(which, &shape, &opts)?;
    match &args.output {
        Some(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            testflow::store::write_atomic(path, yaml.as_bytes())?;
            let _ = writeln!(
                std::io::stderr(),
                "{} pipeline written to {} (the CI reads {})",
                which.name(),
                path.display(),
                which.default_path()
            );
        }
        None => std::io::stdout().lock().write_all(yaml.as_bytes())?,
    }
    Ok(exit_code::OK)
}

/// A clap value parser for one of the engine's vocabularies ([`Choice`]): its names are
/// the possible values, with their help, and a name parses to its value.
fn choice<T: Choice + Send + Sync>() -> ChoiceParser<T> {
    ChoiceParser(std::marker::PhantomData)
}

#[derive(Clone)]
struct ChoiceParser<T>(std::marker::PhantomData<T>);

impl<T: Choice + Send + Sync> clap::builder::TypedValueParser for ChoiceParser<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> std::result::Result<T, clap::Error> {
        let names = clap::builder::PossibleValuesParser::new(self.possible_values_list());
        let name = names.parse_ref(cmd, arg, value)?;
        T::from_name(&name).ok_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidValue))
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(self.possible_values_list().into_iter()))
    }
}

impl<T: Choice> ChoiceParser<T> {
    fn possible_values_list(&self) -> Vec<clap::builder::PossibleValue> {
        T::ALL
            .iter()
            .map(|v| {
                let p = clap::builder::PossibleValue::new(v.name());
                match v.help() {
                    Some(h) => p.help(h),
                    None => p,
                }
            })
            .collect()
    }
}
