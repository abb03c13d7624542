//! The webmail's search box: what the user typed and where to look, as an IMAP search key
//! the store's content scan answers (the same scan IMAP SEARCH uses).

use crate::imap::command::SearchKey;

/// Where the webmail searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchField {
    /// The From field, the Subject field or the body.
    Any,
    /// The From field.
    From,
    /// The Subject field.
    Subject,
    /// The body.
    Body,
}

impl SearchField {
    /// The field a form names (`from`, `subject`, `body`; anything else is [`Any`](Self::Any)).
    pub fn from_form(value: Option<&str>) -> Self {
        match value {
            Some("from") => SearchField::From,
            Some("subject") => SearchField::Subject,
            Some("body") => SearchField::Body,
            _ => SearchField::Any,
        }
    }

    /// The value a form carries for this field.
    pub fn form_value(self) -> &'static str {
        match self {
            SearchField::Any => "any",
            SearchField::From => "from",
            SearchField::Subject => "subject",
            SearchField::Body => "body",
        }
    }
}

/// The search key for `text` in `field` (case-insensitive substring, header fields
/// decoded from RFC 2047 first, as IMAP SEARCH does). Several words must all be found.
pub fn search_key(field: SearchField, text: &str) -> SearchKey {
    let one = |word: &str| {
        let from = || SearchKey::Header("FROM".into(), word.into());
        let subject = || SearchKey::Header("SUBJECT".into(), word.into());
        let body = || SearchKey::Body(word.into());
        match field {
            SearchField::From => from(),
            SearchField::Subject => subject(),
            SearchField::Body => body(),
            SearchField::Any => SearchKey::Or(
                Box::new(SearchKey::Or(Box::new(from()), Box::new(subject()))),
                Box::new(body()),
            ),
        }
    };
    let words: Vec<SearchKey> = text.split_whitespace().map(one).collect();
    match words.len() {
        0 => SearchKey::All,
        1 => words.into_iter().next().unwrap_or(SearchKey::All),
        _ => SearchKey::And(words),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::search::{matches, ContentScan, SearchCtx};
    use crate::imf::datetime::WallClock;

    fn hit(field: SearchField, text: &str, message: &[u8]) -> bool {
        let key = search_key(field, text);
        let mut scan = ContentScan::new(&key);
        scan.feed(message);
        let facts = scan.finish();
        let c = SearchCtx {
            seq: 1,
            n: 1,
            max_uid: 1,
            uid: 1,
            flags: &[],
            size: message.len() as u64,
            internal_date: WallClock::utc(0),
            facts: Some(&facts),
            recent: false,
            modseq: 1,
        };
        matches(&key, &c)
    }

    #[test]
    fn fields_words_and_encoded_subjects() {
        let m = b"From: Alice <alice@a.test>\r\nSubject: =?UTF-8?Q?Caf=C3=A9_menu?=\r\n\r\nLunch at noon\r\n";
        assert!(hit(SearchField::From, "ALICE", m));
        assert!(!hit(SearchField::From, "menu", m));
        assert!(hit(SearchField::Subject, "café", m));
        assert!(hit(SearchField::Body, "noon", m));
        assert!(!hit(SearchField::Body, "alice", m));
        assert!(hit(SearchField::Any, "alice noon", m));
        assert!(!hit(SearchField::Any, "alice dinner", m));
        assert_eq!(search_key(SearchField::Any, "  "), SearchKey::All);
        assert_eq!(SearchField::from_form(Some("body")).form_value(), "body");
        assert_eq!(SearchField::from_form(Some("x")), SearchField::Any);
    }
}
