//! base64 and quoted-printable: decoders never panic on any input, and encoding then
//! decoding gives the input back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::mime::transfer::{
    decode_base64, decode_quoted_printable, encode_base64_lines, encode_quoted_printable,
};

fuzz_target!(|data: &[u8]| {
    let _ = decode_base64(data);
    let _ = decode_quoted_printable(data);
    assert_eq!(decode_base64(&encode_base64_lines(data)), data);
    if !data.contains(&b'\r') && !data.contains(&b'\n') {
        assert_eq!(
            decode_quoted_printable(&encode_quoted_printable(data)),
            data
        );
    }
});
