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

/// `list --format json` has every test; `--names` shows them: unit tests with their
/// `#[ignore]`, doctests (an ```` ```ignore ```` one marked ignored) of both editions.
#[test]
fn list_names_every_test_with_its_location_and_ignored() {
    let p = Project::new("rust-doctests");
    let out = p.cmd(&["list", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let suites: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let mut got: Vec<(String, String, u64, bool)> = Vec::new();
    for s in suites.as_array().unwrap() {
        let list = s["test_list"].as_array().expect("test_list");
        assert_eq!(s["tests"].as_u64(), Some(list.len() as u64), "{s}");
        let ignored = list.iter().filter(|t| t["ignored"] == true).count();
        assert_eq!(s["ignored"].as_u64(), Some(ignored as u64), "{s}");
        for t in list {
            assert_eq!(t["framework"], "rust");
            got.push((
                t["id"].as_str().unwrap().to_owned(),
                t["file"].as_str().unwrap().to_owned(),
                t["line"].as_u64().unwrap(),
                t["ignored"].as_bool().unwrap(),
            ));
        }
    }
    got.sort();
    let mut want = Vec::new();
    for ed in ["ed2021", "ed2024"] {
        let file = format!("crates/{ed}/src/lib.rs");
        want.push((format!("{ed}$tests::adds"), file.clone(), 45, false));
        want.push((format!("{ed}$tests::ignored_slow"), file.clone(), 51, true));
        for (name, line, ignored) in [
            ("four", 35, true),
            ("one", 5, false),
            ("three", 26, false),
            ("two", 16, false),
        ] {
            want.push((
                format!("{ed}::doctest${file} - {name} (line {line})"),
                file.clone(),
                line,
                ignored,
            ));
        }
    }
    want.sort();
    assert_eq!(got, want);
    // The ids are the ones a run records.
    let run = p.run(&[]);
    let mut run_ids: Vec<String> = run.run().tests.iter().map(|t| t.id.clone()).collect();
    run_ids.sort();
    assert_eq!(run_ids, got.iter().map(|g| g.0.clone()).collect::<Vec<_>>());

    let out = p.cmd(&["list", "--names"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for line in [
        "     4  ed2021::doctest [doctest] (1 ignored)\n",
        "        ed2021::doctest$crates/ed2021/src/lib.rs - four (line 35)  crates/ed2021/src/lib.rs:35  (ignored)\n",
        "        ed2024$tests::ignored_slow  crates/ed2024/src/lib.rs:51  (ignored)\n",
        "        ed2024$tests::adds  crates/ed2024/src/lib.rs:45\n",
    ] {
        assert!(out.stdout.contains(line), "{line:?} in:\n{}", out.stdout);
    }
    assert!(
        out.stdout.ends_with("12 tests in 4 suites\n"),
        "{}",
        out.stdout
    );
}
