//! `run --affected`: run only the tests whose inputs changed since a base revision,
//! conservatively. The session builds one [`Plan`] per run (the change set, the base, the
//! tracked files that force a full run, the tests that failed last time); each framework
//! that knows its dependencies hands its groups (a Rust test binary, a pytest, Jest,
//! Vitest or Playwright test file, a go package) to [`Plan::select`] while it plans its
//! units, or, when its runner cannot narrow them, runs them all with
//! [`Plan::select_all`]. A framework that does not is never narrowed: its tests all run,
//! and the run record says why.
//!
//! - `changes`: the change set from git (or `--changed`);
//! - `tracked`: files whose change runs everything;
//! - `depinfo`, `python`: reading Rust's and Python's dependencies;
//! - `store`: dependencies and observations in history.db.

pub mod changes;
pub mod depinfo;
pub mod python;
pub mod store;
pub mod tracked;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Result;

use crate::history::History;
use crate::model::{Affected, AffectedGroup, ChangedFile, Framework};
use changes::Change;

/// `--affected[=MODE]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Run the affected tests only.
    Select,
    /// Run everything and record every framework's dependencies.
    Record,
    /// Run everything; record which failures the selection would have missed.
    Observe,
}

impl crate::choice::Choice for Mode {
    const ALL: &'static [Mode] = &[Mode::Select, Mode::Record, Mode::Observe];
    fn name(self) -> &'static str {
        match self {
            Mode::Select => "select",
            Mode::Record => "record",
            Mode::Observe => "observe",
        }
    }
    fn help(self) -> Option<&'static str> {
        Some(match self {
            Mode::Select => "Run only the tests the changes affect (the default)",
            Mode::Record => "Run every test and record the dependency data",
            Mode::Observe => {
                "Run every test; record the failures the selection would have missed (`history selection`)"
            }
        })
    }
}

/// What `--affected` was asked with.
#[derive(Clone, Debug)]
pub struct Request {
    pub mode: Mode,
    /// `--since REF`.
    pub since: Option<String>,
    /// `--changed PATH`: the change set, instead of git's.
    pub changed: Vec<PathBuf>,
    /// `[affected] always_run` globs.
    pub always_run: Vec<String>,
}

/// One group of a framework's tests and the files it depends on.
#[derive(Clone, Debug, Default)]
pub struct Group {
    pub id: String,
    /// Absolute paths. Empty: nothing known (the group is selected).
    pub deps: Vec<PathBuf>,
    /// The group's test ids, where known before running; for a `whole` group, only the
    /// ones that failed last time.
    pub tests: Vec<String>,
    /// It runs as a whole (a Jest file, a go package): a test of it that failed last
    /// time selects all of it.
    pub whole: bool,
}

/// What a framework runs after [`Plan::select`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selected {
    /// Run everything (a full run, or a mode that runs everything).
    pub all: bool,
    /// The selected groups' ids.
    pub groups: HashSet<String>,
    /// Single tests selected outside their group (they failed last time).
    pub tests: Vec<String>,
}

impl Selected {
    /// Whether the test `id` of group `group` runs.
    pub fn runs(&self, group: &str, id: &str) -> bool {
        self.all || self.groups.contains(group) || self.tests.iter().any(|t| t == id)
    }
}

/// The run's change set and rules, built once before the suites are planned.
pub struct Plan {
    pub mode: Mode,
    pub root: PathBuf,
    pub base: Option<String>,
    pub base_source: &'static str,
    /// Every test runs, because of this.
    pub full_run: Option<String>,
    pub changes: Vec<Change>,
    changed: HashSet<PathBuf>,
    /// Deleted paths and renames' old paths.
    removed: Vec<PathBuf>,
    /// Tests whose newest result failed, errored or was flaky.
    pub failing: HashSet<String>,
    /// Lines for people (which base, why everything runs).
    pub notes: Vec<String>,
    out: Mutex<Outcome>,
}

#[derive(Default)]
struct Outcome {
    groups: Vec<AffectedGroup>,
    not_selected: u64,
    /// Per framework: what the selection runs (observation mode compares failures with it).
    selected: HashMap<Framework, Selected>,
    group_of: HashMap<String, String>,
    /// The dependencies handed to [`Plan::select`], for the run directory (`store::DEPS_FILE`).
    deps: Vec<store::DepsRecord>,
}

