//! The POP3 server state machine (RFC 1939; CAPA and response codes from RFC 2449; STLS
//! from RFC 2595; AUTH from RFC 5034) in the handle_*/poll_* shape of the SMTP server.
//!
//! The maildrop is reached only through events the runtime answers: authenticate, open
//! (lock and list), retrieve (the runtime streams the message through
//! [`crate::maildrop::Pop3Encoder`]), and commit the deletions at QUIT.
//!
//! # Run loop
//! As for [`crate::smtp::SmtpServer`]: feed input with [`Pop3Server::handle_input`], then
//! drain [`Pop3Server::poll_transmit`] and [`Pop3Server::poll_event`], answer tokens, and
//! honour [`Pop3Server::poll_timeout`]. A message is sent chunk by chunk through
//! `poll_transmit`: [`Pop3Event::Retrieve`] and each [`Pop3Event::RetrieveMore`] are
//! answered with the next encoded chunk ([`Pop3Server::retrieve_chunk`]), so the driver's
//! output backlog, not the message size, bounds what is held in memory.

use std::time::{Duration, Instant};

use crate::machine::{
    next_deadline, Asking, AuthOutcome, CloseReason, Hold, Machine, TlsInfo, Token, Wire,
    DEFAULT_MAX_PIPELINED,
};
use crate::sasl::{Credentials, Mechanism, SaslError, SaslExchange, Secret, Step};

/// Limits and policy of a POP3 session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pop3Config {
    /// This host's name, for the greeting.
    pub hostname: String,
    /// Whether STLS may be offered (a certificate is available).
    pub starttls: bool,
    /// Whether the session started in TLS (POP3S).
    pub implicit_tls: bool,
    /// Whether USER/PASS and AUTH are allowed without TLS.
    pub allow_plaintext_auth: bool,
    /// Failed logins before the session is closed.
    pub max_auth_failures: u32,
    /// Delay before `-ERR` for a failed login; the n-th failure waits n times this.
    pub auth_failure_delay: Duration,
    /// Idle time before autologout (RFC 1939 §3: at least 10 minutes).
    pub idle_timeout: Duration,
    /// Bad commands tolerated before the session is closed.
    pub max_errors: u32,
    /// Pipelined input kept while an answer is pending, before reading stops.
    pub max_pipelined: usize,
}

impl Default for Pop3Config {
    fn default() -> Self {
        Self {
            hostname: "localhost".into(),
            starttls: false,
            implicit_tls: false,
            allow_plaintext_auth: false,
            max_auth_failures: 3,
            auth_failure_delay: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(600),
            max_errors: 20,
            max_pipelined: DEFAULT_MAX_PIPELINED,
        }
    }
}

/// One message of the maildrop as the session sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// Size in octets as served (RFC 1939 §5 LIST).
    pub size: u64,
    /// The unique-id listing (RFC 1939 §7 UIDL): 1 to 70 characters 0x21-0x7E.
    pub uid: String,
}

/// Why the maildrop could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Another session holds it: `-ERR [IN-USE]`.
    #[error("the maildrop is in use by another session")]
    InUse,
    /// Something else (shown to the client as `[SYS/TEMP]`).
    #[error("cannot open the maildrop: {0}")]
    Failed(String),
}

/// Things only the runtime can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pop3Event {
    /// STLS accepted and `+OK` written: run the TLS handshake, then `tls_established`.
    StartTls,
    /// Check a login; answer with `auth_result`.
    Authenticate {
        /// Answer token.
        token: Token,
        /// The credentials.
        credentials: Credentials,
    },
    /// Lock and list the user's maildrop; answer with `maildrop_opened`.
    OpenMaildrop {
        /// Answer token.
        token: Token,
        /// The authenticated user.
        user: String,
    },
    /// Send message `index` (0-based): the whole (`top_lines: None`) or its header and
    /// that many body lines. Answer with `retrieve_chunk`: its first chunk.
    Retrieve {
        /// Answer token.
        token: Token,
        /// 0-based message index.
        index: usize,
        /// TOP's line count.
        top_lines: Option<usize>,
    },
    /// The chunk answering the last `Retrieve` or `RetrieveMore` was queued: answer with
    /// `retrieve_chunk`, the next one (or `None` after the last).
    RetrieveMore {
        /// Answer token.
        token: Token,
    },
    /// QUIT in TRANSACTION state: remove these messages (0-based) and unlock; answer with
    /// `committed`.
    Commit {
        /// Answer token.
        token: Token,
        /// Messages marked deleted.
        deleted: Vec<usize>,
    },
    /// The session is over: flush, unlock the maildrop if open, close. After a
    /// [`CloseReason::PeerClosed`] nothing is deleted (no UPDATE state).
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Authorization,
    Transaction,
    Closed,
}

