//! `cargo testflow ci`: a CI pipeline for the project as detected (Rust, pytest, Jest, or a
//! mix). N shard jobs each run `cargo testflow run` on their shard (the shard comes from the
//! CI's own variables, see [`crate::shard::ShardSpec::from_env`]), with the history database
//! restored from the CI cache so the split uses timings; a merge job joins the shard runs,
//! writes the reports, feeds the CI's test report feature and applies the quality gates.
//!
//! The commands in the pipeline are built here, once, by the `*_script` functions, so the
//! end-to-end test runs exactly what the CI would.

use std::path::Path;

use anyhow::Result;
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
    /// A Jest project (see [`crate::frameworks::jest::is_jest_project`]).
    pub node: bool,
    /// `package-lock.json` is there: `npm ci` and the npm cache keyed on it.
    pub npm_lock: bool,
    /// `requirements.txt` is there: installed before the tests.
    pub requirements: bool,
    /// The project is a testflow checkout (`cargo-testflow/Cargo.toml`): install from it.
    pub testflow_checkout: bool,
}

impl ProjectShape {
    /// The shape of the project in `root`, detected the way `cargo testflow run` does.
    pub fn detect(root: &Path) -> ProjectShape {
        ProjectShape {
            rust: root.join("Cargo.toml").is_file(),
            python: crate::frameworks::pytest::is_pytest_project(root),
            node: crate::frameworks::jest::is_jest_project(root),
            npm_lock: root.join("package-lock.json").is_file(),
            requirements: root.join("requirements.txt").is_file(),
            testflow_checkout: root.join("cargo-testflow/Cargo.toml").is_file(),
        }
    }

    pub fn is_empty(&self) -> bool {
        !(self.rust || self.python || self.node)
    }
}

