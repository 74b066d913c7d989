//! The transport-neutral ingest path that both receivers call:
//! validate → admit → append to the WAL (group commit) → acknowledge, then
//! hand the request to its signal's storage worker, which commits to the
//! index or database and advances the WAL checkpoint.
//!
//! Memory is bounded by admission: encoded bytes accepted but not yet handed
//! to storage never exceed `max_pending_bytes`; past that, exports are refused
//! with a retryable error instead of queueing.

use crate::otlp::convert::convert;
use crate::otlp::validate::{Rejections, validate};
use crate::otlp::{ExportRequest, SignalKind};
use crate::telemetry::Telemetry;
use crate::wal::{Wal, WalError, WalRecord};
use parking_lot::RwLock;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use weir_core::MetricPoint;
use weir_store::Store;
use weir_store::db::Database;
use weir_store::index::SignalIndex;

/// Sizing and timing of the ingest path.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Directory of the write-ahead log.
    pub wal_dir: PathBuf,
    /// How often storage commits, i.e. how soon data becomes searchable.
    pub commit_interval: Duration,
    /// Encoded bytes that may wait for storage before exports are refused.
    pub max_pending_bytes: u64,
    /// Size at which a WAL segment is closed and a new one started.
    pub wal_segment_bytes: u64,
}

/// Why an export was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Storage is behind; the client should retry after a pause.
    #[error("weir is busy storing earlier data; retry after {0:?}")]
    Overloaded(Duration),
    /// weir is shutting down or its WAL stopped; the client should retry elsewhere or later.
    #[error("weir is not accepting data right now: {0}")]
    Unavailable(String),
}

/// How long overloaded clients are asked to wait.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Most records one group commit takes.
const MAX_GROUP_RECORDS: usize = 1024;
/// Most bytes one group commit takes.
const MAX_GROUP_BYTES: usize = 32 << 20;

struct Append {
    request: ExportRequest,
    payload: Vec<u8>,
    reply: oneshot::Sender<Result<(), WalError>>,
}

struct Work {
    seq: u64,
    request: ExportRequest,
    bytes: u64,
}

/// Per-signal progress, shared by the WAL writer and the storage workers.
#[derive(Default)]
struct Progress {
    /// Highest seq handed to the worker.
    enqueued: [AtomicU64; 3],
    /// Highest seq queued by the start-up replay.
    replayed: [AtomicU64; 3],
    /// Highest seq the worker has committed.
    committed: [AtomicU64; 3],
}

/// The running ingest path.
pub struct Ingest {
    appends: RwLock<Option<Sender<Append>>>,
    telemetry: Arc<Telemetry>,
    progress: Arc<Progress>,
    max_pending_bytes: u64,
    replay_target: [u64; 3],
    threads: parking_lot::Mutex<Vec<JoinHandle<()>>>,
    closed: AtomicBool,
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Ingest {
    /// Opens the WAL, starts the writer and storage workers, and queues the
    /// replay of everything storage has not committed. Readiness
    /// ([`Ingest::replay_done`]) follows once the replay is committed.
    pub async fn start(
        config: IngestConfig,
        store: Arc<Store>,
        telemetry: Arc<Telemetry>,
    ) -> Result<Arc<Self>, WalError> {
        let checkpoints = [
            store.spans.committed_seq(),
            store.logs.committed_seq(),
            store.db.metrics_checkpoint().await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read the metrics checkpoint; replaying every metric in the WAL");
                0
            }),
        ];
        let progress = Arc::new(Progress::default());
        for s in SignalKind::ALL {
            progress.committed[s.index()].store(checkpoints[s.index()], Ordering::Relaxed);
            progress.enqueued[s.index()].store(checkpoints[s.index()], Ordering::Relaxed);
        }
        let handle = tokio::runtime::Handle::current();
        let mut threads = Vec::new();
        let mut workers: Vec<Sender<Work>> = Vec::new();
        for signal in SignalKind::ALL {
            let (tx, rx) = mpsc::channel::<Work>();
            workers.push(tx);
            let sink = match signal {
                SignalKind::Traces => Sink::Spans(store.spans.clone()),
                SignalKind::Logs => Sink::Logs(store.logs.clone()),
                SignalKind::Metrics => Sink::Metrics {
                    db: store.db.clone(),
                    runtime: handle.clone(),
                    buffer: Vec::new(),
                },
            };
            let worker = StorageWorker {
                signal,
                sink,
                progress: progress.clone(),
                telemetry: telemetry.clone(),
                commit_interval: config.commit_interval,
            };
            threads.push(
                std::thread::Builder::new()
                    .name(format!("weir-store-{}", signal.as_str()))
                    .spawn(move || worker.run(rx))
                    .expect("spawning a thread succeeds"),
            );
        }

