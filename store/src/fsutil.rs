//! Small filesystem helpers: directory fsync, lock files, dotlocks and fcntl locks.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
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
        // The lock appears atomically with our PID in it: write a unique temporary file,
        // then hard-link it to NAME.lock (link fails if the lock exists). A writer killed
        // at any moment therefore never leaves an empty, ownerless lock behind.
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(format!(".{}.{}", std::process::id(), nanos));
        let tmp = PathBuf::from(tmp_name);
        fs::write(&tmp, format!("{}\n", std::process::id()))?;
        let result = Self::link_loop(&tmp, &path, target, wait);
        let _ = fs::remove_file(&tmp);
        result
    }

    fn link_loop(tmp: &Path, path: &Path, target: &Path, wait: Duration) -> io::Result<DotLock> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            match fs::hard_link(tmp, path) {
                Ok(()) => {
                    return Ok(DotLock {
                        path: path.to_path_buf(),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let age = fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok());
                    let old = age.is_some_and(|a| a > STALE_DOTLOCK);
                    if old || owner_is_gone(path) {
                        tracing::warn!("removing stale lock {}", path.display());
                        let _ = fs::remove_file(path);
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

/// Writes `bytes` to a new temporary file next to `path` (never following a link there)
/// and renames it over `path`.
pub fn replace_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp_name);
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = f.write_all(bytes).and_then(|_| f.sync_data());
    if let Err(e) = written.and_then(|_| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn replace_file_never_writes_through_a_planted_link() {
        let dir = std::env::temp_dir().join(format!("postrider-priv-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        fs::write(&victim, b"precious").unwrap();
        let target = dir.join("state.db");
        // A link where the temporary file will be made, and one at the target itself.
        let mut tmp = target.as_os_str().to_owned();
        tmp.push(format!(".tmp.{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        replace_file(&target, b"new state").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert_eq!(fs::read(&target).unwrap(), b"new state");
        assert!(!fs::symlink_metadata(&target)
            .unwrap()
            .file_type()
            .is_symlink());
        fs::remove_dir_all(&dir).unwrap();
    }

    use super::*;

    #[test]
    fn dotlock_excludes_and_dead_owner_is_stale() {
        let dir = std::env::temp_dir().join(format!("postrider-lock-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("box");
        let held = DotLock::acquire(&target, Duration::from_millis(10)).unwrap();
        assert_eq!(
            fs::read_to_string(dir.join("box.lock")).unwrap().trim(),
            std::process::id().to_string()
        );
        assert!(DotLock::acquire(&target, Duration::from_millis(50)).is_err());
        drop(held);
        // A lock left by a process that has exited is taken over at once.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        fs::write(dir.join("box.lock"), format!("{dead}\n")).unwrap();
        let start = Instant::now();
        let _lock = DotLock::acquire(&target, Duration::from_secs(5)).unwrap();
        assert!(start.elapsed() < Duration::from_secs(2));
        // Only the lock itself exists: no temporary files are left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        let _ = fs::remove_dir_all(&dir);
    }
}
