//! All-or-nothing appends to mbox files, locked as Postfix local(8), Dovecot and mutt lock
//! them: a `NAME.lock` dotlock plus an fcntl write lock on the file itself.

use std::fs::{self, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
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

/// Appends a ready-made entry (see [`entry`]) under both locks; all or nothing.
pub fn deliver_entry(path: &Path, entry: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let _dotlock = DotLock::acquire(path, LOCK_WAIT)?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    fcntl_lock_exclusive(&file)?;
    let start = file.seek(SeekFrom::End(0))?;
    // mbox entries are separated by an empty line; repair a file whose last entry lacks it.
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
    let result = (|| -> io::Result<()> {
        file.write_all(prefix)?;
        file.write_all(entry)?;
        file.sync_data()
    })();
    if let Err(e) = result {
        let _ = file.set_len(start);
        let _ = file.sync_data();
        return Err(e);
    }
    Ok(())
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
