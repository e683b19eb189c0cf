//! What a run asks of cargo (packages, features, filters, ignored and doc tests,
//! isolation): plain options, known to every build of the engine; driving cargo with them
//! is `driver`/`suite` (feature `cargo`).

use std::path::PathBuf;
use std::time::Duration;

use crate::model::RustIsolation;

/// Which test processes to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// One process per test (nextest's semantics): a crash or hang takes down only that
    /// test, and no test shares a process with another.
    Process,
    /// One process per test binary (libtest JSON), as `cargo test` runs them: the
    /// default. When the binary crashes, hangs, or its output is not consistent with
    /// itself, its summary and its exit status, its tests (but its failures) are re-run
    /// one per process.
    Binary,
}

impl crate::choice::Choice for Isolation {
    const ALL: &'static [Isolation] = &[Isolation::Process, Isolation::Binary];
    fn name(self) -> &'static str {
        match self {
            Isolation::Process => "process",
            Isolation::Binary => "binary",
        }
    }
    fn help(self) -> Option<&'static str> {
        Some(match self {
            Isolation::Process => {
                "One process per test (nextest's semantics): a crash or hang takes down only that test, and no test shares a process with another"
            }
            Isolation::Binary => {
                "One process per test binary (libtest JSON), as `cargo test` runs them: the default. When the binary crashes, hangs, or its output is not consistent with itself, its summary and its exit status, its tests (but its failures) are re-run one per process"
            }
        })
    }
}

/// `[[isolation]]` in the config: the tests of a package, or whose path contains a
/// string, run in this mode. The first rule that matches a test decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsolationRule {
    pub package: Option<String>,
    /// Substring of the test path (`tests::net::`), as a FILTER matches.
    pub tests: Option<String>,
    pub mode: Isolation,
}

impl IsolationRule {
    fn matches(&self, package: &str, path: &str) -> bool {
        rule_matches(&self.package, &self.tests, package, path)
    }
}

/// `[[timeout]]` in the config: the tests of a package, or whose path contains a string,
/// get this per-test limit (over `--test-timeout`). The first rule that matches decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeoutRule {
    pub package: Option<String>,
    /// Substring of the test path, as in [`IsolationRule`].
    pub tests: Option<String>,
    pub limit: Duration,
}

/// What `[[isolation]]` and `[[timeout]]` rules share: a package, a path substring, or both.
fn rule_matches(
    rule_package: &Option<String>,
    tests: &Option<String>,
    package: &str,
    path: &str,
) -> bool {
    rule_package.as_deref().is_none_or(|p| p == package)
        && tests.as_deref().is_none_or(|t| path.contains(t))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IgnoredMode {
    /// Report `#[ignore]` tests as skipped.
    #[default]
    Skip,
    /// Run only the ignored tests.
    Only,
    /// Run ignored tests too.
    Include,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DocMode {
    #[default]
    Include,
    Skip,
    Only,
}

/// cargo's own package and feature selection, passed through unchanged.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Directory cargo runs in (the current directory when `None`).
    pub dir: Option<PathBuf>,
    pub manifest_path: Option<PathBuf>,
    pub packages: Vec<String>,
    pub workspace: bool,
    pub exclude: Vec<String>,
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
    pub release: bool,
    /// Target selection (`--lib`, `--bins`, `--tests`, `--test NAME`); empty: cargo's default.
    pub targets: Vec<String>,
    /// Extra environment for cargo's builds (cargo-llvm-cov's, under coverage).
    pub env: Vec<(String, String)>,
}

impl Selection {
    pub fn cargo_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        if let Some(m) = &self.manifest_path {
            a.extend(["--manifest-path".into(), m.display().to_string()]);
        }
        for p in &self.packages {
            a.extend(["--package".into(), p.clone()]);
        }
        if self.workspace {
            a.push("--workspace".into());
        }
        for e in &self.exclude {
            a.extend(["--exclude".into(), e.clone()]);
        }
        if !self.features.is_empty() {
            a.extend(["--features".into(), self.features.join(",")]);
        }
        if self.all_features {
            a.push("--all-features".into());
        }
        if self.no_default_features {
            a.push("--no-default-features".into());
        }
        if self.release {
            a.push("--release".into());
        }
        a
    }

    /// Arguments for building test binaries: the selection plus target selection.
    pub fn build_args(&self) -> Vec<String> {
        let mut a = self.cargo_args();
        a.extend(self.targets.iter().cloned());
        a
    }
}

