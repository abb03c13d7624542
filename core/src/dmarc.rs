//! DMARC (RFC 7489): the author domain of a message (§6.6.1), policy record parsing
//! (§6.3, §6.4) and discovery (§6.6.3) as a machine that asks for its TXT records
//! ([`DmarcCheck`], see [`crate::dns_steps`]), identifier
//! alignment of the DKIM and SPF results (§3.1), and the policy to apply (§6.6.4),
//! including `sp=` and `pct=` sampling. The caller supplies the sample, so the core stays
//! free of randomness.

use crate::dns::{DnsRecord, LookupResult, RecordType};
use crate::dns_steps::{Answers, DnsCheck, DnsQuestion, DnsStep};

/// What a domain asks receivers to do with mail that fails DMARC (`p=`, `sp=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Policy {
    /// Monitor only.
    None,
    /// Treat as suspicious (a Junk folder).
    Quarantine,
    /// Refuse the message.
    Reject,
}

impl Policy {
    /// The keyword used in records and in Authentication-Results comments.
    pub fn keyword(self) -> &'static str {
        match self {
            Policy::None => "none",
            Policy::Quarantine => "quarantine",
            Policy::Reject => "reject",
        }
    }

    fn parse(value: &str) -> Option<Policy> {
        match value.to_ascii_lowercase().as_str() {
            "none" => Some(Policy::None),
            "quarantine" => Some(Policy::Quarantine),
            "reject" => Some(Policy::Reject),
            _ => None,
        }
    }

    /// The next less severe policy (§6.3 `pct`: messages not sampled).
    fn weaker(self) -> Policy {
        match self {
            Policy::Reject => Policy::Quarantine,
            _ => Policy::None,
        }
    }
}

/// Identifier alignment mode (`adkim=`, `aspf=`; §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alignment {
    /// The organizational domains must match.
    Relaxed,
    /// The domains must be identical.
    Strict,
}

/// A parsed DMARC policy record (§6.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `p=`: the policy for the domain.
    pub policy: Policy,
    /// `sp=`: the policy for its subdomains, if given.
    pub subdomain_policy: Option<Policy>,
    /// `adkim=`.
    pub adkim: Alignment,
    /// `aspf=`.
    pub aspf: Alignment,
    /// `pct=`: the percentage of failing mail the policy applies to.
    pub pct: u8,
    /// `rua=`: where aggregate reports go (recorded, not sent).
    pub rua: Vec<String>,
}

/// Parses a TXT record; `Err` says why it is not a usable DMARC record.
///
/// The record must start with `v=DMARC1`. A missing or invalid `p=` (or an invalid `sp=`)
/// makes it `p=none` when it has a valid `rua=`, and unusable otherwise (§6.6.3 step 6).
/// Unknown tags are ignored; bad `adkim`/`aspf`/`pct` values fall back to their defaults.
pub fn parse_record(txt: &str) -> Result<Record, String> {
    let mut tags = txt.split(';').map(str::trim).filter(|t| !t.is_empty());
    let version = tags.next().ok_or("empty record")?;
    match version.split_once('=') {
        Some((v, value)) if v.trim() == "v" && value.trim() == "DMARC1" => {}
        _ => return Err("not a DMARC1 record".into()),
    }
    let mut policy = None;
    let mut bad_policy = false;
    let mut subdomain_policy = None;
    let mut adkim = Alignment::Relaxed;
    let mut aspf = Alignment::Relaxed;
    let mut pct = 100u8;
    let mut rua = Vec::new();
    for tag in tags {
        let Some((name, value)) = tag.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match name.trim() {
            "p" => match Policy::parse(value) {
                Some(p) => policy = Some(p),
                None => bad_policy = true,
            },
            "sp" => match Policy::parse(value) {
                Some(p) => subdomain_policy = Some(p),
                None => bad_policy = true,
            },
            "adkim" | "aspf" => {
                let mode = if value.eq_ignore_ascii_case("s") {
                    Alignment::Strict
                } else {
                    Alignment::Relaxed
                };
                if name.trim() == "adkim" {
                    adkim = mode;
                } else {
                    aspf = mode;
                }
            }
            "pct" => {
                if let Ok(n) = value.parse::<u8>() {
                    pct = n.min(100);
                }
            }
            "rua" => {
                rua = value
                    .split(',')
                    .map(str::trim)
                    .filter(|u| u.contains(':'))
                    .map(str::to_string)
                    .collect();
            }
            _ => {}
        }
    }
    let policy = match policy {
        Some(p) if !bad_policy => p,
        _ if !rua.is_empty() => {
            subdomain_policy = None;
            Policy::None
        }
        _ => return Err("no valid p= tag".into()),
    };
    Ok(Record {
        policy,
        subdomain_policy,
        adkim,
        aspf,
        pct,
        rua,
    })
}

