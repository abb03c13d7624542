//! Maildir's text formats as Dovecot, mutt and Courier read and write them: message
//! file names with their info part (`BASE:2,FLAGS`, sizes `,S=` and `,W=` in the base),
//! the `dovecot-uidlist` file that keeps each message's IMAP UID, and the
//! `dovecot-keywords` file that names the lowercase keyword letters.
//!
//! Flag letters (maildir(5), Dovecot): `D` \Draft, `F` \Flagged, `R` \Answered, `S`
//! \Seen, `T` \Deleted; `a`..`z` the keywords numbered 0..25 in `dovecot-keywords`.
//! Other uppercase letters (`P`, passed) carry no IMAP flag and are kept as they are.

/// The system flags and their letters, in the letters' ASCII order.
const SYSTEM: [(char, &str); 5] = [
    ('D', "\\Draft"),
    ('F', "\\Flagged"),
    ('R', "\\Answered"),
    ('S', "\\Seen"),
    ('T', "\\Deleted"),
];

/// The most keywords a file name can carry (`a`..`z`).
pub const MAX_KEYWORDS: usize = 26;

/// A message file name split: the base (which names the message for good) and the
/// flag letters of its `:2,` info (None: no info, a file still in `new/`).
pub fn split_name(name: &str) -> (&str, Option<&str>) {
    match name.split_once(':') {
        Some((base, info)) => (base, Some(info.strip_prefix("2,").unwrap_or(""))),
        None => (name, None),
    }
}

/// A size field of a base name: `S=` (octets on disk) or `W=` (octets with CRLF line
/// ends, RFC822.SIZE), as Dovecot adds them (`1733.M1P2.host,S=1234,W=1260`).
pub fn size_field(base: &str, key: char) -> Option<u64> {
    base.split(',')
        .skip(1)
        .find_map(|f| f.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// The IMAP flags the letters of an info part stand for, keywords named by `keywords`
/// (letters without a keyword, and unknown uppercase letters, give none).
pub fn flags_of(letters: &str, keywords: &Keywords) -> Vec<String> {
    let mut out = Vec::new();
    for c in letters.chars() {
        if let Some((_, f)) = SYSTEM.iter().find(|(l, _)| *l == c) {
            out.push((*f).to_string());
        } else if c.is_ascii_lowercase() {
            if let Some(k) = keywords.name((c as u8 - b'a') as usize) {
                out.push(k.to_string());
            }
        }
    }
    out
}

/// The info letters for `flags` (ASCII order, as maildir(5) asks), keywords numbered in
/// `keywords` (new ones added while there is room), and the uppercase letters of `kept`
/// that stand for no IMAP flag (`P`). A flag with no letter (`$Junk` after 26 others,
/// `\Recent`) is left out: the caller keeps it elsewhere.
pub fn letters_for(flags: &[String], keywords: &mut Keywords, kept: &str) -> String {
    let mut letters: Vec<char> = kept
        .chars()
        .filter(|c| c.is_ascii_uppercase() && !SYSTEM.iter().any(|(l, _)| l == c))
        .collect();
    for f in flags {
        if let Some((l, _)) = SYSTEM.iter().find(|(_, n)| n.eq_ignore_ascii_case(f)) {
            letters.push(*l);
        } else if !f.starts_with('\\') {
            if let Some(i) = keywords.number(f) {
                letters.push((b'a' + i as u8) as char);
            }
        }
    }
    letters.sort_unstable();
    letters.dedup();
    letters.into_iter().collect()
}

/// The flags of `flags` a file name can carry with `keywords` as they are (no new
/// keyword numbered): what a name written for `flags` would read back as.
pub fn representable(flags: &[String], keywords: &Keywords) -> Vec<String> {
    let mut table = keywords.clone();
    table.frozen = true;
    flags_of(&letters_for(flags, &mut table, ""), keywords)
}

/// `dovecot-keywords`: keyword names by number (`0 $Forwarded`), the number giving the
/// letter `a` + number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keywords {
    names: Vec<Option<String>>,
    /// No new numbers are given (see [`representable`]).
    frozen: bool,
}

impl Keywords {
    /// Reads the file's text; malformed lines are skipped.
    pub fn parse(text: &str) -> Keywords {
        let mut k = Keywords::default();
        for line in text.lines() {
            let Some((n, name)) = line.split_once(' ') else {
                continue;
            };
            let (Ok(n), false) = (n.parse::<usize>(), name.is_empty()) else {
                continue;
            };
            if n < MAX_KEYWORDS && !name.starts_with('\\') && !name.chars().any(char::is_whitespace)
            {
                if k.names.len() <= n {
                    k.names.resize(n + 1, None);
                }
                k.names[n] = Some(name.to_string());
            }
        }
        k
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        self.names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| format!("{i} {n}\n")))
            .collect()
    }

    /// The keyword numbered `n`.
    pub fn name(&self, n: usize) -> Option<&str> {
        self.names.get(n)?.as_deref()
    }

    /// The number of keyword `name` (compared without regard to case, as IMAP
    /// keywords are), given the next free one when it has none and there is room.
    pub fn number(&mut self, name: &str) -> Option<usize> {
        if let Some(i) = self
            .names
            .iter()
            .position(|n| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)))
        {
            return Some(i);
        }
        if self.frozen || name.is_empty() || name.chars().any(|c| c.is_whitespace()) {
            return None;
        }
        let free = self.names.iter().position(Option::is_none);
        match free {
            Some(i) => {
                self.names[i] = Some(name.to_string());
                Some(i)
            }
            None if self.names.len() < MAX_KEYWORDS => {
                self.names.push(Some(name.to_string()));
                Some(self.names.len() - 1)
            }
            None => None,
        }
    }
}

