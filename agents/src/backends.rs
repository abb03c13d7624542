//! The storage backends a node runs on, chosen by `[storage] backend`: the files under
//! `data_dir` (the default), or PostgreSQL shared by several nodes (schema created or
//! upgraded on open). Everything else reaches storage through the traits these return.

use std::io;
use std::sync::Arc;

use postrider_store::accounts::{AccountStore, Homes, SystemAccounts, UsersFile};
use postrider_store::aliases::{AliasStore, AliasesDb};
use postrider_store::mail_files::FilesMailboxes;
use postrider_store::mailbox::Mailboxes;
use postrider_store::maildir::MaildirMailboxes;
use postrider_store::pg::{
    migrate, PgAccounts, PgAliases, PgMailboxes, PgQueue, PgSieveScripts, PgUserFiles, Pool,
    PoolConfig,
};
use postrider_store::queue::Queue;
use postrider_store::queue_store::QueueStore;
use postrider_store::sieve_scripts::{ScriptDir, SieveScripts};
use postrider_store::user_files::UserFiles;

use crate::config::{AccountsKind, MailboxFormat, Settings, StorageBackend};
use crate::user_files::HomeFiles;

/// The storage a node uses.
#[derive(Debug)]
pub struct Backends {
    /// Accounts.
    pub accounts: Arc<dyn AccountStore>,
    /// Aliases.
    pub aliases: Arc<dyn AliasStore>,
    /// Mailboxes.
    pub mailboxes: Arc<dyn Mailboxes>,
    /// Users' files.
    pub user_files: Arc<dyn UserFiles>,
    /// Users' named Sieve scripts (ManageSieve).
    pub sieve_scripts: Arc<dyn SieveScripts>,
    /// The queue.
    pub queue: Arc<dyn QueueStore>,
    /// The database, with the PostgreSQL backend (for `newaliases`, `store import`).
    pub pool: Option<Arc<Pool>>,
}

/// This node's name: `[storage] node`, else the host name.
pub fn node_name(settings: &Settings) -> String {
    let node = &settings.config.storage.node;
    if node.is_empty() {
        gethostname::gethostname().to_string_lossy().into_owned()
    } else {
        node.clone()
    }
}

/// Opens the backends `settings` choose.
pub fn open(settings: &Settings) -> io::Result<Backends> {
    match settings.config.storage.backend {
        StorageBackend::Files => files(settings),
        StorageBackend::Postgres => postgres(settings),
    }
}

fn files(settings: &Settings) -> io::Result<Backends> {
    let dir = &settings.config.data_dir;
    let accounts: Arc<dyn AccountStore> = match settings.config.accounts {
        AccountsKind::System => Arc::new(SystemAccounts::default()),
        AccountsKind::File => Arc::new(UsersFile::new(dir)),
    };
    let user_files = Arc::new(HomeFiles::new(
        Homes::new(dir, accounts.clone()),
        accounts.clone(),
        settings.config.delivery.default_user.clone(),
    ));
    Ok(Backends {
        mailboxes: match settings.config.storage.mailbox_format {
            MailboxFormat::Mbox => Arc::new(FilesMailboxes::new(dir, accounts.clone())),
            MailboxFormat::Maildir => Arc::new(MaildirMailboxes::new(dir, accounts.clone())),
        },
        aliases: Arc::new(AliasesDb::new(&settings.aliases_path())),
        queue: Arc::new(Queue::open(&dir.join("queue"))?),
        user_files,
        sieve_scripts: Arc::new(ScriptDir::new(dir.join("sieve"))),
        accounts,
        pool: None,
    })
}

fn postgres(settings: &Settings) -> io::Result<Backends> {
    let pool =
        Pool::new(PoolConfig::new(&settings.config.storage.url)).map_err(io::Error::other)?;
    let pool = Arc::new(pool);
    migrate::migrate(&pool).map_err(io::Error::other)?;
    let node = node_name(settings);
    Ok(Backends {
        accounts: Arc::new(PgAccounts::new(pool.clone())),
        aliases: Arc::new(PgAliases::new(pool.clone())),
        mailboxes: Arc::new(PgMailboxes::new(pool.clone(), &node)),
        user_files: Arc::new(PgUserFiles::new(pool.clone())),
        sieve_scripts: Arc::new(PgSieveScripts::new(pool.clone())),
        queue: Arc::new(PgQueue::new(pool.clone(), &node)),
        pool: Some(pool),
    })
}
