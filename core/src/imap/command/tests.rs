use super::*;

fn p(s: &str) -> Command {
    parse_command(s.as_bytes()).unwrap().command
}

#[test]
fn only_settable_system_flags_are_accepted() {
    // Found by the imap_session fuzz target: `\[eeo` and `\Seeo` were stored and
    // shown as flags. RFC 3501 §9: servers must not generate flag-extensions.
    for bad in ["\\Seeo", "\\[eeo", "\\Recent", "\\*"] {
        let cmd = format!("a STORE 1 +FLAGS ({bad})\r\n");
        assert!(parse_command(cmd.as_bytes()).is_err(), "{bad}");
        let cmd = format!("a APPEND INBOX ({bad}) {{1+}}\r\nx\r\n");
        assert!(parse_command(cmd.as_bytes()).is_err(), "{bad}");
    }
    assert!(parse_command(b"a STORE 1 +FLAGS (\\seen \\Draft $Junk kw[1)\r\n").is_ok());
}

#[test]
fn search_dates_with_huge_years_are_errors_not_overflows() {
    // Found by the imap_command fuzz target (10-minute campaign): the year went
    // straight into days_from_civil and overflowed.
    let crash = b"a2ID SEARCH CHARSET UTF-8 OR UNSEEN (SINCE 1-Jan-211111111111111111\xff\xff\xff\xff\xff\xff\xff\x00111111111111111111)\r\n";
    let _ = parse_command(crash);
    assert!(parse_command(b"a SEARCH SINCE 1-Jan-2111111111111111111\r\n").is_err());
    assert!(parse_command(b"a SEARCH SINCE 1-Jan-10000\r\n").is_err());
    assert!(parse_command(b"a SEARCH SINCE 1-Jan-0\r\n").is_err());
    assert!(parse_command(b"a SEARCH SINCE 31-Dec-9999\r\n").is_ok());
}

#[test]
fn basic_commands() {
    assert_eq!(p("a1 CAPABILITY\r\n"), Command::Capability);
    assert_eq!(
        p("a LOGIN \"al ice\" {3}\r\npw!\r\n"),
        Command::Login {
            user: "al ice".into(),
            password: "pw!".into()
        }
    );
    assert_eq!(
        p("a select inbox"),
        Command::Select {
            mailbox: "INBOX".into(),
            read_only: false,
            params: Default::default(),
        }
    );
    assert_eq!(
        p("a LIST \"\" *"),
        Command::List {
            reference: "".into(),
            pattern: "*".into(),
            subscribed: false
        }
    );
    assert!(matches!(
        p("a UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)"),
        Command::Fetch { uid: true, .. }
    ));
    assert!(matches!(
        p("a STORE 1,3:5 +FLAGS.SILENT (\\Seen \\deleted)"),
        Command::Store {
            mode: StoreMode::Add,
            silent: true,
            ..
        }
    ));
    assert!(matches!(
        p("a UID MOVE 4 Trash"),
        Command::Copy {
            is_move: true,
            uid: true,
            ..
        }
    ));
    let Command::Append { messages, .. } = p("a APPEND Sent (\\Seen) {5+}\r\nhello") else {
        panic!()
    };
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].message, b"hello");
    assert_eq!(messages[0].flags, ["\\Seen"]);
    // MULTIAPPEND: each message with its own flags and date.
    let Command::Append { messages, .. } = p(
        "a APPEND Sent (\\Seen) {2+}\r\nab \"01-Jan-2024 00:00:00 +0000\" {1+}\r\nc {0+}\r\n\r\n",
    ) else {
        panic!()
    };
    assert_eq!(messages.len(), 3);
    assert_eq!(
        messages[1].date.as_deref(),
        Some("01-Jan-2024 00:00:00 +0000")
    );
    assert_eq!(messages[2].message, b"");
}

#[test]
fn search_keys() {
    let Command::Search { key, .. } =
        p("a SEARCH CHARSET UTF-8 OR FROM alice NOT SEEN SINCE 1-Jan-2024 1:3")
    else {
        panic!()
    };
    let SearchKey::And(keys) = key else { panic!() };
    assert_eq!(keys.len(), 3);
    assert!(parse_command(b"a SEARCH CHARSET KOI8-R ALL").is_err());
    assert!(parse_command(b"a SEARCH FROB").is_err());
    assert!(parse_command(b"a FETCH 0 FLAGS").is_err());
    assert!(parse_command(b"a FETCH 1 BODY[1.MIME]").is_ok());
    assert!(parse_command(b"a FETCH 1 BODY[MIME]").is_err());
}

