#!/usr/bin/env python3
"""Differential check of testflow on real suites (see README.md).

Each suite is fetched from its registry (cached under <target>/conformance/downloads),
run by its framework with the framework's own machine-readable report (the anchor), then
through testflow in each variant; every test must be present on both sides with the same
outcome class. Exits 1 on any mismatch and on any suite that could not be run.

    tests/conformance/run.py                    # every suite
    tests/conformance/run.py pytest:six rust    # suites by name or framework
    tests/conformance/run.py --list
    tests/conformance/run.py --prefetch         # only download the suites
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections import defaultdict
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import anchors  # noqa: E402
from anchors import AnchorError, Results  # noqa: E402
from suites import SUITES, VARIANTS, Suite  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.path.abspath(os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target"))
HOME = os.path.join(TARGET, "conformance")
DOWNLOADS = os.path.join(HOME, "downloads")
WORK = os.path.join(HOME, "work")
OUT = os.path.join(HOME, "out")
JEST_HOME = os.path.join(HOME, "jest")  # node_modules shared by the Jest suites below it
RUST_TARGET = os.path.join(HOME, "rust-target")  # CARGO_TARGET_DIR of the crates


class SuiteNotRun(Exception):
    """Setting up or running the suite failed: it counts as a failure, never a pass."""


# ---- running commands ----------------------------------------------------------------------


@dataclass
class Ran:
    argv: list[str]
    cwd: str
    code: int
    log: str
    seconds: float

    def cmdline(self) -> str:
        return f"(cd {self.cwd} && {' '.join(self.argv)})"


def clean_env(extra: dict | None = None) -> dict:
    """The machine's environment without anything that would steer testflow or the
    frameworks from outside (a parent testflow run, an active virtualenv, colours)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TESTFLOW", "PYTEST", "JEST_", "RUSTC_BOOTSTRAP"))
           and k not in ("VIRTUAL_ENV", "CARGO_TARGET_DIR", "NODE_OPTIONS", "CI")}
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


def run(argv: list[str], cwd: str, log: str, env: dict, timeout: float = 600) -> Ran:
    """Run to completion with stdout and stderr in one log file (in order)."""
    os.makedirs(os.path.dirname(log), exist_ok=True)
    start = time.monotonic()
    with open(log, "wb") as out:
        try:
            proc = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                  stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = -999
        except OSError as e:
            raise SuiteNotRun(f"cannot start {argv[0]}: {e}") from e
    ran = Ran(argv, cwd, code, log, time.monotonic() - start)
    if code == -999:
        raise SuiteNotRun(f"{ran.cmdline()} did not finish in {timeout:.0f}s (log: {log})")
    return ran


def tail(path: str, n: int = 15) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def must(ran: Ran, what: str, ok=(0,)) -> Ran:
    if ran.code not in ok:
        raise SuiteNotRun(f"{what} failed (exit {ran.code}): {ran.cmdline()}\n{tail(ran.log)}")
    return ran


def fresh_copy(src: str, dst: str) -> str:
    """A clean copy of the unpacked suite (mtimes kept, so cargo's fingerprints hold)."""
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True)
    return dst


def unpack(archive: str, dest: str, top: str) -> str:
    """Unpack once; `top` is the archive's top directory. Returns its path."""
    done = os.path.join(dest, top)
    marker = done + ".unpacked"
    if not os.path.exists(marker):
        if os.path.exists(done):
            shutil.rmtree(done)
        os.makedirs(dest, exist_ok=True)
        with tarfile.open(archive) as tar:
            try:
                tar.extractall(dest, filter="data")
            except TypeError:  # Python without extraction filters (before 3.10.12 / 3.11.4)
                tar.extractall(dest)
        if not os.path.isdir(done):
            raise SuiteNotRun(f"{archive} has no top directory {top}/")
        open(marker, "w").close()
    return done


# ---- tools: testflow binary, Python venv, Jest install ----------------------------------------


