#!/usr/bin/env python3
"""Fail when the engine's modules import each other in a circle.

The engine is layered (CONTRIBUTING.md, "Shape of the code"): a module may use the ones
below it, never one that (through others) uses it. This reads every module file of
cargo-testflow/engine/src but their tests (`tests.rs` files and the inline
`#[cfg(test)] mod …` at a file's end: a test may use any module), takes an arrow A -> B for
every path A names into B (`crate::b::…`, `use crate::{b, …}`, a sibling's `super::b::…`),
a parent's `child::…`, and prints each circle with the arrows that close it. A submodule
using its parent (`super::X`) draws no arrow: it is inside its parent, as a file is inside
its folder; the parent using a child does (the registry naming `jest::Jest` depends on
everything `jest` imports).

    python3 tests/arch/import_cycles.py [ENGINE_SRC]
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "cargo-testflow", "engine", "src")


def modules(root):
    found = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs") or f == "tests.rs":
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), root)[:-3]
            if rel == "lib":
                continue
            name = rel[: -len("/mod")] if rel.endswith("/mod") else rel
            found[name.replace("/", "::")] = os.path.join(dirpath, f)
    return found


def arrows(mods):
    out = {m: {} for m in mods}
    for m, path in mods.items():
        text = open(path, encoding="utf-8").read()
        tests = re.search(r"^#\[cfg\((all\()?test[^\n]*\n(pub(\(crate\))? )?mod \w+ \{", text, re.M)
        if tests:
            text = text[: tests.start()]
        text = re.sub(r"//[^\n]*", "", text)
        parent = m.rsplit("::", 1)[0] if "::" in m else None
        named = set(re.findall(r"crate::([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)", text))
        for group in re.findall(r"use crate::\{([^}]*)\}", text):
            named.update(p.strip().split("::{")[0] for p in group.split(",") if p.strip())
        for s in re.findall(r"\bsuper::([a-z_][a-z0-9_]*)", text):
            named.add(f"{parent}::{s}" if parent else s)
        for child in (c for c in mods if c.startswith(m + "::") and c.count("::") == m.count("::") + 1):
            # `child::x::Y` names the deepest module of the path (`cargo::suite::Cargo`).
            for tail in re.findall(r"(?<![\w:])" + re.escape(child.rsplit("::", 1)[1]) + r"((?:::[a-z_][a-z0-9_]*)*)::", text):
                named.add(child + tail)
        for n in named:
            # The deepest module the path names (`frameworks::cargo::suite::Cargo` is in
            # `frameworks::cargo::suite`).
            parts = n.split("::")
            target = next(("::".join(parts[:k]) for k in range(len(parts), 0, -1) if "::".join(parts[:k]) in mods), parts[0])
            inside = target == m or m.startswith(target + "::")
            if target in mods and not inside:
                out[m][target] = n
    return out


def circles(graph):
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(100000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def main():
    mods = modules(ROOT)
    if not mods:
        print(f"no engine modules under {ROOT}", file=sys.stderr)
        return 2
    graph = arrows(mods)
    found = circles(graph)
    n = sum(len(v) for v in graph.values())
    if not found:
        print(f"engine: {len(mods)} modules, {n} arrows, no import circle")
        return 0
    for comp in found:
        print(f"import circle of {len(comp)} modules:")
        for a in comp:
            for b in sorted(set(graph[a]) & set(comp)):
                print(f"  {a} -> {b}   ({graph[a][b]})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
