//! Message fix-ups for locally submitted mail (the `sendmail` command; RFC 6409 §8):
//! line ends made CRLF, missing `From`, `Date` and `Message-ID` added, `Bcc` removed,
//! unqualified addresses in From/Sender/Reply-To/To/Cc completed with the host name, and
//! the recipients of `To`/`Cc`/`Bcc` collected for `sendmail -t`. Every field that needs
//! no change is kept byte for byte.

use crate::imf::address::{address_list, parse_address_list, Address, Mailbox};
use crate::imf::datetime::WallClock;
use crate::imf::header::split_header;
use crate::imf::header::Field;
use crate::mime::encoded_word::encode_phrase;

/// What the fix-ups need to know; the runtime supplies clock and randomness.
#[derive(Debug, Clone)]
pub struct FixupParams<'a> {
    /// This host's name, for Message-ID and unqualified addresses.
    pub hostname: &'a str,
    /// The envelope sender, used for a missing From.
    pub sender: &'a str,
    /// The full name for a missing From (`sendmail -F`).
    pub full_name: Option<&'a str>,
    /// Now, for a missing Date.
    pub now: WallClock,
    /// A unique string for a missing Message-ID (e.g. the queue id plus random bits).
    pub unique: &'a str,
}

/// The fixed-up message and the recipients found in its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixed {
    /// The message with CRLF line ends and the added fields.
    pub message: Vec<u8>,
    /// Addresses from To, Cc and Bcc in order, duplicates removed (for `-t`).
    pub header_recipients: Vec<String>,
}

/// Normalises line ends to CRLF: bare LF and bare CR become CRLF.
pub fn to_crlf(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + input.len() / 32);
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if input.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Qualifies a bare local name with `hostname`.
pub fn qualify(addr: &str, hostname: &str) -> String {
    if addr.contains('@') || addr.is_empty() {
        addr.to_string()
    } else {
        format!("{addr}@{hostname}")
    }
}

/// Address fields whose unqualified addresses are completed (RFC 6409 §8.3).
const ADDRESS_FIELDS: [&str; 5] = ["From", "Sender", "Reply-To", "To", "Cc"];

fn render_mailbox(m: &Mailbox<'_>, hostname: &str) -> String {
    let addr = qualify(&m.addr_spec(), hostname);
    match m.decoded_name() {
        Some(n) if !n.is_empty() => format!("{} <{addr}>", encode_phrase(&n)),
        _ => addr,
    }
}

