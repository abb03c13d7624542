//! Behaviour of the server machine under limits, timeouts and STARTTLS, with a virtual
//! clock.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use postrider_core::machine::Machine;
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

#[test]
fn pipelined_input_is_buffered_while_held_up_to_the_cap() {
    let mut c = tls_auth_config();
    c.max_pipelined = 100;
    let mut d = after_tls(c);
    let n = d.replies().len();
    d.feed(b"AUTH PLAIN AGFsaWNlAHdyb25n\r\n");
    for _ in 0..17 {
        assert!(d.server.wants_input());
        d.feed(b"NOOP\r\n");
    }
    assert!(
        !d.server.wants_input(),
        "102 bytes waiting: the cap of 100 is reached"
    );
    d.advance(Duration::from_secs(2));
    assert_eq!(d.codes()[n..], [[535].as_slice(), &[250; 17]].concat());
    assert!(d.server.wants_input(), "consumed once the answer went out");
}

fn tls_auth_config() -> SmtpServerConfig {
    let mut c = config();
    c.auth = true;
    c.require_auth = true;
    c.max_errors = 10;
    c.auth_failure_delay = Duration::from_secs(2);
    c
}

/// A session that has done EHLO and STARTTLS.
fn after_tls(c: SmtpServerConfig) -> SmtpTestDriver {
    let mut d = SmtpTestDriver::new(c, &[], std::time::Instant::now());
    d.feed(b"EHLO c\r\nSTARTTLS\r\n");
    d.finish_tls();
    d.feed(b"EHLO c\r\n");
    d
}

#[test]
fn requiretls_is_offered_and_accepted_only_under_tls() {
    let mut d = SmtpTestDriver::new(config(), &["bob"], std::time::Instant::now());
    d.feed(b"EHLO c\r\nMAIL FROM:<a@b> REQUIRETLS\r\n");
    let r = d.replies();
    assert!(!r[1].lines.iter().any(|l| l == "REQUIRETLS"));
    assert_eq!(last_line(&d), "530 5.7.10");
    let mut d = after_tls(config());
    d.feed(b"MAIL FROM:<a@b> REQUIRETLS=yes\r\nMAIL FROM:<a@b> REQUIRETLS\r\n");
    let r = d.replies();
    assert!(r.iter().any(|r| r.lines.iter().any(|l| l == "REQUIRETLS")));
    assert_eq!(r[r.len() - 2].code, 501);
    assert_eq!(last_line(&d), "250 2.1.0");
}

