//! The webmail's pages, rendered on the server from maud templates (compile-time
//! checked, every value escaped unless marked as already-sanitised HTML). No page
//! carries a script; forms post to this server with the session's CSRF token.

use maud::{html, Markup, PreEscaped, DOCTYPE};
use postrider_core::imf::datetime::WallClock;
use postrider_core::web::form::encode_component;
use postrider_core::web::message::{MessageView, Shown};
use postrider_core::web::search::SearchField;

/// The logged-in user as a page shows them: name and the CSRF token its forms carry.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    /// The account.
    pub user: &'a str,
    /// The session's CSRF token.
    pub csrf: &'a str,
    /// Whether the user is one of `[web] admins` (the pages link to `/admin`).
    pub admin: bool,
}

/// One folder in the folder list.
#[derive(Debug, Clone)]
pub struct FolderItem {
    /// The IMAP name (modified UTF-7), used in links.
    pub name: String,
    /// The name shown (decoded).
    pub label: String,
    /// Unseen messages.
    pub unseen: u32,
    /// Whether it can hold messages (not `\Noselect`).
    pub selectable: bool,
}

/// One row of the message list.
#[derive(Debug, Clone)]
pub struct Row {
    /// The message's UID.
    pub uid: u32,
    /// Sender shown.
    pub from: String,
    /// Subject shown.
    pub subject: String,
    /// Date shown.
    pub date: String,
    /// Size in bytes.
    pub size: u64,
    /// Not `\Seen`.
    pub unseen: bool,
    /// `\Flagged`.
    pub flagged: bool,
}

/// A page of the message list.
#[derive(Debug, Clone)]
pub struct Listing<'a> {
    /// The folder's IMAP name.
    pub folder: &'a str,
    /// The folder's name shown.
    pub label: &'a str,
    /// The rows of this page, newest first.
    pub rows: Vec<Row>,
    /// This page (from 1) and how many there are.
    pub page: usize,
    /// How many pages there are (at least 1).
    pub pages: usize,
    /// Messages in the folder.
    pub total: usize,
    /// A line to show above the list ("Message sent.").
    pub notice: Option<&'a str>,
    /// The search shown, when the list is a search's results.
    pub search: Option<(&'a str, SearchField)>,
    /// Where the list's forms come back to (this page's path and query).
    pub back: &'a str,
}

