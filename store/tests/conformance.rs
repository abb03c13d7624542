//! The files backend against the mailbox conformance checks every backend must pass, and
//! the checks against a backend broken on purpose (they must notice).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use postrider_core::imap::command::StoreMode;
use postrider_core::imap::search::{ContentFacts, ContentScan};
use postrider_core::imap::server::{
    FetchedMessage, ListEntry, MailboxView, StatusInfo, StoreError,
};
use postrider_core::imap::store::{FetchPart, FlagChanges};
use postrider_core::imf::datetime::WallClock;
use postrider_core::pop3::OpenError;
use postrider_store::accounts::UsersFile;
use postrider_store::conformance::{account_rules, queue_rules, run_all};
use postrider_store::mail_files::FilesMailboxes;
use postrider_store::mailbox::{
    Arrival, DeliveryBatch, Mailboxes, Maildrop, MessageChunks, Stored,
};
use postrider_store::maildir::MaildirMailboxes;
use postrider_store::queue::Queue;
use postrider_store::queue_store::QueueStore;

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("postrider-conf-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("mail")).unwrap();
    dir
}

fn files_backend(dir: &Path) -> Box<dyn Mailboxes> {
    let accounts = Arc::new(UsersFile::new(dir));
    Box::new(FilesMailboxes::new(dir, accounts))
}

#[test]
fn users_file_conforms() {
    let dir = fresh_dir("users");
    let broken = account_rules(&UsersFile::new(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(broken.is_empty(), "{broken:#?}");
}

#[test]
fn files_queue_conforms() {
    let dir = fresh_dir("queue");
    let root = dir.join("queue");
    let broken = queue_rules(&|| Box::new(Queue::open(&root).unwrap()) as Box<dyn QueueStore>);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(broken.is_empty(), "{broken:#?}");
}

#[test]
fn files_backend_conforms() {
    let dir = fresh_dir("files");
    let failures = run_all(&|| files_backend(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn maildir_backend_conforms() {
    let dir = fresh_dir("maildir");
    let open = || {
        let accounts = Arc::new(UsersFile::new(&dir));
        Box::new(MaildirMailboxes::new(&dir, accounts)) as Box<dyn Mailboxes>
    };
    let failures = run_all(&open);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The files backend with flag changes dropped on the floor.
#[derive(Debug)]
struct ForgetsFlags(Box<dyn Mailboxes>);

impl Mailboxes for ForgetsFlags {
    fn ensure_special_use(&self, user: &str) {
        self.0.ensure_special_use(user)
    }
    fn view(&self, user: &str, name: &str, claim: bool) -> Result<MailboxView, StoreError> {
        self.0.view(user, name, claim)
    }
    fn status(&self, user: &str, name: &str) -> Result<StatusInfo, StoreError> {
        self.0.status(user, name)
    }
    fn quota(&self, user: &str) -> Result<Option<u64>, StoreError> {
        self.0.quota(user)
    }
    fn subscriptions(&self, user: &str) -> Vec<String> {
        self.0.subscriptions(user)
    }
    fn set_quota(&self, user: &str, limit: Option<u64>) -> Result<(), StoreError> {
        self.0.set_quota(user, limit)
    }
    fn fetch(
        &self,
        user: &str,
        name: &str,
        uids: &[u32],
        part: FetchPart,
    ) -> Result<Vec<FetchedMessage>, StoreError> {
        self.0.fetch(user, name, uids, part)
    }
    fn deliver(
        &self,
        a: &Arrival<'_>,
        batch: Option<&mut dyn DeliveryBatch>,
    ) -> Result<Stored, String> {
        self.0.deliver(a, batch)
    }
    fn begin_batch(&self) -> Box<dyn DeliveryBatch> {
        self.0.begin_batch()
    }
    fn open_message(
        &self,
        user: &str,
        name: &str,
        uid: u32,
    ) -> Result<Box<dyn MessageChunks>, StoreError> {
        self.0.open_message(user, name, uid)
    }
    fn scan(
        &self,
        user: &str,
        name: &str,
        uids: &[u32],
        scan: &ContentScan,
    ) -> Result<Vec<(u32, ContentFacts)>, StoreError> {
        self.0.scan(user, name, uids, scan)
    }
    fn store_flags(
        &self,
        _user: &str,
        _name: &str,
        uids: &[u32],
        _mode: StoreMode,
        flags: &[String],
        _unchanged_since: Option<u64>,
    ) -> Result<FlagChanges, StoreError> {
        Ok(FlagChanges {
            flags: uids.iter().map(|&u| (u, flags.to_vec(), 1)).collect(),
            modified: Vec::new(),
        })
    }
    fn expunge(&self, user: &str, name: &str, uids: &[u32]) -> Result<(), StoreError> {
        self.0.expunge(user, name, uids)
    }
    fn vanished(&self, user: &str, name: &str, since: u64) -> Result<Vec<u32>, StoreError> {
        self.0.vanished(user, name, since)
    }
    fn create_special_use(
        &self,
        user: &str,
        name: &str,
        uses: &[String],
    ) -> Result<(), StoreError> {
        self.0.create_special_use(user, name, uses)
    }
    fn append(
        &self,
        user: &str,
        name: &str,
        flags: &[String],
        date: Option<WallClock>,
        message: &[u8],
    ) -> Result<(u32, u32), StoreError> {
        self.0.append(user, name, flags, date, message)
    }
    fn copy(
        &self,
        user: &str,
        name: &str,
        uids: &[u32],
        to: &str,
        is_move: bool,
    ) -> Result<(u32, Vec<(u32, u32)>), StoreError> {
        self.0.copy(user, name, uids, to, is_move)
    }
    fn create(&self, user: &str, name: &str) -> Result<(), StoreError> {
        self.0.create(user, name)
    }
    fn delete(&self, user: &str, name: &str) -> Result<(), StoreError> {
        self.0.delete(user, name)
    }
    fn rename(&self, user: &str, from: &str, to: &str) -> Result<(), StoreError> {
        self.0.rename(user, from, to)
    }
    fn subscribe(&self, user: &str, name: &str, on: bool) -> Result<(), StoreError> {
        self.0.subscribe(user, name, on)
    }
    fn list(&self, user: &str, reference: &str, pattern: &str, sub: bool) -> Vec<ListEntry> {
        self.0.list(user, reference, pattern, sub)
    }
    fn open_maildrop(&self, user: &str) -> Result<Box<dyn Maildrop>, OpenError> {
        self.0.open_maildrop(user)
    }
}

#[test]
fn a_backend_that_forgets_flags_is_caught() {
    let dir = fresh_dir("broken");
    let failures = run_all(&|| Box::new(ForgetsFlags(files_backend(&dir))) as Box<dyn Mailboxes>);
    let _ = std::fs::remove_dir_all(&dir);
    // The three rules that look at flag changes see it: the flags, their MODSEQs and
    // the conditional STORE.
    assert_eq!(failures.len(), 3, "{failures:#?}");
    assert!(failures[0].starts_with("flags persist"), "{failures:#?}");
    assert!(failures[1].starts_with("MODSEQ"), "{failures:#?}");
    assert!(failures[2].starts_with("QRESYNC"), "{failures:#?}");
}
