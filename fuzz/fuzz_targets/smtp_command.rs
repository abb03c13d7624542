//! The SMTP command parser on arbitrary bytes; a parsed command must survive an
//! encode/parse round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::smtp::encode::command_bytes;
use postrider_core::smtp::parse::command;

fuzz_target!(|data: &[u8]| {
    if let Ok((_, cmd)) = command(data) {
        let wire = command_bytes(&cmd);
        let (_, again) = command(&wire).expect("encoded command must parse");
        assert_eq!(again, cmd);
    }
});
