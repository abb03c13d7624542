//! Sieve at delivery: the user's active ManageSieve script (else `~/.sieve`) runs for
//! each message reaching one of their mailboxes; a missing script means keep, a broken one is logged and means keep too
//! (nothing is ever lost to a script error). Vacation replies reuse the RFC 3834 rules
//! and reply builder of the core, with their memory in `~/.sieve.vacation.db`.
//!
//! The script and the vacation memory are read and written with the user's privileges
//! (through [`crate::context::Context::user_files`]), never as root.

use std::fs;
use std::sync::Mutex;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use postrider_core::delivery::vacation::{
    build_reply, check, format_state, parse_state, remember, ReplyParams,
};
use postrider_core::sieve::{
    Action, Library, Location, MessageContext, Script, Vacation, MAX_INCLUDES,
};

use crate::context::{wall_now, Context};
use crate::outcome::Outcome;
use postrider_store::queue::{unix_now, Envelope, Recipient};
use postrider_store::user_files::UserFile;

/// Longest Sieve script read at delivery.
const MAX_SCRIPT: u64 = 1024 * 1024;

/// Serialises updates of vacation memories (only the server writes them).
pub(crate) static VACATION_MEMORY: Mutex<()> = Mutex::new(());

/// What a user's script decided for a message: its actions, and the message as
/// `addheader`/`deleteheader` (RFC 5293) left it, when they changed it.
pub type Decision = (Vec<Action>, Option<Vec<u8>>);

/// The actions of `user`'s script for this message (and the edited message, if the
/// script edited its header), or None when there is no script or it failed (then the
/// caller keeps the message in INBOX).
pub fn actions_for(
    ctx: &Context,
    user: &str,
    env: &Envelope,
    rcpt: &Recipient,
    message: &[u8],
) -> Option<Decision> {
    let (path, bytes) = user_script(ctx, user, &env.id)?;
    let text = String::from_utf8_lossy(&bytes);
    let script = match Script::compile(&text) {
        Ok(s) => s,
        Err(errors) => {
            for e in errors {
                tracing::warn!("{}: {path}:{e}; keeping the message", env.id);
            }
            return None;
        }
    };
    let global_dir = ctx.settings().config.data_dir.join("sieve-global");
    let fetch = |location: Location, name: &str| match location {
        Location::Personal => ctx.sieve_scripts.get(user, name),
        Location::Global => read_optional(&global_dir.join(format!("{name}.sieve"))),
    };
    let (library, any_requires) = library_for(&script, fetch, &env.id);
    // `mailboxexists` (RFC 5490) needs the folders; listed only for scripts that use it.
    let mailboxes: Vec<String> = if any_requires("mailbox") {
        ctx.mailboxes
            .list(user, "", "*", false)
            .into_iter()
            .filter(|e| {
                !e.attributes
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case("\\Noselect"))
            })
            .map(|e| postrider_core::imap::mutf7::decode(&e.name).unwrap_or(e.name))
            .collect()
    } else {
        Vec::new()
    };
    match script.run_edited(&MessageContext {
        message,
        envelope_from: &env.sender,
        envelope_to: &rcpt.address,
        delimiters: &ctx.settings().config.recipient_delimiter,
        mailboxes: &mailboxes,
        library: &library,
        now: wall_now(),
    }) {
        Ok((actions, edited)) => {
            tracing::info!(
                "{}: sieve script of {user}: {} action(s){}",
                env.id,
                actions.len(),
                if edited.is_some() {
                    ", header edited"
                } else {
                    ""
                }
            );
            Some((actions, edited))
        }
        Err(e) => {
            tracing::warn!(
                "{}: sieve script of {user} failed: {e}; keeping the message",
                env.id
            );
            None
        }
    }
}

/// A file's bytes, None when it does not exist.
pub(crate) fn read_optional(path: &std::path::Path) -> std::io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The scripts `script` includes (RFC 6609), and theirs, read by `fetch` and compiled
/// (at delivery: personal ones from the user's ManageSieve scripts, global ones from
/// `data_dir/sieve-global/NAME.sieve`). One missing or broken is left out (logged): the
/// run fails on it unless its include is `:optional`. Also returns whether any of the
/// scripts requires an extension.
pub(crate) fn library_for<'a>(
    script: &'a Script,
    fetch: impl Fn(Location, &str) -> std::io::Result<Option<Vec<u8>>>,
    id: &str,
) -> (Library, impl Fn(&str) -> bool + 'a) {
    let mut library = Library::default();
    let mut wanted = script.includes();
    let mut required: Vec<String> = Vec::new();
    let mut looked = 0;
    while let Some((location, name)) = wanted.pop() {
        if library.contains(location, &name) || looked >= MAX_INCLUDES {
            continue;
        }
        looked += 1;
        let text = match fetch(location, &name) {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!("{id}: cannot read included script {name:?}: {e}");
                continue;
            }
        };
        match Script::compile(&String::from_utf8_lossy(&text)) {
            Ok(s) => {
                wanted.extend(s.includes());
                for ext in postrider_core::sieve::EXTENSIONS {
                    if s.requires(ext) {
                        required.push(ext.to_string());
                    }
                }
                library.insert(location, &name, s);
            }
            Err(errors) => {
                for e in errors {
                    tracing::warn!("{id}: included script {name:?}:{e}");
                }
            }
        }
    }
    let any = move |ext: &str| script.requires(ext) || required.iter().any(|r| r == ext);
    (library, any)
}