@dataclass
class Tools:
    testflow: str
    python: str
    log_dir: str = os.path.join(OUT, "setup")
    ready: set = field(default_factory=set)

    def ensure_python(self) -> None:
        """The venv run-all.sh builds (pytest, pytest-xdist and the plugin); made here the
        same way when it is missing."""
        if "python" in self.ready:
            return
        probe = [self.python, "-c", "import pytest, xdist, testflow._native"]
        if not os.path.exists(self.python) or subprocess.run(probe, capture_output=True).returncode != 0:
            venv = os.path.dirname(os.path.dirname(self.python))
            env = clean_env()
            log = os.path.join(self.log_dir, "venv.log")
            print(f"setting up {venv} (pytest, pytest-xdist, the testflow plugin)", flush=True)
            if not os.path.exists(self.python):
                must(run([sys.executable, "-m", "venv", venv], REPO, log, env), "python -m venv")
            must(run([self.python, "-m", "pip", "install", "--quiet", "pytest", "pytest-xdist",
                      "pytest-timeout", "pytest-rerunfailures"], REPO, log, env, 1800), "pip install pytest")
            must(run([self.python, "-m", "pip", "install", "--quiet", "--force-reinstall", "--no-deps",
                      "./python"], REPO, log, env, 3600), "pip install ./python")
            must(run(probe, REPO, log, env), "the venv's pytest / xdist / testflow plugin")
        self.ready.add("python")

    def ensure_jest(self) -> None:
        """Jest 30 (pinned), the local jest-testflow and the suites' undeclared test deps,
        in one node_modules that every Jest suite (unpacked below it) resolves from."""
        if "jest" in self.ready:
            return
        deps = {"jest": "30.5.2", "jest-testflow": f"file:{jest_testflow_tarball()}"}
        for s in SUITES:
            for dep in s.npm_test_deps:
                name, _, version = dep.rpartition("@")
                deps[name] = version
        manifest = {"name": "testflow-conformance-jest", "private": True, "dependencies": deps}
        os.makedirs(JEST_HOME, exist_ok=True)
        path = os.path.join(JEST_HOME, "package.json")
        want = json.dumps(manifest, indent=1) + "\n"
        have = open(path).read() if os.path.exists(path) else ""
        env = clean_env({"TESTFLOW_ADDON_PROFILE": "dev", "CARGO_TARGET_DIR": TARGET})
        log = os.path.join(self.log_dir, "jest.log")
        installed = all(os.path.exists(os.path.join(JEST_HOME, "node_modules", n)) for n in deps)
        if have != want or not installed:
            with open(path, "w") as f:
                f.write(want)
            print(f"installing Jest and jest-testflow into {JEST_HOME}", flush=True)
            must(run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                     JEST_HOME, log, env, 1800), "npm install (Jest)")
        self.ready.add("jest")