/// `--since REF` does not name a commit.
#[derive(Debug)]
pub struct BadBase(pub String);

impl std::fmt::Display for BadBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--since {}: not a commit of this repository", self.0)
    }
}
impl std::error::Error for BadBase {}

/// The path as people read it: relative to `root` when inside.
pub fn display(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

impl Plan {
    /// Resolve the base and the change set. A `--since` that names no commit is an error;
    /// no git, or no base, runs everything with the reason.
    pub fn build(root: &Path, req: &Request, history: Option<&History>) -> Result<Plan> {
        let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
        let mut notes = Vec::new();
        let mut full_run = None;
        let mut base = None;
        let mut base_source = "none";
        let mut list = Vec::new();
        if !req.changed.is_empty() {
            base_source = "changed";
            list = changes::given(&root, &req.changed);
        } else {
            match changes::toplevel(&root) {
                None => {
                    full_run = Some(format!(
                        "{} is not in a git work tree: there is no change set, so every test runs",
                        root.display()
                    ))
                }
                Some(top) => {
                    let resolved = if let Some(since) = &req.since {
                        let c = changes::commit_of(&root, since)
                            .ok_or_else(|| BadBase(since.clone()))?;
                        Some((c, "since", format!("--since {since}")))
                    } else {
                        let branch = changes::branch(&root);
                        let passing = history
                            .and_then(|h| {
                                store::last_passing_commit(h, branch.as_deref())
                                    .ok()
                                    .flatten()
                            })
                            .filter(|(_, c)| changes::commit_of(&root, c).is_some());
                        match passing {
                            Some((run, c)) => Some((
                                c,
                                "last_passing_run",
                                format!(
                                    "the last passing run on {} ({run})",
                                    branch.as_deref().unwrap_or("this detached HEAD")
                                ),
                            )),
                            None => changes::merge_base(&root).map(|(r, c)| {
                                (c, "merge_base", format!("the merge base with {r}"))
                            }),
                        }
                    };
                    match resolved {
                        None => {
                            full_run = Some("no base revision: no passing run is recorded on this branch and there is no default branch (origin/HEAD, main, master) to compare with, so every test runs".to_owned())
                        }
                        Some((commit, source, what)) => {
                            let short: String = commit.chars().take(12).collect();
                            notes.push(format!("--affected: changes since {short}, {what}"));
                            list = changes::since(&root, &top, &commit)?;
                            base = Some(commit);
                            base_source = source;
                        }
                    }
                }
            }
        }
        if full_run.is_none() {
            for c in &list {
                let hit = c.paths().find_map(|p| {
                    let rel = display(&root, p).replace('\\', "/");
                    tracked::matching(&rel, &req.always_run).map(|g| (rel, g))
                });
                if let Some((rel, glob)) = hit {
                    full_run = Some(format!(
                        "tracked file {rel} changed (matches `{glob}`): every test runs"
                    ));
                    break;
                }
            }
        }
        let changed: HashSet<PathBuf> = list
            .iter()
            .flat_map(|c| c.paths().map(Path::to_owned))
            .collect();
        let removed = list
            .iter()
            .flat_map(|c| match c.status {
                "deleted" => vec![c.path.clone()],
                _ => c.old_path.iter().cloned().collect(),
            })
            .collect();
        let failing = history
            .and_then(|h| store::failing(h).ok())
            .unwrap_or_default();
        if let Some(why) = &full_run {
            notes.push(format!("--affected: {why}"));
        }
        Ok(Plan {
            mode: req.mode,
            root,
            base,
            base_source,
            full_run,
            changes: list,
            changed,
            removed,
            failing,
            notes,
            out: Mutex::new(Outcome::default()),
        })
    }

    /// Decide which of `framework`'s `groups` run, record the groups' dependencies (under
    /// `fingerprint`) in `history`, and keep the decisions for the run record.
    /// `claims_removed`: whether a deleted path no group names could be one of the
    /// framework's sources (then every group runs: nothing says who used it).
    pub fn select(
        &self,
        framework: Framework,
        fingerprint: &str,
        groups: &[Group],
        history: Option<&History>,
        claims_removed: &dyn Fn(&Path) -> bool,
    ) -> Selected {
        let stored = history
            .and_then(|h| store::load(h, framework.as_str(), &self.root).ok())
            .unwrap_or_default();
        let decisions = decide(
            &Inputs {
                framework,
                full_run: self.full_run.as_deref(),
                changed: &self.changed,
                removed: &self.removed,
                failing: &self.failing,
                fingerprint,
                stored: &stored,
                claims_removed,
                root: &self.root,
            },
            groups,
        );
        if let Some(h) = history {
            let rows: Vec<(String, Vec<PathBuf>)> = groups
                .iter()
                .filter(|g| !g.deps.is_empty())
                .map(|g| (g.id.clone(), g.deps.clone()))
                .collect();
            // Derived data: a failed write only costs a wider selection next time.
            let _ = store::save(h, framework.as_str(), &self.root, fingerprint, &rows);
        }
        let record = store::DepsRecord::of(framework, fingerprint, &self.root, groups);
        let mut selected = Selected {
            all: self.mode != Mode::Select,
            ..Selected::default()
        };
        let mut not_selected = 0u64;
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        for g in groups {
            for t in &g.tests {
                out.group_of.insert(t.clone(), g.id.clone());
            }
        }
        // By id: a suite may have thousands of groups.
        let by_id: HashMap<&str, &Group> = groups.iter().map(|g| (g.id.as_str(), g)).collect();
        for d in &decisions {
            let group = by_id.get(d.group.as_str());
            if d.selected {
                match group {
                    Some(_) => {
                        selected.groups.insert(d.group.clone());
                    }
                    None => selected.tests.push(d.group.clone()),
                }
            } else {
                let n = d.tests.unwrap_or(1);
                // Tests of the group selected on their own still run.
                let back = group.map_or(0, |g| {
                    g.tests.iter().filter(|t| self.failing.contains(*t)).count() as u64
                });
                not_selected += n.saturating_sub(back);
            }
        }
        if self.mode == Mode::Select {
            out.not_selected += not_selected;
        }
        out.groups.extend(decisions);
        out.selected.insert(framework, selected.clone());
        out.deps.push(record);
        selected
    }

    /// Every group of `framework` runs for `rule` (a runner that could not say what the
    /// changes affect, a deleted source its graph cannot follow): one decision per group
    /// in `groups`, or `*` when they are unknown. Nothing is recorded in history.
    pub fn select_all(
        &self,
        framework: Framework,
        groups: &[String],
        rule: &str,
        reason: &str,
        files: Vec<String>,
    ) -> Selected {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let star = ["*".to_owned()];
        let ids = if groups.is_empty() { &star[..] } else { groups };
        for g in ids {
            out.groups.push(AffectedGroup {
                framework,
                group: g.clone(),
                selected: true,
                rule: rule.into(),
                reason: reason.into(),
                files: files.clone(),
                tests: None,
            });
        }
        let selected = Selected {
            all: true,
            groups: ids.iter().cloned().collect(),
            tests: vec![],
        };
        out.selected.insert(framework, selected.clone());
        selected
    }

    /// The dependencies the frameworks handed over, relative to the root: what a run
    /// keeps in its directory so that `merge` can carry a CI shard's into the history
    /// the next pipeline restores.
    pub fn deps(&self) -> Vec<store::DepsRecord> {
        let out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        out.deps.clone()
    }

    /// The decision that covers each test `(framework, id, file)` (`file`: its file,
    /// where known), as the run makes it: the test selected on its own, else its group's
    /// decision (the group that lists it, its file, or the group its id starts with:
    /// `bin$test`, `file::test`, `file#title`, `package::Test`). `None`: the framework
    /// made no selection (nothing left it out). A test in no group the selection saw
    /// runs (rule `no_dependencies`).
    pub fn decisions(
        &self,
        tests: &[(Framework, &str, Option<&str>)],
    ) -> Vec<Option<AffectedGroup>> {
        let out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // By key: a run may have tens of thousands of tests.
        let mut by: HashMap<(Framework, &str), &AffectedGroup> = HashMap::new();
        for g in &out.groups {
            by.entry((g.framework, g.group.as_str())).or_insert(g);
        }
        let single: HashSet<(Framework, &str)> = out
            .selected
            .iter()
            .flat_map(|(f, s)| s.tests.iter().map(move |t| (*f, t.as_str())))
            .collect();
        tests
            .iter()
            .map(|&(framework, id, file)| {
                out.selected.get(&framework)?;
                let of = |group: &str| by.get(&(framework, group)).copied();
                let by_prefix = || {
                    // The longest group the id starts with, followed by a separator.
                    id.char_indices()
                        .filter(|(i, _)| ["$", "::", "#"].iter().any(|s| id[*i..].starts_with(s)))
                        .map(|(i, _)| &id[..i])
                        .rev()
                        .find_map(of)
                };
                let found = of("*")
                    .or_else(|| single.contains(&(framework, id)).then(|| of(id)).flatten())
                    .or_else(|| out.group_of.get(id).and_then(|g| of(g.as_str())))
                    .or_else(|| file.and_then(of))
                    .or_else(by_prefix)
                    .or_else(|| of(id));
                Some(found.cloned().unwrap_or_else(|| AffectedGroup {
                    framework,
                    group: id.to_owned(),
                    selected: true,
                    rule: "no_dependencies".into(),
                    reason: "in no group the selection saw: it runs".into(),
                    files: vec![],
                    tests: Some(1),
                }))
            })
            .collect()
    }

    /// A framework with no dependency data: every one of its tests runs.
    pub fn unsupported(&self, framework: Framework) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if out.groups.iter().any(|g| g.framework == framework) {
            return;
        }
        out.groups.push(AffectedGroup {
            framework,
            group: "*".into(),
            selected: true,
            rule: "no_dependencies".into(),
            reason: format!(
                "{} has no dependency data for --affected: all its tests run",
                framework.as_str()
            ),
            files: vec![],
            tests: None,
        });
        out.selected.insert(
            framework,
            Selected {
                all: true,
                ..Selected::default()
            },
        );
    }

    /// The run record's `affected`.
    pub fn record(&self) -> Affected {
        let out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        Affected {
            mode: crate::choice::Choice::name(self.mode).to_owned(),
            base: self.base.clone(),
            base_source: self.base_source.to_owned(),
            full_run: self.full_run.clone(),
            changed: self
                .changes
                .iter()
                .map(|c| ChangedFile {
                    path: display(&self.root, &c.path),
                    status: c.status.to_owned(),
                    old_path: c.old_path.as_deref().map(|p| display(&self.root, p)),
                })
                .collect(),
            groups: out.groups.clone(),
            not_selected: out.not_selected,
            missed: vec![],
        }
    }

    /// Observation mode: the failures of `tests` the selection would not have run, and how
    /// many of them it would have skipped. A test of a framework or group it never saw
    /// counts as run (nothing would have skipped it).
    pub fn missed(&self, tests: &[crate::model::TestCase]) -> (Vec<String>, u64) {
        // The same lookup `list --affected` shows (one rule for what a selection runs).
        let keys: Vec<(Framework, &str, Option<&str>)> = tests
            .iter()
            .map(|t| (t.framework, t.id.as_str(), t.file.as_deref()))
            .collect();
        let decisions = self.decisions(&keys);
        let mut missed = Vec::new();
        let mut skipped = 0u64;
        for (t, d) in tests.iter().zip(decisions) {
            if d.is_some_and(|d| !d.selected) {
                skipped += 1;
                if t.outcome.is_failure() {
                    missed.push(t.id.clone());
                }
            }
        }
        (missed, skipped)
    }
}

