//! The blocking runtime's one driver: runs any protocol machine with its [`Agent`] over a
//! TCP connection (plain, implicit TLS or upgraded by STARTTLS), on the calling thread.
//!
//! Each round hands queued events to the agent while the output backlog has room, then
//! writes what the socket takes and reads what has arrived (the socket is non-blocking),
//! and waits on both only when neither was possible. Reading goes on while output waits,
//! so a client that pipelines without reading cannot deadlock the session; the machine
//! stops asking for input once its own pipelining cap is reached.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use postrider_core::machine::{Machine, PeerInfo};

use crate::conn::Conn;
use postrider_agents::agent::{
    give_input, handle_events, has_more_input, log_tls, more_input, peer_info, Agent, Backlog, Flow,
};
use postrider_agents::compress::Inflater;
use postrider_agents::context::Context;
use postrider_agents::listener::ListenerKind;

/// How long the last answers of a closing session may take to be written.
const FINAL_WRITE_LIMIT: Duration = Duration::from_secs(300);

/// Runs one session over `stream` (from `remote`) until it closes: `start` makes the machine and its
/// agent once the peer is known.
pub fn drive<A: Agent>(
    ctx: &Context,
    stream: TcpStream,
    remote: SocketAddr,
    kind: ListenerKind,
    start: impl FnOnce(PeerInfo) -> (A::Machine, A),
) -> io::Result<()> {
    let peer = peer_info(Ok(remote), stream.local_addr())?;
    stream.set_nodelay(true)?;
    let mut conn = Conn::Plain(stream);
    if kind.implicit_tls() {
        conn = handshake(ctx, conn, kind, peer, "TLS")?.0;
    } else {
        conn.tcp().set_nonblocking(true)?;
    }
    let (mut m, mut agent) = start(peer);
    let mut out = Backlog::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut link = Link {
        conn,
        readable: true,
        inflate: None,
    };
    loop {
        match handle_events(&mut agent, &mut m, &mut out, |_, _| false) {
            Flow::Continue => {}
            Flow::StartTls => {
                write_all(&mut link.conn, &mut out)?;
                let (c, info) = handshake(ctx, link.conn, kind, peer, "STARTTLS")?;
                link = Link {
                    conn: c,
                    readable: true,
                    inflate: None,
                };
                m.tls_established(Instant::now(), info);
                continue;
            }
            Flow::StartCompression => {
                write_all(&mut link.conn, &mut out)?;
                out.start_deflate();
                link.inflate = Some(Inflater::default());
                m.compression_started(Instant::now());
                continue;
            }
            Flow::Close => return write_all(&mut link.conn, &mut out),
        }
        if let Err(e) = step(ctx, &mut link, &mut m, &mut out, &mut buf) {
            // Let the agent clean up (a partial spool file, a maildrop lock).
            m.handle_eof(Instant::now());
            while let Some(ev) = m.poll_event() {
                agent.handle(&mut m, ev);
            }
            return Err(e);
        }
    }
}

/// Runs the TLS handshake (implicit TLS or after STARTTLS) and logs its outcome.
fn handshake(
    ctx: &Context,
    conn: Conn,
    kind: ListenerKind,
    peer: PeerInfo,
    what: &str,
) -> io::Result<(Conn, postrider_core::machine::TlsInfo)> {
    let tls = ctx
        .tls
        .get()
        .ok_or_else(|| io::Error::other(format!("{what} without a certificate")))?;
    let (conn, info) = conn.start_tls(tls, ctx.settings().config.tls.handshake_timeout.get())?;
    log_tls(kind, peer, what, &info);
    Ok((conn, info))
}

/// The connection and what the driver knows of its input.
struct Link {
    conn: Conn,
    /// Input may be waiting: the last wait said so, or the last read filled the buffer.
    /// Reads are tried only then (or when TLS holds decrypted input), so an idle
    /// connection costs one `poll` per round, not a failed read as well.
    readable: bool,
    /// The client's DEFLATE stream, once the session compresses (IMAP COMPRESS).
    inflate: Option<Inflater>,
}

/// One round of I/O: writes what the socket takes, reads what is there, and waits for
/// either (or the machine's next deadline) only when neither was possible.
fn step<M: Machine>(
    ctx: &Context,
    link: &mut Link,
    m: &mut M,
    out: &mut Backlog,
    buf: &mut [u8],
) -> io::Result<()> {
    let conn = &mut link.conn;
    let mut progress = write_ready(conn, out)?;
    if m.wants_input() && has_more_input(&link.inflate) {
        more_input(m, &mut link.inflate, Instant::now())?;
        progress = true;
    } else if m.wants_input() && (link.readable || conn.has_buffered_input()) {
        match conn.read_some(buf) {
            Ok(0) => {
                m.handle_eof(Instant::now());
                return Ok(());
            }
            Ok(n) => {
                give_input(m, &mut link.inflate, Instant::now(), &buf[..n])?;
                link.readable = n == buf.len();
                progress = true;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => link.readable = false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let now = Instant::now();
    if m.poll_timeout().is_some_and(|d| d <= now) {
        m.handle_timeout(now);
        return Ok(());
    }
    if progress || (m.has_event() && out.has_room()) {
        return Ok(());
    }
    let want_write = !out.is_empty() || conn.wants_write();
    let want_read = m.wants_input();
    let deadline = m.poll_timeout();
    if !want_read && !want_write && deadline.is_none() && !m.has_event() {
        // A question is pending that no event asked: cannot happen with the agents here;
        // end the connection rather than spin.
        return Err(io::Error::other("session stalled"));
    }
    let wait = deadline
        .map_or(Duration::from_secs(1), |d| d.saturating_duration_since(now))
        .clamp(Duration::from_millis(1), Duration::from_secs(1));
    let ready = if want_read || want_write {
        conn.wait(want_read, want_write, wait)?
    } else {
        // Answers held back (a login delay): nothing to do before the deadline.
        std::thread::sleep(wait);
        (false, false)
    };
    link.readable |= ready.0;
    if ready == (false, false) {
        if ctx.shutting_down() {
            m.shutdown();
        } else {
            m.handle_timeout(Instant::now());
        }
    }
    Ok(())
}

/// Writes as much of the backlog as the socket takes now; whether anything was written.
fn write_ready(conn: &mut Conn, out: &mut Backlog) -> io::Result<bool> {
    let mut wrote = false;
    while !out.is_empty() {
        match conn.write_some(out.pending()) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                out.consume(n);
                wrote = true;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(wrote),
            Err(e) => return Err(e),
        }
    }
    match conn.flush_some() {
        Err(e) if !is_transient(&e) => Err(e),
        _ => Ok(wrote),
    }
}

/// Writes the whole backlog (before a TLS handshake or a close), without reading.
fn write_all(conn: &mut Conn, out: &mut Backlog) -> io::Result<()> {
    let limit = Instant::now() + FINAL_WRITE_LIMIT;
    loop {
        write_ready(conn, out)?;
        if out.is_empty() && !conn.wants_write() {
            return Ok(());
        }
        let left = limit.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client does not read",
            ));
        }
        conn.wait(false, true, left.min(Duration::from_secs(1)))?;
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}
