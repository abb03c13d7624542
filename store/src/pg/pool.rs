//! A small pool of PostgreSQL connections used from blocking code, with transactions
//! retried on serialization failures and deadlocks.

use std::fmt;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use async_io::Async;
use futures_lite::future::block_on;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt};

/// The protocol task of one connection.
pub type PgConnection = tokio_postgres::Connection<Compat<Async<TcpStream>>, NoTlsStream>;

/// A database failure, for logs (never shown to mail clients as is).
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The URL could not be used.
    #[error("[storage] url: {0}")]
    Url(String),
    /// No connection could be made.
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(String),
    /// A statement failed.
    #[error("PostgreSQL: {}", describe(.0))]
    Db(#[from] tokio_postgres::Error),
    /// A schema newer than this binary knows.
    #[error("{0}")]
    Schema(String),
}

/// The server's message and SQLSTATE for a database error, else the client's text.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

impl PgError {
    /// Whether the transaction should be tried again (serialization failure, deadlock).
    pub fn is_retryable(&self) -> bool {
        match self {
            PgError::Db(e) => matches!(
                e.code(),
                Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED
            ),
            _ => false,
        }
    }

    /// Whether the error is a unique-key violation (an insert of something existing).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, PgError::Db(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION))
    }
}

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

/// One open connection, whose protocol task runs on its own thread.
pub struct Conn {
    client: Client,
    /// Set when the protocol task ended (the connection is gone).
    closed: Arc<AtomicBool>,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}

impl Conn {
    /// Rows of a statement.
    pub fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, PgError> {
        Ok(block_on(self.client.query(sql, params))?)
    }

    /// The one row of a statement, if any.
    pub fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, PgError> {
        Ok(block_on(self.client.query_opt(sql, params))?)
    }

    /// Runs a statement; the number of rows it changed.
    pub fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, PgError> {
        Ok(block_on(self.client.execute(sql, params))?)
    }

    /// Runs statements without parameters (schema changes, BEGIN/COMMIT).
    pub fn batch(&self, sql: &str) -> Result<(), PgError> {
        Ok(block_on(self.client.batch_execute(sql))?)
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed) || self.client.is_closed()
    }
}

/// Connections to one database, shared by the threads of a node.
#[derive(Debug)]
pub struct Pool {
    config: PoolConfig,
    pg: Config,
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
        let mut pg: Config = config
            .url
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
    /// itself (the change listener reads notifications from it).
    pub fn connect_parts(&self) -> Result<(Client, PgConnection), PgError> {
        let hosts = self.pg.get_hosts();
        let host = match hosts.first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => return Err(PgError::Url("a TCP host is needed (host:port)".into())),
        };
        let port = self.pg.get_ports().first().copied().unwrap_or(5432);
        let addr = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| PgError::Connect(format!("{host}:{port}: {e}")))?
            .next()
            .ok_or_else(|| PgError::Connect(format!("{host}:{port}: no address")))?;
        let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .map_err(|e| PgError::Connect(format!("{addr}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let stream = Async::new(tcp).map_err(|e| PgError::Connect(format!("{addr}: {e}")))?;
        Ok(block_on(self.pg.connect_raw(stream.compat(), NoTls))?)
    }

    /// Opens a connection and starts the thread that polls its protocol task.
    fn connect(&self) -> Result<Conn, PgError> {
        let (client, connection) = self.connect_parts()?;
        let closed = Arc::new(AtomicBool::new(false));
        let flag = closed.clone();
        std::thread::Builder::new()
            .name("postgres".into())
            .spawn(move || {
                if let Err(e) = block_on(connection) {
                    tracing::warn!("PostgreSQL connection lost: {e}");
                }
                flag.store(true, Ordering::Relaxed);
            })
            .map_err(|e| PgError::Connect(format!("cannot start a thread: {e}")))?;
        Ok(Conn { client, closed })
    }

    /// Runs `work` in a transaction (READ COMMITTED: the work takes the row locks it
    /// needs, `SELECT ... FOR UPDATE` or `UPDATE ... RETURNING`, always messages before
    /// their folder), committed when it returns Ok, rolled back otherwise; tried again
    /// (up to 10 times) when the database reports a serialization failure or a deadlock.
    pub fn transaction<T>(
        &self,
        mut work: impl FnMut(&Conn) -> Result<T, PgError>,
    ) -> Result<T, PgError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let c = self.get()?;
            c.batch("BEGIN")?;
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
