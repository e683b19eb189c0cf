"""The plugin end to end: real pytest (and xdist, timeout, rerunfailures) on fixture projects."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import pytest

from conftest import by_id

import testflow

M = "tests/test_outcomes.py::"


def check_basic(run: dict) -> None:
    t = by_id(run)
    assert t[M + "test_passes"]["outcome"] == "passed"
    assert t[M + "test_passes"]["line"] == 8, "1-based line of the def"

    f = t[M + "test_assertion_fails"]["failure"]
    assert t[M + "test_assertion_fails"]["outcome"] == "failed"
    assert (f["category"], f["kind"]) == ("assertion", "AssertionError")
    assert f["message"] == "assert 4 == 5"
    assert f["location"] == {"file": "tests/test_outcomes.py", "line": 14}

    f = t[M + "test_raises_value_error"]["failure"]
    assert (f["category"], f["kind"], f["message"]) == ("runtime_error", "ValueError", "boom")
    assert "raise ValueError" in f["details"]

    # A skip, an xfail and an xpass are no failure: no `failure`, their reason in `reason`.
    for name, outcome, reason in (
        ("test_skipped_by_marker", "skipped", "not today"),
        ("test_skipped_inside", "skipped", "skipped from inside"),
        ("test_xfail", "xfailed", "known bug"),
        ("test_xpass", "xpassed", "fixed already"),
    ):
        case = t[M + name]
        assert (case["outcome"], case.get("reason"), "failure" in case) == (outcome, reason, False), case
    # A strict xpass fails; nothing was raised, so there is no exception type (`kind`).
    strict = t[M + "test_xpass_strict"]
    assert strict["outcome"] == "failed"
    assert (strict["failure"]["category"], strict["failure"].get("kind")) == ("assertion", None)
    assert strict["failure"]["message"] == "[XPASS(strict)] must fail"
    assert "reason" not in strict

    for name, when in (("test_setup_error", "setup"), ("test_teardown_error", "teardown")):
        case = t[M + name]
        assert case["outcome"] == "error", name
        assert case["failure"]["category"] == "setup_error"
        assert case["failure"]["kind"] == "RuntimeError"
        assert when in case["failure"]["message"]

    f = t[M + "test_captured_output"]["failure"]
    assert f["stdout"]["text"] == "hello on stdout\n"
    assert "hello on stderr" in f["stderr"]["text"]
    assert "a log line" in f["stderr"]["text"]

    for pid in ("héllo wörld", "[x] y", "a b"):
        assert t[f"{M}test_params[{pid}]"]["outcome"] == "passed"
    assert t[M + "TestGroup::test_in_class"]["suite"] == ["TestGroup"]
    assert t[M + "TestGroup::test_in_class"]["name"] == "test_in_class"

    slow = t[M + "test_times_out"]
    assert (slow["outcome"], slow["failure"]["category"]) == ("timeout", "timeout")

    flaky = t[M + "test_flaky_then_passes"]
    assert flaky["outcome"] == "passed" and flaky["flaky"] is True
    assert [a["outcome"] for a in flaky["attempts"]] == ["failed", "passed"]

    assert run["summary"]["total"] == 17
    assert run["summary"]["flaky"] == 1


def test_records_every_outcome_and_writes_reports(project):
    p = project("pytest-basic")
    r = p.pytest("--testflow", "--testflow-report", "json=out/run.json", "--testflow-report", "junit=out/junit.xml")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "testflow: 6 passed, 4 failed, 2 error" in r.stdout
    run = p.run_json()
    check_basic(run)
    report = json.loads((p.root / "out/run.json").read_text(encoding="utf-8"))
    assert by_id(report).keys() == by_id(run).keys()
    junit = ET.parse(p.root / "out/junit.xml").getroot()
    names = {tc.get("name") for tc in junit.iter("testcase")}
    assert "test_params[héllo wörld]" in names and "test_params[[x] y]" in names
    failing = [tc for tc in junit.iter("testcase") if tc.get("name") == "test_assertion_fails"][0]
    assert failing.find("failure") is not None
    # JUnit shows the skip and xfail reasons.
    cases = {tc.get("name"): tc for tc in junit.iter("testcase")}
    skipped = cases["test_skipped_by_marker"].find("skipped")
    assert (skipped.get("message"), skipped.get("type")) == ("not today", None)
    xfailed = cases["test_xfail"].find("skipped")
    assert (xfailed.get("message"), xfailed.get("type")) == ("known bug", "xfailed")
    strict = cases["test_xpass_strict"].find("failure")
    assert (strict.get("type"), strict.get("message")) == ("assertion", "[XPASS(strict)] must fail")


def test_duration_is_setup_call_teardown(project):
    p = project("pytest-basic")
    p.pytest("--testflow", "-k", "test_passes")
    (case,) = p.run_json()["tests"]
    assert case["duration_ms"] > 0


def test_xdist_records_each_test_once(project):
    p = project("pytest-basic")
    r = p.pytest("--testflow", "-n", "2")
    assert r.returncode == 1, r.stdout + r.stderr
    check_basic(p.run_json())


def test_quarantined_failures_do_not_fail_the_session(project):
    """The engine's quarantine rule in the pytest door: [[tool.testflow.quarantine]] in
    pyproject.toml; the failure stays a failure in run.json, the session exits 0."""
    p = project("pytest-basic")
    pyproject = p.root / "pyproject.toml"
    entry = '[[tool.testflow.quarantine]]\nid = "%s"\nreason = "known, #17"\n' % (M + "test_assertion_fails")
    pyproject.write_text(pyproject.read_text() + "\n" + entry)
    r = p.pytest("--testflow", "-k", "test_assertion_fails or test_passes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 quarantined, not counted" in r.stdout, r.stdout
    run = p.run_json()
    assert by_id(run)[M + "test_assertion_fails"]["outcome"] == "failed"
    assert run["summary"]["failed"] == 1
    assert [t["id"] for t in run["quarantine"]["tests"]] == [M + "test_assertion_fails"]
    # A failure the quarantine does not hold still fails the session.
    r = p.pytest("--testflow", "-k", "test_assertion_fails or test_raises_value_error")
    assert r.returncode == 1, r.stdout + r.stderr


def test_the_configurations_gates_fail_a_green_session(project):
    """The engine judges a standalone run by the configuration's [gates], as `cargo
    testflow run` does: a failed required gate fails the pytest session (exit 1) and
    prints the gate report; passing gates leave it green."""
    p = project("pytest-basic")
    pyproject = p.root / "pyproject.toml"
    base = pyproject.read_text()
    pyproject.write_text(base + "\n[tool.testflow.gates]\nmin_tests = 5\n")
    r = p.pytest("--testflow", "-k", "test_passes")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "min_tests" in r.stdout and "FAIL" in r.stdout.upper(), r.stdout
    assert p.run_json()["summary"]["passed"] == 1
    pyproject.write_text(base + "\n[tool.testflow.gates]\nmin_tests = 1\n")
    r = p.pytest("--testflow", "-k", "test_passes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "min_tests" in r.stdout, r.stdout


def test_off_by_default(project):
    p = project("pytest-basic")
    r = p.pytest("-k", "test_passes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not (p.root / ".testflow").exists()
    assert "testflow:" not in r.stdout


def test_ini_switch(project):
    p = project("pytest-ini")
    r = p.pytest()
    assert r.returncode == 0, r.stdout + r.stderr
    assert p.run_json()["summary"]["passed"] == 1


def test_report_env(project):
    p = project("pytest-ini")
    (p.root / "pytest.ini").write_text("[pytest]\n")
    r = p.pytest(env={"TESTFLOW_REPORT": "junit=a.xml, json=b.json"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert (p.root / "a.xml").is_file()
    assert json.loads((p.root / "b.json").read_text())["summary"]["passed"] == 1


@pytest.mark.parametrize(
    "args, env, needle",
    [
        (["--testflow-report", "yaml=x.yaml"], {}, "unknown report format `yaml`"),
        (["--testflow-report", "junit"], {}, "expected FORMAT=PATH"),
        (["--testflow-report", "junit="], {}, "the path after `=` is empty"),
        ([], {"TESTFLOW_REPORT": "nope=1"}, "TESTFLOW_REPORT"),
        ([], {"TESTFLOW_EVENTS": "/nonexistent/events.jsonl"}, "TESTFLOW_EVENTS names /nonexistent/events.jsonl"),
    ],
)
def test_bad_input_is_a_clear_error(project, args, env, needle):
    p = project("pytest-ini")
    r = p.pytest(*args, env=env)
    assert r.returncode == 4, r.stdout + r.stderr
    assert needle in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_collection_error_names_the_missing_module(project):
    p = project("pytest-import-error")
    r = p.pytest("--testflow")
    assert r.returncode == 2, r.stdout + r.stderr
    t = by_id(p.run_json())
    broken = t["test_broken.py"]
    assert broken["outcome"] == "error"
    f = broken["failure"]
    assert (f["category"], f["kind"]) == ("import_error", "ModuleNotFoundError")
    assert "not_a_real_module_xyz" in f["message"]
    # pytest stops after collection errors: the good test was collected and never run,
    # which is a not_run run error naming it and the way to run it anyway (never a skip).
    assert "test_ok.py::test_fine" not in t
    (not_run,) = [e["message"] for e in p.run_json()["errors"] if e["kind"] == "not_run"]
    assert "pytest stopped after 1 collection error" in not_run
    assert "--continue-on-collection-errors" in not_run and not_run.endswith("Not run: test_ok.py::test_fine")


def test_collection_error_under_xdist(project):
    p = project("pytest-import-error")
    p.pytest("--testflow", "-n", "2")
    t = by_id(p.run_json())
    assert t["test_broken.py"]["failure"]["category"] == "import_error"


@pytest.mark.parametrize("how", ["os._exit(3)", "__import__('ctypes').string_at(0)"], ids=["exit", "segfault"])
def test_hard_crash_keeps_earlier_results_and_names_the_test(project, how):
    p = project("pytest-crash")
    src = p.root / "test_crash.py"
    src.write_text(src.read_text().replace("os._exit(3)", how))
    r = p.pytest("--testflow", "-p", "no:faulthandler")
    assert r.returncode != 0, r.stdout + r.stderr
    (run_dir,) = p.runs()
    assert not (run_dir / "run.json").exists(), "the process died before finishing"
    run = json.loads(testflow.load_run(str(run_dir / "events.jsonl")))
    assert run["completed"] is False
    t = by_id(run)
    assert t["test_crash.py::test_a_before"]["outcome"] == "passed"
    assert t["test_crash.py::test_b_crashes"]["outcome"] == "crashed"
    assert "test_crash.py::test_c_after" not in t


def test_worker_crash_under_xdist(project):
    p = project("pytest-crash")
    r = p.pytest("--testflow", "-n", "2")
    assert r.returncode == 1, r.stdout + r.stderr
    t = by_id(p.run_json())
    crashed = t["test_crash.py::test_b_crashes"]
    assert crashed["outcome"] == "crashed"
    assert crashed["failure"]["category"] == "crash"
    assert t["test_crash.py::test_a_before"]["outcome"] == "passed"
    assert t["test_crash.py::test_c_after"]["outcome"] == "passed"


def test_driven_by_events_env_appends_to_the_log(project, tmp_path):
    p = project("pytest-ini")
    (p.root / "pytest.ini").write_text("[pytest]\n")
    # A driver's log: created by the driver, the plugin only appends test events.
    log = tmp_path / "driver" / "events.jsonl"
    log.parent.mkdir()
    log.write_text(json.dumps({
        "event": "run_started", "schema_version": 1, "run_id": "r1", "time": "2026-01-01T00:00:00Z",
        "testflow_version": "x", "environment": {"os": "linux", "arch": "x86_64"}, "frameworks": ["pytest"],
    }) + "\n")
    r = p.pytest(env={"TESTFLOW_EVENTS": str(log)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert not (p.root / ".testflow").exists()
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert events == ["run_started", "test_started", "test_finished"]


def test_native_api_validates_reports():
    assert testflow.parse_reports("junit=a.xml,json=b.json") == [("junit", "a.xml"), ("json", "b.json")]
    with pytest.raises(ValueError, match="unknown report format"):
        testflow.parse_reports("csv=a")


@pytest.mark.skipif(int(pytest.__version__.split(".")[0]) < 9, reason="subtests are core pytest 9")
def test_subtests_fold_into_their_test(project):
    p = project("pytest-subtests")
    p.pytest("--testflow")
    t = by_id(p.run_json())
    assert set(t) == {"test_sub.py::test_with_subtests", "test_sub.py::test_subtests_pass"}
    failed = t["test_sub.py::test_with_subtests"]
    assert failed["outcome"] == "failed"
    assert failed["failure"]["message"] == "[check i=1] assert 1 != 1"
    assert t["test_sub.py::test_subtests_pass"]["outcome"] == "passed"


def test_xdist_tests_never_run_after_a_crash_are_reported(project):
    p = project("pytest-crash")
    p.pytest("--testflow", "-n", "1", "--max-worker-restart", "0")
    run = p.run_json()
    t = by_id(run)
    assert t["test_crash.py::test_b_crashes"]["outcome"] == "crashed"
    assert "test_crash.py::test_c_after" not in t
    (not_run,) = [e["message"] for e in run["errors"] if e["kind"] == "not_run"]
    assert not_run.endswith("Not run: test_crash.py::test_c_after"), not_run


def test_the_config_files_reports_and_keep_runs(project):
    """`pytest --testflow` takes `run.reports` and `[history] keep_runs` from the project's
    configuration file, as `cargo testflow run` does (the engine resolves them)."""
    import sqlite3

    p = project("pytest-ini")
    (p.root / "pyproject.toml").write_text(
        '[tool.testflow.run]\nreports = ["junit=out/a.xml", "json=out/b.json"]\n'
        "[tool.testflow.history]\nkeep_runs = 2\n"
    )
    for _ in range(3):
        r = p.pytest("--testflow")
        assert r.returncode == 0, r.stdout + r.stderr
    assert "<testsuites" in (p.root / "out" / "a.xml").read_text()
    assert json.loads((p.root / "out" / "b.json").read_text())["summary"]["passed"] == 1
    with sqlite3.connect(p.root / ".testflow" / "history.db") as db:
        (kept,) = db.execute("SELECT COUNT(*) FROM runs").fetchone()
    assert kept == 2, "three runs, keep_runs = 2"
    # The environment's reports replace the file's list (file < environment < flags).
    (p.root / "out" / "a.xml").unlink()
    r = p.pytest("--testflow", env={"TESTFLOW_REPORT": "json=env.json"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert (p.root / "env.json").is_file()
    assert not (p.root / "out" / "a.xml").exists()


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_reads_lists_the_files_each_test_file_opens(tmp_path, xdist):
    """TESTFLOW_READS (`run --affected=record`): what each test file's tests and its own
    import open for reading, one list per process; writes are not reads."""
    from conftest import Project

    (tmp_path / "data.txt").write_text("1\n")
    (tmp_path / "top.txt").write_text("x\n")
    (tmp_path / "test_a.py").write_text(
        "import os\nHERE = os.path.dirname(__file__)\nTOP = open(os.path.join(HERE, 'top.txt')).read()\n\n\n"
        "def test_a():\n    with open(os.path.join(HERE, 'data.txt')) as f:\n        assert f.read()\n"
    )
    (tmp_path / "test_b.py").write_text(
        "def test_b(tmp_path):\n    (tmp_path / 'out.txt').write_text('written')\n"
    )
    out = tmp_path / "out"
    out.mkdir()
    args = ["-n", "2"] if xdist else ["-p", "no:xdist"]
    r = Project(tmp_path).pytest(*args, env={"TESTFLOW_READS": str(out / "reads")})
    assert r.returncode == 0, r.stdout + r.stderr
    lists = sorted(out.glob("reads.*.json"))
    assert lists, list(out.iterdir())
    seen = set()
    for f in lists:
        seen.update(tuple(x) for x in json.loads(f.read_text())["reads"])
    by_file = {}
    for test_file, path in seen:
        by_file.setdefault(test_file, set()).add(os.path.relpath(path, tmp_path))
    assert {"data.txt", "top.txt"} <= by_file["test_a.py"], by_file
    assert not any(p.endswith("out.txt") for paths in by_file.values() for p in paths), by_file


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_unittest_failure_keeps_its_exception_type(tmp_path, xdist):
    # unittest's TestCase puts its exception on the call in a tryfirst makereport hook: the
    # plugin must read it after that, or the failure loses its type (and category).
    from conftest import Project

    (tmp_path / "test_cases.py").write_text(
        "import unittest\n"
        "class Cases(unittest.TestCase):\n"
        "    def test_raises(self):\n"
        "        raise KeyError('gone')\n"
        "    def test_asserts(self):\n"
        "        self.assertEqual(1, 2)\n"
        "    @unittest.skip('not here')\n"
        "    def test_skips(self):\n"
        "        pass\n"
        "    def test_passes(self):\n"
        "        pass\n"
    )
    p = Project(tmp_path)
    r = p.pytest("--testflow", *xdist)
    assert r.returncode == 1, r.stdout + r.stderr
    t = by_id(p.run_json())
    raises = t["test_cases.py::Cases::test_raises"]["failure"]
    assert (raises["category"], raises["kind"]) == ("runtime_error", "KeyError")
    asserts = t["test_cases.py::Cases::test_asserts"]["failure"]
    assert (asserts["category"], asserts["kind"]) == ("assertion", "AssertionError")
    assert t["test_cases.py::Cases::test_skips"]["outcome"] == "skipped"
    assert t["test_cases.py::Cases::test_passes"]["outcome"] == "passed"
