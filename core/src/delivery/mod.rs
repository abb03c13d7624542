//! Pure pieces of delivery: aliases and forward targets, mbox formatting, the trace
//! fields delivery adds, loop detection, vacation replies, remote routing (MX order) and
//! bounces (RFC 3464).

pub mod aliases;
pub mod bounce;
pub mod loops;
pub mod mbox;
pub mod routing;
pub mod subaddress;
pub mod trace;
pub mod vacation;
