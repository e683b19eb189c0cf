//! JUnit XML in the Jenkins/Surefire flavour that GitLab, GitHub test-report actions,
//! CircleCI and Jenkins all read.
//!
//! - One `<testsuite>` per Rust binary, or per file for pytest and Jest.
//! - Each `<testcase>` carries `classname` and, when known, `file` and `line`
//!   (CircleCI splits timings by `file`, GitLab links to it).
//! - Retries follow Surefire: `<flakyFailure>` for failed attempts of a test that
//!   finally passed, `<rerunFailure>` for earlier attempts of one that never did.

use std::time::Duration;

use super::ANSI_ESCAPE;
use anyhow::{Context, Result};
use quick_junit::{
    FlakyOrRerun, NonSuccessKind, Report, TestCaseStatus, TestRerun, TestSuite, XmlString,
};

use crate::model::{Attempt, Captured, Failure, Framework, Outcome, Run, TestCase};

pub(super) fn render(run: &Run) -> Result<Vec<u8>> {
    let mut report = Report::new(xml("testflow"));
    report.set_timestamp(run.started_at);
    report.set_time(seconds(run.summary.duration_ms));

    let quarantine = run.recomputed_quarantine();
    // Suites in order of their first test, so the file follows the run.
    let mut groups: Vec<(Framework, String, Vec<&TestCase>)> = Vec::new();
    for t in &run.tests {
        let key = group_key(t);
        match groups
            .iter_mut()
            .find(|(f, k, _)| *f == t.framework && *k == key)
        {
            Some((_, _, tests)) => tests.push(t),
            None => groups.push((t.framework, key, vec![t])),
        }
    }
    for (_, key, tests) in groups {
        let mut suite = TestSuite::new(xml(&key));
        let started = tests
            .iter()
            .flat_map(|t| &t.attempts)
            .filter_map(|a| a.started_at)
            .min();
        if let Some(ts) = started {
            suite.set_timestamp(ts);
        }
        // Time spent on the suite's tests, retries included (tests may overlap in parallel).
        let total_ms: f64 = tests
            .iter()
            .flat_map(|t| &t.attempts)
            .map(|a| a.duration_ms)
            .sum();
        suite.set_time(seconds(total_ms));
        suite.add_test_cases(tests.into_iter().map(|t| {
            let mut tc = test_case(t);
            // Quarantined: the status stays what it was (a failure is never a pass); a
            // property says it does not count.
            if let Some(q) = quarantine
                .iter()
                .flat_map(|q| &q.tests)
                .find(|q| q.id == t.id)
            {
                tc.add_property(quick_junit::Property::new(
                    xml("testflow.quarantined"),
                    xml(&q.reason),
                ));
            }
            tc
        }));
        report.add_test_suite(suite);
    }

    // A run that cannot be trusted (build failure, damaged log, incomplete, a framework
    // that disagrees, a summary that lies) must not look green on a dashboard that only
    // counts testcases: each reason becomes an errored testcase.
    let run_errors = run.distrust_errors();
    if !run_errors.is_empty() {
        let mut suite = TestSuite::new(xml("testflow"));
        let mut seen: Vec<&str> = Vec::new();
        suite.add_test_cases(run_errors.iter().map(|e| {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_type(xml(e.kind.as_str()));
            status.set_message(xml(e.message.lines().next().unwrap_or_default()));
            status.set_description(xml(&e.message));
            // Names stay unique (GitLab keeps only the first of duplicates).
            let n = seen.iter().filter(|k| **k == e.kind.as_str()).count();
            seen.push(e.kind.as_str());
            let name = match n {
                0 => format!("{} error", e.kind),
                n => format!("{} error {}", e.kind, n + 1),
            };
            let mut tc = quick_junit::TestCase::new(xml(name), status);
            tc.set_classname(xml("testflow"));
            tc
        }));
        report.add_test_suite(suite);
    }

    let mut out = Vec::new();
    report
        .serialize(&mut out)
        .context("cannot serialize the JUnit report")?;
    restore_tabs(out)
}

