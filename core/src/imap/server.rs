//! The IMAP4rev1 server state machine (RFC 3501) with IDLE, UIDPLUS, MOVE, LITERAL+,
//! NAMESPACE, ID, ENABLE, UNSELECT, SPECIAL-USE and CHILDREN, in the handle_*/poll_*
//! shape of the other machines.
//!
//! The mail store is reached only through [`StoreRequest`]s that the runtime answers with
//! [`StoreReply`]s. The machine keeps the selected mailbox's model itself (sequence
//! numbers, UIDs, flags), so every sequence-number rule is pure: expunges and new
//! messages are announced at NOOP, CHECK and during IDLE, from the difference between
//! the model and the store's current view.

use std::time::{Duration, Instant};

use crate::imap::command::{
    frame_line, parse_command, parse_datetime, Command, FetchAttr, Framing, SearchKey, SeqNum,
    SeqSet, StatusItem, StoreMode, BADCHARSET,
};
use crate::imap::fetch::{content_needed, has_flag, next_batch, with_recent, FetchedItem};
use crate::imap::response::{write_response, Response, Status, StatusText, Value};
use crate::imap::search::{matches, needs_content, ContentFacts, ContentScan, SearchCtx};
use crate::imap::store::FetchPart;
use crate::machine::{
    next_deadline, Asking, AuthOutcome, CloseReason, Hold, Machine, TlsInfo, Token, Wire,
    DEFAULT_MAX_PIPELINED,
};
use crate::sasl::{Credentials, Mechanism, SaslError, SaslExchange, Secret, Step};

mod authenticated;
mod catenating;
mod condstore;
mod fetching;
mod query;
mod replies;
mod rev2;
mod selected;

use authenticated::{AppendJob, ListJob};
use fetching::FetchJob;

pub use crate::imap::store::{
    FetchedMessage, FlagChanges, ListEntry, MailboxView, MessageMeta, StatusInfo, StoreError,
    StoreReply, StoreRequest,
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
    /// Pipelined input kept while an answer is pending, before reading stops.
    pub max_pipelined: usize,
    /// Longest command line outside literals.
    pub max_line: usize,
    /// Bad commands tolerated before the session is closed.
    pub max_errors: u32,
    /// Messages larger than this are streamed from the store by FETCH when its items
    /// allow (see [`crate::imap::fetch::streamable`]).
    pub stream_above: u64,
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
            max_pipelined: DEFAULT_MAX_PIPELINED,
            max_line: 64 * 1024,
            max_errors: 50,
            stream_above: crate::imap::fetch::STREAM_ABOVE,
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
    /// COMPRESS DEFLATE accepted (RFC 4978): write the output, then deflate both
    /// directions and call [`Machine::compression_started`].
    StartCompression,
    /// The session is over: flush and close.
    Closed {
        /// Why.
        reason: CloseReason,
    },
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
    /// The UIDs `RETURN (SAVE)` kept last (`$`, RFC 5182), sorted.
    saved: Vec<u32>,
    /// HIGHESTMODSEQ of the store's view the model was last brought up to (RFC 7162):
    /// every change up to it has been announced.
    highest_modseq: u64,
}

/// What to do with the store's answer.
#[derive(Debug)]
enum Then {
    Login(String),
    Select {
        tag: String,
        name: String,
        read_only: bool,
        qresync: Option<crate::imap::command::Qresync>,
    },
    Refresh {
        tag: Option<String>,
        status: StatusText,
        /// Whether the tagged answer tells HIGHESTMODSEQ (after EXPUNGE with CONDSTORE).
        highest: bool,
    },
    /// SELECT (QRESYNC): the UIDs expunged since the client's MODSEQ.
    Resync {
        tag: String,
        status: StatusText,
        qresync: crate::imap::command::Qresync,
    },
    /// UID FETCH (CHANGEDSINCE n VANISHED): the UIDs expunged since n, then the FETCH.
    FetchVanished(condstore::VanishedFetch),
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
    Append(AppendJob),
    /// An APPEND with CATENATE putting its messages together.
    Catenate(catenating::CatenateJob, catenating::CatStep),
    /// An extended LIST: the folders, then the subscriptions.
    ListExtended(ListJob),
    /// LIST-STATUS: the lines still to write, a STATUS after each selectable one.
    ListStatus {
        tag: String,
        items: Vec<StatusItem>,
        lines: std::collections::VecDeque<crate::imap::list_ext::ListLine>,
        current: String,
    },
    /// GETQUOTA `root`, or GETQUOTAROOT of a mailbox (`root_of`).
    Quota {
        tag: String,
        root_of: Option<String>,
        root: String,
    },
    /// A MULTIAPPEND failed part-way: the messages it had added are being removed.
    AppendUndone {
        tag: String,
        error: StoreError,
    },
    Fetch {
        job: FetchJob,
        /// The (sequence number, UID) pairs this request asked for.
        batch: Vec<(u32, u32)>,
        /// Whether it is one large message to stream (only its header was asked for).
        streaming: bool,
    },
    /// A chunk of the message a FETCH streams.
    Stream {
        job: FetchJob,
    },
    SetFlags {
        tag: String,
        status: StatusText,
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
        kind: query::QueryKind,
    },
}

