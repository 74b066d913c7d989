//! Correlation: everything one record or request touched, across components.

use crate::search::Record;
use crate::trace::{TreeSpan, tree};
use crate::{ReadError, blocking};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use weir_core::{LogRecord, TraceId};
use weir_store::{Store, StoredRecord};

/// One id across components: `GET /api/v1/correlate/{id}`.
#[derive(Debug, Clone, Serialize)]
pub struct Correlation {
    /// The id asked for.
    pub id: String,
    /// Records whose trace id, span id or a string attribute equals the id,
    /// oldest first.
    pub matches: Vec<Record>,
    /// The components involved, in the order they first saw the id.
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
    /// Its spans in the correlated traces.
    pub spans: usize,
    /// Its logs: in the correlated traces, or matched directly without a trace.
    pub logs: usize,
}

/// One trace in a correlation.
#[derive(Debug, Clone, Serialize)]
pub struct CorrelatedTrace {
    /// The trace.
    pub trace_id: TraceId,
    /// Reached through a span link rather than a direct match.
    pub linked: bool,
    /// Its spans, parent before child.
    pub spans: Vec<TreeSpan>,
    /// Its logs.
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
        let found = store.correlate(&id, from, to)?;
        let mut components = Involvements::default();
        let mut traces = Vec::with_capacity(found.traces.len());
        for t in found.traces {
            for s in &t.spans {
                components.note(&s.service, s.start_time_unix_nano, true);
            }
            for l in &t.logs {
                components.note(&l.service, l.time_unix_nano, false);
            }
            traces.push(CorrelatedTrace {
                trace_id: t.trace_id,
                linked: t.linked,
                spans: tree(t.spans),
                logs: t.logs,
            });
        }
        // A log without trace context is in no trace: count it where it matched.
        for m in &found.matches {
            if let StoredRecord::Log(l) = m
                && l.trace_id.is_none()
            {
                components.note(&l.service, l.time_unix_nano, false);
            }
        }
        Ok(Correlation {
            id,
            matches: found.matches.into_iter().map(Record::from).collect(),
            components: components.in_time_order(),
            traces,
        })
    })
    .await
}

#[derive(Default)]
struct Involvements(BTreeMap<String, Involvement>);

impl Involvements {
    fn note(&mut self, service: &str, time: u64, span: bool) {
        let c = self
            .0
            .entry(service.to_string())
            .or_insert_with(|| Involvement {
                component: service.to_string(),
                first_seen_unix_nano: u64::MAX,
                last_seen_unix_nano: 0,
                spans: 0,
                logs: 0,
            });
        c.first_seen_unix_nano = c.first_seen_unix_nano.min(time);
        c.last_seen_unix_nano = c.last_seen_unix_nano.max(time);
        if span { c.spans += 1 } else { c.logs += 1 }
    }

    /// By first sight, ties by name.
    fn in_time_order(self) -> Vec<Involvement> {
        let mut out: Vec<Involvement> = self.0.into_values().collect();
        out.sort_by(|a, b| {
            (a.first_seen_unix_nano, &a.component).cmp(&(b.first_seen_unix_nano, &b.component))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_come_in_the_order_they_first_saw_the_id() {
        let mut seen = Involvements::default();
        seen.note("consumer", 30, true);
        seen.note("producer", 10, true);
        seen.note("consumer", 50, false);
        seen.note("auditor", 10, false);
        let order = seen.in_time_order();
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
            }
        );
    }
}
