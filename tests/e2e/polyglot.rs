//! One `cargo testflow run` at the root of a repository holding a Rust, a pytest, a Jest,
//! a Vitest, a Go and a Playwright suite (tests/fixtures/polyglot, see its EXPECTED.md):
//! all six are detected, recorded in one run, and every report shows them.
//!
//! Needs the installed runners: `TESTFLOW_PYTHON` (a Python with pytest and
//! pytest-testflow), `TESTFLOW_JEST_WORK` (node_modules/{jest,jest-testflow}),
//! `TESTFLOW_VITEST_WORK` (node_modules/vitest), `TESTFLOW_PLAYWRIGHT_WORK`
//! (node_modules/@playwright/test) and `go` on PATH; tests/run-all.sh sets them after its
//! Playwright section. Without them the test fails, never skips.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use quick_xml::events::Event;
use testflow::model::{Framework, Outcome};

use crate::util::{Project, RunExt};

/// Every test of the fixture: (framework, id, outcome), as its EXPECTED.md lists them.
const EXPECTED: [(Framework, &str, Outcome); 12] = [
    (Framework::Rust, "polyglot$tests::adds", Outcome::Passed),
    (Framework::Rust, "polyglot$tests::fails", Outcome::Failed),
    (
        Framework::Pytest,
        "py/test_a.py::test_passes",
        Outcome::Passed,
    ),
    (
        Framework::Pytest,
        "py/test_a.py::test_fails",
        Outcome::Failed,
    ),
    (
        Framework::Jest,
        "js/jest/math.test.js#jest adds",
        Outcome::Passed,
    ),
    (
        Framework::Jest,
        "js/jest/math.test.js#jest fails",
        Outcome::Failed,
    ),
    (
        Framework::Vitest,
        "js/vitest/math.test.js#vitest adds",
        Outcome::Passed,
    ),
    (
        Framework::Vitest,
        "js/vitest/math.test.js#vitest fails",
        Outcome::Failed,
    ),
    (
        Framework::Go,
        "example.com/polyglot/gocalc::TestAdds",
        Outcome::Passed,
    ),
    (
        Framework::Go,
        "example.com/polyglot/gocalc::TestFails",
        Outcome::Failed,
    ),
    (
        Framework::Playwright,
        "e2e/math.spec.js#playwright adds",
        Outcome::Passed,
    ),
    (
        Framework::Playwright,
        "e2e/math.spec.js#playwright fails",
        Outcome::Failed,
    ),
];

/// The JUnit `<testsuite>` and `<testcase name>` of each test, in EXPECTED's order.
const JUNIT: [(&str, &str); 12] = [
    ("polyglot", "tests::adds"),
    ("polyglot", "tests::fails"),
    ("py/test_a.py", "test_passes"),
    ("py/test_a.py", "test_fails"),
    ("js/jest/math.test.js", "jest adds"),
    ("js/jest/math.test.js", "jest fails"),
    ("js/vitest/math.test.js", "vitest adds"),
    ("js/vitest/math.test.js", "vitest fails"),
    ("example.com/polyglot/gocalc", "TestAdds"),
    ("example.com/polyglot/gocalc", "TestFails"),
    ("e2e/math.spec.js", "playwright adds"),
    ("e2e/math.spec.js", "playwright fails"),
];

fn required_dir(var: &str, what: &str) -> PathBuf {
    let dir = std::env::var_os(var)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("set {var} to {what} (tests/run-all.sh sets it)"));
    assert!(dir.exists(), "{var}={} does not exist", dir.display());
    dir
}

/// `modules/<rel>` -> the work dir's own copy (its real path, so that Node resolves the
/// package's dependencies inside the work dir it was installed in).
fn link(work: &Path, modules: &Path, rel: &str) {
    let from = work.join("node_modules").join(rel);
    let target = std::fs::canonicalize(&from)
        .unwrap_or_else(|e| panic!("{} is not installed: {e}", from.display()));
    let to = modules.join(rel);
    std::fs::create_dir_all(to.parent().expect("a parent")).expect("create node_modules dir");
    std::os::unix::fs::symlink(&target, &to)
        .unwrap_or_else(|e| panic!("link {} -> {}: {e}", to.display(), target.display()));
}

/// (`<testsuite name>`, `<testcase name>`, whether it has a `<failure>`) of a JUnit file.
fn junit_cases(xml: &str) -> Vec<(String, String, bool)> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let attr = |e: &quick_xml::events::BytesStart, key: &[u8]| -> String {
        e.attributes()
            .map(|a| a.expect("attribute"))
            .find(|a| a.key.as_ref() == key)
            .map(|a| a.unescape_value().expect("attribute value").into_owned())
            .unwrap_or_default()
    };
    let (mut suite, mut cases) = (String::new(), Vec::new());
    loop {
        match reader.read_event().expect("well-formed JUnit XML") {
            Event::Eof => break,
            Event::Start(e) if e.name().as_ref() == b"testsuite" => suite = attr(&e, b"name"),
            Event::Start(e) if e.name().as_ref() == b"testcase" => {
                cases.push((suite.clone(), attr(&e, b"name"), false));
            }
            Event::Empty(e) if e.name().as_ref() == b"testcase" => {
                cases.push((suite.clone(), attr(&e, b"name"), false));
            }
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"failure" => {
                cases.last_mut().expect("a failure inside a testcase").2 = true;
            }
            _ => {}
        }
    }
    cases.sort();
    cases
}

