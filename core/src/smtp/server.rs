//! The SMTP server state machine (RFC 5321 §3, §4) in the handle_*/poll_* shape.
//!
//! # Run loop
//! 1. Create with [`SmtpServer::new`]; it queues the 220 greeting.
//! 2. Whenever bytes arrive and [`SmtpServer::wants_input`] is true, call
//!    [`SmtpServer::handle_input`]; at end of stream [`SmtpServer::handle_eof`]; when the
//!    deadline from [`SmtpServer::poll_timeout`] passes, [`SmtpServer::handle_timeout`].
//! 3. After every input or answer drain, in this order: [`SmtpServer::poll_transmit`]
//!    (write the bytes), [`SmtpServer::poll_event`] (act, then answer tokens with
//!    [`SmtpServer::respond`], [`SmtpServer::data_start`], [`SmtpServer::message_queued`]),
//!    [`SmtpServer::poll_timeout`].
//! 4. After [`SmtpEvent::StartTls`], flush, handshake, and call
//!    [`SmtpServer::tls_established`]. After [`SmtpEvent::Closed`], flush and close.
//!
//! While a question is pending, pipelined input waits unparsed in the buffer.

use std::time::{Duration, Instant};

use bytes::Bytes;

mod auth;
mod chunking;
mod lmtp;

use super::data::{DataError, DataReceiver};
use super::dsn::{mail_dsn, rcpt_dsn};
use super::encode::encode_reply;
use super::event::{DataTicket, Envelope, SmtpEvent, SmtpServerConfig, Verdict, VrfyPolicy};
use super::parse::{command, CommandError};
use super::types::{Command, EnhancedCode, ForwardPath, Parameter, Reply, ReversePath};
use crate::delivery::trace::{received, Protocol, ReceivedInfo};
use crate::machine::{
    next_deadline, Asking, AuthOutcome, CloseReason, Hold, Machine, PeerInfo, TlsInfo, Token, Wire,
};
use crate::sasl::{Mechanism, SaslError, SaslExchange, Step, MECHANISMS};

/// Longest AUTH command or SASL response line including CRLF (RFC 4954 §4).
const MAX_AUTH_LINE: usize = 12_288;

/// A question the runtime has not answered yet.
#[derive(Debug)]
enum Pending {
    Helo {
        name: String,
        extended: bool,
    },
    Mail {
        from: ReversePath,
        params: Vec<Parameter>,
    },
    Rcpt {
        to: ForwardPath,
        params: Vec<Parameter>,
    },
    /// DATA, or the first BDAT of a message (`chunked`).
    DataStart {
        chunked: bool,
    },
    Queued,
    StartTls,
    Auth,
    Vrfy {
        argument: String,
    },
}

/// Replies held back until a deadline (the delay after a failed AUTH), and whether the
/// session closes after them.
#[derive(Debug)]
struct Held {
    replies: Vec<Reply>,
    close: Option<CloseReason>,
}

/// The transaction in progress (between MAIL and the end of DATA).
#[derive(Debug)]
struct Transaction {
    from: ReversePath,
    mail_params: Vec<Parameter>,
    recipients: Vec<(ForwardPath, Vec<Parameter>)>,
    queue_id: Option<String>,
    /// Octets of the message received by BDAT so far (None: no BDAT yet).
    bdat: Option<u64>,
    /// Whether the last octet passed on was a CR (a LF after it is not bare).
    last_cr: bool,
}

