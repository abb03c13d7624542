//! Content-Type and Content-Disposition (RFC 2045 §5, RFC 2183) with parameters, including
//! RFC 2231 continuations (`name*0=`, `name*1=`) and charset-tagged values
//! (`name*=utf-8'en'%E2%82%AC`). Parsing is lenient and never fails: a broken header
//! gives the RFC 2045 §5.2 default (`text/plain; charset=us-ascii`).

use std::borrow::Cow;

use super::encoded_word::{decode as decode_2047, decode_charset};

/// A parameter after RFC 2231 reassembly and decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Lower-cased attribute name, without any `*N*` suffix (common names are not
    /// allocated).
    pub name: Cow<'static, str>,
    /// The decoded value (UTF-8).
    pub value: String,
}

/// A parsed Content-Type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// Lower-cased top-level type, e.g. `multipart` (common names are not allocated).
    pub mime_type: Cow<'static, str>,
    /// Lower-cased subtype, e.g. `mixed`.
    pub subtype: Cow<'static, str>,
    /// Parameters in order.
    pub params: Vec<Param>,
}

impl Default for ContentType {
    fn default() -> Self {
        Self {
            mime_type: Cow::Borrowed("text"),
            subtype: Cow::Borrowed("plain"),
            params: vec![Param {
                name: Cow::Borrowed("charset"),
                value: "us-ascii".into(),
            }],
        }
    }
}

/// A parsed Content-Disposition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContentDisposition {
    /// Lower-cased disposition type, e.g. `attachment`.
    pub kind: String,
    /// Parameters in order.
    pub params: Vec<Param>,
}

/// Looks a parameter up by (case-insensitive) name.
pub fn param<'a>(params: &'a [Param], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .map(|p| p.value.as_str())
}

impl ContentType {
    /// A parameter value by name.
    pub fn param(&self, name: &str) -> Option<&str> {
        param(&self.params, name)
    }

    /// Whether this is `multipart/*`.
    pub fn is_multipart(&self) -> bool {
        self.mime_type == "multipart"
    }

    /// Whether this is `message/rfc822` (or `message/global`, RFC 6532).
    pub fn is_message(&self) -> bool {
        self.mime_type == "message" && (self.subtype == "rfc822" || self.subtype == "global")
    }
}

impl ContentDisposition {
    /// A parameter value by name.
    pub fn param(&self, name: &str) -> Option<&str> {
        param(&self.params, name)
    }
}

/// `tspecials` of RFC 2045 §5.1.
fn is_tspecial(c: u8) -> bool {
    matches!(
        c,
        b'(' | b')'
            | b'<'
            | b'>'
            | b'@'
            | b','
            | b';'
            | b':'
            | b'\\'
            | b'"'
            | b'/'
            | b'['
            | b']'
            | b'?'
            | b'='
    )
}

/// Removes RFC 5322 comments outside quoted strings.
fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for c in s.chars() {
        if escaped {
            if depth == 0 {
                out.push(c);
            }
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted || depth > 0 => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Splits `; a=b; c="d;e"` into (name as written, value) pairs.
fn raw_params(s: &str) -> Vec<(String, String)> {
    // All delimiters are ASCII, so byte positions are always char boundaries.
    let b = s.as_bytes();
    let ws = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        // Parameters are separated by ';' (the RFC 2231 examples also omit it: accept
        // plain whitespace too).
        while i < b.len() && (b[i] == b';' || ws(b[i])) {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b';' && !ws(b[i]) {
            i += 1;
        }
        let name = &s[start..i];
        while i < b.len() && ws(b[i]) {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' || name.is_empty() {
            // Not a parameter: skip to the next separator.
            while i < b.len() && b[i] != b';' {
                i += 1;
            }
            continue;
        }
        i += 1;
        while i < b.len() && ws(b[i]) {
            i += 1;
        }
        let value = if i < b.len() && b[i] == b'"' {
            i += 1;
            let start = i;
            let mut escaped = false;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    escaped = true;
                    i += 1;
                }
                i += 1;
            }
            let raw = &s[start..i.min(b.len())];
            i += 1;
            if escaped {
                let mut v = String::with_capacity(raw.len());
                let mut chars = raw.chars();
                while let Some(c) = chars.next() {
                    if c == '\\' {
                        if let Some(n) = chars.next() {
                            v.push(n);
                        }
                    } else {
                        v.push(c);
                    }
                }
                v
            } else {
                raw.to_string()
            }
        } else {
            let start = i;
            while i < b.len() && b[i] != b';' && !ws(b[i]) {
                i += 1;
            }
            s[start..i].to_string()
        };
        out.push((name.to_string(), value));
    }
    out
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|&c| hex(c)),
                b.get(i + 2).and_then(|&c| hex(c)),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Reassembles RFC 2231 continuations and decodes charset-tagged and RFC 2047 values.
