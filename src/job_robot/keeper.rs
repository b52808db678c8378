//! The keeper of a job robot: the one process that still holds the integration's credentials
//! after `pre-build`, so that the robot can be deleted once the job is over. This module is
//! both sides: the keeper process and the request `post-build` sends it.
//!
//! `pre-build` starts it (`docker-credential-harbor robot-keeper`, internal) with the credentials
//! on a pipe, never in argv or the environment. It is non-dumpable, as every command is (no
//! same-user process can read its memory or environment through /proc or ptrace), leaves the job's
//! session, and waits on a unix socket in the per-job directory (mode 0600 in a 0700 directory,
//! answering only its own user). It deletes the robot, and the robot's store, when `post-build`
//! asks, when the job's shell is gone (a failed job skips post_build_script), or when the robot
//! expires anyway, then exits. It never writes a secret anywhere.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use docker_credential_harbor_core::integration::Account;
use docker_credential_harbor_core::url::HarborUrl;
use docker_credential_harbor_core::vars::RegistryFrom;
use harbor_client::{HarborClient, robots};

use super::RetireError;
use crate::process::ProcessId;
use crate::settings::HarborSettings;

/// The socket's name in the per-job directory.
pub(crate) const SOCKET: &str = "robot-keeper.sock";
const POLL: Duration = Duration::from_millis(250);

/// What pre-build hands the keeper on its stdin, as JSON: written by [`Request::json`] in
/// pre-build, read by [`run`] in the keeper, so the two sides cannot drift apart.
#[derive(Serialize, Deserialize)]
pub(crate) struct Request {
    url: String,
    username: String,
    #[serde(serialize_with = "expose")]
    password: SecretString,
    robot_id: i64,
    robot_name: String,
    expires_at: i64,
    socket: PathBuf,
    /// The robot's secret, for the helper; removed with the robot.
    store: PathBuf,
    /// The job's shell (with its start time, so a reused pid is not mistaken for it).
    watch: ProcessId,
}

impl Request {
    pub(crate) fn new(
        url: &str,
        account: &Account,
        robot: &robots::Created,
        socket: &Path,
        store: &Path,
        watch: &ProcessId,
    ) -> Request {
        Request {
            url: url.to_owned(),
            username: account.username.clone(),
            password: account.password.clone(),
            robot_id: robot.id,
            robot_name: robot.name.clone(),
            expires_at: robot.expires_at,
            socket: socket.to_owned(),
            store: store.to_owned(),
            watch: watch.clone(),
        }
    }

    /// The JSON pre-build writes to the keeper's stdin; empty (which the keeper refuses) when
    /// a path is not UTF-8.
    pub(crate) fn json(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(serde_json::to_vec(self).unwrap_or_default())
    }
}

/// Exposure point: the integration password, into [`Request::json`], for a pipe to the keeper
/// only.
fn expose<S: Serializer>(password: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(password.expose_secret())
}

/// Runs the keeper; the exit status does not matter to anyone (it is detached).
pub(crate) fn run(harbor: &HarborSettings) -> bool {
    // main made this process non-dumpable (hardening.rs) before it read anything; now it
    // leaves the job's session, so the job's end does not signal it.
    // SAFETY: setsid takes no arguments; failure leaves the process in the job's session.
    unsafe {
        libc::setsid();
    }
    let mut raw = Zeroizing::new(Vec::new());
    if std::io::stdin()
        .take(64 * 1024)
        .read_to_end(&mut raw)
        .is_err()
    {
        return false;
    }
    let Ok(req) = serde_json::from_slice::<Request>(&raw) else {
        return false;
    };
    drop(raw);
    let _ = std::env::set_current_dir("/");
    let Some(client) = client(harbor, &req) else {
        return false;
    };
    let _ = std::fs::remove_file(&req.socket);
    // The socket is created 0600, not as the job's umask would have it.
    // SAFETY: umask only sets the process's file mode mask; the keeper has no other threads.
    unsafe {
        libc::umask(0o177);
    }
    let Ok(listener) = UnixListener::bind(&req.socket) else {
        return false;
    };
    if listener.set_nonblocking(true).is_err() {
        return false;
    }
    // Tell pre-build we are ready, then stop writing: its end of the pipe goes away.
    let mut out = std::io::stdout();
    if writeln!(out, "ready").and_then(|()| out.flush()).is_err() {
        return false;
    }
    serve(&listener, &client, &req);
    let _ = std::fs::remove_file(&req.store);
    let _ = std::fs::remove_file(&req.socket);
    // The private directory of a fallback socket (job_robot::paths) goes too.
    if let Some(dir) = req.socket.parent()
        && dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("dch-"))
    {
        let _ = std::fs::remove_dir(dir);
    }
    true
}

