//! The queue journal: how the server makes a new message durable with one append and one
//! shared `fdatasync` instead of two files, four renames and a filesystem flush.
//!
//! Layout, in `queue/journal/`: segment files named by a 16-digit hex sequence number,
//! each a run of records, and beside each a `SEQ.done` file listing (one id per line) the
//! records that left the queue. A record is a header line
//! `PRQ1 ID ENVLEN MSGLEN ENVDIGEST\n`, then the envelope (TOML, with the message's
//! `stored` tag) and the message. Only the server appends (records are written whole,
//! one after another, under one lock), so after a crash the records that count are the
//! segment's prefix up to the first one that is incomplete or does not match its digests:
//! a record is acknowledged only after an `fdatasync` that came after it and after every
//! record before it. A new segment starts at every start-up and every
//! [`SEGMENT_TARGET`] bytes; a segment whose records have all left is deleted.
//!
//! A message leaves the journal when it leaves the queue (a done mark) or when its first
//! delivery pass changes its envelope (it is deferred, or partly delivered): then it is
//! written out as `msg/ID` and `env/ID`, durably, before its done mark, and a record
//! whose files exist is ignored at start-up. Other processes (`postrider queue`) read
//! the journal but never append to a segment: `queue delete` writes a done mark, which
//! the server picks up when it next lists the queue.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::{lock, stored_tag, valid_id, Envelope};
use crate::fsutil::fsync_dir;
use crate::group_commit::GroupCommit;

/// A segment takes new records until it is this long; then the next one starts.
pub(crate) const SEGMENT_TARGET: u64 = 16 * 1024 * 1024;

/// The first word of every record's header line (the format's version).
const MAGIC: &str = "PRQ1";

/// The longest header line a reader looks for.
const MAX_HEADER: usize = 128;

/// One message in a segment.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// Its envelope as written.
    pub envelope: Envelope,
    /// Where the message's bytes start in the segment.
    pub msg_offset: u64,
    /// How many there are.
    pub msg_len: u64,
}

/// The file names of segment `seq` and of its done marks, in `dir`.
fn segment_paths(dir: &Path, seq: u64) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{seq:016X}")),
        dir.join(format!("{seq:016X}.done")),
    )
}

/// The sequence numbers of the segments in `dir`, in order.
fn segment_numbers(dir: &Path) -> io::Result<Vec<u64>> {
    let mut seqs: Vec<u64> = fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.len() == 16)
        .filter_map(|n| u64::from_str_radix(&n, 16).ok())
        .collect();
    seqs.sort_unstable();
    Ok(seqs)
}

