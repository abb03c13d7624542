//! Writing mail in the webmail: the compose form (new, reply, reply all, forward) and
//! sending it through the same path as local submission (fix-ups, Received, DKIM
//! signature, the queue), with a copy in the user's Sent folder.

use postrider_core::delivery::trace::Protocol;
use postrider_core::http::{Request, Response};
use postrider_core::imap::store::FetchPart;
use postrider_core::imf::address::address_list;
use postrider_core::imf::header::split_header;
use postrider_core::submission::{fixup, qualify, FixupParams};
use postrider_core::web::compose::{build, Draft, FormData, Upload};
use postrider_core::web::form::Form;
use postrider_core::web::message::{view, Shown};
use postrider_store::mailbox::Mailboxes;

use super::pages::{self, ComposeForm, Viewer};
use super::respond::{html_page, redirect, Csp};
use super::sessions::same_token;
use crate::context::{wall_now, Context};
use crate::sendmail::{queue_local, LocalSubmission, ReceivedFrom};

/// The address the user sends from.
pub fn own_address(ctx: &Context, user: &str) -> String {
    if user.contains('@') {
        user.to_string()
    } else {
        format!("{user}@{}", ctx.settings().primary_domain())
    }
}

/// `GET /compose[?folder=F&reply=U[&all=1]|&forward=U]`: the form, filled in for a
/// reply or a forward.
pub fn form(ctx: &Context, viewer: Viewer<'_>, query: &Form) -> Response {
    let mut f = ComposeForm::default();
    let folder = query.get("folder").unwrap_or("INBOX");
    let original = ["reply", "forward"].iter().find_map(|k| {
        query
            .get(k)
            .and_then(|u| u.parse::<u32>().ok())
            .map(|u| (*k, u))
    });
    if let Some((kind, uid)) = original {
        let fetched = ctx
            .mailboxes
            .fetch(viewer.user, folder, &[uid], FetchPart::Full)
            .ok()
            .and_then(|v| v.into_iter().find(|m| m.uid == uid));
        if let Some(m) = fetched {
            let me = own_address(ctx, viewer.user);
            if kind == "reply" {
                fill_reply(&mut f, &m.data, &me, query.get("all") == Some("1"));
                f.reply = Some((folder.to_string(), uid));
            } else {
                fill_forward(&mut f, &m.data, folder, uid);
            }
        }
    }
    html_page(200, pages::compose(viewer, &f, None), Csp::Strict)
}

/// The header fields of a message by name, unfolded.
fn field(message: &[u8], name: &str) -> Option<String> {
    let (fields, _) = split_header(message);
    fields
        .iter()
        .find(|f| f.is(name))
        .map(|f| f.value().trim().to_string())
}

/// A reply: to the Reply-To (else From), with the others on To and Cc for a reply to
/// all, `Re:` once, threading fields, the text quoted.
fn fill_reply(f: &mut ComposeForm, message: &[u8], me: &str, all: bool) {
    let v = view(message, false);
    let reply_to = field(message, "reply-to").or_else(|| field(message, "from"));
    f.to = reply_to.unwrap_or_default();
    if all {
        let mine = |a: &str| a.eq_ignore_ascii_case(me);
        let to_addrs: Vec<String> = address_list(&f.to).into_iter().map(|a| a.addr).collect();
        let others: Vec<String> = ["to", "cc"]
            .iter()
            .filter_map(|n| field(message, n))
            .flat_map(|v| address_list(&v).into_iter().map(|a| a.addr))
            .filter(|a| !mine(a) && !to_addrs.iter().any(|t| t.eq_ignore_ascii_case(a)))
            .collect();
        f.cc = others.join(", ");
    }
    let subject = v.subject.trim();
    f.subject = if subject
        .get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case("re:"))
    {
        subject.to_string()
    } else {
        format!("Re: {subject}")
    };
    let id = field(message, "message-id").unwrap_or_default();
    if !id.is_empty() {
        let refs = field(message, "references").unwrap_or_default();
        f.references = format!("{refs} {id}").trim().to_string();
        f.in_reply_to = id;
    }
    let quoted: String = first_text(&v).lines().map(|l| format!("> {l}\n")).collect();
    f.body = format!("\n\nOn {}, {} wrote:\n{quoted}", v.date, v.from);
}

