//! The Internet Message Format (RFC 5322): header framing, addresses, Message-ID lists
//! and dates.

pub mod address;
pub mod datetime;
pub mod header;
pub mod msgid;
