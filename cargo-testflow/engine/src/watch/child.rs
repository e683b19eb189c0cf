//! A round's process: `cargo testflow run …` with our options first, then the user's.
//! It runs in its own process group, so Ctrl-C on the terminal reaches only the watcher,
//! which then asks the round to stop (SIGINT, once: a second one would make the run exit
//! without writing run.json). Its end is waited for without reaping it (`WNOWAIT`), so a
//! signal sent meanwhile can only reach our own child, never a reused pid.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::rounds::{Reach, Scope};
use super::{Mode, RoundEnd, WatchOptions};
use crate::model::Summary;

/// `run`'s arguments for a round: the selection, the order, the project, the JSON report
/// the watcher reads the summary from, then the user's options (so their `--` stays last).
pub(super) fn args(opts: &WatchOptions, scope: &Scope, report: &Path) -> Vec<String> {
    let mut a = vec!["run".to_owned()];
    if opts.mode == Mode::Affected && scope.reach != Reach::All {
        a.push("--affected".to_owned());
        // The first round (and one that covers it) reaches back to the last green run.
        if scope.reach == Reach::Changed {
            for path in scope.changed() {
                a.extend(["--changed".to_owned(), path]);
            }
        }
    }
    if opts.failed_first {
        a.extend(["--order".to_owned(), "failed-first".to_owned()]);
    }
    a.extend(["--project".to_owned(), opts.root.display().to_string()]);
    // `--report` splits its value at commas: a path with one gets no summary.
    let report = report.display().to_string();
    if !report.contains(',') {
        a.extend(["--report".to_owned(), format!("json={report}")]);
    }
    a.extend(opts.run_args.iter().cloned());
    a
}

/// Where the rounds' JSON reports go: a directory of our own outside the project (so
/// writing them is no change), removed when watching ends.
pub(super) struct ReportDir(PathBuf);

impl ReportDir {
    pub(super) fn new() -> anyhow::Result<ReportDir> {
        use anyhow::Context;
        let dir = std::env::temp_dir().join(format!("testflow-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(ReportDir(dir))
    }

    pub(super) fn path(&self, round: u64) -> PathBuf {
        self.0.join(format!("round-{round}.json"))
    }
}

impl Drop for ReportDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) struct RoundProcess {
    pub(super) round: u64,
    child: std::process::Child,
    report: PathBuf,
}

impl RoundProcess {
    /// Start the round; `on_exit` is called (on a thread) once its process has ended.
    pub(super) fn spawn(
        opts: &WatchOptions,
        round: u64,
        args: &[String],
        reports: &ReportDir,
        on_exit: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<RoundProcess> {
        let report = reports.path(round);
        let _ = std::fs::remove_file(&report);
        let mut cmd = Command::new(&opts.program);
        cmd.args(args).stdin(Stdio::null()).process_group(0);
        if opts.child_stdout_to_stderr {
            use std::os::fd::AsFd;
            cmd.stdout(std::io::stderr().as_fd().try_clone_to_owned()?);
        }
        // Should the watcher be killed, the round stops as on Ctrl-C (keeping its record).
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        #[cfg(target_os = "linux")]
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT);
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        let pid = child.id() as libc::id_t;
        std::thread::Builder::new()
            .name(format!("testflow-watch-round-{round}"))
            .spawn(move || {
                wait_without_reaping(pid);
                on_exit();
            })?;
        Ok(RoundProcess {
            round,
            child,
            report,
        })
    }

    pub(super) fn interrupt(&self) {
        // SAFETY: kill(2) on our own child, which is not reaped before `reap`.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
    }

    pub(super) fn kill(&self) {
        // SAFETY: killpg(2) on the process group the child leads (process_group(0)).
        unsafe {
            libc::killpg(self.child.id() as i32, libc::SIGKILL);
        }
    }

    /// Reap the ended process and read what its run recorded.
    pub(super) fn reap(mut self) -> RoundEnd {
        let status = self.child.wait().ok();
        let mut end = RoundEnd {
            exit_code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            ..RoundEnd::default()
        };
        if let Ok(run) = crate::store::load_run(&self.report) {
            end.summary = Some(Summary::of(&run.tests, run.summary.duration_ms));
            end.run_errors = Some(run.errors.len());
            end.run_id = Some(run.run_id);
        }
        let _ = std::fs::remove_file(&self.report);
        end
    }
}

/// Block until process `pid` has ended, leaving it to be reaped.
fn wait_without_reaping(pid: libc::id_t) {
    loop {
        // SAFETY: waitid fills the siginfo it is given; WNOWAIT leaves the child waitable.
        let rc = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT)
        };
        if rc == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn opts(mode: Mode, failed_first: bool) -> WatchOptions {
        WatchOptions {
            root: PathBuf::from("/p"),
            mode,
            debounce: Duration::ZERO,
            program: PathBuf::from("cargo-testflow"),
            run_args: vec![
                "-p".into(),
                "core".into(),
                "--".into(),
                "--show-output".into(),
            ],
            failed_first,
            outputs: Vec::new(),
            child_stdout_to_stderr: false,
        }
    }

    fn scope(reach: Reach, paths: &[&str]) -> Scope {
        Scope {
            reach,
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn each_reach_is_its_run_command_with_the_users_options_last() {
        let report = Path::new("/tmp/w/round-1.json");
        let tail = [
            "--project",
            "/p",
            "--report",
            "json=/tmp/w/round-1.json",
            "-p",
            "core",
            "--",
            "--show-output",
        ];
        let with = |head: &[&str]| -> Vec<String> {
            head.iter().chain(&tail).map(|s| s.to_string()).collect()
        };
        let affected = opts(Mode::Affected, true);
        assert_eq!(
            args(
                &affected,
                &scope(Reach::Changed, &["src/b.rs", "src/a.rs"]),
                report
            ),
            with(&[
                "run",
                "--affected",
                "--changed",
                "src/a.rs",
                "--changed",
                "src/b.rs",
                "--order",
                "failed-first"
            ])
        );
        assert_eq!(
            args(&affected, &scope(Reach::Default, &["src/a.rs"]), report),
            with(&["run", "--affected", "--order", "failed-first"])
        );
        assert_eq!(
            args(&affected, &scope(Reach::All, &["src/a.rs"]), report),
            with(&["run", "--order", "failed-first"])
        );
        // --all runs everything whatever changed; the user's own --order wins.
        assert_eq!(
            args(
                &opts(Mode::All, false),
                &scope(Reach::Changed, &["a"]),
                report
            ),
            with(&["run"])
        );
        // A report path with a comma cannot be given to --report: no summary then.
        let odd = args(
            &affected,
            &scope(Reach::All, &[]),
            Path::new("/tmp/a,b/r.json"),
        );
        assert!(!odd.iter().any(|a| a == "--report"), "{odd:?}");
    }
}
