"""History, shards and merging for pytest: the distributed path on one machine.

Four shards run as four parallel processes (two of them under xdist), `cargo testflow
merge` joins them, and the merge must equal the unsharded run: same tests, same outcomes,
every test in exactly one shard.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import by_id

BIN = os.environ.get("TESTFLOW_BIN")
needs_bin = pytest.mark.skipif(not BIN, reason="set TESTFLOW_BIN to the built cargo-testflow")

SLOW = ("tests/test_slow.py::test_slowest", "tests/test_slow.py::test_slow")
FAILED = {
    "tests/test_params.py::test_n[7]",
    "tests/test_mixed.py::test_fails",
    "tests/test_mixed.py::test_setup_error",
}


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESTFLOW_")}
    for k in ("CI_NODE_INDEX", "CI_NODE_TOTAL", "CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL",
              "BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT", "PYTEST_ADDOPTS"):
        env.pop(k, None)
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


def pytest_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]


def cargo_testflow(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = clean_env({"TESTFLOW_PYTHON": sys.executable})
    return subprocess.run([BIN, "testflow", *args], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def outcomes(run: dict) -> dict[str, str]:
    return {t["id"]: t["outcome"] for t in by_id(run).values()}


def load_runs(root: Path) -> list[dict]:
    runs = sorted((root / ".testflow" / "runs").iterdir())
    return [json.loads((r / "run.json").read_text()) for r in runs]


def parallel(root: Path, commands: list[list[str]], env: dict[str, str] | None = None) -> list[subprocess.CompletedProcess]:
    procs = [
        subprocess.Popen(c, cwd=root, env=clean_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    out = []
    for c, p in zip(commands, procs):
        stdout, stderr = p.communicate(timeout=300)
        out.append(subprocess.CompletedProcess(c, p.returncode, stdout, stderr))
    return out


def check_shards(full: dict, shards: list[dict], strategy: str) -> None:
    seen: dict[str, int] = {}
    for k, run in enumerate(shards, start=1):
        assert run["shard"] == {"index": k, "total": 4, "strategy": strategy}
        for t in run["tests"]:
            assert t["id"] not in seen, f"{t['id']} ran in shards {seen[t['id']]} and {k}"
            seen[t["id"]] = k
    assert set(seen) == set(outcomes(full)), "every test ran in exactly one shard"
    if strategy == "timings":
        assert seen[SLOW[0]] != seen[SLOW[1]], "the two slow tests go to different shards"


def test_four_parallel_pytest_shards_merge_into_the_unsharded_run(project):
    p = project("pytest-shard")
    r = subprocess.run(pytest_cmd("--testflow"), cwd=p.root, env=clean_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    (full,) = load_runs(p.root)
    assert "shard" not in full
    assert len(full["tests"]) == 25
    assert {i for i, o in outcomes(full).items() if o in ("failed", "error")} == FAILED

    # The unsharded run is in history now: the shards plan by its timings.
    commands = [
        pytest_cmd("--testflow", f"--testflow-shard={k}/4", *(["-n", "2"] if k <= 2 else []))
        for k in range(1, 5)
    ]
    results = parallel(p.root, commands)
    for k, r in enumerate(results, start=1):
        assert r.returncode in (0, 1), f"shard {k}: {r.stdout}{r.stderr}"
        assert f"testflow: shard {k}/4 (timings)" in r.stdout, r.stdout
    shards = sorted(load_runs(p.root)[1:], key=lambda run: run["shard"]["index"])
    assert len(shards) == 4
    check_shards(full, shards, "timings")
    for k, r in enumerate(results[:2], start=1):  # under xdist: the count the workers kept
        assert f"testflow: shard {k}/4 (timings): {len(shards[k - 1]['tests'])} tests" in r.stdout, r.stdout
    for k, r in enumerate(results[2:], start=3):  # xdist's controller does not count deselections
        ran = len(shards[k - 1]["tests"])
        assert f"{25 - ran} deselected" in r.stdout, r.stdout
        assert f"testflow: shard {k}/4 (timings): {ran} of 25 tests" in r.stdout, r.stdout

    if BIN:
        out = p.root / "merged"
        m = cargo_testflow(p.root, "merge", *[s["run_id"] for s in shards], "-o", str(out), "--format", "json")
        assert m.returncode == 100, m.stderr
        merged = json.loads(m.stdout)
        assert outcomes(merged) == outcomes(full), "same tests, same outcomes"
        assert merged["completed"] is True
        assert not [e for e in merged.get("errors", []) if e["kind"] in ("duplicate", "missing")]


@pytest.mark.parametrize("xdist", [False, True])
def test_an_empty_shard_exits_0_with_a_clear_line(project, xdist):
    p = project("pytest-shard")
    args = ["--testflow", "--testflow-shard=3/3", "--testflow-shard-strategy=count", "-k", "test_q1"]
    if xdist:
        args += ["-n", "2"]
    r = subprocess.run(pytest_cmd(*args), cwd=p.root, env=clean_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "testflow: shard 3/3 has no tests to run: nothing to do" in r.stdout
    (run,) = load_runs(p.root)
    assert run["shard"] == {"index": 3, "total": 3, "strategy": "count"}
    assert run["summary"]["total"] == 0


def test_shards_come_from_the_ci_variables_when_recording(project):
    p = project("pytest-shard")
    env = {"CI_NODE_INDEX": "2", "CI_NODE_TOTAL": "3"}
    r = subprocess.run(pytest_cmd("--testflow"), cwd=p.root, env=clean_env(env), capture_output=True, text=True, timeout=300)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    (run,) = load_runs(p.root)
    assert run["shard"] == {"index": 2, "total": 3, "strategy": "hash"}, "no history yet: hash"
    assert 0 < len(run["tests"]) < 25
    # Without --testflow the plugin stays out of the way.
    r = subprocess.run(pytest_cmd("-q"), cwd=p.root, env=clean_env(env), capture_output=True, text=True, timeout=300)
    assert "deselected" not in r.stdout
    assert "20 passed" in r.stdout, r.stdout


def test_bad_shard_options_are_usage_errors(project):
    p = project("pytest-shard")
    r = subprocess.run(pytest_cmd("--testflow-shard=5/4"), cwd=p.root, env=clean_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 4, r.stdout + r.stderr
    assert "need 1 <= K <= N" in r.stderr
    r = subprocess.run(pytest_cmd("--testflow"), cwd=p.root, env=clean_env({"TESTFLOW_SHARD": "x"}), capture_output=True, text=True, timeout=300)
    assert r.returncode == 4
    assert "a shard is K/N" in r.stderr


def collected(root: Path, *args: str) -> list[str]:
    r = subprocess.run(pytest_cmd("--collect-only", "-q", *args), cwd=root, env=clean_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return [line for line in r.stdout.splitlines() if "::" in line]


def test_order_and_last_failed_come_from_history(project):
    p = project("pytest-shard")
    r = subprocess.run(pytest_cmd("--testflow"), cwd=p.root, env=clean_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr

    assert collected(p.root, "--testflow-order=slowest-first")[:2] == list(SLOW)
    fastest = collected(p.root, "--testflow-order=fastest-first")
    # Tests without a recorded duration (the skipped one) come after the known ones.
    assert fastest[-3:] == [SLOW[1], SLOW[0], "tests/test_mixed.py::test_skipped"]
    assert set(collected(p.root, "--testflow-order=failed-first")[:3]) == FAILED
    assert set(collected(p.root, "--testflow-last-failed")) == FAILED

    # Run only the failures (under xdist too): the new run has exactly them.
    r = subprocess.run(pytest_cmd("--testflow", "--testflow-last-failed", "-n", "2"), cwd=p.root, env=clean_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    assert set(outcomes(load_runs(p.root)[-1])) == FAILED


@needs_bin
def test_cargo_testflow_run_shards_a_pytest_project(project):
    p = project("pytest-shard")
    r = cargo_testflow(p.root, "run", "--format", "json", "-q")
    assert r.returncode == 100, r.stderr
    full = json.loads(r.stdout)
    assert len(full["tests"]) == 25

    # --last-failed and --order reach the plugin (the newest run is the full one).
    lf = cargo_testflow(p.root, "run", "--last-failed", "--order", "slowest-first", "--format", "json", "-q")
    assert lf.returncode == 100, lf.stderr
    assert set(outcomes(json.loads(lf.stdout))) == FAILED

    results = parallel(
        p.root,
        [[BIN, "testflow", "run", "-j", "2", "--shard", f"{k}/4", "--format", "json", "-q"] for k in range(1, 5)],
        env={"TESTFLOW_PYTHON": sys.executable},
    )
    shards = []
    for k, r in enumerate(results, start=1):
        assert r.returncode in (0, 100), f"shard {k}: {r.stderr}"
        shards.append(json.loads(r.stdout))
    check_shards(full, shards, "timings")

    # `shard plan` predicts exactly what each `run --shard` ran (same history, same rules),
    # and the plan serves as the expected test list for the merge.
    plan = cargo_testflow(p.root, "shard", "plan", "--shards", "4", "--format", "json")
    assert plan.returncode == 0, plan.stderr
    planned = json.loads(plan.stdout)
    assert planned["strategy"] == "timings"
    assert [s["framework"] for s in planned["suites"]] == ["pytest"]
    for s, shard in zip(planned["shards"], shards):
        assert sorted(s["tests"]) == sorted(t["id"] for t in shard["tests"])
    (p.root / "plan.json").write_text(plan.stdout)

    out = p.root / "merged"
    m = cargo_testflow(p.root, "merge", *[s["run_id"] for s in shards], "-o", str(out), "--format", "json",
                       "--expected", str(p.root / "plan.json"))
    assert m.returncode == 100, m.stderr
    merged = json.loads(m.stdout)
    assert outcomes(merged) == outcomes(full)
    assert not [e for e in merged.get("errors", []) if e["kind"] in ("missing", "duplicate")]

    # An empty shard: exit 0 and a line saying so.
    e = cargo_testflow(p.root, "run", "--shard", "3/3", "--shard-strategy", "count", "test_q1")
    assert e.returncode == 0, e.stderr
    assert "shard 3/3 has no tests to run" in e.stderr

