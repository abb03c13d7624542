//! What the server counts for `/metrics` (Prometheus text format 0.0.4): messages
//! received, delivered, deferred, bounced and rejected (by reason), connections and
//! logins by protocol, the queue's size, and how long delivery took.
//!
//! Counters live in this process: they start at zero with it, as Prometheus expects of
//! counters (its `rate()` handles restarts).

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Upper bounds (seconds) of the delivery latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 11] = [
    0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0, 21_600.0, 86_400.0,
];

/// Minutes of history kept for the admin pages' plots.
pub const HISTORY_MINUTES: usize = 60;

/// What happened in one minute, for the admin pages' plots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Minute {
    /// Minutes since the Unix epoch.
    pub minute: u64,
    /// Messages accepted into the queue.
    pub received: u64,
    /// Recipients delivered.
    pub delivered: u64,
    /// Delivery attempts deferred.
    pub deferred: u64,
    /// Recipients that failed for good.
    pub bounced: u64,
    /// Connections accepted (every protocol).
    pub connections: u64,
    /// The queue's size when the queue runner last looked in this minute.
    pub queue: Option<u64>,
}

/// The minute it is now (since the Unix epoch).
fn this_minute() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 60)
}

/// What happened to one recipient in a delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryResult {
    /// Delivered (locally or to the next hop).
    Delivered,
    /// Will be tried again.
    Deferred,
    /// Failed for good (a bounce goes to the sender), expiry included.
    Bounced,
}

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    received: AtomicU64,
    delivered: AtomicU64,
    deferred: AtomicU64,
    bounced: AtomicU64,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    connections: Mutex<BTreeMap<&'static str, u64>>,
    logins: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Per bucket of [`LATENCY_BUCKETS`] (not cumulative), then the sum and count.
    latency: Mutex<([u64; LATENCY_BUCKETS.len()], f64, u64)>,
    /// The last [`HISTORY_MINUTES`] minutes, oldest first (minutes without events are
    /// missing).
    history: Mutex<VecDeque<Minute>>,
}

impl Metrics {
    /// Records an event in minute `minute`'s history.
    fn bump_at(&self, minute: u64, change: impl FnOnce(&mut Minute)) {
        let mut h = lock(&self.history);
        if h.back().is_none_or(|m| m.minute < minute) {
            h.push_back(Minute {
                minute,
                ..Minute::default()
            });
        }
        while h
            .front()
            .is_some_and(|m| m.minute + HISTORY_MINUTES as u64 <= minute)
        {
            h.pop_front();
        }
        if let Some(m) = h.iter_mut().rev().find(|m| m.minute <= minute) {
            if m.minute == minute {
                change(m);
            }
        }
    }

    fn bump(&self, change: impl FnOnce(&mut Minute)) {
        self.bump_at(this_minute(), change);
    }

    /// The queue runner saw this many messages in the queue.
    pub fn queue_size(&self, n: usize) {
        self.bump(|m| m.queue = Some(n as u64));
    }

    /// The last [`HISTORY_MINUTES`] minutes up to now, oldest first, one entry per
    /// minute (zero counts where nothing happened; the queue size carried over from the
    /// minute before when the runner did not look).
    pub fn history(&self) -> Vec<Minute> {
        self.history_at(this_minute())
    }

    fn history_at(&self, now: u64) -> Vec<Minute> {
        let h = lock(&self.history);
        let first = now.saturating_sub(HISTORY_MINUTES as u64 - 1);
        let mut queue = h
            .iter()
            .rev()
            .filter(|m| m.minute < first)
            .find_map(|m| m.queue);
        (first..=now)
            .map(|minute| {
                let mut m = h
                    .iter()
                    .find(|m| m.minute == minute)
                    .copied()
                    .unwrap_or(Minute {
                        minute,
                        ..Minute::default()
                    });
                queue = m.queue.or(queue);
                m.queue = queue;
                m
            })
            .collect()
    }

