//! DKIM verification (RFC 6376 §6) without the crypto or the DNS: parsing `DKIM-Signature`
//! fields (§3.5) and key records (§3.6.1), recomputing the body hash, and building the
//! data the signature covers (§3.7: the signed header fields, bottom-up, then the
//! signature field itself with an empty `b=`). The runtime fetches
//! `SELECTOR._domainkey.DOMAIN` TXT, checks the signature over [`Prepared::data`] with the
//! key (ed25519-sha256 signs the SHA-256 of that data, RFC 8463) and reports a
//! [`Verdict`] per signature in an Authentication-Results field (RFC 8601).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::{canonical_body, relaxed_header, Algorithm, Canon};
use crate::imf::header::{split_header_to_blank_line, Field};

/// At most this many signatures of one message are checked.
pub const MAX_SIGNATURES: usize = 5;

/// A parsed `DKIM-Signature` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// `a=`.
    pub algorithm: Algorithm,
    /// `c=` header part (default simple).
    pub header_canon: Canon,
    /// `c=` body part (default simple).
    pub body_canon: Canon,
    /// `d=`, lower-cased.
    pub domain: String,
    /// `s=`.
    pub selector: String,
    /// `h=`, lower-cased, in order.
    pub headers: Vec<String>,
    /// `bh=`, decoded.
    pub body_hash: Vec<u8>,
    /// `b=`, decoded.
    pub signature: Vec<u8>,
    /// `b=` as written, white space removed (Authentication-Results `header.b`).
    pub signature_text: String,
    /// `i=` (default `@d`).
    pub identity: String,
    /// `l=`, if given.
    pub length: Option<u64>,
    /// `x=`, if given.
    pub expires: Option<i64>,
}

/// The outcome for one signature (RFC 8601 §2.7.1 result names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The signature verified.
    Pass,
    /// It did not (body hash or signature mismatch); the reason.
    Fail(String),
    /// The key or record could not be fetched for now; the reason.
    TempError(String),
    /// The signature or key record is unusable; the reason.
    PermError(String),
    /// The key record says the domain is testing DKIM (`t=y`) and the signature failed.
    Neutral(String),
}

impl Verdict {
    /// The RFC 8601 result keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail(_) => "fail",
            Verdict::TempError(_) => "temperror",
            Verdict::PermError(_) => "permerror",
            Verdict::Neutral(_) => "neutral",
        }
    }
}

/// The key type of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// `k=rsa` (p= is a SubjectPublicKeyInfo).
    Rsa,
    /// `k=ed25519` (p= is the raw 32-byte key).
    Ed25519,
}

/// A parsed key record (`v=DKIM1; k=...; p=...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// `k=` (default rsa).
    pub key_type: KeyType,
    /// `p=`, decoded.
    pub public_key: Vec<u8>,
    /// `t=y`: the domain is testing.
    pub testing: bool,
    /// `t=s`: `i=` must be exactly `d=`'s domain.
    pub strict: bool,
}

/// Splits a tag-list (§3.2) into (tag, value) pairs with folding white space removed
/// around tags and values.
pub fn tag_list(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for spec in text.split(';') {
        let spec = spec.trim_matches(|c: char| c.is_ascii_whitespace());
        if spec.is_empty() {
            continue;
        }
        let (name, value) = spec
            .split_once('=')
            .ok_or_else(|| format!("tag without '=': {spec:?}"))?;
        let name = name.trim_matches(|c: char| c.is_ascii_whitespace());
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("invalid tag name {name:?}"));
        }
        if out.iter().any(|(n, _)| n == name) {
            return Err(format!("duplicate tag {name}"));
        }
        let value = value.trim_matches(|c: char| c.is_ascii_whitespace());
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

fn without_whitespace(s: &str) -> String {
    s.chars().filter(|c| !c.is_ascii_whitespace()).collect()
}

fn decode_b64(s: &str, what: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(without_whitespace(s))
        .map_err(|e| format!("{what}: invalid base64: {e}"))
}

