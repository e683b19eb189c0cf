//! `cargo testflow ci`: a CI pipeline for the project as detected (Rust, pytest, Jest, or a
//! mix). N shard jobs each run `cargo testflow run` on their shard (the shard comes from the
//! CI's own variables, see [`crate::shard::ShardSpec::from_env`]), with the history database
//! restored from the CI cache so the split uses timings; a merge job joins the shard runs,
//! writes the reports, feeds the CI's test report feature, saves the history for the next
//! run and applies the quality gates. Before them, one install job builds the pinned
//! testflow version (a variable at the top of the file) once, cached by version, OS and
//! toolchain, and hands the build to the others, which install it without compiling.
//!
//! The commands in the pipeline are built here, once, by the `*_script` functions, so the
//! end-to-end test runs exactly what the CI would.

use std::path::Path;

use anyhow::{Context, Result};
use serde_yaml_ng::{Mapping, Value};

use crate::report::ReportFormat;

/// The CI systems a pipeline can be generated for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ci {
    Github,
    Gitlab,
    Circleci,
}

impl Ci {
    pub const ALL: [Ci; 3] = [Ci::Github, Ci::Gitlab, Ci::Circleci];

    pub fn name(self) -> &'static str {
        match self {
            Ci::Github => "github",
            Ci::Gitlab => "gitlab",
            Ci::Circleci => "circleci",
        }
    }

    /// Where the CI looks for its configuration, relative to the repository root.
    pub fn default_path(self) -> &'static str {
        match self {
            Ci::Github => ".github/workflows/testflow.yml",
            Ci::Gitlab => ".gitlab-ci.yml",
            Ci::Circleci => ".circleci/config.yml",
        }
    }
}

/// What the pipeline has to set up: which frameworks the project uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProjectShape {
    /// A `Cargo.toml` in the project root.
    pub rust: bool,
    /// A pytest project (see [`crate::frameworks::pytest::is_pytest_project`]).
    pub python: bool,
    /// A Jest or Vitest project (see [`crate::frameworks::jest::is_jest_project`]).
    pub node: bool,
    /// `package-lock.json` is there: `npm ci` and the npm cache keyed on it.
    pub npm_lock: bool,
    /// `requirements.txt` is there: installed before the tests.
    pub requirements: bool,
    /// The project is a testflow checkout (`cargo-testflow/Cargo.toml`): install from it.
    pub testflow_checkout: bool,
    /// Toolchains the shard jobs set up as the frameworks' plug-ins say (Go, Playwright's
    /// browsers).
    pub toolchains: Vec<crate::frameworks::CiSetup>,
}

impl ProjectShape {
    /// The shape of the project in `root`, detected the way `cargo testflow run` does.
    pub fn detect(root: &Path) -> ProjectShape {
        use crate::model::Framework;
        let is = |f: Framework| crate::frameworks::plugin(f).is_some_and(|p| p.is_project(root));
        ProjectShape {
            rust: is(Framework::Rust),
            python: is(Framework::Pytest),
            // Jest, Vitest and Playwright need Node and the jest-testflow package
            // (Playwright's browsers are its plug-in's `ci_setup`).
            node: is(Framework::Jest) || is(Framework::Vitest) || is(Framework::Playwright),
            npm_lock: root.join("package-lock.json").is_file(),
            requirements: root.join("requirements.txt").is_file(),
            testflow_checkout: root.join("cargo-testflow/Cargo.toml").is_file(),
            toolchains: crate::frameworks::PLUGINS
                .iter()
                .filter(|p| p.is_project(root))
                .filter_map(|p| p.ci_setup(root))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        !(self.rust || self.python || self.node) && self.toolchains.is_empty()
    }
}

/// How to generate the pipeline.
#[derive(Clone, Debug)]
pub struct Options {
    /// Number of shard jobs (1 = one job, no sharding).
    pub shards: u32,
    /// A shell command that installs testflow in every job instead of the install job.
    /// `None`: one install job builds it ([`build_script`]) and the other jobs install
    /// what it built.
    pub install: Option<String>,
    /// The git repository the install job builds testflow from (its tag `v<version>`).
    pub git: String,
    /// The testflow version the pipeline pins (the [`VERSION_VAR`] variable).
    pub version: String,
    /// Collect coverage (`cargo testflow run --coverage`): the shard jobs install the
    /// coverage tools and collect, the merge job writes the merged coverage where the CI
    /// shows it.
    pub coverage: bool,
    /// The branch the pipeline runs on for pushes (GitHub's `on.push.branches`).
    pub branch: DefaultBranch,
    /// `--affected`: pull/merge requests run only the tests their changes affect
    /// (`run --affected --since <target>`, see [`affected_shard_script`]); other
    /// pipelines (the default branch) run everything and record the dependencies, which
    /// the merge job saves with the history for the requests to restore.
    pub affected: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            shards: 1,
            install: None,
            git: env!("CARGO_PKG_REPOSITORY").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            coverage: false,
            branch: DefaultBranch::assumed(),
            affected: false,
        }
    }
}

/// The repository's default branch and how it was found (said in the pipeline's header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultBranch {
    pub name: String,
    /// How it was found, for the header: "from origin's HEAD (…)", "given with --branch", ….
    pub how: String,
}

/// Current branches taken as the default branch when git names no other.
const USUAL_DEFAULTS: [&str; 5] = ["main", "master", "trunk", "develop", "default"];

impl DefaultBranch {
    /// No repository, or nothing in it names the default branch.
    pub fn assumed() -> DefaultBranch {
        DefaultBranch {
            name: "main".into(),
            how: "assumed: git names none (no origin HEAD, no init.defaultBranch, and the \
                  current branch is not main, master, trunk, develop or default)"
                .into(),
        }
    }

    /// Given with `--branch NAME`: a name git could have (no spaces, control characters,
    /// `..`, leading `-`), which also keeps the YAML header one comment line.
    pub fn given(name: &str) -> Result<DefaultBranch> {
        anyhow::ensure!(
            !name.is_empty()
                && !name.starts_with('-')
                && !name.contains("..")
                && !name
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c)),
            "`{name}` is not a branch name"
        );
        Ok(DefaultBranch {
            name: name.to_owned(),
            how: "given with --branch".into(),
        })
    }

    /// The default branch of the repository `dir` is in: origin's HEAD, else git's
    /// `init.defaultBranch`, else the current branch when it is a usual default branch
    /// name, else `main`.
    pub fn detect(dir: &Path) -> DefaultBranch {
        DefaultBranch::detect_with(&|args: &[&str]| {
            let out = std::process::Command::new("git")
                .args(args)
                .current_dir(dir)
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .output()
                .ok()?;
            let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            (out.status.success() && !text.is_empty()).then_some(text)
        })
    }

    /// [`DefaultBranch::detect`] with `git` answering a git command line (its trimmed
    /// stdout, `None` on failure or no output).
    pub fn detect_with(git: &dyn Fn(&[&str]) -> Option<String>) -> DefaultBranch {
        if git(&["rev-parse", "--git-dir"]).is_none() {
            return DefaultBranch {
                name: "main".into(),
                how: "assumed: not in a git repository".into(),
            };
        }
        if let Some(r) = git(&["symbolic-ref", "--quiet", "refs/remotes/origin/HEAD"])
            && let Some(name) = r.strip_prefix("refs/remotes/origin/")
            && !name.is_empty()
        {
            return DefaultBranch {
                name: name.to_owned(),
                how: format!("from origin's HEAD (git symbolic-ref refs/remotes/origin/HEAD: {r})"),
            };
        }
        if let Some(name) = git(&["config", "--get", "init.defaultBranch"]) {
            return DefaultBranch {
                how: "from git config init.defaultBranch (no origin HEAD)".into(),
                name,
            };
        }
        if let Some(name) = git(&["symbolic-ref", "--quiet", "--short", "HEAD"])
            && USUAL_DEFAULTS.contains(&name.as_str())
        {
            return DefaultBranch {
                how: "the current branch (no origin HEAD, no init.defaultBranch)".into(),
                name,
            };
        }
        DefaultBranch::assumed()
    }
}

