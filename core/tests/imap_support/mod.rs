//! A driver for the IMAP machine against an in-memory store, shared by the tests.

#![allow(dead_code, clippy::unwrap_used)]

use std::time::Instant;

use bytes::Bytes;
use postrider_core::imap::command::StoreMode;
use postrider_core::imap::server::{
    FetchedMessage, FlagChanges, ImapConfig, ImapEvent, ImapServer, MailboxView, MessageMeta,
    StatusInfo, StoreError, StoreReply, StoreRequest,
};
use postrider_core::imap::store::FetchPart;
use postrider_core::imf::datetime::WallClock;
use postrider_core::machine::{AuthOutcome, Machine};

/// The in-memory mailbox behind a [`Driver`].
pub(crate) struct Store {
    pub(crate) view: MailboxView,
    pub(crate) message: Vec<u8>,
    pub(crate) set_flags: Vec<(u32, Vec<String>)>,
    /// UIDs expunged, with the MODSEQ of their removal.
    pub(crate) vanished: Vec<(u32, u64)>,
    /// Streamed reads (`Read` and `ReadMore`) answered so far.
    pub(crate) reads: usize,
    /// Reading stops with an error at this octet of the message.
    pub(crate) fail_at: Option<usize>,
    /// Octets per streamed chunk.
    pub(crate) chunk: usize,
    /// The range being streamed: next octet and end.
    reading: Option<(usize, usize)>,
}

/// The header section of `message` (through its empty line).
fn header_of(message: &[u8]) -> Vec<u8> {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message.len(), |i| i + 4);
    message[..end].to_vec()
}

impl Store {
    /// The next chunk of the range being streamed.
    fn read_chunk(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        self.reads += 1;
        let Some((at, end)) = self.reading else {
            return Err(StoreError::new(Some("EXPUNGEISSUED"), "gone"));
        };
        if self.fail_at.is_some_and(|f| f <= at) {
            return Err(StoreError::new(Some("SERVERBUG"), "read error"));
        }
        let next = (at + self.chunk).min(end);
        self.reading = Some((next, end));
        Ok((next > at).then(|| self.message[at..next].to_vec()))
    }

    /// Removes messages (as an EXPUNGE, here or in another session), under a new MODSEQ.
    pub(crate) fn expunge(&mut self, uids: &[u32]) {
        self.view.highest_modseq += 1;
        let modseq = self.view.highest_modseq;
        for m in &self.view.messages {
            if uids.contains(&m.uid) {
                self.vanished.push((m.uid, modseq));
            }
        }
        self.view.messages.retain(|m| !uids.contains(&m.uid));
    }

    /// Whether the store still has message `uid` (another session may have expunged it).
    pub(crate) fn has(&self, uid: u32) -> bool {
        self.view.messages.iter().any(|m| m.uid == uid)
    }
}

/// An [`ImapServer`] answered by a [`Store`], with a virtual clock and all output kept.
pub(crate) struct Driver {
    /// StartCompression events seen (the test calls `compression_started` itself).
    pub(crate) compressions: usize,
    pub(crate) s: ImapServer,
    pub(crate) store: Store,
    pub(crate) now: Instant,
    pub(crate) out: String,
}

impl Driver {
    /// A server whose INBOX holds `messages` copies of one RFC 3501 §8 message.
    pub(crate) fn new(messages: u32) -> Self {
        Self::with(messages, |_| {})
    }

    /// The same with RFC822.SIZE true to the message, and messages above `stream_above`
    /// octets streamed by FETCH (7 octets a chunk).
    pub(crate) fn exact(messages: u32, stream_above: u64) -> Self {
        let mut d = Self::with(messages, |c| c.stream_above = stream_above);
        let size = d.store.message.len() as u64;
        d.store.chunk = 7;
        for m in &mut d.store.view.messages {
            m.size = size;
        }
        d
    }

    /// A server configured by `configure`.
    pub(crate) fn with(messages: u32, configure: impl FnOnce(&mut ImapConfig)) -> Self {
        let now = Instant::now();
        let mut config = ImapConfig::default();
        config.allow_plaintext_auth = true;
        configure(&mut config);
        let view = MailboxView {
            highest_modseq: 1,
            uid_validity: 3_857_529_045,
            uid_next: messages + 1,
            recent: vec![],
            messages: (1..=messages)
                .map(|uid| MessageMeta {
                    modseq: 1,
                    uid,
                    flags: if uid < 17 {
                        vec!["\\Seen".into()]
                    } else {
                        vec![]
                    },
                    internal_date: WallClock::utc(837_596_665),
                    size: 4286,
                })
                .collect(),
        };
        let message = b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\nFrom: Terry Gray <gray@cac.washington.edu>\r\nSubject: IMAP4rev1 WG mtg summary and minutes\r\nTo: imap@cac.washington.edu\r\nMessage-Id: <B27397-0100000@cac.washington.edu>\r\nMIME-Version: 1.0\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\nHello Joe, do you think we can meet at 3:30 tomorrow?\r\n".to_vec();
        let mut d = Self {
            compressions: 0,
            s: ImapServer::new(config, now),
            store: Store {
                view,
                message,
                set_flags: Vec::new(),
                vanished: Vec::new(),
                reads: 0,
                fail_at: None,
                chunk: 1000,
                reading: None,
            },
            now,
            out: String::new(),
        };
        d.pump();
        d
    }