/// Parses the value of a `DKIM-Signature` field (§3.5). Errors are PERMERRORs.
pub fn parse_signature(value: &str) -> Result<Signature, String> {
    let tags = tag_list(value)?;
    let get = |n: &str| tags.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    match get("v") {
        Some("1") => {}
        Some(v) => return Err(format!("unsupported version v={v}")),
        None => return Err("missing v=".into()),
    }
    let algorithm = match get("a").map(str::to_ascii_lowercase).as_deref() {
        Some("rsa-sha256") => Algorithm::RsaSha256,
        Some("ed25519-sha256") => Algorithm::Ed25519Sha256,
        Some(a) => return Err(format!("unsupported algorithm {a}")),
        None => return Err("missing a=".into()),
    };
    let canon = |s: &str| match s.to_ascii_lowercase().as_str() {
        "simple" => Ok(Canon::Simple),
        "relaxed" => Ok(Canon::Relaxed),
        other => Err(format!("unknown canonicalization {other}")),
    };
    let (header_canon, body_canon) = match get("c") {
        None => (Canon::Simple, Canon::Simple),
        Some(c) => match c.split_once('/') {
            Some((h, b)) => (canon(h)?, canon(b)?),
            None => (canon(c)?, Canon::Simple),
        },
    };
    let domain = get("d")
        .filter(|d| !d.is_empty())
        .ok_or("missing d=")?
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let selector = get("s").filter(|s| !s.is_empty()).ok_or("missing s=")?;
    let headers: Vec<String> = get("h")
        .ok_or("missing h=")?
        .split(':')
        .map(|h| without_whitespace(h).to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    if !headers.iter().any(|h| h == "from") {
        return Err("From is not signed".into());
    }
    let body_hash = decode_b64(get("bh").ok_or("missing bh=")?, "bh=")?;
    let signature_text = without_whitespace(get("b").ok_or("missing b=")?);
    let signature = decode_b64(&signature_text, "b=")?;
    if signature.is_empty() {
        return Err("empty b=".into());
    }
    let identity = get("i").map_or_else(|| format!("@{domain}"), str::to_string);
    let id_domain = identity
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .ok_or("i= has no @")?;
    if id_domain != domain && !id_domain.ends_with(&format!(".{domain}")) {
        return Err("i= is not in d='s domain".into());
    }
    if let Some(q) = get("q") {
        if !q
            .split(':')
            .any(|m| m.trim().eq_ignore_ascii_case("dns/txt"))
        {
            return Err(format!("unsupported query method q={q}"));
        }
    }
    let number = |n: &str| -> Result<Option<i64>, String> {
        get(n)
            .map(|v| v.parse::<i64>().map_err(|_| format!("invalid {n}={v}")))
            .transpose()
    };
    let length = number("l")?.map(|l| l.max(0) as u64);
    let timestamp = number("t")?;
    let expires = number("x")?;
    if let (Some(t), Some(x)) = (timestamp, expires) {
        if x < t {
            return Err("x= is before t=".into());
        }
    }
    Ok(Signature {
        algorithm,
        header_canon,
        body_canon,
        domain,
        selector: selector.to_string(),
        headers,
        body_hash,
        signature,
        signature_text,
        identity,
        length,
        expires,
    })
}

/// Why a key record cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// `p=` is empty: the key was revoked (§3.6.1).
    #[error("the key was revoked")]
    Revoked,
    /// Anything else; the reason.
    #[error("invalid key: {0}")]
    Invalid(String),
}

/// Parses a key record (§3.6.1), the TXT strings already joined.
pub fn parse_key_record(txt: &str) -> Result<KeyRecord, KeyError> {
    let invalid = |e: String| KeyError::Invalid(e);
    let tags = tag_list(txt).map_err(invalid)?;
    let get = |n: &str| tags.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    if let Some(v) = get("v") {
        if v != "DKIM1" || tags.first().map(|(k, _)| k.as_str()) != Some("v") {
            return Err(invalid(format!("bad version v={v}")));
        }
    }
    let key_type = match get("k").map(str::to_ascii_lowercase).as_deref() {
        None | Some("rsa") => KeyType::Rsa,
        Some("ed25519") => KeyType::Ed25519,
        Some(k) => return Err(invalid(format!("unsupported key type k={k}"))),
    };
    if let Some(h) = get("h") {
        if !h
            .split(':')
            .any(|a| a.trim().eq_ignore_ascii_case("sha256"))
        {
            return Err(invalid(format!("key does not allow sha256 (h={h})")));
        }
    }
    if let Some(s) = get("s") {
        if !s
            .split(':')
            .any(|t| t.trim() == "*" || t.trim().eq_ignore_ascii_case("email"))
        {
            return Err(invalid(format!("key not for email (s={s})")));
        }
    }
    let p = get("p").ok_or_else(|| invalid("missing p=".into()))?;
    if without_whitespace(p).is_empty() {
        return Err(KeyError::Revoked);
    }
    let public_key = decode_b64(p, "p=").map_err(invalid)?;
    let flags: Vec<String> = get("t")
        .unwrap_or("")
        .split(':')
        .map(|f| f.trim().to_ascii_lowercase())
        .collect();
    Ok(KeyRecord {
        key_type,
        public_key,
        testing: flags.iter().any(|f| f == "y"),
        strict: flags.iter().any(|f| f == "s"),
    })
}

/// The data a signature covers, and whether the body hash matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The canonicalized header fields and signature field (what `b=` signs).
    pub data: Vec<u8>,
    /// Whether the canonicalized body hashes to `bh=`.
    pub body_hash_matches: bool,
}

