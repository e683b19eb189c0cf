#!/usr/bin/env bash
# The whole test suite: Rust (unit + end-to-end), then the Python and Node parts.
# Works on a fresh machine with Rust, Python 3 and Node installed: it installs what it
# needs (into target/, never system-wide) itself.
set -euo pipefail
cd "$(dirname "$0")/.."

# cargo-llvm-cov and the toolchain's llvm-tools, for the Rust coverage tests (`run
# --coverage`). cargo-llvm-cov goes into target/tools; where either cannot be installed the
# tests say so and test only the "not installed" path.
TOOLS="${CARGO_TARGET_DIR:-target}/tools"
if rustup component add llvm-tools >/dev/null 2>&1 \
    && { [ -x "$TOOLS/bin/cargo-llvm-cov" ] \
         || cargo install --quiet --locked --root "$TOOLS" cargo-llvm-cov@0.9.1; }; then
    PATH="$(cd "$TOOLS/bin" && pwd):$PATH"
    export PATH TESTFLOW_REQUIRE_LLVM_COV=1
else
    echo "cargo-llvm-cov or llvm-tools could not be installed: Rust coverage collection is not tested"
fi

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
"$VENV/bin/python" -m pip install --quiet pytest pytest-xdist pytest-timeout pytest-rerunfailures pytest-cov
# What a user runs (pip install ./python: maturin builds the extension), except that the
# build uses the dev profile and the target dir `cargo test` just filled, so the engine is
# not compiled again in release mode (minutes on 2 cores). A user's install builds release.
PY_TARGET="$(cd "$TARGET_DIR" && pwd)"
CARGO_TARGET_DIR="$PY_TARGET" MATURIN_PEP517_ARGS="--profile dev" \
    "$VENV/bin/python" -m pip install --quiet --force-reinstall --no-deps ./python
TESTFLOW_BIN="$(cd "$TARGET_DIR" && pwd)/debug/cargo-testflow" \
    "$VENV/bin/python" -m pytest python/tests -p no:cacheprovider -n 2

# ==== CI configs (cargo testflow ci) =====================================================
# Every generated pipeline must be valid against its CI's schema: check-jsonschema's
# vendored SchemaStore schemas (works offline), for Rust-only, pytest, Jest and mixed
# projects, with 1 and 3 shards, and with --coverage for the mixed project (3 shards).
# check-jsonschema goes into the same venv as pytest.
echo "== CI configs: cargo testflow ci github|gitlab|circleci against the CI schemas"
"$VENV/bin/python" -m pip install --quiet check-jsonschema
CI_BIN="$TARGET_DIR/debug/cargo-testflow"
CI_OUT="$TARGET_DIR/ci-configs"
rm -rf "$CI_OUT"
MIXED="$CI_OUT/mixed-project"
mkdir -p "$MIXED"
printf '[package]\nname = "mixed"\nversion = "0.1.0"\nedition = "2024"\n' > "$MIXED/Cargo.toml"
printf '[pytest]\n' > "$MIXED/pytest.ini"
printf '{ "name": "mixed", "devDependencies": { "jest": "30.5.2" }, "scripts": { "test": "jest" } }\n' > "$MIXED/package.json"
printf '{ "lockfileVersion": 3 }\n' > "$MIXED/package-lock.json"
ci_checked=0
# check_ci PROJECT SHARDS CI [EXTRA ARGS…]: generate, then validate against the CI's schema.
check_ci() {
    local project="$1" shards="$2" ci="$3"
    shift 3
    local out="$CI_OUT/$(basename "$project")-$shards-$ci${1:+$1}.yml"
    "$CI_BIN" testflow ci "$ci" --shards "$shards" --project "$project" "$@" -o "$out" 2>/dev/null
    case "$ci" in
        github) args=(--builtin-schema vendor.github-workflows) ;;
        gitlab) args=(--builtin-schema vendor.gitlab-ci --data-transform gitlab-ci --regex-variant nonunicode) ;;
        circleci) args=(--builtin-schema vendor.circle-ci) ;;
    esac
    "$VENV/bin/check-jsonschema" "${args[@]}" "$out" > /dev/null \
        || { echo "INVALID: $out"; "$VENV/bin/check-jsonschema" "${args[@]}" "$out"; exit 1; }
    ci_checked=$((ci_checked + 1))
}
for project in tests/fixtures/rust-basic tests/fixtures/pytest-basic tests/fixtures/jest-basic "$MIXED"; do
    for shards in 1 3; do
        for ci in github gitlab circleci; do
            check_ci "$project" "$shards" "$ci"
        done
    done
done
for ci in github gitlab circleci; do
    check_ci "$MIXED" 3 "$ci" --coverage
    check_ci "$MIXED" 3 "$ci" --testflow-version=0.2.0-rc.1
    check_ci tests/fixtures/rust-basic 3 "$ci" --testflow-install='cargo binstall --no-confirm cargo-testflow'
