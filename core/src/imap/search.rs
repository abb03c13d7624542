//! IMAP SEARCH (RFC 3501 §6.4.4): which keys need the messages' contents, an incremental
//! scan that answers those keys from a message fed in chunks of any size (so a search
//! never holds a whole message, however large), and the evaluation of a search key over
//! the selected mailbox.
//!
//! The machine asks the store to scan the messages ([`ContentScan`], carried by
//! [`crate::imap::store::StoreRequest::Scan`]); the store feeds each message through a
//! fresh copy and returns the [`ContentFacts`]; [`matches`] combines them with the flags,
//! sizes and dates the machine already has.

use std::cmp::Ordering;

use crate::imap::command::{Day, SearchKey};
use crate::imf::datetime::WallClock;
use crate::imf::header::split_header_to_blank_line;

/// The longest header section kept for header searches; the rest of a longer one is read
/// as if it were body.
pub const MAX_SEARCH_HEADER: usize = 1024 * 1024;

/// Whether a key needs the messages' contents (header fields, body text, Date).
pub fn needs_content(key: &SearchKey) -> bool {
    match key {
        SearchKey::Header(..)
        | SearchKey::Body(_)
        | SearchKey::Text(_)
        | SearchKey::SentDate(..) => true,
        SearchKey::And(v) => v.iter().any(needs_content),
        SearchKey::Not(k) => needs_content(k),
        SearchKey::Or(a, b) => needs_content(a) || needs_content(b),
        _ => false,
    }
}

/// Whether `key` tests MODSEQ (a CONDSTORE-enabling search whose answer carries the
/// highest MODSEQ of the messages found, RFC 7162 §3.1.5).
pub fn mentions_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq(_) => true,
        SearchKey::And(v) => v.iter().any(mentions_modseq),
        SearchKey::Not(k) => mentions_modseq(k),
        SearchKey::Or(a, b) => mentions_modseq(a) || mentions_modseq(b),
        _ => false,
    }
}

/// One question about a message's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Atom {
    Header(String, String),
    Body(String),
    Text(String),
    SentDate(Ordering, Day),
}

impl Atom {
    fn of(key: &SearchKey) -> Option<Atom> {
        Some(match key {
            SearchKey::Header(f, v) => Atom::Header(f.clone(), v.clone()),
            SearchKey::Body(v) => Atom::Body(v.clone()),
            SearchKey::Text(v) => Atom::Text(v.clone()),
            SearchKey::SentDate(o, d) => Atom::SentDate(*o, *d),
            _ => return None,
        })
    }
}

