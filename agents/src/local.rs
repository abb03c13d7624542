//! The local delivery agent (local(8)): expands a local recipient through the aliases
//! db, `:include:` files and `~/.forward`, then delivers to mailboxes, files and
//! programs, forwards to other addresses through the queue, and stops mail loops.
//!
//! Privileges (see [`crate::privileges`]): nothing a user controls runs or is read as
//! root. With system accounts and the server running as root, a user's `.forward`, its
//! `:include:` files, programs and file targets are handled as that user, those named in
//! the aliases (and root's `.forward`) as `[delivery] default_user`. File accounts are
//! not Unix users: as root, their programs, file targets and included files use
//! `[delivery] default_user`; without root, everything runs as the server's own user.
//!
//! Problems found inside an `:include:` file are reported as "invalid address in include
//! file F, line N", never with the file's contents (it may be one the sender must not see).

use std::collections::HashSet;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use postrider_core::delivery::aliases::{parse_target_lines, parse_target_list, Target};
use postrider_core::delivery::loops::loop_reason;
use postrider_core::delivery::mbox::from_line;
use postrider_core::delivery::trace::delivery_fields;
use postrider_core::smtp::EnhancedCode;

use crate::config::TargetOrigin;
use crate::context::{wall_now, Context};
use crate::privileges::{
    identity_of, owner_of_user_files, read_file_as, run_with_input, safe_file, RunAs,
};
use postrider_store::accounts::valid_name;
use postrider_store::mailbox::{Arrival, DeliveryBatch, Stored};
use postrider_store::mbox;
use postrider_store::queue::{Envelope, Recipient};
use postrider_store::user_files::UserFile;

pub use crate::outcome::Outcome;

/// Where a target came from: decides whether files and programs are allowed and whose
/// privileges they get (`user`: the owner of the `.forward` it came from, directly or
/// through includes).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Alias,
    Include { user: Option<String> },
    Forward { user: String },
}

impl Origin {
    fn owner(&self) -> Option<&str> {
        match self {
            Origin::Alias => None,
            Origin::Include { user } => user.as_deref(),
            Origin::Forward { user } => Some(user),
        }
    }
}

/// Longest `.forward` or `:include:` file read.
const MAX_LIST_FILE: u64 = 1024 * 1024;

/// One thing to do for a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Mailbox(String),
    File {
        path: String,
        user: Option<String>,
    },
    Program {
        command: String,
        user: Option<String>,
    },
    Forward(String),
}

impl Action {
    /// A stable key, remembered in the envelope once done so a retry does not repeat it.
    fn key(&self) -> String {
        match self {
            Action::Mailbox(u) => format!("mailbox:{u}"),
            Action::File { path, .. } => format!("file:{path}"),
            Action::Program { command, .. } => format!("program:{command}"),
            Action::Forward(a) => format!("forward:{a}"),
        }
    }
}

/// The expansion of one recipient.
#[derive(Debug, Default)]
struct Expansion {
    actions: Vec<Action>,
    problems: Vec<(String, EnhancedCode, bool)>,
}

impl Expansion {
    fn push(&mut self, a: Action) {
        if !self.actions.contains(&a) {
            self.actions.push(a);
        }
    }

    fn fail(&mut self, text: String, status: (u8, u16, u16), temporary: bool) {
        self.problems.push((
            text,
            EnhancedCode::new(status.0, status.1, status.2),
            temporary,
        ));
    }
}

/// Whose privileges a target or file on behalf of `user` uses (see
/// [`crate::privileges::identity_of`]).
fn identity_for(ctx: &Context, user: Option<&str>) -> Result<Option<RunAs>, String> {
    identity_of(
        &*ctx.accounts,
        &ctx.settings().config.delivery.default_user,
        user,
    )
}

