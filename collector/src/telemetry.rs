//! The collector's own counters, rendered in the Prometheus text format.

use crate::otlp::SignalKind;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters and gauges of ingest.
#[derive(Default)]
pub struct Telemetry {
    accepted: [AtomicU64; 3],
    rejected: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    refused: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Encoded bytes accepted but not yet handed to storage.
    pub pending_bytes: AtomicU64,
    /// Records written to the WAL but not yet committed, per signal.
    pub queued_records: [AtomicU64; 3],
    /// Bytes of write-ahead log on disk.
    pub wal_bytes: AtomicU64,
    /// Storage commits that failed (the data stays in the WAL).
    pub commit_failures: AtomicU64,
    /// WAL group commits that failed (their requests were refused).
    pub wal_failures: AtomicU64,
    /// Bytes of torn WAL tails cut off at start.
    pub wal_torn_bytes: AtomicU64,
    /// Bytes of damaged WAL records skipped at start.
    pub wal_damaged_bytes: AtomicU64,
    /// Unix nanoseconds of the last successful commit, per signal.
    pub last_commit_nanos: [AtomicU64; 3],
}

impl Telemetry {
    /// Records accepted into the WAL.
    pub fn accepted(&self, signal: SignalKind, n: u64) {
        self.accepted[signal.index()].fetch_add(n, Ordering::Relaxed);
    }

    /// Records dropped by validation, per reason.
    pub fn rejected(&self, signal: SignalKind, reason: &'static str, n: u64) {
        *self
            .rejected
            .lock()
            .entry((signal.as_str(), reason))
            .or_default() += n;
    }

    /// Whole requests refused (bad body, overload, auth), per reason.
    pub fn refused(&self, signal: SignalKind, reason: &'static str) {
        *self
            .refused
            .lock()
            .entry((signal.as_str(), reason))
            .or_default() += 1;
    }

    /// Accepted records so far.
    pub fn accepted_total(&self, signal: SignalKind) -> u64 {
        self.accepted[signal.index()].load(Ordering::Relaxed)
    }

    /// Appends the Prometheus text exposition of every counter to `out`.
    pub fn render(&self, out: &mut String) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        header(
            out,
            "weir_accepted_records_total",
            "counter",
            "Records durably accepted, per signal.",
        );
        for s in SignalKind::ALL {
            let _ = writeln!(
                out,
                "weir_accepted_records_total{{signal=\"{}\"}} {}",
                s.as_str(),
                self.accepted_total(s)
            );
        }
        header(
            out,
            "weir_rejected_records_total",
            "counter",
            "Records dropped by validation, per signal and reason.",
        );
        for ((signal, reason), n) in self.rejected.lock().iter() {
            let _ = writeln!(
                out,
                "weir_rejected_records_total{{signal=\"{signal}\",reason=\"{reason}\"}} {n}"
            );
        }
        header(
            out,
            "weir_refused_requests_total",
            "counter",
            "Export requests refused whole, per signal and reason.",
        );
        for ((signal, reason), n) in self.refused.lock().iter() {
            let _ = writeln!(
                out,
                "weir_refused_requests_total{{signal=\"{signal}\",reason=\"{reason}\"}} {n}"
            );
        }
        header(
            out,
            "weir_ingest_queue_bytes",
            "gauge",
            "Accepted bytes not yet handed to storage.",
        );
        let _ = writeln!(out, "weir_ingest_queue_bytes {}", load(&self.pending_bytes));
        header(
            out,
            "weir_ingest_queue_records",
            "gauge",
            "WAL records not yet committed to storage, per signal.",
        );
        for s in SignalKind::ALL {
            let _ = writeln!(
                out,
                "weir_ingest_queue_records{{signal=\"{}\"}} {}",
                s.as_str(),
                load(&self.queued_records[s.index()])
            );
        }
        header(
            out,
            "weir_wal_bytes",
            "gauge",
            "Bytes of write-ahead log on disk.",
        );
        let _ = writeln!(out, "weir_wal_bytes {}", load(&self.wal_bytes));
        header(
            out,
            "weir_storage_commit_failures_total",
            "counter",
            "Storage commits that failed; the data stays in the WAL.",
        );
        let _ = writeln!(
            out,
            "weir_storage_commit_failures_total {}",
            load(&self.commit_failures)
        );
        header(
            out,
            "weir_wal_append_failures_total",
            "counter",
            "WAL group commits that failed (write or fsync); their exports were refused.",
        );
        let _ = writeln!(
            out,
            "weir_wal_append_failures_total {}",
            load(&self.wal_failures)
        );
        header(
            out,
            "weir_wal_damaged_bytes",
            "gauge",
            "WAL bytes found damaged at start: torn tails cut off, damage in the middle skipped.",
        );
        let _ = writeln!(
            out,
            "weir_wal_damaged_bytes{{where=\"tail\"}} {}",
            load(&self.wal_torn_bytes)
        );
        let _ = writeln!(
            out,
            "weir_wal_damaged_bytes{{where=\"middle\"}} {}",
            load(&self.wal_damaged_bytes)
        );
        header(
            out,
            "weir_last_commit_timestamp_seconds",
            "gauge",
            "When each signal's data last became searchable (index freshness).",
        );
        for s in SignalKind::ALL {
            let t = load(&self.last_commit_nanos[s.index()]) as f64 / 1e9;
            let _ = writeln!(
                out,
                "weir_last_commit_timestamp_seconds{{signal=\"{}\"}} {t:.3}",
                s.as_str()
            );
        }
    }
}

/// The `# HELP` and `# TYPE` lines of one metric family.
fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}