    /// Feeds `text` and returns what the server wrote in answer.
    pub(crate) fn send(&mut self, text: &str) -> String {
        let before = self.out.len();
        self.s.handle_input(self.now, text.as_bytes());
        self.pump();
        self.out[before..].to_string()
    }

    /// Collects output and answers store requests until the machine waits for input.
    pub(crate) fn pump(&mut self) {
        loop {
            while let Some(b) = self.s.poll_transmit() {
                self.out.push_str(&String::from_utf8_lossy(&b));
            }
            let Some(ev) = self.s.poll_event() else { break };
            if matches!(ev, ImapEvent::StartCompression) {
                self.compressions += 1;
            }
            if let ImapEvent::Request { token, request } = ev {
                let reply = match request {
                    StoreRequest::Login(c) => {
                        let outcome = if c.password.expose() == "secret" {
                            AuthOutcome::Success(c.username)
                        } else {
                            AuthOutcome::Failure
                        };
                        StoreReply::Auth(outcome, std::time::Duration::ZERO)
                    }
                    StoreRequest::Open { .. }
                    | StoreRequest::Refresh { .. }
                    | StoreRequest::Poll { .. } => StoreReply::View(Ok(self.store.view.clone())),
                    StoreRequest::Fetch { uids, part, .. } => {
                        let data = match part {
                            FetchPart::Full => self.store.message.clone(),
                            FetchPart::Header => header_of(&self.store.message),
                        };
                        StoreReply::Messages(Ok(uids
                            .iter()
                            .filter(|&&uid| self.store.has(uid))
                            .map(|&uid| FetchedMessage {
                                uid,
                                data: Bytes::from(data.clone()),
                            })
                            .collect()))
                    }
                    StoreRequest::Read {
                        uid, start, len, ..
                    } => {
                        let size = self.store.message.len();
                        let start = (start as usize).min(size);
                        let end = start.saturating_add(len as usize).min(size);
                        self.store.reading = self.store.has(uid).then_some((start, end));
                        StoreReply::Chunk(self.store.read_chunk())
                    }
                    StoreRequest::ReadMore => StoreReply::Chunk(self.store.read_chunk()),
                    StoreRequest::SetFlags {
                        uids,
                        mode,
                        flags,
                        unchanged_since,
                        ..
                    } => {
                        let mut now = Vec::new();
                        let mut changes = FlagChanges::default();
                        let view = &mut self.store.view;
                        for m in view.messages.iter_mut().filter(|m| uids.contains(&m.uid)) {
                            if unchanged_since.is_some_and(|n| m.modseq > n) {
                                changes.modified.push(m.uid);
                                continue;
                            }
                            let before = m.flags.clone();
                            match mode {
                                StoreMode::Replace => m.flags = flags.clone(),
                                StoreMode::Add => {
                                    for f in &flags {
                                        if !m.flags.contains(f) {
                                            m.flags.push(f.clone());
                                        }
                                    }
                                }
                                StoreMode::Remove => m.flags.retain(|x| !flags.contains(x)),
                            }
                            if m.flags != before {
                                view.highest_modseq += 1;
                                m.modseq = view.highest_modseq;
                            }
                            now.push((m.uid, m.flags.clone()));
                            changes.flags.push((m.uid, m.flags.clone(), m.modseq));
                        }
                        self.store.set_flags.extend(now);
                        StoreReply::Flags(Ok(changes))
                    }
                    StoreRequest::Status { mailbox } => StoreReply::Status(if mailbox == "INBOX" {
                        let v = &self.store.view;
                        Ok(StatusInfo {
                            messages: v.messages.len() as u32,
                            recent: v.recent.len() as u32,
                            uid_next: v.uid_next,
                            uid_validity: v.uid_validity,
                            unseen: 0,
                            size: 0,
                            highest_modseq: v.highest_modseq,
                            deleted: 0,
                        })
                    } else {
                        Err(StoreError::new(Some("NONEXISTENT"), "no such mailbox"))
                    }),
                    StoreRequest::Vanished { since, .. } => StoreReply::Vanished(Ok(self
                        .store
                        .vanished
                        .iter()
                        .filter(|v| v.1 > since)
                        .map(|v| v.0)
                        .collect())),
                    StoreRequest::Append { message, .. } => {
                        if message == b"FAIL" {
                            StoreReply::Appended(Err(StoreError::new(
                                Some("OVERQUOTA"),
                                "Quota exceeded",
                            )))
                        } else {
                            let uid = self.store.view.uid_next;
                            self.store.view.uid_next += 1;
                            self.store.view.messages.push(MessageMeta {
                                modseq: 1,
                                uid,
                                flags: Vec::new(),
                                internal_date: WallClock::utc(0),
                                size: message.len() as u64,
                            });
                            StoreReply::Appended(Ok((self.store.view.uid_validity, uid)))
                        }
                    }
                    StoreRequest::Expunge { uids, .. } => {
                        self.store.expunge(&uids);
                        StoreReply::Done(Ok(()))
                    }
                    StoreRequest::Scan { uids, scan, .. } => StoreReply::Scanned(Ok(uids
                        .iter()
                        .filter(|&&uid| self.store.has(uid))
                        .map(|&uid| {
                            let mut one = scan.clone();
                            for chunk in self.store.message.chunks(7) {
                                one.feed(chunk);
                            }
                            (uid, one.finish())
                        })
                        .collect())),
                    _ => StoreReply::Done(Ok(())),
                };
                self.s.reply(token, reply);
            }
        }
    }
}
