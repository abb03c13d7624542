//! The MIME part tree (RFC 2045, RFC 2046) with byte offsets into the original message.
//!
//! Multipart bodies are split at delimiter lines `--boundary` (optionally followed by
//! whitespace) that start a line; the CRLF before a delimiter belongs to the delimiter
//! (§5.1.1). A missing close delimiter is tolerated (the last part runs to the end).
//! `message/rfc822` bodies are parsed as messages. Depth and part count are limited, so
//! parsing cost stays linear in the message size for any input.

use std::ops::Range;

use super::content_type::{parse_content_type, ContentType};
use crate::imf::header::for_each_field;

/// Limits that bound the work done on hostile input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of multiparts and message/rfc822 parsed as such (deeper parts are
    /// leaves).
    pub max_depth: usize,
    /// Most parts in the whole tree (further parts are not split out).
    pub max_parts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_parts: 10_000,
        }
    }
}

/// What a part contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartBody {
    /// A leaf: text, image, application ...
    Leaf,
    /// `multipart/*`.
    Multipart {
        /// Bytes before the first delimiter.
        preamble: Range<usize>,
        /// The sub-parts in order.
        parts: Vec<Part>,
        /// Bytes after the close delimiter (empty when it is missing).
        epilogue: Range<usize>,
        /// Whether the close delimiter was found.
        closed: bool,
    },
    /// `message/rfc822`: the encapsulated message.
    Message(Box<Part>),
}

/// One MIME entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The header section, including the empty line that ends it when present.
    pub header: Range<usize>,
    /// The body.
    pub body: Range<usize>,
    /// The parsed Content-Type (or the default for this position).
    pub content_type: ContentType,
    /// The Content-Transfer-Encoding, lower-cased (empty when absent: 7bit).
    pub transfer_encoding: String,
    /// The children.
    pub content: PartBody,
}

impl Part {
    /// The whole entity: header and body.
    pub fn range(&self) -> Range<usize> {
        self.header.start..self.body.end
    }

    /// The children of a multipart, or the single encapsulated message, for walking.
    pub fn children(&self) -> Vec<&Part> {
        match &self.content {
            PartBody::Leaf => Vec::new(),
            PartBody::Multipart { parts, .. } => parts.iter().collect(),
            PartBody::Message(m) => vec![m.as_ref()],
        }
    }
}

struct Parser<'a> {
    msg: &'a [u8],
    limits: Limits,
    parts: usize,
    candidates: std::rc::Rc<[usize]>,
}

/// Parses a whole message (the root entity).
pub fn parse_message(msg: &[u8], limits: Limits) -> Part {
    let mut p = Parser {
        msg,
        limits,
        parts: 0,
        candidates: dash_lines(msg).into(),
    };
    p.entity(0..msg.len(), 0, false)
}

/// Offsets of every line that starts with `--` (the only places a delimiter can be),
/// found in one pass, so nested multiparts do not rescan the message for them.
fn dash_lines(msg: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    if msg.starts_with(b"--") {
        out.push(0);
    }
    out.extend(memchr::memmem::find_iter(msg, b"\n--").map(|p| p + 1));
    out
}

