//! Per-record validation: a bad record is dropped and counted with its reason,
//! the rest of the request goes on (OTLP partial success).

use super::ExportRequest;
use opentelemetry_proto::tonic::metrics::v1::metric;
use std::collections::BTreeMap;
use weir_core::{SpanId, TraceId, is_plausible_timestamp};

/// Why records were dropped, and how many for each reason.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rejections {
    /// Count per reason.
    pub by_reason: BTreeMap<&'static str, u64>,
    /// Records kept.
    pub accepted: u64,
}

impl Rejections {
    fn reject(&mut self, reason: &'static str) {
        *self.by_reason.entry(reason).or_default() += 1;
    }

    /// Total dropped.
    pub fn total(&self) -> u64 {
        self.by_reason.values().sum()
    }

    /// The `error_message` of a partial success: what was dropped and why.
    pub fn message(&self, noun: &str) -> String {
        let reasons: Vec<String> = self
            .by_reason
            .iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect();
        format!("dropped {} {noun}: {}", self.total(), reasons.join(", "))
    }
}

/// Reason: a trace id that is not 16 bytes or is all zero.
pub const INVALID_TRACE_ID: &str = "invalid trace id";
/// Reason: a span id that is not 8 bytes or is all zero.
pub const INVALID_SPAN_ID: &str = "invalid span id";
/// Reason: a parent span id of the wrong length.
pub const INVALID_PARENT_SPAN_ID: &str = "invalid parent span id";
/// Reason: a timestamp before 2000, more than a year ahead, or an end before the start.
pub const IMPOSSIBLE_TIMESTAMP: &str = "impossible timestamp";
/// Reason: a metric without a name.
pub const MISSING_METRIC_NAME: &str = "missing metric name";
/// Reason: a number data point without a value.
pub const MISSING_VALUE: &str = "missing value";

/// Drops invalid records from `request` in place. `now` is the receive time.
pub fn validate(request: &mut ExportRequest, now: u64) -> Rejections {
    let mut rej = Rejections::default();
    match request {
        ExportRequest::Traces(r) => {
            for rs in &mut r.resource_spans {
                for ss in &mut rs.scope_spans {
                    ss.spans.retain(|s| {
                        let reason = if TraceId::from_bytes(&s.trace_id).is_err() {
                            Some(INVALID_TRACE_ID)
                        } else if SpanId::from_bytes(&s.span_id).is_err() {
                            Some(INVALID_SPAN_ID)
                        } else if !(s.parent_span_id.is_empty() || s.parent_span_id.len() == 8) {
                            Some(INVALID_PARENT_SPAN_ID)
                        } else if !is_plausible_timestamp(s.start_time_unix_nano, now)
                            || s.end_time_unix_nano < s.start_time_unix_nano
                            || !is_plausible_timestamp(s.end_time_unix_nano, now)
                        {
                            Some(IMPOSSIBLE_TIMESTAMP)
                        } else {
                            None
                        };
                        keep(&mut rej, reason)
                    });
                }
            }
        }
        ExportRequest::Logs(r) => {
            for rl in &mut r.resource_logs {
                for sl in &mut rl.scope_logs {
                    sl.log_records.retain(|l| {
                        // An unset time is allowed (the observed or receive time
                        // stands in); a set but impossible one is not.
                        let bad_time = [l.time_unix_nano, l.observed_time_unix_nano]
                            .iter()
                            .any(|t| *t != 0 && !is_plausible_timestamp(*t, now));
                        keep(&mut rej, bad_time.then_some(IMPOSSIBLE_TIMESTAMP))
                    });
                }
            }
        }
        ExportRequest::Metrics(r) => {
            for rm in &mut r.resource_metrics {
                for sm in &mut rm.scope_metrics {
                    for m in &mut sm.metrics {
                        let unnamed = m.name.is_empty();
                        let check = |time: u64, has_value: bool, rej: &mut Rejections| {
                            let reason = if unnamed {
                                Some(MISSING_METRIC_NAME)
                            } else if !is_plausible_timestamp(time, now) {
                                Some(IMPOSSIBLE_TIMESTAMP)
                            } else if !has_value {
                                Some(MISSING_VALUE)
                            } else {
                                None
                            };
                            keep(rej, reason)
                        };
                        match &mut m.data {
                            None => {}
                            Some(metric::Data::Gauge(g)) => g
                                .data_points
                                .retain(|p| check(p.time_unix_nano, p.value.is_some(), &mut rej)),
                            Some(metric::Data::Sum(s)) => s
                                .data_points
                                .retain(|p| check(p.time_unix_nano, p.value.is_some(), &mut rej)),
                            Some(metric::Data::Histogram(h)) => h
                                .data_points
                                .retain(|p| check(p.time_unix_nano, true, &mut rej)),
                            Some(metric::Data::ExponentialHistogram(h)) => h
                                .data_points
                                .retain(|p| check(p.time_unix_nano, true, &mut rej)),
                            Some(metric::Data::Summary(s)) => s
                                .data_points
                                .retain(|p| check(p.time_unix_nano, true, &mut rej)),
                        }
                    }
                }
            }
        }
    }
    rej
}

fn keep(rej: &mut Rejections, reason: Option<&'static str>) -> bool {
    match reason {
        Some(r) => {
            rej.reject(r);
            false
        }
        None => {
            rej.accepted += 1;
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    const NOW: u64 = 1_800_000_000_000_000_000;

    fn span(trace: Vec<u8>, span: Vec<u8>, start: u64, end: u64) -> Span {
        Span {
            trace_id: trace,
            span_id: span,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            name: "s".into(),
            ..Default::default()
        }
    }

    fn request(spans: Vec<Span>) -> ExportRequest {
        ExportRequest::Traces(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
    }

    #[test]
    fn drops_each_bad_span_with_its_reason_and_keeps_the_rest() {
        let t = NOW - 1_000;
        let mut req = request(vec![
            span(vec![1; 16], vec![1; 8], t, t + 1),
            span(vec![0; 16], vec![1; 8], t, t + 1),
            span(vec![1; 15], vec![1; 8], t, t + 1),
            span(vec![1; 16], vec![0; 8], t, t + 1),
            span(vec![1; 16], vec![2; 8], 0, 1),
            span(vec![1; 16], vec![3; 8], t, t - 5),
        ]);
        let rej = validate(&mut req, NOW);
        assert_eq!(rej.accepted, 1);
        assert_eq!(rej.by_reason[INVALID_TRACE_ID], 2);
        assert_eq!(rej.by_reason[INVALID_SPAN_ID], 1);
        assert_eq!(rej.by_reason[IMPOSSIBLE_TIMESTAMP], 2);
        assert_eq!(
            rej.message("spans"),
            "dropped 5 spans: 2 impossible timestamp, 1 invalid span id, 2 invalid trace id"
        );
        let ExportRequest::Traces(r) = req else {
            unreachable!()
        };
        assert_eq!(r.resource_spans[0].scope_spans[0].spans.len(), 1);
    }
}
