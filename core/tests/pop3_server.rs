//! The POP3 machine against an in-memory maildrop with a virtual clock: the RFC 1939
//! session, RETR in chunks, login delays, TLS and the limits. (Moved out of
//! `core/src/pop3.rs`: the clock's starting point is the test's, never the core's.)

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use postrider_core::machine::{AuthOutcome, CloseReason, Machine, TlsInfo, Token};
use postrider_core::pop3::*;

struct Driver {
    s: Pop3Server,
    out: String,
    now: Instant,
    committed: Option<Vec<usize>>,
    in_use: bool,
    auth_hold: Duration,
}

impl Driver {
    fn new(cfg: Pop3Config) -> Self {
        let now = Instant::now();
        let mut d = Self {
            s: Pop3Server::new(cfg, now),
            out: String::new(),
            now,
            committed: None,
            in_use: false,
            auth_hold: Duration::ZERO,
        };
        d.pump();
        d
    }

    fn send(&mut self, text: &str) {
        self.s.handle_input(self.now, text.as_bytes());
        self.pump();
    }

    fn pump(&mut self) {
        loop {
            while let Some(b) = self.s.poll_transmit() {
                self.out.push_str(&String::from_utf8_lossy(&b));
            }
            let Some(ev) = self.s.poll_event() else { break };
            match ev {
                Pop3Event::Authenticate { token, credentials } => {
                    let ok =
                        credentials.username == "alice" && credentials.password.expose() == "pw pw";
                    self.s.auth_result(
                        token,
                        if ok {
                            AuthOutcome::Success("alice".into())
                        } else {
                            AuthOutcome::Failure
                        },
                        self.auth_hold,
                    );
                }
                Pop3Event::OpenMaildrop { token, .. } => {
                    let r = if self.in_use {
                        Err(OpenError::InUse)
                    } else {
                        Ok(vec![
                            MessageInfo {
                                size: 10,
                                uid: "u1".into(),
                            },
                            MessageInfo {
                                size: 20,
                                uid: "u2".into(),
                            },
                        ])
                    };
                    self.s.maildrop_opened(token, r);
                }
                Pop3Event::Retrieve { token, index, .. } => {
                    let msg = format!("<message {index}>\r\n.\r\n");
                    self.s.retrieve_chunk(token, Ok(Some(msg.into_bytes())));
                }
                Pop3Event::RetrieveMore { token } => self.s.retrieve_chunk(token, Ok(None)),
                Pop3Event::Commit { token, deleted } => {
                    self.committed = Some(deleted);
                    self.s.committed(token, Ok(()));
                }
                Pop3Event::StartTls => self.s.tls_established(self.now, TlsInfo::default()),
                Pop3Event::Closed { .. } => {}
            }
        }
    }
}

fn plain_ok() -> Pop3Config {
    let mut c = Pop3Config::default();
    c.allow_plaintext_auth = true;
    c
}

/// Logs in, sends `RETR 1` and returns the server with its Retrieve token.
fn retrieving() -> (Pop3Server, Token, Instant) {
    let now = Instant::now();
    let mut s = Pop3Server::new(plain_ok(), now);
    s.handle_input(now, b"USER alice\r\nPASS pw\r\n");
    while let Some(ev) = s.poll_event() {
        match ev {
            Pop3Event::Authenticate { token, .. } => {
                s.auth_result(token, AuthOutcome::Success("alice".into()), Duration::ZERO)
            }
            Pop3Event::OpenMaildrop { token, .. } => s.maildrop_opened(
                token,
                Ok(vec![MessageInfo {
                    size: 10,
                    uid: "u1".into(),
                }]),
            ),
            other => panic!("{other:?}"),
        }
    }
    s.handle_input(now, b"RETR 1\r\nNOOP\r\n");
    while s.poll_transmit().is_some() {}
    let Some(Pop3Event::Retrieve { token, .. }) = s.poll_event() else {
        panic!("no Retrieve")
    };
    (s, token, now)
}

fn drained(s: &mut Pop3Server) -> String {
    let mut out = String::new();
    while let Some(b) = s.poll_transmit() {
        out.push_str(&String::from_utf8_lossy(&b));
    }
    out
}

#[test]
fn unreadable_message_before_the_first_chunk_is_err_and_the_session_goes_on() {
    let (mut s, token, _) = retrieving();
    s.retrieve_chunk(token, Err("gone".into()));
    assert_eq!(drained(&mut s), "-ERR [SYS/TEMP] gone\r\n+OK \r\n");
    let (mut s, token, _) = retrieving();
    s.retrieve_chunk(token, Ok(None));
    assert_eq!(
        drained(&mut s),
        "-ERR [SYS/TEMP] The message could not be read\r\n+OK \r\n"
    );
    assert!(!s.is_closed());
}

#[test]
fn unreadable_message_after_the_first_chunk_closes_the_session() {
    let (mut s, token, _) = retrieving();
    s.retrieve_chunk(token, Ok(Some(b"Subject: x\r\n".to_vec())));
    assert_eq!(drained(&mut s), "+OK 10 octets\r\nSubject: x\r\n");
    let Some(Pop3Event::RetrieveMore { token }) = s.poll_event() else {
        panic!("no RetrieveMore")
    };
    s.retrieve_chunk(token, Err("truncated".into()));
    assert!(s.is_closed());
    assert!(matches!(
        s.poll_event(),
        Some(Pop3Event::Closed {
            reason: CloseReason::Failed
        })
    ));
    assert_eq!(drained(&mut s), "", "nothing after a half-sent message");
}

