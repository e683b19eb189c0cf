//! `run --affected` for go test, at the package grain: a package's tests depend on the
//! files of every package of the project its test binary links (`go list -deps -test`
//! in its module: the `P.test` entry's `Deps`), its own test files and embedded files
//! included. Every module's packages are one selection.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use super::modules::GoModules;
use crate::affected::{self, Group, Plan};
use crate::model::Framework;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Listed {
    import_path: String,
    dir: String,
    go_files: Vec<String>,
    cgo_files: Vec<String>,
    test_go_files: Vec<String>,
    x_test_go_files: Vec<String>,
    embed_files: Vec<String>,
    test_embed_files: Vec<String>,
    x_test_embed_files: Vec<String>,
    c_files: Vec<String>,
    h_files: Vec<String>,
    s_files: Vec<String>,
    deps: Vec<String>,
}

impl Listed {
    fn files(&self) -> impl Iterator<Item = PathBuf> + '_ {
        let dir = Path::new(&self.dir);
        [
            &self.go_files,
            &self.cgo_files,
            &self.test_go_files,
            &self.x_test_go_files,
            &self.embed_files,
            &self.test_embed_files,
            &self.x_test_embed_files,
            &self.c_files,
            &self.h_files,
            &self.s_files,
        ]
        .into_iter()
        .flatten()
        .map(move |f| dir.join(f))
    }
}

/// `ex/p [ex/p.test]` -> `ex/p`.
fn base(import_path: &str) -> &str {
    import_path.split(" [").next().unwrap_or(import_path)
}

/// Each test package's group: its id is the import path, its dependencies the files of
/// the packages under `root` (the project's) its test binary links.
pub(crate) fn groups_of(listing: &str, root: &Path, packages: &[String]) -> Result<Vec<Group>> {
    let mut entries = Vec::new();
    for e in serde_json::Deserializer::from_str(listing).into_iter::<Listed>() {
        entries.push(e.context("go list -deps -test -json printed something else")?);
    }
    // Files of the project's packages (test variants joined to their package).
    let mut files: HashMap<&str, HashSet<PathBuf>> = HashMap::new();
    for e in &entries {
        if Path::new(&e.dir).starts_with(root) {
            files
                .entry(base(&e.import_path))
                .or_default()
                .extend(e.files());
        }
    }
    let mains: HashMap<&str, &Listed> = entries
        .iter()
        .filter_map(|e| Some((e.import_path.strip_suffix(".test")?, e)))
        .collect();
    Ok(packages
        .iter()
        .map(|p| {
            let mut deps: Vec<PathBuf> = match mains.get(p.as_str()) {
                Some(main) => std::iter::once(p.as_str())
                    .chain(main.deps.iter().map(|d| base(d)))
                    .filter_map(|d| files.get(d))
                    .flatten()
                    .cloned()
                    .collect(),
                None => vec![], // unknown: selected
            };
            deps.sort();
            deps.dedup();
            Group {
                id: p.clone(),
                deps,
                tests: vec![],
                whole: true,
            }
        })
        .collect())
}

/// The test packages to run, each with its module's index in `set`; `None`: every one.
/// The modules' groups go to the plan together (one selection for go, as the run
/// records it); a package's dependencies are the files of the project's packages its
/// test binary links, in its own module or another (a `go.work`, a `replace`).
pub(crate) fn select(
    set: &GoModules,
    packages: &[(usize, String)],
    plan: &Plan,
    history: Option<&crate::history::History>,
) -> Result<Option<Vec<(usize, String)>>> {
    let go = &set.go;
    let root = set.root.canonicalize().unwrap_or_else(|_| set.root.clone());
    let version = std::process::Command::new(go)
        .arg("version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut groups: Vec<Group> = Vec::new();
    let mut owner: Vec<usize> = Vec::new();
    let mut prints: Vec<String> = Vec::new();
    for (i, project) in set.modules.iter().enumerate() {
        let mine: Vec<String> = packages
            .iter()
            .filter(|(m, _)| *m == i)
            .map(|(_, p)| p.clone())
            .collect();
        let module_root = project
            .root
            .canonicalize()
            .unwrap_or_else(|_| project.root.clone());
        // Each module's tracked files (go.mod, go.sum) are part of go's environment.
        prints.push(affected::fingerprint(&module_root, &version));
        if mine.is_empty() {
            continue;
        }
        let out = super::go_list(project, go, &["-deps", "-test", "-json", "./..."])?;
        let found = groups_of(&out, &root, &mine)?;
        owner.extend(std::iter::repeat_n(i, found.len()));
        groups.extend(found);
    }
    // A test that failed last time selects its package (go's grain).
    for g in &mut groups {
        let prefix = format!("{}::", g.id);
        g.tests = plan
            .failing
            .iter()
            .filter(|t| t.starts_with(&prefix))
            .cloned()
            .collect();
    }
    // One module: its fingerprint as before modules below the root were run.
    let fp = prints.join("+");
    let claims = |p: &Path| p.extension().is_some_and(|e| e == "go");
    let sel = plan.select(Framework::Go, &fp, &groups, history, &claims);
    if sel.all {
        return Ok(None);
    }
    Ok(Some(
        groups
            .iter()
            .zip(owner)
            .filter(|(g, _)| {
                sel.groups.contains(&g.id) || g.tests.iter().any(|t| sel.tests.contains(t))
            })
            .map(|(g, i)| (i, g.id.clone()))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_binary_depends_on_the_module_packages_it_links() {
        let listing = r#"{"ImportPath":"fmt","Dir":"/go/src/fmt","GoFiles":["print.go"]}
{"ImportPath":"ex/strs","Dir":"/m/strs","GoFiles":["strs.go"]}
{"ImportPath":"ex/calc","Dir":"/m","GoFiles":["calc.go"],"Deps":["ex/strs","fmt"]}
{"ImportPath":"ex/calc [ex/calc.test]","Dir":"/m","GoFiles":["calc.go"],"TestGoFiles":["calc_test.go"],"Deps":["ex/strs","fmt"]}
{"ImportPath":"ex/calc.test","Dir":"/m","GoFiles":["_testmain.go"],"Deps":["ex/calc [ex/calc.test]","ex/strs","fmt"]}
{"ImportPath":"ex/strs [ex/strs.test]","Dir":"/m/strs","GoFiles":["strs.go"],"TestGoFiles":["strs_test.go"]}
{"ImportPath":"ex/strs.test","Dir":"/m/strs","Deps":["ex/strs [ex/strs.test]"]}
"#;
        let g = groups_of(
            listing,
            Path::new("/m"),
            &["ex/calc".into(), "ex/strs".into(), "ex/none".into()],
        )
        .unwrap();
        let names = |i: usize| -> Vec<String> {
            g[i].deps.iter().map(|p| p.display().to_string()).collect()
        };
        assert_eq!(
            names(0),
            [
                "/m/calc.go",
                "/m/calc_test.go",
                "/m/strs/strs.go",
                "/m/strs/strs_test.go"
            ]
        );
        assert_eq!(names(1), ["/m/strs/strs.go", "/m/strs/strs_test.go"]);
        assert!(
            g[2].deps.is_empty(),
            "a package go did not list is unknown (selected)"
        );
        assert!(groups_of("{not json", Path::new("/m"), &[]).is_err());
    }
}
