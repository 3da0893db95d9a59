//! The threads that run vCPUs. Every call into a guest (boot, call, restore) runs on one of a
//! fixed set of threads, each of which installs the vCPU seccomp filter ([`crate::seccomp`])
//! before it takes any work: whatever a guest escape might make the host do from a vCPU thread
//! is limited to the system calls those threads were measured to need.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel, sync_channel};
use std::sync::{Arc, Mutex};

use crate::seccomp::{self, SeccompError, SeccompPolicy};

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

/// A fixed set of vCPU threads taking jobs from one queue.
#[derive(Debug)]
pub struct VcpuThreads {
    jobs: Mutex<Sender<Job>>,
}

fn work(jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = crate::sync::lock(jobs).recv();
        let Ok(job) = job else { return };
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
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let count = count.max(1);
        for i in 0..count {
            let rx = rx.clone();
            let (ready_tx, ready_rx) = sync_channel(1);
            std::thread::Builder::new()
                .name(format!("flint-vcpu-{i}"))
                .spawn(move || {
                    let installed = seccomp::install(policy);
                    let ok = installed.is_ok();
                    let _ = ready_tx.send(installed);
                    if ok {
                        work(&rx);
                    }
                })
                .map_err(ThreadsError::Spawn)?;
            ready_rx
                .recv()
                .map_err(|_| ThreadsError::Spawn(std::io::Error::other("vCPU thread died")))??;
        }
        Ok(Self {
            jobs: Mutex::new(tx),
        })
    }

    /// Runs `job` on the next free vCPU thread. Returns at once; the job reports its own result.
    pub fn run(&self, job: impl FnOnce() + Send + 'static) {
        // The receiving threads live as long as the process: sending cannot fail.
        let _ = crate::sync::lock(&self.jobs).send(Box::new(job));
    }
}
