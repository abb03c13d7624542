//! The settings page: change the password, switch the vacation reply on or off with its
//! text, and edit the Sieve script delivery runs (refused with its errors as
//! line:column when it does not compile). Files go through the backend's user files, so
//! both storage backends keep them where delivery reads them.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use maud::html;
use postrider_core::http::Response;
use postrider_core::machine::AuthOutcome;
use postrider_core::sasl::{Credentials, Mechanism, Secret};
use postrider_core::sieve::Script;
use postrider_core::web::form::Form;
use postrider_core::web::vacation::{
    forward_with_vacation, forward_without_vacation, read_template, vacation_enabled,
    vacation_template,
};
use postrider_store::user_files::UserFile;

use super::pages::{self, Viewer};
use super::respond::{done_notice, html_page, redirect, Csp};
use crate::context::Context;
use crate::login::sasl_login;

/// The shortest new password accepted.
const MIN_PASSWORD: usize = 8;
/// The largest Sieve script or vacation text accepted.
const MAX_TEXT: usize = 256 * 1024;

/// What the settings page shows besides the stored values.
#[derive(Debug, Default)]
struct Shown<'a> {
    notice: Option<&'a str>,
    error: Option<String>,
    /// A script sent that did not compile, shown again for correction.
    script: Option<&'a str>,
    /// The errors of that script, `line:column: message`.
    script_errors: Vec<String>,
}

/// A user file as text ("" when there is none).
fn read_text(ctx: &Context, user: &str, file: UserFile) -> String {
    match ctx.user_files.read(user, file, MAX_TEXT as u64) {
        Ok(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        Ok(None) => String::new(),
        Err(e) => {
            tracing::warn!(
                "web: cannot read {}: {e}",
                ctx.user_files.describe(user, file)
            );
            String::new()
        }
    }
}

/// `GET /settings`.
pub fn page(ctx: &Context, viewer: Viewer<'_>, query: &Form) -> Response {
    let notice = done_notice(
        query,
        &[
            (
                "password",
                "Password changed. Your other sessions were logged out.",
            ),
            ("vacation", "Vacation reply saved."),
            ("sieve", "Filter rules saved."),
        ],
    );
    render(
        ctx,
        viewer,
        200,
        Shown {
            notice,
            ..Shown::default()
        },
    )
}

fn render(ctx: &Context, viewer: Viewer<'_>, status: u16, shown: Shown<'_>) -> Response {
    let user = viewer.user;
    let forward = read_text(ctx, user, UserFile::Forward);
    let on = vacation_enabled(&forward);
    let (subject, text) = read_template(read_text(ctx, user, UserFile::VacationMessage).as_bytes());
    let stored_script = read_text(ctx, user, UserFile::Sieve);
    let script = shown.script.unwrap_or(&stored_script);
    let system = ctx.accounts.is_system();
    let body = html! {
        section.manage {
            h1 { "Settings" }
            @if let Some(n) = shown.notice { p.notice role="status" { (n) } }
            @if let Some(e) = &shown.error { p.error role="alert" { (e) } }
            fieldset id="password" {
                legend { "Password" }
                @if system {
                    p { "This account's password is the system's: change it with passwd(1)." }
                } @else {
                    form method="post" action="/settings/password" {
                        input type="hidden" name="csrf" value=(viewer.csrf);
                        label { "Current password " input type="password" name="current" autocomplete="current-password" required; }
                        label { "New password " input type="password" name="new" autocomplete="new-password" minlength=(MIN_PASSWORD) required; }
                        label { "New password again " input type="password" name="repeat" autocomplete="new-password" minlength=(MIN_PASSWORD) required; }
                        button type="submit" { "Change password" }
                    }
                }
            }
            fieldset id="vacation" {
                legend { "Vacation reply" }
                form method="post" action="/settings/vacation" {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    label { input type="checkbox" name="enabled" value="1" checked[on]; " Answer messages while I am away (once a week per sender)" }
                    label { "Subject " input type="text" name="subject" value=(subject) placeholder="Away: $SUBJECT"; }
                    textarea name="text" rows="6" aria-label="Reply text" { (text) }
                    button type="submit" { "Save vacation reply" }
                }
            }
            fieldset id="sieve" {
                legend { "Filter rules (Sieve)" }
                @if !shown.script_errors.is_empty() {
                    ul.error role="alert" {
                        @for e in &shown.script_errors { li { (e) } }
                    }
                }
                form method="post" action="/settings/sieve" {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    textarea name="script" rows="14" spellcheck="false" aria-label="Sieve script" { (script) }
                    button type="submit" { "Save rules" }
                    p.meta { "RFC 5228 Sieve with fileinto, reject, vacation, imap4flags, envelope, copy. An empty script removes the rules." }
                }
            }
            p { a href="/mail" { "Back to the mail" } }
        }
    };
    html_page(
        status,
        pages::layout("Settings", Some(viewer), body),
        Csp::Strict,
    )
}

/// `POST /settings/password` (`current`, `new`, `repeat`): checks the current password
/// like a login (same penalties), sets the new one, ends the user's other sessions and
/// gives this browser a new one. Returns the answer, how long to hold it, and the new
/// session cookie value.
pub fn change_password(
    ctx: &Context,
    viewer: Viewer<'_>,
    ip: IpAddr,
    form: &Form,
) -> (Response, Duration, Option<String>) {
    let fail = |text: &str, hold: Duration| {
        let shown = Shown {
            error: Some(text.to_string()),
            ..Shown::default()
        };
        (render(ctx, viewer, 400, shown), hold, None)
    };
    let new = form.get("new").unwrap_or("");
    if new != form.get("repeat").unwrap_or("") {
        return fail("The two new passwords differ.", Duration::ZERO);
    }
    if new.chars().count() < MIN_PASSWORD {
        let text = format!("The new password needs at least {MIN_PASSWORD} characters.");
        return fail(&text, Duration::ZERO);
    }
    let credentials = Credentials {
        authzid: None,
        username: viewer.user.to_string(),
        password: Secret::new(form.get("current").unwrap_or("")),
        mechanism: Mechanism::Plain,
    };
    match sasl_login(ctx, ip, "web", &credentials) {
        (AuthOutcome::Success(_), _) => {}
        (AuthOutcome::Failure, hold) => {
            let hold = hold.max(ctx.settings().config.auth.failure_delay.get());
            return fail("The current password is wrong.", hold);
        }
        (AuthOutcome::TemporaryFailure, hold) => {
            return fail("The accounts cannot be checked now.", hold)
        }
    }
    if let Err(e) = ctx.accounts.passwd(viewer.user, &Secret::new(new)) {
        return fail(
            &format!("The password was not changed: {e}"),
            Duration::ZERO,
        );
    }
    tracing::info!("web: {} changed their password [{ip}]", viewer.user);
    ctx.web_sessions.remove_user(viewer.user);
    let session = ctx
        .web_sessions
        .create(viewer.user, Instant::now())
        .map(|(id, _)| id);
    let target = if session.is_some() {
        "/settings?done=password"
    } else {
        "/"
    };
    (redirect(target), Duration::ZERO, session)
}

/// The vacation pipe for `user`: this binary's `vacation` command. With file (or
/// database) accounts the delivery agent answers it itself with its own configuration,
/// so the line names none and holds on every node; with system accounts it runs as the
/// user, so it names this server's configuration file.
fn vacation_command(ctx: &Context, user: &str) -> String {
    let program = std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(str::to_string))
        .filter(|p| !p.contains([' ', '"', ',']))
        .unwrap_or_else(|| "postrider".to_string());
    let settings = ctx.settings();
    let config = settings
        .config_path
        .as_deref()
        .and_then(|p| p.to_str())
        .filter(|p| !p.contains([' ', '"', ',']) && ctx.accounts.is_system());
    match config {
        Some(config) => format!("{program} -c {config} vacation {user}"),
        None => format!("{program} vacation {user}"),
    }
}

