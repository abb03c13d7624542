//! The SMTP client machine fed arbitrary server bytes in chunks: no panic, and a
//! finished session has one result per recipient.
#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use postrider_core::machine::{Machine, TlsInfo};
use postrider_core::smtp::client::{
    ClientConfig, ClientEvent, ClientMessage, ClientRecipient, SmtpClient,
};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let msg = ClientMessage {
        sender: "a@b.test".into(),
        recipients: ["x@y.test", "z@y.test"]
            .iter()
            .map(|a| ClientRecipient {
                address: a.to_string(),
                notify: None,
                orcpt: None,
            })
            .collect(),
        ret: None,
        envid: None,
        content: Bytes::from_static(b"Subject: t\r\n\r\n.hi\r\n"),
        // Both kinds of message: the first input octet decides.
        binary: data.first().is_some_and(|b| b & 1 == 1),
        require_tls: false,
    };
    let mut c = SmtpClient::new(ClientConfig::default(), msg, now);
    let mut t = now;
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = (len as usize).min(tail.len());
        c.handle_input(t, &tail[..n]);
        rest = &tail[n..];
        while c.poll_transmit().is_some() {}
        if c.poll_event() == Some(ClientEvent::StartTls) {
            c.tls_established(t, TlsInfo::default());
        }
        t += Duration::from_secs(60);
        c.handle_timeout(t);
    }
    c.handle_eof(t);
    if let Some(o) = c.take_outcome() {
        assert_eq!(o.recipients.len(), 2);
    }
});
