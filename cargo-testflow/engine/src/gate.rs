//! Exit criteria and quality gates over a `Run`.
//!
//! A gate the run cannot measure (coverage before coverage is collected) is reported as
//! `not_measured` and fails when required: never a silent pass.

use serde::Serialize;

use crate::model::{Run, RunCoverage};

pub use crate::names::GateName;

impl GateName {
    fn is_minimum(self) -> bool {
        matches!(
            self,
            GateName::MinPassRate
                | GateName::MinTests
                | GateName::MinCoverage
                | GateName::MinFileCoverage
        )
    }
}

/// One gate to apply: a threshold, and whether failing it fails the run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gate {
    pub name: GateName,
    pub threshold: f64,
    pub required: bool,
}

/// The gates applied when nothing is configured: the run is trustworthy, everything
/// passed, and something ran.
pub fn default_gates() -> Vec<Gate> {
    vec![
        Gate {
            name: GateName::NoRunErrors,
            threshold: 0.0,
            required: true,
        },
        Gate {
            name: GateName::MinPassRate,
            threshold: 1.0,
            required: true,
        },
        Gate {
            name: GateName::MinTests,
            threshold: 1.0,
            required: true,
        },
    ]
}

/// Replace or add gates by name (command line over config over defaults).
pub fn merge(base: Vec<Gate>, overrides: &[Gate]) -> Vec<Gate> {
    let mut out = base;
    for o in overrides {
        match out.iter_mut().find(|g| g.name == o.name) {
            Some(g) => *g = *o,
            None => out.push(*o),
        }
    }
    out
}

/// The gates a settings table sets (a configuration file, or the command line as one).
/// Rates were checked where they were read (`Config::validate`, the command line); the
/// coverage gates compare percentages, so their rates become percent here.
fn thresholds(cfg: &crate::config::GatesConfig) -> Vec<Gate> {
    let rate = |r: &Option<crate::config::RateSetting>| r.as_ref().and_then(|r| r.value().ok());
    let percent = |r: &Option<crate::config::RateSetting>| rate(r).map(|v| v * 100.0);
    [
        (GateName::MinPassRate, rate(&cfg.min_pass_rate)),
        (GateName::MinTests, cfg.min_tests.map(|n| n as f64)),
        (GateName::MaxSkipped, cfg.max_skipped.map(|n| n as f64)),
        (GateName::MaxFlaky, cfg.max_flaky.map(|n| n as f64)),
        (GateName::MaxDuration, cfg.max_duration),
        (GateName::MinCoverage, percent(&cfg.min_coverage)),
        (GateName::MinFileCoverage, percent(&cfg.min_file_coverage)),
        (
            GateName::NoCoverageDrop,
            cfg.no_coverage_drop.and_then(|d| d.points()),
        ),
    ]
    .into_iter()
    .filter_map(|(name, t)| {
        t.map(|threshold| Gate {
            name,
            threshold,
            required: true,
        })
    })
    .collect()
}

/// The gates to apply: the command line over the configuration file over the defaults;
/// a gate named `advisory` in either is reported but does not fail.
pub fn configured(
    file: &crate::config::GatesConfig,
    cli: &crate::config::GatesConfig,
) -> Vec<Gate> {
    let mut gates = merge(merge(default_gates(), &thresholds(file)), &thresholds(cli));
    let advisory: Vec<GateName> = [file, cli]
        .iter()
        .flat_map(|c| c.advisory.iter().flatten().copied())
        .collect();
    for g in &mut gates {
        if advisory.contains(&g.name) {
            g.required = false;
        }
    }
    if advisory.contains(&GateName::Quarantine)
        && !gates.iter().any(|g| g.name == GateName::Quarantine)
    {
        gates.push(QUARANTINE_GATE);
        if let Some(g) = gates.last_mut() {
            g.required = false;
        }
    }
    gates
}

