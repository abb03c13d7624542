//! LIST as LIST-EXTENDED (RFC 5258) and LIST-STATUS (RFC 5819) define it: selection
//! options (SUBSCRIBED, REMOTE, RECURSIVEMATCH, SPECIAL-USE), several patterns, return
//! options (SUBSCRIBED, CHILDREN, SPECIAL-USE, STATUS), worked out from the account's
//! folders and subscriptions; and the LIST pattern match every LIST uses.

use crate::imap::command::{ListReturn, ListSelection};
use crate::imap::store::ListEntry;

/// LIST pattern matching: `*` matches anything, `%` anything but the separator `/`;
/// INBOX is matched without case.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    fn m(p: &[u8], n: &[u8]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some(b'*') => (0..=n.len()).any(|i| m(&p[1..], &n[i..])),
            Some(b'%') => (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != b'/')
                .any(|i| m(&p[1..], &n[i..])),
            Some(&c) => n.first() == Some(&c) && m(&p[1..], &n[1..]),
        }
    }
    if name == "INBOX" {
        let upper = pattern.to_ascii_uppercase();
        return m(upper.as_bytes(), b"INBOX");
    }
    m(pattern.as_bytes(), name.as_bytes())
}

/// One line of an extended LIST's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListLine {
    /// The folder's name.
    pub name: String,
    /// Its attributes.
    pub attributes: Vec<String>,
    /// `CHILDINFO ("SUBSCRIBED")`: listed for a descendant the patterns do not name.
    pub child_info: bool,
}

impl ListLine {
    /// Whether it can be selected (a STATUS may follow it).
    pub fn selectable(&self) -> bool {
        !self.attributes.iter().any(|a| {
            a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent")
        })
    }
}

/// The special-use attributes CREATE may give (RFC 6154 §3): `\\All` and `\\Flagged`
/// name virtual folders, which this server does not make.
pub const CREATABLE_USES: [&str; 5] = ["\\Archive", "\\Drafts", "\\Junk", "\\Sent", "\\Trash"];

const SPECIAL: [&str; 7] = [
    "\\All",
    "\\Archive",
    "\\Drafts",
    "\\Flagged",
    "\\Junk",
    "\\Sent",
    "\\Trash",
];

/// The answer to an extended LIST over `folders` (every folder and hierarchy level, with
/// their attributes, INBOX first) and `subs` (the subscribed names).
pub fn list_extended(
    folders: &[ListEntry],
    subs: &[String],
    reference: &str,
    patterns: &[String],
    sel: ListSelection,
    ret: &ListReturn,
) -> Vec<ListLine> {
    let full: Vec<String> = patterns.iter().map(|p| format!("{reference}{p}")).collect();
    let named = |n: &str| full.iter().any(|p| wildcard_match(p, n));
    let subscribed = |n: &str| subs.iter().any(|s| s == n);
    let line = |e: &ListEntry, child_info: bool| {
        let mut attributes = e.attributes.clone();
        if (sel.subscribed || ret.subscribed) && subscribed(&e.name) && !child_info {
            attributes.push("\\Subscribed".into());
        }
        ListLine {
            name: e.name.clone(),
            attributes,
            child_info,
        }
    };
    let mut out = Vec::new();
    if !sel.subscribed {
        for e in folders.iter().filter(|e| named(&e.name)) {
            let special = e
                .attributes
                .iter()
                .any(|a| SPECIAL.iter().any(|s| s.eq_ignore_ascii_case(a)));
            if !sel.special_use || special {
                out.push(line(e, false));
            }
        }
        return out;
    }
    // SUBSCRIBED: the folders in their order, then subscribed names that do not exist;
    // with RECURSIVEMATCH, a parent of a subscribed name no pattern names.
    let mut candidates: Vec<ListEntry> = folders.to_vec();
    for s in subs {
        let mut prefix = String::new();
        for part in s.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if !candidates.iter().any(|e| e.name == prefix) {
                candidates.push(ListEntry {
                    name: prefix.clone(),
                    attributes: vec!["\\NonExistent".into()],
                });
            }
        }
    }
    for e in candidates.iter().filter(|e| named(&e.name)) {
        if subscribed(&e.name) {
            out.push(line(e, false));
            continue;
        }
        let below = format!("{}/", e.name);
        let hidden_child =
            sel.recursive_match && subs.iter().any(|s| s.starts_with(&below) && !named(s));
        if hidden_child {
            out.push(line(e, true));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, attrs: &[&str]) -> ListEntry {
        ListEntry {
            name: name.into(),
            attributes: attrs.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn patterns_match_as_list_defines() {
        assert!(wildcard_match("*", "a/b"));
        assert!(!wildcard_match("%", "a/b"));
        assert!(wildcard_match("a/%", "a/b"));
        assert!(wildcard_match("inbox", "INBOX"));
        assert!(!wildcard_match("inbox", "Inbox2"));
    }

    #[test]
    fn subscribed_recursive_and_several_patterns() {
        let folders = [
            entry("INBOX", &["\\HasNoChildren"]),
            entry("b", &["\\HasChildren"]),
            entry("b/t1", &["\\HasNoChildren"]),
            entry("b/t2", &["\\HasChildren"]),
            entry("b/t2/x", &["\\HasNoChildren"]),
            entry("Sent", &["\\HasNoChildren", "\\Sent"]),
        ];
        let subs = vec!["b/t1".to_string(), "b/t2/x".into(), "b/gone".into()];
        let names = |lines: &[ListLine]| lines.iter().map(|l| l.name.clone()).collect::<Vec<_>>();
        let plain = ListReturn::default();
        let sel = ListSelection::default();
        let two = vec!["b/t1".to_string(), "Sent".into()];
        assert_eq!(
            names(&list_extended(&folders, &subs, "", &two, sel, &plain)),
            ["b/t1", "Sent"]
        );
        let special = ListSelection {
            special_use: true,
            ..sel
        };
        let all = vec!["*".to_string()];
        assert_eq!(
            names(&list_extended(&folders, &subs, "", &all, special, &plain)),
            ["Sent"]
        );
        let subscribed = ListSelection {
            subscribed: true,
            ..sel
        };
        let got = list_extended(
            &folders,
            &subs,
            "",
            &["b/*".to_string()],
            subscribed,
            &plain,
        );
        assert_eq!(names(&got), ["b/t1", "b/t2/x", "b/gone"]);
        assert_eq!(got[2].attributes, ["\\NonExistent", "\\Subscribed"]);
        assert!(!got[2].selectable());
        let recursive = ListSelection {
            recursive_match: true,
            ..subscribed
        };
        let got = list_extended(
            &folders,
            &subs,
            "",
            &["b/t2%".to_string()],
            recursive,
            &plain,
        );
        assert_eq!(names(&got), ["b/t2"]);
        assert!(got[0].child_info && !got[0].attributes.contains(&"\\Subscribed".into()));
        // The descendant named by a pattern is listed itself: no CHILDINFO for its parent.
        let both = vec!["b/t2".to_string(), "b/t2/x".into()];
        let got = list_extended(&folders, &subs, "", &both, recursive, &plain);
        assert_eq!(names(&got), ["b/t2/x"]);
        let with_subs = ListReturn {
            subscribed: true,
            ..ListReturn::default()
        };
        let got = list_extended(&folders, &subs, "", &["b/%".to_string()], sel, &with_subs);
        assert!(got[0].attributes.contains(&"\\Subscribed".into()));
        assert!(!got[1].attributes.contains(&"\\Subscribed".into()));
    }
}
