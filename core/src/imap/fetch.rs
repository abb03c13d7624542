//! FETCH responses (RFC 3501 §6.4.5, §7.4.2): how much of each message a FETCH needs from
//! the store ([`content_needed`]), how the messages are split into batches so that a
//! large FETCH never holds more than about [`FETCH_BATCH_BYTES`] of mail at once, and the
//! rendering of one `* n FETCH (...)` response.

use crate::imap::command::FetchAttr;
use crate::imap::section::{section_bytes, Section, SectionText};
use crate::imap::store::{FetchPart, MessageMeta};
use crate::imap::structure::{body_structure, envelope};
use crate::imf::header::split_header_to_blank_line;
use crate::mime::multipart::{parse_message, Limits};

/// About how many bytes of messages one store request of a FETCH asks for (always at
/// least one message).
pub const FETCH_BATCH_BYTES: u64 = 1024 * 1024;

/// What a header-only message is counted as in a batch.
const HEADER_ESTIMATE: u64 = 16 * 1024;

/// `(FLAGS ...)`.
pub(crate) fn flags_text(flags: &[String]) -> String {
    format!("({})", flags.join(" "))
}

/// The flags as shown to the client: `\Recent` added for this session's recent messages.
pub(crate) fn with_recent(flags: &[String], recent: bool) -> Vec<String> {
    let mut out = flags.to_vec();
    if recent {
        out.push("\\Recent".into());
    }
    out
}

/// Whether `flags` holds `f` (flags compare without regard to case).
pub(crate) fn has_flag(flags: &[String], f: &str) -> bool {
    flags.iter().any(|x| x.eq_ignore_ascii_case(f))
}

/// Whether a section is answered from the top-level header alone.
fn header_section(s: &Section) -> bool {
    s.part.is_empty()
        && matches!(
            s.text,
            SectionText::Header | SectionText::HeaderFields(_) | SectionText::HeaderFieldsNot(_)
        )
}

/// How much of each message the store must read for `items`: None when the machine's own
/// model answers them all (UID, FLAGS, INTERNALDATE, RFC822.SIZE).
pub fn content_needed(items: &[FetchAttr]) -> Option<FetchPart> {
    let mut needed = None;
    for item in items {
        match item {
            FetchAttr::Flags | FetchAttr::Uid | FetchAttr::InternalDate | FetchAttr::Rfc822Size => {
            }
            FetchAttr::Envelope | FetchAttr::Rfc822Header => {
                needed = needed.or(Some(FetchPart::Header));
            }
            FetchAttr::Section { section, .. } if header_section(section) => {
                needed = needed.or(Some(FetchPart::Header));
            }
            _ => return Some(FetchPart::Full),
        }
    }
    needed
}

/// Takes the next batch off the front of `targets` (sequence number, UID): messages up to
/// about [`FETCH_BATCH_BYTES`], at least one. `size` gives the RFC822.SIZE of the
/// message with that sequence number.
pub fn next_batch(
    targets: &mut Vec<(u32, u32)>,
    part: FetchPart,
    size: impl Fn(u32) -> u64,
) -> Vec<(u32, u32)> {
    let mut total = 0u64;
    let mut n = 0;
    for &(seq, _) in targets.iter() {
        let cost = match part {
            FetchPart::Header => size(seq).min(HEADER_ESTIMATE),
            FetchPart::Full => size(seq),
        };
        if n > 0 && total + cost > FETCH_BATCH_BYTES {
            break;
        }
        total += cost;
        n += 1;
    }
    targets.drain(..n).collect()
}

