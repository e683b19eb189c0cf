//! One settings resolver for the three doors (`cargo testflow`, `pytest --testflow`, the
//! Jest reporter). Inputs: the configuration file (`config`), the `TESTFLOW_*`
//! environment and the door's own flags or options. Precedence, documented in
//! docs/config.md: file < environment < flags (< means "is overridden by"). The output is
//! one [`Settings`], so every door agrees on reports, retention, order and gates.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::config::{self, Config, GatesConfig};
use crate::gate::Gate;
use crate::model::QuarantineEntry;
use crate::ordering::Order;
use crate::report::ReportSpec;

/// The environment variables the resolver reads.
pub const JOBS_ENV: &str = "TESTFLOW_JOBS";
pub const TEST_TIMEOUT_ENV: &str = "TESTFLOW_TEST_TIMEOUT";
pub const TIMEOUT_ENV: &str = "TESTFLOW_TIMEOUT";
pub const SLOW_TIMEOUT_ENV: &str = "TESTFLOW_SLOW_TIMEOUT";
pub const RETRIES_ENV: &str = "TESTFLOW_RETRIES";
pub use crate::names::REPORT_ENV;
pub const ORDER_ENV: &str = "TESTFLOW_ORDER";
pub const LAST_FAILED_ENV: &str = "TESTFLOW_LAST_FAILED";

/// What a door was told on its own command line (or in its plugin options). `None`,
/// `false` and empty mean "not given".
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// Replace the environment's and the file's reports when not empty.
    pub reports: Vec<ReportSpec>,
    pub jobs: Option<usize>,
    pub test_timeout: Option<Duration>,
    pub timeout: Option<Duration>,
    pub slow_timeout: Option<Duration>,
    pub retries: Option<u32>,
    pub fail_fast: bool,
    pub coverage: bool,
    /// `None`: not given (then `TESTFLOW_ORDER`); `Some(Order::Default)` asks for the
    /// framework's own order, over the environment.
    pub order: Option<Order>,
    pub last_failed: bool,
    /// `--gate`: apply the gates even when none is configured.
    pub gate: bool,
    /// Gate thresholds given as flags (over the file's `[gates]`).
    pub gates: GatesConfig,
}

/// Everything resolved. `config` is the validated file (its other tables, such as
/// `[iterate]` and `[[isolation]]`, are read from there).
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    /// The configuration file, if one was found.
    pub source: Option<PathBuf>,
    pub reports: Vec<ReportSpec>,
    /// Runs kept in `history.db` (`[history] keep_runs`).
    pub keep_runs: usize,
    /// Tests at once; `None` when not set anywhere (0 means one per CPU).
    pub jobs: Option<usize>,
    pub test_timeout: Option<Duration>,
    pub run_timeout: Option<Duration>,
    pub slow_timeout: Duration,
    pub retries: u32,
    pub fail_fast: bool,
    pub coverage: bool,
    pub order: Order,
    pub last_failed: bool,
    /// The gates, each threshold from the flags, else the file, else the default.
    pub gates: Vec<Gate>,
    /// Apply the gates after the run: `--gate`, a gate flag, `run.gate` or any `[gates]`
    /// key in the file.
    pub apply_gates: bool,
    pub quarantine: Vec<QuarantineEntry>,
}

/// The configuration for `dir` (found as `config::load` finds it), validated. Errors name
/// the file, line and key.
pub fn load_file(dir: &Path) -> Result<(Config, Option<PathBuf>)> {
    let loaded = config::load(dir)?;
    if let Some(src) = &loaded.source {
        loaded.config.validate(src)?;
    }
    Ok((loaded.config, loaded.source))
}

/// Resolve for `dir` from its configuration file, this process's environment and `flags`.
/// A bad file, environment variable or flag value: marked [`Invalid`], so every door
/// reports it as a configuration error (exit 2, `ConfigError`, `TESTFLOW_CONFIG`).
pub fn resolve(dir: &Path, flags: &Flags) -> Result<Settings> {
    let (config, source) = load_file(dir).map_err(invalid)?;
    resolve_with(config, source, &process_env, flags).map_err(invalid)
}

/// A setting that cannot be used (`crate::error::Error::Config` at the boundary): the
/// message is the wrapped error's, whole.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct Invalid(pub anyhow::Error);

/// `e` as an [`Invalid`] setting.
pub fn invalid(e: anyhow::Error) -> anyhow::Error {
    if e.is::<Invalid>() {
        e
    } else {
        Invalid(e).into()
    }
}

