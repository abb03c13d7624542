//! The IMAP mail store: INBOX is the user's spool mbox (shared with delivery and POP3),
//! other folders are mbox files under `~/mail/` (hierarchy separator `/`).
//!
//! UIDs, UIDVALIDITY, UIDNEXT, flags and keywords live in a sidecar index per folder
//! (`data_dir/imap/USER/...index`), keyed by each message's stable fingerprint (the same
//! digest as POP3's UIDL), so they survive restarts, POP3 deletions and rewrites. The
//! parsed state of each folder is cached in memory and shared by every session of the
//! process; a folder that only grew (deliveries) is scanned from where the last scan
//! stopped, so SELECT of a large folder does not reparse it. Expunge rewrites the mbox
//! crash-safely (new file, fsync, rename) under the delivery locks.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use postrider_core::imap::command::StoreMode;
use postrider_core::imap::search::{ContentFacts, ContentScan};
use postrider_core::imap::server::{
    FetchedMessage, ListEntry, MailboxView, StatusInfo, StoreError,
};
use postrider_core::imap::store::{FetchPart, FlagChanges};
use postrider_core::imf::datetime::WallClock;
use postrider_core::maildrop::MboxScanner;
use postrider_core::pop3::OpenError;

use crate::accounts::AccountStore;
use crate::accounts::Homes;
use crate::imap_folder::{flag_logs, Entry, Folder};
#[cfg(test)]
use crate::listing::wildcard_match;
use crate::listing::{list_entries, SPECIAL_USE};
use crate::mailbox::{Arrival, DeliveryBatch, Mailboxes, Maildrop, MessageChunks, Stored};
use crate::maildrop::MboxMaildrop;
use crate::mbox::{self, MboxBatch};
use crate::quota::QuotaFile;
use crate::special_use::SpecialUses;

fn err(code: Option<&str>, text: impl Into<String>) -> StoreError {
    StoreError::new(code, text)
}

/// A store failure as the client sees it: what kind of failure, never a path or the
/// system's error text (those go to the log).
pub(crate) fn io_err(e: io::Error) -> StoreError {
    if e.kind() == io::ErrorKind::WouldBlock {
        tracing::warn!("imap: {e}");
        return err(
            Some("INUSE"),
            "Mailbox is locked by another process, try again later.",
        );
    }
    tracing::error!("imap: store error: {e}");
    err(
        Some("SERVERBUG"),
        "Internal error occurred. Refer to server log for more information.",
    )
}

/// Whether a folder name is acceptable: valid modified UTF-7 (RFC 3501 §5.1.3; folder
/// files are named in it, as Dovecot names them), components of printable characters,
/// none empty, `.` or `..`, none starting with `.`.
pub fn valid_folder(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && postrider_core::imap::mutf7::is_valid(name)
        && name.split('/').all(|c| {
            !c.is_empty()
                && !c.starts_with(['.', '~'])
                && !c.chars().any(|ch| ch.is_control() || ch == '\\')
                && !is_internal_name(c)
        })
}

/// Whether a folder name component has the form of a file the store keeps beside the
/// folders: a dotlock (`NAME.lock`, and its `NAME.lock.PID.TIME` link), an index
/// (`NAME.index`, `.index.tmp`, `.index.logN`), or an editor backup (`NAME~`). Such a
/// folder would take the place of another folder's file and make that folder unusable.
fn is_internal_name(component: &str) -> bool {
    let lower = component.to_ascii_lowercase();
    lower.ends_with(".lock")
        || lower.contains(".lock.")
        || lower.ends_with(".index")
        || lower.contains(".index.")
        || lower.ends_with('~')
}

/// The files backend of the mailboxes: INBOX mbox files in the spool (`data_dir/mail/`,
/// or `/var/mail` with system accounts), folders under each user's home, their state
/// under `data_dir/imap/`, the folders' parsed state cached for every session.
#[derive(Debug)]
pub struct FilesMailboxes {
    data_dir: PathBuf,
    accounts: Arc<dyn AccountStore>,
    /// Folders shared by all sessions of the process.
    folders: Mutex<HashMap<PathBuf, Arc<Mutex<Folder>>>>,
}