/// One line of `dovecot-uidlist`: a message's UID, its base name, and the extension
/// fields Dovecot wrote between them (`W1260 G...`, kept as they are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidRecord {
    /// The IMAP UID.
    pub uid: u32,
    /// Extension fields, space separated (empty when none).
    pub ext: String,
    /// The file's base name.
    pub base: String,
}

/// `dovecot-uidlist` (versions 1 and 3): UIDVALIDITY, the next UID, the mailbox GUID and
/// the UID of each message by base name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uidlist {
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// The UID the next new message takes.
    pub next_uid: u32,
    /// Other header fields of version 3 (`G<guid>`, ...), kept as they are.
    pub header_rest: String,
    /// The messages, in UID order.
    pub records: Vec<UidRecord>,
}

impl Uidlist {
    /// An empty list.
    pub fn new(uid_validity: u32, guid: &str) -> Uidlist {
        Uidlist {
            uid_validity,
            next_uid: 1,
            header_rest: if guid.is_empty() {
                String::new()
            } else {
                format!("G{guid}")
            },
            records: Vec::new(),
        }
    }

    /// Reads the file's text: None when the header is not one of versions 1 or 3 (a
    /// record line that does not parse is skipped; UIDs out of order are sorted).
    pub fn parse(text: &str) -> Option<Uidlist> {
        let mut lines = text.lines();
        let header = lines.next()?;
        let mut fields = header.split_ascii_whitespace();
        let version = fields.next()?;
        let mut list = match version {
            "1" => Uidlist {
                uid_validity: fields.next()?.parse().ok()?,
                next_uid: fields.next()?.parse().ok()?,
                header_rest: String::new(),
                records: Vec::new(),
            },
            "3" => {
                let (mut validity, mut next, mut rest) = (None, None, Vec::new());
                for f in fields {
                    if let Some(v) = f.strip_prefix('V') {
                        validity = v.parse().ok();
                    } else if let Some(n) = f.strip_prefix('N') {
                        next = n.parse().ok();
                    } else {
                        rest.push(f);
                    }
                }
                Uidlist {
                    uid_validity: validity?,
                    next_uid: next?,
                    header_rest: rest.join(" "),
                    records: Vec::new(),
                }
            }
            _ => return None,
        };
        let v3 = version == "3";
        for line in lines {
            if let Some(r) = parse_record(line, v3) {
                list.next_uid = list.next_uid.max(r.uid.saturating_add(1));
                list.records.push(r);
            }
        }
        list.records.sort_by_key(|r| r.uid);
        list.records.dedup_by_key(|r| r.uid);
        Some(list)
    }

    /// The file's text, version 3.
    pub fn to_text(&self) -> String {
        let mut out = format!("3 V{} N{}", self.uid_validity, self.next_uid);
        if !self.header_rest.is_empty() {
            out.push(' ');
            out.push_str(&self.header_rest);
        }
        out.push('\n');
        for r in &self.records {
            out.push_str(&r.uid.to_string());
            if !r.ext.is_empty() {
                out.push(' ');
                out.push_str(&r.ext);
            }
            out.push_str(" :");
            out.push_str(&r.base);
            out.push('\n');
        }
        out
    }

    /// Gives the next UID to a message with this base name (one not listed yet).
    pub fn add(&mut self, base: &str) -> u32 {
        let uid = self.next_uid.max(1);
        self.next_uid = uid.saturating_add(1);
        self.records.push(UidRecord {
            uid,
            ext: String::new(),
            base: base.to_string(),
        });
        uid
    }
}

