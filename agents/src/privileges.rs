//! Whose privileges touch a user's files and run their programs, and the child processes
//! that do it with those privileges.
//!
//! Nothing a user controls ever runs as root, and no file a user controls is read or
//! written as root:
//! - the server not running as root: everything runs as the server's own user;
//! - as root with system accounts: a user's `.forward`, `:include:` files, `.sieve`,
//!   vacation files, programs and file targets are handled as that user; targets from
//!   the aliases (and a root user's) as `[delivery] default_user`;
//! - as root with file accounts (which are not Unix users): programs and file targets as
//!   `[delivery] default_user`, and `:include:` files named in a user's `.forward` are read
//!   as it too. `serve` refuses to start as root when that user is missing or is root.
//!
//! A file touched "as" another identity is read or written by a short-lived copy of this
//! executable (`internal-read-file`, `internal-write-file`) started with that uid and gid
//! and no supplementary groups, so symlinks and permissions are checked by the kernel for
//! that user, not for root.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::config::Settings;
use postrider_store::accounts::{AccountStore, SystemAccounts};

/// A Unix identity to run a command or touch a file as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// Exit status of `internal-read-file` when the file does not exist (EX_NOINPUT).
pub const EXIT_NOT_FOUND: i32 = 66;

/// Whether this process runs as root.
pub fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// `[delivery] default_user` as a non-root identity of this system.
pub fn default_identity(settings: &Settings) -> Result<RunAs, String> {
    identity_named(&settings.config.delivery.default_user)
}

/// The non-root identity of the system user `name` (the default user).
fn identity_named(name: &str) -> Result<RunAs, String> {
    match SystemAccounts::default().lookup(name) {
        Some(e) if e.uid != 0 => Ok(RunAs {
            uid: e.uid,
            gid: e.gid,
        }),
        Some(_) => Err(format!(
            "[delivery] default_user {name:?} is root; it must be an unprivileged user"
        )),
        None => Err(format!(
            "[delivery] default_user {name:?} is not a user of this system (/etc/passwd)"
        )),
    }
}

/// Checks, before `serve` starts, that running as root is safe: user programs and files
/// will have an unprivileged identity to run as.
pub fn check_serve_privileges(settings: &Settings) -> Result<(), String> {
    if !running_as_root() {
        return Ok(());
    }
    default_identity(settings)
        .map(|_| ())
        .map_err(|e| format!("{e}; refusing to run as root without it"))
}

/// The identity for a program or file target, or a file read on behalf of `user` (the
/// owner of the `.forward` it came from; None for the aliases), from the accounts and
/// `[delivery] default_user`: None means the server's own identity, which is never root
/// for anything a user controls.
pub fn identity_of(
    accounts: &dyn AccountStore,
    default_user: &str,
    user: Option<&str>,
) -> Result<Option<RunAs>, String> {
    if !running_as_root() {
        return Ok(None);
    }
    if let Some(u) = user {
        if let Some(e) = accounts.system_user(u) {
            if e.uid != 0 {
                return Ok(Some(RunAs {
                    uid: e.uid,
                    gid: e.gid,
                }));
            }
        }
    }
    identity_named(default_user).map(Some)
}

/// The identity that reads and writes the files in `user`'s home (`.forward`, `.sieve`,
/// vacation files): the user with system accounts when the server runs as root, else
/// the server itself (file accounts' homes belong to the server).
pub fn home_identity(
    accounts: &dyn AccountStore,
    default_user: &str,
    user: &str,
) -> Result<Option<RunAs>, String> {
    if accounts.is_system() && running_as_root() {
        identity_of(accounts, default_user, Some(user))
    } else {
        Ok(None)
    }
}

/// The uid that must own a user's `.forward` and the `:include:` files it names.
pub fn owner_of_user_files(accounts: &dyn AccountStore, user: &str) -> u32 {
    if accounts.is_system() {
        accounts.system_user(user).map_or(u32::MAX, |e| e.uid)
    } else {
        rustix::process::geteuid().as_raw()
    }
}

