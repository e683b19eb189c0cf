//! testflow.toml: any text is a configuration or an error naming the file, never a panic;
//! and any text is a rate from 0 to 1 or an error (`config::parse_rate`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = testflow::config::parse_str(text, std::path::Path::new("testflow.toml"));
    if let Ok(r) = testflow::config::parse_rate(text) {
        assert!((0.0..=1.0).contains(&r), "{text:?} -> {r}");
    }
});
