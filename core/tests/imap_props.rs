//! Property tests of the IMAP codec: any command the encoder writes parses back to the
//! same command, and the framer finds its end (literals included) in any split; any
//! response the response encoder writes parses back the same; and whatever a random
//! session makes the server write parses as RFC 3501 responses, one completion per tag.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use postrider_core::imap::catenate::CatenatePart;
use postrider_core::imap::command::{
    frame_line, parse_command, AppendMessage, Command, FetchAttr, Framing, SearchKey, SearchReturn,
    SeqNum, SeqSet, StatusItem, StoreMode, Tagged,
};
use postrider_core::imap::command::{
    FetchModifiers, ListReturn, ListSelection, Qresync, SelectParams,
};
use postrider_core::imap::response::{
    encode_response, parse_all, parse_response, Response, Status, StatusText, Value,
};
use postrider_core::imap::section::{Section, SectionText};
use postrider_core::imap::sort::{SortCriterion, SortKey};
use postrider_core::imap::thread::ThreadAlgorithm;
use postrider_core::machine::Machine;

mod imap_support;

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
    prop_oneof![
        9 => prop::collection::vec((num.clone(), num), 1..4).prop_map(SeqSet),
        1 => Just(SeqSet::saved()),
    ]
}

/// One piece of a CATENATE message.
fn catenate_part() -> impl Strategy<Value = CatenatePart> {
    prop_oneof![
        prop::collection::vec(any::<u8>().prop_filter("no NUL", |b| *b != 0), 0..60)
            .prop_map(CatenatePart::Text),
        "/[A-Za-z%0-9]{1,8}(;UIDVALIDITY=[1-9][0-9]{0,5})?/;UID=[1-9][0-9]{0,4}"
            .prop_map(CatenatePart::Url),
    ]
}

/// A set of plain numbers, as QRESYNC takes.
fn plain_set() -> impl Strategy<Value = SeqSet> {
    let num = (1u32..100_000).prop_map(SeqNum::Num);
    prop::collection::vec((num.clone(), num), 1..4).prop_map(SeqSet)
}

/// SELECT's `(CONDSTORE)` and `(QRESYNC (...))`.
fn select_params() -> impl Strategy<Value = SelectParams> {
    let qresync = (
        1u32..,
        1u64..1 << 62,
        prop::option::of(plain_set()),
        prop::option::of((plain_set(), plain_set())),
    )
        .prop_map(|(uid_validity, modseq, known_uids, seq_match)| Qresync {
            uid_validity,
            modseq,
            known_uids,
            seq_match,
        });
    (any::<bool>(), prop::option::of(qresync))
        .prop_map(|(condstore, qresync)| SelectParams { condstore, qresync })
}

/// SEARCH with RETURN options, SORT (with or without them) and THREAD.
fn query() -> impl Strategy<Value = Command> {
    let keys = SortKey::ALL;
    (
        any::<bool>(),
        top_level_key(),
        0u8..3,
        prop::collection::vec((0usize..keys.len(), any::<bool>()), 1..4),
        any::<[bool; 5]>(),
    )
        .prop_map(move |(uid, key, which, crit, r)| {
            let mut ret = SearchReturn {
                min: r[0],
                max: r[1],
                count: r[2],
                all: r[3],
                save: r[4],
            };
            if !(ret.min || ret.max || ret.count || ret.save) {
                ret.all = true; // RETURN () means ALL
            }
            match which {
                0 => Command::Search {
                    uid,
                    key,
                    ret: Some(ret),
                },
                1 => Command::Sort {
                    uid,
                    criteria: crit
                        .iter()
                        .map(|&(k, reverse)| SortCriterion {
                            key: keys[k],
                            reverse,
                        })
                        .collect(),
                    key,
                    ret: r[4].then_some(ret),
                },
                _ => Command::Thread {
                    uid,
                    algorithm: if r[0] {
                        ThreadAlgorithm::OrderedSubject
                    } else {
                        ThreadAlgorithm::References
                    },
                    key,
                },
            }
        })
}

