//! Property tests of the IMAP codec: any command the encoder writes parses back to the
//! same command, and the framer finds its end (literals included) in any split.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use postrider_core::imap::command::{
    frame_line, parse_command, Command, FetchAttr, Framing, SearchKey, SeqNum, SeqSet, StatusItem,
    StoreMode, Tagged,
};
use postrider_core::imap::section::{Section, SectionText};

fn atom() -> impl Strategy<Value = String> {
    "[A-Za-z0-9$_.-]{1,10}"
}

fn mailbox() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("INBOX".to_string()),
        "[A-Za-z][A-Za-z0-9/_-]{0,12}"
            .prop_filter("not inbox", |s| !s.eq_ignore_ascii_case("inbox")),
        "[A-Za-z][A-Za-z0-9 ]{0,8}x".prop_filter("not inbox", |s| !s.eq_ignore_ascii_case("inbox")),
    ]
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,12}",
        "[a-z\u{e9}\u{fc} ]{0,8}",
        "[a-z]{0,4}\r\n[a-z]{0,4}"
    ]
}

fn seq_set() -> impl Strategy<Value = SeqSet> {
    let num = prop_oneof![(1u32..100_000).prop_map(SeqNum::Num), Just(SeqNum::Star)];
    prop::collection::vec((num.clone(), num), 1..4).prop_map(SeqSet)
}

fn flag() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\\Seen".to_string()),
        Just("\\Deleted".to_string()),
        Just("\\Flagged".to_string()),
        Just("\\Answered".to_string()),
        Just("\\Draft".to_string()),
        "[A-Za-z$][A-Za-z0-9_]{0,8}",
    ]
}

fn section() -> impl Strategy<Value = Section> {
    let part = prop::collection::vec(1u32..20, 0..3);
    let text = prop_oneof![
        Just(SectionText::Full),
        Just(SectionText::Header),
        Just(SectionText::Text),
        prop::collection::vec("[A-Za-z-]{1,10}", 1..3).prop_map(SectionText::HeaderFields),
        prop::collection::vec("[A-Za-z-]{1,10}", 1..3).prop_map(SectionText::HeaderFieldsNot),
    ];
    (part, text).prop_map(|(part, text)| Section { part, text })
}

fn fetch_attr() -> impl Strategy<Value = FetchAttr> {
    prop_oneof![
        Just(FetchAttr::Flags),
        Just(FetchAttr::InternalDate),
        Just(FetchAttr::Rfc822),
        Just(FetchAttr::Rfc822Header),
        Just(FetchAttr::Rfc822Size),
        Just(FetchAttr::Rfc822Text),
        Just(FetchAttr::Envelope),
        Just(FetchAttr::Body),
        Just(FetchAttr::BodyStructure),
        Just(FetchAttr::Uid),
        (
            any::<bool>(),
            section(),
            prop::option::of((0u32..10_000, 1u32..10_000))
        )
            .prop_map(|(peek, section, partial)| FetchAttr::Section {
                peek,
                section,
                partial
            }),
    ]
}

