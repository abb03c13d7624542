//! An HTTP connection fed arbitrary chunks, every request answered: no panic, every
//! answer starts with a status line, and a request is only handed over while none is
//! being answered.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use postrider_core::http::{HttpEvent, HttpServer, HttpServerConfig, Response};
use postrider_core::machine::Machine;

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let config = HttpServerConfig {
        max_body: 4096,
        ..HttpServerConfig::default()
    };
    let mut s = HttpServer::new(config, now);
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = (len as usize).min(tail.len());
        s.handle_input(now, &tail[..n]);
        rest = &tail[n..];
        while let Some(ev) = s.poll_event() {
            if let HttpEvent::Request { token, request } = ev {
                assert!(request.body.len() <= 4096);
                s.respond(token, Response::text(200, request.path()));
            }
        }
        if let Some(out) = s.poll_transmit() {
            assert!(out.starts_with(b"HTTP/1.1 "));
        }
        if len == 0xff {
            now += Duration::from_secs(31);
            s.handle_timeout(now);
        }
        if s.is_closed() {
            break;
        }
    }
});
