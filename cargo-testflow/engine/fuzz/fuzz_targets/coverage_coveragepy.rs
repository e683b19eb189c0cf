//! The CoveragePy coverage parser: any bytes parse or are an error; parsed coverage renders.
#![no_main]
use libfuzzer_sys::fuzz_target;
use testflow::coverage::{Format, parse_as, render_human};

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = parse_as(Format::CoveragePy, data, "fuzz", std::path::Path::new("/")) {
        let _ = render_human(&c);
        let _ = c.totals();
    }
});
