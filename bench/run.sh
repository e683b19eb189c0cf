#!/usr/bin/env bash
# Benchmark: cargo test vs cargo nextest vs cargo testflow (process per test
# and --isolation binary) on (a) a generated workspace and (b) a real crate.
#
# Build time is excluded: every workspace is built before timing, and one
# discarded warm-up round runs all commands first. See bench/README.md.
#
# Environment knobs:
#   RUNS=5                timed rounds per workspace (median is reported)
#   WARMUP=1              discarded rounds before timing
#   SUITES="generated real"
#   TESTFLOW_BIN=...      default <repo>/target/release/cargo-testflow
#   TESTFLOW_RUN_ARGS=... extra args for `testflow run` (both modes)
#   BENCH_TARGET_DIR=...  put each suite's target dir under here
#                         (default: each workspace's own target/)
#   NO_HYPERFINE=1        force the python timing loop
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
WORK="$HERE/work"
RUNS="${RUNS:-5}"
WARMUP="${WARMUP:-1}"
SUITES="${SUITES:-generated real}"
TESTFLOW_BIN="${TESTFLOW_BIN:-$REPO/target/release/cargo-testflow}"
# The same targets as cargo test / nextest below (no doctests), no progress output.
TESTFLOW_RUN_ARGS="${TESTFLOW_RUN_ARGS:---workspace --lib --bins --tests --quiet}"

# Variables that change what tests do or print, and so what we time:
# a backtrace on every panic, or python writing .pyc files, skews results.
unset RUST_BACKTRACE PYTHONDONTWRITEBYTECODE PYTHONUNBUFFERED
export CARGO_TERM_COLOR=never

log() { printf '%s\n' "$*" >&2; }

# --- tools ---------------------------------------------------------------
if ! command -v hyperfine >/dev/null && [[ -z "${NO_HYPERFINE:-}" ]]; then
  # Installing is cheap here (root, Debian); fall back to python otherwise.
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing hyperfine..."
    apt-get install -y hyperfine >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 && apt-get install -y hyperfine >/dev/null 2>&1; } ||
      log "hyperfine install failed; using the python timer"
  fi
fi
HF_FLAG=()
if [[ -n "${NO_HYPERFINE:-}" ]]; then HF_FLAG=(--no-hyperfine); fi

HAVE_NEXTEST=1
cargo nextest --version >/dev/null 2>&1 || { HAVE_NEXTEST=0; log "cargo-nextest not found: skipping it"; }
HAVE_TESTFLOW=1
[[ -x "$TESTFLOW_BIN" ]] || { HAVE_TESTFLOW=0; log "testflow not found at $TESTFLOW_BIN: skipping it (build with cargo build --release)"; }

# --- workspaces ----------------------------------------------------------
suite_dir() {
  case "$1" in
    generated) echo "$WORK/generated" ;;
    real) echo "$WORK/real/${REAL_CRATE:-petgraph}" ;;
    *) log "unknown suite $1"; exit 2 ;;
  esac
}

prepare() {
  local suite="$1" dir
  dir="$(suite_dir "$suite")"
  if [[ ! -f "$dir/Cargo.toml" ]]; then
    case "$suite" in
      generated) python3 "$HERE/gen_workspace.py" --out "$dir" >&2 ;;
      real) "$HERE/real_crate.sh" ${REAL_CRATE:+"$REAL_CRATE"} >&2 ;;
    esac
  fi
}

target_dir() {
  if [[ -n "${BENCH_TARGET_DIR:-}" ]]; then echo "$BENCH_TARGET_DIR/$1"
  else echo "$(suite_dir "$1")/target"; fi
}

# --- machine -------------------------------------------------------------
machine_info() {
  echo "| | |"
  echo "|---|---|"
  echo "| date | $(date -u +%Y-%m-%dT%H:%MZ) |"
  echo "| nproc | $(nproc) |"
  echo "| CPU | $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') |"
  echo "| memory | $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) |"
  echo "| kernel | $(uname -r) |"
  # Other work on the machine makes timings noisy; record it to judge that.
  echo "| load avg (1/5/15 min, at end) | $(cut -d' ' -f1-3 /proc/loadavg) |"
  echo "| rustc | $(rustc --version) |"
  [[ $HAVE_NEXTEST == 1 ]] && echo "| nextest | $(cargo nextest --version 2>/dev/null | head -1) |"
  [[ $HAVE_TESTFLOW == 1 ]] && echo "| testflow | $("$TESTFLOW_BIN" testflow --version 2>/dev/null | head -1 || true) (repo $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)) |"
  echo "| timer | $(command -v hyperfine >/dev/null && [[ -z "${NO_HYPERFINE:-}" ]] && hyperfine --version || echo python), median of $RUNS interleaved runs after $WARMUP warm-up |"
}

