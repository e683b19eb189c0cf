//! run.json: any text loads or is an error; a loaded run renders in every format, gates,
//! and merges with itself without panicking, and a merge is never better than its input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use testflow::model::outcome_rank;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(run) = testflow::store::parse_run(text, "fuzz/run.json") else { return };
    for format in testflow::report::ReportFormat::ALL {
        let _ = testflow::report::render(&run, format);
    }
    let _ = testflow::gate::evaluate(&run, &testflow::gate::default_gates());
    let _ = testflow::ui::summary(&run, testflow::ui::Style { color: false, bar: false, quiet: false });
    let merged = testflow::merge::merge(vec![("a".into(), run.clone()), ("b".into(), run.clone())], None);
    for t in &merged.tests {
        let worst = run.tests.iter().filter(|r| r.id == t.id).map(|r| outcome_rank(r.outcome)).max();
        assert_eq!(Some(outcome_rank(t.outcome)), worst);
    }
});
