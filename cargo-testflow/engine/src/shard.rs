//! Splitting a suite across CI machines. The CI's own parallel jobs run the shards;
//! testflow decides which tests each one runs, the same way on every machine.

use std::collections::HashMap;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::model::ShardInfo;

/// How a plugin door's shard is split (`hash`, `count`, `timings`), for the Jest and
/// Vitest sequencers and reporters (set by `cargo testflow run`, or by hand).
pub const SHARD_STRATEGY_ENV: &str = "TESTFLOW_SHARD_STRATEGY";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Longest-processing-time-first bin packing over recent durations from history.
    Timings,
    /// A stable hash of the test id: adding or removing a test moves no other test.
    Hash,
    /// Round-robin over the sorted ids: equal counts.
    Count,
}

impl Strategy {
    /// `timings`, `hash` or `count`.
    pub fn parse(s: &str) -> Result<Strategy> {
        <Strategy as crate::choice::Choice>::from_name(s).ok_or_else(|| {
            anyhow::anyhow!("`{}`: a shard strategy is timings, hash or count", s.trim())
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Timings => "timings",
            Strategy::Hash => "hash",
            Strategy::Count => "count",
        }
    }
}

impl crate::choice::Choice for Strategy {
    const ALL: &'static [Strategy] = &[Strategy::Timings, Strategy::Hash, Strategy::Count];
    fn name(self) -> &'static str {
        self.as_str()
    }
    fn help(self) -> Option<&'static str> {
        Some(match self {
            Strategy::Timings => {
                "Longest-processing-time-first bin packing over recent durations from history"
            }
            Strategy::Hash => {
                "A stable hash of the test id: adding or removing a test moves no other test"
            }
            Strategy::Count => "Round-robin over the sorted ids: equal counts",
        })
    }
}

/// The strategy a shard's run records (`ShardInfo::strategy`), under the same name.
impl From<Strategy> for crate::model::ShardStrategy {
    fn from(s: Strategy) -> Self {
        use crate::model::ShardStrategy;
        match s {
            Strategy::Timings => ShardStrategy::Timings,
            Strategy::Hash => ShardStrategy::Hash,
            Strategy::Count => ShardStrategy::Count,
        }
    }
}

/// Most shards a suite is split into (`--shard K/N`, `shard plan --shards`, the CI's
/// variables): more than any CI runs in parallel.
pub const MAX_SHARDS: u32 = 1000;

/// A recorded duration longer than this (ms, about 31 years) is not believed either.
const MAX_DURATION_MS: f64 = 1e12;

/// The duration (ms) a test with no recorded one gets when no test in the plan has one:
/// then every test weighs the same and only the predicted times use the number.
pub const UNKNOWN_DEFAULT_MS: f64 = 1.0;

/// The typical duration of `known` (finite, non-negative), given to tests with none: the
/// median, which a long tail of slow tests does not drag up the way it does the mean;
/// [`UNKNOWN_DEFAULT_MS`] when nothing is known.
pub fn typical_duration(known: &[f64]) -> f64 {
    if known.is_empty() {
        return UNKNOWN_DEFAULT_MS;
    }
    let mut sorted = known.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// `K/N`, 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    pub index: u32,
    pub total: u32,
}

impl ShardSpec {
    pub fn parse(s: &str) -> Result<ShardSpec> {
        let Some((k, n)) = s.trim().split_once('/') else {
            bail!("`{s}`: a shard is K/N, e.g. 2/4 (1-based)");
        };
        let (Ok(index), Ok(total)) = (k.trim().parse::<u32>(), n.trim().parse::<u32>()) else {
            bail!("`{s}`: a shard is K/N with whole numbers, e.g. 2/4");
        };
        if total == 0 || index == 0 || index > total {
            bail!("`{s}`: need 1 <= K <= N (shards are numbered from 1)");
        }
        if total > MAX_SHARDS {
            bail!("`{s}`: at most {MAX_SHARDS} shards");
        }
        Ok(ShardSpec { index, total })
    }

