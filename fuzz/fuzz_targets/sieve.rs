//! The Sieve parser, validator and interpreter on arbitrary scripts, run over a fixed
//! message with a small library of scripts to include (one of which includes the fuzzed
//! script's own name back): no panic, no hang (the interpreter has no loops, and nesting
//! and includes are bounded).
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::sieve::{Library, Location, MessageContext, Script};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(script) = Script::compile(text) {
        let mut library = Library::default();
        for (location, name, source) in [
            (Location::Personal, "a", "require [\"include\", \"variables\"];\nglobal \"g\";\nset \"g\" \"${g}x\";\ninclude \"b\";"),
            (Location::Personal, "b", "require \"include\";\ninclude \"a\";"),
            (Location::Global, "g", "require \"include\";\nreturn;"),
        ] {
            if let Ok(s) = Script::compile(source) {
                library.insert(location, name, s);
            }
        }
        library.insert(Location::Personal, "self", script.clone());
        let _ = script.run(&MessageContext {
            message: b"From: a@b.example\r\nTo: c@d.example\r\nSubject: hi there\r\nList-Id: <l.example>\r\n\r\nbody\r\n",
            envelope_from: "a@b.example",
            envelope_to: "c+list@d.example",
            delimiters: "+",
            mailboxes: &["Lists".to_string()],
            library: &library,
            now: postrider_core::imf::datetime::WallClock {
                unix_secs: 1_700_000_000,
                utc_offset_minutes: 90,
            },
        });
    }
});
