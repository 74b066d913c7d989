//! `/api/v1/...` routes: each handler checks its parameters, calls one read
//! function and answers its struct as JSON.

mod params;

use crate::error::ApiError;
use crate::status::FiringAlerts;
use crate::{cluster, components, correlate, metrics, search, topology, trace};
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use params::{ApiQuery, RangeParams, SearchParams, WindowParams};
use std::sync::Arc;
use weir_store::Store;

/// What the handlers read: the store, and the alerts firing now for the
/// components' status.
#[derive(Clone)]
struct Reads {
    store: Arc<Store>,
    alerts: Arc<dyn FiringAlerts>,
}

impl axum::extract::FromRef<Reads> for Arc<Store> {
    fn from_ref(reads: &Reads) -> Arc<Store> {
        reads.store.clone()
    }
}

/// The query API, over `store`, with `alerts` for the components' status.
pub fn router(store: Arc<Store>, alerts: Arc<dyn FiringAlerts>) -> Router {
    Router::new()
        .route("/api/v1/search", get(search))
        .route("/api/v1/traces/{trace_id}", get(trace))
        .route("/api/v1/metrics", get(metrics))
        .route("/api/v1/components", get(components))
        .route("/api/v1/correlate/{id}", get(correlate))
        .route("/api/v1/topology", get(topology))
        .route("/api/v1/cluster", get(cluster))
        .with_state(Reads { store, alerts })
}

async fn search(
    State(store): State<Arc<Store>>,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> Result<Json<search::SearchResults>, ApiError> {
    Ok(Json(search::search(&store, p.request()?).await?))
}

async fn trace(
    State(store): State<Arc<Store>>,
    Path(trace_id): Path<String>,
) -> Result<Json<trace::Trace>, ApiError> {
    let id = params::trace_id(&trace_id)?;
    let found = trace::trace(&store, id).await?;
    if found.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no trace {} is stored (yet)",
            id.to_hex()
        )));
    }
    Ok(Json(found))
}

async fn metrics(
    State(store): State<Arc<Store>>,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Result<Json<metrics::Metrics>, ApiError> {
    Ok(Json(
        metrics::metrics(&store, params::metrics_request(&pairs)?).await?,
    ))
}

async fn cluster(State(store): State<Arc<Store>>) -> Result<Json<cluster::Cluster>, ApiError> {
    Ok(Json(
        cluster::cluster(&store, weir_core::now_unix_nanos()).await?,
    ))
}

async fn components(
    State(reads): State<Reads>,
    ApiQuery(p): ApiQuery<WindowParams>,
) -> Result<Json<components::Components>, ApiError> {
    let now = weir_core::now_unix_nanos();
    let (from, to) = p.bounds(now)?;
    let firing = reads.alerts.firing();
    Ok(Json(
        components::components(&reads.store, from, to, &firing, now).await?,
    ))
}

async fn correlate(
    State(store): State<Arc<Store>>,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<RangeParams>,
) -> Result<Json<correlate::Correlation>, ApiError> {
    let id = id.trim();
    if id.is_empty() {
        return Err(ApiError::BadRequest(
            "an id is required: /api/v1/correlate/<id>".into(),
        ));
    }
    let (from, to) = p.bounds()?;
    Ok(Json(correlate::correlate(&store, id, from, to).await?))
}

async fn topology(
    State(reads): State<Reads>,
    ApiQuery(p): ApiQuery<WindowParams>,
) -> Result<Json<topology::Topology>, ApiError> {
    let now = weir_core::now_unix_nanos();
    let (from, to) = p.bounds(now)?;
    let firing = reads.alerts.firing();
    Ok(Json(
        topology::topology(&reads.store, from, to, &firing, now).await?,
    ))
}
