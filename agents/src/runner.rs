//! The queue runner: takes committed messages from the queue and delivers each recipient,
//! recording per-recipient state durably, sends one bounce (RFC 3464) per pass for the
//! recipients that failed, and removes a message once no recipient needs more work.
//! Shared by both runtimes (it runs on its own thread).
//!
//! Local recipients go through aliases to mbox files, inline. Remote recipients go to a
//! pool of delivery threads (`[delivery] max_concurrency`, at most
//! `max_per_destination` per domain); while a message is with the pool the runner leaves
//! it alone, so one process never writes an envelope from two threads.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::metrics::DeliveryResult;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use bytes::Bytes;
use postrider_core::delivery::bounce::{bounce_message, Action, BounceParams, ReportedRecipient};
use postrider_core::imf::datetime::WallClock;
use postrider_core::smtp::client::{ClientMessage, ClientRecipient, RecipientResult};
use postrider_core::smtp::EnhancedCode;

use crate::context::{wall_now, Context};
use crate::local::{self, split_address, Delivery, Outcome};
use crate::remote::{self, OutboundTls};
use crate::resolver::Resolver;
use postrider_store::mailbox::DeliveryBatch;
use postrider_store::queue::{unix_now, Envelope, RcptStatus, Recipient};

/// At most this many messages share one mailbox commit (one fsync per mailbox).
const BATCH_MESSAGES: usize = 64;

/// A batch is committed once its appends reach this size, so that recovery after a
/// crash (which searches the last megabytes of a mailbox) still finds every entry.
const BATCH_BYTES: u64 = 512 * 1024;

/// Under load (the last pass delivered something), a pass starts at least this long after
/// the one before, so that the messages arriving meanwhile share its mailbox and queue
/// flushes: at thousands of messages a second, a pass per few messages spent most of
/// its time in `fdatasync`. An idle runner starts at once.
const BATCH_WINDOW: Duration = Duration::from_millis(5);

/// The wait before attempt number `attempts + 1`.
fn retry_delay(ctx: &Context, attempts: u32) -> Duration {
    let r = &ctx.settings().config.delivery.retry;
    let i = (attempts.max(1) as usize - 1).min(r.len().saturating_sub(1));
    r.get(i).map_or(Duration::from_secs(300), |s| s.get())
}

/// Whether a recipient address is delivered locally.
fn is_local(ctx: &Context, address: &str) -> bool {
    match split_address(address) {
        (_, Some(domain)) => ctx.settings().is_local_domain(domain),
        (_, None) => true,
    }
}

/// Records one attempt's outcome for recipient `i`, with the log line.
pub(crate) fn apply_outcome(
    ctx: &Context,
    env: &mut Envelope,
    i: usize,
    relay: &str,
    outcome: Outcome,
) {
    let now = unix_now();
    let id = env.id.clone();
    let delay = now - env.arrival;
    let expired = delay > ctx.settings().config.delivery.max_age.get().as_secs() as i64;
    let r = &mut env.recipients[i];
    let address = r.address.clone();
    r.attempts += 1;
    let result = match &outcome {
        Outcome::Delivered(_) => DeliveryResult::Delivered,
        Outcome::Temporary(_) if !expired => DeliveryResult::Deferred,
        _ => DeliveryResult::Bounced,
    };
    ctx.metrics.delivery(result, delay as f64);
    match outcome {
        Outcome::Delivered(text) => {
            r.status = RcptStatus::Delivered;
            r.last_error.clear();
            tracing::info!(
                "{id}: to=<{address}>, relay={relay}, delay={delay}, dsn=2.0.0, status=sent ({text})"
            );
        }
        Outcome::Permanent(text, status, remote) => {
            r.status = RcptStatus::Failed;
            r.last_error = text.clone();
            r.dsn_status = Some(status.to_string());
            (r.remote_mta, r.smtp_reply) = remote
                .map(|(m, rep)| (Some(m), Some(rep)))
                .unwrap_or((None, None));
            tracing::info!(
                "{id}: to=<{address}>, relay={relay}, delay={delay}, dsn={status}, status=bounced ({text})"
            );
        }
        Outcome::Temporary(text) if expired => {
            r.status = RcptStatus::Failed;
            r.last_error = format!("message expired in the queue; last error: {text}");
            r.dsn_status = Some("4.4.7".into());
            tracing::info!(
                "{id}: to=<{address}>, relay={relay}, delay={delay}, dsn=4.4.7, status=expired, returned to sender ({text})"
            );
        }
        Outcome::Temporary(text) => {
            r.status = RcptStatus::Deferred;
            r.next_attempt = now + retry_delay(ctx, r.attempts).as_secs() as i64;
            r.last_error = text.clone();
            tracing::info!(
                "{id}: to=<{address}>, relay={relay}, delay={delay}, dsn={}, status=deferred ({text})",
                deferral_dsn(&text)
            );
        }
    }
}