/// Where the shard and merge jobs write their reports (not hidden: CI artifact uploads skip
/// hidden files by default).
pub const OUT_DIR: &str = "testflow-out";
/// The merged run's directory (gets run.json).
pub const MERGED_DIR: &str = "testflow-out/merged";
/// The history database, restored from and saved to the CI cache.
pub const HISTORY_DB: &str = ".testflow/history.db";
/// Shard run directories, uploaded with each shard's artifact.
pub const RUNS_DIR: &str = ".testflow/runs/";
/// The merged run's coverage as LCOV, written by `cargo testflow merge`.
pub const MERGED_LCOV: &str = "testflow-out/merged/coverage/merged.lcov";
/// The merged run's coverage as Cobertura XML, written by the merge job (`--coverage`).
pub const COBERTURA: &str = "testflow-out/coverage.xml";
/// GitLab's `coverage:` regex for the merge job's log: the line `cargo testflow merge`
/// prints (`coverage: lines 76.5% (26/34), …`, see [`crate::ui::coverage_line`]). GitLab
/// takes the first number of the last matching line.
pub const GITLAB_COVERAGE_REGEX: &str = r"/coverage: lines \d+(?:\.\d+)?%/";

/// The variable at the top of every generated file that pins the testflow version.
pub const VERSION_VAR: &str = "TESTFLOW_VERSION";
/// The variable next to it: the Rust toolchain the install job builds testflow with.
pub const RUST_VAR: &str = "TESTFLOW_RUST";
/// That toolchain by default: this crate's `rust-version`, which the pinned tag's
/// `Cargo.lock` is known to build with.
pub const BUILD_RUST: &str = env!("CARGO_PKG_RUST_VERSION");
/// What the install job builds (binary in `bin/`, the wheel, the addon tarball), cached by
/// version, OS and toolchain and handed to the shard and merge jobs.
pub const DIST_DIR: &str = "testflow-dist";
/// The cargo-llvm-cov the install job builds for `--coverage`: pinned, as the toolchain
/// is (`cargo install` does not fall back to a version the toolchain can build), to the
/// one testflow's coverage reader is tested with (its rust-version, 1.87, is below
/// [`BUILD_RUST`]).
pub const LLVM_COV_VERSION: &str = "0.9.1";
/// Where the install job clones the pinned tag.
const SRC_DIR: &str = "testflow-src";

/// A version for `--testflow-version`: what follows the `v` of a release tag.
pub fn check_version(v: &str) -> Result<String> {
    anyhow::ensure!(
        v.starts_with(|c: char| c.is_ascii_digit())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-+".contains(c)),
        "`{v}` is not a testflow version (e.g. {}; the pipeline installs the tag v<version>)",
        env!("CARGO_PKG_VERSION")
    );
    Ok(v.to_owned())
}

/// The install job's build, from the tag `v$TESTFLOW_VERSION` of `git` (or from the
/// project itself when it is a testflow checkout): the binary, and when the project needs
/// them the pytest plugin's wheel, the Jest reporter's tarball (with its addon built in),
/// and cargo-llvm-cov for `--coverage` on Rust, all into [`DIST_DIR`].
pub fn build_script(shape: &ProjectShape, opts: &Options) -> String {
    let src = if shape.testflow_checkout {
        "."
    } else {
        SRC_DIR
    };
    let mut lines = Vec::new();
    if !shape.testflow_checkout {
        lines.push(format!("rm -rf {SRC_DIR}"));
        lines.push(format!(
            "git clone --quiet --depth 1 --branch \"v${VERSION_VAR}\" {} {SRC_DIR}",
            opts.git
        ));
    }
    lines.push(format!(
        "cargo install --locked --root {DIST_DIR} --path {src}/cargo-testflow"
    ));
    if opts.coverage && shape.rust {
        lines.push(format!(
            "cargo install --locked --root {DIST_DIR} cargo-llvm-cov --version {LLVM_COV_VERSION}"
        ));
    }
    if shape.python {
        lines.push(format!(
            "python -m pip wheel --no-deps --wheel-dir {DIST_DIR} {src}/python"
        ));
    }
    if shape.node {
        // The packed package ships the addon: installing it builds nothing.
        lines.push(format!("node {src}/npm/scripts/build.js"));
        lines.push(format!("npm pack --pack-destination {DIST_DIR} {src}/npm"));
    }
    lines.join("\n") + "\n"
}

/// How a job that got [`DIST_DIR`] from the install job puts the binary on PATH.
#[derive(Clone, Copy)]
enum OnPath {
    /// GitHub: `$GITHUB_PATH`, read by the next steps.
    GithubPath,
    /// GitLab: `export` (the job's script lines share one shell).
    Export,
    /// CircleCI: `$BASH_ENV`, sourced by the next steps.
    BashEnv,
}

/// Installs what the install job built: no compiler runs here. The pytest plugin and the
/// Jest reporter only when `plugins` (shard jobs) and the project has them.
fn dist_install(shape: &ProjectShape, on_path: OnPath, plugins: bool) -> String {
    // Artifact uploads do not keep the executable bit.
    let mut s = format!("chmod +x {DIST_DIR}/bin/*\n");
    s.push_str(&match on_path {
        OnPath::GithubPath => format!("echo \"$PWD/{DIST_DIR}/bin\" >> \"$GITHUB_PATH\"\n"),
        OnPath::Export => format!("export PATH=\"$PWD/{DIST_DIR}/bin:$PATH\"\n"),
        OnPath::BashEnv => {
            format!("echo \"export PATH=\\\"$PWD/{DIST_DIR}/bin:\\$PATH\\\"\" >> \"$BASH_ENV\"\n")
        }
    });
    if plugins && shape.python {
        s.push_str(&format!(
            "python -m pip install --no-index --find-links {DIST_DIR} pytest-testflow\n"
        ));
    }
    if plugins && shape.node {
        s.push_str(&format!(
            "npm install --no-save --no-audit --no-fund ./{DIST_DIR}/jest-testflow-*.tgz\n"
        ));
    }
    s
}

/// What `cargo testflow run --coverage` needs besides testflow, for the project's
/// frameworks: cargo-llvm-cov and the toolchain's llvm-tools for Rust, pytest-cov for
/// pytest. Jest's `--coverage` is built in. With `built`, cargo-llvm-cov came with
/// [`DIST_DIR`] from the install job and only the downloads are left.
pub fn coverage_install(shape: &ProjectShape, built: bool) -> String {
    let mut s = String::new();
    if shape.rust {
        s.push_str("rustup component add llvm-tools-preview\n");
        if !built {
            s.push_str("cargo install --locked cargo-llvm-cov\n");
        }
    }
    if shape.python {
        s.push_str("python -m pip install pytest-cov\n");
    }
    s
}

/// The install step of a shard job (`shard`) or the merge job: from the install job's
/// [`DIST_DIR`], or `--testflow-install CMD` in every job; then, for the shards of a
/// `--coverage` pipeline, the coverage tools.
fn install_script(shape: &ProjectShape, opts: &Options, on_path: OnPath, shard: bool) -> String {
    let mut s = match &opts.install {
        Some(cmd) => format!("{}\n", cmd.trim_end()),
        None => dist_install(shape, on_path, shard),
    };
    if opts.coverage && shard {
        s.push_str(&coverage_install(shape, opts.install.is_none()));
    }
    s
}

/// The install job's cache key: testflow's version (the commit for a testflow checkout,
/// whose code changes with it), the OS and the toolchain; `rev` and `os` are the CI's
/// expressions for them. A pipeline with `--coverage` builds cargo-llvm-cov too.
fn dist_key(
    shape: &ProjectShape,
    opts: &Options,
    version: &str,
    rev: &str,
    os: &str,
    rust: &str,
) -> String {
    let mut parts = vec!["testflow-dist-v1".to_owned()];
    parts.push(if shape.testflow_checkout {
        rev.to_owned()
    } else {
        version.to_owned()
    });
    parts.push(os.to_owned());
    parts.push(format!("rust{rust}"));
    let mut doors = Vec::new();
    if shape.python {
        doors.push("py");
    }
    if shape.node {
        doors.push("node");
    }
    let llvm_cov = format!("llvmcov{LLVM_COV_VERSION}");
    if opts.coverage && shape.rust {
        doors.push(&llvm_cov);
    }
    if !doors.is_empty() {
        parts.push(doors.join("+"));
    }
    parts.join("-")
}

