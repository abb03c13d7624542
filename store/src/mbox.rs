//! All-or-nothing appends to mbox files, locked as Postfix local(8), Dovecot and mutt lock
//! them: a `NAME.lock` dotlock plus an fcntl write lock on the file itself.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use postrider_core::delivery::mbox::append_entry;
use postrider_core::imf::datetime::WallClock;

use crate::fsutil::{fcntl_lock_exclusive, DotLock};

/// How long a delivery waits for a locked mailbox before deferring.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

/// Appends one message to the mbox at `path` (created with mode 0600 if missing).
///
/// `header` (trace fields, CRLF line ends) is prepended to `message`. The entry is written
/// with a single write after both locks are held, then fsynced; on any error the file is
/// truncated back to its previous length, so a message is appended whole or not at all.
pub fn deliver(
    path: &Path,
    sender: &str,
    when: WallClock,
    header: &[u8],
    message: &[u8],
) -> io::Result<()> {
    deliver_entry(path, &entry(sender, when, header, message))
}

/// The mbox entry for a message: `From ` line, `header` then `message`, mboxrd-quoted.
pub fn entry(sender: &str, when: WallClock, header: &[u8], message: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(header.len() + message.len());
    full.extend_from_slice(header);
    full.extend_from_slice(message);
    let mut entry = Vec::with_capacity(full.len() + 128);
    append_entry(&mut entry, sender, when, &full);
    entry
}

/// An mbox file opened for appending with both delivery locks held.
#[derive(Debug)]
struct LockedMbox {
    file: File,
    /// The directory holding it (whose pending rename, if any, its flush makes durable).
    dir: PathBuf,
    _dotlock: DotLock,
}

impl LockedMbox {
    /// Takes the dotlock, then opens (creating with mode 0600) and fcntl-locks the file.
    fn open(path: &Path) -> io::Result<LockedMbox> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let dotlock = DotLock::acquire(path, LOCK_WAIT)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        fcntl_lock_exclusive(&file)?;
        Ok(LockedMbox {
            file,
            dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            _dotlock: dotlock,
        })
    }

    /// Appends `entry` (repairing a missing separator before it) without syncing; on an
    /// error the file is cut back to where it was. Returns the length before the append.
    fn append(&mut self, entry: &[u8]) -> io::Result<u64> {
        let file = &mut self.file;
        let start = file.seek(SeekFrom::End(0))?;
        // mbox entries are separated by an empty line; repair a file whose last entry
        // lacks it.
        let mut prefix: &[u8] = b"";
        if start > 0 {
            use std::os::unix::fs::FileExt;
            let mut tail = [0u8; 2];
            let n = if start >= 2 { 2 } else { 1 };
            file.read_exact_at(&mut tail[..n], start - n as u64)?;
            if tail[n - 1] != b'\n' {
                prefix = b"\n\n";
            } else if n == 2 && tail[0] != b'\n' {
                prefix = b"\n";
            }
        }
        let result = file.write_all(prefix).and_then(|()| file.write_all(entry));
        if let Err(e) = result {
            let _ = file.set_len(start);
            let _ = file.sync_data();
            return Err(e);
        }
        Ok(start)
    }

    /// Makes everything appended durable; on failure cuts the file back to `start`.
    fn sync_or_cut(&mut self, start: u64) -> io::Result<()> {
        self.sync_or_cut_with(start, File::sync_data)
    }

    /// [`LockedMbox::sync_or_cut`] with the flush given (tests make it fail). When the
    /// directory has a rename not yet durable (an EXPUNGE's, see
    /// [`crate::fsutil::defer_dir_sync`]), one `syncfs` makes both durable.
    fn sync_or_cut_with(&mut self, start: u64, sync: SyncFn) -> io::Result<()> {
        let deferred = crate::fsutil::deferred_dir_sync(&self.dir);
        let flushed = match deferred {
            Some(_) => rustix::fs::syncfs(&self.file).map_err(io::Error::from),
            None => sync(&self.file),
        };
        if let Err(e) = flushed {
            let _ = self.file.set_len(start);
            let _ = self.file.sync_data();
            return Err(e);
        }
        if let Some(n) = deferred {
            crate::fsutil::dir_synced(&self.dir, n);
        }
        Ok(())
    }
}

