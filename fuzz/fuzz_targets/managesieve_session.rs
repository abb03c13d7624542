//! A whole ManageSieve session fed arbitrary chunks (the first byte of each gives its
//! length), every question answered by the in-memory test store, STARTTLS completed and
//! held answers released: no panic, and everything the server says is UTF-8 (names and
//! scripts are refused otherwise, so nothing a client sent comes back broken).
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use postrider_core::managesieve::server::ManageSieveConfig;
use postrider_core::managesieve::testing::ManageSieveTestDriver;

fuzz_target!(|data: &[u8]| {
    let mut config = ManageSieveConfig::default();
    config.starttls = true;
    config.allow_plaintext_auth = data.first().is_some_and(|b| b % 2 == 1);
    config.max_script_size = 4096;
    let mut d = ManageSieveTestDriver::new(config, Instant::now());
    let mut rest = data.get(1..).unwrap_or_default();
    while let Some((&len, tail)) = rest.split_first() {
        let n = (len as usize).min(tail.len());
        d.feed(&tail[..n]);
        if d.tls_requested {
            d.finish_tls();
        }
        d.advance(Duration::from_secs(2));
        rest = &tail[n..];
    }
    assert!(std::str::from_utf8(&d.transcript).is_ok());
});
