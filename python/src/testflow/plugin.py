"""pytest plugin: hands each report to the testflow engine as plain fields.

Sharding (``--testflow-shard K/N``), ``--testflow-order`` and ``--testflow-last-failed``
select and order the collected items; the engine decides (``testflow::selection``).

Recording is off unless asked for (``--testflow``, ``--testflow-report``, ini ``testflow = true``,
``TESTFLOW_EVENTS`` or ``TESTFLOW_REPORT``); when off it registers nothing but its
options. All folding and classification happens in the engine
(``testflow::frameworks::pytest``); this module only reads pytest's objects.
"""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

_KEY = "_testflow"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("testflow", "testflow: structured test results")
    group.addoption(
        "--testflow",
        action="store_true",
        default=False,
        help="record this run in .testflow/runs/<id>/ (events.jsonl, run.json)",
    )
    group.addoption(
        "--testflow-report",
        action="append",
        default=[],
        metavar="FORMAT=PATH",
        help="write a report, e.g. junit=junit.xml or json=run.json (repeatable; implies --testflow)",
    )
    group.addoption(
        "--testflow-shard",
        default=None,
        metavar="K/N",
        help="run only shard K of N (1-based); with --testflow, TESTFLOW_SHARD and the CI's "
        "variables (GitLab, CircleCI, Buildkite) are read when not given",
    )
    group.addoption(
        "--testflow-shard-strategy",
        default=None,
        choices=["timings", "hash", "count"],
        help="how to split: timings from history (the default when history has durations), "
        "hash of the node id, or equal counts",
    )
    group.addoption(
        "--testflow-order",
        default=None,
        choices=["default", "failed-first", "slowest-first", "fastest-first"],
        help="test order from testflow's history",
    )
    group.addoption(
        "--testflow-last-failed",
        action="store_true",
        default=False,
        help="run only the tests that failed in the previous recorded run (all when none did)",
    )
    parser.addini("testflow", type="bool", default=False, help="record runs with testflow (like --testflow)")


def _enabled(config: pytest.Config) -> bool:
    if config.getoption("testflow") or config.getoption("testflow_report"):
        return True
    if os.environ.get("TESTFLOW_EVENTS") or os.environ.get("TESTFLOW_REPORT", "").strip():
        return True
    try:
        return bool(config.getini("testflow"))
    except ValueError:
        return False


def _type_name(t: type) -> str:
    mod = getattr(t, "__module__", "") or ""
    if mod == "builtins" or mod.startswith("_pytest") or mod.startswith("pytest"):
        return t.__qualname__
    return f"{mod}.{t.__qualname__}"


class _Exceptions:
    """Runs wherever tests run (xdist workers too): puts the exception's type on the
    report as a plain string, which survives xdist's report serialization."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        excinfo = call.excinfo
        if excinfo is not None:
            report = outcome.get_result()
            report._testflow_exc = _type_name(excinfo.type)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_make_collect_report(self, collector):
        outcome = yield
        report = outcome.get_result()
        call = getattr(report, "call", None)
        excinfo = getattr(call, "excinfo", None)
        if report.failed and excinfo is not None:
            exc = excinfo.value
            # pytest wraps import and syntax errors in CollectError: report the cause.
            while type(exc).__name__ == "CollectError" and (exc.__cause__ or exc.__context__):
                exc = exc.__cause__ or exc.__context__
            report._testflow_exc = _type_name(type(exc))
            report._testflow_msg = str(exc) if type(exc).__name__ != "CollectError" else ""


class _Watchdog(threading.Thread):
    """``TESTFLOW_TEST_TIMEOUT`` without pytest-timeout: a test still running at the limit
    is recorded as ``timeout`` and the session ends (the whole-process watchdog)."""

    def __init__(self, recorder, limit: float) -> None:
        super().__init__(name="testflow-watchdog", daemon=True)
        self.rec = recorder
        self.limit = limit
        self.cond = threading.Condition()
        self.running: dict[str, float] = {}

    def started(self, nodeid: str) -> None:
        with self.cond:
            self.running[nodeid] = time.monotonic() + self.limit
            self.cond.notify()

    def finished(self, nodeid: str) -> None:
        with self.cond:
            self.running.pop(nodeid, None)

    def run(self) -> None:
        with self.cond:
            while True:
                if not self.running:
                    self.cond.wait()
                    continue
                now = time.monotonic()
                expired = [n for n, d in self.running.items() if d <= now]
                if expired:
                    break
                self.cond.wait(min(self.running.values()) - now)
        message = (
            f"Timeout (>{self.limit:g}s) from testflow's watchdog; the pytest session was ended "
            "(install pytest-timeout to time out single tests)"
        )
        try:
            for nodeid in expired:
                self.rec.report(nodeid, "call", "failed", self.limit, None, "Timeout", message)
                self.rec.logfinish(nodeid)
            self.rec.finish(completed=False, reason="timeout")
        finally:
            os._exit(1)


class _Collected:
    """``TESTFLOW_COLLECT=PATH``: write the collected node ids (``cargo testflow list``)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def pytest_collection_finish(self, session) -> None:
        with open(self.path, "w", encoding="utf-8") as f:
            json.dump([i.nodeid for i in session.items], f)


