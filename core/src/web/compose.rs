//! Messages written in the webmail: the form's uploads (`multipart/form-data`, read with
//! the core's MIME parser) and the MIME message built from a draft (RFC 5322, RFC 2045-
//! 2047, RFC 2231): UTF-8 subjects and names as encoded words, text as quoted-printable
//! when it is not plain short ASCII, attachments in base64 with their file names.

use crate::imf::address::address_list;
use crate::imf::header::split_header;
use crate::mime::content_type::{parse_content_disposition, parse_content_type};
use crate::mime::encoded_word::{encode, encode_phrase};
use crate::mime::multipart::{parse_message, Limits, PartBody};
use crate::mime::part_bytes;
use crate::mime::transfer::{encode_base64_lines, encode_quoted_printable};
use crate::web::form::encode_component;

/// A file sent with a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The form field it came in.
    pub field: String,
    /// Its file name as the browser gave it.
    pub filename: String,
    /// Its media type as the browser gave it (`application/octet-stream` if none).
    pub content_type: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A `multipart/form-data` body (RFC 7578): the text fields and the files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormData {
    /// Text fields (name, value) in order.
    pub fields: Vec<(String, String)>,
    /// Files, in order; a file input left empty sends none.
    pub files: Vec<Upload>,
}

impl FormData {
    /// Parses a body sent with `content_type` (which carries the boundary); None when it
    /// is not `multipart/form-data` with a boundary.
    pub fn parse(content_type: &str, body: &[u8]) -> Option<FormData> {
        let ct = parse_content_type(content_type);
        if ct.mime_type != "multipart" || ct.subtype != "form-data" {
            return None;
        }
        let boundary = ct.param("boundary").filter(|b| !b.is_empty())?;
        let mut whole = format!(
            "Content-Type: multipart/form-data; boundary=\"{}\"\r\n\r\n",
            boundary.replace(['"', '\\', '\r', '\n'], "")
        )
        .into_bytes();
        whole.extend_from_slice(body);
        let root = parse_message(&whole, Limits::default());
        let PartBody::Multipart { parts, .. } = &root.content else {
            return None;
        };
        let mut out = FormData::default();
        for part in parts {
            let (fields, _) = split_header(&whole[part.header.clone()]);
            let Some(disposition) = fields
                .iter()
                .find(|f| f.is("content-disposition"))
                .map(|f| parse_content_disposition(&f.value()))
            else {
                continue;
            };
            let name = disposition.param("name").unwrap_or("").to_string();
            let bytes = part_bytes(&whole, part).into_owned();
            match disposition.param("filename") {
                Some(filename) if !(filename.is_empty() && bytes.is_empty()) => {
                    let content_type = if part.content_type.mime_type.is_empty() {
                        "application/octet-stream".to_string()
                    } else {
                        format!(
                            "{}/{}",
                            part.content_type.mime_type, part.content_type.subtype
                        )
                    };
                    out.files.push(Upload {
                        field: name,
                        filename: filename.to_string(),
                        content_type,
                        bytes,
                    });
                }
                Some(_) => {}
                None => out
                    .fields
                    .push((name, String::from_utf8_lossy(&bytes).into_owned())),
            }
        }
        Some(out)
    }

    /// The first value of text field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the compose form says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    /// The author (`Name <addr>` or `addr`).
    pub from: String,
    /// Recipients as typed (comma-separated addresses, with or without names).
    pub to: String,
    /// Copies.
    pub cc: String,
    /// Blind copies (never in the message sent; the submission fix-ups remove them).
    pub bcc: String,
    /// The subject.
    pub subject: String,
    /// The text, as typed.
    pub body: String,
    /// The Message-ID answered (a reply), with its angle brackets.
    pub in_reply_to: Option<String>,
    /// The References of a reply.
    pub references: Option<String>,
    /// Files to attach.
    pub attachments: Vec<Upload>,
}

