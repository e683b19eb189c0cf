//! End-to-end tests: the built `cargo-testflow` binary on the fixture workspaces in
//! `tests/fixtures/` (what each fixture test does is in `rust-basic/EXPECTED.md`).

// run --affected: changes select the tests built from them (Rust, pytest), lockfiles, deletes
mod affected;
// `analyze` and quality gates on real runs
mod analyze_gate;
// GitHub Actions annotations from run and merge
mod annotations;
// run --coverage (cargo-llvm-cov), shards merged, no_coverage_drop; missing cargo-llvm-cov
mod coverage;
// `coverage gaps` on the coverage-gaps fixture (no build: sources and LCOV only)
mod coverage_gaps;
// `cargo testflow ci`: the generated pipeline's own shard and merge commands, run here
mod ci;
// go test: every outcome, subtests, retries, crashes and time limits, build errors, list, coverage
mod go;
// issue 13: which run `latest` is, lookups that find nothing, `show`, subdirectories
mod first_hour;
// --help, usage errors and their exit codes
mod cli;
// testflow.toml: precedence and errors
mod config;
// SIGKILL and Ctrl-C mid-run, truncated logs, the whole-run time limit
mod crash_safety;
// doctests: each failure at its own code block; merged and standalone doctests
mod doctests;
// fail closed, Rust: exit(0) in a test, forged libtest lines, exit status vs summary
mod fail_closed_rust;
// fail closed, scheduler: signals in every phase (130/143), leftover processes, bad numbers
mod fail_closed_sched;
// fail closed on files: merge conflicts, reports of distrusted runs, hostile files
mod fail_closed_files;
// a tool a suite needs is missing (pytest, Vitest): one ENVIRONMENT ERROR, no debug text
mod environment_errors;
// test-name filters, --ignored, --doc/--no-doc, -j 1, --fail-fast
mod filters;
// tests that fail only alongside others: attempts record it, retries run alone, analyze says so
mod interference;
// the fix-and-retry loop: success, regression with rollback, plateau
mod iterate;
// `list --format json`
mod list;
// [[quarantine]], `quarantine add|remove|list`, expired entries, `history flaky` across runs, --quarantine-flaky
mod quarantine;
// issue 15: Rust, pytest, Jest, Vitest, Go and Playwright suites in one run, in every report
mod polyglot;
// --report junit/json, `report` from a stored run, unknown runs
mod reports;
// a fixture that does not compile
mod rust_build_error;
// control sequences in test output are escaped on the terminal
mod terminal_text;
// history, --shard, merge, --last-failed: the distributed path on one machine
mod sharding;
// rust-basic with --isolation binary (crash re-runs per test)
mod rust_isolation_binary;
// the default (one process per binary) against --isolation process on a suite written for cargo test
mod rust_isolation_default;
// rust-basic, one process per test: every outcome, failure and location
mod rust_run;
// snapshots of behaviour: every fixture's run.json and human output, every --help
mod snapshots;
// the SLOW notice past --slow-timeout (waits for the notice, then releases the test)
mod slow;
// run the binary on a fixture with its own state dirs; parse the Run; find tests
mod util;
// watch: rounds on edits, cancelling a running round, q, ignored paths (affected mode: ignored until run --affected lands)
mod watch;
