//! `cargo testflow run`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;

use testflow::error::Error;
use testflow::frameworks::cargo::{CargoOptions, DocMode, IgnoredMode};
use testflow::runner::{RunOptions, default_jobs};
use testflow::session::{self, RunRequest};
use testflow::shard::ShardSpec;
use testflow::ui::{self, Printer, Style};
use testflow::{exit_code, gate, report};

use crate::args::{OutputFormat, RunArgs};
use crate::dispatch::shared::{github_annotations, load_config_from, project_root};

/// The run did not wind down within the grace time after a signal: say so as it exits.
pub(crate) fn forced_exit(signal: i32) {
    let _ = writeln!(
        std::io::stderr(),
        "error: the run did not stop within {}s of signal {signal}; exiting {} (the run's events.jsonl keeps what was recorded)",
        testflow::interrupt::GRACE.as_secs(),
        exit_code::for_signal(signal)
    );
}

pub(crate) fn run(args: RunArgs) -> Result<i32> {
    testflow::interrupt::install(forced_exit);
    let (mut result, code) = run_once(&args, &[])?;
    // On GitHub Actions the Markdown summary goes on the job's page (once per command:
    // `iterate` runs many times and must not pile summaries past the 1 MiB cap).
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty())
        && let Err(e) = report::append_step_summary(&result.run, std::path::Path::new(&path))
    {
        let _ = writeln!(std::io::stderr(), "warning: {e:#}");
    }
    // Annotations compare with history, which must hold this run by then.
    wait_for_history(&mut result);
    let store_root = result.run_dir.parent().and_then(|runs| runs.parent());
    github_annotations(
        &result.run,
        store_root,
        testflow::annotations::Door::Run,
        args.format == OutputFormat::Json,
    );
    if args.format == OutputFormat::Json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, &*result.run)?;
        writeln!(out)?;
    }
    Ok(code)
}

/// History is written while the reports and the summary are; its failure is a warning.
fn wait_for_history(result: &mut session::RunResult) {
    if let Some(w) = result.history.wait() {
        let _ = writeln!(std::io::stderr(), "warning: {w}");
    }
}

/// One run with the human output, reports and gates; `first` are test ids to schedule first.
pub(crate) fn run_once(args: &RunArgs, first: &[String]) -> Result<(session::RunResult, i32)> {
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
        isolation_rules: testflow::settings::isolation_rules(cfg),
        timeout_rules: testflow::settings::timeout_rules(cfg),
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
    let mut result = session::run(
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
            affected: args.affected.map(|mode| testflow::affected::Request {
                mode,
                since: args.since.clone(),
                changed: args.changed.clone(),
                always_run: cfg.affected.always_run.clone(),
            }),
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
    if args.explain
        && let Some(a) = &result.run.affected
    {
        let _ = write!(err, "{}", ui::affected_text(a));
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
    if reports
        .iter()
        .any(|r| r.format == report::ReportFormat::Html)
    {
        wait_for_history(&mut result); // the HTML report's trend includes this run
    }
    let extras = report::Extras::load(reports.iter().map(|r| r.format), store_root.as_deref());
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
        order: args.order,
        last_failed: args.last_failed,
        gate: args.gate,
        gates: args.gates.flags(),
    };
    testflow::settings::resolve_with(config, source, &testflow::settings::process_env, &flags)
        .map_err(|e| Error::Config(e).into())
}