    /// From the CI when not given: `TESTFLOW_SHARD=K/N`, GitLab `CI_NODE_INDEX`/`CI_NODE_TOTAL`
    /// (1-based), CircleCI `CIRCLE_NODE_INDEX`/`CIRCLE_NODE_TOTAL` (0-based), Buildkite
    /// `BUILDKITE_PARALLEL_JOB`/`BUILDKITE_PARALLEL_JOB_COUNT` (0-based).
    pub fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<ShardSpec>> {
        if let Some(v) = var("TESTFLOW_SHARD") {
            return ShardSpec::parse(&v)
                .map(Some)
                .map_err(|e| anyhow::anyhow!("TESTFLOW_SHARD={v}: {e:#}"));
        }
        let pair = |iv: &str, nv: &str, base: u32| -> Result<Option<ShardSpec>> {
            match (var(iv), var(nv)) {
                (Some(i), Some(n)) => {
                    let named = format!("{iv}={i} {nv}={n}");
                    let (Ok(index), Ok(total)) = (i.trim().parse::<u32>(), n.trim().parse::<u32>())
                    else {
                        bail!("{named}: the CI's shard variables are not whole numbers");
                    };
                    // A 0-based CI's index is K - 1 (checked: it may be u32::MAX).
                    let k = if base == 1 {
                        Some(index)
                    } else {
                        index.checked_add(1)
                    };
                    let Some(k) = k else {
                        bail!("{named}: the shard index is out of range");
                    };
                    ShardSpec::parse(&format!("{k}/{total}"))
                        .map(Some)
                        .map_err(|e| anyhow::anyhow!("{named}: {e:#}"))
                }
                _ => Ok(None),
            }
        };
        if let Some(s) = pair("CI_NODE_INDEX", "CI_NODE_TOTAL", 1)? {
            return Ok(Some(s));
        }
        if let Some(s) = pair("CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", 0)? {
            return Ok(Some(s));
        }
        pair("BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT", 0)
    }

