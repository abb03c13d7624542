//! A message as the webmail shows it: a summary line for the message list, and the
//! reading view (decoded header fields, the text to show, the attachments to download),
//! with HTML parts sanitised by ammonia.

use crate::imf::address::{parse_address_list, Address};
use crate::imf::datetime::{parse_date, WallClock};
use crate::imf::header::{split_header, Field};
use crate::mime::content_type::parse_content_disposition;
use crate::mime::encoded_word;
use crate::mime::multipart::{parse_message, Limits, Part, PartBody};
use crate::mime::{part_bytes, part_text};

/// What the message list shows of a message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    /// The sender: display name, else address.
    pub from: String,
    /// The decoded subject.
    pub subject: String,
    /// The Date field, when it parses.
    pub date: Option<WallClock>,
}

/// The summary of a message from its header section.
pub fn summary(header: &[u8]) -> Summary {
    let (fields, _) = split_header(header);
    let value = |name: &str| fields.iter().find(|f| f.is(name)).map(Field::value);
    Summary {
        from: value("from").map(|v| first_sender(&v)).unwrap_or_default(),
        subject: value("subject")
            .map(|v| encoded_word::decode(v.trim()))
            .unwrap_or_default(),
        date: value("date").and_then(|v| parse_date(&v)),
    }
}

/// The display name of the first mailbox of an address list, else its address, else
/// the decoded value.
fn first_sender(value: &str) -> String {
    for a in parse_address_list(value) {
        let mailbox = match a {
            Address::Mailbox(m) => Some(m),
            Address::Group { members, .. } => members.into_iter().next(),
        };
        if let Some(m) = mailbox {
            return m
                .decoded_name()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| m.addr_spec());
        }
    }
    encoded_word::decode(value.trim())
}

/// A part of the body to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// Plain text, to be escaped by the page.
    Text(String),
    /// HTML already sanitised: no scripts, no event handlers, no styles that reach
    /// outside, links opening elsewhere; remote images left out unless allowed.
    Html(String),
    /// An attached message, shown in turn.
    Message(Box<MessageView>),
}

/// A part offered for download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Where it is in the part tree (`1`, `2.1`, ...), as IMAP numbers parts.
    pub id: String,
    /// Its file name (decoded), or a made-up one.
    pub filename: String,
    /// Its media type, lower-cased, e.g. `application/pdf`.
    pub content_type: String,
    /// Its decoded size in bytes.
    pub size: usize,
}

/// A message ready to show.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageView {
    /// From, decoded.
    pub from: String,
    /// To, decoded.
    pub to: String,
    /// Cc, decoded.
    pub cc: String,
    /// Date as written.
    pub date: String,
    /// Subject, decoded.
    pub subject: String,
    /// Message-ID, for replies.
    pub message_id: String,
    /// What to show, in order.
    pub shown: Vec<Shown>,
    /// What to offer for download.
    pub attachments: Vec<Attachment>,
    /// HTML parts had remote images left out.
    pub blocked_images: bool,
}

/// The reading view of `message`; `remote_images` lets HTML parts load images from
/// elsewhere (the user asked).
pub fn view(message: &[u8], remote_images: bool) -> MessageView {
    let root = parse_message(message, Limits::default());
    view_part(message, &root, "", remote_images)
}

