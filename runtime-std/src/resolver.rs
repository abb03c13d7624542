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
        let mut v4: Option<UdpSocket> = None;
        let mut v6: Option<UdpSocket> = None;
        let mut buf = vec![0u8; 65_535];
        let mut waiting_on: Option<bool> = None;
        loop {
            if let Some(r) = lookup.take_result() {
                return r;
            }
            if let Some(tx) = lookup.poll_transmit() {
                match tx.transport {
                    Transport::Tcp => {
                        waiting_on = None;
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
                        let is_v6 = tx.server.is_ipv6();
                        let slot = if is_v6 { &mut v6 } else { &mut v4 };
                        let sent = udp_socket(slot, is_v6)
                            .and_then(|s| s.send_to(&tx.bytes, tx.server).map(drop));
                        match sent {
                            Ok(()) => waiting_on = Some(is_v6),
                            Err(e) => {
                                waiting_on = None;
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
            let Some(is_v6) = waiting_on else {
                // Nothing outstanding and no result: let the machine move on.
                lookup.handle_timeout(Instant::now() + self.config.timeout);
                continue;
            };
            let sock = if is_v6 { v6.as_ref() } else { v4.as_ref() };
            let Some(sock) = sock else {
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
            match sock.recv_from(&mut buf) {
                Ok((n, from)) => lookup.handle_response(Instant::now(), from, &buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    lookup.handle_timeout(Instant::now())
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => lookup.handle_send_error(Instant::now(), &format!("DNS: {e}")),
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

fn udp_socket(slot: &mut Option<UdpSocket>, v6: bool) -> io::Result<&UdpSocket> {
    if slot.is_none() {
        let bind: SocketAddr = if v6 {
            "[::]:0".parse().map_err(io::Error::other)?
        } else {
            "0.0.0.0:0".parse().map_err(io::Error::other)?
        };
        *slot = Some(UdpSocket::bind(bind)?);
    }
    slot.as_ref().ok_or_else(|| io::Error::other("no socket"))
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