/// The organizational domain of `domain` (§3.2): one label below its public suffix
/// (Public Suffix List, compiled in). Lower-cased; `domain` itself when it has no
/// registrable part.
pub fn organizational_domain(domain: &str) -> String {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    match psl::domain_str(&domain) {
        Some(org) => org.to_string(),
        None => domain,
    }
}

/// Whether `a` and `b` are aligned in `mode` (§3.1.1, §3.1.2).
pub fn aligned(a: &str, b: &str, mode: Alignment) -> bool {
    let a = a.trim_end_matches('.');
    let b = b.trim_end_matches('.');
    match mode {
        Alignment::Strict => a.eq_ignore_ascii_case(b),
        Alignment::Relaxed => organizational_domain(a) == organizational_domain(b),
    }
}

/// The RFC5322.From domain of a message header (§6.6.1), lower-cased. `Err` when there
/// is no From field, more than one, or its addresses are not all in one domain.
pub fn author_domain(header: &[u8]) -> Result<String, String> {
    let (fields, _) = crate::imf::header::split_header_to_blank_line(header);
    let mut from = fields.iter().filter(|f| f.is("From"));
    let field = from.next().ok_or("no From field")?;
    if from.next().is_some() {
        return Err("more than one From field".into());
    }
    let mut domain: Option<String> = None;
    for address in crate::imf::address::address_list(&field.value()) {
        let Some((_, d)) = address.addr.rsplit_once('@') else {
            return Err("From address without a domain".into());
        };
        let d = d.trim_end_matches('.').to_ascii_lowercase();
        if d.is_empty() {
            return Err("From address without a domain".into());
        }
        match &domain {
            Some(seen) if *seen != d => return Err("From addresses in several domains".into()),
            _ => domain = Some(d),
        }
    }
    domain.ok_or_else(|| "no address in From".into())
}

/// The authentication results DMARC builds on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// `d=` of every DKIM signature that verified.
    pub dkim_pass: Vec<String>,
    /// The domain SPF authorized (MAIL FROM's, or HELO's for the null sender), if SPF passed.
    pub spf_pass: Option<String>,
}

/// A DMARC result (RFC 8601 §2.7.x and RFC 7489 §11.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The author domain publishes no (usable) policy.
    None,
    /// An aligned identifier passed.
    Pass,
    /// No aligned identifier passed.
    Fail,
    /// The policy could not be fetched now.
    TempError,
    /// The message has no single author domain; the reason.
    PermError(String),
}

impl Verdict {
    /// The RFC 8601 result keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            Verdict::None => "none",
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::TempError => "temperror",
            Verdict::PermError(_) => "permerror",
        }
    }
}

/// The outcome of a DMARC check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The result.
    pub verdict: Verdict,
    /// The author domain, when there is one.
    pub header_from: Option<String>,
    /// The policy the domain published for this message (`p=` or `sp=`), if any.
    pub published: Option<Policy>,
    /// What the domain asks for this message, after `pct=` sampling (`None` unless it failed).
    pub requested: Policy,
}

