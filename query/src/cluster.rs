//! The cluster's state: `GET /api/v1/cluster` and the dashboard's cluster
//! page. Read from PostgreSQL alone (each node's heartbeat, each
//! partition's checkpoint and splits), so every node answers the same.

use crate::ReadError;
use serde::Serialize;
use std::sync::Arc;
use weir_store::Store;

/// A node is listed while its last heartbeat is this recent.
pub const LIVE_WITHIN: u64 = 15 * 1_000_000_000;

/// `GET /api/v1/cluster`.
#[derive(Debug, Clone, Serialize)]
pub struct Cluster {
    /// Live nodes, by id; empty for a single embedded node.
    pub nodes: Vec<ClusterNode>,
    /// Each (signal, partition): its owner, checkpoint, splits and lag.
    pub partitions: Vec<PartitionState>,
}

/// One live node.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterNode {
    /// `cluster.node_id`.
    pub node_id: String,
    /// When it joined, Unix nanoseconds.
    pub started_at_unix_nano: u64,
    /// Its last heartbeat.
    pub seen_at_unix_nano: u64,
    /// Whether it evaluates the alert rules.
    pub rule_leader: bool,
    /// The partitions it owns.
    pub partitions: Vec<u32>,
}

/// One signal's partition.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionState {
    /// `spans`, `logs` or `metrics`.
    pub signal: String,
    /// The partition.
    pub partition: u32,
    /// The node that owns it, if a live node says so.
    pub owner: Option<String>,
    /// The event-log position its committed splits (or points) cover.
    pub checkpoint: u64,
    /// Splits the catalog lists for it.
    pub splits: u64,
    /// Their bytes.
    pub split_bytes: u64,
    /// Messages the owner has still to read, as of its last heartbeat.
    pub pending: Option<u64>,
    /// How far behind the owner reads, in milliseconds, as of its last
    /// heartbeat: past `cluster.max_indexing_lag`, exports are refused.
    pub indexing_lag_ms: Option<u64>,
}

/// The cluster as of `now`.
pub async fn cluster(store: &Arc<Store>, now: u64) -> Result<Cluster, ReadError> {
    let rows = store
        .db
        .cluster_nodes(now.saturating_sub(LIVE_WITHIN))
        .await?;
    // A single embedded node has checkpoints too, but no partitions to show.
    let catalog = if rows.is_empty() {
        Vec::new()
    } else {
        store.db.partition_catalog().await?
    };
    let partitions = catalog
        .into_iter()
        .filter(|c| !c.sink.is_rollups())
        .map(|c| {
            let signal = match c.sink.as_str() {
                "metrics" => "metric_points",
                s => s,
            };
            let owner = rows
                .iter()
                .find(|r| r.status.partitions.contains(&c.partition));
            let of_this = |reported: &[(String, u32, u64)]| {
                reported
                    .iter()
                    .find(|(s, p, _)| lag_signal(s) == c.sink.as_str() && *p == c.partition)
                    .map(|(_, _, n)| *n)
            };
            let pending = owner.and_then(|r| of_this(&r.status.lag));
            let indexing_lag_ms = owner.and_then(|r| of_this(&r.status.behind_ms));
            PartitionState {
                signal: signal.to_string(),
                partition: c.partition,
                owner: owner.map(|r| r.node_id.clone()),
                checkpoint: c.checkpoint,
                splits: c.splits,
                split_bytes: c.bytes,
                pending,
                indexing_lag_ms,
            }
        })
        .collect();
    Ok(Cluster {
        nodes: rows
            .into_iter()
            .map(|r| ClusterNode {
                node_id: r.node_id,
                started_at_unix_nano: r.started_at,
                seen_at_unix_nano: r.seen_at,
                rule_leader: r.status.leader,
                partitions: r.status.partitions,
            })
            .collect(),
        partitions,
    })
}

/// The sink a consumer's signal name (`spans`, `logs`, `metric_points`) feeds.
fn lag_signal(signal: &str) -> &str {
    match signal {
        "metric_points" => "metrics",
        s => s,
    }
}
