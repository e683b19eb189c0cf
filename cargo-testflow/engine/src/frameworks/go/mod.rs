//! `go test`: `cargo testflow run` drives `go test -json` itself (no plugin in the Go
//! project). The Go modules at the project root or below (`go.mod`; a `go.work` names
//! its own) are one suite, each module run by its own `go test` in its directory; each
//! package's tests are results with ids `<import path>::<test name>` (import paths are
//! unique across the modules of a run: go's own names, the same wherever a module sits),
//! subtests (`TestSign/zero`) their own results under their parent (`suite` holds the
//! parents, outermost first). Files are named relative to the project root.
//!
//! - [`modules`] finds the modules;
//! - [`events`] folds test2json's stream per package;
//! - [`attribution`] turns an ended package into results, fail closed (crashes, time
//!   limits, packages that fail with no failing test);
//! - [`failure`] reads `t.Errorf` lines and panics into failures;
//! - [`driver`] runs `go test`, records, reconciles with its exit status and retries;
//! - [`coverage`] converts `-coverprofile` into LCOV.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result};
use regex::Regex;

use crate::model::{Framework, TestCase, TestMeta};

mod affected;
pub mod attribution;
pub mod coverage;
pub mod driver;
pub mod events;
pub mod failure;
pub mod modules;

/// Environment variable naming the `go` command to run (default: `go` on `PATH`).
pub const GO_ENV: &str = "TESTFLOW_GO";

/// The separator between a test id's package and its test name.
pub const ID_SEPARATOR: &str = "::";

/// The `go` command.
pub fn go_command() -> PathBuf {
    std::env::var_os(GO_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("go"), PathBuf::from)
}

/// The module path `go.mod` declares (`module example.com/x`).
pub fn module_path(go_mod: &str) -> Option<String> {
    go_mod.lines().find_map(|l| {
        let l = l.split("//").next()?.trim();
        let rest = l.strip_prefix("module")?;
        if !rest.starts_with([' ', '\t']) {
            return None;
        }
        let m = rest.trim().trim_matches('"');
        (!m.is_empty()).then(|| m.to_owned())
    })
}

/// A package's test functions: name -> (file, 1-based line).
pub type TestFunctions = HashMap<String, (String, u32)>;

/// A Go module testflow runs: its root (where `go.mod` is, go test's working
/// directory), its module path, and where it sits in the project (file paths in results
/// and coverage are relative to the project root).
#[derive(Clone, Debug)]
pub struct GoProject {
    pub root: PathBuf,
    pub module: String,
    /// The project root (stack frames name absolute paths, made relative to it).
    pub project_root: PathBuf,
    /// The module's directory relative to the project root (`""`: the root itself).
    pub rel: String,
    /// Test functions by package directory, read once.
    sources: std::sync::Arc<Mutex<HashMap<String, TestFunctions>>>,
}

impl GoProject {
    /// The module at the project root.
    pub fn open(root: &Path) -> Result<GoProject> {
        GoProject::open_in(root, "")
    }

    /// The module in `rel` (relative to `project_root`).
    pub fn open_in(project_root: &Path, rel: &str) -> Result<GoProject> {
        let root = modules::dir_of(project_root, rel);
        let go_mod = root.join("go.mod");
        let text = std::fs::read_to_string(&go_mod)
            .with_context(|| format!("cannot read {}", go_mod.display()))?;
        let module = module_path(&text)
            .with_context(|| format!("{} declares no module path", go_mod.display()))?;
        Ok(GoProject {
            root,
            module,
            project_root: project_root.to_owned(),
            rel: rel.to_owned(),
            sources: Default::default(),
        })
    }

    /// `dir` (relative to the module) relative to the project root.
    pub fn in_project(&self, dir: &str) -> String {
        match (self.rel.is_empty(), dir.is_empty()) {
            (true, _) => dir.to_owned(),
            (false, true) => self.rel.clone(),
            (false, false) => format!("{}/{dir}", self.rel),
        }
    }

    /// A package's directory relative to the project root (`""` for the root package of
    /// the root module; unknown packages there too).
    pub fn package_in_project(&self, package: &str) -> String {
        self.in_project(&self.package_dir(package).unwrap_or_default())
    }

