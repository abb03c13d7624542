//! The SMTP client state machine (RFC 5321 §3, §4; RFC 2920 pipelining; RFC 3207
//! STARTTLS; RFC 1870 SIZE; RFC 6152 8BITMIME; RFC 3461 DSN) in the handle_*/poll_*
//! shape of the server machine.
//!
//! # Run loop
//! 1. The runtime connects, then creates the machine with [`SmtpClient::new`].
//! 2. It passes bytes from the server to [`SmtpClient::handle_input`], end of stream to
//!    [`SmtpClient::handle_eof`], and expired deadlines ([`SmtpClient::poll_timeout`]) to
//!    [`SmtpClient::handle_timeout`].
//! 3. After each input it writes [`SmtpClient::poll_transmit`] and acts on
//!    [`SmtpClient::poll_event`]: [`ClientEvent::StartTls`] (handshake, then
//!    [`SmtpClient::tls_established`]) or [`ClientEvent::Done`] (take the result with
//!    [`SmtpClient::take_outcome`], then close).
//!
//! One session delivers one message to several recipients of the same destination. The
//! outcome says, per recipient, whether the server took it, deferred it or refused it,
//! and whether the runtime should try the next mail exchanger instead.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::data::dot_stuff;
use super::parse::reply;
use super::types::{EnhancedCode, Reply};
use crate::machine::{Machine, TlsInfo};

/// When to use STARTTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsPolicy {
    /// Never (plain text only).
    Never,
    /// When the server offers it (RFC 3207 opportunistic); no certificate checks.
    #[default]
    Opportunistic,
    /// Always: a server without STARTTLS is a temporary failure.
    Required,
}

/// Names and time limits of a client session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The name sent in EHLO/HELO (this host's name).
    pub helo_name: String,
    /// STARTTLS policy.
    pub tls: TlsPolicy,
    /// Wait for the 220 greeting (RFC 5321 §4.5.3.2.1: 5 minutes).
    pub greeting_timeout: Duration,
    /// Wait for replies to EHLO, HELO, STARTTLS, MAIL, RCPT, QUIT (§4.5.3.2.2-3: 5 minutes).
    pub command_timeout: Duration,
    /// Wait for the 354 after DATA (§4.5.3.2.4: 2 minutes).
    pub data_init_timeout: Duration,
    /// Wait for the reply after the final dot (§4.5.3.2.6: 10 minutes).
    pub data_end_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            helo_name: "localhost".into(),
            tls: TlsPolicy::Opportunistic,
            greeting_timeout: Duration::from_secs(300),
            command_timeout: Duration::from_secs(300),
            data_init_timeout: Duration::from_secs(120),
            data_end_timeout: Duration::from_secs(600),
        }
    }
}

/// One recipient of the message, with its DSN parameters (passed on when the server
/// offers DSN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecipient {
    /// The address, without angle brackets.
    pub address: String,
    /// DSN NOTIFY value, if any.
    pub notify: Option<String>,
    /// DSN ORCPT value (`rfc822;xtext`), if any.
    pub orcpt: Option<String>,
}

/// The message a session delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMessage {
    /// The envelope sender; empty for the null sender.
    pub sender: String,
    /// The recipients, all for this destination.
    pub recipients: Vec<ClientRecipient>,
    /// DSN RET, if any.
    pub ret: Option<String>,
    /// DSN ENVID, if any.
    pub envid: Option<String>,
    /// The message with CRLF line ends, not dot-stuffed.
    pub content: Bytes,
    /// It came as `BODY=BINARYMIME` (RFC 3030): only a server offering CHUNKING and
    /// BINARYMIME may take it, by BDAT.
    pub binary: bool,
    /// It came with `REQUIRETLS` (RFC 8689): it may only go over TLS to a server that
    /// offers REQUIRETLS, and is passed on with it.
    pub require_tls: bool,
}

/// What happened to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientResult {
    /// The server accepted the message for this recipient (the reply after the dot).
    Delivered(Reply),
    /// Temporary failure: try again later.
    Deferred(String),
    /// Permanent failure: bounce. The reply when the server gave one.
    Failed(String, Option<Reply>),
}

