//! What `cargo testflow list` shows, shared by every framework.

use std::path::PathBuf;

use crate::model::{Framework, TestMeta};

/// A suite as `cargo testflow list` shows it.
#[derive(Debug, Default, serde::Serialize)]
pub struct SuiteListing {
    /// Binary id (`calc`, `calc::integ`), `<package>::doctest`, a pytest file, `jest:<name>`.
    pub id: String,
    pub package: String,
    /// `lib`, `test`, `bin`, … or `doctest`, `pytest`, `jest`.
    pub kind: String,
    /// Tests in the suite (each entry of `test_list`).
    pub tests: usize,
    /// Tests known to be skipped without running (`#[ignore]`, ```` ```ignore ````).
    pub ignored: usize,
    /// Test files, for suites made of files (pytest, Jest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executable: Option<PathBuf>,
    /// The suite (a pytest module) could not be collected: why. `list` exits non-zero.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Every test, in the framework's order.
    pub test_list: Vec<ListedTest>,
    /// Files the framework could not collect: their tests are not in `test_list`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// One test as `cargo testflow list` shows it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ListedTest {
    /// The id a run records it under.
    pub id: String,
    pub name: String,
    pub framework: Framework,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Skipped without running; `null` when the framework cannot tell before running
    /// (pytest's skip marks and Jest's `.skip` are only known then).
    pub ignored: Option<bool>,
    /// `list --affected`: whether a `run --affected` would run it, and the rule that
    /// decided (the decision of its group, as the run records it under `affected`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affected: Option<ListedSelection>,
}

/// One test's `--affected` decision in `list --affected`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ListedSelection {
    pub selected: bool,
    /// `changed_dependency`, `failed_last_run`, `no_dependencies`, `fingerprint`,
    /// `full_run`, `deleted_source` or `unaffected` (docs/affected.md).
    pub rule: String,
    pub reason: String,
    /// The group whose decision it is (a Rust test binary, a test file, a go package, the
    /// test itself when it was selected on its own, `*`: the whole framework).
    pub group: String,
    /// The changed files that selected it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

impl ListedTest {
    pub fn from_meta(meta: &TestMeta, ignored: Option<bool>) -> ListedTest {
        ListedTest {
            id: meta.id.clone(),
            name: meta.name.clone(),
            framework: meta.framework,
            file: meta.file.clone(),
            line: meta.line,
            ignored,
            affected: None,
        }
    }
}
