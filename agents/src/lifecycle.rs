//! The server's life on the host, outside the protocols: the on-disk format of
//! `data_dir` (`data_dir/format-version`: an older one is upgraded at start, a newer one
//! refused), the pid file `data_dir/postrider.pid` written while serving, and the
//! `postrider stop` / `postrider reload` commands that signal the server through it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, test_kill_process, Pid, Signal};

/// The on-disk format this binary writes and reads. Format 1: the layout of postrider
/// 0.1 (queue, mailboxes in mbox or Maildir, sidecar indexes, accounts, aliases).
pub const FORMAT_VERSION: u32 = 1;

fn version_path(data_dir: &Path) -> PathBuf {
    data_dir.join("format-version")
}

fn pid_path(data_dir: &Path) -> PathBuf {
    data_dir.join("postrider.pid")
}

/// Checks `data_dir`'s format before serving: a data_dir without a version (made before
/// versions were recorded, or new) is format 0 and is upgraded (nothing in it changes
/// between 0 and 1) and stamped; one newer than [`FORMAT_VERSION`] is refused with a
/// message saying so.
pub fn check_format(data_dir: &Path) -> Result<(), String> {
    let path = version_path(data_dir);
    let found = match fs::read_to_string(&path) {
        Ok(text) => text.trim().parse::<u32>().map_err(|_| {
            format!(
                "{}: not a format version ({:?}); refusing to start",
                path.display(),
                text.trim()
            )
        })?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if found > FORMAT_VERSION {
        return Err(format!(
            "data_dir {} has on-disk format {found}, newer than this postrider {} knows ({FORMAT_VERSION}): it was used by a newer version; refusing to start",
            data_dir.display(),
            env!("CARGO_PKG_VERSION"),
        ));
    }
    if found < FORMAT_VERSION {
        fs::create_dir_all(data_dir)
            .and_then(|()| {
                postrider_store::fsutil::replace_file(
                    &path,
                    format!("{FORMAT_VERSION}\n").as_bytes(),
                )
            })
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        if found > 0 || data_dir.join("queue").exists() {
            tracing::info!(
                "data_dir {}: on-disk format {found} upgraded to {FORMAT_VERSION}",
                data_dir.display()
            );
        }
    }
    Ok(())
}

/// `data_dir/postrider.pid`, held while the server runs (removed when dropped).
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Writes this process's pid; refused while another live server has the file.
    pub fn create(data_dir: &Path) -> Result<PidFile, String> {
        let path = pid_path(data_dir);
        if let Some(pid) = read_pid(&path).filter(|p| alive(*p)) {
            if pid.as_raw_nonzero().get() != std::process::id() as i32 {
                return Err(format!(
                    "a server (pid {}) already runs with data_dir {}",
                    pid.as_raw_nonzero(),
                    data_dir.display()
                ));
            }
        }
        postrider_store::fsutil::replace_file(
            &path,
            format!("{}\n", std::process::id()).as_bytes(),
        )
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(PidFile { path })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if read_pid(&self.path)
            .is_some_and(|p| p.as_raw_nonzero().get() == std::process::id() as i32)
        {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn read_pid(path: &Path) -> Option<Pid> {
    let n: i32 = fs::read_to_string(path).ok()?.trim().parse().ok()?;
    Pid::from_raw(n)
}

/// Whether `pid` is a live postrider process: a pid left by a server killed long ago may
/// name another program since, and one that exited but was not yet reaped by its parent
/// (a zombie, state `Z`) is gone already.
fn alive(pid: Pid) -> bool {
    let stat = fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero()));
    let running = stat.is_ok_and(|s| {
        // `PID (COMM) STATE ...`; COMM may hold spaces and parentheses.
        let comm = s.split_once('(').map_or("", |(_, rest)| rest);
        let state = s.rsplit_once(')').map_or("", |(_, rest)| rest.trim_start());
        comm.starts_with("postrider") && !state.starts_with('Z')
    });
    running && test_kill_process(pid).is_ok()
}

/// What `stop` and `reload` ask of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Drain and exit (SIGTERM).
    Stop,
    /// Reload the configuration (SIGHUP).
    Reload,
}

/// Signals the server of `data_dir` (through its pid file); with `Stop`, waits up to a
/// minute for it to exit. What is printed on success.
pub fn signal_server(data_dir: &Path, request: Request) -> Result<String, String> {
    let path = pid_path(data_dir);
    let pid = read_pid(&path).filter(|p| alive(*p)).ok_or_else(|| {
        format!(
            "no server is running ({} names no live process)",
            path.display()
        )
    })?;
    let signal = match request {
        Request::Stop => Signal::TERM,
        Request::Reload => Signal::HUP,
    };
    kill_process(pid, signal)
        .map_err(|e| format!("cannot signal pid {}: {e}", pid.as_raw_nonzero()))?;
    if request == Request::Reload {
        return Ok(format!("reload requested (pid {})", pid.as_raw_nonzero()));
    }
    let started = Instant::now();
    while alive(pid) {
        if started.elapsed() > Duration::from_secs(60) {
            return Err(format!(
                "pid {} did not exit within 60 s",
                pid.as_raw_nonzero()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(format!("stopped (pid {})", pid.as_raw_nonzero()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_stamped_upgraded_and_newer_ones_refused() {
        let dir = std::env::temp_dir().join(format!("postrider-format-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let stamp = dir.join("format-version");
        // No version (a new or old data_dir), then an older one: both end as format 1.
        for before in [None, Some("0\n")] {
            if let Some(v) = before {
                fs::write(&stamp, v).unwrap_or_else(|e| panic!("{e}"));
            }
            check_format(&dir).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(fs::read_to_string(&stamp).ok().as_deref(), Some("1\n"));
        }
        fs::write(dir.join("format-version"), "7\n").unwrap_or_else(|e| panic!("{e}"));
        let e = check_format(&dir).err().unwrap_or_default();
        assert!(e.contains("on-disk format 7, newer"), "{e}");
        let _ = fs::remove_dir_all(&dir);
    }
}
