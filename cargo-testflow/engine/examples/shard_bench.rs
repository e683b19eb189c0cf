#![allow(clippy::print_stdout)] // a benchmark program: printing is its job
//! Shard balance and history speed, for `bench/shard.sh`.
//!
//! `shard_bench RUN.json`: with the recorded durations of that run, the makespan (largest
//! shard) of each planner for N = 2, 4, 8, relative to the lower bound
//! max(total / N, longest test). Then the time to ingest 100,000 results into history
//! and to plan 100,000 tests. Prints Markdown.
//!
//! The other planners are re-implemented from their documented algorithms:
//! pytest-split `least_duration` (sort by name, stable sort by duration descending, each
//! test to the lightest group), pytest-split `duration_based_chunks` (walk in collection
//! order, move to the next group once the current one reaches total / N), and Jest's
//! `--shard` (sort by a hash of the path, contiguous slices of equal count; Jest hashes
//! files, here each test stands for a file).

use std::collections::HashMap;
use std::time::Instant;

use testflow::history::History;
use testflow::model::{Attempt, Framework, Outcome, Run, TestCase, TestMeta};
use testflow::shard::{self, Strategy, stable_hash};

fn makespan(groups: &[Vec<(String, f64)>]) -> f64 {
    groups
        .iter()
        .map(|g| g.iter().map(|(_, d)| d).sum::<f64>())
        .fold(0.0, f64::max)
}

fn least_duration(tests: &[(String, f64)], n: usize) -> Vec<Vec<(String, f64)>> {
    let mut sorted = tests.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut groups = vec![Vec::new(); n];
    let mut loads = vec![0.0f64; n];
    for t in sorted {
        let i = (0..n)
            .min_by(|&a, &b| loads[a].total_cmp(&loads[b]))
            .unwrap();
        loads[i] += t.1;
        groups[i].push(t);
    }
    groups
}

fn duration_based_chunks(tests: &[(String, f64)], n: usize) -> Vec<Vec<(String, f64)>> {
    let target = tests.iter().map(|t| t.1).sum::<f64>() / n as f64;
    let mut groups = vec![Vec::new(); n];
    let (mut g, mut load) = (0, 0.0);
    for t in tests {
        if load >= target && g + 1 < n {
            g += 1;
            load = 0.0;
        }
        load += t.1;
        groups[g].push(t.clone());
    }
    groups
}

fn jest_shard(tests: &[(String, f64)], n: usize) -> Vec<Vec<(String, f64)>> {
    let mut sorted = tests.to_vec();
    sorted.sort_by_key(|t| stable_hash(&t.0));
    let (base, extra) = (sorted.len() / n, sorted.len() % n);
    let mut groups = Vec::new();
    let mut it = sorted.into_iter();
    for i in 0..n {
        groups.push(it.by_ref().take(base + usize::from(i < extra)).collect());
    }
    groups
}

fn synthetic_run(n: usize, id: &str) -> Run {
    let tests: Vec<TestCase> = (0..n)
        .map(|i| {
            let meta = TestMeta {
                id: format!("crate::t{}$tests::case_{i}", i % 50),
                framework: Framework::Rust,
                name: format!("case_{i}"),
                suite: vec!["tests".into()],
                file: None,
                line: None,
                binary: None,
            };
            let a = Attempt {
                attempt: 1,
                outcome: Outcome::Passed,
                duration_ms: (i % 97) as f64,
                started_at: None,
                failure: None,
                concurrent: None,
                attachments: vec![],
            };
            TestCase::from_attempts(meta, vec![a])
        })
        .collect();
    Run {
        frameworks: vec![Framework::Rust],
        ..Run::of_tests(id, chrono::Utc::now(), tests, 0.0)
    }
}

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: shard_bench RUN.json"))?;
    let run = testflow::store::load_run(std::path::Path::new(&path))?;
    let tests: Vec<(String, f64)> = run
        .tests
        .iter()
        .filter(|t| t.outcome != Outcome::Skipped)
        .map(|t| (t.id.clone(), t.duration_ms))
        .collect();
    let durations: HashMap<String, f64> = tests.iter().cloned().collect();
    let ids: Vec<String> = tests.iter().map(|t| t.0.clone()).collect();
    let total: f64 = tests.iter().map(|t| t.1).sum();
    let longest = tests.iter().map(|t| t.1).fold(0.0, f64::max);
    println!(
        "Recorded durations: {} tests from run {}, total {:.2}s, longest {:.2}s, median {:.2} ms.\n",
        tests.len(),
        run.run_id,
        total / 1000.0,
        longest / 1000.0,
        {
            let mut d: Vec<f64> = tests.iter().map(|t| t.1).collect();
            d.sort_by(f64::total_cmp);
            d[d.len() / 2]
        }
    );
    println!(
        "| N | lower bound (s) | testflow timings | testflow hash | pytest-split least_duration | pytest-split duration_based_chunks | jest --shard |"
    );
    println!("|--:|--:|--:|--:|--:|--:|--:|");
    for n in [2usize, 4, 8] {
        let bound = (total / n as f64).max(longest);
        let ours = |s: Strategy| {
            let p = shard::plan(&ids, n as u32, s, &durations);
            p.shards.iter().map(|s| s.predicted_ms).fold(0.0, f64::max)
        };
        let cell = |m: f64| format!("{:.3}", m / bound);
        println!(
            "| {n} | {:.2} | {} | {} | {} | {} | {} |",
            bound / 1000.0,
            cell(ours(Strategy::Timings)),
            cell(ours(Strategy::Hash)),
            cell(makespan(&least_duration(&tests, n))),
            cell(makespan(&duration_based_chunks(&tests, n))),
            cell(makespan(&jest_shard(&tests, n))),
        );
    }
    println!("\n(makespan / lower bound; 1.000 is a perfect split)\n");

    // Speed: ingest 100,000 results, plan 100,000 tests (median of 5).
    let dir = tempfile_dir()?;
    let mut ingest = Vec::new();
    for i in 0..5 {
        let r = synthetic_run(100_000, &format!("bench-{i}"));
        let mut h = History::open(&dir)?;
        let t = Instant::now();
        h.record(&r, "bench", 100)?;
        ingest.push(t.elapsed().as_secs_f64());
    }
    let r = synthetic_run(100_000, "plan");
    let big_ids: Vec<String> = r.tests.iter().map(|t| t.id.clone()).collect();
    let big_durations: HashMap<String, f64> = r
        .tests
        .iter()
        .map(|t| (t.id.clone(), t.duration_ms))
        .collect();
    let mut planning = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let p = shard::plan(&big_ids, 8, Strategy::Timings, &big_durations);
        planning.push(t.elapsed().as_secs_f64());
        assert_eq!(
            p.shards.iter().map(|s| s.tests.len()).sum::<usize>(),
            100_000
        );
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("| operation | median of 5 |");
    println!("|---|--:|");
    println!(
        "| record 100,000 results into history.db | {:.0} ms |",
        median(ingest) * 1000.0
    );
    println!(
        "| plan 100,000 tests over 8 shards (timings) | {:.1} ms |",
        median(planning) * 1000.0
    );
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("testflow-shard-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
