//! SPF (RFC 7208): `check_host()` as a machine that asks for its DNS answers
//! ([`SpfCheck`], see [`crate::dns_steps`]), so the core stays free of IO. Record selection (§4.5), every mechanism and modifier (§5, §6), macro expansion
//! (§7), the limits of ten DNS-querying terms and two void lookups (§4.6.4), and the
//! processing of `include` and `redirect` results (§5.2, §6.1). `exp=` explanations are
//! expanded for `fail` results.

use std::net::IpAddr;

use crate::dns::{DnsRecord, LookupResult, RecordType};
use crate::dns_steps::{Answers, DnsCheck, DnsQuestion, DnsStep};

/// An SPF result (§2.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpfResult {
    /// No record, or no usable domain.
    None,
    /// The record says nothing definite.
    Neutral,
    /// The client is authorized.
    Pass,
    /// The client is not authorized; the explanation, if the domain gave one.
    Fail(Option<String>),
    /// Probably not authorized.
    SoftFail,
    /// A transient DNS error.
    TempError,
    /// The record could not be used; the reason.
    PermError(String),
}

impl SpfResult {
    /// The RFC 8601 / Received-SPF keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            SpfResult::None => "none",
            SpfResult::Neutral => "neutral",
            SpfResult::Pass => "pass",
            SpfResult::Fail(_) => "fail",
            SpfResult::SoftFail => "softfail",
            SpfResult::TempError => "temperror",
            SpfResult::PermError(_) => "permerror",
        }
    }
}

/// The inputs of `check_host()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfRequest {
    /// The client's address.
    pub ip: IpAddr,
    /// The MAIL FROM address (or `postmaster@HELO` when MAIL FROM is empty).
    pub sender: String,
    /// The HELO/EHLO name.
    pub helo: String,
    /// This host's name (`%{r}`).
    pub receiver: String,
    /// Unix time (`%{t}`).
    pub now: i64,
}

/// DNS-querying terms allowed per check (§4.6.4).
const MAX_LOOKUPS: u32 = 10;
/// Lookups that may return no records (§4.6.4).
const MAX_VOID: u32 = 2;

/// One SPF evaluation ([`DnsCheck`]): `poll` until [`DnsStep::Done`], answering each
/// [`DnsStep::Ask`] with `answer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfCheck {
    request: SpfRequest,
    domain: String,
    answers: Answers,
}

impl SpfCheck {
    /// The check of `request.sender`'s domain (the MAIL FROM identity).
    pub fn mail_from(request: SpfRequest) -> Self {
        let domain = request
            .sender
            .rsplit_once('@')
            .map_or(request.sender.as_str(), |(_, d)| d)
            .to_string();
        Self {
            request,
            domain,
            answers: Answers::default(),
        }
    }

    /// The check of the HELO identity (§2.3): `postmaster@HELO`.
    pub fn helo(request: SpfRequest) -> Self {
        let domain = request.helo.clone();
        let mut request = request;
        request.sender = format!("postmaster@{domain}");
        Self {
            request,
            domain,
            answers: Answers::default(),
        }
    }

    /// How many lookups the evaluations made (for tests).
    pub fn lookups_made(&self) -> usize {
        self.answers.asked()
    }
}

impl DnsCheck for SpfCheck {
    type Output = SpfResult;

    fn poll(&mut self) -> DnsStep<SpfResult> {
        self.answers.begin();
        let mut ctx = Ctx {
            req: &self.request,
            dns: &mut self.answers,
            lookups: 0,
            void: 0,
            validated: None,
        };
        let result = match ctx.check_host(&self.domain, 0) {
            Err(e) => e,
            Ok(r) => r,
        };
        self.answers.end(result)
    }

    fn answer(&mut self, question: DnsQuestion, result: LookupResult) {
        self.answers.add(question, result);
    }
}

struct Ctx<'a> {
    req: &'a SpfRequest,
    dns: &'a mut Answers,
    lookups: u32,
    void: u32,
    /// The validated names of the client (§5.5), looked up once per evaluation: a
    /// record full of `%{p}` macros must not cost a PTR query and ten A queries each.
    validated: Option<Vec<String>>,
}

/// An early end of evaluation (temperror, permerror).
type Flow<T> = Result<T, SpfResult>;

fn perm(why: impl Into<String>) -> SpfResult {
    SpfResult::PermError(why.into())
}

