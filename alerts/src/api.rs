//! `GET /api/v1/rules` and `GET /api/v1/alerts`.

use crate::engine::Engine;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;

/// The alerting routes.
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/alerts", get(alerts))
        .with_state(engine)
}

async fn rules(State(engine): State<Arc<Engine>>) -> Json<Value> {
    let status = engine.status();
    let active = engine.active();
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
                    let firing = active
                        .iter()
                        .filter(|a| a.rule == key && a.state.is_firing())
                        .count();
                    let pending = active
                        .iter()
                        .filter(|a| a.rule == key && !a.state.is_firing())
                        .count();
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
            json!({"name": g.name, "interval_s": g.interval.0.as_secs_f64(), "rules": rules})
        })
        .collect();
    Json(json!({ "groups": groups }))
}

async fn alerts(State(engine): State<Arc<Engine>>) -> Json<Value> {
    Json(json!({ "alerts": engine.active() }))
}
