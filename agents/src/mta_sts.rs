//! MTA-STS for outbound mail (RFC 8461): before delivering to a domain, its policy is
//! looked up (`_mta-sts.DOMAIN` TXT through `[dns]`), fetched over HTTPS from
//! `mta-sts.DOMAIN` on port 443 with the system's CA store (rustls-native-certs, so
//! `SSL_CERT_FILE` is honoured) when the record's id is new or the cached copy expired,
//! and cached in `data_dir/mta-sts/DOMAIN` for its `max_age`. A policy stays in force
//! while its cached copy is fresh even if the record or the web server goes away (RFC
//! 8461 §5). What the delivery does with it is in [`crate::remote`].

use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use postrider_core::dns::{DnsRecord, LookupResult, RecordType};
use postrider_core::mta_sts::{
    parse_policy, parse_sts_record, policy_response_body, FetchError, Policy, MAX_POLICY_BYTES,
};
use postrider_core::tls_rpt::ResultType;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig as TlsClientConfig, ClientConnection, StreamOwned};

use crate::resolver::Resolver;

/// How long fetching a policy may take, connection and all.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// The port policies are served on (RFC 8461 §3.3: HTTPS on the default port).
const HTTPS_PORT: u16 = 443;

/// A policy in force for a domain, with the record id it was fetched under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cached {
    /// The policy id of the `_mta-sts` record.
    pub id: String,
    /// When it was fetched (Unix seconds).
    pub fetched: i64,
    /// The policy.
    pub policy: Policy,
}

impl Cached {
    fn fresh(&self, now: i64) -> bool {
        now < self.fetched.saturating_add(self.policy.max_age as i64)
    }
}

/// The policies fetched, one file per domain under `data_dir/mta-sts/`.
#[derive(Debug, Clone)]
pub struct PolicyCache {
    dir: PathBuf,
}

/// Whether `domain` is a plain DNS name (it names a cache file and a URL).
fn plain_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 253
        && !domain.starts_with('.')
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

impl PolicyCache {
    /// The cache under `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("mta-sts"),
        }
    }

    fn path(&self, domain: &str) -> PathBuf {
        self.dir.join(domain.to_ascii_lowercase())
    }

    /// The cached policy of `domain` (fresh or not).
    pub fn get(&self, domain: &str) -> Option<Cached> {
        let text = fs::read_to_string(self.path(domain)).ok()?;
        let (first, policy) = text.split_once('\n')?;
        let (id, fetched) = first.split_once('\t')?;
        Some(Cached {
            id: id.to_string(),
            fetched: fetched.parse().ok()?,
            policy: parse_policy(policy).ok()?,
        })
    }

    fn put(&self, domain: &str, c: &Cached) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let text = format!("{}\t{}\n{}", c.id, c.fetched, c.policy.to_text());
        postrider_store::fsutil::replace_file(&self.path(domain), text.as_bytes())
    }
}