/// An address list as typed, written as a header value: names encoded when needed,
/// addresses as given.
pub fn address_header(typed: &str) -> String {
    address_list(typed)
        .into_iter()
        .map(|a| match a.display_name.filter(|n| !n.trim().is_empty()) {
            Some(name) => format!("{} <{}>", encode_phrase(name.trim()), a.addr),
            None => a.addr,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The message for `draft`, CRLF line ends, without Date and Message-ID (the submission
/// fix-ups add them); `boundary` separates the parts when there are attachments (it must
/// not occur in them: pass a random one).
pub fn build(draft: &Draft, boundary: &str) -> Vec<u8> {
    let mut head = String::new();
    head.push_str(&format!("From: {}\r\n", address_header(&draft.from)));
    for (name, value) in [("To", &draft.to), ("Cc", &draft.cc), ("Bcc", &draft.bcc)] {
        let value = address_header(value);
        if !value.is_empty() {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str(&format!("Subject: {}\r\n", encode(draft.subject.trim())));
    for (name, value) in [
        ("In-Reply-To", &draft.in_reply_to),
        ("References", &draft.references),
    ] {
        if let Some(v) = value.as_deref().map(one_line).filter(|v| !v.is_empty()) {
            head.push_str(&format!("{name}: {v}\r\n"));
        }
    }
    head.push_str("MIME-Version: 1.0\r\n");
    let mut out = head.into_bytes();
    if draft.attachments.is_empty() {
        out.extend_from_slice(&text_part(&draft.body));
        return out;
    }
    out.extend_from_slice(
        format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n").as_bytes(),
    );
    out.extend_from_slice(b"This is a multi-part message in MIME format.\r\n");
    out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    out.extend_from_slice(&text_part(&draft.body));
    for a in &draft.attachments {
        out.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
        out.extend_from_slice(&attachment_part(a));
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// A header value on one line (line breaks and runs of white space become one space).
fn one_line(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text as a `text/plain` entity: 7bit when it is ASCII with short lines, else
/// quoted-printable UTF-8.
fn text_part(body: &str) -> Vec<u8> {
    let crlf = crate::submission::to_crlf(body.as_bytes());
    let plain = crlf.is_ascii()
        && crlf
            .split(|&b| b == b'\n')
            .all(|l| l.len() <= 78 && !l.contains(&0));
    let mut out = Vec::new();
    if plain {
        out.extend_from_slice(b"Content-Type: text/plain; charset=us-ascii\r\n\r\n");
        out.extend_from_slice(&crlf);
    } else {
        out.extend_from_slice(
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
        );
        out.extend_from_slice(&encode_quoted_printable(&crlf));
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// An attachment entity: its type, its file name (RFC 2231 when not ASCII), base64.
fn attachment_part(a: &Upload) -> Vec<u8> {
    let name: String = a
        .filename
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let ct = parse_content_type(&a.content_type);
    let media = if ct.mime_type.is_empty() || ct.subtype.is_empty() {
        "application/octet-stream".to_string()
    } else {
        format!("{}/{}", ct.mime_type, ct.subtype)
    };
    let param = if name.is_ascii() && !name.contains(['"', '\\']) {
        format!("filename=\"{name}\"")
    } else {
        format!("filename*=utf-8''{}", encode_component(&name))
    };
    let mut out = format!(
        "Content-Type: {media}\r\nContent-Disposition: attachment; {param}\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(&encode_base64_lines(&a.bytes));
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::message::{attachment, view};

    #[test]
    fn form_data_gives_fields_and_files() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\nbob@a.test\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"r\xc3\xa9sum\xc3\xa9.pdf\"\r\n\
Content-Type: application/pdf\r\n\r\n%PDF\r\n\x00\xff\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"attachments\"; filename=\"\"\r\nContent-Type: application/octet-stream\r\n\r\n\r\n\
--XyZ--\r\n";
        let f = FormData::parse("multipart/form-data; boundary=XyZ", body).expect("form data");
        assert_eq!(f.get("to"), Some("bob@a.test"));
        assert_eq!(f.files.len(), 1, "an empty file input sends nothing");
        assert_eq!(f.files[0].bytes, b"%PDF\r\n\x00\xff");
        assert_eq!(f.files[0].content_type, "application/pdf");
        assert!(FormData::parse("application/x-www-form-urlencoded", body).is_none());
    }

    #[test]
    fn a_built_message_reads_back_as_written() {
        let draft = Draft {
            from: "Alice <alice@a.test>".into(),
            to: "Élise <elise@b.test>, bob@a.test".into(),
            cc: String::new(),
            bcc: "secret@c.test".into(),
            subject: "Café à la carte".into(),
            body: "Bonjour,\nvoici le menu — à bientôt.\n".into(),
            in_reply_to: Some("<m1@b.test>".into()),
            references: Some("<m0@b.test>\r\n <m1@b.test>".into()),
            attachments: vec![Upload {
                field: "attachments".into(),
                filename: "C:\\Users\\a\\menü.bin".into(),
                content_type: "application/octet-stream".into(),
                bytes: (0..=255u8).cycle().take(5000).collect(),
            }],
        };
        let msg = build(&draft, "b0undary-x");
        assert!(msg.is_ascii(), "encoded for 7-bit transport");
        let text = String::from_utf8_lossy(&msg);
        assert!(text.contains("References: <m0@b.test> <m1@b.test>\r\n"));
        assert!(
            text.contains("Bcc: secret@c.test\r\n"),
            "left for the fix-ups to take out"
        );
        let v = view(&msg, false);
        assert_eq!(v.subject, "Café à la carte");
        assert_eq!(v.to, "Élise <elise@b.test>, bob@a.test");
        assert_eq!(v.attachments.len(), 1);
        assert_eq!(v.attachments[0].filename, "menü.bin");
        let (_, _, bytes) = attachment(&msg, &v.attachments[0].id).expect("attachment");
        assert_eq!(bytes, draft.attachments[0].bytes);
        let crate::web::message::Shown::Text(body) = &v.shown[0] else {
            panic!("text first");
        };
        assert_eq!(body, "Bonjour,\r\nvoici le menu — à bientôt.\r\n");
        let plain = build(
            &Draft {
                from: "a@a.test".into(),
                to: "b@a.test".into(),
                subject: "hi".into(),
                body: "short\nlines".into(),
                ..Draft::default()
            },
            "x",
        );
        assert!(
            String::from_utf8_lossy(&plain).ends_with("charset=us-ascii\r\n\r\nshort\r\nlines\r\n")
        );
    }
}