/// `POST /settings/vacation` (`enabled`, `subject`, `text`).
pub fn save_vacation(ctx: &Context, viewer: Viewer<'_>, form: &Form) -> Response {
    let user = viewer.user;
    let on = form.get("enabled") == Some("1");
    let text = form.get("text").unwrap_or("");
    let subject = form.get("subject").unwrap_or("");
    if on && text.trim().is_empty() {
        let shown = Shown {
            error: Some("Write the reply text first.".into()),
            ..Shown::default()
        };
        return render(ctx, viewer, 400, shown);
    }
    if text.len() + subject.len() > MAX_TEXT {
        let shown = Shown {
            error: Some("The reply text is too long.".into()),
            ..Shown::default()
        };
        return render(ctx, viewer, 400, shown);
    }
    let files = &ctx.user_files;
    let forward = read_text(ctx, user, UserFile::Forward);
    let result = if !text.trim().is_empty() {
        files.write(
            user,
            UserFile::VacationMessage,
            vacation_template(subject, text).as_bytes(),
        )
    } else {
        Ok(())
    }
    .and_then(|()| {
        if on {
            let command = vacation_command(ctx, user);
            let edited = forward_with_vacation(&forward, user, &command);
            files.write(user, UserFile::Forward, edited.as_bytes())
        } else {
            match forward_without_vacation(&forward, user) {
                _ if !vacation_enabled(&forward) => Ok(()),
                Some(rest) => files.write(user, UserFile::Forward, rest.as_bytes()),
                None => files.remove(user, UserFile::Forward),
            }
        }
    });
    match result {
        Ok(()) => {
            tracing::info!("web: {user} vacation {}", if on { "on" } else { "off" });
            redirect("/settings?done=vacation")
        }
        Err(e) => {
            tracing::warn!("web: {user} vacation: {e}");
            let shown = Shown {
                error: Some(format!("Not saved: {e}")),
                ..Shown::default()
            };
            render(ctx, viewer, 500, shown)
        }
    }
}

/// `POST /settings/sieve` (`script`): compiled first; saved only without errors (an
/// empty script removes the rules).
pub fn save_sieve(ctx: &Context, viewer: Viewer<'_>, form: &Form) -> Response {
    let user = viewer.user;
    let script = form.get("script").unwrap_or("").replace("\r\n", "\n");
    let refuse = |errors: Vec<String>| {
        let shown = Shown {
            script: Some(&script),
            script_errors: errors,
            ..Shown::default()
        };
        render(ctx, viewer, 400, shown)
    };
    if script.len() > MAX_TEXT {
        return refuse(vec![format!("The script is over {MAX_TEXT} bytes.")]);
    }
    let result = if script.trim().is_empty() {
        ctx.user_files.remove(user, UserFile::Sieve)
    } else {
        if let Err(errors) = Script::compile(&script) {
            return refuse(errors.iter().map(|e| e.to_string()).collect());
        }
        ctx.user_files
            .write(user, UserFile::Sieve, script.as_bytes())
    };
    match result {
        Ok(()) => {
            tracing::info!("web: {user} saved their Sieve script");
            redirect("/settings?done=sieve")
        }
        Err(e) => refuse(vec![format!("Not saved: {e}")]),
    }
}
