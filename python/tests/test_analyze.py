"""`cargo testflow analyze` on real pytest runs (the binary comes from $TESTFLOW_BIN)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

BIN = os.environ.get("TESTFLOW_BIN")
pytestmark = pytest.mark.skipif(not BIN, reason="set TESTFLOW_BIN to the built cargo-testflow")


def analyze(root: Path, *args: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESTFLOW_")}
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [BIN, "testflow", "analyze", *args], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def test_one_key_error_from_ten_lines_is_one_group_listing_the_lines(project):
    p = project("pytest-analyze")
    r = p.pytest("--testflow", "tests/test_keys.py", "tests/test_ints.py")
    assert r.returncode == 1, r.stdout + r.stderr
    out = analyze(p.root, "--format", "json")
    assert out.returncode == 0, out.stderr
    a = json.loads(out.stdout)
    assert a["failures"] == 12
    groups = a["groups"]
    assert [(g["kind"], g["count"]) for g in groups] == [("KeyError", 10), ("ValueError", 2)], groups
    keys = groups[0]
    assert keys["message"] == "'user_id'"
    assert [(loc["file"], loc["line"], loc["count"]) for loc in keys["locations"]] == [
        ("tests/test_keys.py", line, 1) for line in range(8, 54, 5)
    ]
    assert keys["locations"][0]["tests"] == ["tests/test_keys.py::test_key_0"]
    ints = groups[1]
    assert sorted(loc["tests"][0] for loc in ints["locations"]) == [
        "tests/test_ints.py::test_apples", "tests/test_ints.py::test_pears",
    ]
    human = analyze(p.root)
    assert human.returncode == 0, human.stderr
    assert "12 failing tests in 2 groups" in human.stdout, human.stdout
    assert "at 10 places:" in human.stdout, human.stdout
    assert "- tests/test_keys.py:8 (1 test): tests/test_keys.py::test_key_0" in human.stdout, human.stdout


def test_a_dict_assertion_gets_expected_actual_and_a_diff(project):
    p = project("pytest-analyze")
    r = p.pytest("--testflow", "tests/test_compare.py")
    assert r.returncode == 1, r.stdout + r.stderr
    a = json.loads(analyze(p.root, "--format", "json").stdout)
    by_test = {g["tests"][0]["id"]: g for g in a["groups"]}
    ints = by_test["tests/test_compare.py::test_ints"]["suggestion"]
    assert ints["text"].startswith("Expected 5, got 4 at tests/test_compare.py:9"), ints
    diff = by_test["tests/test_compare.py::test_dicts"]["suggestion"]["diff"]
    assert "- 'langs': ['en', 'de'],\n+ 'langs': ['en', 'fr']," in diff, diff
