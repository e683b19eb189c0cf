#!/usr/bin/env bash
# Benchmark for the default Rust isolation (issue 18): `cargo test` against
# `cargo testflow run` (default: one process per test binary) and
# `cargo testflow run --isolation process`, doctests included for all three, on
#   - real: pulldown-cmark 0.13.6 from crates.io (bench/real_crate.sh), 1,300+ tests
#     in 6 binaries plus doctests;
#   - trivial: bench/gen_workspace.py with 2,000 trivial tests (10 crates x (100 unit +
#     100 integration)), no slow tests.
# Everything is built first (not timed), then one discarded warm-up round, then RUNS
# interleaved rounds (median of wall time and of CPU user+sys). Then SPURIOUS_RUNS more
# runs of the default alone: a run with any failed test or a non-zero exit is spurious
# (every test passes under cargo test).
#
# `--isolation process` pays a process start per test (minutes per run on a loaded
# 2-core machine): it is timed PROCESS_RUNS times after the interleaved rounds of the
# other two, unless PROCESS_RUNS=interleaved puts it in every round.
# Knobs: RUNS=5 WARMUP=1 SPURIOUS_RUNS=10 SUITES="real trivial" PROCESS_RUNS=1
#        TESTFLOW_BIN (default target/release/cargo-testflow)
# Prints Markdown on stdout; per-round numbers go to bench/work/isolation-<suite>.json.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
WORK="$HERE/work"
RUNS="${RUNS:-5}"
WARMUP="${WARMUP:-1}"
SPURIOUS_RUNS="${SPURIOUS_RUNS:-10}"
SUITES="${SUITES:-real trivial}"
PROCESS_RUNS="${PROCESS_RUNS:-1}"
TESTFLOW_BIN="${TESTFLOW_BIN:-$REPO/target/release/cargo-testflow}"
REAL_CRATE=pulldown-cmark
REAL_VERSION=0.13.6

# A backtrace on every panic or .pyc writes would skew what we time.
unset RUST_BACKTRACE PYTHONDONTWRITEBYTECODE PYTHONUNBUFFERED
export CARGO_TERM_COLOR=never
log() { printf '%s\n' "$*" >&2; }

[[ -x "$TESTFLOW_BIN" ]] || { log "no testflow at $TESTFLOW_BIN (cargo build --release)"; exit 2; }

suite_dir() {
  case "$1" in
    real) echo "$WORK/real/$REAL_CRATE" ;;
    trivial) echo "$WORK/trivial" ;;
    *) log "unknown suite $1"; exit 2 ;;
  esac
}

prepare() {
  local dir
  dir="$(suite_dir "$1")"
  if [[ ! -f "$dir/Cargo.toml" ]] || { [[ $1 == real ]] && ! grep -q "^version = \"$REAL_VERSION\"" "$dir/Cargo.toml"; }; then
    case "$1" in
      real) "$HERE/real_crate.sh" "$REAL_CRATE" "$REAL_VERSION" >&2 ;;
      trivial) python3 "$HERE/gen_workspace.py" --out "$dir" --slow 0 >&2 ;;
    esac
  fi
}