/// A shard's JUnit report name; `label` is a shell expression for the shard's number.
pub fn shard_junit(label: &str) -> String {
    format!("{OUT_DIR}/junit-shard-{label}.xml")
}

/// The shard job's test command. The shard itself comes from the CI's variables
/// (TESTFLOW_SHARD, CI_NODE_INDEX/TOTAL, CIRCLE_NODE_INDEX/TOTAL); `label` only names
/// the reports. Every framework is split (Rust and pytest by test, Jest by file), and the
/// run is recorded in `.testflow/runs/` as usual (with its coverage reports when
/// `coverage`).
pub fn shard_script(label: &str, coverage: bool) -> String {
    format!(
        "cargo testflow run{} --report junit={} --report json={OUT_DIR}/run-shard-{label}.json\n",
        if coverage { " --coverage" } else { "" },
        shard_junit(label)
    )
}

/// The variable the `--affected` shard script reads: the git revision a pull/merge
/// request's changes are counted from. Each CI sets it from its own (GitHub: the pull
/// request's base commit; GitLab: `$CI_MERGE_REQUEST_DIFF_BASE_SHA`); empty (the default
/// branch, CircleCI, which has no target branch) runs everything.
pub const BASE_VAR: &str = "TESTFLOW_BASE";

/// The shard job's test command with `--affected` ([`shard_script`] otherwise): with
/// [`BASE_VAR`] set, only the tests its changes affect (`--affected --since`); without
/// it, every test, recording every framework's dependencies (`--affected=record`) for
/// the requests that restore this history. Every shard selects before it splits, from
/// one base commit and one restored history, so all make the same selection (`merge`
/// checks: `affected_mismatch`).
pub fn affected_shard_script(label: &str, coverage: bool) -> String {
    let run = shard_script(label, coverage);
    format!(
        "{CI_EXCLUDE}\nif [ -n \"${{{BASE_VAR}:-}}\" ]; then affected=\"--affected --since=${BASE_VAR}\"; else affected=\"--affected=record\"; fi\n{}",
        run.replacen("cargo testflow run", "cargo testflow run $affected", 1)
    )
}

/// What the jobs put in the checkout (testflow's build and reports, the restored history,
/// GitLab's caches and virtualenv) is no change of the project's: a `Cargo.toml` in a
/// cached registry would otherwise run every test. Excluded in this clone only.
const CI_EXCLUDE: &str = "exclude=\"$(git rev-parse --git-dir)/info/exclude\"; mkdir -p \"${exclude%/*}\"; printf '%s\\n' .testflow/ testflow-out/ testflow-dist/ .cache/ .venv/ >> \"$exclude\"";

/// The shard job's test command as `opts` ask.
fn test_script(label: &str, opts: &Options) -> String {
    if opts.affected {
        affected_shard_script(label, opts.coverage)
    } else {
        shard_script(label, opts.coverage)
    }
}

/// GitHub: the pull request's base commit (a SHA, not the moving branch, so that every
/// shard counts from the same commit); empty on pushes.
const GH_BASE: &str = "${{ github.event.pull_request.base.sha }}";

/// Report formats written from the merged run: every format `cargo testflow report` has.
fn merged_reports() -> Vec<(ReportFormat, String)> {
    ReportFormat::ALL
        .into_iter()
        .map(|f| {
            let file = match f.name() {
                "json" => "run.json".to_owned(),
                "junit" => "junit.xml".to_owned(),
                "markdown" => "summary.md".to_owned(),
                "html" => "report.html".to_owned(),
                "ctrf" => "ctrf.json".to_owned(),
                other => format!("report.{other}"),
            };
            (f, format!("{OUT_DIR}/{file}"))
        })
        .collect()
}

/// The merge job's commands, up to (not including) the gate: join the shard runs (exit
/// 100, tests failed, is left to the gate to judge), then write every report from the
/// merged run; with `coverage`, the merged coverage as Cobertura too (the LCOV is written
/// by the merge). A merged run without coverage (no shard could collect any: the shards'
/// logs say why) gets a warning here and is left to the coverage gates.
pub fn merge_script(coverage: bool) -> String {
    let mut s = format!(
        "cargo testflow merge {OUT_DIR}/run-shard-*.json -o {MERGED_DIR} || [ $? -eq 100 ]\n"
    );
    for (f, path) in merged_reports() {
        s.push_str(&format!(
            "cargo testflow report --run {MERGED_DIR} --format {} -o {path}\n",
            f.name()
        ));
    }
    if coverage {
        s.push_str(&coverage_report_script());
    }
    s
}

/// The merge job's coverage command: one line (GitLab runs a `script:` item per line).
pub fn coverage_report_script() -> String {
    format!(
        "if [ -f {MERGED_LCOV} ]; then cargo testflow coverage report --run {MERGED_DIR} --format cobertura -o {COBERTURA}; \
         else echo 'warning: the merged run has no coverage (see the shard jobs): no coverage report written' >&2; fi\n"
    )
}

/// The quality gates on the merged run: the pipeline's verdict. A shard job that died
/// before it wrote its run (no runner, a failed install) would otherwise just be tests
/// missing from a green merge: the number of shard runs is checked first.
pub fn gate_script(shards: u32) -> String {
    format!(
        "arrived=0; for f in {OUT_DIR}/run-shard-*.json; do if [ -e \"$f\" ]; then arrived=$((arrived + 1)); fi; done\n\
         if [ \"$arrived\" -ne {shards} ]; then echo \"error: $arrived of {shards} shard runs arrived: the other shards' tests are missing\" >&2; exit 1; fi\n\
         cargo testflow gate --run {MERGED_DIR}\n"
    )
}

/// The step-summary text for GitHub: the Markdown report when testflow has one, else the
/// gate's verdict in a code block.
fn github_summary_script() -> String {
    let md = merged_reports()
        .into_iter()
        .find(|(f, _)| f.name() == "markdown");
    match md {
        // GitHub drops a step summary over 1 MiB whole: keep under it.
        Some((_, path)) => format!("head -c 1000000 {path} >> \"$GITHUB_STEP_SUMMARY\"\n"),
        None => format!(
            "{{\n  echo '### testflow'\n  echo '```'\n  cargo testflow gate --run {MERGED_DIR} || true\n  echo '```'\n}} >> \"$GITHUB_STEP_SUMMARY\"\n"
        ),
    }
}

/// A small stable hash (FNV-1a) for cache keys that must change with the install command.
fn short_hash(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", h >> 32)
}

// ---- YAML building ---------------------------------------------------------------------

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

fn seq<I: IntoIterator<Item = Value>>(items: I) -> Value {
    Value::Sequence(items.into_iter().collect())
}

fn strs(items: &[&str]) -> Value {
    seq(items.iter().map(|i| s(*i)))
}

/// A mapping that keeps the order its keys are given in.
fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut m = Mapping::new();
    for (k, v) in pairs {
        m.insert(s(k), v);
    }
    Value::Mapping(m)
}

fn push(m: &mut Value, k: &str, v: Value) {
    if let Value::Mapping(m) = m {
        m.insert(s(k), v);
    }
}

fn to_yaml(header: &str, v: &Value) -> Result<String> {
    Ok(format!("{header}{}", serde_yaml_ng::to_string(v)?))
}

