//! Remote delivery over SMTP (RFC 5321 §5): routes a destination (smarthost, address
//! literal, MX records, or the implicit MX), connects to each address in turn, and drives
//! the core's `SmtpClient` over a blocking socket with opportunistic or verified STARTTLS.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use postrider_core::delivery::routing::{address_literal, order_mx, MxHost};
use postrider_core::dns::{DnsRecord, LookupResult, RecordType};
use postrider_core::machine::{Machine, TlsInfo};
use postrider_core::mta_sts::{tls_not_required, Mode, Policy};
use postrider_core::smtp::client::{
    ClientConfig, ClientEvent, ClientMessage, RecipientResult, SessionOutcome, SmtpClient,
    TlsPolicy,
};
use postrider_core::smtp::{EnhancedCode, Reply};
use postrider_core::tls_rpt::{ResultType, SessionResult};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig as TlsClientConfig, ClientConnection, StreamOwned};

use postrider_store::tls_verify::AcceptAnyCertificate;

use crate::config::{OutboundTls as TlsMode, Settings};
use crate::mta_sts::{self, PolicyCache};
use crate::resolver::{AddressError, Resolver};
use crate::tls::session_info;
use crate::tls_rpt::recorder::Recorder;

/// How long a TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Outbound TLS settings, built once.
#[derive(Debug, Clone)]
pub struct OutboundTls {
    /// The STARTTLS policy.
    pub policy: TlsPolicy,
    /// The rustls configuration (no verification for `may`, system roots for `verify`).
    pub config: Option<Arc<TlsClientConfig>>,
    /// A configuration that verifies against the system's CA certificates (for MTA-STS
    /// `enforce` domains and policy fetches whatever `[delivery] tls` says); None when
    /// the system has none.
    pub verified: Option<Arc<TlsClientConfig>>,
}

impl OutboundTls {
    /// Builds the outbound TLS settings from `[delivery] tls`.
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = || {
            TlsClientConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .map_err(|e| format!("outbound TLS setup: {e}"))
        };
        let verified = crate::tls::verified_client_config()?;
        match settings.config.delivery.tls {
            TlsMode::None => Ok(Self {
                policy: TlsPolicy::Never,
                config: None,
                verified,
            }),
            TlsMode::Verify => {
                let Some(config) = verified.clone() else {
                    return Err("[delivery] tls = \"verify\": no trusted CA certificates found on this system".into());
                };
                Ok(Self {
                    policy: TlsPolicy::Required,
                    config: Some(config),
                    verified,
                })
            }
            TlsMode::May => {
                let config = builder()?
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(
                        provider.clone(),
                    )))
                    .with_no_client_auth();
                Ok(Self {
                    policy: TlsPolicy::Opportunistic,
                    config: Some(Arc::new(config)),
                    verified,
                })
            }
        }
    }

    /// Required, verified TLS (an MTA-STS `enforce` domain); None without CA certificates.
    fn strict(&self) -> Option<OutboundTls> {
        let v = self.verified.clone()?;
        Some(OutboundTls {
            policy: TlsPolicy::Required,
            config: Some(v.clone()),
            verified: Some(v),
        })
    }
}

/// A TLS client configuration that accepts any certificate (opportunistic TLS; also
/// what the load generator uses against self-signed test servers).
pub fn insecure_client_config() -> Result<Arc<TlsClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = TlsClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// An outbound connection, plain or TLS.
enum OutConn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl OutConn {
    fn tcp(&self) -> &TcpStream {
        match self {
            OutConn::Plain(t) => t,
            OutConn::Tls(s) => &s.sock,
        }
    }

    fn start_tls(self, config: Arc<TlsClientConfig>, host: &str) -> io::Result<(OutConn, TlsInfo)> {
        let mut tcp = match self {
            OutConn::Plain(t) => t,
            OutConn::Tls(_) => return Err(io::Error::other("TLS already active")),
        };
        let name = match host.parse::<IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(host.to_string()).map_err(io::Error::other)?,
        };
        let mut conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        tcp.set_write_timeout(Some(Duration::from_secs(30)))?;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp)?;
        }
        let info = session_info(&conn);
        Ok((OutConn::Tls(Box::new(StreamOwned::new(conn, tcp))), info))
    }
}

impl Read for OutConn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            OutConn::Plain(t) => t.read(buf),
            OutConn::Tls(s) => match s.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                other => other,
            },
        }
    }
}

