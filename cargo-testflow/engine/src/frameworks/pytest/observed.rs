//! pytest's per-test dependencies observed while the tests ran, for `--affected`: what
//! the static import scan cannot see (a module loaded by name through `importlib`, a
//! plugin, a data file a test reads). Two sources, each per test file:
//! - coverage.py's dynamic contexts: with pytest-cov's `--cov-context=test`, every line it
//!   records is labelled with the node id of the test that ran it
//!   (`tests/test_x.py::test_a|run`); its data file (SQLite) gives the project files the
//!   tests executed. Collected when the run collects coverage anyway (`run --coverage`),
//!   and in `--affected=record` runs with pytest-cov installed (then into a data file of
//!   the run's own, with no report).
//! - the files the tests open (the plugin's `open` audit hook, `TESTFLOW_READS`), in
//!   `--affected=record` runs.
//!
//! They are added to the scan's dependencies, never put in their place: code a module
//! runs when it is imported during collection belongs to no test's coverage context.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The key these dependencies are kept under in history.db (beside `pytest`'s).
pub(crate) const KEY: &str = "pytest:observed";

/// pytest-cov's option that labels each test's lines with its node id.
pub(crate) const CONTEXT_ARG: &str = "--cov-context=test";

/// The plugin's variable: where each test process writes the files its tests opened
/// (`<value>.<pid>.json`).
pub(crate) const READS_ENV: &str = "TESTFLOW_READS";

/// What to record once pytest has ended.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    /// coverage.py's data file (`COVERAGE_FILE`), when the run collects contexts.
    pub(crate) data: Option<PathBuf>,
    /// Remove `data` once read (the run's own file; `--coverage`'s stays with the run).
    pub(crate) remove: bool,
    /// The plugin's `TESTFLOW_READS` value, when it records the files tests open.
    pub(crate) reads: Option<PathBuf>,
    /// Where the suite runs: the pytest node ids are relative to it.
    pub(crate) suite_root: PathBuf,
    /// The project root, which recorded paths are relative to.
    pub(crate) project_root: PathBuf,
    /// The history's directory (`.testflow/`).
    pub(crate) store_root: PathBuf,
    /// The run's directory, for the dependency record `merge` carries.
    pub(crate) run_dir: PathBuf,
    pub(crate) python: PathBuf,
}

/// The environment fingerprint pytest's dependencies are recorded under: the Python
/// (its path and `-VV`) and the suite root's tracked files.
pub(crate) fn fingerprint(root: &Path, python: &Path) -> String {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    let version = std::process::Command::new(python)
        .arg("-VV")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let toolchain = format!("{}\n{version}", python.display());
    crate::affected::fingerprint(&root, &toolchain)
}

/// Test file (relative to the suite root, as in node ids) -> project files, absolute.
type ByTestFile = BTreeMap<String, BTreeSet<PathBuf>>;

/// The project files each test file's tests executed, from the coverage.py data file at
/// `data`. Files outside `root` and in a `site-packages` (a virtualenv inside the
/// project) are left out.
pub(crate) fn read(data: &Path, root: &Path) -> Result<ByTestFile> {
    let conn = rusqlite::Connection::open_with_flags(
        data,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open coverage.py's data file {}", data.display()))?;
    let has = |table: &str| -> Result<bool> {
        let n = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get::<_, i64>(0),
            )
            .with_context(|| format!("cannot read coverage.py's data file {}", data.display()))?;
        Ok(n > 0)
    };
    if !has("context")? || !has("file")? {
        anyhow::bail!(
            "{} is not a coverage.py data file with contexts",
            data.display()
        );
    }
    // Line data, or arcs under branch coverage; either table may be empty.
    let mut parts = Vec::new();
    for table in ["line_bits", "arc"] {
        if has(table)? {
            parts.push(format!(
                "SELECT c.context, f.path FROM {table} t JOIN context c ON c.id = t.context_id JOIN file f ON f.id = t.file_id"
            ));
        }
    }
    let mut out = ByTestFile::new();
    if parts.is_empty() {
        return Ok(out);
    }
    let sql = parts.join(" UNION ");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let canonical = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    for row in rows {
        let (context, path) = row?;
        let Some(file) = test_file(&context) else {
            continue;
        };
        let Some(path) = inside(Path::new(&path), root, &canonical) else {
            continue;
        };
        out.entry(file.to_owned()).or_default().insert(path);
    }
    Ok(out)
}

