#![forbid(unsafe_code)]
//! # postrider-std
//!
//! The blocking runtime of postrider (binary `postrider-std`, for small hosts): a thread
//! per listener and per connection over std::net and rustls. It holds only connections
//! ([`conn`]), the one driver that runs every protocol machine with its agent
//! ([`driver`]), the listeners ([`serve`]) and the reused connection threads
//! ([`workers`]); everything else comes from
//! `postrider-agents` and `postrider-store`.

pub mod conn;
pub mod driver;
pub mod serve;
pub mod workers;
