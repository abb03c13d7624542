//! Message-ID lists (RFC 5322 §3.6.4: Message-ID, In-Reply-To, References), leniently.

/// The ids in a msg-id list field, without angle brackets, in order. Comments and text
/// between ids (as old software writes in In-Reply-To) are skipped; a value without any
/// `<...>` yields its first word when it looks like `left@right`.
pub fn parse_msg_ids(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    let mut depth = 0usize;
    let mut cur: Option<String> = None;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        match (c, cur.as_mut()) {
            ('(', None) => depth += 1,
            (')', None) if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            ('<', None) => cur = Some(String::new()),
            ('<', Some(s)) => s.clear(),
            ('>', Some(_)) => {
                let id = cur.take().unwrap_or_default();
                let id: String = id.chars().filter(|c| !c.is_whitespace()).collect();
                if !id.is_empty() {
                    out.push(id);
                }
            }
            (c, Some(s)) => s.push(c),
            _ => {}
        }
    }
    if out.is_empty() {
        if let Some(word) = value.split_whitespace().next() {
            if word.contains('@') && !word.contains(['<', '>', '(', ')']) {
                out.push(word.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(
            parse_msg_ids("<1234@local.machine.example>"),
            ["1234@local.machine.example"]
        );
        assert_eq!(
            parse_msg_ids("<1234@local.machine.example> <3456@example.net>"),
            ["1234@local.machine.example", "3456@example.net"]
        );
        assert_eq!(
            parse_msg_ids("Your message of <a@b> (comment <x@y>)"),
            ["a@b"]
        );
        assert_eq!(parse_msg_ids("bare@id.example"), ["bare@id.example"]);
        assert_eq!(parse_msg_ids("<unterminated@x"), Vec::<String>::new());
        assert_eq!(parse_msg_ids("<a@b\r\n c>"), ["a@bc"]);
    }
}
