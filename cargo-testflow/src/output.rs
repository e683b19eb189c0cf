//! The human output of the commands that print tables and rows (the engine's
//! `testflow::ui` renders runs, reports and gates).

use std::io::Write;

use anyhow::Result;

use crate::args::OutputFormat;

/// Print rows as JSON, or as a table made by `human`.
pub(crate) fn print_rows<T: serde::Serialize>(
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

/// `cargo testflow list` for people: tests per suite (and files, for pytest and Jest),
/// each test under its suite with `--names`, then the totals.
pub(crate) fn list_text(suites: &[testflow::frameworks::SuiteListing], names: bool) -> String {
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

/// `quarantine list`: one entry.
pub(crate) fn quarantine_row(e: &testflow::model::QuarantineEntry) -> String {
    let until = match (e.until, e.expired) {
        (Some(u), true) => format!("EXPIRED {u}"),
        (Some(u), false) => format!("until {u}"),
        (None, _) => "no expiry".to_owned(),
    };
    let kind = if e.id.is_some() { "id" } else { "pattern" };
    format!("{kind} {}  ({until})  {}", e.target(), e.reason)
}

/// `history import`: one imported file.
pub(crate) fn history_import_row(r: &serde_json::Value) -> String {
    format!(
        "{}: {} tests as {}",
        r["file"].as_str().unwrap_or(""),
        r["tests"],
        r["run_id"].as_str().unwrap_or("")
    )
}

/// `history slowest`: one test's recent and longest durations.
pub(crate) fn slowest_row(r: &testflow::history::SlowTest) -> String {
    format!(
        "{:>10.1} ms  (max {:.1}, {} runs)  {}",
        r.recent_ms, r.max_ms, r.runs, r.test_id
    )
}

/// `history flaky`: one flaky test.
pub(crate) fn flaky_row(r: &testflow::history::FlakyTest) -> String {
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
}

/// `history trend`: one run.
pub(crate) fn trend_row(r: &testflow::history::TrendPoint) -> String {
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
}

/// `history test`: one of the test's results.
pub(crate) fn test_row(r: &testflow::history::TestResultRow) -> String {
    format!(
        "{}  {:<8} {:>10.1} ms  attempts {}  {}",
        r.started_at, r.outcome, r.duration_ms, r.attempts, r.run_id
    )
}

/// `shard plan` for people: each shard's test count and predicted time, then the
/// plan's balance.
pub(crate) fn shard_plan_text(plan: &testflow::shard::Plan, shards: u32) -> String {
    let mut text = String::new();
    for s in &plan.shards {
        text.push_str(&format!(
            "shard {}/{}: {:>5} tests, predicted {:.2}s\n",
            s.index,
            shards,
            s.tests.len(),
            s.predicted_ms / 1000.0
        ));
    }
    text.push_str(&format!(
        "strategy {}, imbalance {:.3} (max / mean), lower bound {:.2}s (longest test {:.2}s), {} tests without a recorded duration\n",
        plan.strategy.as_str(),
        plan.imbalance,
        plan.lower_bound_ms / 1000.0,
        plan.longest_test_ms / 1000.0,
        plan.unknown_durations
    ));
    text
}