/// The test file of a pytest-cov test context (`tests/test_x.py::test_a[1]|run`):
/// `None` for the empty context (collection, imports) and anything not a node id.
fn test_file(context: &str) -> Option<&str> {
    let nodeid = match context.rsplit_once('|') {
        Some((id, "setup" | "run" | "teardown")) => id,
        _ => context,
    };
    let file = nodeid.split("::").next()?;
    (!file.is_empty() && file.ends_with(".py")).then_some(file)
}

/// `path` under the project root (as recorded, or through symlinks), not in a
/// site-packages: the absolute path to keep.
fn inside(path: &Path, root: &Path, canonical: &Path) -> Option<PathBuf> {
    let kept = if path.starts_with(root) || path.starts_with(canonical) {
        path.to_owned()
    } else {
        let real = path.canonicalize().ok()?;
        real.starts_with(canonical).then_some(real)?
    };
    let in_packages = kept.components().any(|c| {
        matches!(
            c.as_os_str().to_str(),
            Some("site-packages" | "dist-packages")
        )
    });
    (!in_packages).then_some(kept)
}

/// The files each test file's tests opened, from the plugin's `<reads>.<pid>.json`
/// files (one per test process; removed once read), inside `root` and outside
/// site-packages, `exclude` (testflow's own directory) and what is no longer there.
pub(crate) fn read_opened(reads: &Path, root: &Path, exclude: &Path) -> Result<ByTestFile> {
    #[derive(serde::Deserialize)]
    struct Opened {
        reads: Vec<(String, String)>,
    }
    let (Some(dir), Some(stem)) = (reads.parent(), reads.file_name()) else {
        return Ok(ByTestFile::new());
    };
    let prefix = format!("{}.", stem.to_string_lossy());
    let canonical = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    let mut out = ByTestFile::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with(&prefix) && name.ends_with(".json")) {
            continue;
        }
        let path = entry.path();
        let text = std::fs::read(&path);
        let _ = std::fs::remove_file(&path);
        let opened: Opened = serde_json::from_slice(&text?).with_context(|| {
            format!(
                "{} is not the plugin's list of opened files",
                path.display()
            )
        })?;
        for (file, opened) in opened.reads {
            if !file.ends_with(".py") {
                continue;
            }
            let opened = Path::new(&opened);
            if opened.starts_with(exclude) || !opened.is_file() {
                continue;
            }
            if let Some(p) = inside(opened, root, &canonical) {
                out.entry(file).or_default().insert(p);
            }
        }
    }
    Ok(out)
}

/// Read what `job` observed and add each test file's files to the history (under
/// [`KEY`], with the environment fingerprint `--affected` selects with) and to the
/// run's dependency record: how many test files.
pub(crate) fn record(job: &Job) -> Result<usize> {
    let mut files = ByTestFile::new();
    let mut failed = Vec::new();
    if let Some(data) = &job.data {
        match read(data, &job.project_root) {
            Ok(seen) => merge(&mut files, seen),
            Err(e) => failed.push(e),
        }
        if job.remove {
            let _ = std::fs::remove_file(data);
        }
    }
    if let Some(reads) = &job.reads {
        match read_opened(reads, &job.project_root, &job.store_root) {
            Ok(seen) => merge(&mut files, seen),
            Err(e) => failed.push(e),
        }
    }
    // What one source saw is still kept when the other failed (it only adds files).
    let n = if files.is_empty() {
        0
    } else {
        keep(job, files)?
    };
    match failed.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(n),
    }
}

fn merge(into: &mut ByTestFile, more: ByTestFile) {
    for (file, deps) in more {
        into.entry(file).or_default().extend(deps);
    }
}

