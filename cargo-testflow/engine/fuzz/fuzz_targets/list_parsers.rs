//! `cargo testflow list`'s parsers: Jest's `--json` listing and rustdoc's terse doctest
//! listings. Whatever they are given: a result or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use testflow::frameworks::{cargo::doctest_names, jest::parse_listing};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_listing(std::path::Path::new("/p"), &text);
    let (all, ignored) = text.split_once('\0').unwrap_or((&text, ""));
    let names = doctest_names(all, ignored);
    assert!(names.len() <= all.lines().count());
});
