//! `postrider vacation [USER]`: a vacation(1) equivalent for `.forward` pipes
//! (`\carol, "|postrider vacation carol"`). Reads the message on stdin, applies the
//! RFC 3834 rules from the core, answers once per sender per interval with
//! `~/.vacation.msg`, remembers whom it answered in `~/.vacation.db` (with a database
//! backend: in the user's stored vacation memory), and queues the reply with the null
//! sender.

use postrider_store::user_files::UserFile;
use std::fs;
use std::io::Read;
use std::path::Path;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use postrider_core::delivery::vacation::{
    build_reply, check, format_state, parse_state, remember, NoReply, ReplyParams,
};
use postrider_core::imf::header::split_header_to_blank_line;

use crate::context::{wall_now, Context};
use postrider_store::fsutil::lock_exclusive;
use postrider_store::queue::{unix_now, Recipient};

/// Options of the vacation command.
#[derive(Debug, Clone, Default)]
pub struct VacationArgs {
    /// The absent user (default: $USER).
    pub user: Option<String>,
    /// More addresses of the user (`-a`), besides USER@ each local domain.
    pub aliases: Vec<String>,
    /// Seconds between two replies to one sender (default 7 days).
    pub interval: Option<i64>,
    /// The envelope sender when the caller knows it (the delivery agent running the
    /// command itself); else `$SENDER`, the `From ` line or Return-Path.
    pub sender: Option<String>,
}

/// What happened, for the exit status and the message on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VacationResult {
    /// A reply was queued under this id.
    Replied(String),
    /// No reply, for this reason.
    NoReply(NoReply),
    /// No `~/.vacation.msg`: nothing to say.
    NoMessage,
}

