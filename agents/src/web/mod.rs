//! The web agent: answers the HTTP machine's requests with the webmail's pages.
//!
//! On a plain-HTTP listener every request is redirected to the HTTPS listener. On HTTPS:
//! `/` is the login page (or the way into the mail), `POST /login` and `POST /logout`
//! start and end a session, `/mail`, `/message` and `/attachment` read mail as the
//! session's user ([`mail`]), `/compose` and `/send` write it ([`compose`]), `/act` and
//! `/folders` change messages and folders ([`actions`]), `/settings` keeps the password,
//! vacation reply and Sieve rules ([`settings`]), `/admin` is for `[web] admins`
//! ([`admin`]). Every changing form carries the session's CSRF token (the login form a
//! token from its own cookie); a POST without it gets 403 and changes nothing.

pub mod actions;
pub mod admin;
pub mod compose;
pub mod mail;
pub mod pages;
pub mod respond;
pub mod sessions;
pub mod settings;

use std::sync::Arc;
use std::time::{Duration, Instant};

use postrider_core::http::{HttpEvent, HttpServer, HttpServerConfig, Method, Request, Response};
use postrider_core::machine::{AuthOutcome, PeerInfo};
use postrider_core::sasl::{Credentials, Mechanism, Secret};
use postrider_core::web::form::Form;

use crate::agent::{Agent, Cost, Flow};
use crate::context::Context;
use crate::listener::ListenerKind;
use crate::login::sasl_login;
use pages::Viewer;
use respond::{forbidden, html_page, not_found, redirect, with_common_headers, Csp};
use sessions::{same_token, WebLogin, LOGIN_COOKIE, SESSION_COOKIE};

/// The style sheet, served at `/style.css`.
const STYLE: &str = include_str!("style.css");

/// Form overhead allowed on top of the largest message in a request body (field names,
/// multipart delimiters, base64 growth of attachments).
const BODY_OVERHEAD: u64 = 1024 * 1024;

/// The HTTP limits of the web listeners.
pub fn http_config(ctx: &Context) -> HttpServerConfig {
    let max_message = ctx.settings().config.smtp.max_message_size;
    HttpServerConfig {
        // Attachments arrive base64-free (multipart/form-data carries raw bytes).
        max_body: max_message.saturating_add(BODY_OVERHEAD),
        ..HttpServerConfig::default()
    }
}

/// One web connection.
#[derive(Debug)]
pub struct WebSession {
    ctx: Arc<Context>,
    peer: PeerInfo,
    kind: ListenerKind,
}

impl WebSession {
    /// The machine and agent of a new connection on a listener of `kind`.
    pub fn start(ctx: &Arc<Context>, kind: ListenerKind, peer: PeerInfo) -> (HttpServer, Self) {
        ctx.metrics.connection("web");
        let server = HttpServer::new(http_config(ctx), Instant::now());
        let agent = Self {
            ctx: ctx.clone(),
            peer,
            kind,
        };
        (server, agent)
    }

    /// The answer to one request, and how long to hold it back (a failed login).
    fn answer(&self, req: &Request) -> (Response, Duration) {
        if !self.kind.implicit_tls() {
            return (self.to_https(req), Duration::ZERO);
        }
        let session = req.cookie(SESSION_COOKIE).and_then(|id| {
            self.ctx
                .web_sessions
                .get(&id, Instant::now())
                .map(|l| (id, l))
        });
        let read = matches!(req.method, Method::Get | Method::Head);
        let path = req.path();
        let public = match (path, read) {
            ("/style.css", true) => Some(
                Response::new(200)
                    .with_header("Cache-Control", "max-age=3600")
                    .with_body("text/css; charset=utf-8", STYLE),
            ),
            ("/admin.js", true) => Some(
                Response::new(200)
                    .with_header("Cache-Control", "max-age=3600")
                    .with_body("text/javascript; charset=utf-8", admin::stats::SCRIPT),
            ),
            ("/login", false) => return self.login(req),
            ("/login", true) => Some(redirect("/")),
            ("/metrics", true) => Some(self.metrics()),
            ("/", true) if session.is_none() => Some(self.login_page(None)),
            _ => None,
        };
        if let Some(r) = public {
            return (r, Duration::ZERO);
        }
        let Some((id, login)) = session else {
            let r = if known(path, read) || known(path, !read) {
                redirect("/")
            } else {
                not_found(None, "There is no such page.")
            };
            return (r, Duration::ZERO);
        };
        let viewer = Viewer {
            user: &login.user,
            csrf: &login.csrf,
            admin: admin::is_admin(&self.ctx, &login.user),
        };
        if read {
            (self.get(path, viewer, req), Duration::ZERO)
        } else if path != "/send" && !csrf_ok(req, &login) {
            // The compose form is multipart: /send checks its own token.
            let text = "The form was not sent by this page (missing token).";
            (forbidden(Some(viewer), text), Duration::ZERO)
        } else {
            self.post(path, viewer, &id, req)
        }
    }

