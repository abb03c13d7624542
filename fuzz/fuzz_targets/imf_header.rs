//! Header framing and address-list extraction on arbitrary bytes: field ranges stay
//! inside the message and in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::imf::address::address_list;
use postrider_core::imf::header::split_header;

fuzz_target!(|data: &[u8]| {
    let (fields, body) = split_header(data);
    assert!(body <= data.len());
    let mut last = 0;
    for f in &fields {
        assert!(f.range.start >= last && f.range.end <= data.len());
        last = f.range.end;
        let _ = address_list(&f.value());
    }
});
