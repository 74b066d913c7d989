//! Plain records for tests (feature `test-fixtures`, and core's own unit
//! tests): one builder per record type with neutral defaults, changed at the
//! call site with struct update syntax (`Span { kind, ..span(...) }`).

use crate::{
    AttrValue, Attributes, LogRecord, MetricKind, MetricPoint, MetricValue, Severity, Span, SpanId,
    SpanKind, StatusCode, Temporality, TraceId,
};

/// Attributes from `(key, value)` pairs, in order.
pub fn attributes(pairs: &[(&str, AttrValue)]) -> Attributes {
    Attributes(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

/// An INTERNAL span `name` of `service` in `trace`, id `[id; 8]`, child of
/// `[parent; 8]`; no attributes, zero times, status unset.
pub fn span(trace: TraceId, id: u8, parent: Option<u8>, service: &str, name: &str) -> Span {
    Span {
        trace_id: trace,
        span_id: SpanId([id; 8]),
        parent_span_id: parent.map(|p| SpanId([p; 8])),
        service: service.into(),
        name: name.into(),
        kind: SpanKind::Internal,
        start_time_unix_nano: 0,
        end_time_unix_nano: 0,
        status: StatusCode::Unset,
        status_message: String::new(),
        attributes: Attributes::default(),
        resource: Default::default(),
        scope: String::new(),
        events: vec![],
        links: vec![],
    }
}

/// An ERROR log record of `service` at `time` with `body`, tied to no trace.
pub fn log_record(service: &str, time: u64, body: &str) -> LogRecord {
    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: time,
        severity: Severity::Error,
        severity_number: 17,
        severity_text: "ERROR".into(),
        body: AttrValue::Str(body.into()),
        event_name: String::new(),
        service: service.into(),
        trace_id: None,
        span_id: None,
        attributes: Attributes::default(),
        resource: Default::default(),
        scope: String::new(),
    }
}

/// A gauge point `name` of `service` at `time`, in milliseconds.
pub fn gauge_point(name: &str, service: &str, time: u64, value: f64) -> MetricPoint {
    MetricPoint {
        name: name.into(),
        description: String::new(),
        unit: "ms".into(),
        kind: MetricKind::Gauge,
        temporality: Temporality::Unspecified,
        monotonic: false,
        service: service.into(),
        attributes: Attributes::default(),
        resource: Default::default(),
        start_time_unix_nano: 0,
        time_unix_nano: time,
        value: MetricValue::Number { value },
    }
}