impl RecipientResult {
    /// The enhanced status code for a DSN: the server's when it gave one, else one
    /// derived from the reply class.
    pub fn status(&self) -> EnhancedCode {
        match self {
            RecipientResult::Delivered(r) => r.enhanced.unwrap_or(EnhancedCode::new(2, 0, 0)),
            RecipientResult::Deferred(_) => EnhancedCode::new(4, 0, 0),
            RecipientResult::Failed(_, Some(r)) => r.enhanced.unwrap_or(EnhancedCode::new(5, 0, 0)),
            RecipientResult::Failed(_, None) => EnhancedCode::new(5, 0, 0),
        }
    }
}

/// The result of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOutcome {
    /// One result per recipient, in the order given.
    pub recipients: Vec<RecipientResult>,
    /// The failure happened before any recipient was answered (greeting, EHLO, MAIL,
    /// connection or timeout): another mail exchanger may do better (RFC 5321 §5.1).
    pub try_next_host: bool,
    /// TLS facts, when the session used TLS.
    pub tls: Option<TlsInfo>,
}

/// Things only the runtime can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The server said 220 to STARTTLS: flush, run the TLS handshake as a client, then
    /// call [`SmtpClient::tls_established`] (or drop the connection on failure).
    StartTls,
    /// The session is over: flush, close, and read [`SmtpClient::take_outcome`].
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Mail,
    Rcpt(usize),
    Data,
    DataEnd,
    /// The answer to `BDAT n LAST` with the whole message (CHUNKING).
    Bdat,
    Quit,
}

impl Expect {
    fn stage(self) -> &'static str {
        match self {
            Expect::Greeting => "the initial greeting",
            Expect::Ehlo => "EHLO",
            Expect::Helo => "HELO",
            Expect::StartTls => "STARTTLS",
            Expect::Mail => "MAIL FROM",
            Expect::Rcpt(_) => "RCPT TO",
            Expect::Data => "DATA",
            Expect::DataEnd => "end of data",
            Expect::Bdat => "BDAT",
            Expect::Quit => "QUIT",
        }
    }
}

/// What the server's EHLO reply offered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Extensions {
    pipelining: bool,
    size: Option<u64>,
    eight_bit_mime: bool,
    starttls: bool,
    dsn: bool,
    smtputf8: bool,
    chunking: bool,
    binarymime: bool,
    requiretls: bool,
}

impl Extensions {
    fn from_ehlo(reply: &Reply) -> Self {
        let mut e = Extensions::default();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_whitespace();
            let Some(kw) = words.next() else { continue };
            let kw = kw.to_ascii_uppercase();
            match kw.as_str() {
                "PIPELINING" => e.pipelining = true,
                "SIZE" => e.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                "8BITMIME" => e.eight_bit_mime = true,
                "STARTTLS" => e.starttls = true,
                "DSN" => e.dsn = true,
                "SMTPUTF8" => e.smtputf8 = true,
                "CHUNKING" => e.chunking = true,
                "BINARYMIME" => e.binarymime = true,
                "REQUIRETLS" => e.requiretls = true,
                _ => {}
            }
        }
        e
    }
}

/// One SMTP client session. See the module docs for the run loop.
#[derive(Debug)]
pub struct SmtpClient {
    config: ClientConfig,
    message: ClientMessage,
    eight_bit: bool,
    needs_utf8: bool,
    input: Vec<u8>,
    output: Vec<u8>,
    expect: VecDeque<Expect>,
    ext: Extensions,
    tls: Option<TlsInfo>,
    results: Vec<Option<RecipientResult>>,
    accepted: Vec<usize>,
    mail_failed: bool,
    next_rcpt: usize,
    any_rcpt_answered: bool,
    events: VecDeque<ClientEvent>,
    outcome: Option<SessionOutcome>,
    try_next_host: bool,
    waiting_tls: bool,
    deadline: Instant,
    done: bool,
}

/// Whether `bytes` holds any octet above 127 (then BODY=8BITMIME is needed).
pub fn has_eight_bit(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| b >= 0x80)
}

