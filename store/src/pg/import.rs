//! `postrider store import DATA_DIR`: copies a single host's files backend into the
//! database: accounts (with their password hashes), aliases, every folder (mbox, or
//! Maildir when `DATA_DIR/maildir` exists) with its
//! UIDVALIDITY, UIDs, flags and keywords, subscriptions, users' files and the queue.
//! Everything is inserted only when absent, so running it twice copies nothing twice.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use postrider_core::delivery::aliases::Aliases;
use postrider_core::imap::store::FetchPart;

use super::blobs;
use super::pool::{PgError, Pool};
use crate::accounts::{AccountStore, UsersFile};
use crate::mail_files::FilesMailboxes;
use crate::mailbox::Mailboxes;
use crate::maildir::MaildirMailboxes;
use crate::queue::Queue;
use crate::user_files::UserFile;

/// What an import copied (things already in the database are not counted).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Imported {
    /// Accounts.
    pub accounts: usize,
    /// Aliases.
    pub aliases: usize,
    /// Folders.
    pub folders: usize,
    /// Messages in folders.
    pub messages: usize,
    /// Users' files.
    pub files: usize,
    /// Queued messages.
    pub queued: usize,
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Copies the files backend under `data_dir` into the database behind `pool`.
pub fn import(pool: &Arc<Pool>, data_dir: &Path) -> Result<Imported, String> {
    let mut done = Imported::default();
    let c = pool.get().map_err(text)?;
    let users_file = data_dir.join("users");
    let users = fs::read_to_string(&users_file)
        .map_err(|e| format!("cannot read {}: {e}", users_file.display()))?;
    for line in users
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        if let Some((name, hash)) = line.split_once(':') {
            done.accounts += c
                .execute(
                    "INSERT INTO accounts (name, password_hash) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                    &[&name.to_ascii_lowercase(), &hash],
                )
                .map_err(text)? as usize;
        }
    }
    if let Ok(source) = fs::read_to_string(data_dir.join("aliases")) {
        for (name, targets) in Aliases::parse(&source).0.entries() {
            done.aliases += c
                .execute(
                    "INSERT INTO aliases (name, targets) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&name, &targets],
                )
                .map_err(text)? as usize;
        }
    }
    drop(c);
    let accounts: Arc<dyn AccountStore> = Arc::new(UsersFile::new(data_dir));
    // The mailboxes in whichever format the files backend kept them.
    let files: Box<dyn Mailboxes> = if data_dir.join("maildir").is_dir() {
        Box::new(MaildirMailboxes::new(data_dir, accounts.clone()))
    } else {
        Box::new(FilesMailboxes::new(data_dir, accounts.clone()))
    };
    for user in accounts.list().map_err(text)? {
        import_user(pool, files.as_ref(), data_dir, &user, &mut done)?;
    }
    import_queue(pool, data_dir, &mut done)?;
    Ok(done)
}