fn collect_atoms(key: &SearchKey, out: &mut Vec<Atom>) {
    match key {
        SearchKey::And(v) => v.iter().for_each(|k| collect_atoms(k, out)),
        SearchKey::Not(k) => collect_atoms(k, out),
        SearchKey::Or(a, b) => {
            collect_atoms(a, out);
            collect_atoms(b, out);
        }
        k => {
            if let Some(a) = Atom::of(k) {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
    }
}

/// A case-insensitive substring search over text arriving in chunks (lossy UTF-8, Unicode
/// lower case), with the same answer however the text is split. An ASCII needle is looked
/// for in the bytes themselves, folding ASCII letters only (no copy of the text is made
/// beyond one chunk).
#[derive(Debug, Clone, PartialEq, Eq)]
struct StreamFinder {
    needle: String,
    /// Bytes of a UTF-8 sequence cut by the end of the last chunk.
    carry: Vec<u8>,
    /// The last characters seen, one fewer than the needle has.
    tail: String,
    /// For an ASCII needle: the last bytes seen (lower-cased), one fewer than it has.
    byte_tail: Vec<u8>,
    found: bool,
}

impl StreamFinder {
    fn new(needle: &str) -> Self {
        Self {
            needle: needle.to_lowercase(),
            carry: Vec::new(),
            tail: String::new(),
            byte_tail: Vec::new(),
            found: needle.is_empty(),
        }
    }

    fn feed(&mut self, chunk: &[u8]) {
        if self.found {
            return;
        }
        if self.needle.is_ascii() {
            let needle = self.needle.as_bytes();
            let keep = needle.len() - 1;
            // Across the boundary: the kept tail and the start of this chunk.
            let mut edge = std::mem::take(&mut self.byte_tail);
            edge.extend_from_slice(&chunk[..keep.min(chunk.len())]);
            if find_ascii_ci(&edge, needle) || find_ascii_ci(chunk, needle) {
                self.found = true;
                return;
            }
            edge.extend_from_slice(&chunk[keep.min(chunk.len())..]);
            self.byte_tail = if chunk.len() >= keep {
                chunk[chunk.len() - keep..].to_vec()
            } else {
                edge.split_off(edge.len().saturating_sub(keep))
            };
            return;
        }
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend_from_slice(chunk);
        let keep = incomplete_utf8_suffix(&bytes);
        self.carry = bytes.split_off(bytes.len() - keep);
        self.search(&String::from_utf8_lossy(&bytes).to_lowercase());
    }

    fn search(&mut self, text: &str) {
        let mut window = std::mem::take(&mut self.tail);
        window.push_str(text);
        if window.contains(&self.needle) {
            self.found = true;
            return;
        }
        let keep = self.needle.chars().count().saturating_sub(1);
        let start = window
            .char_indices()
            .rev()
            .nth(keep.saturating_sub(1))
            .map_or(0, |(i, _)| i);
        self.tail = if keep == 0 {
            String::new()
        } else {
            window[start..].to_string()
        };
    }

    fn finish(mut self) -> bool {
        if !self.found && !self.carry.is_empty() && !self.needle.is_ascii() {
            let rest = std::mem::take(&mut self.carry);
            self.search(&String::from_utf8_lossy(&rest).to_lowercase());
        }
        self.found
    }
}

/// Whether `hay` contains `needle` (lower-case ASCII), comparing ASCII letters without
/// regard to case.
fn find_ascii_ci(hay: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return true;
    };
    let mut pos = 0;
    while let Some(i) = memchr::memchr2(first, first.to_ascii_uppercase(), &hay[pos..]) {
        let at = pos + i;
        match hay.get(at..at + needle.len()) {
            Some(w) if w.eq_ignore_ascii_case(needle) => return true,
            Some(_) => pos = at + 1,
            None => return false,
        }
    }
    false
}

/// How many bytes at the end of `b` are the start of a UTF-8 sequence that is not complete
/// yet (0 to 3).
fn incomplete_utf8_suffix(b: &[u8]) -> usize {
    for back in 1..=3.min(b.len()) {
        let c = b[b.len() - back];
        if c & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back for the lead byte
        }
        let need = match c {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return 0,
        };
        return if need > back { back } else { 0 };
    }
    0
}

/// Where the header section of `buf` ends (after its empty line), looking at lines from
/// `from` on; None while no empty line has arrived.
fn header_end(buf: &[u8], from: &mut usize) -> Option<usize> {
    while let Some(nl) = memchr::memchr(b'\n', &buf[*from..]) {
        let line = &buf[*from..*from + nl + 1];
        *from += nl + 1;
        if line == b"\n" || line == b"\r\n" {
            return Some(*from);
        }
    }
    None
}

/// The answers to a search's content questions for one message, from a [`ContentScan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentFacts {
    atoms: Vec<Atom>,
    answers: Vec<bool>,
    /// The header fields asked for (SORT, THREAD): name and first value, raw.
    fields: Vec<(String, Option<String>)>,
}

impl ContentFacts {
    /// The raw (unfolded) value of the first `name` field, when the scan was asked for
    /// it ([`ContentScan::with_fields`]) and the message has one.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_deref())
    }

    fn answer(&self, atom: &Atom) -> bool {
        self.atoms
            .iter()
            .position(|a| a == atom)
            .and_then(|i| self.answers.get(i).copied())
            .unwrap_or(false)
    }
}

/// An incremental scan of one message (CRLF line ends, as FETCH serves it) for the
/// content keys of a search. Make one per search with [`ContentScan::new`], clone it for
/// each message, [`feed`](ContentScan::feed) the message in chunks while
/// [`wants_more`](ContentScan::wants_more), then [`finish`](ContentScan::finish).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentScan {
    atoms: Vec<Atom>,
    /// Header fields whose values the caller wants (SORT, THREAD).
    fields: Vec<String>,
    header: Vec<u8>,
    /// Where the search for the header's end resumes in `header`.
    header_scanned: usize,
    header_done: bool,
    /// One finder per Body / Text atom (None for the others), in atom order.
    finders: Vec<Option<StreamFinder>>,
}

