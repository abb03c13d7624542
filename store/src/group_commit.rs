//! Group commit: many sessions' queue writes made durable by one `syncfs(2)`.
//!
//! A session that has written (and renamed into place) its message and envelope calls
//! [`GroupCommit::sync`]. If no flush is running, it becomes the leader and flushes the
//! queue's filesystem; sessions that arrive meanwhile wait for the next flush, which then
//! covers all of them at once. A flush only counts for requests made before it started,
//! so a 250 still means "on disk". This is how databases commit many transactions with
//! one write barrier; on a disk where one flush costs 0.5 ms it turns "one message per
//! flush" into "every message received during the last flush".

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Batches flushes of one filesystem (the queue directory's).
#[derive(Debug)]
pub struct GroupCommit {
    dir: File,
    state: Mutex<State>,
    flushed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Requests numbered so far.
    requested: u64,
    /// Every request up to this number is settled (flushed, or failed).
    done: u64,
    /// A leader is flushing.
    running: bool,
    /// Recent failed flushes: (first request, last request, error text).
    failures: VecDeque<(u64, u64, io::ErrorKind, String)>,
}

impl GroupCommit {
    /// Batches flushes of the filesystem holding `dir`.
    pub fn new(dir: &Path) -> io::Result<GroupCommit> {
        Ok(GroupCommit {
            dir: File::open(dir)?,
            state: Mutex::new(State::default()),
            flushed: Condvar::new(),
        })
    }

    /// Returns once everything this thread wrote before the call is on disk.
    pub fn sync(&self) -> io::Result<()> {
        self.sync_with(&|| rustix::fs::syncfs(&self.dir).map_err(io::Error::from))
    }

    /// Like [`GroupCommit::sync`], with `flush` as the flush a leader runs instead of
    /// `syncfs` (every caller of one `GroupCommit` passes the same kind of flush: the
    /// queue journal's is an `fdatasync` of its current segment).
    pub fn sync_with(&self, flush: &dyn Fn() -> io::Result<()>) -> io::Result<()> {
        let mut s = self.lock();
        s.requested += 1;
        let me = s.requested;
        loop {
            if s.done >= me {
                return match s.failures.iter().find(|f| f.0 <= me && me <= f.1) {
                    Some((_, _, kind, text)) => Err(io::Error::new(*kind, text.clone())),
                    None => Ok(()),
                };
            }
            if !s.running {
                s.running = true;
                let target = s.requested;
                drop(s);
                let result = flush();
                s = self.lock();
                s.running = false;
                let first = s.done + 1;
                s.done = target;
                if let Err(e) = result {
                    s.failures
                        .push_back((first, target, e.kind(), e.to_string()));
                    while s.failures.len() > 64 {
                        s.failures.pop_front();
                    }
                }
                self.flushed.notify_all();
                continue;
            }
            s = self.flushed.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn concurrent_requests_share_flushes() {
        let dir = std::env::temp_dir();
        let gc = Arc::new(GroupCommit::new(&dir).expect("open"));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let gc = gc.clone();
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        gc.sync().expect("sync");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("join");
        }
        let s = gc.lock();
        assert_eq!(s.requested, 320);
        assert_eq!(s.done, 320);
        assert!(!s.running);
    }
}
