//! `harbor-double`: one Harbor test double as a process, for `scripts/demo` and shell tests.
//!
//! ```text
//! harbor-double --dir DIR [--registry] [--oidc | --ldap] [--plain-http] [--read-only]
//!               [--harbor-version 2.0|2.12|2.13|2.15] [--stdin-lifetime]
//!               [--gitlab-issuer AUD] [--kubernetes-issuer AUD]
//! ```
//!
//! With `--gitlab-issuer AUD` it also starts the GitLab id_token issuer double
//! ([`harbor_double::GitlabIssuer`]) for tokens with `aud = AUD`, and announces `gitlab_url`
//! and `gitlab_ca_file` (tokens: `POST <gitlab_url>/-/double/id_token`). With
//! `--kubernetes-issuer AUD` it also starts the Kubernetes service-account token issuer double
//! ([`harbor_double::KubernetesIssuer`]) for tokens with `aud = [AUD]`, and announces
//! `kubernetes_url` and `kubernetes_ca_file` (tokens: `POST <kubernetes_url>/-/double/sa_token`).
//!
//! It starts the double, writes `DIR/harbor.json` and prints the same single JSON line on
//! stdout (`url`, `addr`, `ca_file`, `other_ca_file`, `cert_dir`, `users` with every fixture
//! user's password, `registry`, and `http_url` with `--plain-http`), then serves until SIGTERM
//! or SIGINT. With `--stdin-lifetime` it also stops when its stdin reaches end of file, so a
//! script can tie the double's life to a pipe it holds open (`exec 3> >(harbor-double …)`, or
//! `coproc`): when the script dies, the pipe closes and the double exits, no trap needed.
//! Stopping always kills the registry first. It must never print anything but that one line
//! on stdout (errors go to stderr, exit status 2).

// The binary talks to scripts through stdout and stderr: printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use harbor_double::{AuthMode, Config, GitlabIssuer, Harbor, HarborVersion, KubernetesIssuer};
use serde::Serialize;

const USAGE: &str = "usage: harbor-double --dir DIR [--registry] [--oidc | --ldap] [--plain-http] \
[--read-only] [--harbor-version 2.0|2.12|2.13|2.15] [--stdin-lifetime] [--gitlab-issuer AUD] \
[--kubernetes-issuer AUD]";

#[derive(Serialize)]
struct Announcement {
    url: String,
    addr: String,
    ca_file: PathBuf,
    other_ca_file: PathBuf,
    cert_dir: PathBuf,
    users: BTreeMap<String, String>,
    registry: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gitlab_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gitlab_ca_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kubernetes_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kubernetes_ca_file: Option<PathBuf>,
}

