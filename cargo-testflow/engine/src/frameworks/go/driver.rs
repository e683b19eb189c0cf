//! Running `go test -json` as a runner unit: starts, results and run errors are recorded
//! as the stream comes (a package's results once it ends: only then is it known whether
//! its binary died), then the whole is reconciled with go's exit status.
//!
//! - `-j N` (when given) is `-p N -parallel N`, `--fail-fast` is `-failfast`;
//!   `--test-timeout` is go's `-timeout` (per test binary) plus our watchdog, a little
//!   later, over the packages running;
//! - a retry re-runs the failing tests of one top-level test with `-run '^Name$'`
//!   (`'^Parent$/^(sub)$'` for subtests) as a follow-up unit, one attempt further;
//! - a package whose binary died is listed afterwards (`go test -list`): its tests that
//!   never started are a `not_run` run error.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::model::{Failure, Outcome, error_kind};
use crate::process::{ExitKind, KillReason, Registration};
use crate::runner::{Ctx, Unit};

use super::GoProject;
use super::attribution::{self, End};
use super::events::{PackageRecord, Step, Stream};
use super::failure::tail;

/// How long after go's own `-timeout` our watchdog stops `go test`: go's panic names the
/// running test, ours can only say the package's tests were running.
fn watchdog_grace(limit: Duration) -> Duration {
    Duration::from_secs(10).max(limit / 10)
}

/// Which tests a retry unit re-runs and records.
#[derive(Clone, Debug)]
struct Retry {
    /// The attempt it records.
    attempt: u32,
    /// go names of the tests to record (those that asked for a retry).
    names: Vec<String>,
    /// The `-run` pattern.
    pattern: String,
}

/// One `go test` process over `packages` of one module, in the module's directory.
pub struct GoUnit {
    project: GoProject,
    go: PathBuf,
    /// Package patterns (`./...`) or import paths.
    packages: Vec<String>,
    retry: Option<Retry>,
    /// Its `-coverprofile`, in the run's coverage directory (one per module).
    profile: String,
}

/// go test's flags whose value may be the next argument (`-coverpkg ./...`): that value
/// is not a package pattern.
const VALUE_FLAGS: &[&str] = &[
    "run",
    "skip",
    "bench",
    "benchtime",
    "count",
    "cpu",
    "parallel",
    "timeout",
    "list",
    "shuffle",
    "coverpkg",
    "covermode",
    "coverprofile",
    "cpuprofile",
    "memprofile",
    "blockprofile",
    "mutexprofile",
    "trace",
    "outputdir",
    "fuzz",
    "fuzztime",
    "fuzzminimizetime",
    "vet",
    "exec",
    "o",
    "p",
    "C",
    "tags",
    "ldflags",
    "gcflags",
    "asmflags",
    "gccgoflags",
    "mod",
    "modfile",
    "overlay",
    "pgo",
    "pkgdir",
    "toolexec",
    "buildmode",
    "compiler",
    "installsuffix",
];

/// `run -- ARGS` split into go test's flags (with their values) and package patterns
/// (`./strs/...`, `ex.com/x/...`), each in the order given.
pub fn split_args(args: &[String]) -> (Vec<String>, Vec<String>) {
    let (mut flags, mut patterns) = (Vec::new(), Vec::new());
    let mut value_next = false;
    for a in args {
        if value_next {
            value_next = false;
            flags.push(a.clone());
        } else if let Some(name) = a.strip_prefix('-') {
            let name = name.strip_prefix('-').unwrap_or(name);
            value_next = !name.contains('=') && VALUE_FLAGS.contains(&name);
            flags.push(a.clone());
        } else if a.starts_with('.') || a.contains("/...") {
            patterns.push(a.clone());
        } else {
            flags.push(a.clone());
        }
    }
    (flags, patterns)
}