pub fn parameters(s: &str) -> Vec<Param> {
    struct Piece {
        index: u32,
        extended: bool,
        value: String,
    }
    let raw = raw_params(s);
    if !raw.iter().any(|(n, _)| n.contains('*')) {
        // The common case: no RFC 2231 continuations or charsets.
        return raw
            .into_iter()
            .map(|(name, value)| {
                let value = if value.contains("=?") {
                    decode_2047(&value)
                } else {
                    value
                };
                Param {
                    name: lowercase_name(&name),
                    value,
                }
            })
            .collect();
    }
    let mut order: Vec<String> = Vec::new();
    let mut pieces: Vec<(String, Piece)> = Vec::new();
    for (name, value) in raw {
        let name = name.to_ascii_lowercase();
        let (base, index, extended) = match name.split_once('*') {
            None => (name.clone(), 0, false),
            Some((base, rest)) => {
                if rest.is_empty() {
                    (base.to_string(), 0, true)
                } else {
                    let (num, star) = match rest.strip_suffix('*') {
                        Some(n) => (n, true),
                        None => (rest, false),
                    };
                    match num.parse::<u32>() {
                        Ok(n) => (base.to_string(), n, star),
                        Err(_) => (name.clone(), 0, false),
                    }
                }
            }
        };
        if !order.contains(&base) {
            order.push(base.clone());
        }
        pieces.push((
            base,
            Piece {
                index,
                extended,
                value,
            },
        ));
    }
    let mut out = Vec::new();
    for name in order {
        let mut mine: Vec<&Piece> = pieces
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, p)| p)
            .collect();
        mine.sort_by_key(|p| p.index);
        mine.dedup_by_key(|p| p.index);
        let mut charset: Option<String> = None;
        let mut bytes: Vec<u8> = Vec::new();
        let mut any_extended = false;
        for (n, p) in mine.iter().enumerate() {
            if p.extended {
                any_extended = true;
                let mut v = p.value.as_str();
                if n == 0 {
                    // charset'language'value
                    let mut parts = v.splitn(3, '\'');
                    if let (Some(cs), Some(_lang), Some(rest)) =
                        (parts.next(), parts.next(), parts.next())
                    {
                        charset = (!cs.is_empty()).then(|| cs.to_string());
                        v = rest;
                    }
                }
                bytes.extend_from_slice(&percent_decode(v));
            } else {
                bytes.extend_from_slice(p.value.as_bytes());
            }
        }
        let value = match &charset {
            Some(cs) if any_extended => decode_charset(cs, &bytes)
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned()),
            _ => String::from_utf8_lossy(&bytes).into_owned(),
        };
        let value = if !any_extended && value.contains("=?") {
            decode_2047(&value)
        } else {
            value
        };
        out.push(Param {
            name: lowercase_name(&name),
            value,
        });
    }
    out
}

