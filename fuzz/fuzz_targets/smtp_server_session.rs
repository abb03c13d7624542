//! A whole SMTP (or, when the input starts with an odd byte, LMTP) server session fed
//! arbitrary byte chunks (the first byte of each chunk gives its length), with every
//! question answered (AUTH and VRFY included; in LMTP, mailboxes of `full` refuse after
//! the data): no panic, only well-formed replies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::smtp::parse::reply;
use postrider_core::smtp::SmtpServerConfig;
use postrider_core::testing::SmtpTestDriver;

fuzz_target!(|data: &[u8]| {
    let mut config = SmtpServerConfig::default();
    config.starttls = true;
    config.max_message_size = 4096;
    config.auth = true;
    config.allow_plaintext_auth = true;
    config.vrfy = postrider_core::smtp::VrfyPolicy::Verify;
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    config.lmtp = mode % 2 == 1;
    let mut d = SmtpTestDriver::new(config, &["alice", "full"], std::time::Instant::now());
    d.full_mailboxes = vec!["full".into()];
    while let Some((&len, tail)) = rest.split_first() {
        let n = (len as usize).min(tail.len());
        d.feed(&tail[..n]);
        if d.tls_requested {
            d.finish_tls();
        }
        // Lets held replies (the delay after a failed AUTH) go out.
        d.advance(std::time::Duration::from_secs(1));
        rest = &tail[n..];
    }
    let mut wire: &[u8] = &d.transcript;
    while !wire.is_empty() {
        match reply(wire) {
            Ok((r, rep)) => {
                assert!((200..600).contains(&rep.code));
                wire = r;
            }
            Err(e) => panic!("server wrote a malformed reply: {e:?}"),
        }
    }
});
