//! What a run records about where it ran: git commit and branch, CI provider, host.

use std::path::Path;

use crate::model::{CiProvider, Environment};

/// What git says about the checkout (with the CI's own variables preferred). It is the
/// slow part of the environment: three git processes, one of them hashing every changed
/// file, so a run asks for it on a thread of its own (`store::Recording::git`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Git {
    pub commit: Option<String>,
    pub branch: Option<String>,
    pub tree: Option<String>,
}

/// Everything a run records about where it ran except git's facts (no process is started).
pub fn without_git() -> Environment {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    Environment {
        git_commit: None,
        git_branch: None,
        git_tree: None,
        ci: ci_provider(&var),
        hostname: var("HOSTNAME").or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
        }),
        os: std::env::consts::OS.into(),
        arch: std::env::consts::ARCH.into(),
        rust_isolation: None,
    }
}

pub fn git(project_root: &Path) -> Git {
    let git =
        |args: &[&str]| git_in(project_root, args, None).filter(|s| !s.is_empty() && s != "HEAD");
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    // One git process for the four facts; a checkout without a commit (or outside git)
    // fails that call, and then each is asked on its own as before.
    let facts = rev_parse_all(project_root);
    let fact = |i: usize| facts.as_ref().map(|f| f[i].clone()).filter(|s| s != "HEAD");
    let (commit, branch) = match &facts {
        Some(_) => (fact(2), fact(3)),
        None => (
            git(&["rev-parse", "HEAD"]),
            git(&["rev-parse", "--abbrev-ref", "HEAD"]),
        ),
    };
    let tree = match &facts {
        Some([top, git_dir, ..]) => tree_of(project_root, top, Path::new(git_dir)),
        None => worktree_tree(project_root),
    };
    Git {
        commit: var("GITHUB_SHA")
            .or_else(|| var("CI_COMMIT_SHA"))
            .or(commit),
        // CI checkouts are often detached: prefer the CI's own branch variables.
        branch: var("GITHUB_HEAD_REF")
            .or_else(|| var("GITHUB_REF_NAME"))
            .or_else(|| var("CI_COMMIT_REF_NAME"))
            .or_else(|| var("CIRCLE_BRANCH"))
            .or_else(|| var("BUILDKITE_BRANCH"))
            .or(branch),
        tree,
    }
}

/// `git` asked on a thread of its own, so the tests start without waiting for it. Its
/// answer is taken with `wait`; dropping it waits too, so no git process outlives the run.
pub struct PendingGit(Option<std::thread::JoinHandle<Git>>, std::path::PathBuf);

impl PendingGit {
    pub fn start(project_root: &Path) -> PendingGit {
        let root = project_root.to_owned();
        let handle = std::thread::Builder::new()
            .name("testflow-git".into())
            .spawn(move || git(&root))
            .ok();
        PendingGit(handle, project_root.to_owned())
    }

    pub fn wait(mut self) -> Git {
        match self.0.take().map(|h| h.join()) {
            Some(Ok(git)) => git,
            // No thread could be started (or it panicked): ask here.
            _ => git(&self.1),
        }
    }
}

