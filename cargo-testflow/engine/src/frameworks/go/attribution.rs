//! The fail-closed heart of the go driver: an ended package ([`PackageRecord`]) into one
//! result per test that ran, plus run errors where go's own word and the stream disagree.
//!
//! - A binary that ran to the end of the testing package's `main` (its `PASS`/`FAIL`
//!   line) is believed test by test; its package verdict must agree with the tests'.
//! - A binary that died (a panic in any goroutine, `os.Exit`, `-timeout`, a signal, our
//!   watchdog) is read up to the moment it died: a test that had reported (`--- PASS`)
//!   before keeps its result; every test still running then is `crashed` (`timeout`
//!   for a time limit), never passed, even when test2json later flushes a held-back
//!   `pass` for it. Its tests that never started are found by the driver (`not_run`).
//! - A package that failed with no failing test, or died outside any test, is a run error.

use std::time::Duration;

use crate::model::{Failure, Outcome, error_kind};

use super::events::{Ended, PackageRecord, TestRecord};
use super::failure::{self, Paths, tail};

/// One test's result.
#[derive(Debug)]
pub struct TestResult {
    /// go's name (`TestSign/zero`).
    pub name: String,
    pub outcome: Outcome,
    pub duration: Duration,
    pub failure: Option<Failure>,
}

/// What a package's record says.
#[derive(Debug, Default)]
pub struct Attributed {
    pub results: Vec<TestResult>,
    /// Run errors: kind and message.
    pub errors: Vec<(&'static str, String)>,
    /// The binary died before its tests were done: the driver names those that never ran.
    pub died: Option<String>,
}

/// How the driver saw the package end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Its terminal event came.
    Normal,
    /// The stream ended first (the go command died).
    StreamEnded,
    /// testflow's watchdog killed `go test` at the time limit while it ran.
    Killed,
}

/// go's elapsed seconds, if they are a duration.
fn duration_of(elapsed: Option<f64>) -> Result<Duration, String> {
    match elapsed {
        None => Ok(Duration::ZERO),
        Some(s) if s.is_finite() && (0.0..1e7).contains(&s) => Ok(Duration::from_secs_f64(s)),
        Some(s) => Err(format!("an impossible Elapsed of {s}s")),
    }
}

/// The failure of a failed test: what it printed, or which of its subtests failed.
fn failed(t: &TestRecord, all: &[TestRecord], paths: Paths<'_>) -> Failure {
    let mut f = failure::failure(&t.output, t.output_cut, paths);
    if t.output.trim().is_empty() {
        let prefix = format!("{}/", t.name);
        let subs: Vec<&str> = all
            .iter()
            .filter(|s| {
                s.name.starts_with(&prefix)
                    && !s.name[prefix.len()..].contains('/')
                    && s.ended.is_some_and(|e| e.0 == Ended::Fail)
            })
            .map(|s| s.name.as_str())
            .collect();
        if !subs.is_empty() {
            f.message = format!("failing subtests: {}", subs.join(", "));
        }
    }
    f
}

