//! `/api/v1/...` routes: each handler checks its parameters, calls one read
//! function and answers its struct as JSON.

mod params;

use crate::error::ApiError;
use crate::{cluster, components, correlate, metrics, search, topology, trace};
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use params::{ApiQuery, RangeParams, SearchParams, WindowParams};
use std::sync::Arc;
use weir_store::Store;

/// The query API, over `store`.
pub fn router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/api/v1/search", get(search))
        .route("/api/v1/traces/{trace_id}", get(trace))
        .route("/api/v1/metrics", get(metrics))
        .route("/api/v1/components", get(components))
        .route("/api/v1/correlate/{id}", get(correlate))
        .route("/api/v1/topology", get(topology))
        .route("/api/v1/cluster", get(cluster))
        .with_state(store)
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
    State(store): State<Arc<Store>>,
    ApiQuery(p): ApiQuery<WindowParams>,
) -> Result<Json<components::Components>, ApiError> {
    let (from, to) = p.bounds(weir_core::now_unix_nanos())?;
    Ok(Json(components::components(&store, from, to).await?))
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
    State(store): State<Arc<Store>>,
    ApiQuery(p): ApiQuery<WindowParams>,
) -> Result<Json<topology::Topology>, ApiError> {
    let (from, to) = p.bounds(weir_core::now_unix_nanos())?;
    Ok(Json(topology::topology(&store, from, to).await?))
}
