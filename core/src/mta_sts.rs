//! MTA-STS (RFC 8461) and the TLS-RPT record (RFC 8460 §3), as pure text work: the
//! `_mta-sts` TXT record, the policy file served at
//! `https://mta-sts.DOMAIN/.well-known/mta-sts.txt`, which MX host names a policy
//! allows, the `_smtp._tls` TXT record, and the HTTP response that carries a policy.

/// The most octets of a policy body read (RFC 8461 §3.3 suggests 64 KiB).
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// The longest `max_age` a policy may ask for (RFC 8461 §3.2: 31557600 seconds).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;

/// What a policy asks of senders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Deliver only to a matching MX over TLS with a valid certificate.
    Enforce,
    /// Deliver as usual, report what would have failed (TLS-RPT).
    Testing,
    /// No policy (a domain withdrawing one).
    None,
}

impl Mode {
    /// The mode's name in a policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

/// A parsed MTA-STS policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The mode.
    pub mode: Mode,
    /// The MX patterns (`mx.example.com`, `*.example.net`), lowercase.
    pub mx: Vec<String>,
    /// How long the policy may be cached, in seconds.
    pub max_age: u64,
}

/// The `v=STSv1; id=...;` record of `_mta-sts.DOMAIN`: the policy's id, or None when the
/// TXT strings are no (single) valid STSv1 record (RFC 8461 §3.1: several STSv1 records
/// mean none).
pub fn parse_sts_record<'a>(txts: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let records: Vec<&str> = txts
        .into_iter()
        .filter(|t| t.trim_start().starts_with("v=STSv1"))
        .collect();
    let [record] = records.as_slice() else {
        return None;
    };
    let mut fields = record.split(';').map(str::trim).filter(|f| !f.is_empty());
    if fields.next()? != "v=STSv1" {
        return None;
    }
    let id = fields.find_map(|f| f.strip_prefix("id="))?;
    let ok = !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then(|| id.to_string())
}

/// The `rua` destinations of a `_smtp._tls.DOMAIN` record (`v=TLSRPTv1;
/// rua=mailto:a@b,https://...`), or None when there is no single valid record.
pub fn parse_tlsrpt_record<'a>(txts: impl IntoIterator<Item = &'a str>) -> Option<Vec<String>> {
    let records: Vec<&str> = txts
        .into_iter()
        .filter(|t| t.trim_start().starts_with("v=TLSRPTv1"))
        .collect();
    let [record] = records.as_slice() else {
        return None;
    };
    let rua = (record.split(';').map(str::trim)).find_map(|f| f.strip_prefix("rua="))?;
    let out: Vec<String> = (rua.split(',').map(str::trim))
        .filter(|u| u.starts_with("mailto:") || u.starts_with("https:"))
        .map(str::to_string)
        .collect();
    (!out.is_empty()).then_some(out)
}

/// Parses a policy file (RFC 8461 §3.2): `key: value` lines ending in CRLF or LF,
/// unknown keys ignored; `version: STSv1`, a mode, `max_age` and, unless the mode is
/// `none`, at least one `mx`. The error says what is wrong.
pub fn parse_policy(text: &str) -> Result<Policy, String> {
    let (mut version, mut mode, mut max_age, mut mx) = (None, None, None, Vec::new());
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(format!("a line without a key: {line:?}"));
        };
        let value = value.trim();
        match key.trim() {
            "version" => version = Some(value.to_string()),
            "mode" => {
                mode = Some(match value {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    other => return Err(format!("unknown mode {other:?}")),
                })
            }
            "max_age" => {
                let n = (value.len() <= 10 && value.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| value.parse::<u64>().ok())
                    .flatten()
                    .filter(|&n| n <= MAX_AGE_LIMIT)
                    .ok_or_else(|| format!("bad max_age {value:?}"))?;
                max_age = Some(n);
            }
            "mx" => {
                if !valid_pattern(value) {
                    return Err(format!("bad mx pattern {value:?}"));
                }
                mx.push(value.trim_end_matches('.').to_ascii_lowercase());
            }
            _ => {}
        }
    }
    if version.as_deref() != Some("STSv1") {
        return Err("no \"version: STSv1\"".into());
    }
    let mode = mode.ok_or("no mode")?;
    let max_age = max_age.ok_or("no max_age")?;
    if mx.is_empty() && mode != Mode::None {
        return Err("no mx".into());
    }
    Ok(Policy { mode, mx, max_age })
}

