//! Connection threads kept for reuse: a connection is handed to a thread that finished its
//! previous one and waits, or to a new thread when none waits. A thread that has waited
//! `idle_for` without work ends, and at most `max_idle` wait at once, so a burst leaves no
//! crowd behind. Clients that open a connection per message (Postfix's smtp-source, most
//! MTAs) then cost a wake-up per connection, not a thread's creation and teardown.

use std::collections::VecDeque;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

/// One connection's work.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// The pool of connection threads.
#[derive(Clone)]
pub struct Workers {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    work: Condvar,
    max_idle: usize,
    idle_for: Duration,
}

#[derive(Default)]
struct State {
    /// Jobs handed over and not yet taken by a waiting thread.
    jobs: VecDeque<Job>,
    /// Threads waiting for a job.
    idle: usize,
}

impl Workers {
    /// A pool whose threads wait at most `idle_for` for their next job, with at most
    /// `max_idle` of them waiting at once.
    pub fn new(max_idle: usize, idle_for: Duration) -> Workers {
        Workers {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                max_idle,
                idle_for,
            }),
        }
    }

    /// Runs `job` on a waiting thread, or on a new one when every thread is busy.
    pub fn run(&self, job: Job) -> io::Result<()> {
        let mut s = self.inner.lock();
        if s.idle > s.jobs.len() {
            s.jobs.push_back(job);
            drop(s);
            self.inner.work.notify_one();
            return Ok(());
        }
        drop(s);
        let inner = self.inner.clone();
        thread::Builder::new()
            .name("conn".to_string())
            .spawn(move || {
                run_job(job);
                inner.serve();
            })
            .map(|_| ())
    }

    /// Threads waiting for work now (for tests).
    pub fn idle(&self) -> usize {
        self.inner.lock().idle
    }
}

/// Runs one job; a panic ends the job, not the thread (it is logged).
fn run_job(job: Job) {
    if catch_unwind(AssertUnwindSafe(job)).is_err() {
        tracing::error!("a connection thread panicked; the thread goes on");
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes jobs until none comes for `idle_for`, or enough others wait already.
    fn serve(&self) {
        let mut s = self.lock();
        loop {
            if let Some(job) = s.jobs.pop_front() {
                drop(s);
                run_job(job);
                s = self.lock();
                continue;
            }
            if s.idle >= self.max_idle {
                return;
            }
            s.idle += 1;
            let (next, waited) = self
                .work
                .wait_timeout(s, self.idle_for)
                .unwrap_or_else(PoisonError::into_inner);
            s = next;
            s.idle -= 1;
            if waited.timed_out() && s.jobs.is_empty() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Instant;

    fn wait_for(what: &str, check: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_finished_thread_takes_the_next_job() {
        let workers = Workers::new(4, Duration::from_secs(30));
        let (tx, rx) = mpsc::channel();
        let mut served_by = Vec::new();
        for _ in 0..3 {
            let tx = tx.clone();
            workers
                .run(Box::new(move || tx.send(thread::current().id()).unwrap()))
                .unwrap();
            served_by.push(rx.recv().unwrap());
            wait_for("the thread to wait again", || workers.idle() == 1);
        }
        assert!(
            served_by.iter().all(|t| *t == served_by[0]),
            "one thread served them one after another: {served_by:?}"
        );
    }

    #[test]
    fn busy_threads_make_new_ones_and_idle_ones_end() {
        let workers = Workers::new(2, Duration::from_secs(2));
        let (tx, rx) = mpsc::channel();
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        for _ in 0..5 {
            let (tx, gate) = (tx.clone(), gate.clone());
            workers
                .run(Box::new(move || {
                    tx.send(()).unwrap();
                    let (open, cv) = &*gate;
                    let mut g = open.lock().unwrap();
                    while !*g {
                        g = cv.wait(g).unwrap();
                    }
                }))
                .unwrap();
        }
        // All five run at once: none waited for another to finish.
        for _ in 0..5 {
            rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        // Two wait afterwards (the others ended at once), and those end once idle long
        // enough.
        wait_for("two idle threads", || workers.idle() == 2);
        thread::sleep(Duration::from_millis(50));
        assert_eq!(workers.idle(), 2, "no more than max_idle wait");
        wait_for("idle threads to end", || workers.idle() == 0);
        workers.run(Box::new(|| panic!("a bad job"))).unwrap();
        let tx2 = tx.clone();
        workers
            .run(Box::new(move || tx2.send(()).unwrap()))
            .unwrap();
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }
}
