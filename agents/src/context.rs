//! Everything a running server shares between connections and the queue runner.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use arc_swap::ArcSwap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postrider_core::imf::datetime::WallClock;
use postrider_core::penalty::{PenaltyConfig, PenaltyTable};

use crate::config::AccountsKind;
use crate::config::Settings;
use postrider_store::accounts::{AccountStore, Homes};
use postrider_store::aliases::AliasStore;
use postrider_store::mailbox::Mailboxes;
use postrider_store::queue_store::QueueStore;
use postrider_store::user_files::UserFiles;

/// Wakes the queue runner when new mail is committed.
#[derive(Debug, Default)]
pub struct Wakeup {
    flag: Mutex<bool>,
    cond: Condvar,
}

impl Wakeup {
    /// Signals new work (a signal already pending wakes nobody again: no system call).
    pub fn notify(&self) {
        let mut f = match self.flag.lock() {
            Ok(f) => f,
            Err(p) => p.into_inner(),
        };
        if !*f {
            *f = true;
            self.cond.notify_all();
        }
    }

    /// Waits for a signal or the timeout, and clears the signal.
    pub fn wait(&self, timeout: Duration) {
        let f = match self.flag.lock() {
            Ok(f) => f,
            Err(p) => p.into_inner(),
        };
        let mut f = match self.cond.wait_timeout_while(f, timeout, |woken| !*woken) {
            Ok((f, _)) => f,
            Err(p) => p.into_inner().0,
        };
        *f = false;
    }
}

/// Connection counters of one listener section. Clients in `[smtp] trusted_networks`
/// count toward the total but have no limit of their own (as Postfix exempts
/// `$mynetworks` from its per-client limits).
#[derive(Debug)]
pub struct ConnLimits {
    total: AtomicUsize,
    state: Mutex<LimitState>,
}

/// The limits of a section (changed by a reload) and the connections counted per address.
#[derive(Debug)]
struct LimitState {
    max_total: usize,
    max_per_ip: usize,
    unlimited: Vec<crate::config::Cidr>,
    per_ip: HashMap<IpAddr, usize>,
}

/// A counted connection; dropping it releases the slot.
#[derive(Debug)]
pub struct ConnSlot {
    limits: Arc<ConnLimits>,
    ip: IpAddr,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.limits.total.fetch_sub(1, Ordering::SeqCst);
        let mut state = self.limits.lock();
        if let Some(n) = state.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                state.per_ip.remove(&self.ip);
            }
        }
    }
}

impl ConnLimits {
    /// Limits for one section; clients in `unlimited` have no per-address limit.
    pub fn new(
        max_total: usize,
        max_per_ip: usize,
        unlimited: &[crate::config::Cidr],
    ) -> Arc<Self> {
        Arc::new(Self {
            total: AtomicUsize::new(0),
            state: Mutex::new(LimitState {
                max_total,
                max_per_ip,
                unlimited: unlimited.to_vec(),
                per_ip: HashMap::new(),
            }),
        })
    }

    /// New limits (a reload); connections open now stay, new ones meet these.
    pub fn set(&self, max_total: usize, max_per_ip: usize, unlimited: &[crate::config::Cidr]) {
        let mut state = self.lock();
        state.max_total = max_total;
        state.max_per_ip = max_per_ip;
        state.unlimited = unlimited.to_vec();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimitState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a slot for a connection from `ip`, or says which limit is reached.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Result<ConnSlot, &'static str> {
        let mut state = self.lock();
        if self.total.load(Ordering::SeqCst) >= state.max_total {
            return Err("too many connections");
        }
        let max_per_ip = state.max_per_ip;
        let unlimited = state.unlimited.iter().any(|c| c.contains(ip));
        let n = state.per_ip.entry(ip).or_insert(0);
        if *n >= max_per_ip && !unlimited {
            return Err("too many connections from your address");
        }
        *n += 1;
        self.total.fetch_add(1, Ordering::SeqCst);
        Ok(ConnSlot {
            limits: self.clone(),
            ip,
        })
    }

    /// Connections open now.
    pub fn active(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }
}

