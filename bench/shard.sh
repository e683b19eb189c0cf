#!/usr/bin/env bash
# Shard balance on real recorded durations, and history / planning speed.
# Records one testflow run of the generated workspace (2,000 tests, a long tail of slow
# ones; see gen_workspace.py), then compares shard planners on its durations.
set -euo pipefail
unset RUST_BACKTRACE PYTHONDONTWRITEBYTECODE PYTHONUNBUFFERED
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
WORK="$HERE/work"
GEN="$WORK/generated"
[[ -f "$GEN/Cargo.toml" ]] || python3 "$HERE/gen_workspace.py" --out "$GEN" >&2
(cd "$REPO" && cargo build --release -q -p testflow-engine --example shard_bench)
BIN="$REPO/target/release/cargo-testflow"
RUN_DIR="$(mktemp -d)"
# The durations: one real run, one process per test.
(cd "$GEN" && TESTFLOW_DIR="$RUN_DIR" "$BIN" testflow run --workspace --lib --bins --tests -q --report json="$RUN_DIR/run.json" >&2) || true
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(rustc --version)"
echo
"$REPO/target/release/examples/shard_bench" "$RUN_DIR/run.json"
rm -rf "$RUN_DIR"
