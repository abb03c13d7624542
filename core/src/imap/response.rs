//! IMAP4rev1 server responses (RFC 3501 §7, §9 `response`) as a client reads them: a
//! streaming nom parser and an encoder over one generic form. Status responses keep their
//! response code and text; every other untagged response is a list of values (atoms,
//! numbers, quoted strings, literals, NIL, parenthesized lists, and message-data item
//! names such as `BODY[HEADER.FIELDS (SUBJECT)]<0>`).
//!
//! The server machine builds every response as a [`Response`] and writes it with
//! [`write_response`] (or [`write_response_split`] when a literal's octets are streamed
//! from the store); tests, fuzz targets and the load generator parse what it wrote with
//! [`parse_all`] to check that it is well formed.

use nom::branch::alt;
use nom::bytes::complete::{tag, tag_no_case, take_while, take_while1};
use nom::character::complete::digit1;
use nom::combinator::{map, map_res, opt, recognize, value};
use nom::multi::separated_list0;
use nom::sequence::{delimited, preceded, terminated};
use nom::{IResult, Needed, Parser};

/// One value inside a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An atom (including flags like `\Seen` and data item names like `BODY[1]<0>`).
    Atom(String),
    /// A number.
    Number(u64),
    /// A quoted string (RFC 3501 §4.3), unescaped.
    Quoted(String),
    /// A literal `{n}CRLF` and its octets.
    Literal(Vec<u8>),
    /// `NIL`.
    Nil,
    /// A parenthesized list.
    List(Vec<Value>),
    /// Values written back to back with no space between, as RFC 3501 writes
    /// `1*address` and a multipart's `1*body` (written by the server only: the parser
    /// reads them as separate list items).
    Adjacent(Vec<Value>),
    /// A literal of this many octets whose octets are not in memory: the encoder writes
    /// `{n}` CRLF and [`write_response_split`] cuts the response there, so the writer
    /// sends the octets from the store (written by the server only).
    Deferred(u64),
}

impl Value {
    /// An atom.
    pub fn atom(a: impl Into<String>) -> Self {
        Value::Atom(a.into())
    }

    /// An IMAP string as Dovecot chooses its form: quoted when it is plain ASCII without
    /// `"`, `\`, CR, LF or NUL, otherwise a literal (RFC 3501 §4.3).
    pub fn string(s: &[u8]) -> Self {
        let quotable = s
            .iter()
            .all(|&b| b < 0x80 && b != b'"' && b != b'\\' && b != b'\r' && b != b'\n' && b != 0);
        match std::str::from_utf8(s) {
            Ok(text) if quotable => Value::Quoted(text.to_string()),
            _ => Value::Literal(s.to_vec()),
        }
    }

    /// A UTF-8 string as IMAP4rev2 quotes it (RFC 9051 `quoted` takes UTF-8), a literal
    /// when it holds `"`, `\\`, a line end or NUL.
    pub fn utf8_string(s: &str) -> Self {
        let quotable = s
            .bytes()
            .all(|b| !matches!(b, b'"' | b'\\' | b'\r' | b'\n' | 0));
        if quotable {
            Value::Quoted(s.to_string())
        } else {
            Value::Literal(s.as_bytes().to_vec())
        }
    }

    /// NIL or [`Value::string`].
    pub fn nstring(s: Option<&[u8]>) -> Self {
        s.map_or(Value::Nil, Value::string)
    }

    /// A list of atoms (flags, capabilities).
    pub fn atoms<S: AsRef<str>>(items: &[S]) -> Self {
        Value::List(items.iter().map(|a| Value::atom(a.as_ref())).collect())
    }
}

/// The status of a status response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `OK`.
    Ok,
    /// `NO`.
    No,
    /// `BAD`.
    Bad,
    /// `PREAUTH` (untagged only).
    PreAuth,
    /// `BYE` (untagged only).
    Bye,
}

impl Status {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
            Status::PreAuth => "PREAUTH",
            Status::Bye => "BYE",
        }
    }
}

/// Status, optional `[response code]` and human text (RFC 3501 §7.1 `resp-text`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusText {
    /// OK, NO, BAD, PREAUTH or BYE.
    pub status: Status,
    /// The response code's text between the brackets, if any (e.g. `UIDNEXT 4`).
    pub code: Option<String>,
    /// The rest of the line.
    pub text: String,
}

impl StatusText {
    /// A status with text and no response code.
    pub fn new(status: Status, text: impl Into<String>) -> Self {
        Self {
            status,
            code: None,
            text: text.into(),
        }
    }

