//! Cobertura XML (coverage.py `coverage xml`, cargo-llvm-cov `--cobertura`, Jest's
//! `cobertura` reporter): `<sources>`, then `<class filename>` with `<lines><line number
//! hits [branch condition-coverage="50% (1/2)"]>` and `<methods><method name>` each with
//! its own lines. Branch arms are known only as taken/total, so they are read as 1 or 0.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::{Coverage, FileCoverage};

fn attr(e: &BytesStart<'_>, key: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == key)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// `50% (1/2)` → (1, 2).
fn condition(s: &str) -> Option<(u64, u64)> {
    let inner = s.split_once('(')?.1.split_once(')')?.0;
    let (t, n) = inner.split_once('/')?;
    let (t, n): (u64, u64) = (t.trim().parse().ok()?, n.trim().parse().ok()?);
    (t <= n && n <= 1 << 16).then_some((t, n))
}

pub fn parse(bytes: &[u8], name: &str, root: &Path) -> Result<Coverage> {
    let mut reader = Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut cov = Coverage::default();
    let mut sources: Vec<String> = Vec::new();
    let mut in_source = false;
    let mut saw_root = false;
    let mut depth: usize = 0;
    let mut class: Option<(String, FileCoverage)> = None;
    let mut method: Option<(String, Option<(u32, u64)>)> = None;
    loop {
        let pos = reader.buffer_position();
        let ev = reader.read_event_into(&mut buf).with_context(|| {
            format!("{name}: invalid XML near byte {}", reader.error_position())
        })?;
        let bad = |msg: String| anyhow!("{name}: byte {pos}: {msg}");
        let (e, empty) = match ev {
            Event::Start(e) => {
                depth += 1;
                (e, false)
            }
            Event::Empty(e) => (e, true),
            Event::Text(t) if in_source => {
                let s = t
                    .decode()
                    .map_err(|e| bad(format!("bad text in <source>: {e}")))?;
                if let Some(last) = sources.last_mut() {
                    last.push_str(&s);
                }
                buf.clear();
                continue;
            }
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                match e.name().as_ref() {
                    b"source" => in_source = false,
                    b"method" => finish_method(&mut method, &mut class),
                    b"class" => finish_class(&mut class, &mut cov),
                    _ => {}
                }
                buf.clear();
                continue;
            }
            Event::Eof => break,
            _ => {
                buf.clear();
                continue;
            }
        };
        match e.name().as_ref() {
            b"coverage" => saw_root = true,
            b"source" if !empty => {
                in_source = true;
                sources.push(String::new());
            }
            b"class" => {
                if !saw_root {
                    bail!(bad("<class> outside <coverage>".into()));
                }
                let file = attr(&e, b"filename")
                    .ok_or_else(|| bad("<class> without a filename".into()))?;
                let path = resolve(&file, &sources, root);
                class = Some((path, FileCoverage::default()));
                if empty {
                    finish_class(&mut class, &mut cov);
                }
            }
            b"method" if class.is_some() => {
                let n = attr(&e, b"name").ok_or_else(|| bad("<method> without a name".into()))?;
                method = Some((n, None));
                if empty {
                    finish_method(&mut method, &mut class);
                }
            }
            b"line" => {
                let number: u32 = attr(&e, b"number")
                    .and_then(|n| n.trim().parse().ok())
                    .ok_or_else(|| bad("<line> without a valid number".into()))?;
                let hits_s = attr(&e, b"hits").unwrap_or_default();
                let hits: u64 = hits_s.trim().parse().map_err(|_| {
                    bad(format!(
                        "<line number=\"{number}\"> has bad hits `{hits_s}`"
                    ))
                })?;
                if let Some((_, first)) = method.as_mut() {
                    if first.is_none() {
                        *first = Some((number, hits));
                    }
                } else if let Some((_, f)) = class.as_mut() {
                    let h = f.lines.entry(number).or_insert(0);
                    *h = h.saturating_add(hits);
                    if attr(&e, b"branch").as_deref() == Some("true")
                        && let Some((t, n)) = attr(&e, b"condition-coverage")
                            .as_deref()
                            .and_then(condition)
                    {
                        let arms = (0..n).map(|i| u64::from(i < t)).collect();
                        f.branches.insert(number, arms);
                    }
                }
            }
            _ => {}
        }
        buf.clear();
    }
    if !saw_root {
        bail!("{name}: not Cobertura XML (no <coverage> element)");
    }
    if depth != 0 || class.is_some() {
        bail!(
            "{name}: byte {}: truncated: {depth} element(s) not closed",
            bytes.len()
        );
    }
    Ok(cov)
}

fn finish_method(
    method: &mut Option<(String, Option<(u32, u64)>)>,
    class: &mut Option<(String, FileCoverage)>,
) {
    if let (Some((n, first)), Some((_, f))) = (method.take(), class.as_mut()) {
        let (line, hits) = first.unwrap_or((0, 0));
        let e = f.functions.entry(n).or_default();
        e.line = line;
        e.hits = e.hits.saturating_add(hits);
    }
}

