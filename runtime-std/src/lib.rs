#![forbid(unsafe_code)]
//! # postrider-std
//!
//! The blocking runtime of postrider (binary `postrider-std`: a thread per connection
//! over std::net and rustls) and the storage code both runtimes share: the durable queue,
//! mbox delivery, the users file, aliases, TLS setup, the queue runner and the command line.

pub mod accounts;
pub mod agent;
pub mod aliases;
pub mod cli;
pub mod config;
pub mod config_sections;
pub mod config_values;
pub mod conn;
pub mod context;
pub mod dkim;
pub mod dkim_verify;
pub mod driver;
pub mod fsutil;
pub mod group_commit;
pub mod imap;
pub mod imap_folder;
pub mod imap_store;
pub mod local;
pub mod login;
pub mod maildrop;
pub mod mbox;
pub mod outcome;
pub mod pop3;
pub mod privileges;
pub mod queue;
pub mod remote;
pub mod resolver;
pub mod runner;
pub mod sendmail;
pub mod serve;
pub mod session;
pub mod sieve;
pub mod tls;
pub mod vacation;
