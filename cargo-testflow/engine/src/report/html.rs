//! One self-contained HTML file: the page (`html/page.html`, `html/style.css`,
//! `html/app.js`) with the run's data embedded as JSON in a
//! `<script type="application/json">` element.
//!
//! - No network: no external script, style, font or image; a Content-Security-Policy
//!   forbids loading anything, so the file opens from disk and stays inert.
//! - Test text never becomes markup: the JSON is escaped so nothing in it can close the
//!   script element (`<`, `>` and `&` are written as `\u003c`, `\u003e`, `\u0026`), and
//!   the page only ever puts data into the DOM with `textContent`.
//! - 100,000 tests stay fast: tests are compact rows (strings for files and binaries
//!   are interned), details are kept only for tests that failed, retried or were
//!   skipped with a reason, and the page renders only the rows on screen.
//!
//! The data's shape is [`data`]; `history` and `shards` are the hooks for run history
//! (trends) and merged shard runs, both `null` until those exist. `coverage` is there
//! only when the run measured coverage (a run without it embeds exactly what it did
//! before coverage existed); its files are compact rows ([`COVERAGE_FILE_COLUMNS`]).

use std::collections::HashMap;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::plain;
use crate::analyze;
use crate::coverage::Ratio;
use crate::gate;
use crate::model::{Attempt, Category, Failure, Framework, Outcome, Run, RunCoverage, TestCase};

/// Version of the embedded data's shape (`format` in the JSON).
pub const DATA_FORMAT: u32 = 1;

const PAGE: &str = include_str!("html/page.html");
const STYLE: &str = include_str!("html/style.css");
const APP: &str = include_str!("html/app.js");

/// Columns of one row of `tests` (the page reads them by these positions).
pub const TEST_COLUMNS: [&str; 11] = [
    "id",
    "name",
    "suite",
    "file",
    "line",
    "framework",
    "outcome",
    "duration_ms",
    "flags",
    "detail",
    "category",
];
/// Columns of one row of `coverage.files`: covered and total lines, branches, functions.
pub const COVERAGE_FILE_COLUMNS: [&str; 7] = [
    "path",
    "lines_covered",
    "lines_total",
    "branches_covered",
    "branches_total",
    "functions_covered",
    "functions_total",
];
/// Columns of one row of `coverage.previous.changed_files` (`-1`: no such side, the file is
/// new or no longer measured).
pub const COVERAGE_CHANGE_COLUMNS: [&str; 5] = [
    "path",
    "before_covered",
    "before_total",
    "after_covered",
    "after_total",
];

/// `flags` bits.
pub const FLAG_FLAKY: u64 = 1;
pub const FLAG_RETRIED: u64 = 2;

struct Interner {
    strings: Vec<String>,
    index: HashMap<String, usize>,
}

impl Interner {
    fn get(&mut self, s: Option<&str>) -> Value {
        let Some(s) = s else { return Value::from(-1) };
        if let Some(&i) = self.index.get(s) {
            return i.into();
        }
        let i = self.strings.len();
        self.strings.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        i.into()
    }
}

fn round2(ms: f64) -> f64 {
    if ms.is_finite() && ms > 0.0 {
        (ms * 100.0).round() / 100.0
    } else {
        0.0
    }
}

fn failure_json(f: &Failure) -> Value {
    let mut v = json!({
        "category": f.category.as_str(),
        "message": plain(&f.message),
    });
    let o = v.as_object_mut().expect("object");
    let mut put = |k: &str, s: &Option<String>| {
        if let Some(s) = s {
            o.insert(k.into(), plain(s).into());
        }
    };
    put("kind", &f.kind);
    put("expected", &f.expected);
    put("actual", &f.actual);
    put("trace", &f.details);
    put("stdout", &f.stdout.as_ref().map(|c| c.text.clone()));
    put("stderr", &f.stderr.as_ref().map(|c| c.text.clone()));
    if let Some(l) = &f.location {
        o.insert(
            "location".into(),
            serde_json::to_value(l).unwrap_or_default(),
        );
    }
    if let Some(s) = f.signal {
        o.insert("signal".into(), s.into());
    }
    v
}

fn attempt_json(a: &Attempt) -> Value {
    let mut v = json!({
        "attempt": a.attempt,
        "outcome": a.outcome.as_str(),
        "duration_ms": round2(a.duration_ms),
    });
    if let Some(f) = &a.failure {
        v["failure"] = failure_json(f);
    }
    v
}

fn needs_detail(t: &TestCase) -> bool {
    t.failure.is_some()
        || t.reason.is_some()
        || t.attempts.len() > 1
        || t.attempts.iter().any(|a| !a.attachments.is_empty())
}

