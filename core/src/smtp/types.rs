//! SMTP value types: commands, paths, parameters and replies (RFC 5321 §4.1).

use std::fmt;

/// A mailbox `Local-part "@" ( Domain / address-literal )` (RFC 5321 §4.1.2).
///
/// `local_part` keeps the text as sent: a dot-string, or a quoted-string with its quotes
/// and escapes. `domain` is a domain name or an address literal such as `[192.0.2.1]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// The local part exactly as written on the wire.
    pub local_part: String,
    /// The domain or address literal exactly as written on the wire.
    pub domain: String,
}

impl Mailbox {
    /// Builds a mailbox from its two halves.
    pub fn new(local_part: impl Into<String>, domain: impl Into<String>) -> Self {
        Self {
            local_part: local_part.into(),
            domain: domain.into(),
        }
    }

    /// The local part with quoting removed (`"a b"` → `a b`), for lookups.
    pub fn local_part_unquoted(&self) -> String {
        let lp = self.local_part.as_str();
        if lp.len() >= 2 && lp.starts_with('"') && lp.ends_with('"') {
            let inner = &lp[1..lp.len() - 1];
            let mut out = String::with_capacity(inner.len());
            let mut escaped = false;
            for c in inner.chars() {
                if escaped {
                    out.push(c);
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else {
                    out.push(c);
                }
            }
            out
        } else {
            lp.to_string()
        }
    }

    /// The domain in lower case, for comparisons (domains are case-insensitive).
    pub fn domain_lowercase(&self) -> String {
        self.domain.to_ascii_lowercase()
    }

    /// Whether two mailboxes name the same address: the local part compared exactly,
    /// the domain case-insensitively (RFC 5321 §2.4).
    pub fn same_address(&self, other: &Mailbox) -> bool {
        self.local_part == other.local_part && self.domain.eq_ignore_ascii_case(&other.domain)
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local_part, self.domain)
    }
}

/// The argument of `MAIL FROM:` (RFC 5321 §4.1.2 `Reverse-path`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReversePath {
    /// `<>`: the null sender used by bounces and auto-replies.
    Null,
    /// A sender mailbox.
    Mailbox(Mailbox),
}

impl fmt::Display for ReversePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => Ok(()),
            ReversePath::Mailbox(m) => m.fmt(f),
        }
    }
}

/// The argument of `RCPT TO:` (RFC 5321 §4.1.2 `Forward-path`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ForwardPath {
    /// `<Postmaster>` without a domain, which every server must accept (RFC 5321 §4.5.1).
    Postmaster,
    /// A recipient mailbox.
    Mailbox(Mailbox),
}

impl ForwardPath {
    /// Whether two forward paths name the same recipient.
    pub fn same_address(&self, other: &ForwardPath) -> bool {
        match (self, other) {
            (ForwardPath::Postmaster, ForwardPath::Postmaster) => true,
            (ForwardPath::Mailbox(a), ForwardPath::Mailbox(b)) => a.same_address(b),
            _ => false,
        }
    }
}

impl fmt::Display for ForwardPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardPath::Postmaster => f.write_str("Postmaster"),
            ForwardPath::Mailbox(m) => m.fmt(f),
        }
    }
}

/// One ESMTP parameter `esmtp-keyword ["=" esmtp-value]` (RFC 5321 §4.1.2).
///
/// The keyword keeps the case it was sent in; compare it with
/// [`Parameter::is`], which ignores case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Parameter {
    /// The keyword, e.g. `SIZE` or `BODY`.
    pub keyword: String,
    /// The value after `=`, if any.
    pub value: Option<String>,
}

impl Parameter {
    /// Builds a parameter.
    pub fn new(keyword: impl Into<String>, value: Option<&str>) -> Self {
        Self {
            keyword: keyword.into(),
            value: value.map(str::to_string),
        }
    }

    /// Whether this parameter's keyword is `name`, ignoring case.
    pub fn is(&self, name: &str) -> bool {
        self.keyword.eq_ignore_ascii_case(name)
    }
}

