#!/usr/bin/env bash
# The whole test suite: Rust (unit + end-to-end), then the Python and Node parts.
# Works on a fresh machine with Rust, Python 3 and Node installed: it installs what it
# needs (into target/, never system-wide) itself.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Rust: cargo test --workspace"
cargo test --workspace --locked

# ---- HTML report in headless Chromium (tests/browser) ------------------------------
# Needs Debian's chromium (installed here if missing; npm's own browser downloads do not
# work offline) and playwright-core from npm, installed into target/browser-tests.
echo "== HTML report: headless Chromium (node --test tests/browser)"
TARGET="${CARGO_TARGET_DIR:-target}"
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
fi
mkdir -p "$TARGET/browser-tests"
cp tests/browser/package.json "$TARGET/browser-tests/package.json"
(cd "$TARGET/browser-tests" && npm install --no-audit --no-fund --silent)
cargo build -p cargo-testflow --locked --quiet
CARGO_TARGET_DIR="$TARGET" node --test tests/browser/
# ---- end of HTML report section ----------------------------------------------------
