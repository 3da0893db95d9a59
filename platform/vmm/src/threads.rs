//! The threads that run vCPUs. Every call into a guest (boot, call, restore) runs on one of a
//! fixed set of threads, each of which installs the vCPU seccomp filter ([`crate::seccomp`])
//! before it takes any work: whatever a guest escape might make the host do from a vCPU thread
//! is limited to the system calls those threads were measured to need.
//!
//! A job goes to the thread that became idle last (a stack, not a queue): at low load the same
//! thread takes call after call, on the same sandbox (pools hand out their most recently used
//! one too), so the vCPU is not moved between host threads, which costs KVM a reload of its
//! state. Each thread has its own slot, handed a job under one short lock; jobs that find no
//! idle thread wait in a queue. (Idle threads sleep at once: spinning 50-200 us for the next
//! job before sleeping was measured, and on two cores it took more from the HTTP side than it
//! saved in wake-ups; see docs/BENCHMARKS.md.)

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::thread::Thread;

use crate::seccomp::{self, SeccompError, SeccompPolicy};
use crate::sync::lock;

type Job = Box<dyn FnOnce() + Send>;

/// Why the vCPU threads could not start.
#[derive(Debug, thiserror::Error)]
pub enum ThreadsError {
    /// A thread could not be spawned.
    #[error("Spawn a vCPU thread")]
    Spawn(#[source] std::io::Error),
    /// `/proc/self/pagemap` could not be opened.
    #[error("Open the pagemap")]
    Pagemap(#[from] crate::pagemap::PagemapError),
    /// A thread could not install its seccomp filter.
    #[error("Install the vCPU seccomp filter")]
    Seccomp(#[from] SeccompError),
}

/// One thread's mailbox: the job handed to it, and whether one is there.
struct Slot {
    job: Mutex<Option<Job>>,
    ready: AtomicBool,
    thread: Thread,
}

/// Idle threads (last idle on top) and jobs no thread was free for.
#[derive(Default)]
struct State {
    idle: Vec<usize>,
    queued: VecDeque<Job>,
}

struct Shared {
    state: Mutex<State>,
    slots: Vec<Slot>,
}

/// A fixed set of vCPU threads.
pub struct VcpuThreads {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for VcpuThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VcpuThreads")
            .field("threads", &self.shared.slots.len())
            .finish()
    }
}

impl Slot {
    /// Sleeps until a job is handed over.
    fn wait(&self) -> Job {
        while !self.ready.load(Ordering::Acquire) {
            // Returns at once if the unpark came first; spurious wake-ups loop.
            std::thread::park();
        }
        self.ready.store(false, Ordering::Relaxed);
        lock(&self.job)
            .take()
            .expect("a slot is marked ready only after its job is in it")
    }

    fn give(&self, job: Job) {
        *lock(&self.job) = Some(job);
        self.ready.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Thread `me`'s loop: mark itself idle (or take a queued job), wait, run.
fn work(shared: &Shared, me: usize) {
    let slot = &shared.slots[me];
    loop {
        let queued = {
            let mut state = lock(&shared.state);
            let job = state.queued.pop_front();
            if job.is_none() {
                state.idle.push(me);
            }
            job
        };
        let job = match queued {
            Some(job) => job,
            None => slot.wait(),
        };
        // A job that panics loses its own answer (its sender is dropped), not the thread.
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}

impl VcpuThreads {
    /// Starts `count` threads (at least one), each under `policy` before it runs anything.
    pub fn new(count: usize, policy: SeccompPolicy) -> Result<Self, ThreadsError> {
        // What the threads would otherwise set up lazily, with calls their filter forbids.
        crate::watchdog::start();
        crate::pagemap::prepare()?;
        let count = count.max(1);
        let mut slots = Vec::with_capacity(count);
        let mut starts = Vec::with_capacity(count);
        for i in 0..count {
            let (start_tx, start_rx) = sync_channel::<Arc<Shared>>(1);
            let (ready_tx, ready_rx) = sync_channel(1);
            let handle = std::thread::Builder::new()
                .name(format!("flint-vcpu-{i}"))
                .spawn(move || {
                    let installed = seccomp::install(policy);
                    let ok = installed.is_ok();
                    let _ = ready_tx.send(installed);
                    if let (true, Ok(shared)) = (ok, start_rx.recv()) {
                        work(&shared, i);
                    }
                })
                .map_err(ThreadsError::Spawn)?;
            ready_rx
                .recv()
                .map_err(|_| ThreadsError::Spawn(std::io::Error::other("vCPU thread died")))??;
            slots.push(Slot {
                job: Mutex::new(None),
                ready: AtomicBool::new(false),
                thread: handle.thread().clone(),
            });
            starts.push(start_tx);
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            slots,
        });
        for start in starts {
            let _ = start.send(shared.clone());
        }
        Ok(Self { shared })
    }

    /// Runs `job` on the vCPU thread that became idle last, or the next to become idle.
    /// Returns at once; the job reports its own result.
    pub fn run(&self, job: impl FnOnce() + Send + 'static) {
        let job: Job = Box::new(job);
        let idle = {
            let mut state = lock(&self.shared.state);
            match state.idle.pop() {
                Some(i) => Some((i, job)),
                None => {
                    state.queued.push_back(job);
                    None
                }
            }
        };
        if let Some((i, job)) = idle {
            self.shared.slots[i].give(job);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;
    use std::time::Duration;

    fn threads(count: usize) -> VcpuThreads {
        VcpuThreads::new(count, SeccompPolicy::Off).expect("threads")
    }

    #[test]
    fn every_job_runs_once_under_more_jobs_than_threads() {
        let pool = threads(3);
        let (tx, rx) = channel();
        for n in 0..500u32 {
            let tx = tx.clone();
            pool.run(move || tx.send(n).expect("send"));
        }
        let mut got: Vec<u32> = (0..500).map(|_| rx.recv().expect("job ran")).collect();
        got.sort_unstable();
        assert_eq!(got, (0..500).collect::<Vec<_>>());
    }

    #[test]
    fn one_caller_at_a_time_stays_on_one_thread() {
        let pool = threads(4);
        // Let every thread start and mark itself idle first: one that did so after the first
        // call would sit on top of the stack.
        std::thread::sleep(Duration::from_millis(200));
        let (tx, rx) = channel();
        let mut names = std::collections::HashSet::new();
        for _ in 0..50 {
            let tx = tx.clone();
            pool.run(move || {
                let name = std::thread::current().name().map(str::to_string);
                tx.send(name).expect("send");
            });
            names.insert(rx.recv().expect("job ran"));
            // Let the thread mark itself idle again before the next call.
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(names.len(), 1, "calls moved between threads: {names:?}");
    }

    #[test]
    fn a_panicking_job_does_not_take_its_thread() {
        let pool = threads(1);
        pool.run(|| panic!("a job that panics"));
        let (tx, rx) = channel();
        pool.run(move || tx.send(7).expect("send"));
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(7));
    }
}
