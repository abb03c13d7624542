//! The HTTP/1.1 server machine (RFC 9110, RFC 9112): reads requests one at a time
//! (pipelined ones wait), hands each whole request to the agent as
//! [`HttpEvent::Request`], and writes the agent's [`Response`] with the framing and
//! persistence it decides itself. Requests it cannot frame safely (malformed, smuggling
//! attempts, over a limit, too slow) are answered with the right status by the machine
//! alone, and the connection is closed.

use std::time::{Duration, Instant};

use super::body::{BodyError, BodyReader};
use super::head::{parse_head, Framing, Head, HeadLimits};
use super::types::{Method, Request, Response};
use crate::machine::{
    Asking, CloseReason, Hold, Machine, TlsInfo, Token, Wire, DEFAULT_MAX_PIPELINED,
};

/// Limits and timeouts of one HTTP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpServerConfig {
    /// Limits on request heads.
    pub head: HeadLimits,
    /// The largest request body (decoded), e.g. the largest message plus form overhead.
    pub max_body: u64,
    /// How long a request head may take to arrive once begun (slow clients): 30 s.
    pub head_timeout: Duration,
    /// How long a body may go without a byte arriving: 60 s.
    pub body_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request: 60 s.
    pub idle_timeout: Duration,
    /// Requests served on one connection before it is closed: 1,000.
    pub max_requests: u32,
    /// Pipelined input kept while a request is being answered.
    pub max_pipelined: usize,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        Self {
            head: HeadLimits::default(),
            max_body: 64 * 1024 * 1024,
            head_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            max_requests: 1000,
            max_pipelined: DEFAULT_MAX_PIPELINED,
        }
    }
}

/// Work only the runtime can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpEvent {
    /// A whole request: answer with [`HttpServer::respond`].
    Request {
        /// Pass back with the answer.
        token: Token,
        /// The request, body included.
        request: Request,
    },
    /// The connection is over: close it once the output is written.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// Where the connection is.
#[derive(Debug)]
enum Phase {
    /// Between requests (or inside a head not yet complete).
    Head,
    /// Reading a body.
    Body {
        head: Box<Head>,
        reader: BodyReader,
        body: Vec<u8>,
    },
    /// A request is with the agent.
    Answering,
    /// Over.
    Closed,
}

/// What the machine remembers of the request being answered.
#[derive(Debug, Clone, Copy)]
struct Answering {
    head_only: bool,
    keep_alive: bool,
}

/// One HTTP connection.
#[derive(Debug)]
pub struct HttpServer {
    config: HttpServerConfig,
    phase: Phase,
    wire: Wire<HttpEvent>,
    pending: Asking<Answering>,
    served: u32,
    /// The time of the last input call (the machine keeps no clock of its own).
    now: Instant,
    /// When the head being read began (its first byte arrived), if one has.
    head_began: Option<Instant>,
    /// When the connection last made progress (a request answered, body bytes read).
    last_activity: Instant,
    /// Close once the request being answered is (the server is stopping).
    stopping: bool,
    /// An answer kept back until its time (a failed login's delay).
    held: Option<Hold<(Answering, Response)>>,
}

impl HttpServer {
    /// A new connection, waiting for its first request.
    pub fn new(config: HttpServerConfig, now: Instant) -> Self {
        Self {
            config,
            phase: Phase::Head,
            wire: Wire::new(),
            pending: Asking::new(),
            served: 0,
            now,
            head_began: None,
            last_activity: now,
            stopping: false,
            held: None,
        }
    }

    /// Answers [`HttpEvent::Request`]. The connection stays open for the next request
    /// unless the client asked to close it, the request limit is reached or the server
    /// is stopping.
    pub fn respond(&mut self, token: Token, response: Response) {
        if let Some(asked) = self.pending.answer(token) {
            self.send(asked, response);
        }
    }

    /// Answers [`HttpEvent::Request`] after `delay` (a failed login); nothing more is read
    /// from the connection meanwhile.
    pub fn respond_after(&mut self, token: Token, response: Response, delay: Duration) {
        let Some(asked) = self.pending.answer(token) else {
            return;
        };
        if delay.is_zero() {
            self.send(asked, response);
            return;
        }
        self.held = Some(Hold {
            until: self.now + delay,
            then: (asked, response),
        });
    }

    /// Writes the answer to a request, then reads on or closes.
    fn send(&mut self, asked: Answering, response: Response) {
        self.served += 1;
        self.last_activity = self.now;
        let close = !asked.keep_alive || self.served >= self.config.max_requests || self.stopping;
        response.encode(asked.head_only, close, &mut self.wire.output);
        if close {
            self.close(CloseReason::Quit);
            return;
        }
        self.phase = Phase::Head;
        self.process();
    }

    /// Whether the pipelined input is being read (no request with the agent).
    fn is_ready(&self) -> bool {
        !matches!(self.phase, Phase::Answering | Phase::Closed)
    }

    /// Reads what the input holds: heads, bodies, and each whole request handed over.
    fn process(&mut self) {
        while self.is_ready() && !self.wire.input.is_empty() {
            if !self.step() {
                return;
            }
        }
    }