/// The first 16 bytes of the SHA-256 of `bytes`, hex.
fn short_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One record's bytes for segment `seq`: header line, envelope text, message.
fn encode(seq: u64, id: &str, envelope_text: &[u8], message: &[u8]) -> Vec<u8> {
    let header = format!(
        "{MAGIC} {seq:016X} {id} {} {} {}\n",
        envelope_text.len(),
        message.len(),
        short_digest(envelope_text)
    );
    let mut out = Vec::with_capacity(header.len() + envelope_text.len() + message.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(envelope_text);
    out.extend_from_slice(message);
    out
}

/// A record header: segment number, id, envelope length, message length, envelope
/// digest.
struct Header {
    seq: u64,
    id: String,
    env_len: u64,
    msg_len: u64,
    digest: String,
    /// The header line's length with its newline.
    len: u64,
}

/// Parses the header line at the start of `bytes`, if there is a whole and valid one.
fn parse_header(bytes: &[u8]) -> Option<Header> {
    let end = memchr::memchr(b'\n', &bytes[..bytes.len().min(MAX_HEADER)])?;
    let line = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut words = line.split(' ');
    let (Some(MAGIC), Some(seq), Some(id), Some(env_len), Some(msg_len), Some(digest), None) = (
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
    ) else {
        return None;
    };
    if !valid_id(id) {
        return None;
    }
    Some(Header {
        seq: u64::from_str_radix(seq, 16).ok()?,
        id: id.to_string(),
        env_len: env_len.parse().ok()?,
        msg_len: msg_len.parse().ok()?,
        digest: digest.to_string(),
        len: end as u64 + 1,
    })
}

/// Reads the records of segment `seq` from its start, stopping at the first that is cut
/// off, damaged or left from the file's earlier life as another segment (with
/// `check_messages`, a message that does not match its envelope's `stored` tag counts as
/// damaged: the server checks; a reader that only lists skips the message bytes).
/// Returns them and where the valid prefix ends.
fn read_segment(file: &File, seq: u64, check_messages: bool) -> io::Result<(Vec<Record>, u64)> {
    let size = file.metadata()?.len();
    let mut records = Vec::new();
    let mut pos = 0u64;
    let mut head = [0u8; MAX_HEADER];
    while pos < size {
        let want = (size - pos).min(MAX_HEADER as u64) as usize;
        file.read_exact_at(&mut head[..want], pos)?;
        let Some(h) = parse_header(&head[..want]).filter(|h| h.seq == seq) else {
            break;
        };
        let env_at = pos + h.len;
        let msg_offset = env_at.saturating_add(h.env_len);
        let end = msg_offset.saturating_add(h.msg_len);
        if end > size || h.env_len > 1 << 20 {
            break;
        }
        let mut text = vec![0u8; h.env_len as usize];
        file.read_exact_at(&mut text, env_at)?;
        if short_digest(&text) != h.digest {
            break;
        }
        let Some(envelope) = std::str::from_utf8(&text)
            .ok()
            .and_then(|t| toml::from_str::<Envelope>(t).ok())
            .filter(|e| e.id == h.id)
        else {
            break;
        };
        if check_messages {
            let mut message = vec![0u8; h.msg_len as usize];
            file.read_exact_at(&mut message, msg_offset)?;
            let tag = stored_tag(h.msg_len, &Sha256::digest(&message));
            if envelope.stored.as_deref() != Some(tag.as_str()) {
                break;
            }
        }
        records.push(Record {
            envelope,
            msg_offset,
            msg_len: h.msg_len,
        });
        pos = end;
    }
    Ok((records, pos))
}

/// The ids in a done-marks file (none when it does not exist).
fn read_done(path: &Path) -> io::Result<HashSet<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text.lines().map(str::to_string).collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(HashSet::new()),
        Err(e) => Err(e),
    }
}

/// The records still in the queue, with their segment numbers, as another process sees
/// them (without checking the message bytes).
fn live_records(dir: &Path) -> io::Result<Vec<(u64, Record)>> {
    let mut out = Vec::new();
    for seq in segment_numbers(dir)? {
        let (segment, done) = segment_paths(dir, seq);
        let file = match File::open(&segment) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let done = read_done(&done)?;
        let (records, _) = read_segment(&file, seq, false)?;
        out.extend(
            records
                .into_iter()
                .filter(|r| !done.contains(&r.envelope.id))
                .map(|r| (seq, r)),
        );
    }
    Ok(out)
}

/// Reads the message bytes of a record.
fn read_message(file: &File, record: &Record) -> io::Result<Vec<u8>> {
    let mut message = vec![0u8; record.msg_len as usize];
    file.read_exact_at(&mut message, record.msg_offset)?;
    Ok(message)
}

/// The server's journal: the segment being written, the live records of every segment
/// (envelopes in memory) and the group commit that flushes appends.
#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
    state: Mutex<State>,
    group: GroupCommit,
    /// In a process that is not the server: the live records its last scan found, so
    /// that `mailq`'s look at each listed message does not read the journal again.
    seen: Mutex<HashMap<String, (u64, Record)>>,
}

#[derive(Debug, Default)]
struct State {
    /// Adopted by the server (see [`Journal::enable`]): only then are records appended.
    enabled: bool,
    /// The segment taking appends.
    current: Option<Current>,
    /// The number the next segment gets.
    next_seq: u64,
    /// Every segment with live records (and the current one).
    segments: BTreeMap<u64, Segment>,
    /// The live records by queue id.
    index: HashMap<String, (u64, Record)>,
    /// Segments that stopped taking appends after a failed write or flush while records
    /// in them may still wait for a flush: the next flush covers them too.
    unflushed: Vec<Arc<File>>,
    /// A spent segment waits as `.spare` to become the next one.
    has_spare: bool,
}

