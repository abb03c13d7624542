//! IMAP ENVELOPE, BODY and BODYSTRUCTURE (RFC 3501 §7.4.2) computed from the message
//! layer, formatted as Dovecot formats them (checked against Dovecot 2.3 in
//! tests/interop/dovecot-structure.sh and the vectors in core/tests/data/*.dovecot).
//!
//! Sizes and line counts are those of the message with CRLF line ends, whatever the
//! stored form, as IMAP requires.

use crate::imf::address::{parse_address_list, Address, Mailbox};
use crate::imf::header::{split_header_to_blank_line as split_header, Field};
use crate::mime::content_type::raw_parameters;
use crate::mime::multipart::{Part, PartBody};

/// Appends an IMAP string: quoted when it is plain ASCII without `"`, `\`, CR or LF,
/// otherwise a literal (RFC 3501 §4.3), as Dovecot chooses.
pub fn push_string(out: &mut Vec<u8>, s: &[u8]) {
    let literal = s
        .iter()
        .any(|&b| b >= 0x80 || b == b'"' || b == b'\\' || b == b'\r' || b == b'\n' || b == 0);
    if literal {
        out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
        out.extend_from_slice(s);
    } else {
        out.push(b'"');
        out.extend_from_slice(s);
        out.push(b'"');
    }
}

/// Appends an nstring: NIL or a string.
pub fn push_nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => push_string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// A header value for ENVELOPE: unfolded; sent as a literal when the field was folded
/// (Dovecot decides on the raw value).
fn push_field_value(out: &mut Vec<u8>, field: Option<&Field<'_>>) {
    let Some(f) = field else {
        out.extend_from_slice(b"NIL");
        return;
    };
    let raw = f.raw_value;
    let unfolded: Vec<u8> = raw
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    let value = unfolded.trim_ascii();
    if raw.contains(&b'\n') {
        out.extend_from_slice(format!("{{{}}}\r\n", value.len()).as_bytes());
        out.extend_from_slice(value);
    } else {
        push_string(out, value);
    }
}

fn push_mailbox(out: &mut Vec<u8>, m: &Mailbox<'_>) {
    out.push(b'(');
    push_nstring(out, m.name.as_deref().map(str::as_bytes));
    out.push(b' ');
    push_nstring(out, m.route.as_deref().map(str::as_bytes));
    out.push(b' ');
    let local = if m.local.is_empty() {
        "MISSING_MAILBOX"
    } else {
        &m.local
    };
    push_string(out, local.as_bytes());
    out.push(b' ');
    let host = if m.domain.is_empty() {
        "MISSING_DOMAIN"
    } else {
        &m.domain
    };
    push_string(out, host.as_bytes());
    out.push(b')');
}

/// An address list for ENVELOPE: `(...)` or NIL; groups as RFC 3501 start/end markers.
fn push_addresses(out: &mut Vec<u8>, value: Option<&str>) {
    let list = parse_address_list(value.unwrap_or(""));
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in &list {
        match a {
            Address::Mailbox(m) => push_mailbox(out, m),
            Address::Group { name, members } => {
                out.extend_from_slice(b"(NIL NIL ");
                push_string(out, name.as_bytes());
                out.extend_from_slice(b" NIL)");
                for m in members {
                    push_mailbox(out, m);
                }
                out.extend_from_slice(b"(NIL NIL NIL NIL)");
            }
        }
    }
    out.push(b')');
}

/// The ENVELOPE of the message whose header section is `header` (with parentheses).
///
/// As Dovecot: a field given more than once counts by its last occurrence, except the
/// address fields, whose occurrences are joined into one list.
pub fn envelope(header: &[u8]) -> Vec<u8> {
    let (fields, _) = split_header(header);
    let get = |name: &str| fields.iter().rfind(|f| f.is(name) && !f.value().is_empty());
    let all = |name: &str| -> Option<String> {
        let values: Vec<String> = fields
            .iter()
            .filter(|f| f.is(name))
            .map(|f| f.value_cow().into_owned())
            .filter(|v| !v.trim().is_empty())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    };
    let mut out = Vec::with_capacity(256);
    out.push(b'(');
    push_field_value(&mut out, get("Date"));
    out.push(b' ');
    push_field_value(&mut out, get("Subject"));
    let from = all("From");
    for name in ["From", "Sender", "Reply-To", "To", "Cc", "Bcc"] {
        out.push(b' ');
        let value = match name {
            "Sender" | "Reply-To" => all(name).or_else(|| from.clone()),
            _ => all(name),
        };
        push_addresses(&mut out, value.as_deref());
    }
    out.push(b' ');
    push_field_value(&mut out, get("In-Reply-To"));
    out.push(b' ');
    push_field_value(&mut out, get("Message-ID"));
    out.push(b')');
    out
}

/// Octets and lines of `body` as if its line ends were CRLF.
fn crlf_size_and_lines(body: &[u8]) -> (usize, usize) {
    let mut lines = 0;
    let mut bare = 0;
    for p in memchr::memchr_iter(b'\n', body) {
        lines += 1;
        if p == 0 || body[p - 1] != b'\r' {
            bare += 1;
        }
    }
    (body.len() + bare, lines)
}

