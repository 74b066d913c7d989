//! The alerting API: `/api/v1/rules` (and its reload), `/api/v1/alerts`,
//! alert history, notification delivery, and `/api/v1/silences`.

use crate::engine::{Engine, RuleLoader};
use crate::notifier::{NotifierError, now_nanos};
use crate::silence::{Matcher, Silence};
use crate::webhook::rfc3339;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Clone)]
struct Api {
    engine: Arc<Engine>,
    loader: RuleLoader,
}

/// The alerting routes.
pub fn router(engine: Arc<Engine>, loader: RuleLoader) -> Router {
    Router::new()
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/rules/reload", post(reload))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/alerts/history", get(history))
        .route("/api/v1/notifications", get(notifications))
        .route("/api/v1/silences", get(silences).post(create_silence))
        .route("/api/v1/silences/{id}", delete(expire_silence))
        .with_state(Api { engine, loader })
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

async fn rules(State(api): State<Api>) -> Json<Value> {
    let engine = &api.engine;
    let status = engine.status();
    let group_status = engine.group_status();
    let counts = engine.counts_by_rule();
    let groups: Vec<Value> = engine
        .groups()
        .iter()
        .map(|g| {
            let rules: Vec<Value> = g
                .rules
                .iter()
                .map(|r| {
                    let key = format!("{}/{}", g.name, r.alert);
                    let s = status.get(&key).cloned().unwrap_or_default();
                    let (firing, pending) = counts.get(&key).copied().unwrap_or_default();
                    let state = if firing > 0 {
                        "firing"
                    } else if pending > 0 {
                        "pending"
                    } else {
                        "inactive"
                    };
                    json!({
                        "name": r.alert,
                        "kind": r.kind.as_str(),
                        "state": state,
                        "firing": firing,
                        "pending": pending,
                        "last_evaluation_unix_nano": s.last_evaluation,
                        "evaluation_ms": s.duration_ms,
                        "last_error": s.error,
                    })
                })
                .collect();
            let gs = group_status.get(&g.name).cloned().unwrap_or_default();
            json!({
                "name": g.name,
                "interval_s": g.interval.0.as_secs_f64(),
                "last_evaluation_unix_nano": gs.last_evaluation,
                "evaluation_ms": gs.duration_ms,
                "last_error": gs.error,
                "rules": rules,
            })
        })
        .collect();
    Json(json!({ "groups": groups, "last_reload": engine.reload_status() }))
}

async fn reload(State(api): State<Api>) -> Response {
    match api.engine.reload_with(&api.loader).await {
        Ok(count) => Json(json!({ "status": "reloaded", "rules": count })).into_response(),
        Err(e) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("rules not reloaded, the previous rules keep running: {e}"),
        ),
    }
}

async fn alerts(State(api): State<Api>) -> Json<Value> {
    let notifier = api.engine.notifier();
    let stats = notifier.stats();
    let receivers: Vec<Value> = notifier
        .routing()
        .receivers
        .iter()
        .map(|r| {
            let s = stats.get(&r.name).cloned().unwrap_or_default();
            json!({
                "name": r.name,
                "url": r.url,
                "delivered": s.delivered,
                "failed_attempts": s.failed_attempts,
                "gave_up": s.gave_up,
                "last_error": s.last_error,
                "last_error_at": s.last_error_at.map(rfc3339),
            })
        })
        .collect();
    Json(json!({ "alerts": api.engine.active(), "receivers": receivers }))
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<usize>,
    state: Option<String>,
}

/// Most entries one page of history or notifications returns.
const MAX_LIMIT: usize = 1000;

/// The parameters, or what is wrong with them (answered as 400).
fn limit_params(q: Result<Query<Limit>, QueryRejection>) -> Result<(Limit, usize), String> {
    let Query(q) = q.map_err(|e| e.body_text())?;
    match q.limit {
        None => Ok((q, 100)),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok((q, n)),
        Some(n) => Err(format!("limit={n}: ask for 1 to {MAX_LIMIT} entries")),
    }
}

