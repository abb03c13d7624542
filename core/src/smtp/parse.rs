//! nom parsers for SMTP command lines and replies (RFC 5321 §4.1, §4.2).
//!
//! Both entry points, [`command`] and [`reply`], are *streaming*: given a prefix of a line
//! they return [`nom::Err::Incomplete`], never an error, so the caller can wait for more
//! bytes. A complete line (ending in CRLF) is then parsed with complete parsers. Length
//! limits are the framer's job (see `server.rs`), not the parser's.

use nom::branch::alt;
use nom::bytes::complete::{tag, tag_no_case, take_while, take_while1, take_while_m_n};
use nom::combinator::{all_consuming, map, opt, recognize, verify};
use nom::error::{ErrorKind, ParseError};
use nom::multi::{many0, separated_list1};
use nom::sequence::{delimited, preceded};
use nom::{IResult, Needed, Parser};

use super::types::{Command, EnhancedCode, ForwardPath, Mailbox, Parameter, Reply, ReversePath};

/// Why a complete command line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The verb is not a known command: answer 500 5.5.2.
    #[error("command unrecognized")]
    Unrecognized,
    /// The verb is known but its arguments are malformed: answer 501 with this hint.
    #[error("syntax error: {0}")]
    Syntax(&'static str),
    /// The line is not valid UTF-8 (RFC 6531 allows only UTF-8): answer 500 5.5.2.
    #[error("the command is not UTF-8")]
    NotUtf8,
    /// A low-level nom failure inside an argument.
    #[error("syntax error ({0:?})")]
    Nom(ErrorKind),
}

impl<I> ParseError<I> for CommandError {
    fn from_error_kind(_input: I, kind: ErrorKind) -> Self {
        CommandError::Nom(kind)
    }

