//! Every registered framework answers the plug-in interface consistently.

use std::path::Path;

use super::*;

/// Each framework's tests as its own listing code reads them (no tool runs).
fn listed(framework: Framework) -> Vec<ListedTest> {
    match framework {
        Framework::Pytest => {
            let ids: Vec<String> = [
                "tests/test_a.py::test_one",
                "tests/test_a.py::TestX::test_y[a#b]",
                "test_b.py::test_two[1-2]",
            ]
            .map(String::from)
            .to_vec();
            pytest::listing_from_ids("pkg", &ids)
                .into_iter()
                .flat_map(|s| s.test_list)
                .collect()
        }
        Framework::Jest => {
            let json = r##"{"testResults": [{"name": "/p/src/math.test.js", "message": "", "assertionResults": [{"ancestorTitles": [], "title": "adds numbers", "location": {"column": 1, "line": 3}}, {"ancestorTitles": ["outer", "inner"], "title": "has :: and # in it", "location": {"column": 5, "line": 13}}]}, {"name": "/p/lib/a::b.test.js", "message": "", "assertionResults": [{"ancestorTitles": [], "title": "t", "location": null}]}]}"##;
            jest::parse_listing(Path::new("/p"), json).unwrap().0
        }
        Framework::Vitest => {
            let json = r#"[{"name": "adds", "file": "/p/src/math.test.js"}, {"name": "outer > has :: and # in it", "file": "/p/src/math.test.js"}]"#;
            vitest::parse_listing(Path::new("/p"), json).unwrap()
        }
        Framework::Playwright => {
            let json = r#"{"config": {"rootDir": "/p/tests", "projects": [{"name": "a"}]}, "suites": [{"title": "a.spec.ts", "file": "a.spec.ts", "specs": [{"title": "adds", "line": 3, "tests": [{"projectName": "a"}]}], "suites": [{"title": "outer", "file": "a.spec.ts", "specs": [{"title": "has :: and # in it", "line": 6, "tests": [{"projectName": "a"}]}]}]}], "errors": []}"#;
            playwright::parse_listing(Path::new("/p"), json).unwrap().0
        }
        Framework::Go => {
            let out = br#""{"Action":"start","Package":"ex.com/m/strs"}
{"Action":"output","Package":"ex.com/m/strs","Output":"TestShout\n"}
{"Action":"output","Package":"ex.com/m/strs","Output":"ok  \tex.com/m/strs\t0.01s\n"}
{"Action":"pass","Package":"ex.com/m/strs","Elapsed":0.01}
"#;
            let listed = go::parse_list(out);
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("go.mod"), "module ex.com/m\n").unwrap();
            let project = go::GoProject::open(dir.path()).unwrap();
            listed
                .packages
                .iter()
                .flat_map(|(p, names)| names.iter().map(|n| project.meta(p, n)))
                .map(|m| ListedTest::from_meta(&m, None))
                .collect()
        }
        Framework::Rust => {
            let meta = crate::model::TestMeta {
                id: "calc::integ$tests::adds".into(),
                framework: Framework::Rust,
                name: "adds".into(),
                suite: vec!["tests".into()],
                file: Some("tests/integ.rs".into()),
                line: Some(3),
                binary: Some("calc::integ".into()),
            };
            vec![ListedTest::from_meta(&meta, Some(false))]
        }
    }
}

fn case(t: &ListedTest) -> TestCase {
    TestCase {
        id: t.id.clone(),
        framework: t.framework,
        name: t.name.clone(),
        file: t.file.clone(),
        line: t.line,
        suite: Vec::new(),
        binary: match t.framework {
            Framework::Rust => Some("calc::integ".to_owned()),
            Framework::Go => Some("ex.com/m/strs".to_owned()),
            _ => None,
        },
        outcome: crate::model::Outcome::Passed,
        duration_ms: 1.0,
        flaky: false,
        attempts: Vec::new(),
        failure: None,
        reason: None,
    }
}

#[test]
fn every_framework_has_exactly_one_plugin() {
    for f in Framework::ALL {
        let n = PLUGINS.iter().filter(|p| p.framework() == f).count();
        assert_eq!(n, 1, "{f:?} has {n} plug-ins");
        assert_eq!(plugin(f).map(|p| p.framework()), Some(f));
    }
    assert_eq!(PLUGINS.len(), Framework::ALL.len());
}

