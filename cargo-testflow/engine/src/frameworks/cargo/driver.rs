//! Rust through cargo: build the test binaries, list their tests, and turn them into
//! runner units — one process per binary with libtest's JSON output (the default, what
//! `cargo test` does), one process per test (`--isolation process`), and doctests
//! through `cargo test --doc`.

use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as AtomicOrdering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cargo_metadata::{Message, MetadataCommand};
use regex::bytes::Regex;
use serde::Deserialize;

use super::failure::parse_failure;
use crate::model::{
    Captured, Category, Failure, Framework, Location, Outcome, TestMeta, error_kind,
};
use crate::process::{CappedBuf, ExitKind, KillReason, ProcessOutput, Registration};
use crate::runner::{Ctx, Unit};

use super::options::{CargoOptions, DocMode, IgnoredMode, Isolation, Selection};

#[derive(Debug)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub manifest_path: PathBuf,
    pub dir: PathBuf,
    pub has_doctests: bool,
    /// The lib target's name (cargo's `Doc-tests NAME`); empty without a lib.
    pub lib_name: String,
    /// The names of its path dependencies (`--affected`: workspace crates it builds from).
    pub path_deps: Vec<String>,
}

/// The cargo workspace as `cargo metadata --no-deps` describes it.
#[derive(Debug)]
pub struct Workspace {
    pub root: PathBuf,
    pub target_dir: PathBuf,
    packages: HashMap<String, Arc<Package>>,
    /// Extra environment for listing tests (cargo-llvm-cov's, under coverage: an
    /// instrumented binary writes a profile even when it only lists).
    pub env: Vec<(String, String)>,
}

impl Workspace {
    /// The workspace's packages.
    pub fn packages(&self) -> impl Iterator<Item = &Arc<Package>> {
        self.packages.values()
    }

    /// The workspace's package names.
    pub fn package_names(&self) -> Vec<&str> {
        self.packages.values().map(|p| p.name.as_str()).collect()
    }

    pub fn load(selection: &Selection) -> Result<Workspace> {
        let mut cmd = MetadataCommand::new();
        cmd.no_deps();
        if let Some(dir) = &selection.dir {
            cmd.current_dir(dir);
        }
        if let Some(m) = &selection.manifest_path {
            cmd.manifest_path(m);
        }
        let meta = cmd.exec().map_err(|e| {
            let detail = match e {
                cargo_metadata::Error::CargoMetadata { stderr } => stderr.trim().to_owned(),
                other => other.to_string(),
            };
            MetadataFailed(detail)
        })?;
        let packages = meta
            .packages
            .iter()
            .map(|p| {
                let manifest_path: PathBuf = p.manifest_path.clone().into();
                let dir = manifest_path
                    .parent()
                    .map(Path::to_owned)
                    .unwrap_or_default();
                let has_doctests = p.targets.iter().any(|t| t.doctest && t.is_lib());
                let lib_name = p
                    .targets
                    .iter()
                    .find(|t| t.is_lib())
                    .map(|t| t.name.clone())
                    .unwrap_or_default();
                let pkg = Package {
                    name: p.name.to_string(),
                    version: p.version.to_string(),
                    manifest_path,
                    dir,
                    has_doctests,
                    lib_name,
                    path_deps: p
                        .dependencies
                        .iter()
                        .filter(|d| d.path.is_some())
                        .map(|d| d.name.clone())
                        .collect(),
                };
                (p.id.repr.clone(), Arc::new(pkg))
            })
            .collect();
        Ok(Workspace {
            root: meta.workspace_root.into(),
            target_dir: meta.target_directory.into(),
            packages,
            env: Vec::new(),
        })
    }

    /// A path as rustc printed it (relative to the workspace root, or to the package),
    /// made relative to the workspace root when it lies inside it.
    pub fn relative_path(&self, pkg: &Package, p: &str) -> String {
        let path = Path::new(p);
        let abs = if path.is_absolute() {
            path.to_owned()
        } else if self.root.join(path).exists() {
            self.root.join(path)
        } else {
            pkg.dir.join(path)
        };
        abs.strip_prefix(&self.root)
            .map(|r| r.display().to_string())
            .unwrap_or_else(|_| p.to_owned())
    }
}

/// A test executable cargo built.
#[derive(Debug)]
pub struct TestBinary {
    /// `pkg` for a library, `pkg::target` for an integration test, `pkg::bin/name` for a binary.
    pub id: String,
    pub exe: PathBuf,
    pub package: Arc<Package>,
    /// Target kind: `lib`, `test`, `bin`, …
    pub kind: String,
}

use super::options::{BuildFailed, MetadataFailed};

/// Test executables cargo reported: (package id, target name, target kind, path).
pub struct Built {
    artifacts: Vec<(String, String, String, PathBuf)>,
}

impl Built {
    /// Name each executable after its package and target (nextest's binary ids).
    pub fn binaries(self, ws: &Workspace) -> Vec<TestBinary> {
        let mut bins = Vec::new();
        for (pkg_id, target, kind, exe) in self.artifacts {
            let Some(package) = ws.packages.get(&pkg_id) else {
                continue;
            };
            let id = match kind.as_str() {
                "test" => format!("{}::{target}", package.name),
                "bin" | "example" | "bench" => format!("{}::{kind}/{target}", package.name),
                _ => package.name.clone(),
            };
            bins.push(TestBinary {
                id,
                exe,
                package: Arc::clone(package),
                kind,
            });
        }
        bins
    }
}

/// Build and name the test binaries.
pub fn build(
    ws: &Workspace,
    sel: &Selection,
    echo: &mut (dyn Write + Send),
) -> Result<Vec<TestBinary>> {
    Ok(compile(sel, echo)?.binaries(ws))
}

/// `cargo test --no-run --message-format=json-render-diagnostics`: cargo's own stderr
/// (progress and rendered diagnostics) goes to `echo` as it comes, and is kept for the
/// record. Needs no workspace metadata, so it can run while that is being read.
pub fn compile(sel: &Selection, echo: &mut (dyn Write + Send)) -> Result<Built> {
    let mut cmd = Command::new(cargo_bin());
    cmd.args([
        "test",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ])
    .args(sel.build_args())
    .current_dir(sel.dir.as_deref().unwrap_or(Path::new(".")))
    .envs(sel.env.iter().map(|(k, v)| (k, v)))
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    // Its own group, so a Ctrl-C or SIGTERM to testflow kills the build and its build scripts.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().context("cannot run cargo")?;
    let _on_signal = crate::interrupt::kill_on_signal(child.id() as i32);
    let stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let mut kept = CappedBuf::new(256 * 1024);
    let artifacts = std::thread::scope(|s| {
        let reader = s.spawn(move || {
            let mut out = Vec::new();
            for msg in Message::parse_stream(BufReader::new(stdout)).flatten() {
                if let Message::CompilerArtifact(a) = msg
                    && let Some(exe) = a.executable.filter(|_| a.profile.test)
                {
                    let kind = a
                        .target
                        .kind
                        .first()
                        .map(|k| k.to_string())
                        .unwrap_or_default();
                    out.push((a.package_id.repr, a.target.name, kind, exe.into()));
                }
            }
            out
        });
        let mut chunk = [0u8; 8192];
        loop {
            match stderr.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = echo.write_all(&chunk[..n]);
                    kept.push(&chunk[..n]);
                }
            }
        }
        reader.join().unwrap_or_default()
    });
    let status = child.wait().context("cannot wait for cargo")?;
    if !status.success() {
        return Err(BuildFailed {
            diagnostics: kept.to_captured().text,
        }
        .into());
    }
    Ok(Built { artifacts })
}

pub fn cargo_bin() -> String {
    std::env::var("CARGO")
        .ok()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "cargo".into())
}

use crate::frameworks::{ListedTest, SuiteListing};

/// The doctests of `cargo test --doc -- --list --format terse`, marked ignored when
/// they are also in the `--ignored` listing.
pub fn doctest_names(all: &str, ignored: &str) -> Vec<(String, bool)> {
    let names = |t: &str| -> Vec<String> {
        t.lines()
            .filter_map(|l| l.strip_suffix(": test"))
            .map(str::to_owned)
            .collect()
    };
    let ignored = names(ignored);
    names(all)
        .into_iter()
        .map(|n| {
            let i = ignored.contains(&n);
            (n, i)
        })
        .collect()
}

/// Build and list every suite with its test counts. `Ok(None)` when the build failed
/// (cargo's diagnostics went to `echo`).
pub fn list_suites(
    sel: &Selection,
    doctests: bool,
    echo: &mut (dyn Write + Send),
) -> Result<Option<Vec<SuiteListing>>> {
    let ws = Workspace::load(sel)?;
    let binaries = match build(&ws, sel, echo) {
        Ok(b) => b,
        Err(e) if e.is::<BuildFailed>() => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut suites = Vec::new();
    let mut doc_pkgs: Vec<Arc<Package>> = Vec::new();
    for bin in binaries.into_iter().map(Arc::new) {
        let tests = list_tests(&ws, &bin)?;
        if bin.package.has_doctests && !doc_pkgs.iter().any(|p| Arc::ptr_eq(p, &bin.package)) {
            doc_pkgs.push(Arc::clone(&bin.package));
        }
        suites.push(SuiteListing {
            id: bin.id.clone(),
            package: bin.package.name.clone(),
            kind: bin.kind.clone(),
            ignored: tests.iter().filter(|t| t.ignored).count(),
            tests: tests.len(),
            executable: Some(bin.exe.clone()),
            test_list: tests
                .iter()
                .map(|t| ListedTest::from_meta(&t.meta, Some(t.ignored)))
                .collect(),
            ..SuiteListing::default()
        });
    }
    if doctests {
        let ws = Arc::new(ws);
        for pkg in doc_pkgs {
            let mut one = sel.clone();
            one.packages = vec![format!("{}@{}", pkg.name, pkg.version)];
            one.workspace = false;
            one.exclude.clear();
            // rustdoc's terse listing does not mark ignored doctests: `--ignored` lists them.
            let list = |ignored: bool| -> Result<String> {
                let mut args: Vec<String> = vec!["test".into(), "--doc".into(), "--quiet".into()];
                args.extend(one.cargo_args());
                args.extend([
                    "--".into(),
                    "--list".into(),
                    "--format".into(),
                    "terse".into(),
                ]);
                if ignored {
                    args.push("--ignored".into());
                }
                let out = one
                    .env
                    .iter()
                    .fold(duct::cmd(cargo_bin(), args), |c, (k, v)| c.env(k, v))
                    .dir(&ws.root)
                    .stdin_null()
                    .stdout_capture()
                    .stderr_capture()
                    .unchecked()
                    .run()
                    .context("cannot run cargo test --doc")?;
                if !out.status.success() {
                    bail!(
                        "listing the doctests of {} failed:\n{}",
                        pkg.name,
                        String::from_utf8_lossy(&out.stderr).trim()
                    );
                }
                Ok(String::from_utf8_lossy(&out.stdout).into_owned())
            };
            let names = doctest_names(&list(false)?, &list(true)?);
            suites.push(SuiteListing {
                id: format!("{}::doctest", pkg.name),
                package: pkg.name.clone(),
                kind: "doctest".into(),
                tests: names.len(),
                ignored: names.iter().filter(|(_, i)| *i).count(),
                test_list: names
                    .iter()
                    .map(|(n, i)| ListedTest::from_meta(&doctest_meta(&ws, &pkg, n), Some(*i)))
                    .collect(),
                ..SuiteListing::default()
            });
        }
    }
    suites.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Some(suites))
}

/// One test inside a test binary.
#[derive(Debug)]
pub struct RustTest {
    pub binary: Arc<TestBinary>,
    /// The full libtest path (`tests::adds`).
    pub path: String,
    pub ignored: bool,
    pub ignore_reason: Option<String>,
    pub meta: TestMeta,
    /// Its own per-test limit, from a `[[timeout]]` rule (set when planned); without one
    /// the run's `--test-timeout` applies ([`RustTest::limit`]).
    pub own_limit: Option<Duration>,
}

impl RustTest {
    /// The per-test limit it runs under.
    pub fn limit(&self, ctx: &Ctx) -> Option<Duration> {
        self.own_limit.or(ctx.options.test_timeout)
    }
}

#[derive(Deserialize)]
struct Discovered {
    #[serde(rename = "type")]
    kind: String,
    event: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    ignore: bool,
    #[serde(default)]
    ignore_message: String,
    #[serde(default)]
    source_path: String,
    #[serde(default)]
    start_line: u32,
}

/// List a binary's tests: libtest's JSON listing (it carries source locations), or the
/// terse listing every harness must support when JSON is refused (custom harnesses).
pub fn list_tests(ws: &Workspace, bin: &Arc<TestBinary>) -> Result<Vec<RustTest>> {
    list_tests_cached(ws, bin, None)
}

/// What identifies one build of a test binary: a rebuilt binary is a new file (new inode
/// or change time), so its listing is read again. Reading the file to hash it would cost
/// more than listing it.
fn binary_key(exe: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(exe).ok()?;
    Some(format!(
        "{}:{}:{}:{}.{}:{}.{}",
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    ))
}

#[derive(serde::Serialize, Deserialize)]
struct CachedListing {
    exe: PathBuf,
    key: String,
    /// libtest's `--list --format json` output, as it printed it.
    stdout: String,
}

