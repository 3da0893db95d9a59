//! Writes invocation records and logs to the store in the background, in batches, so that no
//! request waits for the database. The queue is bounded: when the store cannot keep up, records
//! are dropped and counted rather than piling up in memory.

use std::collections::HashSet;

use prometheus::IntCounter;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::store::{InvocationRecord, LogRecord, Store};

/// Records waiting to be written, at most.
const QUEUE: usize = 16_384;
/// Records written per transaction, at most.
const BATCH: usize = 512;
/// How long the writer lets records gather before each write.
const GATHER: std::time::Duration = std::time::Duration::from_millis(100);
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
        let task = tokio::spawn(write_loop(store, rx));
        (Self { tx, dropped }, task)
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

async fn write_loop(store: Store, mut rx: mpsc::Receiver<Record>) {
    let mut buf = Vec::with_capacity(BATCH);
    let mut since_prune = 0usize;
    let mut touched = HashSet::new();
    while rx.recv_many(&mut buf, BATCH).await > 0 {
        // Let a batch gather: one transaction per interval instead of one per request keeps
        // the store's cost per invocation small.
        tokio::time::sleep(GATHER).await;
        while buf.len() < BATCH && rx.try_recv().map(|r| buf.push(r)).is_ok() {}
        let (mut invocations, mut logs) = (Vec::new(), Vec::new());
        for r in buf.drain(..) {
            match r {
                Record::Invocation(i) => {
                    touched.insert(i.function_name.clone());
                    invocations.push(i);
                }
                Record::Log(l) => logs.push(l),
            }
        }
        since_prune += invocations.len() + logs.len();
        if let Err(e) = store.insert_invocations(&invocations).await {
            tracing::warn!(error = %e, "could not write invocation records");
        }
        if let Err(e) = store.insert_logs(&logs).await {
            tracing::warn!(error = %e, "could not write logs");
        }
        if since_prune >= BATCH {
            for name in touched.drain() {
                if let Err(e) = store.prune(&name, KEEP_PER_FUNCTION).await {
                    tracing::warn!(error = %e, function = %name, "could not prune records");
                }
            }
            since_prune = 0;
        }
    }
}
