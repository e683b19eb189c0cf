//! `run --affected` for Jest: Jest's own dependency graph decides. `jest --listTests`
//! gives every test file, `--findRelatedTests <changed files>` the ones whose module graph
//! reaches a change; the selected files run with `--runTestsByPath`. The rules around
//! Jest's answer are the other Node runners' (`frameworks::related`): a deleted
//! JavaScript or TypeScript source selects every Jest test (Jest cannot see what a deleted
//! file was imported by: its issues 7436, 12052), and a listing that fails runs every Jest
//! test with the error (`selection_failed`) instead of failing the run.

use std::path::PathBuf;

use anyhow::Result;

use super::JestProject;
use crate::affected::Plan;
use crate::frameworks::related::{self, Answer, Runner};
use crate::model::Framework;

fn ask(project: &JestProject, changed: &[PathBuf]) -> Result<Answer> {
    let listed = |args: &[&std::ffi::OsStr]| -> Result<Vec<PathBuf>> {
        let files = super::list_tests(&project.jest_bin, &project.root, args)?;
        Ok(files.into_iter().map(PathBuf::from).collect())
    };
    let all = listed(&[])?;
    // Jest's graph holds the files under its root only.
    let root = project
        .root
        .canonicalize()
        .unwrap_or_else(|_| project.root.clone());
    let inside: Vec<&std::ffi::OsStr> = changed
        .iter()
        .filter(|p| p.starts_with(&root))
        .map(|p| p.as_os_str())
        .collect();
    let related = if inside.is_empty() {
        vec![]
    } else {
        let mut args = vec![std::ffi::OsStr::new("--findRelatedTests")];
        args.extend(inside);
        listed(&args)?
    };
    Ok(Answer { all, related })
}

/// The test files to run (relative to the project root); `None`: every one.
pub(crate) fn select(
    project: &JestProject,
    plan: &Plan,
    history: Option<&crate::history::History>,
) -> Option<Vec<String>> {
    let runner = Runner {
        framework: Framework::Jest,
        name: "Jest",
        root: &project.root,
        toolchain: format!(
            "{}\n{}",
            project.jest_bin.display(),
            related::node_version()
        ),
    };
    related::select(&runner, plan, history, &mut |changed: &[PathBuf]| {
        ask(project, changed)
    })
}
