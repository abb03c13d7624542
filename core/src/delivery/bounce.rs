//! Delivery status notifications (RFC 3464, RFC 3462 multipart/report): the bounce sent
//! to the envelope sender for the recipients of a message that failed.

use crate::imf::datetime::WallClock;
use crate::smtp::dsn::decode_xtext;
use crate::smtp::EnhancedCode;

/// What happened to one reported recipient (RFC 3464 §2.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Delivery failed for good.
    Failed,
    /// Delivery is delayed (a warning).
    Delayed,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
        }
    }
}

/// One recipient in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedRecipient {
    /// The recipient address as this host tried it.
    pub address: String,
    /// The ORCPT value given by the client (`rfc822;xtext`), if any.
    pub orcpt: Option<String>,
    /// What happened.
    pub action: Action,
    /// The status code (RFC 3463).
    pub status: EnhancedCode,
    /// The remote server that answered, if any.
    pub remote_mta: Option<String>,
    /// The remote server's reply (`550 5.1.1 ...`), if any.
    pub smtp_reply: Option<String>,
    /// The reason in plain words.
    pub reason: String,
}

/// Everything a bounce needs besides the original message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceParams<'a> {
    /// This host's name (Reporting-MTA, From domain).
    pub hostname: &'a str,
    /// The original envelope sender: the bounce goes to it.
    pub sender: &'a str,
    /// The original message's queue id.
    pub queue_id: &'a str,
    /// When the original arrived.
    pub arrival: WallClock,
    /// Now.
    pub now: WallClock,
    /// DSN ENVID of the original (xtext), if any.
    pub envid: Option<&'a str>,
    /// Return only the header of the original (RET=HDRS).
    pub headers_only: bool,
    /// A unique string for the boundary and Message-ID (from the runtime).
    pub unique: &'a str,
    /// The recipients reported.
    pub recipients: &'a [ReportedRecipient],
}

/// Keeps a value on one line.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The header of `message`: everything up to and including the empty line.
fn header_of(message: &[u8]) -> &[u8] {
    if message.starts_with(b"\r\n") {
        return &message[..2];
    }
    match memchr::memmem::find(message, b"\r\n\r\n") {
        Some(i) => &message[..i + 4],
        None => message,
    }
}

