//! `cargo testflow show ID`: one test's result in full, from a recorded run.

use std::fmt::Write as _;

use anyhow::Result;

use crate::model::{Captured, Failure, Run, TestCase};
use crate::store::{NotRecorded, Store, load_run};

/// A test found in a run.
pub struct Found {
    pub run: Run,
    pub index: usize,
}

impl Found {
    pub fn test(&self) -> &TestCase {
        &self.run.tests[self.index]
    }
}

/// The test `id`: in the run `what` when given, else in the newest run that has it
/// (its last result). Not found: the closest ids, and the quoted id a shell mangled.
pub fn find(store: &Store, id: &str, what: Option<&str>) -> Result<Found> {
    if let Some(what) = what {
        let (_, run) = store.resolve_run(what)?;
        return match run.tests.iter().position(|t| t.id == id) {
            Some(index) => Ok(Found { run, index }),
            None => {
                let known: Vec<String> = run.tests.iter().map(|t| t.id.clone()).collect();
                let where_ = format!("in run {}", run.run_id);
                Err(NotRecorded(crate::lookup::not_found(&where_, id, &known)).into())
            }
        };
    }
    let ids = store.run_ids()?;
    if ids.is_empty() {
        return Err(NotRecorded(crate::store::no_runs_yet(store.root())).into());
    }
    let mut known: std::collections::BTreeSet<String> = Default::default();
    for run_id in ids.iter().rev() {
        // A run that cannot be read is skipped here: `report --run ID` says why.
        let Ok(run) = load_run(&store.runs_dir().join(run_id)) else {
            continue;
        };
        if let Some(index) = run.tests.iter().position(|t| t.id == id) {
            return Ok(Found { run, index });
        }
        known.extend(run.tests.iter().map(|t| t.id.clone()));
    }
    let known: Vec<String> = known.into_iter().collect();
    let where_ = format!(
        "in the {} runs in {}",
        ids.len(),
        store.runs_dir().display()
    );
    Err(NotRecorded(crate::lookup::not_found(&where_, id, &known)).into())
}

/// The test case as JSON (the schema's `TestCase`), with the id of its run.
pub fn to_json(found: &Found) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(found.test())?;
    if let Some(obj) = v.as_object_mut() {
        obj.insert("run_id".into(), found.run.run_id.clone().into());
    }
    Ok(v)
}

fn indented(out: &mut String, text: &str) {
    for line in text.lines() {
        let _ = writeln!(out, "    {line}");
    }
}

fn captured(out: &mut String, name: &str, c: &Captured) {
    if c.text.is_empty() && c.truncated_bytes == 0 {
        return;
    }
    let cut = if c.truncated_bytes > 0 {
        format!(" ({} bytes cut from the middle)", c.truncated_bytes)
    } else {
        String::new()
    };
    let _ = writeln!(out, "  {name}{cut}:");
    indented(out, &c.text);
}

fn failure(out: &mut String, f: &Failure) {
    let kind = f
        .kind
        .as_deref()
        .map_or(String::new(), |k| format!(" ({k})"));
    let _ = writeln!(out, "  category: {}{kind}", f.category.as_str());
    if let Some(sig) = f.signal {
        let _ = writeln!(out, "  signal:   {sig}");
    }
    let _ = writeln!(out, "  message:");
    indented(out, &f.message);
    if let Some(l) = &f.location {
        let col = l.column.map_or(String::new(), |c| format!(":{c}"));
        let _ = writeln!(out, "  location: {}:{}{col}", l.file, l.line);
    }
    if let Some(e) = &f.expected {
        let _ = writeln!(out, "  expected:");
        indented(out, e);
    }
    if let Some(a) = &f.actual {
        let _ = writeln!(out, "  actual:");
        indented(out, a);
    }
    if let (Some(e), Some(a)) = (&f.expected, &f.actual)
        && e != a
    {
        // Whole lines on both sides: no "no newline at end of file" noise.
        let line = |s: &str| format!("{}\n", s.trim_end_matches('\n'));
        let (e, a) = (line(e), line(a));
        let diff = similar::TextDiff::from_lines(e.as_str(), a.as_str())
            .unified_diff()
            .header("expected", "actual")
            .to_string();
        let _ = writeln!(out, "  diff:");
        indented(out, &diff);
    }
    if let Some(d) = &f.details {
        let _ = writeln!(out, "  details:");
        indented(out, d);
    }
    if let Some(c) = &f.stdout {
        captured(out, "stdout", c);
    }
    if let Some(c) = &f.stderr {
        captured(out, "stderr", c);
    }
}

/// For people: everything recorded about the test.
pub fn render_human(found: &Found) -> String {
    let (run, t) = (&found.run, found.test());
    let mut out = String::new();
    let flaky = if t.flaky { ", flaky" } else { "" };
    let _ = writeln!(
        out,
        "{}\n  outcome:  {}{flaky} in {:.1} ms",
        t.id,
        t.outcome.as_str(),
        t.duration_ms
    );
    let _ = writeln!(
        out,
        "  run:      {} ({})",
        run.run_id,
        run.started_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let _ = writeln!(out, "  framework: {}", t.framework.as_str());
    if let Some(file) = &t.file {
        let line = t.line.map_or(String::new(), |l| format!(":{l}"));
        let _ = writeln!(out, "  defined:  {file}{line}");
    }
    if let Some(b) = &t.binary {
        let _ = writeln!(out, "  binary:   {b}");
    }
    if let Some(f) = &t.failure {
        failure(&mut out, f);
    }
    let _ = writeln!(out, "  attempts: {}", t.attempts.len());
    for a in &t.attempts {
        let first = a
            .failure
            .as_ref()
            .or(t
                .failure
                .as_ref()
                .filter(|_| a.attempt as usize == t.attempts.len()))
            .and_then(|f| f.message.lines().next())
            .unwrap_or("");
        let _ = writeln!(
            out,
            "    #{} {:<8} {:>10.1} ms  {first}",
            a.attempt,
            a.outcome.as_str(),
            a.duration_ms
        );
        // Earlier attempts keep their own failure in full.
        if let Some(f) = &a.failure
            && (a.attempt as usize) < t.attempts.len()
        {
            let mut inner = String::new();
            failure(&mut inner, f);
            indented(&mut out, &inner);
        }
    }
    out
}
