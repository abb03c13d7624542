//! `postrider-std serve`: a thread per connection (bounded by the listener limits), the
//! generic blocking drive loop, and the shutdown sequence both runtimes share.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use postrider_core::smtp::{PeerInfo, SmtpServer};

use crate::conn::Conn;
use crate::context::{ConnLimits, Context};
use crate::runner;
use crate::session::{server_config, write_transmits, Flow, ListenerKind, SmtpSession};

/// Every listener to open: (address, kind).
pub fn listeners(ctx: &Context) -> Vec<(SocketAddr, ListenerKind)> {
    let c = &ctx.settings.config;
    let parse = |a: &String| a.parse::<SocketAddr>().ok();
    let mut out = Vec::new();
    out.extend(
        c.smtp
            .listen
            .iter()
            .filter_map(parse)
            .map(|a| (a, ListenerKind::Smtp)),
    );
    out.extend(
        c.submission
            .listen
            .iter()
            .filter_map(parse)
            .map(|a| (a, ListenerKind::Submission)),
    );
    out.extend(
        c.submission
            .listen_tls
            .iter()
            .filter_map(parse)
            .map(|a| (a, ListenerKind::Submissions)),
    );
    out.extend(
        c.pop3
            .listen
            .iter()
            .filter_map(parse)
            .map(|a| (a, ListenerKind::Pop3)),
    );
    out.extend(
        c.pop3
            .listen_tls
            .iter()
            .filter_map(parse)
            .map(|a| (a, ListenerKind::Pop3s)),
    );
    out.extend(
        c.imap
            .listen
            .iter()
            .filter_map(parse)
            .map(|a| (a, ListenerKind::Imap)),
    );
    out.extend(
        c.imap
            .listen_tls
            .iter()
            .filter_map(parse)
            .map(|a| (a, ListenerKind::Imaps)),
    );
    out
}

/// The connection limits that apply to a listener kind.
pub fn limits_for(ctx: &Context, kind: ListenerKind) -> Arc<ConnLimits> {
    match kind {
        ListenerKind::Smtp => ctx.smtp_limits.clone(),
        ListenerKind::Submission | ListenerKind::Submissions => ctx.submission_limits.clone(),
        ListenerKind::Pop3 | ListenerKind::Pop3s => ctx.pop3_limits.clone(),
        ListenerKind::Imap | ListenerKind::Imaps => ctx.imap_limits.clone(),
    }
}

/// The reply sent to a connection refused by the limits, in the listener's protocol.
pub fn too_many_reply(ctx: &Context, kind: ListenerKind, why: &str) -> Vec<u8> {
    if kind.is_pop3() {
        return format!("-ERR [SYS/TEMP] {why}\r\n").into_bytes();
    }
    if kind.is_imap() {
        return format!("* BYE [UNAVAILABLE] {why}\r\n").into_bytes();
    }
    format!(
        "421 4.7.0 {} Error: {}\r\n",
        ctx.settings.config.hostname, why
    )
    .into_bytes()
}

/// Installs signal handling and returns on SIGTERM/SIGINT: sets the shutdown flag, waits
/// up to `grace` for connections to end, then waits for the delivery in progress (if any)
/// to finish. The caller then exits 0. SIGHUP reloads the TLS certificate and key
/// without dropping connections.
pub fn wait_for_shutdown(ctx: &Context, grace: Duration) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    match signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP]) {
        Ok(mut signals) => {
            for signal in signals.forever() {
                if signal != SIGHUP {
                    break;
                }
                match ctx.tls.reload(&ctx.settings) {
                    Ok(()) => tracing::info!("SIGHUP: TLS certificate and key reloaded"),
                    Err(e) => tracing::error!(
                        "SIGHUP: TLS reload failed, keeping the old certificate: {e}"
                    ),
                }
            }
        }
        Err(e) => {
            tracing::error!("cannot install signal handlers: {e}");
            loop {
                thread::park();
            }
        }
    }
    tracing::info!("shutdown requested: draining");
    ctx.shutdown.store(true, Ordering::SeqCst);
    ctx.wakeup.notify();
    let start = Instant::now();
    while (ctx.smtp_limits.active() > 0
        || ctx.submission_limits.active() > 0
        || ctx.pop3_limits.active() > 0
        || ctx.imap_limits.active() > 0)
        && start.elapsed() < grace
    {
        thread::sleep(Duration::from_millis(50));
    }
    // Wait for a delivery in progress, then hold the lock until the process exits so no
    // new one starts.
    let guard = ctx.delivery_lock.lock();
    std::mem::forget(guard);
    tracing::info!("stopped");
}

/// Starts the queue runner thread.
pub fn start_runner(ctx: &Arc<Context>) -> io::Result<()> {
    let ctx = ctx.clone();
    thread::Builder::new()
        .name("queue-runner".into())
        .spawn(move || runner::run(ctx))
        .map(drop)
}