/// How to generate the pipeline.
#[derive(Clone, Debug)]
pub struct Options {
    /// Number of shard jobs (1 = one job, no sharding).
    pub shards: u32,
    /// The shell command that installs testflow (engine and the plugins the project
    /// needs). `None`: [`default_install`].
    pub install: Option<String>,
    /// The git repository testflow is installed from by the default install command.
    pub git: String,
    /// Collect coverage (`cargo testflow run --coverage`): the shard jobs install the
    /// coverage tools and collect, the merge job writes the merged coverage where the CI
    /// shows it.
    pub coverage: bool,
    /// The branch the pipeline runs on for pushes (GitHub's `on.push.branches`).
    pub branch: DefaultBranch,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            shards: 1,
            install: None,
            git: env!("CARGO_PKG_REPOSITORY").to_owned(),
            coverage: false,
            branch: DefaultBranch::assumed(),
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

/// The default install command: from the project itself when it is a testflow checkout,
/// else from a shallow clone of `git` in `$HOME/testflow-src`. The pytest plugin and the
/// Jest reporter are installed only when the project needs them; both build against the
/// engine with cargo.
pub fn default_install(shape: &ProjectShape, git: &str, engine_only: bool) -> String {
    let src = if shape.testflow_checkout {
        ".".to_owned()
    } else {
        "\"$HOME/testflow-src\"".to_owned()
    };
    let join = |sub: &str| {
        if shape.testflow_checkout {
            format!("./{sub}")
        } else {
            format!("\"$HOME/testflow-src/{sub}\"")
        }
    };
    let mut lines = Vec::new();
    if !shape.testflow_checkout {
        lines.push(format!(
            "[ -d \"$HOME/testflow-src\" ] || git clone --depth 1 {git} {src}"
        ));
    }
    lines.push(format!(
        "cargo install --locked --path {}",
        join("cargo-testflow")
    ));
    if !engine_only && shape.python {
        lines.push(format!("python -m pip install {}", join("python")));
    }
    if !engine_only && shape.node {
        lines.push(format!("npm install --no-save {}", join("npm")));
    }
    lines.join("\n") + "\n"
}

/// What `cargo testflow run --coverage` needs besides testflow, for the project's
/// frameworks: cargo-llvm-cov and the toolchain's llvm-tools for Rust (`cargo install`
/// leaves an installed, current cargo-llvm-cov alone, so a cached `~/.cargo/bin` makes it
/// quick), pytest-cov for pytest. Jest's `--coverage` is built in.
pub fn coverage_install(shape: &ProjectShape) -> String {
    let mut s = String::new();
    if shape.rust {
        s.push_str(
            "rustup component add llvm-tools-preview\ncargo install --locked cargo-llvm-cov\n",
        );
    }
    if shape.python {
        s.push_str("python -m pip install pytest-cov\n");
    }
    s
}

/// The install step: testflow (the default or `--testflow-install`), then, for the shard
/// jobs of a `--coverage` pipeline, the coverage tools.
fn install_script(shape: &ProjectShape, opts: &Options, engine_only: bool) -> String {
    let mut s = match &opts.install {
        Some(cmd) => format!("{}\n", cmd.trim_end()),
        None => default_install(shape, &opts.git, engine_only),
    };
    if opts.coverage && !engine_only {
        s.push_str(&coverage_install(shape));
    }
    s
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
        "# Generated by `cargo testflow ci {} --shards {}{}` for a {} project.\n\
         # Shards split the tests by their recorded timings (history restored from the cache);\n\
         # the merge job joins them, writes the reports and applies the quality gates.\n",
        ci.name(),
        opts.shards,
        if opts.coverage { " --coverage" } else { "" },
        kinds.join(" + ")
    );
    if opts.coverage {
        h.push_str(
            "# Each shard collects coverage (`run --coverage`); the merge job merges it and\n\
             # writes it as LCOV and Cobertura.\n",
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
        "no test suites found: no Cargo.toml{}",
        crate::frameworks::DETECTED_HINT
    );
    anyhow::ensure!(
        (1..=200).contains(&opts.shards),
        "--shards must be between 1 and 200 (GitLab's `parallel` limit), got {}",
        opts.shards
    );
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

/// Checkout, toolchains, dependency caches and the testflow install.
fn gh_setup(shape: &ProjectShape, opts: &Options, engine_only: bool) -> Vec<Value> {
    let mut steps = vec![map([("uses", s("actions/checkout@v4"))])];
    steps.push(gh_step(
        "Rust toolchain",
        "rustup toolchain install stable --profile minimal\nrustup default stable\n".into(),
    ));
    let install = install_script(shape, opts, engine_only);
    let mut cargo_paths = String::from(
        "~/.cargo/bin/\n~/.cargo/.crates.toml\n~/.cargo/.crates2.json\n~/.cargo/registry/index/\n~/.cargo/registry/cache/\n~/.cargo/git/db/\n",
    );
    if shape.rust && !engine_only {
        cargo_paths.push_str("target/\n");
    }
    let job = if engine_only { "merge" } else { "test" };
    steps.push(gh_uses(
        "Cache cargo (registry, target, installed testflow)",
        "actions/cache@v4",
        map([
            ("path", s(cargo_paths)),
            (
                "key",
                s(format!(
                    "cargo-{job}-${{{{ runner.os }}}}-{}-${{{{ hashFiles('**/Cargo.lock') }}}}",
                    short_hash(&install)
                )),
            ),
            (
                "restore-keys",
                s(format!(
                    "cargo-{job}-${{{{ runner.os }}}}-{}-\n",
                    short_hash(&install)
                )),
            ),
        ]),
    ));
    if shape.python && !engine_only {
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
    if shape.node && !engine_only {
        let mut with = map([("node-version", s("22"))]);
        if shape.npm_lock {
            push(&mut with, "cache", s("npm"));
        }
        steps.push(gh_uses("Node", "actions/setup-node@v4", with));
        steps.push(gh_step("Node dependencies", node_deps(shape, "")));
    }
    steps.push(gh_step("Install testflow", install));
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

const GH_HISTORY_KEY: &str =
    "testflow-history-${{ github.ref_name }}-${{ github.run_id }}-${{ github.run_attempt }}";
const GH_HISTORY_RESTORE: &str = "testflow-history-${{ github.ref_name }}-\ntestflow-history-\n";

fn github(shape: &ProjectShape, opts: &Options) -> Value {
    let n = opts.shards;
    let sharded = n > 1;
    let label = if sharded { "${{ matrix.shard }}" } else { "1" };
    let shell_label = if sharded { "$SHARD" } else { "1" };

    let mut steps = gh_setup(shape, opts, false);
    steps.push(gh_uses(
        "Restore the test history (timings for the shard plan)",
        "actions/cache/restore@v4",
        map([
            ("path", s(HISTORY_DB)),
            ("key", s(GH_HISTORY_KEY)),
            ("restore-keys", s(GH_HISTORY_RESTORE)),
        ]),
    ));
    steps.push(gh_step("Test", shard_script(shell_label, opts.coverage)));
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
    if sharded {
        push(
            &mut test,
            "strategy",
            map([
                ("fail-fast", Value::Bool(false)),
                ("matrix", map([("shard", seq((1..=n).map(Value::from)))])),
            ]),
        );
        push(
            &mut test,
            "env",
            map([
                ("TESTFLOW_SHARD", s(format!("${{{{ matrix.shard }}}}/{n}"))),
                ("SHARD", s("${{ matrix.shard }}")),
            ]),
        );
    }
    push(&mut test, "steps", seq(steps));

    let mut msteps = gh_setup(shape, opts, true);
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
        ("needs", s("test")),
        ("if", s("${{ !cancelled() }}")),
        ("runs-on", s("ubuntu-latest")),
        ("timeout-minutes", Value::from(30)),
        ("steps", seq(msteps)),
    ]);

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
        ("jobs", map([("test", test), ("merge", merge)])),
    ])
}

