//! `run --affected` for Playwright Test: Playwright's own dependency graph decides.
//! `playwright test --list --reporter=json` gives every test file, and with
//! `--only-changed=<base>` (Playwright 1.46+) the files whose import graph (what its
//! loader recorded while loading them) reaches a file changed since `base`; the selected
//! files then run as positional file filters through the usual driver.
//!
//! `--only-changed` takes a git revision, not a list of files: Playwright computes the
//! change set itself, `git diff <base>` (committed, staged and unstaged changes, as
//! testflow's) plus the untracked files under its configuration's directory. testflow
//! hands it the same base commit, so both see the same changes. With `--changed` paths
//! (watch mode) there is no base: when git's changes since `HEAD` hold every path given,
//! `HEAD` is asked (a superset is safe). What it cannot express runs every Playwright test
//! (`selection_unavailable`): other `--changed` paths, and untracked sources outside the
//! project, where Playwright does not look. The rules around the answer are in
//! `frameworks::related`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::PlaywrightProject;
use crate::affected::{Plan, changes};
use crate::frameworks::related::{self, Answer, Runner, Unavailable};
use crate::model::Framework;

/// The test files of a listing, absolute.
fn files_of(root: &Path, tests: &[crate::frameworks::ListedTest]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = tests
        .iter()
        .filter_map(|t| t.file.as_deref())
        .map(|f| root.join(f))
        .collect();
    files.sort();
    files.dedup();
    files
}

fn listed(project: &PlaywrightProject, extra: &[String]) -> Result<Vec<PathBuf>> {
    let (tests, problems) = super::list_tests_with(&project.root, &project.bin, extra)?;
    if let Some(p) = problems.first() {
        anyhow::bail!("{p}");
    }
    Ok(files_of(&project.root, &tests))
}

/// The revision Playwright's `--only-changed` compares with to see `plan`'s changes: the
/// base; with `--changed` paths (watch mode), `HEAD` when git's changes since it hold
/// every one of them (a superset is safe). `Err`: why it cannot be asked.
pub fn revision(plan: &Plan, root: &Path) -> Result<String, String> {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    let outside = plan.changes.iter().find(|c| {
        c.status == "untracked" && !c.path.starts_with(&root) && related::is_source(&c.path)
    });
    if let Some(c) = outside {
        return Err(format!(
            "{} is untracked and outside the Playwright project, where --only-changed does \
             not look",
            c.path.display()
        ));
    }
    if let Some(base) = &plan.base {
        return Ok(base.clone());
    }
    let no_revision = "Playwright's --only-changed takes a git revision, and these changes \
                       (--changed) are not all changes since HEAD";
    let top = changes::toplevel(&root).ok_or_else(|| no_revision.to_owned())?;
    let since_head: HashSet<PathBuf> = changes::since(&root, &top, "HEAD")
        .map_err(|e| format!("{no_revision}: {e:#}"))?
        .iter()
        .flat_map(|c| c.paths().map(Path::to_owned).collect::<Vec<_>>())
        .collect();
    let missing = plan
        .changes
        .iter()
        .flat_map(|c| c.paths())
        .find(|p| !since_head.contains(*p));
    match missing {
        Some(p) => Err(format!(
            "{no_revision} ({} is unchanged since HEAD)",
            p.display()
        )),
        None => Ok("HEAD".to_owned()),
    }
}

fn ask(project: &PlaywrightProject, plan: &Plan, changed: &[PathBuf]) -> Result<Answer> {
    if changed.is_empty() {
        return Ok(Answer {
            all: listed(project, &[])?,
            related: vec![],
        });
    }
    let rev = revision(plan, &project.root).map_err(Unavailable)?;
    // Two Playwright start-ups, side by side.
    let (all, related) = std::thread::scope(|s| {
        let all = s.spawn(|| listed(project, &[]));
        let related = listed(project, &[format!("--only-changed={rev}")]);
        let all = all
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("listing Playwright's tests panicked")));
        (all, related)
    });
    Ok(Answer {
        all: all?,
        related: related?,
    })
}

/// The test files to run (relative to the project root); `None`: every one.
pub(crate) fn select(
    project: &PlaywrightProject,
    plan: &Plan,
    history: Option<&crate::history::History>,
) -> Option<Vec<String>> {
    let runner = Runner {
        framework: Framework::Playwright,
        name: "Playwright",
        root: &project.root,
        toolchain: format!("{}\n{}", project.bin.display(), related::node_version()),
    };
    related::select(&runner, plan, history, &mut |changed: &[PathBuf]| {
        ask(project, plan, changed)
    })
}

/// The positional filter that runs the test file `id` (relative to the project root, or
/// absolute): Playwright reads each as a regular expression over the absolute path, so
/// the path is escaped and anchored at a directory boundary and the end.
pub fn file_filter(id: &str) -> String {
    let mut escaped = String::with_capacity(id.len() + 8);
    for c in id.chars() {
        if "\\^$.*+?()[]{}|/".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    if id.starts_with('/') {
        format!("^{escaped}$")
    } else {
        format!("(?:^|/){escaped}$")
    }
}