/// The tests in libtest's JSON listing; `None` when a line is not libtest's.
fn parse_json_listing(
    ws: &Workspace,
    bin: &Arc<TestBinary>,
    stdout: &[u8],
) -> Option<Vec<RustTest>> {
    let mut tests = Vec::new();
    for line in stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty())
    {
        match serde_json::from_slice::<Discovered>(line) {
            Ok(d) if d.kind == "test" && d.event == "discovered" => {
                let file = (!d.source_path.is_empty())
                    .then(|| ws.relative_path(&bin.package, &d.source_path));
                let line = (d.start_line > 0).then_some(d.start_line);
                let reason = (!d.ignore_message.is_empty()).then_some(d.ignore_message);
                tests.push(new_test(bin, d.name, d.ignore, reason, file, line));
            }
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    Some(tests)
}

/// `list_tests`, reusing the JSON listing kept in `cache` (a directory) while the binary
/// is the same file ([`binary_key`]). A cache that cannot be read or written is ignored.
pub fn list_tests_cached(
    ws: &Workspace,
    bin: &Arc<TestBinary>,
    cache: Option<&Path>,
) -> Result<Vec<RustTest>> {
    // Coverage's environment changes what an instrumented binary does when it lists.
    let cache = cache.filter(|_| ws.env.is_empty());
    let key = cache.and_then(|_| binary_key(&bin.exe));
    let file = cache.map(|dir| {
        let name: String = bin
            .id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        dir.join(format!("{name}.json"))
    });
    if let (Some(file), Some(key)) = (&file, &key)
        && let Ok(text) = std::fs::read(file)
        && let Ok(c) = serde_json::from_slice::<CachedListing>(&text)
        && c.key == *key
        && c.exe == bin.exe
        && let Some(tests) = parse_json_listing(ws, bin, c.stdout.as_bytes())
    {
        return Ok(tests);
    }
    let run = |args: &[&str], bootstrap: bool| -> Result<std::process::Output> {
        let mut c = Command::new(&bin.exe);
        c.args(args)
            .current_dir(&bin.package.dir)
            .envs(ws.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        set_cargo_env(&mut c, bin);
        if bootstrap {
            c.env("RUSTC_BOOTSTRAP", "1");
        }
        c.output()
            .with_context(|| format!("cannot run {}", bin.exe.display()))
    };
    let json = run(
        &["--list", "--format", "json", "-Z", "unstable-options"],
        true,
    )?;
    if json.status.success()
        && let Some(tests) = parse_json_listing(ws, bin, &json.stdout)
    {
        // Kept only when the binary is still the file that was listed.
        if let (Some(file), Some(key), Ok(stdout)) =
            (&file, &key, String::from_utf8(json.stdout.clone()))
            && binary_key(&bin.exe).as_ref() == Some(key)
            && let Ok(bytes) = serde_json::to_vec(&CachedListing {
                exe: bin.exe.clone(),
                key: key.clone(),
                stdout,
            })
        {
            let _ = crate::store::write_atomic(file, &bytes);
        }
        return Ok(tests);
    }
    let mut tests = Vec::new();
    let parse_terse = |out: std::process::Output| -> Result<Vec<String>> {
        if !out.status.success() {
            bail!(
                "{} --list failed ({}): {}",
                bin.exe.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        Ok(text
            .lines()
            .filter_map(|l| l.strip_suffix(": test"))
            .map(str::to_owned)
            .collect())
    };
    let all = parse_terse(run(&["--list", "--format", "terse"], false)?)?;
    let ignored: std::collections::HashSet<String> =
        parse_terse(run(&["--list", "--format", "terse", "--ignored"], false)?)?
            .into_iter()
            .collect();
    for name in all {
        let is_ignored = ignored.contains(&name);
        tests.push(new_test(bin, name, is_ignored, None, None, None));
    }
    Ok(tests)
}

fn new_test(
    bin: &Arc<TestBinary>,
    path: String,
    ignored: bool,
    ignore_reason: Option<String>,
    file: Option<String>,
    line: Option<u32>,
) -> RustTest {
    let mut parts: Vec<String> = path.split("::").map(str::to_owned).collect();
    let name = parts.pop().unwrap_or_default();
    let meta = TestMeta {
        id: format!("{}${path}", bin.id),
        framework: Framework::Rust,
        name,
        suite: parts,
        file,
        line,
        binary: Some(bin.id.clone()),
    };
    RustTest {
        binary: Arc::clone(bin),
        path,
        ignored,
        ignore_reason,
        meta,
        own_limit: None,
    }
}

/// What cargo sets when it runs a test binary, so tests behave the same under testflow.
fn set_cargo_env(c: &mut Command, bin: &TestBinary) {
    let p = &bin.package;
    c.env("CARGO", cargo_bin())
        .env("CARGO_MANIFEST_DIR", &p.dir)
        .env("CARGO_MANIFEST_PATH", &p.manifest_path)
        .env("CARGO_PKG_NAME", &p.name)
        .env("CARGO_PKG_VERSION", &p.version);
    if let Some(deps) = bin.exe.parent() {
        let mut paths = vec![deps.to_owned()];
        if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
            paths.extend(std::env::split_paths(&old));
        }
        if let Ok(joined) = std::env::join_paths(paths) {
            c.env("LD_LIBRARY_PATH", joined);
        }
    }
}

/// Turn the listed tests into units (none under `--doc`). Ignored tests not asked for
/// are recorded as skipped here and now.
pub fn plan(ctx: &Ctx, tests: Vec<RustTest>, options: &CargoOptions) -> Vec<Box<dyn Unit>> {
    if options.doc == DocMode::Only {
        return vec![]; // `--doc`: doctests only (see `doctest_units`)
    }
    let mut listed: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
    for t in &tests {
        listed
            .entry(t.binary.id.clone())
            .or_default()
            .insert(t.path.clone());
    }
    let listed: HashMap<String, Arc<std::collections::HashSet<String>>> =
        listed.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
    let mut tests = tests;
    if let Some(only) = &options.only {
        tests.retain(|t| only.contains(&t.meta.id));
    }
    // Stable: tests asked for first move ahead in that order, the rest keep cargo's order.
    if !options.first.is_empty() {
        let rank: HashMap<&str, usize> = options
            .first
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        tests.sort_by_key(|t| rank.get(t.meta.id.as_str()).copied().unwrap_or(usize::MAX));
    }
    // Per binary: the tests it runs in one process, and those that get their own.
    type Group = (Arc<TestBinary>, Vec<Arc<RustTest>>, Vec<Arc<RustTest>>);
    let mut by_binary: Vec<Group> = Vec::new();
    for t in tests {
        if !options.selects(&t.path) {
            continue;
        }
        let run_it = match options.ignored {
            IgnoredMode::Skip => !t.ignored,
            IgnoredMode::Only => t.ignored,
            IgnoredMode::Include => true,
        };
        if !run_it {
            if t.ignored {
                // Planned as it is recorded, so progress and `not_run` count it once.
                ctx.add_planned(1);
                let failure = ignored(t.ignore_reason.clone());
                ctx.finished(&t.meta, 1, Outcome::Skipped, Duration::ZERO, Some(failure));
            }
            continue;
        }
        let mode = options.isolation_of(&t.binary.package.name, &t.path);
        let mut t = t;
        t.own_limit = options.timeout_of(&t.binary.package.name, &t.path, None);
        let t = Arc::new(t);
        let at = match by_binary
            .iter()
            .position(|(b, _, _)| Arc::ptr_eq(b, &t.binary))
        {
            Some(i) => i,
            None => {
                by_binary.push((Arc::clone(&t.binary), vec![], vec![]));
                by_binary.len() - 1
            }
        };
        match mode {
            Isolation::Binary => by_binary[at].1.push(t),
            Isolation::Process => by_binary[at].2.push(t),
        }
    }
    let mut units: Vec<Box<dyn Unit>> = Vec::new();
    for (binary, batch, alone) in by_binary {
        // Name arguments are needed unless the batch is every test the binary runs.
        let whole = options.filters.is_empty() && options.only.is_none() && alone.is_empty();
        if !batch.is_empty() {
            units.push(Box::new(BinaryBatch {
                listed: listed.get(binary.id.as_str()).cloned().unwrap_or_default(),
                binary,
                tests: batch,
                whole,
                ignored: options.ignored,
            }));
        }
        units.extend(alone.into_iter().map(|test| {
            Box::new(PerTest {
                test,
                attempt: 1,
                recheck: None,
                failed_before: false,
            }) as Box<dyn Unit>
        }));
    }
    units
}

/// Doctest units for the packages that were built (those with a lib that has doctests).
pub fn doctest_units(
    ws: &Arc<Workspace>,
    binaries: &[Arc<TestBinary>],
    options: &CargoOptions,
) -> Vec<Box<dyn Unit>> {
    // Like `cargo test --lib`: choosing targets leaves doctests out unless --doc asks.
    let targets_chosen = !options.selection.targets.is_empty() && options.doc != DocMode::Only;
    if options.doc == DocMode::Skip || options.ignored == IgnoredMode::Only || targets_chosen {
        return vec![];
    }
    let mut pkgs: Vec<Arc<Package>> = Vec::new();
    for b in binaries {
        if b.package.has_doctests && !pkgs.iter().any(|p| Arc::ptr_eq(p, &b.package)) {
            pkgs.push(Arc::clone(&b.package));
        }
    }
    // Packages asked for with the same filters share one `cargo test --doc`, unless their
    // libs have the same name (cargo's `Doc-tests LIB` line would not tell them apart).
    let mut groups: Vec<(Vec<String>, Vec<Arc<Package>>)> = Vec::new();
    let chosen = pkgs.into_iter().filter_map(|package| {
        let mut filters = options.filters.clone();
        if let Some(only) = &options.only {
            // The whole package is in this shard, or only some of its doctests are
            // asked for (`--last-failed`), by name.
            let prefix = format!("{}::doctest$", package.name);
            if !only.contains(&doctest_shard_item(&package.name)) {
                filters = only
                    .iter()
                    .filter_map(|id| id.strip_prefix(&prefix))
                    .map(str::to_owned)
                    .collect();
                if filters.is_empty() {
                    return None;
                }
            }
        }
        Some((filters, package))
    });
    for (filters, package) in chosen {
        let fits = |(f, members): &&mut (Vec<String>, Vec<Arc<Package>>)| {
            *f == filters && !members.iter().any(|m| m.lib_name == package.lib_name)
        };
        match groups.iter_mut().find(fits) {
            Some((_, members)) => members.push(package),
            None => groups.push((filters, vec![package])),
        }
    }
    groups
        .into_iter()
        .map(|(filters, packages)| {
            Box::new(Doctests {
                ws: Arc::clone(ws),
                packages,
                selection: options.selection.clone(),
                filters,
                attempt: 1,
            }) as Box<dyn Unit>
        })
        .collect()
}

/// The shard item standing for all doctests of a package (they are listed only by running them).
pub fn doctest_shard_item(package: &str) -> String {
    format!("{package}::doctest")
}

/// Packages whose doctests `doctest_units` would run (for shard planning).
pub fn doctest_packages(binaries: &[Arc<TestBinary>], options: &CargoOptions) -> Vec<String> {
    let targets_chosen = !options.selection.targets.is_empty() && options.doc != DocMode::Only;
    if options.doc == DocMode::Skip || options.ignored == IgnoredMode::Only || targets_chosen {
        return vec![];
    }
    let mut names: Vec<String> = Vec::new();
    for b in binaries {
        if b.package.has_doctests && !names.contains(&b.package.name) {
            names.push(b.package.name.clone());
        }
    }
    names
}

/// One test, one process: `<bin> --exact NAME --nocapture`.
struct PerTest {
    test: Arc<RustTest>,
    attempt: u32,
    /// Set when this re-runs a test of a binary whose output could not be trusted.
    recheck: Option<Arc<Recheck>>,
    /// An earlier attempt of this test failed (this is its retry).
    failed_before: bool,
}

impl Unit for PerTest {
    fn planned_tests(&self) -> usize {
        1
    }

    /// A retry runs alone: a test that fails alongside others and passes alone is told
    /// apart from one that fails either way (`Attempt::concurrent`).
    fn exclusive(&self) -> bool {
        self.attempt > 1
    }

    fn describe(&self) -> String {
        self.test.meta.id.clone()
    }

    fn execute(self: Box<Self>, ctx: &Ctx) -> Vec<Box<dyn Unit>> {
        let t = &self.test;
        let mut attempt = self.attempt;
        let mut failed_once = self.failed_before;
        loop {
            if ctx.stopped().is_some() {
                return vec![];
            }
            let mut c = Command::new(&t.binary.exe);
            c.args(["--exact", &t.path, "--nocapture"])
                .current_dir(&t.binary.package.dir);
            if t.ignored {
                c.arg("--ignored");
            }
            c.args(&ctx.options.framework_args);
            set_cargo_env(&mut c, &t.binary);
            set_testflow_env(&mut c, ctx, &t.meta, attempt);
            ctx.started(&t.meta, attempt);
            let out = match ctx
                .processes
                .run(c, t.limit(ctx), ctx.options.output_cap, None)
            {
                Ok(out) => out,
                Err(e) => {
                    let failure = Failure {
                        category: Category::Crash,
                        kind: Some("spawn".into()),
                        message: format!("cannot start {}: {e}", t.binary.exe.display()),
                        ..Failure::default()
                    };
                    ctx.finished(
                        &t.meta,
                        attempt,
                        Outcome::Error,
                        Duration::ZERO,
                        Some(failure),
                    );
                    if let Some(r) = &self.recheck {
                        r.done(ctx, true);
                    }
                    return vec![];
                }
            };
            let Some((outcome, mut failure)) = classify_process(ctx, t, &out) else {
                return vec![]; // interrupted: the log leaves it unfinished
            };
            if let (Some(f), Some(r)) = (failure.as_mut(), &self.recheck) {
                let note = format!("re-run in its own process because {}", r.why);
                f.details = Some(match f.details.take() {
                    Some(d) => format!("{note}\n\n{d}"),
                    None => note,
                });
            }
            failed_once |= outcome.is_failure();
            if !ctx.finished(&t.meta, attempt, outcome, out.duration, failure) {
                if let Some(r) = &self.recheck {
                    r.done(ctx, failed_once);
                }
                return vec![];
            }
            attempt += 1;
            if !self.exclusive() {
                // The retry waits for a moment when it can run alone.
                return vec![Box::new(PerTest {
                    test: Arc::clone(&self.test),
                    attempt,
                    recheck: self.recheck.clone(),
                    failed_before: true,
                })];
            }
        }
    }
}

fn set_testflow_env(c: &mut Command, ctx: &Ctx, meta: &TestMeta, attempt: u32) {
    c.envs(ctx.options.env.iter().map(|(k, v)| (k, v)));
    c.env("TESTFLOW", "1")
        .env("TESTFLOW_RUN_ID", &ctx.run_id)
        .env("TESTFLOW_TEST_ID", &meta.id)
        .env("TESTFLOW_ATTEMPT", attempt.to_string());
}

/// Outcome and failure of a process-per-test run; `None` when it was interrupted.
fn classify_process(
    ctx: &Ctx,
    test: &RustTest,
    out: &ProcessOutput,
) -> Option<(Outcome, Option<Failure>)> {
    let path = test.path.as_str();
    let stdout = clean_captured(&out.stdout, path);
    let stderr = out.stderr.to_captured();
    let with_output = |mut f: Failure| {
        f.stdout = (!stdout.is_empty()).then(|| stdout.clone());
        f.stderr = (!stderr.is_empty()).then(|| stderr.clone());
        f
    };
    match out.killed {
        Some(KillReason::Interrupted) => return None,
        Some(KillReason::TestTimeout) => {
            let limit = test.limit(ctx).unwrap_or_default().as_secs_f64();
            return Some((
                Outcome::Timeout,
                Some(with_output(timeout_failure(format!(
                    "exceeded the per-test time limit of {limit}s and was killed"
                )))),
            ));
        }
        Some(KillReason::RunTimeout) => {
            let limit = ctx.options.run_timeout.unwrap_or_default().as_secs_f64();
            return Some((
                Outcome::Timeout,
                Some(with_output(timeout_failure(format!(
                    "still running when the run's time limit of {limit}s was reached; killed"
                )))),
            ));
        }
        None => {}
    }
    let raw_stdout = out.stdout.contiguous();
    if out.exit.success() {
        if ran_zero_tests(&raw_stdout) {
            let f = Failure {
                category: Category::RuntimeError,
                kind: Some("not_found".into()),
                message: format!(
                    "`--exact {path}` ran 0 tests: the test is no longer in the binary (rebuild?)"
                ),
                ..Failure::default()
            };
            return Some((Outcome::Error, Some(with_output(f))));
        }
        // Exit status 0 is not a pass: `std::process::exit(0)` in a test gives it too.
        if let Err(missing) = libtest_passed(&raw_stdout, path) {
            let f = Failure {
                category: Category::Crash,
                kind: Some("no_result".into()),
                message: format!(
                    "the process exited 0, but libtest never reported `{path}` passed: {missing} (did the test end the process itself, e.g. with std::process::exit?)"
                ),
                ..Failure::default()
            };
            return Some((Outcome::Crashed, Some(with_output(f))));
        }
        return Some((Outcome::Passed, None));
    }
    let failure = parse_failure(path, &raw_stdout, &out.stderr.contiguous(), out.exit, None);
    let outcome = if matches!(out.exit, ExitKind::Signal(_)) {
        Outcome::Crashed
    } else {
        Outcome::Failed
    };
    Some((outcome, Some(with_output(failure))))
}

/// What an `#[ignore]` test reports: only its reason, when it has one (the runner records
/// a skip's message as `TestCase.reason`, with no failure).
fn ignored(reason: Option<String>) -> Failure {
    Failure {
        message: reason.unwrap_or_default(),
        ..Failure::default()
    }
}

fn timeout_failure(message: String) -> Failure {
    Failure {
        category: Category::Timeout,
        kind: Some("timeout".into()),
        message,
        ..Failure::default()
    }
}

fn ran_zero_tests(stdout: &[u8]) -> bool {
    static ZERO: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    ZERO.get_or_init(|| Regex::new(r"(?m)^running 0 tests$").expect("valid regex"))
        .is_match(stdout)
}

/// Whether libtest's text output (`--exact PATH --nocapture`) reports exactly this one
/// test passed: its summary says 1 passed, 0 failed, 0 ignored, and before it is
/// `test PATH ... ok` (newer libtest prints it after the test's output; older ones print
/// `test PATH ... ` first, then the output, then `ok` right before the summary). `Err`
/// says what is missing.
fn libtest_passed(stdout: &[u8], path: &str) -> std::result::Result<(), String> {
    static SUMMARY: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let summary = SUMMARY.get_or_init(|| {
        Regex::new(r"(?m)^test result: (ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored;")
            .expect("valid regex")
    });
    let Some(last) = summary.captures_iter(stdout).last() else {
        return Err("its output has no `test result:` summary".into());
    };
    let count = |i: usize| -> Option<u64> { std::str::from_utf8(&last[i]).ok()?.parse().ok() };
    let (passed, failed, ignored) = (count(2), count(3), count(4));
    if &last[1] != b"ok" || (passed, failed, ignored) != (Some(1), Some(0), Some(0)) {
        return Err(format!(
            "its summary is `{}`",
            String::from_utf8_lossy(last.get(0).map_or(&b""[..], |m| m.as_bytes()))
        ));
    }
    let start = last.get(0).map_or(0, |m| m.start());
    let before = &stdout[..start];
    let line = Regex::new(&format!(
        r"test {}(?: - should panic)? \.\.\. (ok\n)?",
        regex::escape(path)
    ))
    .expect("valid regex");
    let mut named = false;
    for m in line.captures_iter(before) {
        if m.get(1).is_some() {
            return Ok(());
        }
        named = true;
    }
    // Older libtest: `test PATH ... `, the test's output, then `ok`.
    if named && before.ends_with(b"ok\n\n") {
        return Ok(());
    }
    Err(format!("no `test {path} ... ok` line before its summary"))
}

/// The test's own stdout without libtest's frame around it (`running 1 test`,
/// `test NAME ... ` (printed before the test's output by older libtest, after it by
/// newer ones, with ` - should panic` for `#[should_panic]` tests), the failures list
/// and the result line).
fn clean_captured(buf: &CappedBuf, path: &str) -> Captured {
    let (head, tail, cut) = buf.parts();
    let mut head: &[u8] = head;
    if let Some(rest) = head.strip_prefix(b"\nrunning 1 test\n".as_slice()) {
        head = rest;
    }
    for test_line in [
        format!("test {path} ... "),
        format!("test {path} - should panic ... "),
    ] {
        if let Some(rest) = head.strip_prefix(test_line.as_bytes()) {
            head = rest;
            break;
        }
    }
    let trailer = Regex::new(&format!(
        r"(?s)(?:test {}(?: - should panic)? \.\.\. )?(?:ok|FAILED|ignored[^\n]*)\n\n(?:(?:failures|successes):\n.*)?test result: [^\n]*\n*\z",
        regex::escape(path)
    ))
    .expect("valid regex");
    if cut == 0 {
        let mut all = head.to_vec();
        all.extend_from_slice(&tail);
        let end = trailer.find(&all).map_or(all.len(), |m| m.start());
        return Captured::from_parts(&all[..end], &[], 0);
    }
    let end = trailer.find(&tail).map_or(tail.len(), |m| m.start());
    Captured::from_parts(head, &tail[..end], cut)
}

/// libtest JSON events (`-Z unstable-options --format json --report-time`). Numbers
/// are typed so that a negative or fractional count is a line we cannot read.
#[derive(Deserialize)]
struct LibtestEvent {
    #[serde(rename = "type")]
    kind: String,
    event: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    exec_time: Option<f64>,
    #[serde(default)]
    stdout: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    test_count: Option<u64>,
    #[serde(default)]
    passed: Option<u64>,
    #[serde(default)]
    failed: Option<u64>,
    #[serde(default)]
    ignored: Option<u64>,
}

/// libtest's closing `suite` line.
#[derive(Clone, Copy, Debug, PartialEq)]
struct SuiteEnd {
    ok: bool,
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl SuiteEnd {
    fn plus(self, other: SuiteEnd) -> SuiteEnd {
        SuiteEnd {
            ok: self.ok && other.ok,
            passed: self.passed.saturating_add(other.passed),
            failed: self.failed.saturating_add(other.failed),
            ignored: self.ignored.saturating_add(other.ignored),
        }
    }
}

/// One result read from the stream, kept until the whole stream was checked.
struct Reported {
    name: String,
    outcome: Outcome,
    duration: Duration,
    failure: Option<Failure>,
}

/// Follows a libtest JSON stream: records each test as it starts, keeps the process
/// deadline at "oldest running test + per-test limit", and checks the stream as it
/// goes. Stdout is shared with the tests (a test can write past libtest's capture, or
/// through a child), so a line is only libtest's if the stream stays consistent:
/// every anomaly is kept in `anomalies`, and results are only recorded at once in
/// `live` mode (doctests, whose output rustdoc captures in a child process).
struct JsonStream<'a> {
    ctx: &'a Ctx,
    tests: HashMap<String, TestMeta>,
    /// Every test the binary listed (`None`: not known in advance, doctests).
    listed: Option<&'a std::collections::HashSet<String>>,
    /// Unknown names (doctests) are created on the fly by this.
    make_meta: &'a dyn Fn(&str) -> Option<TestMeta>,
    running: HashMap<String, Instant>,
    /// Tests with their own limit (`[[timeout]]` rules); the others have the run's.
    own_limits: HashMap<String, Duration>,
    /// Selected tests with a result.
    done: std::collections::HashSet<String>,
    retry: Vec<String>,
    announce_count: bool,
    attempt: u32,
    /// When set, events for other names are not recorded (rustdoc's filter is a
    /// substring match, so a retry of one doctest can also run its neighbours).
    only: Option<&'a [String]>,
    /// Record results as they arrive; otherwise they wait in `reported`.
    live: bool,
    /// rustdoc's stream: failures point at the doc block, and it may hold several
    /// suites (edition 2024 runs the merged doctests, then the standalone ones).
    doctest: bool,
    /// The suites that already ended, folded into one (doctests only).
    closed: Option<SuiteEnd>,
    reported: Vec<Reported>,
    spawned: Instant,
    started: std::collections::HashSet<String>,
    /// Results per name, for every name in the stream (selected or not).
    results: HashMap<String, u32>,
    /// ok / failed / ignored results seen, against the summary.
    counts: (u64, u64, u64),
    suite_started: Option<u64>,
    suite_end: Option<SuiteEnd>,
    anomalies: Vec<String>,
}

impl<'a> JsonStream<'a> {
    fn new(
        ctx: &'a Ctx,
        tests: HashMap<String, TestMeta>,
        make_meta: &'a dyn Fn(&str) -> Option<TestMeta>,
    ) -> JsonStream<'a> {
        JsonStream {
            ctx,
            tests,
            listed: None,
            make_meta,
            running: HashMap::new(),
            own_limits: HashMap::new(),
            done: Default::default(),
            retry: vec![],
            announce_count: false,
            attempt: 1,
            only: None,
            live: false,
            doctest: false,
            closed: None,
            reported: vec![],
            spawned: Instant::now(),
            started: Default::default(),
            results: HashMap::new(),
            counts: (0, 0, 0),
            suite_started: None,
            suite_end: None,
            anomalies: vec![],
        }
    }

    fn meta(&mut self, name: &str) -> Option<TestMeta> {
        if self
            .only
            .is_some_and(|only| !only.iter().any(|o| o == name))
        {
            return None;
        }
        if let Some(m) = self.tests.get(name) {
            return Some(m.clone());
        }
        let m = (self.make_meta)(name)?;
        self.tests.insert(name.to_owned(), m.clone());
        Some(m)
    }

    fn listed(&self, name: &str) -> bool {
        self.listed.is_none_or(|l| l.contains(name))
    }

    fn line(&mut self, line: &[u8], reg: Option<&Registration>) {
        // Anything that is not a JSON object of libtest's types is the tests' own output.
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(line) else {
            return;
        };
        let kind = value.get("type").and_then(|t| t.as_str());
        if !matches!(kind, Some("test" | "suite")) {
            return; // rustdoc's `report` timings, a test's own JSON
        }
        let ev = match serde_json::from_value::<LibtestEvent>(value) {
            Ok(ev) => ev,
            Err(e) => {
                self.anomalies
                    .push(format!("an unreadable libtest line ({e}): {}", shown(line)));
                return;
            }
        };
        let next_suite = self.doctest && ev.kind == "suite" && ev.event == "started";
        if self.suite_end.is_some() && !next_suite {
            self.anomalies
                .push(format!("a line after libtest's summary: {}", shown(line)));
            return;
        }
        if ev.kind == "suite" {
            self.suite_line(&ev, line);
            return;
        }
        if self.suite_started.is_none() {
            self.anomalies.push(format!(
                "a test line before the suite started: {}",
                shown(line)
            ));
        }
        if !self.listed(&ev.name) {
            self.anomalies.push(format!(
                "a line for `{}`, which the binary did not list: {}",
                ev.name,
                shown(line)
            ));
            return;
        }
        let outcome = match ev.event.as_str() {
            "started" => {
                if !self.started.insert(ev.name.clone()) {
                    self.anomalies.push(format!("`{}` started twice", ev.name));
                    return;
                }
                if let Some(meta) = self.meta(&ev.name) {
                    self.ctx.started(&meta, self.attempt);
                    self.running.insert(ev.name.clone(), Instant::now());
                    self.update_deadline(reg);
                }
                return;
            }
            "ok" => Outcome::Passed,
            "failed" => Outcome::Failed,
            "ignored" => Outcome::Skipped,
            // libtest's slow-test warning, not an end
            "timeout" if self.started.contains(&ev.name) => return,
            _ => {
                self.anomalies
                    .push(format!("an unexpected libtest line: {}", shown(line)));
                return;
            }
        };
        if !self.started.contains(&ev.name) {
            self.anomalies.push(format!(
                "a result for `{}`, which never started: {}",
                ev.name,
                shown(line)
            ));
        }
        let seen = self.results.entry(ev.name.clone()).or_default();
        *seen += 1;
        if *seen > 1 {
            self.anomalies.push(format!(
                "`{}` reported {} times (last: {})",
                ev.name,
                seen,
                shown(line)
            ));
        }
        match outcome {
            Outcome::Passed => self.counts.0 += 1,
            Outcome::Failed => self.counts.1 += 1,
            _ => self.counts.2 += 1,
        }
        let exec_time = match ev.exec_time {
            None => None,
            // libtest measures inside the process: never more than the process has lived.
            Some(s) if s >= 0.0 && s <= self.spawned.elapsed().as_secs_f64() + 1.0 => {
                Duration::try_from_secs_f64(s).ok()
            }
            Some(s) => {
                self.anomalies.push(format!(
                    "`{}` reported with an impossible exec_time of {s:?}s",
                    ev.name
                ));
                None
            }
        };
        let Some(meta) = self.meta(&ev.name) else {
            // Listed but not asked for: libtest reports the ignored tests it skips.
            if self.listed.is_some() && outcome != Outcome::Skipped {
                self.anomalies.push(format!(
                    "a result for `{}`, which was not asked to run: {}",
                    ev.name,
                    shown(line)
                ));
            }
            return;
        };
        // Ended now, whenever it is recorded (a batch records after the process ends).
        self.ctx.ended(&meta, self.attempt);
        let started = self.running.remove(&ev.name);
        self.update_deadline(reg);
        let duration = exec_time
            .or_else(|| started.map(|s| s.elapsed()))
            .unwrap_or_default();
        let failure = match outcome {
            Outcome::Failed => Some(self.failure(&ev, &meta)),
            Outcome::Skipped => Some(ignored(ev.message)),
            _ => None,
        };
        self.done.insert(ev.name.clone());
        if self.live {
            if self
                .ctx
                .finished(&meta, self.attempt, outcome, duration, failure)
            {
                self.retry.push(ev.name);
            }
        } else {
            self.reported.push(Reported {
                name: ev.name,
                outcome,
                duration,
                failure,
            });
        }
    }

    fn suite_line(&mut self, ev: &LibtestEvent, line: &[u8]) {
        match ev.event.as_str() {
            "started" if self.suite_started.is_none() || self.suite_end.is_some() => {
                let count = ev.test_count.unwrap_or(0);
                // A doctest stream's next suite: what came before is checked as one.
                if let Some(end) = self.suite_end.take() {
                    self.closed = Some(self.closed.map_or(end, |c| c.plus(end)));
                }
                let before = self.suite_started.unwrap_or(0);
                self.suite_started = Some(before.saturating_add(count));
                if self.announce_count {
                    self.ctx
                        .add_planned(usize::try_from(count).unwrap_or(usize::MAX));
                }
            }
            "ok" | "failed" => match (ev.passed, ev.failed, ev.ignored) {
                (Some(passed), Some(failed), Some(ignored)) => {
                    self.suite_end = Some(SuiteEnd {
                        ok: ev.event == "ok",
                        passed,
                        failed,
                        ignored,
                    });
                }
                _ => self.anomalies.push(format!(
                    "a libtest summary without its counts: {}",
                    shown(line)
                )),
            },
            _ => self
                .anomalies
                .push(format!("an unexpected libtest suite line: {}", shown(line))),
        }
    }

    fn failure(&self, ev: &LibtestEvent, meta: &TestMeta) -> Failure {
        let text = ev.stdout.clone().unwrap_or_default();
        let mut f = parse_failure(
            &ev.name,
            text.as_bytes(),
            b"",
            ExitKind::Code(101),
            ev.message.as_deref(),
        );
        if self.doctest {
            point_at_doc_block(&mut f, meta);
        }
        if !text.is_empty() {
            f.stdout = Some(Captured::from_bytes(
                text.as_bytes(),
                self.ctx.options.output_cap,
            ));
        }
        f
    }

    /// Where the finished stream disagrees with libtest's own summary or with the
    /// process's exit status (only for a process that ended by itself).
    fn disagreements(&self, exit: ExitKind) -> Vec<String> {
        let mut why = Vec::new();
        let (ok, failed, ignored) = self.counts;
        let Some(mut end) = self.suite_end else {
            // A crash or an early exit. Without the summary nothing checks the results
            // that came before it (a test's output could have faked a pass there).
            why.push(format!(
                "the process ended with {} before libtest's summary",
                describe_exit(exit)
            ));
            return why;
        };
        if let Some(c) = self.closed {
            end = c.plus(end);
        }
        if (end.passed, end.failed, end.ignored) != (ok, failed, ignored) {
            why.push(format!(
                "libtest's summary says {} passed, {} failed, {} ignored, but its per-test lines say {ok}, {failed}, {ignored}",
                end.passed, end.failed, end.ignored
            ));
        }
        let reported = ok.saturating_add(failed).saturating_add(ignored);
        if let Some(n) = self.suite_started
            && n != reported
        {
            why.push(format!(
                "libtest announced {n} tests and reported {reported}"
            ));
        }
        if end.ok != (end.failed == 0) {
            why.push(format!(
                "libtest's summary is `{}` with {} failed",
                if end.ok { "ok" } else { "failed" },
                end.failed
            ));
        }
        if failed == 0 && !exit.success() {
            why.push(format!(
                "the process ended with {} although libtest reported no failure",
                describe_exit(exit)
            ));
        }
        if failed > 0 && exit.success() {
            why.push(format!(
                "the process exited 0 although libtest reported {failed} failed"
            ));
        }
        why
    }

    /// This test's per-test limit: its own, else the run's.
    fn limit_of(&self, name: &str) -> Option<Duration> {
        self.own_limits
            .get(name)
            .copied()
            .or(self.ctx.options.test_timeout)
    }

    fn update_deadline(&self, reg: Option<&Registration>) {
        if let Some(reg) = reg
            && (self.ctx.options.test_timeout.is_some() || !self.own_limits.is_empty())
        {
            let first_due = self
                .running
                .iter()
                .filter_map(|(n, s)| self.limit_of(n).map(|l| *s + l))
                .min();
            reg.set_deadline(first_due);
        }
    }

    /// Tests that were running when the process was killed for time: those past their own
    /// limit are the timeouts.
    fn overdue(&self) -> Vec<String> {
        self.running
            .iter()
            .filter(|(n, s)| self.limit_of(n).is_some_and(|l| s.elapsed() >= l))
            .map(|(n, _)| n.clone())
            .collect()
    }
}

/// A failing doctest is reported at its own code block (the line rustdoc names it by).
/// The panic's own location cannot be taken as is: merged doctests (edition 2024) panic
/// in a temporary file, and a standalone doctest (edition 2021, or one rustdoc could not
/// merge) panics at `src/lib.rs:L` where L counts the lines of the doctest as compiled,
/// not of the file, so it points into some other doctest or item of that file. Where
/// such a panic was reported stays in the details. A compile error keeps its line.
fn point_at_doc_block(f: &mut Failure, meta: &TestMeta) {
    let Some(file) = meta.file.clone() else {
        return;
    };
    let block = Location {
        file,
        line: meta.line.unwrap_or(1),
        column: None,
    };
    // A compile error is where rustc says: rustdoc maps diagnostics to the file's lines.
    if f.category == Category::BuildError
        && f.location
            .as_ref()
            .is_some_and(|l| l.file == block.file && l.line >= block.line)
    {
        return;
    }
    // A temporary file of rustdoc's (merged doctests) is gone: nothing to note.
    let reported = f.location.take();
    if let Some(at) = reported.filter(|l| *l != block && !l.file.contains("rustdoctest")) {
        let col = at.column.map(|c| format!(":{c}")).unwrap_or_default();
        let note = if at.file == block.file {
            format!(
                "rustdoc reported the panic at {}:{}{col}, a line of the doctest as compiled, not of the file",
                at.file, at.line
            )
        } else {
            format!("the panic was reported at {}:{}{col}", at.file, at.line)
        };
        f.details = Some(match f.details.take() {
            Some(d) => format!("{note}\n\n{d}"),
            None => note,
        });
    }
    f.location = Some(block);
}

fn describe_exit(exit: ExitKind) -> String {
    match exit {
        ExitKind::Code(c) => format!("exit status {c}"),
        ExitKind::Signal(s) => format!("signal {s}"),
    }
}

/// A line of test output, short enough for a message.
fn shown(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    match text.char_indices().nth(160) {
        Some((i, _)) => format!("`{}…`", &text[..i]),
        None => format!("`{text}`"),
    }
}

/// One process per test binary, libtest JSON on stdout.
struct BinaryBatch {
    binary: Arc<TestBinary>,
    tests: Vec<Arc<RustTest>>,
    /// Every test the binary listed, asked for or not.
    listed: Arc<std::collections::HashSet<String>>,
    /// Every test of the binary is selected: no name arguments needed.
    whole: bool,
    ignored: IgnoredMode,
}

impl Unit for BinaryBatch {
    fn planned_tests(&self) -> usize {
        self.tests.len()
    }

    fn describe(&self) -> String {
        format!(
            "{} ({} tests in one process)",
            self.binary.id,
            self.tests.len()
        )
    }

    fn execute(self: Box<Self>, ctx: &Ctx) -> Vec<Box<dyn Unit>> {
        let mut c = Command::new(&self.binary.exe);
        c.args([
            "-Z",
            "unstable-options",
            "--format",
            "json",
            "--report-time",
        ])
        .env("RUSTC_BOOTSTRAP", "1")
        .current_dir(&self.binary.package.dir);
        match self.ignored {
            IgnoredMode::Skip => {}
            IgnoredMode::Only => {
                c.arg("--ignored");
            }
            IgnoredMode::Include => {
                c.arg("--include-ignored");
            }
        }
        // `-- --test-threads=N` given by hand wins: libtest refuses the option twice.
        let threads_given = ctx
            .options
            .framework_args
            .iter()
            .any(|a| a == "--test-threads" || a.starts_with("--test-threads="));
        if !threads_given {
            c.arg(format!("--test-threads={}", ctx.options.jobs.max(1)));
        }
        c.args(&ctx.options.framework_args);
        if !self.whole {
            c.arg("--exact")
                .args(self.tests.iter().map(|t| t.path.as_str()));
        }
        set_cargo_env(&mut c, &self.binary);
        c.envs(ctx.options.env.iter().map(|(k, v)| (k, v)))
            .env("TESTFLOW", "1")
            .env("TESTFLOW_RUN_ID", &ctx.run_id)
            .env("TESTFLOW_ATTEMPT", "1");
        let by_name: HashMap<&str, &Arc<RustTest>> =
            self.tests.iter().map(|t| (t.path.as_str(), t)).collect();
        let no_meta = |_: &str| None;
        let metas = self
            .tests
            .iter()
            .map(|t| (t.path.clone(), t.meta.clone()))
            .collect();
        let mut stream = JsonStream::new(ctx, metas, &no_meta);
        stream.listed = Some(&self.listed);
        stream.own_limits = self
            .tests
            .iter()
            .filter_map(|t| Some((t.path.clone(), t.own_limit?)))
            .collect();
        let mut on_line = |line: &[u8], reg: &Registration| stream.line(line, Some(reg));
        // The whole binary gets the run's limits; single tests get theirs through the stream.
        let result = ctx
            .processes
            .run(c, None, ctx.options.output_cap, Some(&mut on_line));
        let per_test = |name: &str, attempt, recheck: Option<Arc<Recheck>>| {
            Box::new(PerTest {
                test: Arc::clone(by_name[name]),
                attempt,
                recheck,
                failed_before: attempt > 1,
            }) as Box<dyn Unit>
        };
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                ctx.run_error(
                    "spawn",
                    format!("cannot start {}: {e}", self.binary.exe.display()),
                );
                return vec![];
            }
        };
        let mut doubts = std::mem::take(&mut stream.anomalies);
        // What only a test failing on its own would explain.
        let mut explain = None;
        if out.killed.is_none() {
            let d = stream.disagreements(out.exit);
            if !d.is_empty() {
                explain = Some(d.join("; "));
                doubts.extend(d);
            }
        }
        let trusted = doubts.is_empty();
        let note = (!trusted).then(|| {
            format!(
                "libtest's output for {} could not be trusted: {}",
                self.binary.id,
                doubts.join("; ")
            )
        });
        let mut follow_ups: Vec<Box<dyn Unit>> = Vec::new();
        // Record what the stream reported: all of it when it can be trusted, else only
        // failures (a test's output can fake a pass, and a failure is never made green).
        let mut kept_failure = std::collections::HashSet::new();
        let reported = std::mem::take(&mut stream.reported);
        for r in reported {
            if !trusted && !r.outcome.is_failure() {
                continue;
            }
            if !kept_failure.insert(r.name.clone()) {
                continue; // a second failure line for one test
            }
            let mut failure = r.failure;
            if let (Some(f), Some(note)) = (failure.as_mut(), &note) {
                f.details = Some(match f.details.take() {
                    Some(d) => format!("{note}\n\n{d}"),
                    None => note.clone(),
                });
            }
            let meta = &stream.tests[&r.name];
            if ctx.finished(meta, 1, r.outcome, r.duration, failure) {
                follow_ups.push(per_test(&r.name, 2, None));
            }
        }
        match out.killed {
            Some(KillReason::Interrupted) => return follow_ups,
            Some(KillReason::RunTimeout) => {
                let limit = ctx.options.run_timeout.unwrap_or_default().as_secs_f64();
                for name in stream.running.keys() {
                    // The same words as one process per test.
                    let f = timeout_failure(format!(
                        "still running when the run's time limit of {limit}s was reached; killed"
                    ));
                    ctx.finished(
                        &stream.tests[name],
                        1,
                        Outcome::Timeout,
                        Duration::ZERO,
                        Some(f),
                    );
                }
                return follow_ups;
            }
            Some(KillReason::TestTimeout) => {
                for name in stream.overdue() {
                    let limit = stream.limit_of(&name).unwrap_or_default();
                    let f = timeout_failure(format!(
                        "exceeded the per-test time limit of {}s and was killed",
                        limit.as_secs_f64()
                    ));
                    kept_failure.insert(name.clone());
                    stream.done.insert(name.clone());
                    if ctx.finished(&stream.tests[&name], 1, Outcome::Timeout, limit, Some(f)) {
                        follow_ups.push(per_test(&name, 2, None));
                    }
                }
            }
            None => {}
        }
        let settled = |n: &str| {
            if trusted {
                stream.done.contains(n)
            } else {
                kept_failure.contains(n)
            }
        };
        // Whatever is not settled runs again one process per test: the tests the binary
        // left unfinished (it crashed, or was killed for another test's hang), and all
        // but the failures when its output could not be trusted.
        let again: Vec<&str> = self
            .tests
            .iter()
            .map(|t| t.path.as_str())
            .filter(|n| !settled(n))
            .collect();
        let recheck = note.map(|why| {
            Arc::new(Recheck {
                binary: self.binary.id.clone(),
                why,
                explain,
                remaining: AtomicUsize::new(again.len()),
                failed: AtomicBool::new(!kept_failure.is_empty()),
            })
        });
        if let Some(r) = &recheck
            && again.is_empty()
        {
            r.settle(ctx);
        }
        follow_ups.extend(again.into_iter().map(|n| per_test(n, 1, recheck.clone())));
        follow_ups
    }
}

