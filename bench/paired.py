#!/usr/bin/env python3
"""Paired timing of two commands: A then B back to back, the ratio per pair, medians.

    bench/paired.py [--pairs 11] [--cwd DIR] [--env K=V ...] -- A... ::: B...

Each pair runs A and B once each, alternating which goes first (A B, B A, ...), with
output discarded. CPU is user + sys of the whole process tree that the command waited
for (what `/usr/bin/time -f "%U %S %e"` prints), wall is elapsed time. Prints each pair
and the medians of A, B and of B/A per pair, with the range of the ratios. The same
figures can be taken by hand: `/usr/bin/time -f "%U %S %e"` on each command, alternating.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time


def timed(argv, cwd, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    rc = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, rc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=11)
    ap.add_argument("--cwd", default=".")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if ":::" not in cmd:
        sys.exit("give two commands: A... ::: B...")
    i = cmd.index(":::")
    A, B = cmd[:i], cmd[i + 1:]
    env = dict(os.environ)
    for kv in a.env:
        k, _, v = kv.partition("=")
        env[k] = v
    # Set on the machine these were first taken on, not by users (PYTHONUNBUFFERED makes each
    # of pytest's progress dots its own write to a pipe).
    for k in ("RUST_BACKTRACE", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"):
        env.pop(k, None)
    for _ in range(a.warmup):
        timed(A, a.cwd, env)
        timed(B, a.cwd, env)
    rows = []
    for p in range(a.pairs):
        if p % 2 == 0:
            ra = timed(A, a.cwd, env)
            rb = timed(B, a.cwd, env)
        else:
            rb = timed(B, a.cwd, env)
            ra = timed(A, a.cwd, env)
        rows.append((ra, rb))
        load = os.getloadavg()[0]
        print(f"pair {p + 1:2d}: A cpu {ra[0]:6.2f} wall {ra[1]:6.2f} rc {ra[2]} | "
              f"B cpu {rb[0]:6.2f} wall {rb[1]:6.2f} rc {rb[2]} | "
              f"B/A cpu {rb[0] / ra[0]:.3f} wall {rb[1] / ra[1]:.3f} | load {load:.2f}",
              flush=True)
    med = statistics.median
    cr = [rb[0] / ra[0] for ra, rb in rows]
    wr = [rb[1] / ra[1] for ra, rb in rows]
    print(f"A: cpu {med(r[0][0] for r in rows):.3f} s, wall {med(r[0][1] for r in rows):.3f} s")
    print(f"B: cpu {med(r[1][0] for r in rows):.3f} s, wall {med(r[1][1] for r in rows):.3f} s")
    print(f"B/A per pair, median: cpu {med(cr):.3f} ({min(cr):.2f}-{max(cr):.2f}), "
          f"wall {med(wr):.3f} ({min(wr):.2f}-{max(wr):.2f})")


if __name__ == "__main__":
    main()
