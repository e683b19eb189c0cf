//! A compact Markdown summary for pull requests and CI step summaries.
//!
//! Sections, most useful first: totals, gate results (the default gates), coverage totals
//! (when the run measured coverage), failed tests grouped by cause (from `analyze`; each
//! test with the files its attempts left behind, by path), coverage by file, flaky tests, slowest tests. GitHub drops a step summary larger than
//! 1 MiB whole, so the text is built under [`BUDGET`] bytes: each section adds items
//! while they fit; when one does not, that section and every later (less useful) one is
//! cut, and the last line says what was left out. The totals and the coverage totals are
//! small and bounded, and never cut.
//!
//! Everything that comes from tests (names, ids, messages, output, attachment paths) is written inside
//! code spans or fenced code blocks, whose fences are longer than any backtick run in
//! the text, so it renders as text and never as Markdown or HTML.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::plain;
use crate::analyze::{self, Group};
use crate::coverage::{FileSummary, Ratio};
use crate::gate::{self, GateStatus};
use crate::model::{FileCoverageChange, Outcome, Run, RunCoverage, TestCase};

/// GitHub's step-summary cap: 1 MiB; larger summaries are dropped whole.
pub const GITHUB_LIMIT: usize = 1024 * 1024;
/// What we allow ourselves: the cap less room for whatever else the step writes.
pub const BUDGET: usize = GITHUB_LIMIT - 24 * 1024;

const TESTS_PER_GROUP: usize = 10;
const SLOWEST: usize = 10;
const MAX_FLAKY: usize = 50;
const MESSAGE_LINES: usize = 20;
const DIFF_LINES: usize = 40;
/// Attachments listed under one failed test (Playwright's traces, screenshots).
const ATTACHMENTS_PER_TEST: usize = 10;
const LINE_CHARS: usize = 300;
/// Rows of the "lowest line coverage" and "changed since" tables.
const COVERAGE_FILES: usize = 20;
/// A framework's coverage message (how to install the missing tool, why it failed).
const COVERAGE_MESSAGE_CHARS: usize = 500;

/// The summary under [`BUDGET`] bytes.
pub fn render(run: &Run) -> String {
    render_with_budget(run, BUDGET)
}

/// The summary under `budget` bytes (at least a few KiB: totals are never cut).
pub fn render_with_budget(run: &Run, budget: usize) -> String {
    let mut w = Writer {
        out: String::new(),
        budget,
        cut: Vec::new(),
    };
    totals(&mut w, run);
    gates(&mut w, run);
    coverage_totals(&mut w, run);
    quarantined(&mut w, run);
    not_selected(&mut w, run);
    failures(&mut w, run);
    coverage_files(&mut w, run);
    flaky(&mut w, run);
    slowest(&mut w, run);
    if !w.cut.is_empty() {
        let _ = write!(
            w.out,
            "\n> **Truncated** to stay under GitHub's 1 MiB summary limit: {}. \
             The full results are in the HTML, JSON or JUnit report.\n",
            w.cut.join("; ")
        );
    }
    w.out
}

struct Writer {
    out: String,
    budget: usize,
    /// What was left out, one phrase each.
    cut: Vec<String>,
}

/// Room kept for the truncation note at the end.
const NOTE_RESERVE: usize = 1024;

impl Writer {
    /// Appends `s` if it fits. Once something did not fit, nothing more is added
    /// (later sections are less useful than the one that was cut).
    fn push(&mut self, s: &str) -> bool {
        if !self.cut.is_empty() || self.out.len() + s.len() + NOTE_RESERVE > self.budget {
            return false;
        }
        self.out.push_str(s);
        true
    }

    fn full(&self) -> bool {
        !self.cut.is_empty()
    }
}

/// Inline code that shows `s` as text: one line, fence longer than any backtick run.
fn code(s: &str) -> String {
    let one_line: String = plain(s)
        .chars()
        .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
        .collect();
    let one_line = shorten(one_line.trim(), LINE_CHARS);
    if one_line.is_empty() {
        return "` `".to_owned();
    }
    let fence = "`".repeat(longest_backtick_run(&one_line) + 1);
    if one_line.starts_with('`') || one_line.ends_with('`') {
        // A space on each side keeps the backtick out of the fence (GFM strips one each).
        format!("{fence} {one_line} {fence}")
    } else {
        format!("{fence}{one_line}{fence}")
    }
}

