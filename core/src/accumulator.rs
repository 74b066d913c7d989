//! Turning records into health-rollup deltas: one accumulator per storage
//! worker, and the small shared index that ties exception log records to the
//! invocations of their trace (spans and logs arrive on different threads, in
//! either order). Pure but for that shared, bounded memory; no clock is read.

use crate::pipeline::{
    init_duration_ms, is_cold_start, is_exception_log, is_invocation, lag_reading, minute_of,
    partition_of, records_processed, span_failed,
};
use crate::rollup::{EdgeDeltas, RollupDeltas};
use crate::topology::SpanMemory;
use crate::{LogRecord, MetricPoint, MetricValue, Span, TraceId};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

/// How many recent invocations (and early exception logs) are remembered.
const REMEMBERED: usize = 200_000;

type InvocationKey = (TraceId, String);

#[derive(Default)]
struct Remembered {
    invocations: HashMap<InvocationKey, (u64, bool)>,
    invocation_order: VecDeque<InvocationKey>,
    early_exceptions: HashSet<InvocationKey>,
    exception_order: VecDeque<InvocationKey>,
}

/// Recent invocations per (trace, component), to count an exception log
/// record as its invocation's error exactly once.
#[derive(Default)]
pub struct InvocationIndex(Mutex<Remembered>);

impl InvocationIndex {
    /// Registers an invocation; returns whether it failed, counting an
    /// exception log that arrived before it.
    pub fn invocation(&self, key: InvocationKey, minute: u64, failed: bool) -> bool {
        let mut r = self.0.lock();
        let failed = failed || r.early_exceptions.remove(&key);
        if r.invocations
            .insert(key.clone(), (minute, failed))
            .is_none()
        {
            r.invocation_order.push_back(key);
            if r.invocation_order.len() > REMEMBERED
                && let Some(old) = r.invocation_order.pop_front()
            {
                r.invocations.remove(&old);
            }
        }
        failed
    }

    /// An exception log for (trace, component): the minute whose rollup gains
    /// a late error, if its invocation was counted as a success; otherwise the
    /// exception is remembered for the invocation still to come.
    pub fn exception(&self, key: InvocationKey) -> Option<u64> {
        let mut r = self.0.lock();
        match r.invocations.get_mut(&key) {
            Some((minute, failed)) if !*failed => {
                *failed = true;
                Some(*minute)
            }
            Some(_) => None,
            None => {
                if r.early_exceptions.insert(key.clone()) {
                    r.exception_order.push_back(key);
                    if r.exception_order.len() > REMEMBERED
                        && let Some(old) = r.exception_order.pop_front()
                    {
                        r.early_exceptions.remove(&old);
                    }
                }
                None
            }
        }
    }
}

/// Recent spans remembered for topology edges.
const REMEMBERED_SPANS: usize = 500_000;

/// Builds rollup deltas from one worker's records.
pub struct HealthAccumulator {
    index: Arc<InvocationIndex>,
    lag_metrics: Arc<HashSet<String>>,
    memory: SpanMemory,
    /// Which traces' links this accumulator resolves (see [`Self::resolving_links_of`]).
    here: Box<dyn Fn(&TraceId) -> bool + Send + Sync>,
    /// The component deltas since the last flush.
    pub deltas: RollupDeltas,
    /// The edge deltas since the last flush.
    pub edges: EdgeDeltas,
}

impl HealthAccumulator {
    /// An accumulator sharing `index` with the other workers.
    pub fn new(index: Arc<InvocationIndex>, lag_metrics: Arc<HashSet<String>>) -> Self {
        HealthAccumulator {
            index,
            lag_metrics,
            memory: SpanMemory::new(REMEMBERED_SPANS),
            here: Box::new(|_| true),
            deltas: RollupDeltas::new(),
            edges: EdgeDeltas::new(),
        }
    }

    /// Resolves only links to the traces `here` accepts; the others are
    /// counted from link stubs ([`Self::link_stubs`]) by whoever sees their
    /// traces. A cluster partition's accumulator sees its own traces only.
    pub fn resolving_links_of(
        mut self,
        here: impl Fn(&TraceId) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.here = Box::new(here);
        self
    }

    /// Counts the invocations among `spans` and the edges they reveal.
    pub fn spans(&mut self, spans: &[Span]) {
        for span in spans {
            let crossings = self.memory.observe_where(span, &self.here);
            self.count(crossings);
        }
        for span in spans.iter().filter(|s| is_invocation(s)) {
            let minute = minute_of(span.start_time_unix_nano);
            let failed = self.index.invocation(
                (span.trace_id, span.service.clone()),
                minute,
                span_failed(span),
            );
            let cold = is_cold_start(span).then(|| init_duration_ms(span));
            self.deltas
                .entry((span.service.clone(), minute))
                .or_default()
                .add_invocation(
                    span.duration_ms(),
                    failed,
                    cold,
                    records_processed(span),
                    span.end_time_unix_nano,
                );
        }
    }

    /// Counts the edges that link stubs reveal: spans stored elsewhere,
    /// carrying only their links to spans this accumulator sees. They are
    /// no invocations here.
    pub fn link_stubs(&mut self, stubs: &[Span]) {
        for stub in stubs {
            let crossings = self.memory.observe_link_stub(stub);
            self.count(crossings);
        }
    }

