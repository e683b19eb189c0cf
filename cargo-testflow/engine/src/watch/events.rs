//! From file events to change sets: which paths count (the [`Filter`]) and how a burst of
//! events becomes one change set (the [`Coalescer`]). Pure logic: the caller passes the
//! time in, so the tests feed events without a clock and never sleep.

use std::collections::BTreeSet;
use std::path::{Component, Path};
use std::time::{Duration, Instant};

/// Directory names never watched, wherever they are: build output, version control,
/// installed packages, testflow's store and the caches the test runners write while they
/// run (a round writing them must not start the next round).
const IGNORED_DIRS: &[&str] = &[
    "target",
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    ".testflow",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
    ".tox",
    ".nox",
    ".venv",
];

/// Which paths under the project root count as changes.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Paths (relative to the root, `/`-separated) ignored with everything under them:
    /// the store when it is inside the project, the reports a round writes, the
    /// directories git ignores.
    prefixes: Vec<String>,
}

impl Filter {
    pub fn new() -> Filter {
        Filter::default()
    }

    /// Also ignore `rel` (a file or a directory, relative to the root) and what is under it.
    pub fn ignore_prefix(&mut self, rel: &str) {
        let rel = rel.trim_end_matches('/');
        if !rel.is_empty() && !self.prefixes.iter().any(|p| p == rel) {
            self.prefixes.push(rel.to_owned());
        }
    }

    /// Whether a path relative to the root is ignored: under an ignored directory, an
    /// editor's temporary file, or under one of the extra prefixes.
    pub fn ignored(&self, rel: &Path) -> bool {
        let mut names = Vec::new();
        for c in rel.components() {
            match c {
                Component::Normal(n) => names.push(n),
                // Outside the root (or not relative): nothing of ours.
                _ => return true,
            }
        }
        let Some((file, dirs)) = names.split_last() else {
            return true;
        };
        if dirs.iter().any(|d| is_ignored_dir(d)) || is_ignored_dir(file) {
            return true;
        }
        if file.to_str().is_some_and(is_editor_temp) {
            return true;
        }
        // Component-wise: `out` covers `out/x`, not `outside`.
        self.prefixes.iter().any(|p| rel.starts_with(p))
    }

    /// Whether a directory is left unwatched (with everything under it).
    pub fn skips_dir(&self, rel: &Path) -> bool {
        !rel.as_os_str().is_empty() && self.ignored(rel)
    }
}

fn is_ignored_dir(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| IGNORED_DIRS.contains(&n))
}

/// Files editors write beside the one being saved: vim's swap files and its `4913`
/// write test, backups (`file~`), Emacs's lock and auto-save files (`.#file`, `#file#`).
pub fn is_editor_temp(name: &str) -> bool {
    name == "4913"
        || name.ends_with('~')
        || name.starts_with(".#")
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'))
        || [".swp", ".swo", ".swx"]
            .iter()
            .any(|ext| name.ends_with(ext) && name.len() > ext.len())
}

/// The paths a burst of events touched, sorted, plus whether one could not be named (a
/// path that is not UTF-8 cannot be handed to `--changed`: the round runs everything).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeSet {
    pub paths: BTreeSet<String>,
    pub unnamed: bool,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && !self.unnamed
    }
}

