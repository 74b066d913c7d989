//! The `wal_checkpoints` table: each database sink's committed WAL position, per (sink, partition).

use super::Database;
use super::sql::{Sql, Tx, sql};
use crate::StoreError;
use crate::checkpoint::{CheckpointKey, Sink};

fn select(key: &CheckpointKey) -> Sql<'static> {
    sql("SELECT seq FROM wal_checkpoints WHERE sink = $1 AND partition = $2")
        .bind(key.sink.as_str())
        .bind(i64::from(key.partition))
}

/// Records, inside the transaction that wrote the data, that `key` has
/// committed the WAL up to `seq`.
pub(super) fn record(key: &CheckpointKey, seq: u64) -> Sql<'static> {
    sql(
        "INSERT INTO wal_checkpoints (sink, partition, seq) VALUES ($1, $2, $3) \
         ON CONFLICT (sink, partition) DO UPDATE SET seq = excluded.seq",
    )
    .bind(key.sink.as_str())
    .bind(i64::from(key.partition))
    .bind(seq as i64)
}

fn seq(row: Option<(i64,)>) -> u64 {
    row.map_or(0, |(s,)| s.max(0) as u64)
}

/// The single node's key of a sink named as the collector names it.
pub(super) fn local_key(sink: &str) -> Result<CheckpointKey, StoreError> {
    Sink::parse(sink)
        .map(CheckpointKey::local)
        .ok_or_else(|| StoreError::UnknownSink(sink.to_string()))
}

impl Database {
    /// The WAL position the database holds for `key`, 0 if none. The span
    /// and log indexes keep theirs in the index:
    /// [`crate::checkpoint::CheckpointCatalog`] answers for every sink.
    pub async fn checkpoint_of(&self, key: &CheckpointKey) -> Result<u64, StoreError> {
        Ok(seq(self.fetch_optional(select(key)).await?))
    }

    /// The WAL position a sink (`metrics`, `rollups.spans`, …) has committed
    /// on this node, 0 if none.
    pub async fn checkpoint(&self, sink: &str) -> Result<u64, StoreError> {
        self.checkpoint_of(&local_key(sink)?).await
    }
}

impl Tx {
    /// The WAL position `key` has committed, as this transaction sees it.
    pub(super) async fn checkpoint_of(&mut self, key: &CheckpointKey) -> Result<u64, StoreError> {
        Ok(seq(self.fetch_optional(select(key)).await?))
    }
}
