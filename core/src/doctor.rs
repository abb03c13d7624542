//! `postrider doctor`: the judgements on what a mail domain publishes in DNS, from
//! answers the caller looked up. Each check ends in a [`Finding`]: `ok`, `warn` or
//! `fail`, why, and the record to publish when one is missing or wrong.

use std::fmt;
use std::net::IpAddr;

use crate::dns::{DnsRecord, LookupResult};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// As it should be.
    Ok,
    /// Works, but something is missing or risky.
    Warn,
    /// Mail will bounce, be refused or be judged spam.
    Fail,
}

impl Status {
    /// The word printed at the start of the line.
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How it came out.
    pub status: Status,
    /// The check's short name (`mx`, `spf`, `dkim`...).
    pub check: &'static str,
    /// What was checked (a domain, host or address).
    pub subject: String,
    /// Why, and what to publish when something is missing.
    pub detail: String,
}

impl Finding {
    /// A finding of `status` for `check` on `subject`.
    pub fn new(status: Status, check: &'static str, subject: &str, detail: String) -> Self {
        Finding {
            status,
            check,
            subject: subject.to_string(),
            detail,
        }
    }
}

impl fmt::Display for Finding {
    /// `STATUS CHECK SUBJECT: DETAIL`, the status padded so the columns line up.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<4} {:<8} {}: {}",
            self.status.word(),
            self.check,
            self.subject,
            self.detail
        )
    }
}

/// What `pick` takes from each record of an answer (nothing for no records).
fn picked<'a, T>(answer: &'a LookupResult, pick: impl Fn(&'a DnsRecord) -> Option<T>) -> Vec<T> {
    match answer {
        LookupResult::Records(records) => records.iter().filter_map(pick).collect(),
        _ => Vec::new(),
    }
}

/// The TXT strings of an answer (empty for no records).
pub fn txt_strings(answer: &LookupResult) -> Vec<&str> {
    picked(answer, |r| match r {
        DnsRecord::Txt(t) => Some(t.as_str()),
        _ => None,
    })
}

/// The MX hosts of an answer, most preferred first (a null MX gives `""`).
pub fn mx_hosts(answer: &LookupResult) -> Vec<(u16, String)> {
    let mut hosts = picked(answer, |r| match r {
        DnsRecord::Mx {
            preference,
            exchange,
        } => Some((*preference, exchange.to_ascii_lowercase())),
        _ => None,
    });
    hosts.sort();
    hosts
}

/// The MX check of `domain` whose mail this host, `host`, receives.
pub fn judge_mx(domain: &str, host: &str, answer: &LookupResult) -> Finding {
    let publish = format!("publish: {domain}. IN MX 10 {host}.");
    let hosts = mx_hosts(answer);
    let (status, detail) = match answer {
        LookupResult::Failed(e) => (Status::Fail, format!("MX lookup failed: {e}")),
        _ if hosts.iter().any(|(_, h)| h.is_empty() || h == ".") => (
            Status::Fail,
            format!("a null MX says {domain} receives no mail; {publish}"),
        ),
        _ if hosts.is_empty() => (Status::Fail, format!("no MX record; {publish}")),
        _ => {
            let listed = hosts
                .iter()
                .map(|(p, h)| format!("{p} {h}"))
                .collect::<Vec<_>>()
                .join(", ");
            if hosts.iter().any(|(_, h)| h.eq_ignore_ascii_case(host)) {
                (Status::Ok, format!("MX {listed}"))
            } else {
                (
                    Status::Fail,
                    format!("MX {listed} does not name this host ({host}); {publish}"),
                )
            }
        }
    };
    Finding::new(status, "mx", domain, detail)
}

/// The addresses in an answer.
pub fn addresses(answer: &LookupResult) -> Vec<IpAddr> {
    picked(answer, |r| match r {
        DnsRecord::Address(ip) => Some(*ip),
        _ => None,
    })
}

