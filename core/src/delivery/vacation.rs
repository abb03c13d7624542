//! Vacation auto-replies (vacation(1), RFC 3834): who must never get one, the reply
//! itself, and the once-per-interval memory. Shared by `postrider vacation` and Sieve's
//! vacation extension.

use crate::imf::address::address_list;
use crate::imf::datetime::WallClock;
use crate::imf::header::split_header_to_blank_line;

/// Why no reply is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoReply {
    /// The envelope sender is `<>` (RFC 3834 §2).
    NullSender,
    /// The sender is a system or list address (MAILER-DAEMON, postmaster, owner-*,
    /// *-request, ...).
    SystemSender(String),
    /// `Precedence: bulk/list/junk`.
    Precedence(String),
    /// A `List-*` field: mail from a mailing list (RFC 2369, RFC 2919).
    ListMail(String),
    /// `Auto-Submitted` other than `no` (RFC 3834 §5).
    AutoSubmitted(String),
    /// None of the user's addresses is in To or Cc (the user got a copy by Bcc or a list).
    NotAddressed,
    /// This sender already got a reply within the interval.
    AlreadyReplied,
}

/// Checks whether a message may be answered (RFC 3834 §2, vacation(1) rules).
/// `sender` is the envelope sender; `user_addresses` the addresses of the absent user.
pub fn check(header: &[u8], sender: &str, user_addresses: &[String]) -> Result<(), NoReply> {
    let sender = sender.trim().trim_start_matches('<').trim_end_matches('>');
    if sender.is_empty() {
        return Err(NoReply::NullSender);
    }
    let local = sender
        .rsplit_once('@')
        .map_or(sender, |(l, _)| l)
        .to_ascii_lowercase();
    if matches!(
        local.as_str(),
        "mailer-daemon" | "postmaster" | "listserv" | "majordomo" | "mailer" | "nobody"
    ) || local.starts_with("owner-")
        || local.ends_with("-request")
        || local.ends_with("-owner")
        || local.starts_with("bounce")
    {
        return Err(NoReply::SystemSender(sender.to_string()));
    }
    let (fields, _) = split_header_to_blank_line(header);
    let mut addressed = false;
    for f in &fields {
        let value = f.value();
        let name = String::from_utf8_lossy(f.name).to_ascii_lowercase();
        if name == "precedence" {
            let v = value.trim().to_ascii_lowercase();
            if matches!(v.as_str(), "bulk" | "list" | "junk") {
                return Err(NoReply::Precedence(v));
            }
        } else if name.starts_with("list-") {
            return Err(NoReply::ListMail(
                String::from_utf8_lossy(f.name).into_owned(),
            ));
        } else if name == "auto-submitted" {
            let v = value
                .split([';', '('])
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if v != "no" {
                return Err(NoReply::AutoSubmitted(v));
            }
        } else if name == "to" || name == "cc" {
            addressed |= address_list(&value).iter().any(|a| {
                user_addresses
                    .iter()
                    .any(|u| u.eq_ignore_ascii_case(&a.addr))
            });
        }
    }
    if !addressed {
        return Err(NoReply::NotAddressed);
    }
    Ok(())
}

/// What the reply needs besides the original header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyParams<'a> {
    /// The absent user's address (From of the reply).
    pub from: &'a str,
    /// Who gets the reply (the original envelope sender).
    pub to: &'a str,
    /// Now.
    pub now: WallClock,
    /// A unique string for the Message-ID.
    pub unique: &'a str,
    /// This host's name, for the Message-ID.
    pub hostname: &'a str,
    /// The user's message (`.vacation.msg`): optional header fields (e.g. Subject), an
    /// empty line, then the text. `$SUBJECT` is replaced with the original subject.
    pub template: &'a [u8],
}

/// Fields of the reply that the template may not set.
const OWN_FIELDS: [&str; 8] = [
    "from",
    "to",
    "date",
    "message-id",
    "auto-submitted",
    "in-reply-to",
    "references",
    "precedence",
];

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `text` starts with a header field line (`Name: value`).
fn starts_with_field(text: &str) -> bool {
    let first = text.lines().next().unwrap_or("");
    match first.split_once(':') {
        Some((name, _)) => {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        }
        None => false,
    }
}

