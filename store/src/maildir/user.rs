//! One user's Maildir++ tree as IMAP sees it: INBOX is the root Maildir
//! (`data_dir/maildir/USER/`), folder `A/B` the Maildir `.A.B` beside it (so `.` cannot
//! be part of a folder name), and the folder operations over those directories.

use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use postrider_core::imap::command::StoreMode;
use postrider_core::imap::search::{ContentFacts, ContentScan};
use postrider_core::imap::server::{
    FetchedMessage, ListEntry, MailboxView, StatusInfo, StoreError,
};
use postrider_core::imap::store::{FetchPart, FlagChanges};
use postrider_core::imf::datetime::WallClock;

use super::files::{
    crlf_size, is_maildir, make_maildir, place_staged, read_crlf, stage_copy, stream, to_stored,
    unique_base, write_message, CrlfChunks,
};
use super::folder::{MaildirFolder, Placed};
use super::{lock, MaildirMailboxes};
use crate::fsutil::fsync_dir;
use crate::imap_folder::flag_logs;
use crate::listing::{list_entries, SPECIAL_USE};
use crate::mail_files::{io_err, valid_folder};
use crate::mailbox::Mailboxes;
use crate::special_use::SpecialUses;

fn err(code: Option<&str>, text: &str) -> StoreError {
    StoreError::new(code, text)
}

fn expunge_issued() -> StoreError {
    err(
        Some("EXPUNGEISSUED"),
        "Some of the requested messages no longer exist.",
    )
}

/// Removes copies [`stage_copy`] left in a tmp/ (a COPY that did not finish).
fn unstage<T, U, V, W>(staged: &[(T, PathBuf, U, V, W)]) {
    for s in staged {
        let _ = fs::remove_file(&s.1);
    }
}

fn nonexistent() -> StoreError {
    err(Some("NONEXISTENT"), "Mailbox doesn't exist")
}

/// The store as one user sees it.
#[derive(Debug)]
pub(crate) struct UserMaildir<'a> {
    pub(crate) store: &'a MaildirMailboxes,
    pub(crate) user: String,
}