struct Args {
    dir: PathBuf,
    config: Config,
    stdin_lifetime: bool,
    gitlab_audience: Option<String>,
    kubernetes_audience: Option<String>,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut dir = None;
    let mut config = Config::default();
    let mut stdin_lifetime = false;
    let mut gitlab_audience = None;
    let mut kubernetes_audience = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dir" => dir = Some(PathBuf::from(args.next().ok_or("--dir needs a directory")?)),
            "--registry" => config.registry = true,
            "--oidc" => config.auth_mode = AuthMode::OidcAuth,
            "--ldap" => config.auth_mode = AuthMode::LdapAuth,
            "--plain-http" => config.plain_http = true,
            "--read-only" => config.read_only = true,
            "--stdin-lifetime" => stdin_lifetime = true,
            "--gitlab-issuer" => {
                gitlab_audience = Some(args.next().ok_or("--gitlab-issuer needs an audience")?)
            }
            "--kubernetes-issuer" => {
                kubernetes_audience =
                    Some(args.next().ok_or("--kubernetes-issuer needs an audience")?)
            }
            "--harbor-version" => {
                config.version = match args.next().as_deref() {
                    Some("2.0") => HarborVersion::V2_0,
                    Some("2.12") => HarborVersion::V2_12,
                    Some("2.13") => HarborVersion::V2_13,
                    Some("2.15") => HarborVersion::V2_15,
                    _ => return Err("--harbor-version takes 2.0, 2.12, 2.13 or 2.15".into()),
                }
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let dir = dir.ok_or("--dir is required")?;
    Ok(Args {
        dir,
        config,
        stdin_lifetime,
        gitlab_audience,
        kubernetes_audience,
    })
}

fn main() {
    // The double is a test tool, not the helper: it reads argv directly.
    #[allow(clippy::disallowed_methods)]
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(argv) {
        Ok(a) => a,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("harbor-double: {msg}");
            }
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let oidc = args.config.auth_mode == AuthMode::OidcAuth;
    let registry = args.config.registry;
    let harbor = Harbor::start(&args.dir, args.config);
    let gitlab = args
        .gitlab_audience
        .as_deref()
        .map(|aud| GitlabIssuer::start(&args.dir, aud));
    let kubernetes = args
        .kubernetes_audience
        .as_deref()
        .map(|aud| KubernetesIssuer::start(&args.dir, aud));

    let mut names = vec!["admin", "alice", "gary", "pam", "mary", "dave"];
    if oidc {
        names.push("carol");
    }
    let announcement = Announcement {
        url: harbor.url(),
        addr: harbor.addr(),
        ca_file: harbor.ca_file(),
        other_ca_file: harbor.other_ca_file(),
        cert_dir: args.dir.join("certs.d").join(harbor.addr()),
        users: names
            .iter()
            .map(|n| ((*n).to_owned(), harbor.password(n)))
            .collect(),
        registry,
        http_url: harbor.http_url(),
        gitlab_url: gitlab.as_ref().map(GitlabIssuer::url),
        gitlab_ca_file: gitlab.as_ref().map(GitlabIssuer::ca_file),
        kubernetes_url: kubernetes.as_ref().map(KubernetesIssuer::url),
        kubernetes_ca_file: kubernetes.as_ref().map(KubernetesIssuer::ca_file),
    };
    let line = serde_json::to_string(&announcement).unwrap_or_default();
    let file = args.dir.join("harbor.json");
    if let Err(e) = std::fs::write(&file, format!("{line}\n")) {
        eprintln!("harbor-double: cannot write {}: {e}", file.display());
        std::process::exit(2);
    }
    println!("{line}");

    wait_for_stop(args.stdin_lifetime);
    drop(kubernetes);
    drop(gitlab);
    drop(harbor);
}

/// Blocks until SIGTERM, SIGINT or (with `--stdin-lifetime`) end of file on stdin.
fn wait_for_stop(stdin_lifetime: bool) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("harbor-double: cannot wait for signals: {e}");
            return;
        }
    };
    runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            eprintln!("harbor-double: cannot install signal handlers");
            return;
        };
        let (eof_tx, eof_rx) = tokio::sync::oneshot::channel::<()>();
        if stdin_lifetime {
            std::thread::spawn(move || {
                let mut sink = [0u8; 4096];
                let mut stdin = std::io::stdin().lock();
                while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
                let _ = eof_tx.send(());
            });
        }
        let eof = async {
            if stdin_lifetime {
                let _ = eof_rx.await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            () = eof => {}
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse_args(list.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn flags_map_onto_the_config() {
        let a = args(&[
            "--dir",
            "/tmp/x",
            "--registry",
            "--oidc",
            "--plain-http",
            "--stdin-lifetime",
        ])
        .unwrap();
        assert!(a.config.registry && a.config.plain_http && a.stdin_lifetime);
        assert_eq!(a.config.auth_mode, AuthMode::OidcAuth);
        assert_eq!(a.dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn the_kubernetes_issuer_takes_its_audience() {
        let a = args(&["--dir", "/tmp/x", "--kubernetes-issuer", "harbor-broker"]).unwrap();
        assert_eq!(a.kubernetes_audience.as_deref(), Some("harbor-broker"));
        assert!(args(&["--dir", "/tmp/x", "--kubernetes-issuer"]).is_err());
        assert!(a.gitlab_audience.is_none());
    }

    #[test]
    fn the_gitlab_issuer_takes_its_audience() {
        let a = args(&["--dir", "/tmp/x", "--gitlab-issuer", "https://b.test"]).unwrap();
        assert_eq!(a.gitlab_audience.as_deref(), Some("https://b.test"));
        assert!(args(&["--dir", "/tmp/x", "--gitlab-issuer"]).is_err());
        assert!(
            args(&["--dir", "/tmp/x"])
                .unwrap()
                .gitlab_audience
                .is_none()
        );
    }

    #[test]
    fn a_missing_dir_or_an_unknown_flag_is_a_usage_error() {
        assert!(args(&["--registry"]).is_err());
        assert!(args(&["--dir", "x", "--bogus"]).is_err());
        assert!(args(&["--dir", "x", "--harbor-version", "3"]).is_err());
    }
}