fn header(ci: Ci, shape: &ProjectShape, opts: &Options) -> String {
    let mut kinds = Vec::new();
    for (on, k) in [
        (shape.rust, "Rust"),
        (shape.python, "pytest"),
        (shape.node, "Jest"),
    ] {
        if on {
            kinds.push(k);
        }
    }
    let mut h = format!(
        "# Generated by `cargo testflow ci {} --shards {}{}{}` for a {} project.\n\
         # Shards split the tests by their recorded timings (history restored from the cache);\n\
         # the merge job joins them, writes the reports and applies the quality gates.\n",
        ci.name(),
        opts.shards,
        if opts.coverage { " --coverage" } else { "" },
        if opts.affected { " --affected" } else { "" },
        kinds.join(" + ")
    );
    if opts.coverage {
        h.push_str(
            "# Each shard collects coverage (`run --coverage`); the merge job merges it and\n\
             # writes it as LCOV and Cobertura.\n",
        );
    }
    let (var, rust) = match ci {
        Ci::Circleci => ("the pipeline parameter testflow-version", "testflow-rust"),
        _ => (VERSION_VAR, RUST_VAR),
    };
    h.push_str(&format!(
        "# testflow is pinned: {var} = {} (`--testflow-version` sets another).\n",
        opts.version
    ));
    if opts.install.is_none() {
        let from = if shape.testflow_checkout {
            "this checkout (testflow itself; cached by commit)".to_owned()
        } else {
            format!("the tag v{} of\n# {}", opts.version, opts.git)
        };
        let with = match (shape.python, shape.node) {
            (true, true) => ",\n# with the pytest plugin's wheel and the Jest reporter's tarball",
            (true, false) => ",\n# with the pytest plugin's wheel",
            (false, true) => ",\n# with the Jest reporter's tarball",
            (false, false) => "",
        };
        h.push_str(&format!(
            "# One install job builds it from {from} (`cargo install --locked`{with});\n\
             # the build is cached by version, OS and toolchain ({rust}) and handed to the\n\
             # other jobs, which install it without compiling.\n"
        ));
    } else {
        h.push_str(
            "# Every job installs testflow with the command given with --testflow-install.\n",
        );
    }
    h.push_str(
        "# The shards restore the history from the cache (this branch's, else the default\n\
         # branch's); the merge job saves the merged history for the next run. No token needed.\n",
    );
    if opts.affected {
        h.push_str(match ci {
            Ci::Github => "# --affected: pull requests run only the tests their changes affect, counted from\n\
                 # the pull request's base commit (fetched); pushes run every test and record the\n\
                 # dependencies, which the merge job saves with the history the pull requests restore.\n",
            Ci::Gitlab => "# --affected: merge request pipelines run only the tests their changes affect,\n\
                 # counted from $CI_MERGE_REQUEST_DIFF_BASE_SHA (full clone: GIT_DEPTH 0); branch\n\
                 # pipelines run every test and record the dependencies, which the merge job saves\n\
                 # with the history the merge requests restore.\n",
            Ci::Circleci => "# --affected: CircleCI gives a job no pull request target branch, so every run runs\n\
                 # every test and records the dependencies; set TESTFLOW_BASE (a commit or ref the\n\
                 # checkout has) in a job's environment to run only the tests affected since it.\n",
        });
        h.push_str(
            "# Every shard selects before it splits (one base, one restored history); the merge job\n\
             # fails closed if their selections differ, and never counts a not selected test as passed.\n",
        );
    }
    let b = &opts.branch;
    let on = match ci {
        Ci::Github => "pushes to it and pull requests run the pipeline",
        Ci::Gitlab => "the history cache falls back to GitLab's $CI_DEFAULT_BRANCH",
        Ci::Circleci => "every branch runs the pipeline",
    };
    h.push_str(&format!(
        "# Default branch: {} ({on}; `--branch NAME` sets another),\n# {}.\n",
        b.name, b.how
    ));
    h
}

/// The pipeline for `ci`, as YAML.
pub fn generate(ci: Ci, shape: &ProjectShape, opts: &Options) -> Result<String> {
    anyhow::ensure!(
        !shape.is_empty(),
        "no test suites found (looked for {})",
        crate::frameworks::looked_for()
    );
    anyhow::ensure!(
        (1..=200).contains(&opts.shards),
        "--shards must be between 1 and 200 (GitLab's `parallel` limit), got {}",
        opts.shards
    );
    check_version(&opts.version).context("--testflow-version")?;
    let v = match ci {
        Ci::Github => github(shape, opts),
        Ci::Gitlab => gitlab(shape, opts),
        Ci::Circleci => circleci(shape, opts),
    };
    to_yaml(&header(ci, shape, opts), &v)
}

// ---- GitHub Actions --------------------------------------------------------------------

fn gh_step(name: &str, run: String) -> Value {
    map([("name", s(name)), ("run", s(run))])
}

fn gh_uses(name: &str, uses: &str, with: Value) -> Value {
    map([("name", s(name)), ("uses", s(uses)), ("with", with)])
}

/// `step` run only when the install job's cache missed.
fn gh_on_miss(mut step: Value) -> Value {
    push(&mut step, "if", s(GH_DIST_MISS));
    step
}

const GH_DIST_MISS: &str = "steps.dist.outputs.cache-hit != 'true'";

/// The install job: restore [`DIST_DIR`] from the cache, else build it with the pinned
/// toolchain; upload it for the other jobs either way.
fn gh_install_job(shape: &ProjectShape, opts: &Options) -> Value {
    let mut steps = Vec::new();
    if shape.testflow_checkout {
        steps.push(map([("uses", s("actions/checkout@v4"))]));
    }
    let key = dist_key(
        shape,
        opts,
        &format!("${{{{ env.{VERSION_VAR} }}}}"),
        "${{ github.sha }}",
        "${{ runner.os }}-${{ runner.arch }}",
        &format!("${{{{ env.{RUST_VAR} }}}}"),
    );
    let mut cache = gh_uses(
        "Restore the built testflow (cache: version, OS, toolchain)",
        "actions/cache@v4",
        map([("path", s(format!("{DIST_DIR}/\n"))), ("key", s(key))]),
    );
    push(&mut cache, "id", s("dist"));
    steps.push(cache);
    steps.push(gh_on_miss(gh_step(
        "Rust toolchain (pinned for the build)",
        format!(
            "rustup toolchain install \"${RUST_VAR}\" --profile minimal\nrustup default \"${RUST_VAR}\"\n"
        ),
    )));
    if shape.python {
        steps.push(gh_on_miss(gh_uses(
            "Python (builds the abi3 wheel, for Python 3.10+)",
            "actions/setup-python@v5",
            map([("python-version", s("3.x"))]),
        )));
    }
    if shape.node {
        steps.push(gh_on_miss(gh_uses(
            "Node",
            "actions/setup-node@v4",
            map([("node-version", s("22"))]),
        )));
    }
    steps.push(gh_on_miss(gh_step(
        "Build testflow",
        build_script(shape, opts),
    )));
    steps.push(gh_uses(
        "Hand the build to the other jobs",
        "actions/upload-artifact@v4",
        map([
            ("name", s(DIST_DIR)),
            ("path", s(format!("{DIST_DIR}/\n"))),
            ("retention-days", Value::from(1)),
            ("if-no-files-found", s("error")),
        ]),
    ));
    map([
        ("name", s("install testflow")),
        ("runs-on", s("ubuntu-latest")),
        ("timeout-minutes", Value::from(60)),
        ("steps", seq(steps)),
    ])
}

