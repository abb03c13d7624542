//! IMAP ENVELOPE, BODY and BODYSTRUCTURE (RFC 3501 §7.4.2) computed from the message
//! layer, formatted as Dovecot formats them (checked against Dovecot 2.3 in
//! tests/interop/dovecot-structure.sh and the vectors in core/tests/data/*.dovecot).
//!
//! Sizes and line counts are those of the message with CRLF line ends, whatever the
//! stored form, as IMAP requires.

use crate::imap::response::Value;
use crate::imf::address::{parse_address_list, Address, Mailbox};
use crate::imf::header::{split_header_to_blank_line as split_header, Field};
use crate::mime::content_type::raw_parameters;
use crate::mime::multipart::{Part, PartBody};

/// A header value for ENVELOPE: unfolded; sent as a literal when the field was folded
/// (Dovecot decides on the raw value).
fn field_value(field: Option<&Field<'_>>) -> Value {
    let Some(f) = field else {
        return Value::Nil;
    };
    let raw = f.raw_value;
    let unfolded: Vec<u8> = raw
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    let value = unfolded.trim_ascii();
    if raw.contains(&b'\n') {
        Value::Literal(value.to_vec())
    } else {
        Value::string(value)
    }
}

/// An ENVELOPE address: name, route, mailbox and host.
fn mailbox(m: &Mailbox<'_>) -> Value {
    let or =
        |s: &str, missing: &str| Value::string(if s.is_empty() { missing } else { s }.as_bytes());
    Value::List(vec![
        Value::nstring(m.name.as_deref().map(str::as_bytes)),
        Value::nstring(m.route.as_deref().map(str::as_bytes)),
        or(&m.local, "MISSING_MAILBOX"),
        or(&m.domain, "MISSING_DOMAIN"),
    ])
}

/// An address list for ENVELOPE: `(...)` or NIL; groups as RFC 3501 start/end markers.
fn addresses(value: Option<&str>) -> Value {
    let list = parse_address_list(value.unwrap_or(""));
    if list.is_empty() {
        return Value::Nil;
    }
    let mut out = Vec::new();
    for a in &list {
        match a {
            Address::Mailbox(m) => out.push(mailbox(m)),
            Address::Group { name, members } => {
                let start = vec![
                    Value::Nil,
                    Value::Nil,
                    Value::string(name.as_bytes()),
                    Value::Nil,
                ];
                out.push(Value::List(start));
                out.extend(members.iter().map(mailbox));
                out.push(Value::List(vec![Value::Nil; 4]));
            }
        }
    }
    Value::List(vec![Value::Adjacent(out)])
}

/// The ENVELOPE of the message whose header section is `header`.
///
/// As Dovecot: a field given more than once counts by its last occurrence, except the
/// address fields, whose occurrences are joined into one list.
pub fn envelope(header: &[u8]) -> Value {
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
    let mut out = Vec::with_capacity(10);
    out.push(field_value(get("Date")));
    out.push(field_value(get("Subject")));
    let from = all("From");
    for name in ["From", "Sender", "Reply-To", "To", "Cc", "Bcc"] {
        let value = match name {
            "Sender" | "Reply-To" => all(name).or_else(|| from.clone()),
            _ => all(name),
        };
        out.push(addresses(value.as_deref()));
    }
    out.push(field_value(get("In-Reply-To")));
    out.push(field_value(get("Message-ID")));
    Value::List(out)
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

/// A parameter list (`("name" "value" ...)`) or NIL.
fn params(params: &[(String, String)]) -> Value {
    if params.is_empty() {
        return Value::Nil;
    }
    let mut out = Vec::with_capacity(params.len() * 2);
    for (n, v) in params {
        out.push(Value::string(n.as_bytes()));
        out.push(Value::string(v.as_bytes()));
    }
    Value::List(out)
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

/// The extension data of BODYSTRUCTURE: MD5 (single parts), disposition, language and
/// location.
fn extension(out: &mut Vec<Value>, fields: &[Field<'_>], with_md5: bool) {
    let get = |name: &str| fields.iter().find(|f| f.is(name)).map(|f| f.value());
    if with_md5 {
        out.push(Value::nstring(
            get("Content-MD5").as_deref().map(str::as_bytes),
        ));
    }
    out.push(match get("Content-Disposition") {
        Some(v) if !v.trim().is_empty() => {
            let end = v.find(';').unwrap_or(v.len());
            Value::List(vec![
                Value::string(v[..end].trim().as_bytes()),
                params(&raw_parameters(&v[end..])),
            ])
        }
        _ => Value::Nil,
    });
    out.push(match get("Content-Language") {
        Some(v) if !v.trim().is_empty() => Value::List(
            v.split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| Value::string(l.as_bytes()))
                .collect(),
        ),
        _ => Value::Nil,
    });
    out.push(Value::nstring(
        get("Content-Location").as_deref().map(str::as_bytes),
    ));
}

/// BODYSTRUCTURE (`extended`) or BODY of `part` in `message`.
pub fn body_structure(message: &[u8], part: &Part, extended: bool) -> Value {
    let msg = message;
    let (fields, _) = split_header(&msg[part.header.clone()]);
    let (t, st, type_params) = raw_type(part, &fields);
    if let PartBody::Multipart { parts, .. } = &part.content {
        let mut bodies: Vec<Value> = parts
            .iter()
            .map(|p| body_structure(msg, p, extended))
            .collect();
        if parts.is_empty() {
            bodies.push(empty_text_part(extended));
        }
        let mut out = vec![Value::Adjacent(bodies), Value::string(st.as_bytes())];
        if extended {
            out.push(params(&type_params));
            extension(&mut out, &fields, false);
        }
        return Value::List(out);
    }
    let get = |name: &str| fields.iter().find(|f| f.is(name)).map(|f| f.value());
    let enc = get("Content-Transfer-Encoding")
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "7bit".into());
    let (size, lines) = crlf_size_and_lines(&msg[part.body.clone()]);
    let mut out = vec![
        Value::string(t.as_bytes()),
        Value::string(st.as_bytes()),
        params(&type_params),
        Value::nstring(get("Content-ID").as_deref().map(str::as_bytes)),
        Value::nstring(get("Content-Description").as_deref().map(str::as_bytes)),
        Value::string(enc.as_bytes()),
        Value::Number(size as u64),
    ];
    if let PartBody::Message(inner) = &part.content {
        out.push(envelope(&msg[inner.header.clone()]));
        out.push(body_structure(msg, inner, extended));
        out.push(Value::Number(lines as u64));
    } else if t.eq_ignore_ascii_case("text") {
        out.push(Value::Number(lines as u64));
    }
    if extended {
        extension(&mut out, &fields, true);
    }
    Value::List(out)
}

/// What a multipart without parts shows as its one part (as Dovecot).
fn empty_text_part(extended: bool) -> Value {
    let mut out = vec![
        Value::string(b"text"),
        Value::string(b"plain"),
        params(&[("charset".into(), "us-ascii".into())]),
        Value::Nil,
        Value::Nil,
        Value::string(b"7bit"),
        Value::Number(0),
        Value::Number(0),
    ];
    if extended {
        out.extend([Value::Nil, Value::Nil, Value::Nil, Value::Nil]);
    }
    Value::List(out)
}