    /// A message was accepted into the queue (SMTP, submission, sendmail).
    pub fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
        self.bump(|m| m.received += 1);
    }

    /// A message or recipient was refused, for `reason` (`relay_denied`, `unknown_recipient`,
    /// `dmarc`, `sender_not_owned`, ...).
    pub fn rejected(&self, reason: &'static str) {
        *lock(&self.rejected).entry(reason).or_default() += 1;
    }

    /// A connection was accepted on a listener speaking `protocol`.
    pub fn connection(&self, protocol: &'static str) {
        *lock(&self.connections).entry(protocol).or_default() += 1;
        self.bump(|m| m.connections += 1);
    }

    /// A login over `protocol` succeeded or failed.
    pub fn login(&self, protocol: &str, success: bool) {
        let result = if success { "success" } else { "failure" };
        *lock(&self.logins)
            .entry((protocol.to_string(), result))
            .or_default() += 1;
    }

    /// One recipient's delivery attempt ended so; `seconds` since the message arrived.
    pub fn delivery(&self, result: DeliveryResult, seconds: f64) {
        let counter = match result {
            DeliveryResult::Delivered => &self.delivered,
            DeliveryResult::Deferred => &self.deferred,
            DeliveryResult::Bounced => &self.bounced,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.bump(|m| match result {
            DeliveryResult::Delivered => m.delivered += 1,
            DeliveryResult::Deferred => m.deferred += 1,
            DeliveryResult::Bounced => m.bounced += 1,
        });
        if result == DeliveryResult::Delivered {
            let mut h = lock(&self.latency);
            if let Some(i) = LATENCY_BUCKETS.iter().position(|&b| seconds <= b) {
                h.0[i] += 1;
            }
            h.1 += seconds.max(0.0);
            h.2 += 1;
        }
    }

    /// Everything in Prometheus text format, with the queue's current size.
    pub fn render(&self, queue_size: usize) -> String {
        let mut out = String::new();
        let counters = [
            (
                "received",
                "Messages accepted into the queue.",
                &self.received,
            ),
            ("delivered", "Recipients delivered.", &self.delivered),
            (
                "deferred",
                "Delivery attempts deferred, per recipient.",
                &self.deferred,
            ),
            ("bounced", "Recipients that failed for good.", &self.bounced),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP postrider_messages_{name}_total {help}");
            let _ = writeln!(out, "# TYPE postrider_messages_{name}_total counter");
            let _ = writeln!(
                out,
                "postrider_messages_{name}_total {}",
                value.load(Ordering::Relaxed)
            );
        }
        family(
            &mut out,
            "postrider_messages_rejected_total",
            "Messages and recipients refused, by reason.",
            lock(&self.rejected)
                .iter()
                .map(|(reason, n)| (format!("reason=\"{reason}\""), *n)),
        );
        family(
            &mut out,
            "postrider_connections_total",
            "Connections accepted, by protocol.",
            lock(&self.connections)
                .iter()
                .map(|(p, n)| (format!("protocol=\"{p}\""), *n)),
        );
        family(
            &mut out,
            "postrider_logins_total",
            "Logins, by protocol and result.",
            lock(&self.logins)
                .iter()
                .map(|((p, r), n)| (format!("protocol=\"{}\",result=\"{r}\"", label(p)), *n)),
        );
        let _ = writeln!(out, "# HELP postrider_queue_size Messages in the queue.");
        let _ = writeln!(out, "# TYPE postrider_queue_size gauge");
        let _ = writeln!(out, "postrider_queue_size {queue_size}");
        self.render_latency(&mut out);
        out
    }

    fn render_latency(&self, out: &mut String) {
        let name = "postrider_delivery_latency_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from arrival to delivery, per recipient."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        let (buckets, sum, count) = *lock(&self.latency);
        let mut cumulative = 0;
        for (bound, n) in LATENCY_BUCKETS.iter().zip(buckets) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// A labelled counter family.
fn family(out: &mut String, name: &str, help: &str, samples: impl Iterator<Item = (String, u64)>) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    for (labels, n) in samples {
        let _ = writeln!(out, "{name}{{{labels}}} {n}");
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_an_hour_one_entry_per_minute() {
        let m = Metrics::default();
        m.bump_at(100, |x| x.received += 1);
        m.bump_at(100, |x| x.received += 1);
        m.bump_at(100, |x| x.queue = Some(3));
        m.bump_at(102, |x| x.delivered += 1);
        // A minute gone by is not reopened.
        m.bump_at(101, |x| x.bounced += 1);
        let h = m.history_at(102);
        assert_eq!(h.len(), HISTORY_MINUTES);
        assert_eq!(h.last().map(|x| x.minute), Some(102));
        let at = |minute: u64| {
            h.iter()
                .find(|x| x.minute == minute)
                .copied()
                .unwrap_or_default()
        };
        assert_eq!(at(100).received, 2);
        assert_eq!(at(102).delivered, 1);
        assert_eq!(at(101).bounced, 0);
        // The queue size carries over to the minutes after it was seen.
        assert_eq!(at(102).queue, Some(3));
        assert_eq!(at(99).queue, None);
        // Old minutes fall off.
        m.bump_at(100 + HISTORY_MINUTES as u64 + 5, |x| x.received += 1);
        let later = m.history_at(100 + HISTORY_MINUTES as u64 + 5);
        assert!(later.iter().all(|x| x.minute > 102 || x.received == 0));
        assert_eq!(later.last().map(|x| x.received), Some(1));
        assert_eq!(later.first().and_then(|x| x.queue), None);
    }

    #[test]
    fn counters_render_in_prometheus_text_format() {
        let m = Metrics::default();
        m.received();
        m.received();
        m.rejected("relay_denied");
        m.connection("smtp");
        m.login("imap", true);
        m.login("imap", false);
        m.delivery(DeliveryResult::Delivered, 0.3);
        m.delivery(DeliveryResult::Delivered, 100.0);
        m.delivery(DeliveryResult::Deferred, 1.0);
        let text = m.render(7);
        for line in [
            "postrider_messages_received_total 2",
            "postrider_messages_delivered_total 2",
            "postrider_messages_deferred_total 1",
            "postrider_messages_bounced_total 0",
            "postrider_messages_rejected_total{reason=\"relay_denied\"} 1",
            "postrider_connections_total{protocol=\"smtp\"} 1",
            "postrider_logins_total{protocol=\"imap\",result=\"failure\"} 1",
            "postrider_logins_total{protocol=\"imap\",result=\"success\"} 1",
            "postrider_queue_size 7",
            "postrider_delivery_latency_seconds_bucket{le=\"0.1\"} 0",
            "postrider_delivery_latency_seconds_bucket{le=\"0.5\"} 1",
            "postrider_delivery_latency_seconds_bucket{le=\"300\"} 2",
            "postrider_delivery_latency_seconds_bucket{le=\"+Inf\"} 2",
            "postrider_delivery_latency_seconds_sum 100.3",
            "postrider_delivery_latency_seconds_count 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
        assert!(text.contains("# TYPE postrider_queue_size gauge"));
    }
}
