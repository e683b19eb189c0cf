#!/usr/bin/env bash
# The whole test suite: Rust (unit + end-to-end), then the Python and Node parts.
# Works on a fresh machine with Rust, Python 3 and Node installed: it installs what it
# needs (into target/, never system-wide) itself.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Rust: cargo test --workspace"
cargo test --workspace --locked

echo "== Python: pytest-testflow (pyo3 bindings + pytest plugin)"
# The cargo-testflow binary the Python tests drive (`cargo testflow run` on pytest projects).
cargo build --locked -p cargo-testflow
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
VENV="$TARGET_DIR/py-venv"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet pytest pytest-xdist pytest-timeout pytest-rerunfailures
# Exactly what a user runs: builds the extension with maturin (release) from python/.
"$VENV/bin/python" -m pip install --quiet --force-reinstall --no-deps ./python
TESTFLOW_BIN="$(cd "$TARGET_DIR" && pwd)/debug/cargo-testflow" \
    "$VENV/bin/python" -m pytest python/tests -p no:cacheprovider -n 2
