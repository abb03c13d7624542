//! Authentication-Results fields (RFC 8601): reading the authserv-id of a field, and
//! removing fields from elsewhere that claim to come from this host (§5), so that users
//! can trust the ones carrying its name.

/// The authserv-id of an Authentication-Results value (§2.2): the first token or quoted
/// string, after any comments, lower-cased.
pub fn authserv_id(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut i = 0;
    let mut depth = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'(' => depth += 1,
            b')' if depth > 0 => depth -= 1,
            b'\\' if depth > 0 => i += 1,
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ if depth > 0 => {}
            _ => break,
        }
        i += 1;
    }
    let rest = value.get(i..)?;
    let id = if let Some(quoted) = rest.strip_prefix('"') {
        quoted.split('"').next().unwrap_or_default()
    } else {
        let end = rest
            .find(|c: char| c == ';' || c == '(' || c.is_ascii_whitespace())
            .unwrap_or(rest.len());
        &rest[..end]
    };
    (!id.is_empty()).then(|| id.to_ascii_lowercase())
}

/// `message` without the Authentication-Results fields of its header whose authserv-id
/// is `ours` (compared without regard to case); `None` when there is none to remove.
pub fn remove_claims(message: &[u8], ours: &str) -> Option<Vec<u8>> {
    let (fields, _) = crate::imf::header::split_header_to_blank_line(message);
    let forged: Vec<_> = fields
        .iter()
        .filter(|f| f.is("Authentication-Results"))
        .filter(|f| authserv_id(&f.value()).is_some_and(|id| id.eq_ignore_ascii_case(ours)))
        .map(|f| f.range.clone())
        .collect();
    if forged.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(message.len());
    let mut at = 0;
    for range in forged {
        out.extend_from_slice(&message[at..range.start]);
        at = range.end;
    }
    out.extend_from_slice(&message[at..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authserv_ids_skip_comments_and_quotes() {
        assert_eq!(
            authserv_id(" mx.example.org; dkim=pass").as_deref(),
            Some("mx.example.org")
        );
        assert_eq!(
            authserv_id("(c (nested)) MX.Example.Org 1; none").as_deref(),
            Some("mx.example.org")
        );
        assert_eq!(
            authserv_id("\"mx.example.org\"; none").as_deref(),
            Some("mx.example.org")
        );
        assert_eq!(
            authserv_id("mx.example.org(comment);none").as_deref(),
            Some("mx.example.org")
        );
        assert_eq!(authserv_id("  "), None);
    }

    #[test]
    fn only_fields_claiming_this_host_are_removed() {
        let message = b"Received: from x\r\n\
Authentication-Results: MX.example.org;\r\n\tdkim=pass header.d=evil.example\r\n\
Authentication-Results: other.example; spf=pass\r\n\
Subject: hi\r\n\
\r\n\
Authentication-Results: mx.example.org; body text stays\r\n";
        let cleaned = remove_claims(message, "mx.example.org").unwrap();
        assert_eq!(
            String::from_utf8(cleaned).unwrap(),
            "Received: from x\r\n\
Authentication-Results: other.example; spf=pass\r\n\
Subject: hi\r\n\
\r\n\
Authentication-Results: mx.example.org; body text stays\r\n"
        );
        assert_eq!(
            remove_claims(b"Subject: x\r\n\r\nbody", "mx.example.org"),
            None
        );
    }
}
