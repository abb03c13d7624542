//! APPEND with CATENATE (RFC 4469): the target is checked first (`NO [TRYCREATE]`), then
//! each message's pieces are put together in order, a URL's by reading the message it
//! names from the store (its UIDVALIDITY checked when the URL gives one), and the
//! messages are appended as any MULTIAPPEND. A URL that cannot be read fails the whole
//! command with `NO [BADURL url]` before anything is added.

use std::collections::VecDeque;

use super::*;
use crate::imap::catenate::{parse_url, url_content, CatenatePart, ImapUrl};
use crate::imf::datetime::WallClock;

/// One message still to put together: its flags, date and pieces.
type Pending = (Vec<String>, Option<WallClock>, Vec<CatenatePart>);

/// An APPEND with CATENATE under way.
#[derive(Debug)]
pub(crate) struct CatenateJob {
    /// The APPEND that follows; finished messages go to its queue.
    append: AppendJob,
    /// Messages not started.
    rest: VecDeque<Pending>,
    /// The message being put together.
    current: Option<Building>,
    /// The URL being read: as written, and parsed.
    url: Option<(String, ImapUrl)>,
}

/// A message being put together.
#[derive(Debug)]
struct Building {
    flags: Vec<String>,
    date: Option<WallClock>,
    /// Pieces not added yet.
    parts: VecDeque<CatenatePart>,
    /// The octets so far.
    octets: Vec<u8>,
}

/// What the store's answer to a CATENATE step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CatStep {
    /// STATUS of the target mailbox: does it exist?
    Target,
    /// STATUS of a URL's mailbox: its UIDVALIDITY.
    Validity,
    /// The message a URL names.
    Content,
}

impl CatenateJob {
    /// The APPEND's tag.
    pub(super) fn tag(self) -> String {
        self.append.tag
    }
}

impl ImapServer {
    /// Starts an APPEND whose messages (some with CATENATE) are `messages`.
    pub(super) fn catenate(&mut self, append: AppendJob, messages: VecDeque<Pending>) {
        let mailbox = append.mailbox.clone();
        let job = CatenateJob {
            append,
            rest: messages,
            current: None,
            url: None,
        };
        self.ask(
            Then::Catenate(job, CatStep::Target),
            StoreRequest::Status { mailbox },
        );
    }

    /// The store answered a step.
    pub(super) fn on_catenate(&mut self, mut job: CatenateJob, step: CatStep, reply: StoreReply) {
        match (step, reply) {
            (CatStep::Target, StoreReply::Status(Ok(_))) => self.next_piece(job),
            (CatStep::Target, StoreReply::Status(Err(_))) => {
                let status = StatusText::no("Mailbox doesn't exist.").code("TRYCREATE");
                self.tagged(&job.append.tag, status);
            }
            (CatStep::Validity, StoreReply::Status(Ok(st))) => match job.url.take() {
                Some((text, url)) if Some(st.uid_validity) == url.uid_validity => {
                    self.read_url(job, text, url)
                }
                other => self.bad_url(&job, other.map(|u| u.0)),
            },
            (CatStep::Content, StoreReply::Messages(Ok(msgs))) => {
                let Some((text, url)) = job.url.take() else {
                    return self.bad_url(&job, None);
                };
                let content = msgs
                    .iter()
                    .find(|m| m.uid == url.uid)
                    .and_then(|m| url_content(&url, &m.data));
                match (content, job.current.as_mut()) {
                    (Some(bytes), Some(current)) => {
                        current.octets.extend_from_slice(&bytes);
                        self.next_piece(job)
                    }
                    _ => self.bad_url(&job, Some(text)),
                }
            }
            _ => {
                let text = job.url.take().map(|u| u.0);
                self.bad_url(&job, text)
            }
        }
    }

    /// Adds pieces to the message being put together until a URL must be read (then
    /// asks for it), or every message is ready (then appends them).
    fn next_piece(&mut self, mut job: CatenateJob) {
        loop {
            let Some(current) = job.current.as_mut() else {
                match job.rest.pop_front() {
                    Some((flags, date, parts)) => {
                        job.current = Some(Building {
                            flags,
                            date,
                            parts: parts.into(),
                            octets: Vec::new(),
                        });
                        continue;
                    }
                    None => return self.append_next(job.append, None),
                }
            };
            if current.octets.len() > self.config.max_literal {
                let status = StatusText::no("Message too large.").code("TOOBIG");
                return self.tagged(&job.append.tag, status);
            }
            match current.parts.pop_front() {
                Some(CatenatePart::Text(bytes)) => current.octets.extend_from_slice(&bytes),
                Some(CatenatePart::Url(text)) => {
                    let Some(mut url) = parse_url(&text) else {
                        return self.bad_url(&job, Some(text));
                    };
                    // URLs name mailboxes in UTF-8 (RFC 5092); the store, in modified UTF-7.
                    if url.mailbox != "INBOX" {
                        url.mailbox = crate::imap::mutf7::encode(&url.mailbox);
                    }
                    if url.uid_validity.is_some() {
                        let mailbox = url.mailbox.clone();
                        job.url = Some((text, url));
                        return self.ask(
                            Then::Catenate(job, CatStep::Validity),
                            StoreRequest::Status { mailbox },
                        );
                    }
                    return self.read_url(job, text, url);
                }
                None => {
                    if let Some(done) = job.current.take() {
                        let message = (done.flags, done.date, done.octets);
                        job.append.queued.push_back(message);
                    }
                }
            }
        }
    }

    /// Asks for the message `url` names.
    fn read_url(&mut self, mut job: CatenateJob, text: String, url: ImapUrl) {
        let (mailbox, uid) = (url.mailbox.clone(), url.uid);
        job.url = Some((text, url));
        self.ask(
            Then::Catenate(job, CatStep::Content),
            StoreRequest::Fetch {
                mailbox,
                uids: vec![uid],
                part: FetchPart::Full,
            },
        );
    }

    /// `NO [BADURL url]`: nothing was appended.
    fn bad_url(&mut self, job: &CatenateJob, url: Option<String>) {
        let shown: String = url
            .unwrap_or_default()
            .chars()
            .filter(|c| !matches!(c, ']' | '\r' | '\n' | '\0'))
            .collect();
        let status = StatusText::no("Bad URL.").code(format!("BADURL {shown}"));
        self.tagged(&job.append.tag, status);
    }
}
