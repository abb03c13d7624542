//! The admin pages, for the accounts in `[web] admins` only: live statistics with SVG
//! plots refreshed by a small same-origin script ([`stats`]), the queue ([`queue`]),
//! accounts and aliases ([`accounts`]). Every changing form carries the session's CSRF
//! token (checked before these handlers run).

pub mod accounts;
pub mod queue;
pub mod stats;

use maud::{html, Markup};
use postrider_core::http::Response;

use super::pages::{self, Viewer};
use super::respond::{forbidden, html_page, Csp};
use crate::context::Context;

/// Whether `user` may use the admin pages.
pub fn is_admin(ctx: &Context, user: &str) -> bool {
    ctx.settings().config.web.admins.iter().any(|a| a == user)
}

/// The answer to a user who is not an admin.
pub fn not_admin(viewer: Viewer<'_>) -> Response {
    forbidden(
        Some(viewer),
        "These pages are for the accounts in [web] admins.",
    )
}

/// The admin pages' own navigation.
fn admin_nav(current: &str) -> Markup {
    let links = [
        ("/admin", "Statistics"),
        ("/admin/queue", "Queue"),
        ("/admin/accounts", "Accounts"),
        ("/admin/aliases", "Aliases"),
    ];
    html! {
        nav.actions.admin {
            @for (href, label) in links {
                @if href == current { strong { (label) } } @else { a href=(href) { (label) } }
            }
            a href="/mail" { "Mail" }
        }
    }
}

/// An admin page: the navigation, then `body`.
fn admin_page(
    viewer: Viewer<'_>,
    current: &str,
    title: &str,
    status: u16,
    body: Markup,
    csp: Csp,
) -> Response {
    let body = html! {
        section.manage.admin {
            (admin_nav(current))
            h1 { (title) }
            (body)
        }
    };
    html_page(status, pages::layout(title, Some(viewer), body), csp)
}

/// The notice or error line an admin page shows after an action.
fn outcome_line(notice: Option<&str>, error: Option<&str>) -> Markup {
    html! {
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        @if let Some(e) = error { p.error role="alert" { (e) } }
    }
}