/// The enhanced status of a deferral for the log: the remote server's own when its reply
/// gave one, else one for the kind of failure (RFC 3463).
pub(crate) fn deferral_dsn(text: &str) -> String {
    let from_reply = text.split_whitespace().find(|w| {
        let parts: Vec<&str> = w.split('.').collect();
        parts.len() == 3
            && parts[0] == "4"
            && parts[1..]
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
    });
    if let Some(code) = from_reply {
        return code.to_string();
    }
    let lower = text.to_ascii_lowercase();
    let kind = if lower.contains("name service error") || lower.contains("name not found") {
        "4.4.3"
    } else if lower.starts_with("connect to") || lower.contains("no address to try") {
        "4.4.1"
    } else if lower.contains("timed out") || lower.contains("lost connection") {
        "4.4.2"
    } else if lower.contains("quota") {
        "4.2.2"
    } else {
        "4.0.0"
    };
    kind.to_string()
}

/// Whether the sender asked to hear about this recipient's failure (RFC 3461 §4.1:
/// without NOTIFY, failures are reported).
fn wants_failure_report(r: &Recipient) -> bool {
    r.notify
        .as_deref()
        .is_none_or(|n| n.split(',').any(|w| w.eq_ignore_ascii_case("FAILURE")))
}

/// Sends one bounce for the failed recipients not reported yet. Returns false when the
/// bounce could not be queued (the envelope then keeps them unreported for next time).
fn send_bounces(ctx: &Context, env: &mut Envelope, message: &[u8]) -> bool {
    let pending: Vec<usize> = (0..env.recipients.len())
        .filter(|&i| env.recipients[i].status == RcptStatus::Failed && !env.recipients[i].reported)
        .collect();
    if pending.is_empty() {
        return true;
    }
    let reportable: Vec<usize> = pending
        .iter()
        .copied()
        .filter(|&i| wants_failure_report(&env.recipients[i]))
        .collect();
    if env.sender.is_empty() {
        tracing::info!(
            "{}: undeliverable bounce to the null sender: discarded",
            env.id
        );
    } else if !reportable.is_empty() {
        let reported: Vec<ReportedRecipient> = reportable
            .iter()
            .map(|&i| {
                let r = &env.recipients[i];
                let status = r
                    .dsn_status
                    .as_deref()
                    .and_then(parse_status)
                    .unwrap_or(EnhancedCode::new(5, 0, 0));
                ReportedRecipient {
                    address: r.address.clone(),
                    orcpt: r.orcpt.clone(),
                    action: Action::Failed,
                    status,
                    remote_mta: r.remote_mta.clone(),
                    smtp_reply: r.smtp_reply.clone(),
                    reason: r.last_error.clone(),
                }
            })
            .collect();
        let unique = format!("{}.{:x}", env.id, OsRng.next_u64());
        let bounce = bounce_message(
            &BounceParams {
                hostname: &ctx.settings().config.hostname,
                sender: &env.sender,
                queue_id: &env.id,
                arrival: WallClock::utc(env.arrival),
                now: wall_now(),
                envid: env.envid.as_deref(),
                headers_only: env
                    .ret
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case("HDRS")),
                unique: &unique,
                recipients: &reported,
            },
            message,
        );
        match ctx
            .queue
            .submit("", vec![Recipient::new(env.sender.clone())], &bounce)
        {
            Ok(bid) => {
                tracing::info!("{}: sender non-delivery notification: {bid}", env.id);
                ctx.wakeup.notify();
            }
            Err(e) => {
                tracing::error!("{}: cannot queue the bounce: {e}", env.id);
                return false;
            }
        }
    }
    for i in pending {
        env.recipients[i].reported = true;
    }
    true
}