    /// A package's directory relative to the root (`""` for the module's root package);
    /// `None` for a package outside the module.
    pub fn package_dir(&self, package: &str) -> Option<String> {
        if package == self.module {
            return Some(String::new());
        }
        package
            .strip_prefix(&self.module)?
            .strip_prefix('/')
            .map(str::to_owned)
    }

    /// `dir`: a package's directory relative to the project root
    /// ([`package_in_project`](Self::package_in_project)).
    pub fn paths<'a>(&'a self, dir: &'a str) -> failure::Paths<'a> {
        failure::Paths {
            root: &self.project_root,
            dir,
        }
    }

    /// Where a top-level test function is defined (its `_test.go` file and line).
    fn defined(&self, dir: &str, name: &str) -> Option<(String, u32)> {
        let mut all = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let funcs = all
            .entry(dir.to_owned())
            .or_insert_with(|| test_functions(&self.root, dir));
        funcs.get(name).cloned()
    }

    /// The metadata of test `name` (`TestSign/zero`) of `package`.
    pub fn meta(&self, package: &str, name: &str) -> TestMeta {
        let mut parts: Vec<String> = name.split('/').map(str::to_owned).collect();
        let leaf = parts.pop().unwrap_or_default();
        let top = parts.first().cloned().unwrap_or_else(|| leaf.clone());
        let place = self
            .package_dir(package)
            .and_then(|dir| self.defined(&dir, &top));
        let top_level = parts.is_empty();
        TestMeta {
            id: test_id(package, name),
            framework: Framework::Go,
            name: leaf,
            suite: parts,
            file: place.as_ref().map(|p| self.in_project(&p.0)),
            // Subtests share their parent's function: only top-level tests have a line.
            line: place.filter(|_| top_level).map(|p| p.1),
            binary: Some(package.to_owned()),
        }
    }
}

/// `example.com/x/strs::TestShout`.
pub fn test_id(package: &str, name: &str) -> String {
    format!("{package}{ID_SEPARATOR}{name}")
}

/// `example.com/x::TestSign/zero` -> (`example.com/x`, `TestSign/zero`).
pub fn split_id(id: &str) -> Option<(&str, &str)> {
    id.split_once(ID_SEPARATOR)
}

/// The test functions of the `_test.go` files in `root/dir`: name -> (file, 1-based line).
pub fn test_functions(root: &Path, dir: &str) -> TestFunctions {
    static FUNC: OnceLock<Regex> = OnceLock::new();
    let func = FUNC.get_or_init(|| {
        Regex::new(r"^func ((?:Test|Example|Fuzz)[\p{L}\p{N}_]*)\(").expect("valid regex")
    });
    let mut out = HashMap::new();
    let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
        return out;
    };
    let mut files: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with("_test.go"))
        .collect();
    files.sort();
    for name in files {
        let Ok(text) = std::fs::read_to_string(root.join(dir).join(&name)) else {
            continue;
        };
        let rel = if dir.is_empty() {
            name.clone()
        } else {
            format!("{dir}/{name}")
        };
        for (i, line) in text.lines().enumerate() {
            if let Some(c) = func.captures(line) {
                out.entry(c[1].to_owned())
                    .or_insert((rel.clone(), u32::try_from(i + 1).unwrap_or(u32::MAX)));
            }
        }
    }
    out
}

/// Whether `dir` holds a Go module.
pub fn is_go_project(dir: &Path) -> bool {
    dir.join("go.mod").is_file()
}

/// go test as a [`Plugin`](crate::frameworks::Plugin).
pub struct Go;

impl crate::frameworks::Plugin for Go {
    fn framework(&self) -> Framework {
        Framework::Go
    }

    fn detect(
        &self,
        d: &crate::frameworks::Detect<'_>,
    ) -> Result<Option<Box<dyn crate::frameworks::Suite>>> {
        Ok((d.forced || modules::any(d.root))
            .then(|| Box::new(GoSuite::new(d.root)) as Box<dyn crate::frameworks::Suite>))
    }

    /// A run there finds a module (at `dir` or below): inside a cargo workspace, a
    /// directory that holds Go modules is their project, as one holding pytest's is.
    fn is_project(&self, dir: &Path) -> bool {
        modules::any(dir)
    }

