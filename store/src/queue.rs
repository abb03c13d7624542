//! The durable queue in `data_dir/queue/`.
//!
//! Layout: `msg/ID` (the message as received, with this host's Received field first;
//! written in place), `env/ID` (the envelope and per-recipient state, TOML), `tmp/`
//! (envelopes being written).
//! A message exists for delivery only once its envelope file has been renamed into
//! `env/`. Spent files wait in `free/` to be reused (see [`Queue::create_file`]); the
//! server keeps those it retires as spares inside `msg/` and `env/` themselves
//! (`.spare.ID`, see [`Queue::recover`]), so that taking and retiring them are renames
//! within one directory.
//! Both files are written and renamed into place, then the queue's filesystem is
//! flushed by a group commit ([`crate::group_commit`]: one `syncfs` for every session
//! waiting) before the client hears 250, so a committed message survives a crash. The
//! envelope records the length and a digest of its message (`stored`); at start-up,
//! [`Queue::verify`] moves any envelope whose message does not match (a crash before the
//! flush, so never acknowledged) to `corrupt/`, and a half-written message is never
//! delivered. Envelope updates are fsynced, then renamed over the old one.
//!
//! The server takes a faster path for messages that fit a spool's buffer: they go into
//! the append-only [`journal`] (`queue/journal/`), one record per message, flushed by one
//! `fdatasync` per group, and are written out as `msg/` and `env/` files only if their
//! first delivery pass leaves them in the queue. The methods here answer for both places.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::group_commit::GroupCommit;

mod journal;
use journal::Journal;

use crate::fsutil::{fsync_dir, lock_exclusive};

/// What happened to one recipient so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RcptStatus {
    /// Not tried yet.
    Pending,
    /// Tried and failed temporarily; retried at `next_attempt`.
    Deferred,
    /// Delivered.
    Delivered,
    /// Failed permanently.
    Failed,
}

/// One recipient's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// The address as given in RCPT TO (or on the sendmail command line).
    pub address: String,
    /// Current state.
    pub status: RcptStatus,
    /// The last error, for mailq and bounces.
    #[serde(default)]
    pub last_error: String,
    /// Attempts made.
    #[serde(default)]
    pub attempts: u32,
    /// Unix time of the next attempt.
    #[serde(default)]
    pub next_attempt: i64,
    /// DSN NOTIFY as given in RCPT TO (RFC 3461 §4.1), e.g. `FAILURE,DELAY` or `NEVER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<String>,
    /// DSN ORCPT as given in RCPT TO (RFC 3461 §4.2), `addr-type;xtext`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orcpt: Option<String>,
    /// The RFC 3463 status of the last attempt (e.g. `5.1.1`), for bounces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsn_status: Option<String>,
    /// The remote server that gave the last answer, for bounces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_mta: Option<String>,
    /// The remote server's last reply, for bounces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_reply: Option<String>,
    /// Whether the failure was reported to the sender (or needed no report).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reported: bool,
    /// Local delivery actions already done for this recipient (mailboxes, files,
    /// commands, forwards), so that a retry after a partial failure does not repeat them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub done: Vec<String>,
}

impl Recipient {
    /// A recipient not yet tried.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            status: RcptStatus::Pending,
            last_error: String::new(),
            attempts: 0,
            next_attempt: 0,
            notify: None,
            orcpt: None,
            dsn_status: None,
            remote_mta: None,
            smtp_reply: None,
            reported: false,
            done: Vec::new(),
        }
    }

    /// Whether more work remains for this recipient.
    pub fn is_open(&self) -> bool {
        matches!(self.status, RcptStatus::Pending | RcptStatus::Deferred)
    }
}

