//! One IMAP folder as the process caches it: an mbox file scanned into entries (UID,
//! fingerprint, flags, INTERNALDATE, offsets), its sidecar index and flag log, UIDVALIDITY
//! allocation, and the crash-safe rewrite that EXPUNGE does. [`crate::mail_files`] serves
//! the sessions from these.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use postrider_core::imap::server::{MailboxView, MessageMeta, StatusInfo};
use postrider_core::imf::datetime::WallClock;
use postrider_core::maildrop::{stored_to_crlf, CrlfStream, MboxMessage, MboxScanner};

use crate::fsutil::{defer_dir_sync, deferred_dir_sync, dir_synced, fcntl_lock_exclusive, DotLock};
use crate::mailbox::MessageChunks;
use crate::mbox::LOCK_WAIT;

mod index;
mod vanished;

pub(crate) use index::flag_logs;

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) uid: u32,
    pub(crate) fingerprint: String,
    pub(crate) flags: Vec<String>,
    /// The MODSEQ of its last change (RFC 7162); 0 until the index numbers it.
    pub(crate) modseq: u64,
    pub(crate) internal_date: WallClock,
    pub(crate) size: u64,
    pub(crate) from_offset: u64,
    pub(crate) start: u64,
    pub(crate) end: u64,
}

/// The most bytes [`Folder::read_many`] reads at once.
const READ_RUN: u64 = 256 * 1024;

/// The most bytes between two messages (a From line, a blank line) that
/// [`Folder::read_many`] reads over to read both at once.
const READ_GAP: u64 = 4096;

/// Where a header section in CRLF form ends (after its empty line), looking from `from`
/// on; `None` while it has not ended.
pub(crate) fn header_end(crlf: &[u8], from: usize) -> Option<usize> {
    if crlf.starts_with(b"\r\n") {
        return Some(2);
    }
    memchr::memmem::find(&crlf[from..], b"\r\n\r\n").map(|i| from + i + 4)
}

/// The cached state of one folder.
#[derive(Debug)]
pub struct Folder {
    pub(crate) path: PathBuf,
    pub(crate) index_path: PathBuf,
    pub(crate) uid_validity: u32,
    pub(crate) uid_next: u32,
    /// Messages from this UID on are `\Recent` for the next session that selects.
    pub(crate) recent_from: u32,
    /// The highest MODSEQ given in this folder (RFC 7162): every change the index
    /// records takes the next one.
    pub(crate) highest_modseq: u64,
    /// The UIDs expunged, with the MODSEQs of their removal (QRESYNC).
    pub(crate) vanished: vanished::Tombstones,
    pub(crate) entries: Vec<Entry>,
    /// (inode, length) of the file at the last scan.
    pub(crate) scanned: Option<(u64, u64)>,
    /// Generation of the index; flag changes since it was written are in the flag log of
    /// the same generation.
    pub(crate) generation: u64,
    /// Bytes in the current log.
    pub(crate) log_len: u64,
    /// Bytes in the index snapshot.
    pub(crate) index_len: u64,
    /// The mbox opened for reading, with its inode: messages are read from it with
    /// `pread` (one system call each instead of open, seek, read and close) while it is
    /// the file last scanned.
    pub(crate) reader: Option<(u64, Arc<File>)>,
    /// The log of the index generation it names, open to append.
    pub(crate) log_file: Option<(u64, File)>,
}

/// Parses the date of a `From ` line (`From sender Thu Jan  1 00:00:00 1970`).
pub(crate) fn from_line_date(line: &str) -> Option<i64> {
    let mut w = line.split_whitespace().skip(2);
    let _dow = w.next()?;
    let mon = w.next()?.to_ascii_lowercase();
    let day: u32 = w.next()?.parse().ok()?;
    let time = w.next()?;
    let year: i64 = w.next()?.parse().ok()?;
    let months = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let m = months.iter().position(|x| *x == mon)? as u32 + 1;
    let mut t = time.split(':').map(|x| x.parse::<i64>().ok());
    let (Some(Some(h)), Some(Some(mi)), Some(Some(s))) = (t.next(), t.next(), t.next()) else {
        return None;
    };
    Some(
        postrider_core::imf::datetime::days_from_civil(year, m, day) * 86_400
            + h * 3600
            + mi * 60
            + s,
    )
}

