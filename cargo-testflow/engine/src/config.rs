//! `testflow.toml`, or the same table in Cargo.toml (`[workspace.metadata.testflow]` or
//! `[package.metadata.testflow]`), pyproject.toml (`[tool.testflow]`) or package.json
//! (`"testflow"`). Precedence (file < environment < flags) is applied by `settings`, the
//! one resolver every door uses; this module reads and checks the file. Every key is in
//! `docs/config.md`. Unknown keys and wrong types are errors naming file, line and key.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

#[derive(Deserialize, Debug, Default, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub run: RunConfig,
    #[serde(default)]
    pub gates: GatesConfig,
    #[serde(default)]
    pub iterate: IterateConfig,
    #[serde(default)]
    pub history: HistoryConfig,
    /// `[[isolation]]`: Rust tests that run in another mode than the default.
    #[serde(default)]
    pub isolation: Vec<IsolationRuleConfig>,
    /// `[[quarantine]]` entries: tests whose failures do not fail the run or the gates.
    #[serde(default)]
    pub quarantine: Vec<QuarantineRule>,
    /// `[[timeout]]`: Rust tests with their own per-test time limit.
    #[serde(default)]
    pub timeout: Vec<TimeoutRuleConfig>,
    /// `[affected]`: what `run --affected` treats as a reason to run everything.
    #[serde(default)]
    pub affected: AffectedConfig,
}

/// One `[[timeout]]` rule: the Rust tests of `package`, or whose path contains `tests`
/// (both: tests matching both), get `test_timeout` seconds. libtest has no way to give a
/// test its own limit (pytest, Jest, Vitest, Playwright and go tests set theirs in the
/// test code), so this is the Rust one. The first matching rule decides, and it wins
/// over `--test-timeout` / `run.test_timeout`, which are for every other test.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TimeoutRuleConfig {
    pub package: Option<String>,
    pub tests: Option<String>,
    /// Seconds.
    pub test_timeout: f64,
}

/// `[affected]`: `always_run` globs over paths relative to the project root (`*` any
/// characters, `?` one; a pattern without `/` matches a file's name in any directory):
/// a change to a matching file runs every test, like a lockfile change.
#[derive(Deserialize, Debug, Default, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AffectedConfig {
    #[serde(default)]
    pub always_run: Vec<String>,
}

/// One `[[isolation]]` rule: the tests of `package`, or whose path contains `tests`
/// (both: tests matching both), run in `mode`. The first matching rule decides;
/// `--isolation` (and `TESTFLOW_ISOLATION`) overrides every rule, and the rules
/// override `run.isolation`.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IsolationRuleConfig {
    pub package: Option<String>,
    pub tests: Option<String>,
    pub mode: IsolationMode,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum IsolationMode {
    Process,
    Binary,
}

/// `run.isolation` as written: a mode, or any other string, which [`Config::validate`]
/// refuses naming the key's line (read as a string, so a value of another type is the
/// same error as before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IsolationSetting {
    Mode(IsolationMode),
    Unknown(String),
}

impl<'de> Deserialize<'de> for IsolationSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "process" => IsolationSetting::Mode(IsolationMode::Process),
            "binary" => IsolationSetting::Mode(IsolationMode::Binary),
            _ => IsolationSetting::Unknown(s),
        })
    }
}

impl IsolationSetting {
    /// The mode, once [`Config::validate`] has passed.
    pub fn mode(&self) -> Option<IsolationMode> {
        match self {
            IsolationSetting::Mode(m) => Some(*m),
            IsolationSetting::Unknown(_) => None,
        }
    }
}

/// One `[[quarantine]]` entry as written: `id` or `pattern`, `reason`, optional `until`.
/// Checked by [`Config::validate`].
#[derive(Deserialize, Debug, Default, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QuarantineRule {
    pub id: Option<String>,
    /// A glob over test ids (`*`, `?`).
    pub pattern: Option<String>,
    pub reason: Option<String>,
    /// `YYYY-MM-DD`: the last day the entry applies.
    pub until: Option<String>,
}

#[derive(Deserialize, Debug, Default, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HistoryConfig {
    /// Runs kept in `.testflow/history.db`.
    pub keep_runs: Option<usize>,
}

#[derive(Deserialize, Debug, Default, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub jobs: Option<usize>,
    /// Seconds.
    pub test_timeout: Option<f64>,
    /// Seconds, whole run.
    pub timeout: Option<f64>,
    /// Seconds a test runs before the terminal names it as slow (once per period).
    pub slow_timeout: Option<f64>,
    pub retries: Option<u32>,
    pub fail_fast: Option<bool>,
    /// `process` or `binary`.
    pub isolation: Option<IsolationSetting>,
    /// `FORMAT=PATH` entries.
    pub reports: Option<Vec<String>>,
    /// Apply the gates after every run.
    pub gate: Option<bool>,
    /// Collect coverage on every run (`--coverage`).
    pub coverage: Option<bool>,
}