fn allowed(list: &[TargetOrigin], origin: &Origin) -> bool {
    let kind = match origin {
        Origin::Alias => TargetOrigin::Alias,
        Origin::Include { .. } => TargetOrigin::Include,
        Origin::Forward { .. } => TargetOrigin::Forward,
    };
    list.contains(&kind)
}

struct Expander<'a> {
    ctx: &'a Context,
    out: Expansion,
    depth: usize,
    /// The include file and line being expanded, if any: problems found there are
    /// reported by position only.
    include_at: Option<(String, usize)>,
}

impl Expander<'_> {
    /// Records a problem; inside an include file, by file and line instead of `text`.
    fn fail(&mut self, text: String, status: (u8, u16, u16), temporary: bool) {
        let text = match &self.include_at {
            Some((path, line)) if temporary => {
                format!("cannot deliver to the address in include file {path}, line {line}")
            }
            Some((path, line)) => format!("invalid address in include file {path}, line {line}"),
            None => text,
        };
        self.out.fail(text, status, temporary);
    }

    fn is_local_domain(&self, d: &str) -> bool {
        self.ctx.settings().is_local_domain(d)
    }

    /// Expands a local name reached through `chain` (the names above it).
    fn name(&mut self, name: &str, chain: &mut Vec<String>) {
        if chain.iter().any(|c| c == name) {
            if self.ctx.accounts.exists(name) {
                // `bob: bob, x` or `\bob`-less self-forwarding: bob's own mailbox.
                self.out.push(Action::Mailbox(name.to_string()));
            } else {
                let path: Vec<&str> = chain.iter().map(String::as_str).collect();
                self.fail(
                    format!("alias expansion loop: {} -> {name}", path.join(" -> ")),
                    (5, 4, 6),
                    false,
                );
            }
            return;
        }
        if chain.len() > 20 {
            self.fail(
                format!("alias nesting too deep at {name}"),
                (5, 4, 6),
                false,
            );
            return;
        }
        chain.push(name.to_string());
        if let Some(targets) = self.ctx.aliases.lookup(name) {
            for t in targets {
                self.target(&t, &Origin::Alias, chain);
            }
        } else if self.ctx.accounts.exists(name) {
            self.user(name, chain);
        } else if name == "postmaster" || name == "root" {
            // RFC 5321 §4.5.1: postmaster mail is never lost, even without an account.
            self.out.push(Action::Mailbox(name.to_string()));
        } else {
            self.fail(format!("unknown user: \"{name}\""), (5, 1, 1), false);
        }
        chain.pop();
    }

    /// A local account: its `.forward`, or its mailbox.
    fn user(&mut self, user: &str, chain: &mut Vec<String>) {
        // Read with the user's own privileges (system accounts under root): a link to a
        // file the user may not read gives nothing; an unsafe file is ignored.
        let text = match self
            .ctx
            .user_files
            .read(user, UserFile::Forward, MAX_LIST_FILE)
        {
            Ok(Some(t)) => String::from_utf8_lossy(&t).into_owned(),
            Ok(None) => {
                self.out.push(Action::Mailbox(user.to_string()));
                return;
            }
            Err(e) => {
                let path = self.ctx.user_files.describe(user, UserFile::Forward);
                self.fail(format!("cannot read {path}: {e}"), (4, 3, 0), true);
                return;
            }
        };
        let targets = parse_target_list(&text);
        if targets.is_empty() {
            self.out.push(Action::Mailbox(user.to_string()));
            return;
        }
        let origin = Origin::Forward {
            user: user.to_string(),
        };
        for t in targets {
            self.target(&t, &origin, chain);
        }
    }

    fn target(&mut self, raw: &str, origin: &Origin, chain: &mut Vec<String>) {
        let delivery = &self.ctx.settings().config.delivery;
        let owner = origin.owner().map(str::to_string);
        match Target::classify(raw, |d| self.is_local_domain(d)) {
            Target::Local(name) => self.name(&name, chain),
            Target::Mailbox(user) => {
                if valid_name(&user) {
                    self.out.push(Action::Mailbox(user));
                } else {
                    self.fail(format!("invalid mailbox name {user:?}"), (5, 1, 3), false);
                }
            }
            Target::Remote(addr) => self.out.push(Action::Forward(addr)),
            Target::Include(path) => {
                if !allowed(&delivery.allow_include, origin) {
                    self.fail(
                        format!(":include:{path} is not allowed here"),
                        (5, 7, 1),
                        false,
                    );
                    return;
                }
                self.depth += 1;
                if self.depth > 10 {
                    self.fail(format!(":include:{path} nested too deep"), (5, 4, 6), false);
                    return;
                }
                self.include(&path, owner, chain);
            }
            Target::File(path) => {
                if allowed(&delivery.allow_files, origin) {
                    self.out.push(Action::File { path, user: owner });
                } else {
                    self.fail(
                        format!("mail to file {path} is not allowed here"),
                        (5, 7, 1),
                        false,
                    );
                }
            }
            Target::Program(command) => {
                if allowed(&delivery.allow_commands, origin) {
                    self.out.push(Action::Program {
                        command,
                        user: owner,
                    });
                } else {
                    self.fail(
                        format!("mail to command {command:?} is not allowed here"),
                        (5, 7, 1),
                        false,
                    );
                }
            }
        }
    }
}

