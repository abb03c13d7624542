//! Connection threads kept for reuse: a connection is handed to a thread that finished its
//! previous one and waits, or to a new thread when none waits. A thread that has waited
//! `idle_for` without work ends, and at most `max_idle` wait at once, so a burst leaves no
//! crowd behind. Clients that open a connection per message (Postfix's smtp-source, most
//! MTAs) then cost a wake-up per connection, not a thread's creation and teardown.
//!
//! Each waiting thread has its own slot and is woken alone (`unpark`), the one that
//! waited least first (its stack and caches are warm): one shared condition variable had
//! cost several futex calls per connection, every waiting thread contending for its lock.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// One connection's work.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// The pool of connection threads.
#[derive(Clone)]
pub struct Workers {
    inner: Arc<Inner>,
}

struct Inner {
    /// The waiting threads, the latest to start waiting last.
    idle: Mutex<Vec<Arc<Slot>>>,
    max_idle: usize,
    idle_for: Duration,
}

/// Where one waiting thread receives its next job.
struct Slot {
    job: Mutex<Option<Job>>,
    thread: Thread,
}

impl Workers {
    /// A pool whose threads wait at most `idle_for` for their next job, with at most
    /// `max_idle` of them waiting at once.
    pub fn new(max_idle: usize, idle_for: Duration) -> Workers {
        Workers {
            inner: Arc::new(Inner {
                idle: Mutex::new(Vec::new()),
                max_idle,
                idle_for,
            }),
        }
    }

    /// Runs `job` on a waiting thread, or on a new one when every thread is busy.
    pub fn run(&self, job: Job) -> io::Result<()> {
        let waiting = self.inner.lock().pop();
        if let Some(slot) = waiting {
            *lock(&slot.job) = Some(job);
            slot.thread.unpark();
            return Ok(());
        }
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
        self.inner.lock().len()
    }
}

/// Runs one job; a panic ends the job, not the thread (it is logged).
fn run_job(job: Job) {
    if catch_unwind(AssertUnwindSafe(job)).is_err() {
        tracing::error!("a connection thread panicked; the thread goes on");
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Vec<Arc<Slot>>> {
        lock(&self.idle)
    }

    /// Takes jobs until none comes for `idle_for`, or enough others wait already.
    fn serve(&self) {
        let slot = Arc::new(Slot {
            job: Mutex::new(None),
            thread: thread::current(),
        });
        loop {
            {
                let mut idle = self.lock();
                if idle.len() >= self.max_idle {
                    return;
                }
                idle.push(slot.clone());
            }
            match self.next_job(&slot) {
                Some(job) => run_job(job),
                None => return,
            }
        }
    }

    /// Waits in `slot` (already among the waiting) for a job; None once `idle_for` has
    /// passed and the thread could leave the waiting list before anyone picked it.
    fn next_job(&self, slot: &Arc<Slot>) -> Option<Job> {
        let mut deadline = Some(Instant::now() + self.idle_for);
        loop {
            if let Some(job) = lock(&slot.job).take() {
                return Some(job);
            }
            match deadline {
                Some(d) if Instant::now() >= d => {
                    let mut idle = self.lock();
                    if let Some(at) = idle.iter().position(|s| Arc::ptr_eq(s, slot)) {
                        idle.remove(at);
                        return None;
                    }
                    // Picked just now: its job is on the way.
                    deadline = None;
                }
                Some(d) => thread::park_timeout(d.saturating_duration_since(Instant::now())),
                None => thread::park(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::Condvar;

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
