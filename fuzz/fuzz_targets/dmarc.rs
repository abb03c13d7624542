//! Received-mail authentication input: DMARC records, author domains, Authentication-
//! Results authserv-ids and their removal, and modified UTF-7 names never panic; removal
//! only ever shortens the message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::authres::{authserv_id, remove_claims};
use postrider_core::dmarc::{author_domain, organizational_domain, parse_record};
use postrider_core::imap::mutf7;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_record(&text);
    if let Ok(domain) = author_domain(data) {
        let _ = organizational_domain(&domain);
    }
    let _ = authserv_id(&text);
    if let Some(cleaned) = remove_claims(data, "mx.example.org") {
        assert!(cleaned.len() < data.len());
    }
    if let Some(name) = mutf7::decode(&text) {
        assert_eq!(mutf7::encode(&name), text);
    }
});