/// The field rewritten with every address qualified, or None when it needs no change
/// (then it is kept byte for byte).
fn qualified_field(f: &Field<'_>, hostname: &str) -> Option<String> {
    if !ADDRESS_FIELDS.iter().any(|n| f.is(n)) {
        return None;
    }
    let value = f.value_cow();
    let list = parse_address_list(&value);
    let unqualified = |m: &Mailbox<'_>| !m.local.is_empty() && m.domain.is_empty();
    let needs = list.iter().any(|a| match a {
        Address::Mailbox(m) => unqualified(m),
        Address::Group { members, .. } => members.iter().any(unqualified),
    });
    if !needs {
        return None;
    }
    let rendered: Vec<String> = list
        .iter()
        .filter_map(|a| match a {
            Address::Mailbox(m) if m.local.is_empty() && m.domain.is_empty() => None,
            Address::Mailbox(m) => Some(render_mailbox(m, hostname)),
            Address::Group { name, members } => Some(format!(
                "{}: {};",
                encode_phrase(name),
                members
                    .iter()
                    .map(|m| render_mailbox(m, hostname))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        })
        .collect();
    Some(format!(
        "{}: {}\r\n",
        String::from_utf8_lossy(f.name),
        rendered.join(",\r\n ")
    ))
}

/// Applies the fix-ups to `raw` (any line ends).
pub fn fixup(raw: &[u8], p: &FixupParams<'_>) -> Fixed {
    let msg = to_crlf(raw);
    let (fields, body_start) = split_header(&msg);
    let mut recipients: Vec<String> = Vec::new();
    let has = |name: &str| fields.iter().any(|f| f.is(name));
    let (has_from, has_date, has_mid) = (has("From"), has("Date"), has("Message-ID"));
    for f in fields
        .iter()
        .filter(|f| f.is("To") || f.is("Cc") || f.is("Bcc"))
    {
        for a in address_list(&f.value()) {
            let a = qualify(&a.addr, p.hostname);
            if !recipients.iter().any(|r| r.eq_ignore_ascii_case(&a)) {
                recipients.push(a);
            }
        }
    }
    let mut out = Vec::with_capacity(msg.len() + 200);
    if !has_from {
        let sender = qualify(p.sender, p.hostname);
        match p.full_name {
            Some(n) if !n.is_empty() => {
                let n: String = n
                    .chars()
                    .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
                    .collect();
                out.extend_from_slice(format!("From: \"{n}\" <{sender}>\r\n").as_bytes());
            }
            _ => out.extend_from_slice(format!("From: {sender}\r\n").as_bytes()),
        }
    }
    if !has_date {
        out.extend_from_slice(format!("Date: {}\r\n", p.now.rfc5322()).as_bytes());
    }
    if !has_mid {
        out.extend_from_slice(format!("Message-ID: <{}@{}>\r\n", p.unique, p.hostname).as_bytes());
    }
    let header_end = fields.last().map(|f| f.range.end).unwrap_or(0);
    for f in &fields {
        if f.is("Bcc") {
            continue;
        }
        match qualified_field(f, p.hostname) {
            Some(rewritten) => out.extend_from_slice(rewritten.as_bytes()),
            None => out.extend_from_slice(&msg[f.range.clone()]),
        }
    }
    // Whatever lies between the last field and the body (the empty line) and the body.
    if body_start > header_end || header_end < msg.len() {
        out.extend_from_slice(&msg[header_end..]);
    } else {
        out.extend_from_slice(b"\r\n");
    }
    if fields.is_empty() && body_start == 0 && !msg.starts_with(b"\r\n") {
        // No header at all: separate the added fields from the body.
        let added = out.len() - msg.len();
        out.splice(added..added, b"\r\n".iter().copied());
    }
    Fixed {
        message: out,
        header_recipients: recipients,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> FixupParams<'static> {
        FixupParams {
            hostname: "h.test",
            sender: "alice",
            full_name: Some("Alice A"),
            now: WallClock::utc(0),
            unique: "U1",
        }
    }

    #[test]
    fn adds_missing_fields_and_removes_bcc() {
        let f = fixup(
            b"To: bob, Carol <carol@x.test>\nBcc: dave@y.test\nSubject: hi\n\nbody\n",
            &params(),
        );
        let m = String::from_utf8(f.message).unwrap();
        assert_eq!(
            m,
            "From: \"Alice A\" <alice@h.test>\r\nDate: Thu, 1 Jan 1970 00:00:00 +0000\r\nMessage-ID: <U1@h.test>\r\nTo: bob@h.test,\r\n Carol <carol@x.test>\r\nSubject: hi\r\n\r\nbody\r\n"
        );
        assert_eq!(
            f.header_recipients,
            ["bob@h.test", "carol@x.test", "dave@y.test"]
        );
    }

    #[test]
    fn qualifies_unqualified_addresses_only() {
        let raw = b"From: \"Doe, J\" <jd>\r\nTo: ok@x.test (kept as is)\r\nCc: team: a, b@y.test;\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <a@b>\r\n\r\nhi\r\n";
        let m = String::from_utf8(fixup(raw, &params()).message).unwrap();
        assert_eq!(
            m,
            "From: \"Doe, J\" <jd@h.test>\r\nTo: ok@x.test (kept as is)\r\nCc: team: a@h.test, b@y.test;\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <a@b>\r\n\r\nhi\r\n"
        );
    }

    #[test]
    fn keeps_existing_fields() {
        let raw =
            b"From: x@y\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <a@b>\r\n\r\nhi\r\n";
        assert_eq!(fixup(raw, &params()).message, raw.to_vec());
    }

    #[test]
    fn body_only_message() {
        let f = fixup(b"just text\n", &params());
        let m = String::from_utf8(f.message).unwrap();
        assert!(m.ends_with("\r\n\r\njust text\r\n"), "{m:?}");
        assert!(m.starts_with("From: "));
    }
}
