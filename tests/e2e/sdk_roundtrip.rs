//! A function exports spans, logs and metrics through the OpenTelemetry SDK;
//! weir acknowledges them and the API returns exactly what was sent.

use crate::harness::{Postgres, Weir, wait_for};
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{
    Link, Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{
    Compression, LogExporter, MetricExporter, Protocol, SpanExporter, WithExportConfig,
    WithTonicConfig,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::Value;
use std::time::Duration;

#[derive(Clone, Copy)]
enum Transport {
    GrpcGzip,
    HttpProtobuf,
}

struct Providers {
    traces: SdkTracerProvider,
    logs: SdkLoggerProvider,
    metrics: SdkMeterProvider,
    // Keeps the tonic channels' background tasks alive.
    _runtime: tokio::runtime::Runtime,
}

fn providers(weir: &Weir, transport: Transport) -> Providers {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let resource = Resource::builder()
        .with_service_name("checkout")
        .with_attribute(KeyValue::new("cloud.provider", "aws"))
        .build();
    let (spans, logs, metrics) = match transport {
        Transport::GrpcGzip => {
            let endpoint = format!("http://{}", weir.grpc);
            (
                SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(&endpoint)
                    .with_compression(Compression::Gzip)
                    .build()
                    .unwrap(),
                LogExporter::builder()
                    .with_tonic()
                    .with_endpoint(&endpoint)
                    .with_compression(Compression::Gzip)
                    .build()
                    .unwrap(),
                MetricExporter::builder()
                    .with_tonic()
                    .with_endpoint(&endpoint)
                    .with_compression(Compression::Gzip)
                    .build()
                    .unwrap(),
            )
        }
        Transport::HttpProtobuf => {
            let base = format!("http://{}", weir.http);
            // The blocking HTTP client must not be built on a runtime thread.
            std::thread::scope(|s| {
                s.spawn(|| {
                    (
                        SpanExporter::builder()
                            .with_http()
                            .with_protocol(Protocol::HttpBinary)
                            .with_endpoint(format!("{base}/v1/traces"))
                            .build()
                            .unwrap(),
                        LogExporter::builder()
                            .with_http()
                            .with_protocol(Protocol::HttpBinary)
                            .with_endpoint(format!("{base}/v1/logs"))
                            .build()
                            .unwrap(),
                        MetricExporter::builder()
                            .with_http()
                            .with_protocol(Protocol::HttpBinary)
                            .with_endpoint(format!("{base}/v1/metrics"))
                            .build()
                            .unwrap(),
                    )
                })
                .join()
                .unwrap()
            })
        }
    };
    Providers {
        traces: SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_batch_exporter(spans)
            .build(),
        logs: SdkLoggerProvider::builder()
            .with_resource(resource.clone())
            .with_batch_exporter(logs)
            .build(),
        metrics: SdkMeterProvider::builder()
            .with_resource(resource)
            .with_periodic_exporter(metrics)
            .build(),
        _runtime: runtime,
    }
}

fn roundtrip(weir: &Weir, transport: Transport) {
    let p = providers(weir, transport);
    let tracer = p.traces.tracer("e2e");

    // A record produced elsewhere, which the consumer's span links to.
    let producer_ctx = SpanContext::new(
        TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
        SpanId::from_hex("b7ad6b7169203331").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let mut batch = tracer
        .span_builder("process batch")
        .with_kind(SpanKind::Consumer)
        .with_attributes([
            KeyValue::new("faas.coldstart", true),
            KeyValue::new("messaging.batch.message_count", 3),
            KeyValue::new("order.id", "o-42"),
        ])
        .with_links(vec![Link::with_context(producer_ctx)])
        .start(&tracer);
    let batch_ctx = batch.span_context().clone();
    let cx = Context::new().with_remote_span_context(batch_ctx.clone());
    let mut write = tracer
        .span_builder("write order")
        .with_kind(SpanKind::Client)
        .start_with_context(&tracer, &cx);
    write.add_event(
        "exception",
        vec![KeyValue::new("exception.type", "Timeout")],
    );
    write.set_status(Status::error("store timed out"));
    let write_id = write.span_context().span_id();
    write.end();
    batch.end();

    let logger = p.logs.logger("e2e");
    let mut record = logger.create_log_record();
    record.set_body(AnyValue::from("payment declined for order o-42"));
    record.set_severity_number(Severity::Error);
    record.set_severity_text("ERROR");
    record.add_attribute("order.id", "o-42");
    record.set_trace_context(batch_ctx.trace_id(), write_id, None);
    record.set_timestamp(std::time::SystemTime::now());
    logger.emit(record);

    let meter = p.metrics.meter("e2e");
    meter
        .u64_gauge("pipeline.iterator_age")
        .with_unit("ms")
        .build()
        .record(1234, &[KeyValue::new("shard", "shard-1")]);
    meter.u64_counter("records.processed").build().add(7, &[]);
    let h = meter
        .f64_histogram("invocation.duration")
        .with_unit("ms")
        .build();
    h.record(12.5, &[]);
    h.record(80.0, &[]);

    // force_flush returns only once weir has acknowledged each export.
    p.traces.force_flush().expect("spans acknowledged");
    p.logs.force_flush().expect("logs acknowledged");
    p.metrics.force_flush().expect("metrics acknowledged");

    let trace_hex = batch_ctx.trace_id().to_string();
    let trace = weir.wait_for_trace(&trace_hex, 2, 1);
    let spans = trace["spans"].as_array().unwrap();
    assert_eq!(spans[0]["name"], "process batch", "parent first");
    assert_eq!(spans[0]["depth"], 0);
    assert_eq!(spans[0]["kind"], "consumer");
    assert_eq!(spans[0]["service"], "checkout");
    assert_eq!(spans[0]["attributes"]["faas.coldstart"], true);
    assert_eq!(spans[0]["attributes"]["messaging.batch.message_count"], 3);
    assert_eq!(spans[0]["resource"]["cloud.provider"], "aws");
    assert_eq!(
        spans[0]["links"][0]["trace_id"],
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_eq!(spans[0]["links"][0]["span_id"], "b7ad6b7169203331");
    assert_eq!(spans[1]["name"], "write order");
    assert_eq!(spans[1]["depth"], 1);
    assert_eq!(spans[1]["parent_span_id"], batch_ctx.span_id().to_string());
    assert_eq!(spans[1]["status"], "error");
    assert_eq!(spans[1]["status_message"], "store timed out");
    assert_eq!(spans[1]["events"][0]["name"], "exception");
    assert_eq!(
        spans[1]["events"][0]["attributes"]["exception.type"],
        "Timeout"
    );
    let log = &trace["logs"][0];
    assert_eq!(log["body"], "payment declined for order o-42");
    assert_eq!(log["severity"], "error");
    assert_eq!(log["span_id"], write_id.to_string());

    // Query syntax over the documented fields finds the same records.
    let hits = weir.get_json("/api/v1/search?q=service:checkout%20AND%20status:error&signal=spans");
    assert_eq!(hits["count"], 1, "{hits}");
    assert_eq!(hits["hits"][0]["name"], "write order");
    let hits = weir.get_json("/api/v1/search?q=attributes.faas.coldstart:true");
    assert_eq!(hits["count"], 1, "{hits}");
    let hits = weir.get_json("/api/v1/search?q=key:o-42");
    assert_eq!(hits["count"], 2, "the span and the log carry o-42: {hits}");
    let hits = weir.get_json("/api/v1/search?q=declined&signal=logs");
    assert_eq!(hits["hits"][0]["signal"], "log");

    let gauge = metric_points(weir, "pipeline.iterator_age");
    assert_eq!(gauge[0]["value"]["value"], 1234.0);
    assert_eq!(gauge[0]["unit"], "ms");
    assert_eq!(gauge[0]["kind"], "gauge");
    assert_eq!(gauge[0]["service"], "checkout");
    assert_eq!(gauge[0]["attributes"]["shard"], "shard-1");
    let counter = metric_points(weir, "records.processed");
    assert_eq!(counter[0]["kind"], "sum");
    assert_eq!(counter[0]["monotonic"], true);
    assert_eq!(counter[0]["value"]["value"], 7.0);
    let hist = metric_points(weir, "invocation.duration");
    assert_eq!(hist[0]["value"]["type"], "histogram");
    assert_eq!(hist[0]["value"]["count"], 2);
    assert_eq!(hist[0]["value"]["sum"], 92.5);

    // Quantiles come from the histogram's buckets: 80 ms lies in (75, 100].
    let p99 = weir.get_json("/api/v1/metrics?name=invocation.duration&step=1m&agg=p99");
    let v = p99["series"][0]["values"][0][1].as_f64().unwrap();
    assert!(v > 75.0 && v <= 100.0, "{p99}");

    let _ = p.traces.shutdown();
    let _ = p.logs.shutdown();
    let _ = p.metrics.shutdown();
}

fn metric_points(weir: &Weir, name: &str) -> Vec<Value> {
    wait_for(&format!("metric {name}"), Duration::from_secs(30), || {
        let v = weir.get_json(&format!("/api/v1/metrics?name={name}"));
        let points = v["points"].as_array().unwrap().clone();
        (!points.is_empty()).then_some(points)
    })
}

#[test]
fn grpc_gzip_exporters_round_trip_on_sqlite() {
    roundtrip(&Weir::start(""), Transport::GrpcGzip);
}

#[test]
fn http_protobuf_exporters_round_trip_on_sqlite() {
    roundtrip(&Weir::start(""), Transport::HttpProtobuf);
}

#[test]
fn grpc_exporters_round_trip_on_postgres() {
    let pg = Postgres::start();
    roundtrip(
        &Weir::start(&format!("[database]\nurl = \"{}\"", pg.url)),
        Transport::GrpcGzip,
    );
}

#[test]
fn http_protobuf_exporters_round_trip_on_postgres() {
    let pg = Postgres::start();
    roundtrip(
        &Weir::start(&format!("[database]\nurl = \"{}\"", pg.url)),
        Transport::HttpProtobuf,
    );
}
