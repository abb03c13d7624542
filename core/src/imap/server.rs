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

use crate::imap::command::{
    frame_line, parse_command, parse_datetime, Command, FetchAttr, Framing, SearchKey, SeqNum,
    SeqSet, StatusItem, StoreMode, BADCHARSET,
};
use crate::imap::fetch::{
    content_needed, fetch_line, flags_text, has_flag, next_batch, with_recent, FetchedItem,
};
use crate::imap::search::{matches, needs_content, ContentFacts, ContentScan, SearchCtx};
use crate::imap::store::FetchPart;
use crate::imap::structure::push_string;
use crate::sasl::{Credentials, Mechanism, SaslError, SaslExchange, Secret, Step};
use crate::smtp::{AuthOutcome, TlsInfo, Token};

pub use crate::imap::store::{
    FetchedMessage, ListEntry, MailboxView, MessageMeta, StatusInfo, StoreError, StoreReply,
    StoreRequest,
};

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
        job: FetchJob,
        /// The (sequence number, UID) pairs this request asked for.
        batch: Vec<(u32, u32)>,
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

/// A FETCH in progress, answered batch by batch (see [`crate::imap::fetch`]).
#[derive(Debug)]
struct FetchJob {
    tag: String,
    items: Vec<FetchAttr>,
    /// What the store must read (None: the model answers everything).
    part: Option<FetchPart>,
    /// (sequence number, UID) pairs still to answer.
    rest: Vec<(u32, u32)>,
    /// UIDs this FETCH set `\Seen` on, to be stored at the end.
    seen: Vec<u32>,
    /// Whether a message had been expunged by another session (skipped).
    expunged: bool,
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
            Err(e) if e.message.starts_with(BADCHARSET) && e.tag.is_some() => {
                let tag = e.tag.unwrap_or_default();
                self.tagged(&tag, &format!("NO {}", e.message));
            }
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
            Command::Check if state != Selected => self.bad(&tag, "No mailbox selected."),
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
                        mechanism: Mechanism::Plain,
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
                if !uid && !self.valid_msgset(&set) {
                    return self.bad(&tag, "Error in IMAP command FETCH: Invalid messageset");
                }
                let targets = self.resolve(&set, uid);
                if uid && !items.contains(&FetchAttr::Uid) {
                    items.insert(0, FetchAttr::Uid);
                }
                let part = content_needed(&items);
                self.fetch_next(FetchJob {
                    tag,
                    items,
                    part,
                    rest: targets,
                    seen: Vec::new(),
                    expunged: false,
                });
            }
            Command::Store {
                uid,
                set,
                mode,
                silent,
                flags,
            } => {
                if !uid && !self.valid_msgset(&set) {
                    return self.bad(&tag, "Error in IMAP command STORE: Invalid messageset");
                }
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
                if !uid && !self.valid_msgset(&set) {
                    let name = if is_move { "MOVE" } else { "COPY" };
                    return self.bad(
                        &tag,
                        &format!("Error in IMAP command {name}: Invalid messageset"),
                    );
                }
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
                if !needs_content(&key) {
                    return self.search_respond(&tag, uid, &key, None);
                }
                let Some(s) = self.selected.as_ref() else {
                    return;
                };
                let name = s.name.clone();
                let uids = s.msgs.iter().map(|m| m.uid).collect();
                let scan = ContentScan::new(&key);
                self.ask(
                    Then::Search { tag, uid, key },
                    StoreRequest::Scan {
                        mailbox: name,
                        uids,
                        scan,
                    },
                );
            }
        }
    }

    /// Whether a sequence set names only messages that exist (as Dovecot: in an empty
    /// mailbox no set is valid; `*` is always valid otherwise); UID sets are never
    /// checked this way.
    fn valid_msgset(&self, set: &SeqSet) -> bool {
        let n = self.selected.as_ref().map_or(0, |s| s.msgs.len() as u32);
        n > 0
            && set.0.iter().all(|&(a, b)| {
                [a, b]
                    .iter()
                    .all(|x| !matches!(x, SeqNum::Num(v) if *v > n))
            })
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
                let delay = crate::penalty::failed_login_delay(
                    self.config.auth_failure_delay,
                    self.auth_failures,
                    hold,
                );
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
            (Then::Fetch { mut job, batch }, StoreReply::Messages(r)) => match r {
                Ok(msgs) => {
                    self.fetch_write(&mut job, &batch, Some(&msgs));
                    self.fetch_next(job);
                }
                Err(e) => self.no(&job.tag, &e),
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
            (Then::Search { tag, uid, key }, StoreReply::Scanned(r)) => match r {
                Ok(facts) => self.search_respond(&tag, uid, &key, Some(&facts)),
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
                    | Then::SetFlags { tag, .. }
                    | Then::Store { tag, .. }
                    | Then::Expunge { tag, .. }
                    | Then::Copy { tag, .. }
                    | Then::Search { tag, .. } => tag,
                    Then::Refresh { tag, .. } => tag.unwrap_or_else(|| "*".into()),
                    Then::Fetch { job, .. } => job.tag,
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
        s.recent.retain(|u| !uids.contains(u));
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

    /// Answers the next batch of a FETCH, or finishes it.
    fn fetch_next(&mut self, mut job: FetchJob) {
        let Some(part) = job.part else {
            let all = std::mem::take(&mut job.rest);
            self.fetch_write(&mut job, &all, None);
            return self.fetch_finish(job);
        };
        if job.rest.is_empty() {
            return self.fetch_finish(job);
        }
        let Some(s) = self.selected.as_ref() else {
            return;
        };
        let sizes: std::collections::HashMap<u32, u64> =
            s.msgs.iter().map(|m| (m.uid, m.size)).collect();
        let batch = next_batch(&mut job.rest, part, |uid| {
            sizes.get(&uid).copied().unwrap_or(0)
        });
        let name = s.name.clone();
        let uids = batch.iter().map(|t| t.1).collect();
        self.ask(
            Then::Fetch { job, batch },
            StoreRequest::Fetch {
                mailbox: name,
                uids,
                part,
            },
        );
    }

    /// Writes the FETCH responses of `batch`. With `msgs` (the store's answer), a message
    /// missing from it was expunged by another session: it is skipped, as Dovecot does,
    /// and never shown empty.
    fn fetch_write(
        &mut self,
        job: &mut FetchJob,
        batch: &[(u32, u32)],
        msgs: Option<&[FetchedMessage]>,
    ) {
        let Some(s) = self.selected.as_mut() else {
            return;
        };
        let sets_seen = !s.read_only
            && job.items.iter().any(|i| {
                matches!(
                    i,
                    FetchAttr::Rfc822
                        | FetchAttr::Rfc822Text
                        | FetchAttr::Section { peek: false, .. }
                )
            });
        let contents: Option<std::collections::HashMap<u32, &[u8]>> =
            msgs.map(|m| m.iter().map(|x| (x.uid, x.data.as_ref())).collect());
        let mut out = Vec::new();
        for &(seq, u) in batch {
            let Some(meta) = s.msgs.get_mut(seq as usize - 1).filter(|m| m.uid == u) else {
                continue;
            };
            let data = match &contents {
                Some(c) => match c.get(&u) {
                    Some(d) => Some(*d),
                    None => {
                        job.expunged = true;
                        continue;
                    }
                },
                None => None,
            };
            let flags_changed = sets_seen && !has_flag(&meta.flags, "\\Seen");
            if flags_changed {
                meta.flags.push("\\Seen".into());
                job.seen.push(u);
            }
            out.extend_from_slice(&fetch_line(
                &job.items,
                FetchedItem {
                    seq,
                    meta,
                    recent: s.recent.contains(&u),
                    data,
                    flags_changed,
                },
            ));
        }
        self.output.extend_from_slice(&out);
    }

    /// Ends a FETCH: stores the `\Seen` flags it set, then the tagged answer.
    fn fetch_finish(&mut self, job: FetchJob) {
        let text = if job.expunged {
            "OK [EXPUNGEISSUED] Some messages were already expunged.".to_string()
        } else {
            "OK Fetch completed.".to_string()
        };
        if job.seen.is_empty() {
            return self.tagged(&job.tag, &text);
        }
        let name = self
            .selected
            .as_ref()
            .map(|s| s.name.clone())
            .unwrap_or_default();
        self.ask(
            Then::SetFlags { tag: job.tag, text },
            StoreRequest::SetFlags {
                mailbox: name,
                uids: job.seen,
                mode: StoreMode::Add,
                flags: vec!["\\Seen".into()],
            },
        );
    }

    /// Answers a SEARCH. With `facts` (the store's scan), a message missing from them was
    /// expunged by another session: it cannot match a content key, and the answer says
    /// `[EXPUNGEISSUED]` (as Dovecot).
    fn search_respond(
        &mut self,
        tag: &str,
        uid: bool,
        key: &SearchKey,
        facts: Option<&[(u32, ContentFacts)]>,
    ) {
        let Some(s) = self.selected.as_ref() else {
            return;
        };
        let facts: Option<std::collections::HashMap<u32, &ContentFacts>> =
            facts.map(|f| f.iter().map(|(u, f)| (*u, f)).collect());
        let n = s.msgs.len() as u32;
        let max_uid = s.msgs.last().map_or(0, |m| m.uid);
        let mut hits = Vec::new();
        let mut expunged = false;
        for (i, m) in s.msgs.iter().enumerate() {
            let mine = facts.as_ref().and_then(|f| f.get(&m.uid).copied());
            expunged |= facts.is_some() && mine.is_none();
            let ctx = SearchCtx {
                seq: i as u32 + 1,
                n,
                max_uid,
                uid: m.uid,
                flags: &m.flags,
                size: m.size,
                internal_date: m.internal_date,
                facts: mine,
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
        if expunged {
            self.tagged(tag, "OK [EXPUNGEISSUED] Search completed.");
        } else {
            self.tagged(tag, "OK Search completed.");
        }
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

/// A tagged response line; an unusable tag becomes `*`.
fn tagged_line(tag: &str, text: &str) -> String {
    let valid = !tag.is_empty() && tag.bytes().all(crate::imap::response::is_tag_char);
    let tag = if valid { tag } else { "*" };
    format!("{tag} {text}\r\n")
}
