//! Joining the runs of a sharded suite back into one `Run`.

use std::collections::HashMap;

use chrono::Utc;

use crate::model::{
    Attempt, Run, RunError, SCHEMA_VERSION, ShardSummary, Summary, TestCase, error_kind,
    outcome_rank,
};
use crate::store::new_run_id;

/// Merge shard runs (each with a label for messages, e.g. its path). A test reported by
/// two shards with one outcome is kept once and flagged `duplicate`; shards that disagree
/// about a test keep the worst outcome and every attempt, flagged `merge_conflict`; tests of `expected` that no shard reported are
/// flagged as missing and make the merged run incomplete.
/// `cargo testflow merge`: the stored runs `runs` (run ids, run directories or JSON report
/// files) merged into one, checked against the tests `expected` lists (a shard plan or a
/// JSON array of test ids), their coverage merged, written to `output/run.json` and
/// recorded in the history (pruned to `keep_runs`): the merged run plans the next shards.
pub fn merge_stored(
    store: &crate::store::Store,
    runs: &[String],
    expected: Option<&std::path::Path>,
    output: &std::path::Path,
    keep_runs: usize,
) -> anyhow::Result<Run> {
    use crate::coverage::collect;
    let mut inputs = Vec::new();
    let mut dirs = Vec::new();
    let mut run_dirs = Vec::new();
    for r in runs {
        let path = store.resolve(r)?;
        let run = crate::store::load_run(&path)?;
        dirs.push(store.coverage_dir(&path, &run));
        // A JSON report file's run directory is in the store, by its id (CI jobs carry
        // the shards' `.testflow/runs/` along).
        run_dirs.push(if path.is_dir() {
            path.clone()
        } else {
            store.runs_dir().join(&run.run_id)
        });
        inputs.push((r.clone(), run));
    }
    let history = crate::history::History::open(store.root()).ok();
    // The dependencies each `--affected` shard read stay in its own history.db: carry
    // them into this one, which a CI merge job saves for the next pipeline.
    if let Some(h) = &history {
        for dir in &run_dirs {
            // Derived data: a damaged file only costs a wider selection next time.
            let _ = crate::affected::store::import_deps(h, dir);
        }
    }
    let coverage = merge_coverage(&inputs, &dirs)?;
    let expected = expected.map(read_expected).transpose()?;
    let mut merged = merge(inputs, expected.as_deref());
    if let Some((cov, statuses)) = coverage {
        let baseline = |files: &[crate::coverage::FileSummary]| {
            history
                .as_ref()?
                .coverage_baseline(&merged, files)
                .ok()
                .flatten()
        };
        merged.coverage = Some(collect::finish(
            &output.join(collect::DIR),
            &cov,
            statuses,
            Vec::new(),
            baseline,
        )?);
    }
    crate::store::write_atomic(
        &output.join(crate::store::RUN_FILE),
        &serde_json::to_vec(&merged)?,
    )?;
    if let Some(mut h) = history {
        let _ = h.record(&merged, "merge", keep_runs);
    }
    Ok(merged)
}

/// The test ids `merge --expected FILE` names: a shard plan (`shard plan --format json`:
/// every shard's `tests`) or a JSON array of ids.
pub fn read_expected(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    use anyhow::Context;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let ids: Option<Vec<String>> = match &v {
        serde_json::Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_owned)).collect(),
        _ => v["shards"].as_array().map(|shards| {
            shards
                .iter()
                .flat_map(|s| s["tests"].as_array().into_iter().flatten())
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        }),
    };
    ids.with_context(|| {
        format!(
            "{}: expected a shard plan or a JSON array of test ids",
            path.display()
        )
    })
}

/// The shards' coverage, each report read with paths relative to its own run's project
/// (shards may run in different checkouts), merged; `None` when no shard measured any.
fn merge_coverage(
    inputs: &[(String, Run)],
    dirs: &[std::path::PathBuf],
) -> anyhow::Result<
    Option<(
        crate::coverage::Coverage,
        Vec<crate::model::FrameworkCoverage>,
    )>,