impl SmtpClient {
    /// A session for `message`, starting by waiting for the greeting.
    pub fn new(config: ClientConfig, message: ClientMessage, now: Instant) -> Self {
        let eight_bit = has_eight_bit(&message.content);
        let needs_utf8 =
            !message.sender.is_ascii() || message.recipients.iter().any(|r| !r.address.is_ascii());
        let n = message.recipients.len();
        let deadline = now + config.greeting_timeout;
        Self {
            config,
            message,
            eight_bit,
            needs_utf8,
            input: Vec::new(),
            output: Vec::new(),
            expect: VecDeque::from([Expect::Greeting]),
            ext: Extensions::default(),
            tls: None,
            results: vec![None; n],
            accepted: Vec::new(),
            mail_failed: false,
            next_rcpt: 0,
            any_rcpt_answered: false,
            events: VecDeque::new(),
            outcome: None,
            try_next_host: false,
            waiting_tls: false,
            deadline,
            done: false,
        }
    }

    /// The TLS handshake after [`ClientEvent::StartTls`] failed: the session is over and
    /// its recipients are deferred (the runtime may retry this host without TLS).
    pub fn tls_failed(&mut self, reason: &str) {
        if !self.waiting_tls {
            return;
        }
        self.waiting_tls = false;
        self.try_next_host = true;
        self.abort(format!("TLS handshake failed: {reason}"));
    }

    /// The outcome, once [`ClientEvent::Done`] was emitted.
    pub fn take_outcome(&mut self) -> Option<SessionOutcome> {
        self.outcome.take()
    }

    fn timeout_for(&self, e: Expect) -> Duration {
        match e {
            Expect::Greeting => self.config.greeting_timeout,
            Expect::Data => self.config.data_init_timeout,
            Expect::DataEnd | Expect::Bdat => self.config.data_end_timeout,
            _ => self.config.command_timeout,
        }
    }

    fn send(&mut self, now: Instant, line: String, expect: Expect) {
        self.output.extend_from_slice(line.as_bytes());
        self.output.extend_from_slice(b"\r\n");
        if self.expect.is_empty() {
            self.deadline = now + self.timeout_for(expect);
        }
        self.expect.push_back(expect);
    }

