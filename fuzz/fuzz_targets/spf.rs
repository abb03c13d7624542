//! SPF evaluation: arbitrary records (one per input line, served for each TXT name the
//! check asks about, in turn) with macros, includes and redirects never panic and
//! never exceed the lookup limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::dns::{DnsRecord, LookupResult, RecordType};
use postrider_core::dns_steps::{DnsCheck, DnsStep};
use postrider_core::spf::{SpfCheck, SpfRequest};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let records: Vec<&str> = text.lines().collect();
    if records.is_empty() {
        return;
    }
    let request = SpfRequest {
        ip: "192.0.2.7".parse().expect("literal address"),
        sender: "a.b@example.org".into(),
        helo: "mx.example.org".into(),
        receiver: "receiver.example".into(),
        now: 1_700_000_000,
    };
    let answer = |n: usize, rtype: RecordType| match rtype {
        RecordType::Txt => {
            LookupResult::Records(vec![DnsRecord::Txt(records[n % records.len()].to_string())])
        }
        RecordType::A => LookupResult::Records(vec![DnsRecord::Address(
            "192.0.2.7".parse().expect("literal address"),
        )]),
        RecordType::Mx => LookupResult::Records(vec![DnsRecord::Mx {
            preference: 10,
            exchange: "mx.example.org".into(),
        }]),
        RecordType::Ptr => LookupResult::Records(vec![DnsRecord::Ptr("mx.example.org".into())]),
        _ => LookupResult::NoData,
    };
    for mut check in [
        SpfCheck::mail_from(request.clone()),
        SpfCheck::helo(request),
    ] {
        let mut questions = 0usize;
        loop {
            match check.poll() {
                DnsStep::Ask(q) => {
                    questions += 1;
                    assert!(questions < 400, "SPF evaluation ran away");
                    let a = answer(questions, q.rtype);
                    check.answer(q, a);
                }
                DnsStep::Done(_) => break,
            }
        }
    }
});
