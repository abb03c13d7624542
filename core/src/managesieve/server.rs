//! The ManageSieve server machine (RFC 5804) in the handle_*/poll_* shape of the other
//! servers: capabilities in the greeting and after STARTTLS, SASL logins (PLAIN, LOGIN;
//! only over TLS unless plaintext is allowed) held back after failures, and the script
//! commands. Scripts are checked here (size, UTF-8, names, and the Sieve compiler of
//! [`crate::sieve`]: errors as `line:column: reason`) before the runtime is asked to
//! store, list, fetch, activate, rename or delete them ([`SieveEvent::Scripts`]).
//!
//! # Run loop
//! As for [`crate::smtp::SmtpServer`]: feed input with `handle_input`, drain
//! `poll_transmit` and `poll_event`, answer tokens ([`ManageSieveServer::auth_result`],
//! [`ManageSieveServer::answer`]), honour `poll_timeout`; after [`SieveEvent::StartTls`],
//! flush, handshake and call `tls_established`.

use std::time::{Duration, Instant};

use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::combinator::{eof, opt};
use nom::Parser;

use super::parse::{parse_command, sieve_string, Command};
use crate::imap::framing::{frame_line, Framing};
use crate::imap::lex::{literal, quoted};
use crate::machine::{
    next_deadline, Asking, AuthOutcome, CloseReason, Hold, Machine, TlsInfo, Token, Wire,
    DEFAULT_MAX_PIPELINED,
};
use crate::sasl::{Credentials, Mechanism, SaslError, SaslExchange, Step, MECHANISMS};

/// Limits and policy of a ManageSieve session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManageSieveConfig {
    /// This host's name, for the greeting.
    pub hostname: String,
    /// Whether STARTTLS may be offered (a certificate is available).
    pub starttls: bool,
    /// Whether logins are allowed without TLS.
    pub allow_plaintext_auth: bool,
    /// Failed logins before the session is closed.
    pub max_auth_failures: u32,
    /// Delay before `NO` for a failed login; the n-th failure waits n times this.
    pub auth_failure_delay: Duration,
    /// Idle time before the session is closed.
    pub idle_timeout: Duration,
    /// Bad commands tolerated before the session is closed.
    pub max_errors: u32,
    /// Largest script (and literal) accepted, in octets (`QUOTA/MAXSIZE` above it).
    pub max_script_size: u64,
    /// Longest command line, literals not counted.
    pub max_line: usize,
    /// The Sieve extensions announced (space-separated).
    pub extensions: String,
    /// Redirects a script may make (announced as MAXREDIRECTS).
    pub max_redirects: u32,
    /// Pipelined input kept while an answer is pending, before reading stops.
    pub max_pipelined: usize,
}

impl Default for ManageSieveConfig {
    fn default() -> Self {
        Self {
            hostname: "localhost".into(),
            starttls: false,
            allow_plaintext_auth: false,
            max_auth_failures: 3,
            auth_failure_delay: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(600),
            max_errors: 20,
            max_script_size: 256 * 1024,
            max_line: 8192,
            extensions: crate::sieve::EXTENSIONS.join(" "),
            max_redirects: 5,
            max_pipelined: DEFAULT_MAX_PIPELINED,
        }
    }
}

/// What the runtime is asked to do with the logged-in user's scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// List them: answer [`Answer::Listing`].
    List,
    /// Fetch one: answer [`Answer::Script`].
    Get(String),
    /// Store one (already checked): answer [`Answer::Done`].
    Put {
        /// Its name.
        name: String,
        /// Its text.
        script: Vec<u8>,
    },
    /// Make one active (None: none).
    SetActive(Option<String>),
    /// Delete one that is not active.
    Delete(String),
    /// Rename one.
    Rename {
        /// The current name.
        old: String,
        /// The new name.
        new: String,
    },
    /// Whether a script of this name and size could be stored (the size is already
    /// within the limit; the runtime checks how many scripts there are).
    HaveSpace {
        /// Its name.
        name: String,
        /// Its size.
        size: u64,
    },
}

