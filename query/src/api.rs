//! `/api/v1/...` routes: search, traces and metric points.

use crate::error::{ApiError, ApiQuery};
use crate::trace::assemble;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use weir_core::series;
use weir_core::{LogRecord, Span, TraceId, parse_time};
use weir_store::db::MetricQuery;
use weir_store::{SearchRequest, SearchSignal, Store, StoredRecord};

/// Default and largest page sizes of a search.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// The query API, over `store`.
pub fn router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/api/v1/search", get(search))
        .route("/api/v1/traces/{trace_id}", get(trace))
        .route("/api/v1/metrics", get(metrics))
        .route("/api/v1/components", get(crate::health::components))
        .route("/api/v1/correlate/{id}", get(crate::correlate::correlate))
        .route("/api/v1/topology", get(crate::topology::topology))
        .with_state(store)
}

fn time_param(value: &Option<String>, default: u64) -> Result<u64, ApiError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some(v) => Ok(parse_time(v)?),
    }
}

#[derive(Deserialize)]
struct SearchParams {
    #[serde(default)]
    q: String,
    signal: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// A record as the API returns it: the signal, the time and the record.
#[derive(Serialize)]
#[serde(tag = "signal", rename_all = "lowercase")]
enum ApiRecord<'a> {
    Span(&'a Span),
    Log(&'a LogRecord),
}

fn api_record(r: &StoredRecord) -> ApiRecord<'_> {
    match r {
        StoredRecord::Span(s) => ApiRecord::Span(s),
        StoredRecord::Log(l) => ApiRecord::Log(l),
    }
}

async fn search(
    State(store): State<Arc<Store>>,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> Result<Json<Value>, ApiError> {
    let signal = match p.signal.as_deref().unwrap_or("all") {
        "spans" => SearchSignal::Spans,
        "logs" => SearchSignal::Logs,
        "all" | "" => SearchSignal::All,
        other => {
            return Err(ApiError::BadRequest(format!(
                "signal `{other}` is not one of spans, logs, all"
            )));
        }
    };
    let req = SearchRequest {
        query: p.q,
        signal,
        from: time_param(&p.from, 0)?,
        to: time_param(&p.to, u64::MAX)?,
        limit: crate::error::page_limit(p.limit, DEFAULT_LIMIT, MAX_LIMIT)?,
        cursor: p.cursor.filter(|c| !c.is_empty()),
    };
    let page = tokio::task::spawn_blocking(move || store.search(&req))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let hits: Vec<ApiRecord> = page.hits.iter().map(api_record).collect();
    Ok(Json(
        json!({ "hits": hits, "count": hits.len(), "next_cursor": page.next_cursor }),
    ))
}

/// A span in a trace, with its depth in the tree.
#[derive(Serialize)]
struct TreeSpan {
    depth: usize,
    #[serde(flatten)]
    span: Span,
}

async fn trace(
    State(store): State<Arc<Store>>,
    Path(trace_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = TraceId::from_hex(&trace_id)
        .map_err(|e| ApiError::BadRequest(format!("`{trace_id}` is not a trace id: {e}")))?;
    let (spans, mut logs) = tokio::task::spawn_blocking(move || store.trace(id))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    if spans.is_empty() && logs.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no trace {} is stored (yet)",
            id.to_hex()
        )));
    }
    logs.sort_by_key(|l| l.time_unix_nano);
    let tree: Vec<TreeSpan> = assemble(spans)
        .into_iter()
        .map(|(depth, span)| TreeSpan { depth, span })
        .collect();
    let services: Vec<&str> = {
        let mut s: Vec<&str> = tree.iter().map(|t| t.span.service.as_str()).collect();
        s.sort_unstable();
        s.dedup();
        s
    };
    let start = tree.iter().map(|t| t.span.start_time_unix_nano).min();
    let end = tree.iter().map(|t| t.span.end_time_unix_nano).max();
    Ok(Json(json!({
        "trace_id": id,
        "start_time_unix_nano": start,
        "end_time_unix_nano": end,
        "services": services,
        "span_count": tree.len(),
        "spans": tree,
        "logs": logs,
    })))
}

async fn metrics(
    State(store): State<Arc<Store>>,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let param = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let name = param("name").ok_or_else(|| {
        ApiError::BadRequest("name is required: /api/v1/metrics?name=<metric name>".into())
    })?;
    let matchers: Vec<(String, String)> = pairs
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.strip_prefix("match[")?.strip_suffix(']')?.to_string(),
                v.clone(),
            ))
        })
        .collect();
    let from = time_param(&param("from"), 0)?;
    let q = MetricQuery {
        name: name.clone(),
        service: param("service"),
        from,
        to: time_param(&param("to"), i64::MAX as u64)?,
        limit: param("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(100_000),
    };
    let points: Vec<_> = store
        .db
        .metric_points(&q)
        .await?
        .into_iter()
        .filter(|p| series::matches(p, &matchers))
        .collect();
    let Some(step) = param("step") else {
        return Ok(Json(
            json!({ "name": name, "count": points.len(), "points": points }),
        ));
    };
    let step = weir_core::parse_duration(&step)?.as_nanos() as u64;
    if step == 0 {
        return Err(ApiError::BadRequest("step must be longer than zero".into()));
    }
    let agg_name = param("agg").unwrap_or_else(|| "avg".into());
    let agg = series::Aggregate::parse(&agg_name).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "agg `{agg_name}` is not one of avg, max, min, sum, count, last, rate, p50, p95, p99"
        ))
    })?;
    // Buckets align to the step, from the first point when no start is given.
    let start = if from > 0 {
        from
    } else {
        points.first().map_or(0, |p| p.time_unix_nano / step * step)
    };
    let out: Vec<Value> = series::group(points)
        .iter()
        .map(|(key, pts)| {
            let values: Vec<Value> = series::aggregate(pts, start, step, agg)
                .into_iter()
                .map(|(t, v)| json!([t, v]))
                .collect();
            json!({
                "service": key.0,
                "attributes": series::key_attributes(key),
                "unit": pts.first().map(|p| p.unit.clone()).unwrap_or_default(),
                "kind": pts.first().map(|p| p.kind),
                "values": values,
            })
        })
        .collect();
    Ok(Json(
        json!({ "name": name, "step_ns": step, "agg": agg_name, "series": out }),
    ))
}