#[test]
fn every_framework_answers_the_interface_consistently() {
    let mut reports: Vec<&str> = Vec::new();
    for p in PLUGINS {
        let f = p.framework();
        let tests = listed(f);
        assert!(!tests.is_empty(), "{f:?}: no sample tests");
        for t in &tests {
            assert_eq!(t.framework, f, "{}", t.id);
            // The ids it lists map back to their files through its own `file_of` (or it
            // says its ids carry no file, and groups by binary instead).
            match p.file_of(&t.id) {
                Some(file) => {
                    assert_eq!(Some(file), t.file.as_deref(), "{f:?}: {}", t.id);
                    // The shared `selection::file_of` (the bindings' selection, which does not
                    // know the id's framework) takes the shortest claim: it agrees unless
                    // another framework's separator comes first (a Jest file named `a::b`:
                    // known, kept as it was).
                    let shorter = PLUGINS.iter().any(|o| {
                        o.framework() != f && o.file_of(&t.id).is_some_and(|g| g.len() < file.len())
                    });
                    if !shorter {
                        assert_eq!(crate::selection::file_of(&t.id), file, "{f:?}: {}", t.id);
                    }
                }
                // Rust's binaries and Go's packages: grouped by `binary`.
                None => {
                    assert!(
                        matches!(f, Framework::Rust | Framework::Go),
                        "{f:?}: {} names no file",
                        t.id
                    );
                    assert_eq!(
                        p.junit_group(&case(t)).map(String::as_str),
                        case(t).binary.as_deref()
                    );
                }
            }
            // JUnit: name and classname are never empty; the name holds the test's title.
            let (name, class) = p.junit_names(&case(t));
            assert!(name.contains(&t.name), "{f:?}: {name} lacks {}", t.name);
            assert!(!class.is_empty(), "{f:?}: {}", t.id);
            assert!(p.junit_group(&case(t)).is_some(), "{f:?}: {}", t.id);
        }
        // Its "not installed" error names the module, and it says how to install it.
        let message = match f {
            Framework::Rust => "error[E0463]: can't find crate for `serde`",
            Framework::Pytest => "ModuleNotFoundError: No module named 'yaml'",
            Framework::Jest => "Cannot find module 'left-pad' from 'src/a.test.js'",
            Framework::Vitest => {
                "Error: Cannot find package 'left-pad' imported from '/p/src/a.test.js'"
            }
            Framework::Playwright => {
                "Error: Cannot find module 'left-pad'\nRequire stack:\n- /p/tests/a.spec.js"
            }
            Framework::Go => {
                "calc_test.go:4:2: no required module provides package github.com/google/go-cmp/cmp; to add it:"
            }
        };
        let module = p.missing_import(message);
        assert!(module.is_some(), "{f:?} does not read {message:?}");
        // Jest and Playwright both run Node's CommonJS resolution: its error is either's
        // (and either suggests the same npm install).
        let node_cjs = |a: Framework, b: Framework| {
            let pair = [Framework::Jest, Framework::Playwright];
            a != b && pair.contains(&a) && pair.contains(&b)
        };
        for other in PLUGINS
            .iter()
            .filter(|o| o.framework() != f && !node_cjs(o.framework(), f))
        {
            assert_eq!(
                other.missing_import(message),
                None,
                "{:?} claims {message:?}",
                other.framework()
            );
        }
        let (command, text) = p.install(&module.unwrap());
        assert!(command.is_some() && !text.is_empty(), "{f:?}");
        assert!(!p.looks_for().is_empty());
        reports.push(p.coverage_report());
    }
    let mut distinct = reports.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        reports.len(),
        "coverage reports collide: {reports:?}"
    );
}

#[test]
fn the_nothing_found_message_names_every_framework() {
    assert_eq!(
        looked_for(),
        "a cargo workspace, pytest configuration or test_*.py files, a Jest project (package.json), a Vitest project (vitest.config.* or vitest in package.json), a Go module (go.mod, at the root or below), or a Playwright Test project (playwright.config.* or @playwright/test in package.json)"
    );
}

#[test]
fn detection_asks_every_framework_and_keeps_the_registry_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
    std::fs::write(root.join("test_a.py"), "def test_a():\n    pass\n").unwrap();
    std::fs::write(
        root.join("package.json"),
        r#"{"devDependencies": {"jest": "^30", "vitest": "^4", "@playwright/test": "^1.65"}}"#,
    )
    .unwrap();
    std::fs::write(root.join("go.mod"), "module ex.com/m\n").unwrap();
    let opts = super::cargo::CargoOptions::default();
    let all = detect_suites(root, &|_| true, &[], &opts).unwrap();
    let found: Vec<Framework> = all.iter().map(|s| s.framework()).collect();
    assert_eq!(found, Framework::ALL);
    let only = detect_suites(root, &|f| f == Framework::Jest, &[], &opts).unwrap();
    assert_eq!(
        only.iter().map(|s| s.framework()).collect::<Vec<_>>(),
        [Framework::Jest]
    );
    // Inside a cargo workspace, a Python project is that project only.
    let sub = root.join("py");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("test_b.py"), "def test_b():\n    pass\n").unwrap();
    let nested = detect_suites(&sub, &|_| true, &[], &opts).unwrap();
    assert_eq!(
        nested.iter().map(|s| s.framework()).collect::<Vec<_>>(),
        [Framework::Pytest]
    );
    assert!(is_other_project(&sub));
    // Nothing else there: the enclosing workspace is the suite.
    let empty = root.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let enclosed = detect_suites(&empty, &|_| true, &[], &opts).unwrap();
    assert_eq!(
        enclosed.iter().map(|s| s.framework()).collect::<Vec<_>>(),
        [Framework::Rust]
    );
    assert!(!is_other_project(&empty));
}
