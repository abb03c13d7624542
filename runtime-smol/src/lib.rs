#![forbid(unsafe_code)]
//! # postrider-smol
//!
//! The async runtime of postrider (binary `postrider`, the main server): smol tasks over
//! async-io sockets and futures-rustls. It holds only connections ([`conn`]), the one
//! driver that runs every protocol machine with its agent ([`driver`]) and the listeners
//! ([`serve`]); the agents and the store (`postrider-agents`, `postrider-store`) are the
//! same as the std runtime's, their disk work run through `blocking::unblock`.

pub mod conn;
pub mod driver;
pub mod serve;
