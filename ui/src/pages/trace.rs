//! `/traces/{id}`: the waterfall as Jaeger draws it — one row per span
//! with its details inline, subtrees that fold, a time ruler, the critical
//! path marked, a failing span's message on its row, span links as chips
//! both ways, logs as marks on their span's bar — and the trace's logs.

use super::{problem, render};
use crate::Dashboard;
use crate::charts::graph::urlencode;
use crate::format::{clock, millis, timestamp};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use weir_core::{Attributes, LogRecord, TraceId};
use weir_query::trace::TreeSpan;

pub struct SpanRow {
    pub span_id: String,
    pub depth: usize,
    pub has_children: bool,
    pub critical: bool,
    /// The status message, or an exception event's type and message.
    pub error_message: String,
    /// Logs tied to the span: (position in %, what it says, error).
    pub log_marks: Vec<(String, String, bool)>,
    /// Spans of other traces linking here: (trace, span, label).
    pub linked_from: Vec<(String, String, String)>,
    pub name: String,
    pub kind: &'static str,
    pub service: String,
    pub service_href: String,
    pub indent: usize,
    pub error: bool,
    pub status: String,
    pub duration: String,
    pub offset: String,
    pub left: String,
    pub width: String,
    /// (key, value, correlatable, value url-encoded)
    pub attributes: Vec<(String, String, bool, String)>,
    pub events: Vec<(String, String)>,
    pub links: Vec<(String, String)>,
}

pub struct LogRow {
    pub time: String,
    pub service: String,
    pub severity: &'static str,
    pub error: bool,
    pub body: String,
    pub ids: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "trace.html")]
struct TracePage {
    nav: &'static str,
    trace_id: String,
    short: String,
    duration: String,
    started: String,
    ruler: Vec<(String, String)>,
    spans: Vec<SpanRow>,
    logs: Vec<LogRow>,
}

/// Why a span failed, in one line: its status message, else its first
/// exception event's type and message.
fn error_message(s: &weir_core::Span) -> String {
    if !s.status_message.is_empty() {
        return s.status_message.clone();
    }
    s.events
        .iter()
        .find(|e| e.name == "exception")
        .map(|e| {
            let get = |k: &str| e.attributes.get(k).map(|v| v.to_text()).unwrap_or_default();
            let (kind, message) = (get("exception.type"), get("exception.message"));
            match (kind.is_empty(), message.is_empty()) {
                (false, false) => format!("{kind}: {message}"),
                (true, false) => message,
                (false, true) => kind,
                (true, true) => "exception".into(),
            }
        })
        .unwrap_or_default()
}

/// Attribute keys whose values are worth following to the correlate view.
fn correlatable(key: &str) -> bool {
    key.ends_with(".id") || key.ends_with("_id") || key.ends_with(".key") || key == "record.id"
}

fn attributes(a: &Attributes) -> Vec<(String, String, bool, String)> {
    a.0.iter()
        .map(|(k, v)| {
            let text = v.to_text();
            let follow = correlatable(k) && v.as_str().is_some();
            (k.clone(), text.clone(), follow, urlencode(&text))
        })
        .collect()
}

pub fn log_row(l: &LogRecord) -> LogRow {
    LogRow {
        time: clock(l.time_unix_nano),
        service: l.service.clone(),
        severity: l.severity.as_str(),
        error: matches!(
            l.severity,
            weir_core::Severity::Error | weir_core::Severity::Fatal
        ),
        body: l.body.to_text(),
        ids: l
            .attributes
            .0
            .iter()
            .filter(|(k, v)| correlatable(k) && v.as_str().is_some())
            .map(|(k, v)| (k.clone(), v.to_text()))
            .collect(),
    }
}

