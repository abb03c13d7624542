//! A folder's sidecar index and its log: what an mbox file cannot hold (UIDs, flags,
//! INTERNALDATE with its zone, UIDVALIDITY, UIDNEXT, who saw `\Recent` last).
//!
//! The index (`NAME.index`) is a snapshot: a header, then one line per message
//! `UID<TAB>FINGERPRINT<TAB>DATE<TAB>FLAGS`. Changes since the snapshot are appended to
//! the log of the snapshot's generation (`NAME.index.logN`), one line per change, so a
//! command costs a short write however large the folder is:
//! - `UID<TAB>FINGERPRINT<TAB>DATE<TAB>FLAGS<TAB>MODSEQ`: a message appended (or its
//!   record redone),
//! - `UID<TAB>FLAGS<TAB>MODSEQ`: new flags,
//! - `uidnext<TAB>N`, `recent<TAB>N`, `modseq<TAB>N`: the header values,
//! - `expunge<TAB>UID UID ...<TAB>MODSEQ`: messages removed,
//! - `vanished<TAB>MODSEQ<TAB>UID-SET`: in the snapshot, the UIDs removed at a MODSEQ
//!   (kept for QRESYNC, see [`super::vanished`]).
//!
//! Every change carries the MODSEQ it was given (RFC 7162), so replaying the log gives
//! the numbers the running server gave. Lines written before MODSEQs were kept (without
//! the last column) take the next number when read.
//!
//! Flag and append records are not fsynced (as Dovecot's index log: a power failure may
//! lose flags, never messages; an appended message whose record is lost is found again in
//! the mbox and numbered from the same UIDNEXT, so it gets the same UID back). An
//! `expunge` record is fsynced before the mbox is rewritten, because after an expunge the
//! file order alone no longer tells which UID a message had. When the log outgrows the
//! index, the state is written as a new snapshot (fsynced, renamed into place) and the
//! old log removed.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use postrider_core::imf::datetime::WallClock;

use super::{next_uid_validity, Entry, Folder};

/// The log is folded into a new snapshot once it is this long, or half the snapshot's
/// size if that is more (so the rewrites stay a constant cost per change).
const MIN_LOG_LIMIT: u64 = 256 * 1024;

/// An index date: `SECS/OFFSET_MINUTES` (or plain `SECS`, read as UTC).
pub(crate) fn parse_index_date(text: &str) -> Option<WallClock> {
    let (secs, offset) = text.split_once('/').unwrap_or((text, "0"));
    Some(WallClock {
        unix_secs: secs.parse().ok()?,
        utc_offset_minutes: offset.parse().ok()?,
    })
}

/// One message's line, as the snapshot and the log write it.
fn entry_line(e: &Entry) -> String {
    format!(
        "{}\t{}\t{}/{}\t{}\t{}\n",
        e.uid,
        e.fingerprint,
        e.internal_date.unix_secs,
        e.internal_date.utc_offset_minutes,
        e.flags.join(" "),
        e.modseq
    )
}

impl Folder {
    /// The folder's state as its index and log left it (no mbox read yet: offsets and
    /// sizes come with the first [`Folder::sync`]).
    pub(crate) fn load(path: PathBuf, index_path: PathBuf, uid_validity_counter: &Path) -> Folder {
        let mut f = Folder {
            path,
            index_path,
            uid_validity: 0,
            uid_next: 1,
            recent_from: 1,
            highest_modseq: 0,
            vanished: Default::default(),
            entries: Vec::new(),
            scanned: None,
            generation: 0,
            log_len: 0,
            index_len: 0,
            reader: None,
            log_file: None,
        };
        if let Ok(text) = fs::read_to_string(&f.index_path) {
            f.index_len = text.len() as u64;
            let mut at = HashMap::new();
            for line in text.lines() {
                f.apply(line, &mut at);
            }
        }
        f.replay_log();
        f.number_new();
        if f.uid_validity == 0 {
            f.uid_validity = next_uid_validity(uid_validity_counter);
        }
        f
    }

