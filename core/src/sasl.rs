//! SASL exchanges for the mechanisms postrider offers: PLAIN (RFC 4616) and LOGIN
//! (draft-murchison-sasl-login), shared by SMTP AUTH (RFC 4954), POP3 AUTH (RFC 5034)
//! and IMAP AUTHENTICATE (RFC 3501 §6.2.2).
//!
//! The protocol machines frame lines and add their own prefixes (`334 `, `+ `); this
//! module only turns base64 response lines into [`Credentials`]. Checking the password
//! is the runtime's job.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// A password that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The password itself, for hashing or checking only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A SASL mechanism this server implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// PLAIN (RFC 4616): `authzid NUL authcid NUL passwd` in one message.
    Plain,
    /// LOGIN: user name and password in two steps, for older clients.
    Login,
}

/// The mechanisms in the order they are advertised (`AUTH PLAIN LOGIN`).
pub const MECHANISMS: [Mechanism; 2] = [Mechanism::Plain, Mechanism::Login];

impl Mechanism {
    /// Looks a mechanism up by its registered name, ignoring case.
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("PLAIN") {
            Some(Mechanism::Plain)
        } else if name.eq_ignore_ascii_case("LOGIN") {
            Some(Mechanism::Login)
        } else {
            None
        }
    }

    /// The registered name.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
        }
    }
}

/// What a finished exchange yields; the runtime checks it against the accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The identity to act as (PLAIN's authzid), when given and different from `username`.
    pub authzid: Option<String>,
    /// The identity whose password this is (authcid).
    pub username: String,
    /// The password.
    pub password: Secret,
    /// How they were given, for the logs: PLAIN (IMAP LOGIN and POP3 USER/PASS count as
    /// PLAIN, as Dovecot logs them) or LOGIN.
    pub mechanism: Mechanism,
}

/// Why an exchange ended without credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// The client sent `*` (RFC 4954 §4): answer 501 5.7.0.
    #[error("authentication cancelled")]
    Cancelled,
    /// A response was not valid base64: answer 501 5.5.2.
    #[error("invalid base64")]
    BadBase64,
    /// The decoded message has the wrong shape (missing NULs, not UTF-8, empty name).
    #[error("malformed authentication data")]
    Malformed,
}

/// The next thing the protocol must do in an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this challenge (already base64) and read one response line.
    Challenge(String),
    /// The exchange finished: check these credentials.
    Done(Credentials),
    /// The exchange failed.
    Failed(SaslError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    PlainAwaitMessage,
    LoginAwaitUser,
    LoginAwaitPassword(String),
    Finished,
}

/// One SASL exchange in progress (server side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslExchange {
    mechanism: Mechanism,
    state: State,
}

const LOGIN_USER_CHALLENGE: &str = "VXNlcm5hbWU6"; // "Username:"
const LOGIN_PASSWORD_CHALLENGE: &str = "UGFzc3dvcmQ6"; // "Password:"

impl SaslExchange {
    /// Starts an exchange. `initial` is the initial response as sent on the command line
    /// (base64, or `=` for an empty one; RFC 4954 §4), if any.
    pub fn start(mechanism: Mechanism, initial: Option<&[u8]>) -> (Self, Step) {
        let state = match mechanism {
            Mechanism::Plain => State::PlainAwaitMessage,
            Mechanism::Login => State::LoginAwaitUser,
        };
        let mut ex = Self { mechanism, state };
        let step = match initial {
            Some(line) => ex.respond(line),
            None => ex.challenge(),
        };
        (ex, step)
    }

    /// The mechanism of this exchange.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    fn challenge(&self) -> Step {
        match self.state {
            State::PlainAwaitMessage => Step::Challenge(String::new()),
            State::LoginAwaitUser => Step::Challenge(LOGIN_USER_CHALLENGE.into()),
            State::LoginAwaitPassword(_) => Step::Challenge(LOGIN_PASSWORD_CHALLENGE.into()),
            State::Finished => Step::Failed(SaslError::Malformed),
        }
    }

    /// Feeds one response line (without its CRLF).
    pub fn respond(&mut self, line: &[u8]) -> Step {
        let decoded = match decode_response(line) {
            Ok(d) => d,
            Err(e) => {
                self.state = State::Finished;
                return Step::Failed(e);
            }
        };
        match std::mem::replace(&mut self.state, State::Finished) {
            State::PlainAwaitMessage => match parse_plain(&decoded) {
                Ok(c) => Step::Done(c),
                Err(e) => Step::Failed(e),
            },
            State::LoginAwaitUser => match String::from_utf8(decoded) {
                Ok(user) if !user.is_empty() && !user.contains('\0') => {
                    self.state = State::LoginAwaitPassword(user);
                    self.challenge()
                }
                _ => Step::Failed(SaslError::Malformed),
            },
            State::LoginAwaitPassword(username) => match String::from_utf8(decoded) {
                Ok(pw) if !pw.contains('\0') => Step::Done(Credentials {
                    authzid: None,
                    username,
                    password: Secret::new(pw),
                    mechanism: Mechanism::Login,
                }),
                _ => Step::Failed(SaslError::Malformed),
            },
            State::Finished => Step::Failed(SaslError::Malformed),
        }
    }
}