/// One DMARC evaluation ([`DnsCheck`]): `poll` until [`DnsStep::Done`], answering each
/// [`DnsStep::Ask`] (TXT lookups) with `answer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmarcCheck {
    header: Vec<u8>,
    evidence: Evidence,
    sample: u8,
    answers: Answers,
}

impl DmarcCheck {
    /// The check of a message whose header section is `header`; `sample` is a number in
    /// 0..100 drawn by the caller for `pct=` (a failing message is sampled when
    /// `sample < pct`).
    pub fn new(header: &[u8], evidence: Evidence, sample: u8) -> Self {
        Self {
            header: header.to_vec(),
            evidence,
            sample,
            answers: Answers::default(),
        }
    }
}

impl DnsCheck for DmarcCheck {
    type Output = Outcome;

    fn poll(&mut self) -> DnsStep<Outcome> {
        self.answers.begin();
        let outcome = evaluate(&self.header, &self.evidence, &mut self.answers, self.sample);
        self.answers.end(outcome)
    }

    fn answer(&mut self, question: DnsQuestion, result: LookupResult) {
        self.answers.add(question, result);
    }
}

fn evaluate(header: &[u8], evidence: &Evidence, txt: &mut Answers, sample: u8) -> Outcome {
    let from = match author_domain(header) {
        Ok(d) => d,
        Err(e) => {
            return Outcome {
                verdict: Verdict::PermError(e),
                header_from: None,
                published: None,
                requested: Policy::None,
            }
        }
    };
    let mut outcome = Outcome {
        verdict: Verdict::None,
        header_from: Some(from.clone()),
        published: None,
        requested: Policy::None,
    };
    let org = organizational_domain(&from);
    let (record, at_org) = match discover(&from, txt) {
        Found::Record(r) => (r, false),
        Found::TempError => {
            outcome.verdict = Verdict::TempError;
            return outcome;
        }
        Found::Nothing if org != from => match discover(&org, txt) {
            Found::Record(r) => (r, true),
            Found::TempError => {
                outcome.verdict = Verdict::TempError;
                return outcome;
            }
            Found::Nothing => return outcome,
        },
        Found::Nothing => return outcome,
    };
    let published = match record.subdomain_policy {
        Some(sp) if at_org => sp,
        _ => record.policy,
    };
    outcome.published = Some(published);
    let dkim = evidence
        .dkim_pass
        .iter()
        .any(|d| aligned(d, &from, record.adkim));
    let spf = evidence
        .spf_pass
        .as_deref()
        .is_some_and(|d| aligned(d, &from, record.aspf));
    if dkim || spf {
        outcome.verdict = Verdict::Pass;
        return outcome;
    }
    outcome.verdict = Verdict::Fail;
    outcome.requested = if sample < record.pct {
        published
    } else {
        published.weaker()
    };
    outcome
}

enum Found {
    Record(Record),
    Nothing,
    TempError,
}

