//! The history of past runs: `.testflow/history.db`, SQLite in WAL mode.
//!
//! Each run is written in one transaction, so a killed writer leaves either the whole
//! run or none of it; WAL plus a busy timeout lets several writers (parallel shards,
//! two runs at once) share the file. History is derived data: the runs themselves stay
//! in `runs/<id>/`, so a lost database can be rebuilt with `history import`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::model::{Outcome, Run};

pub const DB_FILE: &str = "history.db";
/// Runs kept by default; older ones are deleted after each insert.
pub const DEFAULT_KEEP_RUNS: usize = 500;
/// Weight of the newest duration in the moving average used for timings.
const EWMA_ALPHA: f64 = 0.3;

pub struct History {
    conn: Connection,
    path: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    git_commit TEXT,
    git_branch TEXT,
    git_tree TEXT,
    shard TEXT,
    source TEXT NOT NULL,
    completed INTEGER NOT NULL,
    total INTEGER NOT NULL,
    passed INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    skipped INTEGER NOT NULL,
    flaky INTEGER NOT NULL,
    duration_ms REAL NOT NULL,
    not_selected INTEGER
);
CREATE TABLE IF NOT EXISTS coverage (
    run_id TEXT PRIMARY KEY REFERENCES runs(run_id) ON DELETE CASCADE,
    lines_covered INTEGER NOT NULL,
    lines_total INTEGER NOT NULL,
    branches_covered INTEGER NOT NULL,
    branches_total INTEGER NOT NULL,
    functions_covered INTEGER NOT NULL,
    functions_total INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS coverage_files (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    lines_covered INTEGER NOT NULL,
    lines_total INTEGER NOT NULL,
    PRIMARY KEY (run_id, path)
);
CREATE INDEX IF NOT EXISTS runs_by_time ON runs(started_at);
";

/// Whether `run --affected` left tests out of `run` (its coverage and totals are a
/// selection's, not comparable with a whole run's).
pub fn left_tests_out(run: &Run) -> bool {
    run.affected.as_ref().is_some_and(|a| a.not_selected > 0)
}

/// One row per test per run, created `WITHOUT ROWID`: each row lives in its key's B-tree
/// alone, where a rowid table kept it twice (the table and the key's index). 39 % smaller
/// (168 runs of 5,000 tests: 84 against 138 MB) and one B-tree fewer to update per row.
const RESULTS_COLUMNS: &str = "
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    test_id TEXT NOT NULL,
    framework TEXT NOT NULL,
    file TEXT,
    outcome TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    attempts INTEGER NOT NULL,
    flaky INTEGER NOT NULL,
    PRIMARY KEY (run_id, test_id)";

fn results_without_rowid(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = 'results'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map(|wr| wr != Some(0))
}

/// A history written before results were `WITHOUT ROWID` is rebuilt once, in one
/// transaction (a crash leaves the old table as it was), and compacted. Another process
/// that rebuilt it first leaves nothing to do.
fn rebuild_results(conn: &Connection) -> rusqlite::Result<()> {
    if results_without_rowid(conn)? {
        return Ok(());
    }
    // Outside the transaction (SQLite ignores it inside): dropping the old table must not
    // first delete its rows one by one for the foreign key.
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    let rebuilt = (|| {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        // Another process may have rebuilt it while this one waited for the lock.
        let here = !results_without_rowid(conn)?;
        if here {
            conn.execute_batch(&format!(
                "DROP TABLE IF EXISTS results_new;
                 CREATE TABLE results_new ({RESULTS_COLUMNS}) WITHOUT ROWID;
                 INSERT INTO results_new (run_id, test_id, framework, file, outcome, duration_ms, attempts, flaky)
                     SELECT run_id, test_id, framework, file, outcome, duration_ms, attempts, flaky FROM results;
                 DROP TABLE results;
                 ALTER TABLE results_new RENAME TO results;"
            ))?;
        }
        conn.execute_batch("COMMIT").map(|()| here)
    })();
    if rebuilt.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    if rebuilt? {
        // The old table's pages are free now, but the file keeps them (the new table was
        // written beside it: 144 MB became 239 MB) until runs reuse them: give them back,
        // once. Not needed for correctness: another process in the way only postpones it.
        let _ = conn.execute_batch("VACUUM");
    }
    Ok(())
}

/// Columns added since the first schema, added to databases written before them.
/// `not_selected`: the tests `run --affected` left out (NULL before it was recorded): a run
/// that left some out is not the suite's whole work.
const ADDED_COLUMNS: [(&str, &str, &str); 3] = [
    ("runs", "git_tree", "TEXT"),
    ("runs", "not_selected", "INTEGER"),
    // The run's workers decisions as JSON (`Run::workers`), so the next decision need not
    // read the run's whole run.json back; NULL in runs recorded before.
    ("runs", "workers", "TEXT"),
];

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let has = |table: &str, column: &str| -> rusqlite::Result<bool> {
        conn.prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2")?
            .exists(params![table, column])
    };
    for (table, column, ty) in ADDED_COLUMNS {
        if has(table, column)? {
            continue;
        }
        let added = conn.execute(&format!("ALTER TABLE {table} ADD COLUMN {column} {ty}"), []);
        // Another writer may have added it in the meantime.
        if let Err(e) = added
            && !has(table, column)?
        {
            return Err(e);
        }
    }
    // An index on `results(test_id)` sorts every run's results in among all earlier runs':
    // each run rewrote most of its pages (5,000 results into 74 runs' history: 110-140 ms
    // of a 5 s pytest run; 20 ms without it). Only `history test` looked it up; it scans.
    conn.execute_batch(&format!("DROP INDEX IF EXISTS {DROPPED_INDEX}"))?;
    rebuild_results(conn)
}

const DROPPED_INDEX: &str = "results_by_test";

/// A run being written to history off the critical path. It is never lost by exiting
/// early: dropping it waits for the write (the run's `events.jsonl` is complete before it
/// starts, so a crash while writing loses nothing that `history import` cannot restore).
#[derive(Default)]
pub struct Pending {
    handle: Option<std::thread::JoinHandle<Result<()>>>,
    done: Option<Result<()>>,
}