/// A search key as the top of SEARCH takes it (an AND of one key is written as that key).
fn top_level_key() -> impl Strategy<Value = SearchKey> {
    search_key().prop_filter(
        "top-level AND needs two keys",
        |k| !matches!(k, SearchKey::And(v) if v.len() < 2),
    )
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
        Just(FetchAttr::ModSeq),
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
        (0u64..1 << 40).prop_map(SearchKey::ModSeq),
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
        Just(Command::Compress("DEFLATE".into())),
        Just(Command::GetQuota(String::new())),
        mailbox().prop_map(Command::GetQuotaRoot),
        (
            any::<[bool; 6]>(),
            prop::collection::vec("[A-Za-z%*/]{1,6}", 1..3),
            prop::option::of(prop::collection::vec(
                prop_oneof![Just(StatusItem::Messages), Just(StatusItem::Size)],
                1..3
            ))
        )
            .prop_map(|(b, patterns, status)| Command::ListExtended {
                selection: ListSelection {
                    subscribed: b[0],
                    recursive_match: b[0] && b[1],
                    special_use: b[2],
                },
                reference: String::new(),
                patterns,
                ret: ListReturn {
                    subscribed: b[3],
                    children: b[4],
                    special_use: b[5],
                    status,
                },
            }),
        (0u64..1_000_000)
            .prop_map(|n| Command::SetQuota(String::new(), vec![("STORAGE".into(), n)])),
        (atom(), any_text()).prop_map(|(user, password)| Command::Login { user, password }),
        (mailbox(), any::<bool>(), select_params()).prop_map(|(mailbox, read_only, params)| {
            Command::Select {
                mailbox,
                read_only,
                params,
            }
        }),
        mailbox().prop_map(Command::Create),
        (
            mailbox(),
            prop::collection::vec(
                prop_oneof![Just("\\Sent"), Just("\\Archive"), Just("\\All")],
                1..3
            )
        )
            .prop_map(|(mailbox, uses)| Command::CreateSpecialUse {
                mailbox,
                uses: uses.into_iter().map(str::to_string).collect(),
            }),
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
                    Just(StatusItem::Unseen),
                    Just(StatusItem::Size),
                    Just(StatusItem::HighestModSeq),
                    Just(StatusItem::Deleted)
                ],
                1..4
            )
        )
            .prop_map(|(m, items)| Command::Status(m, items)),
        (
            mailbox(),
            prop::collection::vec(
                (
                    prop::collection::vec(flag(), 0..3),
                    prop::collection::vec(any::<u8>(), 0..200),
                    prop::option::of(prop::collection::vec(catenate_part(), 1..4))
                ),
                1..3
            )
        )
            .prop_map(|(mailbox, messages)| Command::Append {
                mailbox,
                messages: messages
                    .into_iter()
                    .map(|(flags, message, catenate)| match catenate {
                        Some(parts) => AppendMessage {
                            binary: false,
                            flags,
                            date: None,
                            message: Vec::new(),
                            catenate: Some(parts),
                        },
                        None => AppendMessage {
                            binary: message.contains(&0),
                            flags,
                            date: None,
                            message,
                            catenate: None,
                        },
                    })
                    .collect()
            }),
        prop::option::of(seq_set()).prop_map(Command::Expunge),
        (any::<bool>(), top_level_key()).prop_map(|(uid, key)| Command::Search {
            uid,
            key,
            ret: None
        }),
        query(),
        (
            any::<bool>(),
            seq_set(),
            prop::collection::vec(fetch_attr(), 1..5),
            prop::option::of((0u64..1 << 40, any::<bool>()))
        )
            .prop_map(|(uid, set, items, changed)| Command::Fetch {
                uid,
                set,
                items,
                modifiers: FetchModifiers {
                    changed_since: changed.map(|c| c.0),
                    vanished: changed.is_some_and(|c| c.1),
                },
            }),
        (
            any::<bool>(),
            seq_set(),
            prop_oneof![
                Just(StoreMode::Replace),
                Just(StoreMode::Add),
                Just(StoreMode::Remove)
            ],
            any::<bool>(),
            prop::collection::vec(flag(), 0..3),
            prop::option::of(0u64..1 << 40)
        )
            .prop_map(
                |(uid, set, mode, silent, flags, unchanged_since)| Command::Store {
                    uid,
                    set,
                    mode,
                    silent,
                    flags,
                    unchanged_since,
                }
            ),
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

    #[test]
    fn responses_round_trip(r in response()) {
        let wire = encode_response(&r);
        let (rest, parsed) = parse_response(&wire)
            .map_err(|e| TestCaseError::fail(format!("{e:?} for {:?}", String::from_utf8_lossy(&wire))))?;
        prop_assert!(rest.is_empty());
        prop_assert_eq!(parsed, r, "wire: {:?}", String::from_utf8_lossy(&wire));
        // Any strict prefix is incomplete, never an error.
        for cut in [0, wire.len() / 2, wire.len() - 1] {
            prop_assert!(
                matches!(parse_response(&wire[..cut]), Err(nom::Err::Incomplete(_))),
                "prefix {:?}", String::from_utf8_lossy(&wire[..cut])
            );
        }
    }

    #[test]
    fn lists_written_back_to_back_parse_as_list_items(
        lists in prop::collection::vec(prop::collection::vec(value(), 0..3), 1..4),
        after in value(),
    ) {
        // RFC 3501 writes `1*address` and a multipart's `1*body` with no space between.
        let adjacent = Value::Adjacent(lists.iter().cloned().map(Value::List).collect());
        let r = Response::Untagged(vec![Value::List(vec![adjacent, after.clone()])]);
        let wire = encode_response(&r);
        let (_, parsed) = parse_response(&wire)
            .map_err(|e| TestCaseError::fail(format!("{e:?} for {:?}", String::from_utf8_lossy(&wire))))?;
        let mut items: Vec<Value> = lists.into_iter().map(Value::List).collect();
        items.push(after);
        prop_assert_eq!(parsed, Response::Untagged(vec![Value::List(items)]));
    }

    #[test]
    fn streamed_fetch_writes_what_a_loaded_fetch_writes(
        splits in prop::collection::vec(0usize..200, 0..8),
        items in prop::sample::select(vec![
            "BODY.PEEK[]",
            "(UID RFC822.SIZE BODY.PEEK[TEXT])",
            "(BODY.PEEK[]<10.50> ENVELOPE BODY.PEEK[TEXT]<0.5> FLAGS)",
            "(RFC822.HEADER BODY[] BODY[HEADER.FIELDS (SUBJECT)])",
            "(RFC822 RFC822.TEXT)",
            "(BODY.PEEK[]<100000.10> BODY.PEEK[TEXT])",
        ]),
    ) {
        // The same session, messages loaded whole or streamed in chunks: the same bytes.
        let script = format!("a LOGIN mrc secret\r\nb SELECT INBOX\r\nc FETCH 1:3 {items}\r\nd FETCH 2 FLAGS\r\ne LOGOUT\r\n");
        let run = |stream_above: u64| {
            let mut d = imap_support::Driver::exact(3, stream_above);
            let bytes = script.as_bytes();
            let mut cuts: Vec<usize> = splits.iter().map(|&c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            cuts.push(bytes.len());
            let mut at = 0;
            for cut in cuts {
                if cut > at {
                    d.send(std::str::from_utf8(&bytes[at..cut]).unwrap_or_default());
                    at = cut;
                }
            }
            (d.out, d.store.reads)
        };
        let (loaded, no_reads) = run(u64::MAX);
        let (streamed, reads) = run(0);
        prop_assert_eq!(no_reads, 0);
        prop_assert!(reads > 0, "nothing was streamed");
        prop_assert_eq!(&streamed, &loaded);
        prop_assert!(parse_all(streamed.as_bytes()).is_ok());
    }

    #[test]
    fn session_split_anywhere_gives_the_same_output(splits in prop::collection::vec(0usize..260, 0..12)) {
        let script = "a LOGIN mrc secret\r\nb SELECT INBOX\r\nc FETCH 1:3 (FLAGS BODY.PEEK[HEADER])\r\n\
            d STORE 2 +FLAGS (\\Flagged)\r\ne SEARCH FLAGGED\r\nf APPEND INBOX {5+}\r\nhello\r\n\
            g NOOP\r\nh LOGOUT\r\n";
        let run = |cuts: &[usize]| {
            let mut d = imap_support::Driver::new(5);
            let bytes = script.as_bytes();
            let mut last = 0;
            let mut cuts = cuts.to_vec();
            cuts.sort_unstable();
            for c in cuts.into_iter().map(|c| c.min(bytes.len())).chain([bytes.len()]) {
                if c > last {
                    d.s.handle_input(d.now, &bytes[last..c]);
                    d.pump();
                    last = c;
                }
            }
            d.out
        };
        let whole = run(&[]);
        prop_assert!(whole.contains("h OK Logout completed."), "{}", whole);
        prop_assert_eq!(run(&splits), whole);
    }

    #[test]
    fn every_server_response_is_well_formed(cmds in prop::collection::vec(command(), 1..12)) {
        let mut d = imap_support::Driver::new(5);
        d.send("l LOGIN mrc secret\r\n");
        d.send("s SELECT INBOX\r\n");
        let mut tags = Vec::new();
        for (i, cmd) in cmds.into_iter().enumerate() {
            // IDLE waits for DONE and LOGOUT ends the session: both are covered by
            // the trace tests; here every command must complete.
            if matches!(cmd, Command::Idle | Command::Logout | Command::StartTls | Command::Authenticate { .. }) {
                continue;
            }
            let tag = format!("t{i}");
            let wire = Tagged { tag: tag.clone(), command: cmd }.encode();
            d.s.handle_input(d.now, &wire);
            d.pump();
            tags.push(tag);
        }
        let out = d.out.as_bytes();
        let responses = parse_all(out).map_err(|at| {
            TestCaseError::fail(format!("bad response at {at}: {:?}", String::from_utf8_lossy(&out[at..])))
        })?;
        for tag in &tags {
            let n = responses
                .iter()
                .filter(|r| matches!(r, Response::Tagged { tag: t, .. } if t == tag))
                .count();
            prop_assert_eq!(n, 1, "tag {} completed {} times in {}", tag, n, d.out);
        }
    }
}