#[test]
fn auth_is_offered_only_under_tls_unless_plaintext_allowed() {
    let mut d = SmtpTestDriver::new(tls_auth_config(), &[], std::time::Instant::now());
    d.feed(b"EHLO c\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nMAIL FROM:<a@b>\r\n");
    let r = d.replies();
    assert!(!r[1].lines.iter().any(|l| l.starts_with("AUTH")));
    assert_eq!(last_line(&d), "530 5.7.0");
    assert_eq!(r[2].code, 530);
    let mut c = tls_auth_config();
    c.allow_plaintext_auth = true;
    let mut d = SmtpTestDriver::new(c, &[], std::time::Instant::now());
    d.feed(b"EHLO c\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    assert!(d.replies()[1].lines.iter().any(|l| l == "AUTH PLAIN LOGIN"));
    assert_eq!(last_line(&d), "235 2.7.0");
    assert_eq!(d.server.authenticated(), Some("alice"));
}

#[test]
fn auth_plain_then_mail_and_received_says_esmtpsa() {
    let mut d = after_tls(tls_auth_config());
    d.feed(b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    assert_eq!(last_line(&d), "235 2.7.0");
    d.feed(b"MAIL FROM:<alice@a>\r\nRCPT TO:<x@y>\r\nDATA\r\nSubject: t\r\n\r\nhi\r\n.\r\n");
    assert_eq!(d.messages.len(), 1);
    let body = String::from_utf8(d.messages[0].1.clone()).unwrap();
    assert!(
        body.contains("(Authenticated sender: alice)\r\n\tby mx.example (using TLSv1.3 with cipher TEST) with ESMTPSA id"),
        "{body}"
    );
    // A new EHLO does not advertise AUTH again; STARTTLS is over.
    d.feed(b"EHLO c\r\n");
    assert!(!d
        .replies()
        .last()
        .unwrap()
        .lines
        .iter()
        .any(|l| l.starts_with("AUTH")));
}

#[test]
fn auth_login_in_steps_and_cancel() {
    let mut d = after_tls(tls_auth_config());
    d.feed(b"AUTH LOGIN\r\n");
    assert_eq!(d.replies().last().unwrap().lines, ["VXNlcm5hbWU6"]);
    d.feed(b"*\r\n");
    assert_eq!(last_line(&d), "501 5.7.0");
    d.feed(b"AUTH LOGIN YWxpY2U=\r\n");
    assert_eq!(d.replies().last().unwrap().lines, ["UGFzc3dvcmQ6"]);
    d.feed(b"c2VjcmV0\r\n");
    assert_eq!(last_line(&d), "235 2.7.0");
    d.feed(b"AUTH CRAM-MD5\r\n");
    assert_eq!(last_line(&d), "503 5.5.1");
}

#[test]
fn failed_auth_is_delayed_growing_and_limited() {
    let mut d = after_tls(tls_auth_config());
    let n = d.replies().len();
    // Wrong password, then a pipelined NOOP that must wait for the delayed 535.
    d.feed(b"AUTH PLAIN AGFsaWNlAHdyb25n\r\nNOOP\r\n");
    assert_eq!(d.replies().len(), n);
    assert!(
        d.server.wants_input(),
        "pipelined input is still read while held"
    );
    d.advance(Duration::from_millis(1999));
    assert_eq!(d.replies().len(), n);
    d.advance(Duration::from_millis(1));
    assert_eq!(d.codes()[n..], [535, 250]);
    d.feed(b"AUTH PLAIN AGFsaWNlAHdyb25n\r\n");
    d.advance(Duration::from_secs(3));
    assert_eq!(d.replies().len(), n + 2, "second failure waits 4 s");
    d.advance(Duration::from_secs(1));
    assert_eq!(last_line(&d), "535 5.7.8");
    d.feed(b"AUTH PLAIN AGFsaWNlAHdyb25n\r\n");
    d.advance(Duration::from_secs(6));
    assert_eq!(d.codes()[n + 3..], [535, 421]);
    assert!(d.server.is_closed());
}

#[test]
fn a_login_penalty_holds_even_the_right_password() {
    let mut d = after_tls(tls_auth_config());
    d.auth_hold = Duration::from_secs(5);
    let n = d.replies().len();
    d.feed(b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nNOOP\r\n");
    d.advance(Duration::from_millis(4999));
    assert_eq!(d.replies().len(), n, "held, and the pipelined NOOP waits");
    d.advance(Duration::from_millis(1));
    assert_eq!(d.codes()[n..], [235, 250]);
    assert_eq!(d.server.authenticated(), Some("alice"));
    // A failure waits the longer of the penalty and the session's own delay (2 s).
    d.feed(b"AUTH PLAIN AGFsaWNlAHdyb25n\r\n");
    assert_eq!(last_line(&d), "503 5.5.1", "already authenticated");
}

#[test]
fn a_login_penalty_longer_than_the_failure_delay_holds_the_failure() {
    let mut d = after_tls(tls_auth_config());
    d.auth_hold = Duration::from_secs(7);
    let n = d.replies().len();
    d.feed(b"AUTH PLAIN AGFsaWNlAHdyb25n\r\n");
    d.advance(Duration::from_millis(6999));
    assert_eq!(d.replies().len(), n);
    d.advance(Duration::from_millis(1));
    assert_eq!(d.codes()[n..], [535]);
}

#[test]
fn slow_drip_does_not_extend_the_command_timeout() {
    let mut d = SmtpTestDriver::new(config(), &[], std::time::Instant::now());
    for b in b"EHLO slowly.example".iter().cycle().take(400) {
        d.feed(&[*b]);
        d.advance(Duration::from_secs(1));
        if d.server.is_closed() {
            break;
        }
    }
    assert_eq!(last_line(&d), "421 4.4.2");
    // A complete line does move the deadline.
    let mut d = SmtpTestDriver::new(config(), &[], std::time::Instant::now());
    d.advance(Duration::from_secs(200));
    d.feed(b"NOOP\r\n");
    d.advance(Duration::from_secs(200));
    assert!(!d.server.is_closed());
}

#[test]
fn message_limit_per_connection() {
    let mut c = config();
    c.max_messages = 1;
    let mut d = SmtpTestDriver::new(c, &[], std::time::Instant::now());
    d.feed(b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhi\r\n.\r\nMAIL FROM:<a@b>\r\n");
    assert_eq!(last_line(&d), "421 4.7.0");
    assert!(d.server.is_closed());
    assert_eq!(d.messages.len(), 1);
}

#[test]
fn dsn_parameters_are_checked_and_kept() {
    let mut c = config();
    c.max_errors = 10;
    let mut d = SmtpTestDriver::new(c, &[], std::time::Instant::now());
    d.feed(b"EHLO c\r\n");
    assert!(d.replies()[1].lines.iter().any(|l| l == "DSN"));
    d.feed(b"MAIL FROM:<a@b> RET=BOGUS\r\n");
    assert_eq!(last_line(&d), "501 5.5.4");
    d.feed(b"MAIL FROM:<a@b> RET=HDRS ENVID=QQ314159\r\n");
    d.feed(b"RCPT TO:<c@d> NOTIFY=SOMETIMES\r\n");
    assert_eq!(last_line(&d), "501 5.5.4");
    d.feed(b"RCPT TO:<c@d> XFOO=1\r\n");
    assert_eq!(last_line(&d), "555 5.5.4");
    d.feed(b"RCPT TO:<c@d> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c+40d\r\nDATA\r\nhi\r\n.\r\n");
    assert_eq!(last_line(&d), "250 2.0.0");
    let (env, _) = &d.messages[0];
    assert!(env.mail_params.iter().any(|p| p.is("ENVID")));
    assert_eq!(env.recipients[0].1.len(), 2);
}

#[test]
fn vrfy_policies() {
    use postrider_core::smtp::VrfyPolicy;
    let mut d = SmtpTestDriver::new(config(), &["bob"], std::time::Instant::now());
    d.feed(b"VRFY nobody\r\n");
    assert_eq!(last_line(&d), "252 2.0.0");
    let mut c = config();
    c.vrfy = VrfyPolicy::Verify;
    let mut d = SmtpTestDriver::new(c, &["bob"], std::time::Instant::now());
    d.feed(b"VRFY bob\r\nVRFY <nobody@x>\r\n");
    assert_eq!(d.codes(), [220, 252, 550]);
    let mut c = config();
    c.vrfy = VrfyPolicy::Disabled;
    let mut d = SmtpTestDriver::new(c, &["bob"], std::time::Instant::now());
    d.feed(b"VRFY bob\r\n");
    assert_eq!(last_line(&d), "502 5.5.1");
}