impl Expander<'_> {
    /// Expands the targets of an `:include:` file named by a target of `owner`'s
    /// `.forward` (None: the aliases), reading it with `owner`'s privileges.
    fn include(&mut self, path: &str, owner: Option<String>, chain: &mut Vec<String>) {
        let p = Path::new(path);
        let expected_owner = match &owner {
            Some(user) => owner_of_user_files(&*self.ctx.accounts, user),
            None => rustix::process::geteuid().as_raw(),
        };
        if let Err(why) = safe_file(p, expected_owner) {
            self.fail(format!(":include:{path}: {why}"), (4, 3, 0), true);
            return;
        }
        let who = match owner.as_deref() {
            Some(user) => identity_for(self.ctx, Some(user)),
            None => Ok(None),
        };
        let text = match who
            .map_err(std::io::Error::other)
            .and_then(|who| read_file_as(who.as_ref(), p, MAX_LIST_FILE))
        {
            Ok(Some(t)) => String::from_utf8_lossy(&t).into_owned(),
            Ok(None) => {
                self.fail(
                    format!("cannot read :include:{path}: no such file"),
                    (4, 3, 0),
                    true,
                );
                return;
            }
            Err(e) => {
                self.fail(format!("cannot read :include:{path}: {e}"), (4, 3, 0), true);
                return;
            }
        };
        let origin = Origin::Include { user: owner };
        let outer = self.include_at.take();
        for (line, t) in parse_target_lines(&text) {
            self.include_at = Some((path.to_string(), line));
            self.target(&t, &origin, chain);
        }
        self.include_at = outer;
    }
}

/// Splits `local@domain` at the last `@`.
pub fn split_address(addr: &str) -> (&str, Option<&str>) {
    match addr.rsplit_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (addr, None),
    }
}

/// What one local delivery needs to know.
pub struct Delivery<'a> {
    /// The server.
    pub ctx: &'a Context,
    /// The message's envelope.
    pub env: &'a Envelope,
    /// The message as queued.
    pub message: &'a [u8],
    /// Mailboxes already written for this message in this pass (one copy per mailbox).
    pub done_mailboxes: &'a mut HashSet<String>,
    /// The first pass after a start: look for a cut-off earlier delivery first.
    pub recovering: bool,
    /// Mailbox appends of several messages committed together by the caller; None:
    /// each append is fsynced on its own.
    pub batch: Option<&'a mut dyn DeliveryBatch>,
}

