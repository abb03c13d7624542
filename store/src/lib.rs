#![forbid(unsafe_code)]
//! # postrider-store
//!
//! Where postrider keeps things: the durable queue ([`queue`], with its group commit),
//! mbox files ([`mbox`]), accounts ([`accounts`]: the users file or the system's
//! passwd/shadow) and aliases ([`aliases`]), with the file-system helpers they share
//! ([`fsutil`]). Nothing here knows about protocols, sessions or the configuration file.

pub mod accounts;
pub mod aliases;
pub mod fsutil;
pub mod group_commit;
pub mod mbox;
pub mod queue;
