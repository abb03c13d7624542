//! The mailboxes as the access agents use them, the interface every storage backend
//! implements: IMAP's folders (UIDs, flags and keywords, append with UID allocation,
//! expunge, copy and move, the view a session refreshes to learn what changed
//! elsewhere) and POP3's maildrop (one session at a time, read in chunks, deletions at
//! QUIT).
//!
//! The files backend is [`crate::mail_files::FilesMailboxes`]; [`crate::conformance`]
//! holds the tests every backend must pass.

use std::any::Any;
use std::fmt::Debug;
use std::io;
use std::path::Path;

use postrider_core::imap::command::StoreMode;
use postrider_core::imap::search::{ContentFacts, ContentScan};
use postrider_core::imap::server::{
    FetchedMessage, ListEntry, MailboxView, StatusInfo, StoreError,
};
use postrider_core::imap::store::{FetchPart, FlagChanges};
use postrider_core::imf::datetime::WallClock;
use postrider_core::pop3::{MessageInfo, OpenError};

/// One backend's mailboxes, for every user. Folder names are IMAP names (modified
/// UTF-7, `/` as the hierarchy separator, `INBOX` the user's inbox). Errors are what the
/// client may see (an IMAP response code and text, never a path).
pub trait Mailboxes: Send + Sync + Debug {
    /// Makes the special-use folders (Drafts, Sent, Trash, Junk) at a user's first login.
    fn ensure_special_use(&self, user: &str);

    /// The current state of a folder (SELECT, EXAMINE, NOOP, IDLE): its messages with
    /// UIDs and flags, UIDVALIDITY and UIDNEXT; `claim_recent` makes the messages new
    /// since the last claim `\Recent` for this caller only.
    fn view(&self, user: &str, name: &str, claim_recent: bool) -> Result<MailboxView, StoreError>;

    /// IDLE's periodic [`Mailboxes::view`]: a backend may answer from what it knows has not
    /// changed (the PostgreSQL backend, from change notices), as long as a change is seen
    /// within a few seconds.
    fn poll_view(
        &self,
        user: &str,
        name: &str,
        claim_recent: bool,
    ) -> Result<MailboxView, StoreError> {
        self.view(user, name, claim_recent)
    }

    /// Whether reads are answered from this host's files (short, no network round trip),
    /// so a session may run them without handing them to a blocking pool.
    fn reads_locally(&self) -> bool {
        false
    }

    /// STATUS counts of a folder, without selecting it.
    fn status(&self, user: &str, name: &str) -> Result<StatusInfo, StoreError>;

    /// The bytes of `part` of the messages with these UIDs (those still there).
    fn fetch(
        &self,
        user: &str,
        name: &str,
        uids: &[u32],
        part: FetchPart,
    ) -> Result<Vec<FetchedMessage>, StoreError>;

    /// A message as IMAP serves it (CRLF line ends), to be read chunk by chunk (a large
    /// FETCH streams it instead of loading it; see [`RangeChunks`]).
    fn open_message(
        &self,
        user: &str,
        name: &str,
        uid: u32,
    ) -> Result<Box<dyn MessageChunks>, StoreError>;

    /// Runs `scan` (SEARCH's content keys) over each message, streamed.
    fn scan(
        &self,
        user: &str,
        name: &str,
        uids: &[u32],
        scan: &ContentScan,
    ) -> Result<Vec<(u32, ContentFacts)>, StoreError>;

    /// Changes flags and keywords (STORE): each message's flags and MODSEQ afterwards.
    /// With `unchanged_since` (RFC 7162), a message whose MODSEQ is above it is left
    /// alone and listed in [`FlagChanges::modified`]; the test and the change are one
    /// step under the folder's lock, so two sessions cannot both pass it.
    fn store_flags(
        &self,
        user: &str,
        name: &str,
        uids: &[u32],
        mode: StoreMode,
        flags: &[String],
        unchanged_since: Option<u64>,
    ) -> Result<FlagChanges, StoreError>;

    /// [`Mailboxes::store_flags`] without a condition: each message's flags afterwards.
    fn set_flags(
        &self,
        user: &str,
        name: &str,
        uids: &[u32],
        mode: StoreMode,
        flags: &[String],
    ) -> Result<Vec<(u32, Vec<String>)>, StoreError> {
        let changes = self.store_flags(user, name, uids, mode, flags, None)?;
        Ok(changes.flags.into_iter().map(|(u, f, _)| (u, f)).collect())
    }

