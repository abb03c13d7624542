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

/// Directories whose latest rename is not yet durable (see [`defer_dir_sync`]), each with
/// the number of its latest deferral.
static DEFERRED_DIRS: std::sync::Mutex<Vec<(PathBuf, u64)>> = std::sync::Mutex::new(Vec::new());

/// Numbers the deferrals.
static DEFERRALS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn deferred_dirs() -> std::sync::MutexGuard<'static, Vec<(PathBuf, u64)>> {
    DEFERRED_DIRS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Leaves making a rename in `dir` durable to the next durable write into a file of
/// `dir` in this process ([`deferred_dir_sync`]): an EXPUNGE's new mbox need not be
/// durable by itself (a crash brings the expunged messages back, as an unlink on Maildir
/// does), but mail appended to it must not be acknowledged while its name could still
/// vanish.
pub fn defer_dir_sync(dir: &Path) {
    let n = DEFERRALS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let mut dirs = deferred_dirs();
    match dirs.iter_mut().find(|(d, _)| d == dir) {
        Some(entry) => entry.1 = n,
        None => dirs.push((dir.to_path_buf(), n)),
    }
}

/// The latest deferral for `dir` not yet made durable, if any: the writer then flushes
/// with `syncfs` (its data and the directory at once) and reports it with
/// [`dir_synced`].
pub fn deferred_dir_sync(dir: &Path) -> Option<u64> {
    deferred_dirs()
        .iter()
        .find(|(d, _)| d == dir)
        .map(|(_, n)| *n)
}

/// Records that `dir` is durable up to deferral `n` (a later one stays pending).
pub fn dir_synced(dir: &Path, n: u64) {
    deferred_dirs().retain(|(d, m)| !(d == dir && *m <= n));
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
    ///
    /// The lock appears atomically with our PID in it: it is a hard link (link fails if
    /// the lock exists) to a file holding the PID, so a writer killed at any moment never
    /// leaves an empty, ownerless lock behind. That file is made once per directory and
    /// process in the server (`.postrider-lock.PID`, see [`keep_lock_sources`]) and its
    /// time set at each taking: a lock then costs a link and an unlink but no new inode
    /// (which on ext4 without a journal means a scan past every inode freed in the last
    /// half minute). Short-lived processes link a temporary file and remove it.
    pub fn acquire(target: &Path, wait: Duration) -> io::Result<DotLock> {
        let keep = KEEP_LOCK_SOURCES.load(std::sync::atomic::Ordering::Relaxed);
        Self::take(target, wait, keep)
    }

    /// [`DotLock::acquire`], linking from the directory's kept file if `keep_source`.
    fn take(target: &Path, wait: Duration, keep_source: bool) -> io::Result<DotLock> {
        let mut name = target.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        if !keep_source {
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
            return result;
        }
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let source = lock_source(dir, false)?;
        match Self::link_loop(&source, &path, target, wait) {
            // Removed behind our back (a cleanup of the directory): made again, once.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Self::link_loop(&lock_source(dir, true)?, &path, target, wait)
            }
            other => other,
        }
    }

    fn link_loop(source: &Path, path: &Path, target: &Path, wait: Duration) -> io::Result<DotLock> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            // Fresh before it appears as the lock, so nobody takes it for a stale one.
            let now = now_timespec();
            rustix::fs::utimensat(
                rustix::fs::CWD,
                source,
                &rustix::fs::Timestamps {
                    last_access: now,
                    last_modification: now,
                },
                rustix::fs::AtFlags::empty(),
            )?;
            match fs::hard_link(source, path) {
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

/// The current time for `utimensat`.
fn now_timespec() -> rustix::fs::Timespec {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    rustix::fs::Timespec {
        tv_sec: now.as_secs() as i64,
        tv_nsec: now.subsec_nanos() as _,
    }
}

/// Whether dotlocks are linked from a file kept per directory (see [`DotLock::acquire`]).
static KEEP_LOCK_SOURCES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes this process keep one file per directory to link its dotlocks from (the
/// server: a long-lived process taking many locks; see [`DotLock::acquire`]).
pub fn keep_lock_sources() {
    KEEP_LOCK_SOURCES.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Name prefix of the files dotlocks are linked from (never a mailbox: a dot file).
const LOCK_SOURCE_PREFIX: &str = ".postrider-lock.";

/// The file this process links to `NAME.lock` to take a dotlock in `dir`: made (holding
/// the PID) the first time, or again with `remake`. Making it also removes the ones left
/// by processes that are gone.
fn lock_source(dir: &Path, remake: bool) -> io::Result<PathBuf> {
    static SOURCES: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let pid = std::process::id();
    let path = dir.join(format!("{LOCK_SOURCE_PREFIX}{pid}"));
    let mut made = SOURCES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !remake && made.contains(&path) {
        return Ok(path);
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name();
            let gone = name
                .to_str()
                .and_then(|n| n.strip_prefix(LOCK_SOURCE_PREFIX))
                .and_then(|p| p.parse::<i32>().ok())
                .and_then(rustix::process::Pid::from_raw)
                .is_some_and(|p| {
                    matches!(
                        rustix::process::test_kill_process(p),
                        Err(rustix::io::Errno::SRCH)
                    )
                });
            if gone {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    // Written whole under a temporary name first, so the source never exists empty.
    let tmp = dir.join(format!("{LOCK_SOURCE_PREFIX}{pid}.tmp"));
    fs::write(&tmp, format!("{pid}\n"))?;
    fs::rename(&tmp, &path)?;
    if !made.contains(&path) {
        made.push(path.clone());
    }
    Ok(path)
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

    #[test]
    fn the_server_links_its_dotlocks_from_one_kept_file() {
        let dir = std::env::temp_dir().join(format!("postrider-lsrc-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        // A source left by a process that has exited goes when this one makes its own.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let left = dir.join(format!("{LOCK_SOURCE_PREFIX}{dead}"));
        fs::write(&left, format!("{dead}\n")).unwrap();
        let target = dir.join("box");
        let source = dir.join(format!("{LOCK_SOURCE_PREFIX}{}", std::process::id()));
        let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap());
        let held = DotLock::take(&target, Duration::from_millis(10), true).unwrap();
        assert!(!left.exists(), "a dead process's source is removed");
        assert_eq!(
            inode(&dir.join("box.lock")),
            inode(&source),
            "the lock is a link"
        );
        assert_eq!(
            fs::read_to_string(dir.join("box.lock")).unwrap().trim(),
            std::process::id().to_string()
        );
        let age = fs::metadata(dir.join("box.lock"))
            .unwrap()
            .modified()
            .unwrap();
        assert!(SystemTime::now().duration_since(age).unwrap() < Duration::from_secs(60));
        assert!(DotLock::take(&target, Duration::from_millis(50), true).is_err());
        drop(held);
        assert!(!dir.join("box.lock").exists() && source.exists());
        // Taken again without a new file; a source removed by hand is made again.
        drop(DotLock::take(&target, Duration::from_millis(10), true).unwrap());
        fs::remove_file(&source).unwrap();
        let again = DotLock::take(&target, Duration::from_millis(10), true).unwrap();
        assert_eq!(inode(&dir.join("box.lock")), inode(&source));
        drop(again);
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "only the kept source"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