    /// A GET (or HEAD) of a logged-in user.
    fn get(&self, path: &str, v: Viewer<'_>, req: &Request) -> Response {
        let query = Form::parse(req.query().unwrap_or("").as_bytes());
        let store = &*self.ctx.mailboxes;
        let ctx = &*self.ctx;
        if path.starts_with("/admin") && !v.admin {
            return admin::not_admin(v);
        }
        match path {
            "/" => redirect("/mail"),
            "/mail" => mail::mailbox(store, v, &query),
            "/message" => mail::message(store, v, &query),
            "/attachment" => mail::download(store, v, &query),
            "/compose" => compose::form(ctx, v, &query),
            "/folders" => actions::folders_page(store, v, &query),
            "/settings" => settings::page(ctx, v, &query),
            "/admin" => admin::stats::page(ctx, v),
            "/admin/queue" => admin::queue::page(ctx, v, &query),
            "/admin/accounts" => admin::accounts::page(ctx, v, &query),
            "/admin/aliases" => admin::accounts::aliases_page(ctx, v, &query),
            p => match p.strip_prefix("/admin/plot/") {
                Some(file) => admin::stats::plot(ctx, file)
                    .unwrap_or_else(|| not_found(Some(v), "There is no such plot.")),
                None if known(p, false) => not_allowed(v, "POST"),
                None => not_found(Some(v), "There is no such page."),
            },
        }
    }

    /// A POST of a logged-in user whose CSRF token was checked (but for `/send`).
    fn post(&self, path: &str, v: Viewer<'_>, id: &str, req: &Request) -> (Response, Duration) {
        let form = Form::parse(&req.body);
        let store = &*self.ctx.mailboxes;
        let ctx = &*self.ctx;
        let ip = self.peer.remote.ip();
        if path.starts_with("/admin") && !v.admin {
            return (admin::not_admin(v), Duration::ZERO);
        }
        let response = match path {
            "/logout" => {
                self.ctx.web_sessions.remove(id);
                tracing::info!("web: logout {} [{ip}]", v.user);
                redirect("/").with_header("Set-Cookie", &clear_cookie(SESSION_COOKIE))
            }
            "/send" => compose::send(ctx, v, ip, req),
            "/act" => actions::act(store, v, &form),
            "/folders" => actions::change_folder(store, v, &form),
            "/settings/password" => {
                let (r, hold, session) = settings::change_password(ctx, v, ip, &form);
                let r = match session {
                    Some(new_id) => r.with_header("Set-Cookie", &cookie(SESSION_COOKIE, &new_id)),
                    None => r,
                };
                return (r, hold);
            }
            "/settings/vacation" => settings::save_vacation(ctx, v, &form),
            "/settings/sieve" => settings::save_sieve(ctx, v, &form),
            "/admin/queue" => admin::queue::change(ctx, v, &form),
            "/admin/accounts" => admin::accounts::change(ctx, v, &form),
            "/admin/aliases" => admin::accounts::save_aliases(ctx, v, &form),
            p if known(p, true) => not_allowed(v, "GET, HEAD"),
            _ => not_found(Some(v), "There is no such page."),
        };
        (response, Duration::ZERO)
    }