#[derive(Deserialize, Debug, Default, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GatesConfig {
    /// Passed over tests that ran: `0.95` or `"95%"`.
    pub min_pass_rate: Option<RateSetting>,
    pub min_tests: Option<u64>,
    pub max_skipped: Option<u64>,
    pub max_flaky: Option<u64>,
    pub max_duration: Option<f64>,
    /// Total line coverage, a rate: `0.8` or `"80%"`.
    pub min_coverage: Option<RateSetting>,
    /// Line coverage of every file, a rate.
    pub min_file_coverage: Option<RateSetting>,
    /// Total line coverage must not drop below the previous run on the branch: `true`,
    /// or the drop allowed, in percentage points.
    pub no_coverage_drop: Option<DropAllowance>,
    /// Gate names reported but not failing.
    pub advisory: Option<Vec<crate::names::GateName>>,
}

/// A rate as a configuration file gives it: a number (`0.7`) or a string (`"70%"`),
/// checked by [`Config::validate`] with the same rules as the command line ([`parse_rate`]).
#[derive(Debug, Clone, PartialEq)]
pub enum RateSetting {
    Number(f64),
    Text(String),
}

impl RateSetting {
    /// The rate, 0 to 1, or why it is not one.
    pub fn value(&self) -> Result<f64, String> {
        match self {
            RateSetting::Number(v) => rate(*v),
            RateSetting::Text(t) => parse_rate(t),
        }
    }
}

