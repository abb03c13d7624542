//! `postrider doctor [DOMAIN...]`: what this host and each mail domain need in DNS, and
//! the TLS certificate, checked through `[dns]` (the judgements are the core's, see
//! [`postrider_core::doctor`]). One line per check; any `fail` makes the exit status 1.

mod cert;

use std::net::IpAddr;

use postrider_core::dns::{LookupResult, RecordType};
use postrider_core::doctor::{
    addresses, judge_dmarc, judge_mx, judge_ptr, mx_hosts, spf_records, spf_suggestion,
    txt_strings, Finding, Status,
};
use postrider_core::spf::{SpfCheck, SpfRequest, SpfResult};

use crate::config::Settings;
use crate::resolver::Resolver;

/// This host as the world should see it.
struct ThisHost {
    /// `hostname`, lowercase.
    name: String,
    /// The addresses it sends from and receives on: the `[smtp]` listen addresses that
    /// name one, else the A/AAAA records of the host name.
    addrs: Vec<IpAddr>,
}

/// Runs every check; `domains` empty means every local domain but `localhost`.
pub fn run(settings: &Settings, domains: &[String], now: i64) -> Vec<Finding> {
    let resolver = Resolver::from_settings(settings);
    let (mut out, host) = host_checks(settings, &resolver);
    out.extend(cert::check(settings, &host.name, now));
    let wanted: Vec<String> = if domains.is_empty() {
        settings
            .config
            .domains
            .iter()
            .filter(|d| !d.eq_ignore_ascii_case("localhost") && d.parse::<IpAddr>().is_err())
            .cloned()
            .collect()
    } else {
        domains.iter().map(|d| d.to_ascii_lowercase()).collect()
    };
    for domain in &wanted {
        out.extend(domain_checks(settings, &resolver, &host, domain, now));
    }
    out
}

/// The host name's addresses and the reverse records of the addresses mail leaves from.
fn host_checks(settings: &Settings, resolver: &Resolver) -> (Vec<Finding>, ThisHost) {
    let name = settings.config.hostname.to_ascii_lowercase();
    let mut out = Vec::new();
    let forward = host_addresses(resolver, &name);
    out.push(if forward.is_empty() {
        Finding::new(
            Status::Fail,
            "address",
            &name,
            format!("no A or AAAA record; publish: {name}. IN A <this host's address>"),
        )
    } else {
        Finding::new(Status::Ok, "address", &name, list(&forward))
    });
    let listen: Vec<IpAddr> = crate::reload::smtp_addresses(settings)
        .into_iter()
        .map(|a| a.ip())
        .filter(|ip| !ip.is_unspecified())
        .collect();
    let addrs = if listen.is_empty() {
        forward.clone()
    } else {
        listen
    };
    for ip in &addrs {
        let reverse = postrider_core::spf::reverse_name(*ip);
        let answer = resolver.lookup(&reverse, RecordType::Ptr);
        out.push(judge_ptr(*ip, &name, &answer, &forward));
    }
    let host = ThisHost { name, addrs };
    (out, host)
}

/// The A and AAAA records of `name`.
fn host_addresses(resolver: &Resolver, name: &str) -> Vec<IpAddr> {
    [RecordType::A, RecordType::Aaaa]
        .into_iter()
        .flat_map(|t| addresses(&resolver.lookup(name, t)))
        .collect()
}