const SYSTEM_FLAGS: [&str; 5] = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];

/// A login answer held back: the tagged answer, and whether the session closes after it.
#[derive(Debug)]
struct Held {
    tag: String,
    status: StatusText,
    close: bool,
}

/// One IMAP session.
#[derive(Debug)]
pub struct ImapServer {
    config: ImapConfig,
    state: State,
    wire: Wire<ImapEvent>,
    /// Where the framer resumes in `input` (after literals already received).
    scan_from: usize,
    pending: Asking<Then>,
    /// STARTTLS was accepted: the next bytes are the TLS handshake.
    awaiting_tls: bool,
    tls: bool,
    /// COMPRESS was accepted: input waits until the driver compresses.
    awaiting_compression: bool,
    /// Both directions are compressed.
    compressed: bool,
    /// CONDSTORE is on (RFC 7162 §3.1): FETCH responses with FLAGS carry MODSEQ.
    condstore: bool,
    /// QRESYNC is enabled (RFC 7162 §3.2): VANISHED replaces EXPUNGE.
    qresync: bool,
    /// IMAP4rev2 is enabled (RFC 9051): UTF-8 mailbox names, ESEARCH, no `\Recent`.
    rev2: bool,
    selected: Option<Selected>,
    idle_tag: Option<String>,
    idle_next: Instant,
    sasl: Option<(String, SaslExchange)>,
    auth_failures: u32,
    errors: u32,
    /// A login answer kept back (the failure delay, login penalties); input waits.
    hold: Option<Hold<Held>>,
    now: Instant,
    deadline: Instant,
    skip: usize,
    literal_ack: Option<usize>,
    swallow_line: bool,
}

