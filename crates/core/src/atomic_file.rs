//! Private files written so that no reader ever sees half of one, and files read so that no
//! path can hang, flood or fool the reader.
//!
//! A write goes to a temp file in the same directory (mode 0600 from the moment it exists), is
//! fsynced, renamed over the target and the directory is fsynced: a process killed at any instant
//! leaves the old file or the new one, never a torn one. A replacement can keep the owner and mode
//! of the file it replaces. Writers that read-modify-write serialise on an exclusive [`Lock`],
//! which never follows a link. Every read opens without blocking (a FIFO or a device is refused,
//! not waited on), insists on a regular file and is bounded
//! (docs/security.md#what-holds-and-how-it-is-checked); [`check_owner`] says whether a file or
//! directory can be trusted. This module never chooses a path and never changes the mode of a
//! directory it did not create.

use std::fs::{self, DirBuilder, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use secrecy::zeroize::Zeroizing;

/// Whether a file to be read may be reached through a symbolic link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Links {
    /// Admin files (Kubernetes mounts secrets as links): follow, but land on a regular file.
    Follow,
    /// Files this tool replaces by rename, which would silently replace a link.
    Refuse,
}

/// Opens `path` for reading: never blocks on a FIFO, refuses anything but a regular file.
pub fn open_regular(path: &Path, links: Links) -> io::Result<(File, Metadata)> {
    let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
    if links == Links::Refuse {
        flags |= libc::O_NOFOLLOW;
    }
    let file = match OpenOptions::new().read(true).custom_flags(flags).open(path) {
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) && links == Links::Refuse => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "it is a symbolic link; it must be a regular file (a write would replace the link)",
            ));
        }
        other => other?,
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is not a regular file",
        ));
    }
    Ok((file, meta))
}

/// Reads at most `max` bytes; a longer file is an error, never a partial read.
pub fn read_bounded(file: &mut File, max: u64) -> io::Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("it is larger than {} KiB", max / 1024),
        ));
    }
    Ok(bytes)
}

/// The whole of a regular file, bounded; `Ok(None)` when there is no such file.
pub fn read_regular(
    path: &Path,
    links: Links,
    max: u64,
) -> io::Result<Option<(Zeroizing<Vec<u8>>, Metadata)>> {
    let (mut file, meta) = match open_regular(path, links) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some((read_bounded(&mut file, max)?, meta)))
}

/// Whose files may be trusted besides this process's own user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Only this process's effective user (the store: another user could plant credentials).
    Me,
    /// This user or root (admin-managed files in /etc).
    MeOrRoot,
}

/// The effective user id of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid takes no arguments and cannot fail.
    unsafe { libc::geteuid() }
}

/// Why a file or directory is not trusted; the caller's message names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotOwned {
    #[error("it belongs to uid {uid}, not to this user (uid {me})")]
    Owner { uid: u32, me: u32 },
    #[error("other users may write to it (mode {mode:04o})")]
    Writable { mode: u32 },
}

