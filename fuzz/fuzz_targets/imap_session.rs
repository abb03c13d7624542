//! A whole IMAP session fed arbitrary chunks, with an in-memory mailbox of two messages
//! answering every store request: no panic, no stuck pending request, and everything the
//! server writes parses as RFC 3501 responses. Both messages are "large" (streamed by
//! FETCH in 7-octet chunks); the first one's RFC822.SIZE is short of its length.
#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use postrider_core::imap::response::parse_all;
use postrider_core::imap::server::{
    FetchedMessage, FlagChanges, ImapConfig, ImapEvent, ImapServer, MailboxView, MessageMeta, StatusInfo,
    StoreReply, StoreRequest,
};
use postrider_core::imf::datetime::WallClock;
use postrider_core::machine::{AuthOutcome, Machine, TlsInfo};

const MESSAGE: &[u8] =
    b"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nhi\r\n--b--\r\n";

/// The range of MESSAGE a streamed FETCH is reading: next octet and end.
type Reading = Option<(usize, usize)>;

fn read_chunk(reading: &mut Reading) -> StoreReply {
    let Some((at, end)) = *reading else {
        return StoreReply::Chunk(Ok(None));
    };
    let next = (at + 7).min(end);
    *reading = Some((next, end));
    StoreReply::Chunk(Ok((next > at).then(|| MESSAGE[at..next].to_vec())))
}

fn view() -> MailboxView {
    MailboxView {
        uid_validity: 7,
        uid_next: 3,
        highest_modseq: 2,
        recent: vec![2],
        messages: vec![
            MessageMeta {
                modseq: 1,
                uid: 1,
                flags: vec![],
                internal_date: WallClock::utc(0),
                size: 40,
            },
            MessageMeta {
                modseq: 1,
                uid: 2,
                flags: vec!["\\Seen".into()],
                internal_date: WallClock::utc(86_400),
                size: MESSAGE.len() as u64,
            },
        ],
    }
}

/// Answers every store request and TLS start the session has queued, as the runtimes do.
fn answer_all(s: &mut ImapServer, reading: &mut Reading) {
    while let Some(ev) = s.poll_event() {
        match ev {
            ImapEvent::Request { token, request } => {
                let reply = match request {
                    StoreRequest::Login(_) => StoreReply::Auth(
                        AuthOutcome::Success("u".into()),
                        std::time::Duration::ZERO,
                    ),
                    StoreRequest::Open { .. }
                    | StoreRequest::Refresh { .. }
                    | StoreRequest::Poll { .. } => StoreReply::View(Ok(view())),
                    StoreRequest::List { .. } => StoreReply::List(vec![]),
                    StoreRequest::Status { .. } => StoreReply::Status(Ok(StatusInfo {
                        messages: 2,
                        recent: 1,
                        uid_next: 3,
                        uid_validity: 7,
                        unseen: 1,
                        size: 300,
                        highest_modseq: 9,
                        deleted: 1,
                    })),
                    StoreRequest::Append { .. } => StoreReply::Appended(Ok((7, 3))),
                    StoreRequest::Fetch { uids, .. } => StoreReply::Messages(Ok(uids
                        .iter()
                        .map(|&uid| FetchedMessage {
                            uid,
                            data: Bytes::from_static(MESSAGE),
                        })
                        .collect())),
                    StoreRequest::Read { start, len, .. } => {
                        let start = (start as usize).min(MESSAGE.len());
                        *reading =
                            Some((start, start.saturating_add(len as usize).min(MESSAGE.len())));
                        read_chunk(reading)
                    }
                    StoreRequest::ReadMore => read_chunk(reading),
                    StoreRequest::Scan { uids, scan, .. } => StoreReply::Scanned(Ok(uids
                        .iter()
                        .map(|&uid| {
                            let mut one = scan.clone();
                            one.feed(b"Subject: x\r\n\r\nhi there\r\n");
                            (uid, one.finish())
                        })
                        .collect())),
                    StoreRequest::Copy { uids, .. } => {
                        StoreReply::Copied(Ok((9, uids.iter().map(|&u| (u, u + 10)).collect())))
                    }
                    StoreRequest::SetFlags {
                        uids,
                        flags,
                        unchanged_since,
                        ..
                    } => StoreReply::Flags(Ok(FlagChanges {
                        // Above any UNCHANGEDSINCE below 5: those are refused.
                        modified: uids
                            .iter()
                            .copied()
                            .filter(|_| unchanged_since.is_some_and(|n| n < 5))
                            .collect(),
                        flags: uids
                            .iter()
                            .filter(|_| unchanged_since.is_none_or(|n| n >= 5))
                            .map(|&u| (u, flags.clone(), 5))
                            .collect(),
                    })),
                    StoreRequest::Vanished { since, .. } => {
                        StoreReply::Vanished(Ok((1..=since.min(50) as u32).collect()))
                    }
                    _ => StoreReply::Done(Ok(())),
                };
                s.reply(token, reply);
            }
            ImapEvent::StartTls => s.tls_established(Instant::now(), TlsInfo::default()),
            ImapEvent::StartCompression => s.compression_started(Instant::now()),
            ImapEvent::Closed { .. } => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let mut config = ImapConfig::default();
    config.allow_plaintext_auth = true;
    config.starttls = true;
    config.max_literal = 4096;
    config.max_line = 1024;
    config.stream_above = 30;
    let mut reading = None;
    let mut s = ImapServer::new(config, now);
    let mut rest = data;
    let mut output = Vec::new();
    while let Some((&len, tail)) = rest.split_first() {
        let n = (len as usize).min(tail.len());
        s.handle_input(now, &tail[..n]);
        rest = &tail[n..];
        answer_all(&mut s, &mut reading);
        while let Some(bytes) = s.poll_transmit() {
            output.extend_from_slice(&bytes);
        }
        now += Duration::from_secs(2);
        s.handle_timeout(now);
        // A timeout can ask the store something too (IDLE polls the mailbox).
        answer_all(&mut s, &mut reading);
        assert!(s.wants_input() || s.is_closed() || s.poll_timeout().is_some());
    }
    while let Some(bytes) = s.poll_transmit() {
        output.extend_from_slice(&bytes);
    }
    if let Err(at) = parse_all(&output) {
        panic!(
            "malformed response: {:?}",
            String::from_utf8_lossy(&output[at..])
        );
    }
});
