//! The broker's benchmark (`scripts/bench-broker` runs it; `harness = false`): a release
//! `harbor-broker` process (one replica, TLS) against the Harbor double with no fault and the
//! GitLab issuer double (tests/rig), loaded by 1, 50 and 200 client threads, each on its own
//! keep-alive connection. It prints, as markdown, p50/p99 latency and throughput of refusals
//! (a valid token that policy refuses: 403) and of mints (each a fresh job; the mint is timed,
//! its release is not), then the broker's own work in process: verify plus policy per call.
//!
//! What it must never do: pass for a test (it asserts no speed; it stops only on an answer
//! the contract does not allow), or leave a process behind (the rig kills its broker).
//! Tokens are signed before the clock starts, so the figures hold the broker's work alone.

#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "../tests/rig/mod.rs"]
mod rig;

use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use docker_credential_harbor_core::env::Env;
use harbor_broker::claims::TokenVerifier;
use harbor_broker::keys::StaticKeys;
use harbor_broker::policy;
use harbor_broker::{config, test_keys};
use harbor_client::broker::Access;
use harbor_double::JobClaims;
use rig::{Broker, Rig};

const CLIENTS: [usize; 3] = [1, 50, 200];
/// Iterations of verify plus policy in process.
const IN_PROCESS: usize = 20_000;
/// The issuer double's first key id (its key is `test_keys::A`).
const KID: &str = "double-key-a";

/// What one level measured.
struct Level {
    latencies: Vec<Duration>,
    wall: Duration,
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p).div_ceil(100).saturating_sub(1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn row(kind: &str, clients: usize, level: &mut Level) -> String {
    level.latencies.sort();
    let n = level.latencies.len();
    format!(
        "| {kind} | {clients} | {n} | {} | {} | {:.0} |",
        ms(percentile(&level.latencies, 50)),
        ms(percentile(&level.latencies, 99)),
        n as f64 / level.wall.as_secs_f64()
    )
}

/// Runs `clients` threads, each on its own connection (opened before the clock starts), each
/// calling `request` on its share of `tokens`; `request` returns the time it measured.
fn level(
    broker: &Broker,
    ca: &std::path::Path,
    clients: usize,
    tokens: &[String],
    request: impl Fn(&reqwest::blocking::Client, &str, &str) -> Duration + Sync,
) -> Level {
    let start = Barrier::new(clients + 1);
    let latencies = Mutex::new(Vec::with_capacity(tokens.len()));
    let share = tokens.len().div_ceil(clients);
    let wall = std::thread::scope(|s| {
        for chunk in tokens.chunks(share) {
            let (start, latencies, request) = (&start, &latencies, &request);
            s.spawn(move || {
                let client = rig::client_trusting(ca);
                let ready = client.get(format!("{}/healthz", broker.url)).send();
                assert!(ready.is_ok_and(|r| r.status() == 200), "no /healthz");
                start.wait();
                let mine: Vec<Duration> = chunk
                    .iter()
                    .map(|t| request(&client, &broker.url, t))
                    .collect();
                latencies.lock().unwrap().extend(mine);
            });
        }
        // Fewer chunks than clients when tokens are few: the barrier waits for those alone.
        for _ in tokens.chunks(share).len()..clients {
            s.spawn(|| start.wait());
        }
        start.wait();
        Instant::now()
    });
    Level {
        latencies: latencies.into_inner().unwrap(),
        wall: wall.elapsed(),
    }
}

/// One `POST /v1/credentials`: its status and how long it took.
fn post(client: &reqwest::blocking::Client, url: &str, token: &str) -> (u16, Duration) {
    let start = Instant::now();
    let r = client
        .post(format!("{url}/v1/credentials"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(r#"{"access":"push"}"#)
        .send()
        .unwrap_or_else(|e| panic!("the broker did not answer: {e}"));
    let status = r.status().as_u16();
    let _ = r.bytes();
    (status, start.elapsed())
}

fn tokens(rig: &Rig, first_job: u64, n: usize, project_id: u64) -> Vec<String> {
    (0..n as u64)
        .map(|i| {
            rig.token(&JobClaims {
                job_id: first_job + i,
                project_id,
                ..JobClaims::default()
            })
        })
        .collect()
}

/// Numbers in argv (cargo bench adds `--bench`): refusals and mints per level.
fn counts() -> (usize, usize) {
    let args = Env::args();
    let mut n = args.iter().filter_map(|a| a.to_str()?.parse().ok());
    (n.next().unwrap_or(4000), n.next().unwrap_or(1000))
}

fn main() {
    let (refusals, mints) = counts();
    let rig = Rig::start(false);
    let broker = rig.broker("bench", &rig.admin_config());
    let ca = rig.harbor.ca_file();

    println!("| requests | clients | count | p50 ms | p99 ms | per second |");
    println!("|---|---:|---:|---:|---:|---:|");
    // A project no rule names: verification passes, policy refuses.
    let refused = tokens(&rig, 1, refusals, 99);
    for clients in CLIENTS {
        let mut l = level(&broker, &ca, clients, &refused, |c, url, t| {
            let (status, took) = post(c, url, t);
            assert_eq!(status, 403, "a refusal answered {status}");
            took
        });
        println!("{}", row("refusal (403)", clients, &mut l));
    }
    for (round, clients) in CLIENTS.into_iter().enumerate() {
        let jobs = tokens(&rig, 100_000 * (round as u64 + 1), mints, 42);
        let mut l = level(&broker, &ca, clients, &jobs, |c, url, t| {
            let (status, took) = post(c, url, t);
            assert_eq!(status, 201, "a mint answered {status}");
            let release = c
                .delete(format!("{url}/v1/credentials"))
                .bearer_auth(t)
                .send();
            assert!(release.is_ok_and(|r| r.status() == 200), "a release failed");
            took
        });
        println!("{}", row("mint (201)", clients, &mut l));
    }
    eprintln!(
        "broker robots left in the double: {}",
        rig.harbor.robots().len()
    );

    in_process(&rig, &broker);
}

/// Verify plus policy, as the server calls them for each POST, timed per call in process.
fn in_process(rig: &Rig, broker: &Broker) {
    let config = config::load(&broker.dir.join("harbor-broker.toml")).unwrap();
    let gitlab = config.gitlab.as_ref().unwrap();
    let verifier = TokenVerifier::new(&gitlab.issuer, &gitlab.audience).unwrap();
    let keys = StaticKeys::from_jwks(&test_keys::jwks(&[(test_keys::A, KID)])).unwrap();
    println!();
    println!("| in process ({IN_PROCESS} calls) | p50 µs | p99 µs |");
    println!("|---|---:|---:|");
    for (kind, project_id) in [
        ("verify + policy, granted", 42),
        ("verify + policy, refused", 99),
    ] {
        let token = tokens(rig, 1, 1, project_id).remove(0);
        let mut took: Vec<Duration> = (0..IN_PROCESS)
            .map(|_| {
                let start = Instant::now();
                let claims = verifier.verify(&token, &keys).unwrap();
                let decision = policy::decide(&config.rules, &claims, Access::Push);
                std::hint::black_box(decision.is_ok());
                start.elapsed()
            })
            .collect();
        took.sort();
        let us = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1e6);
        println!(
            "| {kind} | {} | {} |",
            us(percentile(&took, 50)),
            us(percentile(&took, 99))
        );
    }
}
