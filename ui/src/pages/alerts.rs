//! `/alerts`: rules with state and last evaluation, firing and pending
//! alerts, history, silences (create and expire) and webhook delivery.

use super::{problem, render};
use crate::Dashboard;
use crate::charts::graph::urlencode;
use crate::format::{ago, timestamp};
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use weir_core::now_unix_nanos as now_nanos;

#[derive(Deserialize)]
pub struct Params {
    pub message: Option<String>,
    pub error: Option<String>,
}

pub struct ActiveLine {
    /// The component's page over a window that shows when it started.
    pub chart_href: String,
    pub state: String,
    pub silenced: bool,
    pub name: String,
    pub component: String,
    pub component_href: String,
    pub partition: Option<String>,
    pub summary: String,
    pub value: String,
    pub since: String,
}

pub struct RuleLine {
    pub group: String,
    pub name: String,
    pub kind: String,
    pub state: String,
    pub firing: usize,
    pub definition: String,
    pub last: String,
    pub took: String,
    pub error: Option<String>,
}

pub struct SilenceLine {
    pub id: String,
    pub state: String,
    pub matchers: String,
    pub until: String,
    pub created_by: String,
    pub comment: String,
}

pub struct HistoryLine {
    pub at: String,
    pub rule: String,
    pub component: String,
    pub transition: String,
    pub value: String,
}

pub struct ReceiverLine {
    pub name: String,
    pub delivered: u64,
    pub failed_attempts: u64,
    pub gave_up: u64,
    pub last_error: String,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    nav: &'static str,
    message: Option<String>,
    error: Option<String>,
    active: Vec<ActiveLine>,
    rules: Vec<RuleLine>,
    silences: Vec<SilenceLine>,
    durations: [&'static str; 5],
    history: Vec<HistoryLine>,
    receivers: Vec<ReceiverLine>,
}

fn value(v: Option<f64>, unit: weir_core::human::Unit) -> String {
    v.map(|v| weir_core::human::value(v, unit))
        .unwrap_or_else(|| "—".into())
}

/// The smallest of the windows the pages offer that reaches back to
/// `since` with a margin before it, so the chart shows the alert's start.
fn window_reaching(since: u64, now: u64) -> &'static str {
    let back = now.saturating_sub(since) + 5 * 60_000_000_000;
    super::WINDOWS
        .iter()
        .copied()
        .find(|w| weir_core::parse_duration(w).is_ok_and(|d| d.as_nanos() as u64 >= back))
        .unwrap_or(super::WINDOWS[super::WINDOWS.len() - 1])
}

pub async fn page(State(d): State<Dashboard>, Query(p): Query<Params>) -> Response {
    let now = now_nanos();
    let active = d
        .alerts
        .active()
        .into_iter()
        .map(|a| ActiveLine {
            chart_href: format!(
                "/components/{}?window={}",
                urlencode(&a.component),
                window_reaching(a.since, now)
            ),
            state: a.state,
            silenced: a.silenced,
            name: a.name,
            component_href: urlencode(&a.component),
            component: a.component,
            partition: a.partition,
            summary: a.summary,
            value: value(a.value, a.unit),
            since: format!("{} ({})", timestamp(a.since), ago(a.since, now)),
        })
        .collect();
    let rules = d
        .alerts
        .rules()
        .into_iter()
        .map(|r| RuleLine {
            group: r.group,
            name: r.name,
            kind: r.kind,
            state: r.state,
            firing: r.firing,
            definition: r.definition,
            last: ago(r.last_evaluation, now),
            took: format!("{:.1} ms", r.evaluation_ms),
            error: r.error,
        })
        .collect();
    let silences = d
        .alerts
        .silences()
        .into_iter()
        .map(|s| SilenceLine {
            id: s.id,
            state: s.state,
            matchers: s.matchers,
            until: timestamp(s.ends_at),
            created_by: s.created_by,
            comment: s.comment,
        })
        .collect();
    let history = d
        .alerts
        .history(100)
        .await
        .into_iter()
        .map(|h| HistoryLine {
            at: timestamp(h.at),
            rule: h.rule,
            component: h.component,
            transition: h.transition,
            value: value(h.value, h.unit),
        })
        .collect();
    let receivers = d
        .alerts
        .receivers()
        .into_iter()
        .map(|r| ReceiverLine {
            name: r.name,
            delivered: r.delivered,
            failed_attempts: r.failed_attempts,
            gave_up: r.gave_up,
            last_error: r.last_error.unwrap_or_default(),
        })
        .collect();
    render(&AlertsPage {
        nav: "alerts",
        message: p.message,
        error: p.error,
        active,
        rules,
        silences,
        durations: ["1h", "15m", "4h", "24h", "7d"],
        history,
        receivers,
    })
}

#[cfg(test)]
mod tests {
    use super::window_reaching;

    #[test]
    fn an_alerts_chart_window_reaches_back_past_its_start() {
        let now = 1_000 * 60_000_000_000;
        assert_eq!(window_reaching(now - 60_000_000_000, now), "15m");
        assert_eq!(window_reaching(now - 20 * 60_000_000_000, now), "1h");
    }
}

#[derive(Deserialize)]
pub struct NewSilence {
    pub label: String,
    pub value: String,
    pub duration: String,
    pub created_by: String,
    pub comment: String,
}

fn back(message: Result<String, String>) -> Response {
    let query = match message {
        Ok(m) => format!("message={}", urlencode(&m)),
        Err(e) => format!("error={}", urlencode(&e)),
    };
    Redirect::to(&format!("/alerts?{query}")).into_response()
}

pub async fn create_silence(State(d): State<Dashboard>, Form(f): Form<NewSilence>) -> Response {
    let Ok(duration) = weir_core::parse_duration(&f.duration) else {
        return problem(StatusCode::BAD_REQUEST, "the duration is not one like 1h");
    };
    let outcome = d
        .alerts
        .create_silence(
            vec![(f.label.trim().to_string(), f.value.trim().to_string())],
            duration,
            f.created_by,
            f.comment,
        )
        .await;
    back(outcome.map(|_| {
        format!(
            "Silenced {}={} for {}",
            f.label.trim(),
            f.value.trim(),
            f.duration
        )
    }))
}

pub async fn expire_silence(State(d): State<Dashboard>, Path(id): Path<String>) -> Response {
    let outcome = d.alerts.expire_silence(id).await;
    back(outcome.map(|()| "Silence expired".to_string()))
}
