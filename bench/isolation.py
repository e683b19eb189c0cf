#!/usr/bin/env python3
"""Time commands against one workspace, interleaved, with wall and CPU time.

Used by isolation.sh. Each round runs every command once, alternating the order
(A B C, then C B A, ...) so drift of a shared machine does not favour one
command. Wall time is perf_counter around the process; CPU time is user + sys
of the process and every descendant it waited for (os.wait4's rusage), which
is much less sensitive to other load on the machine than wall time.

Input: a JSON file [{"label": str, "argv": [str, ...]}, ...].
Output (--out): {"results": [{"label", "median", "cpu_median", "times",
"cpu", "exit_codes"}], "loads": [1-minute load average after each timed round]};
a line per round on stderr.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def run_one(argv, cwd, env=None):
    """(wall s, CPU s of it and its descendants, exit code) of one run, output dropped."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_utime + ru.ru_stime, p.returncode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("spec")
    ap.add_argument("--cwd", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    cmds = json.load(open(args.spec))
    wall = {c["label"]: [] for c in cmds}
    cpu = {c["label"]: [] for c in cmds}
    codes = {c["label"]: [] for c in cmds}
    loads = []
    for r in range(args.warmup + args.runs):
        order = cmds if r % 2 == 0 else list(reversed(cmds))
        warm = r < args.warmup
        line = []
        for c in order:
            w, u, code = run_one(c["argv"], args.cwd)
            line.append(f"{c['label']}={w:.2f}s/{u:.2f}cpu" + (f"(exit {code})" if code else ""))
            if not warm:
                wall[c["label"]].append(w)
                cpu[c["label"]].append(u)
                codes[c["label"]].append(code)
        tag = "warmup" if warm else f"run {r - args.warmup + 1}/{args.runs}"
        with open("/proc/loadavg") as f:
            load = f.read().split()[0]
        if not warm:
            loads.append(float(load))
        print(f"  {tag} (load {load}): " + " ".join(line), file=sys.stderr, flush=True)
    res = [{"label": c["label"], "argv": c["argv"],
            "median": statistics.median(wall[c["label"]]),
            "cpu_median": statistics.median(cpu[c["label"]]),
            "times": wall[c["label"]], "cpu": cpu[c["label"]],
            "exit_codes": codes[c["label"]]} for c in cmds]
    json.dump({"results": res, "loads": loads}, open(args.out, "w"), indent=1)


if __name__ == "__main__":
    main()