impl Write for OutConn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            OutConn::Plain(t) => t.write(buf),
            OutConn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            OutConn::Plain(t) => t.flush(),
            OutConn::Tls(s) => s.flush(),
        }
    }
}

/// Where to connect: a host name (for logs and SNI) and its addresses.
#[derive(Debug, Clone)]
pub struct Target {
    /// The host name (or the literal address).
    pub host: String,
    /// Its addresses with the port.
    pub addrs: Vec<SocketAddr>,
}

/// Why a destination cannot be reached at all.
#[derive(Debug, Clone)]
pub struct RouteFailure {
    /// Temporary (retry later) or permanent (bounce).
    pub temporary: bool,
    /// The reason in plain words.
    pub text: String,
    /// The RFC 3463 status.
    pub status: EnhancedCode,
}

fn route_failure(temporary: bool, text: String, status: (u8, u16, u16)) -> RouteFailure {
    RouteFailure {
        temporary,
        text,
        status: EnhancedCode::new(status.0, status.1, status.2),
    }
}

/// The hosts to try for `domain`, in order.
pub fn route(
    settings: &Settings,
    resolver: &Resolver,
    domain: &str,
) -> Result<Vec<Target>, RouteFailure> {
    let port = settings.config.delivery.remote_port;
    let smarthost = &settings.config.delivery.smarthost;
    if !smarthost.is_empty() {
        let (host, p) = smarthost
            .rsplit_once(':')
            .map(|(h, p)| {
                (
                    h.trim_matches(|c| c == '[' || c == ']'),
                    p.parse().unwrap_or(25),
                )
            })
            .unwrap_or((smarthost.as_str(), 25));
        let addrs = resolve_host(resolver, host, p, domain)?;
        return Ok(vec![Target {
            host: host.to_string(),
            addrs,
        }]);
    }
    if let Some(ip) = address_literal(domain) {
        return Ok(vec![Target {
            host: ip.to_string(),
            addrs: vec![SocketAddr::new(ip, port)],
        }]);
    }
    let hosts = match resolver.lookup(domain, RecordType::Mx) {
        LookupResult::Records(records) => {
            let mx: Vec<MxHost> = records
                .into_iter()
                .filter_map(|r| match r {
                    DnsRecord::Mx {
                        preference,
                        exchange,
                    } => Some(MxHost {
                        preference,
                        host: exchange,
                    }),
                    _ => None,
                })
                .collect();
            let own = settings.config.hostname.as_str();
            order_mx(&mx, &[own], OsRng.next_u64()).map_err(|e| {
                let (text, status) = e.describe(domain);
                route_failure(false, text, status)
            })?
        }
        // No MX: the domain itself is the implicit MX (RFC 5321 §5.1).
        LookupResult::NoData => vec![domain.to_ascii_lowercase()],
        LookupResult::NxDomain => {
            return Err(route_failure(
                false,
                format!("Host or domain name not found. Name service error for name={domain} type=MX: Host not found"),
                (5, 1, 2),
            ))
        }
        LookupResult::Failed(e) => {
            return Err(route_failure(
                true,
                format!("Host or domain name not found. Name service error for name={domain} type=MX: {e}"),
                (4, 4, 3),
            ))
        }
    };
    let mut targets = Vec::new();
    let mut last: Option<RouteFailure> = None;
    for host in hosts {
        match resolve_host(resolver, &host, port, domain) {
            Ok(addrs) => targets.push(Target { host, addrs }),
            Err(e) => last = Some(e),
        }
    }
    if targets.is_empty() {
        return Err(last.unwrap_or_else(|| {
            route_failure(
                true,
                format!("no mail exchanger found for {domain}"),
                (4, 4, 3),
            )
        }));
    }
    Ok(targets)
}

fn resolve_host(
    resolver: &Resolver,
    host: &str,
    port: u16,
    domain: &str,
) -> Result<Vec<SocketAddr>, RouteFailure> {
    match resolver.addresses(host) {
        Ok(ips) => Ok(ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect()),
        Err(AddressError::Temporary(e)) => Err(route_failure(
            true,
            format!("cannot find the address of {host} (mail exchanger for {domain}): {e}"),
            (4, 4, 3),
        )),
        Err(AddressError::NotFound) | Err(AddressError::NoAddress) => Err(route_failure(
            false,
            format!("Host or domain name not found. Name service error for name={host} type=A: Host not found"),
            (5, 4, 4),
        )),
    }
}

