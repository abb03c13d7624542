//! IMAP4rev1 (RFC 3501): the command parser and framer, the server state machine, and
//! what it serves from messages: ENVELOPE, BODY and BODYSTRUCTURE, BODY[section].

pub mod command;
pub mod section;
pub mod server;
pub mod structure;