/// Whether a forwarding or include file may be honoured: a regular file owned by
/// `owner` (or root), not group- or world-writable, in a directory that is not either
/// (unless sticky), as Postfix's local(8) demands.
pub fn safe_file(path: &Path, owner: u32) -> Result<(), String> {
    let meta = fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    if meta.uid() != owner && meta.uid() != 0 {
        return Err(format!("{} is not owned by uid {owner}", path.display()));
    }
    if meta.permissions().mode() & 0o022 != 0 {
        return Err(format!("{} is group- or world-writable", path.display()));
    }
    if let Some(dir) = path.parent() {
        let d = fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if d.permissions().mode() & 0o022 != 0 && d.permissions().mode() & 0o1000 == 0 {
            return Err(format!("{} is group- or world-writable", dir.display()));
        }
    }
    Ok(())
}

/// Reads at most `limit` bytes of `path` as `who` (None: as this process). Ok(None) when
/// the file does not exist.
pub fn read_file_as(who: Option<&RunAs>, path: &Path, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let Some(id) = who else {
        return match fs::File::open(path) {
            Ok(f) => {
                let mut buf = Vec::new();
                f.take(limit).read_to_end(&mut buf)?;
                Ok(Some(buf))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        };
    };
    let mut cmd = helper(id, "internal-read-file", path)?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let mut out = Vec::new();
    if let Some(s) = child.stdout.take() {
        s.take(limit).read_to_end(&mut out)?;
    }
    let mut err = String::new();
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    let status = child.wait()?;
    match status.code() {
        Some(0) => Ok(Some(out)),
        Some(EXIT_NOT_FOUND) => Ok(None),
        // The file is longer than the limit: the child died writing into the pipe that
        // reading `limit` bytes closed (SIGPIPE).
        None if out.len() as u64 >= limit => Ok(Some(out)),
        _ => Err(io::Error::other(one_line(&err))),
    }
}

/// Replaces `path` with `bytes` (a temporary file in the same directory, then a rename)
/// as `who` (None: as this process).
pub fn write_file_as(who: Option<&RunAs>, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let Some(id) = who else {
        return postrider_store::fsutil::replace_file(path, bytes);
    };
    let cmd = helper(id, "internal-write-file", path)?;
    match run_with_input(cmd, bytes, Duration::from_secs(60))? {
        (0, _) => Ok(()),
        (_, err) => Err(io::Error::other(err)),
    }
}

/// A copy of this executable running `subcommand PATH` as `id`, with nothing inherited.
fn helper(id: &RunAs, subcommand: &str, path: &Path) -> io::Result<Command> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg(subcommand)
        .arg(path)
        .uid(id.uid)
        .gid(id.gid)
        .env_clear()
        .current_dir("/");
    Ok(cmd)
}

fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(1000)
        .collect()
}

/// Runs `cmd` with `input` on stdin, in its own process group, killing the group after
/// `timeout`. Returns the exit code (negative for a signal or timeout) and the first
/// 1000 characters of stderr on one line.
pub fn run_with_input(
    mut cmd: Command,
    input: &[u8],
    timeout: Duration,
) -> io::Result<(i32, String)> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take();
    let data = input.to_vec();
    let writer = thread::spawn(move || {
        if let Some(s) = stdin.as_mut() {
            // A command that does not read its input is not an error (EPIPE).
            let _ = s.write_all(&data);
        }
    });
    let mut stderr = child.stderr.take();
    let reader = thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.take(64 * 1024).read_to_end(&mut buf);
        }
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait()? {
            Some(st) => break Some(st),
            None if Instant::now() >= deadline => {
                let pid = rustix::process::Pid::from_child(&child);
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => thread::sleep(Duration::from_millis(20)),
        }
    };
    let _ = writer.join();
    let err = reader.join().unwrap_or_default();
    let err = one_line(&String::from_utf8_lossy(&err));
    Ok(match status {
        None => (-1, format!("timed out after {} s", timeout.as_secs())),
        Some(st) => match st.code() {
            Some(c) => (c, err),
            None => (
                -st.signal().unwrap_or(1),
                format!("killed by signal {}", st.signal().unwrap_or(0)),
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_as_this_process_reports_a_missing_file() {
        let missing = Path::new("/nonexistent/postrider/file");
        assert!(read_file_as(None, missing, 10).unwrap().is_none());
    }
}
