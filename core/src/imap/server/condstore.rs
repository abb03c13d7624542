//! CONDSTORE and QRESYNC (RFC 7162) in the machine: turning them on (ENABLE and the
//! CONDSTORE-enabling commands), the resynchronisation of `SELECT ... (QRESYNC (...))`,
//! `UID FETCH ... (CHANGEDSINCE n VANISHED)`, and the FETCH and VANISHED responses
//! that carry MODSEQs.

use super::*;
use crate::imap::command::{FetchModifiers, Qresync};

/// A `UID FETCH ... (CHANGEDSINCE n VANISHED)` waiting for the store's expunged UIDs.
#[derive(Debug)]
pub(crate) struct VanishedFetch {
    pub(super) tag: String,
    pub(super) set: SeqSet,
    pub(super) items: Vec<FetchAttr>,
    pub(super) modifiers: FetchModifiers,
}

impl ImapServer {
    /// Turns CONDSTORE on for the session (ENABLE, or the first CONDSTORE-enabling
    /// command); with a mailbox selected, tells its HIGHESTMODSEQ (RFC 7162 §3.1).
    pub(super) fn enable_condstore(&mut self) {
        if self.condstore {
            return;
        }
        self.condstore = true;
        if let Some(highest) = self.selected.as_ref().map(|s| s.highest_modseq) {
            self.untagged_status(highest_modseq(highest));
        }
    }

    /// ENABLE (RFC 5161): CONDSTORE, QRESYNC (which includes it) and IMAP4rev2;
    /// `* ENABLED` names those this command turned on, others are ignored.
    pub(super) fn enable(&mut self, tag: &str, caps: &[String]) {
        let mut enabled = vec![Value::atom("ENABLED")];
        for cap in caps {
            match cap.as_str() {
                "CONDSTORE" if !self.condstore => {
                    self.enable_condstore();
                    enabled.push(Value::atom("CONDSTORE"));
                }
                "QRESYNC" if !self.qresync => {
                    self.qresync = true;
                    self.enable_condstore();
                    enabled.push(Value::atom("QRESYNC"));
                }
                "IMAP4REV2" if !self.rev2 => {
                    self.rev2 = true;
                    enabled.push(Value::atom("IMAP4rev2"));
                }
                _ => {}
            }
        }
        self.untagged(enabled);
        self.ok(tag, "Enabled.");
    }

    /// After `SELECT ... (QRESYNC (...))` opened the mailbox the client knew (same
    /// UIDVALIDITY): asks for the UIDs expunged since its MODSEQ, unless nothing changed.
    pub(super) fn resync(&mut self, tag: String, status: StatusText, qresync: Qresync) {
        let Some(s) = self.selected.as_ref() else {
            return;
        };
        if qresync.modseq >= s.highest_modseq {
            return self.tagged(&tag, status);
        }
        let mailbox = s.name.clone();
        let since = qresync.modseq;
        self.ask(
            Then::Resync {
                tag,
                status,
                qresync,
            },
            StoreRequest::Vanished { mailbox, since },
        );
    }

    /// The store told what vanished: `VANISHED (EARLIER)` for the UIDs the client may
    /// still have, FETCH (UID FLAGS MODSEQ) for the messages changed since its MODSEQ,
    /// then the tagged answer.
    pub(super) fn on_resync(
        &mut self,
        tag: &str,
        status: StatusText,
        q: &Qresync,
        vanished: &[u32],
    ) {
        let Some(s) = self.selected.as_ref() else {
            return;
        };
        let known = |u: u32| {
            q.known_uids
                .as_ref()
                .is_none_or(|k| k.contains(u, u32::MAX))
        };
        let floor = q
            .seq_match
            .as_ref()
            .map_or(0, |(seqs, uids)| agreed_until(&s.msgs, seqs, uids));
        let gone: Vec<u32> = vanished
            .iter()
            .copied()
            .filter(|&u| u >= floor && known(u))
            .collect();
        let changed: Vec<Response> = s
            .msgs
            .iter()
            .enumerate()
            .filter(|(_, m)| m.modseq > q.modseq && known(m.uid))
            .map(|(i, m)| {
                let shown = with_recent(&m.flags, s.recent.contains(&m.uid));
                fetch_line(i + 1, Some(m.uid), Some(&shown), Some(m.modseq))
            })
            .collect();
        self.vanished(&gone, true);
        for r in changed {
            self.send(&r);
        }
        self.tagged(tag, status);
    }

