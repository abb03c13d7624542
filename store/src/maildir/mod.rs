//! The files backend with Maildir mailboxes (`[storage] mailbox_format = "maildir"`):
//! each user's mail under `data_dir/maildir/USER/` as Dovecot's Maildir++ layout keeps
//! it (INBOX the root, folder `A/B` in `.A.B`), readable and writable by Dovecot and
//! mutt at the same time: UIDs in `dovecot-uidlist`, keyword letters in
//! `dovecot-keywords`, flags in the file names (`:2,FS`).
//!
//! A delivery is a new file written in `tmp/`, fsynced, renamed into `new/`, and `new/`
//! fsynced: durable before it is reported, and never seen half-written. Quotas,
//! subscriptions and special-use attributes are kept as the mbox format keeps them, under
//! `data_dir/imap/USER/`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use postrider_core::imap::command::StoreMode;
use postrider_core::imap::search::{ContentFacts, ContentScan};
use postrider_core::imap::server::{
    FetchedMessage, ListEntry, MailboxView, StatusInfo, StoreError,
};
use postrider_core::imap::store::{FetchPart, FlagChanges};
use postrider_core::imf::datetime::WallClock;
use postrider_core::maildir::{size_field, split_name};
use postrider_core::pop3::OpenError;

use crate::accounts::AccountStore;
use crate::mail_files::{valid_folder, FilesMailboxes};
use crate::mailbox::{
    Arrival, CommittedBatch, DeliveryBatch, Mailboxes, Maildrop, MessageChunks, Stored,
};

mod files;
pub(crate) mod folder;
mod maildrop;
mod uidlist;
mod user;

use files::{crlf_size, is_maildir, make_maildir, to_stored, unique_base, write_message};
use folder::{MaildirFolder, Placed};
use user::UserMaildir;

/// The Maildir mailboxes of every account.
#[derive(Debug)]
pub struct MaildirMailboxes {
    data_dir: PathBuf,
    /// The per-user state both formats keep alike (quotas, subscriptions).
    state: FilesMailboxes,
    /// Folders shared by all sessions of the process, by directory.
    folders: Mutex<HashMap<PathBuf, Arc<Mutex<MaildirFolder>>>>,
}

impl MaildirMailboxes {
    /// The mailboxes of the accounts in `accounts`, under `data_dir`.
    pub fn new(data_dir: &Path, accounts: Arc<dyn AccountStore>) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            state: FilesMailboxes::new(data_dir, accounts),
            folders: Mutex::default(),
        }
    }

    /// A user's Maildir++ root (their INBOX).
    pub fn root(&self, user: &str) -> PathBuf {
        self.data_dir.join("maildir").join(user)
    }

    fn user(&self, user: &str) -> UserMaildir<'_> {
        UserMaildir {
            store: self,
            user: user.to_string(),
        }
    }

    /// Local delivery (see [`Mailboxes::deliver`]): a new file in the folder's `new/`
    /// (in `cur/` with its flags when Sieve gave some).
    fn deliver_into(&self, a: &Arrival<'_>) -> Result<Stored, String> {
        let u = self.user(a.user);
        let failed = |e: std::io::Error| format!("cannot deliver to {}: {e}", a.user);
        let inbox = || (self.root(a.user), "INBOX".to_string());
        let (dir, folder) = match a.folder {
            Some(f) if valid_folder(f) && f != "INBOX" => {
                let _ = u.create(f);
                match u.dir_of(f) {
                    Ok(d) if is_maildir(&d) => (d, f.to_string()),
                    _ => inbox(),
                }
            }
            _ => inbox(),
        };
        make_maildir(&dir, folder != "INBOX").map_err(failed)?;
        let mut stored = to_stored(a.fields);
        stored.extend_from_slice(&to_stored(a.message));
        if a.recovering && delivered_before(&dir, a.queue_id, stored.len() as u64) {
            return Ok(Stored::AlreadyThere(folder));
        }
        let base = unique_base(a.queue_id, stored.len() as u64, crlf_size(&stored));
        if a.flags.is_empty() {
            write_message(&dir, &base, None, &stored, None).map_err(failed)?;
            return Ok(Stored::Delivered(folder));
        }
        let f = u.folder(&folder).map_err(|e| e.text)?;
        let mut f = lock(&f);
        let letters = f.letters(a.flags).map_err(failed)?;
        write_message(&dir, &base, Some(&letters), &stored, None).map_err(failed)?;
        let placed = Placed {
            base,
            flags: a.flags.to_vec(),
            date: a.when,
        };
        // The message is durable already; a failure to number it now is found later.
        if let Err(e) = f.adopt(&[placed]) {
            tracing::warn!("maildir: {}: {e}", a.user);
        }
        Ok(Stored::Delivered(folder))
    }
}