/// Builds the auto-reply (CRLF line ends), to be queued with the null sender.
pub fn build_reply(p: &ReplyParams<'_>, original_header: &[u8]) -> Vec<u8> {
    let (fields, _) = split_header_to_blank_line(original_header);
    let get = |name: &str| {
        fields
            .iter()
            .find(|f| f.is(name))
            .map(|f| one_line(&f.value()))
    };
    let subject = get("Subject").unwrap_or_default();
    let message_id = get("Message-ID");
    let references = get("References");
    let template = String::from_utf8_lossy(p.template).replace("$SUBJECT", &subject);
    let template = template.replace("\r\n", "\n");
    let (t_header, t_body) = if starts_with_field(&template) {
        match template.split_once("\n\n") {
            Some((h, b)) => (h.to_string(), b.to_string()),
            None => (template.clone(), String::new()),
        }
    } else if let Some(body) = template.strip_prefix('\n') {
        // An empty header section: the text starts after it.
        (String::new(), body.to_string())
    } else {
        (String::new(), template.clone())
    };
    let mut out = String::new();
    out.push_str(&format!("From: {}\r\n", one_line(p.from)));
    out.push_str(&format!("To: {}\r\n", one_line(p.to)));
    out.push_str(&format!("Date: {}\r\n", p.now.rfc5322()));
    out.push_str(&format!("Message-ID: <{}@{}>\r\n", p.unique, p.hostname));
    out.push_str("Auto-Submitted: auto-replied\r\n");
    out.push_str("Precedence: bulk\r\n");
    if let Some(id) = &message_id {
        out.push_str(&format!("In-Reply-To: {id}\r\n"));
        match &references {
            Some(r) => out.push_str(&format!("References: {r} {id}\r\n")),
            None => out.push_str(&format!("References: {id}\r\n")),
        }
    }
    let mut has_subject = false;
    let mut has_mime = false;
    for line in t_header.lines() {
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if line.starts_with([' ', '\t']) || !OWN_FIELDS.contains(&name.as_str()) {
            has_subject |= name == "subject";
            has_mime |= name == "mime-version" || name == "content-type";
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    if !has_subject {
        out.push_str(&format!("Subject: Auto: {subject}\r\n"));
    }
    if !has_mime && !t_body.is_ascii() {
        out.push_str("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n");
    }
    out.push_str("\r\n");
    for line in t_body.lines() {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.into_bytes()
}

/// The reply memory (`~/.vacation.db`): `sender TAB unix-time` lines.
pub fn parse_state(text: &str) -> Vec<(String, i64)> {
    text.lines()
        .filter_map(|l| {
            let (s, t) = l.split_once('\t')?;
            Some((s.to_ascii_lowercase(), t.trim().parse().ok()?))
        })
        .collect()
}

/// Records a reply to `sender` at `now` and forgets entries older than `interval`
/// seconds; returns `Err(AlreadyReplied)` (state unchanged) when `sender` got one within
/// the interval.
pub fn remember(
    state: &mut Vec<(String, i64)>,
    sender: &str,
    now: i64,
    interval: i64,
) -> Result<(), NoReply> {
    let sender = sender.to_ascii_lowercase();
    if state
        .iter()
        .any(|(s, t)| *s == sender && now - *t < interval)
    {
        return Err(NoReply::AlreadyReplied);
    }
    state.retain(|(s, t)| *s != sender && now - *t < interval);
    state.push((sender, now));
    Ok(())
}

/// The state as text.
pub fn format_state(state: &[(String, i64)]) -> String {
    state.iter().map(|(s, t)| format!("{s}\t{t}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Vec<String> {
        vec!["carol@a.test".into()]
    }

    #[test]
    fn rules() {
        let h = b"From: x@b.test\r\nTo: Carol <carol@a.test>\r\nSubject: hi\r\n\r\n";
        assert_eq!(check(h, "x@b.test", &me()), Ok(()));
        assert_eq!(check(h, "", &me()), Err(NoReply::NullSender));
        for s in [
            "MAILER-DAEMON@b.test",
            "owner-list@b.test",
            "list-request@b.test",
            "postmaster@b.test",
        ] {
            assert!(
                matches!(check(h, s, &me()), Err(NoReply::SystemSender(_))),
                "{s}"
            );
        }
        let bulk = b"To: carol@a.test\r\nPrecedence: Bulk\r\n\r\n";
        assert_eq!(
            check(bulk, "x@b.test", &me()),
            Err(NoReply::Precedence("bulk".into()))
        );
        let list = b"To: carol@a.test\r\nList-Id: <l.b.test>\r\n\r\n";
        assert!(matches!(
            check(list, "x@b.test", &me()),
            Err(NoReply::ListMail(_))
        ));
        let auto = b"To: carol@a.test\r\nAuto-Submitted: auto-replied\r\n\r\n";
        assert!(matches!(
            check(auto, "x@b.test", &me()),
            Err(NoReply::AutoSubmitted(_))
        ));
        let no = b"To: carol@a.test\r\nAuto-Submitted: no\r\n\r\n";
        assert_eq!(check(no, "x@b.test", &me()), Ok(()));
        let bcc = b"To: someone@else.test\r\n\r\n";
        assert_eq!(check(bcc, "x@b.test", &me()), Err(NoReply::NotAddressed));
    }

    #[test]
    fn reply_fields() {
        let orig = b"Subject: lunch?\r\nMessage-ID: <m1@b.test>\r\nReferences: <m0@b.test>\r\n\r\n";
        let r = build_reply(
            &ReplyParams {
                from: "carol@a.test",
                to: "x@b.test",
                now: WallClock::utc(0),
                unique: "U",
                hostname: "mx.a.test",
                template: b"Subject: away: $SUBJECT\nFrom: evil@x\n\nBack on Monday.\n",
            },
            orig,
        );
        let r = String::from_utf8(r).unwrap();
        assert!(r.contains("From: carol@a.test\r\n"), "{r}");
        assert!(!r.contains("evil@x"));
        assert!(r.contains("Auto-Submitted: auto-replied\r\n"));
        assert!(r.contains("In-Reply-To: <m1@b.test>\r\nReferences: <m0@b.test> <m1@b.test>\r\n"));
        assert!(r.contains("Subject: away: lunch?\r\n"));
        assert!(r.ends_with("\r\n\r\nBack on Monday.\r\n"));
        let plain = build_reply(
            &ReplyParams {
                from: "carol@a.test",
                to: "x@b.test",
                now: WallClock::utc(0),
                unique: "U",
                hostname: "h",
                template: "Je suis absente.\n".as_bytes(),
            },
            orig,
        );
        let plain = String::from_utf8(plain).unwrap();
        assert!(plain.contains("Subject: Auto: lunch?\r\n"));
    }

    #[test]
    fn memory() {
        let mut st = parse_state("a@b.test\t100\nold@b.test\t1\n");
        assert_eq!(
            remember(&mut st, "A@b.test", 150, 100),
            Err(NoReply::AlreadyReplied)
        );
        assert_eq!(remember(&mut st, "c@b.test", 150, 100), Ok(()));
        assert_eq!(format_state(&st), "a@b.test\t100\nc@b.test\t150\n");
        assert_eq!(remember(&mut st, "a@b.test", 300, 100), Ok(()));
    }
}
