//! CATENATE's IMAP URLs (RFC 4469, RFC 5092 relative form): the first line is the URL,
//! the rest the message it is applied to. No panic; a parsed URL names a UID above 0 and
//! its content is never longer than the message with CRLF line ends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::imap::catenate::{parse_url, url_content};

fuzz_target!(|data: &[u8]| {
    let (first, message) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let Ok(text) = std::str::from_utf8(first) else {
        return;
    };
    if let Some(url) = parse_url(text) {
        assert!(url.uid > 0);
        if let Some(bytes) = url_content(&url, message) {
            assert!(bytes.len() <= message.len() * 2 + 4);
        }
    }
});
