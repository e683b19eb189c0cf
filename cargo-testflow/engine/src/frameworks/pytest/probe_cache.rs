//! The interpreter probe's answer, kept between runs while what it depends on is unchanged.
//!
//! Asking the project's Python what it has installed starts an interpreter (~40 ms of CPU)
//! before every pytest run: 2% of a 5,000-test suite's time, 8% of a 200-test one's. What
//! the probe finds (`find_spec` of a few modules) depends only on the directories on
//! `sys.path`: installing, upgrading or removing a package adds or removes entries there,
//! which changes the directory's modification time. So the answer is kept with the
//! interpreter's file, each path entry's metadata and the `PYTHON*` environment, and used
//! again only while all of them are the same. Anything unreadable means: probe again.
//! A stale answer could only make pytest refuse an option (a usage error, a failed run):
//! never a pass.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::Probe;

const FILE: &str = "pytest-probe.json";

#[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
struct Kept {
    key: Vec<String>,
    probe: Probe,
}

/// What the answer depends on: the interpreter (the path as given, and the file it
/// names), the `PYTHON*` environment, and every `sys.path` entry (`""` is the directory
/// the probe ran in).
fn key(python: &Path, root: &Path, paths: &[String]) -> Vec<String> {
    let meta = |m: std::io::Result<std::fs::Metadata>| match m {
        Ok(m) => format!(
            "{}:{}:{}:{}.{}:{}.{}",
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec()
        ),
        Err(_) => "missing".to_owned(),
    };
    let mut key = vec![
        format!(
            "python {} {}",
            python.display(),
            meta(std::fs::symlink_metadata(python))
        ),
        format!("interpreter {}", meta(std::fs::metadata(python))),
    ];
    let mut env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k.starts_with("PYTHON"))
        .collect();
    env.sort();
    key.extend(env.into_iter().map(|(k, v)| format!("env {k}={v}")));
    for p in paths {
        let dir = if p.is_empty() {
            root.to_owned()
        } else {
            root.join(p)
        };
        key.push(format!("path {p} {}", meta(std::fs::metadata(dir))));
    }
    key
}

fn file(store: &Path) -> PathBuf {
    store.join(FILE)
}

/// The kept answer for `python` in `root`, when nothing it depends on changed.
pub(crate) fn load(store: &Path, python: &Path, root: &Path) -> Option<Probe> {
    let text = std::fs::read(file(store)).ok()?;
    let kept: Kept = serde_json::from_slice(&text).ok()?;
    let paths: Vec<String> = kept
        .key
        .iter()
        .filter_map(|k| k.strip_prefix("path "))
        .map(|rest| rest.rsplit_once(' ').map_or(rest, |(p, _)| p).to_owned())
        .collect();
    (key(python, root, &paths) == kept.key).then_some(kept.probe)
}

/// Keep `probe`'s answer, with the `sys.path` it was found on. Best effort: a store that
/// cannot be written only means the next run probes again.
pub(crate) fn save(store: &Path, python: &Path, root: &Path, probe: &Probe, paths: &[String]) {
    // No entries: the probe could not list them (one had a newline in it).
    if paths.is_empty() {
        return;
    }
    let kept = Kept {
        key: key(python, root, paths),
        probe: probe.clone(),
    };
    let Ok(text) = serde_json::to_vec(&kept) else {
        return;
    };
    if std::fs::create_dir_all(store).is_err() {
        return;
    }
    // Written whole, then renamed: a reader never sees half of it.
    let tmp = store.join(format!("{FILE}.{}", std::process::id()));
    if std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, file(store)).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in interpreter that answers the probe with `site` as its only `sys.path`
    /// entry besides the project, and counts how often it was asked.
    fn fake_python(dir: &std::path::Path, site: &std::path::Path) -> std::path::PathBuf {
        let python = dir.join("python");
        let script = format!(
            "#!/bin/sh\necho asked >> '{calls}'\nx=false; test -e '{site}/xdist' && x=true\n\
             echo '{{\"pytest\": true, \"testflow\": true, \"xdist\": '$x', \"timeout\": false, \"rerunfailures\": false, \"cov\": false}}'\n\
             echo; echo '{site}'\n",
            calls = dir.join("calls").display(),
            site = site.display(),
        );
        std::fs::write(&python, script).unwrap();
        std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
        python
    }

    fn calls(dir: &std::path::Path) -> usize {
        std::fs::read_to_string(dir.join("calls")).map_or(0, |t| t.lines().count())
    }

    #[test]
    fn the_answer_is_kept_until_a_path_entry_or_the_interpreter_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (bin, site, root) = (
            dir.path().join("bin"),
            dir.path().join("site"),
            dir.path().join("project"),
        );
        for d in [&bin, &site, &root] {
            std::fs::create_dir_all(d).unwrap();
        }
        let python = fake_python(&bin, &site);
        let first = super::super::probe(&python, &root).unwrap();
        assert!(!first.xdist);
        // Asked again, once the store exists (creating it changed the project directory).
        super::super::probe(&python, &root).unwrap();
        let asked = calls(&bin);
        assert_eq!(super::super::probe(&python, &root).unwrap(), first);
        assert_eq!(calls(&bin), asked, "nothing changed: the kept answer");
        // Installing a package adds an entry to a sys.path directory.
        std::fs::create_dir(site.join("xdist")).unwrap();
        assert!(
            super::super::probe(&python, &root).unwrap().xdist,
            "installed: asked again"
        );
        assert_eq!(calls(&bin), asked + 1);
        assert!(super::super::probe(&python, &root).unwrap().xdist);
        assert_eq!(calls(&bin), asked + 1, "and kept again");
        // Another interpreter file (a venv made again) is asked.
        let again = fake_python(&bin, &site);
        super::super::probe(&again, &root).unwrap();
        assert_eq!(calls(&bin), asked + 2);
        // An unreadable kept answer is not an error: the interpreter is asked.
        let store = crate::store::Store::for_project(&root);
        std::fs::write(store.root().join(super::FILE), "{not json").unwrap();
        super::super::probe(&again, &root).unwrap();
        assert_eq!(calls(&bin), asked + 3);
    }
}
