//! Storage workers: one thread per signal turns acknowledged requests into
//! core records, adds them to their store and to the health rollups, and
//! commits both every commit interval, each with the WAL position it covers.
//!
//! A commit that fails is never retried as if the work were still safe in
//! memory: the worker asks the store what it durably holds (an ambiguous
//! commit may have landed), and an index that lost uncommitted documents is
//! reopened at its last commit and fed again from the write-ahead log, which
//! keeps every segment until both the store and the rollups are past it.
//! Meanwhile the signal's exports are refused as storage faults.

use crate::event_log::{Entry, EventLogReader, Position};
use crate::otlp::convert::convert;
use crate::otlp::{ExportRequest, SignalKind};
use crate::rollup_sink::RollupSink;
use crate::storage_health::{Refuses, StorageHealth};
use crate::telemetry::Telemetry;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use weir_core::accumulator::{HealthAccumulator, InvocationIndex};
use weir_core::{MetricPoint, now_unix_nanos};
use weir_store::Store;
use weir_store::arrivals::MetricArrivals;
use weir_store::checkpoint::CheckpointKey;
use weir_store::db::{Database, SeriesCache};
use weir_store::index::SignalIndex;

/// How soon a failed commit is tried again.
const COMMIT_RETRY: Duration = Duration::from_secs(1);
/// Metric points commit as soon as nothing more is queued, but no more often
/// than this: a SQL transaction is cheap and alert rules read the points, so
/// light traffic should not wait a whole commit interval; under load the
/// queue never drains and the interval batches as before.
const METRICS_MIN_COMMIT: Duration = Duration::from_millis(100);

/// An acknowledged request on its way to storage.
pub(crate) struct Work {
    /// Its position in the event log.
    pub(crate) position: Position,
    /// The validated request.
    pub(crate) request: ExportRequest,
    /// Its encoded size, counted against the pending budget until released.
    pub(crate) bytes: u64,
}

/// Per-signal progress, shared by the log writer, the workers and readiness.
#[derive(Default)]
pub(crate) struct Progress {
    /// Highest position handed to the worker.
    pub(crate) enqueued: [AtomicU64; 3],
    /// Highest position queued by the start-up replay.
    pub(crate) replayed: [AtomicU64; 3],
    /// Highest position the worker has committed.
    pub(crate) committed: [AtomicU64; 3],
}

impl Progress {
    /// The highest position the log may drop, `last` being its newest entry:
    /// a signal that has caught up holds nothing back; one that is behind
    /// holds back its checkpoint.
    pub(crate) fn safe_to_drop(&self, last: Position) -> Position {
        SignalKind::ALL
            .iter()
            .map(|s| {
                let committed = self.committed[s.index()].load(Ordering::Acquire);
                let enqueued = self.enqueued[s.index()].load(Ordering::Acquire);
                if committed >= enqueued {
                    last
                } else {
                    committed
                }
            })
            .min()
            .unwrap_or(0)
    }

    /// Whether every signal has committed what the replay queued.
    pub(crate) fn caught_up_with(&self, targets: &[Position; 3]) -> bool {
        SignalKind::ALL
            .iter()
            .all(|s| self.committed[s.index()].load(Ordering::Acquire) >= targets[s.index()])
    }
}

/// What storage durably holds, per signal, as the checkpoint catalog says.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Durable {
    /// Positions in the primary stores (span index, log index, metric table).
    pub(crate) primary: [Position; 3],
    /// Positions in the rollups built from each signal.
    pub(crate) rollups: [Position; 3],
}

impl Durable {
    /// Per signal, the position both sides hold: replay starts above it.
    pub(crate) fn both(&self) -> [Position; 3] {
        std::array::from_fn(|i| self.primary[i].min(self.rollups[i]))
    }

    /// The position new entries must start above, so that no position a
    /// store recorded is handed out again even if the log lost its tail.
    pub(crate) fn highest(&self) -> Position {
        self.primary
            .iter()
            .chain(&self.rollups)
            .copied()
            .max()
            .unwrap_or(0)
    }
}

/// The way into the workers' queues: entries the log made durable, and at
/// start the ones it replays.
pub(crate) struct Handoff {
    queues: Vec<Sender<Work>>,
    progress: Arc<Progress>,
    telemetry: Arc<Telemetry>,
}

impl Handoff {
    /// The shared progress.
    pub(crate) fn progress(&self) -> &Arc<Progress> {
        &self.progress
    }

    /// Queues a request the log just made durable at `position`.
    pub(crate) fn durable(&self, position: Position, request: ExportRequest, bytes: u64) {
        let s = request.signal().index();
        self.progress.enqueued[s].store(position, Ordering::Release);
        self.telemetry.queued_records[s].fetch_add(1, Ordering::Relaxed);
        let _ = self.queues[s].send(Work {
            position,
            request,
            bytes,
        });
    }

