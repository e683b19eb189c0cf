"""What each framework itself says, read from its own machine-readable output, and what
testflow says, read from its run.json. Every reader returns a `Results`: the test ids in
testflow's id scheme (docs/schema.md), each with one outcome class, plus the totals the
framework declared itself, so a reader that drops a test is caught.

Outcome classes compared: passed, failed, skipped, xfailed, error.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

CLASSES = ("passed", "failed", "skipped", "xfailed", "error")

# testflow's outcomes → the class a framework's own report can express.
# xpassed: JUnit, Jest and libtest cannot tell a (non-strict) xpass from a pass.
# timeout: every framework reports a test killed for time as failed.
# crashed: no framework report has it; a crashed test never counts as passed.
TESTFLOW_CLASS = {
    "passed": "passed",
    "xpassed": "passed",
    "failed": "failed",
    "timeout": "failed",
    "crashed": "failed",
    "error": "error",
    "skipped": "skipped",
    "xfailed": "xfailed",
}


class AnchorError(Exception):
    """The framework's own output is missing or cannot be read: the suite did not run."""


@dataclass
class Results:
    # (id, class) in the order read; an id may repeat when the framework ran two tests
    # under one name (the comparison then matches them as a group).
    tests: list[tuple[str, str]] = field(default_factory=list)
    # Totals the framework declared itself ({class or "total": n}), to check the reader.
    declared: dict[str, int] = field(default_factory=dict)
    # Things that make the result untrustworthy (run errors, unknown outcomes, ...).
    problems: list[str] = field(default_factory=list)
    # testflow only: ids with more than one attempt (no retries are ever requested).
    multi_attempt: list[str] = field(default_factory=list)

    def count(self) -> dict[str, int]:
        out = {c: 0 for c in CLASSES}
        for _, c in self.tests:
            out[c] = out.get(c, 0) + 1
        out["total"] = len(self.tests)
        return out

    def check_declared(self) -> None:
        """The parsed tests must add up to what the framework said it ran."""
        got = self.count()
        for key, n in self.declared.items():
            if got.get(key, 0) != n:
                self.problems.append(
                    f"framework declared {key}={n} but its report lists {got.get(key, 0)}"
                )


# ---- pytest: --junitxml ------------------------------------------------------------------


def _nodeid(root: str, classname: str, name: str) -> str:
    """Invert pytest's junitxml name mangling (`mangle_test_address`): the classname is
    the node id's file path with `/` → `.` and `.py` dropped, then the classes. Which
    dots are directories is decided by the files on disk."""
    tokens = classname.split(".") if classname else name.split(".")
    for k in range(len(tokens), 0, -1):
        path = "/".join(tokens[:k]) + ".py"
        if os.path.isfile(os.path.join(root, path)):
            if not classname:  # a collection error: the module's node id alone
                return path if k == len(tokens) else "::".join([path, *tokens[k:]])
            return "::".join([path, *tokens[k:], name])
    raise AnchorError(f"junit testcase classname={classname!r} name={name!r}: no such file under {root}")


def read_junit(path: str, root: str) -> Results:
    if not os.path.isfile(path):
        raise AnchorError(f"pytest wrote no JUnit report at {path}")
    try:
        tree = ET.parse(path)
    except ET.ParseError as e:
        raise AnchorError(f"{path}: not valid XML: {e}") from e
    res = Results()
    declared_total = 0
    suites = [tree.getroot()] if tree.getroot().tag == "testsuite" else tree.getroot().iter("testsuite")
    for suite in suites:
        declared_total += int(suite.get("tests", "0"))
        for case in suite.iter("testcase"):
            tags = {child.tag: child for child in case}
            if "failure" in tags:
                cls = "failed"
            elif "error" in tags:
                cls = "error"
            elif "skipped" in tags:
                cls = "xfailed" if tags["skipped"].get("type") == "pytest.xfail" else "skipped"
            else:
                cls = "passed"
            res.tests.append((_nodeid(root, case.get("classname", ""), case.get("name", "")), cls))
    res.declared["total"] = declared_total
    return res


# ---- Jest: --json --outputFile ---------------------------------------------------------

JEST_STATUS = {"passed": "passed", "failed": "failed", "pending": "skipped", "skipped": "skipped",
               "todo": "skipped", "disabled": "skipped"}


def read_jest_json(path: str, root: str) -> Results:
    if not os.path.isfile(path):
        raise AnchorError(f"Jest wrote no JSON report at {path}")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise AnchorError(f"{path}: not JSON: {e}") from e
    res = Results()
    for file_result in data.get("testResults", []):
        rel = os.path.relpath(file_result["name"], root).replace(os.sep, "/")
        cases = file_result.get("assertionResults", [])
        if not cases and file_result.get("status") == "failed":
            # A file that failed to run (import error, syntax error, worker crash).
            res.tests.append((rel, "error"))
            continue
        for case in cases:
            status = case.get("status")
            if status not in JEST_STATUS:
                res.problems.append(f"{rel}: unknown Jest status {status!r}")
                continue
            title = " › ".join([*case.get("ancestorTitles", []), case["title"]])
            res.tests.append((f"{rel}#{title}", JEST_STATUS[status]))
    res.declared = {
        "passed": data.get("numPassedTests", -1),
        "failed": data.get("numFailedTests", -1),
        "skipped": data.get("numPendingTests", -1) + data.get("numTodoTests", 0),
    }
    # Files that failed to run add one `error` entry each and no Jest test.
    res.declared["error"] = data.get("numRuntimeErrorTestSuites", 0)
    return res