    /// A module's or a workspace's root: go reads the nearest go.mod and go.work up.
    fn is_configured_root(&self, dir: &Path) -> bool {
        is_go_project(dir) || dir.join("go.work").is_file()
    }

    fn looks_for(&self) -> &'static str {
        "a Go module (go.mod, at the root or below)"
    }

    /// Go ids name a package, not a file (like Rust's binaries): grouped by `binary`.
    fn file_of<'a>(&self, _id: &'a str) -> Option<&'a str> {
        None
    }

    fn selects_affected(&self) -> bool {
        true
    }

    fn coverage_report(&self) -> &'static str {
        coverage::REPORT
    }

    fn junit_group<'a>(&self, t: &'a TestCase) -> Option<&'a String> {
        t.binary.as_ref()
    }

    /// go-junit-report's names: the full test name (`TestSign/zero`), the package as class.
    fn junit_names(&self, t: &TestCase) -> (String, String) {
        let name = split_id(&t.id).map_or_else(|| t.name.clone(), |(_, n)| n.to_owned());
        let class = t.binary.clone().unwrap_or_else(|| "go".to_owned());
        (name, class)
    }

    /// `no required module provides package x; to add it: go get x` and the older
    /// `cannot find package "x"`.
    fn missing_import(&self, message: &str) -> Option<String> {
        static RE: OnceLock<Regex> = OnceLock::new();
        let re = RE.get_or_init(|| {
            Regex::new(
                r#"no required module provides package ([^\s;:]+)|cannot find package "([^"]+)""#,
            )
            .expect("valid regex")
        });
        let c = re.captures(message)?;
        c.get(1).or(c.get(2)).map(|m| m.as_str().to_owned())
    }

    /// setup-go reads the version from go.mod (the root's, else the first module's below
    /// it); elsewhere that go.mod's version comes from go.dev.
    fn ci_setup(&self, dir: &Path) -> Option<crate::frameworks::CiSetup> {
        let go_mod = if is_go_project(dir) {
            "go.mod".to_owned()
        } else {
            modules::join(modules::scan(dir).modules.first()?, "go.mod")
        };
        Some(crate::frameworks::CiSetup {
            name: "Go",
            github_action: Some("actions/setup-go@v5"),
            github_with: vec![("go-version-file", go_mod.clone())],
            script: ci_go_script(&go_mod),
            cache: None,
        })
    }

    fn install(&self, module: &str) -> (Option<String>, String) {
        (
            Some(format!("go get {module}")),
            format!("Go package `{module}` is not required by go.mod."),
        )
    }
}

/// Installs the Go release `go_mod` names (`go 1.22` is go1.22.0) when the CI image has
/// no go, into `~/.go-sdk`, and puts it on PATH.
pub fn ci_go_script(go_mod: &str) -> String {
    CI_GO_SCRIPT.replace("GO_MOD", &shell_word(go_mod))
}

/// `path` as one shell word (module directories are plain names, but need not be).
fn shell_word(path: &str) -> String {
    if path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c))
    {
        path.to_owned()
    } else {
        format!("'{}'", path.replace('\'', r"'\''"))
    }
}

const CI_GO_SCRIPT: &str = r#"if ! command -v go >/dev/null 2>&1; then
  v="$(sed -n 's/^go \([0-9][0-9.]*\).*/\1/p' GO_MOD | head -n 1)"
  case "$v" in *.*.*) ;; *) v="$v.0" ;; esac
  mkdir -p "$HOME/.go-sdk"
  curl -fsSL "https://go.dev/dl/go$v.linux-amd64.tar.gz" | tar -C "$HOME/.go-sdk" -xz
  export PATH="$HOME/.go-sdk/go/bin:$PATH"
  if [ -n "${BASH_ENV:-}" ]; then echo 'export PATH="$HOME/.go-sdk/go/bin:$PATH"' >> "$BASH_ENV"; fi
fi
go version
"#;

/// The Go modules found by detection: one suite for all of them (one framework's
/// coverage report, shard plan and `--affected` selection), one `go test` per module.
pub struct GoSuite {
    pub root: PathBuf,
    /// The modules that ran with `-coverprofile` (set by `units`, read by the coverage
    /// report after the run).
    profiled: std::sync::Arc<Mutex<Vec<coverage::Profiled>>>,
}

