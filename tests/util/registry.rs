//! A real distribution registry for one test, started by `scripts/lib/registry.sh` (the same
//! script the demo uses) on a free 127.0.0.1 port, stopped when dropped.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{TestEnv, require};

pub struct TestRegistry {
    /// `127.0.0.1:PORT`, the form every client sends to the helper.
    pub addr: String,
    /// The directory to pass as `--cert-dir` (holds `ca.crt`).
    pub cert_dir: PathBuf,
    dir: PathBuf,
}

impl TestRegistry {
    /// Starts a registry under `env`'s directory with htpasswd `users`.
    pub fn start(env: &TestEnv, users: &[(&str, &str)]) -> TestRegistry {
        for tool in ["docker-registry", "htpasswd", "openssl", "curl"] {
            require(tool);
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lib/registry.sh");
        let lines: String = users.iter().map(|(u, p)| format!("{u}:{p}\n")).collect();
        let mut last_error = String::new();
        // A port picked free can be taken before the registry binds it: try a few.
        for attempt in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let dir = env.path(&format!("registry-{attempt}"));
            let mut child = Command::new(&script)
                .arg(&dir)
                .arg(port.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(lines.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            let addr = format!("127.0.0.1:{port}");
            if out.status.success() {
                let cert_dir = dir.join("certs.d").join(&addr);
                return TestRegistry {
                    addr,
                    cert_dir,
                    dir,
                };
            }
            stop(&dir);
            last_error = String::from_utf8_lossy(&out.stderr).into_owned();
        }
        panic!("the test registry did not start: {last_error}");
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("pki/ca.crt")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }
}

fn stop(dir: &Path) {
    if let Ok(pid) = fs::read_to_string(dir.join("registry.pid")) {
        let _ = Command::new("kill").arg(pid.trim()).status();
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        stop(&self.dir);
    }
}