#[test]
fn login_list_retr_dele_quit() {
    let mut d = Driver::new(plain_ok());
    assert!(d.out.starts_with("+OK"));
    d.send("USER alice\r\nPASS pw pw\r\nSTAT\r\nLIST\r\nUIDL 2\r\nRETR 1\r\nDELE 1\r\nSTAT\r\nRETR 1\r\nQUIT\r\n");
    let o = &d.out;
    assert!(o.contains("+OK Logged in: 2 messages (30 octets)\r\n+OK 2 30\r\n+OK\r\n1 10\r\n2 20\r\n.\r\n+OK 2 u2\r\n+OK 10 octets\r\n<message 0>\r\n.\r\n+OK Marked to be deleted\r\n+OK 1 20\r\n-ERR Message is deleted\r\n+OK Logging out\r\n"), "{o}");
    assert_eq!(d.committed, Some(vec![0]));
    assert!(d.s.is_closed());
}

#[test]
fn plaintext_refused_without_tls_and_stls_enables_it() {
    let mut config = Pop3Config::default();
    config.starttls = true;
    let mut d = Driver::new(config);
    d.send("CAPA\r\n");
    assert!(d.out.contains("STLS\r\n"));
    assert!(!d.out.contains("USER\r\n"));
    d.send("USER alice\r\n");
    assert!(d.out.ends_with(
        "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections\r\n"
    ));
    // Pipelined after STLS: discarded (RFC 2595 §4).
    d.send("STLS\r\nUSER injected\r\n");
    assert!(d.out.ends_with("+OK Begin TLS negotiation now\r\n"));
    d.send("CAPA\r\n");
    assert!(d.out.contains("USER\r\nSASL PLAIN LOGIN\r\n"));
    d.send("STLS\r\n");
    assert!(d
        .out
        .ends_with("-ERR Command not permitted when TLS active\r\n"));
    d.send("AUTH PLAIN AGFsaWNlAHB3IHB3\r\n");
    assert!(
        d.out.ends_with("+OK Logged in: 2 messages (30 octets)\r\n"),
        "{}",
        d.out
    );
}

#[test]
fn a_login_penalty_holds_even_the_right_password() {
    let mut d = Driver::new(plain_ok());
    d.auth_hold = Duration::from_secs(4);
    d.send("USER alice\r\nPASS pw pw\r\nSTAT\r\n");
    assert!(!d.out.contains("Logged in"), "{}", d.out);
    d.now += Duration::from_millis(3999);
    d.s.handle_timeout(d.now);
    d.pump();
    assert!(!d.out.contains("Logged in"), "still held: {}", d.out);
    d.now += Duration::from_millis(1);
    d.s.handle_timeout(d.now);
    d.pump();
    assert!(
        d.out
            .ends_with("+OK Logged in: 2 messages (30 octets)\r\n+OK 2 30\r\n"),
        "{}",
        d.out
    );
}

#[test]
fn failed_login_is_delayed_then_disconnects() {
    let mut d = Driver::new(plain_ok());
    for _ in 0..2 {
        d.send("USER alice\r\nPASS nope\r\n");
        assert!(!d.out.ends_with("Authentication failed\r\n"));
        d.now += Duration::from_secs(5);
        d.s.handle_timeout(d.now);
        d.pump();
        assert!(d.out.ends_with("-ERR [AUTH] Authentication failed\r\n"));
    }
    d.send("USER alice\r\nPASS nope\r\n");
    d.now += Duration::from_secs(5);
    d.s.handle_timeout(d.now);
    d.pump();
    assert!(d.s.is_closed());
}

#[test]
fn in_use_bad_commands_and_no_quit() {
    let mut d = Driver::new(plain_ok());
    d.in_use = true;
    d.send("USER alice\r\nPASS pw pw\r\n");
    assert!(d
        .out
        .ends_with("-ERR [IN-USE] Mailbox is locked by another POP3 session\r\n"));
    d.in_use = false;
    d.send("FOO\r\nRETR 1\r\nUSER alice\r\nPASS pw pw\r\nRETR 9\r\nTOP 1\r\nDELE 2\r\nRSET\r\nNOOP\r\n");
    assert!(d
        .out
        .contains("-ERR Unknown command\r\n-ERR Not logged in\r\n"));
    assert!(d.out.contains("-ERR There's no message\r\n-ERR Syntax: TOP msg lines\r\n+OK Marked to be deleted\r\n+OK 2 messages\r\n+OK \r\n"));
    d.s.handle_eof(d.now);
    d.pump();
    assert_eq!(d.committed, None, "no QUIT, no UPDATE state");
}

#[test]
fn idle_timeout() {
    let mut d = Driver::new(plain_ok());
    d.now += Duration::from_secs(599);
    d.s.handle_timeout(d.now);
    assert!(!d.s.is_closed());
    d.now += Duration::from_secs(2);
    d.s.handle_timeout(d.now);
    assert!(d.s.is_closed());
}