    /// `GET /metrics`: the counters in Prometheus text format, for clients in
    /// `[web] metrics_networks` only.
    fn metrics(&self) -> Response {
        let ip = self.peer.remote.ip();
        let allowed = self
            .ctx
            .settings()
            .config
            .web
            .metrics_networks
            .iter()
            .any(|n| crate::config_values::Cidr::parse(n).is_ok_and(|c| c.contains(ip)));
        if !allowed {
            return Response::text(403, "metrics are not open to this address");
        }
        let queued = self.ctx.queue.list().map(|ids| ids.len()).unwrap_or(0);
        Response::new(200)
            .with_header("Cache-Control", "no-store")
            .with_body(
                "text/plain; version=0.0.4; charset=utf-8",
                self.ctx.metrics.render(queued),
            )
    }

    /// The login page, with a new token in the form and in the login cookie.
    fn login_page(&self, error: Option<&str>) -> Response {
        let Some(token) = self.ctx.web_sessions.token() else {
            return html_page(
                503,
                pages::problem(None, "Unavailable", "No randomness."),
                Csp::Strict,
            );
        };
        let status = if error.is_some() { 401 } else { 200 };
        html_page(status, pages::login(&token, error), Csp::Strict)
            .with_header("Set-Cookie", &cookie(LOGIN_COOKIE, &token))
    }

    /// `POST /login`: checks the login form's token, then the password (with the same
    /// penalties as the other protocols); a session cookie on success.
    fn login(&self, req: &Request) -> (Response, Duration) {
        let form = Form::parse(&req.body);
        let token_ok = match (req.cookie(LOGIN_COOKIE), form.get("csrf")) {
            (Some(cookie), Some(sent)) => !cookie.is_empty() && same_token(sent, &cookie),
            _ => false,
        };
        if !token_ok {
            let page = pages::problem(
                None,
                "Forbidden",
                "The login form was not sent by this page.",
            );
            return (html_page(403, page, Csp::Strict), Duration::ZERO);
        }
        let credentials = Credentials {
            authzid: None,
            username: form.get("username").unwrap_or("").trim().to_string(),
            password: Secret::new(form.get("password").unwrap_or("")),
            mechanism: Mechanism::Plain,
        };
        let (outcome, hold) = sasl_login(&self.ctx, self.peer.remote.ip(), "web", &credentials);
        match outcome {
            AuthOutcome::Success(user) => {
                self.ctx.mailboxes.ensure_special_use(&user);
                match self.ctx.web_sessions.create(&user, Instant::now()) {
                    Some((id, _)) => {
                        let r = redirect("/mail")
                            .with_header("Set-Cookie", &cookie(SESSION_COOKIE, &id))
                            .with_header("Set-Cookie", &clear_cookie(LOGIN_COOKIE));
                        (r, hold)
                    }
                    None => (self.login_page(Some("Cannot start a session now.")), hold),
                }
            }
            AuthOutcome::Failure => {
                let delay = hold.max(self.ctx.settings().config.auth.failure_delay.get());
                (self.login_page(Some("Wrong user name or password.")), delay)
            }
            AuthOutcome::TemporaryFailure => (
                self.login_page(Some("The accounts cannot be checked now; try again later.")),
                hold,
            ),
        }
    }

    /// A plain-HTTP request: the same target on the HTTPS listener.
    fn to_https(&self, req: &Request) -> Response {
        let c = &self.ctx.settings().config;
        let port = c
            .web
            .listen_tls
            .first()
            .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
            .map_or(443, |a| a.port());
        let host = req
            .header("host")
            .and_then(|h| std::str::from_utf8(h).ok())
            .map(host_without_port)
            .filter(|h| is_host_name(h))
            .unwrap_or(&c.hostname);
        let target = if req.target.starts_with('/') {
            req.target.as_str()
        } else {
            "/"
        };
        let status = if matches!(req.method, Method::Get | Method::Head) {
            301
        } else {
            308
        };
        let location = if port == 443 {
            format!("https://{host}{target}")
        } else {
            format!("https://{host}:{port}{target}")
        };
        Response::new(status).with_header("Location", &location)
    }
}

