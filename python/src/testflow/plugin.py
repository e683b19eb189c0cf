"""pytest plugin: hands each report to the testflow engine as plain fields.

Sharding (``--testflow-shard K/N``), ``--testflow-order`` and ``--testflow-last-failed``
select and order the collected items; the engine decides (``testflow::selection``). The
plugin passes its own options; the engine resolves the rest (``testflow::settings``: the
configuration file's ``run.reports`` and ``keep_runs``, ``TESTFLOW_REPORT``,
``TESTFLOW_ORDER``, ``TESTFLOW_LAST_FAILED``).

Recording is off unless asked for (``--testflow``, ``--testflow-report``, ini ``testflow = true``,
``TESTFLOW_EVENTS`` or ``TESTFLOW_REPORT``); when off it registers nothing but its
options. All folding and classification happens in the engine
(``testflow::frameworks::pytest``); this module only reads pytest's objects.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import threading
import time
import weakref

import pytest

_KEY = "_testflow"
# Names a file the plugin writes pytest's session exit status to (JSON), so that
# `cargo testflow run` can tell a finished session from a process that ended early.
_STATUS_ENV = "TESTFLOW_PYTEST_STATUS"


def _guarded(hook):
    """A hook that never raises into pytest: an error in testflow (the engine, a report it
    cannot read) becomes an ``internal`` run error, recorded through the recorder, instead of
    an INTERNALERROR that ends the session and loses results. Only ``Exception``: Ctrl-C
    and ``pytest.exit()`` still stop the session."""

    @functools.wraps(hook)
    def wrapper(self, *args, **kwargs):
        try:
            return hook(self, *args, **kwargs)
        except Exception as e:  # noqa: BLE001 - the point is to catch everything
            self._hook_failed(hook.__name__, e)
            return None

    return wrapper


def _write_status(exit_status: int, collect_errors: int = 0) -> None:
    path = os.environ.get(_STATUS_ENV)
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"exit_status": int(exit_status), "collect_errors": int(collect_errors)}, f)


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
        help="test order from testflow's history (default: $TESTFLOW_ORDER, else pytest's order)",
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

    def __init__(self, worker: bool) -> None:
        self.worker = worker
        # The last comparison pytest's assertion rewriting explained in this phase.
        self.compare: tuple[str, str, str] | None = None
        # (node id, phase) -> (exception type, comparison) of a phase that raised.
        self.pending: dict[tuple[str, str], tuple[str, list[str] | None]] = {}

    def _hook_failed(self, hook: str, e: Exception) -> None:
        sys.stderr.write(f"testflow: {hook} failed: {type(e).__name__}: {e}\n")

    def pytest_assertrepr_compare(self, config, op, left, right):
        # Called in the process running the test, with the objects themselves. Returns None:
        # pytest's own explanation stays as it is.
        try:
            self.compare = (str(op), _value_text(left), _value_text(right))
        except Exception:  # noqa: BLE001 - test data must never break the plugin
            self.compare = None
        return None

    # A plain hook, not a wrapper: it runs for every phase of every test, and a wrapper
    # costs pluggy a generator and a result object each time. Unmarked, it runs after the
    # tryfirst ones (unittest's puts a TestCase's exception on `call` there) and before
    # pytest's own, which makes the report: so the type waits in `pending` for the report.
    def pytest_runtest_makereport(self, item, call):
        if call.excinfo is not None:
            self._note(item, call)
        self.compare = None

    @_guarded
    def _note(self, item, call):
        excinfo = call.excinfo
        compare = None
        if self.compare is not None and isinstance(excinfo.value, AssertionError):
            # A plain list: survives xdist's report serialization to the controller.
            compare = list(self.compare)
        if len(self.pending) >= 256:
            self.pending.clear()  # reports another plugin made and nobody logged
        self.pending[(item.nodeid, call.when)] = (_type_name(excinfo.type), compare)

    def attach(self, report) -> None:
        """Puts the noted exception's type on the report of that phase (a plain string,
        which survives xdist's report serialization)."""
        noted = self.pending.pop((report.nodeid, report.when), None)
        if noted is not None:
            report._testflow_exc, compare = noted
            if compare is not None:
                report._testflow_compare = compare

    @pytest.hookimpl(hookwrapper=True)
    def pytest_report_to_serializable(self, config, report):
        if self.worker and self.pending and isinstance(report, pytest.TestReport):
            self._attach(report)  # before pytest turns the report into data
        outcome = yield
        if self.worker:
            self._safe_serialized(outcome)

    @_guarded
    def _attach(self, report):
        self.attach(report)

    @_guarded
    def _safe_serialized(self, outcome):
        # xdist sends reports over execnet, which cannot encode lone surrogates (a message
        # built with surrogateescape, a file name that is not UTF-8): the worker would
        # fail and the report be lost. Send such text as testflow records it (\xNN).
        data = outcome.get_result()
        if data is not None and _has_surrogates(data):
            outcome.force_result(_safe_tree(data))

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        if self.worker:
            self._safe_nodeids(items)

    @_guarded
    def _safe_nodeids(self, items):
        # xdist's worker sends the collected node ids to the controller: the same reason.
        # Every worker renames the same way, so the controller's schedule stays consistent.
        from testflow._native import safe

        for item in items:
            if _has_surrogates(item.nodeid):
                _rename(item, safe(item.nodeid))
            location = item.location
            if _has_surrogates(location):
                # A cached_property: what xdist sends with every logstart.
                item.__dict__["location"] = _safe_tree(location)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_make_collect_report(self, collector):
        outcome = yield
        self._collect_cause(outcome)

    @_guarded
    def _collect_cause(self, outcome):
        report = outcome.get_result()
        if report.failed:
            exc, msg = _collect_cause(report)
            if exc is not None:
                report._testflow_exc = exc
                report._testflow_msg = msg


