//! The selection rules ([`decide`]) on hand-made groups.

use super::*;

fn p(s: &str) -> PathBuf {
    PathBuf::from(format!("/r/{s}"))
}

fn group(id: &str, deps: &[&str], tests: &[&str]) -> Group {
    Group {
        id: id.into(),
        deps: deps.iter().map(|d| p(d)).collect(),
        tests: tests.iter().map(|t| (*t).to_owned()).collect(),
        whole: false,
    }
}

struct World {
    changed: HashSet<PathBuf>,
    removed: Vec<PathBuf>,
    failing: HashSet<String>,
    stored: HashMap<String, store::Stored>,
}

impl World {
    fn new(changed: &[&str]) -> World {
        World {
            changed: changed.iter().map(|c| p(c)).collect(),
            removed: vec![],
            failing: HashSet::new(),
            stored: HashMap::new(),
        }
    }
    fn recorded(mut self, groups: &[&Group], fp: &str) -> World {
        for g in groups {
            self.stored.insert(
                g.id.clone(),
                store::Stored {
                    fingerprint: fp.into(),
                    files: g.deps.clone(),
                },
            );
        }
        self
    }
    fn decide(&self, full: Option<&str>, groups: &[Group]) -> Vec<(String, bool, String)> {
        let claims = |p: &Path| p.extension().is_some_and(|e| e == "py");
        decide(
            &Inputs {
                framework: Framework::Pytest,
                full_run: full,
                changed: &self.changed,
                removed: &self.removed,
                failing: &self.failing,
                fingerprint: "fp",
                stored: &self.stored,
                claims_removed: &claims,
                root: Path::new("/r"),
            },
            groups,
        )
        .into_iter()
        .map(|d| (d.group, d.selected, d.rule))
        .collect()
    }
}

fn d(g: &str, sel: bool, rule: &str) -> (String, bool, String) {
    (g.into(), sel, rule.into())
}

#[test]
fn a_changed_dependency_selects_only_the_groups_that_use_it() {
    let a = group(
        "test_a.py",
        &["test_a.py", "app/core.py"],
        &["test_a.py::t"],
    );
    let b = group("test_b.py", &["test_b.py"], &["test_b.py::t"]);
    let w = World::new(&["app/core.py"]).recorded(&[&a, &b], "fp");
    assert_eq!(
        w.decide(None, &[a, b]),
        [
            d("test_a.py", true, "changed_dependency"),
            d("test_b.py", false, "unaffected")
        ]
    );
}

#[test]
fn a_full_run_selects_everything() {
    let a = group("a", &["a.py"], &[]);
    let w = World::new(&[]).recorded(&[&a], "fp");
    assert_eq!(w.decide(Some("lockfile"), &[a]), [d("a", true, "full_run")]);
}

#[test]
fn unrecorded_groups_and_another_fingerprint_are_selected() {
    let a = group("a", &["a.py"], &[]);
    let b = group("b", &["b.py"], &[]);
    let w = World::new(&[]).recorded(&[&b], "old-fp");
    assert_eq!(
        w.decide(None, &[a, b]),
        [d("a", true, "no_dependencies"), d("b", true, "fingerprint")]
    );
}

#[test]
fn recorded_dependencies_count_even_when_the_file_is_gone_now() {
    // test_a imported helpers.py, which was deleted: today's scan no longer sees it.
    let then = group("test_a.py", &["test_a.py", "helpers.py"], &[]);
    let now = group("test_a.py", &["test_a.py"], &[]);
    let other = group("test_b.py", &["test_b.py"], &[]);
    let mut w = World::new(&["helpers.py"]).recorded(&[&then, &other], "fp");
    w.removed = vec![p("helpers.py")];
    assert_eq!(
        w.decide(None, &[now, other]),
        [
            d("test_a.py", true, "changed_dependency"),
            d("test_b.py", false, "unaffected")
        ]
    );
}

#[test]
fn a_deleted_source_nobody_recorded_selects_everything() {
    let a = group("a", &["a.py"], &[]);
    let mut w = World::new(&["lost.py"]).recorded(&[&a], "fp");
    w.removed = vec![p("lost.py")];
    assert_eq!(
        w.decide(None, std::slice::from_ref(&a)),
        [d("a", true, "deleted_source")]
    );
    // A file only a vanished group used (a deleted test file) selects nothing else.
    let gone = group("test_gone.py", &["test_gone.py"], &[]);
    let mut v = World::new(&["test_gone.py"]).recorded(&[&a, &gone], "fp");
    v.removed = vec![p("test_gone.py")];
    assert_eq!(
        v.decide(None, std::slice::from_ref(&a)),
        [d("a", false, "unaffected")]
    );
    // A deleted file of another language is not this framework's.
    w.removed = vec![p("lost.rs")];
    assert_eq!(w.decide(None, &[a]), [d("a", false, "unaffected")]);
}

