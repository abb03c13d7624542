//! The PostgreSQL backend: every node of a site keeps accounts, aliases, users' files
//! (and, as they land, mailboxes and the queue) in one database.
//!
//! The client is tokio-postgres without its tokio runtime: each connection is a TCP
//! stream from async-io (TLS by futures-rustls, see [`tls`]), adapted to tokio's IO
//! traits by tokio-util's `compat`. Callers use the connection from blocking code (both
//! runtimes call the storage traits from blocking threads): each statement is run with
//! `futures_lite::future::block_on`, which polls the connection's protocol task on the
//! same thread, so a round trip costs no thread hop. See [`Pool`].

mod accounts;
mod aliases;
pub mod blobs;
pub mod changes;
mod delivery;
mod error;
mod folders;
pub mod import;
mod mailboxes;
mod maildrop;
pub mod migrate;
mod pool;
mod queue;
mod sieve_scripts;
pub mod tls;
mod user_files;

pub use accounts::PgAccounts;
pub use aliases::PgAliases;
pub use mailboxes::PgMailboxes;
pub use maildrop::PgMaildrop;
pub use pool::{Conn, Lent, PgConnection, PgError, Pool, PoolConfig};
pub use queue::{PgQueue, PgSpool};
pub use sieve_scripts::PgSieveScripts;
pub use user_files::PgUserFiles;