fn detail(t: &TestCase) -> Value {
    let mut v = json!({ "id": t.id });
    if let Some(b) = &t.binary {
        v["binary"] = b.clone().into();
    }
    if let Some(f) = &t.failure {
        v["failure"] = failure_json(f);
    }
    if let Some(r) = &t.reason {
        v["reason"] = plain(r).into();
    }
    if t.attempts.len() > 1 {
        // The last attempt's failure is `failure`; earlier ones carry their own.
        v["attempts"] = t.attempts.iter().map(attempt_json).collect();
    }
    // Files the attempts left behind (Playwright's traces, screenshots), shown by path.
    let attachments: Vec<Value> = t
        .attempts
        .iter()
        .flat_map(|a| {
            a.attachments.iter().map(move |f| {
                json!({ "attempt": a.attempt, "name": plain(&f.name), "path": plain(&f.path) })
            })
        })
        .collect();
    if !attachments.is_empty() {
        v["attachments"] = attachments.into();
    }
    v
}

/// The run's coverage for the page: totals, per-framework status, previous run, and one
/// compact row per file (10,000 files stay small).
fn coverage_json(cov: &RunCoverage) -> Value {
    let side = |r: &Option<Ratio>| match r {
        Some(r) => (Value::from(r.covered), Value::from(r.total)),
        None => (Value::from(-1), Value::from(-1)),
    };
    json!({
        "totals": cov.totals,
        "frameworks": cov.frameworks.iter().map(|f| json!({
            "framework": f.framework.as_str(),
            "status": plain(f.status.as_str()),
            "message": f.message.as_deref().map(plain),
        })).collect::<Vec<_>>(),
        "previous": cov.previous.as_ref().map(|p| json!({
            "run_id": p.run_id,
            "branch": p.branch,
            "lines": p.lines,
            "changed_files": p.changed_files.iter().map(|c| {
                let (bc, bt) = side(&c.before);
                let (ac, at) = side(&c.after);
                json!([plain(&c.path), bc, bt, ac, at])
            }).collect::<Vec<_>>(),
        })),
        "file_columns": COVERAGE_FILE_COLUMNS,
        "change_columns": COVERAGE_CHANGE_COLUMNS,
        "files": cov.files.iter().map(|f| {
            let t = &f.totals;
            json!([plain(&f.path), t.lines.covered, t.lines.total, t.branches.covered,
                   t.branches.total, t.functions.covered, t.functions.total])
        }).collect::<Vec<_>>(),
    })
}

