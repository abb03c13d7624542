//! Delivery Status Notification parameters of MAIL and RCPT (RFC 3461 §4): checked when
//! the command arrives, kept with the envelope for the bounce machinery.

use super::types::Parameter;

/// `RET=`: how much of the message a failure notice returns (RFC 3461 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// `RET=FULL`: the whole message.
    Full,
    /// `RET=HDRS`: only the header.
    Headers,
}

impl Ret {
    /// The keyword as written in MAIL FROM.
    pub fn as_str(self) -> &'static str {
        match self {
            Ret::Full => "FULL",
            Ret::Headers => "HDRS",
        }
    }
}

/// `NOTIFY=`: when the sender wants to hear about a recipient (RFC 3461 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Notify {
    /// Report successful delivery.
    pub success: bool,
    /// Report failure.
    pub failure: bool,
    /// Report delays.
    pub delay: bool,
}

impl Notify {
    /// `NEVER`: no notification at all.
    pub fn is_never(self) -> bool {
        !self.success && !self.failure && !self.delay
    }

    /// The value as written in RCPT TO (`NEVER` or a comma list).
    pub fn to_value(self) -> String {
        if self.is_never() {
            return "NEVER".into();
        }
        let mut v = Vec::new();
        if self.success {
            v.push("SUCCESS");
        }
        if self.failure {
            v.push("FAILURE");
        }
        if self.delay {
            v.push("DELAY");
        }
        v.join(",")
    }
}

/// The DSN parameters of one MAIL FROM.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailDsn {
    /// `RET`, if given.
    pub ret: Option<Ret>,
    /// `ENVID`, still xtext-encoded, if given.
    pub envid: Option<String>,
}

/// The DSN parameters of one RCPT TO.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RcptDsn {
    /// `NOTIFY`, if given.
    pub notify: Option<Notify>,
    /// `ORCPT` as `addr-type;xtext`, if given.
    pub orcpt: Option<String>,
}

/// Whether `s` is xtext (RFC 3461 §4): printable ASCII except `+` and `=`, and `+XX`
/// hexadecimal escapes (upper case).
pub fn is_xtext(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                let hex = |c: u8| c.is_ascii_digit() || (b'A'..=b'F').contains(&c);
                if i + 2 >= b.len() {
                    return false;
                }
                if !(hex(b[i + 1]) && hex(b[i + 2])) {
                    return false;
                }
                i += 3;
            }
            b'=' => return false,
            33..=126 => i += 1,
            _ => return false,
        }
    }
    true
}

