//! Topology: the pipeline as a graph of components and the streams, queues
//! and topics between them.

use crate::ReadError;
use crate::components::Lag;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use weir_core::status::{FiringAlert, Status};
use weir_core::{Edge, EdgeRollup, HealthRollup, NodeKind};
use weir_store::Store;

/// The graph over a window: `GET /api/v1/topology`.
#[derive(Debug, Clone, Serialize)]
pub struct Topology {
    /// Window start, Unix nanoseconds, inclusive.
    pub from_unix_nano: u64,
    /// Window end, Unix nanoseconds, exclusive.
    pub to_unix_nano: u64,
    /// Components, then streams, each by name.
    pub nodes: Vec<Node>,
    /// The edges, in the order of their endpoints.
    pub edges: Vec<EdgeTraffic>,
}

/// A node: a component or a stream, queue or topic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// `component` or `stream`.
    pub kind: NodeKind,
    /// Its name.
    pub name: String,
    /// A component's figures; absent (not null) for a node known only from
    /// edges.
    #[serde(flatten)]
    pub health: Option<NodeHealth>,
}

/// What a component node says about its health.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeHealth {
    /// Invocations in the window.
    pub invocations: u64,
    /// errors / invocations; null without invocations.
    pub error_rate: Option<f64>,
    /// Lag peaks, one per unit seen.
    pub max_lag: Vec<Lag>,
    /// Its status now, and why: what colours the node.
    pub status: Status,
}

/// One end of an edge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Endpoint {
    /// `component` or `stream`.
    pub kind: NodeKind,
    /// Its name.
    pub name: String,
}

/// Traffic over one directed edge in the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EdgeTraffic {
    /// Where it starts.
    pub source: Endpoint,
    /// Where it ends.
    pub target: Endpoint,
    /// Spans that crossed it.
    pub count: u64,
    /// Of those, the ones whose receiving side failed.
    pub errors: u64,
    /// errors / count; null without traffic.
    pub error_rate: Option<f64>,
    /// Median delivery lag, ms; null without samples.
    pub delivery_lag_p50_ms: Option<f64>,
    /// p99 delivery lag, ms.
    pub delivery_lag_p99_ms: Option<f64>,
    /// How many delivery lags were measured.
    pub delivery_lag_samples: usize,
}

impl EdgeTraffic {
    /// An edge's figures from its traffic merged over the window.
    pub fn of(edge: &Edge, traffic: &EdgeRollup) -> Self {
        let lag = &traffic.delivery_lag_ms;
        EdgeTraffic {
            source: Endpoint {
                kind: edge.source_kind,
                name: edge.source.clone(),
            },
            target: Endpoint {
                kind: edge.target_kind,
                name: edge.target.clone(),
            },
            count: traffic.count,
            errors: traffic.errors,
            error_rate: (traffic.count > 0).then(|| traffic.errors as f64 / traffic.count as f64),
            delivery_lag_p50_ms: lag.quantile(0.5),
            delivery_lag_p99_ms: lag.quantile(0.99),
            delivery_lag_samples: lag.count(),
        }
    }
}

/// Every edge's traffic over minutes `[from, to)`.
pub async fn edges(store: &Arc<Store>, from: u64, to: u64) -> Result<Vec<EdgeTraffic>, ReadError> {
    let edges = store.db.topology(from, to).await?;
    Ok(edges.iter().map(|(e, t)| EdgeTraffic::of(e, t)).collect())
}

/// The pipeline graph over minutes `[from, to)`, components with their
/// status at `now`.
pub async fn topology(
    store: &Arc<Store>,
    from: u64,
    to: u64,
    firing: &[FiringAlert],
    now: u64,
) -> Result<Topology, ReadError> {
    let edges = edges(store, from, to).await?;
    let health = store.db.component_health(from, to).await?;
    let known = health
        .iter()
        .map(|(c, r)| (c.clone(), r.last_seen))
        .collect();
    let statuses = crate::status::statuses(store, &known, firing, now).await?;
    Ok(Topology {
        from_unix_nano: from,
        to_unix_nano: to,
        nodes: nodes(&health, &statuses, &edges),
        edges,
    })
}

/// Components with rollups carry their health; every other endpoint of an
/// edge is a bare node.
fn nodes(
    health: &BTreeMap<String, HealthRollup>,
    statuses: &BTreeMap<String, Status>,
    edges: &[EdgeTraffic],
) -> Vec<Node> {
    let mut nodes: BTreeMap<(NodeKind, &str), Node> = BTreeMap::new();
    for (name, h) in health {
        let status = statuses
            .get(name)
            .cloned()
            .unwrap_or_else(|| weir_core::status::assess(&BTreeMap::new(), h.last_seen, &[], 0));
        nodes.insert(
            (NodeKind::Component, name),
            Node {
                kind: NodeKind::Component,
                name: name.clone(),
                health: Some(NodeHealth {
                    invocations: h.invocations,
                    error_rate: h.error_rate(),
                    max_lag: Lag::of(h),
                    status,
                }),
            },
        );
    }
    for end in edges.iter().flat_map(|e| [&e.source, &e.target]) {
        nodes.entry((end.kind, &end.name)).or_insert_with(|| Node {
            kind: end.kind,
            name: end.name.clone(),
            health: None,
        });
    }
    nodes.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_known_only_from_edges_are_bare_nodes_after_the_components() {
        let edge = Edge {
            source_kind: NodeKind::Component,
            source: "producer".into(),
            target_kind: NodeKind::Stream,
            target: "clicks".into(),
        };
        let traffic = EdgeRollup {
            count: 4,
            errors: 1,
            ..Default::default()
        };
        let edges = [EdgeTraffic::of(&edge, &traffic)];
        assert_eq!(edges[0].error_rate, Some(0.25));
        assert_eq!(edges[0].delivery_lag_p99_ms, None);
        let health = BTreeMap::from([("zz-consumer".to_string(), HealthRollup::default())]);
        let nodes = nodes(&health, &BTreeMap::new(), &edges);
        let names: Vec<(&str, bool)> = nodes
            .iter()
            .map(|n| (n.name.as_str(), n.health.is_some()))
            .collect();
        assert_eq!(
            names,
            [
                ("producer", false),
                ("zz-consumer", true),
                ("clicks", false)
            ]
        );
    }
}
