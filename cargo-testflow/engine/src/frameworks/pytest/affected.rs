//! `run --affected` for pytest: one group per collected test file, depending on the file,
//! the conftest.py files above it and the project modules they import (see
//! `affected::python`). Collected with `--collect-only` first (one more pytest start, in
//! `--affected` runs only); the selected files (and single tests that failed last time)
//! become pytest's positional arguments.

use std::path::Path;

use anyhow::Result;

use super::{Collection, PytestSuite};
use crate::affected::{self, Group, Plan, python::Scanner};
use crate::model::Framework;

/// What pytest runs: `None` every test; `Some(args)` the node ids and files to pass
/// (empty: nothing is affected, pytest does not start).
pub(crate) fn select(
    suite: &PytestSuite,
    python: &Path,
    plan: &Plan,
    history: Option<&crate::history::History>,
) -> Result<Option<Selected>> {
    let Collection { items, errors } = suite.collect_with(python)?;
    let root = suite
        .root
        .canonicalize()
        .unwrap_or_else(|_| suite.root.clone());
    let mut groups: Vec<Group> = Vec::new();
    for id in &items {
        let file = super::Pytest.file_of_id(id);
        match groups.iter_mut().find(|g| g.id == file) {
            Some(g) => g.tests.push(id.clone()),
            None => groups.push(Group {
                id: file.to_owned(),
                deps: vec![],
                tests: vec![id.clone()],
                whole: false,
            }),
        }
    }
    // A file that does not collect is a group too (its recorded dependencies say why it
    // broke), and always runs: pytest then reports its error.
    let broken: Vec<String> = errors
        .iter()
        .map(|e| super::Pytest.file_of_id(&e.nodeid).to_owned())
        .collect();
    for file in &broken {
        if !groups.iter().any(|g| &g.id == file) {
            groups.push(Group {
                id: file.clone(),
                deps: vec![],
                tests: vec![],
                whole: false,
            });
        }
    }
    let mut scanner = Scanner::new(&root);
    for g in &mut groups {
        g.deps = scanner.dependencies(&root.join(&g.id));
    }
    let version = std::process::Command::new(python)
        .arg("-VV")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let toolchain = format!("{}\n{version}", python.display());
    let fp = affected::fingerprint(&root, &toolchain);
    let claims = |p: &Path| p.extension().is_some_and(|e| e == "py");
    let sel = plan.select(Framework::Pytest, &fp, &groups, history, &claims);
    if sel.all {
        return Ok(None);
    }
    let chosen: Vec<&Group> = groups
        .iter()
        .filter(|g| sel.groups.contains(&g.id) || broken.contains(&g.id))
        .collect();
    let mut args: Vec<String> = chosen.iter().map(|g| g.id.clone()).collect();
    let extra = sel
        .tests
        .iter()
        .filter(|t| !chosen.iter().any(|g| g.tests.contains(t)))
        .count();
    args.extend(sel.tests.iter().cloned());
    let tests = chosen.iter().map(|g| g.tests.len()).sum::<usize>() + extra;
    Ok(Some(Selected {
        args,
        tests: tests as u64,
        collected: items.len() as u64,
    }))
}

/// What `--affected` leaves pytest to run.
pub(crate) struct Selected {
    /// Files and node ids, for pytest's command line.
    pub(crate) args: Vec<String>,
    /// The tests they hold, of the `collected` ones (the workers decision scales the last
    /// run's work by it).
    pub(crate) tests: u64,
    pub(crate) collected: u64,
}
