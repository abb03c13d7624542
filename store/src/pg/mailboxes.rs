//! IMAP folders in the database: one row per folder (UIDVALIDITY, UIDNEXT, MODSEQ, the
//! `\Recent` mark), one per message (UID, flags, date, size, blob). UIDs and MODSEQs are
//! allocated by an `UPDATE ... RETURNING` on the folder's row inside the transaction that
//! adds the messages, so appends from several nodes at once get unique, increasing UIDs.

use std::sync::Arc;

use postrider_core::imap::command::StoreMode;
use postrider_core::imap::search::{ContentFacts, ContentScan};
use postrider_core::imap::server::{
    FetchedMessage, ListEntry, MailboxView, MessageMeta, StatusInfo, StoreError,
};
use postrider_core::imap::store::{apply_store, FetchPart, FlagChanges};
use postrider_core::imf::datetime::WallClock;
use postrider_core::pop3::OpenError;

use super::blobs::{self, BlobChunks};
use super::changes::{notify, Changes, Stamp, RECHECK};
use super::folders::{
    allocate, canonical, db, err, existing, folder, insert_message, record_vanished,
    remove_messages, uids_param, Folder,
};
use super::maildrop::PgMaildrop;
use super::pool::{Conn, PgError, Pool};
use crate::listing::{folder_tree, list_entries, SPECIAL_USE};
use crate::mail_files::valid_folder;
use crate::mailbox::{Arrival, DeliveryBatch, Mailboxes, Maildrop, MessageChunks, Stored};

/// Every user's folders in one database.
#[derive(Debug)]
pub struct PgMailboxes {
    pub(super) pool: Arc<Pool>,
    /// This node's name (POP3 locks name their holder).
    pub(super) node: String,
    /// This process among the node's lives (POP3 locks of an earlier one are stale).
    incarnation: String,
    /// The messages of recently viewed folders by folder id, with the MODSEQ they were
    /// read at: every change bumps the folder's MODSEQ, so an unchanged one is served
    /// from here (NOOP and IDLE cost one small query).
    views: std::sync::Mutex<std::collections::HashMap<i64, CachedView>>,
    /// Change notices from every node, and the views read since a notice (by user and
    /// folder name): served without asking the database while no notice came.
    changes: Arc<Changes>,
    quiet: std::sync::Mutex<std::collections::HashMap<(String, String), Quiet>>,
}

/// A folder's state as last read, trusted while its [`Stamp`] holds.
#[derive(Debug, Clone)]
struct Quiet {
    stamp: Stamp,
    at: std::time::Instant,
    folder: Folder,
    uid_next: i64,
    recent_from: i64,
    /// The folder's MODSEQ when its messages were read (HIGHESTMODSEQ).
    modseq: i64,
    messages: Arc<Vec<MessageMeta>>,
}

/// A folder's messages and the MODSEQ they were read at.
type CachedView = (i64, Arc<Vec<MessageMeta>>);

/// Folders whose messages are kept in [`PgMailboxes::views`] at most.
const CACHED_VIEWS: usize = 1024;

/// The view a session gets: `recent_from` says which messages are `\Recent` for it.
fn shown(q: &Quiet, recent_from: i64) -> MailboxView {
    MailboxView {
        uid_validity: q.folder.uid_validity,
        uid_next: q.uid_next as u32,
        highest_modseq: q.modseq.max(0) as u64,
        messages: q.messages.to_vec(),
        recent: q
            .messages
            .iter()
            .filter(|m| i64::from(m.uid) >= recent_from)
            .map(|m| m.uid)
            .collect(),
    }
}

/// A message's row as a view lists it (`uid, flags, internal_date, date_offset, size,
/// modseq`).
fn meta(r: &tokio_postgres::Row) -> MessageMeta {
    MessageMeta {
        uid: r.get::<_, i64>(0) as u32,
        flags: r.get(1),
        internal_date: WallClock {
            unix_secs: r.get(2),
            utc_offset_minutes: r.get(3),
        },
        size: r.get::<_, i64>(4) as u64,
        modseq: r.get::<_, i64>(5).max(0) as u64,
    }
}