/// The tests of a binary whose output could not be trusted, re-run one process each.
/// When the binary's own verdict (its summary, its exit status) disagreed with its
/// tests and no test fails alone, nothing explains it: a `reconcile` run error.
struct Recheck {
    binary: String,
    why: String,
    explain: Option<String>,
    remaining: AtomicUsize,
    failed: AtomicBool,
}

impl Recheck {
    fn done(&self, ctx: &Ctx, failed: bool) {
        if failed {
            self.failed.store(true, AtomicOrdering::SeqCst);
        }
        if self.remaining.fetch_sub(1, AtomicOrdering::SeqCst) == 1 {
            self.settle(ctx);
        }
    }

    fn settle(&self, ctx: &Ctx) {
        if let Some(e) = &self.explain
            && !self.failed.load(AtomicOrdering::SeqCst)
        {
            ctx.run_error(
                error_kind::RECONCILE,
                format!(
                    "{}: {e}; yet each of its tests passed when re-run in its own process",
                    self.binary
                ),
            );
        }
    }
}

/// `cargo test --doc -p A -p B …`: the doctests of several packages from one cargo (one
/// freshness check), libtest JSON with cargo's status lines in one stream. cargo prints
/// `Doc-tests LIB` before running a package's doctests and `error: doctest failed, to
/// rerun pass `-p PKG --doc`` after a failed one, so the stream splits into one part per
/// package, each reconciled on its own as if it were its own process.
struct Doctests {
    ws: Arc<Workspace>,
    packages: Vec<Arc<Package>>,
    selection: Selection,
    filters: Vec<String>,
    attempt: u32,
}

