//! A suite whose tool is missing (pytest not installed for the Python that runs it): the
//! run says so once, under a banner naming what failed, without Rust debug text.

use crate::util::Project;

/// Text that must never reach people: Rust's debug formatting and double prefixes.
pub(crate) fn assert_no_debug_text(text: &str) {
    for bad in ["Code(", "Signal(", "Os {", "kind: ", "1 errors", "1 tests"] {
        assert!(!text.contains(bad), "`{bad}` in:\n{text}");
    }
}

#[test]
fn pytest_missing_for_the_python_is_one_environment_error() {
    let venv = tempfile::tempdir().unwrap();
    // A Python without pytest; no package index needed.
    let made = std::process::Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(venv.path())
        .status()
        .expect("python3 -m venv");
    assert!(made.success());
    let python = venv.path().join("bin/python");
    let p = Project::new("pytest-basic");
    // With the per-test lines and with -q (the human summary still names the error).
    for quiet in [false, true] {
        let out = if quiet {
            p.cmd_env(&["run", "-q"], &[("TESTFLOW_PYTHON", &python)])
        } else {
            p.run_env(&[], &[("TESTFLOW_PYTHON", &python)])
        };
        assert_eq!(out.code, 101, "{}", out.stderr);
        let missing = format!("pytest is not installed for {}", python.display());
        assert_eq!(
            out.stderr.matches(&missing).count(),
            1,
            "printed once:\n{}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains(&format!("environment error: {missing}")),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains("ENVIRONMENT ERROR [") && out.stderr.contains("no tests ran"),
            "{}",
            out.stderr
        );
        assert!(!out.stderr.contains("BUILD FAILED"), "{}", out.stderr);
        assert_no_debug_text(&out.stderr);
        if !quiet {
            let run = out.run();
            assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
            assert_eq!(run.errors[0].kind, "environment");
        }
    }
}

#[test]
fn vitest_not_installed_is_one_environment_error_naming_it() {
    // The fixture as it is in the checkout: a Vitest config, no node_modules.
    let p = Project::new("vitest-basic");
    let out = p.run(&[]);
    assert_eq!(out.code, 101, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "environment error: vitest is not installed: node_modules/.bin/vitest not found"
        ),
        "{}",
        out.stderr
    );
    assert_no_debug_text(&out.stderr);
    let run = out.run();
    assert_eq!(run.frameworks, [testflow::model::Framework::Vitest]);
    assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
    assert_eq!(run.errors[0].kind, "environment");
}

#[test]
fn playwright_not_installed_is_one_environment_error_naming_it() {
    // The fixture as it is in the checkout: a Playwright config, no node_modules.
    let p = Project::new("playwright-basic");
    let out = p.run(&[]);
    assert_eq!(out.code, 101, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "environment error: Playwright Test is not installed: node_modules/.bin/playwright not found"
        ),
        "{}",
        out.stderr
    );
    assert_no_debug_text(&out.stderr);
    let run = out.run();
    assert_eq!(run.frameworks, [testflow::model::Framework::Playwright]);
    assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
    assert_eq!(run.errors[0].kind, "environment");
}