impl GoUnit {
    pub fn new(project: GoProject, go: PathBuf, packages: Vec<String>, profile: String) -> GoUnit {
        GoUnit {
            project,
            go,
            packages,
            retry: None,
            profile,
        }
    }

    /// `message` about this unit's module, named when it is not the root one.
    fn in_module(&self, message: String) -> String {
        if self.project.rel.is_empty() {
            message
        } else {
            format!(
                "{} (module {}): {message}",
                self.project.rel, self.project.module
            )
        }
    }

    fn args(&self, ctx: &Ctx) -> Vec<String> {
        let o = &ctx.options;
        // -count=1: go's test cache would replay old results (with old durations).
        let mut args: Vec<String> = vec!["test".into(), "-json".into(), "-count=1".into()];
        if o.jobs_given {
            let n = o.jobs.max(1);
            args.push(format!("-p={n}"));
            args.push(format!("-parallel={n}"));
        }
        // Go stops a package's tests at its first failure; the runner stops the rest.
        if o.fail_fast {
            args.push("-failfast".into());
        }
        if let Some(t) = o.test_timeout {
            args.push(format!("-timeout={}ms", t.as_millis().max(1)));
        }
        match &self.retry {
            Some(r) => args.push(format!("-run={}", r.pattern)),
            None => {
                if !o.filters.is_empty() {
                    let alts: Vec<String> = o.filters.iter().map(|f| regex::escape(f)).collect();
                    args.push(format!("-run={}", alts.join("|")));
                }
                if let Some(dir) = &o.coverage_dir {
                    args.push(format!(
                        "-coverprofile={}",
                        dir.join(&self.profile).display()
                    ));
                }
            }
        }
        // `run -- ARGS`: go test's own flags; package patterns among them replaced ours
        // when the unit was made (`GoSuite::units` gives each module its own).
        args.extend(split_args(&o.framework_args).0);
        args.extend(self.packages.iter().cloned());
        args
    }
}

/// What one `go test` process recorded, for reconciling and follow-ups.
#[derive(Default)]
struct Recorded {
    failing: usize,
    errors: usize,
    packages: usize,
    /// Tests to retry: package -> top-level test -> go names.
    retry: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Packages whose binary died, with how, and the tests that started.
    died: Vec<(String, String, HashSet<String>)>,
}

struct Driver<'a> {
    ctx: &'a Ctx,
    project: &'a GoProject,
    attempt: u32,
    /// Only these names are recorded (a retry).
    only: Option<HashSet<String>>,
    rec: Recorded,
    /// Running test binaries and when each started (the watchdog's deadline).
    running: HashMap<String, Instant>,
    /// Started and recorded tests, to record what a retry did not run again.
    seen: HashSet<String>,
}

impl Driver<'_> {
    fn wanted(&self, name: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.contains(name))
    }

    fn deadline(&self, reg: &Registration) {
        let Some(limit) = self.ctx.options.test_timeout else {
            return;
        };
        let limit = limit.saturating_add(watchdog_grace(limit));
        let first = self.running.values().min().copied();
        reg.set_deadline(first.and_then(|s| s.checked_add(limit)));
    }

    fn step(&mut self, step: Step, reg: Option<&Registration>) {
        match step {
            Step::PackageStarted(p) => {
                self.running.insert(p, Instant::now());
                if let Some(reg) = reg {
                    self.deadline(reg);
                }
            }
            Step::Started { package, test } => {
                if self.wanted(&test) {
                    let meta = self.project.meta(&package, &test);
                    self.ctx.started(&meta, self.attempt);
                }
            }
            Step::PackageEnded(p) => {
                self.running.remove(&p.package);
                if let Some(reg) = reg {
                    self.deadline(reg);
                }
                self.package(&p, End::Normal);
            }
        }
    }

    fn package(&mut self, p: &PackageRecord, end: End) {
        self.rec.packages += 1;
        let dir = self.project.package_in_project(&p.package);
        let a = attribution::attribute(p, self.project.paths(&dir), end);
        for (kind, message) in a.errors {
            self.rec.errors += 1;
            self.ctx.run_error(kind, message);
        }
        for r in a.results {
            if !self.wanted(&r.name) {
                continue;
            }
            let meta = self.project.meta(&p.package, &r.name);
            self.seen.insert(r.name.clone());
            if r.outcome.is_failure() {
                self.rec.failing += 1;
            }
            let retry = self
                .ctx
                .finished(&meta, self.attempt, r.outcome, r.duration, r.failure);
            if retry {
                let top = r.name.split('/').next().unwrap_or(&r.name).to_owned();
                self.rec
                    .retry
                    .entry(p.package.clone())
                    .or_default()
                    .entry(top)
                    .or_default()
                    .push(r.name.clone());
            }
        }
        if let Some(how) = a.died {
            let started = p.tests.iter().map(|t| t.name.clone()).collect();
            self.rec.died.push((p.package.clone(), how, started));
        }
    }
}