impl<'de> Deserialize<'de> for RateSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = RateSetting;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a rate: a number from 0 to 1 (0.7) or a percentage string (\"70%\")")
            }
            fn visit_f64<E>(self, v: f64) -> Result<RateSetting, E> {
                Ok(RateSetting::Number(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RateSetting, E> {
                Ok(RateSetting::Number(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<RateSetting, E> {
                Ok(RateSetting::Number(v as f64))
            }
            fn visit_str<E>(self, v: &str) -> Result<RateSetting, E> {
                Ok(RateSetting::Text(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `no_coverage_drop = true` (no drop at all), `false` (off) or a number of points.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq)]
#[serde(untagged)]
pub enum DropAllowance {
    On(bool),
    Points(f64),
}

impl DropAllowance {
    /// The allowed drop in points, or `None` when the gate is off.
    pub fn points(self) -> Option<f64> {
        match self {
            DropAllowance::On(true) => Some(0.0),
            DropAllowance::On(false) => None,
            DropAllowance::Points(p) => Some(p),
        }
    }
}

#[derive(Deserialize, Debug, Default, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IterateConfig {
    pub max_iterations: Option<u32>,
    pub plateau: Option<u32>,
    pub fix_cmd: Option<String>,
    pub rollback_on_regression: Option<bool>,
}

/// Most tests run at once (`-j`, `run.jobs`): more threads than this only thrash.
pub const MAX_JOBS: usize = 1024;
/// Most extra attempts of a failing test (`--retries`, `run.retries`).
pub const MAX_RETRIES: u32 = 100;
/// Longest time limit (`--test-timeout`, `--timeout`, `run.test_timeout`, `run.timeout`):
/// 365 days, far beyond a real limit and far from overflowing a deadline.
pub const MAX_TIMEOUT_SECS: f64 = 365.0 * 24.0 * 3600.0;

/// A time limit in seconds: more than 0 and at most [`MAX_TIMEOUT_SECS`].
pub fn time_limit(secs: f64) -> Result<std::time::Duration, String> {
    // Written so that NaN fails too.
    if !(secs > 0.0 && secs <= MAX_TIMEOUT_SECS) {
        return Err(format!(
            "a time limit must be more than 0 and at most {MAX_TIMEOUT_SECS} seconds (365 days)"
        ));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// Tests at once: 0 (one per CPU) to [`MAX_JOBS`].
pub fn jobs(n: usize) -> Result<usize, String> {
    if n > MAX_JOBS {
        return Err(format!(
            "jobs must be at most {MAX_JOBS} (0 means one per CPU)"
        ));
    }
    Ok(n)
}

/// Extra attempts: 0 to [`MAX_RETRIES`].
pub fn retries(n: u32) -> Result<u32, String> {
    if n > MAX_RETRIES {
        return Err(format!("retries must be at most {MAX_RETRIES}"));
    }
    Ok(n)
}

/// A rate given as a number: 0 to 1. A number above 1 and at most 100 was probably meant
/// as a percentage, and the error says how to write it.
pub fn rate(v: f64) -> Result<f64, String> {
    check_rate(v, &format!("{v}"))
}

/// A rate as people write it, on the command line and in configuration files alike:
/// `0.7` or `70%` (`70 %` too), from 0 to 1 or 0% to 100%. A bare `70` is an error that
/// says to write `0.7` or `70%`.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let unreadable = || {
        format!("`{text}` is not a rate: write a number from 0 to 1 (0.7) or a percentage (70%)")
    };
    if let Some(number) = t.strip_suffix('%') {
        let p: f64 = number.trim_end().parse().map_err(|_| unreadable())?;
        if !(0.0..=100.0).contains(&p) {
            return Err(format!(
                "{t} is not a rate: a percentage must be from 0% to 100%"
            ));
        }
        return Ok(p / 100.0);
    }
    let v: f64 = t.parse().map_err(|_| unreadable())?;
    check_rate(v, t)
}

fn check_rate(v: f64, shown: &str) -> Result<f64, String> {
    if (0.0..=1.0).contains(&v) {
        return Ok(v);
    }
    if v > 1.0 && v <= 100.0 {
        return Err(format!(
            "{shown} is not a rate: write {} or {shown}%",
            decimal(v / 100.0)
        ));
    }
    Err(format!(
        "{shown} is not a rate: a rate is a number from 0 to 1 (0.7) or a percentage from 0% to 100% (70%)"
    ))
}

/// `x` with at most 6 decimals and no trailing zeros (`0.7`, not `0.7000000000000001`).
fn decimal(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

/// A percentage (or percentage points): 0 to 100.
pub fn percent(v: f64) -> Result<f64, String> {
    if !(0.0..=100.0).contains(&v) {
        return Err("a percentage must be between 0 and 100".into());
    }
    Ok(v)
}

/// A duration a gate compares with: 0 to [`MAX_TIMEOUT_SECS`] seconds.
pub fn seconds(v: f64) -> Result<f64, String> {
    if !(0.0..=MAX_TIMEOUT_SECS).contains(&v) {
        return Err(format!(
            "a duration must be between 0 and {MAX_TIMEOUT_SECS} seconds (365 days)"
        ));
    }
    Ok(v)
}

/// The 1-based line of `key`'s entry in a configuration file's text (TOML `key =`, JSON
/// `"key":`), for errors; the first one found.
fn line_of(text: &str, key: &str) -> Option<usize> {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            let rest = l
                .strip_prefix(leaf)
                .or_else(|| l.strip_prefix(&format!("\"{leaf}\"")));
            rest.is_some_and(|r| {
                let r = r.trim_start();
                r.starts_with('=') || r.starts_with(':')
            })
        })
        .map(|i| i + 1)
}

impl QuarantineRule {
    /// Exactly one of `id` and `pattern`, a reason, and a real `YYYY-MM-DD` date.
    pub fn check(&self) -> Result<(), String> {
        let blank = |v: &Option<String>| v.as_deref().is_some_and(|s| s.trim().is_empty());
        match (&self.id, &self.pattern) {
            (Some(_), Some(_)) => return Err("give `id` or `pattern`, not both".into()),
            (None, None) => {
                return Err("missing `id` (a test id) or `pattern` (a glob over ids)".into());
            }
            _ if blank(&self.id) || blank(&self.pattern) => {
                return Err("`id` / `pattern` is empty".into());
            }
            _ => {}
        }
        match &self.reason {
            None => return Err("missing `reason` (why the test is quarantined)".into()),
            Some(r) if r.trim().is_empty() => return Err("`reason` is empty".into()),
            _ => {}
        }
        if let Some(u) = &self.until {
            crate::names::parse_date(u).map_err(|e| format!("`until` = {u:?}: {e}"))?;
        }
        Ok(())
    }
}

/// The 1-based line of the `n`th (0-based) quarantine entry's header (`[[quarantine]]`,
/// `[[tool.testflow.quarantine]]`, …) or, for an inline array, of its `{`.
fn nth_quarantine_line(text: &str, n: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim();
            l.starts_with("[[") && l.trim_end_matches("]]").ends_with("quarantine")
        })
        .nth(n)
        .map(|(i, _)| i + 1)
}

/// A configuration and the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub config: Config,
    pub source: Option<PathBuf>,
}

/// [`load`], then [`Config::validate`] against the file it came from: what every command
/// reads its configuration with.
pub fn load_checked(dir: &Path) -> Result<Loaded> {
    let loaded = load(dir)?;
    if let Some(src) = &loaded.source {
        loaded.config.validate(src)?;
    }
    Ok(loaded)
}

/// Find the configuration for `dir`: the nearest directory (`dir` or a parent) holding
/// one of the four files with a testflow table. No file: the defaults.
pub fn load(dir: &Path) -> Result<Loaded> {
    for d in dir.ancestors() {
        if let Some(loaded) = load_from_dir(d)? {
            return Ok(loaded);
        }
        if d.join(".git").exists() {
            break; // never read configuration from outside the repository
        }
    }
    Ok(Loaded {
        config: Config::default(),
        source: None,
    })
}

fn load_from_dir(d: &Path) -> Result<Option<Loaded>> {
    let found = |config: Config, path: PathBuf| {
        Ok(Some(Loaded {
            config,
            source: Some(path),
        }))
    };
    let own = d.join("testflow.toml");
    if own.is_file() {
        let text = read(&own)?;
        return found(parse_toml::<Config>(&text, &own)?, own);
    }
    let cargo = d.join("Cargo.toml");
    if cargo.is_file() {
        #[derive(Deserialize)]
        struct Meta {
            testflow: Option<Config>,
        }
        #[derive(Deserialize)]
        struct Section {
            metadata: Option<Meta>,
        }
        #[derive(Deserialize)]
        struct Manifest {
            workspace: Option<Section>,
            package: Option<Section>,
        }
        let text = read(&cargo)?;
        // Only manifests that mention the table are parsed strictly.
        if text.contains("testflow") {
            let m: Manifest = parse_toml(&text, &cargo)?;
            let table = m
                .workspace
                .and_then(|w| w.metadata)
                .and_then(|m| m.testflow)
                .or_else(|| m.package.and_then(|p| p.metadata).and_then(|m| m.testflow));
            if let Some(c) = table {
                return found(c, cargo);
            }
        }
    }
    let pyproject = d.join("pyproject.toml");
    if pyproject.is_file() {
        #[derive(Deserialize)]
        struct Tool {
            testflow: Option<Config>,
        }
        #[derive(Deserialize)]
        struct PyProject {
            tool: Option<Tool>,
        }
        let text = read(&pyproject)?;
        if text.contains("testflow") {
            let p: PyProject = parse_toml(&text, &pyproject)?;
            if let Some(c) = p.tool.and_then(|t| t.testflow) {
                return found(c, pyproject);
            }
        }
    }
    let package = d.join("package.json");
    if package.is_file() {
        #[derive(Deserialize)]
        struct Package {
            testflow: Option<Config>,
        }
        let text = read(&package)?;
        if text.contains("\"testflow\"") {
            let p: Package = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!("{}:{}:{}: {e}", package.display(), e.line(), e.column())
            })?;
            if let Some(c) = p.testflow {
                return found(c, package);
            }
        }
    }
    Ok(None)
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// A `testflow.toml` text, parsed and validated as if read from `source` (what the
/// fuzz target `fuzz/fuzz_targets/config.rs` feeds).
pub fn parse_str(text: &str, source: &Path) -> Result<Config> {
    let config: Config = parse_toml(text, source)?;
    config.validate(source)?;
    Ok(config)
}

/// Parse TOML; an error names the file and the line and column of the offending key.
fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, path: &Path) -> Result<T> {
    toml::from_str(text).map_err(|e| {
        let place = e
            .span()
            .map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!(":{line}:{col}")
            })
            .unwrap_or_default();
        anyhow::anyhow!("{}{place}: {}", path.display(), e.message())
    })
}