/// Delivers `message` for one envelope recipient. `done` holds the actions of this
/// recipient completed by earlier attempts (and receives the new ones).
pub fn deliver(d: &mut Delivery<'_>, rcpt: &Recipient, done: &mut Vec<String>) -> Outcome {
    let ctx = d.ctx;
    let (local, domain) = split_address(&rcpt.address);
    let domain = domain
        .unwrap_or(ctx.settings().primary_domain())
        .to_string();
    let local = local.trim_matches('"').to_ascii_lowercase();
    if let Some(why) = loop_reason(d.message, &[&rcpt.address, &format!("{local}@{domain}")]) {
        return Outcome::Permanent(why, EnhancedCode::new(5, 4, 6), None);
    }
    // `alice+lists` goes to alice unless an account or alias has the whole name.
    let name = ctx.local_recipient(&local).unwrap_or_else(|| local.clone());
    let mut ex = Expander {
        ctx,
        out: Expansion::default(),
        depth: 0,
        include_at: None,
    };
    ex.name(&name, &mut Vec::new());
    let Expansion { actions, problems } = ex.out;
    for (text, _, _) in &problems {
        tracing::warn!("{}: <{}>: {text}", d.env.id, rcpt.address);
    }
    let mut delivered = Vec::new();
    let mut temporary: Vec<String> = problems
        .iter()
        .filter(|p| p.2)
        .map(|p| p.0.clone())
        .collect();
    let mut permanent: Vec<(String, EnhancedCode)> = problems
        .iter()
        .filter(|p| !p.2)
        .map(|p| (p.0.clone(), p.1))
        .collect();
    for action in actions {
        let key = action.key();
        if done.contains(&key) {
            continue;
        }
        let result = match &action {
            Action::Mailbox(name) => deliver_mailbox(d, name, &domain, rcpt),
            Action::File { path, user } => {
                deliver_file(d, path, user.as_deref(), &local, &domain, rcpt)
            }
            Action::Program { command, user } => {
                deliver_program(d, command, user.as_deref(), &local, &domain, rcpt)
            }
            Action::Forward(addr) => {
                let message = d.message;
                forward(d, message, addr, &local, &domain)
            }
        };
        match result {
            Outcome::Delivered(text) => {
                delivered.push(text);
                done.push(key);
            }
            Outcome::Temporary(text) => temporary.push(text),
            Outcome::Permanent(text, status, _) => permanent.push((text, status)),
        }
    }
    let expanded = |t: &str| {
        if local.is_empty() {
            t.to_string()
        } else {
            format!("{t} (expanded from <{local}@{domain}>)")
        }
    };
    if let Some(t) = temporary.first() {
        Outcome::Temporary(expanded(t))
    } else if let Some((t, status)) = permanent.first() {
        Outcome::Permanent(expanded(t), *status, None)
    } else if delivered.is_empty() && done.is_empty() {
        Outcome::Permanent(
            format!("no deliverable target for <{local}@{domain}>"),
            EnhancedCode::new(5, 1, 1),
            None,
        )
    } else {
        Outcome::Delivered(delivered.join(", "))
    }
}

