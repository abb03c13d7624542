#![forbid(unsafe_code)]
//! # postrider-agents
//!
//! The runtime side of postrider shared by both runtimes: the agents that answer the core
//! machines' events (SMTP [`session`], [`pop3`], [`imap`], [`managesieve`], the [`web`] pages, with
//! [`login`]), delivery
//! ([`local`], [`lmtp`], [`remote`] with [`mta_sts`] and [`tls_rpt`], the queue [`runner`], [`sieve`], [`vacation`], [`dkim`]
//! signing and [`dkim_verify`]), configuration ([`config`], [`context`]), TLS setup,
//! the command line ([`cli`], [`sendmail`], [`lifecycle`]) and what both runtimes' listeners share
//! ([`service`], [`agent`]). Runtimes (`postrider-std`, `postrider-smol`) hold only
//! connections, one driver and the listeners.

pub mod agent;
pub mod backends;
pub mod cli;
pub mod compress;
pub mod config;
pub mod config_sections;
pub mod config_values;
pub mod context;
pub mod dkim;
pub mod dkim_verify;
pub mod doctor;
pub mod imap;
pub mod lifecycle;
pub mod listener;
pub mod lmtp;
pub mod local;
pub mod logging;
pub mod login;
pub mod managesieve;
pub mod manpages;
pub mod metrics;
pub mod mta_sts;
pub mod newaliases;
pub mod outcome;
pub mod pop3;
pub mod privileges;
pub mod quota;
pub mod reload;
pub mod remote;
pub mod resolver;
pub mod runner;
pub mod sendmail;
pub mod server_user;
pub mod service;
pub mod session;
pub mod sieve;
pub mod sieve_test;
pub mod tls;
pub mod tls_rpt;
pub mod user_files;
pub mod vacation;
pub mod web;
