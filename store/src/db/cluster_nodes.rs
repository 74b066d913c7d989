//! Cluster mode's `cluster_nodes` table: each node's heartbeat with what it
//! owns and how far behind its consumers are, so any node can say what the
//! whole cluster is doing without asking the others.

use super::Database;
use super::sql::sql;
use crate::StoreError;
use crate::checkpoint::Sink;
use serde::{Deserialize, Serialize};

/// What a node says of itself at each heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Partitions it owns.
    pub partitions: Vec<u32>,
    /// Whether it evaluates the alert rules.
    pub leader: bool,
    /// Messages its consumers have still to read: (signal, partition, pending).
    pub lag: Vec<(String, u32, u64)>,
    /// How far behind its consumers read, in milliseconds: (signal,
    /// partition, ms). Every node refuses exports while one is past
    /// `cluster.max_indexing_lag`. Absent in rows of an older weir.
    #[serde(default)]
    pub behind_ms: Vec<(String, u32, u64)>,
}

/// One node's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    /// `cluster.node_id`.
    pub node_id: String,
    /// When it joined, Unix nanoseconds.
    pub started_at: u64,
    /// Its last heartbeat.
    pub seen_at: u64,
    /// What it said then.
    pub status: NodeStatus,
}

/// A partition's place in the catalog: its checkpoint and its splits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionCatalog {
    /// The sink: spans, logs or metrics.
    pub sink: Sink,
    /// The partition.
    pub partition: u32,
    /// The event-log position committed.
    pub checkpoint: u64,
    /// Splits listed.
    pub splits: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl Database {
    /// Records a node's heartbeat.
    pub async fn heartbeat(&self, row: &NodeRow) -> Result<(), StoreError> {
        let status = serde_json::to_string(&row.status).expect("a node status serializes");
        self.execute(
            sql("INSERT INTO cluster_nodes (node_id, started_at, seen_at, status) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (node_id) DO UPDATE SET started_at = excluded.started_at, \
                 seen_at = excluded.seen_at, status = excluded.status")
            .bind(row.node_id.as_str())
            .bind(row.started_at as i64)
            .bind(row.seen_at as i64)
            .bind(status),
        )
        .await?;
        Ok(())
    }

    /// Nodes heard from at or after `since`, by id.
    pub async fn cluster_nodes(&self, since: u64) -> Result<Vec<NodeRow>, StoreError> {
        let rows: Vec<(String, i64, i64, String)> = self
            .fetch_all(
                sql(
                    "SELECT node_id, started_at, seen_at, status FROM cluster_nodes \
                     WHERE seen_at >= $1 ORDER BY node_id",
                )
                .bind(since as i64),
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(node_id, started_at, seen_at, status)| NodeRow {
                node_id,
                started_at: started_at as u64,
                seen_at: seen_at as u64,
                status: serde_json::from_str(&status).unwrap_or_default(),
            })
            .collect())
    }

    /// Every partition's checkpoint, with the splits the catalog lists for
    /// it, by sink and partition.
    pub async fn partition_catalog(&self) -> Result<Vec<PartitionCatalog>, StoreError> {
        let rows: Vec<(String, i64, i64, i64, i64)> = self
            .fetch_all(sql(
                "SELECT c.sink, CAST(c.partition AS BIGINT), CAST(c.seq AS BIGINT), \
                 COALESCE((SELECT count(*) FROM splits s WHERE s.sink = c.sink AND s.partition = c.partition), 0), \
                 COALESCE((SELECT CAST(sum(bytes) AS BIGINT) FROM splits s WHERE s.sink = c.sink AND s.partition = c.partition), 0) \
                 FROM wal_checkpoints c ORDER BY c.sink, c.partition",
            ))
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(sink, partition, seq, splits, bytes)| {
                Some(PartitionCatalog {
                    sink: Sink::parse(&sink)?,
                    partition: partition as u32,
                    checkpoint: seq as u64,
                    splits: splits as u64,
                    bytes: bytes as u64,
                })
            })
            .collect())
    }
}
