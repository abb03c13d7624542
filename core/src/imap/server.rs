//! The IMAP4rev1 server state machine (RFC 3501) with IDLE, UIDPLUS, MOVE, LITERAL+,
//! NAMESPACE, ID, ENABLE, UNSELECT, SPECIAL-USE and CHILDREN, in the handle_*/poll_*
//! shape of the other machines.
//!
//! The mail store is reached only through [`StoreRequest`]s that the runtime answers with
//! [`StoreReply`]s. The machine keeps the selected mailbox's model itself (sequence
//! numbers, UIDs, flags), so every sequence-number rule is pure: expunges and new
//! messages are announced at NOOP, CHECK and during IDLE, from the difference between
//! the model and the store's current view.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::imap::command::{
    frame_line, parse_command, parse_datetime, Command, FetchAttr, Framing, SearchKey, SeqNum,
    SeqSet, StatusItem, StoreMode,
};
use crate::imap::section::{section_bytes, Section, SectionText};
use crate::imap::structure::{body_structure, envelope, push_string};
use crate::imf::datetime::WallClock;
use crate::imf::header::split_header_to_blank_line;
use crate::mime::multipart::{parse_message, Limits};
use crate::sasl::{Credentials, Mechanism, SaslError, SaslExchange, Secret, Step};
use crate::smtp::{AuthOutcome, TlsInfo, Token};

/// Limits and policy of an IMAP session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImapConfig {
    /// This host's name.
    pub hostname: String,
    /// Whether STARTTLS may be offered.
    pub starttls: bool,
    /// Whether the session started in TLS (IMAPS).
    pub implicit_tls: bool,
    /// Whether LOGIN and AUTHENTICATE work without TLS.
    pub allow_plaintext_auth: bool,
    /// Failed logins before the session is closed.
    pub max_auth_failures: u32,
    /// Delay before a failed login's NO; the n-th failure waits n times this.
    pub auth_failure_delay: Duration,
    /// Idle time before autologout (RFC 3501 §5.4: at least 30 minutes).
    pub idle_timeout: Duration,
    /// How often a session in IDLE looks for news.
    pub idle_poll: Duration,
    /// Largest literal accepted (APPEND).
    pub max_literal: usize,
    /// Longest command line outside literals.
    pub max_line: usize,
    /// Bad commands tolerated before the session is closed.
    pub max_errors: u32,
}

impl Default for ImapConfig {
    fn default() -> Self {
        Self {
            hostname: "localhost".into(),
            starttls: false,
            implicit_tls: false,
            allow_plaintext_auth: false,
            max_auth_failures: 3,
            auth_failure_delay: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1800),
            idle_poll: Duration::from_secs(1),
            max_literal: 64 * 1024 * 1024,
            max_line: 64 * 1024,
            max_errors: 50,
        }
    }
}

/// One message as the store lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    /// Its UID.
    pub uid: u32,
    /// System flags and keywords.
    pub flags: Vec<String>,
    /// INTERNALDATE, with the zone it is shown in.
    pub internal_date: WallClock,
    /// RFC822.SIZE (CRLF line ends).
    pub size: u64,
}

/// A mailbox as the store sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxView {
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// UIDNEXT.
    pub uid_next: u32,
    /// The messages in order.
    pub messages: Vec<MessageMeta>,
    /// UIDs that are `\Recent` for this session (RFC 3501 §2.3.2): claimed by it.
    pub recent: Vec<u32>,
}

/// A message's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedMessage {
    /// Its UID.
    pub uid: u32,
    /// The message with CRLF line ends.
    pub data: Bytes,
}

/// One LIST/LSUB answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The mailbox name.
    pub name: String,
    /// Attributes such as `\HasNoChildren`, `\Noselect`, `\Sent`.
    pub attributes: Vec<String>,
}

/// STATUS facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusInfo {
    /// MESSAGES.
    pub messages: u32,
    /// RECENT.
    pub recent: u32,
    /// UIDNEXT.
    pub uid_next: u32,
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// UNSEEN.
    pub unseen: u32,
}

/// A store refusal: an optional response code (`TRYCREATE`, `NONEXISTENT`,
/// `ALREADYEXISTS`, `CANNOT`, `SERVERBUG`) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    /// Response code without brackets.
    pub code: Option<String>,
    /// Text.
    pub text: String,
}

impl StoreError {
    /// A refusal with a code.
    pub fn new(code: Option<&str>, text: impl Into<String>) -> Self {
        Self {
            code: code.map(str::to_string),
            text: text.into(),
        }
    }
}

/// What the machine asks of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreRequest {
    /// Check a login → [`StoreReply::Auth`].
    Login(Credentials),
    /// Open a mailbox → [`StoreReply::View`].
    Open {
        /// Mailbox.
        mailbox: String,
        /// SELECT (not EXAMINE): this session takes the `\Recent` messages.
        claim_recent: bool,
    },
    /// The current view of the selected mailbox → [`StoreReply::View`].
    Refresh {
        /// Mailbox.
        mailbox: String,
        /// Take newly arrived messages as `\Recent` (read-write sessions).
        claim_recent: bool,
    },
    /// LIST/LSUB → [`StoreReply::List`].
    List {
        /// Reference.
        reference: String,
        /// Pattern.
        pattern: String,
        /// LSUB.
        subscribed: bool,
    },
    /// STATUS → [`StoreReply::Status`].
    Status {
        /// Mailbox.
        mailbox: String,
    },
    /// CREATE → [`StoreReply::Done`].
    Create(String),
    /// DELETE → [`StoreReply::Done`].
    Delete(String),
    /// RENAME → [`StoreReply::Done`].
    Rename(String, String),
    /// SUBSCRIBE (true) / UNSUBSCRIBE → [`StoreReply::Done`].
    Subscribe(String, bool),
    /// APPEND → [`StoreReply::Appended`].
    Append {
        /// Mailbox.
        mailbox: String,
        /// Flags.
        flags: Vec<String>,
        /// INTERNALDATE as given, with its zone (None: now).
        date: Option<WallClock>,
        /// The message as sent.
        message: Vec<u8>,
    },
    /// Message contents → [`StoreReply::Messages`].
    Fetch {
        /// Mailbox.
        mailbox: String,
        /// UIDs.
        uids: Vec<u32>,
    },
    /// Change flags relative to what the store has now (so that two sessions do not
    /// overwrite each other's changes) → [`StoreReply::Flags`].
    SetFlags {
        /// Mailbox.
        mailbox: String,
        /// UIDs.
        uids: Vec<u32>,
        /// Replace, add or remove.
        mode: StoreMode,
        /// The flags.
        flags: Vec<String>,
    },
    /// Remove messages → [`StoreReply::Done`].
    Expunge {
        /// Mailbox.
        mailbox: String,
        /// UIDs.
        uids: Vec<u32>,
    },
    /// COPY / MOVE → [`StoreReply::Copied`].
    Copy {
        /// Source mailbox.
        mailbox: String,
        /// UIDs to copy.
        uids: Vec<u32>,
        /// Destination.
        to: String,
        /// Remove from the source afterwards (MOVE).
        is_move: bool,
    },
}

