use chrono::{DateTime, Utc};

use super::*;
use crate::model::{
    Attempt, Captured, Category, Environment, Failure, Framework, Location, Outcome, Run,
    SCHEMA_VERSION, Summary, TestCase, TestMeta,
};

const T0_MS: i64 = 1_714_564_800_000; // 2024-05-01T12:00:00Z

fn at(offset_ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(T0_MS + offset_ms).unwrap()
}

fn meta(
    framework: Framework,
    id: &str,
    suite: &[&str],
    name: &str,
    file: &str,
    line: Option<u32>,
) -> TestMeta {
    TestMeta {
        id: id.into(),
        framework,
        name: name.into(),
        suite: suite.iter().map(|s| s.to_string()).collect(),
        file: Some(file.into()),
        line,
        binary: None,
    }
}

fn rust(binary: &str, file: &str, suite: &[&str], name: &str, line: u32) -> TestMeta {
    let mut path = suite.join("::");
    if !path.is_empty() {
        path.push_str("::");
    }
    path.push_str(name);
    TestMeta {
        binary: Some(binary.into()),
        ..meta(
            Framework::Rust,
            &format!("{binary}${path}"),
            suite,
            name,
            file,
            Some(line),
        )
    }
}

fn attempt(n: u32, outcome: Outcome, start: i64, ms: f64, failure: Option<Failure>) -> Attempt {
    Attempt {
        attempt: n,
        outcome,
        duration_ms: ms,
        started_at: Some(at(start)),
        failure,
        concurrent: None,
        attachments: vec![],
    }
}

fn once(m: TestMeta, outcome: Outcome, start: i64, ms: f64, failure: Option<Failure>) -> TestCase {
    TestCase::from_attempts(m, vec![attempt(1, outcome, start, ms, failure)])
}

fn out(s: &str) -> Option<Captured> {
    Some(Captured::from_bytes(s.as_bytes(), 1024))
}

const CONTROL_OUTPUT: &str = "\x1b[31mred\x1b[0m\tTAB \x00NUL \x07BEL \x0bVT \x08BS \u{fffe}\u{ffff}\u{85}\x7f|\r\nCRLF\n\x1b]0;title\x07after osc\nlone \x1b esc\n\x1b]8;;unterminated link, rest kept\n";

/// One run that covers every outcome, retries and hostile text.
fn sample_run() -> Run {
    let integ = |suite: &[&str], name: &str, line| {
        rust("mycrate::integ", "tests/integ.rs", suite, name, line)
    };
    let lib = |suite: &[&str], name: &str, line| rust("mycrate", "src/lib.rs", suite, name, line);
    let py = |suite: &[&str], name: &str, file: &str, line| {
        let mut id = file.to_owned();
        for s in suite.iter().chain([&name]) {
            id.push_str("::");
            id.push_str(s);
        }
        meta(Framework::Pytest, &id, suite, name, file, Some(line))
    };
    let jest = |suite: &[&str], name: &str, file: &str, line| {
        let full: Vec<&str> = suite.iter().copied().chain([name]).collect();
        let id = format!("{file}#{}", full.join(" "));
        meta(Framework::Jest, &id, suite, name, file, Some(line))
    };

    let tests = vec![
        once(integ(&["tests"], "adds", 10), Outcome::Passed, 0, 12.3456, None),
        once(
            integ(&["tests"], "subtracts", 20),
            Outcome::Failed,
            15,
            3.5,
            Some(Failure {
                category: Category::Assertion,
                kind: Some("assert_eq".into()),
                message: "assertion `left == right` failed".into(),
                location: Some(Location {
                    file: "tests/integ.rs".into(),
                    line: 21,
                    column: Some(5),
                }),
                expected: Some("3".into()),
                actual: Some("4".into()),
                details: Some(
                    "stack backtrace:\n   0: integ::tests::subtracts\n\tat ./tests/integ.rs:21:5"
                        .into(),
                ),
                stdout: out("computing 1 - 2\n"),
                ..Failure::default()
            }),
        ),
        once(
            py(&["TestDb"], "test_connect", "tests/test_db.py", 7),
            Outcome::Error,
            20,
            101.0,
            Some(Failure {
                category: Category::SetupError,
                kind: Some("ConnectionRefusedError".into()),
                message: "fixture 'db' failed: [Errno 111] Connection refused".into(),
                details: Some("Traceback (most recent call last):\n  File \"conftest.py\", line 12, in db\n    return connect()\nConnectionRefusedError: [Errno 111] Connection refused".into()),
                stderr: out("WARNING retrying connect\n"),
                ..Failure::default()
            }),
        ),
        once(
            py(&[], "test_slow", "tests/test_db.py", 30),
            Outcome::Skipped,
            25,
            0.0,
            Some(Failure {
                message: "needs network".into(),
                ..Failure::default()
            }),
        ),
        once(
            lib(&["net"], "waits_forever", 40),
            Outcome::Timeout,
            30,
            60_000.0,
            Some(Failure {
                category: Category::Timeout,
                message: "exceeded the time limit of 60s".into(),
                ..Failure::default()
            }),
        ),
        once(
            lib(&["ffi"], "derefs_null", 55),
            Outcome::Crashed,
            35,
            8.25,
            Some(Failure {
                category: Category::Crash,
                kind: Some("SIGSEGV".into()),
                message: "process killed by signal 11 (SIGSEGV)".into(),
                signal: Some(11),
                stderr: out("about to deref\n"),
                ..Failure::default()
            }),
        ),
        TestCase::from_attempts(
            jest(&["retry"], "eventually succeeds", "src/retry.test.ts", 12),
            vec![
                attempt(
                    1,
                    Outcome::Failed,
                    40,
                    50.0,
                    Some(Failure {
                        category: Category::Assertion,
                        kind: Some("toBe".into()),
                        message: "expect(received).toBe(expected)".into(),
                        location: Some(Location {
                            file: "src/retry.test.ts".into(),
                            line: 14,
                            column: Some(23),
                        }),
                        expected: Some("200".into()),
                        actual: Some("503".into()),
                        details: Some("    at Object.<anonymous> (src/retry.test.ts:14:23)".into()),
                        stdout: out("GET /health -> 503\n"),
                        ..Failure::default()
                    }),
                ),
                attempt(2, Outcome::Passed, 95, 45.0, None),
            ],
        ),
        TestCase::from_attempts(
            py(&[], "test_rate_limit", "tests/test_api.py", 50),
            vec![
                attempt(
                    1,
                    Outcome::Error,
                    100,
                    5.0,
                    Some(Failure {
                        category: Category::SetupError,
                        kind: Some("KeyError".into()),
                        message: "KeyError: 'API_TOKEN'".into(),
                        ..Failure::default()
                    }),
                ),
                attempt(
                    2,
                    Outcome::Timeout,
                    110,
                    30_000.0,
                    Some(Failure {
                        category: Category::Timeout,
                        message: "Timeout (>30.0s) from pytest-timeout".into(),
                        ..Failure::default()
                    }),
                ),
                attempt(
                    3,
                    Outcome::Failed,
                    30_200,
                    7.0,
                    Some(Failure {
                        category: Category::Assertion,
                        kind: Some("AssertionError".into()),
                        message: "assert 429 == 200".into(),
                        location: Some(Location {
                            file: "tests/test_api.py".into(),
                            line: 53,
                            column: None,
                        }),
                        expected: Some("200".into()),
                        actual: Some("429".into()),
                        stdout: out("attempt 3\n"),
                        ..Failure::default()
                    }),
                ),
            ],
        ),
        once(
            jest(&["render"], "<img src=x onerror=alert(1)>", "src/xss.test.js", 3),
            Outcome::Passed,
            120,
            1.0,
            None,
        ),
        once(
            py(&[], "test_x[π - ü]", "tests/test_params.py", 5),
            Outcome::Passed,
            125,
            0.4,
            None,
        ),
        once(
            py(&[], "test_known_bug", "tests/test_params.py", 9),
            Outcome::Xfailed,
            126,
            0.7,
            Some(Failure {
                category: Category::Assertion,
                kind: Some("AssertionError".into()),
                message: "reason: issue #12".into(),
                ..Failure::default()
            }),
        ),
        once(
            py(&[], "test_fixed_bug", "tests/test_params.py", 14),
            Outcome::Xpassed,
            127,
            0.6,
            None,
        ),
        once(
            integ(&[], "reads_binary", 80),
            Outcome::Failed,
            130,
            2.0,
            Some(Failure {
                kind: Some("panic".into()),
                message: "called `Result::unwrap()` on an `Err` value: InvalidData".into(),
                stdout: Some(Captured::from_bytes(b"bytes: \xff\xfe end\n", 1024)),
                ..Failure::default()
            }),
        ),
        once(
            integ(&[], "prints_controls", 90),
            Outcome::Failed,
            135,
            2.0,
            Some(Failure {
                kind: Some("panic".into()),
                message: "boom \x1b[1mbold\x1b[0m\x00 \"quoted\" & <tag>".into(),
                stdout: out(CONTROL_OUTPUT),
                stderr: out("err\x1b[33m yellow\x1b[0m\n"),
                ..Failure::default()
            }),
        ),
    ];
    Run {
        schema_version: SCHEMA_VERSION,
        run_id: "20240501-120000-a1b2".into(),
        testflow_version: "0.1.0".into(),
        started_at: at(0),
        finished_at: Some(at(31_000)),
        completed: true,
        project_root: Some("/work/repo".into()),
        environment: Environment {
            git_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            git_branch: Some("main".into()),
            git_tree: None,
            ci: Some("github".into()),
            hostname: Some("runner-1".into()),
            os: "linux".into(),
            arch: "x86_64".into(),
            rust_isolation: None,
        },
        frameworks: vec![Framework::Rust, Framework::Pytest, Framework::Jest],
        shard: None,
        shards: vec![],
        summary: Summary::of(&tests, 31_000.0),
        tests,
        errors: vec![],
        coverage: None,
        workers: Vec::new(),
        quarantine: None,
        affected: None,
    }
}