impl Transaction {
    /// `MAIL ... BODY=BINARYMIME` (RFC 3030): the octets are kept exactly.
    fn binary(&self) -> bool {
        self.mail_params.iter().any(|p| {
            p.is("BODY")
                && p.value
                    .as_deref()
                    .is_some_and(|v| v.eq_ignore_ascii_case("BINARYMIME"))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Command,
    Data,
    /// Reading the octets of a BDAT chunk.
    Chunk,
    /// Reading SASL response lines of an AUTH exchange.
    Auth,
    Closed,
}

/// One SMTP server session. See the module docs for the run loop.
#[derive(Debug)]
pub struct SmtpServer {
    config: SmtpServerConfig,
    peer: PeerInfo,
    wire: Wire<SmtpEvent>,
    phase: Phase,
    helo: Option<(String, bool)>,
    tls: Option<TlsInfo>,
    tx: Option<Transaction>,
    pending: Asking<Pending>,
    errors: u32,
    now: Instant,
    deadline: Instant,
    swallowing_line: bool,
    data: Option<DataReceiver>,
    chunk: Option<chunking::Chunk>,
    sasl: Option<SaslExchange>,
    authenticated: Option<String>,
    auth_failures: u32,
    hold: Option<Hold<Held>>,
    messages: u32,
}

const fn code(class: u8, subject: u16, detail: u16) -> EnhancedCode {
    EnhancedCode::new(class, subject, detail)
}

impl SmtpServer {
    /// Starts a session and queues the 220 greeting.
    pub fn new(config: SmtpServerConfig, peer: PeerInfo, now: Instant) -> Self {
        let deadline = now + config.command_timeout;
        let mut s = Self {
            config,
            peer,
            wire: Wire::new(),
            phase: Phase::Command,
            helo: None,
            tls: None,
            tx: None,
            pending: Asking::new(),
            errors: 0,
            now,
            deadline,
            swallowing_line: false,
            data: None,
            chunk: None,
            sasl: None,
            authenticated: None,
            auth_failures: 0,
            hold: None,
            messages: 0,
        };
        let greeting = s.greeting();
        s.reply(&Reply::plain(220, greeting));
        s
    }

    /// The peer this session talks to.
    pub fn peer(&self) -> PeerInfo {
        self.peer
    }

    /// Whether buffered input is being consumed (no question pending, nothing held).
    fn is_ready(&self) -> bool {
        !self.pending.is_pending() && self.hold.is_none()
    }

    /// The identity the client authenticated as (AUTH), if any.
    pub fn authenticated(&self) -> Option<&str> {
        self.authenticated.as_deref()
    }

    /// Answers a [`SmtpEvent::Helo`], [`SmtpEvent::MailFrom`] or [`SmtpEvent::RcptTo`].
    /// A token that is not the pending one is ignored.
    pub fn respond(&mut self, token: Token, verdict: Verdict) {
        let verdict_fits = |p: &Pending| {
            matches!(verdict, Verdict::Reject(_))
                || matches!(
                    p,
                    Pending::Helo { .. }
                        | Pending::Mail { .. }
                        | Pending::Rcpt { .. }
                        | Pending::Vrfy { .. }
                )
        };
        let Some(pending) = self.take_pending(token, verdict_fits) else {
            return;
        };
        match (pending, verdict) {
            (_, Verdict::Reject(reply)) => self.reply(&reply),
            (Pending::Helo { name, extended }, Verdict::Accept) => self.accept_helo(name, extended),
            (Pending::Mail { from, params }, Verdict::Accept) => {
                self.tx = Some(Transaction {
                    from,
                    mail_params: params,
                    recipients: Vec::new(),
                    queue_id: None,
                    bdat: None,
                    last_cr: false,
                });
                self.reply(&Reply::new(250, code(2, 1, 0), "Ok"));
            }
            (Pending::Rcpt { to, params }, Verdict::Accept) => {
                if let Some(tx) = self.tx.as_mut() {
                    tx.recipients.push((to, params));
                }
                self.reply(&Reply::new(250, code(2, 1, 5), "Ok"));
            }
            (Pending::Vrfy { argument }, Verdict::Accept) => {
                self.reply(&Reply::new(252, code(2, 0, 0), argument));
            }
            (_, Verdict::Accept) => {}
        }
        self.process();
    }

    /// Answers [`SmtpEvent::DataStart`]: `Ok` sends 354 and starts the data phase (for
    /// BDAT, the chunk's octets are taken).
    pub fn data_start(&mut self, token: Token, result: Result<DataTicket, Reply>) {
        let Some(Pending::DataStart { chunked }) =
            self.take_pending(token, |p| matches!(p, Pending::DataStart { .. }))
        else {
            return;
        };
        if chunked {
            self.chunked_data_start(result);
            return self.process();
        }
        match result {
            Err(reply) => self.reply(&reply),
            Ok(ticket) => {
                self.reply(&Reply::plain(354, "End data with <CR><LF>.<CR><LF>"));
                let header = self.received_field(&ticket);
                if let Some(tx) = self.tx.as_mut() {
                    tx.queue_id = Some(ticket.queue_id);
                }
                self.wire
                    .events
                    .push_back(SmtpEvent::BodyChunk(Bytes::from(header.into_bytes())));
                self.data = Some(DataReceiver::new(
                    self.config.max_message_size,
                    self.config.max_text_line,
                ));
                self.phase = Phase::Data;
                self.deadline = self.now + self.config.data_timeout;
            }
        }
        self.process();
    }

    /// Answers [`SmtpEvent::MessageComplete`]: `Ok` once the message is durable (250 with
    /// the queue id), `Err(reply)` otherwise.
    pub fn message_queued(&mut self, token: Token, result: Result<(), Reply>) {
        if self
            .take_pending(token, |p| matches!(p, Pending::Queued))
            .is_none()
        {
            return;
        }
        let recipients = self.recipient_count();
        let tx = self.tx.take();
        match result {
            Ok(()) => {
                self.messages = self.messages.saturating_add(1);
                let id = tx.and_then(|t| t.queue_id).unwrap_or_default();
                let ok = Reply::new(250, code(2, 0, 0), format!("Ok: queued as {id}"));
                self.final_reply(&ok, recipients);
            }
            Err(reply) => self.final_reply(&reply, recipients),
        }
        self.wire.events.push_back(SmtpEvent::Reset);
        self.process();
    }

    /// The TLS session facts, once TLS is active.
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }

    /// The pending question `token` answers, if it is one `is` accepts (the kit's
    /// wrong-token policy: anything else is ignored); restarts the command timer.
    fn take_pending(&mut self, token: Token, is: impl FnOnce(&Pending) -> bool) -> Option<Pending> {
        let p = self.pending.answer_if(token, is)?;
        self.touch();
        Some(p)
    }

    fn ask(&mut self, pending: Pending) -> Token {
        self.pending.ask(pending)
    }

    fn touch(&mut self) {
        let timeout = if matches!(self.phase, Phase::Data | Phase::Chunk) {
            self.config.data_timeout
        } else {
            self.config.command_timeout
        };
        self.deadline = self.now + timeout;
    }

    fn reply(&mut self, reply: &Reply) {
        encode_reply(&mut self.wire.output, reply);
    }

    fn close(&mut self, reason: CloseReason) {
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Closed;
        self.pending.clear();
        self.wire.input.clear();
        self.wire.events.push_back(SmtpEvent::Closed { reason });
    }

    /// Answers a bad command and counts it against the error budget.
    fn error(&mut self, reply: Reply) {
        self.reply(&reply);
        self.errors += 1;
        if self.errors >= self.config.max_errors {
            self.reply(&Reply::new(
                421,
                code(4, 7, 0),
                format!("{} Error: too many errors", self.config.hostname),
            ));
            self.close(CloseReason::TooManyErrors);
        }
    }

    fn tls_active(&self) -> bool {
        self.tls.is_some() || self.config.implicit_tls
    }

    /// Consumes buffered input until it runs out or a question is pending.
    fn process(&mut self) {
        while self.phase != Phase::Closed && self.is_ready() {
            let progressed = match self.phase {
                Phase::Data => self.process_data(),
                Phase::Chunk => self.process_chunk(),
                Phase::Command | Phase::Auth => self.process_command(),
                Phase::Closed => false,
            };
            if !progressed {
                break;
            }
        }
    }

    fn process_data(&mut self) -> bool {
        let Some(rx) = self.data.as_mut() else {
            self.phase = Phase::Command;
            return true;
        };
        if self.wire.input.is_empty() {
            return false;
        }
        let mut out = Vec::new();
        let used = rx.feed(&self.wire.input, &mut out);
        let whole_line = memchr::memchr(b'\n', &self.wire.input[..used]).is_some();
        self.wire.input.drain(..used);
        if whole_line {
            self.deadline = self.now + self.config.data_timeout;
        }
        if !out.is_empty() {
            self.wire
                .events
                .push_back(SmtpEvent::BodyChunk(Bytes::from(out)));
        }
        if !rx.is_done() {
            return false;
        }
        let error = rx.error();
        let size = rx.size();
        self.data = None;
        self.phase = Phase::Command;
        self.touch();
        match error {
            Some(e) => {
                let recipients = self.recipient_count();
                self.tx = None;
                self.wire.events.push_back(SmtpEvent::DataAborted);
                let reply = match e {
                    DataError::BareNewline => Reply::new(
                        550,
                        code(5, 5, 2),
                        "Error: bare <CR> or <LF> in message data; lines must end with <CR><LF>",
                    ),
                    DataError::TooLarge => Reply::new(
                        552,
                        code(5, 3, 4),
                        "Error: message size exceeds fixed maximum message size",
                    ),
                    DataError::LineTooLong => {
                        Reply::new(500, code(5, 5, 2), "Error: line too long in message data")
                    }
                };
                self.final_reply(&reply, recipients);
            }
            None => self.complete_message(size),
        }
        true
    }

    /// The whole message has arrived: the queue is asked to keep it.
    fn complete_message(&mut self, size: u64) {
        let Some(tx) = self.tx.as_ref() else {
            return;
        };
        let envelope = Envelope {
            from: tx.from.clone(),
            mail_params: tx.mail_params.clone(),
            recipients: tx.recipients.clone(),
        };
        let token = self.ask(Pending::Queued);
        self.wire.events.push_back(SmtpEvent::MessageComplete {
            token,
            envelope,
            size,
        });
    }

    fn process_command(&mut self) -> bool {
        let auth_line = self.phase == Phase::Auth
            || self
                .wire
                .input
                .get(..5)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"AUTH "));
        let max = if auth_line {
            MAX_AUTH_LINE.max(self.config.max_command_line)
        } else {
            self.config.max_command_line
        };
        if self.swallowing_line {
            match memchr::memchr(b'\n', &self.wire.input) {
                None => {
                    self.wire.input.clear();
                    return false;
                }
                Some(lf) => {
                    self.wire.input.drain(..=lf);
                    self.swallowing_line = false;
                    self.touch();
                    self.abort_sasl();
                    self.error(Reply::new(500, code(5, 5, 2), "Error: line too long"));
                    return true;
                }
            }
        }
        let Some(lf) = memchr::memchr(b'\n', &self.wire.input) else {
            if self.wire.input.len() > max {
                self.wire.input.clear();
                self.swallowing_line = true;
            }
            return false;
        };
        self.touch();
        if lf + 1 > max {
            self.wire.input.drain(..=lf);
            self.abort_sasl();
            self.error(Reply::new(500, code(5, 5, 2), "Error: line too long"));
            return true;
        }
        if self.phase == Phase::Auth {
            let line = self.wire.input[..lf].to_vec();
            self.wire.input.drain(..=lf);
            let line = line.strip_suffix(b"\r").unwrap_or(&line);
            let step = match self.sasl.as_mut() {
                Some(ex) => ex.respond(line),
                None => Step::Failed(SaslError::Malformed),
            };
            self.sasl_step(step);
            return true;
        }
        let parsed = match command(&self.wire.input[..=lf]) {
            Ok((_, cmd)) => Ok(cmd),
            Err(nom::Err::Error(e)) | Err(nom::Err::Failure(e)) => Err(e),
            Err(nom::Err::Incomplete(_)) => Err(CommandError::Syntax("incomplete line")),
        };
        self.wire.input.drain(..=lf);
        match parsed {
            Ok(cmd) => self.dispatch(cmd),
            Err(CommandError::Unrecognized) => self.error(Reply::new(
                500,
                code(5, 5, 2),
                "Error: command not recognized",
            )),
            Err(CommandError::NotUtf8) => self.error(Reply::new(
                500,
                code(5, 5, 2),
                "Error: invalid UTF-8 in command",
            )),
            Err(CommandError::Syntax(hint)) => self.error(Reply::new(501, code(5, 5, 4), hint)),
            Err(CommandError::Nom(_)) => self.error(Reply::new(501, code(5, 5, 4), "Syntax error")),
        }
        true
    }

