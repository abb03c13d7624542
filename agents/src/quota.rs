//! Storage limits (`postrider user quota`) enforced where mail arrives: RCPT for a local
//! account that is already full (452 4.2.2), local delivery (deferred with 4.2.2, bounced
//! once the queue gives up), IMAP APPEND and COPY (`NO [OVERQUOTA]`). A limit or usage
//! that cannot be read never refuses mail: the error is logged and the mail goes in.

use crate::context::Context;

/// When `adding` more octets would take `user` over their limit: (used, limit).
pub fn over_quota(ctx: &Context, user: &str, adding: u64) -> Option<(u64, u64)> {
    over_quota_with(ctx, user, || adding)
}

/// As [`over_quota`], with the size added worked out only when the account has a limit
/// (a COPY's messages are looked up only then).
pub fn over_quota_with(
    ctx: &Context,
    user: &str,
    adding: impl FnOnce() -> u64,
) -> Option<(u64, u64)> {
    let limit = match ctx.mailboxes.quota(user) {
        Ok(Some(l)) => l,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!("quota of {user}: {}", e.text);
            return None;
        }
    };
    let used = match ctx.mailboxes.usage(user) {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!("storage used by {user}: {}", e.text);
            return None;
        }
    };
    (used.saturating_add(adding()) > limit).then_some((used, limit))
}

/// The text of a refusal for a full mailbox.
pub fn full_text(user: &str, (used, limit): (u64, u64)) -> String {
    format!("mailbox of {user} is full: quota exceeded ({used} of {limit} bytes used)")
}
