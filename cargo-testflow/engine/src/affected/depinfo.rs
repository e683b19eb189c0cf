//! The compiler's dep-info files (`target/<profile>/deps/<crate>-<hash>.d`, make syntax):
//! every source file a crate was built from, `include_str!`ed files included.

use std::path::{Path, PathBuf};

/// The files a dep-info text names (every rule's prerequisites, each once, in order).
/// Relative paths are resolved against `base` (rustc is run from the workspace root).
/// `\ ` is an escaped space; `#` lines (`# env-dep:`) are comments.
pub fn parse(text: &str, base: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    // Continuation lines (a trailing `\`) join their rule.
    let joined = text.replace("\\\n", " ");
    for line in joined.lines() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(colon) = rule_colon(line) else {
            continue;
        };
        for word in split_words(&line[colon + 1..]) {
            let p = Path::new(&word);
            let p = if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            };
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// The `:` that ends a rule's target (not one inside a Windows drive or escaped).
fn rule_colon(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    (0..bytes.len()).find(|&i| {
        bytes[i] == b':'
            && (i == 0 || bytes[i - 1] != b'\\')
            && bytes.get(i + 1).is_none_or(|b| *b == b' ' || *b == b'\t')
    })
}

fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => {
                cur.push(' ');
                chars.next();
            }
            ' ' | '\t' => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// The dep-info files in `deps_dir` of crate `crate_name` (`<name>-<16 hex>.d`), every
/// build of it (profiles' and features' hashes): their union is conservative.
pub fn files_of_crate(deps_dir: &Path, crate_name: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(deps_dir) else {
        return Vec::new();
    };
    let prefix = format!("{crate_name}-");
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(&prefix))
                .and_then(|rest| rest.strip_suffix(".d"))
                .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rustc_dep_info_with_relative_paths_comments_and_escapes() {
        let text = "/ws/target/debug/deps/app-0123456789abcdef: crates/app/src/main.rs crates/app/src/my\\ mod.rs /abs/include.txt\n\n/ws/target/debug/deps/libapp-0123456789abcdef.rmeta: crates/app/src/main.rs\n\ncrates/app/src/main.rs:\ncrates/app/src/my\\ mod.rs:\n\n# env-dep:CARGO_PKG_NAME=app\n";
        let files = parse(text, Path::new("/ws"));
        assert_eq!(
            files,
            [
                PathBuf::from("/ws/crates/app/src/main.rs"),
                PathBuf::from("/ws/crates/app/src/my mod.rs"),
                PathBuf::from("/abs/include.txt"),
            ]
        );
    }

    #[test]
    fn continuation_lines_and_empty_input() {
        let text = "out: a.rs \\\n  b.rs\n";
        assert_eq!(
            parse(text, Path::new("/w")),
            [PathBuf::from("/w/a.rs"), PathBuf::from("/w/b.rs")]
        );
        assert!(parse("", Path::new("/w")).is_empty());
        assert!(parse("garbage without a rule", Path::new("/w")).is_empty());
    }

    #[test]
    fn finds_every_build_of_a_crate_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        for n in [
            "core-0123456789abcdef.d",
            "core-fedcba9876543210.d",
            "core_extra-0123456789abcdef.d",
            "core-short.d",
            "core-0123456789abcdef",
        ] {
            std::fs::write(dir.path().join(n), "").unwrap();
        }
        let found = files_of_crate(dir.path(), "core");
        assert_eq!(found.len(), 2, "{found:?}");
    }
}
