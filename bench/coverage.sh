#!/bin/sh
# Parse + merge 200 MB of LCOV (4 shards) with testflow's coverage reader.
# Usage: bench/coverage.sh [TOTAL_MB] [SHARDS] [ROUNDS]   (results go in bench/RESULTS.md by hand)
set -eu
cd "$(dirname "$0")/.."
cargo build --release -q -p testflow-engine --example coverage_bench
"${CARGO_TARGET_DIR:-target}/release/examples/coverage_bench" "${1:-200}" "${2:-4}" "${3:-5}"
