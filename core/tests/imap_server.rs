//! The IMAP machine against an in-memory store: the RFC 3501 §8 sample session replayed
//! as a C:/S: trace, plus sequence-number rules (expunges announced only at NOOP/IDLE,
//! EXISTS after new mail), literals and IDLE, with a virtual clock.
#![allow(clippy::unwrap_used)]

mod imap_support;

use std::time::Duration;

use imap_support::Driver;
use postrider_core::imap::command::parse_command;
use postrider_core::imap::fetch::STREAM_ABOVE;
use postrider_core::imap::server::MessageMeta;
use postrider_core::imf::datetime::WallClock;
use postrider_core::machine::Machine;

/// RFC 3501 §8, with this server's wording: each S: line gives the start of the line.
#[test]
fn rfc3501_section8_sample() {
    let mut d = Driver::new(18);
    assert!(d.out.starts_with("* OK [CAPABILITY IMAP4rev1"));
    let trace: &[(&str, &[&str])] = &[
        ("a001 login mrc secret\r\n", &["a001 OK [CAPABILITY"]),
        (
            "a002 select inbox\r\n",
            &[
                "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
                "* OK [PERMANENTFLAGS",
                "* 18 EXISTS",
                "* 0 RECENT",
                "* OK [UNSEEN 17]",
                "* OK [UIDVALIDITY 3857529045]",
                "* OK [UIDNEXT 19]",
                "a002 OK [READ-WRITE] Select completed.",
            ],
        ),
        (
            "a003 fetch 12 full\r\n",
            &[
                "* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 09:44:25 +0000\" RFC822.SIZE 4286 ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg summary and minutes\" ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\"))",
                "a003 OK Fetch completed.",
            ],
        ),
        ("a004 fetch 12 body[header]\r\n", &["* 12 FETCH (BODY[HEADER] {", "Date: Wed, 17 Jul 1996"]),
        ("a005 store 12 +flags \\deleted\r\n", &["* 12 FETCH (FLAGS (\\Seen \\Deleted))", "a005 OK Store completed."]),
        ("a006 logout\r\n", &["* BYE", "a006 OK Logout completed."]),
    ];
    for (c, want) in trace {
        let got = d.send(c);
        let lines: Vec<&str> = got.split("\r\n").collect();
        for w in *want {
            assert!(
                lines.iter().any(|l| l.starts_with(w)),
                "{c:?}: no line starting {w:?} in\n{got}"
            );
        }
    }
    assert!(d.s.is_closed());
    assert_eq!(
        d.store.set_flags,
        vec![(12, vec!["\\Seen".to_string(), "\\Deleted".to_string()])]
    );
}

#[test]
fn expunges_from_elsewhere_wait_for_noop_and_new_mail_is_announced() {
    let mut d = Driver::new(3);
    d.send("a login u secret\r\nb select INBOX\r\n");
    // Another session expunged message 2 and new mail arrived.
    d.store.view.messages.remove(1);
    d.store.view.messages.push(MessageMeta {
        modseq: 1,
        uid: 4,
        flags: vec![],
        internal_date: WallClock::utc(0),
        size: 10,
    });
    d.store.view.uid_next = 5;
    let got = d.send("c fetch 1:* flags\r\n");
    assert!(!got.contains("EXPUNGE"), "no EXPUNGE during FETCH: {got}");
    let got = d.send("d noop\r\n");
    assert!(got.contains("* 2 EXPUNGE\r\n"), "{got}");
    assert!(got.contains("* 3 EXISTS\r\n"), "{got}");
    let got = d.send("e uid fetch 4 flags\r\n");
    assert!(got.starts_with("* 3 FETCH (UID 4 FLAGS ())"), "{got}");
}

#[test]
fn idle_polls_and_done_ends_it() {
    let mut d = Driver::new(1);
    d.send("a login u secret\r\nb select INBOX\r\n");
    let got = d.send("c idle\r\n");
    assert_eq!(got, "+ idling\r\n");
    d.store.view.messages.push(MessageMeta {
        modseq: 1,
        uid: 2,
        flags: vec![],
        internal_date: WallClock::utc(0),
        size: 10,
    });
    d.now += Duration::from_secs(2);
    d.s.handle_timeout(d.now);
    d.pump();
    assert!(d.out.ends_with("* 2 EXISTS\r\n* 0 RECENT\r\n"), "{}", d.out);
    let got = d.send("DONE\r\n");
    assert_eq!(got, "c OK Idle completed.\r\n");
}