    /// Queues an entry replayed at start; returns whether it was queued (an
    /// undecodable entry is logged and skipped).
    pub(crate) fn replayed(&self, entry: Entry) -> bool {
        let i = entry.signal.index();
        match ExportRequest::decode_protobuf(entry.signal, &entry.payload) {
            Ok(request) => {
                let bytes = entry.payload.len() as u64;
                self.telemetry
                    .pending_bytes
                    .fetch_add(bytes, Ordering::Relaxed);
                self.progress.replayed[i].store(entry.position, Ordering::Release);
                self.durable(entry.position, request, bytes);
                true
            }
            Err(e) => {
                tracing::error!(position = entry.position, error = %e, "skipping an undecodable WAL record");
                false
            }
        }
    }
}

/// How the workers run.
pub(crate) struct WorkerSettings {
    /// How often storage commits.
    pub(crate) commit_interval: Duration,
    /// Metric points commit once this many of their bytes wait, whatever
    /// the interval: they count against the ingest budget until written.
    pub(crate) metrics_commit_bytes: u64,
    /// Metric names that are lag series.
    pub(crate) lag_metrics: HashSet<String>,
    /// Whether health rollups and topology are built.
    pub(crate) rollups: bool,
}

/// Starts one worker thread per signal, each starting from what its store
/// durably holds; they stop, after a last commit, when the hand-off is dropped.
pub(crate) fn spawn(
    store: &Store,
    durable: Durable,
    settings: WorkerSettings,
    log: Arc<dyn EventLogReader>,
    telemetry: Arc<Telemetry>,
    health: Arc<StorageHealth>,
) -> (Handoff, Vec<JoinHandle<()>>) {
    let progress = Arc::new(Progress::default());
    for (i, position) in durable.both().into_iter().enumerate() {
        progress.committed[i].store(position, Ordering::Relaxed);
        progress.enqueued[i].store(position, Ordering::Relaxed);
    }
    let invocations = Arc::new(InvocationIndex::default());
    let lag_metrics = Arc::new(settings.lag_metrics);
    let runtime = tokio::runtime::Handle::current();
    let mut queues = Vec::new();
    let mut threads = Vec::new();
    for signal in SignalKind::ALL {
        let (tx, rx) = mpsc::channel::<Work>();
        queues.push(tx);
        let i = signal.index();
        let sink = match signal {
            SignalKind::Traces => Sink::Spans(store.spans.clone()),
            SignalKind::Logs => Sink::Logs(store.logs.clone()),
            SignalKind::Metrics => Sink::Metrics {
                db: store.db.clone(),
                buffer: Vec::new(),
                series: SeriesCache::default(),
                arrivals: store.arrivals.clone(),
            },
        };
        let worker = StorageWorker {
            signal,
            sink,
            rollups: RollupSink::new(
                HealthAccumulator::new(invocations.clone(), lag_metrics.clone()),
                store.db.clone(),
                store.catalog(),
                signal,
                settings.rollups,
            ),
            durable: (durable.primary[i], durable.rollups[i]),
            progress: progress.clone(),
            telemetry: telemetry.clone(),
            health: health.clone(),
            log: log.clone(),
            commit_interval: settings.commit_interval,
            metrics_commit_bytes: settings.metrics_commit_bytes,
            runtime: runtime.clone(),
        };
        threads.push(
            std::thread::Builder::new()
                .name(format!("weir-store-{}", signal.as_str()))
                .spawn(move || worker.run(rx))
                .expect("spawning a thread succeeds"),
        );
    }
    let handoff = Handoff {
        queues,
        progress,
        telemetry,
    };
    (handoff, threads)
}

/// Where a signal's records go.
enum Sink {
    /// The span index.
    Spans(Arc<SignalIndex>),
    /// The log index.
    Logs(Arc<SignalIndex>),
    /// Metric points in the database, buffered until the commit.
    Metrics {
        /// The database.
        db: Database,
        /// Points since the last durable commit.
        buffer: Vec<MetricPoint>,
        /// Series known to be stored.
        series: SeriesCache,
        /// Told the names of each committed batch.
        arrivals: Arc<MetricArrivals>,
    },
}

/// One signal's worker.
struct StorageWorker {
    /// Which signal.
    signal: SignalKind,
    /// The primary store.
    sink: Sink,
    /// The rollups.
    rollups: RollupSink,
    /// WAL positions durably in the primary store / in the rollups: records
    /// at or below them are not applied again.
    durable: (u64, u64),
    /// Shared progress.
    progress: Arc<Progress>,
    /// Counters.
    telemetry: Arc<Telemetry>,
    /// Faults, for refusing exports while this worker cannot commit.
    health: Arc<StorageHealth>,
    /// The event log, read again when the index lost uncommitted work.
    log: Arc<dyn EventLogReader>,
    /// How often to commit.
    commit_interval: Duration,
    /// Metric point bytes that make a commit due at once.
    metrics_commit_bytes: u64,
    /// For the database's async API from this thread.
    runtime: tokio::runtime::Handle,
}

