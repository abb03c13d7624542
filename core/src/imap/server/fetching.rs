//! FETCH in progress: the messages are read from the store batch by batch (about a
//! megabyte at a time), and a large message whose items allow it is streamed: its header
//! is read, its response is written up to the first deferred literal, and the literal's
//! octets arrive from the store chunk by chunk, as fast as the client reads them (the
//! driver hands over the next request only while its output backlog has room).

use std::collections::VecDeque;

use super::*;
use crate::imap::fetch::{fetch_response, streamable, StreamedRange};
use crate::imap::response::write_response_split;

/// A FETCH in progress, answered batch by batch (see [`crate::imap::fetch`]).
#[derive(Debug)]
pub(super) struct FetchJob {
    pub(super) tag: String,
    items: Vec<FetchAttr>,
    /// What the store must read (None: the model answers everything).
    part: Option<FetchPart>,
    /// Whether large messages are streamed (the items allow it).
    streams: bool,
    /// (sequence number, UID) pairs still to answer.
    rest: Vec<(u32, u32)>,
    /// UIDs this FETCH set `\Seen` on, to be stored at the end.
    seen: Vec<u32>,
    /// Whether a message had been expunged by another session (skipped).
    expunged: bool,
    /// The message being streamed, if any.
    stream: Option<Streaming>,
}

/// One message's FETCH response whose literals are streamed from the store.
#[derive(Debug)]
struct Streaming {
    uid: u32,
    /// The response's pieces not yet written: the first before the current range's
    /// octets, the next after them, and so on.
    segments: VecDeque<Vec<u8>>,
    /// The ranges after the current one.
    ranges: VecDeque<StreamedRange>,
    /// Octets of the current range still to come.
    left: u64,
    /// Whether any of this response was written (after that, a failure cannot be
    /// taken back: the session ends).
    started: bool,
}

impl ImapServer {
    /// FETCH and UID FETCH, with CONDSTORE's CHANGEDSINCE and QRESYNC's VANISHED.
    pub(super) fn fetch(
        &mut self,
        tag: String,
        uid: bool,
        set: SeqSet,
        mut items: Vec<FetchAttr>,
        modifiers: crate::imap::command::FetchModifiers,
    ) {
        if !uid && !self.valid_msgset(&set) {
            return self.bad(&tag, "Error in IMAP command FETCH: Invalid messageset");
        }
        if modifiers.vanished && !(uid && self.qresync) {
            return self.bad(&tag, "VANISHED needs UID FETCH and QRESYNC enabled.");
        }
        if modifiers.changed_since.is_some() || items.contains(&FetchAttr::ModSeq) {
            self.enable_condstore();
        }
        // With CONDSTORE on, FLAGS always come with their MODSEQ (RFC 7162 §3.2).
        let wants_modseq = modifiers.changed_since.is_some()
            || (self.condstore && items.contains(&FetchAttr::Flags));
        if wants_modseq && !items.contains(&FetchAttr::ModSeq) {
            items.push(FetchAttr::ModSeq);
        }
        if modifiers.vanished {
            let job = condstore::VanishedFetch {
                tag,
                set,
                items,
                modifiers,
            };
            return self.fetch_vanished(job);
        }
        let mut targets = self.resolve(&set, uid);
        if let (Some(since), Some(s)) = (modifiers.changed_since, self.selected.as_ref()) {
            targets.retain(|&(seq, _)| {
                s.msgs
                    .get(seq as usize - 1)
                    .is_some_and(|m| m.modseq > since)
            });
        }
        // With QRESYNC every FETCH response carries the UID (RFC 7162 §3.2.4).
        if (uid || self.qresync) && !items.contains(&FetchAttr::Uid) {
            items.insert(0, FetchAttr::Uid);
        }
        let part = content_needed(&items);
        let streams = part == Some(FetchPart::Full) && streamable(&items);
        self.fetch_next(FetchJob {
            tag,
            items,
            part,
            streams,
            rest: targets,
            seen: Vec::new(),
            expunged: false,
            stream: None,
        });
    }

    /// Answers the next batch of a FETCH, or finishes it.
    pub(super) fn fetch_next(&mut self, mut job: FetchJob) {
        let Some(part) = job.part else {
            let all = std::mem::take(&mut job.rest);
            self.fetch_write(&mut job, &all, None, false);
            return self.fetch_finish(job);
        };
        if job.rest.is_empty() {
            return self.fetch_finish(job);
        }
        let Some(s) = self.selected.as_ref() else {
            return;
        };
        // The model does not change while a FETCH runs: sequence numbers index it.
        let size = |seq: u32| {
            (seq as usize)
                .checked_sub(1)
                .and_then(|i| s.msgs.get(i))
                .map_or(0, |m| m.size)
        };
        let above = self.config.stream_above;
        let streamed = |seq: u32| job.streams && size(seq) > above;
        let (batch, part, streaming) = match job.rest.first() {
            Some(&first) if streamed(first.0) => {
                job.rest.remove(0);
                (vec![first], FetchPart::Header, true)
            }
            _ => (next_batch(&mut job.rest, part, size, streamed), part, false),
        };
        let name = s.name.clone();
        let uids = batch.iter().map(|t| t.1).collect();
        self.ask(
            Then::Fetch {
                job,
                batch,
                streaming,
            },
            StoreRequest::Fetch {
                mailbox: name,
                uids,
                part,
            },
        );
    }