#[test]
fn quarantined_tests_are_listed_apart_in_every_report_and_stay_failures() {
    let mut run = sample_run();
    let failing: Vec<String> = run.failed_tests().map(|t| t.id.clone()).collect();
    assert!(!failing.is_empty());
    let entry = |id: &str| crate::model::QuarantineEntry {
        id: Some(id.into()),
        pattern: None,
        reason: "known | broken".into(),
        until: None,
        origin: "config".into(),
        source: None,
        expired: false,
        matched: 0,
    };
    run.quarantine = crate::quarantine::resolve(
        failing.iter().map(|id| entry(id)).collect(),
        &run.tests,
        run.started_at,
    );
    let md = render_str(&run, ReportFormat::Markdown);
    assert!(
        md.contains(&format!(
            "### Quarantined: {} ({} failing, not counted)",
            crate::ui::plural(failing.len() as u64, "test", "tests"),
            failing.len()
        )),
        "{md}"
    );
    assert!(md.contains("known \\| broken"), "the pipe is escaped: {md}");
    assert!(md.contains("No counted failures"), "{md}");
    let junit = render_str(&run, ReportFormat::Junit);
    assert_eq!(
        junit.matches("name=\"testflow.quarantined\"").count(),
        failing.len(),
        "{junit}"
    );
    let failures_before = render_str(&sample_run(), ReportFormat::Junit)
        .matches("<failure")
        .count();
    assert_eq!(
        junit.matches("<failure").count(),
        failures_before,
        "still failures"
    );
    let ctrf: serde_json::Value =
        serde_json::from_str(&render_str(&run, ReportFormat::Ctrf)).unwrap();
    let held: Vec<&serde_json::Value> = ctrf["results"]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["extra"]["quarantined"].is_object())
        .collect();
    assert_eq!(held.len(), failing.len());
    assert!(held.iter().all(|t| t["status"] != "passed"));
    let json: Run = serde_json::from_str(&render_str(&run, ReportFormat::Json)).unwrap();
    assert_eq!(json.quarantine, run.quarantine);
    let data = crate::report::html::data(&run);
    assert_eq!(
        data["quarantine"]["tests"].as_array().unwrap().len(),
        failing.len()
    );
    let summary = crate::ui::summary(
        &run,
        crate::ui::Style {
            color: false,
            bar: false,
            quiet: false,
        },
    );
    assert!(summary.contains("quarantined (not counted):"), "{summary}");
}

fn render_str(run: &Run, format: ReportFormat) -> String {
    String::from_utf8(render(run, format).unwrap()).unwrap()
}

#[test]
fn json_snapshot() {
    insta::assert_snapshot!(render_str(&sample_run(), ReportFormat::Json));
}

#[test]
fn json_reads_back_as_the_same_run() {
    let run = sample_run();
    let bytes = render(&run, ReportFormat::Json).unwrap();
    assert!(bytes.ends_with(b"}\n"));
    let back: Run = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(back, run);
    // Non-UTF-8 output keeps its exact bytes.
    let binary = back
        .tests
        .iter()
        .find(|t| t.name == "reads_binary")
        .unwrap();
    let stdout = binary.failure.as_ref().unwrap().stdout.as_ref().unwrap();
    assert_eq!(stdout.bytes(), b"bytes: \xff\xfe end\n");
}

#[test]
fn junit_snapshot() {
    insta::assert_snapshot!(render_str(&sample_run(), ReportFormat::Junit));
}

/// A parsed XML element: enough of a tree to check the report.
#[derive(Debug, Default)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
    text: String,
}

impl Node {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn children<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Node> {
        let name = name.to_owned();
        self.children.iter().filter(move |c| c.name == name)
    }

    fn child(&self, name: &str) -> &Node {
        self.children(name)
            .next()
            .unwrap_or_else(|| panic!("<{}> has no <{name}>", self.name))
    }

    fn descendants(&self) -> Vec<&Node> {
        let mut all = vec![self];
        for c in &self.children {
            all.extend(c.descendants());
        }
        all
    }
}

