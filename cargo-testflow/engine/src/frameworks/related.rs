//! `run --affected` for the Node runners that name their test files related to a change
//! themselves (Jest, Vitest, Playwright Test): the rules around the runner's answer, shared.
//! The runner's own module graph decides which test files reach a change (testflow never
//! parses JavaScript imports); around it testflow keeps Jest's conservative rules and
//! fails safe when the answer cannot be trusted:
//! - a deleted JavaScript or TypeScript source selects every test file: a graph only knows
//!   the files that are there (Jest's issues 7436 and 12052 are the same gap);
//! - a changed or deleted snapshot file selects its test file (snapshots are read, not
//!   imported);
//! - a changed test file the runner does not relate to itself means the runner and
//!   testflow disagree on paths: every test runs (`selection_failed`);
//! - a runner that fails to answer, or cannot be asked the change set, runs every test
//!   with the reason (`selection_failed`, `selection_unavailable`): selection breaking
//!   never skips a test.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::affected::{self, Group, Plan};
use crate::history::History;
use crate::model::Framework;

/// Extensions of the files a Node test's module graph can hold.
pub(crate) const SOURCES: &[&str] = &[
    "js", "jsx", "mjs", "cjs", "ts", "tsx", "mts", "cts", "json", "vue", "svelte",
];

/// Whether `p` is a file a Node module graph can hold.
pub(crate) fn is_source(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| SOURCES.contains(&e))
}

/// What the runner answered: its test files, and those its graph relates to the changed
/// files it was given (absolute paths).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Answer {
    pub all: Vec<PathBuf>,
    pub related: Vec<PathBuf>,
}

/// The runner cannot be asked about this change set (Playwright takes a git revision, not
/// `--changed`'s paths): every test runs, with this reason.
#[derive(Debug)]
pub(crate) struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unavailable {}

/// The runner being asked.
pub(crate) struct Runner<'a> {
    pub framework: Framework,
    /// For people: `Vitest`.
    pub name: &'static str,
    pub root: &'a Path,
    /// What the environment fingerprint reads besides the root's tracked files.
    pub toolchain: String,
}

/// The test file a changed snapshot belongs to: Vitest's and Jest's
/// `__snapshots__/<file>.snap`, Playwright's `<file>-snapshots/…`.
pub(crate) fn snapshot_owner(p: &Path) -> Option<PathBuf> {
    let dir = p.parent()?;
    let dir_name = dir.file_name()?.to_str()?;
    let above = dir.parent()?;
    if dir_name == "__snapshots__" {
        let name = p.file_name()?.to_str()?.strip_suffix(".snap")?;
        return Some(above.join(name));
    }
    let test = dir_name.strip_suffix("-snapshots")?;
    (!test.is_empty()).then(|| above.join(test))
}

fn canon(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_owned())
}

/// `files` canonical, each once, in order (a file in two Vitest projects is one group).
fn unique(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut seen = HashSet::new();
    files
        .iter()
        .map(|p| canon(p))
        .filter(|p| seen.insert(p.clone()))
        .collect()
}

