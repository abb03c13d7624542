//! The IMAP command parser and framer on arbitrary bytes: no panic; a parsed command has
//! a non-empty tag.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::imap::command::{frame_line, parse_command, Framing};

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = parse_command(data) {
        assert!(!t.tag.is_empty());
    }
    let mut from = 0;
    for _ in 0..64 {
        match frame_line(data, from) {
            Framing::Complete(end) => {
                assert!(end <= data.len() && end > from);
                from = end;
                if from >= data.len() {
                    break;
                }
            }
            Framing::Literal { data_at, len, .. } => {
                assert!(data_at <= data.len());
                match data_at.checked_add(len) {
                    Some(e) if e < data.len() => from = e,
                    _ => break,
                }
            }
            Framing::Incomplete => break,
        }
    }
});
