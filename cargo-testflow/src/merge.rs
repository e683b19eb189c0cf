//! Joining the runs of a sharded suite back into one `Run`.

use std::collections::HashMap;

use chrono::Utc;

use crate::model::{Run, RunError, SCHEMA_VERSION, ShardSummary, Summary};
use crate::store::new_run_id;

/// Merge shard runs (each with a label for messages, e.g. its path). A test reported by
/// two shards is kept once and flagged; tests of `expected` that no shard reported are
/// flagged as missing and make the merged run incomplete.
pub fn merge(inputs: Vec<(String, Run)>, expected: Option<&[String]>) -> Run {
    let mut tests = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut errors = Vec::new();
    let mut frameworks = Vec::new();
    let started = inputs
        .iter()
        .map(|(_, r)| r.started_at)
        .min()
        .unwrap_or_else(Utc::now);
    let finished = inputs.iter().filter_map(|(_, r)| r.finished_at).max();
    let completed = !inputs.is_empty() && inputs.iter().all(|(_, r)| r.completed);
    let environment = inputs
        .first()
        .map(|(_, r)| r.environment.clone())
        .unwrap_or_default();
    let project_root = inputs.first().and_then(|(_, r)| r.project_root.clone());
    let shards: Vec<ShardSummary> = inputs
        .iter()
        .map(|(label, r)| ShardSummary {
            source: label.clone(),
            shard: r.shard.clone(),
            run_id: r.run_id.clone(),
            summary: r.summary.clone(),
        })
        .collect();
    for (label, run) in inputs {
        for f in &run.frameworks {
            if !frameworks.contains(f) {
                frameworks.push(*f);
            }
        }
        for e in run.errors {
            errors.push(RunError {
                kind: e.kind,
                message: format!("[{label}] {}", e.message),
            });
        }
        for t in run.tests {
            match seen.get(&t.id) {
                Some(first) => errors.push(RunError {
                    kind: "duplicate".into(),
                    message: format!(
                        "{} was reported by two shards ({first} and {label}); kept the first",
                        t.id
                    ),
                }),
                None => {
                    seen.insert(t.id.clone(), label.clone());
                    tests.push(t);
                }
            }
        }
    }
    let mut complete = completed;
    if let Some(expected) = expected {
        let missing: Vec<&String> = expected
            .iter()
            .filter(|id| !seen.contains_key(*id))
            .collect();
        if !missing.is_empty() {
            complete = false;
            let shown: Vec<&str> = missing.iter().take(20).map(|s| s.as_str()).collect();
            let more = if missing.len() > 20 {
                format!(" and {} more", missing.len() - 20)
            } else {
                String::new()
            };
            errors.push(RunError {
                kind: "missing".into(),
                message: format!(
                    "{} expected tests were reported by no shard: {}{more}",
                    missing.len(),
                    shown.join(", ")
                ),
            });
        }
    }
    let end = finished.unwrap_or(started);
    let duration_ms = (end - started).num_microseconds().unwrap_or(0) as f64 / 1000.0;
    Run {
        schema_version: SCHEMA_VERSION,
        run_id: format!("merged-{}", new_run_id()),
        testflow_version: env!("CARGO_PKG_VERSION").into(),
        started_at: started,
        finished_at: finished,
        completed: complete,
        project_root,
        environment,
        frameworks,
        shard: None,
        shards,
        summary: Summary::of(&tests, duration_ms),
        tests,
        errors,
        coverage: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Outcome;

    fn shard(id: &str, secs: i64, tests: &[(&str, Outcome)]) -> Run {
        let t: Vec<(&str, Outcome, f64, bool)> =
            tests.iter().map(|(i, o)| (*i, *o, 5.0, false)).collect();
        let mut r = crate::history::tests_support::run_with(id, secs, "c", &t);
        r.finished_at = Some(r.started_at + chrono::Duration::seconds(10));
        r
    }

    #[test]
    fn shards_join_without_loss_or_double_counting() {
        let a = shard("a", 0, &[("t1", Outcome::Passed), ("t2", Outcome::Failed)]);
        let b = shard("b", 5, &[("t3", Outcome::Passed), ("t2", Outcome::Failed)]);
        let expected: Vec<String> = ["t1", "t2", "t3", "t4"].map(String::from).to_vec();
        let m = merge(vec![("a".into(), a), ("b".into(), b)], Some(&expected));
        assert_eq!(m.summary.total, 3);
        assert_eq!(m.summary.failed, 1, "t2 counted once");
        assert!(m.errors.iter().any(|e| {
            e.kind == "duplicate"
                && e.message
                    .starts_with("t2 was reported by two shards (a and b)")
        }));
        assert!(
            m.errors
                .iter()
                .any(|e| e.kind == "missing" && e.message.contains("t4"))
        );
        assert!(!m.completed, "a missing test makes the merge incomplete");
        assert_eq!(
            m.started_at,
            chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap()
        );
        assert_eq!(
            m.summary.duration_ms, 15_000.0,
            "earliest start to latest finish"
        );
    }
}
