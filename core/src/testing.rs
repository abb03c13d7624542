//! Test helpers (feature `testing`): a driver that runs an [`SmtpServer`] against scripted
//! input with a virtual clock and a simple in-memory policy, recording everything it says.

use std::time::{Duration, Instant};

use crate::imf::datetime::WallClock;
use crate::machine::{AuthOutcome, Machine, PeerInfo, TlsInfo};
use crate::smtp::parse::reply;
use crate::smtp::{
    DataTicket, EnhancedCode, Envelope, ForwardPath, Reply, SmtpEvent, SmtpServer,
    SmtpServerConfig, Verdict,
};

/// Runs a server machine in memory and answers its events inline.
#[derive(Debug)]
pub struct SmtpTestDriver {
    /// The machine under test.
    pub server: SmtpServer,
    /// The virtual clock.
    pub now: Instant,
    /// Local parts accepted by RCPT (case-insensitive); empty accepts everyone.
    pub local_users: Vec<String>,
    /// Everything the server wrote, in order.
    pub transcript: Vec<u8>,
    /// Every event the server emitted, in order.
    pub events: Vec<SmtpEvent>,
    /// Messages completed and "queued": envelope and body (Received field included).
    pub messages: Vec<(Envelope, Vec<u8>)>,
    /// Whether a STARTTLS handshake is pending.
    pub tls_requested: bool,
    /// Accounts AUTH accepts: (user, password).
    pub accounts: Vec<(String, String)>,
    /// How long every AUTH answer is held (a login penalty; zero by default).
    pub auth_hold: Duration,
    /// LMTP: local parts whose delivery fails after the data (452 4.2.2, mailbox full).
    pub full_mailboxes: Vec<String>,
    lmtp: bool,
    body: Vec<u8>,
    next_id: u32,
}

/// A peer address for tests.
pub fn test_peer() -> PeerInfo {
    PeerInfo {
        remote: core::net::SocketAddr::from(([192, 0, 2, 1], 40000)),
        local: core::net::SocketAddr::from(([192, 0, 2, 2], 25)),
    }
}

impl SmtpTestDriver {
    /// A driver with `config`, accepting the given local users, starting at `now` (the
    /// caller's clock reading: the core never reads one).
    pub fn new(config: SmtpServerConfig, local_users: &[&str], now: Instant) -> Self {
        let lmtp = config.lmtp;
        let mut d = Self {
            server: SmtpServer::new(config, test_peer(), now),
            now,
            local_users: local_users.iter().map(|s| s.to_string()).collect(),
            transcript: Vec::new(),
            events: Vec::new(),
            messages: Vec::new(),
            tls_requested: false,
            accounts: vec![("alice".into(), "secret".into())],
            auth_hold: Duration::ZERO,
            full_mailboxes: Vec::new(),
            lmtp,
            body: Vec::new(),
            next_id: 1,
        };
        d.pump();
        d
    }

