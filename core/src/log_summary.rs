//! `postrider log-summary`: what happened to mail, per day, from the server's log (as
//! pflogsumm does for Postfix's). Lines of both formats are read: text
//! (`TIME  LEVEL QUEUEID: to=<...>, ..., status=sent (...)`) and JSON
//! (`{"level":..,"message":..,"queue_id":..,"time":..}`); other lines are skipped.

use std::collections::{BTreeMap, HashMap};

/// What one log line says about mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailEvent {
    /// A message entered the queue (`from=<S>, size=N`).
    Received {
        /// The envelope sender (`""` for the null sender).
        sender: String,
        /// Its size in bytes.
        size: u64,
    },
    /// A recipient's copy was delivered (`status=sent`).
    Delivered {
        /// The recipient.
        recipient: String,
    },
    /// A recipient's delivery was put off (`status=deferred`).
    Deferred {
        /// The recipient.
        recipient: String,
        /// Why (the text in parentheses).
        reason: String,
    },
    /// A recipient's copy was returned to its sender (`status=bounced` or `expired`).
    Bounced {
        /// The recipient.
        recipient: String,
        /// Why.
        reason: String,
    },
    /// The server refused something in the SMTP dialogue (`NOQUEUE: reject:`) or a
    /// message after its data (`QUEUEID: rejected:`).
    Rejected {
        /// Why, without the addresses.
        reason: String,
    },
}

impl MailEvent {
    /// The shortest log message (text format, after time and level) that tells of this
    /// event for the message `id`, as the server writes it: [`parse_line`] reads it back.
    pub fn to_message(&self, id: &str) -> String {
        match self {
            MailEvent::Received { sender, size } => {
                format!("{id}: from=<{sender}>, size={size}, nrcpt=1 (queue active)")
            }
            MailEvent::Delivered { recipient } => {
                format!("{id}: to=<{recipient}>, relay=local, dsn=2.0.0, status=sent (delivered)")
            }
            MailEvent::Deferred { recipient, reason } => {
                format!("{id}: to=<{recipient}>, relay=none, dsn=4.0.0, status=deferred ({reason})")
            }
            MailEvent::Bounced { recipient, reason } => {
                format!("{id}: to=<{recipient}>, relay=none, dsn=5.0.0, status=bounced ({reason})")
            }
            MailEvent::Rejected { reason } => format!("NOQUEUE: reject: {reason}"),
        }
    }
}

/// The day (`YYYY-MM-DD`) and event of a log line, if it tells of one.
pub fn parse_line(line: &str) -> Option<(String, MailEvent)> {
    let line = line.trim_end_matches(['\r', '\n']);
    let (day, message) = if line.starts_with('{') {
        json_line(line)?
    } else {
        text_line(line)?
    };
    Some((day, event(&message)?))
}

/// `2026-12-06T06:50:48.056697Z  INFO MESSAGE`: the day and the message.
fn text_line(line: &str) -> Option<(String, String)> {
    let (time, rest) = line.split_once(' ')?;
    let day = day_of(time)?;
    let rest = rest.trim_start();
    let (_level, message) = rest.split_once(' ')?;
    Some((day, message.to_string()))
}

/// A JSON line: the day of `time` and the message, with `queue_id` put back in front as
/// the text format has it.
fn json_line(line: &str) -> Option<(String, String)> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let day = day_of(value.get("time")?.as_str()?)?;
    let message = value.get("message")?.as_str()?;
    let message = match value.get("queue_id").and_then(|q| q.as_str()) {
        Some(id) => format!("{id}: {message}"),
        None => message.to_string(),
    };
    Some((day, message))
}

/// The `YYYY-MM-DD` start of an RFC 3339 time.
fn day_of(time: &str) -> Option<String> {
    let day = time.get(..10)?;
    let b = day.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    (digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10))
        .then(|| day.to_string())
}

/// The event a log message (text format, without time and level) tells of.
fn event(message: &str) -> Option<MailEvent> {
    if let Some(rest) = message.strip_prefix("NOQUEUE: reject: ") {
        return Some(MailEvent::Rejected {
            reason: reject_reason(rest),
        });
    }
    let (id, rest) = message.split_once(": ")?;
    if id.len() < 12 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    if let Some(r) = rest.strip_prefix("rejected: ") {
        let reason = r.split(" of ").next().unwrap_or(r);
        return Some(MailEvent::Rejected {
            reason: reason.to_string(),
        });
    }
    if let Some(r) = rest.strip_prefix("from=<") {
        let (sender, after) = r.split_once(">, size=")?;
        let size = after
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()?;
        return Some(MailEvent::Received {
            sender: sender.to_string(),
            size,
        });
    }
    let r = rest.strip_prefix("to=<")?;
    let (recipient, after) = r.split_once('>')?;
    let recipient = recipient.to_string();
    let (_, status) = after.split_once(", status=")?;
    let reason = status
        .split_once(" (")
        .map(|(_, why)| why.strip_suffix(')').unwrap_or(why).to_string())
        .unwrap_or_default();
    let word = status.split([' ', ',']).next()?;
    match word {
        "sent" => Some(MailEvent::Delivered { recipient }),
        "deferred" => Some(MailEvent::Deferred { recipient, reason }),
        "bounced" | "expired" => Some(MailEvent::Bounced { recipient, reason }),
        _ => None,
    }
}

