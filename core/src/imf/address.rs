//! RFC 5322 §3.4 address lists (From, To, Cc, Bcc, Reply-To, ...), parsed leniently.
//!
//! Display names, quoted strings, comments, groups (`name: a, b;`), obsolete routes
//! (`<@r1,@r2:user@dom>`), and broken forms (a missing `>`, a bare local part, stray
//! characters) are all handled without errors or panics: whatever addresses can be
//! recognised are returned. A comment serves as the display name when there is no
//! phrase (`user@dom (Real Name)`), as Dovecot does.

use std::borrow::Cow;

use crate::mime::encoded_word::decode as decode_2047;

/// One mailbox. Its parts borrow from the parsed text whenever they appear there as is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mailbox<'a> {
    /// The display name as written (quoted strings unquoted, words joined by one space,
    /// RFC 2047 words left encoded: IMAP ENVELOPE returns it so).
    pub name: Option<Cow<'a, str>>,
    /// An obsolete source route such as `@r1,@r2`, if any.
    pub route: Option<Cow<'a, str>>,
    /// The local part (quoted-string content unquoted).
    pub local: Cow<'a, str>,
    /// The domain, empty when missing.
    pub domain: Cow<'a, str>,
}

impl Mailbox<'_> {
    /// `local@domain`, or the local part alone when there is no domain.
    pub fn addr_spec(&self) -> String {
        if self.domain.is_empty() {
            self.local.to_string()
        } else {
            format!("{}@{}", self.local, self.domain)
        }
    }

    /// The display name with RFC 2047 encoded words decoded.
    pub fn decoded_name(&self) -> Option<String> {
        self.name.as_deref().map(decode_2047)
    }
}

/// An entry of an address list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address<'a> {
    /// A single mailbox.
    Mailbox(Mailbox<'a>),
    /// A named group of mailboxes (possibly empty, e.g. `undisclosed-recipients:;`).
    Group {
        /// The group's display name.
        name: Cow<'a, str>,
        /// Its members.
        members: Vec<Mailbox<'a>>,
    },
}

/// Byte offset of `piece` (a slice of `src`) within `src`.
fn offset(src: &str, piece: &str) -> usize {
    piece.as_ptr() as usize - src.as_ptr() as usize
}

/// The source text covered by tokens that are all slices of `src` (atoms, literals,
/// specials), if they are exactly adjacent with `gap(next)` between them.
fn contiguous<'a, 'b>(
    src: &'a str,
    mut ts: impl Iterator<Item = &'b Tok<'a>>,
    gap: impl Fn(&str) -> &'static str,
) -> Option<&'a str>
where
    'a: 'b,
{
    let slice_of = |t: &Tok<'a>| -> Option<&'a str> {
        match t {
            Tok::Atom(a) | Tok::Literal(a) | Tok::Special(a) => Some(a),
            _ => None,
        }
    };
    let first = slice_of(ts.next()?)?;
    let start = offset(src, first);
    let mut end = start + first.len();
    for t in ts {
        let piece = slice_of(t)?;
        let at = offset(src, piece);
        if src.get(end..at) != Some(gap(piece)) {
            return None;
        }
        end = at + piece.len();
    }
    Some(&src[start..end])
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok<'a> {
    Atom(&'a str),
    Quoted(Cow<'a, str>),
    Comment(Cow<'a, str>),
    Literal(&'a str),
    Special(&'a str),
}

/// Reads a quoted string or comment body starting after its opening character; returns
/// the content (borrowed when it holds no escapes or line breaks) and the index after the
/// closing character.
fn delimited(s: &str, start: usize, comment: bool) -> (Cow<'_, str>, usize) {
    let b = s.as_bytes();
    let mut i = start;
    let mut depth = 1usize;
    let mut plain = true;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                plain = false;
                i += 2;
                continue;
            }
            b'\r' | b'\n' => plain = false,
            b'"' if !comment => break,
            b'(' if comment => depth += 1,
            b')' if comment => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
        i += 1;
    }
    let end = i.min(b.len());
    let raw = &s[start..end];
    let content = if plain {
        Cow::Borrowed(raw)
    } else {
        let mut v = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        v.push(n);
                    }
                }
                '\r' | '\n' => {}
                _ => v.push(c),
            }
        }
        Cow::Owned(v)
    };
    (content, (end + 1).min(b.len()))
}