/// Checkout, toolchains, dependency caches and the testflow install of a shard job
/// (`shard`) or the merge job.
fn gh_setup(shape: &ProjectShape, opts: &Options, shard: bool) -> Vec<Value> {
    let mut steps = vec![map([("uses", s("actions/checkout@v4"))])];
    steps.push(gh_step(
        "Rust toolchain",
        "rustup toolchain install stable --profile minimal\nrustup default stable\n".into(),
    ));
    let install = install_script(shape, opts, OnPath::GithubPath, shard);
    // The project's own Rust build; with --testflow-install also what it installs.
    let custom = opts.install.is_some();
    if (shape.rust && shard) || custom {
        let mut paths = String::new();
        if custom {
            paths.push_str("~/.cargo/bin/\n~/.cargo/.crates.toml\n~/.cargo/.crates2.json\n");
        }
        paths.push_str("~/.cargo/registry/index/\n~/.cargo/registry/cache/\n~/.cargo/git/db/\n");
        if shape.rust && shard {
            paths.push_str("target/\n");
        }
        let job = if shard { "test" } else { "merge" };
        let prefix = if custom {
            format!("cargo-{job}-${{{{ runner.os }}}}-{}-", short_hash(&install))
        } else {
            format!("cargo-{job}-${{{{ runner.os }}}}-")
        };
        steps.push(gh_uses(
            "Cache cargo (registry, target)",
            "actions/cache@v4",
            map([
                ("path", s(paths)),
                (
                    "key",
                    s(format!("{prefix}${{{{ hashFiles('**/Cargo.lock') }}}}")),
                ),
                ("restore-keys", s(format!("{prefix}\n"))),
            ]),
        ));
    }
    if shape.python && shard {
        steps.push(gh_uses(
            "Python",
            "actions/setup-python@v5",
            map([("python-version", s("3.x"))]),
        ));
        steps.push(gh_uses(
            "Cache pip",
            "actions/cache@v4",
            map([
                ("path", s("~/.cache/pip")),
                (
                    "key",
                    s("pip-${{ runner.os }}-${{ hashFiles('**/requirements*.txt', '**/pyproject.toml') }}"),
                ),
                ("restore-keys", s("pip-${{ runner.os }}-\n")),
            ]),
        ));
        steps.push(gh_step("Python dependencies", python_deps(shape)));
    }
    if shape.node && shard {
        let mut with = map([("node-version", s("22"))]);
        if shape.npm_lock {
            push(&mut with, "cache", s("npm"));
        }
        steps.push(gh_uses("Node", "actions/setup-node@v4", with));
        steps.push(gh_step("Node dependencies", node_deps(shape, "")));
    }
    for t in shape.toolchains.iter().filter(|_| shard) {
        if let Some(c) = &t.cache {
            // The version first (a step output), so the cache key changes with it.
            let id = format!("{}-version", c.key);
            let mut version = gh_step(
                &format!("{} version (the cache key)", t.name),
                format!("echo \"version=$({})\" >> \"$GITHUB_OUTPUT\"\n", c.version),
            );
            push(&mut version, "id", s(id.as_str()));
            steps.push(version);
            steps.push(gh_uses(
                &format!("Cache {}", t.name),
                "actions/cache@v4",
                map([
                    ("path", s(format!("~/{}", c.dir))),
                    (
                        "key",
                        s(format!(
                            "{}-${{{{ runner.os }}}}-${{{{ steps.{id}.outputs.version }}}}",
                            c.key
                        )),
                    ),
                ]),
            ));
        }
        match t.github_action {
            Some(action) => {
                let with =
                    Value::Mapping(t.github_with.iter().map(|(k, v)| (s(*k), s(v))).collect());
                steps.push(gh_uses(t.name, action, with));
            }
            None => steps.push(gh_step(t.name, t.script.clone())),
        }
    }
    if !custom {
        steps.push(gh_uses(
            "Get the install job's build",
            "actions/download-artifact@v4",
            map([("name", s(DIST_DIR)), ("path", s(DIST_DIR))]),
        ));
    }
    steps.push(gh_step(
        if custom {
            "Install testflow"
        } else {
            "Install testflow (built by the install job)"
        },
        install,
    ));
    steps
}

fn python_deps(shape: &ProjectShape) -> String {
    let mut s = String::from("python -m pip install --upgrade pip\n");
    if shape.requirements {
        s.push_str("python -m pip install -r requirements.txt\n");
    }
    s.push_str("python -m pip install pytest\n");
    s
}

fn node_deps(shape: &ProjectShape, cache_flag: &str) -> String {
    if shape.npm_lock {
        format!("npm ci{cache_flag}\n")
    } else {
        format!("npm install --no-audit --no-fund{cache_flag}\n")
    }
}

/// Saved by the merge job, once per run attempt (cache entries are immutable).
const GH_HISTORY_KEY: &str =
    "testflow-history-${{ github.ref_name }}-${{ github.run_id }}-${{ github.run_attempt }}";
/// This branch's newest history, else the default branch's.
const GH_HISTORY_RESTORE: &str = "testflow-history-${{ github.ref_name }}-\ntestflow-history-${{ github.event.repository.default_branch }}-\n";

fn github(shape: &ProjectShape, opts: &Options) -> Value {
    let n = opts.shards;
    let sharded = n > 1;
    let label = if sharded { "${{ matrix.shard }}" } else { "1" };
    let shell_label = if sharded { "$SHARD" } else { "1" };
    let built = opts.install.is_none();

    let mut steps = gh_setup(shape, opts, true);
    if opts.affected {
        // The checkout is the pull request's merge commit alone: its base commit too.
        let mut fetch = gh_step(
            "Fetch the pull request's base commit (what --affected counts changes from)",
            format!("git fetch --no-tags --depth=1 origin \"${BASE_VAR}\"\n"),
        );
        push(&mut fetch, "if", s("github.event_name == 'pull_request'"));
        steps.push(fetch);
    }
    steps.push(gh_uses(
        "Restore the test history (timings for the shard plan)",
        "actions/cache/restore@v4",
        map([
            ("path", s(HISTORY_DB)),
            ("key", s(GH_HISTORY_KEY)),
            ("restore-keys", s(GH_HISTORY_RESTORE)),
        ]),
    ));
    steps.push(gh_step("Test", test_script(shell_label, opts)));
    steps.push(map([
        ("name", s("Upload this shard's results")),
        ("if", s("always()")),
        ("uses", s("actions/upload-artifact@v4")),
        (
            "with",
            map([
                ("name", s(format!("testflow-shard-{label}"))),
                ("path", s(format!("{OUT_DIR}/\n{RUNS_DIR}\n"))),
                ("include-hidden-files", Value::Bool(true)),
                ("if-no-files-found", s("warn")),
            ]),
        ),
    ]));

    let mut test = map([
        (
            "name",
            s(if sharded {
                format!("test (shard {label}/{n})")
            } else {
                "test".to_owned()
            }),
        ),
        ("runs-on", s("ubuntu-latest")),
        ("timeout-minutes", Value::from(60)),
    ]);
    if built {
        push(&mut test, "needs", s("install"));
    }
    let mut env = Mapping::new();
    if sharded {
        push(
            &mut test,
            "strategy",
            map([
                ("fail-fast", Value::Bool(false)),
                ("matrix", map([("shard", seq((1..=n).map(Value::from)))])),
            ]),
        );
        env.insert(
            s("TESTFLOW_SHARD"),
            s(format!("${{{{ matrix.shard }}}}/{n}")),
        );
        env.insert(s("SHARD"), s("${{ matrix.shard }}"));
    }
    if opts.affected {
        env.insert(s(BASE_VAR), s(GH_BASE));
    }
    if !env.is_empty() {
        push(&mut test, "env", Value::Mapping(env));
    }
    push(&mut test, "steps", seq(steps));

    let mut msteps = gh_setup(shape, opts, false);
    msteps.push(gh_uses(
        "Restore the test history",
        "actions/cache/restore@v4",
        map([
            ("path", s(HISTORY_DB)),
            ("key", s(GH_HISTORY_KEY)),
            ("restore-keys", s(GH_HISTORY_RESTORE)),
        ]),
    ));
    msteps.push(gh_uses(
        "Download the shards' results",
        "actions/download-artifact@v4",
        map([
            ("pattern", s("testflow-shard-*")),
            ("merge-multiple", Value::Bool(true)),
            ("path", s(".")),
        ]),
    ));
    msteps.push(gh_step(
        "Merge the shards and write the reports",
        merge_script(opts.coverage),
    ));
    msteps.push(map([
        ("name", s("Job summary")),
        ("if", s("always()")),
        ("run", s(github_summary_script())),
    ]));
    msteps.push(map([
        ("name", s("Upload the merged reports")),
        ("if", s("always()")),
        ("uses", s("actions/upload-artifact@v4")),
        (
            "with",
            map([
                ("name", s("testflow-merged")),
                ("path", s(format!("{OUT_DIR}/\n"))),
                ("if-no-files-found", s("warn")),
            ]),
        ),
    ]));
    if opts.coverage {
        msteps.push(map([
            ("name", s("Upload the merged coverage (LCOV, Cobertura)")),
            ("if", s("always()")),
            ("uses", s("actions/upload-artifact@v4")),
            (
                "with",
                map([
                    ("name", s("testflow-coverage")),
                    ("path", s(format!("{MERGED_LCOV}\n{COBERTURA}\n"))),
                    ("if-no-files-found", s("warn")),
                ]),
            ),
        ]));
    }
    msteps.push(map([
        (
            "name",
            s("Save the test history (the merged run's timings plan the next shards)"),
        ),
        ("if", s("always()")),
        ("uses", s("actions/cache/save@v4")),
        (
            "with",
            map([("path", s(HISTORY_DB)), ("key", s(GH_HISTORY_KEY))]),
        ),
    ]));
    msteps.push(gh_step("Quality gates", gate_script(n)));

    let merge = map([
        ("name", s("merge, report and gate")),
        (
            "needs",
            if built {
                strs(&["install", "test"])
            } else {
                s("test")
            },
        ),
        ("if", s("${{ !cancelled() }}")),
        ("runs-on", s("ubuntu-latest")),
        ("timeout-minutes", Value::from(30)),
        ("steps", seq(msteps)),
    ]);

    let mut jobs = Mapping::new();
    if built {
        jobs.insert(s("install"), gh_install_job(shape, opts));
    }
    jobs.insert(s("test"), test);
    jobs.insert(s("merge"), merge);
    let mut env = map([(VERSION_VAR, s(&opts.version))]);
    if built {
        push(&mut env, RUST_VAR, s(BUILD_RUST));
    }

    map([
        ("name", s("testflow")),
        (
            "on",
            map([
                (
                    "push",
                    map([("branches", strs(&[opts.branch.name.as_str()]))]),
                ),
                ("pull_request", Value::Null),
            ]),
        ),
        ("permissions", map([("contents", s("read"))])),
        ("env", env),
        ("jobs", Value::Mapping(jobs)),
    ])
}

