//! The Sieve grammar (RFC 5228 §2, §8): lexer and parser to a compact AST, with
//! line:column errors. Validation of commands and `require` lives in `validate`.

use std::fmt;

/// A position in the script (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line.
    pub line: u32,
    /// Column.
    pub column: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A script error with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pos}: {message}")]
pub struct SieveError {
    /// Where.
    pub pos: Pos,
    /// What.
    pub message: String,
}

/// One argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Argument {
    /// A string or a string list.
    Strings(Vec<String>),
    /// A number (K/M/G applied).
    Number(u64),
    /// A tag such as `:is` (lower-cased, without the colon).
    Tag(String),
}

/// A test: identifier, arguments, nested tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Test {
    /// Lower-cased name.
    pub name: String,
    /// Arguments.
    pub args: Vec<Argument>,
    /// Nested tests (allof, anyof, not).
    pub tests: Vec<Test>,
    /// Where it starts.
    pub pos: Pos,
}

/// A command: identifier, arguments, tests, block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Lower-cased name.
    pub name: String,
    /// Arguments.
    pub args: Vec<Argument>,
    /// The test of if/elsif.
    pub test: Option<Test>,
    /// The block of if/elsif/else.
    pub block: Vec<Command>,
    /// Where it starts.
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Tag(String),
    Number(u64),
    Str(String),
    Punct(u8),
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
    line: u32,
    col: u32,
}

fn err<T>(pos: Pos, m: impl Into<String>) -> Result<T, SieveError> {
    Err(SieveError {
        pos,
        message: m.into(),
    })
}

impl Lexer<'_> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.col,
        }
    }

    fn bump(&mut self) -> Option<u8> {
        let c = *self.s.get(self.i)?;
        self.i += 1;
        if c == b'\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_space(&mut self) -> Result<(), SieveError> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r' | b'\n') => {
                    self.bump();
                }
                Some(b'#') => {
                    while let Some(c) = self.bump() {
                        if c == b'\n' {
                            break;
                        }
                    }
                }
                Some(b'/') if self.s.get(self.i + 1) == Some(&b'*') => {
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    loop {
                        match self.bump() {
                            None => return err(start, "unterminated comment"),
                            Some(b'*') if self.peek() == Some(b'/') => {
                                self.bump();
                                break;
                            }
                            _ => {}
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn next(&mut self) -> Result<Option<(Pos, Tok)>, SieveError> {
        self.skip_space()?;
        let pos = self.pos();
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        let tok = match c {
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let s = self.i;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.bump();
                }
                let word = String::from_utf8_lossy(&self.s[s..self.i]).to_ascii_lowercase();
                if word == "text" && self.peek() == Some(b':') {
                    self.bump();
                    return Ok(Some((pos, Tok::Str(self.multiline(pos)?))));
                }
                Tok::Ident(word)
            }
            b':' => {
                self.bump();
                let s = self.i;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.bump();
                }
                if s == self.i {
                    return err(pos, "expected a tag name after ':'");
                }
                Tok::Tag(String::from_utf8_lossy(&self.s[s..self.i]).to_ascii_lowercase())
            }
            b'0'..=b'9' => {
                let s = self.i;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.bump();
                }
                let n: u64 = std::str::from_utf8(&self.s[s..self.i])
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or(SieveError {
                        pos,
                        message: "number too large".into(),
                    })?;
                let mult = match self.peek() {
                    Some(b'K' | b'k') => 1u64 << 10,
                    Some(b'M' | b'm') => 1 << 20,
                    Some(b'G' | b'g') => 1 << 30,
                    _ => 1,
                };
                if mult > 1 {
                    self.bump();
                }
                Tok::Number(n.saturating_mul(mult))
            }
            b'"' => {
                self.bump();
                let mut out = Vec::new();
                loop {
                    match self.bump() {
                        None => return err(pos, "unterminated string"),
                        Some(b'"') => break,
                        Some(b'\\') => match self.bump() {
                            Some(c) => out.push(c),
                            None => return err(pos, "unterminated string"),
                        },
                        Some(c) => out.push(c),
                    }
                }
                Tok::Str(String::from_utf8_lossy(&out).into_owned())
            }
            b'[' | b']' | b'(' | b')' | b',' | b';' | b'{' | b'}' => {
                self.bump();
                Tok::Punct(c)
            }
            other => return err(pos, format!("unexpected character {:?}", other as char)),
        };
        Ok(Some((pos, tok)))
    }

    /// `text:` up to a line holding only `.`, with dot-stuffing removed.
    fn multiline(&mut self, pos: Pos) -> Result<String, SieveError> {
        // The rest of the `text:` line: spaces and an optional comment.
        loop {
            match self.bump() {
                Some(b' ' | b'\t' | b'\r') => {}
                Some(b'#') => {
                    while let Some(c) = self.bump() {
                        if c == b'\n' {
                            break;
                        }
                    }
                    break;
                }
                Some(b'\n') => break,
                _ => return err(pos, "text: must be followed by a line end"),
            }
        }
        let mut out = String::new();
        loop {
            let s = self.i;
            let mut ended = false;
            while let Some(c) = self.bump() {
                if c == b'\n' {
                    ended = true;
                    break;
                }
            }
            let line = &self.s[s..self.i];
            if !ended && line.is_empty() {
                return err(
                    pos,
                    "unterminated text: string (a line with only '.' ends it)",
                );
            }
            let content = line.strip_suffix(b"\n").unwrap_or(line);
            let content = content.strip_suffix(b"\r").unwrap_or(content);
            if content == b"." {
                return Ok(out);
            }
            let content = content
                .strip_prefix(b".")
                .filter(|c| c.starts_with(b"."))
                .unwrap_or(content);
            out.push_str(&String::from_utf8_lossy(content));
            out.push_str("\r\n");
            if !ended {
                return err(
                    pos,
                    "unterminated text: string (a line with only '.' ends it)",
                );
            }
        }
    }
}

