#!/usr/bin/env python3
"""Time several commands against one workspace, interleaved, and report medians.

Used by run.sh. Each round runs every command once; rounds alternate the
command order (A B C D, then D C B A, ...) so slow drift of the machine
(thermal, page cache, background jobs) does not favour whichever command
always runs first. A round is timed by hyperfine (`--runs 1`, no shell)
when it is installed, otherwise by a plain perf_counter loop here.

Input: a JSON file [{"label": str, "argv": [str, ...]}, ...].
Output: JSON {"results": [{"label", "median", "min", "max", "times",
"exit_codes"}]} on --out, and a short log on stderr.
"""

import argparse
import json
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def run_round_hyperfine(cmds, cwd):
    """One run of each command via hyperfine; returns [(seconds, exit_code)]."""
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        argv = ["hyperfine", "--runs", "1", "-N", "--ignore-failure",
                "--style", "none", "--export-json", f.name]
        argv += [shlex.join(c["argv"]) for c in cmds]
        subprocess.run(argv, cwd=cwd, check=True,
                       stdout=subprocess.DEVNULL)
        data = json.load(open(f.name))
    return [(r["times"][0], r["exit_codes"][0]) for r in data["results"]]


def run_round_python(cmds, cwd):
    """Fallback: wall-clock each command with output discarded."""
    out = []
    for c in cmds:
        t0 = time.perf_counter()
        p = subprocess.run(c["argv"], cwd=cwd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        out.append((time.perf_counter() - t0, p.returncode))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("spec", help="JSON list of {label, argv}")
    ap.add_argument("--cwd", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1,
                    help="rounds run first and discarded")
    ap.add_argument("--out", required=True)
    ap.add_argument("--no-hyperfine", action="store_true")
    args = ap.parse_args()

    cmds = json.load(open(args.spec))
    use_hf = shutil.which("hyperfine") and not args.no_hyperfine
    run_round = run_round_hyperfine if use_hf else run_round_python
    print(f"  timer: {'hyperfine' if use_hf else 'python perf_counter'}",
          file=sys.stderr)

    times = {c["label"]: [] for c in cmds}
    codes = {c["label"]: [] for c in cmds}
    for r in range(args.warmup + args.runs):
        order = cmds if r % 2 == 0 else list(reversed(cmds))
        results = run_round(order, args.cwd)
        warm = r < args.warmup
        line = []
        for c, (t, code) in zip(order, results):
            line.append(f"{c['label']}={t:.2f}s" + (f"(exit {code})" if code else ""))
            if not warm:
                times[c["label"]].append(t)
                codes[c["label"]].append(code)
        tag = "warmup" if warm else f"run {r - args.warmup + 1}/{args.runs}"
        print(f"  {tag}: " + " ".join(line), file=sys.stderr)

    res = [{"label": c["label"], "argv": c["argv"],
            "median": statistics.median(times[c["label"]]),
            "min": min(times[c["label"]]), "max": max(times[c["label"]]),
            "times": times[c["label"]], "exit_codes": codes[c["label"]]}
           for c in cmds]
    json.dump({"timer": "hyperfine" if use_hf else "python",
               "results": res}, open(args.out, "w"), indent=1)


if __name__ == "__main__":
    main()