/// Policy discovery at one name (§6.6.3 steps 1, 4 and 5): exactly one usable record.
fn discover(domain: &str, txt: &mut Answers) -> Found {
    let records = match txt.lookup(&format!("_dmarc.{domain}"), RecordType::Txt) {
        LookupResult::Records(r) => r,
        LookupResult::NoData | LookupResult::NxDomain => return Found::Nothing,
        LookupResult::Failed(_) => return Found::TempError,
    };
    let mut candidates = records.iter().filter_map(|r| match r {
        DnsRecord::Txt(t) if t.trim_start().starts_with("v=DMARC1") => Some(t),
        _ => None,
    });
    let (Some(only), None) = (candidates.next(), candidates.next()) else {
        return Found::Nothing;
    };
    match parse_record(only) {
        Ok(r) => Found::Record(r),
        Err(_) => Found::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a check to its end with answers from `zone`.
    fn check(header: &[u8], evidence: &Evidence, zone: &mut Zone<'_>, sample: u8) -> Outcome {
        let mut c = DmarcCheck::new(header, evidence.clone(), sample);
        loop {
            match c.poll() {
                DnsStep::Ask(q) => {
                    let r = zone.lookup(&q.name);
                    c.answer(q, r);
                }
                DnsStep::Done(o) => return o,
            }
        }
    }

    /// TXT records by name; a name whose record is [`TIMEOUT`] fails to answer.
    struct Zone<'a>(&'a [(&'a str, &'a str)]);

    const TIMEOUT: &str = "<timeout>";

    impl Zone<'_> {
        fn lookup(&mut self, name: &str) -> LookupResult {
            let entries = self.0;
            if entries
                .iter()
                .any(|(n, t)| n.eq_ignore_ascii_case(name) && *t == TIMEOUT)
            {
                return LookupResult::Failed("timeout".into());
            }
            let found: Vec<DnsRecord> = entries
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, t)| DnsRecord::Txt(t.to_string()))
                .collect();
            if found.is_empty() {
                LookupResult::NxDomain
            } else {
                LookupResult::Records(found)
            }
        }
    }

    fn evidence(dkim: &[&str], spf: Option<&str>) -> Evidence {
        Evidence {
            dkim_pass: dkim.iter().map(|d| d.to_string()).collect(),
            spf_pass: spf.map(str::to_string),
        }
    }

    #[test]
    fn records_parse_with_defaults_and_fallbacks() {
        let r = parse_record("v=DMARC1; p=reject; rua=mailto:d@example.com").unwrap();
        assert_eq!(r.policy, Policy::Reject);
        assert_eq!(
            (r.adkim, r.aspf, r.pct),
            (Alignment::Relaxed, Alignment::Relaxed, 100)
        );
        assert_eq!(r.rua, vec!["mailto:d@example.com"]);
        let r = parse_record("v=DMARC1;p=Quarantine;sp=none;adkim=s;aspf=s;pct=20").unwrap();
        assert_eq!(r.policy, Policy::Quarantine);
        assert_eq!(r.subdomain_policy, Some(Policy::None));
        assert_eq!(
            (r.adkim, r.aspf, r.pct),
            (Alignment::Strict, Alignment::Strict, 20)
        );
        // An invalid p= with a valid rua= is p=none (§6.6.3 step 6).
        let r = parse_record("v=DMARC1; p=bogus; rua=mailto:d@example.com").unwrap();
        assert_eq!(r.policy, Policy::None);
        assert!(parse_record("v=DMARC1; p=bogus").is_err());
        assert!(parse_record("v=DMARC1; rua=nothing").is_err());
        assert!(parse_record("p=reject; v=DMARC1").is_err());
        assert!(parse_record("v=spf1 -all").is_err());
        assert!(parse_record("").is_err());
    }

    #[test]
    fn organizational_domains_follow_the_public_suffix_list() {
        assert_eq!(organizational_domain("mail.example.co.uk"), "example.co.uk");
        assert_eq!(organizational_domain("A.B.Example.COM."), "example.com");
        assert_eq!(organizational_domain("com"), "com");
        assert!(aligned(
            "mail.example.com",
            "example.com",
            Alignment::Relaxed
        ));
        assert!(!aligned(
            "mail.example.com",
            "example.com",
            Alignment::Strict
        ));
        assert!(aligned("EXAMPLE.com", "example.com.", Alignment::Strict));
        assert!(!aligned("a.co.uk", "b.co.uk", Alignment::Relaxed));
    }

    #[test]
    fn the_author_domain_must_be_single() {
        assert_eq!(
            author_domain(b"Subject: x\r\nFrom: A <a@Example.COM>\r\n\r\nbody").unwrap(),
            "example.com"
        );
        assert_eq!(
            author_domain(b"From: a@x.org, b@x.org\r\n\r\n").unwrap(),
            "x.org"
        );
        assert!(author_domain(b"From: a@x.org, b@y.org\r\n\r\n").is_err());
        assert!(author_domain(b"From: a@x.org\r\nFrom: a@x.org\r\n\r\n").is_err());
        assert!(author_domain(b"Subject: none\r\n\r\n").is_err());
        assert!(author_domain(b"From: undisclosed\r\n\r\n").is_err());
    }

    #[test]
    fn aligned_dkim_or_spf_passes() {
        let head = b"From: a@news.example.com\r\n\r\n";
        let mut dns = Zone(&[("_dmarc.example.com", "v=DMARC1; p=reject")]);
        let pass = check(head, &evidence(&["example.com"], None), &mut dns, 0);
        assert_eq!(pass.verdict, Verdict::Pass);
        assert_eq!(pass.header_from.as_deref(), Some("news.example.com"));
        assert_eq!(pass.published, Some(Policy::Reject));
        assert_eq!(pass.requested, Policy::None);
        let spf = check(
            head,
            &evidence(&[], Some("bounce.example.com")),
            &mut dns,
            0,
        );
        assert_eq!(spf.verdict, Verdict::Pass);
        // A signature by another domain does not count.
        let fail = check(
            head,
            &evidence(&["example.net"], Some("example.org")),
            &mut dns,
            0,
        );
        assert_eq!(fail.verdict, Verdict::Fail);
        assert_eq!(fail.requested, Policy::Reject);
    }

    #[test]
    fn strict_alignment_needs_the_exact_domain() {
        let head = b"From: a@news.example.com\r\n\r\n";
        let mut dns = Zone(&[(
            "_dmarc.news.example.com",
            "v=DMARC1; p=quarantine; adkim=s; aspf=s",
        )]);
        let out = check(
            head,
            &evidence(&["example.com"], Some("example.com")),
            &mut dns,
            0,
        );
        assert_eq!(out.verdict, Verdict::Fail);
        assert_eq!(out.requested, Policy::Quarantine);
        let out = check(head, &evidence(&["news.example.com"], None), &mut dns, 0);
        assert_eq!(out.verdict, Verdict::Pass);
    }

    #[test]
    fn subdomains_use_sp_from_the_organizational_record() {
        let mut dns = Zone(&[("_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine")]);
        let none = evidence(&[], None);
        let sub = check(b"From: a@x.example.com\r\n\r\n", &none, &mut dns, 0);
        assert_eq!(sub.published, Some(Policy::Quarantine));
        assert_eq!(sub.requested, Policy::Quarantine);
        let top = check(b"From: a@example.com\r\n\r\n", &none, &mut dns, 0);
        assert_eq!(top.requested, Policy::Reject);
    }

    #[test]
    fn pct_samples_and_weakens_the_rest() {
        let mut dns = Zone(&[("_dmarc.example.com", "v=DMARC1; p=reject; pct=25")]);
        let head = b"From: a@example.com\r\n\r\n";
        let none = evidence(&[], None);
        assert_eq!(check(head, &none, &mut dns, 24).requested, Policy::Reject);
        assert_eq!(
            check(head, &none, &mut dns, 25).requested,
            Policy::Quarantine
        );
    }

    #[test]
    fn no_record_several_records_or_dns_failure() {
        let head = b"From: a@example.com\r\n\r\n";
        let none = evidence(&[], None);
        let mut empty = Zone(&[]);
        assert_eq!(check(head, &none, &mut empty, 0).verdict, Verdict::None);
        let mut two = Zone(&[
            ("_dmarc.example.com", "v=DMARC1; p=reject"),
            ("_dmarc.example.com", "v=DMARC1; p=none"),
        ]);
        assert_eq!(check(head, &none, &mut two, 0).verdict, Verdict::None);
        let mut other = Zone(&[("_dmarc.example.com", "v=spf1 -all")]);
        assert_eq!(check(head, &none, &mut other, 0).verdict, Verdict::None);
        let mut failing = Zone(&[("_dmarc.example.com", TIMEOUT)]);
        assert_eq!(
            check(head, &none, &mut failing, 0).verdict,
            Verdict::TempError
        );
        let bad = check(b"From: a@x.org, b@y.org\r\n\r\n", &none, &mut empty, 0);
        assert!(matches!(bad.verdict, Verdict::PermError(_)));
    }
}
