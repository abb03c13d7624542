//! RFC 2047 encoded words: `=?charset[*lang]?B|Q?text?=`.
//!
//! Decoding goes to UTF-8 through encoding_rs for every charset it knows; a word with an
//! unknown charset or broken syntax is kept as written, never an error. Whitespace
//! between adjacent encoded words is dropped (§6.2), and adjacent words in the same
//! charset are joined before decoding so a character split across words survives.

use encoding_rs::Encoding;

use super::transfer::{decode_base64, encode_base64};

/// One encoded word found in text (not yet decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Word<'a> {
    charset: &'a str,
    /// `b'B'` or `b'Q'` (upper-cased).
    encoding: u8,
    text: &'a [u8],
    len: usize,
}

impl Word<'_> {
    /// Appends the decoded octets to `out`.
    fn decode_into(&self, out: &mut Vec<u8>) {
        if self.encoding == b'B' {
            out.extend_from_slice(&decode_base64(self.text));
        } else {
            decode_q_into(self.text, out);
        }
    }
}

fn is_token_char(b: u8) -> bool {
    b > 0x20
        && b < 0x7f
        && !matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b'@'
                | b','
                | b';'
                | b':'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'.'
                | b'='
        )
}

/// Parses an encoded word at the start of `s`.
fn parse_word(s: &str) -> Option<Word<'_>> {
    let b = s.as_bytes();
    if !s.starts_with("=?") {
        return None;
    }
    let cs_end = 2 + b[2..].iter().position(|&c| c == b'?')?;
    let charset_full = &s[2..cs_end];
    if charset_full.is_empty() || !charset_full.bytes().all(|c| is_token_char(c) || c == b'*') {
        return None;
    }
    let charset = charset_full.split('*').next().unwrap_or(charset_full);
    let encoding = b.get(cs_end + 1)?.to_ascii_uppercase();
    if b.get(cs_end + 2) != Some(&b'?') || (encoding != b'B' && encoding != b'Q') {
        return None;
    }
    let text_start = cs_end + 3;
    let text_len = memchr::memmem::find(&b[text_start..], b"?=")?;
    let text = &b[text_start..text_start + text_len];
    if text
        .iter()
        .any(|&c| c == b' ' || c == b'\t' || c == b'\r' || c == b'\n')
    {
        return None;
    }
    Some(Word {
        charset,
        encoding,
        text,
        len: text_start + text_len + 2,
    })
}

/// The `Q` encoding (§4.2): `_` is a space, `=XX` a byte.
fn decode_q_into(text: &[u8], out: &mut Vec<u8>) {
    let hex = |c: u8| (c as char).to_digit(16);
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'_' => out.push(b' '),
            b'=' => match (
                text.get(i + 1).and_then(|&c| hex(c)),
                text.get(i + 2).and_then(|&c| hex(c)),
            ) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'='),
            },
            c => out.push(c),
        }
        i += 1;
    }
}

/// Decodes `bytes` from `charset` to UTF-8, or None when the charset is unknown.
pub fn decode_charset(charset: &str, bytes: &[u8]) -> Option<String> {
    let enc = Encoding::for_label_no_replacement(charset.trim().as_bytes()).or_else(|| {
        charset
            .eq_ignore_ascii_case("utf8")
            .then_some(encoding_rs::UTF_8)
    })?;
    Some(enc.decode_without_bom_handling(bytes).0.into_owned())
}