    /// `OK text`.
    pub fn ok(text: impl Into<String>) -> Self {
        Self::new(Status::Ok, text)
    }

    /// `NO text`.
    pub fn no(text: impl Into<String>) -> Self {
        Self::new(Status::No, text)
    }

    /// `BAD text`.
    pub fn bad(text: impl Into<String>) -> Self {
        Self::new(Status::Bad, text)
    }

    /// `BYE text`.
    pub fn bye(text: impl Into<String>) -> Self {
        Self::new(Status::Bye, text)
    }

    /// The same with a response code (`OK [UIDNEXT 4] text`).
    pub fn code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }
}

/// One complete server response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `+ text` (continuation request; RFC 3501 §7.5).
    Continue(String),
    /// `tag OK|NO|BAD [code] text` (§7.1).
    Tagged {
        /// The command's tag.
        tag: String,
        /// The completion.
        status: StatusText,
    },
    /// `* OK|NO|BAD|PREAUTH|BYE [code] text`.
    UntaggedStatus(StatusText),
    /// Any other untagged response: `* ` followed by values (`* 3 EXISTS` is
    /// `[Number(3), Atom("EXISTS")]`).
    Untagged(Vec<Value>),
}

type PResult<'a, T> = IResult<&'a [u8], T>;

/// Parses one response from the start of `input`, returning the rest.
///
/// Streaming: `Err(Incomplete)` when `input` holds only a prefix of a response (its last
/// line or a literal is not complete yet, found as clients find it: a line ending in
/// `{n}` announces n octets); `Err(Error)` for a complete response that is not valid.
pub fn parse_response(input: &[u8]) -> PResult<'_, Response> {
    let Some(end) = frame_end(input) else {
        return Err(nom::Err::Incomplete(Needed::Unknown));
    };
    let (rest, r) = response(&input[..end])?;
    if !rest.is_empty() {
        return Err(nom::Err::Error(nom::error::Error::new(
            rest,
            nom::error::ErrorKind::Eof,
        )));
    }
    Ok((&input[end..], r))
}

/// Where the response at the start of `input` ends (after its final CRLF), if it is all
/// there.
fn frame_end(input: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let nl = at + memchr::memchr(b'\n', &input[at..])?;
        let line = input[at..nl].strip_suffix(b"\r").unwrap_or(&input[at..nl]);
        match announced_literal(line) {
            Some(n) => {
                at = (nl + 1).checked_add(n)?;
                if at > input.len() {
                    return None;
                }
            }
            None => return Some(nl + 1),
        }
    }
}

/// The length of the literal a line announces by ending in `{n}`.
fn announced_literal(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = memchr::memrchr(b'{', inner)?;
    let digits = &inner[open + 1..];
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn response(input: &[u8]) -> PResult<'_, Response> {
    terminated(
        alt((
            map(preceded(tag("+"), opt(preceded(tag(" "), text))), |t| {
                Response::Continue(t.unwrap_or_default())
            }),
            preceded(
                tag("* "),
                alt((
                    map(status_text, Response::UntaggedStatus),
                    map(separated_list0(tag(" "), value_item), Response::Untagged),
                )),
            ),
            map(
                (take_while1(is_tag_char), tag(" "), status_text),
                |(t, _, status)| Response::Tagged {
                    tag: String::from_utf8_lossy(t).into_owned(),
                    status,
                },
            ),
        )),
        tag("\r\n"),
    )
    .parse(input)
}

fn status_text(input: &[u8]) -> PResult<'_, StatusText> {
    let (input, status) = alt((
        value(Status::PreAuth, tag_no_case("PREAUTH")),
        value(Status::Ok, tag_no_case("OK")),
        value(Status::No, tag_no_case("NO")),
        value(Status::Bad, tag_no_case("BAD")),
        value(Status::Bye, tag_no_case("BYE")),
    ))
    .parse(input)?;
    // The status must be a whole word: `* OKAY` is not a status response.
    if !(input.starts_with(b" ") || input.starts_with(b"\r\n")) {
        return Err(nom::Err::Error(nom::error::Error::new(
            input,
            nom::error::ErrorKind::Tag,
        )));
    }
    let (input, code) = opt(preceded(
        tag(" ["),
        terminated(
            take_while(|c| c != b']' && c != b'\r' && c != b'\n'),
            tag("]"),
        ),
    ))
    .parse(input)?;
    let (input, text) = opt(preceded(tag(" "), text)).parse(input)?;
    Ok((
        input,
        StatusText {
            status,
            code: code.map(|c| String::from_utf8_lossy(c).into_owned()),
            text: text.unwrap_or_default(),
        },
    ))
}

