#!/usr/bin/env python3
"""The driver's own time around the framework it runs, from the kernel's process events.

    python3 bench/driver_timeline.py [--runs 7] [--cwd DIR] -- COMMAND...

Runs COMMAND (e.g. `cargo-testflow testflow run --quiet`) under `perf record -e
sched:sched_process_exec -e sched:sched_process_exit` (cheap, unlike strace) and prints,
per run and as medians:
- before: from the driver's exec to the first exec of a process that is not git (pytest's
  python, node, a test binary);
- after: from the last exit of such a process to the driver's exit (the fold, run.json,
  history, reports).
Wall-clock ratios on a noisy machine cannot resolve a few milliseconds; these can. Needs
`perf` (linux-perf) and permission to trace scheduler events (root, or
kernel.perf_event_paranoid <= 1). PYTHONDONTWRITEBYTECODE, PYTHONUNBUFFERED and
RUST_BACKTRACE are unset, as in the other benchmarks.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

EVENT = re.compile(r"\s*(\S+)\s+(\d+)/(\d+)\s+([\d.]+):\s+sched:sched_process_(exec|exit)")


def one(cmd, cwd, env, data):
    subprocess.run(
        ["perf", "record", "-q", "-o", data, "-e", "sched:sched_process_exec", "-e", "sched:sched_process_exit", "--", *cmd],
        cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
    )
    out = subprocess.run(["perf", "script", "-i", data, "-F", "comm,pid,tid,time,event"],
                         capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        m = EVENT.match(line)
        if m:
            rows.append((float(m.group(4)), m.group(1), int(m.group(2)), int(m.group(3)), m.group(5)))
    if not rows:
        sys.exit("perf recorded no process events (is perf allowed to trace here?)")
    driver, start = rows[0][2], rows[0][0]
    children = [r for r in rows if r[2] != driver and r[1] != "git"]
    execs = [r[0] for r in children if r[4] == "exec"]
    exits = [r[0] for r in children if r[4] == "exit" and r[2] == r[3]]
    ends = [r[0] for r in rows if r[2] == driver and r[4] == "exit"]
    if not execs or not exits or not ends:
        sys.exit("the command started no framework process")
    return 1000 * (min(execs) - start), 1000 * (max(ends) - max(exits)), 1000 * (max(ends) - start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--cwd", default=".")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        sys.exit("give the command to time after --")
    env = {k: v for k, v in os.environ.items()
           if k not in ("RUST_BACKTRACE", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "perf.data")
        one(cmd, a.cwd, env, data)  # warm-up, not counted
        for i in range(a.runs):
            before, after, total = one(cmd, a.cwd, env, data)
            results.append((before, after, total))
            print(f"run {i + 1}: before {before:6.1f} ms, after {after:6.1f} ms, total {total:7.0f} ms", flush=True)
    med = lambda k: statistics.median(r[k] for r in results)
    rng = lambda k: f"{min(r[k] for r in results):.1f}-{max(r[k] for r in results):.1f}"
    print(f"median: before {med(0):.1f} ms ({rng(0)}), after {med(1):.1f} ms ({rng(1)}), total {med(2):.0f} ms")


if __name__ == "__main__":
    main()
