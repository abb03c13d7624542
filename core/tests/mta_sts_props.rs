//! Property tests of MTA-STS: any policy written out parses back the same; a wildcard
//! pattern matches exactly one more label; a policy served with any chunking (or a
//! Content-Length) is read back whole, and never before its last byte.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use postrider_core::mta_sts::{parse_policy, policy_response_body, FetchError, Mode, Policy};
use postrider_core::tls_rpt::{ResultType, SessionResult};

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?"
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        prop::sample::select(vec![Mode::Enforce, Mode::Testing, Mode::None]),
        prop::collection::vec((any::<bool>(), prop::collection::vec(label(), 1..4)), 1..5),
        0u64..=31_557_600,
    )
        .prop_map(|(mode, mx, max_age)| Policy {
            mode,
            mx: mx
                .into_iter()
                .map(|(wild, labels)| {
                    let name = labels.join(".");
                    if wild {
                        format!("*.{name}")
                    } else {
                        name
                    }
                })
                .collect(),
            max_age,
        })
}

proptest! {
    #[test]
    fn tls_rpt_records_round_trip(kind in 0usize..7, mx in "[ -~]{0,20}", ip in "[0-9.:a-f]{0,15}", ok in any::<bool>()) {
        let types = [
            "starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
            "certificate-not-trusted", "validation-failure", "sts-policy-fetch-error",
            "sts-policy-invalid",
        ];
        let r = if ok {
            SessionResult::Success
        } else {
            SessionResult::Failure {
                result_type: ResultType::parse(types[kind]).unwrap(),
                mx: mx.replace('\t', ""),
                ip,
            }
        };
        prop_assert_eq!(SessionResult::parse(&r.to_line()), Some(r));
    }

    #[test]
    fn policies_round_trip(p in policy()) {
        prop_assert_eq!(parse_policy(&p.to_text()).unwrap(), p);
    }

    #[test]
    fn a_wildcard_stands_for_one_label(first in label(), second in label(), rest in prop::collection::vec(label(), 1..3)) {
        let domain = rest.join(".");
        let p = Policy { mode: Mode::Enforce, mx: vec![format!("*.{domain}")], max_age: 1 };
        let one = format!("{first}.{domain}");
        let upper = one.to_ascii_uppercase();
        let two = format!("{second}.{first}.{domain}");
        prop_assert!(p.allows_mx(&one));
        prop_assert!(p.allows_mx(&upper));
        prop_assert!(!p.allows_mx(&two));
        prop_assert!(!p.allows_mx(&domain));
    }

    #[test]
    fn served_policies_are_read_whole(p in policy(), cuts in prop::collection::vec(1usize..40, 0..8), chunked in any::<bool>()) {
        let body = p.to_text();
        let mut response = String::from("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n");
        if chunked {
            response.push_str("Transfer-Encoding: chunked\r\n\r\n");
            let mut rest = body.as_str();
            for c in cuts {
                let n = c.min(rest.len());
                if n == 0 { break; }
                response.push_str(&format!("{n:x}\r\n{}\r\n", &rest[..n]));
                rest = &rest[n..];
            }
            if !rest.is_empty() {
                response.push_str(&format!("{:x}\r\n{rest}\r\n", rest.len()));
            }
            response.push_str("0\r\n\r\n");
        } else {
            response.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        }
        let bytes = response.as_bytes();
        prop_assert_eq!(policy_response_body(bytes, false), Ok(body.clone()));
        prop_assert_eq!(policy_response_body(&bytes[..bytes.len() - 1], false), Err(FetchError::Incomplete));
    }
}
