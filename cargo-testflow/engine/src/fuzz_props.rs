//! The fuzz targets' inputs (`fuzz/fuzz_targets/`) under proptest, so stable CI runs them:
//! arbitrary bytes, and valid files with structured damage (numbers at extremes, lines cut
//! short, huge fields) fed to the same readers, asserting no panic and the fail-closed
//! properties. Case counts are bounded to keep `cargo test` fast.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

use crate::coverage::{self, Format};
use crate::model::{Outcome, Run, outcome_rank};
use crate::process::ExitKind;
use crate::report::{self, ReportFormat};

fn fixture(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const VALID_LOG: &str = "fail-closed/files/valid-events.jsonl";
const VALID_RUN: &str = "fail-closed/files/valid-run.json";

/// Numbers nobody measured: the edges of every integer type, of f64, and just past them.
const EXTREMES: [&str; 14] = [
    "0",
    "-1",
    "-0.0",
    "1e308",
    "-1e308",
    "1e400",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "1e-320",
    "123456789012345678901234567890",
];

/// Every report, the gates and the terminal summary of `run`: none may panic, and a
/// distrusted run is green in none of them.
fn render_everything(run: &Run) -> Result<(), TestCaseError> {
    for format in ReportFormat::ALL {
        report::render(run, format).map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
    }
    let gates = crate::gate::evaluate(run, &crate::gate::default_gates());
    let _ = crate::ui::summary(
        run,
        crate::ui::Style {
            color: false,
            bar: false,
            quiet: false,
        },
    );
    if !run.distrust().is_empty() {
        prop_assert!(!gates.passed);
        let md = report::markdown::render(run);
        prop_assert!(!md.starts_with("## ✅"), "{}", md);
    }
    Ok(())
}

/// The numbers of a JSON document, in document order.
fn numbers(v: &mut Value) -> Vec<&mut Value> {
    match v {
        Value::Number(_) => vec![v],
        Value::Array(a) => a.iter_mut().flat_map(numbers).collect(),
        Value::Object(o) => o.values_mut().flat_map(numbers).collect(),
        _ => vec![],
    }
}

/// A few of the document's numbers (chosen by `picks`) replaced by extremes: few, so
/// the document usually still loads and the extremes reach the code that uses them.
fn with_extreme_numbers(v: &mut Value, picks: &[(Index, usize)]) {
    let mut all = numbers(v);
    if all.is_empty() {
        return;
    }
    for (at, which) in picks {
        let n = at.index(all.len());
        *all[n] =
            serde_json::from_str(EXTREMES[which % EXTREMES.len()]).unwrap_or(Value::from(f64::MAX));
    }
}

fn picks() -> impl Strategy<Value = Vec<(Index, usize)>> {
    proptest::collection::vec((any::<Index>(), any::<usize>()), 1..4)
}

/// Byte edits: overwrite, delete or insert at chosen places.
fn edit(mut b: Vec<u8>, edits: &[(Index, u8, u8)]) -> Vec<u8> {
    for (at, byte, kind) in edits {
        if b.is_empty() {
            break;
        }
        let i = at.index(b.len());
        match kind % 3 {
            0 => b[i] = *byte,
            1 => {
                b.remove(i);
            }
            _ => b.insert(i, *byte),
        }
    }
    b
}

fn edits() -> impl Strategy<Value = Vec<(Index, u8, u8)>> {
    proptest::collection::vec((any::<Index>(), any::<u8>(), any::<u8>()), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    // ---- --affected's readers (fuzz_targets/affected_parsers.rs) -----------------

    #[test]
    fn affected_parsers_never_panic(text in "(?s).{0,400}", cut in any::<Index>()) {
        let top = Path::new("/r");
        if let Ok(c) = crate::affected::changes::parse_name_status(&text, top) {
            prop_assert!(c.len() <= text.split('\0').count());
        }
        for imp in crate::affected::python::scan(&text) {
            prop_assert!(text.contains(imp.module.as_str()));
        }
        let _ = crate::affected::depinfo::parse(&text, top);
        if let Ok((all, related)) = crate::frameworks::vitest::affected::parse_answer(&text) {
            prop_assert!(all.len() + related.len() <= text.len());
        }
        // Real name-status output cut anywhere: the changes or an error naming the status.
        let real = "M\0src/lib.rs\0R100\0old.py\0new.py\0D\0gone.rs\0";
        let at = cut.index(real.len() + 1);
        let _ = crate::affected::changes::parse_name_status(&real[..at], top);
    }

    // ---- list's parsers (fuzz_targets/list_parsers.rs) ---------------------------

    #[test]
    fn list_parsers_never_panic(text in "(?s).{0,600}", cut in any::<Index>()) {
        let _ = crate::frameworks::jest::parse_listing(Path::new("/p"), &text);
        let names = crate::frameworks::cargo::doctest_names(&text, &text);
        prop_assert!(names.iter().all(|(_, ignored)| *ignored));
        // A real Jest listing cut anywhere: an error or a listing, never a panic.
        let real = r#"{"testResults":[{"name":"/p/a.test.js","message":"","assertionResults":[{"ancestorTitles":["d"],"title":"t","location":{"line":4294967295,"column":1}}]}]}"#;
        let at = cut.index(real.len() + 1);
        let _ = crate::frameworks::jest::parse_listing(Path::new("/p"), &real[..at]);
    }

    // ---- the event-log fold (fuzz_targets/fold_log.rs) ----------------------------

    #[test]
    fn fold_of_arbitrary_bytes_never_panics_and_damage_is_never_completed(
        bytes in proptest::collection::vec(any::<u8>(), 0..4096),
        with_start in any::<bool>(),
    ) {
        // Half the cases start with a readable run_started, so the fold goes deeper.
        let mut log = if with_start {
            let valid = fixture(VALID_LOG);
            valid[..=valid.iter().position(|b| *b == b'\n').unwrap()].to_vec()
        } else {
            Vec::new()
        };
        log.extend_from_slice(&bytes);
        if let Ok(f) = crate::events::fold_reader(&log[..], "fuzz.jsonl") {
            if !f.warnings.is_empty() {
                prop_assert!(!f.run.completed);
                prop_assert!(!f.run.distrust().is_empty());
            }
            render_everything(&f.run)?;
        }
    }



    // ---- run.json (fuzz_targets/run_json.rs) --------------------------------------

    #[test]
    fn run_json_with_extreme_numbers_loads_or_errors_and_renders(
        picks in picks(),
    ) {
        let mut v: Value = serde_json::from_slice(&fixture(VALID_RUN)).unwrap();
        with_extreme_numbers(&mut v, &picks);
        let text = v.to_string();
        match crate::store::parse_run(&text, "run.json") {
            Err(e) => prop_assert!(format!("{e:#}").starts_with("run.json"), "{:#}", e),
            Ok(run) => {
                render_everything(&run)?;
                let merged = crate::merge::merge(
                    vec![("a".into(), run.clone()), ("b".into(), run.clone())],
                    None,
                );
                render_everything(&merged)?;
                prop_assert!(!merged.distrust().is_empty(), "two shards with one test each are flagged");
            }
        }
    }

    #[test]
    fn run_json_with_byte_edits_never_panics(edits in edits()) {
        let bytes = edit(fixture(VALID_RUN), &edits);
        if let Ok(text) = std::str::from_utf8(&bytes)
            && let Ok(run) = crate::store::parse_run(text, "run.json")
        {
            render_everything(&run)?;
        }
    }


    // ---- JUnit import (fuzz_targets/junit_import.rs) ------------------------------

    #[test]
    fn junit_import_of_arbitrary_bytes_and_hostile_times(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        time in prop_oneof![
            proptest::sample::select(EXTREMES.to_vec()).prop_map(str::to_owned),
            proptest::sample::select(vec!["NaN", "inf", "-inf", "", " ", "1e13", "0x10", "1,5"]).prop_map(str::to_owned),
            any::<f64>().prop_map(|f| f.to_string()),
            "[0-9eE.+-]{0,30}",
        ],
        tests in 1usize..20,
    ) {
        let _ = crate::import::parse_junit(&bytes, "fuzz.xml");
        let mut xml = String::from("<testsuites><testsuite name=\"s\">\n");
        for n in 0..tests {
            xml.push_str(&format!("<testcase name=\"t{n}\" classname=\"c\" time=\"{time}\"><failure message=\"m\"/></testcase>\n"));
        }
        xml.push_str("</testsuite></testsuites>\n");
        match crate::import::parse_junit(xml.as_bytes(), "j.xml") {
            Ok(run) => {
                for t in &run.tests {
                    prop_assert!(t.duration_ms.is_finite() && t.duration_ms >= 0.0);
                    prop_assert!(t.duration_ms <= crate::import::MAX_TEST_SECONDS * 1000.0);
                    prop_assert_eq!(t.outcome, Outcome::Failed);
                }
                render_everything(&run)?;
            }
            Err(e) => prop_assert!(e.to_string().starts_with("j.xml:2: testcase `t0` has time="), "{}", e),
        }
    }

    // ---- coverage (fuzz_targets/coverage_*.rs) ------------------------------------

    /// Real reports with numbers at extremes (hits, line numbers, counts), then rendered.
    #[test]
    fn coverage_with_extreme_numbers_parses_or_errors_and_renders(
        which in 0usize..4,
        picks in proptest::collection::vec((any::<bool>(), any::<usize>()), 1..32),
        long_path in any::<bool>(),
    ) {
        let (format, file) = [
            (Format::Lcov, "coverage/lcov-llvm.info"),
            (Format::Cobertura, "coverage/cobertura-jest-real.xml"),
            (Format::CoveragePy, "coverage/coveragepy-real.json"),
            (Format::Istanbul, "coverage/istanbul-jest-real.json"),
        ][which];
        let text = String::from_utf8(fixture(file)).unwrap();
        // Replace the digit runs the picks choose with an extreme number.
        let mut picks = picks.into_iter().cycle();
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c.is_ascii_digit() {
                let mut run = c.to_string();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    run.push(*d);
                    chars.next();
                }
                match picks.next() {
                    Some((true, i)) => out.push_str(EXTREMES[i % EXTREMES.len()]),
                    _ => out.push_str(&run),
                }
            } else {
                out.push(c);
            }
        }
        if long_path {
            out = out.replacen("src", &format!("src/{}", "p".repeat(70_000)), 1);
        }
        if let Ok(c) = coverage::parse_as(format, out.as_bytes(), "cov", Path::new("/")) {
            let _ = coverage::render_human(&c);
            let _ = c.totals();
        }
    }

    // ---- the panic parser (fuzz_targets/panic_parser.rs) --------------------------

    #[test]
    fn the_panic_parser_takes_any_output(
        name in ".{0,40}",
        stdout in proptest::collection::vec(any::<u8>(), 0..2048),
        stderr in proptest::collection::vec(any::<u8>(), 0..2048),
        json in proptest::option::of(".{0,200}"),
        code in any::<i32>(),
        signal in any::<bool>(),
        template in 0usize..3,
        line in "[0-9]{0,25}",
    ) {
        let exit = if signal { ExitKind::Signal(code) } else { ExitKind::Code(code) };
        let _ = crate::frameworks::cargo::failure::parse_failure(&name, &stdout, &stderr, exit, json.as_deref());
        // libtest-shaped panics with hostile locations and huge messages.
        let shaped = match template {
            0 => format!("thread '{name}' panicked at src/lib.rs:{line}:{line}:\nassertion `left == right` failed\n  left: {}\n right: 2\n", "9".repeat(stdout.len() * 10)),
            1 => format!("thread '{name}' (1) panicked at {}:{line}:5:\n{}\n", String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr)),
            _ => format!("---- {name} stdout ----\nthread '{name}' panicked at a.rs:{line}\nnote: test did not panic as expected at b.rs:{line}:{line}\n"),
        };
        // No panic is the property (a hostile `:0:0` location is kept as line 0: the
        // parser's owner decides whether to drop it).
        let _ = crate::frameworks::cargo::failure::parse_failure(&name, b"", shaped.as_bytes(), ExitKind::Code(101), None);
    }

    // ---- configuration (fuzz_targets/config.rs) -----------------------------------

    #[test]
    fn any_text_is_a_rate_from_0_to_1_or_an_error(
        text in prop_oneof![
            any::<String>(),
            any::<f64>().prop_map(|f| format!("{f}")),
            any::<f64>().prop_map(|f| format!("{f}%")),
            (0u32..=100).prop_map(|p| format!("{p} %")),
        ],
    ) {
        if let Ok(r) = crate::config::parse_rate(&text) {
            prop_assert!((0.0..=1.0).contains(&r), "{:?} -> {}", text, r);
        }
    }

    #[test]
    fn a_percentage_is_the_same_rate_as_its_fraction(p in 0u32..=100) {
        let from_percent = crate::config::parse_rate(&format!("{p}%")).unwrap();
        prop_assert!((from_percent - f64::from(p) / 100.0).abs() < 1e-12);
        // A bare number above 1 is never taken as a percentage.
        if p > 1 {
            prop_assert!(crate::config::parse_rate(&p.to_string()).is_err());
        }
    }

    #[test]
    fn config_with_hostile_values_is_a_config_or_an_error(
        key in proptest::sample::select(vec![
            "run.test_timeout", "run.timeout", "run.jobs", "run.retries", "gates.min_pass_rate",
            "gates.min_tests", "gates.min_coverage", "gates.no_coverage_drop", "iterate.max_iterations",
        ]),
        value in prop_oneof![
            proptest::sample::select(EXTREMES.to_vec()).prop_map(str::to_owned),
            proptest::sample::select(vec!["nan", "inf", "-inf", "true", "\"x\"", "[]", "{}", "1e300"]).prop_map(str::to_owned),
            any::<f64>().prop_map(|f| format!("{f:?}")),
        ],
        noise in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let (table, k) = key.split_once('.').unwrap();
        let text = format!("[{table}]\n{k} = {value}\n");
        let source = Path::new("testflow.toml");
        match crate::config::parse_str(&text, source) {
            Ok(c) => {
                for v in [c.run.test_timeout, c.run.timeout].into_iter().flatten() {
                    prop_assert!(v.is_finite() && v > 0.0, "{} accepted", text);
                }
            }
            Err(e) => prop_assert!(format!("{e:#}").starts_with("testflow.toml"), "{:#}", e),
        }
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(&noise);
        if let Ok(t) = std::str::from_utf8(&bytes) {
            let _ = crate::config::parse_str(t, source);
        }
    }

    // ---- quarantine entries (fuzz_targets/config.rs feeds them through parse_str) ----

    #[test]
    fn quarantine_entries_are_valid_or_an_error_naming_the_file_and_entry(
        key in proptest::sample::select(vec!["id", "pattern", "reason", "until", "expires"]),
        value in prop_oneof![
            any::<String>().prop_map(|s| format!("{s:?}")),
            proptest::sample::select(EXTREMES.to_vec()).prop_map(str::to_owned),
            proptest::sample::select(vec!["\"2026-02-30\"", "\"2026-12-31\"", "2026-12-31", "\"\"", "[]"]).prop_map(str::to_owned),
        ],
    ) {
        let text = format!("[[quarantine]]\nid = \"a\"\nreason = \"r\"\n{key} = {value}\n");
        let source = Path::new("testflow.toml");
        match crate::config::parse_str(&text, source) {
            Ok(c) => {
                for q in &c.quarantine {
                    prop_assert!(q.check().is_ok(), "{} accepted", text);
                }
            }
            Err(e) => prop_assert!(format!("{e:#}").starts_with("testflow.toml"), "{:#}", e),
        }
    }

    #[test]
    fn globs_and_dates_take_any_text(pattern in "[a-z*?$:/]{0,12}", text in "[a-z$:/]{0,16}", date in any::<String>()) {
        use crate::quarantine::{glob_match, parse_date};
        // `*` alone matches anything; a pattern without wildcards matches only itself.
        prop_assert!(glob_match("*", &text));
        prop_assert!(glob_match(&text, &text));
        if !pattern.contains(['*', '?']) {
            prop_assert_eq!(glob_match(&pattern, &text), pattern == text);
        }
        let _ = glob_match(&pattern, &text);
        if let Ok(d) = parse_date(&date) {
            prop_assert_eq!(d.format("%Y-%m-%d").to_string(), date.trim());
        }
    }
}