/// Whether `p` is a host name, or `*.` and one (the wildcard standing for one label).
fn valid_pattern(p: &str) -> bool {
    let name = p.strip_prefix("*.").unwrap_or(p).trim_end_matches('.');
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl Policy {
    /// The policy file's text (as a domain would publish it).
    pub fn to_text(&self) -> String {
        let mut out = format!("version: STSv1\r\nmode: {}\r\n", self.mode.as_str());
        for m in &self.mx {
            out.push_str(&format!("mx: {m}\r\n"));
        }
        out.push_str(&format!("max_age: {}\r\n", self.max_age));
        out
    }

    /// Whether the MX host `host` is one the policy names (RFC 8461 §4.1: a `*.`
    /// pattern matches exactly one more label on the left).
    pub fn allows_mx(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(rest) => host
                .split_once('.')
                .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
            None => *p == host,
        })
    }
}

/// Whether the message's header has `TLS-Required: No` (RFC 8689 §3): its sender asks
/// that MTA-STS (and DANE) failures not stop it.
pub fn tls_not_required(message: &[u8]) -> bool {
    let mut no = false;
    crate::imf::header::for_each_field(message, |f| {
        if f.is("TLS-Required") && f.value().trim().eq_ignore_ascii_case("no") {
            no = true;
        }
    });
    no
}

/// Why an HTTP response carries no policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// Not all of it yet: read more.
    Incomplete,
    /// A malformed or refused response (the text says which).
    Bad(String),
}

