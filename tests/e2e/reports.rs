//! Reports: `run --report junit=… --report json=…`, `report` from a stored run, and
//! errors for runs that do not exist.

use std::collections::BTreeMap;

use quick_xml::events::Event;

use crate::rust_run::full_run;
use crate::util::{Project, RunExt};

/// One `<testcase>` of a JUnit file.
#[derive(Debug, Default)]
struct Case {
    attrs: BTreeMap<String, String>,
    /// Child elements in order (`failure`, `flakyFailure`, `skipped`, `system-out`, …).
    children: Vec<String>,
    system_out: String,
}

fn parse_junit(xml: &[u8]) -> (BTreeMap<String, String>, Vec<Case>) {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut root = BTreeMap::new();
    let mut cases = Vec::new();
    let mut current: Option<Case> = None;
    let mut depth_in_case = 0usize;
    let mut in_system_out = false;
    let attrs = |e: &quick_xml::events::BytesStart| -> BTreeMap<String, String> {
        e.attributes()
            .map(|a| {
                let a = a.expect("attribute");
                (
                    String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                    a.unescape_value().expect("attribute value").into_owned(),
                )
            })
            .collect()
    };
    loop {
        match reader.read_event_into(&mut buf).expect("well-formed XML") {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"testsuites" => {
                root = attrs(&e);
            }
            Event::Start(e) if e.name().as_ref() == b"testcase" => {
                current = Some(Case {
                    attrs: attrs(&e),
                    ..Case::default()
                });
                depth_in_case = 0;
            }
            Event::Empty(e) if e.name().as_ref() == b"testcase" => cases.push(Case {
                attrs: attrs(&e),
                ..Case::default()
            }),
            Event::End(e) if e.name().as_ref() == b"testcase" => {
                cases.push(current.take().expect("open testcase"));
            }
            Event::Start(e) => {
                if let Some(c) = current.as_mut() {
                    if depth_in_case == 0 {
                        let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                        in_system_out = name == "system-out";
                        c.children.push(name);
                    }
                    depth_in_case += 1;
                }
            }
            Event::Empty(e) if current.is_some() && depth_in_case == 0 => {
                let c = current.as_mut().unwrap();
                c.children
                    .push(String::from_utf8(e.name().as_ref().to_vec()).unwrap());
            }
            Event::End(_) if current.is_some() => {
                depth_in_case -= 1;
                if depth_in_case == 0 {
                    in_system_out = false;
                }
            }
            Event::Text(t) if in_system_out && depth_in_case == 1 => {
                let c = current.as_mut().unwrap();
                c.system_out.push_str(&t.decode().expect("text"));
            }
            Event::GeneralRef(r) if in_system_out && depth_in_case == 1 => {
                let c = current.as_mut().unwrap();
                let name = r.decode().expect("ref").into_owned();
                c.system_out.push_str(match name.as_str() {
                    "lt" => "<",
                    "gt" => ">",
                    "amp" => "&",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("unexpected entity {other}"),
                });
            }
            Event::CData(t) if in_system_out && depth_in_case == 1 => {
                let c = current.as_mut().unwrap();
                c.system_out.push_str(&String::from_utf8_lossy(&t));
            }
            _ => {}
        }
        buf.clear();
    }
    (root, cases)
}

fn case<'a>(cases: &'a [Case], classname: &str, name: &str) -> &'a Case {
    cases
        .iter()
        .find(|c| {
            c.attrs.get("name").map(String::as_str) == Some(name)
                && c.attrs.get("classname").map(String::as_str) == Some(classname)
        })
        .unwrap_or_else(|| {
            panic!(
                "no testcase {classname} / {name} in {:?}",
                cases.iter().map(|c| &c.attrs).collect::<Vec<_>>()
            )
        })
}

