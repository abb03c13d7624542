//! `postrider-std serve`: a thread per connection (bounded by the listener limits), each
//! run by the one blocking driver, and the listener table and shutdown sequence both
//! runtimes share.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::context::{ConnLimits, Context};
use crate::driver::drive;
use crate::imap::ImapSession;
use crate::pop3::Pop3Session;
use crate::runner;
use crate::session::{ListenerKind, SmtpSession};

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
                let result = run_connection(&ctx, stream, kind);
                if let Err(e) = result {
                    tracing::debug!("connection from {remote} ended with error: {e}");
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start connection thread: {e}");
        }
    }
}

/// Runs one accepted connection to its end with the machine and agent of its listener's
/// protocol, through the one blocking driver.
pub fn run_connection(ctx: &Arc<Context>, stream: TcpStream, kind: ListenerKind) -> io::Result<()> {
    if kind.is_pop3() {
        drive(ctx, stream, kind, |peer| {
            Pop3Session::start(ctx, kind, peer)
        })
    } else if kind.is_imap() {
        drive(ctx, stream, kind, |peer| {
            ImapSession::start(ctx, kind, peer)
        })
    } else {
        drive(ctx, stream, kind, |peer| {
            SmtpSession::start(ctx, kind, peer)
        })
    }
}
