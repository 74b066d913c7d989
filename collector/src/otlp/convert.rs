//! OTLP → `weir_core`: the edge where wire types become domain types.

use super::ExportRequest;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use opentelemetry_proto::tonic::resource::v1::Resource;
use std::sync::Arc;
use weir_core::{
    AttrValue, Attributes, BucketCounts, ExponentialHistogram, Histogram, LogRecord, MetricKind,
    MetricPoint, MetricValue, Severity, Span, SpanEvent, SpanId, SpanKind, SpanLink, StatusCode,
    SummaryQuantile, Temporality, TraceId, component_name,
};

/// Converted records of one request.
#[derive(Debug, Default)]
pub struct Converted {
    /// Spans.
    pub spans: Vec<Span>,
    /// Log records.
    pub logs: Vec<LogRecord>,
    /// Metric points.
    pub points: Vec<MetricPoint>,
}

/// Converts a validated request, moving its strings instead of copying
/// them. `received_at` stands in for log records that carry neither a time
/// nor an observed time.
pub fn convert(request: ExportRequest, received_at: u64) -> Converted {
    let mut out = Converted::default();
    match request {
        ExportRequest::Traces(r) => out.spans = spans(r),
        ExportRequest::Logs(r) => out.logs = logs(r, received_at),
        ExportRequest::Metrics(r) => out.points = points(&r),
    }
    out
}

/// An OTLP attribute value as a core value.
pub fn value(v: &AnyValue) -> AttrValue {
    owned_value(v.clone())
}

/// [`value`], taking the value's strings.
fn owned_value(v: AnyValue) -> AttrValue {
    match v.value {
        None => AttrValue::Empty,
        Some(any_value::Value::StringValue(s)) => AttrValue::Str(s),
        Some(any_value::Value::BoolValue(b)) => AttrValue::Bool(b),
        Some(any_value::Value::IntValue(i)) => AttrValue::Int(i),
        Some(any_value::Value::DoubleValue(d)) => AttrValue::Double(d),
        Some(any_value::Value::BytesValue(b)) => AttrValue::Str(hex::encode(b)),
        Some(any_value::Value::ArrayValue(a)) => {
            AttrValue::Array(a.values.into_iter().map(owned_value).collect())
        }
        Some(any_value::Value::KvlistValue(kv)) => AttrValue::Map(owned_attributes(kv.values)),
        #[allow(unreachable_patterns)]
        Some(_) => AttrValue::Empty,
    }
}

/// [`attributes`], taking the keys and values.
fn owned_attributes(kvs: Vec<KeyValue>) -> Attributes {
    Attributes(
        kvs.into_iter()
            .map(|kv| (kv.key, kv.value.map(owned_value).unwrap_or_default()))
            .collect(),
    )
}

/// OTLP key-values as core attributes.
pub fn attributes(kvs: &[KeyValue]) -> Attributes {
    Attributes(
        kvs.iter()
            .map(|kv| {
                (
                    kv.key.clone(),
                    kv.value.as_ref().map(value).unwrap_or_default(),
                )
            })
            .collect(),
    )
}

/// The resource's attributes, shared by its records, and its component.
fn resource_and_component(resource: Option<Resource>) -> (Arc<Attributes>, String) {
    let attrs = Arc::new(
        resource
            .map(|r| owned_attributes(r.attributes))
            .unwrap_or_default(),
    );
    let component = component_name(&attrs).to_string();
    (attrs, component)
}

fn scope_name(scope: Option<InstrumentationScope>) -> String {
    scope.map(|s| s.name).unwrap_or_default()
}

fn spans(r: ExportTraceServiceRequest) -> Vec<Span> {
    let mut out = Vec::new();
    for rs in r.resource_spans {
        let (resource, service) = resource_and_component(rs.resource);
        for ss in rs.scope_spans {
            let scope = scope_name(ss.scope);
            for s in ss.spans {
                // Validation already dropped spans with bad ids.
                let (Ok(trace_id), Ok(span_id)) = (
                    TraceId::from_bytes(&s.trace_id),
                    SpanId::from_bytes(&s.span_id),
                ) else {
                    continue;
                };
                let (status, status_message) = s
                    .status
                    .map_or((0, String::new()), |st| (st.code, st.message));
                out.push(Span {
                    trace_id,
                    span_id,
                    parent_span_id: SpanId::from_bytes(&s.parent_span_id).ok(),
                    service: service.clone(),
                    name: s.name,
                    kind: SpanKind::from_otlp(s.kind),
                    start_time_unix_nano: s.start_time_unix_nano,
                    end_time_unix_nano: s.end_time_unix_nano,
                    status: StatusCode::from_otlp(status),
                    status_message,
                    attributes: owned_attributes(s.attributes),
                    resource: resource.clone(),
                    scope: scope.clone(),
                    events: s
                        .events
                        .into_iter()
                        .map(|e| SpanEvent {
                            time_unix_nano: e.time_unix_nano,
                            name: e.name,
                            attributes: owned_attributes(e.attributes),
                        })
                        .collect(),
                    links: s
                        .links
                        .into_iter()
                        .filter_map(|l| {
                            Some(SpanLink {
                                trace_id: TraceId::from_bytes(&l.trace_id).ok()?,
                                span_id: SpanId::from_bytes(&l.span_id).ok()?,
                                attributes: owned_attributes(l.attributes),
                            })
                        })
                        .collect(),
                });
            }
        }
    }
    out
}