/// Decodes xtext (`+2B` → `+`); None when it is not valid xtext.
pub fn decode_xtext(s: &str) -> Option<String> {
    if !is_xtext(s) {
        return None;
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'+' {
            let v = u8::from_str_radix(s.get(i + 1..i + 3)?, 16).ok()?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Encodes text as xtext (for ORCPT of recipients that arrived without one).
pub fn encode_xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// Parses a NOTIFY value.
pub fn parse_notify(v: &str) -> Option<Notify> {
    if v.eq_ignore_ascii_case("NEVER") {
        return Some(Notify::default());
    }
    let mut n = Notify::default();
    for word in v.split(',') {
        let flag = if word.eq_ignore_ascii_case("SUCCESS") {
            &mut n.success
        } else if word.eq_ignore_ascii_case("FAILURE") {
            &mut n.failure
        } else if word.eq_ignore_ascii_case("DELAY") {
            &mut n.delay
        } else {
            return None;
        };
        if *flag {
            return None;
        }
        *flag = true;
    }
    Some(n)
}

/// Whether `x` is xtext that decodes to text without control characters: ENVID and ORCPT
/// are copied into delivery status notifications, where a decoded CR LF would start a
/// field of the sender's choosing.
pub fn is_printable_xtext(x: &str) -> bool {
    decode_xtext(x).is_some_and(|t| !t.chars().any(char::is_control))
}

/// Checks an ORCPT value `addr-type ";" xtext` (RFC 3461 §4.2) whose decoded address has
/// no control characters.
pub fn is_orcpt(v: &str) -> bool {
    match v.split_once(';') {
        Some((t, x)) => {
            !t.is_empty()
                && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !x.is_empty()
                && is_printable_xtext(x)
        }
        None => false,
    }
}

/// Why a DSN parameter was refused: answer 501 5.5.4 with this text.
pub type DsnError = &'static str;

/// Reads RET and ENVID out of MAIL parameters; other keywords are left to the caller.
pub fn mail_dsn(params: &[Parameter]) -> Result<MailDsn, DsnError> {
    let mut dsn = MailDsn::default();
    for p in params {
        if p.is("RET") {
            if dsn.ret.is_some() {
                return Err("Duplicate RET parameter");
            }
            let v = p.value.as_deref().unwrap_or("");
            dsn.ret = Some(if v.eq_ignore_ascii_case("FULL") {
                Ret::Full
            } else if v.eq_ignore_ascii_case("HDRS") {
                Ret::Headers
            } else {
                return Err("Bad RET parameter syntax");
            });
        } else if p.is("ENVID") {
            if dsn.envid.is_some() {
                return Err("Duplicate ENVID parameter");
            }
            match p.value.as_deref() {
                Some(v) if !v.is_empty() && v.len() <= 100 && is_printable_xtext(v) => {
                    dsn.envid = Some(v.to_string())
                }
                _ => return Err("Bad ENVID parameter syntax"),
            }
        }
    }
    Ok(dsn)
}

/// Reads NOTIFY and ORCPT out of RCPT parameters; any other keyword is an error.
pub fn rcpt_dsn(params: &[Parameter]) -> Result<RcptDsn, DsnError> {
    let mut dsn = RcptDsn::default();
    for p in params {
        if p.is("NOTIFY") {
            if dsn.notify.is_some() {
                return Err("Duplicate NOTIFY parameter");
            }
            dsn.notify = Some(
                p.value
                    .as_deref()
                    .and_then(parse_notify)
                    .ok_or("Bad NOTIFY parameter syntax")?,
            );
        } else if p.is("ORCPT") {
            if dsn.orcpt.is_some() {
                return Err("Duplicate ORCPT parameter");
            }
            match p.value.as_deref() {
                Some(v) if v.len() <= 500 && is_orcpt(v) => dsn.orcpt = Some(v.to_string()),
                _ => return Err("Bad ORCPT parameter syntax"),
            }
        } else {
            return Err("Unsupported RCPT parameter");
        }
    }
    Ok(dsn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(k: &str, v: &str) -> Parameter {
        Parameter::new(k, Some(v))
    }

    #[test]
    fn xtext() {
        assert!(is_xtext("abc+2Bdef"));
        assert!(!is_xtext("a=b"));
        assert!(!is_xtext("a+2"));
        assert!(!is_xtext("a+"));
        assert!(!is_xtext("a+zz"));
        assert!(!is_xtext("a b"));
        assert_eq!(decode_xtext("a+2Bb+3D").as_deref(), Some("a+b="));
        assert_eq!(encode_xtext("a+b= c"), "a+2Bb+3D+20c");
        assert_eq!(
            decode_xtext(&encode_xtext("x y+z")).as_deref(),
            Some("x y+z")
        );
    }

    #[test]
    fn notify_values() {
        assert!(parse_notify("NEVER").unwrap().is_never());
        let n = parse_notify("success,Failure").unwrap();
        assert!(n.success && n.failure && !n.delay);
        assert_eq!(n.to_value(), "SUCCESS,FAILURE");
        assert_eq!(parse_notify("NEVER,SUCCESS"), None);
        assert_eq!(parse_notify("SUCCESS,SUCCESS"), None);
        assert_eq!(parse_notify(""), None);
    }

    #[test]
    fn mail_and_rcpt_parameters() {
        let d = mail_dsn(&[p("RET", "hdrs"), p("ENVID", "QQ+2B1")]).unwrap();
        assert_eq!(d.ret, Some(Ret::Headers));
        assert_eq!(d.envid.as_deref(), Some("QQ+2B1"));
        assert!(mail_dsn(&[p("RET", "ALL")]).is_err());
        assert!(mail_dsn(&[p("RET", "FULL"), p("RET", "FULL")]).is_err());
        let r = rcpt_dsn(&[
            p("NOTIFY", "FAILURE,DELAY"),
            p("ORCPT", "rfc822;bob@b.test"),
        ])
        .unwrap();
        assert_eq!(r.orcpt.as_deref(), Some("rfc822;bob@b.test"));
        assert!(rcpt_dsn(&[p("ORCPT", "bob@b.test")]).is_err());
        // Decoded control characters would become header-like lines in a DSN.
        assert!(rcpt_dsn(&[p("ORCPT", "rfc822;a@b+0D+0ASubject:+20x")]).is_err());
        assert!(rcpt_dsn(&[p("ORCPT", "rfc822;a+00@b")]).is_err());
        assert!(mail_dsn(&[p("ENVID", "x+0D+0AX-Evil:+201")]).is_err());
        assert!(rcpt_dsn(&[p("ORCPT", "rfc822;+C3+A9@b.test")]).is_ok());
        assert!(rcpt_dsn(&[p("FOO", "1")]).is_err());
    }
}
