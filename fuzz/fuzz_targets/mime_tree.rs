//! The MIME part tree, Content-Type parameters and encoded words on arbitrary messages:
//! every range stays inside the message and inside its parent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::mime::encoded_word::decode;
use postrider_core::mime::multipart::{parse_message, Limits, Part};
use postrider_core::mime::part_text;

fn check(msg: &[u8], part: &Part, outer: std::ops::Range<usize>) {
    assert!(part.header.start >= outer.start && part.body.end <= outer.end);
    assert!(part.header.end == part.body.start && part.body.start <= part.body.end);
    if part.children().is_empty() {
        let _ = part_text(msg, part);
    }
    for c in part.children() {
        check(msg, c, part.body.clone());
    }
}

fuzz_target!(|data: &[u8]| {
    let root = parse_message(data, Limits::default());
    check(data, &root, 0..data.len());
    let _ = decode(&String::from_utf8_lossy(data));
});
