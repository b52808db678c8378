//! The broker's counters and the request-duration histogram, kept in atomics and written out
//! by hand in the Prometheus text format 0.0.4 (`GET /metrics`): a dozen series do not need a
//! metrics crate. Every metric has its `# HELP` and `# TYPE`; docs/broker.md lists each.
//!
//! What it must never do: hold a label value that comes from a request (a path, a job, a
//! project): every label here is one of a fixed, small set, so no client can grow the output.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::keys::{FetchJwks, JwksResponse};
use harbor_client::broker::Access;

/// What the `endpoint` label says: the route a request reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Endpoint {
    Credentials,
    /// `/v1/kubernetes/credentials`.
    KubernetesCredentials,
    Healthz,
    Readyz,
    Metrics,
    /// Any other path (a 404).
    Other,
}

impl Endpoint {
    const ALL: [Endpoint; 6] = [
        Endpoint::Credentials,
        Endpoint::KubernetesCredentials,
        Endpoint::Healthz,
        Endpoint::Readyz,
        Endpoint::Metrics,
        Endpoint::Other,
    ];

    /// The endpoint a request path reaches.
    pub fn of(path: &str) -> Endpoint {
        match path {
            "/v1/credentials" => Endpoint::Credentials,
            "/v1/kubernetes/credentials" => Endpoint::KubernetesCredentials,
            "/healthz" => Endpoint::Healthz,
            "/readyz" => Endpoint::Readyz,
            "/metrics" => Endpoint::Metrics,
            _ => Endpoint::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Credentials => "credentials",
            Endpoint::KubernetesCredentials => "kubernetes_credentials",
            Endpoint::Healthz => "healthz",
            Endpoint::Readyz => "readyz",
            Endpoint::Metrics => "metrics",
            Endpoint::Other => "other",
        }
    }
}

/// How a `POST` or `DELETE /v1/credentials` ended (the `outcome` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Granted,
    RefusedToken,
    RefusedPolicy,
    TooMany,
    HarborError,
    BadRequest,
}

impl Outcome {
    const ALL: [Outcome; 6] = [
        Outcome::Granted,
        Outcome::RefusedToken,
        Outcome::RefusedPolicy,
        Outcome::TooMany,
        Outcome::HarborError,
        Outcome::BadRequest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Granted => "granted",
            Outcome::RefusedToken => "refused_token",
            Outcome::RefusedPolicy => "refused_policy",
            Outcome::TooMany => "too_many",
            Outcome::HarborError => "harbor_error",
            Outcome::BadRequest => "bad_request",
        }
    }
}

