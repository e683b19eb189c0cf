#!/usr/bin/env bash
# Per-test overhead of the jest-testflow reporter, side by side with plain Jest and
# jest-junit, on N trivial tests (default 2,000 in 20 files), with hyperfine.
#   bench/jest/run.sh [TESTS] [FILES]
# Work dir: $CARGO_TARGET_DIR/jest-bench (default target/jest-bench). The addon is built
# in release mode (the way `npm install <checkout>/npm` builds it).
set -euo pipefail
cd "$(dirname "$0")/../.."
TESTS="${1:-2000}"
FILES="${2:-20}"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$PWD/$TARGET_DIR" ;; esac
WORK="$TARGET_DIR/jest-bench"
mkdir -p "$WORK"
cat > "$WORK/package.json" <<JSON
{ "name": "testflow-jest-bench", "private": true,
  "dependencies": { "jest": "30.5.2", "jest-junit": "16.0.0", "jest-testflow": "file:$PWD/npm" } }
JSON
CARGO_TARGET_DIR="$TARGET_DIR" node npm/scripts/build.js
(cd "$WORK" && npm install --no-audit --no-fund --loglevel=error)

P="$WORK/suite"
rm -rf "$P" && mkdir -p "$P/tests"
echo '{"name":"suite","private":true}' > "$P/package.json"
per=$((TESTS / FILES))
for f in $(seq 1 "$FILES"); do
  {
    echo "describe('file $f', () => {"
    for t in $(seq 1 "$per"); do echo "  test('adds $t', () => { expect($t + 1).toBe($((t + 1))); });"; done
    echo "});"
  } > "$P/tests/f$f.test.js"
done
cfg() { echo "module.exports = { testEnvironment: 'node', cacheDirectory: '$WORK/cache', reporters: $1 };" > "$P/jest.config.$2.js"; }
cfg "['default']" plain
cfg "['default', ['jest-junit', { outputDirectory: '$WORK/out', outputName: 'jest-junit.xml' }]]" junit
cfg "['default', ['jest-testflow', { silent: true }]]" testflow
cfg "['default', ['jest-testflow', { silent: true, reports: { junit: '$WORK/out/testflow.xml' } }]]" testflow-junit
JEST="node $WORK/node_modules/jest/bin/jest.js --ci --silent -i"
cd "$P"
$JEST -c jest.config.plain.js >/dev/null 2>&1 || true # warm Jest's transform cache
hyperfine --warmup 1 --runs "${RUNS:-5}" --export-markdown "$WORK/results.md" \
  -n jest "$JEST -c jest.config.plain.js" \
  -n jest-junit "$JEST -c jest.config.junit.js" \
  -n jest-testflow "$JEST -c jest.config.testflow.js" \
  -n jest-testflow+junit "$JEST -c jest.config.testflow-junit.js"
cat "$WORK/results.md"
