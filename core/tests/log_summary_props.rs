//! Property tests of `log-summary`: any event written as the server writes it (text or
//! JSON) reads back the same, and a summary counts each event once on its day.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use postrider_core::log_summary::{parse_line, MailEvent, Summary};

fn address() -> impl Strategy<Value = String> {
    "[a-z0-9.+_-]{1,12}@[a-z0-9-]{1,10}\\.[a-z]{2,4}"
}

fn reason() -> impl Strategy<Value = String> {
    "[ -~]{0,60}"
}

fn event() -> impl Strategy<Value = MailEvent> {
    prop_oneof![
        (prop_oneof![Just(String::new()), address()], any::<u32>()).prop_map(|(sender, size)| {
            MailEvent::Received {
                sender,
                size: u64::from(size),
            }
        }),
        address().prop_map(|recipient| MailEvent::Delivered { recipient }),
        (address(), reason())
            .prop_map(|(recipient, reason)| MailEvent::Deferred { recipient, reason }),
        (address(), reason())
            .prop_map(|(recipient, reason)| MailEvent::Bounced { recipient, reason }),
    ]
}

fn day() -> impl Strategy<Value = String> {
    (1990u32..2100, 1u32..13, 1u32..29).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"))
}

proptest! {
    #[test]
    fn text_lines_read_back(e in event(), day in day(), id in "[0-9A-F]{16}") {
        let line = format!("{day}T12:34:56.789Z  INFO {}", e.to_message(&id));
        prop_assert_eq!(parse_line(&line), Some((day, e)));
    }

    #[test]
    fn json_lines_read_back(e in event(), day in day(), id in "[0-9A-F]{16}") {
        let message = e.to_message(&id);
        let rest = message.strip_prefix(&format!("{id}: ")).unwrap();
        let line = serde_json::json!({
            "level": "INFO", "message": rest, "queue_id": id, "time": format!("{day}T00:00:00Z"),
        })
        .to_string();
        prop_assert_eq!(parse_line(&line), Some((day, e)));
    }

    #[test]
    fn a_summary_counts_each_event_once(events in prop::collection::vec((day(), event()), 0..40)) {
        let mut s = Summary::default();
        for (day, e) in &events {
            s.add_line(&format!("{day}T00:00:00Z  INFO {}", e.to_message("1F18777D98695078")));
        }
        let t = s.totals();
        prop_assert_eq!(t.received + t.delivered + t.deferred + t.bounced, events.len() as u64);
        let days: std::collections::BTreeSet<&String> = events.iter().map(|(d, _)| d).collect();
        prop_assert_eq!(s.days.len(), days.len());
    }
}