fn response_atom() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z][A-Za-z0-9.$_-]{0,8}".prop_filter("not NIL", |a| !a.eq_ignore_ascii_case("nil")),
        "\\\\[A-Za-z]{1,8}",
        Just("\\*".to_string()),
        "BODY\\[[A-Z0-9. ()]{0,12}\\](<[0-9]{1,4}>)?",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        response_atom().prop_map(Value::Atom),
        any::<u32>().prop_map(|n| Value::Number(n.into())),
        "[ -~]{0,12}".prop_map(Value::Quoted),
        prop::collection::vec(any::<u8>(), 0..20).prop_map(Value::Literal),
        Just(Value::Nil),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop::collection::vec(inner, 0..5).prop_map(Value::List)
    })
}

fn status_text(tagged: bool) -> impl Strategy<Value = StatusText> {
    let status = if tagged {
        prop_oneof![Just(Status::Ok), Just(Status::No), Just(Status::Bad)].boxed()
    } else {
        prop_oneof![
            Just(Status::Ok),
            Just(Status::No),
            Just(Status::Bad),
            Just(Status::PreAuth),
            Just(Status::Bye)
        ]
        .boxed()
    };
    (
        status,
        prop::option::of("[A-Z][A-Z0-9 -]{0,15}"),
        "([!-Z\\^-~][ -~]{0,20})?",
    )
        .prop_map(|(status, code, text)| StatusText { status, code, text })
}

