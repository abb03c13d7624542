//! The MIME part tree, Content-Type parameters and encoded words on arbitrary messages:
//! every range stays inside the message and inside its parent; ENVELOPE, BODYSTRUCTURE,
//! BODY[section] and BINARY[part] never panic; what a literal8 APPEND stores (raw binary
//! parts re-encoded as base64) parses with every range in place again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::imap::binary::{binary_content, encode_binary_parts};
use postrider_core::imap::section::{section_bytes, Section, SectionText};
use postrider_core::imap::structure::{body_structure, envelope};
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
    // What IMAP will serve from it: never panics.
    let _ = envelope(&data[root.header.clone()]);
    let _ = body_structure(data, &root, true);
    if let Some(stored) = encode_binary_parts(data) {
        let again = parse_message(&stored, Limits::default());
        check(&stored, &again, 0..stored.len());
    }
    for path in [&[][..], &[1], &[1, 1], &[2, 1, 3]] {
        let _ = binary_content(data, &root, path);
        for text in [
            SectionText::Full,
            SectionText::Header,
            SectionText::Text,
            SectionText::Mime,
        ] {
            let _ = section_bytes(
                data,
                &root,
                &Section {
                    part: path.to_vec(),
                    text,
                },
            );
        }
    }
});
