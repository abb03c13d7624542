//! Pure pieces of local delivery: mbox formatting and the trace fields delivery adds.

pub mod mbox;
pub mod trace;
