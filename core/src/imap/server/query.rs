//! SEARCH, SORT and THREAD in the Selected state: the key evaluated over the session's
//! model (after the store's content scan when the key or the answer needs the messages'
//! contents), then answered as SEARCH, ESEARCH (RFC 4731, also for ESORT's RETURN),
//! SORT (RFC 5256) or THREAD; `RETURN (SAVE)` keeps the result as `$` (RFC 5182), which
//! later commands use in place of a sequence set.

use super::*;
use crate::imap::command::SearchReturn;
use crate::imap::search::mentions_modseq;
use crate::imap::seqset::SeqSet;
use crate::imap::sort::{sent_date, sort, SortCriterion, SortFacts};
use crate::imap::thread::{thread, ThreadAlgorithm, ThreadFacts};
use std::collections::HashMap;

/// What a search is for.
#[derive(Debug)]
pub(super) enum QueryKind {
    /// SEARCH, with its `RETURN` options if any.
    Search(Option<SearchReturn>),
    /// SORT by these criteria, with its `RETURN` options if any.
    Sort(Vec<SortCriterion>, Option<SearchReturn>),
    /// THREAD by this algorithm.
    Thread(ThreadAlgorithm),
}

/// The header fields THREAD reads.
const THREAD_FIELDS: [&str; 5] = ["Subject", "Date", "Message-ID", "References", "In-Reply-To"];

impl QueryKind {
    /// The header fields its answer needs.
    fn fields(&self) -> Vec<&'static str> {
        match self {
            QueryKind::Search(_) => Vec::new(),
            QueryKind::Sort(criteria, _) => {
                let mut f: Vec<&'static str> =
                    criteria.iter().filter_map(|c| c.key.field()).collect();
                f.dedup();
                f
            }
            QueryKind::Thread(_) => THREAD_FIELDS.to_vec(),
        }
    }
}