    fn append(_input: I, _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

type PResult<'a, T> = IResult<&'a [u8], T, CommandError>;

/// Finds the end of the first line: the index of its LF, if any.
fn line_end(input: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', input)
}

/// `command = verb [SP args] CRLF` (RFC 5321 §4.1.1).
///
/// Streaming: returns `Incomplete` until a CRLF is present. Returns the rest of the input
/// after the CRLF and the parsed command, or a [`CommandError`] for a complete line that is
/// not a valid command. Like Postfix, a command line ending in a bare LF is accepted (bare
/// LF is refused only inside DATA, where it matters for smuggling).
pub fn command(input: &[u8]) -> IResult<&[u8], Command, CommandError> {
    let Some(lf) = line_end(input) else {
        return Err(nom::Err::Incomplete(Needed::Unknown));
    };
    let rest = &input[lf + 1..];
    let line = &input[..lf];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match command_line(line) {
        Ok(cmd) => Ok((rest, cmd)),
        Err(e) => Err(nom::Err::Error(e)),
    }
}

/// Parses one command line without its CRLF.
pub fn command_line(line: &[u8]) -> Result<Command, CommandError> {
    if std::str::from_utf8(line).is_err() {
        return Err(CommandError::NotUtf8);
    }
    let verb_len = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let verb = &line[..verb_len];
    let args = &line[verb_len..];
    let upper = verb.to_ascii_uppercase();
    let parsed: Result<Command, CommandError> = match upper.as_slice() {
        b"EHLO" => hello_arg(args, "Syntax: EHLO hostname").map(Command::Ehlo),
        b"HELO" => hello_arg(args, "Syntax: HELO hostname").map(Command::Helo),
        b"LHLO" => hello_arg(args, "Syntax: LHLO hostname").map(Command::Lhlo),
        b"MAIL" => run(mail_args, args, "Syntax: MAIL FROM:<address> [parameters]"),
        b"RCPT" => run(rcpt_args, args, "Syntax: RCPT TO:<address> [parameters]"),
        b"DATA" => no_args(args, Command::Data, "Syntax: DATA"),
        b"BDAT" => bdat_args(args),
        b"RSET" => no_args(args, Command::Rset, "Syntax: RSET"),
        b"QUIT" => no_args(args, Command::Quit, "Syntax: QUIT"),
        b"STARTTLS" => no_args(args, Command::StartTls, "Syntax: STARTTLS"),
        b"NOOP" => Ok(Command::Noop(optional_text(args))),
        b"HELP" => Ok(Command::Help(optional_text(args))),
        b"VRFY" => optional_text(args)
            .map(Command::Vrfy)
            .ok_or(CommandError::Syntax("Syntax: VRFY address")),
        b"EXPN" => optional_text(args)
            .map(Command::Expn)
            .ok_or(CommandError::Syntax("Syntax: EXPN list")),
        b"AUTH" => run(auth_args, args, "Syntax: AUTH mechanism [initial-response]"),
        _ => Err(CommandError::Unrecognized),
    };
    parsed
}

/// Runs an argument parser over the whole argument text, mapping any failure to `hint`.
fn run<'a>(
    parser: fn(&'a [u8]) -> PResult<'a, Command>,
    args: &'a [u8],
    hint: &'static str,
) -> Result<Command, CommandError> {
    match all_consuming(parser).parse(args) {
        Ok((_, cmd)) => Ok(cmd),
        Err(nom::Err::Error(CommandError::Syntax(h)))
        | Err(nom::Err::Failure(CommandError::Syntax(h))) => Err(CommandError::Syntax(h)),
        Err(_) => Err(CommandError::Syntax(hint)),
    }
}

fn to_string(b: &[u8]) -> String {
    // The whole line was checked to be UTF-8 and slices are cut on ASCII boundaries.
    String::from_utf8_lossy(b).into_owned()
}

/// `BDAT` arguments: ` chunk-size [ SP LAST ]` (RFC 3030 §2).
fn bdat_args(args: &[u8]) -> Result<Command, CommandError> {
    const HINT: &str = "Syntax: BDAT size [LAST]";
    let text = std::str::from_utf8(args).map_err(|_| CommandError::Syntax(HINT))?;
    let rest = text.strip_prefix(' ').ok_or(CommandError::Syntax(HINT))?;
    let mut words = rest.split(' ');
    let size = words
        .next()
        .filter(|w| !w.is_empty() && w.len() <= 19 && w.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|w| w.parse::<u64>().ok())
        .ok_or(CommandError::Syntax(HINT))?;
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(CommandError::Syntax(HINT)),
    };
    if words.any(|w| !w.is_empty()) {
        return Err(CommandError::Syntax(HINT));
    }
    Ok(Command::Bdat { size, last })
}

/// Arguments of commands that take none: only trailing spaces are tolerated.
fn no_args(args: &[u8], cmd: Command, hint: &'static str) -> Result<Command, CommandError> {
    if args.iter().all(|&b| b == b' ') {
        Ok(cmd)
    } else {
        Err(CommandError::Syntax(hint))
    }
}

/// `SP String` of NOOP, HELP, VRFY, EXPN: everything after the first space, trimmed.
fn optional_text(args: &[u8]) -> Option<String> {
    let text = args.trim_ascii();
    if text.is_empty() {
        None
    } else {
        Some(to_string(text))
    }
}

/// `EHLO SP ( Domain / address-literal )`, leniently: one token of visible characters.
fn hello_arg(args: &[u8], hint: &'static str) -> Result<String, CommandError> {
    let text = args.trim_ascii();
    if text.is_empty() || text.iter().any(|&b| b == b' ' || b < 0x21 || b == 0x7f) {
        return Err(CommandError::Syntax(hint));
    }
    Ok(to_string(text))
}

/// `Mail-parameters = esmtp-param *(SP esmtp-param)`, each preceded by one or more spaces.
fn parameters(i: &[u8]) -> PResult<'_, Vec<Parameter>> {
    let (i, params) = many0(preceded(take_while1(|b| b == b' '), esmtp_param)).parse(i)?;
    let (i, _) = take_while(|b| b == b' ').parse(i)?;
    Ok((i, params))
}

/// `esmtp-param = esmtp-keyword ["=" esmtp-value]`
///
/// `esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")`,
/// `esmtp-value = 1*(%d33-60 / %d62-126)` plus UTF-8 (RFC 6531).
fn esmtp_param(i: &[u8]) -> PResult<'_, Parameter> {
    let (i, keyword) = recognize((
        take_while_m_n(1, 1, |b: u8| b.is_ascii_alphanumeric()),
        take_while(|b: u8| b.is_ascii_alphanumeric() || b == b'-'),
    ))
    .parse(i)?;
    let (i, value) = opt(preceded(
        tag("="),
        take_while1(|b: u8| (33..=126).contains(&b) && b != b'=' || b >= 0x80),
    ))
    .parse(i)?;
    Ok((
        i,
        Parameter {
            keyword: to_string(keyword),
            value: value.map(to_string),
        },
    ))
}

