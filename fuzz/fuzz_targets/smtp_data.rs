//! The DATA receiver on arbitrary bytes fed in arbitrary chunks: the same verdict and (for
//! an accepted message) the same output as fed whole, and never more output than input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::smtp::data::DataReceiver;

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let step = (data[0] as usize % 13) + 1;
    let input = &data[1..];
    let mut whole = DataReceiver::new(1 << 16, 1000);
    let mut out_whole = Vec::new();
    let used = whole.feed(input, &mut out_whole);
    assert!(out_whole.len() <= input.len());
    let mut parts = DataReceiver::new(1 << 16, 1000);
    let mut out_parts = Vec::new();
    let mut used_parts = 0;
    for chunk in input[..used].chunks(step) {
        used_parts += parts.feed(chunk, &mut out_parts);
    }
    assert_eq!(used_parts, used);
    if whole.error().is_none() {
        // After an error the output is discarded, so only a good message must match.
        assert_eq!(out_parts, out_whole);
    }
    assert_eq!(parts.is_done(), whole.is_done());
    assert_eq!(parts.error(), whole.error());
});
