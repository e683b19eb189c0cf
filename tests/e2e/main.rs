//! End-to-end tests: the built `cargo-testflow` binary on the fixture workspaces in
//! `tests/fixtures/` (what each fixture test does is in `rust-basic/EXPECTED.md`).

mod cli; // --help, usage errors and their exit codes
mod crash_safety; // SIGKILL and Ctrl-C mid-run, truncated logs, the whole-run time limit
mod filters; // test-name filters, --ignored, --doc/--no-doc, -j 1, --fail-fast
mod list; // `list --format json`
mod reports; // --report junit/json, `report` from a stored run, unknown runs
mod rust_build_error; // a fixture that does not compile
mod rust_isolation_binary; // rust-basic with --isolation binary (crash re-runs per test)
mod rust_run;
mod util; // run the binary on a fixture with its own state dirs; parse the Run; find tests // rust-basic, one process per test: every outcome, failure and location
