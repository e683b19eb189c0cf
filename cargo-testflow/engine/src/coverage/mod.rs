//! Coverage reports: one model for LCOV, Cobertura XML, coverage.py JSON and Istanbul
//! `coverage-final.json`, merged across shards and summarised for the `min_coverage` gates.
//!
//! Counts are summed when merging. coverage.py records only whether a line ran (hit/miss),
//! so its files are marked `hit_only`; merging anything with a hit-only file gives a
//! hit-only file (counts clamped to 0/1, i.e. a logical OR), as `coverage combine` does.
//! Branch arms are matched by their order on a line (LCOV's `lcov -a` matches by
//! signature first; testflow does not keep the signatures).
//!
//! Bad input is an error naming the file and the line (LCOV, JSON) or byte offset
//! (Cobertura XML); parsers never panic (proptest in `tests`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

pub use testflow_schema::coverage::{FileSummary, Ratio, Totals};

pub mod cobertura;
pub mod collect;
pub mod coveragepy;
#[cfg(feature = "gaps")]
pub mod gaps;
pub mod istanbul;
pub mod lcov;

/// Coverage of a set of files, keyed by path relative to the project root ('/'-separated).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Coverage {
    pub files: BTreeMap<String, FileCoverage>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FileCoverage {
    /// Line number → hit count (0 = not run).
    pub lines: BTreeMap<u32, u64>,
    /// Line number → hit count of each branch arm on that line, in order.
    pub branches: BTreeMap<u32, Vec<u64>>,
    /// Function name → start line and hit count.
    pub functions: BTreeMap<String, Function>,
    /// Counts are only 0/1 (coverage.py): merged by OR.
    pub hit_only: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Function {
    pub line: u32,
    pub hits: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Lcov,
    Cobertura,
    CoveragePy,
    Istanbul,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Lcov => "lcov",
            Format::Cobertura => "cobertura",
            Format::CoveragePy => "coverage.py json",
            Format::Istanbul => "istanbul json",
        }
    }
}

/// Which format `bytes` are in, from their content.
pub fn detect(bytes: &[u8], name: &str) -> Result<Format> {
    let start = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let Some(first) = start.iter().position(|b| !b.is_ascii_whitespace()) else {
        bail!("{name}: empty file, not a coverage report");
    };
    let head = &start[first..];
    let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    match head[0] {
        b'<' => Ok(Format::Cobertura),
        b'{' if has(b"\"executed_lines\"") || has(b"\"meta\"") && has(b"\"files\"") => {
            Ok(Format::CoveragePy)
        }
        b'{' if has(b"\"statementMap\"") || head.starts_with(b"{}") => Ok(Format::Istanbul),
        b'{' => bail!(
            "{name}: JSON, but neither coverage.py JSON (`files` with `executed_lines`) nor Istanbul coverage-final.json (`statementMap`)"
        ),
        _ => {
            let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
            let known = [&b"TN:"[..], b"SF:", b"#"];
            if known.iter().any(|k| line.starts_with(k)) {
                Ok(Format::Lcov)
            } else {
                bail!(
                    "{name}:1: not a coverage report (expected LCOV `TN:`/`SF:`, Cobertura XML, coverage.py JSON or Istanbul JSON)"
                )
            }
        }
    }
}

/// Parse one report in a known format; paths are made relative to `root`.
pub fn parse_as(format: Format, bytes: &[u8], name: &str, root: &Path) -> Result<Coverage> {
    match format {
        Format::Lcov => lcov::parse(bytes, name, root),
        Format::Cobertura => cobertura::parse(bytes, name, root),
        Format::CoveragePy => coveragepy::parse(bytes, name, root),
        Format::Istanbul => istanbul::parse(bytes, name, root),
    }
}

/// Parse one report, detecting its format.
pub fn parse(bytes: &[u8], name: &str, root: &Path) -> Result<Coverage> {
    parse_as(detect(bytes, name)?, bytes, name, root)
}

/// Read, parse (in parallel) and merge reports.
pub fn load(paths: &[PathBuf], root: &Path) -> Result<Coverage> {
    let parsed: Vec<Result<Coverage>> = std::thread::scope(|s| {
        let handles: Vec<_> = paths
            .iter()
            .map(|p| {
                s.spawn(move || {
                    let bytes =
                        std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
                    parse(&bytes, &p.display().to_string(), root)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("parser thread panicked")))
            })
            .collect()
    });
    let mut out = Coverage::default();
    for c in parsed {
        out.merge(c?);
    }
    Ok(out)
}

