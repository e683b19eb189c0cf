"""`cargo testflow run` / `list` on Python projects (the binary comes from $TESTFLOW_BIN)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import by_id

BIN = os.environ.get("TESTFLOW_BIN")
pytestmark = pytest.mark.skipif(not BIN, reason="set TESTFLOW_BIN to the built cargo-testflow")


def cargo_testflow(root: Path, *args: str, python: str | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESTFLOW_")}
    env["TESTFLOW_PYTHON"] = python or sys.executable
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [BIN, "testflow", *args], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def test_list_counts_the_pytest_tests(project):
    p = project("pytest-basic")
    r = cargo_testflow(p.root, "list", "--format", "json")
    assert r.returncode == 0, r.stderr
    (suite,) = json.loads(r.stdout)
    assert (suite["id"], suite["kind"], suite["tests"]) == ("tests/test_outcomes.py", "pytest", 17)


def test_run_records_the_suite(project):
    p = project("pytest-basic")
    r = cargo_testflow(p.root, "run", "-j", "2", "--format", "json", "--report", "junit=out/junit.xml")
    assert r.returncode == 100, r.stderr
    run = json.loads(r.stdout)
    assert run["frameworks"] == ["pytest"]
    t = by_id(run)
    assert len(t) == 17
    assert t["tests/test_outcomes.py::test_assertion_fails"]["failure"]["category"] == "assertion"
    assert t["tests/test_outcomes.py::test_times_out"]["outcome"] == "timeout"
    assert t["tests/test_outcomes.py::test_flaky_then_passes"]["flaky"] is True
    assert t["tests/test_outcomes.py::test_params[héllo wörld]"]["outcome"] == "passed"
    assert (p.root / "out/junit.xml").is_file()


def test_filter_and_retries(project):
    p = project("pytest-basic")
    r = cargo_testflow(p.root, "run", "-j", "1", "--retries", "1", "--format", "json", "test_params", "test_passes")
    assert r.returncode == 0, r.stderr
    run = json.loads(r.stdout)
    assert sorted(t["name"] for t in run["tests"]) == [
        "test_params[[x] y]", "test_params[a b]", "test_params[héllo wörld]", "test_passes",
    ]


def test_arguments_after_a_double_dash_reach_pytest(project):
    # pytest's own --junitxml can only appear if the argument reached pytest; `-k` narrows
    # what runs, as it would under plain pytest (not a testflow filter).
    p = project("pytest-basic")
    r = cargo_testflow(
        p.root, "run", "-j", "1", "--format", "json", "--", "-k", "test_passes", "--junitxml=own.xml"
    )
    assert r.returncode == 0, r.stderr
    run = json.loads(r.stdout)
    assert [t["name"] for t in run["tests"]] == ["test_passes"]
    assert "test_passes" in (p.root / "own.xml").read_text()


def test_crash_in_the_pytest_process(project):
    p = project("pytest-crash")
    r = cargo_testflow(p.root, "run", "-j", "1", "--format", "json")
    assert r.returncode == 100, r.stderr
    t = by_id(json.loads(r.stdout))
    assert t["test_crash.py::test_a_before"]["outcome"] == "passed"
    assert t["test_crash.py::test_b_crashes"]["outcome"] == "crashed"


def test_watchdog_without_pytest_timeout(project):
    p = project("pytest-ini")
    (p.root / "test_slow.py").write_text("import time\n\ndef test_hangs():\n    time.sleep(60)\n")
    # With pytest-timeout installed (as here), --test-timeout is pytest-timeout's --timeout.
    r = cargo_testflow(p.root, "run", "-j", "1", "--test-timeout", "1", "--format", "json", "test_hangs")
    assert r.returncode == 100, r.stderr
    (case,) = json.loads(r.stdout)["tests"]
    assert case["outcome"] == "timeout"
    # Without it, the driver sets TESTFLOW_TEST_TIMEOUT and the plugin's watchdog ends the session.
    env_run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:timeout", "-p", "no:cacheprovider", "-k", "test_hangs"],
        cwd=p.root,
        env={**os.environ, "TESTFLOW_TEST_TIMEOUT": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert env_run.returncode == 1, env_run.stdout + env_run.stderr
    runs = sorted((p.root / ".testflow" / "runs").iterdir())
    run = json.loads((runs[-1] / "run.json").read_text())
    (case,) = [t for t in run["tests"] if t["name"] == "test_hangs"]
    assert (case["outcome"], case["failure"]["category"]) == ("timeout", "timeout")
    assert "watchdog" in case["failure"]["message"]


def test_missing_plugin_says_how_to_install(project, tmp_path):
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    p = project("pytest-ini")
    r = cargo_testflow(p.root, "run", python=str(venv / "bin" / "python"))
    assert r.returncode == 101, r.stderr
    assert "pip install pytest" in r.stderr
    # pytest-testflow is not on PyPI yet: the hint names the install that works today.
    assert "pip install <testflow checkout>/python" in r.stderr, r.stderr
    assert "pip install pytest pytest-testflow" not in r.stderr
    assert "Traceback" not in r.stderr


def test_analyze_groups_a_missing_module_with_its_install_command(project):
    p = project("pytest-import-error")
    r = cargo_testflow(p.root, "run", "--format", "json")
    assert r.returncode == 100, r.stderr
    r = cargo_testflow(p.root, "analyze", "--format", "json")
    assert r.returncode == 0, r.stderr
    analysis = json.loads(r.stdout)
    (group,) = [g for g in analysis["groups"] if g["category"] == "import_error"]
    assert "not_a_real_module_xyz" in group["message"]
    assert group["suggestion"]["command"] == "pip install not_a_real_module_xyz"
    assert [t["id"] for t in group["tests"]] == ["test_broken.py"]
    assert analysis["categories"] == {"import_error": 1}


def test_analyze_categories_of_real_pytest_failures(project):
    p = project("pytest-basic")
    r = cargo_testflow(p.root, "run", "-j", "2", "--format", "json")
    assert r.returncode == 100, r.stderr
    run = json.loads(r.stdout)
    r = cargo_testflow(p.root, "analyze", "--format", "json")
    analysis = json.loads(r.stdout)
    failing = [t for t in run["tests"] if t["outcome"] in ("failed", "error", "timeout", "crashed")]
    assert sum(analysis["categories"].values()) == len(failing)
    cats = {g["category"] for g in analysis["groups"]}
    assert {"assertion", "timeout", "setup_error"} <= cats, cats


# -- collection errors: pytest alone stops, pytest-xdist goes on --------------------------

BROKEN = {
    "tests/test_broken_import.py": ("import_error", "ModuleNotFoundError", "No module named 'not_a_real_module_for_testflow'"),
    "tests/test_broken_syntax.py": ("build_error", "SyntaxError", "invalid syntax"),
}


def _broken_modules(run):
    t = by_id(run)
    for nodeid, (category, kind, needle) in BROKEN.items():
        case = t[nodeid]
        f = case["failure"]
        assert (case["outcome"], f["category"], f["kind"]) == ("error", category, kind), case
        assert f["message"].startswith("collection failed: ") and needle in f["message"], f["message"]


def test_collection_error_without_xdist_is_an_interrupted_run_not_skips(project):
    p = project("pytest-collection-error")
    r = cargo_testflow(p.root, "run", "-j", "1", "--format", "json", "--report", "junit=junit.xml", "--report", "ctrf=ctrf.json")
    assert r.returncode == 100, r.stderr
    run = json.loads(r.stdout)
    _broken_modules(run)
    # The 10 tests of the good modules were collected and never run: no result, and never
    # `skipped` (pytest did not skip them).
    assert set(by_id(run)) == set(BROKEN)
    assert run["summary"]["skipped"] == 0
    # Only the not_run error: pytest's stop after collection errors is no interruption.
    (not_run,) = run["errors"]
    assert not_run["kind"] == "not_run"
    assert not_run["message"].startswith(
        "10 collected tests did not run: pytest stopped after 2 collection errors and ran none of the tests it collected; "
        "pass pytest's --continue-on-collection-errors"
    ), not_run
    assert "`cargo testflow run -- --continue-on-collection-errors`" in not_run["message"]
    junit = (p.root / "junit.xml").read_text()
    assert "<skipped" not in junit
    assert 'type="not_run"' in junit and "--continue-on-collection-errors" in junit
    ctrf = json.loads((p.root / "ctrf.json").read_text())
    assert ctrf["results"]["summary"]["skipped"] == 0
    gate = cargo_testflow(p.root, "gate", "--format", "json")
    assert gate.returncode == 3, gate.stdout + gate.stderr


def test_collection_error_with_xdist_has_the_same_verdict_and_says_why_it_ran_more(project):
    p = project("pytest-collection-error")
    r = cargo_testflow(p.root, "run", "-j", "2", "--format", "json")
    # Same exit code and the same error entries as -j 1; xdist ran the good modules.
    assert r.returncode == 100, r.stderr
    run = json.loads(r.stdout)
    _broken_modules(run)
    t = by_id(run)
    assert len(t) == 12
    assert t["tests/test_alpha.py::test_fails"]["outcome"] == "failed"
    assert not [e for e in run.get("errors", []) if e["kind"] == "not_run"]
    # The difference from -j 1 is explained.
    assert "pytest-xdist ran the other tests anyway" in r.stderr
    assert "--continue-on-collection-errors" in r.stderr
    gate = cargo_testflow(p.root, "gate", "--format", "json")
    assert gate.returncode == 3, gate.stdout + gate.stderr


def test_continue_on_collection_errors_reaches_pytest(project):
    p = project("pytest-collection-error")
    r = cargo_testflow(p.root, "run", "-j", "1", "--format", "json", "--", "--continue-on-collection-errors")
    assert r.returncode == 100, r.stderr
    run = json.loads(r.stdout)
    _broken_modules(run)
    assert len(run["tests"]) == 12
    assert not run.get("errors"), run["errors"]


def test_list_shows_the_module_that_cannot_be_collected(project):
    p = project("pytest-collection-error")
    r = cargo_testflow(p.root, "list", "--format", "json")
    assert r.returncode == 101, r.stderr
    suites = {s["id"]: s for s in json.loads(r.stdout)}
    assert (suites["tests/test_alpha.py"]["tests"], suites["tests/test_beta.py"]["tests"]) == (7, 3)
    assert "error" not in suites["tests/test_alpha.py"]
    broken = suites["tests/test_broken_import.py"]
    assert broken["tests"] == 0
    assert broken["error"] == "collection failed: ModuleNotFoundError: No module named 'not_a_real_module_for_testflow'"
    assert suites["tests/test_broken_syntax.py"]["error"].startswith("collection failed: SyntaxError: invalid syntax")
    text = cargo_testflow(p.root, "list")
    assert text.returncode == 101
    assert "tests/test_broken_import.py [pytest]" in text.stdout
    assert "error: collection failed: ModuleNotFoundError" in text.stdout


# -- options pytest cannot honour without a plugin ------------------------------------------


def _python_without_plugins(tmp_path: Path) -> str:
    """A Python with pytest and the testflow plugin and nothing else: pytest-xdist and
    pytest-rerunfailures are really not installed (not disabled with -p no:…). Built
    offline from this venv's distributions, linked into a fresh venv."""
    import importlib.metadata as md

    venv = tmp_path / "lean-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    site = Path(subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
    ).strip())
    for name in ("pytest", "pluggy", "iniconfig", "packaging", "pygments", "pytest-testflow"):
        dist = md.distribution(name)
        tops = {Path(f).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            src = Path(dist.locate_file(top))
            if src.exists() and not (site / top).exists():
                (site / top).symlink_to(src)
    for module in ("xdist", "pytest_rerunfailures", "pytest_timeout"):
        r = subprocess.run([python, "-c", f"import {module}"], capture_output=True)
        assert r.returncode != 0, f"{module} is importable in the lean venv"
    return python


def test_retries_and_jobs_without_their_plugins_warn_once_and_run_plainly(project, tmp_path):
    python = _python_without_plugins(tmp_path)
    p = project("pytest-ini")
    (p.root / "test_fail.py").write_text("def test_fails():\n    assert 1 == 2\n\n\ndef test_ok():\n    pass\n")
    r = cargo_testflow(p.root, "run", "-j", "2", "--retries", "2", python=python)
    # An ordinary failed run (100), not a run error (102): the verdict is not in doubt.
    assert r.returncode == 100, r.stderr
    assert r.stderr.count("warning: --retries 2 needs pytest-rerunfailures, which is not installed") == 1, r.stderr
    assert "pip install pytest-rerunfailures" in r.stderr
    assert r.stderr.count("warning: -j 2 needs pytest-xdist, which is not installed") == 1, r.stderr
    assert "pip install pytest-xdist" in r.stderr
    # The failure was not retried, so it is never labelled RETRY.
    assert "RETRY" not in r.stderr, r.stderr
    status_lines = re.findall(r"^ *(\w+) \[ *[\d.]+s\] test_fail\.py::test_fails$", r.stderr, re.M)
    assert status_lines == ["FAIL"], r.stderr
    (run_dir,) = (p.root / ".testflow" / "runs").iterdir()
    run = json.loads((run_dir / "run.json").read_text())
    t = by_id(run)
    assert [a["outcome"] for a in t["test_fail.py::test_fails"]["attempts"]] == ["failed"]
    assert t["test_fail.py::test_ok"]["outcome"] == "passed"
    assert not run.get("errors"), run["errors"]


def workers_of(run: dict) -> dict:
    (decision,) = run["workers"]
    assert decision["framework"] == "pytest"
    return decision


CPUS = len(os.sched_getaffinity(0))
needs_two_cpus = pytest.mark.skipif(CPUS < 2, reason="one CPU: always serial")


@needs_two_cpus
def test_workers_without_history_count_the_tests_then_history_decides(project):
    p = project("pytest-workers")
    r = cargo_testflow(p.root, "run", "--format", "json", "test_quick")
    assert r.returncode == 0, r.stderr
    first = workers_of(json.loads(r.stdout))
    assert (first["workers"], first["basis"], first["tests"]) == (1, "threshold", 24), first
    assert first["reason"] == "serial: no history, 24 tests collected (parallel from 3,000)"
    assert first["startup_ms"] > 0, "the collection pass times a worker's start-up"
    assert "pytest: serial: no history, 24 tests collected" in r.stderr, r.stderr
    r = cargo_testflow(p.root, "run", "--format", "json", "test_quick")
    assert r.returncode == 0, r.stderr
    second = workers_of(json.loads(r.stdout))
    assert (second["workers"], second["basis"], second["tests"]) == (1, "history", 20), second
    assert second["reason"].startswith("serial: 20 tests took "), second["reason"]
    assert second["startup_ms"] == first["startup_ms"], "the start-up the first run measured"


@needs_two_cpus
def test_workers_from_history_run_slow_tests_on_xdist_and_j_wins(project):
    p = project("pytest-workers")
    r = cargo_testflow(p.root, "run", "-j", "1", "--format", "json")
    assert r.returncode == 0, r.stderr
    given = workers_of(json.loads(r.stdout))
    assert (given["workers"], given["basis"], given["reason"]) == (1, "user", "serial: -j 1 given")
    r = cargo_testflow(p.root, "run", "--format", "json")
    assert r.returncode == 0, r.stderr
    run = json.loads(r.stdout)
    chosen = workers_of(run)
    workers = CPUS
    assert (chosen["workers"], chosen["basis"], chosen["tests"]) == (workers, "history", 24), chosen
    assert chosen["serial_ms"] >= 6000, chosen
    assert chosen["reason"].startswith(f"{workers} workers: 24 tests took "), chosen["reason"]
    assert run["summary"]["passed"] == 24
