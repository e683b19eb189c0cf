"""Expected and actual of failed `assert a == b`, from pytest's own comparison hook."""

from __future__ import annotations

import pytest

from conftest import by_id

DICT_EXPECTED = "{'age': 36,\n 'city': 'London',\n 'id': 7,\n 'langs': ['en', 'de'],\n 'name': 'ada'}"
DICT_ACTUAL = "{'age': 36,\n 'city': 'London',\n 'id': 7,\n 'langs': ['en', 'fr'],\n 'name': 'ada'}"


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["in-process", "xdist"])
def test_equality_failures_record_expected_and_actual(project, xdist):
    p = project("pytest-analyze")
    r = p.pytest("--testflow", "tests/test_compare.py", *xdist)
    assert r.returncode == 1, r.stdout + r.stderr
    t = by_id(p.run_json())

    def ea(name):
        f = t[f"tests/test_compare.py::{name}"]["failure"]
        assert f["category"] == "assertion", f
        return f.get("expected"), f.get("actual")

    assert ea("test_ints") == ("5", "4")
    assert ea("test_strings") == ("'hello there'", "'hello world'")
    # Whole values (pytest's message shortens them), pretty-printed so a diff shows the item.
    assert ea("test_dicts") == (DICT_EXPECTED, DICT_ACTUAL)
    # A repr that raises is named; the plugin and pytest's own report carry on.
    assert ea("test_repr_raises") == ("1", "<repr raised RuntimeError>")
    assert "no repr for you" in r.stdout