/// The segment taking appends.
#[derive(Debug)]
struct Current {
    seq: u64,
    file: Arc<File>,
    /// Where the next record goes.
    len: u64,
}

/// A segment with live records.
#[derive(Debug)]
struct Segment {
    file: Arc<File>,
    /// Records not yet done.
    live: usize,
    /// The done-marks file, opened to append.
    done: Arc<File>,
    /// The done-marks file's length as this process last knew it (another process's
    /// marks make it longer).
    done_len: u64,
    /// Marks appended since the last [`Journal::sync_removals`].
    done_dirty: bool,
}

/// The name a spent segment waits under to be reused.
const SPARE: &str = ".spare";

impl Journal {
    /// The journal in `dir` (created if needed); nothing is read or appended until the
    /// server adopts it with [`Journal::enable`].
    pub(crate) fn open(dir: &Path) -> io::Result<Journal> {
        fs::create_dir_all(dir)?;
        Ok(Journal {
            dir: dir.to_path_buf(),
            state: Mutex::new(State::default()),
            group: GroupCommit::new(dir)?,
            seen: Mutex::new(HashMap::new()),
        })
    }

    /// Takes over the journal at server start: reads every segment (checking each
    /// record's digests), leaves out records marked done or written out to `msg/`+`env/`
    /// (`has_files`), retires segments with nothing left and appends from now on (to a
    /// new segment). Returns how many records are live.
    pub(crate) fn enable(&self, has_files: impl Fn(&str) -> bool) -> io::Result<usize> {
        let mut state = lock(&self.state);
        state.has_spare = self.dir.join(SPARE).exists();
        let mut last = 0;
        for seq in segment_numbers(&self.dir)? {
            last = seq;
            let (path, done_path) = segment_paths(&self.dir, seq);
            let file = Arc::new(File::open(&path)?);
            let done = read_done(&done_path)?;
            let (records, _) = read_segment(&file, seq, true)?;
            let live: Vec<Record> = records
                .into_iter()
                .filter(|r| !done.contains(&r.envelope.id) && !has_files(&r.envelope.id))
                .collect();
            if live.is_empty() {
                drop(file);
                self.retire_segment(&mut state, seq)?;
                continue;
            }
            let done = OpenOptions::new()
                .append(true)
                .create(true)
                .open(&done_path)?;
            let done_len = done.metadata()?.len();
            state.segments.insert(
                seq,
                Segment {
                    file,
                    live: live.len(),
                    done: Arc::new(done),
                    done_len,
                    done_dirty: false,
                },
            );
            for r in live {
                state.index.insert(r.envelope.id.clone(), (seq, r));
            }
        }
        // The done files just created must stay.
        fsync_dir(&self.dir)?;
        state.next_seq = last + 1;
        state.enabled = true;
        Ok(state.index.len())
    }

    /// Stops taking new messages (tests of the file path in a server's queue).
    #[cfg(test)]
    pub(crate) fn disable(&self) {
        lock(&self.state).enabled = false;
    }

    /// The ids of the live records as a process that is not the server reads them now
    /// (remembered for [`Journal::find_elsewhere`]).
    pub(crate) fn scan_elsewhere(&self) -> io::Result<Vec<String>> {
        let found: HashMap<String, (u64, Record)> = live_records(&self.dir)?
            .into_iter()
            .map(|(seq, r)| (r.envelope.id.clone(), (seq, r)))
            .collect();
        let ids = found.keys().cloned().collect();
        *lock(&self.seen) = found;
        Ok(ids)
    }

    /// Message `id` as a process that is not the server finds it: from its last scan,
    /// else from a new one.
    pub(crate) fn find_elsewhere(&self, id: &str) -> io::Result<Option<(u64, Record)>> {
        if let Some(found) = lock(&self.seen).get(id) {
            return Ok(Some(found.clone()));
        }
        self.scan_elsewhere()?;
        Ok(lock(&self.seen).get(id).cloned())
    }

