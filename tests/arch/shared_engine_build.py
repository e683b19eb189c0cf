#!/usr/bin/env python3
"""The pytest plugin and the Jest reporter must compile one and the same engine.

`pip install ./python` and the Jest reporter's install build into one shared target dir
(README, "Installing from a checkout"), so the second door compiles only its binding, but
only while cargo gives the engine the same unit in both builds: the same features and
profile for the engine and for everything it is built from. A feature one binding's
dependencies turn on in a shared crate (napi-derive turning on `syn`'s `full`, say) makes
every crate above it a new unit, and the second install compiles the whole engine again.
This compares the engine's dependency closure in the two builds' unit graphs (cargo's own
plan, nothing is compiled) and names every unit that differs.

    python3 tests/arch/shared_engine_build.py [release|dev]   (default: both; users install
                                                             release, run-all.sh builds dev)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

BINDINGS = ("testflow-python", "testflow-node")
ENGINE_LIB = "testflow"


def unit_graph(package: str, profile: str) -> list[dict]:
    if profile not in ("release", "dev"):
        sys.exit(f"unknown profile {profile!r}: release or dev")
    cmd = ["cargo", "build", "--locked", "-p", package, "--unit-graph", "-Z", "unstable-options"]
    if profile == "release":
        cmd.insert(2, "--release")
    # --unit-graph is unstable: RUSTC_BOOTSTRAP lets the stable cargo print it.
    out = subprocess.run(
        cmd, capture_output=True, text=True, env=dict(os.environ, RUSTC_BOOTSTRAP="1")
    )
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return json.loads(out.stdout)["units"]


def engine_closure(units: list[dict]) -> set[tuple[str, str, str, str, str]]:
    roots = [
        i
        for i, u in enumerate(units)
        if u["target"]["name"] == ENGINE_LIB and u["mode"] == "build"
    ]
    if len(roots) != 1:
        sys.exit(f"expected one build unit of the engine lib `{ENGINE_LIB}`, found {len(roots)}")
    seen: set[int] = set()
    stack = roots
    while stack:
        i = stack.pop()
        if i not in seen:
            seen.add(i)
            stack.extend(d["index"] for d in units[i]["dependencies"])
    return {
        (
            units[i]["pkg_id"],
            units[i]["target"]["name"],
            units[i]["mode"],
            ",".join(sorted(units[i]["features"])),
            json.dumps(units[i]["profile"], sort_keys=True),
        )
        for i in seen
    }


def main() -> int:
    profiles = sys.argv[1:] or ["release", "dev"]
    failed = False
    for profile in profiles:
        a, b = (engine_closure(unit_graph(p, profile)) for p in BINDINGS)
        if a == b:
            print(f"{BINDINGS[0]} and {BINDINGS[1]} build the same engine ({len(a)} units, {profile})")
            continue
        failed = True
        print(f"{BINDINGS[0]} and {BINDINGS[1]} build different engines ({profile}); units that differ:")
        for name, units in ((BINDINGS[0], a - b), (BINDINGS[1], b - a)):
            for pkg, target, mode, features, _ in sorted(units):
                print(f"  only in {name}: {pkg.split('#')[-1]} {target} ({mode}) features [{features}]")
    return 1 if failed else 0

if __name__ == "__main__":
    sys.exit(main())