/// This process's environment; an empty (or whitespace-only) variable is unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The resolver itself: file < environment (`env`) < flags. The file's values were
/// checked by [`Config::validate`]; the environment's are checked here with the command
/// line's rules, and an error names the variable.
pub fn resolve_with(
    config: Config,
    source: Option<PathBuf>,
    env: &dyn Fn(&str) -> Option<String>,
    flags: &Flags,
) -> Result<Settings> {
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let from_env = |name: &str, parse: &dyn Fn(&str) -> Result<Duration, String>| {
        var(name)
            .map(|v| parse(&v))
            .transpose()
            .map_err(|why| anyhow::anyhow!("invalid value for ${name}: {why}"))
    };
    let file_secs = |v: Option<f64>| v.and_then(|s| config::time_limit(s).ok());
    let run = &config.run;

    let env_jobs = var(JOBS_ENV)
        .map(|v| parse_jobs(&v))
        .transpose()
        .map_err(|why| anyhow::anyhow!("invalid value for ${JOBS_ENV}: {why}"))?;
    let env_retries = var(RETRIES_ENV)
        .map(|v| parse_retries(&v))
        .transpose()
        .map_err(|why| anyhow::anyhow!("invalid value for ${RETRIES_ENV}: {why}"))?;
    let env_test_timeout = from_env(TEST_TIMEOUT_ENV, &parse_secs)?;
    let env_timeout = from_env(TIMEOUT_ENV, &parse_secs)?;
    let env_slow = from_env(SLOW_TIMEOUT_ENV, &parse_secs)?;
    let env_reports = match var(REPORT_ENV) {
        Some(v) => parse_report_list(&v).with_context(|| format!("in ${REPORT_ENV}"))?,
        None => vec![],
    };
    let (order, last_failed) = order_with(env, flags.order, flags.last_failed)?;

    // Reports replace, never add: the flags' list, else the environment's, else the file's.
    let reports = if !flags.reports.is_empty() {
        flags.reports.clone()
    } else if !env_reports.is_empty() {
        env_reports
    } else {
        run.reports
            .iter()
            .flatten()
            .filter_map(|r| ReportSpec::parse(r).ok())
            .collect()
    };
    let file_gates = config.gates != GatesConfig::default();
    let flag_gates = flags.gates != GatesConfig::default();
    Ok(Settings {
        reports,
        keep_runs: keep_runs(&config),
        jobs: flags.jobs.or(env_jobs).or(run.jobs),
        test_timeout: flags
            .test_timeout
            .or(env_test_timeout)
            .or(file_secs(run.test_timeout)),
        run_timeout: flags.timeout.or(env_timeout).or(file_secs(run.timeout)),
        slow_timeout: flags
            .slow_timeout
            .or(env_slow)
            .or(file_secs(run.slow_timeout))
            .unwrap_or(crate::runner::DEFAULT_SLOW_TIMEOUT),
        retries: flags.retries.or(env_retries).or(run.retries).unwrap_or(0),
        fail_fast: flags.fail_fast || run.fail_fast == Some(true),
        coverage: flags.coverage || run.coverage == Some(true),
        order,
        last_failed,
        gates: crate::gate::configured(&config.gates, &flags.gates),
        apply_gates: flags.gate || flag_gates || run.gate == Some(true) || file_gates,
        quarantine: crate::quarantine::from_config(&config.quarantine, source.as_deref()),
        config,
        source,
    })
}

/// The test order and `--last-failed` of a run, for every door (`cargo testflow run
/// --order`, `pytest --testflow-order`, the Jest sequencer): the flag, else
/// `TESTFLOW_ORDER` / `TESTFLOW_LAST_FAILED`, else the framework's own order (a flag of
/// `default` asks for it over the environment). Which tests the order then puts first is
/// `selection::order` (and, for the Jest sequencer's default, `ordering::order`).
pub fn order_with(
    env: &dyn Fn(&str) -> Option<String>,
    flag: Option<Order>,
    flag_last_failed: bool,
) -> Result<(Order, bool)> {
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let env_order = var(ORDER_ENV)
        .map(|v| Order::parse(&v))
        .transpose()
        .with_context(|| format!("in ${ORDER_ENV}"))?;
    let env_last_failed = match var(LAST_FAILED_ENV).as_deref().map(str::trim) {
        None | Some("0" | "false") => false,
        Some("1" | "true") => true,
        Some(other) => bail!("invalid value for ${LAST_FAILED_ENV}: `{other}`: write 1 or 0"),
    };
    let order = flag.or(env_order).unwrap_or_default();
    Ok((order, flag_last_failed || env_last_failed))
}

