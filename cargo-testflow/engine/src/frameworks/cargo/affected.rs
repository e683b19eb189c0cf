//! `run --affected` for the cargo workspace: each test binary depends on the files its
//! crate was built from (its dep-info file) and on those of the workspace libraries it
//! links (its package's own library, and its path dependencies, transitively), read from
//! the same directory's dep-info files. A package's doctests depend on its library.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Package, RustTest, TestBinary, Workspace};
use crate::affected::{self, Group, Plan, Selected, depinfo};
use crate::model::Framework;

/// The files of `pkg`'s library (every build of it in `deps_dir`) and its build script.
fn lib_files(ws: &Workspace, pkg: &Package, deps_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if !pkg.lib_name.is_empty() {
        let crate_name = pkg.lib_name.replace('-', "_");
        for d in depinfo::files_of_crate(deps_dir, &crate_name) {
            if let Ok(text) = std::fs::read_to_string(&d) {
                out.extend(depinfo::parse(&text, &ws.root));
            }
        }
    }
    let build = pkg.dir.join("build.rs");
    if build.is_file() {
        out.push(build);
    }
    out
}

/// `pkg` and the workspace packages it depends on by path, transitively.
fn closure<'a>(
    pkg: &'a Arc<Package>,
    by_name: &HashMap<&str, &'a Arc<Package>>,
) -> Vec<&'a Arc<Package>> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    let mut queue = vec![pkg];
    while let Some(p) = queue.pop() {
        if !seen.insert(p.name.as_str()) {
            continue;
        }
        out.push(p);
        for d in &p.path_deps {
            if let Some(dep) = by_name.get(d.as_str()) {
                queue.push(dep);
            }
        }
    }
    out
}

/// The groups of the workspace: one per test binary, one per package's doctests.
pub(crate) fn groups(
    ws: &Workspace,
    binaries: &[Arc<TestBinary>],
    tests: &[RustTest],
    doctest_packages: &[String],
) -> Vec<Group> {
    let by_name: HashMap<&str, &Arc<Package>> =
        ws.packages().map(|p| (p.name.as_str(), p)).collect();
    let mut libs: HashMap<(String, PathBuf), Vec<PathBuf>> = HashMap::new();
    let mut lib_of = |pkg: &Package, deps_dir: &Path| -> Vec<PathBuf> {
        libs.entry((pkg.name.clone(), deps_dir.to_owned()))
            .or_insert_with(|| lib_files(ws, pkg, deps_dir))
            .clone()
    };
    let mut out = Vec::new();
    for b in binaries {
        let deps_dir = b.exe.parent().unwrap_or(Path::new(".")).to_owned();
        let mut deps = std::fs::read_to_string(b.exe.with_extension("d"))
            .map(|t| depinfo::parse(&t, &ws.root))
            .unwrap_or_default();
        // Without its own dep-info nothing is known: the group stays empty (selected).
        if !deps.is_empty() {
            for p in closure(&b.package, &by_name) {
                deps.extend(lib_of(p, &deps_dir));
            }
            deps.sort();
            deps.dedup();
        }
        out.push(Group {
            id: b.id.clone(),
            deps,
            tests: tests
                .iter()
                .filter(|t| Arc::ptr_eq(&t.binary, b))
                .map(|t| t.meta.id.clone())
                .collect(),
            whole: false,
        });
    }
    for name in doctest_packages {
        let Some(pkg) = by_name.get(name.as_str()) else {
            continue;
        };
        let deps_dir = binaries
            .iter()
            .find_map(|b| b.exe.parent().map(Path::to_owned))
            .unwrap_or_else(|| ws.target_dir.join("debug").join("deps"));
        let mut deps: Vec<PathBuf> = Vec::new();
        for p in closure(pkg, &by_name) {
            deps.extend(lib_of(p, &deps_dir));
        }
        deps.sort();
        deps.dedup();
        // Markdown files a doc comment includes are in the dep-info too.
        out.push(Group {
            id: super::doctest_shard_item(name),
            deps,
            tests: vec![],
            whole: false,
        });
    }
    out
}