    /// Marks record `id` of segment `seq` done from a process that is not the server
    /// (`queue delete`), durably; the server sees it when it next lists the queue.
    pub(crate) fn mark_done_elsewhere(&self, seq: u64, id: &str) -> io::Result<()> {
        let (_, done) = segment_paths(&self.dir, seq);
        let mut file = OpenOptions::new().append(true).create(true).open(done)?;
        file.write_all(format!("{id}\n").as_bytes())?;
        file.sync_data()?;
        lock(&self.seen).remove(id);
        Ok(())
    }

    /// The bytes of message `id` of segment `seq`, read by a process that is not the
    /// server.
    pub(crate) fn message_elsewhere(&self, seq: u64, record: &Record) -> io::Result<Vec<u8>> {
        let (segment, _) = segment_paths(&self.dir, seq);
        read_message(&File::open(segment)?, record)
    }

    /// Whether the server adopted the journal (new messages go into it).
    pub(crate) fn is_enabled(&self) -> bool {
        lock(&self.state).enabled
    }

    /// Appends a new message (its envelope carries the `stored` tag). Not durable until
    /// [`Journal::sync`].
    pub(crate) fn append(&self, envelope: &Envelope, message: &[u8]) -> io::Result<()> {
        let text = toml::to_string(envelope).map_err(io::Error::other)?;
        let mut state = lock(&self.state);
        let (seq, at) = self.writable_segment(&mut state)?;
        let bytes = encode(seq, &envelope.id, text.as_bytes(), message);
        let Some(current) = state.current.as_mut() else {
            return Err(io::Error::other("no journal segment"));
        };
        if let Err(e) = current.write(&bytes) {
            // Nothing may follow a torn record in this segment: the next append starts
            // a new one.
            let file = current.file.clone();
            state.unflushed.push(file);
            state.current = None;
            self.drop_segment_if_spent(&mut state, seq);
            return Err(e);
        }
        let record = Record {
            envelope: envelope.clone(),
            msg_offset: at + bytes.len() as u64 - message.len() as u64,
            msg_len: message.len() as u64,
        };
        if let Some(segment) = state.segments.get_mut(&seq) {
            segment.live += 1;
        }
        state.index.insert(envelope.id.clone(), (seq, record));
        Ok(())
    }

    /// The segment to append to and the offset of the next record: the current one, or
    /// a new one when there is none or it is full (the full one is flushed first, so one
    /// flush of the current segment always covers every append made before it). A new
    /// segment is the spare when there is one, else a new file; with its done file,
    /// made durable before anything goes into it.
    fn writable_segment(&self, state: &mut State) -> io::Result<(u64, u64)> {
        if let Some(c) = state.current.as_ref().filter(|c| c.len < SEGMENT_TARGET) {
            return Ok((c.seq, c.len));
        }
        if let Some(old) = state.current.take() {
            let flushed = old.file.sync_data();
            if flushed.is_err() {
                state.unflushed.push(old.file.clone());
            }
            self.drop_segment_if_spent(state, old.seq);
            flushed?;
        }
        let seq = state.next_seq;
        let (path, done_path) = segment_paths(&self.dir, seq);
        if state.has_spare {
            state.has_spare = false;
            if let Err(e) = fs::rename(self.dir.join(SPARE), &path) {
                tracing::debug!("queue: journal spare unusable: {e}");
            }
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let done = OpenOptions::new()
            .append(true)
            .create(true)
            .truncate(false)
            .open(&done_path)?;
        done.set_len(0)?;
        fsync_dir(&self.dir)?;
        let file = Arc::new(file);
        state.next_seq += 1;
        state.segments.insert(
            seq,
            Segment {
                file: file.clone(),
                live: 0,
                done: Arc::new(done),
                done_len: 0,
                done_dirty: false,
            },
        );
        state.current = Some(Current { seq, file, len: 0 });
        Ok((seq, 0))
    }

    /// Makes every append made before the call durable (one `fdatasync` of the current
    /// segment for every session waiting).
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.group.sync_with(&|| {
            let files: Vec<Arc<File>> = {
                let mut state = lock(&self.state);
                let mut files = std::mem::take(&mut state.unflushed);
                files.extend(state.current.as_ref().map(|c| c.file.clone()));
                files
            };
            let mut result = Ok(());
            let mut failed = Vec::new();
            for file in files {
                if let Err(e) = file.sync_data() {
                    result = Err(e);
                    failed.push(file);
                }
            }
            // Not known to be on disk: the next flush tries them again (the current
            // segment is tried anyway).
            let mut state = lock(&self.state);
            let current = state.current.as_ref().map(|c| c.file.clone());
            failed.retain(|f| current.as_ref().is_none_or(|c| !Arc::ptr_eq(c, f)));
            state.unflushed.extend(failed);
            result
        })
    }

