//! What storage has durably committed: one write-ahead-log position per (sink, partition).
//!
//! Every sink the collector feeds from its WAL records how far it has
//! committed, in the same commit as the data: the span and log indexes in
//! their tantivy commit payloads, metrics and rollups in the database's
//! `wal_checkpoints` table. A [`CheckpointCatalog`] answers for all of them
//! behind one question, so nothing above it needs to know where a position
//! is kept. Today's single node is partition 0; a cluster mode splits the log
//! into partitions and asks the same question per partition.

use crate::StoreError;
use std::future::Future;

/// A consumer of the write-ahead log that commits its own position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sink {
    /// The span index.
    Spans,
    /// The log index.
    Logs,
    /// Metric series and points in the database.
    Metrics,
    /// Health rollups and topology derived from spans.
    SpanRollups,
    /// Health rollups derived from log records.
    LogRollups,
    /// Health rollups derived from metrics.
    MetricRollups,
}

impl Sink {
    /// Every sink.
    pub const ALL: [Sink; 6] = [
        Sink::Spans,
        Sink::Logs,
        Sink::Metrics,
        Sink::SpanRollups,
        Sink::LogRollups,
        Sink::MetricRollups,
    ];

    /// The name stored in `wal_checkpoints` and shown in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Sink::Spans => "spans",
            Sink::Logs => "logs",
            Sink::Metrics => "metrics",
            Sink::SpanRollups => "rollups.spans",
            Sink::LogRollups => "rollups.logs",
            Sink::MetricRollups => "rollups.metrics",
        }
    }

    /// The sink named `name`, as [`Sink::as_str`] spells it.
    pub fn parse(name: &str) -> Option<Sink> {
        Sink::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether this sink holds health rollups.
    pub fn is_rollups(self) -> bool {
        matches!(
            self,
            Sink::SpanRollups | Sink::LogRollups | Sink::MetricRollups
        )
    }
}

impl std::fmt::Display for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whose position: one sink's, in one partition of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckpointKey {
    /// The sink.
    pub sink: Sink,
    /// The log partition; 0 on a single node.
    pub partition: u32,
}

impl CheckpointKey {
    /// The single node's key for `sink`: partition 0.
    pub const fn local(sink: Sink) -> Self {
        CheckpointKey { sink, partition: 0 }
    }

    /// A number no other key shares: rollup rows are kept per writer (see
    /// `rollups.rs`), so writers of different keys never wait for each other.
    pub fn writer(&self) -> i64 {
        let sink = Sink::ALL.iter().position(|s| *s == self.sink).unwrap_or(0);
        i64::from(self.partition) * Sink::ALL.len() as i64 + sink as i64
    }
}

/// Answers how far storage has durably committed the log, per key.
pub trait CheckpointCatalog {
    /// The highest WAL sequence number whose records `key` has durably
    /// committed; 0 when it has committed none.
    fn committed(
        &self,
        key: &CheckpointKey,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_names_are_the_stored_ones() {
        let names: Vec<&str> = Sink::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "spans",
                "logs",
                "metrics",
                "rollups.spans",
                "rollups.logs",
                "rollups.metrics"
            ]
        );
        for s in Sink::ALL {
            assert_eq!(Sink::parse(s.as_str()), Some(s));
        }
        assert_eq!(Sink::parse("rollups"), None);
    }

    #[test]
    fn every_key_writes_its_own_rollup_rows() {
        let mut seen = std::collections::HashSet::new();
        for partition in 0..64 {
            for sink in Sink::ALL {
                let writer = CheckpointKey { sink, partition }.writer();
                assert!(writer >= 0, "negative writers are reserved for folded rows");
                assert!(seen.insert(writer), "{sink} {partition} shares {writer}");
            }
        }
    }
}
