//! Small filesystem helpers: directory fsync, lock files, dotlocks and fcntl locks.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use rustix::fs::{fcntl_lock, flock, FlockOperation};

/// Fsyncs a directory so that renames and creations inside it are durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// An exclusive `flock` held on a lock file until dropped (for postrider's own files).
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

/// Takes an exclusive flock on `path`, creating it, waiting as long as needed.
pub fn lock_exclusive(path: &Path) -> io::Result<FileLock> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    flock(&file, FlockOperation::LockExclusive)?;
    Ok(FileLock { _file: file })
}

/// A `NAME.lock` dotlock as used by mbox readers and writers (Postfix, Dovecot, mutt).
#[derive(Debug)]
pub struct DotLock {
    path: PathBuf,
}

/// Dotlocks older than this are considered stale and removed (Postfix uses 500 s).
const STALE_DOTLOCK: Duration = Duration::from_secs(500);

impl DotLock {
    /// Creates `target.lock` exclusively, retrying until `wait` has passed.
    pub fn acquire(target: &Path, wait: Duration) -> io::Result<DotLock> {
        let mut name = target.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let start = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    use std::io::Write;
                    let _ = writeln!(f, "{}", std::process::id());
                    return Ok(DotLock { path });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let old = fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok())
                        .is_some_and(|age| age > STALE_DOTLOCK);
                    let stale = old || owner_is_gone(&path);
                    if stale {
                        tracing::warn!("removing stale lock {}", path.display());
                        let _ = fs::remove_file(&path);
                        continue;
                    }
                    if start.elapsed() >= wait {
                        return Err(io::Error::new(
                            io::ErrorKind::WouldBlock,
                            format!("{} is locked", target.display()),
                        ));
                    }
                    thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Whether a dotlock names (by the PID written in it) a process that no longer exists on
/// this host, e.g. a writer killed while holding it. Lock files without a PID are only
/// removed by age.
fn owner_is_gone(path: &Path) -> bool {
    let Ok(text) = fs::read_to_string(path) else {
        return false;
    };
    let Some(pid) = text
        .trim()
        .parse::<i32>()
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

impl Drop for DotLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Takes a whole-file POSIX record lock (`fcntl(F_SETLKW, F_WRLCK)`), as Postfix and
/// Dovecot use on mbox files. Released when the file is closed.
pub fn fcntl_lock_exclusive(file: &File) -> io::Result<()> {
    fcntl_lock(file, FlockOperation::LockExclusive).map_err(io::Error::from)
}