/// `RCPT from [1.2.3.4]: 554 5.7.1 <x@y>: Relay access denied; from=<...> to=<...>` →
/// `RCPT: 554 5.7.1 Relay access denied`: the stage and the reply, without addresses.
fn reject_reason(rest: &str) -> String {
    let stage = rest.split(' ').next().unwrap_or("");
    let reply = rest.split_once("]: ").map_or(rest, |(_, r)| r);
    let reply = reply.split("; from=<").next().unwrap_or(reply);
    let mut out = String::new();
    let mut words = reply.split(' ').peekable();
    while let Some(w) = words.next() {
        if w.starts_with('<') && (w.ends_with('>') || w.ends_with(">:")) {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
        if words.peek().is_none() {
            break;
        }
    }
    format!("{stage}: {out}")
}

/// The counts of one day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayCounts {
    /// Messages received.
    pub received: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Recipients delivered.
    pub delivered: u64,
    /// Deferrals.
    pub deferred: u64,
    /// Recipients bounced.
    pub bounced: u64,
    /// Rejections.
    pub rejected: u64,
}

/// The counts and the most frequent senders, recipients and reasons of a log.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Per day, in order.
    pub days: BTreeMap<String, DayCounts>,
    senders: HashMap<String, u64>,
    recipients: HashMap<String, u64>,
    deferrals: HashMap<String, u64>,
    bounces: HashMap<String, u64>,
    rejections: HashMap<String, u64>,
}

impl Summary {
    /// Counts one line (skipped unless it tells of mail).
    pub fn add_line(&mut self, line: &str) {
        if let Some((day, event)) = parse_line(line) {
            self.add(&day, event);
        }
    }

    /// Counts one event of `day`.
    pub fn add(&mut self, day: &str, event: MailEvent) {
        let counts = self.days.entry(day.to_string()).or_default();
        let bump = |map: &mut HashMap<String, u64>, key: String| *map.entry(key).or_default() += 1;
        match event {
            MailEvent::Received { sender, size } => {
                counts.received += 1;
                counts.bytes = counts.bytes.saturating_add(size);
                let sender = if sender.is_empty() {
                    "<>".into()
                } else {
                    sender
                };
                bump(&mut self.senders, sender.to_ascii_lowercase());
            }
            MailEvent::Delivered { recipient } => {
                counts.delivered += 1;
                bump(&mut self.recipients, recipient.to_ascii_lowercase());
            }
            MailEvent::Deferred { reason, .. } => {
                counts.deferred += 1;
                bump(&mut self.deferrals, reason);
            }
            MailEvent::Bounced { reason, .. } => {
                counts.bounced += 1;
                bump(&mut self.bounces, reason);
            }
            MailEvent::Rejected { reason } => {
                counts.rejected += 1;
                bump(&mut self.rejections, reason);
            }
        }
    }

    /// The totals over every day.
    pub fn totals(&self) -> DayCounts {
        self.days.values().fold(DayCounts::default(), |mut t, d| {
            t.received += d.received;
            t.bytes = t.bytes.saturating_add(d.bytes);
            t.delivered += d.delivered;
            t.deferred += d.deferred;
            t.bounced += d.bounced;
            t.rejected += d.rejected;
            t
        })
    }

    /// The report: totals, a line per day, then the `top` most frequent senders,
    /// recipients, deferral, bounce and rejection reasons.
    pub fn render(&self, top: usize) -> String {
        let t = self.totals();
        let mut out = format!(
            "Grand totals\n  {:>8}  received ({} bytes)\n  {:>8}  delivered\n  {:>8}  deferred\n  {:>8}  bounced\n  {:>8}  rejected\n\nPer day\n  {:<10}  {:>8}  {:>9}  {:>8}  {:>7}  {:>8}\n",
            t.received, t.bytes, t.delivered, t.deferred, t.bounced, t.rejected,
            "day", "received", "delivered", "deferred", "bounced", "rejected"
        );
        for (day, d) in &self.days {
            out.push_str(&format!(
                "  {day:<10}  {:>8}  {:>9}  {:>8}  {:>7}  {:>8}\n",
                d.received, d.delivered, d.deferred, d.bounced, d.rejected
            ));
        }
        for (title, map) in [
            ("Senders", &self.senders),
            ("Recipients", &self.recipients),
            ("Deferral reasons", &self.deferrals),
            ("Bounce reasons", &self.bounces),
            ("Rejection reasons", &self.rejections),
        ] {
            out.push_str(&format!("\n{title} (top {top})\n"));
            for (key, n) in most_frequent(map, top) {
                out.push_str(&format!("  {n:>8}  {key}\n"));
            }
        }
        out
    }
}

