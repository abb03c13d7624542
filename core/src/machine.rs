//! The kit every protocol machine is built from: the [`Machine`] trait the runtimes'
//! generic drivers run, and the types all machines share: the answer [`Token`], one
//! question at a time ([`Asking`], with one wrong-token policy), answers held back until a
//! deadline ([`Hold`]), why a session ended ([`CloseReason`]), and the connection facts
//! ([`PeerInfo`], [`TlsInfo`]) and login outcome ([`AuthOutcome`]) a runtime reports.
//!
//! # The driver's contract
//! A driver owns the connection and a machine, and loops:
//! 1. drains [`Machine::poll_transmit`] into its output backlog;
//! 2. while the backlog is below its cap, hands queued events ([`Machine::poll_event`]) to
//!    the agent, which answers their tokens through the machine's own answer methods;
//! 3. writes the backlog **and at the same time** reads input whenever
//!    [`Machine::wants_input`] is true, passing it to [`Machine::handle_input`], so a
//!    client that pipelines without reading cannot deadlock the session (the machine
//!    buffers pipelined input up to its own cap, then `wants_input` turns false);
//! 4. calls [`Machine::handle_timeout`] when [`Machine::poll_timeout`] passes,
//!    [`Machine::handle_eof`] at end of stream and [`Machine::shutdown`] when the server
//!    stops;
//! 5. on a STARTTLS event, writes the whole backlog without reading, runs the handshake
//!    and calls [`Machine::tls_established`]; on the closing event, writes the backlog and
//!    closes.
//!
//! `wants_input` is false between a STARTTLS event and `tls_established`: the bytes that
//! follow are the TLS handshake, never commands.

use core::net::SocketAddr;
use std::collections::VecDeque;
use std::time::Instant;

/// How much pipelined input a machine keeps while it waits for an answer or for its
/// output to be written, before [`Machine::wants_input`] turns false. Large enough that a
/// client writing a few thousand commands before reading any answer does not stall.
pub const DEFAULT_MAX_PIPELINED: usize = 8 * 1024 * 1024;

/// Identifies one pending question; pass it back with the answer.
#[must_use = "the machine waits until the token is answered"]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token(pub(crate) u64);

/// The runtime's answer to a login (SMTP AUTH, POP3 USER/PASS or AUTH, IMAP LOGIN or
/// AUTHENTICATE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The credentials are good: the session is authenticated as this identity.
    Success(String),
    /// Wrong name or password: refused after a delay that grows with each failure.
    Failure,
    /// The accounts could not be checked (e.g. unreadable): a temporary error, not
    /// counted as a failure.
    TemporaryFailure,
}

/// TLS session facts the runtime reports after a handshake.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsInfo {
    /// The protocol version, e.g. `TLSv1.3`.
    pub version: String,
    /// The cipher suite name.
    pub cipher: String,
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerInfo {
    /// The client's address.
    pub remote: SocketAddr,
    /// Our address.
    pub local: SocketAddr,
}

/// Why a session ended; carried by every machine's closing event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client said goodbye (SMTP and POP3 QUIT, IMAP LOGOUT).
    Quit,
    /// The client closed the connection.
    PeerClosed,
    /// The command, data or autologout timeout expired.
    Timeout,
    /// Too many bad commands.
    TooManyErrors,
    /// The runtime asked to shut down.
    Shutdown,
    /// Too many failed logins.
    AuthFailures,
    /// The per-connection message limit was reached (SMTP).
    TooManyMessages,
    /// A local condition ended it: a response that could not be completed (POP3 RETR
    /// from a damaged mailbox), the selected IMAP mailbox recreated under the session.
    Failed,
}

/// The one question a machine waits on, if any, and the counter its tokens come from.
///
/// The wrong-token policy of every machine lives here: an answer whose token is not the
/// pending one (stale, from another session, answered twice) is ignored and the question
/// stays pending.
#[derive(Debug)]
pub(crate) struct Asking<Q> {
    next: u64,
    pending: Option<(u64, Q)>,
}

impl<Q> Asking<Q> {
    /// Nothing pending; the first token is 1.
    pub(crate) fn new() -> Self {
        Self {
            next: 1,
            pending: None,
        }
    }

    /// Makes `question` the pending one and returns the token its answer must carry.
    pub(crate) fn ask(&mut self, question: Q) -> Token {
        let t = self.next;
        self.next += 1;
        self.pending = Some((t, question));
        Token(t)
    }

    /// Takes the pending question if `token` is its token (see the policy above).
    pub(crate) fn answer(&mut self, token: Token) -> Option<Q> {
        self.answer_if(token, |_| true)
    }

    /// Takes the pending question if `token` is its token and `is` accepts it.
    pub(crate) fn answer_if(&mut self, token: Token, is: impl FnOnce(&Q) -> bool) -> Option<Q> {
        match &self.pending {
            Some((t, q)) if *t == token.0 && is(q) => self.pending.take().map(|(_, q)| q),
            _ => None,
        }
    }

    /// The pending question, if any.
    pub(crate) fn get(&self) -> Option<&Q> {
        self.pending.as_ref().map(|(_, q)| q)
    }