fn merge_sorted<K: Ord + Copy, V>(
    a: BTreeMap<K, V>,
    b: BTreeMap<K, V>,
    mut f: impl FnMut(V, V) -> V,
) -> BTreeMap<K, V> {
    if a.is_empty() {
        return b;
    }
    if b.is_empty() {
        return a;
    }
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let mut a = a.into_iter().peekable();
    let mut b = b.into_iter().peekable();
    loop {
        match (a.peek(), b.peek()) {
            (Some((ka, _)), Some((kb, _))) => {
                if ka < kb {
                    out.extend(a.next());
                } else if kb < ka {
                    out.extend(b.next());
                } else if let (Some((k, va)), Some((_, vb))) = (a.next(), b.next()) {
                    out.push((k, f(va, vb)));
                }
            }
            (Some(_), None) => {
                out.extend(a);
                break;
            }
            (None, _) => {
                out.extend(b);
                break;
            }
        }
    }
    out.into_iter().collect()
}

impl FileCoverage {
    /// Add `other`'s counts to this file's (OR when either is hit-only).
    pub fn merge(&mut self, other: FileCoverage) {
        self.lines = merge_sorted(std::mem::take(&mut self.lines), other.lines, |a, b| {
            a.saturating_add(b)
        });
        self.branches = merge_sorted(
            std::mem::take(&mut self.branches),
            other.branches,
            |mut a, b| {
                if a.len() < b.len() {
                    a.resize(b.len(), 0);
                }
                for (x, y) in a.iter_mut().zip(b) {
                    *x = x.saturating_add(y);
                }
                a
            },
        );
        for (name, f) in other.functions {
            let e = self.functions.entry(name).or_insert(Function {
                line: f.line,
                hits: 0,
            });
            e.hits = e.hits.saturating_add(f.hits);
            if e.line == 0 {
                e.line = f.line;
            }
        }
        self.hit_only |= other.hit_only;
        if self.hit_only {
            self.clamp();
        }
    }

    fn clamp(&mut self) {
        self.lines.values_mut().for_each(|v| *v = (*v).min(1));
        self.branches
            .values_mut()
            .flatten()
            .for_each(|v| *v = (*v).min(1));
        self.functions
            .values_mut()
            .for_each(|f| f.hits = f.hits.min(1));
    }

    pub fn totals(&self) -> Totals {
        let arms = self.branches.values().flatten();
        Totals::new(
            (
                self.lines.values().filter(|h| **h > 0).count(),
                self.lines.len(),
            ),
            (arms.clone().filter(|h| **h > 0).count(), arms.count()),
            (
                self.functions.values().filter(|f| f.hits > 0).count(),
                self.functions.len(),
            ),
        )
    }
}

impl Coverage {
    /// Add `other` to this coverage, file by file.
    pub fn merge(&mut self, other: Coverage) {
        if self.files.is_empty() {
            self.files = other.files;
            return;
        }
        for (path, f) in other.files {
            match self.files.get_mut(&path) {
                Some(mine) => mine.merge(f),
                None => {
                    self.files.insert(path, f);
                }
            }
        }
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for f in self.files.values() {
            t.add(&f.totals());
        }
        t
    }

    /// The totals and per-file table a run keeps (no reports, no baseline).
    pub fn summary(&self) -> crate::model::RunCoverage {
        crate::model::RunCoverage {
            totals: self.totals(),
            files: self.per_file(),
            ..Default::default()
        }
    }

    /// Totals per file, in path order.
    pub fn per_file(&self) -> Vec<FileSummary> {
        self.files
            .iter()
            .map(|(p, f)| FileSummary {
                path: p.clone(),
                totals: f.totals(),
            })
            .collect()
    }
}

/// Paths longer than this are not padded (the row is wider than the table).
const PATH_COLUMN_MAX: usize = 200;

