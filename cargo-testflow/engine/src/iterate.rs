//! The fix-and-retry loop: run, analyse, let a fix command (or a person) change the code,
//! run again with the previous failures first, until green or until it stops making
//! progress. Each iteration is recorded as JSON under `.testflow/iterations/<loop id>/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::analyze;
use crate::model::Run;
use crate::store::{Store, new_run_id, write_atomic};

/// Environment variable that tells the fix command where the analysis JSON is.
pub const ANALYSIS_ENV: &str = "TESTFLOW_ANALYSIS";

#[derive(Clone, Debug)]
pub struct IterateOptions {
    pub max_iterations: u32,
    /// Stop when the failure count has not improved for this many iterations.
    pub plateau: u32,
    /// Shell command run between iterations, with `TESTFLOW_ANALYSIS` set.
    pub fix_cmd: Option<String>,
    pub rollback_on_regression: bool,
    /// Project root: where the fix command runs and whose git tree rollback restores.
    pub project_root: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Everything passed.
    Success,
    /// More failures than the iteration before.
    Regression,
    /// The failure count stopped improving.
    Plateau,
    MaxIterations,
    /// Still failing; the loop goes on.
    Continue,
    Interrupted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Regression => "regression",
            Status::Plateau => "plateau",
            Status::MaxIterations => "max_iterations",
            Status::Continue => "continue",
            Status::Interrupted => "interrupted",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Iteration {
    pub iteration: u32,
    pub run_id: String,
    pub status: Status,
    pub tests: u64,
    pub failures: u64,
    pub duration_ms: f64,
    /// Failing now, passing (or absent) in the iteration before.
    pub newly_failing: Vec<String>,
    /// Failing in the iteration before, passing now.
    pub fixed: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<PathBuf>,
    /// Files the rollback restored after a regression.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rolled_back: Vec<String>,
}

/// How one iteration's run went, as the caller (the CLI) produced it.
pub struct RunOutcome {
    pub run: Run,
    pub interrupted: bool,
}

/// Decide the status after an iteration from the failure counts so far.
pub fn decide(counts: &[u64], max_iterations: u32, plateau: u32, tests: u64) -> Status {
    let Some(&now) = counts.last() else {
        return Status::Continue;
    };
    if now == 0 && tests > 0 {
        return Status::Success;
    }
    if counts.len() >= 2 && now > counts[counts.len() - 2] {
        return Status::Regression;
    }
    let p = plateau.max(1) as usize;
    if counts.len() > p {
        let best_before = counts[..counts.len() - p]
            .iter()
            .min()
            .copied()
            .unwrap_or(u64::MAX);
        if counts[counts.len() - p..].iter().all(|&c| c >= best_before) {
            return Status::Plateau;
        }
    }
    if counts.len() as u32 >= max_iterations {
        return Status::MaxIterations;
    }
    Status::Continue
}

/// The failures that count: a quarantined test's failure is not the loop's to fix.
fn failing_ids(run: &Run) -> BTreeSet<String> {
    let quarantined = run.quarantined_ids();
    run.failed_tests()
        .filter(|t| !quarantined.contains(&t.id))
        .map(|t| t.id.clone())
        .collect()
}

/// The loop (iterations are recorded under the first run's `.testflow/iterations/`).
/// `run_suite(first)` runs the suite with the tests in `first` scheduled
/// before the others; `wait` blocks until the user changed something (no fix command)
/// and returns false to stop. `log` receives one line per iteration.
pub fn iterate(
    opts: &IterateOptions,
    run_suite: &mut dyn FnMut(&[String]) -> Result<RunOutcome>,
    wait: &mut dyn FnMut() -> Result<bool>,
    log: &mut dyn std::io::Write,
) -> Result<(Status, Vec<Iteration>)> {
    let loop_id = new_run_id();
    let mut loop_dir = PathBuf::new();
    let mut counts: Vec<u64> = Vec::new();
    let mut history: Vec<Iteration> = Vec::new();
    let mut previous: Option<BTreeSet<String>> = None;
    let mut first: Vec<String> = Vec::new();
    let mut tree_was_clean = false;
    for n in 1..=opts.max_iterations.max(1) {
        let started = Instant::now();
        let outcome = run_suite(&first)?;
        let run = outcome.run;
        if n == 1 {
            // Next to the runs: `.testflow/iterations/<loop id>/` of the project that ran.
            let root = run
                .project_root
                .as_deref()
                .map_or_else(|| opts.project_root.clone(), PathBuf::from);
            loop_dir = Store::for_project(&root)
                .root()
                .join("iterations")
                .join(&loop_id);
        }
        let failing = failing_ids(&run);
        counts.push(failing.len() as u64);
        let mut status = if outcome.interrupted {
            Status::Interrupted
        } else {
            decide(
                &counts,
                opts.max_iterations,
                opts.plateau,
                run.summary.total,
            )
        };
        let (newly_failing, fixed) = match &previous {
            Some(prev) => (
                failing.difference(prev).cloned().collect(),
                prev.difference(&failing).cloned().collect(),
            ),
            None => (vec![], vec![]),
        };
        let mut rolled_back = Vec::new();
        if status == Status::Regression && opts.rollback_on_regression && opts.fix_cmd.is_some() {
            if tree_was_clean {
                rolled_back = rollback(&opts.project_root)?;
            } else {
                let _ = writeln!(
                    log,
                    "not rolling back: the working tree had uncommitted changes before the fix command ran"
                );
            }
        }
        let analysis = analyze::analyze(&run);
        let analysis_path = loop_dir.join(format!("analysis-{n}.json"));
        write_atomic(&analysis_path, &serde_json::to_vec_pretty(&analysis)?)?;
        let it = Iteration {
            iteration: n,
            run_id: run.run_id.clone(),
            status,
            tests: run.summary.total,
            failures: failing.len() as u64,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            newly_failing,
            fixed,
            analysis: Some(analysis_path.clone()),
            rolled_back,
        };
        write_atomic(
            &loop_dir.join(format!("iteration-{n}.json")),
            &serde_json::to_vec_pretty(&it)?,
        )?;
        let _ = writeln!(
            log,
            "iteration {n}: {} tests, {} failing, {} fixed, {} newly failing, {:.1}s -> {}",
            it.tests,
            it.failures,
            it.fixed.len(),
            it.newly_failing.len(),
            it.duration_ms / 1000.0,
            status.as_str()
        );
        for id in &it.newly_failing {
            let _ = writeln!(log, "  newly failing: {id}");
        }
        for f in &it.rolled_back {
            let _ = writeln!(log, "  rolled back: {f}");
        }
        history.push(it);
        if status != Status::Continue {
            write_atomic(
                &loop_dir.join("summary.json"),
                &serde_json::to_vec_pretty(&history)?,
            )?;
            return Ok((status, history));
        }
        // Next time, what failed runs first.
        first = failing.iter().cloned().collect();
        previous = Some(failing);
        match &opts.fix_cmd {
            Some(cmd) => {
                tree_was_clean = is_tree_clean(&opts.project_root);
                run_fix(cmd, &opts.project_root, &analysis_path, log)?;
            }
            None => {
                if !wait()? {
                    status = Status::Interrupted;
                    write_atomic(
                        &loop_dir.join("summary.json"),
                        &serde_json::to_vec_pretty(&history)?,
                    )?;
                    return Ok((status, history));
                }
            }
        }
    }
    unreachable!("the last iteration always reaches max_iterations")
}

fn run_fix(cmd: &str, root: &Path, analysis: &Path, log: &mut dyn std::io::Write) -> Result<()> {
    let _ = writeln!(log, "running fix command: {cmd}");
    let status = duct::cmd("sh", ["-c", cmd])
        .dir(root)
        .env(ANALYSIS_ENV, analysis)
        .stdin_null()
        .unchecked()
        .run()
        .with_context(|| format!("cannot run the fix command `{cmd}`"))?
        .status;
    if !status.success() {
        let _ = writeln!(
            log,
            "fix command exited with {status}; running the suite anyway"
        );
    }
    Ok(())
}

fn git(root: &Path, args: &[&str]) -> Result<String> {
    let out = duct::cmd("git", args)
        .dir(root)
        .stdin_null()
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .context("cannot run git")?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// No tracked file is modified (untracked files do not matter: rollback never touches them).
pub fn is_tree_clean(root: &Path) -> bool {
    git(root, &["status", "--porcelain", "--untracked-files=no"]).is_ok_and(|s| s.trim().is_empty())
}

/// Check that `--rollback-on-regression` can work here, before the loop starts.
pub fn check_rollback_possible(root: &Path) -> Result<()> {
    git(root, &["rev-parse", "--is-inside-work-tree"]).map_err(|_| {
        anyhow::anyhow!(
            "--rollback-on-regression needs a git work tree at {}",
            root.display()
        )
    })?;
    if !is_tree_clean(root) {
        bail!(
            "--rollback-on-regression refuses to start: tracked files in {} have uncommitted changes, so a rollback could not tell the fix command's changes from yours (commit or stash them first)",
            root.display()
        );
    }
    Ok(())
}

/// Restore the tracked files the fix command changed (the tree was clean before it ran).
fn rollback(root: &Path) -> Result<Vec<String>> {
    let changed = git(root, &["diff", "--name-only", "HEAD"])?;
    let files: Vec<String> = changed
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect();
    if !files.is_empty() {
        let mut args = vec!["checkout", "HEAD", "--"];
        args.extend(files.iter().map(String::as_str));
        git(root, &args)?;
    }
    Ok(files)
}

/// Wait until a file under `root` changes (ignoring `target/`, `.testflow/`, `.git/`,
/// `node_modules/`), or a line arrives on stdin (Enter). Polls modification times.
pub fn wait_for_change(root: &Path, stdin_lines: &std::sync::mpsc::Receiver<()>) -> bool {
    let before = newest_mtime(root);
    loop {
        match stdin_lines.recv_timeout(Duration::from_millis(500)) {
            Ok(()) => return true,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        // Ctrl-C while waiting: go on, so the next run stops at once and says so.
        if newest_mtime(root) > before || crate::interrupt::received().is_some() {
            return true;
        }
    }
}

fn newest_mtime(root: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let skip = matches!(
                name.to_str(),
                Some("target" | ".testflow" | ".git" | "node_modules" | "__pycache__" | ".venv")
            );
            if skip {
                continue;
            }
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
            } else if let Ok(m) = meta.modified() {
                newest = newest.max(m);
            }
        }
    }
    newest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_failure_counts() {
        assert_eq!(decide(&[0], 5, 2, 10), Status::Success);
        assert_eq!(
            decide(&[0], 5, 2, 0),
            Status::Continue,
            "no test ran is not success"
        );
        assert_eq!(decide(&[3, 2], 5, 2, 10), Status::Continue);
        assert_eq!(decide(&[3, 4], 5, 2, 10), Status::Regression);
        assert_eq!(
            decide(&[3, 3], 5, 2, 10),
            Status::Continue,
            "one flat iteration is not a plateau yet"
        );
        assert_eq!(decide(&[3, 3, 3], 5, 2, 10), Status::Plateau);
        assert_eq!(decide(&[3, 3], 5, 1, 10), Status::Plateau);
        assert_eq!(decide(&[5, 4, 3, 2, 1], 5, 2, 10), Status::MaxIterations);
    }
}