/// The envelope file of one queued message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Queue id.
    pub id: String,
    /// Unix time of arrival.
    pub arrival: i64,
    /// The envelope sender (`""` for the null sender).
    pub sender: String,
    /// Client address, or `local` for the sendmail command.
    pub client: String,
    /// HELO name given by the client.
    #[serde(default)]
    pub helo: String,
    /// Message size in octets.
    pub size: u64,
    /// The SASL identity of the submitter, if it authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// DSN RET (`FULL` or `HDRS`; RFC 3461 §4.3), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ret: Option<String>,
    /// DSN ENVID, xtext as given (RFC 3461 §4.4), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envid: Option<String>,
    /// A `DKIM-Signature:` field made at submission, put in front of the message
    /// whenever it is delivered or relayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dkim: Option<String>,
    /// The recipients.
    pub recipients: Vec<Recipient>,
    /// An `Authentication-Results:` field (RFC 8601) made at receipt, put after this host's
    /// Received field whenever the message is delivered or relayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_results: Option<String>,
    /// Failed DMARC and its domain asked for quarantine: local delivery files it into the
    /// recipient's Junk folder instead of the INBOX.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quarantine: bool,
    /// `LENGTH:DIGEST` of the message file (set by [`Queue::commit`]), checked at start-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<String>,
    /// The message is `BODY=BINARYMIME` (RFC 3030): it may only be relayed by BDAT to a
    /// server that offers BINARYMIME.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub binary: bool,
    /// The message came with `REQUIRETLS` (RFC 8689): relayed only over verified TLS to
    /// servers that offer REQUIRETLS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_tls: bool,
}

impl Envelope {
    /// The envelope of a message made by this host (bounce, forwarded copy, vacation
    /// reply) arriving at `arrival`.
    pub fn local(
        id: &str,
        sender: &str,
        recipients: Vec<Recipient>,
        size: u64,
        arrival: i64,
    ) -> Self {
        Envelope {
            id: id.to_string(),
            arrival,
            sender: sender.to_string(),
            client: "local".into(),
            helo: String::new(),
            size,
            auth: None,
            ret: None,
            envid: None,
            dkim: None,
            recipients,
            auth_results: None,
            quarantine: false,
            stored: None,
            binary: false,
            require_tls: false,
        }
    }

    /// Whether no recipient needs more work.
    pub fn is_finished(&self) -> bool {
        !self.recipients.iter().any(Recipient::is_open)
    }
}

/// Message bytes a [`Spool`] holds in memory before writing them to its file.
pub const SPOOL_BUFFER: usize = 64 * 1024;

/// A message file being written in `msg/` (not queued until its envelope is committed).
/// The file is created only when the first [`SPOOL_BUFFER`] bytes are full or the
/// message is committed, so a small message touches the disk once, at its commit, and
/// starting one needs no disk at all. Dropping it without committing removes the file.
#[derive(Debug)]
pub struct Spool {
    id: String,
    path: PathBuf,
    queue: Queue,
    file: Option<File>,
    buf: Vec<u8>,
    digest: Sha256,
    len: u64,
}

impl Spool {
    /// The queue this message goes into.
    pub(crate) fn queue(&self) -> &Queue {
        &self.queue
    }

    /// The queue id this message will have.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether writing `more` bytes now would stay in memory (not touch the disk).
    pub fn buffers(&self, more: usize) -> bool {
        self.buf.len() + more < SPOOL_BUFFER
    }

    /// Whether its file exists yet (dropping the spool then removes it).
    pub fn has_file(&self) -> bool {
        self.file.is_some()
    }