/// The data the page renders (embedded as JSON).
pub fn data(run: &Run) -> Value {
    let mut files = Interner {
        strings: vec![],
        index: HashMap::new(),
    };
    let mut details = Vec::new();
    let mut row_of: HashMap<&str, usize> = HashMap::with_capacity(run.tests.len());
    let tests: Vec<Value> = run
        .tests
        .iter()
        .enumerate()
        .map(|(i, t)| {
            row_of.insert(t.id.as_str(), i);
            let d = if needs_detail(t) {
                details.push(detail(t));
                Value::from(details.len() - 1)
            } else {
                Value::from(-1)
            };
            let mut flags = 0;
            if t.flaky {
                flags |= FLAG_FLAKY;
            }
            if t.attempts.len() > 1 {
                flags |= FLAG_RETRIED;
            }
            let category = match &t.failure {
                Some(f) if t.outcome.is_failure() || t.flaky => Value::from(
                    Category::ALL
                        .iter()
                        .position(|c| *c == f.category)
                        .unwrap_or(0),
                ),
                _ => Value::from(-1),
            };
            json!([
                t.id,
                t.name,
                t.suite.join("::"),
                files.get(t.file.as_deref()),
                t.line.unwrap_or(0),
                Framework::ALL
                    .iter()
                    .position(|f| *f == t.framework)
                    .unwrap_or(0),
                Outcome::ALL
                    .iter()
                    .position(|o| *o == t.outcome)
                    .unwrap_or(0),
                round2(t.duration_ms),
                flags,
                d,
                category,
            ])
        })
        .collect();
    let analysis = analyze::analyze(run);
    let causes: Vec<Value> = analysis
        .groups
        .iter()
        .map(|g| {
            json!({
                "category": g.category.as_str(),
                "kind": g.kind.as_deref().map(plain),
                "message": plain(&g.message),
                "location": g.location,
                "count": g.count,
                "suggestion": {
                    "text": plain(&g.suggestion.text),
                    "command": g.suggestion.command,
                    "diff": g.suggestion.diff.as_deref().map(plain),
                },
                "tests": g.tests.iter().filter_map(|t| row_of.get(t.id.as_str())).collect::<Vec<_>>(),
            })
        })
        .collect();
    let headline = {
        let h = super::headline(run);
        let mark = match h.good {
            Some(true) => "✓ ",
            Some(false) => "✗ ",
            None => "",
        };
        format!("{mark}{}", h.text)
    };
    let mut data = json!({
        "format": DATA_FORMAT,
        "run": {
            "run_id": run.run_id,
            "testflow_version": run.testflow_version,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "completed": run.completed,
            "project_root": run.project_root,
            "environment": run.environment,
            "frameworks": run.frameworks,
            "errors": run.errors.iter().map(|e| json!({"kind": e.kind, "message": plain(&e.message)})).collect::<Vec<_>>(),
        },
        // Counted from the tests (a stored summary is only a cache a file can contradict).
        "summary": run.recomputed_summary(),
        // Why the run cannot be trusted as a pass (its errors, incomplete, a lying
        // summary): the page shows these and is never green when there are any.
        "distrust": run.distrust_errors().iter().map(|e| json!({"kind": e.kind, "message": plain(&e.message)})).collect::<Vec<_>>(),
        "pass_rate": gate::pass_rate(run),
        // The headline, in words (see `report::headline`).
        "headline": headline,
        "gates": gate::evaluate(run, &gate::default_gates()),
        "columns": TEST_COLUMNS,
        "frameworks": Framework::ALL.map(|f| f.as_str()),
        "outcomes": Outcome::ALL.map(|o| o.as_str()),
        "categories": Category::ALL.map(|c| c.as_str()),
        "files": files.strings,
        "tests": tests,
        "details": details,
        "causes": causes,
        // Hooks, `null` until they exist: per-shard breakdown of a merged run
        // ([{shard, total, passed, failed, skipped, duration_ms}]) and run history for
        // trends ([{run_id, started_at, total, failures, flaky, duration_ms}]).
        "shards": if run.shards.is_empty() {
            Value::Null
        } else {
            Value::Array(
                run.shards
                    .iter()
                    .map(|s| {
                        json!({"shard": s.shard.as_ref().map_or_else(|| s.source.clone(), |i| format!("{}/{}", i.index, i.total)),
                               "total": s.summary.total, "passed": s.summary.passed, "failed": s.summary.failures(),
                               "skipped": s.summary.skipped, "duration_ms": s.summary.duration_ms})
                    })
                    .collect(),
            )
        },
        "history": Value::Null,
    });
    if let Some(cov) = &run.coverage {
        data["coverage"] = coverage_json(cov);
    }
    // Quarantined tests (listed apart; their outcome stays what it was) and the entries.
    if let Some(q) = run.recomputed_quarantine() {
        data["quarantine"] = json!({
            "tests": q.tests.iter().map(|t| json!({
                "id": plain(&t.id), "outcome": t.outcome.as_str(), "reason": plain(&t.reason),
                "entry": plain(&t.entry), "origin": t.origin, "until": t.until,
            })).collect::<Vec<_>>(),
            "expired": q.entries.iter().filter(|e| e.expired).map(|e| json!({
                "entry": plain(e.target()), "until": e.until,
            })).collect::<Vec<_>>(),
        });
    }
    data
}

/// JSON that is safe inside a `<script>` element: `<`, `>` and `&` only occur inside
/// JSON strings, where their `\u` escapes mean the same.
pub fn script_safe_json(v: &Value) -> Result<String> {
    let s = serde_json::to_string(v).context("cannot serialize the report data")?;
    let mut out = String::with_capacity(s.len() + s.len() / 50);
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(super) fn render(run: &Run, extras: &super::Extras) -> Result<Vec<u8>> {
    let mut data = data(run);
    if extras.trend.len() > 1 {
        data["history"] = serde_json::to_value(
            extras
                .trend
                .iter()
                .map(|p| {
                    json!({"run_id": p.run_id, "started_at": p.started_at, "total": p.total,
                           "failures": p.failed, "flaky": p.flaky, "duration_ms": p.duration_ms,
                           "pass_rate": p.pass_rate})
                })
                .collect::<Vec<_>>(),
        )?;
    }
    let json = script_safe_json(&data)?;
    let title = escape_html(&format!("testflow report {}", run.run_id));
    let page = PAGE
        .replacen("{{TITLE}}", &title, 1)
        .replacen("{{STYLE}}", STYLE, 1)
        .replacen("{{APP}}", APP, 1);
    // The data goes in last, so nothing in it is ever taken for a placeholder.
    let page = page.replacen("{{DATA}}", &json, 1);
    Ok(page.into_bytes())
}
