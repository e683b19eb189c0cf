"""The PEP 517 build backend of pytest-testflow: maturin, building outside the checkout.

`pip install ./python` (and the sdist) build with maturin, into $CARGO_TARGET_DIR or, when
that is unset, the shared cache ${XDG_CACHE_HOME:-~/.cache}/testflow/target, the same
directory `npm install` of jest-testflow builds in: the second door reuses the engine the
first built, and nothing is built into the checkout. Cargo locks the directory, so two
installs at once wait for each other.
"""

import os
import shutil

# Importing this file wrote its bytecode next to it: build output in the checkout.
shutil.rmtree(os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__"), ignore_errors=True)


def target_dir(env=os.environ):
    """$CARGO_TARGET_DIR, else the per-user cache shared with the npm install."""
    if env.get("CARGO_TARGET_DIR"):
        return env["CARGO_TARGET_DIR"]
    cache = env.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(cache):
        cache = os.path.join(env.get("HOME") or os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "testflow", "target")


def _maturin():
    os.environ["CARGO_TARGET_DIR"] = target_dir()
    import maturin

    return maturin


def get_requires_for_build_wheel(config_settings=None):
    return _maturin().get_requires_for_build_wheel(config_settings)


def get_requires_for_build_sdist(config_settings=None):
    return _maturin().get_requires_for_build_sdist(config_settings)


def get_requires_for_build_editable(config_settings=None):
    return _maturin().get_requires_for_build_editable(config_settings)


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    return _maturin().prepare_metadata_for_build_wheel(metadata_directory, config_settings)


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
    return _maturin().prepare_metadata_for_build_editable(metadata_directory, config_settings)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _maturin().build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _maturin().build_editable(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory, config_settings=None):
    return _maturin().build_sdist(sdist_directory, config_settings)