    /// `ShardSpec::from_env` over the process environment (empty variables are unset).
    pub fn from_process_env() -> Result<Option<ShardSpec>> {
        ShardSpec::from_env(&|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
    }

    pub fn info(self, strategy: Strategy) -> ShardInfo {
        ShardInfo {
            index: self.index,
            total: self.total,
            strategy: strategy.into(),
        }
    }
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct PlannedShard {
    /// 1-based.
    pub index: u32,
    pub tests: Vec<String>,
    pub predicted_ms: f64,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Plan {
    pub strategy: Strategy,
    pub shards: Vec<PlannedShard>,
    /// Largest predicted shard time over the mean.
    pub imbalance: f64,
    /// No plan can finish faster than max(total / N, longest test).
    pub lower_bound_ms: f64,
    pub longest_test_ms: f64,
    /// Tests with no recorded duration (they were given [`typical_duration`] of the known ones).
    pub unknown_durations: usize,
}

/// FNV-1a: stable across Rust versions and platforms, unlike std's hasher.
pub fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Split `tests` (ids, each once) into `n` shards.
pub fn plan(
    tests: &[String],
    n: u32,
    strategy: Strategy,
    durations: &HashMap<String, f64>,
) -> Plan {
    let n = n.clamp(1, MAX_SHARDS) as usize;
    // Durations come from files (history, imports): one that is not a sane number of
    // milliseconds counts as unknown, so the sums below stay finite.
    let recorded = |t: &str| {
        durations
            .get(t)
            .copied()
            .filter(|d| (0.0..=MAX_DURATION_MS).contains(d))
    };
    let known: Vec<f64> = tests.iter().filter_map(|t| recorded(t)).collect();
    let typical = typical_duration(&known);
    let duration = |t: &str| recorded(t).unwrap_or(typical);
    let mut shards: Vec<PlannedShard> = (0..n)
        .map(|i| PlannedShard {
            index: i as u32 + 1,
            tests: vec![],
            predicted_ms: 0.0,
        })
        .collect();
    match strategy {
        Strategy::Hash => {
            for t in tests {
                let s = &mut shards[(stable_hash(t) % n as u64) as usize];
                s.tests.push(t.clone());
                s.predicted_ms += duration(t);
            }
        }
        Strategy::Count => {
            let mut sorted: Vec<&String> = tests.iter().collect();
            sorted.sort();
            for (i, t) in sorted.into_iter().enumerate() {
                let s = &mut shards[i % n];
                s.tests.push(t.clone());
                s.predicted_ms += duration(t);
            }
        }
        Strategy::Timings => {
            // LPT: longest first onto the least-loaded shard. Ties broken by id and shard
            // index, so every machine computes the same plan.
            let mut sorted: Vec<(&String, f64)> = tests.iter().map(|t| (t, duration(t))).collect();
            sorted.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<(OrdF64, usize)>> = (0..n)
                .map(|i| std::cmp::Reverse((OrdF64(0.0), i)))
                .collect();
            for (t, d) in sorted {
                let std::cmp::Reverse((OrdF64(load), i)) = heap.pop().expect("n >= 1 shards");
                shards[i].tests.push(t.clone());
                shards[i].predicted_ms = load + d;
                heap.push(std::cmp::Reverse((OrdF64(load + d), i)));
            }
        }
    }
    let total: f64 = shards.iter().map(|s| s.predicted_ms).sum();
    let longest = tests.iter().map(|t| duration(t)).fold(0.0, f64::max);
    let max = shards.iter().map(|s| s.predicted_ms).fold(0.0, f64::max);
    let mean_load = total / n as f64;
    Plan {
        strategy,
        imbalance: if mean_load > 0.0 {
            max / mean_load
        } else {
            1.0
        },
        lower_bound_ms: (total / n as f64).max(longest),
        longest_test_ms: longest,
        unknown_durations: tests.len() - known.len(),
        shards,
    }
}

/// Several frameworks' plans for the same N as one: shard K runs shard K of each, so its
/// tests are concatenated and its predicted time is the sum.
pub fn combine(plans: &[Plan], strategy: Strategy) -> Plan {
    let n = plans.iter().map(|p| p.shards.len()).max().unwrap_or(1);
    let shards: Vec<PlannedShard> = (0..n)
        .map(|i| PlannedShard {
            index: i as u32 + 1,
            tests: plans
                .iter()
                .filter_map(|p| p.shards.get(i))
                .flat_map(|s| s.tests.clone())
                .collect(),
            predicted_ms: plans
                .iter()
                .filter_map(|p| p.shards.get(i))
                .map(|s| s.predicted_ms)
                .sum(),
        })
        .collect();
    let total: f64 = shards.iter().map(|s| s.predicted_ms).sum();
    let longest = plans.iter().map(|p| p.longest_test_ms).fold(0.0, f64::max);
    let max = shards.iter().map(|s| s.predicted_ms).fold(0.0, f64::max);
    let mean = total / n as f64;
    Plan {
        strategy,
        imbalance: if mean > 0.0 { max / mean } else { 1.0 },
        lower_bound_ms: mean.max(longest),
        longest_test_ms: longest,
        unknown_durations: plans.iter().map(|p| p.unknown_durations).sum(),
        shards,
    }
}

/// Total order on f64 for the heap (durations are finite and non-negative).
#[derive(Clone, Copy, Debug, PartialEq)]
struct OrdF64(f64);
impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// The default strategy: timings when history knows durations, else hash.
pub fn default_strategy(durations: &HashMap<String, f64>) -> Strategy {
    if durations.is_empty() {
        Strategy::Hash
    } else {
        Strategy::Timings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_records_its_strategy_under_the_same_name() {
        for s in [Strategy::Timings, Strategy::Hash, Strategy::Count] {
            let recorded = crate::model::ShardStrategy::from(s);
            assert!(recorded.is_known());
            assert_eq!(recorded.as_str(), s.as_str());
            assert_eq!(Strategy::parse(recorded.as_str()).unwrap(), s);
        }
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("crate$tests::t{i:04}")).collect()
    }

    #[test]
    fn every_strategy_puts_each_test_in_exactly_one_shard() {
        let tests = ids(1000);
        let durations: HashMap<String, f64> = tests
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), (i % 37) as f64 + 0.5))
            .collect();
        for strategy in [Strategy::Timings, Strategy::Hash, Strategy::Count] {
            for n in [1, 2, 3, 8] {
                let p = plan(&tests, n, strategy, &durations);
                let mut all: Vec<&String> = p.shards.iter().flat_map(|s| &s.tests).collect();
                all.sort();
                all.dedup();
                assert_eq!(all.len(), tests.len(), "{strategy:?} {n}");
                assert_eq!(
                    p.shards.iter().map(|s| s.tests.len()).sum::<usize>(),
                    tests.len()
                );
            }
        }
    }