fn logs(r: ExportLogsServiceRequest, received_at: u64) -> Vec<LogRecord> {
    let mut out = Vec::new();
    for rl in r.resource_logs {
        let (resource, service) = resource_and_component(rl.resource);
        for sl in rl.scope_logs {
            let scope = scope_name(sl.scope);
            for l in sl.log_records {
                // OTLP: when time_unix_nano is unset, observed time stands in.
                let time = [l.time_unix_nano, l.observed_time_unix_nano, received_at]
                    .into_iter()
                    .find(|t| *t != 0)
                    .unwrap_or(received_at);
                let trace_id = TraceId::from_bytes(&l.trace_id).ok();
                out.push(LogRecord {
                    time_unix_nano: time,
                    observed_time_unix_nano: l.observed_time_unix_nano,
                    severity: Severity::from_otlp(l.severity_number, &l.severity_text),
                    severity_number: l.severity_number,
                    severity_text: l.severity_text,
                    body: l.body.map(owned_value).unwrap_or_default(),
                    event_name: l.event_name,
                    service: service.clone(),
                    trace_id,
                    // A span id means nothing without its trace.
                    span_id: trace_id.and_then(|_| SpanId::from_bytes(&l.span_id).ok()),
                    attributes: owned_attributes(l.attributes),
                    resource: resource.clone(),
                    scope: scope.clone(),
                });
            }
        }
    }
    out
}

fn temporality(n: i32) -> Temporality {
    match n {
        1 => Temporality::Delta,
        2 => Temporality::Cumulative,
        _ => Temporality::Unspecified,
    }
}

fn points(r: &ExportMetricsServiceRequest) -> Vec<MetricPoint> {
    let mut out = Vec::new();
    for rm in &r.resource_metrics {
        let (resource, service) = resource_and_component(rm.resource.clone());
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let point =
                    |kind, temporality, monotonic, attrs: &[KeyValue], start, time, value| {
                        MetricPoint {
                            name: m.name.clone(),
                            description: m.description.clone(),
                            unit: m.unit.clone(),
                            kind,
                            temporality,
                            monotonic,
                            service: service.clone(),
                            attributes: attributes(attrs),
                            resource: resource.clone(),
                            start_time_unix_nano: start,
                            time_unix_nano: time,
                            value,
                        }
                    };
                let number = |v: &Option<number_data_point::Value>| MetricValue::Number {
                    value: match v {
                        Some(number_data_point::Value::AsDouble(d)) => *d,
                        Some(number_data_point::Value::AsInt(i)) => *i as f64,
                        None => f64::NAN,
                    },
                };
                match &m.data {
                    None => {}
                    Some(metric::Data::Gauge(g)) => {
                        for p in &g.data_points {
                            out.push(point(
                                MetricKind::Gauge,
                                Temporality::Unspecified,
                                false,
                                &p.attributes,
                                p.start_time_unix_nano,
                                p.time_unix_nano,
                                number(&p.value),
                            ));
                        }
                    }
                    Some(metric::Data::Sum(s)) => {
                        for p in &s.data_points {
                            out.push(point(
                                MetricKind::Sum,
                                temporality(s.aggregation_temporality),
                                s.is_monotonic,
                                &p.attributes,
                                p.start_time_unix_nano,
                                p.time_unix_nano,
                                number(&p.value),
                            ));
                        }
                    }
                    Some(metric::Data::Histogram(h)) => {
                        for p in &h.data_points {
                            let value = MetricValue::Histogram(Histogram {
                                count: p.count,
                                sum: p.sum,
                                min: p.min,
                                max: p.max,
                                explicit_bounds: p.explicit_bounds.clone(),
                                bucket_counts: p.bucket_counts.clone(),
                            });
                            out.push(point(
                                MetricKind::Histogram,
                                temporality(h.aggregation_temporality),
                                false,
                                &p.attributes,
                                p.start_time_unix_nano,
                                p.time_unix_nano,
                                value,
                            ));
                        }
                    }
                    Some(metric::Data::ExponentialHistogram(h)) => {
                        for p in &h.data_points {
                            let buckets = |b: &Option<opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets>| {
                                b.as_ref()
                                    .map(|b| BucketCounts { offset: b.offset, counts: b.bucket_counts.clone() })
                                    .unwrap_or_default()
                            };
                            let value = MetricValue::ExponentialHistogram(ExponentialHistogram {
                                count: p.count,
                                sum: p.sum,
                                min: p.min,
                                max: p.max,
                                scale: p.scale,
                                zero_count: p.zero_count,
                                positive: buckets(&p.positive),
                                negative: buckets(&p.negative),
                            });
                            out.push(point(
                                MetricKind::ExponentialHistogram,
                                temporality(h.aggregation_temporality),
                                false,
                                &p.attributes,
                                p.start_time_unix_nano,
                                p.time_unix_nano,
                                value,
                            ));
                        }
                    }
                    Some(metric::Data::Summary(s)) => {
                        for p in &s.data_points {
                            let value = MetricValue::Summary {
                                count: p.count,
                                sum: p.sum,
                                quantiles: p
                                    .quantile_values
                                    .iter()
                                    .map(|q| SummaryQuantile {
                                        quantile: q.quantile,
                                        value: q.value,
                                    })
                                    .collect(),
                            };
                            out.push(point(
                                MetricKind::Summary,
                                Temporality::Unspecified,
                                false,
                                &p.attributes,
                                p.start_time_unix_nano,
                                p.time_unix_nano,
                                value,
                            ));
                        }
                    }
                }
            }
        }
    }
    out
}
