#!/bin/sh
# Time `cargo testflow coverage gaps` on a generated project: FILES Python and FILES Rust
# sources of ~300 lines each and one LCOV file (bench/gen_gaps.py), all cores and one core.
# Usage: bench/gaps.sh [FILES_PER_LANGUAGE] [RUNS]   (results go in bench/RESULTS.md by hand)
set -eu
cd "$(dirname "$0")/.."
files="${1:-1000}"
runs="${2:-5}"
work=bench/work/gaps
rm -rf "$work"
python3 bench/gen_gaps.py "$work" "$files"
cargo build --release -q -p cargo-testflow
bin="${CARGO_TARGET_DIR:-target}/release/cargo-testflow"
"$bin" testflow coverage gaps "$work/lcov.info" --project "$work" --limit 5
"$bin" testflow coverage gaps "$work/lcov.info" --project "$work" --format json \
  | python3 -c 'import json,sys; r=json.load(sys.stdin); print(len(r["gaps"]), "gaps,", r["functions_analyzed"], "functions,", r["files_analyzed"], "files,", len(r["skipped"]), "skipped")'
hyperfine -N --warmup 1 --runs "$runs" \
  -n "all cores ($(nproc))" "$bin testflow coverage gaps $work/lcov.info --project $work --format json" \
  -n "one core (taskset -c 0)" "taskset -c 0 $bin testflow coverage gaps $work/lcov.info --project $work --format json"
