//! DKIM verification input: signature fields, key records and the signed-data
//! reconstruction on arbitrary messages never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::dkim::verify::{parse_key_record, parse_signature, prepare, signature_fields};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_key_record(&text);
    let _ = parse_signature(&text);
    for (i, value) in signature_fields(data).iter().enumerate() {
        if let Ok(sig) = parse_signature(value) {
            let _ = prepare(data, i, &sig);
        }
    }
});
