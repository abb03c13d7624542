//! A request's head: the request line and header fields (RFC 9112 §2-§5), read with
//! httparse, then checked for what decides the message's framing (RFC 9112 §6.3), the
//! rules whose violations make request smuggling possible.

use super::types::{Header, Method, Request, Version};

/// Limits on a request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// The most bytes of request line and header fields together (431 beyond).
    pub max_head: usize,
    /// The most header fields (431 beyond).
    pub max_headers: usize,
    /// The longest request target (414 beyond).
    pub max_target: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        Self {
            max_head: 32 * 1024,
            max_headers: 100,
            max_target: 8 * 1024,
        }
    }
}

/// How the body of a request is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head, before its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The request, its body still empty.
    pub request: Request,
    /// How its body is delimited.
    pub framing: Framing,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
    /// `Expect: 100-continue`: the client waits for an interim answer before the body.
    pub expect_continue: bool,
}

/// Why a request head is refused; each maps to the status code answering it, after which
/// the connection is closed (its framing can no longer be trusted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Malformed, or framing that could be read two ways (400).
    BadRequest(&'static str),
    /// The request target is longer than allowed (414).
    UriTooLong,
    /// The head is larger, or has more fields, than allowed (431).
    HeadTooLarge,
    /// A transfer coding other than `chunked` (501).
    UnknownCoding,
    /// An HTTP version other than 1.0 and 1.1 (505).
    Version,
    /// An `Expect` other than `100-continue` (417).
    Expectation,
}

impl HeadError {
    /// The status code of the answer.
    pub fn status(self) -> u16 {
        match self {
            HeadError::BadRequest(_) => 400,
            HeadError::UriTooLong => 414,
            HeadError::HeadTooLarge => 431,
            HeadError::UnknownCoding => 501,
            HeadError::Version => 505,
            HeadError::Expectation => 417,
        }
    }

    /// A short explanation for the error page.
    pub fn reason(self) -> &'static str {
        match self {
            HeadError::BadRequest(why) => why,
            HeadError::UriTooLong => "request target too long",
            HeadError::HeadTooLarge => "request header fields too large",
            HeadError::UnknownCoding => "unsupported transfer coding",
            HeadError::Version => "only HTTP/1.0 and HTTP/1.1 are spoken here",
            HeadError::Expectation => "unsupported expectation",
        }
    }
}

/// Reads a request head from the start of `input`: `Ok(None)` while it is incomplete
/// (and within the limits), else the head and how many bytes it took.
///
/// ```text
/// HTTP-message = start-line CRLF *( field-line CRLF ) CRLF [ message-body ]
/// request-line = method SP request-target SP HTTP-version
/// ```
pub fn parse_head(input: &[u8], limits: &HeadLimits) -> Result<Option<(Head, usize)>, HeadError> {
    // Empty lines before a request line are ignored (RFC 9112 §2.2).
    let skipped = input
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let input = &input[skipped..];
    let window = &input[..input.len().min(limits.max_head + 1)];
    let mut fields = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut fields);
    let parsed = match req.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if window.len() > limits.max_head {
                return Err(too_large(window));
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::HeadTooLarge),
        Err(httparse::Error::Version) => return Err(version_error(window)),
        Err(_) => return Err(HeadError::BadRequest("malformed request head")),
    };
    if parsed > limits.max_head {
        return Err(too_large(window));
    }
    let method = Method::from_token(req.method.unwrap_or(""));
    let target = req.path.unwrap_or("");
    if target.len() > limits.max_target {
        return Err(HeadError::UriTooLong);
    }
    let version = match req.version {
        Some(0) => Version::Http10,
        _ => Version::Http11,
    };
    let headers: Vec<Header> = req
        .headers
        .iter()
        .map(|h| Header {
            name: h.name.to_ascii_lowercase(),
            value: h.value.to_vec(),
        })
        .collect();
    check_target(&method, target)?;
    let request = Request {
        method,
        target: target.to_string(),
        version,
        headers,
        body: Vec::new(),
    };
    let head = check_fields(request)?;
    Ok(Some((head, skipped + parsed)))
}