/// `"MAIL FROM:" Reverse-path [SP Mail-parameters]`.
///
/// Lenient like Postfix: spaces are allowed after the colon and a path without angle
/// brackets is accepted.
fn mail_args(i: &[u8]) -> PResult<'_, Command> {
    let (i, _) = (
        take_while1(|b| b == b' '),
        tag_no_case("FROM:"),
        take_while(|b| b == b' '),
    )
        .parse(i)?;
    let (i, from) = alt((
        map(tag("<>"), |_| ReversePath::Null),
        map(path, ReversePath::Mailbox),
    ))
    .parse(i)?;
    let (i, params) = parameters(i)?;
    Ok((i, Command::Mail { from, params }))
}

/// `"RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path ) [SP Rcpt-parameters]`.
fn rcpt_args(i: &[u8]) -> PResult<'_, Command> {
    let (i, _) = (
        take_while1(|b| b == b' '),
        tag_no_case("TO:"),
        take_while(|b| b == b' '),
    )
        .parse(i)?;
    let (i, to) = alt((
        map(tag_no_case("<Postmaster>"), |_| ForwardPath::Postmaster),
        map(path, ForwardPath::Mailbox),
    ))
    .parse(i)?;
    let (i, params) = parameters(i)?;
    Ok((i, Command::Rcpt { to, params }))
}

/// `AUTH SP sasl-mech [SP initial-response]` (RFC 4954 §4).
fn auth_args(i: &[u8]) -> PResult<'_, Command> {
    let (i, _) = take_while1(|b| b == b' ').parse(i)?;
    let (i, mech) = take_while_m_n(1, 20, |b: u8| {
        b.is_ascii_uppercase()
            || b.is_ascii_lowercase()
            || b.is_ascii_digit()
            || b == b'-'
            || b == b'_'
    })
    .parse(i)?;
    let (i, initial) = opt(preceded(
        take_while1(|b| b == b' '),
        take_while1(|b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='),
    ))
    .parse(i)?;
    let (i, _) = take_while(|b| b == b' ').parse(i)?;
    Ok((
        i,
        Command::Auth {
            mechanism: to_string(mech).to_ascii_uppercase(),
            initial_response: initial.map(to_string),
        },
    ))
}

/// `Path = "<" [ A-d-l ":" ] Mailbox ">"`, or a bare `Mailbox` (lenient).
///
/// A source route (`A-d-l`) is accepted and ignored (RFC 5321 §4.1.2, Appendix C).
pub fn path(i: &[u8]) -> PResult<'_, Mailbox> {
    alt((
        delimited(tag("<"), preceded(opt(source_route), mailbox), tag(">")),
        mailbox,
    ))
    .parse(i)
}

/// `A-d-l = At-domain *( "," At-domain )`, `At-domain = "@" Domain`, then `":"`.
fn source_route(i: &[u8]) -> PResult<'_, ()> {
    let (i, _) = separated_list1(tag(","), preceded(tag("@"), domain)).parse(i)?;
    let (i, _) = tag(":").parse(i)?;
    Ok((i, ()))
}

/// `Mailbox = Local-part "@" ( Domain / address-literal )`.
pub fn mailbox(i: &[u8]) -> PResult<'_, Mailbox> {
    let (i, local) = local_part(i)?;
    let (i, _) = tag("@").parse(i)?;
    let (i, dom) = alt((address_literal, domain)).parse(i)?;
    Ok((
        i,
        Mailbox {
            local_part: to_string(local),
            domain: to_string(dom),
        },
    ))
}

/// `atext` of RFC 5322 §3.2.3, plus any UTF-8 byte (RFC 6531 §3.3).
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'/'
                | b'='
                | b'?'
                | b'^'
                | b'_'
                | b'`'
                | b'{'
                | b'|'
                | b'}'
                | b'~'
        )
        || b >= 0x80
}

/// `Local-part = Dot-string / Quoted-string`, at most 64 octets (RFC 5321 §4.5.3.1.1).
fn local_part(i: &[u8]) -> PResult<'_, &[u8]> {
    verify(alt((dot_string, quoted_string)), |s: &[u8]| s.len() <= 64).parse(i)
}

/// `Dot-string = Atom *("."  Atom)`.
fn dot_string(i: &[u8]) -> PResult<'_, &[u8]> {
    recognize(separated_list1(tag("."), take_while1(is_atext))).parse(i)
}

