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
