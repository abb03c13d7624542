//! DKIM signing (RFC 6376) without the crypto: canonicalization (simple and relaxed,
//! §3.4), header selection with the From field oversigned, the body hash, and the
//! `DKIM-Signature` field. The runtime signs [`SigningInput::data`] with the key
//! (rsa-sha256, or ed25519-sha256 per RFC 8463 over the SHA-256 of the data) and calls
//! [`SigningInput::finish`]. `l=` is never used.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::imf::header::split_header_to_blank_line;

pub mod check;
pub mod verify;

/// The signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// rsa-sha256.
    RsaSha256,
    /// ed25519-sha256 (RFC 8463).
    Ed25519Sha256,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::RsaSha256 => "rsa-sha256",
            Algorithm::Ed25519Sha256 => "ed25519-sha256",
        }
    }
}

/// Header or body canonicalization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canon {
    /// `simple`.
    Simple,
    /// `relaxed`.
    Relaxed,
}

impl Canon {
    fn name(self) -> &'static str {
        match self {
            Canon::Simple => "simple",
            Canon::Relaxed => "relaxed",
        }
    }
}

/// The header fields signed when present (From is always signed, once more than it
/// appears, so that a From cannot be added later).
pub const DEFAULT_HEADERS: [&str; 16] = [
    "from",
    "reply-to",
    "subject",
    "date",
    "to",
    "cc",
    "resent-date",
    "resent-from",
    "resent-to",
    "resent-cc",
    "in-reply-to",
    "references",
    "list-id",
    "message-id",
    "mime-version",
    "content-type",
];

/// What a signature needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignParams<'a> {
    /// The signing domain (`d=`).
    pub domain: &'a str,
    /// The selector (`s=`).
    pub selector: &'a str,
    /// The algorithm (`a=`).
    pub algorithm: Algorithm,
    /// Header canonicalization.
    pub header_canon: Canon,
    /// Body canonicalization.
    pub body_canon: Canon,
    /// Signature time (`t=`), Unix seconds.
    pub timestamp: i64,
}

/// A signature being made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningInput {
    /// The DKIM-Signature field without its `b=` value (ends with `b=`).
    field: String,
    /// What the key signs.
    pub data: Vec<u8>,
}

