//! coverage.py JSON (`coverage json`): `files[path]` with `executed_lines`,
//! `missing_lines`, optional `executed_branches`/`missing_branches` (`[from, to]`) and,
//! since 7.6, `functions` regions. Hit/miss only: files are `hit_only`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, anyhow};
use serde::Deserialize;

use super::{Coverage, FileCoverage, Function};

#[derive(Deserialize)]
struct Report {
    files: BTreeMap<String, File>,
}

#[derive(Deserialize)]
struct File {
    executed_lines: Vec<u32>,
    missing_lines: Vec<u32>,
    #[serde(default)]
    executed_branches: Vec<(i64, i64)>,
    #[serde(default)]
    missing_branches: Vec<(i64, i64)>,
    #[serde(default)]
    functions: BTreeMap<String, Region>,
}

#[derive(Deserialize)]
struct Region {
    /// The `def` line (coverage.py 7.6+); the body's lines start after it.
    start_line: Option<u32>,
    #[serde(default)]
    executed_lines: Vec<u32>,
    #[serde(default)]
    missing_lines: Vec<u32>,
}

pub fn parse(bytes: &[u8], name: &str, root: &Path) -> Result<Coverage> {
    let report: Report = serde_json::from_slice(bytes)
        .map_err(|e| anyhow!("{name}:{}: not coverage.py JSON: {e}", e.line()))?;
    let mut cov = Coverage::default();
    for (path, f) in report.files {
        let mut fc = FileCoverage {
            hit_only: true,
            ..FileCoverage::default()
        };
        for l in f.missing_lines {
            fc.lines.insert(l, 0);
        }
        for l in f.executed_lines {
            fc.lines.insert(l, 1);
        }
        // Arms of a line in the order of their targets, so that shards line up.
        let mut arms: BTreeMap<u32, BTreeMap<i64, u64>> = BTreeMap::new();
        for (from, to, hit) in f
            .missing_branches
            .iter()
            .map(|(a, b)| (a, b, 0))
            .chain(f.executed_branches.iter().map(|(a, b)| (a, b, 1)))
        {
            if let Ok(from) = u32::try_from(*from) {
                arms.entry(from).or_default().insert(*to, hit);
            }
        }
        fc.branches = arms
            .into_iter()
            .map(|(l, a)| (l, a.into_values().collect()))
            .collect();
        for (fname, r) in f.functions {
            // `""` holds the lines outside any function.
            if fname.is_empty() {
                continue;
            }
            // The `def` line, as coverage.py's own LCOV has it; without `start_line`, the
            // first line of the body.
            let line = r.start_line.unwrap_or_else(|| {
                r.executed_lines
                    .iter()
                    .chain(&r.missing_lines)
                    .min()
                    .copied()
                    .unwrap_or(0)
            });
            let hits = u64::from(!r.executed_lines.is_empty());
            fc.functions.insert(fname, Function { line, hits });
        }
        let key = super::normalize_path(&path, root);
        match cov.files.get_mut(&key) {
            Some(existing) => existing.merge(fc),
            None => {
                cov.files.insert(key, fc);
            }
        }
    }
    Ok(cov)
}
