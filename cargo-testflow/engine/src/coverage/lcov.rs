//! LCOV tracefiles (geninfo(1) "TRACEFILE FORMAT"): `SF`, `DA`, `BRDA`, `FN`/`FNDA` and
//! the LCOV 2.2 `FNL`/`FNA` pair, `end_of_record`. Summary lines (`LF`, `BRH`, …) are
//! recomputed, not trusted; other upper-case tags (`VER`, `MCDC`, …) are skipped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Result, anyhow, bail};

use super::{Coverage, FileCoverage, Function};

struct Record {
    path: String,
    lines: Vec<(u32, u64)>,
    branches: BTreeMap<u32, Vec<u64>>,
    functions: BTreeMap<String, Function>,
    fn_lines: BTreeMap<String, u32>,
}

impl Record {
    fn finish(self) -> (String, FileCoverage) {
        let mut lines = self.lines;
        lines.sort_by_key(|(l, _)| *l);
        let mut merged: Vec<(u32, u64)> = Vec::with_capacity(lines.len());
        for (l, h) in lines {
            match merged.last_mut() {
                Some((pl, ph)) if *pl == l => *ph = ph.saturating_add(h),
                _ => merged.push((l, h)),
            }
        }
        (
            self.path,
            FileCoverage {
                lines: merged.into_iter().collect(),
                branches: self.branches,
                functions: self.functions,
                hit_only: false,
            },
        )
    }
}

fn num<T: std::str::FromStr>(s: &str, what: &str) -> Result<T> {
    s.trim()
        .parse()
        .map_err(|_| anyhow!("bad {what} `{}`", s.chars().take(40).collect::<String>()))
}

/// A count: LCOV writes `-` for a branch never evaluated; some gcov versions write
/// negative counts, read as 0.
fn count(s: &str) -> Result<u64> {
    let s = s.trim();
    if s == "-" {
        return Ok(0);
    }
    if let Ok(v) = s.parse::<u64>() {
        return Ok(v);
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(if v < 0.0 { 0 } else { v as u64 }),
        _ => Err(anyhow!(
            "bad count `{}`",
            s.chars().take(40).collect::<String>()
        )),
    }
}

pub fn parse(bytes: &[u8], name: &str, root: &Path) -> Result<Coverage> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            bail!(
                "{name}:{line}: not UTF-8 text (byte offset {})",
                e.valid_up_to()
            );
        }
    };
    let mut cov = Coverage::default();
    let mut cur: Option<Record> = None;
    let mut last = 0;
    for (i, line) in text.lines().enumerate() {
        last = i + 1;
        parse_line(line, &mut cur, &mut cov, root).map_err(|e| anyhow!("{name}:{}: {e}", i + 1))?;
    }
    if let Some(r) = cur {
        bail!(
            "{name}:{last}: truncated: the record for `{}` has no end_of_record",
            r.path
        );
    }
    Ok(cov)
}