#[test]
fn junit_report_has_every_testcase_failure_and_retry() {
    let (p, out) = full_run();
    assert_eq!(out.code, 100, "{}", out.stderr);
    let xml =
        std::fs::read(p.testflow_dir.path().join("reports/junit.xml")).expect("junit written");
    let (root, cases) = parse_junit(&xml);
    assert_eq!(
        root.get("tests").map(String::as_str),
        Some("18"),
        "{root:?}"
    );
    assert_eq!(
        root.get("failures").map(String::as_str),
        Some("12"),
        "{root:?}"
    );
    assert_eq!(cases.len(), 18);
    let count = |child: &str| {
        cases
            .iter()
            .filter(|c| c.children.iter().any(|n| n == child))
            .count()
    };
    assert_eq!(count("failure"), 12, "failed + timeout + crashed");
    assert_eq!(count("error"), 0);
    assert_eq!(count("skipped"), 1);
    assert_eq!(count("flakyFailure"), 1);
    assert_eq!(count("rerunFailure"), 12, "every failing test failed twice");

    // Like nextest: classname = binary id, name = test path.
    let flaky = case(&cases, "calc::integ", "flaky_first_attempt");
    assert_eq!(flaky.children, ["flakyFailure"]);
    let c = case(&cases, "calc", "tests::fails_assert_eq");
    assert_eq!(c.children[0], "failure");
    assert_eq!(
        c.children.iter().filter(|n| *n == "rerunFailure").count(),
        1
    );

    // file / line attributes, as in the run.
    let attr = |c: &Case, k: &str| c.attrs.get(k).cloned();
    let c = case(&cases, "calc", "tests::passes");
    assert_eq!(
        (attr(c, "file"), attr(c, "line")),
        (Some("crates/calc/src/lib.rs".into()), Some("31".into()))
    );
    assert!(c.children.is_empty(), "{c:?}");
    let c = case(&cases, "calc::integ", "hangs");
    assert_eq!(
        (attr(c, "file"), attr(c, "line")),
        (Some("crates/calc/tests/integ.rs".into()), Some("13".into()))
    );
    let c = case(
        &cases,
        "calc::doctest",
        "crates/calc/src/lib.rs - div (line 16)",
    );
    assert_eq!(attr(c, "line"), Some("16".into()));

    // A failure's stdout: the test's own output, capped.
    let c = case(&cases, "calc::integ", "huge_output");
    assert!(c.children.iter().any(|n| n == "system-out"), "{c:?}");
    assert!(
        c.system_out.contains("testflow cut"),
        "{}",
        &c.system_out[..200]
    );
    assert!(
        c.system_out.ends_with(&format!("{}\n", "x".repeat(1023))),
        "{:?}",
        &c.system_out[c.system_out.len() - 100..]
    );
    let run = out.run();
    assert_eq!(
        c.system_out,
        crate::util::failure(run.test("calc::integ$huge_output"))
            .stdout
            .as_ref()
            .unwrap()
            .text
    );
}

#[test]
fn json_report_is_the_run() {
    let (p, out) = full_run();
    let json = std::fs::read(p.testflow_dir.path().join("reports/run.json")).expect("json written");
    let report: testflow::model::Run = serde_json::from_slice(&json).expect("a Run");
    assert_eq!(&report, out.run());
}

#[test]
fn report_from_the_stored_run_matches_the_reports_written_by_run() {
    let (p, _) = full_run();
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let out = p.cmd(&[
        "report",
        "--format",
        "junit",
        "--run",
        "latest",
        "-o",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        String::from_utf8(std::fs::read(&junit).unwrap()).unwrap(),
        String::from_utf8(std::fs::read(p.testflow_dir.path().join("reports/junit.xml")).unwrap())
            .unwrap()
    );
    // JSON on stdout: exactly run.json.
    let out = p.report_json("latest");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.the_run_dir().join("run.json")).unwrap()).unwrap();
    let printed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(printed, stored);
    // By run id and by directory too.
    let id = p
        .the_run_dir()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(p.report_json(&id).run(), out.run());
    assert_eq!(
        p.report_json(p.the_run_dir().to_str().unwrap()).run(),
        out.run()
    );
}

#[test]
fn ctrf_markdown_and_html_reports_and_the_step_summary() {
    let (p, out) = full_run();
    let run = out.run();
    let reports = p.testflow_dir.path().join("reports");
    let ctrf: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("ctrf.json")).expect("ctrf written"))
            .unwrap();
    assert_eq!(ctrf["reportFormat"], "CTRF");
    assert_eq!(ctrf["runId"], run.run_id.as_str());
    assert_eq!(
        ctrf["results"]["tests"].as_array().unwrap().len(),
        run.tests.len()
    );
    let md = std::fs::read_to_string(reports.join("summary.md")).expect("markdown written");
    assert!(md.starts_with("## "), "{md}");
    assert!(md.contains("### Gates"), "{md}");
    let html = std::fs::read_to_string(reports.join("report.html")).expect("html written");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains(&run.run_id));
    // GITHUB_STEP_SUMMARY gets the same Markdown, appended after what was there.
    let summary = std::fs::read_to_string(p.testflow_dir.path().join("step-summary.md")).unwrap();
    assert_eq!(summary, format!("earlier step output\n{md}"));
    // `report --format` writes the same files from the stored run.
    for (format, file) in [
        ("ctrf", "ctrf.json"),
        ("markdown", "summary.md"),
        ("html", "report.html"),
    ] {
        let out = p.cmd(&["report", "--format", format, "--run", "latest"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(
            out.stdout,
            std::fs::read_to_string(reports.join(file)).unwrap(),
            "{format}"
        );
    }
}

#[test]
fn report_on_an_unknown_run_names_it() {
    let p = Project::new("rust-basic");
    let out = p.report_json("nope");
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("error: no run `nope`"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
    let out = p.report_json("latest");
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("no runs recorded yet"),
        "{}",
        out.stderr
    );
}
