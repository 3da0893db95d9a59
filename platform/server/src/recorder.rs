//! Writes invocation records and logs to the store in the background, in batches, so that no
//! request waits for the database.
//!
//! Nothing is lost silently. A batch is written in one transaction; a batch the store refuses
//! (an outage) is kept and written again once the store is back, oldest first. What waits is
//! bounded ([`PENDING`] records): past it the oldest are dropped, and every record dropped
//! (queue full, buffer full, or still unwritten at shutdown) counts in
//! `flint_records_dropped_total`.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use prometheus::IntCounter;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::store::{InvocationRecord, LogRecord, Store};

/// Records queued for the writer, at most.
const QUEUE: usize = 16_384;
/// Records the writer keeps while the store cannot take them, at most.
pub const PENDING: usize = 100_000;
/// Records written per transaction, at most.
const BATCH: usize = 512;
/// How long the writer lets records gather before each write.
const GATHER: Duration = Duration::from_millis(100);
/// How long the writer waits before trying a refused batch again.
const RETRY: Duration = Duration::from_secs(1);
/// Attempts to write what is left at shutdown.
const LAST_TRIES: usize = 3;
/// Invocations and log lines kept per function.
pub const KEEP_PER_FUNCTION: i64 = 2_000;

enum Record {
    Invocation(InvocationRecord),
    Log(LogRecord),
}

/// The sending side; cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Record>,
    dropped: IntCounter,
}

impl Recorder {
    /// Starts the writer task; records it has to drop count in `dropped`.
    pub fn spawn(store: Store, dropped: IntCounter) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = Writer {
            store,
            rx,
            pending: VecDeque::new(),
            dropped: dropped.clone(),
            touched: HashSet::new(),
            since_prune: 0,
        };
        (Self { tx, dropped }, tokio::spawn(writer.run()))
    }

    fn send(&self, r: Record) {
        if self.tx.try_send(r).is_err() {
            self.dropped.inc();
        }
    }

    /// Queues an invocation record.
    pub fn invocation(&self, r: InvocationRecord) {
        self.send(Record::Invocation(r));
    }

    /// Queues a log line.
    pub fn log(&self, r: LogRecord) {
        self.send(Record::Log(r));
    }
}

/// The writer task's state.
struct Writer {
    store: Store,
    rx: mpsc::Receiver<Record>,
    pending: VecDeque<Record>,
    dropped: IntCounter,
    touched: HashSet<String>,
    since_prune: usize,
}

impl Writer {
    async fn run(mut self) {
        let mut failing = false;
        loop {
            if self.pending.is_empty() {
                let mut buf = Vec::with_capacity(BATCH);
                if self.rx.recv_many(&mut buf, BATCH).await == 0 {
                    return;
                }
                self.pending.extend(buf);
                // Let a batch gather: one transaction per interval, not one per request.
                tokio::time::sleep(GATHER).await;
            }
            let open = self.take_queued();
            match self.write_batch().await {
                Ok(()) => {
                    if failing {
                        tracing::info!(waiting = self.pending.len(), "writing records again");
                        failing = false;
                    }
                    self.prune().await;
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "could not write records; keeping them");
                        failing = true;
                    }
                    tokio::time::sleep(RETRY).await;
                }
            }
            if !open {
                return self.finish().await;
            }
        }
    }

    /// Moves what is queued into `pending` (bounded); false once every sender is gone.
    fn take_queued(&mut self) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(r) => {
                    if self.pending.len() >= PENDING {
                        self.pending.pop_front();
                        self.dropped.inc();
                    }
                    self.pending.push_back(r);
                }
                Err(mpsc::error::TryRecvError::Empty) => return true,
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// Writes the oldest batch; on failure it stays first in `pending`.
    async fn write_batch(&mut self) -> Result<(), crate::store::StoreError> {
        let n = self.pending.len().min(BATCH);
        let (mut invocations, mut logs) = (Vec::new(), Vec::new());
        for r in self.pending.iter().take(n) {
            match r {
                Record::Invocation(i) => invocations.push(i.clone()),
                Record::Log(l) => logs.push(l.clone()),
            }
        }
        self.store.insert_batch(&invocations, &logs).await?;
        self.pending.drain(..n);
        self.since_prune += n;
        self.touched
            .extend(invocations.into_iter().map(|i| i.function_name));
        Ok(())
    }

    async fn prune(&mut self) {
        if self.since_prune < BATCH {
            return;
        }
        for name in self.touched.drain() {
            if let Err(e) = self.store.prune(&name, KEEP_PER_FUNCTION).await {
                tracing::warn!(error = %e, function = %name, "could not prune records");
            }
        }
        self.since_prune = 0;
    }

    /// At shutdown: a few more tries, then whatever is left is counted as dropped.
    async fn finish(mut self) {
        for _ in 0..LAST_TRIES {
            while !self.pending.is_empty() && self.write_batch().await.is_ok() {}
            if self.pending.is_empty() {
                return;
            }
            tokio::time::sleep(RETRY).await;
        }
        let lost = self.pending.len();
        self.dropped.inc_by(lost as u64);
        tracing::warn!(lost, "records not written at shutdown");
    }
}