/// [`order_with`] on this process's environment.
pub fn order(flag: Option<Order>, flag_last_failed: bool) -> Result<(Order, bool)> {
    order_with(&process_env, flag, flag_last_failed)
}

/// Runs `history.db` keeps: `[history] keep_runs`, else the default. The file is the only
/// source (there is no flag or variable); `run`, `merge`, `history import` and the
/// recorders all prune by it.
pub fn keep_runs(config: &Config) -> usize {
    config
        .history
        .keep_runs
        .unwrap_or(crate::history::DEFAULT_KEEP_RUNS)
}

/// `junit=a.xml,json=b.json` (commas separate entries).
pub fn parse_report_list(s: &str) -> Result<Vec<ReportSpec>> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(ReportSpec::parse)
        .collect()
}

/// Seconds, as `--test-timeout` and the `TESTFLOW_*TIMEOUT` variables take them.
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    config::time_limit(secs).map_err(|why| format!("`{s}`: {why}"))
}

/// A number of type `T`, then `check`ed; errors show the value.
pub fn parse_checked<T: std::str::FromStr>(
    s: &str,
    what: &str,
    check: fn(T) -> Result<T, String>,
) -> Result<T, String> {
    let v: T = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not {what}"))?;
    check(v).map_err(|why| format!("`{s}`: {why}"))
}

pub fn parse_jobs(s: &str) -> Result<usize, String> {
    parse_checked(s, "a whole number of jobs", config::jobs)
}

pub fn parse_retries(s: &str) -> Result<u32, String> {
    parse_checked(s, "a whole number of retries", config::retries)
}

/// `[[timeout]]` rules as the cargo driver applies them (limits were checked by
/// `Config::validate`).
pub fn timeout_rules(cfg: &Config) -> Vec<crate::frameworks::cargo::TimeoutRule> {
    cfg.timeout
        .iter()
        .filter_map(|r| {
            Some(crate::frameworks::cargo::TimeoutRule {
                package: r.package.clone(),
                tests: r.tests.clone(),
                limit: config::time_limit(r.test_timeout).ok()?,
            })
        })
        .collect()
}

