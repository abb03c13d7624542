//! `/admin`: live statistics. Six SVG plots of the last hour per minute (received,
//! delivered, deferred, bounced, connections, queue size) drawn by the core from the
//! server's counters, refreshed every few seconds by `/admin.js` (served by this server:
//! the page's Content-Security-Policy allows scripts from this origin only).

use maud::html;
use postrider_core::http::Response;
use postrider_core::web::plot::{bar_plot, PlotKind};

use super::{admin_page, Viewer};
use crate::context::Context;
use crate::metrics::{Minute, HISTORY_MINUTES};
use crate::web::respond::Csp;

/// The script that refreshes the plots without reloading the page.
pub const SCRIPT: &str = include_str!("admin.js");

/// The plots: name in the URL, title, colour, kind, and the value of a minute.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    PlotKind,
    fn(&Minute) -> u64,
);

const PLOTS: [Series; 6] = [
    (
        "received",
        "Received per minute",
        "#1f5fa8",
        PlotKind::PerMinute,
        |m| m.received,
    ),
    (
        "delivered",
        "Delivered per minute",
        "#1b6e2b",
        PlotKind::PerMinute,
        |m| m.delivered,
    ),
    (
        "deferred",
        "Deferred per minute",
        "#c98800",
        PlotKind::PerMinute,
        |m| m.deferred,
    ),
    (
        "bounced",
        "Bounced per minute",
        "#a4161a",
        PlotKind::PerMinute,
        |m| m.bounced,
    ),
    (
        "connections",
        "Connections per minute",
        "#5c3c92",
        PlotKind::PerMinute,
        |m| m.connections,
    ),
    ("queue", "Queue size", "#3d4b59", PlotKind::Level, |m| {
        m.queue.unwrap_or(0)
    }),
];

/// `GET /admin`: the statistics page.
pub fn page(ctx: &Context, viewer: Viewer<'_>) -> Response {
    let queued = ctx.queue.list().map(|ids| ids.len()).unwrap_or(0);
    let body = html! {
        p {
            "Per minute over the last " (HISTORY_MINUTES) " minutes; " (queued) " message(s) in the queue now. "
            "Plots refreshed every 5 seconds (last: " span id="updated" { "at load" } ")."
        }
        div.plots {
            @for (name, title, _, _, _) in PLOTS {
                figure.plot {
                    img.plot src={ "/admin/plot/" (name) ".svg" } data-src={ "/admin/plot/" (name) ".svg" } alt=(title) width="360" height="120";
                }
            }
        }
        p { a href="/metrics" { "Prometheus metrics" } " (open to [web] metrics_networks)" }
        script src="/admin.js" {}
    };
    admin_page(viewer, "/admin", "Statistics", 200, body, Csp::AdminScript)
}

/// `GET /admin/plot/NAME.svg`: one plot, drawn now.
pub fn plot(ctx: &Context, file: &str) -> Option<Response> {
    let name = file.strip_suffix(".svg")?;
    let (_, title, colour, kind, value) = PLOTS.iter().find(|p| p.0 == name)?;
    let values: Vec<u64> = ctx.metrics.history().iter().map(value).collect();
    let svg = bar_plot(title, &values, colour, *kind);
    Some(
        Response::new(200)
            .with_header("Cache-Control", "no-store")
            .with_header("Content-Security-Policy", "default-src 'none'")
            .with_body("image/svg+xml", svg),
    )
}
