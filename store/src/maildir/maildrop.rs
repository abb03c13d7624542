//! A Maildir INBOX opened for a POP3 session: one session at a time (the same lock as
//! an mbox maildrop's), the messages as the folder listed them when the session began
//! (UIDL `%08X%08X` of UID and UIDVALIDITY, Dovecot's default, so a client switching
//! between the two servers sees the same ids), deletions at QUIT through the folder's
//! EXPUNGE (files removed, the directory fsynced).

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use postrider_core::maildrop::Pop3Encoder;
use postrider_core::pop3::MessageInfo;

use super::folder::MaildirFolder;
use crate::mailbox::{Maildrop, MessageChunks};
use crate::maildrop::MessageStream;

/// One message of the session's listing.
#[derive(Debug)]
struct Listed {
    uid: u32,
    path: PathBuf,
    size: u64,
}

/// An open Maildir maildrop.
#[derive(Debug)]
pub(crate) struct MaildirMaildrop {
    folder: Arc<Mutex<MaildirFolder>>,
    uid_validity: u32,
    messages: Vec<Listed>,
    _session: File,
}

impl MaildirMaildrop {
    /// The INBOX `folder` as it is now, for a session holding `session` (its lock).
    pub(crate) fn open(folder: Arc<Mutex<MaildirFolder>>, session: File) -> io::Result<Self> {
        let (uid_validity, messages) = {
            let mut f = super::lock(&folder);
            f.sync()?;
            let listed = (f.index.entries.iter())
                .filter_map(|e| {
                    Some(Listed {
                        uid: e.uid,
                        path: f.path(e.uid)?,
                        size: e.size,
                    })
                })
                .collect();
            (f.index.uid_validity, listed)
        };
        Ok(MaildirMaildrop {
            folder,
            uid_validity,
            messages,
            _session: session,
        })
    }
}

impl Maildrop for MaildirMaildrop {
    fn listing(&self) -> Vec<MessageInfo> {
        (self.messages.iter())
            .map(|m| MessageInfo {
                size: m.size,
                uid: format!("{:08X}{:08X}", m.uid, self.uid_validity),
            })
            .collect()
    }

    fn stream(&self, index: usize, top_lines: Option<usize>) -> io::Result<Box<dyn MessageChunks>> {
        let m = (self.messages.get(index)).ok_or_else(|| io::Error::other("no such message"))?;
        // Flags may have renamed the file since the listing: look it up again.
        let path = {
            let mut f = super::lock(&self.folder);
            let _ = f.sync();
            f.path(m.uid).unwrap_or_else(|| m.path.clone())
        };
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Box::new(MessageStream::new(
            file,
            len,
            Pop3Encoder::plain(top_lines),
        )))
    }

    fn commit(&self, deleted: &[usize]) -> io::Result<()> {
        if deleted.is_empty() {
            return Ok(());
        }
        let uids: Vec<u32> = (deleted.iter())
            .filter_map(|&i| self.messages.get(i).map(|m| m.uid))
            .collect();
        super::lock(&self.folder).expunge(&uids)
    }
}