def _collect_cause(report) -> tuple[str | None, str]:
    """The type name and message of the exception that failed a collect report."""
    call = getattr(report, "call", None)
    excinfo = getattr(call, "excinfo", None)
    if excinfo is None:
        return None, ""
    exc = excinfo.value
    # pytest wraps import and syntax errors in CollectError: report the cause.
    while type(exc).__name__ == "CollectError" and (exc.__cause__ or exc.__context__):
        exc = exc.__cause__ or exc.__context__
    return _type_name(type(exc)), (str(exc) if type(exc).__name__ != "CollectError" else "")


_VALUE_CAP = 8192


def _value_text(obj) -> str:
    """The repr of one side of a comparison, capped; a repr that raises is named, not raised.
    Containers are pretty-printed (one item a line when long) so that a diff can show
    which items differ, like pytest's own full diff."""
    try:
        text = repr(obj)
        if len(text) > 60 and len(text) <= _VALUE_CAP and isinstance(obj, (dict, list, tuple, set, frozenset)):
            import pprint

            text = pprint.pformat(obj, width=60)
    except Exception as e:  # noqa: BLE001 - user code: anything may be raised
        try:
            return f"<repr raised {type(e).__name__}>"
        except Exception:  # noqa: BLE001
            return "<repr raised>"
    return text if len(text) <= _VALUE_CAP else text[:_VALUE_CAP] + f"… ({len(text) - _VALUE_CAP} more characters)"


def _compare_of(report):
    c = getattr(report, "_testflow_compare", None)
    if isinstance(c, (list, tuple)) and len(c) == 3 and all(isinstance(x, str) for x in c):
        return tuple(c)
    return None


def _rename(item, nodeid: str) -> None:
    # pytest's own attribute (xdist's --dist loadgroup renames items the same way).
    try:
        from _pytest.nodeid import coerce_node_id  # pytest >= 9.2
    except ImportError:
        item._nodeid = nodeid
    else:
        item._id = coerce_node_id(nodeid)