    fn count(&mut self, crossings: Vec<crate::topology::Crossing>) {
        for crossing in crossings {
            let edge = self
                .edges
                .entry((crossing.edge, minute_of(crossing.at)))
                .or_default();
            edge.add(crossing.failed);
            if let Some(lag) = crossing.delivery_lag_ms {
                edge.add_delivery_lag(lag);
            }
        }
    }

    /// Counts exception log records against their invocations.
    pub fn logs(&mut self, logs: &[LogRecord]) {
        for log in logs.iter().filter(|l| is_exception_log(l)) {
            let Some(trace_id) = log.trace_id else {
                continue;
            };
            if let Some(minute) = self.index.exception((trace_id, log.service.clone())) {
                self.deltas
                    .entry((log.service.clone(), minute))
                    .or_default()
                    .add_late_error();
            }
        }
    }

    /// Records the lag readings among `points`.
    pub fn points(&mut self, points: &[MetricPoint]) {
        use std::fmt::Write as _;
        // One buffer for every reading's series name: lag points are many.
        let mut series = String::new();
        for p in points.iter().filter(|p| self.lag_metrics.contains(&p.name)) {
            let MetricValue::Number { value } = p.value else {
                continue;
            };
            if !value.is_finite() {
                continue;
            }
            let (unit, reading) = lag_reading(&p.name, &p.unit, value);
            let partition = partition_of(&p.attributes);
            series.clear();
            let _ = write!(
                series,
                "{} {}",
                p.name,
                partition.as_deref().unwrap_or("all")
            );
            self.deltas
                .entry((p.service.clone(), minute_of(p.time_unix_nano)))
                .or_default()
                .add_lag(&series, unit, reading, p.time_unix_nano);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AttrValue, Attributes, SpanKind, StatusCode};

    fn span(id: u8, parent: Option<u8>, service: &str, start_ms: u64) -> Span {
        Span {
            kind: if parent.is_some() {
                SpanKind::Client
            } else {
                SpanKind::Consumer
            },
            start_time_unix_nano: start_ms * 1_000_000,
            end_time_unix_nano: (start_ms + 20) * 1_000_000,
            ..crate::fixtures::span(TraceId([9; 16]), id, parent, service, "handle")
        }
    }

    #[test]
    fn spans_become_invocation_and_edge_deltas_per_minute() {
        let mut acc = HealthAccumulator::new(Arc::default(), Arc::default());
        let mut root = span(1, None, "consumer", 1_000);
        root.attributes = Attributes(vec![("faas.coldstart".into(), AttrValue::Bool(true))]);
        let mut child = span(2, Some(1), "writer", 1_005);
        child.kind = SpanKind::Server;
        child.status = StatusCode::Error;
        // A client call inside the consumer: no invocation, no edge.
        let inner = span(3, Some(1), "consumer", 1_002);
        acc.spans(&[root, child, inner]);
        let minute = minute_of(1_000_000_000);
        let consumer = &acc.deltas[&("consumer".to_string(), minute)];
        assert_eq!(
            (consumer.invocations, consumer.errors, consumer.cold_starts),
            (1, 0, 1)
        );
        let writer = &acc.deltas[&("writer".to_string(), minute)];
        assert_eq!((writer.invocations, writer.errors), (1, 1));
        let edges: Vec<_> = acc
            .edges
            .iter()
            .map(|((e, _), r)| (e.source.as_str(), e.target.as_str(), r.count, r.errors))
            .collect();
        assert_eq!(edges, [("consumer", "writer", 1, 1)]);
    }

    #[test]
    fn lag_readings_keep_the_peak_per_series_and_ignore_other_metrics() {
        let lag: Arc<HashSet<String>> = Arc::new(["pipeline.iterator_age".to_string()].into());
        let mut acc = HealthAccumulator::new(Arc::default(), lag);
        let point = |name: &str, value: f64| {
            crate::fixtures::gauge_point(name, "consumer", 60_000_000_000, value)
        };
        acc.points(&[
            point("pipeline.iterator_age", 1500.0),
            point("pipeline.iterator_age", 2500.0),
            point("http.requests", 9e9),
        ]);
        assert_eq!(acc.deltas.len(), 1);
        let rollup = &acc.deltas[&("consumer".to_string(), 60_000_000_000)];
        assert_eq!(rollup.max_lag_ms, Some(2500.0), "{rollup:?}");
        assert_eq!(rollup.lag_series.len(), 1, "{rollup:?}");
    }

    #[test]
    fn an_exception_log_makes_its_invocation_an_error_once_in_either_order() {
        let index = InvocationIndex::default();
        let key = |n: u8| (TraceId([n; 16]), "fn".to_string());
        // Span first, then two exception logs: one late error.
        assert!(!index.invocation(key(1), 60, false));
        assert_eq!(index.exception(key(1)), Some(60));
        assert_eq!(index.exception(key(1)), None);
        // Log first: the invocation arrives already failed.
        assert_eq!(index.exception(key(2)), None);
        assert!(index.invocation(key(2), 120, false));
        // A failed invocation gains no second error from its log.
        assert!(index.invocation(key(3), 180, true));
        assert_eq!(index.exception(key(3)), None);
    }
}