// ---- GitLab CI -------------------------------------------------------------------------

/// `setup` then `script`, unless the cache restored the build (its binary is there): one
/// shell command (one GitLab script item), so a cache hit skips the setup too.
fn unless_built(what: &str, setup: &str, script: &str) -> String {
    let body: String = setup
        .lines()
        .chain(script.lines())
        .map(|l| format!("  {l}\n"))
        .collect();
    format!(
        "if [ -x {DIST_DIR}/bin/cargo-testflow ]; then\n  echo \"{what}: restored from the cache, nothing to build\"\nelse\n{body}fi\n"
    )
}

fn gitlab(shape: &ProjectShape, opts: &Options) -> Value {
    let n = opts.shards;
    let sharded = n > 1;
    let built = opts.install.is_none();
    // CI_NODE_INDEX is set only for `parallel:` jobs (counted from 1).
    let label = if sharded { "$CI_NODE_INDEX" } else { "1" };
    let needs_apt = shape.python || shape.node;

    let mut apt = Vec::new();
    if shape.python {
        apt.extend(["python3", "python3-venv", "python3-pip"]);
    }
    if shape.node {
        apt.extend(["nodejs", "npm"]);
    }
    let apt_line = format!(
        "apt-get update -qq && apt-get install -y -qq {} > /dev/null",
        apt.join(" ")
    );
    // Debian's Python is externally managed: a virtualenv, which testflow finds in .venv/.
    let venv = [
        "python3 -m venv .venv",
        "export PATH=\"$CI_PROJECT_DIR/.venv/bin:$PATH\"",
    ];
    let mut setup = Vec::new();
    if !built {
        // `--testflow-install` commands that `cargo install` put testflow in CARGO_HOME.
        setup.push(s("export PATH=\"$CARGO_HOME/bin:$PATH\""));
    }
    if needs_apt {
        setup.push(s(&apt_line));
    }
    if shape.python {
        setup.extend(venv.map(s));
        for l in python_deps(shape).lines() {
            setup.push(s(l));
        }
    }
    if shape.node {
        setup.push(s(
            node_deps(shape, " --cache .cache/npm --prefer-offline").trim_end()
        ));
    }
    for t in &shape.toolchains {
        if let Some(c) = &t.cache {
            // GitLab caches only inside the project directory.
            setup.push(s(format!(
                "export {}=\"$CI_PROJECT_DIR/{}\"",
                c.dir_env, c.dir
            )));
        }
        setup.push(s(t.script.trim_end()));
    }
    let install = install_script(shape, opts, OnPath::Export, true);
    for l in install.lines() {
        setup.push(s(l));
    }

    let mut cache_paths = vec![".cache/cargo/registry/", ".cache/cargo/git/db/"];
    if !built {
        cache_paths.extend([
            ".cache/cargo/bin/",
            ".cache/cargo/.crates.toml",
            ".cache/cargo/.crates2.json",
        ]);
    }
    if shape.rust {
        cache_paths.push("target/");
    }
    if shape.python {
        cache_paths.push(".cache/pip/");
    }
    if shape.node {
        cache_paths.push(".cache/npm/");
    }
    let deps_prefix = if built {
        "deps".to_owned()
    } else {
        format!("deps-{}", short_hash(&install))
    };
    let deps_cache = map([
        (
            "key",
            map([
                ("files", seq(lock_files(shape).into_iter().map(s))),
                ("prefix", s(deps_prefix)),
            ]),
        ),
        ("paths", strs(&cache_paths)),
    ]);
    let history_cache = |policy: &str| {
        map([
            ("key", s("testflow-history-$CI_COMMIT_REF_SLUG")),
            (
                "fallback_keys",
                strs(&["testflow-history-$CI_DEFAULT_BRANCH"]),
            ),
            ("paths", strs(&[HISTORY_DB])),
            ("policy", s(policy)),
            ("when", s("always")),
        ])
    };
    let needs_install = || {
        map([
            ("job", s("testflow-install")),
            ("artifacts", Value::Bool(true)),
        ])
    };

    let mut test_lines = vec![];
    if opts.affected {
        // Set in merge request pipelines only; empty in branch pipelines (run everything).
        test_lines.push(s(format!(
            "export {BASE_VAR}=\"${{{BASE_VAR}:-${{CI_MERGE_REQUEST_DIFF_BASE_SHA:-}}}}\""
        )));
    }
    for l in test_script(label, opts).lines() {
        test_lines.push(s(l));
    }
    let mut test = map([("stage", s("test"))]);
    if opts.affected {
        // The merge base may be any number of commits back: a full clone.
        push(&mut test, "variables", map([("GIT_DEPTH", s("0"))]));
    }
    if built {
        push(&mut test, "needs", seq([needs_install()]));
    }
    push(&mut test, "before_script", seq(setup));
    push(&mut test, "script", seq(test_lines));
    let mut test_caches = vec![deps_cache, history_cache("pull")];
    // Each toolchain's downloads, keyed on its lockfile (GitLab keys caches on files only).
    for c in shape.toolchains.iter().filter_map(|t| t.cache.as_ref()) {
        test_caches.push(map([
            (
                "key",
                map([("files", strs(&c.key_files)), ("prefix", s(c.key))]),
            ),
            ("paths", strs(&[&format!("{}/", c.dir)])),
        ]));
    }
    push(&mut test, "cache", seq(test_caches));
    push(
        &mut test,
        "artifacts",
        map([
            ("when", s("always")),
            ("expire_in", s("1 week")),
            ("paths", strs(&[&format!("{OUT_DIR}/"), RUNS_DIR])),
        ]),
    );
    if sharded {
        push(&mut test, "parallel", Value::from(n));
    }

    let mut engine_only = Vec::new();
    if !built {
        engine_only.push(s("export PATH=\"$CARGO_HOME/bin:$PATH\""));
    }
    for l in install_script(shape, opts, OnPath::Export, false).lines() {
        engine_only.push(s(l));
    }
    let mut merge_script_lines: Vec<Value> = merge_script(opts.coverage).lines().map(s).collect();
    merge_script_lines.extend(gate_script(n).lines().map(s));
    let mut reports = map([("junit", s(format!("{OUT_DIR}/junit.xml")))]);
    if opts.coverage {
        push(
            &mut reports,
            "coverage_report",
            map([("coverage_format", s("cobertura")), ("path", s(COBERTURA))]),
        );
    }
    let mut merge_needs = Vec::new();
    if built {
        merge_needs.push(needs_install());
    }
    merge_needs.push(map([
        ("job", s("testflow-test")),
        ("artifacts", Value::Bool(true)),
    ]));
    let mut merge_cache = Vec::new();
    if !built {
        merge_cache.push(map([
            ("key", s(format!("engine-{}", short_hash(&install)))),
            (
                "paths",
                strs(&[
                    ".cache/cargo/bin/",
                    ".cache/cargo/registry/",
                    ".cache/cargo/git/db/",
                    ".cache/cargo/.crates.toml",
                    ".cache/cargo/.crates2.json",
                ]),
            ),
        ]));
    }
    merge_cache.push(history_cache("pull-push"));
    let mut merge = map([
        ("stage", s("report")),
        ("needs", seq(merge_needs)),
        ("when", s("always")),
        ("before_script", seq(engine_only)),
        ("script", seq(merge_script_lines)),
        ("cache", seq(merge_cache)),
        (
            "artifacts",
            map([
                ("when", s("always")),
                ("expire_in", s("1 week")),
                ("paths", strs(&[&format!("{OUT_DIR}/")])),
                ("reports", reports),
            ]),
        ),
    ]);
    if opts.coverage {
        push(&mut merge, "coverage", s(GITLAB_COVERAGE_REGEX));
    }

    let mut variables = map([(VERSION_VAR, s(&opts.version))]);
    if built {
        push(&mut variables, RUST_VAR, s(BUILD_RUST));
    }
    push(
        &mut variables,
        "CARGO_HOME",
        s("$CI_PROJECT_DIR/.cache/cargo"),
    );
    push(
        &mut variables,
        "PIP_CACHE_DIR",
        s("$CI_PROJECT_DIR/.cache/pip"),
    );

    let mut root = map([]);
    if opts.affected {
        // Merge request pipelines (they have the target branch's merge base), and branch
        // pipelines for branches without an open merge request: GitLab's own pattern.
        push(
            &mut root,
            "workflow",
            map([(
                "rules",
                seq([
                    map([("if", s("$CI_PIPELINE_SOURCE == \"merge_request_event\""))]),
                    map([
                        ("if", s("$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS")),
                        ("when", s("never")),
                    ]),
                    map([("if", s("$CI_COMMIT_BRANCH"))]),
                ]),
            )]),
        );
    }
    let head = map([
        (
            "stages",
            if built {
                strs(&["install", "test", "report"])
            } else {
                strs(&["test", "report"])
            },
        ),
        ("default", map([("image", s("rust:1"))])),
        ("variables", variables),
    ]);
    if let (Value::Mapping(root), Value::Mapping(head)) = (&mut root, head) {
        root.extend(head);
    }
    if built {
        let mut build_setup = String::new();
        if needs_apt {
            build_setup.push_str(&apt_line);
            build_setup.push('\n');
        }
        if shape.python {
            for l in venv {
                build_setup.push_str(l);
                build_setup.push('\n');
            }
        }
        let install_job = map([
            ("stage", s("install")),
            // The pinned toolchain: the image tag is part of the cache key.
            ("image", s(format!("rust:${RUST_VAR}"))),
            (
                "script",
                seq([s(unless_built(
                    &format!("testflow ${VERSION_VAR}"),
                    &build_setup,
                    &build_script(shape, opts),
                ))]),
            ),
            (
                "cache",
                seq([map([
                    (
                        "key",
                        s(dist_key(
                            shape,
                            opts,
                            &format!("${VERSION_VAR}"),
                            "$CI_COMMIT_SHA",
                            "linux",
                            &format!("${RUST_VAR}"),
                        )),
                    ),
                    ("paths", strs(&[&format!("{DIST_DIR}/")])),
                ])]),
            ),
            (
                "artifacts",
                map([
                    ("expire_in", s("1 day")),
                    ("paths", strs(&[&format!("{DIST_DIR}/")])),
                ]),
            ),
        ]);
        push(&mut root, "testflow-install", install_job);
    }
    push(&mut root, "testflow-test", test);
    push(&mut root, "testflow-merge", merge);
    root
}

