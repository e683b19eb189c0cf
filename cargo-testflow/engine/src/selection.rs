//! Shards, `--last-failed` and test order for the frameworks that select their own tests
//! (pytest through its plugin, Jest through its sequencer). The same rules as the cargo
//! path (`session::select`), shared by both bindings so they stay thin.
//!
//! A plugin builds one [`Selection`] when its session starts (reading history once) and
//! applies it to the collected ids. The selection serializes, so pytest-xdist's controller
//! can hand the very same snapshot to every worker: each worker then computes the same
//! shard and the same order, even if history changes while they collect.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::history::History;
use crate::model::ShardInfo;
use crate::ordering::Order;
use crate::shard::{self, ShardSpec, Strategy};
use crate::store::Store;

/// Runs of history the timings average over (as `cargo testflow run`).
const WINDOW: usize = 20;

/// What a shard is made of (each framework's own: see `frameworks::Suite::shard_items`).
pub use crate::frameworks::Grain;

/// The file part of a test id, by its framework's id syntax (pytest's `file::test`,
/// Jest's `file#name`): see [`Plugin::file_of`](crate::frameworks::Plugin::file_of).
pub fn file_of(id: &str) -> &str {
    crate::frameworks::file_of(id)
}

/// The part of history a selection needs, read once.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HistorySnapshot {
    /// From whole runs only (`History::durations_for_sharding`).
    #[serde(default)]
    pub shard_durations: HashMap<String, f64>,
    /// From every run (ordering).
    #[serde(default)]
    pub durations: HashMap<String, f64>,
    /// Failed in the newest run (`None`: no run recorded).
    #[serde(default)]
    pub last_failed: Option<Vec<String>>,
}

/// Everything a plugin needs to pick and order its tests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    pub shard: Option<ShardSpec>,
    pub strategy: Strategy,
    pub order: Order,
    pub last_failed: bool,
    pub history: HistorySnapshot,
}

/// What applying a selection gave.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// Indices into the given ids, in the order to run them.
    pub keep: Vec<usize>,
    /// A line for people (`shard 2/4 (timings): 5 of 20 tests, predicted 1.2s`).
    pub notes: Vec<String>,
}

impl Selection {
    /// Read what the options need from the history of the project whose runs live in
    /// `Store::for_project(project_root)`. History is a hint: unreadable means empty.
    pub fn new(
        project_root: &Path,
        shard: Option<ShardSpec>,
        strategy: Option<Strategy>,
        order: Order,
        last_failed: bool,
    ) -> Selection {
        let mut history = HistorySnapshot::default();
        let needs_durations = matches!(order, Order::SlowestFirst | Order::FastestFirst);
        let needs_failed = last_failed || order == Order::FailedFirst;
        if shard.is_some() || needs_durations || needs_failed {
            let store = Store::for_project(project_root);
            if let Ok(h) = History::open(store.root()) {
                if shard.is_some() && strategy.is_none_or(|s| s == Strategy::Timings) {
                    history.shard_durations = h.durations_for_sharding(WINDOW).unwrap_or_default();
                }
                if needs_durations {
                    history.durations = h.durations(WINDOW).unwrap_or_default();
                }
                if needs_failed {
                    history.last_failed = h.last_failed().ok().flatten();
                }
            }
        }
        let strategy =
            strategy.unwrap_or_else(|| shard::default_strategy(&history.shard_durations));
        Selection {
            shard,
            strategy,
            order,
            last_failed,
            history,
        }
    }

    /// Does applying it change anything?
    pub fn is_active(&self) -> bool {
        self.shard.is_some() || self.last_failed || self.order != Order::Default
    }

    /// The run's shard record.
    pub fn shard_info(&self) -> Option<ShardInfo> {
        self.shard.map(|s| s.info(self.strategy))
    }

    /// The shard record of a reporter's run (the Jest and Vitest reporters' `shard`
    /// option, `K/N`), split as the sequencer splits it: the strategy from
    /// `TESTFLOW_SHARD_STRATEGY`, else by history. A bad value is an invalid setting.
    pub fn reporter_shard(root: &Path, shard: Option<&str>) -> Result<Option<ShardInfo>> {
        let Some(s) = shard else { return Ok(None) };
        let spec = ShardSpec::parse(s).map_err(crate::settings::invalid)?;
        let strategy = match crate::settings::process_env(shard::SHARD_STRATEGY_ENV) {
            Some(v) => Some(
                Strategy::parse(&v)
                    .with_context(|| format!("in ${}", shard::SHARD_STRATEGY_ENV))
                    .map_err(crate::settings::invalid)?,
            ),
            None => None,
        };
        Ok(Selection::new(root, Some(spec), strategy, Order::Default, false).shard_info())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a selection serializes")
    }