/// The file's `[[isolation]]` rules, then `run.isolation` as a rule for every test (the
/// command line's `--isolation`, when given, decides before either).
pub fn isolation_rules(cfg: &Config) -> Vec<crate::frameworks::cargo::IsolationRule> {
    use crate::frameworks::cargo::{Isolation, IsolationRule};
    let mode = |m: config::IsolationMode| match m {
        config::IsolationMode::Process => Isolation::Process,
        config::IsolationMode::Binary => Isolation::Binary,
    };
    let mut rules: Vec<IsolationRule> = cfg
        .isolation
        .iter()
        .map(|r| IsolationRule {
            package: r.package.clone(),
            tests: r.tests.clone(),
            mode: mode(r.mode),
        })
        .collect();
    // An unknown `run.isolation` was refused by `Config::validate`.
    if let Some(m) = cfg
        .run
        .isolation
        .as_ref()
        .and_then(config::IsolationSetting::mode)
    {
        rules.push(IsolationRule {
            package: None,
            tests: None,
            mode: mode(m),
        });
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::GateName;
    use std::collections::HashMap;

    fn file(text: &str) -> Config {
        config::parse_str(text, Path::new("testflow.toml")).unwrap()
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    fn resolve_text(text: &str, e: &[(&str, &str)], flags: &Flags) -> Result<Settings> {
        resolve_with(file(text), None, &env(e), flags)
    }

    fn paths(s: &Settings) -> Vec<String> {
        s.reports
            .iter()
            .map(|r| r.path.display().to_string())
            .collect()
    }

    const FILE: &str = "[run]\njobs = 3\nretries = 1\ntest_timeout = 30\nreports = [\"junit=file.xml\"]\n[history]\nkeep_runs = 7\n";

    #[test]
    fn the_file_alone_decides_when_nothing_else_is_given() {
        let s = resolve_text(FILE, &[], &Flags::default()).unwrap();
        assert_eq!(s.jobs, Some(3));
        assert_eq!(s.retries, 1);
        assert_eq!(s.test_timeout, Some(Duration::from_secs(30)));
        assert_eq!(paths(&s), ["file.xml"]);
        assert_eq!(s.keep_runs, 7);
        assert_eq!(s.order, Order::Default);
        assert!(!s.apply_gates);
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let e = [
            (JOBS_ENV, "5"),
            (RETRIES_ENV, "2"),
            (TEST_TIMEOUT_ENV, "9"),
            (REPORT_ENV, "json=env.json,junit=env.xml"),
            (ORDER_ENV, "slowest-first"),
            (LAST_FAILED_ENV, "1"),
        ];
        let s = resolve_text(FILE, &e, &Flags::default()).unwrap();
        assert_eq!(s.jobs, Some(5));
        assert_eq!(s.retries, 2);
        assert_eq!(s.test_timeout, Some(Duration::from_secs(9)));
        assert_eq!(paths(&s), ["env.json", "env.xml"], "replaced, not added");
        assert_eq!(s.order, Order::SlowestFirst);
        assert!(s.last_failed);
    }

    #[test]
    fn flags_override_the_environment_and_the_file() {
        let e = [
            (JOBS_ENV, "5"),
            (REPORT_ENV, "json=env.json"),
            (ORDER_ENV, "slowest-first"),
        ];
        let flags = Flags {
            jobs: Some(8),
            reports: parse_report_list("ctrf=flag.json").unwrap(),
            order: Some(Order::FailedFirst),
            retries: Some(4),
            ..Flags::default()
        };
        let s = resolve_text(FILE, &e, &flags).unwrap();
        assert_eq!(s.jobs, Some(8));
        assert_eq!(s.retries, 4);
        assert_eq!(paths(&s), ["flag.json"]);
        assert_eq!(s.order, Order::FailedFirst);
        // No `--order`: the environment's; `--order default` asks for the framework's
        // own order over it (flags over the environment, like every other setting).
        let s = resolve_text(FILE, &e, &Flags::default()).unwrap();
        assert_eq!(s.order, Order::SlowestFirst);
        let flags = Flags {
            order: Some(Order::Default),
            ..Flags::default()
        };
        let s = resolve_text(FILE, &e, &flags).unwrap();
        assert_eq!(s.order, Order::Default);
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let s = resolve_text("", &[], &Flags::default()).unwrap();
        assert_eq!(s.keep_runs, crate::history::DEFAULT_KEEP_RUNS);
        assert_eq!(s.jobs, None);
        assert_eq!(s.retries, 0);
        assert_eq!(s.slow_timeout, crate::runner::DEFAULT_SLOW_TIMEOUT);
        assert!(s.reports.is_empty());
        assert!(!s.last_failed && !s.fail_fast && !s.coverage);
    }

    #[test]
    fn gates_take_flags_over_the_file_and_a_file_gate_applies_them() {
        let text = "[gates]\nmax_flaky = 2\nmin_tests = 5\n";
        let flags = Flags {
            gates: GatesConfig {
                max_flaky: Some(0),
                ..GatesConfig::default()
            },
            ..Flags::default()
        };
        let s = resolve_text(text, &[], &flags).unwrap();
        assert!(s.apply_gates);
        let t = |n: GateName| s.gates.iter().find(|g| g.name == n).unwrap().threshold;
        assert_eq!(t(GateName::MaxFlaky), 0.0);
        assert_eq!(t(GateName::MinTests), 5.0);
        let s = resolve_text("[run]\ngate = true\n", &[], &Flags::default()).unwrap();
        assert!(s.apply_gates);
    }

    #[test]
    fn a_bad_environment_value_names_the_variable() {
        for (k, v, want) in [
            (JOBS_ENV, "lots", "$TESTFLOW_JOBS"),
            (TEST_TIMEOUT_ENV, "1e300", "$TESTFLOW_TEST_TIMEOUT"),
            (REPORT_ENV, "pdf=x", "$TESTFLOW_REPORT"),
            (ORDER_ENV, "random", "$TESTFLOW_ORDER"),
            (LAST_FAILED_ENV, "maybe", "$TESTFLOW_LAST_FAILED"),
        ] {
            let err = format!(
                "{:#}",
                resolve_text("", &[(k, v)], &Flags::default()).unwrap_err()
            );
            assert!(err.contains(want), "{k}={v}: {err}");
        }
        // Empty is unset.
        let s = resolve_text(FILE, &[(JOBS_ENV, " ")], &Flags::default()).unwrap();
        assert_eq!(s.jobs, Some(3));
    }

    #[test]
    fn resolve_reads_the_nearest_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("pyproject.toml"),
            "[tool.testflow.run]\nreports = [\"json=out.json\"]\n[tool.testflow.history]\nkeep_runs = 2\n",
        )
        .unwrap();
        let s = resolve(d.path(), &Flags::default()).unwrap();
        assert_eq!(s.keep_runs, 2);
        assert_eq!(s.source.unwrap(), d.path().join("pyproject.toml"));
    }
}