/// The PTR check of `ip`, whose reverse answer is `answer`; `host` is this host's name
/// and `forward` its addresses (the name must lead back to the address).
pub fn judge_ptr(ip: IpAddr, host: &str, answer: &LookupResult, forward: &[IpAddr]) -> Finding {
    let names = picked(answer, |r| match r {
        DnsRecord::Ptr(n) => Some(n.to_ascii_lowercase()),
        _ => None,
    });
    let publish = format!(
        "ask the address's owner for: {}. IN PTR {host}.",
        crate::spf::reverse_name(ip)
    );
    let subject = ip.to_string();
    let (status, detail) = if let LookupResult::Failed(e) = answer {
        (Status::Fail, format!("PTR lookup failed: {e}"))
    } else if names.is_empty() {
        (Status::Fail, format!("no PTR record; {publish}"))
    } else if !names.iter().any(|n| n.eq_ignore_ascii_case(host)) {
        (
            Status::Fail,
            format!(
                "PTR names {}, not this host ({host}); {publish}",
                names.join(", ")
            ),
        )
    } else if !forward.contains(&ip) {
        (
            Status::Fail,
            format!("PTR names {host}, but {host} does not resolve to {ip}"),
        )
    } else {
        (Status::Ok, format!("PTR {host} (and back)"))
    };
    Finding::new(status, "ptr", &subject, detail)
}

