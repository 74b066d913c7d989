//! `/`: firing alerts, the pipeline graph and every component's health.

use super::{render, window_options};
use crate::charts::graph::{Edge, Health, Node, pipeline_graph, urlencode};
use crate::charts::lines::sparkline;
use crate::format::{ago, lag, millis, percent, timestamp};
use crate::{Dashboard, Endpoints};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use std::collections::BTreeMap;
use weir_core::HealthRollup;
use weir_core::now_unix_nanos as now_nanos;
use weir_core::pipeline::minute_of;

const MINUTE: u64 = 60_000_000_000;

/// The page's range parameters.
pub type Params = super::RangeParams;

pub struct FiringLine {
    pub name: String,
    pub component: String,
    pub component_href: String,
    pub partition: Option<String>,
    pub summary: String,
    pub since: String,
    pub silenced: bool,
}

/// The firing alerts of one alertname.
pub struct FiringGroup {
    pub name: String,
    pub alerts: Vec<FiringLine>,
    /// The components it fires on, for the closed group's one line.
    pub components: String,
}

/// Firing alerts grouped by alertname, in first-seen order.
pub fn grouped(firing: Vec<FiringLine>) -> Vec<FiringGroup> {
    let mut groups: Vec<FiringGroup> = Vec::new();
    for line in firing {
        match groups.iter_mut().find(|g| g.name == line.name) {
            Some(g) => g.alerts.push(line),
            None => groups.push(FiringGroup {
                name: line.name.clone(),
                alerts: vec![line],
                components: String::new(),
            }),
        }
    }
    for g in &mut groups {
        let mut names: Vec<&str> = g.alerts.iter().map(|a| a.component.as_str()).collect();
        names.dedup();
        let shown = names.iter().take(3).copied().collect::<Vec<_>>().join(", ");
        g.components = if names.len() > 3 {
            format!("{shown} and {} more", names.len() - 3)
        } else {
            shown
        };
    }
    groups
}