/// The store's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreReply {
    /// For Login: the outcome, and how long to keep the answer back whatever it is (the
    /// runtime's penalty for recent failures from this client or against this account;
    /// `Duration::ZERO` for none). A failure waits the longer of this and a delay that
    /// grows with each failure of the session.
    Auth(AuthOutcome, Duration),
    /// For Open and Refresh.
    View(Result<MailboxView, StoreError>),
    /// For List.
    List(Vec<ListEntry>),
    /// For Status.
    Status(Result<StatusInfo, StoreError>),
    /// For SetFlags: each message's flags afterwards.
    Flags(Result<Vec<(u32, Vec<String>)>, StoreError>),
    /// For Create, Delete, Rename, Subscribe, Expunge.
    Done(Result<(), StoreError>),
    /// For Append: (UIDVALIDITY, UID).
    Appended(Result<(u32, u32), StoreError>),
    /// For Fetch.
    Messages(Result<Vec<FetchedMessage>, StoreError>),
    /// For Copy: (destination UIDVALIDITY, [(source UID, new UID)]).
    Copied(Result<(u32, Vec<(u32, u32)>), StoreError>),
}

/// Things only the runtime can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImapEvent {
    /// Answer with [`ImapServer::reply`].
    Request {
        /// Answer token.
        token: Token,
        /// What.
        request: StoreRequest,
    },
    /// STARTTLS accepted: handshake, then [`ImapServer::tls_established`].
    StartTls,
    /// The session is over: flush and close.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    NotAuthenticated,
    Authenticated,
    Selected,
    Logout,
}

#[derive(Debug)]
struct Selected {
    name: String,
    read_only: bool,
    uid_validity: u32,
    uid_next: u32,
    msgs: Vec<MessageMeta>,
    recent: Vec<u32>,
    /// Keywords announced in FLAGS so far (a client must not see an unannounced one).
    keywords: Vec<String>,
}

/// What to do with the store's answer.
#[derive(Debug)]
enum Then {
    Login(String),
    Select {
        tag: String,
        name: String,
        read_only: bool,
    },
    Refresh {
        tag: Option<String>,
        text: String,
    },
    List {
        tag: String,
        subscribed: bool,
    },
    Status {
        tag: String,
        name: String,
        items: Vec<StatusItem>,
    },
    Done {
        tag: String,
        what: &'static str,
    },
    Append {
        tag: String,
        mailbox: String,
    },
    Fetch {
        tag: String,
        items: Vec<FetchAttr>,
        targets: Vec<(u32, u32)>,
    },
    SetFlags {
        tag: String,
        text: String,
    },
    Store {
        tag: String,
        uid: bool,
        silent: bool,
    },
    Expunge {
        tag: String,
        uids: Vec<u32>,
        close: bool,
    },
    Copy {
        tag: String,
        is_move: bool,
        to: String,
    },
    Search {
        tag: String,
        uid: bool,
        key: SearchKey,
    },
}

const SYSTEM_FLAGS: &str = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

/// One IMAP session.
#[derive(Debug)]
pub struct ImapServer {
    config: ImapConfig,
    state: State,
    input: Vec<u8>,
    /// Where the framer resumes in `input` (after literals already received).
    scan_from: usize,
    output: Vec<u8>,
    events: VecDeque<ImapEvent>,
    pending: Option<(u64, Then)>,
    next_token: u64,
    tls: bool,
    selected: Option<Selected>,
    idle_tag: Option<String>,
    idle_next: Instant,
    sasl: Option<(String, SaslExchange)>,
    auth_failures: u32,
    errors: u32,
    hold: Option<(Instant, String, bool)>,
    now: Instant,
    deadline: Instant,
    skip: usize,
    literal_ack: Option<usize>,
    swallow_line: bool,
}

fn quote(out: &mut Vec<u8>, s: &str) {
    push_string(out, s.as_bytes());
}

fn flags_text(flags: &[String]) -> String {
    format!("({})", flags.join(" "))
}

/// The flags as shown to the client: `\Recent` added for this session's recent messages.
fn with_recent(flags: &[String], recent: bool) -> Vec<String> {
    let mut out = flags.to_vec();
    if recent {
        out.push("\\Recent".into());
    }
    out
}

fn has_flag(flags: &[String], f: &str) -> bool {
    flags.iter().any(|x| x.eq_ignore_ascii_case(f))
}

/// How a section specifier is echoed in a FETCH response.
fn section_name(s: &Section) -> String {
    let mut out: Vec<String> = s.part.iter().map(|n| n.to_string()).collect();
    let text = match &s.text {
        SectionText::Full => None,
        SectionText::Header => Some("HEADER".to_string()),
        SectionText::Text => Some("TEXT".to_string()),
        SectionText::Mime => Some("MIME".to_string()),
        SectionText::HeaderFields(f) => Some(format!(
            "HEADER.FIELDS ({})",
            f.iter()
                .map(|x| x.to_ascii_uppercase())
                .collect::<Vec<_>>()
                .join(" ")
        )),
        SectionText::HeaderFieldsNot(f) => Some(format!(
            "HEADER.FIELDS.NOT ({})",
            f.iter()
                .map(|x| x.to_ascii_uppercase())
                .collect::<Vec<_>>()
                .join(" ")
        )),
    };
    if let Some(t) = text {
        out.push(t);
    }
    out.join(".")
}

fn literal(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
}

impl ImapServer {
    /// Starts a session and queues the greeting.
    pub fn new(config: ImapConfig, now: Instant) -> Self {
        let deadline = now + config.idle_timeout;
        let tls = config.implicit_tls;
        let mut s = Self {
            config,
            state: State::NotAuthenticated,
            input: Vec::new(),
            scan_from: 0,
            output: Vec::new(),
            events: VecDeque::new(),
            pending: None,
            next_token: 1,
            tls,
            selected: None,
            idle_tag: None,
            idle_next: now,
            sasl: None,
            auth_failures: 0,
            errors: 0,
            hold: None,
            now,
            deadline,
            skip: 0,
            literal_ack: None,
            swallow_line: false,
        };
        let caps = s.capabilities();
        s.untagged(&format!("OK [CAPABILITY {caps}] postrider ready."));
        s
    }

    /// Whether more input should be read now.
    pub fn wants_input(&self) -> bool {
        self.state != State::Logout && self.pending.is_none() && self.hold.is_none()
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        self.state == State::Logout
    }

