#!/usr/bin/env python3
"""Serial pytest, pytest-xdist and `cargo testflow run` (which chooses between them) side by
side, interleaved, median of N rounds, wall and CPU time (user + sys of the whole process
tree: pytest, its xdist workers, cargo-testflow).

    python bench/pytest_jobs.py [--repeat 5] [--python PATH] [--bin PATH] [--suite NAME]...
                                [--project DIR]...

PATH must have pytest, pytest-xdist and pytest-testflow installed (target/py-venv after
tests/run-all.sh). Generated suites (bench/work/pytest-jobs/, git-ignored):
- `trivial5000`: 5,000 `assert i == i` tests in 50 files (the issue's suite);
- `trivial1000`: 1,000 of them;
- `work2000`: 2,000 tests that each spin 2 ms (4 s of CPU work in all).
`--project DIR` adds a real suite (e.g. an unpacked sdist from tests/conformance).
A warm-up round runs first and is not counted; it also gives `cargo testflow run` the
history it decides from. Each round prints the workers decision the run recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def generate(root: Path, n: int, spin_s: float) -> None:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    body = "    assert {i} == {i}\n"
    if spin_s:
        body = f"    t = time.perf_counter()\n    while time.perf_counter() - t < {spin_s}:\n        pass\n" + body
    for f in range(0, n, 100):
        tests = "".join(f"def test_{i}():\n" + body.format(i=i) + "\n" for i in range(f, min(n, f + 100)))
        (root / f"test_gen_{f // 100:03}.py").write_text("import time\n\n" + tests)
    (root / "pytest.ini").write_text("[pytest]\n")


SUITES = {"trivial5000": (5000, 0.0), "trivial1000": (1000, 0.0), "work2000": (2000, 0.002)}


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("TESTFLOW_")}
    for k in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "RUST_BACKTRACE", "PYTEST_ADDOPTS"):
        e.pop(k, None)
    return e


def timed(cmd: list[str], cwd: Path, e: dict[str, str]) -> tuple[float, float, int, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=e, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, r.returncode, r.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--python", default=str(ROOT / "target/py-venv/bin/python"))
    ap.add_argument("--bin", default=str(ROOT / "target/release/cargo-testflow"))
    ap.add_argument("--suite", action="append", choices=sorted(SUITES))
    ap.add_argument("--project", action="append", default=[], type=Path)
    a = ap.parse_args()
    e = env()
    e["TESTFLOW_PYTHON"] = a.python
    work = ROOT / "bench/work/pytest-jobs"
    projects: list[Path] = []
    for name in a.suite or (sorted(SUITES) if not a.project else []):
        n, spin = SUITES[name]
        generate(work / name, n, spin)
        projects.append(work / name)
    projects += [p.resolve() for p in a.project]
    # The baseline is pytest as its user runs it: the installed plugins (xdist, the cache)
    # load. A lean pytest with them turned off is shown beside it for reference.
    py = [a.python, "-m", "pytest", "-q"]
    variants = {
        "pytest": py,
        "pytest -n 2": py + ["-n", "2"],
        "pytest, xdist and cache plugins off": py + ["-p", "no:cacheprovider", "-p", "no:xdist"],
        "cargo testflow run": [a.bin, "testflow", "run", "--quiet", "--format", "json"],
        "cargo testflow run -j 1": [a.bin, "testflow", "run", "--quiet", "-j", "1"],
    }
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cpus, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, "
          f"median of {a.repeat} interleaved rounds after 1 warm-up")
    for project in projects:
        shutil.rmtree(project / ".testflow", ignore_errors=True)
        results: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
        decisions = []
        for round_ in range(a.repeat + 1):
            names = list(variants) if round_ % 2 == 0 else list(reversed(variants))
            for name in names:
                wall, cpu, code, out = timed(variants[name], project, e)
                if code not in (0, 1, 100):
                    sys.exit(f"{name} in {project} exited {code}")
                if name == "cargo testflow run" and round_ > 0:
                    decisions.append(json.loads(out).get("workers", [{}])[0].get("reason"))
                if round_ > 0:
                    results[name].append((wall, cpu))
        base = statistics.median(w for w, _ in results["pytest"])
        base_cpu = statistics.median(c for _, c in results["pytest"])
        # The target: min(pytest, pytest -n auto) x 1.03.
        best = min(base, statistics.median(w for w, _ in results["pytest -n 2"]))
        print(f"\n{project.name}: cargo testflow run chose: {sorted(set(decisions))}")
        print("| variant | wall (s) | wall / pytest | wall / best of pytest, -n 2 | CPU (s) | CPU / pytest |")
        print("|---|--:|--:|--:|--:|--:|")
        for name, rs in results.items():
            w = statistics.median(x for x, _ in rs)
            c = statistics.median(y for _, y in rs)
            print(f"| {name} | {w:.2f} | {w / base:.2f} | {w / best:.2f} | {c:.2f} | {c / base_cpu:.2f} |")
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