impl FilesMailboxes {
    /// The mailboxes of the accounts in `accounts`, with state under `data_dir`.
    pub fn new(data_dir: &Path, accounts: Arc<dyn AccountStore>) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            accounts,
            folders: Mutex::default(),
        }
    }

    /// The store as `user` sees it.
    pub fn user(&self, user: &str) -> UserStore<'_> {
        UserStore {
            store: self,
            user: user.to_string(),
        }
    }

    /// The home directory of a local user (see [`Homes`]).
    pub fn home_of(&self, user: &str) -> Option<PathBuf> {
        Homes::new(&self.data_dir, self.accounts.clone()).home_of(user)
    }

    /// The INBOX mbox of a local mailbox name (`/var/mail/NAME` for system accounts).
    pub fn inbox_path(&self, user: &str) -> PathBuf {
        if self.accounts.is_system() {
            PathBuf::from("/var/mail").join(user)
        } else {
            self.data_dir.join("mail").join(user)
        }
    }
}

impl Mailboxes for FilesMailboxes {
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

    fn quota(&self, user: &str) -> Result<Option<u64>, StoreError> {
        QuotaFile::new(&self.data_dir).get(user).map_err(io_err)
    }

    fn set_quota(&self, user: &str, limit: Option<u64>) -> Result<(), StoreError> {
        QuotaFile::new(&self.data_dir)
            .set(user, limit)
            .map_err(io_err)
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
        self.user(user).open_message(name, uid)
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
        self.user(user)
            .set_flags(name, uids, mode, flags, unchanged_since)
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
        self.user(user).subscribe(name, on)
    }

    fn list(&self, user: &str, reference: &str, pattern: &str, subscribed: bool) -> Vec<ListEntry> {
        self.user(user).list(reference, pattern, subscribed)
    }

    fn subscriptions(&self, user: &str) -> Vec<String> {
        self.user(user).subscriptions()
    }

    fn open_maildrop(&self, user: &str) -> Result<Box<dyn Maildrop>, OpenError> {
        let locks = self.data_dir.join("locks");
        let drop = MboxMaildrop::open(&locks, user, self.inbox_path(user))?;
        Ok(Box::new(drop))
    }

    fn deliver(
        &self,
        a: &Arrival<'_>,
        batch: Option<&mut dyn DeliveryBatch>,
    ) -> Result<Stored, String> {
        // A batch of another backend cannot hold these appends: they are fsynced at once.
        let batch = batch.and_then(|b| b.as_any_mut().downcast_mut::<MboxBatch>());
        self.deliver_into(a, batch)
    }

    fn begin_batch(&self) -> Box<dyn DeliveryBatch> {
        Box::new(MboxBatch::new())
    }
}

impl FilesMailboxes {
    /// Delivers `a` into its folder (created when missing; an invalid or unusable folder
    /// falls back to INBOX), through `batch` when given (then durable only at the
    /// batch's commit), else fsynced at once. New system mailboxes are given to their
    /// user. Errors are for the log and the queue (temporary failures).
    fn deliver_into(
        &self,
        a: &Arrival<'_>,
        batch: Option<&mut MboxBatch>,
    ) -> Result<Stored, String> {
        let store = self.user(a.user);
        let inbox = || (self.inbox_path(a.user), "INBOX".to_string());
        let (path, folder) = match a.folder {
            Some(f) if valid_folder(f) => {
                let _ = store.create(f);
                store
                    .folder_file(f)
                    .map_or_else(|_| inbox(), |p| (p, f.to_string()))
            }
            _ => inbox(),
        };
        let entry = mbox::entry(a.sender, a.when, a.fields, a.message);
        let mut batch = batch;
        if a.recovering {
            if let Some(b) = batch.as_deref_mut() {
                b.release(&path);
            }
            let marker = format!("id {}", a.queue_id);
            match mbox::recover_delivery(&path, marker.as_bytes(), entry.len()) {
                Ok(true) => return Ok(Stored::AlreadyThere(folder)),
                Ok(false) => {}
                Err(e) => return Err(format!("cannot check mailbox {}: {e}", path.display())),
            }
        }
        let existed = path.exists();
        let written = match batch {
            Some(b) if !a.recovering => b.append(&path, &entry),
            _ => mbox::deliver_entry(&path, &entry),
        };
        written.map_err(|e| format!("cannot update mailbox {}: {e}", path.display()))?;
        if !existed && rustix::process::geteuid().is_root() {
            // A new system mailbox belongs to its user, as /var/mail files do.
            if let Some(e) = self.accounts.system_user(a.user) {
                let _ = std::os::unix::fs::chown(&path, Some(e.uid), Some(e.gid));
            }
        }
        if !a.flags.is_empty() {
            store.flag_delivered(&folder, &entry, a.flags);
        }
        Ok(Stored::Delivered(folder))
    }
}

