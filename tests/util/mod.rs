//! Test support: a fresh directory and a hermetic environment per test, the built helper on
//! PATH, and a scan that fails a test when a registered secret shows up where it must not.
//!
//! Every command runs with a cleared environment: HOME, the store and the runner config all
//! point into the test's own directory, so no test reads or writes the developer's files.

#![allow(dead_code, clippy::disallowed_methods)]

pub mod broker;
pub mod dockerd;
pub mod harbor;
pub mod jobs;
pub mod kubelet;
pub mod registry;
/// The broker's end-to-end rig, shared with the broker's own tests; loaded once here, as
/// clippy's duplicate_mod asks, for every module that runs a real harbor-broker.
#[path = "../../crates/broker/tests/rig/mod.rs"]
pub mod rig;
pub mod trickle;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The helper binary cargo built for this test run.
pub const BIN: &str = env!("CARGO_BIN_EXE_docker-credential-harbor");

/// The secret the protocol's conformance rows use (tests/protocol.rs).
pub const TABLE_SECRET: &str = "s3cr3t\"\\x";

/// One test's directory and environment.
pub struct TestEnv {
    pub dir: PathBuf,
    vars: BTreeMap<String, OsString>,
    secrets: Vec<String>,
}

impl TestEnv {
    /// A fresh, empty directory named after the test, with the helper installed in `bin/`.
    pub fn new(name: &str) -> TestEnv {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("t").join(name);
        if dir.exists() {
            fs::remove_dir_all(&dir).unwrap();
        }
        for sub in ["bin", "home", "tmp"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::os::unix::fs::symlink(BIN, dir.join("bin/docker-credential-harbor")).unwrap();
        let mut vars = BTreeMap::new();
        let path = format!(
            "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            dir.join("bin").display()
        );
        vars.insert("PATH".into(), path.into());
        vars.insert("HOME".into(), dir.join("home").into());
        vars.insert("TMPDIR".into(), dir.join("tmp").into());
        // Hermetic by default: a runner config that does not exist (tests opt in by writing it).
        vars.insert(
            "DOCKER_CREDENTIAL_HARBOR_CONFIG".into(),
            dir.join("runner-config.json").into(),
        );
        TestEnv {
            dir,
            vars,
            secrets: Vec::new(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// The store file the helper uses with the default environment.
    pub fn store_path(&self) -> PathBuf {
        self.path("home/.local/share/docker-credential-harbor/credentials.json")
    }

    pub fn set(&mut self, key: &str, value: impl AsRef<OsStr>) -> &mut Self {
        self.vars.insert(key.into(), value.as_ref().to_owned());
        self
    }

    /// The value this test set for `key`, as text.
    pub fn var(&self, key: &str) -> Option<String> {
        self.vars.get(key).map(|v| v.to_string_lossy().into_owned())
    }

    pub fn unset(&mut self, key: &str) -> &mut Self {
        self.vars.remove(key);
        self
    }

    /// Sets GitLab's integration variables for `url` and registers the password as a secret.
    pub fn harbor_env(&mut self, url: &str, user: &str, password: &str) -> &mut Self {
        self.set("HARBOR_URL", url)
            .set("HARBOR_USERNAME", user)
            .set("HARBOR_PASSWORD", password);
        self.secret(password)
    }

    /// Registers a value that must never appear in output or files (see [`TestEnv::scan`]).
    pub fn secret(&mut self, s: &str) -> &mut Self {
        self.secrets.push(s.to_owned());
        self
    }

    /// A command for any program, in this test's environment.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear().envs(&self.vars).current_dir(&self.dir);
        c
    }

    /// Runs the helper with `args` and `stdin`.
    pub fn helper(&self, args: &[&str], stdin: &[u8]) -> Out {
        run_with_stdin(self.command(BIN).args(args), stdin)
    }

    /// Starts the helper without waiting (stdin written and closed).
    pub fn spawn_helper(&self, args: &[&str], stdin: &[u8]) -> Child {
        let mut child = self
            .command(BIN)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(stdin);
        child
    }

    /// Runs the helper with a watchdog: a command still running after 60 s is killed and the
    /// test fails (a hang guard, not a measure of speed).
    pub fn bounded(&self, args: &[&str], stdin: &[u8]) -> Out {
        let mut child = self.spawn_helper(args, stdin);
        let start = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > std::time::Duration::from_secs(60) {
                let _ = child.kill();
                panic!("docker-credential-harbor {args:?} hung");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.wait_with_output().unwrap().into()
    }

    /// `store` with docker's JSON for `server`.
    pub fn store(&self, server: &str, user: &str, secret: &str) -> Out {
        self.helper(&["store"], store_json(server, user, secret).as_bytes())
    }

    /// Fails if any registered secret (or its base64 `user:secret` forms) appears in `out`.
    pub fn assert_clean(&self, out: &Out) {
        for s in &self.secrets {
            assert!(
                !out.stdout.contains(s.as_str()),
                "secret in stdout: {out:?}"
            );
            assert!(
                !out.stderr.contains(s.as_str()),
                "secret in stderr: {out:?}"
            );
        }
    }

    /// Confines podman, buildah and skopeo to this test: vfs storage, registries.conf,
    /// containers.conf under the test directory, and a docker CLI that finds no daemon.
    pub fn containers_env(&mut self) -> &mut Self {
        let d = self.dir.clone();
        fs::write(
            d.join("registries.conf"),
            "unqualified-search-registries = []\n",
        )
        .unwrap();
        let storage = format!(
            "[storage]\ndriver = \"vfs\"\nrunroot = \"{0}/c/run\"\ngraphroot = \"{0}/c/storage\"\n",
            d.display()
        );
        fs::write(d.join("storage.conf"), storage).unwrap();
        let containers = format!(
            "[containers]\ncgroups = \"disabled\"\n[engine]\ncgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\nevents_logfile_path = \"{0}/c/events.log\"\ntmp_dir = \"{0}/c/tmp\"\n",
            d.display()
        );
        fs::write(d.join("containers.conf"), containers).unwrap();
        fs::create_dir_all(d.join("c/tmp")).unwrap();
        self.set("CONTAINERS_CONF", d.join("containers.conf"))
            .set("CONTAINERS_STORAGE_CONF", d.join("storage.conf"))
            .set("CONTAINERS_REGISTRIES_CONF", d.join("registries.conf"))
            .set(
                "DOCKER_HOST",
                format!("unix://{}/no-daemon.sock", d.display()),
            )
    }

    /// Hands the test directory and `subdirs` to uid/gid 65534 (nobody), for jobs run as a
    /// user without privileges.
    pub fn give_to_nobody(&self, subdirs: &[&str]) {
        self.give_to(65534, 65534, subdirs);
    }

    /// Hands the test directory and `subdirs` to `uid`/`gid`.
    pub fn give_to(&self, uid: u32, gid: u32, subdirs: &[&str]) {
        for d in subdirs {
            run(self
                .command("chown")
                .args(["-R", &format!("{uid}:{gid}")])
                .arg(self.path(d)))
            .success();
        }
        std::os::unix::fs::chown(&self.dir, Some(uid), Some(gid)).unwrap();
    }

    /// Runs `script` with dash as uid/gid 65534 (nobody) in this test's environment, and fails
    /// the test if its output shows a registered secret.
    pub fn run_as_nobody(&self, script: &str) -> Out {
        self.run_as(65534, 65534, script)
    }

    /// Runs `script` with dash as `uid`/`gid` (no supplementary groups) in this test's
    /// environment, and fails the test if its output shows a registered secret.
    pub fn run_as(&self, uid: u32, gid: u32, script: &str) -> Out {
        let file = self.path(&format!("tmp/job-{uid}.sh"));
        fs::write(&file, script).unwrap();
        let mut cmd = self.command("setpriv");
        cmd.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .args(["--clear-groups", "/usr/bin/dash"])
            .arg(&file);
        let out = run(&mut cmd);
        self.assert_clean(&out);
        out
    }

    /// A one-layer OCI image layout at `img/` (tag v1), made by `scripts/lib/mkimage.sh`.
    pub fn make_image(&self) {
        let mkimage = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/lib/mkimage.sh");
        run(self.command(mkimage).arg(self.path("img")).arg("v1")).success();
    }

    /// Runs any command (stdin `input`) and fails if its output shows a registered secret.
    pub fn run_clean(&self, cmd: &mut Command, input: &[u8]) -> Out {
        let out = run_with_stdin(cmd, input);
        self.assert_clean(&out);
        out
    }

    /// Fails if any file under the test directory holds a registered secret, except `allowed`.
    pub fn scan_files(&self, allowed: &[&Path]) {
        let mut stack = vec![self.dir.clone()];
        while let Some(d) = stack.pop() {
            for entry in fs::read_dir(&d).unwrap().flatten() {
                let p = entry.path();
                let meta = fs::symlink_metadata(&p).unwrap();
                if meta.is_dir() {
                    stack.push(p);
                } else if meta.is_file() && !allowed.contains(&p.as_path()) {
                    let bytes = fs::read(&p).unwrap_or_default();
                    for s in &self.secrets {
                        assert!(
                            !contains(&bytes, s.as_bytes()),
                            "secret found in {}",
                            p.display()
                        );
                        let b64 = base64(s.as_bytes());
                        assert!(
                            !contains(&bytes, b64.as_bytes()),
                            "base64 secret found in {}",
                            p.display()
                        );
                    }
                }
            }
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        // Keep the directory of a failed test for inspection.
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A finished command: exit status and output as text.
#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics with the whole output unless the command succeeded.
    #[track_caller]
    pub fn success(self) -> Out {
        assert!(self.ok(), "command failed: {self:?}");
        self
    }

    /// Panics with the whole output unless stderr contains `text`.
    #[track_caller]
    pub fn stderr_has(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}:\n{}",
            self.stderr
        );
        self
    }

    /// Panics with the whole output unless stdout contains `text`.
    #[track_caller]
    pub fn stdout_has(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}:\n{}",
            self.stdout
        );
        self
    }

    #[track_caller]
    pub fn failure(self) -> Out {
        assert!(!self.ok(), "command succeeded but should not: {self:?}");
        self
    }
}

impl From<Output> for Out {
    fn from(o: Output) -> Out {
        Out {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

pub fn run_with_stdin(cmd: &mut Command, stdin: &[u8]) -> Out {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // A writer thread, so a child that stops reading early cannot deadlock the test.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    out.into()
}

/// Runs `script` under `/bin/sh` in a private mount namespace (`unshare` is the command to
/// start, carrying the environment), so its mounts never reach the host.
pub fn in_private_mounts(mut unshare: Command, script: &str) -> Out {
    unshare.args([
        "--mount",
        "--propagation",
        "private",
        "/bin/sh",
        "-c",
        script,
    ]);
    run(&mut unshare)
}

/// Runs a command with no stdin.
pub fn run(cmd: &mut Command) -> Out {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
        .into()
}

/// docker's `store` request body.
pub fn store_json(server: &str, user: &str, secret: &str) -> String {
    format!(
        "{{\"ServerURL\":{},\"Username\":{},\"Secret\":{}}}\n",
        json_str(server),
        json_str(user),
        json_str(secret)
    )
}

/// docker's `get` answer for these values.
pub fn get_answer(server: &str, user: &str, secret: &str) -> String {
    format!(
        "{{\"ServerURL\":{},\"Username\":{},\"Secret\":{}}}\n",
        json_str(server),
        json_str(user),
        json_str(secret)
    )
}

/// A JSON string literal, escaped as serde_json does.
pub fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

pub fn write_mode(p: &Path, text: &str, mode: u32) {
    if let Some(d) = p.parent() {
        fs::create_dir_all(d).unwrap();
    }
    fs::write(p, text).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// `which`, without a dependency.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// The path of a tool the test needs; fails with the remedy when it is missing.
pub fn require(program: &str) -> PathBuf {
    which(program).unwrap_or_else(|| {
        panic!(
            "{program} is not installed; run scripts/test, which installs every tool the tests use"
        )
    })
}

/// Fails unless `bin` is a static ELF: no program interpreter, no shared library.
pub fn assert_static(bin: &Path) {
    let out = run(Command::new(require("readelf")).arg("-lW").arg(bin));
    assert!(
        out.ok() && !out.stdout.contains("program interpreter"),
        "{}",
        out.stdout
    );
    let out = run(Command::new(require("readelf")).arg("-dW").arg(bin));
    assert!(!out.stdout.contains("(NEEDED)"), "{}", out.stdout);
}

pub fn is_root() -> bool {
    // /proc/self/status: "Uid:\t<real>\t<effective>…"
    fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(|e| e == "0"))
        .unwrap_or(false)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Standard base64, for scanning files for `docker login`-style encoded secrets.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
