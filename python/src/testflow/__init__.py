"""testflow for Python: the pytest plugin (``testflow.plugin``) and the engine bindings."""

from testflow._native import (
    BuildError,
    ConfigError,
    GateFailedError,
    InternalError,
    NoTestsError,
    NotFoundError,
    Recorder,
    RunRecordError,
    TestflowError,
    __version__,
    load_run,
    parse_reports,
    write_report,
)

__all__ = [
    "BuildError",
    "ConfigError",
    "GateFailedError",
    "InternalError",
    "NoTestsError",
    "NotFoundError",
    "Recorder",
    "RunRecordError",
    "TestflowError",
    "__version__",
    "load_run",
    "parse_reports",
    "write_report",
]
