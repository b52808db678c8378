//! `docker-credential-harbor install-hooks --runner-config FILE [--job-path PATH]
//! [--registry HOST[:PORT]]`: what `scripts/install --runner-config` runs to add the hook lines
//! to the GitLab runner's config.toml (docs/install.md#the-tarball-on-a-runner-host).
//! `gitlab_runner_toml::edit` makes and checks the new text; this driver reads the file,
//! replaces it and says what it did.
//!
//! The file holds the runner's token, so the replacement is a copy that is 0600 from its
//! creation (`atomic_file`), next to the file, fsynced, given the file's owner and mode, and
//! renamed over it; a symbolic link is written through, to its target. SIGINT, SIGTERM, SIGHUP
//! and SIGQUIT are held while the copy exists, so an interrupted run leaves the old file or the
//! new one and never the copy; a failed write removes it. It never claims a change it did not
//! make, never prints the file's content, and never writes the credential-helper allowlist of
//! runners ≥ 19.4: its shape is unconfirmed and a key of the wrong type stops the runner from
//! loading the file, so it prints the line for the admin to add.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use docker_credential_harbor_core::address::Registry;
use docker_credential_harbor_core::atomic_file::{self, Links};

use crate::client_config::HELPER;
use crate::gitlab_runner_toml::ALLOWLIST_KEY;
use crate::gitlab_runner_toml::edit::{self, EditError};

/// The runner's config.toml is small; anything larger is not one.
const MAX_FILE: u64 = 1 << 20;