/// Builds the whole bounce message (CRLF line ends), to be queued with the null sender.
pub fn bounce_message(p: &BounceParams<'_>, original: &[u8]) -> Vec<u8> {
    let boundary = format!("{}/{}", p.unique, p.hostname);
    let delayed = p.recipients.iter().all(|r| r.action == Action::Delayed);
    let subject = if delayed {
        "Delayed Mail (still being retried)"
    } else {
        "Undelivered Mail Returned to Sender"
    };
    let mut m = String::new();
    m.push_str(&format!(
        "From: MAILER-DAEMON@{h} (Mail Delivery System)\r\n\
         To: {to}\r\n\
         Subject: {subject}\r\n\
         Date: {date}\r\n\
         Message-ID: <{u}.bounce@{h}>\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\
         \tboundary=\"{boundary}\"\r\n\
         \r\n\
         This is a MIME-encapsulated message.\r\n\
         \r\n",
        h = p.hostname,
        to = one_line(p.sender),
        date = p.now.rfc5322(),
        u = p.unique,
    ));
    m.push_str(&format!(
        "--{boundary}\r\n\
         Content-Description: Notification\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         This is the mail system at host {h}.\r\n\
         \r\n",
        h = p.hostname
    ));
    if delayed {
        m.push_str(
            "Your message could not be delivered yet to the recipients below.\r\n\
             The mail system will keep trying; you need not send it again.\r\n",
        );
    } else {
        m.push_str(
            "I'm sorry to have to inform you that your message could not\r\n\
             be delivered to one or more recipients. It's attached below.\r\n\
             \r\n\
             For further assistance, please send mail to postmaster.\r\n",
        );
    }
    m.push_str("\r\n                   The mail system\r\n\r\n");
    for r in p.recipients {
        m.push_str(&format!(
            "<{}>: {}\r\n",
            one_line(&r.address),
            one_line(&r.reason)
        ));
    }
    m.push_str(&format!(
        "\r\n--{boundary}\r\n\
         Content-Description: Delivery report\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; {h}\r\n\
         X-Postrider-Queue-ID: {id}\r\n",
        h = p.hostname,
        id = p.queue_id
    ));
    if let Some(envid) = p.envid.and_then(decode_xtext) {
        m.push_str(&format!("Original-Envelope-Id: {}\r\n", one_line(&envid)));
    }
    m.push_str(&format!("Arrival-Date: {}\r\n", p.arrival.rfc5322()));
    for r in p.recipients {
        m.push_str("\r\n");
        m.push_str(&format!(
            "Final-Recipient: rfc822; {}\r\n",
            one_line(&r.address)
        ));
        if let Some((kind, x)) = r.orcpt.as_deref().and_then(|o| o.split_once(';')) {
            if let Some(orig) = decode_xtext(x) {
                m.push_str(&format!(
                    "Original-Recipient: {}; {}\r\n",
                    one_line(kind),
                    one_line(&orig)
                ));
            }
        }
        m.push_str(&format!("Action: {}\r\n", r.action.as_str()));
        m.push_str(&format!("Status: {}\r\n", r.status));
        if let Some(mta) = &r.remote_mta {
            m.push_str(&format!("Remote-MTA: dns; {}\r\n", one_line(mta)));
        }
        match &r.smtp_reply {
            Some(reply) => m.push_str(&format!("Diagnostic-Code: smtp; {}\r\n", one_line(reply))),
            None => m.push_str(&format!(
                "Diagnostic-Code: X-Postrider; {}\r\n",
                one_line(&r.reason)
            )),
        }
    }
    let mut out = m.into_bytes();
    if p.headers_only {
        out.extend_from_slice(
            format!(
                "\r\n--{boundary}\r\n\
                 Content-Description: Undelivered Message Headers\r\n\
                 Content-Type: text/rfc822-headers\r\n\
                 \r\n"
            )
            .as_bytes(),
        );
        out.extend_from_slice(header_of(original));
    } else {
        out.extend_from_slice(
            format!(
                "\r\n--{boundary}\r\n\
                 Content-Description: Undelivered Message\r\n\
                 Content-Type: message/rfc822\r\n\
                 \r\n"
            )
            .as_bytes(),
        );
        out.extend_from_slice(original);
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::multipart::{parse_message, Limits};

    fn params(recipients: &[ReportedRecipient], headers_only: bool) -> BounceParams<'_> {
        BounceParams {
            hostname: "mx.a.test",
            sender: "alice@a.test",
            queue_id: "ABC",
            arrival: WallClock::utc(0),
            now: WallClock::utc(60),
            envid: Some("QQ+2B1"),
            headers_only,
            unique: "U1",
            recipients,
        }
    }

    #[test]
    fn report_has_three_parts_and_fields() {
        let rcpts = [ReportedRecipient {
            address: "bob@b.test".into(),
            orcpt: Some("rfc822;Bob+40b.test".into()),
            action: Action::Failed,
            status: EnhancedCode::new(5, 1, 1),
            remote_mta: Some("mx.b.test".into()),
            smtp_reply: Some("550 5.1.1 no such user".into()),
            reason: "host mx.b.test said: 550 5.1.1 no such user".into(),
        }];
        let original = b"Subject: hi\r\nFrom: alice@a.test\r\n\r\nbody\r\n";
        let b = bounce_message(&params(&rcpts, false), original);
        let text = String::from_utf8(b.clone()).unwrap();
        for want in [
            "To: alice@a.test\r\n",
            "Auto-Submitted: auto-replied\r\n",
            "Reporting-MTA: dns; mx.a.test\r\n",
            "Original-Envelope-Id: QQ+1\r\n",
            "Final-Recipient: rfc822; bob@b.test\r\n",
            "Original-Recipient: rfc822; Bob@b.test\r\n",
            "Action: failed\r\nStatus: 5.1.1\r\n",
            "Remote-MTA: dns; mx.b.test\r\n",
            "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n",
            "Content-Type: message/rfc822\r\n\r\nSubject: hi\r\n",
        ] {
            assert!(text.contains(want), "{want:?} not in\n{text}");
        }
        let tree = parse_message(&b, Limits::default());
        let crate::mime::multipart::PartBody::Multipart { parts, closed, .. } = &tree.content
        else {
            panic!("not multipart")
        };
        assert!(closed);
        assert_eq!(parts.len(), 3);
        let h = bounce_message(&params(&rcpts, true), original);
        let h = String::from_utf8(h).unwrap();
        assert!(h.contains(
            "text/rfc822-headers\r\n\r\nSubject: hi\r\nFrom: alice@a.test\r\n\r\n\r\n--"
        ));
        assert!(!h.contains("body\r\n"));
    }
}