    fn dispatch(&mut self, cmd: Command) {
        match cmd {
            Command::Ehlo(name) => self.greet(name, false, true),
            Command::Helo(name) => self.greet(name, false, false),
            Command::Lhlo(name) => self.greet(name, true, true),
            Command::Mail { from, params } => self.mail(from, params),
            Command::Rcpt { to, params } => self.rcpt(to, params),
            Command::Data => self.data_command(),
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Rset => {
                if self.tx.is_some() {
                    self.drop_transaction();
                } else {
                    self.wire.events.push_back(SmtpEvent::Reset);
                }
                self.reply(&Reply::new(250, code(2, 0, 0), "Ok"));
            }
            Command::Noop(_) => self.reply(&Reply::new(250, code(2, 0, 0), "Ok")),
            Command::Quit => {
                self.reply(&Reply::new(221, code(2, 0, 0), "Bye"));
                self.close(CloseReason::Quit);
            }
            Command::Vrfy(argument) => self.vrfy(argument),
            Command::Expn(_) => {
                self.reply(&Reply::new(502, code(5, 5, 1), "EXPN command is disabled"))
            }
            Command::Help(_) => self.reply(&Reply {
                code: 214,
                enhanced: Some(code(2, 0, 0)),
                lines: vec![
                    "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH"
                        .into(),
                    "See RFC 5321".into(),
                ],
            }),
            Command::StartTls => self.starttls(),
            Command::Auth {
                mechanism,
                initial_response,
            } => self.auth(&mechanism, initial_response.as_deref()),
        }
    }

