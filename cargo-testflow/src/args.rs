//! The command line: clap's types for every command and its flags, and the value parsers.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};

use testflow::choice::Choice;
use testflow::config;
use testflow::frameworks::cargo::{Isolation, Selection};
use testflow::gate::{self, Gate, GateName};
use testflow::model::Framework;
use testflow::report::{ReportFormat, ReportSpec};
use testflow::session::Order;
use testflow::shard::{ShardSpec, Strategy};

// The same parsers as the settings resolver uses for the environment.
use testflow::settings::{parse_checked, parse_jobs, parse_retries, parse_secs};

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
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
    /// Watch the project and run the tests again on each change: the affected tests
    /// (`run --affected --changed PATH…`), the ones that failed last first, or with
    /// --all every test.
    ///
    /// A burst of file events (an editor's save, a checkout) is one change; build output,
    /// version control, node_modules, caches, testflow's store, editors' temporary files
    /// and what git ignores are no change. A change while a round runs cancels it (as
    /// Ctrl-C would: what it recorded is kept) and the next round covers both changes.
    /// Each round is `cargo testflow run` with the options given after `--`. Keys: `q`
    /// quits (exit 0), `r` reruns every test (without a terminal: `q` or `r` and Enter);
    /// Ctrl-C stops the round and quits (130). On a terminal the screen is cleared
    /// before each round.
    ///
    /// `--format json`: one JSON object per line on stdout, its kind in "event":
    /// watching {root, files, mode, debounce_ms}, round_started {round, changed, all,
    /// command}, round_finished and round_cancelled {round, exit_code, signal, run_id,
    /// summary, run_errors}, round_not_started {round, error}, warning {message},
    /// stopped {reason, exit_code}; the rounds' own output goes to stderr.
    ///
    /// A project that cannot be watched (no such directory, the system's limit on
    /// watches reached: the message names the setting to raise) is exit 2.
    Watch(WatchArgs),
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
pub(crate) enum OutputFormat {
    /// For people.
    Human,
    /// For programs: one JSON document on stdout.
    Json,
}

#[derive(Args)]
pub(crate) struct SelectionArgs {
    /// Path to Cargo.toml.
    #[arg(long, value_name = "PATH")]
    pub(crate) manifest_path: Option<PathBuf>,
    /// Package to test (repeatable).
    #[arg(short = 'p', long = "package", value_name = "SPEC")]
    pub(crate) packages: Vec<String>,
    /// Test every package in the workspace.
    #[arg(long)]
    pub(crate) workspace: bool,
    /// Exclude packages from --workspace (repeatable).
    #[arg(long, value_name = "SPEC")]
    pub(crate) exclude: Vec<String>,
    /// Features to activate (comma- or space-separated, repeatable).
    #[arg(short = 'F', long, value_name = "FEATURES")]
    pub(crate) features: Vec<String>,
    /// Activate all features.
    #[arg(long)]
    pub(crate) all_features: bool,
    /// Do not activate the `default` feature.
    #[arg(long)]
    pub(crate) no_default_features: bool,
    /// Build in release mode.
    #[arg(long)]
    pub(crate) release: bool,
    /// Test only the library's unit tests (no doctests unless --doc).
    #[arg(long)]
    pub(crate) lib: bool,
    /// Test only binaries' unit tests.
    #[arg(long)]
    pub(crate) bins: bool,
    /// Test only integration tests (`tests/*.rs`).
    #[arg(long)]
    pub(crate) tests: bool,
    /// Test only the named integration test (repeatable).
    #[arg(long = "test", value_name = "NAME")]
    pub(crate) test_targets: Vec<String>,
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