async fn history(State(api): State<Api>, q: Result<Query<Limit>, QueryRejection>) -> Response {
    let (_, limit) = match limit_params(q) {
        Ok(p) => p,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    match api.engine.store().db.alert_history(limit).await {
        Ok(rows) => {
            let entries: Vec<Value> = rows
                .into_iter()
                .map(|c| {
                    json!({
                        "rule": c.rule,
                        "component": c.component,
                        "partition": Some(c.partition).filter(|p| !p.is_empty()),
                        "transition": c.transition,
                        "value": c.value,
                        "at": rfc3339(c.at),
                        "at_unix_nano": c.at,
                    })
                })
                .collect();
            Json(json!({ "history": entries })).into_response()
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

async fn notifications(
    State(api): State<Api>,
    q: Result<Query<Limit>, QueryRejection>,
) -> Response {
    let (q, limit) = match limit_params(q) {
        Ok(p) => p,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let state = q.state.as_deref().filter(|s| !s.is_empty());
    if let Some(s) = state
        && !["pending", "delivered", "failed"].contains(&s)
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!("state={s:?}: use pending, delivered or failed"),
        );
    }
    match api.engine.store().db.notifications(state, limit).await {
        Ok(rows) => {
            let entries: Vec<Value> = rows
                .into_iter()
                .map(|n| {
                    json!({
                        "id": n.id,
                        "receiver": n.receiver,
                        "group_key": n.group_key,
                        "state": n.state,
                        "attempts": n.attempts,
                        "created_at": rfc3339(n.created_at),
                        "next_attempt_at": (n.state == "pending").then(|| rfc3339(n.next_attempt_at)),
                        "finished_at": n.finished_at.map(rfc3339),
                        "last_error": n.last_error,
                        "body": serde_json::from_str::<Value>(&n.body).unwrap_or(Value::Null),
                    })
                })
                .collect();
            Json(json!({ "notifications": entries })).into_response()
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

fn silence_json(s: &Silence, now: u64) -> Value {
    json!({
        "id": s.id,
        "matchers": s.matchers,
        "startsAt": rfc3339(s.starts_at),
        "endsAt": rfc3339(s.ends_at),
        "createdBy": s.created_by,
        "comment": s.comment,
        "updatedAt": rfc3339(s.updated_at),
        "status": { "state": s.state(now) },
    })
}

async fn silences(State(api): State<Api>) -> Json<Value> {
    let now = now_nanos();
    let all: Vec<Value> = api
        .engine
        .notifier()
        .silences()
        .iter()
        .map(|s| silence_json(s, now))
        .collect();
    Json(json!({ "silences": all }))
}

/// Alertmanager's `PostableSilence`, with `duration` as a shorthand for
/// `endsAt`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewSilence {
    id: Option<String>,
    matchers: Vec<Matcher>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    duration: Option<String>,
    created_by: String,
    comment: String,
}

fn parse_time(field: &str, text: &str) -> Result<u64, String> {
    weir_core::parse_time(text).map_err(|_| {
        format!("{field} = {text:?}: use RFC 3339 (2026-11-23T18:00:00Z) or Unix nanoseconds")
    })
}

/// When a new silence starts and ends.
fn silence_span(new: &NewSilence, now: u64) -> Result<(u64, u64), String> {
    let starts_at = match new.starts_at.as_deref() {
        Some(t) => parse_time("startsAt", t)?,
        None => now,
    };
    let ends_at = match (new.ends_at.as_deref(), new.duration.as_deref()) {
        (Some(t), None) => parse_time("endsAt", t)?,
        (None, Some(d)) => {
            let d = weir_core::parse_duration(d)
                .map_err(|_| format!("duration = {d:?}: write it like \"2h\""))?;
            starts_at.max(now).saturating_add(d.as_nanos() as u64)
        }
        _ => return Err("give either endsAt or duration".into()),
    };
    if ends_at <= now {
        return Err("endsAt is in the past".into());
    }
    Ok((starts_at, ends_at))
}

async fn create_silence(
    State(api): State<Api>,
    body: Result<Json<NewSilence>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(new) = match body {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("not a silence: {}", e.body_text()),
            );
        }
    };
    if new.created_by.trim().is_empty() || new.comment.trim().is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "createdBy and comment are required: say who silences and why",
        );
    }
    let now = now_nanos();
    let (starts_at, ends_at) = match silence_span(&new, now) {
        Ok(span) => span,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match api
        .engine
        .notifier()
        .put_silence(
            new.id,
            new.matchers,
            starts_at,
            ends_at,
            new.created_by,
            new.comment,
        )
        .await
    {
        Ok(s) => {
            Json(json!({ "silenceID": s.id, "silence": silence_json(&s, now) })).into_response()
        }
        Err(NotifierError::Silence(e)) => error(StatusCode::BAD_REQUEST, e),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

async fn expire_silence(State(api): State<Api>, Path(id): Path<String>) -> Response {
    match api.engine.notifier().expire_silence(&id).await {
        Ok(s) => Json(json!({ "silence": silence_json(&s, now_nanos()) })).into_response(),
        Err(e @ NotifierError::UnknownSilence(_)) => error(StatusCode::NOT_FOUND, e),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}
