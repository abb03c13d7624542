//! ManageSieve command parsing on arbitrary bytes: no panic, and a command that parses
//! is written back by the encoder into bytes that parse to the same command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::managesieve::{encode_command, parse_command};

fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = parse_command(data) {
        assert_eq!(parse_command(&encode_command(&cmd)), Ok(cmd));
    }
});