#[test]
fn framing() {
    assert_eq!(frame_line(b"a NOOP\r\n", 0), Framing::Complete(8));
    assert_eq!(frame_line(b"a NOOP", 0), Framing::Incomplete);
    assert_eq!(
        frame_line(b"a LOGIN {3}\r\n", 0),
        Framing::Literal {
            data_at: 13,
            len: 3,
            sync: true
        }
    );
    assert_eq!(
        frame_line(b"a APPEND x {10+}\r\n", 0),
        Framing::Literal {
            data_at: 18,
            len: 10,
            sync: false
        }
    );
}

#[test]
fn seqset() {
    let s = SeqSet(vec![
        (SeqNum::Num(2), SeqNum::Num(4)),
        (SeqNum::Star, SeqNum::Num(9)),
    ]);
    assert!(s.contains(3, 20) && !s.contains(5, 20) && s.contains(15, 20) && !s.contains(8, 20));
}

#[test]
fn search_return_sort_thread_and_saved_results() {
    let Command::Search { ret, .. } = p("a SEARCH RETURN (MIN COUNT SAVE) UNSEEN") else {
        panic!()
    };
    let ret = ret.unwrap();
    assert!(ret.min && ret.count && ret.save && !ret.all && !ret.max);
    let Command::Search { ret, .. } = p("a UID SEARCH RETURN () ALL") else {
        panic!()
    };
    assert!(ret.unwrap().all, "RETURN () means ALL");
    let Command::Sort {
        uid, criteria, ret, ..
    } = p("a UID SORT (REVERSE DATE subject) UTF-8 ALL")
    else {
        panic!()
    };
    assert!(uid && ret.is_none());
    assert_eq!(criteria.len(), 2);
    assert!(criteria[0].reverse && !criteria[1].reverse);
    assert!(parse_command(b"a SORT (REVERSE) UTF-8 ALL").is_err());
    assert!(
        parse_command(b"a SORT (DATE) ALL").is_err(),
        "SORT needs a charset"
    );
    assert!(parse_command(b"a SORT (DATE) KOI8-R ALL").is_err());
    let Command::Thread { algorithm, .. } = p("a THREAD REFERENCES US-ASCII SINCE 1-Jan-2024")
    else {
        panic!()
    };
    assert_eq!(algorithm, crate::imap::thread::ThreadAlgorithm::References);
    assert!(parse_command(b"a THREAD FOO UTF-8 ALL").is_err());
    let Command::Fetch { set, .. } = p("a FETCH $ FLAGS") else {
        panic!()
    };
    assert!(set.is_saved());
    let Command::Search { key, .. } = p("a SEARCH UID $ SEEN") else {
        panic!()
    };
    let SearchKey::And(keys) = key else { panic!() };
    assert!(matches!(&keys[0], SearchKey::Uid(s) if s.is_saved()));
}

#[test]
fn condstore_and_qresync_arguments_are_checked() {
    let Command::Select { params, .. } =
        p("a SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214))")
    else {
        panic!()
    };
    let q = params.qresync.unwrap();
    assert_eq!(
        (q.uid_validity, q.modseq),
        (67_890_007, 90_060_115_194_045_000)
    );
    assert!(q.known_uids.is_some() && q.seq_match.is_none());
    for bad in [
        &b"a SELECT INBOX (QRESYNC (0 5))\r\n"[..],
        b"a SELECT INBOX (QRESYNC (1 0))\r\n",
        b"a SELECT INBOX (QRESYNC (1 5 1:*))\r\n",
        b"a SELECT INBOX (QRESYNC (1 5 1:9 (1,2)))\r\n",
        b"a SELECT INBOX (FOO)\r\n",
        b"a FETCH 1 FLAGS (CHANGEDSINCE 99999999999999999999)\r\n",
        b"a FETCH 1 FLAGS (VANISHED)\r\n",
        b"a STORE 1 (UNCHANGEDSINCE) +FLAGS (x)\r\n",
        b"a SEARCH MODSEQ \"/flags/x\" bogus 5\r\n",
        b"a APPEND INBOX CATENATE (FOO \"x\")\r\n",
        b"a CREATE x (USE ())\r\n",
    ] {
        assert!(
            parse_command(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}