/// The pages read with GET (or HEAD).
const GET_PAGES: [&str; 15] = [
    "/",
    "/style.css",
    "/admin.js",
    "/metrics",
    "/login",
    "/mail",
    "/message",
    "/attachment",
    "/compose",
    "/folders",
    "/settings",
    "/admin",
    "/admin/queue",
    "/admin/accounts",
    "/admin/aliases",
];

/// The forms posted to.
const POST_PAGES: [&str; 11] = [
    "/login",
    "/logout",
    "/send",
    "/act",
    "/folders",
    "/settings/password",
    "/settings/vacation",
    "/settings/sieve",
    "/admin/queue",
    "/admin/accounts",
    "/admin/aliases",
];

/// Whether `path` is a page read with GET (`read`) or a form posted to.
fn known(path: &str, read: bool) -> bool {
    if read {
        GET_PAGES.contains(&path) || path.starts_with("/admin/plot/")
    } else {
        POST_PAGES.contains(&path)
    }
}

/// 405, with the methods the page takes.
fn not_allowed(viewer: Viewer<'_>, allow: &str) -> Response {
    html_page(
        405,
        pages::problem(Some(viewer), "Not allowed", "Not here."),
        Csp::Strict,
    )
    .with_header("Allow", allow)
}

/// Whether a changing form carries this session's CSRF token.
fn csrf_ok(req: &Request, login: &WebLogin) -> bool {
    Form::parse(&req.body)
        .get("csrf")
        .is_some_and(|sent| same_token(sent, &login.csrf))
}

/// A cookie as every cookie of ours is set: not readable by scripts, HTTPS only, never
/// sent with requests started by other sites.
fn cookie(name: &str, value: &str) -> String {
    format!("{name}={value}; Path=/; HttpOnly; Secure; SameSite=Strict")
}

/// Removes a cookie.
fn clear_cookie(name: &str) -> String {
    format!("{name}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0")
}

/// `host[:port]` or `[v6]:port` without the port.
fn host_without_port(host: &str) -> &str {
    let host = host.trim();
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.split(':').next().unwrap_or(host)
}

/// Whether `h` is a plausible host name or address literal (nothing that could change a
/// URL's meaning).
fn is_host_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'))
}

impl Agent for WebSession {
    type Machine = HttpServer;

    fn handle(&mut self, m: &mut HttpServer, ev: HttpEvent) -> Flow {
        match ev {
            HttpEvent::Request { token, request } => {
                let (response, delay) = self.answer(&request);
                let response = with_common_headers(response);
                tracing::debug!(
                    "web: {} {} {} [{}]",
                    request.method.as_str(),
                    request.path(),
                    response.status,
                    self.peer.remote.ip()
                );
                m.respond_after(token, response, delay);
                Flow::Continue
            }
            HttpEvent::Closed { .. } => Flow::Close,
        }
    }

    /// Pages read the store and logins hash passwords: all of it on the blocking pool,
    /// but the closing event and the redirects of the plain listener.
    fn cost(&self, ev: &HttpEvent) -> Cost {
        match ev {
            HttpEvent::Request { .. } if self.kind.implicit_tls() => Cost::Blocking,
            _ => Cost::Light,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_taken_without_ports_and_checked() {
        assert_eq!(host_without_port("mail.a.test:2080"), "mail.a.test");
        assert_eq!(host_without_port("[::1]:2080"), "[::1]");
        assert!(is_host_name("mail.a.test") && is_host_name("[::1]"));
        assert!(!is_host_name("evil.test/x") && !is_host_name("a b") && !is_host_name(""));
        assert_eq!(
            cookie("s", "v"),
            "s=v; Path=/; HttpOnly; Secure; SameSite=Strict"
        );
    }
}
