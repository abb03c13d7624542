//! Pure pieces of delivery: aliases parsing, mbox formatting, the trace fields delivery
//! adds, remote routing (MX order) and bounces (RFC 3464).

pub mod aliases;
pub mod bounce;
pub mod mbox;
pub mod routing;
pub mod trace;