/// An SMTP command (RFC 5321 §4.1.1, plus STARTTLS from RFC 3207, AUTH from RFC 4954 and
/// LMTP's LHLO from RFC 2033).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command {
    /// `EHLO domain-or-literal`.
    Ehlo(String),
    /// `HELO domain`.
    Helo(String),
    /// `LHLO domain` (RFC 2033 §4.1): the LMTP greeting, answered like EHLO.
    Lhlo(String),
    /// `MAIL FROM:<reverse-path> [params]`.
    Mail {
        /// The sender.
        from: ReversePath,
        /// ESMTP parameters (SIZE, BODY, SMTPUTF8, ...).
        params: Vec<Parameter>,
    },
    /// `RCPT TO:<forward-path> [params]`.
    Rcpt {
        /// The recipient.
        to: ForwardPath,
        /// ESMTP parameters (NOTIFY, ORCPT, ...).
        params: Vec<Parameter>,
    },
    /// `DATA`.
    Data,
    /// `BDAT size [LAST]` (RFC 3030 CHUNKING): `size` octets of message follow the line.
    Bdat {
        /// Octets in the chunk.
        size: u64,
        /// The message's last chunk.
        last: bool,
    },
    /// `RSET`.
    Rset,
    /// `NOOP [string]`.
    Noop(Option<String>),
    /// `QUIT`.
    Quit,
    /// `VRFY string`.
    Vrfy(String),
    /// `EXPN string`.
    Expn(String),
    /// `HELP [string]`.
    Help(Option<String>),
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954).
    Auth {
        /// The SASL mechanism name, upper-cased.
        mechanism: String,
        /// The base64 initial response, or `=` for an empty one.
        initial_response: Option<String>,
    },
}

impl Command {
    /// The command verb, upper-case, for logs and replies.
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Ehlo(_) => "EHLO",
            Command::Helo(_) => "HELO",
            Command::Lhlo(_) => "LHLO",
            Command::Mail { .. } => "MAIL",
            Command::Rcpt { .. } => "RCPT",
            Command::Data => "DATA",
            Command::Bdat { .. } => "BDAT",
            Command::Rset => "RSET",
            Command::Noop(_) => "NOOP",
            Command::Quit => "QUIT",
            Command::Vrfy(_) => "VRFY",
            Command::Expn(_) => "EXPN",
            Command::Help(_) => "HELP",
            Command::StartTls => "STARTTLS",
            Command::Auth { .. } => "AUTH",
        }
    }
}

/// An enhanced mail system status code `class.subject.detail` (RFC 3463, RFC 2034).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    pub class: u8,
    /// The subject, 0..=999.
    pub subject: u16,
    /// The detail, 0..=999.
    pub detail: u16,
}

impl EnhancedCode {
    /// Builds a code; `class` must be 2, 4 or 5 to be valid on the wire.
    pub const fn new(class: u8, subject: u16, detail: u16) -> Self {
        Self {
            class,
            subject,
            detail,
        }
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// A server reply: a three-digit code, an optional enhanced code shown on every line, and
/// one or more lines of text (RFC 5321 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reply {
    /// The reply code, 200..=599.
    pub code: u16,
    /// The enhanced status code, if any (RFC 2034).
    pub enhanced: Option<EnhancedCode>,
    /// The text lines; never empty when encoded (an empty list encodes one empty line).
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply with an enhanced status code.
    pub fn new(code: u16, enhanced: EnhancedCode, text: impl Into<String>) -> Self {
        Self {
            code,
            enhanced: Some(enhanced),
            lines: vec![text.into()],
        }
    }

    /// A one-line reply without an enhanced code (greetings, 354).
    pub fn plain(code: u16, text: impl Into<String>) -> Self {
        Self {
            code,
            enhanced: None,
            lines: vec![text.into()],
        }
    }

    /// Whether the code is 2xx or 3xx.
    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    /// Whether the code is 4xx.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// Whether the code is 5xx.
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }

    /// The lines joined with a space, with codes, for logs and bounces.
    pub fn summary(&self) -> String {
        let text = self.lines.join(" ");
        match self.enhanced {
            Some(e) => format!("{} {} {}", self.code, e, text),
            None => format!("{} {}", self.code, text),
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}