/// Every message of folder `id`, by UID.
fn whole_folder(c: &Conn, id: i64) -> Result<Vec<MessageMeta>, PgError> {
    let rows = c.query(
        "SELECT uid, flags, internal_date, date_offset, size, modseq FROM messages \
         WHERE mailbox = $1 ORDER BY uid",
        &[&id],
    )?;
    Ok(rows.iter().map(meta).collect())
}

/// `old` (folder `id` at MODSEQ `at`) with the messages added or re-flagged since; None
/// when some were expunged (nothing changed row-wise, or the count disagrees), as then
/// the whole folder must be read.
fn changed_since(
    c: &Conn,
    id: i64,
    at: i64,
    old: &[MessageMeta],
) -> Result<Option<Vec<MessageMeta>>, PgError> {
    let rows = c.query(
        "SELECT uid, flags, internal_date, date_offset, size, modseq, \
                (SELECT count(*) FROM messages WHERE mailbox = $1) \
         FROM messages WHERE mailbox = $1 AND modseq > $2 ORDER BY uid",
        &[&id, &at],
    )?;
    let Some(total) = rows.first().map(|r| r.get::<_, i64>(6)) else {
        return Ok(None);
    };
    let changed: Vec<MessageMeta> = rows.iter().map(meta).collect();
    let merged = merge_by_uid(old, changed);
    Ok((merged.len() as i64 == total).then_some(merged))
}

/// Two lists sorted by UID merged into one; `newer` wins where both have a UID.
fn merge_by_uid(old: &[MessageMeta], newer: Vec<MessageMeta>) -> Vec<MessageMeta> {
    let mut out = Vec::with_capacity(old.len() + newer.len());
    let mut old = old.iter().peekable();
    for m in newer {
        while let Some(o) = old.next_if(|o| o.uid < m.uid) {
            out.push(o.clone());
        }
        old.next_if(|o| o.uid == m.uid);
        out.push(m);
    }
    out.extend(old.cloned());
    out
}

impl PgMailboxes {
    /// The folders of the database behind `pool`, served by node `node`.
    pub fn new(pool: Arc<Pool>, node: &str) -> Self {
        Self {
            changes: Changes::listen(&pool),
            pool,
            node: node.to_string(),
            incarnation: crate::queue::new_queue_id(),
            views: Default::default(),
            quiet: Default::default(),
        }
    }