/// The compiler's version (`rustc -vV`): part of the environment fingerprint. cargo keeps
/// that very output in the target directory for the compiler it just built with
/// (`.rustc_info.json`, reset whenever that compiler changes), so it is read from there;
/// running `rustc -vV` (through rustup's proxy, ~20 ms of CPU a run) only when it is not.
fn toolchain(target_dir: &Path) -> String {
    if let Some(v) = cached_rustc_version(target_dir) {
        return v;
    }
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    std::process::Command::new(rustc)
        .arg("-vV")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The one `rustc -vV` output in cargo's `.rustc_info.json` (`outputs.*.stdout`), if
/// there is exactly one: two would mean the file mixes compilers, and then rustc is asked.
fn cached_rustc_version(target_dir: &Path) -> Option<String> {
    let text = std::fs::read(target_dir.join(".rustc_info.json")).ok()?;
    let info: serde_json::Value = serde_json::from_slice(&text).ok()?;
    let mut found = info
        .get("outputs")?
        .as_object()?
        .values()
        .filter(|o| o.get("success").and_then(|s| s.as_bool()) == Some(true))
        .filter_map(|o| o.get("stdout")?.as_str())
        .filter(|out| out.starts_with("rustc ") && out.contains("\nbinary: rustc\n"));
    let version = found.next()?;
    found.next().is_none().then(|| version.to_owned())
}

/// Select the workspace's affected tests: the test ids (and `pkg::doctest` items) to keep,
/// or `None` to keep everything.
pub(crate) fn select(
    plan: &Plan,
    history: Option<&crate::history::History>,
    ws: &Workspace,
    binaries: &[Arc<TestBinary>],
    tests: &[RustTest],
    doctest_packages: &[String],
) -> Option<HashSet<String>> {
    let groups = groups(ws, binaries, tests, doctest_packages);
    let fp = affected::fingerprint(&ws.root, &toolchain(&ws.target_dir));
    let claims = |p: &Path| p.extension().is_some_and(|e| e == "rs");
    let sel: Selected = plan.select(Framework::Rust, &fp, &groups, history, &claims);
    if sel.all {
        return None;
    }
    let mut keep: HashSet<String> = sel.tests.iter().cloned().collect();
    for g in &groups {
        if sel.groups.contains(&g.id) {
            keep.extend(g.tests.iter().cloned());
            if g.tests.is_empty() {
                keep.insert(g.id.clone()); // a doctest item
            }
        }
    }
    Some(keep)
}

/// Record the workspace's dependencies on a run without `--affected`, so a later
/// `--affected` run has them: in the history at `history_path`, and in `run_dir` as an
/// `--affected` run keeps them (`merge` carries a CI shard's into the history the next
/// pipeline restores, so a default branch's plain runs refresh it too). The dep-info
/// files are read here (a few small files); `rustc -vV` for the fingerprint and the
/// writes run on a thread of their own, with their own connection to the history, so the
/// tests need not wait for them. `None` when no thread could start: nothing is recorded,
/// and the next run records again.
pub(crate) fn record_in_background(
    history_path: &Path,
    run_dir: &Path,
    ws: &Workspace,
    binaries: &[Arc<TestBinary>],
    tests: &[RustTest],
    doctest_packages: &[String],
) -> Option<std::thread::JoinHandle<()>> {
    let groups: Vec<Group> = groups(ws, binaries, tests, doctest_packages)
        .into_iter()
        .filter(|g| !g.deps.is_empty())
        .collect();
    let root = ws.root.clone();
    let target_dir = ws.target_dir.clone();
    let store_root = history_path.parent()?.to_owned();
    let run_dir = run_dir.to_owned();
    std::thread::Builder::new()
        .name("testflow-deps".into())
        .spawn(move || {
            let fp = affected::fingerprint(&root, &toolchain(&target_dir));
            let canonical = root.canonicalize().unwrap_or(root);
            // Derived data: a failed write only costs a wider selection next time.
            let record = affected::store::DepsRecord::of(Framework::Rust, &fp, &canonical, &groups);
            let _ = affected::store::add_deps(&run_dir, record);
            if let Ok(h) = crate::history::History::open(&store_root) {
                let rows: Vec<(String, Vec<PathBuf>)> =
                    groups.into_iter().map(|g| (g.id, g.deps)).collect();
                let _ = affected::store::save(&h, Framework::Rust.as_str(), &canonical, &fp, &rows);
            }
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::cached_rustc_version;

    #[test]
    fn the_compiler_version_is_read_from_cargos_cache_when_it_holds_one() {
        let dir = tempfile::tempdir().unwrap();
        let vv = "rustc 1.95.0 (59807616e 2026-04-14)\nbinary: rustc\nrelease: 1.95.0\n";
        let write = |outputs: serde_json::Value| {
            let info =
                serde_json::json!({"rustc_fingerprint": 1, "outputs": outputs, "successes": {}});
            std::fs::write(dir.path().join(".rustc_info.json"), info.to_string()).unwrap();
        };
        assert_eq!(cached_rustc_version(dir.path()), None, "no file");
        let print =
            serde_json::json!({"success": true, "stdout": "___\nlib___.rlib\n", "stderr": ""});
        write(serde_json::json!({
            "1": {"success": true, "status": "", "code": 0, "stdout": vv, "stderr": ""},
            "2": print,
        }));
        assert_eq!(cached_rustc_version(dir.path()).as_deref(), Some(vv));
        // Two compilers' versions, or only a failed one: rustc is asked instead.
        write(serde_json::json!({
            "1": {"success": true, "stdout": vv},
            "2": {"success": true, "stdout": vv.replace("1.95.0", "1.96.0")},
        }));
        assert_eq!(cached_rustc_version(dir.path()), None);
        write(serde_json::json!({"1": {"success": false, "stdout": vv}}));
        assert_eq!(cached_rustc_version(dir.path()), None);
        std::fs::write(dir.path().join(".rustc_info.json"), "{not json").unwrap();
        assert_eq!(cached_rustc_version(dir.path()), None);
    }
}