pub fn attribute(p: &PackageRecord, paths: Paths<'_>, end: End) -> Attributed {
    let pkg = &p.package;
    let mut a = Attributed::default();
    if let Some((build, output)) = &p.failed_build {
        let text = if output.trim().is_empty() {
            tail(&p.output, 30)
        } else {
            output.trim_end().to_owned()
        };
        a.errors.push((
            error_kind::BUILD,
            format!("{pkg}: go test could not build it ({build}):\n{text}"),
        ));
        return a;
    }
    let completed = p.finished_main && p.ended.is_some() && end == End::Normal;
    // The moment the binary died (everything after it is test2json flushing).
    let died_at = if completed {
        u64::MAX
    } else {
        p.died.as_ref().map_or(u64::MAX, |d| d.0)
    };
    let timed_out = !completed
        && p.died
            .as_ref()
            .is_some_and(|d| failure::is_timeout_panic(&d.2));
    let mut open: Vec<&str> = Vec::new();
    for t in &p.tests {
        let ended = t.ended.filter(|e| e.1 < died_at);
        let reported = t.reported.filter(|r| r.1 < died_at);
        let word = ended.map(|e| e.0).or(reported.map(|r| r.0));
        let duration = match duration_of(t.ended.and_then(|e| e.2)) {
            // go's centiseconds, refined by its event times where they agree with them.
            Ok(d) => match t.measured {
                Some(m) if m.abs_diff(d) < Duration::from_millis(20) => m,
                _ => d,
            },
            Err(e) => {
                a.errors.push((
                    error_kind::RECONCILE,
                    format!("{pkg}: `{}` reported {e}", t.name),
                ));
                Duration::ZERO
            }
        };
        let (outcome, failure) = match word {
            Some(Ended::Fail) => (Outcome::Failed, Some(failed(t, &p.tests, paths))),
            Some(Ended::Skip) => {
                let reason = failure::log_lines(&t.output)
                    .into_iter()
                    .map(|l| l.message)
                    .collect::<Vec<_>>()
                    .join("\n");
                (
                    Outcome::Skipped,
                    Some(Failure {
                        message: reason,
                        ..Failure::default()
                    }),
                )
            }
            Some(Ended::Pass) => (Outcome::Passed, None),
            None if completed => {
                a.errors.push((
                    error_kind::RECONCILE,
                    format!(
                        "{pkg}: `{}` started but go reported no result for it, though the package finished",
                        t.name
                    ),
                ));
                (
                    Outcome::Error,
                    Some(Failure {
                        category: crate::model::Category::Crash,
                        message: "go test reported no result for this test".into(),
                        ..Failure::default()
                    }),
                )
            }
            None => {
                open.push(&t.name);
                let (outcome, why) = match end {
                    End::Killed => (
                        Outcome::Timeout,
                        "testflow's watchdog stopped go test at the time limit (--test-timeout) while this test ran",
                    ),
                    _ if timed_out => (
                        Outcome::Timeout,
                        "go test's -timeout ended the test binary while this test ran",
                    ),
                    End::StreamEnded if p.died.is_none() => (
                        Outcome::Crashed,
                        "go test ended while this test ran, before the package finished",
                    ),
                    _ => (Outcome::Crashed, "the test binary died while this test ran"),
                };
                let mut f = failure::crashed(&t.output, t.output_cut, &p.output, why, paths);
                if outcome == Outcome::Timeout {
                    f.category = crate::model::Category::Timeout;
                }
                (outcome, Some(f))
            }
        };
        a.results.push(TestResult {
            name: t.name.clone(),
            outcome,
            duration,
            failure,
        });
    }
    let failing = a.results.iter().any(|r| r.outcome.is_failure());
    if completed {
        match p.ended.map(|e| e.0) {
            Some(Ended::Fail) if !failing => a.errors.push((
                error_kind::RECONCILE,
                format!(
                    "{pkg}: go test failed the package, but none of its tests failed (TestMain, or a check after the tests):\n{}",
                    tail(&p.output, 20)
                ),
            )),
            Some(Ended::Pass | Ended::Skip) if failing => a.errors.push((
                error_kind::RECONCILE,
                format!("{pkg}: go test passed the package, but testflow recorded failing tests in it"),
            )),
            _ => {}
        }
        return a;
    }
    // The binary did not finish: a package that never started (skipped: no test files) is
    // the only innocent case.
    let no_tests = p.ended.is_some_and(|e| e.0 == Ended::Skip) && p.tests.is_empty();
    if (no_tests || !p.started && p.tests.is_empty()) && end == End::Normal {
        return a;
    }
    let how = match (&p.died, end) {
        (_, End::Killed) => "testflow's watchdog stopped go test at the time limit".to_owned(),
        (Some(d), _) => d.2.clone(),
        (None, End::StreamEnded) => "go test ended before the package did".to_owned(),
        (None, _) => "the test binary ended without finishing its tests".to_owned(),
    };
    // A test that reported and then took the binary down with it (`os.Exit` in a test:
    // go fails it, then panics) holds the death in its own output.
    if open.is_empty()
        && let Some(t) = p.died.as_ref().and_then(|d| d.1.as_deref())
    {
        open.push(t);
    }
    if open.is_empty() {
        a.errors.push((
            error_kind::RECONCILE,
            format!(
                "{pkg}: the test binary died outside any test ({how}); its results may be incomplete:\n{}",
                tail(&p.output, 20)
            ),
        ));
    }
    let within = if open.is_empty() {
        String::new()
    } else {
        format!(" in {}", open.join(", "))
    };
    a.died = Some(format!("the test binary died{within} ({how})"));
    a
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::frameworks::go::events::{Step, Stream};

    fn paths() -> Paths<'static> {
        Paths {
            root: Path::new("/p"),
            dir: "",
        }
    }

    /// The package records of a stream, ended or not.
    fn packages(lines: &str) -> Vec<PackageRecord> {
        let mut s = Stream::new(1 << 16);
        let mut out: Vec<PackageRecord> = lines
            .lines()
            .flat_map(|l| s.line(l.as_bytes()))
            .filter_map(|step| match step {
                Step::PackageEnded(p) => Some(p),
                _ => None,
            })
            .collect();
        assert!(s.anomalies.is_empty(), "{:?}", s.anomalies);
        out.extend(s.finish());
        out
    }

    fn outcomes(a: &Attributed) -> Vec<(&str, Outcome)> {
        a.results
            .iter()
            .map(|r| (r.name.as_str(), r.outcome))
            .collect()
    }

    // Go 1.26, a goroutine that panics while its test waits (go-crash/panicky).
    const GOROUTINE_PANIC: &str = r#"{"Action":"start","Package":"ex/p"}
{"Action":"run","Package":"ex/p","Test":"TestBefore"}
{"Action":"output","Package":"ex/p","Test":"TestBefore","Output":"=== RUN   TestBefore\n"}
{"Action":"output","Package":"ex/p","Test":"TestBefore","Output":"--- PASS: TestBefore (0.00s)\n"}
{"Action":"pass","Package":"ex/p","Test":"TestBefore","Elapsed":0}
{"Action":"run","Package":"ex/p","Test":"TestG"}
{"Action":"output","Package":"ex/p","Test":"TestG","Output":"=== RUN   TestG\n"}
{"Action":"output","Package":"ex/p","Test":"TestG","Output":"panic: assignment to entry in nil map\n"}
{"Action":"output","Package":"ex/p","Test":"TestG","Output":"\n"}
{"Action":"output","Package":"ex/p","Test":"TestG","Output":"goroutine 20 [running]:\n"}
{"Action":"output","Package":"ex/p","Test":"TestG","Output":"\t/p/p_test.go:20 +0x58\n"}
{"Action":"output","Package":"ex/p","Output":"FAIL\tex/p\t0.011s\n"}
{"Action":"fail","Package":"ex/p","Elapsed":0.011}"#;

    #[test]
    fn a_goroutine_panic_crashes_the_running_test_not_the_one_before() {
        let p = &packages(GOROUTINE_PANIC)[0];
        let a = attribute(p, paths(), End::Normal);
        assert_eq!(
            outcomes(&a),
            [("TestBefore", Outcome::Passed), ("TestG", Outcome::Crashed)]
        );
        let f = a.results[1].failure.as_ref().unwrap();
        assert_eq!(f.category, crate::model::Category::Crash);
        assert!(
            f.message.contains("assignment to entry in nil map"),
            "{}",
            f.message
        );
        assert_eq!(f.location.as_ref().unwrap().file, "p_test.go");
        assert!(a.errors.is_empty(), "{:?}", a.errors);
        assert!(a.died.as_deref().unwrap().contains("in TestG"));
    }

    #[test]
    fn a_pass_test2json_flushes_after_the_death_does_not_count() {
        // test2json holds `pass` back; the binary died before TestG said `--- PASS`.
        let stream = GOROUTINE_PANIC.replace(
            r#"{"Action":"output","Package":"ex/p","Output":"FAIL"#,
            r#"{"Action":"pass","Package":"ex/p","Test":"TestG","Elapsed":0}
{"Action":"output","Package":"ex/p","Output":"FAIL"#,
        );
        let a = attribute(&packages(&stream)[0], paths(), End::Normal);
        assert_eq!(a.results[1].outcome, Outcome::Crashed);
    }

    #[test]
    fn a_test_that_reported_before_the_death_keeps_its_result() {
        // os.Exit(0) in a test: Go fails it (`--- FAIL`) and then panics the binary.
        let stream = r#"{"Action":"start","Package":"ex/e"}
{"Action":"run","Package":"ex/e","Test":"TestExit"}
{"Action":"output","Package":"ex/e","Test":"TestExit","Output":"--- FAIL: TestExit (0.00s)\n"}
{"Action":"output","Package":"ex/e","Test":"TestExit","Output":"panic: unexpected call to os.Exit(0) during test [recovered, repanicked]\n"}
{"Action":"output","Package":"ex/e","Test":"TestExit","Output":"\t/p/e_test.go:12 +0x15\n"}
{"Action":"fail","Package":"ex/e","Test":"TestExit","Elapsed":0}
{"Action":"output","Package":"ex/e","Output":"FAIL\tex/e\t0.008s\n"}
{"Action":"fail","Package":"ex/e","Elapsed":0.009}"#;
        let a = attribute(&packages(stream)[0], paths(), End::Normal);
        assert_eq!(outcomes(&a), [("TestExit", Outcome::Failed)]);
        let f = a.results[0].failure.as_ref().unwrap();
        assert_eq!(f.message, "unexpected call to os.Exit(0) during test");
        assert_eq!(f.location.as_ref().unwrap().line, 12);
        assert!(a.errors.is_empty(), "{:?}", a.errors);
        assert!(a.died.as_deref().unwrap().contains("in TestExit"));
    }

    #[test]
    fn a_timeout_panic_times_out_the_running_test() {
        let stream = r#"{"Action":"start","Package":"ex/h"}
{"Action":"run","Package":"ex/h","Test":"TestHang"}
{"Action":"output","Package":"ex/h","Test":"TestHang","Output":"panic: test timed out after 3s\n"}
{"Action":"output","Package":"ex/h","Test":"TestHang","Output":"\t/p/h_test.go:12 +0x1d\n"}
{"Action":"output","Package":"ex/h","Output":"FAIL\tex/h\t3.012s\n"}
{"Action":"fail","Package":"ex/h","Elapsed":3.012}"#;
        let a = attribute(&packages(stream)[0], paths(), End::Normal);
        assert_eq!(outcomes(&a), [("TestHang", Outcome::Timeout)]);
        let f = a.results[0].failure.as_ref().unwrap();
        assert_eq!(f.category, crate::model::Category::Timeout);
        assert_eq!(f.location.as_ref().unwrap().file, "h_test.go");
    }

    #[test]
    fn a_package_that_fails_with_every_test_passing_is_a_run_error() {
        let stream = r#"{"Action":"start","Package":"ex/m"}
{"Action":"run","Package":"ex/m","Test":"TestA"}
{"Action":"output","Package":"ex/m","Test":"TestA","Output":"--- PASS: TestA (0.00s)\n"}
{"Action":"pass","Package":"ex/m","Test":"TestA","Elapsed":0}
{"Action":"output","Package":"ex/m","Output":"PASS\n"}
{"Action":"output","Package":"ex/m","Output":"leak detected\n"}
{"Action":"fail","Package":"ex/m","Elapsed":0.1}"#;
        let a = attribute(&packages(stream)[0], paths(), End::Normal);
        assert_eq!(outcomes(&a), [("TestA", Outcome::Passed)]);
        assert_eq!(a.errors.len(), 1);
        assert_eq!(a.errors[0].0, error_kind::RECONCILE);
        assert!(a.errors[0].1.contains("leak detected"), "{}", a.errors[0].1);
    }

    #[test]
    fn a_binary_that_dies_outside_any_test_is_a_run_error() {
        let stream = r#"{"Action":"start","Package":"ex/i"}
{"Action":"output","Package":"ex/i","Output":"panic: init failed\n"}
{"Action":"output","Package":"ex/i","Output":"FAIL\tex/i\t0.01s\n"}
{"Action":"fail","Package":"ex/i","Elapsed":0.01}"#;
        let a = attribute(&packages(stream)[0], paths(), End::Normal);
        assert!(a.results.is_empty());
        assert_eq!(a.errors.len(), 1);
        assert!(
            a.errors[0]
                .1
                .contains("outside any test (panic: init failed)"),
            "{:?}",
            a.errors
        );
    }

    #[test]
    fn a_stream_that_ends_mid_package_crashes_the_running_test() {
        let stream = r#"{"Action":"start","Package":"ex/s"}
{"Action":"run","Package":"ex/s","Test":"TestA"}
{"Action":"output","Package":"ex/s","Test":"TestA","Output":"--- PASS: TestA (0.00s)\n"}
{"Action":"run","Package":"ex/s","Test":"TestB"}"#;
        let p = &packages(stream)[0];
        let a = attribute(p, paths(), End::StreamEnded);
        assert_eq!(
            outcomes(&a),
            [("TestA", Outcome::Passed), ("TestB", Outcome::Crashed)]
        );
        let k = attribute(p, paths(), End::Killed);
        assert_eq!(k.results[1].outcome, Outcome::Timeout);
    }

    #[test]
    fn a_build_failure_is_a_build_error_with_the_compilers_words() {
        let stream = r#"{"ImportPath":"ex/b [ex/b.test]","Action":"build-output","Output":"b/b_test.go:6:14: cannot use Name() (value of type string) as int value\n"}
{"ImportPath":"ex/b [ex/b.test]","Action":"build-fail"}
{"Action":"start","Package":"ex/b"}
{"Action":"output","Package":"ex/b","Output":"FAIL\tex/b [build failed]\n"}
{"Action":"fail","Package":"ex/b","Elapsed":0,"FailedBuild":"ex/b [ex/b.test]"}"#;
        let a = attribute(&packages(stream)[0], paths(), End::Normal);
        assert!(a.results.is_empty());
        assert_eq!(a.errors[0].0, error_kind::BUILD);
        assert!(
            a.errors[0].1.contains("b/b_test.go:6:14: cannot use"),
            "{}",
            a.errors[0].1
        );
    }

    #[test]
    fn subtests_fail_under_their_parent_and_skips_keep_their_reason() {
        let stream = r#"{"Action":"start","Package":"ex/t"}
{"Action":"run","Package":"ex/t","Test":"TestS"}
{"Action":"run","Package":"ex/t","Test":"TestS/zero"}
{"Action":"output","Package":"ex/t","Test":"TestS/zero","Output":"    s_test.go:43: Sign(0) = \"zero\"\n"}
{"Action":"fail","Package":"ex/t","Test":"TestS/zero","Elapsed":0}
{"Action":"fail","Package":"ex/t","Test":"TestS","Elapsed":0}
{"Action":"run","Package":"ex/t","Test":"TestK"}
{"Action":"output","Package":"ex/t","Test":"TestK","Output":"    s_test.go:50: not here\n"}
{"Action":"skip","Package":"ex/t","Test":"TestK","Elapsed":0}
{"Action":"output","Package":"ex/t","Output":"FAIL\n"}
{"Action":"fail","Package":"ex/t","Elapsed":0.01}"#;
        let a = attribute(&packages(stream)[0], paths(), End::Normal);
        assert_eq!(
            outcomes(&a),
            [
                ("TestS", Outcome::Failed),
                ("TestS/zero", Outcome::Failed),
                ("TestK", Outcome::Skipped)
            ]
        );
        assert_eq!(
            a.results[0].failure.as_ref().unwrap().message,
            "failing subtests: TestS/zero"
        );
        assert_eq!(a.results[2].failure.as_ref().unwrap().message, "not here");
        assert!(a.errors.is_empty(), "{:?}", a.errors);
    }

    #[test]
    fn durations_come_from_go_s_event_times_when_they_agree_with_elapsed() {
        let stream = r#"{"Time":"2026-12-01T23:07:48.694193801Z","Action":"run","Package":"ex/d","Test":"TestA"}
{"Time":"2026-12-01T23:07:48.697568649Z","Action":"pass","Package":"ex/d","Test":"TestA","Elapsed":0}
{"Time":"2026-12-01T23:07:49.0Z","Action":"run","Package":"ex/d","Test":"TestB"}
{"Time":"2026-12-01T23:07:52.0Z","Action":"pass","Package":"ex/d","Test":"TestB","Elapsed":0.5}
{"Action":"output","Package":"ex/d","Output":"PASS\n"}
{"Action":"pass","Package":"ex/d","Elapsed":0.01}"#;
        let a = attribute(&packages(stream)[0], paths(), End::Normal);
        assert_eq!(a.results[0].duration, Duration::from_nanos(3_374_848));
        // Three seconds of event time against go's half a second (a pause): go's word.
        assert_eq!(a.results[1].duration, Duration::from_millis(500));
    }

    #[test]
    fn impossible_durations_are_run_errors() {
        let stream = r#"{"Action":"run","Package":"ex/d","Test":"TestA"}
{"Action":"pass","Package":"ex/d","Test":"TestA","Elapsed":-5}
{"Action":"output","Package":"ex/d","Output":"PASS\n"}
{"Action":"pass","Package":"ex/d","Elapsed":0.01}"#;
        let a = attribute(&packages(stream)[0], paths(), End::Normal);
        assert_eq!(a.results[0].duration, Duration::ZERO);
        assert!(
            a.errors[0].1.contains("impossible Elapsed"),
            "{:?}",
            a.errors
        );
    }
}
