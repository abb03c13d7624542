//! Reloading a running server's configuration (SIGHUP, `postrider reload`), and the set
//! of open listeners a reload changes.
//!
//! The file is read and validated again; one that does not validate (or whose TLS
//! certificate cannot be loaded) is logged and the running configuration kept whole.
//! Otherwise the new one is put in force: listeners added are opened and listeners
//! removed closed (sessions in progress on them go on), connection limits, login
//! penalties, domains, the aliases file, DKIM keys, TLS, the log level and
//! everything read per session or per delivery follow at once. The keys naming where
//! the data lives (`data_dir`, `accounts`, `[storage]`), `user` and `log_format` only
//! change at the next start: they keep their running values and the log says so.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::config::Settings;
use crate::context::Context;
use crate::listener::ListenerKind;

/// How a runtime serves one bound listener: it accepts on it (in a task or thread of its
/// own) until `stop` is set; the accept loop drops the socket, then its clone of `stop`,
/// so the caller can tell when the address is free again.
pub trait OpenListener: Send + Sync {
    /// Starts accepting on `listener` for `kind`.
    fn open(
        &self,
        listener: TcpListener,
        kind: ListenerKind,
        stop: Arc<AtomicBool>,
    ) -> Result<(), String>;
}

/// Every listener the configuration asks for: (address, kind).
pub fn wanted_listeners(settings: &Settings) -> Vec<(SocketAddr, ListenerKind)> {
    use ListenerKind::*;
    let c = &settings.config;
    let table: [(&[String], ListenerKind); 11] = [
        (&c.smtp.listen, Smtp),
        (&c.submission.listen, Submission),
        (&c.submission.listen_tls, Submissions),
        (&c.pop3.listen, Pop3),
        (&c.pop3.listen_tls, Pop3s),
        (&c.imap.listen, Imap),
        (&c.imap.listen_tls, Imaps),
        (&c.web.listen, Http),
        (&c.web.listen_tls, Https),
        (&c.lmtp.listen, Lmtp),
        (&c.managesieve.listen, ManageSieve),
    ];
    table
        .iter()
        .flat_map(|&(addrs, kind)| {
            addrs
                .iter()
                .filter_map(|a| a.parse::<SocketAddr>().ok())
                .map(move |a| (a, kind))
        })
        .collect()
}

/// The addresses of the `[smtp]` listeners (the MTA's, port 25's role).
pub fn smtp_addresses(settings: &Settings) -> Vec<SocketAddr> {
    wanted_listeners(settings)
        .into_iter()
        .filter(|(_, kind)| *kind == ListenerKind::Smtp)
        .map(|(addr, _)| addr)
        .collect()
}

/// A listener bound and not yet served (`serve` binds them all before it gives up root).
#[derive(Debug)]
pub struct Bound {
    addr: SocketAddr,
    kind: ListenerKind,
    listener: TcpListener,
}

/// Binds `addr` for `kind`; the error names both.
fn bind(addr: SocketAddr, kind: ListenerKind) -> Result<Bound, String> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| format!("cannot listen on {addr} ({}): {e}", kind.name()))?;
    Ok(Bound {
        addr,
        kind,
        listener,
    })
}

/// Binds every listener of `wanted`; the first that cannot be bound is an error (at
/// start a missing listener is fatal).
pub fn bind_all(wanted: &[(SocketAddr, ListenerKind)]) -> Result<Vec<Bound>, String> {
    wanted
        .iter()
        .map(|&(addr, kind)| bind(addr, kind))
        .collect()
}

/// One open listener.
struct Open {
    addr: SocketAddr,
    kind: ListenerKind,
    stop: Arc<AtomicBool>,
}

/// The listeners open now, and how to open more.
pub struct Listeners {
    open: Vec<Open>,
    opener: Box<dyn OpenListener>,
}

impl Listeners {
    /// Serves every listener of `bound` (see [`bind_all`]).
    pub fn open_all(bound: Vec<Bound>, opener: Box<dyn OpenListener>) -> Result<Listeners, String> {
        let mut set = Listeners {
            open: Vec::new(),
            opener,
        };
        for b in bound {
            set.serve(b)?;
        }
        Ok(set)
    }

    fn serve(&mut self, b: Bound) -> Result<(), String> {
        let stop = Arc::new(AtomicBool::new(false));
        let (addr, kind) = (b.addr, b.kind);
        self.opener.open(b.listener, kind, stop.clone())?;
        tracing::info!("listening on {addr} ({})", kind.name());
        self.open.push(Open { addr, kind, stop });
        Ok(())
    }