/// Appends a ready-made entry (see [`entry`]) under both locks, then fsyncs; all or
/// nothing.
pub fn deliver_entry(path: &Path, entry: &[u8]) -> io::Result<()> {
    let mut mbox = LockedMbox::open(path)?;
    let start = mbox.append(entry)?;
    mbox.sync_or_cut(start)
}

/// Appends for several messages at once, as a group commit: each mbox is locked at its
/// first append and stays locked until [`MboxBatch::commit`], which fsyncs every file
/// once and releases the locks. A file whose fsync fails is cut back to its length
/// before the batch, so each file keeps all of the batch's entries or none of them.
/// The queue must not count a batched delivery as done before the commit said so.
#[derive(Debug)]
pub struct MboxBatch {
    held: Vec<(PathBuf, LockedMbox, u64)>,
    failed: Vec<PathBuf>,
    touched: Vec<PathBuf>,
    bytes: u64,
    sync: SyncFn,
}

/// How a mailbox's appends are made durable (`File::sync_data`; tests inject failures).
type SyncFn = fn(&File) -> io::Result<()>;

impl Default for MboxBatch {
    fn default() -> Self {
        Self {
            held: Vec::new(),
            failed: Vec::new(),
            touched: Vec::new(),
            bytes: 0,
            sync: File::sync_data,
        }
    }
}

impl MboxBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `entry` to the mbox at `path` (locking it first if this batch does not hold
    /// it yet). Not durable until [`MboxBatch::commit`].
    pub fn append(&mut self, path: &Path, entry: &[u8]) -> io::Result<()> {
        let i = match self.held.iter().position(|h| h.0 == path) {
            Some(i) => i,
            None => {
                let mut m = LockedMbox::open(path)?;
                let start = m.file.seek(SeekFrom::End(0))?;
                self.held.push((path.to_path_buf(), m, start));
                self.held.len() - 1
            }
        };
        self.held[i].1.append(entry)?;
        self.bytes += entry.len() as u64;
        if !self.touched.iter().any(|t| t == path) {
            self.touched.push(path.to_path_buf());
        }
        Ok(())
    }

    /// Whether this batch holds the locks of `path` (another writer would wait for them).
    pub fn holds(&self, path: &Path) -> bool {
        self.held.iter().any(|h| h.0 == path)
    }

    /// Commits `path` alone now (fsync, unlock) if this batch holds it, so that another
    /// writer (a delivery to the same file by other means) does not wait for the batch.
    /// A failure is reported by the next [`MboxBatch::commit`].
    pub fn release(&mut self, path: &Path) {
        if let Some(i) = self.held.iter().position(|h| h.0 == path) {
            let (path, mut m, start) = self.held.swap_remove(i);
            if let Err(e) = m.sync_or_cut_with(start, self.sync) {
                tracing::error!("cannot sync mailbox {}: {e}", path.display());
                self.failed.push(path);
            }
        }
    }

    /// Bytes appended since the batch started.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The files appended to since the last call (the current message's).
    pub fn take_touched(&mut self) -> Vec<PathBuf> {
        std::mem::take(&mut self.touched)
    }

    /// Fsyncs and unlocks every held file; returns the files whose appends were undone
    /// because their fsync failed. The batch is empty afterwards.
    pub fn commit(&mut self) -> Vec<PathBuf> {
        let mut failed = std::mem::take(&mut self.failed);
        for (path, mut m, start) in self.held.drain(..) {
            if let Err(e) = m.sync_or_cut_with(start, self.sync) {
                tracing::error!("cannot sync mailbox {}: {e}", path.display());
                failed.push(path);
            }
        }
        self.touched.clear();
        self.bytes = 0;
        failed
    }
}

