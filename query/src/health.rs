//! `GET /api/v1/components`: what every component did over a window.

use crate::error::{ApiError, ApiQuery};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use weir_core::pipeline::minute_of;
use weir_core::{HealthRollup, parse_duration};
use weir_store::Store;

#[derive(Deserialize)]
pub(crate) struct WindowParams {
    window: Option<String>,
}

impl WindowParams {
    pub(crate) fn window(&self) -> Option<String> {
        self.window.clone()
    }
}

/// The window a request asks for, as [from, to) minute bounds; default 15 minutes.
pub(crate) fn window_bounds(window: &Option<String>, now: u64) -> Result<(u64, u64), ApiError> {
    let window = match window.as_deref().map(str::trim) {
        None | Some("") => std::time::Duration::from_secs(15 * 60),
        Some(w) => parse_duration(w)?,
    };
    let from = minute_of(now.saturating_sub(window.as_nanos() as u64));
    Ok((from, minute_of(now) + 60_000_000_000))
}

#[derive(Serialize)]
struct Lag {
    value: f64,
    unit: &'static str,
}

#[derive(Serialize)]
struct ComponentHealth {
    component: String,
    invocations: u64,
    errors: u64,
    error_rate: Option<f64>,
    cold_starts: u64,
    cold_start_rate: Option<f64>,
    p50_ms: Option<f64>,
    p95_ms: Option<f64>,
    p99_ms: Option<f64>,
    init_p50_ms: Option<f64>,
    max_lag: Vec<Lag>,
    records: u64,
    last_seen_unix_nano: u64,
}

fn shape(component: String, r: &HealthRollup) -> ComponentHealth {
    let mut max_lag = Vec::new();
    if let Some(v) = r.max_lag_ms {
        max_lag.push(Lag {
            value: v,
            unit: "ms",
        });
    }
    if let Some(v) = r.max_lag_records {
        max_lag.push(Lag {
            value: v,
            unit: "records",
        });
    }
    ComponentHealth {
        component,
        invocations: r.invocations,
        errors: r.errors,
        error_rate: r.error_rate(),
        cold_starts: r.cold_starts,
        cold_start_rate: r.cold_start_rate(),
        p50_ms: r.duration_ms.quantile(0.5),
        p95_ms: r.duration_ms.quantile(0.95),
        p99_ms: r.duration_ms.quantile(0.99),
        init_p50_ms: r.init_duration_ms.quantile(0.5),
        max_lag,
        records: r.records,
        last_seen_unix_nano: r.last_seen,
    }
}

pub(crate) async fn components(
    State(store): State<Arc<Store>>,
    ApiQuery(p): ApiQuery<WindowParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let (from, to) = window_bounds(&p.window, now)?;
    let health = store.db.component_health(from, to).await?;
    let components: Vec<ComponentHealth> = health.into_iter().map(|(c, r)| shape(c, &r)).collect();
    Ok(Json(serde_json::json!({
        "from_unix_nano": from,
        "to_unix_nano": to,
        "components": components,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_whole_minutes_up_to_the_current_one() {
        let now = 10 * 60_000_000_000 + 5;
        assert_eq!(
            window_bounds(&Some("5m".into()), now).unwrap(),
            (5 * 60_000_000_000, 11 * 60_000_000_000)
        );
        assert!(window_bounds(&Some("soon".into()), now).is_err());
    }
}
