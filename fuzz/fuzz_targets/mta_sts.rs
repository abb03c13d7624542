//! MTA-STS on arbitrary input: the policy file (a parsed policy must write out and parse
//! back the same, and answer for any MX name), the `_mta-sts` and `_smtp._tls` records,
//! the HTTP response carrying a policy, complete or cut anywhere, and TLS-RPT's session
//! records (a parsed record writes out and reads back the same).
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::mta_sts::{
    parse_policy, parse_sts_record, parse_tlsrpt_record, policy_response_body,
};
use postrider_core::tls_rpt::SessionResult;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = parse_policy(&text) {
        assert_eq!(parse_policy(&p.to_text()).as_ref(), Ok(&p));
        for line in text.lines().take(4) {
            let _ = p.allows_mx(line);
        }
    }
    let _ = parse_sts_record(text.split('\n'));
    let _ = parse_tlsrpt_record(text.split('\n'));
    let _ = policy_response_body(data, false);
    let _ = policy_response_body(data, true);
    for line in text.lines().take(8) {
        if let Some(r) = SessionResult::parse(line) {
            assert_eq!(SessionResult::parse(&r.to_line()), Some(r));
        }
    }
});