impl crate::mailbox::DeliveryBatch for MboxBatch {
    fn bytes(&self) -> u64 {
        MboxBatch::bytes(self)
    }

    fn take_touched(&mut self) -> Vec<String> {
        keys(MboxBatch::take_touched(self))
    }

    fn release_file(&mut self, path: &Path) {
        self.release(path)
    }

    fn commit(&mut self) -> Vec<String> {
        keys(MboxBatch::commit(self))
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Mailbox files as batch keys.
fn keys(paths: Vec<PathBuf>) -> Vec<String> {
    paths.iter().map(|p| p.display().to_string()).collect()
}

impl Drop for MboxBatch {
    fn drop(&mut self) {
        // Never committed: nothing of it may count as delivered, so the appends go.
        for (_, m, start) in self.held.drain(..) {
            let _ = m.file.set_len(start);
        }
    }
}

/// After a crash, tells whether an entry containing `marker` (e.g. `id QUEUEID`) was
/// already appended whole to the mbox at `path`. An entry cut short by the crash is
/// removed (the file is truncated back to where it started) and `false` returned, so the
/// message is delivered again, once. Only the last `entry_len` + 1 MiB are searched: a
/// delivery cut by a crash is at or near the end.
pub fn recover_delivery(path: &Path, marker: &[u8], entry_len: usize) -> io::Result<bool> {
    use std::os::unix::fs::FileExt;
    if !path.exists() {
        return Ok(false);
    }
    let _dotlock = DotLock::acquire(path, LOCK_WAIT)?;
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    fcntl_lock_exclusive(&file)?;
    let len = file.metadata()?.len();
    let window = (entry_len as u64)
        .saturating_mul(2)
        .saturating_add(1 << 20)
        .min(len);
    let base = len - window;
    let mut tail = vec![0u8; window as usize];
    file.read_exact_at(&mut tail, base)?;
    let Some(pos) = memchr::memmem::rfind(&tail, marker) else {
        return Ok(false);
    };
    let start = memchr::memmem::rfind(&tail[..pos], b"\nFrom ")
        .map(|p| p + 1)
        .unwrap_or(0);
    let start_abs = base + start as u64;
    if len - start_abs >= entry_len as u64 {
        return Ok(true);
    }
    file.set_len(start_abs)?;
    file.sync_data()?;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory with two mailbox paths in it, and two small entries.
    fn two_mailboxes(name: &str) -> (PathBuf, PathBuf, PathBuf, Vec<u8>, Vec<u8>) {
        let dir = std::env::temp_dir().join(format!("postrider-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let (a, b) = (dir.join("a"), dir.join("b"));
        let one = entry("x@y", WallClock::utc(0), b"", b"Subject: 1\r\n\r\n1\r\n");
        let two = entry("x@y", WallClock::utc(0), b"", b"Subject: 2\r\n\r\n2\r\n");
        (dir, a, b, one, two)
    }

    #[test]
    fn batch_holds_locks_until_commit_and_drop_undoes_it() {
        let (dir, a, b, one, two) = two_mailboxes("mboxb");
        let mut batch = MboxBatch::new();
        batch.append(&a, &one).unwrap();
        assert_eq!(batch.take_touched(), vec![a.clone()]);
        batch.append(&a, &two).unwrap();
        batch.append(&b, &one).unwrap();
        assert_eq!(batch.take_touched(), vec![a.clone(), b.clone()]);
        assert!(batch.holds(&a) && batch.holds(&b));
        assert!(
            dir.join("a.lock").exists(),
            "the dotlock is held until the commit"
        );
        assert_eq!(batch.bytes(), (2 * one.len() + two.len()) as u64);
        assert!(batch.commit().is_empty());
        assert!(!dir.join("a.lock").exists() && !dir.join("b.lock").exists());
        let mut both = one.clone();
        both.extend_from_slice(&two);
        assert_eq!(fs::read(&a).unwrap(), both);
        assert_eq!(fs::read(&b).unwrap(), one);
        // Released early: committed on its own, no longer held.
        batch.append(&b, &two).unwrap();
        batch.release(&b);
        assert!(!batch.holds(&b) && !dir.join("b.lock").exists());
        // A batch dropped without its commit leaves the files as they were.
        batch.append(&a, &one).unwrap();
        drop(batch);
        assert_eq!(fs::read(&a).unwrap(), both);
        assert!(!dir.join("a.lock").exists());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_mailbox_whose_flush_fails_loses_the_whole_batch_and_nothing_else() {
        let (dir, a, b, one, two) = two_mailboxes("mboxf");
        deliver_entry(&a, &one).unwrap();
        let mut batch = MboxBatch::new();
        batch.sync = |f| {
            // Only the file holding three entries (`a`) fails, like a disk error.
            if f.metadata()?.len() > 2 * 40 {
                Err(io::Error::from_raw_os_error(5))
            } else {
                f.sync_data()
            }
        };
        batch.append(&a, &two).unwrap();
        batch.append(&a, &one).unwrap();
        batch.append(&b, &two).unwrap();
        assert!(one.len() > 40 && two.len() > 40 && one.len() + two.len() < 2 * 80);
        assert_eq!(batch.commit(), vec![a.clone()]);
        assert_eq!(fs::read(&a).unwrap(), one, "cut back to before the batch");
        assert_eq!(fs::read(&b).unwrap(), two, "the other mailbox is committed");
        assert!(!dir.join("a.lock").exists() && !dir.join("b.lock").exists());
        // A file released early whose flush fails is reported by the next commit.
        batch.append(&a, &two).unwrap();
        batch.append(&a, &two).unwrap();
        batch.release(&a);
        assert_eq!(batch.commit(), vec![a.clone()]);
        assert_eq!(fs::read(&a).unwrap(), one);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn appends_entries_and_repairs_separator() {
        let dir = std::env::temp_dir().join(format!("postrider-mbox-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let path = dir.join("mail/bob");
        deliver(
            &path,
            "a@b",
            WallClock::utc(0),
            b"X-A: 1\r\n",
            b"Subject: one\r\n\r\nFrom me\r\n",
        )
        .unwrap();
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"junk")
            .unwrap();
        deliver(
            &path,
            "",
            WallClock::utc(0),
            b"",
            b"Subject: two\r\n\r\nx\r\n",
        )
        .unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "From a@b Thu Jan  1 00:00:00 1970\nX-A: 1\nSubject: one\n\n>From me\n\njunk\n\nFrom MAILER-DAEMON Thu Jan  1 00:00:00 1970\nSubject: two\n\nx\n\n"
        );
        assert!(!dir.join("mail/bob.lock").exists());
        let e = entry(
            "c@d",
            WallClock::utc(0),
            b"",
            b"Received: x id ABC\r\n\r\nbody\r\n",
        );
        assert!(!recover_delivery(&path, b"id ABC", e.len()).unwrap());
        deliver_entry(&path, &e).unwrap();
        assert!(recover_delivery(&path, b"id ABC", e.len()).unwrap());
        let before = fs::metadata(&path).unwrap().len();
        let e2 = entry(
            "c@d",
            WallClock::utc(0),
            b"",
            b"Received: x id XYZ\r\n\r\nbody two\r\n",
        );
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&e2[..e2.len() - 4])
            .unwrap();
        // A copy cut short by a crash is removed, so the message is delivered again once.
        assert!(!recover_delivery(&path, b"id XYZ", e2.len()).unwrap());
        assert_eq!(fs::metadata(&path).unwrap().len(), before);
        let _ = fs::remove_dir_all(&dir);
    }
}
