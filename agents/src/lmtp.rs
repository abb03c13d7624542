//! Delivery while an LMTP client waits (RFC 2033): each recipient of a message received
//! over LMTP goes through the same local delivery as queued mail (aliases, `.forward`,
//! Sieve, vacation), and its outcome becomes that recipient's reply. The message is
//! never queued here: a recipient answered 250 is in its mailbox (fsynced), one answered
//! 4xx is retried by the client, one answered 5xx is bounced by the client. Copies made
//! for forwards and redirects are queued as new messages, as with local delivery.

use std::collections::HashSet;

use postrider_core::smtp::{EnhancedCode, Reply};
use postrider_store::queue::{Envelope, RcptStatus};

use crate::context::Context;
use crate::local::{self, Delivery};
use crate::runner::{apply_outcome, deferral_dsn, parse_status};

/// Delivers `message` to every recipient of `env` now and returns one reply for each, in
/// order.
pub fn deliver(ctx: &Context, env: &Envelope, message: &[u8]) -> Vec<Reply> {
    let mut env = env.clone();
    let mut done_mailboxes = HashSet::new();
    let mut replies = Vec::with_capacity(env.recipients.len());
    for i in 0..env.recipients.len() {
        let rcpt = env.recipients[i].clone();
        let mut actions = Vec::new();
        let outcome = local::deliver(
            &mut Delivery {
                ctx,
                env: &env,
                message,
                done_mailboxes: &mut done_mailboxes,
                recovering: false,
                batch: None,
            },
            &rcpt,
            &mut actions,
        );
        apply_outcome(ctx, &mut env, i, "local", outcome);
        replies.push(recipient_reply(&env.recipients[i]));
    }
    replies
}

/// The LMTP reply for one recipient after its delivery was recorded.
fn recipient_reply(r: &postrider_store::queue::Recipient) -> Reply {
    let address = &r.address;
    match r.status {
        RcptStatus::Delivered => Reply::new(
            250,
            EnhancedCode::new(2, 0, 0),
            format!("<{address}> Ok: delivered"),
        ),
        RcptStatus::Failed => {
            let status = r
                .dsn_status
                .as_deref()
                .and_then(parse_status)
                .filter(|s| s.class == 5)
                .unwrap_or(EnhancedCode::new(5, 0, 0));
            let code = if (status.subject, status.detail) == (2, 2) {
                552
            } else {
                550
            };
            Reply::new(
                code,
                status,
                format!("<{address}> {}", one_line(&r.last_error)),
            )
        }
        _ => {
            let status =
                parse_status(&deferral_dsn(&r.last_error)).unwrap_or(EnhancedCode::new(4, 0, 0));
            let code = if (status.subject, status.detail) == (2, 2) {
                452
            } else {
                451
            };
            Reply::new(
                code,
                status,
                format!("<{address}> {}", one_line(&r.last_error)),
            )
        }
    }
}

/// A reply text on one line, of a sane length.
fn one_line(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(400)
        .collect();
    line.trim().to_string()
}
