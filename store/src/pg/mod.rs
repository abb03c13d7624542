//! The PostgreSQL backend: every node of a site keeps accounts, aliases, users' files
//! (and, as they land, mailboxes and the queue) in one database.
//!
//! The client is tokio-postgres without its tokio runtime: each connection is a TCP
//! stream from async-io, adapted to tokio's IO traits by tokio-util's `compat`, and its
//! protocol task is polled by a thread of its own. Callers use the connection from
//! blocking code (both runtimes call the storage traits from blocking threads), waiting
//! on each query with `futures_lite::future::block_on`. See [`Pool`].

mod accounts;
mod aliases;
pub mod blobs;
pub mod changes;
mod delivery;
mod folders;
pub mod import;
mod mailboxes;
mod maildrop;
pub mod migrate;
mod pool;
mod queue;
pub mod tls;
mod user_files;

pub use accounts::PgAccounts;
pub use aliases::PgAliases;
pub use mailboxes::PgMailboxes;
pub use maildrop::PgMaildrop;
pub use pool::{Conn, Lent, PgConnection, PgError, Pool, PoolConfig};
pub use queue::{PgQueue, PgSpool};
pub use user_files::PgUserFiles;
