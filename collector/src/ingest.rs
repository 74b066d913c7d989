//! Admission, the transport-neutral front of the write path that both
//! receivers call: validate → admit against the pending budget and storage
//! faults → append to the event log (group commit, the writer thread in `wal::writer`) →
//! acknowledge. From the log each request goes to its signal's storage
//! worker (`worker`), which commits it to the index or database.
//!
//! Memory is bounded by admission: once encoded bytes accepted but not yet
//! handed to storage reach `max_pending_bytes`, new exports are refused with a
//! retryable error before their body is read; exports already received may
//! still take up to one more budget, never more.

use crate::disk_floor;
use crate::event_log::{EventLogError, Position};
use crate::otlp::validate::{Rejections, validate};
use crate::otlp::{ExportRequest, SignalKind};
use crate::replicated::ReplicatedLog;
use crate::storage_health::StorageHealth;
use crate::telemetry::Telemetry;
use crate::wal::writer::{self, Append};
use crate::wal::{self, Wal};
use crate::worker::{self, Durable, Progress, WorkerSettings};
use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;
use weir_core::now_unix_nanos;
use weir_store::Store;
use weir_store::checkpoint::{CheckpointCatalog, CheckpointKey, Sink};

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
    /// Cluster mode: the event log's consumers lag past their bound; the
    /// client should retry after a pause.
    #[error("weir is busy indexing earlier data: {reason}; retry after {retry:?}")]
    IndexingBehind {
        /// Which partition lags, and by how much.
        reason: String,
        /// When to retry.
        retry: Duration,
    },
    /// weir is shutting down or its WAL stopped; the client should retry elsewhere or later.
    #[error("weir is not accepting data right now: {0}")]
    Unavailable(String),
}

/// How long overloaded clients are asked to wait.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The running ingest path.
pub struct Ingest {
    appends: RwLock<Option<Sender<Append>>>,
    /// Cluster mode: the log that makes exports durable instead of the WAL.
    replicated: Option<Arc<dyn ReplicatedLog>>,
    telemetry: Arc<Telemetry>,
    health: Arc<StorageHealth>,
    stop_disk_check: Mutex<Option<Sender<()>>>,
    progress: Arc<Progress>,
    max_pending_bytes: u64,
    replay_target: [Position; 3],
    threads: Mutex<Vec<JoinHandle<()>>>,
    closed: AtomicBool,
}

/// What the stores durably hold, as the checkpoint catalog says. A
/// checkpoint that cannot be read counts as nothing: that signal is replayed
/// whole, which the stores' recorded positions make harmless.
async fn durable_positions(catalog: &impl CheckpointCatalog) -> Durable {
    let read = |sink: Sink| async move {
        catalog
            .committed(&CheckpointKey::local(sink))
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, %sink, "cannot read a WAL checkpoint; replaying all of that signal");
                0
            })
    };
    let mut durable = Durable {
        primary: [0; 3],
        rollups: [0; 3],
    };
    for signal in SignalKind::ALL {
        durable.primary[signal.index()] = read(signal.store_sink()).await;
        durable.rollups[signal.index()] = read(signal.rollups_sink()).await;
    }
    durable
}

impl Ingest {
    /// Starts the storage workers from what storage durably holds, opens the
    /// event log feeding them everything it holds beyond that, and starts
    /// the writer. Readiness ([`Ingest::replay_done`]) follows once the
    /// replay is committed.
    pub async fn start(
        config: IngestConfig,
        store: Arc<Store>,
        telemetry: Arc<Telemetry>,
    ) -> Result<Arc<Self>, EventLogError> {
        let durable = durable_positions(&store.catalog()).await;
        let health = Arc::new(StorageHealth::default());
        let (handoff, mut threads) = worker::spawn(
            &store,
            durable,
            WorkerSettings {
                commit_interval: config.commit_interval,
                metrics_commit_bytes: (config.max_pending_bytes / 4).max(1),
                lag_metrics: config.lag_metrics.iter().cloned().collect(),
                rollups: config.rollups,
            },
            wal::reader(&config.wal_dir),
            telemetry.clone(),
            health.clone(),
        );
        let progress = handoff.progress().clone();
        let (log, handoff, replay_target) = {
            let dir = config.wal_dir.clone();
            let segment_bytes = config.wal_segment_bytes;
            tokio::task::spawn_blocking(move || {
                let after = durable.both();
                let mut target = after;
                let mut replayed = 0u64;
                let log = Wal::open(
                    &dir,
                    after.into_iter().min().unwrap_or(0),
                    durable.highest() + 1,
                    segment_bytes,
                    |entry| {
                        let i = entry.signal.index();
                        let position = entry.position;
                        if position > after[i] && handoff.replayed(entry) {
                            target[i] = position;
                            replayed += 1;
                        }
                    },
                )?;
                if replayed > 0 {
                    tracing::info!(
                        records = replayed,
                        "replaying the write-ahead log into storage"
                    );
                }
                Ok::<_, EventLogError>((log, handoff, target))
            })
            .await
            .expect("replay task does not panic")?
        };
        telemetry.wal_bytes.store(log.bytes(), Ordering::Relaxed);
        let report = log.open_report();
        telemetry
            .wal_torn_bytes
            .store(report.torn_bytes, Ordering::Relaxed);
        telemetry
            .wal_damaged_bytes
            .store(report.damaged_bytes, Ordering::Relaxed);

        let (stop_disk_check, disk_thread) = disk_floor::spawn(
            config.wal_dir.clone(),
            config.min_free_bytes,
            health.clone(),
        );
        threads.push(disk_thread);
        let (appends, writer_thread) =
            writer::spawn(Box::new(log), handoff, telemetry.clone(), health.clone());
        threads.push(writer_thread);
        Ok(Arc::new(Ingest {
            appends: RwLock::new(Some(appends)),
            replicated: None,
            telemetry,
            health,
            stop_disk_check: Mutex::new(Some(stop_disk_check)),
            progress,
            max_pending_bytes: config.max_pending_bytes,
            replay_target,
            threads: Mutex::new(threads),
            closed: AtomicBool::new(false),
        }))
    }