fn push_params(out: &mut Vec<u8>, params: &[(String, String)]) {
    if params.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (n, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        push_string(out, n.as_bytes());
        out.push(b' ');
        push_string(out, v.as_bytes());
    }
    out.push(b')');
}

/// The type, subtype and parameters as written in the part's Content-Type, or the
/// defaults for its position.
fn raw_type(part: &Part, fields: &[Field<'_>]) -> (String, String, Vec<(String, String)>) {
    let ct = fields
        .iter()
        .find(|f| f.is("Content-Type"))
        .map(|f| f.value());
    let parsed = ct.as_deref().and_then(|v| {
        let head_end = v.find(';').unwrap_or(v.len());
        let (t, st) = v[..head_end].split_once('/')?;
        let (t, st) = (t.trim(), st.trim());
        if t.is_empty() || st.is_empty() || !t.eq_ignore_ascii_case(&part.content_type.mime_type) {
            return None;
        }
        Some((
            t.to_string(),
            st.to_string(),
            raw_parameters(&v[head_end..]),
        ))
    });
    let (t, st, mut params) = parsed.unwrap_or_else(|| {
        let c = &part.content_type;
        let params = if c.mime_type == "text" {
            vec![("charset".to_string(), "us-ascii".to_string())]
        } else {
            Vec::new()
        };
        (c.mime_type.to_string(), c.subtype.to_string(), params)
    });
    if t.eq_ignore_ascii_case("text")
        && !params
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("charset"))
    {
        params.push(("charset".into(), "us-ascii".into()));
    }
    (t, st, params)
}

fn push_extension(out: &mut Vec<u8>, fields: &[Field<'_>], with_md5: bool) {
    let get = |name: &str| fields.iter().find(|f| f.is(name)).map(|f| f.value());
    if with_md5 {
        out.push(b' ');
        push_nstring(out, get("Content-MD5").as_deref().map(str::as_bytes));
    }
    out.push(b' ');
    match get("Content-Disposition") {
        Some(v) if !v.trim().is_empty() => {
            let end = v.find(';').unwrap_or(v.len());
            out.push(b'(');
            push_string(out, v[..end].trim().as_bytes());
            out.push(b' ');
            push_params(out, &raw_parameters(&v[end..]));
            out.push(b')');
        }
        _ => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    match get("Content-Language") {
        Some(v) if !v.trim().is_empty() => {
            out.push(b'(');
            for (i, lang) in v
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .enumerate()
            {
                if i > 0 {
                    out.push(b' ');
                }
                push_string(out, lang.as_bytes());
            }
            out.push(b')');
        }
        _ => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    push_nstring(out, get("Content-Location").as_deref().map(str::as_bytes));
}

/// BODYSTRUCTURE (`extended`) or BODY of `part` in `message`, with parentheses.
pub fn body_structure(message: &[u8], part: &Part, extended: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_part(&mut out, message, part, extended);
    out
}

fn write_part(out: &mut Vec<u8>, msg: &[u8], part: &Part, extended: bool) {
    let (fields, _) = split_header(&msg[part.header.clone()]);
    let (t, st, params) = raw_type(part, &fields);
    out.push(b'(');
    if let PartBody::Multipart { parts, .. } = &part.content {
        if parts.is_empty() {
            out.extend_from_slice(
                b"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0",
            );
            if extended {
                out.extend_from_slice(b" NIL NIL NIL NIL");
            }
            out.push(b')');
        }
        for p in parts {
            write_part(out, msg, p, extended);
        }
        out.push(b' ');
        push_string(out, st.as_bytes());
        if extended {
            out.push(b' ');
            push_params(out, &params);
            push_extension(out, &fields, false);
        }
        out.push(b')');
        return;
    }
    let get = |name: &str| fields.iter().find(|f| f.is(name)).map(|f| f.value());
    push_string(out, t.as_bytes());
    out.push(b' ');
    push_string(out, st.as_bytes());
    out.push(b' ');
    push_params(out, &params);
    out.push(b' ');
    push_nstring(out, get("Content-ID").as_deref().map(str::as_bytes));
    out.push(b' ');
    push_nstring(
        out,
        get("Content-Description").as_deref().map(str::as_bytes),
    );
    out.push(b' ');
    let enc = get("Content-Transfer-Encoding")
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "7bit".into());
    push_string(out, enc.as_bytes());
    let (size, lines) = crlf_size_and_lines(&msg[part.body.clone()]);
    out.extend_from_slice(format!(" {size}").as_bytes());
    if let PartBody::Message(inner) = &part.content {
        out.push(b' ');
        out.extend_from_slice(&envelope(&msg[inner.header.clone()]));
        out.push(b' ');
        write_part(out, msg, inner, extended);
        out.extend_from_slice(format!(" {lines}").as_bytes());
    } else if t.eq_ignore_ascii_case("text") {
        out.extend_from_slice(format!(" {lines}").as_bytes());
    }
    if extended {
        push_extension(out, &fields, true);
    }
    out.push(b')');
}