#[derive(Debug)]
enum Pending {
    Auth,
    Open,
    /// A message being sent; `started` once its `+OK` went out.
    Retrieve {
        index: usize,
        started: bool,
    },
    Commit,
    StartTls,
}

/// Longest command line (RFC 2449 §4: 255 octets); SASL responses may be longer.
const MAX_COMMAND: usize = 255;
const MAX_SASL_LINE: usize = 12_288;

/// What a held answer does when released.
#[derive(Debug)]
enum Held {
    /// The login succeeded: open the maildrop (its answer is the +OK).
    Open(String),
    /// `-ERR text`, then close the session if `close`.
    Refuse { text: String, close: bool },
}

/// One POP3 session.
#[derive(Debug)]
pub struct Pop3Server {
    config: Pop3Config,
    state: State,
    wire: Wire<Pop3Event>,
    pending: Asking<Pending>,
    tls: bool,
    user: Option<String>,
    sasl: Option<SaslExchange>,
    auth_failures: u32,
    errors: u32,
    /// An answer kept back (failed logins, login penalties); input waits meanwhile.
    hold: Option<Hold<Held>>,
    messages: Vec<MessageInfo>,
    deleted: Vec<bool>,
    now: Instant,
    deadline: Instant,
    swallowing: bool,
}

impl Pop3Server {
    /// Starts a session and queues the greeting.
    pub fn new(config: Pop3Config, now: Instant) -> Self {
        let deadline = now + config.idle_timeout;
        let tls = config.implicit_tls;
        let mut s = Self {
            config,
            state: State::Authorization,
            wire: Wire::new(),
            pending: Asking::new(),
            tls,
            user: None,
            sasl: None,
            auth_failures: 0,
            errors: 0,
            hold: None,
            messages: Vec::new(),
            deleted: Vec::new(),
            now,
            deadline,
            swallowing: false,
        };
        s.ok("POP3 server ready");
        s
    }

    /// Whether buffered input is being consumed (no answer pending, nothing held).
    fn is_ready(&self) -> bool {
        !self.pending.is_pending() && self.hold.is_none()
    }

    /// Answers [`Pop3Event::Authenticate`]. `hold` keeps the answer back, whatever it is
    /// (the runtime's penalty for recent failures from this client or against this
    /// account; `Duration::ZERO` for none). A failure is answered after the longer of
    /// `hold` and a delay that grows with each failure of this session.
    pub fn auth_result(&mut self, token: Token, outcome: AuthOutcome, hold: Duration) {
        if !self.take(token, |p| matches!(p, Pending::Auth)) {
            return;
        }
        let (then, delay) = match outcome {
            AuthOutcome::Success(user) => {
                self.user = Some(user.clone());
                (Held::Open(user), hold)
            }
            AuthOutcome::TemporaryFailure => (
                Held::Refuse {
                    text: "[SYS/TEMP] Temporary authentication failure".into(),
                    close: false,
                },
                hold,
            ),
            AuthOutcome::Failure => {
                self.auth_failures += 1;
                let close = self.auth_failures >= self.config.max_auth_failures;
                let delay = crate::penalty::failed_login_delay(
                    self.config.auth_failure_delay,
                    self.auth_failures,
                    hold,
                );
                let text = "[AUTH] Authentication failed".into();
                (Held::Refuse { text, close }, delay)
            }
        };
        self.hold = Some(Hold {
            until: self.now + delay,
            then,
        });
        // A zero hold is released at once, as if its deadline had passed.
        if delay.is_zero() {
            self.handle_timeout(self.now);
        }
    }