/// Runs one SMTP session to `addr`; never fails (connection trouble is an outcome).
/// Under opportunistic TLS a broken handshake is retried in plain text, as Postfix does;
/// the handshake's error is returned beside the outcome then.
pub fn session(
    id: &str,
    tls: &OutboundTls,
    helo_name: &str,
    target_host: &str,
    addr: SocketAddr,
    message: ClientMessage,
) -> (SessionOutcome, Option<String>) {
    let first = session_with(
        id,
        tls.policy,
        tls,
        helo_name,
        target_host,
        addr,
        message.clone(),
    );
    let broke = first.recipients.iter().find_map(|r| match r {
        RecipientResult::Deferred(t) if t.starts_with("TLS handshake failed") => Some(t.clone()),
        _ => None,
    });
    match broke {
        Some(why) if tls.policy == TlsPolicy::Opportunistic => {
            tracing::warn!(
                "{id}: {target_host}[{}]: TLS handshake failed; retrying without TLS",
                addr.ip()
            );
            let plain = session_with(
                id,
                TlsPolicy::Never,
                tls,
                helo_name,
                target_host,
                addr,
                message,
            );
            (plain, Some(why))
        }
        _ => (first, None),
    }
}

/// What TLS-RPT records of a session under a policy: success when TLS was set up, the
/// kind of failure when TLS failed, nothing when the session never got that far.
fn rpt_result(
    outcome: &SessionOutcome,
    broke: Option<&str>,
    host: &str,
    addr: SocketAddr,
) -> Option<SessionResult> {
    let failure = |text: &str| SessionResult::Failure {
        result_type: ResultType::of_failure(text),
        mx: host.to_string(),
        ip: addr.ip().to_string(),
    };
    if let Some(why) = broke {
        return Some(failure(why));
    }
    if outcome.tls.is_some() {
        return Some(SessionResult::Success);
    }
    let tls_failure = outcome.recipients.iter().find_map(|r| match r {
        RecipientResult::Deferred(t) if t.contains("TLS") => Some(failure(t)),
        _ => None,
    });
    // A session that went on in plain text (testing mode): the MX offered no STARTTLS.
    let talked = (outcome.recipients.iter()).any(|r| {
        matches!(
            r,
            RecipientResult::Delivered(_) | RecipientResult::Failed(_, Some(_))
        )
    });
    tls_failure.or_else(|| talked.then(|| failure("the server does not offer STARTTLS")))
}

fn deferred_all(message: &ClientMessage, text: String) -> SessionOutcome {
    SessionOutcome {
        recipients: message
            .recipients
            .iter()
            .map(|_| RecipientResult::Deferred(text.clone()))
            .collect(),
        try_next_host: true,
        tls: None,
    }
}

fn session_with(
    id: &str,
    policy: TlsPolicy,
    tls: &OutboundTls,
    helo_name: &str,
    target_host: &str,
    addr: SocketAddr,
    message: ClientMessage,
) -> SessionOutcome {
    let tcp = match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
        Ok(t) => t,
        Err(e) => {
            return deferred_all(
                &message,
                format!(
                    "connect to {target_host}[{}]:{}: {e}",
                    addr.ip(),
                    addr.port()
                ),
            )
        }
    };
    let _ = tcp.set_nodelay(true);
    let mut config = ClientConfig::default();
    config.helo_name = helo_name.to_string();
    config.tls = if tls.config.is_some() {
        policy
    } else {
        TlsPolicy::Never
    };
    let mut client = SmtpClient::new(config, message, Instant::now());
    let mut conn = OutConn::Plain(tcp);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while let Some(out) = client.poll_transmit() {
            if conn.write_all(&out).and_then(|_| conn.flush()).is_err() {
                client.handle_eof(Instant::now());
            }
        }
        match client.poll_event() {
            Some(ClientEvent::StartTls) => {
                let Some(cfg) = tls.config.clone() else {
                    client.tls_failed("no TLS configuration");
                    continue;
                };
                match conn.start_tls(cfg, target_host) {
                    Ok((c, info)) => {
                        tracing::info!(
                            "{id}: TLS to {target_host}[{}]:{}: {} {}",
                            addr.ip(),
                            addr.port(),
                            info.version,
                            info.cipher
                        );
                        conn = c;
                        client.tls_established(Instant::now(), info);
                    }
                    Err(e) => {
                        // The connection is unusable after a failed handshake.
                        client.tls_failed(&e.to_string());
                        return client.take_outcome().unwrap_or_else(|| SessionOutcome {
                            recipients: Vec::new(),
                            try_next_host: true,
                            tls: None,
                        });
                    }
                }
                continue;
            }
            Some(ClientEvent::Done) => {
                if let Some(o) = client.take_outcome() {
                    return o;
                }
                continue;
            }
            None => {}
        }
        if client.is_closed() {
            continue;
        }
        let now = Instant::now();
        let deadline = client
            .poll_timeout()
            .unwrap_or(now + Duration::from_secs(1));
        let wait = deadline
            .saturating_duration_since(now)
            .clamp(Duration::from_millis(1), Duration::from_secs(5));
        if conn.tcp().set_read_timeout(Some(wait)).is_err() {
            client.handle_eof(Instant::now());
            continue;
        }
        match conn.read(&mut buf) {
            Ok(0) => client.handle_eof(Instant::now()),
            Ok(n) => client.handle_input(Instant::now(), &buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                client.handle_timeout(Instant::now())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => client.handle_eof(Instant::now()),
        }
    }
}