// ---- GitLab CI -------------------------------------------------------------------------

fn gitlab(shape: &ProjectShape, opts: &Options) -> Value {
    let n = opts.shards;
    let sharded = n > 1;
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
    // `cargo install` puts testflow in the cached CARGO_HOME.
    let path_line = s("export PATH=\"$CARGO_HOME/bin:$PATH\"");
    let mut setup = vec![path_line.clone()];
    if needs_apt {
        setup.push(s(format!(
            "apt-get update -qq && apt-get install -y -qq {} > /dev/null",
            apt.join(" ")
        )));
    }
    if shape.python {
        // Debian's Python is externally managed: a virtualenv, which testflow finds in .venv/.
        setup.push(s("python3 -m venv .venv"));
        setup.push(s("export PATH=\"$CI_PROJECT_DIR/.venv/bin:$PATH\""));
        for l in python_deps(shape).lines() {
            setup.push(s(l));
        }
    }
    if shape.node {
        setup.push(s(
            node_deps(shape, " --cache .cache/npm --prefer-offline").trim_end()
        ));
    }
    let install = install_script(shape, opts, false);
    for l in install.lines() {
        setup.push(s(l));
    }

    let mut cache_paths = vec![
        ".cache/cargo/bin/",
        ".cache/cargo/registry/",
        ".cache/cargo/git/db/",
        ".cache/cargo/.crates.toml",
        ".cache/cargo/.crates2.json",
    ];
    if shape.rust {
        cache_paths.push("target/");
    }
    if shape.python {
        cache_paths.push(".cache/pip/");
    }
    if shape.node {
        cache_paths.push(".cache/npm/");
    }
    let deps_cache = map([
        (
            "key",
            map([
                ("files", seq(lock_files(shape).into_iter().map(s))),
                ("prefix", s(format!("deps-{}", short_hash(&install)))),
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

    let mut test_script = vec![];
    for l in shard_script(label, opts.coverage).lines() {
        test_script.push(s(l));
    }
    let mut test = map([
        ("stage", s("test")),
        ("before_script", seq(setup.clone())),
        ("script", seq(test_script)),
        ("cache", seq([deps_cache.clone(), history_cache("pull")])),
        (
            "artifacts",
            map([
                ("when", s("always")),
                ("expire_in", s("1 week")),
                ("paths", strs(&[&format!("{OUT_DIR}/"), RUNS_DIR])),
            ]),
        ),
    ]);
    if sharded {
        push(&mut test, "parallel", Value::from(n));
    }

    let engine_only = {
        let mut v = vec![path_line];
        for l in install_script(shape, opts, true).lines() {
            v.push(s(l));
        }
        v
    };
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
    let mut merge = map([
        ("stage", s("report")),
        (
            "needs",
            seq([map([
                ("job", s("testflow-test")),
                ("artifacts", Value::Bool(true)),
            ])]),
        ),
        ("when", s("always")),
        ("before_script", seq(engine_only)),
        ("script", seq(merge_script_lines)),
        (
            "cache",
            seq([
                map([
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
                ]),
                history_cache("pull-push"),
            ]),
        ),
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

    map([
        ("stages", strs(&["test", "report"])),
        ("default", map([("image", s("rust:1"))])),
        (
            "variables",
            map([
                ("CARGO_HOME", s("$CI_PROJECT_DIR/.cache/cargo")),
                ("PIP_CACHE_DIR", s("$CI_PROJECT_DIR/.cache/pip")),
            ]),
        ),
        ("testflow-test", test),
        ("testflow-merge", merge),
    ])
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

/// Checkout, toolchain, caches and the install; and the `save_cache` step, to go after
/// the step that fills `target/`.
fn cc_setup(shape: &ProjectShape, opts: &Options, engine_only: bool) -> (Vec<Value>, Value) {
    let install = install_script(shape, opts, engine_only);
    let mut steps = vec![s("checkout")];
    let key = format!(
        "cargo-v1-{}-{}-{{{{ checksum \"{}\" }}}}",
        if engine_only { "merge" } else { "test" },
        short_hash(&install),
        if shape.rust {
            "Cargo.lock"
        } else {
            ".circleci/config.yml"
        }
    );
    steps.push(map([("restore_cache", map([("keys", strs(&[&key]))]))]));
    if !shape.rust || shape.python || shape.node {
        // The Python/Node convenience image has no Rust: testflow is built with it.
        steps.push(cc_run(
            "Rust toolchain",
            "command -v cargo || curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal\necho 'source \"$HOME/.cargo/env\"' >> \"$BASH_ENV\"\n".into(),
        ));
    }
    if shape.python && !engine_only {
        steps.push(cc_run("Python dependencies", python_deps(shape)));
    }
    if shape.node && !engine_only {
        steps.push(cc_run("Node dependencies", node_deps(shape, "")));
    }
    steps.push(cc_run("Install testflow", install));
    let mut paths = vec![
        "~/.cargo/bin",
        "~/.cargo/.crates.toml",
        "~/.cargo/.crates2.json",
        "~/.cargo/registry",
        "~/.cargo/git/db",
    ];
    if shape.rust && !engine_only {
        paths.push("target");
    }
    if shape.python && !engine_only {
        paths.push("~/.cache/pip");
    }
    if shape.node && !engine_only {
        paths.push("~/.npm");
    }
    let save = map([(
        "save_cache",
        map([("key", s(key)), ("paths", strs(&paths))]),
    )]);
    (steps, save)
}

fn circleci(shape: &ProjectShape, opts: &Options) -> Value {
    let n = opts.shards;
    let sharded = n > 1;
    // CIRCLE_NODE_INDEX counts from 0.
    let label = if sharded { "$CIRCLE_NODE_INDEX" } else { "1" };
    let image = if shape.python || shape.node {
        "cimg/python:3.12-node"
    } else {
        "cimg/rust:1.89.0"
    };
    let history_restore = map([(
        "restore_cache",
        map([(
            "keys",
            strs(&[
                "testflow-history-v1-{{ .Branch }}-{{ .Revision }}",
                "testflow-history-v1-{{ .Branch }}-",
                "testflow-history-v1-",
            ]),
        )]),
    )]);

    let (mut steps, save_deps) = cc_setup(shape, opts, false);
    steps.push(history_restore.clone());
    // Later steps run only after a green one: keep the exit code, upload, then fail.
    let code_file = format!("{OUT_DIR}/exit-code-{label}");
    steps.push(cc_run(
        "Test",
        format!(
            "mkdir -p {OUT_DIR}\ncode=0\n{} || code=$?\necho \"$code\" > {code_file}\n",
            shard_script(label, opts.coverage).trim_end()
        ),
    ));
    steps.push(save_deps);
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
    let mut test = map([
        ("docker", seq([map([("image", s(image))])])),
        ("resource_class", s("medium")),
    ]);
    if sharded {
        push(&mut test, "parallelism", Value::from(n));
    }
    push(&mut test, "steps", seq(steps));

    let (mut msteps, save_engine) = cc_setup(shape, opts, true);
    msteps.push(save_engine);
    msteps.push(history_restore);
    msteps.push(map([("attach_workspace", map([("at", s("."))]))]));
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
            (
                "key",
                s("testflow-history-v1-{{ .Branch }}-{{ .Revision }}"),
            ),
            ("paths", strs(&[HISTORY_DB])),
            ("when", s("always")),
        ]),
    )]));
    msteps.push(cc_run("Quality gates", gate_script(n)));
    let merge = map([
        ("docker", seq([map([("image", s(image))])])),
        ("resource_class", s("medium")),
        ("steps", seq(msteps)),
    ]);

    map([
        ("version", Value::from(2.1)),
        (
            "jobs",
            map([("testflow-test", test), ("testflow-merge", merge)]),
        ),
        (
            "workflows",
            map([(
                "testflow",
                map([(
                    "jobs",
                    seq([
                        s("testflow-test"),
                        map([(
                            "testflow-merge",
                            map([(
                                "requires",
                                seq([map([("testflow-test", strs(&["success", "failed"]))])]),
                            )]),
                        )]),
                    ]),
                )]),
            )]),
        ),
    ])
}

#[cfg(test)]
mod tests;
