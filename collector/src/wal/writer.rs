//! The writer thread: group-commits appends into the event log, hands each
//! durable entry to its signal's storage worker before acknowledging it, and
//! drops what every worker has committed.

use crate::event_log::{EventLog, EventLogError};
use crate::otlp::{ExportRequest, SignalKind};
use crate::storage_health::{Refuses, StorageHealth};
use crate::telemetry::Telemetry;
use crate::worker::Handoff;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use weir_core::now_unix_nanos;

/// Most entries one group commit takes.
const MAX_GROUP_ENTRIES: usize = 1024;
/// Most bytes one group commit takes.
const MAX_GROUP_BYTES: usize = 32 << 20;
/// How often committed entries are dropped from the log.
const TRUNCATE_EVERY: Duration = Duration::from_millis(500);

/// One export waiting to become durable.
pub(crate) struct Append {
    /// The validated request.
    pub(crate) request: ExportRequest,
    /// Its encoding, as the log stores it.
    pub(crate) payload: bytes::Bytes,
    /// Answered once the entry is durable (and handed to storage) or refused.
    pub(crate) reply: oneshot::Sender<Result<(), EventLogError>>,
}

/// Starts the writer thread; it runs until every sender of the returned
/// channel is dropped, then closes the workers' queues so they commit and stop.
pub(crate) fn spawn(
    log: Box<dyn EventLog>,
    handoff: Handoff,
    telemetry: Arc<Telemetry>,
    health: Arc<StorageHealth>,
) -> (Sender<Append>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<Append>();
    let writer = Writer {
        log,
        handoff,
        telemetry,
        health,
    };
    let thread = std::thread::Builder::new()
        .name("weir-wal".into())
        .spawn(move || writer.run(rx))
        .expect("spawning a thread succeeds");
    (tx, thread)
}

struct Writer {
    log: Box<dyn EventLog>,
    handoff: Handoff,
    telemetry: Arc<Telemetry>,
    health: Arc<StorageHealth>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Append>) {
        let mut last_truncate = Instant::now();
        while let Ok(first) = rx.recv() {
            let batch = gather(first, &rx);
            self.commit(batch);
            if last_truncate.elapsed() >= TRUNCATE_EVERY {
                self.truncate();
                last_truncate = Instant::now();
            }
            self.telemetry
                .wal_bytes
                .store(self.log.bytes(), std::sync::atomic::Ordering::Relaxed);
        }
        // Dropping the hand-off closes the workers' queues: each commits and exits.
    }

    /// Appends one group with one durability point; every export in it is
    /// acknowledged or refused together.
    fn commit(&mut self, batch: Vec<Append>) {
        let entries: Vec<(SignalKind, &[u8])> = batch
            .iter()
            .map(|a| (a.request.signal(), &a.payload[..]))
            .collect();
        match self.log.append(&entries) {
            Ok(first) => {
                self.health.heal("wal");
                for (i, append) in batch.into_iter().enumerate() {
                    let bytes = append.payload.len() as u64;
                    self.handoff
                        .durable(first + i as u64, append.request, bytes);
                    let _ = append.reply.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "write-ahead log append failed; the batch is refused and the next one starts a new segment");
                self.telemetry
                    .wal_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let msg = e.to_string();
                self.health
                    .fail("wal", Refuses::Nothing, msg.clone(), now_unix_nanos());
                for append in batch {
                    let _ = append
                        .reply
                        .send(Err(EventLogError::BatchFailed(msg.clone())));
                }
            }
        }
    }

    fn truncate(&mut self) {
        let last = self.log.next_position() - 1;
        if let Err(e) = self
            .log
            .truncate_through(self.handoff.progress().safe_to_drop(last))
        {
            tracing::warn!(error = %e, "cannot delete committed WAL segments");
        }
    }
}

/// The first append and whatever else is already waiting, up to the group's limits.
fn gather(first: Append, rx: &Receiver<Append>) -> Vec<Append> {
    let mut bytes = first.payload.len();
    let mut batch = vec![first];
    while batch.len() < MAX_GROUP_ENTRIES && bytes < MAX_GROUP_BYTES {
        match rx.try_recv() {
            Ok(a) => {
                bytes += a.payload.len();
                batch.push(a);
            }
            Err(_) => break,
        }
    }
    batch
}