impl GoSuite {
    pub fn new(root: &Path) -> GoSuite {
        GoSuite {
            root: root.to_owned(),
            profiled: Default::default(),
        }
    }
}

impl crate::frameworks::Suite for GoSuite {
    fn framework(&self) -> Framework {
        Framework::Go
    }

    fn prepare(
        &mut self,
        p: &mut crate::frameworks::Prepare<'_>,
    ) -> Result<crate::frameworks::Prepared> {
        let mut prepared = crate::frameworks::Prepared::default();
        if p.coverage {
            let profiled = std::sync::Arc::clone(&self.profiled);
            prepared.coverage_report = Some(Box::new(move |dir: &Path| {
                let ran = profiled.lock().unwrap_or_else(|e| e.into_inner()).clone();
                coverage::convert(&ran, dir).map_err(|e| format!("{e:#}"))
            }));
        }
        Ok(prepared)
    }

    fn units(
        self: Box<Self>,
        ctx: &crate::runner::Ctx,
        plan: &mut crate::frameworks::Planning<'_>,
    ) -> Result<Vec<Box<dyn crate::runner::Unit>>> {
        let set = modules::GoModules::open(&self.root)?;
        plan.notes.extend(set.notes.iter().cloned());
        if !set.broken.is_empty() {
            set.report_broken(ctx);
            plan.broken = true;
        }
        // `run -- PATTERNS`: the user's packages, each run in its own module.
        let (_, patterns) = driver::split_args(&ctx.options.framework_args);
        let per = if patterns.is_empty() {
            driver::select_packages(&set, ctx, plan)?
        } else {
            let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
            let (per, unmatched) = set.route(&patterns);
            for p in unmatched {
                ctx.run_error(
                    crate::model::error_kind::BUILD,
                    format!("go: the package pattern {p} is in none of the project's Go modules"),
                );
                plan.broken = true;
            }
            per
        };
        let mut units: Vec<Box<dyn crate::runner::Unit>> = Vec::new();
        let mut profiled = self.profiled.lock().unwrap_or_else(|e| e.into_inner());
        for (i, (project, packages)) in set.modules.into_iter().zip(per).enumerate() {
            // Nothing selected in this module (`--affected`, a shard): go test does not start.
            if packages.is_empty() {
                continue;
            }
            profiled.push(coverage::Profiled {
                profile: coverage::profile(i),
                module: project.module.clone(),
                dir: project.rel.clone(),
            });
            units.push(Box::new(driver::GoUnit::new(
                project,
                set.go.clone(),
                packages,
                coverage::profile(i),
            )));
        }
        Ok(units)
    }

    fn listing(
        &mut self,
        echo: &mut (dyn std::io::Write + Send),
    ) -> Result<Option<Vec<crate::frameworks::SuiteListing>>> {
        let set = modules::GoModules::open(&self.root)?;
        for n in &set.notes {
            let _ = writeln!(echo, "{n}");
        }
        let mut suites = Vec::new();
        let broken = |id: String, package: String, why: String| crate::frameworks::SuiteListing {
            id,
            package,
            kind: "go".into(),
            error: Some(why),
            ..Default::default()
        };
        for (go_mod, why) in &set.broken {
            suites.push(broken(go_mod.clone(), String::new(), why.clone()));
        }
        for project in &set.modules {
            let listed = match list(project, &set.go, &["./..."]) {
                Ok(l) => l,
                // One module go cannot list: the others are still listed.
                Err(e) if set.modules.len() > 1 => {
                    let id = modules::join(&project.rel, "go.mod");
                    suites.push(broken(id, project.module.clone(), format!("{e:#}")));
                    continue;
                }
                Err(e) => return Err(e),
            };
            for p in &listed.problems {
                let _ = writeln!(echo, "{p}");
            }
            for (package, names) in &listed.packages {
                let tests: Vec<crate::frameworks::ListedTest> = names
                    .iter()
                    .map(|n| {
                        crate::frameworks::ListedTest::from_meta(&project.meta(package, n), None)
                    })
                    .collect();
                suites.push(crate::frameworks::SuiteListing {
                    id: package.clone(),
                    package: project.module.clone(),
                    kind: "go".into(),
                    tests: tests.len(),
                    test_list: tests,
                    ..Default::default()
                });
            }
            for (package, why) in &listed.broken {
                suites.push(broken(package.clone(), project.module.clone(), why.clone()));
            }
        }
        Ok(Some(suites))
    }

