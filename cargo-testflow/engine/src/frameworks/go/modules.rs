//! Which Go modules a project holds: every `go.mod` at the project root or below, and,
//! where a `go.work` ties modules together, the modules its `use` directives name (read
//! with `go work edit -json`, go's own reading of the file).
//!
//! The walk skips what `go test ./...` skips (directories named `testdata` or `vendor`,
//! or starting with `.` or `_`), other tools' installed or built trees (`node_modules`,
//! `target`) and test fixture trees (`fixtures`, where projects that test tools live,
//! failing by design: testflow's own `tests/fixtures/go-*`): a Go module there is a
//! dependency or an input of a test, not a suite. It honours git's ignore rules too (a
//! generated or downloaded tree). A module under a `go.work` that the `go.work` does not
//! use is left out with a note: go itself refuses to run its tests there.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

/// What the walk found: directories relative to the project root (`""`: the root),
/// `/`-separated, sorted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Directories with a `go.mod`.
    pub modules: Vec<String>,
    /// Directories with a `go.work`.
    pub workspaces: Vec<String>,
}

/// Directory names the walk does not enter.
fn skipped(name: &str) -> bool {
    name.starts_with('.')
        || name.starts_with('_')
        || matches!(
            name,
            "testdata" | "vendor" | "node_modules" | "target" | "fixtures"
        )
}

/// Walk `root` for `go.mod` and `go.work` files, with git's ignore rules (`.gitignore`
/// files, `.git/info/exclude`, the global excludes: a module in an ignored tree, such as
/// a generated or downloaded one, is no suite of the project) and [`skipped`]. Symbolic
/// links to directories are not followed: no loops, nothing outside the project.
/// `first`: stop at the first one (detection).
fn walk(root: &Path, first: bool) -> Scan {
    let mut scan = Scan::default();
    let walker = ignore::WalkBuilder::new(root)
        .standard_filters(true)
        .follow_links(false)
        .filter_entry(|e| {
            e.depth() == 0
                || !e.file_type().is_some_and(|t| t.is_dir())
                || e.file_name().to_str().is_some_and(|n| !skipped(n))
        })
        .build();
    for entry in walker.flatten() {
        let (Some(kind), Some(name)) = (entry.file_type(), entry.file_name().to_str()) else {
            continue;
        };
        if !matches!(name, "go.mod" | "go.work") {
            continue;
        }
        // A symbolic link to a file counts as that file, as `is_file` would say.
        if !(kind.is_file() || (kind.is_symlink() && entry.path().is_file())) {
            continue;
        }
        let Some(rel) = entry
            .path()
            .parent()
            .and_then(|d| d.strip_prefix(root).ok())
            .map(relative)
        else {
            continue;
        };
        if name == "go.mod" {
            scan.modules.push(rel);
        } else {
            scan.workspaces.push(rel);
        }
        if first {
            break;
        }
    }
    scan.modules.sort();
    scan.workspaces.sort();
    scan
}

/// A path below the root as the walk names it: `/`-separated, `""` for the root.
fn relative(p: &Path) -> String {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => n.to_str(),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every `go.mod` and `go.work` at `root` or below.
pub fn scan(root: &Path) -> Scan {
    walk(root, false)
}

/// Whether `root` or a directory below it holds a Go module or workspace.
pub fn any(root: &Path) -> bool {
    let s = walk(root, true);
    !(s.modules.is_empty() && s.workspaces.is_empty())
}

/// `name` in the directory `rel` (relative to the root, `""`: the root).
pub fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_owned()
    } else {
        format!("{rel}/{name}")
    }
}

/// `rel` is `dir` or below it.
fn under(rel: &str, dir: &str) -> bool {
    dir.is_empty() || rel == dir || rel.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// `a/./b/../c` -> `a/c`, relative to the project root; `None` when it leaves the root.
fn normalize(rel: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => parts.push(n.to_str()?.to_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

/// `go work edit -json`'s `Use` entries.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct WorkFile {
    #[serde(rename = "Use")]
    uses: Option<Vec<Use>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Use {
    disk_path: String,
}

/// The module directories a `go.work` in `dir` (relative to `root`) uses, relative to
/// `root`; `Err(path)` for one outside the project.
fn uses(root: &Path, go: &Path, dir: &str) -> Result<Vec<Result<String, String>>> {
    let file = root.join(dir).join("go.work");
    let out = std::process::Command::new(go)
        .args(["work", "edit", "-json"])
        .arg(&file)
        .current_dir(root.join(dir))
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run {} work edit", go.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "`go work edit -json` cannot read {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let work: WorkFile = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "`go work edit -json {}` printed something else",
            file.display()
        )
    })?;
    Ok(work
        .uses
        .unwrap_or_default()
        .into_iter()
        .map(|u| {
            let p = Path::new(&u.disk_path);
            let joined = if p.is_absolute() {
                p.strip_prefix(root).map(Path::to_owned).ok()
            } else {
                Some(Path::new(dir).join(p))
            };
            joined.and_then(|j| normalize(&j)).ok_or(u.disk_path)
        })
        .collect())
}

/// The modules a run drives and lines for people about the ones it leaves out.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// Module directories relative to the root, sorted (the root module first).
    pub modules: Vec<String>,
    pub notes: Vec<String>,
}

