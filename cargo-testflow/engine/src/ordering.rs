//! Which test files to run first: the ones that failed last time, then the slowest.
//!
//! Shared by every framework's ordering hook (Jest's test sequencer today). The input is
//! the previous recorded run; files it does not know come right after the failed ones,
//! because new files are the likeliest to fail. [`crate::selection::sort_files`] is the hook's one entry
//! point: an order asked for (flag or `TESTFLOW_ORDER`, resolved by `settings::order`)
//! and `--last-failed` go through `selection`, as in the other doors.

/// Test order, from history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    /// The framework's own order.
    #[default]
    Default,
    /// Tests that failed in the previous run first.
    FailedFirst,
    /// Longest recent duration first (fills the workers best).
    SlowestFirst,
    FastestFirst,
}

impl Order {
    /// `default`, `failed-first`, `slowest-first` or `fastest-first`.
    pub fn parse(s: &str) -> anyhow::Result<Order> {
        <Order as crate::choice::Choice>::from_name(s).ok_or_else(|| {
            anyhow::anyhow!(
                "`{s}`: an order is default, failed-first, slowest-first or fastest-first"
            )
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Order::Default => "default",
            Order::FailedFirst => "failed-first",
            Order::SlowestFirst => "slowest-first",
            Order::FastestFirst => "fastest-first",
        }
    }
}

impl crate::choice::Choice for Order {
    const ALL: &'static [Order] = &[
        Order::Default,
        Order::FailedFirst,
        Order::SlowestFirst,
        Order::FastestFirst,
    ];
    fn name(self) -> &'static str {
        self.as_str()
    }
    fn help(self) -> Option<&'static str> {
        match self {
            Order::Default => Some("The framework's own order"),
            Order::FailedFirst => Some("Tests that failed in the previous run first"),
            Order::SlowestFirst => Some("Longest recent duration first (fills the workers best)"),
            Order::FastestFirst => None,
        }
    }
}

use std::collections::HashMap;
use std::path::Path;

use crate::model::Run;
use crate::store::Store;

/// What the previous run says about one file.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FileHistory {
    pub failed: bool,
    /// Sum of the file's test durations.
    pub duration_ms: f64,
}

/// Per-file history from a run, keyed by `TestCase::file`.
pub fn file_history(run: &Run) -> HashMap<String, FileHistory> {
    let mut by_file: HashMap<String, FileHistory> = HashMap::new();
    for t in &run.tests {
        let Some(file) = &t.file else { continue };
        let h = by_file.entry(file.clone()).or_default();
        h.failed |= t.outcome.is_failure();
        h.duration_ms += t.attempts.iter().map(|a| a.duration_ms).sum::<f64>();
    }
    by_file
}

/// The order to run `files` in (indices into `files`): failed last time first, then
/// files with no history, then the slowest first; ties keep the given order.
pub fn order(files: &[String], history: &HashMap<String, FileHistory>) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..files.len()).collect();
    let rank = |i: usize| match history.get(&files[i]) {
        Some(h) if h.failed => (0, -h.duration_ms),
        None => (1, 0.0),
        Some(h) => (2, -h.duration_ms),
    };
    idx.sort_by(|&a, &b| {
        let (ra, rb) = (rank(a), rank(b));
        ra.0.cmp(&rb.0).then(ra.1.total_cmp(&rb.1))
    });
    idx
}

/// History from the latest run recorded for `project_root` (empty when there is none or
/// it cannot be read: ordering is a hint, never a reason to fail).
pub fn latest_history(project_root: &Path) -> HashMap<String, FileHistory> {
    Store::discover(project_root)
        .load("latest")
        .map(|run| file_history(&run))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_first_then_unknown_then_slowest() {
        let files: Vec<String> = ["fast", "slow", "failed", "new", "failed_slow"]
            .map(String::from)
            .to_vec();
        let mut h = HashMap::new();
        let fh = |failed, duration_ms| FileHistory {
            failed,
            duration_ms,
        };
        h.insert("fast".into(), fh(false, 1.0));
        h.insert("slow".into(), fh(false, 100.0));
        h.insert("failed".into(), fh(true, 5.0));
        h.insert("failed_slow".into(), fh(true, 50.0));
        let got: Vec<&str> = order(&files, &h)
            .into_iter()
            .map(|i| files[i].as_str())
            .collect();
        assert_eq!(got, ["failed_slow", "failed", "new", "slow", "fast"]);
    }
}

#[cfg(test)]
mod choice_tests {
    #[test]
    fn every_order_is_found_by_its_name() {
        crate::choice::assert_names_round_trip::<super::Order>();
    }
}
