//! The transport-neutral ingest path that both receivers call:
//! validate → admit → append to the WAL (group commit) → acknowledge, then
//! hand the request to its signal's storage worker, which commits to the
//! index or database and advances the WAL checkpoint.
//!
//! Memory is bounded by admission: encoded bytes accepted but not yet handed
//! to storage never exceed `max_pending_bytes`; past that, exports are refused
//! with a retryable error instead of queueing.

use crate::health::{HealthAccumulator, InvocationIndex};
use crate::otlp::validate::{Rejections, validate};
use crate::otlp::{ExportRequest, SignalKind};
use crate::storage_health::{Refuses, StorageHealth};
use crate::telemetry::Telemetry;
use crate::wal::{Wal, WalError, WalRecord};
use crate::worker::{RollupSink, Sink, StorageWorker};
use parking_lot::RwLock;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use weir_store::Store;

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
    /// Metric names that are lag series (`pipeline.lag_metrics`).
    pub lag_metrics: Vec<String>,
    /// Whether health rollups and topology are built.
    pub rollups: bool,
    /// Free bytes kept on the WAL's filesystem: below this, exports are
    /// refused so that what weir holds can still be committed.
    pub min_free_bytes: u64,
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
/// How often free disk space is checked against the floor.
const DISK_CHECK_EVERY: Duration = Duration::from_millis(250);

struct Append {
    request: ExportRequest,
    payload: Vec<u8>,
    reply: oneshot::Sender<Result<(), WalError>>,
}

/// An acknowledged request on its way to storage.
pub(crate) struct Work {
    pub(crate) seq: u64,
    pub(crate) request: ExportRequest,
    pub(crate) bytes: u64,
}

/// The WAL checkpoint names of the rollups built from each signal.
const ROLLUP_SINKS: [&str; 3] = ["rollups.spans", "rollups.logs", "rollups.metrics"];

/// Per-signal progress, shared by the WAL writer and the storage workers.
#[derive(Default)]
pub(crate) struct Progress {
    /// Highest seq handed to the worker.
    pub(crate) enqueued: [AtomicU64; 3],
    /// Highest seq queued by the start-up replay.
    pub(crate) replayed: [AtomicU64; 3],
    /// Highest seq the worker has committed.
    pub(crate) committed: [AtomicU64; 3],
}

/// The running ingest path.
pub struct Ingest {
    appends: RwLock<Option<Sender<Append>>>,
    telemetry: Arc<Telemetry>,
    health: Arc<StorageHealth>,
    stop_disk_check: parking_lot::Mutex<Option<Sender<()>>>,
    progress: Arc<Progress>,
    max_pending_bytes: u64,
    replay_target: [u64; 3],
    threads: parking_lot::Mutex<Vec<JoinHandle<()>>>,
    closed: AtomicBool,
}

