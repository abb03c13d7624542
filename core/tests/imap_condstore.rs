//! CONDSTORE and QRESYNC (RFC 7162) in the IMAP machine, against the in-memory store:
//! which commands turn them on, the MODSEQ in answers, UNCHANGEDSINCE, and QRESYNC's
//! SELECT, VANISHED and UID FETCH.

#![allow(clippy::unwrap_used)]

mod imap_support;

use imap_support::Driver;

/// A driver logged in, INBOX holding `n` messages with MODSEQs 1..=n.
fn logged_in(n: u32) -> Driver {
    let mut d = Driver::new(n);
    for (i, m) in d.store.view.messages.iter_mut().enumerate() {
        m.modseq = i as u64 + 1;
    }
    d.store.view.highest_modseq = u64::from(n);
    d.send("a login u secret\r\n");
    d
}

#[test]
fn modseq_stays_out_of_answers_until_a_condstore_command() {
    let mut d = logged_in(3);
    let got = d.send("b SELECT INBOX\r\n");
    assert!(!got.contains("HIGHESTMODSEQ"), "{got}");
    let got = d.send("c FETCH 1 FLAGS\r\n");
    assert!(!got.contains("MODSEQ"), "{got}");
    // FETCH MODSEQ turns CONDSTORE on: HIGHESTMODSEQ is told once, first.
    let got = d.send("d FETCH 2 (MODSEQ)\r\n");
    assert!(
        got.starts_with("* OK [HIGHESTMODSEQ 3] Highest\r\n* 2 FETCH (MODSEQ (2))\r\n"),
        "{got}"
    );
    let got = d.send("e FETCH 1 FLAGS\r\n");
    assert!(
        got.contains("* 1 FETCH (FLAGS (\\Seen) MODSEQ (1))"),
        "{got}"
    );
    assert!(!got.contains("HIGHESTMODSEQ"), "{got}");
}

#[test]
fn select_condstore_tells_highestmodseq() {
    let mut d = logged_in(2);
    let got = d.send("c SELECT INBOX (CONDSTORE)\r\n");
    assert!(got.contains("* OK [HIGHESTMODSEQ 2] Highest"), "{got}");
    // Selecting again closes the first one visibly.
    let got = d.send("d EXAMINE INBOX\r\n");
    assert!(got.starts_with("* OK [CLOSED]"), "{got}");
}

#[test]
fn changedsince_and_unchangedsince() {
    let mut d = logged_in(4);
    d.send("b SELECT INBOX (CONDSTORE)\r\n");
    let got = d.send("c FETCH 1:* (FLAGS) (CHANGEDSINCE 2)\r\n");
    assert!(
        !got.contains("* 1 FETCH") && !got.contains("* 2 FETCH"),
        "{got}"
    );
    assert!(
        got.contains("* 3 FETCH (FLAGS (\\Seen) MODSEQ (3))"),
        "{got}"
    );
    assert!(
        got.contains("* 4 FETCH (FLAGS (\\Seen) MODSEQ (4))"),
        "{got}"
    );
    // Messages 3 and 4 changed after 2: only 1 and 2 take the flag.
    let got = d.send("d STORE 1:4 (UNCHANGEDSINCE 2) +FLAGS (\\Flagged)\r\n");
    assert!(got.contains("d OK [MODIFIED 3:4]"), "{got}");
    assert!(
        got.contains("* 2 FETCH (FLAGS (\\Seen \\Flagged) MODSEQ (6))"),
        "{got}"
    );
    assert!(!got.contains("* 3 FETCH"), "{got}");
    // UID STORE names UIDs in MODIFIED; .SILENT still tells the new MODSEQ.
    let got = d.send("e UID STORE 2,3 (UNCHANGEDSINCE 4) +FLAGS.SILENT (\\Answered)\r\n");
    assert!(got.contains("e OK [MODIFIED 2]"), "{got}");
    assert!(got.contains("* 3 FETCH (UID 3 MODSEQ (7))"), "{got}");
    let got = d.send("f SEARCH MODSEQ 6\r\n");
    assert!(got.contains("* SEARCH 2 3 (MODSEQ 7)"), "{got}");
    let got = d.send("g SEARCH RETURN (MIN) MODSEQ 6\r\n");
    assert!(got.contains("MIN 2 MODSEQ 6"), "{got}");
    assert!(
        parse(b"h STORE 1 (UNCHANGEDSINCE x) +FLAGS (a)\r\n").is_err()
            && parse(b"h FETCH 1 FLAGS (VANISHED)\r\n").is_err()
    );
}

fn parse(
    line: &[u8],
) -> Result<postrider_core::imap::command::Tagged, postrider_core::imap::command::ParseError> {
    postrider_core::imap::command::parse_command(line)
}