    /// Applies one line of the snapshot or the log; `at` maps UIDs to positions in
    /// `entries` (kept up to date here).
    fn apply(&mut self, line: &str, at: &mut HashMap<u32, usize>) {
        let parts: Vec<&str> = line.split('\t').collect();
        match parts.as_slice() {
            ["generation", v] => self.generation = v.parse().unwrap_or(0),
            ["uidvalidity", v] => self.uid_validity = v.parse().unwrap_or(0),
            ["uidnext", v] => self.uid_next = self.uid_next.max(v.parse().unwrap_or(1)),
            ["recent", v] => self.recent_from = v.parse().unwrap_or(self.recent_from),
            ["modseq", v] => self.highest_modseq = self.highest_modseq.max(v.parse().unwrap_or(0)),
            ["expunge", uids, rest @ ..] => {
                let gone: std::collections::HashSet<u32> =
                    uids.split(' ').filter_map(|u| u.parse().ok()).collect();
                self.entries.retain(|e| !gone.contains(&e.uid));
                *at = self.positions();
                let modseq = self.take_modseq(rest.first());
                let gone: Vec<u32> = gone.into_iter().collect();
                self.vanished.record(modseq, &gone);
            }
            ["vanished", modseq, set] => self.vanished.read_line(modseq, set),
            [uid, flags, rest @ ..] if rest.len() <= 1 => {
                if let Some(&i) = uid.parse().ok().and_then(|u: u32| at.get(&u)) {
                    self.entries[i].flags = split_flags(flags);
                    self.entries[i].modseq = self.take_modseq(rest.first());
                }
            }
            [uid, fp, date, flags, rest @ ..] => {
                let (Ok(uid), Some(date)) = (uid.parse::<u32>(), parse_index_date(date)) else {
                    return;
                };
                let modseq = rest.first().and_then(|m| m.parse().ok()).unwrap_or(0);
                self.highest_modseq = self.highest_modseq.max(modseq);
                let e = Entry {
                    uid,
                    fingerprint: fp.to_string(),
                    flags: split_flags(flags),
                    modseq,
                    internal_date: date,
                    size: 0,
                    from_offset: 0,
                    start: 0,
                    end: 0,
                };
                match at.get(&uid) {
                    Some(&i) => self.entries[i] = e,
                    None => {
                        at.insert(uid, self.entries.len());
                        self.entries.push(e);
                    }
                }
                self.uid_next = self.uid_next.max(uid.saturating_add(1));
            }
            _ => {}
        }
    }

    /// The MODSEQ a record carries (raising the folder's highest to it), or for a record
    /// written without one, the next.
    fn take_modseq(&mut self, given: Option<&&str>) -> u64 {
        match given.and_then(|m| m.parse::<u64>().ok()) {
            Some(m) => {
                self.highest_modseq = self.highest_modseq.max(m);
                m
            }
            None => self.next_modseq(),
        }
    }

    /// The next MODSEQ of this folder.
    pub(crate) fn next_modseq(&mut self) -> u64 {
        self.highest_modseq += 1;
        self.highest_modseq
    }

    /// Numbers the messages that have no MODSEQ yet (found new, or read from an index
    /// written before MODSEQs were kept).
    pub(crate) fn number_new(&mut self) {
        for i in 0..self.entries.len() {
            if self.entries[i].modseq == 0 {
                self.entries[i].modseq = self.next_modseq();
            }
        }
    }