pub(crate) fn now_nanos() -> u64 {
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
        let read = |sink: &'static str| {
            let db = store.db.clone();
            async move {
                db.checkpoint(sink).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, sink, "cannot read a WAL checkpoint; replaying all of that signal");
                    0
                })
            }
        };
        let primary = [
            store.spans.committed_seq(),
            store.logs.committed_seq(),
            read("metrics").await,
        ];
        let rollup_checkpoints = [
            read(ROLLUP_SINKS[0]).await,
            read(ROLLUP_SINKS[1]).await,
            read(ROLLUP_SINKS[2]).await,
        ];
        // A record is durable once both its store and its rollups have it.
        let checkpoints: [u64; 3] = std::array::from_fn(|i| primary[i].min(rollup_checkpoints[i]));
        let invocations = Arc::new(InvocationIndex::default());
        let lag_metrics = Arc::new(
            config
                .lag_metrics
                .iter()
                .cloned()
                .collect::<HashSet<String>>(),
        );
        let progress = Arc::new(Progress::default());
        let health = Arc::new(StorageHealth::default());
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
                    buffer: Vec::new(),
                },
            };
            let i = signal.index();
            let worker = StorageWorker {
                signal,
                sink,
                rollups: RollupSink {
                    health: HealthAccumulator::new(invocations.clone(), lag_metrics.clone()),
                    enabled: config.rollups,
                    db: store.db.clone(),
                    checkpoint: ROLLUP_SINKS[i],
                },
                durable: (primary[i], rollup_checkpoints[i]),
                progress: progress.clone(),
                telemetry: telemetry.clone(),
                health: health.clone(),
                wal_dir: config.wal_dir.clone(),
                commit_interval: config.commit_interval,
                runtime: handle.clone(),
            };
            threads.push(
                std::thread::Builder::new()
                    .name(format!("weir-store-{}", signal.as_str()))
                    .spawn(move || worker.run(rx))
                    .expect("spawning a thread succeeds"),
            );
        }

        let after = *checkpoints.iter().min().expect("three signals");
        let min_next = primary
            .iter()
            .chain(&rollup_checkpoints)
            .max()
            .expect("six checkpoints")
            + 1;
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
        let report = wal.open_report();
        telemetry
            .wal_torn_bytes
            .store(report.torn_bytes, Ordering::Relaxed);
        telemetry
            .wal_damaged_bytes
            .store(report.damaged_bytes, Ordering::Relaxed);

        let (stop_disk_check, stop_rx) = mpsc::channel::<()>();
        let dir = config.wal_dir.clone();
        let floor = config.min_free_bytes;
        let disk_health = health.clone();
        threads.push(
            std::thread::Builder::new()
                .name("weir-disk".into())
                .spawn(move || watch_free_space(&dir, floor, &disk_health, &stop_rx))
                .expect("spawning a thread succeeds"),
        );

        let (tx, rx) = mpsc::channel::<Append>();
        let writer = WalWriter {
            wal,
            workers,
            progress: progress.clone(),
            telemetry: telemetry.clone(),
            health: health.clone(),
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
            health,
            stop_disk_check: parking_lot::Mutex::new(Some(stop_disk_check)),
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

    /// What storage cannot do right now, for `/readyz` and `/metrics`.
    pub fn storage_health(&self) -> &Arc<StorageHealth> {
        &self.health
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
        if let Some(reason) = self.health.refusal(signal) {
            self.telemetry.refused(signal, "storage fault");
            return Err(IngestError::Unavailable(reason));
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
                Err(IngestError::Unavailable(match e {
                    WalError::Closed => "shutting down".into(),
                    e => format!("storage cannot write: {e}"),
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
        self.stop_disk_check.lock().take();
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
    }
}

/// Refuses every export while the filesystem holding the WAL has less than
/// `floor` bytes free, until `stop` closes: what is held must still fit when
/// the index and database commit it.
fn watch_free_space(
    dir: &std::path::Path,
    floor: u64,
    health: &StorageHealth,
    stop: &Receiver<()>,
) {
    loop {
        match fs4::available_space(dir) {
            Ok(free) if free < floor => health.fail(
                "disk",
                Refuses::Everything,
                format!(
                    "{} MiB free on the data directory's filesystem, below the {} MiB kept to commit what weir holds (ingest.min_free_bytes): free disk space",
                    free >> 20,
                    floor >> 20
                ),
                now_nanos(),
            ),
            Ok(_) => health.heal("disk"),
            Err(e) => tracing::warn!(error = %e, dir = %dir.display(), "cannot read free disk space"),
        }
        match stop.recv_timeout(DISK_CHECK_EVERY) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}

struct WalWriter {
    wal: Wal,
    workers: Vec<Sender<Work>>,
    progress: Arc<Progress>,
    telemetry: Arc<Telemetry>,
    health: Arc<StorageHealth>,
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
                    self.health.heal("wal");
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
                    tracing::error!(error = %e, "write-ahead log append failed; the batch is refused and the next one starts a new segment");
                    self.telemetry.wal_failures.fetch_add(1, Ordering::Relaxed);
                    let msg = e.to_string();
                    self.health
                        .fail("wal", Refuses::Nothing, msg.clone(), now_nanos());
                    for a in batch {
                        let _ = a.reply.send(Err(WalError::BatchFailed(msg.clone())));
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
