//! The event-log fold: any bytes give a run or an error, never a panic; a log with an
//! unreadable line is never a completed run, and never one without a run error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = testflow::events::fold_reader(data, "fuzz.jsonl") {
        if !f.warnings.is_empty() {
            assert!(!f.run.completed, "a damaged log folded into a completed run");
            assert!(!f.run.distrust().is_empty());
        }
        for format in testflow::report::ReportFormat::ALL {
            let _ = testflow::report::render(&f.run, format);
        }
    }
});
