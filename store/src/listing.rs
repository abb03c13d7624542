//! LIST and LSUB answers (RFC 3501 §6.3.8, §6.3.9, RFC 6154 special use) from a
//! backend's folders and subscriptions, the same for every backend.

use postrider_core::imap::server::ListEntry;

/// The special-use folders made at a user's first login, with their attributes.
pub const SPECIAL_USE: [(&str, &str); 4] = [
    ("Drafts", "\\Drafts"),
    ("Sent", "\\Sent"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
];

/// The LIST (or, `subscribed`, LSUB) entries matching the pattern `full` (reference and
/// pattern joined) among `folders` (name, selectable, has children; INBOX first) and the
/// subscribed names `subs`. A folder's special-use attribute is the one CREATE gave it
/// (`uses`: name, attributes), else the one of its name in [`SPECIAL_USE`].
pub fn list_entries(
    folders: Vec<(String, bool, bool)>,
    uses: &[(String, Vec<String>)],
    subs: &[String],
    full: &str,
    subscribed: bool,
) -> Vec<ListEntry> {
    let full = full.to_string();
    let mut out = Vec::new();
    for (name, selectable, children) in folders {
        if !wildcard_match(&full, &name) {
            continue;
        }
        if subscribed && !subs.contains(&name) {
            continue;
        }
        let mut attrs = Vec::new();
        if !selectable {
            attrs.push("\\Noselect".to_string());
        }
        attrs.push(
            if children {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            }
            .to_string(),
        );
        match uses.iter().find(|(n, _)| *n == name) {
            Some((_, given)) => attrs.extend(given.iter().cloned()),
            None => {
                if let Some((_, attr)) = SPECIAL_USE.iter().find(|(n, _)| *n == name) {
                    attrs.push(attr.to_string());
                }
            }
        }
        out.push(ListEntry {
            name,
            attributes: attrs,
        });
    }
    if subscribed {
        // Subscribed names that no longer exist are still listed; a level above a
        // subscribed name that `%` stops at is listed \Noselect (RFC 3501 §6.3.9).
        for s in subs {
            if wildcard_match(&full, s) && !out.iter().any(|e| &e.name == s) {
                out.push(ListEntry {
                    name: s.clone(),
                    attributes: vec!["\\Noselect".into()],
                });
            }
            let mut prefix = String::new();
            for part in s.split('/') {
                if !prefix.is_empty() {
                    if wildcard_match(&full, &prefix)
                        && !subs.contains(&prefix)
                        && !out.iter().any(|e| e.name == prefix)
                    {
                        out.push(ListEntry {
                            name: prefix.clone(),
                            attributes: vec!["\\Noselect".into()],
                        });
                    }
                    prefix.push('/');
                }
                prefix.push_str(part);
            }
        }
    }
    out
}

/// LIST pattern matching (shared with the IMAP machine's extended LIST).
pub use postrider_core::imap::list_ext::wildcard_match;

/// Every folder with its parents: (name, selectable, has children) from the names of
/// existing folders (`selectable` false for a hierarchy level only), INBOX first.
pub fn folder_tree(names: &[(String, bool)]) -> Vec<(String, bool, bool)> {
    let mut all: std::collections::BTreeMap<String, bool> = std::collections::BTreeMap::new();
    for (name, selectable) in names {
        let mut prefix = String::new();
        for part in name.split('/') {
            if !prefix.is_empty() {
                all.entry(prefix.clone()).or_insert(false);
                prefix.push('/');
            }
            prefix.push_str(part);
        }
        let e = all.entry(name.clone()).or_insert(*selectable);
        *e |= *selectable;
    }
    all.entry("INBOX".to_string()).or_insert(true);
    let has_children = |n: &str| {
        let p = format!("{n}/");
        all.keys().any(|k| k.starts_with(&p))
    };
    let mut out = vec![("INBOX".to_string(), true, has_children("INBOX"))];
    for (name, selectable) in &all {
        if name != "INBOX" {
            out.push((name.clone(), *selectable, has_children(name)));
        }
    }
    out
}
