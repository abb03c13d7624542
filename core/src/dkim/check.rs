//! DKIM verification of a received message (RFC 6376 §6) as a check that asks for the
//! key records it needs ([`crate::dns_steps::DnsCheck`]): each `DKIM-Signature` (the
//! first five) is parsed, its key fetched from `SELECTOR._domainkey.DOMAIN`, the key
//! checked against the signature (algorithm, `t=s`), and the signed data rebuilt with the
//! body hash compared. What is left is the public-key operation, which the caller does
//! with its crypto library ([`Decision::Verify`], then [`CryptoCheck::verdict`]).

use crate::dkim::verify::{
    parse_key_record, parse_signature, prepare, signature_fields, tag_list, KeyError, KeyType,
    Verdict,
};
use crate::dkim::Algorithm;
use crate::dns::{DnsRecord, LookupResult, RecordType};
use crate::dns_steps::{Answers, DnsCheck, DnsQuestion, DnsStep};

/// What remains for one signature once its key is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The verdict is known without the public-key operation.
    Decided(Verdict),
    /// Everything checked but the signature itself.
    Verify(CryptoCheck),
}

/// The public-key operation left for one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoCheck {
    /// `rsa` (key: SubjectPublicKeyInfo or RSAPublicKey DER) or `ed25519` (raw key).
    pub key_type: KeyType,
    /// `p=` of the key record, decoded.
    pub public_key: Vec<u8>,
    /// What the signature covers (canonicalized header fields and signature field).
    pub data: Vec<u8>,
    /// `b=`, decoded.
    pub signature: Vec<u8>,
    /// The key record says the domain is testing (`t=y`).
    pub testing: bool,
}

impl CryptoCheck {
    /// The verdict once the caller knows whether the signature verified.
    pub fn verdict(&self, verified: bool) -> Verdict {
        if verified {
            Verdict::Pass
        } else {
            failed(self.testing, "signature did not verify")
        }
    }
}

/// One signature's check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    /// `d=` (empty if the field could not be parsed).
    pub domain: String,
    /// `s=`.
    pub selector: String,
    /// The first characters of `b=` (RFC 6008 `header.b`), to tell signatures apart.
    pub b_prefix: String,
    /// The verdict, or the public-key operation still to do.
    pub decision: Decision,
}

/// The DKIM check of one message at Unix time `now`.
#[derive(Debug, Clone)]
pub struct DkimCheck {
    message: Vec<u8>,
    now: i64,
    answers: Answers,
}

impl DkimCheck {
    /// A check of `message` (CRLF line ends).
    pub fn new(message: &[u8], now: i64) -> Self {
        Self {
            message: message.to_vec(),
            now,
            answers: Answers::default(),
        }
    }

    /// The first key record not known yet, for a signature that needs one. Asked before
    /// any evaluation, so each signature's data is canonicalized and hashed once, when
    /// every key is in.
    fn missing_key(&self) -> Option<DnsQuestion> {
        signature_fields(&self.message).iter().find_map(|value| {
            let sig = parse_signature(value).ok()?;
            if sig.expires.is_some_and(|x| x < self.now) {
                return None;
            }
            let name = key_name(&sig);
            (!self.answers.knows(&name, RecordType::Txt)).then_some(DnsQuestion {
                name,
                rtype: RecordType::Txt,
            })
        })
    }

    fn evaluate(&mut self) -> Vec<SignatureCheck> {
        signature_fields(&self.message)
            .iter()
            .enumerate()
            .map(|(index, value)| self.check_one(index, value))
            .collect()
    }

    fn check_one(&mut self, index: usize, value: &str) -> SignatureCheck {
        let sig = match parse_signature(value) {
            Ok(s) => s,
            Err(reason) => {
                let tags = tag_list(value).unwrap_or_default();
                let tag = |n: &str| {
                    tags.iter()
                        .find(|(k, _)| k == n)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                return SignatureCheck {
                    domain: tag("d").to_ascii_lowercase(),
                    selector: tag("s"),
                    b_prefix: String::new(),
                    decision: Decision::Decided(Verdict::PermError(reason)),
                };
            }
        };
        let decision = self.decide(index, &sig);
        SignatureCheck {
            domain: sig.domain.clone(),
            selector: sig.selector.clone(),
            b_prefix: sig.signature_text.chars().take(8).collect(),
            decision,
        }
    }

    fn decide(&mut self, index: usize, sig: &crate::dkim::verify::Signature) -> Decision {
        let decided = |v: Verdict| Decision::Decided(v);
        if sig.expires.is_some_and(|x| x < self.now) {
            return decided(Verdict::Fail("signature expired".into()));
        }
        let records = match self.answers.lookup(&key_name(sig), RecordType::Txt) {
            LookupResult::Records(rs) => rs
                .into_iter()
                .filter_map(|r| match r {
                    DnsRecord::Txt(t) => Some(t),
                    _ => None,
                })
                .collect::<Vec<_>>(),
            LookupResult::NoData | LookupResult::NxDomain => Vec::new(),
            LookupResult::Failed(e) => {
                return decided(Verdict::TempError(format!("key lookup: {e}")))
            }
        };
        let key = match records.iter().map(|r| parse_key_record(r)).next() {
            Some(Ok(k)) => k,
            Some(Err(KeyError::Revoked)) => {
                return decided(Verdict::PermError("key revoked".into()))
            }
            Some(Err(KeyError::Invalid(e))) => {
                return decided(Verdict::PermError(format!("key: {e}")))
            }
            None => return decided(Verdict::PermError("no key for signature".into())),
        };
        let matches_algorithm = matches!(
            (key.key_type, sig.algorithm),
            (KeyType::Rsa, Algorithm::RsaSha256) | (KeyType::Ed25519, Algorithm::Ed25519Sha256)
        );
        if !matches_algorithm {
            return decided(Verdict::PermError("key type does not match a=".into()));
        }
        if key.strict {
            let id_domain = sig.identity.rsplit_once('@').map_or("", |(_, d)| d);
            if !id_domain.eq_ignore_ascii_case(&sig.domain) {
                return decided(Verdict::PermError(
                    "i= is a subdomain but the key has t=s".into(),
                ));
            }
        }
        let Some(prepared) = prepare(&self.message, index, sig) else {
            return decided(Verdict::PermError("signature field not found".into()));
        };
        if !prepared.body_hash_matches {
            return decided(failed(key.testing, "body hash did not verify"));
        }
        Decision::Verify(CryptoCheck {
            key_type: key.key_type,
            public_key: key.public_key,
            data: prepared.data,
            signature: sig.signature.clone(),
            testing: key.testing,
        })
    }
}

/// Where a signature's key is published: `SELECTOR._domainkey.DOMAIN`.
fn key_name(sig: &crate::dkim::verify::Signature) -> String {
    format!("{}._domainkey.{}", sig.selector, sig.domain)
}

/// A failure, softened to `neutral` when the domain is testing DKIM.
fn failed(testing: bool, reason: &str) -> Verdict {
    if testing {
        Verdict::Neutral(format!("{reason} (domain testing)"))
    } else {
        Verdict::Fail(reason.to_string())
    }
}

impl DnsCheck for DkimCheck {
    type Output = Vec<SignatureCheck>;

