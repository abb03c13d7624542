//! The async runtime's one driver: runs any protocol machine with its agent over a TCP
//! connection (plain, implicit TLS or upgraded by STARTTLS) as one task.
//!
//! Events the agent calls light or brief are handled on the executor; the others (fsyncs,
//! password hashing, database round trips) on the blocking pool, machine and agent moved
//! there and back. Between two
//! rounds of events, one future writes the output backlog, reads input while the machine
//! wants it, and watches the machine's deadline, whichever is ready first: reading goes
//! on while output waits, so a client that pipelines without reading cannot deadlock the
//! session. Events are handed over only while the backlog has room.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::{future, AsyncWriteExt};
use futures_rustls::TlsAcceptor;
use postrider_agents::agent::{
    give_input, handle_events, has_more_input, log_tls, more_input, peer_info, Agent, Backlog,
    Cost, Flow,
};
use postrider_agents::compress::Inflater;
use postrider_agents::context::Context;
use postrider_agents::listener::ListenerKind;
use postrider_core::machine::{Machine, PeerInfo, TlsInfo};
use smol::net::TcpStream;

use crate::conn::AsyncConn;

/// How long the last answers of a closing session may take to be written.
const FINAL_WRITE_LIMIT: Duration = Duration::from_secs(300);

/// One session's connection and output, as the I/O step sees them.
struct Link {
    conn: AsyncConn,
    out: Backlog,
    /// Bytes were handed to the connection since its last flush (TLS records may wait).
    unflushed: bool,
    buf: Vec<u8>,
    /// The session's one timer (see [`Link::arm_timer`]) and when it is set to fire.
    timer: async_io::Timer,
    timer_at: Option<Instant>,
    /// The client's DEFLATE stream, once the session compresses (IMAP COMPRESS).
    inflate: Option<Inflater>,
}

/// What one I/O step saw first.
enum Ready {
    Wrote(usize),
    Flushed,
    Read(usize),
    Timer,
}

/// Runs one session over `stream` (from `remote`) until it closes: `start` makes the machine and its
/// agent once the peer is known.
pub async fn drive<A: Agent>(
    ctx: Arc<Context>,
    stream: TcpStream,
    remote: SocketAddr,
    kind: ListenerKind,
    start: impl FnOnce(PeerInfo) -> (A::Machine, A),
) -> io::Result<()> {
    let peer = peer_info(Ok(remote), stream.local_addr())?;
    stream.set_nodelay(true)?;
    let mut conn = AsyncConn::Plain(stream);
    if kind.implicit_tls() {
        conn = handshake(&ctx, conn, kind, peer, "TLS").await?.0;
    }
    let (mut m, mut agent) = start(peer);
    let mut link = Link {
        conn,
        out: Backlog::default(),
        unflushed: false,
        buf: vec![0u8; 64 * 1024],
        timer: async_io::Timer::never(),
        timer_at: None,
        inflate: None,
    };
    loop {
        let flow;
        (m, agent, link.out, flow) = handle(m, agent, link.out).await;
        match flow {
            Flow::Continue => {}
            Flow::StartTls => {
                link.write_all().await?;
                let (c, info) = handshake(&ctx, link.conn, kind, peer, "STARTTLS").await?;
                link.conn = c;
                m.tls_established(Instant::now(), info);
                continue;
            }
            Flow::StartCompression => {
                link.write_all().await?;
                link.out.start_deflate();
                link.inflate = Some(Inflater::default());
                m.compression_started(Instant::now());
                continue;
            }
            Flow::Close => {
                link.write_all().await?;
                let _ = link.conn.close().await;
                return Ok(());
            }
        }
        if let Err(e) = link.step(&ctx, &mut m).await {
            // Let the agent clean up (a partial spool file, a maildrop lock).
            m.handle_eof(Instant::now());
            blocking::unblock(move || {
                while let Some(ev) = m.poll_event() {
                    agent.handle(&mut m, ev);
                }
            })
            .await;
            return Err(e);
        }
    }
}

/// Whether the driver must go on to the next round of I/O before handling more events.
fn must_pause<M: Machine>(m: &M, out: &Backlog, flow: Flow) -> bool {
    flow != Flow::Continue || !m.has_event() || !out.has_room()
}

/// Hands queued events to the agent while the backlog has room: the light and brief ones
/// here, and from the first one that may block, the rest on the blocking pool.
async fn handle<A: Agent>(
    mut m: A::Machine,
    mut agent: A,
    mut out: Backlog,
) -> (A::Machine, A, Backlog, Flow) {
    let flow = handle_events(&mut agent, &mut m, &mut out, |a, ev| {
        a.cost(ev) == Cost::Blocking
    });
    if must_pause(&m, &out, flow) {
        return (m, agent, out, flow);
    }
    blocking::unblock(move || {
        let flow = handle_events(&mut agent, &mut m, &mut out, |_, _| false);
        (m, agent, out, flow)
    })
    .await
}

