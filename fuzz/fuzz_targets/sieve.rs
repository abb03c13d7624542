//! The Sieve parser, validator and interpreter on arbitrary scripts, run over a fixed
//! message: no panic, no hang (the interpreter has no loops and bounded nesting).
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::sieve::{MessageContext, Script};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(script) = Script::compile(text) {
        let _ = script.run(&MessageContext {
            message: b"From: a@b.example\r\nTo: c@d.example\r\nSubject: hi there\r\nList-Id: <l.example>\r\n\r\nbody\r\n",
            envelope_from: "a@b.example",
            envelope_to: "c+list@d.example",
            delimiters: "+",
            mailboxes: &["Lists".to_string()],
        });
    }
});
