//! `go test -json`'s stream (test2json events), folded per package into what each test
//! did, in the order it happened.
//!
//! Nothing here records anything: [`Stream`] reads lines and says when a test starts and
//! when a package ends ([`Step`]); [`attribute`](super::attribution::attribute) turns an
//! ended package into results. A line that is not one of go's events is an anomaly, never
//! skipped silently (go wraps everything a test prints, so such a line means the stream is
//! damaged).

use std::collections::HashMap;

/// One test2json event (`go doc cmd/test2json`), plus the build events of Go 1.24+.
#[derive(Debug, Default, serde::Deserialize)]
pub struct GoEvent {
    /// RFC 3339; go leaves it out for cached results.
    #[serde(rename = "Time", default)]
    pub time: Option<String>,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Package", default)]
    pub package: Option<String>,
    #[serde(rename = "Test", default)]
    pub test: Option<String>,
    #[serde(rename = "Elapsed", default)]
    pub elapsed: Option<f64>,
    #[serde(rename = "Output", default)]
    pub output: Option<String>,
    /// `build-output` / `build-fail`: the package being built (`pkg [pkg.test]`).
    #[serde(rename = "ImportPath", default)]
    pub import_path: Option<String>,
    /// On a package's `fail`: the build that failed.
    #[serde(rename = "FailedBuild", default)]
    pub failed_build: Option<String>,
}

/// How a test ended, by go's own word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    Pass,
    Fail,
    Skip,
}

impl Ended {
    fn parse(action: &str) -> Option<Ended> {
        match action {
            "pass" | "bench" => Some(Ended::Pass),
            "fail" => Some(Ended::Fail),
            "skip" => Some(Ended::Skip),
            _ => None,
        }
    }
}

/// One test of a package as the stream told it. `seq` numbers are the package's events
/// in order, to tell what happened before the binary died from what came after.
#[derive(Clone, Debug, Default)]
pub struct TestRecord {
    /// go's name: `TestSign/zero`.
    pub name: String,
    /// Its `run` event.
    pub started_at: u64,
    /// Its terminal event (`pass`/`fail`/`skip`) and go's elapsed seconds.
    pub ended: Option<(Ended, u64, Option<f64>)>,
    /// Its `--- PASS/FAIL/SKIP: name` line: when the testing package reported it. test2json
    /// holds the terminal event back until the next test starts, so a binary that dies
    /// right after a test reported gets that test's event after its death.
    pub reported: Option<(Ended, u64)>,
    /// When it last began running (`run`, or `cont` after a pause), by go's clock.
    pub running_since: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// How long it ran by go's event times, from `running_since` to its end: go's own
    /// `Elapsed` has only centiseconds.
    pub measured: Option<std::time::Duration>,
    /// What it printed (framing lines left out), capped.
    pub output: String,
    pub output_cut: u64,
}

/// A package's part of the stream.
#[derive(Clone, Debug, Default)]
pub struct PackageRecord {
    pub package: String,
    /// Tests in the order they started.
    pub tests: Vec<TestRecord>,
    /// Output outside any test, capped.
    pub output: String,
    /// The testing package's own last line (`PASS` / `FAIL`) was printed: its `main` ran to
    /// the end. Without it the binary died (a panic, `os.Exit`, a signal, a time limit).
    pub finished_main: bool,
    /// The first `panic: …` / `fatal error: …` line: the moment the binary died, and the
    /// test it was attributed to.
    pub died: Option<(u64, Option<String>, String)>,
    /// The package's own terminal event; `None` when the stream ended first.
    pub ended: Option<(Ended, Option<f64>)>,
    /// The build that failed (`FailedBuild`), with the compiler's output.
    pub failed_build: Option<(String, String)>,
    /// A `start` event was seen (the test binary ran).
    pub started: bool,
    seq: u64,
}

impl PackageRecord {
    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn test(&mut self, name: &str) -> Option<&mut TestRecord> {
        self.tests.iter_mut().rev().find(|t| t.name == name)
    }
}