fn text(input: &[u8]) -> PResult<'_, String> {
    map(take_while(|c| c != b'\r' && c != b'\n'), |t| {
        String::from_utf8_lossy(t).into_owned()
    })
    .parse(input)
}

/// `tag` (§9): ASTRING-CHARs except `+`.
pub fn is_tag_char(c: u8) -> bool {
    c > b' ' && c < 0x7f && !b"(){%*\"\\+".contains(&c)
}

/// `ATOM-CHAR` (§9): any CHAR except atom-specials; `]` is allowed in atoms here
/// because RFC 3501 `astring` allows it.
fn is_atom_char(c: u8) -> bool {
    c > b' ' && c < 0x7f && !b"(){%*\"\\".contains(&c) && c != b'['
}

fn value_item(input: &[u8]) -> PResult<'_, Value> {
    alt((
        map(delimited(tag("("), list_items, tag(")")), Value::List),
        map(quoted, Value::Quoted),
        map(literal, Value::Literal),
        map(terminated(number, not_atom_char), Value::Number),
        map(atom, |a| {
            if a.eq_ignore_ascii_case("NIL") {
                Value::Nil
            } else {
                Value::Atom(a)
            }
        }),
    ))
    .parse(input)
}

/// The items of a list: separated by a space, or by nothing between two lists (RFC 3501
/// writes `1*address` and a multipart's `1*body` back to back).
fn list_items(mut input: &[u8]) -> PResult<'_, Vec<Value>> {
    let mut items = Vec::new();
    if input.starts_with(b")") {
        return Ok((input, items));
    }
    loop {
        let (rest, v) = value_item(input)?;
        let was_list = matches!(v, Value::List(_));
        items.push(v);
        input = rest;
        if let Some(r) = input.strip_prefix(b" ") {
            input = r;
        } else if !(was_list && input.starts_with(b"(")) {
            return Ok((input, items));
        }
    }
}

fn number(input: &[u8]) -> PResult<'_, u64> {
    map_res(digit1, |d: &[u8]| {
        std::str::from_utf8(d)
            .map_err(|_| ())
            .and_then(|s| s.parse::<u64>().map_err(|_| ()))
    })
    .parse(input)
}

/// Succeeds when the next byte does not continue an atom (so `12ab` stays one atom).
fn not_atom_char(input: &[u8]) -> PResult<'_, ()> {
    match input.first() {
        Some(&c) if is_atom_char(c) || c == b'[' => Err(nom::Err::Error(nom::error::Error::new(
            input,
            nom::error::ErrorKind::Digit,
        ))),
        _ => Ok((input, ())),
    }
}

/// An atom, a flag (`\Seen`, `\*`), or a data item name with a section and a partial
/// (`BODY[HEADER.FIELDS (A B)]<0>`). Only the names that take a section (RFC 3501
/// `msg-att-static`, RFC 3516 `BINARY`) open one at `[`; elsewhere `[` is an ordinary
/// atom character (RFC 3501 excludes only `]` from atoms), as in the keyword `$a[b`.
fn atom(input: &[u8]) -> PResult<'_, String> {
    let (rest, base) = alt((
        recognize((tag("\\"), alt((tag("*"), take_while1(is_atom_char))))),
        take_while1(is_atom_char),
        // A keyword may even start with `[` (`[SEEN`).
        take_while1(|c| is_atom_char(c) || c == b'['),
    ))
    .parse(input)?;
    let takes_section = [
        &b"BODY"[..],
        b"BODY.PEEK",
        b"BINARY",
        b"BINARY.PEEK",
        b"BINARY.SIZE",
    ]
    .iter()
    .any(|n| base.eq_ignore_ascii_case(n));
    let section = recognize((section_spec, opt((tag("<"), digit1, tag(">")))));
    let mut plain = take_while(|c| is_atom_char(c) || c == b'[');
    // A keyword may also be spelled like a section name (`BODY[x`): without its `]` on
    // the line, the `[` is part of the atom.
    let (rest, _) = if takes_section {
        alt((section, plain)).parse(rest)?
    } else {
        plain.parse(rest)?
    };
    let len = input.len() - rest.len();
    Ok((rest, String::from_utf8_lossy(&input[..len]).into_owned()))
}

