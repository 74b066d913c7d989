//! Realistic telemetry: spans of about fifteen attributes from a fleet of
//! pipeline functions, log records and metric points.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

pub(crate) fn s(key: &str, v: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}
fn i(key: &str, v: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(v)),
        }),
        ..Default::default()
    }
}
pub(crate) fn b(key: &str, v: bool) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::BoolValue(v)),
        }),
        ..Default::default()
    }
}

const SERVICES: [&str; 8] = [
    "page-view-counter",
    "clickstream-producer",
    "kv-writer",
    "archive-delivery",
    "validate-data",
    "transform-data",
    "store-data",
    "thumbnail",
];
const ROUTES: [&str; 4] = ["/orders/{id}", "/cart", "/checkout", "/events"];

pub(crate) fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            s("service.name", service),
            s("faas.name", service),
            s("cloud.provider", "aws"),
            s("cloud.region", "eu-west-1"),
            s("telemetry.sdk.language", "rust"),
        ],
        ..Default::default()
    })
}

/// A trace id unique per (client, sequence).
pub fn trace_id(client: u64, seq: u64) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(client + 1).to_be_bytes());
    id[8..].copy_from_slice(&seq.to_be_bytes());
    id
}

/// A batch of `n` spans: traces of four spans each, ids derived from `seq`.
pub fn spans(client: u64, seq: &mut u64, n: usize) -> ExportTraceServiceRequest {
    let now = now_nanos();
    let service = SERVICES[(*seq as usize / n.max(1)) % SERVICES.len()];
    let mut out = Vec::with_capacity(n);
    let mut trace = trace_id(client, *seq);
    for k in 0..n {
        if k % 4 == 0 {
            *seq += 1;
            trace = trace_id(client, *seq);
        }
        let span_no = (*seq * 4 + (k % 4) as u64) + 1;
        let start = now - 50_000_000 + (k as u64) * 1000;
        let record = format!("rec-{client}-{seq}-{k}");
        out.push(Span {
            trace_id: trace.to_vec(),
            span_id: span_no.to_be_bytes().to_vec(),
            parent_span_id: if k % 4 == 0 {
                vec![]
            } else {
                (span_no - (k % 4) as u64).to_be_bytes().to_vec()
            },
            name: ["process batch", "get record", "put item", "publish"][k % 4].into(),
            kind: [5, 3, 3, 4][k % 4],
            start_time_unix_nano: start,
            end_time_unix_nano: start + 1_000_000 + (k as u64 % 97) * 10_000,
            attributes: vec![
                // Only a trace's root is an invocation of its function.
                if k % 4 == 0 {
                    s("faas.invocation_id", format!("inv-{client}-{seq}"))
                } else {
                    s("rpc.method", "PutRecord")
                },
                if k % 4 == 0 {
                    s("faas.trigger", "pubsub")
                } else {
                    s("rpc.system", "aws-api")
                },
                b("faas.coldstart", k % 200 == 0),
                s("messaging.system", "aws_kinesis"),
                s("messaging.destination.name", "clickstream"),
                s("messaging.operation", "process"),
                i("messaging.batch.message_count", 100),
                s("aws.kinesis.stream_name", "clickstream"),
                s(
                    "aws.kinesis.shard_id",
                    format!("shardId-00000000000{}", k % 2),
                ),
                s("record.key", record),
                s(
                    "user.id",
                    format!("user-{}", (*seq * 7 + k as u64) % 10_000),
                ),
                s("http.route", ROUTES[k % ROUTES.len()]),
                i("http.status_code", if k % 100 == 0 { 500 } else { 200 }),
                s("code.function", "handler"),
                s("page.path", format!("/products/{}", k % 300)),
            ],
            status: (k % 100 == 0).then(|| Status {
                code: 2,
                message: "throttled".into(),
            }),
            ..Default::default()
        });
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(service),
            scope_spans: vec![ScopeSpans {
                spans: out,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A batch of `n` log records, a third of them tied to a trace.
pub fn logs(client: u64, seq: &mut u64, n: usize) -> ExportLogsServiceRequest {
    let now = now_nanos();
    let records = (0..n)
        .map(|k| {
            *seq += 1;
            LogRecord {
                time_unix_nano: now,
                observed_time_unix_nano: now,
                severity_number: if k % 20 == 0 { 17 } else { 9 },
                severity_text: if k % 20 == 0 {
                    "ERROR".into()
                } else {
                    "INFO".into()
                },
                body: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(format!(
                        "processed record rec-{client}-{seq} from shard {} in {} ms",
                        k % 2,
                        k % 40
                    ))),
                }),
                attributes: vec![
                    s("record.key", format!("rec-{client}-{seq}")),
                    s("aws.request_id", format!("req-{seq}")),
                    i("attempt", 1),
                ],
                trace_id: if k % 3 == 0 {
                    trace_id(client, *seq).to_vec()
                } else {
                    vec![]
                },
                span_id: if k % 3 == 0 {
                    (*seq + 1).to_be_bytes().to_vec()
                } else {
                    vec![]
                },
                ..Default::default()
            }
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(SERVICES[*seq as usize % SERVICES.len()]),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A batch of `n` gauge points across shards and consumer groups.
pub fn metrics(client: u64, seq: &mut u64, n: usize) -> ExportMetricsServiceRequest {
    let now = now_nanos();
    let points = (0..n)
        .map(|k| {
            *seq += 1;
            NumberDataPoint {
                attributes: vec![
                    s("shard", format!("shard-{}", k % 16)),
                    s("consumer.group", format!("group-{client}")),
                ],
                time_unix_nano: now + k as u64,
                value: Some(number_data_point::Value::AsDouble((*seq % 5000) as f64)),
                ..Default::default()
            }
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(SERVICES[client as usize % SERVICES.len()]),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "pipeline.iterator_age".into(),
                    unit: "ms".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: points,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
