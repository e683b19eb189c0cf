//! The cargo workspace as a framework plug-in: detected when the directory is (or, with
//! nothing else found, sits inside) a cargo workspace; built before the run's log opens
//! (with cargo-llvm-cov's environment under coverage); listed a few binaries at a time;
//! narrowed to a shard, `--last-failed` and ordered by history; scheduled by testflow.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Result;

use super::coverage::LlvmCov;
use super::{self as cargo, BuildFailed, CargoOptions, Workspace};
use crate::coverage::collect;
use crate::frameworks::{Detect, Grain, Planning, Prepare, Prepared, Suite, SuiteListing};
use crate::history::History;
use crate::model::{Framework, TestCase};
use crate::ordering::Order;
use crate::runner::{Ctx, Unit};
use crate::shard;
use crate::store::Store;

/// Where `run` keeps each test binary's listing, reused while the binary is unchanged.
const LIST_CACHE: &str = "list-cache";

/// cargo as a [`Plugin`](crate::frameworks::Plugin).
pub struct Cargo;

/// Whether `dir`'s tests include the cargo workspace: when a manifest is named, when
/// `dir` has its own Cargo.toml, or when nothing else was found and `dir` sits inside a
/// cargo workspace. A Python or Jest project inside some cargo workspace is not that
/// workspace.
pub fn uses_cargo(dir: &Path, manifest_given: bool, others_found: bool) -> bool {
    manifest_given
        || dir.join("Cargo.toml").is_file()
        || (!others_found && dir.ancestors().any(|d| d.join("Cargo.toml").is_file()))
}

impl crate::frameworks::Plugin for Cargo {
    fn framework(&self) -> Framework {
        Framework::Rust
    }

    fn encloses(&self) -> bool {
        true
    }

    fn detect(&self, d: &Detect<'_>) -> Result<Option<Box<dyn Suite>>> {
        let found = uses_cargo(
            d.root,
            d.cargo.selection.manifest_path.is_some(),
            d.others_found,
        );
        Ok(found.then(|| {
            Box::new(CargoSuite {
                project_dir: d.root.to_owned(),
                opts: d.cargo.clone(),
                prepared: None,
            }) as Box<dyn Suite>
        }))
    }

    fn is_project(&self, dir: &Path) -> bool {
        dir.join("Cargo.toml").is_file()
    }

    fn looks_for(&self) -> &'static str {
        "a cargo workspace"
    }

    /// Rust ids name a binary and a test path (`pkg::integ$mod::test`), not a file.
    fn file_of<'a>(&self, _id: &'a str) -> Option<&'a str> {
        None
    }

    fn coverage_report(&self) -> &'static str {
        "rust.lcov"
    }

    fn junit_group<'a>(&self, t: &'a TestCase) -> Option<&'a String> {
        t.binary.as_ref().or(t.file.as_ref())
    }

    /// Like nextest: classname = binary id, name = full test path.
    fn junit_names(&self, t: &TestCase) -> (String, String) {
        let mut path = t.suite.join("::");
        if !path.is_empty() {
            path.push_str("::");
        }
        path.push_str(&t.name);
        let class = t
            .binary
            .clone()
            .or_else(|| t.file.as_deref().map(crate::frameworks::dotted_path))
            .unwrap_or_else(|| "rust".to_owned());
        (path, class)
    }

    fn missing_import(&self, message: &str) -> Option<String> {
        static RS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(r"(?:can't find crate for|unresolved import|use of unresolved module or unlinked crate) `([^`:]+)")
                .expect("valid regex")
        });
        RS.captures(message).map(|c| c[1].to_owned())
    }

    fn install(&self, module: &str) -> (Option<String>, String) {
        (
            Some(format!("cargo add {module}")),
            format!("Crate `{module}` is not a dependency of the package (or the path is wrong)."),
        )
    }

    fn isolation_applies(&self) -> bool {
        true
    }

    fn selects_affected(&self) -> bool {
        true
    }
}

/// The cargo workspace of a run, `list` or `shard plan`.
pub struct CargoSuite {
    project_dir: PathBuf,
    opts: CargoOptions,
    /// The workspace and the build, once prepared.
    prepared: Option<(Arc<Workspace>, Result<cargo::Built>)>,
}