    /// Feeds client bytes and runs the machine until it is idle.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.server.handle_input(self.now, bytes);
        self.pump();
    }

    /// Advances the virtual clock and delivers a timeout if one is due.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        if self.server.poll_timeout().is_some_and(|t| t <= self.now) {
            self.server.handle_timeout(self.now);
        }
        self.pump();
    }

    /// Completes a requested STARTTLS.
    pub fn finish_tls(&mut self) {
        self.tls_requested = false;
        self.server.tls_established(
            self.now,
            TlsInfo {
                version: "TLSv1.3".into(),
                cipher: "TEST".into(),
            },
        );
        self.pump();
    }

    /// Drains transmits and events, answering questions, until nothing is left.
    pub fn pump(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(out) = self.server.poll_transmit() {
                self.transcript.extend_from_slice(&out);
                progressed = true;
            }
            while let Some(ev) = self.server.poll_event() {
                progressed = true;
                self.events.push(ev.clone());
                self.answer(ev);
            }
            if !progressed {
                break;
            }
        }
    }

    fn answer(&mut self, ev: SmtpEvent) {
        match ev {
            SmtpEvent::Helo { token, .. } | SmtpEvent::MailFrom { token, .. } => {
                self.server.respond(token, Verdict::Accept)
            }
            SmtpEvent::RcptTo { token, to, .. } => {
                let ok = match &to {
                    ForwardPath::Postmaster => true,
                    ForwardPath::Mailbox(m) => {
                        self.local_users.is_empty()
                            || self
                                .local_users
                                .iter()
                                .any(|u| u.eq_ignore_ascii_case(&m.local_part))
                    }
                };
                let verdict = if ok {
                    Verdict::Accept
                } else {
                    Verdict::Reject(Reply::new(
                        550,
                        EnhancedCode::new(5, 1, 1),
                        "No such user here",
                    ))
                };
                self.server.respond(token, verdict);
            }
            SmtpEvent::DataStart { token } => {
                self.body.clear();
                let queue_id = format!("Q{:04}", self.next_id);
                self.next_id += 1;
                self.server.data_start(
                    token,
                    Ok(DataTicket {
                        queue_id,
                        now: WallClock::utc(0),
                    }),
                );
            }
            SmtpEvent::BodyChunk(b) => self.body.extend_from_slice(&b),
            SmtpEvent::DataAborted => self.body.clear(),
            SmtpEvent::MessageComplete {
                token, envelope, ..
            } => {
                let replies = self.delivery_replies(&envelope);
                self.messages
                    .push((envelope, std::mem::take(&mut self.body)));
                match replies {
                    Some(replies) => self.server.message_delivered(token, replies),
                    None => self.server.message_queued(token, Ok(())),
                }
            }
            SmtpEvent::StartTls => self.tls_requested = true,
            SmtpEvent::Auth {
                token, credentials, ..
            } => {
                let ok = self
                    .accounts
                    .iter()
                    .any(|(u, p)| *u == credentials.username && p == credentials.password.expose());
                let outcome = if ok {
                    AuthOutcome::Success(credentials.username)
                } else {
                    AuthOutcome::Failure
                };
                self.server.auth_result(token, outcome, self.auth_hold);
            }
            SmtpEvent::Vrfy { token, argument } => {
                let name = argument.trim_matches(|c| c == '<' || c == '>');
                let name = name.split('@').next().unwrap_or(name);
                let verdict = if self
                    .local_users
                    .iter()
                    .any(|u| u.eq_ignore_ascii_case(name))
                {
                    Verdict::Accept
                } else {
                    Verdict::Reject(Reply::new(550, EnhancedCode::new(5, 1, 1), "User unknown"))
                };
                self.server.respond(token, verdict);
            }
            _ => {}
        }
    }

    /// LMTP: one reply per recipient (None for SMTP, where the message is queued).
    fn delivery_replies(&self, envelope: &Envelope) -> Option<Vec<Reply>> {
        if !self.lmtp {
            return None;
        }
        let replies = envelope.recipients.iter().map(|(to, _)| {
            let full = matches!(to, ForwardPath::Mailbox(m)
                if self.full_mailboxes.iter().any(|u| u.eq_ignore_ascii_case(&m.local_part)));
            if full {
                Reply::new(
                    452,
                    EnhancedCode::new(4, 2, 2),
                    format!("<{to}> Mailbox full"),
                )
            } else {
                Reply::new(
                    250,
                    EnhancedCode::new(2, 0, 0),
                    format!("<{to}> Ok: delivered"),
                )
            }
        });
        Some(replies.collect())
    }

    /// The replies written so far, parsed.
    pub fn replies(&self) -> Vec<Reply> {
        let mut out = Vec::new();
        let mut rest: &[u8] = &self.transcript;
        while let Ok((r, rep)) = reply(rest) {
            out.push(rep);
            rest = r;
        }
        out
    }

    /// Just the reply codes.
    pub fn codes(&self) -> Vec<u16> {
        self.replies().iter().map(|r| r.code).collect()
    }
}

/// `input` cut at the positions `cuts` gives (each taken modulo the length, in order): the
/// pieces a split property test feeds one after the other.
pub fn split_at_cuts<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % input.len().max(1)).collect();
    points.sort_unstable();
    let mut pieces = Vec::with_capacity(points.len() + 1);
    let mut at = 0;
    for p in points {
        pieces.push(&input[at..p]);
        at = p;
    }
    pieces.push(&input[at..]);
    pieces
}
