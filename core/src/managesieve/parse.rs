//! ManageSieve commands (RFC 5804 §2, §4): a command name and arguments separated by
//! spaces, each a string (quoted, or a literal `{n+}`/`{n}` whose octets follow the
//! line end) or a number, then CRLF. The machine frames a command (literals included)
//! before it is parsed here; [`encode_command`] writes one, as a client would.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while1};
use nom::combinator::{eof, map, opt};
use nom::multi::many0;
use nom::sequence::preceded;
use nom::{IResult, Parser};

use crate::imap::lex::{literal, number, quoted};

/// One ManageSieve command.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command {
    /// `AUTHENTICATE mechanism [initial-response]` (§2.1).
    Authenticate {
        /// The SASL mechanism, upper-cased.
        mechanism: String,
        /// The base64 initial response, if given.
        initial: Option<Vec<u8>>,
    },
    /// `STARTTLS` (§2.2).
    StartTls,
    /// `LOGOUT` (§2.3).
    Logout,
    /// `CAPABILITY` (§2.4).
    Capability,
    /// `HAVESPACE name size` (§2.5).
    HaveSpace {
        /// The script's name.
        name: String,
        /// Its size in octets.
        size: u64,
    },
    /// `PUTSCRIPT name script` (§2.6).
    PutScript {
        /// The script's name.
        name: String,
        /// Its text.
        script: Vec<u8>,
    },
    /// `LISTSCRIPTS` (§2.7).
    ListScripts,
    /// `SETACTIVE name` (§2.8); `""` deactivates.
    SetActive(String),
    /// `GETSCRIPT name` (§2.9).
    GetScript(String),
    /// `DELETESCRIPT name` (§2.10).
    DeleteScript(String),
    /// `RENAMESCRIPT old new` (§2.11.1).
    RenameScript {
        /// The current name.
        old: String,
        /// The new name.
        new: String,
    },
    /// `CHECKSCRIPT script` (§2.12).
    CheckScript(Vec<u8>),
    /// `NOOP [tag]` (§2.13).
    Noop(Option<String>),
    /// `UNAUTHENTICATE` (§2.14).
    Unauthenticate,
}

/// One argument as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Arg {
    Str(Vec<u8>),
    Num(u64),
}

fn argument(i: &[u8]) -> IResult<&[u8], Arg> {
    alt((
        map(quoted, Arg::Str),
        map(literal, Arg::Str),
        map(number, Arg::Num),
    ))
    .parse(i)
}

/// `command-name *(SP argument) CRLF` (a bare LF is taken too).
fn command_line(i: &[u8]) -> IResult<&[u8], (String, Vec<Arg>)> {
    let (i, name) = take_while1(|c: u8| c.is_ascii_alphabetic())(i)?;
    let (i, args) = many0(preceded(tag(" "), argument)).parse(i)?;
    let (i, _) = (opt(tag("\r")), tag("\n"), eof).parse(i)?;
    Ok((
        i,
        (String::from_utf8_lossy(name).to_ascii_uppercase(), args),
    ))
}

/// A text argument (script names, tags, mechanisms): UTF-8.
fn text(arg: Arg) -> Result<String, String> {
    match arg {
        Arg::Str(b) => String::from_utf8(b).map_err(|_| "string is not UTF-8".to_string()),
        Arg::Num(_) => Err("expected a string".into()),
    }
}

/// Parses one framed command (its line end and any literal octets included).
pub fn parse_command(bytes: &[u8]) -> Result<Command, String> {
    let (_, (name, args)) = command_line(bytes).map_err(|_| "Syntax error".to_string())?;
    let arity = |n: std::ops::RangeInclusive<usize>| {
        if n.contains(&args.len()) {
            Ok(())
        } else {
            Err(format!("Wrong number of arguments for {name}"))
        }
    };
    let mut it = args.clone().into_iter();
    let mut next = || it.next().ok_or_else(|| "missing argument".to_string());
    let cmd = match name.as_str() {
        "AUTHENTICATE" => {
            arity(1..=2)?;
            let mechanism = text(next()?)?.to_ascii_uppercase();
            let initial = match args.get(1) {
                Some(Arg::Str(b)) => Some(b.clone()),
                Some(Arg::Num(_)) => return Err("expected a string".into()),
                None => None,
            };
            Command::Authenticate { mechanism, initial }
        }
        "STARTTLS" => arity(0..=0).map(|_| Command::StartTls)?,
        "LOGOUT" => arity(0..=0).map(|_| Command::Logout)?,
        "CAPABILITY" => arity(0..=0).map(|_| Command::Capability)?,
        "LISTSCRIPTS" => arity(0..=0).map(|_| Command::ListScripts)?,
        "UNAUTHENTICATE" => arity(0..=0).map(|_| Command::Unauthenticate)?,
        "HAVESPACE" => {
            arity(2..=2)?;
            let name = text(next()?)?;
            let Arg::Num(size) = next()? else {
                return Err("HAVESPACE needs a number".into());
            };
            Command::HaveSpace { name, size }
        }
        "PUTSCRIPT" => {
            arity(2..=2)?;
            let name = text(next()?)?;
            let Arg::Str(script) = next()? else {
                return Err("PUTSCRIPT needs the script as a string".into());
            };
            Command::PutScript { name, script }
        }
        "CHECKSCRIPT" => {
            arity(1..=1)?;
            let Arg::Str(script) = next()? else {
                return Err("CHECKSCRIPT needs the script as a string".into());
            };
            Command::CheckScript(script)
        }
        "SETACTIVE" => arity(1..=1).and_then(|_| Ok(Command::SetActive(text(next()?)?)))?,
        "GETSCRIPT" => arity(1..=1).and_then(|_| Ok(Command::GetScript(text(next()?)?)))?,
        "DELETESCRIPT" => arity(1..=1).and_then(|_| Ok(Command::DeleteScript(text(next()?)?)))?,
        "RENAMESCRIPT" => {
            arity(2..=2)?;
            let old = text(next()?)?;
            let new = text(next()?)?;
            Command::RenameScript { old, new }
        }
        "NOOP" => {
            arity(0..=1)?;
            Command::Noop(match args.first() {
                Some(_) => Some(text(next()?)?),
                None => None,
            })
        }
        _ => return Err("Unknown command".into()),
    };
    Ok(cmd)
}

