//! One Maildir folder as the process caches it. The files are the truth: a message is a
//! file of `cur/` (those in `new/` are moved there, `:2,` added, when the folder is
//! looked at), its flags the letters of its name, its UID the one `dovecot-uidlist`
//! gives its base name, its INTERNALDATE the file's time. What Maildir cannot hold (each
//! change's MODSEQ, the UIDs expunged for QRESYNC, who saw `\Recent`, keywords past the
//! 26 letters, a date's zone) is kept in the same sidecar index as an mbox folder's
//! ([`crate::imap_folder::Folder`], its messages named by base name), brought in line
//! with the files at each look: a message renamed by mutt gets a new MODSEQ, one
//! removed by another program is expunged.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postrider_core::imap::command::StoreMode;
use postrider_core::imap::store::FlagChanges;
use postrider_core::imf::datetime::WallClock;
use postrider_core::maildir::{
    flags_of, is_message_name, letters_for, representable, size_field, split_name, Keywords,
    Uidlist,
};

use super::files::{crlf_size, cur_path, is_maildir, stamp_of};
use super::uidlist;
use crate::fsutil::fsync_dir;
use crate::imap_folder::{Entry, Folder};

/// A change younger than this may share its time stamp with a later one (file times
/// tick coarsely), so a folder whose stamps are this recent is listed again each time.
const SETTLE: Duration = Duration::from_secs(2);

/// What was last seen of `new/`, `cur/`, the UID list and the keywords.
type Stamps = [(u64, i128); 4];

/// A message's flags compared as IMAP compares them (a set, case aside).
fn flag_set(flags: &[String]) -> Vec<String> {
    let mut v: Vec<String> = flags.iter().map(|f| f.to_ascii_lowercase()).collect();
    v.sort();
    v.dedup();
    v
}

/// The cached state of one Maildir folder.
#[derive(Debug)]
pub(crate) struct MaildirFolder {
    /// The Maildir (the root for INBOX, `.Name` for a folder).
    pub(crate) dir: PathBuf,
    /// UIDs, flags, MODSEQs, `\Recent` and the expunged UIDs (fingerprint: base name).
    pub(crate) index: Folder,
    /// Each message's file name in `cur/`.
    names: HashMap<u32, String>,
    keywords: Keywords,
    seen: Option<Stamps>,
    /// This process changed the files: the next look lists them whatever the stamps.
    stale: bool,
}

/// A message put into the folder's `cur/` by this process, to be numbered.
pub(crate) struct Placed {
    /// Its base name.
    pub(crate) base: String,
    /// Its flags (those without a letter too).
    pub(crate) flags: Vec<String>,
    /// Its INTERNALDATE, zone and all.
    pub(crate) date: WallClock,
}

impl MaildirFolder {
    /// The folder in `dir`, its sidecar index at `index_path` (UIDVALIDITY allocated
    /// from `counter` for a new one).
    pub(crate) fn load(dir: PathBuf, index_path: PathBuf, counter: &Path) -> MaildirFolder {
        MaildirFolder {
            index: Folder::load(dir.clone(), index_path, counter),
            dir,
            names: HashMap::new(),
            keywords: Keywords::default(),
            seen: None,
            stale: false,
        }
    }

    fn stamps(&self) -> Stamps {
        let [list, keys] = uidlist::stamps(&self.dir);
        [
            stamp_of(&self.dir.join("new")),
            stamp_of(&self.dir.join("cur")),
            list,
            keys,
        ]
    }