    fn poll(&mut self) -> DnsStep<Self::Output> {
        if let Some(q) = self.missing_key() {
            return DnsStep::Ask(q);
        }
        self.answers.begin();
        let result = self.evaluate();
        self.answers.end(result)
    }

    fn answer(&mut self, question: DnsQuestion, result: LookupResult) {
        self.answers.add(question, result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8463 Appendix A: the keys (A.2) and the message signed with both (A.3).
    const BRISBANE: &str = include_str!("../../tests/data/dkim/rfc8463-brisbane.txt");
    const TEST_RSA: &str = include_str!("../../tests/data/dkim/rfc8463-test.txt");
    const MESSAGE: &str = include_str!("../../tests/data/dkim/rfc8463.eml");

    fn run(
        message: &str,
        dns: &dyn Fn(&DnsQuestion) -> LookupResult,
    ) -> (Vec<String>, Vec<SignatureCheck>) {
        let mut check = DkimCheck::new(message.as_bytes(), 1_600_000_000);
        let mut asked = Vec::new();
        loop {
            match check.poll() {
                DnsStep::Ask(q) => {
                    assert_eq!(q.rtype, RecordType::Txt);
                    asked.push(q.name.clone());
                    let a = dns(&q);
                    check.answer(q, a);
                }
                DnsStep::Done(out) => return (asked, out),
            }
        }
    }

    #[test]
    fn asks_each_key_once_and_leaves_only_the_signature_to_verify() {
        let (asked, out) = run(MESSAGE, &|q| {
            let key = if q.name.starts_with("brisbane.") {
                BRISBANE
            } else {
                TEST_RSA
            };
            LookupResult::Records(vec![DnsRecord::Txt(key.into())])
        });
        assert_eq!(
            asked,
            [
                "brisbane._domainkey.football.example.com",
                "test._domainkey.football.example.com"
            ]
        );
        assert_eq!(out.len(), 2);
        let Decision::Verify(c) = &out[0].decision else {
            panic!("{:?}", out[0])
        };
        assert_eq!(c.key_type, KeyType::Ed25519);
        assert_eq!(
            c.verdict(false),
            Verdict::Fail("signature did not verify".into())
        );
        assert!(matches!(out[1].decision, Decision::Verify(ref c) if c.key_type == KeyType::Rsa));
    }

    #[test]
    fn missing_unreachable_and_testing_keys_decide_without_crypto() {
        let (_, out) = run(MESSAGE, &|_| LookupResult::NxDomain);
        assert_eq!(
            out[0].decision,
            Decision::Decided(Verdict::PermError("no key for signature".into()))
        );
        let (_, out) = run(MESSAGE, &|_| LookupResult::Failed("timeout".into()));
        assert!(
            matches!(&out[1].decision, Decision::Decided(Verdict::TempError(t)) if t.contains("timeout"))
        );
        let testing = format!("{BRISBANE}; t=y");
        let tampered = MESSAGE.replace("hungry", "thirsty");
        let (_, out) = run(&tampered, &|_| {
            LookupResult::Records(vec![DnsRecord::Txt(testing.clone())])
        });
        assert_eq!(
            out[0].decision,
            Decision::Decided(Verdict::Neutral(
                "body hash did not verify (domain testing)".into()
            ))
        );
        let (asked, out) = run("DKIM-Signature: v=1; nonsense\r\n\r\nbody\r\n", &|_| {
            LookupResult::NxDomain
        });
        assert!(asked.is_empty());
        assert!(matches!(
            out[0].decision,
            Decision::Decided(Verdict::PermError(_))
        ));
    }
}
