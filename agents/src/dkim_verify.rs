//! DKIM verification of mail received on port 25 (RFC 6376 §6): each `DKIM-Signature`
//! (at most five) is checked with the key published at `SELECTOR._domainkey.DOMAIN`,
//! and the results become an `Authentication-Results` field (RFC 8601) that delivery puts
//! right after this host's Received field. Parsing and canonicalization live in
//! `postrider_core::dkim::verify`; the signatures are checked with ring (rsa-sha256 with
//! 1024- to 8192-bit keys, RFC 8301; ed25519-sha256, RFC 8463).
//!
//! If the DNS servers do not answer, lookups are skipped for a while (the result is
//! `temperror`), so a host without working DNS does not stall every SMTP transaction.

use std::sync::atomic::{AtomicI64, Ordering};

use postrider_core::dkim::check::{CryptoCheck, Decision, DkimCheck, SignatureCheck};
use postrider_core::dkim::verify::{KeyType, Verdict};
use postrider_core::dns::{LookupResult, RecordType};
use ring::signature::{UnparsedPublicKey, ED25519, RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY};
use sha2::{Digest, Sha256};

use crate::resolver::Resolver;

/// The outcome for one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimResult {
    /// pass, fail, ... with the reason.
    pub verdict: Verdict,
    /// `d=` (empty if the field could not be parsed).
    pub domain: String,
    /// `s=`.
    pub selector: String,
    /// The first characters of `b=` (RFC 6008 `header.b`), to tell signatures apart.
    pub b_prefix: String,
}

/// Checks every signature of `message` (CRLF line ends) at Unix time `now`: the core's
/// check asks for the key records, `resolver` answers (through [`guarded_lookup`]), and
/// the signatures are verified here with ring.
pub fn verify(message: &[u8], now: i64, resolver: &Resolver) -> Vec<DkimResult> {
    finish(run_check(DkimCheck::new(message, now), resolver, now))
}

/// The results of a finished check, with the public-key operations it left done.
pub fn finish(checks: Vec<SignatureCheck>) -> Vec<DkimResult> {
    checks
        .into_iter()
        .map(|c| DkimResult {
            verdict: match &c.decision {
                Decision::Decided(v) => v.clone(),
                Decision::Verify(crypto) => verify_signature(crypto),
            },
            domain: c.domain,
            selector: c.selector,
            b_prefix: c.b_prefix,
        })
        .collect()
}

/// The public-key operation of one signature: ed25519 over the SHA-256 of the data
/// (RFC 8463), rsa-sha256 with 1024- to 8192-bit keys (RFC 8301).
fn verify_signature(c: &CryptoCheck) -> Verdict {
    let ok = match c.key_type {
        KeyType::Ed25519 => UnparsedPublicKey::new(&ED25519, &c.public_key)
            .verify(&Sha256::digest(&c.data), &c.signature)
            .is_ok(),
        KeyType::Rsa => match rsa_pkcs1(&c.public_key) {
            Some(der) => {
                UnparsedPublicKey::new(&RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY, &der)
                    .verify(&c.data, &c.signature)
                    .is_ok()
            }
            None => return Verdict::PermError("key: not an RSA public key".into()),
        },
    };
    c.verdict(ok)
}

/// An RSA key from `p=`: a SubjectPublicKeyInfo (as RFC 6376 says) or, as some signers
/// publish, a bare RSAPublicKey; returned as the RSAPublicKey DER that ring takes.
fn rsa_pkcs1(p: &[u8]) -> Option<Vec<u8>> {
    use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
    use rsa::pkcs8::DecodePublicKey;
    let key = rsa::RsaPublicKey::from_public_key_der(p)
        .or_else(|_| rsa::RsaPublicKey::from_pkcs1_der(p))
        .ok()?;
    key.to_pkcs1_der().ok().map(|d| d.as_bytes().to_vec())
}

/// Until when (Unix seconds) key lookups are skipped after the DNS failed to answer.
static DNS_DOWN_UNTIL: AtomicI64 = AtomicI64::new(0);

/// How long lookups are skipped after the DNS failed to answer.
const DNS_BACKOFF_SECS: i64 = 60;

/// A lookup through `resolver` that, once the DNS failed to answer, fails at once for
/// [`DNS_BACKOFF_SECS`] (sender authentication must not stall SMTP on a host whose DNS
/// is down).
pub fn guarded_lookup(
    resolver: &Resolver,
    name: &str,
    rtype: RecordType,
    now: i64,
) -> LookupResult {
    if DNS_DOWN_UNTIL.load(Ordering::Relaxed) > now {
        return LookupResult::Failed("DNS not answering".into());
    }
    let r = resolver.lookup(name, rtype);
    if matches!(r, LookupResult::Failed(_)) {
        DNS_DOWN_UNTIL.store(now + DNS_BACKOFF_SECS, Ordering::Relaxed);
    }
    r
}

/// Drives a DNS-driven check of the core (DKIM, SPF, DMARC) to its end, answering its questions
/// with `resolver` (through [`guarded_lookup`]).
pub fn run_check<C: postrider_core::dns_steps::DnsCheck>(
    mut check: C,
    resolver: &Resolver,
    now: i64,
) -> C::Output {
    use postrider_core::dns_steps::DnsStep;
    loop {
        match check.poll() {
            DnsStep::Ask(q) => {
                let answer = guarded_lookup(resolver, &q.name, q.rtype, now);
                check.answer(q, answer);
            }
            DnsStep::Done(result) => return result,
        }
    }
}