/// `5.1.1` → an enhanced code.
pub(crate) fn parse_status(s: &str) -> Option<EnhancedCode> {
    let mut it = s.split('.').map(|p| p.parse::<u16>().ok());
    let (Some(Some(c)), Some(Some(sub)), Some(Some(d)), None) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return None;
    };
    Some(EnhancedCode::new(u8::try_from(c).ok()?, sub, d))
}

/// Sends bounces, then writes the envelope back or removes the message. Returns the time
/// the message next needs attention, or None when it left the queue.
fn finish_pass(ctx: &Context, env: &mut Envelope, message: &[u8], changed: bool) -> Option<i64> {
    let now = unix_now();
    let id = env.id.clone();
    let mut changed = changed;
    if env
        .recipients
        .iter()
        .any(|r| r.status == RcptStatus::Failed && !r.reported)
    {
        if !send_bounces(ctx, env, message) {
            if changed {
                let _ = ctx.queue.update_envelope(env);
            }
            return Some(now + 60);
        }
        changed = true;
    }
    if env.is_finished() {
        if let Err(e) = ctx.queue.remove_unsynced(&id) {
            tracing::error!("{id}: cannot remove from queue: {e}");
            return Some(now + 60);
        }
        tracing::info!("{id}: removed");
        return None;
    }
    if changed {
        match ctx.queue.update_envelope(env) {
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

/// What one pass over a message found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// When the message next needs attention (None: it left the queue).
    pub next: Option<i64>,
    /// Remote recipients are due: hand the message to the delivery pool.
    pub remote_due: bool,
}

/// Claims message `id` for this node (`QueueStore::claim`), then reads it. A
/// message another node is delivering is left to it and looked at again later.
fn claim_and_load(ctx: &Context, id: &str) -> Result<(Envelope, Vec<u8>), Option<i64>> {
    match ctx
        .queue
        .claim(id, ctx.settings().config.storage.lease.get())
    {
        Ok(true) => load_claimed(ctx, id),
        Ok(false) => Err(Some(unix_now() + 10)),
        Err(e) => {
            tracing::error!("{id}: cannot claim: {e}");
            Err(Some(unix_now() + 60))
        }
    }
}

/// Claims the messages of a runner's batch at once; those another node holds are
/// looked at again in 10 s, all of them in a minute when the queue cannot be reached.
fn claim_batch(ctx: &Context, ids: &[&String]) -> (HashSet<String>, Option<i64>) {
    let owned: Vec<String> = ids.iter().map(|id| (*id).clone()).collect();
    match ctx
        .queue
        .claim_many(&owned, ctx.settings().config.storage.lease.get())
    {
        Ok(claimed) => (claimed.into_iter().collect(), Some(unix_now() + 10)),
        Err(e) => {
            tracing::error!("queue: cannot claim {} messages: {e}", ids.len());
            (HashSet::new(), Some(unix_now() + 60))
        }
    }
}

/// Reads a message this node has claimed: its envelope and its bytes as delivered.
fn load_claimed(ctx: &Context, id: &str) -> Result<(Envelope, Vec<u8>), Option<i64>> {
    let env = match ctx.queue.load(id) {
        Ok(e) => e,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::error!("{id}: cannot read envelope: {e}");
                return Err(Some(unix_now() + 60));
            }
            return Err(None);
        }
    };
    match ctx.queue.read_message(id) {
        Ok(m) => {
            let m = match &env.dkim {
                Some(sig) => with_signature(&m, sig),
                None => m,
            };
            // Fields from elsewhere that claim this host's results are removed (RFC 8601
            // §5) before ours is added.
            let m = match &env.auth_results {
                Some(ar) => {
                    let hostname = &ctx.settings().config.hostname;
                    let m = postrider_core::authres::remove_claims(&m, hostname).unwrap_or(m);
                    with_signature(&m, ar)
                }
                None => m,
            };
            Ok((env, m))
        }
        Err(e) => {
            tracing::error!("{id}: cannot read message file: {e}");
            Err(Some(unix_now() + 60))
        }
    }
}

