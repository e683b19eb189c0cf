//! The names people write in configuration files and on command lines: gates, report
//! formats and `FORMAT=PATH`, dates. Parsed here, below everything that reads them:
//! `config` validates a file with them, and `gate`, `report` and `quarantine` (which
//! re-export them) own what they mean.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use serde::Serialize;

/// The reports to write, as `FORMAT=PATH[,FORMAT=PATH…]` (every door reads it).
pub const REPORT_ENV: &str = "TESTFLOW_REPORT";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GateName {
    /// The run is trustworthy: no run errors, completed, summary matches its tests.
    NoRunErrors,
    MinPassRate,
    MinTests,
    MaxSkipped,
    MaxFlaky,
    MaxDuration,
    MinCoverage,
    MinFileCoverage,
    NoCoverageDrop,
    /// No quarantine entry has expired (applied whenever the run has a quarantine).
    Quarantine,
}

impl GateName {
    pub const ALL: [GateName; 10] = [
        GateName::NoRunErrors,
        GateName::MinPassRate,
        GateName::MinTests,
        GateName::MaxSkipped,
        GateName::MaxFlaky,
        GateName::MaxDuration,
        GateName::MinCoverage,
        GateName::MinFileCoverage,
        GateName::NoCoverageDrop,
        GateName::Quarantine,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GateName::NoRunErrors => "no_run_errors",
            GateName::MinPassRate => "min_pass_rate",
            GateName::MinTests => "min_tests",
            GateName::MaxSkipped => "max_skipped",
            GateName::MaxFlaky => "max_flaky",
            GateName::MaxDuration => "max_duration",
            GateName::MinCoverage => "min_coverage",
            GateName::MinFileCoverage => "min_file_coverage",
            GateName::NoCoverageDrop => "no_coverage_drop",
            GateName::Quarantine => "quarantine",
        }
    }

    pub fn parse(s: &str) -> anyhow::Result<GateName> {
        let s = s.replace('-', "_");
        GateName::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = GateName::ALL.iter().map(|g| g.as_str()).collect();
                anyhow::anyhow!("unknown gate `{s}` (gates: {})", names.join(", "))
            })
    }
}

/// A gate's name in a configuration file (`gates.advisory`): an unknown one is an error
/// naming the file and line.
impl<'de> serde::Deserialize<'de> for GateName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        GateName::parse(&s).map_err(|e| serde::de::Error::custom(format!("{e:#}")))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    Json,
    Junit,
    /// Common Test Report Format (JSON), see `ctrf.rs`.
    Ctrf,
    /// A compact summary for pull requests and CI step summaries, under 1 MiB.
    Markdown,
    /// One self-contained HTML file with the data embedded.
    Html,
}

impl ReportFormat {
    pub const ALL: [ReportFormat; 5] = [
        ReportFormat::Json,
        ReportFormat::Junit,
        ReportFormat::Ctrf,
        ReportFormat::Markdown,
        ReportFormat::Html,
    ];

    pub fn parse(s: &str) -> Result<Self> {
        let wanted = s.trim();
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(wanted))
            .with_context(|| {
                format!(
                    "unknown report format `{wanted}`; accepted formats: {}",
                    Self::names()
                )
            })
    }

    pub fn name(self) -> &'static str {
        match self {
            ReportFormat::Json => "json",
            ReportFormat::Junit => "junit",
            ReportFormat::Ctrf => "ctrf",
            ReportFormat::Markdown => "markdown",
            ReportFormat::Html => "html",
        }
    }

    pub(crate) fn names() -> String {
        Self::ALL.map(|f| f.name()).join(", ")
    }
}

/// A report to write: which format, where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportSpec {
    pub format: ReportFormat,
    pub path: PathBuf,
}

impl ReportSpec {
    /// Parses `FORMAT=PATH`, e.g. `junit=out/junit.xml`.
    pub fn parse(s: &str) -> Result<Self> {
        let Some((format, path)) = s.split_once('=') else {
            bail!(
                "invalid report `{s}`: expected FORMAT=PATH, e.g. junit=out/junit.xml (formats: {})",
                ReportFormat::names()
            );
        };
        let format =
            ReportFormat::parse(format).with_context(|| format!("invalid report `{s}`"))?;
        let path = path.trim();
        if path.is_empty() {
            bail!(
                "invalid report `{s}`: the path after `=` is empty; expected e.g. {}=out/report.{}",
                format.name(),
                format.extension()
            );
        }
        if path.ends_with('/') || path.ends_with(std::path::MAIN_SEPARATOR) {
            bail!("invalid report `{s}`: `{path}` names a directory; give a file name");
        }
        Ok(ReportSpec {
            format,
            path: PathBuf::from(path),
        })
    }
}

/// A date as entries write it: `YYYY-MM-DD`, exactly.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let t = text.trim();
    let shape = t.len() == 10
        && t.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    let bad = || format!("`{text}` is not a date: write YYYY-MM-DD (2026-12-31)");
    if !shape {
        return Err(bad());
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| bad())
}
