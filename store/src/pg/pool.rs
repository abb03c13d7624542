//! A small pool of PostgreSQL connections used from blocking code, with transactions
//! retried on serialization failures and deadlocks.

use std::collections::HashMap;
use std::fmt;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use async_io::Async;
use futures_lite::future::{self, block_on};
use tokio_postgres::config::{Host, TargetSessionAttrs};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, Row, Statement};
use tokio_util::compat::FuturesAsyncReadCompatExt;

use super::error::describe;
pub use super::error::PgError;
use super::tls::{split_url, DbSocket, DbTls, DbTlsStream};

/// The protocol task of one connection.
pub type PgConnection = tokio_postgres::Connection<DbSocket, DbTlsStream>;

/// How the pool connects.
#[derive(Clone)]
pub struct PoolConfig {
    /// `postgres://USER[:PASSWORD]@HOST:PORT/DB` (password also from `$PGPASSWORD`).
    pub url: String,
    /// Most connections open at once.
    pub max_connections: usize,
    /// `statement_timeout`, `lock_timeout` and `idle_in_transaction_session_timeout`.
    pub statement_timeout: Duration,
}

impl fmt::Debug for PoolConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password.
        f.debug_struct("PoolConfig")
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

impl PoolConfig {
    /// A pool of 8 connections with 30 s statement and lock timeouts.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
            max_connections: 8,
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// One open connection. Its protocol task (tokio-postgres's `Connection`, which moves
/// bytes between the socket and the client) is polled by whichever thread runs a
/// statement, together with the statement: a round trip costs no thread hop.
pub struct Conn {
    client: Client,
    /// The protocol task; None once it ended (the connection is gone).
    task: Mutex<Option<PgConnection>>,
    /// Statements prepared on this connection, by their text: a statement costs one
    /// round trip, not a prepare and an execute, and the server plans it once.
    prepared: Mutex<HashMap<String, Statement>>,
}

/// Prepared statements kept per connection at most (the project's statements are
/// fixed texts, far fewer than this).
const PREPARED_PER_CONNECTION: usize = 256;

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Conn {
    /// Runs `work` (a statement) while polling the protocol task on this thread.
    fn run<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, PgError> {
        let mut task = lock(&self.task);
        let Some(connection) = task.as_mut() else {
            return Err(PgError::Connect("the connection is closed".into()));
        };
        let ended = std::cell::Cell::new(false);
        let outcome = block_on(future::or(
            async { work.await.map_err(PgError::from) },
            async {
                let end = connection.await;
                ended.set(true);
                Err(match end {
                    Ok(()) => PgError::Connect("the server closed the connection".into()),
                    Err(e) => PgError::Db(e),
                })
            },
        ));
        if ended.get() {
            if let Err(e) = &outcome {
                tracing::warn!("PostgreSQL connection lost: {e}");
            }
            *task = None;
        }
        outcome
    }

    /// `sql` prepared on this connection (once).
    fn statement(&self, sql: &str) -> Result<Statement, PgError> {
        if let Some(st) = lock(&self.prepared).get(sql) {
            return Ok(st.clone());
        }
        let st = self.run(self.client.prepare(sql))?;
        let mut prepared = lock(&self.prepared);
        if prepared.len() >= PREPARED_PER_CONNECTION {
            prepared.clear();
        }
        prepared.insert(sql.to_string(), st.clone());
        Ok(st)
    }

    /// Rows of a statement.
    pub fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, PgError> {
        let st = self.statement(sql)?;
        self.run(self.client.query(&st, params))
    }

    /// The one row of a statement, if any.
    pub fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, PgError> {
        let st = self.statement(sql)?;
        self.run(self.client.query_opt(&st, params))
    }

    /// Runs a statement; the number of rows it changed.
    pub fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, PgError> {
        let st = self.statement(sql)?;
        self.run(self.client.execute(&st, params))
    }

    /// Runs statements without parameters (schema changes, BEGIN/COMMIT).
    pub fn batch(&self, sql: &str) -> Result<(), PgError> {
        self.run(self.client.batch_execute(sql))
    }

    /// Whether the connection is gone. An idle connection is not polled, so what the
    /// server sent meanwhile (a close when it restarted) is read here first, without
    /// waiting: a pool does not lend a connection that is already dead.
    fn is_closed(&self) -> bool {
        let mut task = lock(&self.task);
        let Some(connection) = task.as_mut() else {
            return true;
        };
        if let Some(end) = future::block_on(future::poll_once(connection)) {
            if let Err(e) = end {
                tracing::warn!("PostgreSQL connection lost: {}", PgError::Db(e));
            }
            *task = None;
            return true;
        }
        self.client.is_closed()
    }
}

/// Connections to one database, shared by the threads of a node.
#[derive(Debug)]
pub struct Pool {
    config: PoolConfig,
    pg: Config,
    tls: DbTls,
    idle: Mutex<Vec<Conn>>,
    /// Connections open (idle or lent).
    open: Mutex<usize>,
    returned: Condvar,
}

/// A connection lent by the pool; it goes back when dropped.
#[derive(Debug)]
pub struct Lent<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
}

