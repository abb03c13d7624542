//! What both runtimes' `serve` share around their listeners: the listener table, the
//! connection limits and the refusal reply, the queue runner, the open-files limit and
//! the shutdown sequence (SIGTERM/SIGINT drain, SIGHUP reload).

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::context::{ConnLimits, ConnSlot, Context};
use crate::listener::ListenerKind;
use crate::reload::Listeners;
use crate::runner;

/// The connection limits that apply to a listener kind.
pub fn limits_for(ctx: &Context, kind: ListenerKind) -> Arc<ConnLimits> {
    match kind {
        // LMTP clients are trusted MTAs: they count toward the SMTP total only.
        ListenerKind::Smtp | ListenerKind::Lmtp => ctx.smtp_limits.clone(),
        ListenerKind::Submission | ListenerKind::Submissions => ctx.submission_limits.clone(),
        ListenerKind::Pop3 | ListenerKind::Pop3s => ctx.pop3_limits.clone(),
        // ManageSieve sessions are short and few: they count with IMAP's.
        ListenerKind::Imap | ListenerKind::Imaps | ListenerKind::ManageSieve => {
            ctx.imap_limits.clone()
        }
        ListenerKind::Http | ListenerKind::Https => ctx.web_limits.clone(),
    }
}

/// Takes a connection slot for a client of `ip` on a listener of `kind`, or says why the
/// connection is refused: a limit is reached, or LMTP is asked by a client it is not for
/// (see [`lmtp_client_allowed`]).
pub fn admit(
    ctx: &Context,
    kind: ListenerKind,
    limits: &Arc<ConnLimits>,
    ip: std::net::IpAddr,
) -> Result<ConnSlot, &'static str> {
    if kind == ListenerKind::Lmtp && !lmtp_client_allowed(ctx, ip) {
        return Err("LMTP is only for trusted networks");
    }
    limits.acquire(ip)
}

/// Whether `ip` may speak LMTP: it is in `[smtp] trusted_networks`; when that list is
/// empty (the default), only loopback clients, which are this host's own processes
/// (they could hand mail to `sendmail` just as well).
pub fn lmtp_client_allowed(ctx: &Context, ip: std::net::IpAddr) -> bool {
    let settings = ctx.settings();
    if settings.trusted_networks.is_empty() {
        ip.is_loopback() || ip.to_canonical().is_loopback()
    } else {
        settings.is_trusted(ip)
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
    if kind == ListenerKind::ManageSieve {
        return format!("BYE (TRYLATER) \"{why}\"\r\n").into_bytes();
    }
    format!(
        "421 4.7.0 {} Error: {}\r\n",
        ctx.settings().config.hostname,
        why
    )
    .into_bytes()
}

/// Installs signal handling and returns on SIGTERM/SIGINT: sets the shutdown flag, waits
/// up to `grace` for connections to end, then waits for the delivery in progress (if any)
/// to finish. The caller then exits 0. SIGHUP reloads the configuration without dropping
/// connections (see [`crate::reload`]), opening and closing `listeners` as it says.
pub fn wait_for_shutdown(ctx: &Context, listeners: &mut Listeners, grace: Duration) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    match signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP]) {
        Ok(mut signals) => {
            for signal in signals.forever() {
                if signal != SIGHUP {
                    break;
                }
                crate::reload::reload(ctx, listeners);
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

/// Starts the queue runner thread and its TLS-RPT helper (and makes this process the
/// server, which keeps a file per mail directory to link its dotlocks from).
pub fn start_runner(ctx: &Arc<Context>) -> io::Result<()> {
    postrider_store::fsutil::keep_lock_sources();
    let reports = ctx.clone();
    thread::Builder::new()
        .name("tls-rpt".into())
        .spawn(move || crate::tls_rpt::run(reports))?;
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