fn response() -> impl Strategy<Value = Response> {
    let untagged_head = prop_oneof![
        any::<u32>().prop_map(|n| Value::Number(n.into())),
        prop_oneof![
            Just("FLAGS"),
            Just("LIST"),
            Just("SEARCH"),
            Just("STATUS"),
            Just("CAPABILITY")
        ]
        .prop_map(|a| Value::Atom(a.to_string())),
    ];
    prop_oneof![
        "([!-~][ -~]{0,20})?".prop_map(Response::Continue),
        ("[A-Za-z0-9]{1,6}", status_text(true))
            .prop_map(|(tag, status)| Response::Tagged { tag, status }),
        status_text(false).prop_map(Response::UntaggedStatus),
        (untagged_head, prop::collection::vec(value(), 0..5)).prop_map(|(head, mut rest)| {
            rest.insert(0, head);
            Response::Untagged(rest)
        }),
    ]
}

proptest! {
    #[test]
    fn modified_utf7_round_trips(name in "\\PC{0,16}") {
        use postrider_core::imap::mutf7::{decode, encode};
        let wire = encode(&name);
        prop_assert!(wire.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{:?}", wire);
        prop_assert_eq!(decode(&wire), Some(name));
    }

    #[test]
    fn valid_modified_utf7_encodes_back_the_same(wire in "[ -~]{0,16}") {
        use postrider_core::imap::mutf7::{decode, encode};
        if let Some(name) = decode(&wire) {
            prop_assert_eq!(encode(&name), wire);
        }
    }
}
