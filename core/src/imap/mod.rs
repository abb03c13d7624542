//! IMAP4rev1 (RFC 3501): the command parser and framer, the server state machine, and
//! what it serves from messages: ENVELOPE, BODY and BODYSTRUCTURE, BODY[section]; a
//! response parser and encoder for checking what the server writes; modified UTF-7
//! mailbox names.

pub mod binary;
pub mod catenate;
pub mod command;
pub mod command_encode;
pub mod dates;
pub mod fetch;
pub mod framing;
pub mod lex;
pub mod list_ext;
pub mod mutf7;
pub mod response;
pub mod search;
pub mod section;
pub mod seqset;
pub mod server;
pub mod sort;
pub mod store;
pub mod structure;
pub mod thread;