/// The test files to run (ids: relative to the root where inside it); `None`: every one.
/// `ask` is given the changed files that exist (none: only list the test files).
pub(crate) fn select(
    r: &Runner<'_>,
    plan: &Plan,
    history: Option<&History>,
    ask: &mut dyn FnMut(&[PathBuf]) -> Result<Answer>,
) -> Option<Vec<String>> {
    let root = canon(r.root);
    let id = |p: &Path| affected::display(&root, p);
    let existing: Vec<PathBuf> = plan
        .changes
        .iter()
        .flat_map(|c| c.paths().map(Path::to_owned).collect::<Vec<_>>())
        .filter(|p| p.is_file())
        .collect();
    // A deleted test file is no source: its group is simply gone.
    let stored = history
        .and_then(|h| affected::store::load(h, r.framework.as_str(), &root).ok())
        .unwrap_or_default();
    let deleted = plan.full_run.is_none().then(|| {
        plan.changes
            .iter()
            .flat_map(|c| match c.status {
                "deleted" => vec![c.path.clone()],
                _ => c.old_path.iter().cloned().collect(),
            })
            .find(|p| is_source(p) && !p.exists() && !stored.contains_key(&id(p)))
    });
    if let Some(d) = deleted.flatten() {
        // One decision, `*`, without asking the runner: listing would only name the files
        // (and a file that imported `d` may not even load).
        let reason = format!(
            "{} was deleted: {}'s graph only knows the files that are there, so every {} test runs",
            id(&d),
            r.name,
            r.framework.as_str()
        );
        plan.select_all(r.framework, &[], "deleted_source", &reason, vec![id(&d)]);
        return None;
    }
    let query: &[PathBuf] = if plan.full_run.is_some() {
        &[]
    } else {
        &existing
    };
    let answer = match ask(query) {
        Ok(a) => a,
        Err(e) => {
            let (rule, why) = match e.downcast_ref::<Unavailable>() {
                Some(u) => ("selection_unavailable", u.0.clone()),
                None => (
                    "selection_failed",
                    format!(
                        "{} could not say which tests the changes affect: {e:#}",
                        r.name
                    ),
                ),
            };
            let reason = format!("{why}; every {} test runs", r.framework.as_str());
            plan.select_all(r.framework, &[], rule, &reason, vec![]);
            return None;
        }
    };
    let all = unique(&answer.all);
    let ids: Vec<String> = all.iter().map(|p| id(p)).collect();
    let related: HashSet<PathBuf> = answer.related.iter().map(|p| canon(p)).collect();
    let existing: Vec<PathBuf> = existing.iter().map(|p| canon(p)).collect();
    let is_test: HashSet<&PathBuf> = all.iter().collect();
    if let Some(t) = query
        .iter()
        .map(|p| canon(p))
        .find(|p| is_test.contains(p) && !related.contains(p))
    {
        let reason = format!(
            "{} did not relate the changed test file {} to itself (it reads paths differently): every {} test runs",
            r.name,
            id(&t),
            r.framework.as_str()
        );
        plan.select_all(r.framework, &ids, "selection_failed", &reason, vec![id(&t)]);
        return None;
    }
    // A deleted snapshot too: its test then writes (or, under CI, fails on) a new one.
    let snapshots: Vec<(PathBuf, PathBuf)> = plan
        .changes
        .iter()
        .flat_map(|c| c.paths())
        .filter_map(|p| Some((canon(&snapshot_owner(p)?), canon(p))))
        .collect();
    let groups: Vec<Group> = all
        .iter()
        .zip(&ids)
        .map(|(f, gid)| {
            // What the runner relates the file to: itself, and the changes when its graph
            // reaches them (it does not say which), and its changed snapshots.
            let mut deps = vec![f.clone()];
            if related.contains(f) {
                deps.extend(existing.iter().filter(|e| *e != f).cloned());
            }
            deps.extend(
                snapshots
                    .iter()
                    .filter(|(owner, _)| owner == f)
                    .map(|(_, snap)| snap.clone()),
            );
            let tests = plan
                .failing
                .iter()
                .filter(|t| crate::frameworks::file_before_hash(t) == Some(gid.as_str()))
                .cloned()
                .collect();
            Group {
                id: gid.clone(),
                deps,
                tests,
                whole: true,
            }
        })
        .collect();
    let fp = affected::fingerprint(&root, &r.toolchain);
    let sel = plan.select(r.framework, &fp, &groups, history, &is_source);
    if sel.all {
        return None;
    }
    Some(
        groups
            .iter()
            .filter(|g| sel.groups.contains(&g.id) || g.tests.iter().any(|t| sel.tests.contains(t)))
            .map(|g| g.id.clone())
            .collect(),
    )
}