/// The body of a complete HTTP/1.1 response to the policy request (RFC 8461 §3.3: status
/// 200, no redirects followed, `Content-Length` or chunked framing, at most
/// [`MAX_POLICY_BYTES`]); `Incomplete` while `response` does not hold all of it yet
/// (with `at_eof`, a response cut short is `Bad`).
pub fn policy_response_body(response: &[u8], at_eof: bool) -> Result<String, FetchError> {
    use crate::http::body::BodyReader;
    use crate::http::head::Framing;
    let Some(end) = memchr::memmem::find(response, b"\r\n\r\n") else {
        return Err(if at_eof || response.len() > 16 * 1024 {
            FetchError::Bad("no complete response head".into())
        } else {
            FetchError::Incomplete
        });
    };
    let head = String::from_utf8_lossy(&response[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("");
    let code = status.split(' ').nth(1).unwrap_or("");
    if !status.starts_with("HTTP/1.") || code != "200" {
        return Err(FetchError::Bad(format!("HTTP status {status:?}")));
    }
    let mut framing = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            framing = Some(Framing::Chunked);
        } else if name.eq_ignore_ascii_case("content-length") && framing.is_none() {
            let n = value
                .parse()
                .map_err(|_| FetchError::Bad("bad Content-Length".into()))?;
            framing = Some(Framing::Length(n));
        }
    }
    let rest = &response[end + 4..];
    let mut body = Vec::new();
    match framing {
        Some(f) => {
            let mut reader = BodyReader::new(f, MAX_POLICY_BYTES as u64, 4096)
                .map_err(|_| FetchError::Bad("policy too large".into()))?;
            reader
                .feed(rest, &mut body)
                .map_err(|e| FetchError::Bad(format!("bad body framing: {e:?}")))?;
            if !reader.is_done() {
                return Err(if at_eof {
                    FetchError::Bad("response cut short".into())
                } else {
                    FetchError::Incomplete
                });
            }
        }
        // Delimited by the end of the connection.
        None if !at_eof => return Err(FetchError::Incomplete),
        None if rest.len() > MAX_POLICY_BYTES => {
            return Err(FetchError::Bad("policy too large".into()))
        }
        None => body.extend_from_slice(rest),
    }
    String::from_utf8(body).map_err(|_| FetchError::Bad("policy is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_example_policy_parses() {
        // RFC 8461 §3.2.
        let p = parse_policy(
            "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
        )
        .unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 604_800);
        assert!(p.allows_mx("mail.example.com"));
        assert!(p.allows_mx("MX1.example.net."));
        assert!(!p.allows_mx("a.b.example.net"));
        assert!(!p.allows_mx("example.net"));
        assert!(!p.allows_mx("evil-mail.example.com"));
        assert_eq!(parse_policy(&p.to_text()).unwrap(), p);
    }

    #[test]
    fn bad_policies_say_why() {
        assert!(parse_policy("mode: enforce\nmx: a.b\nmax_age: 1\n").is_err());
        assert!(parse_policy("version: STSv1\nmode: enforce\nmax_age: 1\n").is_err());
        assert!(parse_policy("version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n").is_err());
        assert!(
            parse_policy("version: STSv1\nmode: testing\nmx: a\nmax_age: 99999999999\n").is_err()
        );
        let none = parse_policy("version: STSv1\nmode: none\nmax_age: 86400\n").unwrap();
        assert_eq!(none.mode, Mode::None);
    }

    #[test]
    fn records_are_read_as_the_rfcs_say() {
        assert_eq!(
            parse_sts_record(["v=STSv1; id=20160831085700Z;"]),
            Some("20160831085700Z".into())
        );
        assert_eq!(parse_sts_record(["v=STSv1; id=a", "v=STSv1; id=b"]), None);
        assert_eq!(parse_sts_record(["v=spf1 -all"]), None);
        assert_eq!(parse_sts_record(["v=STSv1; id=bad-id"]), None);
        assert_eq!(
            parse_tlsrpt_record(["v=TLSRPTv1; rua=mailto:reports@example.com,https://r.example/x"]),
            Some(vec![
                "mailto:reports@example.com".into(),
                "https://r.example/x".into()
            ])
        );
        assert_eq!(parse_tlsrpt_record(["v=TLSRPTv1; rua=ftp://x"]), None);
    }

    #[test]
    fn the_tls_required_field_is_found() {
        assert!(tls_not_required(
            b"Subject: x\r\nTLS-Required: No\r\n\r\nbody\r\n"
        ));
        assert!(tls_not_required(b"tls-required:  no \r\n\r\n"));
        assert!(!tls_not_required(b"Subject: x\r\n\r\nTLS-Required: No\r\n"));
        assert!(!tls_not_required(b"TLS-Required: Yes\r\n\r\n"));
    }

    #[test]
    fn policy_responses_in_every_framing() {
        let policy = "version: STSv1\r\nmode: testing\r\nmx: a.b\r\nmax_age: 60\r\n";
        let plain = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{policy}",
            policy.len()
        );
        assert_eq!(
            policy_response_body(plain.as_bytes(), false).as_deref(),
            Ok(policy)
        );
        assert_eq!(
            policy_response_body(&plain.as_bytes()[..plain.len() - 3], false),
            Err(FetchError::Incomplete)
        );
        let chunked = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{policy}\r\n0\r\n\r\n",
            policy.len()
        );
        assert_eq!(
            policy_response_body(chunked.as_bytes(), false).as_deref(),
            Ok(policy)
        );
        let eof = format!("HTTP/1.0 200 OK\r\n\r\n{policy}");
        assert_eq!(
            policy_response_body(eof.as_bytes(), true).as_deref(),
            Ok(policy)
        );
        let moved = "HTTP/1.1 301 Moved\r\nLocation: https://x/\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(
            policy_response_body(moved.as_bytes(), true),
            Err(FetchError::Bad(_))
        ));
    }
}