    /// Asks the runtime to open `user`'s maildrop after a successful login.
    fn open_maildrop(&mut self, user: String) {
        let t = self.ask(Pending::Open);
        self.wire
            .events
            .push_back(Pop3Event::OpenMaildrop { token: t, user });
    }

    /// Answers [`Pop3Event::OpenMaildrop`] with the messages, or why it failed.
    pub fn maildrop_opened(&mut self, token: Token, result: Result<Vec<MessageInfo>, OpenError>) {
        if !self.take(token, |p| matches!(p, Pending::Open)) {
            return;
        }
        match result {
            Ok(messages) => {
                let total: u64 = messages.iter().map(|m| m.size).sum();
                let n = messages.len();
                self.deleted = vec![false; n];
                self.messages = messages;
                self.state = State::Transaction;
                self.ok(&format!("Logged in: {n} messages ({total} octets)"));
            }
            Err(OpenError::InUse) => {
                self.user = None;
                self.err("[IN-USE] Mailbox is locked by another POP3 session");
            }
            Err(OpenError::Failed(why)) => {
                self.user = None;
                self.err(&format!("[SYS/TEMP] Cannot open the mailbox: {why}"));
            }
        }
        self.process();
    }

    /// Answers [`Pop3Event::Retrieve`] and [`Pop3Event::RetrieveMore`]: `Ok(Some(chunk))`
    /// queues the next bytes of the encoded message (after the `+OK` line for the first)
    /// and asks for more with `RetrieveMore`; `Ok(None)` ends the message (the encoded
    /// bytes carried its final `.` line). `Err` (or `Ok(None)`) before the first chunk
    /// answers `-ERR`; an `Err` after it leaves the response unfinishable and closes the
    /// session.
    pub fn retrieve_chunk(&mut self, token: Token, chunk: Result<Option<Vec<u8>>, String>) {
        let Some(Pending::Retrieve { index, started }) = self
            .pending
            .answer_if(token, |p| matches!(p, Pending::Retrieve { .. }))
        else {
            return;
        };
        self.touch();
        match chunk {
            Ok(Some(bytes)) => {
                if !started {
                    let size = self.messages.get(index).map_or(0, |m| m.size);
                    self.ok(&format!("{size} octets"));
                }
                self.wire.output.extend_from_slice(&bytes);
                let token = self.pending.ask(Pending::Retrieve {
                    index,
                    started: true,
                });
                self.wire
                    .events
                    .push_back(Pop3Event::RetrieveMore { token });
            }
            Ok(None) if started => self.process(),
            Ok(None) => {
                self.err("[SYS/TEMP] The message could not be read");
                self.process();
            }
            Err(e) if !started => {
                self.err(&format!("[SYS/TEMP] {e}"));
                self.process();
            }
            Err(_) => self.close(CloseReason::Failed),
        }
    }

    /// Answers [`Pop3Event::Commit`].
    pub fn committed(&mut self, token: Token, result: Result<(), String>) {
        if !self.take(token, |p| matches!(p, Pending::Commit)) {
            return;
        }
        match result {
            Ok(()) => self.ok("Logging out"),
            Err(e) => self.err(&format!(
                "[SYS/TEMP] Some deleted messages were not removed: {e}"
            )),
        }
        self.close(CloseReason::Quit);
    }

    /// Whether `token` answers the pending question and `is` accepts it (the kit's
    /// wrong-token policy: anything else is ignored); restarts the autologout timer.
    fn take(&mut self, token: Token, is: impl FnOnce(&Pending) -> bool) -> bool {
        if self.pending.answer_if(token, is).is_none() {
            return false;
        }
        self.touch();
        true
    }

    fn ask(&mut self, p: Pending) -> Token {
        self.pending.ask(p)
    }

    fn touch(&mut self) {
        self.deadline = self.now + self.config.idle_timeout;
    }

    fn ok(&mut self, text: &str) {
        self.wire
            .output
            .extend_from_slice(format!("+OK {text}\r\n").as_bytes());
    }

    fn err(&mut self, text: &str) {
        self.wire
            .output
            .extend_from_slice(format!("-ERR {text}\r\n").as_bytes());
    }