/// Parses with quick-xml, failing on anything not well-formed (mismatched tags,
/// undefined entities, several roots).
fn parse_xml(text: &str) -> Node {
    use quick_xml::Reader;
    use quick_xml::events::{BytesStart, Event};

    fn element(e: &BytesStart<'_>) -> Node {
        Node {
            name: String::from_utf8(e.name().as_ref().to_vec()).unwrap(),
            attrs: e
                .attributes()
                .map(|a| {
                    let a = a.expect("well-formed attribute");
                    (
                        String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                        a.unescape_value().expect("known entities").into_owned(),
                    )
                })
                .collect(),
            ..Node::default()
        }
    }

    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Node> = vec![Node::default()];
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => stack.push(element(&e)),
            Event::Empty(e) => stack.last_mut().unwrap().children.push(element(&e)),
            Event::End(_) => {
                let done = stack.pop().unwrap();
                stack.last_mut().unwrap().children.push(done);
            }
            Event::Text(e) => stack
                .last_mut()
                .unwrap()
                .text
                .push_str(&e.decode().unwrap()),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().expect("valid char ref") {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().unwrap();
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .unwrap_or_else(|| panic!("undefined entity &{name};"))
                            .to_owned()
                    }
                };
                stack.last_mut().unwrap().text.push_str(&resolved);
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::CData(_) | Event::PI(_) => {}
            Event::DocType(_) => panic!("no DTD expected"),
        }
    }
    let mut doc = stack.pop().unwrap();
    assert!(stack.is_empty(), "unclosed elements");
    assert_eq!(doc.children.len(), 1, "exactly one root element");
    doc.children.pop().unwrap()
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[test]
fn junit_is_well_formed_and_says_what_the_run_says() {
    let run = sample_run();
    let text = render_str(&run, ReportFormat::Junit);
    assert!(text.chars().all(is_xml_char), "only XML 1.0 characters");
    let root = parse_xml(&text);

    assert_eq!(root.name, "testsuites");
    assert_eq!(root.attr("name"), Some("testflow"));
    assert_eq!(root.attr("tests"), Some("14"));
    // failed 4 + timeout 1 + crashed 1; error 1; skipped 1 + xfailed 1.
    let s = &run.summary;
    assert_eq!((s.failed, s.timeout, s.crashed, s.error), (4, 1, 1, 1));
    assert_eq!((s.skipped, s.xfailed, s.xpassed, s.flaky), (1, 1, 1, 1));
    assert_eq!(root.attr("failures"), Some("6"));
    assert_eq!(root.attr("errors"), Some("1"));
    assert_eq!(root.attr("skipped"), Some("2"));
    assert_eq!(root.attr("time"), Some("31.000"));
    assert_eq!(
        root.attr("timestamp"),
        Some("2024-05-01T12:00:00.000+00:00")
    );

    let suites: Vec<(&str, &str)> = root
        .children("testsuite")
        .map(|s| (s.attr("name").unwrap(), s.attr("tests").unwrap()))
        .collect();
    assert_eq!(
        suites,
        [
            ("mycrate::integ", "4"),
            ("tests/test_db.py", "2"),
            ("mycrate", "2"),
            ("src/retry.test.ts", "1"),
            ("tests/test_api.py", "1"),
            ("src/xss.test.js", "1"),
            ("tests/test_params.py", "3"),
        ]
    );
    let cases: Vec<&Node> = root
        .children("testsuite")
        .flat_map(|s| s.children("testcase"))
        .collect();
    assert_eq!(cases.len(), run.tests.len());
    for c in &cases {
        assert!(c.attr("classname").is_some() && c.attr("file").is_some());
        assert!(c.attr("line").is_some() && c.attr("time").is_some());
    }
    let case = |name: &str| {
        *cases
            .iter()
            .find(|c| c.attr("name") == Some(name))
            .unwrap_or_else(|| panic!("no testcase {name}"))
    };

    let sub = case("tests::subtracts");
    assert_eq!(sub.attr("classname"), Some("mycrate::integ"));
    assert_eq!(sub.attr("file"), Some("tests/integ.rs"));
    assert_eq!(sub.attr("line"), Some("20"));
    assert_eq!(sub.attr("time"), Some("0.004"));
    let failure = sub.child("failure");
    assert_eq!(failure.attr("type"), Some("assert_eq"));
    assert!(
        failure
            .text
            .contains("at tests/integ.rs:21:5\nexpected: 3\n  actual: 4")
    );
    assert!(
        failure.text.contains("\n\tat ./tests/integ.rs:21:5"),
        "tabs kept"
    );
    assert_eq!(sub.child("system-out").text, "computing 1 - 2\n");

    let db = case("test_connect");
    assert_eq!(db.attr("classname"), Some("tests.test_db.TestDb"));
    assert_eq!(
        db.child("error").attr("type"),
        Some("ConnectionRefusedError")
    );
    assert_eq!(db.child("system-err").text, "WARNING retrying connect\n");

    let skipped = case("test_slow").child("skipped");
    assert_eq!(skipped.attr("message"), Some("needs network"));
    assert_eq!(
        case("test_known_bug").child("skipped").attr("type"),
        Some("xfailed")
    );
    assert!(
        case("test_fixed_bug").children.is_empty(),
        "xpassed is a pass"
    );

    assert_eq!(
        case("net::waits_forever").child("failure").attr("type"),
        Some("timeout")
    );
    let crash = case("ffi::derefs_null").child("failure");
    assert_eq!(crash.attr("type"), Some("SIGSEGV"));
    assert!(crash.text.contains("signal: 11"));

    let flaky = case("retry eventually succeeds");
    // A Jest test's file is spelled once: the id's, in classname and file alike.
    assert_eq!(flaky.attr("classname"), Some("src/retry.test.ts"));
    assert_eq!(flaky.attr("file"), Some("src/retry.test.ts"));
    assert!(flaky.children("failure").next().is_none());
    let flaky_failures: Vec<&Node> = flaky.children("flakyFailure").collect();
    assert_eq!(flaky_failures.len(), 1);
    assert_eq!(flaky_failures[0].attr("time"), Some("0.050"));
    assert_eq!(
        flaky_failures[0].child("system-out").text,
        "GET /health -> 503\n"
    );
    assert!(
        flaky_failures[0]
            .child("stackTrace")
            .text
            .contains("Object.<anonymous>")
    );

    let always = case("test_rate_limit");
    let names: Vec<&str> = always.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["failure", "rerunError", "rerunFailure", "system-out"]
    );
    assert_eq!(
        always.child("failure").attr("message"),
        Some("assert 429 == 200")
    );
    assert_eq!(always.child("rerunError").attr("type"), Some("KeyError"));
    assert_eq!(always.child("rerunFailure").attr("type"), Some("timeout"));
    assert_eq!(always.child("rerunFailure").attr("time"), Some("30.000"));

    // Hostile names come back exactly.
    assert_eq!(
        case("render <img src=x onerror=alert(1)>").attr("classname"),
        Some("src/xss.test.js")
    );
    assert_eq!(
        case("test_x[π - ü]").attr("classname"),
        Some("tests.test_params")
    );

    let binary = case("reads_binary").child("system-out");
    assert_eq!(binary.text, "bytes: \u{fffd}\u{fffd} end\n");

    let controls = case("prints_controls");
    assert_eq!(
        controls.child("failure").attr("message"),
        Some("boom bold \"quoted\" & <tag>")
    );
    assert_eq!(
        controls.child("system-out").text,
        "red\tTAB NUL BEL VT BS |\nCRLF\nafter osc\nlone  esc\n8;;unterminated link, rest kept\n"
    );
    assert_eq!(controls.child("system-err").text, "err yellow\n");

    // No text anywhere carries an escape character.
    for n in root.descendants() {
        assert!(!n.text.contains('\x1b'));
        assert!(n.attrs.iter().all(|(_, v)| !v.contains('\x1b')));
    }
}

#[test]
fn junit_of_an_empty_run_is_valid() {
    let mut run = sample_run();
    run.tests.clear();
    run.summary = Summary::of(&run.tests, 0.0);
    let root = parse_xml(&render_str(&run, ReportFormat::Junit));
    assert_eq!(root.attr("tests"), Some("0"));
    assert!(root.children.is_empty());
}

#[test]
fn a_build_failure_is_an_errored_testcase_not_an_empty_green_report() {
    let mut run = sample_run();
    run.tests.clear();
    run.summary = Summary::of(&run.tests, 0.0);
    run.errors.push(crate::model::RunError {
        kind: "build".into(),
        message: "error[E0308]: mismatched types\n --> src/lib.rs:3:5".into(),
    });
    let root = parse_xml(&render_str(&run, ReportFormat::Junit));
    assert_eq!(root.attr("errors"), Some("1"));
    let suite = root.child("testsuite");
    assert_eq!(suite.attr("name"), Some("testflow"));
    let case = suite.child("testcase");
    assert_eq!(case.attr("name"), Some("build error"));
    let error = case.child("error");
    assert_eq!(error.attr("type"), Some("build"));
    assert_eq!(
        error.attr("message"),
        Some("error[E0308]: mismatched types")
    );
}

#[test]
fn tests_without_file_or_binary_still_get_a_suite_and_classname() {
    let mut run = sample_run();
    for t in &mut run.tests {
        t.file = None;
        t.line = None;
        t.binary = None;
    }
    let root = parse_xml(&render_str(&run, ReportFormat::Junit));
    let suites: Vec<&str> = root
        .children("testsuite")
        .map(|s| s.attr("name").unwrap())
        .collect();
    assert_eq!(suites, ["rust", "pytest", "jest"]);
    let db = root
        .descendants()
        .into_iter()
        .find(|n| n.attr("name") == Some("test_connect"))
        .unwrap();
    assert_eq!(db.attr("classname"), Some("TestDb"));
    assert_eq!(db.attr("file"), None);
}