/// The result of delivering to one destination: per recipient, what happened and where.
#[derive(Debug, Clone)]
pub struct RemoteResult {
    /// The result, in the order of the recipients given.
    pub results: Vec<RecipientResult>,
    /// `host[ip]:port` of the last server tried, or `none`.
    pub relay: String,
    /// The host name of the last server that answered, for Remote-MTA.
    pub remote_mta: Option<String>,
}

/// Delivers `content` from `sender` to `recipients` (all of `domain`), trying each
/// route in turn.
pub fn deliver(
    id: &str,
    settings: &Settings,
    resolver: &Resolver,
    tls: &OutboundTls,
    domain: &str,
    message: ClientMessage,
) -> RemoteResult {
    let routed = route(settings, resolver, domain)
        .and_then(|targets| apply_mta_sts(id, settings, resolver, tls, domain, &message, targets));
    let Sts {
        targets,
        tls: strict,
        report,
    } = match routed {
        Ok(v) => v,
        Err(f) => return failure_result(&message, &f),
    };
    let tls = strict.as_ref().unwrap_or(tls);
    let recorder = Recorder::new(&settings.config.data_dir);
    let helo = settings.config.hostname.as_str();
    let mut last = None;
    let all: Vec<(&str, SocketAddr)> = targets
        .iter()
        .flat_map(|t| t.addrs.iter().map(move |a| (t.host.as_str(), *a)))
        .collect();
    for (k, &(host, addr)) in all.iter().enumerate() {
        let (outcome, broke) = session(id, tls, helo, host, addr, message.clone());
        if let Some(policy) = &report {
            if let Some(r) = rpt_result(&outcome, broke.as_deref(), host, addr) {
                let now = postrider_store::queue::unix_now();
                recorder.record(domain, &policy.to_text(), &r, now);
            }
        }
        let relay = format!("{host}[{}]:{}", addr.ip(), addr.port());
        let next = outcome.try_next_host;
        last = Some(RemoteResult {
            results: outcome.recipients,
            relay,
            remote_mta: Some(host.to_string()),
        });
        if !next {
            break;
        }
        if k + 1 < all.len() {
            tracing::info!("{id}: {host}[{}]: trying the next address", addr.ip());
        }
    }
    last.unwrap_or_else(|| unreachable_result(&message))
}