/// Why the runtime did not do what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No script by that name: `NO (NONEXISTENT)`.
    NoSuchScript,
    /// The script is active: `NO (ACTIVE)`.
    Active,
    /// The new name is taken: `NO (ALREADYEXISTS)`.
    NameTaken,
    /// No room for another script: `NO (QUOTA/MAXSCRIPTS)`.
    TooManyScripts,
}

/// The runtime's answer to [`SieveEvent::Scripts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Done.
    Done,
    /// The scripts: name and whether it is active.
    Listing(Vec<(String, bool)>),
    /// A script's text.
    Script(Vec<u8>),
    /// Refused for this reason.
    Refused(Refusal),
    /// The storage failed: `NO (TRYLATER)`.
    Failed(String),
}

/// Things only the runtime can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SieveEvent {
    /// STARTTLS accepted and `OK` written: run the handshake, then `tls_established`.
    StartTls,
    /// Check a login; answer with [`ManageSieveServer::auth_result`].
    Authenticate {
        /// Answer token.
        token: Token,
        /// The credentials.
        credentials: Credentials,
    },
    /// Work on the logged-in user's scripts; answer with [`ManageSieveServer::answer`].
    Scripts {
        /// Answer token.
        token: Token,
        /// The logged-in user.
        user: String,
        /// What to do.
        request: Request,
    },
    /// The session is over: flush, then close.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    NotAuthenticated,
    Authenticated,
    Closed,
}

#[derive(Debug)]
enum Pending {
    Auth,
    StartTls,
    Scripts(&'static str),
}

/// What a held answer does when released.
#[derive(Debug)]
enum Held {
    LoggedIn,
    Refuse { text: String, close: bool },
}

/// One ManageSieve session.
#[derive(Debug)]
pub struct ManageSieveServer {
    config: ManageSieveConfig,
    state: State,
    wire: Wire<SieveEvent>,
    pending: Asking<Pending>,
    tls: bool,
    user: Option<String>,
    sasl: Option<SaslExchange>,
    auth_failures: u32,
    errors: u32,
    hold: Option<Hold<Held>>,
    now: Instant,
    deadline: Instant,
    /// Where framing of the command in the input resumes (after collected literals).
    scan_from: usize,
    /// Octets of a refused literal still to drop.
    skip: usize,
    /// Dropping input up to the next line end.
    swallow_line: bool,
}

impl ManageSieveServer {
    /// Starts a session: the capabilities, then `OK`.
    pub fn new(config: ManageSieveConfig, now: Instant) -> Self {
        let deadline = now + config.idle_timeout;
        let mut s = Self {
            config,
            state: State::NotAuthenticated,
            wire: Wire::new(),
            pending: Asking::new(),
            tls: false,
            user: None,
            sasl: None,
            auth_failures: 0,
            errors: 0,
            hold: None,
            now,
            deadline,
            scan_from: 0,
            skip: 0,
            swallow_line: false,
        };
        s.capabilities();
        let ready = format!("{} ManageSieve (postrider) ready.", s.config.hostname);
        s.ok(None, &ready);
        s
    }

