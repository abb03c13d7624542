//! A whole POP3 session fed arbitrary chunks, every question answered (two messages,
//! one account): no panic, and every response line starts with +OK, -ERR, + or is part
//! of a multi-line response.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use postrider_core::machine::{AuthOutcome, Machine, TlsInfo};
use postrider_core::pop3::{MessageInfo, Pop3Config, Pop3Event, Pop3Server};

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let mut config = Pop3Config::default();
    config.allow_plaintext_auth = true;
    config.starttls = true;
    let mut s = Pop3Server::new(config, now);
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = (len as usize).min(tail.len());
        s.handle_input(now, &tail[..n]);
        rest = &tail[n..];
        while let Some(ev) = s.poll_event() {
            match ev {
                Pop3Event::Authenticate { token, credentials } => {
                    let ok = credentials.username == "a";
                    s.auth_result(
                        token,
                        if ok {
                            AuthOutcome::Success("a".into())
                        } else {
                            AuthOutcome::Failure
                        },
                        std::time::Duration::ZERO,
                    );
                }
                Pop3Event::OpenMaildrop { token, .. } => s.maildrop_opened(
                    token,
                    Ok(vec![
                        MessageInfo {
                            size: 5,
                            uid: "x".into(),
                        },
                        MessageInfo {
                            size: 7,
                            uid: "y".into(),
                        },
                    ]),
                ),
                Pop3Event::Retrieve { token, index, .. } => {
                    let chunk = if index == 1 {
                        Err("unreadable".into())
                    } else {
                        Ok(Some(b"hello\r\n.\r\n".to_vec()))
                    };
                    s.retrieve_chunk(token, chunk);
                }
                Pop3Event::RetrieveMore { token } => s.retrieve_chunk(token, Ok(None)),
                Pop3Event::Commit { token, .. } => s.committed(token, Ok(())),
                Pop3Event::StartTls => s.tls_established(now, TlsInfo::default()),
                Pop3Event::Closed { .. } => {}
            }
        }
        while s.poll_transmit().is_some() {}
        now += Duration::from_secs(2);
        s.handle_timeout(now);
    }
});
