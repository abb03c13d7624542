//! Blocking DNS: drives the core's stub resolver machine over UDP sockets (a fresh random
//! source port per lookup, chosen by the kernel) and TCP for truncated answers. Servers
//! come from `[dns] servers`, else /etc/resolv.conf.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use postrider_core::dns::{
    parse_resolv_conf, DnsConfig, DnsLookup, DnsRecord, LookupResult, RecordType, Transport,
};

use crate::config::Settings;

/// A resolver bound to a list of servers.
#[derive(Debug, Clone)]
pub struct Resolver {
    servers: Vec<SocketAddr>,
    config: DnsConfig,
}

impl Resolver {
    /// The servers of `[dns] servers` (port 53 when none is given), else those of
    /// /etc/resolv.conf.
    pub fn from_settings(settings: &Settings) -> Self {
        let servers = match &settings.config.dns.servers {
            Some(list) => list
                .iter()
                .filter_map(|s| {
                    s.parse::<SocketAddr>()
                        .ok()
                        .or_else(|| s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
                })
                .collect(),
            None => {
                parse_resolv_conf(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default())
            }
        };
        Self {
            servers,
            config: DnsConfig::default(),
        }
    }

    /// The same servers with a short budget (one round, 1 s per server), for checks made
    /// while an SMTP client waits for its reply (SPF, DKIM keys, DMARC): a resolver that
    /// drops queries must not hold the 250 for long.
    pub fn impatient(mut self) -> Self {
        self.config = DnsConfig {
            timeout: std::time::Duration::from_secs(1),
            attempts: 1,
        };
        self
    }

    /// Looks `name` up.
    pub fn lookup(&self, name: &str, rtype: RecordType) -> LookupResult {
        let mut lookup = DnsLookup::new(
            name,
            rtype,
            &self.servers,
            self.config.clone(),
            OsRng.next_u64(),
            Instant::now(),
        );
        // One socket per UDP query, connected to its server: a fresh source port each
        // time, only that server's answers accepted, and an ICMP "port unreachable"
        // reported at once (ECONNREFUSED) instead of waiting for the timeout.
        let mut udp: Option<(UdpSocket, SocketAddr)> = None;
        let mut buf = vec![0u8; 65_535];
        loop {
            if let Some(r) = lookup.take_result() {
                return r;
            }
            if let Some(tx) = lookup.poll_transmit() {
                match tx.transport {
                    Transport::Tcp => {
                        udp = None;
                        match tcp_exchange(tx.server, &tx.bytes, self.config.timeout) {
                            Ok(answer) => {
                                lookup.handle_response(Instant::now(), tx.server, &answer)
                            }
                            Err(e) => lookup.handle_send_error(
                                Instant::now(),
                                &format!("DNS over TCP to {}: {e}", tx.server),
                            ),
                        }
                    }
                    Transport::Udp => {
                        let sent = connected_udp(tx.server).and_then(|s| {
                            s.send(&tx.bytes)?;
                            Ok(s)
                        });
                        match sent {
                            Ok(s) => udp = Some((s, tx.server)),
                            Err(e) => {
                                udp = None;
                                lookup.handle_send_error(
                                    Instant::now(),
                                    &format!("DNS query to {}: {e}", tx.server),
                                );
                            }
                        }
                    }
                }
                continue;
            }
            let Some((sock, server)) = udp.as_ref() else {
                // Nothing outstanding and no result: let the machine move on.
                lookup.handle_timeout(Instant::now() + self.config.timeout);
                continue;
            };
            let now = Instant::now();
            let deadline = lookup.poll_timeout().unwrap_or(now);
            let wait = deadline.saturating_duration_since(now);
            if wait.is_zero() {
                lookup.handle_timeout(now);
                continue;
            }
            let _ = sock.set_read_timeout(Some(wait));
            match sock.recv(&mut buf) {
                Ok(n) => lookup.handle_response(Instant::now(), *server, &buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    lookup.handle_timeout(Instant::now())
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let server = *server;
                    udp = None;
                    lookup.handle_send_error(Instant::now(), &format!("DNS from {server}: {e}"))
                }
            }
        }
    }

    /// The addresses of `host` (A first, then AAAA). `Err` carries a temporary failure.
    pub fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, AddressError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let mut out = Vec::new();
        let mut temporary = None;
        let mut missing = 0;
        for rtype in [RecordType::A, RecordType::Aaaa] {
            match self.lookup(host, rtype) {
                LookupResult::Records(rs) => out.extend(rs.into_iter().filter_map(|r| match r {
                    DnsRecord::Address(ip) => Some(ip),
                    _ => None,
                })),
                LookupResult::NoData => {}
                LookupResult::NxDomain => missing += 1,
                LookupResult::Failed(e) => temporary = Some(e),
            }
        }
        if !out.is_empty() {
            Ok(out)
        } else if let Some(e) = temporary {
            Err(AddressError::Temporary(e))
        } else if missing > 0 {
            Err(AddressError::NotFound)
        } else {
            Err(AddressError::NoAddress)
        }
    }
}

/// Why a host has no usable address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    /// The name does not exist.
    NotFound,
    /// The name exists but has no A or AAAA record.
    NoAddress,
    /// The lookup failed for now.
    Temporary(String),
}

fn connected_udp(server: SocketAddr) -> io::Result<UdpSocket> {
    let bind: SocketAddr = if server.is_ipv6() {
        "[::]:0".parse().map_err(io::Error::other)?
    } else {
        "0.0.0.0:0".parse().map_err(io::Error::other)?
    };
    let s = UdpSocket::bind(bind)?;
    s.connect(server)?;
    Ok(s)
}

/// One query over TCP (RFC 7766): two-octet length, the message, the same back.
fn tcp_exchange(server: SocketAddr, query: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&server, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let len = u16::try_from(query.len()).map_err(io::Error::other)?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    s.write_all(&framed)?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len)?;
    let mut answer = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut answer)?;
    Ok(answer)
}
