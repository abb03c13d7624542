//! The streaming SEARCH matcher and the streaming stored-to-CRLF conversion: for any
//! search key and any message, feeding it in chunks of any size gives the answers that
//! feeding it whole gives, and converting a stored message in chunks gives what
//! converting it whole gives. Input: the key text, a NUL, the message; the first byte
//! picks the chunk size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::imap::command::{parse_command, Command};
use postrider_core::imap::search::ContentScan;
use postrider_core::maildrop::{stored_to_crlf, CrlfStream};

fuzz_target!(|data: &[u8]| {
    let Some((&size, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(size % 61) + 1;
    let (key_text, message) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b""[..]),
    };
    let mut line = b"a SEARCH ".to_vec();
    line.extend_from_slice(key_text);
    line.extend_from_slice(b"\r\n");
    if let Ok(t) = parse_command(&line) {
        if let Command::Search { key, .. } = t.command {
            let fresh = ContentScan::new(&key);
            let mut whole = fresh.clone();
            whole.feed(message);
            let mut pieces = fresh.clone();
            for c in message.chunks(chunk) {
                pieces.feed(c);
            }
            assert_eq!(whole.finish(), pieces.finish());
        }
    }
    let mut out = Vec::new();
    let mut conv = CrlfStream::new();
    for c in message.chunks(chunk) {
        conv.feed(c, &mut out);
    }
    conv.finish(&mut out);
    assert_eq!(out, stored_to_crlf(message));
});
