//! `run --affected`'s readers: git's `--name-status -z` output, rustc's dep-info files
//! the Python import scanner and Vitest's related-files answer. Whatever they are given: a result or an error, never a
//! panic, and no path that was not in the text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use testflow::affected::{changes, depinfo, python};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let top = std::path::Path::new("/r");
    if let Ok(c) = changes::parse_name_status(&text, top) {
        assert!(c.len() <= text.split('\0').count());
    }
    for p in depinfo::parse(&text, top) {
        assert!(p.starts_with(top) || p.is_absolute());
    }
    for imp in python::scan(&text) {
        assert!(text.contains(imp.module.as_str()));
    }
    if let Ok((all, related)) = testflow::frameworks::vitest::affected::parse_answer(&text) {
        assert!(all.len() + related.len() <= text.len());
    }
});
