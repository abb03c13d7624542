//! The HTTP connection machine: requests handed over whole and one at a time, answers
//! framed by the machine, and the requests it refuses on its own.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use postrider_core::http::{HttpEvent, HttpServer, HttpServerConfig, Request, Response};
use postrider_core::machine::{CloseReason, Machine};

/// The virtual clock's origin: the machine reads no clock, every later time is an offset
/// from this one.
fn origin() -> Instant {
    Instant::now()
}

/// A connection fed `input` at once, answering every request with `200 ok <target>`
/// (or running `answer` for it); returns what it wrote and the requests it handed over.
fn exchange(config: HttpServerConfig, input: &[u8]) -> (String, Vec<Request>, HttpServer) {
    let now = origin();
    let mut s = HttpServer::new(config, now);
    s.handle_input(now, input);
    let (out, requests) = pump(&mut s);
    (out, requests, s)
}

/// Answers every pending request; returns the output and the requests.
fn pump(s: &mut HttpServer) -> (String, Vec<Request>) {
    let mut out = Vec::new();
    let mut requests = Vec::new();
    loop {
        while let Some(bytes) = s.poll_transmit() {
            out.extend_from_slice(&bytes);
        }
        match s.poll_event() {
            Some(HttpEvent::Request { token, request }) => {
                let answer = Response::text(200, &format!("ok {}", request.target));
                requests.push(request);
                s.respond(token, answer);
            }
            Some(HttpEvent::Closed { .. }) => {}
            None => break,
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), requests)
}

#[test]
fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let input = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    let now = origin();
    let mut s = HttpServer::new(HttpServerConfig::default(), now);
    s.handle_input(now, input);
    let Some(HttpEvent::Request { token, request }) = s.poll_event() else {
        panic!("first request");
    };
    assert_eq!(request.target, "/a");
    assert!(
        s.poll_event().is_none(),
        "the second waits for the first answer"
    );
    assert!(
        s.wants_input(),
        "pipelined input is still read up to the cap"
    );
    s.respond(token, Response::text(200, "a"));
    let (out, rest) = pump(&mut s);
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].target, "/b");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\na\n"));
    assert!(!s.is_closed());
}

#[test]
fn bodies_arrive_whole_by_length_or_chunked() {
    let input = b"POST /send HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    let (out, requests, s) = exchange(HttpServerConfig::default(), input);
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body, b"hello");
    assert_eq!(requests[1].body, b"abcde");
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2);
    assert!(!s.is_closed());
}

#[test]
fn head_answers_carry_no_body_and_close_is_honoured() {
    let (out, _, s) = exchange(
        HttpServerConfig::default(),
        b"HEAD /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\n\r\n",
    );
    assert!(
        out.ends_with("Content-Length: 6\r\nConnection: close\r\n\r\n"),
        "{out}"
    );
    assert!(s.is_closed());
    let (out, requests, s) = exchange(HttpServerConfig::default(), b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(requests.len(), 1);
    assert!(out.contains("Connection: close"));
    assert!(s.is_closed());
}

#[test]
fn a_smuggled_request_is_never_read() {
    // Content-Length and chunked together: a proxy and this server could disagree on
    // where the body ends, and the second request would reach one of them unchecked.
    let input =
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n\
0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n";
    let (out, requests, s) = exchange(HttpServerConfig::default(), input);
    assert!(requests.is_empty());
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
    assert!(out.contains("Connection: close"));
    assert!(s.is_closed());
}

#[test]
fn limits_are_answered_by_the_machine() {
    let config = HttpServerConfig {
        max_body: 10,
        ..HttpServerConfig::default()
    };
    let cases: [(&[u8], &str); 4] = [
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n",
            "413",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n",
            "413",
        ),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: \x01\r\n\r\n", "400"),
        (b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", "505"),
    ];
    for (input, status) in cases {
        let (out, requests, s) = exchange(config.clone(), input);
        assert!(requests.is_empty());
        assert!(out.starts_with(&format!("HTTP/1.1 {status} ")), "{out}");
        assert!(s.is_closed());
    }
}

#[test]
fn a_client_expecting_100_continue_is_told_to_go_on() {
    let now = origin();
    let mut s = HttpServer::new(HttpServerConfig::default(), now);
    s.handle_input(
        now,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n",
    );
    let (out, requests) = pump(&mut s);
    assert_eq!(out, "HTTP/1.1 100 Continue\r\n\r\n");
    assert!(requests.is_empty());
    s.handle_input(now, b"ok");
    let (out, requests) = pump(&mut s);
    assert_eq!(requests[0].body, b"ok");
    assert!(out.starts_with("HTTP/1.1 200 OK"));
}

#[test]
fn slow_heads_get_408_and_idle_connections_close_quietly() {
    let config = HttpServerConfig::default();
    let start = origin();
    let mut s = HttpServer::new(config.clone(), start);
    s.handle_input(start, b"GET / HTTP/1.1\r\nHo");
    // Trickling bytes does not move the head's deadline.
    let later = start + config.head_timeout - Duration::from_secs(1);
    s.handle_input(later, b"st");
    assert_eq!(s.poll_timeout(), Some(start + config.head_timeout));
    s.handle_timeout(start + config.head_timeout);
    let (out, _) = pump(&mut s);
    assert!(out.starts_with("HTTP/1.1 408 Request Timeout"), "{out}");
    assert!(s.is_closed());

    let mut idle = HttpServer::new(config.clone(), start);
    idle.handle_timeout(start + config.idle_timeout - Duration::from_millis(1));
    assert!(!idle.is_closed(), "not before the deadline");
    idle.handle_timeout(start + config.idle_timeout);
    assert!(idle.poll_transmit().is_none());
    assert_eq!(
        idle.poll_event(),
        Some(HttpEvent::Closed {
            reason: CloseReason::Timeout
        })
    );
}

#[test]
fn the_request_limit_closes_the_connection() {
    let config = HttpServerConfig {
        max_requests: 2,
        ..HttpServerConfig::default()
    };
    let input = b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n";
    let (out, requests, s) = exchange(config, input);
    assert_eq!(requests.len(), 2);
    assert_eq!(out.matches("Connection: close").count(), 1);
    assert!(s.is_closed());
}

#[test]
fn stopping_waits_for_the_answer_then_closes() {
    let now = origin();
    let mut s = HttpServer::new(HttpServerConfig::default(), now);
    s.handle_input(now, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let Some(HttpEvent::Request { token, .. }) = s.poll_event() else {
        panic!("request");
    };
    s.shutdown();
    assert!(!s.is_closed());
    s.respond(token, Response::new(204));
    assert!(s.is_closed());
    let out = s.poll_transmit().expect("answer");
    assert_eq!(out, b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
}

#[test]
fn a_held_answer_waits_for_its_time_and_so_does_the_next_request() {
    let now = origin();
    let mut s = HttpServer::new(HttpServerConfig::default(), now);
    s.handle_input(
        now,
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let Some(HttpEvent::Request { token, .. }) = s.poll_event() else {
        panic!("request");
    };
    s.respond_after(
        token,
        Response::text(200, "wrong password"),
        Duration::from_secs(2),
    );
    assert!(s.poll_transmit().is_none());
    assert!(s.poll_event().is_none());
    assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(2)));
    s.handle_timeout(now + Duration::from_secs(1));
    assert!(s.poll_transmit().is_none(), "not before its time");
    s.handle_timeout(now + Duration::from_secs(2));
    let (out, requests) = pump(&mut s);
    assert!(out.contains("wrong password"));
    assert_eq!(requests[0].target, "/next");
}
