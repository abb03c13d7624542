//! SORT and THREAD over arbitrary messages (NUL-separated; each scanned for the header
//! fields they read, as the server does): no panic, a sort is a permutation, and each
//! threading names every message exactly once with balanced parentheses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::imap::command::SearchKey;
use postrider_core::imap::search::ContentScan;
use postrider_core::imap::sort::{sent_date, sort, SortCriterion, SortFacts, SortKey};
use postrider_core::imap::thread::{thread, ThreadAlgorithm, ThreadFacts};

const FIELDS: [&str; 8] = [
    "Subject",
    "Date",
    "Message-ID",
    "References",
    "In-Reply-To",
    "From",
    "To",
    "Cc",
];

fuzz_target!(|data: &[u8]| {
    let facts: Vec<_> = data
        .split(|&b| b == 0)
        .take(64)
        .map(|m| {
            let mut scan = ContentScan::with_fields(&SearchKey::All, &FIELDS);
            scan.feed(m);
            scan.finish()
        })
        .collect();
    let field = |i: usize, f: &str| facts[i].field(f).unwrap_or_default().to_string();
    let sort_facts: Vec<SortFacts<'_>> = (0..facts.len())
        .map(|i| SortFacts {
            seq: i as u32 + 1,
            arrival: i as i64,
            size: data.len() as u64 % (i as u64 + 7),
            fields: FIELDS
                .iter()
                .filter_map(|f| facts[i].field(f).map(|v| (*f, v)))
                .collect(),
        })
        .collect();
    for key in SortKey::ALL {
        let mut order = sort(&sort_facts, &[SortCriterion { key, reverse: true }]);
        order.sort_unstable();
        assert_eq!(order, (0..facts.len()).collect::<Vec<_>>());
    }
    let msgs: Vec<ThreadFacts> = (0..facts.len())
        .map(|i| ThreadFacts {
            number: i as u32 + 1,
            seq: i as u32 + 1,
            sent: sent_date(facts[i].field("Date"), i as i64),
            subject: field(i, "Subject"),
            message_id: field(i, "Message-ID"),
            references: field(i, "References"),
            in_reply_to: field(i, "In-Reply-To"),
        })
        .collect();
    for algorithm in [ThreadAlgorithm::OrderedSubject, ThreadAlgorithm::References] {
        let out = thread(&msgs, algorithm);
        let mut depth = 0i32;
        for c in out.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            assert!(depth >= 0, "{out}");
        }
        assert_eq!(depth, 0, "{out}");
        let mut numbers: Vec<u32> = out
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
            .collect();
        numbers.sort_unstable();
        assert_eq!(
            numbers,
            (1..=msgs.len() as u32).collect::<Vec<_>>(),
            "{out}"
        );
    }
});
