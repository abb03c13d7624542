//! The runtime side of an IMAP session, shared by both runtimes (logins and the mail
//! store), and the blocking driver of `postrider-std`.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postrider_core::imap::server::{ImapConfig, ImapEvent, ImapServer, StoreReply, StoreRequest};
use postrider_core::smtp::{AuthOutcome, PeerInfo};

use crate::conn::Conn;
use crate::context::Context;
use crate::imap_store::UserStore;
use crate::login::sasl_login;
use crate::session::ListenerKind;

/// The core configuration for an IMAP session on a listener of `kind`.
pub fn imap_config(ctx: &Context, kind: ListenerKind) -> ImapConfig {
    let s = &ctx.settings;
    let mut c = ImapConfig::default();
    c.hostname = s.config.hostname.clone();
    c.implicit_tls = kind == ListenerKind::Imaps;
    c.starttls = ctx.tls.is_available() && !c.implicit_tls;
    c.allow_plaintext_auth = s.config.auth.allow_plaintext;
    c.max_auth_failures = s.config.auth.max_failures;
    c.auth_failure_delay = s.auth_failure_delay;
    c.idle_timeout = s.imap_idle_timeout;
    c.max_literal = (s.config.smtp.max_message_size as usize)
        .saturating_mul(2)
        .max(1024 * 1024);
    c
}

/// What the driver must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImapFlow {
    /// Keep going.
    Continue,
    /// Flush, handshake, `tls_established`.
    StartTls,
    /// Flush and close.
    Close,
}

/// Per-connection state of the runtime side.
#[derive(Debug)]
pub struct ImapSession {
    ctx: Arc<Context>,
    peer: PeerInfo,
    user: Option<String>,
}

impl ImapSession {
    /// State for a new connection.
    pub fn new(ctx: Arc<Context>, peer: PeerInfo) -> Self {
        tracing::info!(
            "imap: connect from [{}]:{}",
            peer.remote.ip(),
            peer.remote.port()
        );
        Self {
            ctx,
            peer,
            user: None,
        }
    }

    /// Handles the next queued event. After a store request is answered, its responses (a
    /// FETCH batch, say) are written by the driver before the next one is read, so a large
    /// FETCH never piles up in memory.
    pub fn handle_all(&mut self, s: &mut ImapServer) -> ImapFlow {
        match s.poll_event() {
            Some(ImapEvent::Request { token, request }) => {
                let reply = self.answer(request);
                s.reply(token, reply);
                ImapFlow::Continue
            }
            Some(ImapEvent::StartTls) => ImapFlow::StartTls,
            Some(ImapEvent::Closed) => {
                tracing::info!("imap: disconnect from [{}]", self.peer.remote.ip());
                ImapFlow::Close
            }
            None => ImapFlow::Continue,
        }
    }

    fn answer(&mut self, request: StoreRequest) -> StoreReply {
        if let StoreRequest::Login(c) = &request {
            let (outcome, hold) = sasl_login(&self.ctx, self.peer.remote.ip(), "imap", c);
            if let AuthOutcome::Success(user) = &outcome {
                self.user = Some(user.clone());
                UserStore::new(&self.ctx, user).ensure_special_use();
            }
            return StoreReply::Auth(outcome, hold);
        }
        let Some(user) = self.user.clone() else {
            return StoreReply::Done(Err(postrider_core::imap::server::StoreError::new(
                None,
                "Not logged in",
            )));
        };
        let store = UserStore::new(&self.ctx, &user);
        match request {
            StoreRequest::Login(_) => StoreReply::Auth(AuthOutcome::Failure, Duration::ZERO),
            StoreRequest::Open {
                mailbox,
                claim_recent,
            }
            | StoreRequest::Refresh {
                mailbox,
                claim_recent,
            } => StoreReply::View(store.view(&mailbox, claim_recent)),
            StoreRequest::List {
                reference,
                pattern,
                subscribed,
            } => StoreReply::List(store.list(&reference, &pattern, subscribed)),
            StoreRequest::Status { mailbox } => StoreReply::Status(store.status(&mailbox)),
            StoreRequest::Create(m) => StoreReply::Done(store.create(&m)),
            StoreRequest::Delete(m) => StoreReply::Done(store.delete(&m)),
            StoreRequest::Rename(a, b) => StoreReply::Done(store.rename(&a, &b)),
            StoreRequest::Subscribe(m, on) => StoreReply::Done(store.subscribe(&m, on)),
            StoreRequest::Append {
                mailbox,
                flags,
                date,
                message,
            } => StoreReply::Appended(store.append(&mailbox, &flags, date, &message)),
            StoreRequest::Fetch {
                mailbox,
                uids,
                part,
            } => StoreReply::Messages(store.fetch(&mailbox, &uids, part)),
            StoreRequest::Scan {
                mailbox,
                uids,
                scan,
            } => StoreReply::Scanned(store.scan(&mailbox, &uids, &scan)),
            StoreRequest::SetFlags {
                mailbox,
                uids,
                mode,
                flags,
            } => StoreReply::Flags(store.set_flags(&mailbox, &uids, mode, &flags)),
            StoreRequest::Expunge { mailbox, uids } => {
                StoreReply::Done(store.expunge(&mailbox, &uids))
            }
            StoreRequest::Copy {
                mailbox,
                uids,
                to,
                is_move,
            } => StoreReply::Copied(store.copy(&mailbox, &uids, &to, is_move)),
        }
    }
}

fn flush(s: &mut ImapServer, conn: &mut Conn) -> io::Result<()> {
    while let Some(b) = s.poll_transmit() {
        conn.write_all(&b)?;
    }
    conn.flush()
}

/// Drives one IMAP session over a blocking socket.
pub fn imap_connection(ctx: Arc<Context>, stream: TcpStream, kind: ListenerKind) -> io::Result<()> {
    let peer = PeerInfo {
        remote: stream.peer_addr()?,
        local: stream.local_addr()?,
    };
    stream.set_nodelay(true)?;
    let mut conn = Conn::Plain(stream);
    if kind == ListenerKind::Imaps {
        let tls = ctx
            .tls
            .get()
            .ok_or_else(|| io::Error::other("implicit TLS listener without a certificate"))?;
        let (c, info) = conn.start_tls(tls, ctx.settings.tls_handshake_timeout)?;
        tracing::info!(
            "imap: TLS with [{}]: {} {}",
            peer.remote.ip(),
            info.version,
            info.cipher
        );
        conn = c;
    }
    let mut server = ImapServer::new(imap_config(&ctx, kind), Instant::now());
    let mut session = ImapSession::new(ctx.clone(), peer);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        flush(&mut server, &mut conn)?;
        match session.handle_all(&mut server) {
            ImapFlow::Close => {
                flush(&mut server, &mut conn)?;
                return Ok(());
            }
            ImapFlow::StartTls => {
                flush(&mut server, &mut conn)?;
                let tls = ctx
                    .tls
                    .get()
                    .ok_or_else(|| io::Error::other("STARTTLS without a certificate"))?;
                let (c, info) = conn.start_tls(tls, ctx.settings.tls_handshake_timeout)?;
                tracing::info!(
                    "imap: STARTTLS with [{}]: {} {}",
                    peer.remote.ip(),
                    info.version,
                    info.cipher
                );
                conn = c;
                conn.tcp().set_write_timeout(None)?;
                server.tls_established(info);
                continue;
            }
            ImapFlow::Continue => {}
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
