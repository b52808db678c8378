//! Private files written so that no reader ever sees half of one.
//!
//! A write goes to a temp file in the same directory (mode 0600 from the moment it exists),
//! is fsynced, renamed over the target and the directory is fsynced: a process killed at any
//! instant leaves the old file or the new one, never a torn one. Writers that read-modify-write
//! serialise on an exclusive [`Lock`]. This module never chooses a path and never changes the
//! mode of a directory it did not create.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Creates `dir` and any missing parents with mode 0700; existing directories are left as they are.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Replaces `path` with `contents` atomically; the file is 0600 whatever existed before.
pub fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_with_mode(path, contents, 0o600)
}

/// Replaces `path` with `contents` atomically, with permission bits `mode` (for files that
/// hold no secret of ours and whose owner chose their mode, such as a docker config).
pub fn write_with_mode(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let tmp = temp_path(path, std::process::id());
    let result = write_and_rename(&tmp, path, contents, mode);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_and_rename(tmp: &Path, path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut options = OpenOptions::new();
    // Created 0600 and widened only after the content is in, so it is never readable early.
    options.write(true).create_new(true).mode(0o600);
    let mut file = match options.open(tmp) {
        // Left behind by a killed process that had our pid: it is ours to replace.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(tmp)?;
            options.open(tmp)?
        }
        other => other?,
    };
    file.write_all(contents)?;
    if mode & 0o7777 != 0o600 {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode & 0o7777))?;
    }
    file.sync_all()?;
    drop(file);
    fs::rename(tmp, path)?;
    sync_dir(path)
}

fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)?.sync_all(),
        None => File::open(".")?.sync_all(),
    }
}

/// `.<name>.<pid>.tmp` next to `path`: hidden, and recognisable by [`remove_stale_temps`].
fn temp_path(path: &Path, pid: u32) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{pid}.tmp"))
}

/// Removes temp files that killed writers left next to `path`. Call it only while holding the
/// lock that serialises writers of `path`, so no live writer's temp file is removed.
pub fn remove_stale_temps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) else {
        return;
    };
    for entry in entries.flatten() {
        let n = entry.file_name();
        let n = n.to_string_lossy();
        if n.starts_with(&prefix) && n.ends_with(".tmp") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// An exclusive advisory lock, released when dropped or when the process dies.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// What went wrong while taking a lock.
#[derive(Debug)]
pub enum LockError {
    Io(io::Error),
    /// Another process held the lock for the whole timeout.
    Busy(Duration),
}

impl Lock {
    /// Locks `path` (created 0600 if missing), waiting at most `timeout`.
    pub fn acquire(path: &Path, timeout: Duration) -> Result<Lock, LockError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(LockError::Io)?;
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Lock { _file: file }),
                Err(fs::TryLockError::WouldBlock) if start.elapsed() < timeout => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(25));
                }
                Err(fs::TryLockError::WouldBlock) => return Err(LockError::Busy(timeout)),
                Err(fs::TryLockError::Error(e)) => return Err(LockError::Io(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dch-atomic-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn written_files_are_private_and_replace_wider_modes() {
        let dir = scratch("mode");
        create_private_dir_all(&dir.join("a/b")).unwrap();
        assert_eq!(
            fs::metadata(dir.join("a/b")).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let f = dir.join("a/b/f.json");
        fs::write(&f, "old").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&f, b"new").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"new");
        assert_eq!(
            fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stale_temps_are_replaced_and_removed() {
        let dir = scratch("stale");
        create_private_dir_all(&dir).unwrap();
        let f = dir.join("store.json");
        fs::write(temp_path(&f, std::process::id()), "junk").unwrap();
        fs::write(temp_path(&f, 1), "junk").unwrap();
        write_private(&f, b"x").unwrap();
        remove_stale_temps(&f);
        let left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("store.json")]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_held_lock_times_out_as_busy() {
        let dir = scratch("lock");
        create_private_dir_all(&dir).unwrap();
        let path = dir.join("l");
        let held = Lock::acquire(&path, Duration::from_secs(1)).unwrap();
        match Lock::acquire(&path, Duration::from_millis(30)) {
            Err(LockError::Busy(_)) => {}
            other => panic!("expected Busy, got {other:?}"),
        }
        drop(held);
        Lock::acquire(&path, Duration::from_millis(30)).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }
}
