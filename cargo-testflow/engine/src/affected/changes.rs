//! The change set of `run --affected`: what git says changed between a base revision and
//! the working tree (staged, unstaged and untracked files), or the paths `--changed`
//! gave. A rename counts as a change to both its old and its new path, so whatever
//! depended on the old path is selected.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// One changed path, absolute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub path: PathBuf,
    /// `added`, `modified`, `deleted`, `renamed`, `copied`, `type_changed`, `untracked`,
    /// `given`.
    pub status: &'static str,
    /// A rename's (or copy's) old path.
    pub old_path: Option<PathBuf>,
}

impl Change {
    /// Every path the change touches (a rename: the old one too).
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        std::iter::once(self.path.as_path()).chain(self.old_path.as_deref())
    }
}

/// `git diff --name-status -z` output: `STATUS\0PATH\0`, or `R100\0OLD\0NEW\0` for renames
/// and copies. Paths are relative to `top` (the repository's top level).
pub fn parse_name_status(text: &str, top: &Path) -> Result<Vec<Change>> {
    let mut fields = text.split('\0').filter(|f| !f.is_empty());
    let mut out = Vec::new();
    while let Some(status) = fields.next() {
        let mut next = |what: &str| {
            fields
                .next()
                .with_context(|| format!("git diff --name-status: `{status}` without its {what}"))
        };
        let letter = status.chars().next().unwrap_or(' ');
        let (path, old_path, status) = match letter {
            'R' | 'C' => {
                let old = next("old path")?;
                let new = next("new path")?;
                let s = if letter == 'R' { "renamed" } else { "copied" };
                (new, Some(top.join(old)), s)
            }
            'A' => (next("path")?, None, "added"),
            'M' => (next("path")?, None, "modified"),
            'D' => (next("path")?, None, "deleted"),
            'T' => (next("path")?, None, "type_changed"),
            // Unmerged, unknown, broken pairing: still a change.
            'U' | 'X' | 'B' => (next("path")?, None, "modified"),
            _ => bail!("git diff --name-status: unknown status `{status}`"),
        };
        out.push(Change {
            path: top.join(path),
            status,
            old_path,
        });
    }
    Ok(out)
}

/// `git ls-files -z` output: one path per NUL.
pub fn parse_paths(text: &str, top: &Path, status: &'static str) -> Vec<Change> {
    text.split('\0')
        .filter(|p| !p.is_empty())
        .map(|p| Change {
            path: top.join(p),
            status,
            old_path: None,
        })
        .collect()
}

/// `--changed PATH`: relative to the project root, or absolute. A path that no longer
/// exists was deleted (whatever depended on it is affected).
pub fn given(root: &Path, paths: &[PathBuf]) -> Vec<Change> {
    paths
        .iter()
        .map(|p| {
            let path = if p.is_absolute() {
                p.clone()
            } else {
                root.join(p)
            };
            let status = if path.symlink_metadata().is_ok() {
                "given"
            } else {
                "deleted"
            };
            Change {
                path,
                status,
                old_path: None,
            }
        })
        .collect()
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .with_context(|| format!("cannot run git {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8(out.stdout)
        .with_context(|| format!("git {}: output is not UTF-8", args.join(" ")))
}

/// The repository's top level, or `None` when `dir` is not in a git work tree.
pub fn toplevel(dir: &Path) -> Option<PathBuf> {
    let top = git(dir, &["rev-parse", "--show-toplevel"]).ok()?;
    let top = PathBuf::from(top.trim());
    // git prints the real path: compare like with like.
    Some(top.canonicalize().unwrap_or(top))
}

/// The commit `rev` names, when it names one.
pub fn commit_of(dir: &Path, rev: &str) -> Option<String> {
    if rev.starts_with('-') {
        return None; // never an option
    }
    git(
        dir,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )
    .ok()
    .map(|s| s.trim().to_owned())
    .filter(|s| !s.is_empty())
}

/// The current branch (`None` when detached).
pub fn branch(dir: &Path) -> Option<String> {
    git(dir, &["symbolic-ref", "--short", "-q", "HEAD"])
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The merge base of HEAD with the default branch (`origin/HEAD`, `main`, `master`,
/// `origin/main`, `origin/master`, the first that exists): the ref and the commit.
pub fn merge_base(dir: &Path) -> Option<(String, String)> {
    [
        "origin/HEAD",
        "main",
        "master",
        "origin/main",
        "origin/master",
    ]
    .iter()
    .find_map(|r| {
        commit_of(dir, r)?;
        let base = git(dir, &["merge-base", "HEAD", r]).ok()?;
        Some((r.to_string(), base.trim().to_owned()))
    })
}

/// Everything that differs between `base` and the working tree: committed since, staged,
/// unstaged, and untracked files that are not ignored.
pub fn since(dir: &Path, top: &Path, base: &str) -> Result<Vec<Change>> {
    let diff = git(
        dir,
        &[
            "diff",
            "--name-status",
            "-z",
            "--find-renames",
            "--no-ext-diff",
            base,
            "--",
        ],
    )?;
    let mut out = parse_name_status(&diff, top)?;
    let untracked = git(top, &["ls-files", "--others", "--exclude-standard", "-z"])?;
    out.extend(parse_paths(&untracked, top, "untracked"));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_status_reads_renames_deletes_and_every_letter() {
        let top = Path::new("/repo");
        let text = "M\0src/lib.rs\0R100\0old/a.py\0new/a.py\0D\0gone.py\0A\0tests/new_test.rs\0C75\0x.js\0y.js\0T\0link\0";
        let c = parse_name_status(text, top).unwrap();
        assert_eq!(c.len(), 6);
        assert_eq!(c[0].path, Path::new("/repo/src/lib.rs"));
        assert_eq!(c[0].status, "modified");
        assert_eq!(c[1].status, "renamed");
        assert_eq!(c[1].path, Path::new("/repo/new/a.py"));
        assert_eq!(c[1].old_path.as_deref(), Some(Path::new("/repo/old/a.py")));
        let touched: Vec<&Path> = c[1].paths().collect();
        assert_eq!(
            touched,
            [Path::new("/repo/new/a.py"), Path::new("/repo/old/a.py")]
        );
        assert_eq!(c[2].status, "deleted");
        assert_eq!(c[3].status, "added");
        assert_eq!(c[4].status, "copied");
        assert_eq!(c[5].status, "type_changed");
    }

    #[test]
    fn damaged_name_status_is_an_error_naming_the_status() {
        let e = parse_name_status("R100\0only-old\0", Path::new("/r")).unwrap_err();
        assert!(format!("{e:#}").contains("R100"), "{e:#}");
        let e = parse_name_status("Z\0x\0", Path::new("/r")).unwrap_err();
        assert!(format!("{e:#}").contains("unknown status `Z`"), "{e:#}");
    }

    #[test]
    fn paths_with_spaces_and_given_paths() {
        let c = parse_paths("a b.py\0dir/c.py\0", Path::new("/r"), "untracked");
        assert_eq!(c[0].path, Path::new("/r/a b.py"));
        assert_eq!(c[1].status, "untracked");
        let g = given(
            Path::new("/root"),
            &[PathBuf::from("x.rs"), PathBuf::from("/abs/y.rs")],
        );
        assert_eq!(g[0].path, Path::new("/root/x.rs"));
        assert_eq!(g[1].path, Path::new("/abs/y.rs"));
    }
}