/// What a line told.
#[derive(Debug)]
pub enum Step {
    /// A test began (`run`).
    Started { package: String, test: String },
    /// A package's test binary started (`start`): its time limit runs from here.
    PackageStarted(String),
    /// A package ended: everything about it.
    PackageEnded(PackageRecord),
}

/// The fold of one `go test -json` process's stdout.
pub struct Stream {
    packages: HashMap<String, PackageRecord>,
    /// `build-output` by import path, until its `build-fail` or the package's `fail`.
    builds: HashMap<String, String>,
    /// Lines that do not belong: go's stream is damaged or not go's.
    pub anomalies: Vec<String>,
    /// Builds that failed for no package being tested (a dependency that failed alone).
    pub orphan_builds: Vec<(String, String)>,
    cap: usize,
    /// Packages that ended, in order.
    pub ended: Vec<String>,
}

/// The first 200 characters of a line, for messages.
pub fn shown(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

fn push_capped(buf: &mut String, cut: &mut u64, text: &str, cap: usize) {
    if buf.len() + text.len() <= cap {
        buf.push_str(text);
    } else {
        *cut = cut.saturating_add(text.len() as u64);
    }
}

/// A `--- PASS: name (0.00s)` framing line: the word and the name.
fn framing(line: &str) -> Option<(Ended, &str)> {
    let line = line.trim_start();
    let rest = line.strip_prefix("--- ")?;
    let (word, rest) = rest.split_once(": ")?;
    let ended = match word {
        "PASS" => Ended::Pass,
        "FAIL" => Ended::Fail,
        "SKIP" => Ended::Skip,
        _ => return None,
    };
    let name = rest
        .trim_end()
        .rsplit_once(" (")
        .map_or(rest.trim_end(), |(n, _)| n);
    Some((ended, name))
}

/// The line a dying Go program starts its report with.
pub fn death_line(line: &str) -> bool {
    line.starts_with("panic: ") || line.starts_with("fatal error: ")
}

impl Stream {
    pub fn new(cap: usize) -> Stream {
        Stream {
            packages: HashMap::new(),
            builds: HashMap::new(),
            anomalies: Vec::new(),
            orphan_builds: Vec::new(),
            cap,
            ended: Vec::new(),
        }
    }

    /// Read one stdout line.
    pub fn line(&mut self, line: &[u8]) -> Vec<Step> {
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            return vec![];
        }
        let ev = match serde_json::from_slice::<GoEvent>(trimmed) {
            Ok(ev) => ev,
            Err(e) => {
                self.anomalies.push(format!(
                    "a line that is not a test2json event ({e}): {}",
                    shown(line)
                ));
                return vec![];
            }
        };
        match ev.action.as_str() {
            "build-output" => {
                let path = ev.import_path.unwrap_or_default();
                self.builds
                    .entry(path)
                    .or_default()
                    .push_str(ev.output.as_deref().unwrap_or(""));
                return vec![];
            }
            // Kept until the package says which build failed it.
            "build-fail" => return vec![],
            _ => {}
        }
        let Some(package) = ev.package.clone().filter(|p| !p.is_empty()) else {
            self.anomalies
                .push(format!("an event without a package: {}", shown(line)));
            return vec![];
        };
        if self.ended.contains(&package) {
            self.anomalies.push(format!(
                "an event for {package} after it ended: {}",
                shown(line)
            ));
            return vec![];
        }
        let cap = self.cap;
        let p = self
            .packages
            .entry(package.clone())
            .or_insert_with(|| PackageRecord {
                package: package.clone(),
                ..Default::default()
            });
        let seq = p.next();
        let test = ev.test.clone().filter(|t| !t.is_empty());
        let at = ev
            .time
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        match (ev.action.as_str(), test) {
            ("start", None) => {
                p.started = true;
                return vec![Step::PackageStarted(package)];
            }
            ("run", Some(t)) => {
                if p.tests.iter().any(|r| r.name == t) {
                    self.anomalies
                        .push(format!("{package}: `{t}` started twice"));
                    return vec![];
                }
                p.tests.push(TestRecord {
                    name: t.clone(),
                    started_at: seq,
                    running_since: at,
                    ..Default::default()
                });
                return vec![Step::Started { package, test: t }];
            }
            ("cont", Some(t)) => {
                if let Some(r) = p.test(&t) {
                    r.running_since = at.or(r.running_since);
                }
            }
            ("pause" | "attr" | "artifacts", Some(_)) => {}
            ("output", t) => {
                let text = ev.output.unwrap_or_default();
                let first = text.trim_end_matches('\n');
                if p.died.is_none() && death_line(first) {
                    p.died = Some((seq, t.clone(), first.to_owned()));
                }
                match t {
                    Some(t) => {
                        let Some(r) = p.test(&t) else {
                            self.anomalies.push(format!(
                                "{package}: output for `{t}`, which never started: {}",
                                shown(line)
                            ));
                            return vec![];
                        };
                        match framing(&text) {
                            Some((ended, name)) if name == t => {
                                r.reported.get_or_insert((ended, seq));
                            }
                            _ if text.starts_with("=== ") => {}
                            _ => push_capped(&mut r.output, &mut r.output_cut, &text, cap),
                        }
                    }
                    None => {
                        if matches!(text.as_str(), "PASS\n" | "FAIL\n") {
                            p.finished_main = true;
                        }
                        let mut cut = 0;
                        push_capped(&mut p.output, &mut cut, &text, cap);
                    }
                }
            }
            (action, Some(t)) => {
                let Some(ended) = Ended::parse(action) else {
                    self.anomalies.push(format!(
                        "{package}: an unknown test2json action `{action}`: {}",
                        shown(line)
                    ));
                    return vec![];
                };
                let Some(r) = p.test(&t) else {
                    self.anomalies.push(format!(
                        "{package}: a result for `{t}`, which never started: {}",
                        shown(line)
                    ));
                    return vec![];
                };
                if r.ended.is_some() {
                    self.anomalies
                        .push(format!("{package}: `{t}` ended twice: {}", shown(line)));
                    return vec![];
                }
                r.ended = Some((ended, seq, ev.elapsed));
                r.measured = match (r.running_since, at) {
                    (Some(from), Some(to)) => (to - from).to_std().ok(),
                    _ => None,
                };
            }
            (action, None) => {
                let Some(ended) = Ended::parse(action) else {
                    self.anomalies.push(format!(
                        "{package}: an unexpected package event `{action}`: {}",
                        shown(line)
                    ));
                    return vec![];
                };
                p.ended = Some((ended, ev.elapsed));
                if let Some(build) = ev.failed_build.filter(|b| !b.is_empty()) {
                    let output = self.builds.remove(&build).unwrap_or_default();
                    p.failed_build = Some((build, output));
                }
                let Some(done) = self.packages.remove(&package) else {
                    return vec![];
                };
                self.ended.push(package);
                return vec![Step::PackageEnded(done)];
            }
        }
        vec![]
    }

    /// The stream ended: packages that never ended (the go command died, or was killed),
    /// in the order they started, and builds that failed for no package.
    pub fn finish(&mut self) -> Vec<PackageRecord> {
        let mut rest: Vec<PackageRecord> = self.packages.drain().map(|(_, p)| p).collect();
        rest.sort_by(|a, b| a.package.cmp(&b.package));
        let mut builds: Vec<(String, String)> = self.builds.drain().collect();
        builds.sort();
        self.orphan_builds
            .extend(builds.into_iter().filter(|(_, out)| !out.trim().is_empty()));
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(s: &mut Stream, lines: &str) -> Vec<Step> {
        lines.lines().flat_map(|l| s.line(l.as_bytes())).collect()
    }

    #[test]
    fn a_package_folds_into_its_tests_with_output_and_the_main_marker() {
        let mut s = Stream::new(1 << 16);
        let steps = feed(
            &mut s,
            r#"{"Action":"start","Package":"ex/p"}
{"Action":"run","Package":"ex/p","Test":"TestA"}
{"Action":"output","Package":"ex/p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"ex/p","Test":"TestA","Output":"    a_test.go:9: boom\n"}
{"Action":"output","Package":"ex/p","Test":"TestA","Output":"--- FAIL: TestA (0.01s)\n"}
{"Action":"fail","Package":"ex/p","Test":"TestA","Elapsed":0.01}
{"Action":"output","Package":"ex/p","Output":"FAIL\n"}
{"Action":"fail","Package":"ex/p","Elapsed":0.02}"#,
        );
        assert!(s.anomalies.is_empty(), "{:?}", s.anomalies);
        assert!(matches!(&steps[0], Step::PackageStarted(p) if p == "ex/p"));
        assert!(matches!(&steps[1], Step::Started { test, .. } if test == "TestA"));
        let Step::PackageEnded(p) = &steps[2] else {
            panic!("{steps:?}")
        };
        assert!(p.finished_main);
        assert_eq!(p.ended, Some((Ended::Fail, Some(0.02))));
        assert_eq!(p.tests[0].output, "    a_test.go:9: boom\n");
        assert_eq!(p.tests[0].reported.map(|r| r.0), Some(Ended::Fail));
        assert_eq!(p.tests[0].ended.map(|e| e.0), Some(Ended::Fail));
        assert!(p.died.is_none());
    }

    #[test]
    fn damaged_and_impossible_lines_are_anomalies() {
        let mut s = Stream::new(1 << 16);
        feed(
            &mut s,
            r#"not json at all
{"Action":"pass","Package":"ex/p","Test":"TestGhost"}
{"Action":"run","Package":"ex/p","Test":"TestA"}
{"Action":"run","Package":"ex/p","Test":"TestA"}
{"Action":"explode","Package":"ex/p","Test":"TestA"}
{"Action":"output","Output":"x\n"}
{"Action":"pass","Package":"ex/p"}
{"Action":"pass","Package":"ex/p","Test":"TestA"}"#,
        );
        let a = s.anomalies.join("\n");
        for want in [
            "not a test2json event",
            "`TestGhost`, which never started",
            "`TestA` started twice",
            "unknown test2json action `explode`",
            "without a package",
            "after it ended",
        ] {
            assert!(a.contains(want), "{want}: {a}");
        }
    }

    #[test]
    fn a_death_line_is_remembered_with_its_test_and_build_output_with_its_package() {
        let mut s = Stream::new(1 << 16);
        let steps = feed(
            &mut s,
            r#"{"ImportPath":"ex/b [ex/b.test]","Action":"build-output","Output":"b_test.go:6:14: cannot use x\n"}
{"ImportPath":"ex/b [ex/b.test]","Action":"build-fail"}
{"Action":"start","Package":"ex/b"}
{"Action":"output","Package":"ex/b","Output":"FAIL\tex/b [build failed]\n"}
{"Action":"fail","Package":"ex/b","Elapsed":0,"FailedBuild":"ex/b [ex/b.test]"}
{"Action":"run","Package":"ex/p","Test":"TestA"}
{"Action":"output","Package":"ex/p","Test":"TestA","Output":"panic: boom\n"}"#,
        );
        let Step::PackageEnded(b) = &steps[1] else {
            panic!("{steps:?}")
        };
        assert_eq!(
            b.failed_build,
            Some((
                "ex/b [ex/b.test]".to_owned(),
                "b_test.go:6:14: cannot use x\n".to_owned()
            ))
        );
        let rest = s.finish();
        assert_eq!(rest.len(), 1);
        assert_eq!(
            rest[0].died.as_ref().map(|d| d.1.as_deref()),
            Some(Some("TestA"))
        );
        assert!(rest[0].ended.is_none());
    }

    #[test]
    fn output_past_the_cap_is_counted_not_kept() {
        let mut s = Stream::new(10);
        let steps = feed(
            &mut s,
            r#"{"Action":"run","Package":"ex/p","Test":"TestA"}
{"Action":"output","Package":"ex/p","Test":"TestA","Output":"0123456789abc\n"}
{"Action":"pass","Package":"ex/p","Test":"TestA"}
{"Action":"pass","Package":"ex/p"}"#,
        );
        let Step::PackageEnded(p) = steps.last().unwrap() else {
            panic!()
        };
        assert_eq!(p.tests[0].output, "");
        assert_eq!(p.tests[0].output_cut, 14);
    }
}
