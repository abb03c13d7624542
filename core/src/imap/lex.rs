//! nom parsers for the lexical items of IMAP commands (RFC 3501 §4, §9): atoms, numbers,
//! quoted strings, literals (synchronizing and LITERAL+, RFC 7888), astrings, LIST
//! patterns, sequence sets, flags and dates. The command grammar in `command.rs` is
//! built from these; literals arrive inline (the framer has collected them).

use nom::branch::alt;
use nom::bytes::complete::{tag, take, take_while, take_while1};
use nom::character::complete::digit1;
use nom::combinator::{map, map_opt, opt, recognize, value, verify};
use nom::multi::separated_list1;
use nom::sequence::{delimited, preceded, terminated};
use nom::{IResult, Parser};

use super::seqset::{SeqNum, SeqSet};

/// The result of one lexical parser.
pub type LexResult<'a, T> = IResult<&'a [u8], T>;

/// `ATOM-CHAR` (§9): any CHAR except atom-specials (`(){ %*"\]` and controls).
pub fn is_atom_char(c: u8) -> bool {
    c > 0x20 && c < 0x7f && !b"(){%*\"\\]".contains(&c)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `atom`.
pub fn atom(i: &[u8]) -> LexResult<'_, String> {
    map(take_while1(is_atom_char), lossy).parse(i)
}

/// `number` (digits; at most 20 of them fit a u64).
pub fn number(i: &[u8]) -> LexResult<'_, u64> {
    map_opt(digit1, |d: &[u8]| std::str::from_utf8(d).ok()?.parse().ok()).parse(i)
}

/// `quoted` (§4.3): `"` text with `\"` and `\\` escapes `"`, no CR or LF.
pub fn quoted(i: &[u8]) -> LexResult<'_, Vec<u8>> {
    let char_or_escape = alt((
        preceded(tag("\\"), alt((tag("\""), tag("\\")))),
        take_while1(|c| c != b'"' && c != b'\\' && c != b'\r' && c != b'\n'),
    ));
    delimited(
        tag("\""),
        nom::multi::fold_many0(char_or_escape, Vec::new, |mut acc: Vec<u8>, part: &[u8]| {
            acc.extend_from_slice(part);
            acc
        }),
        tag("\""),
    )
    .parse(i)
}

/// `literal` (§4.3) or LITERAL+ `{n+}` (RFC 7888), with its octets inline after the
/// line end (CRLF, or a bare LF as some clients send).
pub fn literal(i: &[u8]) -> LexResult<'_, Vec<u8>> {
    // `~{n}` is a literal8 (RFC 3516): its octets may hold NUL.
    let (i, _) = opt(tag("~")).parse(i)?;
    let (i, n) = delimited(
        tag("{"),
        terminated(number, opt(tag("+"))),
        (tag("}"), opt(tag("\r")), tag("\n")),
    )
    .parse(i)?;
    let n = usize::try_from(n)
        .map_err(|_| nom::Err::Error(nom::error::Error::new(i, nom::error::ErrorKind::TooLarge)))?;
    map(take(n), <[u8]>::to_vec).parse(i)
}

/// `string`: quoted or literal.
pub fn string(i: &[u8]) -> LexResult<'_, Vec<u8>> {
    alt((quoted, literal)).parse(i)
}

/// `astring`: an atom that may contain `]`, or a string.
pub fn astring(i: &[u8]) -> LexResult<'_, String> {
    alt((
        map(string, |s| lossy(&s)),
        map(take_while1(|c| is_atom_char(c) || c == b']'), lossy),
    ))
    .parse(i)
}

/// `list-mailbox`: an astring that may also contain the wildcards `%` and `*`.
pub fn list_mailbox(i: &[u8]) -> LexResult<'_, String> {
    alt((
        map(string, |s| lossy(&s)),
        map(
            take_while1(|c| is_atom_char(c) || c == b']' || c == b'%' || c == b'*'),
            lossy,
        ),
    ))
    .parse(i)
}