fn lock_files(shape: &ProjectShape) -> Vec<&'static str> {
    let mut f = Vec::new();
    if shape.rust {
        f.push("Cargo.lock");
    }
    if shape.python && shape.requirements {
        f.push("requirements.txt");
    }
    if shape.node && shape.npm_lock {
        f.push("package-lock.json");
    }
    if f.is_empty() {
        f.push(".gitlab-ci.yml");
    }
    f
}

// ---- CircleCI --------------------------------------------------------------------------

fn cc_run(name: &str, command: String) -> Value {
    map([("run", map([("name", s(name)), ("command", s(command))]))])
}

const CC_VERSION_PARAM: &str = "testflow-version";
const CC_RUST_PARAM: &str = "testflow-rust";

fn cc_param(name: &str) -> String {
    format!("<< pipeline.parameters.{name} >>")
}

/// The Python/Node convenience image has no Rust: `cargo` (to run `cargo testflow`) comes
/// from rustup.
const CC_RUSTUP: &str = "command -v cargo || curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal\necho 'source \"$HOME/.cargo/env\"' >> \"$BASH_ENV\"\n";

fn cc_image(shape: &ProjectShape) -> &'static str {
    if shape.python || shape.node {
        "cimg/python:3.12-node"
    } else {
        "cimg/rust:1.89.0"
    }
}

/// The install job: restore [`DIST_DIR`], else build it with the pinned toolchain; save
/// it and hand it on in the workspace.
fn cc_install_job(shape: &ProjectShape, opts: &Options) -> Value {
    let mut steps = Vec::new();
    if shape.testflow_checkout {
        steps.push(s("checkout"));
    }
    let key = dist_key(
        shape,
        opts,
        &cc_param(CC_VERSION_PARAM),
        "{{ .Revision }}",
        "{{ arch }}",
        &cc_param(CC_RUST_PARAM),
    );
    steps.push(map([("restore_cache", map([("keys", strs(&[&key]))]))]));
    let toolchain = format!(
        "command -v rustup || curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain none\n\
         . \"$HOME/.cargo/env\"\n\
         rustup toolchain install \"${RUST_VAR}\" --profile minimal\n\
         rustup default \"${RUST_VAR}\"\n"
    );
    steps.push(cc_run(
        "Build testflow (skipped when the cache had it)",
        unless_built(
            &format!("testflow ${VERSION_VAR}"),
            &toolchain,
            &build_script(shape, opts),
        ),
    ));
    steps.push(map([(
        "save_cache",
        map([("key", s(key)), ("paths", strs(&[DIST_DIR]))]),
    )]));
    steps.push(map([(
        "persist_to_workspace",
        map([("root", s(".")), ("paths", strs(&[DIST_DIR]))]),
    )]));
    map([
        ("docker", seq([map([("image", s(cc_image(shape)))])])),
        ("resource_class", s("medium")),
        (
            "environment",
            map([
                (VERSION_VAR, s(cc_param(CC_VERSION_PARAM))),
                (RUST_VAR, s(cc_param(CC_RUST_PARAM))),
            ]),
        ),
        ("steps", seq(steps)),
    ])
}

