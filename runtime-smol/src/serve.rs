//! `postrider serve`: listeners and sessions as smol tasks on a multi-threaded executor;
//! disk work (the shared session handler, the queue) through `blocking::unblock`; the
//! queue runner and the shutdown sequence shared with the std runtime.

use std::io;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use futures_rustls::TlsAcceptor;
use postrider_core::smtp::{PeerInfo, SmtpServer};
use postrider_std::context::Context;
use postrider_std::serve::{
    limits_for, listeners, start_runner, too_many_reply, wait_for_shutdown,
};
use postrider_std::session::{server_config, Flow, ListenerKind, SmtpSession};
use smol::net::{TcpListener, TcpStream};
use smol::Executor;

use crate::conn::AsyncConn;

/// Runs every listener and the queue runner until SIGTERM/SIGINT.
pub fn serve(ctx: Arc<Context>) -> Result<(), String> {
    postrider_std::serve::raise_fd_limit();
    let executor: Arc<Executor<'static>> = Arc::new(Executor::new());
    let threads = thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2);
    for i in 0..threads {
        let ex = executor.clone();
        thread::Builder::new()
            .name(format!("smol-{i}"))
            .spawn(move || smol::block_on(ex.run(future::pending::<()>())))
            .map_err(|e| format!("cannot start executor thread: {e}"))?;
    }
    let mut bound = Vec::new();
    for (addr, kind) in listeners(&ctx) {
        let l = smol::block_on(TcpListener::bind(addr))
            .map_err(|e| format!("cannot listen on {addr} ({}): {e}", kind.name()))?;
        tracing::info!("listening on {addr} ({})", kind.name());
        bound.push((l, kind));
    }
    start_runner(&ctx).map_err(|e| format!("cannot start queue runner: {e}"))?;
    for (listener, kind) in bound {
        let ctx = ctx.clone();
        let ex = executor.clone();
        executor
            .spawn(accept_loop(ctx, ex, listener, kind))
            .detach();
    }
    wait_for_shutdown(&ctx, Duration::from_secs(10));
    Ok(())
}

async fn accept_loop(
    ctx: Arc<Context>,
    ex: Arc<Executor<'static>>,
    listener: TcpListener,
    kind: ListenerKind,
) {
    let limits = limits_for(&ctx, kind);
    loop {
        let (mut stream, remote) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                async_io::Timer::after(Duration::from_millis(10)).await;
                continue;
            }
        };
        if ctx.shutting_down() {
            break;
        }
        let slot = match limits.acquire(remote.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                tracing::warn!("refusing [{}]: {why}", remote.ip());
                let _ = stream.write_all(&too_many_reply(&ctx, kind, why)).await;
                continue;
            }
        };
        let ctx = ctx.clone();
        ex.spawn(async move {
            let _slot = slot;
            let result = if kind.is_pop3() {
                crate::pop3::pop3_connection(ctx, stream, kind).await
            } else if kind.is_imap() {
                crate::imap::imap_connection(ctx, stream, kind).await
            } else {
                smtp_connection(ctx, stream, kind).await
            };
            if let Err(e) = result {
                tracing::debug!("connection from {remote} ended with error: {e}");
            }
        })
        .detach();
    }
}

/// Handles every queued event: those that stay off the disk ([`SmtpSession::is_light`])
/// right here on the executor, the rest from the first one that does not on the
/// blocking pool. Returns the strongest flow asked for, as `handle_all` does.
async fn handle_events(
    server: SmtpServer,
    session: SmtpSession,
) -> (SmtpServer, SmtpSession, Flow) {
    let (mut server, mut session) = (server, session);
    let mut flow = Flow::Continue;
    while server.peek_event().is_some_and(|ev| session.is_light(ev)) {
        if let Some(ev) = server.poll_event() {
            match session.handle(&mut server, ev) {
                Flow::Continue => {}
                other => flow = other,
            }
        }
    }
    if !server.has_event() {
        return (server, session, flow);
    }
    blocking::unblock(move || {
        let (later, _) = session.handle_all(&mut server);
        let flow = if later == Flow::Continue { flow } else { later };
        (server, session, flow)
    })
    .await
}

async fn flush(server: &mut SmtpServer, conn: &mut AsyncConn) -> io::Result<()> {
    while let Some(out) = server.poll_transmit() {
        conn.write_all(&out).await?;
    }
    conn.flush().await
}

/// Drives one SMTP session until it closes.
pub async fn smtp_connection(
    ctx: Arc<Context>,
    stream: TcpStream,
    kind: ListenerKind,
) -> io::Result<()> {
    let peer = PeerInfo {
        remote: stream.peer_addr()?,
        local: stream.local_addr()?,
    };
    stream.set_nodelay(true)?;
    let acceptor = ctx.tls.get().map(TlsAcceptor::from);
    let mut conn = AsyncConn::Plain(stream);
    if kind == ListenerKind::Submissions {
        let Some(acceptor) = acceptor.clone() else {
            return Err(io::Error::other(
                "implicit TLS listener without a certificate",
            ));
        };
        let (c, info) = conn
            .start_tls(acceptor, ctx.settings.tls_handshake_timeout)
            .await?;
        tracing::info!(
            "TLS established with [{}]: {} {}",
            peer.remote.ip(),
            info.version,
            info.cipher
        );
        conn = c;
    }
    let mut server = SmtpServer::new(server_config(&ctx, kind), peer, Instant::now());
    let mut session = SmtpSession::new(ctx.clone(), peer, kind);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        flush(&mut server, &mut conn).await?;
        if server.has_event() {
            let flow;
            (server, session, flow) = handle_events(server, session).await;
            match flow {
                Flow::Close => {
                    flush(&mut server, &mut conn).await?;
                    let _ = conn.close().await;
                    return Ok(());
                }
                Flow::StartTls => {
                    flush(&mut server, &mut conn).await?;
                    let Some(acceptor) = acceptor.clone() else {
                        return Err(io::Error::other("STARTTLS without a certificate"));
                    };
                    let (c, info) = conn
                        .start_tls(acceptor, ctx.settings.tls_handshake_timeout)
                        .await?;
                    tracing::info!(
                        "STARTTLS with [{}]: {} {}",
                        peer.remote.ip(),
                        info.version,
                        info.cipher
                    );
                    conn = c;
                    server.tls_established(info);
                }
                Flow::Continue => {}
            }
            continue;
        }
        if !server.wants_input() {
            // Replies held back (the delay after a failed AUTH): wait out the deadline.
            let Some(deadline) = server.poll_timeout() else {
                return Err(io::Error::other("session stalled"));
            };
            async_io::Timer::at(deadline).await;
            server.handle_timeout(Instant::now());
            continue;
        }
        let now = Instant::now();
        let deadline = server
            .poll_timeout()
            .unwrap_or(now + Duration::from_secs(1));
        let wait = deadline
            .saturating_duration_since(now)
            .clamp(Duration::from_millis(1), Duration::from_secs(1));
        let read = async { Some(conn.read(&mut buf).await) };
        let timer = async {
            async_io::Timer::after(wait).await;
            None
        };
        match future::or(read, timer).await {
            Some(Ok(0)) => server.handle_eof(Instant::now()),
            Some(Ok(n)) => server.handle_input(Instant::now(), &buf[..n]),
            Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Some(Err(e)) => {
                server.handle_eof(Instant::now());
                let _ = handle_events(server, session).await;
                return Err(e);
            }
            None => {
                if ctx.shutting_down() {
                    server.shutdown();
                } else {
                    server.handle_timeout(Instant::now());
                }
            }
        }
    }
}
