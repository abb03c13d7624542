//! The SMTP client machine against the server machine over an in-memory pipe with a
//! virtual clock: pipelining, STARTTLS, per-recipient results, size and 8-bit checks,
//! timeouts.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use postrider_core::machine::{Machine, TlsInfo};
use postrider_core::smtp::client::{
    ClientConfig, ClientEvent, ClientMessage, ClientRecipient, RecipientResult, SessionOutcome,
    SmtpClient, TlsPolicy,
};
use postrider_core::smtp::SmtpServerConfig;
use postrider_core::testing::SmtpTestDriver;

fn message(rcpts: &[&str], content: &[u8]) -> ClientMessage {
    ClientMessage {
        sender: "alice@a.test".into(),
        recipients: rcpts
            .iter()
            .map(|r| ClientRecipient {
                address: r.to_string(),
                notify: Some("FAILURE".into()),
                orcpt: None,
            })
            .collect(),
        ret: Some("HDRS".into()),
        envid: None,
        content: Bytes::copy_from_slice(content),
        binary: false,
        require_tls: false,
    }
}

/// Runs a whole session; returns the outcome and the client's side of the transcript.
fn run(
    server_config: SmtpServerConfig,
    users: &[&str],
    client_config: ClientConfig,
    msg: ClientMessage,
) -> (SessionOutcome, SmtpTestDriver, String) {
    run_cut(server_config, users, client_config, msg, &[])
}

/// [`run`], with each batch of server output given to the client cut at `cuts`.
fn run_cut(
    server_config: SmtpServerConfig,
    users: &[&str],
    client_config: ClientConfig,
    msg: ClientMessage,
    cuts: &[usize],
) -> (SessionOutcome, SmtpTestDriver, String) {
    let start = Instant::now();
    let mut d = SmtpTestDriver::new(server_config, users, start);
    let mut c = SmtpClient::new(client_config, msg, start);
    let mut seen = 0;
    let mut sent = Vec::new();
    for _ in 0..1000 {
        if d.transcript.len() > seen {
            let fresh = d.transcript[seen..].to_vec();
            seen = d.transcript.len();
            let mut last = 0;
            for &cut in cuts
                .iter()
                .filter(|&&x| x < fresh.len())
                .chain([&fresh.len()])
            {
                if cut > last {
                    c.handle_input(d.now, &fresh[last..cut]);
                    last = cut;
                }
            }
        }
        while let Some(out) = c.poll_transmit() {
            sent.extend_from_slice(&out);
            d.feed(&out);
        }
        match c.poll_event() {
            Some(ClientEvent::StartTls) => {
                // Both sides "handshake".
                assert!(d.tls_requested);
                d.finish_tls();
                c.tls_established(
                    d.now,
                    TlsInfo {
                        version: "TLSv1.3".into(),
                        cipher: "TEST".into(),
                    },
                );
            }
            Some(ClientEvent::Done) => {
                let o = c.take_outcome().unwrap();
                return (o, d, String::from_utf8_lossy(&sent).into_owned());
            }
            None => {}
        }
        if d.transcript.len() == seen && c.poll_timeout().is_some() {
            // Nothing moves: let time pass.
            d.now += Duration::from_secs(1);
            if c.poll_timeout().is_some_and(|t| t <= d.now) {
                c.handle_timeout(d.now);
            }
        }
    }
    panic!("session did not finish");
}

fn server() -> SmtpServerConfig {
    let mut c = SmtpServerConfig::default();
    c.hostname = "mx.b.test".into();
    c
}