/// The view of an entity (the message, or one attached to it at `prefix`).
fn view_part(message: &[u8], root: &Part, prefix: &str, remote_images: bool) -> MessageView {
    let (fields, _) = split_header(&message[root.header.clone()]);
    let value = |name: &str| {
        fields
            .iter()
            .filter(|f| f.is(name))
            .map(|f| encoded_word::decode(f.value().trim()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut v = MessageView {
        from: value("from"),
        to: value("to"),
        cc: value("cc"),
        date: value("date"),
        subject: value("subject"),
        message_id: value("message-id"),
        ..MessageView::default()
    };
    let mut walk = Walk {
        message,
        remote_images,
        view: &mut v,
    };
    if root.content_type.is_multipart() {
        walk.part(root, prefix);
    } else {
        let id = if prefix.is_empty() {
            "1".to_string()
        } else {
            format!("{prefix}.1")
        };
        walk.leaf(root, &id);
    }
    v
}

/// Collects what to show and what to offer from a part tree.
struct Walk<'a> {
    message: &'a [u8],
    remote_images: bool,
    view: &'a mut MessageView,
}

impl Walk<'_> {
    /// Walks a multipart's children (their ids below `id`).
    fn part(&mut self, part: &Part, id: &str) {
        let PartBody::Multipart { parts, .. } = &part.content else {
            self.leaf(part, id);
            return;
        };
        let child_id = |i: usize| {
            if id.is_empty() {
                (i + 1).to_string()
            } else {
                format!("{id}.{}", i + 1)
            }
        };
        if part.content_type.subtype == "alternative" {
            // The richest version the view can show: HTML, else the last text one.
            let pick = parts
                .iter()
                .rposition(|p| is_type(p, "text", "html"))
                .or_else(|| {
                    parts
                        .iter()
                        .rposition(|p| p.content_type.mime_type == "text")
                })
                .or_else(|| parts.len().checked_sub(1));
            if let Some(i) = pick {
                self.child(&parts[i], &child_id(i));
            }
            return;
        }
        for (i, p) in parts.iter().enumerate() {
            self.child(p, &child_id(i));
        }
    }

    fn child(&mut self, p: &Part, id: &str) {
        if p.content_type.is_multipart() {
            self.part(p, id);
        } else {
            self.leaf(p, id);
        }
    }

    /// A leaf (or an attached message): shown inline when it is text that is not an
    /// attachment, else offered for download.
    fn leaf(&mut self, p: &Part, id: &str) {
        let header = &self.message[p.header.clone()];
        let (fields, _) = split_header(header);
        let disposition = fields
            .iter()
            .find(|f| f.is("content-disposition"))
            .map(|f| parse_content_disposition(&f.value()));
        let attached = disposition.as_ref().is_some_and(|d| d.kind == "attachment");
        let name = disposition
            .as_ref()
            .and_then(|d| d.param("filename"))
            .or_else(|| p.content_type.param("name"))
            .map(|n| encoded_word::decode(n.trim()));
        if !attached && name.is_none() {
            if is_type(p, "text", "plain")
                || (p.content_type.mime_type == "text" && !is_type(p, "text", "html"))
            {
                self.view
                    .shown
                    .push(Shown::Text(part_text(self.message, p).into_owned()));
                return;
            }
            if is_type(p, "text", "html") {
                let html = part_text(self.message, p);
                let (clean, blocked) = sanitize_html(&html, self.remote_images);
                self.view.blocked_images |= blocked;
                self.view.shown.push(Shown::Html(clean));
                return;
            }
            if let PartBody::Message(inner) = &p.content {
                let inner_view = view_part(self.message, inner, id, self.remote_images);
                self.view.blocked_images |= inner_view.blocked_images;
                self.view
                    .attachments
                    .extend(inner_view.attachments.iter().cloned());
                self.view.shown.push(Shown::Message(Box::new(inner_view)));
                return;
            }
        }
        let content_type = format!("{}/{}", p.content_type.mime_type, p.content_type.subtype);
        let filename = safe_filename(name.as_deref().unwrap_or(""), &content_type, id);
        self.view.attachments.push(Attachment {
            id: id.to_string(),
            filename,
            content_type,
            size: part_bytes(self.message, p).len(),
        });
    }
}

fn is_type(p: &Part, mime_type: &str, subtype: &str) -> bool {
    p.content_type.mime_type == mime_type && p.content_type.subtype == subtype
}

/// The decoded bytes of the part at `id` (as [`Attachment::id`] names it) with its
/// file name and media type; None when there is no such leaf part.
pub fn attachment(message: &[u8], id: &str) -> Option<(String, String, Vec<u8>)> {
    let root = parse_message(message, Limits::default());
    let mut part = &root;
    for (depth, step) in id.split('.').enumerate() {
        let index = step.parse::<usize>().ok()?.checked_sub(1)?;
        // A single-part entity is its own part 1: the message itself, or one attached.
        let mut single = depth == 0;
        if depth > 0 {
            if let PartBody::Message(inner) = &part.content {
                part = inner;
                single = true;
            }
        }
        part = match &part.content {
            PartBody::Multipart { parts, .. } => parts.get(index)?,
            _ if single && index == 0 => part,
            _ => return None,
        };
    }
    if part.content_type.is_multipart() {
        return None;
    }
    let (fields, _) = split_header(&message[part.header.clone()]);
    let name = fields
        .iter()
        .find(|f| f.is("content-disposition"))
        .and_then(|f| {
            parse_content_disposition(&f.value())
                .param("filename")
                .map(str::to_string)
        })
        .or_else(|| part.content_type.param("name").map(str::to_string))
        .map(|n| encoded_word::decode(n.trim()))
        .unwrap_or_default();
    let content_type = format!(
        "{}/{}",
        part.content_type.mime_type, part.content_type.subtype
    );
    let bytes = if part.content_type.is_message() {
        message[part.body.clone()].to_vec()
    } else {
        part_bytes(message, part).into_owned()
    };
    Some((safe_filename(&name, &content_type, id), content_type, bytes))
}

/// A file name safe to offer: no directories, no control characters, no leading dots,
/// at most 100 characters; a made-up one when nothing is left.
pub fn safe_filename(name: &str, content_type: &str, id: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| {
            if matches!(c, '"' | ':' | '*' | '?' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    let short: String = trimmed.chars().take(100).collect();
    if !short.is_empty() {
        return short;
    }
    let ext = match content_type {
        "message/rfc822" => "eml",
        "text/plain" => "txt",
        "text/html" => "html",
        "application/pdf" => "pdf",
        "image/png" => "png",
        "image/jpeg" => "jpg",
        _ => "bin",
    };
    format!("part-{}.{ext}", id.replace('.', "-"))
}

/// Sanitises mail HTML: only harmless elements and attributes remain (no scripts, no
/// event handlers, no forms, no styles), links get `rel="noopener noreferrer"` and open
/// elsewhere; unless `remote_images`, images from anywhere but `data:` and `cid:` are
/// left out. Returns the HTML and whether any image was left out.
pub fn sanitize_html(html: &str, remote_images: bool) -> (String, bool) {
    let blocked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = blocked.clone();
    let clean = ammonia::Builder::default()
        .url_schemes(
            ["http", "https", "mailto", "data", "cid"]
                .into_iter()
                .collect(),
        )
        .link_rel(Some("noopener noreferrer nofollow"))
        .set_tag_attribute_value("a", "target", "_blank")
        .attribute_filter(move |element, attribute, value| {
            if element == "img" && attribute == "src" {
                let local = value.starts_with("data:image/") || value.starts_with("cid:");
                if !local && !remote_images {
                    seen.store(true, std::sync::atomic::Ordering::Relaxed);
                    return None;
                }
            }
            Some(value.into())
        })
        .clean(html)
        .to_string();
    let blocked = blocked.load(std::sync::atomic::Ordering::Relaxed);
    (clean, blocked)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &str = "From: =?utf-8?q?=C3=89lise?= <elise@b.test>\r\nTo: bob@a.test\r\n\
Subject: =?utf-8?b?Q2Fmw6k=?=\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\
Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n\
--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain version\r\n--b2\r\n\
Content-Type: text/html\r\n\r\n<p onclick=\"x()\">rich <img src=\"http://tracker/x.gif\"><script>alert(1)</script></p>\r\n--b2--\r\n\
--b1\r\nContent-Type: application/pdf; name=\"../../etc/report.pdf\"\r\nContent-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\n\
Subject: inner\r\n\r\ninner body\r\n--b1--\r\n";

    #[test]
    fn summaries_decode_sender_subject_and_date() {
        let s = summary(MIXED.as_bytes());
        assert_eq!(s.from, "Élise");
        assert_eq!(s.subject, "Café");
        assert_eq!(s.date.map(|d| d.unix_secs), Some(1_704_103_200));
        assert_eq!(summary(b"From: <x@y.test>\r\n\r\n").from, "x@y.test");
    }

    #[test]
    fn the_view_shows_html_sanitised_and_offers_attachments() {
        let v = view(MIXED.as_bytes(), false);
        assert_eq!(v.subject, "Café");
        assert_eq!(v.shown.len(), 2);
        let Shown::Html(html) = &v.shown[0] else {
            panic!("html first: {:?}", v.shown);
        };
        assert!(html.contains("rich"));
        assert!(!html.contains("script") && !html.contains("onclick") && !html.contains("tracker"));
        assert!(v.blocked_images);
        let Shown::Message(inner) = &v.shown[1] else {
            panic!("attached message");
        };
        assert_eq!(inner.subject, "inner");
        assert_eq!(v.attachments.len(), 1);
        let a = &v.attachments[0];
        assert_eq!((a.id.as_str(), a.filename.as_str()), ("2", "résumé.pdf"));
        let (name, ty, bytes) = attachment(MIXED.as_bytes(), "2").expect("part 2");
        assert_eq!(
            (name.as_str(), ty.as_str()),
            ("résumé.pdf", "application/pdf")
        );
        assert_eq!(bytes, b"%PDF-1.4\n");
        assert!(attachment(MIXED.as_bytes(), "9").is_none());
        assert!(
            attachment(MIXED.as_bytes(), "1").is_none(),
            "a multipart is no download"
        );
        let allowed = view(MIXED.as_bytes(), true);
        let Shown::Html(html) = &allowed.shown[0] else {
            panic!("html");
        };
        assert!(html.contains("http://tracker/x.gif") && !allowed.blocked_images);
    }

    #[test]
    fn a_single_part_message_is_its_text() {
        let v = view(b"Subject: hi\r\n\r\nhello\r\n", false);
        assert_eq!(v.shown, vec![Shown::Text("hello\r\n".into())]);
        assert!(v.attachments.is_empty());
        let (_, ty, bytes) = attachment(b"Subject: hi\r\n\r\nhello\r\n", "1").expect("part 1");
        assert_eq!(
            (ty.as_str(), bytes.as_slice()),
            ("text/plain", &b"hello\r\n"[..])
        );
    }

    #[test]
    fn file_names_are_made_safe() {
        assert_eq!(
            safe_filename("../../etc/passwd", "text/plain", "2"),
            "passwd"
        );
        assert_eq!(safe_filename("a\r\nb\".txt", "text/plain", "2"), "ab_.txt");
        assert_eq!(
            safe_filename("...", "application/pdf", "1.2"),
            "part-1-2.pdf"
        );
        assert_eq!(safe_filename("C:\\x\\y.doc", "x/y", "1"), "y.doc");
    }
}