/// A doctest's metadata: `src/lib.rs - add (line 3)` / `src/lib.rs - Calc::new (line 10)`.
fn doctest_meta(ws: &Workspace, package: &Package, name: &str) -> TestMeta {
    static NAME: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re =
        NAME.get_or_init(|| regex::Regex::new(r"^(.*?) - .*\(line (\d+)\)").expect("valid regex"));
    let (file, line) = match re.captures(name) {
        Some(c) => (Some(ws.relative_path(package, &c[1])), c[2].parse().ok()),
        None => (None, None),
    };
    let binary = format!("{}::doctest", package.name);
    TestMeta {
        id: format!("{binary}${name}"),
        framework: Framework::Rust,
        name: name.to_owned(),
        suite: vec![],
        file,
        line,
        binary: Some(binary),
    }
}

/// cargo's `   Doc-tests LIB` status line: the lib target whose doctests start.
fn doc_tests_header(line: &[u8]) -> Option<&str> {
    let name = std::str::from_utf8(line.trim_ascii())
        .ok()?
        .strip_prefix("Doc-tests ")?;
    (!name.is_empty() && !name.contains(char::is_whitespace)).then_some(name)
}

/// cargo's line after a package's doctests failed: the package spec it names.
fn doc_tests_failed(line: &[u8]) -> Option<&str> {
    std::str::from_utf8(line.trim_ascii())
        .ok()?
        .strip_prefix("error: doctest failed, to rerun pass `-p ")?
        .strip_suffix(" --doc`")
}