class _Selecting:
    """The shard, ``--testflow-last-failed`` and the order, applied to the collected items.
    The engine decides (``testflow::selection``); every xdist worker applies the same
    snapshot of history the controller read, so all of them select the same tests."""

    def __init__(self, selection, controller: bool) -> None:
        self.sel = selection
        self.controller = controller
        self.notes: list[str] = []
        self.empty_shard = False

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:
        node.workerinput["testflow_selection"] = self.sel.to_json()

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids) -> None:
        # The controller never collects: say how many tests the workers kept.
        shard = self.sel.shard
        if shard is not None and not self.notes:
            self.notes = [f"shard {shard[0]}/{shard[1]} ({shard[2]}): {len(ids)} tests"]

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items) -> None:
        keep, self.notes = self.sel.apply([i.nodeid for i in items])
        kept = set(keep)
        deselected = [item for i, item in enumerate(items) if i not in kept]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
        items[:] = [items[i] for i in keep]

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus) -> None:
        # An empty shard (more shards than tests, or -k left this one nothing) is not a
        # failure: the CI job must pass, not exit 5.
        if self.sel.shard is not None and int(session.exitstatus) == int(pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.OK
            self.empty_shard = True

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.controller:
            return
        for note in self.notes:
            terminalreporter.write_line(f"testflow: {note}")
        shard = self.sel.shard
        if shard is not None and not self.notes:
            terminalreporter.write_line(f"testflow: shard {shard[0]}/{shard[1]} ({shard[2]})")
        if self.empty_shard:
            terminalreporter.write_line(f"testflow: shard {shard[0]}/{shard[1]} has no tests to run: nothing to do")


def _selection(config: pytest.Config, enabled: bool):
    """The selection this process applies, or None when it would change nothing."""
    from testflow._native import Selection

    worker = getattr(config, "workerinput", None)
    if worker is not None:
        text = worker.get("testflow_selection")
        return Selection.from_json(text) if text else None
    shard = config.getoption("testflow_shard")
    try:
        sel = Selection(
            str(config.rootpath),
            shard=shard,
            strategy=config.getoption("testflow_shard_strategy"),
            order=config.getoption("testflow_order"),
            last_failed=bool(config.getoption("testflow_last_failed")),
            shard_from_env=enabled,
        )
    except ValueError as e:
        raise pytest.UsageError(f"testflow: {e}") from None
    return sel if sel.active else None


class _Recording:
    """Runs in the process that owns the session (the xdist controller, not workers)."""

    def __init__(self, config: pytest.Config, recorder) -> None:
        self.config = config
        self.rec = recorder
        self.summary: dict | None = None
        self.failed_to_finish: str | None = None
        self.collected_sent = False
        self.watchdog: _Watchdog | None = None
        limit = os.environ.get("TESTFLOW_TEST_TIMEOUT", "").strip()
        if limit:
            try:
                seconds = float(limit)
            except ValueError:
                raise pytest.UsageError(f"testflow: TESTFLOW_TEST_TIMEOUT={limit!r} is not a number of seconds") from None
            if not seconds > 0:
                raise pytest.UsageError(f"testflow: TESTFLOW_TEST_TIMEOUT={limit!r} must be positive")
            self.watchdog = _Watchdog(recorder, seconds)
            self.watchdog.start()

    # -- collection -------------------------------------------------------------
    def pytest_collectreport(self, report) -> None:
        if not report.failed:
            return
        self.rec.collect_error(
            report.nodeid or str(getattr(report, "fspath", "")),
            getattr(report, "_testflow_exc", None),
            getattr(report, "_testflow_msg", "") or "",
            "" if report.longrepr is None else str(report.longrepr),
        )

    def pytest_collection_finish(self, session) -> None:
        if session.items:
            self.collected_sent = True
            self.rec.collected([(i.nodeid, i.location[1]) for i in session.items])

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids) -> None:
        if not self.collected_sent:
            self.collected_sent = True
            self.rec.collected([(i, None) for i in ids])

    # -- tests ------------------------------------------------------------------
    def pytest_runtest_logstart(self, nodeid, location) -> None:
        self.rec.logstart(nodeid, location[1] if location else None)
        if self.watchdog is not None:
            self.watchdog.started(nodeid)

    def pytest_runtest_logreport(self, report) -> None:
        outcome = report.outcome
        wasxfail = getattr(report, "wasxfail", None)
        if outcome == "passed" and wasxfail is None and not hasattr(report, "context"):
            # The hot path: most reports of most tests.
            self.rec.report(report.nodeid, report.when, outcome, report.duration)
            return
        self._full_report(report, outcome, wasxfail)

    def _full_report(self, report, outcome, wasxfail) -> None:
        longrepr = report.longrepr
        message = crash_file = crash_line = text = None
        stdout = stderr = log = None
        if isinstance(longrepr, tuple) and len(longrepr) == 3:
            message = str(longrepr[2])  # skip: (path, lineno, "Skipped: reason")
        elif isinstance(longrepr, str):
            message = text = longrepr  # strict xpass, xdist crash, plugins
        elif longrepr is not None:
            crash = getattr(longrepr, "reprcrash", None)
            if crash is not None:
                message = crash.message
                crash_file, crash_line = str(crash.path), crash.lineno
            # str() renders without the "[gw0] linux -- Python …" line xdist adds to longreprtext.
            text = str(longrepr)
        if outcome not in ("passed", "skipped"):
            stdout, stderr, log = report.capstdout, report.capstderr, report.caplog
        subtest = None
        context = getattr(report, "context", None)
        if context is not None:
            parts = [str(getattr(context, "msg", "") or "")]
            kwargs = getattr(context, "kwargs", None) or {}
            parts += [f"{k}={v}" for k, v in kwargs.items()]
            subtest = " ".join(p for p in parts if p) or "subtest"
        self.rec.report(
            report.nodeid,
            report.when or "call",
            outcome,
            report.duration or 0.0,
            None if wasxfail is None else str(wasxfail),
            getattr(report, "_testflow_exc", None),
            message,
            crash_file,
            crash_line if isinstance(crash_line, int) and crash_line > 0 else None,
            text,
            stdout or None,
            stderr or None,
            log or None,
            subtest,
        )

    def pytest_runtest_logfinish(self, nodeid, location) -> None:
        if self.watchdog is not None:
            self.watchdog.finished(nodeid)
        self.rec.logfinish(nodeid)

    # -- session ----------------------------------------------------------------
    def pytest_internalerror(self, excrepr, excinfo) -> None:
        self.rec.run_error("internal", str(excrepr))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus) -> None:
        interrupted = int(exitstatus) == int(pytest.ExitCode.INTERRUPTED)
        reason = "interrupted" if interrupted else None
        if session.shouldstop and not interrupted:
            reason = str(session.shouldstop)
        try:
            self.summary = self.rec.finish(
                completed=not interrupted and int(exitstatus) != int(pytest.ExitCode.INTERNAL_ERROR),
                reason=reason,
            )
        except (RuntimeError, ValueError) as e:
            self.failed_to_finish = str(e)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.failed_to_finish is not None:
            terminalreporter.write_line(f"testflow: {self.failed_to_finish}", red=True)
            return
        s = self.summary
        if s is None:
            return
        counts = ", ".join(
            f"{s[k]} {k}"
            for k in ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "timeout", "crashed", "flaky")
            if s.get(k)
        )
        where = self.rec.run_dir if not os.environ.get("TESTFLOW_EVENTS") else self.rec.events_path
        terminalreporter.write_line(f"testflow: {counts or 'no tests'}; recorded in {where}")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    collect = os.environ.get("TESTFLOW_COLLECT")
    if collect and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Collected(collect), "testflow-collected")
    enabled = _enabled(config)
    selects = (
        enabled
        or config.getoption("testflow_shard")
        or config.getoption("testflow_order") not in (None, "default")
        or config.getoption("testflow_last_failed")
        or hasattr(config, "workerinput")
    )
    selection = _selection(config, enabled) if selects else None
    if selection is not None:
        controller = not hasattr(config, "workerinput")
        config.pluginmanager.register(_Selecting(selection, controller), "testflow-selecting")
    if not enabled:
        return
    config.pluginmanager.register(_Exceptions(), "testflow-exceptions")
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller records
    if config.getoption("collectonly", False) and not os.environ.get("TESTFLOW_EVENTS"):
        return
    from testflow._native import Recorder

    root = str(config.rootpath)
    try:
        recorder = Recorder(root, list(config.getoption("testflow_report") or []), selection)
    except ValueError as e:
        raise pytest.UsageError(f"testflow: {e}") from None
    except RuntimeError as e:
        raise pytest.UsageError(str(e)) from None
    config.pluginmanager.register(_Recording(config, recorder), "testflow-recording")