/// Checkout, toolchain, caches and the install of a shard job (`shard`) or the merge job;
/// and the `save_cache` step, to go after the step that fills `target/` (`None`: nothing
/// to cache).
fn cc_setup(shape: &ProjectShape, opts: &Options, shard: bool) -> (Vec<Value>, Option<Value>) {
    let custom = opts.install.is_some();
    let install = install_script(shape, opts, OnPath::BashEnv, shard);
    let mut steps = vec![s("checkout")];
    let mut paths = Vec::new();
    if custom {
        paths.extend([
            "~/.cargo/bin",
            "~/.cargo/.crates.toml",
            "~/.cargo/.crates2.json",
        ]);
    }
    if custom || (shape.rust && shard) {
        paths.extend(["~/.cargo/registry", "~/.cargo/git/db"]);
    }
    if shape.rust && shard {
        paths.push("target");
    }
    if shape.python && shard {
        paths.push("~/.cache/pip");
    }
    if shape.node && shard {
        paths.push("~/.npm");
    }
    let key = format!(
        "deps-v1-{}{}-{{{{ checksum \"{}\" }}}}",
        if shard { "test" } else { "merge" },
        if custom {
            format!("-{}", short_hash(&install))
        } else {
            String::new()
        },
        if shape.rust {
            "Cargo.lock"
        } else {
            ".circleci/config.yml"
        }
    );
    if !paths.is_empty() {
        steps.push(map([("restore_cache", map([("keys", strs(&[&key]))]))]));
    }
    if !shape.rust || shape.python || shape.node {
        steps.push(cc_run("Rust toolchain", CC_RUSTUP.into()));
    }
    if shape.python && shard {
        steps.push(cc_run("Python dependencies", python_deps(shape)));
    }
    if shape.node && shard {
        steps.push(cc_run("Node dependencies", node_deps(shape, "")));
    }
    for t in shape.toolchains.iter().filter(|_| shard) {
        let Some(c) = &t.cache else {
            steps.push(cc_run(t.name, t.script.clone()));
            continue;
        };
        // The version into a file, whose checksum keys the cache.
        let file = format!("/tmp/testflow-{}.version", c.key);
        steps.push(cc_run(
            &format!("{} version (the cache key)", t.name),
            format!("{} > {file}\n", c.version),
        ));
        let key = format!("{}-v1-{{{{ arch }}}}-{{{{ checksum \"{file}\" }}}}", c.key);
        steps.push(map([("restore_cache", map([("keys", strs(&[&key]))]))]));
        steps.push(cc_run(t.name, t.script.clone()));
        steps.push(map([(
            "save_cache",
            map([("key", s(key)), ("paths", strs(&[&format!("~/{}", c.dir)]))]),
        )]));
    }
    if !custom {
        steps.push(map([("attach_workspace", map([("at", s("."))]))]));
    }
    steps.push(cc_run(
        if custom {
            "Install testflow"
        } else {
            "Install testflow (built by the install job)"
        },
        install,
    ));
    let save = (!paths.is_empty()).then(|| {
        map([(
            "save_cache",
            map([("key", s(key)), ("paths", strs(&paths))]),
        )])
    });
    (steps, save)
}

fn circleci(shape: &ProjectShape, opts: &Options) -> Value {
    let n = opts.shards;
    let sharded = n > 1;
    let built = opts.install.is_none();
    // CIRCLE_NODE_INDEX counts from 0.
    let label = if sharded { "$CIRCLE_NODE_INDEX" } else { "1" };
    let image = cc_image(shape);
    // This branch's newest history, else the default branch's (CircleCI takes the newest
    // entry whose key starts with the prefix).
    let history_restore = map([(
        "restore_cache",
        map([(
            "keys",
            strs(&[
                "testflow-history-v1-{{ .Branch }}-",
                &format!("testflow-history-v1-{}-", opts.branch.name),
            ]),
        )]),
    )]);

    let (mut steps, save_deps) = cc_setup(shape, opts, true);
    steps.push(history_restore.clone());
    // Later steps run only after a green one: keep the exit code, upload, then fail.
    let code_file = format!("{OUT_DIR}/exit-code-{label}");
    steps.push(cc_run(
        "Test",
        format!(
            "mkdir -p {OUT_DIR}\ncode=0\n{} || code=$?\necho \"$code\" > {code_file}\n",
            test_script(label, opts).trim_end()
        ),
    ));
    steps.extend(save_deps);
    steps.push(map([(
        "persist_to_workspace",
        map([
            ("root", s(".")),
            ("paths", strs(&[OUT_DIR, ".testflow/runs"])),
        ]),
    )]));
    steps.push(map([(
        "store_artifacts",
        map([("path", s(OUT_DIR)), ("destination", s("testflow-shard"))]),
    )]));
    steps.push(cc_run(
        "Fail the shard if its tests failed",
        format!("exit \"$(cat {code_file})\"\n"),
    ));
    let env = || map([(VERSION_VAR, s(cc_param(CC_VERSION_PARAM)))]);
    let mut test = map([
        ("docker", seq([map([("image", s(image))])])),
        ("resource_class", s("medium")),
        ("environment", env()),
    ]);
    if sharded {
        push(&mut test, "parallelism", Value::from(n));
    }
    push(&mut test, "steps", seq(steps));

    let (mut msteps, save_engine) = cc_setup(shape, opts, false);
    msteps.extend(save_engine);
    msteps.push(history_restore);
    if !built {
        // The shards' results (with the install job's build, cc_setup attached them).
        msteps.push(map([("attach_workspace", map([("at", s("."))]))]));
    }
    msteps.push(cc_run(
        "Merge the shards and write the reports",
        merge_script(opts.coverage),
    ));
    msteps.push(cc_run(
        "Collect the merged JUnit report",
        format!(
            "mkdir -p {OUT_DIR}/merged-junit && cp {OUT_DIR}/junit.xml {OUT_DIR}/merged-junit/\n"
        ),
    ));
    msteps.push(map([(
        "store_test_results",
        map([("path", s(format!("{OUT_DIR}/merged-junit")))]),
    )]));
    msteps.push(map([(
        "store_artifacts",
        map([("path", s(OUT_DIR)), ("destination", s("testflow"))]),
    )]));
    if opts.coverage {
        for (path, dest) in [
            (MERGED_LCOV, "coverage/merged.lcov"),
            (COBERTURA, "coverage/coverage.xml"),
        ] {
            msteps.push(map([(
                "store_artifacts",
                map([("path", s(path)), ("destination", s(dest))]),
            )]));
        }
    }
    msteps.push(map([(
        "save_cache",
        map([
            ("key", s("testflow-history-v1-{{ .Branch }}-{{ epoch }}")),
            ("paths", strs(&[HISTORY_DB])),
            ("when", s("always")),
        ]),
    )]));
    msteps.push(cc_run("Quality gates", gate_script(n)));
    let merge = map([
        ("docker", seq([map([("image", s(image))])])),
        ("resource_class", s("medium")),
        ("environment", env()),
        ("steps", seq(msteps)),
    ]);

    let mut jobs = Mapping::new();
    let mut workflow = Vec::new();
    if built {
        jobs.insert(s("testflow-install"), cc_install_job(shape, opts));
        workflow.push(s("testflow-install"));
        workflow.push(map([(
            "testflow-test",
            map([("requires", strs(&["testflow-install"]))]),
        )]));
    } else {
        workflow.push(s("testflow-test"));
    }
    jobs.insert(s("testflow-test"), test);
    jobs.insert(s("testflow-merge"), merge);
    workflow.push(map([(
        "testflow-merge",
        map([(
            "requires",
            seq([map([("testflow-test", strs(&["success", "failed"]))])]),
        )]),
    )]));

    let mut params = map([(
        CC_VERSION_PARAM,
        map([
            ("type", s("string")),
            ("default", s(&opts.version)),
            (
                "description",
                s("The testflow version the pipeline installs (tag v<version>)"),
            ),
        ]),
    )]);
    if built {
        push(
            &mut params,
            CC_RUST_PARAM,
            map([
                ("type", s("string")),
                ("default", s(BUILD_RUST)),
                (
                    "description",
                    s("The Rust toolchain the install job builds testflow with"),
                ),
            ]),
        );
    }

    map([
        ("version", Value::from(2.1)),
        ("parameters", params),
        ("jobs", Value::Mapping(jobs)),
        (
            "workflows",
            map([("testflow", map([("jobs", seq(workflow))]))]),
        ),
    ])
}

#[cfg(test)]
mod tests;
