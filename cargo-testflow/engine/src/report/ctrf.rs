//! CTRF, the Common Test Report Format (JSON; schema in `tests/schemas/ctrf.schema.json`).
//!
//! - Every key is one the schema allows (it forbids extra keys at every level); what
//!   CTRF has no field for goes under `extra`.
//! - Times and durations are integer milliseconds; `start`/`stop` are since the epoch.
//! - `testId` is a UUIDv5 of our stable test id, so it is the same in every run;
//!   the id itself is kept in `extra.id`. `runId` is the run id; `reportId` is a
//!   UUIDv5 of it (rendering the same run twice gives the same document).
//! - Outcomes: passed and xpassed → `passed`; failed, error, timeout, crashed →
//!   `failed`; skipped and xfailed → `skipped`; `rawStatus` keeps ours.
//! - Retries: the attempts before the last are `retryAttempts`, `retries` counts them.
//! - Attachments (Playwright's traces, screenshots): each attempt's files by path, on the
//!   test (the last attempt) and on its `retryAttempts`; `contentType` (required) is
//!   `application/octet-stream` when unknown, and a path that would read as a URI
//!   (`javascript:…`) is written `./javascript:…`, the same file.
//! - Every reason not to trust the run (`Run::distrust_errors`: a build or listing failure,
//!   a damaged log, an incomplete run, a summary that lies, …) becomes a failed test named
//!   after it, as in JUnit, so a dashboard that only counts tests never shows it green.

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::plain;
use crate::model::{Attachment, Attempt, Captured, Failure, Outcome, Run, TestCase};

/// The CTRF version written in `specVersion` (the reference implementation's current one).
pub(super) const SPEC_VERSION: &str = "0.0.0";

/// Namespace of testflow's UUIDv5s: UUIDv5(URL, "https://github.com/testflow/testflow").
fn namespace() -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        b"https://github.com/testflow/testflow",
    )
}

/// The stable CTRF `testId` of a test id.
pub(super) fn test_id(id: &str) -> String {
    Uuid::new_v5(&namespace(), format!("test:{id}").as_bytes()).to_string()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    report_format: &'static str,
    spec_version: &'static str,
    report_id: String,
    run_id: String,
    timestamp: String,
    generated_by: String,
    results: Results,
}

