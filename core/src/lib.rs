#![forbid(unsafe_code)]
//! # postrider-core
//!
//! The sans-IO core of postrider: every protocol decision of the mail system, as pure
//! parsers and state machines. Nothing here touches sockets, files, threads, clocks or
//! randomness; the runtimes (`postrider-std`, `postrider-smol`) do, and pass time in.
//!
//! ## Run-loop contract (all protocol machines)
//! * Inputs are `handle_*` methods: bytes (`handle_input(now, &[u8])`), end of stream
//!   (`handle_eof`), deadlines (`handle_timeout`). Monotonic time is an argument of
//!   every input call; wall-clock time arrives inside the answers that need it.
//! * Outputs are `poll_*` methods, drained after every input or answer in this order:
//!   `poll_transmit` (bytes to write), `poll_event` (work only the runtime can do, often
//!   carrying a [`smtp::Token`] to answer), `poll_timeout` (the next deadline).
//! * While an answer is pending, `wants_input()` is false and pipelined bytes wait,
//!   unparsed, in the machine's buffer.
//!
//! ## Panic policy
//! No panic is reachable from peer input. Parsers return errors; session machines answer
//! them with the protocol's error replies and go on, or end with a final `Closed` event.
//!
//! ## Modules
//! * [`smtp`]: SMTP types, parsers, encoders, DATA receiver, server and client machines.
//! * [`dkim`]: DKIM canonicalization and signature fields (RFC 6376, RFC 8463).
//! * [`dns`]: the stub resolver machine (MX, A, AAAA, TXT) over simple-dns.
//! * [`imf`]: RFC 5322 header framing, addresses, dates.
//! * [`http`]: HTTP/1.1 server side: request framing, limits, the connection machine.
//! * [`imap`]: ENVELOPE and BODYSTRUCTURE as IMAP serves them.
//! * [`mime`]: Content-Type parameters (RFC 2231), encoded words (RFC 2047), base64 and
//!   quoted-printable, the MIME part tree.
//! * [`maildir`]: Maildir file names, `dovecot-uidlist` and `dovecot-keywords`.
//! * [`maildrop`]: scanning mbox files in chunks and serving their messages (POP3).
//! * [`delivery`]: mbox formatting and the trace fields of local delivery.
//! * [`mta_sts`]: MTA-STS records and policies (RFC 8461), the TLS-RPT record.
//! * [`pop3`]: the POP3 server machine (RFC 1939, 2449, 2595, 5034).
//! * [`sasl`]: SASL PLAIN and LOGIN exchanges (RFC 4616, RFC 4954).
//! * [`sieve`]: Sieve filtering (RFC 5228 and extensions): parser, validator, interpreter.
//! * [`submission`]: fix-ups for locally submitted messages (sendmail).
//! * [`tls_rpt`]: TLS-RPT (RFC 8460) session records, aggregate reports and report messages.
//! * [`web`]: the webmail's pure parts (form decoding).

pub mod authres;
pub mod delivery;
pub mod dkim;
pub mod dmarc;
pub mod dns;
pub mod dns_steps;
pub mod doctor;
pub mod http;
pub mod imap;
pub mod imf;
pub mod log_summary;
pub mod machine;
pub mod maildir;
pub mod maildrop;
pub mod managesieve;
pub mod mime;
pub mod mta_sts;
pub mod penalty;
pub mod pop3;
pub mod sasl;
pub mod sieve;
pub mod smtp;
pub mod spf;
pub mod submission;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls_rpt;
pub mod web;