impl ContentScan {
    /// The scan for `key`'s content questions.
    pub fn new(key: &SearchKey) -> Self {
        let mut atoms = Vec::new();
        collect_atoms(key, &mut atoms);
        let finders = atoms
            .iter()
            .map(|a| match a {
                Atom::Body(n) | Atom::Text(n) => Some(StreamFinder::new(n)),
                _ => None,
            })
            .collect();
        Self {
            atoms,
            fields: Vec::new(),
            header: Vec::new(),
            header_scanned: 0,
            header_done: false,
            finders,
        }
    }

    /// The scan for `key`'s content questions that also keeps the values of the header
    /// fields named (SORT and THREAD read Subject, From, Date, References...).
    pub fn with_fields(key: &SearchKey, fields: &[&str]) -> Self {
        let mut scan = Self::new(key);
        scan.fields = fields.iter().map(|f| f.to_string()).collect();
        scan
    }

    /// Whether more of the message could change an answer (false once the header is
    /// complete and no body question is still open).
    pub fn wants_more(&self) -> bool {
        !self.header_done || self.finders.iter().flatten().any(|f| !f.found)
    }

    /// The next bytes of the message.
    pub fn feed(&mut self, chunk: &[u8]) {
        for (atom, finder) in self.atoms.iter().zip(self.finders.iter_mut()) {
            if let (Atom::Text(_), Some(f)) = (atom, finder) {
                f.feed(chunk);
            }
        }
        if self.header_done {
            self.feed_body(chunk);
            return;
        }
        self.header.extend_from_slice(chunk);
        let end = header_end(&self.header, &mut self.header_scanned);
        let end = match end {
            Some(end) => end,
            None if self.header.len() > MAX_SEARCH_HEADER => MAX_SEARCH_HEADER,
            None => return,
        };
        let body = self.header.split_off(end);
        self.header_done = true;
        self.feed_body(&body);
    }

    fn feed_body(&mut self, chunk: &[u8]) {
        for (atom, finder) in self.atoms.iter().zip(self.finders.iter_mut()) {
            if let (Atom::Body(_), Some(f)) = (atom, finder) {
                f.feed(chunk);
            }
        }
    }

    /// The answers, once the whole message (or all it wanted) was fed.
    pub fn finish(self) -> ContentFacts {
        let header = self.header;
        let answers = self
            .atoms
            .iter()
            .zip(self.finders)
            .map(|(atom, finder)| match (atom, finder) {
                (Atom::Header(field, needle), _) => header_matches(&header, field, needle),
                (Atom::SentDate(ord, day), _) => header_value(&header, "Date")
                    .first()
                    .and_then(|d| crate::imf::datetime::parse_date(d))
                    .is_some_and(|w| date_matches(*ord, local_day(&w), *day)),
                (_, Some(f)) => f.finish(),
                (_, None) => false,
            })
            .collect();
        let fields = if self.fields.is_empty() {
            Vec::new()
        } else {
            let (parsed, _) = split_header_to_blank_line(&header);
            self.fields
                .into_iter()
                .map(|name| {
                    let value = parsed
                        .iter()
                        .find(|f| f.is(&name))
                        .map(|f| f.value().trim().to_string());
                    (name, value)
                })
                .collect()
        };
        ContentFacts {
            atoms: self.atoms,
            answers,
            fields,
        }
    }
}

fn header_value(header: &[u8], field: &str) -> Vec<String> {
    let (fields, _) = split_header_to_blank_line(header);
    fields
        .iter()
        .filter(|f| f.is(field))
        .map(|f| crate::mime::encoded_word::decode(&f.value()))
        .collect()
}

/// Fields whose SEARCH also matches the parsed addresses, so that comments and odd
/// spacing in the raw field (`<user (c)@ (c) example.org>`) do not hide an address.
const ADDRESS_FIELDS: [&str; 6] = ["from", "to", "cc", "bcc", "sender", "reply-to"];

fn header_matches(header: &[u8], field: &str, needle: &str) -> bool {
    let values = header_value(header, field);
    if needle.is_empty() {
        return !values.is_empty();
    }
    let address = ADDRESS_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(field));
    values.iter().any(|v| {
        contains_ci(v, needle) || (address && contains_ci(&normalized_addresses(v), needle))
    })
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

