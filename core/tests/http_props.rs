//! The HTTP machine: any request written by a client comes out as the same request
//! (method, target, fields, body, by length or in any chunking), and a connection fed in
//! arbitrary pieces says exactly what it says when fed at once.

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use postrider_core::http::{
    Header, HttpEvent, HttpServer, HttpServerConfig, Method, Request, Response, Version,
};
use postrider_core::machine::Machine;
use proptest::prelude::*;

/// How a generated request's body is sent.
#[derive(Debug, Clone)]
enum Sending {
    Length,
    /// Chunk sizes (each at least 1), cycled over the body.
    Chunked(Vec<usize>),
}

/// Writes `request` as a client would.
fn encode(request: &Request, sending: &Sending) -> Vec<u8> {
    let mut out = format!(
        "{} {} HTTP/1.1\r\n",
        request.method.as_str(),
        request.target
    )
    .into_bytes();
    for h in &request.headers {
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(&h.value);
        out.extend_from_slice(b"\r\n");
    }
    match sending {
        Sending::Length => {
            out.extend_from_slice(
                format!("Content-Length: {}\r\n\r\n", request.body.len()).as_bytes(),
            );
            out.extend_from_slice(&request.body);
        }
        Sending::Chunked(sizes) => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            let mut rest = &request.body[..];
            for size in sizes.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let n = (*size).min(rest.len());
                out.extend_from_slice(format!("{n:x};ext=1\r\n").as_bytes());
                out.extend_from_slice(&rest[..n]);
                out.extend_from_slice(b"\r\n");
                rest = &rest[n..];
            }
            out.extend_from_slice(b"0\r\nTrailer-Field: t\r\n\r\n");
        }
    }
    out
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Get),
        Just(Method::Post),
        Just(Method::Head),
        "[A-Z]{3,8}".prop_map(|m| Method::from_token(&m)),
    ]
}

fn request() -> impl Strategy<Value = (Request, Sending)> {
    let field = ("[a-z][a-z0-9-]{0,12}", "[ -~]{0,40}").prop_filter_map("reserved", |(n, v)| {
        let reserved = [
            "host",
            "content-length",
            "transfer-encoding",
            "connection",
            "expect",
        ];
        (!reserved.contains(&n.as_str())).then(|| Header {
            name: n,
            value: v.trim().as_bytes().to_vec(),
        })
    });
    (
        method(),
        "/[a-zA-Z0-9/._~%!$&'()*+,;=:@?-]{0,60}",
        proptest::collection::vec(field, 0..6),
        proptest::collection::vec(any::<u8>(), 0..600),
        prop_oneof![
            Just(Sending::Length),
            proptest::collection::vec(1usize..80, 1..5).prop_map(Sending::Chunked),
        ],
    )
        .prop_map(|(method, target, fields, body, sending)| {
            let mut headers = vec![Header {
                name: "host".into(),
                value: b"mail.a.test".to_vec(),
            }];
            headers.extend(fields);
            let request = Request {
                method,
                target,
                version: Version::Http11,
                headers,
                body,
            };
            (request, sending)
        })
}

/// Feeds `input` cut at `cuts`, answering each request with its number; returns the
/// output and the requests.
fn run(input: &[u8], cuts: &[usize]) -> (Vec<u8>, Vec<Request>) {
    let now = Instant::now();
    let mut s = HttpServer::new(HttpServerConfig::default(), now);
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut requests = Vec::new();
    let mut last = 0;
    for c in cuts.into_iter().chain([input.len()]) {
        if c > last {
            s.handle_input(now, &input[last..c]);
            last = c;
        }
        loop {
            while let Some(b) = s.poll_transmit() {
                out.extend_from_slice(&b);
            }
            match s.poll_event() {
                Some(HttpEvent::Request { token, request }) => {
                    requests.push(request);
                    s.respond(token, Response::text(200, &requests.len().to_string()));
                }
                Some(HttpEvent::Closed { .. }) => {}
                None => break,
            }
        }
    }
    (out, requests)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn requests_come_out_as_they_were_written(
        reqs in proptest::collection::vec(request(), 1..4),
    ) {
        let mut input = Vec::new();
        for (r, sending) in &reqs {
            input.extend_from_slice(&encode(r, sending));
        }
        let (_, got) = run(&input, &[]);
        prop_assert_eq!(got.len(), reqs.len());
        for (got, (want, sending)) in got.iter().zip(&reqs) {
            prop_assert_eq!(&got.method, &want.method);
            prop_assert_eq!(&got.target, &want.target);
            prop_assert_eq!(&got.body, &want.body);
            for h in &want.headers {
                prop_assert!(got.headers.contains(h), "{:?} missing", h.name);
            }
            let framing = match sending {
                Sending::Length => "content-length",
                Sending::Chunked(_) => "transfer-encoding",
            };
            prop_assert!(got.header(framing).is_some());
        }
    }

    #[test]
    fn any_split_gives_the_same_exchange(
        reqs in proptest::collection::vec(request(), 1..3),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        garbage in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut input = Vec::new();
        for (r, sending) in &reqs {
            input.extend_from_slice(&encode(r, sending));
        }
        input.extend_from_slice(&garbage);
        let whole = run(&input, &[]);
        prop_assert_eq!(run(&input, &cuts), whole.clone());
        let every_byte: Vec<usize> = (1..input.len()).collect();
        prop_assert_eq!(run(&input, &every_byte), whole);
    }
}