impl Suite for CargoSuite {
    fn framework(&self) -> Framework {
        Framework::Rust
    }

    /// Rust coverage changes how the tests are built, so it is set up before the build.
    /// Reading the workspace (and opening history under it) runs while cargo builds.
    fn prepare(&mut self, p: &mut Prepare<'_>) -> Result<Prepared> {
        let mut out = Prepared {
            uses_durations: true,
            ..Prepared::default()
        };
        let llvm_cov = if p.coverage {
            let sel = &self.opts.selection;
            let dir = sel.dir.clone().unwrap_or_else(|| self.project_dir.clone());
            match LlvmCov::setup(&cargo::cargo_bin(), &dir, sel.manifest_path.as_deref()) {
                Ok(c) => Some(c),
                Err(message) => {
                    out.coverage_notes
                        .push(collect::unavailable(Framework::Rust, message));
                    None
                }
            }
        } else {
            None
        };
        let coverage_env = llvm_cov.as_ref().map(|c| c.env.clone()).unwrap_or_default();
        self.opts.selection.env.extend(coverage_env.iter().cloned());
        let selection = &self.opts.selection;
        let echo = &mut *p.echo;
        let (ws, built) = std::thread::scope(|s| {
            // History is opened (and its schema checked) while cargo builds, too.
            let meta = s.spawn(|| {
                Workspace::load(selection).map(|ws| {
                    let history = History::open(Store::for_project(&ws.root).root());
                    (ws, history)
                })
            });
            let built = cargo::compile(selection, echo);
            let ws = meta
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("reading cargo metadata panicked")));
            (ws, built)
        });
        let (mut ws, history) = ws?;
        ws.env.extend(coverage_env.iter().cloned());
        out.root = Some(ws.root.clone());
        out.history = Some(history);
        out.isolation = Some(self.opts.isolation_summary(&ws.package_names()));
        out.coverage_env = coverage_env;
        out.coverage_report = llvm_cov.map(|c| {
            Box::new(move |dir: &Path| {
                c.report(&dir.join(crate::frameworks::Plugin::coverage_report(&Cargo)))
            }) as crate::frameworks::CoverageReport
        });
        self.prepared = Some((Arc::new(ws), built));
        Ok(out)
    }

    fn units(self: Box<Self>, ctx: &Ctx, plan: &mut Planning<'_>) -> Result<Vec<Box<dyn Unit>>> {
        let Some((ws, built)) = self.prepared else {
            anyhow::bail!("the cargo workspace was not built before its tests were planned");
        };
        let mut units: Vec<Box<dyn Unit>> = Vec::new();
        match built {
            // A build killed by the signal did not fail: the run was stopped.
            Err(_) if crate::interrupt::received().is_some() => {}
            Err(e) => {
                match e.downcast::<BuildFailed>() {
                    Ok(b) => ctx.run_error("build", b.diagnostics),
                    Err(e) => ctx.run_error("build", format!("{e:#}")),
                }
                plan.broken = true;
            }
            Ok(built) => {
                let binaries: Vec<Arc<cargo::TestBinary>> =
                    built.binaries(&ws).into_iter().map(Arc::new).collect();
                let cache = Store::for_project(&ws.root).root().join(LIST_CACHE);
                let (tests, list_errors) = list_all(&ws, &binaries, ctx.options.jobs, Some(&cache));
                for e in &list_errors {
                    ctx.run_error("list", e.clone());
                }
                if !list_errors.is_empty() {
                    plan.broken = true;
                }
                let mut cargo_opts = self.opts.clone();
                let doctests = cargo::doctest_packages(&binaries, &self.opts);
                let keep = match plan.affected {
                    Some(a) => {
                        super::affected::select(a, plan.history, &ws, &binaries, &tests, &doctests)
                    }
                    None => {
                        // Every run records the binaries' dependencies (a few small files
                        // and `rustc -vV`), beside the tests rather than before them.
                        if let (Some(h), true) = (plan.history, list_errors.is_empty()) {
                            let task = super::affected::record_in_background(
                                h.path(),
                                plan.run_dir,
                                &ws,
                                &binaries,
                                &tests,
                                &doctests,
                            );
                            plan.background.extend(task);
                        }
                        None
                    }
                };
                select(
                    &mut cargo_opts,
                    &self.opts,
                    ctx,
                    &tests,
                    &binaries,
                    plan,
                    keep,
                );
                let doctest_units = cargo::doctest_units(&ws, &binaries, &cargo_opts);
                let binary_units = cargo::plan(ctx, tests, &cargo_opts);
                units.extend(queue_order(doctest_units, binary_units, ctx.options.jobs));
            }
        }
        Ok(units)
    }

    fn listing(&mut self, echo: &mut (dyn Write + Send)) -> Result<Option<Vec<SuiteListing>>> {
        cargo::list_suites(
            &self.opts.selection,
            self.opts.doc != cargo::DocMode::Skip,
            echo,
        )
    }

    /// Build and list every test id the cargo workspace would run (with each package's
    /// doctests as one item), for shard planning. `Ok(None)` when the build failed.
    fn shard_items(
        &mut self,
        echo: &mut (dyn Write + Send),
    ) -> Result<Option<(Vec<String>, Grain)>> {
        let Some((_, binaries, tests)) = self.built_and_listed(echo)? else {
            return Ok(None);
        };
        let opts = &self.opts;
        let mut items: Vec<String> = tests
            .iter()
            .filter(|t| opts.selects(&t.path))
            .map(|t| t.meta.id.clone())
            .collect();
        items.extend(
            cargo::doctest_packages(&binaries, opts)
                .iter()
                .map(|p| cargo::doctest_shard_item(p)),
        );
        Ok(Some((items, Grain::Test)))
    }

    /// The run's selection (`affected::select`, as `units` calls it) on a fresh build.
    fn select_affected(
        &mut self,
        plan: &crate::affected::Plan,
        history: Option<&History>,
        echo: &mut (dyn Write + Send),
    ) -> Result<bool> {
        let Some((ws, binaries, tests)) = self.built_and_listed(echo)? else {
            return Ok(false);
        };
        let doctests = cargo::doctest_packages(&binaries, &self.opts);
        super::affected::select(plan, history, &ws, &binaries, &tests, &doctests);
        Ok(true)
    }
}