/// The page shell: title, style sheet, and for a logged-in user the top bar with the
/// logout form.
pub fn layout(title: &str, viewer: Option<Viewer<'_>>, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · postrider" }
                link rel="stylesheet" href="/style.css";
            }
            body {
                @if let Some(v) = viewer {
                    header.top {
                        a.brand href="/mail" { "postrider" }
                        span.who { (v.user) }
                        form.inline method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(v.csrf);
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
    .into_string()
}

/// The login form; `csrf` is also in the login cookie.
pub fn login(csrf: &str, error: Option<&str>) -> String {
    let body = html! {
        section.login {
            h1 { "postrider webmail" }
            @if let Some(e) = error {
                p.error role="alert" { (e) }
            }
            form method="post" action="/login" {
                input type="hidden" name="csrf" value=(csrf);
                label { "User name " input type="text" name="username" autocomplete="username" required autofocus; }
                label { "Password " input type="password" name="password" autocomplete="current-password" required; }
                button type="submit" { "Log in" }
            }
        }
    };
    layout("Log in", None, body)
}

/// The folder list beside every mail page.
fn folder_nav(viewer: Viewer<'_>, folders: &[FolderItem], current: &str) -> Markup {
    html! {
        nav.folders {
            p { a.button href="/compose" { "Write" } }
            ul {
                @for f in folders {
                    li.current[f.name == current] {
                        @if f.selectable {
                            a href={ "/mail?folder=" (encode_component(&f.name)) } {
                                (f.label)
                                @if f.unseen > 0 { " " span.count { (f.unseen) } }
                            }
                        } @else {
                            span.noselect { (f.label) }
                        }
                    }
                }
            }
            p.more {
                a href="/folders" { "Manage folders" } br;
                a href="/settings" { "Settings" }
                @if viewer.admin { br; a href="/admin" { "Admin" } }
            }
        }
    }
}

/// The search box above a message list.
fn search_form(folder: &str, search: Option<(&str, SearchField)>) -> Markup {
    let (q, field) = search.unwrap_or(("", SearchField::Any));
    let fields = [
        (SearchField::Any, "From, subject or text"),
        (SearchField::From, "From"),
        (SearchField::Subject, "Subject"),
        (SearchField::Body, "Text"),
    ];
    html! {
        form.search method="get" action="/mail" role="search" {
            input type="hidden" name="folder" value=(folder);
            input type="search" name="q" value=(q) placeholder="Search" aria-label="Search";
            select name="field" aria-label="Search in" {
                @for (f, label) in fields {
                    option value=(f.form_value()) selected[f == field] { (label) }
                }
            }
            button type="submit" { "Search" }
            @if search.is_some() {
                " " a href={ "/mail?folder=" (encode_component(folder)) } { "Clear" }
            }
        }
    }
}

/// The buttons acting on the messages chosen (the list's check boxes, or the message
/// shown): read/unread, flag/unflag, delete, move. `targets` are the folders to move to.
pub fn action_bar(folders: &[FolderItem], current: &str, single: bool) -> Markup {
    html! {
        div.toolbar {
            @if single {
                button type="submit" name="action" value="unread" { "Mark unread" }
            } @else {
                button type="submit" name="action" value="read" { "Mark read" }
                button type="submit" name="action" value="unread" { "Mark unread" }
            }
            button type="submit" name="action" value="flag" { "Flag" }
            button type="submit" name="action" value="unflag" { "Unflag" }
            button type="submit" name="action" value="delete" { "Delete" }
            select name="to" aria-label="Move to" {
                @for f in folders.iter().filter(|f| f.selectable && f.name != current) {
                    option value=(f.name) { (f.label) }
                }
            }
            button type="submit" name="action" value="move" { "Move" }
        }
    }
}

/// A folder's message list, paged.
pub fn mailbox(viewer: Viewer<'_>, folders: &[FolderItem], listing: &Listing<'_>) -> String {
    let open_q = encode_component(listing.folder);
    let mut folder_q = open_q.clone();
    if let Some((q, field)) = listing.search {
        folder_q.push_str(&format!(
            "&q={}&field={}",
            encode_component(q),
            field.form_value()
        ));
    }
    let body = html! {
        div.mail {
            (folder_nav(viewer, folders, listing.folder))
            section.list {
                @if let Some(n) = listing.notice {
                    p.notice role="status" { (n) }
                }
                h1 { (listing.label) " " small { "(" (listing.total) ")" } }
                (search_form(listing.folder, listing.search))
                @if listing.rows.is_empty() {
                    p.empty { @if listing.search.is_some() { "No messages match." } @else { "No messages." } }
                } @else {
                    form.act method="post" action="/act" {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    input type="hidden" name="folder" value=(listing.folder);
                    input type="hidden" name="back" value=(listing.back);
                    (action_bar(folders, listing.folder, false))
                    table.messages {
                        thead { tr { th.pick { span.hidden { "Choose" } } th { "From" } th { "Subject" } th { "Date" } th.size { "Size" } } }
                        tbody {
                            @for r in &listing.rows {
                                tr.unseen[r.unseen].flagged[r.flagged] {
                                    td.pick { input type="checkbox" name="uid" value=(r.uid) aria-label="Choose"; }
                                    td.from { (r.from) }
                                    td.subject {
                                        a href={ "/message?folder=" (open_q) "&uid=" (r.uid) } {
                                            @if r.subject.is_empty() { "(no subject)" } @else { (r.subject) }
                                        }
                                    }
                                    td.date { (r.date) }
                                    td.size { (human_size(r.size)) }
                                }
                            }
                        }
                    }
                    }
                }
                @if listing.pages > 1 {
                    nav.pager {
                        @if listing.page > 1 {
                            a rel="prev" href={ "/mail?folder=" (folder_q) "&page=" (listing.page - 1) } { "← Newer" }
                        }
                        span { "Page " (listing.page) " of " (listing.pages) }
                        @if listing.page < listing.pages {
                            a rel="next" href={ "/mail?folder=" (folder_q) "&page=" (listing.page + 1) } { "Older →" }
                        }
                    }
                }
            }
        }
    };
    layout(listing.label, Some(viewer), body)
}

/// A message: its header fields, the parts shown, and its attachments.
pub fn message(
    viewer: Viewer<'_>,
    folders: &[FolderItem],
    folder: &str,
    uid: u32,
    flagged: bool,
    view: &MessageView,
) -> String {
    let folder_q = encode_component(folder);
    let base = format!("folder={folder_q}&uid={uid}");
    let reply_base = format!("folder={folder_q}");
    let body = html! {
        div.mail {
            (folder_nav(viewer, folders, folder))
            article.message {
                nav.actions {
                    a href={ "/compose?" (reply_base) "&reply=" (uid) } { "Reply" }
                    a href={ "/compose?" (reply_base) "&reply=" (uid) "&all=1" } { "Reply all" }
                    a href={ "/compose?" (reply_base) "&forward=" (uid) } { "Forward" }
                }
                form.act method="post" action="/act" {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    input type="hidden" name="folder" value=(folder);
                    input type="hidden" name="uid" value=(uid);
                    input type="hidden" name="back" value={ "/message?" (base) };
                    (action_bar(folders, folder, true))
                }
                @if flagged { p.flag { "★ Flagged" } }
                h1 { @if view.subject.is_empty() { "(no subject)" } @else { (view.subject) } }
                (fields(view))
                @if view.blocked_images {
                    p.notice {
                        "Remote images were not loaded. "
                        a href={ "/message?" (base) "&images=1" } { "Show them" }
                    }
                }
                (shown_parts(view))
                @if !view.attachments.is_empty() {
                    section.attachments {
                        h2 { "Attachments" }
                        ul {
                            @for a in &view.attachments {
                                li {
                                    a href={ "/attachment?" (base) "&part=" (a.id) } download=(a.filename) { (a.filename) }
                                    " " span.meta { (a.content_type) ", " (human_size(a.size as u64)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout(&view.subject, Some(viewer), body)
}

/// The header fields of a message (or of one attached).
fn fields(view: &MessageView) -> Markup {
    html! {
        dl.fields {
            dt { "From" } dd.from { (view.from) }
            @if !view.to.is_empty() { dt { "To" } dd.to { (view.to) } }
            @if !view.cc.is_empty() { dt { "Cc" } dd.cc { (view.cc) } }
            @if !view.date.is_empty() { dt { "Date" } dd.date { (view.date) } }
        }
    }
}

/// The parts of a message to show, attached messages inside a frame of their own.
fn shown_parts(view: &MessageView) -> Markup {
    html! {
        @for part in &view.shown {
            @match part {
                Shown::Text(text) => pre.text { (text) },
                Shown::Html(clean) => div.html { (PreEscaped(clean)) },
                Shown::Message(inner) => section.attached {
                    h2 { (inner.subject) }
                    (fields(inner))
                    (shown_parts(inner))
                },
            }
        }
    }
}

/// What the compose form holds (empty for a new message).
#[derive(Debug, Clone, Default)]
pub struct ComposeForm {
    /// To, as typed or prefilled.
    pub to: String,
    /// Cc.
    pub cc: String,
    /// Bcc.
    pub bcc: String,
    /// Subject.
    pub subject: String,
    /// The text.
    pub body: String,
    /// The Message-ID answered.
    pub in_reply_to: String,
    /// The References of the reply.
    pub references: String,
    /// The message forwarded (folder, UID): attached when sending.
    pub forward: Option<(String, u32)>,
    /// The message answered (folder, UID): flagged `\Answered` when sent.
    pub reply: Option<(String, u32)>,
}

/// The compose form: `to`, `cc`, `bcc`, `subject`, `body` and files in `attachments`.
pub fn compose(viewer: Viewer<'_>, f: &ComposeForm, error: Option<&str>) -> String {
    let (forward_folder, forward_uid) = f.forward.clone().unwrap_or_default();
    let (reply_folder, reply_uid) = f.reply.clone().unwrap_or_default();
    let body = html! {
        section.compose {
            h1 { "New message" }
            @if let Some(e) = error {
                p.error role="alert" { (e) }
            }
            form method="post" action="/send" enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(viewer.csrf);
                input type="hidden" name="in_reply_to" value=(f.in_reply_to);
                input type="hidden" name="references" value=(f.references);
                input type="hidden" name="forward_folder" value=(forward_folder);
                input type="hidden" name="forward_uid" value=(forward_uid);
                input type="hidden" name="reply_folder" value=(reply_folder);
                input type="hidden" name="reply_uid" value=(reply_uid);
                label { "To " input type="text" name="to" value=(f.to) autofocus; }
                label { "Cc " input type="text" name="cc" value=(f.cc); }
                label { "Bcc " input type="text" name="bcc" value=(f.bcc); }
                label { "Subject " input type="text" name="subject" value=(f.subject); }
                textarea name="body" rows="16" { (f.body) }
                @if f.forward.is_some() {
                    p.meta { "The original message is attached." }
                }
                label { "Attachments " input type="file" name="attachments" multiple; }
                button type="submit" { "Send" }
            }
        }
    };
    layout("New message", Some(viewer), body)
}

/// A page saying what went wrong, with a way back.
pub fn problem(viewer: Option<Viewer<'_>>, title: &str, text: &str) -> String {
    let body = html! {
        section.problem {
            h1 { (title) }
            p { (text) }
            p { a href="/" { "Back to the mail" } }
        }
    };
    layout(title, viewer, body)
}

/// A size as people read it.
pub fn human_size(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.0} KB", n as f64 / 1024.0),
        _ => format!("{:.1} MB", n as f64 / 1_048_576.0),
    }
}

/// A date for the message list: `2024-01-01 10:00` in the message's own zone.
pub fn short_date(date: Option<WallClock>) -> String {
    date.map(|d| d.short()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_dates_read_well() {
        let page = login("tok\"en", Some("<b>bad</b>"));
        assert!(page.contains("&lt;b&gt;bad&lt;/b&gt;"));
        assert!(page.contains("value=\"tok&quot;en\""));
        assert!(page.contains("name=\"username\"") && page.contains("name=\"password\""));
        let d = WallClock {
            unix_secs: 1_704_103_200,
            utc_offset_minutes: 60,
        };
        assert_eq!(short_date(Some(d)), "2024-01-01 11:00");
        assert_eq!(short_date(None), "");
        assert_eq!(human_size(2048), "2 KB");
    }
}
