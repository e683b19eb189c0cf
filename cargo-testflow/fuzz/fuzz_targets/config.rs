//! testflow.toml: any text is a configuration or an error naming the file, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = testflow::config::parse_str(text, std::path::Path::new("testflow.toml"));
});