    /// Appends message bytes.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.digest.update(bytes);
        self.len += bytes.len() as u64;
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= SPOOL_BUFFER {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes what is buffered to the file, creating it first if needed.
    fn flush(&mut self) -> io::Result<()> {
        let file = match self.file.as_mut() {
            Some(f) => f,
            None => self.file.insert(self.queue.open_message_file(&self.path)?),
        };
        file.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// The first `limit` bytes written so far (to look at the header cheaply).
    pub fn head(&mut self, limit: usize) -> io::Result<Vec<u8>> {
        use std::io::Read;
        if self.file.is_none() {
            return Ok(self.buf[..limit.min(self.buf.len())].to_vec());
        }
        self.flush()?;
        let mut out = Vec::new();
        File::open(&self.path)?
            .take((limit as u64).min(self.len))
            .read_to_end(&mut out)?;
        Ok(out)
    }

    /// Everything written so far (for signing before the commit).
    pub fn contents(&mut self) -> io::Result<Vec<u8>> {
        if self.file.is_none() {
            return Ok(self.buf.clone());
        }
        self.flush()?;
        // A reused file may still hold old bytes past what was written.
        let mut all = fs::read(&self.path)?;
        all.truncate(self.len as usize);
        Ok(all)
    }

    /// Writes out the rest, cuts off what a reused file held beyond it and closes the
    /// file (not yet durable: the commit's group flush does that).
    fn finish(&mut self) -> io::Result<()> {
        self.flush()?;
        if let Some(file) = self.file.take() {
            cut_to(&file, self.len)?;
        }
        Ok(())
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        // After `finish` the file is closed and belongs to the queue.
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The queue directory.
#[derive(Debug, Clone)]
pub struct Queue {
    root: PathBuf,
    group: Arc<GroupCommit>,
    removals_pending: Arc<AtomicBool>,
    recycled: Arc<Mutex<Vec<String>>>,
    spares: Arc<Mutex<Spares>>,
    journal: Arc<Journal>,
}

/// Spent files the server keeps inside `msg/` and `env/` for reuse (see
/// [`Queue::recover`]). Only the process that adopted them (the server, after its
/// start-up recovery) knows them, so nobody else takes or writes them.
#[derive(Debug, Default)]
struct Spares {
    /// Whether retired files become spares (else they go to `free/`).
    enabled: bool,
    /// Spare message files: name in `msg/` and length.
    msg: Vec<(String, u64)>,
    /// The lengths of the spare message files added up.
    msg_bytes: u64,
    /// Spare envelope files: name in `env/` and length.
    env: Vec<(String, u64)>,
}

/// Name prefix of spare files in `msg/` and `env/` (never a valid queue id).
const SPARE_PREFIX: &str = ".spare.";

/// Spare envelope files longer than this are deleted: an envelope written into a spare
/// is padded with newlines up to the spare's length instead of truncating it.
const MAX_SPARE_ENVELOPE: u64 = 8 * 1024;

/// At most this many spares wait in each of `msg/` and `env/`: enough for the queue to
/// grow by this much in a burst without creating files (whose inodes cost most on ext4
/// without a journal, see [`Queue::create_file`]).
const MAX_SPARES: usize = 2048;

/// Spare message files hold at most this many old bytes together.
const MAX_SPARE_BYTES: u64 = 32 * 1024 * 1024;

/// At most this many spent queue files wait in `free/` to be reused.
const MAX_RECYCLED: usize = 256;

/// Spent files larger than this are deleted rather than kept for reuse, so `free/` never
/// holds more than `MAX_RECYCLED` × 64 KiB (16 MiB) of old bytes.
const MAX_RECYCLED_SIZE: u64 = 64 * 1024;

/// `LENGTH:DIGEST` (the first 16 bytes of the SHA-256, hex) of a queued message file.
fn stored_tag(len: u64, digest: &[u8]) -> String {
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{len}:{hex}")
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A new queue id: 11 hex digits of microseconds since the epoch and 5 random ones, so ids
/// sort by arrival and never repeat.
pub fn new_queue_id() -> String {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    // A random start, then counting: ids made in one microsecond by one process differ,
    // and a system call per id (for the randomness) is saved.
    static NEXT: std::sync::OnceLock<std::sync::atomic::AtomicU32> = std::sync::OnceLock::new();
    let rand = NEXT
        .get_or_init(|| std::sync::atomic::AtomicU32::new(OsRng.next_u32()))
        .fetch_add(1, Ordering::Relaxed)
        & 0xF_FFFF;
    format!("{:011X}{:05X}", micros & 0xFFF_FFFF_FFFF, rand)
}

/// Whether `id` looks like a queue id (so it is safe as a file name).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Queue {
    /// Opens (creating if needed) the queue under `root`.
    pub fn open(root: &Path) -> io::Result<Queue> {
        for sub in ["tmp", "msg", "env", "free"] {
            fs::create_dir_all(root.join(sub))?;
        }
        let recycled = fs::read_dir(root.join("free"))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .take(MAX_RECYCLED)
            .collect();
        Ok(Queue {
            root: root.to_path_buf(),
            group: Arc::new(GroupCommit::new(root)?),
            removals_pending: Arc::new(AtomicBool::new(false)),
            recycled: Arc::new(Mutex::new(recycled)),
            spares: Arc::new(Mutex::new(Spares::default())),
            journal: Arc::new(Journal::open(&root.join("journal"))?),
        })
    }

    fn env_path(&self, id: &str) -> PathBuf {
        self.root.join("env").join(id)
    }

    fn msg_path(&self, id: &str) -> PathBuf {
        self.root.join("msg").join(id)
    }

    /// Opens a new file at `path` for writing from its start, reusing a spent queue file
    /// from `free/` when there is one (then its old bytes are overwritten in place, and
    /// the writer cuts off any old tail with [`cut_to`] when done: truncating to zero
    /// would free the blocks only to allocate them again, and ext4 flushes such a file
    /// at close). Reuse matters on ext4 without a journal, where creating an inode scans
    /// past every recently deleted one (a cost that grows with the message rate);
    /// PostgreSQL recycles its WAL segments for the same reason.
    fn create_file(&self, path: &Path, exclusive: bool) -> io::Result<File> {
        loop {
            let name = lock(&self.recycled).pop();
            let Some(name) = name else { break };
            // Touched before it moves, so that it never sits in `msg/` with an old mtime
            // (`recover` would take it for an old leftover). Another process that took
            // the same file first made the open or the rename fail; nobody writes to a
            // file before their rename succeeded.
            let from = self.root.join("free").join(&name);
            let Ok(file) = OpenOptions::new().write(true).open(&from) else {
                continue;
            };
            if file.set_modified(SystemTime::now()).is_ok() && fs::rename(&from, path).is_ok() {
                return Ok(file);
            }
        }
        OpenOptions::new()
            .write(true)
            .create(true)
            .create_new(exclusive)
            .truncate(true)
            .open(path)
    }

    /// Retires a spent queue file: kept as a spare in its own directory (the server),
    /// moved to `free/` for reuse (other processes), or removed when it is large or
    /// enough are waiting.
    fn retire_file(&self, path: &Path, name: String) -> io::Result<()> {
        if self.retire_as_spare(path)? {
            return Ok(());
        }
        let mut free = lock(&self.recycled);
        let big = fs::metadata(path).map_or(true, |m| m.len() > MAX_RECYCLED_SIZE);
        if free.len() >= MAX_RECYCLED || big {
            drop(free);
            return fs::remove_file(path);
        }
        fs::rename(path, self.root.join("free").join(&name))?;
        free.push(name);
        Ok(())
    }

    /// Keeps a spent `msg/` or `env/` file as a spare under `.spare.ID` in the same
    /// directory, when spares are enabled; `Ok(false)` when it was not kept (the caller
    /// retires it otherwise).
    fn retire_as_spare(&self, path: &Path) -> io::Result<bool> {
        let mut spares = lock(&self.spares);
        if !spares.enabled {
            return Ok(false);
        }
        let (Some(dir), Some(id)) = (path.parent(), path.file_name()) else {
            return Ok(false);
        };
        let is_env = dir.file_name().is_some_and(|d| d == "env");
        let len = fs::metadata(path)?.len();
        let room = if is_env {
            spares.env.len() < MAX_SPARES && len <= MAX_SPARE_ENVELOPE
        } else {
            spares.msg.len() < MAX_SPARES
                && len <= MAX_RECYCLED_SIZE
                && spares.msg_bytes + len <= MAX_SPARE_BYTES
        };
        if !room {
            return Ok(false);
        }
        let name = format!("{SPARE_PREFIX}{}", id.to_string_lossy());
        fs::rename(path, dir.join(&name))?;
        if is_env {
            spares.env.push((name, len));
        } else {
            spares.msg_bytes += len;
            spares.msg.push((name, len));
        }
        Ok(true)
    }

    /// Takes a spare message file for `path` (a rename within `msg/`), if there is one.
    fn take_spare_message(&self, path: &Path) -> Option<File> {
        loop {
            let (name, len) = {
                let mut spares = lock(&self.spares);
                let spare = spares.msg.pop()?;
                spares.msg_bytes -= spare.1;
                spare
            };
            let from = self.root.join("msg").join(&name);
            // The start-up recovery is over (it enabled spares), so an old mtime is
            // harmless here: nothing removes message files by age any more.
            if fs::rename(&from, path).is_ok() {
                if let Ok(file) = OpenOptions::new().write(true).open(path) {
                    return Some(file);
                }
                let _ = fs::remove_file(path);
            }
            tracing::debug!("queue: spare msg/{name} ({len} bytes) unusable");
        }
    }

    /// Writes a new envelope into a spare `env/` file and renames it into place (a
    /// rename within `env/`). The text is padded with newlines up to the spare's old
    /// length rather than truncating it (TOML ignores them). `Ok(false)`: no spare.
    fn write_envelope_into_spare(&self, id: &str, text: &[u8]) -> io::Result<bool> {
        let Some((name, old_len)) = lock(&self.spares).env.pop() else {
            return Ok(false);
        };
        let from = self.root.join("env").join(&name);
        let Ok(mut f) = OpenOptions::new().write(true).open(&from) else {
            // Gone (removed by hand): the caller writes a new file instead.
            tracing::debug!("queue: spare env/{name} unusable");
            return Ok(false);
        };
        let written = (|| {
            f.write_all(text)?;
            let pad = old_len.saturating_sub(text.len() as u64) as usize;
            if pad > 0 {
                f.write_all(&vec![b'\n'; pad])?;
            }
            Ok::<(), io::Error>(())
        })();
        match written {
            Ok(()) => fs::rename(&from, self.env_path(id)).map(|()| true),
            Err(e) => {
                let _ = fs::remove_file(&from);
                Err(e)
            }
        }
    }

    /// Starts a new message (nothing touches the disk until its first write-out, see
    /// [`Spool`]).
    pub fn create_spool(&self) -> io::Result<Spool> {
        let id = new_queue_id();
        Ok(Spool {
            path: self.msg_path(&id),
            id,
            queue: self.clone(),
            file: None,
            buf: Vec::new(),
            digest: Sha256::new(),
            len: 0,
        })
    }

    /// Opens the file of a new message at `path` in `msg/`: a spare if there is one.
    /// Written in place: a message file counts only once its envelope is in `env/`
    /// (`recover` removes old ones without), so no rename is needed.
    fn open_message_file(&self, path: &Path) -> io::Result<File> {
        match self.take_spare_message(path) {
            Some(file) => Ok(file),
            None => self.create_file(path, true),
        }
    }

    /// Makes a message durable: moves the spool file to `msg/`, writes the envelope (with
    /// the message's length and digest) into `env/`, then waits for a group commit that
    /// flushes both. Only after this returns `Ok` may the client be told 250.
    pub fn commit(&self, mut spool: Spool, envelope: &Envelope) -> io::Result<()> {
        let digest = std::mem::take(&mut spool.digest).finalize();
        let mut envelope = envelope.clone();
        envelope.stored = Some(stored_tag(spool.len, &digest));
        if !spool.has_file() && self.journal.is_enabled() {
            return self.commit_to_journal(&envelope, &spool.buf);
        }
        let result = (|| {
            spool.finish()?;
            self.write_envelope(&envelope, false)?;
            self.group.sync()
        })();
        if result.is_err() {
            let _ = fs::remove_file(self.env_path(&spool.id));
            let _ = fs::remove_file(&spool.path);
        }
        result
    }

    /// Appends a new message to the journal and waits for the group flush that makes it
    /// durable. A record whose flush failed is marked done (it must not be delivered
    /// after a restart: its client was not told 250).
    fn commit_to_journal(&self, envelope: &Envelope, message: &[u8]) -> io::Result<()> {
        self.journal.append(envelope, message)?;
        let result = self.journal.sync();
        if result.is_err() {
            let _ = self.journal.remove(&envelope.id);
        }
        result
    }

    /// Replaces the envelope of a queued message, unless the message was removed
    /// meanwhile (`queue delete` from another process): then nothing is written and the
    /// result is `Ok(false)`. Updates and removals serialise on `queue/envelopes.lock`.
    /// A message in the journal is written out to `msg/` and `env/` first.
    pub fn update_envelope(&self, envelope: &Envelope) -> io::Result<bool> {
        if self.journal.contains(&envelope.id) {
            return self.write_out(envelope).map(|()| true);
        }
        let _lock = lock_exclusive(&self.root.join("envelopes.lock"))?;
        if !self.env_path(&envelope.id).exists() {
            return Ok(false);
        }
        self.write_envelope(envelope, true).map(|()| true)
    }

    /// Moves a message out of the journal with its new envelope: the message file, then
    /// the envelope, each durable, then the record's done mark (a record whose files
    /// exist is ignored at start-up, so the mark need not be durable).
    fn write_out(&self, envelope: &Envelope) -> io::Result<()> {
        let message = self
            .journal
            .message(&envelope.id)
            .unwrap_or_else(|| Err(io::ErrorKind::NotFound.into()))?;
        let path = self.msg_path(&envelope.id);
        // A message file without an envelope is a leftover of a write-out cut short.
        let _ = fs::remove_file(&path);
        let mut file = self.open_message_file(&path)?;
        let written = (|| {
            file.write_all(&message)?;
            cut_to(&file, message.len() as u64)?;
            file.sync_data()?;
            fsync_dir(&self.root.join("msg"))?;
            self.write_envelope(envelope, true)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        self.journal.remove(&envelope.id).map(drop)
    }

    /// Writes (or replaces) an envelope atomically; with `durable`, fsynced on its own
    /// (updates), else left to the caller's group commit (new messages).
    fn write_envelope(&self, envelope: &Envelope, durable: bool) -> io::Result<()> {
        if !valid_id(&envelope.id) {
            return Err(io::Error::other("invalid queue id"));
        }
        let text = toml::to_string(envelope).map_err(io::Error::other)?;
        if !durable && self.write_envelope_into_spare(&envelope.id, text.as_bytes())? {
            return Ok(());
        }
        let tmp = self.root.join("tmp").join(format!("{}.env", envelope.id));
        {
            let mut f = self.create_file(&tmp, false)?;
            f.write_all(text.as_bytes())?;
            cut_to(&f, text.len() as u64)?;
            if durable {
                f.sync_all()?;
            }
        }
        fs::rename(&tmp, self.env_path(&envelope.id))?;
        if durable {
            fsync_dir(&self.root.join("env"))?;
        }
        Ok(())
    }

    /// Start-up check after a crash: every envelope must parse and its message must have
    /// the length and digest the envelope recorded. Those that do not were cut off before
    /// their group commit (so never acknowledged) or damaged since; they are moved to
    /// `corrupt/` (with their message) rather than delivered. Returns the ids moved.
    pub fn verify(&self) -> io::Result<Vec<String>> {
        let mut moved = Vec::new();
        for id in self.file_ids()? {
            let ok = match self.load(&id) {
                // A reused file whose new contents never reached the disk.
                Ok(env) if env.id != id => false,
                Ok(env) => match &env.stored {
                    Some(tag) => fs::read(self.msg_path(&id))
                        .map(|m| *tag == stored_tag(m.len() as u64, &Sha256::digest(&m)))
                        .unwrap_or(false),
                    None => true,
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(_) => false,
            };
            if !ok {
                let corrupt = self.root.join("corrupt");
                fs::create_dir_all(&corrupt)?;
                let _lock = lock_exclusive(&self.root.join("envelopes.lock"))?;
                fs::rename(self.env_path(&id), corrupt.join(format!("{id}.env")))?;
                let _ = fs::rename(self.msg_path(&id), corrupt.join(format!("{id}.msg")));
                fsync_dir(&self.root.join("env"))?;
                moved.push(id);
            }
        }
        Ok(moved)
    }

    /// Queue ids, oldest first: those with an envelope file and those in the journal.
    pub fn list(&self) -> io::Result<Vec<String>> {
        let mut ids = self.file_ids()?;
        if self.journal.is_enabled() {
            self.journal.pick_up_removals();
            ids.extend(self.journal.ids());
        } else {
            ids.extend(self.journal.scan_elsewhere()?);
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Queue ids with an envelope file.
    fn file_ids(&self) -> io::Result<Vec<String>> {
        Ok(fs::read_dir(self.root.join("env"))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| valid_id(n))
            .collect())
    }

    /// Finds message `id` in the journal from a process that is not the server.
    fn journal_record(&self, id: &str) -> io::Result<Option<(u64, journal::Record)>> {
        if self.journal.is_enabled() {
            return Ok(None);
        }
        self.journal.find_elsewhere(id)
    }

    /// Reads one envelope.
    pub fn load(&self, id: &str) -> io::Result<Envelope> {
        if !valid_id(id) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no message {id:?} in the queue"),
            ));
        }
        if let Some(envelope) = self.journal.envelope(id) {
            return Ok(envelope);
        }
        let text = match fs::read_to_string(self.env_path(id)) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return match self.journal_record(id)? {
                    Some((_, r)) => Ok(r.envelope),
                    None => Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        toml::from_str(&text)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("envelope {id}: {e}")))
    }

    /// Reads one message.
    pub fn read_message(&self, id: &str) -> io::Result<Vec<u8>> {
        if let Some(message) = self.journal.message(id) {
            return message;
        }
        match fs::read(self.msg_path(id)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => match self.journal_record(id)? {
                Some((seq, r)) => self.journal.message_elsewhere(seq, &r),
                None => Err(e),
            },
            other => other,
        }
    }

    /// Removes a message: the envelope first (the commit point), then the message file;
    /// the removal is durable when this returns.
    pub fn remove(&self, id: &str) -> io::Result<()> {
        self.remove_unsynced(id)?;
        self.sync_removals();
        Ok(())
    }

    /// Removes a message like [`Queue::remove`] but leaves making that durable to a later
    /// [`Queue::sync_removals`], so that one directory fsync covers many removals. (A
    /// removal lost in a crash only means the message is looked at again at start-up,
    /// where recovery finds its delivery in the mailbox and does not repeat it.)
    pub fn remove_unsynced(&self, id: &str) -> io::Result<()> {
        if !valid_id(id) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no message {id:?} in the queue"),
            ));
        }
        if self.journal.remove(id)? {
            return Ok(());
        }
        let _lock = lock_exclusive(&self.root.join("envelopes.lock"))?;
        if !self.env_path(id).exists() {
            if let Some((seq, _)) = self.journal_record(id)? {
                return self.journal.mark_done_elsewhere(seq, id);
            }
        }
        self.retire_file(&self.env_path(id), format!("{id}.env"))?;
        self.removals_pending.store(true, Ordering::SeqCst);
        let _ = self.retire_file(&self.msg_path(id), format!("{id}.msg"));
        Ok(())
    }

    /// Makes the removals done since the last call durable (one fsync of `env/`).
    pub fn sync_removals(&self) {
        self.journal.sync_removals();
        if self.removals_pending.swap(false, Ordering::SeqCst) {
            if let Err(e) = fsync_dir(&self.root.join("env")) {
                tracing::warn!("queue: cannot sync env/: {e}");
            }
        }
    }

    /// Removes leftovers of crashed writers: temporary files and message files without an
    /// envelope, older than `min_age` (so a concurrent `sendmail` is not disturbed).
    pub fn recover(&self, min_age: Duration) -> io::Result<usize> {
        let old = |p: &Path| {
            fs::metadata(p)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age >= min_age)
        };
        let mut removed = 0;
        for entry in fs::read_dir(self.root.join("tmp"))?.flatten() {
            if old(&entry.path()) && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        for entry in fs::read_dir(self.root.join("msg"))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(SPARE_PREFIX) {
                continue;
            }
            if !self.env_path(&name).exists()
                && old(&entry.path())
                && fs::remove_file(entry.path()).is_ok()
            {
                removed += 1;
            }
        }
        self.adopt_spares()?;
        let live = self.journal.enable(|id| self.env_path(id).exists())?;
        if live > 0 {
            tracing::info!("queue: {live} messages in the journal");
        }
        Ok(removed)
    }