impl Unit for GoUnit {
    fn planned_tests(&self) -> usize {
        self.retry.as_ref().map_or(0, |r| r.names.len())
    }

    fn describe(&self) -> String {
        let d = match &self.retry {
            Some(r) => format!("go test -run '{}' {}", r.pattern, self.packages.join(" ")),
            None => format!("go test {}", self.packages.join(" ")),
        };
        if self.project.rel.is_empty() {
            d
        } else {
            format!("{d} (in {})", self.project.rel)
        }
    }

    fn execute(self: Box<Self>, ctx: &Ctx) -> Vec<Box<dyn Unit>> {
        if self.retry.is_none()
            && let Some(dir) = &ctx.options.coverage_dir
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            ctx.run_error(
                error_kind::COVERAGE,
                format!("cannot create {}: {e}", dir.display()),
            );
        }
        let mut cmd = std::process::Command::new(&self.go);
        cmd.args(self.args(ctx))
            .current_dir(&self.project.root)
            .envs(ctx.options.env.iter().map(|(k, v)| (k, v)))
            .env_remove(crate::events::EVENTS_ENV);
        let mut stream = Stream::new(ctx.options.output_cap);
        let mut d = Driver {
            ctx,
            project: &self.project,
            attempt: self.retry.as_ref().map_or(1, |r| r.attempt),
            only: self
                .retry
                .as_ref()
                .map(|r| r.names.iter().cloned().collect()),
            rec: Recorded::default(),
            running: HashMap::new(),
            seen: HashSet::new(),
        };
        let mut on_line = |line: &[u8], reg: &Registration| {
            for step in stream.line(line) {
                d.step(step, Some(reg));
            }
        };
        let out = ctx
            .processes
            .run(cmd, None, ctx.options.output_cap, Some(&mut on_line));
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                ctx.run_error(
                    error_kind::SPAWN,
                    format!("cannot start {} test: {e}", self.go.display()),
                );
                return vec![];
            }
        };
        // Ctrl-C or the run's time limit: the runner records that.
        if matches!(
            out.killed,
            Some(KillReason::Interrupted | KillReason::RunTimeout)
        ) {
            return vec![];
        }
        let killed = out.killed == Some(KillReason::TestTimeout);
        let end = if killed {
            End::Killed
        } else {
            End::StreamEnded
        };
        for p in stream.finish() {
            d.package(&p, end);
        }
        let stderr = out.stderr.to_captured().text;
        for (build, output) in std::mem::take(&mut stream.orphan_builds) {
            d.rec.errors += 1;
            ctx.run_error(
                error_kind::BUILD,
                format!("go test could not build {build}:\n{}", output.trim_end()),
            );
        }
        if !stream.anomalies.is_empty() {
            d.rec.errors += 1;
            let n = stream.anomalies.len();
            let shown: Vec<&str> = stream
                .anomalies
                .iter()
                .take(5)
                .map(String::as_str)
                .collect();
            ctx.run_error(
                error_kind::RECONCILE,
                format!(
                    "go test's JSON stream in {} is damaged ({n} lines that do not fit, the results may be wrong): {}",
                    self.project.root.display(),
                    shown.join("; ")
                ),
            );
        }
        // A retry records what it asked for and did not see (never left without a result).
        if let Some(retry) = &self.retry {
            for name in &retry.names {
                if d.seen.contains(name) {
                    continue;
                }
                let package = &self.packages[0];
                let meta = self.project.meta(package, name);
                d.rec.failing += 1;
                ctx.finished(
                    &meta,
                    retry.attempt,
                    Outcome::Error,
                    Duration::ZERO,
                    Some(Failure {
                        category: crate::model::Category::Crash,
                        message: format!(
                            "go test did not run it again on retry (`-run {}`)",
                            retry.pattern
                        ),
                        ..Failure::default()
                    }),
                );
            }
        }
        if let Some(m) = reconcile_exit(out.exit, killed, &d.rec, &stderr) {
            ctx.run_error(m.0, self.in_module(m.1));
        }
        if self.retry.is_none() {
            not_run(ctx, &self, &d.rec.died);
        }
        follow_ups(&self, d.attempt, std::mem::take(&mut d.rec.retry))
    }
}