    /// The ingest path of a cluster node: admission as on a single node, then
    /// `log` stores the export before it is acknowledged. Nothing is indexed
    /// here (the cluster's indexers consume the log), so there is nothing to
    /// replay and no local storage fault to refuse for.
    pub fn replicated(
        log: Arc<dyn ReplicatedLog>,
        max_pending_bytes: u64,
        telemetry: Arc<Telemetry>,
    ) -> Arc<Self> {
        Arc::new(Ingest {
            appends: RwLock::new(None),
            replicated: Some(log),
            telemetry,
            health: Arc::new(StorageHealth::default()),
            stop_disk_check: Mutex::new(None),
            progress: Arc::new(Progress::default()),
            max_pending_bytes,
            replay_target: [0; 3],
            threads: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        })
    }

    /// Whether everything replayed from the WAL at start is committed.
    pub fn replay_done(&self) -> bool {
        self.progress.caught_up_with(&self.replay_target)
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
        if let Some(reason) = self.replicated.as_ref().and_then(|l| l.refusal(signal)) {
            self.telemetry.refused(signal, "indexing behind");
            return Err(IngestError::IndexingBehind {
                reason,
                retry: RETRY_AFTER,
            });
        }
        Ok(())
    }

    /// Validates, stores durably and acknowledges one export. On success the
    /// returned rejections say which records were dropped and why.
    pub async fn export(&self, request: ExportRequest) -> Result<Rejections, IngestError> {
        self.admit(request, None).await
    }

    /// [`Ingest::export`] of a request decoded from `sent`, its protobuf
    /// bytes as they arrived: when validation drops nothing the log stores
    /// those bytes and the request is never encoded again.
    pub async fn export_as_sent(
        &self,
        request: ExportRequest,
        sent: Bytes,
    ) -> Result<Rejections, IngestError> {
        self.admit(request, Some(sent)).await
    }

    async fn admit(
        &self,
        mut request: ExportRequest,
        sent: Option<Bytes>,
    ) -> Result<Rejections, IngestError> {
        let signal = request.signal();
        let rejections = validate(&mut request, now_unix_nanos());
        for (reason, n) in &rejections.by_reason {
            self.telemetry.rejected(signal, reason, *n);
        }
        if rejections.accepted == 0 {
            return Ok(rejections);
        }
        if let Some(log) = &self.replicated {
            return self.store_replicated(log, request, sent, rejections).await;
        }
        let payload = match sent {
            Some(bytes) if rejections.total() == 0 => bytes,
            _ => Bytes::from(request.encode()),
        };
        let bytes = payload.len() as u64;
        let pending = self
            .telemetry
            .pending_bytes
            .fetch_add(bytes, Ordering::AcqRel);
        // Exports are refused cheaply before their body is read
        // (`check_capacity`); one that got past that check has been received
        // and decoded already, and refusing it now would throw that work
        // away and invite its retry. So it may use headroom of one more
        // budget: memory stays bounded at twice `max_pending_bytes`.
        if pending + bytes > 2 * self.max_pending_bytes && pending > 0 {
            self.telemetry
                .pending_bytes
                .fetch_sub(bytes, Ordering::AcqRel);
            self.telemetry.refused(signal, "overloaded after decoding");
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
            done.await.unwrap_or(Err(EventLogError::Closed))
        } else {
            Err(EventLogError::Closed)
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
                    EventLogError::Closed => "shutting down".into(),
                    e => format!("storage cannot write: {e}"),
                }))
            }
        }
    }

    /// Cluster mode's half of [`Ingest::admit`]: the export counts against
    /// the pending budget while the replicated log stores it, and is
    /// acknowledged only when the log says every part is durable.
    async fn store_replicated(
        &self,
        log: &Arc<dyn ReplicatedLog>,
        request: ExportRequest,
        sent: Option<Bytes>,
        rejections: Rejections,
    ) -> Result<Rejections, IngestError> {
        let signal = request.signal();
        if self.closed.load(Ordering::Acquire) {
            return Err(IngestError::Unavailable("shutting down".into()));
        }
        let bytes = sent
            .as_ref()
            .map_or_else(|| request.encoded_len(), |b| b.len()) as u64;
        let pending = self
            .telemetry
            .pending_bytes
            .fetch_add(bytes, Ordering::AcqRel);
        let stored = if pending + bytes > 2 * self.max_pending_bytes && pending > 0 {
            Err(None)
        } else {
            let sent = sent.filter(|_| rejections.total() == 0);
            log.store(request, sent).await.map_err(Some)
        };
        self.telemetry
            .pending_bytes
            .fetch_sub(bytes, Ordering::AcqRel);
        match stored {
            Ok(()) => {
                self.telemetry.accepted(signal, rejections.accepted);
                Ok(rejections)
            }
            Err(None) => {
                self.telemetry.refused(signal, "overloaded after decoding");
                Err(IngestError::Overloaded(RETRY_AFTER))
            }
            Err(Some(reason)) => {
                self.telemetry.refused(signal, "unavailable");
                tracing::warn!(error = %reason, "export not stored in the event log");
                Err(IngestError::Unavailable(reason))
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
