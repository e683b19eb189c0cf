#!/usr/bin/env bash
# Fetch a real open-source crate (with its test suite) from crates.io into
# bench/work/real/<crate>, so the benchmark can run a test suite we did not
# write ourselves.
#
# Usage: bench/real_crate.sh [CRATE [VERSION]]
#   default: petgraph 0.8.3 (346 tests in 24 test binaries, dev-dependencies
#   resolve from crates.io, test build ~30 s on 2 cores, all tests pass).
#   CRATE without VERSION takes the latest version on crates.io.
#
# How: crates.io tarballs are what `cargo fetch` unpacks into
# ~/.cargo/registry/src, so we make a throwaway project that depends on the
# crate at an exact version, fetch it, ask `cargo metadata` where the source
# landed, and copy it. Only crates.io is needed (no git hosting).
set -euo pipefail

CRATE="${1:-petgraph}"
# An empty VERSION means "latest on crates.io" (useful when trying crates out).
if [[ $# -ge 1 ]]; then VERSION="${2:-}"; else VERSION="0.8.3"; fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEST="$HERE/work/real/$CRATE"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Throwaway project pinning the exact version.
mkdir -p "$tmp/probe/src"
cat >"$tmp/probe/Cargo.toml" <<TOML
[package]
name = "probe"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
$CRATE = "${VERSION:+=}${VERSION:-*}"

[workspace]
TOML
: >"$tmp/probe/src/lib.rs"
cargo fetch --manifest-path "$tmp/probe/Cargo.toml" >&2

# Locate the unpacked source via cargo metadata (no guessing registry dirs).
src_manifest="$(cargo metadata --format-version 1 --manifest-path "$tmp/probe/Cargo.toml" |
  python3 -c '
import json, sys
crate, version = sys.argv[1], sys.argv[2]
meta = json.load(sys.stdin)
for p in meta["packages"]:
    if p["name"] == crate and version in ("", p["version"]):
        print(p["manifest_path"])
        break
' "$CRATE" "$VERSION")"
if [[ -z "$src_manifest" ]]; then
  echo "error: $CRATE $VERSION not found in cargo metadata" >&2
  exit 1
fi
src_dir="$(dirname "$src_manifest")"

# Fresh copy (the registry copy is read-only by convention; never build there).
rm -rf "$DEST"
mkdir -p "$(dirname "$DEST")"
cp -R "$src_dir" "$DEST"
chmod -R u+w "$DEST"

# Make it its own workspace root so cargo never walks up into the testflow
# repo's workspace, whatever the crate's manifest says.
if ! grep -q '^\[workspace\]' "$DEST/Cargo.toml"; then
  printf '\n[workspace]\n' >>"$DEST/Cargo.toml"
fi

echo "$DEST"
