//! The mbox scanner and the POP3 encoder on arbitrary files, whole and in chunks: the
//! same messages either way, ranges inside the file, and each message served with the
//! size the scanner announced (plus the final ".\r\n" and byte-stuffing dots).
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::maildrop::{MboxScanner, Pop3Encoder};

fuzz_target!(|data: &[u8]| {
    let mut whole = MboxScanner::new();
    whole.feed(data);
    let a = whole.finish();
    let mut pieces = MboxScanner::new();
    for c in data.chunks(7) {
        pieces.feed(c);
    }
    let b = pieces.finish();
    assert_eq!(a, b);
    for m in &a {
        assert!(m.start <= m.end && m.end as usize <= data.len());
        let mut enc = Pop3Encoder::new(None);
        let mut out = Vec::new();
        enc.feed(&data[m.start as usize..m.end as usize], &mut out);
        enc.finish(&mut out);
        let stuffed = out.windows(3).filter(|w| w == b"\n..").count() as u64
            + u64::from(out.starts_with(b".."));
        assert!(out.len() as u64 >= m.size + 3);
        assert!(out.len() as u64 <= m.size + 3 + stuffed + 1);
    }
});
