#!/usr/bin/env python3
"""Replay a real repository's history through `cargo testflow run --affected`.

For each pair of consecutive first-parent commits C, C+1 of REPO it checks out C+1 in a
work copy and runs, with one testflow store for the whole replay (TESTFLOW_DIR, so
history carries over as it would for a user):

  affected: cargo-testflow testflow run --affected --since C --format json
  full:     cargo-testflow testflow run --affected=record --format json

(the full run at C+1 is the baseline of the next step; `record` because pytest's
dependencies are recorded only by `--affected` runs). It compares the fraction of tests
run, the wall time of each, and lists every test that failed in the full run but was not
selected (a miss: must be 0). Then it injects faults at the last commit (a mutated
function, a broken fixture, an edited data file, a changed manifest), each with its own
copy of the store, and checks the same thing. Last, it times the selection itself on a
generated pytest project of 10,000 tests.

    python3 bench/affected_replay.py --bin target/bin/cargo-testflow \\
        --repo /tmp/replay-boltons [--commits 30] [--end REV] [--framework pytest]

REPO is cloned into OUT/work (default bench/work/replay), never touched itself. pytest
needs a Python with pytest and pytest-testflow: --python VENV (sets VIRTUAL_ENV). Writes
OUT/replay.json and OUT/replay.md. Only the standard library is used.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

FAILING = {"failed", "error", "timeout", "crashed"}

# Faults per repository (by the work copy's origin name): (name, kind, path, old, new).
# kind "replace" swaps the first `old` for `new`; "append" adds `new` at the end.
# A repository without a profile gets only the manifest fault.
FAULTS = {
    "boltons": [
        ("a: mutate a function (is_uuid: != to ==)", "replace", "boltons/strutils.py",
         "if version and obj.version != int(version):",
         "if version and obj.version == int(version):"),
        ("b: break a fixture (autouse fixture in conftest.py raises)", "append",
         "tests/conftest.py", "",
         "\n\nimport pytest\n\n\n@pytest.fixture(autouse=True)\n"
         "def _injected_fault():\n    raise RuntimeError('injected fixture fault')\n"),
        ("c: edit a data file a test reads (tests/jsonl_test_data.txt)", "replace",
         "tests/jsonl_test_data.txt", '{"1": 1}', '{"1": 100}'),
        ("d: change the manifest (pyproject.toml)", "append", "pyproject.toml", "",
         "\n# injected: a manifest change\n"),
        # c again, with the data files declared: testflow.toml committed first.
        ("c': c with `[affected] always_run = [\"tests/*.txt\"]` committed first", "replace",
         "tests/jsonl_test_data.txt", '{"1": 1}', '{"1": 100}',
         {"testflow.toml": '[affected]\nalways_run = ["tests/*.txt"]\n'}),
    ],
}
DEFAULT_FAULTS = [FAULTS["boltons"][3]]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, text=True,
                          capture_output=True).stdout.strip()


class Runner:
    def __init__(self, binary: Path, work: Path, framework: str, log: Path):
        self.binary, self.work, self.framework, self.log = binary, work, framework, log
        self.env = dict(os.environ)
        # Timings: write bytecode as a user would; no colour, no backtraces.
        for k in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "RUST_BACKTRACE"):
            self.env.pop(k, None)
        self.env["CARGO_TERM_COLOR"] = "never"

    def run(self, store: Path, *args: str) -> dict:
        """One `testflow run`; its JSON with the wall time and exit code added."""
        cmd = [str(self.binary), "testflow", "run", "--framework", self.framework,
               "--format", "json", "-q", *args]
        env = dict(self.env, TESTFLOW_DIR=str(store))
        t0 = time.perf_counter()
        p = subprocess.run(cmd, cwd=self.work, env=env, text=True, capture_output=True)
        wall = time.perf_counter() - t0
        with self.log.open("a") as f:
            f.write(f"$ {' '.join(cmd)}  (cwd {self.work}, exit {p.returncode}, {wall:.2f}s)\n")
            f.write(p.stderr)
        try:
            doc = json.loads(p.stdout)
        except json.JSONDecodeError:
            doc = {}
        doc["_wall_s"], doc["_exit"], doc["_cmd"] = wall, p.returncode, cmd
        doc["_plan_s"] = plan_seconds(store, doc.get("run_id"))
        return doc


def plan_seconds(store: Path, run_id) -> float | None:
    """Seconds from the run's start to its `affected` event: the change set, pytest's
    --collect-only and the selection, before any test runs (from the event log)."""
    if not run_id:
        return None
    start = decided = None
    try:
        for line in (store / "runs" / run_id / "events.jsonl").open():
            ev = json.loads(line)
            if ev.get("event") == "run_started":
                start = ev["time"]
            elif ev.get("event") == "affected" and decided is None:
                decided = ev["time"]
    except (OSError, ValueError, KeyError):
        return None
    if not (start and decided):
        return None
    return round(stamp(decided) - stamp(start), 3)


def stamp(t: str) -> float:
    # RFC 3339 with nanoseconds: keep microseconds for fromisoformat.
    date, _, frac = t.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{date}.{(frac + '000000')[:6]}+00:00").timestamp()


def failing(doc: dict) -> set[str]:
    return {t["id"] for t in doc.get("tests", []) if t.get("outcome") in FAILING}


def ran(doc: dict) -> set[str]:
    return {t["id"] for t in doc.get("tests", [])}


def compare(full: dict, aff: dict) -> dict:
    """The comparison of one affected run with the full run at the same tree."""
    a = aff.get("affected") or {}
    n_full = len(ran(full))
    n_aff = len(ran(aff))
    missed = sorted(failing(full) - ran(aff))
    selected = [g for g in a.get("groups", []) if g.get("selected")]
    rules: dict[str, int] = {}
    for g in selected:
        rules[g["rule"]] = rules.get(g["rule"], 0) + 1
    return {
        "tests_full": n_full,
        "tests_affected": n_aff,
        "fraction": (n_aff / n_full) if n_full else None,
        "wall_full_s": round(full["_wall_s"], 3),
        "wall_affected_s": round(aff["_wall_s"], 3),
        "plan_affected_s": aff["_plan_s"],
        "plan_full_s": full["_plan_s"],
        "exit_full": full["_exit"],
        "exit_affected": aff["_exit"],
        "failed_full": sorted(failing(full)),
        "failed_affected": sorted(failing(aff)),
        "missed": missed,
        "full_run": a.get("full_run"),
        "changed": [c["path"] for c in a.get("changed", [])],
        "selected_groups": {g["group"]: g["rule"] for g in selected},
        "rules": rules,
        "workers_affected": (aff.get("workers") or {}),
    }


def is_test_path(p: str) -> bool:
    parts = p.split("/")
    return any(x in ("tests", "test", "testing") for x in parts[:-1]) or \
        parts[-1].startswith("test_") or parts[-1].endswith("_test.py")


def code_files(paths: list[str], framework: str) -> list[str]:
    ext = ".py" if framework == "pytest" else ".rs"
    return [p for p in paths if p.endswith(ext) and not is_test_path(p)]


def replay(args, runner: Runner, out: Path) -> list[dict]:
    work = runner.work
    end = git(work, "rev-parse", args.end)
    commits = git(work, "rev-list", "--first-parent", "--reverse",
                  f"--max-count={args.commits + 1}", end).split()
    if len(commits) < 2:
        sys.exit(f"affected_replay: {args.end} has fewer than 2 first-parent commits")
    store = out / "store"
    shutil.rmtree(store, ignore_errors=True)
    git(work, "checkout", "-q", "-f", commits[0])
    base = runner.run(store, "--affected=record")
    print(f"baseline {commits[0][:10]}: {len(ran(base))} tests, {base['_wall_s']:.1f}s,"
          f" exit {base['_exit']}", file=sys.stderr)
    rows = []
    for c, c1 in zip(commits, commits[1:]):
        git(work, "checkout", "-q", "-f", c1)
        git(work, "clean", "-q", "-fd")
        aff = runner.run(store, "--affected", "--since", c, *args.affected_args)
        full = runner.run(store, "--affected=record")
        row = compare(full, aff)
        diff = git(work, "diff", "--name-only", c, c1).splitlines()
        row.update(commit=c1, parent=c, subject=git(work, "log", "-1", "--format=%s", c1),
                   files=diff, code_files=code_files(diff, args.framework))
        rows.append(row)
        frac = "n/a" if row["fraction"] is None else f"{row['fraction']:.0%}"
        print(f"{c1[:10]} {frac:>5} of {row['tests_full']} tests  affected"
              f" {row['wall_affected_s']:.1f}s  full {row['wall_full_s']:.1f}s  missed"
              f" {len(row['missed'])}  exits {row['exit_affected']}/{row['exit_full']}",
              file=sys.stderr)
    return rows


def apply_fault(work: Path, kind: str, path: str, old: str, new: str) -> None:
    f = work / path
    text = f.read_text()
    if kind == "replace":
        if old not in text:
            raise SystemExit(f"affected_replay: fault text not found in {path}: {old!r}")
        text = text.replace(old, new, 1)
    else:
        text += new
    f.write_text(text)


def faults(args, runner: Runner, out: Path) -> list[dict]:
    work = runner.work
    name = Path(git(work, "remote", "get-url", "origin")).name.removesuffix(".git")
    profile = FAULTS.get(name.removeprefix("replay-"), DEFAULT_FAULTS)
    end = git(work, "rev-parse", args.end)
    rows = []
    for label, kind, path, old, new, *setup in profile:
        git(work, "checkout", "-q", "-f", end)
        git(work, "clean", "-q", "-fd")
        # A copy of the replay's store per fault: one fault's failures must not be the
        # next fault's "failed last run".
        store = out / "store-fault"
        shutil.rmtree(store, ignore_errors=True)
        shutil.copytree(out / "store", store)
        base = end
        if setup:
            # Files committed (in the work copy) before the fault, then a full run there.
            for rel, text in setup[0].items():
                (work / rel).write_text(text)
                git(work, "add", rel)
            git(work, "-c", "user.name=replay", "-c", "user.email=replay@localhost",
                "commit", "-q", "-m", "replay: fault set-up")
            base = git(work, "rev-parse", "HEAD")
            runner.run(store, "--affected=record")
        apply_fault(work, kind, path, old, new)
        aff = runner.run(store, "--affected", "--since", base, *args.affected_args)
        full = runner.run(store)
        row = compare(full, aff)
        row.update(fault=label, path=path)
        rows.append(row)
        print(f"fault {label}: {row['tests_affected']}/{row['tests_full']} run,"
              f" {len(row['failed_full'])} failing in full, missed {len(row['missed'])},"
              f" full_run={row['full_run']!r}", file=sys.stderr)
    git(work, "checkout", "-q", "-f", end)
    return rows


def synthetic(args, runner: Runner, out: Path) -> dict:
    """Selection time at 10,000 tests: wall time of an `--affected` run that selects
    nothing (no runner starts), minus the same on a 1-file project (the fixed cost)."""
    res = {}
    for label, files in (("10000 tests, 200 files", 200), ("50 tests, 1 file", 1)):
        root = out / f"synthetic-{files}"
        shutil.rmtree(root, ignore_errors=True)
        (root / "pkg").mkdir(parents=True)
        (root / "tests").mkdir()
        (root / "pkg" / "__init__.py").write_text("")
        (root / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")
        (root / "README.txt").write_text("not a dependency of any test\n")
        for i in range(files):
            (root / "pkg" / f"mod_{i:03}.py").write_text(f"def f(x):\n    return x + {i}\n")
            body = [f"from pkg.mod_{i:03} import f\n"]
            body += [f"def test_{j}():\n    assert f({j}) == {j} + {i}\n" for j in range(50)]
            (root / "tests" / f"test_{i:03}.py").write_text("\n".join(body))
        sub = Runner(runner.binary, root, "pytest", runner.log)
        sub.env = runner.env
        store = root / ".store"
        rec = sub.run(store, "--affected=record")
        walls, sel, plans = [], [], []
        for _ in range(args.synthetic_rounds):
            d = sub.run(store, "--affected", "--changed", "README.txt")
            walls.append(d["_wall_s"])
            one = sub.run(store, "--affected", "--changed", "pkg/mod_000.py")
            sel.append((one["_wall_s"], len(ran(one)), one["_exit"]))
            plans.append(d["_plan_s"])
        # pytest's own --collect-only of the same project: the part of the planning time
        # that is pytest's, not the selection's.
        py = Path(runner.env["VIRTUAL_ENV"]) / "bin" / "python" \
            if runner.env.get("VIRTUAL_ENV") else Path(sys.executable)
        collect = []
        for _ in range(args.synthetic_rounds):
            t0 = time.perf_counter()
            subprocess.run([str(py), "-m", "pytest", "--collect-only", "-q",
                            "-p", "no:cacheprovider"], cwd=root, env=runner.env,
                           capture_output=True)
            collect.append(time.perf_counter() - t0)
        res[label] = {
            "pytest_collect_only_median_s": round(statistics.median(collect), 3),
            "plan_median_s": round(statistics.median(p for p in plans if p is not None), 3)
            if any(p is not None for p in plans) else None,
            "record_tests": len(ran(rec)), "record_wall_s": round(rec["_wall_s"], 2),
            "record_exit": rec["_exit"],
            "nothing_selected_wall_s": [round(w, 3) for w in walls],
            "nothing_selected_median_s": round(statistics.median(walls), 3),
            "nothing_selected_plan_s": plans,
            "one_file_changed": [{"wall_s": round(w, 3), "tests": n, "exit": e}
                                 for w, n, e in sel],
        }
        print(f"synthetic {label}: record {len(ran(rec))} tests {rec['_wall_s']:.1f}s;"
              f" nothing selected median {statistics.median(walls) * 1000:.0f} ms",
              file=sys.stderr)
    return res


def pct(x):
    return "n/a" if x is None else f"{x:.0%}"


def markdown(meta: dict, rows: list[dict], fault_rows: list[dict], synth: dict) -> str:
    out = [f"# `--affected` replay: {meta['repo']} ({meta['range']})", "",
           f"testflow {meta['bin_version']}, {meta['framework']}, {meta['nproc']} cores,"
           f" load average at start {meta['loadavg']}", ""]
    out += ["| commit | code files | changed | tests run | fraction | affected s | full s"
            " | failed (full) | missed | why |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        why = r["full_run"] or ", ".join(f"{k} {v}" for k, v in sorted(r["rules"].items())) \
            or "nothing affected"
        out.append(f"| {r['commit'][:8]} {r['subject'][:40]} | {len(r['code_files'])} |"
                   f" {len(r['files'])} | {r['tests_affected']}/{r['tests_full']} |"
                   f" {pct(r['fraction'])} | {r['wall_affected_s']:.1f} |"
                   f" {r['wall_full_s']:.1f} | {len(r['failed_full'])} |"
                   f" {len(r['missed'])} | {why} |")
    s = meta["summary"]
    out += ["", f"- steps: {s['steps']}; one-code-file steps: {s['one_file_steps']},"
            f" median fraction run {pct(s['median_fraction_one_file'])};"
            f" all steps median {pct(s['median_fraction_all'])}",
            f"- missed failures: {s['missed']} (failures in full runs: {s['failures_full']})",
            f"- wall: affected {s['wall_affected_s']:.1f} s vs full {s['wall_full_s']:.1f} s"
            f" ({pct(s['time_saved'])} saved)", ""]
    if fault_rows:
        out += ["| fault | tests run | failing (full) | missed | full run? |",
                "|---|---|---|---|---|"]
        for r in fault_rows:
            out.append(f"| {r['fault']} | {r['tests_affected']}/{r['tests_full']} |"
                       f" {len(r['failed_full'])} | {len(r['missed'])} |"
                       f" {r['full_run'] or 'no'} |")
        out.append("")
    for label, v in synth.items():
        out.append(f"- synthetic {label}: `--affected` selecting nothing, median"
                   f" {v['nothing_selected_median_s'] * 1000:.0f} ms wall, planning"
                   f" {v.get('plan_median_s')} s, pytest --collect-only alone"
                   f" {v.get('pytest_collect_only_median_s')} s"
                   f" ({v['nothing_selected_wall_s']}); one file changed:"
                   f" {v['one_file_changed']}")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, type=Path, help="the cargo-testflow binary")
    ap.add_argument("--repo", required=True, type=Path, help="a git repository (not modified)")
    ap.add_argument("--commits", type=int, default=30, help="steps to replay (default 30)")
    ap.add_argument("--end", default="HEAD", help="the last commit of the range (default HEAD)")
    ap.add_argument("--framework", choices=["pytest", "rust"], default="pytest")
    ap.add_argument("--python", type=Path, help="a venv with pytest and pytest-testflow")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "work" / "replay")
    ap.add_argument("--affected-args", type=shlex.split, default=[],
                    help="more arguments for the affected runs only: --affected-args='-j 1'")
    ap.add_argument("--no-faults", action="store_true")
    ap.add_argument("--no-synthetic", action="store_true")
    ap.add_argument("--synthetic-rounds", type=int, default=5)
    ap.add_argument("--only-synthetic", action="store_true",
                    help="only the 10,000-test selection timing (OUT/synthetic.json)")
    args = ap.parse_args()
    if args.commits < 1:
        ap.error("--commits must be at least 1")

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", str(args.repo.resolve()), str(work)], check=True)
    log = out / "replay.log"
    log.write_text("")
    runner = Runner(args.bin.resolve(), work, args.framework, log)
    if args.python:
        runner.env["VIRTUAL_ENV"] = str(args.python.resolve())

    if args.only_synthetic:
        synth = synthetic(args, runner, out)
        (out / "synthetic.json").write_text(json.dumps(synth, indent=1))
        print(json.dumps(synth, indent=1))
        return
    rows = replay(args, runner, out)
    (out / "replay-steps.json").write_text(json.dumps(rows, indent=1))  # kept if a later part fails
    fault_rows = [] if args.no_faults else faults(args, runner, out)
    synth = {} if args.no_synthetic or args.framework != "pytest" else \
        synthetic(args, runner, out)

    fr = [r["fraction"] for r in rows if r["fraction"] is not None]
    one = [r["fraction"] for r in rows if len(r["code_files"]) == 1 and r["fraction"] is not None]
    wa = sum(r["wall_affected_s"] for r in rows)
    wf = sum(r["wall_full_s"] for r in rows)
    meta = {
        "repo": str(args.repo), "framework": args.framework,
        "range": f"{rows[0]['parent'][:10]}..{rows[-1]['commit'][:10]}",
        "affected_args": args.affected_args,
        "bin_version": subprocess.run([str(args.bin), "--version"], text=True,
                                      capture_output=True).stdout.strip(),
        "nproc": os.cpu_count(), "loadavg": Path("/proc/loadavg").read_text().split()[:3]
        if Path("/proc/loadavg").exists() else None,
        "summary": {
            "steps": len(rows), "one_file_steps": len(one),
            "median_fraction_one_file": statistics.median(one) if one else None,
            "median_fraction_all": statistics.median(fr) if fr else None,
            "missed": sum(len(r["missed"]) for r in rows),
            "failures_full": sum(len(r["failed_full"]) for r in rows),
            "wall_affected_s": wa, "wall_full_s": wf,
            "time_saved": (1 - wa / wf) if wf else None,
            "fault_missed": sum(len(r["missed"]) for r in fault_rows),
        },
    }
    (out / "replay.json").write_text(json.dumps(
        {"meta": meta, "steps": rows, "faults": fault_rows, "synthetic": synth}, indent=1))
    md = markdown(meta, rows, fault_rows, synth)
    (out / "replay.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
