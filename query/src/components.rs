//! Component health: what every component did over a window of minutes.

use crate::ReadError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use weir_core::HealthRollup;
use weir_core::pipeline::minute_of;
use weir_core::status::{FiringAlert, Status};
use weir_store::Store;

const MINUTE: u64 = 60_000_000_000;

/// The `[from, to)` minute bounds of a window ending now: from the minute
/// `window` ago through the current, still open, minute.
pub fn window_bounds(window: Duration, now: u64) -> (u64, u64) {
    let from = minute_of(now.saturating_sub(window.as_nanos() as u64));
    (from, minute_of(now) + MINUTE)
}

/// Every component over a window: `GET /api/v1/components`.
#[derive(Debug, Clone, Serialize)]
pub struct Components {
    /// Window start, Unix nanoseconds, inclusive.
    pub from_unix_nano: u64,
    /// Window end, Unix nanoseconds, exclusive.
    pub to_unix_nano: u64,
    /// The components, by name.
    pub components: Vec<ComponentHealth>,
}

/// A lag peak with its unit: time lag and record lag are never mixed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lag {
    /// The largest lag seen.
    pub value: f64,
    /// `ms` or `records`.
    pub unit: &'static str,
}

impl Lag {
    /// The lag peaks of a rollup, time lag first.
    pub fn of(r: &HealthRollup) -> Vec<Lag> {
        [(r.max_lag_ms, "ms"), (r.max_lag_records, "records")]
            .into_iter()
            .filter_map(|(v, unit)| v.map(|value| Lag { value, unit }))
            .collect()
    }
}

/// One component's health over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentHealth {
    /// The component.
    pub component: String,
    /// Invocations.
    pub invocations: u64,
    /// Failed invocations.
    pub errors: u64,
    /// errors / invocations; null without invocations.
    pub error_rate: Option<f64>,
    /// Cold starts.
    pub cold_starts: u64,
    /// cold starts / invocations; null without invocations.
    pub cold_start_rate: Option<f64>,
    /// Invocation duration quantiles, ms.
    pub p50_ms: Option<f64>,
    /// p95.
    pub p95_ms: Option<f64>,
    /// p99.
    pub p99_ms: Option<f64>,
    /// Median cold-start init duration, ms.
    pub init_p50_ms: Option<f64>,
    /// Lag peaks, one per unit seen.
    pub max_lag: Vec<Lag>,
    /// Records processed.
    pub records: u64,
    /// When it last sent anything, Unix nanoseconds.
    pub last_seen_unix_nano: u64,
    /// Its status now (the last few minutes and the alerts firing on it,
    /// whatever the window), and why.
    pub status: Status,
}

impl ComponentHealth {
    /// A component's figures from its rollup merged over the window, and
    /// its status now.
    pub fn of(component: String, r: &HealthRollup, status: Status) -> Self {
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
            max_lag: Lag::of(r),
            records: r.records,
            last_seen_unix_nano: r.last_seen,
            status,
        }
    }
}

/// Every component's health over minutes `[from, to)`, each with its
/// status at `now`; a component an alert fires on is listed even when the
/// window holds nothing of it.
pub async fn components(
    store: &Arc<Store>,
    from: u64,
    to: u64,
    firing: &[FiringAlert],
    now: u64,
) -> Result<Components, ReadError> {
    let mut health = store.db.component_health(from, to).await?;
    let known = health
        .iter()
        .map(|(c, r)| (c.clone(), r.last_seen))
        .collect();
    let mut statuses = crate::status::statuses(store, &known, firing, now).await?;
    for alert in firing {
        health.entry(alert.component.clone()).or_default();
    }
    Ok(Components {
        from_unix_nano: from,
        to_unix_nano: to,
        components: health
            .into_iter()
            .map(|(c, r)| {
                let status = statuses.remove(&c).unwrap_or_else(|| {
                    weir_core::status::assess(&BTreeMap::new(), r.last_seen, &[], now)
                });
                ComponentHealth::of(c, &r, status)
            })
            .collect(),
    })
}

/// Each component's rollup per minute, keyed by component then minute start.
pub type Minutes = BTreeMap<String, BTreeMap<u64, HealthRollup>>;

/// Per-minute rollups in `[from, to)`, of one component or of all: what
/// sparklines and charts draw.
pub async fn minutes(
    store: &Arc<Store>,
    component: Option<&str>,
    from: u64,
    to: u64,
) -> Result<Minutes, ReadError> {
    Ok(store.db.component_minutes(component, from, to).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_whole_minutes_up_to_the_current_one() {
        let now = 10 * MINUTE + 5;
        assert_eq!(
            window_bounds(Duration::from_secs(300), now),
            (5 * MINUTE, 11 * MINUTE)
        );
        assert_eq!(window_bounds(Duration::from_secs(3600), now).0, 0);
    }

    #[test]
    fn lag_keeps_its_unit_time_first() {
        let r = HealthRollup {
            max_lag_ms: Some(1500.0),
            max_lag_records: Some(42.0),
            ..Default::default()
        };
        assert_eq!(
            Lag::of(&r),
            [
                Lag {
                    value: 1500.0,
                    unit: "ms"
                },
                Lag {
                    value: 42.0,
                    unit: "records"
                }
            ]
        );
        let status = weir_core::status::assess(&BTreeMap::new(), 0, &[], 0);
        let c = ComponentHealth::of("c".into(), &HealthRollup::default(), status);
        assert_eq!((c.error_rate, c.max_lag.len()), (None, 0));
    }
}