/// Added to the gates of a run that has a quarantine (unless already there).
const QUARANTINE_GATE: Gate = Gate {
    name: GateName::Quarantine,
    threshold: 0.0,
    required: true,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GateStatus {
    Pass,
    Fail,
    NotMeasured,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GateResult {
    pub gate: GateName,
    pub threshold: f64,
    /// `None` when the run does not measure it.
    pub actual: Option<f64>,
    pub status: GateStatus,
    pub required: bool,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GateReport {
    pub run_id: String,
    /// Every required gate passed.
    pub passed: bool,
    pub gates: Vec<GateResult>,
}

/// Pass rate over tests that ran: passed (including flaky), xfailed and xpassed over
/// everything not skipped.
pub fn pass_rate(run: &Run) -> Option<f64> {
    rate_of(&run.verdict_summary())
}

fn rate_of(s: &crate::model::Summary) -> Option<f64> {
    let ran = s.total.saturating_sub(s.skipped);
    (ran > 0).then(|| (s.passed + s.xfailed + s.xpassed) as f64 / ran as f64)
}

/// Evaluate the gates; the coverage gates are measured on the run's coverage.
pub fn evaluate(run: &Run, gates: &[Gate]) -> GateReport {
    evaluate_with(run, gates, run.coverage.as_ref())
}

/// Evaluate the gates with the coverage gates measured on `coverage` (line coverage, in
/// percent); without coverage they are `not_measured`.
/// `cargo testflow gate`: judge `run`; coverage report files, when given, replace the
/// run's own coverage, compared with the same baseline from the history of the project
/// at `root` (paths in the reports are read relative to `root`).
pub fn evaluate_stored(
    run: &Run,
    gates: &[Gate],
    coverage_files: &[std::path::PathBuf],
    root: &std::path::Path,
) -> anyhow::Result<GateReport> {
    if coverage_files.is_empty() {
        return Ok(evaluate_with(run, gates, run.coverage.as_ref()));
    }
    let mut summary = crate::coverage::load(coverage_files, root)?.summary();
    summary.previous =
        crate::history::History::open_existing(crate::store::Store::for_project(root).root())
            .ok()
            .flatten()
            .and_then(|h| h.coverage_baseline(run, &summary.files).ok().flatten());
    Ok(evaluate_with(run, gates, Some(&summary)))
}

pub fn evaluate_with(run: &Run, gates: &[Gate], coverage: Option<&RunCoverage>) -> GateReport {
    // Counted from the tests themselves, never from the stored summary; the quarantined
    // tests are left out of the rates and counts (not of min_tests: they were recorded).
    let all = &run.recomputed_summary();
    let s = &run.verdict_summary();
    let left_out = all.total - s.total;
    let quarantine = run.recomputed_quarantine();
    let mut gates = gates.to_vec();
    if quarantine.is_some() && !gates.iter().any(|g| g.name == GateName::Quarantine) {
        gates.push(QUARANTINE_GATE);
    }
    let distrust = run.distrust();
    let results: Vec<GateResult> = gates
        .iter()
        .map(|g| {
            let (actual, detail) = match g.name {
                GateName::NoRunErrors => (
                    Some(distrust.len() as f64),
                    if distrust.is_empty() {
                        "no run errors".to_owned()
                    } else {
                        format!(
                            "{}: {}",
                            crate::ui::plural(distrust.len() as u64, "run error", "run errors"),
                            distrust.join("; ")
                        )
                    },
                ),
                GateName::MinPassRate => {
                    let r = rate_of(s);
                    let d = match r {
                        Some(_) => format!(
                            "{} of {} that ran passed",
                            s.passed + s.xfailed + s.xpassed,
                            crate::ui::plural(s.total.saturating_sub(s.skipped), "test", "tests")
                        ),
                        None => "no test ran".to_owned(),
                    };
                    (r, d + &quarantined_note(left_out))
                }
                GateName::MinTests => (
                    Some(all.total as f64),
                    format!("{} recorded", crate::ui::plural(all.total, "test", "tests")),
                ),
                GateName::MaxSkipped => (
                    Some(s.skipped as f64),
                    format!("{} skipped{}", s.skipped, quarantined_note(left_out)),
                ),
                GateName::MaxFlaky => (
                    Some(s.flaky as f64),
                    format!(
                        "{} flaky (passed on a retry){}",
                        s.flaky,
                        quarantined_note(left_out)
                    ),
                ),
                GateName::Quarantine => quarantine_gate(quarantine.as_ref()),
                GateName::MaxDuration => (
                    Some(s.duration_ms / 1000.0),
                    format!("run took {:.1}s", s.duration_ms / 1000.0),
                ),
                GateName::MinCoverage => match coverage.map(|c| c.totals.lines) {
                    Some(r) if r.percent.is_some() => (
                        r.percent,
                        format!("{} of {} lines covered", r.covered, r.total),
                    ),
                    Some(_) => (None, no_lines(coverage)),
                    None => (None, NOT_MEASURED.to_owned()),
                },
                GateName::MinFileCoverage => match coverage {
                    Some(c) => file_coverage(c, g.threshold),
                    None => (None, NOT_MEASURED.to_owned()),
                },
                GateName::NoCoverageDrop => match coverage {
                    Some(c) => coverage_drop(c, run),
                    None => (None, NOT_MEASURED.to_owned()),
                },
            };
            let status = match actual {
                None => GateStatus::NotMeasured,
                Some(a) if g.name.is_minimum() && a + 1e-12 >= g.threshold => GateStatus::Pass,
                Some(a) if !g.name.is_minimum() && a <= g.threshold + 1e-12 => GateStatus::Pass,
                Some(_) => GateStatus::Fail,
            };
            GateResult {
                gate: g.name,
                threshold: g.threshold,
                actual,
                status,
                required: g.required,
                detail,
            }
        })
        .collect();
    let passed = results
        .iter()
        .all(|r| !r.required || r.status == GateStatus::Pass);
    GateReport {
        run_id: run.run_id.clone(),
        passed,
        gates: results,
    }
}

const NOT_MEASURED: &str = "coverage was not measured for this run";

fn quarantined_note(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({} quarantined, not counted)", n)
    }
}

/// Expired entries fail it, each named with its date and file; otherwise what the
/// quarantine held in this run.
fn quarantine_gate(q: Option<&crate::model::Quarantine>) -> (Option<f64>, String) {
    let Some(q) = q else {
        return (Some(0.0), "nothing is quarantined".to_owned());
    };
    let expired: Vec<String> = q
        .entries
        .iter()
        .filter(|e| e.expired)
        .map(|e| {
            format!(
                "`{}` expired on {}{}: remove it or give a new date",
                e.target(),
                e.until.map(|u| u.to_string()).unwrap_or_default(),
                e.source
                    .as_deref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default()
            )
        })
        .collect();
    let failing = q.tests.iter().filter(|t| t.outcome.is_failure()).count();
    let held = format!(
        "{} quarantined ({failing} failing, not counted)",
        crate::ui::plural(q.tests.len() as u64, "test", "tests")
    );
    if expired.is_empty() {
        (Some(0.0), held)
    } else {
        (
            Some(expired.len() as f64),
            format!(
                "{}: {}; {held}",
                crate::ui::plural(expired.len() as u64, "expired entry", "expired entries"),
                expired.join("; ")
            ),
        )
    }
}

/// Why coverage with no lines measures nothing: the frameworks that did not collect it.
fn no_lines(c: Option<&RunCoverage>) -> String {
    let why: Vec<String> = c
        .into_iter()
        .flat_map(|c| &c.frameworks)
        .filter(|f| f.status != "collected")
        .map(|f| {
            format!(
                "{} {}: {}",
                f.framework.as_str(),
                f.status,
                f.message.as_deref().unwrap_or("")
            )
        })
        .collect();
    if why.is_empty() {
        "the coverage reports have no lines".to_owned()
    } else {
        format!("no coverage was collected ({})", why.join("; "))
    }
}

/// How far total line coverage fell since the previous whole run on the branch, in
/// points (negative: it rose). Nothing to compare with is a pass that says so. A run that
/// `--affected` narrowed is not compared (its coverage is a selection's), and runs that
/// were narrowed are never the baseline: both said in the detail.
fn coverage_drop(c: &RunCoverage, run: &Run) -> (Option<f64>, String) {
    let Some(now) = c.totals.lines.percent else {
        return (None, no_lines(Some(c)));
    };
    if let Some(a) = run.affected.as_ref().filter(|a| a.not_selected > 0) {
        return (
            Some(0.0),
            format!(
                "{now:.2}% now; not compared: --affected left {} out of this run, so its coverage is a selection's (the drop is measured between whole runs)",
                crate::ui::plural(a.not_selected, "test", "tests")
            ),
        );
    }
    let Some(prev) = &c.previous else {
        return (
            Some(0.0),
            format!(
                "{now:.2}% now; no earlier whole run on this branch measured coverage (runs --affected narrowed are passed over), nothing to compare"
            ),
        );
    };
    let Some(before) = prev.lines.percent else {
        return (
            Some(0.0),
            format!("{now:.2}% now; run {} measured no lines", prev.run_id),
        );
    };
    let drop = before - now;
    let mut worst: Vec<(f64, &str)> = prev
        .changed_files
        .iter()
        .filter_map(|f| {
            let b = f.before?.percent?;
            let a = f.after.and_then(|a| a.percent).unwrap_or(0.0);
            (a < b).then_some((b - a, f.path.as_str()))
        })
        .collect();
    worst.sort_by(|a, b| b.0.total_cmp(&a.0));
    let fell: Vec<String> = worst
        .iter()
        .take(3)
        .map(|(d, p)| format!("{p} -{d:.1} pts"))
        .collect();
    let mut detail = format!("{before:.2}% in run {} -> {now:.2}% now", prev.run_id);
    if prev.skipped_affected > 0 {
        detail.push_str(&format!(
            " (passed over {} that --affected narrowed: a selection's coverage is not a baseline)",
            crate::ui::plural(prev.skipped_affected, "newer run", "newer runs")
        ));
    }
    if !fell.is_empty() {
        detail.push_str(&format!("; fell most: {}", fell.join(", ")));
    }
    (Some(drop), detail)
}

/// The lowest line coverage of any file with lines, naming the files below `threshold`.
fn file_coverage(c: &RunCoverage, threshold: f64) -> (Option<f64>, String) {
    let mut rows: Vec<(f64, String)> = c
        .files
        .iter()
        .filter_map(|f| f.totals.lines.percent.map(|p| (p, f.path.clone())))
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let Some((worst, worst_path)) = rows.first().cloned() else {
        return (None, no_lines(Some(c)));
    };
    let below: Vec<String> = rows
        .iter()
        .filter(|(p, _)| p + 1e-12 < threshold)
        .map(|(p, f)| format!("{f} {p:.1}%"))
        .collect();
    let detail = if below.is_empty() {
        format!("lowest: {worst_path} {worst:.1}% ({} files)", rows.len())
    } else {
        let shown = below.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        let more = below.len().saturating_sub(5);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        format!(
            "{} of {} files below: {shown}{more}",
            below.len(),
            rows.len()
        )
    };
    (Some(worst), detail)
}

/// The gate table for people.
pub fn render_human(r: &GateReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<15} {:>10} {:>10}  {:<15} detail",
        "gate", "threshold", "actual", "result"
    );
    for g in &r.gates {
        let op = if g.gate.is_minimum() { ">=" } else { "<=" };
        let actual = g.actual.map_or_else(|| "-".to_owned(), fmt_num);
        let result = match (g.status, g.required) {
            (GateStatus::Pass, _) => "pass",
            (GateStatus::Fail, true) => "FAIL",
            (GateStatus::Fail, false) => "fail (advisory)",
            (GateStatus::NotMeasured, true) => "NOT MEASURED",
            (GateStatus::NotMeasured, false) => "not measured",
        };
        let _ = writeln!(
            out,
            "{:<15} {:>10} {:>10}  {:<15} {}",
            g.gate.as_str(),
            format!("{op} {}", fmt_num(g.threshold)),
            actual,
            result,
            g.detail
        );
    }
    let _ = writeln!(
        out,
        "{}",
        if r.passed {
            "gates passed"
        } else {
            "gates FAILED"
        }
    );
    out
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Summary;

    #[test]
    fn details_agree_in_number() {
        let one = run(Summary {
            total: 1,
            passed: 1,
            ..Summary::default()
        });
        let r = evaluate(&one, &default_gates());
        let detail = |g: GateName| r.gates.iter().find(|x| x.gate == g).unwrap().detail.clone();
        assert_eq!(detail(GateName::MinTests), "1 test recorded");
        assert_eq!(detail(GateName::MinPassRate), "1 of 1 test that ran passed");
    }

    /// A run whose tests are exactly what `summary` counts (gates count the tests).
    fn run(summary: Summary) -> Run {
        use crate::model::{Attempt, Framework, Outcome, TestCase, TestMeta};
        let mut tests = Vec::new();
        let mut flaky = summary.flaky;
        for o in Outcome::ALL {
            for i in 0..summary.count(o) {
                let meta = TestMeta {
                    id: format!("{}{i}", o.as_str()),
                    framework: Framework::Rust,
                    name: format!("{}{i}", o.as_str()),
                    suite: vec![],
                    file: None,
                    line: None,
                    binary: None,
                };
                let att = |n, outcome| Attempt {
                    attempt: n,
                    outcome,
                    duration_ms: 1.0,
                    started_at: None,
                    failure: None,
                    concurrent: None,
                    attachments: vec![],
                };
                let attempts = if o == Outcome::Passed && flaky > 0 {
                    flaky -= 1;
                    vec![att(1, Outcome::Failed), att(2, Outcome::Passed)]
                } else {
                    vec![att(1, o)]
                };
                tests.push(TestCase::from_attempts(meta, attempts));
            }
        }
        let r = Run::of_tests("r", chrono::Utc::now(), tests, summary.duration_ms);
        assert_eq!(
            r.summary, summary,
            "the test helper builds what it is asked"
        );
        r
    }

    #[test]
    fn run_errors_a_damaged_log_and_a_lying_summary_fail_the_default_gates() {
        let green = run(Summary {
            total: 2,
            passed: 2,
            ..Summary::default()
        });
        assert!(evaluate(&green, &default_gates()).passed);
        let mut errored = green.clone();
        errored.errors.push(crate::model::RunError {
            kind: crate::model::error_kind::RECONCILE.into(),
            message: "pytest counted 1 failed, testflow recorded 0".into(),
        });
        let r = evaluate(&errored, &default_gates());
        assert!(!r.passed);
        assert_eq!(r.gates[0].gate, GateName::NoRunErrors);
        assert_eq!(r.gates[0].status, GateStatus::Fail);
        assert!(r.gates[0].detail.contains("pytest counted 1 failed"));
        let mut incomplete = green.clone();
        incomplete.completed = false;
        assert!(!evaluate(&incomplete, &default_gates()).passed);
        // A summary that says more passed (or skipped more than exist) is not believed.
        let mut lying = run(Summary {
            total: 2,
            passed: 1,
            failed: 1,
            ..Summary::default()
        });
        lying.summary.passed = 2;
        lying.summary.failed = 0;
        lying.summary.skipped = u64::MAX;
        let r = evaluate(&lying, &default_gates());
        assert!(!r.passed);
        assert_eq!(r.gates[1].actual, Some(0.5), "pass rate from the tests");
        assert!(r.gates[0].detail.contains("summary_mismatch"));
    }

    fn gate(name: GateName, threshold: f64) -> Gate {
        Gate {
            name,
            threshold,
            required: true,
        }
    }

    #[test]
    fn default_gates_fail_on_a_failure_and_on_no_tests() {
        let green = run(Summary {
            total: 10,
            passed: 9,
            skipped: 1,
            ..Summary::default()
        });
        assert!(evaluate(&green, &default_gates()).passed);
        let red = run(Summary {
            total: 10,
            passed: 9,
            failed: 1,
            ..Summary::default()
        });
        let r = evaluate(&red, &default_gates());
        assert!(!r.passed);
        assert_eq!(r.gates[1].actual, Some(0.9));
        let empty = run(Summary::default());
        let r = evaluate(&empty, &default_gates());
        assert!(!r.passed);
        assert_eq!(r.gates[0].status, GateStatus::Pass);
        assert_eq!(r.gates[1].status, GateStatus::NotMeasured);
        assert_eq!(r.gates[2].status, GateStatus::Fail);
    }

    #[test]
    fn maximum_gates_and_advisory_gates() {
        let r = run(Summary {
            total: 10,
            passed: 10,
            skipped: 0,
            flaky: 2,
            duration_ms: 61_000.0,
            ..Summary::default()
        });
        let gates = [
            gate(GateName::MaxFlaky, 1.0),
            Gate {
                name: GateName::MaxDuration,
                threshold: 60.0,
                required: false,
            },
            gate(GateName::MaxSkipped, 0.0),
        ];
        let rep = evaluate(&r, &gates);
        assert_eq!(rep.gates[0].status, GateStatus::Fail);
        assert_eq!(rep.gates[1].status, GateStatus::Fail);
        assert_eq!(rep.gates[2].status, GateStatus::Pass);
        assert!(!rep.passed, "a required gate failed");
        let rep = evaluate(&r, &gates[1..]);
        assert!(rep.passed, "only an advisory gate failed");
    }

    #[test]
    fn coverage_is_never_a_silent_pass() {
        let r = run(Summary {
            total: 1,
            passed: 1,
            ..Summary::default()
        });
        let rep = evaluate(&r, &[gate(GateName::MinCoverage, 80.0)]);
        assert_eq!(rep.gates[0].status, GateStatus::NotMeasured);
        assert!(!rep.passed);
        assert!(render_human(&rep).contains("NOT MEASURED"));
    }

    #[test]
    fn coverage_gates_are_measured_when_coverage_is_given() {
        let r = run(Summary {
            total: 1,
            passed: 1,
            ..Summary::default()
        });
        let lcov = b"SF:a.rs\nDA:1,1\nDA:2,1\nDA:3,0\nDA:4,1\nend_of_record\nSF:b.rs\nDA:1,1\nend_of_record\n";
        let cov = crate::coverage::parse(lcov, "t.info", std::path::Path::new("/")).unwrap();
        let gates = [
            gate(GateName::MinCoverage, 80.0),
            gate(GateName::MinFileCoverage, 80.0),
        ];
        let rep = evaluate_with(&r, &gates, Some(&cov.summary()));
        assert_eq!(rep.gates[0].actual, Some(80.0));
        assert_eq!(rep.gates[0].status, GateStatus::Pass);
        assert_eq!(rep.gates[0].detail, "4 of 5 lines covered");
        assert_eq!(rep.gates[1].actual, Some(75.0));
        assert_eq!(rep.gates[1].status, GateStatus::Fail);
        assert!(
            rep.gates[1].detail.contains("a.rs 75.0%"),
            "{}",
            rep.gates[1].detail
        );
        assert!(!rep.passed);
        let empty = crate::coverage::Coverage::default();
        let rep = evaluate_with(&r, &gates, Some(&empty.summary()));
        assert_eq!(rep.gates[0].status, GateStatus::NotMeasured);
        assert_eq!(rep.gates[1].status, GateStatus::NotMeasured);
    }

    #[test]
    fn command_line_gates_override_by_name() {
        let g = merge(
            default_gates(),
            &[
                gate(GateName::MinPassRate, 0.95),
                gate(GateName::MaxFlaky, 0.0),
            ],
        );
        assert_eq!(g.len(), 4);
        assert_eq!(g[1].threshold, 0.95);
        assert_eq!(GateName::parse("max-flaky").unwrap(), GateName::MaxFlaky);
        assert!(
            GateName::parse("nope")
                .unwrap_err()
                .to_string()
                .contains("unknown gate `nope`")
        );
    }
}