    /// Removes these messages, all or none; their UIDs are kept with the MODSEQ of the
    /// removal for [`Mailboxes::vanished`].
    fn expunge(&self, user: &str, name: &str, uids: &[u32]) -> Result<(), StoreError>;

    /// The UIDs expunged from a folder after MODSEQ `since` (QRESYNC), ascending. A
    /// store that merged old records may answer UIDs expunged earlier too, never fewer.
    fn vanished(&self, user: &str, name: &str, since: u64) -> Result<Vec<u32>, StoreError>;

    /// Appends a message; (UIDVALIDITY, its UID). UIDs only grow.
    fn append(
        &self,
        user: &str,
        name: &str,
        flags: &[String],
        date: Option<WallClock>,
        message: &[u8],
    ) -> Result<(u32, u32), StoreError>;

    /// Copies (or moves) messages to folder `to`: (its UIDVALIDITY, (old, new) UIDs).
    fn copy(
        &self,
        user: &str,
        name: &str,
        uids: &[u32],
        to: &str,
        is_move: bool,
    ) -> Result<(u32, Vec<(u32, u32)>), StoreError>;

    /// Creates a folder (and its parents).
    fn create(&self, user: &str, name: &str) -> Result<(), StoreError>;

    /// Creates a folder with special-use attributes (RFC 6154 `CREATE ... (USE (...))`,
    /// each one of [`postrider_core::imap::list_ext::CREATABLE_USES`]), which LIST shows
    /// from then on, also after a RENAME.
    fn create_special_use(&self, user: &str, name: &str, uses: &[String])
        -> Result<(), StoreError>;

    /// Deletes a folder (INBOX cannot be).
    fn delete(&self, user: &str, name: &str) -> Result<(), StoreError>;

    /// Renames a folder and its children; renaming INBOX moves its messages.
    fn rename(&self, user: &str, from: &str, to: &str) -> Result<(), StoreError>;

    /// Subscribes to a folder or unsubscribes.
    fn subscribe(&self, user: &str, name: &str, on: bool) -> Result<(), StoreError>;

    /// The account's storage limit in octets (`postrider user quota`), None without one.
    fn quota(&self, user: &str) -> Result<Option<u64>, StoreError>;

    /// Sets (or with None removes) the account's storage limit.
    fn set_quota(&self, user: &str, limit: Option<u64>) -> Result<(), StoreError>;

    /// Octets the account's messages take: RFC822.SIZE added up over every folder.
    fn usage(&self, user: &str) -> Result<u64, StoreError> {
        let mut total = 0;
        for e in self.list(user, "", "*", false) {
            let selectable = !e.attributes.iter().any(|a| {
                a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent")
            });
            if selectable {
                total += self.status(user, &e.name)?.size;
            }
        }
        Ok(total)
    }

    /// The names the user subscribed to (existing or not).
    fn subscriptions(&self, user: &str) -> Vec<String>;

    /// LIST / LSUB: the folders matching `pattern` under `reference`.
    fn list(&self, user: &str, reference: &str, pattern: &str, subscribed: bool) -> Vec<ListEntry>;

    /// Opens a user's INBOX for a POP3 session (refused with `InUse` while another
    /// session has it).
    fn open_maildrop(&self, user: &str) -> Result<Box<dyn Maildrop>, OpenError>;

    /// Local delivery: stores `a` in its folder (created when missing; an invalid or
    /// unusable folder falls back to INBOX), through `batch` when given (then durable
    /// only at the batch's commit), else durable at once. With `a.recovering`, a copy an
    /// earlier delivery left before a crash is looked for first. Errors are for the log
    /// and the queue (temporary failures).
    fn deliver(
        &self,
        a: &Arrival<'_>,
        batch: Option<&mut dyn DeliveryBatch>,
    ) -> Result<Stored, String>;

    /// An empty batch of deliveries for [`Mailboxes::deliver`] (a group commit).
    fn begin_batch(&self) -> Box<dyn DeliveryBatch>;
}

/// Deliveries made durable together by one commit (one fsync per mailbox for many
/// messages). Mailboxes are named by keys the backend chooses (paths, for files).
pub trait DeliveryBatch: Send + Debug + Any {
    /// Octets delivered since the batch started.
    fn bytes(&self) -> u64;

    /// The mailboxes delivered to since the last call (the current message's).
    fn take_touched(&mut self) -> Vec<String>;

