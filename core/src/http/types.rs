//! The values an HTTP exchange is made of: a [`Request`] as the server machine hands it
//! to the agent, and the [`Response`] the agent answers with (encoded by the machine,
//! which alone decides framing and persistence).

/// A request method (RFC 9110 §9).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`: a GET whose answer carries no body.
    Head,
    /// `POST`
    Post,
    /// `OPTIONS`
    Options,
    /// Any other method token, as sent.
    Other(String),
}

impl Method {
    /// The method named by `token` (method names are case-sensitive).
    pub fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_string()),
        }
    }

    /// The method's token.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Options => "OPTIONS",
            Method::Other(token) => token,
        }
    }
}

/// The protocol version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// HTTP/1.0: one request per connection here.
    Http10,
    /// HTTP/1.1
    Http11,
}

/// One header field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The field name, lower-cased.
    pub name: String,
    /// The field value as sent (without surrounding whitespace).
    pub value: Vec<u8>,
}

/// A whole request: head and body (de-chunked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The request target in origin form (`/path?query`), or `*`.
    pub target: String,
    /// The protocol version.
    pub version: Version,
    /// The header fields in order.
    pub headers: Vec<Header>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The values of the fields named `name` (any case), in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_slice())
    }

    /// The value of the first field named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_slice())
    }

    /// The target's path (before any `?`).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The target's query (after the first `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// The value of cookie `name` from the `Cookie` fields (RFC 6265 §5.4), if sent.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers_named("cookie")
            .flat_map(|v| v.split(|&b| b == b';'))
            .filter_map(|pair| {
                let text = std::str::from_utf8(pair).ok()?.trim();
                let (n, v) = text.split_once('=')?;
                (n.trim() == name).then(|| v.trim().trim_matches('"').to_string())
            })
            .next()
    }
}

/// The answer to a request. The server machine adds `Content-Length` and, when it
/// closes the connection after this answer, `Connection: close`; those (and
/// `Transfer-Encoding`) set here are left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header fields (name, value) in order.
    pub headers: Vec<(String, String)>,
    /// The body (not sent in answer to HEAD).
    pub body: Vec<u8>,
}

impl Response {
    /// An answer with this status, no fields and no body.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header field.
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body and its `Content-Type`.
    pub fn with_body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        self.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
        self.headers
            .push(("Content-Type".to_string(), content_type.to_string()));
        self.body = body.into();
        self
    }

    /// The value of the first field named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A short plain-text answer, e.g. for the machine's own errors.
    pub fn text(status: u16, text: &str) -> Response {
        Response::new(status).with_body("text/plain; charset=utf-8", format!("{text}\n"))
    }

    /// Writes the status line, fields and (unless `head_only`) body to `out`; `close`
    /// adds `Connection: close`. Field names that are not tokens are left out, and any
    /// control character in a value is written as a space, so nothing an agent puts in a
    /// field can start a new one (response splitting).
    pub fn encode(&self, head_only: bool, close: bool, out: &mut Vec<u8>) {
        let status = self.status.clamp(100, 999);
        out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
        for (name, value) in &self.headers {
            let framing = ["content-length", "connection", "transfer-encoding"]
                .iter()
                .any(|f| name.eq_ignore_ascii_case(f));
            if framing || name.is_empty() || !name.bytes().all(is_token_byte) {
                continue;
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend(value.trim().bytes().map(|b| {
                if b.is_ascii_control() && b != b'\t' {
                    b' '
                } else {
                    b
                }
            }));
            out.extend_from_slice(b"\r\n");
        }
        if has_body(status) {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !head_only && has_body(status) {
            out.extend_from_slice(&self.body);
        }
    }
}

/// Whether answers with this status carry a body (RFC 9110 §6.4.1).
fn has_body(status: u16) -> bool {
    !(100..200).contains(&status) && status != 204 && status != 304
}

/// Whether `b` may appear in a token (RFC 9110 §5.6.2).
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_framed_by_the_machine_and_cannot_be_split() {
        let r = Response::new(200)
            .with_header("Location", "/a\r\nSet-Cookie: evil=1")
            .with_header("Content-Length", "999")
            .with_header("Bad Name", "x")
            .with_body("text/plain", "hi");
        let mut out = Vec::new();
        r.encode(false, true, &mut out);
        assert_eq!(
            String::from_utf8(out).expect("ascii"),
            "HTTP/1.1 200 OK\r\nLocation: /a  Set-Cookie: evil=1\r\n\
             Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
        );
        let mut head = Vec::new();
        Response::text(404, "nope").encode(true, false, &mut head);
        assert!(head.ends_with(b"Content-Length: 5\r\n\r\n"));
        let mut none = Vec::new();
        Response::new(304).encode(false, false, &mut none);
        assert_eq!(none, b"HTTP/1.1 304 Not Modified\r\n\r\n");
    }

    #[test]
    fn cookies_are_found_by_name() {
        let request = Request {
            method: Method::Get,
            target: "/".into(),
            version: Version::Http11,
            headers: vec![
                Header {
                    name: "cookie".into(),
                    value: b"a=1; session=\"xyz\"".to_vec(),
                },
                Header {
                    name: "cookie".into(),
                    value: b"b=2".to_vec(),
                },
            ],
            body: Vec::new(),
        };
        assert_eq!(request.cookie("session").as_deref(), Some("xyz"));
        assert_eq!(request.cookie("b").as_deref(), Some("2"));
        assert_eq!(request.cookie("sess"), None);
    }
}
