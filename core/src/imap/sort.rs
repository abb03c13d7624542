//! SORT (RFC 5256 §3) and its display variants (RFC 5957): the header fields a sort
//! needs, base subject extraction (§2.1), the sent date (§2.2), and the order of messages
//! under a list of criteria (ties by sequence number).

use std::cmp::Ordering;

use crate::imf::address::{parse_address_list, Address, Mailbox};
use crate::imf::datetime::WallClock;

/// One sort criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// INTERNALDATE.
    Arrival,
    /// The first Cc address's mailbox (local part).
    Cc,
    /// The sent date (Date, or INTERNALDATE without a usable one).
    Date,
    /// The first From address's mailbox.
    From,
    /// RFC822.SIZE.
    Size,
    /// The base subject.
    Subject,
    /// The first To address's mailbox.
    To,
    /// The first From address's display name, else its address (RFC 5957).
    DisplayFrom,
    /// The first To address's display name, else its address (RFC 5957).
    DisplayTo,
}

impl SortKey {
    /// Every criterion.
    pub const ALL: [SortKey; 9] = [
        SortKey::Arrival,
        SortKey::Cc,
        SortKey::Date,
        SortKey::From,
        SortKey::Size,
        SortKey::Subject,
        SortKey::To,
        SortKey::DisplayFrom,
        SortKey::DisplayTo,
    ];

    /// The criterion named `word` (any case).
    pub fn from_name(word: &str) -> Option<SortKey> {
        Some(match word.to_ascii_uppercase().as_str() {
            "ARRIVAL" => SortKey::Arrival,
            "CC" => SortKey::Cc,
            "DATE" => SortKey::Date,
            "FROM" => SortKey::From,
            "SIZE" => SortKey::Size,
            "SUBJECT" => SortKey::Subject,
            "TO" => SortKey::To,
            "DISPLAYFROM" => SortKey::DisplayFrom,
            "DISPLAYTO" => SortKey::DisplayTo,
            _ => return None,
        })
    }

    /// The header field it reads, if any.
    pub fn field(self) -> Option<&'static str> {
        match self {
            SortKey::Cc => Some("Cc"),
            SortKey::Date => Some("Date"),
            SortKey::From | SortKey::DisplayFrom => Some("From"),
            SortKey::Subject => Some("Subject"),
            SortKey::To | SortKey::DisplayTo => Some("To"),
            SortKey::Arrival | SortKey::Size => None,
        }
    }
}

/// A criterion with its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortCriterion {
    /// What is compared.
    pub key: SortKey,
    /// REVERSE.
    pub reverse: bool,
}

/// What a sort knows of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortFacts<'a> {
    /// Its sequence number (the last tie-break).
    pub seq: u32,
    /// INTERNALDATE, seconds since the epoch.
    pub arrival: i64,
    /// RFC822.SIZE.
    pub size: u64,
    /// The raw (unfolded) values of the header fields the criteria read, by name.
    pub fields: Vec<(&'a str, &'a str)>,
}

impl SortFacts<'_> {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// A value compared by a criterion.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SortValue {
    Number(i64),
    Text(String),
}

/// The first address of an address list as ENVELOPE lists it: a mailbox, or for a
/// group its name (the group's start marker has the name as its mailbox).
fn first_mailbox(value: &str) -> Option<Mailbox<'_>> {
    parse_address_list(value)
        .into_iter()
        .next()
        .map(|a| match a {
            Address::Mailbox(m) => m,
            Address::Group { name, .. } => Mailbox {
                local: name,
                ..Mailbox::default()
            },
        })
}

/// Text as the sort compares it (RFC 5256 asks for i;unicode-casemap: folded to upper
/// case, so letters sort before `[` and `_`, as in Dovecot).
fn fold(text: &str) -> String {
    text.to_uppercase()
}

