"""`cargo testflow list` on a pytest project: every node id, one suite per file (the
binary comes from $TESTFLOW_BIN)."""

from __future__ import annotations

import json

from test_cargo_testflow import BIN, cargo_testflow, pytestmark  # noqa: F401


def test_list_json_has_every_node_id_and_the_ids_a_run_records(project):
    p = project("pytest-basic")
    r = cargo_testflow(p.root, "list", "--format", "json")
    assert r.returncode == 0, r.stderr
    (suite,) = json.loads(r.stdout)
    assert (suite["id"], suite["kind"], suite["files"], suite["tests"]) == (
        "tests/test_outcomes.py", "pytest", 1, 17,
    )
    listed = {t["id"]: t for t in suite["test_list"]}
    assert len(listed) == 17
    t = listed["tests/test_outcomes.py::TestGroup::test_in_class"]
    assert t == {
        "id": "tests/test_outcomes.py::TestGroup::test_in_class",
        "name": "test_in_class",
        "framework": "pytest",
        "file": "tests/test_outcomes.py",
        # Skip marks are applied when pytest runs the test.
        "ignored": None,
    }
    assert "tests/test_outcomes.py::test_params[héllo wörld]" in listed
    run = cargo_testflow(p.root, "run", "-j", "2", "--format", "json")
    assert sorted(t["id"] for t in json.loads(run.stdout)["tests"]) == sorted(listed)


def test_list_names_shows_them_under_their_file(project):
    p = project("pytest-basic")
    r = cargo_testflow(p.root, "list", "--names")
    assert r.returncode == 0, r.stderr
    assert "    17  tests/test_outcomes.py [pytest]\n" in r.stdout
    assert "        tests/test_outcomes.py::test_passes\n" in r.stdout
    assert r.stdout.endswith("17 tests in 1 suite (1 test file)\n"), r.stdout
