//! The queue in the database, shared by every node: a message and its envelope (TOML, as
//! the files backend writes it) are committed in one transaction before the 250; a node's
//! runner claims an entry with a lease before delivering it ([`QueueStore::claim`]), and
//! only the owner of a live lease may change or remove it, so each message is delivered
//! by one node at a time, and by another once a dead node's lease runs out.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::blobs;
use super::pool::{PgError, Pool};
use crate::queue::{new_queue_id, Envelope};
use crate::queue_store::{MessageSpool, QueueStore};

fn io_err(e: PgError) -> io::Error {
    io::Error::other(e)
}

/// The queue table, seen from one node.
#[derive(Debug)]
pub struct PgQueue {
    pool: Arc<Pool>,
    node: String,
    /// Messages removed by [`QueueStore::remove_unsynced`]: deleted together, in one
    /// transaction, by the next [`QueueStore::sync_removals`]; this node keeps their
    /// leases until then (a release skips them), so no other node takes them meanwhile.
    removing: Mutex<Vec<String>>,
}

impl PgQueue {
    /// The queue of the database behind `pool`, for node `node`.
    pub fn new(pool: Arc<Pool>, node: &str) -> Self {
        Self {
            pool,
            node: node.to_string(),
            removing: Mutex::new(Vec::new()),
        }
    }

    fn removing(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.removing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Deletes messages `ids` and the bytes nothing else refers to, in one transaction,
    /// where this node may (its lease, or none).
    fn delete(&self, ids: &[String]) -> Result<(), PgError> {
        self.pool.transaction(|c| {
            let rows = c.query(
                "DELETE FROM queue WHERE id = ANY($1) \
                 AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until < now()) \
                 RETURNING blob",
                &[&ids, &self.node],
            )?;
            let gone: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
            blobs::drop_unreferenced(c, &gone)
        })
    }
}

/// A message being received: kept in memory until its commit.
#[derive(Debug)]
pub struct PgSpool {
    pool: Arc<Pool>,
    id: String,
    bytes: Vec<u8>,
}

impl MessageSpool for PgSpool {
    fn id(&self) -> &str {
        &self.id
    }

    fn buffers(&self, _more: usize) -> bool {
        true
    }

    fn has_file(&self) -> bool {
        false
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }

    fn head(&mut self, limit: usize) -> io::Result<Vec<u8>> {
        Ok(self.bytes[..limit.min(self.bytes.len())].to_vec())
    }

    fn contents(&mut self) -> io::Result<Vec<u8>> {
        Ok(self.bytes.clone())
    }

    fn commit(self: Box<Self>, envelope: &Envelope) -> io::Result<()> {
        let text = toml::to_string(envelope).map_err(io::Error::other)?;
        self.pool
            .transaction(|c| {
                let blob = blobs::put(c, &self.bytes)?;
                c.execute(
                    "INSERT INTO queue (id, envelope, blob) VALUES ($1, $2, $3)",
                    &[&self.id, &text, &blob],
                )?;
                Ok(())
            })
            .map_err(io_err)
    }
}

impl QueueStore for PgQueue {
    fn create_spool(&self) -> io::Result<Box<dyn MessageSpool>> {
        Ok(Box::new(PgSpool {
            pool: self.pool.clone(),
            id: new_queue_id(),
            bytes: Vec::new(),
        }))
    }

    fn update_envelope(&self, envelope: &Envelope) -> io::Result<bool> {
        let text = toml::to_string(envelope).map_err(io::Error::other)?;
        let c = self.pool.get().map_err(io_err)?;
        // Only while this node owns the entry (or nobody does: a `queue` command).
        let n = c
            .execute(
                "UPDATE queue SET envelope = $2 WHERE id = $1 \
                 AND (lease_owner IS NULL OR lease_owner = $3 OR lease_until < now())",
                &[&envelope.id, &text, &self.node],
            )
            .map_err(io_err)?;
        Ok(n == 1)
    }

