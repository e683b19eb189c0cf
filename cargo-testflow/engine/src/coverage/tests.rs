use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;

fn fixture(name: &str) -> (Vec<u8>, String) {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/coverage")
        .join(name);
    (std::fs::read(&p).unwrap(), name.to_owned())
}

fn parse_fixture(name: &str, root: &str) -> Coverage {
    let (b, n) = fixture(name);
    parse(&b, &n, Path::new(root)).unwrap()
}

const FIXTURES: [&str; 11] = [
    "coveragepy-real.json",
    "coveragepy-real-shard2.json",
    "cobertura-coveragepy-real.xml",
    "lcov-coveragepy-real.info",
    "istanbul-jest-real.json",
    "lcov-jest-real.info",
    "cobertura-jest-real.xml",
    "lcov-llvm.info",
    "lcov-v2.info",
    "cargo-llvm-cov-0.9.1.lcov",
    "cargo-llvm-cov-0.9.1.cobertura.xml",
];

#[test]
fn formats_are_detected_by_content() {
    let expect = [
        ("coveragepy-real.json", Format::CoveragePy),
        ("cobertura-coveragepy-real.xml", Format::Cobertura),
        ("lcov-coveragepy-real.info", Format::Lcov),
        ("istanbul-jest-real.json", Format::Istanbul),
        ("lcov-jest-real.info", Format::Lcov),
        ("cobertura-jest-real.xml", Format::Cobertura),
        ("lcov-v2.info", Format::Lcov),
    ];
    for (f, want) in expect {
        let (b, n) = fixture(f);
        assert_eq!(detect(&b, &n).unwrap(), want, "{f}");
    }
    let e = detect(b"hello", "x.txt").unwrap_err().to_string();
    assert!(e.contains("x.txt:1"), "{e}");
    assert!(detect(b"{\"a\": 1}", "x.json").is_err());
    assert!(detect(b"  \n", "e").is_err());
}

#[test]
fn llvm_lcov_is_read_relative_to_the_project() {
    let c = parse_fixture("lcov-llvm.info", "/home/ci/project");
    assert_eq!(
        c.files.keys().collect::<Vec<_>>(),
        ["src/lib.rs", "src/main.rs"]
    );
    let lib = &c.files["src/lib.rs"];
    assert_eq!(lib.lines[&3], 4);
    assert_eq!(lib.lines[&15], 0);
    assert_eq!(lib.branches[&8], vec![1, 1]);
    assert_eq!(lib.branches[&16], vec![0, 0]);
    assert_eq!(lib.functions["calc::divide"], Function { line: 7, hits: 2 });
    let t = c.totals();
    assert_eq!((t.lines.covered, t.lines.total), (12, 15));
    assert_eq!((t.branches.covered, t.branches.total), (2, 4));
    assert_eq!((t.functions.covered, t.functions.total), (3, 4));
    assert_eq!(t.lines.percent, Some(80.0));
}

#[test]
fn real_cargo_llvm_cov_output_reads_the_same_as_lcov_and_cobertura() {
    let root = "/tmp/cov2";
    let lcov = parse_fixture("cargo-llvm-cov-0.9.1.lcov", root);
    let xml = parse_fixture("cargo-llvm-cov-0.9.1.cobertura.xml", root);
    assert_eq!(
        lcov.files.keys().collect::<Vec<_>>(),
        ["crates/calc/src/lib.rs"]
    );
    let lib = &lcov.files["crates/calc/src/lib.rs"];
    // `add` (line 8) ran in 3 unit tests and once from tests/integ.rs; the two copies of
    // the function (one per test binary) are one function, with their hits summed.
    assert_eq!(lib.lines[&8], 4);
    assert_eq!(lib.functions["calc::add"], Function { line: 8, hits: 4 });
    assert_eq!(lib.functions["calc::div"].hits, 1);
    assert_eq!(lib.functions["calc::tests::ignored_slow"].hits, 0);
    assert!(
        lib.functions.keys().all(|k| !k.starts_with("_R")),
        "{:?}",
        lib.functions.keys()
    );
    let t = lcov.totals();
    assert_eq!((t.lines.covered, t.lines.total), (26, 34));
    assert_eq!((t.functions.covered, t.functions.total), (10, 11));
    // Cobertura from the same profiles: the same lines and hit counts.
    assert_eq!(xml.files["crates/calc/src/lib.rs"].lines, lib.lines);
}

#[test]
fn lcov_2_records_are_read() {
    let c = parse_fixture("lcov-v2.info", "/");
    let f = &c.files["src/lib.rs"];
    assert_eq!(f.functions["add"], Function { line: 3, hits: 3 });
    assert_eq!(f.functions["divide"], Function { line: 7, hits: 1 });
    assert_eq!(f.branches[&8], vec![1, 0]);
    assert_eq!(f.lines[&3], 3);
    assert_eq!(f.lines.len(), 5);
}

