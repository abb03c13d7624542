//! POP3 on the database: the INBOX as it was when the session opened, one session per
//! user across all nodes, deletions at QUIT in one transaction. The lock is a row naming
//! its node and process (incarnation): a node that dies keeps the maildrop locked for at
//! most [`LOCK_LEASE`], and not at all once it is restarted (its new process takes over
//! locks its old one left).

use std::io;
use std::sync::Arc;

use postrider_core::maildrop::Pop3Encoder;
use postrider_core::pop3::{MessageInfo, OpenError};

use super::blobs::{self, BlobChunks};
use super::folders::{folder, remove_messages};
use super::pool::{PgError, Pool};
use crate::mailbox::{Maildrop, MessageChunks};

/// How long a POP3 lock holds without its session (a node that died).
pub(super) const LOCK_LEASE: &str = "10 minutes";

/// One user's INBOX held by one POP3 session.
#[derive(Debug)]
pub struct PgMaildrop {
    pool: Arc<Pool>,
    user: String,
    holder: String,
    mailbox: i64,
    uid_validity: u32,
    /// (uid, blob, size) at open.
    messages: Vec<(i64, i64, i64)>,
}

fn failed(e: PgError) -> OpenError {
    OpenError::Failed(e.to_string())
}

impl PgMaildrop {
    /// Takes the lock for `node`'s process `incarnation` and reads the listing.
    pub fn open(
        pool: Arc<Pool>,
        node: &str,
        incarnation: &str,
        user: &str,
    ) -> Result<Self, OpenError> {
        // Unique per session: the queue id maker's clock and randomness.
        let holder = format!("{node}:{}", crate::queue::new_queue_id());
        let c = pool.get().map_err(failed)?;
        let got = c
            .query_opt(
                &format!(
                    "INSERT INTO pop3_locks (account, holder, expires, node, incarnation) \
                     VALUES ($1, $2, now() + interval '{LOCK_LEASE}', $3, $4) \
                     ON CONFLICT (account) DO UPDATE \
                       SET holder = EXCLUDED.holder, expires = EXCLUDED.expires, \
                           node = EXCLUDED.node, incarnation = EXCLUDED.incarnation \
                       WHERE pop3_locks.expires < now() \
                          OR (pop3_locks.node = $3 AND pop3_locks.incarnation <> $4) \
                     RETURNING holder"
                ),
                &[&user, &holder, &node, &incarnation],
            )
            .map_err(failed)?;
        if got.is_none() {
            return Err(OpenError::InUse);
        }
        let drop = (|| {
            let f = folder(&c, user, "INBOX")?.ok_or_else(|| PgError::Schema("no INBOX".into()))?;
            let rows = c.query(
                "SELECT uid, blob, size FROM messages WHERE mailbox = $1 ORDER BY uid",
                &[&f.id],
            )?;
            Ok(Self {
                pool: pool.clone(),
                user: user.to_string(),
                holder: holder.clone(),
                mailbox: f.id,
                uid_validity: f.uid_validity,
                messages: rows
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2)))
                    .collect(),
            })
        })();
        if drop.is_err() {
            let _ = c.execute(
                "DELETE FROM pop3_locks WHERE account = $1 AND holder = $2",
                &[&user, &holder],
            );
        }
        drop.map_err(failed)
    }
}

impl Maildrop for PgMaildrop {
    fn listing(&self) -> Vec<MessageInfo> {
        self.messages
            .iter()
            .map(|&(uid, _, size)| MessageInfo {
                size: size as u64,
                uid: format!("{}.{uid}", self.uid_validity),
            })
            .collect()
    }

    fn stream(&self, index: usize, top_lines: Option<usize>) -> io::Result<Box<dyn MessageChunks>> {
        let Some(&(_, blob, _)) = self.messages.get(index) else {
            return Err(io::Error::other("no such message"));
        };
        Ok(Box::new(Pop3Chunks {
            inner: BlobChunks::new(self.pool.clone(), blob),
            encoder: Some(Pop3Encoder::plain(top_lines)),
        }))
    }

    fn commit(&self, deleted: &[usize]) -> io::Result<()> {
        let uids: Vec<i64> = deleted
            .iter()
            .filter_map(|&i| self.messages.get(i).map(|m| m.0))
            .collect();
        if uids.is_empty() {
            return Ok(());
        }
        self.pool
            .transaction(|c| {
                let gone = remove_messages(c, self.mailbox, &uids)?;
                blobs::drop_unreferenced(c, &gone)
            })
            .map_err(io::Error::other)
    }
}

impl Drop for PgMaildrop {
    fn drop(&mut self) {
        let released = self.pool.get().and_then(|c| {
            c.execute(
                "DELETE FROM pop3_locks WHERE account = $1 AND holder = $2",
                &[&self.user, &self.holder],
            )
        });
        if let Err(e) = released {
            tracing::warn!(
                "pop3: {}: lock not released (held {LOCK_LEASE} more): {e}",
                self.user
            );
        }
    }
}

/// A stored message encoded for RETR or TOP as its chunks arrive.
#[derive(Debug)]
struct Pop3Chunks {
    inner: BlobChunks,
    encoder: Option<Pop3Encoder>,
}

impl MessageChunks for Pop3Chunks {
    fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let Some(encoder) = self.encoder.as_mut() else {
            return Ok(None);
        };
        let mut out = Vec::new();
        match self.inner.next_chunk()? {
            Some(chunk) => encoder.feed(&chunk, &mut out),
            None => {
                if let Some(enc) = self.encoder.take() {
                    enc.finish(&mut out);
                }
            }
        }
        Ok(Some(out))
    }
}