    /// Where each UID is in `entries`.
    fn positions(&self) -> HashMap<u32, usize> {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.uid, i))
            .collect()
    }

    /// The log of index generation `generation`.
    pub(crate) fn flag_log_path(&self, generation: u64) -> PathBuf {
        let mut name = self.index_path.as_os_str().to_owned();
        name.push(format!(".log{generation}"));
        PathBuf::from(name)
    }

    /// Applies the log of the loaded index's generation: whole lines only, in order (a
    /// line cut by a crash is ignored; the first sync after a load writes a new snapshot
    /// and starts a new log, so nothing is ever appended after it).
    fn replay_log(&mut self) {
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
        let whole = memchr::memrchr(b'\n', &log).map_or(0, |i| i + 1);
        self.log_len = log.len() as u64;
        let mut at = self.positions();
        for line in String::from_utf8_lossy(&log[..whole]).lines() {
            self.apply(line, &mut at);
        }
    }

    /// Appends `text` (whole lines) to the log, fsynced when `durable`; a log grown past
    /// its limit is folded into a new snapshot instead (which is always durable).
    fn append_log(&mut self, text: &str, durable: bool) -> io::Result<()> {
        if self.log_len >= MIN_LOG_LIMIT.max(self.index_len / 2) {
            // The snapshot holds what the entries say; the record still goes into the new
            // log (an EXPUNGE's is not in the entries yet; the others replay to the same).
            self.save()?;
        }
        let generation = self.generation;
        let path = self.flag_log_path(generation);
        let log = match &mut self.log_file {
            Some((held, file)) if *held == generation => file,
            slot => {
                let file = OpenOptions::new().create(true).append(true).open(path)?;
                &mut slot.insert((generation, file)).1
            }
        };
        log.write_all(text.as_bytes())?;
        if durable {
            log.sync_data()?;
        }
        self.log_len += text.len() as u64;
        Ok(())
    }

    /// Records new flags of some messages (one write, not fsynced), each change with the
    /// next MODSEQ (given to the message too).
    pub(crate) fn log_flags(&mut self, changes: &[(u32, Vec<String>)]) -> io::Result<()> {
        let at = self.positions();
        let mut text = String::new();
        for (uid, flags) in changes {
            let modseq = self.next_modseq();
            if let Some(&i) = at.get(uid) {
                self.entries[i].modseq = modseq;
            }
            text.push_str(&format!("{uid}\t{}\t{modseq}\n", flags.join(" ")));
        }
        self.append_log(&text, false)
    }

    /// Records the messages from position `from` on (new, or with new flags or dates)
    /// and UIDNEXT (one write, not fsynced).
    pub(crate) fn log_entries(&mut self, from: usize) -> io::Result<()> {
        for i in from.min(self.entries.len())..self.entries.len() {
            self.entries[i].modseq = self.next_modseq();
        }
        let mut text: String = self.entries[from.min(self.entries.len())..]
            .iter()
            .map(entry_line)
            .collect();
        text.push_str(&format!("uidnext\t{}\n", self.uid_next));
        self.append_log(&text, false)
    }

    /// Records who saw `\Recent` last.
    pub(crate) fn log_recent(&mut self) -> io::Result<()> {
        let text = format!("recent\t{}\n", self.recent_from);
        self.append_log(&text, false)
    }

    /// Records that `uids` are being removed and the fingerprints the messages `renamed`
    /// (UID, new fingerprint) have once they are; not durable until the caller's flush
    /// (EXPUNGE flushes it with its copy of the folder, before the rename).
    /// Returns the removal's MODSEQ.
    pub(crate) fn log_expunge(&mut self, uids: &[u32], renamed: &[Entry]) -> io::Result<u64> {
        let list: Vec<String> = uids.iter().map(u32::to_string).collect();
        let modseq = self.next_modseq();
        let mut text = format!("expunge\t{}\t{modseq}\n", list.join(" "));
        text.extend(renamed.iter().map(entry_line));
        self.append_log(&text, false).map(|()| modseq)
    }

    /// Writes the whole index as a new generation (fsynced, renamed into place), then
    /// drops the previous generation's log, which it includes.
    pub(crate) fn save(&mut self) -> io::Result<()> {
        if let Some(dir) = self.index_path.parent() {
            fs::create_dir_all(dir)?;
        }
        self.number_new();
        let generation = self.generation + 1;
        let mut text = format!(
            "generation\t{generation}\nuidvalidity\t{}\nuidnext\t{}\nrecent\t{}\nmodseq\t{}\n",
            self.uid_validity, self.uid_next, self.recent_from, self.highest_modseq
        );
        text.push_str(&self.vanished.lines());
        text.extend(self.entries.iter().map(entry_line));
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
        self.index_len = text.len() as u64;
        let _ = fs::remove_file(old);
        Ok(())
    }
}

fn split_flags(flags: &str) -> Vec<String> {
    flags.split_whitespace().map(str::to_string).collect()
}

/// The logs of the index at `index` (with their suffixes, `.logN`).
pub(crate) fn flag_logs(index: &Path) -> Vec<(PathBuf, String)> {
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