/// Parameters as IMAP BODYSTRUCTURE reports them (as Dovecot does): names and values as
/// written (case kept), RFC 2231 continuations joined in order under the base name, or
/// under `name*` with the still-encoded value when any piece is charset-encoded.
pub fn raw_parameters(s: &str) -> Vec<(String, String)> {
    let raw = raw_params(s);
    // Join continuations: base*N or base*N* pieces, in index order.
    let mut out: Vec<(String, String)> = Vec::new();
    let mut done: Vec<String> = Vec::new();
    for (name, value) in &raw {
        let Some((base, rest)) = name.split_once('*') else {
            out.push((name.clone(), value.clone()));
            continue;
        };
        let index = rest.trim_end_matches('*');
        if index.is_empty() || index.parse::<u32>().is_err() {
            out.push((name.clone(), value.clone()));
            continue;
        }
        if done.iter().any(|d| d.eq_ignore_ascii_case(base)) {
            continue;
        }
        done.push(base.to_string());
        let mut pieces: Vec<(u32, bool, &str)> = raw
            .iter()
            .filter_map(|(n, v)| {
                let (b2, r2) = n.split_once('*')?;
                if !b2.eq_ignore_ascii_case(base) {
                    return None;
                }
                let ext = r2.ends_with('*');
                let idx = r2.trim_end_matches('*').parse::<u32>().ok()?;
                Some((idx, ext, v.as_str()))
            })
            .collect();
        pieces.sort_by_key(|p| p.0);
        let extended = pieces.iter().any(|p| p.1);
        let joined: String = pieces.iter().map(|p| p.2).collect();
        out.push((
            if extended {
                format!("{base}*")
            } else {
                base.to_string()
            },
            joined,
        ));
    }
    out
}

/// `s` lower-cased, borrowed from a static table when it is a common MIME name (types,
/// subtypes, parameter names), so the usual parts allocate nothing for them.
fn lowercase_name(s: &str) -> Cow<'static, str> {
    let mut buf = [0u8; 16];
    if s.len() > buf.len() {
        return Cow::Owned(s.to_ascii_lowercase());
    }
    for (d, c) in buf.iter_mut().zip(s.bytes()) {
        *d = c.to_ascii_lowercase();
    }
    let known: &'static str = match &buf[..s.len()] {
        b"text" => "text",
        b"plain" => "plain",
        b"html" => "html",
        b"multipart" => "multipart",
        b"mixed" => "mixed",
        b"alternative" => "alternative",
        b"related" => "related",
        b"digest" => "digest",
        b"message" => "message",
        b"rfc822" => "rfc822",
        b"application" => "application",
        b"octet-stream" => "octet-stream",
        b"pdf" => "pdf",
        b"image" => "image",
        b"jpeg" => "jpeg",
        b"png" => "png",
        b"gif" => "gif",
        b"calendar" => "calendar",
        b"signed" => "signed",
        b"report" => "report",
        b"delivery-status" => "delivery-status",
        b"global" => "global",
        b"partial" => "partial",
        b"external-body" => "external-body",
        b"audio" => "audio",
        b"video" => "video",
        b"charset" => "charset",
        b"boundary" => "boundary",
        b"name" => "name",
        b"filename" => "filename",
        b"format" => "format",
        b"delsp" => "delsp",
        b"inline" => "inline",
        b"attachment" => "attachment",
        b"size" => "size",
        _ => return Cow::Owned(s.to_ascii_lowercase()),
    };
    Cow::Borrowed(known)
}

/// A Content-Type whose type could not be read: empty type and subtype and no
/// parameters, as Dovecot reports such a part (it is not taken for text).
fn unreadable_type() -> ContentType {
    ContentType {
        mime_type: Cow::Borrowed(""),
        subtype: Cow::Borrowed(""),
        params: Vec::new(),
    }
}

/// Parses a Content-Type value. A value without a valid `type/subtype` (`text`,
/// `text/`, garbage, nothing) gives an empty type and subtype, as in Dovecot; only a
/// missing field means the RFC 2045 default (which the caller supplies).
pub fn parse_content_type(value: &str) -> ContentType {
    let clean: std::borrow::Cow<'_, str> = if memchr::memchr(b'(', value.as_bytes()).is_some() {
        strip_comments(value).into()
    } else {
        value.into()
    };
    let semi = memchr::memchr(b';', clean.as_bytes()).unwrap_or(clean.len());
    let head = &clean[..semi];
    let Some(slash) = memchr::memchr(b'/', head.as_bytes()) else {
        return unreadable_type();
    };
    let (t, st) = (head[..slash].trim(), head[slash + 1..].trim());
    let valid =
        |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_graphic() && !is_tspecial(c));
    if !valid(t) || !valid(st) {
        return unreadable_type();
    }
    ContentType {
        mime_type: lowercase_name(t),
        subtype: lowercase_name(st),
        params: parameters(&clean[semi..]),
    }
}