/// A forward: `Fwd:` subject, the original's fields and text inline, the original
/// attached as a message.
fn fill_forward(f: &mut ComposeForm, message: &[u8], folder: &str, uid: u32) {
    let v = view(message, false);
    f.subject = format!("Fwd: {}", v.subject.trim());
    f.body = format!(
        "\n\n-------- Forwarded message --------\nFrom: {}\nDate: {}\nSubject: {}\nTo: {}\n\n{}",
        v.from,
        v.date,
        v.subject,
        v.to,
        first_text(&v)
    );
    f.forward = Some((folder.to_string(), uid));
}

/// The first text shown of a message (empty when it has only HTML or none).
fn first_text(v: &postrider_core::web::message::MessageView) -> String {
    v.shown
        .iter()
        .find_map(|s| match s {
            Shown::Text(t) => Some(t.replace("\r\n", "\n")),
            _ => None,
        })
        .unwrap_or_default()
}

/// `POST /send` (multipart/form-data): checks the token, builds the message, submits it
/// and keeps a copy in Sent.
pub fn send(
    ctx: &Context,
    viewer: Viewer<'_>,
    client: std::net::IpAddr,
    req: &Request,
) -> Response {
    let content_type = req
        .header("content-type")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    let Some(form) = FormData::parse(&content_type, &req.body) else {
        return super::respond::forbidden(Some(viewer), "The form was not sent by this page.");
    };
    if !form.get("csrf").is_some_and(|t| same_token(t, viewer.csrf)) {
        return super::respond::forbidden(
            Some(viewer),
            "The form was not sent by this page (missing token).",
        );
    }
    let text = |n: &str| form.get(n).unwrap_or("").to_string();
    let me = own_address(ctx, viewer.user);
    let mut attachments: Vec<Upload> = form
        .files
        .iter()
        .filter(|u| u.field == "attachments")
        .cloned()
        .collect();
    attachments.extend(forwarded(ctx, viewer.user, &form));
    let draft = Draft {
        from: me.clone(),
        to: text("to"),
        cc: text("cc"),
        bcc: text("bcc"),
        subject: text("subject"),
        body: text("body"),
        in_reply_to: form
            .get("in_reply_to")
            .filter(|v| !v.is_empty())
            .map(str::to_string),
        references: form
            .get("references")
            .filter(|v| !v.is_empty())
            .map(str::to_string),
        attachments,
    };
    let refill = || ComposeForm {
        to: draft.to.clone(),
        cc: draft.cc.clone(),
        bcc: draft.bcc.clone(),
        subject: draft.subject.clone(),
        body: draft.body.clone(),
        in_reply_to: draft.in_reply_to.clone().unwrap_or_default(),
        references: draft.references.clone().unwrap_or_default(),
        forward: form_forward(&form),
        reply: reply_source(&form).map(|(f, u)| (f.to_string(), u)),
    };
    let settings = ctx.settings();
    let domain = settings.primary_domain();
    let typed = [&draft.to, &draft.cc, &draft.bcc];
    let recipients: Vec<String> = typed
        .iter()
        .flat_map(|v| address_list(v))
        .map(|a| qualify(&a.addr, domain))
        .filter(|a| !a.is_empty())
        .collect();
    if recipients.is_empty() {
        let page = pages::compose(viewer, &refill(), Some("Give at least one recipient."));
        return html_page(400, page, Csp::Strict);
    }
    let Some(boundary) = ctx.web_sessions.token() else {
        return html_page(
            503,
            pages::problem(Some(viewer), "Unavailable", "No randomness."),
            Csp::Strict,
        );
    };
    let message = build(&draft, &format!("=_{boundary}"));
    match submit(ctx, viewer.user, &me, client, &message) {
        Ok((id, fixed)) => {
            let bcc = postrider_core::web::compose::address_header(&draft.bcc);
            let mut copy = Vec::new();
            if !bcc.is_empty() {
                copy.extend_from_slice(format!("Bcc: {bcc}\r\n").as_bytes());
            }
            copy.extend_from_slice(&fixed);
            let seen = [String::from("\\Seen")];
            if let Err(e) = ctx
                .mailboxes
                .append(viewer.user, "Sent", &seen, None, &copy)
            {
                tracing::warn!("{id}: web: no copy in Sent for {}: {}", viewer.user, e.text);
            }
            if let Some(original) = forward_source(&form) {
                mark_answered(ctx.mailboxes.as_ref(), viewer.user, original, "$Forwarded");
            } else if let Some(original) = reply_source(&form) {
                mark_answered(ctx.mailboxes.as_ref(), viewer.user, original, "\\Answered");
            }
            redirect("/mail?done=sent")
        }
        Err(e) => {
            tracing::error!("web: cannot queue a message from {}: {e}", viewer.user);
            let page = pages::compose(
                viewer,
                &refill(),
                Some("The message could not be queued; try again."),
            );
            html_page(503, page, Csp::Strict)
        }
    }
}