def jest_testflow_tarball() -> str:
    """jest-testflow as a user installs it from a checkout: the tarball `npm pack` makes
    (its install script builds the addon). run-all.sh hands over the one it made
    ($TESTFLOW_JEST_TARBALL); else it is packed here, named by its content so that npm
    reinstalls it exactly when it changed."""
    given = os.environ.get("TESTFLOW_JEST_TARBALL")
    if given:
        if not os.path.isfile(given):
            raise SuiteNotRun(f"TESTFLOW_JEST_TARBALL={given} is not a file")
        return os.path.abspath(given)
    dest = os.path.join(HOME, "npm-pack")
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    log = os.path.join(OUT, "setup", "npm-pack.log")
    must(run(["npm", "pack", os.path.join(REPO, "npm"), "--pack-destination", dest, "--loglevel=error"],
             REPO, log, clean_env(), 600), "npm pack npm/")
    packed = [f for f in os.listdir(dest) if f.endswith(".tgz")]
    if len(packed) != 1:
        raise SuiteNotRun(f"npm pack wrote {packed} into {dest}, expected one tarball")
    with open(os.path.join(dest, packed[0]), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    named = os.path.join(dest, f"jest-testflow-{digest}.tgz")
    os.rename(os.path.join(dest, packed[0]), named)
    return named


# ---- fetching from the registries ------------------------------------------------------------


def prefetch(chosen: list[Suite]) -> None:
    """Download and unpack the chosen suites, nothing else (run-all.sh starts this in the
    background while cargo compiles). Needs only pip, npm and cargo."""
    for s in chosen:
        if s.framework == "pytest":
            fetch_pypi(s, sys.executable)
        elif s.framework == "jest":
            fetch_npm(s)
    if any(s.framework == "rust" for s in chosen):
        fetch_crates()
    # Go modules are fetched when their suite runs: small, and `go` may only be set up by then.


def fetch_pypi(s: Suite, python: str) -> str:
    """The sdist, with pip (the ordinary client); returns the unpacked project dir."""
    dest = os.path.join(DOWNLOADS, "pypi")
    os.makedirs(dest, exist_ok=True)
    stem = f"{s.package.replace('-', '_')}-{s.version}"
    archive = os.path.join(dest, stem + ".tar.gz")
    if not os.path.exists(archive):
        log = os.path.join(OUT, "setup", f"fetch-{s.package}.log")
        must(run([python, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                  "-d", dest, f"{s.package}=={s.version}"], dest, log, clean_env(), 600),
             f"pip download {s.package}=={s.version}")
        if not os.path.exists(archive):
            raise SuiteNotRun(f"pip downloaded no {archive}")
    return unpack(archive, os.path.join(DOWNLOADS, "pypi", "unpacked"), stem)


def fetch_npm(s: Suite) -> str:
    dest = os.path.join(DOWNLOADS, "npm")
    os.makedirs(dest, exist_ok=True)
    # npm pack names @scope/name as scope-name-VERSION.tgz.
    archive = os.path.join(dest, f"{s.package.lstrip('@').replace('/', '-')}-{s.version}.tgz")
    if not os.path.exists(archive):
        log = os.path.join(OUT, "setup", f"fetch-{s.package}.log")
        must(run(["npm", "pack", "--silent", f"{s.package}@{s.version}", "--pack-destination", dest],
                 dest, log, clean_env(), 600), f"npm pack {s.package}@{s.version}")
        if not os.path.exists(archive):
            raise SuiteNotRun(f"npm pack wrote no {archive}")
    return unpack(archive, os.path.join(dest, "unpacked", os.path.basename(archive)[:-4]), "package")


def fetch_crates() -> dict[str, str]:
    """Every Rust suite's .crate, with cargo: a throwaway package depending on exactly
    those versions; `cargo metadata` downloads and unpacks them. Returns name → dir."""
    proj = os.path.join(DOWNLOADS, "crates", "fetch")
    os.makedirs(os.path.join(proj, "src"), exist_ok=True)
    deps = "".join(f'{s.package} = "={s.version}"\n' for s in SUITES if s.framework == "rust")
    manifest = ('[package]\nname = "conformance-fetch"\nversion = "0.0.0"\nedition = "2021"\n'
                f"publish = false\n\n[dependencies]\n{deps}\n[workspace]\n")
    with open(os.path.join(proj, "Cargo.toml"), "w") as f:
        f.write(manifest)
    open(os.path.join(proj, "src", "lib.rs"), "a").close()
    log = os.path.join(OUT, "setup", "fetch-crates.json")
    ran = must(run(["cargo", "metadata", "--format-version", "1"], proj, log, clean_env(), 600), "cargo metadata")
    with open(ran.log) as f:
        meta = json.loads(f.read().strip().splitlines()[-1])
    found = {p["name"]: os.path.dirname(p["manifest_path"]) for p in meta["packages"]
             if (p.get("source") or "").startswith("registry+")}
    return found


def fetch_go(s: Suite) -> str:
    """The module from the Go module proxy, with `go mod download` (the ordinary client),
    into its own module cache under downloads/. Returns the module's directory."""
    gopath = os.path.join(DOWNLOADS, "gopath")
    os.makedirs(gopath, exist_ok=True)
    log = os.path.join(OUT, "setup", f"fetch-{s.package.replace('/', '-')}.log")
    env = clean_env({"GOPATH": gopath, "GOFLAGS": "-modcacherw"})
    ran = must(run(["go", "mod", "download", "-json", f"{s.package}@{s.version}"], DOWNLOADS, log, env, 600),
               f"go mod download {s.package}@{s.version}")
    with open(ran.log) as f:
        text = f.read()
    m = re.search(r'"Dir":\s*"([^"]+)"', text)
    if not m or not os.path.isdir(m.group(1)):
        raise SuiteNotRun(f"go mod download named no directory for {s.package}@{s.version}: {tail(ran.log)}")
    return m.group(1)


def run_go_suite(s: Suite, tools: Tools) -> list[Outcome]:
    src = fetch_go(s)
    proj = fresh_copy(src, os.path.join(WORK, "go", s.package.replace("/", "-")))
    env = clean_env({**s.env, "GOFLAGS": "-mod=mod"})
    out_dir = os.path.join(OUT, s.name.replace(":", "-").replace("/", "-"))
    # The anchor: go test's own test2json events, with the flags testflow passes (-count=1).
    log = os.path.join(out_dir, "anchor", "go-test.json")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "wb") as out:
        start = time.monotonic()
        proc = subprocess.run(["go", "test", "-json", "-count=1", "./..."], cwd=proj, env=env,
                              stdout=out, stderr=subprocess.PIPE, timeout=1800)
    if proc.returncode not in (0, 1):
        raise SuiteNotRun(f"go test could not run the suite (exit {proc.returncode}): {proc.stderr.decode()[-2000:]}")
    anchor = anchors.read_go_json(log)
    if (proc.returncode == 0) != green(anchor):
        anchor.problems.append(f"go test exit {proc.returncode} disagrees with its events")
    print(f"   anchor: {len(anchor.tests)} tests in {time.monotonic() - start:.1f}s", flush=True)
    results = []
    for variant in VARIANTS["go"] + s.extra_variants:
        vdir = os.path.join(out_dir, variant)
        argv = [tools.testflow, "testflow", "run", "-q", "--report", f"json={os.path.join(vdir, 'run.json')}"]
        if variant == "cargo-j1":
            argv[3:3] = ["-j", "1"]
        results.append(compare_variant(s, variant, tools, argv, proj, vdir, env, anchor, green(anchor)))
    return results


