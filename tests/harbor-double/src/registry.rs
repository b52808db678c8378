//! The real registry behind the double: starting Debian's `docker-registry` (distribution 2.8) on a
//! loopback port with Harbor-style token auth (docs/harbor-api.md#the-token-service), and the
//! `/v2/` handler: Harbor's own answers to the `/v2/` probe (docs/harbor-api.md#the-v2-probe) and a
//! streaming reverse proxy for everything else. The registry process must never outlive the double:
//! it is killed on drop, and the kernel kills it too if the whole test process dies
//! (PR_SET_PDEATHSIG).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Uri};

use crate::model::Principal;
use crate::respond::{self, Resp};
use crate::server::{self, Shared};
use crate::{token, util};

pub(crate) struct RegistryProcess {
    child: Child,
    pub(crate) port: u16,
}

impl RegistryProcess {
    /// Starts the registry and waits until it answers. A port taken by someone else between
    /// choosing and binding it is retried with another.
    pub(crate) fn start(dir: &Path, https_port: u16, token_cert: &Path) -> RegistryProcess {
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port();
            let config = dir.join("registry.yml");
            let log = dir.join("registry.log");
            std::fs::write(&config, registry_config(dir, port, https_port, token_cert))
                .unwrap_or_else(|e| {
                    panic!("harbor-double: cannot write {}: {e}", config.display())
                });
            let log_file = std::fs::File::create(&log)
                .unwrap_or_else(|e| panic!("harbor-double: cannot create {}: {e}", log.display()));
            let mut cmd = Command::new("docker-registry");
            cmd.arg("serve").arg(&config).stdin(Stdio::null());
            if let Ok(err) = log_file.try_clone() {
                cmd.stderr(err);
            }
            cmd.stdout(log_file);
            let mut child = spawn(cmd).unwrap_or_else(|e| {
                panic!("harbor-double: cannot run docker-registry (apt-get install docker-registry): {e}")
            });
            match wait_ready(&mut child, port) {
                Ok(()) => return RegistryProcess { child, port },
                Err(()) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_log = std::fs::read_to_string(&log).unwrap_or_default();
                    if !last_log.contains("address already in use") {
                        break;
                    }
                }
            }
        }
        panic!("harbor-double: docker-registry did not start; its log:\n{last_log}");
    }

    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("harbor-double: cannot find a free port: {e}"))
}

/// distribution's configuration. Paths are written as JSON strings, which YAML reads as
/// double-quoted scalars, so spaces or colons in the test directory cannot break it.
fn registry_config(dir: &Path, port: u16, https_port: u16, token_cert: &Path) -> String {
    let q = |p: &Path| serde_json::to_string(&p.to_string_lossy()).unwrap_or_default();
    format!(
        "version: 0.1\n\
         log:\n  level: warn\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: {secret}\n  relativeurls: true\n\
         auth:\n  token:\n    realm: \"https://127.0.0.1:{https_port}/service/token\"\n\
         \x20   service: harbor-registry\n    issuer: harbor-token-issuer\n    rootcertbundle: {cert}\n\
         health:\n  storagedriver:\n    enabled: false\n",
        data = q(&dir.join("registry-data")),
        secret = util::hex(&util::random_bytes(16)),
        cert = q(token_cert),
    )
}

fn wait_ready(child: &mut Child, port: u16) -> Result<(), ()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return Err(());
        }
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut answer = [0u8; 12];
            if s.write_all(b"GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                .is_ok()
                && s.read_exact(&mut answer).is_ok()
                && answer.starts_with(b"HTTP/1.")
            {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(())
}

type SpawnJob = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Children are spawned from one thread that lives as long as the process, because
/// PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, and test threads end
/// all the time.
fn spawn(cmd: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnJob>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("harbor-double-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
                    unsafe {
                        cmd.pre_exec(|| {
                            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                            Ok(())
                        });
                    }
                    let _ = reply.send(cmd.spawn());
                }
            })
            .unwrap_or_else(|e| panic!("harbor-double: cannot start the spawner thread: {e}"));
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .send((cmd, reply_tx))
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?
}