/// The SPF record to suggest for `domain`: `mx` when its MX is this host, else the
/// addresses themselves.
pub fn spf_suggestion(domain: &str, mx_is_this_host: bool, addrs: &[IpAddr]) -> String {
    let mechanisms = if mx_is_this_host || addrs.is_empty() {
        "mx".to_string()
    } else {
        addrs
            .iter()
            .map(|a| match a {
                IpAddr::V4(_) => format!("ip4:{a}"),
                IpAddr::V6(_) => format!("ip6:{a}"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!("publish: {domain}. IN TXT \"v=spf1 {mechanisms} -all\"")
}

/// The SPF records (`v=spf1`) among TXT strings.
pub fn spf_records<'a>(txts: &[&'a str]) -> Vec<&'a str> {
    txts.iter()
        .copied()
        .filter(|t| {
            let t = t.trim_start();
            t.len() >= 6
                && t[..6].eq_ignore_ascii_case("v=spf1")
                && (t.len() == 6 || t.as_bytes()[6] == b' ')
        })
        .collect()
}

/// The DMARC check of `domain` from the TXT answer of `_dmarc.DOMAIN`.
pub fn judge_dmarc(domain: &str, answer: &LookupResult) -> Finding {
    let publish = format!(
        "publish: _dmarc.{domain}. IN TXT \"v=DMARC1; p=none; rua=mailto:postmaster@{domain}\""
    );
    let records: Vec<&str> = txt_strings(answer)
        .into_iter()
        .filter(|t| t.trim_start().starts_with("v=DMARC1"))
        .collect();
    let (status, detail) = match (answer, records.as_slice()) {
        (LookupResult::Failed(e), _) => (Status::Fail, format!("DMARC lookup failed: {e}")),
        (_, []) => (Status::Fail, format!("no DMARC record; {publish}")),
        (_, [one]) => match crate::dmarc::parse_record(one) {
            Ok(r) => (Status::Ok, format!("DMARC p={}", r.policy.keyword())),
            Err(e) => (
                Status::Fail,
                format!("DMARC record unusable ({e}); {publish}"),
            ),
        },
        (_, _) => (
            Status::Fail,
            format!("{} DMARC records (one is allowed)", records.len()),
        ),
    };
    Finding::new(status, "dmarc", domain, detail)
}

/// Whether a certificate name (`mx.a.test` or `*.a.test`) covers `host` (RFC 6125:
/// a wildcard stands for exactly the leftmost label).
pub fn name_covers(name: &str, host: &str) -> bool {
    let (name, host) = (name.to_ascii_lowercase(), host.to_ascii_lowercase());
    match name.strip_prefix("*.") {
        Some(rest) => host
            .split_once('.')
            .is_some_and(|(label, tail)| !label.is_empty() && tail == rest),
        None => name == host,
    }
}

/// The day (`YYYY-MM-DD`, UTC) of a Unix time, for expiry dates.
pub fn day_of(unix: i64) -> String {
    let c = crate::imf::datetime::WallClock::utc(unix).civil();
    format!("{:04}-{:02}-{:02}", c.year, c.month, c.day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mx(pairs: &[(u16, &str)]) -> LookupResult {
        LookupResult::Records(
            pairs
                .iter()
                .map(|(p, h)| DnsRecord::Mx {
                    preference: *p,
                    exchange: h.to_string(),
                })
                .collect(),
        )
    }

    #[test]
    fn mx_must_name_this_host() {
        let ok = judge_mx(
            "a.test",
            "mx.a.test",
            &mx(&[(20, "b.test"), (10, "MX.a.test")]),
        );
        assert_eq!(ok.status, Status::Ok);
        assert_eq!(ok.detail, "MX 10 mx.a.test, 20 b.test");
        let other = judge_mx("a.test", "mx.a.test", &mx(&[(10, "mail.b.test")]));
        assert_eq!(other.status, Status::Fail);
        assert!(other
            .detail
            .contains("publish: a.test. IN MX 10 mx.a.test."));
        let none = judge_mx("a.test", "mx.a.test", &LookupResult::NoData);
        assert_eq!(
            none.to_string(),
            "fail mx       a.test: no MX record; publish: a.test. IN MX 10 mx.a.test."
        );
        assert_eq!(
            judge_mx("a.test", "mx.a.test", &mx(&[(0, "")])).status,
            Status::Fail
        );
    }

    #[test]
    fn ptr_must_name_this_host_and_lead_back() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let ptr = |n: &str| LookupResult::Records(vec![DnsRecord::Ptr(n.into())]);
        assert_eq!(
            judge_ptr(ip, "mx.a.test", &ptr("mx.a.test"), &[ip]).status,
            Status::Ok
        );
        assert_eq!(
            judge_ptr(ip, "mx.a.test", &ptr("mx.a.test"), &[]).status,
            Status::Fail
        );
        let wrong = judge_ptr(ip, "mx.a.test", &ptr("host.isp.test"), &[ip]);
        assert!(wrong
            .detail
            .contains("1.2.0.192.in-addr.arpa. IN PTR mx.a.test."));
        assert_eq!(
            judge_ptr(ip, "mx.a.test", &LookupResult::NxDomain, &[ip]).status,
            Status::Fail
        );
    }

    #[test]
    fn spf_records_and_suggestions() {
        assert_eq!(
            spf_records(&["v=spf1 mx -all", "v=spf10", "other", "V=SPF1"]),
            vec!["v=spf1 mx -all", "V=SPF1"]
        );
        let ips = ["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()];
        assert_eq!(
            spf_suggestion("a.test", false, &ips),
            "publish: a.test. IN TXT \"v=spf1 ip4:192.0.2.1 ip6:2001:db8::1 -all\""
        );
        assert_eq!(
            spf_suggestion("a.test", true, &ips),
            "publish: a.test. IN TXT \"v=spf1 mx -all\""
        );
    }

    #[test]
    fn dmarc_needs_one_usable_record() {
        let txt = |v: &[&str]| {
            LookupResult::Records(v.iter().map(|t| DnsRecord::Txt(t.to_string())).collect())
        };
        assert_eq!(
            judge_dmarc("a.test", &txt(&["v=DMARC1; p=reject"])).detail,
            "DMARC p=reject"
        );
        assert_eq!(
            judge_dmarc("a.test", &txt(&["v=DMARC1; p=reject", "v=DMARC1; p=none"])).status,
            Status::Fail
        );
        assert_eq!(
            judge_dmarc("a.test", &txt(&["v=DMARC1; p=bogus"])).status,
            Status::Fail
        );
        assert!(judge_dmarc("a.test", &LookupResult::NxDomain)
            .detail
            .contains("_dmarc.a.test. IN TXT"));
    }

    #[test]
    fn certificate_names() {
        assert!(name_covers("*.a.test", "mx.a.test"));
        assert!(!name_covers("*.a.test", "a.test"));
        assert!(!name_covers("*.a.test", "x.mx.a.test"));
        assert!(name_covers("MX.a.test", "mx.A.test"));
        assert!(!name_covers("mx.a.test", "mx2.a.test"));
    }

    #[test]
    fn days() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(951_782_400), "2000-02-29");
        assert_eq!(day_of(1_796_083_200), "2026-12-01");
    }
}