# ---- one suite -----------------------------------------------------------------------------


@dataclass
class Outcome:
    """One (suite, variant) comparison."""
    suite: Suite
    variant: str
    anchor: Results | None = None
    testflow: Results | None = None
    agree: int = 0
    mismatches: list[str] = field(default_factory=list)
    not_run: str | None = None
    command: str = ""
    seconds: float = 0.0


def compare(out: Outcome, anchor: Results, tf: Results, anchor_green: bool, tf_exit: int) -> None:
    out.anchor, out.testflow = anchor, tf
    for p in anchor.problems:
        out.mismatches.append(f"[anchor] {p}")
    for p in tf.problems:
        out.mismatches.append(f"[testflow] {p}")
    for m in tf.multi_attempt:
        out.mismatches.append(f"[attempts] {m}: no retries were requested")
    a = defaultdict(list)
    for tid, c in anchor.tests:
        a[tid].append(c)
    t = defaultdict(list)
    for tid, c in tf.tests:
        t[tid].append(c)
    for tid in list(a):
        if len(a[tid]) > 1:
            # The framework ran several tests under one name: testflow must keep each, under
            # the name or the name plus a suffix; match them as a group, by outcome.
            group = [x for x in t if x == tid or (x.startswith(tid) and x not in a)]
            got = sorted(c for x in group for c in t.pop(x))
            want = sorted(a.pop(tid))
            if got == want:
                out.agree += len(want)
            else:
                out.mismatches.append(f"[outcome] {tid} (run {len(want)} times): framework {want}, testflow {got} ({group})")
    for tid, cs in a.items():
        if tid not in t:
            out.mismatches.append(f"[missing] {tid}: framework {cs[0]}, testflow has no such test")
            continue
        got = t.pop(tid)
        if got == cs:
            out.agree += 1
        else:
            out.mismatches.append(f"[outcome] {tid}: framework {cs[0]}, testflow {'/'.join(got)}")
    for tid, cs in t.items():
        out.mismatches.append(f"[extra] {tid}: testflow {'/'.join(cs)}, the framework ran no such test")
    # The verdict: testflow exits 0 exactly when the framework's run was green.
    tf_green = tf_exit == 0
    if tf_green != anchor_green or tf_exit not in (0, 100):
        out.mismatches.append(
            f"[verdict] framework run {'green' if anchor_green else 'not green'}, testflow exit {tf_exit}")