#[test]
fn literals_sync_and_nonsync() {
    let mut d = Driver::new(1);
    let got = d.send("a login {1}\r\n");
    assert_eq!(got, "+ OK\r\n");
    let got = d.send("u {6}\r\n");
    assert_eq!(got, "+ OK\r\n");
    let got = d.send("secret\r\n");
    assert!(got.starts_with("a OK"), "{got}");
    let got = d.send("b select {5+}\r\nINBOX\r\n");
    assert!(got.contains("b OK [READ-WRITE]"), "{got}");
    let got = d.send("c fetch 1 (flags\r\nd noop\r\n");
    assert!(got.starts_with("c BAD"), "{got}");
    assert!(got.contains("d OK"), "{got}");
}

#[test]
fn messages_expunged_elsewhere_are_skipped_never_shown_empty() {
    let mut d = Driver::new(3);
    d.send("a login u secret\r\nb select INBOX\r\n");
    // Another session expunged message 2; this session has not been told yet.
    d.store.view.messages.remove(1);
    let got = d.send("c fetch 1:3 (RFC822.SIZE BODY.PEEK[])\r\n");
    assert!(
        got.contains("* 1 FETCH") && got.contains("* 3 FETCH"),
        "{got}"
    );
    assert!(!got.contains("* 2 FETCH"), "{got}");
    assert!(
        got.ends_with("c OK [EXPUNGEISSUED] Some messages were already expunged.\r\n"),
        "{got}"
    );
    // Flags come from this session's own model: no store request, nothing missing.
    let got = d.send("d fetch 2 flags\r\n");
    assert!(got.contains("* 2 FETCH (FLAGS"), "{got}");
    let got = d.send("e search text joe\r\n");
    assert_eq!(
        got,
        "* SEARCH 1 3\r\ne OK [EXPUNGEISSUED] Search completed.\r\n"
    );
}

#[test]
fn sequence_numbers_beyond_exists_are_bad_uids_are_not() {
    let mut d = Driver::new(1);
    d.send("a login u secret\r\n");
    assert!(
        d.send("b check\r\n").starts_with("b BAD"),
        "CHECK needs a mailbox"
    );
    d.send("c select INBOX\r\n");
    for cmd in [
        "fetch 5 flags",
        "fetch 1:5 flags",
        "store 2 +flags (x)",
        "copy 3 INBOX",
    ] {
        let got = d.send(&format!("t {cmd}\r\n"));
        assert!(
            got.starts_with("t BAD") && got.contains("Invalid messageset"),
            "{cmd}: {got}"
        );
    }
    assert!(d
        .send("u fetch 1:* flags\r\n")
        .ends_with("u OK Fetch completed.\r\n"));
    assert_eq!(
        d.send("v uid fetch 5 flags\r\n"),
        "v OK Fetch completed.\r\n"
    );
    assert!(d.send("w check\r\n").starts_with("w OK"));
}

#[test]
fn an_unknown_search_charset_is_refused_with_badcharset() {
    let mut d = Driver::new(1);
    d.send("a login u secret\r\nb select INBOX\r\n");
    assert_eq!(
        d.send("c search charset x-unknown text foo\r\n"),
        "c NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n"
    );
}

#[test]
fn recent_never_exceeds_exists_after_an_expunge() {
    let mut d = Driver::new(0);
    d.send("a login u secret\r\nb select INBOX\r\n");
    for uid in 1..=3u32 {
        d.store.view.messages.push(MessageMeta {
            modseq: 1,
            uid,
            flags: vec![],
            internal_date: WallClock::utc(0),
            size: 10,
        });
        d.store.view.recent.push(uid);
        d.store.view.uid_next = uid + 1;
        d.send("n noop\r\n");
    }
    d.send("s store 1:2 +flags.silent (\\Deleted)\r\nx expunge\r\n");
    d.store.view.messages.retain(|m| m.uid == 3);
    d.store.view.recent.retain(|u| *u == 3);
    d.store.view.messages.push(MessageMeta {
        modseq: 1,
        uid: 4,
        flags: vec![],
        internal_date: WallClock::utc(0),
        size: 10,
    });
    d.store.view.recent.push(4);
    d.store.view.uid_next = 5;
    let got = d.send("y noop\r\n");
    assert!(got.contains("* 2 EXISTS\r\n* 2 RECENT\r\n"), "{got}");
}

