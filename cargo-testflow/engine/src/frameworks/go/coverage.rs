//! `go test -coverprofile` into the run's coverage: go's profile (`mode: set`, then
//! `import/path/file.go:5.24,7.2 1 1` blocks) converted to LCOV, file paths made
//! relative to the module root, so it merges with the other frameworks' coverage.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::coverage::{Coverage, FileCoverage};

/// The profile go writes, in the run's coverage directory.
pub const PROFILE: &str = "go.coverprofile";
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

/// Parse a profile. `module` maps import paths to files under the module root.
pub fn parse(text: &str, module: &str) -> Result<Coverage> {
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
        let rel = file
            .strip_prefix(module)
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or(file);
        let e = blocks.entry((rel.to_owned(), start, end)).or_default();
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

/// After the run: the profile in `dir` into `dir/go.lcov`.
pub fn convert(root: &Path, dir: &Path) -> Result<()> {
    let profile = dir.join(PROFILE);
    let text = std::fs::read_to_string(&profile)
        .with_context(|| format!("go test wrote no coverage profile ({})", profile.display()))?;
    let go_mod = std::fs::read_to_string(root.join("go.mod")).unwrap_or_default();
    let module = super::module_path(&go_mod).unwrap_or_default();
    let cov = parse(&text, &module).with_context(|| format!("{}", profile.display()))?;
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
    }

    #[test]
    fn a_damaged_profile_names_its_line() {
        assert!(parse("nope\n", "m").is_err());
        let e = parse("mode: set\nex/a.go:5.1,3.1 1 1\n", "ex").unwrap_err();
        assert!(format!("{e}").contains("line 2"), "{e}");
        assert!(parse("mode: set\nex/a.go:x 1 1\n", "ex").is_err());
    }
}