impl CargoSuite {
    /// Build the workspace's test binaries and list their tests (`shard plan`, `list
    /// --affected`); `Ok(None)` when the build failed.
    fn built_and_listed(&self, echo: &mut (dyn Write + Send)) -> Result<Option<BuiltAndListed>> {
        let selection = &self.opts.selection;
        let ws = Workspace::load(selection)?;
        let binaries: Vec<Arc<cargo::TestBinary>> = match cargo::build(&ws, selection, echo) {
            Ok(b) => b.into_iter().map(Arc::new).collect(),
            Err(e) if e.is::<BuildFailed>() => return Ok(None),
            Err(e) => return Err(e),
        };
        let (tests, errors) = list_all(&ws, &binaries, crate::runner::default_jobs(), None);
        if let Some(e) = errors.first() {
            anyhow::bail!("{e}");
        }
        Ok(Some((ws, binaries, tests)))
    }
}

type BuiltAndListed = (Workspace, Vec<Arc<cargo::TestBinary>>, Vec<cargo::RustTest>);

/// List every binary's tests, a few binaries at a time (from `cache` when it has them).
fn list_all(
    ws: &Workspace,
    binaries: &[Arc<cargo::TestBinary>],
    jobs: usize,
    cache: Option<&Path>,
) -> (Vec<cargo::RustTest>, Vec<String>) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<Vec<cargo::RustTest>>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, binaries.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(bin) = binaries.get(i) else { return };
                    let r = cargo::list_tests_cached(ws, bin, cache);
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((i, r));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _)| *i);
    let mut tests = Vec::new();
    let mut errors = Vec::new();
    for (_, r) in results {
        match r {
            Ok(t) => tests.extend(t),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    (tests, errors)
}

/// Narrow and order the cargo tests: the shard's share, `--last-failed`, `--order`, and
/// the loop's "previous failures first". `base` are the options as asked (what they
/// select); `opts` get the narrowing.
/// The order units are queued in. A workspace's doctests are one cargo process that
/// compiles and runs them all: as a rule the longest unit. With more than one worker it
/// starts first, so the test binaries run beside it instead of after it (`cargo test`
/// runs it last, which is what one worker keeps).
fn queue_order<U>(doctests: Vec<U>, binaries: Vec<U>, jobs: usize) -> Vec<U> {
    let (first, then) = if jobs > 1 {
        (doctests, binaries)
    } else {
        (binaries, doctests)
    };
    first.into_iter().chain(then).collect()
}

fn select(
    opts: &mut CargoOptions,
    base: &CargoOptions,
    ctx: &Ctx,
    tests: &[cargo::RustTest],
    binaries: &[Arc<cargo::TestBinary>],
    plan: &mut Planning<'_>,
    affected: Option<std::collections::HashSet<String>>,
) {
    let pass = &ctx.options.pass_through;
    let kept = |id: &String| affected.as_ref().is_none_or(|k| k.contains(id));
    let last_failed = plan
        .history
        .and_then(|h| h.last_failed().ok().flatten())
        .unwrap_or_default();
    if let Some((spec, strategy)) = pass.shard {
        // Every selected test (and each package's doctests as one item) is planned, so
        // each lands in exactly one shard.
        let mut items: Vec<String> = tests
            .iter()
            .filter(|t| base.selects(&t.path))
            .map(|t| t.meta.id.clone())
            .filter(kept)
            .collect();
        items.extend(
            cargo::doctest_packages(binaries, base)
                .iter()
                .map(|p| cargo::doctest_shard_item(p))
                .filter(kept),
        );
        let shards = shard::plan(&items, spec.total, strategy, plan.shard_durations);
        let mine = &shards.shards[(spec.index - 1) as usize];
        plan.notes.push(format!(
            "shard {}/{} ({}): {} of {} tests, predicted {:.1}s",
            spec.index,
            spec.total,
            strategy.as_str(),
            mine.tests.len(),
            items.len(),
            mine.predicted_ms / 1000.0
        ));
        opts.only = Some(mine.tests.iter().cloned().collect());
    } else if let Some(keep) = affected {
        opts.only = Some(keep);
    }
    if pass.last_failed && !last_failed.is_empty() {
        let failed: std::collections::HashSet<String> = last_failed.iter().cloned().collect();
        opts.only = Some(match opts.only.take() {
            Some(only) => only.intersection(&failed).cloned().collect(),
            None => failed,
        });
    }
    // The order's meaning is the one every door gives it (`plan.order_tests`); what
    // it puts first (the failed tests, or those with a recorded duration) goes first, and
    // the scheduler orders the rest.
    let mut order: Vec<String> = match pass.order {
        Order::Default => vec![],
        order => {
            let ids: Vec<String> = tests
                .iter()
                .filter(|t| base.selects(&t.path))
                .map(|t| t.meta.id.clone())
                .collect();
            let failed: std::collections::HashSet<&String> = last_failed.iter().collect();
            let ahead = |id: &String| match order {
                Order::FailedFirst => failed.contains(id),
                _ => plan.durations.contains_key(id),
            };
            (plan.order_tests)(&ids)
                .into_iter()
                .map(|i| &ids[i])
                .take_while(|id| ahead(id))
                .cloned()
                .collect()
        }
    };
    // The loop's previous failures come before any other order.
    let mut first = std::mem::take(&mut opts.first);
    first.append(&mut order);
    opts.first = first;
}

#[cfg(test)]
mod tests {
    use super::queue_order;

    #[test]
    fn doctests_start_first_only_when_a_worker_is_free_beside_them() {
        let doc = || vec!["doc"];
        let bins = || vec!["bin-a", "bin-b"];
        assert_eq!(queue_order(doc(), bins(), 2), ["doc", "bin-a", "bin-b"]);
        assert_eq!(queue_order(doc(), bins(), 8), ["doc", "bin-a", "bin-b"]);
        // One worker: the order cargo test uses, binaries first.
        assert_eq!(queue_order(doc(), bins(), 1), ["bin-a", "bin-b", "doc"]);
        assert_eq!(queue_order(vec![], bins(), 2), ["bin-a", "bin-b"]);
    }
}