    /// The store answered a batch: its responses are written, then the FETCH goes on
    /// (with the streaming of a large message's octets first, when it was one).
    pub(super) fn on_fetched(
        &mut self,
        mut job: FetchJob,
        batch: &[(u32, u32)],
        streaming: bool,
        msgs: &[FetchedMessage],
    ) {
        self.fetch_write(&mut job, batch, Some(msgs), streaming);
        if job.stream.is_some() {
            self.stream_range(job);
        } else {
            self.fetch_next(job);
        }
    }

    /// Writes the FETCH responses of `batch`. With `msgs` (the store's answer), a message
    /// missing from it was expunged by another session: it is skipped, as Dovecot does,
    /// and never shown empty. With `streaming`, the one message's response is kept in
    /// `job.stream` to be written around its streamed octets.
    fn fetch_write(
        &mut self,
        job: &mut FetchJob,
        batch: &[(u32, u32)],
        msgs: Option<&[FetchedMessage]>,
        streaming: bool,
    ) {
        let Some(s) = self.selected.as_mut() else {
            return;
        };
        let sets_seen = !s.read_only
            && job.items.iter().any(|i| {
                matches!(
                    i,
                    FetchAttr::Rfc822
                        | FetchAttr::Rfc822Text
                        | FetchAttr::Section { peek: false, .. }
                        | FetchAttr::Binary { peek: false, .. }
                )
            });
        let contents: Option<std::collections::HashMap<u32, &[u8]>> =
            msgs.map(|m| m.iter().map(|x| (x.uid, x.data.as_ref())).collect());
        for &(seq, u) in batch {
            let Some(meta) = (seq as usize)
                .checked_sub(1)
                .and_then(|i| s.msgs.get_mut(i))
                .filter(|m| m.uid == u)
            else {
                continue;
            };
            let data = match &contents {
                Some(c) => match c.get(&u) {
                    Some(d) => Some(*d),
                    None => {
                        job.expunged = true;
                        continue;
                    }
                },
                None => None,
            };
            let flags_changed = sets_seen && !has_flag(&meta.flags, "\\Seen");
            if flags_changed {
                meta.flags.push("\\Seen".into());
                job.seen.push(u);
            }
            let item = FetchedItem {
                seq,
                meta,
                recent: s.recent.contains(&u),
                data,
                flags_changed,
                streamed: streaming,
            };
            let (response, ranges) = fetch_response(&job.items, item);
            if ranges.is_empty() {
                write_response(&mut self.wire.output, &response);
            } else {
                job.stream = Some(Streaming {
                    uid: u,
                    segments: write_response_split(&response).into(),
                    ranges: ranges.into(),
                    left: 0,
                    started: false,
                });
            }
        }
    }

    /// Asks the store for the next range of the message being streamed.
    fn stream_range(&mut self, mut job: FetchJob) {
        let name = self.selected.as_ref().map(|s| s.name.clone());
        let (Some(st), Some(name)) = (job.stream.as_mut(), name) else {
            return self.fetch_next(job);
        };
        let Some(range) = st.ranges.pop_front() else {
            return self.fetch_next(job);
        };
        st.left = range.len;
        let uid = st.uid;
        self.ask(
            Then::Stream { job },
            StoreRequest::Read {
                mailbox: name,
                uid,
                start: range.start,
                len: range.len,
            },
        );
    }

    /// A chunk of the message being streamed arrived (or the store failed).
    pub(super) fn on_chunk(
        &mut self,
        mut job: FetchJob,
        chunk: Result<Option<Vec<u8>>, StoreError>,
    ) {
        let Some(st) = job.stream.as_mut() else {
            return self.fetch_next(job);
        };
        let data = match chunk {
            Ok(Some(data)) if !data.is_empty() => data,
            _ if !st.started => {
                // Gone before anything was written (expunged elsewhere): skipped.
                job.stream = None;
                job.expunged = true;
                return self.fetch_next(job);
            }
            _ => {
                // Part of a literal is out: the session cannot go on (as Dovecot).
                return self.close(CloseReason::Failed);
            }
        };
        if !st.started {
            st.started = true;
            let head = st.segments.pop_front().unwrap_or_default();
            self.wire.output.extend_from_slice(&head);
        }
        let take = (data.len() as u64).min(st.left) as usize;
        self.wire.output.extend_from_slice(&data[..take]);
        st.left -= take as u64;
        if st.left > 0 {
            return self.ask(Then::Stream { job }, StoreRequest::ReadMore);
        }
        let next = st.segments.pop_front().unwrap_or_default();
        self.wire.output.extend_from_slice(&next);
        if st.ranges.is_empty() {
            job.stream = None;
            self.fetch_next(job);
        } else {
            self.stream_range(job);
        }
    }

    /// Ends a FETCH: stores the `\Seen` flags it set, then the tagged answer.
    fn fetch_finish(&mut self, job: FetchJob) {
        let status = if job.expunged {
            StatusText::ok("Some messages were already expunged.").code("EXPUNGEISSUED")
        } else {
            StatusText::ok("Fetch completed.")
        };
        if job.seen.is_empty() {
            return self.tagged(&job.tag, status);
        }
        let name = self
            .selected
            .as_ref()
            .map(|s| s.name.clone())
            .unwrap_or_default();
        self.ask(
            Then::SetFlags {
                tag: job.tag,
                status,
            },
            StoreRequest::SetFlags {
                mailbox: name,
                uids: job.seen,
                mode: StoreMode::Add,
                flags: vec!["\\Seen".into()],
                unchanged_since: None,
            },
        );
    }
}
