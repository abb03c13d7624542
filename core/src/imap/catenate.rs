//! CATENATE (RFC 4469): the IMAP URLs an APPEND names for parts of messages already in
//! the account (RFC 5092 relative form, `/mailbox[;UIDVALIDITY=v]/;UID=u[/;SECTION=s]
//! [/;PARTIAL=o[.l]]`), and the octets such a URL stands for.

use crate::imap::command::parse_section;
pub use crate::imap::command::CatenatePart;
use crate::imap::section::{section_bytes, Section};
use crate::mime::multipart::{parse_message, Limits};

/// A parsed IMAP URL naming a message or a part of it in this account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapUrl {
    /// The mailbox, as the store names it (percent-decoding undone).
    pub mailbox: String,
    /// `;UIDVALIDITY=`: the URL holds only while the mailbox has this one.
    pub uid_validity: Option<u32>,
    /// `;UID=`.
    pub uid: u32,
    /// `;SECTION=` (None: the whole message).
    pub section: Option<Section>,
    /// `;PARTIAL=offset[.length]`.
    pub partial: Option<(u64, Option<u64>)>,
}

/// Undoes `%XX` escapes; None for a bad escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `;NAME=value` with NAME compared without regard to case.
fn param<'a>(piece: &'a str, name: &str) -> Option<&'a str> {
    let rest = piece.strip_prefix(';')?;
    let (key, value) = rest.split_once('=')?;
    key.eq_ignore_ascii_case(name).then_some(value)
}

/// Parses a relative IMAP URL (`/mailbox...`); None for anything else (absolute URLs
/// with a server part, which could name another account, included).
pub fn parse_url(url: &str) -> Option<ImapUrl> {
    let rest = url.strip_prefix('/')?;
    let mut pieces = rest.split('/');
    let first = pieces.next()?;
    let (mailbox, validity) = match first.split_once(';') {
        Some((m, v)) => (m, Some(param(&format!(";{v}"), "UIDVALIDITY")?.to_string())),
        None => (first, None),
    };
    let mailbox = percent_decode(mailbox)?;
    if mailbox.is_empty() {
        return None;
    }
    let uid_validity = match validity {
        Some(v) => Some(v.parse::<u32>().ok().filter(|&n| n > 0)?),
        None => None,
    };
    let uid: u32 = param(pieces.next()?, "UID")?
        .parse()
        .ok()
        .filter(|&n| n > 0)?;
    let mut url = ImapUrl {
        mailbox: if mailbox.eq_ignore_ascii_case("INBOX") {
            "INBOX".into()
        } else {
            mailbox
        },
        uid_validity,
        uid,
        section: None,
        partial: None,
    };
    for piece in pieces {
        if let Some(s) = param(piece, "SECTION") {
            if url.section.is_some() || url.partial.is_some() {
                return None;
            }
            url.section = Some(parse_section(&percent_decode(s)?)?);
        } else if let Some(p) = param(piece, "PARTIAL") {
            if url.partial.is_some() {
                return None;
            }
            let (offset, length) = match p.split_once('.') {
                Some((o, l)) => (o.parse().ok()?, Some(l.parse().ok()?)),
                None => (p.parse().ok()?, None),
            };
            url.partial = Some((offset, length));
        } else {
            return None;
        }
    }
    Some(url)
}

/// The octets `url` stands for in `message` (CRLF line ends, as the store serves it);
/// None when the section does not exist.
pub fn url_content(url: &ImapUrl, message: &[u8]) -> Option<Vec<u8>> {
    let mut bytes = match &url.section {
        None => message.to_vec(),
        Some(section) => {
            let tree = parse_message(message, Limits::default());
            section_bytes(message, &tree, section)?
        }
    };
    if let Some((offset, length)) = url.partial {
        let start = (offset.min(bytes.len() as u64)) as usize;
        let end = match length {
            Some(l) => start.saturating_add(l.min(usize::MAX as u64) as usize),
            None => bytes.len(),
        }
        .min(bytes.len());
        bytes = bytes[start..end].to_vec();
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::section::SectionText;

    #[test]
    fn relative_urls_parse_and_others_do_not() {
        let u = parse_url("/INBOX;UIDVALIDITY=385759045/;UID=20/;SECTION=1.2.MIME").unwrap();
        assert_eq!(u.mailbox, "INBOX");
        assert_eq!(u.uid_validity, Some(385_759_045));
        assert_eq!(u.uid, 20);
        assert_eq!(u.section.as_ref().map(|s| s.part.clone()), Some(vec![1, 2]));
        let u = parse_url("/Caf%26AOk-%20x/;uid=3/;section=header/;partial=5.10").unwrap();
        assert_eq!(u.mailbox, "Caf&AOk- x");
        assert_eq!(u.section.map(|s| s.text), Some(SectionText::Header));
        assert_eq!(u.partial, Some((5, Some(10))));
        for bad in [
            "imap://bob@host/INBOX/;UID=1",
            "INBOX/;UID=1",
            "/INBOX",
            "/INBOX/;UID=0",
            "/INBOX;UIDVALIDITY=x/;UID=1",
            "/INBOX/;UID=1/;SECTION=BOGUS",
            "/INBOX/;UID=1/;FOO=1",
            "/%zz/;UID=1",
        ] {
            assert_eq!(parse_url(bad), None, "{bad}");
        }
    }

    #[test]
    fn content_is_the_section_then_the_partial() {
        let msg = b"From: a@b\r\nSubject: s\r\n\r\nbody text\r\n";
        let url = |s: &str| parse_url(s).unwrap();
        assert_eq!(url_content(&url("/INBOX/;UID=1"), msg).unwrap(), msg);
        assert_eq!(
            url_content(&url("/INBOX/;UID=1/;SECTION=HEADER"), msg).unwrap(),
            b"From: a@b\r\nSubject: s\r\n\r\n"
        );
        assert_eq!(
            url_content(&url("/INBOX/;UID=1/;SECTION=TEXT/;PARTIAL=5.4"), msg).unwrap(),
            b"text"
        );
        assert_eq!(
            url_content(&url("/INBOX/;UID=1/;PARTIAL=100000.1"), msg).unwrap(),
            b""
        );
        assert_eq!(url_content(&url("/INBOX/;UID=1/;SECTION=2"), msg), None);
    }
}
