//! The `certs.d/<registry>/` directories where docker and the containers tools (podman,
//! buildah, skopeo) look for a registry's CA: one list for reading (the Harbor client's
//! trust), placing (`pre-build`) and removing (`post-build`), so they cannot disagree.
//!
//! Rootful clients read `/etc/docker/certs.d` and `/etc/containers/certs.d`; rootless docker
//! reads `~/.config/docker/certs.d` and rootless podman `~/.config/containers/certs.d`.
//! pre-build places into the pair the user running it can write: `/etc` as root, `~/.config`
//! otherwise, always under its own file name ([`PLACED_CA`]), so a user's `ca.crt` is never
//! touched and whatever carries that name is pre-build's to own or remove. It places only
//! certificates (harbor_client::tls::ca_bundle) and never follows a link it did not create.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context;

use docker_credential_harbor_core::address::Registry;
use docker_credential_harbor_core::atomic_file;

/// The name of the CA file pre-build places; clients read every `*.crt` of the directory.
pub(crate) const PLACED_CA: &str = "docker-credential-harbor.crt";

const SYSTEM: [&str; 2] = ["/etc/docker/certs.d", "/etc/containers/certs.d"];
const USER: [&str; 2] = [".config/docker/certs.d", ".config/containers/certs.d"];

/// Every directory a client may read `registry`'s CAs from, docker's first: the system ones,
/// then the user's.
pub(crate) fn read_dirs(home: Option<&Path>, registry: &Registry) -> Vec<PathBuf> {
    let mut bases: Vec<PathBuf> = SYSTEM.iter().map(PathBuf::from).collect();
    if let Some(home) = home {
        bases.extend(USER.iter().map(|u| home.join(u)));
    }
    bases
        .into_iter()
        .map(|b| b.join(registry.as_str()))
        .collect()
}

/// Where pre-build places a CA for `registry`: docker's directory and the containers tools',
/// in `/etc` for root, in the user's config otherwise; `None` for a user without a HOME.
pub(crate) fn write_dirs(
    root: bool,
    home: Option<&Path>,
    registry: &Registry,
) -> Option<[PathBuf; 2]> {
    let bases = if root {
        SYSTEM.map(PathBuf::from)
    } else {
        let home = home?;
        USER.map(|u| home.join(u))
    };
    Some(bases.map(|b| b.join(registry.as_str())))
}

/// A CA file placed in one directory, and the directories created for it (outermost first).
#[derive(Debug)]
pub(crate) struct Placed {
    pub(crate) file: PathBuf,
    pub(crate) created_dirs: Vec<PathBuf>,
}

/// Writes `pem` as [`PLACED_CA`] in `dir` (0644: certificates only), unless it holds exactly
/// that already. An earlier job's file of that name is ours: it is replaced.
pub(crate) fn place(dir: &Path, pem: &[u8]) -> io::Result<Placed> {
    let file = dir.join(PLACED_CA);
    let mut created_dirs: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.exists())
        .map(Path::to_owned)
        .collect();
    created_dirs.reverse();
    let current = atomic_file::read_regular(&file, atomic_file::Links::Refuse, 4 << 20)
        .ok()
        .flatten()
        .is_some_and(|(bytes, _)| bytes.as_slice() == pem);
    if !current {
        fs::create_dir_all(dir)?;
        atomic_file::write_with_mode(&file, pem, 0o644)?;
    }
    Ok(Placed { file, created_dirs })
}

/// Undoes [`place`]: the file goes, and the directories made for it when they are empty
/// (something else may have been put there since). Returns whether the file was there.
pub(crate) fn remove(file: &Path, created_dirs: &[PathBuf]) -> anyhow::Result<bool> {
    let removed = match fs::remove_file(file) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e).with_context(|| format!("cannot remove {}", file.display())),
    };
    for dir in created_dirs.iter().rev() {
        let _ = fs::remove_dir(dir);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_pre_build_writes_is_among_what_trust_reads() {
        let r = Registry::parse("harbor.example.net:8443").unwrap();
        let home = Path::new("/home/u");
        let read = read_dirs(Some(home), &r);
        for root in [true, false] {
            for dir in write_dirs(root, Some(home), &r).unwrap() {
                assert!(
                    read.contains(&dir),
                    "{} is written but not read",
                    dir.display()
                );
            }
        }
        assert_eq!(
            read[0],
            Path::new("/etc/docker/certs.d/harbor.example.net:8443")
        );
        assert!(write_dirs(false, None, &r).is_none());
    }

    #[test]
    fn place_then_remove_leaves_nothing_it_made() {
        let base = std::env::temp_dir().join(format!("dch-certs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(&base).unwrap();
        let dir = base.join("certs.d/h.example");
        let placed = place(&dir, b"-----BEGIN CERTIFICATE-----\n").unwrap();
        assert_eq!(placed.created_dirs, [base.join("certs.d"), dir.clone()]);
        let again = place(&dir, b"-----BEGIN CERTIFICATE-----\n").unwrap();
        assert!(again.created_dirs.is_empty());
        assert!(remove(&placed.file, &placed.created_dirs).unwrap());
        assert!(!base.join("certs.d").exists());
        fs::remove_dir_all(&base).unwrap();
    }
}
