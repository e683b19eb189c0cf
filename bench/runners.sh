#!/usr/bin/env bash
# The runners of issue 15 side by side: each runner alone, with its usual JUnit reporter,
# with the testflow reporter (the door users add to their config) and under
# `cargo testflow run`, on generated suites of trivial tests:
#   - vitest:     2,000 tests in 40 files (Vitest's default workers);
#   - playwright: 1,000 tests that need no browser, in 20 files, --workers=2 (-j 2);
#   - go:         2,000 tests in 10 packages (-count=1 everywhere: go's test cache
#                 would replay old results instead of running them).
# Everything goes under bench/work/runners/ (git-ignored). The release builds of
# cargo-testflow and of the napi addon (the way npm/scripts/build.js builds it on
# `npm install`) come first, then the installs (npm, gotestsum), then per runner: one
# checked round (each command once: exit status 0, and every test passed by the
# command's own count: its summary line, JUnit file or run.json), then bench/isolation.py
# (WARMUP discarded rounds, then RUNS interleaved rounds, the order reversed every other
# round; wall time and CPU = user + sys of the whole process tree, from wait4; medians).
# A command that exits non-zero in any round is flagged and its ratios are n/a.
#
#   bench/runners.sh                         # RUNS=5 WARMUP=1 RUNNERS="vitest playwright go"
#   RUNS=3 RUNNERS=go NO_BUILD=1 bench/runners.sh
# Knobs: RUNS, WARMUP, RUNNERS, NO_BUILD=1 (use the binary and addon as they are),
#        TESTFLOW_BIN (default $CARGO_TARGET_DIR or target/, then release/cargo-testflow),
#        VITEST_VERSION=4.1.12 PLAYWRIGHT_VERSION=1.65.1 (what tests/run-all.sh tests),
#        GOTESTSUM_VERSION=v1.13.0,
#        BASELINE_BIN (another build's cargo-testflow, say main's): Vitest's driver row again
#        with it, in the same rounds; with BASELINE_ADDON (that build's testflow.node) the
#        reporter row too, and the baseline driver's reporter loads it.
# Prints Markdown on stdout (machine, then a table per runner); per-round numbers in
# bench/work/runners/results-<runner>.json, each command's checked-round output in
# bench/work/runners/logs/.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
WORK="$HERE/work/runners"
RUNS="${RUNS:-5}"
WARMUP="${WARMUP:-1}"
RUNNERS="${RUNNERS:-vitest playwright go}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$REPO/$TARGET_DIR" ;; esac
TESTFLOW_BIN="${TESTFLOW_BIN:-$TARGET_DIR/release/cargo-testflow}"
VITEST_VERSION="${VITEST_VERSION:-4.1.12}"
PLAYWRIGHT_VERSION="${PLAYWRIGHT_VERSION:-1.65.1}"
GOTESTSUM_VERSION="${GOTESTSUM_VERSION:-v1.13.0}"
NODE_DIR="$WORK/node"   # one node_modules for both Node suites, which sit inside it
TOOLS="$WORK/tools"
OUT="$WORK/out"
LOGS="$WORK/logs"

# A backtrace on every panic or .pyc writes would skew what we time.
unset RUST_BACKTRACE PYTHONDONTWRITEBYTECODE PYTHONUNBUFFERED
export CARGO_TERM_COLOR=never
log() { printf '%s\n' "$*" >&2; }
die() { log "runners.sh: $*"; exit 1; }
mkdir -p "$WORK" "$TOOLS" "$OUT" "$LOGS"

# ---- builds and installs -------------------------------------------------------------
if [[ -z "${NO_BUILD:-}" ]]; then
  log "== release builds: cargo-testflow, the napi addon"
  (cd "$REPO" && cargo build --release --locked -p cargo-testflow >&2)
  (cd "$REPO" && CARGO_TARGET_DIR="$TARGET_DIR" node npm/scripts/build.js >&2)