    fn on_reply(&mut self, now: Instant, r: Reply) {
        let Some(e) = self.expect.pop_front() else {
            // A reply nobody asked for: the server is confused.
            self.abort(format!("unexpected reply: {}", r.summary()));
            return;
        };
        if let Some(next) = self.expect.front() {
            self.deadline = now + self.timeout_for(*next);
        }
        let positive = (200..300).contains(&r.code);
        match e {
            Expect::Greeting => {
                if positive {
                    self.send(now, format!("EHLO {}", self.config.helo_name), Expect::Ehlo);
                } else {
                    self.session_failed(now, e, r, true);
                }
            }
            Expect::Ehlo => {
                if positive {
                    self.ext = Extensions::from_ehlo(&r);
                    self.after_hello(now);
                } else {
                    self.send(now, format!("HELO {}", self.config.helo_name), Expect::Helo);
                }
            }
            Expect::Helo => {
                if positive {
                    self.ext = Extensions::default();
                    self.after_hello(now);
                } else {
                    self.session_failed(now, e, r, true);
                }
            }
            Expect::StartTls => {
                if r.code == 220 {
                    self.waiting_tls = true;
                    self.events.push_back(ClientEvent::StartTls);
                } else if self.config.tls == TlsPolicy::Required {
                    self.session_failed(now, e, r, true);
                } else {
                    // Opportunistic: carry on in plain text.
                    self.ext.starttls = false;
                    self.begin_transaction(now);
                }
            }
            Expect::Mail => {
                if positive {
                    if !self.ext.pipelining {
                        self.send_next_rcpt(now);
                    }
                } else {
                    self.mail_failed = true;
                    let text = format!("{} (in reply to MAIL FROM command)", r.summary());
                    for i in 0..self.results.len() {
                        self.results[i] = Some(failure(&r, text.clone()));
                    }
                    self.try_next_host = r.is_transient();
                    if !self.ext.pipelining {
                        self.quit(now);
                    }
                }
            }
            Expect::Rcpt(i) => {
                self.any_rcpt_answered = true;
                if !self.mail_failed {
                    if positive {
                        self.accepted.push(i);
                    } else {
                        let text = format!("{} (in reply to RCPT TO command)", r.summary());
                        self.results[i] = Some(failure(&r, text));
                    }
                }
                if !self.ext.pipelining {
                    self.send_next_rcpt(now);
                }
            }
            Expect::Data => {
                if r.code == 354 {
                    let mut body = Vec::with_capacity(self.message.content.len() + 1024);
                    if self.accepted.is_empty() || self.mail_failed {
                        // RFC 2920 §3.1: every RCPT failed but DATA was accepted; send an
                        // empty message so the transaction ends, and ignore its result.
                        body.extend_from_slice(b".\r\n");
                    } else {
                        dot_stuff(&self.message.content, &mut body);
                    }
                    self.output.extend_from_slice(&body);
                    self.deadline = now + self.config.data_end_timeout;
                    self.expect.push_front(Expect::DataEnd);
                } else {
                    let text = format!("{} (in reply to DATA command)", r.summary());
                    for &i in &self.accepted {
                        self.results[i] = Some(failure(&r, text.clone()));
                    }
                    self.accepted.clear();
                    self.quit(now);
                }
            }
            Expect::DataEnd | Expect::Bdat => {
                let command = if e == Expect::Bdat {
                    "BDAT"
                } else {
                    "end of DATA"
                };
                let text = format!("{} (in reply to {command} command)", r.summary());
                for &i in &self.accepted {
                    self.results[i] = Some(if positive {
                        RecipientResult::Delivered(r.clone())
                    } else {
                        failure(&r, text.clone())
                    });
                }
                self.accepted.clear();
                self.quit(now);
            }
            Expect::Quit => self.finish(),
        }
    }

    fn after_hello(&mut self, now: Instant) {
        let want_tls = self.tls.is_none() && self.config.tls != TlsPolicy::Never;
        if want_tls && self.ext.starttls {
            self.send(now, "STARTTLS".into(), Expect::StartTls);
        } else if self.tls.is_none() && self.config.tls == TlsPolicy::Required {
            self.fail_all(
                "TLS is required, but the server does not offer STARTTLS".into(),
                None,
                true,
                false,
            );
            self.quit(now);
        } else {
            self.begin_transaction(now);
        }
    }

    /// Why this server cannot take the message as it is, if it cannot: the text for the
    /// bounce and the reply it stands for (a size over the server's limit, binary or 8-bit
    /// content it does not accept, an address that needs SMTPUTF8).
    fn unsendable(&self) -> Option<(String, Reply)> {
        let size = self.message.content.len() as u64;
        let refusal = |code, status: (u8, u16, u16), text| {
            Reply::new(code, EnhancedCode::new(status.0, status.1, status.2), text)
        };
        if let Some(limit) = self.ext.size.filter(|&l| l > 0 && size > l) {
            return Some((
                format!("message size {size} exceeds the server's limit of {limit} octets"),
                refusal(552, (5, 3, 4), "Message too big"),
            ));
        }
        let conversion = refusal(554, (5, 6, 3), "Conversion required");
        if self.message.binary && !(self.ext.chunking && self.ext.binarymime) {
            let why = "the server does not support BINARYMIME and the message is binary";
            return Some((why.into(), conversion));
        }
        if self.eight_bit && !self.message.binary && !self.ext.eight_bit_mime {
            let why = "the server does not support 8BITMIME and the message has 8-bit content";
            return Some((why.into(), conversion));
        }
        if self.needs_utf8 && !self.ext.smtputf8 {
            return Some((
                "the server does not support SMTPUTF8 and an address needs it".into(),
                refusal(553, (5, 6, 7), "SMTPUTF8 required"),
            ));
        }
        if self.message.require_tls && (self.tls.is_none() || !self.ext.requiretls) {
            return Some((
                "the message requires TLS (REQUIRETLS) and the server does not offer REQUIRETLS"
                    .into(),
                refusal(550, (5, 7, 30), "REQUIRETLS support required"),
            ));
        }
        None
    }

