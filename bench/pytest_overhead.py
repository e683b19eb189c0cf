#!/usr/bin/env python3
"""Per-test cost of the pytest-testflow plugin: plain pytest vs pytest --testflow.

Generates N trivial tests in a temporary directory and runs each variant R times
(alternating), reporting the median CPU time (user + sys) of the pytest process and the
overhead per test.

    python bench/pytest_overhead.py [--tests 2000] [--repeat 7] [--python PATH]

PATH must have pytest and pytest-testflow installed (e.g. target/py-venv/bin/python after
tests/run-all.sh). Variants: plain, --testflow, --testflow with json+junit reports,
plugin disabled entirely (-p no:testflow), and TESTFLOW_EVENTS (as driven by cargo testflow).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Set on the machine these were first taken on, not by users: PYTHONUNBUFFERED makes each
# of pytest's progress dots a write(2), PYTHONDONTWRITEBYTECODE re-rewrites asserts every run.
QUIRKS = ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "RUST_BACKTRACE")


def generate(root: Path, n: int) -> None:
    per_file = 100
    for f in range(0, n, per_file):
        body = "\n".join(f"def test_{i}():\n    assert {i} == {i}\n" for i in range(f, min(n, f + per_file)))
        (root / f"test_gen_{f // per_file:03}.py").write_text(body)
    (root / "pytest.ini").write_text("[pytest]\n")


def driver_log(root: Path) -> Path:
    log = root / "driver" / "events.jsonl"
    log.parent.mkdir(exist_ok=True)
    log.write_text(json.dumps({
        "event": "run_started", "schema_version": 1, "run_id": "bench", "time": "2026-01-01T00:00:00Z",
        "testflow_version": "bench", "environment": {"os": "linux", "arch": "x86_64"}, "frameworks": ["pytest"],
    }) + "\n")
    return log


def micro(python: str, n: int) -> None:
    """The plugin's engine calls for one passing test (logstart, 3 reports, logfinish),
    timed in-process without pytest: the floor of the per-test cost."""
    code = f"""
import tempfile, time
from testflow._native import Recorder
with tempfile.TemporaryDirectory() as d:
    rec = Recorder(d)
    ids = [f"tests/test_x.py::test_{{i}}" for i in range({n})]
    t0 = time.perf_counter()
    for nid in ids:
        rec.logstart(nid, 3)
        rec.report(nid, "setup", "passed", 0.0001)
        rec.report(nid, "call", "passed", 0.0001)
        rec.report(nid, "teardown", "passed", 0.0001)
        rec.logfinish(nid)
    t1 = time.perf_counter()
    rec.finish()
    t2 = time.perf_counter()
print(f"  engine calls per passing test: {{(t1 - t0) / {n} * 1e6:.1f}} µs; finish (fold + run.json) {{(t2 - t1) * 1e3:.1f}} ms")
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESTFLOW_")}
    subprocess.run([python, "-c", code], check=True, env=env)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tests", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--python", default=sys.executable)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        generate(root, a.tests)
        base = [a.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                "-p", "no:timeout", "-p", "no:rerunfailures"]
        variants = {
            "plugin not loaded (-p no:testflow)": (base + ["-p", "no:testflow"], {}),
            "plain (plugin installed, off)": (base, {}),
            "--testflow": (base + ["--testflow"], {}),
            "--junitxml (pytest's own JUnit)": (base + ["--junitxml=j.xml"], {}),
            "--testflow + junit report": (base + ["--testflow", "--testflow-report", "junit=r.xml"], {}),
            "--testflow + json + junit reports": (base + ["--testflow", "--testflow-report", "json=r.json",
                                                          "--testflow-report", "junit=r.xml"], {}),
            "TESTFLOW_EVENTS (driven)": (base, {"TESTFLOW_EVENTS": None}),
        }
        times: dict[str, list[float]] = {k: [] for k in variants}
        walls: dict[str, list[float]] = {k: [] for k in variants}
        order = list(variants.items())
        for i in range(a.repeat):
            # The order is reversed every other round, so drift does not favour one variant.
            for name, (cmd, extra) in (order if i % 2 == 0 else order[::-1]):
                env = {k: v for k, v in os.environ.items() if not k.startswith("TESTFLOW_") and k not in QUIRKS}
                if "TESTFLOW_EVENTS" in extra:
                    env["TESTFLOW_EVENTS"] = str(driver_log(root))
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                r = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
                walls[name].append(time.perf_counter() - t0)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                # CPU time (user + sys) of the pytest process: steadier than wall time on a
                # shared machine, and the plugin's cost is CPU (one append per event).
                times[name].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
                if r.returncode != 0:
                    sys.exit(f"{name} failed:\n{r.stdout}\n{r.stderr}")
        micro(a.python, a.tests)
        plain = statistics.median(times["plain (plugin installed, off)"])
        plain_wall = statistics.median(walls["plain (plugin installed, off)"])
        print(f"{a.tests} trivial tests, median CPU time (user + sys) and wall time of {a.repeat} interleaved runs"
              f" ({sys.platform}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f} at the end)")
        for name, ts in times.items():
            m = statistics.median(ts)
            w = statistics.median(walls[name])
            print(f"  {name:38} CPU median {m:7.3f}s (min {min(ts):6.3f} max {max(ts):6.3f}) {m / plain:5.3f}x"
                  f"  {(m - plain) / a.tests * 1e6:+7.1f} µs/test | wall median {w:6.3f}s {w / plain_wall:5.3f}x")


if __name__ == "__main__":
    main()
