//! The queue runner: takes committed messages from the queue and delivers each recipient,
//! recording per-recipient state durably, and removes a message once no recipient needs
//! more work. Shared by both runtimes (it runs on its own thread).
//!
//! Local recipients go through aliases to mbox files. Remote delivery (SMTP client, MX
//! lookup) is not built yet: remote recipients are deferred on the retry schedule and
//! fail after `delivery.max_age`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use postrider_core::delivery::trace::delivery_fields;

use crate::accounts::valid_name;
use crate::context::{wall_now, Context};
use crate::mbox;
use crate::queue::{unix_now, Envelope, RcptStatus};

/// Where one recipient's mail goes after alias expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Destination {
    /// A local mailbox name.
    Mailbox(String),
    /// A remote address.
    Remote(String),
    /// A target kind not supported yet (files, programs, :include:).
    Unsupported(String),
}

/// The result of one delivery attempt for one recipient.
#[derive(Debug)]
enum Outcome {
    Delivered(String),
    Temporary(String),
    Permanent(String),
}

/// Splits `local@domain` at the last `@`.
fn split_address(addr: &str) -> (&str, Option<&str>) {
    match addr.rsplit_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (addr, None),
    }
}

/// Expands a local name through the aliases (recursively, each name once).
fn resolve(
    ctx: &Context,
    name: &str,
    depth: usize,
    seen: &mut HashSet<String>,
    out: &mut Vec<Destination>,
) {
    let name = name.trim_matches('"').to_ascii_lowercase();
    if !seen.insert(name.clone()) || depth > 20 {
        // A self-reference (`bob: bob, x`) delivers to the mailbox, as Postfix does.
        let d = Destination::Mailbox(name);
        if !out.contains(&d) {
            out.push(d);
        }
        return;
    }
    let aliases = ctx.aliases.get();
    let Some(targets) = aliases.get(&name) else {
        out.push(Destination::Mailbox(name));
        return;
    };
    for t in targets {
        if t.starts_with('|')
            || t.starts_with('/')
            || t.to_ascii_lowercase().starts_with(":include:")
        {
            out.push(Destination::Unsupported(t.clone()));
            continue;
        }
        match split_address(t) {
            (local, Some(domain)) if !ctx.settings.is_local_domain(domain) => {
                out.push(Destination::Remote(format!("{local}@{domain}")))
            }
            (local, _) => resolve(ctx, local, depth + 1, seen, out),
        }
    }
}

/// The mbox file of a local mailbox name.
fn mailbox_path(ctx: &Context, name: &str) -> PathBuf {
    if ctx.settings.config.accounts == "system" {
        PathBuf::from("/var/mail").join(name)
    } else {
        ctx.settings.config.data_dir.join("mail").join(name)
    }
}

/// Delivers `message` for one envelope recipient.
///
/// `done` holds the mailboxes this message was already delivered to in this pass, so two
/// recipients that resolve to one mailbox get one copy (as Postfix local(8) does).
///
/// With `recovering` (the first pass after a start), a mailbox that already holds this
/// message whole (found by its queue id) is not written again: that is how a delivery cut
/// by a crash between the mbox fsync and the envelope update stays exactly-once.
fn deliver_recipient(
    ctx: &Context,
    env: &Envelope,
    message: &[u8],
    rcpt: &str,
    done: &mut HashSet<String>,
    recovering: bool,
) -> Outcome {
    let (local, domain) = split_address(rcpt);
    let domain = domain.unwrap_or(ctx.settings.primary_domain());
    if !ctx.settings.is_local_domain(domain) {
        return Outcome::Temporary("remote delivery is not available in this version".into());
    }
    let mut dests = Vec::new();
    resolve(ctx, local, 0, &mut HashSet::new(), &mut dests);
    let mut delivered = Vec::new();
    for d in dests {
        match d {
            Destination::Mailbox(name) => {
                if !valid_name(&name) {
                    return Outcome::Permanent(format!("invalid mailbox name {name:?}"));
                }
                if done.contains(&name) {
                    delivered.push(format!("{name} (duplicate suppressed)"));
                    continue;
                }
                let final_rcpt = format!("{name}@{domain}");
                let header = delivery_fields(&env.sender, &final_rcpt, Some(rcpt));
                let path = mailbox_path(ctx, &name);
                let entry = mbox::entry(&env.sender, wall_now(), header.as_bytes(), message);
                if recovering {
                    let marker = format!("id {}", env.id);
                    match mbox::recover_delivery(&path, marker.as_bytes(), entry.len()) {
                        Ok(true) => {
                            tracing::info!(
                                "{}: found in mailbox {name} after restart; not delivering again",
                                env.id
                            );
                            done.insert(name.clone());
                            delivered.push(name);
                            continue;
                        }
                        Ok(false) => {}
                        Err(e) => {
                            return Outcome::Temporary(format!(
                                "cannot check mailbox {}: {e}",
                                path.display()
                            ));
                        }
                    }
                }
                if let Err(e) = mbox::deliver_entry(&path, &entry) {
                    return Outcome::Temporary(format!(
                        "cannot update mailbox {}: {e}",
                        path.display()
                    ));
                }
                done.insert(name.clone());
                delivered.push(name);
            }
            Destination::Remote(addr) => {
                return Outcome::Temporary(format!(
                    "alias target {addr}: remote delivery is not available in this version"
                ));
            }
            Destination::Unsupported(t) => {
                return Outcome::Temporary(format!(
                    "alias target {t:?}: files, programs and :include: are not supported yet"
                ));
            }
        }
    }
    Outcome::Delivered(format!("delivered to mailbox {}", delivered.join(", ")))
}