def green(res: Results) -> bool:
    return all(c in ("passed", "skipped", "xfailed") for _, c in res.tests)


def testflow_run(tools: Tools, argv: list[str], cwd: str, out_dir: str, env: dict) -> tuple[Ran, Results]:
    os.makedirs(out_dir, exist_ok=True)
    run_json = os.path.join(out_dir, "run.json")
    if os.path.exists(run_json):
        os.remove(run_json)
    env = dict(env, TESTFLOW_DIR=os.path.join(out_dir, "state"))
    ran = run(argv, cwd, os.path.join(out_dir, "testflow.log"), env)
    return ran, anchors.read_run(run_json)


def run_pytest_suite(s: Suite, tools: Tools) -> list[Outcome]:
    tools.ensure_python()
    src = fetch_pypi(s, tools.python)
    env = clean_env({**s.env, "TESTFLOW_PYTHON": tools.python})
    out_dir = os.path.join(OUT, s.name.replace(":", "-"))
    # The anchor: pytest's own JUnit XML (in a copy of its own).
    proj = fresh_copy(src, os.path.join(WORK, "pytest", s.package, "anchor"))
    xml = os.path.join(out_dir, "anchor", "junit.xml")
    os.makedirs(os.path.dirname(xml), exist_ok=True)
    ran = run([tools.python, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={xml}"],
              proj, os.path.join(out_dir, "anchor", "pytest.log"), env)
    if ran.code not in (0, 1):
        raise SuiteNotRun(f"pytest could not run the suite (exit {ran.code}): {ran.cmdline()}\n{tail(ran.log)}")
    anchor = anchors.read_junit(xml, proj)
    anchor.check_declared()
    if (ran.code == 0) != green(anchor):
        anchor.problems.append(f"pytest exit {ran.code} disagrees with its own JUnit report")
    results = []
    for variant in VARIANTS["pytest"] + s.extra_variants:
        proj = fresh_copy(src, os.path.join(WORK, "pytest", s.package, variant))
        vdir = os.path.join(out_dir, variant)
        report = os.path.join(vdir, "run.json")
        if variant.startswith("cargo"):
            jobs = variant.removeprefix("cargo-j")
            argv = [tools.testflow, "testflow", "run", "-j", jobs, "-q", "--report", f"json={report}"]
        else:
            argv = [tools.python, "-m", "pytest", "-p", "no:cacheprovider", f"--testflow-report=json={report}"]
            if variant == "plugin-n2":
                argv += ["-n", "2"]
        results.append(compare_variant(s, variant, tools, argv, proj, vdir, env, anchor, green(anchor)))
    return results


def compare_variant(s, variant, tools, argv, cwd, vdir, env, anchor, anchor_green) -> Outcome:
    out = Outcome(s, variant, anchor=anchor)
    try:
        ran, tf = testflow_run(tools, argv, cwd, vdir, env)
    except Exception as e:  # noqa: BLE001 - this variant did not run: a failure, not a pass
        out.not_run = f"{type(e).__name__}: {e} (command: (cd {cwd} && {' '.join(argv)}))"
        return out
    out.command, out.seconds = ran.cmdline(), ran.seconds
    # pytest's own exit code for the plugin door: 0 green, 1 failures.
    code = ran.code
    if argv[0] != tools.testflow:
        code = {0: 0, 1: 100}.get(code, code)
    compare(out, anchor, tf, anchor_green, code)
    return out


def jest_copy(s: Suite, src: str, variant: str) -> str:
    """A fresh copy below JEST_HOME (so Node and testflow find its node_modules), with the
    suite's Jest configuration in its package.json."""
    proj = fresh_copy(src, os.path.join(JEST_HOME, "work", s.package.lstrip("@").replace("/", "-"), variant))
    if s.jest_config:
        path = os.path.join(proj, "package.json")
        with open(path) as f:
            pkg = json.load(f)
        here = os.path.dirname(os.path.abspath(__file__))
        config = json.loads(json.dumps(s.jest_config).replace("<conformance>", here))
        pkg["jest"] = {**pkg.get("jest", {}), **config}
        with open(path, "w") as f:
            json.dump(pkg, f, indent=2)
    return proj


def run_jest_suite(s: Suite, tools: Tools) -> list[Outcome]:
    tools.ensure_jest()
    src = fetch_npm(s)
    env = clean_env(s.env)
    jest = os.path.join(JEST_HOME, "node_modules", ".bin", "jest")
    out_dir = os.path.join(OUT, s.name.replace(":", "-").replace("@", "").replace("/", "-"))
    proj = jest_copy(s, src, "anchor")
    report = os.path.join(out_dir, "anchor", "jest.json")
    os.makedirs(os.path.dirname(report), exist_ok=True)
    if os.path.exists(report):
        os.remove(report)
    ran = run([jest, "--ci", "--json", f"--outputFile={report}"], proj,
              os.path.join(out_dir, "anchor", "jest.log"), env)
    if ran.code not in (0, 1):
        raise SuiteNotRun(f"Jest could not run the suite (exit {ran.code}): {ran.cmdline()}\n{tail(ran.log)}")
    anchor = anchors.read_jest_json(report, proj)
    anchor.check_declared()
    with open(report) as f:
        success = json.load(f).get("success")
    if success != (ran.code == 0) or success != green(anchor):
        anchor.problems.append(f"Jest exit {ran.code}, success={success}, and its test list disagree")
    results = []
    for variant in VARIANTS["jest"] + s.extra_variants:
        proj = jest_copy(s, src, variant)
        vdir = os.path.join(out_dir, variant)
        run_json = os.path.join(vdir, "run.json")
        venv = env
        if variant == "cargo":
            argv = [tools.testflow, "testflow", "run", "-q", "--report", f"json={run_json}"]
        else:
            reporter = os.path.join(JEST_HOME, "node_modules", "jest-testflow")
            argv = [jest, "--ci", "--reporters=default", f"--reporters={reporter}"]
            venv = dict(env, TESTFLOW_REPORT=f"json={run_json}")
        results.append(compare_variant(s, variant, tools, argv, proj, vdir, venv, anchor, green(anchor)))
    return results


def cargo_binaries(proj: str, env: dict, log: str) -> dict[str, str]:
    """Build the tests and name each executable as testflow does (nextest's binary ids:
    `pkg` for the library, `pkg::target` for an integration test)."""
    ran = must(run(["cargo", "test", "--no-run", "--message-format=json"], proj, log, env, 1800),
               "cargo test --no-run")
    with open(os.path.join(proj, "Cargo.toml")) as f:
        pkg = package_name(f.read())
    names = {}
    with open(ran.log, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith("{"):
                continue
            msg = json.loads(line)
            if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
                continue
            kind, target = msg["target"]["kind"][0], msg["target"]["name"]
            if kind == "test":
                bid = f"{pkg}::{target}"
            elif kind in ("bin", "example", "bench"):
                bid = f"{pkg}::{kind}/{target}"
            else:
                bid = pkg
            names[os.path.basename(msg["executable"])] = bid
    return names


def package_name(manifest: str) -> str:
    """`[package] name` of a Cargo.toml (no tomllib: Python 3.10 has none)."""
    section = ""
    for line in manifest.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[package]":
            m = re.match(r'name\s*=\s*"([^"]+)"', line)
            if m:
                return m.group(1)
    raise SuiteNotRun("Cargo.toml has no [package] name")


def run_rust_suites(suites: list[Suite], tools: Tools) -> list[Outcome]:
    try:
        crates = fetch_crates()
    except Exception as e:  # noqa: BLE001 - any failure here means these suites did not run
        return [Outcome(s, "-", not_run=f"fetching the crates: {e}") for s in suites]
    results = []
    for s in suites:
        try:
            results += run_rust_suite(s, tools, crates)
        except Exception as e:  # noqa: BLE001 - a suite that did not run is not a pass
            results.append(Outcome(s, "-", not_run=f"{type(e).__name__}: {e}"))
    return results


def run_rust_suite(s: Suite, tools: Tools, crates: dict[str, str]) -> list[Outcome]:
    if s.package not in crates:
        raise SuiteNotRun(f"cargo metadata did not fetch {s.package} {s.version}")
    proj = os.path.join(WORK, "rust", f"{s.package}-{s.version}")
    fresh_copy(crates[s.package], proj)
    # Its own workspace: the copy lies inside testflow's workspace directory.
    with open(os.path.join(proj, "Cargo.toml"), "a") as f:
        f.write("\n[workspace]\n")
    env = clean_env({**s.env, "CARGO_TARGET_DIR": RUST_TARGET})
    out_dir = os.path.join(OUT, s.name.replace(":", "-"))
    binaries = cargo_binaries(proj, env, os.path.join(out_dir, "anchor", "build.log"))
    # The anchor: libtest's own JSON events for every test binary and the doctests.
    log = os.path.join(out_dir, "anchor", "cargo-test.log")
    ran = run(["cargo", "test", "--", "-Z", "unstable-options", "--format", "json"], proj, log,
              dict(env, RUSTC_BOOTSTRAP="1"), 1800)
    if ran.code not in (0, 101):
        raise SuiteNotRun(f"cargo test could not run the suite (exit {ran.code}): {ran.cmdline()}\n{tail(ran.log)}")
    anchor = anchors.read_libtest(log, binaries, package_name(open(os.path.join(proj, "Cargo.toml")).read()))
    anchor.check_declared()
    if (ran.code == 0) != green(anchor):
        anchor.problems.append(f"cargo test exit {ran.code} disagrees with libtest's events")
    results = []
    for variant in VARIANTS["rust"] + s.extra_variants:
        vdir = os.path.join(out_dir, variant)
        argv = [tools.testflow, "testflow", "run", "--isolation", variant, "-q",
                "--report", f"json={os.path.join(vdir, 'run.json')}"]
        results.append(compare_variant(s, variant, tools, argv, proj, vdir, env, anchor, green(anchor)))
    return results


# ---- the table -----------------------------------------------------------------------------


def print_table(outcomes: list[Outcome]) -> None:
    rows = [("suite", "version", "variant", "framework", "testflow", "agree", "mismatch", "time")]
    for o in outcomes:
        if o.not_run:
            rows.append((o.suite.name, o.suite.version, o.variant,
                         str(len(o.anchor.tests)) if o.anchor else "-", "-", "-", "NOT RUN", "-"))
            continue
        rows.append((o.suite.name, o.suite.version, o.variant, str(len(o.anchor.tests)),
                     str(len(o.testflow.tests)), str(o.agree), str(len(o.mismatches)), f"{o.seconds:.1f}s"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) if j < 3 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    for o in outcomes:
        if o.not_run:
            print(f"\nNOT RUN {o.suite.name} {o.suite.version} [{o.variant}]: {o.not_run}")
        elif o.mismatches:
            print(f"\nMISMATCH {o.suite.name} {o.suite.version} [{o.variant}]: {o.command}")
            for m in o.mismatches[:40]:
                print(f"  {m}")
            if len(o.mismatches) > 40:
                print(f"  … {len(o.mismatches) - 40} more in {os.path.join(OUT, 'summary.json')}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("only", nargs="*", help="suite names (pytest:six) or frameworks (rust)")
    ap.add_argument("--bin", default=os.path.join(TARGET, "debug", "cargo-testflow"),
                    help="the cargo-testflow binary (default: target/debug/cargo-testflow)")
    ap.add_argument("--python", default=os.path.join(TARGET, "py-venv", "bin", "python"),
                    help="Python with pytest, pytest-xdist and the plugin (default: target/py-venv)")
    ap.add_argument("--list", action="store_true", help="list the suites and exit")
    ap.add_argument("--prefetch", action="store_true",
                    help="only download and unpack the suites (into the cache), then exit")
    args = ap.parse_args()
    chosen = [s for s in SUITES if not args.only or s.name in args.only or s.framework in args.only]
    if args.prefetch and chosen:
        os.makedirs(os.path.join(OUT, "setup"), exist_ok=True)
        prefetch(chosen)
        print(f"conformance: {len(chosen)} suites downloaded into {DOWNLOADS}")
        return 0
    if args.list or not chosen:
        for s in SUITES:
            print(f"{s.name:28} {s.version:14} {', '.join(VARIANTS[s.framework] + s.extra_variants)}")
        return 0 if args.list else 2
    if not os.access(args.bin, os.X_OK):
        print(f"no cargo-testflow binary at {args.bin}: build it with `cargo build -p cargo-testflow`")
        return 1
    tools = Tools(os.path.abspath(args.bin), os.path.abspath(args.python))
    start = time.monotonic()
    outcomes: list[Outcome] = []
    runners = {"pytest": run_pytest_suite, "jest": run_jest_suite, "go": run_go_suite}
    for s in chosen:
        if s.framework == "rust":
            continue
        print(f"== {s.name} {s.version}", flush=True)
        try:
            outcomes += runners[s.framework](s, tools)
        except Exception as e:  # noqa: BLE001 - a suite that did not run is not a pass
            outcomes.append(Outcome(s, "-", not_run=f"{type(e).__name__}: {e}"))
    rust = [s for s in chosen if s.framework == "rust"]
    if rust:
        print(f"== {', '.join(s.name for s in rust)}", flush=True)
        outcomes += run_rust_suites(rust, tools)
    elapsed = time.monotonic() - start
    print()
    print_table(outcomes)
    summary = [{"suite": o.suite.name, "version": o.suite.version, "variant": o.variant,
                "not_run": o.not_run, "command": o.command,
                "framework_tests": len(o.anchor.tests) if o.anchor else None,
                "testflow_tests": len(o.testflow.tests) if o.testflow else None,
                "agree": o.agree, "mismatches": o.mismatches} for o in outcomes]
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "summary.json"), "w") as f:
        json.dump({"seconds": round(elapsed, 1), "results": summary}, f, indent=1)
    bad = [o for o in outcomes if o.not_run or o.mismatches]
    verdict = "FAILED" if bad else "passed"
    agreed = sum(o.agree for o in outcomes)
    print(f"\nconformance: {verdict}: {len(outcomes)} comparisons, {agreed} test outcomes agreed, "
          f"{sum(len(o.mismatches) for o in outcomes)} mismatches, "
          f"{sum(1 for o in outcomes if o.not_run)} suites not run, in {elapsed:.0f}s "
          f"(details: {os.path.join(OUT, 'summary.json')})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