impl ImapServer {
    /// Starts a session and queues the greeting.
    pub fn new(config: ImapConfig, now: Instant) -> Self {
        let deadline = now + config.idle_timeout;
        let tls = config.implicit_tls;
        let mut s = Self {
            config,
            state: State::NotAuthenticated,
            wire: Wire::new(),
            scan_from: 0,
            pending: Asking::new(),
            awaiting_tls: false,
            awaiting_compression: false,
            compressed: false,
            condstore: false,
            qresync: false,
            rev2: false,
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
        s.untagged_status(StatusText::ok("postrider ready.").code(format!("CAPABILITY {caps}")));
        s
    }

    /// Whether buffered input is being consumed (no answer pending, nothing held).
    fn is_ready(&self) -> bool {
        !self.pending.is_pending() && self.hold.is_none()
    }

    /// Answers a [`ImapEvent::Request`].
    pub fn reply(&mut self, token: Token, reply: StoreReply) {
        let Some(then) = self.pending.answer(token) else {
            return;
        };
        self.touch();
        self.on_reply(then, reply);
        if !self.pending.is_pending() {
            self.process();
        }
    }

    fn capabilities(&self) -> String {
        let mut c = vec![
            "IMAP4rev1",
            "IMAP4rev2",
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
            "CREATE-SPECIAL-USE",
            "ESEARCH",
            "SEARCHRES",
            "SORT",
            "SORT=DISPLAY",
            "ESORT",
            "THREAD=ORDEREDSUBJECT",
            "THREAD=REFERENCES",
            "STATUS=SIZE",
            "MULTIAPPEND",
            "QUOTA",
            "QUOTA=RES-STORAGE",
            "LIST-EXTENDED",
            "LIST-STATUS",
            "BINARY",
            "CATENATE",
            "CONDSTORE",
            "QRESYNC",
        ];
        if self.config.starttls && !self.tls && self.state == State::NotAuthenticated {
            c.push("STARTTLS");
        }
        if self.state != State::NotAuthenticated && !self.compressed {
            c.push("COMPRESS=DEFLATE");
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

    /// Writes one response.
    fn send(&mut self, r: &Response) {
        write_response(&mut self.wire.output, r);
    }

    /// Writes `* values`.
    fn untagged(&mut self, values: Vec<Value>) {
        self.send(&Response::Untagged(values));
    }

    /// Writes `* OK|NO|BAD|BYE [code] text`.
    fn untagged_status(&mut self, status: StatusText) {
        self.send(&Response::UntaggedStatus(status));
    }

    /// Writes `+ text`.
    fn continuation(&mut self, text: impl Into<String>) {
        self.send(&Response::Continue(text.into()));
    }

    /// Writes the tagged completion; a tag that is not a valid RFC 3501 `tag` (taken
    /// from a line that did not parse) is answered untagged instead, never echoed.
    fn tagged(&mut self, tag: &str, status: StatusText) {
        self.send(&tagged_response(tag, status));
    }

    /// `tag OK text`.
    fn ok(&mut self, tag: &str, text: &str) {
        self.tagged(tag, StatusText::ok(text));
    }

    fn bad(&mut self, tag: &str, text: &str) {
        self.tagged(tag, StatusText::bad(text));
        self.errors += 1;
        if self.errors >= self.config.max_errors {
            self.untagged_status(StatusText::bye("Too many invalid commands."));
            self.close(CloseReason::TooManyErrors);
        }
    }

    /// `tag NO [code] text` for a store error.
    fn no(&mut self, tag: &str, e: &StoreError) {
        let status = StatusText {
            status: Status::No,
            code: e.code.clone(),
            text: e.text.clone(),
        };
        self.tagged(tag, status);
    }

    fn close(&mut self, reason: CloseReason) {
        if self.state == State::Logout {
            return;
        }
        self.state = State::Logout;
        self.pending.clear();
        self.hold = None;
        self.wire.input.clear();
        self.wire.events.push_back(ImapEvent::Closed { reason });
    }

    fn ask(&mut self, then: Then, request: StoreRequest) {
        let token = self.pending.ask(then);
        self.wire
            .events
            .push_back(ImapEvent::Request { token, request });
    }

    fn process(&mut self) {
        while self.state != State::Logout && self.is_ready() {
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
                match memchr::memchr(b'\n', &self.wire.input) {
                    Some(lf) => {
                        self.wire.input.drain(..=lf);
                        self.swallow_line = false;
                        self.scan_from = 0;
                        self.wire
                            .output
                            .extend_from_slice(b"* BAD Line too long\r\n");
                        self.errors += 1;
                        continue;
                    }
                    None => {
                        self.wire.input.clear();
                        return;
                    }
                }
            }
            match frame_line(&self.wire.input, self.scan_from) {
                Framing::Incomplete => {
                    if self.wire.input.len() - self.scan_from > self.config.max_line {
                        // Drop the rest of this command up to its line end, then BAD.
                        self.wire.input.clear();
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
                            .wire
                            .input
                            .split(|&b| b == b' ')
                            .next()
                            .map(|t| String::from_utf8_lossy(t).into_owned())
                            .unwrap_or_else(|| "*".into());
                        self.wire.input.drain(..data_at);
                        self.scan_from = 0;
                        self.literal_ack = None;
                        if !sync {
                            // The client sends the data anyway: swallow it and its line.
                            self.skip = len;
                            self.swallow_line = true;
                        }
                        self.tagged(&tag, StatusText::no("Literal too large").code("TOOBIG"));
                        self.errors += 1;
                        continue;
                    }
                    if self.wire.input.len() < data_at + len {
                        if sync && self.literal_ack != Some(data_at) {
                            self.continuation("OK");
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
        let bytes: Vec<u8> = self.wire.input.drain(..end).collect();
        self.scan_from = 0;
        self.literal_ack = None;
        self.touch();
        if let Some(tag) = self.idle_tag.clone() {
            let line = String::from_utf8_lossy(&bytes);
            if line.trim().eq_ignore_ascii_case("DONE") {
                self.idle_tag = None;
                self.ok(&tag, "Idle completed.");
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
                self.tagged(&tag, StatusText::no(e.message));
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
        let cmd = self.for_store(cmd);
        match cmd {
            Command::Capability => {
                let caps = self.capabilities();
                let mut values = vec![Value::atom("CAPABILITY")];
                values.extend(caps.split(' ').map(Value::atom));
                self.untagged(values);
                self.ok(&tag, "Capability completed.");
            }
            Command::Check if state != Selected => self.bad(&tag, "No mailbox selected."),
            Command::Noop | Command::Check => {
                match self.selected.as_ref().map(|s| s.name.clone()) {
                    Some(name) if state == Selected => self.ask(
                        Then::Refresh {
                            tag: Some(tag),
                            status: StatusText::ok("NOOP completed."),
                            highest: false,
                        },
                        StoreRequest::Refresh {
                            mailbox: name,
                            claim_recent: self.selected.as_ref().is_some_and(|s| !s.read_only),
                        },
                    ),
                    _ => self.ok(&tag, "NOOP completed."),
                }
            }
            Command::Logout => {
                self.untagged_status(StatusText::bye("Logging out"));
                self.ok(&tag, "Logout completed.");
                self.close(CloseReason::Quit);
            }
            Command::Id => {
                let id = vec![Value::string(b"name"), Value::string(b"postrider")];
                self.untagged(vec![Value::atom("ID"), Value::List(id)]);
                self.ok(&tag, "ID completed.");
            }
            Command::Compress(mechanism) => {
                if state == NotAuthenticated {
                    return self.bad(&tag, "Log in first.");
                }
                if !mechanism.eq_ignore_ascii_case("DEFLATE") {
                    return self.bad(&tag, "Unknown compression mechanism.");
                }
                if self.compressed {
                    let status = StatusText::no("Compression already active.");
                    return self.tagged(&tag, status.code("COMPRESSIONACTIVE"));
                }
                self.ok(&tag, "DEFLATE active.");
                // Anything the client sent behind the command was not meant to be read
                // uncompressed (as after STARTTLS, it is dropped).
                self.awaiting_compression = true;
                self.wire.input.clear();
                self.scan_from = 0;
                self.wire.events.push_back(ImapEvent::StartCompression);
            }
            Command::StartTls => {
                if state != NotAuthenticated || self.tls || !self.config.starttls {
                    return self.bad(&tag, "STARTTLS not available now.");
                }
                self.ok(&tag, "Begin TLS negotiation now.");
                self.awaiting_tls = true;
                self.wire.input.clear();
                self.scan_from = 0;
                self.wire.events.push_back(ImapEvent::StartTls);
            }
            Command::Login { user, password } => {
                if state != NotAuthenticated {
                    return self.bad(&tag, "Already logged in.");
                }
                if !self.auth_allowed() {
                    return self.tagged(&tag, privacy_required());
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
                    return self.tagged(&tag, privacy_required());
                }
                let Some(mech) = Mechanism::from_name(&mechanism) else {
                    return self.tagged(
                        &tag,
                        StatusText::no("Unsupported authentication mechanism."),
                    );
                };
                let (ex, step) = SaslExchange::start(mech, initial.as_deref().map(str::as_bytes));
                self.sasl_step(tag, ex, step);
            }
            Command::Enable(caps) => {
                if state == NotAuthenticated {
                    return self.bad(&tag, "Not logged in.");
                }
                self.enable(&tag, &caps);
            }
            _ if state == NotAuthenticated => self.bad(&tag, "Not logged in."),
            cmd => self.dispatch_authenticated(tag, cmd),
        }
    }

    fn sasl_step(&mut self, tag: String, ex: SaslExchange, step: Step) {
        match step {
            Step::Challenge(c) => {
                self.continuation(c);
                self.sasl = Some((tag, ex));
            }
            Step::Done(credentials) => self.ask(Then::Login(tag), StoreRequest::Login(credentials)),
            Step::Failed(SaslError::Cancelled) => self.bad(&tag, "Authentication cancelled."),
            Step::Failed(_) => self.bad(&tag, "Invalid authentication data."),
        }
    }
}

impl Machine for ImapServer {
    type Event = ImapEvent;

    /// Whether more input should be read now: until the session ends, except between
    /// STARTTLS and the handshake, and while the pipelined input waiting behind a
    /// pending answer reaches the cap.
    fn wants_input(&self) -> bool {
        let open = self.state != State::Logout && !self.awaiting_tls && !self.awaiting_compression;
        self.wire
            .wants_input(open, self.is_ready(), self.config.max_pipelined)
    }

    /// Whether the session is over.
    fn is_closed(&self) -> bool {
        self.state == State::Logout
    }

    /// Bytes to write.
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.wire.transmit()
    }

    /// The next thing the runtime must do.
    fn poll_event(&mut self) -> Option<ImapEvent> {
        self.wire.events.pop_front()
    }

    /// The next event, left in place.
    fn peek_event(&self) -> Option<&ImapEvent> {
        self.wire.events.front()
    }

    /// The next deadline (autologout, a delayed NO, or the next IDLE check).
    fn poll_timeout(&self) -> Option<Instant> {
        // In IDLE, the next look at the mailbox may come before the autologout.
        let idle = match self.idle_tag {
            Some(_) => self.idle_next.min(self.deadline),
            None => self.deadline,
        };
        next_deadline(
            self.state != State::Logout,
            self.pending.is_pending(),
            self.hold.as_ref(),
            idle,
        )
    }

    /// Bytes from the client.
    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if self.state == State::Logout {
            return;
        }
        self.now = now;
        self.wire.input.extend_from_slice(bytes);
        self.process();
    }

    /// The client went away.
    fn handle_eof(&mut self, now: Instant) {
        self.now = now;
        self.close(CloseReason::PeerClosed);
    }

    /// Call when [`ImapServer::poll_timeout`] has passed.
    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.state == State::Logout || self.pending.is_pending() {
            return;
        }
        if self.hold.is_some() {
            let Some(Held { tag, status, close }) = Hold::take_due(&mut self.hold, now) else {
                return;
            };
            self.tagged(&tag, status);
            if close {
                self.untagged_status(StatusText::bye("Too many invalid authentication attempts"));
                self.close(CloseReason::AuthFailures);
            } else {
                self.process();
            }
            return;
        }
        if now >= self.deadline {
            self.untagged_status(StatusText::bye("Disconnected for inactivity."));
            self.close(CloseReason::Timeout);
            return;
        }
        if self.idle_tag.is_some() && now >= self.idle_next {
            self.idle_next = now + self.config.idle_poll;
            if let Some(name) = self.selected.as_ref().map(|s| s.name.clone()) {
                self.ask(
                    Then::Refresh {
                        tag: None,
                        status: StatusText::ok(""),
                        highest: false,
                    },
                    StoreRequest::Poll {
                        mailbox: name,
                        claim_recent: self.selected.as_ref().is_some_and(|s| !s.read_only),
                    },
                );
            }
        }
    }

    /// Ends the session from the server side.
    fn shutdown(&mut self) {
        if self.state != State::Logout {
            self.untagged_status(StatusText::bye("Server shutting down."));
            self.close(CloseReason::Shutdown);
        }
    }

    /// Reports a finished TLS handshake after [`ImapEvent::StartTls`].
    fn tls_established(&mut self, now: Instant, _info: TlsInfo) {
        self.now = now;
        self.awaiting_tls = false;
        self.tls = true;
        self.wire.input.clear();
        self.scan_from = 0;
        self.touch();
    }

    /// Both directions are deflated from now on (after [`ImapEvent::StartCompression`]).
    fn compression_started(&mut self, now: Instant) {
        self.now = now;
        self.awaiting_compression = false;
        self.compressed = true;
        self.wire.input.clear();
        self.scan_from = 0;
        self.touch();
        self.process();
    }
}

/// A tagged completion; an unusable tag makes it untagged.
fn tagged_response(tag: &str, status: StatusText) -> Response {
    let valid = !tag.is_empty() && tag.bytes().all(crate::imap::response::is_tag_char);
    if valid {
        Response::Tagged {
            tag: tag.to_string(),
            status,
        }
    } else {
        Response::UntaggedStatus(status)
    }
}

/// The answer to a login attempt without TLS when plaintext logins are off.
fn privacy_required() -> StatusText {
    StatusText::no("Plaintext authentication disallowed on non-secure (SSL/TLS) connections.")
        .code("PRIVACYREQUIRED")
}