/// A fenced block that shows `s` as text, at most `max_lines` lines.
fn block(s: &str, lang: &str, max_lines: usize) -> String {
    let text = plain(s);
    let all: Vec<&str> = text.lines().collect();
    let mut body: Vec<String> = all
        .iter()
        .take(max_lines)
        .map(|l| shorten(l, LINE_CHARS))
        .collect();
    if all.len() > max_lines {
        body.push(format!("… {} more lines", all.len() - max_lines));
    }
    let body = body.join("\n");
    let fence = "`".repeat(longest_backtick_run(&body).max(2) + 1);
    format!("{fence}{lang}\n{body}\n{fence}\n")
}

fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

fn ms(v: f64) -> String {
    if v >= 60_000.0 {
        format!("{:.1} min", v / 60_000.0)
    } else if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else {
        format!("{v:.0} ms")
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn totals(w: &mut Writer, run: &Run) {
    // Counted from the tests: a stored summary is only a cache a file can contradict.
    let s = &run.recomputed_summary();
    let distrust = run.distrust_errors();
    let mut out = String::new();
    // Never green with a failure, a run error or a suite that could not run.
    let h = super::headline(run);
    let mark = match h.good {
        Some(true) => "✅",
        Some(false) => "❌",
        None => "⚠️",
    };
    let headline = format!("{mark} testflow: {}", h.text);
    let _ = writeln!(out, "## {headline}\n");
    let rate = gate::pass_rate(run)
        .map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "–".to_owned());
    let _ = writeln!(
        out,
        "| tests | passed | failed | error | timeout | crashed | skipped | xfailed | xpassed | flaky | pass rate | duration |"
    );
    let _ = writeln!(out, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {rate} | {} |\n",
        s.total,
        s.passed,
        s.failed,
        s.error,
        s.timeout,
        s.crashed,
        s.skipped,
        s.xfailed,
        s.xpassed,
        s.flaky,
        ms(s.duration_ms)
    );
    let mut facts = vec![format!("run {}", code(&run.run_id))];
    let env = &run.environment;
    if let Some(c) = &env.git_commit {
        let short: String = c.chars().take(12).collect();
        let mut f = format!("commit {}", code(&short));
        if let Some(b) = &env.git_branch {
            f.push_str(&format!(" on {}", code(b)));
        }
        facts.push(f);
    }
    if !run.frameworks.is_empty() {
        let names: Vec<&str> = run.frameworks.iter().map(|f| f.as_str()).collect();
        facts.push(names.join(", "));
    }
    if !run.completed {
        facts.push("**run did not complete**".to_owned());
    }
    let _ = writeln!(out, "{}\n", facts.join(" · "));
    run_errors(&mut out, &distrust);
    // Totals are never cut: they are what the summary is for.
    w.out.push_str(&out);
}

/// Run errors shown with the totals, so they are never cut: at most this many, one line each.
const RUN_ERRORS: usize = 20;

/// Why the run cannot be trusted, one line each (bounded: part of the never-cut totals).
fn run_errors(out: &mut String, distrust: &[crate::model::RunError]) {
    if distrust.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "**RUN ERROR**: the run cannot be trusted as a pass ({}):\n",
        plural(distrust.len() as u64, "run error", "run errors")
    );
    for e in distrust.iter().take(RUN_ERRORS) {
        let first = e.message.lines().next().unwrap_or_default();
        let _ = writeln!(out, "- {} {}", code(e.kind.as_str()), code(first));
    }
    if distrust.len() > RUN_ERRORS {
        let _ = writeln!(out, "- … and {} more", distrust.len() - RUN_ERRORS);
    }
    out.push('\n');
}

