//! `run --affected` for pytest: one group per collected test file, depending on the file,
//! the conftest.py files above it and the project modules they import (see
//! `affected::python`). Collected with `--collect-only` first (one more pytest start, in
//! `--affected` runs only); the selected files (and single tests that failed last time)
//! become pytest's positional arguments.

use std::collections::HashSet;
use std::path::Path;

use anyhow::Result;

use super::{Collection, PytestSuite};
use crate::affected::{Group, Plan, python::Scanner};
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
    let mut groups: Vec<Group> = super::by_file(
        items
            .iter()
            .map(|id| (super::Pytest.file_of_id(id).to_owned(), id.clone())),
    )
    .into_iter()
    .map(|(file, tests)| Group {
        id: file,
        deps: vec![],
        tests,
        whole: false,
    })
    .collect();
    // A file that does not collect is a group too (its recorded dependencies say why it
    // broke), and always runs: pytest then reports its error.
    let mut known: HashSet<String> = groups.iter().map(|g| g.id.clone()).collect();
    let mut broken: HashSet<String> = HashSet::new();
    for e in &errors {
        let file = super::Pytest.file_of_id(&e.nodeid).to_owned();
        broken.insert(file.clone());
        if known.insert(file.clone()) {
            groups.push(Group {
                id: file,
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
    let fp = super::observed::fingerprint(&root, python);
    // What the tests executed or opened, where a run recorded it: files no import names.
    if let Some(h) = history {
        super::observed::add_recorded(&mut groups, h, &plan.root, &fp);
    }
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
    // Tests selected on their own outside the chosen files (by set: thousands of tests).
    let in_chosen: HashSet<&String> = chosen.iter().flat_map(|g| &g.tests).collect();
    let extra = sel.tests.iter().filter(|t| !in_chosen.contains(t)).count();
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