/// The totals and per-file table for people.
pub fn render_human(cov: &Coverage) -> String {
    use std::fmt::Write as _;
    let pct = |r: &Ratio| match r.percent {
        Some(p) => format!("{p:6.2}% {:>6}/{:<6}", r.covered, r.total),
        None => format!("{:>7} {:>6}/{:<6}", "-", 0, 0),
    };
    let mut out = String::new();
    let rows = cov.per_file();
    // Capped: a path from a file may be any length, and `{:<width$}` panics past 65,535.
    let width = rows
        .iter()
        .map(|r| r.path.len())
        .max()
        .unwrap_or(4)
        .clamp(5, PATH_COLUMN_MAX);
    let _ = writeln!(
        out,
        "{:<width$}  {:<21}  {:<21}  {:<21}",
        "file", "lines", "branches", "functions"
    );
    for r in &rows {
        let t = &r.totals;
        let _ = writeln!(
            out,
            "{:<width$}  {}  {}  {}",
            r.path,
            pct(&t.lines),
            pct(&t.branches),
            pct(&t.functions)
        );
    }
    let t = cov.totals();
    let _ = writeln!(
        out,
        "{:<width$}  {}  {}  {}",
        "TOTAL",
        pct(&t.lines),
        pct(&t.branches),
        pct(&t.functions)
    );
    out
}

/// What a run's coverage adds to the table: frameworks that did not collect coverage,
/// and the change since the previous run on the branch (files that fell most first).
pub fn render_run_notes(c: &crate::model::RunCoverage) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for f in c.frameworks.iter().filter(|f| f.status != "collected") {
        let _ = writeln!(
            out,
            "{} coverage {}: {}",
            f.framework.as_str(),
            f.status,
            f.message.as_deref().unwrap_or("")
        );
    }
    let Some(prev) = &c.previous else {
        let _ = writeln!(out, "\nno earlier run on this branch measured coverage");
        return out;
    };
    let pct = |r: &Ratio| {
        r.percent
            .map_or_else(|| "-".to_owned(), |p| format!("{p:.2}%"))
    };
    let change = match (c.totals.lines.percent, prev.lines.percent) {
        (Some(now), Some(before)) => format!(" ({:+.2} pts)", now - before),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "\nsince run {}{}: lines {} -> {}{change}",
        prev.run_id,
        prev.branch
            .as_deref()
            .map(|b| format!(" on {b}"))
            .unwrap_or_default(),
        pct(&prev.lines),
        pct(&c.totals.lines)
    );
    let delta = |f: &crate::model::FileCoverageChange| {
        f.after.and_then(|a| a.percent).unwrap_or(0.0)
            - f.before.and_then(|b| b.percent).unwrap_or(0.0)
    };
    let mut changed: Vec<&crate::model::FileCoverageChange> = prev.changed_files.iter().collect();
    changed.sort_by(|a, b| {
        delta(a)
            .total_cmp(&delta(b))
            .then_with(|| a.path.cmp(&b.path))
    });
    for f in changed.iter().take(20) {
        let what = match (&f.before, &f.after) {
            (None, Some(a)) => format!("new, {}", pct(a)),
            (Some(b), None) => format!("no longer measured (was {})", pct(b)),
            (Some(b), Some(a)) => format!("{} -> {} ({:+.1} pts)", pct(b), pct(a), delta(f)),
            (None, None) => continue,
        };
        let _ = writeln!(out, "  {}: {what}", f.path);
    }
    if changed.len() > 20 {
        let _ = writeln!(out, "  … and {} more changed files", changed.len() - 20);
    }
    out
}

/// `path` made relative to `root` when under it, '/'-separated, with `.` and `..` resolved
/// lexically.
pub fn normalize_path(path: &str, root: &Path) -> String {
    let clean = |s: &str| -> String {
        let s = s.replace('\\', "/");
        let abs = s.starts_with('/');
        let mut parts: Vec<&str> = Vec::new();
        for c in s.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    if parts.last().is_some_and(|l| *l != "..") {
                        parts.pop();
                    } else if !abs {
                        parts.push("..");
                    }
                }
                c => parts.push(c),
            }
        }
        let joined = parts.join("/");
        if abs { format!("/{joined}") } else { joined }
    };
    let p = clean(path);
    let r = clean(&root.to_string_lossy());
    if r.is_empty() || r == "/" && !p.starts_with('/') {
        return p;
    }
    match p.strip_prefix(&r) {
        Some("") => ".".to_owned(),
        Some(rest) if rest.starts_with('/') => rest[1..].to_owned(),
        _ if r == "/" => p[1..].to_owned(),
        _ => p,
    }
}

#[cfg(test)]
mod tests;