    /// Package grain: go builds and starts one test binary per package, so a shard of
    /// whole packages pays each build and start-up once, and a test's package-level
    /// setup (`TestMain`, `init`) runs where its tests do. Every module's packages.
    fn shard_items(
        &mut self,
        _echo: &mut (dyn std::io::Write + Send),
    ) -> Result<Option<(Vec<String>, crate::frameworks::Grain)>> {
        let set = modules::GoModules::open(&self.root)?;
        // The packages a run shards (`driver::select_packages`), without building them.
        let items = driver::all_test_packages(&set)?;
        Ok(Some((items, crate::frameworks::Grain::File)))
    }

    /// The run's selection (`affected::select`, as `driver::select_packages` calls it).
    fn select_affected(
        &mut self,
        plan: &crate::affected::Plan,
        history: Option<&crate::history::History>,
        _echo: &mut (dyn std::io::Write + Send),
    ) -> Result<bool> {
        let set = modules::GoModules::open(&self.root)?;
        let mut all = Vec::new();
        for (i, m) in set.modules.iter().enumerate() {
            all.extend(
                driver::test_packages(m, &set.go)?
                    .into_iter()
                    .map(|p| (i, p)),
            );
        }
        affected::select(&set, &all, plan, history)?;
        Ok(true)
    }
}

/// The `go` command, checked to start: a missing Go is an environment error.
pub fn ready(root: &Path) -> Result<PathBuf> {
    let go = go_command();
    let out = std::process::Command::new(&go)
        .arg("version")
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => Ok(go),
        Ok(o) => Err(anyhow::Error::new(crate::frameworks::EnvironmentError(
            format!(
                "`{} version` failed in {}: {}",
                go.display(),
                root.display(),
                String::from_utf8_lossy(&o.stderr).trim()
            ),
        ))),
        Err(e) => Err(anyhow::Error::new(crate::frameworks::EnvironmentError(
            format!(
                "cannot run `{}` ({e}): Go is not installed or not on PATH. Install it from https://go.dev/dl (or set {GO_ENV} to the go command)",
                go.display()
            ),
        ))),
    }
}

/// What `go test -list` found.
#[derive(Debug, Default)]
pub struct Listed {
    /// Packages in order, each with its tests (top-level; benchmarks left out).
    pub packages: Vec<(String, Vec<String>)>,
    /// Packages that could not be built, and why.
    pub broken: Vec<(String, String)>,
    /// Lines for people (go's stderr when it failed).
    pub problems: Vec<String>,
}

/// `go test -json -list . PATTERNS`: every package's top-level tests, examples and fuzz
/// targets (the ones `go test` runs), in go's order.
pub fn list(project: &GoProject, go: &Path, patterns: &[&str]) -> Result<Listed> {
    let out = std::process::Command::new(go)
        .args(["test", "-json", "-list", "."])
        .args(patterns)
        .current_dir(&project.root)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", go.display()))?;
    let mut listed = parse_list(&out.stdout);
    if !out.status.success() && listed.broken.is_empty() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        anyhow::ensure!(
            !listed.packages.is_empty(),
            "`go test -list` failed in {} ({}): {stderr}",
            project.root.display(),
            out.status
        );
        listed.problems.push(stderr);
    }
    Ok(listed)
}

/// The events of `go test -json -list .` into [`Listed`].
pub fn parse_list(stdout: &[u8]) -> Listed {
    let mut stream = events::Stream::new(1 << 20);
    let mut listed = Listed::default();
    let is_name = |l: &str| {
        ["Test", "Example", "Fuzz"].iter().any(|p| l.starts_with(p))
            && l.chars().all(|c| c.is_alphanumeric() || c == '_')
    };
    let take = |p: events::PackageRecord, listed: &mut Listed| {
        if let Some((_, output)) = &p.failed_build {
            listed.broken.push((
                p.package.clone(),
                format!("go test could not build it:\n{}", output.trim_end()),
            ));
            return;
        }
        let names: Vec<String> = p
            .output
            .lines()
            .filter(|l| is_name(l))
            .map(str::to_owned)
            .collect();
        listed.packages.push((p.package, names));
    };
    for line in stdout.split(|b| *b == b'\n') {
        for step in stream.line(line) {
            if let events::Step::PackageEnded(p) = step {
                take(p, &mut listed);
            }
        }
    }
    for p in stream.finish() {
        take(p, &mut listed);
    }
    listed
}

