"""`cargo testflow run` / `list` on Python projects (the binary comes from $TESTFLOW_BIN)."""

from __future__ import annotations

import json
import os
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