    /// Bytes to write.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.output.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.output))
        }
    }

    /// The next thing the runtime must do.
    pub fn poll_event(&mut self) -> Option<ImapEvent> {
        self.events.pop_front()
    }

    /// Whether an event waits.
    pub fn has_event(&self) -> bool {
        !self.events.is_empty()
    }

    /// The next deadline (autologout, a delayed NO, or the next IDLE check).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Logout || self.pending.is_some() {
            return None;
        }
        if let Some((until, _, _)) = &self.hold {
            return Some(*until);
        }
        if self.idle_tag.is_some() {
            return Some(self.idle_next.min(self.deadline));
        }
        Some(self.deadline)
    }

    /// Bytes from the client.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if self.state == State::Logout {
            return;
        }
        self.now = now;
        self.input.extend_from_slice(bytes);
        self.process();
    }

    /// The client went away.
    pub fn handle_eof(&mut self, now: Instant) {
        self.now = now;
        self.close();
    }

    /// Call when [`ImapServer::poll_timeout`] has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.state == State::Logout || self.pending.is_some() {
            return;
        }
        if let Some((until, text, close)) = self.hold.take() {
            if now < until {
                self.hold = Some((until, text, close));
                return;
            }
            self.output.extend_from_slice(text.as_bytes());
            if close {
                self.untagged("BYE Too many invalid authentication attempts");
                self.close();
            } else {
                self.process();
            }
            return;
        }
        if now >= self.deadline {
            self.untagged("BYE Disconnected for inactivity.");
            self.close();
            return;
        }
        if self.idle_tag.is_some() && now >= self.idle_next {
            self.idle_next = now + self.config.idle_poll;
            if let Some(name) = self.selected.as_ref().map(|s| s.name.clone()) {
                self.ask(
                    Then::Refresh {
                        tag: None,
                        text: String::new(),
                    },
                    StoreRequest::Refresh {
                        mailbox: name,
                        claim_recent: self.selected.as_ref().is_some_and(|s| !s.read_only),
                    },
                );
            }
        }
    }

    /// Ends the session from the server side.
    pub fn shutdown(&mut self) {
        if self.state != State::Logout {
            self.untagged("BYE Server shutting down.");
            self.close();
        }
    }

    /// Reports a finished TLS handshake after [`ImapEvent::StartTls`].
    pub fn tls_established(&mut self, _info: TlsInfo) {
        self.tls = true;
        self.input.clear();
        self.scan_from = 0;
        self.touch();
    }

    /// Answers a [`ImapEvent::Request`].
    pub fn reply(&mut self, token: Token, reply: StoreReply) {
        let then = match self.pending.take() {
            Some((t, then)) if t == token.0 => then,
            other => {
                self.pending = other;
                return;
            }
        };
        self.touch();
        self.on_reply(then, reply);
        if self.pending.is_none() {
            self.process();
        }
    }

    fn capabilities(&self) -> String {
        let mut c = vec![
            "IMAP4rev1",
            "LITERAL+",
            "SASL-IR",
            "ID",
            "ENABLE",
            "IDLE",
            "NAMESPACE",
            "UIDPLUS",
            "MOVE",
            "UNSELECT",
            "CHILDREN",
            "SPECIAL-USE",
        ];
        if self.config.starttls && !self.tls && self.state == State::NotAuthenticated {
            c.push("STARTTLS");
        }
        if self.state == State::NotAuthenticated {
            if self.auth_allowed() {
                c.push("AUTH=PLAIN");
                c.push("AUTH=LOGIN");
            } else {
                c.push("LOGINDISABLED");
            }
        }
        c.join(" ")
    }

    fn auth_allowed(&self) -> bool {
        self.tls || self.config.allow_plaintext_auth
    }

    fn touch(&mut self) {
        self.deadline = self.now + self.config.idle_timeout;
    }

    fn untagged(&mut self, text: &str) {
        self.output.extend_from_slice(b"* ");
        self.output.extend_from_slice(text.as_bytes());
        self.output.extend_from_slice(b"\r\n");
    }

    /// Writes `tag text`; a tag that is not a valid RFC 3501 `tag` (taken from a line
    /// that did not parse) is answered untagged instead, never echoed.
    fn tagged(&mut self, tag: &str, text: &str) {
        let line = tagged_line(tag, text);
        self.output.extend_from_slice(line.as_bytes());
    }

    fn bad(&mut self, tag: &str, text: &str) {
        self.tagged(tag, &format!("BAD {text}"));
        self.errors += 1;
        if self.errors >= self.config.max_errors {
            self.untagged("BYE Too many invalid commands.");
            self.close();
        }
    }

    fn no(&mut self, tag: &str, e: &StoreError) {
        match &e.code {
            Some(c) => self.tagged(tag, &format!("NO [{c}] {}", e.text)),
            None => self.tagged(tag, &format!("NO {}", e.text)),
        }
    }

    fn close(&mut self) {
        if self.state == State::Logout {
            return;
        }
        self.state = State::Logout;
        self.pending = None;
        self.hold = None;
        self.input.clear();
        self.events.push_back(ImapEvent::Closed);
    }

    fn ask(&mut self, then: Then, request: StoreRequest) {
        let t = self.next_token;
        self.next_token += 1;
        self.pending = Some((t, then));
        self.events.push_back(ImapEvent::Request {
            token: Token(t),
            request,
        });
    }

    fn process(&mut self) {
        while self.state != State::Logout && self.pending.is_none() && self.hold.is_none() {
            if self.skip > 0 {
                let n = self.skip.min(self.input.len());
                self.input.drain(..n);
                self.skip -= n;
                if self.skip > 0 {
                    return;
                }
                continue;
            }
            if self.swallow_line {
                match memchr::memchr(b'\n', &self.input) {
                    Some(lf) => {
                        self.input.drain(..=lf);
                        self.swallow_line = false;
                        self.scan_from = 0;
                        self.output.extend_from_slice(b"* BAD Line too long\r\n");
                        self.errors += 1;
                        continue;
                    }
                    None => {
                        self.input.clear();
                        return;
                    }
                }
            }
            match frame_line(&self.input, self.scan_from) {
                Framing::Incomplete => {
                    if self.input.len() - self.scan_from > self.config.max_line {
                        // Drop the rest of this command up to its line end, then BAD.
                        self.input.clear();
                        self.scan_from = 0;
                        self.literal_ack = None;
                        self.swallow_line = true;
                    }
                    return;
                }
                Framing::Literal { data_at, len, sync } => {
                    if self.sasl.is_some() || self.idle_tag.is_some() {
                        // Not a command: a SASL response or IDLE's DONE line.
                        self.line_complete(data_at);
                        continue;
                    }
                    if len > self.config.max_literal {
                        let tag = self
                            .input
                            .split(|&b| b == b' ')
                            .next()
                            .map(|t| String::from_utf8_lossy(t).into_owned())
                            .unwrap_or_else(|| "*".into());
                        self.input.drain(..data_at);
                        self.scan_from = 0;
                        self.literal_ack = None;
                        if !sync {
                            // The client sends the data anyway: swallow it and its line.
                            self.skip = len;
                            self.swallow_line = true;
                        }
                        self.tagged(&tag, "NO [TOOBIG] Literal too large");
                        self.errors += 1;
                        continue;
                    }
                    if self.input.len() < data_at + len {
                        if sync && self.literal_ack != Some(data_at) {
                            self.output.extend_from_slice(b"+ OK\r\n");
                            self.literal_ack = Some(data_at);
                        }
                        return;
                    }
                    self.scan_from = data_at + len;
                }
                Framing::Complete(end) => self.line_complete(end),
            }
        }
    }

    /// A whole command (or a SASL/IDLE line) ends at `end` in the input.
    fn line_complete(&mut self, end: usize) {
        let bytes: Vec<u8> = self.input.drain(..end).collect();
        self.scan_from = 0;
        self.literal_ack = None;
        self.touch();
        if let Some(tag) = self.idle_tag.clone() {
            let line = String::from_utf8_lossy(&bytes);
            if line.trim().eq_ignore_ascii_case("DONE") {
                self.idle_tag = None;
                self.tagged(&tag, "OK Idle completed.");
            } else {
                self.idle_tag = None;
                self.bad(&tag, "Expected DONE.");
            }
            return;
        }
        if let Some((tag, mut ex)) = self.sasl.take() {
            let line = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let step = ex.respond(line);
            self.sasl_step(tag, ex, step);
            return;
        }
        match parse_command(&bytes) {
            Ok(t) => self.dispatch(t.tag, t.command),
            Err(e) => {
                let tag = e.tag.unwrap_or_else(|| "*".into());
                self.bad(&tag, &format!("Error in IMAP command: {}", e.message));
            }
        }
    }

    fn dispatch(&mut self, tag: String, cmd: Command) {
        use State::*;
        let state = self.state;
        match cmd {
            Command::Capability => {
                let caps = self.capabilities();
                self.untagged(&format!("CAPABILITY {caps}"));
                self.tagged(&tag, "OK Capability completed.");
            }
            Command::Noop | Command::Check => {
                match self.selected.as_ref().map(|s| s.name.clone()) {
                    Some(name) if state == Selected => self.ask(
                        Then::Refresh {
                            tag: Some(tag),
                            text: "OK NOOP completed.".into(),
                        },
                        StoreRequest::Refresh {
                            mailbox: name,
                            claim_recent: self.selected.as_ref().is_some_and(|s| !s.read_only),
                        },
                    ),
                    _ => self.tagged(&tag, "OK NOOP completed."),
                }
            }
            Command::Logout => {
                self.untagged("BYE Logging out");
                self.tagged(&tag, "OK Logout completed.");
                self.close();
            }
            Command::Id => {
                self.untagged("ID (\"name\" \"postrider\")");
                self.tagged(&tag, "OK ID completed.");
            }
            Command::StartTls => {
                if state != NotAuthenticated || self.tls || !self.config.starttls {
                    return self.bad(&tag, "STARTTLS not available now.");
                }
                self.tagged(&tag, "OK Begin TLS negotiation now.");
                self.input.clear();
                self.scan_from = 0;
                self.events.push_back(ImapEvent::StartTls);
            }
            Command::Login { user, password } => {
                if state != NotAuthenticated {
                    return self.bad(&tag, "Already logged in.");
                }
                if !self.auth_allowed() {
                    return self.tagged(&tag, "NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.");
                }
                self.ask(
                    Then::Login(tag),
                    StoreRequest::Login(Credentials {
                        authzid: None,
                        username: user,
                        password: Secret::new(password),
                    }),
                );
            }
            Command::Authenticate { mechanism, initial } => {
                if state != NotAuthenticated {
                    return self.bad(&tag, "Already logged in.");
                }
                if !self.auth_allowed() {
                    return self.tagged(&tag, "NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.");
                }
                let Some(mech) = Mechanism::from_name(&mechanism) else {
                    return self.tagged(&tag, "NO Unsupported authentication mechanism.");
                };
                let (ex, step) = SaslExchange::start(mech, initial.as_deref().map(str::as_bytes));
                self.sasl_step(tag, ex, step);
            }
            Command::Enable(_) => {
                if state == NotAuthenticated {
                    return self.bad(&tag, "Not logged in.");
                }
                self.untagged("ENABLED");
                self.tagged(&tag, "OK Enabled.");
            }
            _ if state == NotAuthenticated => self.bad(&tag, "Not logged in."),
            Command::Namespace => {
                self.untagged("NAMESPACE ((\"\" \"/\")) NIL NIL");
                self.tagged(&tag, "OK Namespace completed.");
            }
            Command::Select { mailbox, read_only } => {
                self.selected = None;
                self.state = Authenticated;
                self.ask(
                    Then::Select {
                        tag,
                        name: mailbox.clone(),
                        read_only,
                    },
                    StoreRequest::Open {
                        mailbox,
                        claim_recent: !read_only,
                    },
                );
            }
            Command::Create(m) => self.ask(
                Then::Done {
                    tag,
                    what: "Create",
                },
                StoreRequest::Create(m),
            ),
            Command::Delete(m) => self.ask(
                Then::Done {
                    tag,
                    what: "Delete",
                },
                StoreRequest::Delete(m),
            ),
            Command::Rename(a, b) => self.ask(
                Then::Done {
                    tag,
                    what: "Rename",
                },
                StoreRequest::Rename(a, b),
            ),
            Command::Subscribe(m) => self.ask(
                Then::Done {
                    tag,
                    what: "Subscribe",
                },
                StoreRequest::Subscribe(m, true),
            ),
            Command::Unsubscribe(m) => self.ask(
                Then::Done {
                    tag,
                    what: "Unsubscribe",
                },
                StoreRequest::Subscribe(m, false),
            ),
            Command::List {
                reference,
                pattern,
                subscribed,
            } => {
                if pattern.is_empty() && !subscribed {
                    self.untagged("LIST (\\Noselect) \"/\" \"\"");
                    return self.tagged(&tag, "OK List completed.");
                }
                self.ask(
                    Then::List { tag, subscribed },
                    StoreRequest::List {
                        reference,
                        pattern,
                        subscribed,
                    },
                );
            }
            Command::Status(m, items) => self.ask(
                Then::Status {
                    tag,
                    name: m.clone(),
                    items,
                },
                StoreRequest::Status { mailbox: m },
            ),
            Command::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                let date = match date {
                    Some(d) => match parse_datetime(&d) {
                        Some(t) => Some(t),
                        None => return self.bad(&tag, "Invalid date-time."),
                    },
                    None => None,
                };
                let flags = flags.into_iter().filter(|f| f != "\\Recent").collect();
                self.ask(
                    Then::Append {
                        tag,
                        mailbox: mailbox.clone(),
                    },
                    StoreRequest::Append {
                        mailbox,
                        flags,
                        date,
                        message,
                    },
                );
            }
            Command::Idle => {
                self.output.extend_from_slice(b"+ idling\r\n");
                self.idle_tag = Some(tag);
                self.idle_next = self.now + self.config.idle_poll;
            }
            _ if state != Selected => self.bad(&tag, "No mailbox selected."),
            Command::Close | Command::Unselect => {
                let sel = self.selected.as_ref();
                let deleted: Vec<u32> = match sel {
                    Some(s) if !s.read_only && matches!(cmd, Command::Close) => s
                        .msgs
                        .iter()
                        .filter(|m| has_flag(&m.flags, "\\Deleted"))
                        .map(|m| m.uid)
                        .collect(),
                    _ => Vec::new(),
                };
                if deleted.is_empty() {
                    self.selected = None;
                    self.state = Authenticated;
                    let what = if matches!(cmd, Command::Close) {
                        "Close"
                    } else {
                        "Unselect"
                    };
                    self.tagged(&tag, &format!("OK {what} completed."));
                } else {
                    let name = sel.map(|s| s.name.clone()).unwrap_or_default();
                    self.ask(
                        Then::Expunge {
                            tag,
                            uids: deleted.clone(),
                            close: true,
                        },
                        StoreRequest::Expunge {
                            mailbox: name,
                            uids: deleted,
                        },
                    );
                }
            }
            Command::Expunge(set) => {
                let Some(s) = self.selected.as_ref() else {
                    return;
                };
                if s.read_only {
                    return self.tagged(&tag, "NO [READ-ONLY] Mailbox is read-only.");
                }
                let max_uid = s.msgs.last().map_or(0, |m| m.uid);
                let uids: Vec<u32> = s
                    .msgs
                    .iter()
                    .filter(|m| has_flag(&m.flags, "\\Deleted"))
                    .filter(|m| set.as_ref().is_none_or(|set| set.contains(m.uid, max_uid)))
                    .map(|m| m.uid)
                    .collect();
                if uids.is_empty() {
                    return self.tagged(&tag, "OK Expunge completed.");
                }
                let name = s.name.clone();
                self.ask(
                    Then::Expunge {
                        tag,
                        uids: uids.clone(),
                        close: false,
                    },
                    StoreRequest::Expunge {
                        mailbox: name,
                        uids,
                    },
                );
            }
            Command::Fetch {
                uid,
                set,
                mut items,
            } => {
                let targets = self.resolve(&set, uid);
                if uid && !items.contains(&FetchAttr::Uid) {
                    items.insert(0, FetchAttr::Uid);
                }
                if targets.is_empty() {
                    return self.tagged(&tag, "OK Fetch completed.");
                }
                let needs_content = items.iter().any(|i| {
                    !matches!(
                        i,
                        FetchAttr::Flags
                            | FetchAttr::Uid
                            | FetchAttr::InternalDate
                            | FetchAttr::Rfc822Size
                    )
                });
                if needs_content {
                    let name = self
                        .selected
                        .as_ref()
                        .map(|s| s.name.clone())
                        .unwrap_or_default();
                    let uids = targets.iter().map(|t| t.1).collect();
                    self.ask(
                        Then::Fetch {
                            tag,
                            items,
                            targets,
                        },
                        StoreRequest::Fetch {
                            mailbox: name,
                            uids,
                        },
                    );
                } else {
                    self.fetch_respond(tag, &items, &targets, &[]);
                }
            }
            Command::Store {
                uid,
                set,
                mode,
                silent,
                flags,
            } => {
                let targets = self.resolve(&set, uid);
                let Some(s) = self.selected.as_mut() else {
                    return;
                };
                if s.read_only {
                    return self.tagged(&tag, "NO [READ-ONLY] Mailbox is read-only.");
                }
                let flags: Vec<String> = flags.into_iter().filter(|f| f != "\\Recent").collect();
                if targets.is_empty() {
                    return self.tagged(&tag, "OK Store completed.");
                }
                let name = s.name.clone();
                self.ask(
                    Then::Store { tag, uid, silent },
                    StoreRequest::SetFlags {
                        mailbox: name,
                        uids: targets.iter().map(|t| t.1).collect(),
                        mode,
                        flags,
                    },
                );
            }
            Command::Copy {
                uid,
                set,
                mailbox,
                is_move,
            } => {
                let targets = self.resolve(&set, uid);
                let Some(s) = self.selected.as_ref() else {
                    return;
                };
                if is_move && s.read_only {
                    return self.tagged(&tag, "NO [READ-ONLY] Mailbox is read-only.");
                }
                if targets.is_empty() {
                    let what = if is_move { "Move" } else { "Copy" };
                    return self.tagged(&tag, &format!("OK {what} completed."));
                }
                let name = s.name.clone();
                self.ask(
                    Then::Copy {
                        tag,
                        is_move,
                        to: mailbox.clone(),
                    },
                    StoreRequest::Copy {
                        mailbox: name,
                        uids: targets.iter().map(|t| t.1).collect(),
                        to: mailbox,
                        is_move,
                    },
                );
            }
            Command::Search { uid, key } => {
                if needs_content(&key) {
                    let Some(s) = self.selected.as_ref() else {
                        return;
                    };
                    let name = s.name.clone();
                    let uids = s.msgs.iter().map(|m| m.uid).collect();
                    self.ask(
                        Then::Search { tag, uid, key },
                        StoreRequest::Fetch {
                            mailbox: name,
                            uids,
                        },
                    );
                } else {
                    self.search_respond(&tag, uid, &key, &[]);
                }
            }
        }
    }

    /// (sequence number, UID) of the messages a set names, in mailbox order.
    fn resolve(&self, set: &SeqSet, uid: bool) -> Vec<(u32, u32)> {
        let Some(s) = self.selected.as_ref() else {
            return Vec::new();
        };
        let n = s.msgs.len() as u32;
        let max_uid = s.msgs.last().map_or(0, |m| m.uid);
        s.msgs
            .iter()
            .enumerate()
            .filter(|(i, m)| {
                if uid {
                    set.contains(m.uid, max_uid) || star_only_matches(set, m.uid, max_uid)
                } else {
                    set.contains(*i as u32 + 1, n)
                }
            })
            .map(|(i, m)| (i as u32 + 1, m.uid))
            .collect()
    }

    fn sasl_step(&mut self, tag: String, ex: SaslExchange, step: Step) {
        match step {
            Step::Challenge(c) => {
                self.output
                    .extend_from_slice(format!("+ {c}\r\n").as_bytes());
                self.sasl = Some((tag, ex));
            }
            Step::Done(credentials) => self.ask(Then::Login(tag), StoreRequest::Login(credentials)),
            Step::Failed(SaslError::Cancelled) => self.bad(&tag, "Authentication cancelled."),
            Step::Failed(_) => self.bad(&tag, "Invalid authentication data."),
        }
    }

    /// Answers a login, at once or after `hold` (input waits meanwhile).
    fn on_login(&mut self, tag: &str, outcome: AuthOutcome, hold: Duration) {
        let (text, delay, close) = match outcome {
            AuthOutcome::Success(_) => {
                self.state = State::Authenticated;
                let caps = self.capabilities();
                let text = tagged_line(tag, &format!("OK [CAPABILITY {caps}] Logged in"));
                (text, hold, false)
            }
            AuthOutcome::TemporaryFailure => (
                tagged_line(tag, "NO [UNAVAILABLE] Temporary authentication failure."),
                hold,
                false,
            ),
            AuthOutcome::Failure => {
                self.auth_failures += 1;
                let close = self.auth_failures >= self.config.max_auth_failures;
                let delay = self
                    .config
                    .auth_failure_delay
                    .saturating_mul(self.auth_failures.min(30))
                    .max(hold);
                let text = tagged_line(tag, "NO [AUTHENTICATIONFAILED] Authentication failed.");
                (text, delay, close)
            }
        };
        if delay.is_zero() && !close {
            self.output.extend_from_slice(text.as_bytes());
        } else {
            self.hold = Some((self.now + delay, text, close));
        }
    }

    fn on_reply(&mut self, then: Then, reply: StoreReply) {
        match (then, reply) {
            (Then::Login(tag), StoreReply::Auth(outcome, hold)) => {
                self.on_login(&tag, outcome, hold)
            }
            (
                Then::Select {
                    tag,
                    name,
                    read_only,
                },
                StoreReply::View(r),
            ) => match r {
                Ok(view) => {
                    let exists = view.messages.len();
                    let mut keywords: Vec<String> = Vec::new();
                    for f in view.messages.iter().flat_map(|m| &m.flags) {
                        if !f.starts_with('\\') && !has_flag(&keywords, f) {
                            keywords.push(f.clone());
                        }
                    }
                    self.flags_lines(&keywords, read_only);
                    self.untagged(&format!("{exists} EXISTS"));
                    self.untagged(&format!("{} RECENT", view.recent.len()));
                    if let Some(i) = view
                        .messages
                        .iter()
                        .position(|m| !has_flag(&m.flags, "\\Seen"))
                    {
                        self.untagged(&format!("OK [UNSEEN {}] First unseen.", i + 1));
                    }
                    self.untagged(&format!(
                        "OK [UIDVALIDITY {}] UIDs valid",
                        view.uid_validity
                    ));
                    self.untagged(&format!(
                        "OK [UIDNEXT {}] Predicted next UID",
                        view.uid_next
                    ));
                    self.selected = Some(Selected {
                        name,
                        read_only,
                        uid_validity: view.uid_validity,
                        uid_next: view.uid_next,
                        msgs: view.messages,
                        recent: view.recent,
                        keywords,
                    });
                    self.state = State::Selected;
                    let mode = if read_only { "READ-ONLY" } else { "READ-WRITE" };
                    let what = if read_only { "Examine" } else { "Select" };
                    self.tagged(&tag, &format!("OK [{mode}] {what} completed."));
                }
                Err(e) => self.no(&tag, &e),
            },
            (Then::Refresh { tag, text }, StoreReply::View(r)) => {
                if let Ok(view) = r {
                    self.apply_view(view);
                }
                if let Some(tag) = tag {
                    self.tagged(&tag, &text);
                }
            }
            (Then::List { tag, subscribed }, StoreReply::List(entries)) => {
                let kind = if subscribed { "LSUB" } else { "LIST" };
                for e in entries {
                    let mut line =
                        format!("* {kind} ({}) \"/\" ", e.attributes.join(" ")).into_bytes();
                    quote(&mut line, &e.name);
                    line.extend_from_slice(b"\r\n");
                    self.output.extend_from_slice(&line);
                }
                self.tagged(
                    &tag,
                    &format!("OK {} completed.", if subscribed { "Lsub" } else { "List" }),
                );
            }
            (Then::Status { tag, name, items }, StoreReply::Status(r)) => match r {
                Ok(st) => {
                    let parts: Vec<String> = items
                        .iter()
                        .map(|i| match i {
                            StatusItem::Messages => format!("MESSAGES {}", st.messages),
                            StatusItem::Recent => format!("RECENT {}", st.recent),
                            StatusItem::UidNext => format!("UIDNEXT {}", st.uid_next),
                            StatusItem::UidValidity => format!("UIDVALIDITY {}", st.uid_validity),
                            StatusItem::Unseen => format!("UNSEEN {}", st.unseen),
                        })
                        .collect();
                    let mut line = b"* STATUS ".to_vec();
                    quote(&mut line, &name);
                    line.extend_from_slice(format!(" ({})\r\n", parts.join(" ")).as_bytes());
                    self.output.extend_from_slice(&line);
                    self.tagged(&tag, "OK Status completed.");
                }
                Err(e) => self.no(&tag, &e),
            },
            (Then::Done { tag, what }, StoreReply::Done(r)) => match r {
                Ok(()) => self.tagged(&tag, &format!("OK {what} completed.")),
                Err(e) => self.no(&tag, &e),
            },
            (Then::Append { tag, mailbox }, StoreReply::Appended(r)) => match r {
                Ok((v, uid)) => {
                    let text = format!("OK [APPENDUID {v} {uid}] Append completed.");
                    self.finish_with_news(tag, text, &mailbox);
                }
                Err(e) => self.no(&tag, &e),
            },
            (
                Then::Fetch {
                    tag,
                    items,
                    targets,
                },
                StoreReply::Messages(r),
            ) => match r {
                Ok(msgs) => self.fetch_respond(tag, &items, &targets, &msgs),
                Err(e) => self.no(&tag, &e),
            },
            (Then::SetFlags { tag, text }, StoreReply::Flags(r)) => match r {
                Ok(now) => {
                    if let Some(s) = self.selected.as_mut() {
                        for (u, flags) in now {
                            if let Some(m) = s.msgs.iter_mut().find(|m| m.uid == u) {
                                m.flags = flags;
                            }
                        }
                    }
                    self.tagged(&tag, &text);
                }
                Err(e) => self.no(&tag, &e),
            },
            (Then::Store { tag, uid, silent }, StoreReply::Flags(r)) => match r {
                Ok(now) => {
                    self.announce_keywords(
                        now.iter().flat_map(|(_, f)| f.iter()).cloned().collect(),
                    );
                    let mut out = Vec::new();
                    if let Some(s) = self.selected.as_mut() {
                        for (u, flags) in now {
                            let Some(i) = s.msgs.iter().position(|m| m.uid == u) else {
                                continue;
                            };
                            s.msgs[i].flags = flags;
                            if !silent {
                                let uid_part = if uid {
                                    format!("UID {u} ")
                                } else {
                                    String::new()
                                };
                                let shown = with_recent(&s.msgs[i].flags, s.recent.contains(&u));
                                out.push(format!(
                                    "* {} FETCH ({uid_part}FLAGS {})\r\n",
                                    i + 1,
                                    flags_text(&shown)
                                ));
                            }
                        }
                    }
                    for line in out {
                        self.output.extend_from_slice(line.as_bytes());
                    }
                    self.tagged(&tag, "OK Store completed.");
                }
                Err(e) => self.no(&tag, &e),
            },
            (Then::Expunge { tag, uids, close }, StoreReply::Done(r)) => match r {
                Ok(()) => {
                    if close {
                        self.selected = None;
                        self.state = State::Authenticated;
                        self.tagged(&tag, "OK Close completed.");
                    } else {
                        self.remove_uids(&uids);
                        self.tagged(&tag, "OK Expunge completed.");
                    }
                }
                Err(e) => self.no(&tag, &e),
            },
            (Then::Copy { tag, is_move, to }, StoreReply::Copied(r)) => match r {
                Ok((v, pairs)) => {
                    let code = if pairs.is_empty() {
                        String::new()
                    } else {
                        let src: Vec<String> = pairs.iter().map(|p| p.0.to_string()).collect();
                        let dst: Vec<String> = pairs.iter().map(|p| p.1.to_string()).collect();
                        format!("[COPYUID {v} {} {}] ", src.join(","), dst.join(","))
                    };
                    if is_move {
                        if !code.is_empty() {
                            self.untagged(&format!("OK {code}Moved UIDs."));
                        }
                        let uids: Vec<u32> = pairs.iter().map(|p| p.0).collect();
                        self.remove_uids(&uids);
                        self.finish_with_news(tag, "OK Move completed.".into(), &to);
                    } else {
                        self.finish_with_news(tag, format!("OK {code}Copy completed."), &to);
                    }
                }
                Err(e) => self.no(&tag, &e),
            },
            (Then::Search { tag, uid, key }, StoreReply::Messages(r)) => match r {
                Ok(msgs) => self.search_respond(&tag, uid, &key, &msgs),
                Err(e) => self.no(&tag, &e),
            },
            (then, _) => {
                // A reply of the wrong kind: a runtime bug; fail the command, keep going.
                let tag = match then {
                    Then::Login(t) => t,
                    Then::Append { tag, .. } => tag,
                    Then::Select { tag, .. }
                    | Then::List { tag, .. }
                    | Then::Status { tag, .. }
                    | Then::Done { tag, .. }
                    | Then::Fetch { tag, .. }
                    | Then::SetFlags { tag, .. }
                    | Then::Store { tag, .. }
                    | Then::Expunge { tag, .. }
                    | Then::Copy { tag, .. }
                    | Then::Search { tag, .. } => tag,
                    Then::Refresh { tag, .. } => tag.unwrap_or_else(|| "*".into()),
                };
                self.tagged(&tag, "NO [SERVERBUG] Internal error.");
            }
        }
    }

    /// Ends a command that added messages to `mailbox`: when it is the selected one, the
    /// new messages are announced (EXISTS) before the tagged OK (RFC 3501 §6.3.11).
    fn finish_with_news(&mut self, tag: String, text: String, mailbox: &str) {
        match self.selected.as_ref().map(|s| s.name.clone()) {
            Some(name) if name == mailbox => {
                let claim = self.selected.as_ref().is_some_and(|s| !s.read_only);
                self.ask(
                    Then::Refresh {
                        tag: Some(tag),
                        text,
                    },
                    StoreRequest::Refresh {
                        mailbox: name,
                        claim_recent: claim,
                    },
                );
            }
            _ => self.tagged(&tag, &text),
        }
    }

    /// Removes messages from the model, announcing each EXPUNGE.
    fn remove_uids(&mut self, uids: &[u32]) {
        let Some(s) = self.selected.as_mut() else {
            return;
        };
        let mut lines = Vec::new();
        let mut i = 0;
        while i < s.msgs.len() {
            if uids.contains(&s.msgs[i].uid) {
                s.msgs.remove(i);
                lines.push(format!("* {} EXPUNGE\r\n", i + 1));
            } else {
                i += 1;
            }
        }
        for l in lines {
            self.output.extend_from_slice(l.as_bytes());
        }
    }

    /// The FLAGS and PERMANENTFLAGS responses for the system flags and `keywords`.
    fn flags_lines(&mut self, keywords: &[String], read_only: bool) {
        let mut all = SYSTEM_FLAGS.to_string();
        for k in keywords {
            all.push(' ');
            all.push_str(k);
        }
        self.untagged(&format!("FLAGS ({all})"));
        self.untagged(&format!(
            "OK [PERMANENTFLAGS ({})] Flags permitted.",
            if read_only {
                String::new()
            } else {
                format!("{all} \\*")
            }
        ));
    }

    /// Sends new FLAGS and PERMANENTFLAGS responses when `flags` hold keywords the client
    /// has not been told about (before the FETCH responses that show them).
    fn announce_keywords(&mut self, flags: Vec<String>) {
        let Some(s) = self.selected.as_mut() else {
            return;
        };
        let mut added = false;
        for f in flags {
            if !f.starts_with('\\') && !has_flag(&s.keywords, &f) {
                s.keywords.push(f);
                added = true;
            }
        }
        if added {
            let (keywords, read_only) = (s.keywords.clone(), s.read_only);
            self.flags_lines(&keywords, read_only);
        }
    }

    /// Announces the differences between the model and the store's view.
    fn apply_view(&mut self, view: MailboxView) {
        self.announce_keywords(
            view.messages
                .iter()
                .flat_map(|m| m.flags.iter())
                .cloned()
                .collect(),
        );
        let Some(s) = self.selected.as_mut() else {
            return;
        };
        if view.uid_validity != s.uid_validity {
            self.untagged("BYE The mailbox was recreated; please select it again.");
            self.close();
            return;
        }
        let current: std::collections::HashMap<u32, &MessageMeta> =
            view.messages.iter().map(|m| (m.uid, m)).collect();
        let mut lines = Vec::new();
        let mut i = 0;
        while i < s.msgs.len() {
            match current.get(&s.msgs[i].uid) {
                None => {
                    let gone = s.msgs.remove(i).uid;
                    s.recent.retain(|u| *u != gone);
                    lines.push(format!("* {} EXPUNGE\r\n", i + 1));
                }
                Some(m) => {
                    if m.flags != s.msgs[i].flags {
                        s.msgs[i].flags = m.flags.clone();
                        let shown = with_recent(&m.flags, s.recent.contains(&m.uid));
                        lines.push(format!(
                            "* {} FETCH (FLAGS {})\r\n",
                            i + 1,
                            flags_text(&shown)
                        ));
                    }
                    i += 1;
                }
            }
        }
        let max_uid = s.msgs.last().map_or(0, |m| m.uid);
        let before = s.msgs.len();
        for m in &view.messages {
            if m.uid > max_uid {
                s.msgs.push(m.clone());
            }
        }
        for u in &view.recent {
            if !s.recent.contains(u) {
                s.recent.push(*u);
            }
        }
        if s.msgs.len() != before {
            lines.push(format!(
                "* {} EXISTS\r\n* {} RECENT\r\n",
                s.msgs.len(),
                s.recent.len()
            ));
        }
        s.uid_next = view.uid_next.max(s.uid_next);
        for l in lines {
            self.output.extend_from_slice(l.as_bytes());
        }
    }

    fn fetch_respond(
        &mut self,
        tag: String,
        items: &[FetchAttr],
        targets: &[(u32, u32)],
        msgs: &[FetchedMessage],
    ) {
        let read_only = self.selected.as_ref().is_none_or(|s| s.read_only);
        let recent: std::collections::HashSet<u32> = self
            .selected
            .as_ref()
            .map(|s| s.recent.iter().copied().collect())
            .unwrap_or_default();
        let contents: std::collections::HashMap<u32, &FetchedMessage> =
            msgs.iter().map(|m| (m.uid, m)).collect();
        let sets_seen = !read_only
            && items.iter().any(|i| {
                matches!(
                    i,
                    FetchAttr::Rfc822
                        | FetchAttr::Rfc822Text
                        | FetchAttr::Section { peek: false, .. }
                )
            });
        let mut changes = Vec::new();
        let mut out = Vec::new();
        for &(seq, u) in targets {
            let Some(meta) = self
                .selected
                .as_mut()
                .and_then(|s| s.msgs.get_mut(seq as usize - 1))
            else {
                continue;
            };
            if meta.uid != u {
                continue;
            }
            let mut flags_changed = false;
            if sets_seen && !has_flag(&meta.flags, "\\Seen") {
                meta.flags.push("\\Seen".into());
                changes.push((u, meta.flags.clone()));
                flags_changed = true;
            }
            let meta = meta.clone();
            let data = contents.get(&u).map(|m| m.data.clone());
            let tree = data.as_ref().map(|d| parse_message(d, Limits::default()));
            let mut parts: Vec<Vec<u8>> = Vec::new();
            let mut wrote_flags = false;
            for item in items {
                let mut p = Vec::new();
                match item {
                    FetchAttr::Uid => p.extend_from_slice(format!("UID {}", meta.uid).as_bytes()),
                    FetchAttr::Flags => {
                        wrote_flags = true;
                        let shown = with_recent(&meta.flags, recent.contains(&u));
                        p.extend_from_slice(format!("FLAGS {}", flags_text(&shown)).as_bytes());
                    }
                    FetchAttr::InternalDate => p.extend_from_slice(
                        format!("INTERNALDATE \"{}\"", meta.internal_date.imap()).as_bytes(),
                    ),
                    FetchAttr::Rfc822Size => {
                        p.extend_from_slice(format!("RFC822.SIZE {}", meta.size).as_bytes())
                    }
                    FetchAttr::Envelope => {
                        let d = data.as_deref().unwrap_or(b"");
                        let (_, body_start) = split_header_to_blank_line(d);
                        p.extend_from_slice(b"ENVELOPE ");
                        p.extend_from_slice(&envelope(&d[..body_start.min(d.len())]));
                    }
                    FetchAttr::Body | FetchAttr::BodyStructure => {
                        let extended = matches!(item, FetchAttr::BodyStructure);
                        p.extend_from_slice(if extended {
                            b"BODYSTRUCTURE "
                        } else {
                            b"BODY "
                        });
                        match (&data, &tree) {
                            (Some(d), Some(t)) => {
                                p.extend_from_slice(&body_structure(d, t, extended))
                            }
                            _ => p.extend_from_slice(b"NIL"),
                        }
                    }
                    FetchAttr::Rfc822 | FetchAttr::Rfc822Header | FetchAttr::Rfc822Text => {
                        let d = data.as_deref().unwrap_or(b"");
                        let (_, body_start) = split_header_to_blank_line(d);
                        let body_start = body_start.min(d.len());
                        let (name, bytes) = match item {
                            FetchAttr::Rfc822 => ("RFC822", d),
                            FetchAttr::Rfc822Header => ("RFC822.HEADER", &d[..body_start]),
                            _ => ("RFC822.TEXT", &d[body_start..]),
                        };
                        p.extend_from_slice(format!("{name} ").as_bytes());
                        literal(&mut p, bytes);
                    }
                    FetchAttr::Section {
                        section, partial, ..
                    } => {
                        let bytes = match (&data, &tree) {
                            (Some(d), Some(t)) => section_bytes(d, t, section).unwrap_or_default(),
                            _ => Vec::new(),
                        };
                        p.extend_from_slice(format!("BODY[{}]", section_name(section)).as_bytes());
                        let bytes = match partial {
                            Some((origin, len)) => {
                                p.extend_from_slice(format!("<{origin}>").as_bytes());
                                let start = (*origin as usize).min(bytes.len());
                                let end = start.saturating_add(*len as usize).min(bytes.len());
                                bytes[start..end].to_vec()
                            }
                            None => bytes,
                        };
                        p.push(b' ');
                        literal(&mut p, &bytes);
                    }
                }
                parts.push(p);
            }
            if flags_changed && !wrote_flags {
                let shown = with_recent(&meta.flags, recent.contains(&u));
                parts.push(format!("FLAGS {}", flags_text(&shown)).into_bytes());
            }
            out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
            out.extend_from_slice(&parts.join(&b' '));
            out.extend_from_slice(b")\r\n");
        }
        self.output.extend_from_slice(&out);
        let text = "OK Fetch completed.".to_string();
        if changes.is_empty() {
            self.tagged(&tag, &text);
        } else {
            let name = self
                .selected
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default();
            self.ask(
                Then::SetFlags { tag, text },
                StoreRequest::SetFlags {
                    mailbox: name,
                    uids: changes.iter().map(|c| c.0).collect(),
                    mode: StoreMode::Add,
                    flags: vec!["\\Seen".into()],
                },
            );
        }
    }

    fn search_respond(&mut self, tag: &str, uid: bool, key: &SearchKey, msgs: &[FetchedMessage]) {
        let Some(s) = self.selected.as_ref() else {
            return;
        };
        let n = s.msgs.len() as u32;
        let max_uid = s.msgs.last().map_or(0, |m| m.uid);
        let mut hits = Vec::new();
        for (i, m) in s.msgs.iter().enumerate() {
            let data = msgs
                .iter()
                .find(|x| x.uid == m.uid)
                .map(|x| x.data.as_ref());
            let ctx = SearchCtx {
                seq: i as u32 + 1,
                n,
                max_uid,
                meta: m,
                data,
                recent: s.recent.contains(&m.uid),
            };
            if matches(key, &ctx) {
                hits.push(if uid { m.uid } else { i as u32 + 1 });
            }
        }
        let list: Vec<String> = hits.iter().map(|h| h.to_string()).collect();
        if list.is_empty() {
            self.untagged("SEARCH");
        } else {
            self.untagged(&format!("SEARCH {}", list.join(" ")));
        }
        self.tagged(tag, "OK Search completed.");
    }
}

