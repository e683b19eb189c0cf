//! pytest's static dependencies of a test file: the file, the `conftest.py` files of its
//! directory and every directory above it up to the project root, and the project-local
//! modules they import, transitively. Conservative by construction: an import is
//! resolved against every directory pytest may put on `sys.path` (the project root, its
//! `src/`, and the directories between the file and the root), and a package's
//! `__init__.py` files count, since importing a module runs them.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

/// One import statement: `import a.b` (level 0, no names), `from ..a import b, c`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    /// Leading dots of a relative import.
    pub level: usize,
    /// The dotted module (may be empty: `from . import x`).
    pub module: String,
    /// The names of a `from` import (`*` included), which may be submodules.
    pub names: Vec<String>,
}

static IMPORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*import\s+(.+)$").expect("valid regex"));
static FROM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*from\s+(\.*)\s*([\w.]*)\s+import\s+(.+)$").expect("valid regex")
});

/// The imports of a Python source, read line by line (parenthesised and `\`-continued
/// name lists joined). Text in strings that looks like an import counts too: selecting
/// more is safe, less is not.
pub fn scan(text: &str) -> Vec<Import> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let mut line = strip_comment(line).to_owned();
        // Join continuations: an open parenthesis or a trailing backslash.
        while line.trim_end().ends_with('\\') || (line.contains('(') && !line.contains(')')) {
            let Some(next) = lines.next() else { break };
            let trimmed = line.trim_end().trim_end_matches('\\').to_owned();
            line = format!("{trimmed} {}", strip_comment(next));
        }
        if let Some(c) = FROM.captures(&line) {
            let names = c[3]
                .replace(['(', ')'], " ")
                .split(',')
                .filter_map(|n| n.split_whitespace().next().map(str::to_owned))
                .filter(|n| n == "*" || is_ident(n))
                .collect();
            out.push(Import {
                level: c[1].len(),
                module: c[2].to_owned(),
                names,
            });
        } else if let Some(c) = IMPORT.captures(&line) {
            for part in c[1].split(',') {
                if let Some(m) = part.split_whitespace().next()
                    && m.split('.').all(is_ident)
                {
                    out.push(Import {
                        level: 0,
                        module: m.to_owned(),
                        names: vec![],
                    });
                }
            }
        }
    }
    out
}

fn strip_comment(line: &str) -> &str {
    line.find('#').map_or(line, |i| &line[..i])
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// The existing files an import may load, searched from `bases`.
fn candidates(imp: &Import, bases: &[PathBuf]) -> Vec<PathBuf> {
    let parts: Vec<&str> = imp.module.split('.').filter(|p| !p.is_empty()).collect();
    let mut out = Vec::new();
    for base in bases {
        let mut dir = base.clone();
        // Each package on the way runs its __init__.py.
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if last {
                out.push(dir.join(format!("{part}.py")));
            }
            dir = dir.join(part);
            out.push(dir.join("__init__.py"));
        }
        for name in &imp.names {
            if name != "*" {
                out.push(dir.join(format!("{name}.py")));
                out.push(dir.join(name).join("__init__.py"));
            }
        }
    }
    out.retain(|p| p.is_file());
    out
}

/// Static dependency scanning for one project, caching each file's direct imports.
pub struct Scanner {
    root: PathBuf,
    direct: HashMap<PathBuf, Vec<PathBuf>>,
}

impl Scanner {
    pub fn new(root: &Path) -> Scanner {
        Scanner {
            root: root.to_owned(),
            direct: HashMap::new(),
        }
    }

    /// The directories an absolute import is searched in, for a file in `dir`.
    fn search_path(&self, dir: &Path) -> Vec<PathBuf> {
        let mut bases: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|d| d.starts_with(&self.root))
            .map(Path::to_owned)
            .collect();
        for extra in [self.root.clone(), self.root.join("src")] {
            if !bases.contains(&extra) {
                bases.push(extra);
            }
        }
        bases
    }

    fn imports_of(&mut self, file: &Path) -> Vec<PathBuf> {
        if let Some(d) = self.direct.get(file) {
            return d.clone();
        }
        let text = std::fs::read(file)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let dir = file.parent().unwrap_or(&self.root).to_owned();
        let mut out = Vec::new();
        for imp in scan(&text) {
            let bases = if imp.level > 0 {
                let mut base = dir.clone();
                for _ in 1..imp.level {
                    base = base.parent().map(Path::to_owned).unwrap_or(base);
                }
                vec![base]
            } else {
                self.search_path(&dir)
            };
            for c in candidates(&imp, &bases) {
                if c.starts_with(&self.root) && !out.contains(&c) {
                    out.push(c);
                }
            }
        }
        self.direct.insert(file.to_owned(), out.clone());
        out
    }

    /// Every file `test_file` depends on: itself, the conftest.py files above it, and
    /// what they import from the project, transitively (sorted).
    pub fn dependencies(&mut self, test_file: &Path) -> Vec<PathBuf> {
        let mut start = vec![test_file.to_owned()];
        if let Some(dir) = test_file.parent() {
            for d in dir.ancestors().take_while(|d| d.starts_with(&self.root)) {
                let c = d.join("conftest.py");
                if c.is_file() && c != test_file {
                    start.push(c);
                }
            }
        }
        let mut seen: HashSet<PathBuf> = start.iter().cloned().collect();
        let mut queue = start;
        while let Some(f) = queue.pop() {
            for d in self.imports_of(&f) {
                if seen.insert(d.clone()) {
                    queue.push(d);
                }
            }
        }
        let mut out: Vec<PathBuf> = seen.into_iter().collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imp(level: usize, module: &str, names: &[&str]) -> Import {
        Import {
            level,
            module: module.into(),
            names: names.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn scans_every_import_form() {
        let src = "import os, pkg.sub as s\nfrom . import helper  # a comment\nfrom ..base.mod import (\n    One,\n    two as t,\n)\nfrom app import *\n    import nested\nx = 'not an import'\nfrom a.b import \\\n    c\n";
        assert_eq!(
            scan(src),
            [
                imp(0, "os", &[]),
                imp(0, "pkg.sub", &[]),
                imp(1, "", &["helper"]),
                imp(2, "base.mod", &["One", "two"]),
                imp(0, "app", &["*"]),
                imp(0, "nested", &[]),
                imp(0, "a.b", &["c"]),
            ]
        );
    }

    #[test]
    fn resolves_local_modules_packages_and_conftests_transitively() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        let w = |p: &str, text: &str| {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        w("app/__init__.py", "");
        w("app/core.py", "from .util import helper\n");
        w("app/util.py", "import json\n");
        w("app/unused.py", "");
        w("tests/conftest.py", "import fixtures_lib\n");
        w("fixtures_lib.py", "");
        w("conftest.py", "");
        w(
            "tests/test_core.py",
            "from app.core import thing\nimport pytest\n",
        );
        w("tests/other/test_other.py", "");
        let mut s = Scanner::new(&root);
        let deps = s.dependencies(&root.join("tests/test_core.py"));
        let rel: Vec<String> = deps
            .iter()
            .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
            .collect();
        assert_eq!(
            rel,
            [
                "app/__init__.py",
                "app/core.py",
                "app/util.py",
                "conftest.py",
                "fixtures_lib.py",
                "tests/conftest.py",
                "tests/test_core.py",
            ]
        );
        let other = s.dependencies(&root.join("tests/other/test_other.py"));
        assert!(other.contains(&root.join("tests/conftest.py")));
        assert!(!other.contains(&root.join("app/core.py")));
    }
}