        let after = *checkpoints.iter().min().expect("three signals");
        let min_next = checkpoints.iter().max().expect("three signals") + 1;
        let (wal, replay_target) = {
            let workers = workers.clone();
            let progress = progress.clone();
            let telemetry = telemetry.clone();
            let dir = config.wal_dir.clone();
            let segment_bytes = config.wal_segment_bytes;
            tokio::task::spawn_blocking(move || {
                let mut target = checkpoints;
                let mut replayed = 0u64;
                let wal = Wal::open(&dir, after, min_next, segment_bytes, |record: WalRecord| {
                    let i = record.signal.index();
                    if record.seq <= checkpoints[i] {
                        return;
                    }
                    match ExportRequest::decode_protobuf(record.signal, &record.payload) {
                        Ok(request) => {
                            let bytes = record.payload.len() as u64;
                            telemetry.pending_bytes.fetch_add(bytes, Ordering::Relaxed);
                            telemetry.queued_records[i].fetch_add(1, Ordering::Relaxed);
                            progress.enqueued[i].store(record.seq, Ordering::Release);
                            progress.replayed[i].store(record.seq, Ordering::Release);
                            target[i] = record.seq;
                            replayed += 1;
                            let _ = workers[i].send(Work { seq: record.seq, request, bytes });
                        }
                        Err(e) => tracing::error!(seq = record.seq, error = %e, "skipping an undecodable WAL record"),
                    }
                })?;
                if replayed > 0 {
                    tracing::info!(records = replayed, "replaying the write-ahead log into storage");
                }
                Ok::<_, WalError>((wal, target))
            })
            .await
            .expect("replay task does not panic")?
        };
        telemetry.wal_bytes.store(wal.bytes(), Ordering::Relaxed);