/// `UID FETCH n:*` where n is above every UID still matches the largest UID (RFC 3501
/// §6.4.8: `*` is the largest UID in use).
fn star_only_matches(set: &SeqSet, uid: u32, max_uid: u32) -> bool {
    uid == max_uid
        && set
            .0
            .iter()
            .any(|&(a, b)| matches!(a, SeqNum::Star) || matches!(b, SeqNum::Star))
}

fn needs_content(key: &SearchKey) -> bool {
    match key {
        SearchKey::Header(..)
        | SearchKey::Body(_)
        | SearchKey::Text(_)
        | SearchKey::SentDate(..) => true,
        SearchKey::And(v) => v.iter().any(needs_content),
        SearchKey::Not(k) => needs_content(k),
        SearchKey::Or(a, b) => needs_content(a) || needs_content(b),
        _ => false,
    }
}

struct SearchCtx<'a> {
    seq: u32,
    n: u32,
    max_uid: u32,
    meta: &'a MessageMeta,
    data: Option<&'a [u8]>,
    recent: bool,
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

fn header_value(data: &[u8], field: &str) -> Vec<String> {
    let (fields, _) = split_header_to_blank_line(data);
    fields
        .iter()
        .filter(|f| f.is(field))
        .map(|f| crate::mime::encoded_word::decode(&f.value()))
        .collect()
}