/// `Quoted-string = DQUOTE *QcontentSMTP DQUOTE`, with `quoted-pairSMTP = %d92 %d32-126`.
fn quoted_string(i: &[u8]) -> PResult<'_, &[u8]> {
    recognize((
        tag("\""),
        many0(alt((
            take_while1(|b: u8| {
                (b == 32 || b == 33 || (35..=91).contains(&b) || (93..=126).contains(&b))
                    || b >= 0x80
            }),
            recognize((
                tag("\\"),
                take_while_m_n(1, 1, |b: u8| (32..=126).contains(&b)),
            )),
        ))),
        tag("\""),
    ))
    .parse(i)
}

/// `Domain = sub-domain *("." sub-domain)`, `sub-domain = Let-dig [Ldh-str]`, with UTF-8
/// U-labels and underscores tolerated; at most 255 octets.
pub fn domain(i: &[u8]) -> PResult<'_, &[u8]> {
    verify(
        recognize(separated_list1(
            tag("."),
            take_while1(|b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b >= 0x80),
        )),
        |d: &[u8]| d.len() <= 255,
    )
    .parse(i)
}

/// `address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
/// General-address-literal ) "]"`, checked leniently for allowed characters.
fn address_literal(i: &[u8]) -> PResult<'_, &[u8]> {
    recognize(delimited(
        tag("["),
        take_while1(|b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b':' || b == b'-'),
        tag("]"),
    ))
    .parse(i)
}

/// Why a reply could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed SMTP reply")]
pub struct ReplyError;

impl<I> ParseError<I> for ReplyError {
    fn from_error_kind(_input: I, _kind: ErrorKind) -> Self {
        ReplyError
    }

    fn append(_input: I, _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

/// `Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF`
/// (RFC 5321 §4.2), with an enhanced status code (RFC 2034) recognised at the start of
/// each line when its class matches the first digit of the reply code.
///
/// Streaming: `Incomplete` until the last line has arrived.
pub fn reply(input: &[u8]) -> IResult<&[u8], Reply, ReplyError> {
    let mut rest = input;
    let mut code: Option<u16> = None;
    let mut enhanced: Option<EnhancedCode> = None;
    let mut lines = Vec::new();
    loop {
        let Some(lf) = line_end(rest) else {
            return Err(nom::Err::Incomplete(Needed::Unknown));
        };
        let mut line = &rest[..lf];
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        rest = &rest[lf + 1..];
        if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
            return Err(nom::Err::Error(ReplyError));
        }
        let this_code =
            (line[0] - b'0') as u16 * 100 + (line[1] - b'0') as u16 * 10 + (line[2] - b'0') as u16;
        if !(200..600).contains(&this_code) || code.is_some_and(|c| c != this_code) {
            return Err(nom::Err::Error(ReplyError));
        }
        code = Some(this_code);
        let (last, text) = match line.get(3) {
            None => (true, &line[3..]),
            Some(b' ') => (true, &line[4..]),
            Some(b'-') => (false, &line[4..]),
            Some(_) => return Err(nom::Err::Error(ReplyError)),
        };
        let text = match split_enhanced(text, (this_code / 100) as u8) {
            Some((e, t)) => {
                enhanced.get_or_insert(e);
                t
            }
            None => text,
        };
        lines.push(String::from_utf8_lossy(text).into_owned());
        if last {
            return Ok((
                rest,
                Reply {
                    code: this_code,
                    enhanced,
                    lines,
                },
            ));
        }
    }
}

/// `status-code = class "." subject "." detail` followed by a space, at the start of text.
fn split_enhanced(text: &[u8], class: u8) -> Option<(EnhancedCode, &[u8])> {
    fn number(i: &[u8]) -> IResult<&[u8], u16, ReplyError> {
        let (i, digits) = take_while_m_n(1, 3, |b: u8| b.is_ascii_digit()).parse(i)?;
        let n = digits.iter().fold(0u16, |n, d| n * 10 + (d - b'0') as u16);
        Ok((i, n))
    }
    let parsed: IResult<&[u8], (u16, u16, u16), ReplyError> = (
        number,
        preceded(tag("."), number),
        preceded(tag("."), number),
    )
        .parse(text);
    let (rest, (c, s, d)) = parsed.ok()?;
    if c != class as u16 {
        return None;
    }
    let rest = if rest.is_empty() {
        rest
    } else {
        rest.strip_prefix(b" ")?
    };
    Some((EnhancedCode::new(class, s, d), rest))
}
