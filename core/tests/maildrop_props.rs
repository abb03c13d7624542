//! Property tests of the mbox store: any messages appended as mbox entries scan back to
//! the same number of messages, each served (POP3 encoder and IMAP form) exactly as it
//! was delivered with CRLF line ends, with the announced size; and scanning in chunks
//! gives the same result as scanning whole.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use postrider_core::delivery::mbox::append_entry;
use postrider_core::imf::datetime::WallClock;
use postrider_core::maildrop::{stored_to_crlf, CrlfStream, MboxScanner, Pop3Encoder};

/// A message with CRLF line ends, including lines that need mboxrd quoting and dots.
fn message() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        "[ -~]{0,40}",
        "From [a-z ]{0,10}",
        ">+From [a-z]{0,5}",
        "\\.[a-z.]{0,5}",
        Just(String::new()),
    ];
    (
        "[A-Za-z]{1,8}: [ -~]{0,30}",
        prop::collection::vec(line, 0..12),
    )
        .prop_map(|(h, lines)| {
            let mut m = format!("{h}\r\n\r\n").into_bytes();
            for l in lines {
                m.extend_from_slice(l.as_bytes());
                m.extend_from_slice(b"\r\n");
            }
            m
        })
}

proptest! {
    #[test]
    fn mbox_round_trip(msgs in prop::collection::vec(message(), 1..6), chunk in 1usize..64) {
        let mut file = Vec::new();
        for m in &msgs {
            append_entry(&mut file, "a@b.test", WallClock::utc(0), m);
        }
        let mut whole = MboxScanner::new();
        whole.feed(&file);
        let found = whole.finish();
        let mut pieces = MboxScanner::new();
        for c in file.chunks(chunk) {
            pieces.feed(c);
        }
        prop_assert_eq!(&pieces.finish(), &found);
        prop_assert_eq!(found.len(), msgs.len());
        for (m, original) in found.iter().zip(&msgs) {
            let stored = &file[m.start as usize..m.end as usize];
            let imap = stored_to_crlf(stored);
            prop_assert_eq!(&imap, original);
            prop_assert_eq!(m.size, original.len() as u64);
            let mut out = Vec::new();
            let mut enc = Pop3Encoder::new(None);
            enc.feed(stored, &mut out);
            enc.finish(&mut out);
            // Undo POP3 byte-stuffing and the final dot line: the original again.
            let body = &out[..out.len() - 3];
            let unstuffed: Vec<u8> = body
                .split_inclusive(|&b| b == b'\n')
                .flat_map(|l| if l.starts_with(b"..") { l[1..].to_vec() } else { l.to_vec() })
                .collect();
            prop_assert_eq!(&unstuffed, original);
        }
    }
}

fn streamed(stored: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = CrlfStream::new();
    for c in stored.chunks(chunk.max(1)) {
        s.feed(c, &mut out);
    }
    s.finish(&mut out);
    out
}

proptest! {
    /// Converting a stored message in chunks gives what converting it whole gives.
    #[test]
    fn crlf_stream_equals_whole_conversion(
        stored in prop::collection::vec(prop::sample::select(vec![b'\n', b'\r', b'>', b'F', b'r', b'o', b'm', b' ', b'x']), 0..200),
        chunk in 1usize..40,
    ) {
        prop_assert_eq!(streamed(&stored, chunk), stored_to_crlf(&stored));
    }
}

#[test]
fn crlf_stream_holds_at_most_a_bounded_piece_of_a_huge_line() {
    let mut stored = b">From the start ".to_vec();
    stored.extend(std::iter::repeat_n(b'x', 300_000));
    stored.extend_from_slice(b"\r\r\nnext\n>>From quoted\nlast");
    for chunk in [1000, 65_536, 100_000] {
        assert_eq!(streamed(&stored, chunk), stored_to_crlf(&stored), "{chunk}");
    }
}
