//! The file watches: one non-recursive watch per directory the filter keeps, so build
//! output, `.git` and `node_modules` cost no watches (the kernel's limit on them is per
//! user). A directory created later is watched when its event comes, and the files
//! already in it count as changed (they may have been written before its watch).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use notify::event::{MetadataKind, ModifyKind};
use notify::{EventKind, RecursiveMode, Watcher};

use super::events::Filter;
use super::{WatchEvent, WatchListener};

pub(super) struct Tree {
    watcher: notify::RecommendedWatcher,
    root: PathBuf,
    dirs: HashSet<PathBuf>,
    files: usize,
}

/// What a path under the tree turned out to be.
pub(super) enum Change {
    /// A file, relative to the root.
    File(PathBuf),
    /// A watched directory went away (removed or moved): the files it held cannot be
    /// named, so the round runs everything.
    Unnamed,
}

impl Tree {
    pub(super) fn new(
        root: &Path,
        filter: &Filter,
        handler: impl notify::EventHandler,
    ) -> anyhow::Result<Tree> {
        let watcher = notify::recommended_watcher(handler).map_err(|e| cannot_watch(root, e))?;
        let mut tree = Tree {
            watcher,
            root: root.to_owned(),
            dirs: HashSet::new(),
            files: 0,
        };
        let mut found = Vec::new();
        tree.add(root, filter, &mut found)
            .map_err(|e| cannot_watch(root, e))?;
        tree.files = found.len();
        Ok(tree)
    }

    /// How many files are watched (as of the start, plus those in new directories).
    pub(super) fn files(&self) -> usize {
        self.files
    }

    /// Watch `dir` and the directories under it the filter keeps; the files found (that
    /// the filter keeps) go to `found`, relative to the root.
    fn add(&mut self, dir: &Path, filter: &Filter, found: &mut Vec<PathBuf>) -> notify::Result<()> {
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            if self.dirs.contains(&d) {
                continue;
            }
            match self.watcher.watch(&d, RecursiveMode::NonRecursive) {
                Ok(()) => {}
                // Gone before its watch: nothing to watch.
                Err(e) if gone(&e) => continue,
                Err(e) => return Err(e),
            }
            self.dirs.insert(d.clone());
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let Ok(kind) = e.file_type() else { continue };
                let path = e.path();
                let rel = self.rel(&path).to_owned();
                // Symbolic links to directories are not followed (no loops, no escapes).
                if kind.is_dir() {
                    if !filter.skips_dir(&rel) {
                        stack.push(path);
                    }
                } else if !filter.ignored(&rel) {
                    found.push(rel);
                }
            }
        }
        Ok(())
    }

    fn rel<'p>(&self, path: &'p Path) -> &'p Path {
        path.strip_prefix(&self.root).unwrap_or(path)
    }

    /// What an event changed that counts: files relative to the root. New directories
    /// are watched on the way.
    pub(super) fn changes(
        &mut self,
        event: &notify::Event,
        filter: &Filter,
        listener: &mut dyn WatchListener,
    ) -> Vec<Change> {
        if !counts(&event.kind) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for path in &event.paths {
            let Ok(rel) = path.strip_prefix(&self.root) else {
                continue;
            };
            if rel.as_os_str().is_empty() {
                continue;
            }
            let rel = rel.to_owned();
            let is_dir = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
            if self.dirs.contains(path) {
                if !is_dir {
                    // Its watches went with it; a new directory of that name gets new ones.
                    let gone: Vec<PathBuf> = self
                        .dirs
                        .iter()
                        .filter(|d| d.starts_with(path))
                        .cloned()
                        .collect();
                    for d in gone {
                        let _ = self.watcher.unwatch(&d);
                        self.dirs.remove(&d);
                    }
                    out.push(Change::Unnamed);
                }
                continue;
            }
            if is_dir {
                if !filter.skips_dir(&rel) {
                    let mut found = Vec::new();
                    if let Err(e) = self.add(path, filter, &mut found) {
                        listener.event(&WatchEvent::Warning {
                            message: format!("{:#}", cannot_watch(path, e)),
                        });
                    }
                    self.files += found.len();
                    out.extend(found.into_iter().map(Change::File));
                }
                continue;
            }
            if !filter.ignored(&rel) {
                out.push(Change::File(rel));
            }
        }
        out
    }
}

/// Reading a file is no change (a round reads them all), nor is its access time.
pub(super) fn counts(kind: &EventKind) -> bool {
    !matches!(
        kind,
        EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime))
    )
}

