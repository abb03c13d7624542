//! IMAP4rev1 (RFC 3501) pieces computed from the message layer. The protocol machine
//! comes with the access agent; this holds what it will serve from messages: ENVELOPE,
//! BODY and BODYSTRUCTURE, and BODY[section] addressing.

pub mod section;
pub mod structure;