    fn begin_transaction(&mut self, now: Instant) {
        let size = self.message.content.len() as u64;
        if let Some((why, reply)) = self.unsendable() {
            self.fail_all(why, Some(reply), false, true);
            return self.quit(now);
        }
        let mut mail = format!("MAIL FROM:<{}>", self.message.sender);
        if self.ext.size.is_some() {
            mail.push_str(&format!(" SIZE={size}"));
        }
        if self.message.binary {
            mail.push_str(" BODY=BINARYMIME");
        } else if self.eight_bit {
            mail.push_str(" BODY=8BITMIME");
        }
        if self.needs_utf8 {
            mail.push_str(" SMTPUTF8");
        }
        if self.message.require_tls {
            mail.push_str(" REQUIRETLS");
        }
        if self.ext.dsn {
            if let Some(ret) = &self.message.ret {
                mail.push_str(&format!(" RET={ret}"));
            }
            if let Some(envid) = &self.message.envid {
                mail.push_str(&format!(" ENVID={envid}"));
            }
        }
        self.send(now, mail, Expect::Mail);
        if self.ext.pipelining {
            while self.next_rcpt < self.message.recipients.len() {
                self.send_rcpt(now);
            }
            self.send_message(now);
        }
    }

    fn send_rcpt(&mut self, now: Instant) {
        let i = self.next_rcpt;
        self.next_rcpt += 1;
        let r = &self.message.recipients[i];
        let mut line = format!("RCPT TO:<{}>", r.address);
        if self.ext.dsn {
            if let Some(n) = &r.notify {
                line.push_str(&format!(" NOTIFY={n}"));
            }
            if let Some(o) = &r.orcpt {
                line.push_str(&format!(" ORCPT={o}"));
            }
        }
        self.send(now, line, Expect::Rcpt(i));
    }

    /// Without pipelining: the next RCPT, or DATA when all were sent.
    fn send_next_rcpt(&mut self, now: Instant) {
        if self.next_rcpt < self.message.recipients.len() {
            self.send_rcpt(now);
        } else if self.accepted.is_empty() {
            self.quit(now);
        } else {
            self.send_message(now);
        }
    }

    /// DATA, or where the server offers CHUNKING (RFC 3030) one `BDAT n LAST` followed
    /// by the message as it is (no dot-stuffing, no wait for a 354).
    fn send_message(&mut self, now: Instant) {
        if self.ext.chunking {
            let content = self.message.content.clone();
            self.send(now, format!("BDAT {} LAST", content.len()), Expect::Bdat);
            self.output.extend_from_slice(&content);
        } else {
            self.send(now, "DATA".into(), Expect::Data);
        }
    }

    fn quit(&mut self, now: Instant) {
        if !self.expect.contains(&Expect::Quit) {
            self.send(now, "QUIT".into(), Expect::Quit);
        }
    }

    /// A failure of the whole session at `stage` with the server's reply.
    fn session_failed(&mut self, now: Instant, stage: Expect, r: Reply, next_host: bool) {
        let text = format!("{} (in reply to {})", r.summary(), stage.stage());
        self.fail_all(text, Some(r), next_host, false);
        self.quit(now);
    }

    /// Sets every recipient without a result. `permanent` forces a permanent failure;
    /// otherwise the reply's class decides (no reply: temporary).
    fn fail_all(&mut self, text: String, r: Option<Reply>, next_host: bool, permanent: bool) {
        for slot in self.results.iter_mut().filter(|s| s.is_none()) {
            *slot = Some(match &r {
                Some(r) if permanent || r.is_permanent() => {
                    RecipientResult::Failed(text.clone(), Some(r.clone()))
                }
                _ => RecipientResult::Deferred(text.clone()),
            });
        }
        self.try_next_host = next_host;
    }