fn parse_line(line: &str, cur: &mut Option<Record>, cov: &mut Coverage, root: &Path) -> Result<()> {
    let line = line.trim_end();
    if line.is_empty() || line.starts_with('#') {
        return Ok(());
    }
    if line == "end_of_record" {
        let r = cur
            .take()
            .ok_or_else(|| anyhow!("end_of_record without a SF record"))?;
        let (path, f) = r.finish();
        match cov.files.get_mut(&path) {
            Some(existing) => existing.merge(f),
            None => {
                cov.files.insert(path, f);
            }
        }
        return Ok(());
    }
    let Some((tag, rest)) = line.split_once(':') else {
        bail!(
            "not an LCOV line: `{}`",
            line.chars().take(60).collect::<String>()
        );
    };
    if tag == "TN" {
        return Ok(());
    }
    if tag == "SF" {
        if let Some(r) = cur {
            bail!("SF before the end_of_record of `{}`", r.path);
        }
        *cur = Some(Record {
            path: super::normalize_path(rest, root),
            lines: Vec::new(),
            branches: BTreeMap::new(),
            functions: BTreeMap::new(),
            fn_lines: BTreeMap::new(),
        });
        return Ok(());
    }
    if tag.is_empty()
        || !tag
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        bail!(
            "not an LCOV line: `{}`",
            line.chars().take(60).collect::<String>()
        );
    }
    let Some(r) = cur.as_mut() else {
        bail!("{tag} outside a SF … end_of_record record");
    };
    match tag {
        "DA" => {
            let mut it = rest.splitn(3, ',');
            let l = num(it.next().unwrap_or_default(), "line number")?;
            let h = count(it.next().ok_or_else(|| anyhow!("DA without a count"))?)?;
            r.lines.push((l, h));
        }
        "BRDA" => {
            let (line_no, rest) = rest
                .split_once(',')
                .ok_or_else(|| anyhow!("BRDA needs line,block,branch,taken"))?;
            let (_, taken) = rest
                .rsplit_once(',')
                .filter(|(b, _)| b.contains(','))
                .ok_or_else(|| anyhow!("BRDA needs line,block,branch,taken"))?;
            let l = num(line_no, "line number")?;
            r.branches.entry(l).or_default().push(count(taken)?);
        }
        "FN" => {
            let (start, rest) = rest
                .split_once(',')
                .ok_or_else(|| anyhow!("FN needs start,name"))?;
            let start: u32 = num(start, "line number")?;
            let name = match rest.split_once(',') {
                Some((end, name)) if end.trim().parse::<u32>().is_ok() => name,
                _ => rest,
            };
            r.functions.entry(function_name(name)).or_default().line = start;
        }
        "FNDA" => {
            let (c, name) = rest
                .split_once(',')
                .ok_or_else(|| anyhow!("FNDA needs count,name"))?;
            let f = r.functions.entry(function_name(name)).or_default();
            f.hits = f.hits.saturating_add(count(c)?);
        }
        "FNL" => {
            let mut it = rest.splitn(3, ',');
            let idx = it.next().unwrap_or_default().trim().to_owned();
            let start: u32 = num(
                it.next().ok_or_else(|| anyhow!("FNL needs index,start"))?,
                "line number",
            )?;
            r.fn_lines.insert(idx, start);
        }
        "FNA" => {
            let mut it = rest.splitn(3, ',');
            let idx = it.next().unwrap_or_default().trim();
            let c = count(
                it.next()
                    .ok_or_else(|| anyhow!("FNA needs index,count,name"))?,
            )?;
            let name = it
                .next()
                .ok_or_else(|| anyhow!("FNA needs index,count,name"))?;
            let line = *r
                .fn_lines
                .get(idx)
                .ok_or_else(|| anyhow!("FNA for index {idx} without its FNL"))?;
            let f = r.functions.entry(function_name(name)).or_default();
            f.line = line;
            f.hits = f.hits.saturating_add(c);
        }
        // Summaries (recomputed) and records testflow does not model.
        _ => {}
    }
    Ok(())
}

/// A name or path on one LCOV line (names from JSON reports may hold line breaks).
fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['\n', '\r']) {
        s.replace(['\n', '\r'], " ").into()
    } else {
        s.into()
    }
}

/// Write LCOV (the old `FN`/`FNDA` function records, which every reader accepts).
pub fn write(cov: &Coverage) -> String {
    let mut out = String::new();
    for (path, f) in &cov.files {
        let _ = writeln!(out, "SF:{}", one_line(path));
        for (name, func) in &f.functions {
            let _ = writeln!(out, "FN:{},{}", func.line, one_line(name));
        }
        for (name, func) in &f.functions {
            let _ = writeln!(out, "FNDA:{},{}", func.hits, one_line(name));
        }
        let _ = writeln!(out, "FNF:{}", f.functions.len());
        let _ = writeln!(
            out,
            "FNH:{}",
            f.functions.values().filter(|x| x.hits > 0).count()
        );
        let mut brf = 0;
        let mut brh = 0;
        for (line, arms) in &f.branches {
            for (i, h) in arms.iter().enumerate() {
                let _ = writeln!(out, "BRDA:{line},0,{i},{h}");
                brf += 1;
                brh += usize::from(*h > 0);
            }
        }
        let _ = writeln!(out, "BRF:{brf}\nBRH:{brh}");
        for (line, h) in &f.lines {
            let _ = writeln!(out, "DA:{line},{h}");
        }
        let _ = writeln!(out, "LF:{}", f.lines.len());
        let _ = writeln!(out, "LH:{}", f.lines.values().filter(|h| **h > 0).count());
        out.push_str("end_of_record\n");
    }
    out
}

/// Rust symbols as llvm-cov writes them (`_RNv…`, `_ZN…`) demangled without their crate
/// hash, so the copies of one function in several test binaries count as one function.
fn function_name(raw: &str) -> String {
    if (raw.starts_with("_R") || raw.starts_with("_ZN"))
        && let Ok(d) = rustc_demangle::try_demangle(raw)
    {
        return format!("{d:#}");
    }
    raw.to_owned()
}
