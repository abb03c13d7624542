//! The IMAP response parser on arbitrary input: no panic, and whatever parses encodes
//! to bytes that parse back to the same response.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::imap::response::{encode_response, parse_response};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok((tail, response)) = parse_response(rest) {
        let wire = encode_response(&response);
        match parse_response(&wire) {
            Ok((left, again)) => {
                assert!(left.is_empty());
                assert_eq!(again, response);
            }
            Err(e) => panic!("re-encoded response does not parse: {e:?} {wire:?}"),
        }
        rest = tail;
    }
});
