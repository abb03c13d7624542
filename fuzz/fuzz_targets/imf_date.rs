//! RFC 5322 date parsing on arbitrary text; a parsed date must render and parse back to
//! the same instant.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::imf::datetime::parse_date;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(d) = parse_date(&text) {
        let again = parse_date(&d.rfc5322()).expect("a rendered date parses");
        assert_eq!(again.unix_secs, d.unix_secs);
    }
});
