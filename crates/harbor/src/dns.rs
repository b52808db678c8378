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
use hickory_resolver::net::NetError;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The resolver reqwest uses: built on first use, inside reqwest's runtime, then kept.
#[derive(Clone, Default)]
pub(crate) struct SystemResolver {
    resolver: Arc<OnceLock<Result<TokioResolver, DnsError>>>,
}

/// Why a name could not be resolved, in words for a person. No variant exposes hickory's
/// error as its `source()`: the client reports the innermost cause of a failed request
/// (`client::root_cause`), and that must stay this text, not hickory's query structure.
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum DnsError {
    #[error(
        "this machine has no usable DNS configuration (/etc/resolv.conf: {0}), and no public \
         resolver is asked instead; add a nameserver to /etc/resolv.conf, or use an IP address in HARBOR_URL"
    )]
    NoResolver(NetError),
    /// The name exists or not, but has no A or AAAA record.
    #[error("the name has no address (no A or AAAA record)")]
    NoAddress,
    /// Any other failure of the lookup, in hickory's words.
    #[error("{0}")]
    Lookup(NetError),
    /// No tokio runtime for the lookup (doctor's own).
    #[error("{0}")]
    Runtime(Arc<std::io::Error>),
    #[error("no answer within {} s", .0.as_secs_f32())]
    Timeout(Duration),
}

fn build() -> Result<TokioResolver, DnsError> {
    let builder = TokioResolver::builder_tokio().map_err(DnsError::NoResolver)?;
    builder.build().map_err(DnsError::NoResolver)
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
    resolver: &OnceLock<Result<TokioResolver, DnsError>>,
    host: &str,
) -> Result<Vec<IpAddr>, DnsError> {
    if let Some(ips) = loopback(host) {
        return Ok(ips);
    }
    let resolver = resolver.get_or_init(build).as_ref().map_err(Clone::clone)?;
    match resolver.lookup_ip(host).await {
        Ok(ips) => {
            let ips: Vec<IpAddr> = ips.iter().collect();
            if ips.is_empty() {
                Err(DnsError::NoAddress)
            } else {
                Ok(ips)
            }
        }
        Err(e) => Err(failed(e)),
    }
}

/// A failed lookup, by hickory's kind of error: "no records" (NXDomain is one of them) is said
/// plainly, as hickory's own text quotes its query structure; anything else in its words.
fn failed(e: NetError) -> DnsError {
    if e.is_no_records_found() {
        DnsError::NoAddress
    } else {
        DnsError::Lookup(e)
    }
}

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let cell = self.resolver.clone();
        Box::pin(async move {
            let ips = lookup(&cell, &host)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?;
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// Resolves `host` for `doctor`, exactly as the client will, within `timeout`.
pub(crate) fn resolve(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, DnsError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DnsError::Runtime(Arc::new(e)))?;
    let cell = OnceLock::new();
    let found =
        runtime.block_on(async { tokio::time::timeout(timeout, lookup(&cell, host)).await });
    match found {
        Ok(Ok(ips)) => Ok(ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(DnsError::Timeout(timeout)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_records_is_recognised_by_its_kind_and_nothing_else_by_its_words() {
        use hickory_resolver::net::{DnsError as Hickory, NoRecords};
        use hickory_resolver::proto::op::{Query, ResponseCode};
        for code in [ResponseCode::NXDomain, ResponseCode::NoError] {
            let none = NetError::from(Hickory::NoRecordsFound(NoRecords::new(
                Query::default(),
                code,
            )));
            assert_eq!(
                failed(none).to_string(),
                "the name has no address (no A or AAAA record)"
            );
        }
        // Words alone are not a kind: a message that mentions them is shown as it is.
        for text in ["upstream says NXDomain", "proxy: no records found here"] {
            assert_eq!(failed(NetError::from(text.to_owned())).to_string(), text);
        }
        assert_eq!(
            failed(NetError::Timeout).to_string(),
            NetError::Timeout.to_string()
        );
    }

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