/// [`record`]'s writes: the run's dependency record, then the history.
fn keep(job: &Job, files: ByTestFile) -> Result<usize> {
    let fp = fingerprint(&job.suite_root, &job.python);
    let canonical = job
        .project_root
        .canonicalize()
        .unwrap_or_else(|_| job.project_root.clone());
    let relative = |p: &PathBuf| {
        p.strip_prefix(&job.project_root)
            .or_else(|_| p.strip_prefix(&canonical))
            .unwrap_or(p)
            .display()
            .to_string()
    };
    let rows: Vec<(String, Vec<String>)> = files
        .iter()
        .map(|(g, deps)| (g.clone(), deps.iter().map(relative).collect()))
        .collect();
    let record = crate::affected::store::DepsRecord {
        framework: KEY.to_owned(),
        fingerprint: fp.clone(),
        groups: rows.clone(),
    };
    crate::affected::store::add_deps(&job.run_dir, record)?;
    let h = crate::history::History::open(&job.store_root)?;
    // Relative to the project root in the history, whichever spelling the source used.
    let rows: Vec<(String, Vec<PathBuf>)> = rows
        .into_iter()
        .map(|(g, deps)| (g, deps.iter().map(|d| job.project_root.join(d)).collect()))
        .collect();
    crate::affected::store::add(&h, KEY, &job.project_root, &fp, &rows)?;
    Ok(rows.len())
}