/// One record line: `UID[ EXT...] :BASE` (version 3) or `UID BASE` (version 1).
fn parse_record(line: &str, v3: bool) -> Option<UidRecord> {
    let (uid, rest) = line.split_once(' ')?;
    let uid: u32 = uid.parse().ok().filter(|&u| u > 0)?;
    let (ext, base) = if v3 {
        match rest.strip_prefix(':') {
            Some(base) => ("", base),
            None => {
                let (ext, base) = rest.split_once(" :")?;
                (ext.trim(), base)
            }
        }
    } else {
        ("", rest)
    };
    let base = split_name(base).0;
    if !plain_base(base) || ext.contains(':') || ext.contains(char::is_control) {
        return None;
    }
    Some(UidRecord {
        uid,
        ext: ext.to_string(),
        base: base.to_string(),
    })
}

/// Whether a base name can be listed in `dovecot-uidlist` and read back: not empty, no
/// white space, control characters or `/`.
fn plain_base(base: &str) -> bool {
    !base.is_empty() && !base.contains(|c: char| c.is_whitespace() || c.is_control() || c == '/')
}

/// Whether a file name may be a message of a `cur/` or `new/` directory: not hidden, and
/// a base name that `dovecot-uidlist` can hold (others are left alone, unnumbered).
pub fn is_message_name(name: &str) -> bool {
    !name.starts_with('.') && !name.contains(['\n', '\r']) && plain_base(split_name(name).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn names_split_into_base_and_letters() {
        assert_eq!(
            split_name("1733.M1P2.host,S=12,W=13:2,FS"),
            ("1733.M1P2.host,S=12,W=13", Some("FS"))
        );
        assert_eq!(split_name("1733.M1P2.host"), ("1733.M1P2.host", None));
        assert_eq!(size_field("1733.M1P2.host,S=12,W=13", 'W'), Some(13));
        assert_eq!(size_field("1733.M1P2.host,S=12,W=13", 'S'), Some(12));
        assert_eq!(size_field("1733.M1P2.host", 'S'), None);
    }

    #[test]
    fn letters_round_trip_with_keywords() {
        let mut k = Keywords::default();
        let flags = s(&["\\Seen", "$Forwarded", "\\Flagged", "Work"]);
        let letters = letters_for(&flags, &mut k, "P");
        assert_eq!(letters, "FPSab");
        assert_eq!(
            flags_of(&letters, &k),
            s(&["\\Flagged", "\\Seen", "$Forwarded", "Work"])
        );
        assert_eq!(k.to_text(), "0 $Forwarded\n1 Work\n");
        assert_eq!(Keywords::parse(&k.to_text()), k);
    }

    #[test]
    fn keywords_beyond_the_alphabet_have_no_letter() {
        let mut k = Keywords::default();
        let many: Vec<String> = (0..30).map(|i| format!("k{i}")).collect();
        let letters = letters_for(&many, &mut k, "");
        assert_eq!(letters.len(), MAX_KEYWORDS);
        assert_eq!(representable(&s(&["k29", "\\Seen"]), &k), s(&["\\Seen"]));
    }

    #[test]
    fn dovecot_uidlists_of_both_versions_parse() {
        let v3 = "3 V1733000000 N5 G0123abcd\n1 :1733.M1P2.host,S=10\n3 W120 :1733.M2P2.host:2,S\n";
        let l = Uidlist::parse(v3).unwrap();
        assert_eq!(l.uid_validity, 1_733_000_000);
        assert_eq!(l.next_uid, 5);
        assert_eq!(l.records.len(), 2);
        assert_eq!(l.records[1].base, "1733.M2P2.host");
        assert_eq!(l.records[1].ext, "W120");
        assert_eq!(Uidlist::parse(&l.to_text()).unwrap(), l);
        let v1 = "1 1733000000 9\n7 1733.M1P2.host\n";
        let l = Uidlist::parse(v1).unwrap();
        assert_eq!((l.next_uid, l.records[0].uid), (9, 7));
        assert!(Uidlist::parse("2 x y\n").is_none());
        assert!(Uidlist::parse("").is_none());
    }

    #[test]
    fn records_that_would_not_read_back_are_skipped() {
        // Found by the maildir_names fuzz target: a base ending in CR at the end of the
        // text, and a base with blanks after extension fields with a colon.
        for text in [
            "3 V1 N5\n1 :a.host\r",
            "3 V1 N5\n1  :2\t120 :,A",
            "3 V1 N5\n1 :a b",
        ] {
            let list = Uidlist::parse(text).unwrap();
            assert!(list.records.is_empty(), "{text:?}: {list:?}");
            assert_eq!(Uidlist::parse(&list.to_text()).unwrap(), list);
        }
        assert!(!is_message_name("a b:2,S"));
        assert!(is_message_name("1733.M1P2.host,S=1:2,S"));
    }

    #[test]
    fn added_messages_take_increasing_uids() {
        let mut l = Uidlist::new(42, "");
        assert_eq!(l.add("a"), 1);
        assert_eq!(l.add("b"), 2);
        let again = Uidlist::parse(&l.to_text()).unwrap();
        assert_eq!(again.next_uid, 3);
        assert_eq!(again.records.len(), 2);
    }
}