fi
[[ -x "$TESTFLOW_BIN" ]] || die "no testflow at $TESTFLOW_BIN (cargo build --release -p cargo-testflow)"
wants() { [[ " $RUNNERS " == *" $1 "* ]]; }
if wants vitest || wants playwright; then
  [[ -f "$REPO/npm/testflow.node" ]] || die "no addon at $REPO/npm/testflow.node (node npm/scripts/build.js)"
fi
if [[ -n "${BASELINE_BIN:-}" ]]; then
  [[ -x "$BASELINE_BIN" ]] || die "BASELINE_BIN is not an executable: $BASELINE_BIN"
  [[ -z "${BASELINE_ADDON:-}" || -f "$BASELINE_ADDON" ]] || die "BASELINE_ADDON is not a file: $BASELINE_ADDON"
fi

if wants vitest || wants playwright; then
  if ! grep -qs "\"version\": \"$VITEST_VERSION\"" "$NODE_DIR/node_modules/vitest/package.json" \
    || ! grep -qs "\"version\": \"$PLAYWRIGHT_VERSION\"" "$NODE_DIR/node_modules/@playwright/test/package.json"; then
    log "== npm install vitest@$VITEST_VERSION @playwright/test@$PLAYWRIGHT_VERSION"
    mkdir -p "$NODE_DIR"
    printf '{ "name": "testflow-runner-bench", "private": true, "dependencies": { "vitest": "%s", "@playwright/test": "%s" } }\n' \
      "$VITEST_VERSION" "$PLAYWRIGHT_VERSION" > "$NODE_DIR/package.json"
    (cd "$NODE_DIR" && npm install --no-audit --no-fund --loglevel=error >&2)
  fi
  # The checkout's package with its release addon, as `npm install <checkout>/npm` would.
  ln -sfn "$REPO/npm" "$NODE_DIR/node_modules/jest-testflow"
fi
if wants go; then
  command -v go >/dev/null || die "go is not installed (tests/run-all.sh's go_job installs one)"
  if ! "$TOOLS/gotestsum" --version 2>/dev/null | grep -q "${GOTESTSUM_VERSION#v}"; then
    log "== go install gotest.tools/gotestsum@$GOTESTSUM_VERSION"
    GOBIN="$TOOLS" go install "gotest.tools/gotestsum@$GOTESTSUM_VERSION"
  fi
fi

# ---- suites --------------------------------------------------------------------------
gen_vitest() { # 40 files x 50 tests
  local d="$NODE_DIR/vitest-suite" f t
  rm -rf "$d" && mkdir -p "$d/tests"
  printf '{ "name": "vitest-suite", "private": true, "type": "module", "devDependencies": { "vitest": "%s" } }\n' \
    "$VITEST_VERSION" > "$d/package.json"
  printf "export default { test: { include: ['tests/**/*.test.js'] } };\n" > "$d/vitest.config.js"
  for f in $(seq -w 1 40); do
    {
      echo "import { describe, test, expect } from 'vitest';"
      echo "describe('file $f', () => {"
      for t in $(seq 1 50); do echo "  test('adds $t', () => { expect($t + 1).toBe($((t + 1))); });"; done
      echo "});"
    } > "$d/tests/f$f.test.js"
  done
}
gen_playwright() { # 20 files x 50 tests, no browser: no page fixture
  local d="$NODE_DIR/playwright-suite" f t
  rm -rf "$d" && mkdir -p "$d/tests"
  printf '{ "name": "playwright-suite", "private": true, "devDependencies": { "@playwright/test": "%s" } }\n' \
    "$PLAYWRIGHT_VERSION" > "$d/package.json"
  printf "module.exports = { testDir: 'tests', retries: 0 };\n" > "$d/playwright.config.js"
  for f in $(seq -w 1 20); do
    {
      echo "const { test, expect } = require('@playwright/test');"
      echo "test.describe('file $f', () => {"
      for t in $(seq 1 50); do echo "  test('adds $t', () => { expect($t + 1).toBe($((t + 1))); });"; done
      echo "});"
    } > "$d/tests/f$f.spec.js"
  done
}
gen_go() { # 10 packages x 200 tests, stdlib only
  local d="$WORK/go" p t
  rm -rf "$d" && mkdir -p "$d"
  printf 'module example.com/bench\n\ngo 1.24\n' > "$d/go.mod"
  for p in $(seq -w 0 9); do
    mkdir -p "$d/p$p"
    printf 'package p%s\n\nfunc Add(a, b int) int { return a + b }\n' "$p" > "$d/p$p/add.go"
    {
      printf 'package p%s\n\nimport "testing"\n' "$p"
      for t in $(seq 1 200); do
        printf '\nfunc TestAdd%d(t *testing.T) {\n\tif Add(%d, 1) != %d {\n\t\tt.Fatal("wrong sum")\n\t}\n}\n' "$t" "$t" $((t + 1))
      done
    } > "$d/p$p/add_test.go"
  done
}

