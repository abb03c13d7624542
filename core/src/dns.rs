//! A stub resolver as a state machine (RFC 1035 §7, RFC 7766 for TCP): builds queries
//! with simple-dns, checks and parses answers, tries each configured server in turn with
//! a timeout, repeats over TCP when an answer is truncated, and follows CNAME chains.
//!
//! # Run loop
//! 1. [`DnsLookup::new`] with the name, the record type, the servers, and a random seed
//!    from the runtime (query IDs come from it; the runtime's socket picks a random
//!    source port).
//! 2. Send every [`DnsLookup::poll_transmit`] (over UDP, or over TCP with the two-octet
//!    length prefix when `transport` says so); pass each datagram or TCP message that
//!    comes back to [`DnsLookup::handle_response`]; pass expired deadlines
//!    ([`DnsLookup::poll_timeout`]) to [`DnsLookup::handle_timeout`].
//! 3. Stop when [`DnsLookup::result`] is `Some`.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use simple_dns::rdata::RData;
use simple_dns::{Name, Packet, PacketFlag, Question, CLASS, QCLASS, QTYPE, RCODE, TYPE};

/// The record types the mail system asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Mail exchanger (RFC 5321 §5.1).
    Mx,
    /// Text (SPF, DKIM, DMARC).
    Txt,
    /// Pointer (reverse lookups for SPF's `ptr` and `%{p}`).
    Ptr,
}

impl RecordType {
    fn qtype(self) -> TYPE {
        match self {
            RecordType::A => TYPE::A,
            RecordType::Aaaa => TYPE::AAAA,
            RecordType::Mx => TYPE::MX,
            RecordType::Txt => TYPE::TXT,
            RecordType::Ptr => TYPE::PTR,
        }
    }
}

/// One answer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsRecord {
    /// An address (A or AAAA).
    Address(IpAddr),
    /// A mail exchanger.
    Mx {
        /// Lower is preferred.
        preference: u16,
        /// The exchanger's host name, without the trailing dot (`""` for a null MX).
        exchange: String,
    },
    /// A TXT record, its strings joined.
    Txt(String),
    /// A PTR record's target name, without the trailing dot.
    Ptr(String),
}

/// The final answer of a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupResult {
    /// Records of the asked type (never empty).
    Records(Vec<DnsRecord>),
    /// The name exists but has no records of this type.
    NoData,
    /// The name does not exist (NXDOMAIN), or is not a valid name.
    NxDomain,
    /// No server gave a usable answer (timeouts, SERVFAIL, REFUSED): try again later.
    Failed(String),
}

/// How to send a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// One UDP datagram.
    Udp,
    /// A TCP connection; the runtime adds and strips the two-octet length prefix.
    Tcp,
}

/// A query to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsTransmit {
    /// The server to send it to.
    pub server: SocketAddr,
    /// UDP or TCP.
    pub transport: Transport,
    /// The DNS message.
    pub bytes: Vec<u8>,
}

/// Timeouts and retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// Wait for one answer.
    pub timeout: Duration,
    /// Rounds over the server list.
    pub attempts: usize,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(3),
            attempts: 2,
        }
    }
}

/// Longest CNAME chain followed.
const MAX_CNAME_HOPS: usize = 8;

/// One lookup in progress.
#[derive(Debug)]
pub struct DnsLookup {
    name: String,
    rtype: RecordType,
    servers: Vec<SocketAddr>,
    config: DnsConfig,
    rng: u64,
    try_index: usize,
    transport: Transport,
    id: u16,
    deadline: Instant,
    hops: usize,
    last_error: String,
    outgoing: Option<DnsTransmit>,
    result: Option<LookupResult>,
}

