//! Test-controlled text never reaches the terminal as control sequences
//! (tests/fixtures/rust-hostile-output).

use crate::util::Project;

fn assert_inert(what: &str, text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{202e}')
        .collect();
    assert!(
        bad.is_empty(),
        "{what} printed control characters {bad:?}:\n{text}"
    );
}

#[test]
fn run_analyze_and_show_escape_control_sequences_from_tests() {
    let p = Project::new("rust-hostile-output");
    let out = p.cmd(&["run"]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    assert_inert("run", &out.stderr);
    assert_inert("run", &out.stdout);
    // The text is still there to read, escaped.
    assert!(
        out.stderr.contains("boom\\u{d}PASSED 99 tests\\u{202e}"),
        "{}",
        out.stderr
    );

    let analyze = p.cmd(&["analyze"]);
    assert_inert("analyze", &analyze.stdout);
    assert!(analyze.stdout.contains("PASSED 99"), "{}", analyze.stdout);

    let show = p.cmd(&["show", "hostile$hostile_comparison"]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert_inert("show", &show.stdout);
    assert!(
        show.stdout.contains("hostile_comparison"),
        "{}",
        show.stdout
    );
}
