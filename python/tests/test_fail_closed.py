"""Fail closed (issue 12): a failure is never reported green. Each case is a project under
tests/fixtures/fail-closed/, run by real pytest (and pytest-xdist) through both doors:
``pytest --testflow`` (the plugin owns the run) and ``cargo testflow run`` (the driver,
$TESTFLOW_BIN). See each fixture's EXPECTED.md."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, by_id

import testflow

BIN = os.environ.get("TESTFLOW_BIN")
needs_bin = pytest.mark.skipif(not BIN, reason="set TESTFLOW_BIN to the built cargo-testflow")
NO_XDIST = ("-p", "no:xdist")


@pytest.fixture
def case(tmp_path):
    def make(name: str) -> Path:
        dest = tmp_path / name
        shutil.copytree(FIXTURES / "fail-closed" / name, dest, ignore=shutil.ignore_patterns("__pycache__", ".testflow"))
        return dest

    return make


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESTFLOW_")}
    env.pop("PYTEST_ADDOPTS", None)
    return env


def standalone(root: Path, *args: str):
    """``pytest --testflow``: its exit code and the recorded run (folded from the log when
    the process died before writing run.json)."""
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--testflow", *args],
        cwd=root, env=_env(), capture_output=True, text=True, errors="replace", timeout=300,
    )
    (run_dir,) = (root / ".testflow" / "runs").iterdir()
    return r, json.loads(testflow.load_run(str(run_dir)))


def driven(root: Path, *args: str):
    """``cargo testflow run``: its exit code and the run (--format json)."""
    env = _env()
    env["TESTFLOW_PYTHON"] = sys.executable
    env["NO_COLOR"] = "1"
    r = subprocess.run(
        [BIN, "testflow", "run", "--format", "json", *args],
        cwd=root, env=env, capture_output=True, text=True, errors="replace", timeout=300,
    )
    assert r.stdout.strip(), r.stderr
    return r, json.loads(r.stdout)


def outcomes(run: dict) -> dict[str, str]:
    return {i: t["outcome"] for i, t in by_id(run).items()}


def errors(run: dict) -> list[tuple[str, str]]:
    return [(e["kind"], e["message"]) for e in run.get("errors", [])]


def kinds(run: dict) -> list[str]:
    return sorted(e["kind"] for e in run.get("errors", []))


# -- 1. a failure message that cannot be encoded -----------------------------------------

UNDECODABLE = {
    "test_undecodable.py::test_ordinary_failure": "failed",
    "test_undecodable.py::test_undecodable_message": "failed",
    "test_undecodable.py::test_passes": "passed",
}


def check_undecodable(run: dict) -> None:
    assert outcomes(run) == UNDECODABLE
    f = by_id(run)["test_undecodable.py::test_undecodable_message"]["failure"]
    assert (f["category"], f["kind"]) == ("assertion", "AssertionError")
    assert f["message"] == "caf\\xe9\nassert False"
    assert errors(run) == []


@pytest.mark.parametrize("xdist", [NO_XDIST, ("-n", "2")], ids=["plain", "xdist"])
def test_undecodable_message_plugin(case, xdist):
    r, run = standalone(case("pytest-undecodable-message"), *xdist)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "INTERNALERROR" not in r.stdout + r.stderr
    check_undecodable(run)
    assert run["completed"] is True


@needs_bin
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_undecodable_message_driver(case, jobs):
    r, run = driven(case("pytest-undecodable-message"), "-j", jobs)
    assert r.returncode == 100, r.stderr
    check_undecodable(run)


# -- 2. a test file whose name is not valid UTF-8 ----------------------------------------

NON_UTF8 = {"test_caf\\xe9.py::test_fails": "failed", "test_caf\\xe9.py::test_passes": "passed"}


def non_utf8_project(case) -> Path:
    root = case("pytest-non-utf8-filename")
    try:
        os.rename(root / "test_body.py.in", os.fsencode(root) + b"/test_caf\xe9.py")
    except (OSError, UnicodeError) as e:  # a file system that only takes UTF-8 names
        pytest.skip(f"cannot create a file name that is not UTF-8 here: {e}")
    return root


@pytest.mark.parametrize("xdist", [NO_XDIST, ("-n", "2")], ids=["plain", "xdist"])
def test_non_utf8_file_name_plugin(case, xdist):
    r, run = standalone(non_utf8_project(case), *xdist)
    assert r.returncode == 1, r.stdout + r.stderr
    assert outcomes(run) == NON_UTF8
    t = by_id(run)["test_caf\\xe9.py::test_fails"]
    assert t["file"] == "test_caf\\xe9.py"
    assert t["failure"]["location"] == {"file": "test_caf\\xe9.py", "line": 4}
    assert errors(run) == []


@needs_bin
def test_non_utf8_file_name_driver(case):
    root = non_utf8_project(case)
    r, run = driven(root, "-j", "1")
    assert r.returncode == 100, r.stderr
    assert outcomes(run) == NON_UTF8
    # pytest's own cache provider cannot write the name (its cache is on when driven): a
    # run error, and the results are kept.
    ((kind, message),) = errors(run)
    assert kind == "internal" and "pytest_sessionfinish raised UnicodeEncodeError" in message
    r, run = driven(root, "-j", "2")
    assert r.returncode == 100, r.stderr
    assert outcomes(run) == NON_UTF8
    r = subprocess.run(
        [BIN, "testflow", "list", "--format", "json"],
        cwd=root, env={**_env(), "TESTFLOW_PYTHON": sys.executable}, capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stderr
    assert [(s["id"], s["tests"]) for s in json.loads(r.stdout)] == [("test_caf\\xe9.py", 2)]


# -- 3. a test that raises KeyboardInterrupt ---------------------------------------------

K = "test_kbi.py::"


def test_keyboard_interrupt_plugin(case):
    r, run = standalone(case("pytest-keyboard-interrupt"), *NO_XDIST)
    assert r.returncode == 2, r.stdout + r.stderr
    # test_after never ran: no result (not `skipped`), named by the not_run error.
    assert outcomes(run) == {K + "test_before": "passed", K + "test_raises_keyboard_interrupt": "failed"}
    f = by_id(run)[K + "test_raises_keyboard_interrupt"]["failure"]
    assert (f["category"], f["kind"]) == ("interrupted", "KeyboardInterrupt")
    assert run["completed"] is False
    assert errors(run) == [
        ("reconcile", "pytest's session was interrupted: KeyboardInterrupt: "),
        ("not_run", "1 collected tests did not run: the session was interrupted: KeyboardInterrupt: . Not run: " + K + "test_after"),
    ]


def test_keyboard_interrupt_plugin_xdist(case):
    # xdist treats the worker's KeyboardInterrupt as a crash of that worker.
    r, run = standalone(case("pytest-keyboard-interrupt"), "-n", "2")
    assert r.returncode == 2, r.stdout + r.stderr
    assert outcomes(run)[K + "test_raises_keyboard_interrupt"] == "crashed"
    assert run["completed"] is False
    ((kind, message),) = [e for e in errors(run) if e[0] == "reconcile"]
    assert message.startswith("pytest's session was interrupted: xdist.dsession.Interrupted")


@needs_bin
def test_keyboard_interrupt_driver(case):
    r, run = driven(case("pytest-keyboard-interrupt"), "-j", "1")
    assert r.returncode == 100, r.stderr
    assert outcomes(run) == {K + "test_before": "passed", K + "test_raises_keyboard_interrupt": "failed"}
    assert by_id(run)[K + "test_raises_keyboard_interrupt"]["failure"]["category"] == "interrupted"
    assert kinds(run) == ["not_run", "reconcile"]


# -- 6. pytest.exit() inside a test, os._exit(0), a failing teardown ----------------------

E = "test_exit.py::"
EXITED = {E + "test_fails_first": "failed", E + "test_calls_pytest_exit": "failed"}


def test_pytest_exit_plugin(case):
    # pytest itself exits 0 here (pytest.exit(returncode=0)), with a failed test.
    r, run = standalone(case("pytest-exit-in-test"), *NO_XDIST)
    assert r.returncode == 1, r.stdout + r.stderr
    assert outcomes(run) == EXITED
    assert by_id(run)[E + "test_calls_pytest_exit"]["failure"]["kind"] == "Exit"
    assert run["completed"] is False
    assert errors(run) == [
        ("reconcile", "pytest's session was interrupted: Exit: stop here"),
        ("not_run", "1 collected tests did not run: the session was interrupted: Exit: stop here. Not run: " + E + "test_after"),
        ("reconcile", "pytest's session ended OK (exit status 0) but 1 tests failed by its reports and 2 by testflow's record"),
    ]
    assert "testflow: RUN ERROR: reconcile: pytest's session was interrupted" in r.stdout


@needs_bin
def test_pytest_exit_driver(case):
    r, run = driven(case("pytest-exit-in-test"), "-j", "1")
    assert r.returncode == 100, r.stderr
    assert outcomes(run) == EXITED
    assert kinds(run) == ["not_run", "reconcile", "reconcile"]


O = "test_osexit.py::"


def test_os_exit_zero_plugin(case):
    # Nothing runs after os._exit: pytest's exit code is 0, but the record is not a pass.
    r, run = standalone(case("pytest-os-exit-zero"), *NO_XDIST)
    assert r.returncode == 0, r.stdout + r.stderr
    assert outcomes(run) == {O + "test_passes": "passed", O + "test_exits_zero": "crashed"}
    assert run["completed"] is False


def test_os_exit_zero_plugin_xdist(case):
    r, run = standalone(case("pytest-os-exit-zero"), "-n", "2")
    assert r.returncode == 1, r.stdout + r.stderr
    assert outcomes(run) == {O + "test_passes": "passed", O + "test_exits_zero": "crashed", O + "test_after": "failed"}


@needs_bin
def test_os_exit_zero_driver(case):
    root = case("pytest-os-exit-zero")
    r, run = driven(root, "-j", "1")
    assert r.returncode == 100, r.stderr
    assert outcomes(run) == {O + "test_passes": "passed", O + "test_exits_zero": "crashed"}
    assert errors(run) == [(
        "reconcile",
        f"pytest in {root} exited with code 0 (OK) but its session never ended: a test or plugin ended "
        "the process early (os._exit, a crash), so its results are incomplete",
    )]


T = "test_teardown.py::"


@pytest.mark.parametrize("xdist", [NO_XDIST, ("-n", "2")], ids=["plain", "xdist"])
def test_teardown_failure_after_a_passing_call_plugin(case, xdist):
    r, run = standalone(case("pytest-teardown-after-pass"), *xdist)
    assert r.returncode == 1, r.stdout + r.stderr
    assert outcomes(run) == {T + "test_call_passes_teardown_fails": "error", T + "test_passes": "passed"}
    f = by_id(run)[T + "test_call_passes_teardown_fails"]["failure"]
    assert (f["category"], f["message"]) == ("setup_error", "error in teardown: teardown failed")
    assert errors(run) == []


@needs_bin
def test_teardown_failure_after_a_passing_call_driver(case):
    r, run = driven(case("pytest-teardown-after-pass"), "-j", "2")
    assert r.returncode == 100, r.stderr
    assert outcomes(run) == {T + "test_call_passes_teardown_fails": "error", T + "test_passes": "passed"}


# -- 4. an error inside testflow's hook --------------------------------------------------

H = "test_hook_error.py::"
HOOK_ERROR = "testflow's pytest_runtest_logreport hook failed: TypeError: argument 'duration': must be real number, not str"


def check_hook_error(run: dict) -> None:
    assert outcomes(run) == {H + "test_bad_report": "failed", H + "test_passes": "passed"}
    assert by_id(run)[H + "test_bad_report"]["failure"]["message"] == (
        "testflow could not read pytest's report of this phase: TypeError: argument 'duration': must be real number, not str"
    )
    assert errors(run) == [("internal", HOOK_ERROR)]


@pytest.mark.parametrize("xdist", [NO_XDIST, ("-n", "2")], ids=["plain", "xdist"])
def test_an_engine_error_in_a_hook_is_a_run_error_plugin(case, xdist):
    r, run = standalone(case("pytest-hook-error"), *xdist)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "INTERNALERROR" not in r.stdout + r.stderr
    check_hook_error(run)


@needs_bin
def test_an_engine_error_in_a_hook_is_a_run_error_driver(case):
    r, run = driven(case("pytest-hook-error"), "-j", "1")
    assert r.returncode == 100, r.stderr
    check_hook_error(run)


# -- pytest's own count of the reports, with and without its terminal reporter -----------

@pytest.mark.parametrize("terminal", [(), ("-p", "no:terminal")], ids=["terminal", "no-terminal"])
def test_a_status_pytest_counts_differently_is_a_run_error_plugin(case, terminal):
    r, run = standalone(case("pytest-status-disagrees"), *NO_XDIST, *terminal)
    assert outcomes(run) == {
        "test_status.py::test_counted_failed": "passed",
        "test_status.py::test_passes": "passed",
    }
    ((kind, message),) = [e for e in errors(run) if e[0] == "reconcile" and "disagree" in e[1]]
    assert message == (
        "1 tests disagree with pytest's own reports: "
        "test_status.py::test_counted_failed: pytest said failed, testflow recorded passed"
    ), message
    assert r.returncode != 0
