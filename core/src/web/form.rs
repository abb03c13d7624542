//! HTML form data (`application/x-www-form-urlencoded`, as the URL Standard defines it)
//! and query strings: decoding into name/value pairs, and percent-encoding values for
//! links.

/// Decoded name/value pairs of a form body or query string, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    /// The pairs.
    pub pairs: Vec<(String, String)>,
}

impl Form {
    /// Parses `name=value&...` (`+` is a space, `%XX` a byte; invalid UTF-8 is replaced).
    pub fn parse(input: &[u8]) -> Form {
        let pairs = input
            .split(|&b| b == b'&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (name, value) = match p.iter().position(|&b| b == b'=') {
                    Some(i) => (&p[..i], &p[i + 1..]),
                    None => (p, &b""[..]),
                };
                (decode_component(name), decode_component(value))
            })
            .collect();
        Form { pairs }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes one form component: `+` to space, `%XX` to its byte (a `%` not followed by
/// two hex digits stays as it is).
pub fn decode_component(input: &[u8]) -> String {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                input.get(i + 1).and_then(hex),
                input.get(i + 2).and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).map(|d| d as u8)
}

/// Percent-encodes `value` for a query string or path segment: everything but
/// unreserved characters (RFC 3986 §2.3) is encoded.
pub fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn forms_decode_as_browsers_send_them() {
        let f =
            Form::parse(b"to=a%40b.test&subject=Caf%C3%A9+au+lait&empty=&flag&to=c%40d&bad=%zz%4");
        assert_eq!(f.get("subject"), Some("Café au lait"));
        assert_eq!(f.all("to").collect::<Vec<_>>(), ["a@b.test", "c@d"]);
        assert_eq!(f.get("empty"), Some(""));
        assert_eq!(f.get("flag"), Some(""));
        assert_eq!(f.get("bad"), Some("%zz%4"));
        assert_eq!(f.get("missing"), None);
    }

    proptest! {
        #[test]
        fn encoded_values_decode_to_themselves(name in "\\PC{0,20}", value in "\\PC{0,40}") {
            let body = format!("{}={}", encode_component(&name), encode_component(&value));
            let f = Form::parse(body.as_bytes());
            prop_assert_eq!(f.get(&name), Some(value.as_str()));
        }
    }
}
