//! The SMTP reply parser on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::smtp::parse::reply;

fuzz_target!(|data: &[u8]| {
    let _ = reply(data);
});