/// The sent date of a message: its Date field, else `arrival` (RFC 5256 §2.2).
pub fn sent_date(date_field: Option<&str>, arrival: i64) -> i64 {
    date_field
        .and_then(crate::imf::datetime::parse_date)
        .map_or(arrival, |w: WallClock| w.unix_secs)
}

fn value(key: SortKey, f: &SortFacts<'_>) -> SortValue {
    let text = |name: &str, display: bool| {
        let Some(m) = f.field(name).and_then(first_mailbox) else {
            return SortValue::Text(String::new());
        };
        let shown = if display {
            m.decoded_name()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| m.addr_spec())
        } else {
            m.local.to_string()
        };
        SortValue::Text(fold(&shown))
    };
    match key {
        SortKey::Arrival => SortValue::Number(f.arrival),
        SortKey::Size => SortValue::Number(f.size as i64),
        SortKey::Date => SortValue::Number(sent_date(f.field("Date"), f.arrival)),
        SortKey::Subject => {
            SortValue::Text(fold(&base_subject(f.field("Subject").unwrap_or("")).0))
        }
        SortKey::Cc => text("Cc", false),
        SortKey::From => text("From", false),
        SortKey::To => text("To", false),
        SortKey::DisplayFrom => text("From", true),
        SortKey::DisplayTo => text("To", true),
    }
}

/// The order of `messages` under `criteria`, ties broken by sequence number: the
/// indexes into `messages`, in order.
pub fn sort(messages: &[SortFacts<'_>], criteria: &[SortCriterion]) -> Vec<usize> {
    let keys: Vec<Vec<SortValue>> = messages
        .iter()
        .map(|m| criteria.iter().map(|c| value(c.key, m)).collect())
        .collect();
    let mut order: Vec<usize> = (0..messages.len()).collect();
    order.sort_by(|&a, &b| {
        criteria
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let o = keys[a][i].cmp(&keys[b][i]);
                if c.reverse {
                    o.reverse()
                } else {
                    o
                }
            })
            .find(|o| *o != Ordering::Equal)
            .unwrap_or_else(|| messages[a].seq.cmp(&messages[b].seq))
    });
    order
}

/// Whether `s` starts with `prefix`, ASCII letters compared without case; the rest.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// A `subj-blob` at the start of `s` (`[` chars other than brackets `]`, then spaces):
/// what follows it.
fn strip_blob(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('[')?;
    let end = rest.find([']', '['])?;
    if rest.as_bytes()[end] != b']' {
        return None;
    }
    Some(rest[end + 1..].trim_start_matches(' '))
}

/// A `subj-leader` made of blobs and a `subj-refwd` (`re`, `fw` or `fwd`, spaces, an
/// optional blob, a colon) at the start of `s`: what follows it.
fn strip_refwd(s: &str) -> Option<&str> {
    let mut t = s;
    while let Some(rest) = strip_blob(t) {
        t = rest;
    }
    let after = strip_prefix_ci(t, "re")
        .or_else(|| strip_prefix_ci(t, "fwd"))
        .or_else(|| strip_prefix_ci(t, "fw"))?;
    let after = after.trim_start_matches(' ');
    let after = strip_blob(after).unwrap_or(after);
    after.strip_prefix(':')
}