/// go's exit status against what was recorded: a kind and a message when they disagree.
fn reconcile_exit(
    exit: ExitKind,
    killed: bool,
    rec: &Recorded,
    stderr: &str,
) -> Option<(&'static str, String)> {
    let said = tail(stderr, 30);
    let said = if said.is_empty() {
        String::new()
    } else {
        format!(":\n{said}")
    };
    if killed {
        return None; // the running tests are recorded as timed out
    }
    match exit {
        ExitKind::Code(0) if rec.failing > 0 => Some((
            error_kind::RECONCILE,
            format!(
                "go test exited with status 0, but testflow recorded {} failing tests",
                rec.failing
            ),
        )),
        ExitKind::Code(0) => None,
        // Nothing ran: go could not start the tests at all (no packages, a broken go.mod).
        _ if rec.packages == 0 && rec.errors == 0 => Some((
            error_kind::BUILD,
            format!("go test failed ({exit}) before running any package{said}"),
        )),
        ExitKind::Code(1) if rec.failing > 0 || rec.errors > 0 => None,
        ExitKind::Code(1) => Some((
            error_kind::RECONCILE,
            format!(
                "go test exited with status 1, but no test failed and no package failed to build{said}"
            ),
        )),
        _ => Some((
            error_kind::RECONCILE,
            format!("go test ended abnormally ({exit}): the results may be incomplete{said}"),
        )),
    }
}

/// The tests of packages whose binary died that never started: one `not_run` run error
/// per package, naming them.
fn not_run(ctx: &Ctx, unit: &GoUnit, died: &[(String, String, HashSet<String>)]) {
    if died.is_empty() {
        return;
    }
    let packages: Vec<&str> = died.iter().map(|d| d.0.as_str()).collect();
    let listed = match super::list(&unit.project, &unit.go, &packages) {
        Ok(l) => l,
        Err(e) => {
            ctx.run_error(
                error_kind::NOT_RUN,
                format!(
                    "the test binaries of {} died, and listing their tests failed, so the tests that never ran are unknown: {e:#}",
                    packages.join(", ")
                ),
            );
            return;
        }
    };
    for (package, how, started) in died {
        let names = listed
            .packages
            .iter()
            .find(|(p, _)| p == package)
            .map(|(_, n)| n.as_slice())
            .unwrap_or_default();
        let never: Vec<String> = names
            .iter()
            .filter(|n| !started.contains(*n))
            .map(|n| super::test_id(package, n))
            .collect();
        if never.is_empty() {
            continue;
        }
        ctx.run_error(error_kind::NOT_RUN, not_run_message(package, how, &never));
    }
}