/// A server whose one message is larger than [`STREAM_ABOVE`].
fn big_message_driver() -> (Driver, Vec<u8>) {
    let mut d = Driver::new(1);
    let mut message = b"Subject: big\r\n\r\n".to_vec();
    while message.len() as u64 <= STREAM_ABOVE + 5000 {
        message.extend_from_slice(b"0123456789 abcdefghijklmnopqrstuvwxyz\r\n");
    }
    d.store.message = message.clone();
    d.store.view.messages[0].size = message.len() as u64;
    d.send("a login u secret\r\nb select INBOX\r\n");
    (d, message)
}

#[test]
fn large_messages_are_streamed_into_their_literals() {
    let (mut d, message) = big_message_driver();
    let got = d.send("c fetch 1 (BODY.PEEK[] RFC822.SIZE BODY.PEEK[TEXT]<5.10>)\r\n");
    let n = message.len();
    let mut want = format!("* 1 FETCH (BODY[] {{{n}}}\r\n").into_bytes();
    want.extend_from_slice(&message);
    want.extend_from_slice(format!(" RFC822.SIZE {n} BODY[TEXT]<5> {{10}}\r\n").as_bytes());
    want.extend_from_slice(&message[16 + 5..16 + 15]);
    want.extend_from_slice(b")\r\nc OK Fetch completed.\r\n");
    assert!(
        got.as_bytes() == want,
        "{}",
        &got[got.len().saturating_sub(200)..]
    );
    // Read in chunks (1000 octets here), never as one message.
    assert!(d.store.reads > n / 1000, "{} reads", d.store.reads);
    // Small messages are still answered from one batch.
    let mut d = Driver::new(3);
    d.send("a login u secret\r\nb select INBOX\r\n");
    let got = d.send("e fetch 1:3 BODY.PEEK[]\r\n");
    assert!(got.ends_with("e OK Fetch completed.\r\n"), "{got}");
    assert_eq!(d.store.reads, 0);
}

#[test]
fn a_streamed_message_gone_before_its_first_octet_is_skipped() {
    let (mut d, _) = big_message_driver();
    d.store.fail_at = Some(0);
    let got = d.send("c fetch 1 BODY[]\r\n");
    assert_eq!(
        got,
        "c OK [EXPUNGEISSUED] Some messages were already expunged.\r\n"
    );
    assert!(!d.s.is_closed());
}

#[test]
fn a_streamed_message_failing_midway_ends_the_session() {
    let (mut d, message) = big_message_driver();
    d.store.fail_at = Some(message.len() / 2);
    let got = d.send("c fetch 1 BODY[]\r\n");
    assert!(got.starts_with("* 1 FETCH (BODY[] {"), "{}", &got[..40]);
    assert!(!got.contains("c OK"), "no completion after a cut literal");
    assert!(d.s.is_closed());
}

#[test]
fn multiappend_adds_all_or_none() {
    let mut d = Driver::new(2);
    d.send("a login u secret\r\n");
    let before = d.store.view.messages.len();
    let got = d.send("b APPEND INBOX {3}\r\n");
    assert_eq!(got, "+ OK\r\n");
    let got = d.send("one (\\Seen) {3+}\r\ntwo\r\n");
    let (v, next) = (d.store.view.uid_validity, d.store.view.uid_next);
    assert!(
        got.contains(&format!("b OK [APPENDUID {v} {}:{}]", next - 2, next - 1)),
        "{got}"
    );
    assert_eq!(d.store.view.messages.len(), before + 2);
    // The second one fails: the first comes out again and the answer is NO.
    let got = d.send("c APPEND INBOX {3+}\r\nabc {4+}\r\nFAIL\r\n");
    assert!(got.contains("c NO [OVERQUOTA]"), "{got}");
    assert_eq!(d.store.view.messages.len(), before + 2);
    // A bad date anywhere refuses the whole command before anything is added.
    let got = d.send("d APPEND INBOX {1+}\r\nx \"32-Foo-2024 00:00:00 +0000\" {1+}\r\ny\r\n");
    assert!(got.starts_with("d BAD"), "{got}");
    assert_eq!(d.store.view.messages.len(), before + 2);
}