/// The message with a field made here (its DKIM-Signature, an Authentication-Results)
/// placed right after this host's Received field (the first field of every queued
/// message), so that delivered mail still starts with Return-Path, Delivered-To and
/// Received.
fn with_signature(message: &[u8], signature: &str) -> Vec<u8> {
    let mut at = 0;
    if message.starts_with(b"Received:") {
        while let Some(i) = memchr::memchr(b'\n', &message[at..]) {
            at += i + 1;
            if !matches!(message.get(at), Some(b' ' | b'\t')) {
                break;
            }
        }
    }
    let mut out = Vec::with_capacity(message.len() + signature.len());
    out.extend_from_slice(&message[..at]);
    out.extend_from_slice(signature.as_bytes());
    out.extend_from_slice(&message[at..]);
    out
}

/// One message's local pass whose mailbox appends may still wait for their batch commit.
struct LocalPass {
    env: Envelope,
    message: Vec<u8>,
    changed: bool,
    remote_due: bool,
    /// Mailboxes delivered to through the batch.
    touched: Vec<String>,
}

/// Delivers the due local recipients of one message; with `batch`, mailbox appends are
/// left for the batch's commit (see [`finish_local`]).
fn deliver_local(
    ctx: &Context,
    id: &str,
    recovering: bool,
    mut batch: Option<&mut dyn DeliveryBatch>,
) -> Result<LocalPass, Option<i64>> {
    // A batch's messages were claimed together (see `claim_batch`).
    let (mut env, message) = match batch {
        Some(_) => load_claimed(ctx, id)?,
        None => claim_and_load(ctx, id)?,
    };
    if env.client == "local" && env.recipients.iter().all(|r| r.attempts == 0) {
        // Mail that did not come over SMTP (sendmail, bounces, forwarded copies) gets
        // its `from=` line in the server's log when it is first taken, as Postfix's qmgr.
        tracing::info!(
            "{id}: from=<{}>, size={}, nrcpt={} (queue active)",
            env.sender,
            env.size,
            env.recipients.len()
        );
    }
    let now = unix_now();
    let mut changed = false;
    let mut remote_due = false;
    let mut done = HashSet::new();
    if let Some(b) = batch.as_deref_mut() {
        b.take_touched();
    }
    for i in 0..env.recipients.len() {
        let r = &env.recipients[i];
        if !r.is_open() || r.next_attempt > now {
            continue;
        }
        if !is_local(ctx, &r.address) {
            remote_due = true;
            continue;
        }
        let rcpt = r.clone();
        let mut actions = rcpt.done.clone();
        let outcome = local::deliver(
            &mut Delivery {
                ctx,
                env: &env,
                message: &message,
                done_mailboxes: &mut done,
                recovering,
                batch: batch.as_deref_mut(),
            },
            &rcpt,
            &mut actions,
        );
        env.recipients[i].done = actions;
        apply_outcome(ctx, &mut env, i, "local", outcome);
        changed = true;
    }
    let touched = batch.map(|b| b.take_touched()).unwrap_or_default();
    Ok(LocalPass {
        env,
        message,
        changed,
        remote_due,
        touched,
    })
}

