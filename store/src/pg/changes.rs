//! Cross-node change notices: every change to a folder (delivery, APPEND, STORE, EXPUNGE,
//! COPY, a `\Recent` claim, rename, delete) sends `NOTIFY postrider_change, 'FOLDER_ID'`
//! with its transaction; each node listens on a dedicated connection and counts the
//! notices per folder. A folder view cached on a node stays good while no notice came for
//! its folder (and for at most [`RECHECK`]); after the listening connection is lost,
//! nothing is trusted until it is back (a full resync: every cached view is read again).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::Poll;
use std::time::Duration;

use futures_lite::future::{self, block_on};
use tokio_postgres::AsyncMessage;

use super::pool::{Conn, PgError, Pool};

/// The channel every node listens on.
const CHANNEL: &str = "postrider_change";

/// How long a cached view is trusted without looking at the database at all.
pub const RECHECK: Duration = Duration::from_secs(10);

/// Sends the change notice for folder `id` (delivered when the transaction commits).
pub fn notify(c: &Conn, id: i64) -> Result<(), PgError> {
    c.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &id.to_string()])?;
    Ok(())
}

/// The notices this node has received.
#[derive(Debug, Default)]
pub struct Changes {
    /// Notices per folder id.
    counts: Mutex<HashMap<i64, u64>>,
    /// Bumped whenever the listening connection is lost: stamps from before are void.
    epoch: AtomicU64,
    /// Whether the listening connection is up (LISTEN done).
    listening: AtomicBool,
}

/// When a view was read: the listener's epoch and the folder's notice count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    epoch: u64,
    count: u64,
}

impl Stamp {
    /// A stamp no listener gives: an entry with it is never trusted.
    pub const NEVER: Stamp = Stamp {
        epoch: u64::MAX,
        count: u64::MAX,
    };
}

impl Changes {
    /// Starts listening for notices on a connection of its own (reconnecting after a
    /// loss) and returns the counts it keeps.
    /// The listener stops within a few seconds once the counts are dropped.
    pub fn listen(pool: &Arc<Pool>) -> Arc<Changes> {
        let changes = Arc::new(Changes::default());
        let (pool, weak) = (pool.clone(), Arc::downgrade(&changes));
        let spawned = std::thread::Builder::new()
            .name("postgres-listen".into())
            .spawn(move || loop {
                let Some(me) = weak.upgrade() else { return };
                let lost = me.listen_once(&pool, &weak);
                me.listening.store(false, Ordering::SeqCst);
                me.epoch.fetch_add(1, Ordering::SeqCst);
                match lost {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!("change notices from PostgreSQL lost ({e}); reconnecting")
                    }
                }
                drop(me);
                std::thread::sleep(Duration::from_secs(1));
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the PostgreSQL listener: {e}");
        }
        changes
    }

    /// One listening connection, until it is lost (Err) or nobody needs the counts (Ok).
    fn listen_once(&self, pool: &Pool, weak: &Weak<Changes>) -> Result<(), PgError> {
        let (client, mut connection) = pool.connect_parts()?;
        block_on(async {
            let drive = future::poll_fn(|cx| loop {
                match connection.poll_message(cx) {
                    Poll::Ready(Some(Ok(AsyncMessage::Notification(n)))) => {
                        if let Ok(id) = n.payload().parse::<i64>() {
                            self.bump(id);
                        }
                    }
                    Poll::Ready(Some(Ok(_))) => {}
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(PgError::from(e))),
                    Poll::Ready(None) => {
                        return Poll::Ready(Err(PgError::Connect("connection closed".into())))
                    }
                    Poll::Pending => return Poll::Pending,
                }
            });
            let listen = async {
                client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
                self.listening.store(true, Ordering::SeqCst);
                while weak.strong_count() > 1 {
                    async_io::Timer::after(Duration::from_secs(2)).await;
                }
                Ok(())
            };
            future::or(drive, listen).await
        })
    }

    fn bump(&self, id: i64) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry(id).or_default() += 1;
    }

    /// The stamp to keep with a view of folder `id` read from now on; None while notices
    /// cannot be trusted (not listening).
    pub fn stamp(&self, id: i64) -> Option<Stamp> {
        if !self.listening.load(Ordering::SeqCst) {
            return None;
        }
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        Some(Stamp {
            epoch: self.epoch.load(Ordering::SeqCst),
            count: counts.get(&id).copied().unwrap_or(0),
        })
    }
}
