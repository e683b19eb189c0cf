"""The checker's own tests: each kind of disagreement must be caught, and each reader must
read what its framework writes. `python3 -m unittest discover -s tests/conformance`."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import anchors  # noqa: E402
import run  # noqa: E402
from anchors import AnchorError, Results  # noqa: E402
from suites import Suite  # noqa: E402

SUITE = Suite("pytest", "demo", "1.0")


def compare(anchor, tf, anchor_green=True, tf_exit=0, multi=(), problems=()):
    out = run.Outcome(SUITE, "v")
    a = Results(tests=list(anchor))
    t = Results(tests=list(tf), multi_attempt=list(multi), problems=list(problems))
    run.compare(out, a, t, anchor_green, tf_exit)
    return out


class Compare(unittest.TestCase):
    def test_agreement(self):
        out = compare([("a", "passed"), ("b", "skipped")], [("b", "skipped"), ("a", "passed")])
        self.assertEqual(out.mismatches, [])
        self.assertEqual(out.agree, 2)

    def test_each_disagreement_is_caught(self):
        cases = {
            "[outcome]": ([("a", "failed")], [("a", "passed")], False, 100),
            "[missing]": ([("a", "passed"), ("b", "passed")], [("a", "passed")], True, 0),
            "[extra]": ([("a", "passed")], [("a", "passed"), ("b", "passed")], True, 0),
            "[verdict]": ([("a", "failed")], [("a", "failed")], False, 0),
        }
        for kind, (a, t, g, code) in cases.items():
            out = compare(a, t, g, code)
            self.assertTrue(any(m.startswith(kind) for m in out.mismatches), (kind, out.mismatches))

    def test_green_run_with_failing_exit_is_a_mismatch(self):
        out = compare([("a", "passed")], [("a", "passed")], True, 102)
        self.assertTrue(any(m.startswith("[verdict]") for m in out.mismatches))

    def test_retries_and_run_errors_are_caught(self):
        out = compare([("a", "passed")], [("a", "passed")], multi=["a (2 attempts)"],
                      problems=["run error log_damaged: x"])
        self.assertEqual(len(out.mismatches), 2)

    def test_same_title_twice(self):
        a = [("f#t", "failed"), ("f#t", "passed")]
        ok = compare(a, [("f#t", "failed"), ("f#t #2", "passed")], False, 100)
        self.assertEqual(ok.mismatches, [])
        # One result for two tests (a failure folded into attempts): caught.
        bad = compare(a, [("f#t", "passed")], False, 0)
        self.assertTrue(any(m.startswith("[outcome]") for m in bad.mismatches), bad.mismatches)


class Readers(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_junit(self):
        self.write("tests/test_a.py", "")
        self.write("pkg/sub/test_b.py", "")
        xml = self.write("junit.xml", """<?xml version="1.0"?>
<testsuites><testsuite name="pytest" tests="6">
 <testcase classname="tests.test_a" name="test_ok[x.y]"/>
 <testcase classname="tests.test_a.TestC" name="test_f"><failure message="boom"/></testcase>
 <testcase classname="tests.test_a.TestC.Inner" name="test_e"><error message="setup"/></testcase>
 <testcase classname="pkg.sub.test_b" name="test_s"><skipped type="pytest.skip" message="no"/></testcase>
 <testcase classname="pkg.sub.test_b" name="test_x"><skipped type="pytest.xfail" message="bug"/></testcase>
 <testcase classname="" name="pkg.sub.test_b"><error message="collection failure"/></testcase>