/// Collects changes until the events pause for `debounce` (a save is often several
/// events: write, rename, attributes), or at most `max_wait` after the first one, so a
/// file written without pause still gets its round.
#[derive(Debug)]
pub struct Coalescer {
    debounce: Duration,
    max_wait: Duration,
    pending: ChangeSet,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Coalescer {
    pub fn new(debounce: Duration) -> Coalescer {
        Coalescer {
            debounce,
            // Long enough for an editor's save or a `git checkout`, short enough to start.
            max_wait: (debounce * 10).max(Duration::from_secs(2)),
            pending: ChangeSet::default(),
            first: None,
            last: None,
        }
    }

    /// A changed path (relative to the root, `/`-separated), at `now`.
    pub fn add(&mut self, rel: &Path, now: Instant) {
        match rel.to_str() {
            Some(s) => {
                self.pending.paths.insert(s.replace('\\', "/"));
            }
            None => self.pending.unnamed = true,
        }
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// Something changed that cannot be named (events were lost): the round runs everything.
    pub fn add_unnamed(&mut self, now: Instant) {
        self.pending.unnamed = true;
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// When the pending changes are due (none pending: `None`).
    pub fn deadline(&self) -> Option<Instant> {
        let (first, last) = (self.first?, self.last?);
        Some((last + self.debounce).min(first + self.max_wait))
    }

    /// The pending changes, if they are due at `now`.
    pub fn take_due(&mut self, now: Instant) -> Option<ChangeSet> {
        if self.deadline()? > now {
            return None;
        }
        self.first = None;
        self.last = None;
        Some(std::mem::take(&mut self.pending))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> &Path {
        Path::new(s)
    }

    #[test]
    fn build_output_vcs_packages_the_store_and_caches_are_ignored() {
        let f = Filter::new();
        for ignored in [
            "target/debug/deps/x.d",
            "target",
            "crates/a/target/x",
            ".git/index",
            "web/node_modules/jest/index.js",
            ".testflow/runs/1/events.jsonl",
            "pkg/__pycache__/m.cpython-312.pyc",
            ".pytest_cache/v/cache/lastfailed",
            ".venv/lib/site.py",
        ] {
            assert!(f.ignored(p(ignored)), "{ignored}");
        }
        for kept in [
            "src/lib.rs",
            "Cargo.toml",
            "tests/test_a.py",
            "src/targets.rs",
            "my_target/x.rs",
            ".github/workflows/ci.yml",
            ".gitignore",
        ] {
            assert!(!f.ignored(p(kept)), "{kept}");
        }
    }

    #[test]
    fn editor_temporary_files_are_ignored() {
        let f = Filter::new();
        for ignored in [
            "src/.lib.rs.swp",
            "src/.lib.rs.swx",
            "src/lib.rs~",
            "src/4913",
            "src/.#lib.rs",
            "src/#lib.rs#",
        ] {
            assert!(f.ignored(p(ignored)), "{ignored}");
        }
        for kept in ["src/swp.rs", "src/a#b.rs", ".swp", "src/49134"] {
            assert!(!f.ignored(p(kept)), "{kept}");
        }
    }

    #[test]
    fn extra_prefixes_cover_what_is_under_them_and_nothing_beside() {
        let mut f = Filter::new();
        f.ignore_prefix("out/");
        f.ignore_prefix("report.xml");
        assert!(f.ignored(p("out")));
        assert!(f.ignored(p("out/junit.xml")));
        assert!(f.ignored(p("report.xml")));
        assert!(!f.ignored(p("outside.rs")));
        assert!(!f.ignored(p("report.xml.bak")));
    }

    #[test]
    fn paths_outside_the_root_and_the_root_itself_are_not_changes() {
        let f = Filter::new();
        assert!(f.ignored(p("../elsewhere/a.rs")));
        assert!(f.ignored(p("/abs/a.rs")));
        assert!(f.ignored(p("")));
        assert!(!f.skips_dir(p("")), "the root itself is watched");
        assert!(f.skips_dir(p("target")));
        assert!(!f.skips_dir(p("src")));
    }

    #[test]
    fn a_burst_is_one_change_set_once_the_events_pause() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut c = Coalescer::new(ms(200));
        assert_eq!(c.deadline(), None);
        assert_eq!(c.take_due(t0), None);
        c.add(p("src/lib.rs"), t0);
        c.add(p("src/lib.rs"), t0 + ms(50));
        c.add(p("src/a.rs"), t0 + ms(150));
        // Each event moves the deadline on.
        assert_eq!(c.deadline(), Some(t0 + ms(350)));
        assert_eq!(c.take_due(t0 + ms(349)), None);
        let set = c.take_due(t0 + ms(350)).expect("due");
        assert_eq!(
            set.paths.into_iter().collect::<Vec<_>>(),
            ["src/a.rs", "src/lib.rs"]
        );
        assert!(!set.unnamed);
        assert_eq!(c.deadline(), None, "taken: nothing pending");
    }

    #[test]
    fn events_without_pause_are_cut_at_the_longest_wait() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut c = Coalescer::new(ms(200));
        // An event every 100 ms: never a 200 ms pause.
        for i in 0..20 {
            let t = t0 + ms(100 * i);
            c.add(p("log.txt"), t);
            assert_eq!(c.take_due(t + ms(99)), None, "at {} ms", 100 * i + 99);
        }
        assert_eq!(c.deadline(), Some(t0 + Duration::from_secs(2)));
        assert!(c.take_due(t0 + Duration::from_secs(2)).is_some());
    }

    proptest::proptest! {
        /// Whatever the events' spacing: every path comes out exactly once per set it was
        /// added to, no set waits past the longest wait, and none is taken before a pause.
        #[test]
        fn no_path_is_lost_and_no_set_waits_too_long(
            events in proptest::collection::vec((0usize..5, 0u64..500), 1..60)
        ) {
            let ms = Duration::from_millis;
            let t0 = Instant::now();
            let mut c = Coalescer::new(ms(200));
            let mut now = t0;
            let mut first: Option<Instant> = None;
            let mut added = BTreeSet::new();
            let mut taken = BTreeSet::new();
            for (file, gap) in events {
                let next = now + ms(gap);
                // The loop wakes at each deadline before the next event.
                while let Some(d) = c.deadline().filter(|d| *d <= next) {
                    proptest::prop_assert!(d <= first.unwrap() + ms(2000));
                    let set = c.take_due(d).expect("due at its deadline");
                    taken.extend(set.paths);
                    first = None;
                }
                now = next;
                let path = format!("f{file}");
                c.add(Path::new(&path), now);
                added.insert(path);
                first.get_or_insert(now);
                proptest::prop_assert!(c.take_due(now).is_none(), "not before a pause");
            }
            let rest = c.take_due(c.deadline().unwrap()).expect("due");
            taken.extend(rest.paths);
            proptest::prop_assert_eq!(added, taken);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_path_that_is_not_utf8_makes_the_set_unnamed() {
        use std::os::unix::ffi::OsStrExt;
        let t0 = Instant::now();
        let mut c = Coalescer::new(Duration::ZERO);
        c.add(Path::new(std::ffi::OsStr::from_bytes(b"src/\xff.rs")), t0);
        let set = c.take_due(t0).expect("due at once");
        assert!(set.unnamed);
        assert!(set.paths.is_empty());
        assert!(!set.is_empty());
    }
}
