#!/usr/bin/env python3
"""`--affected` selection at 10,000 pytest tests: how long testflow itself takes to say
what a change selects, apart from pytest's collection.

It generates a project (default 500 test files x 20 tests = 10,000) with an import graph:
`core/c0..c9` (each imports the one before), 49 packages `pkgNN/m0..m9` (each module
imports the one before it and one core module), and one test file per module
(`tests/<pkg>/test_<pkg>_<module>.py`, importing its module). Changing `pkg25/m5.py`
must select the test files of pkg25's m5..m9: 5 files, 100 tests. Then, per binary
(`--bin LABEL=PATH`, repeatable), interleaved rounds of

  list:            cargo-testflow testflow list --format json
  list --affected: cargo-testflow testflow list --affected --changed pkg25/m5.py --format json

How the selection is separated from pytest's collection: both commands run with
TESTFLOW_PYTHON set to a stand-in for the interpreter (a shell script) that replays
what the real Python answered to the same arguments the first time: its stdout, its
exit code and the collection file the pytest-testflow plugin writes ($TESTFLOW_COLLECT).
The collection of 10,000 tests then costs a file copy, not 6+ seconds of pytest, and
what is left is testflow's: its start, reading the collection, the import scan, the
decisions, history.db and the listing. `list --affected` minus `list` is the selection
step (it also replays one more collection and the `python -VV` of the fingerprint,
a few ms of shell). With --real-rounds N it also times `list --affected` with the real
Python, for what a user waits for.

    python3 bench/affected_scale.py --bin after=target/release/cargo-testflow \\
        [--bin before=/tmp/cargo-testflow-main] --python target/py-venv/bin/python \\
        [--rounds 5] [--real-rounds 0] [--out bench/work/affected-scale]

Wall and CPU time (user + sys of the process and its descendants) per round, medians;
the 1-minute load average after each round. Writes OUT/scale.json and prints Markdown.
Only the standard library is used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from isolation import run_one  # noqa: E402  (wall, CPU, exit of one interleaved run)

CHANGED = "pkg25/m5.py"
PACKAGES, MODULES, CORE = 49, 10, 10


def write(p: Path, text: str) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def generate(root: Path, tests: int) -> tuple[int, int]:
    """The project; (test files, tests)."""
    shutil.rmtree(root, ignore_errors=True)
    write(root / "pyproject.toml",
          '[tool.pytest.ini_options]\ntestpaths = ["tests"]\npythonpath = ["."]\n')
    write(root / "tests" / "conftest.py",
          "import pytest\n\n\n@pytest.fixture\ndef base():\n    return 1\n")
    write(root / "core" / "__init__.py", "")
    modules = []
    for k in range(CORE):
        up = f"from core.c{k - 1} import f as g\n" if k else "def g(x):\n    return x\n"
        write(root / "core" / f"c{k}.py", f"{up}\n\ndef f(x):\n    return g(x) + 1\n")
        modules.append(("core", f"c{k}"))
    for p in range(PACKAGES):
        pkg = f"pkg{p:02}"
        write(root / pkg / "__init__.py", "")
        for m in range(MODULES):
            # The module before it in the package, and a core module.
            prev = f"from {pkg}.m{m - 1} import f as g\n" if m else \
                f"from core.c{(p * 7 + m) % CORE} import f as g\n"
            write(root / pkg / f"m{m}.py",
                  f"import os\nfrom core import c{p % CORE}\n{prev}\n\n"
                  f"def f(x):\n    return g(x) + c{p % CORE}.f(0) * 0 + 1\n")
            modules.append((pkg, f"m{m}"))
    for pkg, mod in modules:
        body = [f"from {pkg}.{mod} import f\n"]
        body += [f"def test_{j}(base):\n    assert f({j}) > {j} - base\n" for j in range(tests)]
        write(root / "tests" / pkg / f"test_{pkg}_{mod}.py", "\n".join(body))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost",
                    "commit", "-qm", "generated"], cwd=root, check=True)
    return len(modules), len(modules) * tests


STAND_IN = """#!/bin/sh
# bench/affected_scale.py's stand-in for Python: the first call with some arguments runs
# the real interpreter and keeps its answer (stdout, exit code, and the collection file
# pytest-testflow writes to $TESTFLOW_COLLECT); later calls replay it.
cache='{cache}'
key=$(printf '%s\\n' "$@" | cksum | cut -d' ' -f1)
if [ ! -f "$cache/$key.rc" ]; then
    '{real}' "$@" > "$cache/$key.out"
    echo $? > "$cache/$key.rc"
    if [ -n "$TESTFLOW_COLLECT" ] && [ -f "$TESTFLOW_COLLECT" ]; then
        cp "$TESTFLOW_COLLECT" "$cache/$key.collect"
    fi
else
    if [ -n "$TESTFLOW_COLLECT" ] && [ -f "$cache/$key.collect" ]; then
        cp "$cache/$key.collect" "$TESTFLOW_COLLECT"
    fi