// Each case folds or merges and renders a whole real run: fewer cases.
proptest! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]

    /// Cutting any line of a valid log short (a torn write) leaves a run that is not
    /// completed, names the line, and fails the gates, whatever the line was.
    #[test]
    fn a_log_with_any_line_cut_short_is_never_completed(
        line in any::<Index>(),
        keep in any::<Index>(),
    ) {
        let text = String::from_utf8(fixture(VALID_LOG)).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        // The first line is the run_started a log needs at all.
        let i = 1 + line.index(lines.len() - 1);
        let l = &lines[i];
        let mut cut = 1 + keep.index(l.len() - 1);
        while !l.is_char_boundary(cut) {
            cut -= 1;
        }
        lines[i] = l[..cut].to_owned();
        let log = lines.join("\n") + "\n";
        let f = crate::events::fold_reader(log.as_bytes(), "events.jsonl").unwrap();
        prop_assert!(!f.run.completed);
        let line_no = format!("events.jsonl:{}:", i + 1);
        prop_assert!(f.warnings.iter().any(|w| w.starts_with(&line_no)), "{:?}", f.warnings);
        prop_assert!(
            f.run.errors.iter().any(|e| e.kind == crate::model::error_kind::LOG_DAMAGED
                && e.message.starts_with(&line_no))
        );
        render_everything(&f.run)?;
    }

    /// Numbers at extremes and huge fields in a valid log: no panic, and the fold's
    /// verdict for each test is never better than the worst it was told.
    #[test]
    fn a_log_with_extreme_numbers_and_huge_fields_folds(
        line_picks in proptest::collection::vec(picks(), 1..4),
        huge_line in any::<Index>(),
        huge_len in 0usize..200_000,
    ) {
        let text = String::from_utf8(fixture(VALID_LOG)).unwrap();
        let mut lines: Vec<String> = Vec::new();
        let count = text.lines().count();
        let huge_at = huge_line.index(count);
        for (n, l) in text.lines().enumerate() {
            let mut v: Value = serde_json::from_str(l).unwrap();
            if let Some(p) = line_picks.get(n % 7) {
                with_extreme_numbers(&mut v, p);
            }
            if n == huge_at && let Some(o) = v.as_object_mut() {
                o.insert("message".into(), Value::from("x".repeat(huge_len)));
            }
            lines.push(v.to_string());
        }
        let log = lines.join("\n") + "\n";
        if let Ok(f) = crate::events::fold_reader(log.as_bytes(), "events.jsonl") {
            if !f.warnings.is_empty() {
                prop_assert!(!f.run.completed);
            }
            render_everything(&f.run)?;
        }
    }

    /// A merged test is never better than the worst a shard said (the merge module has
    /// its own property on synthetic runs; this one is on a real run with flipped outcomes).
    #[test]
    fn merging_a_real_run_with_a_mutated_copy_keeps_the_worst(
        flips in proptest::collection::vec((any::<Index>(), proptest::sample::select(Outcome::ALL.to_vec())), 1..6),
    ) {
        let a = crate::store::parse_run(std::str::from_utf8(&fixture(VALID_RUN)).unwrap(), "a").unwrap();
        let mut b = a.clone();
        for (i, o) in &flips {
            let n = i.index(b.tests.len());
            b.tests[n].outcome = *o;
        }
        let merged = crate::merge::merge(vec![("a".into(), a.clone()), ("b".into(), b.clone())], None);
        for t in &merged.tests {
            let said = [&a, &b].iter().flat_map(|r| r.tests.iter()).filter(|x| x.id == t.id)
                .map(|x| outcome_rank(x.outcome)).max().unwrap();
            prop_assert_eq!(outcome_rank(t.outcome), said, "{}", t.id);
        }
    }
}

