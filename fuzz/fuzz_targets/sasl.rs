//! SASL PLAIN and LOGIN exchanges on arbitrary response lines: never a panic, and a
//! finished exchange always names a user.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::sasl::{Mechanism, SaslExchange, Step};

fuzz_target!(|data: &[u8]| {
    let (mech, rest) = match data.split_first() {
        Some((b, rest)) if b % 2 == 0 => (Mechanism::Plain, rest),
        Some((_, rest)) => (Mechanism::Login, rest),
        None => return,
    };
    let mut lines = rest.split(|&b| b == b'\n');
    let (mut ex, mut step) = SaslExchange::start(mech, lines.next());
    for line in lines {
        match step {
            Step::Challenge(_) => step = ex.respond(line),
            Step::Done(c) => {
                assert!(!c.username.is_empty());
                return;
            }
            Step::Failed(_) => return,
        }
    }
});
