//! The async POP3 driver: the same core machine and session handler as `postrider-std`,
//! with disk work (logins, maildrop scans, reads, rewrites) on the blocking pool.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use futures_rustls::TlsAcceptor;
use postrider_core::pop3::Pop3Server;
use postrider_core::smtp::PeerInfo;
use postrider_std::context::Context;
use postrider_std::maildrop::MessageStream;
use postrider_std::pop3::{pop3_config, Pop3Flow, Pop3Session};
use postrider_std::session::ListenerKind;
use smol::net::TcpStream;

use crate::conn::AsyncConn;

async fn flush(s: &mut Pop3Server, conn: &mut AsyncConn) -> io::Result<()> {
    while let Some(b) = s.poll_transmit() {
        conn.write_all(&b).await?;
    }
    conn.flush().await
}

async fn handle(server: Pop3Server, session: Pop3Session) -> (Pop3Server, Pop3Session, Pop3Flow) {
    blocking::unblock(move || {
        let (mut server, mut session) = (server, session);
        let flow = session.handle_all(&mut server);
        (server, session, flow)
    })
    .await
}

/// Reads the next encoded chunk on the blocking pool.
async fn next_chunk(stream: MessageStream) -> (MessageStream, io::Result<Option<Vec<u8>>>) {
    blocking::unblock(move || {
        let mut stream = stream;
        let r = stream.next_chunk();
        (stream, r)
    })
    .await
}

/// Drives one POP3 session until it closes.
pub async fn pop3_connection(
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
    if kind == ListenerKind::Pop3s {
        let acceptor = acceptor
            .clone()
            .ok_or_else(|| io::Error::other("implicit TLS listener without a certificate"))?;
        let (c, info) = conn
            .start_tls(acceptor, ctx.settings.tls_handshake_timeout)
            .await?;
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
        flush(&mut server, &mut conn).await?;
        if server.has_event() {
            let flow;
            (server, session, flow) = handle(server, session).await;
            match flow {
                Pop3Flow::Close => {
                    flush(&mut server, &mut conn).await?;
                    let _ = conn.close().await;
                    return Ok(());
                }
                Pop3Flow::StartTls => {
                    flush(&mut server, &mut conn).await?;
                    let acceptor = acceptor
                        .clone()
                        .ok_or_else(|| io::Error::other("STLS without a certificate"))?;
                    let (c, info) = conn
                        .start_tls(acceptor, ctx.settings.tls_handshake_timeout)
                        .await?;
                    tracing::info!(
                        "pop3: STLS with [{}]: {} {}",
                        peer.remote.ip(),
                        info.version,
                        info.cipher
                    );
                    conn = c;
                    server.tls_established(info);
                }
                Pop3Flow::Retrieve {
                    token,
                    index,
                    top_lines,
                } => {
                    let s2 = session;
                    let (s2, opened) = blocking::unblock(move || {
                        let r = s2.stream(index, top_lines);
                        (s2, r)
                    })
                    .await;
                    session = s2;
                    match opened {
                        Ok(mut stream) => {
                            server.retrieve_start(token, index);
                            flush(&mut server, &mut conn).await?;
                            loop {
                                let chunk;
                                (stream, chunk) = next_chunk(stream).await;
                                match chunk? {
                                    Some(c) => conn.write_all(&c).await?,
                                    None => break,
                                }
                            }
                            server.retrieve_done(token, Ok(()));
                        }
                        Err(e) => server.retrieve_done(token, Err(e.to_string())),
                    }
                }
                Pop3Flow::Continue => {}
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
