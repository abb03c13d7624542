//! BODY[section] addressing (RFC 3501 §6.4.5): part numbers, HEADER, HEADER.FIELDS,
//! HEADER.FIELDS.NOT, MIME and TEXT, resolved on the MIME part tree. Output always has
//! CRLF line ends, whatever the stored form.

use std::ops::Range;

use crate::imf::header::split_header_to_blank_line;
use crate::mime::multipart::{Part, PartBody};

/// What of the addressed part to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    /// The whole part (for a message/rfc822 part: the encapsulated message).
    Full,
    /// The header of the (encapsulated) message, with its empty line.
    Header,
    /// Only these header fields (case-insensitive), then the empty line.
    HeaderFields(Vec<String>),
    /// All header fields but these, then the empty line.
    HeaderFieldsNot(Vec<String>),
    /// The body of the (encapsulated) message.
    Text,
    /// The MIME header of the part.
    Mime,
}

/// A section specifier: a part path (empty for the whole message) and what to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Part numbers, 1-based, e.g. `[2, 1]` for `2.1`.
    pub part: Vec<u32>,
    /// The text specifier.
    pub text: SectionText,
}

/// The parts numbered under a message (the top level, or one encapsulated in a
/// message/rfc822 part): its parts when it is multipart, else its body as part 1 (RFC 3501
/// §6.4.5), which is the message itself here (its `body` range).
fn message_children(message: &Part) -> Vec<&Part> {
    match &message.content {
        PartBody::Multipart { parts, .. } => parts.iter().collect(),
        _ => vec![message],
    }
}

/// The parts numbered under a body part: a multipart's parts; a message/rfc822 part's
/// numbers refer to the parts of the encapsulated message; like Dovecot, `N.1` of any
/// other single part is that part again.
fn part_children(part: &Part) -> Vec<&Part> {
    match &part.content {
        PartBody::Multipart { parts, .. } => parts.iter().collect(),
        PartBody::Message(inner) => message_children(inner),
        PartBody::Leaf => vec![part],
    }
}

/// Finds the part a path addresses, or None when it does not exist.
pub fn resolve<'a>(root: &'a Part, path: &[u32]) -> Option<&'a Part> {
    let Some((&first, rest)) = path.split_first() else {
        return Some(root);
    };
    let mut cur = *message_children(root).get((first as usize).checked_sub(1)?)?;
    // "1" of a single-part message is its body; nothing lies below a plain leaf.
    let mut leaf_self = std::ptr::eq(cur, root) && matches!(root.content, PartBody::Leaf);
    for &n in rest {
        if leaf_self {
            return None;
        }
        let children = part_children(cur);
        let next = *children.get((n as usize).checked_sub(1)?)?;
        leaf_self = std::ptr::eq(next, cur);
        cur = next;
    }
    Some(cur)
}

/// Appends `bytes` with every bare LF turned into CRLF.
fn push_crlf(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut last = 0;
    for p in memchr::memchr_iter(b'\n', bytes) {
        if p == 0 || bytes[p - 1] != b'\r' {
            out.extend_from_slice(&bytes[last..p]);
            out.extend_from_slice(b"\r\n");
            last = p + 1;
        }
    }
    out.extend_from_slice(&bytes[last..]);
}

/// Appends a header section with CRLF line ends. A header that runs to the end of its
/// part without an empty line is returned without one, as Dovecot does.
fn push_header(out: &mut Vec<u8>, header: &[u8]) {
    push_crlf(out, header);
}