    /// Whether message `id` is in the journal.
    pub(crate) fn contains(&self, id: &str) -> bool {
        lock(&self.state).index.contains_key(id)
    }

    /// The ids of the live records.
    pub(crate) fn ids(&self) -> Vec<String> {
        lock(&self.state).index.keys().cloned().collect()
    }

    /// The envelope of message `id`, if it is in the journal.
    pub(crate) fn envelope(&self, id: &str) -> Option<Envelope> {
        lock(&self.state)
            .index
            .get(id)
            .map(|(_, r)| r.envelope.clone())
    }

    /// The bytes of message `id`, if it is in the journal.
    pub(crate) fn message(&self, id: &str) -> Option<io::Result<Vec<u8>>> {
        let (file, record) = {
            let state = lock(&self.state);
            let (seq, record) = state.index.get(id)?;
            (state.segments.get(seq)?.file.clone(), record.clone())
        };
        Some(read_message(&file, &record))
    }

    /// Marks message `id` done (not durable until [`Journal::sync_removals`]); retires
    /// its segment when that was its last live record. `Ok(false)`: not in the journal.
    pub(crate) fn remove(&self, id: &str) -> io::Result<bool> {
        let mut state = lock(&self.state);
        let Some((seq, _)) = state.index.remove(id) else {
            return Ok(false);
        };
        let Some(segment) = state.segments.get_mut(&seq) else {
            return Ok(true);
        };
        segment.live = segment.live.saturating_sub(1);
        let line = format!("{id}\n");
        (&*segment.done).write_all(line.as_bytes())?;
        segment.done_len += line.len() as u64;
        segment.done_dirty = true;
        self.drop_segment_if_spent(&mut state, seq);
        Ok(true)
    }

    /// Retires segment `seq` when nothing in it is live and nothing more will be
    /// appended to it.
    fn drop_segment_if_spent(&self, state: &mut State, seq: u64) {
        let spent = state.segments.get(&seq).is_some_and(|s| s.live == 0)
            && state.current.as_ref().is_none_or(|c| c.seq != seq);
        if spent {
            state.segments.remove(&seq);
            if let Err(e) = self.retire_segment(state, seq) {
                tracing::warn!("queue: cannot retire journal segment {seq:016X}: {e}");
            }
        }
    }