/// `"[" section-spec "]"`: up to the `]` that is not inside a quoted header field name
/// (`BODY[HEADER.FIELDS ("]X" FROM)]`).
fn section_spec(input: &[u8]) -> PResult<'_, &[u8]> {
    let fail = || nom::Err::Error(nom::error::Error::new(input, nom::error::ErrorKind::Tag));
    if input.first() != Some(&b'[') {
        return Err(fail());
    }
    let mut i = 1;
    while let Some(&c) = input.get(i) {
        match c {
            b']' => return Ok((&input[i + 1..], &input[..=i])),
            b'\r' | b'\n' => return Err(fail()),
            b'"' => {
                let (rest, _) = quoted(&input[i..])?;
                i = input.len() - rest.len();
            }
            _ => i += 1,
        }
    }
    Err(fail())
}

fn quoted(input: &[u8]) -> PResult<'_, String> {
    let (mut rest, _) = tag("\"").parse(input)?;
    let mut out = Vec::new();
    loop {
        match rest.first() {
            Some(b'"') => return Ok((&rest[1..], String::from_utf8_lossy(&out).into_owned())),
            Some(b'\\') if matches!(rest.get(1), Some(b'"' | b'\\')) => {
                out.push(rest[1]);
                rest = &rest[2..];
            }
            Some(&c) if c != 0 && c != b'\r' && c != b'\n' && c != b'\\' => {
                out.push(c);
                rest = &rest[1..];
            }
            _ => {
                return Err(nom::Err::Error(nom::error::Error::new(
                    rest,
                    nom::error::ErrorKind::Char,
                )))
            }
        }
    }
}

fn literal(input: &[u8]) -> PResult<'_, Vec<u8>> {
    let (input, _) = opt(tag("~")).parse(input)?;
    let (rest, n) = delimited(tag("{"), number, tag("}\r\n")).parse(input)?;
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    if rest.len() < n {
        return Err(nom::Err::Incomplete(Needed::new(n - rest.len())));
    }
    Ok((&rest[n..], rest[..n].to_vec()))
}

/// Appends `v` in wire form: quoted strings escaped (UTF-8 kept, as with UTF8=ACCEPT);
/// a quoted string holding CR, LF or NUL becomes a literal.
pub fn encode_value(out: &mut Vec<u8>, v: &Value) {
    Encoder {
        out,
        cuts: &mut Vec::new(),
    }
    .value(v);
}

/// Appends the wire form of `r`, CRLF included. A [`Value::Deferred`] literal is written
/// as its `{n}` CRLF announcement only: use [`write_response_split`] for those.
pub fn write_response(out: &mut Vec<u8>, r: &Response) {
    Encoder {
        out,
        cuts: &mut Vec::new(),
    }
    .response(r);
}

/// The wire form of `r` cut after each [`Value::Deferred`] announcement: the octets of
/// the n-th deferred literal go between segment n and n + 1.
pub fn write_response_split(r: &Response) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cuts = Vec::new();
    Encoder {
        out: &mut out,
        cuts: &mut cuts,
    }
    .response(r);
    let mut segments = Vec::with_capacity(cuts.len() + 1);
    let mut from = 0;
    for at in cuts {
        segments.push(out[from..at].to_vec());
        from = at;
    }
    segments.push(out[from..].to_vec());
    segments
}

/// The wire form of `r`, CRLF included.
pub fn encode_response(r: &Response) -> Vec<u8> {
    let mut out = Vec::new();
    write_response(&mut out, r);
    out
}

/// Writes values, remembering where deferred literals' octets go.
struct Encoder<'a> {
    out: &'a mut Vec<u8>,
    cuts: &'a mut Vec<usize>,
}

