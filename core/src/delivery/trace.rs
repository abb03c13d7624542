//! Trace and delivery header fields: `Received` (RFC 5321 §4.4), `Return-Path`,
//! `Delivered-To` and `X-Original-To` as Postfix local(8) writes them.

use crate::imf::datetime::WallClock;
use core::net::IpAddr;

/// How a message arrived, for the `with` clause of Received (RFC 3848).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HELO session.
    Smtp,
    /// EHLO session.
    Esmtp,
    /// EHLO over TLS.
    Esmtps,
    /// EHLO with AUTH.
    Esmtpa,
    /// EHLO over TLS with AUTH.
    Esmtpsa,
    /// The local `sendmail` command.
    Local,
    /// The webmail, over HTTPS.
    Https,
    /// LMTP (RFC 2033), from the MTA in front.
    Lmtp,
    /// LMTP over TLS.
    Lmtps,
}

impl Protocol {
    /// The protocol keyword, e.g. `ESMTPS`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Smtp => "SMTP",
            Protocol::Esmtp => "ESMTP",
            Protocol::Esmtps => "ESMTPS",
            Protocol::Esmtpa => "ESMTPA",
            Protocol::Esmtpsa => "ESMTPSA",
            Protocol::Local => "local",
            Protocol::Https => "HTTPS",
            Protocol::Lmtp => "LMTP",
            Protocol::Lmtps => "LMTPS",
        }
    }

    /// The keyword for a session with these properties.
    pub fn for_session(extended: bool, tls: bool, authenticated: bool) -> Self {
        match (extended, tls, authenticated) {
            (false, _, _) => Protocol::Smtp,
            (true, false, false) => Protocol::Esmtp,
            (true, true, false) => Protocol::Esmtps,
            (true, false, true) => Protocol::Esmtpa,
            (true, true, true) => Protocol::Esmtpsa,
        }
    }
}

/// What a Received field says about one hop.
#[derive(Debug, Clone)]
pub struct ReceivedInfo<'a> {
    /// The name the client gave in HELO/EHLO (None for local submission).
    pub helo: Option<&'a str>,
    /// The client's address (None for local submission).
    pub client_ip: Option<IpAddr>,
    /// The SASL identity the client authenticated as, if any.
    pub authenticated: Option<&'a str>,
    /// This host's name.
    pub by_host: &'a str,
    /// How it arrived.
    pub protocol: Protocol,
    /// A comment after the `by` host: TLS version and cipher, or the submitting uid.
    pub comment: Option<&'a str>,
    /// The queue id.
    pub id: &'a str,
    /// The recipient, named only when the message has exactly one (privacy, as Postfix).
    pub for_rcpt: Option<&'a str>,
    /// When it arrived.
    pub when: WallClock,
}

/// Formats a Received field, folded, ending in CRLF:
/// `Received: from HELO ([IP]) by HOST with PROTO id ID for <RCPT>; DATE`.
pub fn received(info: &ReceivedInfo<'_>) -> String {
    let mut s = String::from("Received: ");
    match (info.helo, info.client_ip) {
        (Some(h), Some(ip)) => {
            let ip = match ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("IPv6:{v6}"),
            };
            s.push_str(&format!("from {} ([{}])\r\n\t", sanitize(h), ip));
        }
        (None, Some(ip)) => s.push_str(&format!("from [{ip}]\r\n\t")),
        _ => {}
    }
    if let Some(user) = info.authenticated {
        s.push_str(&format!("(Authenticated sender: {})\r\n\t", sanitize(user)));
    }
    s.push_str(&format!("by {}", info.by_host));
    if let Some(t) = info.comment {
        s.push_str(&format!(" ({})", sanitize(t)));
    }
    s.push_str(&format!(" with {} id {}", info.protocol.as_str(), info.id));
    if let Some(r) = info.for_rcpt {
        s.push_str(&format!("\r\n\tfor <{}>", sanitize(r)));
    }
    s.push_str(&format!("; {}\r\n", info.when.rfc5322()));
    s
}

/// Keeps header text on one line and free of characters that would break the field.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || c == '(' || c == ')' {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// The fields local delivery prepends: `Return-Path`, `Delivered-To`, and
/// `X-Original-To` when the original recipient differs from the final one. CRLF ends.
pub fn delivery_fields(sender: &str, delivered_to: &str, original_to: Option<&str>) -> String {
    let mut s = format!("Return-Path: <{}>\r\n", sanitize(sender));
    if let Some(o) = original_to {
        if !o.eq_ignore_ascii_case(delivered_to) {
            s.push_str(&format!("X-Original-To: {}\r\n", sanitize(o)));
        }
    }
    s.push_str(&format!("Delivered-To: {}\r\n", sanitize(delivered_to)));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_has_rfc5321_shape() {
        let r = received(&ReceivedInfo {
            helo: Some("client.example"),
            client_ip: Some("127.0.0.1".parse().unwrap()),
            authenticated: None,
            by_host: "mx.a.test",
            protocol: Protocol::Esmtps,
            comment: None,
            id: "ABC123",
            for_rcpt: Some("bob@a.test"),
            when: WallClock::utc(0),
        });
        assert_eq!(
            r,
            "Received: from client.example ([127.0.0.1])\r\n\tby mx.a.test with ESMTPS id ABC123\r\n\tfor <bob@a.test>; Thu, 1 Jan 1970 00:00:00 +0000\r\n"
        );
    }

    #[test]
    fn delivery_fields_order() {
        assert_eq!(
            delivery_fields("a@b", "bob@x", Some("alias@x")),
            "Return-Path: <a@b>\r\nX-Original-To: alias@x\r\nDelivered-To: bob@x\r\n"
        );
        assert_eq!(
            delivery_fields("", "bob@x", Some("BOB@x")),
            "Return-Path: <>\r\nDelivered-To: bob@x\r\n"
        );
    }
}
