//! The project root a command started in a subdirectory works on: where the suites are
//! found, the virtualenv is looked for, and the one `.testflow/` lives.

use std::path::{Path, PathBuf};

/// Does this Cargo.toml declare a workspace?
fn declares_workspace(manifest: &Path) -> bool {
    std::fs::read_to_string(manifest).is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]"))
}

/// The project root for `start`: walking up (never past the git root), the first
/// directory that is a project root:
/// - one with a Cargo.toml: the cargo workspace root (the nearest Cargo.toml with
///   `[workspace]` from there up, else that Cargo.toml's directory);
/// - a pytest configuration (pytest.ini, pyproject.toml `[tool.pytest.ini_options]`,
///   setup.cfg, tox.ini) or a package.json using Jest;
/// - the git root.
///
/// Else `start`. A pytest or Jest project inside a cargo workspace is not that
/// workspace: when `start` itself holds one, a Cargo.toml above does not move it.
pub fn find_root(start: &Path) -> PathBuf {
    let ancestors: Vec<&Path> = {
        let mut v = Vec::new();
        for d in start.ancestors() {
            v.push(d);
            if d.join(".git").exists() {
                break;
            }
        }
        v
    };
    for (i, d) in ancestors.iter().enumerate() {
        if d.join("Cargo.toml").is_file() {
            if i > 0 && crate::frameworks::is_other_project(start) {
                return start.to_owned();
            }
            let workspace = ancestors[i..]
                .iter()
                .find(|w| declares_workspace(&w.join("Cargo.toml")));
            return workspace.unwrap_or(d).to_path_buf();
        }
        if crate::frameworks::is_configured_root(d) || d.join(".git").exists() {
            return d.to_path_buf();
        }
    }
    start.to_owned()
}

/// The directory a command was pointed at: `--project DIR` (made absolute), else the
/// current directory.
pub fn dir(project: Option<&Path>) -> anyhow::Result<PathBuf> {
    use anyhow::Context;
    match project {
        Some(p) => Ok(std::path::absolute(p).unwrap_or_else(|_| p.to_owned())),
        None => std::env::current_dir().context("cannot read the current directory"),
    }
}

/// `--project DIR`, else the project root found from the current directory
/// ([`find_root`]): where suites are found, the virtualenv is looked for and the one
/// `.testflow/` lives.
pub fn root(project: Option<&Path>) -> anyhow::Result<PathBuf> {
    match project {
        Some(_) => dir(project),
        None => Ok(find_root(&dir(None)?)),
    }
}

/// The git work tree `dir` is in, if it is in one.
pub fn git_root(dir: &Path) -> Option<PathBuf> {
    let out = duct::cmd("git", ["rev-parse", "--show-toplevel"])
        .dir(dir)
        .stdout_capture()
        .stderr_null()
        .unchecked()
        .run()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn finds_the_workspace_the_pytest_root_or_the_git_root() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join(".git")).unwrap();
        write(
            &r.join("Cargo.toml"),
            "[workspace]\nmembers = [\"crates/*\"]\n",
        );
        write(&r.join("crates/a/Cargo.toml"), "[package]\nname = \"a\"\n");
        std::fs::create_dir_all(r.join("crates/a/tests")).unwrap();
        assert_eq!(find_root(&r.join("crates/a/tests")), r);
        // A pytest project inside the cargo repository is its own root.
        write(
            &r.join("py/pyproject.toml"),
            "[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\n",
        );
        write(&r.join("py/tests/test_x.py"), "");
        assert_eq!(find_root(&r.join("py/tests")), r.join("py"));
        // Test files and no configuration anywhere but the cargo root: stays put.
        write(&r.join("loose/test_y.py"), "");
        assert_eq!(find_root(&r.join("loose")), r.join("loose"));
        // Nothing at all: the git root.
        std::fs::create_dir_all(r.join("docs/img")).unwrap();
        std::fs::remove_file(r.join("Cargo.toml")).unwrap();
        assert_eq!(find_root(&r.join("docs/img")), r);
    }
}