/// The script delivery runs for `user`: the active one of their ManageSieve scripts,
/// else `~/.sieve`; where it came from (for logs) and its text. None when there is none
/// or it cannot be read (logged: the message is kept).
fn user_script(ctx: &Context, user: &str, id: &str) -> Option<(String, Vec<u8>)> {
    match ctx.sieve_scripts.active(user) {
        Ok(Some((name, text))) => return Some((format!("{user}'s script {name:?}"), text)),
        Ok(None) => {}
        Err(e) => {
            tracing::warn!("{id}: cannot read {user}'s active script: {e}; keeping the message");
            return None;
        }
    }
    let files = &ctx.user_files;
    let path = files.describe(user, UserFile::Sieve);
    match files.read(user, UserFile::Sieve, MAX_SCRIPT) {
        Ok(b) => b.map(|b| (path, b)),
        Err(e) => {
            tracing::warn!("{id}: cannot read {path}: {e}; keeping the message");
            None
        }
    }
}

/// Carries out a vacation action: replies once per sender per `:days` unless RFC 3834
/// says not to. Never fails the delivery.
pub fn vacation(
    ctx: &Context,
    user: &str,
    env: &Envelope,
    message: &[u8],
    v: &Vacation,
) -> Outcome {
    let mut addresses: Vec<String> = ctx
        .settings()
        .config
        .domains
        .iter()
        .map(|d| format!("{user}@{d}"))
        .collect();
    addresses.extend(v.addresses.iter().cloned());
    if let Err(why) = check(message, &env.sender, &addresses) {
        tracing::info!("{}: vacation of {user}: no reply ({why:?})", env.id);
        return Outcome::Delivered("vacation: no reply".into());
    }
    let files = &ctx.user_files;
    let _serial = VACATION_MEMORY.lock().unwrap_or_else(|p| p.into_inner());
    let memory = files
        .read(user, UserFile::VacationMemory, MAX_SCRIPT)
        .ok()
        .flatten()
        .unwrap_or_default();
    let mut state = parse_state(&String::from_utf8_lossy(&memory));
    let key = match &v.handle {
        Some(h) => format!("{}#{h}", env.sender),
        None => format!("{}#{}", env.sender, v.reason.len()),
    };
    if remember(&mut state, &key, unix_now(), v.days as i64 * 86_400).is_err() {
        return Outcome::Delivered("vacation: already answered".into());
    }
    let from = v
        .from
        .clone()
        .unwrap_or_else(|| format!("{user}@{}", ctx.settings().primary_domain()));
    let mut template = String::new();
    if let Some(subject) = &v.subject {
        template.push_str(&format!("Subject: {subject}\n"));
    }
    if v.mime {
        // The reason is a MIME entity: its own header fields come first.
        template.push_str(&v.reason.replace("\r\n", "\n"));
    } else {
        if !template.is_empty() {
            template.push('\n');
        }
        template.push_str(&v.reason.replace("\r\n", "\n"));
    }
    let unique = format!("{:x}.sieve", OsRng.next_u64());
    let reply = build_reply(
        &ReplyParams {
            from: &from,
            to: &env.sender,
            now: wall_now(),
            unique: &unique,
            hostname: &ctx.settings().config.hostname,
            template: template.as_bytes(),
        },
        message,
    );
    match ctx
        .queue
        .submit("", vec![Recipient::new(env.sender.clone())], &reply)
    {
        Ok(id) => {
            let memory = format_state(&state);
            if let Err(e) = files.write(user, UserFile::VacationMemory, memory.as_bytes()) {
                tracing::warn!("{}: vacation memory of {user} not saved: {e}", env.id);
            }
            ctx.wakeup.notify();
            Outcome::Delivered(format!("vacation reply queued as {id}"))
        }
        Err(e) => {
            tracing::warn!("{}: vacation reply not queued: {e}", env.id);
            Outcome::Delivered("vacation: reply not queued".into())
        }
    }
}

/// `postrider sieve check FILE`: every problem as `FILE:line:column: message`.
pub fn check_file(path: &std::path::Path) -> Result<(), String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    match Script::compile(&text) {
        Ok(_) => {
            println!("{}: OK", path.display());
            Ok(())
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{}:{e}", path.display());
            }
            Err(format!("{}: {} error(s)", path.display(), errors.len()))
        }
    }
}
