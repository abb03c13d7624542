//! The rows every folder operation works on: a folder's row and its lookup, UID and
//! MODSEQ allocation (which also sends the change notice), adding a message, and the
//! errors IMAP clients see. Used by the mailboxes, POP3 and delivery modules.

use postrider_core::imap::server::StoreError;
use postrider_core::imf::datetime::WallClock;

use super::changes::notify;
use super::pool::{Conn, PgError};

/// A store error with a response code.
pub(super) fn err(code: &str, text: &str) -> StoreError {
    StoreError::new(Some(code), text)
}

/// A database failure as IMAP clients see it (the details go to the log).
pub(super) fn db(e: PgError) -> StoreError {
    tracing::error!("imap: {e}");
    err(
        "SERVERBUG",
        "Internal error occurred. Refer to server log for more information.",
    )
}

/// `INBOX` in any case is INBOX.
pub(super) fn canonical(name: &str) -> &str {
    if name.eq_ignore_ascii_case("INBOX") {
        "INBOX"
    } else {
        name
    }
}

/// A folder's row: id, UIDVALIDITY, selectable.
#[derive(Debug, Clone, Copy)]
pub(super) struct Folder {
    pub(super) id: i64,
    pub(super) uid_validity: u32,
    pub(super) selectable: bool,
}

/// The folder `name` of `user` (INBOX is made on first use).
pub(super) fn folder(c: &Conn, user: &str, name: &str) -> Result<Option<Folder>, PgError> {
    let name = canonical(name);
    let find = || {
        c.query_opt(
            "SELECT id, uid_validity, selectable FROM mailboxes WHERE account = $1 AND name = $2",
            &[&user, &name],
        )
    };
    let mut row = find()?;
    if row.is_none() && name == "INBOX" {
        c.execute(
            "INSERT INTO mailboxes (account, name) VALUES ($1, 'INBOX') ON CONFLICT DO NOTHING",
            &[&user],
        )?;
        row = find()?;
    }
    Ok(row.map(|r| Folder {
        id: r.get(0),
        uid_validity: r.get::<_, i64>(1) as u32,
        selectable: r.get(2),
    }))
}

/// The selectable folder `name`, or NONEXISTENT (`code` to say otherwise).
pub(super) fn existing(c: &Conn, user: &str, name: &str, code: &str) -> Result<Folder, StoreError> {
    match folder(c, user, name).map_err(db)? {
        Some(f) if f.selectable => Ok(f),
        _ => Err(err(code, "Mailbox doesn't exist")),
    }
}

/// UIDs as database parameters.
pub(super) fn uids_param(uids: &[u32]) -> Vec<i64> {
    uids.iter().map(|&u| i64::from(u)).collect()
}

/// Allocates `n` UIDs and one MODSEQ in folder `id` (locking its row until commit): the
/// first UID and the MODSEQ.
pub(super) fn allocate(c: &Conn, id: i64, n: i64) -> Result<(i64, i64), PgError> {
    let row = c.query_opt(
        "UPDATE mailboxes SET uid_next = uid_next + $2, modseq = modseq + 1 WHERE id = $1 \
         RETURNING uid_next - $2, modseq",
        &[&id, &n],
    )?;
    notify(c, id)?;
    Ok(row.map_or((0, 0), |r| (r.get(0), r.get(1))))
}

/// Removes messages `uids` from folder `id` under a new MODSEQ, keeping their UIDs with
/// it for QRESYNC: the blobs of the rows removed.
pub(super) fn remove_messages(c: &Conn, id: i64, uids: &[i64]) -> Result<Vec<i64>, PgError> {
    let rows = c.query(
        "DELETE FROM messages WHERE mailbox = $1 AND uid = ANY($2) RETURNING blob, uid",
        &[&id, &uids],
    )?;
    let gone: Vec<i64> = rows.iter().map(|r| r.get(1)).collect();
    record_vanished(c, id, &gone)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Records under a new MODSEQ of folder `id` that `uids` left it (QRESYNC's VANISHED).
pub(super) fn record_vanished(c: &Conn, id: i64, uids: &[i64]) -> Result<(), PgError> {
    let (_, modseq) = allocate(c, id, 0)?;
    c.execute(
        "INSERT INTO vanished (mailbox, uid, modseq) SELECT $1, u, $3 FROM unnest($2::bigint[]) u \
         ON CONFLICT (mailbox, uid) DO UPDATE SET modseq = EXCLUDED.modseq",
        &[&id, &uids, &modseq],
    )?;
    Ok(())
}

/// Adds one message to folder `id`: (UID).
pub(super) fn insert_message(
    c: &Conn,
    id: i64,
    blob: i64,
    size: i64,
    when: WallClock,
    flags: &[String],
    queue_id: Option<&str>,
) -> Result<i64, PgError> {
    let (uid, modseq) = allocate(c, id, 1)?;
    c.execute(
        "INSERT INTO messages (mailbox, uid, blob, size, internal_date, date_offset, flags, \
         modseq, queue_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &id,
            &uid,
            &blob,
            &size,
            &when.unix_secs,
            &when.utc_offset_minutes,
            &flags,
            &modseq,
            &queue_id,
        ],
    )?;
    Ok(uid)
}
