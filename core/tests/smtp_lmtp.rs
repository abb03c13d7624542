//! LMTP (RFC 2033) in the server machine: LHLO in place of EHLO and HELO, one reply per
//! accepted recipient after DATA and after BDAT LAST, a message refused whole refused for
//! each recipient, and 503 for DATA without recipients.

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use postrider_core::smtp::{SmtpEvent, SmtpServerConfig};
use postrider_core::testing::{split_at_cuts, SmtpTestDriver};

fn driver() -> SmtpTestDriver {
    let mut c = SmtpServerConfig::default();
    c.hostname = "mx.example".into();
    c.max_message_size = 2000;
    c.lmtp = true;
    SmtpTestDriver::new(c, &["alice", "bob", "carol"], Instant::now())
}

fn text(d: &SmtpTestDriver) -> String {
    String::from_utf8_lossy(&d.transcript).into_owned()
}

#[test]
fn greets_as_lmtp_and_takes_only_lhlo() {
    let mut d = driver();
    d.feed(b"EHLO c\r\nHELO c\r\nLHLO c\r\n");
    assert_eq!(d.codes(), [220, 500, 500, 250]);
    let t = text(&d);
    assert!(t.starts_with("220 mx.example LMTP"), "{t}");
    assert!(t.contains("500 5.5.1 Error: this is LMTP"), "{t}");
    assert!(
        t.contains("250-PIPELINING\r\n") && t.contains("250-CHUNKING\r\n"),
        "{t}"
    );
}

#[test]
fn smtp_does_not_take_lhlo() {
    let mut d = SmtpTestDriver::new(SmtpServerConfig::default(), &[], Instant::now());
    d.feed(b"LHLO c\r\n");
    assert_eq!(d.codes(), [220, 500]);
}

#[test]
fn one_reply_per_accepted_recipient_after_data() {
    let mut d = driver();
    d.full_mailboxes = vec!["bob".into()];
    d.feed(b"LHLO c\r\nMAIL FROM:<s@x.example>\r\nRCPT TO:<alice@mx.example>\r\n");
    d.feed(b"RCPT TO:<nobody@mx.example>\r\nRCPT TO:<bob@mx.example>\r\n");
    d.feed(b"RCPT TO:<carol@mx.example>\r\nDATA\r\nSubject: t\r\n\r\nhi\r\n.\r\n");
    assert_eq!(
        d.codes(),
        [220, 250, 250, 250, 550, 250, 250, 354, 250, 452, 250]
    );
    let t = text(&d);
    let after = &t[t.find("354").unwrap()..];
    let order: Vec<&str> = [
        "<alice@mx.example>",
        "<bob@mx.example>",
        "<carol@mx.example>",
    ]
    .into_iter()
    .filter(|a| after.contains(a))
    .collect();
    assert_eq!(order.len(), 3, "{after}");
    assert!(after.find("alice").unwrap() < after.find("bob").unwrap());
    assert!(after.find("bob").unwrap() < after.find("carol").unwrap());
    // The session goes on.
    d.feed(b"RSET\r\nQUIT\r\n");
    assert_eq!(d.codes().last(), Some(&221));
}

#[test]
fn the_received_field_says_lmtp() {
    let mut d = driver();
    d.feed(b"LHLO c\r\nMAIL FROM:<s@x.example>\r\nRCPT TO:<alice@mx.example>\r\n");
    d.feed(b"DATA\r\nSubject: t\r\n\r\nhi\r\n.\r\n");
    let body = String::from_utf8_lossy(&d.messages[0].1).into_owned();
    assert!(body.contains("with LMTP id Q0001"), "{body}");
}

#[test]
fn a_repeated_recipient_gets_its_own_reply() {
    let mut d = driver();
    d.feed(b"LHLO c\r\nMAIL FROM:<s@x.example>\r\nRCPT TO:<alice@mx.example>\r\n");
    d.feed(b"RCPT TO:<alice@mx.example>\r\nDATA\r\nx\r\n.\r\n");
    assert_eq!(d.codes(), [220, 250, 250, 250, 250, 354, 250, 250]);
}