fn gates(w: &mut Writer, run: &Run) {
    let report = gate::evaluate(run, &gate::default_gates());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Gates: {}\n",
        if report.passed {
            "passed"
        } else {
            "**FAILED**"
        }
    );
    let _ = writeln!(out, "| gate | threshold | actual | result | detail |");
    let _ = writeln!(out, "|---|--:|--:|---|---|");
    for g in &report.gates {
        let num = |v: f64| {
            if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.3}")
            }
        };
        let result = match (g.status, g.required) {
            (GateStatus::Pass, _) => "✅ pass",
            (GateStatus::Fail, true) => "❌ **fail**",
            (GateStatus::Fail, false) => "⚠️ fail (advisory)",
            (GateStatus::NotMeasured, true) => "❌ **not measured**",
            (GateStatus::NotMeasured, false) => "not measured",
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {result} | {} |",
            g.gate.as_str(),
            num(g.threshold),
            g.actual.map(num).unwrap_or_else(|| "–".to_owned()),
            g.detail.replace('|', "\\|")
        );
    }
    out.push('\n');
    if !w.push(&out) {
        w.cut.push("gate results".to_owned());
    }
}

fn group_text(i: usize, g: &Group, by_id: &HashMap<&str, &TestCase>) -> String {
    let mut out = String::new();
    let tests = match g.count {
        0 => "no test ran".to_owned(),
        n => plural(n, "test", "tests"),
    };
    let kind = g
        .kind
        .as_deref()
        .map(|k| format!(" · {}", code(k)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "#### {}. {}{kind} — {tests}\n",
        i + 1,
        g.category.as_str()
    );
    // The first test's full message (the group's is its first line).
    let first = g
        .tests
        .first()
        .and_then(|t| by_id.get(t.id.as_str()))
        .and_then(|t| t.failure.as_ref())
        .map(|f| f.message.as_str())
        .unwrap_or(g.message.as_str());
    out.push_str(&block(first, "", MESSAGE_LINES));
    if let Some(l) = &g.location {
        let _ = writeln!(out, "\nat {}", code(&location(&l.file, l.line, l.column)));
    }
    let _ = writeln!(
        out,
        "\n**Suggestion:** {}",
        escape_prose(&g.suggestion.text)
    );
    if let Some(c) = &g.suggestion.command {
        out.push('\n');
        out.push_str(&block(c, "sh", 5));
    }
    if let Some(d) = &g.suggestion.diff {
        out.push('\n');
        out.push_str(&block(d, "diff", DIFF_LINES));
    }
    out.push('\n');
    for t in g.tests.iter().take(TESTS_PER_GROUP) {
        let at = t
            .location
            .as_ref()
            .map(|l| location(&l.file, l.line, l.column))
            .or_else(|| {
                t.file
                    .as_ref()
                    .map(|f| location(f, t.line.unwrap_or(0), None))
            });
        let _ = write!(out, "- {} ({})", code(&t.id), t.outcome);
        if let Some(at) = at {
            let _ = write!(out, " at {}", code(&at));
        }
        out.push('\n');
        if let Some(case) = by_id.get(t.id.as_str()) {
            attachments(&mut out, case);
        }
    }
    if g.tests.len() > TESTS_PER_GROUP {
        let _ = writeln!(out, "- … and {} more", g.tests.len() - TESTS_PER_GROUP);
    }
    out.push('\n');
    out
}

/// The files a failed test's attempts left behind (traces, screenshots), by path, as a
/// nested list under it. Names and paths are the test's text: code spans only.
fn attachments(out: &mut String, t: &TestCase) {
    let all: Vec<_> = t
        .attempts
        .iter()
        .flat_map(|a| a.attachments.iter().map(move |f| (a.attempt, f)))
        .collect();
    let retried = t.attempts.len() > 1;
    for (attempt, f) in all.iter().take(ATTACHMENTS_PER_TEST) {
        let _ = write!(out, "  - attachment {}", code(&f.name));
        if retried {
            let _ = write!(out, " (attempt {attempt})");
        }
        let _ = writeln!(out, ": {}", code(&f.path));
    }
    if all.len() > ATTACHMENTS_PER_TEST {
        let more = all.len() - ATTACHMENTS_PER_TEST;
        let what = if more == 1 {
            "attachment"
        } else {
            "attachments"
        };
        let _ = writeln!(out, "  - … and {more} more {what}");
    }
}

fn location(file: &str, line: u32, column: Option<u32>) -> String {
    match (line, column) {
        (0, _) => file.to_owned(),
        (l, Some(c)) => format!("{file}:{l}:{c}"),
        (l, None) => format!("{file}:{l}"),
    }
}

/// Prose we wrote around test text (suggestions quote messages): no HTML, no Markdown.
fn escape_prose(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in plain(s).chars() {
        match c {
            '\n' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    shorten(&out, 2000)
}

fn failures(w: &mut Writer, run: &Run) {
    let analysis = analyze::analyze(run);
    if analysis.groups.is_empty() || w.full() {
        return;
    }
    let heading = format!(
        "### Failures by cause: {} in {}\n\n",
        plural(analysis.failures, "test", "tests"),
        plural(analysis.groups.len() as u64, "group", "groups")
    );
    if !w.push(&heading) {
        w.cut.push("failures".to_owned());
        return;
    }
    // The first test of each id, as a search would find it (a damaged run may repeat one).
    let mut by_id: HashMap<&str, &TestCase> = HashMap::new();
    for t in &run.tests {
        by_id.entry(t.id.as_str()).or_insert(t);
    }
    for (i, g) in analysis.groups.iter().enumerate() {
        if !w.push(&group_text(i, g, &by_id)) {
            let left = analysis.groups.len() - i;
            let tests: u64 = analysis.groups[i..].iter().map(|g| g.count).sum();
            w.cut.push(format!(
                "{} of failures ({})",
                plural(left as u64, "group", "groups"),
                plural(tests, "test", "tests")
            ));
            return;
        }
    }
}

/// `run --affected`: what was not selected, and from which base (never counted as passed).
fn not_selected(w: &mut Writer, run: &Run) {
    let Some(a) = run.affected.as_ref() else {
        return;
    };
    let base = a.base.as_deref().map_or("no base".to_owned(), |b| {
        code(&b.chars().take(12).collect::<String>())
    });
    let mut out = format!(
        "### Affected tests: {} not selected (changes since {base}, {} changed {})\n\n",
        plural(a.not_selected, "test", "tests"),
        a.changed.len(),
        if a.changed.len() == 1 {
            "file"
        } else {
            "files"
        }
    );
    if let Some(why) = &a.full_run {
        let _ = writeln!(out, "Every test ran: {}\n", escape_prose(why));
    }
    if !w.push(&out) {
        w.cut.push("affected tests".to_owned());
    }
}

/// Quarantined tests apart from the rest: they ran, and their failures do not count.
fn quarantined(w: &mut Writer, run: &Run) {
    let Some(q) = run.recomputed_quarantine() else {
        return;
    };
    let expired: Vec<_> = q.entries.iter().filter(|e| e.expired).collect();
    if q.tests.is_empty() && expired.is_empty() {
        return;
    }
    let failing = q.tests.iter().filter(|t| t.outcome.is_failure()).count() as u64;
    let mut out = format!(
        "### Quarantined: {} ({failing} failing, not counted)\n\n",
        plural(q.tests.len() as u64, "test", "tests")
    );
    if !q.tests.is_empty() {
        let _ = writeln!(out, "| test | outcome | reason | until |");
        let _ = writeln!(out, "|---|---|---|---|");
        for t in &q.tests {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                code_cell(&t.id),
                t.outcome.as_str(),
                escape_prose(&t.reason),
                t.until.map_or("–".to_owned(), |u| u.to_string())
            );
        }
        out.push('\n');
    }
    for e in expired {
        let _ = writeln!(
            out,
            "- ⚠️ entry {} expired on {}: it no longer applies, and the quarantine gate fails",
            code(e.target()),
            e.until.map(|u| u.to_string()).unwrap_or_default()
        );
    }
    out.push('\n');
    if !w.push(&out) {
        w.cut.push(format!(
            "quarantined tests ({})",
            plural(q.tests.len() as u64, "test", "tests")
        ));
    }
}

fn flaky(w: &mut Writer, run: &Run) {
    let flaky: Vec<&TestCase> = run.tests.iter().filter(|t| t.flaky).collect();
    if flaky.is_empty() {
        return;
    }
    if w.full() {
        w.cut.push(format!(
            "flaky tests ({})",
            plural(flaky.len() as u64, "test", "tests")
        ));
        return;
    }
    let mut out = format!(
        "### Flaky tests: {} passed on a retry\n\n",
        plural(flaky.len() as u64, "test", "tests")
    );
    for t in flaky.iter().take(MAX_FLAKY) {
        let outcomes: Vec<&str> = t.attempts.iter().map(|a| a.outcome.as_str()).collect();
        let _ = writeln!(
            out,
            "- {} — attempts: {}",
            code(&t.id),
            outcomes.join(" → ")
        );
    }
    if flaky.len() > MAX_FLAKY {
        let _ = writeln!(out, "- … and {} more", flaky.len() - MAX_FLAKY);
    }
    out.push('\n');
    if !w.push(&out) {
        w.cut.push(format!(
            "flaky tests ({})",
            plural(flaky.len() as u64, "test", "tests")
        ));
    }
}

fn slowest(w: &mut Writer, run: &Run) {
    let mut ran: Vec<&TestCase> = run
        .tests
        .iter()
        .filter(|t| t.outcome != Outcome::Skipped)
        .collect();
    if ran.is_empty() {
        return;
    }
    if w.full() {
        w.cut.push("slowest tests".to_owned());
        return;
    }
    ran.sort_by(|a, b| {
        b.duration_ms
            .total_cmp(&a.duration_ms)
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut out = String::from("### Slowest tests\n\n");
    for t in ran.iter().take(SLOWEST) {
        let _ = writeln!(
            out,
            "- {} {} ({})",
            ms(t.duration_ms),
            code(&t.id),
            t.outcome.as_str()
        );
    }
    out.push('\n');
    if !w.push(&out) {
        w.cut.push("slowest tests".to_owned());
    }
}

/// `81.2%`, or `–` when there is nothing to cover.
fn percent(r: &Ratio) -> String {
    match r.percent {
        Some(p) => format!("{p:.1}%"),
        None => "–".to_owned(),
    }
}

/// `+1.4 pts`, `-0.3 pts`, `±0.0 pts` (none when either side has nothing to cover).
fn points(before: &Ratio, after: &Ratio) -> Option<String> {
    let (b, a) = (before.percent?, after.percent?);
    // Round first, so a change that shows as 0.0 never gets a sign.
    let d = ((a - b) * 10.0).round() / 10.0;
    Some(if d == 0.0 {
        "±0.0 pts".to_owned()
    } else {
        format!("{d:+.1} pts")
    })
}

/// Totals (lines, branches, functions), the change against the previous run, and the
/// frameworks whose coverage was not collected. Bounded, and never cut.
fn coverage_totals(w: &mut Writer, run: &Run) {
    let Some(cov) = &run.coverage else { return };
    let mut out = String::from("### Coverage\n\n");
    let _ = writeln!(out, "| | covered | total | % |");
    let _ = writeln!(out, "|---|--:|--:|--:|");
    let t = &cov.totals;
    for (name, r) in [
        ("lines", &t.lines),
        ("branches", &t.branches),
        ("functions", &t.functions),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} |",
            r.covered,
            r.total,
            percent(r)
        );
    }
    out.push('\n');
    if let Some(prev) = &cov.previous {
        let mut against = format!("run {}", code(&prev.run_id));
        if let Some(b) = &prev.branch {
            let _ = write!(against, " on {}", code(b));
        }
        let change = match points(&prev.lines, &t.lines) {
            Some(pts) => format!("{pts} vs {against}, was {}", percent(&prev.lines)),
            None => format!("vs {against}: {}", percent(&prev.lines)),
        };
        let _ = writeln!(out, "lines {} ({change})\n", percent(&t.lines));
    }
    let mut statuses = false;
    for f in cov.frameworks.iter().filter(|f| f.status != "collected") {
        statuses = true;
        let _ = write!(
            out,
            "- ⚠️ {} coverage {}",
            f.framework.as_str(),
            escape_prose(f.status.as_str())
        );
        if let Some(m) = f.message.as_deref().filter(|m| !m.trim().is_empty()) {
            let _ = write!(
                out,
                ": {}",
                shorten(&escape_prose(m), COVERAGE_MESSAGE_CHARS)
            );
        }
        out.push('\n');
    }
    if statuses {
        out.push('\n');
    }
    // Like the run totals: what the section is for.
    w.out.push_str(&out);
}

/// A cell showing `s` as text inside a table: a code span with its pipes escaped (GFM
/// splits cells on `|` even inside code spans).
fn code_cell(s: &str) -> String {
    code(s).replace('|', "\\|")
}

fn ratio_cell(r: &Ratio) -> String {
    format!("{} ({}/{})", percent(r), r.covered, r.total)
}

/// Files with lines, worst line coverage first (then most uncovered lines, then path).
fn worst_files(cov: &RunCoverage) -> Vec<&FileSummary> {
    let mut files: Vec<&FileSummary> = cov
        .files
        .iter()
        .filter(|f| f.totals.lines.total > 0)
        .collect();
    files.sort_by(|a, b| {
        let (la, lb) = (&a.totals.lines, &b.totals.lines);
        la.percent
            .unwrap_or(100.0)
            .total_cmp(&lb.percent.unwrap_or(100.0))
            .then_with(|| (lb.total - lb.covered).cmp(&(la.total - la.covered)))
            .then_with(|| a.path.cmp(&b.path))
    });
    files
}

/// Biggest drops first; then the new files (lowest coverage first), the files whose
/// percentage cannot be compared, and the files no longer measured.
fn changes_by_drop(changes: &[FileCoverageChange]) -> Vec<&FileCoverageChange> {
    let key = |c: &FileCoverageChange| -> (u8, f64) {
        match (&c.before, &c.after) {
            (Some(b), Some(a)) => match (b.percent, a.percent) {
                (Some(bp), Some(ap)) => (0, ap - bp),
                _ => (2, 0.0),
            },
            (None, Some(a)) => (1, a.percent.unwrap_or(100.0)),
            (_, None) => (3, 0.0),
        }
    };
    let mut out: Vec<&FileCoverageChange> = changes.iter().collect();
    out.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0)
            .then_with(|| ka.1.total_cmp(&kb.1))
            .then_with(|| a.path.cmp(&b.path))
    });
    out
}