/// Bytes that end an atom (whitespace, quotes, comments, literals and specials).
fn is_atom_stop(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t'
            | b'\r'
            | b'\n'
            | b'"'
            | b'('
            | b')'
            | b'['
            | b']'
            | b'<'
            | b'>'
            | b'@'
            | b','
            | b';'
            | b':'
            | b'.'
    )
}

/// Splits a header value into RFC 5322 lexical tokens (whitespace dropped), borrowing
/// from the input wherever possible.
fn tokenize(s: &str) -> Vec<Tok<'_>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(16);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\r' | b'\n' | b')' | b']' => i += 1,
            b'"' => {
                let (v, next) = delimited(s, i + 1, false);
                out.push(Tok::Quoted(v));
                i = next;
            }
            b'(' => {
                let (v, next) = delimited(s, i + 1, true);
                out.push(Tok::Comment(match v {
                    Cow::Borrowed(x) => Cow::Borrowed(x.trim()),
                    Cow::Owned(x) => Cow::Owned(x.trim().to_string()),
                }));
                i = next;
            }
            b'[' => {
                let end = memchr::memchr(b']', &b[i..]).map_or(b.len(), |p| i + p + 1);
                out.push(Tok::Literal(&s[i..end]));
                i = end;
            }
            b'<' | b'>' | b'@' | b',' | b';' | b':' | b'.' => {
                out.push(Tok::Special(&s[i..i + 1]));
                i += 1;
            }
            _ => {
                let start = i;
                while i < b.len() && !is_atom_stop(b[i]) {
                    i += 1;
                }
                out.push(Tok::Atom(&s[start..i]));
            }
        }
    }
    out
}

/// Builds an addr-spec (local@domain) from the tokens of one address, leniently.
fn addr_spec<'a>(
    src: &'a str,
    tokens: &[Tok<'a>],
) -> (Option<Cow<'a, str>>, Cow<'a, str>, Cow<'a, str>) {
    let mut route = None;
    let mut toks = tokens;
    // obs-route: "@a,@b:" before the addr-spec.
    if let Some(colon) = toks.iter().position(|t| matches!(t, Tok::Special(":"))) {
        if matches!(toks.first(), Some(Tok::Special("@"))) {
            let mut r = String::new();
            for t in &toks[..colon] {
                match t {
                    Tok::Atom(a) | Tok::Literal(a) | Tok::Special(a) => r.push_str(a),
                    _ => {}
                }
            }
            route = Some(Cow::Owned(r));
            toks = &toks[colon + 1..];
        }
    }
    let at = toks.iter().rposition(|t| matches!(t, Tok::Special("@")));
    let (local_toks, domain_toks) = match at {
        Some(p) => (&toks[..p], &toks[p + 1..]),
        None => (toks, &[][..]),
    };
    let join = |ts: &[Tok<'a>]| -> Cow<'a, str> {
        let parts = || ts.iter().filter(|t| !matches!(t, Tok::Comment(_)));
        let mut it = parts();
        if let (Some(Tok::Quoted(q)), None) = (it.next(), it.next()) {
            return q.clone();
        }
        if parts().all(|t| matches!(t, Tok::Atom(_) | Tok::Literal(_) | Tok::Special("."))) {
            if let Some(slice) = contiguous(src, parts(), |_| "") {
                return Cow::Borrowed(slice);
            }
        }
        let mut out = String::new();
        for t in parts() {
            match t {
                Tok::Atom(a) | Tok::Literal(a) => out.push_str(a),
                Tok::Quoted(a) => out.push_str(a),
                Tok::Special(".") => out.push('.'),
                _ => {}
            }
        }
        Cow::Owned(out)
    };
    (route, join(local_toks), join(domain_toks))
}

/// The display-name phrase of a token run: words joined with single spaces, obs-phrase
/// dots kept attached ("John Q. Public"); borrowed when the source reads exactly so.
fn phrase<'a>(src: &'a str, tokens: &[Tok<'a>]) -> Option<Cow<'a, str>> {
    let is_word = |t: &&Tok<'a>| matches!(t, Tok::Atom(_) | Tok::Quoted(_) | Tok::Special("."));
    let mut words = tokens.iter().filter(is_word);
    match (words.next(), words.next()) {
        (None, _) => return None,
        (Some(Tok::Quoted(q)), None) => return Some(q.clone()),
        _ => {}
    }
    if tokens
        .iter()
        .all(|t| matches!(t, Tok::Atom(_) | Tok::Special(".")))
    {
        if let Some(slice) = contiguous(
            src,
            tokens.iter(),
            |next| if next == "." { "" } else { " " },
        ) {
            return Some(Cow::Borrowed(slice));
        }
    }
    let mut s = String::new();
    for (i, t) in tokens.iter().filter(is_word).enumerate() {
        let w: &str = match t {
            Tok::Atom(a) | Tok::Special(a) => a,
            Tok::Quoted(a) => a,
            _ => continue,
        };
        if i > 0 && w != "." {
            s.push(' ');
        }
        s.push_str(w);
    }
    Some(Cow::Owned(s))
}

fn first_comment<'a>(tokens: &[Tok<'a>]) -> Option<Cow<'a, str>> {
    tokens.iter().find_map(|t| match t {
        Tok::Comment(c) if !c.is_empty() => Some(c.clone()),
        _ => None,
    })
}