done
# The default pipelines pin the version at the top and build once: an install job cached
# by version, whose build the other jobs get (checked in detail in src/ci/tests.rs).
for f in "$CI_OUT"/*.yml; do
    case "$f" in *--testflow-install*) continue ;; esac
    grep -q 'TESTFLOW_VERSION: 0.\|testflow-version:' "$f" && grep -q 'testflow-dist-v1-' "$f" \
        || { echo "no pinned, cached install in $f"; exit 1; }
done
grep -q 'TESTFLOW_VERSION: 0.2.0-rc.1' "$CI_OUT/mixed-project-3-github--testflow-version=0.2.0-rc.1.yml" \
    || { echo "--testflow-version did not reach the pipeline"; exit 1; }
echo "CI configs: $ci_checked generated pipelines valid against their schemas"
# testflow's own release workflow: valid for Actions, and consistent with the installers
# that read what it publishes (cargo binstall metadata, the npm addon loader).
"$VENV/bin/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/release.yml
"$VENV/bin/python" -m unittest discover -s tests/release -p 'test_*.py'
# ==== end CI configs =====================================================================

# ==== Node / Jest (jest-testflow) ========================================================
# Installs Jest and the local npm/ package (its install script builds the napi addon with
# cargo) into target/jest-e2e, then runs npm/test/ (node --test): real Jest on the
# tests/fixtures/jest-* projects, plus `cargo testflow run` on them.
echo "== Node: jest-testflow end-to-end (node --test npm/test/)"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$PWD/$TARGET_DIR" ;; esac
cargo build --locked -p cargo-testflow
JEST_WORK="$TARGET_DIR/jest-e2e"
mkdir -p "$JEST_WORK"
rm -rf "$JEST_WORK/runs"
cat > "$JEST_WORK/package.json" <<JSON
{ "name": "testflow-jest-e2e", "private": true,
  "dependencies": { "jest": "30.5.2", "jest-testflow": "file:$PWD/npm" } }
JSON
# The debug profile shares the build `cargo test` just made; a user's install builds release.
(cd "$JEST_WORK" && TESTFLOW_ADDON_PROFILE=dev CARGO_TARGET_DIR="$TARGET_DIR" \
  npm install --no-audit --no-fund --loglevel=error)
TESTFLOW_ADDON_PROFILE=dev CARGO_TARGET_DIR="$TARGET_DIR" node npm/scripts/build.js
TESTFLOW_JEST_WORK="$JEST_WORK" TESTFLOW_BIN="$TARGET_DIR/debug/cargo-testflow" \
  node --test --test-reporter=spec npm/test/
# ==== end Node / Jest ====================================================================

# ==== Snapshots of the pytest and Jest fixtures (tests/e2e/snapshots.rs) =================
# The #[ignore]d snapshot tests: they need the venv and the Jest work dir made above (the
# Rust fixtures' snapshots ran in `cargo test --workspace`, which also built this binary).
# Without the two variables they fail, never skip.
echo "== Snapshots: run.json and human output of the pytest and Jest fixtures"
SNAP_TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
case "$SNAP_TARGET" in /*) ;; *) SNAP_TARGET="$PWD/$SNAP_TARGET" ;; esac
TESTFLOW_PYTHON="$SNAP_TARGET/py-venv/bin/python" TESTFLOW_JEST_WORK="$SNAP_TARGET/jest-e2e" \
    cargo test --locked -p cargo-testflow --test e2e snapshots:: -- --ignored
# ==== end Snapshots ======================================================================

# ==== Jest versions (npm/test/jest-versions.test.js) ====================================
# Each supported Jest major runs tests/fixtures/jest-versions through the reporter and
# through `cargo testflow run`, checked against that version's own --json; Jest 23 must
# be refused. Installed once each into target/jest-versions/<version> (kept between
# runs); 30.5.2 is target/jest-e2e's.
echo "== Node: Jest 23 (refused), 24, 26, 27, 29, 30 (npm/test/jest-versions.test.js)"
VERSIONS_DIR="$TARGET_DIR/jest-versions"
# The installs are network- and disk-bound: run them at once (npm's cache is safe to
# share), ~2 min cold instead of ~7 one after another.
pids=()
for v in 23.6.0 24.9.0 26.6.3 27.5.1 29.7.0; do
    d="$VERSIONS_DIR/$v"
    if ! grep -qs "\"version\": \"$v\"" "$d/node_modules/jest/package.json"; then
        mkdir -p "$d"
        printf '{ "name": "jest-%s", "private": true, "dependencies": { "jest": "%s" } }\n' "$v" "$v" > "$d/package.json"
        (cd "$d" && npm install --no-audit --no-fund --loglevel=error > npm-install.log 2>&1 \
            || { echo "npm install of Jest $v failed:"; cat npm-install.log; exit 1; }) &
        pids+=($!)
    fi
    rm -rf "$d/runs"
done
for pid in "${pids[@]}"; do wait "$pid"; done
ln -sfn "$JEST_WORK" "$VERSIONS_DIR/30.5.2"
TESTFLOW_JEST_VERSIONS="$VERSIONS_DIR" TESTFLOW_BIN="$TARGET_DIR/debug/cargo-testflow" \
  node --test --test-reporter=spec npm/test/jest-versions.test.js
# ==== end Jest versions =================================================================

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

# ==== Conformance: testflow against real suites (tests/conformance) ======================
# Real suites from the registries (PyPI sdists, npm tarballs, crates.io crates, pinned),
# each run by its framework with its own report (JUnit XML, jest --json, libtest JSON) and
# through testflow (cargo testflow run, the pytest plugin, the Jest reporter, both Rust
# isolation modes); every test's outcome must agree. Downloads are cached in
# target/conformance. Uses the binary and the venv built above; Jest goes into
# target/conformance/jest (Jest 30.5.2 like target/jest-e2e, plus the suites' test deps).
echo "== Conformance: real suites, framework's own report vs testflow (tests/conformance)"
CONF_TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
case "$CONF_TARGET" in /*) ;; *) CONF_TARGET="$PWD/$CONF_TARGET" ;; esac
cargo build --locked -p cargo-testflow --quiet
python3 -m unittest discover -s tests/conformance -p 'test_*.py'
python3 tests/conformance/run.py --bin "$CONF_TARGET/debug/cargo-testflow" \
    --python "$CONF_TARGET/py-venv/bin/python"
# ==== end Conformance ====================================================================