/// A head over the size limit: 414 when the request line alone is, else 431.
fn too_large(window: &[u8]) -> HeadError {
    match memchr::memchr(b'\n', window) {
        None => HeadError::UriTooLong,
        Some(_) => HeadError::HeadTooLarge,
    }
}

/// httparse refuses any version but 1.0 and 1.1: 505 when the line names another
/// HTTP version, 400 when it is not a request line at all.
fn version_error(window: &[u8]) -> HeadError {
    let line = window.split(|&b| b == b'\n').next().unwrap_or(b"");
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let last = line.rsplit(|&b| b == b' ').next().unwrap_or(b"");
    let is_http_version = last.len() == 8
        && last.starts_with(b"HTTP/")
        && last[5].is_ascii_digit()
        && last[6] == b'.'
        && last[7].is_ascii_digit();
    if is_http_version {
        HeadError::Version
    } else {
        HeadError::BadRequest("malformed request line")
    }
}

/// The request target must be in origin form (`/path?query`), or `*` for OPTIONS
/// (RFC 9112 §3.2); this server is nobody's proxy.
fn check_target(method: &Method, target: &str) -> Result<(), HeadError> {
    if target.starts_with('/') || (target == "*" && *method == Method::Options) {
        Ok(())
    } else {
        Err(HeadError::BadRequest("request target not in origin form"))
    }
}

/// Checks the fields that decide framing and persistence (RFC 9112 §6.3, §9.3; RFC 9110
/// §7.2, §10.1.1) and returns the head.
fn check_fields(request: Request) -> Result<Head, HeadError> {
    let hosts = request.headers_named("host").count();
    if hosts > 1 || (hosts == 0 && request.version == Version::Http11) {
        return Err(HeadError::BadRequest("exactly one Host field is required"));
    }
    let framing = framing(&request)?;
    let connection: Vec<String> = request
        .headers_named("connection")
        .flat_map(list_items)
        .collect();
    let keep_alive = match request.version {
        Version::Http11 => !connection.iter().any(|c| c == "close"),
        // HTTP/1.0 persistence is not offered: one request per connection.
        Version::Http10 => false,
    };
    let mut expect_continue = false;
    for value in request.headers_named("expect") {
        for item in list_items(value) {
            if item == "100-continue" {
                expect_continue = request.version == Version::Http11;
            } else {
                return Err(HeadError::Expectation);
            }
        }
    }
    Ok(Head {
        request,
        framing,
        keep_alive,
        expect_continue,
    })
}