    /// Removes a spent segment: kept as the spare (reusing it spares the file system an
    /// inode and block allocation, and records that fit in its old length change no
    /// metadata, so their `fdatasync` writes the data alone) unless there is one, else
    /// deleted; the segment's name goes
    /// durably before its done marks (a segment back without them would bring its
    /// messages back).
    fn retire_segment(&self, state: &mut State, seq: u64) -> io::Result<()> {
        let (path, done) = segment_paths(&self.dir, seq);
        if state.has_spare {
            fs::remove_file(&path)?;
        } else {
            fs::rename(&path, self.dir.join(SPARE))?;
            state.has_spare = true;
        }
        fsync_dir(&self.dir)?;
        match fs::remove_file(done) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Makes the done marks written since the last call durable.
    pub(crate) fn sync_removals(&self) {
        let dirty: Vec<Arc<File>> = {
            let mut state = lock(&self.state);
            state
                .segments
                .values_mut()
                .filter_map(|s| std::mem::take(&mut s.done_dirty).then(|| s.done.clone()))
                .collect()
        };
        for file in dirty {
            if let Err(e) = file.sync_data() {
                tracing::warn!("queue: cannot sync a journal done file: {e}");
            }
        }
    }

    /// Takes in the done marks other processes wrote (`queue delete`) since the last
    /// look: a done file longer than this process knows it.
    pub(crate) fn pick_up_removals(&self) {
        let mut state = lock(&self.state);
        let mut gone = Vec::new();
        for (&seq, segment) in state.segments.iter_mut() {
            let len = segment.done.metadata().map_or(0, |m| m.len());
            if len != segment.done_len {
                segment.done_len = len;
                let (_, done_path) = segment_paths(&self.dir, seq);
                gone.extend(read_done(&done_path).unwrap_or_default());
            }
        }
        for id in gone {
            if let Some((seq, _)) = state.index.remove(&id) {
                if let Some(segment) = state.segments.get_mut(&seq) {
                    segment.live = segment.live.saturating_sub(1);
                }
                self.drop_segment_if_spent(&mut state, seq);
            }
        }
    }
}

impl Current {
    /// Writes a record at the end of the segment.
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Err(e) = self.file.write_all_at(bytes, self.len) {
            // A torn record must not look like one: put zeros back where it went.
            let _ = self.file.write_all_at(&vec![0u8; bytes.len()], self.len);
            return Err(e);
        }
        self.len += bytes.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A record for `message` with a minimal envelope carrying its stored tag.
    fn record_bytes(n: usize, message: &[u8]) -> (String, Vec<u8>) {
        let id = format!("{n:016X}");
        let mut envelope = Envelope::local(&id, "a@b", Vec::new(), message.len() as u64, 1);
        envelope.stored = Some(stored_tag(message.len() as u64, &Sha256::digest(message)));
        let text = toml::to_string(&envelope).expect("toml");
        (id, encode(7, &envelope.id, text.as_bytes(), message))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Records read back as written; a segment cut anywhere or with one byte changed
        /// reads as exactly the records before the damage.
        #[test]
        fn segments_read_back_up_to_the_first_damage(
            messages in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6),
            cut in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
        ) {
            let mut bytes = Vec::new();
            let mut ends = Vec::new();
            let mut ids = Vec::new();
            for (n, m) in messages.iter().enumerate() {
                let (id, record) = record_bytes(n, m);
                bytes.extend_from_slice(&record);
                ends.push(bytes.len() as u64);
                ids.push(id);
            }
            let path = std::env::temp_dir().join(format!(
                "postrider-journal-prop-{}-{:?}", std::process::id(), std::thread::current().id()));
            let read = |data: &[u8]| {
                fs::write(&path, data).expect("write");
                let file = File::open(&path).expect("open");
                let (records, end) = read_segment(&file, 7, true).expect("read");
                let ids: Vec<String> = records.iter().map(|r| r.envelope.id.clone()).collect();
                let messages: Vec<Vec<u8>> = records
                    .iter()
                    .map(|r| read_message(&file, r).expect("message"))
                    .collect();
                (ids, messages, end)
            };
            let (got_ids, got, end) = read(&bytes);
            prop_assert_eq!(&got_ids, &ids);
            prop_assert_eq!(&got, &messages);
            prop_assert_eq!(end, bytes.len() as u64);

            let at = cut.index(bytes.len());
            let whole = ends.iter().filter(|&&e| e <= at as u64).count();
            let (got_ids, _, end) = read(&bytes[..at]);
            prop_assert_eq!(&got_ids[..], &ids[..whole]);
            prop_assert_eq!(end, if whole == 0 { 0 } else { ends[whole - 1] });

            let at = flip.index(bytes.len());
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x55;
            let intact = ends.iter().filter(|&&e| e <= at as u64).count();
            let (got_ids, _, _) = read(&damaged);
            prop_assert_eq!(&got_ids[..], &ids[..intact]);
            let _ = fs::remove_file(&path);
        }
    }