/// Makes the metadata of a test the stream names (doctests are not listed in advance).
type MakeMeta<'a> = dyn Fn(&str) -> Option<TestMeta> + 'a;

/// One package's part of the stream.
struct DocPart<'a> {
    package: Arc<Package>,
    stream: JsonStream<'a>,
    /// cargo's `Doc-tests` line for it came.
    seen: bool,
    /// cargo said its doctests failed: the part's exit status.
    cargo_failed: bool,
    /// Doctests were still running when the part ended (rustdoc died, or was killed).
    cut: bool,
}

impl DocPart<'_> {
    /// The part ended (the next package's header, or cargo's exit): what still runs died
    /// with it, or timed out when the process was killed for time.
    fn close(&mut self, attempt: u32, killed: Option<KillReason>, reg: Option<&Registration>) {
        let running: Vec<String> = self.stream.running.drain().map(|(n, _)| n).collect();
        self.cut = self.cut || !running.is_empty();
        for name in running {
            let (outcome, f) = match killed {
                Some(KillReason::TestTimeout | KillReason::RunTimeout) => (
                    Outcome::Timeout,
                    timeout_failure("exceeded its time limit and was killed".into()),
                ),
                _ => (
                    Outcome::Crashed,
                    Failure {
                        category: Category::Crash,
                        message: "rustdoc's test process died while this doctest was running"
                            .into(),
                        ..Failure::default()
                    },
                ),
            };
            let meta = &self.stream.tests[&name];
            self.stream
                .ctx
                .finished(meta, attempt, outcome, Duration::ZERO, Some(f));
        }
        if let Some(reg) = reg {
            reg.set_deadline(None);
        }
    }
}

/// The stream of one `cargo test --doc`, cut into its packages' parts.
struct DocSplit<'a> {
    parts: Vec<DocPart<'a>>,
    current: Option<usize>,
    attempt: u32,
    /// Lines no part can own (libtest JSON before any header, an unknown header).
    stray: Vec<String>,
}

impl DocSplit<'_> {
    fn line(&mut self, line: &[u8], reg: Option<&Registration>) {
        if let Some(lib) = doc_tests_header(line) {
            if let Some(i) = self.current.take() {
                self.parts[i].close(self.attempt, None, reg);
            }
            match self
                .parts
                .iter()
                .position(|p| !p.seen && p.package.lib_name == lib)
            {
                Some(i) => {
                    self.parts[i].seen = true;
                    self.current = Some(i);
                }
                None => self.stray.push(format!(
                    "cargo ran the doctests of `{lib}`, which were not asked for or ran twice"
                )),
            }
            return;
        }
        if let Some(spec) = doc_tests_failed(line) {
            match self.current.map(|i| &mut self.parts[i]) {
                Some(p)
                    if spec == p.package.name
                        || spec.starts_with(&format!("{}@", p.package.name)) =>
                {
                    p.cargo_failed = true
                }
                _ => self.stray.push(format!(
                    "cargo says the doctests of `{spec}` failed, outside that package's output"
                )),
            }
            return;
        }
        match self.current {
            Some(i) => self.parts[i].stream.line(line, reg),
            None if line.trim_ascii_start().starts_with(b"{") => self.stray.push(format!(
                "a line before any package's doctests: {}",
                shown(line)
            )),
            None => {} // cargo's own status lines
        }
    }
}

impl Unit for Doctests {
    fn planned_tests(&self) -> usize {
        0 // unknown until rustdoc reports them
    }

    fn describe(&self) -> String {
        let names: Vec<&str> = self.packages.iter().map(|p| p.name.as_str()).collect();
        format!("the doctests of {}", names.join(", "))
    }

    fn execute(self: Box<Self>, ctx: &Ctx) -> Vec<Box<dyn Unit>> {
        let mut sel = self.selection.clone();
        sel.packages = self
            .packages
            .iter()
            .map(|p| format!("{}@{}", p.name, p.version))
            .collect();
        sel.workspace = false;
        sel.exclude.clear();
        let mut c = Command::new(cargo_bin());
        // Not `--quiet`: it hides the `Doc-tests` lines the stream is split by.
        c.args(["test", "--doc", "--no-fail-fast", "--color", "never"])
            .args(sel.cargo_args())
            .args([
                "--",
                "-Z",
                "unstable-options",
                "--format",
                "json",
                "--report-time",
            ])
            .args(&self.filters)
            .args(&ctx.options.framework_args)
            .envs(sel.env.iter().map(|(k, v)| (k, v)))
            .env("RUSTC_BOOTSTRAP", "1")
            .env("TESTFLOW", "1")
            .env("TESTFLOW_RUN_ID", &ctx.run_id)
            .env("TESTFLOW_ATTEMPT", self.attempt.to_string())
            .current_dir(&self.ws.root);
        let makes: Vec<Box<MakeMeta<'_>>> = self
            .packages
            .iter()
            .map(|p| {
                let (ws, p) = (Arc::clone(&self.ws), Arc::clone(p));
                Box::new(move |name: &str| Some(doctest_meta(&ws, &p, name))) as Box<MakeMeta<'_>>
            })
            .collect();
        let parts = self
            .packages
            .iter()
            .zip(&makes)
            .map(|(package, make)| {
                let mut stream = JsonStream::new(ctx, HashMap::new(), make.as_ref());
                stream.live = true;
                stream.doctest = true;
                stream.announce_count = self.attempt == 1;
                stream.attempt = self.attempt;
                stream.only = (self.attempt > 1).then_some(&self.filters[..]);
                DocPart {
                    package: Arc::clone(package),
                    stream,
                    seen: false,
                    cargo_failed: false,
                    cut: false,
                }
            })
            .collect();
        let mut split = DocSplit {
            parts,
            current: None,
            attempt: self.attempt,
            stray: vec![],
        };
        let run = {
            let mut on_line = |line: &[u8], reg: &Registration| split.line(line, Some(reg));
            ctx.processes
                .run_merged(c, None, ctx.options.output_cap, Some(&mut on_line))
        };
        let out = match run {
            Ok(out) => out,
            Err(e) => {
                ctx.run_error("spawn", format!("cannot run cargo test --doc: {e}"));
                return vec![];
            }
        };
        if out.killed == Some(KillReason::Interrupted) {
            return vec![];
        }
        if let Some(i) = split.current.take() {
            split.parts[i].close(self.attempt, out.killed, None);
        }
        let mut again = Vec::new();
        if out.killed.is_none() {
            self.reconcile(ctx, &split, &out);
        } else if out.killed == Some(KillReason::TestTimeout) {
            // One doctest's limit killed cargo: the packages it had not reached yet run again.
            again = split
                .parts
                .iter()
                .filter(|p| !p.seen)
                .map(|p| Arc::clone(&p.package))
                .collect();
        }
        let mut units: Vec<Box<dyn Unit>> = Vec::new();
        if !again.is_empty() {
            units.push(Box::new(Doctests {
                ws: Arc::clone(&self.ws),
                packages: again,
                selection: self.selection.clone(),
                filters: self.filters.clone(),
                attempt: self.attempt,
            }));
        }
        // Retries run the failed doctest alone (a name is a near-exact filter for rustdoc).
        for part in &split.parts {
            for name in &part.stream.retry {
                units.push(Box::new(Doctests {
                    ws: Arc::clone(&self.ws),
                    packages: vec![Arc::clone(&part.package)],
                    selection: self.selection.clone(),
                    filters: vec![name.clone()],
                    attempt: self.attempt + 1,
                }));
            }
        }
        units
    }
}

