//! The reading pages: the folder list, a folder's messages page by page, a message, and
//! its attachments, all read through the same store as IMAP, as the logged-in user only.

use postrider_core::http::Response;
use postrider_core::imap::command::StoreMode;
use postrider_core::imap::mutf7;
use postrider_core::imap::search::{matches, ContentScan, SearchCtx};
use postrider_core::imap::store::{FetchPart, MessageMeta};
use postrider_core::web::form::{encode_component, Form};
use postrider_core::web::message::{attachment, summary, view};
use postrider_core::web::search::{search_key, SearchField};
use postrider_store::mailbox::Mailboxes;

use super::pages::{self, FolderItem, Listing, Row, Viewer};
use super::respond::{done_notice, html_page, not_found, Csp};

/// Messages on one page of the list.
const PAGE_SIZE: usize = 50;

/// The user's folders: INBOX first, then by name, with unseen counts.
pub fn folders(store: &dyn Mailboxes, user: &str) -> Vec<FolderItem> {
    let mut out: Vec<FolderItem> = store
        .list(user, "", "*", false)
        .into_iter()
        .map(|e| {
            let selectable = !e.attributes.iter().any(|a| {
                a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent")
            });
            let unseen = if selectable {
                store.status(user, &e.name).map(|s| s.unseen).unwrap_or(0)
            } else {
                0
            };
            FolderItem {
                label: mutf7::decode(&e.name).unwrap_or_else(|| e.name.clone()),
                name: e.name,
                unseen,
                selectable,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (a.name != "INBOX", a.label.to_lowercase())
            .cmp(&(b.name != "INBOX", b.label.to_lowercase()))
    });
    out
}

/// The folder named by the query (`folder`, INBOX when absent).
pub fn folder_of(query: &Form) -> &str {
    query
        .get("folder")
        .filter(|f| !f.is_empty())
        .unwrap_or("INBOX")
}

/// `GET /mail?folder=F&page=N`: a page of a folder's messages, newest first.
pub fn mailbox(store: &dyn Mailboxes, viewer: Viewer<'_>, query: &Form) -> Response {
    let folder = folder_of(query);
    let mut view = match store.view(viewer.user, folder, false) {
        Ok(v) => v,
        Err(_) => return not_found(Some(viewer), "There is no such folder."),
    };
    let text = query.get("q").map(str::trim).filter(|q| !q.is_empty());
    let field = SearchField::from_form(query.get("field"));
    if let Some(text) = text {
        view.messages = matching(store, viewer.user, folder, view.messages, field, text);
    }
    view.messages.sort_by_key(|m| std::cmp::Reverse(m.uid));
    let total = view.messages.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = query
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let shown = &view.messages[((page - 1) * PAGE_SIZE).min(total)..(page * PAGE_SIZE).min(total)];
    let uids: Vec<u32> = shown.iter().map(|m| m.uid).collect();
    let headers = store
        .fetch(viewer.user, folder, &uids, FetchPart::Header)
        .unwrap_or_default();
    let rows = shown
        .iter()
        .map(|m| {
            let s = headers
                .iter()
                .find(|f| f.uid == m.uid)
                .map(|f| summary(&f.data))
                .unwrap_or_default();
            Row {
                uid: m.uid,
                from: s.from,
                subject: s.subject,
                date: pages::short_date(s.date.or(Some(m.internal_date))),
                size: m.size,
                unseen: !has_flag(&m.flags, "\\Seen"),
                flagged: has_flag(&m.flags, "\\Flagged"),
            }
        })
        .collect();
    let label = mutf7::decode(folder).unwrap_or_else(|| folder.to_string());
    let listing = Listing {
        folder,
        label: &label,
        rows,
        page,
        pages,
        total,
        notice: notice(query),
        search: text.map(|t| (t, field)),
        back: &back_link(folder, page, text.map(|t| (t, field))),
    };
    let folders = folders(store, viewer.user);
    html_page(200, pages::mailbox(viewer, &folders, &listing), Csp::Strict)
}

/// The line a list shows after an action that sent the user back to it.
fn notice(query: &Form) -> Option<&'static str> {
    done_notice(
        query,
        &[
            ("sent", "Message sent."),
            ("moved", "Moved."),
            ("deleted", "Deleted."),
            ("changed", "Changed."),
        ],
    )
}