    /// Whether a question waits for its answer.
    pub(crate) fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Forgets the pending question (the session closed).
    pub(crate) fn clear(&mut self) {
        self.pending = None;
    }
}

/// Something a machine holds back until a deadline (the answers after a failed login).
#[derive(Debug)]
pub(crate) struct Hold<T> {
    /// When it is due.
    pub(crate) until: Instant,
    /// What happens then.
    pub(crate) then: T,
}

impl<T> Hold<T> {
    /// Takes the held value out of `slot` if it is due at `now`; leaves it otherwise.
    pub(crate) fn take_due(slot: &mut Option<Hold<T>>, now: Instant) -> Option<T> {
        match slot {
            Some(h) if now >= h.until => slot.take().map(|h| h.then),
            _ => None,
        }
    }
}

/// The deadline rule of the server machines ([`Machine::poll_timeout`]): none once
/// closed or while a question waits for the runtime's answer, the release time of a held
/// answer, else `idle` (the machine's own idle or command deadline).
pub(crate) fn next_deadline<T>(
    open: bool,
    asking: bool,
    hold: Option<&Hold<T>>,
    idle: Instant,
) -> Option<Instant> {
    match hold {
        _ if !open || asking => None,
        Some(h) => Some(h.until),
        None => Some(idle),
    }
}

/// The queues every server machine keeps: input received and not yet consumed, output
/// not yet taken by the driver, and events not yet taken by the agent.
#[derive(Debug)]
pub(crate) struct Wire<E> {
    /// Bytes received and not yet consumed (pipelined commands wait here).
    pub(crate) input: Vec<u8>,
    /// Bytes to send.
    pub(crate) output: Vec<u8>,
    /// Events for the runtime.
    pub(crate) events: VecDeque<E>,
}

impl<E> Wire<E> {
    /// Empty queues.
    pub(crate) fn new() -> Self {
        Self {
            input: Vec::new(),
            output: Vec::new(),
            events: VecDeque::new(),
        }
    }

    /// Everything queued for sending ([`Machine::poll_transmit`]).
    pub(crate) fn transmit(&mut self) -> Option<Vec<u8>> {
        if self.output.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.output))
        }
    }

    /// The input rule of every machine ([`Machine::wants_input`]): nothing once closed
    /// or between STARTTLS and the handshake (`open` false); always while input is being
    /// consumed (`ready`); otherwise until `cap` bytes of pipelined input wait.
    pub(crate) fn wants_input(&self, open: bool, ready: bool, cap: usize) -> bool {
        open && (ready || self.input.len() < cap)
    }
}

/// What the runtimes' generic drivers need of a protocol machine (see the module docs for
/// the loop). Answers to events are machine-specific methods the agent calls.
pub trait Machine {
    /// Work only the runtime can do, drained with [`Machine::poll_event`].
    type Event;

    /// Bytes received from the peer.
    fn handle_input(&mut self, now: Instant, bytes: &[u8]);
    /// The peer closed its side of the connection.
    fn handle_eof(&mut self, now: Instant);
    /// The deadline from [`Machine::poll_timeout`] has passed.
    fn handle_timeout(&mut self, now: Instant);
    /// The server is stopping: say goodbye and close.
    fn shutdown(&mut self);
    /// The TLS handshake asked for by the STARTTLS event finished.
    fn tls_established(&mut self, now: Instant, info: TlsInfo);
    /// The driver compresses both directions from now on, as the machine's compression
    /// event asked (IMAP COMPRESS, RFC 4978). Machines without compression never ask.
    fn compression_started(&mut self, _now: Instant) {}

    /// Bytes to write to the peer, if any.
    fn poll_transmit(&mut self) -> Option<Vec<u8>>;
    /// The next event, if any.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// The event [`Machine::poll_event`] would return next, left in place.
    fn peek_event(&self) -> Option<&Self::Event>;
    /// Whether an event is queued.
    fn has_event(&self) -> bool {
        self.peek_event().is_some()
    }
    /// Whether the driver should read and pass more input now.
    fn wants_input(&self) -> bool;
    /// When [`Machine::handle_timeout`] should be called, if at all.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Whether the session is over (after its closing event).
    fn is_closed(&self) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_wrong_token_is_ignored_and_the_question_stays() {
        let mut a = Asking::new();
        let t1 = a.ask("first");
        assert_eq!(a.answer(Token(t1.0 + 7)), None);
        assert!(a.is_pending());
        assert_eq!(a.answer_if(t1, |q| *q == "other"), None);
        assert_eq!(a.get(), Some(&"first"));
        assert_eq!(a.answer(t1), Some("first"));
        assert_eq!(a.answer(t1), None, "answered twice");
        let t2 = a.ask("second");
        assert_ne!(t1, t2);
        a.clear();
        assert_eq!(a.answer(t2), None);
    }

    #[test]
    fn a_hold_is_taken_only_when_due() {
        let t0 = Instant::now();
        let mut slot = Some(Hold {
            until: t0 + Duration::from_secs(1),
            then: 5,
        });
        assert_eq!(Hold::take_due(&mut slot, t0), None);
        assert!(slot.is_some());
        assert_eq!(
            Hold::take_due(&mut slot, t0 + Duration::from_secs(1)),
            Some(5)
        );
        assert!(slot.is_none());
    }
}