/// A string as the server (or a client) writes it: quoted when short and plain, else a
/// literal (`{n}` from the server, `{n+}` from a client).
fn string(out: &mut Vec<u8>, s: &[u8], client: bool) {
    let plain = s.len() <= 1024 && !s.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0);
    if plain {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        let plus = if client { "+" } else { "" };
        out.extend_from_slice(format!("{{{}{plus}}}\r\n", s.len()).as_bytes());
        out.extend_from_slice(s);
    }
}

/// A string in a server response (§4): quoted, or a `{n}` literal.
pub fn sieve_string(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    string(&mut out, s, false);
    out
}

/// Writes `cmd` as a client sends it (strings quoted or `{n+}` literals), CRLF-ended.
pub fn encode_command(cmd: &Command) -> Vec<u8> {
    let mut out = Vec::new();
    let word = |out: &mut Vec<u8>, w: &str| out.extend_from_slice(w.as_bytes());
    let arg = |out: &mut Vec<u8>, s: &[u8]| {
        out.push(b' ');
        string(out, s, true);
    };
    match cmd {
        Command::Authenticate { mechanism, initial } => {
            word(&mut out, "AUTHENTICATE");
            arg(&mut out, mechanism.as_bytes());
            if let Some(i) = initial {
                arg(&mut out, i);
            }
        }
        Command::StartTls => word(&mut out, "STARTTLS"),
        Command::Logout => word(&mut out, "LOGOUT"),
        Command::Capability => word(&mut out, "CAPABILITY"),
        Command::ListScripts => word(&mut out, "LISTSCRIPTS"),
        Command::Unauthenticate => word(&mut out, "UNAUTHENTICATE"),
        Command::HaveSpace { name, size } => {
            word(&mut out, "HAVESPACE");
            arg(&mut out, name.as_bytes());
            out.extend_from_slice(format!(" {size}").as_bytes());
        }
        Command::PutScript { name, script } => {
            word(&mut out, "PUTSCRIPT");
            arg(&mut out, name.as_bytes());
            arg(&mut out, script);
        }
        Command::CheckScript(script) => {
            word(&mut out, "CHECKSCRIPT");
            arg(&mut out, script);
        }
        Command::SetActive(n) | Command::GetScript(n) | Command::DeleteScript(n) => {
            word(
                &mut out,
                match cmd {
                    Command::SetActive(_) => "SETACTIVE",
                    Command::GetScript(_) => "GETSCRIPT",
                    _ => "DELETESCRIPT",
                },
            );
            arg(&mut out, n.as_bytes());
        }
        Command::RenameScript { old, new } => {
            word(&mut out, "RENAMESCRIPT");
            arg(&mut out, old.as_bytes());
            arg(&mut out, new.as_bytes());
        }
        Command::Noop(tag) => {
            word(&mut out, "NOOP");
            if let Some(t) = tag {
                arg(&mut out, t.as_bytes());
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_with_quoted_strings_literals_and_numbers() {
        assert_eq!(
            parse_command(b"putscript \"main\" {9+}\r\nkeep;\r\n\r\n\r\n"),
            Ok(Command::PutScript {
                name: "main".into(),
                script: b"keep;\r\n\r\n".to_vec()
            })
        );
        assert_eq!(
            parse_command(b"HAVESPACE \"a \\\"b\\\"\" 1000\r\n"),
            Ok(Command::HaveSpace {
                name: "a \"b\"".into(),
                size: 1000
            })
        );
        assert_eq!(
            parse_command(b"Authenticate \"plain\"\n"),
            Ok(Command::Authenticate {
                mechanism: "PLAIN".into(),
                initial: None
            })
        );
        assert_eq!(
            parse_command(b"SETACTIVE \"\"\r\n"),
            Ok(Command::SetActive(String::new()))
        );
        assert_eq!(parse_command(b"NOOP\r\n"), Ok(Command::Noop(None)));
    }

    #[test]
    fn bad_commands_say_why() {
        assert!(parse_command(b"FROB\r\n").unwrap_err().contains("Unknown"));
        assert!(parse_command(b"LISTSCRIPTS \"x\"\r\n")
            .unwrap_err()
            .contains("number of arguments"));
        assert!(parse_command(b"HAVESPACE \"x\" \"y\"\r\n").is_err());
        assert!(parse_command(b"GETSCRIPT \"x\r\n").is_err());
        assert!(parse_command(b"GETSCRIPT \"\xff\"\r\n")
            .unwrap_err()
            .contains("UTF-8"));
        assert!(parse_command(b"GETSCRIPT \"x\"").is_err());
        assert!(parse_command(b"").is_err());
    }

    #[test]
    fn server_strings_are_quoted_or_literal() {
        assert_eq!(sieve_string(b"a\"b"), b"\"a\\\"b\"");
        assert_eq!(sieve_string(b"x\r\ny"), b"{4}\r\nx\r\ny");
    }
}
