//! The tables and rows the commands print for people: `list`, `quarantine list`,
//! `history …`, `shard plan`. Rendered to strings here; the command line prints them (or
//! JSON instead, with `--format json`).

/// `cargo testflow list` for people: tests per suite (and files, for pytest and Jest),
/// each test under its suite with `--names`, then the totals.
pub fn list_text(suites: &[crate::frameworks::SuiteListing], names: bool) -> String {
    let mut out = String::new();
    let plural = |n: usize, one: &str, many: &str| super::plural(n as u64, one, many);
    for s in suites {
        let mut notes = Vec::new();
        if let Some(f) = s.files.filter(|_| s.kind != "pytest") {
            notes.push(format!("in {}", plural(f, "file", "files")));
        }
        if s.ignored > 0 {
            notes.push(format!("{} ignored", s.ignored));
        }
        if s.test_list.iter().any(|t| t.affected.is_some()) {
            let n = s
                .test_list
                .iter()
                .filter(|t| t.affected.as_ref().is_none_or(|a| a.selected))
                .count();
            notes.push(format!("{n} selected by --affected"));
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
                let affected = t.affected.as_ref().map_or(String::new(), |a| {
                    format!(
                        "  ({}: {})",
                        if a.selected {
                            "selected"
                        } else {
                            "not selected"
                        },
                        a.rule
                    )
                });
                out.push_str(&format!("        {}{at}{ignored}{affected}\n", t.id));
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
pub fn quarantine_row(e: &crate::model::QuarantineEntry) -> String {
    let until = match (e.until, e.expired) {
        (Some(u), true) => format!("EXPIRED {u}"),
        (Some(u), false) => format!("until {u}"),
        (None, _) => "no expiry".to_owned(),
    };
    let kind = if e.id.is_some() { "id" } else { "pattern" };
    format!("{kind} {}  ({until})  {}", e.target(), e.reason)
}

/// `history import`: one imported file.
pub fn history_import_row(r: &serde_json::Value) -> String {
    format!(
        "{}: {} tests as {}",
        r["file"].as_str().unwrap_or(""),
        r["tests"],
        r["run_id"].as_str().unwrap_or("")
    )
}

/// `history slowest`: one test's recent and longest durations.
pub fn slowest_row(r: &crate::history::SlowTest) -> String {
    format!(
        "{:>10.1} ms  (max {:.1}, {} runs)  {}",
        r.recent_ms, r.max_ms, r.runs, r.test_id
    )
}

/// `history flaky`: one flaky test.
pub fn flaky_row(r: &crate::history::FlakyTest) -> String {
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
pub fn trend_row(r: &crate::history::TrendPoint) -> String {
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
pub fn test_row(r: &crate::history::TestResultRow) -> String {
    format!(
        "{}  {:<8} {:>10.1} ms  attempts {}  {}",
        r.started_at, r.outcome, r.duration_ms, r.attempts, r.run_id
    )
}

/// `shard plan` for people: each shard's test count and predicted time, then the
/// plan's balance.
pub fn shard_plan_text(plan: &crate::shard::Plan, shards: u32) -> String {
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

/// `history selection`: each observed run, then the totals.
pub fn selection_text(r: &crate::affected::store::SelectionReport) -> String {
    if r.runs.is_empty() {
        return "no observation recorded yet: run `cargo testflow run --affected=observe`\n"
            .to_owned();
    }
    let mut out = String::new();
    for o in &r.runs {
        out.push_str(&format!(
            "{}  {:>6} tests  {:>6} would skip  {:>3} failures  {:>3} missed  {}\n",
            o.started_at,
            o.tests,
            o.would_skip,
            o.failures,
            o.missed.len(),
            o.run_id
        ));
    }
    let pct = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{:.1}%", v * 100.0));
    out.push_str(&format!(
        "over {} runs: missed {} of {} failures (safety {}), would have skipped {} of {} tests (savings {})\n",
        r.runs.len(),
        r.missed,
        r.failures,
        pct(r.safety),
        r.would_skip,
        r.tests,
        pct(r.savings)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frameworks::{ListedTest, SuiteListing};
    use crate::model::Framework;
    use crate::shard::{Plan, PlannedShard, Strategy};

    fn listed(id: &str) -> ListedTest {
        ListedTest {
            id: id.into(),
            name: id.rsplit("::").next().unwrap_or(id).into(),
            framework: Framework::Pytest,
            file: Some("tests/test_a.py".into()),
            line: Some(3),
            ignored: None,
            affected: None,
        }
    }

    /// The tables people read, byte for byte: a suite with a file it could not load and
    /// one test, `--names`, and a two-shard plan.
    #[test]
    fn tables_for_people() {
        let suites = vec![SuiteListing {
            id: "tests".into(),
            package: "p".into(),
            kind: "pytest".into(),
            tests: 2,
            ignored: 0,
            files: Some(2),
            executable: None,
            error: None,
            test_list: vec![
                listed("tests/test_a.py::test_one"),
                listed("tests/test_a.py::test_two"),
            ],
            problems: vec!["tests/test_broken.py".into()],
        }];
        let plan = Plan {
            strategy: Strategy::Timings,
            shards: vec![
                PlannedShard {
                    index: 1,
                    tests: vec!["a".into(), "b".into()],
                    predicted_ms: 1500.0,
                },
                PlannedShard {
                    index: 2,
                    tests: vec!["c".into()],
                    predicted_ms: 1250.0,
                },
            ],
            imbalance: 1.090909,
            lower_bound_ms: 1375.0,
            longest_test_ms: 1250.0,
            unknown_durations: 1,
        };
        insta::assert_snapshot!(format!(
            "{}---- --names ----\n{}---- shard plan ----\n{}",
            list_text(&suites, false),
            list_text(&suites, true),
            shard_plan_text(&plan, 2)
        ));
    }
}