    /// Takes over the spares left in `msg/` and `env/` by an earlier run (removing any
    /// beyond the limits) and keeps retired files as spares from now on. Only the server
    /// does this (from [`Queue::recover`], before anything could be taken by age).
    fn adopt_spares(&self) -> io::Result<()> {
        let mut spares = lock(&self.spares);
        for (sub, limit, budget) in [
            ("msg", MAX_RECYCLED_SIZE, MAX_SPARE_BYTES),
            ("env", MAX_SPARE_ENVELOPE, u64::MAX),
        ] {
            let mut found = Vec::new();
            let mut bytes = 0u64;
            for entry in fs::read_dir(self.root.join(sub))?.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !name.starts_with(SPARE_PREFIX) {
                    continue;
                }
                match entry.metadata() {
                    Ok(m)
                        if m.len() <= limit
                            && found.len() < MAX_SPARES
                            && bytes.saturating_add(m.len()) <= budget =>
                    {
                        bytes += m.len();
                        found.push((name, m.len()))
                    }
                    _ => {
                        let _ = fs::remove_file(entry.path());
                    }
                }
            }
            if sub == "msg" {
                spares.msg = found;
                spares.msg_bytes = bytes;
            } else {
                spares.env = found;
            }
        }
        spares.enabled = true;
        Ok(())
    }

    /// Asks a running queue runner to retry every deferred message now.
    pub fn request_flush(&self) -> io::Result<()> {
        File::create(self.root.join("flush")).map(drop)
    }

    /// Whether a flush was requested (and clears the request).
    pub fn take_flush_request(&self) -> bool {
        fs::remove_file(self.root.join("flush")).is_ok()
    }

    /// Leaves a line for a running server's log: what a `queue` command changed (the
    /// command's own process has no access to that log).
    pub fn leave_note(&self, text: &str) -> io::Result<()> {
        let dir = self.root.join("notes");
        fs::create_dir_all(&dir)?;
        let name = format!("{}.{}", new_queue_id(), std::process::id());
        let one_line: String = text.chars().filter(|c| !c.is_control()).collect();
        crate::fsutil::replace_file(&dir.join(name), one_line.as_bytes())
    }

    /// The notes left by commands since the last call, oldest first (and removes them).
    pub fn take_notes(&self) -> Vec<String> {
        let dir = self.root.join("notes");
        let Ok(rd) = fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut names: Vec<_> = rd
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| !n.to_string_lossy().contains(".tmp."))
            .collect();
        names.sort();
        names
            .into_iter()
            .filter_map(|n| {
                let p = dir.join(n);
                let text = fs::read_to_string(&p).ok();
                let _ = fs::remove_file(&p);
                text
            })
            .collect()
    }
}

/// Cuts off what a reused file held beyond the `len` bytes just written.
fn cut_to(file: &File, len: u64) -> io::Result<()> {
    if file.metadata()?.len() > len {
        file.set_len(len)?;
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