# ---- commands ------------------------------------------------------------------------
# Per runner, lines of LABEL<TAB>CHECK<TAB>ARGV... (tab-separated). CHECK says how the
# checked round proves every test passed: summary:REGEX (its output), junit:FILE,
# run (the newest run.json in the suite's .testflow/), lines:REGEX:COUNT.
commands() {
  local tf=("$TESTFLOW_BIN" testflow run --quiet)
  case "$1" in
    vitest)
      local v="$NODE_DIR/node_modules/.bin/vitest"
      printf '%s\t%s' "vitest" "summary:Tests +2000 passed \(2000\)"; printf '\t%s' "$v" run --reporter=default; echo
      printf '%s\t%s' "vitest + junit" "junit:$OUT/vitest-junit.xml"; printf '\t%s' "$v" run --reporter=default --reporter=junit "--outputFile.junit=$OUT/vitest-junit.xml"; echo
      printf '%s\t%s' "vitest + jest-testflow/vitest" "run"; printf '\t%s' "$v" run --reporter=default --reporter=jest-testflow/vitest; echo
      printf '%s\t%s' "cargo testflow run" "run"; printf '\t%s' "${tf[@]}" --project .; echo
      if [[ -n "${BASELINE_BIN:-}" ]]; then
        # The reporter loads TESTFLOW_NODE_ADDON first (npm/native.js); the driver passes it on.
        local base=(env)
        if [[ -n "${BASELINE_ADDON:-}" ]]; then
          base+=("TESTFLOW_NODE_ADDON=$BASELINE_ADDON")
          printf '%s\t%s' "vitest + jest-testflow/vitest (baseline)" "run"; printf '\t%s' "${base[@]}" "$v" run --reporter=default --reporter=jest-testflow/vitest; echo
        fi
        printf '%s\t%s' "cargo testflow run (baseline)" "run"; printf '\t%s' "${base[@]}" "$BASELINE_BIN" testflow run --quiet --project .; echo
      fi
      ;;
    playwright)
      local pw="$NODE_DIR/node_modules/.bin/playwright"
      printf '%s\t%s' "playwright" "summary:^ *1000 passed"; printf '\t%s' "$pw" test --workers=2 --reporter=list; echo
      printf '%s\t%s' "playwright + junit" "junit:$OUT/playwright-junit.xml"; printf '\t%s' env "PLAYWRIGHT_JUNIT_OUTPUT_FILE=$OUT/playwright-junit.xml" "$pw" test --workers=2 --reporter=list,junit; echo
      printf '%s\t%s' "playwright + jest-testflow/playwright" "run"; printf '\t%s' "$pw" test --workers=2 --reporter=list,jest-testflow/playwright; echo
      printf '%s\t%s' "cargo testflow run -j 2" "run"; printf '\t%s' "${tf[@]}" --project . -j 2; echo
      ;;
    go)
      printf '%s\t%s' "go test" "lines:^ok :10"; printf '\t%s' go test -count=1 ./...; echo
      printf '%s\t%s' "go test -json" 'lines:"Action":"pass".*"Test":"TestAdd:2000'; printf '\t%s' go test -json -count=1 ./...; echo
      printf '%s\t%s' "gotestsum --junitfile" "junit:$OUT/go-junit.xml"; printf '\t%s' "$TOOLS/gotestsum" --junitfile "$OUT/go-junit.xml" -- -count=1 ./...; echo
      printf '%s\t%s' "cargo testflow run" "run"; printf '\t%s' "${tf[@]}" --project .; echo
      ;;
  esac
}
suite_dir() { case "$1" in vitest | playwright) echo "$NODE_DIR/$1-suite" ;; go) echo "$WORK/go" ;; esac; }
tests_of() { case "$1" in playwright) echo 1000 ;; *) echo 2000 ;; esac; }