#[test]
fn the_same_coverage_py_run_reads_the_same_in_every_format() {
    let root = "/work/target-cov/pyproj";
    let json = parse_fixture("coveragepy-real.json", root);
    let xml = parse_fixture("cobertura-coveragepy-real.xml", root);
    let lcov = parse_fixture("lcov-coveragepy-real.info", root);
    let path = "calc/__init__.py";
    assert_eq!(json.files[path].lines, xml.files[path].lines);
    assert_eq!(json.files[path].lines, lcov.files[path].lines);
    assert_eq!(json.totals().lines.percent, Some(75.0));
    assert_eq!(xml.totals().branches, json.totals().branches);
    assert_eq!(
        (json.totals().branches.covered, json.totals().branches.total),
        (1, 4)
    );
    assert!(json.files[path].hit_only);
    let names: Vec<_> = json.files[path].functions.keys().collect();
    assert_eq!(names, lcov.files[path].functions.keys().collect::<Vec<_>>());
    assert_eq!(json.files[path].functions["unused"].hits, 0);
    // A function's line is its `def` line in both (JSON `start_line`, LCOV `FN:`), not
    // the first line of its body.
    assert_eq!(json.files[path].functions, lcov.files[path].functions);
    assert_eq!(
        json.files[path].functions["add"],
        Function { line: 1, hits: 1 }
    );
    assert_eq!(json.files[path].functions["Counter.bump"].line, 21);
}

#[test]
fn the_same_jest_run_reads_the_same_in_every_format() {
    let root = "/work/target-cov/jsproj";
    let ist = parse_fixture("istanbul-jest-real.json", root);
    let lcov = parse_fixture("lcov-jest-real.info", root);
    let xml = parse_fixture("cobertura-jest-real.xml", root);
    assert_eq!(ist.files.keys().collect::<Vec<_>>(), ["calc.js"]);
    assert_eq!(ist, lcov);
    assert_eq!(ist.files["calc.js"].lines, xml.files["calc.js"].lines);
    assert_eq!(ist.totals().branches, xml.totals().branches);
}

#[test]
fn merging_sums_counts_and_ors_hit_only_data() {
    let a = parse_fixture("lcov-llvm.info", "/home/ci/project");
    let mut m = a.clone();
    m.merge(a.clone());
    let lib = &m.files["src/lib.rs"];
    assert_eq!(lib.lines[&3], 8);
    assert_eq!(lib.branches[&8], vec![2, 2]);
    assert_eq!(lib.functions["calc::add"].hits, 8);
    assert_eq!(m.totals(), a.totals());

    let root = "/work/target-cov/pyproj";
    let mut py = parse_fixture("coveragepy-real.json", root);
    let shard2 = parse_fixture("coveragepy-real-shard2.json", root);
    let s2 = shard2.totals().lines.covered;
    py.merge(shard2);
    let f = &py.files["calc/__init__.py"];
    assert!(f.lines.values().all(|h| *h <= 1), "hit-only data is ORed");
    assert_eq!(py.totals().lines.percent, Some(75.0));
    assert!(s2 < 12);
}

#[test]
fn lcov_and_cobertura_writers_round_trip() {
    let root = Path::new("/r");
    for f in FIXTURES {
        let (b, n) = fixture(f);
        let c = parse(&b, &n, Path::new("/work/target-cov/jsproj")).unwrap();
        let back = lcov::parse(lcov::write(&c).as_bytes(), "w.info", root).unwrap();
        assert_eq!(back.files.len(), c.files.len(), "{f}");
        for (p, x) in &c.files {
            let y = &back.files[p];
            assert_eq!(x.lines, y.lines, "{f} {p}: lcov");
            assert_eq!(x.branches, y.branches, "{f} {p}: lcov");
            assert_eq!(x.functions, y.functions, "{f} {p}: lcov");
        }
        let back = cobertura::parse(cobertura::write(&c).as_bytes(), "w.xml", root).unwrap();
        for (p, x) in &c.files {
            let y = &back.files[p];
            assert_eq!(x.lines, y.lines, "{f} {p}: cobertura");
            assert_eq!(x.totals(), y.totals(), "{f} {p}: cobertura totals");
        }
    }
}