/// The modules of `scan`: a module under a `go.work` (the nearest one above it, as go
/// finds it) runs when that `go.work` uses it; modules a `go.work` uses are found even in
/// directories the walk skips. `GOWORK=off` (go's own switch) ignores every `go.work`.
pub fn layout(root: &Path, go: &Path, scan: &Scan) -> Result<Layout> {
    let work_off = std::env::var_os("GOWORK").is_some_and(|v| v == "off");
    let workspaces: &[String] = if work_off { &[] } else { &scan.workspaces };
    let mut read = Vec::new();
    for w in workspaces {
        read.push((w.clone(), uses(root, go, w)?));
    }
    Ok(decide(&scan.modules, read))
}

/// [`layout`] once each `go.work` is read: `read` holds each one's directory and its
/// `use` entries ([`uses`]).
fn decide(found: &[String], read: Vec<(String, Vec<Result<String, String>>)>) -> Layout {
    let mut used: Vec<(String, BTreeSet<String>)> = Vec::new();
    let mut notes = Vec::new();
    let mut modules: BTreeSet<String> = BTreeSet::new();
    for (w, entries) in read {
        let mut set = BTreeSet::new();
        for u in entries {
            match u {
                Ok(m) => {
                    set.insert(m);
                }
                Err(path) => notes.push(format!(
                    "go: {} uses {path}, outside the project: its tests are not run",
                    join(&w, "go.work")
                )),
            }
        }
        used.push((w, set));
    }
    // The nearest go.work above a directory: the longest that holds it.
    let nearest = |rel: &str| {
        used.iter()
            .filter(|(w, _)| under(rel, w))
            .max_by_key(|(w, _)| w.len())
    };
    for m in found {
        match nearest(m) {
            None => {
                modules.insert(m.clone());
            }
            Some((_, set)) if set.contains(m) => {
                modules.insert(m.clone());
            }
            Some((w, _)) => notes.push(format!(
                "go: {} is not used by {} (go runs no tests there): add it with `go work use`",
                join(m, "go.mod"),
                join(w, "go.work")
            )),
        }
    }
    for (w, set) in &used {
        for m in set {
            // Used by the go.work go picks for it (a deeper go.work decides for its own).
            if nearest(m).is_some_and(|(n, _)| n == w) {
                modules.insert(m.clone());
            }
        }
    }
    Layout {
        modules: modules.into_iter().collect(),
        notes,
    }
}

/// `rel` (a module's directory relative to the root) as people read it: `.` for the root.
pub fn shown(rel: &str) -> &str {
    if rel.is_empty() { "." } else { rel }
}

/// The absolute directory of `rel`.
pub fn dir_of(root: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        root.to_owned()
    } else {
        root.join(rel)
    }
}

/// The modules of one run, opened: the ones that cannot run are build errors of their own
/// (the others still run).
#[derive(Debug)]
pub struct GoModules {
    /// The project root.
    pub root: PathBuf,
    pub go: PathBuf,
    pub modules: Vec<super::GoProject>,
    /// Modules that cannot run, by their `go.mod`, and why.
    pub broken: Vec<(String, String)>,
    /// Modules left out, for people.
    pub notes: Vec<String>,
}