/// The shared state of a server process (or of one command such as `sendmail`).
#[derive(Debug)]
pub struct Context {
    /// Validated configuration; replaced whole by a reload (SIGHUP), see [`Context::settings`].
    settings: ArcSwap<Settings>,
    /// Local accounts (shared with the mailboxes).
    pub accounts: Arc<dyn AccountStore>,
    /// The users' mailboxes.
    pub mailboxes: Arc<dyn Mailboxes>,
    /// Where the users' home directories are (programs run there).
    pub homes: Homes,
    /// The database, with `[storage] backend = "postgres"`.
    pub pool: Option<Arc<postrider_store::pg::Pool>>,
    /// The users' own files (`.forward`, Sieve script and vacation memory).
    pub user_files: Arc<dyn UserFiles>,
    /// The users' named Sieve scripts (ManageSieve); the active one replaces `~/.sieve`.
    pub sieve_scripts: Arc<dyn postrider_store::sieve_scripts::SieveScripts>,
    /// The queue.
    pub queue: Arc<dyn QueueStore>,
    /// The aliases (the db `newaliases` builds, or the source until there is one).
    pub aliases: Arc<dyn AliasStore>,
    /// TLS server configuration, when serving (reloadable).
    pub tls: crate::tls::TlsStore,
    /// Wakes the queue runner.
    pub wakeup: Wakeup,
    /// Set on SIGTERM/SIGINT.
    pub shutdown: AtomicBool,
    /// Held by the queue runner while it delivers; taken at exit so no delivery is cut.
    pub delivery_lock: Mutex<()>,
    /// Connection limits of the SMTP section.
    pub smtp_limits: Arc<ConnLimits>,
    /// Connection limits of the submission section.
    pub submission_limits: Arc<ConnLimits>,
    /// Connection limits of the POP3 section.
    pub pop3_limits: Arc<ConnLimits>,
    /// Connection limits of the IMAP section.
    pub imap_limits: Arc<ConnLimits>,
    /// Connection limits of the web section.
    pub web_limits: Arc<ConnLimits>,
    /// Webmail sessions (logged-in browsers).
    pub web_sessions: crate::web::sessions::WebSessions,
    /// The counters `/metrics` shows.
    pub metrics: crate::metrics::Metrics,
    /// Login failure penalties, shared by every protocol.
    penalties: Mutex<PenaltyTable>,
}

/// The default aliases file written on first start.
const DEFAULT_ALIASES: &str = "\
# aliases(5): NAME: TARGET, TARGET, ...  (targets: local names or remote addresses)
# Edit, then run `postrider newaliases`.
postmaster: root
MAILER-DAEMON: postmaster
";