fn search_key() -> impl Strategy<Value = SearchKey> {
    use std::cmp::Ordering::*;
    let leaf = prop_oneof![
        Just(SearchKey::All),
        Just(SearchKey::New),
        Just(SearchKey::Old),
        flag().prop_map(SearchKey::Flag),
        flag().prop_map(SearchKey::NoFlag),
        (
            prop_oneof![
                Just("FROM"),
                Just("TO"),
                Just("CC"),
                Just("BCC"),
                Just("SUBJECT")
            ],
            any_text()
        )
            .prop_map(|(f, v)| SearchKey::Header(f.to_string(), v)),
        ("x-[a-z]{1,8}", any_text()).prop_map(|(f, v)| SearchKey::Header(f, v)),
        any_text().prop_map(SearchKey::Body),
        any_text().prop_map(SearchKey::Text),
        (
            prop_oneof![Just(Less), Just(Equal), Just(Greater)],
            0i64..40_000
        )
            .prop_map(|(o, d)| SearchKey::InternalDate(o, d)),
        (
            prop_oneof![Just(Less), Just(Equal), Just(Greater)],
            0i64..40_000
        )
            .prop_map(|(o, d)| SearchKey::SentDate(o, d)),
        (0u64..1 << 40).prop_map(SearchKey::Larger),
        (0u64..1 << 40).prop_map(SearchKey::Smaller),
        seq_set().prop_map(SearchKey::Uid),
        seq_set().prop_map(SearchKey::Seq),
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|k| SearchKey::Not(Box::new(k))),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| SearchKey::Or(Box::new(a), Box::new(b))),
            prop::collection::vec(inner, 1..3).prop_map(SearchKey::And),
        ]
    })
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::Capability),
        Just(Command::Noop),
        Just(Command::Logout),
        Just(Command::Check),
        Just(Command::Close),
        Just(Command::Unselect),
        Just(Command::Idle),
        Just(Command::Namespace),
        (atom(), any_text()).prop_map(|(user, password)| Command::Login { user, password }),
        (mailbox(), any::<bool>())
            .prop_map(|(mailbox, read_only)| Command::Select { mailbox, read_only }),
        mailbox().prop_map(Command::Create),
        mailbox().prop_map(Command::Delete),
        (mailbox(), mailbox()).prop_map(|(a, b)| Command::Rename(a, b)),
        ("[a-z/]{0,5}", "[a-z%*/]{1,6}", any::<bool>()).prop_map(
            |(reference, pattern, subscribed)| Command::List {
                reference,
                pattern,
                subscribed
            }
        ),
        (
            mailbox(),
            prop::collection::vec(
                prop_oneof![
                    Just(StatusItem::Messages),
                    Just(StatusItem::Recent),
                    Just(StatusItem::UidNext),
                    Just(StatusItem::UidValidity),
                    Just(StatusItem::Unseen)
                ],
                1..4
            )
        )
            .prop_map(|(m, items)| Command::Status(m, items)),
        (
            mailbox(),
            prop::collection::vec(flag(), 0..3),
            prop::collection::vec(any::<u8>(), 0..200)
        )
            .prop_map(|(mailbox, flags, message)| Command::Append {
                mailbox,
                flags,
                date: None,
                message
            }),
        prop::option::of(seq_set()).prop_map(Command::Expunge),
        (
            any::<bool>(),
            search_key().prop_filter(
                "top-level AND needs two keys",
                |k| !matches!(k, SearchKey::And(v) if v.len() < 2)
            )
        )
            .prop_map(|(uid, key)| Command::Search { uid, key }),
        (
            any::<bool>(),
            seq_set(),
            prop::collection::vec(fetch_attr(), 1..5)
        )
            .prop_map(|(uid, set, items)| Command::Fetch { uid, set, items }),
        (
            any::<bool>(),
            seq_set(),
            prop_oneof![
                Just(StoreMode::Replace),
                Just(StoreMode::Add),
                Just(StoreMode::Remove)
            ],
            any::<bool>(),
            prop::collection::vec(flag(), 0..3)
        )
            .prop_map(|(uid, set, mode, silent, flags)| Command::Store {
                uid,
                set,
                mode,
                silent,
                flags
            }),
        (any::<bool>(), seq_set(), mailbox(), any::<bool>()).prop_map(
            |(uid, set, mailbox, is_move)| Command::Copy {
                uid,
                set,
                mailbox,
                is_move
            }
        ),
    ]
}

proptest! {
    #[test]
    fn encode_then_parse_round_trips(tag in "[A-Za-z0-9]{1,6}", cmd in command()) {
        // UID commands render FETCH's UID item first as the machine adds it; keep as is.
        let t = Tagged { tag, command: cmd };
        let wire = t.encode();
        let parsed = parse_command(&wire).map_err(|e| TestCaseError::fail(format!("{e:?} for {:?}", String::from_utf8_lossy(&wire))))?;
        prop_assert_eq!(parsed, t, "wire: {:?}", String::from_utf8_lossy(&wire));
    }

    #[test]
    fn framer_finds_the_whole_command(cmd in command(), split in 0usize..400) {
        let wire = Tagged { tag: "a".into(), command: cmd }.encode();
        // Walk the framing as the server does once all bytes are there.
        let mut from = 0;
        loop {
            match frame_line(&wire, from) {
                Framing::Complete(end) => {
                    prop_assert_eq!(end, wire.len());
                    break;
                }
                Framing::Literal { data_at, len, .. } => from = data_at + len,
                Framing::Incomplete => prop_assert!(false, "incomplete"),
            }
        }
        // A strict prefix never frames as a complete command.
        let cut = split.min(wire.len().saturating_sub(1));
        let mut from = 0;
        loop {
            match frame_line(&wire[..cut], from) {
                Framing::Complete(end) => prop_assert!(false, "prefix of {} complete at {end}", cut),
                Framing::Literal { data_at, len, .. } if data_at + len <= cut => from = data_at + len,
                _ => break,
            }
        }
    }
}
