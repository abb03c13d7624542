//! RFC 5322 §2.2 header framing over raw bytes: where each field starts and ends, its name
//! and its unfolded value, without copying the message.
//!
//! Both CRLF and bare-LF line ends are accepted, since stored mail may use either.

use std::ops::Range;

/// One header field located in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    /// The field name as written (compare with [`Field::is`]).
    pub name: &'a [u8],
    /// The raw value after the colon, folding included, line end excluded.
    pub raw_value: &'a [u8],
    /// Byte range of the whole field (name to final line end inclusive) in the message.
    pub range: Range<usize>,
}

impl Field<'_> {
    /// Whether this field is called `name`, ignoring ASCII case.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }

    /// Like [`Field::value`], borrowing from the message when the value is on one line
    /// and valid UTF-8 (the common case).
    pub fn value_cow(&self) -> std::borrow::Cow<'_, str> {
        if !self.raw_value.contains(&b'\n') {
            if let Ok(s) = std::str::from_utf8(self.raw_value.trim_ascii()) {
                return std::borrow::Cow::Borrowed(s);
            }
        }
        std::borrow::Cow::Owned(self.value())
    }

    /// The value unfolded (CR/LF removed, RFC 5322 §2.2.3) and trimmed, lossily decoded
    /// as UTF-8 (RFC 6532).
    pub fn value(&self) -> String {
        if !self.raw_value.contains(&b'\n') {
            return String::from_utf8_lossy(self.raw_value.trim_ascii()).into_owned();
        }
        let unfolded: Vec<u8> = self
            .raw_value
            .iter()
            .copied()
            .filter(|&b| b != b'\r' && b != b'\n')
            .collect();
        String::from_utf8_lossy(unfolded.trim_ascii()).into_owned()
    }
}

/// The header section of `message`: its fields in order, and the offset where the body
/// starts (after the empty line), or the message length when there is no body.
///
/// A line that is neither a field nor a continuation (e.g. an mbox `From ` line or junk)
/// ends the header section, as Postfix's cleanup does: use this for mail being submitted.
pub fn split_header(message: &[u8]) -> (Vec<Field<'_>>, usize) {
    split(message, false)
}

/// Like [`split_header`], but only an empty line ends the header section, as Dovecot
/// (and IMAP clients) read stored mail: a line without a colon is kept as a field named
/// by the whole line with an empty value.
pub fn split_header_to_blank_line(message: &[u8]) -> (Vec<Field<'_>>, usize) {
    split(message, true)
}

fn split(message: &[u8], skip_junk: bool) -> (Vec<Field<'_>>, usize) {
    let mut fields = Vec::with_capacity(8);
    let body = scan(message, skip_junk, |f| fields.push(f));
    (fields, body)
}

/// Calls `each` for every field of the header section of `message`, in order, without
/// collecting them; returns the body offset. Only an empty line ends the section (lines
/// without a colon are passed as fields with an empty value), as with
/// [`split_header_to_blank_line`].
pub fn for_each_field<'a>(message: &'a [u8], each: impl FnMut(Field<'a>)) -> usize {
    scan(message, true, each)
}

fn scan<'a>(message: &'a [u8], skip_junk: bool, mut each: impl FnMut(Field<'a>)) -> usize {
    let mut pos = 0;
    while pos < message.len() {
        let line_end = memchr::memchr(b'\n', &message[pos..])
            .map(|p| pos + p + 1)
            .unwrap_or(message.len());
        let line = &message[pos..line_end];
        let content = line
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(line);
        if content.is_empty() {
            return line_end;
        }
        let Some(colon) = memchr::memchr(b':', content) else {
            if skip_junk {
                // Kept as a field named by the whole line, with no value (as Dovecot
                // keeps such lines in the header).
                each(Field {
                    name: content,
                    raw_value: &content[content.len()..],
                    range: pos..line_end,
                });
                pos = line_end;
                continue;
            }
            return pos;
        };
        let name = &content[..colon];
        let name_ok = !name.is_empty() && name.iter().all(|&b| (33..=126).contains(&b));
        // obs-fields allow WSP before the colon.
        let name_trimmed = name.trim_ascii_end();
        if !name_ok
            && (name_trimmed.is_empty() || !name_trimmed.iter().all(|&b| (33..=126).contains(&b)))
        {
            if skip_junk {
                pos = line_end;
                continue;
            }
            return pos;
        }
        // Extend over continuation lines (starting with SP or HTAB).
        let mut end = line_end;
        while end < message.len() && (message[end] == b' ' || message[end] == b'\t') {
            end = memchr::memchr(b'\n', &message[end..])
                .map(|p| end + p + 1)
                .unwrap_or(message.len());
        }
        let value_start = pos + colon + 1;
        let mut value_end = end;
        if message[..value_end].ends_with(b"\n") {
            value_end -= 1;
            if message[..value_end].ends_with(b"\r") {
                value_end -= 1;
            }
        }
        each(Field {
            name: name_trimmed,
            raw_value: &message[value_start..value_end.max(value_start)],
            range: pos..end,
        });
        pos = end;
    }
    message.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_fields_and_body() {
        let m = b"From: a@b\r\nSubject: hello\r\n world\r\nX-Empty:\r\n\r\nbody\r\n";
        let (f, body) = split_header(m);
        assert_eq!(f.len(), 3);
        assert!(f[1].is("subject"));
        assert_eq!(f[1].value(), "hello world");
        assert_eq!(f[2].value(), "");
        assert_eq!(&m[body..], b"body\r\n");
        assert_eq!(&m[f[0].range.clone()], b"From: a@b\r\n");
    }

    #[test]
    fn bare_lf_and_no_body() {
        let m = b"To: x\n\tcont\nCc: y";
        let (f, body) = split_header(m);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].value(), "x\tcont");
        assert_eq!(f[1].value(), "y");
        assert_eq!(body, m.len());
    }

    #[test]
    fn junk_skipped_until_blank_line() {
        let m = b"Subject: s\r\nnot a header\r\nX: y\r\n\r\nbody";
        let (f, body) = split_header_to_blank_line(m);
        assert_eq!(f.len(), 3);
        assert_eq!(f[1].name, b"not a header");
        assert!(f[2].is("x"));
        assert_eq!(&m[body..], b"body");
    }

    #[test]
    fn junk_ends_header() {
        let m = b"Subject: s\r\nnot a header\r\nmore\r\n";
        let (f, body) = split_header(m);
        assert_eq!(f.len(), 1);
        assert_eq!(&m[body..], b"not a header\r\nmore\r\n");
    }
}
