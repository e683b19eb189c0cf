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
            Event::Empty(e) => {
                if let Some(c) = current.as_mut() {
                    if depth_in_case == 0 {
                        c.children
                            .push(String::from_utf8(e.name().as_ref().to_vec()).unwrap());
                    }
                }
            }
            Event::End(_) => {
                if current.is_some() {
                    depth_in_case -= 1;
                    if depth_in_case == 0 {
                        in_system_out = false;
                    }
                }
            }
            Event::Text(t) if in_system_out && depth_in_case == 1 => {
                let c = current.as_mut().unwrap();
                c.system_out
                    .push_str(&t.decode().expect("text").into_owned());
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

    let names: Vec<(String, String)> = cases
        .iter()
        .filter(|c| c.children.iter().any(|n| n == "flakyFailure"))
        .map(|c| (c.attrs["classname"].clone(), c.attrs["name"].clone()))
        .collect();
    let flaky = case(&cases, &names[0].0, &names[0].1);
    assert_eq!(flaky.attrs["name"], "flaky_first_attempt");
    assert!(!flaky.children.iter().any(|n| n == "failure"));

    // file / line attributes, as in the run.
    let run = out.run();
    let passes = run.test("calc$tests::passes");
    let c = cases
        .iter()
        .find(|c| {
            c.attrs["name"].ends_with("passes")
                && c.attrs.get("line").map(String::as_str) == Some("31")
        })
        .unwrap_or_else(|| panic!("no testcase for {}", passes.id));
    assert_eq!(
        c.attrs.get("file").map(String::as_str),
        Some("crates/calc/src/lib.rs")
    );
    let c = cases
        .iter()
        .find(|c| c.attrs["name"] == "hangs")
        .expect("hangs");
    assert_eq!(
        (
            c.attrs.get("file").map(String::as_str),
            c.attrs.get("line").map(String::as_str)
        ),
        (Some("crates/calc/tests/integ.rs"), Some("13"))
    );

    // A failure's stdout.
    let c = cases
        .iter()
        .find(|c| c.attrs["name"] == "huge_output")
        .expect("huge_output");
    assert!(c.children.iter().any(|n| n == "system-out"), "{c:?}");
    assert!(
        c.system_out.contains("testflow cut"),
        "{}",
        &c.system_out[..200]
    );
    assert!(
        c.system_out.ends_with(&"x".repeat(1023)[..])
            || c.system_out.ends_with(&format!("{}\n", "x".repeat(1023)))
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
fn report_on_an_unknown_run_names_it() {
    let p = Project::new("rust-basic");
    let out = p.report_json("nope");
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("error: no run `nope`"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
    let out = p.report_json("latest");
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("no runs recorded yet"),
        "{}",
        out.stderr
    );
}
