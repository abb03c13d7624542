//! `postrider-std serve`: a thread per listener and per connection (bounded by the
//! listener limits; connection threads are reused, see [`crate::workers`]), each
//! connection run by the one blocking driver.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use postrider_agents::context::Context;
use postrider_agents::imap::ImapSession;
use postrider_agents::listener::ListenerKind;
use postrider_agents::managesieve::ManageSieveSession;
use postrider_agents::pop3::Pop3Session;
use postrider_agents::reload::{Bound, Listeners, OpenListener};
use postrider_agents::service::{
    admit, limits_for, raise_fd_limit, start_runner, too_many_reply, wait_for_shutdown,
};
use postrider_agents::session::SmtpSession;
use postrider_agents::web::WebSession;

use crate::driver::drive;
use crate::workers::Workers;

/// Connection threads that may wait for the next connection at once.
const IDLE_THREADS: usize = 64;

/// How long a connection thread waits for the next connection before it ends.
const IDLE_FOR: Duration = Duration::from_secs(60);

/// Runs every listener and the queue runner until SIGTERM/SIGINT.
pub fn serve(ctx: Arc<Context>, bound: Vec<Bound>) -> Result<(), String> {
    raise_fd_limit();
    let opener = Opener {
        ctx: ctx.clone(),
        workers: Workers::new(IDLE_THREADS, IDLE_FOR),
    };
    let mut open = Listeners::open_all(bound, Box::new(opener))?;
    start_runner(&ctx).map_err(|e| format!("cannot start queue runner: {e}"))?;
    wait_for_shutdown(&ctx, &mut open, Duration::from_secs(10));
    Ok(())
}

/// Opens a listener as a thread of its own running [`accept_loop`].
struct Opener {
    ctx: Arc<Context>,
    workers: Workers,
}

impl OpenListener for Opener {
    fn open(
        &self,
        listener: std::net::TcpListener,
        kind: ListenerKind,
        stop: Arc<AtomicBool>,
    ) -> Result<(), String> {
        let ctx = self.ctx.clone();
        let workers = self.workers.clone();
        thread::Builder::new()
            .name(format!("accept-{}", kind.name()))
            .spawn(move || accept_loop(ctx, workers, listener, kind, stop))
            .map(drop)
            .map_err(|e| format!("cannot start listener thread: {e}"))
    }
}

/// Accepts connections on `listener` until shutdown or `stop` (a reload that removed
/// it); each runs on a worker thread.
fn accept_loop(
    ctx: Arc<Context>,
    workers: Workers,
    listener: TcpListener,
    kind: ListenerKind,
    stop: Arc<AtomicBool>,
) {
    let limits = limits_for(&ctx, kind);
    loop {
        let accepted = listener.accept();
        if ctx.shutting_down() || stop.load(Ordering::SeqCst) {
            break;
        }
        let (mut stream, remote) = match accepted {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let slot = match admit(&ctx, kind, &limits, remote.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                tracing::warn!("refusing [{}]: {why}", remote.ip());
                let _ = stream.write_all(&too_many_reply(&ctx, kind, why));
                continue;
            }
        };
        let ctx = ctx.clone();
        let spawned = workers.run(Box::new(move || {
            let _slot = slot;
            let result = run_connection(&ctx, stream, remote, kind);
            if let Err(e) = result {
                tracing::debug!("connection from {remote} ended with error: {e}");
            }
        }));
        if let Err(e) = spawned {
            tracing::error!("cannot start connection thread: {e}");
        }
    }
    // The address is free once the socket is closed; then the reload may reuse it.
    drop(listener);
    drop(stop);
}

/// Runs one accepted connection to its end with the machine and agent of its listener's
/// protocol, through the one blocking driver.
pub fn run_connection(
    ctx: &Arc<Context>,
    stream: TcpStream,
    remote: SocketAddr,
    kind: ListenerKind,
) -> io::Result<()> {
    if kind.is_pop3() {
        drive(ctx, stream, remote, kind, |peer| {
            Pop3Session::start(ctx, kind, peer)
        })
    } else if kind.is_imap() {
        drive(ctx, stream, remote, kind, |peer| {
            ImapSession::start(ctx, kind, peer)
        })
    } else if kind.is_http() {
        drive(ctx, stream, remote, kind, |peer| {
            WebSession::start(ctx, kind, peer)
        })
    } else if kind == ListenerKind::ManageSieve {
        drive(ctx, stream, remote, kind, |peer| {
            ManageSieveSession::start(ctx, kind, peer)
        })
    } else {
        drive(ctx, stream, remote, kind, |peer| {
            SmtpSession::start(ctx, kind, peer)
        })
    }
}
