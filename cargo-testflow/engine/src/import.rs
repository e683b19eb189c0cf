//! Reading foreign result files into `Run`s: JUnit XML from any tool (ours, nextest,
//! pytest, jest-junit, Surefire) and our own JSON runs. Used by `history import`, so
//! timings exist before the first testflow run and CI artifacts can be pulled in.
//!
//! Test ids follow testflow's rules where the file allows it:
//! - a `file` attribute on a `.py` file gives the pytest node id
//!   (`tests/test_x.py::TestC::test_y`);
//! - a classname without dots (a Rust binary id such as `calc` or `calc::integ`) gives
//!   `classname$name`;
//! - anything else gives `classname::name`.

use std::path::Path;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::model::{
    Attempt, Category, Failure, Framework, Outcome, Run, SCHEMA_VERSION, Summary, TestCase,
    TestMeta,
};
use crate::store::{load_run, new_run_id};

/// A JUnit XML file or a testflow run (JSON), chosen by content.
pub fn import_file(path: &Path) -> Result<Run> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|i| bytes[i]);
    match start {
        Some(b'<') => parse_junit(&bytes, &path.display().to_string()),
        Some(b'{') => load_run(path),
        _ if path.is_dir() => load_run(path),
        _ => bail!(
            "{}: neither JUnit XML nor a testflow run JSON",
            path.display()
        ),
    }
}

#[derive(Default)]
struct Case {
    name: String,
    classname: String,
    file: Option<String>,
    line: Option<u32>,
    time_s: f64,
    outcome: Option<Outcome>,
    message: String,
    kind: Option<String>,
    /// Failed earlier attempts (Surefire `flakyFailure` / `rerunFailure`).
    reruns: u32,
    flaky: bool,
}