/// What the MTA-STS policy of `domain` and the message's own wishes (RFC 8689: the
/// `REQUIRETLS` option, a `TLS-Required: No` field) ask of this delivery: the hosts to
/// try, and the TLS configuration to use when it is not `tls`.
/// - `enforce` (unless `TLS-Required: No`): only the MX hosts the policy names, over
///   verified TLS; `testing`: MX hosts it does not name are logged and used.
/// - REQUIRETLS: verified TLS always; without a smarthost the MX hosts must be vouched
///   for by a policy (DNSSEC is not checked), else the message fails with 5.7.30.
///
/// An error is why nothing can be delivered now (temporary, as RFC 8461 §5 asks, or
/// permanent for REQUIRETLS). Sessions under a policy and failures to fetch one are
/// recorded for TLS-RPT.
fn apply_mta_sts(
    id: &str,
    settings: &Settings,
    resolver: &Resolver,
    tls: &OutboundTls,
    domain: &str,
    message: &ClientMessage,
    targets: Vec<Target>,
) -> Result<Sts, RouteFailure> {
    let no_ca = || {
        route_failure(
            true,
            format!("{domain} requires verified TLS, but no trusted CA certificates are available"),
            (4, 7, 5),
        )
    };
    let plain = |targets, tls| Sts {
        targets,
        tls,
        report: None,
    };
    let direct = settings.config.delivery.smarthost.is_empty() && address_literal(domain).is_none();
    if !direct {
        if message.require_tls {
            return Ok(plain(targets, Some(tls.strict().ok_or_else(no_ca)?)));
        }
        return Ok(plain(targets, None));
    }
    let cache = PolicyCache::new(&settings.config.data_dir);
    let recorder = Recorder::new(&settings.config.data_dir);
    let now = postrider_store::queue::unix_now();
    let (policy, fetch_failed) =
        mta_sts::policy_for(&cache, resolver, tls.verified.as_ref(), domain, now);
    if let Some(kind) = fetch_failed {
        let failure = SessionResult::Failure {
            result_type: kind,
            mx: format!("mta-sts.{domain}"),
            ip: String::new(),
        };
        recorder.record(domain, "", &failure, now);
    }
    let policy = policy.filter(|p| p.mode != Mode::None);
    let waived = !message.require_tls && tls_not_required(&message.content);
    let Some(policy) = policy.filter(|_| !waived) else {
        if message.require_tls {
            return Err(route_failure(
                false,
                format!("REQUIRETLS: the MX hosts of {domain} cannot be authenticated (no MTA-STS policy; DNSSEC is not checked)"),
                (5, 7, 30),
            ));
        }
        if waived {
            tracing::info!("{id}: {domain}: TLS-Required: No: its MTA-STS policy is not applied");
        }
        return Ok(plain(targets, None));
    };
    for t in targets.iter().filter(|t| !policy.allows_mx(&t.host)) {
        if policy.mode == Mode::Testing {
            tracing::warn!(
                "{id}: MTA-STS (testing): {} is not an MX host the policy of {domain} names",
                t.host
            );
        }
        let failure = SessionResult::Failure {
            result_type: ResultType::ValidationFailure,
            mx: t.host.clone(),
            ip: String::new(),
        };
        recorder.record(domain, &policy.to_text(), &failure, now);
    }
    if policy.mode == Mode::Testing && !message.require_tls {
        // Verified TLS when it works (and reported when not), plain text otherwise.
        let testing = tls.verified.clone().map(|v| OutboundTls {
            policy: TlsPolicy::Opportunistic,
            config: Some(v.clone()),
            verified: Some(v),
        });
        return Ok(Sts {
            targets,
            tls: testing,
            report: Some(policy),
        });
    }
    let allowed: Vec<Target> = (targets.into_iter())
        .filter(|t| policy.allows_mx(&t.host))
        .collect();
    if allowed.is_empty() {
        return Err(route_failure(
            !message.require_tls,
            format!("MTA-STS: none of the MX hosts of {domain} is named by its policy"),
            if message.require_tls {
                (5, 7, 30)
            } else {
                (4, 7, 5)
            },
        ));
    }
    Ok(Sts {
        targets: allowed,
        tls: Some(tls.strict().ok_or_else(no_ca)?),
        report: Some(policy),
    })
}

/// The hosts a delivery tries and how, after MTA-STS and REQUIRETLS had their say.
struct Sts {
    /// The hosts to try.
    targets: Vec<Target>,
    /// The TLS configuration to use instead of the default one.
    tls: Option<OutboundTls>,
    /// The policy whose sessions TLS-RPT reports.
    report: Option<Policy>,
}

/// Every recipient failed (or deferred) for the same reason, before any connection.
fn failure_result(message: &ClientMessage, f: &RouteFailure) -> RemoteResult {
    let reply = Reply::new(
        if f.temporary { 450 } else { 550 },
        f.status,
        f.text.clone(),
    );
    let results = (message.recipients.iter())
        .map(|_| {
            if f.temporary {
                RecipientResult::Deferred(f.text.clone())
            } else {
                RecipientResult::Failed(f.text.clone(), Some(reply.clone()))
            }
        })
        .collect();
    RemoteResult {
        results,
        relay: "none".into(),
        remote_mta: None,
    }
}

fn unreachable_result(message: &ClientMessage) -> RemoteResult {
    RemoteResult {
        results: deferred_all(message, "no address to try".into()).recipients,
        relay: "none".into(),
        remote_mta: None,
    }
}