    fn vrfy(&mut self, argument: String) {
        match self.config.vrfy {
            VrfyPolicy::Ambiguous => self.reply(&Reply::new(
                252,
                code(2, 0, 0),
                "Cannot VRFY user, but will accept message and attempt delivery",
            )),
            VrfyPolicy::Disabled => {
                self.reply(&Reply::new(502, code(5, 5, 1), "VRFY command is disabled"))
            }
            VrfyPolicy::Verify => {
                let token = self.ask(Pending::Vrfy {
                    argument: argument.clone(),
                });
                self.wire
                    .events
                    .push_back(SmtpEvent::Vrfy { token, argument });
            }
        }
    }

    fn hello(&mut self, name: String, extended: bool) {
        let token = self.ask(Pending::Helo {
            name: name.clone(),
            extended,
        });
        self.wire.events.push_back(SmtpEvent::Helo {
            token,
            name,
            extended,
        });
    }

    fn accept_helo(&mut self, name: String, extended: bool) {
        self.drop_transaction();
        let host = self.config.hostname.clone();
        if extended {
            let mut lines = vec![host];
            lines.push("PIPELINING".into());
            lines.push(format!("SIZE {}", self.config.max_message_size));
            if self.config.starttls && !self.tls_active() {
                lines.push("STARTTLS".into());
            }
            if self.auth_available() && self.authenticated.is_none() {
                let names: Vec<&str> = MECHANISMS.iter().map(|m| m.name()).collect();
                lines.push(format!("AUTH {}", names.join(" ")));
            }
            lines.push("ENHANCEDSTATUSCODES".into());
            lines.push("8BITMIME".into());
            lines.push("CHUNKING".into());
            lines.push("BINARYMIME".into());
            lines.push("DSN".into());
            lines.push("SMTPUTF8".into());
            // RFC 8689 §2: offered only once the session is protected by TLS.
            if self.tls_active() {
                lines.push("REQUIRETLS".into());
            }
            self.reply(&Reply {
                code: 250,
                enhanced: None,
                lines,
            });
        } else {
            self.reply(&Reply::plain(250, host));
        }
        self.helo = Some((name, extended));
    }

