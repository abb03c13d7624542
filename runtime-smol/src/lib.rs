#![forbid(unsafe_code)]
//! # postrider-smol
//!
//! The async runtime of postrider (binary `postrider`, the main server): smol tasks over
//! async-io sockets and futures-rustls, driving the same core machines and the same
//! storage code (from `postrider-std`, through `blocking::unblock`) as the std runtime.

pub mod conn;
pub mod driver;
pub mod serve;