    /// One step of reading; false when more input is needed.
    fn step(&mut self) -> bool {
        match std::mem::replace(&mut self.phase, Phase::Head) {
            Phase::Head => self.read_head(),
            Phase::Body {
                head,
                mut reader,
                mut body,
            } => match reader.feed(&self.wire.input, &mut body) {
                Ok(used) => {
                    self.wire.input.drain(..used);
                    if used > 0 {
                        self.last_activity = self.now;
                    }
                    if reader.is_done() {
                        self.hand_over(*head, body);
                        true
                    } else {
                        self.phase = Phase::Body { head, reader, body };
                        false
                    }
                }
                Err(e) => {
                    self.refuse(e.status(), body_reason(e));
                    false
                }
            },
            other => {
                self.phase = other;
                false
            }
        }
    }

    /// Reads a request head from the input, if a whole one is there.
    fn read_head(&mut self) -> bool {
        if self.head_began.is_none() {
            self.head_began = Some(self.now);
        }
        match parse_head(&self.wire.input, &self.config.head) {
            Ok(None) => false,
            Ok(Some((head, used))) => {
                self.wire.input.drain(..used);
                self.begin_body(head);
                true
            }
            Err(e) => {
                self.refuse(e.status(), e.reason());
                false
            }
        }
    }

    /// Starts reading the body of `head` (answering `100 Continue` when the client
    /// waits for it), or hands over a request without one.
    fn begin_body(&mut self, head: Head) {
        let max_trailer = self.config.head.max_head;
        let reader = match BodyReader::new(head.framing, self.config.max_body, max_trailer) {
            Ok(r) => r,
            Err(e) => {
                self.refuse(e.status(), body_reason(e));
                return;
            }
        };
        if reader.is_done() {
            self.hand_over(head, Vec::new());
            return;
        }
        if head.expect_continue && self.wire.input.is_empty() {
            self.wire
                .output
                .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let capacity = match head.framing {
            Framing::Length(n) => n.min(1 << 20) as usize,
            _ => 0,
        };
        self.phase = Phase::Body {
            head: Box::new(head),
            reader,
            body: Vec::with_capacity(capacity),
        };
    }

    /// Gives a whole request to the agent.
    fn hand_over(&mut self, head: Head, body: Vec<u8>) {
        self.head_began = None;
        let mut request = head.request;
        request.body = body;
        let token = self.pending.ask(Answering {
            head_only: request.method == Method::Head,
            keep_alive: head.keep_alive,
        });
        self.phase = Phase::Answering;
        self.wire
            .events
            .push_back(HttpEvent::Request { token, request });
    }

    /// Answers a request the machine cannot read with `status`, and closes.
    fn refuse(&mut self, status: u16, why: &str) {
        Response::text(status, why).encode(false, true, &mut self.wire.output);
        self.close(CloseReason::TooManyErrors);
    }

    fn close(&mut self, reason: CloseReason) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        self.phase = Phase::Closed;
        self.pending.clear();
        self.held = None;
        self.wire.input.clear();
        self.wire.events.push_back(HttpEvent::Closed { reason });
    }
}

/// The explanation of a body error.
fn body_reason(e: BodyError) -> &'static str {
    match e {
        BodyError::Malformed => "malformed chunked body",
        BodyError::TooLarge => "request body too large",
    }
}

impl Machine for HttpServer {
    type Event = HttpEvent;

    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        self.now = now;
        self.wire.input.extend_from_slice(bytes);
        self.process();
    }

    fn handle_eof(&mut self, _now: Instant) {
        self.close(CloseReason::PeerClosed);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now < deadline {
            return;
        }
        if self.held.is_some() {
            if let Some((asked, response)) = Hold::take_due(&mut self.held, now) {
                self.send(asked, response);
            }
            return;
        }
        match self.phase {
            Phase::Head if self.head_began.is_some() => {
                self.refuse(408, "request not received in time");
            }
            Phase::Body { .. } => self.refuse(408, "request body not received in time"),
            _ => self.close(CloseReason::Timeout),
        }
    }

    fn shutdown(&mut self) {
        if matches!(self.phase, Phase::Answering) {
            self.stopping = true;
        } else {
            self.close(CloseReason::Shutdown);
        }
    }

    fn tls_established(&mut self, now: Instant, _info: TlsInfo) {
        self.now = now;
        self.last_activity = now;
    }

    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.wire.transmit()
    }

    fn poll_event(&mut self) -> Option<HttpEvent> {
        self.wire.events.pop_front()
    }

    fn peek_event(&self) -> Option<&HttpEvent> {
        self.wire.events.front()
    }

    fn wants_input(&self) -> bool {
        let open = !matches!(self.phase, Phase::Closed);
        self.wire
            .wants_input(open, self.is_ready(), self.config.max_pipelined)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Closed => None,
            Phase::Answering => self.held.as_ref().map(|h| h.until),
            Phase::Body { .. } => Some(self.last_activity + self.config.body_timeout),
            Phase::Head => Some(match self.head_began {
                Some(began) => began + self.config.head_timeout,
                None => self.last_activity + self.config.idle_timeout,
            }),
        }
    }

    fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }
}
