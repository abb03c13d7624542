//! The POP3 machine fed a whole session in arbitrary pieces says exactly what it says
//! when fed the session at once (pipelining, the login hold, RETR in chunks, QUIT).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use postrider_core::machine::{AuthOutcome, Machine};
use postrider_core::pop3::{MessageInfo, Pop3Config, Pop3Event, Pop3Server};
use proptest::prelude::*;

const SCRIPT: &str = "CAPA\r\nUSER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\n\
TOP 2 1\r\nDELE 1\r\nRETR 1\r\nNOOP\r\nRSET\r\nDELE 2\r\nQUIT\r\n";

const MESSAGES: [&[u8]; 2] = [
    b"Subject: one\r\n\r\nfirst body\r\n.\r\n",
    b"Subject: two\r\n\r\nsecond\r\nbody\r\n.\r\n",
];

/// Runs the script cut at `cuts`, answering every event at once (messages in two chunks
/// each); returns everything the server wrote and the deletions it committed.
fn run(cuts: &[usize]) -> (String, Option<Vec<usize>>) {
    let now = Instant::now();
    let mut config = Pop3Config::default();
    config.allow_plaintext_auth = true;
    let mut s = Pop3Server::new(config, now);
    let mut out = String::new();
    let mut committed = None;
    let mut pending: Option<Vec<u8>> = None;
    let bytes = SCRIPT.as_bytes();
    let mut cuts = cuts.to_vec();
    cuts.sort_unstable();
    let mut last = 0;
    for c in cuts
        .into_iter()
        .map(|c| c.min(bytes.len()))
        .chain([bytes.len()])
    {
        if c <= last {
            continue;
        }
        s.handle_input(now, &bytes[last..c]);
        last = c;
        loop {
            while let Some(b) = s.poll_transmit() {
                out.push_str(&String::from_utf8_lossy(&b));
            }
            let Some(ev) = s.poll_event() else { break };
            match ev {
                Pop3Event::Authenticate { token, credentials } => {
                    let ok = credentials.password.expose() == "secret";
                    let outcome = if ok {
                        AuthOutcome::Success(credentials.username)
                    } else {
                        AuthOutcome::Failure
                    };
                    s.auth_result(token, outcome, Duration::ZERO);
                }
                Pop3Event::OpenMaildrop { token, .. } => {
                    let listing = MESSAGES
                        .iter()
                        .enumerate()
                        .map(|(i, m)| MessageInfo {
                            size: m.len() as u64,
                            uid: format!("uid{i}"),
                        })
                        .collect();
                    s.maildrop_opened(token, Ok(listing));
                }
                Pop3Event::Retrieve { token, index, .. } => {
                    let m = MESSAGES[index];
                    pending = Some(m[m.len() / 2..].to_vec());
                    s.retrieve_chunk(token, Ok(Some(m[..m.len() / 2].to_vec())));
                }
                Pop3Event::RetrieveMore { token } => s.retrieve_chunk(token, Ok(pending.take())),
                Pop3Event::Commit { token, deleted } => {
                    committed = Some(deleted);
                    s.committed(token, Ok(()));
                }
                Pop3Event::StartTls | Pop3Event::Closed { .. } => {}
            }
        }
    }
    (out, committed)
}

proptest! {
    #[test]
    fn session_split_anywhere_gives_the_same_output(cuts in prop::collection::vec(0usize..200, 0..12)) {
        let whole = run(&[]);
        prop_assert!(whole.0.ends_with("+OK Logging out\r\n"), "{}", whole.0);
        prop_assert!(whole.0.contains("second\r\nbody\r\n.\r\n"), "{}", whole.0);
        prop_assert_eq!(&whole.1, &Some(vec![1]));
        prop_assert_eq!(run(&cuts), whole);
    }
}
