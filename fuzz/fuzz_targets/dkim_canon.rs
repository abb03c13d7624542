//! DKIM canonicalization and signing input on arbitrary messages: no panic; relaxed body
//! canonicalization is idempotent and never ends in an empty line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::dkim::{canonical_body, prepare, Algorithm, Canon, SignParams};

fuzz_target!(|data: &[u8]| {
    for canon in [Canon::Simple, Canon::Relaxed] {
        let _ = prepare(
            data,
            &SignParams {
                domain: "d.example",
                selector: "s",
                algorithm: Algorithm::Ed25519Sha256,
                header_canon: canon,
                body_canon: canon,
                timestamp: 0,
            },
        );
    }
    let once = canonical_body(data, Canon::Relaxed);
    assert_eq!(canonical_body(&once, Canon::Relaxed), once);
    assert!(!once.ends_with(b"\r\n\r\n"));
});