impl UserMaildir<'_> {
    fn root(&self) -> PathBuf {
        self.store.root(&self.user)
    }

    fn state_dir(&self) -> PathBuf {
        self.store.data_dir.join("imap").join(&self.user)
    }

    /// The Maildir directory name of a folder (`INBOX` for the root).
    fn dir_name(name: &str) -> String {
        if name == "INBOX" {
            "INBOX".into()
        } else {
            format!(".{}", name.replace('/', "."))
        }
    }

    /// The Maildir of folder `name`.
    pub(crate) fn dir_of(&self, name: &str) -> Result<PathBuf, StoreError> {
        if name == "INBOX" {
            return Ok(self.root());
        }
        if !valid_folder(name) || name.contains('.') {
            return Err(err(
                Some("CANNOT"),
                "Invalid mailbox name (printable modified UTF-7, no '.' with Maildir)",
            ));
        }
        Ok(self.root().join(Self::dir_name(name)))
    }

    fn index_path(&self, name: &str) -> PathBuf {
        (self.state_dir().join("maildir")).join(format!("{}.index", Self::dir_name(name)))
    }

    fn exists(&self, name: &str) -> bool {
        name == "INBOX" || self.dir_of(name).is_ok_and(|d| is_maildir(&d))
    }

    /// The cached folder `name` (the INBOX Maildir made when missing).
    pub(crate) fn folder(&self, name: &str) -> Result<Arc<Mutex<MaildirFolder>>, StoreError> {
        let dir = self.dir_of(name)?;
        if name == "INBOX" && !is_maildir(&dir) {
            make_maildir(&dir, false).map_err(io_err)?;
        }
        let counter = self.state_dir().join("uidvalidity");
        let index = self.index_path(name);
        if let Some(parent) = index.parent() {
            fs::create_dir_all(parent).map_err(io_err)?;
        }
        let mut map = lock(&self.store.folders);
        let f = map
            .entry(dir.clone())
            .or_insert_with(|| Arc::new(Mutex::new(MaildirFolder::load(dir, index, &counter))));
        Ok(f.clone())
    }

    /// Runs `op` on folder `name` brought up to date.
    fn with<T>(
        &self,
        name: &str,
        op: impl FnOnce(&mut MaildirFolder) -> std::io::Result<T>,
    ) -> Result<T, StoreError> {
        if !self.exists(name) {
            return Err(nonexistent());
        }
        let f = self.folder(name)?;
        let mut f = lock(&f);
        let done = f.sync().and_then(|()| op(&mut f));
        match done {
            Ok(v) => Ok(v),
            // The folder was deleted meanwhile (by another session or program).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !self.exists(name) => {
                Err(nonexistent())
            }
            Err(e) => Err(io_err(e)),
        }
    }

    pub(crate) fn view(&self, name: &str, claim: bool) -> Result<MailboxView, StoreError> {
        self.with(name, |f| Ok(f.index.view(claim)))
    }

    pub(crate) fn status(&self, name: &str) -> Result<StatusInfo, StoreError> {
        self.with(name, |f| Ok(f.index.status()))
    }

    /// The files of the messages of `uids` still there, in folder order.
    fn present(f: &MaildirFolder, uids: &[u32]) -> Vec<(u32, PathBuf)> {
        let wanted: HashSet<u32> = uids.iter().copied().collect();
        (f.index.entries.iter())
            .filter(|e| wanted.contains(&e.uid))
            .filter_map(|e| Some((e.uid, f.path(e.uid)?)))
            .collect()
    }

    pub(crate) fn fetch(
        &self,
        name: &str,
        uids: &[u32],
        part: FetchPart,
    ) -> Result<Vec<FetchedMessage>, StoreError> {
        self.with(name, |f| {
            let mut out = Vec::new();
            for (uid, path) in Self::present(f, uids) {
                match read_crlf(&path, part == FetchPart::Header) {
                    Ok(data) => out.push(FetchedMessage {
                        uid,
                        data: Bytes::from(data),
                    }),
                    // Removed by another program since the look: left out.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        })
    }

    pub(crate) fn open_message(&self, name: &str, uid: u32) -> Result<CrlfChunks, StoreError> {
        let path = self.with(name, |f| Ok(f.path(uid)))?;
        let Some(path) = path else {
            return Err(err(Some("EXPUNGEISSUED"), "The message was expunged."));
        };
        CrlfChunks::open(&path).map_err(io_err)
    }

    pub(crate) fn scan(
        &self,
        name: &str,
        uids: &[u32],
        scan: &ContentScan,
    ) -> Result<Vec<(u32, ContentFacts)>, StoreError> {
        self.with(name, |f| {
            let mut out = Vec::new();
            for (uid, path) in Self::present(f, uids) {
                let mut one = scan.clone();
                match stream(&path, |chunk| {
                    one.feed(chunk);
                    one.wants_more()
                }) {
                    Ok(()) => out.push((uid, one.finish())),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        })
    }

    pub(crate) fn store_flags(
        &self,
        name: &str,
        uids: &[u32],
        mode: StoreMode,
        flags: &[String],
        unchanged_since: Option<u64>,
    ) -> Result<FlagChanges, StoreError> {
        self.with(name, |f| f.store(uids, mode, flags, unchanged_since))
    }

    pub(crate) fn expunge(&self, name: &str, uids: &[u32]) -> Result<(), StoreError> {
        self.with(name, |f| f.expunge(uids))
    }

    pub(crate) fn vanished(&self, name: &str, since: u64) -> Result<Vec<u32>, StoreError> {
        self.with(name, |f| Ok(f.index.vanished.since(since)))
    }

    pub(crate) fn append(
        &self,
        name: &str,
        flags: &[String],
        date: Option<WallClock>,
        message: &[u8],
    ) -> Result<(u32, u32), StoreError> {
        if !self.exists(name) {
            return Err(err(Some("TRYCREATE"), "Mailbox doesn't exist"));
        }
        let date = date.unwrap_or_else(|| WallClock::utc(crate::queue::unix_now()));
        self.with(name, |f| {
            let stored = to_stored(message);
            let base = unique_base("", stored.len() as u64, crlf_size(&stored));
            let letters = f.letters(flags)?;
            let mtime = UNIX_EPOCH + Duration::from_secs(date.unix_secs.max(0) as u64);
            write_message(&f.dir, &base, Some(&letters), &stored, Some(mtime))?;
            let placed = Placed {
                base,
                flags: flags.to_vec(),
                date,
            };
            let uids = f.adopt(&[placed])?;
            Ok((f.index.uid_validity, uids.first().copied().unwrap_or(0)))
        })
    }

    pub(crate) fn copy(
        &self,
        name: &str,
        uids: &[u32],
        to: &str,
        is_move: bool,
    ) -> Result<(u32, Vec<(u32, u32)>), StoreError> {
        if !self.exists(to) {
            return Err(err(Some("TRYCREATE"), "Mailbox doesn't exist"));
        }
        let to_dir = self.dir_of(to)?;
        // Each message linked into the target's tmp/ while the source is held (so no
        // EXPUNGE here removes one meanwhile), all of them or none.
        let staged = self.with(name, |f| {
            let wanted: HashSet<u32> = uids.iter().copied().collect();
            let mut staged = Vec::new();
            for e in f.index.entries.iter().filter(|e| wanted.contains(&e.uid)) {
                let Some(path) = f.path(e.uid) else { continue };
                let len = fs::metadata(&path).map(|m| m.len());
                let base = unique_base("", len.as_ref().map_or(0, |l| *l), e.size);
                match len.and_then(|_| stage_copy(&to_dir, &path, &base)) {
                    Ok(tmp) => staged.push((e.uid, tmp, base, e.flags.clone(), e.internal_date)),
                    // A source removed by another program, or the target deleted.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        unstage(&staged);
                        return Ok(Err(if is_maildir(&to_dir) {
                            expunge_issued()
                        } else {
                            err(Some("TRYCREATE"), "Mailbox doesn't exist")
                        }));
                    }
                    Err(err) => {
                        unstage(&staged);
                        return Err(err);
                    }
                }
            }
            Ok(Ok(staged))
        })??;
        if staged.len() < uids.iter().collect::<HashSet<_>>().len() {
            unstage(&staged);
            return Err(expunge_issued());
        }
        let placed = self.with(to, |d| {
            let mut placed = Vec::new();
            for (_, tmp, base, flags, date) in &staged {
                let letters = d.letters(flags)?;
                place_staged(&d.dir, tmp, base, &letters)?;
                placed.push(Placed {
                    base: base.clone(),
                    flags: flags.clone(),
                    date: *date,
                });
            }
            fsync_dir(&d.dir.join("cur"))?;
            Ok((d.index.uid_validity, d.adopt(&placed)?))
        });
        let (uid_validity, new_uids) = placed.inspect_err(|_| unstage(&staged))?;
        let sources: Vec<u32> = staged.iter().map(|s| s.0).collect();
        let pairs: Vec<(u32, u32)> = sources.into_iter().zip(new_uids).collect();
        if is_move {
            let moved: Vec<u32> = pairs.iter().map(|p| p.0).collect();
            self.expunge(name, &moved)?;
        }
        Ok((uid_validity, pairs))
    }

    pub(crate) fn create(&self, name: &str) -> Result<(), StoreError> {
        // Maildir++ has no folder that only holds others: `CREATE a/` makes `a` itself.
        let name = name.trim_end_matches('/');
        if name.eq_ignore_ascii_case("INBOX") || self.exists(name) {
            return Err(err(Some("ALREADYEXISTS"), "Mailbox already exists"));
        }
        let dir = self.dir_of(name)?;
        make_maildir(&self.root(), false).map_err(io_err)?;
        make_maildir(&dir, true).map_err(io_err)
    }

    pub(crate) fn create_special_use(&self, name: &str, uses: &[String]) -> Result<(), StoreError> {
        self.create(name)?;
        self.uses()
            .set(name.trim_end_matches('/'), uses)
            .map_err(io_err)
    }

    fn uses(&self) -> SpecialUses {
        SpecialUses::new(self.state_dir().join("special-use"))
    }

    /// Makes the special-use folders (Drafts, Sent, Trash, Junk) that are missing.
    pub(crate) fn ensure_special_use(&self) {
        for (name, _) in SPECIAL_USE {
            if !self.exists(name) {
                let _ = self.create(name);
            }
        }
    }

    /// DELETE: the folder's Maildir is moved out of sight in one rename (into the root's
    /// `tmp/`), then removed; its children stay (Maildir++ folders are independent).
    pub(crate) fn delete(&self, name: &str) -> Result<(), StoreError> {
        if name == "INBOX" {
            return Err(err(Some("CANNOT"), "INBOX can't be deleted."));
        }
        if !self.exists(name) {
            return Err(nonexistent());
        }
        let dir = self.dir_of(name)?;
        let gone = (self.root().join("tmp")).join(format!("deleted{}", unique_base("", 0, 0)));
        fs::rename(&dir, &gone).map_err(io_err)?;
        let _ = fs::remove_dir_all(&gone);
        self.uses().forget(name).map_err(io_err)?;
        let index = self.index_path(name);
        for (log, _) in flag_logs(&index) {
            let _ = fs::remove_file(log);
        }
        let _ = fs::remove_file(index);
        lock(&self.store.folders).remove(&dir);
        Ok(())
    }

    /// RENAME: the folder and its children (`.from.*`) take the new name, their sidecar
    /// indexes with them; renaming INBOX moves its messages into a new folder.
    pub(crate) fn rename(&self, from: &str, to: &str) -> Result<(), StoreError> {
        if !self.exists(from) {
            return Err(nonexistent());
        }
        if to == "INBOX" || self.exists(to) {
            return Err(err(Some("ALREADYEXISTS"), "Mailbox already exists"));
        }
        self.dir_of(to)?;
        if from == "INBOX" {
            self.create(to)?;
            let uids: Vec<u32> = (self.view("INBOX", false)?.messages.iter())
                .map(|m| m.uid)
                .collect();
            if !uids.is_empty() {
                self.copy("INBOX", &uids, to, true)?;
            }
            return Ok(());
        }
        let prefix = format!("{from}/");
        let moving: Vec<String> = (self.all_folders().into_iter())
            .filter(|(n, selectable, _)| *selectable && (n == from || n.starts_with(&prefix)))
            .map(|(n, _, _)| n)
            .collect();
        let mut cache = lock(&self.store.folders);
        for old in moving {
            let new = format!("{to}{}", &old[from.len()..]);
            let (a, b) = (self.dir_of(&old)?, self.dir_of(&new)?);
            fs::rename(&a, &b).map_err(io_err)?;
            let (ia, ib) = (self.index_path(&old), self.index_path(&new));
            for (log, suffix) in flag_logs(&ia) {
                let mut target = ib.as_os_str().to_owned();
                target.push(suffix);
                let _ = fs::rename(log, PathBuf::from(target));
            }
            let _ = fs::rename(&ia, &ib);
            cache.remove(&a);
            cache.remove(&b);
        }
        drop(cache);
        self.uses().rename(from, to).map_err(io_err)
    }

    /// Every folder: (name, selectable, has children), INBOX first; a level only named
    /// by its children (`.a.b` without `.a`) is listed as not selectable.
    fn all_folders(&self) -> Vec<(String, bool, bool)> {
        let mut names: Vec<String> = fs::read_dir(self.root())
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        let name = n.strip_prefix('.')?.replace('.', "/");
                        (valid_folder(&name) && is_maildir(&e.path())).then_some(name)
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        let real: HashSet<String> = names.iter().cloned().collect();
        let mut all: Vec<(String, bool)> = Vec::new();
        for n in &names {
            let mut parent = String::new();
            for part in n.split('/') {
                parent = if parent.is_empty() {
                    part.to_string()
                } else {
                    format!("{parent}/{part}")
                };
                if !all.iter().any(|(a, _)| *a == parent) {
                    all.push((parent.clone(), real.contains(&parent)));
                }
            }
        }
        let has_children = |n: &str| {
            let p = format!("{n}/");
            all.iter().any(|(a, _)| a.starts_with(&p))
        };
        let mut out = vec![("INBOX".to_string(), true, has_children("INBOX"))];
        for (n, selectable) in &all {
            if n != "INBOX" {
                out.push((n.clone(), *selectable, has_children(n)));
            }
        }
        out
    }

    pub(crate) fn list(&self, reference: &str, pattern: &str, subscribed: bool) -> Vec<ListEntry> {
        list_entries(
            self.all_folders(),
            &self.uses().list(),
            &self.store.state.subscriptions(&self.user),
            &format!("{reference}{pattern}"),
            subscribed,
        )
    }
}