/// Serialises UIDVALIDITY allocation in this process.
static UIDVALIDITY_LOCK: Mutex<()> = Mutex::new(());

/// A UIDVALIDITY never issued before for this user's folders (RFC 3501 §2.3.1.1): the
/// current time in seconds, or one more than the last value issued if that is not less
/// (a folder deleted and created again in the same second, a clock set back). The last
/// value lives in `counter` (`data_dir/imap/USER/uidvalidity`), so a lost index or a
/// restart never brings an old value back.
pub(crate) fn next_uid_validity(counter: &Path) -> u32 {
    let _serial = UIDVALIDITY_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(1)
        .min(u64::from(u32::MAX)) as u32;
    let last: u32 = fs::read_to_string(counter)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    let next = now.max(last.saturating_add(1)).max(1);
    if let Some(dir) = counter.parent() {
        let _ = fs::create_dir_all(dir);
    }
    if let Err(e) = crate::fsutil::replace_file(counter, format!("{next}\n").as_bytes()) {
        tracing::warn!("cannot record UIDVALIDITY in {}: {e}", counter.display());
    }
    next
}

impl Folder {
    /// Brings the cache up to date with the file: messages appended since the last look
    /// are numbered and logged; a file changed otherwise (or seen for the first time) is
    /// scanned whole, matched with the index by fingerprint, and a new snapshot written.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        match self.refresh()? {
            Some(from) => self.log_entries(from),
            None => Ok(()),
        }
    }

    /// [`Folder::sync`] without logging the messages found appended: returns where they
    /// start in `entries`, for a caller that changes them (APPEND's flags and date) and
    /// then logs them once with [`Folder::log_entries`].
    pub(crate) fn refresh(&mut self) -> io::Result<Option<usize>> {
        let meta = match fs::metadata(&self.path) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let Some(meta) = meta else {
            let changed = !self.entries.is_empty();
            self.entries.clear();
            self.scanned = Some((0, 0));
            if changed {
                self.save()?;
            }
            return Ok(None);
        };
        let stamp = (meta.ino(), meta.len());
        self.keep_reader(stamp.0);
        if self.scanned == Some(stamp) {
            return Ok(None);
        }
        let appended_only =
            matches!(self.scanned, Some((ino, len)) if ino == stamp.0 && len <= stamp.1 && len > 0);
        let mut file = File::open(&self.path)?;
        let base = if appended_only {
            self.scanned.map_or(0, |s| s.1)
        } else {
            0
        };
        file.seek(SeekFrom::Start(base))?;
        let mut scanner = MboxScanner::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut lines_of_from: HashMap<u64, String> = HashMap::new();
        let mut total = base;
        let mut carry: Vec<u8> = Vec::new();
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            scanner.feed(&buf[..n]);
            // Remember `From ` lines for internal dates.
            let mut chunk = std::mem::take(&mut carry);
            chunk.extend_from_slice(&buf[..n]);
            let chunk_base = total - (chunk.len() - n) as u64;
            let mut pos = 0;
            while let Some(i) = memchr::memchr(b'\n', &chunk[pos..]) {
                let line = &chunk[pos..pos + i];
                if line.starts_with(b"From ") {
                    lines_of_from.insert(
                        chunk_base + pos as u64,
                        String::from_utf8_lossy(line).into_owned(),
                    );
                }
                pos += i + 1;
            }
            carry = chunk[pos..].to_vec();
            if carry.len() > 4096 {
                carry.clear();
            }
            total += n as u64;
        }
        let mut found = scanner.finish();
        if appended_only {
            number_duplicates_after(&self.entries, &mut found);
        }
        let mut known: HashMap<String, Entry> = if appended_only {
            HashMap::new()
        } else {
            self.entries
                .drain(..)
                .map(|e| (e.fingerprint.clone(), e))
                .collect()
        };
        let mut new_entries = Vec::new();
        for m in found {
            let (from_offset, start, end) = (m.from_offset + base, m.start + base, m.end + base);
            // `lines_of_from` is keyed by offsets in the file; the scanner's are relative
            // to where this scan started.
            let date = lines_of_from
                .get(&from_offset)
                .and_then(|l| from_line_date(l))
                .map_or_else(|| WallClock::utc(0), WallClock::utc);
            let e = match known.remove(&m.uid) {
                Some(mut e) => {
                    if e.internal_date.unix_secs == 0 {
                        // Repairs indexes written while appended messages got the epoch
                        // as INTERNALDATE: the `From ` line has the delivery time.
                        e.internal_date = date;
                    }
                    e.size = m.size;
                    e.from_offset = from_offset;
                    e.start = start;
                    e.end = end;
                    e
                }
                None => {
                    let uid = self.uid_next;
                    self.uid_next += 1;
                    Entry {
                        uid,
                        fingerprint: m.uid.clone(),
                        flags: Vec::new(),
                        modseq: 0,
                        internal_date: date,
                        size: m.size,
                        from_offset,
                        start,
                        end,
                    }
                }
            };
            new_entries.push(e);
        }
        self.scanned = Some(stamp);
        if appended_only {
            // The last old message's end may have moved if the file lacked a final
            // separator; keep old entries as they are.
            let before = self.entries.len();
            self.entries.extend(new_entries);
            Ok((self.entries.len() > before).then_some(before))
        } else {
            new_entries.sort_by_key(|e| e.from_offset);
            // UIDs ascend in file order (RFC 3501 §2.3.1.1): a message found before
            // others that already had greater UIDs (a file edited by another program, an
            // expunge undone by a crash) moves the later ones to new UIDs.
            let mut last = 0;
            for e in &mut new_entries {
                if e.uid <= last {
                    e.uid = self.uid_next;
                    self.uid_next += 1;
                }
                last = e.uid;
            }
            self.entries = new_entries;
            // Messages gone from the file without an EXPUNGE here (another program
            // rewrote it) vanished all the same.
            let lost: Vec<u32> = known.values().map(|e| e.uid).collect();
            if !lost.is_empty() {
                let modseq = self.next_modseq();
                self.vanished.record(modseq, &lost);
            }
            self.save().map(|()| None)
        }
    }

    /// The view; with `claim`, the `\Recent` messages are this caller's from now on.
    /// Without `claim` (EXAMINE), the messages no session has claimed yet are shown as
    /// `\Recent` but stay recent for the next session that selects the folder read-write.
    pub(crate) fn view(&mut self, claim: bool) -> MailboxView {
        let recent: Vec<u32> = self
            .entries
            .iter()
            .filter(|e| e.uid >= self.recent_from)
            .map(|e| e.uid)
            .collect();
        if claim && self.recent_from != self.uid_next {
            self.recent_from = self.uid_next;
            let _ = self.log_recent();
        }
        MailboxView {
            uid_validity: self.uid_validity,
            uid_next: self.uid_next,
            highest_modseq: self.highest_modseq,
            recent,
            messages: self
                .entries
                .iter()
                .map(|e| MessageMeta {
                    uid: e.uid,
                    flags: e.flags.clone(),
                    internal_date: e.internal_date,
                    size: e.size,
                    modseq: e.modseq,
                })
                .collect(),
        }
    }

    /// STATUS counts of the folder as cached (no new look at the files).
    pub(crate) fn status(&mut self) -> StatusInfo {
        let recent = self
            .entries
            .iter()
            .filter(|e| e.uid >= self.recent_from)
            .count() as u32;
        let v = self.view(false);
        let has = |m: &MessageMeta, flag: &str| m.flags.iter().any(|f| f == flag);
        StatusInfo {
            messages: v.messages.len() as u32,
            recent,
            uid_next: v.uid_next,
            uid_validity: v.uid_validity,
            unseen: v.messages.iter().filter(|m| !has(m, "\\Seen")).count() as u32,
            size: v.messages.iter().map(|m| m.size).sum(),
            highest_modseq: v.highest_modseq,
            deleted: v.messages.iter().filter(|m| has(m, "\\Deleted")).count() as u32,
        }
    }

    pub(crate) fn read(&self, e: &Entry) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; (e.end - e.start) as usize];
        self.reading_file()?.read_exact_at(&mut buf, e.start)?;
        Ok(stored_to_crlf(&buf))
    }

    /// Opens the mbox for reading again when the one held is not the file at `ino`
    /// (the file was replaced: an EXPUNGE, another program's rewrite).
    fn keep_reader(&mut self, ino: u64) {
        if self.reader.as_ref().is_some_and(|(held, _)| *held == ino) {
            return;
        }
        self.reader = File::open(&self.path)
            .ok()
            .filter(|f| f.metadata().is_ok_and(|m| m.ino() == ino))
            .map(|f| (ino, Arc::new(f)));
    }

    /// The file to read messages from: the one held when it is the file last scanned
    /// (whose entries the caller has), else the mbox opened now.
    fn reading_file(&self) -> io::Result<Arc<File>> {
        match (&self.reader, self.scanned) {
            (Some((held, file)), Some((ino, _))) if *held == ino => Ok(file.clone()),
            _ => File::open(&self.path).map(Arc::new),
        }
    }

    /// Reads a message as IMAP serves it (CRLF line ends, quoting undone) in chunks of
    /// about 64 KiB, passing each to `each` until it returns false.
    pub(crate) fn stream(&self, e: &Entry, mut each: impl FnMut(&[u8]) -> bool) -> io::Result<()> {
        let mut chunks = self.open(e)?;
        while let Some(chunk) = chunks.next_chunk()? {
            if !each(&chunk) {
                break;
            }
        }
        Ok(())
    }

    /// A message as IMAP serves it, read chunk by chunk from its own file handle (an
    /// EXPUNGE meanwhile renames a new file in; this one keeps reading the old).
    pub(crate) fn open(&self, e: &Entry) -> io::Result<CrlfChunks> {
        Ok(CrlfChunks {
            file: self.reading_file()?,
            pos: e.start,
            left: e.end.saturating_sub(e.start),
            conv: Some(CrlfStream::new()),
        })
    }

    /// A message's header section (through its empty line), read without reading the
    /// body; the whole message when no empty line comes within the first MiB.
    pub(crate) fn read_header(&self, e: &Entry) -> io::Result<Vec<u8>> {
        const MAX_HEADER: usize = 1024 * 1024;
        let mut header = Vec::new();
        let mut ended = false;
        self.stream(e, |chunk| {
            let from = header.len().saturating_sub(3);
            header.extend_from_slice(chunk);
            if let Some(end) = header_end(&header, from) {
                header.truncate(end);
                ended = true;
            }
            !ended && header.len() <= MAX_HEADER
        })?;
        if ended {
            Ok(header)
        } else {
            self.read(e)
        }
    }

    /// Messages (or their headers) as [`Folder::read`] and [`Folder::read_header`] give
    /// them, in the order of `entries` (folder order): neighbours in the file are read
    /// together, one read for each run of up to [`READ_RUN`] bytes, so a FETCH of many
    /// small messages costs a few reads instead of one per message.
    pub(crate) fn read_many(
        &self,
        entries: &[&Entry],
        header_only: bool,
    ) -> io::Result<Vec<Vec<u8>>> {
        let mut out = Vec::with_capacity(entries.len());
        let mut rest = entries;
        while let Some(first) = rest.first() {
            let run = 1 + rest
                .windows(2)
                .take_while(|w| {
                    w[1].start >= w[0].end
                        && w[1].start - w[0].end <= READ_GAP
                        && w[1].end.saturating_sub(first.start) <= READ_RUN
                })
                .count();
            let (these, after) = rest.split_at(run);
            rest = after;
            let last_end = these[run - 1].end;
            if run == 1 && last_end.saturating_sub(first.start) > READ_RUN {
                out.push(if header_only {
                    self.read_header(first)?
                } else {
                    self.read(first)?
                });
                continue;
            }
            let mut buf = vec![0u8; last_end.saturating_sub(first.start) as usize];
            self.reading_file()?.read_exact_at(&mut buf, first.start)?;
            for e in these {
                let at = (e.start - first.start) as usize;
                let mut message = stored_to_crlf(&buf[at..at + (e.end - e.start) as usize]);
                if header_only {
                    if let Some(end) = header_end(&message, 0) {
                        message.truncate(end);
                    }
                }
                out.push(message);
            }
        }
        Ok(out)
    }

    /// The raw mbox entry (From line to the next message).
    pub(crate) fn raw_entry(&self, i: usize) -> io::Result<Vec<u8>> {
        let e = &self.entries[i];
        let end = self
            .entries
            .get(i + 1)
            .map_or(e.end, |n| n.from_offset)
            .max(e.end);
        let mut buf = vec![0u8; (end - e.from_offset) as usize];
        self.reading_file()?
            .read_exact_at(&mut buf, e.from_offset)?;
        if !buf.ends_with(b"\n\n") {
            if !buf.ends_with(b"\n") {
                buf.push(b'\n');
            }
            buf.push(b'\n');
        }
        Ok(buf)
    }

    /// Removes messages: writes the others to a new file and renames it over the mbox,
    /// under the delivery locks. The copy and the removal's log record are made durable
    /// (one `syncfs`) before the rename; the rename itself with the next append to a
    /// mailbox of the directory (see [`defer_dir_sync`]); the
    /// messages kept get their new offsets (and duplicate numbers) from the copy itself,
    /// without a rescan.
    pub(crate) fn expunge(&mut self, uids: &[u32]) -> io::Result<()> {
        let _dot = DotLock::acquire(&self.path, LOCK_WAIT)?;
        let src_file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        fcntl_lock_exclusive(&src_file)?;
        self.sync()?;
        let gone: HashSet<u32> = uids.iter().copied().collect();
        let removed: Vec<u32> = self
            .entries
            .iter()
            .filter(|e| gone.contains(&e.uid))
            .map(|e| e.uid)
            .collect();
        if removed.is_empty() {
            return Ok(());
        }
        let dir = self.path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.imap.tmp"));
        let copied = self.copy_kept(&src_file, &tmp, &gone);
        let KeptCopy {
            kept,
            renamed,
            stamp,
        } = match copied {
            Ok(k) => k,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        // One flush of the file system makes both the copy and the log's record durable
        // before the rename (two fsyncs had cost twice the wait), and an earlier rename
        // here too.
        let deferred = deferred_dir_sync(&dir);
        let mut modseq = 0;
        let replaced = self
            .log_expunge(&removed, &renamed)
            .and_then(|m| {
                modseq = m;
                rustix::fs::syncfs(&src_file).map_err(io::Error::from)
            })
            .and_then(|()| {
                if let Some(n) = deferred {
                    dir_synced(&dir, n);
                }
                fs::rename(&tmp, &self.path)
            });
        if let Err(e) = replaced {
            let _ = fs::remove_file(&tmp);
            // The log may say "removed": a new snapshot of the unchanged folder says not.
            let _ = self.save();
            return Err(e);
        }
        self.entries = kept;
        self.vanished.record(modseq, &removed);
        self.scanned = Some(stamp);
        self.keep_reader(stamp.0);
        // Durable with the next append to a mailbox here (or the next EXPUNGE).
        defer_dir_sync(&dir);
        Ok(())
    }

    /// Copies the messages not in `gone` from `src` to a new file `tmp` (not flushed), with
    /// the source's owner and mode. Returns them with their offsets in the copy and the
    /// fingerprints a scan of it would give, those whose fingerprint changed (a duplicate
    /// renumbered), and the copy's (inode, length).
    fn copy_kept(&self, src: &File, tmp: &Path, gone: &HashSet<u32>) -> io::Result<KeptCopy> {
        let meta = src.metadata()?;
        let mut out = File::create(tmp)?;
        out.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::fchown(&out, Some(meta.uid()), Some(meta.gid()))?;
        }
        let first = self.entries.first().map_or(meta.len(), |e| e.from_offset);
        // The kept stretches of the source, adjacent ones joined: copied at the end, a
        // few `copy_file_range` calls for the whole folder.
        let mut runs: Vec<(u64, u64)> = vec![(0, first)];
        let mut pos = first;
        let mut kept = Vec::with_capacity(self.entries.len());
        let mut renamed = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, e) in self.entries.iter().enumerate() {
            let end = self
                .entries
                .get(i + 1)
                .map_or(meta.len(), |n| n.from_offset);
            if gone.contains(&e.uid) {
                continue;
            }
            match runs.last_mut() {
                Some(run) if run.1 == e.from_offset => run.1 = end,
                _ => runs.push((e.from_offset, end)),
            }
            let shift = e.from_offset - pos;
            let base = base_fingerprint(&e.fingerprint).to_string();
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            let fingerprint = if *n == 1 { base } else { format!("{base}-{n}") };
            let moved = Entry {
                fingerprint,
                from_offset: pos,
                start: e.start - shift,
                end: e.end - shift,
                ..e.clone()
            };
            if moved.fingerprint != e.fingerprint {
                renamed.push(moved.clone());
            }
            kept.push(moved);
            pos += end - e.from_offset;
        }
        for (from, to) in runs {
            copy_range(src, &mut out, from, to)?;
        }
        Ok(KeptCopy {
            kept,
            renamed,
            stamp: (out.metadata()?.ino(), pos),
        })
    }
}