    /// Brings the cache in line with the files, unless nothing changed since the last
    /// look (and that look was long enough after the last change to be sure).
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        let stamps = self.stamps();
        let settled_before = SystemTime::now()
            .checked_sub(SETTLE)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        if !self.stale && self.seen == Some(stamps) && stamps.iter().all(|s| s.1 < settled_before) {
            return Ok(());
        }
        self.rescan()?;
        self.stale = false;
        self.seen = Some(self.stamps());
        Ok(())
    }

    /// Lists the folder again: new messages moved to `cur/` and given UIDs, flags read
    /// from the names, messages gone recorded as expunged.
    fn rescan(&mut self) -> io::Result<()> {
        if !is_maildir(&self.dir) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such Maildir"));
        }
        self.claim_new();
        let files = list_cur(&self.dir)?;
        self.keywords = uidlist::keywords(&self.dir);
        let mut list = uidlist::read(&self.dir)?;
        let listed: HashSet<&str> = (list.iter().flat_map(|l| &l.records))
            .map(|r| r.base.as_str())
            .collect();
        let mut missing: Vec<&str> = (files.keys())
            .filter(|b| !listed.contains(b.as_str()))
            .map(String::as_str)
            .collect();
        if list.is_none() || !missing.is_empty() {
            // Oldest first: names start with their time of delivery.
            missing.sort_unstable();
            let fresh = (self.index.uid_validity, self.index.uid_next);
            list = Some(uidlist::add(&self.dir, &missing, fresh)?);
        }
        let Some(list) = list else {
            return Ok(());
        };
        if list.uid_validity != self.index.uid_validity {
            self.restart(list.uid_validity)?;
        }
        self.index.uid_next = self.index.uid_next.max(list.next_uid);
        self.reconcile(&files, &list)?;
        if self.seen.is_none() {
            // The first look since loading: a snapshot (UIDVALIDITY with it) to start from.
            self.index.save()?;
        }
        Ok(())
    }

    /// Another UIDVALIDITY: every UID known before means nothing now.
    fn restart(&mut self, uid_validity: u32) -> io::Result<()> {
        let i = &mut self.index;
        i.entries.clear();
        i.vanished = Default::default();
        i.uid_validity = uid_validity;
        i.uid_next = 1;
        i.recent_from = 1;
        self.names.clear();
        i.save()
    }

    /// Moves the messages of `new/` to `cur/` (`:2,` added), as every Maildir reader
    /// does once it has seen them. A message another reader moved first is left to it.
    fn claim_new(&self) {
        let Ok(rd) = fs::read_dir(self.dir.join("new")) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !is_message_name(&name) {
                continue;
            }
            let to = if name.contains(':') {
                name.clone()
            } else {
                format!("{name}:2,")
            };
            let _ = fs::rename(e.path(), self.dir.join("cur").join(to));
        }
    }

    /// Makes the index say what the files say (see the module's description).
    fn reconcile(&mut self, files: &HashMap<String, String>, list: &Uidlist) -> io::Result<()> {
        let present: Vec<(u32, &str, &str)> = list
            .records
            .iter()
            .filter_map(|r| {
                files
                    .get(&r.base)
                    .map(|n| (r.uid, r.base.as_str(), n.as_str()))
            })
            .collect();
        let wanted: HashSet<u32> = present.iter().map(|p| p.0).collect();
        let gone: Vec<u32> = (self.index.entries.iter())
            .filter(|e| !wanted.contains(&e.uid))
            .map(|e| e.uid)
            .collect();
        if !gone.is_empty() {
            self.forget(&gone)?;
        }
        let at: HashMap<u32, usize> = (self.index.entries.iter().enumerate())
            .map(|(i, e)| (e.uid, i))
            .collect();
        let (mut changed, mut fresh) = (Vec::new(), Vec::new());
        for (uid, base, name) in present {
            let on_disk = flags_of(split_name(name).1.unwrap_or(""), &self.keywords);
            self.names.insert(uid, name.to_string());
            let Some(&i) = at
                .get(&uid)
                .filter(|&&i| self.index.entries[i].fingerprint == base)
            else {
                fresh.push(self.new_entry(uid, base, name, on_disk));
                continue;
            };
            let e = &mut self.index.entries[i];
            if e.size == 0 {
                e.size = message_size(&self.dir, name);
            }
            let kept = representable(&e.flags, &self.keywords);
            if flag_set(&kept) != flag_set(&on_disk) {
                // Changed by another program: its letters, and what letters cannot say.
                let kept = flag_set(&kept);
                let mut flags = on_disk;
                flags.extend(
                    (e.flags.iter())
                        .filter(|f| !kept.contains(&f.to_ascii_lowercase()))
                        .cloned(),
                );
                e.flags = flags;
                changed.push((uid, e.flags.clone()));
            }
        }
        if !changed.is_empty() {
            self.index.log_flags(&changed)?;
        }
        if fresh.is_empty() {
            return Ok(());
        }
        let from = self.index.entries.len();
        let in_order = (self.index.entries.last()).is_none_or(|l| fresh[0].uid > l.uid);
        self.index.entries.extend(fresh);
        if in_order {
            return self.index.log_entries(from);
        }
        self.index.entries.sort_by_key(|e| e.uid);
        self.index.entries.dedup_by_key(|e| e.uid);
        self.index.save()
    }

    fn new_entry(&self, uid: u32, base: &str, name: &str, flags: Vec<String>) -> Entry {
        let secs = fs::metadata(cur_path(&self.dir, name)).map_or(0, |m| m.mtime());
        Entry {
            uid,
            fingerprint: base.to_string(),
            flags,
            modseq: 0,
            internal_date: WallClock::utc(secs),
            size: message_size(&self.dir, name),
            from_offset: 0,
            start: 0,
            end: 0,
        }
    }

    /// Records these messages as expunged (their files are gone).
    fn forget(&mut self, uids: &[u32]) -> io::Result<()> {
        let modseq = self.index.log_expunge(uids, &[])?;
        let gone: HashSet<u32> = uids.iter().copied().collect();
        self.index.entries.retain(|e| !gone.contains(&e.uid));
        self.index.vanished.record(modseq, uids);
        for uid in uids {
            self.names.remove(uid);
        }
        Ok(())
    }

    /// The file of message `uid` (as last listed).
    pub(crate) fn path(&self, uid: u32) -> Option<PathBuf> {
        self.names.get(&uid).map(|n| cur_path(&self.dir, n))
    }

    /// STORE: changes the flags of `uids` (those whose MODSEQ is above `unchanged_since`
    /// excepted) by renaming their files; each message's flags and MODSEQ afterwards.
    pub(crate) fn store(
        &mut self,
        uids: &[u32],
        mode: StoreMode,
        flags: &[String],
        unchanged_since: Option<u64>,
    ) -> io::Result<FlagChanges> {
        self.sync()?;
        let wanted: HashSet<u32> = uids.iter().copied().collect();
        let mut out = FlagChanges::default();
        let mut changed = Vec::new();
        let keywords_before = self.keywords.clone();
        let mut renames = Vec::new();
        for e in self
            .index
            .entries
            .iter_mut()
            .filter(|e| wanted.contains(&e.uid))
        {
            if unchanged_since.is_some_and(|n| e.modseq > n) {
                out.modified.push(e.uid);
                continue;
            }
            let before = e.flags.clone();
            postrider_core::imap::store::apply_store(&mut e.flags, mode, flags);
            if e.flags == before {
                continue;
            }
            changed.push((e.uid, e.flags.clone()));
            if let Some(old) = self.names.get(&e.uid) {
                let (base, letters) = split_name(old);
                let letters = letters_for(&e.flags, &mut self.keywords, letters.unwrap_or(""));
                renames.push((e.uid, old.clone(), format!("{base}:2,{letters}")));
            }
        }
        if self.keywords != keywords_before {
            uidlist::save_keywords(&self.dir, &self.keywords)?;
        }
        for (uid, old, new) in renames {
            if old == new {
                continue;
            }
            match fs::rename(cur_path(&self.dir, &old), cur_path(&self.dir, &new)) {
                Ok(()) => {
                    self.names.insert(uid, new);
                }
                // Renamed or removed meanwhile by another program: the next look tells.
                Err(e) if e.kind() == io::ErrorKind::NotFound => self.stale = true,
                Err(e) => return Err(e),
            }
        }
        if !changed.is_empty() {
            self.index.log_flags(&changed)?;
        }
        let modified: HashSet<u32> = out.modified.iter().copied().collect();
        out.flags = (self.index.entries.iter())
            .filter(|e| wanted.contains(&e.uid) && !modified.contains(&e.uid))
            .map(|e| (e.uid, e.flags.clone(), e.modseq))
            .collect();
        Ok(out)
    }

    /// EXPUNGE: removes the files of `uids` (the directory fsynced), records them as
    /// expunged and drops them from the UID list.
    pub(crate) fn expunge(&mut self, uids: &[u32]) -> io::Result<()> {
        self.sync()?;
        let wanted: HashSet<u32> = uids.iter().copied().collect();
        let mut removed = Vec::new();
        let mut bases = HashSet::new();
        for e in self
            .index
            .entries
            .iter()
            .filter(|e| wanted.contains(&e.uid))
        {
            if let Some(name) = self.names.get(&e.uid) {
                match fs::remove_file(cur_path(&self.dir, name)) {
                    Ok(()) => {}
                    Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                    Err(err) => return Err(err),
                }
            }
            removed.push(e.uid);
            bases.insert(e.fingerprint.clone());
        }
        if removed.is_empty() {
            return Ok(());
        }
        fsync_dir(&self.dir.join("cur"))?;
        self.forget(&removed)?;
        uidlist::prune(&self.dir, |b| !bases.contains(b))
    }

    /// The keyword letters for `flags` in this folder (new keywords numbered and saved).
    pub(crate) fn letters(&mut self, flags: &[String]) -> io::Result<String> {
        let before = self.keywords.clone();
        let letters = letters_for(flags, &mut self.keywords, "");
        if self.keywords != before {
            uidlist::save_keywords(&self.dir, &self.keywords)?;
        }
        Ok(letters)
    }

    /// Numbers messages this process just put into `cur/` and gives them what their
    /// names cannot say (flags without a letter, the date's zone). Their UIDs, in order.
    pub(crate) fn adopt(&mut self, placed: &[Placed]) -> io::Result<Vec<u32>> {
        self.stale = true;
        self.sync()?;
        let mut uids = Vec::new();
        let mut first_changed = None;
        for p in placed {
            let Some(i) = self
                .index
                .entries
                .iter()
                .rposition(|e| e.fingerprint == p.base)
            else {
                return Err(io::Error::other("a message just stored is missing"));
            };
            let e = &mut self.index.entries[i];
            if flag_set(&e.flags) != flag_set(&p.flags) || e.internal_date != p.date {
                e.flags = p.flags.clone();
                e.internal_date = p.date;
                first_changed = Some(first_changed.map_or(i, |f: usize| f.min(i)));
            }
            uids.push(e.uid);
        }
        if let Some(from) = first_changed {
            self.index.log_entries(from)?;
        }
        Ok(uids)
    }
}

/// The messages of `cur/`: base name to file name.
fn list_cur(dir: &Path) -> io::Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for e in fs::read_dir(dir.join("cur"))?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if is_message_name(&name) {
            out.insert(split_name(&name).0.to_string(), name);
        }
    }
    Ok(out)
}

/// RFC822.SIZE of message file `name`: its `W=` field, else counted from the file.
pub(crate) fn message_size(dir: &Path, name: &str) -> u64 {
    if let Some(w) = size_field(split_name(name).0, 'W') {
        return w;
    }
    fs::read(cur_path(dir, name)).map_or(0, |b| crlf_size(&b))
}