    /// Answers [`SieveEvent::Authenticate`]; `hold` keeps the answer back (the runtime's
    /// penalty for recent failures). A failure waits at least a delay that grows with
    /// each failure of this session.
    pub fn auth_result(&mut self, token: Token, outcome: AuthOutcome, hold: Duration) {
        if self
            .pending
            .answer_if(token, |p| matches!(p, Pending::Auth))
            .is_none()
        {
            return;
        }
        self.touch();
        let (then, delay) = match outcome {
            AuthOutcome::Success(user) => {
                self.user = Some(user);
                (Held::LoggedIn, hold)
            }
            AuthOutcome::TemporaryFailure => (
                Held::Refuse {
                    text: "Temporary authentication failure".into(),
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
                let text = "Authentication failed.".into();
                (Held::Refuse { text, close }, delay)
            }
        };
        self.hold = Some(Hold {
            until: self.now + delay,
            then,
        });
        if delay.is_zero() {
            self.handle_timeout(self.now);
        }
    }

    /// Answers [`SieveEvent::Scripts`].
    pub fn answer(&mut self, token: Token, answer: Answer) {
        let Some(Pending::Scripts(command)) = self
            .pending
            .answer_if(token, |p| matches!(p, Pending::Scripts(_)))
        else {
            return;
        };
        self.touch();
        match answer {
            Answer::Done => self.ok(None, &format!("{command} completed.")),
            Answer::Listing(scripts) => {
                for (name, active) in scripts {
                    self.wire.output.extend(sieve_string(name.as_bytes()));
                    if active {
                        self.wire.output.extend_from_slice(b" ACTIVE");
                    }
                    self.wire.output.extend_from_slice(b"\r\n");
                }
                self.ok(None, &format!("{command} completed."));
            }
            Answer::Script(text) => {
                let head = format!("{{{}}}\r\n", text.len());
                self.wire.output.extend_from_slice(head.as_bytes());
                self.wire.output.extend_from_slice(&text);
                self.wire.output.extend_from_slice(b"\r\n");
                self.ok(None, &format!("{command} completed."));
            }
            Answer::Refused(r) => {
                let (code, text) = match r {
                    Refusal::NoSuchScript => ("NONEXISTENT", "There is no script by that name."),
                    Refusal::Active => ("ACTIVE", "You may not delete an active script."),
                    Refusal::NameTaken => ("ALREADYEXISTS", "A script with that name exists."),
                    Refusal::TooManyScripts => ("QUOTA/MAXSCRIPTS", "Too many scripts."),
                };
                self.no(Some(code), text);
            }
            Answer::Failed(why) => self.no(Some("TRYLATER"), &format!("{command} failed: {why}")),
        }
        self.process();
    }

    fn touch(&mut self) {
        self.deadline = self.now + self.config.idle_timeout;
    }

    fn is_ready(&self) -> bool {
        !self.pending.is_pending() && self.hold.is_none()
    }

    /// `OK [(code)] "text"`.
    fn ok(&mut self, code: Option<&str>, text: &str) {
        self.status("OK", code, text);
    }

    /// `NO [(code)] "text"`.
    fn no(&mut self, code: Option<&str>, text: &str) {
        self.status("NO", code, text);
    }

    fn status(&mut self, word: &str, code: Option<&str>, text: &str) {
        self.wire.output.extend_from_slice(word.as_bytes());
        if let Some(c) = code {
            self.wire
                .output
                .extend_from_slice(format!(" ({c})").as_bytes());
        }
        self.wire.output.push(b' ');
        self.wire.output.extend(sieve_string(text.as_bytes()));
        self.wire.output.extend_from_slice(b"\r\n");
    }

    /// A refused command: `NO`, counted against the error budget.
    fn error(&mut self, text: &str) {
        self.no(None, text);
        self.errors += 1;
        if self.errors >= self.config.max_errors {
            self.bye("Too many bad commands.");
            self.close(CloseReason::TooManyErrors);
        }
    }

    fn bye(&mut self, text: &str) {
        self.status("BYE", None, text);
    }

    fn close(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.pending.clear();
        self.hold = None;
        self.sasl = None;
        self.wire.input.clear();
        self.wire.events.push_back(SieveEvent::Closed { reason });
    }

    fn auth_allowed(&self) -> bool {
        self.tls || self.config.allow_plaintext_auth
    }

    /// The capability lines (§1.7).
    fn capabilities(&mut self) {
        let mut lines: Vec<(&str, String)> = vec![
            ("IMPLEMENTATION", "postrider".into()),
            ("SIEVE", self.config.extensions.clone()),
        ];
        if self.state == State::NotAuthenticated {
            let sasl = if self.auth_allowed() {
                MECHANISMS
                    .iter()
                    .map(|m| m.name())
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                String::new()
            };
            lines.push(("SASL", sasl));
            if self.config.starttls && !self.tls {
                lines.push(("STARTTLS", String::new()));
            }
        }
        if let Some(user) = &self.user {
            lines.push(("OWNER", user.clone()));
        }
        lines.push(("MAXREDIRECTS", self.config.max_redirects.to_string()));
        lines.push(("VERSION", "1.0".into()));
        for (name, value) in lines {
            self.wire.output.extend(sieve_string(name.as_bytes()));
            if name != "STARTTLS" {
                self.wire.output.push(b' ');
                self.wire.output.extend(sieve_string(value.as_bytes()));
            }
            self.wire.output.extend_from_slice(b"\r\n");
        }
    }

    /// Consumes buffered input until it runs out or an answer is pending.
    fn process(&mut self) {
        while self.state != State::Closed && self.is_ready() {
            if self.skip > 0 {
                let n = self.skip.min(self.wire.input.len());
                self.wire.input.drain(..n);
                self.skip -= n;
                if self.skip > 0 {
                    return;
                }
                continue;
            }
            if self.swallow_line {
                let Some(lf) = memchr::memchr(b'\n', &self.wire.input) else {
                    self.wire.input.clear();
                    return;
                };
                self.wire.input.drain(..=lf);
                self.swallow_line = false;
                continue;
            }
            match frame_line(&self.wire.input, self.scan_from) {
                Framing::Incomplete => {
                    if self.wire.input.len() - self.scan_from > self.config.max_line {
                        self.wire.input.clear();
                        self.scan_from = 0;
                        self.swallow_line = true;
                        self.error("Line too long.");
                    }
                    return;
                }
                Framing::Literal { data_at, len, .. } => {
                    if len as u64 > self.config.max_script_size {
                        // The client sends the octets anyway (no continuation in
                        // ManageSieve): they are dropped with the rest of the line.
                        self.wire.input.drain(..data_at);
                        self.scan_from = 0;
                        self.skip = len;
                        self.swallow_line = true;
                        self.sasl = None;
                        self.no(Some("QUOTA/MAXSIZE"), "Literal too large.");
                        self.errors += 1;
                        continue;
                    }
                    if self.wire.input.len() < data_at + len {
                        return;
                    }
                    self.scan_from = data_at + len;
                }
                Framing::Complete(end) => {
                    let bytes: Vec<u8> = self.wire.input.drain(..end).collect();
                    self.scan_from = 0;
                    self.touch();
                    match self.sasl.take() {
                        Some(ex) => self.sasl_response(ex, &bytes),
                        None => self.command(&bytes),
                    }
                }
            }
        }
    }

    fn command(&mut self, bytes: &[u8]) {
        let cmd = match parse_command(bytes) {
            Ok(c) => c,
            Err(e) => return self.error(&e),
        };
        let authenticated = self.state == State::Authenticated;
        match cmd {
            Command::Capability => {
                self.capabilities();
                self.ok(None, "Capability completed.");
            }
            Command::Logout => {
                self.ok(None, "Logout completed.");
                self.close(CloseReason::Quit);
            }
            Command::Noop(tag) => match tag {
                Some(t) => {
                    let code = format!(
                        "TAG {}",
                        String::from_utf8_lossy(&sieve_string(t.as_bytes()))
                    );
                    self.ok(Some(&code), "Done");
                }
                None => self.ok(None, "NOOP completed."),
            },
            Command::StartTls => self.starttls(),
            Command::Authenticate { .. } | Command::Unauthenticate
                if matches!(cmd, Command::Authenticate { .. }) == authenticated =>
            {
                self.error(if authenticated {
                    "Already authenticated."
                } else {
                    "Not authenticated."
                });
            }
            Command::Authenticate { mechanism, initial } => self.authenticate(&mechanism, initial),
            Command::Unauthenticate => {
                self.user = None;
                self.state = State::NotAuthenticated;
                self.ok(None, "Unauthenticate completed.");
            }
            _ if !authenticated => self.error("Authenticate first."),
            other => self.script_command(other),
        }
    }

    /// The commands on scripts (authenticated state).
    fn script_command(&mut self, cmd: Command) {
        let request = match cmd {
            Command::ListScripts => Request::List,
            Command::GetScript(name) => Request::Get(name),
            Command::SetActive(name) if name.is_empty() => Request::SetActive(None),
            Command::SetActive(name) => Request::SetActive(Some(name)),
            Command::DeleteScript(name) => Request::Delete(name),
            Command::RenameScript { old, new } => Request::Rename { old, new },
            Command::HaveSpace { name, size } => {
                if size > self.config.max_script_size {
                    return self.no(Some("QUOTA/MAXSIZE"), "Script too large.");
                }
                Request::HaveSpace { name, size }
            }
            Command::PutScript { name, script } => match self.check_script(&script) {
                Ok(()) => Request::Put { name, script },
                Err((code, why)) => return self.no(code, &why),
            },
            Command::CheckScript(script) => {
                match self.check_script(&script) {
                    Ok(()) => self.ok(None, "Script is valid."),
                    Err((code, why)) => self.no(code, &why),
                }
                return;
            }
            _ => return self.error("Unexpected command."),
        };
        let names: Vec<&str> = match &request {
            Request::Get(n) | Request::Delete(n) | Request::SetActive(Some(n)) => vec![n],
            Request::Put { name, .. } | Request::HaveSpace { name, .. } => vec![name],
            Request::Rename { old, new } => vec![old, new],
            Request::List | Request::SetActive(None) => Vec::new(),
        };
        if names.iter().any(|n| !valid_name(n)) {
            return self.no(None, "Invalid script name.");
        }
        let command = match &request {
            Request::List => "Listscripts",
            Request::Get(_) => "Getscript",
            Request::Put { .. } => "Putscript",
            Request::SetActive(_) => "Setactive",
            Request::Delete(_) => "Deletescript",
            Request::Rename { .. } => "Renamescript",
            Request::HaveSpace { .. } => "Havespace",
        };
        let token = self.pending.ask(Pending::Scripts(command));
        let user = self.user.clone().unwrap_or_default();
        self.wire.events.push_back(SieveEvent::Scripts {
            token,
            user,
            request,
        });
    }

    /// Whether a script may be stored: its size, UTF-8, and the Sieve compiler's verdict
    /// (the first errors as `line:column: reason`).
    fn check_script(&self, script: &[u8]) -> Result<(), (Option<&'static str>, String)> {
        if script.len() as u64 > self.config.max_script_size {
            return Err((Some("QUOTA/MAXSIZE"), "Script too large.".into()));
        }
        let Ok(text) = std::str::from_utf8(script) else {
            return Err((None, "Script is not UTF-8.".into()));
        };
        crate::sieve::Script::compile(text)
            .map(drop)
            .map_err(|errors| {
                let shown: Vec<String> =
                    errors.iter().take(5).map(|e| format!("line {e}")).collect();
                (None, shown.join("\r\n"))
            })
    }

    fn starttls(&mut self) {
        if self.tls || !self.config.starttls {
            return self.error("STARTTLS is not available.");
        }
        if self.state == State::Authenticated {
            return self.error("Already authenticated.");
        }
        self.ok(None, "Begin TLS negotiation now.");
        // RFC 5804 §2.2 (as RFC 3207): nothing sent before the handshake counts.
        self.wire.input.clear();
        self.scan_from = 0;
        let _ = self.pending.ask(Pending::StartTls);
        self.wire.events.push_back(SieveEvent::StartTls);
    }

    fn authenticate(&mut self, mechanism: &str, initial: Option<Vec<u8>>) {
        if !self.auth_allowed() {
            return self.no(
                Some("ENCRYPT-NEEDED"),
                "Authentication requires TLS: STARTTLS first.",
            );
        }
        let Some(mech) = Mechanism::from_name(mechanism) else {
            return self.error("Unsupported authentication mechanism.");
        };
        let (ex, step) = SaslExchange::start(mech, initial.as_deref());
        self.sasl_step(ex, step);
    }

    /// A client's answer to a SASL challenge: a string on its own line.
    fn sasl_response(&mut self, mut ex: SaslExchange, bytes: &[u8]) {
        let parsed = (
            alt((quoted, literal)),
            opt(tag(&b"\r"[..])),
            tag(&b"\n"[..]),
            eof,
        )
            .parse(bytes);
        let step = match parsed {
            Ok((_, (s, ..))) => ex.respond(&s),
            Err(_) => Step::Failed(SaslError::Malformed),
        };
        self.sasl_step(ex, step);
    }

    fn sasl_step(&mut self, ex: SaslExchange, step: Step) {
        match step {
            Step::Challenge(c) => {
                self.wire.output.extend(sieve_string(c.as_bytes()));
                self.wire.output.extend_from_slice(b"\r\n");
                self.sasl = Some(ex);
            }
            Step::Done(credentials) => {
                let token = self.pending.ask(Pending::Auth);
                self.wire
                    .events
                    .push_back(SieveEvent::Authenticate { token, credentials });
            }
            Step::Failed(e) => self.error(match e {
                SaslError::Cancelled => "Authentication cancelled.",
                SaslError::BadBase64 => "Invalid base64 data.",
                SaslError::Malformed => "Invalid authentication data.",
            }),
        }
    }
}

/// A script name RFC 5804 §1.6 allows: not empty, at most 255 characters, no control
/// characters (C0, DEL, C1) and no line or paragraph separator.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 255
        && !name
            .chars()
            .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
}

impl Machine for ManageSieveServer {
    type Event = SieveEvent;