/// One account's folders, subscriptions and files.
fn import_user(
    pool: &Arc<Pool>,
    files: &dyn Mailboxes,
    data_dir: &Path,
    user: &str,
    done: &mut Imported,
) -> Result<(), String> {
    for entry in files.list(user, "", "*", false) {
        if entry.attributes.iter().any(|a| a == "\\Noselect") {
            continue;
        }
        let view = files.view(user, &entry.name, false).map_err(text)?;
        // Special-use attributes come along (those CREATE gave, and the usual names').
        let uses: Vec<&str> = entry
            .attributes
            .iter()
            .map(String::as_str)
            .filter(|a| postrider_core::imap::list_ext::CREATABLE_USES.contains(a))
            .collect();
        let c = pool.get().map_err(text)?;
        let made = c
            .execute(
                "INSERT INTO mailboxes (account, name, uid_validity, uid_next, recent_from, \
                 special_use) VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT DO NOTHING",
                &[
                    &user,
                    &entry.name,
                    &i64::from(view.uid_validity),
                    &i64::from(view.uid_next),
                    &uses.join(" "),
                ],
            )
            .map_err(text)?;
        done.folders += made as usize;
        let row = c
            .query_opt(
                "SELECT id FROM mailboxes WHERE account = $1 AND name = $2",
                &[&user, &entry.name],
            )
            .map_err(text)?;
        let id: i64 = row.map(|r| r.get(0)).ok_or("folder not created")?;
        drop(c);
        for m in &view.messages {
            let fetched = files
                .fetch(user, &entry.name, &[m.uid], FetchPart::Full)
                .map_err(text)?;
            let Some(data) = fetched.first().map(|f| f.data.clone()) else {
                continue;
            };
            let added = pool
                .transaction(|c| -> Result<u64, PgError> {
                    let there = c.query_opt(
                        "SELECT 1 FROM messages WHERE mailbox = $1 AND uid = $2",
                        &[&id, &i64::from(m.uid)],
                    )?;
                    if there.is_some() {
                        return Ok(0);
                    }
                    let blob = blobs::put(c, &data)?;
                    c.execute(
                        "INSERT INTO messages (mailbox, uid, blob, size, internal_date, \
                         date_offset, flags, modseq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        &[
                            &id,
                            &i64::from(m.uid),
                            &blob,
                            &(data.len() as i64),
                            &m.internal_date.unix_secs,
                            &m.internal_date.utc_offset_minutes,
                            &m.flags,
                            &(m.modseq.clamp(1, i64::MAX as u64) as i64),
                        ],
                    )
                })
                .map_err(text)?;
            done.messages += added as usize;
        }
        // The folder's MODSEQ carries on from the highest the files gave (RFC 7162: it
        // never goes back).
        let highest = view.highest_modseq.min(i64::MAX as u64) as i64;
        pool.get()
            .and_then(|c| {
                c.execute(
                    "UPDATE mailboxes SET modseq = GREATEST(modseq, $2) WHERE id = $1",
                    &[&id, &highest],
                )
            })
            .map_err(text)?;
    }
    let c = pool.get().map_err(text)?;
    for entry in files.list(user, "", "*", true) {
        c.execute(
            "INSERT INTO subscriptions (account, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&user, &entry.name],
        )
        .map_err(text)?;
    }
    let home = data_dir.join("home").join(user);
    let names = [
        UserFile::Forward,
        UserFile::Sieve,
        UserFile::VacationMemory,
        UserFile::VacationMessage,
    ];
    for file in names {
        if let Ok(content) = fs::read(home.join(file.file_name())) {
            done.files += c
                .execute(
                    "INSERT INTO user_files (account, file, content) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING",
                    &[&user, &file.file_name(), &content],
                )
                .map_err(text)? as usize;
        }
    }
    Ok(())
}

/// The queued messages, with their envelopes as they are.
fn import_queue(pool: &Arc<Pool>, data_dir: &Path, done: &mut Imported) -> Result<(), String> {
    let root = data_dir.join("queue");
    if !root.exists() {
        return Ok(());
    }
    let queue = Queue::open(&root).map_err(text)?;
    for id in queue.list().map_err(text)? {
        let (Ok(envelope), Ok(message)) = (queue.load(&id), queue.read_message(&id)) else {
            continue;
        };
        let envelope = toml::to_string(&envelope).map_err(text)?;
        let added = pool
            .transaction(|c| -> Result<u64, PgError> {
                if c.query_opt("SELECT 1 FROM queue WHERE id = $1", &[&id])?
                    .is_some()
                {
                    return Ok(0);
                }
                let blob = blobs::put(c, &message)?;
                c.execute(
                    "INSERT INTO queue (id, envelope, blob) VALUES ($1, $2, $3)",
                    &[&id, &envelope, &blob],
                )
            })
            .map_err(text)?;
        done.queued += added as usize;
    }
    Ok(())
}