pub struct ComponentLine {
    pub name: String,
    pub href: String,
    pub status: &'static str,
    pub status_words: &'static str,
    pub status_reason: String,
    pub invocations: u64,
    pub spark: String,
    pub error_rate: String,
    pub cold_rate: String,
    pub p99: String,
    pub lag: String,
    pub last_seen: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    nav: &'static str,
    windows: Vec<(&'static str, bool)>,
    range: super::Range,
    firing_count: usize,
    firing: Vec<FiringGroup>,
    graph: String,
    components: Vec<ComponentLine>,
    endpoints: Endpoints,
}

/// The firing alerts, as the overview and the component page list them.
pub fn firing(d: &Dashboard, component: Option<&str>) -> Vec<FiringLine> {
    let now = now_nanos();
    d.alerts
        .active()
        .into_iter()
        .filter(|a| a.state == "firing" && component.is_none_or(|c| c == a.component))
        .map(|a| FiringLine {
            component_href: urlencode(&a.component),
            name: a.name,
            component: a.component,
            partition: a.partition,
            summary: a.summary,
            since: format!("{} ({})", timestamp(a.since), ago(a.since, now)),
            silenced: a.silenced,
        })
        .collect()
}

/// The worst lag of a rollup in milliseconds, for colour; record lag does
/// not colour (its scale is the user's).
pub fn lag_text(r: &HealthRollup) -> String {
    let mut parts = Vec::new();
    if let Some(v) = r.max_lag_ms {
        parts.push(lag(v, "ms"));
    }
    if let Some(v) = r.max_lag_records {
        parts.push(lag(v, "records"));
    }
    if parts.is_empty() {
        "—".into()
    } else {
        parts.join(" · ")
    }
}

pub async fn page(State(d): State<Dashboard>, Query(p): Query<Params>) -> Response {
    let now = now_nanos();
    let range = match p.resolve("15m", now) {
        Ok(r) => r,
        Err(page) => return *page,
    };
    let from = minute_of(range.from);
    let to = minute_of(range.to.saturating_sub(1)) + MINUTE;
    let minutes = match weir_query::components::minutes(&d.store, None, from, to).await {
        Ok(m) => m,
        Err(e) => return super::problem(axum::http::StatusCode::SERVICE_UNAVAILABLE, e),
    };
    // The graph is a bonus on this page: without it the table still helps.
    let edges = weir_query::topology::edges(&d.store, from, to)
        .await
        .unwrap_or_default();

    let known = minutes
        .iter()
        .map(|(name, m)| {
            let seen = m.values().map(|r| r.last_seen).max().unwrap_or(0);
            (name.clone(), seen)
        })
        .collect();
    let statuses =
        match weir_query::status::statuses(&d.store, &known, &d.alerts.firing(), now).await {
            Ok(s) => s,
            Err(e) => return super::problem(axum::http::StatusCode::SERVICE_UNAVAILABLE, e),
        };

    let buckets = ((to - from) / MINUTE).clamp(1, 60);
    let bucket = ((to - from) / buckets).max(MINUTE);
    let mut components = Vec::new();
    let mut nodes = Vec::new();
    let mut merged: BTreeMap<&str, HealthRollup> = BTreeMap::new();
    for (name, per_minute) in &minutes {
        let mut total = HealthRollup::default();
        let mut spark = vec![0.0; buckets as usize];
        for (minute, r) in per_minute {
            total.merge(r);
            let i = ((minute.saturating_sub(from)) / bucket).min(buckets - 1) as usize;
            spark[i] += r.invocations as f64;
        }
        let status = statuses.get(name);
        let level = status.map_or(weir_core::status::Level::NoData, |s| s.level);
        let health = Health::of_status(level);
        let reason = status
            .and_then(|s| s.reasons.first())
            .cloned()
            .unwrap_or_default();
        nodes.push(Node {
            name: name.clone(),
            component: true,
            health,
            // The node shows the measure that coloured it.
            detail: if level > weir_core::status::Level::Healthy {
                reason.clone()
            } else {
                format!(
                    "{} inv · {} err",
                    crate::charts::compact(total.invocations as f64),
                    percent(total.error_rate())
                )
            },
        });
        components.push(ComponentLine {
            name: name.clone(),
            href: urlencode(name),
            status: level.class(),
            status_words: level.words(),
            status_reason: status.map(|s| s.reasons.join("; ")).unwrap_or_default(),
            invocations: total.invocations,
            spark: sparkline(
                &spark,
                90,
                22,
                &format!("invocations of {name} per interval"),
            ),
            error_rate: percent(total.error_rate()),
            cold_rate: percent(total.cold_start_rate()),
            p99: millis(total.duration_ms.quantile(0.99)),
            lag: lag_text(&total),
            last_seen: ago(total.last_seen, now),
        });
        merged.insert(name, total);
    }
    let mut graph_edges = Vec::new();
    for edge in &edges {
        for end in [&edge.source, &edge.target] {
            if end.kind != weir_core::NodeKind::Component
                && !nodes.iter().any(|n| n.name == end.name)
            {
                nodes.push(Node {
                    name: end.name.clone(),
                    component: false,
                    health: Health::of(None, edge.delivery_lag_p99_ms).max(Health::Ok),
                    detail: format!(
                        "{} · {}",
                        end.kind.as_str(),
                        crate::charts::compact(edge.count as f64)
                    ),
                });
            }
        }
        graph_edges.push(Edge {
            from: edge.source.name.clone(),
            to: edge.target.name.clone(),
            count: edge.count,
            health: Health::of(edge.error_rate, edge.delivery_lag_p99_ms),
        });
    }
    let firing_lines = firing(&d, None);
    let graph = pipeline_graph(&nodes, &graph_edges, &range.query);
    render(&Overview {
        nav: "overview",
        windows: window_options(range.window.as_deref().unwrap_or("")),
        range,
        firing_count: firing_lines.len(),
        firing: grouped(firing_lines),
        graph,
        components,
        endpoints: d.endpoints.clone(),
    })
}
