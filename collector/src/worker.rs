//! Storage workers: one thread per signal turns acknowledged requests into
//! core records, adds them to their store and to the health rollups, and
//! commits both every commit interval, each with the WAL position it covers.

use crate::health::HealthAccumulator;
use crate::ingest::{Progress, Work, now_nanos};
use crate::otlp::SignalKind;
use crate::otlp::convert::convert;
use crate::telemetry::Telemetry;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};
use weir_core::MetricPoint;
use weir_store::db::Database;
use weir_store::index::SignalIndex;

/// How soon a failed commit is tried again.
const COMMIT_RETRY: Duration = Duration::from_secs(1);
/// Metric points commit as soon as nothing more is queued, but no more often
/// than this: a SQL transaction is cheap and alert rules read the points, so
/// light traffic should not wait a whole commit interval; under load the
/// queue never drains and the interval batches as before.
const METRICS_MIN_COMMIT: Duration = Duration::from_millis(100);

/// Where a signal's records go.
pub enum Sink {
    /// The span index.
    Spans(Arc<SignalIndex>),
    /// The log index.
    Logs(Arc<SignalIndex>),
    /// Metric points in the database, buffered until the commit.
    Metrics {
        /// The database.
        db: Database,
        /// Points since the last commit.
        buffer: Vec<MetricPoint>,
    },
}

/// The rollup side of a worker.
pub struct RollupSink {
    /// Deltas since the last flush.
    pub health: HealthAccumulator,
    /// The database the rollups live in.
    pub db: Database,
    /// Its WAL checkpoint name (`rollups.spans`, …).
    pub checkpoint: &'static str,
    /// Off only to measure what rollups cost.
    pub enabled: bool,
}

/// One signal's worker.
pub struct StorageWorker {
    /// Which signal.
    pub signal: SignalKind,
    /// The primary store.
    pub sink: Sink,
    /// The rollups.
    pub rollups: RollupSink,
    /// WAL positions already in the primary store / in the rollups at start:
    /// replayed records at or below them are not applied again.
    pub applied: (u64, u64),
    /// Shared progress.
    pub progress: Arc<Progress>,
    /// Counters.
    pub telemetry: Arc<Telemetry>,
    /// How often to commit.
    pub commit_interval: Duration,
    /// For the database's async API from this thread.
    pub runtime: tokio::runtime::Handle,
}

impl StorageWorker {
    fn apply(&mut self, work: Work) {
        let now = now_nanos();
        let converted = convert(&work.request, now);
        drop(work.request);
        if self.rollups.enabled && work.seq > self.applied.1 {
            match self.signal {
                SignalKind::Traces => self.rollups.health.spans(&converted.spans),
                SignalKind::Logs => self.rollups.health.logs(&converted.logs),
                SignalKind::Metrics => self.rollups.health.points(&converted.points),
            }
        }
        if work.seq <= self.applied.0 {
            return;
        }
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
    }

    /// Commits the primary store, then the rollups; each records `seq`.
    fn commit(&mut self, seq: u64, now: u64) -> Result<(), String> {
        match &mut self.sink {
            Sink::Spans(index) | Sink::Logs(index) => {
                index.commit(seq, now).map_err(|e| e.to_string())?
            }
            Sink::Metrics { db, buffer } => {
                if !buffer.is_empty() || seq > self.applied.0 {
                    self.runtime
                        .block_on(db.write_metrics(buffer, seq))
                        .map_err(|e| e.to_string())?;
                    buffer.clear();
                }
            }
        }
        let rollups = &mut self.rollups;
        self.runtime
            .block_on(rollups.db.merge_rollups(
                &rollups.health.deltas,
                &rollups.health.edges,
                rollups.checkpoint,
                seq,
            ))
            .map_err(|e| e.to_string())?;
        rollups.health.deltas.clear();
        rollups.health.edges.clear();
        Ok(())
    }

    /// Runs until the channel closes, then commits what it holds.
    pub fn run(mut self, rx: Receiver<Work>) {
        let i = self.signal.index();
        let mut last_seq = 0;
        let mut uncommitted_records = 0u64;
        let mut unreleased_bytes = 0u64;
        let mut next_commit = Instant::now() + self.commit_interval;
        let is_metrics = matches!(self.sink, Sink::Metrics { .. });
        let mut last_commit = Instant::now();
        let mut carried: Option<Work> = None;
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
                    last_seq = work.seq;
                    uncommitted_records += 1;
                    let bytes = work.bytes;
                    self.apply(work);
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
            let due = Instant::now() >= next_commit || replay_end || drained;
            if uncommitted_records > 0 && (due || disconnected) {
                let now = now_nanos();
                match self.commit(last_seq, now) {
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
                        tracing::error!(signal = self.signal.as_str(), error = %e, "storage commit failed; retrying shortly");
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