impl Context {
    /// Opens the data directory (creating its layout on first use) for `settings`.
    pub fn open(settings: Settings) -> io::Result<Context> {
        let dir = settings.config.data_dir.clone();
        for sub in ["", "mail", "home", "queue", "tls"] {
            let path = dir.join(sub);
            if !path.exists() {
                // Mail is private: only the server's user may read the spool.
                use std::os::unix::fs::DirBuilderExt;
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&path)?;
            }
        }
        let aliases_path = settings.aliases_path();
        if settings.config.delivery.aliases.is_empty()
            && settings.config.accounts == AccountsKind::File
            && !aliases_path.exists()
        {
            fs::write(&aliases_path, DEFAULT_ALIASES)?;
        }
        let b = crate::backends::open(&settings)?;
        let homes = Homes::new(&dir, b.accounts.clone());
        let c = &settings.config;
        let trusted = &settings.trusted_networks;
        Ok(Context {
            smtp_limits: ConnLimits::new(
                c.smtp.max_connections,
                c.smtp.max_connections_per_ip,
                trusted,
            ),
            submission_limits: ConnLimits::new(
                c.submission.max_connections,
                c.submission.max_connections_per_ip,
                trusted,
            ),
            pop3_limits: ConnLimits::new(
                c.pop3.max_connections,
                c.pop3.max_connections_per_ip,
                trusted,
            ),
            imap_limits: ConnLimits::new(
                c.imap.max_connections,
                c.imap.max_connections_per_ip,
                trusted,
            ),
            web_limits: ConnLimits::new(
                c.web.max_connections,
                c.web.max_connections_per_ip,
                trusted,
            ),
            web_sessions: Default::default(),
            metrics: Default::default(),
            penalties: Mutex::new(PenaltyTable::new(penalty_config(&settings))),
            aliases: b.aliases,
            accounts: b.accounts,
            user_files: b.user_files,
            sieve_scripts: b.sieve_scripts,
            mailboxes: b.mailboxes,
            homes,
            queue: b.queue,
            pool: b.pool,
            tls: crate::tls::TlsStore::default(),
            wakeup: Wakeup::default(),
            shutdown: AtomicBool::new(false),
            delivery_lock: Mutex::new(()),
            settings: ArcSwap::from_pointee(settings),
        })
    }

    /// The configuration in force now. A reload replaces it for everything that asks
    /// afterwards; whoever holds this `Arc` keeps a consistent view of the old one.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.load_full()
    }

    /// Puts `settings` in force (a reload): the connection limits and login penalties
    /// follow it at once, everything else at its next look at [`Context::settings`].
    pub fn replace_settings(&self, settings: Settings) {
        let c = &settings.config;
        let trusted = &settings.trusted_networks;
        self.smtp_limits.set(
            c.smtp.max_connections,
            c.smtp.max_connections_per_ip,
            trusted,
        );
        self.submission_limits.set(
            c.submission.max_connections,
            c.submission.max_connections_per_ip,
            trusted,
        );
        self.pop3_limits.set(
            c.pop3.max_connections,
            c.pop3.max_connections_per_ip,
            trusted,
        );
        self.imap_limits.set(
            c.imap.max_connections,
            c.imap.max_connections_per_ip,
            trusted,
        );
        self.web_limits
            .set(c.web.max_connections, c.web.max_connections_per_ip, trusted);
        self.auth_penalty(|t| t.set_config(penalty_config(&settings)));
        self.settings.store(Arc::new(settings));
    }

    /// Runs `f` on the login penalty table.
    pub fn auth_penalty<T>(&self, f: impl FnOnce(&mut PenaltyTable) -> T) -> T {
        let mut table = self.penalties.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut table)
    }

    /// The home directory of a local user (file accounts: `data_dir/home/USER`).
    pub fn home_of(&self, user: &str) -> Option<std::path::PathBuf> {
        self.homes.home_of(user)
    }

    /// Whether shutdown was requested.
    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// With file accounts: a warning when mail for root (and so for postmaster and
    /// MAILER-DAEMON, which the default aliases send to root) reaches no account that
    /// can read it, naming the fix. None when it does, or with system accounts.
    pub fn postmaster_warning(&self) -> Option<String> {
        use postrider_core::delivery::aliases::Target;
        if self.accounts.is_system() {
            return None;
        }
        let mut todo = vec!["root".to_string()];
        let mut seen = Vec::new();
        while let Some(name) = todo.pop() {
            if seen.contains(&name) || seen.len() > 50 {
                continue;
            }
            seen.push(name.clone());
            if self.accounts.exists(&name) {
                return None;
            }
            for t in self.aliases.lookup(&name).unwrap_or_default() {
                match Target::classify(&t, |d| self.settings().is_local_domain(d)) {
                    Target::Local(n) => todo.push(n),
                    Target::Mailbox(u) if !self.accounts.exists(&u) => {}
                    _ => return None,
                }
            }
        }
        Some(format!(
            "mail for root, postmaster and MAILER-DAEMON goes to {}, which no account can \
             read: run `postrider user add NAME --postmaster`",
            self.settings()
                .config
                .data_dir
                .join(match self.settings().config.storage.mailbox_format {
                    crate::config::MailboxFormat::Mbox => "mail",
                    crate::config::MailboxFormat::Maildir => "maildir",
                })
                .join("root")
                .display()
        ))
    }

    /// Whether `local_part` (of a local domain) can receive mail: an account, an alias,
    /// or postmaster (RFC 5321 §4.5.1).
    pub fn is_local_recipient(&self, local_part: &str) -> bool {
        let name = local_part.to_ascii_lowercase();
        name == "postmaster" || self.accounts.exists(&name) || self.aliases.contains(&name)
    }

    /// The local name mail to `local_part` goes to: itself when it is an account or an
    /// alias, else (subaddressing, `recipient_delimiter`) its user part when that is one;
    /// None for an unknown recipient.
    pub fn local_recipient(&self, local_part: &str) -> Option<String> {
        let name = local_part.to_ascii_lowercase();
        if self.is_local_recipient(&name) {
            return Some(name);
        }
        let settings = self.settings();
        let delimiters = &settings.config.recipient_delimiter;
        match postrider_core::delivery::subaddress::split_detail(&name, delimiters) {
            (user, Some(_)) if self.is_local_recipient(user) => Some(user.to_string()),
            _ => None,
        }
    }
}

/// The login penalties `[auth]` asks for.
fn penalty_config(settings: &Settings) -> PenaltyConfig {
    let mut p = PenaltyConfig::default();
    p.base = settings.config.auth.failure_delay.get();
    p.max = settings.config.auth.max_penalty.get();
    p
}

/// The current wall-clock time for the core (UTC).
pub fn wall_now() -> WallClock {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    WallClock::utc(secs)
}
