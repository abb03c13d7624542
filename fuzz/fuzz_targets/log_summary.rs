//! `log-summary` on arbitrary log text: every line is read without panicking, the
//! report is rendered, and an event read from a line (other than a rejection, whose
//! reason is rewritten) writes out as a line that reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::log_summary::{parse_line, MailEvent, Summary};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut summary = Summary::default();
    for line in text.lines().take(64) {
        summary.add_line(line);
        if let Some((day, event)) = parse_line(line) {
            if !matches!(event, MailEvent::Rejected { .. }) {
                let again = format!("{day}T00:00:00Z  INFO {}", event.to_message("1F18777D98695078"));
                assert_eq!(parse_line(&again), Some((day, event)));
            }
        }
    }
    let _ = summary.render(5);
});
