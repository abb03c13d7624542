//! `/admin/queue`: the messages waiting in the queue (as `mailq` lists them), a flush of
//! the whole queue, and deletion of chosen messages (as `postrider queue delete`).

use maud::html;
use postrider_core::http::Response;
use postrider_core::imf::datetime::WallClock;
use postrider_core::web::form::Form;
use postrider_store::queue::RcptStatus;

use super::{admin_page, outcome_line, Viewer};
use crate::context::Context;
use crate::web::respond::{done_notice, redirect, Csp};

/// Messages listed on the page at most (the oldest first).
const MAX_LISTED: usize = 500;

/// `GET /admin/queue`.
pub fn page(ctx: &Context, viewer: Viewer<'_>, query: &Form) -> Response {
    let notice = done_notice(
        query,
        &[
            ("flush", "Flush requested: every message is tried now."),
            ("deleted", "Deleted."),
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
    let ids = ctx.queue.list().unwrap_or_default();
    let mut envelopes: Vec<_> = ids
        .iter()
        .filter_map(|id| ctx.queue.load(id).ok().map(|e| (id.clone(), e)))
        .collect();
    envelopes.sort_by_key(|(_, e)| e.arrival);
    let total = envelopes.len();
    envelopes.truncate(MAX_LISTED);
    let body = html! {
        (outcome_line(notice, error))
        form method="post" action="/admin/queue" {
            input type="hidden" name="csrf" value=(viewer.csrf);
            input type="hidden" name="action" value="flush";
            button type="submit" { "Flush the queue" }
        }
        @if total == 0 {
            p.empty id="queue-empty" { "The queue is empty." }
        } @else {
            p { (total) " message(s) in the queue" @if total > MAX_LISTED { ", the oldest " (MAX_LISTED) " shown" } "." }
            form method="post" action="/admin/queue" {
                input type="hidden" name="csrf" value=(viewer.csrf);
                input type="hidden" name="action" value="delete";
                table id="queue" {
                    thead { tr { th { span.hidden { "Choose" } } th { "Queue id" } th { "Size" } th { "Arrival" } th { "Sender" } th { "Recipients" } } }
                    tbody {
                        @for (id, env) in &envelopes {
                            tr {
                                td { input type="checkbox" name="id" value=(id) aria-label={ "Choose " (id) }; }
                                td.id { code { (id) } }
                                td.size { (env.size) }
                                td.date { (WallClock::utc(env.arrival).short()) }
                                td { @if env.sender.is_empty() { "MAILER-DAEMON" } @else { (env.sender) } }
                                td {
                                    @for r in env.recipients.iter().filter(|r| r.is_open()) {
                                        div {
                                            (r.address)
                                            @if r.status == RcptStatus::Deferred {
                                                " " span.meta { "(deferred, " (r.attempts) " attempt(s): " (r.last_error) ")" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                button type="submit" { "Delete the chosen messages" }
            }
        }
    };
    admin_page(viewer, "/admin/queue", "Queue", status, body, Csp::Strict)
}

/// `POST /admin/queue` (`action` flush, or delete with `id`...).
pub fn change(ctx: &Context, viewer: Viewer<'_>, form: &Form) -> Response {
    match form.get("action") {
        Some("flush") => {
            if let Err(e) = ctx.queue.request_flush() {
                return render(ctx, viewer, 500, None, Some(&format!("No flush: {e}")));
            }
            let _ = ctx
                .queue
                .leave_note(&format!("flush requested by {} (web)", viewer.user));
            ctx.wakeup.notify();
            redirect("/admin/queue?done=flush")
        }
        Some("delete") => {
            // Only ids the queue lists: nothing else reaches the store.
            let queued = ctx.queue.list().unwrap_or_default();
            let chosen: Vec<&String> = form
                .all("id")
                .filter_map(|id| queued.iter().find(|q| *q == id))
                .collect();
            for id in chosen {
                match ctx.queue.remove(id) {
                    Ok(()) => {
                        let _ = ctx
                            .queue
                            .leave_note(&format!("{id}: removed by {} (web)", viewer.user));
                    }
                    Err(e) => {
                        let text = format!("{id}: {e}");
                        return render(ctx, viewer, 500, None, Some(&text));
                    }
                }
            }
            redirect("/admin/queue?done=deleted")
        }
        _ => render(ctx, viewer, 400, None, Some("Unknown action.")),
    }
}