/// The signature field's value with the `b=` tag's value removed (§3.7), all else kept
/// byte for byte (simple canonicalization hashes it as written).
fn without_b_value(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    loop {
        let end = rest.iter().position(|&b| b == b';').unwrap_or(rest.len());
        let spec = &rest[..end];
        let name_end = spec.iter().position(|&b| b == b'=');
        let is_b = name_end.is_some_and(|e| {
            spec[..e]
                .iter()
                .filter(|b| !b.is_ascii_whitespace())
                .eq(b"b".iter())
        });
        match (is_b, name_end) {
            (true, Some(e)) => out.extend_from_slice(&spec[..=e]),
            _ => out.extend_from_slice(spec),
        }
        if end == rest.len() {
            break;
        }
        out.push(b';');
        rest = &rest[end + 1..];
    }
    out
}

fn canonical_field(message: &[u8], f: &Field<'_>, canon: Canon) -> Vec<u8> {
    match canon {
        Canon::Relaxed => relaxed_header(f.name, f.raw_value),
        Canon::Simple => {
            let mut v = message[f.range.clone()].to_vec();
            if !v.ends_with(b"\r\n") {
                if v.ends_with(b"\n") {
                    v.pop();
                }
                v.extend_from_slice(b"\r\n");
            }
            v
        }
    }
}

/// Recomputes what signature `index` (among the message's `DKIM-Signature` fields, top
/// first) covers. `message` has CRLF line ends.
pub fn prepare(message: &[u8], index: usize, sig: &Signature) -> Option<Prepared> {
    let (fields, body_start) = split_header_to_blank_line(message);
    let own = fields
        .iter()
        .filter(|f| f.is("DKIM-Signature"))
        .nth(index)?
        .clone();
    let body = message.get(body_start..).unwrap_or(&[]);
    let mut canon = canonical_body(body, sig.body_canon);
    if let Some(l) = sig.length {
        canon.truncate(l.min(canon.len() as u64) as usize);
    }
    let body_hash_matches = Sha256::digest(&canon).as_slice() == sig.body_hash.as_slice();
    // Each listed name takes the next unused field of that name from the bottom up; a
    // name with no field left contributes nothing (§5.4.2).
    let mut used = vec![false; fields.len()];
    let mut data = Vec::new();
    for name in &sig.headers {
        let pick = (0..fields.len())
            .rev()
            .find(|&i| !used[i] && fields[i].is(name) && fields[i].range != own.range);
        if let Some(i) = pick {
            used[i] = true;
            data.extend_from_slice(&canonical_field(message, &fields[i], sig.header_canon));
        }
    }
    let raw = without_b_value(own.raw_value);
    let field = Field {
        name: own.name,
        raw_value: &raw,
        range: 0..0,
    };
    let mut own_canon = match sig.header_canon {
        Canon::Relaxed => relaxed_header(own.name, &raw),
        Canon::Simple => {
            let mut v = own.name.to_vec();
            v.push(b':');
            v.extend_from_slice(field.raw_value);
            v
        }
    };
    if own_canon.ends_with(b"\r\n") {
        own_canon.truncate(own_canon.len() - 2);
    }
    data.extend_from_slice(&own_canon);
    Some(Prepared {
        data,
        body_hash_matches,
    })
}

/// The `DKIM-Signature` field values of a message, top first (at most
/// [`MAX_SIGNATURES`]).
pub fn signature_fields(message: &[u8]) -> Vec<String> {
    let (fields, _) = split_header_to_blank_line(message);
    fields
        .iter()
        .filter(|f| f.is("DKIM-Signature"))
        .take(MAX_SIGNATURES)
        .map(|f| String::from_utf8_lossy(f.raw_value).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b_value_removed_all_else_kept() {
        assert_eq!(
            without_b_value(b" v=1; bh=abc;\r\n b=xy\r\n z=; s=x"),
            b" v=1; bh=abc;\r\n b=; s=x".to_vec()
        );
        assert_eq!(without_b_value(b"b = abc"), b"b =".to_vec());
    }

    #[test]
    fn tag_lists_and_errors() {
        let t = tag_list(" v=1; a = rsa-sha256 ;\r\n\tb=ab\r\n cd; ").unwrap();
        assert_eq!(t[1], ("a".into(), "rsa-sha256".into()));
        assert!(tag_list("v=1; v=2").is_err());
        assert!(tag_list("novalue").is_err());
        assert!(parse_signature("v=1; a=rsa-sha1; d=x; s=y; h=from; bh=AA==; b=AA==").is_err());
        assert!(
            parse_signature("v=1; a=rsa-sha256; d=x; s=y; h=to; bh=AA==; b=AA==")
                .unwrap_err()
                .contains("From")
        );
        assert_eq!(
            parse_key_record("v=DKIM1; k=rsa; p="),
            Err(KeyError::Revoked)
        );
        assert!(parse_key_record("k=rsa; v=DKIM1; p=AA==").is_err());
        let k = parse_key_record("v=DKIM1; k=ed25519; t=y:s; p=AAAA").unwrap();
        assert!(k.testing && k.strict && k.key_type == KeyType::Ed25519);
    }
}
