//! TLS-RPT for outbound mail (RFC 8460): each delivery session to a domain with an
//! MTA-STS policy is recorded (success or the kind of failure) under
//! `data_dir/tls-rpt/DAY/DOMAIN` (DAY: the UTC midnight in Unix seconds), with the policy
//! text beside it (`DOMAIN.policy`). Once a day is over, one aggregate report per domain
//! goes to the `rua` destinations of its `_smtp._tls` record: `mailto:` as a queued
//! message (DKIM-signed like other local mail when a key matches), `https:` as a POST of
//! the gzipped JSON. The queue runner's helper thread does it hourly;
//! `postrider tls-rpt send` does it at once.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use flate2::write::GzEncoder;
use flate2::Compression;
use postrider_core::delivery::trace::Protocol;
use postrider_core::dns::{DnsRecord, LookupResult, RecordType};
use postrider_core::imf::datetime::WallClock;
use postrider_core::mta_sts::parse_tlsrpt_record;
use postrider_core::tls_rpt::{report_json, report_message, ReportInput, SessionResult};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

use crate::context::Context;
use crate::resolver::Resolver;
use crate::sendmail::{queue_local, LocalSubmission, ReceivedFrom};

pub mod recorder;

pub use recorder::Recorder;
use recorder::DAY;

/// Sends the reports of every day that is over (and with `include_today`, of today too):
/// how many reports went out.
pub fn send_due(ctx: &Context, resolver: &Resolver, now: i64, include_today: bool) -> usize {
    let dir = Recorder::new(&ctx.settings().config.data_dir)
        .dir()
        .to_path_buf();
    let today = now - now.rem_euclid(DAY);
    let Ok(days) = fs::read_dir(&dir) else {
        return 0;
    };
    let mut sent = 0;
    for day in days.flatten() {
        let Some(start) = day.file_name().to_str().and_then(|d| d.parse::<i64>().ok()) else {
            continue;
        };
        if start >= today && !include_today {
            continue;
        }
        sent += send_day(ctx, resolver, &day.path(), start);
        let _ = fs::remove_dir(day.path());
    }
    sent
}

/// The reports of one day, one per domain; the records are removed once handled.
fn send_day(ctx: &Context, resolver: &Resolver, day: &Path, start: i64) -> usize {
    let Ok(entries) = fs::read_dir(day) else {
        return 0;
    };
    let mut sent = 0;
    for e in entries.flatten() {
        let domain = e.file_name().to_string_lossy().into_owned();
        if domain.ends_with(".policy") {
            continue;
        }
        let policy_file = day.join(format!("{domain}.policy"));
        let sessions: Vec<SessionResult> = fs::read_to_string(e.path())
            .unwrap_or_default()
            .lines()
            .filter_map(SessionResult::parse)
            .collect();
        let policy = fs::read_to_string(&policy_file).unwrap_or_default();
        if !sessions.is_empty() {
            sent += send_report(ctx, resolver, &domain, start, &policy, &sessions);
        }
        let _ = fs::remove_file(e.path());
        let _ = fs::remove_file(policy_file);
    }
    sent
}

