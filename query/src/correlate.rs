//! Correlation: everything one record or request touched, across components.

use crate::search::Record;
use crate::trace::{TreeSpan, tree};
use crate::{ReadError, blocking};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use weir_core::{LogRecord, SpanId, TraceId};
use weir_store::{Store, StoredRecord};

/// One id across components: `GET /api/v1/correlate/{id}`.
#[derive(Debug, Clone, Serialize)]
pub struct Correlation {
    /// The id asked for.
    pub id: String,
    /// The trace a short id (8 to 31 hex digits, as the pages show ids)
    /// stands for, when nothing carries it whole and one recent trace id
    /// starts with it; what follows is that trace's correlation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_trace_id: Option<TraceId>,
    /// Records whose trace id, span id or a string attribute equals the id,
    /// oldest first: what touched the record itself.
    pub matches: Vec<Record>,
    /// The components involved, in causal order: a component after the
    /// ones whose spans are its parents or that its spans link to, then by
    /// when it first saw the id.
    pub components: Vec<Involvement>,
    /// The traces of the matches, then the traces linked to them.
    pub traces: Vec<CorrelatedTrace>,
}

/// What one component did with the id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Involvement {
    /// The component.
    pub component: String,
    /// Its first span start or log time, Unix nanoseconds.
    pub first_seen_unix_nano: u64,
    /// Its last.
    pub last_seen_unix_nano: u64,
    /// Its spans that carry the id.
    pub spans: usize,
    /// Its logs that carry the id (with or without a trace).
    pub logs: usize,
    /// Its other spans shown for context: the rest of the matches' traces,
    /// and the batch invocations that took the record.
    pub context_spans: usize,
}

/// How a trace is related to the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// It holds records that carry the id.
    Direct,
    /// A span of it links into a direct trace: the invocation (often a
    /// batch) that consumed the record. Only its linking spans and the
    /// spans under them are kept.
    Batch,
    /// A span that carries the id links to it. Only the spans linked to
    /// are kept.
    Linked,
}

/// One trace in a correlation.
#[derive(Debug, Clone, Serialize)]
pub struct CorrelatedTrace {
    /// The trace.
    pub trace_id: TraceId,
    /// Reached through a span link rather than a direct match.
    pub linked: bool,
    /// How it is related to the id.
    pub relation: Relation,
    /// For a batch: how many other traces (other records) its kept spans
    /// link to besides the direct ones.
    pub shared_with: usize,
    /// Its spans (for linked and batch traces, only those the links touch),
    /// parent before child.
    pub spans: Vec<TreeSpan>,
    /// Its logs (for linked and batch traces, those of the kept spans).
    pub logs: Vec<LogRecord>,
}

/// Everything `id` touched in `[from, to]`, following span links both ways;
/// searched and assembled off the async executor.
pub async fn correlate(
    store: &Arc<Store>,
    id: &str,
    from: u64,
    to: u64,
) -> Result<Correlation, ReadError> {
    let store = store.clone();
    let id = id.to_string();
    blocking::run(move || {
        let mut found = store.correlate(&id, from, to)?;
        let mut resolved = None;
        if found.matches.is_empty() && is_short_hex(&id) {
            let now = weir_core::now_unix_nanos();
            let recent = now.saturating_sub(SHORT_ID_LOOKBACK);
            if let [only] = store.traces_with_prefix(
                &id,
                recent.max(from),
                to.min(now + SHORT_ID_LOOKBACK),
                2,
            )?[..]
            {
                found = store.correlate(&only.to_hex(), from, to)?;
                resolved = Some(only);
            }
        }
        let mut correlation = assemble(id, found);
        correlation.resolved_trace_id = resolved;
        Ok(correlation)
    })
    .await
}

/// How far back a short id is looked for: reading every split of a longer
/// range costs more than a pasted id from a page is worth.
const SHORT_ID_LOOKBACK: u64 = 24 * 3600 * 1_000_000_000;