fi
cat "$cache/$key.out"
exit "$(cat "$cache/$key.rc")"
"""


def stand_in(out: Path, real: Path) -> Path:
    cache = out / "python-answers"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    path = out / "stand-in-python"
    path.write_text(STAND_IN.format(cache=cache, real=real))
    path.chmod(0o755)
    return path


def selected(stdout: str) -> tuple[int, int, set[str]]:
    """(selected tests, listed tests, selected files) of `list --affected --format json`."""
    tests = [t for s in json.loads(stdout) for t in s["test_list"]]
    sel = [t for t in tests if (t.get("affected") or {}).get("selected", True)]
    return len(sel), len(tests), {t["id"].split("::")[0] for t in sel}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", action="append", required=True, metavar="LABEL=PATH")
    ap.add_argument("--python", required=True, type=Path,
                    help="a Python with pytest and pytest-testflow")
    ap.add_argument("--tests", type=int, default=20, help="tests per file (500 files)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--real-rounds", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("bench/work/affected-scale"))
    args = ap.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    bins = [(label, Path(path).resolve()) for label, _, path in
            (b.partition("=") for b in args.bin)]
    root = out / "project"
    files, total = generate(root, args.tests)
    python = stand_in(out, args.python.absolute())
    env = dict(os.environ)
    # Timings: bytecode written as a user's runs write it; no colour, no backtraces.
    for k in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "RUST_BACKTRACE"):
        env.pop(k, None)
    env.update(CARGO_TERM_COLOR="never", NO_COLOR="1", TESTFLOW_PYTHON=str(python))
    envs = {label: dict(env, TESTFLOW_DIR=str(out / f"store-{label}")) for label, _ in bins}
    list_cmd = ["testflow", "list", "--format", "json"]
    affected_cmd = ["testflow", "list", "--affected", "--changed", CHANGED, "--format", "json"]
    want = {f"tests/pkg25/test_pkg25_m{m}.py" for m in range(5, MODULES)}
    for label, path in bins:
        shutil.rmtree(out / f"store-{label}", ignore_errors=True)
        # A run (whose filter matches no test) makes the history and records every
        # file's dependencies (`list` reads a history, it does not make one); then
        # `list --affected` must select exactly the expected files.
        subprocess.run([str(path), "testflow", "run", "--affected=record", "-q",
                        "no-test-has-this-name"], cwd=root, env=envs[label],
                       capture_output=True)
        for want_files in (want,):
            p = subprocess.run([str(path), *affected_cmd], cwd=root, env=envs[label],
                               capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"{label}: list --affected failed ({p.returncode}):\n{p.stderr}")
            n, listed, sel_files = selected(p.stdout)
            if listed != total or (want_files and sel_files != want_files):
                sys.exit(f"{label}: listed {listed} of {total}, selected {sorted(sel_files)}")
        print(f"{label}: {listed} tests in {files} files; {CHANGED} selects {n} tests"
              f" in {len(sel_files)} files", file=sys.stderr)
    cmds = [(f"{label} {name}", [str(path), *argv], envs[label])
            for label, path in bins
            for name, argv in (("list", list_cmd), ("list --affected", affected_cmd))]
    wall = {c[0]: [] for c in cmds}
    cpu = {c[0]: [] for c in cmds}
    loads = []
    for r in range(args.warmup + args.rounds):
        order = cmds if r % 2 == 0 else list(reversed(cmds))
        line = []
        for name, argv, e in order:
            w, u, code = run_one(argv, root, e)
            if code != 0:
                sys.exit(f"{name} exited {code}")
            line.append(f"{name}={w * 1000:.0f}ms/{u * 1000:.0f}cpu")
            if r >= args.warmup:
                wall[name].append(w)
                cpu[name].append(u)
        load = os.getloadavg()[0]
        if r >= args.warmup:
            loads.append(load)
        tag = "warmup" if r < args.warmup else f"round {r - args.warmup + 1}/{args.rounds}"
        print(f"  {tag} (load {load:.2f}): " + " ".join(line), file=sys.stderr, flush=True)
    real = {}
    real_env = {label: dict(e, TESTFLOW_PYTHON=str(args.python.absolute()))
                for label, e in envs.items()}
    for r in range(args.real_rounds):
        for label, path in (bins if r % 2 == 0 else list(reversed(bins))):
            w, u, code = run_one([str(path), *affected_cmd], root, real_env[label])
            real.setdefault(label, []).append((w, u, code))
            print(f"  real Python, {label}: {w:.2f}s/{u:.2f}cpu exit {code}",
                  file=sys.stderr, flush=True)
    med = lambda xs: round(statistics.median(xs) * 1000, 1)  # noqa: E731
    result = {
        "tests": total, "files": files, "changed": CHANGED, "nproc": os.cpu_count(),
        "loads": loads, "rounds": args.rounds,
        "results": [{"label": n, "wall_ms": wall[n], "cpu_ms": cpu[n],
                     "wall_median_ms": med(wall[n]), "cpu_median_ms": med(cpu[n])}
                    for n, _, _ in cmds],
        "real_python": {label: [{"wall_s": w, "cpu_s": u, "exit": c} for w, u, c in rows]
                        for label, rows in real.items()},
    }
    (out / "scale.json").write_text(json.dumps(result, indent=1))
    print(f"{total} tests in {files} files, `--changed {CHANGED}`; medians of"
          f" {args.rounds} interleaved rounds, load {min(loads):.1f}-{max(loads):.1f}"
          f" on {os.cpu_count()} cores\n")
    print("| binary | list ms (CPU) | list --affected ms (CPU) | selection: difference ms (CPU) |")
    print("|---|--:|--:|--:|")
    for label, _ in bins:
        a, b = f"{label} list", f"{label} list --affected"
        print(f"| {label} | {med(wall[a])} ({med(cpu[a])}) | {med(wall[b])} ({med(cpu[b])})"
              f" | {med(wall[b]) - med(wall[a]):.1f} ({med(cpu[b]) - med(cpu[a]):.1f}) |")
    for label, rows in real.items():
        print(f"\nreal Python, {label}: list --affected median"
              f" {statistics.median(w for w, _, _ in rows):.2f} s wall,"
              f" {statistics.median(u for _, u, _ in rows):.2f} s CPU")


if __name__ == "__main__":
    main()