/// Runs `install-hooks`; `Ok(false)` when the file was not (or not fully) made to call the
/// helper and the admin has to act, said on `err`.
pub(crate) fn run(
    config: &Path,
    job_path: Option<&str>,
    registry: Option<&str>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<bool> {
    let registry = match registry.map(Registry::parse).transpose() {
        Ok(r) => r,
        Err(e) => {
            say(
                err,
                &format!("--registry: {e}; give HOST[:PORT], Harbor's registry as in image names"),
            )?;
            return Ok(false);
        }
    };
    let binary = match job_path {
        Some(p) => p.to_owned(),
        None => match std::env::current_exe() {
            Ok(p) => p.to_string_lossy().into_owned(),
            Err(e) => {
                say(
                    err,
                    &format!("cannot tell where this binary is ({e}); give --job-path PATH"),
                )?;
                return Ok(false);
            }
        },
    };
    let ok = add_hooks(config, &binary, out, err)?;
    if let (true, Some(registry)) = (ok, registry) {
        allowlist(config, &registry, out)?;
    }
    Ok(ok)
}

fn add_hooks(
    config: &Path,
    binary: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<bool> {
    let shown = config.display();
    let real = match target(config) {
        Ok(real) => real,
        Err(why) => {
            say(err, &format!("{shown}: {why}; nothing was changed"))?;
            return Ok(false);
        }
    };
    if real != config {
        say(
            out,
            &format!(
                "{shown} is a symbolic link; editing its target, {}",
                real.display()
            ),
        )?;
    }
    let (bytes, meta) = match atomic_file::read_regular(&real, Links::Refuse, MAX_FILE) {
        Ok(Some(found)) => found,
        Ok(None) => {
            say(err, &format!("{shown} does not exist"))?;
            return Ok(false);
        }
        Err(e) => {
            say(
                err,
                &format!("cannot read {shown}: {e}; nothing was changed"),
            )?;
            return Ok(false);
        }
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        say(
            err,
            &format!("{shown} is not UTF-8, so not TOML; nothing was changed"),
        )?;
        return Ok(false);
    };
    let edit = match edit::add_hooks(text, binary) {
        Ok(edit) => edit,
        Err(e) => {
            refused(config, binary, &e, err)?;
            return Ok(false);
        }
    };
    for note in &edit.by_hand {
        say(err, note)?;
    }
    if edit.added == 0 {
        if edit.by_hand.is_empty() {
            say(
                out,
                &format!(
                    "{shown} already has the hooks in each of its {} [[runners]] table(s)",
                    edit.runners
                ),
            )?;
        } else {
            say(
                out,
                &format!("{shown} unchanged; the line(s) above are yours to add by hand"),
            )?;
        }
        return Ok(true);
    }
    // Held until what happened is said: a signal that arrives meanwhile ends the process
    // after the replacement and its report, never between the two.
    let _held = HeldSignals::hold();
    if let Err(e) = replace(&real, &meta, edit.text.as_bytes()) {
        say(
            err,
            &format!("cannot write {}: {e}; nothing was changed", real.display()),
        )?;
        return Ok(false);
    }
    say(
        out,
        &format!(
            "added {} hook line(s) to {shown}; the runner reloads config.toml by itself",
            edit.added
        ),
    )?;
    out.flush()?;
    Ok(true)
}

/// Why there is no file to replace; the message names the file before the reason.
#[derive(Debug, thiserror::Error)]
enum NoTarget {
    #[error("it is a symbolic link that leads nowhere ({0})")]
    Dangling(io::Error),
    #[error("it does not exist")]
    Missing,
    #[error("cannot read it ({0})")]
    Unreadable(io::Error),
}

/// The file to replace: `config` itself, or the file a symbolic link leads to, so that the
/// link stays.
fn target(config: &Path) -> Result<PathBuf, NoTarget> {
    match fs::symlink_metadata(config) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(config).map_err(NoTarget::Dangling),
        Ok(_) => Ok(config.to_owned()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(NoTarget::Missing),
        Err(e) => Err(NoTarget::Unreadable(e)),
    }
}

fn refused(config: &Path, binary: &str, e: &EditError, err: &mut dyn Write) -> io::Result<()> {
    let shown = config.display();
    match e {
        EditError::NoRunners => say(
            err,
            &format!(
                "{shown} {e}; register a runner first (gitlab-runner register), then run install again; nothing was changed"
            ),
        ),
        EditError::InlineRunners { .. } => {
            let [pre, post] = edit::hook_lines(binary);
            say(
                err,
                &format!(
                    "{shown} {e}; nothing was changed. Add these keys to each runner by hand:\n  {pre}\n  {post}"
                ),
            )
        }
        EditError::BadPath => say(
            err,
            &format!(
                "{}: {e}; give --job-path a plain path; nothing was changed",
                docker_credential_harbor_core::text::inline(binary)
            ),
        ),
        EditError::NotToml { .. } | EditError::Changed => {
            say(err, &format!("{shown} {e}; nothing was changed"))
        }
    }
}

/// Replaces `real` with `text`, keeping its owner and mode, unless it changed since it was
/// read (the runner rewrites it when it renews its token).
fn replace(real: &Path, read: &fs::Metadata, text: &[u8]) -> io::Result<()> {
    let now = fs::symlink_metadata(real)?;
    let same = |m: &fs::Metadata| (m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec());
    if same(&now) != same(read) {
        return Err(io::Error::other(
            "it changed while install read it (the runner rewrites it when it renews its token); run install again",
        ));
    }
    atomic_file::replace_keeping_owner(real, text, read).map_err(|e| {
        if e.kind() == io::ErrorKind::PermissionDenied {
            io::Error::new(
                e.kind(),
                format!(
                    "{e}; run install as root or as the file's owner (uid {})",
                    read.uid()
                ),
            )
        } else {
            e
        }
    })
}

/// The allowlist of runners ≥ 19.4, printed for the admin, never written.
fn allowlist(config: &Path, registry: &Registry, out: &mut dyn Write) -> io::Result<()> {
    say(
        out,
        &format!(
            "{ALLOWLIST_KEY} is not written: no GitLab source we could read confirms its shape, and a \
             key of the wrong type stops the runner from loading config.toml (a reload keeps the old \
             file, a restart fails). If your runner's documentation shows this shape, add it to each \
             [[runners]] table by hand:\n  {ALLOWLIST_KEY} = {{ \"{registry}\" = \"{HELPER}\" }}\nthen \
             check the file with `gitlab-runner lint --config {}` (runners that have the lint command \
             list the keys they do not know). Only a job's DOCKER_AUTH_CONFIG naming the helper needs \
             it; the hooks do not.",
            config.display()
        ),
    )
}

fn say(w: &mut dyn Write, text: &str) -> io::Result<()> {
    writeln!(w, "install: {text}")
}

/// SIGINT, SIGTERM, SIGHUP and SIGQUIT blocked until dropped; one that arrived meanwhile then
/// ends the process as it would have, after the replacement. A file size limit makes a write
/// fail (EFBIG) instead of killing the process with the copy in place.
struct HeldSignals(Option<libc::sigset_t>);

impl HeldSignals {
    fn hold() -> HeldSignals {
        // SAFETY: the sets are initialised by sigemptyset before use, and pthread_sigmask and
        // signal only read and write them for the calls' duration.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
                libc::sigaddset(&mut set, s);
            }
            let held = libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) == 0;
            HeldSignals(held.then_some(old))
        }
    }
}

impl Drop for HeldSignals {
    fn drop(&mut self) {
        if let Some(old) = self.0 {
            // SAFETY: `old` is the mask pthread_sigmask returned.
            unsafe {
                libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            }
        }
    }
}