    /// The connection ended (`why`: lost, timeout) while a reply was awaited: after QUIT
    /// the session is simply over, otherwise it fails saying which reply never came.
    fn stop_waiting(&mut self, why: &str) {
        if self.expect.front() == Some(&Expect::Quit) {
            return self.finish();
        }
        let stage = self
            .expect
            .front()
            .map(|e| e.stage())
            .unwrap_or("the session");
        self.abort(format!("{why} while waiting for the reply to {stage}"));
    }

    /// The connection broke or timed out: whatever has no result is deferred.
    fn abort(&mut self, text: String) {
        let next_host = !self.any_rcpt_answered && !self.mail_failed;
        self.fail_all(text, None, next_host || self.try_next_host, false);
        self.finish();
    }

    fn finish(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        self.expect.clear();
        let recipients = self
            .results
            .iter()
            .map(|r| {
                r.clone().unwrap_or_else(|| {
                    RecipientResult::Deferred("the session ended without a result".into())
                })
            })
            .collect();
        self.outcome = Some(SessionOutcome {
            recipients,
            try_next_host: self.try_next_host,
            tls: self.tls.clone(),
        });
        self.events.push_back(ClientEvent::Done);
    }
}

impl Machine for SmtpClient {
    type Event = ClientEvent;

    /// Feeds bytes received from the server.
    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if self.done || self.waiting_tls {
            return;
        }
        self.input.extend_from_slice(bytes);
        loop {
            if self.done || self.waiting_tls {
                break;
            }
            let parsed = match reply(&self.input) {
                Ok((rest, r)) => Ok((self.input.len() - rest.len(), r)),
                Err(nom::Err::Incomplete(_)) => break,
                Err(_) => Err(()),
            };
            match parsed {
                Ok((used, r)) => {
                    self.input.drain(..used);
                    self.on_reply(now, r);
                }
                Err(()) => {
                    self.input.clear();
                    self.abort("the server sent a malformed reply".into());
                    break;
                }
            }
        }
    }

    /// The server closed the connection.
    fn handle_eof(&mut self, _now: Instant) {
        if self.done {
            return;
        }
        self.stop_waiting("lost connection");
    }

    /// Call when the deadline from [`SmtpClient::poll_timeout`] has passed.
    fn handle_timeout(&mut self, now: Instant) {
        if self.done || self.waiting_tls || now < self.deadline {
            return;
        }
        self.stop_waiting("timeout");
    }

    /// Reports a finished TLS handshake after [`ClientEvent::StartTls`]; the session
    /// starts again with EHLO (RFC 3207 §4.2).
    fn tls_established(&mut self, now: Instant, info: TlsInfo) {
        if !self.waiting_tls {
            return;
        }
        self.waiting_tls = false;
        self.tls = Some(info);
        self.ext = Extensions::default();
        self.input.clear();
        self.send(now, format!("EHLO {}", self.config.helo_name), Expect::Ehlo);
    }

    /// Bytes to write to the server, if any.
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.output.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.output))
        }
    }

    /// The next thing the runtime must do, if any.
    fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When [`SmtpClient::handle_timeout`] should be called, if at all.
    fn poll_timeout(&self) -> Option<Instant> {
        if self.done || self.waiting_tls {
            None
        } else {
            Some(self.deadline)
        }
    }

    /// Whether the session is over.
    fn is_closed(&self) -> bool {
        self.done
    }

    /// Whether more input should be read now (not while a TLS handshake is due).
    fn wants_input(&self) -> bool {
        !self.done && !self.waiting_tls
    }

    /// The next event, left in place.
    fn peek_event(&self) -> Option<&ClientEvent> {
        self.events.front()
    }

    /// The server is stopping: the session ends now and its recipients are deferred.
    fn shutdown(&mut self) {
        if !self.done {
            self.abort("the server is shutting down".into());
        }
    }
}

fn failure(r: &Reply, text: String) -> RecipientResult {
    if r.is_permanent() {
        RecipientResult::Failed(text, Some(r.clone()))
    } else {
        RecipientResult::Deferred(text)
    }
}