impl Encoder<'_> {
    fn value(&mut self, v: &Value) {
        let out = &mut *self.out;
        match v {
            Value::Atom(a) => out.extend_from_slice(a.as_bytes()),
            Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Value::Nil => out.extend_from_slice(b"NIL"),
            Value::Quoted(s) if s.bytes().all(|b| b != b'\r' && b != b'\n' && b != 0) => {
                out.push(b'"');
                for b in s.bytes() {
                    if b == b'"' || b == b'\\' {
                        out.push(b'\\');
                    }
                    out.push(b);
                }
                out.push(b'"');
            }
            Value::Quoted(s) => self.literal(s.as_bytes()),
            Value::Literal(data) => self.literal(data),
            Value::List(items) => {
                out.push(b'(');
                self.values(items, b" ");
                self.out.push(b')');
            }
            Value::Adjacent(items) => self.values(items, b""),
            Value::Deferred(n) => {
                out.extend_from_slice(format!("{{{n}}}\r\n").as_bytes());
                self.cuts.push(self.out.len());
            }
        }
    }

    fn values(&mut self, items: &[Value], separator: &[u8]) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.extend_from_slice(separator);
            }
            self.value(item);
        }
    }

    /// A literal; with a NUL in it, a literal8 (`~{n}`, RFC 3516), the only form that may
    /// carry one.
    fn literal(&mut self, data: &[u8]) {
        let eight = if data.contains(&0) { "~" } else { "" };
        self.out
            .extend_from_slice(format!("{eight}{{{}}}\r\n", data.len()).as_bytes());
        self.out.extend_from_slice(data);
    }

    fn status(&mut self, s: &StatusText) {
        let out = &mut *self.out;
        out.extend_from_slice(s.status.as_str().as_bytes());
        if let Some(code) = &s.code {
            out.extend_from_slice(b" [");
            out.extend_from_slice(code.as_bytes());
            out.push(b']');
        }
        if !s.text.is_empty() || s.code.is_none() {
            out.push(b' ');
            out.extend_from_slice(s.text.as_bytes());
        }
    }

    fn response(&mut self, r: &Response) {
        match r {
            Response::Continue(text) => {
                self.out.extend_from_slice(b"+ ");
                self.out.extend_from_slice(text.as_bytes());
            }
            Response::Tagged { tag, status } => {
                self.out.extend_from_slice(tag.as_bytes());
                self.out.push(b' ');
                self.status(status);
            }
            Response::UntaggedStatus(s) => {
                self.out.extend_from_slice(b"* ");
                self.status(s);
            }
            Response::Untagged(values) => {
                self.out.extend_from_slice(b"* ");
                self.values(values, b" ");
            }
        }
        self.out.extend_from_slice(b"\r\n");
    }
}