fn attr(e: &BytesStart<'_>, key: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == key.as_bytes())
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// Parse JUnit XML into a run of imported results. Errors name the file and byte offset.
pub fn parse_junit(bytes: &[u8], source: &str) -> Result<Run> {
    let mut reader = Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut cases: Vec<Case> = Vec::new();
    let mut current: Option<Case> = None;
    let mut suite_file: Option<String> = None;
    let mut timestamp: Option<DateTime<Utc>> = None;
    let mut saw_root = false;
    loop {
        // Where this event starts, for errors that name a line.
        let at = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let ev = reader.read_event_into(&mut buf).with_context(|| {
            format!(
                "{source}: invalid XML near byte {}",
                reader.buffer_position()
            )
        })?;
        match ev {
            Event::Start(e) | Event::Empty(e)
                if e.name().as_ref() == b"testsuites" || e.name().as_ref() == b"testsuite" =>
            {
                saw_root = true;
                if e.name().as_ref() == b"testsuite" {
                    suite_file = attr(&e, "file");
                }
                if timestamp.is_none() {
                    timestamp = attr(&e, "timestamp").and_then(|t| parse_time(&t));
                }
            }
            Event::Start(e) if e.name().as_ref() == b"testcase" => {
                current = Some(case_from(&e, &suite_file, source, line_at(bytes, at))?)
            }
            Event::Empty(e) if e.name().as_ref() == b"testcase" => {
                cases.push(case_from(&e, &suite_file, source, line_at(bytes, at))?)
            }
            Event::Start(e) | Event::Empty(e) => {
                if let Some(c) = current.as_mut() {
                    let name = e.name();
                    let tag = name.as_ref();
                    let (outcome, rerun, flaky) = match tag {
                        b"failure" => (Some(Outcome::Failed), false, false),
                        b"error" => (Some(Outcome::Error), false, false),
                        b"skipped" => (Some(Outcome::Skipped), false, false),
                        b"flakyFailure" | b"flakyError" => (None, true, true),
                        b"rerunFailure" | b"rerunError" => (None, true, false),
                        _ => (None, false, false),
                    };
                    if rerun {
                        c.reruns = c.reruns.saturating_add(1);
                        c.flaky |= flaky;
                    }
                    if let Some(o) = outcome {
                        c.outcome = Some(o);
                        c.message = attr(&e, "message").unwrap_or_default();
                        c.kind = attr(&e, "type");
                    }
                }
            }
            Event::End(e) if e.name().as_ref() == b"testcase" => {
                if let Some(c) = current.take() {
                    cases.push(c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !saw_root {
        bail!("{source}: not JUnit XML (no <testsuites> or <testsuite> element)");
    }
    let started = timestamp.unwrap_or_else(Utc::now);
    let tests: Vec<TestCase> = cases.into_iter().map(to_test).collect();
    // Bounded per test (`MAX_TEST_SECONDS`), so the sum is finite; the end may still
    // fall outside the calendar for a timestamp near its end.
    let total_ms: f64 = tests.iter().map(|t| t.duration_ms).sum();
    let finished = chrono::TimeDelta::try_milliseconds(total_ms as i64)
        .and_then(|d| started.checked_add_signed(d));
    Ok(Run {
        schema_version: SCHEMA_VERSION,
        run_id: format!("import-{}", new_run_id()),
        testflow_version: env!("CARGO_PKG_VERSION").into(),
        started_at: started,
        finished_at: finished,
        completed: true,
        project_root: None,
        environment: Default::default(),
        frameworks: framework_list(&tests),
        shard: None,
        shards: vec![],
        summary: Summary::of(&tests, total_ms),
        tests,
        errors: vec![],
        coverage: None,
        workers: Vec::new(),
        quarantine: None,
        affected: None,
    })
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
}

/// The longest test time an imported file may state: a year. Anything longer (or
/// negative, NaN, infinite) is a broken file, not a timing to plan shards with.
pub const MAX_TEST_SECONDS: f64 = 366.0 * 24.0 * 3600.0;

/// 1-based line of byte offset `at`.
fn line_at(bytes: &[u8], at: usize) -> usize {
    bytes[..at.min(bytes.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn case_from(
    e: &BytesStart<'_>,
    suite_file: &Option<String>,
    source: &str,
    line: usize,
) -> Result<Case> {
    let name = attr(e, "name").unwrap_or_default();
    let time_s = match attr(e, "time") {
        None => 0.0,
        Some(t) if t.trim().is_empty() => 0.0,
        Some(t) => match t.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && (0.0..=MAX_TEST_SECONDS).contains(&v) => v,
            _ => bail!(
                "{source}:{line}: testcase `{name}` has time=\"{t}\": expected a number of seconds from 0 to {MAX_TEST_SECONDS}"
            ),
        },
    };
    Ok(Case {
        name,
        classname: attr(e, "classname").unwrap_or_default(),
        file: attr(e, "file").or_else(|| suite_file.clone()),
        line: attr(e, "line").and_then(|l| l.parse().ok()),
        time_s,
        ..Case::default()
    })
}

fn to_test(c: Case) -> TestCase {
    let (id, framework, suite) = identify(&c);
    let outcome = c.outcome.unwrap_or(Outcome::Passed);
    let duration_ms = c.time_s * 1000.0;
    let failure = (outcome != Outcome::Passed).then(|| Failure {
        category: if outcome == Outcome::Error {
            Category::SetupError
        } else {
            Category::RuntimeError
        },
        kind: c.kind.clone(),
        message: c.message.clone(),
        ..Failure::default()
    });
    let mut attempts: Vec<Attempt> = (1..=c.reruns)
        .map(|n| Attempt {
            attempt: n,
            outcome: Outcome::Failed,
            duration_ms,
            started_at: None,
            failure: None,
            concurrent: None,
            attachments: vec![],
        })
        .collect();
    attempts.push(Attempt {
        attempt: c.reruns.saturating_add(1),
        outcome,
        duration_ms,
        started_at: None,
        failure,
        concurrent: None,
        attachments: vec![],
    });
    let meta = TestMeta {
        id,
        framework,
        name: c.name,
        suite,
        file: c.file,
        line: c.line,
        binary: None,
    };
    TestCase::from_attempts(meta, attempts)
}

fn identify(c: &Case) -> (String, Framework, Vec<String>) {
    if let Some(file) = c.file.as_deref().filter(|f| f.ends_with(".py")) {
        // pytest: classname is the dotted module path, then the classes.
        let module = file.trim_end_matches(".py").replace(['/', '\\'], ".");
        let classes: Vec<String> = c
            .classname
            .strip_prefix(&module)
            .unwrap_or("")
            .split('.')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let mut id = file.to_owned();
        for cls in &classes {
            id.push_str("::");
            id.push_str(cls);
        }
        id.push_str("::");
        id.push_str(&c.name);
        return (id, Framework::Pytest, classes);
    }
    if !c.classname.contains('.') && !c.classname.is_empty() {
        let suite = c.name.split("::").map(str::to_owned).collect::<Vec<_>>();
        let suite = suite[..suite.len().saturating_sub(1)].to_vec();
        return (
            format!("{}${}", c.classname, c.name),
            Framework::Rust,
            suite,
        );
    }
    let framework = match c.file.as_deref() {
        Some(f)
            if [".js", ".ts", ".jsx", ".tsx", ".mjs", ".cjs"]
                .iter()
                .any(|x| f.ends_with(x)) =>
        {
            Framework::Jest
        }
        _ => Framework::Pytest,
    };
    (
        format!("{}::{}", c.classname, c.name),
        framework,
        vec![c.classname.clone()],
    )
}

fn framework_list(tests: &[TestCase]) -> Vec<Framework> {
    let mut v: Vec<Framework> = Vec::new();
    for t in tests {
        if !v.contains(&t.framework) {
            v.push(t.framework);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pytest_nextest_and_surefire_junit_become_runs_with_our_ids() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="3" time="1.5" timestamp="2026-11-20T10:00:00.000000">
  <testcase classname="tests.test_x.TestC" name="test_y[a b]" file="tests/test_x.py" line="4" time="0.250"/>
  <testcase classname="tests.test_x" name="test_z" file="tests/test_x.py" time="1.000"><failure message="assert 1 == 2">trace</failure></testcase>
  <testcase classname="tests.test_x" name="test_s" file="tests/test_x.py" time="0"><skipped message="later"/></testcase>
</testsuite>
<testsuite name="calc::integ" tests="1"><testcase name="tests::flaky" classname="calc::integ" time="0.010"><flakyFailure message="boom"/></testcase></testsuite>
</testsuites>"#;
        let run = parse_junit(xml.as_bytes(), "j.xml").unwrap();
        let ids: Vec<&str> = run.tests.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "tests/test_x.py::TestC::test_y[a b]",
                "tests/test_x.py::test_z",
                "tests/test_x.py::test_s",
                "calc::integ$tests::flaky"
            ]
        );
        assert_eq!(run.tests[0].duration_ms, 250.0);
        assert_eq!(run.tests[1].outcome, Outcome::Failed);
        assert_eq!(run.tests[2].outcome, Outcome::Skipped);
        assert!(run.tests[3].flaky);
        assert_eq!(run.summary.total, 4);
        assert_eq!(run.started_at.to_rfc3339(), "2026-11-20T10:00:00+00:00");
    }

    #[test]
    fn garbage_is_an_error_naming_the_file() {
        let err = parse_junit(b"<html><body>", "x.xml").unwrap_err();
        assert!(err.to_string().contains("x.xml: not JUnit XML"), "{err}");
        let err = parse_junit(b"<testsuites><testcase name='a'></testsuite>", "y.xml").unwrap_err();
        assert!(
            format!("{err:#}").starts_with("y.xml: invalid XML"),
            "{err:#}"
        );
    }

    #[test]
    fn a_time_that_is_no_duration_is_an_error_naming_file_and_line() {
        for bad in ["1e13", "-1", "NaN", "inf", "-inf", "3e7x", "1e400"] {
            let xml = format!(
                "<testsuites>\n<testsuite name=\"calc\">\n  <testcase name=\"a\" classname=\"calc\" time=\"0.5\"/>\n  <testcase name=\"slow\" classname=\"calc\" time=\"{bad}\"/>\n</testsuite></testsuites>"
            );
            let err = parse_junit(xml.as_bytes(), "j.xml")
                .unwrap_err()
                .to_string();
            assert_eq!(
                err,
                format!(
                    "j.xml:4: testcase `slow` has time=\"{bad}\": expected a number of seconds from 0 to 31622400"
                )
            );
        }
        // The largest accepted time, at the end of the calendar, still imports.
        let xml = format!(
            "<testsuite timestamp=\"+262142-12-31T00:00:00Z\"><testcase name=\"a\" classname=\"c\" time=\"{MAX_TEST_SECONDS}\"/></testsuite>"
        );
        let run = parse_junit(xml.as_bytes(), "j.xml").unwrap();
        assert_eq!(run.tests[0].duration_ms, MAX_TEST_SECONDS * 1000.0);
        // No time, or an empty one, is zero.
        let run = parse_junit(br#"<testsuite><testcase name="a" classname="c" time=""/><testcase name="b" classname="c"/></testsuite>"#, "j.xml").unwrap();
        assert_eq!(run.summary.total, 2);
    }
}
