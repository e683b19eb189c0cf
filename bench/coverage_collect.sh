#!/usr/bin/env bash
# What `cargo testflow run --coverage` costs next to what users run otherwise, side by
# side with hyperfine (interleaved rounds, medians):
#   Rust   petgraph 0.8.3 (bench/real_crate.sh):  cargo llvm-cov --lcov  |  cargo llvm-cov
#          nextest --lcov  |  cargo testflow run --coverage
#   pytest 2,000 tests in 20 files + a module they call:  pytest -n 2 --cov --cov-report=json
#          |  cargo testflow run --coverage -j 2
#   Jest   2,000 tests in 20 files + a module:  jest -w 2 --coverage --coverageReporters=json
#          |  cargo testflow run --coverage -j 2
# Builds are warm (one discarded round first); every command writes a machine-readable
# report. Needs: hyperfine, cargo-llvm-cov + llvm-tools, cargo-nextest, the release
# binary, and the venv / Jest install that tests/run-all.sh makes (target/py-venv,
# target/jest-e2e). Knobs: RUNS=5, SUITES="rust pytest jest".
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
RUNS="${RUNS:-5}"
SUITES="${SUITES:-rust pytest jest}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
BIN="${TESTFLOW_BIN:-$TARGET_DIR/release/cargo-testflow}"
OUT="$HERE/work/coverage-collect"
mkdir -p "$OUT"
unset RUST_BACKTRACE PYTHONDONTWRITEBYTECODE PYTHONUNBUFFERED
export CARGO_TERM_COLOR=never NO_COLOR=1
[ -d "$TARGET_DIR/tools/bin" ] && PATH="$TARGET_DIR/tools/bin:$PATH"
(cd "$REPO" && cargo build --release --locked -p cargo-testflow --quiet)
TF="$BIN testflow"

if [[ " $SUITES " == *" rust "* ]]; then
  CRATE="$HERE/work/real/petgraph"
  [ -d "$CRATE" ] || "$HERE/real_crate.sh"
  cd "$CRATE"
  hyperfine --warmup 1 --runs "$RUNS" --ignore-failure --export-markdown "$OUT/rust.md" \
    --export-json "$OUT/rust.json" \
    -n "cargo llvm-cov" "cargo llvm-cov --lib --tests --lcov --output-path $OUT/llvm-cov.lcov" \
    -n "cargo llvm-cov --no-clean" "cargo llvm-cov --no-clean --lib --tests --lcov --output-path $OUT/llvm-cov.lcov" \
    -n "cargo llvm-cov nextest --no-clean" "cargo llvm-cov nextest --no-clean --lib --tests --lcov --output-path $OUT/nextest.lcov" \
    -n "cargo testflow run --coverage" "$TF run --coverage --lib --tests --quiet" \
    -n "cargo testflow run --coverage --isolation binary" "$TF run --coverage --isolation binary --lib --tests --quiet" \
    -n "cargo testflow run (no coverage)" "$TF run --lib --tests --quiet"
fi

if [[ " $SUITES " == *" pytest "* ]]; then
  PY="$TARGET_DIR/py-venv/bin/python"
  P="$OUT/pytest-suite"
  rm -rf "$P" && mkdir -p "$P/calc" "$P/tests"
  printf 'def scale(x, k):\n    if k == 0:\n        return 0\n    return x * k\n' > "$P/calc/__init__.py"
  for f in $(seq -w 1 20); do
    for t in $(seq 1 100); do
      printf 'def test_%s_%s():\n    from calc import scale\n    assert scale(%s, 2) == %s\n' "$f" "$t" "$t" "$((t * 2))"
    done > "$P/tests/test_gen_$f.py"
  done
  printf '[tool.pytest.ini_options]\n[tool.coverage.run]\nsource = ["calc"]\n' > "$P/pyproject.toml"
  cd "$P"
  hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$OUT/pytest.md" --export-json "$OUT/pytest.json" \
    -n "pytest -n 2" "$PY -m pytest -q -p no:cacheprovider -n 2" \
    -n "pytest -n 2 --cov" "$PY -m pytest -q -p no:cacheprovider -n 2 --cov --cov-report=json:$OUT/pytest-cov.json" \
    -n "cargo testflow run --coverage -j 2" "TESTFLOW_PYTHON=$PY $TF run --coverage -j 2 --quiet" \
    -n "cargo testflow run -j 2 (no coverage)" "TESTFLOW_PYTHON=$PY $TF run -j 2 --quiet"
fi

if [[ " $SUITES " == *" jest "* ]]; then
  # The reporter's addon as users get it: a release build (run-all.sh builds it for dev).
  (cd "$REPO" && CARGO_TARGET_DIR="$TARGET_DIR" node npm/scripts/build.js)
  WORK="$TARGET_DIR/jest-e2e"
  P="$WORK/bench-coverage"
  rm -rf "$P" && mkdir -p "$P/src" "$P/tests"
  printf '{"name":"bench-coverage","private":true,"jest":{"testEnvironment":"node","collectCoverageFrom":["src/**/*.js"]}}\n' > "$P/package.json"
  printf 'exports.scale = (x, k) => (k === 0 ? 0 : x * k);\n' > "$P/src/calc.js"
  for f in $(seq 1 20); do
    {
      echo "const { scale } = require('../src/calc');"
      for t in $(seq 1 100); do echo "test('scale $t', () => { expect(scale($t, 2)).toBe($((t * 2))); });"; done
    } > "$P/tests/f$f.test.js"
  done
  ln -sfn "$WORK/node_modules" "$P/node_modules"
  cd "$P"
  JEST="node $WORK/node_modules/jest/bin/jest.js --ci --silent -w 2"
  hyperfine --warmup 1 --runs "$RUNS" --ignore-failure --export-markdown "$OUT/jest.md" --export-json "$OUT/jest.json" \
    -n "jest -w 2" "$JEST" \
    -n "jest -w 2 --coverage" "$JEST --coverage --coverageReporters=json --coverageDirectory=$OUT/jest-cov" \
    -n "cargo testflow run --coverage -j 2" "$TF run --coverage -j 2 --quiet" \
    -n "cargo testflow run -j 2 (no coverage)" "$TF run -j 2 --quiet"
fi
# Medians (hyperfine's tables show means).
for f in "$OUT"/rust.json "$OUT"/pytest.json "$OUT"/jest.json; do
  [ -f "$f" ] || continue
  python3 - "$f" <<'PY'
import json, statistics, sys
rows = json.load(open(sys.argv[1]))["results"]
print(f"\n{sys.argv[1].rsplit('/', 1)[-1]}: median s")
for r in rows:
    print(f"  {statistics.median(r['times']):7.3f}  {r['command']}")
PY
done