// ---- go test's stream (fuzz_targets/go_stream.rs) ----------------------------------------

/// One test2json line of a small alphabet: tests T0..T2 of package `ex/p`.
fn go_line(kind: usize, test: usize) -> String {
    let t = format!("T{test}");
    let ev = |action: &str, test: Option<&str>, output: Option<&str>| {
        let mut v = serde_json::json!({"Action": action, "Package": "ex/p"});
        if let Some(t) = test {
            v["Test"] = Value::from(t);
        }
        if let Some(o) = output {
            v["Output"] = Value::from(o);
        }
        v.to_string()
    };
    match kind {
        0 => ev("run", Some(&t), None),
        1 => ev("pass", Some(&t), None),
        2 => ev("fail", Some(&t), None),
        3 => ev("skip", Some(&t), None),
        4 => ev("output", Some(&t), Some("panic: boom\n")),
        5 => ev(
            "output",
            Some(&t),
            Some(&format!("--- PASS: {t} (0.00s)\n")),
        ),
        6 => ev("output", None, Some("PASS\n")),
        7 => ev("pass", None, None),
        8 => ev("fail", None, None),
        _ => "{not json".to_owned(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any sequence of go's events, damaged lines among them: no panic, and in a binary
    /// that did not finish its `main`, a test is passed only if it said so (its `pass`
    /// or its `--- PASS` line) before the first `panic:` line.
    #[test]
    fn go_streams_never_pass_a_test_that_was_running_when_its_binary_died(
        lines in proptest::collection::vec((0usize..10, 0usize..3), 0..40),
    ) {
        use crate::frameworks::go::{attribution, events, failure::Paths};
        let mut s = events::Stream::new(4096);
        let mut ended = Vec::new();
        for (kind, test) in &lines {
            for step in s.line(go_line(*kind, *test).as_bytes()) {
                if let events::Step::PackageEnded(p) = step {
                    ended.push((p, attribution::End::Normal));
                }
            }
        }
        ended.extend(s.finish().into_iter().map(|p| (p, attribution::End::StreamEnded)));
        let paths = Paths { root: Path::new("/p"), dir: "" };
        for (p, end) in &ended {
            let a = attribution::attribute(p, paths, *end);
            let finished = p.finished_main && p.ended.is_some() && *end == attribution::End::Normal;
            if finished {
                continue;
            }
            let died = p.died.as_ref().map_or(u64::MAX, |d| d.0);
            for r in a.results.iter().filter(|r| r.outcome == Outcome::Passed) {
                let t = p.tests.iter().rev().find(|t| t.name == r.name).unwrap();
                let said = t.ended.is_some_and(|e| e.0 == events::Ended::Pass && e.1 < died)
                    || t.reported.is_some_and(|e| e.0 == events::Ended::Pass && e.1 < died);
                prop_assert!(said, "{} passed without saying so before the death: {:?}", r.name, lines);
            }
        }
    }
}
