//! What git ignores is no change: the directories it ignores when watching starts are
//! not watched, and each change set loses the paths it ignores (one `git check-ignore`
//! per set). Outside a git work tree, or without git, nothing more is ignored.

use std::path::Path;

use super::events::ChangeSet;

/// The directories under `root` git ignores now, relative to it, ending in `/` (ignored
/// files are left to [`drop_ignored`]: listing them all would make the filter long).
pub(super) fn ignored_now(root: &Path) -> Vec<String> {
    let out = duct::cmd(
        "git",
        [
            "ls-files",
            "--others",
            "--ignored",
            "--exclude-standard",
            "--directory",
            "-z",
        ],
    )
    .dir(root)
    .stdin_null()
    .stdout_capture()
    .stderr_null()
    .unchecked()
    .run();
    match out {
        Ok(o) if o.status.success() => split_nul(&o.stdout)
            .into_iter()
            .filter(|p| p.ends_with('/'))
            .collect(),
        _ => Vec::new(),
    }
}

/// Remove from `changes` the paths git ignores.
pub(super) fn drop_ignored(root: &Path, changes: &mut ChangeSet) {
    if changes.paths.is_empty() {
        return;
    }
    let mut input = Vec::new();
    for p in &changes.paths {
        input.extend_from_slice(p.as_bytes());
        input.push(0);
    }
    let out = duct::cmd("git", ["check-ignore", "-z", "--stdin"])
        .dir(root)
        .stdin_bytes(input)
        .stdout_capture()
        .stderr_null()
        .unchecked()
        .run();
    // Exit 0: some are ignored; 1: none; anything else (not a repository): no answer.
    if let Ok(o) = out
        && o.status.success()
    {
        for p in split_nul(&o.stdout) {
            changes.paths.remove(&p);
        }
    }
}

fn split_nul(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .filter_map(|s| std::str::from_utf8(s).ok().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn what_git_ignores_is_listed_and_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        git(r, &["init", "-q"]);
        std::fs::write(r.join(".gitignore"), "dist/\n*.log\n").unwrap();
        std::fs::create_dir_all(r.join("dist/js")).unwrap();
        std::fs::write(r.join("dist/js/app.js"), "").unwrap();
        std::fs::write(r.join("debug.log"), "").unwrap();
        std::fs::write(r.join("app.py"), "").unwrap();
        assert_eq!(ignored_now(r), ["dist/"], "directories only");
        let mut changes = ChangeSet::default();
        for p in ["app.py", "dist/new.js", "new.log", "src/a.py"] {
            changes.paths.insert(p.to_owned());
        }
        drop_ignored(r, &mut changes);
        assert_eq!(
            changes.paths.into_iter().collect::<Vec<_>>(),
            ["app.py", "src/a.py"]
        );
    }

    #[test]
    fn outside_a_repository_nothing_more_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ignored_now(dir.path()).is_empty());
        let mut changes = ChangeSet::default();
        changes.paths.insert("a.log".to_owned());
        drop_ignored(dir.path(), &mut changes);
        assert_eq!(changes.paths.len(), 1);
    }
}
