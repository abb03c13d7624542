//! The runtime side of a POP3 session, shared by both runtimes (logins, the maildrop),
//! and the blocking driver of `postrider-std`.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postrider_core::pop3::{OpenError, Pop3Config, Pop3Event, Pop3Server};
use postrider_core::smtp::{PeerInfo, Token};

use crate::conn::Conn;
use crate::context::Context;
use crate::login::sasl_login;
use crate::maildrop::{Maildrop, MessageStream};
use crate::session::ListenerKind;

/// The core configuration for a POP3 session on a listener of `kind`.
pub fn pop3_config(ctx: &Context, kind: ListenerKind) -> Pop3Config {
    let s = &ctx.settings;
    let mut c = Pop3Config::default();
    c.hostname = s.config.hostname.clone();
    c.implicit_tls = kind == ListenerKind::Pop3s;
    c.starttls = ctx.tls.is_available() && !c.implicit_tls;
    c.allow_plaintext_auth = s.config.auth.allow_plaintext;
    c.max_auth_failures = s.config.auth.max_failures;
    c.auth_failure_delay = s.auth_failure_delay;
    c.idle_timeout = s.pop3_idle_timeout;
    c
}

/// What the driver must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pop3Flow {
    /// Keep going.
    Continue,
    /// Flush, run the TLS handshake, call `tls_established`.
    StartTls,
    /// Flush and close.
    Close,
    /// Answer with `retrieve_start`, stream the message, `retrieve_done`.
    Retrieve {
        /// Answer token.
        token: Token,
        /// 0-based message index.
        index: usize,
        /// TOP's line count.
        top_lines: Option<usize>,
    },
}

/// Per-connection state of the runtime side.
#[derive(Debug)]
pub struct Pop3Session {
    ctx: Arc<Context>,
    peer: PeerInfo,
    maildrop: Option<Maildrop>,
    user: String,
}

impl Pop3Session {
    /// State for a new connection.
    pub fn new(ctx: Arc<Context>, peer: PeerInfo) -> Self {
        tracing::info!(
            "pop3: connect from [{}]:{}",
            peer.remote.ip(),
            peer.remote.port()
        );
        Self {
            ctx,
            peer,
            maildrop: None,
            user: String::new(),
        }
    }

    /// Handles queued events until one needs the driver.
    pub fn handle_all(&mut self, s: &mut Pop3Server) -> Pop3Flow {
        while let Some(ev) = s.poll_event() {
            match ev {
                Pop3Event::Authenticate { token, credentials } => {
                    let (outcome, hold) =
                        sasl_login(&self.ctx, self.peer.remote.ip(), "pop3", &credentials);
                    s.auth_result(token, outcome, hold);
                }
                Pop3Event::OpenMaildrop { token, user } => match Maildrop::open(&self.ctx, &user) {
                    Ok(m) => {
                        let listing = m.listing();
                        tracing::info!(
                            "pop3: {user} logged in from [{}]: {} messages",
                            self.peer.remote.ip(),
                            listing.len()
                        );
                        self.maildrop = Some(m);
                        self.user = user;
                        s.maildrop_opened(token, Ok(listing));
                    }
                    Err(e) => {
                        if let OpenError::Failed(why) = &e {
                            tracing::error!("pop3: cannot open the maildrop of {user}: {why}");
                        }
                        s.maildrop_opened(token, Err(e));
                    }
                },
                Pop3Event::Retrieve {
                    token,
                    index,
                    top_lines,
                } => {
                    return Pop3Flow::Retrieve {
                        token,
                        index,
                        top_lines,
                    }
                }
                Pop3Event::Commit { token, deleted } => {
                    let result = match &self.maildrop {
                        Some(m) => m.commit(&deleted).map_err(|e| e.to_string()),
                        None => Ok(()),
                    };
                    match &result {
                        Ok(()) => tracing::info!(
                            "pop3: {} logged out, {} messages deleted",
                            self.user,
                            deleted.len()
                        ),
                        Err(e) => {
                            tracing::error!("pop3: {}: cannot remove messages: {e}", self.user)
                        }
                    }
                    s.committed(token, result);
                }
                Pop3Event::StartTls => return Pop3Flow::StartTls,
                Pop3Event::Closed { reason } => {
                    self.maildrop = None;
                    tracing::info!(
                        "pop3: disconnect from [{}] ({reason:?})",
                        self.peer.remote.ip()
                    );
                    return Pop3Flow::Close;
                }
            }
        }
        Pop3Flow::Continue
    }