    /// A server's journal in a new directory, with nothing in it yet.
    fn enabled_journal(name: &str) -> (PathBuf, Journal) {
        let dir =
            std::env::temp_dir().join(format!("postrider-journal-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let journal = Journal::open(&dir).expect("open");
        journal.enable(|_| false).expect("enable");
        (dir, journal)
    }

    /// Appends message number `n` (a few bytes) to `journal`.
    fn append_message(journal: &Journal, n: usize) -> io::Result<String> {
        let message = format!("Subject: {n}\r\n\r\nbody {n}\r\n").into_bytes();
        let id = format!("{n:016X}");
        let mut envelope = Envelope::local(&id, "a@b", Vec::new(), message.len() as u64, 1);
        envelope.stored = Some(stored_tag(message.len() as u64, &Sha256::digest(&message)));
        journal.append(&envelope, &message).map(|()| id)
    }

    /// The ids a server starting on `dir` finds live, sorted.
    fn ids_after_restart(dir: &Path) -> Vec<String> {
        let journal = Journal::open(dir).expect("reopen");
        journal.enable(|_| false).expect("enable");
        let mut ids = journal.ids();
        ids.sort();
        ids
    }

    #[test]
    fn a_failed_write_is_reported_and_the_next_append_starts_a_new_segment() {
        let (dir, journal) = enabled_journal("failed-write");
        let first = append_message(&journal, 1).expect("first");
        let seq = {
            let mut state = lock(&journal.state);
            let current = state.current.as_mut().expect("current segment");
            // A handle that cannot write stands in for a disk that refuses the record.
            let (path, _) = segment_paths(&dir, current.seq);
            current.file = Arc::new(File::open(path).expect("read-only handle"));
            current.seq
        };
        assert!(append_message(&journal, 2).is_err());
        assert!(!journal.contains(&format!("{:016X}", 2)));
        let third = append_message(&journal, 3).expect("third");
        assert_ne!(
            lock(&journal.state).current.as_ref().map(|c| c.seq),
            Some(seq)
        );
        journal.sync().expect("flush");
        drop(journal);
        assert_eq!(ids_after_restart(&dir), vec![first, third]);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_flush_is_reported_until_the_file_is_flushed() {
        let (dir, journal) = enabled_journal("failed-flush");
        let first = append_message(&journal, 1).expect("first");
        // A file whose flush fails (fsync of /dev/null is EINVAL) stands in for a
        // segment abandoned after a write error whose records were not yet flushed.
        let stuck = Arc::new(File::open("/dev/null").expect("/dev/null"));
        lock(&journal.state).unflushed.push(stuck);
        assert!(journal.sync().is_err());
        assert!(
            journal.sync().is_err(),
            "a failed flush must be tried again"
        );
        assert_eq!(lock(&journal.state).unflushed.len(), 1);
        lock(&journal.state).unflushed.clear();
        journal.sync().expect("flush");
        drop(journal);
        assert_eq!(ids_after_restart(&dir), vec![first]);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn headers_parse_only_when_whole_and_valid() {
        let h = parse_header(b"PRQ1 00A 0123ABCD 12 4096 00ff\nrest").expect("header");
        assert_eq!(
            (h.seq, h.id.as_str(), h.env_len, h.msg_len),
            (10, "0123ABCD", 12, 4096)
        );
        assert_eq!(h.len, 31);
        assert!(parse_header(b"PRQ1 00A 0123ABCD 12 4096 00ff").is_none());
        assert!(parse_header(b"PRQ2 00A 0123ABCD 12 4096 00ff\n").is_none());
        assert!(parse_header(b"PRQ1 00A ../x 12 4096 00ff\n").is_none());
        assert!(parse_header(b"PRQ1 00A 0123ABCD 12 4096 00ff extra\n").is_none());
        assert!(parse_header(b"\0\0\0\0\0\0\0\0").is_none());
    }
}