/// `Err` with the reason when the file or directory `meta` describes belongs to another user
/// or can be written by group or others: then someone else could replace what it holds or says.
pub fn check_owner(meta: &Metadata, owner: Owner) -> Result<(), NotOwned> {
    let me = euid();
    let ok_owner = meta.uid() == me || (owner == Owner::MeOrRoot && meta.uid() == 0);
    if !ok_owner {
        return Err(NotOwned::Owner {
            uid: meta.uid(),
            me,
        });
    }
    let mode = meta.permissions().mode();
    if mode & 0o022 != 0 {
        return Err(NotOwned::Writable {
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

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
    replace(path, contents, mode, None)
}

/// Replaces `path` with `contents` atomically, with the owner, group and permission bits of
/// `like` (the file being replaced, such as the GitLab runner's config.toml, which the runner
/// rewrites as its own user). The copy is 0600 and this process's until its content is
/// complete; it then takes the owner, and the mode last. Needs root, or the same owner.
pub fn replace_keeping_owner(path: &Path, contents: &[u8], like: &Metadata) -> io::Result<()> {
    replace(
        path,
        contents,
        like.permissions().mode(),
        Some((like.uid(), like.gid())),
    )
}

fn replace(path: &Path, contents: &[u8], mode: u32, owner: Option<(u32, u32)>) -> io::Result<()> {
    let tmp = temp_path(path, std::process::id());
    let result = write_and_rename(&tmp, path, contents, mode, owner);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_and_rename(
    tmp: &Path,
    path: &Path,
    contents: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> io::Result<()> {
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
    if let Some((uid, gid)) = owner {
        // Before the mode: a chown clears the set-id bits.
        std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
    }
    if mode & 0o7777 != 0o600 {
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

/// What went wrong while taking a lock. Callers word it for the file the lock guards.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(transparent)]
    Io(io::Error),
    /// Another process held the lock for the whole timeout.
    #[error("another process held the lock for {} s", .0.as_secs())]
    Busy(Duration),
}

impl Lock {
    /// Locks `path` (created 0600 if missing), waiting at most `timeout`. A link is never
    /// followed (a planted one would make a writer create its target), and a lock file that
    /// others could open is made private again, so no other user can hold it.
    pub fn acquire(path: &Path, timeout: Duration) -> Result<Lock, LockError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => LockError::Io(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "it is a symbolic link",
                )),
                _ => LockError::Io(e),
            })?;
        let meta = file.metadata().map_err(LockError::Io)?;
        if !meta.is_file() {
            return Err(LockError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "it is not a regular file",
            )));
        }
        if meta.uid() != euid() {
            return Err(LockError::Io(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("it belongs to uid {}, not to this user", meta.uid()),
            )));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            file.set_permissions(fs::Permissions::from_mode(0o600))
                .map_err(LockError::Io)?;
        }
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

    #[test]
    fn written_files_are_private_and_replace_wider_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
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
    }

    #[test]
    fn a_replacement_keeps_owner_and_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let f = dir.join("config.toml");
        fs::write(&f, "old").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
        if euid() == 0 {
            std::os::unix::fs::chown(&f, Some(65534), Some(65534)).unwrap();
        }
        let before = fs::metadata(&f).unwrap();
        replace_keeping_owner(&f, b"new", &before).unwrap();
        let after = fs::metadata(&f).unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"new");
        assert_ne!(
            after.ino(),
            before.ino(),
            "replaced, not rewritten in place"
        );
        assert_eq!(
            (after.uid(), after.gid(), after.mode() & 0o7777),
            (before.uid(), before.gid(), 0o640)
        );
    }

    #[test]
    fn stale_temps_are_replaced_and_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let f = dir.join("store.json");
        fs::write(temp_path(&f, std::process::id()), "junk").unwrap();
        fs::write(temp_path(&f, 1), "junk").unwrap();
        write_private(&f, b"x").unwrap();
        remove_stale_temps(&f);
        let left: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("store.json")]);
    }

    #[test]
    fn issue_9_the_lock_follows_no_link_and_is_made_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let target = dir.join("target");
        let link = dir.join("l");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(Lock::acquire(&link, Duration::from_millis(30)).is_err());
        assert!(
            !target.exists(),
            "a planted link made the lock create its target"
        );
        let wide = dir.join("wide");
        fs::write(&wide, "").unwrap();
        fs::set_permissions(&wide, fs::Permissions::from_mode(0o666)).unwrap();
        let _held = Lock::acquire(&wide, Duration::from_millis(30)).unwrap();
        assert_eq!(
            fs::metadata(&wide).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn issue_9_reads_refuse_fifos_devices_links_and_floods() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(
            read_regular(&fifo, Links::Follow, 1024).is_err(),
            "a FIFO must not block"
        );
        let zero = dir.join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert!(read_regular(&zero, Links::Follow, 1024).is_err());
        assert!(read_regular(&zero, Links::Refuse, 1024).is_err());
        let big = dir.join("big");
        fs::write(&big, vec![b'x'; 2048]).unwrap();
        let e = read_regular(&big, Links::Refuse, 1024).unwrap_err();
        assert!(e.to_string().contains("larger than 1 KiB"), "{e}");
        assert!(
            read_regular(&dir.join("none"), Links::Refuse, 1)
                .unwrap()
                .is_none()
        );
        let link = dir.join("link");
        std::os::unix::fs::symlink(&big, &link).unwrap();
        assert!(read_regular(&link, Links::Refuse, 4096).is_err());
        assert_eq!(
            read_regular(&link, Links::Follow, 4096)
                .unwrap()
                .unwrap()
                .0
                .len(),
            2048
        );
    }

    #[test]
    fn a_held_lock_times_out_as_busy() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = dir.join("l");
        let held = Lock::acquire(&path, Duration::from_secs(1)).unwrap();
        match Lock::acquire(&path, Duration::from_millis(30)) {
            Err(LockError::Busy(_)) => {}
            other => panic!("expected Busy, got {other:?}"),
        }
        drop(held);
        Lock::acquire(&path, Duration::from_millis(30)).unwrap();
    }
}