impl Drop for PendingGit {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

/// The git tree hash of the working directory as it is now: the index copied to a
/// temporary file, every change added to that copy (`git add -A`: tracked and untracked
/// files, not ignored ones), then `git write-tree`. For a clean checkout that is
/// `HEAD^{tree}`; for a dirty one, the tree of what is on disk, so two runs on different
/// code never share a hash. The user's own index is never touched. `None` outside git
/// or when any step fails (the run then takes no part in cross-run flakiness).
pub fn worktree_tree(project_root: &Path) -> Option<String> {
    let top =
        git_in(project_root, &["rev-parse", "--show-toplevel"], None).filter(|t| !t.is_empty())?;
    let git_dir = git_in(project_root, &["rev-parse", "--absolute-git-dir"], None)?;
    tree_of(project_root, &top, Path::new(&git_dir))
}

/// `git rev-parse --show-toplevel --absolute-git-dir HEAD --abbrev-ref HEAD`: the
/// checkout's top, its git directory, the commit and the branch (`HEAD` when detached),
/// when git answers all four.
fn rev_parse_all(project_root: &Path) -> Option<[String; 4]> {
    let args = [
        "rev-parse",
        "--show-toplevel",
        "--absolute-git-dir",
        "HEAD",
        "--abbrev-ref",
        "HEAD",
    ];
    let out = git_in(project_root, &args, None)?;
    let lines: Vec<String> = out.lines().map(|l| l.trim().to_owned()).collect();
    let facts: [String; 4] = lines.try_into().ok()?;
    facts.iter().all(|f| !f.is_empty()).then_some(facts)
}

/// `worktree_tree` once the checkout's top and git directory are known.
fn tree_of(project_root: &Path, top: &str, git_dir: &Path) -> Option<String> {
    let real_index = git_dir.join("index");
    let git = |args: &[&str], index: Option<&Path>| git_in(project_root, args, index);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let tmp = std::env::temp_dir().join(format!("testflow-index-{}-{nanos}", std::process::id()));
    // The copy keeps the index's stat data: only changed files are hashed again.
    if real_index.is_file() && std::fs::copy(&real_index, &tmp).is_err() {
        return None;
    }
    let tree = git(&["-C", top, "add", "-A"], Some(&tmp))
        .and_then(|_| git(&["-C", top, "write-tree"], Some(&tmp)))
        .filter(|t| !t.is_empty());
    let _ = std::fs::remove_file(&tmp);
    tree
}

/// One git command in `project_root` (with another index file when given): its trimmed
/// stdout, `None` when it cannot run or fails.
fn git_in(project_root: &Path, args: &[&str], index: Option<&Path>) -> Option<String> {
    let mut cmd = duct::cmd("git", args)
        .dir(project_root)
        .stdin_null()
        .stdout_capture()
        .stderr_null()
        .unchecked();
    if let Some(i) = index {
        cmd = cmd.env("GIT_INDEX_FILE", i);
    }
    let out = cmd.run().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_owned())
}

fn ci_provider(var: &dyn Fn(&str) -> Option<String>) -> Option<CiProvider> {
    let known = [
        ("GITHUB_ACTIONS", CiProvider::Github),
        ("GITLAB_CI", CiProvider::Gitlab),
        ("CIRCLECI", CiProvider::Circleci),
        ("BUILDKITE", CiProvider::Buildkite),
        ("JENKINS_URL", CiProvider::Jenkins),
        ("TF_BUILD", CiProvider::Azure),
    ];
    known
        .into_iter()
        .find(|(k, _)| var(k).is_some())
        .map(|(_, ci)| ci)
        .or_else(|| var("CI").map(|_| CiProvider::Ci))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The environment with git's answer, as a run's fold ends up with it.
    fn detect(root: &Path) -> Environment {
        let facts = super::git(root);
        Environment {
            git_commit: facts.commit,
            git_branch: facts.branch,
            git_tree: facts.tree,
            ..without_git()
        }
    }

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    #[test]
    fn the_checkout_is_described_with_and_without_a_commit() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q", "-b", "trunk"]);
        std::fs::write(root.join("a.txt"), "a").unwrap();
        // No commit yet: no commit or branch, but the tree of what is on disk.
        let unborn = detect(root);
        assert_eq!(unborn.git_commit, None);
        assert_eq!(unborn.git_branch, None);
        assert!(unborn.git_tree.is_some());
        git(root, &["add", "a.txt"]);
        git(root, &["commit", "-q", "-m", "one"]);
        std::fs::create_dir(root.join("sub")).unwrap();
        let env = detect(&root.join("sub"));
        if std::env::var_os("GITHUB_SHA").is_none() && std::env::var_os("CI_COMMIT_SHA").is_none() {
            assert_eq!(
                env.git_commit.as_deref(),
                Some(git(root, &["rev-parse", "HEAD"]).as_str())
            );
        }
        assert_eq!(env.git_tree, Some(git(root, &["rev-parse", "HEAD^{tree}"])));
        assert_eq!(env.git_tree, unborn.git_tree, "the same files on disk");
        // Detached: no branch from git.
        git(root, &["checkout", "-q", "--detach"]);
        let ci_branch = [
            "GITHUB_HEAD_REF",
            "GITHUB_REF_NAME",
            "CI_COMMIT_REF_NAME",
            "CIRCLE_BRANCH",
            "BUILDKITE_BRANCH",
        ]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
        if !ci_branch {
            assert_eq!(env.git_branch.as_deref(), Some("trunk"));
            assert_eq!(detect(root).git_branch, None);
        }
    }
}
