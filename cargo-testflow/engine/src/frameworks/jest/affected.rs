//! `run --affected` for Jest: Jest's own dependency graph decides. `jest --listTests`
//! gives every test file, `--findRelatedTests <changed files>` the ones whose module graph
//! reaches a change; the selected files run with `--runTestsByPath`. Jest cannot see
//! what a deleted file was imported by (its issues 7436, 12052), so a deleted JavaScript
//! or TypeScript source selects every Jest test.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::JestProject;
use crate::affected::{self, Group, Plan};
use crate::model::Framework;

const SOURCES: &[&str] = &[
    "js", "jsx", "mjs", "cjs", "ts", "tsx", "mts", "cts", "json", "snap",
];

fn list(project: &JestProject, related: Option<&[PathBuf]>) -> Result<Vec<PathBuf>> {
    let mut cmd = std::process::Command::new(&project.jest_bin);
    cmd.args(["--listTests", "--json"])
        .current_dir(&project.root)
        .env("CI", "true")
        .stdin(std::process::Stdio::null());
    if let Some(files) = related {
        cmd.arg("--findRelatedTests").args(files);
    }
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {}", project.jest_bin.display()))?;
    if !out.status.success() {
        anyhow::bail!(
            "jest --listTests in {} ended with {}: {}",
            project.root.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // The JSON array is the last line (Jest may print notices before it).
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('['))
        .unwrap_or("[]");
    let files: Vec<String> = serde_json::from_str(line).with_context(|| {
        format!(
            "jest --listTests --json printed something else: {}",
            line.chars().take(200).collect::<String>()
        )
    })?;
    Ok(files.into_iter().map(PathBuf::from).collect())
}

/// The test files to run (relative to the project root); `None`: every one.
pub(crate) fn select(
    project: &JestProject,
    plan: &Plan,
    history: Option<&crate::history::History>,
) -> Result<Option<Vec<String>>> {
    let root = project
        .root
        .canonicalize()
        .unwrap_or_else(|_| project.root.clone());
    let all = list(project, None)?;
    let existing: Vec<PathBuf> = plan
        .changes
        .iter()
        .flat_map(|c| c.paths().map(Path::to_owned).collect::<Vec<_>>())
        .filter(|p| p.is_file() && p.starts_with(&root))
        .collect();
    let related: Vec<PathBuf> = if plan.full_run.is_some() || existing.is_empty() {
        vec![]
    } else {
        list(project, Some(&existing))?
    };
    let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_owned());
    let related: Vec<PathBuf> = related.iter().map(|p| canon(p)).collect();
    let groups: Vec<Group> = all
        .iter()
        .map(|f| {
            let f = canon(f);
            let id = affected::display(&root, &f);
            // What Jest relates the file to: itself, and the changes when its graph
            // reaches them (Jest does not say which).
            let mut deps = vec![f.clone()];
            if related.contains(&f) {
                deps.extend(existing.iter().filter(|e| **e != f).cloned());
            }
            let tests = plan
                .failing
                .iter()
                .filter(|t| {
                    crate::frameworks::Plugin::file_of(&super::Jest, t) == Some(id.as_str())
                })
                .cloned()
                .collect();
            Group {
                id,
                deps,
                tests,
                whole: true,
            }
        })
        .collect();
    let version = std::process::Command::new("node")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let fp = affected::fingerprint(&root, &format!("{}\n{version}", project.jest_bin.display()));
    let claims = |p: &Path| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| SOURCES.contains(&e))
    };
    let sel = plan.select(Framework::Jest, &fp, &groups, history, &claims);
    if sel.all {
        return Ok(None);
    }
    let files: Vec<String> = groups
        .iter()
        .filter(|g| sel.groups.contains(&g.id) || g.tests.iter().any(|t| sel.tests.contains(t)))
        .map(|g| g.id.clone())
        .collect();
    Ok(Some(files))
}