/// Finds the next delimiter line for `boundary` in `msg[from..end]`, among the `--` line
/// starts in `candidates`: returns (start of the CRLF/LF before the delimiter, or `from`
/// when the delimiter is there; start of the line after it; whether it was the close
/// delimiter).
fn find_delimiter(
    msg: &[u8],
    candidates: &[usize],
    from: usize,
    end: usize,
    boundary: &[u8],
) -> Option<(usize, usize, bool)> {
    let first = candidates.partition_point(|&p| p < from);
    for &d in candidates[first..].iter().take_while(|&&p| p < end) {
        let found = d + 2;
        let after_boundary = found + boundary.len();
        if after_boundary > end {
            continue;
        }
        // Cheap checks first: what follows the boundary, then the boundary itself.
        let next_ok = after_boundary == end
            || matches!(msg[after_boundary], b'-' | b' ' | b'\t' | b'\r' | b'\n');
        let last_ok = boundary
            .last()
            .is_none_or(|&b| msg[after_boundary - 1] == b);
        if !next_ok || !last_ok || &msg[found..after_boundary] != boundary {
            continue;
        }
        let mut after = found + boundary.len();
        let close = msg[after..end].starts_with(b"--");
        if close {
            after += 2;
        }
        // Only transport padding (whitespace) may follow before the line end.
        let line_end = memchr::memchr(b'\n', &msg[after..end])
            .map(|p| after + p + 1)
            .unwrap_or(end);
        let padding = &msg[after..line_end];
        if !padding
            .iter()
            .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        {
            continue;
        }
        let start = if d == from {
            d
        } else if d >= 2 && &msg[d - 2..d] == b"\r\n" {
            d - 2
        } else {
            d - 1
        };
        return Some((start.max(from), line_end, close));
    }
    None
}

/// Whether `part` ends exactly with a multipart close delimiter line (its own or that of
/// an encapsulated message), with nothing after it.
fn ends_closed(part: &Part) -> bool {
    match &part.content {
        PartBody::Multipart {
            epilogue, closed, ..
        } => *closed && epilogue.is_empty(),
        PartBody::Message(inner) => ends_closed(inner),
        PartBody::Leaf => false,
    }
}

/// Length of the line break at the start of `s` (CRLF, LF or none).
fn line_break_len(s: &[u8]) -> usize {
    if s.starts_with(b"\r\n") {
        2
    } else if s.starts_with(b"\n") {
        1
    } else {
        0
    }
}

/// Moves the end of `part` (and of the nested parts ending with it) to `end`.
fn extend(part: &mut Part, end: usize) {
    part.body.end = end;
    match &mut part.content {
        PartBody::Multipart { epilogue, .. } => *epilogue = end..end,
        PartBody::Message(inner) => extend(inner, end),
        PartBody::Leaf => {}
    }
}