struct Parser {
    toks: Vec<(Pos, Tok)>,
    i: usize,
    end: Pos,
}

/// Longest nesting of blocks and tests.
const MAX_DEPTH: usize = 32;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.1)
    }

    fn pos(&self) -> Pos {
        self.toks.get(self.i).map_or(self.end, |t| t.0)
    }

    fn take(&mut self) -> Option<(Pos, Tok)> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }

    fn commands(&mut self, depth: usize, in_block: bool) -> Result<Vec<Command>, SieveError> {
        if depth > MAX_DEPTH {
            return err(self.pos(), "blocks nested too deep");
        }
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None if !in_block => return Ok(out),
                None => return err(self.pos(), "missing '}' at the end of a block"),
                Some(Tok::Punct(b'}')) if in_block => {
                    self.take();
                    return Ok(out);
                }
                Some(Tok::Ident(_)) => out.push(self.command(depth)?),
                _ => return err(self.pos(), "expected a command"),
            }
        }
    }

    fn command(&mut self, depth: usize) -> Result<Command, SieveError> {
        let Some((pos, Tok::Ident(name))) = self.take() else {
            return err(self.pos(), "expected a command");
        };
        let args = self.arguments()?;
        let mut test = None;
        if matches!(self.peek(), Some(Tok::Ident(_))) {
            test = Some(self.test(depth + 1)?);
        } else if matches!(self.peek(), Some(Tok::Punct(b'('))) {
            return err(
                self.pos(),
                format!("{name}: a test list is not allowed here"),
            );
        }
        let mut block = Vec::new();
        match self.take() {
            Some((_, Tok::Punct(b';'))) => {}
            Some((_, Tok::Punct(b'{'))) => block = self.commands(depth + 1, true)?,
            Some((p, _)) => return err(p, format!("{name}: expected ';' or a block")),
            None => return err(self.end, format!("{name}: missing ';'")),
        }
        Ok(Command {
            name,
            args,
            test,
            block,
            pos,
        })
    }

    fn arguments(&mut self) -> Result<Vec<Argument>, SieveError> {
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Some(Tok::Tag(_)) => {
                    if let Some((_, Tok::Tag(t))) = self.take() {
                        out.push(Argument::Tag(t));
                    }
                }
                Some(Tok::Number(_)) => {
                    if let Some((_, Tok::Number(n))) = self.take() {
                        out.push(Argument::Number(n));
                    }
                }
                Some(Tok::Str(_)) => {
                    if let Some((_, Tok::Str(s))) = self.take() {
                        out.push(Argument::Strings(vec![s]));
                    }
                }
                Some(Tok::Punct(b'[')) => {
                    self.take();
                    let mut list = Vec::new();
                    loop {
                        match self.take() {
                            Some((_, Tok::Str(s))) => list.push(s),
                            Some((p, _)) => return err(p, "expected a string in the string list"),
                            None => return err(self.end, "unterminated string list"),
                        }
                        match self.take() {
                            Some((_, Tok::Punct(b','))) => {}
                            Some((_, Tok::Punct(b']'))) => break,
                            Some((p, _)) => {
                                return err(p, "expected ',' or ']' in the string list")
                            }
                            None => return err(self.end, "unterminated string list"),
                        }
                    }
                    out.push(Argument::Strings(list));
                }
                _ => return Ok(out),
            }
        }
    }

    fn test(&mut self, depth: usize) -> Result<Test, SieveError> {
        if depth > MAX_DEPTH {
            return err(self.pos(), "tests nested too deep");
        }
        let Some((pos, Tok::Ident(name))) = self.take() else {
            return err(self.pos(), "expected a test");
        };
        let args = self.arguments()?;
        let mut tests = Vec::new();
        if matches!(self.peek(), Some(Tok::Punct(b'('))) {
            self.take();
            loop {
                tests.push(self.test(depth + 1)?);
                match self.take() {
                    Some((_, Tok::Punct(b','))) => {}
                    Some((_, Tok::Punct(b')'))) => break,
                    Some((p, _)) => return err(p, "expected ',' or ')' in the test list"),
                    None => return err(self.end, "unterminated test list"),
                }
            }
        } else if matches!(self.peek(), Some(Tok::Ident(_))) {
            tests.push(self.test(depth + 1)?);
        }
        Ok(Test {
            name,
            args,
            tests,
            pos,
        })
    }
}

/// Largest script accepted.
pub const MAX_SCRIPT: usize = 256 * 1024;

/// Parses a script into commands (no validation of names or arguments).
pub fn parse(script: &str) -> Result<Vec<Command>, SieveError> {
    if script.len() > MAX_SCRIPT {
        return err(Pos { line: 1, column: 1 }, "script too large");
    }
    let mut lx = Lexer {
        s: script.as_bytes(),
        i: 0,
        line: 1,
        col: 1,
    };
    let mut toks = Vec::new();
    while let Some(t) = lx.next()? {
        toks.push(t);
    }
    let end = lx.pos();
    let mut p = Parser { toks, i: 0, end };
    p.commands(0, false)
}