    /// A file at `path` is about to be written by other means (a file target): when it
    /// is one of the batch's mailboxes, commit that one now so the writer does not wait.
    fn release_file(&mut self, path: &Path);

    /// Makes everything durable; returns the mailboxes whose deliveries were undone
    /// (their commit failed). The batch is empty afterwards.
    fn commit(&mut self) -> Vec<String>;

    /// The batch as [`Any`], so its backend finds its own type again.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// A batch whose deliveries were each durable already when made (the database's
/// transactions, Maildir's fsynced files): its commit has nothing left to do.
#[derive(Debug, Default)]
pub struct CommittedBatch {
    bytes: u64,
    touched: Vec<String>,
}

impl CommittedBatch {
    /// Records a delivery into `mailbox` (already committed).
    pub fn note(&mut self, mailbox: &str, bytes: u64) {
        self.bytes += bytes;
        if !self.touched.iter().any(|t| t == mailbox) {
            self.touched.push(mailbox.to_string());
        }
    }
}

impl DeliveryBatch for CommittedBatch {
    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn take_touched(&mut self) -> Vec<String> {
        std::mem::take(&mut self.touched)
    }

    fn release_file(&mut self, _path: &std::path::Path) {}

    fn commit(&mut self) -> Vec<String> {
        self.bytes = 0;
        self.touched.clear();
        Vec::new()
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// One message for local delivery into a user's folder.
#[derive(Debug)]
pub struct Arrival<'a> {
    /// The account.
    pub user: &'a str,
    /// The folder in IMAP form (modified UTF-7); None: INBOX.
    pub folder: Option<&'a str>,
    /// The envelope sender (for the mbox `From ` line).
    pub sender: &'a str,
    /// The trace fields delivery adds (Delivered-To, Return-Path), CRLF or LF lines.
    pub fields: &'a [u8],
    /// The message.
    pub message: &'a [u8],
    /// When it arrives.
    pub when: WallClock,
    /// IMAP flags to record for it (Sieve `:flags`).
    pub flags: &'a [String],
    /// The queue id, looked for in the folder when `recovering`.
    pub queue_id: &'a str,
    /// First pass after a start: an earlier delivery cut off by a crash is looked for
    /// (by its queue id) before delivering again.
    pub recovering: bool,
}

/// Where a delivered message went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Appended to this folder (`INBOX` or the folder's IMAP name).
    Delivered(String),
    /// Found there already by the recovery scan: not delivered again.
    AlreadyThere(String),
}

/// A user's INBOX held by one POP3 session.
pub trait Maildrop: Send + Debug {
    /// The messages as POP3 lists them (sizes as served, unique ids).
    fn listing(&self) -> Vec<MessageInfo>;

    /// Message `index` (0-based) encoded for RETR (or TOP with `top_lines`), in chunks.
    fn stream(&self, index: usize, top_lines: Option<usize>) -> io::Result<Box<dyn MessageChunks>>;

    /// Removes these messages (0-based), keeping everything delivered meanwhile.
    fn commit(&self, deleted: &[usize]) -> io::Result<()>;
}

/// A message being read chunk by chunk (POP3's RETR, IMAP's streamed FETCH).
pub trait MessageChunks: Send + Debug {
    /// The next bytes, or None when the message (for POP3, with its final `.` line) is
    /// done.
    fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>>;
}

/// `len` octets from octet `start` of a message read by chunks.
#[derive(Debug)]
pub struct RangeChunks {
    inner: Box<dyn MessageChunks>,
    /// Octets still to skip before the range.
    skip: u64,
    /// Octets of the range still to return.
    left: u64,
}

impl RangeChunks {
    /// The range `start .. start + len` of `inner`.
    pub fn new(inner: Box<dyn MessageChunks>, start: u64, len: u64) -> Self {
        Self {
            inner,
            skip: start,
            left: len,
        }
    }
}

impl MessageChunks for RangeChunks {
    fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        while self.left > 0 {
            let Some(mut chunk) = self.inner.next_chunk()? else {
                return Ok(None);
            };
            let n = chunk.len() as u64;
            if self.skip >= n {
                self.skip -= n;
                continue;
            }
            chunk.drain(..self.skip as usize);
            self.skip = 0;
            chunk.truncate(self.left.min(chunk.len() as u64) as usize);
            self.left -= chunk.len() as u64;
            return Ok(Some(chunk));
        }
        Ok(None)
    }
}
