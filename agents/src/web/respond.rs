//! The answers every page shares: HTML pages under a Content-Security-Policy, redirects,
//! errors, and the headers added to every response.

use postrider_core::http::Response;

use super::pages::{self, Viewer};

/// The Content-Security-Policy a page is served under. None allows a frame, a plugin, a
/// form posting elsewhere or a script from anywhere else (only the admin statistics run
/// one, from this server); mail HTML inside a page is held to it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Csp {
    /// Only this server's style sheet and `data:` images.
    Strict,
    /// As strict, but images from anywhere (the user asked to see a message's images).
    RemoteImages,
    /// As strict, plus scripts from this origin (the admin statistics' refresher; no
    /// mail is shown under it).
    AdminScript,
}

impl Csp {
    fn value(self) -> &'static str {
        match self {
            Csp::Strict => {
                "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            }
            Csp::AdminScript => {
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            }
            Csp::RemoteImages => {
                "default-src 'none'; style-src 'self'; img-src 'self' data: https: http:; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            }
        }
    }
}

/// An HTML page.
pub fn html_page(status: u16, html: String, csp: Csp) -> Response {
    Response::new(status)
        .with_header("Content-Security-Policy", csp.value())
        .with_header("Cache-Control", "no-store")
        .with_body("text/html; charset=utf-8", html)
}

/// The line a page shows after an action sent the user back to it with `done=WHAT`:
/// the text `notices` gives for WHAT.
pub fn done_notice(
    query: &postrider_core::web::form::Form,
    notices: &[(&str, &'static str)],
) -> Option<&'static str> {
    let done = query.get("done")?;
    notices.iter().find(|(w, _)| *w == done).map(|(_, t)| *t)
}

/// `303 See Other` to `location` (after a form post, or to the page to go to).
pub fn redirect(location: &str) -> Response {
    Response::new(303)
        .with_header("Location", location)
        .with_header("Cache-Control", "no-store")
}

/// A 404 page.
pub fn not_found(viewer: Option<Viewer<'_>>, text: &str) -> Response {
    html_page(404, pages::problem(viewer, "Not found", text), Csp::Strict)
}

/// A 403 page (a form without its CSRF token, a page for admins only).
pub fn forbidden(viewer: Option<Viewer<'_>>, text: &str) -> Response {
    html_page(403, pages::problem(viewer, "Forbidden", text), Csp::Strict)
}

/// Adds the headers every answer carries: no sniffing of types, no framing, no referrer
/// leaking message URLs to links followed from mail.
pub fn with_common_headers(mut r: Response) -> Response {
    for (name, value) in [
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
    ] {
        if r.header(name).is_none() {
            r.headers.push((name.to_string(), value.to_string()));
        }
    }
    r
}