/// `node --version`, for the environment fingerprint.
pub(crate) fn node_version() -> String {
    std::process::Command::new("node")
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::affected::{Mode, Request};

    /// A project with two test files; `a.test.js` imports `a.js` (in the runner's graph).
    fn project() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("src/__snapshots__")).unwrap();
        for f in [
            "src/a.js",
            "src/a.test.js",
            "src/b.test.js",
            "src/__snapshots__/b.test.js.snap",
        ] {
            std::fs::write(root.join(f), "").unwrap();
        }
        (d, root)
    }

    fn plan(root: &Path, changed: &[&str]) -> Plan {
        let req = Request {
            mode: Mode::Select,
            since: None,
            changed: changed.iter().map(PathBuf::from).collect(),
            always_run: vec![],
        };
        Plan::build(root, &req, None).unwrap()
    }

    fn runner(root: &Path) -> Runner<'_> {
        Runner {
            framework: Framework::Vitest,
            name: "Vitest",
            root,
            toolchain: "vitest 4".into(),
        }
    }

    /// The runner's graph: a.test.js reaches a.js; every test file reaches itself.
    fn graph(root: &Path) -> impl FnMut(&[PathBuf]) -> Result<Answer> + '_ {
        move |changed: &[PathBuf]| {
            let all = vec![root.join("src/a.test.js"), root.join("src/b.test.js")];
            let related = all
                .iter()
                .filter(|t| {
                    changed.iter().any(|c| {
                        c == *t || (c.ends_with("src/a.js") && t.ends_with("src/a.test.js"))
                    })
                })
                .cloned()
                .collect();
            Ok(Answer { all, related })
        }
    }

    fn rules(p: &Plan) -> Vec<(String, bool, String)> {
        let mut d: Vec<_> = p
            .record()
            .groups
            .into_iter()
            .map(|g| (g.group, g.selected, g.rule))
            .collect();
        d.sort();
        d
    }

    fn rule(g: &str, selected: bool, rule: &str) -> (String, bool, String) {
        (g.into(), selected, rule.into())
    }

    #[test]
    fn the_runners_graph_selects_once_dependencies_are_recorded() {
        let (_d, root) = project();
        let h = History::open(&root.join(".testflow")).unwrap();
        // First: nothing recorded, both run (and are recorded).
        let p = plan(&root, &["src/a.js"]);
        let got = select(&runner(&root), &p, Some(&h), &mut graph(&root));
        assert_eq!(got.unwrap().len(), 2);
        // Then: only the file whose graph reaches the change.
        let p = plan(&root, &["src/a.js"]);
        let got = select(&runner(&root), &p, Some(&h), &mut graph(&root));
        assert_eq!(got, Some(vec!["src/a.test.js".to_owned()]));
        assert_eq!(
            rules(&p),
            [
                rule("src/a.test.js", true, "changed_dependency"),
                rule("src/b.test.js", false, "unaffected")
            ]
        );
        // A changed snapshot selects its test file, which no module graph relates to it.
        let p = plan(&root, &["src/__snapshots__/b.test.js.snap"]);
        let got = select(&runner(&root), &p, Some(&h), &mut graph(&root));
        assert_eq!(got, Some(vec!["src/b.test.js".to_owned()]));
        // So does a deleted one (no source: no reason to run every file).
        std::fs::remove_file(root.join("src/__snapshots__/b.test.js.snap")).unwrap();
        let p = plan(&root, &["src/__snapshots__/b.test.js.snap"]);
        let got = select(&runner(&root), &p, Some(&h), &mut graph(&root));
        assert_eq!(got, Some(vec!["src/b.test.js".to_owned()]));
        assert!(
            rules(&p).contains(&rule("src/b.test.js", true, "changed_dependency")),
            "{:?}",
            rules(&p)
        );
    }

    #[test]
    fn a_deleted_source_selects_every_test_file() {
        let (_d, root) = project();
        let p = plan(&root, &["src/gone.ts"]);
        let got = select(&runner(&root), &p, None, &mut graph(&root));
        assert_eq!(got, None);
        assert_eq!(rules(&p), [rule("*", true, "deleted_source")]);
        let g = &p.record().groups[0];
        assert_eq!(g.files, ["src/gone.ts"]);
        assert!(g.reason.contains("every vitest test runs"), "{}", g.reason);
        // A deleted file that is no source (a data file) is the graph's business.
        let p = plan(&root, &["notes.txt"]);
        assert!(select(&runner(&root), &p, None, &mut graph(&root)).is_some());
    }

    #[test]
    fn a_runner_that_cannot_answer_runs_everything_with_the_reason() {
        let (_d, root) = project();
        let p = plan(&root, &["src/a.js"]);
        let got = select(&runner(&root), &p, None, &mut |_: &[PathBuf]| {
            anyhow::bail!("Startup Error: boom")
        });
        assert_eq!(got, None);
        let g = &p.record().groups;
        assert_eq!(g.len(), 1);
        assert_eq!(
            (g[0].group.as_str(), g[0].rule.as_str()),
            ("*", "selection_failed")
        );
        assert!(
            g[0].reason.contains("Startup Error: boom"),
            "{}",
            g[0].reason
        );
        assert!(
            g[0].reason.contains("every vitest test runs"),
            "{}",
            g[0].reason
        );
        // One that cannot be asked these changes says so.
        let p = plan(&root, &["src/a.js"]);
        let got = select(&runner(&root), &p, None, &mut |_: &[PathBuf]| {
            Err(Unavailable("no revision".into()).into())
        });
        assert_eq!(got, None);
        assert_eq!(rules(&p), [rule("*", true, "selection_unavailable")]);
    }

    #[test]
    fn a_runner_that_does_not_see_a_changed_test_file_is_not_trusted() {
        let (_d, root) = project();
        let p = plan(&root, &["src/b.test.js"]);
        let blind = |_: &[PathBuf]| -> Result<Answer> {
            Ok(Answer {
                all: vec![root.join("src/a.test.js"), root.join("src/b.test.js")],
                related: vec![],
            })
        };
        let got = select(&runner(&root), &p, None, &mut { blind });
        assert_eq!(got, None);
        let d = rules(&p);
        assert!(
            d.iter().all(|(_, s, r)| *s && r == "selection_failed"),
            "{d:?}"
        );
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn snapshots_belong_to_their_test_file() {
        assert_eq!(
            snapshot_owner(Path::new("/p/src/__snapshots__/a.test.js.snap")),
            Some(PathBuf::from("/p/src/a.test.js"))
        );
        assert_eq!(
            snapshot_owner(Path::new(
                "/p/tests/a.spec.ts-snapshots/shot-chromium-linux.png"
            )),
            Some(PathBuf::from("/p/tests/a.spec.ts"))
        );
        assert_eq!(snapshot_owner(Path::new("/p/src/a.js")), None);
        assert_eq!(
            snapshot_owner(Path::new("/p/src/__snapshots__/notes.txt")),
            None
        );
        assert_eq!(snapshot_owner(Path::new("/p/-snapshots/x.png")), None);
    }

    #[test]
    fn sources_are_what_a_module_graph_holds() {
        for f in ["a.js", "b.tsx", "c.mjs", "d.json", "e.vue"] {
            assert!(is_source(Path::new(f)), "{f}");
        }
        for f in ["a.py", "b.rs", "README.md", "Makefile"] {
            assert!(!is_source(Path::new(f)), "{f}");
        }
    }
}