/// `ex/p: 2 tests never ran: the test binary died in TestX (panic: boom). Not run: …`.
fn not_run_message(package: &str, how: &str, never: &[String]) -> String {
    const SHOWN: usize = 5;
    let n = never.len();
    let mut m = format!(
        "{package}: {n} {} never ran: {how}. Not run: {}",
        if n == 1 { "test" } else { "tests" },
        never[..n.min(SHOWN)].join(", ")
    );
    if n > SHOWN {
        m.push_str(&format!(" and {} more", n - SHOWN));
    }
    m
}

/// `-run` for the failing tests under one top-level test: the test itself, or its
/// failing subtests one level down (their own subtests run whole).
fn retry_pattern(top: &str, names: &[String]) -> String {
    let mut subs: Vec<String> = names
        .iter()
        .filter_map(|n| n.strip_prefix(top)?.strip_prefix('/'))
        .map(|rest| rest.split('/').next().unwrap_or(rest).to_owned())
        .collect();
    subs.sort();
    subs.dedup();
    let top = format!("^{}$", regex::escape(top));
    // The parent failed on its own (not only through subtests): run it whole.
    if subs.is_empty() {
        return top;
    }
    let alts: Vec<String> = subs.iter().map(|s| regex::escape(s)).collect();
    format!("{top}/^({})$", alts.join("|"))
}

fn follow_ups(
    unit: &GoUnit,
    attempt: u32,
    retry: BTreeMap<String, BTreeMap<String, Vec<String>>>,
) -> Vec<Box<dyn Unit>> {
    let mut out: Vec<Box<dyn Unit>> = Vec::new();
    for (package, tops) in retry {
        for (top, names) in tops {
            let pattern = retry_pattern(&top, &names);
            out.push(Box::new(GoUnit {
                project: unit.project.clone(),
                go: unit.go.clone(),
                packages: vec![package.clone()],
                retry: Some(Retry {
                    attempt: attempt + 1,
                    names,
                    pattern,
                }),
                profile: unit.profile.clone(),
            }));
        }
    }
    out
}

/// The packages to run, per module of `set` (empty: the module does not run): `./...`,
/// or, with a shard, `--last-failed` or an order, the packages with tests (`go list`)
/// that the selection keeps, in its order. The selection sees every module's packages
/// at once (a shard plan splits them all). Shards are whole packages (see
/// `GoSuite::shard_items`). A module `go list` cannot read is a build error of its own.
pub fn select_packages(
    set: &super::modules::GoModules,
    ctx: &Ctx,
    plan: &mut crate::frameworks::Planning<'_>,
) -> Result<Vec<Vec<String>>> {
    let pass = &ctx.options.pass_through;
    let narrowed =
        pass.shard.is_some() || pass.last_failed || pass.order != crate::ordering::Order::Default;
    let n = set.modules.len();
    if !narrowed && plan.affected.is_none() {
        return Ok(vec![vec!["./...".into()]; n]);
    }
    let mut all: Vec<(usize, String)> = Vec::new();
    for (i, m) in set.modules.iter().enumerate() {
        match test_packages(m, &set.go) {
            Ok(p) => all.extend(p.into_iter().map(|p| (i, p))),
            Err(e) => {
                ctx.run_error(error_kind::BUILD, format!("{e:#}"));
                plan.broken = true;
            }
        }
    }
    // `--affected`: narrowed to the affected packages first, then sharded.
    let affected = match plan.affected {
        Some(a) => super::affected::select(set, &all, a, plan.history)?,
        None => None,
    };
    let mut per = vec![Vec::new(); n];
    if !narrowed {
        match affected {
            Some(a) => a.into_iter().for_each(|(i, p)| per[i].push(p)),
            None => per.iter_mut().for_each(|p| p.push("./...".into())),
        }
        return Ok(per);
    }
    let packages = affected.unwrap_or(all);
    let ids: Vec<String> = packages.iter().map(|(_, p)| p.clone()).collect();
    let (keep, notes) = (plan.select)(&ids, crate::frameworks::Grain::File);
    // Its grain is the package (`Grain::File`'s word is "files").
    plan.notes.extend(
        notes
            .iter()
            .map(|n| format!("go: {}", n.replace(" files", " packages"))),
    );
    // Nothing for this shard in a module: it does not run (rather than running everything).
    for &k in &keep {
        let (i, p) = &packages[k];
        per[*i].push(p.clone());
    }
    Ok(per)
}

