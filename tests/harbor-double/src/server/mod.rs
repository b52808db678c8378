//! The double's server: the state every connection of one double shares (the model, the injected
//! faults, the request log, the registry client) and the relay of registry answers. `listen` holds
//! the listeners and TLS, `pipeline` the per-request pipeline in Harbor's middleware order
//! (docs/harbor-api.md#every-call, docs/harbor-api.md#faults-and-tls-modes). Nothing here may
//! listen beyond 127.0.0.1.

mod listen;
mod pipeline;

use std::sync::{Mutex, MutexGuard};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::model::Model;
use crate::pki::TokenKey;
use crate::respond::{self, Resp};
use crate::{Config, Fault, Logged, util};

pub(crate) use listen::{spawn_listener, tls_acceptor};

/// State shared by every connection of one double.
pub(crate) struct Shared {
    pub(crate) config: Config,
    model: Mutex<Model>,
    faults: Mutex<Faults>,
    log: Mutex<RequestLog>,
    pub(crate) https_port: u16,
    pub(crate) registry_port: Option<u16>,
    pub(crate) key: &'static TokenKey,
    /// Plain HTTP/1.1 to the registry on loopback; bodies stream through it both ways.
    pub(crate) client: Client<HttpConnector, Incoming>,
}

#[derive(Default)]
struct Faults {
    global: Fault,
    by_prefix: Vec<(String, Fault)>,
}

#[derive(Default)]
struct RequestLog {
    next: u64,
    entries: Vec<(u64, Logged)>,
}

/// A poisoned lock only means a handler panicked mid-update; the double's state is still
/// usable for the rest of the test, which will report that panic anyway.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(
        config: Config,
        https_port: u16,
        registry_port: Option<u16>,
        key: &'static TokenKey,
    ) -> Shared {
        Shared {
            model: Mutex::new(Model::new(config.clone())),
            config,
            faults: Mutex::new(Faults::default()),
            log: Mutex::new(RequestLog::default()),
            https_port,
            registry_port,
            key,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub(crate) fn model(&self) -> MutexGuard<'_, Model> {
        lock(&self.model)
    }

    pub(crate) fn set_fault(&self, prefix: Option<&str>, fault: Fault) {
        let mut faults = lock(&self.faults);
        match prefix {
            None if fault == Fault::None => *faults = Faults::default(),
            None => faults.global = fault,
            Some(prefix) => {
                faults.by_prefix.retain(|(p, _)| p != prefix);
                if fault != Fault::None {
                    faults.by_prefix.push((prefix.to_owned(), fault));
                }
            }
        }
    }

    fn fault_for(&self, path: &str) -> Fault {
        let faults = lock(&self.faults);
        faults
            .by_prefix
            .iter()
            .filter(|(p, _)| path.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map_or_else(|| faults.global.clone(), |(_, f)| f.clone())
    }

    pub(crate) fn requests(&self) -> Vec<Logged> {
        lock(&self.log)
            .entries
            .iter()
            .map(|(_, l)| l.clone())
            .collect()
    }

    pub(crate) fn clear_requests(&self) {
        lock(&self.log).entries.clear();
    }

    fn log_request<B>(&self, req: &Request<B>) -> u64 {
        let headers = req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let entry = Logged {
            method: req.method().as_str().to_owned(),
            path: req
                .uri()
                .path_and_query()
                .map_or_else(|| req.uri().path().to_owned(), |pq| pq.as_str().to_owned()),
            headers,
            status: 0,
            received_ms: util::now_millis(),
        };
        let mut log = lock(&self.log);
        let seq = log.next;
        log.next += 1;
        log.entries.push((seq, entry));
        seq
    }

    fn set_status(&self, seq: u64, status: u16) {
        if let Some((_, entry)) = lock(&self.log).entries.iter_mut().find(|(s, _)| *s == seq) {
            entry.status = status;
        }
    }
}

/// Streams a registry response back unchanged apart from hop-by-hop headers.
pub(crate) fn relay(resp: Response<Incoming>) -> Resp {
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, body.map_err(respond::BoxError::from).boxed())
}

pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    for name in named {
        headers.remove(name.as_str());
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
    ] {
        headers.remove(name);
    }
}
