//! Doctests (rust-doctests): each failure points at its own code block, in every
//! report; rustdoc's merged (2024) and standalone (2021) doctests both reconcile.

use crate::util::{Project, RunExt, failure};

#[test]
fn a_failing_doctest_points_at_its_own_block_in_every_report() {
    let p = Project::new("rust-doctests");
    let dir = tempfile::tempdir().unwrap();
    let path = |f: &str| dir.path().join(f).to_str().unwrap().to_owned();
    let reports: Vec<String> = ["junit.xml", "ctrf.json", "summary.md", "report.html"]
        .iter()
        .zip(["junit", "ctrf", "markdown", "html"])
        .flat_map(|(f, kind)| ["--report".to_owned(), format!("{kind}={}", path(f))])
        .collect();
    let args: Vec<&str> = reports.iter().map(String::as_str).collect();
    let out = p.run(&args);
    assert_eq!(out.code, 100, "{}", out.stderr);
    let run = out.run();
    // No reconcile error: rustdoc's two suites (merged, then standalone) are one stream.
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    for ed in ["ed2021", "ed2024"] {
        let file = format!("crates/{ed}/src/lib.rs");
        let two = run.test(&format!("{ed}::doctest${file} - two (line 16)"));
        assert_eq!(two.outcome.as_str(), "failed");
        let loc = failure(two).location.as_ref().expect("a location");
        assert_eq!((loc.file.as_str(), loc.line), (file.as_str(), 16), "{ed}");
        assert_eq!(
            (two.file.as_deref(), two.line),
            (Some(file.as_str()), Some(16))
        );
        for (name, line) in [("one", 5), ("three", 26)] {
            let t = run.test(&format!("{ed}::doctest${file} - {name} (line {line})"));
            assert_eq!(t.outcome.as_str(), "passed", "{ed} {name}");
        }
        let four = run.test(&format!("{ed}::doctest${file} - four (line 35)"));
        assert_eq!(four.outcome.as_str(), "skipped", "{ed}");
    }
    // rustdoc's own line for the 2021 doctest (6, inside `one`'s block) is only a note.
    let two21 = failure(run.test("ed2021::doctest$crates/ed2021/src/lib.rs - two (line 16)"));
    assert!(
        two21
            .details
            .as_deref()
            .unwrap_or("")
            .contains("crates/ed2021/src/lib.rs:6:1, a line of the doctest as compiled"),
        "{two21:?}"
    );
    for f in ["junit.xml", "ctrf.json", "summary.md", "report.html"] {
        let text = std::fs::read_to_string(path(f)).expect(f);
        // Only the note and rustdoc's own output (kept as captured) may name line 6.
        let text = text
            .replace("lib.rs:6:1, a line of the doctest", "")
            .replace("panicked at crates/ed2021/src/lib.rs:6:1", "");
        assert!(!text.contains("crates/ed2021/src/lib.rs:6"), "{f}: {text}");
    }
    let ctrf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path("ctrf.json")).unwrap()).unwrap();
    let two = ctrf["results"]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["extra"]["id"] == "ed2021::doctest$crates/ed2021/src/lib.rs - two (line 16)")
        .expect("the doctest in CTRF");
    assert_eq!(two["line"], 16);
    assert_eq!(two["extra"]["location"]["line"], 16);
    for f in ["junit.xml", "summary.md"] {
        let text = std::fs::read_to_string(path(f)).expect(f);
        assert!(text.contains("crates/ed2021/src/lib.rs:16"), "{f}: {text}");
    }
    let junit = std::fs::read_to_string(path("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"file="crates/ed2021/src/lib.rs" line="16""#),
        "{junit}"
    );
}

/// Three packages' doctests from one `cargo test --doc` (rust-doctests-packages): each
/// result is under its own package, the one failure is beta's, and nothing doubts the
/// split stream.
#[test]
fn the_doctests_of_several_packages_run_from_one_cargo_each_under_its_package() {
    let p = Project::new("rust-doctests-packages");
    // A cargo that notes each invocation, to count the `cargo test --doc` processes.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("cargo.log");
    let wrapper = dir.path().join("cargo");
    let real = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{real}' \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&wrapper).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&wrapper, perms).unwrap();
    let out = p.run_env(&[], &[("CARGO", wrapper.as_path())]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    let run = out.run();
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    let outcome = |id: &str| run.test(id).outcome.as_str().to_owned();
    for (id, want) in [
        ("alpha::doctest$alpha/src/lib.rs - inc (line 5)", "passed"),
        (
            "alpha::doctest$alpha/src/lib.rs - double (line 14)",
            "passed",
        ),
        ("beta::doctest$beta/src/lib.rs - inc (line 5)", "passed"),
        ("beta::doctest$beta/src/lib.rs - double (line 14)", "failed"),
        (
            "gamma-docs::doctest$gamma-docs/src/lib.rs - neg (line 5)",
            "passed",
        ),
    ] {
        assert_eq!(outcome(id), want, "{id}");
    }
    assert_eq!(run.tests.len(), 5, "{:?}", run.tests);
    let failed = run.test("beta::doctest$beta/src/lib.rs - double (line 14)");
    assert_eq!(
        failed.binary.as_deref(),
        Some("beta::doctest"),
        "{failed:?}"
    );
    let loc = failure(failed).location.as_ref().expect("a location");
    assert_eq!((loc.file.as_str(), loc.line), ("beta/src/lib.rs", 14));
    let calls = std::fs::read_to_string(&log).unwrap();
    let doc_runs: Vec<&str> = calls
        .lines()
        .filter(|l| l.starts_with("test --doc") && !l.contains("--list"))
        .collect();
    assert_eq!(doc_runs.len(), 1, "{calls}");
    for pkg in ["alpha@0.1.0", "beta@0.1.0", "gamma-docs@0.1.0"] {
        assert!(doc_runs[0].contains(&format!("--package {pkg}")), "{calls}");
    }
}