/// Splits a server's output into responses; `Err` with the offset of the first octet that
/// does not start a valid response. A trailing incomplete response is an error too.
pub fn parse_all(mut output: &[u8]) -> Result<Vec<Response>, usize> {
    let total = output.len();
    let mut out = Vec::new();
    while !output.is_empty() {
        match parse_response(output) {
            Ok((rest, r)) => {
                out.push(r);
                output = rest;
            }
            Err(_) => return Err(total - output.len()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_may_contain_an_opening_bracket() {
        // Found by the imap_session fuzz target (10-minute campaign): the server stored
        // and showed the keyword `$For[ardede` (valid: only `]` is excluded from atoms)
        // and this parser, which checks the server's output, rejected it.
        let r =
            one("* 1 FETCH (FLAGS ($For[ardede kw) BODY[HEADER.FIELDS (A B)]<0> {2}\r\nhi)\r\n");
        let Response::Untagged(v) = r else {
            panic!("{r:?}")
        };
        let Value::List(items) = &v[2] else {
            panic!("{v:?}")
        };
        assert_eq!(
            items[1],
            Value::List(vec![
                Value::Atom("$For[ardede".into()),
                Value::Atom("kw".into())
            ])
        );
        assert_eq!(items[2], Value::Atom("BODY[HEADER.FIELDS (A B)]<0>".into()));
        assert!(parse_response(b"* FLAGS (\\Seen $a[b)\r\n").is_ok());
        // A header field name with `]` is echoed as a string (imap_session fuzz target).
        let r = one("* 1 FETCH (BODY[HEADER.FIELDS (\"]X\" \"A]B[]\" FROM)] {2}\r\nhi)\r\n");
        let Response::Untagged(v) = r else {
            panic!("{r:?}")
        };
        let Value::List(items) = &v[2] else {
            panic!("{v:?}")
        };
        assert_eq!(
            items[0],
            Value::Atom("BODY[HEADER.FIELDS (\"]X\" \"A]B[]\" FROM)]".into())
        );
        assert_eq!(
            one("* FLAGS ([SEEN kw)\r\n"),
            Response::Untagged(vec![
                Value::Atom("FLAGS".into()),
                Value::List(vec![Value::Atom("[SEEN".into()), Value::Atom("kw".into())])
            ])
        );
        // Spelled like a data item with a section, but without the `]`.
        assert_eq!(
            one("* FLAGS (\\Seen BODY[TRUCTR)\r\n"),
            Response::Untagged(vec![
                Value::Atom("FLAGS".into()),
                Value::List(vec![
                    Value::Atom("\\Seen".into()),
                    Value::Atom("BODY[TRUCTR".into())
                ])
            ])
        );
    }

    fn one(s: &str) -> Response {
        let (rest, r) = parse_response(s.as_bytes()).unwrap();
        assert!(rest.is_empty(), "left {rest:?}");
        r
    }

    #[test]
    fn rfc3501_examples_parse() {
        assert_eq!(
            one("* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"),
            Response::UntaggedStatus(StatusText {
                status: Status::Ok,
                code: Some("UIDVALIDITY 3857529045".into()),
                text: "UIDs valid".into()
            })
        );
        assert_eq!(
            one("* 172 EXISTS\r\n"),
            Response::Untagged(vec![Value::Number(172), Value::Atom("EXISTS".into())])
        );
        assert_eq!(
            one("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"),
            Response::Untagged(vec![
                Value::Atom("FLAGS".into()),
                Value::List(
                    ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"]
                        .iter()
                        .map(|f| Value::Atom(f.to_string()))
                        .collect()
                )
            ])
        );
        assert_eq!(
            one("* LIST (\\Noselect) \"/\" ~/Mail/foo\r\n"),
            Response::Untagged(vec![
                Value::Atom("LIST".into()),
                Value::List(vec![Value::Atom("\\Noselect".into())]),
                Value::Quoted("/".into()),
                Value::Atom("~/Mail/foo".into()),
            ])
        );
        let fetch = one("* 12 FETCH (FLAGS (\\Seen) BODY[HEADER.FIELDS (SUBJECT)]<0> {13}\r\nSubject: x\r\n\r UID 4 ENVELOPE (NIL \"a \\\"b\\\"\"))\r\n");
        assert_eq!(
            fetch,
            Response::Untagged(vec![
                Value::Number(12),
                Value::Atom("FETCH".into()),
                Value::List(vec![
                    Value::Atom("FLAGS".into()),
                    Value::List(vec![Value::Atom("\\Seen".into())]),
                    Value::Atom("BODY[HEADER.FIELDS (SUBJECT)]<0>".into()),
                    Value::Literal(b"Subject: x\r\n\r".to_vec()),
                    Value::Atom("UID".into()),
                    Value::Number(4),
                    Value::Atom("ENVELOPE".into()),
                    Value::List(vec![Value::Nil, Value::Quoted("a \"b\"".into())]),
                ])
            ])
        );
        assert_eq!(
            one("a002 NO [TRYCREATE] Mailbox doesn't exist\r\n"),
            Response::Tagged {
                tag: "a002".into(),
                status: StatusText {
                    status: Status::No,
                    code: Some("TRYCREATE".into()),
                    text: "Mailbox doesn't exist".into()
                }
            }
        );
        assert_eq!(one("+ idling\r\n"), Response::Continue("idling".into()));
        assert_eq!(one("+\r\n"), Response::Continue(String::new()));
        assert!(matches!(one("* SEARCH\r\n"), Response::Untagged(v) if v.len() == 1));
        assert!(matches!(
            one("* PERMANENTFLAGS (\\Seen \\*)\r\n"),
            Response::Untagged(_)
        ));
    }

    #[test]
    fn incomplete_and_invalid_input() {
        assert!(matches!(
            parse_response(b"* 3 EXI"),
            Err(nom::Err::Incomplete(_))
        ));
        assert!(matches!(
            parse_response(b"* 1 FETCH (BODY[] {10}\r\nabc"),
            Err(nom::Err::Incomplete(_))
        ));
        assert!(matches!(
            parse_response(b"* 1 FETCH (FLAGS ()\r\n"),
            Err(nom::Err::Error(_))
        ));
        assert!(matches!(
            parse_response(b"* \"unterminated\r\n"),
            Err(nom::Err::Error(_))
        ));
        assert!(matches!(
            parse_response(b"a1 MAYBE\r\n"),
            Err(nom::Err::Error(_))
        ));
        assert_eq!(parse_all(b"* 1 EXISTS\r\n* foo (\r\n"), Err(12));
        // Found by the imap_response fuzz target: NUL is not a quoted-string character,
        // and UTF-8 in a quoted string stays quoted when encoded again.
        assert!(matches!(
            parse_response(b"* \"a\0b\"\r\n"),
            Err(nom::Err::Error(_))
        ));
        let utf8 = Response::Untagged(vec![Value::Quoted(" *\u{fffd} ".into())]);
        let wire = encode_response(&utf8);
        assert_eq!(wire, "* \" *\u{fffd} \"\r\n".as_bytes());
        assert_eq!(parse_response(&wire).unwrap().1, utf8);
    }
}
