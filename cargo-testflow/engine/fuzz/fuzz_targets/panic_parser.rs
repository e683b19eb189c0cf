//! The libtest panic parser: whatever a test printed, a `Failure` and no panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use testflow::frameworks::cargo::failure::parse_failure;
use testflow::process::ExitKind;

fuzz_target!(|data: &[u8]| {
    // name \0 stdout \0 stderr \0 json message; the first byte picks the exit.
    let Some((&first, rest)) = data.split_first() else { return };
    let mut parts = rest.splitn(4, |b| *b == 0);
    let name = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let stdout = parts.next().unwrap_or_default();
    let stderr = parts.next().unwrap_or_default();
    let json = parts.next().map(|j| String::from_utf8_lossy(j).into_owned());
    let exit = match first % 3 {
        0 => ExitKind::Code(101),
        1 => ExitKind::Signal(i32::from(first)),
        _ => ExitKind::Code(i32::from(first) - 128),
    };
    let _ = parse_failure(&name, stdout, stderr, exit, json.as_deref());
});
