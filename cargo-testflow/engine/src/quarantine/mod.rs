//! Quarantine: tests that still run and are reported, but whose failures fail neither the
//! run nor the gates.
//!
//! Entries come from the configuration (`[[quarantine]]`, see `docs/config.md`) and from
//! `run --quarantine-flaky` (tests history calls flaky across runs). The driver writes
//! them into the run's event log; the fold ([`resolve`]) decides which of the run's tests
//! they match and which entries have expired, so every door (run, gate, merge, the
//! pytest and Jest recorders) reads the same verdict from the `Run`. Only test outcomes
//! are excused: run errors still fail the run closed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::model::{Quarantine, QuarantineEntry};

pub const ORIGIN_CONFIG: &str = "config";
pub const ORIGIN_FLAKY: &str = "flaky";

pub use testflow_schema::quarantine::{glob_match, resolve};

pub use crate::names::parse_date;

/// Join the entries of several runs (shards) once each.
pub fn union(runs: impl IntoIterator<Item = Vec<QuarantineEntry>>) -> Vec<QuarantineEntry> {
    let mut out: Vec<QuarantineEntry> = Vec::new();
    for entries in runs {
        for mut e in entries {
            e.expired = false;
            e.matched = 0;
            if !out.contains(&e) {
                out.push(e);
            }
        }
    }
    out
}

/// The entries a configuration sets (checked by `Config::validate`).
pub fn from_config(
    rules: &[crate::config::QuarantineRule],
    source: Option<&Path>,
) -> Vec<QuarantineEntry> {
    rules
        .iter()
        .map(|r| QuarantineEntry {
            id: r.id.clone(),
            pattern: r.pattern.clone(),
            reason: r.reason.clone().unwrap_or_default(),
            until: r.until.as_deref().and_then(|u| parse_date(u).ok()),
            origin: ORIGIN_CONFIG.into(),
            source: source.map(|s| s.display().to_string()),
            expired: false,
            matched: 0,
        })
        .collect()
}

/// Entries for the tests history calls flaky across runs with a rate above `above`.
pub fn from_flaky(flaky: &[crate::history::FlakyTest], above: f64) -> Vec<QuarantineEntry> {
    flaky
        .iter()
        .filter(|f| f.flipped_trees > 0 && f.tree_rate > above)
        .map(|f| QuarantineEntry {
            id: Some(f.test_id.clone()),
            pattern: None,
            reason: format!(
                "flaky across runs: failed {} of {} results on trees where it also passed (rate {:.1}% > {:.1}%), last seen {}",
                f.tree_failures,
                f.tree_results,
                f.tree_rate * 100.0,
                above * 100.0,
                f.last_seen.as_deref().unwrap_or("-")
            ),
            until: None,
            origin: ORIGIN_FLAKY.into(),
            source: None,
            expired: false,
            matched: 0,
        })
        .collect()
}

/// Warnings for a resolved quarantine: entries that matched no test of the run.
pub fn warnings(q: &Quarantine) -> Vec<String> {
    q.entries
        .iter()
        .filter(|e| e.matched == 0 && e.origin == ORIGIN_CONFIG)
        .map(|e| {
            format!(
                "quarantine entry `{}`{} matches no test of this run",
                e.target(),
                e.source
                    .as_deref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default()
            )
        })
        .collect()
}

/// The ids of a run's quarantined tests, for a quick lookup.
pub fn ids(q: Option<&Quarantine>) -> HashSet<&str> {
    q.map(|q| q.tests.iter().map(|t| t.id.as_str()).collect())
        .unwrap_or_default()
}

// ---- editing the configuration file (`cargo testflow quarantine add|remove`) ----

/// Where `quarantine add` writes: the configuration file found for the project, or a new
/// `testflow.toml` in `root` when there is none.
pub fn config_file(found: Option<&Path>, root: &Path) -> PathBuf {
    found
        .map(Path::to_owned)
        .unwrap_or_else(|| root.join("testflow.toml"))
}