/// The wait before attempt number `attempts + 1`.
fn retry_delay(ctx: &Context, attempts: u32) -> Duration {
    let r = &ctx.settings.retry;
    let i = (attempts.max(1) as usize - 1).min(r.len().saturating_sub(1));
    r.get(i).copied().unwrap_or(Duration::from_secs(300))
}

/// Works on one queued message; returns the unix time when it next needs attention, or
/// None when it left the queue.
pub fn process_message(ctx: &Context, id: &str, recovering: bool) -> Option<i64> {
    let mut env = match ctx.queue.load(id) {
        Ok(e) => e,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::error!("{id}: cannot read envelope: {e}");
                return Some(unix_now() + 60);
            }
            return None;
        }
    };
    let message = match ctx.queue.read_message(id) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!("{id}: cannot read message file: {e}");
            return Some(unix_now() + 60);
        }
    };
    let now = unix_now();
    let expired = now - env.arrival > ctx.settings.max_age.as_secs() as i64;
    let mut changed = false;
    let mut done = HashSet::new();
    for i in 0..env.recipients.len() {
        let r = &env.recipients[i];
        if !r.is_open() || r.next_attempt > now {
            continue;
        }
        let address = r.address.clone();
        let outcome = deliver_recipient(ctx, &env, &message, &address, &mut done, recovering);
        let delay = now - env.arrival;
        let r = &mut env.recipients[i];
        r.attempts += 1;
        changed = true;
        match outcome {
            Outcome::Delivered(text) => {
                r.status = RcptStatus::Delivered;
                r.last_error.clear();
                tracing::info!(
                    "{id}: to=<{address}>, relay=local, delay={delay}, status=sent ({text})"
                );
            }
            Outcome::Permanent(text) => {
                r.status = RcptStatus::Failed;
                r.last_error = text.clone();
                tracing::info!(
                    "{id}: to=<{address}>, relay=local, delay={delay}, status=bounced ({text})"
                );
            }
            Outcome::Temporary(text) if expired => {
                r.status = RcptStatus::Failed;
                r.last_error = format!("message expired in the queue: {text}");
                tracing::info!("{id}: to=<{address}>, delay={delay}, status=expired ({text})");
            }
            Outcome::Temporary(text) => {
                r.status = RcptStatus::Deferred;
                r.next_attempt = now + retry_delay(ctx, r.attempts).as_secs() as i64;
                r.last_error = text.clone();
                tracing::info!("{id}: to=<{address}>, delay={delay}, status=deferred ({text})");
            }
        }
    }
    if env.is_finished() {
        if let Err(e) = ctx.queue.remove(id) {
            tracing::error!("{id}: cannot remove from queue: {e}");
            return Some(now + 60);
        }
        tracing::info!("{id}: removed");
        return None;
    }
    if changed {
        match ctx.queue.update_envelope(&env) {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!("{id}: removed from the queue during delivery");
                return None;
            }
            Err(e) => tracing::error!("{id}: cannot update envelope: {e}"),
        }
    }
    env.recipients
        .iter()
        .filter(|r| r.is_open())
        .map(|r| r.next_attempt)
        .min()
}

/// Resets the schedule of every deferred recipient (`postrider queue flush`).
fn flush_all(ctx: &Context) {
    for id in ctx.queue.list().unwrap_or_default() {
        if let Ok(mut env) = ctx.queue.load(&id) {
            for r in env.recipients.iter_mut().filter(|r| r.is_open()) {
                r.next_attempt = 0;
            }
            let _ = ctx.queue.update_envelope(&env);
        }
    }
}

/// Runs until shutdown: scans the queue, delivers what is due, sleeps until woken or for
/// at most half a second (so `sendmail` from another process is picked up quickly).
pub fn run(ctx: Arc<Context>) {
    match ctx.queue.recover(Duration::from_secs(3600)) {
        Ok(0) => {}
        Ok(n) => tracing::info!("queue: removed {n} leftover temporary files"),
        Err(e) => tracing::error!("queue: recovery failed: {e}"),
    }
    let mut schedule: HashMap<String, i64> = HashMap::new();
    // Messages found in the queue at start may have been cut mid-delivery by a crash.
    let mut recovering: HashSet<String> =
        ctx.queue.list().unwrap_or_default().into_iter().collect();
    while !ctx.shutting_down() {
        if ctx.queue.take_flush_request() {
            let _guard = ctx.delivery_lock.lock();
            flush_all(&ctx);
            schedule.clear();
        }
        let ids = match ctx.queue.list() {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!("queue: cannot list: {e}");
                Vec::new()
            }
        };
        let present: HashSet<&String> = ids.iter().collect();
        schedule.retain(|id, _| present.contains(id));
        for id in &ids {
            if ctx.shutting_down() {
                break;
            }
            if schedule.get(id).is_some_and(|&t| t > unix_now()) {
                continue;
            }
            let guard = ctx.delivery_lock.lock();
            let next = process_message(&ctx, id, recovering.remove(id));
            drop(guard);
            match next {
                Some(t) => {
                    schedule.insert(id.clone(), t);
                }
                None => {
                    schedule.remove(id);
                }
            }
        }
        ctx.wakeup.wait(Duration::from_millis(500));
    }
}