impl Pending {
    /// Wait for the write: why it failed, if it did (history is derived data: a warning,
    /// never the run's verdict). Later calls return `None`.
    pub fn wait(&mut self) -> Option<String> {
        if let Some(h) = self.handle.take() {
            self.done = Some(
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("the history thread panicked"))),
            );
        }
        match self.done.take() {
            Some(Err(e)) => Some(format!("could not record the run in history: {e:#}")),
            _ => None,
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let _ = self.wait();
    }
}

impl History {
    pub fn open(store_root: &Path) -> Result<History> {
        std::fs::create_dir_all(store_root)
            .with_context(|| format!("cannot create {}", store_root.display()))?;
        let path = store_root.join(DB_FILE);
        let conn =
            Connection::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .with_context(|| format!("cannot switch {} to WAL", path.display()))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Sorting a window of results must not spill to temporary files.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)
            .and_then(|()| {
                conn.execute_batch(&format!(
                    "CREATE TABLE IF NOT EXISTS results ({RESULTS_COLUMNS}) WITHOUT ROWID;"
                ))
            })
            .with_context(|| format!("{} is not a testflow history database", path.display()))?;
        migrate(&conn).with_context(|| format!("cannot upgrade {}", path.display()))?;
        Ok(History { conn, path })
    }

    /// For readers: the history in `store_root`, or `None` when none was recorded there
    /// (nothing is created: reading never makes a `.testflow/`).
    pub fn open_existing(store_root: &Path) -> Result<Option<History>> {
        if !store_root.join(DB_FILE).is_file() {
            return Ok(None);
        }
        History::open(store_root).map(Some)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The database, for the modules that keep tables of their own in it (`affected`).
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// `record` on a thread of its own, so that what follows the run (reports, the
    /// summary) does not wait for SQLite; the result is taken by `Pending::wait`.
    pub fn record_in_background(
        self,
        run: std::sync::Arc<Run>,
        source: &'static str,
        keep_runs: usize,
    ) -> Pending {
        let mut h = self;
        let spawned = std::thread::Builder::new()
            .name("testflow-history".into())
            .spawn(move || h.record(&run, source, keep_runs));
        match spawned {
            Ok(handle) => Pending {
                handle: Some(handle),
                done: None,
            },
            Err(e) => Pending {
                handle: None,
                done: Some(Err(anyhow::anyhow!("cannot start the history thread: {e}"))),
            },
        }
    }

    /// Record a run (replacing an earlier record of the same run id), then apply retention.
    pub fn record(&mut self, run: &Run, source: &str, keep_runs: usize) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM runs WHERE run_id = ?1", params![run.run_id])?;
        // Counted from the tests: a run file whose summary lies must not write the lie into trends.
        let s = &run.recomputed_summary();
        tx.execute(
            "INSERT INTO runs (run_id, started_at, finished_at, git_commit, git_branch, shard, source, completed,
                               total, passed, failed, skipped, flaky, duration_ms, git_tree, not_selected,
                               workers)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            params![
                run.run_id,
                run.started_at.to_rfc3339(),
                run.finished_at.map(|t| t.to_rfc3339()),
                run.environment.git_commit,
                run.environment.git_branch,
                run.shard.as_ref().map(|s| format!("{}/{}", s.index, s.total)),
                source,
                run.completed,
                s.total as i64,
                s.passed as i64,
                s.failures() as i64,
                s.skipped as i64,
                s.flaky as i64,
                s.duration_ms,
                run.environment.git_tree,
                run.affected.as_ref().map(|a| a.not_selected as i64),
                serde_json::to_string(&run.workers)?,
            ],
        )?;
        {
            // A plain INSERT: the run's earlier rows went with its DELETE above, and OR
            // REPLACE costs SQLite a statement journal for every row (a third of the
            // insert's time at 5,000 tests). A run file naming a test twice keeps its first.
            let mut ins = tx.prepare(
                "INSERT INTO results (run_id, test_id, framework, file, outcome, duration_ms, attempts, flaky)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for t in &run.tests {
                let inserted = ins.execute(params![
                    run.run_id,
                    t.id,
                    t.framework.as_str(),
                    t.file,
                    t.outcome.as_str(),
                    t.duration_ms,
                    t.attempts.len() as i64,
                    t.flaky,
                ]);
                match inserted {
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.code == rusqlite::ErrorCode::ConstraintViolation => {}
                    other => {
                        other?;
                    }
                }
            }
        }
        if let Some(c) = &run.coverage {
            let t = &c.totals;
            tx.execute(
                "INSERT INTO coverage (run_id, lines_covered, lines_total, branches_covered, branches_total,
                                       functions_covered, functions_total)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    run.run_id,
                    t.lines.covered as i64,
                    t.lines.total as i64,
                    t.branches.covered as i64,
                    t.branches.total as i64,
                    t.functions.covered as i64,
                    t.functions.total as i64,
                ],
            )?;
            let mut ins = tx.prepare(
                "INSERT OR REPLACE INTO coverage_files (run_id, path, lines_covered, lines_total)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for f in &c.files {
                ins.execute(params![
                    run.run_id,
                    f.path,
                    f.totals.lines.covered as i64,
                    f.totals.lines.total as i64,
                ])?;
            }
        }
        tx.execute(
            "DELETE FROM runs WHERE run_id NOT IN (SELECT run_id FROM runs ORDER BY started_at DESC LIMIT ?1)",
            params![keep_runs.max(1) as i64],
        )?;
        tx.commit()
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        Ok(())
    }

    /// The newest run before `run` that measured coverage, on the same branch and of the
    /// same shape (a shard is compared with the same shard; a whole or merged run with
    /// whole or merged runs), with the files whose line coverage differs from `now`.
    pub fn coverage_baseline(
        &self,
        run: &Run,
        now: &[crate::coverage::FileSummary],
    ) -> Result<Option<crate::model::CoverageBaseline>> {
        // A selection's coverage is not comparable with a whole run's.
        if left_tests_out(run) {
            return Ok(None);
        }
        self.coverage_baseline_of(
            &run.run_id,
            run.started_at,
            run.environment.git_branch.as_deref(),
            run.shard.as_ref(),
            now,
        )
    }

    /// `coverage_baseline` for a run still being recorded (the caller leaves out a run
    /// that `--affected` narrowed: see [`left_tests_out`]). The baseline is the newest
    /// earlier whole run with coverage: runs that left tests out are passed over.
    pub fn coverage_baseline_of(
        &self,
        run_id: &str,
        started_at: chrono::DateTime<chrono::Utc>,
        branch: Option<&str>,
        shard: Option<&crate::model::ShardInfo>,
        now: &[crate::coverage::FileSummary],
    ) -> Result<Option<crate::model::CoverageBaseline>> {
        use crate::coverage::Ratio;
        let shard = shard.map(|s| format!("{}/{}", s.index, s.total));
        let (run_id_now, branch_now) = (run_id, branch);
        let found: Option<(String, Option<String>, i64, i64)> = self
            .conn
            .query_row(
                "SELECT u.run_id, u.git_branch, c.lines_covered, c.lines_total
                 FROM runs u JOIN coverage c ON c.run_id = u.run_id
                 WHERE u.run_id != ?1 AND u.started_at < ?2
                   AND u.git_branch IS ?3 AND u.shard IS ?4 AND COALESCE(u.not_selected, 0) = 0
                 ORDER BY u.started_at DESC LIMIT 1",
                params![run_id, started_at.to_rfc3339(), branch, shard],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((run_id, branch, covered, total)) = found else {
            return Ok(None);
        };
        // Newer runs with coverage that `--affected` narrowed: passed over, and said so.
        let skipped_affected: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM runs u JOIN coverage c ON c.run_id = u.run_id
              WHERE u.run_id != ?1 AND u.started_at < ?2 AND u.git_branch IS ?3 AND u.shard IS ?4
                AND COALESCE(u.not_selected, 0) > 0
                AND u.started_at > (SELECT started_at FROM runs WHERE run_id = ?5)",
            params![
                run_id_now,
                started_at.to_rfc3339(),
                branch_now,
                shard,
                run_id
            ],
            |r| r.get(0),
        )?;
        let mut before: HashMap<String, Ratio> = HashMap::new();
        {
            let mut stmt = self.conn.prepare(
                "SELECT path, lines_covered, lines_total FROM coverage_files WHERE run_id = ?1",
            )?;
            let rows = stmt.query_map(params![run_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            for row in rows {
                let (path, c, t) = row?;
                before.insert(path, Ratio::new(c as u64, t as u64));
            }
        }
        let mut changed_files = Vec::new();
        for f in now {
            let after = f.totals.lines;
            match before.remove(&f.path) {
                Some(b) if (b.covered, b.total) == (after.covered, after.total) => {}
                b => changed_files.push(crate::model::FileCoverageChange {
                    path: f.path.clone(),
                    before: b,
                    after: Some(after),
                }),
            }
        }
        for (path, b) in before {
            changed_files.push(crate::model::FileCoverageChange {
                path,
                before: Some(b),
                after: None,
            });
        }
        changed_files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Some(crate::model::CoverageBaseline {
            run_id,
            branch,
            lines: Ratio::new(covered as u64, total as u64),
            changed_files,
            skipped_affected: skipped_affected.max(0) as u64,
        }))
    }

    /// The ids that failed in the newest run before `run` on the same branch and of the
    /// same shard (None: there is no such run). What "new failure" is measured against.
    pub fn failed_before(&self, run: &Run) -> Result<Option<std::collections::HashSet<String>>> {
        let shard = run
            .shard
            .as_ref()
            .map(|s| format!("{}/{}", s.index, s.total));
        let previous: Option<String> = self
            .conn
            .query_row(
                "SELECT run_id FROM runs
                 WHERE run_id != ?1 AND started_at < ?2 AND git_branch IS ?3 AND shard IS ?4 AND total > 0
                 ORDER BY started_at DESC LIMIT 1",
                params![
                    run.run_id,
                    run.started_at.to_rfc3339(),
                    run.environment.git_branch.as_deref(),
                    shard
                ],
                |r| r.get(0),
            )
            .optional()?;
        let Some(previous) = previous else {
            return Ok(None);
        };
        let mut stmt = self.conn.prepare(
            "SELECT test_id FROM results WHERE run_id = ?1 AND outcome IN ('failed','error','timeout','crashed')",
        )?;
        let ids = stmt
            .query_map(params![previous], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Some(ids))
    }

    /// SQLite's own consistency check of the file.
    pub fn integrity_ok(&self) -> Result<bool> {
        let r: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok(r == "ok")
    }

    pub fn run_count(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// Recent duration per test: an exponentially weighted moving average over the last
    /// `window` runs that ran it (skipped results carry no timing).
    pub fn durations(&self, window: usize) -> Result<HashMap<String, f64>> {
        self.durations_from(window, false)
    }

    /// Durations for shard planning: from whole runs only (unsharded, merged or imported).
    /// Shards running in parallel must all plan from the same data; if each shard's own
    /// result counted, a shard finishing early would change the plan of the ones after it.
    pub fn durations_for_sharding(&self, window: usize) -> Result<HashMap<String, f64>> {
        self.durations_from(window, true)
    }

    fn durations_from(&self, window: usize, whole_runs_only: bool) -> Result<HashMap<String, f64>> {
        // Runs that ran no tests (a filter matching nothing, a failed build) take no
        // place in the window.
        let filter = if whole_runs_only {
            "AND shard IS NULL"
        } else {
            ""
        };
        let mut stmt = self.conn.prepare(&format!(
            "SELECT r.test_id, r.duration_ms FROM results r JOIN runs u ON u.run_id = r.run_id
             WHERE r.outcome != 'skipped' AND u.run_id IN (SELECT run_id FROM runs WHERE total > 0 {filter} ORDER BY started_at DESC LIMIT ?1)
             ORDER BY u.started_at ASC"
        ))?;
        let mut out: HashMap<String, f64> = HashMap::new();
        let rows = stmt.query_map(params![window as i64], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, f64>(1)?))
        })?;
        for row in rows {
            let (id, ms) = row?;
            out.entry(id)
                .and_modify(|avg| *avg = EWMA_ALPHA * ms + (1.0 - EWMA_ALPHA) * *avg)
                .or_insert(ms);
        }
        Ok(out)
    }

    /// The newest recorded run that ran tests: what `--last-failed` and `failed-first`
    /// read. A run whose filter matched nothing or whose build failed does not count.
    pub fn latest_real_run(&self) -> Result<Option<RunRow>> {
        self.latest_real_run_where("")
    }

    /// The newest whole (unsharded, merged or imported) run that ran tests: the newest
    /// run shard planning takes timings from.
    pub fn latest_real_whole_run(&self) -> Result<Option<RunRow>> {
        self.latest_real_run_where("AND shard IS NULL")
    }

    fn latest_real_run_where(&self, filter: &str) -> Result<Option<RunRow>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT run_id, started_at, total FROM runs WHERE total > 0 {filter} ORDER BY started_at DESC LIMIT 1"
                ),
                [],
                |r| {
                    Ok(RunRow {
                        run_id: r.get(0)?,
                        started_at: r.get(1)?,
                        total: r.get::<_, i64>(2)? as u64,
                    })
                },
            )
            .optional()?)
    }

    /// Tests whose last recorded result failed, in the newest run that ran tests.
    pub fn last_failed(&self) -> Result<Option<Vec<String>>> {
        let Some(run) = self.latest_real_run()? else {
            return Ok(None);
        };
        let mut stmt = self.conn.prepare(
            "SELECT test_id FROM results WHERE run_id = ?1 AND outcome IN ('failed','error','timeout','crashed') ORDER BY test_id",
        )?;
        let ids = stmt
            .query_map(params![run.run_id], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(Some(ids))
    }

    /// Every test id recorded, for suggestions when an id is not found.
    pub fn test_ids(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT test_id FROM results ORDER BY test_id")?;
        let ids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(ids)
    }

    pub fn slowest(&self, limit: usize) -> Result<Vec<SlowTest>> {
        let durations = self.durations(20)?;
        let mut stmt = self.conn.prepare(
            "SELECT test_id, COUNT(*), MAX(duration_ms) FROM results WHERE outcome != 'skipped' GROUP BY test_id",
        )?;
        let mut out: Vec<SlowTest> = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, f64>(2)?,
                ))
            })?
            .filter_map(|r| r.ok())
            .map(|(id, runs, max)| SlowTest {
                recent_ms: durations.get(&id).copied().unwrap_or(max),
                max_ms: max,
                runs: runs as u64,
                test_id: id,
            })
            .collect();
        out.sort_by(|a, b| {
            b.recent_ms
                .total_cmp(&a.recent_ms)
                .then_with(|| a.test_id.cmp(&b.test_id))
        });
        out.truncate(limit);
        Ok(out)
    }

    /// Flaky tests: passed on a retry within a run, or both passed and failed on the same
    /// git tree (the same code, see `Environment::git_tree`) across runs. Runs recorded
    /// without a tree take no part in the second. `rate` = flaky observations (retries
    /// that passed, trees that flipped) / runs of the test; `tree_rate` = failures on
    /// trees where the test also passed / its results on trees it ran on more than once.
    pub fn flaky(&self, limit: usize) -> Result<Vec<FlakyTest>> {
        let mut stmt = self.conn.prepare(
            "WITH per_tree AS (
                 SELECT r.test_id, u.git_tree,
                        SUM(r.outcome IN ('passed','xpassed')) AS passes,
                        SUM(r.outcome IN ('failed','error','timeout','crashed')) AS fails,
                        SUM(r.outcome IN ('passed','xpassed','failed','error','timeout','crashed')) AS results,
                        MAX(u.started_at) AS last
                 FROM results r JOIN runs u ON u.run_id = r.run_id
                 WHERE u.git_tree IS NOT NULL GROUP BY r.test_id, u.git_tree),
             trees AS (
                 SELECT test_id,
                        SUM(passes > 0 AND fails > 0) AS flipped,
                        SUM(CASE WHEN passes > 0 AND fails > 0 THEN fails ELSE 0 END) AS tree_failures,
                        SUM(CASE WHEN results >= 2 THEN results ELSE 0 END) AS tree_results,
                        MAX(CASE WHEN passes > 0 AND fails > 0 THEN last END) AS last_flip
                 FROM per_tree GROUP BY test_id),
             retries AS (
                 SELECT r.test_id, SUM(r.flaky) AS retried, COUNT(*) AS runs,
                        MAX(CASE WHEN r.flaky THEN u.started_at END) AS last_retry
                 FROM results r JOIN runs u ON u.run_id = r.run_id GROUP BY r.test_id)
             SELECT t.test_id, t.retried, COALESCE(f.flipped, 0), t.runs,
                    COALESCE(f.tree_failures, 0), COALESCE(f.tree_results, 0), f.last_flip, t.last_retry
             FROM retries t LEFT JOIN trees f ON f.test_id = t.test_id
             WHERE t.retried > 0 OR f.flipped > 0",
        )?;
        let mut out: Vec<FlakyTest> = stmt
            .query_map([], |r| {
                let (retried, trees, runs, tree_failures, tree_results) = (
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                );
                let last_flip: Option<String> = r.get(6)?;
                let last_retry: Option<String> = r.get(7)?;
                Ok(FlakyTest {
                    test_id: r.get(0)?,
                    passed_on_retry: retried as u64,
                    flipped_trees: trees as u64,
                    runs: runs as u64,
                    rate: (retried + trees) as f64 / runs.max(1) as f64,
                    tree_failures: tree_failures as u64,
                    tree_results: tree_results as u64,
                    tree_rate: tree_failures as f64 / tree_results.max(1) as f64,
                    // RFC 3339 in UTC: the text order is the time order.
                    last_seen: last_flip.max(last_retry),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        out.sort_by(|a, b| {
            b.tree_rate
                .total_cmp(&a.tree_rate)
                .then(b.rate.total_cmp(&a.rate))
                .then_with(|| a.test_id.cmp(&b.test_id))
        });
        out.truncate(limit);
        Ok(out)
    }

    /// Per run, oldest first: duration, pass rate, flaky count.
    pub fn trend(&self, limit: usize) -> Result<Vec<TrendPoint>> {
        let mut stmt = self.conn.prepare(
            "SELECT run_id, started_at, git_commit, total, passed, failed, skipped, flaky, duration_ms FROM
               (SELECT * FROM runs ORDER BY started_at DESC LIMIT ?1) ORDER BY started_at ASC",
        )?;
        let out = stmt
            .query_map(params![limit as i64], |r| {
                let (total, passed, skipped): (i64, i64, i64) = (r.get(3)?, r.get(4)?, r.get(6)?);
                let ran = (total - skipped).max(0);
                Ok(TrendPoint {
                    run_id: r.get(0)?,
                    started_at: r.get(1)?,
                    git_commit: r.get(2)?,
                    total: total as u64,
                    failed: r.get::<_, i64>(5)? as u64,
                    flaky: r.get::<_, i64>(7)? as u64,
                    pass_rate: (ran > 0).then(|| passed as f64 / ran as f64),
                    duration_ms: r.get(8)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(out)
    }

    /// One test's results, newest first.
    pub fn test(&self, id: &str, limit: usize) -> Result<Vec<TestResultRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT u.run_id, u.started_at, u.git_commit, r.outcome, r.duration_ms, r.attempts, r.flaky
             FROM results r JOIN runs u ON u.run_id = r.run_id WHERE r.test_id = ?1
             ORDER BY u.started_at DESC LIMIT ?2",
        )?;
        let out = stmt
            .query_map(params![id, limit as i64], |r| {
                Ok(TestResultRow {
                    run_id: r.get(0)?,
                    started_at: r.get(1)?,
                    git_commit: r.get(2)?,
                    outcome: r.get(3)?,
                    duration_ms: r.get(4)?,
                    attempts: r.get::<_, i64>(5)? as u32,
                    flaky: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(out)
    }

    /// One framework's tests in the newest whole run that ran any: the run's id, how many
    /// there were and the sum of their durations in ms (the suite's serial time, which
    /// `frameworks::workers` weighs against worker start-up). A run `--affected` left tests
    /// out of is not the suite's work.
    pub fn framework_time(&self, framework: &str) -> Result<Option<(String, u64, f64)>> {
        Ok(self
            .conn
            .query_row(
                // The newest whole run that ran the framework, then only its results:
                // grouping every run's results to keep one cost 63-74 ms at 31 runs of 5,000
                // tests, before every pytest or Jest run; this costs ~0.7 ms. The `+` keeps
                // SQLite from building an automatic index on `framework` over every result
                // (as slow as the old query) instead of looking each run up by its key.
                "SELECT r.run_id, COUNT(*), SUM(r.duration_ms) FROM results r
                 WHERE r.run_id = (
                     SELECT u.run_id FROM runs u
                     WHERE u.shard IS NULL AND COALESCE(u.not_selected, 0) = 0
                       AND EXISTS (SELECT 1 FROM results x WHERE x.run_id = u.run_id AND +x.framework = ?1)
                     ORDER BY u.started_at DESC, u.run_id DESC LIMIT 1)
                   AND r.framework = ?1
                 GROUP BY r.run_id",
                params![framework],
                |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get::<_, f64>(2)?)),
            )
            .optional()?)
    }

    /// The workers decisions recorded with a run: None when the run is not here or was
    /// recorded by a testflow that did not keep them (read its run.json then).
    pub fn workers_of(&self, run_id: &str) -> Result<Option<Vec<crate::model::WorkersDecision>>> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT workers FROM runs WHERE run_id = ?1",
                params![run_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        text.map(|t| {
            serde_json::from_str(&t).context("the recorded workers decisions are not readable")
        })
        .transpose()
    }
}

/// One recorded run, as `latest_real_run` finds it.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct RunRow {
    pub run_id: String,
    pub started_at: String,
    pub total: u64,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct SlowTest {
    pub test_id: String,
    /// Moving average of recent durations.
    pub recent_ms: f64,
    pub max_ms: f64,
    pub runs: u64,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct FlakyTest {
    pub test_id: String,
    pub passed_on_retry: u64,
    /// Git trees on which the test both passed and failed.
    pub flipped_trees: u64,
    pub runs: u64,
    /// (retries that passed + flipped trees) / runs.
    pub rate: f64,
    /// Failures on trees where the test also passed.
    pub tree_failures: u64,
    /// Results (passes and failures) on trees the test ran on more than once.
    pub tree_results: u64,
    /// `tree_failures / tree_results`: how often it fails when the code does not change.
    pub tree_rate: f64,
    /// Start time of the newest run that saw it flaky (a flipped tree, a passing retry).
    pub last_seen: Option<String>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct TrendPoint {
    pub run_id: String,
    pub started_at: String,
    pub git_commit: Option<String>,
    pub total: u64,
    pub failed: u64,
    pub flaky: u64,
    pub pass_rate: Option<f64>,
    pub duration_ms: f64,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct TestResultRow {
    pub run_id: String,
    pub started_at: String,
    pub git_commit: Option<String>,
    pub outcome: String,
    pub duration_ms: f64,
    pub attempts: u32,
    pub flaky: bool,
}

/// Is this outcome a pass for history purposes?
pub fn is_pass(o: Outcome) -> bool {
    matches!(o, Outcome::Passed | Outcome::Xpassed)
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;
    use crate::model::{Attempt, Environment, Framework, TestCase, TestMeta};

    pub(crate) fn run_with(
        id: &str,
        secs: i64,
        commit: &str,
        tests: &[(&str, Outcome, f64, bool)],
    ) -> Run {
        let tests: Vec<TestCase> = tests
            .iter()
            .map(|(tid, o, ms, flaky)| {
                let meta = TestMeta {
                    id: (*tid).into(),
                    framework: Framework::Rust,
                    name: (*tid).into(),
                    suite: vec![],
                    file: None,
                    line: None,
                    binary: None,
                };
                let mut attempts = vec![];
                if *flaky {
                    attempts.push(Attempt {
                        attempt: 1,
                        outcome: Outcome::Failed,
                        duration_ms: *ms,
                        started_at: None,
                        failure: None,
                        concurrent: None,
                        attachments: vec![],
                    });
                }
                attempts.push(Attempt {
                    attempt: attempts.len() as u32 + 1,
                    outcome: *o,
                    duration_ms: *ms,
                    started_at: None,
                    failure: None,
                    concurrent: None,
                    attachments: vec![],
                });
                TestCase::from_attempts(meta, attempts)
            })
            .collect();
        let started = chrono::DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap();
        Run {
            environment: Environment {
                git_commit: Some(commit.into()),
                git_tree: Some(format!("tree-{commit}")),
                ..Environment::default()
            },
            frameworks: vec![Framework::Rust],
            ..Run::of_tests(id, started, tests, 1000.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::run_with;
    use super::*;

    #[test]
    fn a_database_from_before_loses_the_per_test_index_and_keeps_its_runs() {
        let d = tempfile::tempdir().unwrap();
        {
            let mut h = History::open(d.path()).unwrap();
            h.record(
                &run_with("old", 0, "c1", &[("a", Outcome::Passed, 5.0, false)]),
                "test",
                10,
            )
            .unwrap();
            h.conn
                .execute_batch(&format!("CREATE INDEX {DROPPED_INDEX} ON results(test_id)"))
                .unwrap();
        }
        let h = History::open(d.path()).unwrap();
        let indexes: Vec<String> = h
            .conn
            .prepare("SELECT name FROM pragma_index_list('results')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(!indexes.iter().any(|i| i == DROPPED_INDEX), "{indexes:?}");
        assert_eq!(h.test("a", 10).unwrap().len(), 1);
    }

    #[test]
    fn records_runs_and_answers_slowest_flaky_trend_and_last_failed() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(dir.path()).unwrap();
        h.record(
            &run_with(
                "r1",
                1,
                "c1",
                &[
                    ("a", Outcome::Passed, 10.0, false),
                    ("b", Outcome::Failed, 100.0, false),
                ],
            ),
            "run",
            10,
        )
        .unwrap();
        h.record(
            &run_with(
                "r2",
                2,
                "c1",
                &[
                    ("a", Outcome::Passed, 20.0, true),
                    ("b", Outcome::Passed, 200.0, false),
                ],
            ),
            "run",
            10,
        )
        .unwrap();
        h.record(
            &run_with(
                "r3",
                3,
                "c2",
                &[
                    ("a", Outcome::Passed, 30.0, false),
                    ("b", Outcome::Failed, 300.0, false),
                ],
            ),
            "run",
            10,
        )
        .unwrap();
        assert_eq!(h.run_count().unwrap(), 3);
        let d = h.durations(10).unwrap();
        // EWMA over 100, 200, 300 with alpha 0.3: 100 -> 130 -> 181
        assert!((d["b"] - 181.0).abs() < 1e-9, "{}", d["b"]);
        assert_eq!(h.slowest(1).unwrap()[0].test_id, "b");
        let flaky = h.flaky(10).unwrap();
        let ids: Vec<&str> = flaky.iter().map(|f| f.test_id.as_str()).collect();
        assert!(ids.contains(&"a"), "a passed on a retry");
        let b = flaky.iter().find(|f| f.test_id == "b").unwrap();
        assert_eq!(b.flipped_trees, 1, "b passed and failed on c1's tree");
        assert_eq!((b.tree_failures, b.tree_results), (1, 2));
        assert_eq!(b.tree_rate, 0.5);
        assert!(
            b.last_seen.as_deref().unwrap() < t_r3().as_str(),
            "r2, not r3"
        );
        assert_eq!(h.last_failed().unwrap().unwrap(), vec!["b".to_owned()]);
        let t = h.trend(10).unwrap();
        assert_eq!(
            t.iter().map(|p| p.run_id.as_str()).collect::<Vec<_>>(),
            ["r1", "r2", "r3"]
        );
        assert_eq!(t[1].pass_rate, Some(1.0));
        assert_eq!(h.test("b", 10).unwrap()[0].run_id, "r3");
    }

    fn t_r3() -> String {
        run_with("r3", 3, "c2", &[]).started_at.to_rfc3339()
    }

    #[test]
    fn the_coverage_baseline_is_a_whole_run_and_a_narrowed_run_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(dir.path()).unwrap();
        let covered = |run: &mut Run, text: &[u8]| {
            let cov = crate::coverage::parse(text, "t.info", Path::new("/")).unwrap();
            run.coverage = Some(cov.summary());
        };
        let mut whole = run_with("r1", 1, "c", &[("a", Outcome::Passed, 1.0, false)]);
        covered(&mut whole, b"SF:a.rs\nDA:1,1\nDA:2,1\nend_of_record\n");
        h.record(&whole, "run", 10).unwrap();
        // Newer, narrowed by --affected, and far lower: never the baseline.
        let mut part = run_with("r2", 2, "c", &[("a", Outcome::Passed, 1.0, false)]);
        covered(&mut part, b"SF:a.rs\nDA:1,1\nDA:2,0\nend_of_record\n");
        part.affected = Some(crate::model::Affected {
            not_selected: 3,
            ..Default::default()
        });
        h.record(&part, "run", 10).unwrap();
        let now = run_with("r3", 3, "c", &[]);
        let files = &part.coverage.as_ref().unwrap().files;
        let b = h.coverage_baseline(&now, files).unwrap().unwrap();
        assert_eq!(b.run_id, "r1");
        assert_eq!(b.skipped_affected, 1);
        assert_eq!(b.lines.covered, 2);
        // A narrowed run is compared with nothing.
        let mut narrowed = run_with("r4", 4, "c", &[]);
        narrowed.affected = part.affected.clone();
        assert_eq!(h.coverage_baseline(&narrowed, files).unwrap(), None);
        // And the gate says both.
        let gates = [crate::gate::Gate {
            name: crate::gate::GateName::NoCoverageDrop,
            threshold: 0.0,
            required: true,
        }];
        let mut c = part.coverage.clone().unwrap();
        c.previous = Some(b);
        let rep = crate::gate::evaluate_with(&now, &gates, Some(&c));
        assert_eq!(
            rep.gates[0].actual,
            Some(50.0),
            "a whole run's drop: 100% -> 50%"
        );
        assert!(
            rep.gates[0]
                .detail
                .contains("passed over 1 newer run that --affected narrowed"),
            "{}",
            rep.gates[0].detail
        );
        let rep = crate::gate::evaluate_with(&narrowed, &gates, Some(&c));
        assert_eq!(rep.gates[0].actual, Some(0.0));
        assert!(
            rep.gates[0]
                .detail
                .contains("not compared: --affected left 3 tests out of this run"),
            "{}",
            rep.gates[0].detail
        );
    }

    #[test]
    fn a_run_affected_left_tests_out_of_is_not_the_suites_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(dir.path()).unwrap();
        let whole = run_with(
            "r1",
            1,
            "c",
            &[
                ("a", Outcome::Passed, 3.0, false),
                ("b", Outcome::Passed, 4.0, false),
            ],
        );
        h.record(&whole, "run", 10).unwrap();
        let mut part = run_with("r2", 2, "c", &[("a", Outcome::Passed, 3.0, false)]);
        part.affected = Some(crate::model::Affected {
            not_selected: 1,
            ..Default::default()
        });
        h.record(&part, "run", 10).unwrap();
        assert_eq!(
            h.framework_time("rust").unwrap(),
            Some(("r1".into(), 2, 7.0)),
            "the selection's run is not the suite's work"
        );
        // An --affected run that left nothing out is the whole suite.
        let mut all = run_with("r3", 3, "c", &[("a", Outcome::Passed, 1.0, false)]);
        all.affected = Some(crate::model::Affected::default());
        h.record(&all, "run", 10).unwrap();
        assert_eq!(
            h.framework_time("rust").unwrap(),
            Some(("r3".into(), 1, 1.0))
        );
    }

    #[test]
    fn recording_a_run_again_replaces_it_and_a_test_named_twice_is_kept_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(dir.path()).unwrap();
        let tests = [
            ("a", Outcome::Failed, 2.0, false),
            ("b", Outcome::Passed, 3.0, false),
        ];
        h.record(&run_with("r1", 1, "c", &tests), "run", 10)
            .unwrap();
        // The same run again (a shard merged twice), now with "a" twice: no error.
        let mut again = run_with("r1", 1, "c", &tests);
        let mut twice = again.tests[0].clone();
        twice.outcome = Outcome::Passed;
        again.tests.push(twice);
        h.record(&again, "run", 10).unwrap();
        let rows: Vec<(String, String)> = h
            .conn
            .prepare("SELECT test_id, outcome FROM results WHERE run_id = 'r1' ORDER BY test_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            rows,
            [("a".into(), "failed".into()), ("b".into(), "passed".into())]
        );
    }

    #[test]
    fn a_history_with_rowid_results_is_rebuilt_once_and_keeps_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(dir.path()).unwrap();
        let tests = [
            ("a", Outcome::Failed, 2.0, false),
            ("b", Outcome::Passed, 3.0, true),
        ];
        h.record(&run_with("r1", 1, "c", &tests), "run", 10)
            .unwrap();
        // As a testflow before this one made it: results in a rowid table.
        let to_old_layout = |conn: &Connection| {
            conn.execute_batch(&format!(
                "PRAGMA foreign_keys = OFF;
                 CREATE TABLE old_results ({RESULTS_COLUMNS});
                 INSERT INTO old_results SELECT * FROM results;
                 DROP TABLE results;
                 ALTER TABLE old_results RENAME TO results;
                 PRAGMA foreign_keys = ON;"
            ))
            .unwrap()
        };
        to_old_layout(&h.conn);
        assert!(!results_without_rowid(&h.conn).unwrap());
        let rows = |h: &History| -> Vec<(String, String, String, f64, i64)> {
            h.conn
                .prepare("SELECT run_id, test_id, outcome, duration_ms, flaky FROM results ORDER BY 1, 2")
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        let before = rows(&h);
        drop(h);
        let h = History::open(dir.path()).unwrap();
        assert!(results_without_rowid(&h.conn).unwrap(), "rebuilt");
        assert_eq!(rows(&h), before, "every row kept");
        let free: i64 = h
            .conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .unwrap();
        assert_eq!(free, 0, "the old table's pages are given back");
        // Two processes upgrading at once: one rebuilds, the other finds it done.
        to_old_layout(&h.conn);
        drop(h);
        std::thread::scope(|s| {
            let opens: Vec<_> = (0..2)
                .map(|_| s.spawn(|| History::open(dir.path()).map(|_| ())))
                .collect();
            for o in opens {
                o.join().unwrap().unwrap();
            }
        });
        let h = History::open(dir.path()).unwrap();
        assert!(results_without_rowid(&h.conn).unwrap());
        assert_eq!(rows(&h), before, "every row kept");
        // Opened again: nothing to do; recording and retention work on the new table.
        drop(h);
        let mut h = History::open(dir.path()).unwrap();
        h.record(&run_with("r2", 2, "c", &tests), "run", 1).unwrap();
        let kept: Vec<String> = rows(&h).into_iter().map(|r| r.0).collect();
        assert_eq!(kept, ["r2", "r2"], "the older run's results went with it");
        assert_eq!(
            h.framework_time("rust").unwrap(),
            Some(("r2".into(), 2, 5.0))
        );
    }

    #[test]
    fn a_runs_workers_decisions_are_kept_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(dir.path()).unwrap();
        let mut run = run_with("r1", 1, "c", &[("a", Outcome::Passed, 2.0, false)]);
        run.workers = vec![crate::model::WorkersDecision {
            framework: crate::model::Framework::Pytest,
            workers: 1,
            basis: crate::model::WorkersBasis::History,
            reason: "serial".into(),
            serial_ms: Some(400.0),
            startup_ms: Some(320.0),
            tests: Some(200),
            cpu_ms: Some(390.0),
            wall_ms: Some(410.0),
            stretch: Some(1.05),
        }];
        h.record(&run, "run", 10).unwrap();
        assert_eq!(h.workers_of("r1").unwrap(), Some(run.workers.clone()));
        h.record(&run_with("r2", 2, "c", &[]), "run", 10).unwrap();
        assert_eq!(h.workers_of("r2").unwrap(), Some(vec![]), "none decided");
        assert_eq!(h.workers_of("r3").unwrap(), None, "not recorded");
        // A run recorded before the column was kept: its run.json is the place to read.
        h.conn
            .execute("UPDATE runs SET workers = NULL WHERE run_id = 'r1'", [])
            .unwrap();
        assert_eq!(h.workers_of("r1").unwrap(), None);
    }

    #[test]
    fn the_suites_time_is_the_newest_whole_run_that_ran_the_framework() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(dir.path()).unwrap();
        assert_eq!(h.framework_time("rust").unwrap(), None, "no history");
        let tests = [
            ("a", Outcome::Passed, 2.0, false),
            ("b", Outcome::Failed, 5.0, false),
        ];
        h.record(&run_with("r1", 1, "c", &tests), "run", 10)
            .unwrap();
        h.record(&run_with("r2", 2, "c", &tests[..1]), "run", 10)
            .unwrap();
        // Newer runs without a Rust result, or of one shard, are not the suite's work.
        let mut other = run_with("r3", 3, "c", &tests);
        for t in &mut other.tests {
            t.framework = crate::model::Framework::Pytest;
        }
        h.record(&other, "run", 10).unwrap();
        let mut shard = run_with("r4", 4, "c", &tests);
        shard.shard = Some(
            crate::shard::ShardSpec::parse("1/2")
                .unwrap()
                .info(crate::shard::Strategy::Timings),
        );
        h.record(&shard, "run", 10).unwrap();
        assert_eq!(
            h.framework_time("rust").unwrap(),
            Some(("r2".into(), 1, 2.0))
        );
        assert_eq!(
            h.framework_time("pytest").unwrap(),
            Some(("r3".into(), 2, 7.0))
        );
        assert_eq!(h.framework_time("jest").unwrap(), None);
    }

    #[test]
    fn the_same_commit_with_a_different_tree_is_not_flaky() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(dir.path()).unwrap();
        let mut dirty = run_with("r1", 1, "c", &[("a", Outcome::Failed, 1.0, false)]);
        dirty.environment.git_tree = Some("tree-dirty".into());
        h.record(&dirty, "run", 10).unwrap();
        h.record(
            &run_with("r2", 2, "c", &[("a", Outcome::Passed, 1.0, false)]),
            "run",
            10,
        )
        .unwrap();
        assert!(h.flaky(10).unwrap().is_empty(), "two trees, one commit");
        // Runs without a tree take no part.
        let mut unknown = run_with("r3", 3, "c", &[("a", Outcome::Failed, 1.0, false)]);
        unknown.environment.git_tree = None;
        h.record(&unknown, "run", 10).unwrap();
        assert!(h.flaky(10).unwrap().is_empty());
        h.record(
            &run_with("r4", 4, "c", &[("a", Outcome::Failed, 1.0, false)]),
            "run",
            10,
        )
        .unwrap();
        let f = h.flaky(10).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].flipped_trees, f[0].tree_failures, f[0].tree_results),
            (1, 1, 2)
        );
    }

    #[test]
    fn an_old_database_gets_the_tree_column() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            let old = SCHEMA.replace("    git_tree TEXT,\n", "");
            assert_ne!(old, SCHEMA);
            conn.execute_batch(&old).unwrap();
            conn.execute(
                "INSERT INTO runs (run_id, started_at, source, completed, total, passed, failed, skipped, flaky, duration_ms)
                 VALUES ('old', '2020-01-01T00:00:00+00:00', 'run', 1, 0, 0, 0, 0, 0, 0)",
                [],
            )
            .unwrap();
        }
        let mut h = History::open(dir.path()).unwrap();
        h.record(
            &run_with("r1", 1, "c", &[("a", Outcome::Passed, 1.0, false)]),
            "run",
            10,
        )
        .unwrap();
        assert_eq!(h.run_count().unwrap(), 2, "the old run is kept");
        drop(h);
        History::open(dir.path()).unwrap();
    }

    #[test]
    fn a_run_that_ran_no_tests_does_not_hide_the_last_real_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(dir.path()).unwrap();
        h.record(
            &run_with("r1", 1, "c", &[("a", Outcome::Failed, 5.0, false)]),
            "run",
            10,
        )
        .unwrap();
        h.record(&run_with("r2", 2, "c", &[]), "run", 10).unwrap();
        assert_eq!(h.run_count().unwrap(), 2, "the empty run is recorded");
        assert_eq!(h.latest_real_run().unwrap().unwrap().run_id, "r1");
        assert_eq!(h.last_failed().unwrap().unwrap(), vec!["a".to_owned()]);
        assert_eq!(h.durations_for_sharding(1).unwrap()["a"], 5.0);
    }

    #[test]
    fn a_background_write_is_waited_for_or_finished_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let failed = |id: &str| run_with(id, 1, "c", &[("a", Outcome::Failed, 5.0, false)]);
        let mut pending =
            History::open(dir.path())
                .unwrap()
                .record_in_background(failed("r1").into(), "run", 10);
        assert_eq!(pending.wait(), None);
        assert_eq!(pending.wait(), None, "waiting twice is harmless");
        let h = History::open(dir.path()).unwrap();
        assert_eq!(h.run_count().unwrap(), 1);
        // Dropped without a wait (an early return): the run is still written.
        drop(History::open(dir.path()).unwrap().record_in_background(
            failed("r2").into(),
            "run",
            10,
        ));
        assert_eq!(h.run_count().unwrap(), 2);
        // A write that fails says why, as a warning.
        let h2 = History::open(dir.path()).unwrap();
        h2.conn.execute_batch("DROP TABLE results").unwrap();
        let warning = h2
            .record_in_background(failed("r3").into(), "run", 10)
            .wait();
        assert!(
            warning
                .as_deref()
                .is_some_and(|w| w.starts_with("could not record the run in history")),
            "{warning:?}"
        );
    }

    #[test]
    fn readers_do_not_create_the_history() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(".testflow");
        assert!(History::open_existing(&root).unwrap().is_none());
        assert!(!root.exists());
    }

    #[test]
    fn retention_keeps_the_newest_runs_and_their_results() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(dir.path()).unwrap();
        for i in 0..5 {
            h.record(
                &run_with(
                    &format!("r{i}"),
                    i,
                    "c",
                    &[("a", Outcome::Passed, 1.0, false)],
                ),
                "run",
                3,
            )
            .unwrap();
        }
        assert_eq!(h.run_count().unwrap(), 3);
        let n: i64 = h
            .conn
            .query_row("SELECT COUNT(*) FROM results", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3, "results of deleted runs go with them");
    }
}