/// Whether `d` can be a domain to evaluate (§4.3): dotted, labels of 1..63 octets.
fn valid_domain(d: &str) -> bool {
    let d = d.strip_suffix('.').unwrap_or(d);
    d.contains('.') && d.len() <= 253 && d.split('.').all(|l| !l.is_empty() && l.len() <= 63)
}

/// A name built by macro expansion, shortened from the left to 253 octets (§7.3).
fn truncate_name(mut d: String) -> String {
    while d.len() > 253 {
        match d.find('.') {
            Some(i) => d = d[i + 1..].to_string(),
            None => break,
        }
    }
    d
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qualifier {
    Pass,
    Fail,
    SoftFail,
    Neutral,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mechanism {
    All,
    Include(String),
    A(Option<String>, u8, u8),
    Mx(Option<String>, u8, u8),
    Ptr(Option<String>),
    Ip4(std::net::Ipv4Addr, u8),
    Ip6(std::net::Ipv6Addr, u8),
    Exists(String),
}

struct Record {
    directives: Vec<(Qualifier, Mechanism)>,
    redirect: Option<String>,
    exp: Option<String>,
}

/// Checks a macro-string's syntax (§7.1) without expanding it.
fn valid_macro_string(s: &str, exp: bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            match b.get(i + 1) {
                Some(b'%' | b'_' | b'-') => i += 2,
                Some(b'{') => {
                    let Some(end) = s[i..].find('}') else {
                        return false;
                    };
                    let inner = &s[i + 2..i + end];
                    let mut chars = inner.chars();
                    let Some(letter) = chars.next() else {
                        return false;
                    };
                    let ok_letter =
                        "slodiphvSLODIPHV".contains(letter) || (exp && "crtCRT".contains(letter));
                    if !ok_letter {
                        return false;
                    }
                    let rest: String = chars.collect();
                    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
                    let after = &rest[digits.len()..];
                    let after = after
                        .strip_prefix('r')
                        .or_else(|| after.strip_prefix('R'))
                        .unwrap_or(after);
                    if !after.chars().all(|c| ".-+,/_=".contains(c)) {
                        return false;
                    }
                    if !digits.is_empty() && digits.parse::<u32>().map_or(true, |n| n == 0) {
                        return false;
                    }
                    i += end + 1;
                }
                _ => return false,
            }
        } else if (0x21..=0x7e).contains(&c) || (exp && c == b' ') {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// Whether `d` is a domain-spec (§7.1): a macro-string ending in a macro or in a dotted
/// valid top label (not all digits, no leading or trailing hyphen).
fn valid_domain_spec(d: &str) -> bool {
    if d.is_empty() || !valid_macro_string(d, false) {
        return false;
    }
    if d.ends_with("%%") || d.ends_with("%_") || d.ends_with("%-") {
        return true;
    }
    if d.ends_with('}') {
        if let Some(i) = d.rfind("%{") {
            if d[i..].find('}') == Some(d.len() - i - 1) {
                return true;
            }
        }
    }
    let t = d.strip_suffix('.').unwrap_or(d);
    let Some((_, top)) = t.rsplit_once('.') else {
        return false;
    };
    !top.is_empty()
        && top.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !top.bytes().all(|b| b.is_ascii_digit())
        && !top.starts_with('-')
        && !top.ends_with('-')
}

/// Whether a name can be asked for at all (RFC 1035 labels); names that cannot are
/// treated as non-existent (§4.3, §5).
fn queryable(name: &str) -> bool {
    let n = name.strip_suffix('.').unwrap_or(name);
    !n.is_empty() && n.split('.').all(|l| !l.is_empty() && l.len() <= 63)
}

/// Splits `spec[:domain][/cidr4][//cidr6]`.
fn domain_and_cidr(arg: &str) -> Flow<(Option<String>, u8, u8)> {
    let (rest, c6) = match arg.find("//") {
        Some(i) => (&arg[..i], Some(&arg[i + 2..])),
        None => (arg, None),
    };
    // A trailing `/digits` is a CIDR length; any other `/` belongs to the domain-spec.
    let (domain, c4) = match rest.rfind('/') {
        Some(i) if rest[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            (&rest[..i], Some(&rest[i + 1..]))
        }
        _ => (rest, None),
    };
    let parse = |v: Option<&str>, max: u8| v.map_or(Ok(max), |v| cidr(v, max));
    let c4 = parse(c4, 32)?;
    let c6 = parse(c6, 128)?;
    let domain = match domain.strip_prefix(':') {
        Some(d) if !d.is_empty() => {
            if !valid_domain_spec(d) {
                return Err(perm(format!("invalid domain-spec {d:?}")));
            }
            Some(d.to_string())
        }
        Some(_) => return Err(perm("empty domain-spec")),
        None if domain.is_empty() => None,
        None => return Err(perm(format!("invalid mechanism argument {domain:?}"))),
    };
    Ok((domain, c4, c6))
}

fn required_domain(arg: &str, name: &str) -> Flow<String> {
    match arg.strip_prefix(':') {
        Some(d) if valid_domain_spec(d) => Ok(d.to_string()),
        _ => Err(perm(format!("{name} needs a domain-spec"))),
    }
}

fn parse_record(text: &str) -> Flow<Record> {
    let mut rec = Record {
        directives: Vec::new(),
        redirect: None,
        exp: None,
    };
    for term in text.split(' ').skip(1).filter(|t| !t.is_empty()) {
        if !term.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(perm(format!("invalid characters in term {term:?}")));
        }
        // A modifier: name=value where name is alpha *( alpha / digit / - / _ / . ).
        if let Some(eq) = term.find('=') {
            let name = &term[..eq];
            let is_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if is_name {
                let value = &term[eq + 1..];
                match name.to_ascii_lowercase().as_str() {
                    "redirect" => {
                        if rec.redirect.is_some() {
                            return Err(perm("redirect= given twice"));
                        }
                        if !valid_domain_spec(value) {
                            return Err(perm("invalid redirect="));
                        }
                        rec.redirect = Some(value.to_string());
                    }
                    "exp" => {
                        if rec.exp.is_some() {
                            return Err(perm("exp= given twice"));
                        }
                        if !valid_domain_spec(value) {
                            return Err(perm("invalid exp="));
                        }
                        rec.exp = Some(value.to_string());
                    }
                    _ => {
                        if !valid_macro_string(value, false) {
                            return Err(perm(format!("invalid modifier {term:?}")));
                        }
                    }
                }
                continue;
            }
        }
        let (qualifier, mech) = match term.as_bytes()[0] {
            b'+' => (Qualifier::Pass, &term[1..]),
            b'-' => (Qualifier::Fail, &term[1..]),
            b'~' => (Qualifier::SoftFail, &term[1..]),
            b'?' => (Qualifier::Neutral, &term[1..]),
            _ => (Qualifier::Pass, term),
        };
        let split = mech.find([':', '/']).unwrap_or(mech.len());
        let (name, arg) = mech.split_at(split);
        let m = match name.to_ascii_lowercase().as_str() {
            "all" if arg.is_empty() => Mechanism::All,
            "include" => Mechanism::Include(required_domain(arg, "include")?),
            "exists" => Mechanism::Exists(required_domain(arg, "exists")?),
            "a" => {
                let (d, c4, c6) = domain_and_cidr(arg)?;
                Mechanism::A(d, c4, c6)
            }
            "mx" => {
                let (d, c4, c6) = domain_and_cidr(arg)?;
                Mechanism::Mx(d, c4, c6)
            }
            "ptr" => match arg.strip_prefix(':') {
                None if arg.is_empty() => Mechanism::Ptr(None),
                Some(d) if valid_domain_spec(d) => Mechanism::Ptr(Some(d.to_string())),
                _ => return Err(perm("invalid ptr")),
            },
            "ip4" => {
                let v = arg
                    .strip_prefix(':')
                    .ok_or_else(|| perm("ip4 needs a network"))?;
                let (addr, len) = match v.split_once('/') {
                    Some((a, l)) => (a, l),
                    None => (v, "32"),
                };
                let addr = addr
                    .parse::<std::net::Ipv4Addr>()
                    .map_err(|_| perm(format!("invalid ip4 {v:?}")))?;
                if addr.to_string() != v.split('/').next().unwrap_or("") {
                    return Err(perm(format!("invalid ip4 {v:?}")));
                }
                let len = cidr(len, 32)?;
                Mechanism::Ip4(addr, len)
            }
            "ip6" => {
                let v = arg
                    .strip_prefix(':')
                    .ok_or_else(|| perm("ip6 needs a network"))?;
                let (addr, len) = match v.split_once('/') {
                    Some((a, l)) => (a, l),
                    None => (v, "128"),
                };
                let addr = addr
                    .parse::<std::net::Ipv6Addr>()
                    .map_err(|_| perm(format!("invalid ip6 {v:?}")))?;
                Mechanism::Ip6(addr, cidr(len, 128)?)
            }
            _ => return Err(perm(format!("unknown mechanism {term:?}"))),
        };
        rec.directives.push((qualifier, m));
    }
    Ok(rec)
}

fn cidr(v: &str, max: u8) -> Flow<u8> {
    if v.is_empty()
        || v.len() > 3
        || !v.bytes().all(|b| b.is_ascii_digit())
        || (v.len() > 1 && v.starts_with('0'))
    {
        return Err(perm(format!("invalid CIDR length /{v}")));
    }
    let n: u8 = v.parse().map_err(|_| perm("invalid CIDR length"))?;
    if n > max {
        return Err(perm(format!("CIDR length /{n} too long")));
    }
    Ok(n)
}

fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// The client address as SPF compares it: an IPv4-mapped IPv6 address is IPv4 (§5).
fn client_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Ctx<'_> {
    fn count_lookup(&mut self) -> Flow<()> {
        self.lookups += 1;
        if self.lookups > MAX_LOOKUPS {
            return Err(perm("more than 10 DNS-querying terms"));
        }
        Ok(())
    }

    /// A lookup whose NXDOMAIN/empty answer counts as void; DNS failures are temperror.
    fn query(&mut self, name: &str, rtype: RecordType) -> Flow<Vec<DnsRecord>> {
        if !queryable(name) {
            return Ok(Vec::new());
        }
        match self.dns.lookup(name, rtype) {
            LookupResult::Records(r) => Ok(r),
            LookupResult::NoData | LookupResult::NxDomain => {
                self.void += 1;
                if self.void > MAX_VOID {
                    return Err(perm("more than 2 void lookups"));
                }
                Ok(Vec::new())
            }
            LookupResult::Failed(_) => Err(SpfResult::TempError),
        }
    }

    fn addresses(&mut self, name: &str) -> Flow<Vec<IpAddr>> {
        let rtype = match client_ip(self.req.ip) {
            IpAddr::V4(_) => RecordType::A,
            IpAddr::V6(_) => RecordType::Aaaa,
        };
        Ok(self
            .query(name, rtype)?
            .into_iter()
            .filter_map(|r| match r {
                DnsRecord::Address(a) => Some(a),
                _ => None,
            })
            .collect())
    }

    fn check_host(&mut self, domain: &str, depth: u32) -> Flow<SpfResult> {
        if depth > 20 {
            return Err(perm("include/redirect loop"));
        }
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        if !valid_domain(domain) {
            return Ok(SpfResult::None);
        }
        let records = match self.dns.lookup(domain, RecordType::Txt) {
            LookupResult::Records(r) => r,
            LookupResult::NoData | LookupResult::NxDomain => return Ok(SpfResult::None),
            LookupResult::Failed(_) => return Err(SpfResult::TempError),
        };
        let spf: Vec<String> = records
            .into_iter()
            .filter_map(|r| match r {
                DnsRecord::Txt(t) => Some(t),
                _ => None,
            })
            .filter(|t| {
                let l = t.to_ascii_lowercase();
                l == "v=spf1" || l.starts_with("v=spf1 ")
            })
            .collect();
        let text = match spf.as_slice() {
            [] => return Ok(SpfResult::None),
            [one] => one.clone(),
            _ => return Err(perm("more than one SPF record")),
        };
        let rec = parse_record(&text)?;
        let ip = client_ip(self.req.ip);
        for (q, m) in &rec.directives {
            let matched = match m {
                Mechanism::All => true,
                Mechanism::Ip4(net, len) => in_network(ip, IpAddr::V4(*net), *len),
                Mechanism::Ip6(net, len) => in_network(ip, IpAddr::V6(*net), *len),
                Mechanism::A(d, c4, c6) => {
                    self.count_lookup()?;
                    let target = self.target(d.as_deref(), domain)?;
                    let len = if ip.is_ipv4() { *c4 } else { *c6 };
                    self.addresses(&target)?
                        .iter()
                        .any(|a| in_network(ip, *a, len))
                }
                Mechanism::Mx(d, c4, c6) => {
                    self.count_lookup()?;
                    let target = self.target(d.as_deref(), domain)?;
                    let len = if ip.is_ipv4() { *c4 } else { *c6 };
                    let mut hosts: Vec<String> = self
                        .query(&target, RecordType::Mx)?
                        .into_iter()
                        .filter_map(|r| match r {
                            DnsRecord::Mx { exchange, .. } => Some(exchange),
                            _ => None,
                        })
                        .collect();
                    if hosts.len() > 10 {
                        return Err(perm("more than 10 MX records"));
                    }
                    hosts.retain(|h| !h.is_empty());
                    let mut found = false;
                    for h in hosts {
                        if self.addresses(&h)?.iter().any(|a| in_network(ip, *a, len)) {
                            found = true;
                            break;
                        }
                    }
                    found
                }
                Mechanism::Ptr(d) => {
                    self.count_lookup()?;
                    let target = self.target(d.as_deref(), domain)?;
                    self.validated_names()?.iter().any(|n| {
                        n.eq_ignore_ascii_case(&target)
                            || n.to_ascii_lowercase()
                                .ends_with(&format!(".{}", target.to_ascii_lowercase()))
                    })
                }
                Mechanism::Exists(d) => {
                    self.count_lookup()?;
                    let target = truncate_name(self.expand(d, domain, false)?);
                    !self.query(&target, RecordType::A)?.is_empty()
                }
                Mechanism::Include(d) => {
                    self.count_lookup()?;
                    let target = truncate_name(self.expand(d, domain, false)?);
                    match self.check_host(&target, depth + 1)? {
                        SpfResult::Pass => true,
                        SpfResult::Fail(_) | SpfResult::SoftFail | SpfResult::Neutral => false,
                        SpfResult::TempError => return Err(SpfResult::TempError),
                        SpfResult::None => {
                            return Err(perm(format!("include:{target} has no SPF record")))
                        }
                        e @ SpfResult::PermError(_) => return Err(e),
                    }
                }
            };
            if matched {
                return Ok(match q {
                    Qualifier::Pass => SpfResult::Pass,
                    Qualifier::Fail => {
                        SpfResult::Fail(self.explanation(rec.exp.as_deref(), domain))
                    }
                    Qualifier::SoftFail => SpfResult::SoftFail,
                    Qualifier::Neutral => SpfResult::Neutral,
                });
            }
        }
        if let Some(r) = &rec.redirect {
            self.count_lookup()?;
            let target = truncate_name(self.expand(r, domain, false)?);
            return match self.check_host(&target, depth + 1)? {
                SpfResult::None => Err(perm(format!("redirect={target} has no SPF record"))),
                other => Ok(other),
            };
        }
        Ok(SpfResult::Neutral)
    }

    fn target(&mut self, spec: Option<&str>, domain: &str) -> Flow<String> {
        match spec {
            None => Ok(domain.to_string()),
            Some(s) => Ok(truncate_name(self.expand(s, domain, false)?)),
        }
    }

    /// Names of the client address confirmed by a forward lookup (§5.5), at most ten.
    fn validated_names(&mut self) -> Flow<Vec<String>> {
        if let Some(names) = &self.validated {
            return Ok(names.clone());
        }
        let ip = client_ip(self.req.ip);
        let names: Vec<String> = match self.dns.lookup(&reverse_name(ip), RecordType::Ptr) {
            LookupResult::Records(r) => r
                .into_iter()
                .filter_map(|r| match r {
                    DnsRecord::Ptr(n) => Some(n),
                    _ => None,
                })
                .take(10)
                .collect(),
            _ => Vec::new(),
        };
        let mut out = Vec::new();
        for n in names {
            let rtype = if ip.is_ipv4() {
                RecordType::A
            } else {
                RecordType::Aaaa
            };
            if let LookupResult::Records(r) = self.dns.lookup(&n, rtype) {
                if r.iter()
                    .any(|x| matches!(x, DnsRecord::Address(a) if *a == ip))
                {
                    out.push(n);
                }
            }
        }
        self.validated = Some(out.clone());
        Ok(out)
    }

    fn explanation(&mut self, exp: Option<&str>, domain: &str) -> Option<String> {
        let spec = exp?;
        let target = truncate_name(self.expand(spec, domain, false).ok()?);
        if !valid_domain(&target) {
            return None;
        }
        let LookupResult::Records(r) = self.dns.lookup(&target, RecordType::Txt) else {
            return None;
        };
        let texts: Vec<String> = r
            .into_iter()
            .filter_map(|r| match r {
                DnsRecord::Txt(t) => Some(t),
                _ => None,
            })
            .collect();
        match texts.as_slice() {
            [one] if valid_macro_string(one, true) => self.expand(one, domain, true).ok(),
            _ => None,
        }
    }

    /// Macro expansion (§7.3).
    fn expand(&mut self, spec: &str, domain: &str, exp: bool) -> Flow<String> {
        let mut out = String::new();
        let b = spec.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'%' {
                out.push(b[i] as char);
                i += 1;
                continue;
            }
            match b.get(i + 1) {
                Some(b'%') => out.push('%'),
                Some(b'_') => out.push(' '),
                Some(b'-') => out.push_str("%20"),
                Some(b'{') => {
                    let end = spec[i..].find('}').ok_or_else(|| perm("unclosed macro"))?;
                    let inner = &spec[i + 2..i + end];
                    out.push_str(&self.macro_value(inner, domain, exp)?);
                    i += end + 1;
                    continue;
                }
                _ => return Err(perm(format!("invalid macro in {spec:?}"))),
            }
            i += 2;
        }
        Ok(out)
    }

    fn macro_value(&mut self, inner: &str, domain: &str, exp: bool) -> Flow<String> {
        let mut chars = inner.chars();
        let letter = chars.next().ok_or_else(|| perm("empty macro"))?;
        let rest: String = chars.collect();
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let mut after = &rest[digits.len()..];
        let reverse = after.starts_with(['r', 'R']);
        if reverse {
            after = &after[1..];
        }
        if !after.chars().all(|c| ".-+,/_=".contains(c)) {
            return Err(perm(format!("invalid macro %{{{inner}}}")));
        }
        let delimiters: Vec<char> = if after.is_empty() {
            vec!['.']
        } else {
            after.chars().collect()
        };
        let req = self.req;
        let sender = if req.sender.contains('@') {
            req.sender.clone()
        } else {
            format!("postmaster@{}", req.sender)
        };
        let (local, sender_domain) = sender.rsplit_once('@').unwrap_or(("postmaster", ""));
        let local = if local.is_empty() {
            "postmaster"
        } else {
            local
        };
        let ip = client_ip(req.ip);
        let value = match letter.to_ascii_lowercase() {
            's' => sender.clone(),
            'l' => local.to_string(),
            'o' => sender_domain.to_string(),
            'd' => domain.to_string(),
            'i' => match ip {
                IpAddr::V4(a) => a.to_string(),
                IpAddr::V6(a) => nibbles(a),
            },
            'p' => {
                self.count_lookup().ok();
                let names = self.validated_names().unwrap_or_default();
                names
                    .iter()
                    .find(|n| n.eq_ignore_ascii_case(domain))
                    .or_else(|| {
                        names.iter().find(|n| {
                            n.to_ascii_lowercase()
                                .ends_with(&format!(".{}", domain.to_ascii_lowercase()))
                        })
                    })
                    .or(names.first())
                    .cloned()
                    .unwrap_or_else(|| "unknown".to_string())
            }
            'v' => if ip.is_ipv4() { "in-addr" } else { "ip6" }.to_string(),
            'h' => req.helo.clone(),
            'c' if exp => req.ip.to_string(),
            'r' if exp => req.receiver.clone(),
            't' if exp => req.now.to_string(),
            _ => return Err(perm(format!("invalid macro letter {letter}"))),
        };
        let mut parts: Vec<&str> = value.split(|c| delimiters.contains(&c)).collect();
        if reverse {
            parts.reverse();
        }
        if !digits.is_empty() {
            let n: usize = digits.parse().map_err(|_| perm("invalid macro digits"))?;
            if n == 0 {
                return Err(perm("macro digits of 0"));
            }
            if parts.len() > n {
                parts = parts[parts.len() - n..].to_vec();
            }
        }
        let joined = parts.join(".");
        if letter.is_ascii_uppercase() {
            Ok(url_escape(&joined))
        } else {
            Ok(joined)
        }
    }
}

fn nibbles(a: std::net::Ipv6Addr) -> String {
    a.octets()
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .map(|n| format!("{n:x}"))
        .collect::<Vec<_>>()
        .join(".")
}

/// The name of a reverse (PTR) lookup of `ip`.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(a) => {
            let mut n: Vec<String> = nibbles(a).split('.').map(str::to_string).collect();
            n.reverse();
            format!("{}.ip6.arpa", n.join("."))
        }
    }
}

/// The URL escaping of macro letters written in upper case (RFC 7208 §7.3).
fn url_escape(s: &str) -> String {
    crate::web::form::encode_component(s)
}

#[cfg(test)]
mod tests;
