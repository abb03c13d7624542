//! RFC 5322 address-list parsing on arbitrary text: terminates, never panics, and every
//! display name decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::imf::address::{parse_address_list, Address};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for a in parse_address_list(&text) {
        if let Address::Mailbox(m) = a {
            let _ = m.decoded_name();
            let _ = m.addr_spec();
        }
    }
});