/// The base subject of a Subject field value (RFC 5256 §2.1), and whether it was a
/// reply or forward (a `Re:`/`Fwd:` leader, a `(fwd)` trailer or a `[fwd: ...]` wrapper
/// was taken off).
pub fn base_subject(raw: &str) -> (String, bool) {
    // (1) Decoded, runs of white space as one space.
    let decoded = crate::mime::encoded_word::decode(raw);
    let mut s = decoded.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut reply = false;
    loop {
        // (2) Trailers: "(fwd)" and white space.
        loop {
            let t = s.trim_end_matches(' ');
            let len = t.len();
            if len >= 5 && t.is_char_boundary(len - 5) && t[len - 5..].eq_ignore_ascii_case("(fwd)")
            {
                s = t[..len - 5].to_string();
                reply = true;
            } else {
                s = t.to_string();
                break;
            }
        }
        // (3)-(5) Leaders and a leading blob, until nothing changes.
        loop {
            let before = s.clone();
            loop {
                let t = s.trim_start_matches(' ');
                match strip_refwd(t) {
                    Some(rest) => {
                        s = rest.to_string();
                        reply = true;
                    }
                    None => {
                        s = t.to_string();
                        break;
                    }
                }
            }
            if let Some(rest) = strip_blob(&s) {
                if !base_is_empty(rest) {
                    s = rest.to_string();
                }
            }
            if s == before {
                break;
            }
        }
        // (6) "[fwd: ...]" around the rest.
        match strip_prefix_ci(&s, "[fwd:").and_then(|r| r.strip_suffix(']')) {
            Some(inner) => {
                s = inner.to_string();
                reply = true;
            }
            None => break,
        }
    }
    (s, reply)
}

/// Whether what is left would extract to an empty base subject (so a blob before it is
/// the subject itself).
fn base_is_empty(rest: &str) -> bool {
    let mut t = rest.trim_matches(' ');
    loop {
        match strip_refwd(t).or_else(|| strip_blob(t)) {
            Some(r) => t = r.trim_matches(' '),
            None => return t.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subjects_as_rfc_5256_extracts_them() {
        let b = |s: &str| base_subject(s).0;
        assert_eq!(b("Re: hello"), "hello");
        assert_eq!(b("RE: re: Fwd: hello"), "hello");
        assert_eq!(b("Re[2]: hello"), "hello");
        assert_eq!(b("[list] Re: hello"), "hello");
        assert_eq!(b("Re: [list] hello"), "hello");
        assert_eq!(b("hello (fwd)"), "hello");
        assert_eq!(b("[Fwd: Re: hello]"), "hello");
        assert_eq!(b("  hello \t  world  "), "hello world");
        assert_eq!(b("[list]"), "[list]");
        assert_eq!(b("=?utf-8?q?Re=3A_caf=C3=A9?="), "café");
        assert_eq!(b("Réunion"), "Réunion");
        assert!(base_subject("Re: x").1);
        assert!(!base_subject("x").1);
        assert_eq!(b(""), "");
    }

    #[test]
    fn sorting_by_criteria_then_sequence() {
        let m = |seq: u32, size: u64, from: &'static str, subject: &'static str| SortFacts {
            seq,
            arrival: 100 - seq as i64,
            size,
            fields: vec![("From", from), ("Subject", subject)],
        };
        let msgs = [
            m(1, 30, "Bob <bob@b.test>", "Re: beta"),
            m(2, 10, "alice@a.test", "alpha"),
            m(3, 20, "\"Zed\" <carl@c.test>", "beta"),
        ];
        let by = |key, reverse| vec![SortCriterion { key, reverse }];
        assert_eq!(sort(&msgs, &by(SortKey::Size, false)), vec![1, 2, 0]);
        assert_eq!(sort(&msgs, &by(SortKey::Size, true)), vec![0, 2, 1]);
        assert_eq!(sort(&msgs, &by(SortKey::Arrival, false)), vec![2, 1, 0]);
        assert_eq!(sort(&msgs, &by(SortKey::From, false)), vec![1, 0, 2]);
        assert_eq!(sort(&msgs, &by(SortKey::DisplayFrom, false)), vec![1, 0, 2]);
        // Equal subjects keep sequence order; REVERSE applies to its criterion only.
        assert_eq!(sort(&msgs, &by(SortKey::Subject, false)), vec![1, 0, 2]);
        assert_eq!(sort(&msgs, &by(SortKey::Subject, true)), vec![0, 2, 1]);
        assert_eq!(
            sent_date(Some("Mon, 1 Jan 2024 00:00:00 +0000"), 5),
            1_704_067_200
        );
        assert_eq!(sent_date(Some("garbage"), 5), 5);
    }
}