    pub fn from_json(s: &str) -> Result<Selection> {
        Ok(serde_json::from_str(s)?)
    }

    /// Narrow and order `ids` (each once): this shard's share, then `--last-failed`, then
    /// the order. At `Grain::File` whole files go to one shard and `ids` may be files.
    pub fn apply(&self, ids: &[String], grain: Grain) -> Applied {
        let mut notes = Vec::new();
        let mut keep: Vec<usize> = (0..ids.len()).collect();
        if let Some(spec) = self.shard {
            let (mine, note) = select_for_shard(
                ids,
                spec,
                self.strategy,
                grain,
                &self.history.shard_durations,
            );
            let mine: HashSet<usize> = mine.into_iter().collect();
            keep.retain(|i| mine.contains(i));
            notes.push(note);
        }
        if self.last_failed
            && let Some(failed) = self.history.last_failed.as_ref().filter(|f| !f.is_empty())
        {
            let failed: HashSet<&str> = match grain {
                Grain::Test => failed.iter().map(String::as_str).collect(),
                Grain::File => failed.iter().map(|f| file_of(f)).collect(),
            };
            keep.retain(|&i| failed.contains(key(&ids[i], grain)));
            notes.push(format!(
                "--last-failed: {} {} that failed last time",
                keep.len(),
                match grain {
                    Grain::Test => "tests",
                    Grain::File => "files",
                }
            ));
        }
        let kept: Vec<String> = keep.iter().map(|&i| ids[i].clone()).collect();
        let order = order(&kept, self.order, grain, &self.history);
        Applied {
            keep: order.into_iter().map(|j| keep[j]).collect(),
            notes,
        }
    }
}

fn key(id: &str, grain: Grain) -> &str {
    match grain {
        Grain::Test => id,
        Grain::File => file_of(id),
    }
}

/// Per-file durations: the sum over the file's tests.
fn by_file(durations: &HashMap<String, f64>) -> HashMap<String, f64> {
    let mut out: HashMap<String, f64> = HashMap::new();
    for (id, ms) in durations {
        *out.entry(file_of(id).to_owned()).or_default() += ms;
    }
    out
}

/// The shard plan over `items` at `grain`: tests, or the distinct files of `items` with
/// file durations summed from the per-test `durations`.
/// `cargo testflow shard plan`: every suite planned at its own grain (as `run --shard`
/// does; shard K runs shard K of each) from the timings in the history at `store_root`,
/// and the plans combined.
pub struct SuitesPlan {
    /// The combined plan: shard K's tests of every suite.
    pub plan: shard::Plan,
    /// Each suite's own plan, by framework.
    pub suites: Vec<(crate::model::Framework, shard::Plan)>,
    /// The run whose timings (with the runs before it) planned the shards; `None`: no
    /// recorded run had tests, so there were no timings.
    pub timings_run: Option<crate::history::RunRow>,
}

/// `list --affected` and `shard plan --affected`: the selection `run --affected` would
/// make on `suites` (in `root`), made by the same per-framework functions
/// ([`Suite::select_affected`](crate::frameworks::Suite::select_affected), which a run's
/// `units` call too) under the same rules ([`crate::affected::Plan`]), from the history a
/// run reads. A framework that does not select runs everything, as in a run. `Ok(None)`:
/// a suite could not be built (its diagnostics went to `echo`).
pub fn affected_selection(
    suites: &mut [Box<dyn crate::frameworks::Suite>],
    root: &Path,
    req: &crate::affected::Request,
    echo: &mut (dyn std::io::Write + Send),
) -> Result<Option<crate::affected::Plan>> {
    let history = History::open_existing(Store::for_project(root).root())
        .ok()
        .flatten();
    let plan = crate::affected::Plan::build(root, req, history.as_ref())?;
    for suite in suites.iter_mut() {
        let f = suite.framework();
        if crate::frameworks::plugin(f).is_some_and(|p| p.selects_affected()) {
            if !suite.select_affected(&plan, history.as_ref(), echo)? {
                return Ok(None);
            }
        } else {
            plan.unsupported(f);
        }
    }
    Ok(Some(plan))
}