    fn mail(&mut self, from: ReversePath, params: Vec<Parameter>) {
        if self.helo.is_none() {
            return self.error(Reply::new(
                503,
                code(5, 5, 1),
                "Error: send HELO/EHLO first",
            ));
        }
        if self.tx.is_some() {
            return self.error(Reply::new(503, code(5, 5, 1), "Error: nested MAIL command"));
        }
        if self.config.require_auth && self.authenticated.is_none() {
            return self.reply(&Reply::new(530, code(5, 7, 0), "Authentication required"));
        }
        if self.messages >= self.config.max_messages {
            self.reply(&Reply::new(
                421,
                code(4, 7, 0),
                format!(
                    "{} Error: too many messages in one connection",
                    self.config.hostname
                ),
            ));
            return self.close(CloseReason::TooManyMessages);
        }
        if let Err(hint) = mail_dsn(&params) {
            return self.error(Reply::new(501, code(5, 5, 4), hint));
        }
        for p in &params {
            if p.is("SIZE") {
                let Some(n) = p.value.as_deref().and_then(|v| v.parse::<u64>().ok()) else {
                    return self.error(Reply::new(501, code(5, 5, 4), "Bad message size syntax"));
                };
                if n > self.config.max_message_size {
                    return self.reply(&Reply::new(
                        552,
                        code(5, 3, 4),
                        "Message size exceeds fixed limit",
                    ));
                }
            } else if p.is("BODY") {
                let v = p.value.as_deref().unwrap_or("");
                let known = ["7BIT", "8BITMIME", "BINARYMIME"];
                if !known.iter().any(|k| v.eq_ignore_ascii_case(k)) {
                    return self.error(Reply::new(
                        501,
                        code(5, 5, 4),
                        "Unsupported BODY parameter",
                    ));
                }
            } else if p.is("SMTPUTF8") {
                if p.value.is_some() {
                    return self.error(Reply::new(501, code(5, 5, 4), "SMTPUTF8 takes no value"));
                }
            } else if p.is("REQUIRETLS") {
                if p.value.is_some() {
                    return self.error(Reply::new(501, code(5, 5, 4), "REQUIRETLS takes no value"));
                }
                if !self.tls_active() {
                    return self.reply(&Reply::new(
                        530,
                        code(5, 7, 10),
                        "REQUIRETLS is only accepted over TLS",
                    ));
                }
            } else if p.is("AUTH") || p.is("RET") || p.is("ENVID") {
                // AUTH= (RFC 4954 §5) is accepted and not trusted; RET and ENVID were
                // checked above.
            } else {
                return self.error(Reply::new(
                    555,
                    code(5, 5, 4),
                    format!("Unsupported option: {}", p.keyword),
                ));
            }
        }
        let token = self.ask(Pending::Mail {
            from: from.clone(),
            params: params.clone(),
        });
        self.wire.events.push_back(SmtpEvent::MailFrom {
            token,
            from,
            params,
        });
    }

