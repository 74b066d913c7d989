//! OTLP payloads: the one place that knows the OpenTelemetry protocol's types.
//!
//! Requests are validated record by record ([`validate`]) before anything is
//! written, and converted into `weir_core` types ([`convert`]) after.

pub mod convert;
pub mod link_stubs;
pub mod partition;
pub mod response;
pub mod validate;
pub mod wire_split;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use weir_store::checkpoint::Sink;

/// The three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalKind {
    /// Traces (spans).
    Traces,
    /// Logs.
    Logs,
    /// Metrics (data points).
    Metrics,
}

impl SignalKind {
    /// All signals, in a fixed order.
    pub const ALL: [SignalKind; 3] = [SignalKind::Traces, SignalKind::Logs, SignalKind::Metrics];

    /// Label value used in `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::Traces => "spans",
            SignalKind::Logs => "logs",
            SignalKind::Metrics => "metric_points",
        }
    }

    /// The byte tag stored in the write-ahead log.
    pub fn wal_tag(self) -> u8 {
        match self {
            SignalKind::Traces => 1,
            SignalKind::Logs => 2,
            SignalKind::Metrics => 3,
        }
    }

    /// Parses [`SignalKind::wal_tag`].
    pub fn from_wal_tag(tag: u8) -> Option<Self> {
        match tag {
            1 => Some(SignalKind::Traces),
            2 => Some(SignalKind::Logs),
            3 => Some(SignalKind::Metrics),
            _ => None,
        }
    }

    /// The store that holds this signal, as `/readyz` and `/metrics` name it.
    pub fn store_part(self) -> &'static str {
        self.store_sink().as_str()
    }

    /// The rollups built from this signal, as `/readyz` and `/metrics` name them.
    pub fn rollups_part(self) -> &'static str {
        self.rollups_sink().as_str()
    }

    /// The checkpoint of the store that holds this signal.
    pub fn store_sink(self) -> Sink {
        match self {
            SignalKind::Traces => Sink::Spans,
            SignalKind::Logs => Sink::Logs,
            SignalKind::Metrics => Sink::Metrics,
        }
    }

    /// The checkpoint of the rollups built from this signal.
    pub fn rollups_sink(self) -> Sink {
        match self {
            SignalKind::Traces => Sink::SpanRollups,
            SignalKind::Logs => Sink::LogRollups,
            SignalKind::Metrics => Sink::MetricRollups,
        }
    }

    /// Index into per-signal arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Blanks every `traceId`, `spanId` and `parentSpanId` that is not hex;
/// returns whether there was one. Recursion is bounded by serde_json's own
/// nesting limit on the parsed body.
fn blank_bad_ids(value: &mut serde_json::Value) -> bool {
    let mut blanked = false;
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let is_id = matches!(key.as_str(), "traceId" | "spanId" | "parentSpanId");
                match v {
                    serde_json::Value::String(s)
                        if is_id
                            && (s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit())) =>
                    {
                        *s = unusable_id(key);
                        blanked = true;
                    }
                    _ if is_id && !v.is_string() && !v.is_null() => {
                        *v = serde_json::Value::String(unusable_id(key));
                        blanked = true;
                    }
                    _ => blanked |= blank_bad_ids(v),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                blanked |= blank_bad_ids(v);
            }
        }
        _ => {}
    }
    blanked
}

/// What a bad id becomes: empty (no trace or span: a span is dropped, a log
/// record kept unlinked), or for a parent one byte, which validation drops as
/// an invalid parent rather than taking the span for a root.
fn unusable_id(key: &str) -> String {
    if key == "parentSpanId" {
        "00".into()
    } else {
        String::new()
    }
}

/// A decoded export request of any signal.
#[derive(Debug, Clone)]
pub enum ExportRequest {
    /// Traces.
    Traces(ExportTraceServiceRequest),
    /// Logs.
    Logs(ExportLogsServiceRequest),
    /// Metrics.
    Metrics(ExportMetricsServiceRequest),
}

impl ExportRequest {
    /// Which signal.
    pub fn signal(&self) -> SignalKind {
        match self {
            ExportRequest::Traces(_) => SignalKind::Traces,
            ExportRequest::Logs(_) => SignalKind::Logs,
            ExportRequest::Metrics(_) => SignalKind::Metrics,
        }
    }

