//! Pipeline-health semantics: what counts as an invocation, an error, a cold
//! start, a lag series, and which streams or queues a span touches.

use crate::{AttrValue, LogRecord, Span, SpanKind, StatusCode};

/// Whether a span is an entry point of its component: it carries
/// `faas.invocation_id` or `faas.trigger`, or is a SERVER or CONSUMER span,
/// or has no parent.
pub fn is_invocation(span: &Span) -> bool {
    span.attributes.get("faas.invocation_id").is_some()
        || span.attributes.get("faas.trigger").is_some()
        || matches!(span.kind, SpanKind::Server | SpanKind::Consumer)
        || span.parent_span_id.is_none()
}

/// Whether a span failed by its own account: status ERROR or an `exception`
/// event. (An exception log record tied to it also makes its invocation an
/// error; see [`is_exception_log`].)
pub fn span_failed(span: &Span) -> bool {
    span.status == StatusCode::Error || span.events.iter().any(|e| e.name == "exception")
}

/// Whether a log record reports an exception: event name `exception` or
/// `<anything>.exception` (such as `faas.invocation.exception`).
pub fn is_exception_log(log: &LogRecord) -> bool {
    log.event_name == "exception" || log.event_name.ends_with(".exception")
}

/// Whether an invocation was a cold start (`faas.coldstart = true`).
pub fn is_cold_start(span: &Span) -> bool {
    match span.attributes.get("faas.coldstart") {
        Some(AttrValue::Bool(b)) => *b,
        Some(AttrValue::Str(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// The initialization duration a cold start reported (`faas.init_duration`),
/// in milliseconds, when sent as a number.
pub fn init_duration_ms(span: &Span) -> Option<f64> {
    match span.attributes.get("faas.init_duration")? {
        AttrValue::Int(i) => Some(*i as f64),
        AttrValue::Double(d) => Some(*d),
        _ => None,
    }
}

/// Records an invocation processed (`messaging.batch.message_count`), else 0.
pub fn records_processed(span: &Span) -> u64 {
    match span.attributes.get("messaging.batch.message_count") {
        Some(AttrValue::Int(i)) if *i > 0 => *i as u64,
        Some(AttrValue::Double(d)) if *d > 0.0 => *d as u64,
        _ => 0,
    }
}

/// The stream, queue or topic a span sends to or receives from.
pub fn destination(span: &Span) -> Option<&str> {
    span.attributes
        .get_str("messaging.destination.name")
        .or_else(|| span.attributes.get_str("aws.kinesis.stream_name"))
        .filter(|d| !d.is_empty())
}

/// Attribute keys that name the shard or partition a series belongs to, in
/// the order they are looked up: the messaging semantic conventions first,
/// then the spellings stream and Kafka exporters use.
pub const PARTITION_KEYS: [&str; 6] = [
    "messaging.destination.partition.id",
    "messaging.kafka.destination.partition",
    "partition",
    "shard",
    "shard_id",
    "aws.kinesis.shard_id",
];

/// The shard or partition a metric series belongs to, so alerts can be
/// raised per partition where the series has one.
pub fn partition_of(attributes: &crate::Attributes) -> Option<String> {
    PARTITION_KEYS.iter().find_map(|key| {
        attributes
            .get(key)
            .map(crate::AttrValue::to_text)
            .filter(|p| !p.is_empty())
    })
}

/// What a lag series measures. Time lag and record lag are never mixed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LagUnit {
    /// How old the oldest unprocessed record is, normalized to milliseconds.
    Ms,
    /// How many records are waiting.
    Records,
}

impl LagUnit {
    /// The unit word used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            LagUnit::Ms => "ms",
            LagUnit::Records => "records",
        }
    }
}

/// Interprets a lag metric's value by its unit: time units become
/// milliseconds; anything else (`{records}`, `{messages}`, `1`, empty) is a
/// record count. CloudWatch's `IteratorAgeMilliseconds` names its unit.
pub fn lag_reading(metric_name: &str, unit: &str, value: f64) -> (LagUnit, f64) {
    let unit = unit.trim().to_ascii_lowercase();
    let factor = match unit.as_str() {
        "ms" | "milliseconds" => Some(1.0),
        "s" | "seconds" => Some(1000.0),
        "us" | "µs" | "microseconds" => Some(0.001),
        "ns" | "nanoseconds" => Some(0.000_001),
        "min" | "minutes" => Some(60_000.0),
        "" if metric_name.ends_with("Milliseconds")
            || metric_name.to_ascii_lowercase().contains("iterator_age")
            || metric_name == "IteratorAge" =>
        {
            Some(1.0)
        }
        _ => None,
    };
    match factor {
        Some(f) => (LagUnit::Ms, value * f),
        None => (LagUnit::Records, value),
    }
}

/// The minute (Unix nanoseconds, floored) an instant falls in.
pub fn minute_of(unix_nanos: u64) -> u64 {
    unix_nanos - unix_nanos % 60_000_000_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attributes, SpanEvent, SpanId, TraceId};

    fn span(kind: SpanKind, parent: bool, attrs: Vec<(&str, AttrValue)>) -> Span {
        Span {
            trace_id: TraceId([1; 16]),
            span_id: SpanId([2; 8]),
            parent_span_id: parent.then_some(SpanId([3; 8])),
            service: "fn".into(),
            name: "n".into(),
            kind,
            start_time_unix_nano: 0,
            end_time_unix_nano: 1,
            status: StatusCode::Unset,
            status_message: String::new(),
            attributes: Attributes(attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()),
            resource: Default::default(),
            scope: String::new(),
            events: vec![],
            links: vec![],
        }
    }

    #[test]
    fn entry_points_are_invocations() {
        assert!(
            is_invocation(&span(SpanKind::Internal, false, vec![])),
            "root"
        );
        assert!(is_invocation(&span(SpanKind::Server, true, vec![])));
        assert!(is_invocation(&span(SpanKind::Consumer, true, vec![])));
        assert!(is_invocation(&span(
            SpanKind::Internal,
            true,
            vec![("faas.trigger", AttrValue::Str("pubsub".into()))]
        )));
        assert!(is_invocation(&span(
            SpanKind::Internal,
            true,
            vec![("faas.invocation_id", AttrValue::Str("i".into()))]
        )));
        assert!(!is_invocation(&span(SpanKind::Client, true, vec![])));
        assert!(!is_invocation(&span(SpanKind::Internal, true, vec![])));
    }

    #[test]
    fn errors_by_status_or_exception_event() {
        let mut s = span(SpanKind::Server, false, vec![]);
        assert!(!span_failed(&s));
        s.events.push(SpanEvent {
            time_unix_nano: 0,
            name: "exception".into(),
            attributes: Attributes::default(),
        });
        assert!(span_failed(&s));
        let mut s = span(SpanKind::Server, false, vec![]);
        s.status = StatusCode::Error;
        assert!(span_failed(&s));
    }

    #[test]
    fn cold_starts_and_init_duration() {
        let s = span(
            SpanKind::Server,
            false,
            vec![
                ("faas.coldstart", AttrValue::Bool(true)),
                ("faas.init_duration", AttrValue::Int(180)),
            ],
        );
        assert!(is_cold_start(&s));
        assert_eq!(init_duration_ms(&s), Some(180.0));
        assert!(!is_cold_start(&span(
            SpanKind::Server,
            false,
            vec![("faas.coldstart", AttrValue::Bool(false))]
        )));
    }

    #[test]
    fn lag_units_are_kept_apart_and_time_is_normalized() {
        assert_eq!(
            lag_reading("pipeline.iterator_age", "ms", 1500.0),
            (LagUnit::Ms, 1500.0)
        );
        assert_eq!(
            lag_reading("messaging.consumer.lag", "s", 2.0),
            (LagUnit::Ms, 2000.0)
        );
        assert_eq!(
            lag_reading("GetRecords.IteratorAgeMilliseconds", "", 7.0),
            (LagUnit::Ms, 7.0)
        );
        assert_eq!(
            lag_reading("kafka.consumer_group.lag", "{records}", 42.0),
            (LagUnit::Records, 42.0)
        );
        assert_eq!(lag_reading("OffsetLag", "", 3.0), (LagUnit::Records, 3.0));
    }

    #[test]
    fn partitions_by_convention_or_common_spelling() {
        let attrs = |k: &str, v: AttrValue| Attributes(vec![(k.to_string(), v)]);
        assert_eq!(
            partition_of(&attrs(
                "messaging.destination.partition.id",
                AttrValue::Str("2".into())
            )),
            Some("2".into())
        );
        assert_eq!(
            partition_of(&attrs("shard", AttrValue::Int(7))),
            Some("7".into())
        );
        assert_eq!(
            partition_of(&attrs("group", AttrValue::Str("g".into()))),
            None
        );
        assert_eq!(
            partition_of(&attrs("shard", AttrValue::Str(String::new()))),
            None
        );
    }

    #[test]
    fn records_and_destinations() {
        let s = span(
            SpanKind::Consumer,
            false,
            vec![
                ("messaging.batch.message_count", AttrValue::Int(100)),
                ("aws.kinesis.stream_name", AttrValue::Str("clicks".into())),
            ],
        );
        assert_eq!(records_processed(&s), 100);
        assert_eq!(destination(&s), Some("clicks"));
        assert_eq!(minute_of(61_000_000_001), 60_000_000_000);
    }
}