impl Doctests {
    /// After cargo ended by itself: each package's part must agree with rustdoc's own
    /// summary and with what cargo said of that package, and cargo's exit with the parts.
    fn reconcile(&self, ctx: &Ctx, split: &DocSplit, out: &ProcessOutput) {
        let output = || out.stdout.to_captured().text.trim().to_owned();
        if !split.parts.iter().any(|p| p.seen) && !out.exit.success() {
            let names: Vec<&str> = self.packages.iter().map(|p| p.name.as_str()).collect();
            ctx.run_error(
                "build",
                format!(
                    "doctests of {} could not be built or run:\n{}",
                    names.join(", "),
                    output()
                ),
            );
            return;
        }
        for part in &split.parts {
            let name = &part.package.name;
            if !part.seen {
                let why = if out.exit.success() {
                    "cargo exited 0 without running them".to_owned()
                } else {
                    format!("cargo did not run them:\n{}", output())
                };
                ctx.run_error(error_kind::RECONCILE, format!("doctests of {name}: {why}"));
                continue;
            }
            let mut doubts = part.stream.anomalies.clone();
            // A crash is already named on the doctest it cut short.
            if !part.cut {
                let exit = ExitKind::Code(if part.cargo_failed { 101 } else { 0 });
                doubts.extend(part.stream.disagreements(exit));
            }
            if !doubts.is_empty() {
                ctx.run_error(
                    error_kind::RECONCILE,
                    format!("doctests of {name}: {}", doubts.join("; ")),
                );
            }
        }
        let mut doubts = split.stray.clone();
        let any_failed = split.parts.iter().any(|p| p.cargo_failed);
        if any_failed == out.exit.success() {
            doubts.push(format!(
                "cargo ended with {} but said {} package's doctests failed",
                describe_exit(out.exit),
                if any_failed { "a" } else { "no" }
            ));
        }
        if !doubts.is_empty() {
            ctx.run_error(
                error_kind::RECONCILE,
                format!("cargo test --doc: {}", doubts.join("; ")),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frameworks::cargo::IsolationRule;

    #[test]
    fn libtest_frame_is_removed_from_captured_stdout() {
        let mut b = CappedBuf::new(4096);
        b.push(b"\nrunning 1 test\ntest tests::a ... hello\nworld\nFAILED\n\nfailures:\n\nfailures:\n    tests::a\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 8 filtered out; finished in 0.00s\n\n");
        assert_eq!(clean_captured(&b, "tests::a").text, "hello\nworld\n");
        // Newer libtest prints `test NAME ... ` after the test's own output under --nocapture.
        let mut b = CappedBuf::new(4096);
        b.push(b"\nrunning 1 test\nbad \xff\xfe bytes\ntest a ... FAILED\n\nfailures:\n\nfailures:\n    a\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 6 filtered out; finished in 0.26s\n\n");
        assert_eq!(clean_captured(&b, "a").bytes(), b"bad \xff\xfe bytes\n");
        let mut b = CappedBuf::new(4096);
        b.push(b"\nrunning 1 test\ntest tests::b - should panic ... FAILED\n\nfailures:\n\n---- tests::b stdout ----\nnote: test did not panic as expected at src/lib.rs:69:8\n\nfailures:\n    tests::b\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 8 filtered out; finished in 0.00s\n\n");
        assert_eq!(clean_captured(&b, "tests::b").text, "");
    }

    /// Real `--exact NAME --nocapture` outputs of libtest 1.95 (the last one: an older
    /// libtest that prints the name before the test's output).
    #[test]
    fn a_pass_needs_libtests_own_result_line_and_summary() {
        let summary = "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 4 filtered out; finished in 0.00s\n\n";
        let ok =
            |path: &str, body: &str| libtest_passed(format!("{body}{summary}").as_bytes(), path);
        assert_eq!(
            ok("tests::a", "\nrunning 1 test\ntest tests::a ... ok\n\n"),
            Ok(())
        );
        assert_eq!(
            ok(
                "tests::nonl",
                "\nrunning 1 test\nhellotest tests::nonl ... ok\n\n"
            ),
            Ok(())
        );
        assert_eq!(
            ok(
                "tests::sp",
                "\nrunning 1 test\ntest tests::sp - should panic ... ok\n\n"
            ),
            Ok(())
        );
        assert_eq!(
            ok(
                "tests::a",
                "\nrunning 1 test\ntest tests::a ... hello\nok\n\n"
            ),
            Ok(())
        );
        // `std::process::exit(0)` in the test: libtest never got to report it.
        assert_eq!(
            libtest_passed(b"\nrunning 1 test\n", "tests::c"),
            Err("its output has no `test result:` summary".into())
        );
        // Another test's result line (printed by this test) is not this test's.
        assert_eq!(
            ok("tests::a", "\nrunning 1 test\ntest tests::other ... ok\n\n"),
            Err("no `test tests::a ... ok` line before its summary".into())
        );
        // Output of a thread that outlived the test, between its line and the summary.
        assert_eq!(
            ok(
                "tests::a",
                "\nrunning 1 test\ntest tests::a ... ok\nlate\n\n"
            ),
            Ok(())
        );
        assert!(
            ok(
                "tests::a",
                "\nrunning 1 test\ntest tests::a ... hello\nok then\n\n"
            )
            .is_err()
        );
        let ignored = b"\nrunning 1 test\ntest tests::a ... ignored\n\ntest result: ok. 0 passed; 0 failed; 1 ignored; 0 measured; 4 filtered out; finished in 0.00s\n\n";
        assert_eq!(
            libtest_passed(ignored, "tests::a"),
            Err("its summary is `test result: ok. 0 passed; 0 failed; 1 ignored;`".into())
        );
        let huge = b"\nrunning 1 test\ntest tests::a ... ok\n\ntest result: ok. 99999999999999999999999 passed; 0 failed; 0 ignored;\n";
        assert!(libtest_passed(huge, "tests::a").is_err());
    }

    struct Quiet;
    impl crate::runner::Listener for Quiet {
        fn on_event(&mut self, _: &crate::events::Event, _: bool) {}
    }

    /// Feed `lines` to a binary-mode stream over tests `a`, `b` (listed: `a`, `b`, `d`)
    /// and return its anomalies and its disagreements with `exit`.
    fn check(lines: &[&str], exit: ExitKind) -> (Vec<String>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(crate::events::EventLog::create(&dir.path().join("e.jsonl")).unwrap());
        let ctx = Ctx::new(
            crate::runner::RunOptions::default(),
            "r".into(),
            log,
            Box::new(Quiet),
        );
        let meta = |name: &str| TestMeta {
            id: format!("x${name}"),
            framework: Framework::Rust,
            name: name.into(),
            suite: vec![],
            file: None,
            line: None,
            binary: Some("x".into()),
        };
        let tests = ["tests::a", "tests::b"]
            .into_iter()
            .map(|n| (n.to_owned(), meta(n)))
            .collect();
        let listed: std::collections::HashSet<String> = ["tests::a", "tests::b", "tests::d"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        let no_meta = |_: &str| None;
        let mut stream = JsonStream::new(&ctx, tests, &no_meta);
        stream.listed = Some(&listed);
        for l in lines {
            stream.line(l.as_bytes(), None);
        }
        let d = stream.disagreements(exit);
        (stream.anomalies, d)
    }

    // libtest 1.95, `--format json --report-time`, tests a (ok), b (failed), d (ignored).
    const STARTED: &str = r#"{ "type": "suite", "event": "started", "test_count": 3 }"#;
    const A: [&str; 2] = [
        r#"{ "type": "test", "event": "started", "name": "tests::a" }"#,
        r#"{ "type": "test", "name": "tests::a", "event": "ok", "exec_time": 0.000000852 }"#,
    ];
    const B: [&str; 2] = [
        r#"{ "type": "test", "event": "started", "name": "tests::b" }"#,
        r#"{ "type": "test", "name": "tests::b", "event": "failed", "exec_time": 0.349238729, "stdout": "\nthread 'tests::b' (19113) panicked at src/lib.rs:5:22:\nassertion `left == right` failed\n  left: 1\n right: 2\n" }"#,
    ];
    const D: [&str; 2] = [
        r#"{ "type": "test", "event": "started", "name": "tests::d" }"#,
        r#"{ "type": "test", "name": "tests::d", "event": "ignored" }"#,
    ];
    const END: &str = r#"{ "type": "suite", "event": "failed", "passed": 1, "failed": 1, "ignored": 1, "measured": 0, "filtered_out": 0, "exec_time": 0.35 }"#;

    fn stream_with(extra: &[(usize, &'static str)]) -> Vec<&'static str> {
        let mut v = vec![STARTED, A[0], A[1], B[0], B[1], D[0], D[1], END];
        for (at, line) in extra.iter().rev() {
            v.insert(*at, line);
        }
        v
    }

    #[test]
    fn a_real_stream_is_trusted() {
        let lines = stream_with(&[
            (3, "a test's own output"),
            (3, r#"{"level":"info","msg":"x"}"#),
        ]);
        assert_eq!(check(&lines, ExitKind::Code(101)), (vec![], vec![]));
    }

    #[test]
    fn forged_lines_make_the_stream_suspect() {
        let forged_ok_b =
            r#"{ "type": "test", "name": "tests::b", "event": "ok", "exec_time": 0.001 }"#;
        let (anomalies, _) = check(&stream_with(&[(3, forged_ok_b)]), ExitKind::Code(101));
        assert_eq!(anomalies.len(), 2, "{anomalies:?}");
        assert_eq!(
            anomalies[0],
            format!("a result for `tests::b`, which never started: `{forged_ok_b}`")
        );
        assert!(
            anomalies[1].starts_with("`tests::b` reported 2 times"),
            "{anomalies:?}"
        );
        // Started and finished, as libtest would: caught as a second start.
        let (anomalies, _) = check(
            &stream_with(&[(3, B[0]), (4, forged_ok_b)]),
            ExitKind::Code(101),
        );
        assert_eq!(anomalies[0], "`tests::b` started twice");
        // A name the binary does not have, a line after the summary, a listed test not
        // asked for that passed.
        let ghost = r#"{ "type": "test", "event": "started", "name": "tests::ghost" }"#;
        let after = r#"{ "type": "test", "name": "tests::a", "event": "ok" }"#;
        let (anomalies, _) = check(&stream_with(&[(1, ghost), (8, after)]), ExitKind::Code(101));
        assert_eq!(
            anomalies,
            vec![
                format!("a line for `tests::ghost`, which the binary did not list: `{ghost}`"),
                format!("a line after libtest's summary: `{after}`"),
            ]
        );
        let d_ok = r#"{ "type": "test", "name": "tests::d", "event": "ok" }"#;
        let mut lines = stream_with(&[]);
        lines[6] = d_ok;
        let (anomalies, _) = check(&lines, ExitKind::Code(101));
        assert_eq!(
            anomalies,
            vec![format!(
                "a result for `tests::d`, which was not asked to run: `{d_ok}`"
            )]
        );
    }

    #[test]
    fn bad_numbers_are_anomalies_not_panics() {
        let neg = r#"{ "type": "test", "name": "tests::a", "event": "ok", "exec_time": -1.0 }"#;
        let huge = r#"{ "type": "test", "name": "tests::a", "event": "ok", "exec_time": 1e300 }"#;
        for bad in [neg, huge] {
            let mut lines = stream_with(&[]);
            lines[2] = bad;
            let (anomalies, d) = check(&lines, ExitKind::Code(101));
            assert_eq!(anomalies.len(), 1, "{anomalies:?}");
            assert!(
                anomalies[0].contains("impossible exec_time"),
                "{anomalies:?}"
            );
            assert_eq!(d, Vec::<String>::new());
        }
        let mut lines = stream_with(&[]);
        lines[0] = r#"{ "type": "suite", "event": "started", "test_count": -3 }"#;
        let (anomalies, d) = check(&lines, ExitKind::Code(101));
        assert!(
            anomalies[0].starts_with("an unreadable libtest line"),
            "{anomalies:?}"
        );
        assert!(
            anomalies[1].starts_with("a test line before the suite started"),
            "{anomalies:?}"
        );
        assert_eq!(d, Vec::<String>::new());
        let mut lines = stream_with(&[]);
        lines[7] =
            r#"{ "type": "suite", "event": "failed", "passed": 1.5, "failed": 1, "ignored": 1 }"#;
        let (anomalies, _) = check(&lines, ExitKind::Code(101));
        assert!(
            anomalies[0].starts_with("an unreadable libtest line"),
            "{anomalies:?}"
        );
    }

    #[test]
    fn the_summary_and_the_exit_status_must_agree_with_the_tests() {
        let lines = stream_with(&[]);
        assert_eq!(
            check(&lines, ExitKind::Code(0)).1,
            vec!["the process exited 0 although libtest reported 1 failed".to_owned()]
        );
        let mut lines = stream_with(&[]);
        lines[7] = r#"{ "type": "suite", "event": "ok", "passed": 3, "failed": 0, "ignored": 0, "measured": 0, "filtered_out": 0, "exec_time": 0.35 }"#;
        assert_eq!(
            check(&lines, ExitKind::Code(101)).1,
            vec!["libtest's summary says 3 passed, 0 failed, 0 ignored, but its per-test lines say 1, 1, 1".to_owned()]
        );
        // All passed, then the process died: unexplained until a test fails alone.
        let lines = vec![
            STARTED,
            A[0],
            A[1],
            D[0],
            D[1],
            r#"{ "type": "suite", "event": "ok", "passed": 1, "failed": 0, "ignored": 1, "measured": 0, "filtered_out": 0, "exec_time": 0.35 }"#,
        ];
        assert_eq!(
            check(&lines, ExitKind::Signal(11)).1,
            vec![
                "libtest announced 3 tests and reported 2".to_owned(),
                "the process ended with signal 11 although libtest reported no failure".to_owned(),
            ]
        );
        // No summary: every test was reported, or one was left running (a crash).
        let lines = stream_with(&[]);
        let ended = |e: &str| {
            vec![format!(
                "the process ended with {e} before libtest's summary"
            )]
        };
        assert_eq!(
            check(&lines[..7], ExitKind::Code(0)).1,
            ended("exit status 0")
        );
        assert_eq!(check(&lines[..4], ExitKind::Signal(6)).1, ended("signal 6"));
    }

    /// rustdoc 1.95's stream (edition 2024, merged doctests), with its `report` line.
    #[test]
    fn a_real_rustdoc_stream_is_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(crate::events::EventLog::create(&dir.path().join("e.jsonl")).unwrap());
        let ctx = Ctx::new(
            crate::runner::RunOptions::default(),
            "r".into(),
            log,
            Box::new(Quiet),
        );
        let make = |name: &str| {
            Some(TestMeta {
                id: format!("p::doctest${name}"),
                framework: Framework::Rust,
                name: name.into(),
                suite: vec![],
                file: None,
                line: None,
                binary: Some("p::doctest".into()),
            })
        };
        let mut stream = JsonStream::new(&ctx, HashMap::new(), &make);
        stream.live = true;
        for l in [
            r#"{ "type": "suite", "event": "started", "test_count": 2 }"#,
            r#"{ "type": "test", "event": "started", "name": "src/lib.rs - add (line 1)" }"#,
            r#"{ "type": "test", "event": "started", "name": "src/lib.rs - fails (line 13)" }"#,
            r#"{ "type": "test", "name": "src/lib.rs - add (line 1)", "event": "ok", "exec_time": 0.002348193 }"#,
            r#"{ "type": "test", "name": "src/lib.rs - fails (line 13)", "event": "failed", "exec_time": 0.161656827, "stdout": "Test executable failed (exit status: 101).\n\nstderr:\n\nthread 'main' (24585) panicked at /tmp/rustdoctest7jl0Gt/doctest_bundle_2024.rs:24:1:\nassertion `left == right` failed\n  left: 2\n right: 3\n" }"#,
            r#"{ "type": "suite", "event": "failed", "passed": 1, "failed": 1, "ignored": 0, "measured": 0, "filtered_out": 0, "exec_time": 0.164628229 }"#,
            r#"{ "type": "report", "total_time": 0.602906749, "compilation_time": 0.433051429 }"#,
        ] {
            stream.line(l.as_bytes(), None);
        }
        assert_eq!(stream.anomalies, Vec::<String>::new());
        assert_eq!(
            stream.disagreements(ExitKind::Code(101)),
            Vec::<String>::new()
        );
        assert_eq!(
            stream.disagreements(ExitKind::Code(0)),
            vec!["the process exited 0 although libtest reported 1 failed".to_owned()]
        );
    }

    fn doctest_stream(
        ctx: &Ctx,
        make: &dyn Fn(&str) -> Option<TestMeta>,
        lines: &[&str],
    ) -> (Vec<String>, Vec<String>) {
        let mut stream = JsonStream::new(ctx, HashMap::new(), make);
        stream.live = true;
        stream.doctest = true;
        for l in lines {
            stream.line(l.as_bytes(), None);
        }
        (
            std::mem::take(&mut stream.anomalies),
            stream.disagreements(ExitKind::Code(101)),
        )
    }

    /// A `cargo test --doc -p alpha -p gamma-docs` stream, cut at cargo's `Doc-tests` lines.
    fn split_stream(ctx: &Ctx, lines: &[&str]) -> Vec<(String, bool, bool, Vec<String>)> {
        let ws = Workspace {
            root: PathBuf::from("/w"),
            target_dir: PathBuf::from("/w/target"),
            packages: HashMap::new(),
            env: vec![],
        };
        let pkg = |name: &str, lib: &str| {
            Arc::new(Package {
                name: name.into(),
                version: "0.1.0".into(),
                manifest_path: PathBuf::from(format!("{name}/Cargo.toml")),
                dir: PathBuf::from(name),
                has_doctests: true,
                lib_name: lib.into(),
                path_deps: vec![],
            })
        };
        let packages = [pkg("alpha", "alpha"), pkg("gamma-docs", "gamma_docs")];
        let makes: Vec<Box<MakeMeta<'_>>> = packages
            .iter()
            .map(|p| {
                let p = Arc::clone(p);
                let ws = &ws;
                Box::new(move |n: &str| Some(doctest_meta(ws, &p, n))) as Box<MakeMeta<'_>>
            })
            .collect();
        let mut split = DocSplit {
            parts: packages
                .iter()
                .zip(&makes)
                .map(|(p, make)| {
                    let mut stream = JsonStream::new(ctx, HashMap::new(), make.as_ref());
                    stream.live = true;
                    stream.doctest = true;
                    DocPart {
                        package: Arc::clone(p),
                        stream,
                        seen: false,
                        cargo_failed: false,
                        cut: false,
                    }
                })
                .collect(),
            current: None,
            attempt: 1,
            stray: vec![],
        };
        for l in lines {
            split.line(l.as_bytes(), None);
        }
        if let Some(i) = split.current.take() {
            split.parts[i].close(1, None, None);
        }
        let mut parts: Vec<_> = split
            .parts
            .iter()
            .map(|p| {
                let exit = ExitKind::Code(if p.cargo_failed { 101 } else { 0 });
                let mut doubts = p.stream.anomalies.clone();
                if !p.cut {
                    doubts.extend(p.stream.disagreements(exit));
                }
                (p.package.name.clone(), p.seen, p.cargo_failed, doubts)
            })
            .collect();
        parts.push(("stray".into(), false, false, split.stray));
        parts
    }

    /// cargo 1.95's stream for two packages (stderr's status lines in order with stdout).
    #[test]
    fn one_cargo_test_doc_stream_splits_into_its_packages() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(crate::events::EventLog::create(&dir.path().join("e.jsonl")).unwrap());
        let ctx = Ctx::new(
            crate::runner::RunOptions::default(),
            "r".into(),
            log,
            Box::new(Quiet),
        );
        let alpha = [
            "   Compiling alpha v0.1.0 (/w/alpha)",
            "    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.94s",
            "   Doc-tests alpha",
            r#"{ "type": "suite", "event": "started", "test_count": 1 }"#,
            r#"{ "type": "test", "event": "started", "name": "alpha/src/lib.rs - inc (line 5)" }"#,
            r#"{ "type": "test", "name": "alpha/src/lib.rs - inc (line 5)", "event": "failed", "stdout": "Test executable failed (exit status: 101).\n" }"#,
            r#"{ "type": "suite", "event": "failed", "passed": 0, "failed": 1, "ignored": 0, "measured": 0, "filtered_out": 0, "exec_time": 0.7 }"#,
            r#"{ "type": "report", "total_time": 0.957067147, "compilation_time": 0.936694737 }"#,
            "error: doctest failed, to rerun pass `-p alpha --doc`",
        ];
        let gamma = [
            "   Doc-tests gamma_docs",
            r#"{ "type": "suite", "event": "started", "test_count": 1 }"#,
            r#"{ "type": "test", "event": "started", "name": "gamma-docs/src/lib.rs - neg (line 5)" }"#,
            r#"{ "type": "test", "name": "gamma-docs/src/lib.rs - neg (line 5)", "event": "ok" }"#,
            r#"{ "type": "suite", "event": "ok", "passed": 1, "failed": 0, "ignored": 0, "measured": 0, "filtered_out": 0, "exec_time": 0.004 }"#,
            "error: 1 target failed:",
            "    `-p alpha --doc`",
        ];
        let all: Vec<&str> = alpha.iter().chain(&gamma).copied().collect();
        let part = |name: &str, seen, failed, doubts: &[&str]| {
            let doubts = doubts.iter().map(|d| d.to_string()).collect();
            (name.to_owned(), seen, failed, doubts)
        };
        assert_eq!(
            split_stream(&ctx, &all),
            vec![
                part("alpha", true, true, &[]),
                part("gamma-docs", true, false, &[]),
                part("stray", false, false, &[]),
            ]
        );
        // cargo's failure line is each package's exit status: without it alpha's failure
        // disagrees with it, and a failure line for a package that passed does too.
        let mut moved = all.clone();
        moved.remove(8);
        moved.insert(
            13,
            "error: doctest failed, to rerun pass `-p gamma-docs --doc`",
        );
        let got = split_stream(&ctx, &moved);
        assert_eq!(
            got[0].3,
            ["the process exited 0 although libtest reported 1 failed"]
        );
        assert_eq!(
            got[1].3,
            ["the process ended with exit status 101 although libtest reported no failure"]
        );
        // rustdoc died inside alpha (no summary): its running doctest is cut, not doubted
        // again, and gamma's part is still read on its own.
        let crashed: Vec<&str> = alpha[..5].iter().chain(&gamma).copied().collect();
        let got = split_stream(&ctx, &crashed);
        assert_eq!(got[0], part("alpha", true, false, &[]));
        assert_eq!(got[1], part("gamma-docs", true, false, &[]));
        // A header for a package not asked for, or a second one, and JSON before any
        // header: lines no part owns.
        let forged = [
            r#"{ "type": "suite", "event": "started", "test_count": 0 }"#,
            "   Doc-tests alpha",
            "   Doc-tests beta",
            "   Doc-tests alpha",
        ];
        let got = split_stream(&ctx, &forged);
        assert_eq!(
            got[2].3,
            [
                "a line before any package's doctests: `{ \"type\": \"suite\", \"event\": \"started\", \"test_count\": 0 }`",
                "cargo ran the doctests of `beta`, which were not asked for or ran twice",
                "cargo ran the doctests of `alpha`, which were not asked for or ran twice",
            ]
        );
        assert_eq!(
            got[0].3,
            ["the process ended with exit status 0 before libtest's summary"]
        );
        assert!(!got[1].1, "gamma never ran");
        assert_eq!(
            doc_tests_header(b"   Doc-tests gamma_docs\n"),
            Some("gamma_docs")
        );
        assert_eq!(doc_tests_header(b"Doc-tests a b"), None);
        assert_eq!(
            doc_tests_failed(b"error: doctest failed, to rerun pass `-p a@0.1.0 --doc`\n"),
            Some("a@0.1.0")
        );
    }

    /// rustdoc 1.95, edition 2024 with an ```ignore block: the merged doctests are one
    /// suite, the standalone ones (here the ignored one) a second suite in the same stream.
    #[test]
    fn rustdocs_second_suite_is_part_of_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(crate::events::EventLog::create(&dir.path().join("e.jsonl")).unwrap());
        let ctx = Ctx::new(
            crate::runner::RunOptions::default(),
            "r".into(),
            log,
            Box::new(Quiet),
        );
        let ws = Workspace {
            root: dir.path().to_owned(),
            target_dir: dir.path().join("target"),
            packages: HashMap::new(),
            env: vec![],
        };
        let package = Arc::new(Package {
            name: "docs".into(),
            version: "0.1.0".into(),
            manifest_path: dir.path().join("Cargo.toml"),
            dir: dir.path().to_owned(),
            has_doctests: true,
            lib_name: "docs".into(),
            path_deps: vec![],
        });
        let make = |name: &str| Some(doctest_meta(&ws, &package, name));
        let merged = [
            r#"{ "type": "suite", "event": "started", "test_count": 3 }"#,
            r#"{ "type": "test", "event": "started", "name": "src/lib.rs - one (line 5)" }"#,
            r#"{ "type": "test", "event": "started", "name": "src/lib.rs - three (line 26)" }"#,
            r#"{ "type": "test", "name": "src/lib.rs - three (line 26)", "event": "ok", "exec_time": 0.002038172 }"#,
            r#"{ "type": "test", "event": "started", "name": "src/lib.rs - two (line 16)" }"#,
            r#"{ "type": "test", "name": "src/lib.rs - one (line 5)", "event": "ok", "exec_time": 0.003939707 }"#,
            r#"{ "type": "test", "name": "src/lib.rs - two (line 16)", "event": "failed", "exec_time": 0.329370403, "stdout": "Test executable failed (exit status: 101).\n\nstderr:\n\nthread 'main' (12279) panicked at /tmp/rustdoctest9l4KKj/doctest_bundle_2024.rs:23:1:\nassertion `left == right` failed\n  left: 2\n right: 3\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\n" }"#,
            r#"{ "type": "suite", "event": "failed", "passed": 2, "failed": 1, "ignored": 0, "measured": 0, "filtered_out": 0, "exec_time": 0.337398186 }"#,
        ];
        let standalone = [
            r#"{ "type": "suite", "event": "started", "test_count": 1 }"#,
            r#"{ "type": "test", "event": "started", "name": "src/lib.rs - four (line 35)" }"#,
            r#"{ "type": "test", "name": "src/lib.rs - four (line 35)", "event": "ignored" }"#,
            r#"{ "type": "suite", "event": "ok", "passed": 0, "failed": 0, "ignored": 1, "measured": 0, "filtered_out": 0, "exec_time": 0.00301305 }"#,
            r#"{ "type": "report", "total_time": 1.864025955, "compilation_time": 1.505783022 }"#,
        ];
        let all: Vec<&str> = merged.iter().chain(&standalone).copied().collect();
        assert_eq!(doctest_stream(&ctx, &make, &all), (vec![], vec![]));
        // A count that does not add up across the suites is still caught.
        let mut bad = all.clone();
        bad[11] = r#"{ "type": "suite", "event": "ok", "passed": 0, "failed": 0, "ignored": 2, "measured": 0, "filtered_out": 0, "exec_time": 0.003 }"#;
        let (_, d2) = doctest_stream(&ctx, &make, &bad);
        assert_eq!(
            d2,
            vec!["libtest's summary says 2 passed, 1 failed, 2 ignored, but its per-test lines say 2, 1, 1".to_owned()]
        );
        // A second suite outside a doctest stream is still an anomaly.
        let (anomalies, _) = check(
            &[STARTED, A[0], A[1], B[0], B[1], D[0], D[1], END, STARTED],
            ExitKind::Code(101),
        );
        assert_eq!(
            anomalies,
            vec![format!("a line after libtest's summary: `{STARTED}`")]
        );
    }

    /// rustdoc 1.95, edition 2021: a standalone doctest at line 16 panics "at
    /// src/lib.rs:6:1", a line of the doctest as compiled (inside another doctest's block).
    #[test]
    fn a_failing_doctest_is_located_at_its_block() {
        let meta = TestMeta {
            id: "docs::doctest$src/lib.rs - two (line 16)".into(),
            framework: Framework::Rust,
            name: "src/lib.rs - two (line 16)".into(),
            suite: vec![],
            file: Some("src/lib.rs".into()),
            line: Some(16),
            binary: Some("docs::doctest".into()),
        };
        let out = "Test executable failed (exit status: 101).\n\nstderr:\n\nthread 'main' (15251) panicked at src/lib.rs:6:1:\nassertion `left == right` failed\n  left: 2\n right: 3\n";
        let mut f = parse_failure(&meta.name, out.as_bytes(), b"", ExitKind::Code(101), None);
        assert_eq!(
            f.location.as_ref().map(|l| l.line),
            Some(6),
            "rustdoc's own line"
        );
        point_at_doc_block(&mut f, &meta);
        let loc = f.location.clone().unwrap();
        assert_eq!(
            (loc.file.as_str(), loc.line, loc.column),
            ("src/lib.rs", 16, None)
        );
        assert_eq!(
            f.details.as_deref(),
            Some(
                "rustdoc reported the panic at src/lib.rs:6:1, a line of the doctest as compiled, not of the file"
            )
        );
        // A panic in another file (library code the doctest called) is named as such.
        let lib = out.replace("src/lib.rs:6:1", "src/math.rs:21:9");
        let mut f = parse_failure(&meta.name, lib.as_bytes(), b"", ExitKind::Code(101), None);
        point_at_doc_block(&mut f, &meta);
        assert_eq!(f.location.as_ref().map(|l| l.line), Some(16));
        assert_eq!(
            f.details.as_deref(),
            Some("the panic was reported at src/math.rs:21:9")
        );
        // A compile error keeps rustc's line (rustdoc maps diagnostics to the file).
        let mut f = Failure {
            category: Category::BuildError,
            location: Some(Location {
                file: "src/lib.rs".into(),
                line: 17,
                column: Some(5),
            }),
            ..Failure::default()
        };
        point_at_doc_block(&mut f, &meta);
        assert_eq!(
            f.location.as_ref().map(|l| (l.line, l.column)),
            Some((17, Some(5)))
        );
        assert_eq!(f.details, None);
    }

    /// What the progress bar is given: tests planned (`add_planned`) and final results.
    #[derive(Default)]
    struct Tally {
        planned: usize,
        finals: usize,
    }
    struct Counting(Arc<std::sync::Mutex<Tally>>);
    impl crate::runner::Listener for Counting {
        fn on_event(&mut self, e: &crate::events::Event, final_attempt: bool) {
            if final_attempt && matches!(e, crate::events::Event::TestFinished { .. }) {
                self.0.lock().unwrap().finals += 1;
            }
        }
        fn add_planned(&mut self, tests: usize) {
            self.0.lock().unwrap().planned += tests;
        }
    }

    /// An ignored test is recorded as skipped while planning: it is planned too, or the
    /// bar ends at `3/2` (and `not_run` misses a test after --fail-fast).
    #[test]
    fn planned_tests_count_the_ignored_ones_recorded_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(crate::events::EventLog::create(&dir.path().join("e.jsonl")).unwrap());
        let tally = Arc::new(std::sync::Mutex::new(Tally::default()));
        let ctx = Ctx::new(
            crate::runner::RunOptions::default(),
            "r".into(),
            log,
            Box::new(Counting(Arc::clone(&tally))),
        );
        let package = Arc::new(Package {
            name: "p".into(),
            version: "0.1.0".into(),
            manifest_path: dir.path().join("Cargo.toml"),
            dir: dir.path().to_owned(),
            has_doctests: false,
            lib_name: "p".into(),
            path_deps: vec![],
        });
        let bin = Arc::new(TestBinary {
            id: "p".into(),
            exe: dir.path().join("p"),
            package,
            kind: "lib".into(),
        });
        let tests = [
            new_test(&bin, "tests::a".into(), false, None, None, None),
            new_test(&bin, "tests::b".into(), false, None, None, None),
            new_test(&bin, "tests::slow".into(), true, None, None, None),
        ];
        for isolation in [Isolation::Process, Isolation::Binary] {
            *tally.lock().unwrap() = Tally::default();
            let options = CargoOptions {
                isolation: Some(isolation),
                ..CargoOptions::default()
            };
            let tests = tests
                .iter()
                .map(|t| new_test(&bin, t.path.clone(), t.ignored, None, None, None))
                .collect();
            let units = plan(&ctx, tests, &options);
            ctx.add_planned(units.iter().map(|u| u.planned_tests()).sum());
            let t = tally.lock().unwrap();
            // 3 planned; the ignored one is done; the units will report the other 2.
            assert_eq!((t.planned, t.finals), (3, 1), "{isolation:?}");
            assert_eq!(units.iter().map(|u| u.planned_tests()).sum::<usize>(), 2);
        }
        assert_eq!(
            ctx.not_run(),
            4,
            "two runs of 2 planned tests that did not run yet"
        );
    }

    /// `--isolation` decides for every test; else the first matching rule; else binary.
    #[test]
    fn isolation_rules_pick_the_mode_per_package_and_test() {
        let rule = |package: Option<&str>, tests: Option<&str>, mode| IsolationRule {
            package: package.map(str::to_owned),
            tests: tests.map(str::to_owned),
            mode,
        };
        let mut o = CargoOptions::default();
        let all = ["db", "app", "web"];
        assert_eq!(o.isolation_of("db", "tests::a"), Isolation::Binary);
        assert_eq!(o.isolation_summary(&all), "binary");
        o.isolation_rules = vec![
            rule(Some("db"), None, Isolation::Process),
            rule(None, Some("net::"), Isolation::Process),
            rule(Some("web"), Some("slow_"), Isolation::Process),
        ];
        assert_eq!(o.isolation_of("db", "tests::a"), Isolation::Process);
        assert_eq!(o.isolation_of("app", "net::connects"), Isolation::Process);
        assert_eq!(o.isolation_of("web", "tests::slow_io"), Isolation::Process);
        assert_eq!(o.isolation_of("web", "tests::fast"), Isolation::Binary);
        assert_eq!(o.isolation_of("app", "tests::slow_io"), Isolation::Binary);
        assert_eq!(o.isolation_summary(&all), "mixed");
        // A workspace of only `db`: every test is in one process each.
        assert_eq!(o.isolation_summary(&["db"]), "process");
        // `run.isolation` comes last, as a rule for every test; the first match wins.
        o.isolation_rules
            .insert(0, rule(None, Some("tests::a"), Isolation::Binary));
        o.isolation_rules.push(rule(None, None, Isolation::Process));
        assert_eq!(o.isolation_of("db", "tests::a"), Isolation::Binary);
        assert_eq!(o.isolation_of("app", "tests::b"), Isolation::Process);
        o.isolation_rules = vec![
            rule(None, None, Isolation::Process),
            rule(Some("db"), None, Isolation::Binary),
        ];
        assert_eq!(
            o.isolation_summary(&all),
            "process",
            "the second rule never matches"
        );
        o.isolation = Some(Isolation::Binary);
        assert_eq!(o.isolation_of("db", "tests::a"), Isolation::Binary);
        assert_eq!(o.isolation_of("app", "tests::b"), Isolation::Binary);
        assert_eq!(o.isolation_summary(&all), "binary");
    }

    /// A listing is reused while the binary is the same file, and read again once it
    /// is rebuilt. The "binary" is a script that prints libtest's JSON listing and counts
    /// how often it ran.
    #[test]
    fn a_listing_is_reused_until_the_binary_changes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("fake-test-bin");
        let runs = dir.path().join("runs");
        let write_bin = |name: &str| {
            let script = format!(
                "#!/bin/sh\necho x >> '{}'\necho '{{ \"type\": \"test\", \"event\": \"discovered\", \"name\": \"{name}\", \"ignore\": false, \"source_path\": \"src/lib.rs\", \"start_line\": 3 }}'\n",
                runs.display()
            );
            // A rebuild writes a new file, as cargo does.
            let tmp = dir.path().join("new-bin");
            std::fs::write(&tmp, script).unwrap();
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::rename(&tmp, &exe).unwrap();
        };
        let ran = || {
            std::fs::read_to_string(&runs)
                .unwrap_or_default()
                .lines()
                .count()
        };
        let ws = Workspace {
            root: dir.path().to_owned(),
            target_dir: dir.path().join("target"),
            packages: HashMap::new(),
            env: vec![],
        };
        let bin = Arc::new(TestBinary {
            id: "p::integ".into(),
            exe: exe.clone(),
            package: Arc::new(Package {
                name: "p".into(),
                version: "0.1.0".into(),
                manifest_path: dir.path().join("Cargo.toml"),
                dir: dir.path().to_owned(),
                has_doctests: false,
                lib_name: "p".into(),
                path_deps: vec![],
            }),
            kind: "test".into(),
        });
        let cache = dir.path().join("cache");
        let names = |t: Vec<RustTest>| t.into_iter().map(|t| t.path).collect::<Vec<_>>();
        write_bin("tests::one");
        let first = list_tests_cached(&ws, &bin, Some(&cache)).unwrap();
        assert_eq!(first[0].meta.line, Some(3));
        assert_eq!(names(first), ["tests::one"]);
        assert_eq!(ran(), 1);
        let again = list_tests_cached(&ws, &bin, Some(&cache)).unwrap();
        assert_eq!(again[0].meta.file.as_deref(), Some("src/lib.rs"));
        assert_eq!(names(again), ["tests::one"]);
        assert_eq!(ran(), 1, "the second listing came from the cache");
        write_bin("tests::two");
        assert_eq!(
            names(list_tests_cached(&ws, &bin, Some(&cache)).unwrap()),
            ["tests::two"]
        );
        assert_eq!(ran(), 2, "a rebuilt binary is listed again");
        // A damaged cache file is ignored, and replaced.
        std::fs::write(cache.join("p__integ.json"), "{").unwrap();
        assert_eq!(
            names(list_tests_cached(&ws, &bin, Some(&cache)).unwrap()),
            ["tests::two"]
        );
        assert_eq!(ran(), 3);
        // Without a cache directory every listing runs the binary.
        list_tests(&ws, &bin).unwrap();
        assert_eq!(ran(), 4);
    }

    /// rustdoc 1.95 on rust-doctests' ed2024 (`--list --format terse`, then with `--ignored`).
    #[test]
    fn ignored_doctests_are_marked_from_the_ignored_listing() {
        let all = "src/lib.rs - one (line 5): test\nsrc/lib.rs - three (line 26): test\nsrc/lib.rs - two (line 16): test\nsrc/lib.rs - four (line 35): test\n";
        let ignored = "src/lib.rs - four (line 35): test\n";
        assert_eq!(
            doctest_names(all, ignored),
            [
                ("src/lib.rs - one (line 5)", false),
                ("src/lib.rs - three (line 26)", false),
                ("src/lib.rs - two (line 16)", false),
                ("src/lib.rs - four (line 35)", true),
            ]
            .map(|(n, i)| (n.to_owned(), i))
        );
    }

    #[test]
    fn zero_tests_under_exact_is_detected() {
        assert!(ran_zero_tests(b"\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 9 filtered out\n"));
        assert!(!ran_zero_tests(b"\nrunning 1 test\ntest a ... ok\n"));
    }
}