impl SigningInput {
    /// The complete `DKIM-Signature:` field, CRLF-terminated, with `signature` in `b=`.
    pub fn finish(&self, signature: &[u8]) -> String {
        let b = STANDARD.encode(signature);
        let mut out = self.field.clone();
        // Fold the signature into lines of 72 characters.
        for (i, chunk) in b.as_bytes().chunks(72).enumerate() {
            if i > 0 {
                out.push_str("\r\n\t ");
            }
            out.push_str(&String::from_utf8_lossy(chunk));
        }
        out.push_str("\r\n");
        out
    }
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Relaxed header canonicalization of one field (§3.4.2): lower-case name, unfolded
/// value with runs of white space turned into one space and the ends trimmed.
pub fn relaxed_header(name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = name.iter().map(|b| b.to_ascii_lowercase()).collect();
    while out.last().is_some_and(|&b| is_wsp(b)) {
        out.pop();
    }
    out.push(b':');
    let mut v = Vec::with_capacity(value.len());
    let mut space = false;
    for &b in value {
        if b == b'\r' || b == b'\n' {
            continue;
        }
        if is_wsp(b) {
            space = true;
            continue;
        }
        if space && !v.is_empty() {
            v.push(b' ');
        }
        space = false;
        v.push(b);
    }
    out.extend_from_slice(&v);
    out.extend_from_slice(b"\r\n");
    out
}

/// Body canonicalization (§3.4.3, §3.4.4), over a body with CRLF line ends.
pub fn canonical_body(body: &[u8], canon: Canon) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for line in body.split_inclusive(|&b| b == b'\n') {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        let l = match canon {
            Canon::Simple => content.to_vec(),
            Canon::Relaxed => {
                let mut out = Vec::with_capacity(content.len());
                let mut space = false;
                for &b in content {
                    if is_wsp(b) {
                        space = true;
                        continue;
                    }
                    if space {
                        out.push(b' ');
                    }
                    space = false;
                    out.push(b);
                }
                out
            }
        };
        lines.push(l);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut out = Vec::with_capacity(body.len() + 2);
    for l in &lines {
        out.extend_from_slice(l);
        out.extend_from_slice(b"\r\n");
    }
    if out.is_empty() && canon == Canon::Simple {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Prepares a signature of `message` (CRLF line ends).
pub fn prepare(message: &[u8], p: &SignParams<'_>) -> SigningInput {
    let (fields, body_start) = split_header_to_blank_line(message);
    let body = message.get(body_start..).unwrap_or(&[]);
    let bh = STANDARD.encode(Sha256::digest(canonical_body(body, p.body_canon)));
    // Each name once per occurrence, taken from the bottom up (§5.4.2); From once more.
    let mut names: Vec<String> = Vec::new();
    let mut data = Vec::new();
    for name in DEFAULT_HEADERS {
        let present: Vec<_> = fields.iter().filter(|f| f.is(name)).collect();
        for f in present.iter().rev() {
            names.push(name.to_string());
            match p.header_canon {
                Canon::Relaxed => data.extend_from_slice(&relaxed_header(f.name, f.raw_value)),
                Canon::Simple => data.extend_from_slice(&message[f.range.clone()]),
            }
        }
    }
    names.push("from".to_string());
    let field = format!(
        "DKIM-Signature: v=1; a={}; c={}/{}; d={}; s={};\r\n\tt={}; h={};\r\n\tbh={};\r\n\tb=",
        p.algorithm.name(),
        p.header_canon.name(),
        p.body_canon.name(),
        p.domain,
        p.selector,
        p.timestamp,
        names.join(":"),
        bh
    );
    // The signature field itself, with an empty b=, no final CRLF (§3.7).
    let (name, value) = field.split_at("DKIM-Signature".len());
    let value = &value[1..];
    let own = match p.header_canon {
        Canon::Relaxed => relaxed_header(name.as_bytes(), value.as_bytes()),
        Canon::Simple => format!("{field}\r\n").into_bytes(),
    };
    data.extend_from_slice(own.strip_suffix(b"\r\n").unwrap_or(&own));
    SigningInput { field, data }
}

/// The `p=` value of a DNS record for an Ed25519 public key (raw 32 bytes) or an RSA
/// SubjectPublicKeyInfo (DER), and the whole TXT record text.
pub fn dns_record(algorithm: Algorithm, public_key: &[u8]) -> String {
    let k = match algorithm {
        Algorithm::RsaSha256 => "rsa",
        Algorithm::Ed25519Sha256 => "ed25519",
    };
    format!("v=DKIM1; k={k}; p={}", STANDARD.encode(public_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6376_canonicalization_example() {
        // RFC 6376 §3.4.6.
        let msg = b"A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n";
        let (fields, start) = split_header_to_blank_line(msg);
        let relaxed: Vec<u8> = fields
            .iter()
            .flat_map(|f| relaxed_header(f.name, f.raw_value))
            .collect();
        assert_eq!(relaxed, b"a:X\r\nb:Y Z\r\n");
        assert_eq!(
            canonical_body(&msg[start..], Canon::Relaxed),
            b" C\r\nD E\r\n"
        );
        assert_eq!(
            canonical_body(&msg[start..], Canon::Simple),
            b" C \r\nD \t E\r\n"
        );
        assert_eq!(canonical_body(b"", Canon::Simple), b"\r\n");
        assert_eq!(canonical_body(b"", Canon::Relaxed), b"");
    }

    #[test]
    fn rfc6376_appendix_a_body_hash() {
        // RFC 6376 Appendix A.2 (c=simple/simple): the body and its bh= value; with relaxed
        // canonicalization the RFC 8463 copy (two spaces after "game.") hashes the same.
        use base64::Engine;
        use sha2::Digest;
        let bh = |body: &[u8], canon| {
            base64::engine::general_purpose::STANDARD
                .encode(sha2::Sha256::digest(canonical_body(body, canon)))
        };
        let body = b"Hi.\r\n\r\nWe lost the game. Are you hungry yet?\r\n\r\nJoe.\r\n";
        assert_eq!(
            bh(body, Canon::Simple),
            "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="
        );
        let rfc8463 = b"Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n\r\n";
        assert_eq!(
            bh(rfc8463, Canon::Relaxed),
            "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="
        );
        assert_ne!(bh(rfc8463, Canon::Simple), bh(body, Canon::Simple));
    }

    #[test]
    fn signing_input_shape() {
        let msg = b"From: a@a.test\r\nTo: b@b.test\r\nSubject: hi\r\n\r\nbody\r\n\r\n";
        let p = SignParams {
            domain: "a.test",
            selector: "s1",
            algorithm: Algorithm::Ed25519Sha256,
            header_canon: Canon::Relaxed,
            body_canon: Canon::Relaxed,
            timestamp: 1,
        };
        let s = prepare(msg, &p);
        let text = String::from_utf8(s.data.clone()).unwrap();
        assert!(text.starts_with("from:a@a.test\r\nsubject:hi\r\nto:b@b.test\r\ndkim-signature:v=1; a=ed25519-sha256;"), "{text}");
        assert!(text.contains("h=from:subject:to:from;"));
        assert!(text.ends_with("b="));
        // bh of "body\r\n".
        let bh = STANDARD.encode(Sha256::digest(b"body\r\n"));
        assert!(text.contains(&format!("bh={bh};")));
        let full = s.finish(&[1, 2, 3]);
        assert!(full.ends_with("b=AQID\r\n"));
    }
}