/// Fixes the message up and queues it as the user's; the queue id and the message as
/// queued (without Bcc).
fn submit(
    ctx: &Context,
    user: &str,
    me: &str,
    client: std::net::IpAddr,
    message: &[u8],
) -> Result<(String, Vec<u8>), String> {
    let spool = ctx
        .queue
        .create_spool()
        .map_err(|e| format!("cannot write to the queue: {e}"))?;
    let unique = format!("{}.{}", spool.id(), postrider_store::queue::unix_now());
    let fixed = fixup(
        message,
        &FixupParams {
            hostname: &ctx.settings().config.hostname,
            sender: me,
            full_name: None,
            now: wall_now(),
            unique: &unique,
        },
    );
    let recipients: Vec<String> = fixed
        .header_recipients
        .iter()
        .map(|r| qualify(r, ctx.settings().primary_domain()))
        .collect();
    let id = queue_local(
        ctx,
        spool,
        &LocalSubmission {
            sender: me,
            recipients: &recipients,
            message: &fixed.message,
            received: ReceivedFrom {
                client_ip: Some(client),
                authenticated: Some(user),
                protocol: Protocol::Https,
                comment: "postrider webmail",
            },
            log_origin: &format!("web user {user}"),
        },
    )?;
    Ok((id, fixed.message))
}

/// The message a forward attaches (`forward_folder`, `forward_uid`), as a
/// `message/rfc822` upload.
fn forwarded(ctx: &Context, user: &str, form: &FormData) -> Option<Upload> {
    let (folder, uid) = forward_source(form)?;
    let m = ctx
        .mailboxes
        .fetch(user, folder, &[uid], FetchPart::Full)
        .ok()?
        .into_iter()
        .find(|m| m.uid == uid)?;
    let subject = field(&m.data, "subject").unwrap_or_default();
    Some(Upload {
        field: "forward".into(),
        filename: format!(
            "{}.eml",
            postrider_core::web::message::safe_filename(&subject, "message/rfc822", "1")
        ),
        content_type: "message/rfc822".into(),
        bytes: m.data.to_vec(),
    })
}

fn forward_source(form: &FormData) -> Option<(&str, u32)> {
    let folder = form.get("forward_folder").filter(|f| !f.is_empty())?;
    Some((folder, form.get("forward_uid")?.parse().ok()?))
}

fn form_forward(form: &FormData) -> Option<(String, u32)> {
    forward_source(form).map(|(f, u)| (f.to_string(), u))
}

fn reply_source(form: &FormData) -> Option<(&str, u32)> {
    let folder = form.get("reply_folder").filter(|f| !f.is_empty())?;
    Some((folder, form.get("reply_uid")?.parse().ok()?))
}

/// Flags the message answered or forwarded.
fn mark_answered(store: &dyn Mailboxes, user: &str, (folder, uid): (&str, u32), flag: &str) {
    let flags = [flag.to_string()];
    let mode = postrider_core::imap::command::StoreMode::Add;
    if let Err(e) = store.set_flags(user, folder, &[uid], mode, &flags) {
        tracing::debug!(
            "web: cannot flag {folder}/{uid} {flag} for {user}: {}",
            e.text
        );
    }
}