/// The files with the lowest line coverage and the files that changed since the
/// previous run: cut whole when the budget is short (the totals stay).
fn coverage_files(w: &mut Writer, run: &Run) {
    let Some(cov) = &run.coverage else { return };
    let worst = worst_files(cov);
    let changed = cov
        .previous
        .as_ref()
        .map(|p| changes_by_drop(&p.changed_files))
        .unwrap_or_default();
    if worst.is_empty() && changed.is_empty() {
        return;
    }
    let what = format!(
        "coverage by file ({})",
        plural(cov.files.len() as u64, "file", "files")
    );
    if w.full() {
        w.cut.push(what);
        return;
    }
    let mut out = String::new();
    if !worst.is_empty() {
        let _ = writeln!(out, "### Lowest line coverage\n");
        let _ = writeln!(out, "| file | lines | branches | functions |");
        let _ = writeln!(out, "|---|--:|--:|--:|");
        for f in worst.iter().take(COVERAGE_FILES) {
            let t = &f.totals;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                code_cell(&f.path),
                ratio_cell(&t.lines),
                percent(&t.branches),
                percent(&t.functions)
            );
        }
        if worst.len() > COVERAGE_FILES {
            let more = worst.len() - COVERAGE_FILES;
            let _ = writeln!(
                out,
                "\n… and {more} more {}",
                if more == 1 { "file" } else { "files" }
            );
        }
        out.push('\n');
    }
    if let (Some(prev), false) = (&cov.previous, changed.is_empty()) {
        let _ = writeln!(
            out,
            "### Line coverage changed since run {}\n",
            code(&prev.run_id)
        );
        let _ = writeln!(out, "| file | before | after | change |");
        let _ = writeln!(out, "|---|--:|--:|--:|");
        for c in changed.iter().take(COVERAGE_FILES) {
            let side = |r: &Option<Ratio>, none: &str| {
                r.as_ref()
                    .map(ratio_cell)
                    .unwrap_or_else(|| none.to_owned())
            };
            let change = match (&c.before, &c.after) {
                (Some(b), Some(a)) => points(b, a).unwrap_or_else(|| "–".to_owned()),
                (None, _) => "new file".to_owned(),
                (_, None) => "no longer measured".to_owned(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {change} |",
                code_cell(&c.path),
                side(&c.before, "–"),
                side(&c.after, "–"),
            );
        }
        if changed.len() > COVERAGE_FILES {
            let more = changed.len() - COVERAGE_FILES;
            let _ = writeln!(
                out,
                "\n… and {more} more {}",
                if more == 1 { "file" } else { "files" }
            );
        }
        out.push('\n');
    }
    if !w.push(&out) {
        w.cut.push(what);
    }
}