impl GoModules {
    /// Find and open the modules of `root`. No module at all, or no working `go`, is an
    /// [`EnvironmentError`](crate::frameworks::EnvironmentError).
    pub fn open(root: &Path) -> Result<GoModules> {
        let env = |m: String| anyhow::Error::new(crate::frameworks::EnvironmentError(m));
        let found = scan(root);
        if found.modules.is_empty() && found.workspaces.is_empty() {
            return Err(env(format!(
                "no Go module: no go.mod in {} or below",
                root.display()
            )));
        }
        let go = super::ready(root)?;
        let layout = layout(root, &go, &found).map_err(|e| env(format!("{e:#}")))?;
        let mut set = GoModules {
            root: root.to_owned(),
            go,
            modules: Vec::new(),
            broken: Vec::new(),
            notes: layout.notes,
        };
        for rel in &layout.modules {
            let go_mod = join(rel, "go.mod");
            match super::GoProject::open_in(root, rel) {
                // Ids are `<import path>::<test>`: two modules with one path would share ids.
                Ok(p) => match set.modules.iter().find(|o| o.module == p.module) {
                    Some(first) => set.broken.push((
                        go_mod,
                        format!(
                            "it declares module {}, as {} does: their test ids would be the same; give one of them another module path",
                            p.module,
                            join(&first.rel, "go.mod")
                        ),
                    )),
                    None => set.modules.push(p),
                },
                Err(e) => set.broken.push((go_mod, format!("{e:#}"))),
            }
        }
        if set.modules.is_empty() && set.broken.is_empty() {
            return Err(env(format!(
                "no Go module to run in {}: {}",
                root.display(),
                set.notes.join("; ")
            )));
        }
        Ok(set)
    }