#[test]
fn errors_name_the_file_and_line() {
    let e = lcov::parse(
        b"SF:a.rs\nDA:1,1\nDA:x,1\nend_of_record\n",
        "t.info",
        Path::new("/"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("t.info:3:"), "{e}");
    let e = lcov::parse(b"SF:a.rs\nDA:1,1\n", "t.info", Path::new("/"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("t.info:2") && e.contains("truncated"), "{e}");
    let e = lcov::parse(b"SF:a.rs\n\xff\xfe\n", "t.info", Path::new("/"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("t.info:2:"), "{e}");
    let (b, _) = fixture("coveragepy-real.json");
    let e = coveragepy::parse(&b[..b.len() / 2], "c.json", Path::new("/"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("c.json:1:"), "{e}");
    let (b, _) = fixture("cobertura-coveragepy-real.xml");
    let e = cobertura::parse(&b[..b.len() / 2], "c.xml", Path::new("/"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("c.xml:") && e.contains("byte"), "{e}");
}

#[test]
fn paths_are_normalized() {
    let r = Path::new("/home/ci/project");
    assert_eq!(normalize_path("/home/ci/project/src/a.rs", r), "src/a.rs");
    assert_eq!(normalize_path("./src/../src/a.rs", r), "src/a.rs");
    assert_eq!(normalize_path("src\\win\\a.rs", r), "src/win/a.rs");
    assert_eq!(normalize_path("/elsewhere/a.rs", r), "/elsewhere/a.rs");
    assert_eq!(
        normalize_path("/home/ci/projectx/a.rs", r),
        "/home/ci/projectx/a.rs"
    );
}

#[test]
fn report_rendering() {
    let c = parse_fixture("lcov-llvm.info", "/home/ci/project");
    let h = render_human(&c);
    assert!(h.contains("src/lib.rs"), "{h}");
    assert!(h.contains("TOTAL") && h.contains("80.00%"), "{h}");
}

#[test]
fn a_path_longer_than_a_format_width_renders_without_panicking() {
    // `{:<width$}` panics past 65,535: the table must not pad to the path's length.
    let long = format!("src/{}.rs", "a".repeat(70_000));
    let inputs: [(Format, String); 4] = [
        (
            Format::Lcov,
            format!("SF:{long}\nDA:1,1\nDA:2,0\nend_of_record\n"),
        ),
        (
            Format::Cobertura,
            format!(
                r#"<coverage><packages><package><classes><class filename="{long}"><lines><line number="1" hits="1"/><line number="2" hits="0"/></lines></class></classes></package></packages></coverage>"#
            ),
        ),
        (
            Format::CoveragePy,
            format!(
                r#"{{"meta":{{"version":"7.0"}},"files":{{"{long}":{{"executed_lines":[1],"missing_lines":[2]}}}}}}"#
            ),
        ),
        (
            Format::Istanbul,
            format!(
                r#"{{"{long}":{{"path":"{long}","statementMap":{{"0":{{"start":{{"line":1,"column":0}},"end":{{"line":1,"column":5}}}},"1":{{"start":{{"line":2,"column":0}},"end":{{"line":2,"column":5}}}}}},"s":{{"0":1,"1":0}},"fnMap":{{}},"f":{{}},"branchMap":{{}},"b":{{}}}}}}"#
            ),
        ),
    ];
    for (format, text) in inputs {
        let c = parse_as(format, text.as_bytes(), "long", Path::new("/")).unwrap();
        let h = render_human(&c);
        assert!(h.contains(&long), "{format:?}");
        assert!(h.contains(" 50.00%"), "{format:?}");
    }
}

fn parsers() -> [Format; 4] {
    [
        Format::Lcov,
        Format::Cobertura,
        Format::CoveragePy,
        Format::Istanbul,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for f in parsers() {
            let _ = parse_as(f, &bytes, "fuzz", Path::new("/"));
        }
        let _ = parse(&bytes, "fuzz", Path::new("/"));
    }

    #[test]
    fn mutated_real_files_never_panic(
        which in 0..FIXTURES.len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let (mut b, _) = fixture(FIXTURES[which]);
        for (at, byte, kind) in edits {
            if b.is_empty() { break; }
            let i = at.index(b.len());
            match kind {
                0 => b[i] = byte,
                1 => { b.remove(i); }
                _ => b.insert(i, byte),
            }
        }
        for f in parsers() {
            if let Err(e) = parse_as(f, &b, "m", Path::new("/")) {
                prop_assert!(e.to_string().starts_with("m"), "{}", e);
            }
        }
        let t = cut.index(b.len() + 1);
        for f in parsers() {
            let _ = parse_as(f, &b[..t], "m", Path::new("/"));
        }
    }

    #[test]
    fn writers_round_trip_line_data(
        files in proptest::collection::btree_map(
            "[a-z]{1,8}(/[a-z_]{1,8}){0,2}\\.(rs|py|js)",
            (
                proptest::collection::btree_map(1u32..5000, 0u64..1_000_000, 0..40),
                proptest::collection::btree_map(1u32..5000, proptest::collection::vec(0u64..5, 1..4), 0..5),
            ),
            0..6,
        ),
    ) {
        let cov = Coverage {
            files: files
                .into_iter()
                .map(|(p, (lines, branches))| (p, FileCoverage { lines, branches, ..FileCoverage::default() }))
                .collect(),
        };
        let root = Path::new("/r");
        let back = lcov::parse(lcov::write(&cov).as_bytes(), "w.info", root).unwrap();
        prop_assert_eq!(&back, &cov);
        let back = cobertura::parse(cobertura::write(&cov).as_bytes(), "w.xml", root).unwrap();
        for (p, f) in &cov.files {
            prop_assert_eq!(&back.files[p].lines, &f.lines);
        }
    }
}
