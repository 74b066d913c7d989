//! The alerting API: `/api/v1/rules` (and its reload), `/api/v1/alerts`,
//! alert history, notification delivery, and `/api/v1/silences`.

mod bodies;

use crate::alerting::Alerting;
use crate::engine::RuleLoader;
use crate::silence::Matcher;
use crate::silence_service::SilencesError;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use bodies::*;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Clone)]
struct Api {
    alerting: Arc<Alerting>,
    loader: RuleLoader,
}

/// The alerting routes.
pub fn router(alerting: Arc<Alerting>, loader: RuleLoader) -> Router {
    Router::new()
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/rules/reload", post(reload))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/alerts/history", get(history))
        .route("/api/v1/notifications", get(notifications))
        .route("/api/v1/silences", get(silences).post(create_silence))
        .route("/api/v1/silences/{id}", delete(expire_silence))
        .with_state(Api { alerting, loader })
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    let body = ErrorBody {
        error: message.to_string(),
    };
    (status, Json(body)).into_response()
}

async fn rules(State(api): State<Api>) -> Json<RulesBody> {
    let engine = api.alerting.engine();
    let status = engine.status();
    let group_status = engine.group_status();
    let counts = engine.counts_by_rule();
    let groups = engine
        .groups()
        .iter()
        .map(|g| {
            let rules = g
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
                    RuleBody {
                        definition: r.definition(),
                        evaluation_ms: s.duration_ms,
                        firing,
                        kind: r.kind.as_str(),
                        last_error: s.error,
                        last_evaluation_unix_nano: s.last_evaluation,
                        name: r.alert.clone(),
                        pending,
                        state,
                    }
                })
                .collect();
            let gs = group_status.get(&g.name).cloned().unwrap_or_default();
            GroupBody {
                evaluation_ms: gs.duration_ms,
                interval_s: g.interval.0.as_secs_f64(),
                last_error: gs.error,
                last_evaluation_unix_nano: gs.last_evaluation,
                name: g.name.clone(),
                rules,
            }
        })
        .collect();
    Json(RulesBody {
        groups,
        last_reload: engine.reload_status(),
    })
}

async fn reload(State(api): State<Api>) -> Response {
    match api.alerting.engine().reload_with(&api.loader).await {
        Ok(count) => Json(ReloadedBody {
            rules: count,
            status: "reloaded",
        })
        .into_response(),
        Err(e) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("rules not reloaded, the previous rules keep running: {e}"),
        ),
    }
}

async fn alerts(State(api): State<Api>) -> Json<AlertsBody> {
    let stats = api.alerting.outbox().stats();
    let receivers = api
        .alerting
        .routing()
        .receivers
        .iter()
        .map(|r| ReceiverBody::new(r, stats.get(&r.name).cloned().unwrap_or_default()))
        .collect();
    let alerts = api
        .alerting
        .active()
        .into_iter()
        .map(AlertBody::from)
        .collect();
    Json(AlertsBody { alerts, receivers })
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
    match api.alerting.db().alert_history(limit).await {
        Ok(rows) => Json(HistoryBody {
            history: rows.into_iter().map(HistoryEntry::from).collect(),
        })
        .into_response(),
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
    match api.alerting.db().notifications(state, limit).await {
        Ok(rows) => Json(NotificationsBody {
            notifications: rows.into_iter().map(NotificationEntry::from).collect(),
        })
        .into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

async fn silences(State(api): State<Api>) -> Json<SilencesBody> {
    let now = api.alerting.now();
    let silences = api
        .alerting
        .silences()
        .list()
        .iter()
        .map(|s| SilenceBody::new(s, now))
        .collect();
    Json(SilencesBody { silences })
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
    let now = api.alerting.now();
    let (starts_at, ends_at) = match silence_span(&new, now) {
        Ok(span) => span,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match api
        .alerting
        .silences()
        .put(
            new.id,
            new.matchers,
            starts_at,
            ends_at,
            new.created_by,
            new.comment,
        )
        .await
    {
        Ok(s) => Json(CreatedBody {
            silence: SilenceBody::new(&s, now),
            silence_id: s.id,
        })
        .into_response(),
        Err(SilencesError::Invalid(e)) => error(StatusCode::BAD_REQUEST, e),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

async fn expire_silence(State(api): State<Api>, Path(id): Path<String>) -> Response {
    match api.alerting.silences().expire(&id).await {
        Ok(s) => Json(ExpiredBody {
            silence: SilenceBody::new(&s, api.alerting.now()),
        })
        .into_response(),
        Err(e @ SilencesError::Unknown(_)) => error(StatusCode::NOT_FOUND, e),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}
