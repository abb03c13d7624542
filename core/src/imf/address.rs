//! Lenient extraction of addr-specs from RFC 5322 §3.4 address lists (To, Cc, Bcc, ...).
//!
//! Display names, quoted strings, comments and groups are understood; broken input never
//! fails, it yields whatever addresses can be recognised.

/// One address found in an address list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressSpec {
    /// The display name, if one was given (quotes removed).
    pub display_name: Option<String>,
    /// The `local@domain` (or bare `local`) address.
    pub addr: String,
}

/// Splits the top level of an address list at commas that are outside quotes, comments
/// and angle brackets, and removes group syntax (`name: a, b;`).
fn split_top_level(value: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut escaped = false;
    let mut comment = 0usize;
    let mut angle = false;
    for c in value.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quote || comment > 0 => {
                cur.push(c);
                escaped = true;
            }
            '"' if comment == 0 => {
                in_quote = !in_quote;
                cur.push(c);
            }
            '(' if !in_quote => {
                comment += 1;
                cur.push(c);
            }
            ')' if !in_quote && comment > 0 => {
                comment -= 1;
                cur.push(c);
            }
            '<' if !in_quote && comment == 0 => {
                angle = true;
                cur.push(c);
            }
            '>' if !in_quote && comment == 0 => {
                angle = false;
                cur.push(c);
            }
            ':' if !in_quote && comment == 0 && !angle => {
                // A group name ends here; what came before is not an address.
                cur.clear();
            }
            ',' | ';' if !in_quote && comment == 0 && !angle => {
                items.push(std::mem::take(&mut cur));
            }
            _ => cur.push(c),
        }
    }
    items.push(cur);
    items
}

/// Removes comments `( ... )` (nested) outside quoted strings.
fn strip_comments(s: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    let mut in_quote = false;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            if depth == 0 {
                out.push(c);
            }
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quote || depth > 0 => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                in_quote = !in_quote;
                out.push(c);
            }
            '(' if !in_quote => depth += 1,
            ')' if !in_quote && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        let mut out = String::new();
        let mut escaped = false;
        for c in s[1..s.len() - 1].chars() {
            if escaped || c != '\\' {
                out.push(c);
                escaped = false;
            } else {
                escaped = true;
            }
        }
        out
    } else {
        s.to_string()
    }
}

/// Every address in an address-list field value, in order.
pub fn address_list(value: &str) -> Vec<AddressSpec> {
    let mut out = Vec::new();
    for item in split_top_level(value) {
        let item = strip_comments(&item);
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        if let (Some(open), Some(close)) = (item.rfind('<'), item.rfind('>')) {
            if open < close {
                let addr = item[open + 1..close].trim();
                // Drop an obsolete source route `@a,@b:`.
                let addr = addr.rsplit_once(':').map(|(_, a)| a).unwrap_or(addr).trim();
                if addr.is_empty() {
                    continue;
                }
                let name = unquote(&item[..open]);
                out.push(AddressSpec {
                    display_name: (!name.is_empty()).then_some(name),
                    addr: addr.to_string(),
                });
                continue;
            }
        }
        let addr: String = item.split_whitespace().collect::<Vec<_>>().join("");
        if !addr.is_empty() && !addr.contains('<') && !addr.contains('>') {
            out.push(AddressSpec {
                display_name: None,
                addr,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(v: &str) -> Vec<String> {
        address_list(v).into_iter().map(|a| a.addr).collect()
    }

    #[test]
    fn common_forms() {
        assert_eq!(addrs("a@b.c"), ["a@b.c"]);
        assert_eq!(
            addrs("\"Doe, John\" <john@x.org>, jane@y.org (Jane)"),
            ["john@x.org", "jane@y.org"]
        );
        assert_eq!(addrs("team: a@x, b@y;, c@z"), ["a@x", "b@y", "c@z"]);
        assert_eq!(addrs("undisclosed-recipients:;"), Vec::<String>::new());
        assert_eq!(addrs("<@r1,@r2:u@d>"), ["u@d"]);
        assert_eq!(addrs("bob"), ["bob"]);
        assert_eq!(
            address_list("Ann <a@b>")[0].display_name.as_deref(),
            Some("Ann")
        );
    }

    #[test]
    fn garbage_does_not_panic() {
        for v in ["<<<", ">a<", "\"unterminated", "((", "a,,b", ":;:", "\\"] {
            let _ = address_list(v);
        }
    }
}