</testsuite></testsuites>""")
        res = anchors.read_junit(xml, self.dir)
        self.assertEqual(res.tests, [
            ("tests/test_a.py::test_ok[x.y]", "passed"),
            ("tests/test_a.py::TestC::test_f", "failed"),
            ("tests/test_a.py::TestC::Inner::test_e", "error"),
            ("pkg/sub/test_b.py::test_s", "skipped"),
            ("pkg/sub/test_b.py::test_x", "xfailed"),
            ("pkg/sub/test_b.py", "error"),
        ])
        res.check_declared()
        self.assertEqual(res.problems, [])

    def test_junit_that_lists_fewer_tests_than_it_declares(self):
        self.write("test_a.py", "")
        xml = self.write("j.xml", '<testsuites><testsuite tests="2"><testcase classname="test_a" name="t"/>'
                                  "</testsuite></testsuites>")
        res = anchors.read_junit(xml, self.dir)
        res.check_declared()
        self.assertEqual(len(res.problems), 1)

    def test_junit_missing_or_broken(self):
        with self.assertRaises(AnchorError):
            anchors.read_junit(os.path.join(self.dir, "none.xml"), self.dir)
        with self.assertRaises(AnchorError):
            anchors.read_junit(self.write("bad.xml", "<testsuites><testsuite>"), self.dir)

    def test_jest(self):
        root = self.dir
        data = {
            "success": False, "numPassedTests": 1, "numFailedTests": 1, "numPendingTests": 1,
            "numTodoTests": 1, "numRuntimeErrorTestSuites": 1,
            "testResults": [
                {"name": f"{root}/src/a.test.js", "status": "failed", "assertionResults": [
                    {"ancestorTitles": ["outer", "inner"], "title": "adds", "status": "passed"},
                    {"ancestorTitles": [], "title": "fails", "status": "failed"},
                    {"ancestorTitles": [], "title": "later", "status": "pending"},
                    {"ancestorTitles": [], "title": "some day", "status": "todo"},
                ]},
                {"name": f"{root}/src/broken.test.js", "status": "failed", "assertionResults": []},
            ],
        }
        res = anchors.read_jest_json(self.write("j.json", json.dumps(data)), root)
        self.assertEqual(res.tests, [
            ("src/a.test.js#outer › inner › adds", "passed"),
            ("src/a.test.js#fails", "failed"),
            ("src/a.test.js#later", "skipped"),
            ("src/a.test.js#some day", "skipped"),
            ("src/broken.test.js", "error"),
        ])
        res.check_declared()
        self.assertEqual(res.problems, [])
        data["numPassedTests"] = 2
        res = anchors.read_jest_json(self.write("j.json", json.dumps(data)), root)
        res.check_declared()
        self.assertEqual(len(res.problems), 1)

    def test_libtest(self):
        log = self.write("cargo.log", "\n".join([
            "   Compiling demo v0.1.0",
            "     Running unittests src/lib.rs (target/debug/deps/demo-abc)",
            '{ "type": "suite", "event": "started", "test_count": 2 }',
            '{ "type": "test", "event": "started", "name": "tests::a" }',
            '{ "type": "test", "name": "tests::a", "event": "ok" }',
            '{ "type": "test", "name": "tests::b", "event": "ignored" }',
            '{ "type": "suite", "event": "ok", "passed": 1, "failed": 0, "ignored": 1 }',
            "     Running tests/integ.rs (target/debug/deps/integ-def)",
            '{ "type": "test", "name": "c", "event": "failed", "stdout": "x" }',
            "{ not json printed by a test",
            '{ "type": "suite", "event": "failed", "passed": 0, "failed": 1, "ignored": 0 }',
            "   Doc-tests demo",
            '{ "type": "test", "name": "src/lib.rs - f (line 3)", "event": "ok" }',
            '{ "type": "suite", "event": "ok", "passed": 1, "failed": 0, "ignored": 0 }',
        ]) + "\n")
        res = anchors.read_libtest(log, {"demo-abc": "demo", "integ-def": "demo::integ"}, "demo")
        self.assertEqual(res.tests, [
            ("demo$tests::a", "passed"),
            ("demo$tests::b", "skipped"),
            ("demo::integ$c", "failed"),
            ("demo::doctest$src/lib.rs - f (line 3)", "passed"),
        ])
        res.check_declared()
        self.assertEqual(res.problems, [])
        with self.assertRaises(AnchorError):  # a binary nobody built
            anchors.read_libtest(log, {"demo-abc": "demo"}, "demo")

    def test_go_json(self):
        lines = [
            {"Action": "start", "Package": "ex/a"},
            {"Action": "run", "Package": "ex/a", "Test": "TestA"},
            {"Action": "run", "Package": "ex/a", "Test": "TestA/sub_1"},
            {"Action": "pass", "Package": "ex/a", "Test": "TestA/sub_1"},
            {"Action": "skip", "Package": "ex/a", "Test": "TestA"},
            {"Action": "run", "Package": "ex/a", "Test": "TestHang"},
            {"Action": "pass", "Package": "ex/a"},
            {"Action": "run", "Package": "ex/b", "Test": "TestB"},
            {"Action": "pass", "Package": "ex/b", "Test": "TestB"},
            {"Action": "fail", "Package": "ex/b"},
        ]
        path = self.write("go.json", "".join(json.dumps(x) + "\n" for x in lines))
        res = anchors.read_go_json(path)
        self.assertEqual(res.tests, [("ex/a::TestA/sub_1", "passed"), ("ex/a::TestA", "skipped"),
                                     ("ex/b::TestB", "passed")])
        self.assertEqual(len(res.problems), 2, res.problems)  # TestHang never ended, ex/b failed
        with self.assertRaises(AnchorError):
            anchors.read_go_json(self.write("bad.json", "not json\n"))

    def test_run_json(self):
        path = self.write("run.json", json.dumps({
            "completed": False,
            "errors": [{"kind": "log_damaged", "message": "events.jsonl:3"}],
            "tests": [
                {"id": "a", "outcome": "xpassed", "attempts": [{}]},
                {"id": "b", "outcome": "timeout", "attempts": [{}, {}]},
                {"id": "c", "outcome": "bogus", "attempts": [{}]},
            ]}))
        res = anchors.read_run(path)
        self.assertEqual(res.tests, [("a", "passed"), ("b", "failed")])
        self.assertEqual(res.multi_attempt, ["b (2 attempts)"])
        self.assertEqual(len(res.problems), 3)  # unknown outcome, run error, not completed


if __name__ == "__main__":
    unittest.main()
