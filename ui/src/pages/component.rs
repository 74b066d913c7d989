//! `/components/{name}`: one component over a window — charts, recent
//! errors and cold starts, each linking to its trace.

use super::overview::{FiringLine, firing, lag_text};
use super::{problem, render, window_options};
use crate::Dashboard;
use crate::charts::graph::urlencode;
use crate::charts::lines::{Series, line_chart};
use crate::format::{ago, clock, millis, percent};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::collections::BTreeMap;
use weir_core::human::Unit;
use weir_core::now_unix_nanos as now_nanos;
use weir_core::pipeline::{LagUnit, minute_of};
use weir_core::{HealthRollup, StatusCode as SpanStatus};
use weir_query::search::{Record, SearchRequest, SearchSignal};

const MINUTE: u64 = 60_000_000_000;

/// The page's range parameters.
pub type Params = super::RangeParams;

pub struct Totals {
    pub invocations: u64,
    pub error_rate: String,
    pub cold_starts: u64,
    pub cold_rate: String,
    pub durations: String,
    pub lag: String,
    pub last_seen: String,
}

pub struct SpanLine {
    pub time: String,
    pub name: String,
    pub message: String,
    pub init: String,
    pub duration: String,
    pub trace_id: String,
    pub trace_short: String,
}

#[derive(Template)]
#[template(path = "component.html")]
struct ComponentPage {
    nav: &'static str,
    name: String,
    href: String,
    status: &'static str,
    status_words: &'static str,
    status_reasons: Vec<String>,
    windows: Vec<(&'static str, bool)>,
    range: super::Range,
    firing: Vec<FiringLine>,
    totals: Totals,
    charts: Vec<String>,
    errors: Vec<SpanLine>,
    cold: Vec<SpanLine>,
}

async fn span_lines(d: &Dashboard, query: String, from: u64, to: u64) -> Vec<SpanLine> {
    let request = SearchRequest {
        query,
        signal: SearchSignal::Spans,
        from,
        to,
        limit: 20,
        cursor: None,
    };
    weir_query::search::search(&d.store, request)
        .await
        .map(|p| p.hits)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|h| match h {
            Record::Span(s) => Some(s),
            Record::Log(_) => None,
        })
        .map(|s| {
            let trace = s.trace_id.to_hex();
            let message = if s.status == SpanStatus::Error && !s.status_message.is_empty() {
                s.status_message.clone()
            } else {
                s.events
                    .iter()
                    .find(|e| e.name == "exception")
                    .and_then(|e| e.attributes.get_str("exception.message").map(String::from))
                    .unwrap_or_default()
            };
            let init = s
                .attributes
                .get("faas.init_duration")
                .map(|v| v.to_text())
                .and_then(|t| t.parse::<f64>().ok());
            SpanLine {
                time: clock(s.start_time_unix_nano),
                name: s.name.clone(),
                message,
                init: millis(init),
                duration: millis(Some(
                    s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano) as f64 / 1e6,
                )),
                trace_short: trace[..8].to_string(),
                trace_id: trace,
            }
        })
        .collect()
}

fn quote(name: &str) -> String {
    name.replace('\\', "\\\\").replace('"', "\\\"")
}