    fn verify(&self) -> io::Result<Vec<String>> {
        // Message and envelope are committed together: nothing can be half there.
        Ok(Vec::new())
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let c = self.pool.get().map_err(io_err)?;
        let rows = c
            .query("SELECT id FROM queue ORDER BY id", &[])
            .map_err(io_err)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn load(&self, id: &str) -> io::Result<Envelope> {
        let c = self.pool.get().map_err(io_err)?;
        let row = c
            .query_opt("SELECT envelope FROM queue WHERE id = $1", &[&id])
            .map_err(io_err)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{id}: not queued")))?;
        let text: String = row.get(0);
        toml::from_str(&text).map_err(io::Error::other)
    }

    fn read_message(&self, id: &str) -> io::Result<Vec<u8>> {
        let c = self.pool.get().map_err(io_err)?;
        let row = c
            .query_opt(
                "SELECT q.blob, b.size FROM queue q JOIN blobs b ON b.id = q.blob WHERE q.id = $1",
                &[&id],
            )
            .map_err(io_err)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{id}: not queued")))?;
        let (blob, size): (i64, i64) = (row.get(0), row.get(1));
        let mut read = blobs::read_many(&c, &[(blob, size as u64)]).map_err(io_err)?;
        Ok(read.pop().unwrap_or_default())
    }

    fn remove(&self, id: &str) -> io::Result<()> {
        self.delete(&[id.to_string()]).map_err(io_err)
    }

    fn remove_unsynced(&self, id: &str) -> io::Result<()> {
        self.removing().push(id.to_string());
        Ok(())
    }

    fn sync_removals(&self) {
        let ids = std::mem::take(&mut *self.removing());
        if ids.is_empty() {
            return;
        }
        if let Err(e) = self.delete(&ids) {
            // Still queued and leased by this node: looked at again after the lease.
            tracing::error!("queue: {} delivered messages not removed: {e}", ids.len());
        }
    }

    fn recover(&self, _min_age: Duration) -> io::Result<usize> {
        // Spools live in memory until their commit: a crash leaves nothing behind.
        Ok(0)
    }

    fn request_flush(&self) -> io::Result<()> {
        let c = self.pool.get().map_err(io_err)?;
        c.execute(
            "INSERT INTO queue_flush VALUES (true) ON CONFLICT DO NOTHING",
            &[],
        )
        .map(|_| ())
        .map_err(io_err)
    }

    fn take_flush_request(&self) -> bool {
        self.pool
            .get()
            .and_then(|c| c.execute("DELETE FROM queue_flush", &[]))
            .is_ok_and(|n| n > 0)
    }

    fn leave_note(&self, text: &str) -> io::Result<()> {
        let c = self.pool.get().map_err(io_err)?;
        c.execute("INSERT INTO queue_notes (text) VALUES ($1)", &[&text])
            .map(|_| ())
            .map_err(io_err)
    }

    fn take_notes(&self) -> Vec<String> {
        let taken = self
            .pool
            .get()
            .and_then(|c| c.query("DELETE FROM queue_notes RETURNING id, text", &[]));
        match taken {
            Ok(rows) => {
                let mut notes: Vec<(i64, String)> =
                    rows.iter().map(|r| (r.get(0), r.get(1))).collect();
                notes.sort();
                notes.into_iter().map(|n| n.1).collect()
            }
            Err(_) => Vec::new(),
        }
    }

    fn claim(&self, id: &str, lease: Duration) -> io::Result<bool> {
        Ok(!self.claim_many(&[id.to_string()], lease)?.is_empty())
    }

    fn claim_many(&self, ids: &[String], lease: Duration) -> io::Result<Vec<String>> {
        let c = self.pool.get().map_err(io_err)?;
        let secs = lease.as_secs_f64();
        // Entries another node is claiming right now are skipped, not waited for.
        let rows = c
            .query(
                "UPDATE queue SET lease_owner = $2, \
                   lease_until = now() + $3 * interval '1 second' \
                 WHERE id IN (SELECT id FROM queue WHERE id = ANY($1) \
                   AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until < now()) \
                   FOR UPDATE SKIP LOCKED) \
                 RETURNING id",
                &[&ids, &self.node, &secs],
            )
            .map_err(io_err)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn release(&self, id: &str) {
        if self.removing().iter().any(|r| r == id) {
            return;
        }
        let released = self.pool.get().and_then(|c| {
            c.execute(
                "UPDATE queue SET lease_owner = NULL, lease_until = NULL \
                 WHERE id = $1 AND lease_owner = $2",
                &[&id, &self.node],
            )
        });
        if let Err(e) = released {
            tracing::warn!("{id}: lease not released (it runs out by itself): {e}");
        }
    }
}
