//! A workspace that does not compile: exit 101, the diagnostic shown, a `build` RunError stored.

use crate::util::Project;

#[test]
fn a_build_failure_exits_101_and_is_recorded() {
    let p = Project::new("rust-build-error");
    let out = p.run(&[]);
    assert_eq!(out.code, 101, "{}", out.stderr);
    assert!(
        out.stderr.contains("error[E0308]: mismatched types"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("crates/broken-build/src/lib.rs:11:22"),
        "{}",
        out.stderr
    );
    // The verdict says what happened, not "no tests".
    assert!(out.stderr.contains("BUILD FAILED ["), "{}", out.stderr);
    let run = out.run();
    assert_eq!(run.tests, vec![]);
    assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
    assert_eq!(run.errors[0].kind, "build");
    assert!(
        run.errors[0].message.contains("error[E0308]"),
        "{}",
        run.errors[0].message
    );
    // The stored run says the same.
    let stored = p.report_json("latest");
    assert_eq!(stored.code, 0, "{}", stored.stderr);
    assert_eq!(stored.run(), run);
}

#[test]
fn a_build_failure_is_printed_once_under_build_failed() {
    let p = Project::new("rust-build-error");
    // Echoed as cargo builds; with -q, named by the summary instead.
    for args in [&["run"][..], &["run", "-q"][..]] {
        let out = p.cmd(args);
        assert_eq!(out.code, 101, "{args:?}: {}", out.stderr);
        for once in ["error[E0308]: mismatched types", "BUILD FAILED"] {
            assert_eq!(
                out.stderr.matches(once).count(),
                1,
                "{args:?}: `{once}` once:\n{}",
                out.stderr
            );
        }
        assert!(out.stderr.contains("no tests ran"), "{}", out.stderr);
        crate::environment_errors::assert_no_debug_text(&out.stderr);
    }
}

#[test]
fn list_on_a_build_failure_exits_101() {
    let out = Project::new("rust-build-error").cmd(&["list"]);
    assert_eq!(out.code, 101, "{}", out.stderr);
    assert!(out.stderr.contains("error[E0308]"), "{}", out.stderr);
}
