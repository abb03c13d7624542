//! The files Dovecot keeps in each Maildir, read and written as Dovecot does:
//! `dovecot-uidlist` (UIDs by base name; changed only under its dotlock
//! `dovecot-uidlist.lock`, written whole to a new file renamed into place) and
//! `dovecot-keywords` (the keyword letters' names).

use std::fs;
use std::io;
use std::path::Path;
use std::time::Duration;

use postrider_core::maildir::{Keywords, Uidlist};

use crate::fsutil::{replace_file, DotLock};

/// How long to wait for another process's lock on `dovecot-uidlist`.
const LOCK_WAIT: Duration = Duration::from_secs(10);

const UIDLIST: &str = "dovecot-uidlist";
const KEYWORDS: &str = "dovecot-keywords";

/// The folder's `dovecot-uidlist`; None when there is none yet (or it is unreadable as
/// one: it is then written anew).
pub(crate) fn read(dir: &Path) -> io::Result<Option<Uidlist>> {
    match fs::read_to_string(dir.join(UIDLIST)) {
        Ok(text) => Ok(Uidlist::parse(&text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => Ok(None),
        Err(e) => Err(e),
    }
}

/// Gives UIDs to the messages `bases` (not listed yet) under the list's lock, reading it
/// again there (another process may have listed them meanwhile); a folder without a
/// list gets one with `fresh` (UIDVALIDITY, next UID). Returns the list as written.
pub(crate) fn add(dir: &Path, bases: &[&str], fresh: (u32, u32)) -> io::Result<Uidlist> {
    let _lock = DotLock::acquire(&dir.join(UIDLIST), LOCK_WAIT)?;
    let mut list = read(dir)?.unwrap_or_else(|| {
        let mut list = Uidlist::new(fresh.0, &new_guid());
        list.next_uid = fresh.1.max(1);
        list
    });
    let known: std::collections::HashSet<&str> =
        list.records.iter().map(|r| r.base.as_str()).collect();
    let fresh: Vec<&str> = bases
        .iter()
        .copied()
        .filter(|b| !known.contains(b))
        .collect();
    for base in fresh {
        list.add(base);
    }
    replace_file(&dir.join(UIDLIST), list.to_text().as_bytes())?;
    Ok(list)
}

/// Drops the records of messages no longer there (`keep` says which are), as Dovecot
/// does when it rewrites the list; the next UID stays where it was.
pub(crate) fn prune(dir: &Path, keep: impl Fn(&str) -> bool) -> io::Result<()> {
    let _lock = DotLock::acquire(&dir.join(UIDLIST), LOCK_WAIT)?;
    let Some(mut list) = read(dir)? else {
        return Ok(());
    };
    let before = list.records.len();
    list.records.retain(|r| keep(&r.base));
    if list.records.len() == before {
        return Ok(());
    }
    replace_file(&dir.join(UIDLIST), list.to_text().as_bytes())
}

/// A mailbox GUID for a new list (Dovecot's is 128 bits in hex; unique is all it needs).
fn new_guid() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{:016x}{:08x}{:08x}",
        now.as_nanos() as u64,
        std::process::id(),
        now.subsec_nanos() ^ 0x5bd1_e995
    )
}

/// The folder's keyword names (none when it has no `dovecot-keywords`).
pub(crate) fn keywords(dir: &Path) -> Keywords {
    fs::read_to_string(dir.join(KEYWORDS))
        .map(|t| Keywords::parse(&t))
        .unwrap_or_default()
}

/// Writes the keyword names (after new ones were numbered).
pub(crate) fn save_keywords(dir: &Path, keywords: &Keywords) -> io::Result<()> {
    replace_file(&dir.join(KEYWORDS), keywords.to_text().as_bytes())
}

/// The (inode, modification time) of the list and of the keywords file, to tell whether
/// another process changed them.
pub(crate) fn stamps(dir: &Path) -> [(u64, i128); 2] {
    [UIDLIST, KEYWORDS].map(|f| super::files::stamp_of(&dir.join(f)))
}
