#!/usr/bin/env bash
# The whole test suite: Rust (unit + end-to-end), then the Python and Node parts.
# Works on a fresh machine with Rust, Python 3 and Node installed: it installs what it
# needs (into target/, never system-wide) itself.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Rust: cargo test --workspace"
cargo test --workspace --locked