fn deliver_mailbox(d: &mut Delivery<'_>, name: &str, domain: &str, rcpt: &Recipient) -> Outcome {
    if !valid_name(name) {
        return Outcome::Permanent(
            format!("invalid mailbox name {name:?}"),
            EnhancedCode::new(5, 1, 3),
            None,
        );
    }
    if d.done_mailboxes.contains(name) {
        return Outcome::Delivered(format!("{name} (duplicate suppressed)"));
    }
    let (actions, edited) = match crate::sieve::actions_for(d.ctx, name, d.env, rcpt, d.message) {
        Some(decision) => decision,
        None => (
            vec![postrider_core::sieve::Action::Keep { flags: Vec::new() }],
            None,
        ),
    };
    // What keep, fileinto and redirect deliver: the message as the script left it.
    let message = edited.as_deref().unwrap_or(d.message);
    let mut delivered = Vec::new();
    for action in actions {
        use postrider_core::sieve::Action as A;
        let result = match action {
            // Mail that failed DMARC under a quarantine policy is kept in Junk.
            A::Keep { flags } => {
                let folder = d.env.quarantine.then_some("Junk");
                store_in_folder(d, message, name, folder, &flags, domain, rcpt)
            }
            A::FileInto { mailbox, flags } => {
                store_in_folder(d, message, name, Some(&mailbox), &flags, domain, rcpt)
            }
            A::Redirect { address } => forward(d, message, &address, name, domain),
            A::Reject { reason } => {
                return Outcome::Permanent(
                    format!("rejected by the recipient's filter: {reason}"),
                    EnhancedCode::new(5, 7, 1),
                    None,
                )
            }
            A::Vacation(v) => crate::sieve::vacation(d.ctx, name, d.env, d.message, &v),
        };
        match result {
            Outcome::Delivered(t) => delivered.push(t),
            other => return other,
        }
    }
    d.done_mailboxes.insert(name.to_string());
    if delivered.is_empty() {
        Outcome::Delivered(format!("discarded by the filter of {name}"))
    } else {
        Outcome::Delivered(delivered.join(", "))
    }
}

/// The address `Delivered-To:` names for mail stored in `name`'s mailbox: the
/// recipient's own, with its detail, when it reached the mailbox by subaddress
/// (`alice+lists@...` for alice), else `name@domain`.
fn delivered_to(ctx: &Context, name: &str, domain: &str, rcpt: &Recipient) -> String {
    let (local, _) = split_address(&rcpt.address);
    let local = local.trim_matches('"').to_ascii_lowercase();
    let delimiters = &ctx.settings().config.recipient_delimiter;
    match postrider_core::delivery::subaddress::split_detail(&local, delimiters) {
        (user, Some(_)) if user == name => format!("{local}@{domain}"),
        _ => format!("{name}@{domain}"),
    }
}

/// Appends `message` (the queued one, or as a Sieve script edited it) to `user`'s INBOX
/// (`folder` None, in UTF-8 as Sieve names it) or one of the user's folders, then
/// records `flags` for IMAP.
fn store_in_folder(
    d: &mut Delivery<'_>,
    message: &[u8],
    name: &str,
    folder: Option<&str>,
    flags: &[String],
    domain: &str,
    rcpt: &Recipient,
) -> Outcome {
    let final_rcpt = delivered_to(d.ctx, name, domain, rcpt);
    let header = delivery_fields(&d.env.sender, &final_rcpt, Some(&rcpt.address));
    // Sieve names folders in UTF-8 (RFC 5228 §2.7.2); IMAP in modified UTF-7.
    let encoded = folder.map(postrider_core::imap::mutf7::encode);
    if let Some(f) = encoded.as_deref() {
        if !postrider_store::mail_files::valid_folder(f) {
            tracing::warn!(
                "{}: fileinto {f:?}: invalid folder name; keeping in INBOX",
                d.env.id
            );
        }
    }
    // A full mailbox defers (4.2.2) until space is made or the queue gives up; a message
    // being recovered after a crash may already be in, so it is not counted twice.
    if !d.recovering {
        let size = (header.len() + message.len()) as u64;
        if let Some(full) = crate::quota::over_quota(d.ctx, name, size) {
            return Outcome::Temporary(crate::quota::full_text(name, full));
        }
    }
    let arrival = Arrival {
        user: name,
        folder: encoded.as_deref(),
        sender: &d.env.sender,
        fields: header.as_bytes(),
        message,
        when: wall_now(),
        flags,
        queue_id: &d.env.id,
        recovering: d.recovering,
    };
    match d.ctx.mailboxes.deliver(&arrival, d.batch.as_deref_mut()) {
        Ok(Stored::AlreadyThere(folder)) => {
            tracing::info!(
                "{}: found in {folder} of {name} after restart; not delivering again",
                d.env.id
            );
            Outcome::Delivered(format!("mailbox {name}"))
        }
        Ok(Stored::Delivered(folder)) if folder == "INBOX" => {
            Outcome::Delivered(format!("delivered to mailbox {name}"))
        }
        Ok(Stored::Delivered(folder)) => {
            Outcome::Delivered(format!("delivered to folder {folder} of {name}"))
        }
        Err(e) => Outcome::Temporary(e),
    }
}

