//! Files whose change runs every test: what no per-test dependency data can see
//! (lockfiles and manifests: library versions; toolchain files; test runner and CI
//! configuration; testflow's own). Extended by `[affected] always_run` in the config.

use crate::model::quarantine::glob_match;

/// The built-in patterns. A pattern without `/` matches a file's name in any directory;
/// one with `/` matches the path from the project root.
pub const DEFAULT: &[&str] = &[
    // Rust
    "Cargo.lock",
    "Cargo.toml",
    "rust-toolchain",
    "rust-toolchain.toml",
    "build.rs",
    ".cargo/config",
    ".cargo/config.toml",
    // Python
    "pyproject.toml",
    "setup.cfg",
    "setup.py",
    "requirements*.txt",
    "poetry.lock",
    "uv.lock",
    "Pipfile",
    "Pipfile.lock",
    "pytest.ini",
    "tox.ini",
    ".python-version",
    // JavaScript
    "package.json",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "jest.config.*",
    "vitest.config.*",
    "vite.config.*",
    "vitest.workspace.*",
    "playwright.config.*",
    "babel.config.*",
    ".babelrc",
    "tsconfig.json",
    ".nvmrc",
    // Go
    "go.mod",
    "go.sum",
    // testflow and CI
    "testflow.toml",
    ".github/workflows/*",
    ".gitlab-ci.yml",
    ".circleci/config.yml",
];

/// The pattern that makes `rel` (a path relative to the project root, `/`-separated) a
/// tracked file: the built-in ones, then `extra`.
pub fn matching<'a>(rel: &str, extra: &'a [String]) -> Option<&'a str>
where
    'static: 'a,
{
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let hit = |p: &str| {
        if p.contains('/') {
            glob_match(p.trim_start_matches("./"), rel)
        } else {
            glob_match(p, name)
        }
    };
    DEFAULT
        .iter()
        .copied()
        .find(|p| hit(p))
        .or_else(|| extra.iter().map(String::as_str).find(|p| hit(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockfiles_manifests_and_ci_config_are_tracked_anywhere_or_by_path() {
        for rel in [
            "Cargo.lock",
            "crates/lib/Cargo.toml",
            "requirements-dev.txt",
            "web/package-lock.json",
            "jest.config.js",
            "web/playwright.config.ts",
            "vitest.workspace.js",
            ".github/workflows/ci.yml",
            "testflow.toml",
        ] {
            assert!(matching(rel, &[]).is_some(), "{rel}");
        }
        for rel in [
            "src/lib.rs",
            "tests/conftest.py",
            "src/app.test.js",
            "docs/workflows/x.yml",
        ] {
            assert_eq!(matching(rel, &[]), None, "{rel}");
        }
    }

    #[test]
    fn the_config_extends_the_list() {
        let extra = vec!["data/*.csv".to_owned(), "*.sql".to_owned()];
        assert_eq!(matching("data/rows.csv", &extra), Some("data/*.csv"));
        assert_eq!(matching("db/schema/init.sql", &extra), Some("*.sql"));
        assert_eq!(matching("other/rows.csv", &extra), None);
    }
}
