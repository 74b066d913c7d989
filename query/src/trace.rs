//! Traces: one trace's spans ordered as a tree, parent before child, and its logs.

use crate::{ReadError, blocking};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use weir_core::{LogRecord, Span, SpanId, TraceId};
use weir_store::Store;

/// A span in a trace, with its depth in the tree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TreeSpan {
    /// 0 for a root (or an orphan), parent's depth + 1 otherwise.
    pub depth: usize,
    /// The span; its fields sit beside `depth` in the JSON.
    #[serde(flatten)]
    pub span: Span,
}

/// A span of another trace that links into this one: a consumer's batch
/// that took a record this trace produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncomingLink {
    /// The linking span's trace.
    pub trace_id: TraceId,
    /// The linking span.
    pub span_id: SpanId,
    /// Its component.
    pub service: String,
    /// Its name.
    pub name: String,
    /// The span of this trace it links to.
    pub to_span_id: SpanId,
}

/// How many linking spans a trace lists.
const INCOMING_LINKS: usize = 200;

/// One trace: `GET /api/v1/traces/{trace_id}`.
#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    /// The trace.
    pub trace_id: TraceId,
    /// The earliest span start; null without spans.
    pub start_time_unix_nano: Option<u64>,
    /// The latest span end; null without spans.
    pub end_time_unix_nano: Option<u64>,
    /// The components its spans came from, sorted, each once.
    pub services: Vec<String>,
    /// How many spans `spans` holds.
    pub span_count: usize,
    /// The spans, parent before child (see [`assemble`]).
    pub spans: Vec<TreeSpan>,
    /// Its logs, oldest first.
    pub logs: Vec<LogRecord>,
    /// Spans of other traces that link to its spans, oldest first.
    pub linked_from: Vec<IncomingLink>,
}

impl Trace {
    /// Whether nothing of the trace is stored (yet).
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty() && self.logs.is_empty()
    }
}

/// Every stored span and log of `trace_id`, assembled off the async executor.
pub async fn trace(store: &Arc<Store>, trace_id: TraceId) -> Result<Trace, ReadError> {
    let store = store.clone();
    blocking::run(move || {
        let (spans, logs) = store.trace(trace_id)?;
        let mut trace = shape(trace_id, spans, logs);
        trace.linked_from = incoming(trace_id, store.spans_linking_to(trace_id, INCOMING_LINKS)?);
        Ok(trace)
    })
    .await
}

/// A trace from its stored spans and logs, in any order.
fn shape(trace_id: TraceId, spans: Vec<Span>, mut logs: Vec<LogRecord>) -> Trace {
    logs.sort_by_key(|l| l.time_unix_nano);
    let spans = tree(spans);
    let mut services: Vec<String> = spans.iter().map(|t| t.span.service.clone()).collect();
    services.sort_unstable();
    services.dedup();
    Trace {
        trace_id,
        start_time_unix_nano: spans.iter().map(|t| t.span.start_time_unix_nano).min(),
        end_time_unix_nano: spans.iter().map(|t| t.span.end_time_unix_nano).max(),
        services,
        span_count: spans.len(),
        spans,
        logs,
        linked_from: Vec::new(),
    }
}

/// The links into `trace_id` that `linking` spans hold, oldest first.
fn incoming(trace_id: TraceId, mut linking: Vec<Span>) -> Vec<IncomingLink> {
    linking.sort_by_key(|s| (s.start_time_unix_nano, s.span_id));
    linking
        .iter()
        .flat_map(|s| {
            s.links
                .iter()
                .filter(|l| l.trace_id == trace_id)
                .map(move |l| IncomingLink {
                    trace_id: s.trace_id,
                    span_id: s.span_id,
                    service: s.service.clone(),
                    name: s.name.clone(),
                    to_span_id: l.span_id,
                })
        })
        .collect()
}

/// [`assemble`], as [`TreeSpan`]s.
pub(crate) fn tree(spans: Vec<Span>) -> Vec<TreeSpan> {
    assemble(spans)
        .into_iter()
        .map(|(depth, span)| TreeSpan { depth, span })
        .collect()
}

/// Orders spans depth-first, each parent before its children and siblings by
/// start time, and returns each span with its depth. Spans whose parent is not
/// in the trace (not yet arrived, or sampled out) are treated as roots.
pub fn assemble(mut spans: Vec<Span>) -> Vec<(usize, Span)> {
    spans.sort_by_key(|s| (s.start_time_unix_nano, s.span_id));
    spans.dedup_by_key(|s| s.span_id);
    let ids: HashMap<SpanId, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id, i))
        .collect();
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match s.parent_span_id.and_then(|p| ids.get(&p)) {
            Some(&parent) if parent != i => children.entry(parent).or_default().push(i),
            _ => roots.push(i),
        }
    }
    let mut order = Vec::with_capacity(spans.len());
    let mut visited = vec![false; spans.len()];
    let mut stack: Vec<(usize, usize)> = roots.into_iter().rev().map(|i| (i, 0)).collect();
    while let Some((i, depth)) = stack.pop() {
        if std::mem::replace(&mut visited[i], true) {
            continue;
        }
        order.push((depth, i));
        if let Some(kids) = children.get(&i) {
            stack.extend(kids.iter().rev().map(|&k| (k, depth + 1)));
        }
    }
    // Spans caught in a parent cycle are unreachable from any root: keep them.
    for (i, seen) in visited.iter().enumerate() {
        if !seen {
            order.push((0, i));
        }
    }
    let mut slots: Vec<Option<Span>> = spans.into_iter().map(Some).collect();
    order
        .into_iter()
        .map(|(depth, i)| (depth, slots[i].take().expect("each span is placed once")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: u8, parent: Option<u8>, start: u64) -> Span {
        Span {
            start_time_unix_nano: start,
            end_time_unix_nano: start + 1,
            ..weir_core::fixtures::span(TraceId([1; 16]), id, parent, "svc", &format!("s{id}"))
        }
    }

    #[test]
    fn parents_come_before_children_in_depth_first_order() {
        // Arrival order is scrambled; children start before a later sibling.
        let spans = vec![
            span(4, Some(2), 40),
            span(3, Some(1), 30),
            span(1, None, 10),
            span(2, Some(1), 20),
        ];
        let order: Vec<(usize, String)> = assemble(spans)
            .into_iter()
            .map(|(d, s)| (d, s.name))
            .collect();
        assert_eq!(
            order,
            [
                (0, "s1".into()),
                (1, "s2".into()),
                (2, "s4".into()),
                (1, "s3".into())
            ]
        );
    }

    #[test]
    fn a_trace_knows_its_bounds_and_services_and_sorts_its_logs() {
        let mut late = span(2, Some(1), 50);
        late.service = "api".into();
        late.end_time_unix_nano = 90;
        let t = shape(TraceId([1; 16]), vec![late, span(1, None, 10)], vec![]);
        assert_eq!(t.start_time_unix_nano, Some(10));
        assert_eq!(t.end_time_unix_nano, Some(90));
        assert_eq!(t.services, ["api", "svc"]);
        assert_eq!((t.span_count, t.spans[1].depth), (2, 1));
        let empty = shape(TraceId([1; 16]), vec![], vec![]);
        assert!(empty.is_empty() && empty.start_time_unix_nano.is_none());
    }

    #[test]
    fn orphans_and_cycles_are_kept_as_roots() {
        let spans = vec![
            span(1, Some(9), 10),
            span(2, Some(3), 20),
            span(3, Some(2), 30),
        ];
        let out = assemble(spans);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].1.name, "s1");
    }
}
