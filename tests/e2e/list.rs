//! `cargo testflow list`.

use crate::util::Project;

#[test]
fn list_json_shows_each_suite_with_its_counts() {
    let out = Project::new("rust-basic").cmd(&["list", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let suites: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let mut got: Vec<(String, String, u64, u64)> = suites
        .as_array()
        .expect("an array of suites")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["kind"].as_str().unwrap().to_owned(),
                s["tests"].as_u64().unwrap(),
                s["ignored"].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort();
    let want = [
        ("calc", "lib", 9, 1),
        ("calc::doctest", "doctest", 2, 0),
        ("calc::integ", "test", 7, 0),
    ]
    .map(|(i, k, t, n)| (i.to_owned(), k.to_owned(), t, n));
    assert_eq!(got, want);
}

#[test]
fn list_human_totals_the_tests() {
    let out = Project::new("rust-basic").cmd(&["list", "--no-doc"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("     9  calc [lib] (1 ignored)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("     7  calc::integ [test]"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.ends_with("16 tests in 2 suites\n"),
        "{}",
        out.stdout
    );
}
