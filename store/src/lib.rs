#![forbid(unsafe_code)]
//! # postrider-store
//!
//! Where postrider keeps things: the mailboxes behind the [`mailbox::Mailboxes`]
//! interface (files backend: [`mail_files`], [`imap_folder`], [`maildrop`]), the durable
//! queue ([`queue`], with its group commit), mbox files ([`mbox`]), accounts
//! ([`accounts`]: the users file or the system's passwd/shadow) and aliases
//! ([`aliases`]), the users' own files ([`user_files`]: `.forward`, Sieve; their named
//! ManageSieve scripts in [`sieve_scripts`]), with the
//! file-system helpers they share ([`fsutil`]) and the client certificate policies of
//! TLS to the database and to other mail servers ([`tls_verify`]). Nothing here
//! knows about protocols, sessions or the configuration file.

pub mod accounts;
pub mod aliases;
pub mod conformance;
pub mod fsutil;
pub mod group_commit;
pub mod imap_folder;
pub mod listing;
pub mod mail_files;
pub mod mailbox;
pub mod maildir;
pub mod maildrop;
pub mod mbox;
pub mod pg;
pub mod queue;
pub mod queue_store;
pub mod quota;
pub mod sieve_scripts;
mod special_use;
pub mod tls_verify;
pub mod user_files;