/// Everything under `/v2`. `GET /v2/` is Harbor core's own answer (v2auth,
/// docs/harbor-api.md#the-v2-probe): 200 `{}` for good Basic credentials, 401
/// `Basic realm="harbor"` for bad ones, and the Bearer challenge without credentials. Everything
/// else goes to the registry, or 404 without one.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    path: &str,
    who: Principal,
    basic: bool,
) -> Resp {
    let scheme = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(' ').next())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let base = path == "/v2/";
    if base && matches!(*req.method(), Method::GET | Method::HEAD) {
        if basic {
            return if shared.model().authenticated(who) {
                v2_ok()
            } else {
                challenge(r#"Basic realm="harbor""#)
            };
        }
        if scheme != "bearer" {
            return challenge(&format!(
                r#"Bearer realm="https://127.0.0.1:{}/service/token",service="harbor-registry""#,
                shared.https_port
            ));
        }
        if shared.registry_port.is_none() {
            let token = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_once(' '))
                .map(|(_, t)| t.trim().to_owned())
                .unwrap_or_default();
            return if shared.key.verify(&token).is_some() {
                v2_ok()
            } else {
                challenge(&format!(
                    r#"Bearer realm="https://127.0.0.1:{}/service/token",service="harbor-registry""#,
                    shared.https_port
                ))
            };
        }
    }
    let Some(port) = shared.registry_port else {
        return respond::not_found("resource not found");
    };
    proxy(shared, req, path, port, who, basic).await
}

async fn proxy(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    path: &str,
    port: u16,
    who: Principal,
    basic: bool,
) -> Resp {
    let (mut parts, body) = req.into_parts();
    let target = match parts.uri.query() {
        Some(q) => format!("http://127.0.0.1:{port}{path}?{q}"),
        None => format!("http://127.0.0.1:{port}{path}"),
    };
    let Ok(uri) = target.parse::<Uri>() else {
        return respond::internal();
    };
    parts.uri = uri;
    server::strip_hop_by_hop(&mut parts.headers);
    // Harbor core authorises /v2 requests itself, so Basic credentials work there directly.
    // The registry only trusts tokens: swap the credentials for one with the caller's grant.
    if basic && let Some(scope) = v2_scope(path) {
        let jwt = token::bearer_for(shared, who, &scope);
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {jwt}")) {
            parts.headers.insert(header::AUTHORIZATION, v);
        }
    }
    match shared
        .client
        .request(Request::from_parts(parts, body))
        .await
    {
        Ok(resp) => server::relay(resp),
        Err(_) => respond::internal(),
    }
}

/// The token scope a `/v2/…` path needs (all repository actions are asked for; the grant
/// decides). The repository name may contain slashes, so the last marker wins.
fn v2_scope(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v2/")?;
    if rest == "_catalog" {
        return Some("registry:catalog:*".to_owned());
    }
    ["/manifests/", "/blobs/", "/tags/", "/referrers/"]
        .iter()
        .filter_map(|m| rest.rfind(m))
        .max()
        .map(|i| format!("repository:{}:pull,push,delete", &rest[..i]))
}

fn v2_ok() -> Resp {
    let mut resp = respond::json(200, &serde_json::json!({}));
    resp.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}

fn challenge(value: &str) -> Resp {
    let mut resp = respond::unauthorized();
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_paths_map_to_the_scope_they_need() {
        assert_eq!(
            v2_scope("/v2/proj/app/manifests/v1").as_deref(),
            Some("repository:proj/app:pull,push,delete")
        );
        assert_eq!(
            v2_scope("/v2/proj/a/b/blobs/uploads/").as_deref(),
            Some("repository:proj/a/b:pull,push,delete")
        );
        assert_eq!(
            v2_scope("/v2/proj/app/tags/list").as_deref(),
            Some("repository:proj/app:pull,push,delete")
        );
        assert_eq!(
            v2_scope("/v2/proj/tags/app/manifests/v1").as_deref(),
            Some("repository:proj/tags/app:pull,push,delete")
        );
        assert_eq!(
            v2_scope("/v2/_catalog").as_deref(),
            Some("registry:catalog:*")
        );
        assert_eq!(v2_scope("/v2/"), None);
    }
}