#[test]
fn last_failures_are_selected_one_by_one_in_unaffected_groups() {
    let a = group("a", &["a.py"], &["a::ok", "a::broken"]);
    let mut w = World::new(&[]).recorded(&[&a], "fp");
    w.failing.insert("a::broken".into());
    assert_eq!(
        w.decide(None, &[a]),
        [
            d("a", false, "unaffected"),
            d("a::broken", true, "failed_last_run")
        ]
    );
}

#[test]
fn a_group_that_runs_as_a_whole_is_selected_by_its_last_failure() {
    let mut a = group("pkg", &["a.go"], &["pkg::TestBroken"]);
    a.whole = true;
    let mut w = World::new(&[]).recorded(&[&a], "fp");
    assert_eq!(
        w.decide(None, std::slice::from_ref(&a)),
        [d("pkg", false, "unaffected")]
    );
    w.failing.insert("pkg::TestBroken".into());
    assert_eq!(w.decide(None, &[a]), [d("pkg", true, "failed_last_run")]);
}

#[test]
fn fingerprints_follow_the_tracked_files_and_the_toolchain() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Cargo.lock"), "v1").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
    let one = fingerprint(dir.path(), "rustc 1.90");
    assert_eq!(one, fingerprint(dir.path(), "rustc 1.90"));
    assert_ne!(one, fingerprint(dir.path(), "rustc 1.91"));
    std::fs::write(dir.path().join("notes.txt"), "y").unwrap();
    assert_eq!(
        one,
        fingerprint(dir.path(), "rustc 1.90"),
        "untracked files do not count"
    );
    std::fs::write(dir.path().join("Cargo.lock"), "v2").unwrap();
    assert_ne!(one, fingerprint(dir.path(), "rustc 1.90"));
}

#[test]
fn modes_round_trip() {
    crate::choice::assert_names_round_trip::<Mode>();
}

/// git in `dir`, without the machine's own configuration (other modules' tests use it too).
pub(crate) fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn request() -> Request {
    Request {
        mode: Mode::Select,
        since: None,
        changed: vec![],
        always_run: vec![],
    }
}

#[test]
fn outside_git_or_without_a_base_everything_runs_with_the_reason() {
    let d = tempfile::tempdir().unwrap();
    let plain = d.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    if changes::toplevel(&plain).is_none() {
        let plan = Plan::build(&plain, &request(), None).unwrap();
        assert!(
            plan.full_run
                .as_deref()
                .unwrap()
                .contains("not in a git work tree")
        );
    }
    // A repository whose only branch is neither main nor master, and no history.
    let repo = d.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "trunk"]);
    std::fs::write(repo.join("a.py"), "").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "one"]);
    let plan = Plan::build(&repo, &request(), None).unwrap();
    assert!(
        plan.full_run
            .as_deref()
            .unwrap()
            .contains("no base revision"),
        "{:?}",
        plan.full_run
    );
    assert_eq!(plan.base_source, "none");
    // --since names it: the working tree's changes, untracked files included.
    std::fs::write(repo.join("a.py"), "x = 1\n").unwrap();
    std::fs::write(repo.join("new.py"), "").unwrap();
    let since = Request {
        since: Some("HEAD".into()),
        ..request()
    };
    let plan = Plan::build(&repo, &since, None).unwrap();
    assert_eq!(plan.full_run, None);
    assert_eq!(plan.base_source, "since");
    let mut got: Vec<(String, &str)> = plan
        .changes
        .iter()
        .map(|c| (display(&plan.root, &c.path), c.status))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [("a.py".into(), "modified"), ("new.py".into(), "untracked")]
    );
    // A --since that names no commit is an error naming it.
    let bad = Request {
        since: Some("no-such-ref".into()),
        ..request()
    };
    let e = Plan::build(&repo, &bad, None).err().unwrap();
    assert!(e.is::<BadBase>(), "{e:#}");
    assert!(format!("{e:#}").contains("--since no-such-ref"));
}