// Editing keeps the file's comments and layout (toml_edit): only the command line does it.
#[cfg(feature = "edit")]
mod edit;
#[cfg(feature = "edit")]
pub use edit::{Added, add, remove};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Framework, Outcome, TestCase, TestMeta};
    use chrono::Utc;

    #[test]
    fn globs_match_whole_ids() {
        let cases = [
            ("tests/test_net.py::*", "tests/test_net.py::test_a", true),
            ("tests/test_net.py::*", "tests/test_net.py", false),
            ("*$net::*", "calc$net::tests::port", true),
            ("calc$net::?", "calc$net::a", true),
            ("calc$net::?", "calc$net::ab", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("**a", "bba", true),
            ("a[1]", "a[1]", true),
        ];
        for (p, t, want) in cases {
            assert_eq!(glob_match(p, t), want, "{p} vs {t}");
        }
    }

    #[test]
    fn dates_are_yyyy_mm_dd() {
        assert_eq!(
            parse_date("2026-12-31"),
            Ok(chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap())
        );
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "2026-1-5",
            "31.12.2026",
            "",
            "tomorrow",
        ] {
            let e = parse_date(bad).unwrap_err();
            assert!(e.contains("is not a date: write YYYY-MM-DD"), "{bad}: {e}");
        }
    }

    fn case(id: &str, outcome: Outcome) -> TestCase {
        TestCase::from_attempts(
            TestMeta {
                id: id.into(),
                framework: Framework::Rust,
                name: id.into(),
                suite: vec![],
                file: None,
                line: None,
                binary: None,
            },
            vec![crate::model::Attempt {
                attempt: 1,
                outcome,
                duration_ms: 1.0,
                started_at: None,
                failure: None,
                concurrent: None,
                attachments: vec![],
            }],
        )
    }

    fn entry(id: Option<&str>, pattern: Option<&str>, until: Option<&str>) -> QuarantineEntry {
        QuarantineEntry {
            id: id.map(Into::into),
            pattern: pattern.map(Into::into),
            reason: "r".into(),
            until: until.map(|u| parse_date(u).unwrap()),
            origin: ORIGIN_CONFIG.into(),
            source: None,
            expired: false,
            matched: 0,
        }
    }

    #[test]
    fn resolve_matches_tests_and_expires_entries_on_the_run_day() {
        let tests = vec![
            case("a$x", Outcome::Failed),
            case("a$y", Outcome::Passed),
            case("b$z", Outcome::Failed),
        ];
        let day = |d: &str| {
            parse_date(d)
                .unwrap()
                .and_hms_opt(12, 0, 0)
                .unwrap()
                .and_utc()
        };
        let entries = vec![
            entry(Some("a$x"), None, Some("2026-06-30")),
            entry(None, Some("b$*"), None),
            entry(Some("gone"), None, None),
        ];
        let q = resolve(entries.clone(), &tests, day("2026-06-30")).unwrap();
        let ids: Vec<&str> = q.tests.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["a$x", "b$z"], "the last day still applies");
        assert_eq!(
            q.entries.iter().map(|e| e.matched).collect::<Vec<_>>(),
            [1, 1, 0]
        );
        assert_eq!(warnings(&q).len(), 1);
        let q = resolve(entries, &tests, day("2026-07-01")).unwrap();
        assert!(q.entries[0].expired, "expired the day after");
        let ids: Vec<&str> = q.tests.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["b$z"], "an expired entry quarantines nothing");
        assert!(resolve(vec![], &tests, day("2026-07-01")).is_none());
    }

    #[test]
    fn the_verdict_leaves_quarantined_failures_out() {
        let mut run = crate::model::Run::of_tests(
            "r",
            Utc::now(),
            vec![case("a$x", Outcome::Failed), case("a$y", Outcome::Passed)],
            1.0,
        );
        assert_eq!(run.verdict_summary().failures(), 1);
        run.quarantine = resolve(
            vec![entry(Some("a$x"), None, None)],
            &run.tests,
            run.started_at,
        );
        assert_eq!(run.verdict_summary().failures(), 0);
        assert_eq!(
            run.recomputed_summary().failures(),
            1,
            "never counted as passed"
        );
        // The stored list is not trusted: the entries decide.
        let mut edited = run.clone();
        if let Some(q) = &mut edited.quarantine {
            q.entries.clear();
        }
        assert_eq!(edited.verdict_summary().failures(), 1);
    }

    #[cfg(feature = "edit")]
    #[test]
    fn add_and_remove_keep_comments_and_formatting() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("testflow.toml");
        let original = "# our settings\n[run]\njobs = 2   # two is enough\n";
        std::fs::write(&p, original).unwrap();
        let rule = crate::config::QuarantineRule {
            id: Some("a$x".into()),
            pattern: None,
            reason: Some("races".into()),
            until: Some("2026-12-31".into()),
        };
        assert_eq!(add(&p, &rule).unwrap(), Added::New);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with(original), "{text}");
        assert!(
            text.contains(
                "[[quarantine]]\nid = \"a$x\"\nreason = \"races\"\nuntil = \"2026-12-31\"\n"
            ),
            "{text}"
        );
        let again = crate::config::QuarantineRule {
            reason: Some("still races".into()),
            until: None,
            ..rule
        };
        assert_eq!(add(&p, &again).unwrap(), Added::Replaced);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("reason = \"still races\""), "{text}");
        assert!(!text.contains("until"), "{text}");
        assert_eq!(remove(&p, "a$x").unwrap(), 1);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), original);
        assert_eq!(remove(&p, "a$x").unwrap(), 0);
        // pyproject.toml: under [tool.testflow].
        let p = d.path().join("pyproject.toml");
        std::fs::write(&p, "[project]\nname = \"x\"\n").unwrap();
        add(&p, &again).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("[[tool.testflow.quarantine]]"), "{text}");
        let c = crate::config::load(d.path());
        assert!(c.is_ok(), "{c:?}");
    }
}