    fn close(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.pending.clear();
        self.hold = None;
        self.wire.input.clear();
        self.wire.events.push_back(Pop3Event::Closed { reason });
    }

    fn error(&mut self, text: &str) {
        self.err(text);
        self.errors += 1;
        if self.errors >= self.config.max_errors {
            self.err("Too many bad commands");
            self.close(CloseReason::TooManyErrors);
        }
    }

    fn auth_allowed(&self) -> bool {
        self.tls || self.config.allow_plaintext_auth
    }

    fn process(&mut self) {
        while self.state != State::Closed && self.is_ready() {
            let auth_line = self
                .wire
                .input
                .get(..5)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"AUTH "));
            let limit = if self.sasl.is_some() || auth_line {
                MAX_SASL_LINE
            } else {
                MAX_COMMAND
            };
            let Some(lf) = memchr::memchr(b'\n', &self.wire.input) else {
                if self.wire.input.len() > limit {
                    self.wire.input.clear();
                    self.swallowing = true;
                }
                return;
            };
            let line: Vec<u8> = self.wire.input.drain(..=lf).collect();
            self.touch();
            if self.swallowing || line.len() > limit + 2 {
                self.swallowing = false;
                self.sasl = None;
                self.error("Line too long");
                continue;
            }
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            let line = line.strip_suffix(b"\r").unwrap_or(line).to_vec();
            if self.sasl.is_some() {
                let step = match self.sasl.as_mut() {
                    Some(ex) => ex.respond(&line),
                    None => Step::Failed(SaslError::Malformed),
                };
                self.sasl_step(step);
                continue;
            }
            self.command(&line);
        }
    }

    fn command(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let mut parts = text.splitn(2, ' ');
        let verb = parts.next().unwrap_or("").to_ascii_uppercase();
        let arg = parts.next().unwrap_or("").trim().to_string();
        match (self.state, verb.as_str()) {
            (_, "CAPA") => self.capa(),
            (_, "QUIT") => self.quit(),
            (_, "NOOP") if self.state == State::Transaction => self.ok(""),
            (State::Authorization, "STLS") => self.stls(),
            (State::Authorization, "USER") => {
                if !self.auth_allowed() {
                    self.err(
                        "[AUTH] Plaintext authentication disallowed on non-secure connections",
                    );
                } else if arg.is_empty() {
                    self.error("USER needs a name");
                } else {
                    self.user = Some(arg);
                    self.ok("");
                }
            }
            (State::Authorization, "PASS") => {
                if !self.auth_allowed() {
                    self.err(
                        "[AUTH] Plaintext authentication disallowed on non-secure connections",
                    );
                    return;
                }
                let Some(user) = self.user.take() else {
                    return self.error("No username given");
                };
                // The password may contain spaces (RFC 1939 §7).
                let password = text.get(5..).unwrap_or("").to_string();
                let token = self.ask(Pending::Auth);
                self.wire.events.push_back(Pop3Event::Authenticate {
                    token,
                    credentials: Credentials {
                        authzid: None,
                        username: user,
                        password: Secret::new(password),
                        mechanism: Mechanism::Plain,
                    },
                });
            }
            (State::Authorization, "AUTH") => self.auth(&arg),
            (State::Authorization, "APOP") => self.error("APOP is not supported"),
            (State::Transaction, "STAT") => {
                let (n, size) = self
                    .live()
                    .fold((0, 0), |(n, s), (_, m)| (n + 1, s + m.size));
                self.ok(&format!("{n} {size}"));
            }
            (State::Transaction, "LIST") => self.listing(&arg, |m| m.size.to_string()),
            (State::Transaction, "UIDL") => self.listing(&arg, |m| m.uid.clone()),
            (State::Transaction, "RETR") => match self.message_arg(&arg) {
                Ok(i) => self.retrieve(i, None),
                Err(e) => self.error(&e),
            },
            (State::Transaction, "TOP") => {
                let mut a = arg.split_whitespace();
                let (Some(m), Some(n), None) = (a.next(), a.next(), a.next()) else {
                    return self.error("Syntax: TOP msg lines");
                };
                let Ok(lines) = n.parse::<usize>() else {
                    return self.error("Invalid number of lines");
                };
                match self.message_arg(m) {
                    Ok(i) => self.retrieve(i, Some(lines)),
                    Err(e) => self.error(&e),
                }
            }
            (State::Transaction, "DELE") => match self.message_arg(&arg) {
                Ok(i) => {
                    self.deleted[i] = true;
                    self.ok("Marked to be deleted");
                }
                Err(e) => self.error(&e),
            },
            (State::Transaction, "RSET") => {
                self.deleted.iter_mut().for_each(|d| *d = false);
                let n = self.messages.len();
                self.ok(&format!("{n} messages"));
            }
            (
                State::Authorization,
                "STAT" | "LIST" | "UIDL" | "RETR" | "TOP" | "DELE" | "RSET" | "NOOP",
            ) => self.error("Not logged in"),
            (State::Transaction, "USER" | "PASS" | "AUTH" | "APOP" | "STLS") => {
                self.error("Already logged in")
            }
            _ => self.error("Unknown command"),
        }
    }

    fn live(&self) -> impl Iterator<Item = (usize, &MessageInfo)> {
        self.messages
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.deleted[*i])
    }

    /// A message number argument: 1-based, existing, not deleted.
    fn message_arg(&self, arg: &str) -> Result<usize, String> {
        let n: usize = arg
            .trim()
            .parse()
            .map_err(|_| "Invalid message number".to_string())?;
        if n == 0 || n > self.messages.len() {
            return Err("There's no message".into());
        }
        if self.deleted[n - 1] {
            return Err("Message is deleted".into());
        }
        Ok(n - 1)
    }

    fn listing(&mut self, arg: &str, value: impl Fn(&MessageInfo) -> String) {
        if !arg.is_empty() {
            match self.message_arg(arg) {
                Ok(i) => {
                    let v = value(&self.messages[i]);
                    self.ok(&format!("{} {v}", i + 1));
                }
                Err(e) => self.error(&e),
            }
            return;
        }
        let mut out = String::from("+OK\r\n");
        for (i, m) in self.live() {
            out.push_str(&format!("{} {}\r\n", i + 1, value(m)));
        }
        out.push_str(".\r\n");
        self.wire.output.extend_from_slice(out.as_bytes());
    }

    fn retrieve(&mut self, index: usize, top_lines: Option<usize>) {
        let token = self.ask(Pending::Retrieve {
            index,
            started: false,
        });
        self.wire.events.push_back(Pop3Event::Retrieve {
            token,
            index,
            top_lines,
        });
    }

    fn capa(&mut self) {
        let mut lines = vec!["+OK Capability list follows".to_string()];
        lines.push("TOP".into());
        lines.push("UIDL".into());
        lines.push("RESP-CODES".into());
        lines.push("AUTH-RESP-CODE".into());
        lines.push("PIPELINING".into());
        lines.push("EXPIRE NEVER".into());
        lines.push("IMPLEMENTATION postrider".into());
        if self.state == State::Authorization {
            if self.auth_allowed() {
                lines.push("USER".into());
                lines.push("SASL PLAIN LOGIN".into());
            }
            if self.config.starttls && !self.tls {
                lines.push("STLS".into());
            }
        }
        lines.push(".".into());
        let text = lines.join("\r\n") + "\r\n";
        self.wire.output.extend_from_slice(text.as_bytes());
    }

    fn stls(&mut self) {
        if self.tls {
            return self.error("Command not permitted when TLS active");
        }
        if !self.config.starttls {
            return self.error("STLS is not available");
        }
        self.ok("Begin TLS negotiation now");
        self.wire.input.clear();
        let _ = self.ask(Pending::StartTls);
        self.wire.events.push_back(Pop3Event::StartTls);
    }

    fn auth(&mut self, arg: &str) {
        if !self.auth_allowed() {
            self.err("[AUTH] Plaintext authentication disallowed on non-secure connections");
            return;
        }
        let mut words = arg.split_whitespace();
        let Some(mech) = words.next() else {
            // RFC 1734 style listing.
            self.wire
                .output
                .extend_from_slice(b"+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n");
            return;
        };
        let Some(mech) = Mechanism::from_name(mech) else {
            return self.error("Unsupported authentication mechanism");
        };
        let initial = words.next();
        let (ex, step) = SaslExchange::start(mech, initial.map(str::as_bytes));
        self.sasl = Some(ex);
        self.sasl_step(step);
    }

    fn sasl_step(&mut self, step: Step) {
        match step {
            Step::Challenge(c) => {
                self.wire
                    .output
                    .extend_from_slice(format!("+ {c}\r\n").as_bytes());
            }
            Step::Done(credentials) => {
                self.sasl = None;
                let token = self.ask(Pending::Auth);
                self.wire
                    .events
                    .push_back(Pop3Event::Authenticate { token, credentials });
            }
            Step::Failed(e) => {
                self.sasl = None;
                self.error(match e {
                    SaslError::Cancelled => "Authentication cancelled",
                    SaslError::BadBase64 => "Invalid base64 data",
                    SaslError::Malformed => "Invalid authentication data",
                });
            }
        }
    }

    fn quit(&mut self) {
        if self.state == State::Transaction {
            let deleted: Vec<usize> = (0..self.messages.len())
                .filter(|&i| self.deleted[i])
                .collect();
            let token = self.ask(Pending::Commit);
            self.wire
                .events
                .push_back(Pop3Event::Commit { token, deleted });
        } else {
            self.ok("Logging out");
            self.close(CloseReason::Quit);
        }
    }
}