/// The `rua` destinations of `domain` (none without a valid `_smtp._tls` record).
fn destinations(resolver: &Resolver, domain: &str) -> Vec<String> {
    match resolver.lookup(&format!("_smtp._tls.{domain}"), RecordType::Txt) {
        LookupResult::Records(records) => {
            let txts: Vec<&str> = (records.iter())
                .filter_map(|r| match r {
                    DnsRecord::Txt(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect();
            parse_tlsrpt_record(txts).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

/// Builds the report of `domain` for the day at `start` and sends it to each of its
/// destinations; 1 when it went to at least one.
fn send_report(
    ctx: &Context,
    resolver: &Resolver,
    domain: &str,
    start: i64,
    policy: &str,
    sessions: &[SessionResult],
) -> usize {
    let rua = destinations(resolver, domain);
    if rua.is_empty() {
        return 0;
    }
    let settings = ctx.settings();
    let hostname = settings.config.hostname.as_str();
    let contact = format!("postmaster@{}", ctx.settings().primary_domain());
    let report_id = format!(
        "{start}.{domain}.{}",
        postrider_store::queue::new_queue_id()
    );
    let input = ReportInput {
        organization: hostname,
        contact: &contact,
        report_id: &report_id,
        start,
        domain,
        policy,
        sessions,
    };
    let json = report_json(&input);
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    let Ok(gzipped) = gz.write_all(json.as_bytes()).and_then(|()| gz.finish()) else {
        return 0;
    };
    let mut any = false;
    for dest in rua {
        let result = if let Some(addr) = dest.strip_prefix("mailto:") {
            let addr = addr.split('?').next().unwrap_or(addr);
            let message = report_message(
                &contact,
                addr,
                hostname,
                &input,
                &gzipped,
                WallClock::utc(postrider_store::queue::unix_now()),
            );
            queue_report(ctx, &contact, addr, &message)
        } else {
            post(resolver, &dest, &gzipped)
        };
        match result {
            Ok(how) => {
                tracing::info!("TLS-RPT: report {report_id} for {domain} sent to {dest} ({how})");
                any = true;
            }
            Err(e) => tracing::warn!("TLS-RPT: report for {domain} to {dest}: {e}"),
        }
    }
    usize::from(any)
}

/// Queues the report message to `to`; the queue id.
fn queue_report(ctx: &Context, from: &str, to: &str, message: &[u8]) -> Result<String, String> {
    let spool =
        (ctx.queue.create_spool()).map_err(|e| format!("cannot write to the queue: {e}"))?;
    let recipients = [to.to_string()];
    let id = queue_local(
        ctx,
        spool,
        &LocalSubmission {
            sender: from,
            recipients: &recipients,
            message,
            received: ReceivedFrom {
                client_ip: None,
                authenticated: None,
                protocol: Protocol::Local,
                comment: "postrider TLS-RPT",
            },
            log_origin: "TLS-RPT",
        },
    )?;
    Ok(format!("queued as {id}"))
}

/// POSTs the report to an `https:` destination (RFC 8460 §5.4), verified TLS.
fn post(resolver: &Resolver, url: &str, gzipped: &[u8]) -> Result<String, String> {
    let rest = url.strip_prefix("https://").ok_or("not an https URL")?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| "bad port")?),
        None => (authority, 443),
    };
    let tls = crate::tls::verified_client_config()?.ok_or("no trusted CA certificates")?;
    let ips = resolver
        .addresses(host)
        .map_err(|e| format!("{host}: {e:?}"))?;
    let ip = ips.first().ok_or("no address")?;
    let tcp = TcpStream::connect_timeout(&SocketAddr::new(*ip, port), Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    let conn = ClientConnection::new(tls, name).map_err(|e| e.to_string())?;
    let mut s = StreamOwned::new(conn, tcp);
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        gzipped.len()
    );
    (s.write_all(head.as_bytes()))
        .and_then(|()| s.write_all(gzipped))
        .and_then(|()| s.flush())
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while answer.len() < 16 * 1024 && !answer.windows(2).any(|w| w == b"\r\n") {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    let status = String::from_utf8_lossy(&answer);
    let code = status.split(' ').nth(1).unwrap_or("");
    if code.starts_with('2') {
        Ok(format!("HTTP {code}"))
    } else {
        Err(format!(
            "HTTP answer {:?}",
            status.lines().next().unwrap_or("")
        ))
    }
}

/// The helper thread of the queue runner: sends the reports of finished days, hourly.
pub fn run(ctx: Arc<Context>) {
    let resolver = Resolver::from_settings(&ctx.settings());
    let mut last = None::<std::time::Instant>;
    while !ctx.shutting_down() {
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
            send_due(&ctx, &resolver, postrider_store::queue::unix_now(), false);
            last = Some(std::time::Instant::now());
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