/// Runs the TLS handshake (implicit TLS or after STARTTLS) and logs its outcome.
async fn handshake(
    ctx: &Context,
    conn: AsyncConn,
    kind: ListenerKind,
    peer: PeerInfo,
    what: &str,
) -> io::Result<(AsyncConn, TlsInfo)> {
    let acceptor = ctx
        .tls
        .get()
        .map(TlsAcceptor::from)
        .ok_or_else(|| io::Error::other(format!("{what} without a certificate")))?;
    let (conn, info) = conn
        .start_tls(acceptor, ctx.settings().config.tls.handshake_timeout.get())
        .await?;
    log_tls(kind, peer, what, &info);
    Ok((conn, info))
}

impl Link {
    /// One round of I/O: whichever comes first of writing some output, reading some
    /// input (while the machine wants it) and the machine's deadline.
    async fn step<M: Machine>(&mut self, ctx: &Context, m: &mut M) -> io::Result<()> {
        if m.wants_input() && has_more_input(&self.inflate) {
            return more_input(m, &mut self.inflate, Instant::now());
        }
        let want_read = m.wants_input();
        let want_write = !self.out.is_empty() || self.unflushed;
        let now = Instant::now();
        let deadline = m.poll_timeout();
        if !want_read && !want_write {
            if m.has_event() {
                return Ok(());
            }
            // Answers held back (a login delay): nothing to do before the deadline.
            let Some(deadline) = deadline else {
                return Err(io::Error::other("session stalled"));
            };
            async_io::Timer::at(deadline.min(now + Duration::from_secs(1))).await;
            self.on_timer(ctx, m);
            return Ok(());
        }
        let wait = deadline
            .map_or(Duration::from_secs(1), |d| d.saturating_duration_since(now))
            .clamp(Duration::from_millis(1), Duration::from_secs(1));
        self.arm_timer(now, now + wait);
        let Link {
            conn,
            out,
            unflushed,
            buf,
            timer,
            ..
        } = self;
        let ready = future::poll_fn(|cx| {
            if !out.is_empty() {
                if let Poll::Ready(r) = Pin::new(&mut *conn).poll_write(cx, out.pending()) {
                    return Poll::Ready(r.map(Ready::Wrote));
                }
            } else if *unflushed {
                if let Poll::Ready(r) = Pin::new(&mut *conn).poll_flush(cx) {
                    return Poll::Ready(r.map(|()| Ready::Flushed));
                }
            }
            if want_read {
                if let Poll::Ready(r) = Pin::new(&mut *conn).poll_read(cx, &mut buf[..]) {
                    return Poll::Ready(r.map(Ready::Read));
                }
            }
            Pin::new(&mut *timer).poll(cx).map(|_| Ok(Ready::Timer))
        })
        .await;
        let now = Instant::now();
        match ready {
            Ok(Ready::Wrote(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(Ready::Wrote(n)) => {
                self.out.consume(n);
                self.unflushed = true;
            }
            Ok(Ready::Flushed) => self.unflushed = false,
            Ok(Ready::Read(0)) => m.handle_eof(now),
            Ok(Ready::Read(n)) => give_input(m, &mut self.inflate, now, &self.buf[..n])?,
            Ok(Ready::Timer) => {
                self.timer_at = None;
                self.on_timer(ctx, m);
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if m.poll_timeout().is_some_and(|d| d <= now) {
            m.handle_timeout(now);
        }
        Ok(())
    }

    /// Makes the session's timer fire by `at`. A timer still set for later than `now` and
    /// no later than `at` is kept (firing early only checks the deadline once more):
    /// setting a timer wakes the reactor thread, which would cost a syscall and a context
    /// switch on every round of I/O.
    fn arm_timer(&mut self, now: Instant, at: Instant) {
        if self.timer_at.is_none_or(|t| t <= now || t > at) {
            self.timer.set_at(at);
            self.timer_at = Some(at);
        }
    }

    /// Nothing happened before the timer: the server may be stopping, or a deadline due.
    fn on_timer<M: Machine>(&self, ctx: &Context, m: &mut M) {
        if ctx.shutting_down() {
            m.shutdown();
        } else {
            m.handle_timeout(Instant::now());
        }
    }

    /// Writes and flushes the whole backlog (before a TLS handshake or a close), without
    /// reading.
    async fn write_all(&mut self) -> io::Result<()> {
        let conn = &mut self.conn;
        let out = &mut self.out;
        let write = async move {
            conn.write_all(out.pending()).await?;
            out.consume(out.len());
            conn.flush().await
        };
        let limit = async {
            async_io::Timer::after(FINAL_WRITE_LIMIT).await;
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client does not read",
            ))
        };
        future::or(write, limit).await?;
        self.unflushed = false;
        Ok(())
    }
}