/// `1:3,5` for these numbers in this order: runs of consecutive ascending numbers as
/// ranges (ESEARCH's ALL; in sort order for ESORT).
fn ordered_set(numbers: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < numbers.len() {
        let start = numbers[i];
        let mut end = start;
        while i + 1 < numbers.len() && numbers[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = numbers[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    parts.join(",")
}

impl ImapServer {
    /// SEARCH, SORT or THREAD: from the model, or after the store's content scan.
    pub(super) fn query(&mut self, tag: String, uid: bool, key: SearchKey, kind: QueryKind) {
        let fields = kind.fields();
        if !needs_content(&key) && fields.is_empty() {
            return self.query_respond(&tag, uid, &key, &kind, None);
        }
        let Some(s) = self.selected.as_ref() else {
            return;
        };
        let name = s.name.clone();
        let uids = s.msgs.iter().map(|m| m.uid).collect();
        let scan = ContentScan::with_fields(&key, &fields);
        self.ask(
            Then::Search {
                tag,
                uid,
                key,
                kind,
            },
            StoreRequest::Scan {
                mailbox: name,
                uids,
                scan,
            },
        );
    }

    /// The messages matching `key` (indexes into the model, in mailbox order) and
    /// whether some were expunged by another session meanwhile (missing from `facts`).
    fn matching(
        &self,
        key: &SearchKey,
        facts: Option<&HashMap<u32, &ContentFacts>>,
    ) -> (Vec<usize>, bool) {
        let Some(s) = self.selected.as_ref() else {
            return (Vec::new(), false);
        };
        let n = s.msgs.len() as u32;
        let max_uid = s.msgs.last().map_or(0, |m| m.uid);
        let mut hits = Vec::new();
        let mut expunged = false;
        for (i, m) in s.msgs.iter().enumerate() {
            let mine = facts.and_then(|f| f.get(&m.uid).copied());
            expunged |= facts.is_some() && mine.is_none();
            let ctx = SearchCtx {
                seq: i as u32 + 1,
                n,
                max_uid,
                uid: m.uid,
                flags: &m.flags,
                size: m.size,
                internal_date: m.internal_date,
                facts: mine,
                recent: s.recent.contains(&m.uid),
                modseq: m.modseq,
            };
            if matches(key, &ctx) {
                hits.push(i);
            }
        }
        (hits, expunged)
    }

    /// Answers a SEARCH, SORT or THREAD. With `facts` (the store's scan), a message
    /// missing from them was expunged by another session: it cannot match a content key,
    /// and the answer says `[EXPUNGEISSUED]` (as Dovecot).
    pub(super) fn query_respond(
        &mut self,
        tag: &str,
        uid: bool,
        key: &SearchKey,
        kind: &QueryKind,
        facts: Option<&[(u32, ContentFacts)]>,
    ) {
        let facts: Option<HashMap<u32, &ContentFacts>> =
            facts.map(|f| f.iter().map(|(u, f)| (*u, f)).collect());
        let (hits, expunged) = self.matching(key, facts.as_ref());
        let Some(s) = self.selected.as_ref() else {
            return;
        };
        let number = |i: usize| if uid { s.msgs[i].uid } else { i as u32 + 1 };
        let with_modseq = mentions_modseq(key);
        let modseq_of = |i: &usize| s.msgs[*i].modseq;
        let of = |i: usize| facts.as_ref().and_then(|f| f.get(&s.msgs[i].uid).copied());
        match kind {
            QueryKind::Search(None) => {
                let mut values = vec![Value::atom("SEARCH")];
                values.extend(hits.iter().map(|&i| Value::Number(number(i).into())));
                values.extend(modseq_value(with_modseq, hits.iter().map(modseq_of)));
                self.untagged(values);
            }
            QueryKind::Search(Some(ret)) => {
                let found = Found {
                    numbers: hits.iter().map(|&i| number(i)).collect(),
                    uids: hits.iter().map(|&i| s.msgs[i].uid).collect(),
                    modseqs: with_modseq.then(|| hits.iter().map(modseq_of).collect()),
                    sorted: false,
                };
                self.esearch(tag, uid, *ret, &found);
            }
            QueryKind::Sort(criteria, ret) => {
                let sort_facts: Vec<SortFacts<'_>> = hits
                    .iter()
                    .map(|&i| {
                        let m = &s.msgs[i];
                        let fields = criteria
                            .iter()
                            .filter_map(|c| c.key.field())
                            .filter_map(|f| of(i).and_then(|x| x.field(f)).map(|v| (f, v)))
                            .collect();
                        SortFacts {
                            seq: i as u32 + 1,
                            arrival: m.internal_date.unix_secs,
                            size: m.size,
                            fields,
                        }
                    })
                    .collect();
                let order: Vec<usize> = sort(&sort_facts, criteria)
                    .into_iter()
                    .map(|k| hits[k])
                    .collect();
                let numbers: Vec<u32> = order.iter().map(|&i| number(i)).collect();
                match ret {
                    None => {
                        let mut values = vec![Value::atom("SORT")];
                        values.extend(numbers.iter().map(|&n| Value::Number(n.into())));
                        values.extend(modseq_value(with_modseq, order.iter().map(modseq_of)));
                        self.untagged(values);
                    }
                    Some(ret) => {
                        let found = Found {
                            uids: order.iter().map(|&i| s.msgs[i].uid).collect(),
                            modseqs: with_modseq.then(|| order.iter().map(modseq_of).collect()),
                            numbers,
                            sorted: true,
                        };
                        self.esearch(tag, uid, *ret, &found);
                    }
                }
            }
            QueryKind::Thread(algorithm) => {
                let field = |i: usize, f: &str| {
                    of(i)
                        .and_then(|x| x.field(f))
                        .unwrap_or_default()
                        .to_string()
                };
                let msgs: Vec<ThreadFacts> = hits
                    .iter()
                    .map(|&i| ThreadFacts {
                        number: number(i),
                        seq: i as u32 + 1,
                        sent: sent_date(
                            of(i).and_then(|x| x.field("Date")),
                            s.msgs[i].internal_date.unix_secs,
                        ),
                        subject: field(i, "Subject"),
                        message_id: field(i, "Message-ID"),
                        references: field(i, "References"),
                        in_reply_to: field(i, "In-Reply-To"),
                    })
                    .collect();
                let threads = thread(&msgs, *algorithm);
                let mut values = vec![Value::atom("THREAD")];
                if !threads.is_empty() {
                    values.push(Value::atom(threads));
                }
                self.untagged(values);
            }
        }
        let what = match kind {
            QueryKind::Search(_) => "Search",
            QueryKind::Sort(..) => "Sort",
            QueryKind::Thread(_) => "Thread",
        };
        let status = StatusText::ok(format!("{what} completed."));
        if expunged {
            self.tagged(tag, status.code("EXPUNGEISSUED"));
        } else {
            self.tagged(tag, status);
        }
    }

    /// The ESEARCH response for `numbers` (in answer order; `uids` the same messages),
    /// and SAVE's `$`. For a SORT (`sorted`), MIN and MAX are the first and last in sort
    /// order (RFC 5267 §3.2); for a SEARCH, the lowest and highest.
    fn esearch(&mut self, tag: &str, uid: bool, ret: SearchReturn, found: &Found) {
        let (numbers, uids) = (&found.numbers[..], &found.uids[..]);
        let (lo, hi) = if found.sorted {
            (
                (!numbers.is_empty()).then_some(0),
                numbers.len().checked_sub(1),
            )
        } else {
            (min_at(numbers), max_at(numbers))
        };
        if ret.save {
            // With MIN and/or MAX alone, only those messages are saved (RFC 5182 §2.4).
            let saved: Vec<u32> = if ret.all || ret.count || !(ret.min || ret.max) {
                uids.to_vec()
            } else {
                [lo.filter(|_| ret.min), hi.filter(|_| ret.max)]
                    .into_iter()
                    .flatten()
                    .map(|i| uids[i])
                    .collect()
            };
            if let Some(s) = self.selected.as_mut() {
                s.saved = saved;
                s.saved.sort_unstable();
            }
        }
        if ret.save && !(ret.min || ret.max || ret.count || ret.all) {
            return; // SAVE alone answers nothing but the tagged OK.
        }
        let mut values = vec![
            Value::atom("ESEARCH"),
            Value::List(vec![Value::atom("TAG"), Value::Quoted(tag.to_string())]),
        ];
        if uid {
            values.push(Value::atom("UID"));
        }
        if ret.min {
            if let Some(i) = lo {
                values.extend([Value::atom("MIN"), Value::Number(numbers[i].into())]);
            }
        }
        if ret.max {
            if let Some(i) = hi {
                values.extend([Value::atom("MAX"), Value::Number(numbers[i].into())]);
            }
        }
        if ret.count {
            values.extend([Value::atom("COUNT"), Value::Number(numbers.len() as u64)]);
        }
        if ret.all && !numbers.is_empty() {
            values.extend([Value::atom("ALL"), Value::atom(ordered_set(numbers))]);
        }
        if let Some(modseqs) = &found.modseqs {
            // The highest MODSEQ of the messages the answer names: all of them with ALL
            // or COUNT, else the MIN and MAX ones (RFC 7162 §3.1.5).
            let named: Vec<usize> = if ret.all || ret.count {
                (0..modseqs.len()).collect()
            } else {
                [lo.filter(|_| ret.min), hi.filter(|_| ret.max)]
                    .into_iter()
                    .flatten()
                    .collect()
            };
            if let Some(top) = named.iter().map(|&i| modseqs[i]).max() {
                values.extend([Value::atom("MODSEQ"), Value::Number(top)]);
            }
        }
        self.untagged(values);
    }

    /// The command with `$` replaced by the saved result: UIDs for UID commands and
    /// `UID $` in a key, sequence numbers otherwise (messages expunged since are gone).
    pub(super) fn with_saved_result(&self, cmd: Command) -> Command {
        let set = |s: SeqSet, uid: bool| {
            if s.is_saved() {
                self.saved_set(uid)
            } else {
                s
            }
        };
        match cmd {
            Command::Fetch {
                uid,
                set: s,
                items,
                modifiers,
            } => Command::Fetch {
                uid,
                set: set(s, uid),
                items,
                modifiers,
            },
            Command::Store {
                uid,
                set: s,
                mode,
                silent,
                flags,
                unchanged_since,
            } => Command::Store {
                uid,
                set: set(s, uid),
                mode,
                silent,
                flags,
                unchanged_since,
            },
            Command::Copy {
                uid,
                set: s,
                mailbox,
                is_move,
            } => Command::Copy {
                uid,
                set: set(s, uid),
                mailbox,
                is_move,
            },
            Command::Expunge(Some(s)) => Command::Expunge(Some(set(s, true))),
            Command::Search { uid, key, ret } => Command::Search {
                uid,
                key: self.key_with_saved(key),
                ret,
            },
            Command::Sort {
                uid,
                criteria,
                key,
                ret,
            } => Command::Sort {
                uid,
                criteria,
                key: self.key_with_saved(key),
                ret,
            },
            Command::Thread {
                uid,
                algorithm,
                key,
            } => Command::Thread {
                uid,
                algorithm,
                key: self.key_with_saved(key),
            },
            other => other,
        }
    }

    fn key_with_saved(&self, key: SearchKey) -> SearchKey {
        match key {
            SearchKey::Seq(s) if s.is_saved() => SearchKey::Seq(self.saved_set(false)),
            SearchKey::Uid(s) if s.is_saved() => SearchKey::Uid(self.saved_set(true)),
            SearchKey::And(v) => {
                SearchKey::And(v.into_iter().map(|k| self.key_with_saved(k)).collect())
            }
            SearchKey::Not(k) => SearchKey::Not(Box::new(self.key_with_saved(*k))),
            SearchKey::Or(a, b) => SearchKey::Or(
                Box::new(self.key_with_saved(*a)),
                Box::new(self.key_with_saved(*b)),
            ),
            k => k,
        }
    }

    /// The saved result as UIDs or sequence numbers of the messages still there.
    fn saved_set(&self, uid: bool) -> SeqSet {
        let Some(s) = self.selected.as_ref() else {
            return SeqSet(Vec::new());
        };
        let numbers: Vec<u32> = s
            .msgs
            .iter()
            .enumerate()
            .filter(|(_, m)| s.saved.binary_search(&m.uid).is_ok())
            .map(|(i, m)| if uid { m.uid } else { i as u32 + 1 })
            .collect();
        SeqSet::from_numbers(&numbers)
    }
}

/// The messages a search found, in answer order.
struct Found {
    /// Their sequence numbers or UIDs, as the answer names them.
    numbers: Vec<u32>,
    /// Their UIDs.
    uids: Vec<u32>,
    /// Their MODSEQs, when the search tested MODSEQ (the answer then tells the highest).
    modseqs: Option<Vec<u64>>,
    /// Whether in sort order (MIN and MAX are then the first and the last).
    sorted: bool,
}

/// `(MODSEQ n)` after a SEARCH or SORT answer that tested MODSEQ: the highest of the
/// messages found (nothing when none was).
fn modseq_value(wanted: bool, modseqs: impl Iterator<Item = u64>) -> Option<Value> {
    let top = modseqs.max().filter(|_| wanted)?;
    Some(Value::List(vec![Value::atom("MODSEQ"), Value::Number(top)]))
}

/// Where the smallest number is.
fn min_at(numbers: &[u32]) -> Option<usize> {
    (0..numbers.len()).min_by_key(|&i| numbers[i])
}

/// Where the largest number is.
fn max_at(numbers: &[u32]) -> Option<usize> {
    (0..numbers.len()).max_by_key(|&i| numbers[i])
}

#[cfg(test)]
mod tests {
    use super::ordered_set;

    #[test]
    fn sets_in_answer_order() {
        assert_eq!(ordered_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(ordered_set(&[5, 3, 4, 1]), "5,3:4,1");
        assert_eq!(ordered_set(&[]), "");
    }
}
