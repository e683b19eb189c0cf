"""`pip install ./python` from a checkout: maturin builds outside it (python/backend)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BACKEND = REPO / "python" / "backend" / "testflow_backend.py"


def load_backend():
    spec = importlib.util.spec_from_file_location("testflow_backend_under_test", BACKEND)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_build_goes_to_cargo_target_dir_else_the_shared_cache():
    target_dir = load_backend().target_dir
    assert target_dir({"CARGO_TARGET_DIR": "/t/x", "HOME": "/h"}) == "/t/x"
    assert target_dir({"XDG_CACHE_HOME": "/c", "HOME": "/h"}) == os.path.join("/c", "testflow", "target")
    assert target_dir({"HOME": "/h"}) == os.path.join("/h", ".cache", "testflow", "target")
    # A relative XDG_CACHE_HOME is invalid (XDG base directory spec): ignored, as npm's build does.
    assert target_dir({"XDG_CACHE_HOME": "rel", "HOME": "/h"}) == os.path.join("/h", ".cache", "testflow", "target")


def test_loading_the_backend_leaves_no_bytecode_in_the_checkout(monkeypatch):
    # As on a machine without PYTHONDONTWRITEBYTECODE: the import writes __pycache__.
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    load_backend()
    assert not (BACKEND.parent / "__pycache__").exists()


def test_the_extension_is_installed_not_built_into_the_sources():
    import testflow._native as native

    installed = Path(native.__file__).resolve()
    assert "site-packages" in installed.parts, f"{installed} is not an installed module"
    assert REPO / "python" not in installed.parents, f"{installed} is in the checkout's python/"
    assert list((REPO / "python" / "src" / "testflow").glob("_native*.so")) == [], "an extension built into the checkout"