        let (tx, rx) = mpsc::channel::<Append>();
        let writer = WalWriter {
            wal,
            workers,
            progress: progress.clone(),
            telemetry: telemetry.clone(),
        };
        threads.push(
            std::thread::Builder::new()
                .name("weir-wal".into())
                .spawn(move || writer.run(rx))
                .expect("spawning a thread succeeds"),
        );
        Ok(Arc::new(Ingest {
            appends: RwLock::new(Some(tx)),
            telemetry,
            progress,
            max_pending_bytes: config.max_pending_bytes,
            replay_target,
            threads: parking_lot::Mutex::new(threads),
            closed: AtomicBool::new(false),
        }))
    }

    /// Whether everything replayed from the WAL at start is committed.
    pub fn replay_done(&self) -> bool {
        SignalKind::ALL.iter().all(|s| {
            self.progress.committed[s.index()].load(Ordering::Acquire)
                >= self.replay_target[s.index()]
        })
    }

    /// The counters, for `/metrics`.
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }

    /// Refuses early, before a request body is even read, when storage is
    /// already as far behind as the budget allows.
    pub fn check_capacity(&self, signal: SignalKind) -> Result<(), IngestError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(IngestError::Unavailable("shutting down".into()));
        }
        if self.telemetry.pending_bytes.load(Ordering::Acquire) >= self.max_pending_bytes {
            self.telemetry.refused(signal, "overloaded");
            return Err(IngestError::Overloaded(RETRY_AFTER));
        }
        Ok(())
    }

    /// Validates, stores durably and acknowledges one export. On success the
    /// returned rejections say which records were dropped and why.
    pub async fn export(&self, mut request: ExportRequest) -> Result<Rejections, IngestError> {
        let signal = request.signal();
        let rejections = validate(&mut request, now_nanos());
        for (reason, n) in &rejections.by_reason {
            self.telemetry.rejected(signal, reason, *n);
        }
        if rejections.accepted == 0 {
            return Ok(rejections);
        }
        let payload = request.encode();
        let bytes = payload.len() as u64;
        let pending = self
            .telemetry
            .pending_bytes
            .fetch_add(bytes, Ordering::AcqRel);
        if pending + bytes > self.max_pending_bytes && pending > 0 {
            self.telemetry
                .pending_bytes
                .fetch_sub(bytes, Ordering::AcqRel);
            self.telemetry.refused(signal, "overloaded");
            return Err(IngestError::Overloaded(RETRY_AFTER));
        }
        let (reply, done) = oneshot::channel();
        let sent = match self.appends.read().as_ref() {
            Some(tx) => tx
                .send(Append {
                    request,
                    payload,
                    reply,
                })
                .is_ok(),
            None => false,
        };
        let result = if sent {
            done.await.unwrap_or(Err(WalError::Closed))
        } else {
            Err(WalError::Closed)
        };
        match result {
            Ok(()) => {
                self.telemetry.accepted(signal, rejections.accepted);
                Ok(rejections)
            }
            Err(e) => {
                self.telemetry
                    .pending_bytes
                    .fetch_sub(bytes, Ordering::AcqRel);
                self.telemetry.refused(signal, "unavailable");
                tracing::error!(error = %e, "export not stored");
                Err(IngestError::Unavailable(if matches!(e, WalError::Closed) {
                    "shutting down".into()
                } else {
                    "the write-ahead log cannot be written".into()
                }))
            }
        }
    }

    /// Stops accepting, flushes the WAL and commits storage. Idempotent.
    pub fn shutdown(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.appends.write().take();
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
    }
}

struct WalWriter {
    wal: Wal,
    workers: Vec<Sender<Work>>,
    progress: Arc<Progress>,
    telemetry: Arc<Telemetry>,
}

impl WalWriter {
    fn run(mut self, rx: Receiver<Append>) {
        let mut last_truncate = Instant::now();
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            let mut bytes = batch[0].payload.len();
            while batch.len() < MAX_GROUP_RECORDS && bytes < MAX_GROUP_BYTES {
                match rx.try_recv() {
                    Ok(a) => {
                        bytes += a.payload.len();
                        batch.push(a);
                    }
                    Err(_) => break,
                }
            }
            let records: Vec<(SignalKind, &[u8])> = batch
                .iter()
                .map(|a| (a.request.signal(), a.payload.as_slice()))
                .collect();
            match self.wal.append(&records) {
                Ok(first_seq) => {
                    for (i, a) in batch.into_iter().enumerate() {
                        let seq = first_seq + i as u64;
                        let s = a.request.signal().index();
                        self.progress.enqueued[s].store(seq, Ordering::Release);
                        self.telemetry.queued_records[s].fetch_add(1, Ordering::Relaxed);
                        let bytes = a.payload.len() as u64;
                        let _ = self.workers[s].send(Work {
                            seq,
                            request: a.request,
                            bytes,
                        });
                        let _ = a.reply.send(Ok(()));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "write-ahead log append failed");
                    self.wal.abandon_segment();
                    let msg = e.to_string();
                    for a in batch {
                        let _ = a.reply.send(Err(WalError::Io {
                            path: Default::default(),
                            source: std::io::Error::other(msg.clone()),
                        }));
                    }
                }
            }
            if last_truncate.elapsed() >= Duration::from_millis(500) {
                self.truncate();
                last_truncate = Instant::now();
            }
            self.telemetry
                .wal_bytes
                .store(self.wal.bytes(), Ordering::Relaxed);
        }
        // Shutdown: closing the worker channels makes each worker commit and exit.
        drop(self.workers);
    }

    /// Deletes segments every signal has committed. A signal that has caught
    /// up holds nothing back; one that is behind holds back its checkpoint.
    fn truncate(&mut self) {
        let last = self.wal.next_seq() - 1;
        let safe = SignalKind::ALL
            .iter()
            .map(|s| {
                let committed = self.progress.committed[s.index()].load(Ordering::Acquire);
                let enqueued = self.progress.enqueued[s.index()].load(Ordering::Acquire);
                if committed >= enqueued {
                    last
                } else {
                    committed
                }
            })
            .min()
            .unwrap_or(0);
        if let Err(e) = self.wal.truncate_through(safe) {
            tracing::warn!(error = %e, "cannot delete committed WAL segments");
        }
    }
}

