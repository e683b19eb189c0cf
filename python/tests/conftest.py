"""Helpers: run real pytest in a subprocess on a copy of a fixture project."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root

    def pytest(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("TESTFLOW_")}
        full_env.pop("PYTEST_ADDOPTS", None)
        full_env.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
            cwd=self.root,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def runs(self) -> list[Path]:
        return sorted(Path(p) for p in glob.glob(str(self.root / ".testflow" / "runs" / "*")))

    def run_json(self) -> dict:
        runs = self.runs()
        assert len(runs) == 1, runs
        return json.loads((runs[0] / "run.json").read_text())


def by_id(run: dict) -> dict[str, dict]:
    ids = [t["id"] for t in run["tests"]]
    assert len(ids) == len(set(ids)), f"a test recorded twice: {ids}"
    return {t["id"]: t for t in run["tests"]}


@pytest.fixture
def project(tmp_path):
    def make(name: str) -> Project:
        dest = tmp_path / name
        shutil.copytree(FIXTURES / name, dest, ignore=shutil.ignore_patterns("__pycache__", ".testflow"))
        return Project(dest)

    return make