# check LOG CHECK DIR TESTS: did the command's checked run pass every test, by its own count?
check() {
  local log="$1" how="$2" dir="$3" n="$4"
  plain() { sed 's/\x1b\[[0-9;]*m//g' "$log"; } # Vitest colours even a file
  case "$how" in
    summary:*) plain | grep -Eq "${how#summary:}" ;;
    lines:*)
      local spec="${how#lines:}"
      [[ "$(plain | grep -Ec "${spec%:*}")" == "${spec##*:}" ]]
      ;;
    junit:*)
      local f="${how#junit:}"
      [[ -f "$f" && "$(grep -o '<testcase ' "$f" | wc -l)" == "$n" ]] && ! grep -Eq '<(failure|error)[ >]' "$f"
      ;;
    run)
      python3 - "$dir/.testflow/runs" "$n" <<'PY'
import json, os, sys
runs, n = sys.argv[1], int(sys.argv[2])
newest = sorted(d for d in os.listdir(runs) if os.path.isfile(os.path.join(runs, d, "run.json")))[-1]
run = json.load(open(os.path.join(runs, newest, "run.json")))
s = run["summary"]
ok = s["total"] == n and s["passed"] == n and not run.get("errors")
workers = "; ".join(f'{w["framework"]}: {w.get("reason", "")}' for w in run.get("workers", []))
print(f"    {newest}: {s['passed']}/{s['total']} passed, {len(run.get('errors', []))} run errors"
      + (f"; workers: {workers}" if workers else ""), file=sys.stderr)
sys.exit(0 if ok else 1)
PY
      ;;
  esac
}

bench_runner() {
  local runner="$1" dir n spec label how argv code failed=0
  dir="$(suite_dir "$runner")"
  n="$(tests_of "$runner")"
  "gen_$runner"
  log "== $runner: $n tests in $dir"
  spec="$WORK/spec-$runner.json"
  echo '[' > "$spec"
  local first=1
  while IFS=$'\t' read -r -a fields; do
    label="${fields[0]}" how="${fields[1]}" argv=("${fields[@]:2}")
    local logf="$LOGS/$runner-${label//[^a-zA-Z0-9]/_}.log"
    [[ $how != junit:* ]] || rm -f "${how#junit:}"
    (cd "$dir" && "${argv[@]}") < /dev/null > "$logf" 2>&1 && code=0 || code=$?
    if [[ $code != 0 ]]; then
      log "  FAILED: $label exited $code (its output: $logf)"
      failed=1
    elif ! check "$logf" "$how" "$dir" "$n"; then
      log "  FAILED: $label exited 0 but not all $n tests passed by its own count ($how; output: $logf)"
      failed=1
    else
      log "  checked: $label"
    fi
    [[ $first == 1 ]] || echo ',' >> "$spec"
    first=0
    python3 -c 'import json, sys; print(json.dumps({"label": sys.argv[1], "argv": sys.argv[2:]}))' "$label" "${argv[@]}" >> "$spec"
  done < <(commands "$runner")
  echo ']' >> "$spec"
  [[ $failed == 0 ]] || return 1
  log "== $runner: timing ($WARMUP warm-up, $RUNS rounds)"
  python3 "$HERE/isolation.py" "$spec" --cwd "$dir" --runs "$RUNS" --warmup "$WARMUP" --out "$WORK/results-$runner.json"
}