/// Fields whose SEARCH also matches the parsed addresses, so that comments and odd
/// spacing in the raw field (`<user (c)@ (c) example.org>`) do not hide an address.
const ADDRESS_FIELDS: [&str; 6] = ["from", "to", "cc", "bcc", "sender", "reply-to"];

/// An address field rendered the way people write it: `Name <local@domain>`, groups as
/// `group: members;`, comments and folding removed.
fn normalized_addresses(value: &str) -> String {
    use crate::imf::address::{parse_address_list, Address, Mailbox};
    fn one(m: &Mailbox<'_>) -> String {
        let addr = if m.domain.is_empty() {
            m.local.to_string()
        } else {
            format!("{}@{}", m.local, m.domain)
        };
        match m.decoded_name() {
            Some(name) => format!("{name} <{addr}>"),
            None => addr,
        }
    }
    parse_address_list(value)
        .iter()
        .map(|a| match a {
            Address::Mailbox(m) => one(m),
            Address::Group { name, members } => format!(
                "{name}: {};",
                members.iter().map(one).collect::<Vec<_>>().join(", ")
            ),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The day (days since 1970-01-01) of a time in its own zone: RFC 3501 date searches
/// disregard the time of day and compare dates as the message's zone sees them.
fn local_day(w: &WallClock) -> i64 {
    (w.unix_secs + i64::from(w.utc_offset_minutes) * 60).div_euclid(86_400)
}

/// BEFORE (`Less`: strictly earlier), ON (`Equal`) and SINCE (`Greater`: that day or later).
fn date_matches(ord: std::cmp::Ordering, message_day: i64, day: i64) -> bool {
    match ord {
        std::cmp::Ordering::Less => message_day < day,
        std::cmp::Ordering::Equal => message_day == day,
        std::cmp::Ordering::Greater => message_day >= day,
    }
}

fn matches(key: &SearchKey, c: &SearchCtx<'_>) -> bool {
    let data = c.data.unwrap_or(b"");
    match key {
        SearchKey::All => true,
        SearchKey::And(keys) => keys.iter().all(|k| matches(k, c)),
        SearchKey::Not(k) => !matches(k, c),
        SearchKey::Or(a, b) => matches(a, c) || matches(b, c),
        SearchKey::Flag(f) if f == "\\Recent" => c.recent,
        SearchKey::NoFlag(f) if f == "\\Recent" => !c.recent,
        SearchKey::Flag(f) => has_flag(&c.meta.flags, f),
        SearchKey::NoFlag(f) => !has_flag(&c.meta.flags, f),
        SearchKey::New => c.recent && !has_flag(&c.meta.flags, "\\Seen"),
        SearchKey::Old => !c.recent,
        SearchKey::Seq(set) => set.contains(c.seq, c.n),
        SearchKey::Uid(set) => set.contains(c.meta.uid, c.max_uid),
        SearchKey::Larger(n) => c.meta.size > *n,
        SearchKey::Smaller(n) => c.meta.size < *n,
        SearchKey::InternalDate(ord, day) => {
            date_matches(*ord, local_day(&c.meta.internal_date), *day)
        }
        SearchKey::SentDate(ord, day) => header_value(data, "Date")
            .first()
            .and_then(|d| crate::imf::datetime::parse_date(d))
            .is_some_and(|w| date_matches(*ord, local_day(&w), *day)),
        SearchKey::Header(field, needle) => {
            let values = header_value(data, field);
            if needle.is_empty() {
                !values.is_empty()
            } else {
                let address = ADDRESS_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(field));
                values.iter().any(|v| {
                    contains_ci(v, needle)
                        || (address && contains_ci(&normalized_addresses(v), needle))
                })
            }
        }
        SearchKey::Body(needle) => {
            let (_, start) = split_header_to_blank_line(data);
            contains_ci(
                &String::from_utf8_lossy(&data[start.min(data.len())..]),
                needle,
            )
        }
        SearchKey::Text(needle) => contains_ci(&String::from_utf8_lossy(data), needle),
    }
}

/// A tagged response line; an unusable tag becomes `*`.
fn tagged_line(tag: &str, text: &str) -> String {
    let valid = !tag.is_empty() && tag.bytes().all(crate::imap::response::is_tag_char);
    let tag = if valid { tag } else { "*" };
    format!("{tag} {text}\r\n")
}