fn gone(e: &notify::Error) -> bool {
    match &e.kind {
        notify::ErrorKind::PathNotFound => true,
        notify::ErrorKind::Io(io) => io.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}

/// Why `path` cannot be watched, with the setting to raise when a limit was reached.
fn cannot_watch(path: &Path, e: notify::Error) -> anyhow::Error {
    let at = path.display();
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => anyhow!(
            "cannot watch {at}: the limit on watched directories is reached; raise it with \
             `sudo sysctl fs.inotify.max_user_watches=524288` (and in /etc/sysctl.conf to keep it), \
             or ignore large directories in .gitignore"
        ),
        notify::ErrorKind::Io(io) if io.raw_os_error() == Some(libc::EMFILE) => anyhow!(
            "cannot watch {at}: too many file watchers are open; raise the limit with \
             `sudo sysctl fs.inotify.max_user_instances=1024`"
        ),
        _ => anyhow!("cannot watch {at}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, CreateKind, DataChange, RemoveKind};

    struct Quiet;
    impl WatchListener for Quiet {
        fn event(&mut self, _: &WatchEvent) {}
    }

    #[test]
    fn reads_and_access_times_are_no_change() {
        assert!(!counts(&EventKind::Access(AccessKind::Any)));
        assert!(!counts(&EventKind::Modify(ModifyKind::Metadata(
            MetadataKind::AccessTime
        ))));
        assert!(counts(&EventKind::Modify(ModifyKind::Data(
            DataChange::Any
        ))));
        assert!(counts(&EventKind::Modify(ModifyKind::Metadata(
            MetadataKind::WriteTime
        ))));
        assert!(counts(&EventKind::Create(CreateKind::File)));
        assert!(counts(&EventKind::Remove(RemoveKind::Any)));
    }

    fn event(kind: EventKind, path: &Path) -> notify::Event {
        notify::Event::new(kind).add_path(path.to_owned())
    }

    fn files(changes: Vec<Change>) -> Vec<String> {
        changes
            .into_iter()
            .map(|c| match c {
                Change::File(p) => p.display().to_string(),
                Change::Unnamed => "<unnamed>".to_owned(),
            })
            .collect()
    }

    /// The tree's bookkeeping, fed events by hand (no waiting for the kernel's).
    #[test]
    fn skips_ignored_dirs_watches_new_ones_and_names_their_files() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for f in [
            "src/lib.rs",
            "target/debug/x",
            "node_modules/a/b.js",
            "README.md",
        ] {
            std::fs::create_dir_all(r.join(f).parent().unwrap()).unwrap();
            std::fs::write(r.join(f), "").unwrap();
        }
        let filter = Filter::new();
        let mut tree = Tree::new(r, &filter, |_| {}).unwrap();
        assert_eq!(tree.files(), 2, "src/lib.rs and README.md");
        let mut watched: Vec<_> = tree.dirs.iter().map(|d| tree.rel(d).to_owned()).collect();
        watched.sort();
        assert_eq!(watched, [PathBuf::new(), PathBuf::from("src")]);

        // A new directory with files already in it.
        std::fs::create_dir_all(r.join("src/new/deep")).unwrap();
        std::fs::write(r.join("src/new/deep/m.rs"), "").unwrap();
        let got = tree.changes(
            &event(EventKind::Create(CreateKind::Folder), &r.join("src/new")),
            &filter,
            &mut Quiet,
        );
        assert_eq!(files(got), ["src/new/deep/m.rs"]);
        assert!(tree.dirs.contains(&r.join("src/new/deep")));
        assert_eq!(tree.files(), 3);

        // Files under ignored places, reads, and a plain edit.
        let edit = EventKind::Modify(ModifyKind::Data(DataChange::Content));
        assert!(
            tree.changes(&event(edit, &r.join("target/debug/x")), &filter, &mut Quiet)
                .is_empty()
        );
        assert!(
            tree.changes(
                &event(edit, &r.join("src/.lib.rs.swp")),
                &filter,
                &mut Quiet
            )
            .is_empty()
        );
        assert!(
            tree.changes(
                &event(EventKind::Access(AccessKind::Any), &r.join("src/lib.rs")),
                &filter,
                &mut Quiet
            )
            .is_empty()
        );
        assert_eq!(
            files(tree.changes(&event(edit, &r.join("src/lib.rs")), &filter, &mut Quiet)),
            ["src/lib.rs"]
        );

        // A watched directory removed: what it held cannot be named.
        std::fs::remove_dir_all(r.join("src/new")).unwrap();
        let got = tree.changes(
            &event(EventKind::Remove(RemoveKind::Folder), &r.join("src/new")),
            &filter,
            &mut Quiet,
        );
        assert_eq!(files(got), ["<unnamed>"]);
        assert!(!tree.dirs.contains(&r.join("src/new")));
        assert!(
            !tree.dirs.contains(&r.join("src/new/deep")),
            "and what was under it"
        );
    }

    #[test]
    fn a_root_that_cannot_be_watched_says_so() {
        let e = cannot_watch(
            Path::new("/p"),
            notify::Error::new(notify::ErrorKind::MaxFilesWatch),
        );
        assert!(
            format!("{e:#}").contains("fs.inotify.max_user_watches"),
            "{e:#}"
        );
        let e = cannot_watch(
            Path::new("/p"),
            notify::Error::io(std::io::Error::from_raw_os_error(libc::EMFILE)),
        );
        assert!(
            format!("{e:#}").contains("fs.inotify.max_user_instances"),
            "{e:#}"
        );
    }
}
