//! The collector's own counters, exposed through prometheus-client as a
//! collector read at scrape time, and the two helpers every `/metrics`
//! family of weir is written with.

use crate::otlp::SignalKind;
use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// The labels of one sample.
pub type Labels<'a> = Vec<(&'static str, &'a str)>;

/// Writes one counter family (`name` without `_total`, which the encoder adds).
pub fn counters<'a>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels<'a>, u64)>,
) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in samples {
        ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Writes one gauge family.
pub fn gauges<'a, V: EncodeGaugeValue + Copy + std::fmt::Debug>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels<'a>, V)>,
) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in samples {
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Counters and gauges of ingest.
#[derive(Default, Debug)]
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
}

impl Collector for Telemetry {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let per_signal = |values: &dyn Fn(SignalKind) -> u64| {
            SignalKind::ALL.map(|s| (vec![("signal", s.as_str())], values(s)))
        };
        counters(
            &mut e,
            "weir_accepted_records",
            "Records durably accepted, per signal.",
            per_signal(&|s| self.accepted_total(s)),
        )?;
        let rejected = self.rejected.lock().clone();
        counters(
            &mut e,
            "weir_rejected_records",
            "Records dropped by validation, per signal and reason.",
            rejected
                .iter()
                .map(|((signal, reason), n)| (vec![("signal", *signal), ("reason", *reason)], *n)),
        )?;
        let refused = self.refused.lock().clone();
        counters(
            &mut e,
            "weir_refused_requests",
            "Export requests refused whole, per signal and reason.",
            refused
                .iter()
                .map(|((signal, reason), n)| (vec![("signal", *signal), ("reason", *reason)], *n)),
        )?;
        gauges(
            &mut e,
            "weir_ingest_queue_bytes",
            "Accepted bytes not yet handed to storage.",
            [(vec![], load(&self.pending_bytes))],
        )?;
        gauges(
            &mut e,
            "weir_ingest_queue_records",
            "WAL records not yet committed to storage, per signal.",
            per_signal(&|s| load(&self.queued_records[s.index()])),
        )?;
        gauges(
            &mut e,
            "weir_wal_bytes",
            "Bytes of write-ahead log on disk.",
            [(vec![], load(&self.wal_bytes))],
        )?;
        counters(
            &mut e,
            "weir_storage_commit_failures",
            "Storage commits that failed; the data stays in the WAL.",
            [(vec![], load(&self.commit_failures))],
        )?;
        counters(
            &mut e,
            "weir_wal_append_failures",
            "WAL group commits that failed (write or fsync); their exports were refused.",
            [(vec![], load(&self.wal_failures))],
        )?;
        gauges(
            &mut e,
            "weir_wal_damaged_bytes",
            "WAL bytes found damaged at start: torn tails cut off, damage in the middle skipped.",
            [
                (vec![("where", "tail")], load(&self.wal_torn_bytes)),
                (vec![("where", "middle")], load(&self.wal_damaged_bytes)),
            ],
        )?;
        gauges(
            &mut e,
            "weir_last_commit_timestamp_seconds",
            "When each signal's data last became searchable (index freshness).",
            SignalKind::ALL.map(|s| {
                (
                    vec![("signal", s.as_str())],
                    load(&self.last_commit_nanos[s.index()]) as f64 / 1e9,
                )
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::prometheus_text;
    use prometheus_client::registry::Registry;

    #[derive(Debug)]
    struct Named(&'static str);

    impl Collector for Named {
        fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
            counters(
                &mut e,
                "weir_test",
                "A test.",
                [(vec![("receiver", self.0)], 1)],
            )
        }
    }

    fn exposition(collector: impl Collector) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(collector));
        let mut out = String::new();
        prometheus_text::encode(&mut out, &registry).unwrap();
        out
    }

    #[test]
    fn counters_keep_their_names_and_signal_labels() {
        let telemetry = Telemetry::default();
        telemetry.accepted(SignalKind::Logs, 7);
        telemetry.rejected(SignalKind::Traces, "bad trace id", 2);
        let text = exposition(std::sync::Arc::new(telemetry));
        assert!(
            text.contains("# TYPE weir_accepted_records_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("weir_accepted_records_total{signal=\"logs\"} 7\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "weir_rejected_records_total{signal=\"spans\",reason=\"bad trace id\"} 2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("weir_wal_damaged_bytes{where=\"tail\"} 0\n"),
            "{text}"
        );
    }

    #[test]
    fn label_values_with_quotes_backslashes_and_newlines_are_escaped() {
        let text = exposition(Named("team \"a\"\\b\nc"));
        assert!(
            text.contains("weir_test_total{receiver=\"team \\\"a\\\"\\\\b\\nc\"} 1\n"),
            "{text}"
        );
    }
}
