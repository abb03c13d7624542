//! A user's INBOX opened for a POP3 session.
//!
//! * One session at a time: an exclusive, non-blocking flock on `data_dir/locks/USER`
//!   (a second session gets `[IN-USE]`).
//! * Opening takes the delivery locks (dotlock + fcntl) only while the file is scanned in
//!   chunks; deliveries keep appending during the session and are never blocked by it.
//! * Messages are read from their byte ranges when asked for, in chunks: memory stays
//!   bounded whatever the mailbox size.
//! * QUIT with deletions rewrites the file under the delivery locks: the kept messages of
//!   the snapshot and everything appended since go to a new file, which is fsynced and
//!   renamed over the old one (a crash leaves one or the other, whole).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use postrider_core::maildrop::{MboxMessage, MboxScanner, Pop3Encoder};
use postrider_core::pop3::{MessageInfo, OpenError};
use rustix::fs::{flock, FlockOperation};

use crate::fsutil::{fcntl_lock_exclusive, fsync_dir, DotLock};
use crate::mailbox::{Maildrop, MessageChunks};
use crate::mbox::LOCK_WAIT;

impl Maildrop for MboxMaildrop {
    fn listing(&self) -> Vec<MessageInfo> {
        self.listing_of()
    }

    fn stream(&self, index: usize, top_lines: Option<usize>) -> io::Result<Box<dyn MessageChunks>> {
        Ok(Box::new(self.stream_of(index, top_lines)?))
    }

    fn commit(&self, deleted: &[usize]) -> io::Result<()> {
        self.commit_deletions(deleted)
    }
}

/// Read size for scanning and serving.
const CHUNK: usize = 64 * 1024;

/// An open maildrop.
#[derive(Debug)]
pub struct MboxMaildrop {
    path: PathBuf,
    messages: Vec<MboxMessage>,
    snapshot_len: u64,
    _session: File,
}

/// Holds the delivery locks of a mailbox while alive.
struct DeliveryLocks {
    _dot: DotLock,
    _file: Option<File>,
}