/// Waterfall rows for spans already ordered parent before child, between
/// the trace's `start` and `end`.
fn rows(trace: &weir_query::trace::Trace, start: u64, end: u64) -> Vec<SpanRow> {
    let ordered = &trace.spans;
    let total = end.saturating_sub(start).max(1) as f64;
    let critical = crate::charts::waterfall::critical_path(ordered);
    let parents = crate::charts::waterfall::parents(ordered);
    let at = |t: u64| {
        format!(
            "{:.2}",
            (t.saturating_sub(start) as f64 / total * 100.0).min(100.0)
        )
    };
    ordered
        .iter()
        .map(|TreeSpan { depth, span: s }| {
            let offset = s.start_time_unix_nano.saturating_sub(start);
            let dur = s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano);
            let failed = weir_core::pipeline::span_failed(s);
            SpanRow {
                depth: *depth,
                has_children: parents.contains(&s.span_id),
                critical: critical.contains(&s.span_id),
                error_message: if failed {
                    error_message(s)
                } else {
                    String::new()
                },
                log_marks: trace
                    .logs
                    .iter()
                    .filter(|l| l.span_id == Some(s.span_id))
                    .map(|l| {
                        (
                            at(l.time_unix_nano),
                            format!(
                                "{} {}: {}",
                                clock(l.time_unix_nano),
                                l.severity.as_str(),
                                l.body.to_text()
                            ),
                            matches!(
                                l.severity,
                                weir_core::Severity::Error | weir_core::Severity::Fatal
                            ),
                        )
                    })
                    .collect(),
                linked_from: trace
                    .linked_from
                    .iter()
                    .filter(|l| l.to_span_id == s.span_id)
                    .map(|l| {
                        let hex = l.trace_id.to_hex();
                        let label = format!("{} {} ({})", l.service, l.name, &hex[..8]);
                        (hex, l.span_id.to_hex(), label)
                    })
                    .collect(),
                span_id: s.span_id.to_hex(),
                name: s.name.clone(),
                kind: s.kind.as_str(),
                service_href: urlencode(&s.service),
                service: s.service.clone(),
                indent: (*depth).min(12),
                error: failed,
                status: if s.status_message.is_empty() {
                    String::new()
                } else {
                    format!("{}: {}", s.status.as_str(), s.status_message)
                },
                duration: millis(Some(dur as f64 / 1e6)),
                offset: millis(Some(offset as f64 / 1e6)),
                left: format!("{:.2}", offset as f64 / total * 100.0),
                width: format!("{:.2}", (dur as f64 / total * 100.0).max(0.3)),
                attributes: attributes(&s.attributes),
                events: s
                    .events
                    .iter()
                    .map(|e| {
                        let attrs: Vec<String> = e
                            .attributes
                            .0
                            .iter()
                            .map(|(k, v)| format!("{k}={}", v.to_text()))
                            .collect();
                        (e.name.clone(), attrs.join(", "))
                    })
                    .collect(),
                links: s
                    .links
                    .iter()
                    .map(|l| (l.trace_id.to_hex(), l.span_id.to_hex()))
                    .collect(),
            }
        })
        .collect()
}

pub async fn page(State(d): State<Dashboard>, Path(id): Path<String>) -> Response {
    let Ok(trace_id) = TraceId::from_hex(id.trim()) else {
        return problem(
            StatusCode::BAD_REQUEST,
            format!("{id:?} is not a trace id: 32 hex digits"),
        );
    };
    let trace = match weir_query::trace::trace(&d.store, trace_id).await {
        Ok(t) => t,
        Err(e) => return problem(StatusCode::SERVICE_UNAVAILABLE, e),
    };
    let start = trace.start_time_unix_nano.unwrap_or(0);
    let end = trace.end_time_unix_nano.unwrap_or(start);
    let hex = trace_id.to_hex();
    render(&TracePage {
        nav: "search",
        short: hex[..8].to_string(),
        trace_id: hex,
        duration: millis(Some(end.saturating_sub(start) as f64 / 1e6)),
        started: timestamp(start),
        ruler: crate::charts::waterfall::ruler(end.saturating_sub(start)),
        spans: rows(&trace, start, end),
        logs: trace.logs.iter().map(log_row).collect(),
    })
}