    /// The messages of folder `id` at `modseq`: from the cache when it is that recent,
    /// else the cached list brought up to date with the rows changed since (new
    /// messages, new flags), else (nothing cached, or messages were expunged) read whole.
    fn messages(&self, c: &Conn, id: i64, modseq: i64) -> Result<Arc<Vec<MessageMeta>>, PgError> {
        let views = || {
            self.views
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let cached = views().get(&id).cloned();
        let msgs = match cached {
            Some((at, msgs)) if at == modseq => return Ok(msgs),
            Some((at, old)) if at < modseq => match changed_since(c, id, at, &old)? {
                Some(msgs) => msgs,
                None => whole_folder(c, id)?,
            },
            _ => whole_folder(c, id)?,
        };
        let msgs = Arc::new(msgs);
        let mut cache = views();
        if cache.len() >= CACHED_VIEWS {
            cache.clear();
        }
        cache.insert(id, (modseq, msgs.clone()));
        Ok(msgs)
    }

    /// Reads a folder's state; with `claim`, the messages not claimed yet become this
    /// caller's `\Recent` (the returned `recent_from` says which). The stamp is taken
    /// before reading, so a notice arriving meanwhile makes the next view read again.
    fn read_view(&self, user: &str, name: &str, claim: bool) -> Result<(Quiet, i64), StoreError> {
        let c = self.conn()?;
        let folder = existing(&c, user, name, "NONEXISTENT")?;
        let stamp = self.changes.stamp(folder.id);
        let at = std::time::Instant::now();
        for _ in 0..5 {
            let row = c
                .query_opt(
                    "SELECT recent_from, uid_next, modseq FROM mailboxes WHERE id = $1",
                    &[&folder.id],
                )
                .map_err(db)?
                .ok_or_else(|| err("NONEXISTENT", "Mailbox doesn't exist"))?;
            let (recent_from, uid_next, modseq): (i64, i64, i64) =
                (row.get(0), row.get(1), row.get(2));
            let mut after_claim = recent_from;
            if claim && recent_from < uid_next {
                // Only if nobody claimed meanwhile (else read again).
                let claimed = c
                    .execute(
                        "UPDATE mailboxes SET recent_from = $2 WHERE id = $1 AND recent_from = $3",
                        &[&folder.id, &uid_next, &recent_from],
                    )
                    .map_err(db)?;
                if claimed == 0 {
                    continue;
                }
                notify(&c, folder.id).map_err(db)?;
                after_claim = uid_next;
            }
            let messages = self.messages(&c, folder.id, modseq).map_err(db)?;
            let q = Quiet {
                // Without a stamp (not listening) the entry is never trusted.
                stamp: stamp.unwrap_or(Stamp::NEVER),
                at,
                folder,
                uid_next,
                recent_from: after_claim,
                modseq,
                messages,
            };
            // The caller sees what it claimed; the cache keeps what is left to claim.
            return Ok((q, recent_from));
        }
        Err(err("INUSE", "The mailbox is busy, try again."))
    }

    fn conn(&self) -> Result<super::pool::Lent<'_>, StoreError> {
        self.pool.get().map_err(db)
    }

    /// (uid, blob, size) of the messages of `uids` still in folder `id`, in UID order.
    fn present(c: &Conn, id: i64, uids: &[u32]) -> Result<Vec<(u32, i64, i64)>, PgError> {
        let rows = c.query(
            "SELECT uid, blob, size FROM messages WHERE mailbox = $1 AND uid = ANY($2) \
             ORDER BY uid",
            &[&id, &uids_param(uids)],
        )?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, i64>(0) as u32, r.get(1), r.get(2)))
            .collect())
    }
}

impl PgMailboxes {
    /// CREATE, with the special-use attributes it gives (none for a plain CREATE).
    fn create_folder(&self, user: &str, name: &str, uses: &[String]) -> Result<(), StoreError> {
        let selectable = !name.ends_with('/');
        let name = canonical(name.trim_end_matches('/'));
        if name == "INBOX" {
            return Err(err("ALREADYEXISTS", "Mailbox already exists"));
        }
        if !valid_folder(name) {
            return Err(err(
                "CANNOT",
                "Invalid mailbox name (printable modified UTF-7 only)",
            ));
        }
        let c = self.conn()?;
        let n = c
            .execute(
                "INSERT INTO mailboxes (account, name, selectable, special_use) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&user, &name, &selectable, &uses.join(" ")],
            )
            .map_err(db)?;
        if n == 0 {
            return Err(err("ALREADYEXISTS", "Mailbox already exists"));
        }
        Ok(())
    }
}

impl Mailboxes for PgMailboxes {
    fn ensure_special_use(&self, user: &str) {
        let made = self.pool.get().and_then(|c| {
            for (name, _) in SPECIAL_USE {
                c.execute(
                    "INSERT INTO mailboxes (account, name) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                    &[&user, &name],
                )?;
            }
            Ok(())
        });
        if let Err(e) = made {
            tracing::error!("imap: {user}: special-use folders: {e}");
        }
    }

