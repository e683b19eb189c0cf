//! Istanbul `coverage-final.json` (Jest, nyc): per file `statementMap`/`s`, `fnMap`/`f`,
//! `branchMap`/`b`. A line's count is the largest count of the statements starting on it
//! (as istanbul-lib-coverage's line coverage).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, anyhow};
use serde::Deserialize;

use super::{Coverage, FileCoverage, Function};

#[derive(Deserialize)]
struct File {
    path: Option<String>,
    #[serde(rename = "statementMap")]
    statement_map: BTreeMap<String, Range>,
    s: BTreeMap<String, u64>,
    #[serde(rename = "fnMap", default)]
    fn_map: BTreeMap<String, FnEntry>,
    #[serde(default)]
    f: BTreeMap<String, u64>,
    #[serde(rename = "branchMap", default)]
    branch_map: BTreeMap<String, BranchEntry>,
    #[serde(default)]
    b: BTreeMap<String, Vec<u64>>,
}

#[derive(Deserialize)]
struct Range {
    start: Pos,
}

#[derive(Deserialize)]
struct Pos {
    line: u32,
}

#[derive(Deserialize)]
struct FnEntry {
    name: String,
    line: Option<u32>,
    decl: Option<Range>,
    loc: Option<Range>,
}

#[derive(Deserialize)]
struct BranchEntry {
    line: Option<u32>,
    loc: Option<Range>,
}

pub fn parse(bytes: &[u8], name: &str, root: &Path) -> Result<Coverage> {
    let files: BTreeMap<String, File> = serde_json::from_slice(bytes)
        .map_err(|e| anyhow!("{name}:{}: not Istanbul coverage JSON: {e}", e.line()))?;
    let mut cov = Coverage::default();
    for (key, f) in files {
        let mut fc = FileCoverage::default();
        for (id, r) in &f.statement_map {
            let hits = f.s.get(id).copied().unwrap_or(0);
            let h = fc.lines.entry(r.start.line).or_insert(0);
            *h = (*h).max(hits);
        }
        for (id, e) in &f.fn_map {
            let line = e
                .decl
                .as_ref()
                .or(e.loc.as_ref())
                .map(|r| r.start.line)
                .or(e.line)
                .unwrap_or(0);
            let hits = f.f.get(id).copied().unwrap_or(0);
            // Anonymous functions can share a name: keep them apart by line.
            let fname = if fc.functions.contains_key(&e.name) {
                format!("{}@{line}", e.name)
            } else {
                e.name.clone()
            };
            let entry = fc
                .functions
                .entry(fname)
                .or_insert(Function { line, hits: 0 });
            entry.hits = entry.hits.saturating_add(hits);
        }
        for (id, e) in &f.branch_map {
            let line = e.loc.as_ref().map(|r| r.start.line).or(e.line).unwrap_or(0);
            if let Some(counts) = f.b.get(id) {
                fc.branches
                    .entry(line)
                    .or_default()
                    .extend(counts.iter().copied());
            }
        }
        let path = super::normalize_path(f.path.as_deref().unwrap_or(&key), root);
        match cov.files.get_mut(&path) {
            Some(existing) => existing.merge(fc),
            None => {
                cov.files.insert(path, fc);
            }
        }
    }
    Ok(cov)
}