/// The nameservers of a resolv.conf text (port 53).
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()).flatten()
        })
        .filter_map(|a| a.split('%').next()?.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

fn strip_dot(s: &str) -> String {
    s.strip_suffix('.').unwrap_or(s).to_string()
}

impl DnsLookup {
    /// Starts a lookup of `name` (a domain name; a trailing dot is allowed).
    pub fn new(
        name: &str,
        rtype: RecordType,
        servers: &[SocketAddr],
        config: DnsConfig,
        seed: u64,
        now: Instant,
    ) -> Self {
        let mut l = Self {
            name: strip_dot(name),
            rtype,
            servers: servers.to_vec(),
            config,
            rng: seed | 1,
            try_index: 0,
            transport: Transport::Udp,
            id: 0,
            deadline: now,
            hops: 0,
            last_error: "no DNS servers configured".into(),
            outgoing: None,
            result: None,
        };
        if l.servers.is_empty() {
            l.result = Some(LookupResult::Failed(l.last_error.clone()));
        } else {
            l.send_query(now);
        }
        l
    }

    /// The name being looked up now (after any CNAME).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The final result, once known.
    pub fn result(&self) -> Option<&LookupResult> {
        self.result.as_ref()
    }

    /// Takes the final result.
    pub fn take_result(&mut self) -> Option<LookupResult> {
        self.result.take()
    }

    /// The next query to send, if any.
    pub fn poll_transmit(&mut self) -> Option<DnsTransmit> {
        self.outgoing.take()
    }

    /// When [`DnsLookup::handle_timeout`] should be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.result.is_some() {
            None
        } else {
            Some(self.deadline)
        }
    }

    /// The server answering the current query, to check where answers come from.
    pub fn current_server(&self) -> Option<SocketAddr> {
        if self.servers.is_empty() {
            None
        } else {
            Some(self.servers[self.try_index % self.servers.len()])
        }
    }

    /// The current query timed out (or its TCP connection failed): next server.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.result.is_some() || now < self.deadline {
            return;
        }
        self.last_error = format!(
            "timeout asking {} for {} {:?}",
            self.current_server()
                .map(|s| s.to_string())
                .unwrap_or_default(),
            self.name,
            self.rtype
        );
        self.next_server(now);
    }

    /// The current query failed at once (e.g. a TCP connection was refused).
    pub fn handle_send_error(&mut self, now: Instant, error: &str) {
        if self.result.is_some() {
            return;
        }
        self.last_error = error.to_string();
        self.next_server(now);
    }

    /// An answer arrived from `from`. Answers that do not match the outstanding query
    /// (wrong server, ID or question: spoofing or stale) are ignored.
    pub fn handle_response(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if self.result.is_some() || Some(from) != self.current_server() {
            return;
        }
        let Ok(packet) = Packet::parse(bytes) else {
            return;
        };
        if packet.id() != self.id || !packet.has_flags(PacketFlag::RESPONSE) {
            return;
        }
        let question_matches = packet.questions.len() == 1
            && strip_dot(&packet.questions[0].qname.to_string()).eq_ignore_ascii_case(&self.name)
            && packet.questions[0].qtype == QTYPE::TYPE(self.rtype.qtype());
        if !question_matches {
            return;
        }
        if packet.has_flags(PacketFlag::TRUNCATION) && self.transport == Transport::Udp {
            self.transport = Transport::Tcp;
            self.send_query(now);
            return;
        }
        match packet.rcode() {
            RCODE::NoError => {}
            RCODE::NameError => {
                self.result = Some(LookupResult::NxDomain);
                return;
            }
            other => {
                self.last_error = format!(
                    "{} answered {:?} for {} {:?}",
                    from, other, self.name, self.rtype
                );
                self.next_server(now);
                return;
            }
        }
        // Follow the CNAME chain inside the answer, then collect the records.
        let mut owner = self.name.clone();
        for _ in 0..MAX_CNAME_HOPS {
            let next = packet.answers.iter().find_map(|rr| match &rr.rdata {
                RData::CNAME(c) if strip_dot(&rr.name.to_string()).eq_ignore_ascii_case(&owner) => {
                    Some(strip_dot(&c.0.to_string()))
                }
                _ => None,
            });
            match next {
                Some(target) => owner = target,
                None => break,
            }
        }
        let records: Vec<DnsRecord> = packet
            .answers
            .iter()
            .filter(|rr| strip_dot(&rr.name.to_string()).eq_ignore_ascii_case(&owner))
            .filter_map(|rr| self.record(&rr.rdata))
            .collect();
        if !records.is_empty() {
            self.result = Some(LookupResult::Records(records));
        } else if !owner.eq_ignore_ascii_case(&self.name) {
            // The chain ends at a name the answer has no records for: ask for it.
            self.hops += 1;
            if self.hops > MAX_CNAME_HOPS {
                self.result = Some(LookupResult::Failed(format!(
                    "CNAME chain too long at {owner}"
                )));
                return;
            }
            self.name = owner;
            self.try_index = 0;
            self.transport = Transport::Udp;
            self.send_query(now);
        } else {
            self.result = Some(LookupResult::NoData);
        }
    }

    fn record(&self, rdata: &RData<'_>) -> Option<DnsRecord> {
        match (self.rtype, rdata) {
            (RecordType::A, RData::A(a)) => {
                Some(DnsRecord::Address(IpAddr::V4(Ipv4Addr::from(a.address))))
            }
            (RecordType::Aaaa, RData::AAAA(a)) => {
                Some(DnsRecord::Address(IpAddr::V6(Ipv6Addr::from(a.address))))
            }
            (RecordType::Mx, RData::MX(mx)) => Some(DnsRecord::Mx {
                preference: mx.preference,
                exchange: strip_dot(&mx.exchange.to_string()),
            }),
            (RecordType::Txt, RData::TXT(t)) => {
                let strings: Vec<String> = t
                    .iter_raw()
                    .map(|(k, v)| match v {
                        Some(v) => format!(
                            "{}={}",
                            String::from_utf8_lossy(k),
                            String::from_utf8_lossy(v)
                        ),
                        None => String::from_utf8_lossy(k).into_owned(),
                    })
                    .collect();
                Some(DnsRecord::Txt(strings.concat()))
            }
            (RecordType::Ptr, RData::PTR(p)) => Some(DnsRecord::Ptr(strip_dot(&p.0.to_string()))),
            _ => None,
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: enough to spread query IDs; the seed is the runtime's randomness.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn next_server(&mut self, now: Instant) {
        self.try_index += 1;
        self.transport = Transport::Udp;
        if self.try_index >= self.servers.len() * self.config.attempts.max(1) {
            self.result = Some(LookupResult::Failed(self.last_error.clone()));
            return;
        }
        self.send_query(now);
    }

    fn send_query(&mut self, now: Instant) {
        self.id = (self.next_random() >> 48) as u16;
        let Some(server) = self.current_server() else {
            self.result = Some(LookupResult::Failed(self.last_error.clone()));
            return;
        };
        let Ok(name) = Name::new(&self.name) else {
            self.result = Some(LookupResult::NxDomain);
            return;
        };
        let mut packet = Packet::new_query(self.id);
        packet.set_flags(PacketFlag::RECURSION_DESIRED);
        packet.questions.push(Question::new(
            name,
            QTYPE::TYPE(self.rtype.qtype()),
            QCLASS::CLASS(CLASS::IN),
            false,
        ));
        match packet.build_bytes_vec() {
            Ok(bytes) => {
                self.outgoing = Some(DnsTransmit {
                    server,
                    transport: self.transport,
                    bytes,
                });
                self.deadline = now + self.config.timeout;
            }
            Err(_) => self.result = Some(LookupResult::NxDomain),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::rdata::{A, CNAME, MX};
    use simple_dns::ResourceRecord;

    fn server() -> SocketAddr {
        "127.0.0.1:5353".parse().unwrap()
    }

    fn answer(query: &[u8], f: impl FnOnce(&mut Packet<'_>)) -> Vec<u8> {
        let q = Packet::parse(query).unwrap();
        let mut p = Packet::new_reply(q.id());
        p.questions = q.questions.clone();
        f(&mut p);
        p.build_bytes_vec().unwrap()
    }

    #[test]
    fn mx_answer_and_spoofed_answers_ignored() {
        let now = Instant::now();
        let mut l = DnsLookup::new(
            "b.test.",
            RecordType::Mx,
            &[server()],
            DnsConfig::default(),
            7,
            now,
        );
        let q = l.poll_transmit().unwrap();
        assert_eq!(q.transport, Transport::Udp);
        let good = answer(&q.bytes, |p| {
            p.answers.push(ResourceRecord::new(
                Name::new_unchecked("b.test"),
                CLASS::IN,
                60,
                RData::MX(MX {
                    preference: 10,
                    exchange: Name::new_unchecked("mx.b.test"),
                }),
            ));
        });
        // From the wrong address: ignored.
        l.handle_response(now, "127.0.0.1:9".parse().unwrap(), &good);
        assert!(l.result().is_none());
        l.handle_response(now, server(), &good);
        assert_eq!(
            l.result(),
            Some(&LookupResult::Records(vec![DnsRecord::Mx {
                preference: 10,
                exchange: "mx.b.test".into()
            }]))
        );
    }

    #[test]
    fn nxdomain_nodata_truncation_cname_and_timeouts() {
        let now = Instant::now();
        let mut l = DnsLookup::new(
            "x.test",
            RecordType::A,
            &[server()],
            DnsConfig::default(),
            1,
            now,
        );
        let q = l.poll_transmit().unwrap();
        l.handle_response(
            now,
            server(),
            &answer(&q.bytes, |p| *p.rcode_mut() = RCODE::NameError),
        );
        assert_eq!(l.result(), Some(&LookupResult::NxDomain));

        let mut l = DnsLookup::new(
            "x.test",
            RecordType::A,
            &[server()],
            DnsConfig::default(),
            2,
            now,
        );
        let q = l.poll_transmit().unwrap();
        l.handle_response(now, server(), &answer(&q.bytes, |_| {}));
        assert_eq!(l.result(), Some(&LookupResult::NoData));

        let mut l = DnsLookup::new(
            "x.test",
            RecordType::A,
            &[server()],
            DnsConfig::default(),
            3,
            now,
        );
        let q = l.poll_transmit().unwrap();
        l.handle_response(
            now,
            server(),
            &answer(&q.bytes, |p| p.set_flags(PacketFlag::TRUNCATION)),
        );
        let q = l.poll_transmit().unwrap();
        assert_eq!(q.transport, Transport::Tcp);
        // A CNAME to a name whose address is not in the answer: asked next.
        l.handle_response(
            now,
            server(),
            &answer(&q.bytes, |p| {
                p.answers.push(ResourceRecord::new(
                    Name::new_unchecked("x.test"),
                    CLASS::IN,
                    60,
                    RData::CNAME(CNAME(Name::new_unchecked("y.test"))),
                ))
            }),
        );
        assert_eq!(l.name(), "y.test");
        let q = l.poll_transmit().unwrap();
        l.handle_response(
            now,
            server(),
            &answer(&q.bytes, |p| {
                p.answers.push(ResourceRecord::new(
                    Name::new_unchecked("y.test"),
                    CLASS::IN,
                    60,
                    RData::A(A {
                        address: 0x7f00_0002,
                    }),
                ))
            }),
        );
        assert_eq!(
            l.result(),
            Some(&LookupResult::Records(vec![DnsRecord::Address(
                "127.0.0.2".parse().unwrap()
            )]))
        );

        let two = [server(), "127.0.0.1:5354".parse().unwrap()];
        let cfg = DnsConfig {
            timeout: Duration::from_secs(1),
            attempts: 2,
        };
        let mut l = DnsLookup::new("x.test", RecordType::A, &two, cfg, 4, now);
        let mut sent = Vec::new();
        let mut t = now;
        while l.result().is_none() {
            if let Some(q) = l.poll_transmit() {
                sent.push(q.server);
            }
            t += Duration::from_secs(1);
            l.handle_timeout(t);
        }
        assert_eq!(sent, [two[0], two[1], two[0], two[1]]);
        assert!(matches!(l.result(), Some(LookupResult::Failed(_))));
    }

    #[test]
    fn resolv_conf() {
        let t = "# c\nnameserver 10.0.0.1\nsearch x\nnameserver fe80::1%eth0\noptions ndots:1\n";
        assert_eq!(
            parse_resolv_conf(t),
            vec![
                "10.0.0.1:53".parse::<SocketAddr>().unwrap(),
                "[fe80::1]:53".parse().unwrap()
            ]
        );
    }
}
