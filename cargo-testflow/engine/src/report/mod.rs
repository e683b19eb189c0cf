//! Reports written from a finished [`Run`]: one renderer per format, one atomic writer.
//!
//! Reports read only the `Run`, never a framework's own output, so every format
//! says the same thing about the same run.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::LazyLock;

use anyhow::{Context, Result};
use regex::Regex;

use crate::model::Run;

/// The verdict in words, for the HTML and Markdown headlines: what happened, never "all
/// passed" when some were skipped (`No failures: 2016 passed, 24 skipped, 1 xfailed`).
/// `good`: `Some(true)` only for a run with tests, no failure and nothing that distrusts
/// it; `None` when no test ran and nothing went wrong.
pub(crate) struct Headline {
    pub(crate) good: Option<bool>,
    pub(crate) text: String,
}

pub(crate) fn headline(run: &Run) -> Headline {
    use crate::model::error_kind;
    use crate::ui::{counts, plural};
    let s = run.recomputed_summary();
    // Quarantined tests' failures do not count (they are listed apart, never as passed).
    let failures = run.verdict_summary().failures();
    let held = s.failures() - failures;
    let stopped = run
        .errors
        .iter()
        .find(|e| error_kind::stops_suite(&e.kind))
        .map(|e| match e.kind.as_str() {
            error_kind::ENVIRONMENT => "a tool the tests need is missing",
            error_kind::LIST => "listing the tests failed",
            _ => "the build failed",
        });
    let distrust = run.distrust_errors();
    let text = if failures > 0 {
        format!(
            "{failures} of {} failed ({}){}",
            plural(s.total, "test", "tests"),
            counts(&s),
            stopped.map(|w| format!(", and {w}")).unwrap_or_default()
        )
    } else if let Some(what) = stopped {
        let mut t = what.to_owned();
        t[..1].make_ascii_uppercase();
        if s.total == 0 {
            format!("{t}: no test ran")
        } else {
            format!("{t} ({} ran)", plural(s.total, "test", "tests"))
        }
    } else if !distrust.is_empty() {
        format!(
            "RUN ERROR: {} ({} recorded)",
            plural(distrust.len() as u64, "run error", "run errors"),
            plural(s.total, "test", "tests")
        )
    } else if s.total == 0 {
        "No test ran".to_owned()
    } else if s.passed == s.total {
        let flaky = if s.flaky > 0 {
            format!(" ({} flaky)", s.flaky)
        } else {
            String::new()
        };
        match s.total {
            1 => format!("The 1 test passed{flaky}"),
            n => format!("All {n} tests passed{flaky}"),
        }
    } else {
        format!("No failures: {}", counts(&s))
    };
    let bad = failures > 0 || stopped.is_some() || !distrust.is_empty();
    let text = match held {
        0 => text,
        _ if !bad && s.total > 0 => format!(
            "No counted failures: {} ({held} quarantined, not counted)",
            counts(&s)
        ),
        _ => format!("{text}; {held} more quarantined, not counted"),
    };
    Headline {
        good: if bad {
            Some(false)
        } else {
            (s.total > 0).then_some(true)
        },
        text,
    }
}

mod ctrf;
pub mod html;
mod json;
mod junit;
pub mod markdown;

pub use crate::names::{ReportFormat, ReportSpec};

impl ReportFormat {
    pub(crate) fn extension(self) -> &'static str {
        match self {
            ReportFormat::Json => "json",
            ReportFormat::Junit => "xml",
            ReportFormat::Ctrf => "json",
            ReportFormat::Markdown => "md",
            ReportFormat::Html => "html",
        }
    }
}

/// What a report may show beyond the run itself.
#[derive(Default, Debug, Clone)]
pub struct Extras {
    /// Past runs from history, oldest first (the HTML report's trends).
    pub trend: Vec<crate::history::TrendPoint>,
}

