//! rust-basic with `--isolation binary`: one process per test binary, libtest JSON. A
//! crash takes the binary down before libtest's summary, so nothing checks its results:
//! its tests (but the failures it reported) are re-run one per process, so
//! `aborts`/`segfaults` are pinned on the right tests and the others keep their true
//! outcomes.

use crate::rust_run::{Mode, check_rust_basic};
use crate::util::{Project, RunExt};

/// One test thread in the binary (`-j 1`): deterministic order, so the flaky test's
/// first attempt always runs on its own and fails first.
#[test]
fn binary_isolation_serial_with_retries_matches_process_isolation() {
    let out = Project::new("rust-basic").run(&[
        "--isolation",
        "binary",
        "-j",
        "1",
        "--test-timeout",
        crate::util::HANG_LIMIT,
        "--retries",
        "1",
    ]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    check_rust_basic(
        out.run(),
        Mode {
            retries: true,
            flaky_dir: true,
        },
    );
}

/// Parallel test threads, no retries: the lib's failures come straight from libtest's
/// JSON events (nothing is re-run), the integration binary crashes and its tests are
/// re-run per test. `FLAKY_DIR` is unset: a crash may kill the binary in the middle of the flaky
/// test's first attempt, so its marker-file side effect would make it nondeterministic.
#[test]
fn binary_isolation_parallel_attributes_crashes_to_the_right_tests() {
    let p = Project::new("rust-basic").without_flaky_dir();
    let out = p.run(&[
        "--isolation",
        "binary",
        "-j",
        "2",
        "--test-timeout",
        crate::util::HANG_LIMIT,
    ]);
    assert_eq!(out.code, 100, "{}", out.stderr);
    let run = out.run();
    check_rust_basic(
        run,
        Mode {
            retries: false,
            flaky_dir: false,
        },
    );
    // The lib binary ran whole: its failures carry libtest's captured stdout.
    let f = crate::util::failure(run.test("calc$tests::fails_panic"));
    let stdout = f.stdout.as_ref().expect("libtest's captured stdout");
    assert!(
        stdout
            .text
            .contains("panicked at crates/calc/src/lib.rs:47:9:\nboom 42"),
        "{stdout:?}"
    );
}