> {
    use crate::coverage::collect;
    use anyhow::Context;
    if inputs.iter().all(|(_, r)| r.coverage.is_none()) {
        return Ok(None);
    }
    let mut cov = crate::coverage::Coverage::default();
    let mut statuses = Vec::new();
    for ((label, run), dir) in inputs.iter().zip(dirs) {
        let Some(c) = &run.coverage else { continue };
        let (one, _) = collect::load_stored(c, dir, run.project_root.as_deref(), dir)
            .with_context(|| format!("coverage of {label}"))?;
        cov.merge(one);
        statuses.extend(c.frameworks.iter().cloned());
    }
    Ok(Some((cov, collect::combine_statuses(statuses))))
}

pub fn merge(inputs: Vec<(String, Run)>, expected: Option<&[String]>) -> Run {
    let mut tests = Vec::new();
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
    let (affected, mismatch) = reconcile_affected(&inputs);
    errors.extend(mismatch);
    let shards: Vec<ShardSummary> = inputs
        .iter()
        .map(|(label, r)| ShardSummary {
            source: label.clone(),
            shard: r.shard.clone(),
            run_id: r.run_id.clone(),
            // Recounted: a shard's stored summary is only a cache.
            summary: r.recomputed_summary(),
        })
        .collect();
    // Each shard's quarantine entries, once: the merged verdict applies them to all tests.
    let quarantine_entries = crate::quarantine::union(inputs.iter().map(|(_, r)| {
        r.quarantine
            .iter()
            .flat_map(|q| q.entries.clone())
            .collect()
    }));
    // Every shard's report of each test, in input order, grouped by id (first-seen order).
    let mut reports: Vec<(String, Vec<(String, TestCase)>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (label, run) in inputs {
        for f in &run.frameworks {
            if !frameworks.contains(f) {
                frameworks.push(*f);
            }
        }
        // Each shard's distrust, not only its errors: a shard whose stored summary lies
        // must stay distrusted although the merged summary is recounted.
        for e in run.distrust_errors() {
            errors.push(RunError {
                kind: e.kind,
                message: format!("[{label}] {}", e.message),
            });
        }
        for t in run.tests {
            match index.get(&t.id) {
                Some(&i) => reports[i].1.push((label.clone(), t)),
                None => {
                    index.insert(t.id.clone(), reports.len());
                    reports.push((t.id.clone(), vec![(label.clone(), t)]));
                }
            }
        }
    }
    for (id, mut reported) in reports {
        if reported.len() == 1 {
            tests.push(reported.pop().expect("one report").1);
            continue;
        }
        let first = reported[0].1.outcome;
        if reported.iter().all(|(_, t)| t.outcome == first) {
            errors.push(RunError {
                kind: error_kind::DUPLICATE.into(),
                message: format!(
                    "{id} was reported by two shards ({} and {}); kept the first",
                    reported[0].0, reported[1].0
                ),
            });
            tests.push(reported.swap_remove(0).1);
            continue;
        }
        let said: Vec<String> = reported
            .iter()
            .map(|(label, t)| format!("{label} says {}", t.outcome.as_str()))
            .collect();
        let merged = keep_worst(reported);
        errors.push(RunError {
            kind: error_kind::MERGE_CONFLICT.into(),
            message: format!(
                "{id}: shards disagree ({}); kept {}, the worst, with every shard's attempts",
                said.join(", "),
                merged.outcome.as_str()
            ),
        });
        tests.push(merged);
    }
    let mut complete = completed;
    if let Some(expected) = expected {
        let missing: Vec<&String> = expected
            .iter()
            .filter(|id| !index.contains_key(*id))
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
                kind: error_kind::MISSING.into(),
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
        quarantine: crate::quarantine::resolve(quarantine_entries, &tests, started),
        tests,
        errors,
        coverage: None,
        workers: Vec::new(),
        affected,
    }
}

/// The shards' `--affected` selection, which must be one: every shard selects before it
/// splits, from the same base and the same restored history, so they agree unless
/// something differed (a shard without `--affected`, another base or history). The
/// merged run keeps it, so the tests no shard ran are `not selected`, never passed;
/// shards that disagree are an `affected_mismatch` run error naming them (a test may
/// have run in no shard), and the largest `not_selected` is kept.
fn reconcile_affected(
    inputs: &[(String, Run)],
) -> (Option<crate::model::Affected>, Option<RunError>) {
    let Some((first_label, first)) = inputs
        .iter()
        .find_map(|(l, r)| r.affected.as_ref().map(|a| (l, a)))
    else {
        return (None, None);
    };
    // What decides which tests run; `missed` (observation mode) is per shard. `record`
    // and `observe` run every test whatever their groups' decisions say.
    let key = |a: &crate::model::Affected| {
        if a.mode != "select" {
            return (a.mode.clone(), None, false, 0, Vec::new());
        }
        let mut groups: Vec<(String, String, bool)> = a
            .groups
            .iter()
            .map(|g| (g.framework.as_str().to_owned(), g.group.clone(), g.selected))
            .collect();
        groups.sort();
        (
            a.mode.clone(),
            a.base.clone(),
            a.full_run.is_some(),
            a.not_selected,
            groups,
        )
    };
    let want = key(first);
    let mut differ = Vec::new();
    let mut merged = first.clone();
    for (label, run) in inputs {
        match &run.affected {
            None => differ.push(format!("{label} ran without --affected")),
            Some(a) => {
                merged.not_selected = merged.not_selected.max(a.not_selected);
                for m in &a.missed {
                    if !merged.missed.contains(m) {
                        merged.missed.push(m.clone());
                    }
                }
                if key(a) == want {
                    continue;
                }
                let what = if a.mode != first.mode {
                    format!("mode {} (not {})", a.mode, first.mode)
                } else if a.base != first.base {
                    format!(
                        "base {} (not {})",
                        a.base.as_deref().unwrap_or("none"),
                        first.base.as_deref().unwrap_or("none")
                    )
                } else {
                    format!(
                        "another selection ({} not selected, not {})",
                        a.not_selected, first.not_selected
                    )
                };
                differ.push(format!("{label} has {what}"));
            }
        }
    }
    let error = (!differ.is_empty()).then(|| RunError {
        kind: error_kind::AFFECTED_MISMATCH.into(),
        message: format!(
            "the shards' --affected selections differ from {first_label}'s: {}; a test may have run in no shard (give every shard the same --since and the same history)",
            differ.join("; ")
        ),
    });
    (Some(merged), error)
}

/// One test as several shards reported it: the worst report decides (its attempts go
/// last, so its outcome is the test's), and the others' attempts stay in front of it,
/// renumbered, so every shard's result is visible.
fn keep_worst(mut reported: Vec<(String, TestCase)>) -> TestCase {
    let worst = (0..reported.len())
        .max_by_key(|&i| (outcome_rank(reported[i].1.outcome), std::cmp::Reverse(i)))
        .expect("at least one report");
    let last = reported.remove(worst).1;
    let meta = last.meta();
    let mut attempts: Vec<Attempt> = reported
        .into_iter()
        .flat_map(|(_, t)| attempts_of(t))
        .collect();
    attempts.extend(attempts_of(last));
    for (n, a) in attempts.iter_mut().enumerate() {
        a.attempt = u32::try_from(n + 1).unwrap_or(u32::MAX);
    }
    TestCase::from_attempts(meta, attempts)
}

/// A test's attempts with the last one whole again (its failure is stored on the test),
/// ending in the test's own outcome even when a hand-written file lists no attempts or
/// contradicts itself: the verdict of the test is what counts.
fn attempts_of(t: TestCase) -> Vec<Attempt> {
    let mut attempts = t.attempts;
    match attempts.last_mut() {
        Some(a) if a.outcome == t.outcome => a.failure = t.failure,
        _ => attempts.push(Attempt {
            attempt: 0,
            outcome: t.outcome,
            duration_ms: t.duration_ms,
            started_at: None,
            failure: t.failure,
            concurrent: None,
            attachments: vec![],
        }),
    }
    attempts
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
    fn affected_shards_merge_into_one_selection_and_disagreeing_ones_fail_closed() {
        let selection = |base: &str, not_selected: u64| crate::model::Affected {
            mode: "select".into(),
            base: Some(base.into()),
            base_source: "since".into(),
            groups: vec![crate::model::AffectedGroup {
                framework: crate::model::Framework::Rust,
                group: "app::app_it".into(),
                selected: false,
                rule: "unaffected".into(),
                reason: "r".into(),
                files: vec![],
                tests: Some(not_selected),
            }],
            not_selected,
            ..Default::default()
        };
        let mut a = shard("a", 0, &[("t1", Outcome::Passed)]);
        let mut b = shard("b", 5, &[("t2", Outcome::Passed)]);
        a.affected = Some(selection("c0ffee", 4));
        b.affected = Some(selection("c0ffee", 4));
        let m = merge(
            vec![("s1".into(), a.clone()), ("s2".into(), b.clone())],
            None,
        );
        assert!(m.errors.is_empty(), "{:?}", m.errors);
        let got = m.affected.as_ref().expect("the selection is kept");
        assert_eq!(got.not_selected, 4, "counted once, not once per shard");
        // Not selected is not passed: only what ran is counted.
        assert_eq!((m.summary.total, m.summary.passed), (2, 2));
        assert!(crate::history::left_tests_out(&m));

        // Another base (or history) in one shard: a test may have run nowhere.
        b.affected = Some(selection("beef", 2));
        let m = merge(
            vec![("s1".into(), a.clone()), ("s2".into(), b.clone())],
            None,
        );
        let e = m
            .errors
            .iter()
            .find(|e| e.kind == error_kind::AFFECTED_MISMATCH)
            .expect("affected_mismatch");
        assert!(
            e.message.contains("s2 has base beef (not c0ffee)"),
            "{}",
            e.message
        );
        assert_eq!(m.affected.as_ref().unwrap().not_selected, 4, "the largest");
        assert!(!m.distrust().is_empty(), "fails the run");
        // A shard that ran everything without --affected.
        b.affected = None;
        let m = merge(vec![("s1".into(), a), ("s2".into(), b)], None);
        assert!(
            m.errors
                .iter()
                .any(|e| e.message.contains("s2 ran without --affected")),
            "{:?}",
            m.errors
        );
    }

    #[test]
    fn the_merged_run_applies_every_shards_quarantine_to_all_tests() {
        let entry = |id: &str| crate::model::QuarantineEntry {
            id: Some(id.into()),
            pattern: None,
            reason: "r".into(),
            until: None,
            origin: "config".into(),
            source: None,
            expired: false,
            matched: 0,
        };
        let mut a = shard("a", 0, &[("t1", Outcome::Failed), ("t2", Outcome::Passed)]);
        let mut b = shard("b", 5, &[("t3", Outcome::Failed)]);
        a.quarantine = crate::quarantine::resolve(vec![entry("t1")], &a.tests, a.started_at);
        b.quarantine =
            crate::quarantine::resolve(vec![entry("t1"), entry("t3")], &b.tests, b.started_at);
        assert_eq!(
            crate::verdict::exit_code_for(&a, None),
            crate::exit_code::OK
        );
        let m = merge(vec![("a".into(), a.clone()), ("b".into(), b)], None);
        let q = m.quarantine.as_ref().unwrap();
        assert_eq!(q.entries.len(), 2, "t1's entry once");
        let ids: Vec<&str> = q.tests.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["t1", "t3"]);
        assert_eq!(m.summary.failed, 2, "still failures");
        assert_eq!(
            crate::verdict::exit_code_for(&m, None),
            crate::exit_code::OK
        );
        // Without the second shard's entry, t3 fails the merged run.
        let c = shard("c", 5, &[("t3", Outcome::Failed)]);
        let m = merge(vec![("a".into(), a), ("c".into(), c)], None);
        assert_eq!(
            crate::verdict::exit_code_for(&m, None),
            crate::exit_code::TESTS_FAILED
        );
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

    #[test]
    fn shards_that_disagree_keep_the_worst_outcome_and_every_attempt() {
        let a = shard("a", 0, &[("t1", Outcome::Passed), ("t2", Outcome::Passed)]);
        let mut b = shard("b", 5, &[("t2", Outcome::Failed)]);
        b.tests[0].failure = Some(crate::model::Failure {
            message: "boom".into(),
            ..Default::default()
        });
        let m = merge(vec![("a".into(), a), ("b".into(), b)], None);
        let t2 = m.tests.iter().find(|t| t.id == "t2").unwrap();
        assert_eq!(t2.outcome, Outcome::Failed);
        assert!(!t2.flaky, "a shard's pass is not a retry that fixed it");
        assert_eq!(t2.failure.as_ref().unwrap().message, "boom");
        let seen: Vec<(u32, Outcome)> =
            t2.attempts.iter().map(|a| (a.attempt, a.outcome)).collect();
        assert_eq!(seen, [(1, Outcome::Passed), (2, Outcome::Failed)]);
        assert_eq!(m.summary.failed, 1);
        assert_eq!(m.summary.passed, 1);
        let conflicts: Vec<&RunError> = m
            .errors
            .iter()
            .filter(|e| e.kind == error_kind::MERGE_CONFLICT)
            .collect();
        assert_eq!(conflicts.len(), 1, "{:?}", m.errors);
        assert_eq!(
            conflicts[0].message,
            "t2: shards disagree (a says passed, b says failed); kept failed, the worst, with every shard's attempts"
        );
        assert!(!m.distrust().is_empty());

        // The order of the shards does not matter.
        let a = shard("a", 0, &[("t2", Outcome::Failed)]);
        let b = shard("b", 5, &[("t2", Outcome::Passed)]);
        let m = merge(vec![("a".into(), a), ("b".into(), b)], None);
        assert_eq!(m.tests[0].outcome, Outcome::Failed);
        assert!(
            m.errors
                .iter()
                .any(|e| e.kind == error_kind::MERGE_CONFLICT)
        );
    }

    #[test]
    fn a_shard_whose_summary_lies_is_still_distrusted_after_the_merge() {
        let mut a = shard("a", 0, &[("t1", Outcome::Failed)]);
        a.summary.failed = 0;
        a.summary.passed = 1;
        let m = merge(vec![("a".into(), a)], None);
        assert_eq!(m.summary.failed, 1);
        assert_eq!(m.shards[0].summary.failed, 1, "shard totals are recounted");
        assert!(
            m.errors
                .iter()
                .any(|e| e.kind == error_kind::SUMMARY_MISMATCH && e.message.starts_with("[a] ")),
            "{:?}",
            m.errors
        );
    }

    #[test]
    fn a_test_without_attempts_merges_by_its_own_outcome() {
        let a = shard("a", 0, &[("t1", Outcome::Passed)]);
        let mut b = shard("b", 5, &[("t1", Outcome::Crashed)]);
        b.tests[0].attempts.clear();
        let m = merge(vec![("a".into(), a), ("b".into(), b)], None);
        assert_eq!(m.tests[0].outcome, Outcome::Crashed);
        assert_eq!(m.tests[0].attempts.len(), 2);
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn outcome() -> impl Strategy<Value = Outcome> {
            proptest::sample::select(Outcome::ALL.to_vec())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]
            /// A merged test is never better than any shard said, and any
            /// disagreement is a run error.
            #[test]
            fn merged_outcome_is_never_better_than_any_shard(
                shards in proptest::collection::vec(
                    proptest::collection::vec((0usize..4, outcome()), 0..6), 1..4)
            ) {
                let inputs: Vec<(String, Run)> = shards
                    .iter()
                    .enumerate()
                    .map(|(i, tests)| {
                        let ids: Vec<(String, Outcome)> =
                            tests.iter().map(|(t, o)| (format!("t{t}"), *o)).collect();
                        let refs: Vec<(&str, Outcome)> =
                            ids.iter().map(|(t, o)| (t.as_str(), *o)).collect();
                        (format!("s{i}"), shard(&format!("r{i}"), i as i64, &refs))
                    })
                    .collect();
                let m = merge(inputs, None);
                for t in &m.tests {
                    let said: Vec<Outcome> = shards
                        .iter()
                        .flatten()
                        .filter(|(id, _)| format!("t{id}") == t.id)
                        .map(|(_, o)| *o)
                        .collect();
                    let worst = said.iter().map(|o| outcome_rank(*o)).max().unwrap();
                    prop_assert_eq!(outcome_rank(t.outcome), worst);
                    if said.iter().any(|o| o.is_failure()) {
                        prop_assert!(t.outcome.is_failure());
                    }
                    if said.len() > 1 {
                        prop_assert!(!m.distrust().is_empty());
                    }
                }
                prop_assert_eq!(m.recomputed_summary(), m.summary.clone());
            }
        }
    }
}