/// The `n` most frequent keys, most frequent first (ties by key).
fn most_frequent(map: &HashMap<String, u64>, n: usize) -> Vec<(&str, u64)> {
    let mut all: Vec<(&str, u64)> = map.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    all.truncate(n);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "2026-12-06T06:50:48.056697Z  INFO ";

    #[test]
    fn text_lines() {
        let at = |m: &str| parse_line(&format!("{T}{m}"));
        assert_eq!(
            at("1F18777D98695078: from=<bob@c.test>, size=20, nrcpt=1, spf=pass smtp.mailfrom=bob@c.test (queue active)"),
            Some(("2026-12-06".into(), MailEvent::Received { sender: "bob@c.test".into(), size: 20 }))
        );
        assert_eq!(
            at("1F18777D98695078: to=<a@t.test>, relay=local, delay=0, dsn=2.0.0, status=sent (delivered to mailbox a)").map(|x| x.1),
            Some(MailEvent::Delivered { recipient: "a@t.test".into() })
        );
        assert_eq!(
            at("1F18777D98695078: to=<a@far.test>, relay=none, delay=3, dsn=4.4.1, status=deferred (connect to mx.far.test[192.0.2.1]:25: Connection refused)").map(|x| x.1),
            Some(MailEvent::Deferred { recipient: "a@far.test".into(), reason: "connect to mx.far.test[192.0.2.1]:25: Connection refused".into() })
        );
        assert_eq!(
            at("1F18777D98695078: to=<a@far.test>, relay=none, delay=9, dsn=4.4.7, status=expired, returned to sender (gone)").map(|x| x.1),
            Some(MailEvent::Bounced { recipient: "a@far.test".into(), reason: "gone".into() })
        );
        assert_eq!(
            at("NOQUEUE: reject: RCPT from [127.0.0.1]: 554 5.7.1 <x@other.test>: Relay access denied; from=<a@b.test> to=<x@other.test>").map(|x| x.1),
            Some(MailEvent::Rejected { reason: "RCPT: 554 5.7.1 Relay access denied".into() })
        );
        assert_eq!(
            at("1F18777D98695078: rejected: DMARC policy of far.test, spf=fail").map(|x| x.1),
            Some(MailEvent::Rejected {
                reason: "DMARC policy".into()
            })
        );
        assert_eq!(at("disconnect from [127.0.0.1] (Quit)"), None);
        assert_eq!(at("1F18777D98695078: removed"), None);
        assert_eq!(parse_line("garbage"), None);
        assert_eq!(parse_line(""), None);
    }

    #[test]
    fn sizes_beyond_u64_saturate() {
        // Found by the fuzz target: two huge `size=` values overflowed the byte count.
        let mut s = Summary::default();
        for _ in 0..2 {
            s.add_line(&format!(
                "{T}1F18777D98695078: from=<a@b.test>, size={}, nrcpt=1",
                u64::MAX
            ));
        }
        assert_eq!(s.totals().bytes, u64::MAX);
        assert_eq!(s.totals().received, 2);
    }

    #[test]
    fn json_lines() {
        let line = r#"{"level":"INFO","message":"to=<a@t.test>, relay=local, delay=0, dsn=2.0.0, status=sent (ok)","queue_id":"1F18777D98695078","time":"2026-12-07T00:00:01.5Z"}"#;
        assert_eq!(
            parse_line(line),
            Some((
                "2026-12-07".into(),
                MailEvent::Delivered {
                    recipient: "a@t.test".into()
                }
            ))
        );
        assert_eq!(parse_line(r#"{"message":"x"}"#), None);
    }

    #[test]
    fn summary_counts_per_day_and_ranks() {
        let mut s = Summary::default();
        for line in [
            "2026-12-05T23:59:59Z  INFO 1F18777D98695078: from=<b@c.test>, size=100, nrcpt=2 (queue active)",
            "2026-12-06T00:00:01Z  INFO 1F18777D98695078: to=<a@t.test>, relay=local, delay=0, dsn=2.0.0, status=sent (x)",
            "2026-12-06T00:00:01Z  INFO 1F18777D98695078: to=<z@t.test>, relay=local, delay=0, dsn=5.1.1, status=bounced (unknown)",
            "2026-12-06T00:00:02Z  INFO 1F18777D98695079: from=<B@c.test>, size=50, nrcpt=1 (queue active)",
        ] {
            s.add_line(line);
        }
        let t = s.totals();
        assert_eq!(
            (t.received, t.bytes, t.delivered, t.bounced),
            (2, 150, 1, 1)
        );
        assert_eq!(s.days.len(), 2);
        let report = s.render(5);
        assert!(
            report.contains("  2026-12-05         1          0         0        0         0\n"),
            "{report}"
        );
        assert!(
            report.contains("Senders (top 5)\n         2  b@c.test\n"),
            "{report}"
        );
        assert!(
            report.contains("Bounce reasons (top 5)\n         1  unknown\n"),
            "{report}"
        );
    }
}