#[test]
fn qresync_select_names_what_vanished_and_changed() {
    let mut d = logged_in(5);
    let v = d.store.view.uid_validity;
    let got = d.send(&format!("b SELECT INBOX (QRESYNC ({v} 2))\r\n"));
    assert!(
        got.starts_with("b BAD"),
        "QRESYNC needs ENABLE first: {got}"
    );
    let got = d.send("c ENABLE QRESYNC\r\n");
    assert!(got.contains("* ENABLED QRESYNC"), "{got}");
    // Another session expunges UID 2 and flags UID 4.
    d.store.expunge(&[2]);
    d.store.view.highest_modseq += 1;
    let top = d.store.view.highest_modseq;
    d.store.view.messages[2].modseq = top;
    d.store.view.messages[2].flags = vec!["\\Flagged".into()];
    let got = d.send(&format!("d SELECT INBOX (QRESYNC ({v} 5))\r\n"));
    assert!(
        got.contains(&format!("* OK [HIGHESTMODSEQ {top}]")),
        "{got}"
    );
    assert!(got.contains("* VANISHED (EARLIER) 2\r\n"), "{got}");
    assert!(
        got.contains(&format!(
            "* 3 FETCH (UID 4 FLAGS (\\Flagged) MODSEQ ({top}))"
        )),
        "{got}"
    );
    assert!(!got.contains("* 1 FETCH"), "{got}");
    // Known UIDs and sequence match data narrow the answer.
    let got = d.send(&format!("e SELECT INBOX (QRESYNC ({v} 5 1,3:5))\r\n"));
    assert!(!got.contains("VANISHED"), "{got}");
    // The client's second message is UID 3 here too: nothing before it went.
    let got = d.send(&format!(
        "f SELECT INBOX (QRESYNC ({v} 5 1:5 (1,2 1,3)))\r\n"
    ));
    assert!(!got.contains("VANISHED"), "{got}");
    let got = d.send(&format!(
        "g SELECT INBOX (QRESYNC ({v} 5 1:5 (1,2 1,2)))\r\n"
    ));
    assert!(got.contains("* VANISHED (EARLIER) 2"), "{got}");
    // Another UIDVALIDITY: a plain SELECT.
    let got = d.send(&format!("h SELECT INBOX (QRESYNC ({} 5))\r\n", v + 1));
    assert!(!got.contains("VANISHED") && !got.contains("FETCH"), "{got}");
}

#[test]
fn qresync_tells_vanished_instead_of_expunge() {
    let mut d = logged_in(4);
    d.send("b ENABLE QRESYNC\r\nc SELECT INBOX\r\n");
    let got = d.send("d UID FETCH 1:* (FLAGS) (CHANGEDSINCE 3 VANISHED)\r\n");
    assert!(!got.contains("VANISHED"), "{got}");
    d.store.expunge(&[1]);
    let got = d.send("e UID FETCH 1:* (FLAGS) (CHANGEDSINCE 3 VANISHED)\r\n");
    assert!(got.starts_with("* VANISHED (EARLIER) 1\r\n"), "{got}");
    assert!(
        got.contains("* 4 FETCH (UID 4 FLAGS (\\Seen) MODSEQ (4))"),
        "{got}"
    );
    // The model has not heard of the expunge yet: NOOP tells it as VANISHED.
    let got = d.send("f NOOP\r\n");
    assert!(
        got.contains("* VANISHED 1\r\n") && !got.contains("EXPUNGE"),
        "{got}"
    );
    let got = d.send("g STORE 1 +FLAGS (\\Deleted)\r\ni EXPUNGE\r\n");
    assert!(
        got.contains("* 1 FETCH (UID 2 FLAGS (\\Seen \\Deleted) MODSEQ"),
        "{got}"
    );
    assert!(got.contains("* VANISHED 2\r\n"), "{got}");
    assert!(got.contains("i OK [HIGHESTMODSEQ"), "{got}");
}

#[test]
fn imap4rev2_after_enable_answers_esearch_and_drops_recent() {
    let mut d = Driver::new(3);
    d.store.view.recent = vec![3];
    let got = d.send("a login u secret\r\n");
    assert!(got.contains("IMAP4rev1 IMAP4rev2"), "{got}");
    let got = d.send("b SELECT INBOX\r\n");
    assert!(got.contains("* 1 RECENT"), "{got}");
    let got = d.send("c ENABLE IMAP4rev2\r\nd SELECT INBOX\r\n");
    assert!(got.contains("* ENABLED IMAP4rev2"), "{got}");
    let select = &got[got.find("* OK [CLOSED]").unwrap()..];
    assert!(
        !select.contains("RECENT") && !select.contains("UNSEEN"),
        "{select}"
    );
    assert!(select.contains("* LIST () \"/\" \"INBOX\"\r\n"), "{select}");
    let got = d.send("e SEARCH ALL\r\nf UID SEARCH 9\r\n");
    assert!(got.contains("* ESEARCH (TAG \"e\") ALL 1:3\r\n"), "{got}");
    assert!(got.contains("* ESEARCH (TAG \"f\") UID\r\n"), "{got}");
    let got = d.send("g FETCH 3 FLAGS\r\n");
    assert!(got.contains("* 3 FETCH (FLAGS (\\Seen))"), "{got}");
}