impl Machine for Pop3Server {
    type Event = Pop3Event;

    /// Whether more input should be read now: until the session closes, except between
    /// STLS and the handshake, and while the pipelined input waiting behind a pending
    /// answer reaches the cap.
    fn wants_input(&self) -> bool {
        let open =
            self.state != State::Closed && !matches!(self.pending.get(), Some(Pending::StartTls));
        self.wire
            .wants_input(open, self.is_ready(), self.config.max_pipelined)
    }

    /// Whether the session is over.
    fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Bytes from the client.
    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        self.now = now;
        self.wire.input.extend_from_slice(bytes);
        self.process();
    }

    /// The client closed the connection: nothing is deleted (RFC 1939 §6).
    fn handle_eof(&mut self, now: Instant) {
        self.now = now;
        self.close(CloseReason::PeerClosed);
    }

    /// Call when the deadline from [`Pop3Server::poll_timeout`] has passed.
    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.state == State::Closed || self.pending.is_pending() {
            return;
        }
        if self.hold.is_some() {
            let Some(then) = Hold::take_due(&mut self.hold, now) else {
                return;
            };
            match then {
                Held::Open(user) => self.open_maildrop(user),
                Held::Refuse { text, close: true } => {
                    self.err(&text);
                    self.err("Too many authentication failures");
                    self.close(CloseReason::TooManyErrors);
                }
                Held::Refuse { text, close: false } => {
                    self.err(&text);
                    self.touch();
                    self.process();
                }
            }
            return;
        }
        if now >= self.deadline {
            self.err("Disconnected for inactivity");
            self.close(CloseReason::Timeout);
        }
    }

    /// Ends the session from the server side.
    fn shutdown(&mut self) {
        if self.state != State::Closed {
            self.err("Server shutting down");
            self.close(CloseReason::Shutdown);
        }
    }

    /// Bytes to write, if any.
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.wire.transmit()
    }

    /// The next thing the runtime must do.
    fn poll_event(&mut self) -> Option<Pop3Event> {
        self.wire.events.pop_front()
    }

    /// The next event, left in place.
    fn peek_event(&self) -> Option<&Pop3Event> {
        self.wire.events.front()
    }

    /// The next deadline.
    fn poll_timeout(&self) -> Option<Instant> {
        next_deadline(
            self.state != State::Closed,
            self.pending.is_pending(),
            self.hold.as_ref(),
            self.deadline,
        )
    }

    /// Reports a finished TLS handshake after [`Pop3Event::StartTls`].
    fn tls_established(&mut self, now: Instant, _info: TlsInfo) {
        self.now = now;
        if matches!(self.pending.get(), Some(Pending::StartTls)) {
            self.pending.clear();
        }
        self.tls = true;
        self.wire.input.clear();
        self.touch();
    }
}
