//! What people read: the closing summary, a failure in a few lines, counts in words, test
//! text made safe for a terminal. The live progress (a bar on a terminal, a line per test in
//! logs) is `ui::progress`, built with the `terminal` feature; the commands' tables and rows
//! are `ui::tables`.

use std::io::IsTerminal;

use crate::model::{Failure, Run, TestCase};

// The live progress (indicatif): only the command line draws it.
#[cfg(feature = "terminal")]
mod progress;
pub mod tables;
#[cfg(feature = "watch")]
pub mod watch;
#[cfg(feature = "terminal")]
pub use progress::Printer;

#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub color: bool,
    /// Progress bar (terminal) or one line per test (logs).
    pub bar: bool,
    /// Print nothing per test (`--format json` with `--quiet`).
    pub quiet: bool,
}

impl Style {
    /// From the terminal and `NO_COLOR`.
    pub fn detect(quiet: bool) -> Style {
        let tty = std::io::stderr().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: tty && !no_color,
            bar: tty && !quiet,
            quiet,
        }
    }

    pub(crate) fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// Test-controlled text made safe for a terminal: control characters other than newline
/// and tab (ESC, BEL, CR, backspace, C1 controls such as CSI) and bidi overrides are shown
/// as `\u{..}` escapes, so a test name or message cannot move the cursor, retitle the
/// window, hide text, print a fake verdict over ours, or reorder what is read.
pub fn safe(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Message, location and comparison of a failure, indented, a few lines at most.
pub fn failure_lines(f: &Failure, indent: &str) -> String {
    let mut lines = Vec::new();
    let mut message: Vec<&str> = f.message.lines().take(6).collect();
    if message.is_empty() {
        message.push("(no message)");
    }
    lines.extend(message.iter().map(|l| format!("{indent}{}", safe(l))));
    if let (Some(a), Some(e)) = (&f.actual, &f.expected) {
        lines.push(format!("{indent}  actual: {}", safe(first_line(a))));
        lines.push(format!("{indent}expected: {}", safe(first_line(e))));
    }
    if let Some(loc) = &f.location {
        let col = loc.column.map(|c| format!(":{c}")).unwrap_or_default();
        lines.push(format!("{indent}at {}:{}{col}", safe(&loc.file), loc.line));
    }
    lines.join("\n")
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// `1 test`, `2 tests`, `0 tests`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// What happened, for people: `2016 passed, 24 skipped, 1 xfailed` (only the outcomes
/// that occurred; `0 passed` when nothing else did).
pub fn counts(s: &crate::model::Summary) -> String {
    let mut parts = vec![format!("{} passed", s.passed)];
    for (n, label) in [
        (s.failed, plural(s.failed, "failed", "failed")),
        (s.error, plural(s.error, "error", "errors")),
        (s.timeout, format!("{} timed out", s.timeout)),
        (s.crashed, format!("{} crashed", s.crashed)),
        (s.skipped, format!("{} skipped", s.skipped)),
        (s.xfailed, format!("{} xfailed", s.xfailed)),
        (s.xpassed, format!("{} xpassed", s.xpassed)),
        (s.flaky, format!("{} flaky", s.flaky)),
    ] {
        if n > 0 {
            parts.push(label);
        }
    }
    parts.join(", ")
}

/// Most lines of one run error in the summary (the rest is in run.json).
const ERROR_LINES: usize = 40;

/// A build error whose text is cargo's own output, which `run` echoes as the build goes
/// (unless `--quiet`): the summary does not print it a second time.
fn is_cargo_output(e: &crate::model::RunError) -> bool {
    e.kind == crate::model::error_kind::BUILD
        && e.message
            .lines()
            .any(|l| l.starts_with("error[E") || l.starts_with("error: could not compile"))
}

/// The closing summary: counts, then each failing test with its message.
pub fn summary(run: &Run, style: Style) -> String {
    use crate::model::error_kind;
    let s = &run.recomputed_summary();
    let quarantine = run.recomputed_quarantine();
    let held = crate::quarantine::ids(quarantine.as_ref());
    let mut counts = counts(s);
    if !held.is_empty() {
        counts.push_str(&format!(", {} quarantined", held.len()));
    }
    // `--affected`: what did not run is named apart, never counted as passed.
    if let Some(a) = run.affected.as_ref().filter(|a| a.not_selected > 0) {
        counts.push_str(&format!(", {} not selected", a.not_selected));
    }
    let mut out = String::new();
    let failing: Vec<&TestCase> = run
        .failed_tests()
        .filter(|t| !held.contains(t.id.as_str()))
        .collect();
    if !failing.is_empty() {
        out.push_str(&style.paint("1", &format!("\n{} failing:\n", failing.len())));
        for t in &failing {
            let msg = t
                .failure
                .as_ref()
                .map(|f| first_line(&f.message))
                .unwrap_or("");
            let loc = t
                .failure
                .as_ref()
                .and_then(|f| f.location.as_ref())
                .map(|l| format!(" ({}:{})", l.file, l.line))
                .unwrap_or_default();
            out.push_str(&format!(
                "  {} {}: {}{}\n",
                style.paint("31", t.outcome.as_str()),
                safe(&t.id),
                safe(msg),
                safe(&loc)
            ));
        }
    }
    // Quarantined tests apart: they ran and are reported, and do not fail the run.
    if let Some(q) = quarantine.as_ref().filter(|q| !q.tests.is_empty()) {
        out.push_str(&style.paint(
            "1",
            &format!("\n{} quarantined (not counted):\n", q.tests.len()),
        ));
        for t in &q.tests {
            let code = if t.outcome.is_failure() { "33" } else { "2" };
            let flaky = if t.origin == crate::quarantine::ORIGIN_FLAKY {
                " [--quarantine-flaky]"
            } else {
                ""
            };
            out.push_str(&format!(
                "  {} {}: {}{flaky}\n",
                style.paint(code, t.outcome.as_str()),
                safe(&t.id),
                safe(&t.reason)
            ));
        }
    }
    for e in quarantine
        .iter()
        .flat_map(|q| &q.entries)
        .filter(|e| e.expired)
    {
        out.push_str(&format!(
            "{} `{}` expired on {} (it no longer applies; the quarantine gate fails)\n",
            style.paint("33;1", "quarantine:"),
            safe(e.target()),
            e.until.map(|u| u.to_string()).unwrap_or_default()
        ));
    }
    // Every run error is named, once: each one fails the run closed.
    let mut echoed = false;
    for e in &run.errors {
        if !style.quiet && is_cargo_output(e) {
            echoed = true;
            continue;
        }
        let lines: Vec<&str> = e.message.trim_end().lines().collect();
        let mut text = lines
            .iter()
            .take(ERROR_LINES)
            .copied()
            .collect::<Vec<_>>()
            .join("\n");
        if lines.len() > ERROR_LINES {
            text.push_str(&format!(
                "\n[… {} more lines in the run's run.json]",
                lines.len() - ERROR_LINES
            ));
        }
        out.push_str(&format!(
            "{} {}\n",
            style.paint("31;1", &format!("{} error:", safe(e.kind.as_str()))),
            safe(&text)
        ));
    }
    let has = |kind: &str| run.errors.iter().any(|e| e.kind == kind);
    let build_failed = has(error_kind::BUILD) || has(error_kind::LIST);
    let distrust = run.distrust();
    let verdict = if run.verdict_summary().failures() > 0 {
        style.paint("31;1", "FAILED")
    } else if build_failed {
        style.paint("31;1", "BUILD FAILED")
    } else if has(error_kind::ENVIRONMENT) {
        style.paint("31;1", "ENVIRONMENT ERROR")
    } else if !distrust.is_empty() {
        style.paint("31;1", "RUN ERROR")
    } else if s.total == 0 {
        style.paint("33;1", "NO TESTS")
    } else {
        style.paint("32;1", "PASSED")
    };
    let tests = if s.total == 0 {
        "no tests ran".to_owned()
    } else {
        format!("{}: {counts}", plural(s.total, "test", "tests"))
    };
    let above = if echoed {
        " (cargo's errors are above)"
    } else {
        ""
    };
    out.push_str(&format!(
        "{verdict} [{:.3}s] {tests}{above}\n",
        s.duration_ms / 1000.0,
    ));
    if let Some(c) = &run.coverage {
        out.push_str(&coverage_line(c, style));
    }
    out
}

/// `coverage: lines 84.2% (123/146), …` with the change since the previous run on the
/// branch, and a line for each framework that did not collect coverage.
/// `run --affected --explain`: the base, the change set and every group's decision.
pub fn affected_text(a: &crate::model::Affected) -> String {
    let mut out = format!(
        "\naffected ({}): base {} ({})\n",
        a.mode,
        a.base
            .as_deref()
            .map_or("none".to_owned(), |b| b.chars().take(12).collect()),
        a.base_source
    );
    if let Some(why) = &a.full_run {
        out.push_str(&format!("  every test runs: {}\n", safe(why)));
    }
    for c in &a.changed {
        let old = c
            .old_path
            .as_deref()
            .map_or(String::new(), |o| format!(" (from {})", safe(o)));
        out.push_str(&format!("  {:<9} {}{old}\n", c.status, safe(&c.path)));
    }
    for g in &a.groups {
        let tests = g.tests.map_or(String::new(), |n| {
            format!(" [{}]", plural(n, "test", "tests"))
        });
        out.push_str(&format!(
            "  {} {} {}{tests}: {} ({})\n",
            if g.selected {
                "selected    "
            } else {
                "not selected"
            },
            g.framework.as_str(),
            safe(&g.group),
            safe(&g.reason),
            g.rule
        ));
    }
    out
}

pub fn coverage_line(c: &crate::model::RunCoverage, style: Style) -> String {
    use crate::coverage::Ratio;
    let ratio = |label: &str, r: &Ratio| match r.percent {
        Some(p) => format!("{label} {p:.1}% ({}/{})", r.covered, r.total),
        None => format!("{label} -"),
    };
    let t = &c.totals;
    let mut line = format!(
        "coverage: {}, {}, {}",
        ratio("lines", &t.lines),
        ratio("branches", &t.branches),
        ratio("functions", &t.functions)
    );
    if let (Some(prev), Some(now)) = (&c.previous, t.lines.percent)
        && let Some(before) = prev.lines.percent
    {
        let d = now - before;
        let text = format!("{d:+.1} pts vs run {}", prev.run_id);
        let code = if d < -1e-9 { "31" } else { "32" };
        line.push_str(&format!(" ({})", style.paint(code, &text)));
    }
    line.push('\n');
    for f in c.frameworks.iter().filter(|f| f.status != "collected") {
        line.push_str(&format!(
            "  {}: {}\n",
            style.paint(
                "33",
                &format!("{} coverage {}", f.framework.as_str(), f.status)
            ),
            f.message.as_deref().unwrap_or("")
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RunError;

    #[test]
    fn test_text_cannot_drive_the_terminal() {
        let hostile = "a\x1b]0;pwned\x07b\x1b[2J\rPASSED\u{9b}31m\u{202e}cba\u{8}x";
        let shown = safe(hostile);
        assert_eq!(
            shown,
            "a\\u{1b}]0;pwned\\u{7}b\\u{1b}[2J\\u{d}PASSED\\u{9b}31m\\u{202e}cba\\u{8}x"
        );
        assert!(!shown.chars().any(|c| c.is_control()));
        // Ordinary text, newlines and tabs are left alone (and not copied).
        assert!(matches!(
            safe("ok\tline\nnext é"),
            std::borrow::Cow::Borrowed(_)
        ));

        let failure = Failure {
            message: "boom\x1b[1A\x1b[2K".into(),
            actual: Some("\x07".into()),
            expected: Some("1".into()),
            ..Failure::default()
        };
        let lines = failure_lines(&failure, "");
        assert!(
            !lines.contains('\x1b') && !lines.contains('\x07'),
            "{lines:?}"
        );
    }

    const PLAIN: Style = Style {
        color: false,
        bar: false,
        quiet: false,
    };

    fn with_error(kind: &str, message: &str) -> Run {
        let mut run = Run::of_tests("r", chrono::Utc::now(), vec![], 1.0);
        run.errors.push(RunError {
            kind: kind.into(),
            message: message.into(),
        });
        run
    }

    #[test]
    fn an_environment_error_is_named_once_under_its_own_banner() {
        let run = with_error("environment", "pytest is not installed for /v/bin/python");
        let text = summary(&run, PLAIN);
        assert_eq!(text.matches("pytest is not installed").count(), 1, "{text}");
        assert!(
            text.contains("environment error: pytest is not installed for /v/bin/python\n"),
            "{text}"
        );
        assert!(
            text.contains("ENVIRONMENT ERROR [") && text.contains("no tests ran"),
            "{text}"
        );
        assert!(
            !text.contains("BUILD FAILED") && !text.contains("0 tests"),
            "{text}"
        );
    }

    #[test]
    fn cargo_build_output_is_not_repeated_unless_it_was_not_echoed() {
        let diag = "   Compiling x\nerror[E0308]: mismatched types\nerror: could not compile `x`";
        let run = with_error("build", diag);
        let shown = summary(&run, PLAIN);
        assert!(!shown.contains("error[E0308]"), "echoed above: {shown}");
        assert!(shown.contains("BUILD FAILED [") && shown.contains("cargo's errors are above"));
        let quiet = summary(
            &run,
            Style {
                quiet: true,
                ..PLAIN
            },
        );
        assert_eq!(quiet.matches("error[E0308]").count(), 1, "{quiet}");
    }

    #[test]
    fn counts_agree_in_number() {
        let s = crate::model::Summary {
            total: 3,
            passed: 1,
            failed: 1,
            error: 1,
            ..Default::default()
        };
        assert_eq!(counts(&s), "1 passed, 1 failed, 1 error");
        assert_eq!(plural(1, "test", "tests"), "1 test");
        assert_eq!(plural(0, "test", "tests"), "0 tests");
    }
}
