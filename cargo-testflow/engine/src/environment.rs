//! What a run records about where it ran: git commit and branch, CI provider, host.

use std::path::Path;

use crate::model::{CiProvider, Environment};

pub fn detect(project_root: &Path) -> Environment {
    let git = |args: &[&str]| -> Option<String> {
        let out = duct::cmd("git", args)
            .dir(project_root)
            .stdin_null()
            .stdout_capture()
            .stderr_null()
            .unchecked()
            .run()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
        (!s.is_empty() && s != "HEAD").then_some(s)
    };
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    Environment {
        git_commit: var("GITHUB_SHA")
            .or_else(|| var("CI_COMMIT_SHA"))
            .or_else(|| git(&["rev-parse", "HEAD"])),
        // CI checkouts are often detached: prefer the CI's own branch variables.
        git_branch: var("GITHUB_HEAD_REF")
            .or_else(|| var("GITHUB_REF_NAME"))
            .or_else(|| var("CI_COMMIT_REF_NAME"))
            .or_else(|| var("CIRCLE_BRANCH"))
            .or_else(|| var("BUILDKITE_BRANCH"))
            .or_else(|| git(&["rev-parse", "--abbrev-ref", "HEAD"])),
        git_tree: worktree_tree(project_root),
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

/// The git tree hash of the working directory as it is now: the index copied to a
/// temporary file, every change added to that copy (`git add -A`: tracked and untracked
/// files, not ignored ones), then `git write-tree`. For a clean checkout that is
/// `HEAD^{tree}`; for a dirty one, the tree of what is on disk, so two runs on different
/// code never share a hash. The user's own index is never touched. `None` outside git
/// or when any step fails (the run then takes no part in cross-run flakiness).
pub fn worktree_tree(project_root: &Path) -> Option<String> {
    let git = |args: &[&str], index: Option<&Path>| -> Option<String> {
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
    };
    let top = git(&["rev-parse", "--show-toplevel"], None).filter(|t| !t.is_empty())?;
    let real_index =
        git(&["rev-parse", "--absolute-git-dir"], None).map(|d| Path::new(&d).join("index"))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let tmp = std::env::temp_dir().join(format!("testflow-index-{}-{nanos}", std::process::id()));
    // The copy keeps the index's stat data: only changed files are hashed again.
    if real_index.is_file() && std::fs::copy(&real_index, &tmp).is_err() {
        return None;
    }
    let tree = git(&["-C", &top, "add", "-A"], Some(&tmp))
        .and_then(|_| git(&["-C", &top, "write-tree"], Some(&tmp)))
        .filter(|t| !t.is_empty());
    let _ = std::fs::remove_file(&tmp);
    tree
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