bench_suite() {
  local suite="$1" dir spec out
  dir="$(suite_dir "$suite")"
  export CARGO_TARGET_DIR="$dir/target"
  log "== $suite: building"
  (cd "$dir" && cargo test --workspace --no-run -q >&2)
  # testflow keeps its runs here; start empty so no history reorders the first run.
  export TESTFLOW_DIR="$WORK/isolation-state-$suite"
  rm -rf "$TESTFLOW_DIR"
  spec="$(mktemp)"
  python3 - "$spec" "$TESTFLOW_BIN" "$PROCESS_RUNS" <<'PY'
import json, sys
spec, bin_, process_runs = sys.argv[1:]
base = [bin_, "testflow", "run", "--workspace", "--quiet"]
cmds = [
    {"label": "cargo test", "argv": ["cargo", "test", "--workspace", "--no-fail-fast"]},
    {"label": "testflow", "argv": base},
]
process = {"label": "testflow --isolation process", "argv": [*base, "--isolation", "process"]}
if process_runs == "interleaved":
    cmds.append(process)
# nextest when installed: it cannot run doctests, so it runs fewer tests than the others.
import shutil, subprocess
if subprocess.run(["cargo", "nextest", "--version"], capture_output=True).returncode == 0:
    cmds.append({"label": "nextest (no doctests)", "argv": ["cargo", "nextest", "run", "--workspace", "--no-fail-fast"]})
json.dump(cmds, open(spec, "w"))
json.dump([process], open(spec + ".process", "w"))
PY
  out="$WORK/isolation-$suite.json"
  log "== $suite: timing"
  python3 "$HERE/isolation.py" "$spec" --cwd "$dir" --runs "$RUNS" --warmup "$WARMUP" --out "$out"
  if [[ $PROCESS_RUNS != interleaved ]]; then
    log "== $suite: --isolation process, $PROCESS_RUNS runs"
    python3 "$HERE/isolation.py" "$spec.process" --cwd "$dir" --runs "$PROCESS_RUNS" --warmup 0 --out "$out.process"
    python3 - "$out" "$out.process" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
a["results"] += b["results"]
json.dump(a, open(sys.argv[1], "w"), indent=1)
PY
  fi
  rm -f "$spec" "$spec.process"
  # Spurious failures: the default, alone, SPURIOUS_RUNS times; count failed tests too.
  local bad=0 failed_tests=0 tests=0 i json
  for ((i = 1; i <= SPURIOUS_RUNS; i++)); do
    json="$(cd "$dir" && "$TESTFLOW_BIN" testflow run --workspace --quiet --format json 2>/dev/null)" && code=0 || code=$?
    read -r t f < <(python3 -c '
import json, sys
s = json.loads(sys.stdin.read())["summary"]
print(s["total"], s["failed"] + s["error"] + s["timeout"] + s["crashed"])' <<<"$json" || echo "0 0")
    tests=$t
    failed_tests=$((failed_tests + f))
    if [[ $code != 0 || $f != 0 ]]; then bad=$((bad + 1)); log "  spurious run $i: exit $code, $f failed"; fi
  done
  echo "$suite|$tests|$out|$bad|$failed_tests"
}

rows=()
for s in $SUITES; do
  prepare "$s"
  rows+=("$(bench_suite "$s")")
done

echo "| | |"
echo "|---|---|"
echo "| date | $(date -u +%Y-%m-%dT%H:%MZ) |"
echo "| nproc | $(nproc) |"
echo "| CPU | $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') |"
echo "| load avg (1/5/15 min, at end) | $(cut -d' ' -f1-3 /proc/loadavg) |"
echo "| rustc | $(rustc --version) |"
echo "| testflow | $("$TESTFLOW_BIN" testflow --version 2>/dev/null | head -1) (repo $(git -C "$REPO" rev-parse --short HEAD)) |"
echo "| timer | python perf_counter + wait4 rusage, median of $RUNS interleaved rounds after $WARMUP warm-up; --isolation process: $PROCESS_RUNS |"
echo
python3 - "$SPURIOUS_RUNS" "${rows[@]}" <<'PY'
import json, sys
n = sys.argv[1]
print("| suite | tests (testflow) | cargo test wall (s) | testflow wall (s) | --isolation process wall (s) | nextest wall (s), no doctests | testflow / cargo test | process / cargo test | cargo test CPU (s) | testflow CPU (s) | process CPU (s) | nextest CPU (s) | testflow / cargo test CPU | spurious runs (of %s) |" % n)
print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
for row in sys.argv[2:]:
    suite, tests, path, bad, failed = row.split("|")
    r = {x["label"]: x for x in json.load(open(path))["results"]}
    c, t, p = r["cargo test"], r["testflow"], r["testflow --isolation process"]
    codes = {k: sorted(set(v["exit_codes"])) for k, v in r.items()}
    nx = r.get("nextest (no doctests)")
    nxw = f"{nx['median']:.2f}" if nx else "–"
    nxc = f"{nx['cpu_median']:.2f}" if nx else "–"
    print(f"| {suite} | {tests} | {c['median']:.2f} | {t['median']:.2f} | {p['median']:.2f} | {nxw} | **{t['median']/c['median']:.2f}** | {p['median']/c['median']:.2f} | {c['cpu_median']:.2f} | {t['cpu_median']:.2f} | {p['cpu_median']:.2f} | {nxc} | {t['cpu_median']/c['cpu_median']:.2f} | {bad} ({failed} failed tests) |")
    print(f"<!-- {suite} exit codes of the timed rounds: {codes} -->")
PY