/// The histogram's upper bounds, in seconds: a refusal takes well under a millisecond, a mint
/// as long as Harbor takes.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    // Per bucket, not cumulative; the last one is +Inf.
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// Every series the broker exports.
#[derive(Default)]
pub struct Metrics {
    // The statuses are not a fixed set (axum answers some itself), so a small map; an
    // endpoint meets a handful of them.
    requests: Mutex<BTreeMap<(Endpoint, u16), u64>>,
    durations: [Histogram; Endpoint::ALL.len()],
    decisions: [AtomicU64; 6],
    minted: [AtomicU64; 2],
    released: AtomicU64,
    swept: AtomicU64,
    sweep_failures: AtomicU64,
    // ok, error
    jwks_fetches: [AtomicU64; 2],
    // 502, 503, 504
    harbor_errors: [AtomicU64; 3],
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// One answered request and how long it took.
    pub fn request(&self, endpoint: Endpoint, status: u16, took: Duration) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests.entry((endpoint, status)).or_default() += 1;
        drop(requests);
        self.durations[endpoint as usize].observe(took);
    }

    pub fn decision(&self, outcome: Outcome) {
        bump(&self.decisions[outcome as usize], 1);
    }

    pub fn minted(&self, access: Access) {
        bump(&self.minted[access as usize], 1);
    }

    pub fn released(&self, robots: usize) {
        bump(&self.released, robots as u64);
    }

    pub fn swept(&self, robots: usize) {
        bump(&self.swept, robots as u64);
    }

    pub fn sweep_failed(&self) {
        bump(&self.sweep_failures, 1);
    }

    pub fn jwks_fetch(&self, ok: bool) {
        bump(&self.jwks_fetches[usize::from(!ok)], 1);
    }

    /// A robot call that failed with `status` (502, 503 or 504; others are not Harbor's).
    pub fn harbor_error(&self, status: u16) {
        if let Some(i) = status.checked_sub(502).filter(|i| *i < 3) {
            bump(&self.harbor_errors[usize::from(i)], 1);
        }
    }

    /// The Prometheus text format, version 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        header(
            &mut out,
            "requests_total",
            "counter",
            "HTTP requests answered, by endpoint and status.",
        );
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for ((endpoint, status), n) in requests {
            let _ = writeln!(
                out,
                "harbor_broker_requests_total{{endpoint=\"{}\",status=\"{status}\"}} {n}",
                endpoint.as_str()
            );
        }
        header(
            &mut out,
            "request_duration_seconds",
            "histogram",
            "Time from a request's headers to its answer, by endpoint.",
        );
        for endpoint in Endpoint::ALL {
            let histogram = &self.durations[endpoint as usize];
            let name = endpoint.as_str();
            let mut cumulative = 0;
            for (i, count) in histogram.counts.iter().enumerate() {
                cumulative += get(count);
                let le = BUCKETS.get(i).map_or("+Inf".to_owned(), |b| b.to_string());
                let _ = writeln!(
                    out,
                    "harbor_broker_request_duration_seconds_bucket{{endpoint=\"{name}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let sum = get(&histogram.sum_nanos) as f64 / 1e9;
            let _ = writeln!(
                out,
                "harbor_broker_request_duration_seconds_sum{{endpoint=\"{name}\"}} {sum}\n\
                 harbor_broker_request_duration_seconds_count{{endpoint=\"{name}\"}} {cumulative}"
            );
        }
        header(
            &mut out,
            "decisions_total",
            "counter",
            "Credential requests (POST and DELETE /v1/credentials) by outcome.",
        );
        for outcome in Outcome::ALL {
            let n = get(&self.decisions[outcome as usize]);
            let _ = writeln!(
                out,
                "harbor_broker_decisions_total{{outcome=\"{}\"}} {n}",
                outcome.as_str()
            );
        }
        header(
            &mut out,
            "robots_minted_total",
            "counter",
            "Robots minted, by the access granted.",
        );
        for access in [Access::Pull, Access::Push] {
            let n = get(&self.minted[access as usize]);
            let _ = writeln!(
                out,
                "harbor_broker_robots_minted_total{{access=\"{access}\"}} {n}"
            );
        }
        let plain = [
            (
                "robots_released_total",
                "Robots deleted by DELETE /v1/credentials.",
                &self.released,
            ),
            (
                "robots_swept_total",
                "Robots past their intended expiry deleted by the sweeper.",
                &self.swept,
            ),
            (
                "sweep_failures_total",
                "Sweeps that failed or left an expired robot they could not delete.",
                &self.sweep_failures,
            ),
        ];
        for (name, help, counter) in plain {
            header(&mut out, name, "counter", help);
            let _ = writeln!(out, "harbor_broker_{name} {}", get(counter));
        }
        header(
            &mut out,
            "jwks_fetches_total",
            "counter",
            "Fetches of the issuer's JWKS, by outcome.",
        );
        for (i, outcome) in ["ok", "error"].into_iter().enumerate() {
            let n = get(&self.jwks_fetches[i]);
            let _ = writeln!(
                out,
                "harbor_broker_jwks_fetches_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        header(
            &mut out,
            "harbor_errors_total",
            "counter",
            "Robot calls Harbor failed, by the broker's answer (502 refused, 503 unavailable, 504 timeout).",
        );
        for (i, status) in ["502", "503", "504"].into_iter().enumerate() {
            let n = get(&self.harbor_errors[i]);
            let _ = writeln!(
                out,
                "harbor_broker_harbor_errors_total{{status=\"{status}\"}} {n}"
            );
        }
        header(
            &mut out,
            "build_info",
            "gauge",
            "Always 1; the version label says which harbor-broker runs.",
        );
        let _ = writeln!(
            out,
            "harbor_broker_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(
        out,
        "# HELP harbor_broker_{name} {help}\n# TYPE harbor_broker_{name} {kind}"
    );
}

/// A [`FetchJwks`] that counts each fetch by outcome.
pub struct CountedFetch<F> {
    pub inner: F,
    pub metrics: std::sync::Arc<Metrics>,
}

impl<F: FetchJwks> FetchJwks for CountedFetch<F> {
    fn fetch(&self) -> anyhow::Result<JwksResponse> {
        let result = self.inner.fetch();
        self.metrics.jwks_fetch(result.is_ok());
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_has_help_and_type_and_the_histogram_is_cumulative() {
        let metrics = Metrics::new();
        metrics.request(Endpoint::Credentials, 201, Duration::from_millis(3));
        metrics.request(Endpoint::Credentials, 201, Duration::from_secs(60));
        metrics.request(Endpoint::Other, 404, Duration::from_micros(10));
        metrics.decision(Outcome::Granted);
        metrics.minted(Access::Push);
        metrics.harbor_error(503);
        metrics.harbor_error(500);
        let text = metrics.render();
        let mut typed = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                typed.insert(rest.split(' ').next().unwrap().to_owned());
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap();
            value.parse::<f64>().unwrap();
            let name = series.split('{').next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|f| typed.contains(*f))
                .unwrap_or(name);
            assert!(typed.contains(family), "{line}: no TYPE before it");
        }
        assert!(
            text.contains(
                "harbor_broker_requests_total{endpoint=\"credentials\",status=\"201\"} 2\n"
            )
        );
        assert!(text.contains(
            "harbor_broker_request_duration_seconds_bucket{endpoint=\"credentials\",le=\"0.005\"} 1\n"
        ));
        assert!(text.contains(
            "harbor_broker_request_duration_seconds_bucket{endpoint=\"credentials\",le=\"+Inf\"} 2\n"
        ));
        assert!(text.contains("harbor_broker_decisions_total{outcome=\"granted\"} 1\n"));
        assert!(text.contains("harbor_broker_robots_minted_total{access=\"push\"} 1\n"));
        assert!(text.contains("harbor_broker_harbor_errors_total{status=\"503\"} 1\n"));
        assert!(text.contains("harbor_broker_harbor_errors_total{status=\"502\"} 0\n"));
    }
}