/// `go list ARGS` in the module's directory: its standard output, or why it failed.
pub(crate) fn go_list(project: &GoProject, go: &std::path::Path, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new(go)
        .arg("list")
        .args(args)
        .current_dir(&project.root)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run {} list", go.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "`go list {}` failed in {}: {}",
        args.join(" "),
        project.root.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths_are_read_from_go_mod() {
        assert_eq!(
            module_path("// x\nmodule example.com/a // comment\n\ngo 1.22\n").as_deref(),
            Some("example.com/a")
        );
        assert_eq!(
            module_path("module \"quoted/x\"\n").as_deref(),
            Some("quoted/x")
        );
        assert_eq!(module_path("modules x\n"), None);
        assert_eq!(module_path("go 1.22\n"), None);
    }

    #[test]
    fn ids_name_the_package_and_subtests_sit_under_their_parent() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("strs")).unwrap();
        std::fs::write(
            dir.path().join("strs/s_test.go"),
            "package strs\n\nimport \"testing\"\n\nfunc TestSign(t *testing.T) {}\nfunc helper() {}\nfunc ExampleX() {}\n",
        )
        .unwrap();
        let p = GoProject {
            root: dir.path().to_owned(),
            module: "ex.com/m".into(),
            project_root: dir.path().to_owned(),
            rel: String::new(),
            sources: Default::default(),
        };
        let top = p.meta("ex.com/m/strs", "TestSign");
        assert_eq!(top.id, "ex.com/m/strs::TestSign");
        assert_eq!(
            (top.file.as_deref(), top.line),
            (Some("strs/s_test.go"), Some(5))
        );
        let sub = p.meta("ex.com/m/strs", "TestSign/zero/deep");
        assert_eq!(sub.name, "deep");
        assert_eq!(sub.suite, ["TestSign", "zero"]);
        assert_eq!(
            (sub.file.as_deref(), sub.line),
            (Some("strs/s_test.go"), None)
        );
        assert_eq!(p.meta("ex.com/m/strs", "ExampleX").line, Some(7));
        assert_eq!(p.package_dir("ex.com/m"), Some(String::new()));
        assert_eq!(p.package_dir("ex.com/mother"), None);
        assert_eq!(
            split_id(&sub.id),
            Some(("ex.com/m/strs", "TestSign/zero/deep"))
        );
    }

    #[test]
    fn listing_keeps_tests_examples_and_fuzz_targets_and_names_broken_packages() {
        let out = br#"{"Action":"start","Package":"ex/a"}
{"Action":"output","Package":"ex/a","Output":"TestA\n"}
{"Action":"output","Package":"ex/a","Output":"BenchmarkA\n"}
{"Action":"output","Package":"ex/a","Output":"ExampleA\n"}
{"Action":"output","Package":"ex/a","Output":"FuzzA\n"}
{"Action":"output","Package":"ex/a","Output":"ok  \tex/a\t0.01s\n"}
{"Action":"pass","Package":"ex/a","Elapsed":0.01}
{"ImportPath":"ex/b [ex/b.test]","Action":"build-output","Output":"b/b_test.go:3:1: syntax error\n"}
{"Action":"fail","Package":"ex/b","FailedBuild":"ex/b [ex/b.test]"}
"#;
        let l = parse_list(out);
        assert_eq!(
            l.packages,
            [(
                "ex/a".to_owned(),
                vec!["TestA".to_owned(), "ExampleA".into(), "FuzzA".into()]
            )]
        );
        assert_eq!(l.broken[0].0, "ex/b");
        assert!(l.broken[0].1.contains("b/b_test.go:3:1: syntax error"));
    }
}
