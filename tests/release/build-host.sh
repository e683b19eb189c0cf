#!/usr/bin/env bash
# The release workflow (.github/workflows/release.yml), for this machine's platform only,
# without publishing: builds what the `binary`, `wheels`, `sdist` and `addon` jobs build,
# lays out the npm packages like the `publish` job, then installs each artifact the way a
# user will once it is published and checks it works:
#   - the cargo-testflow tarball (+ .sha256) unpacks where `cargo binstall` looks and runs;
#   - the abi3 wheel installs with pip from the directory alone and pytest gets --testflow;
#   - the sdist is listed;
#   - jest-testflow + jest-testflow-<platform> install from their tarballs into a project
#     with no compiler on PATH, and the addon loads.
# Slow (two release builds of the engine: the binary's, and the bindings' shared one), so
# it is not part of tests/run-all.sh. Output goes to OUT (default target/release-host);
# the checkout is left as it was.
#
#   tests/release/build-host.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO="$PWD"
OUT="$(mkdir -p "${1:-target/release-host}" && cd "${1:-target/release-host}" && pwd)"
export CARGO_TARGET_DIR="$OUT/target"
unset RUST_BACKTRACE PYTHONDONTWRITEBYTECODE
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
TARGET="$(rustc -vV | sed -n 's/^host: //p')"
case "$TARGET" in
    x86_64-unknown-linux-gnu) KEY=linux-x64-gnu ;;
    aarch64-unknown-linux-gnu) KEY=linux-arm64-gnu ;;
    x86_64-apple-darwin) KEY=darwin-x64 ;;
    aarch64-apple-darwin) KEY=darwin-arm64 ;;
    *) echo "build-host.sh: no release artifacts are built for $TARGET"; exit 2 ;;
esac
clean_before="$(git status --porcelain --ignored | grep -v '^!! target/' | sort || true)"
step() { echo "== $*"; }
rm -rf "$OUT/dist" "$OUT/check"
mkdir -p "$OUT/dist" "$OUT/check"

step "binary: cargo build --release -p cargo-testflow ($TARGET)"
cargo build --release --locked -p cargo-testflow --quiet
name="cargo-testflow-$TARGET-v$VERSION"
mkdir -p "$OUT/dist/$name"
cp "$CARGO_TARGET_DIR/release/cargo-testflow" README.md "$OUT/dist/$name/"
(cd "$OUT/dist" && tar czf "$name.tar.gz" "$name" && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256" \
    && rm -rf "$name")

step "wheel + sdist: maturin (from PyPI, in a venv of its own)"
python3 -m venv "$OUT/maturin-venv"
"$OUT/maturin-venv/bin/python" -m pip install --quiet 'maturin>=1.9.4,<2'
(cd python && "$OUT/maturin-venv/bin/maturin" build --release --locked --out "$OUT/dist" --quiet)
(cd python && "$OUT/maturin-venv/bin/maturin" sdist --out "$OUT/dist")

step "addon: cargo build --release -p testflow-node"
cargo build --release --locked -p testflow-node --quiet
mkdir -p "$OUT/addons"
lib="$CARGO_TARGET_DIR/release/libtestflow_node.so"
[ -f "$lib" ] || lib="$CARGO_TARGET_DIR/release/libtestflow_node.dylib"
cp "$lib" "$OUT/addons/testflow.$KEY.node"
node -e "require(process.argv[1])" "$OUT/addons/testflow.$KEY.node"
node npm/scripts/release-packages.js --version "$VERSION" --addons "$OUT/addons" --out "$OUT/dist-npm"
for dir in "$OUT"/dist-npm/*/; do (cd "$OUT/dist" && npm pack --silent "$dir" > /dev/null); done

step "check: the binary archive"
(cd "$OUT/dist" && sha256sum -c "$name.tar.gz.sha256")
tar xzf "$OUT/dist/$name.tar.gz" -C "$OUT/check"
# Where cargo-testflow/Cargo.toml's binstall metadata says the binary is.
"$OUT/check/$name/cargo-testflow" testflow --version

step "check: the wheel installs from the directory alone and pytest gets --testflow"
python3 -m venv "$OUT/check/venv"
"$OUT/check/venv/bin/python" -m pip install --quiet pytest
"$OUT/check/venv/bin/python" -m pip install --quiet --no-index --find-links "$OUT/dist" pytest-testflow
# (grep -q would close the pipe early: with pipefail, pytest's SIGPIPE would fail the step)
"$OUT/check/venv/bin/python" -m pytest --help | grep -c -- --testflow > /dev/null
mkdir -p "$OUT/check/py" && printf 'def test_ok():\n    assert True\n' > "$OUT/check/py/test_ok.py"
(cd "$OUT/check/py" && "$OUT/check/venv/bin/python" -m pytest -q --testflow -p no:cacheprovider > /dev/null)
[ -f "$OUT/check/py/.testflow/latest" ] || [ -d "$OUT/check/py/.testflow/runs" ] \
    || { echo "the wheel's plugin recorded no run"; exit 1; }
ls "$OUT/dist"/*.tar.gz | grep -q 'pytest_testflow-.*\.tar\.gz' || { echo "no sdist"; exit 1; }

step "check: jest-testflow from its tarballs, no compiler on PATH"
mkdir -p "$OUT/check/js"
(cd "$OUT/check/js" && npm init -y > /dev/null \
    && PATH="/usr/bin:/bin" CARGO=/bin/false npm install --no-audit --no-fund --loglevel=error \
        "$OUT/dist/jest-testflow-$KEY-$VERSION.tgz" "$OUT/dist/jest-testflow-$VERSION.tgz" \
    && node -e "require('jest-testflow/native').load(); console.log('addon loads')")

clean_after="$(git status --porcelain --ignored | grep -v '^!! target/' | sort || true)"
[ "$clean_before" = "$clean_after" ] || { echo "the build changed the checkout:"; diff <(echo "$clean_before") <(echo "$clean_after"); exit 1; }
step "release artifacts for $TARGET (v$VERSION) in $OUT/dist:"
ls -l "$OUT/dist"