/// What [`decide`] reads.
pub struct Inputs<'a> {
    pub framework: Framework,
    pub full_run: Option<&'a str>,
    pub changed: &'a HashSet<PathBuf>,
    pub removed: &'a [PathBuf],
    pub failing: &'a HashSet<String>,
    pub fingerprint: &'a str,
    pub stored: &'a HashMap<String, store::Stored>,
    pub claims_removed: &'a dyn Fn(&Path) -> bool,
    pub root: &'a Path,
}

/// The rules, in order: a full run selects everything; a group recorded under another
/// environment fingerprint, or never recorded, or without dependencies, is selected; a
/// deleted source that no group names selects everything; a group with a changed
/// dependency (now or as recorded) is selected; otherwise it is not, but its tests that
/// failed, errored or were flaky last time are, one by one.
pub fn decide(i: &Inputs<'_>, groups: &[Group]) -> Vec<AffectedGroup> {
    let count = |g: &Group| (!g.whole && !g.tests.is_empty()).then_some(g.tests.len() as u64);
    let mk =
        |g: &Group, selected: bool, rule: &str, reason: String, files: Vec<String>| AffectedGroup {
            framework: i.framework,
            group: g.id.clone(),
            selected,
            rule: rule.into(),
            reason,
            files,
            tests: count(g),
        };
    if let Some(why) = i.full_run {
        return groups
            .iter()
            .map(|g| mk(g, true, "full_run", why.to_owned(), vec![]))
            .collect();
    }
    let deps_of = |g: &Group| -> HashSet<PathBuf> {
        let mut d: HashSet<PathBuf> = g.deps.iter().cloned().collect();
        if let Some(s) = i.stored.get(&g.id) {
            d.extend(s.files.iter().cloned());
        }
        d
    };
    let all: Vec<HashSet<PathBuf>> = groups.iter().map(deps_of).collect();
    let orphan = i.removed.iter().find(|p| {
        // A file only a vanished group used (a deleted test binary's source) affects
        // no test that is left.
        (i.claims_removed)(p)
            && !all.iter().any(|d| d.contains(*p))
            && !i.stored.values().any(|s| s.files.iter().any(|f| f == *p))
    });
    if let Some(p) = orphan {
        let why = format!(
            "{} was deleted and no recorded dependency names it: every {} test runs",
            display(i.root, p),
            i.framework.as_str()
        );
        return groups
            .iter()
            .map(|g| {
                mk(
                    g,
                    true,
                    "deleted_source",
                    why.clone(),
                    vec![display(i.root, p)],
                )
            })
            .collect();
    }
    let mut out = Vec::new();
    for (g, deps) in groups.iter().zip(&all) {
        let decision = match i.stored.get(&g.id) {
            None => mk(g, true, "no_dependencies", "no dependencies recorded for it yet (new, or first run with --affected)".into(), vec![]),
            Some(s) if s.fingerprint != i.fingerprint => mk(g, true, "fingerprint", "the environment changed since its dependencies were recorded (toolchain, lockfiles or environment variables)".into(), vec![]),
            Some(_) if deps.is_empty() => mk(g, true, "no_dependencies", "no dependencies known".into(), vec![]),
            Some(_) => {
                let mut hit: Vec<String> = deps
                    .iter()
                    .filter(|d| i.changed.contains(*d))
                    .map(|d| display(i.root, d))
                    .collect();
                hit.sort();
                if hit.is_empty() {
                    mk(g, false, "unaffected", format!("none of its {} dependency files changed", deps.len()), vec![])
                } else {
                    let reason = format!("depends on changed {}", hit.join(", "));
                    mk(g, true, "changed_dependency", reason, hit)
                }
            }
        };
        let failed_before = g.tests.iter().any(|t| i.failing.contains(t));
        if !decision.selected && g.whole && failed_before {
            out.push(mk(
                g,
                true,
                "failed_last_run",
                "a test of it failed, errored or was flaky last time (it runs as a whole)".into(),
                vec![],
            ));
            continue;
        }
        let skipped = !decision.selected;
        out.push(decision);
        if skipped && failed_before {
            for t in g.tests.iter().filter(|t| i.failing.contains(*t)) {
                out.push(AffectedGroup {
                    framework: i.framework,
                    group: t.clone(),
                    selected: true,
                    rule: "failed_last_run".into(),
                    reason: "its newest recorded result failed, errored or was flaky".into(),
                    files: vec![],
                    tests: Some(1),
                });
            }
        }
    }
    out
}

/// An environment fingerprint: the toolchain's version text, the environment variables
/// that change how tests build or import, and the project root's tracked files (FNV-1a,
/// stable across builds of testflow).
pub fn fingerprint(root: &Path, toolchain: &str) -> String {
    let mut h = Fnv::default();
    h.write(toolchain.as_bytes());
    for var in [
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "PYTHONPATH",
        "NODE_OPTIONS",
        "NODE_ENV",
        "GOFLAGS",
    ] {
        h.write(var.as_bytes());
        h.write(std::env::var(var).unwrap_or_default().as_bytes());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for f in files.iter().filter(|f| f.is_file()) {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if tracked::matching(name, &[]).is_some() {
            h.write(name.as_bytes());
            h.write(&std::fs::read(f).unwrap_or_default());
        }
    }
    format!("{:016x}", h.0)
}

struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
    }
}

#[cfg(test)]
pub(crate) mod tests;