impl Parser<'_> {
    fn entity(&mut self, range: Range<usize>, depth: usize, digest_child: bool) -> Part {
        self.parts += 1;
        let slice = &self.msg[range.clone()];
        // Only two fields matter here: look at them without collecting the header.
        let mut content_type = None;
        let mut transfer_encoding = String::new();
        let body_off = for_each_field(slice, |f| {
            if content_type.is_none() && f.is("Content-Type") {
                content_type = Some(parse_content_type(&f.value_cow()));
            } else if transfer_encoding.is_empty() && f.is("Content-Transfer-Encoding") {
                transfer_encoding = f.value_cow().to_ascii_lowercase();
            }
        });
        let body_start = range.start + body_off;
        let content_type = content_type.unwrap_or_else(|| {
            if digest_child {
                ContentType {
                    mime_type: std::borrow::Cow::Borrowed("message"),
                    subtype: std::borrow::Cow::Borrowed("rfc822"),
                    params: Vec::new(),
                }
            } else {
                ContentType::default()
            }
        });
        let header = range.start..body_start;
        let body = body_start..range.end;
        let deep_ok = depth < self.limits.max_depth && self.parts < self.limits.max_parts;
        let content = if content_type.is_multipart() && deep_ok {
            match content_type.param("boundary").filter(|b| !b.is_empty()) {
                Some(b) => {
                    let digest = content_type.subtype == "digest";
                    self.multipart(body.clone(), b.as_bytes(), depth, digest)
                }
                // No boundary: a multipart whose body is all preamble, as Dovecot has it
                // (shown with one empty text/plain part).
                None => PartBody::Multipart {
                    preamble: body.clone(),
                    parts: Vec::new(),
                    epilogue: body.end..body.end,
                    closed: false,
                },
            }
        } else if content_type.is_message() && deep_ok {
            PartBody::Message(Box::new(self.entity(body.clone(), depth + 1, false)))
        } else {
            PartBody::Leaf
        };
        Part {
            header,
            body,
            content_type,
            transfer_encoding,
            content,
        }
    }

    fn multipart(
        &mut self,
        body: Range<usize>,
        boundary: &[u8],
        depth: usize,
        digest: bool,
    ) -> PartBody {
        let candidates = self.candidates.clone();
        let Some((pre_end, mut next, mut close)) =
            find_delimiter(self.msg, &candidates, body.start, body.end, boundary)
        else {
            // No delimiter at all: the whole body is preamble.
            return PartBody::Multipart {
                preamble: body.clone(),
                parts: Vec::new(),
                epilogue: body.end..body.end,
                closed: false,
            };
        };
        let preamble = body.start..pre_end;
        let mut parts = Vec::new();
        while !close {
            if self.parts >= self.limits.max_parts {
                parts.push(self.leaf(next..body.end));
                next = body.end;
                break;
            }
            // A part that is itself a multipart with this same boundary takes the
            // delimiter lines up to its close delimiter (the innermost multipart's
            // boundary is matched first, as Dovecot parses): the part ends at the first
            // delimiter after that.
            let search_from = match self.nested_close(next, body.end, boundary) {
                Some(after_inner_close) => after_inner_close,
                None => next,
            };
            match find_delimiter(self.msg, &candidates, search_from, body.end, boundary) {
                Some((end, after, is_close)) => {
                    let mut part = self.entity(next..end, depth + 1, digest);
                    // A part that itself ends with a close delimiter keeps that line's
                    // line end (the outer delimiter then has none of its own), as
                    // Dovecot counts it.
                    if ends_closed(&part) && !self.msg[..end].ends_with(b"\n") {
                        let delim = end + line_break_len(&self.msg[end..]);
                        extend(&mut part, delim);
                    }
                    parts.push(part);
                    next = after;
                    close = is_close;
                }
                None => {
                    // Missing close delimiter: the last part runs to the end.
                    parts.push(self.entity(next..body.end, depth + 1, digest));
                    next = body.end;
                    break;
                }
            }
        }
        PartBody::Multipart {
            preamble,
            parts,
            epilogue: next.min(body.end)..body.end,
            closed: close,
        }
    }

    /// When the part starting at `start` is a multipart declaring `boundary` too, the
    /// offset just after its own close delimiter.
    fn nested_close(&self, start: usize, end: usize, boundary: &[u8]) -> Option<usize> {
        let mut inner_type = None;
        let body_off = for_each_field(&self.msg[start..end], |f| {
            if inner_type.is_none() && f.is("Content-Type") {
                inner_type = Some(parse_content_type(&f.value_cow()));
            }
        });
        let inner = inner_type?;
        if !inner.is_multipart() || inner.param("boundary").map(str::as_bytes) != Some(boundary) {
            return None;
        }
        let mut from = start + body_off;
        while let Some((_, after, is_close)) =
            find_delimiter(self.msg, &self.candidates, from, end, boundary)
        {
            if is_close {
                return Some(after);
            }
            from = after;
        }
        None
    }

    fn leaf(&mut self, range: Range<usize>) -> Part {
        self.parts += 1;
        Part {
            header: range.start..range.start,
            body: range,
            content_type: ContentType::default(),
            transfer_encoding: String::new(),
            content: PartBody::Leaf,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2046 §5.1.1 example.
    const RFC2046: &[u8] = b"From: Nathaniel Borenstein <nsb@bellcore.com>\r\n\
To: Ned Freed <ned@innosoft.com>\r\n\
Date: Sun, 21 Mar 1993 23:56:48 -0800 (PST)\r\n\
Subject: Sample message\r\n\
MIME-Version: 1.0\r\n\
Content-type: multipart/mixed; boundary=\"simple boundary\"\r\n\
\r\n\
This is the preamble.  It is to be ignored, though it\r\n\
is a handy place for composition agents to include an\r\n\
explanatory note to non-MIME conformant readers.\r\n\
\r\n\
--simple boundary\r\n\
\r\n\
This is implicitly typed plain US-ASCII text.\r\n\
It does NOT end with a linebreak.\r\n\
--simple boundary\r\n\
Content-type: text/plain; charset=us-ascii\r\n\
\r\n\
This is explicitly typed plain US-ASCII text.\r\n\
It DOES end with a linebreak.\r\n\
\r\n\
--simple boundary--\r\n\
\r\n\
This is the epilogue.  It is also to be ignored.\r\n";

    #[test]
    fn rfc2046_example() {
        let root = parse_message(RFC2046, Limits::default());
        let PartBody::Multipart {
            preamble,
            parts,
            epilogue,
            closed,
        } = &root.content
        else {
            panic!("not multipart");
        };
        assert!(closed);
        assert!(RFC2046[preamble.clone()].starts_with(b"This is the preamble."));
        assert!(RFC2046[preamble.clone()].ends_with(b"readers.\r\n"));
        assert_eq!(parts.len(), 2);
        assert_eq!(
            &RFC2046[parts[0].body.clone()],
            b"This is implicitly typed plain US-ASCII text.\r\nIt does NOT end with a linebreak."
        );
        assert_eq!(
            &RFC2046[parts[1].body.clone()],
            b"This is explicitly typed plain US-ASCII text.\r\nIt DOES end with a linebreak.\r\n"
        );
        assert_eq!(
            &RFC2046[parts[1].header.clone()],
            b"Content-type: text/plain; charset=us-ascii\r\n\r\n"
        );
        assert_eq!(
            &RFC2046[epilogue.clone()],
            b"\r\nThis is the epilogue.  It is also to be ignored.\r\n"
        );
    }

    #[test]
    fn nested_and_message_rfc822_with_lf() {
        let m = b"Content-Type: multipart/mixed; boundary=out\n\n--out\nContent-Type: multipart/alternative; boundary=in\n\n--in\n\nplain\n--in\nContent-Type: text/html\n\n<b>x</b>\n--in--\n--out\nContent-Type: message/rfc822\n\nSubject: inner\n\ninner body\n--out--\n";
        let root = parse_message(m, Limits::default());
        let PartBody::Multipart { parts, .. } = &root.content else {
            panic!()
        };
        assert_eq!(parts.len(), 2);
        let PartBody::Multipart { parts: alt, .. } = &parts[0].content else {
            panic!()
        };
        assert_eq!(&m[alt[0].body.clone()], b"plain");
        assert_eq!(alt[1].content_type.subtype, "html");
        let PartBody::Message(inner) = &parts[1].content else {
            panic!()
        };
        assert_eq!(&m[inner.body.clone()], b"inner body");
    }

    #[test]
    fn missing_close_and_lookalike_boundaries() {
        let m = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none --b not a delimiter\r\n--bb not either\r\n--b\r\n\r\ntwo";
        let root = parse_message(m, Limits::default());
        let PartBody::Multipart {
            parts, epilogue, ..
        } = &root.content
        else {
            panic!()
        };
        assert_eq!(parts.len(), 2);
        assert_eq!(
            &m[parts[0].body.clone()],
            b"one --b not a delimiter\r\n--bb not either"
        );
        assert_eq!(&m[parts[1].body.clone()], b"two");
        assert!(epilogue.is_empty());
    }

    #[test]
    fn limits_hold_on_deep_nesting() {
        let mut m = Vec::new();
        for i in 0..200 {
            m.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n")
                    .as_bytes(),
            );
        }
        let root = parse_message(
            &m,
            Limits {
                max_depth: 10,
                max_parts: 50,
            },
        );
        let mut depth = 0;
        let mut p = &root;
        while let Some(c) = p.children().first().copied() {
            p = c;
            depth += 1;
        }
        assert!(depth <= 10);
    }
}
