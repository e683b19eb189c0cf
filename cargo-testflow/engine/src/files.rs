//! Writing a file whole: via a temporary file and a rename, so a reader (or a crash)
//! never sees half of it, without replacing what the path names when that is not a
//! plain file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Where an atomic write's rename lands: the path itself, or the file a symbolic link
/// points to (so the link stays). `None` when the path is not a plain file (`/dev/null`,
/// `/dev/stdout`, a FIFO) or is a link to nothing yet: it is written to as it is, since
/// renaming over it would replace it (run as root, `-o /dev/null` replaced the device).
pub fn replace_target(path: &Path) -> Option<PathBuf> {
    let path = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).ok()?,
        _ => path.to_owned(),
    };
    match std::fs::metadata(&path) {
        Ok(m) if !m.is_file() => None,
        _ => Some(path),
    }
}

/// Write via a temporary file in the same directory and rename, so a reader (or a crash)
/// never sees half a file ([`replace_target`] says where).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let Some(path) = replace_target(path) else {
        return std::fs::write(path, bytes)
            .with_context(|| format!("cannot write {}", path.display()));
    };
    let path = path.as_path();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writing_over_a_link_or_a_fifo_writes_through_it_and_keeps_it() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.txt");
        std::fs::write(&real, "old").unwrap();
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        // A link to a file not there yet creates it.
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("later.txt"), &dangling).unwrap();
        write_atomic(&dangling, b"x").unwrap();
        assert!(
            std::fs::symlink_metadata(&dangling)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("later.txt")).unwrap(),
            "x"
        );
        // A FIFO (as /dev/null or /dev/stdout would be) is written to, not replaced.
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        write_atomic(&fifo, b"through").unwrap();
        assert_eq!(reader.join().unwrap(), b"through");
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        // A plain file is still replaced whole.
        write_atomic(&real, b"whole").unwrap();
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "whole");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            5,
            "no temporary left"
        );
    }
}
