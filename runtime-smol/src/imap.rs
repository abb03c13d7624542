//! The async IMAP driver: the same core machine and session handler as `postrider-std`,
//! with the mail store on the blocking pool.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use futures_rustls::TlsAcceptor;
use postrider_core::imap::server::ImapServer;
use postrider_core::smtp::PeerInfo;
use postrider_std::context::Context;
use postrider_std::imap::{imap_config, ImapFlow, ImapSession};
use postrider_std::session::ListenerKind;
use smol::net::TcpStream;

use crate::conn::AsyncConn;

async fn flush(s: &mut ImapServer, conn: &mut AsyncConn) -> io::Result<()> {
    while let Some(b) = s.poll_transmit() {
        conn.write_all(&b).await?;
    }
    conn.flush().await
}

async fn handle(server: ImapServer, session: ImapSession) -> (ImapServer, ImapSession, ImapFlow) {
    blocking::unblock(move || {
        let (mut server, mut session) = (server, session);
        let flow = session.handle_all(&mut server);
        (server, session, flow)
    })
    .await
}

/// Drives one IMAP session until it closes.
pub async fn imap_connection(
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
    if kind == ListenerKind::Imaps {
        let acceptor = acceptor
            .clone()
            .ok_or_else(|| io::Error::other("implicit TLS listener without a certificate"))?;
        let (c, info) = conn
            .start_tls(acceptor, ctx.settings.tls_handshake_timeout)
            .await?;
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
        flush(&mut server, &mut conn).await?;
        if server.has_event() {
            let flow;
            (server, session, flow) = handle(server, session).await;
            match flow {
                ImapFlow::Close => {
                    flush(&mut server, &mut conn).await?;
                    let _ = conn.close().await;
                    return Ok(());
                }
                ImapFlow::StartTls => {
                    flush(&mut server, &mut conn).await?;
                    let acceptor = acceptor
                        .clone()
                        .ok_or_else(|| io::Error::other("STARTTLS without a certificate"))?;
                    let (c, info) = conn
                        .start_tls(acceptor, ctx.settings.tls_handshake_timeout)
                        .await?;
                    tracing::info!(
                        "imap: STARTTLS with [{}]: {} {}",
                        peer.remote.ip(),
                        info.version,
                        info.cipher
                    );
                    conn = c;
                    server.tls_established(info);
                }
                ImapFlow::Continue => {}
            }
            continue;
        }
        let now = Instant::now();
        let deadline = server
            .poll_timeout()
            .unwrap_or(now + Duration::from_secs(1));
        if !server.wants_input() {
            async_io::Timer::at(deadline).await;
            server.handle_timeout(Instant::now());
            continue;
        }
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
                let _ = handle(server, session).await;
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