    fn rcpt(&mut self, to: ForwardPath, params: Vec<Parameter>) {
        let Some(tx) = self.tx.as_ref() else {
            return self.error(Reply::new(503, code(5, 5, 1), "Error: need MAIL command"));
        };
        // A repeated recipient is accepted once; LMTP owes a reply for every accepted
        // RCPT (RFC 2033 §4.2), so there it is kept each time.
        if !self.config.lmtp && tx.recipients.iter().any(|(r, _)| r.same_address(&to)) {
            return self.reply(&Reply::new(250, code(2, 1, 5), "Ok"));
        }
        if tx.recipients.len() >= self.config.max_recipients {
            return self.reply(&Reply::new(
                452,
                code(4, 5, 3),
                "Error: too many recipients",
            ));
        }
        if let Err(hint) = rcpt_dsn(&params) {
            return self.error(Reply::new(
                if hint == "Unsupported RCPT parameter" {
                    555
                } else {
                    501
                },
                code(5, 5, 4),
                hint,
            ));
        }
        let token = self.ask(Pending::Rcpt {
            to: to.clone(),
            params: params.clone(),
        });
        self.wire
            .events
            .push_back(SmtpEvent::RcptTo { token, to, params });
    }

    fn data_command(&mut self) {
        let Some(tx) = self.tx.as_ref() else {
            return self.error(Reply::new(503, code(5, 5, 1), "Error: need RCPT command"));
        };
        if tx.recipients.is_empty() {
            return self.error(self.no_recipients());
        }
        if tx.bdat.is_some() {
            return self.error(Reply::new(
                503,
                code(5, 5, 1),
                "Error: DATA after BDAT in one message",
            ));
        }
        if tx.binary() {
            // RFC 3030 §3: a BINARYMIME message can only come by BDAT.
            return self.error(Reply::new(
                503,
                code(5, 5, 1),
                "Error: BODY=BINARYMIME requires BDAT",
            ));
        }
        let token = self.ask(Pending::DataStart { chunked: false });
        self.wire.events.push_back(SmtpEvent::DataStart { token });
    }

