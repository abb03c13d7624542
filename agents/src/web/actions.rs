//! The changing mail actions of the webmail: flags (read/unread, flag/unflag), moving
//! messages, deleting them to Trash (for good from Trash itself), and folder management
//! (create, rename, delete). Every action is a POST whose CSRF token the caller checked;
//! every name and UID is the session user's own, through the same store as IMAP.

use maud::html;
use postrider_core::http::Response;
use postrider_core::imap::command::StoreMode;
use postrider_core::imap::mutf7;
use postrider_core::web::form::{encode_component, Form};
use postrider_store::mailbox::Mailboxes;

use super::mail::{folder_of, folders};
use super::pages::{self, FolderItem, Viewer};
use super::respond::{done_notice, html_page, redirect, Csp};

/// The folder deleted messages go to (RFC 6154 `\Trash`, made at first login).
const TRASH: &str = "Trash";

/// What a message action asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MessageAction {
    Read,
    Unread,
    Flag,
    Unflag,
    Move,
    Delete,
}

impl MessageAction {
    fn from_form(value: &str) -> Option<Self> {
        Some(match value {
            "read" => Self::Read,
            "unread" => Self::Unread,
            "flag" => Self::Flag,
            "unflag" => Self::Unflag,
            "move" => Self::Move,
            "delete" => Self::Delete,
            _ => return None,
        })
    }

    /// The flag change it makes, if it is one.
    fn flags(self) -> Option<(StoreMode, &'static str)> {
        match self {
            Self::Read => Some((StoreMode::Add, "\\Seen")),
            Self::Unread => Some((StoreMode::Remove, "\\Seen")),
            Self::Flag => Some((StoreMode::Add, "\\Flagged")),
            Self::Unflag => Some((StoreMode::Remove, "\\Flagged")),
            Self::Move | Self::Delete => None,
        }
    }
}

/// Where a form may send the user back to: a path of this site (never another site's
/// address, never a header-breaking value).
fn safe_back(back: Option<&str>, fallback: &str) -> String {
    match back {
        Some(b)
            if b.starts_with('/')
                && !b.starts_with("//")
                && !b.contains(['\\', '\r', '\n'])
                && b.is_ascii() =>
        {
            b.to_string()
        }
        _ => fallback.to_string(),
    }
}

/// Adds `done=WHAT` to a path's query (replacing an earlier one).
fn with_done(path: &str, done: &str) -> String {
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let done = format!("done={done}");
    let mut parts: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("done="))
        .collect();
    parts.push(&done);
    format!("{base}?{}", parts.join("&"))
}

/// `POST /act` (`folder`, `uid`..., `action`, `to`, `back`): changes the chosen messages,
/// then goes back to the list (or to the message, after a flag change on it).
pub fn act(store: &dyn Mailboxes, viewer: Viewer<'_>, form: &Form) -> Response {
    let folder = folder_of(form).to_string();
    let list = format!("/mail?folder={}", encode_component(&folder));
    let back = safe_back(form.get("back"), &list);
    let uids: Vec<u32> = form.all("uid").filter_map(|u| u.parse().ok()).collect();
    let Some(action) = form.get("action").and_then(MessageAction::from_form) else {
        return problem(viewer, "Choose what to do with the messages.");
    };
    if uids.is_empty() {
        return redirect(&back);
    }
    let user = viewer.user;
    let done = match action.flags() {
        Some((mode, flag)) => store
            .set_flags(user, &folder, &uids, mode, &[flag.to_string()])
            .map(|_| "changed"),
        None => {
            let to = match action {
                MessageAction::Move => form.get("to").unwrap_or(""),
                _ => TRASH,
            };
            if to.is_empty() {
                return problem(viewer, "Choose a folder to move the messages to.");
            }
            if action == MessageAction::Delete && folder == TRASH {
                store.expunge(user, &folder, &uids).map(|_| "deleted")
            } else {
                store.copy(user, &folder, &uids, to, true).map(|_| {
                    if to == TRASH {
                        "deleted"
                    } else {
                        "moved"
                    }
                })
            }
        }
    };
    match done {
        Ok(done) => {
            tracing::info!(
                "web: {user} {action:?} {} message(s) in {folder}",
                uids.len()
            );
            // After a message left the folder (or was marked unread), its page is not
            // where to return: the list is.
            let stays = matches!(action, MessageAction::Flag | MessageAction::Unflag);
            let target = if back.starts_with("/message") && !stays {
                list
            } else {
                back
            };
            redirect(&with_done(&target, done))
        }
        Err(e) => problem(viewer, &e.text),
    }
}

/// A page saying an action could not be done.
fn problem(viewer: Viewer<'_>, text: &str) -> Response {
    html_page(
        400,
        pages::problem(Some(viewer), "Not done", text),
        Csp::Strict,
    )
}

/// `GET /folders`: the folders, with forms to create, rename and delete them.
pub fn folders_page(store: &dyn Mailboxes, viewer: Viewer<'_>, query: &Form) -> Response {
    let all = folders(store, viewer.user);
    let notice = done_notice(
        query,
        &[
            ("created", "Folder created."),
            ("renamed", "Folder renamed."),
            ("deleted", "Folder deleted."),
        ],
    );
    html_page(200, folders_markup(viewer, &all, notice, None), Csp::Strict)
}

