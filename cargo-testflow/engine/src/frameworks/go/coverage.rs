//! `go test -coverprofile` into the run's coverage: go's profile (`mode: set`, then
//! `import/path/file.go:5.24,7.2 1 1` blocks) converted to LCOV, file paths made
//! relative to the project root (through the module's directory), so it merges with the
//! other frameworks' coverage. Each module writes its own profile; they become one LCOV.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::coverage::{Coverage, FileCoverage};

/// The profile the `index`th module's go test writes, in the run's coverage directory.
pub fn profile(index: usize) -> String {
    format!("go.{index}.coverprofile")
}
/// The LCOV it becomes ([`Plugin::coverage_report`](crate::frameworks::Plugin::coverage_report)).
pub const REPORT: &str = "go.lcov";

/// One block of a profile: file, first and last line, statements, count.
fn block(line: &str) -> Option<(&str, u32, u32, u64)> {
    let (loc, rest) = line.rsplit_once(':')?;
    let mut parts = rest.split_whitespace();
    let span = parts.next()?;
    let _statements: u64 = parts.next()?.parse().ok()?;
    let count: u64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    let (start, end) = span.split_once(',')?;
    let start: u32 = start.split_once('.')?.0.parse().ok()?;
    let end: u32 = end.split_once('.')?.0.parse().ok()?;
    (start <= end).then_some((loc, start, end, count))
}

/// Parse a profile. `module` maps import paths to files under the module root, `dir` (the
/// module's directory relative to the project root, `""` for the root) to the project's.
pub fn parse(text: &str, module: &str, dir: &str) -> Result<Coverage> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, first)) if first.starts_with("mode: ") => {}
        _ => bail!("not a go coverage profile (no `mode:` line)"),
    }
    // Counts per (file, block): go repeats a block once per test binary that covers it.
    let mut blocks: BTreeMap<(String, u32, u32), u64> = BTreeMap::new();
    for (i, line) in lines {
        if line.trim().is_empty() || line.starts_with("mode: ") {
            continue;
        }
        let Some((file, start, end, count)) = block(line) else {
            bail!(
                "line {}: not a coverage block: {}",
                i + 1,
                line.chars().take(120).collect::<String>()
            );
        };
        let rel = match file.strip_prefix(module).and_then(|r| r.strip_prefix('/')) {
            Some(r) if !dir.is_empty() => format!("{dir}/{r}"),
            Some(r) => r.to_owned(),
            None => file.to_owned(),
        };
        let e = blocks.entry((rel, start, end)).or_default();
        *e = e.saturating_add(count);
    }
    let mut cov = Coverage::default();
    for ((file, start, end), count) in blocks {
        let f: &mut FileCoverage = cov.files.entry(file).or_default();
        // A line shared by two blocks (`}` of one, `{` of the next) is as covered as the
        // most covered of them.
        for l in start..=end.min(start.saturating_add(100_000)) {
            let hits = f.lines.entry(l).or_default();
            *hits = (*hits).max(count);
        }
    }
    Ok(cov)
}

/// A module whose go test ran with `-coverprofile`: its profile's file name, module path
/// and directory relative to the project root.
#[derive(Clone, Debug)]
pub struct Profiled {
    pub profile: String,
    pub module: String,
    pub dir: String,
}

/// After the run: the profiles of the modules that ran, in `dir`, into `dir/go.lcov`.
pub fn convert(ran: &[Profiled], dir: &Path) -> Result<()> {
    let mut cov = Coverage::default();
    for m in ran {
        let profile = dir.join(&m.profile);
        let text = std::fs::read_to_string(&profile).with_context(|| {
            format!(
                "go test wrote no coverage profile for module {} ({})",
                m.module,
                profile.display()
            )
        })?;
        cov.merge(
            parse(&text, &m.module, &m.dir).with_context(|| format!("{}", profile.display()))?,
        );
    }
    anyhow::ensure!(
        !ran.is_empty(),
        "go test ran in no module: no coverage profile"
    );
    let out = dir.join(REPORT);
    std::fs::write(&out, crate::coverage::lcov::write(&cov))
        .with_context(|| format!("cannot write {}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_become_lines_relative_to_the_module() {
        let cov = parse(
            "mode: set\nex.com/m/calc.go:5.24,7.2 1 1\nex.com/m/calc.go:10.25,11.13 1 0\nex.com/m/calc.go:11.13,13.3 1 1\nex.com/m/strs/s.go:3.1,3.9 1 0\nex.com/m/calc.go:5.24,7.2 1 1\n",
            "ex.com/m",
            "",
        )
        .unwrap();
        let calc = &cov.files["calc.go"];
        assert_eq!(calc.lines[&5], 2, "repeated blocks add up");
        assert_eq!(calc.lines[&10], 0);
        assert_eq!(
            calc.lines[&11], 1,
            "a shared line is as covered as its best block"
        );
        assert_eq!(cov.files["strs/s.go"].lines[&3], 0);
        // A module below the project root: its directory leads its files' paths.
        let sub = parse(
            "mode: set\nex.com/api/h/h.go:1.1,2.2 1 1\nother.com/x.go:1.1,1.2 1 1\n",
            "ex.com/api",
            "services/api",
        )
        .unwrap();
        assert_eq!(
            sub.files.keys().collect::<Vec<_>>(),
            ["other.com/x.go", "services/api/h/h.go"]
        );
    }

    #[test]
    fn a_damaged_profile_names_its_line() {
        assert!(parse("nope\n", "m", "").is_err());
        let e = parse("mode: set\nex/a.go:5.1,3.1 1 1\n", "ex", "").unwrap_err();
        assert!(format!("{e}").contains("line 2"), "{e}");
        assert!(parse("mode: set\nex/a.go:x 1 1\n", "ex", "").is_err());
    }
}