/// The `Authentication-Results:` field (CRLF-terminated) for `results`, with `authserv_id`
/// (this host's name); None when the message had no signature.
pub fn authentication_results(authserv_id: &str, results: &[DkimResult]) -> Option<String> {
    if results.is_empty() {
        return None;
    }
    let mut out = format!("Authentication-Results: {authserv_id}");
    push_results(&mut out, results);
    out.push_str("\r\n");
    Some(out)
}

/// Appends `;\r\n\tdkim=...` for each result to an Authentication-Results field, or
/// `dkim=none` when the message had no signature (RFC 8601 §2.7.1), so that a reader sees
/// the check was made.
pub fn push_results(out: &mut String, results: &[DkimResult]) {
    if results.is_empty() {
        out.push_str(";\r\n\tdkim=none");
    }
    for r in results {
        out.push_str(";\r\n\tdkim=");
        out.push_str(r.verdict.keyword());
        match &r.verdict {
            Verdict::Pass => {}
            Verdict::Fail(why)
            | Verdict::TempError(why)
            | Verdict::PermError(why)
            | Verdict::Neutral(why) => {
                let why: String = why
                    .chars()
                    .map(|c| {
                        if c == '(' || c == ')' || c.is_control() {
                            ' '
                        } else {
                            c
                        }
                    })
                    .collect();
                out.push_str(&format!(" ({why})"));
            }
        }
        if !r.domain.is_empty() {
            out.push_str(&format!(" header.d={}", r.domain));
        }
        if !r.selector.is_empty()
            && r.selector
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b';')
        {
            out.push_str(&format!(" header.s={}", r.selector));
        }
        if !r.b_prefix.is_empty() {
            out.push_str(&format!(" header.b=\"{}\"", r.b_prefix));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8463 Appendix A: the keys (A.2) and the message signed with both (A.3).
    const BRISBANE: &str = include_str!("../../core/tests/data/dkim/rfc8463-brisbane.txt");
    const TEST_RSA: &str = include_str!("../../core/tests/data/dkim/rfc8463-test.txt");
    const MESSAGE: &str = include_str!("../../core/tests/data/dkim/rfc8463.eml");

    use postrider_core::dns::DnsRecord;
    use postrider_core::dns_steps::{DnsCheck, DnsStep};

    fn zone(name: &str) -> LookupResult {
        let txt = |t: &str| LookupResult::Records(vec![DnsRecord::Txt(t.into())]);
        match name {
            "brisbane._domainkey.football.example.com" => txt(BRISBANE),
            "test._domainkey.football.example.com" => txt(TEST_RSA),
            _ => LookupResult::NxDomain,
        }
    }

    /// The check driven with answers from `dns` instead of a resolver.
    fn verify_with(
        message: &[u8],
        now: i64,
        dns: &dyn Fn(&str) -> LookupResult,
    ) -> Vec<DkimResult> {
        let mut check = DkimCheck::new(message, now);
        loop {
            match check.poll() {
                DnsStep::Ask(q) => {
                    let answer = dns(&q.name);
                    check.answer(q, answer);
                }
                DnsStep::Done(checks) => return finish(checks),
            }
        }
    }

    #[test]
    fn rfc8463_example_verifies_with_both_keys() {
        let r = verify_with(MESSAGE.as_bytes(), 1_600_000_000, &zone);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].verdict, Verdict::Pass, "ed25519");
        assert_eq!(r[1].verdict, Verdict::Pass, "rsa");
        assert_eq!(r[0].selector, "brisbane");
        let ar = authentication_results("mx.example", &r).unwrap();
        assert!(ar.contains("dkim=pass header.d=football.example.com header.s=brisbane"));
    }

    #[test]
    fn tampering_and_missing_keys_fail() {
        let body = MESSAGE.replace("hungry", "thirsty");
        let r = verify_with(body.as_bytes(), 0, &zone);
        assert_eq!(
            r[0].verdict,
            Verdict::Fail("body hash did not verify".into())
        );
        let subject = MESSAGE.replace("dinner ready", "lunch ready");
        let r = verify_with(subject.as_bytes(), 0, &zone);
        assert_eq!(
            r[0].verdict,
            Verdict::Fail("signature did not verify".into())
        );
        assert_eq!(
            r[1].verdict,
            Verdict::Fail("signature did not verify".into())
        );
        let r = verify_with(MESSAGE.as_bytes(), 0, &|_| LookupResult::NxDomain);
        assert!(matches!(r[0].verdict, Verdict::PermError(_)));
        let r = verify_with(MESSAGE.as_bytes(), 0, &|_| LookupResult::Failed("x".into()));
        assert!(matches!(r[1].verdict, Verdict::TempError(_)));
        // Relaxed canonicalization tolerates re-folded header white space.
        let refolded = MESSAGE.replace(
            "Subject: Is dinner ready?",
            "Subject:  Is dinner\r\n  ready?",
        );
        let r = verify_with(refolded.as_bytes(), 0, &zone);
        assert_eq!(r[0].verdict, Verdict::Pass);
    }
}
