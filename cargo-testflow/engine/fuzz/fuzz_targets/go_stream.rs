//! `go test -json`'s stream (`frameworks::go::events`) and the attribution of each package
//! (`frameworks::go::attribution`): whatever the lines, no panic, and no test of a binary
//! that died is passed unless it said so before the death.
#![no_main]
use libfuzzer_sys::fuzz_target;
use testflow::frameworks::go::attribution::{End, attribute};
use testflow::frameworks::go::events::{Step, Stream};
use testflow::frameworks::go::failure::Paths;

fuzz_target!(|data: &[u8]| {
    let mut s = Stream::new(4096);
    let mut ended = Vec::new();
    for line in data.split(|b| *b == b'\n') {
        for step in s.line(line) {
            if let Step::PackageEnded(p) = step {
                ended.push((p, End::Normal));
            }
        }
    }
    ended.extend(s.finish().into_iter().map(|p| (p, End::StreamEnded)));
    let paths = Paths {
        root: std::path::Path::new("/p"),
        dir: "",
    };
    for (p, end) in &ended {
        let a = attribute(p, paths, *end);
        assert!(a.results.len() <= p.tests.len());
    }
});