/// The envelope sender: `$SENDER` (set by the delivery agent), else the `From ` line, else
/// Return-Path.
fn sender_of(input: &[u8]) -> String {
    if let Ok(s) = std::env::var("SENDER") {
        return s;
    }
    let text = String::from_utf8_lossy(input);
    let mut lines = text.lines();
    if let Some(first) = lines.next() {
        if let Some(rest) = first.strip_prefix("From ") {
            return rest
                .split_whitespace()
                .next()
                .unwrap_or("")
                .replace("MAILER-DAEMON", "");
        }
    }
    let (fields, _) = split_header_to_blank_line(input);
    fields
        .iter()
        .find(|f| f.is("Return-Path"))
        .map(|f| {
            f.value()
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
        .unwrap_or_default()
}

/// Runs the vacation logic on one message.
pub fn run(
    ctx: &Context,
    args: &VacationArgs,
    input: &mut dyn Read,
) -> Result<VacationResult, String> {
    let user = match &args.user {
        Some(u) => u.clone(),
        None => std::env::var("USER").map_err(|_| "no user given and $USER is not set")?,
    };
    let mut raw = Vec::new();
    input
        .take(ctx.settings().config.smtp.max_message_size)
        .read_to_end(&mut raw)
        .map_err(|e| format!("cannot read the message: {e}"))?;
    // Skip a leading `From ` line for the header parser.
    let message: &[u8] = if raw.starts_with(b"From ") {
        match memchr::memchr(b'\n', &raw) {
            Some(i) => &raw[i + 1..],
            None => &[],
        }
    } else {
        &raw
    };
    let template = match ctx
        .user_files
        .read(&user, UserFile::VacationMessage, 1 << 20)
    {
        Ok(Some(t)) => t,
        _ => return Ok(VacationResult::NoMessage),
    };
    let sender = args.sender.clone().unwrap_or_else(|| sender_of(&raw));
    let mut addresses: Vec<String> = ctx
        .settings()
        .config
        .domains
        .iter()
        .map(|d| format!("{user}@{d}"))
        .collect();
    addresses.extend(args.aliases.iter().cloned());
    if let Err(why) = check(message, &sender, &addresses) {
        return Ok(VacationResult::NoReply(why));
    }
    let memory = Memory::open(ctx, &user)?;
    let mut state = parse_state(&memory.load(ctx, &user));
    let interval = args.interval.unwrap_or(7 * 86_400);
    if let Err(why) = remember(&mut state, &sender, unix_now(), interval) {
        return Ok(VacationResult::NoReply(why));
    }
    let from = format!("{user}@{}", ctx.settings().primary_domain());
    let unique = format!("{:x}.vacation", OsRng.next_u64());
    let reply = build_reply(
        &ReplyParams {
            from: &from,
            to: &sender,
            now: wall_now(),
            unique: &unique,
            hostname: &ctx.settings().config.hostname,
            template: &template,
        },
        message,
    );
    let id = ctx
        .queue
        .submit("", vec![Recipient::new(sender.clone())], &reply)
        .map_err(|e| format!("cannot queue the reply: {e}"))?;
    memory.save(ctx, &user, &format_state(&state))?;
    Ok(VacationResult::Replied(id))
}

/// Where the vacation command remembers whom it answered: with the files backend
/// `~/.vacation.db`, under `~/.vacation.lock` (the command may run in a process of its
/// own); with a database, the user's stored vacation memory (shared by every node, keyed
/// apart from Sieve's), serialised in this process.
enum Memory {
    File {
        db: std::path::PathBuf,
        _lock: postrider_store::fsutil::FileLock,
    },
    Stored {
        _serial: std::sync::MutexGuard<'static, ()>,
    },
}

impl Memory {
    fn open(ctx: &Context, user: &str) -> Result<Memory, String> {
        if ctx.settings().config.storage.backend == crate::config::StorageBackend::Postgres {
            let serial = crate::sieve::VACATION_MEMORY
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            return Ok(Memory::Stored { _serial: serial });
        }
        let home = ctx
            .home_of(user)
            .ok_or_else(|| format!("no home directory for {user:?}"))?;
        let lock_path = home.join(".vacation.lock");
        let lock =
            lock_exclusive(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;
        Ok(Memory::File {
            db: home.join(".vacation.db"),
            _lock: lock,
        })
    }

    fn load(&self, ctx: &Context, user: &str) -> String {
        match self {
            Memory::File { db, .. } => fs::read_to_string(db).unwrap_or_default(),
            Memory::Stored { .. } => ctx
                .user_files
                .read(user, UserFile::VacationMemory, 1 << 20)
                .ok()
                .flatten()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default(),
        }
    }

    fn save(&self, ctx: &Context, user: &str, text: &str) -> Result<(), String> {
        match self {
            Memory::File { db, .. } => write_state(db, text),
            Memory::Stored { .. } => ctx
                .user_files
                .write(user, UserFile::VacationMemory, text.as_bytes())
                .map_err(|e| format!("cannot save the vacation memory: {e}")),
        }
    }
}

/// Recognises a `.forward` or alias command that runs this program's `vacation`
/// subcommand (`/path/to/postrider [-c FILE] vacation [-a ADDR]... [-r TIME] [USER]`, no
/// shell syntax), so the delivery agent can answer it itself with the server's own
/// configuration: with file accounts a program runs as `[delivery] default_user`, which
/// may neither read the user's files nor write the queue. A `-c FILE` must name
/// `own_config`. None for any other command.
pub fn builtin_command(command: &str, own_config: Option<&Path>) -> Option<VacationArgs> {
    const SHELL: &[char] = &[
        ';', '&', '|', '<', '>', '$', '`', '\\', '"', '\'', '(', ')', '{', '}', '*', '?', '[', '~',
        '#', '\n',
    ];
    if command.contains(SHELL) {
        return None;
    }
    let mut words = command.split_whitespace();
    let program = Path::new(words.next()?);
    let ours = std::env::current_exe()
        .ok()
        .and_then(|e| e.canonicalize().ok());
    let same = ours.is_some() && program.canonicalize().ok() == ours;
    let named = matches!(
        program.file_name().and_then(|n| n.to_str()),
        Some("postrider" | "postrider-std")
    );
    if !(same || named) {
        return None;
    }
    let canon = |p: &Path| p.canonicalize().ok();
    let mut args = VacationArgs::default();
    let mut seen_subcommand = false;
    while let Some(w) = words.next() {
        match w {
            "-c" | "--config" => {
                let given = canon(Path::new(words.next()?));
                if given.is_none() || given != own_config.and_then(canon) {
                    return None;
                }
            }
            "vacation" if !seen_subcommand => seen_subcommand = true,
            "-a" | "--alias" if seen_subcommand => args.aliases.push(words.next()?.to_string()),
            "-r" | "--interval" if seen_subcommand => {
                let d = crate::config::parse_duration(words.next()?).ok()?;
                args.interval = Some(d.as_secs() as i64);
            }
            user if seen_subcommand && args.user.is_none() && !user.starts_with('-') => {
                args.user = Some(user.to_string())
            }
            _ => return None,
        }
    }
    seen_subcommand.then_some(args)
}

fn write_state(db: &Path, text: &str) -> Result<(), String> {
    let tmp = db.with_extension("db.tmp");
    fs::write(&tmp, text)
        .and_then(|_| fs::rename(&tmp, db))
        .map_err(|e| format!("cannot write {}: {e}", db.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_command_recognises_only_our_own_vacation_command() {
        let args =
            builtin_command("/usr/sbin/postrider vacation -r 1d -a c@x.test carol", None).unwrap();
        assert_eq!(args.user.as_deref(), Some("carol"));
        assert_eq!(args.interval, Some(86_400));
        assert_eq!(args.aliases, ["c@x.test"]);
        assert!(builtin_command("postrider-std vacation", None).is_some());
        for other in [
            "/usr/bin/vacation carol",
            "/usr/sbin/postrider vacation carol; id",
            "/usr/sbin/postrider vacation $USER",
            "/usr/sbin/postrider queue flush",
            "/usr/sbin/postrider -c /etc/other.toml vacation carol",
            "/usr/sbin/postrider vacation --bogus",
            "/usr/sbin/postrider vacation carol dave",
        ] {
            assert!(builtin_command(other, None).is_none(), "{other}");
        }
    }
}