#[test]
fn report_spec_parses_format_and_path() {
    assert_eq!(
        ReportSpec::parse("junit=out/a.xml").unwrap(),
        ReportSpec {
            format: ReportFormat::Junit,
            path: "out/a.xml".into()
        }
    );
    // Only the first `=` separates; paths may contain more.
    assert_eq!(
        ReportSpec::parse("JSON=out/run=1.json").unwrap(),
        ReportSpec {
            format: ReportFormat::Json,
            path: "out/run=1.json".into()
        }
    );
    for f in ReportFormat::ALL {
        assert_eq!(ReportFormat::parse(f.name()).unwrap(), f);
    }
}

#[test]
fn report_spec_errors_say_what_is_accepted() {
    let err = |s: &str| format!("{:#}", ReportSpec::parse(s).unwrap_err());
    let e = err("junit");
    assert!(
        e.contains("invalid report `junit`") && e.contains("FORMAT=PATH"),
        "{e}"
    );
    assert!(e.contains("json, junit"), "{e}");
    let e = err("yaml=out/a.yml");
    assert!(e.contains("unknown report format `yaml`"), "{e}");
    assert!(e.contains("accepted formats: json, junit"), "{e}");
    let e = err("=out/a.xml");
    assert!(e.contains("unknown report format ``"), "{e}");
    let e = err("junit=");
    assert!(
        e.contains("path after `=` is empty") && e.contains("junit=out/report.xml"),
        "{e}"
    );
    let e = err("junit=out/");
    assert!(e.contains("names a directory"), "{e}");
}

#[test]
fn write_creates_directories_and_replaces_the_file_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/junit.xml");
    let spec = ReportSpec {
        format: ReportFormat::Junit,
        path: path.clone(),
    };
    let mut run = sample_run();
    write(&run, &spec).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        render(&run, ReportFormat::Junit).unwrap()
    );
    run.tests.truncate(1);
    run.summary = Summary::of(&run.tests, 1.0);
    write(&run, &spec).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        render(&run, ReportFormat::Junit).unwrap()
    );
    let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["junit.xml"], "no temporary files left behind");
}

#[test]
fn a_report_to_a_link_writes_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.xml");
    let link = dir.path().join("junit.xml");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let run = sample_run();
    let spec = |path: &std::path::Path| ReportSpec {
        format: ReportFormat::Junit,
        path: path.to_owned(),
    };
    write(&run, &spec(&link)).unwrap();
    write(&run, &spec(&link)).unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read(&real).unwrap(),
        render(&run, ReportFormat::Junit).unwrap()
    );
    // (What is not a plain file, `-o /dev/null` say, is written to as well: the FIFO case
    // of `store::tests::writing_over_a_link_or_a_fifo_writes_through_it_and_keeps_it`.)
}

#[test]
fn write_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let spec = ReportSpec {
        format: ReportFormat::Json,
        path: blocker.join("run.json"),
    };
    let e = format!("{:#}", write(&sample_run(), &spec).unwrap_err());
    assert!(e.contains(&spec.path.display().to_string()), "{e}");
}

// ---- CTRF --------------------------------------------------------------------------

fn ctrf_schema() -> jsonschema::Validator {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/schemas/ctrf.schema.json"
    );
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

fn assert_valid_ctrf(doc: &serde_json::Value) {
    let validator = ctrf_schema();
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "CTRF schema errors:\n{}",
        errors.join("\n")
    );
}

#[test]
fn ctrf_snapshot() {
    insta::assert_snapshot!(render_str(&sample_run(), ReportFormat::Ctrf));
}

#[test]
fn ctrf_is_valid_against_the_official_schema() {
    let doc: serde_json::Value =
        serde_json::from_slice(&render(&sample_run(), ReportFormat::Ctrf).unwrap()).unwrap();
    assert_valid_ctrf(&doc);
    // The schema really is checked: a float duration and an unknown key are rejected.
    let mut bad = doc.clone();
    bad["results"]["tests"][0]["duration"] = serde_json::json!(1.5);
    bad["results"]["tests"][0]["bogus"] = serde_json::json!(1);
    assert!(ctrf_schema().iter_errors(&bad).count() >= 2);
}