    /// The encoded message for a retrieve.
    pub fn stream(&self, index: usize, top_lines: Option<usize>) -> io::Result<MessageStream> {
        match &self.maildrop {
            Some(m) => m.stream(index, top_lines),
            None => Err(io::Error::other("no maildrop open")),
        }
    }
}

fn flush(s: &mut Pop3Server, conn: &mut Conn) -> io::Result<()> {
    while let Some(b) = s.poll_transmit() {
        conn.write_all(&b)?;
    }
    conn.flush()
}

/// Drives one POP3 session over a blocking socket.
pub fn pop3_connection(ctx: Arc<Context>, stream: TcpStream, kind: ListenerKind) -> io::Result<()> {
    let peer = PeerInfo {
        remote: stream.peer_addr()?,
        local: stream.local_addr()?,
    };
    stream.set_nodelay(true)?;
    let mut conn = Conn::Plain(stream);
    if kind == ListenerKind::Pop3s {
        let tls = ctx
            .tls
            .get()
            .ok_or_else(|| io::Error::other("implicit TLS listener without a certificate"))?;
        let (c, info) = conn.start_tls(tls, ctx.settings.tls_handshake_timeout)?;
        tracing::info!(
            "pop3: TLS with [{}]: {} {}",
            peer.remote.ip(),
            info.version,
            info.cipher
        );
        conn = c;
    }
    let mut server = Pop3Server::new(pop3_config(&ctx, kind), Instant::now());
    let mut session = Pop3Session::new(ctx.clone(), peer);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        flush(&mut server, &mut conn)?;
        match session.handle_all(&mut server) {
            Pop3Flow::Close => {
                flush(&mut server, &mut conn)?;
                return Ok(());
            }
            Pop3Flow::StartTls => {
                flush(&mut server, &mut conn)?;
                let tls = ctx
                    .tls
                    .get()
                    .ok_or_else(|| io::Error::other("STLS without a certificate"))?;
                let (c, info) = conn.start_tls(tls, ctx.settings.tls_handshake_timeout)?;
                tracing::info!(
                    "pop3: STLS with [{}]: {} {}",
                    peer.remote.ip(),
                    info.version,
                    info.cipher
                );
                conn = c;
                conn.tcp().set_write_timeout(None)?;
                server.tls_established(info);
                continue;
            }
            Pop3Flow::Retrieve {
                token,
                index,
                top_lines,
            } => {
                match session.stream(index, top_lines) {
                    Ok(mut stream) => {
                        server.retrieve_start(token, index);
                        flush(&mut server, &mut conn)?;
                        while let Some(chunk) = stream.next_chunk()? {
                            conn.write_all(&chunk)?;
                        }
                        server.retrieve_done(token, Ok(()));
                    }
                    Err(e) => server.retrieve_done(token, Err(e.to_string())),
                }
                continue;
            }
            Pop3Flow::Continue => {}
        }
        if server.has_event() {
            continue;
        }
        // Answers produced while handling events go out before the next read.
        flush(&mut server, &mut conn)?;
        let now = Instant::now();
        let deadline = server
            .poll_timeout()
            .unwrap_or(now + Duration::from_secs(1));
        if !server.wants_input() {
            std::thread::sleep(deadline.saturating_duration_since(now));
            server.handle_timeout(Instant::now());
            continue;
        }
        let wait = deadline
            .saturating_duration_since(now)
            .clamp(Duration::from_millis(1), Duration::from_secs(1));
        conn.tcp().set_read_timeout(Some(wait))?;
        match conn.read(&mut buf) {
            Ok(0) => server.handle_eof(Instant::now()),
            Ok(n) => server.handle_input(Instant::now(), &buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if ctx.shutting_down() {
                    server.shutdown();
                } else {
                    server.handle_timeout(Instant::now());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                server.handle_eof(Instant::now());
                session.handle_all(&mut server);
                return Err(e);
            }
        }
    }
}
