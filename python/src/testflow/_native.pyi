"""The testflow engine (Rust, pyo3). Fields cross as plain strings and numbers."""

from os import PathLike
from typing import Any

__version__: str

class TestflowError(Exception):
    """Base of every error the engine raises. ``code`` names the engine's error kind
    (``testflow::error::Kind``), the same string as the Node addon's ``err.code``."""

    code: str

class ConfigError(TestflowError, ValueError):
    """A bad argument or setting (``TESTFLOW_CONFIG``): a report spec, a shard, a strategy."""

class BuildError(TestflowError, RuntimeError):
    """The workspace could not be read or built, or a tool a suite needs is missing."""

class NoTestsError(TestflowError, RuntimeError):
    """Nothing to run (``TESTFLOW_NO_TESTS``)."""

class NotFoundError(TestflowError, RuntimeError):
    """No run or test recorded matches what was asked (``TESTFLOW_NOT_FOUND``)."""

class GateFailedError(TestflowError, RuntimeError):
    """A required quality gate failed (``TESTFLOW_GATE_FAILED``)."""

class RunRecordError(TestflowError, RuntimeError):
    """A run's record (event log, run.json, a report, the state directory) could not be
    read or written (``TESTFLOW_RUN_RECORD``)."""

class InternalError(TestflowError, RuntimeError):
    """testflow itself failed (``TESTFLOW_INTERNAL``)."""

class Recorder:
    """A pytest session being recorded; one per process, alive for the whole session.

    Reads ``TESTFLOW_EVENTS`` (append to a driver's event log) and ``TESTFLOW_REPORT``
    from the environment. Raises ConfigError (a ValueError) for a bad report spec,
    RunRecordError (a RuntimeError) when the state directory cannot be written.
    """

    def __init__(self, root: str | PathLike[str], reports: list[str] = ...) -> None: ...
    @property
    def run_dir(self) -> str | None: ...
    @property
    def events_path(self) -> str: ...
    def collected(self, items: list[tuple[str, int | None]]) -> None: ...
    def logstart(self, nodeid: str, line: int | None = None) -> None: ...
    def report(
        self,
        nodeid: str,
        when: str,
        outcome: str,
        duration: float,
        wasxfail: str | None = None,
        exc_type: str | None = None,
        message: str | None = None,
        crash_file: str | None = None,
        crash_line: int | None = None,
        longrepr: str | None = None,
        stdout: str | None = None,
        stderr: str | None = None,
        log: str | None = None,
        subtest: str | None = None,
        compare: tuple[str, str, str] | None = None,
    ) -> None: ...
    def logfinish(self, nodeid: str) -> None: ...
    def collect_error(
        self, nodeid: str, exc_type: str | None, message: str, longrepr: str
    ) -> None: ...
    def run_error(self, kind: str, message: str) -> None: ...
    def finish(
        self,
        completed: bool = True,
        reason: str | None = None,
        statuses: list[tuple[str, str]] | None = None,
        exit_status: int | None = None,
    ) -> dict[str, Any]:
        """The run's counts, `distrust`, `counted_failures`, `quarantined_failures`, and
        `gate` (None, or `{"passed": bool, "text": str}` when the configuration's gates
        apply to this run)."""

def parse_reports(spec: str) -> list[tuple[str, str]]: ...
def write_report(run: str | PathLike[str], spec: str) -> None: ...
def load_run(run: str | PathLike[str]) -> str: ...