/// `seq-number`: a non-zero number that fits 32 bits, or `*`.
pub fn seq_num(i: &[u8]) -> LexResult<'_, SeqNum> {
    alt((
        value(SeqNum::Star, tag("*")),
        map(
            verify(number, |&n| n != 0 && n <= u64::from(u32::MAX)),
            |n| SeqNum::Num(n as u32),
        ),
    ))
    .parse(i)
}

/// `sequence-set`: comma-separated numbers and `a:b` ranges, or `$`, the saved search
/// result (RFC 5182).
pub fn seq_set(i: &[u8]) -> LexResult<'_, SeqSet> {
    alt((
        value(SeqSet::saved(), tag("$")),
        map(
            separated_list1(
                tag(","),
                map((seq_num, opt(preceded(tag(":"), seq_num))), |(a, b)| {
                    (a, b.unwrap_or(a))
                }),
            ),
            SeqSet,
        ),
    ))
    .parse(i)
}

/// `flag`: a system flag (`\Seen`, case-normalized), `\*`, or a keyword atom.
pub fn flag(i: &[u8]) -> LexResult<'_, String> {
    alt((
        value("\\*".to_string(), tag("\\*")),
        map(preceded(tag("\\"), atom), |a| {
            let canon = ["Answered", "Flagged", "Deleted", "Seen", "Draft", "Recent"]
                .iter()
                .find(|f| f.eq_ignore_ascii_case(&a))
                .map(|f| f.to_string())
                .unwrap_or(a);
            format!("\\{canon}")
        }),
        atom,
    ))
    .parse(i)
}

/// The text of a `date` (`d-Mon-yyyy`), quoted or not; the caller checks its value.
pub fn date_text(i: &[u8]) -> LexResult<'_, String> {
    let text = || take_while(|c: u8| c.is_ascii_alphanumeric() || c == b'-');
    alt((
        map(delimited(tag("\""), text(), tag("\"")), lossy),
        map(recognize(text()), lossy),
    ))
    .parse(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items() {
        assert_eq!(atom(b"FETCH 1").unwrap(), (&b" 1"[..], "FETCH".to_string()));
        assert!(atom(b"(x").is_err());
        assert_eq!(number(b"123x").unwrap().1, 123);
        assert_eq!(
            quoted(b"\"a\\\"b\\\\c\" ").unwrap(),
            (&b" "[..], b"a\"b\\c".to_vec())
        );
        assert!(quoted(b"\"a\\nb\"").is_err());
        assert!(quoted(b"\"open").is_err());
        assert_eq!(
            literal(b"{3}\r\nabcd").unwrap(),
            (&b"d"[..], b"abc".to_vec())
        );
        assert_eq!(literal(b"{3+}\nabc").unwrap().1, b"abc".to_vec());
        assert!(literal(b"{5}\r\nabc").is_err());
        assert_eq!(astring(b"a]b c").unwrap().1, "a]b");
        assert_eq!(list_mailbox(b"Lists/%* x").unwrap().1, "Lists/%*");
        assert_eq!(
            seq_set(b"1:*,5 ").unwrap().1,
            SeqSet(vec![
                (SeqNum::Num(1), SeqNum::Star),
                (SeqNum::Num(5), SeqNum::Num(5))
            ])
        );
        assert!(seq_set(b"0").is_err());
        assert!(seq_set(b"4294967296").is_err());
        assert_eq!(flag(b"\\seen").unwrap().1, "\\Seen");
        assert_eq!(flag(b"\\*").unwrap().1, "\\*");
        assert_eq!(flag(b"$Junk)").unwrap().1, "$Junk");
        assert_eq!(date_text(b"\"1-Feb-1994\"").unwrap().1, "1-Feb-1994");
        assert_eq!(date_text(b"1-Feb-1994 ").unwrap().1, "1-Feb-1994");
    }
}