/// An address field rendered the way people write it: `Name <local@domain>`, groups as
/// `group: members;`, comments and folding removed.
fn normalized_addresses(value: &str) -> String {
    use crate::imf::address::{parse_address_list, Address, Mailbox};
    fn one(m: &Mailbox<'_>) -> String {
        let addr = if m.domain.is_empty() {
            m.local.to_string()
        } else {
            format!("{}@{}", m.local, m.domain)
        };
        match m.decoded_name() {
            Some(name) => format!("{name} <{addr}>"),
            None => addr,
        }
    }
    parse_address_list(value)
        .iter()
        .map(|a| match a {
            Address::Mailbox(m) => one(m),
            Address::Group { name, members } => format!(
                "{name}: {};",
                members.iter().map(one).collect::<Vec<_>>().join(", ")
            ),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The day (days since 1970-01-01) of a time in its own zone: RFC 3501 date searches
/// disregard the time of day and compare dates as the message's zone sees them.
fn local_day(w: &WallClock) -> i64 {
    (w.unix_secs + i64::from(w.utc_offset_minutes) * 60).div_euclid(86_400)
}

/// BEFORE (`Less`: strictly earlier), ON (`Equal`) and SINCE (`Greater`: that day or later).
fn date_matches(ord: Ordering, message_day: i64, day: i64) -> bool {
    match ord {
        Ordering::Less => message_day < day,
        Ordering::Equal => message_day == day,
        Ordering::Greater => message_day >= day,
    }
}

/// What a search knows about one message of the selected mailbox.
#[derive(Debug, Clone, Copy)]
pub struct SearchCtx<'a> {
    /// Its sequence number.
    pub seq: u32,
    /// Messages in the mailbox (the value of `*` for sequence sets).
    pub n: u32,
    /// The largest UID (the value of `*` for UID sets).
    pub max_uid: u32,
    /// Its UID.
    pub uid: u32,
    /// Its flags (system flags and keywords).
    pub flags: &'a [String],
    /// Its RFC822.SIZE.
    pub size: u64,
    /// Its INTERNALDATE.
    pub internal_date: WallClock,
    /// The answers to the content questions, if the store scanned it.
    pub facts: Option<&'a ContentFacts>,
    /// Whether it is `\Recent` for this session.
    pub recent: bool,
    /// Its MODSEQ (RFC 7162).
    pub modseq: u64,
}

fn has_flag(flags: &[String], f: &str) -> bool {
    flags.iter().any(|x| x.eq_ignore_ascii_case(f))
}

/// Whether one message matches `key`.
pub fn matches(key: &SearchKey, c: &SearchCtx<'_>) -> bool {
    match key {
        SearchKey::All => true,
        SearchKey::And(keys) => keys.iter().all(|k| matches(k, c)),
        SearchKey::Not(k) => !matches(k, c),
        SearchKey::Or(a, b) => matches(a, c) || matches(b, c),
        SearchKey::Flag(f) if f == "\\Recent" => c.recent,
        SearchKey::NoFlag(f) if f == "\\Recent" => !c.recent,
        SearchKey::Flag(f) => has_flag(c.flags, f),
        SearchKey::NoFlag(f) => !has_flag(c.flags, f),
        SearchKey::New => c.recent && !has_flag(c.flags, "\\Seen"),
        SearchKey::Old => !c.recent,
        SearchKey::Seq(set) => set.contains(c.seq, c.n),
        SearchKey::Uid(set) => set.contains(c.uid, c.max_uid),
        SearchKey::Larger(n) => c.size > *n,
        SearchKey::Smaller(n) => c.size < *n,
        SearchKey::ModSeq(n) => c.modseq >= *n,
        SearchKey::InternalDate(ord, day) => date_matches(*ord, local_day(&c.internal_date), *day),
        content => match (Atom::of(content), c.facts) {
            (Some(atom), Some(facts)) => facts.answer(&atom),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::command::{parse_command, Command};

    fn key(text: &str) -> SearchKey {
        let line = format!("a SEARCH CHARSET UTF-8 {text}\r\n");
        match parse_command(line.as_bytes()).map(|t| t.command) {
            Ok(Command::Search { key, .. }) => key,
            other => panic!("{other:?}"),
        }
    }

    fn scan(key: &SearchKey, message: &[u8], chunk: usize) -> ContentFacts {
        let mut s = ContentScan::new(key);
        for c in message.chunks(chunk.max(1)) {
            if !s.wants_more() {
                break;
            }
            s.feed(c);
        }
        s.finish()
    }

    fn hit(k: &SearchKey, facts: &ContentFacts) -> bool {
        matches(
            k,
            &SearchCtx {
                seq: 1,
                n: 1,
                max_uid: 1,
                uid: 1,
                flags: &[],
                size: 10,
                internal_date: WallClock::utc(0),
                facts: Some(facts),
                recent: false,
                modseq: 1,
            },
        )
    }

    const MESSAGE: &[u8] = "From: Zoë <zoe@example.org>\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nDate: Fri, 4 Dec 2026 10:00:00 +0100\r\n\r\nThe body says GRÜSSE and Straße.\r\nsubject: not a header\r\n".as_bytes();

    #[test]
    fn answers_do_not_depend_on_how_the_message_is_split() {
        for text in [
            "FROM zoe",
            "SUBJECT \"grüße\"",
            "BODY \"straße\"",
            "BODY \"GRÜSSE\"",
            "TEXT \"zoë\"",
            "BODY \"zoë\"",
            "SUBJECT \"not a header\"",
            "HEADER Date \"\"",
            "SENTON 4-Dec-2026",
            "SENTBEFORE 1-Jan-2020",
            "OR BODY nothing-here TEXT \"a header\"",
        ] {
            let k = key(text);
            let whole = hit(&k, &scan(&k, MESSAGE, MESSAGE.len()));
            for chunk in 1..8 {
                assert_eq!(
                    hit(&k, &scan(&k, MESSAGE, chunk)),
                    whole,
                    "{text} / {chunk}"
                );
            }
        }
        let yes = |t: &str| hit(&key(t), &scan(&key(t), MESSAGE, 3));
        assert!(yes("FROM zoe") && yes("SUBJECT \"grüße\"") && yes("BODY \"straße\""));
        assert!(yes("TEXT \"zoë\"") && yes("SENTON 4-Dec-2026"));
        assert!(!yes("BODY \"zoë\"") && !yes("SUBJECT \"not a header\""));
        assert!(!yes("SENTBEFORE 1-Jan-2020"));
    }

    #[test]
    fn a_header_only_search_stops_reading_at_the_body() {
        let k = key("SUBJECT x");
        let mut s = ContentScan::new(&k);
        s.feed(b"Subject: x\r\n");
        assert!(s.wants_more());
        s.feed(b"\r\nbody");
        assert!(!s.wants_more());
        let k = key("BODY needle");
        let mut s = ContentScan::new(&k);
        s.feed(b"S: x\r\n\r\nhay nee");
        assert!(s.wants_more());
        s.feed(b"dle");
        assert!(!s.wants_more(), "found: nothing more to read");
    }

    #[test]
    fn a_needle_cut_inside_a_multibyte_character_is_found() {
        let k = key("BODY \"é\"");
        // ASCII needles are matched across chunk edges too.
        let ascii = key("BODY needle");
        for chunk in 1..9 {
            assert!(hit(
                &ascii,
                &scan(&ascii, b"A: b\r\n\r\nhay NeEdLe hay", chunk)
            ));
            assert!(!hit(
                &ascii,
                &scan(&ascii, b"A: b\r\n\r\nhay needl hay", chunk)
            ));
        }
        let msg = "A: b\r\n\r\ncaf\u{e9}\r\n".as_bytes();
        let split = msg.len() - 3; // between the two bytes of é
        let mut s = ContentScan::new(&k);
        s.feed(&msg[..split]);
        s.feed(&msg[split..]);
        assert!(hit(&k, &s.finish()));
    }

    #[test]
    fn a_message_without_body_is_all_header() {
        let k = key("SUBJECT end");
        assert!(hit(&k, &scan(&k, b"Subject: the end", 4)));
        let k = key("BODY end");
        assert!(!hit(&k, &scan(&k, b"Subject: the end", 4)));
    }

    #[test]
    fn incomplete_utf8_suffixes() {
        assert_eq!(incomplete_utf8_suffix(b"ab"), 0);
        assert_eq!(incomplete_utf8_suffix(b"a\xc3"), 1);
        assert_eq!(incomplete_utf8_suffix(b"a\xc3\xa9"), 0);
        assert_eq!(incomplete_utf8_suffix(b"a\xe2\x82"), 2);
        assert_eq!(incomplete_utf8_suffix(b"\xf0\x9f\x98"), 3);
        assert_eq!(incomplete_utf8_suffix(b"\x80\x80\x80"), 0);
    }
}
