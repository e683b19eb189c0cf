//! JUnit import: any bytes import or are an error naming the file; an imported run
//! renders in every format.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(run) = testflow::import::parse_junit(data, "fuzz.xml") {
        for t in &run.tests {
            assert!(t.duration_ms.is_finite() && t.duration_ms >= 0.0);
        }
        for format in testflow::report::ReportFormat::ALL {
            let _ = testflow::report::render(&run, format);
        }
    }
});
