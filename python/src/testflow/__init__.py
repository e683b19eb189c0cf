"""testflow for Python: the pytest plugin (``testflow.plugin``) and the engine bindings."""

from testflow._native import Recorder, __version__, load_run, parse_reports, write_report

__all__ = ["Recorder", "__version__", "load_run", "parse_reports", "write_report"]
