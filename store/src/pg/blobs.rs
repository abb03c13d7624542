//! Message bytes in the database, behind a small blob interface (so an object store can
//! take them later): each message once, in its CRLF form, in chunks of [`CHUNK`] octets,
//! so a partial FETCH or a streamed one reads only the chunks it needs. Copies share a
//! blob; a blob goes when no message refers to it any more.

use std::io;
use std::sync::Arc;

use postrider_core::imf::header::split_header_to_blank_line;

use super::pool::{Conn, PgError, Pool};
use crate::mailbox::MessageChunks;

/// Octets per stored chunk.
pub const CHUNK: usize = 256 * 1024;

/// Stores `message` (CRLF line ends); its blob id.
pub fn put(c: &Conn, message: &[u8]) -> Result<i64, PgError> {
    let header = split_header_to_blank_line(message).1.min(message.len());
    let row = c.query_opt(
        "INSERT INTO blobs (size, header_size) VALUES ($1, $2) RETURNING id",
        &[&(message.len() as i64), &(header as i64)],
    )?;
    let id: i64 = row.map(|r| r.get(0)).unwrap_or_default();
    for (seq, chunk) in message.chunks(CHUNK).enumerate() {
        c.execute(
            "INSERT INTO blob_chunks (blob, seq, data) VALUES ($1, $2, $3)",
            &[&id, &(seq as i32), &chunk],
        )?;
    }
    Ok(id)
}

/// The first `len` octets of each blob in `wanted` (blob, len), read with one query.
pub fn read_many(c: &Conn, wanted: &[(i64, u64)]) -> Result<Vec<Vec<u8>>, PgError> {
    let blobs: Vec<i64> = wanted.iter().map(|w| w.0).collect();
    let last: Vec<i32> = wanted
        .iter()
        .map(|&(_, len)| (len.saturating_sub(1) / CHUNK as u64) as i32)
        .collect();
    let rows = c.query(
        "SELECT c.blob, c.data FROM blob_chunks c \
         JOIN unnest($1::bigint[], $2::int[]) AS w(blob, last) \
           ON c.blob = w.blob AND c.seq <= w.last \
         ORDER BY c.blob, c.seq",
        &[&blobs, &last],
    )?;
    let mut by_blob: std::collections::HashMap<i64, Vec<u8>> = std::collections::HashMap::new();
    for r in &rows {
        let data: &[u8] = r.get(1);
        by_blob.entry(r.get(0)).or_default().extend_from_slice(data);
    }
    Ok(wanted
        .iter()
        .map(|&(blob, len)| {
            let mut d = by_blob.get(&blob).cloned().unwrap_or_default();
            d.truncate(len.min(d.len() as u64) as usize);
            d
        })
        .collect())
}

/// Removes the blobs among `ids` that no message refers to any more.
pub fn drop_unreferenced(c: &Conn, ids: &[i64]) -> Result<(), PgError> {
    if ids.is_empty() {
        return Ok(());
    }
    c.execute(
        "DELETE FROM blobs b WHERE b.id = ANY($1) \
         AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob = b.id)",
        &[&ids],
    )?;
    Ok(())
}

/// A blob read chunk by chunk, one query per chunk.
#[derive(Debug)]
pub struct BlobChunks {
    pool: Arc<Pool>,
    blob: i64,
    next: i32,
    done: bool,
}

impl BlobChunks {
    /// Reads `blob` from its start.
    pub fn new(pool: Arc<Pool>, blob: i64) -> Self {
        Self {
            pool,
            blob,
            next: 0,
            done: false,
        }
    }
}

impl MessageChunks for BlobChunks {
    fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        let row = self
            .pool
            .get()
            .and_then(|c| {
                c.query_opt(
                    "SELECT data FROM blob_chunks WHERE blob = $1 AND seq = $2",
                    &[&self.blob, &self.next],
                )
            })
            .map_err(io::Error::other)?;
        self.next += 1;
        match row {
            Some(r) => Ok(Some(r.get(0))),
            None => {
                self.done = true;
                Ok(None)
            }
        }
    }
}