fn lock_for_delivery(path: &Path) -> io::Result<DeliveryLocks> {
    let dot = DotLock::acquire(path, LOCK_WAIT)?;
    let file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => {
            fcntl_lock_exclusive(&f)?;
            Some(f)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    Ok(DeliveryLocks {
        _dot: dot,
        _file: file,
    })
}

/// The lock one POP3 session of `user` holds (an flock on `locks/USER`, whatever the
/// mailbox format): `InUse` while another session has it.
pub(crate) fn session_lock(locks: &Path, user: &str) -> Result<File, OpenError> {
    let failed = |e: io::Error| OpenError::Failed(e.to_string());
    fs::create_dir_all(locks).map_err(failed)?;
    let session = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(locks.join(user))
        .map_err(failed)?;
    match flock(&session, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(session),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(OpenError::InUse),
        Err(e) => Err(OpenError::Failed(e.to_string())),
    }
}

impl MboxMaildrop {
    /// Locks the session (a lock file in `locks`) and scans `user`'s INBOX at `path`.
    pub fn open(locks: &Path, user: &str, path: PathBuf) -> Result<MboxMaildrop, OpenError> {
        let failed = |e: io::Error| OpenError::Failed(e.to_string());
        let session = session_lock(locks, user)?;
        let (messages, snapshot_len) = {
            let _locks = lock_for_delivery(&path).map_err(failed)?;
            scan(&path).map_err(failed)?
        };
        Ok(MboxMaildrop {
            path,
            messages,
            snapshot_len,
            _session: session,
        })
    }

    /// The messages as POP3 lists them.
    fn listing_of(&self) -> Vec<MessageInfo> {
        self.messages
            .iter()
            .map(|m| MessageInfo {
                size: m.size,
                uid: m.uid.clone(),
            })
            .collect()
    }

    /// A reader that yields message `index` encoded for POP3, chunk by chunk.
    fn stream_of(&self, index: usize, top_lines: Option<usize>) -> io::Result<MessageStream> {
        let m = self
            .messages
            .get(index)
            .ok_or_else(|| io::Error::other("no such message"))?;
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(m.start))?;
        Ok(MessageStream::new(
            file,
            m.end - m.start,
            Pop3Encoder::new(top_lines),
        ))
    }

    /// Removes the messages at `deleted` (indexes into the listing), keeping everything
    /// delivered since the session began.
    fn commit_deletions(&self, deleted: &[usize]) -> io::Result<()> {
        if deleted.is_empty() {
            return Ok(());
        }
        let _locks = lock_for_delivery(&self.path)?;
        let mut src = File::open(&self.path)?;
        let meta = src.metadata()?;
        if meta.len() < self.snapshot_len {
            return Err(io::Error::other(
                "the mailbox was changed by another program",
            ));
        }
        // Every message must still start where the scan found it.
        for m in &self.messages {
            let mut head = [0u8; 5];
            src.seek(SeekFrom::Start(m.from_offset))?;
            src.read_exact(&mut head)?;
            if &head != b"From " {
                return Err(io::Error::other(
                    "the mailbox was changed by another program",
                ));
            }
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.pop3.tmp"));
        let result = (|| -> io::Result<()> {
            let mut out = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            out.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))?;
            if rustix::process::geteuid().is_root() {
                std::os::unix::fs::fchown(&out, Some(meta.uid()), Some(meta.gid()))?;
            }
            let mut keep: Vec<(u64, u64)> = Vec::new();
            // Bytes before the first message (if any) are kept too.
            let first = self
                .messages
                .first()
                .map_or(self.snapshot_len, |m| m.from_offset);
            keep.push((0, first));
            for (i, m) in self.messages.iter().enumerate() {
                let end = self
                    .messages
                    .get(i + 1)
                    .map_or(self.snapshot_len, |n| n.from_offset);
                if !deleted.contains(&i) {
                    keep.push((m.from_offset, end));
                }
            }
            keep.push((self.snapshot_len, meta.len()));
            let mut buf = vec![0u8; CHUNK];
            for (from, to) in keep {
                src.seek(SeekFrom::Start(from))?;
                let mut left = to - from;
                while left > 0 {
                    let n = src.read(&mut buf[..(left as usize).min(CHUNK)])?;
                    if n == 0 {
                        return Err(io::Error::other("mailbox shrank while copying"));
                    }
                    out.write_all(&buf[..n])?;
                    left -= n as u64;
                }
            }
            out.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            fsync_dir(dir)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

/// Scans an mbox file; a missing file is an empty maildrop.
fn scan(path: &Path) -> io::Result<(Vec<MboxMessage>, u64)> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let mut scanner = MboxScanner::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        scanner.feed(&buf[..n]);
        total += n as u64;
    }
    Ok((scanner.finish(), total))
}

/// One message being served.
#[derive(Debug)]
pub struct MessageStream {
    file: File,
    left: u64,
    encoder: Option<Pop3Encoder>,
}

impl MessageStream {
    /// The next `len` bytes of `file` through `encoder`.
    pub(crate) fn new(file: File, len: u64, encoder: Pop3Encoder) -> Self {
        Self {
            file,
            left: len,
            encoder: Some(encoder),
        }
    }
}

impl MessageChunks for MessageStream {
    fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let Some(encoder) = self.encoder.as_mut() else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(CHUNK + CHUNK / 8);
        if self.left == 0 {
            if let Some(enc) = self.encoder.take() {
                enc.finish(&mut out);
            }
            return Ok(Some(out));
        }
        let mut buf = vec![0u8; (self.left as usize).min(CHUNK)];
        let n = self.file.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::other("the mailbox was truncated"));
        }
        self.left -= n as u64;
        encoder.feed(&buf[..n], &mut out);
        Ok(Some(out))
    }
}