status=0
done_runners=()
for r in $RUNNERS; do
  if bench_runner "$r"; then done_runners+=("$r"); else status=1; log "== $r: not timed (a command failed its check)"; fi
done

# ---- report --------------------------------------------------------------------------
ver() { "$@" 2>/dev/null | head -1 || echo "?"; }
echo "| | |"
echo "|---|---|"
echo "| date | $(date -u +%Y-%m-%dT%H:%MZ) |"
echo "| nproc | $(nproc) |"
echo "| CPU | $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') |"
echo "| load avg (1/5/15 min, at end) | $(cut -d' ' -f1-3 /proc/loadavg) |"
echo "| node | $(node --version) |"
wants vitest && echo "| vitest | $(node -p "require('$NODE_DIR/node_modules/vitest/package.json').version") |"
wants playwright && echo "| @playwright/test | $(node -p "require('$NODE_DIR/node_modules/@playwright/test/package.json').version") |"
wants go && echo "| go | $(go version) |" && echo "| gotestsum | $(ver "$TOOLS/gotestsum" --version) |"
echo "| testflow | $(ver "$TESTFLOW_BIN" testflow --version) (repo $(git -C "$REPO" rev-parse --short HEAD)), $TESTFLOW_BIN; addon: $(if [[ -n "${NO_BUILD:-}" ]]; then echo "as found"; else echo "release (npm/scripts/build.js)"; fi) |"
[[ -z "${BASELINE_BIN:-}" ]] || echo "| baseline rows | $(ver "$BASELINE_BIN" testflow --version), $BASELINE_BIN; addon ${BASELINE_ADDON:-the one above} |"
echo "| timer | bench/isolation.py: perf_counter + wait4 rusage, median of $RUNS interleaved rounds after $WARMUP warm-up |"
echo
for r in "${done_runners[@]}"; do
  python3 - "$r" "$WORK/results-$r.json" "$(tests_of "$r")" <<'PY' || status=1
import json, sys
runner, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = json.load(open(path))
res = data["results"]
alone = res[0]
junit = next(r for r in res if "junit" in r["label"])
bad = any(c != 0 for r in res for c in r["exit_codes"])
def ratio(a, b, key):
    if any(a["exit_codes"]) or any(b["exit_codes"]):
        return "n/a (failed)"
    return f"{a[key] / b[key]:.3f}"
print(f"**{runner}**, {n} tests; load average after each round: "
      + ", ".join(f"{l:.1f}" for l in data.get("loads", [])))
print()
print("| command | wall (s) | CPU (s) | wall / alone | CPU / alone | CPU / JUnit | CPU per test over alone (ms) | exit codes |")
print("|---|--:|--:|--:|--:|--:|--:|---|")
for r in res:
    codes = ",".join(str(c) for c in r["exit_codes"])
    flag = "" if not any(r["exit_codes"]) else " **(failed!)**"
    per = (r["cpu_median"] - alone["cpu_median"]) * 1000 / n
    print(f"| `{r['label']}`{flag} | {r['median']:.2f} | {r['cpu_median']:.2f} | {ratio(r, alone, 'median')} | "
          f"{ratio(r, alone, 'cpu_median')} | {ratio(r, junit, 'cpu_median')} | {per:+.2f} | {codes} |")
print()
print("Rounds (wall s / CPU s): " + "; ".join(
    f"{r['label']}: " + " ".join(f"{w:.2f}/{c:.2f}" for w, c in zip(r["times"], r["cpu"])) for r in res))
print()
sys.exit(1 if bad else 0)
PY
done
exit "$status"