/// Raises the soft limit on open files to the hard limit, as a server holding thousands
/// of connections needs (each is a descriptor); logs the limit in force.
pub fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!("cannot raise the open-files limit: {e}");
        }
    }
    let now = getrlimit(Resource::Nofile);
    tracing::info!(
        "open-files limit {}",
        now.current
            .map_or("unlimited".to_string(), |n| n.to_string())
    );
}

/// Runs every listener and the queue runner until SIGTERM/SIGINT.
pub fn serve(ctx: Arc<Context>) -> Result<(), String> {
    raise_fd_limit();
    let mut bound = Vec::new();
    for (addr, kind) in listeners(&ctx) {
        let l = TcpListener::bind(addr)
            .map_err(|e| format!("cannot listen on {addr} ({}): {e}", kind.name()))?;
        tracing::info!("listening on {addr} ({})", kind.name());
        bound.push((l, kind));
    }
    start_runner(&ctx).map_err(|e| format!("cannot start queue runner: {e}"))?;
    for (listener, kind) in bound {
        let ctx = ctx.clone();
        thread::Builder::new()
            .name(format!("accept-{}", kind.name()))
            .spawn(move || accept_loop(ctx, listener, kind))
            .map_err(|e| format!("cannot start listener thread: {e}"))?;
    }
    wait_for_shutdown(&ctx, Duration::from_secs(10));
    Ok(())
}

fn accept_loop(ctx: Arc<Context>, listener: TcpListener, kind: ListenerKind) {
    let limits = limits_for(&ctx, kind);
    for stream in listener.incoming() {
        if ctx.shutting_down() {
            break;
        }
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let Ok(remote) = stream.peer_addr() else {
            continue;
        };
        let slot = match limits.acquire(remote.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                tracing::warn!("refusing [{}]: {why}", remote.ip());
                let _ = stream.write_all(&too_many_reply(&ctx, kind, why));
                continue;
            }
        };
        let ctx = ctx.clone();
        let spawned = thread::Builder::new()
            .name(format!("{}-conn", kind.name()))
            .spawn(move || {
                let _slot = slot;
                let result = if kind.is_pop3() {
                    crate::pop3::pop3_connection(ctx, stream, kind)
                } else if kind.is_imap() {
                    crate::imap::imap_connection(ctx, stream, kind)
                } else {
                    smtp_connection(ctx, stream, kind)
                };
                if let Err(e) = result {
                    tracing::debug!("connection from {remote} ended with error: {e}");
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start connection thread: {e}");
        }
    }
}

/// Drives one SMTP session over a blocking socket until it closes.
pub fn smtp_connection(ctx: Arc<Context>, stream: TcpStream, kind: ListenerKind) -> io::Result<()> {
    let peer = PeerInfo {
        remote: stream.peer_addr()?,
        local: stream.local_addr()?,
    };
    stream.set_nodelay(true)?;
    let mut conn = Conn::Plain(stream);
    if kind == ListenerKind::Submissions {
        let Some(tls) = ctx.tls.get() else {
            return Err(io::Error::other(
                "implicit TLS listener without a certificate",
            ));
        };
        let (c, info) = conn.start_tls(tls, ctx.settings.tls_handshake_timeout)?;
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
        write_transmits(&mut server, &mut conn)?;
        let (flow, handled) = session.handle_all(&mut server);
        match flow {
            Flow::Close => {
                write_transmits(&mut server, &mut conn)?;
                return Ok(());
            }
            Flow::StartTls => {
                write_transmits(&mut server, &mut conn)?;
                let Some(tls) = ctx.tls.get() else {
                    return Err(io::Error::other("STARTTLS without a certificate"));
                };
                let (c, info) = conn.start_tls(tls, ctx.settings.tls_handshake_timeout)?;
                tracing::info!(
                    "STARTTLS with [{}]: {} {}",
                    peer.remote.ip(),
                    info.version,
                    info.cipher
                );
                conn = c;
                conn.tcp().set_write_timeout(None)?;
                server.tls_established(info);
                continue;
            }
            Flow::Continue if handled => continue,
            Flow::Continue => {}
        }
        if !server.wants_input() {
            // Replies held back (the delay after a failed AUTH): wait out the deadline.
            let Some(deadline) = server.poll_timeout() else {
                // A question is pending but no event asked it: cannot happen with this
                // session handler; end the connection rather than spin.
                return Err(io::Error::other("session stalled"));
            };
            thread::sleep(deadline.saturating_duration_since(Instant::now()));
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
                // Still let the session clean up (discard a partial spool file).
                session.handle_all(&mut server);
                return Err(e);
            }
        }
    }
}