pub async fn page(
    State(d): State<Dashboard>,
    Path(name): Path<String>,
    Query(p): Query<Params>,
) -> Response {
    let now = now_nanos();
    let range = match p.resolve("1h", now) {
        Ok(r) => r,
        Err(page) => return *page,
    };
    let from = minute_of(range.from);
    let to = minute_of(range.to.saturating_sub(1)) + MINUTE;
    let minutes: BTreeMap<u64, HealthRollup> =
        match weir_query::components::minutes(&d.store, Some(&name), from, to).await {
            Ok(mut m) => m.remove(&name).unwrap_or_default(),
            Err(e) => return problem(StatusCode::SERVICE_UNAVAILABLE, e),
        };
    let mut total = HealthRollup::default();
    for r in minutes.values() {
        total.merge(r);
    }
    let series = |label: &str, f: &dyn Fn(&HealthRollup) -> Option<f64>| Series {
        name: label.to_string(),
        points: minutes
            .iter()
            .filter_map(|(m, r)| f(r).map(|v| (*m, v)))
            .collect(),
    };
    let mut charts = vec![
        line_chart(
            "Invocations, errors and cold starts per minute",
            Unit::Plain,
            &[
                series("invocations", &|r| Some(r.invocations as f64)),
                series("errors", &|r| Some(r.errors as f64)),
                series("cold starts", &|r| Some(r.cold_starts as f64)),
            ],
            from,
            to,
        ),
        line_chart(
            "Duration per minute",
            Unit::Millis,
            &[
                series("p50", &|r| r.duration_ms.quantile(0.5)),
                series("p95", &|r| r.duration_ms.quantile(0.95)),
                series("p99", &|r| r.duration_ms.quantile(0.99)),
            ],
            from,
            to,
        ),
        line_chart(
            "Cold versus warm: invocation p50 and cold-start init p50",
            Unit::Millis,
            &[
                series("warm p50", &|r| r.warm_duration_ms.quantile(0.5)),
                series("cold p50", &|r| r.cold_duration_ms.quantile(0.5)),
                series("init p50", &|r| r.init_duration_ms.quantile(0.5)),
            ],
            from,
            to,
        ),
    ];
    // Lag per partition, from the per-minute peaks the rollups keep: reading
    // raw lag points would cost time in proportion to how often they arrive.
    for (unit, title, suffix) in [
        (LagUnit::Ms, "Lag per partition (age)", Unit::Millis),
        (
            LagUnit::Records,
            "Lag per partition (records)",
            Unit::Records,
        ),
    ] {
        let mut lag_series: BTreeMap<&str, Vec<(u64, f64)>> = BTreeMap::new();
        for (minute, r) in &minutes {
            for (series, peak) in r.lag_series.iter().filter(|(_, p)| p.unit == unit) {
                lag_series
                    .entry(series)
                    .or_default()
                    .push((*minute, peak.max));
            }
        }
        if !lag_series.is_empty() {
            let series: Vec<Series> = lag_series
                .into_iter()
                .map(|(name, points)| Series {
                    name: name.to_string(),
                    points,
                })
                .collect();
            charts.push(line_chart(title, suffix, &series, from, to));
        }
    }
    let quoted = quote(&name);
    let errors = span_lines(
        &d,
        format!("service:\"{quoted}\" AND status:error"),
        from,
        now + MINUTE,
    )
    .await;
    let cold = span_lines(
        &d,
        format!("service:\"{quoted}\" AND attributes.faas.coldstart:true"),
        from,
        now + MINUTE,
    )
    .await;
    let known = [(name.clone(), total.last_seen)].into();
    let firing_now: Vec<_> = d
        .alerts
        .firing()
        .into_iter()
        .filter(|a| a.component == name)
        .collect();
    let status = match weir_query::status::statuses(&d.store, &known, &firing_now, now).await {
        Ok(mut s) => s.remove(&name),
        Err(e) => return super::problem(axum::http::StatusCode::SERVICE_UNAVAILABLE, e),
    };
    let level = status
        .as_ref()
        .map_or(weir_core::status::Level::NoData, |s| s.level);
    render(&ComponentPage {
        nav: "overview",
        href: urlencode(&name),
        status: level.class(),
        status_words: level.words(),
        status_reasons: status.map(|s| s.reasons).unwrap_or_default(),
        windows: window_options(range.window.as_deref().unwrap_or("")),
        range,
        firing: firing(&d, Some(&name)),
        totals: Totals {
            invocations: total.invocations,
            error_rate: percent(total.error_rate()),
            cold_starts: total.cold_starts,
            cold_rate: percent(total.cold_start_rate()),
            durations: format!(
                "{} / {} / {}",
                millis(total.duration_ms.quantile(0.5)),
                millis(total.duration_ms.quantile(0.95)),
                millis(total.duration_ms.quantile(0.99))
            ),
            lag: lag_text(&total),
            last_seen: ago(total.last_seen, now),
        },
        charts,
        errors,
        cold,
        name,
    })
}