def _has_surrogates(obj) -> bool:
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
            return False
        except UnicodeEncodeError:
            return True
    if isinstance(obj, dict):
        return any(_has_surrogates(k) or _has_surrogates(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return any(_has_surrogates(v) for v in obj)
    return False


def _safe_tree(obj):
    if isinstance(obj, str):
        if not _has_surrogates(obj):
            return obj
        from testflow._native import safe

        return safe(obj)
    if isinstance(obj, dict):
        return {_safe_tree(k): _safe_tree(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_safe_tree(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_safe_tree(v) for v in obj)
    return obj


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
            _write_status(int(pytest.ExitCode.TESTS_FAILED))
        finally:
            os._exit(1)


class _Collected:
    """``TESTFLOW_COLLECT=PATH``: write the collected node ids and the modules that could
    not be collected, with why (``cargo testflow list``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.errors: list[dict] = []

    @pytest.hookimpl(hookwrapper=True)
    def pytest_make_collect_report(self, collector):
        outcome = yield
        report = outcome.get_result()
        if report.failed:
            from testflow._native import safe

            exc, msg = _collect_cause(report)
            if not msg:
                text = "" if report.longrepr is None else str(report.longrepr)
                msg = text.strip().splitlines()[-1] if text.strip() else "collection failed"
            message = f"{exc}: {msg}" if exc else msg
            self.errors.append({"nodeid": safe(report.nodeid or str(collector.path)), "message": safe(message)})

    def pytest_collection_finish(self, session) -> None:
        from testflow._native import safe

        with open(self.path, "w", encoding="utf-8") as f:
            json.dump({"items": [safe(i.nodeid) for i in session.items], "errors": self.errors}, f)


class _Reads:
    """``TESTFLOW_READS=PATH`` (``cargo testflow run --affected=record``): the files each
    test file's tests (and the test module's own import) open, seen through Python's
    ``open`` audit event, written to ``PATH.<pid>.json`` at the end. The engine keeps the
    ones inside the project as the test file's dependencies: a data file a test reads, or a
    module it loads by name, which no import statement names. Every process that runs
    tests (each xdist worker) writes its own file."""

    def __init__(self, path: str) -> None:
        self.path = f"{path}.{os.getpid()}.json"
        self.current: str | None = None
        self.seen: set[tuple[str, str]] = set()
        sys.addaudithook(self._audit)

    def _audit(self, event, args) -> None:
        # Called for every audit event of the process: cheap unless it is a test's open.
        if event != "open" or self.current is None:
            return
        try:
            path, mode = args[0], args[1]
            if isinstance(path, int) or (isinstance(mode, str) and "r" not in mode and "+" not in mode):
                return
            path = os.fsdecode(path)
            if path.endswith(".pyc"):
                return
            path = os.path.abspath(path)
            path.encode("utf-8")  # a name that is not UTF-8 cannot be recorded: skip it
            self.seen.add((self.current, path))
        except Exception:  # noqa: BLE001 - an audit hook must never fail an open
            pass

    @pytest.hookimpl(hookwrapper=True)
    def pytest_make_collect_report(self, collector):
        # Importing a test module runs its top level: what it opens is that file's too.
        module = isinstance(collector, pytest.Module)
        if module:
            self.current = collector.nodeid.split("::")[0]
        try:
            yield
        finally:
            if module:
                self.current = None

    # The protocol runs where the test runs (an xdist worker), never in a controller
    # that only hears of it.
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        self.current = item.nodeid.split("::")[0]
        try:
            yield
        finally:
            self.current = None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus) -> None:
        self.current = None
        try:
            with open(self.path, "w", encoding="utf-8") as f:
                json.dump({"reads": sorted(self.seen)}, f)
        except OSError as e:
            sys.stderr.write(f"testflow: cannot write {self.path}: {e}\n")


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


def _pytest_terminal(config: pytest.Config):
    """pytest's own terminal reporter, whose ``stats`` say how it counted each report; not
    a replacement registered under its name (pytest-sugar and the like), which may count
    differently, and none under ``-p no:terminal``."""
    try:
        from _pytest.terminal import TerminalReporter
    except ImportError:
        return None
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    ok = type(terminal) is TerminalReporter and isinstance(getattr(terminal, "stats", None), dict)
    return terminal if ok else None


class _Tally:
    """Asks pytest_report_teststatus for each test report's status, where pytest's terminal
    reporter is not there to have counted them (see _Recording.terminal)."""

    def __init__(self, owner) -> None:
        self.owner = owner
        self.statuses: list[tuple[str, str]] = []
        # Answers given to others, so _tally need not ask again.
        self._seen: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _hook_failed(self, hook: str, e: BaseException) -> None:
        self.owner._hook_failed(hook, e)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_report_teststatus(self, report, config):
        outcome = yield
        try:
            if report not in self._seen:
                self._seen[report] = outcome.get_result()
        except BaseException:  # noqa: BLE001 - a failed hook, or a report that cannot be
            pass  # weakly referenced: _tally asks for itself

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report) -> None:
        self._tally(report)

    @_guarded
    def _tally(self, report) -> None:
        try:
            status = self._seen.pop(report)
        except (KeyError, TypeError):
            config = self.owner.config
            status = config.hook.pytest_report_teststatus(report=report, config=config)
        if status is None:
            # No answer at all: the default answer is the terminal plugin's own, and it is
            # not loaded (`-p no:terminal`). Its rule, so a pass is not taken for silence.
            failed_phase = report.when in ("setup", "teardown") and report.outcome == "failed"
            status = ("error" if failed_phase else report.outcome,)
        word = status[0] if isinstance(status, tuple) and status else ""
        if word:
            self.statuses.append((report.nodeid, str(word)))


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

    def __init__(self, config: pytest.Config, recorder, exceptions: _Exceptions) -> None:
        self.config = config
        self.rec = recorder
        self.exceptions = exceptions
        self.summary: dict | None = None
        self.failed_to_finish: str | None = None
        self.collected_sent = False
        # pytest's status of every test report, as its terminal counts them: the engine
        # reconciles the record with it at the end. Read from pytest's own terminal
        # reporter, which asks for every report's status anyway; only without it does a
        # _Tally ask the hook again for each report (a fifth of the plugin's per-test cost).
        self.terminal = _pytest_terminal(config)
        self.tally = None if self.terminal is not None else _Tally(self)
        if self.tally is not None:
            config.pluginmanager.register(self.tally, "testflow-tally")
        self.hook_errors = 0
        # Modules that failed to collect (xdist: each worker reports the same ones).
        self.collect_errors: set[str] = set()
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

    def _hook_failed(self, hook: str, e: BaseException) -> None:
        self._internal(f"testflow's {hook} hook failed: {type(e).__name__}: {e}")

    def _internal(self, message: str) -> None:
        self.hook_errors += 1
        try:
            self.rec.run_error("internal", message)
        except Exception as again:  # noqa: BLE001 - the recorder itself is broken: say so
            sys.stderr.write(f"testflow: {message}; and recording that failed: {again}\n")

    # -- collection -------------------------------------------------------------
    @_guarded
    def pytest_collectreport(self, report) -> None:
        if not report.failed:
            return
        nodeid = report.nodeid or str(getattr(report, "fspath", ""))
        self.collect_errors.add(nodeid)
        self.rec.collect_error(
            nodeid,
            getattr(report, "_testflow_exc", None),
            getattr(report, "_testflow_msg", "") or "",
            "" if report.longrepr is None else str(report.longrepr),
        )

    @_guarded
    def pytest_collection_finish(self, session) -> None:
        if session.items:
            self.collected_sent = True
            self.rec.collected([(i.nodeid, i.location[1]) for i in session.items])

    @pytest.hookimpl(optionalhook=True)
    @_guarded
    def pytest_xdist_node_collection_finished(self, node, ids) -> None:
        if not self.collected_sent:
            self.collected_sent = True
            self.rec.collected([(i, None) for i in ids])

    # -- tests ------------------------------------------------------------------
    # The three hooks every test calls guard themselves inline (not with @_guarded): a
    # frame less on each of them, for every test.
    def pytest_runtest_logstart(self, nodeid, location) -> None:
        try:
            self.rec.logstart(nodeid, location[1] if location else None)
            if self.watchdog is not None:
                self.watchdog.started(nodeid)
        except Exception as e:  # noqa: BLE001 - never raise out of a hook
            self._hook_failed("pytest_runtest_logstart", e)

    # Last, so the terminal reporter has asked for the report's status already.
    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report) -> None:
        try:
            outcome = report.outcome
            if outcome == "passed" and not hasattr(report, "wasxfail") and not hasattr(report, "context"):
                # The hot path: most reports of most tests.
                self.rec.report(report.nodeid, report.when, outcome, report.duration)
            else:
                self._full_report(report, outcome)
        except Exception as e:  # noqa: BLE001 - never raise out of a hook
            self._hook_failed("pytest_runtest_logreport", e)
            self._record_unreadable(report, e)

    @_guarded
    def _record_unreadable(self, report, e: Exception) -> None:
        # Keep pytest's verdict on the phase even when its details cannot be read.
        self.rec.report(
            str(report.nodeid),
            str(report.when or "call"),
            str(report.outcome),
            0.0,
            None,
            None,
            f"testflow could not read pytest's report of this phase: {type(e).__name__}: {e}",
        )

    def _full_report(self, report, outcome) -> None:
        if self.exceptions.pending:
            self.exceptions.attach(report)  # not under xdist: a worker attached it
        wasxfail = getattr(report, "wasxfail", None)
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
            _compare_of(report),
        )

    def pytest_runtest_logfinish(self, nodeid, location) -> None:
        try:
            if self.watchdog is not None:
                self.watchdog.finished(nodeid)
            self.rec.logfinish(nodeid)
        except Exception as e:  # noqa: BLE001 - never raise out of a hook
            self._hook_failed("pytest_runtest_logfinish", e)

    # -- session ----------------------------------------------------------------
    @_guarded
    def pytest_internalerror(self, excrepr, excinfo) -> None:
        self.rec.run_error("internal", str(excrepr))

    @_guarded
    def pytest_keyboard_interrupt(self, excinfo) -> None:
        # KeyboardInterrupt (Ctrl-C, or raised by a test) or pytest.exit(): the test that
        # was running never reports its call; the engine fails it as interrupted.
        self.rec.interrupted(f"{_type_name(excinfo.type)}: {excinfo.value}")

    @pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        # A wrapper: it finishes after every other plugin's sessionfinish (which may change
        # the exit status), and even when one of them raised (pytest's cache provider does
        # on a file name that is not UTF-8), which would otherwise end the process first.
        # trylast: inside the terminal reporter's wrapper, which prints the summary after.
        outcome = yield
        excinfo = outcome.excinfo
        if excinfo is not None:
            e = excinfo[1]
            self._internal(
                f"pytest_sessionfinish raised {type(e).__name__}: {e} (not in testflow): the session did not end cleanly"
            )
        self._finish(session, session.exitstatus)

    def _statuses(self) -> list[tuple[str, str]]:
        if self.tally is not None:
            return self.tally.statuses
        # The terminal's stats: category -> the reports it counted under it ("" for
        # passing set-ups and teardowns, which it does not count); collect reports and
        # warnings are not test reports.
        return [
            (r.nodeid, str(category))
            for category, reports in self.terminal.stats.items()
            if category
            for r in reports
            if isinstance(r, pytest.TestReport)
        ]

    @_guarded
    def _finish(self, session, exitstatus) -> None:
        status = int(exitstatus)
        interrupted = status == int(pytest.ExitCode.INTERRUPTED)
        reason = "interrupted" if interrupted else None
        if session.shouldstop and not interrupted:
            reason = str(session.shouldstop)
        try:
            self.summary = self.rec.finish(
                completed=not interrupted and status != int(pytest.ExitCode.INTERNAL_ERROR),
                reason=reason,
                statuses=self._statuses(),
                exit_status=status,
            )
        except Exception as e:  # noqa: BLE001 - never raise out of a hook
            self.failed_to_finish = f"{type(e).__name__}: {e}"
        standalone = not os.environ.get("TESTFLOW_EVENTS")
        distrusted = self.failed_to_finish is not None or bool((self.summary or {}).get("distrust"))
        if standalone and distrusted and status == int(pytest.ExitCode.OK):
            # The run has a run error (the record disagrees with pytest, a hook failed):
            # never exit green on it. A driver decides from its own run instead.
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        summary = self.summary or {}
        if (
            standalone
            and not distrusted
            and status == int(pytest.ExitCode.TESTS_FAILED)
            and summary.get("quarantined_failures")
            and summary.get("counted_failures") == 0
            and not self.collect_errors
        ):
            # Every failure is of a quarantined test (the engine's rule, from the config's
            # [[quarantine]]): the run passes, as `cargo testflow run` would say.
            session.exitstatus = pytest.ExitCode.OK
        gate = summary.get("gate")
        if standalone and gate and not gate["passed"] and int(session.exitstatus) == int(pytest.ExitCode.OK):
            # A required gate of the configuration failed (judged by the engine).
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        try:
            _write_status(status, len(self.collect_errors))
        except OSError as e:
            self.failed_to_finish = f"cannot write {os.environ.get(_STATUS_ENV)}: {e}"

    @_guarded
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
        standalone = not os.environ.get("TESTFLOW_EVENTS")
        where = self.rec.run_dir if standalone else self.rec.events_path
        if s.get("quarantined_failures"):
            counts += f" ({s['quarantined_failures']} quarantined, not counted)"
        terminalreporter.write_line(f"testflow: {counts or 'no tests'}; recorded in {where}")
        if standalone:
            for why in s.get("distrust") or []:
                terminalreporter.write_line(f"testflow: RUN ERROR: {why}", red=True)
            gate = s.get("gate")
            if gate:
                for line in gate["text"].rstrip().splitlines():
                    terminalreporter.write_line(f"testflow: {line}", red=not gate["passed"])


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    collect = os.environ.get("TESTFLOW_COLLECT")
    if collect and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Collected(collect), "testflow-collected")
    reads = os.environ.get("TESTFLOW_READS")
    if reads and not config.getoption("collectonly", False):
        config.pluginmanager.register(_Reads(reads), "testflow-reads")
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
    exceptions = _Exceptions(hasattr(config, "workerinput"))
    config.pluginmanager.register(exceptions, "testflow-exceptions")
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
    config.pluginmanager.register(_Recording(config, recorder, exceptions), "testflow-recording")
