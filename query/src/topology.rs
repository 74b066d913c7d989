//! `GET /api/v1/topology`: the pipeline as a graph of components and the
//! streams, queues and topics between them.

use crate::error::{ApiError, ApiQuery};
use crate::health::{WindowParams, window_bounds};
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use weir_core::NodeKind;
use weir_store::Store;

pub(crate) async fn topology(
    State(store): State<Arc<Store>>,
    ApiQuery(p): ApiQuery<WindowParams>,
) -> Result<Json<Value>, ApiError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let (from, to) = window_bounds(&p.window(), now)?;
    let edges = store.db.topology(from, to).await?;
    let health = store.db.component_health(from, to).await?;

    let mut nodes: BTreeMap<(NodeKind, String), Value> = BTreeMap::new();
    for (name, h) in &health {
        let lag: Vec<Value> = [(h.max_lag_ms, "ms"), (h.max_lag_records, "records")]
            .into_iter()
            .filter_map(|(v, unit)| v.map(|v| json!({"value": v, "unit": unit})))
            .collect();
        nodes.insert(
            (NodeKind::Component, name.clone()),
            json!({"kind": "component", "name": name, "invocations": h.invocations, "error_rate": h.error_rate(), "max_lag": lag}),
        );
    }
    let mut out_edges = Vec::new();
    for (edge, traffic) in &edges {
        for (kind, name) in [
            (edge.source_kind, &edge.source),
            (edge.target_kind, &edge.target),
        ] {
            nodes
                .entry((kind, name.clone()))
                .or_insert_with(|| json!({"kind": kind.as_str(), "name": name}));
        }
        let lag = &traffic.delivery_lag_ms;
        out_edges.push(json!({
            "source": {"kind": edge.source_kind.as_str(), "name": edge.source},
            "target": {"kind": edge.target_kind.as_str(), "name": edge.target},
            "count": traffic.count,
            "errors": traffic.errors,
            "error_rate": (traffic.count > 0).then(|| traffic.errors as f64 / traffic.count as f64),
            "delivery_lag_p50_ms": lag.quantile(0.5),
            "delivery_lag_p99_ms": lag.quantile(0.99),
            "delivery_lag_samples": lag.count(),
        }));
    }
    Ok(Json(json!({
        "from_unix_nano": from,
        "to_unix_nano": to,
        "nodes": nodes.into_values().collect::<Vec<_>>(),
        "edges": out_edges,
    })))
}