/// Which side of a worker failed, and why.
struct CommitFailure {
    part: &'static str,
    reason: String,
}

impl StorageWorker {
    fn part(&self) -> &'static str {
        self.signal.store_part()
    }

    /// Adds one acknowledged request to the rollups and the primary store.
    /// Returns false when the index refused it, which makes the next commit
    /// start from the index's last durable state.
    fn apply(&mut self, seq: u64, request: ExportRequest, rollups: bool) -> bool {
        let now = now_unix_nanos();
        let converted = convert(request, now);
        if rollups && self.rollups.enabled && seq > self.durable.1 {
            match self.signal {
                SignalKind::Traces => self.rollups.accumulator.spans(&converted.spans),
                SignalKind::Logs => self.rollups.accumulator.logs(&converted.logs),
                SignalKind::Metrics => self.rollups.accumulator.points(&converted.points),
            }
        }
        if seq <= self.durable.0 {
            return true;
        }
        let added = match &mut self.sink {
            Sink::Spans(index) => index.add_spans(&converted.spans, now),
            Sink::Logs(index) => index.add_logs(&converted.logs, now),
            Sink::Metrics { buffer, .. } => {
                buffer.extend(converted.points);
                Ok(())
            }
        };
        match added {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(signal = self.signal.as_str(), error = %e, "cannot index records; the index will be reopened and fed again from the write-ahead log");
                false
            }
        }
    }

    /// Reopens the index at its last commit and adds again, from the WAL,
    /// everything acknowledged since up to `through`.
    fn rebuild_index(&mut self, through: u64) -> Result<(), CommitFailure> {
        let part = self.part();
        let fail = |what: &str, e: &dyn std::fmt::Display| CommitFailure {
            part,
            reason: format!("{what}: {e}"),
        };
        let durable = match &self.sink {
            Sink::Spans(index) | Sink::Logs(index) => index
                .reopen()
                .map_err(|e| fail("cannot reopen the index", &e))?,
            Sink::Metrics { .. } => return Ok(()),
        };
        self.durable.0 = durable;
        let mut refeed = Vec::new();
        self.log
            .read(self.signal, durable, through, &mut |entry| {
                refeed.push(entry)
            })
            .map_err(|e| fail("cannot read the write-ahead log", &e))?;
        let records = refeed.len();
        for entry in refeed {
            let request = ExportRequest::decode_protobuf(entry.signal, &entry.payload)
                .map_err(|e| fail("undecodable write-ahead log record", &e))?;
            if !self.apply(entry.position, request, false) {
                return Err(fail("the index refused documents again", &"see the log"));
            }
        }
        tracing::info!(
            signal = self.signal.as_str(),
            from = durable,
            through,
            records,
            "index reopened at its last commit and fed again from the write-ahead log"
        );
        Ok(())
    }

    /// Commits the primary store, then the rollups; each records `seq`. A
    /// side that fails keeps what it had and is asked, before the next try,
    /// what it durably holds.
    fn commit(
        &mut self,
        seq: u64,
        now: u64,
        index_lost_work: &mut bool,
    ) -> Result<(), CommitFailure> {
        let part = self.part();
        if seq > self.durable.0 {
            if *index_lost_work {
                self.rebuild_index(seq)?;
                *index_lost_work = false;
            }
            let committed = match &mut self.sink {
                Sink::Spans(index) | Sink::Logs(index) => index.commit(seq, now),
                Sink::Metrics {
                    db, buffer, series, ..
                } => self
                    .runtime
                    .block_on(db.write_metrics_cached(buffer, seq, series)),
            };
            match committed {
                Ok(()) => {
                    if let Sink::Metrics {
                        buffer, arrivals, ..
                    } = &mut self.sink
                    {
                        arrivals.record(buffer.iter().map(|p| p.name.as_str()));
                        buffer.clear();
                    }
                    self.durable.0 = seq;
                }
                Err(e) => {
                    self.after_failed_primary_commit(seq, index_lost_work);
                    if self.durable.0 < seq {
                        return Err(CommitFailure {
                            part,
                            reason: format!("commit failed: {e}"),
                        });
                    }
                }
            }
        }
        if seq > self.durable.1 {
            self.rollups
                .commit(seq, &self.runtime)
                .map_err(|reason| CommitFailure {
                    part: self.signal.rollups_part(),
                    reason,
                })?;
            self.durable.1 = seq;
        }
        Ok(())
    }

    /// What a failed primary commit leaves: the metrics buffer is intact in
    /// memory (unless the transaction landed after all); an index may have
    /// lost its uncommitted documents, so it is rebuilt before the next try.
    fn after_failed_primary_commit(&mut self, seq: u64, index_lost_work: &mut bool) {
        match &mut self.sink {
            Sink::Spans(_) | Sink::Logs(_) => *index_lost_work = true,
            Sink::Metrics {
                db,
                buffer,
                arrivals,
                ..
            } => {
                let key = CheckpointKey::local(self.signal.store_sink());
                if let Ok(durable) = self.runtime.block_on(db.checkpoint_of(&key))
                    && durable >= seq
                {
                    arrivals.record(buffer.iter().map(|p| p.name.as_str()));
                    buffer.clear();
                    self.durable.0 = seq;
                }
            }
        }
    }

    /// Runs until the channel closes, then commits what it holds.
    fn run(mut self, rx: Receiver<Work>) {
        let i = self.signal.index();
        let mut last_seq = 0;
        let mut uncommitted_records = 0u64;
        let mut unreleased_bytes = 0u64;
        let mut next_commit = Instant::now() + self.commit_interval;
        let is_metrics = matches!(self.sink, Sink::Metrics { .. });
        let mut last_commit = Instant::now();
        let mut carried: Option<Work> = None;
        let mut index_lost_work = false;
        let mut failing: Option<&'static str> = None;
        loop {
            let wait = if uncommitted_records > 0 {
                let deadline = if is_metrics {
                    next_commit.min(last_commit + METRICS_MIN_COMMIT)
                } else {
                    next_commit
                };
                deadline.saturating_duration_since(Instant::now())
            } else {
                Duration::from_secs(3600)
            };
            let mut disconnected = false;
            let mut queue_empty = false;
            let received = match carried.take() {
                Some(work) => Ok(work),
                None => rx.recv_timeout(wait),
            };
            match received {
                Ok(work) => {
                    last_seq = work.position;
                    uncommitted_records += 1;
                    let bytes = work.bytes;
                    if !self.apply(work.position, work.request, true) {
                        index_lost_work = true;
                    }
                    if is_metrics {
                        unreleased_bytes += bytes;
                        match rx.try_recv() {
                            Ok(next) => carried = Some(next),
                            Err(TryRecvError::Empty) => queue_empty = true,
                            Err(TryRecvError::Disconnected) => disconnected = true,
                        }
                    } else {
                        // The index's own heap bounds what it holds from here on.
                        self.telemetry
                            .pending_bytes
                            .fetch_sub(bytes, Ordering::AcqRel);
                    }
                }
                Err(RecvTimeoutError::Timeout) => queue_empty = true,
                Err(RecvTimeoutError::Disconnected) => disconnected = true,
            }
            // Replayed data is committed as soon as the worker reaches its end,
            // so readiness does not wait for the commit interval.
            let replay_end =
                last_seq > 0 && last_seq == self.progress.replayed[i].load(Ordering::Acquire);
            let drained =
                is_metrics && queue_empty && Instant::now() >= last_commit + METRICS_MIN_COMMIT;
            // Points hold their share of the ingest budget until written: a
            // batch that grew to a quarter of it is written now, before the
            // budget fills and exporters are turned away while the
            // database waits for the interval.
            // (After a failed commit `last_commit` lies ahead: a full batch
            // waits for the retry like any other.)
            let full = is_metrics
                && unreleased_bytes >= self.metrics_commit_bytes
                && Instant::now() >= last_commit;
            let due = Instant::now() >= next_commit || replay_end || drained || full;
            if uncommitted_records > 0 && (due || disconnected) {
                let now = now_unix_nanos();
                match self.commit(last_seq, now, &mut index_lost_work) {
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
                        if let Some(part) = failing.take() {
                            self.health.heal(part);
                        }
                    }
                    Err(failure) => {
                        self.telemetry
                            .commit_failures
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::error!(signal = self.signal.as_str(), part = failure.part, error = %failure.reason, "storage commit failed; exports of this signal are refused until it works again");
                        if let Some(previous) = failing.replace(failure.part)
                            && previous != failure.part
                        {
                            self.health.heal(previous);
                        }
                        self.health.fail(
                            failure.part,
                            Refuses::Signal(self.signal),
                            failure.reason,
                            now,
                        );
                    }
                }
                next_commit = Instant::now() + self.commit_interval;
                last_commit = Instant::now();
                if uncommitted_records > 0 {
                    // Not even a drained queue retries sooner than this.
                    last_commit += COMMIT_RETRY;
                    // A failed commit is retried soon, whatever the interval.
                    next_commit = next_commit.min(Instant::now() + COMMIT_RETRY);
                }
            }
            if disconnected {
                break;
            }
        }
    }
}
