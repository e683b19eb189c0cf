"""`cargo testflow run --coverage` on a pytest project, end to end (pytest-cov).

The fixture (tests/fixtures/pytest-coverage, see its EXPECTED.md) measures only the
`calc` package, and every test reaches a line no other test does: any split of the tests
into two non-empty shards leaves each shard with strictly less coverage than the whole,
and the shards merged must give exactly the whole again.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from test_sharding import BIN, cargo_testflow, parallel

pytestmark = pytest.mark.skipif(not BIN, reason="set TESTFLOW_BIN to the built cargo-testflow")
pytest.importorskip("pytest_cov", reason="pytest-cov is needed for pytest coverage")

# Line coverage (covered, total) per measured file, all 10 tests run (EXPECTED.md).
FULL_LINES = {
    "calc/__init__.py": (0, 0),
    "calc/arith.py": (12, 12),
    "calc/classify.py": (9, 14),
}
FULL_TOTALS = {"lines": (21, 26), "branches": (12, 14), "functions": (4, 5)}
# Without tests/test_classify.py: classify's body (7 lines) is no longer reached.
WITHOUT_CLASSIFY_LINES = (12, 26)


def ratio(r: dict) -> tuple[int, int]:
    return (r["covered"], r["total"])


def per_file(cov: dict) -> dict[str, dict[str, tuple[int, int]]]:
    return {
        f["path"]: {k: ratio(f[k]) for k in ("lines", "branches", "functions")}
        for f in cov["files"]
    }


def totals(cov: dict) -> dict[str, tuple[int, int]]:
    return {k: ratio(cov["totals"][k]) for k in ("lines", "branches", "functions")}


def covered_lines(lcov: Path) -> dict[str, set[int]]:
    """Lines with hits per file in an LCOV file."""
    out: dict[str, set[int]] = {}
    current = None
    for line in lcov.read_text().splitlines():
        if line.startswith("SF:"):
            current = out.setdefault(line[3:], set())
        elif line.startswith("DA:"):
            n, hits = line[3:].split(",")[:2]
            if int(hits) > 0:
                current.add(int(n))
    return out


def run_coverage(root: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    r = cargo_testflow(root, "run", "--coverage", "--format", "json", *args)
    assert r.stdout, r.stderr
    return r, json.loads(r.stdout)


def run_dir(root: Path, run: dict) -> Path:
    return root / ".testflow" / "runs" / run["run_id"]



def test_run_coverage_collects_pytest_cov_exactly(project):
    p = project("pytest-coverage")
    r, run = run_coverage(p.root, "-q")
    assert r.returncode == 0, r.stderr
    assert run["summary"]["total"] == 10 and run["summary"]["passed"] == 10
    cov = run["coverage"]
    assert cov["frameworks"] == [{"framework": "pytest", "status": "collected"}]
    assert cov["reports"] == ["coverage/pytest.json"]
    d = run_dir(p.root, run)
    assert (d / "coverage" / "pytest.json").is_file()
    # The data file goes to the run's directory, not the project.
    assert (d / "coverage" / ".coverage.pytest").is_file()
    assert not (p.root / ".coverage").exists()
    # run.json on disk holds the same coverage as the JSON printed.
    assert json.loads((d / "run.json").read_text())["coverage"] == cov

    # Only the package under test is measured (source = ["calc"]), never the tests.
    assert {f: v["lines"] for f, v in per_file(cov).items()} == FULL_LINES
    assert per_file(cov)["calc/arith.py"] == {"lines": (12, 12), "branches": (6, 6), "functions": (3, 3)}
    assert per_file(cov)["calc/classify.py"] == {"lines": (9, 14), "branches": (6, 8), "functions": (1, 2)}
    assert totals(cov) == FULL_TOTALS
    assert cov["totals"]["lines"]["percent"] == pytest.approx(100 * 21 / 26)
    assert "previous" not in cov, "the first run has nothing to compare with"

    lcov = d / "coverage" / "merged.lcov"
    assert lcov.is_file()
    lines = covered_lines(lcov)
    assert set(lines) == set(FULL_LINES), "paths relative to the project"
    assert {f: len(v) for f, v in lines.items()} == {f: c for f, (c, _) in FULL_LINES.items()}
    # describe's body (lines 16-20) never runs; its `def` line runs on import.
    assert 15 in lines["calc/classify.py"]
    assert not lines["calc/classify.py"] & set(range(16, 21)), "describe is never called"
    # Functions at their `def` lines (coverage.py's `start_line`), as coverage.py's LCOV has them.
    fns = [l for l in lcov.read_text().splitlines() if l.startswith(("FN:", "FNDA:"))]
    assert fns == [
        "FN:4,add", "FN:14,clamp", "FN:8,divide", "FNDA:1,add", "FNDA:1,clamp", "FNDA:1,divide",
        "FN:4,classify", "FN:15,describe", "FNDA:1,classify", "FNDA:0,describe",
    ], fns


def test_two_parallel_shards_merge_into_the_unsharded_coverage(project, tmp_path):
    p = project("pytest-coverage")
    r, full = run_coverage(p.root, "-q")
    assert r.returncode == 0, r.stderr
    full_cov = full["coverage"]

    # Two shards at once, the first under xdist (-j 2); count keeps the split stable.
    workers = [tmp_path / "workers-1.log", tmp_path / "workers-2.log"]
    results = parallel(
        p.root,
        [
            ["env", f"CALC_WORKER_LOG={workers[k - 1]}", BIN, "testflow", "run", "--coverage",
             "--shard", f"{k}/2", "--shard-strategy", "count", *(["-j", "2"] if k == 1 else ["-j", "1"]),
             "--format", "json", "-q"]
            for k in (1, 2)
        ],
        env={"TESTFLOW_PYTHON": sys.executable},
    )
    shards = []
    for k, res in enumerate(results, start=1):
        assert res.returncode == 0, f"shard {k}: {res.stderr}"
        shards.append(json.loads(res.stdout))
    assert sorted(workers[0].read_text().split()) == ["gw0", "gw1", "main"], "shard 1 ran under xdist"
    assert workers[1].read_text().split() == ["main"], "shard 2 ran without xdist"

    ran = [t["id"] for s in shards for t in s["tests"]]
    assert sorted(ran) == sorted(t["id"] for t in full["tests"]), "every test in exactly one shard"
    for k, s in enumerate(shards, start=1):
        assert s["tests"], f"shard {k} is empty"
        cov = s["coverage"]
        assert cov["frameworks"] == [{"framework": "pytest", "status": "collected"}], f"shard {k}"
        assert (run_dir(p.root, s) / "coverage" / "pytest.json").is_file()
        # Every test reaches a line of its own: a shard alone covers strictly less.
        assert cov["totals"]["lines"]["total"] == 26
        assert cov["totals"]["lines"]["covered"] < 21, f"shard {k}: {cov['totals']}"
        for path, (c, t) in FULL_LINES.items():
            assert per_file(cov)[path]["lines"][1] == t
            assert per_file(cov)[path]["lines"][0] <= c
    # The shards' covered lines together are the whole run's, and each misses some.
    full_lines = covered_lines(run_dir(p.root, full) / "coverage" / "merged.lcov")
    shard_lines = [covered_lines(run_dir(p.root, s) / "coverage" / "merged.lcov") for s in shards]
    for path in full_lines:
        assert shard_lines[0][path] | shard_lines[1][path] == full_lines[path], path
    for k, lines in enumerate(shard_lines, start=1):
        assert any(lines[f] < full_lines[f] for f in full_lines), f"shard {k} covers everything"

    out = p.root / "merged"
    m = cargo_testflow(p.root, "merge", *[s["run_id"] for s in shards], "-o", str(out), "--format", "json")
    assert m.returncode == 0, m.stderr
    merged_cov = json.loads(m.stdout)["coverage"]
    assert json.loads((out / "run.json").read_text())["coverage"] == merged_cov
    assert (out / "coverage" / "merged.lcov").is_file()
    assert merged_cov["frameworks"] == [{"framework": "pytest", "status": "collected"}]
    assert per_file(merged_cov) == per_file(full_cov)
    assert totals(merged_cov) == totals(full_cov) == FULL_TOTALS
    assert covered_lines(out / "coverage" / "merged.lcov") == full_lines

    # `coverage report` on the merged directory reads the same coverage back.
    rep = cargo_testflow(p.root, "coverage", "report", "--run", str(out), "--format", "json")
    assert rep.returncode == 0, rep.stderr
    report = json.loads(rep.stdout)
    assert per_file(report) == per_file(full_cov)
    assert totals(report) == FULL_TOTALS


def test_a_coverage_drop_is_compared_with_the_previous_run_and_gated(project):
    p = project("pytest-coverage")
    r, first = run_coverage(p.root, "-q")
    assert r.returncode == 0, r.stderr
    assert first["environment"].get("git_branch") is None, "not a git checkout: no branch"

    # Fewer tests, less coverage: the gate fails the run (exit 3) though every test passed.
    (p.root / "tests" / "test_classify.py").unlink()
    r, second = run_coverage(p.root, "--no-coverage-drop")
    assert r.returncode == 3, r.stderr
    assert second["summary"]["total"] == 6 and second["summary"]["failed"] == 0
    cov = second["coverage"]
    assert ratio(cov["totals"]["lines"]) == WITHOUT_CLASSIFY_LINES
    prev = cov["previous"]
    assert prev["run_id"] == first["run_id"]
    assert "branch" not in prev
    assert ratio(prev["lines"]) == FULL_TOTALS["lines"]
    assert cov["totals"]["lines"]["percent"] - prev["lines"]["percent"] == pytest.approx(100 * (12 - 21) / 26)
    assert prev["changed_files"] == [
        {
            "path": "calc/classify.py",
            "before": {"covered": 9, "total": 14, "percent": pytest.approx(100 * 9 / 14)},
            "after": {"covered": 0, "total": 14, "percent": 0.0},
        }
    ]
    assert "no_coverage_drop" in r.stderr and "FAIL" in r.stderr, r.stderr
    assert "gates FAILED" in r.stderr

    # The same run against the same baseline, with a tolerance: 34.6 points fell.
    g = cargo_testflow(p.root, "gate", "--run", second["run_id"], "--no-coverage-drop=50")
    assert g.returncode == 0, g.stdout + g.stderr
    g = cargo_testflow(p.root, "gate", "--run", second["run_id"], "--no-coverage-drop=34")
    assert g.returncode == 3, g.stdout + g.stderr

    # A run with the tolerance passes (exit 0), compared with the run before it.
    r, third = run_coverage(p.root, "-q", "--no-coverage-drop=50")
    assert r.returncode == 0, r.stderr
    assert third["coverage"]["previous"]["run_id"] == second["run_id"]


def test_gaps_rank_the_uncalled_function_first(project):
    p = project("pytest-coverage")
    r, run = run_coverage(p.root, "-q")
    assert r.returncode == 0, r.stderr
    g = cargo_testflow(p.root, "coverage", "gaps", "--run", run["run_id"], "--format", "json")
    assert g.returncode == 0, g.stderr
    gaps = json.loads(g.stdout)["gaps"]
    assert gaps, g.stdout
    first = gaps[0]
    assert (first["file"], first["function"]) == ("calc/classify.py", "describe")
    # Its `def` line runs on import; the whole body is missed.
    assert (first["start_line"], first["end_line"]) == (15, 20)
    assert (first["missed_lines"], first["coverable_lines"], first["missed_ranges"]) == (5, 6, "16-20")
    # Every other function is fully covered.
    assert [x["function"] for x in gaps] == ["describe"], gaps
