//! Local delivery into the database: each delivery is its own transaction, committed
//! (synchronous commit) before it is reported delivered, so a batch has nothing left to
//! do at its commit. Recovery after a crash looks for the queue id among the folder's
//! messages.

use postrider_core::submission::to_crlf;

use super::blobs;
use super::folders::{db, folder, insert_message};
use super::pool::PgError;
use super::pool::Pool;
use crate::mail_files::valid_folder;
use crate::mailbox::{Arrival, Stored};

/// Stores `a` (see [`crate::mailbox::Mailboxes::deliver`]).
pub(super) fn deliver(pool: &Pool, a: &Arrival<'_>) -> Result<Stored, String> {
    let c = pool.get().map_err(|e| e.to_string())?;
    let wanted = a
        .folder
        .filter(|f| valid_folder(f) && !f.eq_ignore_ascii_case("INBOX"));
    let mut name = "INBOX".to_string();
    let mut target = folder(&c, a.user, "INBOX").map_err(|e| e.to_string())?;
    if let Some(f) = wanted {
        c.execute(
            "INSERT INTO mailboxes (account, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&a.user, &f],
        )
        .map_err(|e| e.to_string())?;
        if let Some(found) = folder(&c, a.user, f).map_err(|e| e.to_string())? {
            target = Some(found);
            name = f.to_string();
        }
    }
    let Some(target) = target else {
        return Err(format!("no INBOX for {}", a.user));
    };
    if a.recovering {
        let there = c
            .query_opt(
                "SELECT 1 FROM messages WHERE mailbox = $1 AND queue_id = $2",
                &[&target.id, &a.queue_id],
            )
            .map_err(|e| e.to_string())?;
        if there.is_some() {
            return Ok(Stored::AlreadyThere(name));
        }
    }
    drop(c);
    let mut message = to_crlf(a.fields);
    message.extend_from_slice(&to_crlf(a.message));
    pool.transaction(|c| -> Result<i64, PgError> {
        let blob = blobs::put(c, &message)?;
        insert_message(
            c,
            target.id,
            blob,
            message.len() as i64,
            a.when,
            a.flags,
            Some(a.queue_id),
        )
    })
    .map_err(|e| db(e).text)?;
    Ok(Stored::Delivered(name))
}