#[test]
fn pipelined_delivery_with_per_recipient_results() {
    let (o, d, sent) = run(
        server(),
        &["bob", "carol"],
        ClientConfig::default(),
        message(
            &["bob@b.test", "nobody@b.test", "carol@b.test"],
            b"Subject: x\r\n\r\n.dot line\r\nend\r\n",
        ),
    );
    assert!(matches!(o.recipients[0], RecipientResult::Delivered(_)));
    match &o.recipients[1] {
        RecipientResult::Failed(text, Some(r)) => {
            assert_eq!(r.code, 550);
            assert!(text.contains("in reply to RCPT TO"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(o.recipients[2], RecipientResult::Delivered(_)));
    assert_eq!(d.messages.len(), 1);
    let (env, body) = &d.messages[0];
    assert_eq!(env.recipients.len(), 2);
    // DSN parameters went along, and the dot was stuffed and unstuffed.
    assert!(
        sent.contains("RCPT TO:<bob@b.test> NOTIFY=FAILURE"),
        "{sent}"
    );
    assert!(sent.contains("RET=HDRS"));
    assert!(String::from_utf8_lossy(body).ends_with("\r\n.dot line\r\nend\r\n"));
    // The server offers CHUNKING: one BDAT carries the message as it is (RFC 3030).
    assert!(
        sent.contains("BDAT 30 LAST\r\nSubject: x\r\n\r\n.dot line\r\nend\r\nQUIT"),
        "{sent}"
    );
    assert!(!sent.contains("DATA\r\n"), "{sent}");
    // MAIL, three RCPTs and BDAT in one write (RFC 2920).
    assert!(sent.contains("MAIL FROM:<alice@a.test> SIZE=30 RET=HDRS\r\nRCPT TO:<bob@b.test>"));
    assert!(!o.try_next_host);
}

#[test]
fn starttls_when_offered_then_ehlo_again() {
    let mut s = server();
    s.starttls = true;
    let (o, d, sent) = run(
        s,
        &["bob"],
        ClientConfig::default(),
        message(&["bob@b.test"], b"Subject: x\r\n\r\nhi\r\n"),
    );
    assert!(matches!(o.recipients[0], RecipientResult::Delivered(_)));
    assert_eq!(o.tls.unwrap().version, "TLSv1.3");
    assert_eq!(sent.matches("EHLO").count(), 2);
    let body = String::from_utf8_lossy(&d.messages[0].1).into_owned();
    assert!(body.contains("with ESMTPS"), "{body}");
}

#[test]
fn required_tls_without_starttls_defers_and_tries_next_host() {
    let mut cfg = ClientConfig::default();
    cfg.tls = TlsPolicy::Required;
    let (o, d, _) = run(server(), &["bob"], cfg, message(&["bob@b.test"], b"x\r\n"));
    assert!(matches!(o.recipients[0], RecipientResult::Deferred(_)));
    assert!(o.try_next_host);
    assert!(d.messages.is_empty());
}

#[test]
fn requiretls_goes_along_over_tls_and_fails_without_it() {
    // RFC 8689: the server offers REQUIRETLS after STARTTLS; the client passes it on.
    let mut s = server();
    s.starttls = true;
    let mut m = message(&["bob@b.test"], b"Subject: x\r\n\r\nhi\r\n");
    m.require_tls = true;
    let (o, d, sent) = run(s, &["bob"], ClientConfig::default(), m.clone());
    assert!(
        matches!(o.recipients[0], RecipientResult::Delivered(_)),
        "{o:?}"
    );
    assert!(sent.contains(" REQUIRETLS"), "{sent}");
    let (env, _) = &d.messages[0];
    assert!(env.mail_params.iter().any(|p| p.is("REQUIRETLS")));
    // Without TLS the server offers no REQUIRETLS: the message fails with 5.7.30, and
    // nothing is sent.
    let (o, d, sent) = run(server(), &["bob"], ClientConfig::default(), m);
    match &o.recipients[0] {
        RecipientResult::Failed(_, Some(r)) => {
            assert_eq!(r.enhanced.map(|e| e.to_string()).as_deref(), Some("5.7.30"))
        }
        other => panic!("{other:?}"),
    }
    assert!(!sent.contains("MAIL FROM"));
    assert!(d.messages.is_empty());
}

#[test]
fn size_and_eight_bit_limits_fail_without_sending() {
    let mut s = server();
    s.max_message_size = 10;
    let (o, d, sent) = run(
        s,
        &["bob"],
        ClientConfig::default(),
        message(&["bob@b.test"], b"Subject: a long message\r\n\r\nhi\r\n"),
    );
    match &o.recipients[0] {
        RecipientResult::Failed(_, Some(r)) => assert_eq!(r.code, 552),
        other => panic!("{other:?}"),
    }
    assert!(!sent.contains("MAIL FROM"));
    assert!(d.messages.is_empty());
    // 8-bit content goes with BODY=8BITMIME.
    let (o, _, sent) = run(
        server(),
        &["bob"],
        ClientConfig::default(),
        message(&["bob@b.test"], "Subject: é\r\n\r\nhi\r\n".as_bytes()),
    );
    assert!(matches!(o.recipients[0], RecipientResult::Delivered(_)));
    assert!(sent.contains("BODY=8BITMIME"));
}

#[test]
fn helo_fallback_when_ehlo_is_refused() {
    // A client speaking to a server that refuses EHLO: feed replies by hand.
    let now = Instant::now();
    let mut c = SmtpClient::new(
        ClientConfig::default(),
        message(&["bob@b.test"], b"hi\r\n"),
        now,
    );
    c.handle_input(now, b"220 old.example\r\n");
    assert_eq!(c.poll_transmit().unwrap(), b"EHLO localhost\r\n");
    c.handle_input(now, b"502 what\r\n");
    assert_eq!(c.poll_transmit().unwrap(), b"HELO localhost\r\n");
    c.handle_input(now, b"250 old.example\r\n");
    // No PIPELINING after HELO: one command at a time, no SIZE parameter.
    assert_eq!(c.poll_transmit().unwrap(), b"MAIL FROM:<alice@a.test>\r\n");
    c.handle_input(now, b"250 ok\r\n");
    assert_eq!(c.poll_transmit().unwrap(), b"RCPT TO:<bob@b.test>\r\n");
    c.handle_input(now, b"451 4.3.0 try later\r\n");
    assert_eq!(c.poll_transmit().unwrap(), b"QUIT\r\n");
    c.handle_input(now, b"221 bye\r\n");
    assert_eq!(c.poll_event(), Some(ClientEvent::Done));
    let o = c.take_outcome().unwrap();
    assert!(matches!(&o.recipients[0], RecipientResult::Deferred(t) if t.contains("451 4.3.0")));
    assert!(!o.try_next_host);
}

#[test]
fn greeting_timeout_and_refusal() {
    let now = Instant::now();
    let mut c = SmtpClient::new(
        ClientConfig::default(),
        message(&["b@b.test"], b"x\r\n"),
        now,
    );
    c.handle_timeout(now + Duration::from_secs(299));
    assert!(!c.is_closed());
    c.handle_timeout(now + Duration::from_secs(300));
    let o = c.take_outcome().unwrap();
    assert!(o.try_next_host);
    assert!(matches!(&o.recipients[0], RecipientResult::Deferred(t) if t.contains("timeout")));

    let mut c = SmtpClient::new(
        ClientConfig::default(),
        message(&["b@b.test"], b"x\r\n"),
        now,
    );
    c.handle_input(now, b"554 5.7.1 go away\r\n");
    assert_eq!(c.poll_transmit().unwrap(), b"QUIT\r\n");
    c.handle_eof(now);
    let o = c.take_outcome().unwrap();
    assert!(o.try_next_host);
    assert!(matches!(&o.recipients[0], RecipientResult::Failed(_, Some(r)) if r.code == 554));
}

#[test]
fn connection_lost_after_data_defers() {
    let now = Instant::now();
    let mut c = SmtpClient::new(
        ClientConfig::default(),
        message(&["b@b.test"], b"x\r\n"),
        now,
    );
    c.handle_input(now, b"220 x\r\n250-x\r\n250 PIPELINING\r\n");
    c.poll_transmit();
    c.handle_input(now, b"250 ok\r\n250 ok\r\n354 go\r\n");
    let body = c.poll_transmit().unwrap();
    assert!(body.ends_with(b"x\r\n.\r\n"));
    c.handle_eof(now);
    let o = c.take_outcome().unwrap();
    assert!(matches!(&o.recipients[0], RecipientResult::Deferred(t) if t.contains("end of data")));
    assert!(!o.try_next_host);
}

#[test]
fn a_refused_bdat_fails_its_recipients() {
    let now = Instant::now();
    let mut c = SmtpClient::new(
        ClientConfig::default(),
        message(&["b@b.test", "c@b.test"], b"x\r\n"),
        now,
    );
    c.handle_input(now, b"220 x\r\n250-x\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
    let mut sent = Vec::new();
    while let Some(out) = c.poll_transmit() {
        sent.extend(out);
    }
    // MAIL, both RCPTs and the one chunk, pipelined.
    let text = String::from_utf8_lossy(&sent).into_owned();
    assert!(
        text.ends_with("RCPT TO:<c@b.test>\r\nBDAT 3 LAST\r\nx\r\n"),
        "{text}"
    );
    c.handle_input(
        now,
        b"250 ok\r\n250 ok\r\n250 ok\r\n552 5.3.4 too big\r\n221 bye\r\n",
    );
    let o = c.take_outcome().unwrap();
    for r in &o.recipients {
        assert!(
            matches!(r, RecipientResult::Failed(t, Some(r)) if r.code == 552 && t.contains("in reply to BDAT")),
            "{r:?}"
        );
    }
}

#[test]
fn binarymime_goes_only_by_bdat_to_a_server_that_takes_it() {
    // Our server offers CHUNKING and BINARYMIME: BODY=BINARYMIME, one BDAT, octets kept.
    let mut msg = message(&["bob@b.test"], b"Subject: bin\r\n\r\n\x00\x01raw\nbytes\r");
    msg.binary = true;
    let (o, d, sent) = run(server(), &["bob"], ClientConfig::default(), msg.clone());
    assert!(
        matches!(o.recipients[0], RecipientResult::Delivered(_)),
        "{o:?}"
    );
    assert!(sent.contains(" BODY=BINARYMIME"), "{sent}");
    assert!(d.messages[0].1.ends_with(b"\r\n\r\n\x00\x01raw\nbytes\r"));
    // A server without BINARYMIME: a permanent 5.6.3 failure, nothing sent.
    let now = Instant::now();
    let mut c = SmtpClient::new(ClientConfig::default(), msg, now);
    c.handle_input(now, b"220 x\r\n250-x\r\n250-CHUNKING\r\n250 8BITMIME\r\n");
    let mut out = Vec::new();
    while let Some(o) = c.poll_transmit() {
        out.extend(o);
    }
    assert!(!String::from_utf8_lossy(&out).contains("MAIL FROM"));
    c.handle_input(now, b"221 bye\r\n");
    let o = c.take_outcome().unwrap();
    assert!(
        matches!(&o.recipients[0], RecipientResult::Failed(_, Some(r)) if r.code == 554),
        "{o:?}"
    );
}

#[test]
fn shutdown_defers_every_recipient_and_stops_reading() {
    let now = Instant::now();
    let mut c = SmtpClient::new(
        ClientConfig::default(),
        message(&["b@b.test", "c@b.test"], b"x\r\n"),
        now,
    );
    assert!(c.wants_input());
    c.shutdown();
    assert!(c.is_closed() && !c.wants_input());
    assert!(matches!(c.poll_event(), Some(ClientEvent::Done)));
    let o = c.take_outcome().unwrap();
    assert_eq!(o.recipients.len(), 2);
    assert!(o
        .recipients
        .iter()
        .all(|r| matches!(r, RecipientResult::Deferred(t) if t.contains("shutting down"))));
}

proptest::proptest! {
    #[test]
    fn replies_split_anywhere_give_the_same_session(
        mut cuts in proptest::collection::vec(0usize..120, 0..8)
    ) {
        cuts.sort_unstable();
        let msg = || message(&["bob@b.test", "nobody@b.test"], b"Subject: x\r\n\r\nhi\r\n");
        let (whole, _, sent) = run(server(), &["bob"], ClientConfig::default(), msg());
        let (split, _, sent_split) =
            run_cut(server(), &["bob"], ClientConfig::default(), msg(), &cuts);
        proptest::prop_assert_eq!(format!("{whole:?}"), format!("{split:?}"));
        proptest::prop_assert_eq!(sent, sent_split);
    }
}