/// The path and query of a list page, for its forms to come back to.
fn back_link(folder: &str, page: usize, search: Option<(&str, SearchField)>) -> String {
    let mut link = format!("/mail?folder={}&page={page}", encode_component(folder));
    if let Some((q, field)) = search {
        link.push_str(&format!(
            "&q={}&field={}",
            encode_component(q),
            field.form_value()
        ));
    }
    link
}

/// The messages of `folder` that match the search, by the store's content scan.
fn matching(
    store: &dyn Mailboxes,
    user: &str,
    folder: &str,
    messages: Vec<MessageMeta>,
    field: SearchField,
    text: &str,
) -> Vec<MessageMeta> {
    let key = search_key(field, text);
    let uids: Vec<u32> = messages.iter().map(|m| m.uid).collect();
    let facts = match store.scan(user, folder, &uids, &ContentScan::new(&key)) {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!("web: search in {folder} for {user}: {}", e.text);
            return Vec::new();
        }
    };
    let facts: std::collections::HashMap<u32, _> = facts.into_iter().collect();
    let n = messages.len() as u32;
    let max_uid = messages.last().map_or(0, |m| m.uid);
    messages
        .into_iter()
        .enumerate()
        .filter(|(i, m)| {
            // A message missing from the scan was expunged meanwhile.
            let Some(f) = facts.get(&m.uid) else {
                return false;
            };
            let ctx = SearchCtx {
                seq: *i as u32 + 1,
                n,
                max_uid,
                uid: m.uid,
                flags: &m.flags,
                size: m.size,
                internal_date: m.internal_date,
                facts: Some(f),
                recent: false,
                modseq: m.modseq,
            };
            matches(&key, &ctx)
        })
        .map(|(_, m)| m)
        .collect()
}

fn has_flag(flags: &[String], flag: &str) -> bool {
    flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
}

/// The message the query names (`folder`, `uid`), read whole.
fn message_of(store: &dyn Mailboxes, user: &str, query: &Form) -> Option<(String, u32, Vec<u8>)> {
    let folder = folder_of(query).to_string();
    let uid: u32 = query.get("uid")?.parse().ok()?;
    let fetched = store.fetch(user, &folder, &[uid], FetchPart::Full).ok()?;
    let data = fetched.into_iter().find(|f| f.uid == uid)?.data;
    Some((folder, uid, data.to_vec()))
}

/// `GET /message?folder=F&uid=U[&images=1]`: a message, marked as seen.
pub fn message(store: &dyn Mailboxes, viewer: Viewer<'_>, query: &Form) -> Response {
    let Some((folder, uid, data)) = message_of(store, viewer.user, query) else {
        return not_found(Some(viewer), "There is no such message.");
    };
    let images = query.get("images") == Some("1");
    let shown = view(&data, images);
    let seen = [String::from("\\Seen")];
    let flagged = match store.set_flags(viewer.user, &folder, &[uid], StoreMode::Add, &seen) {
        Ok(changed) => changed
            .iter()
            .any(|(u, flags)| *u == uid && has_flag(flags, "\\Flagged")),
        Err(e) => {
            tracing::debug!(
                "web: cannot mark {folder}/{uid} seen for {}: {}",
                viewer.user,
                e.text
            );
            false
        }
    };
    let folders = folders(store, viewer.user);
    let csp = if images {
        Csp::RemoteImages
    } else {
        Csp::Strict
    };
    html_page(
        200,
        pages::message(viewer, &folders, &folder, uid, flagged, &shown),
        csp,
    )
}

/// `GET /attachment?folder=F&uid=U&part=P`: the decoded bytes of one part, as a
/// download under a safe file name.
pub fn download(store: &dyn Mailboxes, viewer: Viewer<'_>, query: &Form) -> Response {
    let found = message_of(store, viewer.user, query)
        .and_then(|(_, _, data)| attachment(&data, query.get("part").unwrap_or("")));
    let Some((filename, _content_type, bytes)) = found else {
        return not_found(Some(viewer), "There is no such attachment.");
    };
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Response::new(200)
        .with_header(
            "Content-Disposition",
            &format!(
                "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
                encode_component(&filename)
            ),
        )
        .with_header("Cache-Control", "private, no-store")
        .with_body("application/octet-stream", bytes)
}