fn client(harbor: &HarborSettings, req: &Request) -> Option<HarborClient> {
    let url = HarborUrl::parse(&req.url, RegistryFrom::Url).ok()?;
    let account = Account {
        username: req.username.clone(),
        password: req.password.clone(),
    };
    HarborClient::with_options(&harbor.harbor_options(&url.registry), &url, account).ok()
}

fn serve(listener: &UnixListener, client: &HarborClient, req: &Request) {
    let started = Instant::now();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if answer(stream, client, req) {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
        let shell_gone = !req.watch.is_alive();
        let expired = robots::unix_now() >= req.expires_at && req.expires_at > 0;
        // A day and a bit at most, whatever the clock says.
        let overdue = started.elapsed() > Duration::from_secs(26 * 3600);
        if shell_gone || expired || overdue {
            let _ = robots::delete(client, req.robot_id);
            return;
        }
        std::thread::sleep(POLL);
    }
}

/// The uid of the process at the other end of `stream`.
fn peer_uid(stream: &UnixStream) -> Option<u32> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(cred.uid)
}

/// One request on the socket. `true` when the keeper's work is done. Only the keeper's own
/// user (the job's) is answered, whatever the socket's mode.
fn answer(stream: UnixStream, client: &HarborClient, req: &Request) -> bool {
    // SAFETY: getuid takes no arguments and cannot fail.
    if peer_uid(&stream) != Some(unsafe { libc::getuid() }) {
        return false;
    }
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut line = String::new();
    let mut reader = BufReader::new(&stream);
    if reader.read_line(&mut line).is_err() || line.trim() != "delete" {
        return false;
    }
    let reply = match robots::delete(client, req.robot_id) {
        Ok(true) => format!("deleted {}", req.robot_name),
        Ok(false) => format!("deleted {} (it was gone already)", req.robot_name),
        Err(e) => format!("error {e}"),
    };
    let mut w = &stream;
    let _ = writeln!(w, "{reply}");
    true
}

/// Asks the keeper behind `socket` to delete the robot; its answer.
pub(crate) fn request_delete(socket: &Path, timeout: Duration) -> Result<String, RetireError> {
    let stream = UnixStream::connect(socket).map_err(|e| RetireError::NoKeeper(e.to_string()))?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let mut w = &stream;
    writeln!(w, "delete").map_err(|e| RetireError::NoKeeper(e.to_string()))?;
    let mut line = String::new();
    BufReader::new(&stream)
        .read_line(&mut line)
        .map_err(|e| RetireError::NoKeeper(format!("no answer: {e}")))?;
    let line = line.trim().to_owned();
    match line.strip_prefix("error ") {
        Some(e) => Err(RetireError::Harbor(e.to_owned())),
        None if line.is_empty() => Err(RetireError::NoKeeper("it closed the connection".into())),
        None => Ok(line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_the_json_pre_build_always_wrote_and_reads_back_whole() {
        let account = Account {
            username: "robot$proj+ci".into(),
            password: SecretString::from("pa\"ss\u{e9}\n"),
        };
        let robot = robots::Created {
            id: 42,
            name: "robot$proj+job-7".into(),
            secret: SecretString::from("unused"),
            expires_at: 1_900_000_000,
        };
        let (socket, store) = (
            Path::new("/b\"t/docker-credential-harbor/robot-keeper.sock"),
            Path::new("/b\"t/docker-credential-harbor/r.credentials.json"),
        );
        let watch = ProcessId {
            pid: 4321,
            start: 98_765,
        };
        let url = "https://harbor.example:8443/sub";
        let json = Request::new(url, &account, &robot, socket, store, &watch).json();
        // What the hand-built JSON of earlier versions was, byte for byte.
        let before = serde_json::to_vec(&serde_json::json!({
            "url": url,
            "username": account.username,
            "password": account.password.expose_secret(),
            "robot_id": robot.id,
            "robot_name": robot.name,
            "expires_at": robot.expires_at,
            "socket": socket,
            "store": store,
            "watch": watch,
        }))
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&json),
            String::from_utf8_lossy(&before)
        );
        let back: Request = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            (back.url.as_str(), back.username.as_str()),
            (url, "robot$proj+ci")
        );
        assert_eq!(back.password.expose_secret(), "pa\"ss\u{e9}\n");
        assert_eq!(
            (back.robot_id, back.robot_name.as_str(), back.expires_at),
            (42, "robot$proj+job-7", 1_900_000_000)
        );
        assert_eq!(
            (back.socket.as_path(), back.store.as_path(), back.watch),
            (socket, store, watch)
        );
    }
}