#[test]
#[ignore = "needs TESTFLOW_PYTHON, TESTFLOW_{JEST,VITEST,PLAYWRIGHT}_WORK and go (tests/run-all.sh runs it)"]
fn six_frameworks_in_one_run() {
    let python = required_dir(
        "TESTFLOW_PYTHON",
        "a Python with pytest and pytest-testflow",
    );
    let jest = required_dir(
        "TESTFLOW_JEST_WORK",
        "a directory with node_modules/{jest,jest-testflow} (target/jest-e2e)",
    );
    let vitest = required_dir(
        "TESTFLOW_VITEST_WORK",
        "a directory with node_modules/vitest (target/vitest-versions/4.1.12)",
    );
    let playwright = required_dir(
        "TESTFLOW_PLAYWRIGHT_WORK",
        "a directory with node_modules/@playwright/test (target/playwright-versions/1.65.1)",
    );

    // One node_modules with each runner linked in from its own work dir, jest-testflow
    // (all three reporters) from Jest's.
    let p = Project::copy_of("polyglot");
    let modules = p.dir.join("node_modules");
    for (work, rel) in [
        (&jest, "jest"),
        (&jest, "jest-testflow"),
        (&jest, ".bin/jest"),
        (&vitest, "vitest"),
        (&vitest, ".bin/vitest"),
        (&playwright, "@playwright/test"),
        (&playwright, "playwright"),
        (&playwright, "playwright-core"),
        (&playwright, ".bin/playwright"),
    ] {
        link(work, &modules, rel);
    }

    let out = p.cmd_env(
        &[
            "run",
            "--format",
            "json",
            "--report",
            "junit=out/junit.xml",
            "--report",
            "ctrf=out/ctrf.json",
            "--report",
            "markdown=out/report.md",
            "--report",
            "html=out/report.html",
        ],
        &[("TESTFLOW_PYTHON", &python), ("CI", Path::new("true"))],
    );
    assert_eq!(out.code, 100, "failures only: exit 100\n{}", out.stderr);
    let run = out.run();
    assert!(run.errors.is_empty(), "run errors: {:?}", run.errors);
    assert!(run.completed);

    // run.json: exactly the fixture's tests, each under its framework with its outcome.
    let expected_ids: Vec<&str> = {
        let mut ids: Vec<&str> = EXPECTED.iter().map(|(_, id, _)| *id).collect();
        ids.sort();
        ids
    };
    assert_eq!(run.ids(), expected_ids);
    for (framework, id, outcome) in EXPECTED {
        let t = run.test(id);
        assert_eq!((t.framework, t.outcome), (framework, outcome), "{id}");
    }
    assert_eq!(
        run.frameworks
            .iter()
            .map(|f| f.as_str())
            .collect::<BTreeSet<_>>(),
        Framework::ALL
            .iter()
            .map(|f| f.as_str())
            .collect::<BTreeSet<_>>()
    );
    let s = &run.summary;
    assert_eq!((s.total, s.passed, s.failed), (12, 6, 6), "{s:?}");
    assert_eq!(
        (s.error, s.skipped, s.timeout, s.crashed, s.flaky),
        (0, 0, 0, 0, 0),
        "{s:?}"
    );

    let read = |name: &str| {
        std::fs::read_to_string(p.dir.join("out").join(name))
            .unwrap_or_else(|e| panic!("report {name}: {e}"))
    };

    // JUnit: a <testsuite> per file (per package, per crate) of every framework.
    let mut want: Vec<(String, String, bool)> = JUNIT
        .iter()
        .zip(EXPECTED)
        .map(|((suite, name), (_, _, o))| {
            (suite.to_string(), name.to_string(), o == Outcome::Failed)
        })
        .collect();
    want.sort();
    assert_eq!(junit_cases(&read("junit.xml")), want);

    // CTRF: every test, labelled with its framework, its id in `extra`.
    let ctrf: serde_json::Value = serde_json::from_str(&read("ctrf.json")).expect("CTRF is JSON");
    let mut got: Vec<(String, String, String)> = ctrf["results"]["tests"]
        .as_array()
        .expect("CTRF results.tests")
        .iter()
        .map(|t| {
            let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
            (
                s(&t["labels"]["framework"]),
                s(&t["extra"]["id"]),
                s(&t["status"]),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String, String)> = EXPECTED
        .iter()
        .map(|(f, id, o)| (f.as_str().into(), id.to_string(), o.as_str().into()))
        .collect();
    want.sort();
    assert_eq!(got, want);

    // Markdown: all six frameworks in its header, each failing test by id.
    let md = read("report.md");
    let header = md
        .lines()
        .find(|l| l.starts_with("run `"))
        .unwrap_or_else(|| panic!("no run line in the Markdown report:\n{md}"));
    for f in Framework::ALL {
        assert!(header.contains(f.as_str()), "{f:?} not in {header:?}");
    }
    for (_, id, _) in EXPECTED.iter().filter(|(_, _, o)| *o == Outcome::Failed) {
        assert!(md.contains(id), "{id} not in the Markdown report:\n{md}");
    }

    // HTML: the page's data holds every test.
    let html = read("report.html");
    for (_, id, _) in EXPECTED {
        assert!(html.contains(id), "{id} not in the HTML report");
    }
}
