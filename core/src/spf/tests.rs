use super::*;

fn req(ip: &str, sender: &str) -> SpfRequest {
    SpfRequest {
        ip: ip.parse().unwrap(),
        sender: sender.into(),
        helo: "mx.example.org".into(),
        receiver: "rx.example".into(),
        now: 0,
    }
}

#[test]
fn many_p_macros_look_the_client_up_once() {
    // Found by the spf fuzz target (10-minute campaign): each %{p} did a PTR query
    // and up to ten A queries, hundreds for one record.
    let r = req("192.0.2.3", "a@example.org");
    let mut dns = Answers::default();
    let q = |name: &str, rtype| DnsQuestion {
        name: name.into(),
        rtype,
    };
    dns.add(
        q(&reverse_name(r.ip), RecordType::Ptr),
        LookupResult::Records(vec![DnsRecord::Ptr("h.example".into())]),
    );
    dns.add(
        q("h.example", RecordType::A),
        LookupResult::Records(vec![DnsRecord::Address("192.0.2.3".parse().unwrap())]),
    );
    let mut c = Ctx {
        req: &r,
        dns: &mut dns,
        lookups: 0,
        void: 0,
        validated: None,
    };
    let spec = "%{p}.".repeat(50);
    let out = c.expand(&spec, "example.org", false).unwrap();
    assert!(out.starts_with("h.example.h.example."));
    drop(c);
    assert_eq!(dns.asked(), 2);
}

#[test]
fn rfc7208_section_7_4_macro_examples() {
    let r = SpfRequest {
        ip: "192.0.2.3".parse().unwrap(),
        sender: "strong-bad@email.example.com".into(),
        helo: "h".into(),
        receiver: "r".into(),
        now: 0,
    };
    let mut no_dns = Answers::default();
    let mut c = Ctx {
        req: &r,
        dns: &mut no_dns,
        lookups: 0,
        void: 0,
        validated: None,
    };
    let d = "email.example.com";
    let e = |c: &mut Ctx<'_>, s: &str| c.expand(s, d, false).unwrap();
    assert_eq!(e(&mut c, "%{s}"), "strong-bad@email.example.com");
    assert_eq!(e(&mut c, "%{o}"), "email.example.com");
    assert_eq!(e(&mut c, "%{d4}"), "email.example.com");
    assert_eq!(e(&mut c, "%{d3}"), "email.example.com");
    assert_eq!(e(&mut c, "%{d2}"), "example.com");
    assert_eq!(e(&mut c, "%{d1}"), "com");
    assert_eq!(e(&mut c, "%{dr}"), "com.example.email");
    assert_eq!(e(&mut c, "%{d2r}"), "example.email");
    assert_eq!(e(&mut c, "%{l}"), "strong-bad");
    assert_eq!(e(&mut c, "%{l-}"), "strong.bad");
    assert_eq!(e(&mut c, "%{lr}"), "strong-bad");
    assert_eq!(e(&mut c, "%{lr-}"), "bad.strong");
    assert_eq!(e(&mut c, "%{l1r-}"), "strong");
    assert_eq!(
        e(&mut c, "%{ir}.%{v}._spf.%{d2}"),
        "3.2.0.192.in-addr._spf.example.com"
    );
    assert_eq!(
        e(&mut c, "%{lr-}.lp._spf.%{d2}"),
        "bad.strong.lp._spf.example.com"
    );
    let r6 = SpfRequest {
        ip: "2001:db8::cb01".parse().unwrap(),
        ..r.clone()
    };
    let mut c6 = Ctx {
        req: &r6,
        dns: &mut no_dns,
        lookups: 0,
        void: 0,
        validated: None,
    };
    assert_eq!(
        c6.expand("%{ir}.%{v}._spf.%{d2}", d, false).unwrap(),
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
    );
}

/// Drives a check to its end with answers from `zone`.
fn run(mut check: SpfCheck, zone: fn(&str, RecordType) -> LookupResult) -> SpfResult {
    loop {
        match check.poll() {
            DnsStep::Ask(q) => {
                let r = zone(&q.name, q.rtype);
                check.answer(q, r);
            }
            DnsStep::Done(r) => return r,
        }
    }
}

#[test]
fn mechanisms_and_limits() {
    fn zone(name: &str, t: RecordType) -> LookupResult {
        let txt = |s: &str| LookupResult::Records(vec![DnsRecord::Txt(s.into())]);
        match (name, t) {
            ("example.com", RecordType::Txt) => {
                txt("v=spf1 ip4:192.0.2.0/24 include:inc.example.com mx -all")
            }
            ("inc.example.com", RecordType::Txt) => txt("v=spf1 a:host.example.com ~all"),
            ("host.example.com", RecordType::A) => {
                LookupResult::Records(vec![DnsRecord::Address("198.51.100.7".parse().unwrap())])
            }
            ("example.com", RecordType::Mx) => LookupResult::Records(vec![DnsRecord::Mx {
                preference: 10,
                exchange: "mx.example.com".into(),
            }]),
            ("mx.example.com", RecordType::A) => {
                LookupResult::Records(vec![DnsRecord::Address("203.0.113.9".parse().unwrap())])
            }
            ("loop.example.com", RecordType::Txt) => txt("v=spf1 include:loop.example.com"),
            ("tmp.example.com", RecordType::Txt) => LookupResult::Failed("timeout".into()),
            ("two.example.com", RecordType::Txt) => LookupResult::Records(vec![
                DnsRecord::Txt("v=spf1 -all".into()),
                DnsRecord::Txt("v=spf1 +all".into()),
            ]),
            _ => LookupResult::NxDomain,
        }
    }
    assert_eq!(
        run(SpfCheck::mail_from(req("192.0.2.9", "a@example.com")), zone),
        SpfResult::Pass
    );
    assert_eq!(
        run(
            SpfCheck::mail_from(req("198.51.100.7", "a@example.com")),
            zone
        ),
        SpfResult::Pass
    );
    assert_eq!(
        run(
            SpfCheck::mail_from(req("203.0.113.9", "a@example.com")),
            zone
        ),
        SpfResult::Pass
    );
    assert_eq!(
        run(SpfCheck::mail_from(req("10.0.0.1", "a@example.com")), zone),
        SpfResult::Fail(None)
    );
    assert_eq!(
        run(
            SpfCheck::mail_from(req("::ffff:192.0.2.1", "a@example.com")),
            zone
        ),
        SpfResult::Pass
    );
    assert_eq!(
        run(
            SpfCheck::mail_from(req("10.0.0.1", "a@nothing.example.com")),
            zone
        ),
        SpfResult::None
    );
    assert!(matches!(
        run(
            SpfCheck::mail_from(req("10.0.0.1", "a@loop.example.com")),
            zone
        ),
        SpfResult::PermError(_)
    ));
    assert_eq!(
        run(
            SpfCheck::mail_from(req("10.0.0.1", "a@tmp.example.com")),
            zone
        ),
        SpfResult::TempError
    );
    assert!(matches!(
        run(
            SpfCheck::mail_from(req("10.0.0.1", "a@two.example.com")),
            zone
        ),
        SpfResult::PermError(_)
    ));
}
