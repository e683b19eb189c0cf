"""The real suites of the differential check: where each comes from (a package registry,
pinned version) and how it is laid out. See README.md for why these."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Suite:
    framework: str  # pytest | jest | rust | go
    package: str
    version: str
    env: dict = field(default_factory=dict)  # extra environment for every run of it
    # Extra testflow variants beyond the framework's defaults (e.g. pytest-xdist -n 2).
    extra_variants: tuple = ()
    # npm packages the suite's tests require (its devDependencies are not installed).
    npm_test_deps: tuple = ()
    # Jest configuration written into the copy's package.json (`jest` key), for every
    # run of it: the framework's own and testflow's alike.
    jest_config: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.framework}:{self.package}"


SUITES = [
    # PyPI sdists that ship their tests; pure Python, no test dependencies beyond pytest.
    Suite("pytest", "six", "1.17.0", extra_variants=("plugin-n2", "cargo-j2")),
    Suite("pytest", "parse", "1.20.2"),
    # pluggy is also pytest's own dependency: PYTHONPATH makes the tests (and pytest)
    # use the sdist's src/ rather than the pluggy installed in the venv.
    Suite("pytest", "pluggy", "1.6.0", env={"PYTHONPATH": "src"}, extra_variants=("plugin-n2",)),
    # npm tarballs that ship their tests and need no build step. gensync's are Jest tests;
    # its .babelrc names Babel 6's babel-preset-env, which Jest 30's Babel cannot load, and
    # the code is plain CommonJS, so the copy runs untransformed.
    Suite("jest", "gensync", "1.0.0-beta.2", npm_test_deps=("util.promisify@1.1.3",),
          jest_config={"transform": {}}),
    # @sinonjs/commons ships mocha-style tests (describe/it, referee asserts), run by Jest:
    # two files use mocha-only globals (`context`, `before`), so Jest fails to run them
    # (a file-level error both sides must agree on); the others run. One test shuffles with
    # Math.random and fails for some orders: a seeded Math.random makes every run alike.
    Suite("jest", "@sinonjs/commons", "3.0.1",
          npm_test_deps=("@sinonjs/referee-sinon@10.1.1", "jsverify@0.8.4", "knuth-shuffle@1.0.8"),
          jest_config={"transform": {}, "setupFiles": ["<conformance>/jest-seeded-random.js"]}),
    # crates.io crates whose .crate ships unit, integration and doc tests.
    Suite("rust", "strsim", "0.11.1"),
    Suite("rust", "smallvec", "1.16.6"),
    # A Go module from the Go module proxy, stdlib-only: go-cmp's tests are table tests
    # with many subtests (nested names with spaces and symbols), examples and a few skips.
    Suite("go", "github.com/google/go-cmp", "v0.7.0"),
]

# Variants every suite of a framework runs through testflow.
VARIANTS = {
    "pytest": ("cargo-j1", "plugin"),
    "jest": ("cargo", "reporter"),
    "rust": ("process", "binary"),
    "go": ("cargo", "cargo-j1"),
}