    fn starttls(&mut self) {
        if self.tls_active() {
            return self.error(Reply::new(554, code(5, 5, 1), "Error: TLS already active"));
        }
        if !self.config.starttls {
            return self.error(Reply::new(
                502,
                code(5, 5, 1),
                "Error: command not implemented",
            ));
        }
        self.reply(&Reply::new(220, code(2, 0, 0), "Ready to start TLS"));
        // RFC 3207 §4.2 / DESIGN rule 8: plaintext pipelined after STARTTLS is discarded.
        self.wire.input.clear();
        let _token = self.ask(Pending::StartTls);
        self.wire.events.push_back(SmtpEvent::StartTls);
    }

    fn received_field(&self, ticket: &DataTicket) -> String {
        let (helo, extended) = match &self.helo {
            Some((h, e)) => (Some(h.as_str()), *e),
            None => (None, false),
        };
        let tls_text = self
            .tls
            .as_ref()
            .map(|t| format!("using {} with cipher {}", t.version, t.cipher));
        let rcpt_text = match self.tx.as_ref().map(|t| t.recipients.as_slice()) {
            Some([(only, _)]) => Some(only.to_string()),
            _ => None,
        };
        received(&ReceivedInfo {
            helo,
            client_ip: Some(self.peer.remote.ip()),
            authenticated: self.authenticated.as_deref(),
            by_host: &self.config.hostname,
            protocol: match (self.config.lmtp, self.tls_active()) {
                (true, false) => Protocol::Lmtp,
                (true, true) => Protocol::Lmtps,
                (false, tls) => Protocol::for_session(extended, tls, self.authenticated.is_some()),
            },
            comment: tls_text.as_deref(),
            id: &ticket.queue_id,
            for_rcpt: rcpt_text.as_deref(),
            when: ticket.now,
        })
    }
}

impl Machine for SmtpServer {
    type Event = SmtpEvent;