#[derive(Serialize)]
struct Results {
    tool: Value,
    summary: Value,
    tests: Vec<Test>,
    environment: Value,
    extra: Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Test {
    test_id: String,
    execution_id: String,
    name: String,
    status: &'static str,
    raw_status: &'static str,
    duration: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    suite: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
    labels: Map<String, Value>,
    retries: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    retry_attempts: Vec<RetryAttempt>,
    flaky: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stdout: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stderr: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<CtrfAttachment>,
    extra: Map<String, Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CtrfAttachment {
    name: String,
    content_type: String,
    path: String,
}

#[derive(Serialize)]
struct RetryAttempt {
    attempt: u32,
    status: &'static str,
    duration: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stdout: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stderr: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<CtrfAttachment>,
    extra: Map<String, Value>,
}

pub(super) fn status(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed | Outcome::Xpassed => "passed",
        Outcome::Failed | Outcome::Error | Outcome::Timeout | Outcome::Crashed => "failed",
        Outcome::Skipped | Outcome::Xfailed => "skipped",
    }
}

/// Milliseconds as CTRF wants them: a non-negative integer (rounded).
fn ms(v: f64) -> i64 {
    if v.is_finite() && v > 0.0 {
        v.round() as i64
    } else {
        0
    }
}

fn lines(c: &Option<Captured>) -> Vec<String> {
    c.as_ref()
        .filter(|c| !c.is_empty())
        .map(|c| plain(&c.text).lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Message, location, expected/actual: what a CTRF viewer shows as the message.
fn message(f: &Failure) -> Option<String> {
    let mut m = plain(&f.message);
    if let (Some(e), Some(a)) = (&f.expected, &f.actual) {
        m.push_str(&format!("\nexpected: {}\n  actual: {}", plain(e), plain(a)));
    }
    (!m.is_empty()).then_some(m)
}

fn failure_extra(f: &Failure, extra: &mut Map<String, Value>) {
    extra.insert("category".into(), f.category.as_str().into());
    if let Some(k) = &f.kind {
        extra.insert("kind".into(), plain(k).into());
    }
    if let Some(loc) = &f.location {
        extra.insert(
            "location".into(),
            serde_json::to_value(loc).unwrap_or(Value::Null),
        );
    }
    if let Some(e) = &f.expected {
        extra.insert("expected".into(), plain(e).into());
    }
    if let Some(a) = &f.actual {
        extra.insert("actual".into(), plain(a).into());
    }
    if let Some(s) = f.signal {
        extra.insert("signal".into(), s.into());
    }
}

/// A path as a file path a viewer cannot take for a URI: `javascript:x` (a file the test
/// named so) becomes `./javascript:x`; Windows drive letters stay.
fn file_path(p: &str) -> String {
    let p = plain(p);
    let scheme = p.split_once(':').map(|(s, _)| s).filter(|s| {
        s.len() > 1
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    });
    match scheme {
        Some(_) => format!("./{p}"),
        None => p,
    }
}

fn attachments(files: &[Attachment]) -> Vec<CtrfAttachment> {
    files
        .iter()
        .map(|f| CtrfAttachment {
            name: plain(&f.name),
            content_type: f
                .content_type
                .as_deref()
                .map(plain)
                .filter(|c| !c.trim().is_empty())
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
            path: file_path(&f.path),
        })
        .collect()
}

fn start_ms(a: Option<&Attempt>) -> Option<i64> {
    a.and_then(|a| a.started_at).map(|t| t.timestamp_millis())
}

fn retry_attempt(a: &Attempt) -> RetryAttempt {
    let start = start_ms(Some(a));
    let mut extra = Map::new();
    extra.insert("rawStatus".into(), a.outcome.as_str().into());
    if let Some(f) = &a.failure {
        failure_extra(f, &mut extra);
    }
    let f = a.failure.as_ref();
    RetryAttempt {
        attempt: a.attempt.max(1),
        status: status(a.outcome),
        duration: ms(a.duration_ms),
        message: f.and_then(message),
        trace: f.and_then(|f| f.details.as_deref()).map(plain),
        line: f.and_then(|f| f.location.as_ref()).map(|l| l.line),
        stdout: f.map(|f| lines(&f.stdout)).unwrap_or_default(),
        stderr: f.map(|f| lines(&f.stderr)).unwrap_or_default(),
        start,
        stop: start.map(|s| s.saturating_add(ms(a.duration_ms))),
        attachments: attachments(&a.attachments),
        extra,
    }
}

fn test(run: &Run, t: &TestCase) -> Test {
    let last = t.attempts.last();
    let start = start_ms(last);
    let earlier = &t.attempts[..t.attempts.len().saturating_sub(1)];
    let mut labels = Map::new();
    labels.insert("framework".into(), t.framework.as_str().into());
    if let Some(b) = &t.binary {
        labels.insert("binary".into(), b.clone().into());
    }
    let mut extra = Map::new();
    extra.insert("id".into(), t.id.clone().into());
    extra.insert("outcome".into(), t.outcome.as_str().into());
    if let Some(f) = &t.failure {
        failure_extra(f, &mut extra);
    }
    let f = t.failure.as_ref();
    Test {
        test_id: test_id(&t.id),
        execution_id: Uuid::new_v5(
            &namespace(),
            format!("execution:{}:{}", run.run_id, t.id).as_bytes(),
        )
        .to_string(),
        name: if t.name.is_empty() {
            t.id.clone()
        } else {
            t.name.clone()
        },
        status: status(t.outcome),
        raw_status: t.outcome.as_str(),
        duration: ms(t.duration_ms),
        start,
        stop: start.map(|s| s.saturating_add(ms(t.duration_ms))),
        suite: (!t.suite.is_empty()).then(|| t.suite.clone()),
        // A skip or xfail reason when there is no failure (pytest's).
        message: f
            .and_then(message)
            .or_else(|| t.reason.as_deref().map(plain)),
        trace: f.and_then(|f| f.details.as_deref()).map(plain),
        file_path: t.file.clone(),
        line: t.line,
        labels,
        retries: earlier.len() as u32,
        retry_attempts: earlier.iter().map(retry_attempt).collect(),
        flaky: t.flaky,
        stdout: f.map(|f| lines(&f.stdout)).unwrap_or_default(),
        stderr: f.map(|f| lines(&f.stderr)).unwrap_or_default(),
        attachments: last
            .map(|a| attachments(&a.attachments))
            .unwrap_or_default(),
        extra,
    }
}

/// A reason not to trust the run, as a failed test (the `n`th of its kind).
fn error_test(run: &Run, kind: &str, n: usize, message: &str) -> Test {
    let name = match n {
        1 => format!("{kind} error"),
        n => format!("{kind} error {n}"),
    };
    let id = format!("testflow${name}");
    let mut extra = Map::new();
    extra.insert("id".into(), id.clone().into());
    extra.insert("outcome".into(), "error".into());
    extra.insert("runError".into(), kind.into());
    Test {
        test_id: test_id(&id),
        execution_id: Uuid::new_v5(
            &namespace(),
            format!("execution:{}:{id}", run.run_id).as_bytes(),
        )
        .to_string(),
        name,
        status: "failed",
        raw_status: "error",
        duration: 0,
        start: None,
        stop: None,
        suite: Some(vec!["testflow".into()]),
        message: Some(plain(message)),
        trace: None,
        file_path: None,
        line: None,
        labels: Map::new(),
        retries: 0,
        retry_attempts: vec![],
        flaky: false,
        stdout: vec![],
        stderr: vec![],
        attachments: vec![],
        extra,
    }
}

pub(super) fn render(run: &Run) -> Result<Vec<u8>> {
    let quarantine = run.recomputed_quarantine();
    let mut tests: Vec<Test> = run
        .tests
        .iter()
        .map(|t| {
            let mut out = test(run, t);
            // A quarantined test keeps its status (never `passed` for a failure).
            if let Some(q) = quarantine.iter().flat_map(|q| &q.tests).find(|q| q.id == t.id) {
                out.extra.insert(
                    "quarantined".into(),
                    json!({ "reason": q.reason, "entry": q.entry, "origin": q.origin, "until": q.until }),
                );
            }
            out
        })
        .collect();
    // Every reason not to trust the run is a failed test, so no dashboard shows it green.
    let distrust = run.distrust_errors();
    let mut seen: Vec<&str> = Vec::new();
    for e in &distrust {
        let n = seen.iter().filter(|k| **k == e.kind.as_str()).count();
        seen.push(e.kind.as_str());
        tests.push(error_test(run, e.kind.as_str(), n + 1, &e.message));
    }
    let count = |s: &str| tests.iter().filter(|t| t.status == s).count();
    let start = run.started_at.timestamp_millis();
    let stop = run
        .finished_at
        .map(|t| t.timestamp_millis())
        .unwrap_or_else(|| start.saturating_add(ms(run.summary.duration_ms)));
    // Counted from the tests: a stored summary is only a cache a file can contradict.
    let s = &run.recomputed_summary();
    let summary = json!({
        "tests": tests.len(),
        "passed": count("passed"),
        "failed": count("failed"),
        "skipped": count("skipped"),
        "pending": 0,
        "other": count("other"),
        "flaky": s.flaky,
        "start": start,
        "stop": stop,
        "duration": ms(s.duration_ms),
        "extra": {
            "error": s.error, "timeout": s.timeout, "crashed": s.crashed,
            "xfailed": s.xfailed, "xpassed": s.xpassed,
            "runErrors": distrust.len(),
        },
    });
    let env = &run.environment;
    let mut environment = Map::new();
    environment.insert("osPlatform".into(), env.os.clone().into());
    if let Some(c) = &env.git_commit {
        environment.insert("commit".into(), c.clone().into());
    }
    if let Some(b) = &env.git_branch {
        environment.insert("branchName".into(), b.clone().into());
    }
    let mut env_extra = Map::new();
    env_extra.insert("arch".into(), env.arch.clone().into());
    if let Some(ci) = &env.ci {
        env_extra.insert("ci".into(), ci.as_str().into());
    }
    if let Some(h) = &env.hostname {
        env_extra.insert("hostname".into(), h.clone().into());
    }
    environment.insert("extra".into(), env_extra.into());
    let report = Report {
        report_format: "CTRF",
        spec_version: SPEC_VERSION,
        report_id: Uuid::new_v5(&namespace(), format!("report:{}", run.run_id).as_bytes())
            .to_string(),
        run_id: run.run_id.clone(),
        timestamp: run
            .finished_at
            .unwrap_or(run.started_at)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        generated_by: format!("testflow {}", run.testflow_version),
        results: Results {
            tool: json!({
                "name": "testflow",
                "version": run.testflow_version,
                "extra": { "frameworks": run.frameworks },
            }),
            summary,
            tests,
            environment: environment.into(),
            extra: json!({
                "schemaVersion": run.schema_version,
                "completed": run.completed,
                "errors": run.errors,
                "distrust": run.distrust(),
            }),
        },
    };
    let mut report = report;
    if let (Some(q), Some(extra)) = (&quarantine, report.results.extra.as_object_mut()) {
        extra.insert("quarantine".into(), json!(q));
    }
    let mut out = serde_json::to_vec_pretty(&report).context("cannot serialize the CTRF report")?;
    out.push(b'\n');
    Ok(out)
}
