"""The engine's errors arrive as testflow's own exception types (testflow::error::Kind)."""

from __future__ import annotations

import pytest

import testflow
from testflow._native import Selection


def test_a_bad_report_spec_is_a_config_error_with_its_code():
    with pytest.raises(testflow.ConfigError) as e:
        testflow.parse_reports("nonsense=out.xml")
    assert e.value.code == "TESTFLOW_CONFIG"
    # One family, and still the ValueError it was before it had a type of its own.
    assert isinstance(e.value, testflow.TestflowError)
    assert isinstance(e.value, ValueError)
    assert not isinstance(e.value, testflow.RunRecordError)
    assert "nonsense" in str(e.value), str(e.value)
    assert not str(e.value).startswith("testflow: "), str(e.value)


def test_a_bad_shard_is_a_config_error(tmp_path):
    with pytest.raises(testflow.ConfigError) as e:
        Selection(str(tmp_path), shard="3/2")
    assert e.value.code == "TESTFLOW_CONFIG"


def test_an_unreadable_run_is_a_run_record_error(tmp_path):
    missing = tmp_path / "no-such-run"
    with pytest.raises(testflow.RunRecordError) as e:
        testflow.load_run(str(missing))
    assert e.value.code == "TESTFLOW_RUN_RECORD"
    assert isinstance(e.value, RuntimeError) and not isinstance(e.value, ValueError)
    assert str(e.value).startswith("testflow: "), str(e.value)
    assert "no-such-run" in str(e.value), str(e.value)