    /// Whether the runtime should read and pass more input now: until the session
    /// closes, except between STARTTLS and the handshake, and while the pipelined input
    /// waiting behind a pending question reaches `max_pipelined`.
    fn wants_input(&self) -> bool {
        let open =
            self.phase != Phase::Closed && !matches!(self.pending.get(), Some(Pending::StartTls));
        self.wire
            .wants_input(open, self.is_ready(), self.config.max_pipelined)
    }

    /// Whether the session is over (after [`SmtpEvent::Closed`]).
    fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Feeds bytes received from the client.
    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if self.phase == Phase::Closed {
            return;
        }
        self.now = now;
        // The deadline moves only when a whole line arrives (see `process_*`), so a client
        // dripping one byte at a time cannot hold the connection forever.
        self.wire.input.extend_from_slice(bytes);
        self.process();
    }

    /// The client closed its side of the connection.
    fn handle_eof(&mut self, now: Instant) {
        self.now = now;
        if self.in_message() {
            self.wire.events.push_back(SmtpEvent::DataAborted);
        }
        self.close(CloseReason::PeerClosed);
    }

    /// Call when the deadline from [`SmtpServer::poll_timeout`] has passed.
    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.phase == Phase::Closed || self.pending.is_pending() {
            return;
        }
        if self.hold.is_some() {
            let Some(hold) = Hold::take_due(&mut self.hold, now) else {
                return;
            };
            for r in &hold.replies {
                self.reply(r);
            }
            match hold.close {
                Some(reason) => self.close(reason),
                None => {
                    self.touch();
                    self.process();
                }
            }
            return;
        }
        if now < self.deadline {
            return;
        }
        if self.in_message() {
            self.wire.events.push_back(SmtpEvent::DataAborted);
        }
        self.reply(&Reply::new(
            421,
            code(4, 4, 2),
            format!("{} Error: timeout exceeded", self.config.hostname),
        ));
        self.close(CloseReason::Timeout);
    }

    /// Ends the session from the server side (shutdown): 421 then [`SmtpEvent::Closed`].
    fn shutdown(&mut self) {
        if self.phase == Phase::Closed {
            return;
        }
        if self.in_message() {
            self.wire.events.push_back(SmtpEvent::DataAborted);
        }
        self.reply(&Reply::new(
            421,
            code(4, 3, 2),
            format!("{} Service shutting down", self.config.hostname),
        ));
        self.close(CloseReason::Shutdown);
    }

    /// Bytes to write to the client, if any.
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.wire.transmit()
    }

    /// The next thing the runtime must do, if any.
    fn poll_event(&mut self) -> Option<SmtpEvent> {
        self.wire.events.pop_front()
    }

    /// The event [`SmtpServer::poll_event`] would return next, left in place (lets an
    /// async runtime decide where to handle it).
    fn peek_event(&self) -> Option<&SmtpEvent> {
        self.wire.events.front()
    }

    /// Whether [`SmtpServer::poll_event`] has something (lets async runtimes skip a
    /// hop to the blocking pool when there is nothing to do).
    fn has_event(&self) -> bool {
        !self.wire.events.is_empty()
    }

    /// When [`SmtpServer::handle_timeout`] should be called, if at all.
    fn poll_timeout(&self) -> Option<Instant> {
        next_deadline(
            self.phase != Phase::Closed,
            self.pending.is_pending(),
            self.hold.as_ref(),
            self.deadline,
        )
    }

    /// Reports a finished TLS handshake after [`SmtpEvent::StartTls`]; the session restarts
    /// from the beginning, as RFC 3207 §4.2 requires.
    fn tls_established(&mut self, now: Instant, info: TlsInfo) {
        self.now = now;
        if matches!(self.pending.get(), Some(Pending::StartTls)) {
            self.pending.clear();
        }
        self.tls = Some(info);
        self.helo = None;
        if self.bdat_started() {
            self.wire.events.push_back(SmtpEvent::DataAborted);
        }
        self.tx = None;
        self.authenticated = None;
        self.wire.input.clear();
        self.touch();
    }
}
