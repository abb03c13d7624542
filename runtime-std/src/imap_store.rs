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
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use postrider_core::imap::command::StoreMode;
use postrider_core::imap::search::{ContentFacts, ContentScan};
use postrider_core::imap::server::{
    FetchedMessage, ListEntry, MailboxView, MessageMeta, StatusInfo, StoreError,
};
use postrider_core::imap::store::FetchPart;
use postrider_core::imf::datetime::WallClock;
use postrider_core::maildrop::{stored_to_crlf, CrlfStream, MboxMessage, MboxScanner};

use crate::context::Context;
use crate::fsutil::{fcntl_lock_exclusive, fsync_dir, DotLock};
use crate::local::{home_of, mailbox_path};
use crate::mbox::{self, LOCK_WAIT};

/// The special-use folders created at first login (RFC 6154).
pub const SPECIAL_USE: [(&str, &str); 4] = [
    ("Drafts", "\\Drafts"),
    ("Sent", "\\Sent"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
];

#[derive(Debug, Clone)]
struct Entry {
    uid: u32,
    fingerprint: String,
    flags: Vec<String>,
    internal_date: WallClock,
    size: u64,
    from_offset: u64,
    start: u64,
    end: u64,
}

/// The cached state of one folder.
#[derive(Debug)]
pub struct Folder {
    path: PathBuf,
    index_path: PathBuf,
    uid_validity: u32,
    uid_next: u32,
    /// Messages from this UID on are `\Recent` for the next session that selects.
    recent_from: u32,
    entries: Vec<Entry>,
    /// (inode, length) of the file at the last scan.
    scanned: Option<(u64, u64)>,
    /// Generation of the index; flag changes since it was written are in the flag log of
    /// the same generation.
    generation: u64,
    /// Bytes in the current flag log.
    log_len: u64,
}

/// Past this size the flag log is folded into a new index.
const MAX_FLAG_LOG: u64 = 256 * 1024;

/// Folders shared by all sessions of the process.
#[derive(Debug, Default)]
pub struct MailStore {
    folders: Mutex<HashMap<PathBuf, Arc<Mutex<Folder>>>>,
}

fn err(code: Option<&str>, text: impl Into<String>) -> StoreError {
    StoreError::new(code, text)
}

/// A store failure as the client sees it: what kind of failure, never a path or the
/// system's error text (those go to the log).
fn io_err(e: io::Error) -> StoreError {
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

/// An index date: `SECS/OFFSET_MINUTES` (or plain `SECS`, read as UTC).
fn parse_index_date(text: &str) -> Option<WallClock> {
    let (secs, offset) = text.split_once('/').unwrap_or((text, "0"));
    Some(WallClock {
        unix_secs: secs.parse().ok()?,
        utc_offset_minutes: offset.parse().ok()?,
    })
}

/// Parses the date of a `From ` line (`From sender Thu Jan  1 00:00:00 1970`).
fn from_line_date(line: &str) -> Option<i64> {
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
fn next_uid_validity(counter: &Path) -> u32 {
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
    fn load(path: PathBuf, index_path: PathBuf, uid_validity_counter: &Path) -> Folder {
        let mut f = Folder {
            path,
            index_path,
            uid_validity: 0,
            uid_next: 1,
            recent_from: 1,
            entries: Vec::new(),
            scanned: None,
            generation: 0,
            log_len: 0,
        };
        if let Ok(text) = fs::read_to_string(&f.index_path) {
            for line in text.lines() {
                let parts: Vec<&str> = line.split('\t').collect();
                match parts.as_slice() {
                    ["generation", v] => f.generation = v.parse().unwrap_or(0),
                    ["uidvalidity", v] => f.uid_validity = v.parse().unwrap_or(0),
                    ["uidnext", v] => f.uid_next = v.parse().unwrap_or(1),
                    ["recent", v] => f.recent_from = v.parse().unwrap_or(1),
                    [uid, fp, date, flags] => {
                        if let (Ok(uid), Some(date)) = (uid.parse(), parse_index_date(date)) {
                            f.entries.push(Entry {
                                uid,
                                fingerprint: fp.to_string(),
                                flags: flags.split_whitespace().map(str::to_string).collect(),
                                internal_date: date,
                                size: 0,
                                from_offset: 0,
                                start: 0,
                                end: 0,
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
        f.replay_flag_log();
        if f.uid_validity == 0 {
            f.uid_validity = next_uid_validity(uid_validity_counter);
        }
        f
    }

    /// The flag log of index generation `generation`.
    fn flag_log_path(&self, generation: u64) -> PathBuf {
        let mut name = self.index_path.as_os_str().to_owned();
        name.push(format!(".log{generation}"));
        PathBuf::from(name)
    }

    /// Applies the flag log of the loaded index's generation: whole lines only (a line
    /// cut by a crash is ignored), in order, each setting one message's flags.
    fn replay_flag_log(&mut self) {
        // Logs of other generations were folded into an index already (a crash between
        // writing the new index and removing the old log leaves one behind).
        let current = self.flag_log_path(self.generation);
        for (stale, _) in flag_logs(&self.index_path) {
            if stale != current {
                let _ = fs::remove_file(stale);
            }
        }
        let Ok(log) = fs::read(&current) else {
            return;
        };
        self.log_len = log.len() as u64;
        let whole = match memchr::memrchr(b'\n', &log) {
            Some(i) => &log[..=i],
            None => return,
        };
        let at: HashMap<u32, usize> = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.uid, i))
            .collect();
        for line in String::from_utf8_lossy(whole).lines() {
            let Some((uid, flags)) = line.split_once('\t') else {
                continue;
            };
            if let Some(&i) = uid.parse().ok().and_then(|u: u32| at.get(&u)) {
                self.entries[i].flags = flags.split_whitespace().map(str::to_string).collect();
            }
        }
    }

    /// Records new flags of some messages by appending to the flag log (one write, not
    /// fsynced: like Dovecot's index log, flag changes may be lost by a power failure,
    /// never the messages); a long log is folded into a new index instead.
    fn log_flags(&mut self, changes: &[(u32, Vec<String>)]) -> io::Result<()> {
        if self.log_len >= MAX_FLAG_LOG {
            return self.save();
        }
        let mut text = String::new();
        for (uid, flags) in changes {
            text.push_str(&uid.to_string());
            text.push('\t');
            text.push_str(&flags.join(" "));
            text.push('\n');
        }
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.flag_log_path(self.generation))?;
        log.write_all(text.as_bytes())?;
        self.log_len += text.len() as u64;
        Ok(())
    }

    /// Writes the whole index as a new generation (fsynced, renamed into place), then
    /// drops the previous generation's flag log, which it includes.
    fn save(&mut self) -> io::Result<()> {
        use std::fmt::Write as _;
        if let Some(dir) = self.index_path.parent() {
            fs::create_dir_all(dir)?;
        }
        let generation = self.generation + 1;
        let mut text = format!(
            "generation\t{generation}\nuidvalidity\t{}\nuidnext\t{}\nrecent\t{}\n",
            self.uid_validity, self.uid_next, self.recent_from
        );
        for e in &self.entries {
            let _ = writeln!(
                text,
                "{}\t{}\t{}/{}\t{}",
                e.uid,
                e.fingerprint,
                e.internal_date.unix_secs,
                e.internal_date.utc_offset_minutes,
                e.flags.join(" ")
            );
        }
        let tmp = self.index_path.with_extension("index.tmp");
        {
            let mut f = File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &self.index_path)?;
        let old = self.flag_log_path(self.generation);
        self.generation = generation;
        self.log_len = 0;
        let _ = fs::remove_file(old);
        Ok(())
    }

    /// Brings the cache up to date with the file.
    fn sync(&mut self) -> io::Result<()> {
        self.sync_with(false)
    }

    /// Brings the cache up to date with the file. `positional`: the file was just rewritten
    /// by us from `entries` in order, so the k-th message found is the k-th entry (identical
    /// messages cannot be told apart by their fingerprints alone).
    fn sync_with(&mut self, positional: bool) -> io::Result<()> {
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
            return Ok(());
        };
        let stamp = (meta.ino(), meta.len());
        if self.scanned == Some(stamp) {
            return Ok(());
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
        } else if positional && found.len() == self.entries.len() {
            for (e, m) in self.entries.iter_mut().zip(&found) {
                e.fingerprint = m.uid.clone();
                e.size = m.size;
                e.from_offset = m.from_offset;
                e.start = m.start;
                e.end = m.end;
            }
            self.scanned = Some(stamp);
            return self.save();
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
        if appended_only {
            // The last old message's end may have moved if the file lacked a final
            // separator; keep old entries as they are.
            self.entries.extend(new_entries);
        } else {
            new_entries.sort_by_key(|e| e.from_offset);
            self.entries = new_entries;
        }
        self.scanned = Some(stamp);
        self.save()
    }

    /// The view; with `claim`, the `\Recent` messages are this caller's from now on.
    /// Without `claim` (EXAMINE), the messages no session has claimed yet are shown as
    /// `\Recent` but stay recent for the next session that selects the folder read-write.
    fn view(&mut self, claim: bool) -> MailboxView {
        let recent: Vec<u32> = self
            .entries
            .iter()
            .filter(|e| e.uid >= self.recent_from)
            .map(|e| e.uid)
            .collect();
        if claim && self.recent_from != self.uid_next {
            self.recent_from = self.uid_next;
            let _ = self.save();
        }
        MailboxView {
            uid_validity: self.uid_validity,
            uid_next: self.uid_next,
            recent,
            messages: self
                .entries
                .iter()
                .map(|e| MessageMeta {
                    uid: e.uid,
                    flags: e.flags.clone(),
                    internal_date: e.internal_date,
                    size: e.size,
                })
                .collect(),
        }
    }

    fn read(&self, e: &Entry) -> io::Result<Vec<u8>> {
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(e.start))?;
        let mut buf = vec![0u8; (e.end - e.start) as usize];
        f.read_exact(&mut buf)?;
        Ok(stored_to_crlf(&buf))
    }

    /// Reads a message as IMAP serves it (CRLF line ends, quoting undone) in chunks of
    /// about 64 KiB, passing each to `each` until it returns false.
    fn stream(&self, e: &Entry, mut each: impl FnMut(&[u8]) -> bool) -> io::Result<()> {
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(e.start))?;
        let mut left = e.end.saturating_sub(e.start);
        let mut buf = vec![0u8; 64 * 1024];
        let mut conv = CrlfStream::new();
        let mut out = Vec::with_capacity(buf.len() + 4096);
        while left > 0 {
            let want = (buf.len() as u64).min(left) as usize;
            f.read_exact(&mut buf[..want])?;
            left -= want as u64;
            out.clear();
            conv.feed(&buf[..want], &mut out);
            if !out.is_empty() && !each(&out) {
                return Ok(());
            }
        }
        out.clear();
        conv.finish(&mut out);
        if !out.is_empty() {
            each(&out);
        }
        Ok(())
    }

    /// A message's header section (through its empty line), read without reading the
    /// body; the whole message when no empty line comes within the first MiB.
    fn read_header(&self, e: &Entry) -> io::Result<Vec<u8>> {
        const MAX_HEADER: usize = 1024 * 1024;
        let mut header = Vec::new();
        let mut ended = false;
        self.stream(e, |chunk| {
            let from = header.len().saturating_sub(3);
            header.extend_from_slice(chunk);
            if header.starts_with(b"\r\n") {
                header.truncate(2);
                ended = true;
            } else if let Some(i) = memchr::memmem::find(&header[from..], b"\r\n\r\n") {
                header.truncate(from + i + 4);
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

    /// The raw mbox entry (From line to the next message).
    fn raw_entry(&self, i: usize) -> io::Result<Vec<u8>> {
        let e = &self.entries[i];
        let end = self
            .entries
            .get(i + 1)
            .map_or(e.end, |n| n.from_offset)
            .max(e.end);
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(e.from_offset))?;
        let mut buf = vec![0u8; (end - e.from_offset) as usize];
        f.read_exact(&mut buf)?;
        if !buf.ends_with(b"\n\n") {
            if !buf.ends_with(b"\n") {
                buf.push(b'\n');
            }
            buf.push(b'\n');
        }
        Ok(buf)
    }

    /// Removes messages: writes the others to a new file and renames it over the mbox,
    /// under the delivery locks.
    fn expunge(&mut self, uids: &[u32]) -> io::Result<()> {
        let _dot = DotLock::acquire(&self.path, LOCK_WAIT)?;
        let src_file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        fcntl_lock_exclusive(&src_file)?;
        self.sync()?;
        let meta = src_file.metadata()?;
        let dir = self.path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.imap.tmp"));
        let result = (|| -> io::Result<()> {
            let mut out = File::create(&tmp)?;
            out.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))?;
            if rustix::process::geteuid().is_root() {
                std::os::unix::fs::fchown(&out, Some(meta.uid()), Some(meta.gid()))?;
            }
            let first = self.entries.first().map_or(meta.len(), |e| e.from_offset);
            let mut src = File::open(&self.path)?;
            copy_range(&mut src, &mut out, 0, first)?;
            for (i, e) in self.entries.iter().enumerate() {
                let end = self
                    .entries
                    .get(i + 1)
                    .map_or(meta.len(), |n| n.from_offset);
                if !uids.contains(&e.uid) {
                    copy_range(&mut src, &mut out, e.from_offset, end)?;
                }
            }
            out.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            fsync_dir(&dir)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
        self.entries.retain(|e| !uids.contains(&e.uid));
        self.scanned = None;
        self.sync_with(true)
    }
}

/// The flag logs of the index at `index` (with their suffixes, `.logN`).
fn flag_logs(index: &Path) -> Vec<(PathBuf, String)> {
    let (Some(dir), Some(name)) = (index.parent(), index.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}.log", name.to_string_lossy());
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    let generation = n.strip_prefix(&prefix)?;
                    generation
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                        .then(|| (e.path(), format!(".log{generation}")))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The fingerprint without the `-N` suffix that tells identical messages apart.
fn base_fingerprint(fp: &str) -> &str {
    fp.split_once('-').map_or(fp, |(base, _)| base)
}

/// Renumbers the duplicate suffixes of messages found after `existing` ones so that
/// fingerprints stay unique across the whole folder (the scanner numbers only what it saw).
fn number_duplicates_after(existing: &[Entry], found: &mut [MboxMessage]) {
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

fn copy_range(src: &mut File, out: &mut File, from: u64, to: u64) -> io::Result<()> {
    src.seek(SeekFrom::Start(from))?;
    let mut left = to.saturating_sub(from);
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        let want = (left as usize).min(buf.len());
        let n = src.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
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

/// The store as one user sees it.
#[derive(Debug)]
pub struct UserStore<'a> {
    ctx: &'a Context,
    user: String,
}

impl<'a> UserStore<'a> {
    /// The store of `user`.
    pub fn new(ctx: &'a Context, user: &str) -> Self {
        Self {
            ctx,
            user: user.to_string(),
        }
    }

    fn mail_dir(&self) -> PathBuf {
        home_of(self.ctx, &self.user)
            .unwrap_or_else(|| {
                self.ctx
                    .settings
                    .config
                    .data_dir
                    .join("home")
                    .join(&self.user)
            })
            .join("mail")
    }

    fn state_dir(&self) -> PathBuf {
        self.ctx
            .settings
            .config
            .data_dir
            .join("imap")
            .join(&self.user)
    }

    fn folder_path(&self, name: &str) -> Result<PathBuf, StoreError> {
        if name == "INBOX" {
            return Ok(mailbox_path(self.ctx, &self.user));
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
        let crate::accounts::Accounts::System(sys) = &self.ctx.accounts else {
            return Ok(());
        };
        if !crate::privileges::running_as_root() {
            return Ok(());
        }
        let Some(entry) = sys.lookup(&self.user) else {
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
        let mut map = lock(&self.ctx.mail_store.folders);
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
        if let Some(e) = f
            .entries
            .iter_mut()
            .rev()
            .find(|e| e.fingerprint == fp || e.fingerprint.starts_with(&format!("{fp}-")))
        {
            e.flags = flags.to_vec();
        }
        let _ = f.save();
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
        let recent = f.entries.iter().filter(|e| e.uid >= f.recent_from).count() as u32;
        let v = f.view(false);
        Ok(StatusInfo {
            messages: v.messages.len() as u32,
            recent,
            uid_next: v.uid_next,
            uid_validity: v.uid_validity,
            unseen: v
                .messages
                .iter()
                .filter(|m| !m.flags.iter().any(|f| f == "\\Seen"))
                .count() as u32,
        })
    }

    /// Message contents.
    pub fn fetch(
        &self,
        name: &str,
        uids: &[u32],
        part: FetchPart,
    ) -> Result<Vec<FetchedMessage>, StoreError> {
        self.each_present(name, uids, |f, e| {
            let data = match part {
                FetchPart::Full => f.read(e),
                FetchPart::Header => f.read_header(e),
            }?;
            Ok(FetchedMessage {
                uid: e.uid,
                data: Bytes::from(data),
            })
        })
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

    /// Changes flags relative to their current state (STORE); returns each message's
    /// flags afterwards.
    pub fn set_flags(
        &self,
        name: &str,
        uids: &[u32],
        mode: StoreMode,
        flags: &[String],
    ) -> Result<Vec<(u32, Vec<String>)>, StoreError> {
        let f = self.folder(name)?;
        let mut f = lock(&f);
        f.sync().map_err(io_err)?;
        let has = |list: &[String], x: &str| list.iter().any(|y| y.eq_ignore_ascii_case(x));
        let mut out = Vec::new();
        for e in f.entries.iter_mut().filter(|e| uids.contains(&e.uid)) {
            match mode {
                StoreMode::Replace => e.flags = flags.to_vec(),
                StoreMode::Add => {
                    for x in flags {
                        if !has(&e.flags, x) {
                            e.flags.push(x.clone());
                        }
                    }
                }
                StoreMode::Remove => e.flags.retain(|x| !has(flags, x)),
            }
            out.push((e.uid, e.flags.clone()));
        }
        f.log_flags(&out).map_err(io_err)?;
        Ok(out)
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
        f.sync().map_err(io_err)?;
        let uid_validity = f.uid_validity;
        let Some(e) = f.entries.get_mut(before) else {
            return Err(err(Some("SERVERBUG"), "Appended message not found"));
        };
        e.flags = flags.to_vec();
        e.internal_date = when;
        let uid = e.uid;
        f.save().map_err(io_err)?;
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
            d.sync().map_err(io_err)?;
            uid_validity = d.uid_validity;
            for (k, c) in copies.iter().enumerate() {
                if let Some(e) = d.entries.get_mut(before + k) {
                    e.flags = c.1.clone();
                    e.internal_date = c.2;
                    pairs.push((c.0, e.uid));
                }
            }
            d.save().map_err(io_err)?;
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
        let index = self
            .state_dir()
            .join("folders")
            .join(format!("{name}.index"));
        for (log, _) in flag_logs(&index) {
            let _ = fs::remove_file(log);
        }
        let _ = fs::remove_file(index);
        lock(&self.ctx.mail_store.folders).remove(&p);
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
        let mut map = lock(&self.ctx.mail_store.folders);
        map.remove(&a);
        map.remove(&b);
        Ok(())
    }

    fn subscriptions_path(&self) -> PathBuf {
        self.state_dir().join("subscriptions")
    }

    fn subscriptions(&self) -> Vec<String> {
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
        fs::write(&p, subs.join("\n") + "\n").map_err(io_err)
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
        let full = format!("{reference}{pattern}");
        let subs = self.subscriptions();
        let mut out = Vec::new();
        for (name, selectable, children) in self.all_folders() {
            if !wildcard_match(&full, &name) {
                continue;
            }
            if subscribed && !subs.contains(&name) {
                continue;
            }
            let mut attrs = Vec::new();
            if !selectable {
                attrs.push("\\Noselect".to_string());
            }
            attrs.push(
                if children {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                }
                .to_string(),
            );
            if let Some((_, attr)) = SPECIAL_USE.iter().find(|(n, _)| *n == name) {
                attrs.push(attr.to_string());
            }
            out.push(ListEntry {
                name,
                attributes: attrs,
            });
        }
        if subscribed {
            // Subscribed names that no longer exist are still listed; a level above a
            // subscribed name that `%` stops at is listed \Noselect (RFC 3501 §6.3.9).
            for s in &subs {
                if wildcard_match(&full, s) && !out.iter().any(|e| &e.name == s) {
                    out.push(ListEntry {
                        name: s.clone(),
                        attributes: vec!["\\Noselect".into()],
                    });
                }
                let mut prefix = String::new();
                for part in s.split('/') {
                    if !prefix.is_empty() {
                        if wildcard_match(&full, &prefix)
                            && !subs.contains(&prefix)
                            && !out.iter().any(|e| e.name == prefix)
                        {
                            out.push(ListEntry {
                                name: prefix.clone(),
                                attributes: vec!["\\Noselect".into()],
                            });
                        }
                        prefix.push('/');
                    }
                    prefix.push_str(part);
                }
            }
        }
        out
    }
}

/// LIST pattern matching: `*` matches anything, `%` anything but the separator; INBOX
/// is matched without case.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    fn m(p: &[u8], n: &[u8]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some(b'*') => (0..=n.len()).any(|i| m(&p[1..], &n[i..])),
            Some(b'%') => (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != b'/')
                .any(|i| m(&p[1..], &n[i..])),
            Some(&c) => n.first() == Some(&c) && m(&p[1..], &n[1..]),
        }
    }
    if name == "INBOX" {
        let upper = pattern.to_ascii_uppercase();
        return m(upper.as_bytes(), b"INBOX");
    }
    m(pattern.as_bytes(), name.as_bytes())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "a/b"));
        assert!(!wildcard_match("%", "a/b"));
        assert!(wildcard_match("a/%", "a/b"));
        assert!(wildcard_match("inbox", "INBOX"));
        assert!(wildcard_match("S*", "Sent"));
        assert!(!wildcard_match("S*", "Trash"));
    }

    #[test]
    fn flag_log_replays_whole_lines_and_drops_other_generations() {
        let dir = std::env::temp_dir().join(format!("postrider-flaglog-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let (mbox, index) = (dir.join("INBOX"), dir.join("INBOX.index"));
        fs::write(
            &mbox,
            "From a@b Thu Jan  1 00:00:10 1970\nSubject: one\n\n1\n\nFrom a@b Thu Jan  1 00:00:20 1970\nSubject: two\n\n2\n\n",
        )
        .unwrap();
        let mut f = Folder::load(mbox.clone(), index.clone(), &dir.join("uidvalidity"));
        f.sync().unwrap();
        assert_eq!(f.entries.len(), 2);
        let generation = f.generation;
        f.log_flags(&[(1, vec!["\\Seen".into()])]).unwrap();
        f.log_flags(&[
            (2, vec!["kw".into()]),
            (1, vec!["\\Seen".into(), "\\Flagged".into()]),
        ])
        .unwrap();
        // The index was not rewritten; a crash cut the next line short, and the log of an
        // older generation was left behind.
        let mut log = OpenOptions::new()
            .append(true)
            .open(f.flag_log_path(generation))
            .unwrap();
        log.write_all(b"2\t\\Dele").unwrap();
        let stale = f.flag_log_path(generation.wrapping_sub(1));
        fs::write(&stale, "1\t\\Deleted\n").unwrap();
        let mut g = Folder::load(mbox.clone(), index.clone(), &dir.join("uidvalidity"));
        g.sync().unwrap();
        let flags = |g: &Folder, uid: u32| {
            g.entries
                .iter()
                .find(|e| e.uid == uid)
                .map(|e| e.flags.clone())
                .unwrap()
        };
        assert_eq!(flags(&g, 1), ["\\Seen", "\\Flagged"]);
        assert_eq!(flags(&g, 2), ["kw"]);
        assert!(!stale.exists());
        // A full save folds the log into a new generation and removes it.
        g.save().unwrap();
        assert!(!g.flag_log_path(generation).exists());
        let h = Folder::load(mbox, index, &dir.join("uidvalidity"));
        assert_eq!(flags(&h, 1), ["\\Seen", "\\Flagged"]);
        let _ = fs::remove_dir_all(&dir);
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("postrider-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn messages_appended_to_a_scanned_folder_get_their_from_line_date() {
        let dir = scratch("appended-date");
        let (mbox, index, counter) = (dir.join("INBOX"), dir.join("INBOX.index"), dir.join("uv"));
        fs::write(
            &mbox,
            "From a@b Thu Jan  1 00:00:10 1970\nSubject: one\n\n1\n\n",
        )
        .unwrap();
        let mut f = Folder::load(mbox.clone(), index.clone(), &counter);
        f.sync().unwrap();
        let mut file = OpenOptions::new().append(true).open(&mbox).unwrap();
        file.write_all(b"From a@b Fri Dec  4 20:10:00 2026\nSubject: two\n\n2\n\n")
            .unwrap();
        f.sync().unwrap();
        let want = from_line_date("From a@b Fri Dec  4 20:10:00 2026").unwrap();
        assert_eq!(f.entries[1].internal_date.unix_secs, want);
        // An index that already holds the epoch for it is repaired at the next full scan.
        f.entries[1].internal_date = WallClock::utc(0);
        f.save().unwrap();
        let mut g = Folder::load(mbox, index, &counter);
        g.sync().unwrap();
        assert_eq!(g.entries[1].internal_date.unix_secs, want);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn uid_validity_is_never_issued_twice() {
        let dir = scratch("uidvalidity");
        let counter = dir.join("uidvalidity");
        let (mbox, index) = (dir.join("Box"), dir.join("Box.index"));
        fs::write(&mbox, "").unwrap();
        let mut seen = Vec::new();
        for _ in 0..3 {
            // DELETE + CREATE within one second, or an index lost: a fresh load each time.
            let mut f = Folder::load(mbox.clone(), index.clone(), &counter);
            f.sync().unwrap();
            seen.push(f.uid_validity);
            fs::remove_file(&index).unwrap();
        }
        assert!(seen.windows(2).all(|w| w[1] > w[0]), "{seen:?}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn from_line_dates() {
        assert_eq!(
            from_line_date("From a@b Thu Jan  1 00:00:10 1970"),
            Some(10)
        );
        assert!(
            valid_folder("Work/2024")
                && !valid_folder("../etc")
                && !valid_folder("a//b")
                && !valid_folder(".hidden")
                && valid_folder("Entw&APw-rfe")
                && !valid_folder("Entw\u{fc}rfe")
                && !valid_folder("a&b")
        );
    }

    #[test]
    fn folder_names_never_take_the_place_of_internal_files() {
        for bad in [
            "x.lock",
            "Work/x.LOCK",
            "x.lock.123.456",
            "x.index",
            "x.index/y",
            "x.index.log2",
            "x.index.tmp",
            "~",
            "~root",
            "a/~b",
            "notes~",
        ] {
            assert!(!valid_folder(bad), "{bad}");
        }
        for good in [
            "locksmith",
            "x.locked",
            "indexes",
            "my.indexer",
            "a~b",
            "Lists/lock",
        ] {
            assert!(valid_folder(good), "{good}");
        }
    }
}