/// The body's framing: chunked, a length, or none; refuses a request that carries both,
/// several different lengths, a malformed length, or another transfer coding.
fn framing(request: &Request) -> Result<Framing, HeadError> {
    let codings: Vec<String> = request
        .headers_named("transfer-encoding")
        .flat_map(list_items)
        .collect();
    let lengths: Vec<&[u8]> = request.headers_named("content-length").collect();
    if request.headers_named("transfer-encoding").next().is_some() {
        if !lengths.is_empty() {
            return Err(HeadError::BadRequest(
                "both Transfer-Encoding and Content-Length",
            ));
        }
        if request.version == Version::Http10 {
            return Err(HeadError::BadRequest(
                "Transfer-Encoding in an HTTP/1.0 request",
            ));
        }
        return match codings.as_slice() {
            [only] if only == "chunked" => Ok(Framing::Chunked),
            [] => Err(HeadError::BadRequest("empty Transfer-Encoding")),
            _ => Err(HeadError::UnknownCoding),
        };
    }
    let mut length = None;
    for value in lengths {
        // A list of identical values is one value (RFC 9110 §8.6).
        for item in value.split(|&b| b == b',') {
            let item = item.trim_ascii();
            if item.is_empty() || item.len() > 18 || !item.iter().all(u8::is_ascii_digit) {
                return Err(HeadError::BadRequest("malformed Content-Length"));
            }
            let n: u64 = std::str::from_utf8(item)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(HeadError::BadRequest("malformed Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(HeadError::BadRequest("conflicting Content-Length fields"));
            }
            length = Some(n);
        }
    }
    Ok(match length {
        Some(0) | None => Framing::None,
        Some(n) => Framing::Length(n),
    })
}

/// The items of a comma-separated field value, trimmed and lower-cased.
fn list_items(value: &[u8]) -> Vec<String> {
    value
        .split(|&b| b == b',')
        .map(|item| String::from_utf8_lossy(item.trim_ascii()).to_ascii_lowercase())
        .filter(|item| !item.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<(Head, usize)>, HeadError> {
        parse_head(text.as_bytes(), &HeadLimits::default())
    }

    fn head(text: &str) -> Head {
        parse(text).expect("valid").expect("complete").0
    }

    #[test]
    fn a_simple_get_is_read_with_its_fields() {
        let text = "GET /inbox?page=2 HTTP/1.1\r\nHost: mail.a.test\r\nCookie: s=1\r\n\r\nnext";
        let (h, n) = parse(text).expect("valid").expect("complete");
        assert_eq!(n, text.len() - 4);
        assert_eq!(h.request.method, Method::Get);
        assert_eq!(h.request.target, "/inbox?page=2");
        assert_eq!(h.request.path(), "/inbox");
        assert_eq!(h.request.query(), Some("page=2"));
        assert_eq!(h.request.header("COOKIE"), Some(&b"s=1"[..]));
        assert_eq!(h.framing, Framing::None);
        assert!(h.keep_alive && !h.expect_continue);
    }

    #[test]
    fn incomplete_heads_wait_and_leading_empty_lines_are_skipped() {
        assert_eq!(parse("GET / HTTP/1.1\r\nHost: a\r\n"), Ok(None));
        assert_eq!(parse(""), Ok(None));
        let (_, n) = parse("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert_eq!(n, 4 + 27);
    }

    #[test]
    fn framing_is_chunked_a_length_or_nothing() {
        let chunked = head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert_eq!(chunked.framing, Framing::Chunked);
        let length = head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n");
        assert_eq!(length.framing, Framing::Length(12));
        let same =
            head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(same.framing, Framing::Length(5));
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        for text in [
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET http://evil/ HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n",
        ] {
            assert_eq!(
                parse(text).map(|_| ()).map_err(HeadError::status),
                Err(400),
                "{text:?}"
            );
        }
        for text in [
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
        ] {
            assert_eq!(parse(text), Err(HeadError::UnknownCoding), "{text:?}");
        }
    }

    #[test]
    fn versions_persistence_and_expectations() {
        assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(
            !head("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n").keep_alive
        );
        assert_eq!(
            parse("GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
            Err(HeadError::Version)
        );
        assert_eq!(
            parse("GET / FTP/1.1\r\nHost: a\r\n\r\n").map_err(HeadError::status),
            Err(400)
        );
        assert!(
            head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n")
                .expect_continue
        );
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: a\r\nExpect: later\r\n\r\n"),
            Err(HeadError::Expectation)
        );
    }

    #[test]
    fn oversized_heads_are_refused_without_waiting_for_their_end() {
        let limits = HeadLimits {
            max_head: 100,
            max_headers: 3,
            max_target: 20,
        };
        let long_line = format!("GET /{} HTTP/1.1\r\n", "a".repeat(200));
        assert_eq!(
            parse_head(long_line.as_bytes(), &limits),
            Err(HeadError::UriTooLong)
        );
        let long_target = "GET /aaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(
            parse_head(long_target.as_bytes(), &limits),
            Err(HeadError::UriTooLong)
        );
        let many = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(
            parse_head(many.as_bytes(), &limits),
            Err(HeadError::HeadTooLarge)
        );
        let big = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}", "b".repeat(200));
        assert_eq!(
            parse_head(big.as_bytes(), &limits),
            Err(HeadError::HeadTooLarge)
        );
    }
}
