//! HTTP/1.1, server side (RFC 9110, RFC 9112), for the webmail and admin pages and the
//! metrics endpoint: request heads read with httparse and checked for unambiguous
//! framing ([`head`]), bodies by length or chunked ([`body`]), the values of an exchange
//! ([`types`]) and the connection machine ([`server`]).

pub mod body;
pub mod head;
pub mod server;
pub mod types;

pub use head::{parse_head, Framing, Head, HeadError, HeadLimits};
pub use server::{HttpEvent, HttpServer, HttpServerConfig};
pub use types::{Header, Method, Request, Response, Version};
