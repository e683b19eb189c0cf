#!/usr/bin/env bash
# HTML report at 100,000 tests: write time (release build) and load time in headless
# Chromium. Not a timed test; results go in bench/RESULTS.md by hand.
# Needs chromium (apt-get install chromium) and Node; installs playwright-core into target/.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"
cargo build --release -p cargo-testflow --locked --quiet
mkdir -p "$TARGET/browser-tests"
cp tests/browser/package.json "$TARGET/browser-tests/package.json"
(cd "$TARGET/browser-tests" && npm install --no-audit --no-fund --silent)
CARGO_TARGET_DIR="$TARGET" TESTFLOW_BIN="$TARGET/release/cargo-testflow" node bench/html_report.mjs