/// Folders the user may not rename or delete here.
fn is_fixed(name: &str) -> bool {
    name.eq_ignore_ascii_case("INBOX")
}

fn folders_markup(
    viewer: Viewer<'_>,
    all: &[FolderItem],
    notice: Option<&str>,
    error: Option<&str>,
) -> String {
    let body = html! {
        section.manage {
            h1 { "Folders" }
            @if let Some(n) = notice { p.notice role="status" { (n) } }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="post" action="/folders" {
                input type="hidden" name="csrf" value=(viewer.csrf);
                input type="hidden" name="action" value="create";
                label { "New folder " input type="text" name="name" required; }
                " " button type="submit" { "Create" }
                p.meta { "Use / between levels: Projects/2027." }
            }
            table {
                thead { tr { th { "Folder" } th { "Unread" } th { "Rename" } th { "Delete" } } }
                tbody {
                    @for f in all {
                        tr {
                            td { a href={ "/mail?folder=" (encode_component(&f.name)) } { (f.label) } }
                            td { (f.unseen) }
                            @if is_fixed(&f.name) {
                                td {} td {}
                            } @else {
                                td {
                                    form method="post" action="/folders" {
                                        input type="hidden" name="csrf" value=(viewer.csrf);
                                        input type="hidden" name="action" value="rename";
                                        input type="hidden" name="folder" value=(f.name);
                                        input type="text" name="name" value=(f.label) aria-label={ "New name of " (f.label) } required;
                                        " " button type="submit" { "Rename" }
                                    }
                                }
                                td {
                                    form method="post" action="/folders" {
                                        input type="hidden" name="csrf" value=(viewer.csrf);
                                        input type="hidden" name="action" value="delete";
                                        input type="hidden" name="folder" value=(f.name);
                                        button type="submit" { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p { a href="/mail" { "Back to the mail" } }
        }
    };
    pages::layout("Folders", Some(viewer), body)
}

/// `POST /folders` (`action` create / rename / delete, `folder`, `name` as the user
/// typed it in UTF-8).
pub fn change_folder(store: &dyn Mailboxes, viewer: Viewer<'_>, form: &Form) -> Response {
    let user = viewer.user;
    let typed = form.get("name").unwrap_or("").trim().trim_matches('/');
    let new_name = mutf7::encode(typed);
    let folder = form.get("folder").unwrap_or("");
    let result = match form.get("action") {
        Some("create") if !typed.is_empty() => store.create(user, &new_name).map(|_| {
            let _ = store.subscribe(user, &new_name, true);
            "created"
        }),
        Some("rename") if !typed.is_empty() && !is_fixed(folder) => {
            store.rename(user, folder, &new_name).map(|_| {
                let _ = store.subscribe(user, folder, false);
                let _ = store.subscribe(user, &new_name, true);
                "renamed"
            })
        }
        Some("delete") if !is_fixed(folder) => store.delete(user, folder).map(|_| {
            let _ = store.subscribe(user, folder, false);
            "deleted"
        }),
        _ => {
            let all = folders(store, user);
            let page = folders_markup(viewer, &all, None, Some("Give a folder name."));
            return html_page(400, page, Csp::Strict);
        }
    };
    match result {
        Ok(done) => {
            tracing::info!("web: {user} folder {done}: {folder} {new_name}");
            redirect(&format!("/folders?done={done}"))
        }
        Err(e) => {
            let all = folders(store, user);
            let page = folders_markup(viewer, &all, None, Some(&e.text));
            html_page(400, page, Csp::Strict)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_links_stay_on_this_site() {
        assert_eq!(safe_back(Some("/mail?folder=X"), "/f"), "/mail?folder=X");
        assert_eq!(safe_back(Some("//evil.test/"), "/f"), "/f");
        assert_eq!(safe_back(Some("https://evil.test/"), "/f"), "/f");
        assert_eq!(safe_back(Some("/a\r\nSet-Cookie: x"), "/f"), "/f");
        assert_eq!(safe_back(None, "/f"), "/f");
    }

    #[test]
    fn done_replaces_an_earlier_one() {
        assert_eq!(with_done("/mail", "moved"), "/mail?done=moved");
        assert_eq!(
            with_done("/mail?folder=A&page=2", "moved"),
            "/mail?folder=A&page=2&done=moved"
        );
        assert_eq!(
            with_done("/mail?done=sent&folder=A", "deleted"),
            "/mail?folder=A&done=deleted"
        );
        assert_eq!(with_done("/mail?done=sent", "moved"), "/mail?done=moved");
    }

    #[test]
    fn actions_are_named_by_the_form() {
        assert_eq!(
            MessageAction::from_form("unread"),
            Some(MessageAction::Unread)
        );
        assert_eq!(
            MessageAction::Unread.flags(),
            Some((StoreMode::Remove, "\\Seen"))
        );
        assert_eq!(MessageAction::from_form("nuke"), None);
        assert!(MessageAction::Move.flags().is_none());
    }
}