#[derive(Clone, Debug, Default)]
pub struct CargoOptions {
    pub selection: Selection,
    /// Substring filters on the test path; a test runs when any matches (none: all run).
    pub filters: Vec<String>,
    pub ignored: IgnoredMode,
    pub doc: DocMode,
    /// `--isolation` (or `run.isolation`): every test in this mode, rules or not.
    pub isolation: Option<Isolation>,
    /// `[[isolation]]` rules, for tests `isolation` does not decide (it is unset).
    pub isolation_rules: Vec<IsolationRule>,
    /// `[[timeout]]` rules: tests with their own per-test limit.
    pub timeout_rules: Vec<TimeoutRule>,
    /// Test ids to schedule before the others, in this order (previous failures,
    /// slowest first, …); the rest keep cargo's order.
    pub first: Vec<String>,
    /// When set, only these test ids run (a shard, `--last-failed`). Doctests of a
    /// package are one shard item, `<package>::doctest`.
    pub only: Option<std::collections::HashSet<String>>,
}

impl CargoOptions {
    pub fn selects(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }

    /// How this test runs: `--isolation`, else the first matching `[[isolation]]` rule,
    /// else one process per binary.
    pub fn isolation_of(&self, package: &str, path: &str) -> Isolation {
        self.isolation
            .or_else(|| {
                self.isolation_rules
                    .iter()
                    .find(|r| r.matches(package, path))
                    .map(|r| r.mode)
            })
            .unwrap_or(Isolation::Binary)
    }

    /// This test's per-test limit: the first matching `[[timeout]]` rule, else `default`
    /// (the run's `--test-timeout`).
    pub fn timeout_of(
        &self,
        package: &str,
        path: &str,
        default: Option<Duration>,
    ) -> Option<Duration> {
        self.timeout_rules
            .iter()
            .find(|r| rule_matches(&r.package, &r.tests, package, path))
            .map(|r| r.limit)
            .or(default)
    }

    /// The run's isolation as recorded (`Environment::rust_isolation`): `binary`,
    /// `process`, or `mixed` when `[[isolation]]` rules can give the tests of these
    /// packages both modes.
    pub fn isolation_summary(&self, packages: &[&str]) -> RustIsolation {
        let name = |m: Isolation| match m {
            Isolation::Binary => RustIsolation::Binary,
            Isolation::Process => RustIsolation::Process,
        };
        if let Some(m) = self.isolation {
            return name(m);
        }
        // Per package: the rules that can apply, up to one that takes all its tests;
        // without one, the default too.
        let mut modes = Vec::new();
        for p in packages {
            let mut covered = false;
            for r in &self.isolation_rules {
                if r.package.as_deref().is_some_and(|rp| rp != *p) {
                    continue;
                }
                modes.push(r.mode);
                if r.tests.is_none() {
                    covered = true;
                    break;
                }
            }
            if !covered {
                modes.push(Isolation::Binary);
            }
        }
        if modes.is_empty() {
            return RustIsolation::Binary;
        }
        if modes.iter().all(|m| *m == modes[0]) {
            name(modes[0])
        } else {
            RustIsolation::Mixed
        }
    }
}

/// `cargo metadata` failed: no workspace there, or a broken manifest
/// (`crate::error::Error::Metadata`).
#[derive(Debug, thiserror::Error)]
#[error("cannot read the cargo workspace: {0}")]
pub struct MetadataFailed(pub String);

/// The build failed; cargo's diagnostics were already shown and are kept here
/// (`crate::error::Error::Build`).
#[derive(Debug, thiserror::Error)]
#[error("the build failed")]
pub struct BuildFailed {
    pub diagnostics: String,
}

#[cfg(test)]
mod choice_tests {
    #[test]
    fn every_isolation_is_found_by_its_name() {
        crate::choice::assert_names_round_trip::<super::Isolation>();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_timeout_rule_wins_over_the_runs_limit() {
        let rule = |package: Option<&str>, tests: Option<&str>, secs| TimeoutRule {
            package: package.map(str::to_owned),
            tests: tests.map(str::to_owned),
            limit: Duration::from_secs(secs),
        };
        let o = CargoOptions {
            timeout_rules: vec![
                rule(Some("db"), Some("slow_"), 300),
                rule(None, Some("slow_"), 60),
                rule(Some("db"), None, 20),
            ],
            ..CargoOptions::default()
        };
        let run = Some(Duration::from_secs(5));
        let of = |package, path| o.timeout_of(package, path, run).map(|d| d.as_secs());
        assert_eq!(of("db", "tests::slow_import"), Some(300));
        assert_eq!(of("net", "tests::slow_import"), Some(60));
        assert_eq!(of("db", "tests::quick"), Some(20));
        assert_eq!(of("net", "tests::quick"), Some(5));
        assert_eq!(o.timeout_of("net", "tests::quick", None), None);
    }
}
