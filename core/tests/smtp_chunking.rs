//! BDAT (RFC 3030 CHUNKING) in the server machine: chunks taken whole and in pieces,
//! refused chunks read and dropped, the size limit, DATA mixed with BDAT, input pipelined
//! behind STARTTLS, and the end of a session inside a chunk.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use postrider_core::machine::Machine;
use postrider_core::smtp::{SmtpEvent, SmtpServerConfig};
use postrider_core::testing::SmtpTestDriver;

fn driver() -> SmtpTestDriver {
    let mut c = SmtpServerConfig::default();
    c.hostname = "mx.example".into();
    c.max_message_size = 2000;
    c.max_errors = 10;
    c.starttls = true;
    c.data_timeout = Duration::from_secs(180);
    SmtpTestDriver::new(c, &[], Instant::now())
}

fn start(d: &mut SmtpTestDriver) {
    d.feed(b"EHLO client.example\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@mx.example>\r\n");
}

#[test]
fn chunks_make_one_message_with_crlf_lines() {
    let mut d = driver();
    start(&mut d);
    let ehlo = String::from_utf8_lossy(&d.transcript).into_owned();
    assert!(ehlo.contains("250-CHUNKING\r\n"), "{ehlo}");
    d.feed(b"BDAT 14\r\nSubject: x\r\n\r\nBDAT 0\r\n");
    d.feed(b"BDAT 6 LAST\r\nhi\nyo\n");
    assert_eq!(d.codes(), [220, 250, 250, 250, 250, 250, 250]);
    let text = String::from_utf8_lossy(&d.transcript).into_owned();
    assert!(
        text.contains("250 2.0.0 Ok: 14 octets received\r\n"),
        "{text}"
    );
    assert!(text.contains("250 2.0.0 Ok: queued as Q"), "{text}");
    let (_, b) = d.messages.last().unwrap();
    assert!(
        b.ends_with(b"Subject: x\r\n\r\nhi\r\nyo\r\n"),
        "{}",
        String::from_utf8_lossy(b)
    );
}

#[test]
fn chunk_octets_are_never_commands_even_one_at_a_time() {
    let mut d = driver();
    start(&mut d);
    for b in b"BDAT 10 LAST\r\nQUIT\r\nRSET".iter() {
        d.feed(&[*b]);
    }
    assert_eq!(d.messages.len(), 1);
    assert!(!d.server.is_closed());
    assert!(d.messages[0].1.ends_with(b"QUIT\r\nRSET"));
}

#[test]
fn refused_chunks_are_read_and_dropped() {
    let mut d = driver();
    d.feed(b"EHLO c\r\nBDAT 4\r\nQUIT");
    assert_eq!(d.codes(), [220, 250, 503]);
    assert!(
        !d.server.is_closed(),
        "the chunk's octets are not a command"
    );
    // Too large: refused, read and dropped, and the message is gone.
    d.feed(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@mx.example>\r\nBDAT 10\r\n0123456789");
    d.feed(format!("BDAT 2500\r\n{}", "x".repeat(2500)).as_bytes());
    d.feed(b"BDAT 1 LAST\r\nz");
    let codes = d.codes();
    assert_eq!(&codes[codes.len() - 3..], [250, 552, 503], "{codes:?}");
    assert!(d.messages.is_empty());
    assert!(d.events.iter().any(|e| matches!(e, SmtpEvent::DataAborted)));
}

#[test]
fn data_after_bdat_is_refused() {
    let mut d = driver();
    start(&mut d);
    d.feed(b"BDAT 3\r\nabcDATA\r\n");
    assert_eq!(d.codes().last(), Some(&503));
    d.feed(b"BDAT 2 LAST\r\nde");
    assert!(d.messages[0].1.ends_with(b"abcde"));
}

#[test]
fn bdat_pipelined_behind_starttls_is_dropped() {
    let mut d = driver();
    d.feed(b"EHLO c\r\nSTARTTLS\r\nMAIL FROM:<a@x.example>\r\nBDAT 5 LAST\r\nhello");
    assert!(d.tls_requested);
    d.finish_tls();
    assert_eq!(d.codes(), [220, 250, 220]);
    assert!(d.messages.is_empty());
}

#[test]
fn a_session_ending_inside_a_chunk_discards_the_message() {
    let mut d = driver();
    start(&mut d);
    d.feed(b"BDAT 100 LAST\r\nonly part");
    d.server.handle_eof(d.now);
    d.pump();
    assert!(d.messages.is_empty());
    assert!(matches!(
        d.events.iter().rev().nth(1),
        Some(SmtpEvent::DataAborted)
    ));
}

#[test]
fn binarymime_octets_are_kept_and_need_bdat() {
    let mut d = driver();
    let ehlo = {
        d.feed(b"EHLO c\r\n");
        String::from_utf8_lossy(&d.transcript).into_owned()
    };
    assert!(ehlo.contains("250-BINARYMIME\r\n"), "{ehlo}");
    d.feed(b"MAIL FROM:<a@x.example> BODY=BINARYMIME\r\nRCPT TO:<b@mx.example>\r\nDATA\r\n");
    assert_eq!(d.codes().last(), Some(&503));
    d.feed(b"BDAT 7 LAST\r\n\x00a\nb\rc\n");
    assert_eq!(d.messages.len(), 1);
    assert!(d.messages[0].1.ends_with(b"\x00a\nb\rc\n"));
}