# --- one suite -----------------------------------------------------------
bench_suite() {
  local suite="$1" dir tdir spec out
  dir="$(suite_dir "$suite")"
  tdir="$(target_dir "$suite")"
  export CARGO_TARGET_DIR="$tdir"

  # Build first so no timed command pays for compilation. nextest and (we
  # expect) testflow build via `cargo test --no-run`, sharing these artifacts.
  log "== $suite: building in $tdir"
  (cd "$dir" && cargo test --workspace --lib --bins --tests --no-run -q >&2)

  # Same target selection for cargo test and nextest: doctests excluded
  # (nextest cannot run them), as in nextest's own benchmarks.
  spec="$(mktemp)"
  python3 - "$spec" "$HAVE_NEXTEST" "$HAVE_TESTFLOW" "$TESTFLOW_BIN" "$TESTFLOW_RUN_ARGS" <<'PY'
import json, shlex, sys
spec, nextest, testflow, bin_, extra = sys.argv[1:]
sel = ["--workspace", "--lib", "--bins", "--tests", "--no-fail-fast"]
cmds = [{"label": "cargo test", "argv": ["cargo", "test", *sel]}]
if nextest == "1":
    cmds.append({"label": "nextest", "argv": ["cargo", "nextest", "run", *sel]})
if testflow == "1":
    # cargo subcommand convention: argv[1] is the subcommand name.
    base = [bin_, "testflow", "run", *shlex.split(extra)]
    cmds.append({"label": "testflow", "argv": base})
    cmds.append({"label": "testflow-binary", "argv": [*base, "--isolation", "binary"]})
json.dump(cmds, open(spec, "w"))
PY
  out="$WORK/results-$suite.json"
  log "== $suite: timing"
  python3 "$HERE/measure.py" "$spec" --cwd "$dir" --runs "$RUNS" \
    --warmup "$WARMUP" --out "$out" "${HF_FLAG[@]}"
  rm -f "$spec"

  # Test count from nextest's list (cheap, already built), for the table.
  local ntests="?"
  if [[ $HAVE_NEXTEST == 1 ]]; then
    ntests="$(cd "$dir" && cargo nextest list --workspace --lib --bins --tests \
      --message-format json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sum(len(b["testcases"]) for b in d["rust-suites"].values()))' || echo "?")"
  fi
  echo "$suite|$ntests|$out"
}

# --- report --------------------------------------------------------------
report() {
  python3 - "$@" <<'PY'
import json, sys
def fmt(x): return f"{x:.2f}" if x is not None else "n/a"
print("| suite | tests | cargo test (s) | nextest (s) | testflow (s) | testflow-binary (s) | testflow / nextest | testflow-binary / cargo test | nextest / cargo test |")
print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
for arg in sys.argv[1:]:
    suite, ntests, path = arg.split("|")
    res = {r["label"]: r for r in json.load(open(path))["results"]}
    def med(label):
        r = res.get(label)
        return r["median"] if r else None
    def cell(label):
        r = res.get(label)
        if not r: return "n/a"
        bad = [c for c in r["exit_codes"] if c]
        # A failing run is still timed but flagged: it may have done less work.
        return fmt(r["median"]) + (f" (exit {bad[0]}!)" if bad else "")
    def ratio(a, b):
        if any(c for l in (a, b) for c in res.get(l, {}).get("exit_codes", [])):
            return "n/a (failed)"
        a, b = med(a), med(b)
        return f"{a / b:.2f}" if a and b else "n/a"
    print(f"| {suite} | {ntests} | {cell('cargo test')} | {cell('nextest')} | "
          f"{cell('testflow')} | {cell('testflow-binary')} | "
          f"{ratio('testflow', 'nextest')} | {ratio('testflow-binary', 'cargo test')} | "
          f"{ratio('nextest', 'cargo test')} |")
PY
}

main() {
  local rows=() s
  for s in $SUITES; do prepare "$s"; done
  for s in $SUITES; do rows+=("$(bench_suite "$s")"); done
  echo
  echo "## Machine"
  echo
  machine_info
  echo
  echo "## Results (wall clock, median)"
  echo
  report "${rows[@]}"
  echo
  echo "Ratios below 1 mean the first tool is faster. Raw times: $WORK/results-*.json"
}

main "$@"
