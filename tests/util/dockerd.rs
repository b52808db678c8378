//! A real `dockerd` (Debian's docker.io) for one test: vfs storage, no bridge, no iptables,
//! its socket and data under the test's directory. Needs root; stopped
//! (with its containerd) when dropped.

use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{TestEnv, is_root, which};

pub struct Dockerd {
    /// `unix:///…/docker.sock`, for `DOCKER_HOST`.
    pub host: String,
    child: Child,
}

impl Dockerd {
    /// Starts dockerd, or says why it cannot start here (then the test skips that part).
    pub fn start(t: &TestEnv) -> Result<Dockerd, String> {
        if !is_root() {
            return Err("dockerd needs root".into());
        }
        let bin = which("dockerd").ok_or("dockerd is not installed")?;
        let dir = t.path("dockerd");
        fs::create_dir_all(dir.join("run")).unwrap();
        let sock = dir.join("run/docker.sock");
        let child = Command::new(bin)
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("run/exec"))
            .arg("--pidfile")
            .arg(dir.join("run/dockerd.pid"))
            .args([
                "--bridge",
                "none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
                "--storage-driver",
                "vfs",
            ])
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.join("dockerd.log")).unwrap())
            .stderr(fs::File::create(dir.join("dockerd.err")).unwrap())
            .spawn()
            .map_err(|e| format!("cannot start dockerd: {e}"))?;
        let mut d = Dockerd {
            host: format!("unix://{}", sock.display()),
            child,
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(status)) = d.child.try_wait() {
                let err = fs::read_to_string(dir.join("dockerd.err")).unwrap_or_default();
                return Err(format!(
                    "dockerd exited ({status}): {}",
                    err.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
                ));
            }
            let ok = Command::new(which("docker").ok_or("no docker CLI")?)
                .args(["-H", &d.host, "info"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(d);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err("dockerd did not answer within 20 s".into())
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop its containerd; then wait so the data dir can be removed.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
