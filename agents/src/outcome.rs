//! What delivering to one recipient came to, shared by local delivery, Sieve and the
//! queue runner.

use postrider_core::smtp::EnhancedCode;

/// The result of delivering to one envelope recipient.
#[derive(Debug)]
pub enum Outcome {
    /// Delivered; the text says where.
    Delivered(String),
    /// Try again later.
    Temporary(String),
    /// Failed for good: the reason, the status, and the remote server and reply if any.
    Permanent(String, EnhancedCode, Option<(String, String)>),
}
