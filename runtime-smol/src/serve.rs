//! `postrider serve`: listeners and sessions as smol tasks on a multi-threaded executor,
//! every session run by the one async driver; the queue runner and the shutdown sequence
//! shared with the std runtime.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use futures_lite::{future, AsyncWriteExt};
use postrider_agents::context::Context;
use postrider_agents::imap::ImapSession;
use postrider_agents::listener::ListenerKind;
use postrider_agents::managesieve::ManageSieveSession;
use postrider_agents::pop3::Pop3Session;
use postrider_agents::reload::{Bound, Listeners, OpenListener};
use postrider_agents::service::{
    admit, limits_for, start_runner, too_many_reply, wait_for_shutdown,
};
use postrider_agents::session::SmtpSession;
use postrider_agents::web::WebSession;
use smol::net::{TcpListener, TcpStream};
use smol::Executor;
use std::net::SocketAddr;

use crate::driver::drive;

/// Runs every listener and the queue runner until SIGTERM/SIGINT.
pub fn serve(ctx: Arc<Context>, bound: Vec<Bound>) -> Result<(), String> {
    postrider_agents::service::raise_fd_limit();
    let executor: Arc<Executor<'static>> = Arc::new(Executor::new());
    // Half the cores run the executor (I/O, TLS, light and brief events), the blocking
    // pool the rest. async-io has one reactor thread at a time: with more executor threads
    // than busy sessions, every readiness event wakes another thread to run its task (a
    // futex and a context switch per command, 12 % of a 1-client IMAP session's time on
    // 2 cores); with one thread per two cores the thread that polls runs the task.
    let threads = thread::available_parallelism()
        .map(|n| n.get() / 2)
        .unwrap_or(1)
        .max(1);
    for i in 0..threads {
        let ex = executor.clone();
        thread::Builder::new()
            .name(format!("smol-{i}"))
            .spawn(move || smol::block_on(ex.run(future::pending::<()>())))
            .map_err(|e| format!("cannot start executor thread: {e}"))?;
    }
    let opener = Opener {
        ctx: ctx.clone(),
        executor,
    };
    let mut open = Listeners::open_all(bound, Box::new(opener))?;
    start_runner(&ctx).map_err(|e| format!("cannot start queue runner: {e}"))?;
    wait_for_shutdown(&ctx, &mut open, Duration::from_secs(10));
    Ok(())
}

/// Opens a listener as a task of its own running [`accept_loop`].
struct Opener {
    ctx: Arc<Context>,
    executor: Arc<Executor<'static>>,
}

impl OpenListener for Opener {
    fn open(
        &self,
        listener: std::net::TcpListener,
        kind: ListenerKind,
        stop: Arc<AtomicBool>,
    ) -> Result<(), String> {
        let listener = TcpListener::try_from(listener)
            .map_err(|e| format!("cannot serve a listener ({}): {e}", kind.name()))?;
        let task = accept_loop(
            self.ctx.clone(),
            self.executor.clone(),
            listener,
            kind,
            stop,
        );
        self.executor.spawn(task).detach();
        Ok(())
    }
}

/// Accepts connections on `listener` until shutdown or `stop` (a reload that removed
/// it); each runs as a task of its own.
async fn accept_loop(
    ctx: Arc<Context>,
    ex: Arc<Executor<'static>>,
    listener: TcpListener,
    kind: ListenerKind,
    stop: Arc<AtomicBool>,
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
        if ctx.shutting_down() || stop.load(Ordering::SeqCst) {
            break;
        }
        let slot = match admit(&ctx, kind, &limits, remote.ip()) {
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
            let result = run_connection(ctx, stream, remote, kind).await;
            if let Err(e) = result {
                tracing::debug!("connection from {remote} ended with error: {e}");
            }
        })
        .detach();
    }
    // The address is free once the socket is closed; then the reload may reuse it.
    drop(listener);
    drop(stop);
}

/// Runs one accepted connection to its end with the machine and agent of its listener's
/// protocol, through the one async driver.
async fn run_connection(
    ctx: Arc<Context>,
    stream: TcpStream,
    remote: SocketAddr,
    kind: ListenerKind,
) -> io::Result<()> {
    let c = ctx.clone();
    if kind.is_pop3() {
        drive(ctx, stream, remote, kind, |peer| {
            Pop3Session::start(&c, kind, peer)
        })
        .await
    } else if kind.is_imap() {
        drive(ctx, stream, remote, kind, |peer| {
            ImapSession::start(&c, kind, peer)
        })
        .await
    } else if kind.is_http() {
        drive(ctx, stream, remote, kind, |peer| {
            WebSession::start(&c, kind, peer)
        })
        .await
    } else if kind == ListenerKind::ManageSieve {
        drive(ctx, stream, remote, kind, |peer| {
            ManageSieveSession::start(&c, kind, peer)
        })
        .await
    } else {
        drive(ctx, stream, remote, kind, |peer| {
            SmtpSession::start(&c, kind, peer)
        })
        .await
    }
}
