//! `GET /api/v1/correlate/{id}`: everything one record or request touched.

use crate::error::{ApiError, ApiQuery};
use crate::trace::assemble;
use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use weir_core::parse_time;
use weir_store::{Store, StoredRecord};

#[derive(Deserialize)]
pub(crate) struct RangeParams {
    from: Option<String>,
    to: Option<String>,
}

fn bound(v: &Option<String>, default: u64) -> Result<u64, ApiError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some(t) => Ok(parse_time(t)?),
    }
}

#[derive(Default)]
struct Involvement {
    first: u64,
    last: u64,
    spans: usize,
    logs: usize,
}

pub(crate) async fn correlate(
    State(store): State<Arc<Store>>,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<RangeParams>,
) -> Result<Json<Value>, ApiError> {
    let id = id.trim().to_string();
    if id.is_empty() {
        return Err(ApiError::BadRequest(
            "an id is required: /api/v1/correlate/<id>".into(),
        ));
    }
    let (from, to) = (bound(&p.from, 0)?, bound(&p.to, u64::MAX)?);
    let lookup_id = id.clone();
    let found = tokio::task::spawn_blocking(move || store.correlate(&lookup_id, from, to))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;

    let mut components: BTreeMap<String, Involvement> = BTreeMap::new();
    let mut note = |service: &str, time: u64, span: bool| {
        let c = components
            .entry(service.to_string())
            .or_insert(Involvement {
                first: u64::MAX,
                ..Default::default()
            });
        c.first = c.first.min(time);
        c.last = c.last.max(time);
        if span { c.spans += 1 } else { c.logs += 1 }
    };
    let mut traces = Vec::new();
    for t in found.traces {
        for s in &t.spans {
            note(&s.service, s.start_time_unix_nano, true);
        }
        for l in &t.logs {
            note(&l.service, l.time_unix_nano, false);
        }
        let spans: Vec<Value> = assemble(t.spans)
            .into_iter()
            .map(|(depth, span)| {
                let mut v = serde_json::to_value(&span).expect("spans serialize");
                v["depth"] = json!(depth);
                v
            })
            .collect();
        traces.push(
            json!({ "trace_id": t.trace_id, "linked": t.linked, "spans": spans, "logs": t.logs }),
        );
    }
    for m in &found.matches {
        if let StoredRecord::Log(l) = m
            && l.trace_id.is_none()
        {
            note(&l.service, l.time_unix_nano, false);
        }
    }
    let mut ordered: Vec<(String, Involvement)> = components.into_iter().collect();
    ordered.sort_by_key(|(name, c)| (c.first, name.clone()));
    let components: Vec<Value> = ordered
        .into_iter()
        .map(|(name, c)| json!({"component": name, "first_seen_unix_nano": c.first, "last_seen_unix_nano": c.last, "spans": c.spans, "logs": c.logs}))
        .collect();
    let matches: Vec<Value> = found
        .matches
        .iter()
        .map(|m| match m {
            StoredRecord::Span(s) => {
                let mut v = serde_json::to_value(s).expect("spans serialize");
                v["signal"] = json!("span");
                v
            }
            StoredRecord::Log(l) => {
                let mut v = serde_json::to_value(l).expect("logs serialize");
                v["signal"] = json!("log");
                v
            }
        })
        .collect();
    Ok(Json(
        json!({ "id": id, "matches": matches, "components": components, "traces": traces }),
    ))
}