impl std::ops::Deref for Lent<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        // Present until drop.
        self.conn.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            self.pool.give_back(c);
        }
    }
}

impl Pool {
    /// A pool for `config` (no connection is made until one is needed).
    pub fn new(config: PoolConfig) -> Result<Self, PgError> {
        let (url, tls) = split_url(&config.url)?;
        let mut pg: Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| PgError::Url(e.to_string()))?;
        if pg.get_password().is_none() {
            if let Ok(p) = std::env::var("PGPASSWORD") {
                pg.password(p);
            }
        }
        let ms = config.statement_timeout.as_millis();
        pg.options(format!(
            "-c statement_timeout={ms} -c lock_timeout={ms} \
             -c idle_in_transaction_session_timeout={}",
            ms * 2
        ));
        Ok(Self {
            config,
            pg,
            tls,
            idle: Mutex::new(Vec::new()),
            open: Mutex::new(0),
            returned: Condvar::new(),
        })
    }

    /// A connection: an idle one, a new one while under the limit, else the next one
    /// given back.
    pub fn get(&self) -> Result<Lent<'_>, PgError> {
        loop {
            if let Some(c) = lock(&self.idle).pop() {
                if !c.is_closed() {
                    return Ok(Lent {
                        pool: self,
                        conn: Some(c),
                    });
                }
                *lock(&self.open) -= 1;
                continue;
            }
            let mut open = lock(&self.open);
            if *open < self.config.max_connections {
                *open += 1;
                drop(open);
                return match self.connect() {
                    Ok(c) => Ok(Lent {
                        pool: self,
                        conn: Some(c),
                    }),
                    Err(e) => {
                        *lock(&self.open) -= 1;
                        Err(e)
                    }
                };
            }
            let (_open, _) = self
                .returned
                .wait_timeout(open, Duration::from_millis(200))
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn give_back(&self, c: Conn) {
        if c.is_closed() {
            *lock(&self.open) -= 1;
        } else {
            lock(&self.idle).push(c);
        }
        self.returned.notify_one();
    }

    /// A new connection's client and protocol task, for a caller that polls the task
    /// itself (the change listener reads notifications from it). The URL's hosts are
    /// tried in order; with `target_session_attrs=read-write`, one that is a standby
    /// (PostgreSQL 14+ reports `in_hot_standby`) or read-only is passed over, so a list
    /// of the primary and its standby follows a promotion.
    pub fn connect_parts(&self) -> Result<(Client, PgConnection), PgError> {
        let hosts = self.pg.get_hosts();
        let ports = self.pg.get_ports();
        let mut failures = Vec::new();
        for (i, host) in hosts.iter().enumerate() {
            let Host::Tcp(host) = host else {
                failures.push("a Unix socket host is not supported: use host:port".into());
                continue;
            };
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match self.connect_to(host, port) {
                Ok((client, connection)) if self.writable(&connection) => {
                    return Ok((client, connection))
                }
                Ok(_) => failures.push(format!("{host}:{port}: read-only (a standby)")),
                Err(PgError::Connect(why)) => failures.push(why),
                Err(e) => failures.push(e.to_string()),
            }
        }
        if failures.is_empty() {
            failures.push("no host in the URL".into());
        }
        Err(PgError::Connect(failures.join("; ")))
    }

    /// Whether a new connection may be used: any, unless the URL asks for a writable
    /// session.
    fn writable(&self, connection: &PgConnection) -> bool {
        self.pg.get_target_session_attrs() != TargetSessionAttrs::ReadWrite
            || (connection.parameter("in_hot_standby") != Some("on")
                && connection.parameter("default_transaction_read_only") != Some("on"))
    }

    /// One connection to `host:port`, with TLS as the URL says.
    fn connect_to(&self, host: &str, port: u16) -> Result<(Client, PgConnection), PgError> {
        let addr = (host, port)
            .to_socket_addrs()
            .map_err(|e| PgError::Connect(format!("{host}:{port}: {e}")))?
            .next()
            .ok_or_else(|| PgError::Connect(format!("{host}:{port}: no address")))?;
        let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .map_err(|e| PgError::Connect(format!("{addr}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let stream = Async::new(tcp).map_err(|e| PgError::Connect(format!("{addr}: {e}")))?;
        let tls = self.tls.connector(host)?;
        block_on(self.pg.connect_raw(stream.compat(), tls))
            .map_err(|e| PgError::Connect(format!("{addr}: {}", describe(&e))))
    }

    /// Opens a connection (its protocol task is polled by the threads that use it).
    fn connect(&self) -> Result<Conn, PgError> {
        let (client, connection) = self.connect_parts()?;
        Ok(Conn {
            client,
            task: Mutex::new(Some(connection)),
            prepared: Mutex::new(HashMap::new()),
        })
    }

    /// Runs `work` in a transaction (READ COMMITTED: the work takes the row locks it
    /// needs, `SELECT ... FOR UPDATE` or `UPDATE ... RETURNING`, always messages before
    /// their folder), committed when it returns Ok, rolled back otherwise; tried again
    /// (up to 10 times) when the database reports a serialization failure or a deadlock.
    pub fn transaction<T>(
        &self,
        work: impl FnMut(&Conn) -> Result<T, PgError>,
    ) -> Result<T, PgError> {
        self.transaction_from("BEGIN", work)
    }

    /// [`Pool::transaction`] whose commit does not wait for the WAL flush
    /// (`synchronous_commit = off` for it alone): for changes a crash of the database
    /// server may lose without harm, as Dovecot does not fsync flag changes (its
    /// `mail_fsync = optimized`): flags and `\Recent` claims, never a message. Such a
    /// commit is still all-or-nothing and ordered; at most the last few hundred
    /// milliseconds of them are lost when the database server itself crashes.
    pub fn transaction_lazy_commit<T>(
        &self,
        work: impl FnMut(&Conn) -> Result<T, PgError>,
    ) -> Result<T, PgError> {
        self.transaction_from("BEGIN; SET LOCAL synchronous_commit = off", work)
    }

    fn transaction_from<T>(
        &self,
        begin: &str,
        mut work: impl FnMut(&Conn) -> Result<T, PgError>,
    ) -> Result<T, PgError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let c = self.get()?;
            c.batch(begin)?;
            let result = work(&c).and_then(|v| c.batch("COMMIT").map(|_| v));
            match result {
                Ok(v) => return Ok(v),
                Err(e) => {
                    if !c.client.is_closed() {
                        let _ = c.batch("ROLLBACK");
                    }
                    if !e.is_retryable() || attempt >= 10 {
                        return Err(e);
                    }
                    std::thread::sleep(Duration::from_millis(5 * attempt));
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