    fn view(&self, user: &str, name: &str, claim_recent: bool) -> Result<MailboxView, StoreError> {
        let (q, recent_from) = self.read_view(user, name, claim_recent)?;
        let key = (user.to_string(), canonical(name).to_string());
        self.quiet
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, q.clone());
        Ok(shown(&q, recent_from))
    }

    fn poll_view(
        &self,
        user: &str,
        name: &str,
        claim_recent: bool,
    ) -> Result<MailboxView, StoreError> {
        let key = (user.to_string(), canonical(name).to_string());
        let quiet = || {
            self.quiet
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let cached = quiet().get(&key).cloned();
        let (q, recent_from) = match cached {
            // Nothing changed anywhere since (no notice), and nothing to claim.
            Some(q)
                if self.changes.stamp(q.folder.id) == Some(q.stamp)
                    && q.at.elapsed() < RECHECK
                    && (!claim_recent || q.recent_from >= q.uid_next) =>
            {
                let from = q.recent_from;
                (q, from)
            }
            _ => {
                let (q, from) = self.read_view(user, name, claim_recent)?;
                quiet().insert(key, q.clone());
                (q, from)
            }
        };
        Ok(shown(&q, recent_from))
    }

    fn status(&self, user: &str, name: &str) -> Result<StatusInfo, StoreError> {
        let c = self.conn()?;
        let f = existing(&c, user, name, "NONEXISTENT")?;
        let row = c
            .query_opt(
                "SELECT m.uid_next, \
                   (SELECT count(*) FROM messages WHERE mailbox = m.id), \
                   (SELECT count(*) FROM messages WHERE mailbox = m.id AND uid >= m.recent_from), \
                   (SELECT count(*) FROM messages WHERE mailbox = m.id \
                      AND NOT ('\\Seen' = ANY(flags))), \
                   (SELECT coalesce(sum(size), 0)::bigint FROM messages WHERE mailbox = m.id), \
                   m.modseq, \
                   (SELECT count(*) FROM messages WHERE mailbox = m.id \
                      AND '\\Deleted' = ANY(flags)) \
                 FROM mailboxes m WHERE m.id = $1",
                &[&f.id],
            )
            .map_err(db)?
            .ok_or_else(|| err("NONEXISTENT", "Mailbox doesn't exist"))?;
        Ok(StatusInfo {
            uid_next: row.get::<_, i64>(0) as u32,
            messages: row.get::<_, i64>(1) as u32,
            recent: row.get::<_, i64>(2) as u32,
            unseen: row.get::<_, i64>(3) as u32,
            uid_validity: f.uid_validity,
            size: row.get::<_, i64>(4) as u64,
            highest_modseq: row.get::<_, i64>(5).max(0) as u64,
            deleted: row.get::<_, i64>(6) as u32,
        })
    }

    fn quota(&self, user: &str) -> Result<Option<u64>, StoreError> {
        let c = self.conn()?;
        let row = c
            .query_opt("SELECT bytes FROM quotas WHERE account = $1", &[&user])
            .map_err(db)?;
        Ok(row.map(|r| r.get::<_, i64>(0) as u64))
    }

    fn set_quota(&self, user: &str, limit: Option<u64>) -> Result<(), StoreError> {
        let c = self.conn()?;
        match limit {
            Some(n) => c.execute(
                "INSERT INTO quotas (account, bytes) VALUES ($1, $2) \
                 ON CONFLICT (account) DO UPDATE SET bytes = EXCLUDED.bytes",
                &[&user, &(n.min(i64::MAX as u64) as i64)],
            ),
            None => c.execute("DELETE FROM quotas WHERE account = $1", &[&user]),
        }
        .map_err(db)?;
        Ok(())
    }

    fn usage(&self, user: &str) -> Result<u64, StoreError> {
        let c = self.conn()?;
        let row = c
            .query_opt(
                "SELECT coalesce(sum(m.size), 0)::bigint FROM messages m \
                 JOIN mailboxes b ON m.mailbox = b.id WHERE b.account = $1",
                &[&user],
            )
            .map_err(db)?;
        Ok(row.map_or(0, |r| r.get::<_, i64>(0) as u64))
    }

    fn fetch(
        &self,
        user: &str,
        name: &str,
        uids: &[u32],
        part: FetchPart,
    ) -> Result<Vec<FetchedMessage>, StoreError> {
        let c = self.conn()?;
        let f = existing(&c, user, name, "NONEXISTENT")?;
        let rows = c
            .query(
                "SELECT m.uid, m.blob, b.size, b.header_size FROM messages m \
                 JOIN blobs b ON b.id = m.blob WHERE m.mailbox = $1 AND m.uid = ANY($2) \
                 ORDER BY m.uid",
                &[&f.id, &uids_param(uids)],
            )
            .map_err(db)?;
        let wanted: Vec<(i64, u64)> = rows
            .iter()
            .map(|r| {
                let len: i64 = match part {
                    FetchPart::Full => r.get(2),
                    FetchPart::Header => r.get(3),
                };
                (r.get(1), len as u64)
            })
            .collect();
        let datas = blobs::read_many(&c, &wanted).map_err(db)?;
        Ok(rows
            .iter()
            .zip(datas)
            .map(|(r, data)| FetchedMessage {
                uid: r.get::<_, i64>(0) as u32,
                data: data.into(),
            })
            .collect())
    }

    fn open_message(
        &self,
        user: &str,
        name: &str,
        uid: u32,
    ) -> Result<Box<dyn MessageChunks>, StoreError> {
        let c = self.conn()?;
        let f = existing(&c, user, name, "NONEXISTENT")?;
        let found = Self::present(&c, f.id, &[uid]).map_err(db)?;
        let Some(&(_, blob, _)) = found.first() else {
            return Err(err("EXPUNGEISSUED", "The message was expunged."));
        };
        Ok(Box::new(BlobChunks::new(self.pool.clone(), blob)))
    }

    fn scan(
        &self,
        user: &str,
        name: &str,
        uids: &[u32],
        scan: &ContentScan,
    ) -> Result<Vec<(u32, ContentFacts)>, StoreError> {
        let found = {
            let c = self.conn()?;
            let f = existing(&c, user, name, "NONEXISTENT")?;
            Self::present(&c, f.id, uids).map_err(db)?
        };
        let mut out = Vec::with_capacity(found.len());
        for (uid, blob, _) in found {
            let mut one = scan.clone();
            let mut chunks = BlobChunks::new(self.pool.clone(), blob);
            while one.wants_more() {
                match chunks.next_chunk() {
                    Ok(Some(chunk)) => one.feed(&chunk),
                    Ok(None) => break,
                    Err(e) => return Err(db(PgError::Connect(e.to_string()))),
                }
            }
            out.push((uid, one.finish()));
        }
        Ok(out)
    }

    fn store_flags(
        &self,
        user: &str,
        name: &str,
        uids: &[u32],
        mode: StoreMode,
        flags: &[String],
        unchanged_since: Option<u64>,
    ) -> Result<FlagChanges, StoreError> {
        let f = existing(&*self.conn()?, user, name, "NONEXISTENT")?;
        self.pool
            .transaction_lazy_commit(|c| {
                // The rows are locked: the UNCHANGEDSINCE test holds until the change.
                let rows = c.query(
                    "SELECT uid, flags, modseq FROM messages WHERE mailbox = $1 \
                     AND uid = ANY($2) ORDER BY uid FOR UPDATE",
                    &[&f.id, &uids_param(uids)],
                )?;
                let mut out = FlagChanges::default();
                // Messages whose flags change, grouped by their new flags: one UPDATE
                // per group (usually one), none and no new MODSEQ when nothing changes.
                let mut groups: Vec<(Vec<String>, Vec<i64>)> = Vec::new();
                for r in &rows {
                    let uid: i64 = r.get(0);
                    let modseq = r.get::<_, i64>(2).max(0) as u64;
                    if unchanged_since.is_some_and(|n| modseq > n) {
                        out.modified.push(uid as u32);
                        continue;
                    }
                    let before: Vec<String> = r.get(1);
                    let mut now = before.clone();
                    apply_store(&mut now, mode, flags);
                    if now != before {
                        match groups.iter_mut().find(|(f, _)| *f == now) {
                            Some((_, uids)) => uids.push(uid),
                            None => groups.push((now.clone(), vec![uid])),
                        }
                    }
                    out.flags.push((uid as u32, now, modseq));
                }
                if !groups.is_empty() {
                    let (_, modseq) = allocate(c, f.id, 0)?;
                    for (now, uids) in &groups {
                        c.execute(
                            "UPDATE messages SET flags = $3, modseq = $4 \
                             WHERE mailbox = $1 AND uid = ANY($2)",
                            &[&f.id, uids, now, &modseq],
                        )?;
                    }
                    let changed: std::collections::HashSet<u32> = groups
                        .iter()
                        .flat_map(|g| g.1.iter().map(|&u| u as u32))
                        .collect();
                    for m in out.flags.iter_mut().filter(|m| changed.contains(&m.0)) {
                        m.2 = modseq.max(0) as u64;
                    }
                }
                Ok(out)
            })
            .map_err(db)
    }

    fn vanished(&self, user: &str, name: &str, since: u64) -> Result<Vec<u32>, StoreError> {
        let c = self.conn()?;
        let f = existing(&c, user, name, "NONEXISTENT")?;
        let since = since.min(i64::MAX as u64) as i64;
        let rows = c
            .query(
                "SELECT uid FROM vanished WHERE mailbox = $1 AND modseq > $2 ORDER BY uid",
                &[&f.id, &since],
            )
            .map_err(db)?;
        Ok(rows.iter().map(|r| r.get::<_, i64>(0) as u32).collect())
    }

    fn expunge(&self, user: &str, name: &str, uids: &[u32]) -> Result<(), StoreError> {
        let f = existing(&*self.conn()?, user, name, "NONEXISTENT")?;
        self.pool
            .transaction(|c| {
                let gone = remove_messages(c, f.id, &uids_param(uids))?;
                blobs::drop_unreferenced(c, &gone)
            })
            .map_err(db)
    }

    fn append(
        &self,
        user: &str,
        name: &str,
        flags: &[String],
        date: Option<WallClock>,
        message: &[u8],
    ) -> Result<(u32, u32), StoreError> {
        let f = existing(&*self.conn()?, user, name, "TRYCREATE")?;
        let when = date.unwrap_or_else(|| WallClock::utc(crate::queue::unix_now()));
        let message = postrider_core::submission::to_crlf(message);
        let uid = self
            .pool
            .transaction(|c| {
                let blob = blobs::put(c, &message)?;
                insert_message(c, f.id, blob, message.len() as i64, when, flags, None)
            })
            .map_err(db)?;
        Ok((f.uid_validity, uid as u32))
    }

    fn copy(
        &self,
        user: &str,
        name: &str,
        uids: &[u32],
        to: &str,
        is_move: bool,
    ) -> Result<(u32, Vec<(u32, u32)>), StoreError> {
        let (src, dst) = {
            let c = self.conn()?;
            let dst = existing(&c, user, to, "TRYCREATE")?;
            (existing(&c, user, name, "NONEXISTENT")?, dst)
        };
        let mut wanted: Vec<i64> = uids_param(uids);
        wanted.sort_unstable();
        wanted.dedup();
        let result = self.pool.transaction(|c| {
            let rows = c.query(
                "SELECT uid, blob, size, internal_date, date_offset, flags FROM messages \
                 WHERE mailbox = $1 AND uid = ANY($2) ORDER BY uid FOR UPDATE",
                &[&src.id, &wanted],
            )?;
            if rows.len() < wanted.len() {
                return Ok(None);
            }
            let (first, modseq) = allocate(c, dst.id, rows.len() as i64)?;
            let mut pairs = Vec::with_capacity(rows.len());
            for (k, r) in rows.iter().enumerate() {
                let (uid, new): (i64, i64) = (r.get(0), first + k as i64);
                c.execute(
                    "INSERT INTO messages (mailbox, uid, blob, size, internal_date, \
                     date_offset, flags, modseq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        &dst.id,
                        &new,
                        &r.get::<_, i64>(1),
                        &r.get::<_, i64>(2),
                        &r.get::<_, i64>(3),
                        &r.get::<_, i32>(4),
                        &r.get::<_, Vec<String>>(5),
                        &modseq,
                    ],
                )?;
                pairs.push((uid as u32, new as u32));
            }
            if is_move {
                // The blobs stay: the copies use them.
                remove_messages(c, src.id, &wanted)?;
            }
            Ok(Some(pairs))
        });
        match result.map_err(db)? {
            Some(pairs) => Ok((dst.uid_validity, pairs)),
            // All or nothing, as Dovecot answers (RFC 2180 §4.4.2).
            None => Err(err(
                "EXPUNGEISSUED",
                "Some of the requested messages no longer exist.",
            )),
        }
    }

    fn create(&self, user: &str, name: &str) -> Result<(), StoreError> {
        self.create_folder(user, name, &[])
    }

    fn create_special_use(
        &self,
        user: &str,
        name: &str,
        uses: &[String],
    ) -> Result<(), StoreError> {
        self.create_folder(user, name, uses)
    }

    fn delete(&self, user: &str, name: &str) -> Result<(), StoreError> {
        let name = canonical(name);
        if name == "INBOX" {
            return Err(err("CANNOT", "INBOX can't be deleted."));
        }
        let f = match folder(&*self.conn()?, user, name).map_err(db)? {
            Some(f) => f,
            None => return Err(err("NONEXISTENT", "Mailbox doesn't exist")),
        };
        self.pool
            .transaction(|c| {
                let rows = c.query(
                    "DELETE FROM messages WHERE mailbox = $1 RETURNING blob",
                    &[&f.id],
                )?;
                c.execute("DELETE FROM mailboxes WHERE id = $1", &[&f.id])?;
                notify(c, f.id)?;
                let gone: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
                blobs::drop_unreferenced(c, &gone)
            })
            .map_err(db)
    }

    fn rename(&self, user: &str, from: &str, to: &str) -> Result<(), StoreError> {
        let (from, to) = (canonical(from), canonical(to));
        if !valid_folder(to) || to == "INBOX" {
            return Err(err("CANNOT", "Invalid mailbox name"));
        }
        let c = self.conn()?;
        let src = existing(&c, user, from, "NONEXISTENT")?;
        if folder(&c, user, to).map_err(db)?.is_some() {
            return Err(err("ALREADYEXISTS", "Mailbox already exists"));
        }
        drop(c);
        self.pool
            .transaction(|c| {
                if from == "INBOX" {
                    // INBOX stays; its messages move to the new folder (RFC 3501 §6.3.5).
                    c.execute(
                        "INSERT INTO mailboxes (account, name) VALUES ($1, $2)",
                        &[&user, &to],
                    )?;
                    let row = c.query_opt(
                        "SELECT id FROM mailboxes WHERE account = $1 AND name = $2",
                        &[&user, &to],
                    )?;
                    let new: i64 = row.map(|r| r.get(0)).unwrap_or_default();
                    let rows = c.query(
                        "SELECT uid FROM messages WHERE mailbox = $1 ORDER BY uid FOR UPDATE",
                        &[&src.id],
                    )?;
                    let (first, _) = allocate(c, new, rows.len() as i64)?;
                    for (k, r) in rows.iter().enumerate() {
                        c.execute(
                            "UPDATE messages SET mailbox = $3, uid = $4 \
                             WHERE mailbox = $1 AND uid = $2",
                            &[&src.id, &r.get::<_, i64>(0), &new, &(first + k as i64)],
                        )?;
                    }
                    // INBOX's messages left it: they vanished from it.
                    let moved: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
                    record_vanished(c, src.id, &moved)?;
                    return Ok(());
                }
                let moved = c.query(
                    "UPDATE mailboxes SET name = $3 || substr(name, length($2) + 1) \
                     WHERE account = $1 AND (name = $2 OR left(name, length($2) + 1) = $2 || '/') \
                     RETURNING id",
                    &[&user, &from, &to],
                )?;
                for r in &moved {
                    notify(c, r.get(0))?;
                }
                Ok(())
            })
            .map_err(db)
    }

    fn subscribe(&self, user: &str, name: &str, on: bool) -> Result<(), StoreError> {
        let name = canonical(name);
        let c = self.conn()?;
        let sql = if on {
            "INSERT INTO subscriptions (account, name) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM subscriptions WHERE account = $1 AND name = $2"
        };
        c.execute(sql, &[&user, &name]).map_err(db)?;
        Ok(())
    }

    fn subscriptions(&self, user: &str) -> Vec<String> {
        let found = self.pool.get().and_then(|c| {
            c.query(
                "SELECT name FROM subscriptions WHERE account = $1 ORDER BY name",
                &[&user],
            )
        });
        match found {
            Ok(rows) => rows.iter().map(|r| r.get(0)).collect(),
            Err(e) => {
                tracing::error!("imap: {user}: subscriptions: {e}");
                Vec::new()
            }
        }
    }

    fn list(&self, user: &str, reference: &str, pattern: &str, subscribed: bool) -> Vec<ListEntry> {
        let found = self.pool.get().and_then(|c| {
            folder(&c, user, "INBOX")?;
            let names = c.query(
                "SELECT name, selectable, special_use FROM mailboxes WHERE account = $1",
                &[&user],
            )?;
            let subs = c.query(
                "SELECT name FROM subscriptions WHERE account = $1 ORDER BY name",
                &[&user],
            )?;
            let uses: Vec<(String, Vec<String>)> = names
                .iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, String>(2)))
                .filter(|(_, u)| !u.is_empty())
                .map(|(n, u)| (n, u.split(' ').map(str::to_string).collect()))
                .collect();
            Ok((
                names
                    .iter()
                    .map(|r| (r.get(0), r.get(1)))
                    .collect::<Vec<_>>(),
                uses,
                subs.iter().map(|r| r.get(0)).collect::<Vec<String>>(),
            ))
        });
        match found {
            Ok((names, uses, subs)) => list_entries(
                folder_tree(&names),
                &uses,
                &subs,
                &format!("{reference}{pattern}"),
                subscribed,
            ),
            Err(e) => {
                tracing::error!("imap: {user}: LIST: {e}");
                Vec::new()
            }
        }
    }

    fn open_maildrop(&self, user: &str) -> Result<Box<dyn Maildrop>, OpenError> {
        PgMaildrop::open(self.pool.clone(), &self.node, &self.incarnation, user)
            .map(|m| Box::new(m) as _)
    }

    fn deliver(
        &self,
        a: &Arrival<'_>,
        batch: Option<&mut dyn DeliveryBatch>,
    ) -> Result<Stored, String> {
        let stored = super::delivery::deliver(&self.pool, a)?;
        let batch = batch.and_then(|b| {
            b.as_any_mut()
                .downcast_mut::<crate::mailbox::CommittedBatch>()
        });
        if let (Some(b), Stored::Delivered(folder)) = (batch, &stored) {
            b.note(&format!("{}/{folder}", a.user), a.message.len() as u64);
        }
        Ok(stored)
    }

    fn begin_batch(&self) -> Box<dyn DeliveryBatch> {
        Box::new(crate::mailbox::CommittedBatch::default())
    }
}