/// Each listed test's decision under `plan` (`list --affected`); how many are selected,
/// of how many.
pub fn mark_affected(
    plan: &crate::affected::Plan,
    suites: &mut [crate::frameworks::SuiteListing],
) -> (usize, usize) {
    let keys: Vec<(crate::model::Framework, &str, Option<&str>)> = suites
        .iter()
        .flat_map(|s| &s.test_list)
        .map(|t| (t.framework, t.id.as_str(), t.file.as_deref()))
        .collect();
    let decisions = plan.decisions(&keys);
    let (mut selected, mut total) = (0, 0);
    let mut d = decisions.into_iter();
    for t in suites.iter_mut().flat_map(|s| s.test_list.iter_mut()) {
        total += 1;
        // No decision: the framework made no selection, so the test runs.
        let sel = d
            .next()
            .flatten()
            .map(|g| crate::frameworks::ListedSelection {
                selected: g.selected,
                rule: g.rule,
                reason: g.reason,
                group: g.group,
                files: g.files,
            });
        if sel.as_ref().is_none_or(|s| s.selected) {
            selected += 1;
        }
        t.affected = sel;
    }
    (selected, total)
}

/// Plan `shards` shards of `suites`; `Ok(None)`: a suite could not be built (its
/// diagnostics went to `echo`). `strategy` `None`: by timings when there are any, else
/// by hash.
pub fn plan_suites(
    suites: Vec<Box<dyn crate::frameworks::Suite>>,
    shards: u32,
    strategy: Option<Strategy>,
    store_root: &std::path::Path,
    echo: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<Option<SuitesPlan>> {
    plan_suites_affected(suites, shards, strategy, store_root, None, echo)
}

/// [`plan_suites`] of the tests `affected` selects (see [`affected_selection`]).
pub fn plan_suites_affected(
    suites: Vec<Box<dyn crate::frameworks::Suite>>,
    shards: u32,
    strategy: Option<Strategy>,
    store_root: &std::path::Path,
    affected: Option<&crate::affected::Plan>,
    echo: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<Option<SuitesPlan>> {
    let history = crate::history::History::open_existing(store_root)
        .ok()
        .flatten();
    let durations = history
        .as_ref()
        .and_then(|h| h.durations_for_sharding(20).ok())
        .unwrap_or_default();
    let timings_run = history
        .as_ref()
        .and_then(|h| h.latest_real_whole_run().ok().flatten());
    let strategy = strategy.unwrap_or_else(|| shard::default_strategy(&durations));
    let mut planned = Vec::new();
    for mut suite in suites {
        let Some((mut items, grain)) = suite.shard_items(echo)? else {
            return Ok(None);
        };
        // `--affected`: the selection first, then the shards, as a run does.
        if let Some(plan) = affected {
            let f = suite.framework();
            let keys: Vec<(crate::model::Framework, &str, Option<&str>)> = items
                .iter()
                .map(|i| (f, i.as_str(), Some(file_of(i))))
                .collect();
            let runs: Vec<bool> = plan
                .decisions(&keys)
                .into_iter()
                .map(|d| d.is_none_or(|d| d.selected))
                .collect();
            let mut keep = runs.into_iter();
            items.retain(|_| keep.next().unwrap_or(true));
        }
        let plan = plan_units(&items, shards, strategy, grain, &durations);
        planned.push((suite.framework(), plan));
    }
    let plans: Vec<shard::Plan> = planned.iter().map(|(_, p)| p.clone()).collect();
    Ok(Some(SuitesPlan {
        plan: shard::combine(&plans, strategy),
        suites: planned,
        timings_run,
    }))
}

pub fn plan_units(
    items: &[String],
    shards: u32,
    strategy: Strategy,
    grain: Grain,
    durations: &HashMap<String, f64>,
) -> shard::Plan {
    match grain {
        Grain::Test => shard::plan(items, shards, strategy, durations),
        Grain::File => {
            let mut files: Vec<String> = items.iter().map(|i| file_of(i).to_owned()).collect();
            files.sort();
            files.dedup();
            shard::plan(&files, shards, strategy, &by_file(durations))
        }
    }
}

/// The indices of `items` that shard `spec` runs, and a line saying so. At `Grain::File`
/// the plan is over the distinct files of `items` (ids or files), with file durations
/// summed from the per-test `durations`.
pub fn select_for_shard(
    items: &[String],
    spec: ShardSpec,
    strategy: Strategy,
    grain: Grain,
    durations: &HashMap<String, f64>,
) -> (Vec<usize>, String) {
    let plan = plan_units(items, spec.total, strategy, grain, durations);
    let units = plan.shards.iter().map(|s| s.tests.len()).sum::<usize>();
    let planned = &plan.shards[(spec.index - 1) as usize];
    let mine: HashSet<&str> = planned.tests.iter().map(String::as_str).collect();
    let keep: Vec<usize> = (0..items.len())
        .filter(|&i| mine.contains(key(&items[i], grain)))
        .collect();
    let what = match grain {
        Grain::Test => "tests",
        Grain::File => "files",
    };
    let note = format!(
        "shard {}/{} ({}): {} of {} {what}, predicted {:.1}s",
        spec.index,
        spec.total,
        strategy.as_str(),
        planned.tests.len(),
        units,
        planned.predicted_ms / 1000.0
    );
    (keep, note)
}

/// The order to run `ids` in (indices), with `session::Order`'s meaning: failed-first puts
/// last run's failures first; slowest-/fastest-first put the tests with a recorded
/// duration first, by it; everything else keeps the given order after them.
pub fn order(ids: &[String], order: Order, grain: Grain, history: &HistorySnapshot) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..ids.len()).collect();
    match order {
        Order::Default => {}
        Order::FailedFirst => {
            let failed: HashSet<&str> = history
                .last_failed
                .iter()
                .flatten()
                .map(|f| key(f, grain))
                .collect();
            idx.sort_by_key(|&i| !failed.contains(key(&ids[i], grain)));
        }
        Order::SlowestFirst | Order::FastestFirst => {
            let files;
            let durations = match grain {
                Grain::Test => &history.durations,
                Grain::File => {
                    files = by_file(&history.durations);
                    &files
                }
            };
            let d = |i: usize| durations.get(key(&ids[i], grain)).copied();
            let fastest = order == Order::FastestFirst;
            idx.sort_by(|&a, &b| match (d(a), d(b)) {
                (Some(x), Some(y)) if fastest => x.total_cmp(&y),
                (Some(x), Some(y)) => y.total_cmp(&x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            });
        }
    }
    idx
}

/// The order to run a plugin's test `files` in (indices; `files` relative to
/// `project_root`, as history keys them), with the order and `last_failed` resolved by
/// `settings::order`: an order or `last_failed` is `selection`'s (the meaning every door
/// gives them, `last_failed` dropping files that passed); otherwise [`crate::ordering::order`] over the
/// latest run.
pub fn sort_files(
    project_root: &Path,
    files: &[String],
    order_: Order,
    last_failed: bool,
) -> Vec<usize> {
    if order_ == Order::Default && !last_failed {
        return crate::ordering::order(files, &crate::ordering::latest_history(project_root));
    }
    Selection::new(project_root, None, None, order_, last_failed)
        .apply(files, Grain::File)
        .keep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn sel(
        shard: Option<&str>,
        strategy: Strategy,
        order: Order,
        lf: bool,
        h: HistorySnapshot,
    ) -> Selection {
        Selection {
            shard: shard.map(|s| ShardSpec::parse(s).unwrap()),
            strategy,
            order,
            last_failed: lf,
            history: h,
        }
    }

    #[test]
    fn files_are_cut_at_the_framework_separator() {
        assert_eq!(
            file_of("tests/test_a.py::TestX::test_y[a#b]"),
            "tests/test_a.py"
        );
        assert_eq!(file_of("src/a.test.js#outer › inner"), "src/a.test.js");
        assert_eq!(file_of("src/missing.test.js"), "src/missing.test.js");
    }

    #[test]
    fn every_id_lands_in_exactly_one_shard_at_both_grains() {
        let all: Vec<String> = (0..60)
            .map(|i| format!("f{}.test.js#t{i}", i % 7))
            .collect();
        let mut h = HistorySnapshot::default();
        for (i, id) in all.iter().enumerate() {
            h.shard_durations
                .insert(id.clone(), (i % 5) as f64 * 10.0 + 1.0);
        }
        for grain in [Grain::Test, Grain::File] {
            for strategy in [Strategy::Timings, Strategy::Hash, Strategy::Count] {
                let mut seen = vec![0; all.len()];
                let mut files_by_shard: Vec<HashSet<&str>> = vec![];
                for k in 1..=4 {
                    let s = sel(
                        Some(&format!("{k}/4")),
                        strategy,
                        Order::Default,
                        false,
                        h.clone(),
                    );
                    let a = s.apply(&all, grain);
                    files_by_shard.push(a.keep.iter().map(|&i| file_of(&all[i])).collect());
                    for i in a.keep {
                        seen[i] += 1;
                    }
                }
                assert!(seen.iter().all(|&n| n == 1), "{grain:?} {strategy:?}");
                if grain == Grain::File {
                    for (a, fa) in files_by_shard.iter().enumerate() {
                        for fb in &files_by_shard[a + 1..] {
                            assert!(fa.is_disjoint(fb), "a file is split across shards");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn file_grain_balances_summed_file_durations() {
        let mut h = HistorySnapshot::default();
        // a: one slow test (100), b and c: many quick ones (50 each in total).
        h.shard_durations.insert("a.js#slow".into(), 100.0);
        for i in 0..10 {
            h.shard_durations.insert(format!("b.js#t{i}"), 5.0);
            h.shard_durations.insert(format!("c.js#t{i}"), 5.0);
        }
        let files = ids(&["/abs/ignored"]); // not used
        let _ = files;
        let files = ids(&["a.js", "b.js", "c.js"]);
        let one = sel(
            Some("1/2"),
            Strategy::Timings,
            Order::Default,
            false,
            h.clone(),
        )
        .apply(&files, Grain::File);
        let two = sel(Some("2/2"), Strategy::Timings, Order::Default, false, h)
            .apply(&files, Grain::File);
        let names = |a: &Applied| {
            a.keep
                .iter()
                .map(|&i| files[i].as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&one), ["a.js"]);
        assert_eq!(names(&two), ["b.js", "c.js"]);
        assert!(
            one.notes[0].contains("shard 1/2 (timings): 1 of 3 files"),
            "{:?}",
            one.notes
        );
    }

    #[test]
    fn last_failed_and_orders_follow_the_cargo_meanings() {
        let all = ids(&["t::a", "t::b", "t::c", "t::d"]);
        let h = HistorySnapshot {
            durations: [("t::a", 1.0), ("t::c", 30.0), ("t::d", 20.0)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            last_failed: Some(ids(&["t::d", "t::b"])),
            ..HistorySnapshot::default()
        };
        let names = |s: Selection| {
            s.apply(&all, Grain::Test)
                .keep
                .into_iter()
                .map(|i| all[i].as_str())
                .collect::<Vec<_>>()
        };
        let h2 = h.clone();
        let s = move |o, lf| sel(None, Strategy::Hash, o, lf, h2.clone());
        assert_eq!(
            names(s(Order::Default, false)),
            ["t::a", "t::b", "t::c", "t::d"]
        );
        assert_eq!(
            names(s(Order::FailedFirst, false)),
            ["t::b", "t::d", "t::a", "t::c"]
        );
        assert_eq!(
            names(s(Order::SlowestFirst, false)),
            ["t::c", "t::d", "t::a", "t::b"]
        );
        assert_eq!(
            names(s(Order::FastestFirst, false)),
            ["t::a", "t::d", "t::c", "t::b"]
        );
        assert_eq!(names(s(Order::Default, true)), ["t::b", "t::d"]);
        // No failures last time: --last-failed runs everything.
        let none = HistorySnapshot {
            last_failed: Some(vec![]),
            ..h
        };
        assert_eq!(
            names(sel(None, Strategy::Hash, Order::Default, true, none)).len(),
            4
        );
    }

    #[test]
    fn a_selection_round_trips_through_json_for_xdist_workers() {
        let s = sel(
            Some("2/3"),
            Strategy::Count,
            Order::SlowestFirst,
            true,
            HistorySnapshot::default(),
        );
        assert_eq!(Selection::from_json(&s.to_json()).unwrap(), s);
    }
}