    /// `UID FETCH ... (CHANGEDSINCE n VANISHED)`: the expunged UIDs first.
    pub(super) fn fetch_vanished(&mut self, job: VanishedFetch) {
        let Some(s) = self.selected.as_ref() else {
            return;
        };
        let mailbox = s.name.clone();
        let since = job.modifiers.changed_since.unwrap_or(0);
        self.ask(
            Then::FetchVanished(job),
            StoreRequest::Vanished { mailbox, since },
        );
    }

    /// The UIDs expunged since the FETCH's CHANGEDSINCE: those in its set as
    /// `VANISHED (EARLIER)`, then the FETCH itself.
    pub(super) fn on_fetch_vanished(&mut self, job: VanishedFetch, vanished: &[u32]) {
        // `*` here is the largest UID ever given, so that UIDs expunged at the end count.
        let star = self
            .selected
            .as_ref()
            .map_or(0, |s| s.uid_next.saturating_sub(1));
        let gone: Vec<u32> = vanished
            .iter()
            .copied()
            .filter(|&u| job.set.contains(u, star))
            .collect();
        self.vanished(&gone, true);
        let modifiers = FetchModifiers {
            vanished: false,
            ..job.modifiers
        };
        self.fetch(job.tag, true, job.set, job.items, modifiers);
    }

    /// `* VANISHED [(EARLIER)] uids` (nothing for no UIDs).
    pub(super) fn vanished(&mut self, uids: &[u32], earlier: bool) {
        if uids.is_empty() {
            return;
        }
        let mut values = vec![Value::atom("VANISHED")];
        if earlier {
            values.push(Value::List(vec![Value::atom("EARLIER")]));
        }
        values.push(Value::atom(SeqSet::from_numbers(uids).to_wire()));
        self.untagged(values);
    }
}

/// `* OK [HIGHESTMODSEQ n]`.
pub(super) fn highest_modseq(n: u64) -> StatusText {
    StatusText::ok("Highest").code(format!("HIGHESTMODSEQ {n}"))
}

/// `* n FETCH ([UID u ][FLAGS (...) ][MODSEQ (m)])`.
pub(super) fn fetch_line(
    seq: usize,
    uid: Option<u32>,
    flags: Option<&[String]>,
    modseq: Option<u64>,
) -> Response {
    let mut items = Vec::with_capacity(6);
    if let Some(u) = uid {
        items.extend([Value::atom("UID"), Value::Number(u.into())]);
    }
    if let Some(f) = flags {
        items.extend([Value::atom("FLAGS"), Value::atoms(f)]);
    }
    if let Some(m) = modseq {
        items.extend([Value::atom("MODSEQ"), Value::List(vec![Value::Number(m)])]);
    }
    Response::Untagged(vec![
        Value::Number(seq as u64),
        Value::atom("FETCH"),
        Value::List(items),
    ])
}

/// The numbers of a plain set, in the order written (a range backwards counts down).
fn numbers(set: &SeqSet) -> impl Iterator<Item = u32> + '_ {
    set.0.iter().flat_map(|&(a, b)| {
        let (SeqNum::Num(a), SeqNum::Num(b)) = (a, b) else {
            return Box::new(std::iter::empty()) as Box<dyn Iterator<Item = u32>>;
        };
        if a <= b {
            Box::new(a..=b)
        } else {
            Box::new((b..=a).rev())
        }
    })
}

/// QRESYNC's sequence match data (RFC 7162 §3.2.5.2): the pairs are walked while the
/// model still has that UID at that sequence number; no message before the last pair
/// that agrees was expunged, so VANISHED need not name UIDs below the returned one.
fn agreed_until(msgs: &[MessageMeta], seqs: &SeqSet, uids: &SeqSet) -> u32 {
    let mut floor = 0;
    for (seq, uid) in numbers(seqs).zip(numbers(uids)) {
        let here = (seq as usize)
            .checked_sub(1)
            .and_then(|i| msgs.get(i))
            .map(|m| m.uid);
        if here != Some(uid) {
            break;
        }
        floor = uid.saturating_add(1);
    }
    floor
}
