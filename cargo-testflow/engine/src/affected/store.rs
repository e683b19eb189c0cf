//! What `run --affected` keeps in history.db: each group's dependency files with the
//! environment fingerprint they were recorded under, and observation mode's measurements.
//! Tables of their own, created on first use (older databases simply lack them).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::history::History;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS affected_deps (
    framework TEXT NOT NULL,
    grp TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    files TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (framework, grp)
);
CREATE TABLE IF NOT EXISTS affected_observations (
    run_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    tests INTEGER NOT NULL,
    would_skip INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    missed INTEGER NOT NULL,
    missed_ids TEXT NOT NULL
);
";

fn ensure(h: &History) -> Result<()> {
    h.connection().execute_batch(SCHEMA).with_context(|| {
        format!(
            "cannot create the affected tables in {}",
            h.path().display()
        )
    })
}

/// A group's recorded dependencies.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub fingerprint: String,
    pub files: Vec<PathBuf>,
}

/// Every group recorded for `framework`; paths made absolute under `root`.
pub fn load(h: &History, framework: &str, root: &Path) -> Result<HashMap<String, Stored>> {
    ensure(h)?;
    let mut stmt = h
        .connection()
        .prepare("SELECT grp, fingerprint, files FROM affected_deps WHERE framework = ?1")?;
    let rows = stmt.query_map(params![framework], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut out = HashMap::new();
    for row in rows {
        let (grp, fingerprint, files) = row?;
        // A damaged row is no data: the group is then selected.
        let Ok(files) = serde_json::from_str::<Vec<String>>(&files) else {
            continue;
        };
        let files = files.into_iter().map(|f| root.join(f)).collect();
        out.insert(grp, Stored { fingerprint, files });
    }
    Ok(out)
}

/// Record (replace) the groups' dependencies, paths relative to `root` where inside it.
pub fn save(
    h: &History,
    framework: &str,
    root: &Path,
    fingerprint: &str,
    groups: &[(String, Vec<PathBuf>)],
) -> Result<()> {
    let rows: Vec<(String, Vec<String>)> = groups
        .iter()
        .map(|(grp, files)| {
            let rel = files
                .iter()
                .map(|f| f.strip_prefix(root).unwrap_or(f).display().to_string())
                .collect();
            (grp.clone(), rel)
        })
        .collect();
    save_rows(h, framework, fingerprint, &rows)
}

/// Add the groups' dependencies to what is recorded for them under `fingerprint` (a
/// group recorded under another fingerprint starts again): for evidence seen one run at
/// a time (the files a test executed, per coverage context), where a run that ran part
/// of a group must not forget what the rest of it used. A file once seen stays until
/// the fingerprint changes: that only widens a selection.
pub fn add(
    h: &History,
    framework: &str,
    root: &Path,
    fingerprint: &str,
    groups: &[(String, Vec<PathBuf>)],
) -> Result<()> {
    let old = load(h, framework, root)?;
    let merged: Vec<(String, Vec<PathBuf>)> = groups
        .iter()
        .map(|(grp, files)| {
            let mut all: std::collections::BTreeSet<PathBuf> = files.iter().cloned().collect();
            if let Some(s) = old.get(grp).filter(|s| s.fingerprint == fingerprint) {
                all.extend(s.files.iter().cloned());
            }
            (grp.clone(), all.into_iter().collect())
        })
        .collect();
    save(h, framework, root, fingerprint, &merged)
}

/// [`save`] of paths already relative to the project root.
fn save_rows(
    h: &History,
    framework: &str,
    fingerprint: &str,
    groups: &[(String, Vec<String>)],
) -> Result<()> {
    ensure(h)?;
    let tx = h.connection().unchecked_transaction()?;
    let now = chrono::Utc::now().to_rfc3339();
    {
        let mut stmt = tx.prepare(
            "INSERT OR REPLACE INTO affected_deps (framework, grp, fingerprint, files, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (grp, rel) in groups {
            stmt.execute(params![
                framework,
                grp,
                fingerprint,
                serde_json::to_string(rel)?,
                now
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Where a run keeps the dependencies its selection read (in its run directory): a CI
/// shard's history.db stays on its machine, so `merge` carries these into the history
/// the merge job saves for the next pipeline.
pub const DEPS_FILE: &str = "affected-deps.json";

/// One framework's dependencies as one run recorded them, paths relative to the project
/// root (a CI machine's checkout path may differ from the next one's).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct DepsRecord {
    pub framework: String,
    pub fingerprint: String,
    /// Group id -> its files.
    pub groups: Vec<(String, Vec<String>)>,
}

impl DepsRecord {
    /// The groups that have dependencies (as [`save`] keeps them).
    pub fn of(
        framework: crate::model::Framework,
        fingerprint: &str,
        root: &Path,
        groups: &[crate::affected::Group],
    ) -> DepsRecord {
        DepsRecord {
            framework: framework.as_str().to_owned(),
            fingerprint: fingerprint.to_owned(),
            groups: groups
                .iter()
                .filter(|g| !g.deps.is_empty())
                .map(|g| {
                    let files = g
                        .deps
                        .iter()
                        .map(|f| f.strip_prefix(root).unwrap_or(f).display().to_string())
                        .collect();
                    (g.id.clone(), files)
                })
                .collect(),
        }
    }
}

/// Write `records` to `dir`'s [`DEPS_FILE`] (nothing when there are none).
pub fn write_deps(dir: &Path, records: &[DepsRecord]) -> Result<()> {
    if records.iter().all(|r| r.groups.is_empty()) {
        return Ok(());
    }
    let path = dir.join(DEPS_FILE);
    crate::store::write_atomic(&path, &serde_json::to_vec(records)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Add `record` to `dir`'s [`DEPS_FILE`] (its groups replace the same framework's same
/// groups there): for what a suite records after its tests ran, beside what the
/// selection wrote before they started. One writer at a time in this process.
pub fn add_deps(dir: &Path, record: DepsRecord) -> Result<()> {
    static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    let path = dir.join(DEPS_FILE);
    let mut records: Vec<DepsRecord> = match std::fs::read(&path) {
        Ok(t) => serde_json::from_slice(&t)
            .with_context(|| format!("{} is not a dependency record", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    match records
        .iter_mut()
        .find(|r| r.framework == record.framework && r.fingerprint == record.fingerprint)
    {
        Some(r) => {
            let new: HashSet<&String> = record.groups.iter().map(|(g, _)| g).collect();
            r.groups.retain(|(g, _)| !new.contains(g));
            r.groups.extend(record.groups);
        }
        None => records.push(record),
    }
    write_deps(dir, &records)
}

/// Record the dependencies in `dir`'s [`DEPS_FILE`], if it has one, into `h` (relative
/// paths stay relative: any checkout of the project reads them): how many groups. A
/// damaged file is an error naming it.
pub fn import_deps(h: &History, dir: &Path) -> Result<usize> {
    let path = dir.join(DEPS_FILE);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let records: Vec<DepsRecord> = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a dependency record", path.display()))?;
    let mut n = 0;
    for r in records {
        n += r.groups.len();
        save_rows(h, &r.framework, &r.fingerprint, &r.groups)?;
    }
    Ok(n)
}

/// The commit of the newest whole run on `branch` that ran tests, completed, and had no
/// failing result: the default base of `--affected`.
pub fn last_passing_commit(h: &History, branch: Option<&str>) -> Result<Option<(String, String)>> {
    Ok(h.connection()
        .query_row(
            "SELECT u.run_id, u.git_commit FROM runs u
              WHERE u.git_branch IS ?1 AND u.git_commit IS NOT NULL AND u.total > 0
                AND u.completed = 1 AND u.shard IS NULL AND u.failed = 0
                AND NOT EXISTS (SELECT 1 FROM results r WHERE r.run_id = u.run_id
                                AND r.outcome IN ('failed','error','timeout','crashed'))
              ORDER BY u.started_at DESC LIMIT 1",
            params![branch],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Tests whose newest recorded result failed, errored, timed out, crashed or was flaky.
pub fn failing(h: &History) -> Result<HashSet<String>> {
    let mut stmt = h.connection().prepare(
        "SELECT test_id FROM (
            SELECT r.test_id, r.outcome, r.flaky,
                   ROW_NUMBER() OVER (PARTITION BY r.test_id ORDER BY u.started_at DESC) AS n
              FROM results r JOIN runs u ON u.run_id = r.run_id)
          WHERE n = 1 AND (outcome IN ('failed','error','timeout','crashed') OR flaky = 1)",
    )?;
    let ids = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<HashSet<String>>>()?;
    Ok(ids)
}

/// One observation-mode run: how many tests ran, how many the selection would have
/// skipped, and the failures it would have missed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Observation {
    pub run_id: String,
    pub started_at: String,
    pub tests: u64,
    pub would_skip: u64,
    pub failures: u64,
    pub missed: Vec<String>,
}

pub fn save_observation(h: &History, o: &Observation) -> Result<()> {
    ensure(h)?;
    h.connection().execute(
        "INSERT OR REPLACE INTO affected_observations (run_id, started_at, tests, would_skip, failures, missed, missed_ids)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            o.run_id,
            o.started_at,
            o.tests as i64,
            o.would_skip as i64,
            o.failures as i64,
            o.missed.len() as i64,
            serde_json::to_string(&o.missed)?
        ],
    )?;
    Ok(())
}

/// The newest `limit` observations, newest first.
pub fn observations(h: &History, limit: usize) -> Result<Vec<Observation>> {
    ensure(h)?;
    let mut stmt = h.connection().prepare(
        "SELECT run_id, started_at, tests, would_skip, failures, missed_ids FROM affected_observations
          ORDER BY started_at DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map(params![limit.min(i64::MAX as usize) as i64], |r| {
        Ok(Observation {
            run_id: r.get(0)?,
            started_at: r.get(1)?,
            tests: r.get::<_, i64>(2)?.max(0) as u64,
            would_skip: r.get::<_, i64>(3)?.max(0) as u64,
            failures: r.get::<_, i64>(4)?.max(0) as u64,
            missed: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// `history selection`: the observations and their totals.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SelectionReport {
    pub runs: Vec<Observation>,
    pub tests: u64,
    pub would_skip: u64,
    pub failures: u64,
    pub missed: u64,
    /// Missed failures / all failures (`None`: no failure observed).
    pub safety: Option<f64>,
    /// Tests the selection would have skipped / all tests.
    pub savings: Option<f64>,
}

pub fn selection_report(h: &History, limit: usize) -> Result<SelectionReport> {
    let runs = observations(h, limit)?;
    let sum = |f: &dyn Fn(&Observation) -> u64| runs.iter().map(f).fold(0u64, u64::saturating_add);
    let tests = sum(&|o| o.tests);
    let would_skip = sum(&|o| o.would_skip);
    let failures = sum(&|o| o.failures);
    let missed = sum(&|o| o.missed.len() as u64);
    Ok(SelectionReport {
        safety: (failures > 0).then(|| missed as f64 / failures as f64),
        savings: (tests > 0).then(|| would_skip as f64 / tests as f64),
        runs,
        tests,
        would_skip,
        failures,
        missed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_round_trip_relative_to_the_root() {
        let d = tempfile::tempdir().unwrap();
        let h = History::open(d.path()).unwrap();
        let root = Path::new("/proj");
        save(
            &h,
            "rust",
            root,
            "fp1",
            &[(
                "app".into(),
                vec![
                    PathBuf::from("/proj/src/lib.rs"),
                    PathBuf::from("/elsewhere/x.rs"),
                ],
            )],
        )
        .unwrap();
        let moved = load(&h, "rust", Path::new("/moved")).unwrap();
        assert_eq!(
            moved["app"].files,
            [
                PathBuf::from("/moved/src/lib.rs"),
                PathBuf::from("/elsewhere/x.rs")
            ]
        );
        assert_eq!(moved["app"].fingerprint, "fp1");
        assert!(load(&h, "pytest", root).unwrap().is_empty());
    }

    #[test]
    fn a_runs_dependency_file_is_carried_into_another_history() {
        let d = tempfile::tempdir().unwrap();
        let group = crate::affected::Group {
            id: "app::app_it".into(),
            deps: vec![PathBuf::from("/ci/a/src/lib.rs")],
            tests: vec![],
            whole: false,
        };
        let none = crate::affected::Group {
            id: "empty".into(),
            ..Default::default()
        };
        let rec = DepsRecord::of(
            crate::model::Framework::Rust,
            "fp",
            Path::new("/ci/a"),
            &[group, none],
        );
        assert_eq!(
            rec.groups,
            [("app::app_it".to_owned(), vec!["src/lib.rs".to_owned()])]
        );
        write_deps(d.path(), &[rec]).unwrap();
        // The merge job's checkout is elsewhere: paths follow its root.
        let h = History::open(&d.path().join("store")).unwrap();
        assert_eq!(import_deps(&h, d.path()).unwrap(), 1);
        let got = load(&h, "rust", Path::new("/ci/b")).unwrap();
        assert_eq!(
            got["app::app_it"].files,
            [PathBuf::from("/ci/b/src/lib.rs")]
        );
        assert_eq!(got["app::app_it"].fingerprint, "fp");
        // No file: nothing; a damaged one names itself.
        assert_eq!(import_deps(&h, &d.path().join("store")).unwrap(), 0);
        std::fs::write(d.path().join(DEPS_FILE), "{").unwrap();
        let e = import_deps(&h, d.path()).unwrap_err();
        assert!(format!("{e:#}").contains(DEPS_FILE), "{e:#}");
    }

    #[test]
    fn observations_are_kept_newest_first() {
        let d = tempfile::tempdir().unwrap();
        let h = History::open(d.path()).unwrap();
        for (i, missed) in [vec![], vec!["t::a".to_owned()]].into_iter().enumerate() {
            save_observation(
                &h,
                &Observation {
                    run_id: format!("r{i}"),
                    started_at: format!("2026-01-0{}T00:00:00Z", i + 1),
                    tests: 10,
                    would_skip: 7,
                    failures: 1,
                    missed,
                },
            )
            .unwrap();
        }
        let o = observations(&h, 10).unwrap();
        assert_eq!(o[0].run_id, "r1");
        assert_eq!(o[0].missed, ["t::a"]);
        assert_eq!(o.len(), 2);
    }
}
