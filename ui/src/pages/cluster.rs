//! `/cluster`: the nodes of a cluster, which partitions each owns, how far
//! each partition's owner has read, and its splits — what
//! `GET /api/v1/cluster` says, for people.

use super::render;
use crate::Dashboard;
use crate::format::{ago, timestamp};
use askama::Template;
use axum::extract::State;
use axum::response::Response;

pub struct NodeRow {
    pub node_id: String,
    pub leader: bool,
    pub partitions: String,
    pub started: String,
    pub seen: String,
}

pub struct PartitionRow {
    pub signal: String,
    pub partition: u32,
    pub owner: String,
    pub orphan: bool,
    pub checkpoint: u64,
    pub pending: String,
    pub lag: String,
    pub behind: bool,
    pub splits: u64,
    pub size: String,
}

#[derive(Template)]
#[template(path = "cluster.html")]
struct ClusterPage {
    nav: &'static str,
    error: Option<String>,
    nodes: Vec<NodeRow>,
    partitions: Vec<PartitionRow>,
}

/// Pending messages above which a partition's owner is shown as behind.
const BEHIND: u64 = 1000;
/// Indexing lag above which it is, in milliseconds: the default
/// `cluster.max_indexing_lag`, past which exports are refused.
const BEHIND_MS: u64 = 1000;

pub async fn page(State(d): State<Dashboard>) -> Response {
    let now = weir_core::now_unix_nanos();
    let mut page = ClusterPage {
        nav: "cluster",
        error: None,
        nodes: Vec::new(),
        partitions: Vec::new(),
    };
    match weir_query::cluster::cluster(&d.store, now).await {
        Ok(c) => {
            page.nodes = c
                .nodes
                .into_iter()
                .map(|n| NodeRow {
                    partitions: if n.partitions.is_empty() {
                        "none".into()
                    } else {
                        n.partitions
                            .iter()
                            .map(u32::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                    node_id: n.node_id,
                    leader: n.rule_leader,
                    started: timestamp(n.started_at_unix_nano),
                    seen: ago(n.seen_at_unix_nano, now),
                })
                .collect();
            page.partitions = c
                .partitions
                .into_iter()
                .map(|p| PartitionRow {
                    orphan: p.owner.is_none(),
                    owner: p.owner.unwrap_or_else(|| "no live owner".into()),
                    behind: p.pending.is_some_and(|n| n > BEHIND)
                        || p.indexing_lag_ms.is_some_and(|ms| ms > BEHIND_MS),
                    lag: p
                        .indexing_lag_ms
                        .map_or("—".into(), |ms| format!("{:.1} s", ms as f64 / 1000.0)),
                    pending: p.pending.map_or("—".into(), |n| n.to_string()),
                    signal: p.signal,
                    partition: p.partition,
                    checkpoint: p.checkpoint,
                    splits: p.splits,
                    size: mebibytes(p.split_bytes),
                })
                .collect();
        }
        Err(e) => page.error = Some(e.to_string()),
    }
    render(&page)
}

fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}
