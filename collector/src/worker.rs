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

use crate::health::HealthAccumulator;
use crate::ingest::{Progress, Work, now_nanos};
use crate::otlp::convert::convert;
use crate::otlp::{ExportRequest, SignalKind};
use crate::storage_health::{Refuses, StorageHealth};
use crate::telemetry::Telemetry;
use crate::wal;
use std::path::PathBuf;
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
        /// Points since the last durable commit.
        buffer: Vec<MetricPoint>,
    },
}

/// The rollup side of a worker.
pub struct RollupSink {
    /// Deltas since the last durable flush.
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
    /// WAL positions durably in the primary store / in the rollups: records
    /// at or below them are not applied again.
    pub durable: (u64, u64),
    /// Shared progress.
    pub progress: Arc<Progress>,
    /// Counters.
    pub telemetry: Arc<Telemetry>,
    /// Faults, for refusing exports while this worker cannot commit.
    pub health: Arc<StorageHealth>,
    /// The write-ahead log, read again when the index lost uncommitted work.
    pub wal_dir: PathBuf,
    /// How often to commit.
    pub commit_interval: Duration,
    /// For the database's async API from this thread.
    pub runtime: tokio::runtime::Handle,
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
    fn apply(&mut self, seq: u64, request: &ExportRequest, rollups: bool) -> bool {
        let now = now_nanos();
        let converted = convert(request, now);
        if rollups && self.rollups.enabled && seq > self.durable.1 {
            match self.signal {
                SignalKind::Traces => self.rollups.health.spans(&converted.spans),
                SignalKind::Logs => self.rollups.health.logs(&converted.logs),
                SignalKind::Metrics => self.rollups.health.points(&converted.points),
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
        wal::read_range(&self.wal_dir, self.signal, durable, through, |r| {
            refeed.push(r)
        })
        .map_err(|e| fail("cannot read the write-ahead log", &e))?;
        let records = refeed.len();
        for record in refeed {
            let request = ExportRequest::decode_protobuf(record.signal, &record.payload)
                .map_err(|e| fail("undecodable write-ahead log record", &e))?;
            if !self.apply(record.seq, &request, false) {
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
                Sink::Metrics { db, buffer } => {
                    self.runtime.block_on(db.write_metrics(buffer, seq))
                }
            };
            match committed {
                Ok(()) => {
                    if let Sink::Metrics { buffer, .. } = &mut self.sink {
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
            let rollups = &mut self.rollups;
            let merged = self.runtime.block_on(rollups.db.merge_rollups(
                &rollups.health.deltas,
                &rollups.health.edges,
                rollups.checkpoint,
                seq,
            ));
            let landed = match merged {
                Ok(()) => true,
                // An error after COMMIT was sent may still have committed.
                Err(e) => match self
                    .runtime
                    .block_on(rollups.db.checkpoint(rollups.checkpoint))
                {
                    Ok(durable) if durable >= seq => true,
                    _ => {
                        return Err(CommitFailure {
                            part: self.signal.rollups_part(),
                            reason: format!("rollup commit failed: {e}"),
                        });
                    }
                },
            };
            if landed {
                rollups.health.deltas.clear();
                rollups.health.edges.clear();
                self.durable.1 = seq;
            }
        }
        Ok(())
    }

    /// What a failed primary commit leaves: the metrics buffer is intact in
    /// memory (unless the transaction landed after all); an index may have
    /// lost its uncommitted documents, so it is rebuilt before the next try.
    fn after_failed_primary_commit(&mut self, seq: u64, index_lost_work: &mut bool) {
        match &mut self.sink {
            Sink::Spans(_) | Sink::Logs(_) => *index_lost_work = true,
            Sink::Metrics { db, buffer } => {
                if let Ok(durable) = self.runtime.block_on(db.checkpoint("metrics"))
                    && durable >= seq
                {
                    buffer.clear();
                    self.durable.0 = seq;
                }
            }
        }
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
                    last_seq = work.seq;
                    uncommitted_records += 1;
                    let bytes = work.bytes;
                    if !self.apply(work.seq, &work.request, true) {
                        index_lost_work = true;
                    }
                    drop(work);
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
