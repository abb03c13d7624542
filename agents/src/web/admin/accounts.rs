//! `/admin/accounts` and `/admin/aliases`: add, delete and reset the password of
//! accounts (file accounts; system accounts belong to the system's tools), and edit the
//! aliases file, rebuilt at once as `newaliases` does.

use maud::html;
use postrider_core::http::Response;
use postrider_core::sasl::Secret;
use postrider_core::web::form::Form;
use postrider_store::accounts::valid_name;

use super::{admin_page, outcome_line, Viewer};
use crate::context::Context;
use crate::web::respond::{done_notice, redirect, Csp};

/// The shortest password an admin may set.
const MIN_PASSWORD: usize = 8;
/// The largest aliases file accepted from the editor.
const MAX_ALIASES: usize = 1024 * 1024;

/// `GET /admin/accounts`.
pub fn page(ctx: &Context, viewer: Viewer<'_>, query: &Form) -> Response {
    let notice = done_notice(
        query,
        &[
            ("added", "Account added."),
            ("deleted", "Account deleted (its mail is kept)."),
            (
                "password",
                "Password set; the account's sessions were logged out.",
            ),
        ],
    );
    render(ctx, viewer, 200, notice, None)
}

fn render(
    ctx: &Context,
    viewer: Viewer<'_>,
    status: u16,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response {
    let system = ctx.accounts.is_system();
    let names = ctx.accounts.list().unwrap_or_default();
    let body = html! {
        (outcome_line(notice, error))
        @if system {
            p { "accounts = \"system\": accounts are the system's users; manage them with the system's tools." }
        } @else {
            form id="add-account" method="post" action="/admin/accounts" {
                input type="hidden" name="csrf" value=(viewer.csrf);
                input type="hidden" name="action" value="add";
                label { "Name " input type="text" name="name" required; }
                " "
                label { "Password " input type="password" name="password" autocomplete="new-password" minlength=(MIN_PASSWORD) required; }
                " " button type="submit" { "Add account" }
            }
        }
        table id="accounts" {
            thead { tr { th { "Account" } @if !system { th { "New password" } th { "Delete" } } } }
            tbody {
                @for name in &names {
                    tr {
                        td.name { (name) }
                        @if !system {
                            td {
                                form method="post" action="/admin/accounts" {
                                    input type="hidden" name="csrf" value=(viewer.csrf);
                                    input type="hidden" name="action" value="password";
                                    input type="hidden" name="name" value=(name);
                                    input type="password" name="password" autocomplete="new-password" aria-label={ "New password for " (name) } minlength=(MIN_PASSWORD) required;
                                    " " button type="submit" { "Set" }
                                }
                            }
                            td {
                                @if name != viewer.user {
                                    form method="post" action="/admin/accounts" {
                                        input type="hidden" name="csrf" value=(viewer.csrf);
                                        input type="hidden" name="action" value="delete";
                                        input type="hidden" name="name" value=(name);
                                        button type="submit" { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    admin_page(
        viewer,
        "/admin/accounts",
        "Accounts",
        status,
        body,
        Csp::Strict,
    )
}

/// `POST /admin/accounts` (`action` add / password / delete, `name`, `password`).
pub fn change(ctx: &Context, viewer: Viewer<'_>, form: &Form) -> Response {
    let name = form.get("name").unwrap_or("").trim();
    let password = form.get("password").unwrap_or("");
    let refuse = |status: u16, text: &str| render(ctx, viewer, status, None, Some(text));
    if ctx.accounts.is_system() {
        return refuse(400, "System accounts are managed with the system's tools.");
    }
    let action = form.get("action").unwrap_or("");
    if matches!(action, "add" | "password") && password.chars().count() < MIN_PASSWORD {
        return refuse(
            400,
            &format!("A password needs at least {MIN_PASSWORD} characters."),
        );
    }
    let result = match action {
        "add" if valid_name(name) => ctx
            .accounts
            .add(name, &Secret::new(password))
            .map(|_| "added"),
        "add" => return refuse(400, &format!("{name:?} is not a valid account name.")),
        "password" => ctx
            .accounts
            .passwd(name, &Secret::new(password))
            .map(|_| "password"),
        "delete" if name == viewer.user => {
            return refuse(400, "You cannot delete the account you are logged in with.")
        }
        "delete" => ctx.accounts.delete(name).map(|_| "deleted"),
        _ => return refuse(400, "Unknown action."),
    };
    match result {
        Ok(done) => {
            tracing::info!("web: admin {}: account {name} {done}", viewer.user);
            if done != "added" {
                ctx.web_sessions.remove_user(name);
            }
            redirect(&format!("/admin/accounts?done={done}"))
        }
        Err(e) => refuse(400, &e.to_string()),
    }
}

/// `GET /admin/aliases`: the aliases file in an editor.
pub fn aliases_page(ctx: &Context, viewer: Viewer<'_>, query: &Form) -> Response {
    let notice = query
        .get("count")
        .map(|n| format!("Saved and rebuilt: {n} aliases."));
    aliases_render(ctx, viewer, 200, notice.as_deref(), &[], None)
}

fn aliases_render(
    ctx: &Context,
    viewer: Viewer<'_>,
    status: u16,
    notice: Option<&str>,
    warnings: &[String],
    text: Option<&str>,
) -> Response {
    let path = ctx.settings().aliases_path();
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    let text = text.unwrap_or(&stored);
    let body = html! {
        (outcome_line(notice, None))
        @if !warnings.is_empty() {
            ul.error role="alert" { @for w in warnings { li { (w) } } }
        }
        p { "aliases(5) format, in " code { (path.display()) } ": " code { "name: target, target" } " (local names, addresses, " code { "\"|command\"" } ", " code { "/file" } ", " code { ":include:/path" } ")." }
        form id="aliases" method="post" action="/admin/aliases" {
            input type="hidden" name="csrf" value=(viewer.csrf);
            textarea name="text" rows="20" spellcheck="false" aria-label="Aliases" { (text) }
            button type="submit" { "Save and rebuild" }
        }
    };
    admin_page(
        viewer,
        "/admin/aliases",
        "Aliases",
        status,
        body,
        Csp::Strict,
    )
}

/// `POST /admin/aliases` (`text`): checks the text, writes the file whole, rebuilds.
/// Text with unreadable lines is not saved: the lines are shown for correction.
pub fn save_aliases(ctx: &Context, viewer: Viewer<'_>, form: &Form) -> Response {
    let mut text = form.get("text").unwrap_or("").replace("\r\n", "\n");
    if !text.ends_with('\n') {
        text.push('\n');
    }
    if text.len() > MAX_ALIASES {
        let w = vec![format!("The file is over {MAX_ALIASES} bytes.")];
        return aliases_render(ctx, viewer, 400, None, &w, Some(&text));
    }
    let (_, errors) = postrider_core::delivery::aliases::Aliases::parse(&text);
    if !errors.is_empty() {
        let w: Vec<String> = errors
            .iter()
            .map(|e| format!("line {}: {}", e.line, e.message))
            .collect();
        return aliases_render(ctx, viewer, 400, None, &w, Some(&text));
    }
    let path = ctx.settings().aliases_path();
    let written = postrider_store::fsutil::replace_file(&path, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
        .and_then(|()| crate::newaliases::rebuild(&ctx.settings(), ctx.pool.as_ref()));
    match written {
        Ok(done) => {
            tracing::info!(
                "web: admin {} rebuilt the aliases: {} aliases, written to {}",
                viewer.user,
                done.count,
                done.into
            );
            redirect(&format!("/admin/aliases?count={}", done.count))
        }
        Err(e) => aliases_render(ctx, viewer, 500, None, &[e], Some(&text)),
    }
}
