//! ManageSieve (RFC 5804): the protocol users' mail clients speak to list, upload, check,
//! activate, rename and delete their Sieve scripts. [`parse`] reads commands (strings are
//! quoted or literals, `{n}` or `{n+}`), [`server`] is the session machine in the
//! handle_*/poll_* shape of the other servers; the scripts are reached only through
//! [`SieveEvent::Scripts`] questions the runtime answers.

pub mod parse;
pub mod server;
#[cfg(feature = "testing")]
pub mod testing;

pub use parse::{encode_command, parse_command, sieve_string, Command};
pub use server::{Answer, ManageSieveConfig, ManageSieveServer, Refusal, Request, SieveEvent};