fn deliver_file(
    d: &mut Delivery<'_>,
    path: &str,
    user: Option<&str>,
    local: &str,
    domain: &str,
    rcpt: &Recipient,
) -> Outcome {
    let header = delivery_fields(
        &d.env.sender,
        &format!("{local}@{domain}"),
        Some(&rcpt.address),
    );
    let entry = mbox::entry(&d.env.sender, wall_now(), header.as_bytes(), d.message);
    if let Some(b) = d.batch.as_deref_mut() {
        b.release_file(Path::new(path));
    }
    let who = match identity_for(d.ctx, user) {
        Ok(w) => w,
        Err(e) => return Outcome::Temporary(e),
    };
    match who {
        None => match mbox::deliver_entry(Path::new(path), &entry) {
            Ok(()) => Outcome::Delivered(format!("delivered to file {path}")),
            Err(e) => Outcome::Temporary(format!("cannot append to file {path}: {e}")),
        },
        Some(id) => {
            // Another process with the user's identity does the write.
            let exe = match std::env::current_exe() {
                Ok(e) => e,
                Err(e) => return Outcome::Temporary(format!("cannot find own executable: {e}")),
            };
            let mut cmd = Command::new(exe);
            cmd.arg("internal-append-file")
                .arg(path)
                .uid(id.uid)
                .gid(id.gid)
                .env_clear()
                .current_dir("/");
            match run_with_input(cmd, &entry, Duration::from_secs(120)) {
                Ok((0, _)) => Outcome::Delivered(format!("delivered to file {path}")),
                Ok((code, err)) if code == 75 || code < 0 => {
                    Outcome::Temporary(format!("cannot append to file {path}: {err}"))
                }
                Ok((_, err)) => Outcome::Permanent(
                    format!("cannot append to file {path}: {err}"),
                    EnhancedCode::new(5, 2, 0),
                    None,
                ),
                Err(e) => Outcome::Temporary(format!("cannot append to file {path}: {e}")),
            }
        }
    }
}

fn deliver_program(
    d: &mut Delivery<'_>,
    command: &str,
    user: Option<&str>,
    local: &str,
    domain: &str,
    rcpt: &Recipient,
) -> Outcome {
    let ctx = d.ctx;
    let who = match identity_for(ctx, user) {
        Ok(w) => w,
        Err(e) => return Outcome::Temporary(e),
    };
    let env_user = user.unwrap_or(local);
    let home = user
        .and_then(|u| ctx.home_of(u))
        .unwrap_or_else(|| PathBuf::from("/"));
    // The message as local(8) gives it to commands: a From line, the trace fields, LF ends.
    let header = delivery_fields(
        &d.env.sender,
        &format!("{local}@{domain}"),
        Some(&rcpt.address),
    );
    let mut input = from_line(&d.env.sender, wall_now()).into_bytes();
    let mut body = header.into_bytes();
    body.extend_from_slice(d.message);
    input.extend(body.iter().copied().filter(|&b| b != b'\r'));
    if let Some(outcome) = builtin_vacation(d, command, user, local, &input) {
        return outcome;
    }
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("SENDER", &d.env.sender)
        .env("RECIPIENT", format!("{local}@{domain}"))
        .env("ORIGINAL_RECIPIENT", &rcpt.address)
        .env("LOCAL", local)
        .env("DOMAIN", domain)
        .env("USER", env_user)
        .env("LOGNAME", env_user)
        .env("HOME", &home)
        .env("SHELL", "/bin/sh")
        .current_dir(if home.is_dir() {
            home.as_path()
        } else {
            Path::new("/")
        });
    if let Some(path) = &ctx.settings().config_path {
        cmd.env("POSTRIDER_CONFIG", path);
    }
    if let Some(id) = &who {
        cmd.uid(id.uid).gid(id.gid);
    }
    let timeout = ctx.settings().config.delivery.command_timeout.get();
    match run_with_input(cmd, &input, timeout) {
        Ok((0, err)) => {
            if !err.is_empty() {
                tracing::info!("{}: command {command:?} said: {err}", d.env.id);
            }
            Outcome::Delivered(format!("delivered to command: {command}"))
        }
        Ok((code, err)) => {
            let said = if err.is_empty() {
                format!("command {command:?} exited with status {code}")
            } else {
                format!("command {command:?} exited with status {code}: {err}")
            };
            match code {
                // sysexits: EX_OSERR, EX_IOERR, EX_TEMPFAIL, EX_CONFIG; negative: signal or timeout.
                71 | 74 | 75 | 78 => Outcome::Temporary(said),
                c if c < 0 => Outcome::Temporary(said),
                67 => Outcome::Permanent(said, EnhancedCode::new(5, 1, 1), None),
                68 => Outcome::Permanent(said, EnhancedCode::new(5, 1, 2), None),
                _ => Outcome::Permanent(said, EnhancedCode::new(5, 3, 0), None),
            }
        }
        Err(e) => Outcome::Temporary(format!("cannot run command {command:?}: {e}")),
    }
}

