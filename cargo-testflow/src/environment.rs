//! What a run records about where it ran: git commit and branch, CI provider, host.

use std::path::Path;

use crate::model::Environment;

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

fn ci_provider(var: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let known = [
        ("GITHUB_ACTIONS", "github"),
        ("GITLAB_CI", "gitlab"),
        ("CIRCLECI", "circleci"),
        ("BUILDKITE", "buildkite"),
        ("JENKINS_URL", "jenkins"),
        ("TF_BUILD", "azure"),
    ];
    known
        .iter()
        .find(|(k, _)| var(k).is_some())
        .map(|(_, name)| (*name).to_owned())
        .or_else(|| var("CI").map(|_| "ci".to_owned()))
}