/// How a section specifier is echoed in a FETCH response.
fn section_name(s: &Section) -> String {
    let mut out: Vec<String> = s.part.iter().map(|n| n.to_string()).collect();
    // A field name (printable ASCII, checked by the parser) is echoed as an atom when it
    // is one, upper-cased as Dovecot does, else as a quoted string: an astring may hold
    // `]`, which would end the section early.
    let fields = |f: &[String]| {
        f.iter()
            .map(|x| {
                let up = x.to_ascii_uppercase();
                if !up.is_empty() && up.bytes().all(crate::imap::lex::is_atom_char) {
                    up
                } else {
                    let escaped = up.replace('\\', "\\\\").replace('"', "\\\"");
                    format!("\"{escaped}\"")
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let text = match &s.text {
        SectionText::Full => None,
        SectionText::Header => Some("HEADER".to_string()),
        SectionText::Text => Some("TEXT".to_string()),
        SectionText::Mime => Some("MIME".to_string()),
        SectionText::HeaderFields(f) => Some(format!("HEADER.FIELDS ({})", fields(f))),
        SectionText::HeaderFieldsNot(f) => Some(format!("HEADER.FIELDS.NOT ({})", fields(f))),
    };
    if let Some(t) = text {
        out.push(t);
    }
    out.join(".")
}

fn literal(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
}

/// One message to answer in a FETCH response.
#[derive(Debug, Clone, Copy)]
pub struct FetchedItem<'a> {
    /// Its sequence number.
    pub seq: u32,
    /// Its UID, flags (after a `\Seen` this FETCH set), date and size.
    pub meta: &'a MessageMeta,
    /// Whether it is `\Recent` for this session.
    pub recent: bool,
    /// Its contents (as much as [`content_needed`] asked for), when the items need them.
    pub data: Option<&'a [u8]>,
    /// Whether this FETCH set `\Seen`: FLAGS is sent even when not asked for.
    pub flags_changed: bool,
}

/// The `* n FETCH (...)` response for one message.
pub fn fetch_line(items: &[FetchAttr], m: FetchedItem<'_>) -> Vec<u8> {
    let d = m.data.unwrap_or(b"");
    let needs_tree = items.iter().any(|i| {
        matches!(
            i,
            FetchAttr::Body | FetchAttr::BodyStructure | FetchAttr::Section { .. }
        )
    });
    let tree = (needs_tree && m.data.is_some()).then(|| parse_message(d, Limits::default()));
    let body_start = split_header_to_blank_line(d).1.min(d.len());
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut wrote_flags = false;
    for item in items {
        let mut p = Vec::new();
        match item {
            FetchAttr::Uid => p.extend_from_slice(format!("UID {}", m.meta.uid).as_bytes()),
            FetchAttr::Flags => {
                wrote_flags = true;
                let shown = with_recent(&m.meta.flags, m.recent);
                p.extend_from_slice(format!("FLAGS {}", flags_text(&shown)).as_bytes());
            }
            FetchAttr::InternalDate => p.extend_from_slice(
                format!("INTERNALDATE \"{}\"", m.meta.internal_date.imap()).as_bytes(),
            ),
            FetchAttr::Rfc822Size => {
                p.extend_from_slice(format!("RFC822.SIZE {}", m.meta.size).as_bytes())
            }
            FetchAttr::Envelope => {
                p.extend_from_slice(b"ENVELOPE ");
                p.extend_from_slice(&envelope(&d[..body_start]));
            }
            FetchAttr::Body | FetchAttr::BodyStructure => {
                let extended = matches!(item, FetchAttr::BodyStructure);
                p.extend_from_slice(if extended {
                    b"BODYSTRUCTURE "
                } else {
                    b"BODY "
                });
                match &tree {
                    Some(t) => p.extend_from_slice(&body_structure(d, t, extended)),
                    None => p.extend_from_slice(b"NIL"),
                }
            }
            FetchAttr::Rfc822 | FetchAttr::Rfc822Header | FetchAttr::Rfc822Text => {
                let (name, bytes) = match item {
                    FetchAttr::Rfc822 => ("RFC822", d),
                    FetchAttr::Rfc822Header => ("RFC822.HEADER", &d[..body_start]),
                    _ => ("RFC822.TEXT", &d[body_start..]),
                };
                p.extend_from_slice(format!("{name} ").as_bytes());
                literal(&mut p, bytes);
            }
            FetchAttr::Section {
                section, partial, ..
            } => {
                let bytes = match &tree {
                    Some(t) => section_bytes(d, t, section).unwrap_or_default(),
                    None => Vec::new(),
                };
                p.extend_from_slice(format!("BODY[{}]", section_name(section)).as_bytes());
                let bytes = match partial {
                    Some((origin, len)) => {
                        p.extend_from_slice(format!("<{origin}>").as_bytes());
                        let start = (*origin as usize).min(bytes.len());
                        let end = start.saturating_add(*len as usize).min(bytes.len());
                        &bytes[start..end]
                    }
                    None => &bytes[..],
                };
                p.push(b' ');
                literal(&mut p, bytes);
            }
        }
        parts.push(p);
    }
    if m.flags_changed && !wrote_flags {
        let shown = with_recent(&m.meta.flags, m.recent);
        parts.push(format!("FLAGS {}", flags_text(&shown)).into_bytes());
    }
    let mut out = format!("* {} FETCH (", m.seq).into_bytes();
    out.extend_from_slice(&parts.join(&b' '));
    out.extend_from_slice(b")\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::command::{parse_command, Command};

    fn items(text: &str) -> Vec<FetchAttr> {
        let line = format!("a FETCH 1 {text}\r\n");
        match parse_command(line.as_bytes()).map(|t| t.command) {
            Ok(Command::Fetch { items, .. }) => items,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn header_items_need_only_the_header() {
        assert_eq!(
            content_needed(&items("(UID FLAGS RFC822.SIZE INTERNALDATE)")),
            None
        );
        for header_only in [
            "ENVELOPE",
            "(FLAGS ENVELOPE)",
            "BODY.PEEK[HEADER]",
            "BODY.PEEK[HEADER.FIELDS (FROM TO)]",
            "BODY[HEADER.FIELDS.NOT (X)]<0.100>",
            "RFC822.HEADER",
        ] {
            assert_eq!(
                content_needed(&items(header_only)),
                Some(FetchPart::Header),
                "{header_only}"
            );
        }
        for full in [
            "BODYSTRUCTURE",
            "(ENVELOPE BODY)",
            "BODY[]",
            "BODY.PEEK[TEXT]",
            "BODY[1.HEADER]",
            "RFC822",
            "RFC822.TEXT",
        ] {
            assert_eq!(
                content_needed(&items(full)),
                Some(FetchPart::Full),
                "{full}"
            );
        }
    }

    #[test]
    fn header_field_names_that_are_not_atoms_are_echoed_as_strings() {
        // `]` is an ASTRING-CHAR but would end the section in the response (found by the
        // imap_session fuzz target).
        let items = items("BODY.PEEK[HEADER.FIELDS (]UBJECT From \"a\\\"b\")]");
        let FetchAttr::Section { section, .. } = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(
            section_name(section),
            "HEADER.FIELDS (\"]UBJECT\" FROM \"A\\\"B\")"
        );
        // Names that are no header field names (control octets, ':') are refused.
        for bad in ["(\"a:b\")", "({3}\r\na\u{1}b)", "(\"\")"] {
            let line = format!("a FETCH 1 BODY[HEADER.FIELDS {bad}]\r\n");
            assert!(parse_command(line.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn batches_hold_about_a_megabyte_and_at_least_one_message() {
        let sizes = |seq: u32| if seq == 3 { 50 << 20 } else { 400 << 10 };
        let mut t: Vec<(u32, u32)> = (1..=6).map(|i| (i, i)).collect();
        let mut batches = Vec::new();
        while !t.is_empty() {
            batches.push(next_batch(&mut t, FetchPart::Full, sizes).len());
        }
        assert_eq!(batches, [2, 1, 2, 1]);
        let mut t: Vec<(u32, u32)> = (1..=200).map(|i| (i, i)).collect();
        assert_eq!(next_batch(&mut t, FetchPart::Header, sizes).len(), 64);
    }
}
