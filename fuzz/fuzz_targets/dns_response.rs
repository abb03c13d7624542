//! The stub resolver fed arbitrary answers to its query (the ID patched in so parsing
//! goes deep): no panic, and at most one result.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use postrider_core::dns::{DnsConfig, DnsLookup, RecordType};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let server = "127.0.0.1:53".parse().unwrap();
    for rtype in [RecordType::Mx, RecordType::A, RecordType::Txt] {
        let mut l = DnsLookup::new(
            "mx.example.test",
            rtype,
            &[server],
            DnsConfig::default(),
            9,
            now,
        );
        let Some(q) = l.poll_transmit() else { return };
        let mut answer = data.to_vec();
        if answer.len() >= 2 {
            answer[..2].copy_from_slice(&q.bytes[..2]);
        }
        l.handle_response(now, server, &answer);
    }
});