/// Answers `postrider vacation` commands of file accounts in this process (see
/// [`crate::vacation::builtin_command`]); None to run `command` as a program. From a
/// `.forward` the absent user must be its `owner`; from the aliases it is the user the
/// command names, else the alias (`local`).
fn builtin_vacation(
    d: &Delivery<'_>,
    command: &str,
    owner: Option<&str>,
    local: &str,
    input: &[u8],
) -> Option<Outcome> {
    if d.ctx.accounts.is_system() {
        return None;
    }
    let settings = d.ctx.settings();
    let own_config = settings.config_path.as_deref();
    let mut args = crate::vacation::builtin_command(command, own_config)?;
    match (owner, args.user.as_deref()) {
        (Some(owner), Some(named)) if named != owner => return None,
        (Some(owner), _) => args.user = Some(owner.to_string()),
        (None, None) => args.user = Some(local.to_string()),
        (None, Some(_)) => {}
    }
    args.sender = Some(d.env.sender.clone());
    use crate::vacation::VacationResult as R;
    Some(match crate::vacation::run(d.ctx, &args, &mut &input[..]) {
        Ok(R::Replied(id)) => {
            d.ctx.wakeup.notify();
            Outcome::Delivered(format!("vacation reply queued as {id}"))
        }
        Ok(R::NoReply(why)) => Outcome::Delivered(format!("vacation: no reply ({why:?})")),
        Ok(R::NoMessage) => Outcome::Delivered("vacation: no ~/.vacation.msg".into()),
        Err(e) => Outcome::Temporary(format!("vacation: {e}")),
    })
}

/// Re-queues the message for `addr` with the original envelope sender and a
/// `Delivered-To:` for this recipient, which is how a forwarding loop is caught when the
/// message comes back.
pub(crate) fn forward(
    d: &mut Delivery<'_>,
    message: &[u8],
    addr: &str,
    local: &str,
    domain: &str,
) -> Outcome {
    let mut copy = format!("Delivered-To: {local}@{domain}\r\n").into_bytes();
    copy.extend_from_slice(message);
    match d
        .ctx
        .queue
        .submit(&d.env.sender, vec![Recipient::new(addr)], &copy)
    {
        Ok(id) => {
            d.ctx.wakeup.notify();
            Outcome::Delivered(format!("forwarded as {id} to {addr}"))
        }
        Err(e) => Outcome::Temporary(format!("cannot queue the forwarded copy: {e}")),
    }
}