#[test]
fn ctrf_says_what_the_run_says() {
    let run = sample_run();
    let doc: serde_json::Value =
        serde_json::from_slice(&render(&run, ReportFormat::Ctrf).unwrap()).unwrap();
    assert_eq!(doc["reportFormat"], "CTRF");
    assert_eq!(doc["runId"], run.run_id.as_str());
    let tests = doc["results"]["tests"].as_array().unwrap();
    assert_eq!(tests.len(), run.tests.len());
    let s = &doc["results"]["summary"];
    assert_eq!(s["tests"], run.summary.total);
    assert_eq!(s["failed"], run.summary.failures());
    assert_eq!(s["flaky"], 1);
    // Stable ids: the same test id gives the same testId, in every run.
    let again: serde_json::Value = serde_json::from_slice(
        &render(
            &Run {
                run_id: "another-run".into(),
                ..sample_run()
            },
            ReportFormat::Ctrf,
        )
        .unwrap(),
    )
    .unwrap();
    for (a, b) in tests
        .iter()
        .zip(again["results"]["tests"].as_array().unwrap())
    {
        assert_eq!(a["testId"], b["testId"]);
        assert_ne!(a["executionId"], b["executionId"]);
    }
    let ids: std::collections::HashSet<&str> = tests
        .iter()
        .map(|t| t["testId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), tests.len(), "testIds are unique");
    // Retries: the attempts before the last one, and flaky when it finally passed.
    let flaky = tests
        .iter()
        .find(|t| t["name"] == "eventually succeeds")
        .unwrap();
    assert_eq!(flaky["flaky"], true);
    assert_eq!(flaky["retries"], 1);
    assert_eq!(flaky["status"], "passed");
    assert_eq!(flaky["retryAttempts"][0]["status"], "failed");
    assert_eq!(flaky["retryAttempts"][0]["duration"], 50);
    let thrice = tests
        .iter()
        .find(|t| t["name"] == "test_rate_limit")
        .unwrap();
    assert_eq!(thrice["retries"], 2);
    assert_eq!(thrice["flaky"], false);
    assert_eq!(thrice["status"], "failed");
    // Integer milliseconds, rounded.
    let adds = tests.iter().find(|t| t["name"] == "adds").unwrap();
    assert_eq!(adds["duration"], 12);
    // No escape characters reach a CTRF viewer.
    let controls = tests
        .iter()
        .find(|t| t["name"] == "prints_controls")
        .unwrap();
    assert!(!controls.to_string().contains("\\u001b"));
}

#[test]
fn ctrf_of_a_build_failure_is_not_green() {
    let mut run = sample_run();
    run.tests.clear();
    run.summary = Summary::of(&[], 10.0);
    run.errors.push(crate::model::RunError {
        kind: "build".into(),
        message: "error[E0425]: cannot find value `x`".into(),
    });
    let doc: serde_json::Value =
        serde_json::from_slice(&render(&run, ReportFormat::Ctrf).unwrap()).unwrap();
    assert_valid_ctrf(&doc);
    assert_eq!(doc["results"]["summary"]["failed"], 1);
    assert_eq!(doc["results"]["tests"][0]["name"], "build error");
}

// ---- Markdown ----------------------------------------------------------------------

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!(render_str(&sample_run(), ReportFormat::Markdown));
}

#[test]
fn markdown_shows_test_text_as_code_only() {
    let md = render_str(&sample_run(), ReportFormat::Markdown);
    // Test text with markup shows up only inside code spans.
    let img: Vec<&str> = md.lines().filter(|l| l.contains("<img")).collect();
    assert!(!img.is_empty());
    for line in img {
        assert!(
            line.contains("`src/xss.test.js#render <img src=x onerror=alert(1)>`"),
            "bare HTML in: {line}"
        );
    }
    assert!(!md.contains('\x1b'));
    assert!(md.contains("### Failures by cause"));
    assert!(md.contains("### Gates: **FAILED**"));
    assert!(md.contains("### Flaky tests"));
    assert!(md.contains("### Slowest tests"));
}

/// Letters only, so `analyze` does not normalize it away (it folds numbers).
fn word(mut i: usize) -> String {
    let mut w = String::new();
    loop {
        w.push((b'a' + (i % 26) as u8) as char);
        i /= 26;
        if i == 0 {
            return w;
        }
    }
}

/// A run of `n` tests that all fail, each for a different reason, with long messages.
fn huge_run(n: usize) -> Run {
    let mut run = sample_run();
    run.tests = (0..n)
        .map(|i| {
            once(
                rust(
                    "big",
                    &format!("tests/t{i}.rs"),
                    &["m"],
                    &format!("t{i}"),
                    1,
                ),
                if i % 7 == 0 {
                    Outcome::Passed
                } else {
                    Outcome::Failed
                },
                i as i64,
                i as f64,
                (i % 7 != 0).then(|| Failure {
                    category: Category::Assertion,
                    kind: Some(format!("kind{}", i % 97)),
                    message: format!("failure `{}` {}", word(i), "x".repeat(500)),
                    expected: Some("a\n".repeat(30)),
                    actual: Some("b\n".repeat(30)),
                    ..Failure::default()
                }),
            )
        })
        .collect();
    for t in run.tests.iter_mut().step_by(13) {
        t.flaky = true;
    }
    run.summary = Summary::of(&run.tests, 1.0);
    run
}

#[test]
fn markdown_stays_under_one_mebibyte_and_says_what_was_cut() {
    let run = huge_run(20_000);
    let md = render_str(&run, ReportFormat::Markdown);
    assert!(md.len() <= markdown::BUDGET, "{} bytes", md.len());
    assert!(md.len() < markdown::GITHUB_LIMIT);
    assert!(md.len() > markdown::BUDGET - 64 * 1024, "uses the budget");
    // The most useful sections stay; the least useful go first, and it says so.
    assert!(md.contains("| tests | passed |"));
    assert!(md.contains("### Gates"));
    assert!(md.contains("### Failures by cause"));
    assert!(!md.contains("### Slowest tests"));
    let note = md.lines().last().unwrap();
    assert!(note.starts_with("> **Truncated**"), "{note}");
    assert!(note.contains("groups of failures"), "{note}");
    assert!(note.contains("flaky tests"), "{note}");
    assert!(note.contains("slowest tests"), "{note}");
    // A small budget still keeps the totals.
    let tiny = markdown::render_with_budget(&run, 4096);
    assert!(tiny.contains("| tests | passed |") && tiny.contains("Truncated"));
}

// ---- HTML --------------------------------------------------------------------------

#[test]
fn html_data_snapshot() {
    insta::assert_json_snapshot!(html::data(&sample_run()));
}

#[test]
fn html_is_one_file_that_test_text_cannot_break_out_of() {
    let mut run = covered_run();
    run.tests[0].name = "</script><script>window.pwned=1</script><!--".into();
    let cov = run.coverage.as_mut().unwrap();
    cov.files[1].path = "src/</script><img src=x onerror=alert(2)>.rs".into();
    cov.frameworks[1].message = Some("</script><script>window.pwned=3</script>".into());
    let page = render_str(&run, ReportFormat::Html);
    // Exactly the two script elements of the page; the data cannot close its element.
    assert_eq!(page.matches("<script").count(), 2, "{page}");
    assert_eq!(page.matches("</script>").count(), 2);
    assert!(!page.contains("<!--"));
    assert!(!page.contains("<img src=x"));
    // Self-contained: nothing is loaded from anywhere.
    for needle in ["src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(!page.contains(needle), "{needle}");
    }
    // The embedded data reads back as the data.
    let start = page.find("type=\"application/json\">").unwrap() + 24;
    let end = start + page[start..].find("</script>").unwrap();
    let data: serde_json::Value = serde_json::from_str(&page[start..end]).unwrap();
    assert_eq!(data, html::data(&run));
    assert_eq!(
        data["tests"][0][1],
        "</script><script>window.pwned=1</script><!--"
    );
    assert_eq!(
        data["coverage"]["files"][1][0],
        "src/</script><img src=x onerror=alert(2)>.rs"
    );
    assert_eq!(data["coverage"]["files"][3][0], HOSTILE_PATH);
    // The page never puts data into the DOM as markup.
    assert!(!page.contains("innerHTML"));
    assert!(!page.contains("insertAdjacentHTML"));
    assert!(!page.contains("document.write"));
}

#[test]
fn markdown_of_a_green_run_and_of_an_empty_run() {
    let mut run = sample_run();
    run.tests
        .retain(|t| t.outcome == Outcome::Passed && !t.flaky);
    run.summary = Summary::of(&run.tests, 100.0);
    let md = markdown::render(&run);
    assert!(
        md.starts_with("## ✅ testflow: All 3 tests passed\n"),
        "{md}"
    );
    assert!(md.contains("### Gates: passed"));
    assert!(
        !md.contains("Failures by cause") && !md.contains("Flaky") && !md.contains("Truncated")
    );
    run.tests.clear();
    run.summary = Summary::of(&[], 0.0);
    let md = markdown::render(&run);
    assert!(md.starts_with("## ⚠️ testflow: No test ran"), "{md}");
    assert!(md.contains("### Gates: **FAILED**"));
}

#[test]
fn a_run_with_skips_says_what_happened_not_all_passed() {
    let mut run = sample_run();
    run.tests.retain(|t| {
        !t.flaky
            && matches!(
                t.outcome,
                Outcome::Passed | Outcome::Skipped | Outcome::Xfailed
            )
    });
    run.summary = Summary::of(&run.tests, 100.0);
    let md = markdown::render(&run);
    assert!(
        md.starts_with("## ✅ testflow: No failures: 3 passed, 1 skipped, 1 xfailed\n"),
        "{md}"
    );
    let data = crate::report::html::data(&run);
    assert_eq!(
        data["headline"],
        "✓ No failures: 3 passed, 1 skipped, 1 xfailed"
    );
    assert!(!md.contains("All ") && !data["headline"].as_str().unwrap().contains("All "));
    // One test: no "1 tests".
    run.tests.truncate(1);
    run.tests[0].outcome = Outcome::Passed;
    run.summary = Summary::of(&run.tests, 1.0);
    assert_eq!(
        crate::report::html::data(&run)["headline"],
        "✓ The 1 test passed"
    );
}

#[test]
fn html_embeds_history_trends_when_there_are_past_runs() {
    let point = |id: &str, failed| crate::history::TrendPoint {
        run_id: id.into(),
        started_at: "2026-11-26T08:00:00+00:00".into(),
        git_commit: None,
        total: 10,
        failed,
        flaky: 0,
        pass_rate: Some(0.9),
        duration_ms: 1200.0,
    };
    let extras = super::Extras {
        trend: vec![point("r-old", 3), point("r-new", 1)],
    };
    let page =
        String::from_utf8(super::render_with(&sample_run(), ReportFormat::Html, &extras).unwrap())
            .unwrap();
    assert!(page.contains(r#""history":[{"#), "trends are embedded");
    assert!(page.contains(r#""run_id":"r-old""#) && page.contains(r#""failures":3"#));
    let without =
        String::from_utf8(super::render(&sample_run(), ReportFormat::Html).unwrap()).unwrap();
    assert!(
        without.contains(r#""history":null"#),
        "no history, no made-up trends"
    );
}

// ---- Coverage (Markdown and HTML) ---------------------------------------------------

fn ratio(covered: u64, total: u64) -> crate::coverage::Ratio {
    crate::coverage::Ratio::new(covered, total)
}

fn file_cov(
    path: &str,
    lines: (u64, u64),
    branches: (u64, u64),
    functions: (u64, u64),
) -> crate::coverage::FileSummary {
    crate::coverage::FileSummary {
        path: path.into(),
        totals: crate::coverage::Totals {
            lines: ratio(lines.0, lines.1),
            branches: ratio(branches.0, branches.1),
            functions: ratio(functions.0, functions.1),
        },
    }
}

const HOSTILE_PATH: &str = "web/<img src=x onerror=alert(1)>|`x`.js";

/// Coverage of three frameworks, one of them unavailable, against a previous run, with a
/// hostile path (markup, a pipe and backticks).
fn sample_coverage() -> crate::model::RunCoverage {
    use crate::model::{CoverageBaseline, FileCoverageChange, FrameworkCoverage, RunCoverage};
    let files = vec![
        file_cov("src/lib.rs", (90, 100), (8, 10), (9, 10)),
        file_cov("src/parse.rs", (30, 60), (2, 8), (3, 6)),
        file_cov("src/util.rs", (40, 40), (0, 0), (4, 4)),
        file_cov(HOSTILE_PATH, (1, 4), (0, 2), (0, 1)),
        file_cov("src/empty.rs", (0, 0), (0, 0), (0, 0)),
    ];
    let mut totals = crate::coverage::Totals::default();
    let sum = |f: fn(&crate::coverage::Totals) -> crate::coverage::Ratio| {
        let (c, t) = files.iter().fold((0, 0), |(c, t), s| {
            (c + f(&s.totals).covered, t + f(&s.totals).total)
        });
        ratio(c, t)
    };
    totals.lines = sum(|t| t.lines);
    totals.branches = sum(|t| t.branches);
    totals.functions = sum(|t| t.functions);
    RunCoverage {
        reports: vec![
            "coverage/rust.lcov".into(),
            "coverage/jest/coverage-final.json".into(),
        ],
        frameworks: vec![
            FrameworkCoverage {
                framework: Framework::Rust,
                status: "collected".into(),
                message: None,
            },
            FrameworkCoverage {
                framework: Framework::Pytest,
                status: "unavailable".into(),
                message: Some("pytest-cov is not installed: pip install pytest-cov".into()),
            },
            FrameworkCoverage {
                framework: Framework::Jest,
                status: "collected".into(),
                message: None,
            },
        ],
        totals,
        files,
        previous: Some(CoverageBaseline {
            run_id: "20240430-090000-ffff".into(),
            branch: Some("main".into()),
            lines: ratio(150, 200),
            changed_files: vec![
                FileCoverageChange {
                    path: "src/lib.rs".into(),
                    before: Some(ratio(80, 100)),
                    after: Some(ratio(90, 100)),
                },
                FileCoverageChange {
                    path: "src/parse.rs".into(),
                    before: Some(ratio(45, 60)),
                    after: Some(ratio(30, 60)),
                },
                FileCoverageChange {
                    path: HOSTILE_PATH.into(),
                    before: None,
                    after: Some(ratio(1, 4)),
                },
                FileCoverageChange {
                    path: "src/old.rs".into(),
                    before: Some(ratio(5, 10)),
                    after: None,
                },
            ],
            skipped_affected: 0,
        }),
    }
}

fn covered_run() -> Run {
    Run {
        coverage: Some(sample_coverage()),
        ..sample_run()
    }
}

#[test]
fn markdown_with_coverage_snapshot() {
    insta::assert_snapshot!(render_str(&covered_run(), ReportFormat::Markdown));
}

#[test]
fn markdown_without_coverage_says_nothing_about_coverage() {
    let md = render_str(&sample_run(), ReportFormat::Markdown);
    assert!(!md.to_lowercase().contains("coverage"), "{md}");
    // Only the coverage parts differ between a run with and without coverage.
    let with = render_str(&covered_run(), ReportFormat::Markdown);
    let start = with.find("### Coverage\n").unwrap();
    let end = with.find("### Failures by cause").unwrap();
    let lowest = with.find("### Lowest line coverage").unwrap();
    let flaky = with.find("### Flaky tests").unwrap();
    let rebuilt = format!("{}{}{}", &with[..start], &with[end..lowest], &with[flaky..]);
    assert_eq!(rebuilt, md);
}

#[test]
fn markdown_coverage_says_totals_change_and_missing_tools() {
    let md = render_str(&covered_run(), ReportFormat::Markdown);
    assert!(md.contains("| lines | 161 | 204 | 78.9% |"), "{md}");
    assert!(md.contains("| branches | 10 | 20 | 50.0% |"), "{md}");
    assert!(md.contains("| functions | 16 | 21 | 76.2% |"), "{md}");
    assert!(
        md.contains("lines 78.9% (+3.9 pts vs run `20240430-090000-ffff` on `main`, was 75.0%)"),
        "{md}"
    );
    // Only the framework that was not collected, with how to fix it.
    assert!(
        md.contains(
            "- ⚠️ pytest coverage unavailable: pytest-cov is not installed: pip install pytest-cov"
        ),
        "{md}"
    );
    assert!(!md.contains("rust coverage") && !md.contains("jest coverage"));
    // Nothing to cover is a dash, not 0% or NaN.
    let mut run = covered_run();
    let cov = run.coverage.as_mut().unwrap();
    cov.totals.functions = ratio(0, 0);
    cov.previous = None;
    let md = render_str(&run, ReportFormat::Markdown);
    assert!(md.contains("| functions | 0 | 0 | – |"), "{md}");
    assert!(!md.contains("NaN") && !md.contains("pts vs"));
    assert!(!md.contains("changed since"));
}

#[test]
fn markdown_coverage_files_worst_first_and_biggest_drops_first() {
    let md = render_str(&covered_run(), ReportFormat::Markdown);
    let pos = |needle: &str| {
        md.find(needle)
            .unwrap_or_else(|| panic!("{needle} in {md}"))
    };
    let lowest = pos("### Lowest line coverage");
    let changed = pos("### Line coverage changed since run `20240430-090000-ffff`");
    // Worst first: 25%, 50%, 90%, 100%; a file without lines is not listed.
    let worst: Vec<usize> = ["`web/", "`src/parse.rs`", "`src/lib.rs`", "`src/util.rs`"]
        .iter()
        .map(|p| lowest + md[lowest..changed].find(p).unwrap())
        .collect();
    assert!(worst.windows(2).all(|w| w[0] < w[1]), "{md}");
    assert!(!md[lowest..changed].contains("src/empty.rs"));
    // Biggest drop first, gains after, then new and removed files.
    let table = &md[changed..];
    let order: Vec<usize> = ["`src/parse.rs`", "`src/lib.rs`", "`web/", "`src/old.rs`"]
        .iter()
        .map(|p| table.find(p).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{table}");
    assert!(
        table.contains("| `src/parse.rs` | 75.0% (45/60) | 50.0% (30/60) | -25.0 pts |"),
        "{table}"
    );
    assert!(
        table.contains("| +10.0 pts |")
            && table.contains("new file")
            && table.contains("no longer measured")
    );

    // Capped, saying how many more.
    let mut run = covered_run();
    let cov = run.coverage.as_mut().unwrap();
    cov.files = (0..50)
        .map(|i| file_cov(&format!("src/f{i:02}.rs"), (i, 100), (0, 0), (0, 0)))
        .collect();
    cov.previous.as_mut().unwrap().changed_files = (0..30)
        .map(|i| crate::model::FileCoverageChange {
            path: format!("src/f{i:02}.rs"),
            before: Some(ratio(50, 100)),
            after: Some(ratio(i, 100)),
        })
        .collect();
    let md = render_str(&run, ReportFormat::Markdown);
    let lowest = md.find("### Lowest line coverage").unwrap();
    let changed = md.find("### Line coverage changed").unwrap();
    assert_eq!(md[lowest..changed].matches("| `src/f").count(), 20);
    assert!(
        md[lowest..changed].contains("`src/f00.rs`")
            && !md[lowest..changed].contains("`src/f20.rs`")
    );
    assert!(md[lowest..changed].contains("… and 30 more files"), "{md}");
    assert_eq!(md[changed..].matches("| `src/f").count(), 20);
    assert!(md[changed..].contains("… and 10 more files"));
}

#[test]
fn markdown_coverage_paths_are_text_only() {
    let md = render_str(&covered_run(), ReportFormat::Markdown);
    let rows: Vec<&str> = md.lines().filter(|l| l.contains("web/")).collect();
    assert!(rows.len() >= 2, "{md}");
    for row in rows {
        // In a code span whose fence is longer than the path's backticks, with the pipe
        // escaped so the table keeps its columns.
        assert!(
            row.contains("``web/<img src=x onerror=alert(1)>\\|`x`.js``"),
            "bare HTML in: {row}"
        );
        assert_eq!(row.replace("\\|", "").matches('|').count(), 5, "{row}");
    }
}

#[test]
fn markdown_coverage_keeps_its_totals_and_drops_its_files_first_when_short() {
    let mut run = huge_run(20_000);
    let mut cov = sample_coverage();
    cov.files = (0..10_000u64)
        .map(|i| file_cov(&format!("src/m{i}.rs"), (i % 100, 100), (0, 0), (0, 0)))
        .collect();
    run.coverage = Some(cov);
    let md = render_str(&run, ReportFormat::Markdown);
    assert!(md.len() <= markdown::BUDGET, "{} bytes", md.len());
    assert!(md.contains("### Coverage\n") && md.contains("| lines | 161 | 204 | 78.9% |"));
    assert!(md.contains("pytest coverage unavailable"));
    assert!(!md.contains("### Lowest line coverage"));
    let note = md.lines().last().unwrap();
    assert!(note.contains("coverage by file (10000 files)"), "{note}");
    // A small budget keeps both totals.
    let tiny = markdown::render_with_budget(&run, 4096);
    assert!(tiny.contains("| tests | passed |") && tiny.contains("| lines | 161 | 204 | 78.9% |"));
    assert!(tiny.len() <= 4096, "{}", tiny.len());
    // With room, the files come after the failures and before flaky and slowest.
    let md = render_str(&covered_run(), ReportFormat::Markdown);
    let at = |s: &str| md.find(s).unwrap();
    assert!(at("### Gates") < at("### Coverage\n"));
    assert!(at("### Coverage\n") < at("### Failures by cause"));
    assert!(at("### Failures by cause") < at("### Lowest line coverage"));
    assert!(at("### Line coverage changed") < at("### Flaky tests"));
}

#[test]
fn html_data_with_coverage_snapshot() {
    insta::assert_json_snapshot!(html::data(&covered_run())["coverage"]);
}

#[test]
fn html_without_coverage_embeds_no_coverage_at_all() {
    // A run without coverage embeds exactly what it did before coverage existed (the
    // 100k-test report does not grow), and the page keeps its coverage panel hidden.
    let data = html::data(&sample_run());
    assert!(data.get("coverage").is_none(), "{data}");
    let page = render_str(&sample_run(), ReportFormat::Html);
    assert!(!page.contains("\"coverage\":"));
    assert!(page.contains("<section id=\"coverage-section\" hidden>"));
    let with = html::data(&covered_run());
    let mut stripped = with.clone();
    stripped.as_object_mut().unwrap().remove("coverage");
    assert_eq!(stripped, data);
    // Compact rows, in path order as the run has them.
    assert_eq!(
        with["coverage"]["files"][0],
        serde_json::json!(["src/lib.rs", 90, 100, 8, 10, 9, 10])
    );
    assert_eq!(
        with["coverage"]["previous"]["changed_files"][2],
        serde_json::json!([HOSTILE_PATH, -1, -1, 1, 4])
    );
}

// ---- distrusted runs: every format says RUN ERROR, none is green --------------------

/// A run whose every recorded test passed, but whose log was damaged (a torn
/// `test_finished` line) so it never completed: it must not look green anywhere.
fn distrusted_run() -> Run {
    let mut run = sample_run();
    run.tests
        .retain(|t| t.outcome == Outcome::Passed && !t.flaky);
    run.summary = Summary::of(&run.tests, 100.0);
    run.completed = false;
    run.errors = vec![crate::model::RunError {
        kind: crate::model::error_kind::LOG_DAMAGED.into(),
        message: "events.jsonl:7: unreadable line (EOF while parsing a string at line 1 column 80)"
            .into(),
    }];
    run
}

/// A complete run with no run error whose stored summary lies (says all passed; a test failed).
fn lying_summary_run() -> Run {
    let mut run = sample_run();
    run.errors.clear();
    run.summary = Summary::of(&run.tests, 100.0);
    run.summary.passed = run.summary.total;
    run.summary.failed = 0;
    run.summary.error = 0;
    run.summary.timeout = 0;
    run.summary.crashed = 0;
    run.summary.skipped = u64::MAX;
    run
}

#[test]
fn json_of_a_distrusted_run_snapshot() {
    insta::assert_snapshot!(render_str(&distrusted_run(), ReportFormat::Json));
}

#[test]
fn junit_of_a_distrusted_run_snapshot() {
    insta::assert_snapshot!(render_str(&distrusted_run(), ReportFormat::Junit));
}

#[test]
fn ctrf_of_a_distrusted_run_snapshot() {
    insta::assert_snapshot!(render_str(&distrusted_run(), ReportFormat::Ctrf));
}

#[test]
fn markdown_of_a_distrusted_run_snapshot() {
    insta::assert_snapshot!(render_str(&distrusted_run(), ReportFormat::Markdown));
}

#[test]
fn html_data_of_a_distrusted_run_snapshot() {
    let data = html::data(&distrusted_run());
    insta::assert_json_snapshot!(serde_json::json!({
        "summary": data["summary"],
        "distrust": data["distrust"],
        "run": data["run"],
        "gates": data["gates"],
    }));
}

#[test]
fn no_report_of_a_distrusted_run_is_green() {
    for run in [distrusted_run(), lying_summary_run()] {
        let why = run.distrust();
        assert!(!why.is_empty());

        let md = markdown::render(&run);
        assert!(md.starts_with("## ❌ testflow: "), "{md}");
        assert!(md.contains("RUN ERROR"), "{md}");
        assert!(md.contains("### Gates: **FAILED**"), "{md}");
        for e in run.distrust_errors() {
            let first = e.message.split(" (").next().unwrap();
            assert!(
                md.contains(&format!("- `{}` `{first}", e.kind)),
                "{first} not in\n{md}"
            );
        }

        let root = parse_xml(&render_str(&run, ReportFormat::Junit));
        let errors: u64 = root.attr("errors").unwrap().parse().unwrap();
        let failures: u64 = root.attr("failures").unwrap().parse().unwrap();
        assert!(errors >= why.len() as u64, "{why:?}");
        let run_error_cases: Vec<&Node> = root
            .children("testsuite")
            .filter(|s| s.attr("name") == Some("testflow"))
            .flat_map(|s| s.children("testcase"))
            .collect();
        assert_eq!(
            run_error_cases.len(),
            why.len(),
            "one errored testcase per reason"
        );
        assert!(errors + failures > 0);

        let doc: serde_json::Value =
            serde_json::from_slice(&render(&run, ReportFormat::Ctrf).unwrap()).unwrap();
        assert_valid_ctrf(&doc);
        let summary = &doc["results"]["summary"];
        assert!(summary["failed"].as_u64().unwrap() >= why.len() as u64);
        assert_eq!(summary["extra"]["runErrors"], why.len());
        assert_eq!(doc["results"]["extra"]["distrust"], serde_json::json!(why));
        // CTRF's counts are the tests', never the stored summary's.
        assert_eq!(
            summary["tests"].as_u64().unwrap(),
            run.tests.len() as u64 + why.len() as u64
        );

        let data = html::data(&run);
        let kinds: Vec<&str> = data["distrust"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        let want: Vec<String> = run
            .distrust_errors()
            .into_iter()
            .map(|e| e.kind.to_string())
            .collect();
        assert_eq!(kinds, want);
        assert_eq!(
            data["summary"],
            serde_json::to_value(run.recomputed_summary()).unwrap()
        );
        assert_eq!(data["gates"]["passed"], false);

        // The JSON report reads back as a run that is exactly as distrusted, and whose
        // summary is its tests'.
        let back: Run = serde_json::from_slice(&render(&run, ReportFormat::Json).unwrap()).unwrap();
        assert_eq!(back.distrust(), why);
        assert_eq!(back.summary, run.recomputed_summary());
    }
}

#[test]
fn junit_of_a_lying_summary_counts_the_tests() {
    let run = lying_summary_run();
    let root = parse_xml(&render_str(&run, ReportFormat::Junit));
    let real = run.recomputed_summary();
    let suites_tests: u64 = root
        .children("testsuite")
        .filter(|s| s.attr("name") != Some("testflow"))
        .map(|s| s.attr("tests").unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(suites_tests, real.total);
}

#[test]
fn durations_at_extremes_render_in_every_format_without_panicking() {
    for ms in [
        1e300,
        f64::MAX,
        -1e300,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -0.0,
    ] {
        let mut run = sample_run();
        run.summary.duration_ms = ms;
        for t in &mut run.tests {
            t.duration_ms = ms;
            for a in &mut t.attempts {
                a.duration_ms = ms;
            }
        }
        for format in ReportFormat::ALL {
            render(&run, format).unwrap_or_else(|e| panic!("{ms} {format:?}: {e:#}"));
        }
        let root = parse_xml(&render_str(&run, ReportFormat::Junit));
        for n in root.descendants() {
            if let Some(t) = n.attr("time") {
                let secs: f64 = t.parse().unwrap();
                assert!(secs.is_finite() && secs >= 0.0, "{ms}: time={t}");
            }
        }
    }
}

#[test]
fn tests_not_selected_by_affected_are_named_never_counted() {
    let mut run = sample_run();
    let summary = run.recomputed_summary();
    run.affected = Some(crate::model::Affected {
        mode: "select".into(),
        base: Some("0123456789abcdef".into()),
        base_source: "last_passing_run".into(),
        changed: vec![crate::model::ChangedFile {
            path: "src/lib.rs".into(),
            status: "modified".into(),
            old_path: None,
        }],
        not_selected: 7,
        ..Default::default()
    });
    let md = crate::report::markdown::render(&run);
    assert!(
        md.contains("### Affected tests: 7 tests not selected (changes since `0123456789ab`, 1 changed file)"),
        "{md}"
    );
    // Not selected is not passed: the totals are the tests that ran.
    assert_eq!(run.recomputed_summary(), summary);
    let text = crate::ui::summary(
        &run,
        crate::ui::Style {
            color: false,
            bar: false,
            quiet: false,
        },
    );
    assert!(text.contains("7 not selected"), "{text}");
}

/// A Playwright test whose two failed attempts left files behind, one named by a hostile test.
fn run_with_attachments() -> Run {
    use crate::model::Attachment;
    let m = meta(
        Framework::Playwright,
        "tests/web.spec.js#attaches a file",
        &[],
        "attaches a file",
        "tests/web.spec.js",
        Some(14),
    );
    let fail = || Failure {
        category: Category::Assertion,
        kind: Some("toBe".into()),
        message: "Error: expect(received).toBe(expected)".into(),
        ..Failure::default()
    };
    let file = |name: &str, ty: Option<&str>, path: &str| Attachment {
        name: name.into(),
        content_type: ty.map(Into::into),
        path: path.into(),
    };
    let mut first = attempt(1, Outcome::Failed, 0, 5.0, Some(fail()));
    first.attachments = vec![file(
        "trace",
        Some("application/zip"),
        "test-results/web-attaches/trace.zip",
    )];
    let mut second = attempt(2, Outcome::Failed, 10, 5.0, Some(fail()));
    second.attachments = vec![
        file(
            "screenshot",
            Some("image/png"),
            "test-results/web-attaches-retry1/test-failed-1.png",
        ),
        file(
            "x`<img src=x onerror=alert(1)>\x1b[31m",
            None,
            "javascript:alert(1)//`|*x*\n.txt",
        ),
    ];
    let mut run = sample_run();
    run.tests = vec![TestCase::from_attempts(m, vec![first, second])];
    run.frameworks = vec![Framework::Playwright];
    run.summary = Summary::of(&run.tests, 1.0);
    run
}

#[test]
fn attachments_are_listed_by_path_in_markdown_and_ctrf() {
    let run = run_with_attachments();
    let doc: serde_json::Value =
        serde_json::from_slice(&render(&run, ReportFormat::Ctrf).unwrap()).unwrap();
    assert_valid_ctrf(&doc);
    let t = &doc["results"]["tests"][0];
    // The test's own are its last attempt's; the earlier attempt keeps its own.
    assert_eq!(
        t["attachments"],
        serde_json::json!([
            { "name": "screenshot", "contentType": "image/png",
              "path": "test-results/web-attaches-retry1/test-failed-1.png" },
            { "name": "x`<img src=x onerror=alert(1)>", "contentType": "application/octet-stream",
              "path": "./javascript:alert(1)//`|*x*\n.txt" },
        ])
    );
    assert_eq!(
        t["retryAttempts"][0]["attachments"],
        serde_json::json!([{ "name": "trace", "contentType": "application/zip",
                             "path": "test-results/web-attaches/trace.zip" }])
    );
    // A test without files has no key (the sample run's CTRF is unchanged).
    let plain_doc: serde_json::Value =
        serde_json::from_slice(&render(&sample_run(), ReportFormat::Ctrf).unwrap()).unwrap();
    assert!(
        plain_doc["results"]["tests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("attachments").is_none())
    );
    // The schema checks the objects: a missing contentType is refused.
    let mut bad = doc.clone();
    bad["results"]["tests"][0]["attachments"][0]
        .as_object_mut()
        .unwrap()
        .remove("contentType");
    assert!(ctrf_schema().iter_errors(&bad).count() >= 1);

    let md = render_str(&run, ReportFormat::Markdown);
    assert!(
        md.contains(
            "- `tests/web.spec.js#attaches a file` (failed) at `tests/web.spec.js:14`\n  \
             - attachment `trace` (attempt 1): `test-results/web-attaches/trace.zip`\n  \
             - attachment `screenshot` (attempt 2): `test-results/web-attaches-retry1/test-failed-1.png`\n  \
             - attachment ``x`<img src=x onerror=alert(1)>`` (attempt 2): ``javascript:alert(1)//`|*x* .txt``\n"
        ),
        "{md}"
    );
    assert!(!md.contains('\x1b'));
}

#[test]
fn markdown_lists_at_most_ten_attachments_per_test() {
    let mut run = run_with_attachments();
    let a = &mut run.tests[0].attempts[1];
    a.attachments = (0..12)
        .map(|i| crate::model::Attachment {
            name: format!("shot{i}"),
            content_type: None,
            path: format!("test-results/s{i}.png"),
        })
        .collect();
    let md = render_str(&run, ReportFormat::Markdown);
    assert!(
        md.contains("`test-results/s8.png`\n  - … and 3 more attachments\n"),
        "{md}"
    );
    assert!(!md.contains("s9.png"));
}