#[test]
fn bdat_last_gets_one_reply_per_recipient() {
    let mut d = driver();
    d.feed(b"LHLO c\r\nMAIL FROM:<s@x.example>\r\nRCPT TO:<alice@mx.example>\r\n");
    d.feed(b"RCPT TO:<bob@mx.example>\r\nBDAT 3\r\nab\nBDAT 2 LAST\r\nc\n");
    assert_eq!(d.codes(), [220, 250, 250, 250, 250, 250, 250, 250]);
    assert_eq!(d.messages.len(), 1);
}

#[test]
fn a_message_refused_whole_is_refused_for_each_recipient() {
    let mut d = driver();
    d.feed(b"LHLO c\r\nMAIL FROM:<s@x.example>\r\nRCPT TO:<alice@mx.example>\r\n");
    d.feed(b"RCPT TO:<bob@mx.example>\r\nDATA\r\n");
    let mut big = Vec::new();
    for _ in 0..60 {
        big.extend_from_slice(b"0123456789012345678901234567890123456789\r\n");
    }
    big.extend_from_slice(b".\r\n");
    d.feed(&big);
    assert_eq!(d.codes(), [220, 250, 250, 250, 250, 354, 552, 552]);
    assert!(d.messages.is_empty());
    assert!(d.events.iter().any(|e| matches!(e, SmtpEvent::DataAborted)));
    // A last chunk over the limit: one 552 per recipient too.
    d.feed(b"MAIL FROM:<s@x.example>\r\nRCPT TO:<alice@mx.example>\r\n");
    d.feed(b"RCPT TO:<bob@mx.example>\r\nBDAT 3000 LAST\r\n");
    d.feed(&vec![b'x'; 3000]);
    let codes = d.codes();
    assert_eq!(&codes[codes.len() - 5..], [250, 250, 250, 552, 552]);
}

#[test]
fn data_without_recipients_is_503() {
    let mut d = driver();
    d.feed(b"LHLO c\r\nMAIL FROM:<s@x.example>\r\nRCPT TO:<nobody@mx.example>\r\nDATA\r\n");
    assert_eq!(d.codes(), [220, 250, 250, 550, 503]);
}

/// A whole LMTP session: two messages (DATA and BDAT), a refused recipient, a full
/// mailbox.
fn script() -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(b"LHLO c\r\nMAIL FROM:<s@x.example>\r\nRCPT TO:<alice@mx.example>\r\n");
    s.extend_from_slice(b"RCPT TO:<nobody@mx.example>\r\nRCPT TO:<bob@mx.example>\r\n");
    s.extend_from_slice(b"DATA\r\nSubject: t\r\n\r\n..dot\r\n.\r\n");
    s.extend_from_slice(
        b"MAIL FROM:<>\r\nRCPT TO:<carol@mx.example>\r\nRCPT TO:<bob@mx.example>\r\n",
    );
    s.extend_from_slice(b"BDAT 4\r\nab\r\nBDAT 0 LAST\r\nQUIT\r\n");
    s
}

fn run(chunks: &[&[u8]]) -> (Vec<u8>, usize) {
    let mut d = driver();
    d.full_mailboxes = vec!["bob".into()];
    for c in chunks {
        d.feed(c);
    }
    (d.transcript, d.messages.len())
}

proptest::proptest! {
    /// Split anywhere, the session answers the same as when it arrives whole.
    #[test]
    fn split_input_answers_as_whole(cuts in proptest::collection::vec(0usize..300, 0..8)) {
        let s = script();
        let whole = run(&[&s]);
        proptest::prop_assert_eq!(run(&split_at_cuts(&s, &cuts)), whole);
    }
}

#[test]
fn the_whole_script_is_answered_per_recipient() {
    let mut d = driver();
    d.full_mailboxes = vec!["bob".into()];
    d.feed(&script());
    assert_eq!(
        d.codes(),
        [220, 250, 250, 250, 550, 250, 354, 250, 452, 250, 250, 250, 250, 250, 452, 221]
    );
}