    /// Protobuf encoding, as stored in the write-ahead log.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            ExportRequest::Traces(r) => r.encode_to_vec(),
            ExportRequest::Logs(r) => r.encode_to_vec(),
            ExportRequest::Metrics(r) => r.encode_to_vec(),
        }
    }

    /// Bytes of its protobuf encoding, without encoding it.
    pub fn encoded_len(&self) -> usize {
        match self {
            ExportRequest::Traces(r) => r.encoded_len(),
            ExportRequest::Logs(r) => r.encoded_len(),
            ExportRequest::Metrics(r) => r.encoded_len(),
        }
    }

    /// Decodes protobuf bytes of `signal`.
    pub fn decode_protobuf(signal: SignalKind, bytes: &[u8]) -> Result<Self, prost::DecodeError> {
        Ok(match signal {
            SignalKind::Traces => ExportRequest::Traces(ExportTraceServiceRequest::decode(bytes)?),
            SignalKind::Logs => ExportRequest::Logs(ExportLogsServiceRequest::decode(bytes)?),
            SignalKind::Metrics => {
                ExportRequest::Metrics(ExportMetricsServiceRequest::decode(bytes)?)
            }
        })
    }

    /// Decodes OTLP/JSON of `signal`.
    ///
    /// The proto crate decodes ids as hex inside serde, so one bad id would
    /// fail the whole request; the OTLP specification wants bad records
    /// dropped one by one. On such a failure the body is read again as plain
    /// JSON, every id that is not hex is blanked (validation then drops its
    /// span, or keeps its log record unlinked), and decoding is tried again.
    /// Bodies with good ids take the fast path only.
    pub fn decode_json(signal: SignalKind, bytes: &[u8]) -> Result<Self, serde_json::Error> {
        fn typed(
            signal: SignalKind,
            value: serde_json::Value,
        ) -> serde_json::Result<ExportRequest> {
            Ok(match signal {
                SignalKind::Traces => ExportRequest::Traces(serde_json::from_value(value)?),
                SignalKind::Logs => ExportRequest::Logs(serde_json::from_value(value)?),
                SignalKind::Metrics => ExportRequest::Metrics(serde_json::from_value(value)?),
            })
        }
        let first = match signal {
            SignalKind::Traces => serde_json::from_slice(bytes).map(ExportRequest::Traces),
            SignalKind::Logs => serde_json::from_slice(bytes).map(ExportRequest::Logs),
            SignalKind::Metrics => serde_json::from_slice(bytes).map(ExportRequest::Metrics),
        };
        let error = match first {
            Ok(request) => return Ok(request),
            Err(e) => e,
        };
        let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            return Err(error);
        };
        if !blank_bad_ids(&mut value) {
            return Err(error);
        }
        typed(signal, value).map_err(|_| error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_id_in_json_spoils_only_its_own_record() {
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
            {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"good","startTimeUnixNano":"1","endTimeUnixNano":"2"},
            {"traceId":"zz","spanId":"eee19b7ec3c1b174","name":"bad trace","startTimeUnixNano":"1","endTimeUnixNano":"2"},
            {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175","parentSpanId":"xyz","name":"bad parent"}
        ]}]}]}"#;
        let ExportRequest::Traces(r) =
            ExportRequest::decode_json(SignalKind::Traces, body).unwrap()
        else {
            panic!("traces")
        };
        let spans = &r.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), 3);
        assert_eq!(spans[0].trace_id.len(), 16);
        assert!(spans[1].trace_id.is_empty());
        assert_eq!(spans[2].parent_span_id, [0]);
    }

    #[test]
    fn attribute_values_nested_past_the_limit_are_a_malformed_body() {
        use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, any_value};
        let mut value = AnyValue {
            value: Some(any_value::Value::StringValue("deep".into())),
        };
        for _ in 0..200 {
            value = AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![value],
                })),
            };
        }
        let mut request = ExportLogsServiceRequest::default();
        request.resource_logs.push(Default::default());
        request.resource_logs[0].scope_logs.push(Default::default());
        request.resource_logs[0].scope_logs[0].log_records.push(
            opentelemetry_proto::tonic::logs::v1::LogRecord {
                body: Some(value),
                ..Default::default()
            },
        );
        let bytes = request.encode_to_vec();
        let error = ExportRequest::decode_protobuf(SignalKind::Logs, &bytes).unwrap_err();
        assert!(error.to_string().contains("recursion"), "{error}");
    }

    #[test]
    fn json_that_is_wrong_elsewhere_still_fails_whole() {
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","name":7}]}]}]}"#;
        assert!(ExportRequest::decode_json(SignalKind::Traces, body).is_err());
    }
}