fn list(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every check of one mail domain.
fn domain_checks(
    settings: &Settings,
    resolver: &Resolver,
    host: &ThisHost,
    domain: &str,
    now: i64,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mx = resolver.lookup(domain, RecordType::Mx);
    out.push(judge_mx(domain, &host.name, &mx));
    out.extend(mx_address_checks(host, resolver, &mx));
    let mx_is_this_host = mx_hosts(&mx).iter().any(|(_, h)| *h == host.name);
    out.push(spf_check(resolver, host, domain, mx_is_this_host, now));
    out.extend(dkim_checks(settings, resolver, domain));
    out.push(judge_dmarc(
        domain,
        &resolver.lookup(&format!("_dmarc.{domain}"), RecordType::Txt),
    ));
    out.extend(mta_sts_checks(resolver, host, domain, &mx));
    out
}

/// The addresses of each MX host; for this host's own name, that they include the
/// addresses it listens on.
fn mx_address_checks(host: &ThisHost, resolver: &Resolver, mx: &LookupResult) -> Vec<Finding> {
    let mut out = Vec::new();
    for (_, exchange) in mx_hosts(mx) {
        if exchange.is_empty() {
            continue;
        }
        let addrs = host_addresses(resolver, &exchange);
        let finding = if addrs.is_empty() {
            Finding::new(
                Status::Fail,
                "mx-addr",
                &exchange,
                format!(
                    "the MX host has no A or AAAA record; publish: {exchange}. IN A <its address>"
                ),
            )
        } else if exchange == host.name && !host.addrs.iter().all(|a| addrs.contains(a)) {
            Finding::new(
                Status::Warn,
                "mx-addr",
                &exchange,
                format!(
                    "resolves to {}, but [smtp] listens on {}",
                    list(&addrs),
                    list(&host.addrs)
                ),
            )
        } else {
            Finding::new(Status::Ok, "mx-addr", &exchange, list(&addrs))
        };
        out.push(finding);
    }
    out
}

/// SPF: one `v=spf1` record that passes mail from each of this host's addresses.
fn spf_check(
    resolver: &Resolver,
    host: &ThisHost,
    domain: &str,
    mx_is_this_host: bool,
    now: i64,
) -> Finding {
    let suggestion = spf_suggestion(domain, mx_is_this_host, &host.addrs);
    let answer = resolver.lookup(domain, RecordType::Txt);
    let txts = txt_strings(&answer);
    let records = spf_records(&txts);
    let (status, detail) = match records.as_slice() {
        [] => (Status::Fail, format!("no SPF record; {suggestion}")),
        [_, _, ..] => (
            Status::Fail,
            format!(
                "{} SPF records (one is allowed); {suggestion}",
                records.len()
            ),
        ),
        [record] => {
            let failing: Vec<String> = host
                .addrs
                .iter()
                .filter_map(|ip| {
                    let request = SpfRequest {
                        ip: *ip,
                        sender: format!("postmaster@{domain}"),
                        helo: host.name.clone(),
                        receiver: host.name.clone(),
                        now,
                    };
                    match crate::dkim_verify::run_check(SpfCheck::mail_from(request), resolver, now)
                    {
                        SpfResult::Pass => None,
                        other => Some(format!("{ip}: {}", other.keyword())),
                    }
                })
                .collect();
            if failing.is_empty() {
                (
                    Status::Ok,
                    format!("\"{record}\" passes {}", list(&host.addrs)),
                )
            } else {
                (
                    Status::Fail,
                    format!(
                        "\"{record}\" does not pass this host ({}); {suggestion}",
                        failing.join(", ")
                    ),
                )
            }
        }
    };
    Finding::new(status, "spf", domain, detail)
}

/// DKIM: for each `[[dkim.sign]]` of the domain, the published key is the one on disk.
fn dkim_checks(settings: &Settings, resolver: &Resolver, domain: &str) -> Vec<Finding> {
    let signs: Vec<_> = settings
        .config
        .dkim
        .sign
        .iter()
        .filter(|s| s.domain.eq_ignore_ascii_case(domain))
        .collect();
    if signs.is_empty() {
        return vec![Finding::new(
            Status::Warn,
            "dkim",
            domain,
            format!("mail from {domain} is not signed: run `postrider dkim keygen {domain}` and add the [[dkim.sign]] it prints"),
        )];
    }
    signs
        .into_iter()
        .map(|sign| {
            let name = format!("{}._domainkey.{domain}", sign.selector);
            let (record, ours) = match crate::dkim::public_record(&sign.key) {
                Ok(r) => r,
                Err(e) => return Finding::new(Status::Fail, "dkim", &name, e),
            };
            let publish = format!("publish: {name}. IN TXT \"{record}\"");
            let answer = resolver.lookup(&name, RecordType::Txt);
            let published: Vec<_> = txt_strings(&answer)
                .into_iter()
                .filter_map(|t| postrider_core::dkim::verify::parse_key_record(t).ok())
                .collect();
            let (status, detail) = if published.is_empty() {
                (Status::Fail, format!("no DKIM key record; {publish}"))
            } else if published.iter().any(|k| k.public_key == ours) {
                (
                    Status::Ok,
                    format!("the published key is {}", sign.key.display()),
                )
            } else {
                (
                    Status::Fail,
                    format!(
                        "the published key is not the one in {}; {publish}",
                        sign.key.display()
                    ),
                )
            };
            Finding::new(status, "dkim", &name, detail)
        })
        .collect()
}

/// MTA-STS and TLS-RPT, when published: a valid record, a policy that can be fetched
/// and that names every MX; TLS-RPT beside MTA-STS.
fn mta_sts_checks(
    resolver: &Resolver,
    host: &ThisHost,
    domain: &str,
    mx: &LookupResult,
) -> Vec<Finding> {
    use postrider_core::mta_sts::{parse_sts_record, parse_tlsrpt_record};
    let mut out = Vec::new();
    let sts_name = format!("_mta-sts.{domain}");
    let sts_answer = resolver.lookup(&sts_name, RecordType::Txt);
    let sts_txts = txt_strings(&sts_answer);
    let sts_published = !sts_txts.is_empty();
    match parse_sts_record(sts_txts) {
        None if !sts_published => out.push(Finding::new(
            Status::Ok,
            "mta-sts",
            domain,
            "not published (optional)".into(),
        )),
        None => out.push(Finding::new(
            Status::Fail,
            "mta-sts",
            &sts_name,
            "not one valid \"v=STSv1; id=...\" record".into(),
        )),
        Some(id) => out.push(sts_policy_check(resolver, host, domain, mx, &id)),
    }
    let rpt_name = format!("_smtp._tls.{domain}");
    let rpt_answer = resolver.lookup(&rpt_name, RecordType::Txt);
    let rpt_txts = txt_strings(&rpt_answer);
    let rpt_published = !rpt_txts.is_empty();
    out.push(match parse_tlsrpt_record(rpt_txts) {
        Some(rua) => Finding::new(Status::Ok, "tls-rpt", domain, format!("reports to {}", rua.join(", "))),
        None if rpt_published => Finding::new(
            Status::Fail,
            "tls-rpt",
            &rpt_name,
            "not one valid \"v=TLSRPTv1; rua=...\" record".into(),
        ),
        None if sts_published => Finding::new(
            Status::Warn,
            "tls-rpt",
            domain,
            format!("MTA-STS without TLS-RPT: failures go unreported; publish: {rpt_name}. IN TXT \"v=TLSRPTv1; rua=mailto:postmaster@{domain}\""),
        ),
        None => Finding::new(Status::Ok, "tls-rpt", domain, "not published (optional)".into()),
    });
    out
}

/// The MTA-STS policy of `domain` (record id `id`): fetched over verified HTTPS, and
/// naming each MX host.
fn sts_policy_check(
    resolver: &Resolver,
    host: &ThisHost,
    domain: &str,
    mx: &LookupResult,
    id: &str,
) -> Finding {
    let tls = match crate::tls::verified_client_config() {
        Ok(Some(tls)) => tls,
        Ok(None) => {
            return Finding::new(
                Status::Fail,
                "mta-sts",
                domain,
                "no trusted CA certificates to fetch the policy with".into(),
            )
        }
        Err(e) => return Finding::new(Status::Fail, "mta-sts", domain, e),
    };
    let policy = match crate::mta_sts::fetch(resolver, &tls, domain) {
        Ok(p) => p,
        Err((_, e)) => {
            return Finding::new(
                Status::Fail,
                "mta-sts",
                domain,
                format!("policy id {id} cannot be had: {e}"),
            )
        }
    };
    let mut hosts: Vec<String> = mx_hosts(mx).into_iter().map(|(_, h)| h).collect();
    if hosts.is_empty() {
        hosts.push(host.name.clone());
    }
    let outside: Vec<&String> = hosts.iter().filter(|h| !policy.allows_mx(h)).collect();
    if outside.is_empty() {
        Finding::new(
            Status::Ok,
            "mta-sts",
            domain,
            format!("mode {}, id {id}, names every MX", policy.mode.as_str()),
        )
    } else {
        Finding::new(
            Status::Fail,
            "mta-sts",
            domain,
            format!(
                "the policy (mode {}) does not name MX {}: senders will refuse it",
                policy.mode.as_str(),
                outside
                    .iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    }
}

/// `postrider doctor`: prints the findings; an error when any failed.
pub fn command(settings: &Settings, domains: &[String], now: i64) -> Result<(), String> {
    let findings = run(settings, domains, now);
    for f in &findings {
        println!("{f}");
    }
    let failed = findings.iter().filter(|f| f.status == Status::Fail).count();
    if failed > 0 {
        return Err(format!("{failed} check(s) failed"));
    }
    Ok(())
}