/// Whether a delivery of queue entry `queue_id` (`stored_len` octets) is in `dir` already
/// (written before a crash cut the queue's record of it short).
fn delivered_before(dir: &Path, queue_id: &str, stored_len: u64) -> bool {
    let tag: String = queue_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    if tag.is_empty() {
        return false;
    }
    let marker = format!("_{tag}.");
    ["new", "cur"].iter().any(|sub| {
        std::fs::read_dir(dir.join(sub)).is_ok_and(|rd| {
            rd.flatten().any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let base = split_name(&name).0;
                base.contains(&marker) && size_field(base, 'S') == Some(stored_len)
            })
        })
    })
}

/// Locks a mutex, a poisoned one too (its data is plain state, still consistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Mailboxes for MaildirMailboxes {
    fn ensure_special_use(&self, user: &str) {
        self.user(user).ensure_special_use();
    }

    fn reads_locally(&self) -> bool {
        true
    }

    fn view(&self, user: &str, name: &str, claim_recent: bool) -> Result<MailboxView, StoreError> {
        self.user(user).view(name, claim_recent)
    }

    fn status(&self, user: &str, name: &str) -> Result<StatusInfo, StoreError> {
        self.user(user).status(name)
    }

    fn fetch(
        &self,
        user: &str,
        name: &str,
        uids: &[u32],
        part: FetchPart,
    ) -> Result<Vec<FetchedMessage>, StoreError> {
        self.user(user).fetch(name, uids, part)
    }

    fn open_message(
        &self,
        user: &str,
        name: &str,
        uid: u32,
    ) -> Result<Box<dyn MessageChunks>, StoreError> {
        Ok(Box::new(self.user(user).open_message(name, uid)?))
    }

    fn scan(
        &self,
        user: &str,
        name: &str,
        uids: &[u32],
        scan: &ContentScan,
    ) -> Result<Vec<(u32, ContentFacts)>, StoreError> {
        self.user(user).scan(name, uids, scan)
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
        (self.user(user)).store_flags(name, uids, mode, flags, unchanged_since)
    }

    fn expunge(&self, user: &str, name: &str, uids: &[u32]) -> Result<(), StoreError> {
        self.user(user).expunge(name, uids)
    }

    fn vanished(&self, user: &str, name: &str, since: u64) -> Result<Vec<u32>, StoreError> {
        self.user(user).vanished(name, since)
    }

    fn append(
        &self,
        user: &str,
        name: &str,
        flags: &[String],
        date: Option<WallClock>,
        message: &[u8],
    ) -> Result<(u32, u32), StoreError> {
        self.user(user).append(name, flags, date, message)
    }

    fn copy(
        &self,
        user: &str,
        name: &str,
        uids: &[u32],
        to: &str,
        is_move: bool,
    ) -> Result<(u32, Vec<(u32, u32)>), StoreError> {
        self.user(user).copy(name, uids, to, is_move)
    }

    fn create(&self, user: &str, name: &str) -> Result<(), StoreError> {
        self.user(user).create(name)
    }

    fn create_special_use(
        &self,
        user: &str,
        name: &str,
        uses: &[String],
    ) -> Result<(), StoreError> {
        self.user(user).create_special_use(name, uses)
    }

    fn delete(&self, user: &str, name: &str) -> Result<(), StoreError> {
        self.user(user).delete(name)
    }

    fn rename(&self, user: &str, from: &str, to: &str) -> Result<(), StoreError> {
        self.user(user).rename(from, to)
    }

    fn subscribe(&self, user: &str, name: &str, on: bool) -> Result<(), StoreError> {
        self.state.subscribe(user, name, on)
    }

    fn quota(&self, user: &str) -> Result<Option<u64>, StoreError> {
        self.state.quota(user)
    }

    fn set_quota(&self, user: &str, limit: Option<u64>) -> Result<(), StoreError> {
        self.state.set_quota(user, limit)
    }

    fn subscriptions(&self, user: &str) -> Vec<String> {
        self.state.subscriptions(user)
    }

    fn list(&self, user: &str, reference: &str, pattern: &str, subscribed: bool) -> Vec<ListEntry> {
        self.user(user).list(reference, pattern, subscribed)
    }

    fn open_maildrop(&self, user: &str) -> Result<Box<dyn Maildrop>, OpenError> {
        let failed = |e: std::io::Error| OpenError::Failed(e.to_string());
        let session = crate::maildrop::session_lock(&self.data_dir.join("locks"), user)?;
        let folder =
            (self.user(user).folder("INBOX")).map_err(|e| OpenError::Failed(e.text.to_string()))?;
        let drop = maildrop::MaildirMaildrop::open(folder, session).map_err(failed)?;
        Ok(Box::new(drop))
    }

    fn deliver(
        &self,
        a: &Arrival<'_>,
        batch: Option<&mut dyn DeliveryBatch>,
    ) -> Result<Stored, String> {
        let stored = self.deliver_into(a)?;
        let batch = batch.and_then(|b| b.as_any_mut().downcast_mut::<CommittedBatch>());
        if let (Some(b), Stored::Delivered(folder)) = (batch, &stored) {
            b.note(&format!("{}/{folder}", a.user), a.message.len() as u64);
        }
        Ok(stored)
    }

    fn begin_batch(&self) -> Box<dyn DeliveryBatch> {
        Box::new(CommittedBatch::default())
    }
}