fn group_key(t: &TestCase) -> String {
    let key = match crate::frameworks::plugin(t.framework) {
        Some(p) => p.junit_group(t),
        None => t.file.as_ref().or(t.binary.as_ref()),
    };
    key.cloned()
        .unwrap_or_else(|| t.framework.as_str().to_owned())
}

/// `name` + `classname` identify a test uniquely (GitLab keeps only the first of
/// duplicates); each framework spells them its own way.
fn names(t: &TestCase) -> (String, String) {
    match crate::frameworks::plugin(t.framework) {
        Some(p) => p.junit_names(t),
        None => (t.name.clone(), t.framework.as_str().to_owned()),
    }
}

fn test_case(t: &TestCase) -> quick_junit::TestCase {
    let (name, classname) = names(t);
    let mut status = status(t);
    let earlier = &t.attempts[..t.attempts.len().saturating_sub(1)];
    status.add_reruns(earlier.iter().filter(|a| a.outcome.is_failure()).map(rerun));
    if let TestCaseStatus::NonSuccess { .. } = status {
        status.set_rerun_kind(FlakyOrRerun::Rerun);
    }

    let mut tc = quick_junit::TestCase::new(xml(&name), status);
    tc.set_classname(xml(&classname));
    if let Some(ts) = t.attempts.last().and_then(|a| a.started_at) {
        tc.set_timestamp(ts);
    }
    tc.set_time(seconds(t.duration_ms));
    if let Some(file) = &t.file {
        tc.extra.insert(xml("file"), xml(file));
    }
    if let Some(line) = t.line {
        tc.extra.insert(xml("line"), xml(line.to_string()));
    }
    let mut out = t
        .failure
        .as_ref()
        .and_then(|f| f.stdout.as_ref())
        .filter(|c| !c.is_empty())
        .map(|c| c.text.clone())
        .unwrap_or_default();
    // Files the attempts left behind (Playwright's traces, screenshots), in the
    // `[[ATTACHMENT|path]]` lines Jenkins and GitLab link from a test case.
    for a in t.attempts.iter().flat_map(|a| &a.attachments) {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("[[ATTACHMENT|{}]]\n", a.path));
    }
    if !out.is_empty() {
        tc.set_system_out(xml(out));
    }
    if let Some(err) = t.failure.as_ref().and_then(|f| captured(&f.stderr)) {
        tc.set_system_err(err);
    }
    tc
}

fn status(t: &TestCase) -> TestCaseStatus {
    let f = t.failure.as_ref();
    match t.outcome {
        Outcome::Passed | Outcome::Xpassed => TestCaseStatus::success(),
        Outcome::Failed | Outcome::Timeout | Outcome::Crashed | Outcome::Error => {
            let mut s = TestCaseStatus::non_success(non_success_kind(t.outcome));
            s.set_type(xml(failure_type(t.outcome, f)));
            if let Some(f) = f {
                s.set_message(xml(&f.message));
                s.set_description(xml(full_text(f)));
            }
            s
        }
        Outcome::Skipped | Outcome::Xfailed => {
            let mut s = TestCaseStatus::skipped();
            let ty = match (t.outcome, f) {
                (Outcome::Xfailed, _) => Some("xfailed"),
                (_, Some(f)) => f
                    .kind
                    .as_deref()
                    .or((f.category == crate::model::Category::Interrupted)
                        .then_some("interrupted")),
                (_, None) => None,
            };
            if let Some(ty) = ty {
                s.set_type(xml(ty));
            }
            if let Some(f) = f {
                s.set_message(xml(&f.message));
                // The text repeats the message unless there is more to say.
                let text = full_text(f);
                if text != f.message {
                    s.set_description(xml(text));
                }
            } else if let Some(reason) = &t.reason {
                // A skip or xfail reason (pytest): not a failure.
                s.set_message(xml(reason));
            }
            s
        }
    }
}

