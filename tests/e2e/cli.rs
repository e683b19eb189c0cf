//! The command line itself: help text and usage errors.

use crate::util::Project;

#[test]
fn help_lists_the_exit_codes() {
    let p = Project::new("rust-basic");
    for args in [&["--help"][..], &["run", "--help"][..]] {
        let out = p.cmd(args);
        assert_eq!(out.code, 0, "{}", out.stderr);
        for line in [
            "Exit codes:",
            "    0    every test passed",
            "    2    usage error",
            "    4    no tests ran",
            "  100    tests failed",
            "  101    the build failed",
            "  130    interrupted by Ctrl-C",
        ] {
            assert!(
                out.stdout.contains(line),
                "{args:?}: no `{line}` in\n{}",
                out.stdout
            );
        }
    }
}

#[test]
fn a_bad_flag_value_is_a_usage_error() {
    let out = Project::new("rust-basic").cmd(&["run", "--test-timeout", "abc"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "invalid value 'abc' for '--test-timeout <SECS>': `abc` is not a number of seconds"
        ),
        "{}",
        out.stderr
    );
    let out = Project::new("rust-basic").cmd(&["run", "--timeout", "-1"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = Project::new("rust-basic").cmd(&["run", "--report", "xml=out.xml"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("unknown report format `xml`"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    let out = Project::new("rust-basic").cmd(&["run", "--no-such-flag"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--no-such-flag"), "{}", out.stderr);
}