/// The test files' dependencies observed in earlier runs under `fingerprint`, added to
/// `groups`' own (from the import scan).
pub(crate) fn add_recorded(
    groups: &mut [crate::affected::Group],
    history: &crate::history::History,
    project_root: &Path,
    fingerprint: &str,
) {
    // Derived data: unreadable is the same as not recorded (the scan's deps stand).
    let Ok(seen) = crate::affected::store::load(history, KEY, project_root) else {
        return;
    };
    for g in groups {
        let Some(s) = seen.get(&g.id).filter(|s| s.fingerprint == fingerprint) else {
            continue;
        };
        let known: std::collections::HashSet<PathBuf> = g.deps.iter().cloned().collect();
        g.deps
            .extend(s.files.iter().filter(|f| !known.contains(*f)).cloned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A data file in coverage.py's schema (the tables this module reads), with `rows` of
    /// (context, path) as line data.
    fn data_file(dir: &Path, rows: &[(&str, &str)]) -> PathBuf {
        let path = dir.join(".coverage");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE file (id INTEGER PRIMARY KEY, path TEXT, UNIQUE (path));
             CREATE TABLE context (id INTEGER PRIMARY KEY, context TEXT, UNIQUE (context));
             CREATE TABLE line_bits (file_id INTEGER, context_id INTEGER, numbits BLOB);
             CREATE TABLE arc (file_id INTEGER, context_id INTEGER, fromno INTEGER, tono INTEGER);",
        )
        .unwrap();
        for (context, file) in rows {
            conn.execute("INSERT OR IGNORE INTO file (path) VALUES (?1)", [file])
                .unwrap();
            conn.execute(
                "INSERT OR IGNORE INTO context (context) VALUES (?1)",
                [context],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO line_bits SELECT f.id, c.id, x'01' FROM file f, context c WHERE f.path = ?1 AND c.context = ?2",
                [file, context],
            )
            .unwrap();
        }
        path
    }

    #[test]
    fn each_test_file_gets_the_project_files_its_tests_ran() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("proj");
        std::fs::create_dir_all(&root).unwrap();
        let r = |p: &str| root.join(p).display().to_string();
        let (plugins, core, venv) = (
            r("app/plugins.py"),
            r("app/core.py"),
            r(".venv/lib/python3.11/site-packages/six.py"),
        );
        let data = data_file(
            dir.path(),
            &[
                ("tests/test_dyn.py::test_loads[1]|run", plugins.as_str()),
                ("tests/test_dyn.py::test_loads[1]|setup", core.as_str()),
                ("tests/test_dyn.py::TestX::test_y|teardown", core.as_str()),
                ("tests/test_core.py::test_double|run", core.as_str()),
                // Import time: no test's.
                ("", plugins.as_str()),
                // Outside the project, or in a virtualenv inside it.
                (
                    "tests/test_core.py::test_double|run",
                    "/usr/lib/python3.11/json/__init__.py",
                ),
                ("tests/test_core.py::test_double|run", venv.as_str()),
            ],
        );
        let got = read(&data, &root).unwrap();
        let want: BTreeMap<String, BTreeSet<PathBuf>> = [
            (
                "tests/test_core.py".to_owned(),
                [root.join("app/core.py")].into(),
            ),
            (
                "tests/test_dyn.py".to_owned(),
                [root.join("app/core.py"), root.join("app/plugins.py")].into(),
            ),
        ]
        .into();
        assert_eq!(got, want);
    }

    #[test]
    fn opened_files_inside_the_project_are_each_test_files_and_the_lists_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("proj");
        let store = root.join(".testflow");
        let run = store.join("runs/1");
        std::fs::create_dir_all(&run).unwrap();
        for f in [
            "tests/data.txt",
            "app/plugins.py",
            ".venv/lib/site-packages/x.py",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        std::fs::write(store.join("history.db"), "").unwrap();
        let r = |p: &str| root.join(p).display().to_string();
        let reads = run.join("pytest-reads");
        // Two test processes (xdist workers); another file in the run directory is not theirs.
        let one = serde_json::json!({"reads": [
            ["tests/test_data.py", r("tests/data.txt")],
            ["tests/test_data.py", r("tests/gone.txt")],
            ["tests/test_data.py", "/etc/hostname"],
            ["tests/test_data.py", r(".venv/lib/site-packages/x.py")],
            ["tests/test_data.py", r(".testflow/history.db")],
        ]});
        let two = serde_json::json!({"reads": [["tests/test_dyn.py", r("app/plugins.py")]]});
        std::fs::write(run.join("pytest-reads.11.json"), one.to_string()).unwrap();
        std::fs::write(run.join("pytest-reads.12.json"), two.to_string()).unwrap();
        std::fs::write(run.join("run.json"), "{}").unwrap();
        let got = read_opened(&reads, &root, &store).unwrap();
        let want: ByTestFile = [
            (
                "tests/test_data.py".to_owned(),
                [root.join("tests/data.txt")].into(),
            ),
            (
                "tests/test_dyn.py".to_owned(),
                [root.join("app/plugins.py")].into(),
            ),
        ]
        .into();
        assert_eq!(got, want);
        let mut left: Vec<String> = std::fs::read_dir(&run)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["run.json"]);
        // A damaged list is an error naming it.
        std::fs::write(run.join("pytest-reads.13.json"), "{\"reads\": [").unwrap();
        let e = read_opened(&reads, &root, &store).unwrap_err();
        assert!(format!("{e:#}").contains("pytest-reads.13.json"), "{e:#}");
    }

    #[test]
    fn a_file_that_is_not_coverage_data_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".coverage");
        std::fs::write(&path, "not sqlite").unwrap();
        let e = read(&path, dir.path()).unwrap_err();
        assert!(format!("{e:#}").contains(".coverage"), "{e:#}");
        let empty = dir.path().join("empty.db");
        rusqlite::Connection::open(&empty)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let e = read(&empty, dir.path()).unwrap_err();
        assert!(
            format!("{e:#}").contains("not a coverage.py data file"),
            "{e:#}"
        );
    }

    #[test]
    fn contexts_that_are_not_node_ids_are_no_test_files() {
        assert_eq!(test_file("tests/a.py::t|run"), Some("tests/a.py"));
        assert_eq!(test_file("tests/a.py::C::t[x|y]|setup"), Some("tests/a.py"));
        assert_eq!(test_file(""), None);
        assert_eq!(test_file("|run"), None);
        assert_eq!(test_file("some label"), None);
    }

    #[test]
    fn recorded_files_are_added_to_the_scans_never_in_place_of_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let h = crate::history::History::open(&root.join(".testflow")).unwrap();
        crate::affected::store::add(
            &h,
            KEY,
            root,
            "fp",
            &[(
                "tests/test_dyn.py".into(),
                vec![root.join("app/plugins.py")],
            )],
        )
        .unwrap();
        // A later run that saw another file keeps both.
        crate::affected::store::add(
            &h,
            KEY,
            root,
            "fp",
            &[("tests/test_dyn.py".into(), vec![root.join("app/extra.py")])],
        )
        .unwrap();
        let group = |deps: Vec<PathBuf>| crate::affected::Group {
            id: "tests/test_dyn.py".into(),
            deps,
            ..Default::default()
        };
        let mut groups = vec![group(vec![root.join("tests/test_dyn.py")])];
        add_recorded(&mut groups, &h, root, "fp");
        let mut deps = groups[0].deps.clone();
        deps.sort();
        assert_eq!(
            deps,
            [
                root.join("app/extra.py"),
                root.join("app/plugins.py"),
                root.join("tests/test_dyn.py")
            ]
        );
        // Recorded under another environment: not used.
        let mut groups = vec![group(vec![root.join("tests/test_dyn.py")])];
        add_recorded(&mut groups, &h, root, "other");
        assert_eq!(groups[0].deps, [root.join("tests/test_dyn.py")]);
    }
}