fn rerun(a: &Attempt) -> TestRerun {
    let mut r = TestRerun::new(non_success_kind(a.outcome));
    if let Some(ts) = a.started_at {
        r.set_timestamp(ts);
    }
    r.set_time(seconds(a.duration_ms));
    let f = a.failure.as_ref();
    r.set_type(xml(failure_type(a.outcome, f)));
    if let Some(f) = f {
        r.set_message(xml(&f.message));
        r.set_description(xml(summary_text(f)));
        // Surefire keeps the trace of a rerun in its own element.
        if let Some(d) = &f.details {
            r.set_stack_trace(xml(d));
        }
        if let Some(out) = captured(&f.stdout) {
            r.set_system_out(out);
        }
        if let Some(err) = captured(&f.stderr) {
            r.set_system_err(err);
        }
    }
    r
}

fn non_success_kind(o: Outcome) -> NonSuccessKind {
    if o == Outcome::Error {
        NonSuccessKind::Error
    } else {
        NonSuccessKind::Failure
    }
}

fn failure_type(o: Outcome, f: Option<&Failure>) -> &str {
    match f {
        Some(f) => f.kind.as_deref().unwrap_or(f.category.as_str()),
        None => o.as_str(),
    }
}

/// Message, location, expected/actual and signal, one per line.
fn summary_text(f: &Failure) -> String {
    let mut lines = vec![f.message.clone()];
    if let Some(loc) = &f.location {
        let mut at = format!("at {}:{}", loc.file, loc.line);
        if let Some(col) = loc.column {
            at.push_str(&format!(":{col}"));
        }
        lines.push(at);
    }
    if let Some(e) = &f.expected {
        lines.push(format!("expected: {e}"));
    }
    if let Some(a) = &f.actual {
        lines.push(format!("  actual: {a}"));
    }
    if let Some(sig) = f.signal {
        lines.push(format!("signal: {sig}"));
    }
    lines.retain(|l| !l.is_empty());
    lines.join("\n")
}

/// The summary, then the details (backtrace, traceback) after a blank line.
fn full_text(f: &Failure) -> String {
    let mut text = summary_text(f);
    if let Some(d) = f.details.as_deref().filter(|d| !d.is_empty()) {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(d);
    }
    text
}

fn captured(c: &Option<Captured>) -> Option<XmlString> {
    c.as_ref().filter(|c| !c.is_empty()).map(|c| xml(&c.text))
}

/// A duration read from a file may be anything: negative and NaN are zero, too large
/// for a `Duration` (which would panic) is the largest one.
fn seconds(ms: f64) -> Duration {
    if ms.is_nan() || ms <= 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(ms / 1000.0).unwrap_or(Duration::MAX)
    }
}

/// Stands in for a tab while quick-junit cleans a string, which would drop tabs;
/// a Unicode noncharacter, so no real text needs it.
const TAB_MARK: char = '\u{FDD0}';

/// Text that is valid XML 1.0 and survives quick-junit's own cleaning.
///
/// quick-junit strips ANSI sequences with a terminal parser, which swallows the rest
/// of the text after an unterminated OSC or a lone ESC's next character, and drops
/// tabs; it keeps U+FFFE/U+FFFF, which XML forbids. So escapes, control characters
/// (C0 but tab/CR/LF, DEL, C1) and the two noncharacters go here first.
fn xml(s: impl AsRef<str>) -> XmlString {
    let s = ANSI_ESCAPE.replace_all(s.as_ref(), "");
    // Line ends as an XML parser would read them back.
    let s = s.replace("\r\n", "\n");
    let clean: String = s
        .chars()
        .filter_map(|c| match c {
            '\t' => Some(TAB_MARK),
            '\n' | '\r' => Some('\n'),
            TAB_MARK => Some('\u{FFFD}'),
            '\0'..='\x1f' | '\u{7f}'..='\u{9f}' | '\u{FFFE}' | '\u{FFFF}' => None,
            c => Some(c),
        })
        .collect();
    XmlString::new(clean)
}

/// Puts the tabs back as character references, which are exact in text and in
/// attributes (a literal tab in an attribute would be read back as a space).
fn restore_tabs(out: Vec<u8>) -> Result<Vec<u8>> {
    let text = String::from_utf8(out).context("the JUnit report is not UTF-8")?;
    Ok(text.replace(TAB_MARK, "&#9;").into_bytes())
}