/// Ends a local pass once its batch is committed. When one of its mailbox files lost
/// the batch (fsync failed, appends undone), nothing of the pass is recorded: the
/// message is tried again in a minute, as if this pass had not happened.
fn finish_local(ctx: &Context, p: LocalPass, failed: &[String]) -> Pass {
    let id = p.env.id.clone();
    let pass = finish_local_pass(ctx, p, failed);
    if !pass.remote_due {
        ctx.queue.release(&id);
    }
    pass
}

fn finish_local_pass(ctx: &Context, mut p: LocalPass, failed: &[String]) -> Pass {
    if p.touched.iter().any(|t| failed.contains(t)) {
        return Pass {
            next: Some(unix_now() + 60),
            remote_due: false,
        };
    }
    let next = finish_pass(ctx, &mut p.env, &p.message, p.changed);
    Pass {
        next,
        remote_due: p.remote_due && next.is_some(),
    }
}

/// Delivers the due local recipients of one message (each mailbox append fsynced on its
/// own) and says whether remote ones are due.
pub fn process_message(ctx: &Context, id: &str, recovering: bool) -> Pass {
    let pass = match deliver_local(ctx, id, recovering, None) {
        Ok(p) => finish_local(ctx, p, &[]),
        Err(next) => Pass {
            next,
            remote_due: false,
        },
    };
    ctx.queue.sync_removals();
    pass
}

/// The pool of remote delivery threads and its bookkeeping.
#[derive(Debug)]
pub struct DeliveryPool {
    in_flight: Mutex<HashSet<String>>,
    jobs: Mutex<Sender<String>>,
    per_destination: Mutex<HashMap<String, usize>>,
    slot_freed: Condvar,
    max_per_destination: usize,
}

impl DeliveryPool {
    /// Starts `[delivery] max_concurrency` delivery threads.
    pub fn start(ctx: &Arc<Context>) -> Result<Arc<DeliveryPool>, String> {
        let tls = Arc::new(OutboundTls::from_settings(&ctx.settings())?);
        let resolver = Arc::new(Resolver::from_settings(&ctx.settings()));
        let (tx, rx) = channel::<String>();
        let pool = Arc::new(DeliveryPool {
            in_flight: Mutex::new(HashSet::new()),
            jobs: Mutex::new(tx),
            per_destination: Mutex::new(HashMap::new()),
            slot_freed: Condvar::new(),
            max_per_destination: ctx.settings().config.delivery.max_per_destination,
        });
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..ctx.settings().config.delivery.max_concurrency {
            let (ctx, pool, rx, tls, resolver) = (
                ctx.clone(),
                pool.clone(),
                rx.clone(),
                tls.clone(),
                resolver.clone(),
            );
            thread::Builder::new()
                .name(format!("delivery-{n}"))
                .spawn(move || worker(&ctx, &pool, &rx, &tls, &resolver))
                .map_err(|e| format!("cannot start delivery thread: {e}"))?;
        }
        Ok(pool)
    }

    /// Whether the message is with the pool now.
    pub fn in_flight(&self, id: &str) -> bool {
        lock(&self.in_flight).contains(id)
    }

    /// Hands a message to the pool (once at a time).
    pub fn submit(&self, id: &str) {
        if lock(&self.in_flight).insert(id.to_string()) {
            let _ = lock(&self.jobs).send(id.to_string());
        }
    }

    fn acquire(&self, destination: &str) {
        let mut map = lock(&self.per_destination);
        while map.get(destination).copied().unwrap_or(0) >= self.max_per_destination {
            map = match self.slot_freed.wait(map) {
                Ok(m) => m,
                Err(p) => p.into_inner(),
            };
        }
        *map.entry(destination.to_string()).or_insert(0) += 1;
    }