/// What EXPUNGE's copy of a folder kept (see [`Folder::copy_kept`]).
struct KeptCopy {
    /// The messages kept, with their offsets in the copy.
    kept: Vec<Entry>,
    /// Those of them whose fingerprint changed (a duplicate renumbered).
    renamed: Vec<Entry>,
    /// The copy's (inode, length).
    stamp: (u64, u64),
}

/// One stored message read as IMAP serves it (CRLF line ends, mboxrd quoting undone),
/// about 64 KiB at a time.
#[derive(Debug)]
pub struct CrlfChunks {
    file: Arc<File>,
    /// Where the next stored octets are read.
    pos: u64,
    /// Stored octets not read yet.
    left: u64,
    /// None once the last chunk was returned.
    conv: Option<CrlfStream>,
}

impl MessageChunks for CrlfChunks {
    fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        const CHUNK: usize = 64 * 1024;
        let Some(conv) = self.conv.as_mut() else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(CHUNK + CHUNK / 16);
        while out.is_empty() && self.left > 0 {
            let mut buf = vec![0u8; (self.left as usize).min(CHUNK)];
            self.file.read_exact_at(&mut buf, self.pos)?;
            self.pos += buf.len() as u64;
            self.left -= buf.len() as u64;
            conv.feed(&buf, &mut out);
        }
        if self.left == 0 {
            if let Some(conv) = self.conv.take() {
                conv.finish(&mut out);
            }
            if out.is_empty() {
                return Ok(None);
            }
        }
        Ok(Some(out))
    }
}

/// The fingerprint without the `-N` suffix that tells identical messages apart.
pub(crate) fn base_fingerprint(fp: &str) -> &str {
    fp.split_once('-').map_or(fp, |(base, _)| base)
}

/// Renumbers the duplicate suffixes of messages found after `existing` ones so that
/// fingerprints stay unique across the whole folder (the scanner numbers only what it saw).
pub(crate) fn number_duplicates_after(existing: &[Entry], found: &mut [MboxMessage]) {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for e in existing {
        *counts
            .entry(base_fingerprint(&e.fingerprint).to_string())
            .or_insert(0) += 1;
    }
    for m in found {
        let base = base_fingerprint(&m.uid).to_string();
        let n = counts.entry(base.clone()).or_insert(0);
        *n += 1;
        m.uid = if *n == 1 { base } else { format!("{base}-{n}") };
    }
}

pub(crate) fn copy_range(mut src: &File, out: &mut File, from: u64, to: u64) -> io::Result<()> {
    src.seek(SeekFrom::Start(from))?;
    // `io::copy` from a file to a file lets the kernel copy (`copy_file_range`).
    io::copy(&mut src.take(to.saturating_sub(from)), out).map(drop)
}

#[cfg(test)]
mod tests;