/// The header fields of `header` selected by `keep`, then CRLF.
fn fields(msg: &[u8], header: Range<usize>, names: &[String], keep_listed: bool) -> Vec<u8> {
    let (fs, _) = split_header_to_blank_line(&msg[header.clone()]);
    // Lines without a colon count as fields too (a HEADER.FIELDS.NOT keeps them).
    let mut out = Vec::new();
    for f in fs {
        let listed = names.iter().any(|n| f.is(n));
        if listed == keep_listed {
            let r = header.start + f.range.start..header.start + f.range.end;
            push_crlf(&mut out, &msg[r]);
            if !out.ends_with(b"\r\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    let raw = &msg[header];
    // Dovecot always ends HEADER.FIELDS with the empty line, HEADER.FIELDS.NOT only when
    // the stored header had one.
    if keep_listed
        || raw == b"\n"
        || raw == b"\r\n"
        || raw.ends_with(b"\n\n")
        || raw.ends_with(b"\n\r\n")
    {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The octets of `section` of the message `msg` (parsed as `root`), with CRLF line ends,
/// or None when the section does not exist.
pub fn section_bytes(msg: &[u8], root: &Part, section: &Section) -> Option<Vec<u8>> {
    let part = resolve(root, &section.part)?;
    // HEADER, TEXT and HEADER.FIELDS apply to the top message or to the message
    // encapsulated in a message/rfc822 part.
    let message = if section.part.is_empty() {
        Some(part)
    } else {
        match &part.content {
            PartBody::Message(inner) => Some(inner.as_ref()),
            _ => None,
        }
    };
    let mut out = Vec::new();
    match &section.text {
        SectionText::Full if section.part.is_empty() => push_crlf(&mut out, msg),
        SectionText::Full => push_crlf(&mut out, &msg[part.body.clone()]),
        SectionText::Mime => {
            if section.part.is_empty() {
                return None;
            }
            push_header(&mut out, &msg[part.header.clone()]);
        }
        SectionText::Header => {
            let m = message?;
            push_header(&mut out, &msg[m.header.clone()]);
        }
        SectionText::HeaderFields(names) => {
            return Some(fields(msg, message?.header.clone(), names, true))
        }
        SectionText::HeaderFieldsNot(names) => {
            return Some(fields(msg, message?.header.clone(), names, false))
        }
        SectionText::Text => push_crlf(&mut out, &msg[message?.body.clone()]),
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::multipart::{parse_message, Limits};

    const MSG: &[u8] = b"Subject: top\nFrom: a@b\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\npart one\n--x\nContent-Type: message/rfc822\n\nSubject: inner\nContent-Type: multipart/alternative; boundary=y\n\n--y\n\ninner plain\n--y\nContent-Type: text/html\n\n<b>inner</b>\n--y--\n--x--\n";

    fn get(part: &[u32], text: SectionText) -> Option<String> {
        let root = parse_message(MSG, Limits::default());
        section_bytes(
            MSG,
            &root,
            &Section {
                part: part.to_vec(),
                text,
            },
        )
        .map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn rfc3501_section_rules() {
        assert_eq!(
            get(&[], SectionText::Header).unwrap(),
            "Subject: top\r\nFrom: a@b\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
        );
        assert_eq!(
            get(&[], SectionText::HeaderFields(vec!["FROM".into()])).unwrap(),
            "From: a@b\r\n\r\n"
        );
        assert_eq!(
            get(
                &[],
                SectionText::HeaderFieldsNot(vec!["from".into(), "content-type".into()])
            )
            .unwrap(),
            "Subject: top\r\n\r\n"
        );
        assert_eq!(get(&[1], SectionText::Full).unwrap(), "part one");
        assert_eq!(
            get(&[1], SectionText::Mime).unwrap(),
            "Content-Type: text/plain\r\n\r\n"
        );
        assert!(get(&[2], SectionText::Full)
            .unwrap()
            .starts_with("Subject: inner\r\n"));
        assert_eq!(
            get(&[2], SectionText::HeaderFields(vec!["subject".into()])).unwrap(),
            "Subject: inner\r\n\r\n"
        );
        assert!(get(&[2], SectionText::Text).unwrap().starts_with("--y\r\n"));
        assert_eq!(get(&[2, 1], SectionText::Full).unwrap(), "inner plain");
        assert_eq!(get(&[2, 2], SectionText::Full).unwrap(), "<b>inner</b>");
        assert_eq!(
            get(&[2, 2], SectionText::Mime).unwrap(),
            "Content-Type: text/html\r\n\r\n"
        );
        assert!(get(&[1], SectionText::Header).is_none());
        assert!(get(&[3], SectionText::Full).is_none());
        assert_eq!(get(&[1, 1], SectionText::Full).unwrap(), "part one");
        assert!(get(&[0], SectionText::Full).is_none());
    }

    #[test]
    fn top_level_message_rfc822() {
        let m = b"Content-Type: message/rfc822\r\n\r\nSubject: in\r\nContent-Type: message/rfc822\r\n\r\nSubject: deep\r\n\r\nHello\r\n";
        let root = parse_message(m, Limits::default());
        let get = |part: &[u32], text: SectionText| {
            section_bytes(
                m,
                &root,
                &Section {
                    part: part.to_vec(),
                    text,
                },
            )
            .map(|b| String::from_utf8(b).unwrap())
        };
        assert!(get(&[1], SectionText::Full)
            .unwrap()
            .starts_with("Subject: in\r\n"));
        assert_eq!(
            get(&[1], SectionText::Header).unwrap(),
            "Subject: in\r\nContent-Type: message/rfc822\r\n\r\n"
        );
        assert_eq!(
            get(&[1, 1], SectionText::Full).unwrap(),
            "Subject: deep\r\n\r\nHello\r\n"
        );
        assert_eq!(
            get(&[1, 1], SectionText::Header).unwrap(),
            "Subject: deep\r\n\r\n"
        );
        assert_eq!(get(&[1, 1, 1], SectionText::Full).unwrap(), "Hello\r\n");
        assert_eq!(get(&[1, 1], SectionText::Text).unwrap(), "Hello\r\n");
    }

    #[test]
    fn single_part_message() {
        let m = b"Subject: s\r\n\r\nbody\r\n";
        let root = parse_message(m, Limits::default());
        let one = section_bytes(
            m,
            &root,
            &Section {
                part: vec![1],
                text: SectionText::Full,
            },
        )
        .unwrap();
        assert_eq!(one, b"body\r\n");
        let text = section_bytes(
            m,
            &root,
            &Section {
                part: vec![],
                text: SectionText::Text,
            },
        )
        .unwrap();
        assert_eq!(text, b"body\r\n");
        assert!(section_bytes(
            m,
            &root,
            &Section {
                part: vec![2],
                text: SectionText::Full
            }
        )
        .is_none());
    }
}