/// Every module's packages with test files, in module order (the ids a shard plan splits).
pub fn all_test_packages(set: &super::modules::GoModules) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for m in &set.modules {
        out.extend(test_packages(m, &set.go)?);
    }
    Ok(out)
}

/// The module's packages that have test files (`go list`: no build), in go's order. In a
/// workspace `./...` also reaches the workspace's modules below this one: only this
/// module's packages are kept (the others are their own module's).
pub fn test_packages(project: &GoProject, go: &std::path::Path) -> Result<Vec<String>> {
    let out = super::go_list(
        project,
        go,
        &[
            "-f",
            "{{if or .TestGoFiles .XTestGoFiles}}{{with .Module}}{{.Path}}{{end}} {{.ImportPath}}{{end}}",
            "./...",
        ],
    )?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(module, _)| module.is_empty() || *module == project.module)
        .map(|(_, package)| package.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_arguments_split_into_flags_and_package_patterns() {
        let args: Vec<String> = [
            "-v",
            "./go/...",
            "-coverpkg",
            "./...",
            "-run=./x",
            "-count",
            "2",
            "ex.com/m/...",
            "-tags=a",
        ]
        .map(str::to_owned)
        .into();
        let (flags, patterns) = split_args(&args);
        assert_eq!(
            flags,
            [
                "-v",
                "-coverpkg",
                "./...",
                "-run=./x",
                "-count",
                "2",
                "-tags=a"
            ]
        );
        assert_eq!(patterns, ["./go/...", "ex.com/m/..."]);
    }

    #[test]
    fn retries_name_the_test_or_its_failing_subtests() {
        assert_eq!(retry_pattern("TestA", &["TestA".into()]), "^TestA$");
        assert_eq!(
            retry_pattern(
                "TestSign",
                &[
                    "TestSign".into(),
                    "TestSign/zero".into(),
                    "TestSign/a.b/deep".into()
                ]
            ),
            r"^TestSign$/^(a\.b|zero)$"
        );
    }

    #[test]
    fn the_exit_status_is_reconciled_with_what_was_recorded() {
        let rec = |failing, errors, packages| Recorded {
            failing,
            errors,
            packages,
            ..Default::default()
        };
        assert!(reconcile_exit(ExitKind::Code(0), false, &rec(0, 0, 1), "").is_none());
        assert_eq!(
            reconcile_exit(ExitKind::Code(0), false, &rec(1, 0, 1), "").map(|m| m.0),
            Some(error_kind::RECONCILE)
        );
        assert!(reconcile_exit(ExitKind::Code(1), false, &rec(1, 0, 1), "").is_none());
        let m = reconcile_exit(ExitKind::Code(1), false, &rec(0, 0, 0), "go: no go.mod").unwrap();
        assert_eq!(m.0, error_kind::BUILD);
        assert!(m.1.contains("go: no go.mod"));
        assert_eq!(
            reconcile_exit(ExitKind::Code(1), false, &rec(0, 0, 2), "").map(|m| m.0),
            Some(error_kind::RECONCILE)
        );
        assert!(reconcile_exit(ExitKind::Code(2), false, &rec(1, 0, 2), "").is_some());
        assert!(reconcile_exit(ExitKind::Signal(9), false, &rec(0, 0, 2), "").is_some());
    }
}