#[test]
fn compress_deflate_after_login_once() {
    let mut d = Driver::new(1);
    let got = d.send("a COMPRESS DEFLATE\r\n");
    assert!(got.starts_with("a BAD"), "{got}");
    let got = d.send("b login u secret\r\nc CAPABILITY\r\n");
    assert!(got.contains("COMPRESS=DEFLATE"), "{got}");
    let got = d.send("d COMPRESS LZ4\r\n");
    assert!(got.starts_with("d BAD"), "{got}");
    // What follows the command in the same read was not meant to be read uncompressed.
    let got = d.send("e COMPRESS DEFLATE\r\nf NOOP\r\n");
    assert_eq!(got, "e OK DEFLATE active.\r\n");
    assert_eq!(d.compressions, 1);
    assert!(!d.s.wants_input(), "input waits for the driver");
    d.s.compression_started(d.now);
    assert!(d.s.wants_input());
    let got = d.send("g COMPRESS DEFLATE\r\nh CAPABILITY\r\n");
    assert!(got.starts_with("g NO [COMPRESSIONACTIVE]"), "{got}");
    assert!(!got.contains("COMPRESS=DEFLATE"), "{got}");
}

#[test]
fn quota_commands_need_a_login_and_setquota_is_refused() {
    let mut d = Driver::new(1);
    let got = d.send("a GETQUOTAROOT INBOX\r\n");
    assert!(got.starts_with("a BAD"), "{got}");
    d.send("b login u secret\r\n");
    let got = d.send("c CAPABILITY\r\n");
    assert!(
        got.contains(" QUOTA ") && got.contains("QUOTA=RES-STORAGE"),
        "{got}"
    );
    let got = d.send("d SETQUOTA \"\" (STORAGE 512)\r\n");
    assert!(got.starts_with("d NO [NOPERM]"), "{got}");
    assert!(parse_command(b"e SETQUOTA \"\" (STORAGE)\r\n").is_err());
}

#[test]
fn create_special_use_takes_the_attributes_rfc_6154_lets_it_make() {
    let mut d = Driver::new(1);
    let got = d.send("a login u secret\r\n");
    assert!(got.contains("CREATE-SPECIAL-USE"), "{got}");
    let got = d.send("b CREATE Stuff (USE (\\all))\r\n");
    assert!(got.starts_with("b NO [USEATTR]"), "{got}");
    let got = d.send("c CREATE Stuff (USE (\\sent \\Archive))\r\n");
    assert!(got.starts_with("c OK"), "{got}");
    assert!(parse_command(b"d CREATE Stuff (USE ())\r\n").is_err());
    assert!(parse_command(b"d CREATE Stuff (COLOR (red))\r\n").is_err());
}

#[test]
fn catenate_joins_text_and_url_pieces_or_adds_nothing() {
    let mut d = Driver::new(2);
    d.send("a login u secret\r\n");
    let before = d.store.view.messages.len();
    let v = d.store.view.uid_validity;
    let got = d.send(&format!(
        "b APPEND INBOX CATENATE (URL \"/INBOX;UIDVALIDITY={v}/;UID=1/;SECTION=HEADER\" TEXT {{5+}}\r\nhello)\r\n"
    ));
    assert!(got.starts_with("b OK [APPENDUID"), "{got}");
    assert_eq!(d.store.view.messages.len(), before + 1);
    // A wrong UIDVALIDITY, a missing message, a URL of another server: nothing added.
    for (tag, url) in [
        ("c", format!("/INBOX;UIDVALIDITY={}/;UID=1", v + 1)),
        ("d", "/INBOX/;UID=99".to_string()),
        ("e", "imap://x@y/INBOX/;UID=1".to_string()),
    ] {
        let got = d.send(&format!("{tag} APPEND INBOX CATENATE (URL \"{url}\")\r\n"));
        assert!(
            got.starts_with(&format!("{tag} NO [BADURL {url}]")),
            "{got}"
        );
    }
    let got = d.send("f APPEND Nowhere CATENATE (TEXT {1+}\r\nx)\r\n");
    assert!(got.starts_with("f NO [TRYCREATE]"), "{got}");
    assert_eq!(d.store.view.messages.len(), before + 1);
}