enum Sink {
    Spans(Arc<SignalIndex>),
    Logs(Arc<SignalIndex>),
    Metrics {
        db: Database,
        runtime: tokio::runtime::Handle,
        buffer: Vec<MetricPoint>,
    },
}

struct StorageWorker {
    signal: SignalKind,
    sink: Sink,
    progress: Arc<Progress>,
    telemetry: Arc<Telemetry>,
    commit_interval: Duration,
}

impl StorageWorker {
    fn run(mut self, rx: Receiver<Work>) {
        let i = self.signal.index();
        let mut last_seq = 0;
        let mut uncommitted_records = 0u64;
        let mut unreleased_bytes = 0u64;
        let mut last_commit = Instant::now();
        loop {
            let wait = if uncommitted_records > 0 {
                self.commit_interval.saturating_sub(last_commit.elapsed())
            } else {
                Duration::from_secs(3600)
            };
            let mut disconnected = false;
            match rx.recv_timeout(wait) {
                Ok(work) => {
                    let now = now_nanos();
                    let converted = convert(&work.request, now);
                    drop(work.request);
                    let added = match &mut self.sink {
                        Sink::Spans(index) => index.add_spans(&converted.spans, now),
                        Sink::Logs(index) => index.add_logs(&converted.logs, now),
                        Sink::Metrics { buffer, .. } => {
                            buffer.extend(converted.points);
                            Ok(())
                        }
                    };
                    if let Err(e) = added {
                        tracing::error!(signal = self.signal.as_str(), error = %e, "cannot index records; they stay in the WAL");
                    }
                    last_seq = work.seq;
                    uncommitted_records += 1;
                    if matches!(self.sink, Sink::Metrics { .. }) {
                        unreleased_bytes += work.bytes;
                    } else {
                        // The index's own heap bounds what it holds from here on.
                        self.telemetry
                            .pending_bytes
                            .fetch_sub(work.bytes, Ordering::AcqRel);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => disconnected = true,
            }
            // Replayed data is committed as soon as the worker reaches its end,
            // so readiness does not wait for the commit interval.
            let replay_end =
                last_seq > 0 && last_seq == self.progress.replayed[i].load(Ordering::Acquire);
            let due = last_commit.elapsed() >= self.commit_interval || replay_end;
            if uncommitted_records > 0 && (due || disconnected) {
                let now = now_nanos();
                let committed = match &mut self.sink {
                    Sink::Spans(index) | Sink::Logs(index) => {
                        index.commit(last_seq, now).map_err(|e| e.to_string())
                    }
                    Sink::Metrics {
                        db,
                        runtime,
                        buffer,
                    } => {
                        let result = runtime.block_on(db.write_metrics(buffer, last_seq));
                        if result.is_ok() {
                            buffer.clear();
                        }
                        result.map_err(|e| e.to_string())
                    }
                };
                match committed {
                    Ok(()) => {
                        self.progress.committed[i].store(last_seq, Ordering::Release);
                        self.telemetry.queued_records[i]
                            .fetch_sub(uncommitted_records, Ordering::Relaxed);
                        self.telemetry
                            .pending_bytes
                            .fetch_sub(unreleased_bytes, Ordering::AcqRel);
                        self.telemetry.last_commit_nanos[i].store(now, Ordering::Relaxed);
                        uncommitted_records = 0;
                        unreleased_bytes = 0;
                    }
                    Err(e) => {
                        self.telemetry
                            .commit_failures
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::error!(signal = self.signal.as_str(), error = %e, "storage commit failed; will retry");
                    }
                }
                last_commit = Instant::now();
            }
            if disconnected {
                break;
            }
        }
    }
}