/// The store as one user sees it.
#[derive(Debug)]
pub struct UserStore<'a> {
    store: &'a FilesMailboxes,
    user: String,
}

impl UserStore<'_> {
    fn mail_dir(&self) -> PathBuf {
        self.store
            .home_of(&self.user)
            .unwrap_or_else(|| self.store.data_dir.join("home").join(&self.user))
            .join("mail")
    }

    fn state_dir(&self) -> PathBuf {
        self.store.data_dir.join("imap").join(&self.user)
    }

    fn folder_path(&self, name: &str) -> Result<PathBuf, StoreError> {
        if name == "INBOX" {
            return Ok(self.store.inbox_path(&self.user));
        }
        if !valid_folder(name) {
            return Err(err(
                Some("CANNOT"),
                "Invalid mailbox name (printable modified UTF-7 only)",
            ));
        }
        let path = self.mail_dir().join(name);
        self.refuse_planted_links(&path)?;
        Ok(path)
    }

    /// With system accounts under root, a folder lives in a directory its user controls:
    /// the user could plant a link there (`~/mail/x -> /etc/shadow`) for the server to
    /// read or write as root. Every component below the home directory must be no
    /// symbolic link, and be owned by the user (or by root, when the server made it);
    /// a file with other names (a hard link) must be the user's.
    fn refuse_planted_links(&self, path: &Path) -> Result<(), StoreError> {
        if !rustix::process::geteuid().is_root() {
            return Ok(());
        }
        let Some(entry) = self.store.accounts.system_user(&self.user) else {
            return Ok(());
        };
        let Ok(rest) = path.strip_prefix(&entry.home) else {
            return Ok(());
        };
        let mut at = entry.home.clone();
        for part in rest.components() {
            at.push(part);
            let Ok(meta) = fs::symlink_metadata(&at) else {
                return Ok(()); // not there yet: nothing planted
            };
            let owner_ok = meta.uid() == entry.uid || meta.uid() == 0;
            let links_ok = meta.is_dir() || meta.nlink() == 1 || meta.uid() == entry.uid;
            if meta.file_type().is_symlink() || !owner_ok || !links_ok {
                tracing::warn!(
                    "imap: {}: {} is a link or not owned by the user; refused",
                    self.user,
                    at.display()
                );
                return Err(err(Some("NOPERM"), "Mailbox is not accessible."));
            }
        }
        Ok(())
    }

    fn folder(&self, name: &str) -> Result<Arc<Mutex<Folder>>, StoreError> {
        let path = self.folder_path(name)?;
        let index = if name == "INBOX" {
            self.state_dir().join("INBOX.index")
        } else {
            self.state_dir()
                .join("folders")
                .join(format!("{name}.index"))
        };
        let counter = self.state_dir().join("uidvalidity");
        let mut map = lock(&self.store.folders);
        Ok(map
            .entry(path.clone())
            .or_insert_with(|| Arc::new(Mutex::new(Folder::load(path, index, &counter))))
            .clone())
    }

    /// The mbox file of a folder.
    pub fn folder_file(&self, name: &str) -> Result<PathBuf, StoreError> {
        self.folder_path(name)
    }

    /// Records IMAP flags for a message just delivered as `entry` (an mbox entry) into
    /// `name`: finds it by its fingerprint after the folder is rescanned.
    pub fn flag_delivered(&self, name: &str, entry: &[u8], flags: &[String]) {
        let mut scanner = MboxScanner::new();
        scanner.feed(entry);
        let Some(fp) = scanner.finish().into_iter().next().map(|m| m.uid) else {
            return;
        };
        let Ok(f) = self.folder(name) else { return };
        let mut f = lock(&f);
        if f.sync().is_err() {
            return;
        }
        if let Some(i) = f
            .entries
            .iter()
            .rposition(|e| e.fingerprint == fp || e.fingerprint.starts_with(&format!("{fp}-")))
        {
            f.entries[i].flags = flags.to_vec();
            let changed = [(f.entries[i].uid, flags.to_vec())];
            let _ = f.log_flags(&changed);
        }
    }

    fn exists(&self, name: &str) -> bool {
        name == "INBOX" || self.folder_path(name).is_ok_and(|p| p.is_file())
    }

    /// Creates the special-use folders on first login.
    pub fn ensure_special_use(&self) {
        for (name, _) in SPECIAL_USE {
            if let Ok(p) = self.folder_path(name) {
                if !p.exists() {
                    if let Some(dir) = p.parent() {
                        let _ = fs::create_dir_all(dir);
                    }
                    let _ = OpenOptions::new().create(true).append(true).open(&p);
                }
            }
        }
    }

    /// SELECT / EXAMINE / NOOP: the current view.
    pub fn view(&self, name: &str, claim_recent: bool) -> Result<MailboxView, StoreError> {
        if !self.exists(name) {
            return Err(err(Some("NONEXISTENT"), "Mailbox doesn't exist"));
        }
        let f = self.folder(name)?;
        let mut f = lock(&f);
        f.sync().map_err(io_err)?;
        Ok(f.view(claim_recent))
    }

    /// STATUS.
    pub fn status(&self, name: &str) -> Result<StatusInfo, StoreError> {
        if !self.exists(name) {
            return Err(err(Some("NONEXISTENT"), "Mailbox doesn't exist"));
        }
        let f = self.folder(name)?;
        let mut f = lock(&f);
        f.sync().map_err(io_err)?;
        Ok(f.status())
    }

    /// Message contents.
    pub fn fetch(
        &self,
        name: &str,
        uids: &[u32],
        part: FetchPart,
    ) -> Result<Vec<FetchedMessage>, StoreError> {
        let f = self.folder(name)?;
        let mut f = lock(&f);
        f.sync().map_err(io_err)?;
        let wanted: std::collections::HashSet<u32> = uids.iter().copied().collect();
        let entries: Vec<&Entry> = f
            .entries
            .iter()
            .filter(|e| wanted.contains(&e.uid))
            .collect();
        let data = f
            .read_many(&entries, part == FetchPart::Header)
            .map_err(io_err)?;
        Ok(entries
            .iter()
            .zip(data)
            .map(|(e, data)| FetchedMessage {
                uid: e.uid,
                data: Bytes::from(data),
            })
            .collect())
    }

    /// A message to be read chunk by chunk (a streamed FETCH).
    pub fn open_message(&self, name: &str, uid: u32) -> Result<Box<dyn MessageChunks>, StoreError> {
        let f = self.folder(name)?;
        let mut f = lock(&f);
        f.sync().map_err(io_err)?;
        let Some(e) = f.entries.iter().find(|e| e.uid == uid) else {
            return Err(err(Some("EXPUNGEISSUED"), "The message was expunged."));
        };
        let chunks = f.open(e).map_err(io_err)?;
        Ok(Box::new(chunks))
    }

    /// Runs `each` on the messages of `uids` still in the folder, in folder order (a
    /// message another session expunged is left out, for the caller to notice).
    fn each_present<T>(
        &self,
        name: &str,
        uids: &[u32],
        mut each: impl FnMut(&Folder, &Entry) -> io::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let f = self.folder(name)?;
        let mut f = lock(&f);
        f.sync().map_err(io_err)?;
        let wanted: std::collections::HashSet<u32> = uids.iter().copied().collect();
        f.entries
            .iter()
            .filter(|e| wanted.contains(&e.uid))
            .map(|e| each(&f, e).map_err(io_err))
            .collect()
    }

    /// Answers a search's content questions for each message still there (SEARCH),
    /// streaming each message through its own copy of `scan`.
    pub fn scan(
        &self,
        name: &str,
        uids: &[u32],
        scan: &ContentScan,
    ) -> Result<Vec<(u32, ContentFacts)>, StoreError> {
        self.each_present(name, uids, |f, e| {
            let mut one = scan.clone();
            f.stream(e, |chunk| {
                one.feed(chunk);
                one.wants_more()
            })?;
            Ok((e.uid, one.finish()))
        })
    }

    /// Changes flags relative to their current state (STORE), the messages whose MODSEQ
    /// is above `unchanged_since` excepted; returns each message's flags and MODSEQ
    /// afterwards.
    pub fn set_flags(
        &self,
        name: &str,
        uids: &[u32],
        mode: StoreMode,
        flags: &[String],
        unchanged_since: Option<u64>,
    ) -> Result<FlagChanges, StoreError> {
        let f = self.folder(name)?;
        let mut f = lock(&f);
        f.sync().map_err(io_err)?;
        let wanted: std::collections::HashSet<u32> = uids.iter().copied().collect();
        let mut out = FlagChanges::default();
        let mut changed = Vec::new();
        for e in f.entries.iter_mut().filter(|e| wanted.contains(&e.uid)) {
            if unchanged_since.is_some_and(|n| e.modseq > n) {
                out.modified.push(e.uid);
                continue;
            }
            let before = e.flags.clone();
            postrider_core::imap::store::apply_store(&mut e.flags, mode, flags);
            if e.flags != before {
                changed.push((e.uid, e.flags.clone()));
            }
        }
        // Only real changes are logged (and take a MODSEQ).
        if !changed.is_empty() {
            f.log_flags(&changed).map_err(io_err)?;
        }
        let modified: std::collections::HashSet<u32> = out.modified.iter().copied().collect();
        out.flags = f
            .entries
            .iter()
            .filter(|e| wanted.contains(&e.uid) && !modified.contains(&e.uid))
            .map(|e| (e.uid, e.flags.clone(), e.modseq))
            .collect();
        Ok(out)
    }

    /// The UIDs expunged from folder `name` after MODSEQ `since`.
    pub fn vanished(&self, name: &str, since: u64) -> Result<Vec<u32>, StoreError> {
        let f = self.folder(name)?;
        let mut f = lock(&f);
        f.sync().map_err(io_err)?;
        Ok(f.vanished.since(since))
    }

    /// EXPUNGE.
    pub fn expunge(&self, name: &str, uids: &[u32]) -> Result<(), StoreError> {
        let f = self.folder(name)?;
        let mut f = lock(&f);
        f.expunge(uids).map_err(io_err)
    }

    /// APPEND: returns (UIDVALIDITY, UID).
    pub fn append(
        &self,
        name: &str,
        flags: &[String],
        date: Option<WallClock>,
        message: &[u8],
    ) -> Result<(u32, u32), StoreError> {
        if !self.exists(name) {
            return Err(err(Some("TRYCREATE"), "Mailbox doesn't exist"));
        }
        let f = self.folder(name)?;
        let mut f = lock(&f);
        f.sync().map_err(io_err)?;
        let when = date.unwrap_or_else(|| WallClock::utc(crate::queue::unix_now()));
        // The From_ line carries UTC (mbox readers expect no zone there); the zone the
        // client gave is kept in the index.
        let entry = mbox::entry(
            "MAILER-DAEMON",
            WallClock::utc(when.unix_secs),
            b"",
            message,
        );
        mbox::deliver_entry(&f.path, &entry).map_err(io_err)?;
        let before = f.entries.len();
        f.refresh().map_err(io_err)?;
        let uid_validity = f.uid_validity;
        let Some(e) = f.entries.get_mut(before) else {
            return Err(err(Some("SERVERBUG"), "Appended message not found"));
        };
        e.flags = flags.to_vec();
        e.internal_date = when;
        let uid = e.uid;
        f.log_entries(before).map_err(io_err)?;
        Ok((uid_validity, uid))
    }

    /// COPY / MOVE: returns (destination UIDVALIDITY, pairs).
    pub fn copy(
        &self,
        name: &str,
        uids: &[u32],
        to: &str,
        is_move: bool,
    ) -> Result<(u32, Vec<(u32, u32)>), StoreError> {
        if !self.exists(to) {
            return Err(err(Some("TRYCREATE"), "Mailbox doesn't exist"));
        }
        let src = self.folder(name)?;
        let dst = self.folder(to)?;
        let mut copies = Vec::new();
        {
            let mut s = lock(&src);
            s.sync().map_err(io_err)?;
            let wanted: std::collections::HashSet<u32> = uids.iter().copied().collect();
            let present = s.entries.iter().filter(|e| wanted.contains(&e.uid)).count();
            if present < wanted.len() {
                // All or nothing, as Dovecot answers (RFC 2180 §4.4.2).
                return Err(err(
                    Some("EXPUNGEISSUED"),
                    "Some of the requested messages no longer exist.",
                ));
            }
            for (i, e) in s.entries.iter().enumerate() {
                if wanted.contains(&e.uid) {
                    copies.push((
                        e.uid,
                        e.flags.clone(),
                        e.internal_date,
                        s.raw_entry(i).map_err(io_err)?,
                    ));
                }
            }
        }
        let mut pairs = Vec::new();
        let uid_validity;
        {
            let mut d = lock(&dst);
            d.sync().map_err(io_err)?;
            let mut all = Vec::new();
            for c in &copies {
                all.extend_from_slice(&c.3);
            }
            if !all.is_empty() {
                mbox::deliver_entry(&d.path, &all).map_err(io_err)?;
            }
            let before = d.entries.len();
            d.refresh().map_err(io_err)?;
            uid_validity = d.uid_validity;
            for (k, c) in copies.iter().enumerate() {
                if let Some(e) = d.entries.get_mut(before + k) {
                    e.flags = c.1.clone();
                    e.internal_date = c.2;
                    pairs.push((c.0, e.uid));
                }
            }
            d.log_entries(before).map_err(io_err)?;
        }
        if is_move {
            let moved: Vec<u32> = pairs.iter().map(|p| p.0).collect();
            self.expunge(name, &moved)?;
        }
        Ok((uid_validity, pairs))
    }

    /// CREATE.
    pub fn create(&self, name: &str) -> Result<(), StoreError> {
        // `CREATE a/` makes only the hierarchy level `a` (RFC 3501 §6.3.3): with mbox
        // files, a directory that can hold folders but no messages (\Noselect).
        let parent_only = name.ends_with('/');
        let name = name.trim_end_matches('/');
        if name.eq_ignore_ascii_case("INBOX") || self.exists(name) {
            return Err(err(Some("ALREADYEXISTS"), "Mailbox already exists"));
        }
        let p = self.folder_path(name)?;
        if p.is_dir() {
            return Err(err(Some("ALREADYEXISTS"), "Mailbox already exists"));
        }
        if parent_only {
            return fs::create_dir_all(&p).map_err(io_err);
        }
        if let Some(dir) = p.parent() {
            fs::create_dir_all(dir).map_err(io_err)?;
        }
        OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&p)
            .map_err(io_err)?;
        Ok(())
    }

    /// DELETE.
    pub fn delete(&self, name: &str) -> Result<(), StoreError> {
        if name == "INBOX" {
            return Err(err(Some("CANNOT"), "INBOX can't be deleted."));
        }
        let p = self.folder_path(name)?;
        if p.is_dir() {
            return match fs::remove_dir(&p) {
                Ok(()) => Ok(()),
                Err(_) => Err(err(None, "Mailbox has children, delete them first")),
            };
        }
        if !p.is_file() {
            return Err(err(Some("NONEXISTENT"), "Mailbox doesn't exist"));
        }
        fs::remove_file(&p).map_err(io_err)?;
        self.uses().forget(name).map_err(io_err)?;
        let index = self
            .state_dir()
            .join("folders")
            .join(format!("{name}.index"));
        for (log, _) in flag_logs(&index) {
            let _ = fs::remove_file(log);
        }
        let _ = fs::remove_file(index);
        lock(&self.store.folders).remove(&p);
        Ok(())
    }

    /// RENAME (renaming INBOX moves its messages to the new folder and empties it).
    pub fn rename(&self, from: &str, to: &str) -> Result<(), StoreError> {
        if !self.exists(from) {
            return Err(err(Some("NONEXISTENT"), "Mailbox doesn't exist"));
        }
        if to == "INBOX" || self.exists(to) {
            return Err(err(Some("ALREADYEXISTS"), "Mailbox already exists"));
        }
        if from == "INBOX" {
            self.create(to)?;
            let uids: Vec<u32> = self
                .view("INBOX", false)?
                .messages
                .iter()
                .map(|m| m.uid)
                .collect();
            if !uids.is_empty() {
                self.copy("INBOX", &uids, to, true)?;
            }
            return Ok(());
        }
        let a = self.folder_path(from)?;
        let b = self.folder_path(to)?;
        if let Some(dir) = b.parent() {
            fs::create_dir_all(dir).map_err(io_err)?;
        }
        fs::rename(&a, &b).map_err(io_err)?;
        let ia = self
            .state_dir()
            .join("folders")
            .join(format!("{from}.index"));
        let ib = self.state_dir().join("folders").join(format!("{to}.index"));
        if let Some(dir) = ib.parent() {
            let _ = fs::create_dir_all(dir);
        }
        for (log, suffix) in flag_logs(&ia) {
            let mut to = ib.as_os_str().to_owned();
            to.push(suffix);
            let _ = fs::rename(log, PathBuf::from(to));
        }
        let _ = fs::rename(&ia, &ib);
        self.uses().rename(from, to).map_err(io_err)?;
        let mut map = lock(&self.store.folders);
        map.remove(&a);
        map.remove(&b);
        Ok(())
    }

    fn subscriptions_path(&self) -> PathBuf {
        self.state_dir().join("subscriptions")
    }

    /// The special-use attributes CREATE gave this user's folders.
    fn uses(&self) -> SpecialUses {
        SpecialUses::new(self.state_dir().join("special-use"))
    }

    /// The special-use attributes CREATE gave folders.
    pub fn special_uses(&self) -> Vec<(String, Vec<String>)> {
        self.uses().list()
    }

    /// CREATE ... (USE (...)): the folder, then its attributes.
    pub fn create_special_use(&self, name: &str, uses: &[String]) -> Result<(), StoreError> {
        self.create(name)?;
        self.uses()
            .set(name.trim_end_matches('/'), uses)
            .map_err(io_err)
    }

    /// The subscribed names.
    pub fn subscriptions(&self) -> Vec<String> {
        fs::read_to_string(self.subscriptions_path())
            .map(|t| {
                t.lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// SUBSCRIBE / UNSUBSCRIBE.
    pub fn subscribe(&self, name: &str, on: bool) -> Result<(), StoreError> {
        let mut subs = self.subscriptions();
        subs.retain(|s| s != name);
        if on {
            subs.push(name.to_string());
        }
        let p = self.subscriptions_path();
        if let Some(dir) = p.parent() {
            fs::create_dir_all(dir).map_err(io_err)?;
        }
        crate::fsutil::replace_file(&p, (subs.join("\n") + "\n").as_bytes()).map_err(io_err)
    }

    /// Every folder: (name, selectable, has children).
    fn all_folders(&self) -> Vec<(String, bool, bool)> {
        let mut out = vec![("INBOX".to_string(), true, false)];
        fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, bool, bool)>) {
            let Ok(rd) = fs::read_dir(dir) else { return };
            let mut names: Vec<_> = rd.flatten().collect();
            names.sort_by_key(|e| e.file_name());
            for e in names {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with(['.', '~']) || is_internal_name(&n) {
                    continue; // dotlocks and the like, never folders
                }
                let full = if prefix.is_empty() {
                    n.clone()
                } else {
                    format!("{prefix}/{n}")
                };
                let path = e.path();
                if path.is_dir() {
                    let has = fs::read_dir(&path)
                        .map(|mut r| r.next().is_some())
                        .unwrap_or(false);
                    if full.eq_ignore_ascii_case("INBOX") {
                        // `INBOX/sub`: INBOX itself is listed once, with children.
                        if let Some(inbox) = out.first_mut() {
                            inbox.2 = has;
                        }
                        walk(&path, "INBOX", out);
                        continue;
                    }
                    out.push((full.clone(), false, has));
                    walk(&path, &full, out);
                } else if !full.eq_ignore_ascii_case("INBOX") {
                    out.push((full, true, false));
                }
            }
        }
        walk(&self.mail_dir(), "", &mut out);
        out
    }

    /// LIST / LSUB.
    pub fn list(&self, reference: &str, pattern: &str, subscribed: bool) -> Vec<ListEntry> {
        list_entries(
            self.all_folders(),
            &self.special_uses(),
            &self.subscriptions(),
            &format!("{reference}{pattern}"),
            subscribed,
        )
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

#[cfg(test)]
mod tests;
