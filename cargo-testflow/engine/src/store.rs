//! Where runs live: `.testflow/runs/<run-id>/{events.jsonl,run.json}` under the project
//! root, or under `$TESTFLOW_DIR`. Run ids sort by time, so "latest" needs no pointer file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use chrono::Utc;

use crate::environment;
use crate::events::{Event, EventLog, Folded, fold_file};
pub use crate::files::write_atomic;
use crate::model::{Framework, Run, SCHEMA_VERSION, ShardInfo};

pub const EVENTS_FILE: &str = "events.jsonl";
pub const RUN_FILE: &str = "run.json";

#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// `$TESTFLOW_DIR` when set, else `<project_root>/.testflow`.
    pub fn for_project(project_root: &Path) -> Store {
        match std::env::var_os("TESTFLOW_DIR").filter(|v| !v.is_empty()) {
            Some(dir) => Store {
                root: PathBuf::from(dir),
            },
            None => Store {
                root: project_root.join(".testflow"),
            },
        }
    }

    /// For commands that read runs: `$TESTFLOW_DIR`, else the nearest `.testflow/` in
    /// `start` or its parents, else `start/.testflow`.
    pub fn discover(start: &Path) -> Store {
        if std::env::var_os("TESTFLOW_DIR").is_some_and(|v| !v.is_empty()) {
            return Store::for_project(start);
        }
        let found = start
            .ancestors()
            .find(|d| d.join(".testflow").is_dir())
            .unwrap_or(start);
        Store::for_project(found)
    }

    pub fn at(root: PathBuf) -> Store {
        Store { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The state directory ignores itself (`*`), so it never shows in `git status`
    /// whatever the project's own `.gitignore` says. Best effort: a read-only or
    /// shared directory simply keeps what it has.
    fn ignore_in_git(&self) {
        let path = self.root.join(".gitignore");
        if !path.exists() {
            let _ = std::fs::write(
                &path,
                "# Written by testflow: its runs and history are local state.\n*\n",
            );
        }
    }

    /// The directory a run's coverage reports are relative to: the run's directory. A run
    /// given as a JSON report file elsewhere (`run --report json=FILE`, as the CI pipelines
    /// merge them) has its reports in its run directory in the store, found by its id (the
    /// CI jobs carry the shards' `.testflow/runs/` along).
    pub fn coverage_dir(&self, path: &Path, run: &Run) -> PathBuf {
        let dir = if path.is_dir() {
            path.to_owned()
        } else {
            path.parent().map(PathBuf::from).unwrap_or_default()
        };
        let Some(c) = &run.coverage else { return dir };
        let by_id = self.runs_dir().join(&run.run_id);
        if c.reports.iter().any(|r| !dir.join(r).is_file())
            && c.reports.iter().all(|r| by_id.join(r).is_file())
        {
            by_id
        } else {
            dir
        }
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// Run ids, oldest first.
    pub fn run_ids(&self) -> Result<Vec<String>> {
        let dir = self.runs_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join(EVENTS_FILE).is_file() || e.path().join(RUN_FILE).is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// A run directory from `latest`, a run id, a run directory, an `events.jsonl` or a `run.json`.
    ///
    /// `latest` is the newest run that ran tests: a run whose filter matched nothing,
    /// that found no suites or whose build failed stays recorded (and reachable by its
    /// id) but does not hide the last real run.
    pub fn resolve(&self, what: &str) -> Result<PathBuf> {
        Ok(self.resolve_run(what)?.0)
    }

    /// `resolve`, with the run read.
    pub fn resolve_run(&self, what: &str) -> Result<(PathBuf, Run)> {
        self.resolve_as(what, Latest::RanTests)
    }

    /// `resolve_run` where `latest` is the newest run, whatever it ran: for verdicts
    /// (`gate`), where a newer run that failed to build must never be passed over for an
    /// older green one.
    pub fn resolve_newest(&self, what: &str) -> Result<(PathBuf, Run)> {
        self.resolve_as(what, Latest::Newest)
    }

    /// Recorded runs newer than `run_id`, each with why `latest` passed over it.
    pub fn newer_than(&self, run_id: &str) -> Result<Vec<(String, &'static str)>> {
        let mut out = Vec::new();
        for id in self.run_ids()? {
            if id.as_str() <= run_id {
                continue;
            }
            let why = match load_run(&self.runs_dir().join(&id)) {
                Ok(r)
                    if r.errors
                        .iter()
                        .any(|e| e.kind == "build" || e.kind == "list") =>
                {
                    "failed to build"
                }
                Ok(r) if r.tests.is_empty() => "ran no tests",
                Ok(_) => "ran tests",
                Err(_) => "cannot be read",
            };
            out.push((id, why));
        }
        Ok(out)
    }

    fn resolve_as(&self, what: &str, latest: Latest) -> Result<(PathBuf, Run)> {
        if what == "latest" {
            let ids = self.run_ids()?;
            if ids.is_empty() {
                return Err(NotRecorded(no_runs_yet(&self.root)).into());
            }
            for id in ids.iter().rev() {
                let dir = self.runs_dir().join(id);
                // A run that cannot be read is not silently stepped over.
                let run = load_run(&dir)?;
                if latest == Latest::Newest || !run.tests.is_empty() {
                    return Ok((dir, run));
                }
            }
            // None ran tests (a first build that failed): the newest, to say why.
            let dir = self.runs_dir().join(ids.last().expect("not empty"));
            let run = load_run(&dir)?;
            return Ok((dir, run));
        }
        let as_path = Path::new(what);
        let dir = if as_path.exists() {
            as_path.to_owned()
        } else {
            let by_id = self.runs_dir().join(what);
            if !by_id.is_dir() {
                let ids = self.run_ids().unwrap_or_default();
                let mut msg = format!(
                    "no run `{what}`: not a run id in {} nor an existing path",
                    self.runs_dir().display()
                );
                // Ids that start like the one given, else the newest.
                let mut near: Vec<&String> = ids
                    .iter()
                    .rev()
                    .filter(|id| !what.is_empty() && id.starts_with(what))
                    .take(3)
                    .collect();
                if near.is_empty() {
                    near = ids.iter().rev().take(3).collect();
                }
                if !near.is_empty() {
                    let near: Vec<&str> = near.iter().map(|s| s.as_str()).collect();
                    msg.push_str(&format!(
                        "\n  recorded runs{}: {}",
                        if ids.len() > 3 { " (newest)" } else { "" },
                        near.join(", ")
                    ));
                }
                return Err(NotRecorded(msg).into());
            }
            by_id
        };
        let run = load_run(&dir)?;
        Ok((dir, run))
    }

    /// Load a run: `run.json` when present, else fold `events.jsonl` (an unfinished or
    /// crashed run has no run.json). Also accepts a path to either file.
    pub fn load(&self, what: &str) -> Result<Run> {
        Ok(self.resolve_run(what)?.1)
    }

    /// The workers decisions recorded run `run_id` made, read without its tests: the
    /// workers decision asks before every pytest and Jest run, and a whole run of 5,000
    /// tests takes ~15 ms to read.
    pub fn workers_of(&self, run_id: &str) -> Result<Vec<crate::model::WorkersDecision>> {
        #[derive(serde::Deserialize)]
        struct Workers {
            #[serde(default)]
            workers: Vec<crate::model::WorkersDecision>,
        }
        let dir = self.runs_dir().join(run_id);
        let run_json = dir.join(RUN_FILE);
        if !run_json.is_file() {
            return Ok(load_run(&dir)?.workers);
        }
        let text = std::fs::read_to_string(&run_json)
            .with_context(|| format!("cannot read {}", run_json.display()))?;
        let w: Workers = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a testflow run", run_json.display()))?;
        Ok(w.workers)
    }

    /// Whether this state directory exists (readers never create it).
    pub fn exists(&self) -> bool {
        self.root.is_dir()
    }

    /// Start recording a new run that began at `started`. git is asked meanwhile, on a
    /// thread of its own ([`Recording::git`]).
    pub fn start_run(
        &self,
        project_root: &Path,
        frameworks: Vec<Framework>,
        started: chrono::DateTime<Utc>,
        shard: Option<ShardInfo>,
    ) -> Result<Recording> {
        let git = environment::PendingGit::start(project_root);
        let environment = environment::without_git();
        self.start_run_in(project_root, frameworks, started, shard, environment, git)
    }

    /// `start_run` with the environment already detected (and completed by the caller)
    /// and git already asked.
    pub fn start_run_in(
        &self,
        project_root: &Path,
        frameworks: Vec<Framework>,
        started: chrono::DateTime<Utc>,
        shard: Option<ShardInfo>,
        environment: crate::model::Environment,
        git: environment::PendingGit,
    ) -> Result<Recording> {
        let run_id = new_run_id();
        let dir = self.runs_dir().join(&run_id);
        let log = EventLog::run_log(&dir.join(EVENTS_FILE))?;
        self.ignore_in_git();
        log.append(&Event::RunStarted {
            schema_version: SCHEMA_VERSION,
            run_id: run_id.clone(),
            time: started,
            testflow_version: env!("CARGO_PKG_VERSION").into(),
            project_root: Some(project_root.display().to_string()),
            environment: environment.clone(),
            frameworks,
            shard,
        })?;
        Ok(Recording {
            run_id,
            dir,
            log: Arc::new(log),
            started,
            environment,
            git: Mutex::new(GitAnswer::Pending(git)),
        })
    }
}

enum GitAnswer {
    Pending(environment::PendingGit),
    Recorded(environment::Git),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Latest {
    RanTests,
    Newest,
}

/// What a run or test asked for is not recorded (`crate::error::Error::NotFound`, exit
/// `NOT_FOUND`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotRecorded(pub String);

/// The message for a state directory with no runs in it.
pub fn no_runs_yet(root: &Path) -> String {
    format!(
        "no runs recorded yet in {} (run `cargo testflow run` first)",
        root.display()
    )
}

/// The line a reading command prints on stderr: which run it reads.
pub fn reading_line(run: &Run) -> String {
    format!(
        "reading run {} ({}, {} tests)",
        run.run_id,
        run.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        run.tests.len()
    )
}

pub fn load_run(path: &Path) -> Result<Run> {
    let (run_json, events) = if path.is_dir() {
        (path.join(RUN_FILE), path.join(EVENTS_FILE))
    } else if path.file_name().is_some_and(|n| n == EVENTS_FILE) {
        (PathBuf::new(), path.to_owned())
    } else {
        (path.to_owned(), PathBuf::new())
    };
    if run_json.is_file() {
        let text = std::fs::read_to_string(&run_json)
            .with_context(|| format!("cannot read {}", run_json.display()))?;
        return parse_run(&text, &run_json.display().to_string());
    }
    if events.is_file() {
        return Ok(fold_file(&events)?.run);
    }
    bail!("{}: no run.json or events.jsonl there", path.display())
}

/// A `run.json` (or JSON report) read from `source`. Never panics, whatever the text
/// (fuzzed: `fuzz/fuzz_targets/run_json.rs`).
pub fn parse_run(text: &str, source: &str) -> Result<Run> {
    let run: Run = serde_json::from_str(text)
        .with_context(|| format!("{source} is not a testflow run (JSON report)"))?;
    if run.schema_version > SCHEMA_VERSION {
        bail!(
            "{source} has schema version {}, newer than this testflow understands ({SCHEMA_VERSION}); upgrade testflow",
            run.schema_version
        );
    }
    Ok(run)
}

/// A run being recorded.
pub struct Recording {
    pub run_id: String,
    pub dir: PathBuf,
    pub log: Arc<EventLog>,
    pub started: chrono::DateTime<Utc>,
    /// The environment as `run_started` has it: without git's facts ([`Recording::git`]).
    pub environment: crate::model::Environment,
    git: Mutex<GitAnswer>,
}

impl Recording {
    /// What git says about the checkout: waited for, and written to the log as a `git`
    /// event, the first time it is asked (at the latest by `finish`).
    pub fn git(&self) -> Result<environment::Git> {
        let mut answer = self.git.lock().unwrap_or_else(|e| e.into_inner());
        if let GitAnswer::Pending(_) = &*answer {
            let GitAnswer::Pending(pending) =
                std::mem::replace(&mut *answer, GitAnswer::Recorded(Default::default()))
            else {
                unreachable!("matched above")
            };
            let git = pending.wait();
            self.log.append(&Event::Git {
                time: Utc::now(),
                commit: git.commit.clone(),
                branch: git.branch.clone(),
                tree: git.tree.clone(),
            })?;
            *answer = GitAnswer::Recorded(git);
        }
        match &*answer {
            GitAnswer::Recorded(git) => Ok(git.clone()),
            GitAnswer::Pending(_) => unreachable!("answered above"),
        }
    }

    /// Write git's answer and "run finished", fold the log into the run and store `run.json`.
    pub fn finish(&self, completed: bool, reason: Option<&str>) -> Result<(Run, Vec<String>)> {
        let folded = self.fold_finished(completed, reason)?;
        self.write_run(&folded.run)?;
        Ok((folded.run, folded.warnings))
    }

    /// [`Recording::finish`] without `run.json`: the run as its log ends, for a caller
    /// that starts other work on it (history) before writing it ([`Recording::write_run`]).
    pub fn fold_finished(&self, completed: bool, reason: Option<&str>) -> Result<Folded> {
        self.git()?;
        self.log.append(&Event::RunFinished {
            time: Utc::now(),
            completed,
            reason: reason.map(str::to_owned),
        })?;
        self.log.fold()
    }

    /// Store the folded run as `run.json` (what readers load instead of folding the log).
    pub fn write_run(&self, run: &Run) -> Result<()> {
        write_atomic(&self.dir.join(RUN_FILE), &serde_json::to_vec(run)?)
    }
}

/// `20261126T065637.123Z-4f2a`: sortable by time, unique across processes.
pub fn new_run_id() -> String {
    let now = Utc::now();
    let salt = (std::process::id() as u64 ^ now.timestamp_subsec_nanos() as u64) & 0xffff;
    format!("{}-{salt:04x}", now.format("%Y%m%dT%H%M%S%.3fZ"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_is_asked_while_the_run_goes_on_and_recorded_before_it_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@t"])
                .args(["-c", "commit.gpgsign=false"])
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert!(out.status.success(), "git {args:?}");
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        };
        git(&["init", "-q"]);
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        git(&["add", "a.txt"]);
        git(&["commit", "-q", "-m", "one"]);
        let store = Store::for_project(dir.path());
        let rec = store
            .start_run(dir.path(), vec![Framework::Rust], Utc::now(), None)
            .unwrap();
        let log = std::fs::read_to_string(rec.log.path()).unwrap();
        assert!(!log.contains("git_"), "run_started waits for no git: {log}");
        let (run, warnings) = rec.finish(true, None).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            run.environment.git_tree,
            Some(git(&["rev-parse", "HEAD^{tree}"]))
        );
        if std::env::var_os("GITHUB_SHA").is_none() && std::env::var_os("CI_COMMIT_SHA").is_none() {
            assert_eq!(
                run.environment.git_commit,
                Some(git(&["rev-parse", "HEAD"]))
            );
        }
        let log = std::fs::read_to_string(rec.log.path()).unwrap();
        let kinds: Vec<_> = log
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["event"].clone())
            .collect();
        assert_eq!(kinds, ["run_started", "git", "run_finished"]);
        // Asked again, the answer is the same and written once.
        assert_eq!(rec.git().unwrap().tree, run.environment.git_tree);
        assert_eq!(std::fs::read_to_string(rec.log.path()).unwrap(), log);
    }

    #[test]
    fn the_state_directory_ignores_itself_in_git() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join(".testflow"));
        store
            .start_run(dir.path(), vec![Framework::Rust], Utc::now(), None)
            .unwrap();
        let ignore = std::fs::read_to_string(dir.path().join(".testflow/.gitignore")).unwrap();
        assert!(ignore.lines().any(|l| l == "*"), "{ignore}");
        // A user's own edit is kept.
        std::fs::write(dir.path().join(".testflow/.gitignore"), "runs/\n").unwrap();
        store
            .start_run(dir.path(), vec![Framework::Rust], Utc::now(), None)
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".testflow/.gitignore")).unwrap(),
            "runs/\n"
        );
    }

    /// A finished run with these tests (`run.json` written as a run would).
    fn recorded(store: &Store, tests: &[&str]) -> String {
        let rec = store
            .start_run(store.root(), vec![Framework::Rust], Utc::now(), None)
            .unwrap();
        let tests: Vec<_> = tests
            .iter()
            .map(|t| (*t, crate::model::Outcome::Passed, 1.0, false))
            .collect();
        let run = crate::history::tests_support::run_with(&rec.run_id, 0, "c", &tests);
        write_atomic(&rec.dir.join(RUN_FILE), &serde_json::to_vec(&run).unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        rec.run_id
    }

    #[test]
    fn latest_is_the_newest_run_that_ran_tests_and_an_unfinished_run_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().to_owned());
        let err = store.load("latest").unwrap_err();
        assert!(err.to_string().contains("no runs recorded yet"), "{err}");
        assert!(err.is::<NotRecorded>());
        let first = recorded(&store, &["a"]);
        let empty = recorded(&store, &[]);
        // never finished: no run.json, folded from the log (and no tests yet)
        let second = store
            .start_run(dir.path(), vec![Framework::Rust], Utc::now(), None)
            .unwrap();
        let latest = store.load("latest").unwrap();
        assert_eq!(latest.run_id, first, "runs without tests do not count");
        assert_eq!(
            store.newer_than(&first).unwrap(),
            [
                (empty.clone(), "ran no tests"),
                (second.run_id.clone(), "ran no tests")
            ]
        );
        assert_eq!(
            store.resolve_newest("latest").unwrap().1.run_id,
            second.run_id
        );
        let unfinished = store.load(&second.run_id).unwrap();
        assert!(!unfinished.completed);
        assert_eq!(
            store.load(&empty).unwrap().run_id,
            empty,
            "still reachable by id"
        );
        assert_eq!(
            store.run_ids().unwrap(),
            vec![first.clone(), empty, second.run_id.clone()]
        );
        let err = store.load("nope").unwrap_err();
        assert!(err.to_string().contains("no run `nope`"), "{err}");
        assert!(err.to_string().contains(&second.run_id), "{err}");
        let prefix = &first[..first.len() - 2];
        let err = store.load(prefix).unwrap_err();
        assert!(err.to_string().contains(&first), "{err}");
        assert!(err.is::<NotRecorded>());
        assert!(reading_line(&latest).starts_with(&format!("reading run {first} (")));
        assert!(reading_line(&latest).ends_with(", 1 tests)"));
    }

    #[test]
    fn when_no_run_ran_tests_latest_is_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().to_owned());
        recorded(&store, &[]);
        let newest = recorded(&store, &[]);
        assert_eq!(store.load("latest").unwrap().run_id, newest);
    }
}