    /// The user's package patterns (`run -- ./go/strs/...`), each given to the module
    /// that holds it: a path is relative to the project root and becomes relative to its
    /// module (a recursive one also reaches the modules below it); an import path pattern
    /// goes to the module whose path it starts with. Per module, and the patterns no
    /// module holds. A lone module at the root takes them as given (go's own reading).
    pub fn route(&self, patterns: &[&str]) -> (Vec<Vec<String>>, Vec<String>) {
        let mut out = vec![Vec::new(); self.modules.len()];
        let mut unmatched = Vec::new();
        if let [only] = &self.modules[..]
            && only.rel.is_empty()
        {
            out[0] = patterns.iter().map(|p| (*p).to_owned()).collect();
            return (out, unmatched);
        }
        // The deepest module that holds `dir`.
        let owner = |dir: &str| {
            self.modules
                .iter()
                .enumerate()
                .filter(|(_, m)| under(dir, &m.rel))
                .max_by_key(|(_, m)| m.rel.len())
                .map(|(i, _)| i)
        };
        for &pattern in patterns {
            let before = out.iter().map(Vec::len).sum::<usize>();
            if pattern == "." || pattern.starts_with("./") {
                let p = pattern.strip_prefix('.').unwrap_or(pattern);
                let p = p.strip_prefix('/').unwrap_or(p);
                let cut = p.find("...").unwrap_or(p.len());
                let dir = p[..cut].trim_end_matches('/');
                let tail = &p[dir.len()..];
                let tail = if tail.is_empty() || tail.starts_with('/') {
                    tail.to_owned()
                } else {
                    format!("/{tail}")
                };
                let Some(dir) = normalize(Path::new(dir)) else {
                    unmatched.push(pattern.to_owned());
                    continue;
                };
                if let Some(i) = owner(&dir) {
                    let inner = dir[self.modules[i].rel.len()..].trim_start_matches('/');
                    out[i].push(if inner.is_empty() {
                        format!(".{tail}")
                    } else {
                        format!("./{inner}{tail}")
                    });
                }
                if cut < p.len() {
                    for (i, m) in self.modules.iter().enumerate() {
                        if m.rel != dir && under(&m.rel, &dir) {
                            out[i].push(format!(".{tail}"));
                        }
                    }
                }
            } else {
                let owner = self
                    .modules
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| {
                        pattern.strip_prefix(m.module.as_str()).is_some_and(|r| {
                            r.is_empty() || r.starts_with('/') || r.starts_with("...")
                        })
                    })
                    .max_by_key(|(_, m)| m.module.len());
                if let Some((i, _)) = owner {
                    out[i].push(pattern.to_owned());
                }
            }
            if out.iter().map(Vec::len).sum::<usize>() == before {
                unmatched.push(pattern.to_owned());
            }
        }
        (out, unmatched)
    }

    /// The broken modules as build errors.
    pub fn report_broken(&self, ctx: &crate::runner::Ctx) {
        for (go_mod, why) in &self.broken {
            ctx.run_error(
                crate::model::error_kind::BUILD,
                format!("{go_mod}: go test cannot run this module: {why}"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn the_walk_finds_modules_below_the_root_and_skips_what_go_skips() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for rel in [
            "go/go.mod",
            "services/api/go.mod",
            "services/go.work",
            "node_modules/x/go.mod",
            "target/debug/go.mod",
            "go/testdata/fixture/go.mod",
            "tests/fixtures/go-basic/go.mod",
            "go/vendor/ex.com/v/go.mod",
            ".git/go.mod",
            "_old/go.mod",
        ] {
            touch(root, rel, "module ex.com/x\n");
        }
        let s = scan(root);
        assert_eq!(s.modules, ["go", "services/api"]);
        assert_eq!(s.workspaces, ["services"]);
        assert!(any(root));
        // In a git checkout, an ignored tree is left out too.
        std::fs::create_dir_all(root.join(".git")).unwrap();
        touch(root, ".gitignore", "/bench/work/\n");
        touch(
            root,
            "bench/work/runners/go/go.mod",
            "module ex.com/bench\n",
        );
        touch(root, "bench/suite/go.mod", "module ex.com/suite\n");
        assert_eq!(scan(root).modules, ["bench/suite", "go", "services/api"]);
        let empty = tempfile::tempdir().unwrap();
        touch(empty.path(), "node_modules/x/go.mod", "module x\n");
        assert!(!any(empty.path()));
    }

    fn set(modules: &[(&str, &str)]) -> GoModules {
        GoModules {
            root: PathBuf::from("/p"),
            go: PathBuf::from("go"),
            modules: modules
                .iter()
                .map(|(rel, module)| super::super::GoProject {
                    root: dir_of(Path::new("/p"), rel),
                    module: (*module).to_owned(),
                    project_root: PathBuf::from("/p"),
                    rel: (*rel).to_owned(),
                    sources: Default::default(),
                })
                .collect(),
            broken: vec![],
            notes: vec![],
        }
    }

    #[test]
    fn package_patterns_go_to_the_module_that_holds_them() {
        let s = set(&[
            ("", "ex.com/r"),
            ("go", "ex.com/g"),
            ("services/api", "ex.com/api"),
        ]);
        let (per, unmatched) = s.route(&[
            "./go/strs/...",
            "./services/...",
            "./go",
            "./cmd",
            "ex.com/api/...",
            "./../x/...",
            "other.com/...",
        ]);
        // The root module holds services/ too (it may have packages there).
        assert_eq!(per[0], ["./services/...", "./cmd"]);
        assert_eq!(per[1], ["./strs/...", "."]);
        assert_eq!(per[2], ["./...", "ex.com/api/..."]);
        assert_eq!(unmatched, ["./../x/...", "other.com/..."]);
        // `./...` at the root: every module, each its own `./...`.
        let (per, _) = s.route(&["./..."]);
        assert!(per.iter().all(|p| p == &["./..."]), "{per:?}");
        // No module at the root: a path outside every module is in none.
        let below = set(&[("go", "ex.com/g")]);
        let (per, unmatched) = below.route(&["./docs/...", "./..."]);
        assert_eq!(per[0], ["./..."]);
        assert_eq!(unmatched, ["./docs/..."]);
        // A lone root module: as given (go reads them).
        let (per, unmatched) = set(&[("", "ex.com/r")]).route(&["./../x", "y/..."]);
        assert_eq!(per[0], ["./../x", "y/..."]);
        assert!(unmatched.is_empty());
    }

    #[test]
    fn the_nearest_go_work_decides_for_the_modules_below_it() {
        // As `scan` gives them: sorted.
        let found: Vec<String> = ["", "extra", "lib", "solo", "svc/a", "svc/b"]
            .map(str::to_owned)
            .into();
        let read = vec![
            // The root's go.work: itself, lib, a module the walk skipped, one outside.
            (
                String::new(),
                vec![
                    Ok(String::new()),
                    Ok("lib".into()),
                    Ok("_gen/m".into()),
                    Err("../elsewhere".into()),
                    // svc has a go.work of its own: it decides for svc/.
                    Ok("svc/b".into()),
                ],
            ),
            ("svc".into(), vec![Ok("svc/a".into())]),
        ];
        let l = decide(&found, read);
        assert_eq!(l.modules, ["", "_gen/m", "lib", "svc/a"]);
        assert_eq!(
            l.notes,
            [
                "go: go.work uses ../elsewhere, outside the project: its tests are not run",
                "go: extra/go.mod is not used by go.work (go runs no tests there): add it with `go work use`",
                "go: solo/go.mod is not used by go.work (go runs no tests there): add it with `go work use`",
                "go: svc/b/go.mod is not used by svc/go.work (go runs no tests there): add it with `go work use`",
            ]
        );
        // No go.work: every module found runs.
        assert_eq!(decide(&found, vec![]).modules, found);
    }

    #[test]
    fn paths_are_normalized_inside_the_root_only() {
        assert_eq!(normalize(Path::new("w/./a")).as_deref(), Some("w/a"));
        assert_eq!(normalize(Path::new("w/../b")).as_deref(), Some("b"));
        assert_eq!(normalize(Path::new("w/..")).as_deref(), Some(""));
        assert_eq!(normalize(Path::new("../x")), None);
        assert!(under("a/b", "a") && under("a", "a") && under("a", ""));
        assert!(!under("ab", "a"));
    }
}