/// Parses one mailbox from its tokens (`phrase <addr>` or `addr-spec`).
fn mailbox<'a>(src: &'a str, tokens: &[Tok<'a>]) -> Option<Mailbox<'a>> {
    if tokens.iter().all(|t| matches!(t, Tok::Comment(_))) {
        return None;
    }
    if let Some(open) = tokens.iter().position(|t| matches!(t, Tok::Special("<"))) {
        let close = tokens[open..]
            .iter()
            .position(|t| matches!(t, Tok::Special(">")))
            .map(|p| open + p)
            .unwrap_or(tokens.len());
        let (route, local, domain) = addr_spec(src, &tokens[open + 1..close]);
        let name = phrase(src, &tokens[..open]).or_else(|| first_comment(tokens));
        // `<>` stays an (empty) entry: IMAP ENVELOPE reports it as a missing mailbox.
        return Some(Mailbox {
            name,
            route,
            local,
            domain,
        });
    }
    let (route, local, domain) = addr_spec(src, tokens);
    if local.is_empty() && domain.is_empty() {
        return None;
    }
    Some(Mailbox {
        name: first_comment(tokens),
        route,
        local,
        domain,
    })
}

/// Parses an address-list (or mailbox-list) header value.
pub fn parse_address_list(value: &str) -> Vec<Address<'_>> {
    let tokens = tokenize(value);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        // One entry runs to the next ',' at top level; a ':' before any '<' opens a group.
        let mut j = i;
        let mut in_angle = false;
        let mut group_colon = None;
        while j < tokens.len() {
            match tokens[j] {
                Tok::Special("<") => in_angle = true,
                Tok::Special(">") => in_angle = false,
                Tok::Special(",") if !in_angle => break,
                Tok::Special(":")
                    if !in_angle && group_colon.is_none() && !starts_route(&tokens[i..j]) =>
                {
                    group_colon = Some(j);
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        if let Some(colon) = group_colon {
            let name = phrase(value, &tokens[i..colon]).unwrap_or_default();
            let mut members = Vec::new();
            let mut k = colon + 1;
            let mut start = k;
            let mut in_angle = false;
            while k < tokens.len() {
                match tokens[k] {
                    Tok::Special("<") => in_angle = true,
                    Tok::Special(">") => in_angle = false,
                    Tok::Special(",") | Tok::Special(";") if !in_angle => {
                        if let Some(m) = mailbox(value, &tokens[start..k]) {
                            members.push(m);
                        }
                        start = k + 1;
                        if matches!(tokens[k], Tok::Special(";")) {
                            break;
                        }
                    }
                    _ => {}
                }
                k += 1;
            }
            if k >= tokens.len() && start < tokens.len() {
                if let Some(m) = mailbox(value, &tokens[start..]) {
                    members.push(m);
                }
            }
            out.push(Address::Group { name, members });
            i = k + 1;
            continue;
        }
        if let Some(m) = mailbox(value, &tokens[i..j]) {
            out.push(Address::Mailbox(m));
        }
        i = j + 1;
    }
    out
}

/// Whether the tokens so far are an obsolete route inside angle brackets (`<@a:`).
fn starts_route(tokens: &[Tok<'_>]) -> bool {
    matches!(tokens.last(), Some(Tok::Atom(_)) | Some(Tok::Literal(_)))
        && tokens.len() >= 2
        && matches!(tokens[tokens.len() - 2], Tok::Special("@"))
        && tokens.iter().any(|t| matches!(t, Tok::Special("<")))
}

/// One address found in an address list, flattened (groups expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressSpec {
    /// The display name, if one was given, RFC 2047-decoded.
    pub display_name: Option<String>,
    /// The `local@domain` (or bare `local`) address.
    pub addr: String,
}

/// Every mailbox in an address-list field value, in order, groups expanded.
pub fn address_list(value: &str) -> Vec<AddressSpec> {
    let mut out = Vec::new();
    let mut push = |m: &Mailbox<'_>| {
        if m.local.is_empty() && m.domain.is_empty() {
            return;
        }
        out.push(AddressSpec {
            display_name: m.decoded_name(),
            addr: m.addr_spec(),
        })
    };
    for a in parse_address_list(value) {
        match &a {
            Address::Mailbox(m) => push(m),
            Address::Group { members, .. } => members.iter().for_each(&mut push),
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

    fn mb<'a>(name: Option<&'a str>, local: &'a str, domain: &'a str) -> Address<'a> {
        Address::Mailbox(Mailbox {
            name: name.map(Cow::Borrowed),
            route: None,
            local: local.into(),
            domain: domain.into(),
        })
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
        assert_eq!(
            address_list("=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>")[0]
                .display_name
                .as_deref(),
            Some("André Pirard")
        );
    }

    /// RFC 5322 Appendix A.1 and A.5 examples.
    #[test]
    fn rfc5322_appendix_a() {
        assert_eq!(
            parse_address_list("John Doe <jdoe@machine.example>"),
            [mb(Some("John Doe"), "jdoe", "machine.example")]
        );
        assert_eq!(
            parse_address_list("\"Joe Q. Public\" <john.q.public@example.com>"),
            [mb(Some("Joe Q. Public"), "john.q.public", "example.com")]
        );
        assert_eq!(
            parse_address_list("Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>"),
            [
                mb(Some("Mary Smith"), "mary", "x.test"),
                mb(None, "jdoe", "example.org"),
                mb(Some("Who?"), "one", "y.test")
            ]
        );
        assert_eq!(
            parse_address_list(
                "<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>"
            ),
            [
                mb(None, "boss", "nil.test"),
                mb(Some("Giant; \"Big\" Box"), "sysservices", "example.net")
            ]
        );
        let g =
            parse_address_list("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;");
        assert_eq!(
            g,
            [Address::Group {
                name: "A Group".into(),
                members: vec![
                    Mailbox {
                        name: Some("Ed Jones".into()),
                        route: None,
                        local: "c".into(),
                        domain: "a.test".into()
                    },
                    Mailbox {
                        name: None,
                        route: None,
                        local: "joe".into(),
                        domain: "where.test".into()
                    },
                    Mailbox {
                        name: Some("John".into()),
                        route: None,
                        local: "jdoe".into(),
                        domain: "one.test".into()
                    },
                ]
            }]
        );
        assert_eq!(
            parse_address_list("Undisclosed recipients:;"),
            [Address::Group {
                name: "Undisclosed recipients".into(),
                members: vec![]
            }]
        );
        // A.5: white space, comments, and other oddities.
        assert_eq!(
            parse_address_list("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>"),
            [mb(Some("Pete"), "pete", "silly.test")]
        );
        let g = parse_address_list("A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); (the end of the group)");
        let Address::Group { name, members } = &g[0] else {
            panic!()
        };
        assert_eq!(name, "A Group");
        assert_eq!(members.len(), 3);
        assert_eq!(members[0].addr_spec(), "c@public.example");
        // A.6.1 obsolete: route and dotted phrase.
        let o = parse_address_list("Joe Q. Public <@machine.tld:john.q.public@example.com>");
        let Address::Mailbox(m) = &o[0] else { panic!() };
        assert_eq!(m.name.as_deref(), Some("Joe Q. Public"));
        assert_eq!(m.route.as_deref(), Some("@machine.tld"));
        assert_eq!(m.addr_spec(), "john.q.public@example.com");
    }

    #[test]
    fn broken_input_is_survived() {
        assert_eq!(addrs("Name <a@b"), ["a@b"]);
        assert_eq!(addrs("a@b (comment only)"), ["a@b"]);
        for v in [
            "<<<",
            ">a<",
            "\"unterminated",
            "((",
            "a,,b",
            ":;:",
            "\\",
            "@",
            "<>",
            ";",
            "a:b:c;d",
            ")",
            "]x)",
            "(a))b",
        ] {
            // Each must terminate (an unbalanced ')' once looped forever).
            let _ = parse_address_list(v);
        }
        assert_eq!(
            address_list("x@y (The Name)")[0].display_name.as_deref(),
            Some("The Name")
        );
    }
}
