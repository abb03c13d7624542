//! Pure pieces of local delivery: aliases parsing, mbox formatting and the trace fields
//! delivery adds.

pub mod aliases;
pub mod mbox;
pub mod trace;