/// Decodes one client response: `*` cancels, `=` is an empty response (RFC 4954 §4),
/// anything else must be base64 (surrounding spaces tolerated).
pub fn decode_response(line: &[u8]) -> Result<Vec<u8>, SaslError> {
    let line = line.trim_ascii();
    match line {
        b"*" => Err(SaslError::Cancelled),
        b"=" | b"" => Ok(Vec::new()),
        _ => STANDARD.decode(line).map_err(|_| SaslError::BadBase64),
    }
}

/// Parses a PLAIN message `[authzid] NUL authcid NUL passwd` (RFC 4616 §2).
pub fn parse_plain(message: &[u8]) -> Result<Credentials, SaslError> {
    let mut parts = message.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(passwd), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| SaslError::Malformed);
    let (authzid, username, password) = (text(authzid)?, text(authcid)?, text(passwd)?);
    if username.is_empty() {
        return Err(SaslError::Malformed);
    }
    Ok(Credentials {
        authzid: (!authzid.is_empty() && authzid != username).then_some(authzid),
        username,
        password: Secret::new(password),
        mechanism: Mechanism::Plain,
    })
}

/// Builds a PLAIN message for tests and clients: base64 of `authzid NUL user NUL pass`.
pub fn encode_plain(authzid: &str, username: &str, password: &str) -> String {
    STANDARD.encode(format!("{authzid}\0{username}\0{password}"))
}

/// Base64 of arbitrary bytes (LOGIN responses, challenges).
pub fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_with_initial_response() {
        let ir = encode_plain("", "alice", "s3cret");
        let (_, step) = SaslExchange::start(Mechanism::Plain, Some(ir.as_bytes()));
        let Step::Done(c) = step else {
            panic!("{step:?}")
        };
        assert_eq!(c.username, "alice");
        assert_eq!(c.password.expose(), "s3cret");
        assert_eq!(c.authzid, None);
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn plain_without_initial_response() {
        let (mut ex, step) = SaslExchange::start(Mechanism::Plain, None);
        assert_eq!(step, Step::Challenge(String::new()));
        let step = ex.respond(encode_plain("bob", "alice", "pw").as_bytes());
        let Step::Done(c) = step else {
            panic!("{step:?}")
        };
        assert_eq!(c.authzid.as_deref(), Some("bob"));
    }

    #[test]
    fn login_two_steps_and_initial_user() {
        let (mut ex, step) = SaslExchange::start(Mechanism::Login, None);
        assert_eq!(step, Step::Challenge("VXNlcm5hbWU6".into()));
        assert_eq!(
            ex.respond(encode_base64(b"alice").as_bytes()),
            Step::Challenge("UGFzc3dvcmQ6".into())
        );
        let Step::Done(c) = ex.respond(encode_base64(b"pw").as_bytes()) else {
            panic!()
        };
        assert_eq!((c.username.as_str(), c.password.expose()), ("alice", "pw"));
        let (_, step) = SaslExchange::start(Mechanism::Login, Some(b"YWxpY2U="));
        assert_eq!(step, Step::Challenge("UGFzc3dvcmQ6".into()));
    }

    #[test]
    fn cancel_bad_base64_and_malformed() {
        let (mut ex, _) = SaslExchange::start(Mechanism::Plain, None);
        assert_eq!(ex.respond(b"*"), Step::Failed(SaslError::Cancelled));
        let (mut ex, _) = SaslExchange::start(Mechanism::Plain, None);
        assert_eq!(ex.respond(b"!!!"), Step::Failed(SaslError::BadBase64));
        let (_, step) = SaslExchange::start(Mechanism::Plain, Some(b"="));
        assert_eq!(step, Step::Failed(SaslError::Malformed));
        let no_user = encode_plain("", "", "pw");
        assert_eq!(
            parse_plain(&decode_response(no_user.as_bytes()).unwrap()),
            Err(SaslError::Malformed)
        );
        assert_eq!(parse_plain(b"a\0b\0c\0d"), Err(SaslError::Malformed));
        assert_eq!(Mechanism::from_name("login"), Some(Mechanism::Login));
        assert_eq!(Mechanism::from_name("CRAM-MD5"), None);
    }
}
