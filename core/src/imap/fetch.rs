//! FETCH responses (RFC 3501 §6.4.5, §7.4.2): how much of each message a FETCH needs from
//! the store ([`content_needed`]), how the messages are split into batches so that a
//! large FETCH never holds more than about [`FETCH_BATCH_BYTES`] of mail at once, and the
//! rendering of one `* n FETCH (...)` response.

use crate::imap::binary::binary_content;
use crate::imap::command::FetchAttr;
use crate::imap::response::{Response, Value};
use crate::imap::section::{section_bytes, Section, SectionText};
use crate::imap::store::{FetchPart, MessageMeta};
use crate::imap::structure::{body_structure, envelope};
use crate::imf::header::split_header_to_blank_line;
use crate::mime::multipart::{parse_message, Limits, Part};

/// About how many bytes of messages one store request of a FETCH asks for (always at
/// least one message).
pub const FETCH_BATCH_BYTES: u64 = 1024 * 1024;

/// What a header-only message is counted as in a batch.
const HEADER_ESTIMATE: u64 = 16 * 1024;

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
/// model answers them all (UID, FLAGS, MODSEQ, INTERNALDATE, RFC822.SIZE).
pub fn content_needed(items: &[FetchAttr]) -> Option<FetchPart> {
    let mut needed = None;
    for item in items {
        match item {
            FetchAttr::Flags
            | FetchAttr::Uid
            | FetchAttr::ModSeq
            | FetchAttr::InternalDate
            | FetchAttr::Rfc822Size => {}
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
/// message with that sequence number; the batch stops before a message `streamed` says
/// goes alone.
pub fn next_batch(
    targets: &mut Vec<(u32, u32)>,
    part: FetchPart,
    size: impl Fn(u32) -> u64,
    streamed: impl Fn(u32) -> bool,
) -> Vec<(u32, u32)> {
    let mut total = 0u64;
    let mut n = 0;
    for &(seq, _) in targets.iter() {
        if n > 0 && streamed(seq) {
            break;
        }
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

/// Part numbers as a response names them (`1.2`).
fn part_name(part: &[u32]) -> String {
    part.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(".")
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

/// Messages larger than this are streamed from the store when every item asked for can
/// be (the header is read, the rest arrives in chunks into deferred literals); the
/// default of `ImapConfig::stream_above`.
pub const STREAM_ABOVE: u64 = 256 * 1024;

/// Whether `items` can be answered from a message's header plus byte ranges of its
/// whole text (RFC822, BODY[], BODY[TEXT], with or without a partial), so that a large
/// message is streamed instead of loaded. BODY, BODYSTRUCTURE and part sections need the
/// parsed message.
pub fn streamable(items: &[FetchAttr]) -> bool {
    items.iter().all(|i| match i {
        FetchAttr::Body
        | FetchAttr::BodyStructure
        | FetchAttr::Binary { .. }
        | FetchAttr::BinarySize { .. } => false,
        FetchAttr::Section { section, .. } => {
            header_section(section)
                || (section.part.is_empty()
                    && matches!(section.text, SectionText::Full | SectionText::Text))
        }
        _ => true,
    })
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
    /// Its contents (as much as [`content_needed`] asked for), when the items need them;
    /// only its header when `streamed`.
    pub data: Option<&'a [u8]>,
    /// Whether this FETCH set `\Seen`: FLAGS is sent even when not asked for.
    pub flags_changed: bool,
    /// Whether the whole-text items become deferred literals streamed from the store
    /// (see [`streamable`]).
    pub streamed: bool,
}

/// A range of a message (in its CRLF form) whose octets the store streams into a
/// [`Value::Deferred`] literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamedRange {
    /// The first octet.
    pub start: u64,
    /// How many octets.
    pub len: u64,
}

/// The `* n FETCH (...)` response for one message, and the ranges its deferred literals
/// stand for, in order (none unless `m.streamed`).
pub fn fetch_response(items: &[FetchAttr], m: FetchedItem<'_>) -> (Response, Vec<StreamedRange>) {
    let d = m.data.unwrap_or(b"");
    let needs_tree = items.iter().any(|i| {
        matches!(
            i,
            FetchAttr::Body
                | FetchAttr::BodyStructure
                | FetchAttr::Section { .. }
                | FetchAttr::Binary { .. }
                | FetchAttr::BinarySize { .. }
        )
    });
    // Streamed, `d` is the header only: parsing it is cheap and serves header sections.
    let tree = (needs_tree && m.data.is_some()).then(|| parse_message(d, Limits::default()));
    let body_start = split_header_to_blank_line(d).1.min(d.len());
    let r = Rendering {
        m: &m,
        data: d,
        tree: tree.as_ref(),
        body_start,
    };
    let mut values = Vec::with_capacity(items.len() * 2 + 2);
    let mut ranges = Vec::new();
    let mut wrote_flags = false;
    for item in items {
        wrote_flags |= matches!(item, FetchAttr::Flags);
        r.item(item, &mut values, &mut ranges);
    }
    if m.flags_changed && !wrote_flags {
        r.item(&FetchAttr::Flags, &mut values, &mut ranges);
    }
    let response = Response::Untagged(vec![
        Value::Number(m.seq.into()),
        Value::atom("FETCH"),
        Value::List(values),
    ]);
    (response, ranges)
}

/// What the items of one message's FETCH response are rendered from.
struct Rendering<'a> {
    m: &'a FetchedItem<'a>,
    /// The message (or its header when streamed).
    data: &'a [u8],
    tree: Option<&'a Part>,
    /// Where the body starts in `data`.
    body_start: usize,
}

impl Rendering<'_> {
    /// Appends the name and value of `item`.
    fn item(&self, item: &FetchAttr, out: &mut Vec<Value>, ranges: &mut Vec<StreamedRange>) {
        let (m, d) = (self.m, self.data);
        match item {
            FetchAttr::Uid => out.extend([Value::atom("UID"), Value::Number(m.meta.uid.into())]),
            FetchAttr::ModSeq => out.extend([
                Value::atom("MODSEQ"),
                Value::List(vec![Value::Number(m.meta.modseq)]),
            ]),
            FetchAttr::Flags => {
                let shown = with_recent(&m.meta.flags, m.recent);
                out.extend([Value::atom("FLAGS"), Value::atoms(&shown)]);
            }
            FetchAttr::InternalDate => out.extend([
                Value::atom("INTERNALDATE"),
                Value::Quoted(m.meta.internal_date.imap()),
            ]),
            FetchAttr::Rfc822Size => {
                out.extend([Value::atom("RFC822.SIZE"), Value::Number(m.meta.size)])
            }
            FetchAttr::Envelope => {
                out.extend([Value::atom("ENVELOPE"), envelope(&d[..self.body_start])])
            }
            FetchAttr::Body | FetchAttr::BodyStructure => {
                let extended = matches!(item, FetchAttr::BodyStructure);
                out.push(Value::atom(if extended { "BODYSTRUCTURE" } else { "BODY" }));
                out.push(match self.tree {
                    Some(t) => body_structure(d, t, extended),
                    None => Value::Nil,
                });
            }
            FetchAttr::Rfc822 => {
                out.push(Value::atom("RFC822"));
                out.push(self.text(Whole::Message, None, ranges));
            }
            FetchAttr::Rfc822Text => {
                out.push(Value::atom("RFC822.TEXT"));
                out.push(self.text(Whole::Body, None, ranges));
            }
            FetchAttr::Rfc822Header => out.extend([
                Value::atom("RFC822.HEADER"),
                Value::Literal(d[..self.body_start].to_vec()),
            ]),
            FetchAttr::Binary { part, partial, .. } => {
                let mut name = format!("BINARY[{}]", part_name(part));
                if let Some((origin, _)) = partial {
                    name.push_str(&format!("<{origin}>"));
                }
                let bytes = self.binary(part).unwrap_or_default();
                let (start, end) = cut(0, bytes.len() as u64, *partial);
                out.push(Value::Atom(name));
                out.push(Value::Literal(bytes[start as usize..end as usize].to_vec()));
            }
            FetchAttr::BinarySize { part } => {
                let size = self.binary(part).map_or(0, |b| b.len() as u64);
                out.push(Value::Atom(format!("BINARY.SIZE[{}]", part_name(part))));
                out.push(Value::Number(size));
            }
            FetchAttr::Section {
                section, partial, ..
            } => {
                let mut name = format!("BODY[{}]", section_name(section));
                if let Some((origin, _)) = partial {
                    name.push_str(&format!("<{origin}>"));
                }
                out.push(Value::Atom(name));
                let whole = match (self.m.streamed, &section.text) {
                    (true, SectionText::Full) => Some(Whole::Message),
                    (true, SectionText::Text) => Some(Whole::Body),
                    _ => None,
                };
                out.push(match whole {
                    Some(w) => self.text(w, *partial, ranges),
                    None => self.section(section, *partial),
                });
            }
        }
    }

    /// The whole message or its body, cut to `partial`: a deferred literal when
    /// streamed, else a literal.
    fn text(
        &self,
        whole: Whole,
        partial: Option<(u32, u32)>,
        ranges: &mut Vec<StreamedRange>,
    ) -> Value {
        let (from, to) = match (self.m.streamed, whole) {
            (true, Whole::Message) => (0, self.m.meta.size),
            (true, Whole::Body) => (
                (self.body_start as u64).min(self.m.meta.size),
                self.m.meta.size,
            ),
            (false, Whole::Message) => (0, self.data.len() as u64),
            (false, Whole::Body) => (self.body_start as u64, self.data.len() as u64),
        };
        let (start, end) = cut(from, to, partial);
        if !self.m.streamed {
            return Value::Literal(self.data[start as usize..end as usize].to_vec());
        }
        if end == start {
            return Value::Literal(Vec::new());
        }
        ranges.push(StreamedRange {
            start,
            len: end - start,
        });
        Value::Deferred(end - start)
    }

    /// A section's octets (from the parsed message), cut to `partial`.
    /// BINARY's content of a part (see [`binary_content`]).
    fn binary(&self, part: &[u32]) -> Option<Vec<u8>> {
        binary_content(self.data, self.tree?, part)
    }

    fn section(&self, section: &Section, partial: Option<(u32, u32)>) -> Value {
        let bytes = match self.tree {
            Some(t) => section_bytes(self.data, t, section).unwrap_or_default(),
            None => Vec::new(),
        };
        let (start, end) = cut(0, bytes.len() as u64, partial);
        Value::Literal(bytes[start as usize..end as usize].to_vec())
    }
}

/// The whole text an item shows.
#[derive(Debug, Clone, Copy)]
enum Whole {
    /// Header and body (RFC822, BODY[]).
    Message,
    /// The body (RFC822.TEXT, BODY[TEXT]).
    Body,
}

/// The octets `from..to` cut to a partial `<origin.length>`.
fn cut(from: u64, to: u64, partial: Option<(u32, u32)>) -> (u64, u64) {
    match partial {
        Some((origin, len)) => {
            let start = (from + u64::from(origin)).min(to);
            (start, (start + u64::from(len)).min(to))
        }
        None => (from, to),
    }
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
            content_needed(&items("(UID FLAGS MODSEQ RFC822.SIZE INTERNALDATE)")),
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
            batches.push(next_batch(&mut t, FetchPart::Full, sizes, |_| false).len());
        }
        assert_eq!(batches, [2, 1, 2, 1]);
        let mut t: Vec<(u32, u32)> = (1..=200).map(|i| (i, i)).collect();
        assert_eq!(
            next_batch(&mut t, FetchPart::Header, sizes, |_| false).len(),
            64
        );
    }
}
