//! Name resolution for the Harbor client and `doctor`: hickory's pure-Rust resolver (so a
//! static binary in an empty root needs no NSS), configured from `/etc/resolv.conf` and
//! `/etc/hosts` only.
//!
//! It must never fall back to a public resolver: without a usable resolv.conf, reqwest's own
//! hickory glue asks Google's servers, which would tell a third party the Harbor host name
//! and fail on any sealed network anyway (docs/harbor.md#the-client). `localhost` and
//! `*.localhost` are loopback without asking anyone (RFC 6761).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The resolver reqwest uses: built on first use, inside reqwest's runtime, then kept.
#[derive(Clone, Default)]
pub struct SystemResolver {
    resolver: Arc<OnceLock<Result<TokioResolver, String>>>,
}

/// Why a name could not be resolved, in words for a person.
fn no_resolver(detail: &str) -> String {
    format!(
        "this machine has no usable DNS configuration (/etc/resolv.conf: {detail}), and no public \
         resolver is asked instead; add a nameserver to /etc/resolv.conf, or use an IP address in HARBOR_URL"
    )
}

fn build() -> Result<TokioResolver, String> {
    let builder = TokioResolver::builder_tokio().map_err(|e| no_resolver(&e.to_string()))?;
    builder.build().map_err(|e| no_resolver(&e.to_string()))
}

fn loopback(host: &str) -> Option<Vec<IpAddr>> {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    (h == "localhost" || h.ends_with(".localhost")).then(|| {
        vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]
    })
}

async fn lookup(
    resolver: &OnceLock<Result<TokioResolver, String>>,
    host: &str,
) -> Result<Vec<IpAddr>, String> {
    if let Some(ips) = loopback(host) {
        return Ok(ips);
    }
    let resolver = resolver.get_or_init(build).as_ref().map_err(Clone::clone)?;
    match resolver.lookup_ip(host).await {
        Ok(ips) => {
            let ips: Vec<IpAddr> = ips.iter().collect();
            if ips.is_empty() {
                Err("the name has no address (no A or AAAA record)".into())
            } else {
                Ok(ips)
            }
        }
        Err(e) => {
            // hickory's own text quotes its query structure; say it plainly.
            let text = e.to_string();
            if text.contains("no records found") || text.contains("NXDomain") {
                Err("the name has no address (no A or AAAA record)".into())
            } else {
                Err(text)
            }
        }
    }
}

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let cell = self.resolver.clone();
        Box::pin(async move {
            let ips = lookup(&cell, &host)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// Resolves `host` for `doctor`, exactly as the client will, within `timeout`.
pub fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let cell = OnceLock::new();
    let found =
        runtime.block_on(async { tokio::time::timeout(timeout, lookup(&cell, host)).await });
    match found {
        Ok(Ok(ips)) => Ok(ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs_f32())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_is_loopback_without_a_resolver() {
        assert!(loopback("localhost").is_some());
        assert!(loopback("Harbor.LOCALHOST.").is_some());
        assert!(loopback("localhost.example").is_none());
        let addrs = resolve("localhost", 443, Duration::from_secs(1)).unwrap();
        assert!(
            addrs
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 443)
        );
    }
}