    /// Makes the open listeners `wanted`: closes the others (waiting up to a second for
    /// each address to be free), then opens the new ones; one that cannot be bound is
    /// logged and the rest go on.
    pub fn change_to(&mut self, wanted: &[(SocketAddr, ListenerKind)]) {
        let (keep, close): (Vec<Open>, Vec<Open>) = std::mem::take(&mut self.open)
            .into_iter()
            .partition(|o| wanted.contains(&(o.addr, o.kind)));
        self.open = keep;
        for o in close {
            o.stop.store(true, Ordering::SeqCst);
            wake(o.addr);
            let start = Instant::now();
            while Arc::strong_count(&o.stop) > 1 && start.elapsed() < Duration::from_secs(1) {
                thread::sleep(Duration::from_millis(5));
            }
            tracing::info!("no longer listening on {} ({})", o.addr, o.kind.name());
        }
        for &(addr, kind) in wanted {
            if self.open.iter().any(|o| (o.addr, o.kind) == (addr, kind)) {
                continue;
            }
            if let Err(e) = bind(addr, kind).and_then(|b| self.serve(b)) {
                tracing::error!("reload: {e}");
            }
        }
    }
}

/// Wakes the accept loop of `addr` with a connection of our own, so it sees its stop
/// flag (a blocked accept has no other way to be told).
fn wake(addr: SocketAddr) {
    let mut to = addr;
    if to.ip().is_unspecified() {
        to.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let _ = TcpStream::connect_timeout(&to, Duration::from_millis(500));
}

/// The configuration file read and validated again, with everything a running server
/// needs of it (its TLS certificate); None when the server runs on the embedded defaults.
fn read_again(running: &Settings) -> Option<Result<Settings, String>> {
    let path = running.config_path.as_ref()?;
    let fresh = crate::config::Config::load(path)
        .map_err(|e| e.to_string())
        .and_then(|c| c.validate().map_err(|e| e.to_string()))
        .and_then(|s| crate::privileges::check_serve_privileges(&s).map(|()| s))
        .map(|mut s| {
            s.config_path = Some(path.clone());
            s
        })
        .map_err(|e| format!("{}: {e}", path.display()));
    Some(fresh)
}

/// Puts back the running values of the keys that only change at the next start, and
/// names those that differed.
fn keep_start_only(fresh: &mut Settings, running: &Settings) -> Vec<&'static str> {
    let (new, old) = (&mut fresh.config, &running.config);
    let mut kept = Vec::new();
    if new.data_dir != old.data_dir {
        new.data_dir = old.data_dir.clone();
        kept.push("data_dir");
    }
    if new.accounts != old.accounts {
        new.accounts = old.accounts;
        kept.push("accounts");
    }
    if new.log_format != old.log_format {
        new.log_format = old.log_format;
        kept.push("log_format");
    }
    if new.user != old.user {
        new.user = old.user.clone();
        kept.push("user");
    }
    if toml::Value::try_from(&new.storage).ok() != toml::Value::try_from(&old.storage).ok() {
        new.storage = old.storage.clone();
        kept.push("[storage]");
    }
    kept
}

/// SIGHUP: reloads the configuration (see the module documentation).
pub fn reload(ctx: &Context, listeners: &mut Listeners) {
    let running = ctx.settings();
    let mut fresh = match read_again(&running) {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            tracing::error!(
                "SIGHUP: the configuration does not validate, the running one stays: {e}"
            );
            return;
        }
        None => Settings::clone(&running),
    };
    let kept = keep_start_only(&mut fresh, &running);
    let tls = match crate::tls::server_config(&fresh) {
        Ok(tls) => tls,
        Err(e) => {
            tracing::error!("SIGHUP: TLS cannot be set up, the running configuration stays: {e}");
            return;
        }
    };
    if !kept.is_empty() {
        tracing::warn!(
            "SIGHUP: {} changed: takes effect at the next start",
            kept.join(", ")
        );
    }
    if let Err(e) = crate::logging::set_level(fresh.config.log.as_str()) {
        tracing::debug!("log level unchanged: {e}");
    }
    ctx.aliases.use_source(&fresh.aliases_path());
    ctx.tls.set(tls);
    ctx.replace_settings(fresh);
    listeners.change_to(&wanted_listeners(&ctx.settings()));
    ctx.wakeup.notify();
    tracing::info!("SIGHUP: configuration reloaded");
}