    pub(crate) fn selection(&self) -> Selection {
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
pub(crate) struct RunArgs {
    /// Run only tests whose path contains one of these strings.
    pub(crate) filters: Vec<String>,
    /// After `--`: arguments handed to the framework as they are, after testflow's own:
    /// pytest's command line (`-- -p no:randomly -W error`), Jest's (`-- --silent`), and
    /// every libtest invocation of a Rust test (`-- --show-output`; testflow sets
    /// `--exact`, `--nocapture`, `--format` and `--test-threads` itself: use `-j`).
    #[arg(last = true, value_name = "FRAMEWORK ARGS")]
    pub(crate) framework_args: Vec<String>,
    #[command(flatten)]
    pub(crate) selection: SelectionArgs,
    /// Tests to run at once, at most 1024 (0: one per CPU) [default: number of CPUs].
    /// pytest gets `-n N` (pytest-xdist) and Jest `--maxWorkers=N` only when `-j` is given;
    /// without it, history decides whether their workers pay for their start-up (no
    /// history: pytest is serial below 3,000 collected tests, Jest keeps its own choice).
    #[arg(short = 'j', long, value_name = "N", env = "TESTFLOW_JOBS", value_parser = parse_jobs)]
    pub(crate) jobs: Option<usize>,
    /// Kill a test (its whole process group) after SECS seconds (at most 365 days); its outcome is `timeout`.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, env = "TESTFLOW_TEST_TIMEOUT")]
    pub(crate) test_timeout: Option<Duration>,
    /// Name a test on the terminal (`SLOW [> 60.000s] ID`) each time it has run another SECS
    /// seconds (nothing is recorded for it; at most 365 days; Rust tests and doctests: pytest
    /// and Jest do not report when a test starts) [default: 60].
    #[arg(long, value_name = "SECS", value_parser = parse_secs, env = "TESTFLOW_SLOW_TIMEOUT")]
    pub(crate) slow_timeout: Option<Duration>,
    /// Stop the whole run after SECS seconds (at most 365 days); tests still running are `timeout`.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, env = "TESTFLOW_TIMEOUT")]
    pub(crate) timeout: Option<Duration>,
    /// Run a failing test up to N more times (at most 100); one that then passes is `passed` and `flaky` [default: 0].
    #[arg(long, value_name = "N", env = "TESTFLOW_RETRIES", value_parser = parse_retries)]
    pub(crate) retries: Option<u32>,
    /// Stop scheduling tests after the first failure.
    #[arg(long)]
    pub(crate) fail_fast: bool,
    /// `binary` (default): one process per test binary, as `cargo test` (libtest JSON;
    /// a hung test is killed at its own --test-timeout, and tests left unfinished by a
    /// crash or a hang, or doubted, are re-run one per process). `process`: one process
    /// per test (nextest's semantics). Overrides `[[isolation]]` rules in the config.
    #[arg(long, value_parser = choice::<Isolation>(), value_name = "MODE", env = "TESTFLOW_ISOLATION")]
    pub(crate) isolation: Option<Isolation>,
    /// Run only the #[ignore] tests.
    #[arg(long, conflicts_with = "include_ignored")]
    pub(crate) ignored: bool,
    /// Run #[ignore] tests too.
    #[arg(long)]
    pub(crate) include_ignored: bool,
    /// Skip doctests.
    #[arg(long, conflicts_with = "doc")]
    pub(crate) no_doc: bool,
    /// Run only doctests.
    #[arg(long)]
    pub(crate) doc: bool,
    /// Write a report: FORMAT=PATH with FORMAT one of json, junit, ctrf, markdown, html (repeatable).
    #[arg(long = "report", value_name = "FORMAT=PATH", value_parser = parse_report, env = "TESTFLOW_REPORT", value_delimiter = ',')]
    pub(crate) reports: Vec<ReportSpec>,
    /// `json` prints the final run (the schema in docs/schema.md) on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub(crate) format: OutputFormat,
    /// No per-test lines or progress bar.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Directory to look for test suites in [default: the project root: the cargo workspace, pytest or Jest root above the current directory, else the git root].
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
    /// Run only shard K of N (1-based, N at most 1000). Read from the CI when not given: TESTFLOW_SHARD,
    /// GitLab CI_NODE_INDEX/TOTAL, CircleCI CIRCLE_NODE_INDEX/TOTAL, Buildkite.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub(crate) shard: Option<ShardSpec>,
    /// How to split [default: timings when history has durations, else hash].
    #[arg(long, value_parser = choice::<Strategy>(), value_name = "STRATEGY")]
    pub(crate) shard_strategy: Option<Strategy>,
    /// Test order, from history [default: $TESTFLOW_ORDER, else the framework's own
    /// order].
    #[arg(long, value_parser = choice::<Order>())]
    pub(crate) order: Option<Order>,
    /// Only the tests that failed in the latest run that ran tests (one whose filter
    /// matched nothing or whose build failed does not count; all tests if none failed).
    /// The run read is named on stderr.
    #[arg(long)]
    pub(crate) last_failed: bool,
    /// Apply quality gates after the run (implied by any gate flag); see `cargo testflow gate`.
    #[arg(long)]
    pub(crate) gate: bool,
    #[command(flatten)]
    pub(crate) gates: GateArgs,
    /// Collect coverage with each framework's own tool: pytest-cov, Jest's --coverage,
    /// @vitest/coverage-v8, go's -coverprofile, cargo-llvm-cov for Rust (a missing tool is reported with how to install it). The
    /// reports are kept in the run's coverage/ directory, merged into coverage/merged.lcov,
    /// and compared with the previous run on the branch.
    #[arg(long)]
    pub(crate) coverage: bool,
    /// A coverage report to keep with the run and measure the coverage gates with, read
    /// after the run (repeatable; LCOV, Cobertura, coverage.py JSON, Istanbul JSON).
    #[arg(long = "coverage-file", value_name = "FILE", value_delimiter = ',')]
    pub(crate) coverage_files: Vec<PathBuf>,
    /// Run only this framework's suites (repeatable): rust, pytest, jest, vitest, go,
    /// playwright. `jest` (`vitest`, `playwright`) takes the directory as a Jest (Vitest,
    /// Playwright Test) project even when nothing marks it as one, and says what is
    /// missing when it cannot run there.
    #[arg(long = "framework", value_name = "NAME", value_parser = parse_framework)]
    pub(crate) frameworks: Vec<Framework>,
    /// Quarantine for this run the tests `history flaky` finds flaky across runs with a
    /// rate above RATE (0.1 or 10%) [default: 0: every one]; the summary names them.
    #[arg(long, value_name = "RATE", num_args = 0..=1, default_missing_value = "0", value_parser = parse_rate)]
    pub(crate) quarantine_flaky: Option<f64>,
    /// Run only the tests whose inputs changed since a base revision (`--since`), plus the
    /// tests that failed, errored or were flaky last time and those with no recorded
    /// dependencies; a changed lockfile, manifest or CI file (or `[affected] always_run`)
    /// runs everything. Rust: each test binary's sources (dep-info) and its workspace
    /// libraries'; pytest: each test file, its conftest.py files and the project modules
    /// they import; Jest: its own graph (`--findRelatedTests`); go: each package's test
    /// binary's module packages (`go list -deps -test`); Vitest: its own graph (its Node
    /// API's `related`); Playwright: its own graph (`--only-changed`; `--changed` paths
    /// not all changed since HEAD run all its tests). Dependencies are recorded by every Rust run and every `--affected` run
    /// (history.db). Tests not selected are reported
    /// as `not selected`, never as passed. `record`: run everything and record the
    /// dependencies; `observe`: run everything and record the failures the selection
    /// would have missed (`history selection`).
    #[arg(long, value_name = "MODE", num_args = 0..=1, require_equals = true, default_missing_value = "select", value_parser = choice::<testflow::affected::Mode>())]
    pub(crate) affected: Option<testflow::affected::Mode>,
    /// With --affected: the git revision to count changes from [default: the commit of
    /// the last passing whole run on this branch, else the merge base with origin/HEAD,
    /// main or master].
    #[arg(long, value_name = "REF", requires = "affected")]
    pub(crate) since: Option<String>,
    /// With --affected: take PATH (relative to the project root, or absolute) as changed
    /// instead of asking git (repeatable).
    #[arg(long, value_name = "PATH", requires = "affected")]
    pub(crate) changed: Vec<PathBuf>,
    /// With --affected: print why each test binary or file was selected or not (the run's
    /// JSON always has it, under `affected`).
    #[arg(long, requires = "affected")]
    pub(crate) explain: bool,
}

/// `list --affected` and `shard plan --affected`: what a `run --affected` would select.
#[derive(Args)]
pub(crate) struct AffectedPreviewArgs {
    /// Only what `run --affected` would select, decided the way the run decides (the same
    /// change set, history and per-framework dependencies; nothing runs). `list`: each
    /// test with `selected` or `not selected` and the rule (`--format json`: `affected`
    /// per test: selected, rule, reason, group, files); `shard plan`: shards of the
    /// selection only.
    #[arg(long)]
    pub(crate) affected: bool,
    /// With --affected: the git revision to count changes from, as for `run` [default: the
    /// commit of the last passing whole run on this branch, else the merge base with
    /// origin/HEAD, main or master].
    #[arg(long, value_name = "REF", requires = "affected")]
    pub(crate) since: Option<String>,
    /// With --affected: take PATH (relative to the project root, or absolute) as changed
    /// instead of asking git (repeatable).
    #[arg(long, value_name = "PATH", requires = "affected")]
    pub(crate) changed: Vec<PathBuf>,
}

#[derive(Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    pub(crate) selection: SelectionArgs,
    #[command(flatten)]
    pub(crate) affected: AffectedPreviewArgs,
    /// Skip doctests (listing them compiles them).
    #[arg(long)]
    pub(crate) no_doc: bool,
    /// Show every test under its suite: its id (as `run` records it), file:line where
    /// known, and `ignored`. Rust: libtest's and rustdoc's listings (`#[ignore]` and
    /// ```` ```ignore ```` marked). pytest: `--collect-only` node ids. Jest: the real
    /// titles, from a Jest run whose test-name pattern matches nothing (Jest loads each
    /// file, runs no test and no hook); Jest's and pytest's skips are only known when
    /// they run, so their `ignored` is unknown. `--format json` always has them.
    /// (`--tests` is cargo's: only the integration tests.)
    #[arg(long)]
    pub(crate) names: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub(crate) format: OutputFormat,
    /// Directory to look for test suites in [default: the project root: the cargo workspace, pytest or Jest root above the current directory, else the git root].
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct ReportArgs {
    /// Report format: json, junit, ctrf, markdown, html.
    #[arg(long, value_parser = parse_format)]
    pub(crate) format: ReportFormat,
    /// `latest` (the newest run that ran tests: one whose filter matched nothing or whose
    /// build failed is passed over, and named on stderr; the newest when none ran tests),
    /// a run id, a run directory, or a run.json / events.jsonl file.
    #[arg(long, default_value = "latest", value_name = "RUN")]
    pub(crate) run: String,
    /// Output file [default: stdout].
    #[arg(short, long, value_name = "PATH")]
    pub(crate) output: Option<PathBuf>,
    /// Project directory whose `.testflow/` holds the runs [default: the project root: the cargo workspace, pytest or Jest root above the current directory, else the git root].
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
}

#[derive(Args, Clone, Default)]
pub(crate) struct GateArgs {
    /// Gate: passed / tests that ran must be at least RATE: 0.95 or 95% [default: 1.0].
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub(crate) min_pass_rate: Option<f64>,
    /// Gate: at least N tests must be recorded [default: 1].
    #[arg(long, value_name = "N")]
    pub(crate) min_tests: Option<u64>,
    /// Gate: at most N skipped tests.
    #[arg(long, value_name = "N")]
    pub(crate) max_skipped: Option<u64>,
    /// Gate: at most N flaky tests (passed only on a retry).
    #[arg(long, value_name = "N")]
    pub(crate) max_flaky: Option<u64>,
    /// Gate: the run takes at most SECS seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_gate_secs)]
    pub(crate) max_duration: Option<f64>,
    /// Gate: total line coverage at least RATE (0.8 or 80%), from the run's coverage or
    /// the coverage reports given (without any: "not measured", which fails when required).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub(crate) min_coverage: Option<f64>,
    /// Gate: every file's line coverage at least RATE (0.8 or 80%; same coverage).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub(crate) min_file_coverage: Option<f64>,
    /// Gate: total line coverage must not fall below the previous run on the same branch
    /// that measured coverage, allowing PTS percentage points [default: 0].
    #[arg(long, value_name = "PTS", num_args = 0..=1, default_missing_value = "0", value_parser = parse_percent)]
    pub(crate) no_coverage_drop: Option<f64>,
    /// Make a gate advisory: reported, but it does not fail (repeatable).
    #[arg(long, value_name = "GATE", value_parser = parse_gate_name)]
    pub(crate) advisory: Vec<GateName>,
}

impl GateArgs {
    /// The gates to apply: command line over the configuration file over the defaults.
    pub(crate) fn gates(&self, file: &config::GatesConfig) -> Vec<Gate> {
        gate::configured(file, &self.flags())
    }

    /// The thresholds given on the command line, as the settings resolver takes them.
    pub(crate) fn flags(&self) -> config::GatesConfig {
        config::GatesConfig {
            min_pass_rate: self.min_pass_rate.map(config::RateSetting::Number),
            min_tests: self.min_tests,
            max_skipped: self.max_skipped,
            max_flaky: self.max_flaky,
            max_duration: self.max_duration,
            min_coverage: self.min_coverage.map(config::RateSetting::Number),
            min_file_coverage: self.min_file_coverage.map(config::RateSetting::Number),
            no_coverage_drop: self.no_coverage_drop.map(config::DropAllowance::Points),
            advisory: (!self.advisory.is_empty()).then(|| self.advisory.clone()),
        }
    }
}

#[derive(Args)]
pub(crate) struct GateCmdArgs {
    /// `latest` (the newest run, even one that ran no tests or failed to build: a verdict
    /// never falls back to an older run), a run id, a run directory, or a run.json /
    /// events.jsonl file.
    #[arg(long, default_value = "latest", value_name = "RUN")]
    pub(crate) run: String,
    #[command(flatten)]
    pub(crate) gates: GateArgs,
    /// Coverage reports (LCOV, Cobertura XML, coverage.py JSON, Istanbul JSON; merged)
    /// that measure the min_coverage and min_file_coverage gates.
    #[arg(long = "coverage", value_name = "FILE", num_args = 1..)]
    pub(crate) coverage: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub(crate) format: OutputFormat,
    /// Project directory whose `.testflow/` holds the runs [default: current directory].
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
}

#[derive(Subcommand)]
pub(crate) enum CoverageCmd {
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
pub(crate) enum CoverageOutput {
    Human,
    Json,
    Lcov,
    Cobertura,
}

#[derive(Args)]
pub(crate) struct CoverageReportArgs {
    /// LCOV, Cobertura XML, coverage.py JSON or Istanbul coverage-final.json files
    /// [default: the coverage of the run given by --run].
    #[arg(value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
    /// The run whose coverage to show: `latest`, a run id or directory [default: latest].
    #[arg(long, value_name = "RUN", conflicts_with = "files")]
    pub(crate) run: Option<String>,
    #[arg(long, value_enum, default_value_t = CoverageOutput::Human)]
    pub(crate) format: CoverageOutput,
    /// Output file [default: stdout].
    #[arg(short, long, value_name = "PATH")]
    pub(crate) output: Option<PathBuf>,
    /// Paths are shown relative to DIR [default: current directory].
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct CoverageGapsArgs {
    /// LCOV, Cobertura XML, coverage.py JSON or Istanbul coverage-final.json files (merged)
    /// [default: the coverage of the run given by --run].
    #[arg(value_name = "FILE", num_args = 0..)]
    pub(crate) files: Vec<PathBuf>,
    /// The run whose coverage to rank: `latest`, a run id or directory [default: latest].
    #[arg(long, value_name = "RUN", conflicts_with = "files")]
    pub(crate) run: Option<String>,
    /// Project root: report paths are made relative to it and sources read from it
    /// [default: current directory].
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub(crate) format: OutputFormat,
    /// Show the top N gaps; 0 for all [default: 20 for human, all for json].
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<usize>,
}

#[derive(Args)]
pub(crate) struct IterateArgs {
    #[command(flatten)]
    pub(crate) run: RunArgs,
    /// Stop after N iterations [default: 5].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_iterations: Option<u32>,
    /// Shell command that tries a fix; it gets TESTFLOW_ANALYSIS (the analysis JSON path).
    /// Without it, the loop waits for you to edit files (or press Enter).
    #[arg(long, value_name = "CMD")]
    pub(crate) fix_cmd: Option<String>,
    /// Stop with `plateau` when the failure count has not improved for N iterations [default: 2].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) plateau: Option<u32>,
    /// When the fix command made things worse, restore the tracked files it changed
    /// (needs a clean git tree before it runs; nothing else is touched).
    #[arg(long)]
    pub(crate) rollback_on_regression: bool,
}

#[derive(Args)]
pub(crate) struct WatchArgs {
    /// Run every test each round, not only the affected ones.
    #[arg(long)]
    pub(crate) all: bool,
    /// How long the file events must pause before a round starts, in milliseconds (at
    /// most 60000). Events that never pause still start a round 10 × MS (at least 2 s)
    /// after the first one.
    #[arg(long, value_name = "MS", default_value_t = 200,
          value_parser = clap::value_parser!(u64).range(0..=testflow::watch::MAX_DEBOUNCE_MS))]
    pub(crate) debounce: u64,
    /// `json`: one JSON object per event on stdout (see above).
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub(crate) format: OutputFormat,
    /// Directory to watch and test [default: the project root: the cargo workspace, pytest or Jest root above the current directory, else the git root].
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
    /// After `--`: `run`'s options for every round (`-- -p core --retries 1`), checked
    /// when watching starts; a second `--` starts the framework's arguments (`-- -p core
    /// -- --show-output`). `--project` and `--format` are watch's own (give them before
    /// `--`); `--order` replaces failed-first.
    #[arg(last = true, value_name = "RUN OPTIONS", allow_hyphen_values = true)]
    pub(crate) run_args: Vec<String>,
}

#[derive(Subcommand)]
pub(crate) enum QuarantineCmd {
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
pub(crate) enum HistoryCmd {
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
    /// What `run --affected=observe` measured over recent runs: safety (failures the
    /// selection would have missed / all failures) and savings (the share of tests it
    /// would have skipped).
    Selection(HistoryQuery),
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
pub(crate) struct HistoryCommon {
    /// Project directory whose `.testflow/` holds the history [default: the project root: the cargo workspace, pytest or Jest root above the current directory, else the git root].
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub(crate) format: OutputFormat,
}

#[derive(Args, Clone)]
pub(crate) struct HistoryQuery {
    /// How many rows.
    #[arg(long, default_value_t = 20)]
    pub(crate) limit: usize,
    #[command(flatten)]
    pub(crate) common: HistoryCommon,
}

#[derive(Subcommand)]
pub(crate) enum ShardCmd {
    /// Each shard's tests and predicted time, the imbalance and the lower bound.
    Plan(ShardPlanArgs),
}

#[derive(Args)]
pub(crate) struct ShardPlanArgs {
    /// Number of shards (at most 1000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=testflow::shard::MAX_SHARDS as i64))]
    pub(crate) shards: u32,
    #[arg(long, value_parser = choice::<Strategy>(), value_name = "STRATEGY")]
    pub(crate) shard_strategy: Option<Strategy>,
    /// Filters, as for `run`.
    pub(crate) filters: Vec<String>,
    #[command(flatten)]
    pub(crate) selection: SelectionArgs,
    #[command(flatten)]
    pub(crate) affected: AffectedPreviewArgs,
    /// Skip doctests.
    #[arg(long)]
    pub(crate) no_doc: bool,
    /// Directory to look for test suites in [default: the project root: the cargo workspace, pytest or Jest root above the current directory, else the git root].
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub(crate) format: OutputFormat,
}

#[derive(Args)]
pub(crate) struct MergeArgs {
    /// Runs: ids, run directories, run.json or events.jsonl files.
    #[arg(required = true, value_name = "RUN")]
    pub(crate) runs: Vec<String>,
    /// Output directory (gets run.json).
    #[arg(short, long, value_name = "DIR")]
    pub(crate) output: PathBuf,
    /// The full test list (a `shard plan --format json` file, or a JSON array of ids):
    /// tests in it that no shard reported are flagged.
    #[arg(long, value_name = "FILE")]
    pub(crate) expected: Option<PathBuf>,
    /// Project directory whose `.testflow/` holds the runs [default: current directory].
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub(crate) format: OutputFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum CiName {
    /// GitHub Actions (.github/workflows/testflow.yml).
    Github,
    /// GitLab CI (.gitlab-ci.yml).
    Gitlab,
    /// CircleCI (.circleci/config.yml).
    Circleci,
}

#[derive(Args)]
pub(crate) struct CiArgs {
    /// The CI system.
    #[arg(value_enum)]
    pub(crate) ci: CiName,
    /// Number of shard jobs.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=200))]
    pub(crate) shards: u32,
    /// Write the pipeline to PATH (parent directories are created) [default: stdout].
    #[arg(short, long, value_name = "PATH")]
    pub(crate) output: Option<PathBuf>,
    /// Shell command that installs testflow in every CI job, instead of the install job
    /// [default: one install job builds testflow from the tag v<version> of --testflow-git
    /// (from this checkout when it is testflow itself) with `cargo install --locked`, plus
    /// the pytest wheel / Jest reporter tarball when the project needs them, caches the
    /// build by version, OS and toolchain, and the other jobs install what it built].
    #[arg(long, value_name = "CMD")]
    pub(crate) testflow_install: Option<String>,
    /// Git repository the install job builds testflow from.
    #[arg(long, value_name = "URL", default_value = env!("CARGO_PKG_REPOSITORY"))]
    pub(crate) testflow_git: String,
    /// The testflow version the pipeline pins: the TESTFLOW_VERSION variable at the top of
    /// the file (CircleCI: the testflow-version pipeline parameter); the install job builds
    /// the tag v<VERSION>.
    #[arg(long, value_name = "VERSION", default_value = env!("CARGO_PKG_VERSION"), value_parser = parse_testflow_version)]
    pub(crate) testflow_version: String,
    /// Project directory whose test suites the pipeline runs [default: current directory].
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
    /// Collect coverage: the shard jobs install the coverage tools (cargo-llvm-cov and
    /// llvm-tools-preview for Rust, pytest-cov for pytest; Jest needs none) and run `cargo
    /// testflow run --coverage`; the merge job merges the shards' coverage and writes it as
    /// LCOV (testflow-out/merged/coverage/merged.lcov) and Cobertura (testflow-out/coverage.xml)
    /// for the CI: a GitHub artifact and the job summary, GitLab's coverage report and
    /// `coverage:` percentage, CircleCI artifacts. The merge job's gate applies
    /// `min_coverage` / `no_coverage_drop` from testflow.toml's `[gates]`.
    #[arg(long)]
    pub(crate) coverage: bool,
    /// The branch whose pushes run the pipeline (GitHub's `on.push.branches`) [default: the
    /// repository's default branch: origin's HEAD, else git's init.defaultBranch, else the
    /// current branch when it is main, master, trunk, develop or default, else main; the
    /// file's header says which].
    #[arg(long, value_name = "NAME", value_parser = parse_branch)]
    pub(crate) branch: Option<testflow::ci::DefaultBranch>,
    /// Pull and merge requests run only the tests their changes affect: the shard jobs run
    /// `cargo testflow run --affected --since <base>` (GitHub: the pull request's base
    /// commit, fetched; GitLab: $CI_MERGE_REQUEST_DIFF_BASE_SHA, in merge request pipelines,
    /// with a full clone); the default branch runs every test with `--affected=record`, and
    /// the merge job saves the dependencies with the history the requests restore. CircleCI
    /// gives a job no target branch: it runs every test unless the job's environment sets
    /// TESTFLOW_BASE. The merge job fails closed when the shards' selections differ and
    /// never counts a not selected test as passed.
    #[arg(long)]
    pub(crate) affected: bool,
}

#[derive(Args)]
pub(crate) struct ShowArgs {
    /// The test id, in single quotes (`'calc::integ$adds'`, `'tests/test_a.py::test_b'`).
    pub(crate) id: String,
    /// The run to read: a run id, a run directory or file, or `latest` [default: the
    /// newest run that has this test].
    #[arg(long, value_name = "RUN")]
    pub(crate) run: Option<String>,
    /// `json`: the test (the schema's TestCase) with its `run_id`.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub(crate) format: OutputFormat,
    /// Project directory whose `.testflow/` holds the runs [default: the project root].
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct AnalyzeArgs {
    /// `latest` (the newest run that ran tests: one whose filter matched nothing or whose
    /// build failed is passed over, and named on stderr; the newest when none ran tests),
    /// a run id, a run directory, or a run.json / events.jsonl file.
    #[arg(long, default_value = "latest", value_name = "RUN")]
    pub(crate) run: String,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub(crate) format: OutputFormat,
    /// Also write the JSON analysis to this file.
    #[arg(short, long, value_name = "PATH")]
    pub(crate) output: Option<PathBuf>,
    /// Project directory whose `.testflow/` holds the runs [default: the project root: the cargo workspace, pytest or Jest root above the current directory, else the git root].
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
}

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

/// A clap value parser for one of the engine's vocabularies ([`Choice`]): its names are
/// the possible values, with their help, and a name parses to its value.
fn choice<T: Choice + Send + Sync>() -> ChoiceParser<T> {
    ChoiceParser(std::marker::PhantomData)
}

#[derive(Clone)]
pub(crate) struct ChoiceParser<T>(std::marker::PhantomData<T>);

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