/// The MTA-STS policy in force for mail to `domain` at `now` (Unix seconds), if any:
/// from the cache while its id matches the record and it is fresh, else fetched anew
/// with `tls` (a verifying configuration); a fetch that fails leaves a fresh cached
/// policy in force. Mode `none` is returned too (it means: no policy). The second value
/// is what TLS-RPT reports when a published policy could not be had (RFC 8460 §4.3.2).
pub fn policy_for(
    cache: &PolicyCache,
    resolver: &Resolver,
    tls: Option<&Arc<TlsClientConfig>>,
    domain: &str,
    now: i64,
) -> (Option<Policy>, Option<ResultType>) {
    if !plain_domain(domain) {
        return (None, None);
    }
    let cached = cache.get(domain).filter(|c| c.fresh(now));
    let id = match resolver.lookup(&format!("_mta-sts.{domain}"), RecordType::Txt) {
        LookupResult::Records(records) => {
            let txts: Vec<&str> = records
                .iter()
                .filter_map(|r| match r {
                    DnsRecord::Txt(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect();
            parse_sts_record(txts)
        }
        _ => None,
    };
    let Some(id) = id else {
        return (cached.map(|c| c.policy), None);
    };
    if let Some(c) = cached.as_ref().filter(|c| c.id == id) {
        return (Some(c.policy.clone()), None);
    }
    let Some(tls) = tls else {
        tracing::warn!("MTA-STS: {domain} has a policy, but no trusted CA certificates are available to fetch it");
        return (
            cached.map(|c| c.policy),
            Some(ResultType::StsPolicyFetchError),
        );
    };
    match fetch(resolver, tls, domain) {
        Ok(policy) => {
            tracing::info!(
                "MTA-STS: {domain}: policy {id} fetched: mode {}, max_age {}",
                policy.mode.as_str(),
                policy.max_age
            );
            let c = Cached {
                id,
                fetched: now,
                policy,
            };
            if let Err(e) = cache.put(domain, &c) {
                tracing::warn!("MTA-STS: cannot cache the policy of {domain}: {e}");
            }
            (Some(c.policy), None)
        }
        Err((kind, e)) => {
            tracing::warn!("MTA-STS: cannot fetch the policy of {domain}: {e}");
            (cached.map(|c| c.policy), Some(kind))
        }
    }
}

/// Fetches and parses `https://mta-sts.DOMAIN/.well-known/mta-sts.txt`; a failure says
/// whether the fetch or the policy failed.
pub fn fetch(
    resolver: &Resolver,
    tls: &Arc<TlsClientConfig>,
    domain: &str,
) -> Result<Policy, (ResultType, String)> {
    let host = format!("mta-sts.{domain}");
    let fetch_error = |e: String| (ResultType::StsPolicyFetchError, e);
    let ips = (resolver.addresses(&host)).map_err(|e| fetch_error(format!("{host}: {e:?}")))?;
    let mut last = format!("{host}: no address");
    for ip in ips {
        match fetch_from(tls, &host, SocketAddr::new(ip, HTTPS_PORT)) {
            Ok(body) => {
                return parse_policy(&body)
                    .map_err(|e| (ResultType::StsPolicyInvalid, format!("{host}: {e}")))
            }
            Err(e) => last = format!("{host}[{ip}]: {e}"),
        }
    }
    Err(fetch_error(last))
}

/// One HTTPS GET of the policy from `addr`; the body.
fn fetch_from(tls: &Arc<TlsClientConfig>, host: &str, addr: SocketAddr) -> Result<String, String> {
    let tcp = TcpStream::connect_timeout(&addr, FETCH_TIMEOUT).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(FETCH_TIMEOUT))
        .and_then(|()| tcp.set_write_timeout(Some(FETCH_TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    let conn = ClientConnection::new(tls.clone(), name).map_err(|e| e.to_string())?;
    let mut stream = StreamOwned::new(conn, tcp);
    let request = format!(
        "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\nUser-Agent: postrider\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|e| format!("TLS or write: {e}"))?;
    let mut response = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(format!("read: {e}")),
        };
        response.extend_from_slice(&buf[..n]);
        match policy_response_body(&response, n == 0) {
            Ok(body) => return Ok(body),
            Err(FetchError::Bad(e)) => return Err(e),
            Err(FetchError::Incomplete) if response.len() > MAX_POLICY_BYTES + 16 * 1024 => {
                return Err("response too large".into())
            }
            Err(FetchError::Incomplete) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_a_policy_with_its_id_and_age() {
        let dir = std::env::temp_dir().join(format!("postrider-sts-{}", std::process::id()));
        let cache = PolicyCache::new(&dir);
        let c = Cached {
            id: "abc".into(),
            fetched: 1000,
            policy: parse_policy("version: STSv1\nmode: enforce\nmx: *.b.test\nmax_age: 60\n")
                .unwrap_or_else(|e| panic!("{e}")),
        };
        cache.put("B.test", &c).unwrap_or_else(|e| panic!("{e}"));
        let back = cache.get("b.test");
        assert_eq!(back.as_ref(), Some(&c));
        assert!(c.fresh(1059) && !c.fresh(1060));
        assert!(!plain_domain("../etc") && !plain_domain("a/b") && plain_domain("b.test"));
        let _ = fs::remove_dir_all(dir);
    }
}