/// 8 to 31 hex digits: a shortened trace id, as the pages show them.
fn is_short_hex(id: &str) -> bool {
    (8..32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The correlation from what the store found: pure.
fn assemble(id: String, found: weir_store::Correlation) -> Correlation {
    // Span ids are unique within a trace only.
    let matched: HashSet<(TraceId, SpanId)> = found
        .matches
        .iter()
        .filter_map(|m| match m {
            StoredRecord::Span(s) => Some((s.trace_id, s.span_id)),
            StoredRecord::Log(_) => None,
        })
        .collect();
    let direct: HashSet<TraceId> = found
        .traces
        .iter()
        .filter(|t| !t.linked)
        .map(|t| t.trace_id)
        .collect();
    // The spans that matched spans link to, in other traces.
    let link_targets: HashSet<(TraceId, SpanId)> = found
        .traces
        .iter()
        .filter(|t| !t.linked)
        .flat_map(|t| &t.spans)
        .filter(|s| matched.contains(&(s.trace_id, s.span_id)))
        .flat_map(|s| s.links.iter().map(|l| (l.trace_id, l.span_id)))
        .collect();
    let mut traces = Vec::with_capacity(found.traces.len());
    for t in found.traces {
        let links_into_direct =
            |s: &weir_core::Span| s.links.iter().any(|l| direct.contains(&l.trace_id));
        let relation = if !t.linked {
            Relation::Direct
        } else if t.spans.iter().any(links_into_direct) {
            Relation::Batch
        } else {
            Relation::Linked
        };
        let trace_id = t.trace_id;
        let keep = |s: &weir_core::Span| match relation {
            Relation::Direct => true,
            Relation::Batch => links_into_direct(s),
            Relation::Linked => link_targets.contains(&(trace_id, s.span_id)),
        };
        let spans: Vec<weir_core::Span> = if relation == Relation::Batch {
            with_descendants(t.spans, keep)
        } else {
            t.spans.into_iter().filter(|s| keep(s)).collect()
        };
        let kept: HashSet<SpanId> = spans.iter().map(|s| s.span_id).collect();
        // (Logs of this trace only, so its span ids suffice.)
        let logs: Vec<LogRecord> = t
            .logs
            .into_iter()
            .filter(|l| {
                relation == Relation::Direct || l.span_id.is_some_and(|s| kept.contains(&s))
            })
            .collect();
        let shared_with = if relation == Relation::Batch {
            spans
                .iter()
                .flat_map(|s| &s.links)
                .map(|l| l.trace_id)
                .filter(|t| !direct.contains(t))
                .collect::<HashSet<_>>()
                .len()
        } else {
            0
        };
        traces.push(CorrelatedTrace {
            trace_id: t.trace_id,
            linked: relation != Relation::Direct,
            relation,
            shared_with,
            spans: tree(spans),
            logs,
        });
    }
    let mut involved = Involvements::default();
    for m in &found.matches {
        match m {
            StoredRecord::Span(s) => involved.note(&s.service, s.start_time_unix_nano, Seen::Span),
            StoredRecord::Log(l) => involved.note(&l.service, l.time_unix_nano, Seen::Log),
        }
    }
    for s in traces.iter().flat_map(|t| &t.spans).map(|ts| &ts.span) {
        if !matched.contains(&(s.trace_id, s.span_id)) {
            involved.note(&s.service, s.start_time_unix_nano, Seen::Context);
        }
    }
    let components = involved.in_causal_order(&causes(&traces));
    // Traces follow the components' order: the producer's before the
    // consumer's, direct ones before those reached by links.
    let rank: HashMap<&str, usize> = components
        .iter()
        .enumerate()
        .map(|(i, c)| (c.component.as_str(), i))
        .collect();
    let first = |t: &CorrelatedTrace| {
        t.spans
            .iter()
            .map(|ts| {
                rank.get(ts.span.service.as_str())
                    .copied()
                    .unwrap_or(usize::MAX)
            })
            .min()
            .unwrap_or(usize::MAX)
    };
    traces.sort_by_cached_key(|t| (t.relation != Relation::Direct, first(t)));
    Correlation {
        id,
        resolved_trace_id: None,
        matches: found.matches.into_iter().map(Record::from).collect(),
        components,
        traces,
    }
}

/// The spans `keep` admits and every span under them: a batch's linking
/// span and the work it did with the records (the writes it made), which
/// is what happened to the record next.
fn with_descendants(
    spans: Vec<weir_core::Span>,
    keep: impl Fn(&weir_core::Span) -> bool,
) -> Vec<weir_core::Span> {
    let mut kept: HashSet<SpanId> = spans
        .iter()
        .filter(|s| keep(s))
        .map(|s| s.span_id)
        .collect();
    // Parents may come after their children in storage order: repeat until
    // nothing more joins (depth passes at most).
    loop {
        let before = kept.len();
        for s in &spans {
            if s.parent_span_id.is_some_and(|p| kept.contains(&p)) {
                kept.insert(s.span_id);
            }
        }
        if kept.len() == before {
            break;
        }
    }
    spans
        .into_iter()
        .filter(|s| kept.contains(&s.span_id))
        .collect()
}

/// (earlier component, later component) pairs the spans prove: a parent's
/// component before its child's, a linked-to span's before the linking one's.
fn causes(traces: &[CorrelatedTrace]) -> Vec<(String, String)> {
    let by_id: HashMap<(TraceId, SpanId), &str> = traces
        .iter()
        .flat_map(|t| &t.spans)
        .map(|ts| {
            (
                (ts.span.trace_id, ts.span.span_id),
                ts.span.service.as_str(),
            )
        })
        .collect();
    let mut out = Vec::new();
    for s in traces.iter().flat_map(|t| &t.spans).map(|ts| &ts.span) {
        let mut before = Vec::new();
        if let Some(p) = s.parent_span_id
            && let Some(parent) = by_id.get(&(s.trace_id, p))
        {
            before.push(*parent);
        }
        for l in &s.links {
            if let Some(linked) = by_id.get(&(l.trace_id, l.span_id)) {
                before.push(*linked);
            }
        }
        for b in before {
            if b != s.service {
                out.push((b.to_string(), s.service.clone()));
            }
        }
    }
    out
}

enum Seen {
    Span,
    Log,
    Context,
}

#[derive(Default)]
struct Involvements(BTreeMap<String, Involvement>);

impl Involvements {
    fn note(&mut self, service: &str, time: u64, seen: Seen) {
        let c = self
            .0
            .entry(service.to_string())
            .or_insert_with(|| Involvement {
                component: service.to_string(),
                first_seen_unix_nano: u64::MAX,
                last_seen_unix_nano: 0,
                spans: 0,
                logs: 0,
                context_spans: 0,
            });
        c.first_seen_unix_nano = c.first_seen_unix_nano.min(time);
        c.last_seen_unix_nano = c.last_seen_unix_nano.max(time);
        match seen {
            Seen::Span => c.spans += 1,
            Seen::Log => c.logs += 1,
            Seen::Context => c.context_spans += 1,
        }
    }

    /// A component after every component `causes` puts before it, then by
    /// first sight and name; clocks of different hosts disagree by tens of
    /// milliseconds, the spans' parents and links do not. A cycle falls
    /// back to first sight.
    fn in_causal_order(self, causes: &[(String, String)]) -> Vec<Involvement> {
        let mut left: Vec<Involvement> = self.0.into_values().collect();
        left.sort_by(|a, b| {
            (a.first_seen_unix_nano, &a.component).cmp(&(b.first_seen_unix_nano, &b.component))
        });
        let mut out = Vec::with_capacity(left.len());
        while !left.is_empty() {
            let waiting = |c: &Involvement| {
                causes.iter().any(|(before, after)| {
                    after == &c.component && left.iter().any(|l| &l.component == before)
                })
            };
            let next = left.iter().position(|c| !waiting(c)).unwrap_or(0);
            out.push(left.remove(next));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_come_in_the_order_they_first_saw_the_id() {
        let mut seen = Involvements::default();
        seen.note("consumer", 30, Seen::Span);
        seen.note("producer", 10, Seen::Span);
        seen.note("consumer", 50, Seen::Log);
        seen.note("auditor", 10, Seen::Log);
        let order = seen.in_causal_order(&[]);
        let names: Vec<&str> = order.iter().map(|c| c.component.as_str()).collect();
        assert_eq!(names, ["auditor", "producer", "consumer"]);
        assert_eq!(
            order[2],
            Involvement {
                component: "consumer".into(),
                first_seen_unix_nano: 30,
                last_seen_unix_nano: 50,
                spans: 1,
                logs: 1,
                context_spans: 0,
            }
        );
    }

    #[test]
    fn a_consumer_comes_after_its_producer_whatever_the_clocks_say() {
        let mut seen = Involvements::default();
        seen.note("consumer", 10, Seen::Context);
        seen.note("producer", 67, Seen::Span);
        seen.note("sink", 5, Seen::Context);
        let order = seen.in_causal_order(&[
            ("producer".into(), "consumer".into()),
            ("consumer".into(), "sink".into()),
        ]);
        let names: Vec<&str> = order.iter().map(|c| c.component.as_str()).collect();
        assert_eq!(names, ["producer", "consumer", "sink"]);
    }
}
