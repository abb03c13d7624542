//! Behaviour of the server machine under limits, timeouts and STARTTLS, with a virtual
//! clock.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use postrider_core::smtp::{SmtpEvent, SmtpServerConfig};
use postrider_core::testing::SmtpTestDriver;

fn config() -> SmtpServerConfig {
    let mut c = SmtpServerConfig::default();
    c.hostname = "mx.example".into();
    c.max_errors = 3;
    c.max_recipients = 2;
    c.max_message_size = 2000;
    c.command_timeout = Duration::from_secs(300);
    c.data_timeout = Duration::from_secs(180);
    c.starttls = true;
    c
}

fn last_line(d: &SmtpTestDriver) -> String {
    let r = d.replies();
    let r = r.last().unwrap();
    format!(
        "{} {}",
        r.code,
        r.enhanced.map(|e| e.to_string()).unwrap_or_default()
    )
}

#[test]
fn command_timeout_closes_with_421() {
    let mut d = SmtpTestDriver::new(config(), &[], std::time::Instant::now());
    d.advance(Duration::from_secs(299));
    assert_eq!(d.codes(), [220]);
    d.advance(Duration::from_secs(2));
    assert_eq!(last_line(&d), "421 4.4.2");
    assert!(d.server.is_closed());
    assert!(matches!(d.events.last(), Some(SmtpEvent::Closed { .. })));
}

#[test]
fn data_timeout_aborts_message() {
    let mut d = SmtpTestDriver::new(config(), &[], std::time::Instant::now());
    d.feed(b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\npartial");
    d.advance(Duration::from_secs(181));
    assert_eq!(last_line(&d), "421 4.4.2");
    assert!(d.events.contains(&SmtpEvent::DataAborted));
    assert!(d.messages.is_empty());
}

#[test]
fn error_budget() {
    let mut d = SmtpTestDriver::new(config(), &[], std::time::Instant::now());
    d.feed(b"X\r\nY\r\nZ\r\nNOOP\r\n");
    assert_eq!(d.codes(), [220, 500, 500, 500, 421]);
    assert!(d.server.is_closed());
}

#[test]
fn too_many_recipients_is_not_an_error() {
    let mut d = SmtpTestDriver::new(config(), &[], std::time::Instant::now());
    d.feed(b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<a@d>\r\nRCPT TO:<b@d>\r\n");
    d.feed(b"RCPT TO:<c@d>\r\nRCPT TO:<e@d>\r\nRCPT TO:<f@d>\r\nRCPT TO:<a@d>\r\nNOOP\r\n");
    assert_eq!(
        d.codes(),
        [220, 250, 250, 250, 250, 452, 452, 452, 250, 250]
    );
}

#[test]
fn overlong_line_is_swallowed_across_chunks() {
    let mut d = SmtpTestDriver::new(config(), &[], std::time::Instant::now());
    d.feed(b"NOOP ");
    for _ in 0..10 {
        d.feed(&[b'x'; 100]);
    }
    d.feed(b"still the same line\r\nNOOP\r\n");
    assert_eq!(d.codes(), [220, 500, 250]);
}

#[test]
fn size_limits() {
    let mut d = SmtpTestDriver::new(config(), &[], std::time::Instant::now());
    d.feed(b"EHLO c\r\nMAIL FROM:<a@b> SIZE=2001\r\nMAIL FROM:<a@b> SIZE=10\r\nRCPT TO:<c@d>\r\nDATA\r\n");
    let big = "x".repeat(100);
    for _ in 0..30 {
        d.feed(format!("{big}\r\n").as_bytes());
    }
    d.feed(b".\r\nNOOP\r\n");
    assert_eq!(d.codes(), [220, 250, 552, 250, 250, 354, 552, 250]);
    assert!(d.messages.is_empty());
    assert!(d.events.contains(&SmtpEvent::DataAborted));
}

#[test]
fn long_text_line_refused() {
    let mut d = SmtpTestDriver::new(config(), &[], std::time::Instant::now());
    d.feed(b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
    d.feed(format!("{}\r\n.\r\n", "y".repeat(999)).as_bytes());
    assert_eq!(last_line(&d), "500 5.5.2");
    assert!(d.messages.is_empty());
}

#[test]
fn starttls_discards_pipelined_input_and_resets() {
    let mut d = SmtpTestDriver::new(config(), &[], std::time::Instant::now());
    d.feed(b"EHLO c\r\nMAIL FROM:<a@b>\r\n");
    d.feed(b"RSET\r\nSTARTTLS\r\nMAIL FROM:<injected@x>\r\n");
    assert!(d.tls_requested);
    assert!(!d.server.wants_input());
    d.finish_tls();
    assert_eq!(d.codes(), [220, 250, 250, 250, 220]);
    d.feed(b"MAIL FROM:<a@b>\r\nEHLO c\r\nSTARTTLS\r\n");
    let replies = d.replies();
    let n = replies.len();
    assert_eq!(replies[n - 3].code, 503);
    assert!(!replies[n - 2].lines.iter().any(|l| l == "STARTTLS"));
    assert_eq!(replies[n - 1].code, 554);
}

#[test]
fn require_auth_refuses_mail() {
    let mut c = config();
    c.require_auth = true;
    let mut d = SmtpTestDriver::new(c, &[], std::time::Instant::now());
    d.feed(b"EHLO c\r\nMAIL FROM:<a@b>\r\nAUTH PLAIN\r\n");
    assert_eq!(d.codes(), [220, 250, 530, 503]);
}

#[test]
fn eof_inside_data_aborts() {
    let mut d = SmtpTestDriver::new(config(), &[], std::time::Instant::now());
    d.feed(b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhalf a message");
    d.server.handle_eof(d.now);
    d.pump();
    assert!(d.events.contains(&SmtpEvent::DataAborted));
    assert!(matches!(d.events.last(), Some(SmtpEvent::Closed { .. })));
}