# ---- Rust: libtest JSON through `cargo test` ---------------------------------------------

RUNNING = re.compile(r"^\s*Running (?:unittests )?(?P<src>\S.*?) \((?P<exe>.+)\)\s*$")
DOCTESTS = re.compile(r"^\s*Doc-tests (?P<name>\S+)\s*$")
LIBTEST = {"ok": "passed", "failed": "failed", "ignored": "skipped"}


def read_libtest(path: str, binaries: dict[str, str], package: str) -> Results:
    """`path`: cargo test's stdout and stderr in one stream, so each binary's JSON events
    follow cargo's `Running …` / `Doc-tests …` line. `binaries`: executable file name →
    testflow's binary id (from `cargo test --no-run --message-format json`)."""
    res = Results()
    current = None  # binary id of the segment being read
    seen_events = 0
    declared = {"passed": 0, "failed": 0, "skipped": 0}
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            m = RUNNING.match(line)
            if m:
                exe = os.path.basename(m.group("exe"))
                if exe not in binaries:
                    raise AnchorError(f"{path}:{lineno}: cargo ran {exe}, which `cargo test --no-run` did not build")
                current = binaries[exe]
                continue
            if DOCTESTS.match(line):
                current = f"{package}::doctest"
                continue
            if not line.startswith("{"):
                continue
            try:
                event = json.loads(line)
            except ValueError:
                # A test printed a line starting with `{`: libtest's own lines are whole.
                continue
            if current is None:
                raise AnchorError(f"{path}:{lineno}: libtest output before any `Running` line")
            seen_events += 1
            if event.get("type") == "test" and event.get("event") in LIBTEST:
                res.tests.append((f"{current}${event['name']}", LIBTEST[event["event"]]))
            elif event.get("type") == "suite" and event.get("event") in ("ok", "failed"):
                declared["passed"] += event.get("passed", 0)
                declared["failed"] += event.get("failed", 0)
                declared["skipped"] += event.get("ignored", 0)
    if seen_events == 0:
        raise AnchorError(f"{path}: no libtest JSON events (was RUSTC_BOOTSTRAP=1 and --format json honoured?)")
    res.declared = declared
    return res


# ---- go test: test2json events (`go test -json`) -----------------------------------------

GO_ACTIONS = {"pass": "passed", "fail": "failed", "skip": "skipped"}


def read_go_json(path: str) -> Results:
    """`go test -json`'s stdout: every test, subtest and example that ended, as
    `<import path>::<name>`. A package that failed without a failing test, a build failure,
    or a test that started and never ended makes the anchor untrustworthy."""
    res = Results()
    started: dict[str, int] = {}
    failed_tests: set[str] = set()
    failed_packages: list[str] = []
    seen = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except ValueError as e:
                raise AnchorError(f"{path}:{lineno}: not a test2json event: {e}") from e
            seen += 1
            action, pkg, test = event.get("Action"), event.get("Package"), event.get("Test")
            if action == "build-fail":
                res.problems.append(f"build failed: {event.get('ImportPath')}")
            if not pkg:
                continue
            if test and action == "run":
                started[f"{pkg}::{test}"] = lineno
            elif test and action in GO_ACTIONS:
                tid = f"{pkg}::{test}"
                started.pop(tid, None)
                res.tests.append((tid, GO_ACTIONS[action]))
                if action == "fail":
                    failed_tests.add(pkg)
            elif not test and action == "fail":
                failed_packages.append(pkg)
    if seen == 0:
        raise AnchorError(f"{path}: no test2json events")
    for tid, lineno in started.items():
        res.problems.append(f"{tid} started (line {lineno}) and never ended")
    for pkg in failed_packages:
        if pkg not in failed_tests:
            res.problems.append(f"package {pkg} failed with no failing test")
    return res


# ---- testflow: run.json ------------------------------------------------------------------


def read_run(path: str) -> Results:
    if not os.path.isfile(path):
        raise AnchorError(f"testflow wrote no run.json at {path}")
    try:
        with open(path, encoding="utf-8") as f:
            run = json.load(f)
    except (OSError, ValueError) as e:
        raise AnchorError(f"{path}: not JSON: {e}") from e
    res = Results()
    for t in run.get("tests", []):
        outcome = t.get("outcome")
        if outcome not in TESTFLOW_CLASS:
            res.problems.append(f"{t.get('id')}: unknown outcome {outcome!r}")
            continue
        res.tests.append((t["id"], TESTFLOW_CLASS[outcome]))
        if len(t.get("attempts", [])) > 1:
            res.multi_attempt.append(f"{t['id']} ({len(t['attempts'])} attempts)")
    for err in run.get("errors", []):
        res.problems.append(f"run error {err.get('kind')}: {err.get('message', '').strip()[:300]}")
    if not run.get("completed", False):
        res.problems.append("run.json says completed: false")
    return res