/// Parses a Content-Disposition value.
pub fn parse_content_disposition(value: &str) -> ContentDisposition {
    let clean: std::borrow::Cow<'_, str> = if value.contains('(') {
        strip_comments(value).into()
    } else {
        value.into()
    };
    // The parameters start at the first `;` (the kind may have had blanks around it).
    let semi = memchr::memchr(b';', clean.as_bytes()).unwrap_or(clean.len());
    ContentDisposition {
        kind: clean[..semi].trim().to_ascii_lowercase(),
        params: parameters(&clean[semi..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the web_forms fuzz target: blanks before the disposition kind made the
    /// parameters start inside a multi-byte character.
    #[test]
    fn a_disposition_with_leading_blanks_and_non_ascii_is_read() {
        let d =
            parse_content_disposition("\u{b}\u{b} HTTP/na\u{fffd}\u{fffd}m; filename=\"a.txt\"");
        assert_eq!(d.kind, "http/na\u{fffd}\u{fffd}m");
        let d = parse_content_disposition("  attachment ; filename=\"r\u{e9}sum\u{e9}.pdf\"");
        assert_eq!(d.kind, "attachment");
        assert_eq!(d.params.len(), 1);
    }

    #[test]
    fn basic_types() {
        let ct = parse_content_type("Multipart/Mixed; boundary=\"simple boundary\"");
        assert_eq!(
            (ct.mime_type.as_ref(), ct.subtype.as_ref()),
            ("multipart", "mixed")
        );
        assert_eq!(ct.param("BOUNDARY"), Some("simple boundary"));
        let ct = parse_content_type("text/plain (comment); charset = ISO-8859-1 ; format=flowed");
        assert_eq!(ct.param("charset"), Some("ISO-8859-1"));
        assert_eq!(ct.param("format"), Some("flowed"));
        // Unreadable types are neither text nor anything else (as Dovecot reports them).
        for bad in ["garbage", "", "text", "text/; charset=utf-8", "/plain"] {
            let ct = parse_content_type(bad);
            assert_eq!(
                (ct.mime_type.as_ref(), ct.subtype.as_ref()),
                ("", ""),
                "{bad}"
            );
            assert!(ct.params.is_empty());
        }
        let ct = parse_content_type("message/rfc822");
        assert!(ct.is_message() && ct.params.is_empty());
    }

    /// RFC 2231 §3, §4, §4.1 examples.
    #[test]
    fn rfc2231_examples() {
        let ct = parse_content_type(
            "message/external-body; access-type=URL;\r\n URL*0=\"ftp://\";\r\n URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"",
        );
        assert_eq!(
            ct.param("url"),
            Some("ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar")
        );
        let ct = parse_content_type(
            "application/x-stuff;\r\n title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A",
        );
        assert_eq!(ct.param("title"), Some("This is ***fun***"));
        let ct = parse_content_type(
            "application/x-stuff;\r\n title*0*=us-ascii'en'This%20is%20even%20more%20\r\n title*1*=%2A%2A%2Afun%2A%2A%2A%20\r\n title*2=\"isn't it!\"",
        );
        assert_eq!(
            ct.param("title"),
            Some("This is even more ***fun*** isn't it!")
        );
        let cd = parse_content_disposition("attachment; filename*=UTF-8''%E2%82%AC%20rates.pdf");
        assert_eq!(cd.kind, "attachment");
        assert_eq!(cd.param("filename"), Some("€ rates.pdf"));
        let cd = parse_content_disposition("attachment; filename*=iso-8859-1''caf%E9.txt");
        assert_eq!(cd.param("filename"), Some("café.txt"));
    }

    #[test]
    fn lenient_and_2047_values() {
        let cd = parse_content_disposition("inline; filename==?UTF-8?B?w7xiZXIudHh0?=");
        assert_eq!(cd.param("filename"), Some("über.txt"));
        let cd = parse_content_disposition("attachment; filename=\"unterminated");
        assert_eq!(cd.param("filename"), Some("unterminated"));
        let _ = parse_content_type("a/b; ;;; =x; y=; *=3; z*9999999999=1; q*0*=bad'%ZZ");
    }
}