    #[test]
    fn hash_shards_are_stable_when_a_test_is_added() {
        let tests = ids(200);
        let before = plan(&tests, 4, Strategy::Hash, &HashMap::new());
        let mut more = tests.clone();
        more.push("crate$tests::new_one".into());
        let after = plan(&more, 4, Strategy::Hash, &HashMap::new());
        for (b, a) in before.shards.iter().zip(&after.shards) {
            assert!(
                b.tests.iter().all(|t| a.tests.contains(t)),
                "no existing test moves"
            );
        }
        assert_eq!(
            stable_hash("a"),
            0xaf63_dc4c_8601_ec8c,
            "FNV-1a of \"a\" never changes"
        );
    }

    #[test]
    fn timings_come_close_to_the_lower_bound_with_unknown_tests() {
        let tests = ids(1000);
        // A long tail: most tests are quick, a few are slow.
        let durations: HashMap<String, f64> = tests
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 10 != 0) // every tenth is unknown
            .map(|(i, t)| {
                (
                    t.clone(),
                    if i % 97 == 1 {
                        2000.0
                    } else {
                        5.0 + (i % 13) as f64
                    },
                )
            })
            .collect();
        let p = plan(&tests, 4, Strategy::Timings, &durations);
        let max = p.shards.iter().map(|s| s.predicted_ms).fold(0.0, f64::max);
        assert!(
            max <= p.lower_bound_ms * 1.05,
            "max {max} vs bound {}",
            p.lower_bound_ms
        );
        assert_eq!(p.unknown_durations, 100);
        let h = plan(&tests, 4, Strategy::Hash, &durations);
        assert!(h.imbalance >= p.imbalance);
    }

    #[test]
    fn shard_specs_from_the_command_line_and_each_ci() {
        assert_eq!(
            ShardSpec::parse("2/4").unwrap(),
            ShardSpec { index: 2, total: 4 }
        );
        for bad in [
            "0/4",
            "5/4",
            "2",
            "a/b",
            "1/0",
            "4294967295/4294967295",
            "1/1001",
            "-1/4",
        ] {
            assert!(ShardSpec::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            ShardSpec::parse("1000/1000").unwrap(),
            ShardSpec {
                index: 1000,
                total: 1000
            }
        );
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let gitlab = env(&[("CI_NODE_INDEX", "3"), ("CI_NODE_TOTAL", "4")]);
        assert_eq!(
            ShardSpec::from_env(&gitlab).unwrap(),
            Some(ShardSpec { index: 3, total: 4 })
        );
        let circle = env(&[("CIRCLE_NODE_INDEX", "0"), ("CIRCLE_NODE_TOTAL", "4")]);
        assert_eq!(
            ShardSpec::from_env(&circle).unwrap(),
            Some(ShardSpec { index: 1, total: 4 })
        );
        let bk = env(&[
            ("BUILDKITE_PARALLEL_JOB", "3"),
            ("BUILDKITE_PARALLEL_JOB_COUNT", "4"),
        ]);
        assert_eq!(
            ShardSpec::from_env(&bk).unwrap(),
            Some(ShardSpec { index: 4, total: 4 })
        );
        let gh = env(&[("TESTFLOW_SHARD", "2/3")]);
        assert_eq!(
            ShardSpec::from_env(&gh).unwrap(),
            Some(ShardSpec { index: 2, total: 3 })
        );
        assert_eq!(ShardSpec::from_env(&env(&[])).unwrap(), None);
        let err = |pairs| format!("{:#}", ShardSpec::from_env(&env(pairs)).unwrap_err());
        assert_eq!(
            err(&[("TESTFLOW_SHARD", "4294967295/4294967295")]),
            "TESTFLOW_SHARD=4294967295/4294967295: `4294967295/4294967295`: at most 1000 shards"
        );
        assert_eq!(
            err(&[
                ("CIRCLE_NODE_INDEX", "4294967295"),
                ("CIRCLE_NODE_TOTAL", "4294967295")
            ]),
            "CIRCLE_NODE_INDEX=4294967295 CIRCLE_NODE_TOTAL=4294967295: the shard index is out of range"
        );
        assert_eq!(
            err(&[("CI_NODE_INDEX", "0"), ("CI_NODE_TOTAL", "4")]),
            "CI_NODE_INDEX=0 CI_NODE_TOTAL=4: `0/4`: need 1 <= K <= N (shards are numbered from 1)"
        );
        assert_eq!(
            err(&[("CI_NODE_INDEX", "x"), ("CI_NODE_TOTAL", "4")]),
            "CI_NODE_INDEX=x CI_NODE_TOTAL=4: the CI's shard variables are not whole numbers"
        );
    }

    #[test]
    fn durations_that_are_not_sane_numbers_count_as_unknown() {
        let tests = ids(6);
        let durations: HashMap<String, f64> =
            [f64::NAN, f64::INFINITY, -5.0, 1e300, f64::MAX, 10.0]
                .into_iter()
                .zip(&tests)
                .map(|(d, t)| (t.clone(), d))
                .collect();
        for strategy in [Strategy::Timings, Strategy::Hash, Strategy::Count] {
            let p = plan(&tests, 3, strategy, &durations);
            assert_eq!(p.unknown_durations, 5, "{strategy:?}");
            // Unknown tests get the duration of the one known test.
            let total: f64 = p.shards.iter().map(|s| s.predicted_ms).sum();
            assert_eq!(total, 60.0, "{strategy:?}");
            assert!(p.imbalance.is_finite() && p.lower_bound_ms.is_finite());
        }
    }

    #[test]
    fn unknown_tests_get_the_median_not_the_mean_of_a_long_tail() {
        // 90 quick tests, 10 very slow ones (mean 1009 ms, median 10 ms), 5 new tests.
        let tests = ids(105);
        let durations: HashMap<String, f64> = tests[..100]
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), if i % 10 == 0 { 10_000.0 } else { 10.0 }))
            .collect();
        let known: Vec<f64> = durations.values().copied().collect();
        assert_eq!(typical_duration(&known), 10.0);
        let p = plan(&tests, 1, Strategy::Timings, &durations);
        assert_eq!(p.unknown_durations, 5);
        assert_eq!(
            p.shards[0].predicted_ms,
            90.0 * 10.0 + 10.0 * 10_000.0 + 5.0 * 10.0
        );
        // Over 4 shards too, each new test is predicted at 10 ms.
        let p = plan(&tests, 4, Strategy::Timings, &durations);
        let total: f64 = p.shards.iter().map(|s| s.predicted_ms).sum();
        assert_eq!(total, 100_950.0);
        // Even counts: the middle two averaged; nothing known: the documented default.
        assert_eq!(typical_duration(&[1.0, 2.0, 100.0, 4.0]), 3.0);
        assert_eq!(typical_duration(&[]), UNKNOWN_DEFAULT_MS);
        let none = plan(&ids(4), 2, Strategy::Timings, &HashMap::new());
        assert_eq!(none.lower_bound_ms, 2.0 * UNKNOWN_DEFAULT_MS);
    }

    #[test]
    fn a_huge_shard_count_is_bounded() {
        let p = plan(&ids(3), u32::MAX, Strategy::Hash, &HashMap::new());
        assert_eq!(p.shards.len(), MAX_SHARDS as usize);
    }
}

#[cfg(test)]
mod choice_tests {
    #[test]
    fn every_strategy_is_found_by_its_name() {
        crate::choice::assert_names_round_trip::<super::Strategy>();
    }
}