    /// Whether more input should be read now: until the session closes, except between
    /// STARTTLS and the handshake, and while pipelined input waiting behind a pending
    /// answer reaches the cap.
    fn wants_input(&self) -> bool {
        let open =
            self.state != State::Closed && !matches!(self.pending.get(), Some(Pending::StartTls));
        self.wire
            .wants_input(open, self.is_ready(), self.config.max_pipelined)
    }

    fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        self.now = now;
        self.wire.input.extend_from_slice(bytes);
        self.process();
    }

    fn handle_eof(&mut self, now: Instant) {
        self.now = now;
        self.close(CloseReason::PeerClosed);
    }

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
                Held::LoggedIn => {
                    self.state = State::Authenticated;
                    self.ok(None, "Logged in.");
                }
                Held::Refuse { text, close } => {
                    self.no(None, &text);
                    if close {
                        self.bye("Too many authentication failures.");
                        return self.close(CloseReason::AuthFailures);
                    }
                }
            }
            self.touch();
            return self.process();
        }
        if now >= self.deadline {
            self.bye("Disconnected for inactivity.");
            self.close(CloseReason::Timeout);
        }
    }

    fn shutdown(&mut self) {
        if self.state != State::Closed {
            self.bye("Server shutting down.");
            self.close(CloseReason::Shutdown);
        }
    }

    fn tls_established(&mut self, now: Instant, _info: TlsInfo) {
        self.now = now;
        if matches!(self.pending.get(), Some(Pending::StartTls)) {
            self.pending.clear();
        }
        self.tls = true;
        self.wire.input.clear();
        self.scan_from = 0;
        self.touch();
        // §2.2: the capabilities again, then OK.
        self.capabilities();
        self.ok(None, "TLS negotiation successful.");
    }

    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.wire.transmit()
    }

    fn poll_event(&mut self) -> Option<SieveEvent> {
        self.wire.events.pop_front()
    }

    fn peek_event(&self) -> Option<&SieveEvent> {
        self.wire.events.front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        next_deadline(
            self.state != State::Closed,
            self.pending.is_pending(),
            self.hold.as_ref(),
            self.deadline,
        )
    }
}