impl Config {
    /// Checks serde cannot express (value ranges, names). Errors name the file, the line
    /// of the key when it can be found, the key and the value.
    pub fn validate(&self, source: &Path) -> Result<()> {
        let text = std::fs::read_to_string(source).unwrap_or_default();
        let bad = |key: &str, value: &dyn std::fmt::Debug, why: &str| -> Result<()> {
            let line = line_of(&text, key).map_or(String::new(), |l| format!(":{l}"));
            bail!("{}{line}: `{key}` = {value:?}: {why}", source.display())
        };
        if let Some(IsolationSetting::Unknown(i)) = &self.run.isolation {
            return bad("run.isolation", i, "must be \"process\" or \"binary\"");
        }
        if let Some(g) = self
            .affected
            .always_run
            .iter()
            .find(|g| g.trim().is_empty())
        {
            return bad("always_run", g, "a glob must not be empty");
        }
        for (n, rule) in self.isolation.iter().enumerate() {
            let empty = |v: &Option<String>| v.as_deref().is_some_and(|s| s.trim().is_empty());
            let why = if rule.package.is_none() && rule.tests.is_none() {
                Some(
                    "an [[isolation]] rule needs `package`, `tests` or both (for every test, set `run.isolation`)",
                )
            } else if empty(&rule.package) || empty(&rule.tests) {
                Some("`package` and `tests` must not be empty")
            } else {
                None
            };
            if let Some(why) = why {
                let line = text
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| l.trim_start().starts_with("[[isolation]]"))
                    .nth(n)
                    .map_or(String::new(), |(i, _)| format!(":{}", i + 1));
                bail!(
                    "{}{line}: [[isolation]] rule {}: {why}",
                    source.display(),
                    n + 1
                );
            }
        }
        for (n, rule) in self.timeout.iter().enumerate() {
            let empty = |v: &Option<String>| v.as_deref().is_some_and(|s| s.trim().is_empty());
            let why = if rule.package.is_none() && rule.tests.is_none() {
                Some(
                    "a [[timeout]] rule needs `package`, `tests` or both (for every test, set `run.test_timeout`)"
                        .to_string(),
                )
            } else if empty(&rule.package) || empty(&rule.tests) {
                Some("`package` and `tests` must not be empty".to_string())
            } else {
                time_limit(rule.test_timeout)
                    .err()
                    .map(|why| format!("`test_timeout` = {}: {why}", rule.test_timeout))
            };
            if let Some(why) = why {
                let line = text
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| {
                        let l = l.trim_start();
                        l.starts_with("[[")
                            && l.trim_end().trim_end_matches("]]").ends_with("timeout")
                    })
                    .nth(n)
                    .map_or(String::new(), |(i, _)| format!(":{}", i + 1));
                bail!(
                    "{}{line}: [[timeout]] rule {}: {why}",
                    source.display(),
                    n + 1
                );
            }
        }
        for (key, v) in [
            ("run.test_timeout", self.run.test_timeout),
            ("run.timeout", self.run.timeout),
            ("run.slow_timeout", self.run.slow_timeout),
        ] {
            if let Some(v) = v
                && let Err(why) = time_limit(v)
            {
                return bad(key, &v, &why);
            }
        }
        if let Some(n) = self.run.jobs
            && let Err(why) = jobs(n)
        {
            return bad("run.jobs", &n, &why);
        }
        if let Some(n) = self.run.retries
            && let Err(why) = retries(n)
        {
            return bad("run.retries", &n, &why);
        }
        for (key, r) in [
            ("gates.min_pass_rate", &self.gates.min_pass_rate),
            ("gates.min_coverage", &self.gates.min_coverage),
            ("gates.min_file_coverage", &self.gates.min_file_coverage),
        ] {
            if let Some(r) = r
                && let Err(why) = r.value()
            {
                return match r {
                    RateSetting::Number(v) => bad(key, v, &why),
                    RateSetting::Text(t) => bad(key, t, &why),
                };
            }
        }
        if let Some(v) = self.gates.max_duration
            && let Err(why) = seconds(v)
        {
            return bad("gates.max_duration", &v, &why);
        }
        if let Some(DropAllowance::Points(p)) = self.gates.no_coverage_drop
            && percent(p).is_err()
        {
            return bad(
                "gates.no_coverage_drop",
                &p,
                "must be true, false or the points of drop allowed (0 to 100)",
            );
        }
        for r in self.run.reports.iter().flatten() {
            crate::names::ReportSpec::parse(r)
                .with_context(|| format!("{}: in `run.reports`", source.display()))?;
        }
        for (i, q) in self.quarantine.iter().enumerate() {
            if let Err(why) = q.check() {
                let line = nth_quarantine_line(&text, i).map_or(String::new(), |l| format!(":{l}"));
                let what =
                    q.id.as_deref()
                        .map(|id| format!(" (id {id:?})"))
                        .or_else(|| q.pattern.as_deref().map(|p| format!(" (pattern {p:?})")))
                        .unwrap_or_default();
                bail!(
                    "{}{line}: quarantine entry {}{what}: {why}",
                    source.display(),
                    i + 1
                );
            }
        }
        for (key, v) in [
            ("iterate.max_iterations", self.iterate.max_iterations),
            ("iterate.plateau", self.iterate.plateau),
        ] {
            if v == Some(0) {
                return bad(key, &0, "must be at least 1");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn testflow_toml_is_read_from_the_nearest_directory() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join(".git")).unwrap();
        write(
            d.path(),
            "testflow.toml",
            "[run]\njobs = 3\nreports = [\"junit=a.xml\"]\n[gates]\nmax_flaky = 0\n",
        );
        let sub = d.path().join("crates/x");
        std::fs::create_dir_all(&sub).unwrap();
        let l = load(&sub).unwrap();
        assert_eq!(l.config.run.jobs, Some(3));
        assert_eq!(l.config.gates.max_flaky, Some(0));
        assert_eq!(l.source.unwrap(), d.path().join("testflow.toml"));
    }

    #[test]
    fn an_unknown_key_names_file_line_and_key() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "testflow.toml",
            "[run]\njobs = 2\n\n[gates]\nmax_flakey = 1\n",
        );
        let err = load(d.path()).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}:5:1: unknown field `max_flakey`", p.display())),
            "{err}"
        );
    }

    #[test]
    fn coverage_settings() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "testflow.toml",
            "[run]\ncoverage = true\n[gates]\nno_coverage_drop = true\n",
        );
        let c = load(d.path()).unwrap().config;
        assert_eq!(c.run.coverage, Some(true));
        assert_eq!(c.gates.no_coverage_drop.and_then(|d| d.points()), Some(0.0));
        std::fs::write(&p, "[gates]\nno_coverage_drop = 0.5\n").unwrap();
        let c = load(d.path()).unwrap().config;
        assert_eq!(c.gates.no_coverage_drop.and_then(|d| d.points()), Some(0.5));
        std::fs::write(&p, "[gates]\nno_coverage_drop = false\n").unwrap();
        let c = load(d.path()).unwrap().config;
        assert_eq!(c.gates.no_coverage_drop.and_then(|d| d.points()), None);
        std::fs::write(&p, "[gates]\nno_coverage_drop = 250\n").unwrap();
        let c = load(d.path()).unwrap().config;
        let err = format!("{:#}", c.validate(&p).unwrap_err());
        assert!(
            err.contains("testflow.toml:2: `gates.no_coverage_drop` = 250.0: must be"),
            "{err}"
        );
        std::fs::write(&p, "[gates]\nno_coverage_drop = \"yes\"\n").unwrap();
        let err = load(d.path()).unwrap_err().to_string();
        assert!(err.contains("testflow.toml:2:"), "{err}");
    }

    #[test]
    fn a_wrong_type_names_the_line() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "testflow.toml", "[run]\nretries = \"two\"\n");
        let err = load(d.path()).unwrap_err().to_string();
        assert!(err.contains("testflow.toml:2:"), "{err}");
        assert!(err.contains("invalid type"), "{err}");
    }

    #[test]
    fn the_table_in_cargo_pyproject_and_package_json() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "Cargo.toml",
            "[workspace]\nmembers = []\n[workspace.metadata.testflow.run]\nretries = 2\n",
        );
        assert_eq!(load(d.path()).unwrap().config.run.retries, Some(2));

        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "pyproject.toml",
            "[project]\nname = \"x\"\n[tool.testflow.iterate]\nplateau = 3\n",
        );
        assert_eq!(load(d.path()).unwrap().config.iterate.plateau, Some(3));

        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "package.json",
            "{\n  \"name\": \"x\",\n  \"testflow\": {\n    \"run\": { \"jobz\": 2 }\n  }\n}\n",
        );
        let err = load(d.path()).unwrap_err().to_string();
        assert!(
            err.contains("package.json:4:") && err.contains("unknown field `jobz`"),
            "{err}"
        );
    }

    #[test]
    fn one_parser_for_rates() {
        let ok = [
            ("100%", 1.0),
            ("0%", 0.0),
            ("0.5", 0.5),
            ("1", 1.0),
            ("0", 0.0),
            ("70%", 0.7),
            ("70 %", 0.7),
            (" 12.5% ", 0.125),
        ];
        for (text, want) in ok {
            assert_eq!(parse_rate(text), Ok(want), "{text}");
        }
        let bad = [
            ("70", "70 is not a rate: write 0.7 or 70%"),
            ("1.5", "1.5 is not a rate: write 0.015 or 1.5%"),
            ("100", "100 is not a rate: write 1 or 100%"),
            (
                "-0.1",
                "-0.1 is not a rate: a rate is a number from 0 to 1 (0.7) or a percentage from 0% to 100% (70%)",
            ),
            ("101", "101 is not a rate: a rate is a number from 0 to 1"),
            ("NaN", "NaN is not a rate: a rate is a number from 0 to 1"),
            ("inf", "inf is not a rate: a rate is a number from 0 to 1"),
            (
                "NaN%",
                "NaN% is not a rate: a percentage must be from 0% to 100%",
            ),
            (
                "101%",
                "101% is not a rate: a percentage must be from 0% to 100%",
            ),
            (
                "-1%",
                "-1% is not a rate: a percentage must be from 0% to 100%",
            ),
            (
                "abc",
                "`abc` is not a rate: write a number from 0 to 1 (0.7) or a percentage (70%)",
            ),
            ("%", "`%` is not a rate"),
            ("", "`` is not a rate"),
            ("70%%", "`70%%` is not a rate"),
        ];
        for (text, want) in bad {
            let err = parse_rate(text).unwrap_err();
            assert!(err.starts_with(want), "{text}: {err}");
        }
        // A number from a file follows the same rules as the text.
        assert_eq!(rate(0.7), Ok(0.7));
        assert_eq!(rate(70.0).unwrap_err(), parse_rate("70").unwrap_err());
        assert!(rate(f64::NAN).is_err());
    }

    #[test]
    fn rates_in_files_are_numbers_or_percentages() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "testflow.toml",
            "[gates]\nmin_pass_rate = \"95%\"\nmin_coverage = 0.8\nmin_file_coverage = 1\n",
        );
        let c = load(d.path()).unwrap().config;
        c.validate(&p).unwrap();
        let value = |r: &Option<RateSetting>| r.as_ref().unwrap().value().unwrap();
        assert_eq!(value(&c.gates.min_pass_rate), 0.95);
        assert_eq!(value(&c.gates.min_coverage), 0.8);
        assert_eq!(value(&c.gates.min_file_coverage), 1.0);
        std::fs::write(&p, "[gates]\nmin_pass_rate = true\n").unwrap();
        let err = load(d.path()).unwrap_err().to_string();
        assert!(
            err.contains("testflow.toml:2:") && err.contains("expected a rate"),
            "{err}"
        );
    }

    #[test]
    fn isolation_rules_are_read_and_checked() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "testflow.toml",
            "[run]\nisolation = \"binary\"\n\n[[isolation]]\npackage = \"db\"\nmode = \"process\"\n\n[[isolation]]\ntests = \"net::\"\nmode = \"binary\"\n",
        );
        let c = load(d.path()).unwrap().config;
        c.validate(&p).unwrap();
        assert_eq!(
            c.run.isolation,
            Some(IsolationSetting::Mode(IsolationMode::Binary))
        );
        assert_eq!(
            c.isolation,
            vec![
                IsolationRuleConfig {
                    package: Some("db".into()),
                    tests: None,
                    mode: IsolationMode::Process,
                },
                IsolationRuleConfig {
                    package: None,
                    tests: Some("net::".into()),
                    mode: IsolationMode::Binary,
                },
            ]
        );
        // A mode that does not exist names the line and the modes that do.
        std::fs::write(&p, "[[isolation]]\npackage = \"db\"\nmode = \"thread\"\n").unwrap();
        let err = load(d.path()).unwrap_err().to_string();
        assert!(
            err.contains(
                "testflow.toml:3:8: unknown variant `thread`, expected `process` or `binary`"
            ),
            "{err}"
        );
        // A rule must say which tests it is for, and names its own line.
        std::fs::write(
            &p,
            "[[isolation]]\npackage = \"db\"\nmode = \"process\"\n[[isolation]]\nmode = \"process\"\n",
        )
        .unwrap();
        let c = load(d.path()).unwrap().config;
        let err = c.validate(&p).unwrap_err().to_string();
        assert!(
            err.contains("testflow.toml:4: [[isolation]] rule 2: an [[isolation]] rule needs `package`, `tests` or both"),
            "{err}"
        );
        std::fs::write(&p, "[[isolation]]\ntests = \" \"\nmode = \"process\"\n").unwrap();
        let c = load(d.path()).unwrap().config;
        let err = c.validate(&p).unwrap_err().to_string();
        assert!(err.contains("must not be empty"), "{err}");
        // An unknown key is refused like anywhere else.
        std::fs::write(&p, "[[isolation]]\npkg = \"db\"\nmode = \"process\"\n").unwrap();
        let err = load(d.path()).unwrap_err().to_string();
        assert!(
            err.contains("testflow.toml:2:") && err.contains("unknown field"),
            "{err}"
        );
    }

    #[test]
    fn timeout_rules_are_read_and_checked_naming_their_line() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "testflow.toml",
            "[run]\ntimeout = 600\n\n[[timeout]]\ntests = \"slow::\"\ntest_timeout = 120\n\n[[timeout]]\npackage = \"ui\"\ntests = \"x\"\ntest_timeout = 0.5\n",
        );
        let c = load(d.path()).unwrap().config;
        c.validate(&p).unwrap();
        assert_eq!(
            c.timeout,
            vec![
                TimeoutRuleConfig {
                    package: None,
                    tests: Some("slow::".into()),
                    test_timeout: 120.0,
                },
                TimeoutRuleConfig {
                    package: Some("ui".into()),
                    tests: Some("x".into()),
                    test_timeout: 0.5,
                },
            ]
        );
        let refused = |text: &str| {
            std::fs::write(&p, text).unwrap();
            let c = load(d.path()).unwrap().config;
            c.validate(&p).unwrap_err().to_string()
        };
        // `[run] timeout` is not a rule header: rule 2 is on line 6.
        let err = refused(
            "[run]\ntimeout = 5\n[[timeout]]\ntests = \"a\"\ntest_timeout = 1\n[[timeout]]\ntest_timeout = 1\n",
        );
        assert!(
            err.ends_with("testflow.toml:6: [[timeout]] rule 2: a [[timeout]] rule needs `package`, `tests` or both (for every test, set `run.test_timeout`)"),
            "{err}"
        );
        let err = refused("[[timeout]]\ntests = \"a\"\ntest_timeout = 0\n");
        assert!(
            err.contains("testflow.toml:1: [[timeout]] rule 1: `test_timeout` = 0: a time limit must be more than 0"),
            "{err}"
        );
        let err = refused("[[timeout]]\npackage = \"\"\ntest_timeout = 3\n");
        assert!(err.contains("must not be empty"), "{err}");
        // The limit is required, and a wrong type names its line.
        std::fs::write(&p, "[[timeout]]\ntests = \"a\"\n").unwrap();
        let err = load(d.path()).unwrap_err().to_string();
        assert!(err.contains("test_timeout"), "{err}");
        std::fs::write(&p, "[[timeout]]\ntests = \"a\"\ntest_timeout = \"soon\"\n").unwrap();
        let err = load(d.path()).unwrap_err().to_string();
        assert!(err.contains("testflow.toml:3:"), "{err}");
    }

    #[test]
    fn run_isolation_is_a_mode_and_anything_else_is_refused_naming_the_line() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "testflow.toml",
            "[run]\nisolation = \"process\"\n",
        );
        let c = load(d.path()).unwrap().config;
        c.validate(&p).unwrap();
        let mode = c.run.isolation.as_ref().and_then(IsolationSetting::mode);
        assert_eq!(mode, Some(IsolationMode::Process));
        std::fs::write(&p, "[run]\nisolation = \"thread\"\n").unwrap();
        let c = load(d.path()).unwrap().config;
        assert_eq!(
            c.run.isolation,
            Some(IsolationSetting::Unknown("thread".into()))
        );
        assert_eq!(
            c.run.isolation.as_ref().and_then(IsolationSetting::mode),
            None
        );
        let err = c.validate(&p).unwrap_err().to_string();
        assert!(
            err.ends_with(
                "testflow.toml:2: `run.isolation` = \"thread\": must be \"process\" or \"binary\""
            ),
            "{err}"
        );
        // Not a string: serde's own error, naming the line and column.
        std::fs::write(&p, "[run]\nisolation = 3\n").unwrap();
        let err = load(d.path()).unwrap_err().to_string();
        assert!(
            err.contains("testflow.toml:2:") && err.contains("expected a string"),
            "{err}"
        );
    }

    #[test]
    fn values_are_checked() {
        let c = Config {
            run: RunConfig {
                isolation: Some(IsolationSetting::Unknown("thread".into())),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(
            c.validate(Path::new("t.toml"))
                .unwrap_err()
                .to_string()
                .contains("`run.isolation`")
        );
        let c = Config {
            gates: GatesConfig {
                min_file_coverage: Some(RateSetting::Number(101.0)),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(
            c.validate(Path::new("t.toml"))
                .unwrap_err()
                .to_string()
                .contains("`gates.min_file_coverage` = 101.0: 101 is not a rate: a rate is a number from 0 to 1")
        );
        // An unknown advisory gate is refused as the file is read, with its line.
        let e = parse_str("[gates]\nadvisory = [\"nope\"]\n", Path::new("t.toml")).unwrap_err();
        let e = format!("{e:#}");
        assert!(
            e.contains("unknown gate `nope`") && e.contains("t.toml:2"),
            "{e}"
        );
    }

    #[test]
    fn numbers_out_of_range_name_file_line_key_and_value() {
        let d = tempfile::tempdir().unwrap();
        let cases = [
            (
                "[run]\ntest_timeout = 1e300\n",
                ":2: `run.test_timeout` = 1e300: a time limit must be more than 0 and at most 31536000 seconds (365 days)",
            ),
            (
                "[run]\njobs = 2\ntimeout = -1.0\n",
                ":3: `run.timeout` = -1.0: a time limit",
            ),
            (
                "[run]\ntimeout = nan\n",
                ":2: `run.timeout` = NaN: a time limit",
            ),
            (
                "[run]\ntimeout = inf\n",
                ":2: `run.timeout` = inf: a time limit",
            ),
            (
                "[run]\njobs = 100000000\n",
                ":2: `run.jobs` = 100000000: jobs must be at most 1024 (0 means one per CPU)",
            ),
            (
                "[run]\nretries = 4000000000\n",
                ":2: `run.retries` = 4000000000: retries must be at most 100",
            ),
            (
                "[gates]\nmax_duration = -3.0\n",
                ":2: `gates.max_duration` = -3.0: a duration must be between 0",
            ),
            (
                "[gates]\nmin_pass_rate = 1.5\n",
                ":2: `gates.min_pass_rate` = 1.5: 1.5 is not a rate: write 0.015 or 1.5%",
            ),
            (
                "[gates]\nmin_pass_rate = 70\n",
                ":2: `gates.min_pass_rate` = 70.0: 70 is not a rate: write 0.7 or 70%",
            ),
            (
                "[gates]\nmin_coverage = \"170%\"\n",
                ":2: `gates.min_coverage` = \"170%\": 170% is not a rate: a percentage must be from 0% to 100%",
            ),
            (
                "[gates]\nmin_file_coverage = \"abc\"\n",
                ":2: `gates.min_file_coverage` = \"abc\": `abc` is not a rate: write a number from 0 to 1 (0.7) or a percentage (70%)",
            ),
            (
                "[iterate]\nplateau = 0\n",
                ":2: `iterate.plateau` = 0: must be at least 1",
            ),
        ];
        for (text, want) in cases {
            let p = write(d.path(), "testflow.toml", text);
            let c = load(d.path()).unwrap().config;
            let err = format!("{:#}", c.validate(&p).unwrap_err());
            assert!(
                err.starts_with(&format!("{}{want}", p.display())),
                "{text}: {err}"
            );
        }
        // The same keys in pyproject.toml and package.json.
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "pyproject.toml",
            "[project]\nname = \"x\"\n\n[tool.testflow.run]\ntest_timeout = 1e300\n",
        );
        let c = load(d.path()).unwrap().config;
        let err = format!("{:#}", c.validate(&p).unwrap_err());
        assert!(
            err.starts_with(&format!("{}:5: `run.test_timeout` = 1e300", p.display())),
            "{err}"
        );
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "package.json",
            "{\n  \"testflow\": {\n    \"run\": {\n      \"jobs\": 5000\n    }\n  }\n}\n",
        );
        let c = load(d.path()).unwrap().config;
        let err = format!("{:#}", c.validate(&p).unwrap_err());
        assert!(
            err.starts_with(&format!("{}:4: `run.jobs` = 5000", p.display())),
            "{err}"
        );
    }
}