fn finish_class(class: &mut Option<(String, FileCoverage)>, cov: &mut Coverage) {
    if let Some((path, f)) = class.take() {
        match cov.files.get_mut(&path) {
            Some(existing) => existing.merge(f),
            None => {
                cov.files.insert(path, f);
            }
        }
    }
}

/// A class's file: relative to the first `<source>` where it exists, else the first one.
fn resolve(file: &str, sources: &[String], root: &Path) -> String {
    let joined = if Path::new(file).is_absolute() || sources.is_empty() {
        file.to_owned()
    } else {
        let pick = sources
            .iter()
            .find(|s| Path::new(s.trim()).join(file).exists())
            .unwrap_or(&sources[0]);
        Path::new(pick.trim())
            .join(file)
            .to_string_lossy()
            .into_owned()
    };
    super::normalize_path(&joined, root)
}

fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

fn rate(covered: u64, total: u64) -> String {
    if total == 0 {
        "1".to_owned()
    } else {
        format!("{:.4}", covered as f64 / total as f64)
    }
}

/// Write Cobertura XML: one package per directory, one class per file.
pub fn write(cov: &Coverage) -> String {
    let t = cov.totals();
    let mut out = String::from("<?xml version=\"1.0\" ?>\n");
    let _ = writeln!(
        out,
        "<coverage version=\"testflow {}\" timestamp=\"0\" lines-valid=\"{}\" lines-covered=\"{}\" line-rate=\"{}\" branches-valid=\"{}\" branches-covered=\"{}\" branch-rate=\"{}\" complexity=\"0\">",
        env!("CARGO_PKG_VERSION"),
        t.lines.total,
        t.lines.covered,
        rate(t.lines.covered, t.lines.total),
        t.branches.total,
        t.branches.covered,
        rate(t.branches.covered, t.branches.total)
    );
    out.push_str("\t<sources>\n\t\t<source>.</source>\n\t</sources>\n\t<packages>\n");
    let mut packages: std::collections::BTreeMap<String, Vec<(&String, &FileCoverage)>> =
        Default::default();
    for (p, f) in &cov.files {
        let dir = p.rsplit_once('/').map_or("", |(d, _)| d);
        packages
            .entry(dir.replace('/', "."))
            .or_default()
            .push((p, f));
    }
    for (pkg, files) in &packages {
        let mut pt = super::Totals::default();
        files.iter().for_each(|(_, f)| pt.add(&f.totals()));
        let _ = writeln!(
            out,
            "\t\t<package name=\"{}\" line-rate=\"{}\" branch-rate=\"{}\" complexity=\"0\">\n\t\t\t<classes>",
            esc(if pkg.is_empty() { "." } else { pkg }),
            rate(pt.lines.covered, pt.lines.total),
            rate(pt.branches.covered, pt.branches.total)
        );
        for (path, f) in files {
            let ft = f.totals();
            let class_name = path.rsplit_once('/').map_or(path.as_str(), |(_, n)| n);
            let _ = writeln!(
                out,
                "\t\t\t\t<class name=\"{}\" filename=\"{}\" line-rate=\"{}\" branch-rate=\"{}\" complexity=\"0\">",
                esc(class_name),
                esc(path),
                rate(ft.lines.covered, ft.lines.total),
                rate(ft.branches.covered, ft.branches.total)
            );
            out.push_str("\t\t\t\t\t<methods>\n");
            for (name, func) in &f.functions {
                let _ = writeln!(
                    out,
                    "\t\t\t\t\t\t<method name=\"{}\" signature=\"\" line-rate=\"{}\" branch-rate=\"1\" complexity=\"0\">\n\t\t\t\t\t\t\t<lines>\n\t\t\t\t\t\t\t\t<line number=\"{}\" hits=\"{}\"/>\n\t\t\t\t\t\t\t</lines>\n\t\t\t\t\t\t</method>",
                    esc(name),
                    if func.hits > 0 { "1" } else { "0" },
                    func.line,
                    func.hits
                );
            }
            out.push_str("\t\t\t\t\t</methods>\n\t\t\t\t\t<lines>\n");
            for (line, hits) in &f.lines {
                match f.branches.get(line).filter(|a| !a.is_empty()) {
                    Some(arms) => {
                        let taken = arms.iter().filter(|h| **h > 0).count();
                        let _ = writeln!(
                            out,
                            "\t\t\t\t\t\t<line number=\"{line}\" hits=\"{hits}\" branch=\"true\" condition-coverage=\"{}% ({taken}/{})\"/>",
                            taken * 100 / arms.len(),
                            arms.len()
                        );
                    }
                    None => {
                        let _ =
                            writeln!(out, "\t\t\t\t\t\t<line number=\"{line}\" hits=\"{hits}\"/>");
                    }
                }
            }
            out.push_str("\t\t\t\t\t</lines>\n\t\t\t\t</class>\n");
        }
        out.push_str("\t\t\t</classes>\n\t\t</package>\n");
    }
    out.push_str("\t</packages>\n</coverage>\n");
    out
}