impl Extras {
    /// What the reports in `formats` need from the history in `store_root`: the trends,
    /// read only when an HTML report is asked for (and there is a history).
    pub fn load(
        mut formats: impl Iterator<Item = ReportFormat>,
        store_root: Option<&std::path::Path>,
    ) -> Extras {
        let trend = match (formats.any(|f| f == ReportFormat::Html), store_root) {
            (true, Some(root)) if root.join(crate::history::DB_FILE).is_file() => {
                crate::history::History::open(root)
                    .and_then(|h| h.trend(50))
                    .unwrap_or_default()
            }
            _ => vec![],
        };
        Extras { trend }
    }
}

/// Render a report into bytes.
pub fn render(run: &Run, format: ReportFormat) -> Result<Vec<u8>> {
    render_with(run, format, &Extras::default())
}

pub fn render_with(run: &Run, format: ReportFormat, extras: &Extras) -> Result<Vec<u8>> {
    match format {
        ReportFormat::Json => json::render(run),
        ReportFormat::Junit => junit::render(run),
        ReportFormat::Ctrf => ctrf::render(run),
        ReportFormat::Markdown => Ok(markdown::render(run).into_bytes()),
        ReportFormat::Html => html::render(run, extras),
    }
}

/// Render and write atomically: readers (CI uploaders, a watching dashboard) see
/// either the old file or the whole new one, never a half-written report.
pub fn write(run: &Run, spec: &ReportSpec) -> Result<()> {
    write_with(run, spec, &Extras::default())
}

pub fn write_with(run: &Run, spec: &ReportSpec, extras: &Extras) -> Result<()> {
    let bytes = render_with(run, spec.format, extras).with_context(|| {
        format!(
            "cannot render {} report {}",
            spec.format.name(),
            spec.path.display()
        )
    })?;
    write_atomic(&spec.path, &bytes)
}

/// ANSI escape sequences: CSI (colours, cursor), OSC terminated by BEL or ST (titles,
/// links), charset selection, other two-byte escapes.
pub(super) static ANSI_ESCAPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[()#%][0-9A-Za-z@]|[@-Z\\-_=>78c])")
        .expect("valid regex")
});

/// Text for people: no ANSI escapes, no control characters but tab and newline.
pub(super) fn plain(s: &str) -> String {
    ANSI_ESCAPE
        .replace_all(s, "")
        .chars()
        .filter(|&c| {
            c == '\t' || c == '\n' || !(c.is_control() || c == '\u{fffe}' || c == '\u{ffff}')
        })
        .collect()
}

/// Append the Markdown summary to a CI step-summary file (`$GITHUB_STEP_SUMMARY`),
/// creating it if needed. The summary stays under GitHub's 1 MiB cap on its own.
pub fn append_step_summary(run: &Run, path: &Path) -> Result<()> {
    append_to_step_summary(&markdown::render(run), path)
}

/// Append text to a CI step-summary file, creating it if needed.
pub fn append_to_step_summary(text: &str, path: &Path) -> Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open the step summary {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot append to the step summary {}", path.display()))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let Some(path) = crate::files::replace_target(path) else {
        return fs::write(path, bytes)
            .with_context(|| format!("cannot write report {}", path.display()));
    };
    let path = path.as_path();
    let file_name = path
        .file_name()
        .with_context(|| format!("cannot write report {}: not a file path", path.display()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create directory {} for report {}",
            dir.display(),
            path.display()
        )
    })?;

    // Same directory as the target, so the rename never crosses file systems.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{}.{}-{}.tmp",
        file_name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| -> Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(|| format!("cannot create temporary file {}", tmp.display()))?;
        // No fsync: a report is a rendering of the run's record (`cargo testflow report`
        // writes it again), like run.json; the rename alone keeps a crash from leaving
        // half a file, and an fsync cost 20-50 ms per report at the end of every run.
        f.write_all(bytes)
            .with_context(|| format!("cannot write temporary file {}", tmp.display()))?;
        drop(f);
        fs::rename(&tmp, path).with_context(|| {
            format!(
                "cannot move {} into place as {}",
                tmp.display(),
                path.display()
            )
        })
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write report {}", path.display()))
}

#[cfg(test)]
mod tests;