    fn release(&self, destination: &str) {
        let mut map = lock(&self.per_destination);
        if let Some(n) = map.get_mut(destination) {
            *n -= 1;
            if *n == 0 {
                map.remove(destination);
            }
        }
        self.slot_freed.notify_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn worker(
    ctx: &Context,
    pool: &DeliveryPool,
    jobs: &Mutex<Receiver<String>>,
    tls: &OutboundTls,
    resolver: &Resolver,
) {
    loop {
        let id = match lock(jobs).recv() {
            Ok(id) => id,
            Err(_) => return,
        };
        process_remote(ctx, pool, tls, resolver, &id);
        ctx.queue.release(&id);
        lock(&pool.in_flight).remove(&id);
        ctx.wakeup.notify();
    }
}

/// Delivers the due remote recipients of one message, one SMTP transaction per
/// destination domain (or one for all with a smarthost).
fn process_remote(
    ctx: &Context,
    pool: &DeliveryPool,
    tls: &OutboundTls,
    resolver: &Resolver,
    id: &str,
) {
    let Ok((mut env, message)) = claim_and_load(ctx, id) else {
        return;
    };
    let now = unix_now();
    let smarthost = !ctx.settings().config.delivery.smarthost.is_empty();
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, r) in env.recipients.iter().enumerate() {
        if !r.is_open() || r.next_attempt > now || is_local(ctx, &r.address) {
            continue;
        }
        let domain = split_address(&r.address)
            .1
            .unwrap_or("")
            .to_ascii_lowercase();
        let key = if smarthost {
            String::from("smarthost")
        } else {
            domain
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    if groups.is_empty() {
        return;
    }
    let content = Bytes::from(message.clone());
    for (destination, idxs) in groups {
        if ctx.shutting_down() {
            break;
        }
        let domain = split_address(&env.recipients[idxs[0]].address)
            .1
            .unwrap_or("")
            .to_string();
        let client_message = ClientMessage {
            sender: env.sender.clone(),
            recipients: idxs
                .iter()
                .map(|&i| {
                    let r = &env.recipients[i];
                    ClientRecipient {
                        address: r.address.clone(),
                        notify: r.notify.clone(),
                        orcpt: r.orcpt.clone(),
                    }
                })
                .collect(),
            ret: env.ret.clone(),
            envid: env.envid.clone(),
            content: content.clone(),
            binary: env.binary,
            require_tls: env.require_tls,
        };
        pool.acquire(&destination);
        let result = remote::deliver(
            &env.id,
            &ctx.settings(),
            resolver,
            tls,
            &domain,
            client_message,
        );
        pool.release(&destination);
        for (k, &i) in idxs.iter().enumerate() {
            let outcome = match result.results.get(k) {
                Some(RecipientResult::Delivered(reply)) => Outcome::Delivered(reply.summary()),
                Some(RecipientResult::Deferred(text)) => {
                    // Connection and DNS errors name the host already; a reply says who.
                    let reply = text
                        .get(..3)
                        .is_some_and(|c| c.bytes().all(|b| b.is_ascii_digit()));
                    match &result.remote_mta {
                        Some(mta) if reply && result.relay != "none" => {
                            Outcome::Temporary(format!("host {mta} said: {text}"))
                        }
                        _ => Outcome::Temporary(text.clone()),
                    }
                }
                Some(RecipientResult::Failed(text, reply)) => {
                    let status = result.results[k].status();
                    let remote = match (&result.remote_mta, reply) {
                        (Some(mta), Some(r)) if result.relay != "none" => {
                            Some((mta.clone(), r.summary()))
                        }
                        _ => None,
                    };
                    let said = match &result.remote_mta {
                        Some(mta) if result.relay != "none" => format!("host {mta} said: {text}"),
                        _ => text.clone(),
                    };
                    Outcome::Permanent(said, status, remote)
                }
                None => Outcome::Temporary("no result from the delivery attempt".into()),
            };
            apply_outcome(ctx, &mut env, i, &result.relay, outcome);
        }
    }
    let _guard = lock(&ctx.delivery_lock);
    finish_pass(ctx, &mut env, &message, true);
    ctx.queue.sync_removals();
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
    match ctx.queue.verify() {
        Ok(moved) => {
            for id in moved {
                tracing::warn!(
                    "queue: {id}: envelope or message incomplete (cut off before its commit), moved to queue/corrupt/"
                );
            }
        }
        Err(e) => tracing::error!("queue: verification failed: {e}"),
    }
    let pool = match DeliveryPool::start(&ctx) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("remote delivery disabled: {e}");
            return;
        }
    };
    let mut schedule: HashMap<String, i64> = HashMap::new();
    // Messages found in the queue at start may have been cut mid-delivery by a crash.
    let mut recovering: HashSet<String> =
        ctx.queue.list().unwrap_or_default().into_iter().collect();
    let mut last_pass: Option<Instant> = None;
    while !ctx.shutting_down() {
        if let Some(since) = last_pass.take().map(|t| t.elapsed()) {
            thread::sleep(BATCH_WINDOW.saturating_sub(since));
        }
        let started = Instant::now();
        for note in ctx.queue.take_notes() {
            tracing::info!("{note}");
        }
        if ctx.queue.take_flush_request() {
            let _guard = lock(&ctx.delivery_lock);
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
        ctx.metrics.queue_size(ids.len());
        let present: HashSet<&String> = ids.iter().collect();
        schedule.retain(|id, _| present.contains(id));
        let due: Vec<&String> = ids
            .iter()
            .filter(|id| !pool.in_flight(id) && schedule.get(*id).is_none_or(|&t| t <= unix_now()))
            .collect();
        if !due.is_empty() {
            last_pass = Some(started);
        }
        for chunk in due.chunks(BATCH_MESSAGES) {
            if ctx.shutting_down() {
                break;
            }
            let mut finished = Vec::new();
            {
                let _guard = lock(&ctx.delivery_lock);
                let (claimed, unclaimed_next) = claim_batch(&ctx, chunk);
                let mut batch = ctx.mailboxes.begin_batch();
                let mut pending = Vec::new();
                for id in chunk {
                    if !claimed.contains(*id) {
                        finished.push((
                            (*id).clone(),
                            Pass {
                                next: unclaimed_next,
                                remote_due: false,
                            },
                        ));
                        continue;
                    }
                    if recovering.remove(*id) {
                        // Recovery looks at the mailboxes' ends: commit what is pending
                        // first, then deliver this one on its own.
                        let failed = batch.commit();
                        for (id, p) in pending.drain(..) {
                            finished.push((id, finish_local(&ctx, p, &failed)));
                        }
                        finished.push(((*id).clone(), process_message(&ctx, id, true)));
                        continue;
                    }
                    match deliver_local(&ctx, id, false, Some(batch.as_mut())) {
                        Ok(p) => pending.push(((*id).clone(), p)),
                        Err(next) => finished.push((
                            (*id).clone(),
                            Pass {
                                next,
                                remote_due: false,
                            },
                        )),
                    }
                    if batch.bytes() >= BATCH_BYTES {
                        let failed = batch.commit();
                        for (id, p) in pending.drain(..) {
                            finished.push((id, finish_local(&ctx, p, &failed)));
                        }
                    }
                }
                let failed = batch.commit();
                for (id, p) in pending.drain(..) {
                    finished.push((id, finish_local(&ctx, p, &failed)));
                }
                ctx.queue.sync_removals();
            }
            for (id, pass) in finished {
                if pass.remote_due {
                    pool.submit(&id);
                }
                match pass.next {
                    Some(t) => {
                        schedule.insert(id, t);
                    }
                    None => {
                        schedule.remove(&id);
                    }
                }
            }
        }
        ctx.wakeup.wait(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deferrals_carry_the_servers_status_or_one_for_their_kind() {
        assert_eq!(
            deferral_dsn("host mx said: 451 4.7.1 Greylisted (in reply to RCPT TO command)"),
            "4.7.1"
        );
        assert_eq!(
            deferral_dsn("Host or domain name not found. Name service error for name=x type=MX"),
            "4.4.3"
        );
        assert_eq!(
            deferral_dsn("connect to mx[192.0.2.1]:25: Connection refused"),
            "4.4.1"
        );
        assert_eq!(deferral_dsn("cannot update mailbox"), "4.0.0");
    }
}
