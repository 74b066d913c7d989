//! `/correlate?id=`: one id across components on a timeline, following span
//! links both ways.

use super::render;
use super::trace::{LogRow, log_row};
use crate::Dashboard;
use crate::charts::graph::urlencode;
use crate::format::{clock, millis, timestamp};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use std::collections::HashSet;
use weir_query::correlate::Relation;
use weir_query::search::Record;

#[derive(Deserialize)]
pub struct Params {
    pub id: Option<String>,
}

pub struct TimelineSpan {
    pub name: String,
    pub service: String,
    pub service_href: String,
    pub error: bool,
    pub matched: bool,
    pub duration: String,
    pub at: String,
    pub left: String,
    pub width: String,
}

pub struct TimelineTrace {
    pub trace_id: String,
    pub short: String,
    /// `direct`, `batch` or `linked`.
    pub relation: &'static str,
    /// What the relation means, in words.
    pub relation_words: String,
    pub logs: usize,
    pub spans: Vec<TimelineSpan>,
}

#[derive(Template)]
#[template(path = "correlate.html")]
struct CorrelatePage {
    nav: &'static str,
    id: String,
    id_href: String,
    error: Option<String>,
    started: String,
    resolved: Option<String>,
    /// `2 spans and 1 log`.
    direct: String,
    /// (name, href, first seen, what carried the id, context)
    components: Vec<(String, String, String, String, String)>,
    traces: Vec<TimelineTrace>,
    logs: Vec<LogRow>,
}

pub async fn page(State(d): State<Dashboard>, Query(p): Query<Params>) -> Response {
    let id = p.id.unwrap_or_default().trim().to_string();
    let mut page = CorrelatePage {
        nav: "correlate",
        id_href: urlencode(&id),
        id: id.clone(),
        error: None,
        started: String::new(),
        resolved: None,
        direct: String::new(),
        components: Vec::new(),
        traces: Vec::new(),
        logs: Vec::new(),
    };
    if id.is_empty() {
        return render(&page);
    }
    let found = match weir_query::correlate::correlate(&d.store, &id, 0, u64::MAX).await {
        Ok(f) => f,
        Err(e) => {
            page.error = Some(e.to_string());
            return render(&page);
        }
    };
    let matched: HashSet<(String, String)> = found
        .matches
        .iter()
        .filter_map(|m| match m {
            Record::Span(s) => Some((s.trace_id.to_hex(), s.span_id.to_hex())),
            Record::Log(_) => None,
        })
        .collect();
    let all = found
        .traces
        .iter()
        .flat_map(|t| t.spans.iter().map(|ts| &ts.span));
    let start = all
        .clone()
        .map(|s| s.start_time_unix_nano)
        .min()
        .unwrap_or(0);
    let end = all.map(|s| s.end_time_unix_nano).max().unwrap_or(start);
    let total = end.saturating_sub(start).max(1) as f64;
    for t in &found.traces {
        // A timeline, not a tree: spans in start order.
        let mut spans: Vec<&weir_core::Span> = t.spans.iter().map(|ts| &ts.span).collect();
        spans.sort_by_key(|s| s.start_time_unix_nano);
        let trace_hex = t.trace_id.to_hex();
        let (relation, relation_words) = match t.relation {
            Relation::Direct => ("direct", String::new()),
            Relation::Batch => (
                "batch",
                match t.shared_with {
                    0 => "the invocation that took the record".to_string(),
                    1 => "the batch that took the record, with 1 other record".to_string(),
                    n => format!("the batch that took the record, with {n} other records"),
                },
            ),
            Relation::Linked => (
                "linked",
                "linked from a span that carries the id".to_string(),
            ),
        };
        page.traces.push(TimelineTrace {
            short: trace_hex[..8].to_string(),
            relation,
            relation_words,
            logs: t.logs.len(),
            spans: spans
                .iter()
                .map(|s| {
                    let dur = s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano);
                    let offset = s.start_time_unix_nano.saturating_sub(start);
                    TimelineSpan {
                        name: s.name.clone(),
                        service_href: urlencode(&s.service),
                        service: s.service.clone(),
                        error: s.status == weir_core::StatusCode::Error,
                        matched: matched.contains(&(trace_hex.clone(), s.span_id.to_hex())),
                        duration: millis(Some(dur as f64 / 1e6)),
                        at: clock(s.start_time_unix_nano),
                        left: format!("{:.2}", offset as f64 / total * 100.0),
                        width: format!("{:.2}", (dur as f64 / total * 100.0).max(0.3)),
                    }
                })
                .collect(),
            trace_id: trace_hex,
        });
        page.logs.extend(t.logs.iter().map(log_row));
    }
    page.resolved = found.resolved_trace_id.map(|t| t.to_hex());
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    page.direct = format!(
        "{} and {}",
        plural(
            found.components.iter().map(|c| c.spans).sum(),
            "span",
            "spans"
        ),
        plural(found.components.iter().map(|c| c.logs).sum(), "log", "logs")
    );
    page.components = found
        .components
        .iter()
        .map(|c| {
            let carried = match (c.spans, c.logs) {
                (0, 0) => String::new(),
                (1, 0) => "1 span carries it".into(),
                (0, 1) => "1 log carries it".into(),
                (s, 0) => plural(s, "span", "spans") + " carry it",
                (0, l) => plural(l, "log", "logs") + " carry it",
                (s, l) => format!(
                    "{}, {} carry it",
                    plural(s, "span", "spans"),
                    plural(l, "log", "logs")
                ),
            };
            let context = match c.context_spans {
                0 => String::new(),
                n => plural(n, "span", "spans") + " of context",
            };
            (
                c.component.clone(),
                urlencode(&c.component),
                clock(c.first_seen_unix_nano),
                carried,
                context,
            )
        })
        .collect();
    page.started = timestamp(start);
    render(&page)
}
