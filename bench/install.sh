#!/usr/bin/env bash
# Install time of each door from a checkout (issues 14 and 17), with /usr/bin/time -v.
#
#   bench/install.sh cold   [CHECKOUT]   each door alone, each from an empty target dir
#                                        and an empty testflow cache
#   bench/install.sh shared [CHECKOUT]   pip, then npm, then cargo install, one after another
#                                        from one empty cache (the second door reuses the
#                                        first's engine build; cargo install is pointed at
#                                        the same dir with CARGO_TARGET_DIR)
#
# CHECKOUT defaults to this repository. For the numbers of an older commit, unpack it
# first: git archive COMMIT | tar -x -C bench/work/install/src-COMMIT.
# NPM_FROM=pack (default: `npm pack` the checkout's npm/, install the tarball) or dir
# (`npm install CHECKOUT/npm`, a file: link: how it was done before the tarball).
# Prints one Markdown row per install: wall, user, sys (s), how many times cargo compiled
# the engine (`Compiling testflow-engine`, before the split `Compiling cargo-testflow`, in its log), load average before → after.
# DOORS="pip npm" measures only those doors (cold mode; default: cargo pip npm).
# Crates come from ~/.cargo/registry and npm/pip packages from their caches when already
# there: downloads are not what this measures.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODE="${1:?usage: bench/install.sh cold|shared [CHECKOUT]}"
CHECKOUT="$(cd "${2:-$HERE/..}" && pwd)"
NPM_FROM="${NPM_FROM:-pack}"
LABEL="${LABEL:-$(git -C "$CHECKOUT" rev-parse --short HEAD 2>/dev/null || basename "$CHECKOUT")}"
W="$HERE/work/install/$LABEL-$MODE"
rm -rf "$W"
mkdir -p "$W"
# What changes the work timed: backtraces on panics, a caller's target dir.
unset CARGO_TARGET_DIR RUST_BACKTRACE PYTHONDONTWRITEBYTECODE PYTHONUNBUFFERED
export XDG_CACHE_HOME="$W/cache"

clean_before="$(git -C "$CHECKOUT" status --ignored --porcelain 2>/dev/null | sort || true)"

# measure NAME CMD…: run CMD under /usr/bin/time -v, print a row, fail loudly.
measure() {
    local name="$1"
    shift
    local load0 load1
    load0="$(cut -d' ' -f1-3 /proc/loadavg)"
    if ! /usr/bin/time -v -o "$W/$name.time" bash -c '"$@"' _ "$@" > "$W/$name.log" 2>&1; then
        echo "$name failed:" >&2
        cat "$W/$name.log" >&2
        exit 1
    fi
    load1="$(cut -d' ' -f1-3 /proc/loadavg)"
    python3 - "$W/$name.time" "$name" "$load0" "$load1" "$LABEL" "$MODE" "$(grep -cE 'Compiling (testflow-engine|cargo-testflow) ' "$W/$name.log" || true)" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def field(key):
    return re.search(re.escape(key) + r": (.*)", text).group(1).strip()
wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)")
parts = [float(p) for p in wall.split(":")]
secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
user, sys_ = float(field("User time (seconds)")), float(field("System time (seconds)"))
name, l0, l1, label, mode, engine = sys.argv[2:]
print(f"| {label} | {mode} | {name} | {secs:.0f} | {user:.0f} | {sys_:.0f} | {engine} | {l0} → {l1} |", flush=True)
PY
}

cargo_door() { # TARGET_DIR
    (cd "$CHECKOUT" && CARGO_TARGET_DIR="$1" cargo install --locked --path cargo-testflow --root "$W/cargo-root")
}
pip_door() { # [TARGET_DIR]
    python3 -m venv "$W/venv"
    (cd "$CHECKOUT" && env ${1:+CARGO_TARGET_DIR="$1"} "$W/venv/bin/python" -m pip install -v ./python)
}
npm_door() { # [TARGET_DIR]
    mkdir -p "$W/jest-project"
    printf '{ "name": "p", "private": true }\n' > "$W/jest-project/package.json"
    local spec="$CHECKOUT/npm"
    if [ "$NPM_FROM" = pack ]; then
        spec="$W/$(cd "$W" && npm pack "$CHECKOUT/npm" --pack-destination "$W" --loglevel=error | tail -n1)"
    fi
    (cd "$W/jest-project" && env ${1:+CARGO_TARGET_DIR="$1"} npm install --foreground-scripts --no-audit --no-fund --loglevel=error "$spec")
    test -f "$W/jest-project/node_modules/jest-testflow/testflow.node"
}

export -f cargo_door pip_door npm_door
export W CHECKOUT NPM_FROM

echo "| checkout | mode | door | wall s | user s | sys s | engine compiles | load avg (1/5/15 min) |"
echo "|---|---|---|---|---|---|---|---|"
case "$MODE" in
    cold)
        for door in ${DOORS:-cargo pip npm}; do
            measure "$door-install" "${door}_door" "$W/target-$door"
        done
        ;;
    shared)
        # No CARGO_TARGET_DIR for pip and npm: they use their default, the shared cache dir.
        measure pip-install pip_door
        measure npm-install npm_door
        measure cargo-install cargo_door "$XDG_CACHE_HOME/testflow/target"
        ;;
    *) echo "unknown mode $MODE (cold or shared)" >&2; exit 2 ;;
esac

clean_after="$(git -C "$CHECKOUT" status --ignored --porcelain 2>/dev/null | sort || true)"
if [ "$clean_before" != "$clean_after" ]; then
    echo "the installs left files in $CHECKOUT:" >&2
    diff <(echo "$clean_before") <(echo "$clean_after") >&2 || true
    exit 1
fi