/// Decodes every encoded word in an unstructured header value (Subject, display names,
/// comments). Text that is not an encoded word is kept as is.
pub fn decode(value: &str) -> String {
    if !value.contains("=?") {
        return value.to_string();
    }
    /// Adjacent encoded words in one charset, decoded together.
    struct Run<'a> {
        charset: &'a str,
        bytes: Vec<u8>,
        raw: std::ops::Range<usize>,
    }
    fn flush(value: &str, run: &mut Option<Run<'_>>, out: &mut String) {
        if let Some(r) = run.take() {
            let utf8 = r.charset.eq_ignore_ascii_case("utf-8")
                || r.charset.eq_ignore_ascii_case("us-ascii");
            if utf8 {
                if let Ok(s) = std::str::from_utf8(&r.bytes) {
                    out.push_str(s);
                    return;
                }
            }
            match decode_charset(r.charset, &r.bytes) {
                Some(s) => out.push_str(&s),
                None => out.push_str(&value[r.raw]),
            }
        }
    }
    let mut out = String::with_capacity(value.len());
    let mut run: Option<Run<'_>> = None;
    // Whitespace since the last non-space (CR and LF dropped: unfolding), written only if
    // something other than an adjacent encoded word follows.
    let mut pending_ws = String::new();
    let mut last_was_word = false;
    let mut pos = 0;
    while pos < value.len() {
        let rest = &value[pos..];
        if rest.starts_with("=?") {
            if let Some(w) = parse_word(rest) {
                let same = run
                    .as_ref()
                    .is_some_and(|r| r.charset.eq_ignore_ascii_case(w.charset));
                if !same {
                    flush(value, &mut run, &mut out);
                    if !last_was_word {
                        out.push_str(&pending_ws);
                    }
                    run = Some(Run {
                        charset: w.charset,
                        bytes: Vec::with_capacity(w.text.len()),
                        raw: pos..pos,
                    });
                }
                if let Some(r) = run.as_mut() {
                    w.decode_into(&mut r.bytes);
                    r.raw.end = pos + w.len;
                }
                pending_ws.clear();
                last_was_word = true;
                pos += w.len;
                continue;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        match c {
            ' ' | '\t' => pending_ws.push(c),
            '\r' | '\n' => {}
            _ => {
                flush(value, &mut run, &mut out);
                out.push_str(&pending_ws);
                pending_ws.clear();
                // Copy the plain text up to the next space or encoded word in one go.
                let end = rest
                    .find(|ch: char| {
                        ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '='
                    })
                    .filter(|&e| e > 0)
                    .unwrap_or(c.len_utf8());
                out.push_str(&rest[..end]);
                last_was_word = false;
                pos += end;
                continue;
            }
        }
        pos += c.len_utf8();
    }
    flush(value, &mut run, &mut out);
    out.push_str(&pending_ws);
    out
}

/// Encodes `text` for an unstructured header field: unchanged when it is printable ASCII
/// without `=?`, otherwise as UTF-8 `B` encoded words of at most 75 characters, separated
/// by folding whitespace (CRLF SP), each holding whole characters (§5, §2).
pub fn encode(text: &str) -> String {
    let plain = text
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) || b == b'\t')
        && !text.contains("=?");
    if plain {
        return text.to_string();
    }
    // "=?UTF-8?B?" + "?=" = 12 characters; 75 - 12 = 63 base64 characters = 45 bytes max.
    const MAX_BYTES: usize = 45;
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > MAX_BYTES {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| {
            format!(
                "=?UTF-8?B?{}?=",
                String::from_utf8_lossy(&encode_base64(w.as_bytes()))
            )
        })
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// Formats a display name for an address header: an atom sequence as is, other ASCII as
/// a quoted string, non-ASCII as encoded words (§5 (3)).
pub fn encode_phrase(name: &str) -> String {
    if !name.is_ascii() || name.contains("=?") {
        return encode(name);
    }
    let atoms = name.split(' ').all(|w| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b))
    });
    if atoms {
        name.to_string()
    } else {
        let escaped: String = name
            .chars()
            .filter(|c| !c.is_control())
            .flat_map(|c| {
                if c == '"' || c == '\\' {
                    vec!['\\', c]
                } else {
                    vec![c]
                }
            })
            .collect();
        format!("\"{escaped}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2047 §8 examples.
    #[test]
    fn rfc2047_section8() {
        assert_eq!(decode("=?US-ASCII?Q?Keith_Moore?="), "Keith Moore");
        assert_eq!(
            decode("=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?="),
            "Keld Jørn Simonsen"
        );
        assert_eq!(decode("=?ISO-8859-1?Q?Andr=E9?= Pirard"), "André Pirard");
        assert_eq!(
            decode("=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?="),
            "If you can read this you understand the example."
        );
        assert_eq!(decode("(=?ISO-8859-1?Q?a?=)"), "(a)");
        assert_eq!(decode("(=?ISO-8859-1?Q?a?= b)"), "(a b)");
        assert_eq!(decode("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)"), "(ab)");
        assert_eq!(decode("(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)"), "(ab)");
        assert_eq!(
            decode("(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)"),
            "(ab)"
        );
        assert_eq!(decode("(=?ISO-8859-1?Q?a_b?=)"), "(a b)");
        assert_eq!(decode("(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)"), "(a b)");
    }

    #[test]
    fn unknown_and_broken_are_kept() {
        assert_eq!(
            decode("=?x-unknown?Q?abc?= tail"),
            "=?x-unknown?Q?abc?= tail"
        );
        assert_eq!(decode("=?UTF-8?X?abc?="), "=?UTF-8?X?abc?=");
        assert_eq!(decode("=?UTF-8?Q?unterminated"), "=?UTF-8?Q?unterminated");
        assert_eq!(decode("a =? b"), "a =? b");
        assert_eq!(decode("=?UTF-8*en?Q?lang?="), "lang");
    }

    #[test]
    fn split_multibyte_across_words() {
        // "é" is C3 A9 in UTF-8, split over two words.
        assert_eq!(decode("=?UTF-8?Q?caf=C3?= =?UTF-8?Q?=A9?="), "café");
    }

    #[test]
    fn encode_round_trips() {
        for s in [
            "plain",
            "Grüße aus Köln",
            "日本語のテキストはとても長いのでいくつかの単語に分割されるはずです",
            "=?x?=",
        ] {
            let e = encode(s);
            assert!(e.split("\r\n ").all(|w| w.len() <= 75), "{e}");
            assert_eq!(decode(&e), s);
        }
        assert_eq!(encode_phrase("John Smith"), "John Smith");
        assert_eq!(encode_phrase("Smith, John"), "\"Smith, John\"");
        assert_eq!(decode(&encode_phrase("Jörg")), "Jörg");
    }
}
