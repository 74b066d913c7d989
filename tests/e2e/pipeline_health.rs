//! A three-component pipeline — producer → stream → batch consumer → store
//! writer — sends its telemetry through the OpenTelemetry SDK, and the
//! components endpoint reports exactly what happened.

use crate::harness::{Postgres, Weir, wait_for};
use crate::sdk::{exporter_runtime, logger_provider, meter_provider, tracer_provider};
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{
    Link, Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use serde_json::Value;
use std::time::Duration;

pub(crate) fn run_pipeline(weir: &Weir) {
    let runtime = exporter_runtime();
    let _guard = runtime.enter();
    let endpoint = format!("http://{}", weir.grpc);

    // Producer: 10 requests, each publishing one record to the stream.
    let producer = tracer_provider(&endpoint, "clickstream-producer");
    let tracer = producer.tracer("e2e");
    let mut records = Vec::new();
    for i in 0..10 {
        let request = tracer
            .span_builder("POST /events")
            .with_kind(SpanKind::Server)
            .start(&tracer);
        let cx = Context::current_with_span(request);
        let mut publish = tracer
            .span_builder("clickstream publish")
            .with_kind(SpanKind::Producer)
            .with_attributes([
                KeyValue::new("messaging.destination.name", "clickstream"),
                KeyValue::new("record.id", format!("rec-{i}")),
            ])
            .start_with_context(&tracer, &cx);
        records.push(publish.span_context().clone());
        publish.end();
        cx.span().end();
    }

    // Consumer: two batches of five records, one link per record; the first
    // batch is a cold start, the second fails.
    let consumer = tracer_provider(&endpoint, "page-view-counter");
    let consumer_logs = logger_provider(&endpoint, "page-view-counter");
    let tracer = consumer.tracer("e2e");
    let mut first_batch = None;
    for (b, batch) in records.chunks(5).enumerate() {
        let mut attrs = vec![
            KeyValue::new("messaging.destination.name", "clickstream"),
            KeyValue::new("messaging.batch.message_count", 5),
            KeyValue::new("faas.trigger", "pubsub"),
        ];
        if b == 0 {
            attrs.push(KeyValue::new("faas.coldstart", true));
            attrs.push(KeyValue::new("faas.init_duration", 180));
        }
        let mut span = tracer
            .span_builder("process batch")
            .with_kind(SpanKind::Consumer)
            .with_attributes(attrs)
            .with_links(
                batch
                    .iter()
                    .map(|c| Link::with_context(c.clone()))
                    .collect(),
            )
            .start(&tracer);
        if b == 0 {
            // The consumer logs the record it counted, by its correlation id.
            let logger = consumer_logs.logger("e2e");
            let mut record = logger.create_log_record();
            record.set_body(AnyValue::from("counted page view"));
            record.set_severity_number(Severity::Info);
            record.add_attribute("record.id", "rec-3");
            let sc = span.span_context();
            record.set_trace_context(sc.trace_id(), sc.span_id(), None);
            logger.emit(record);
            first_batch = Some(span.span_context().clone());
        }
        if b == 1 {
            span.set_status(Status::error("poison record"));
        }
        span.end();
    }

    // Store writer: four invocations; one records an exception event, one
    // has an exception log record tied to its trace.
    let writer = tracer_provider(&endpoint, "kv-writer");
    let tracer = writer.tracer("e2e");
    let logs = logger_provider(&endpoint, "kv-writer");
    let logger = logs.logger("e2e");
    for w in 0..4 {
        // The first write is called from the first batch: same trace.
        let parent = match (w, &first_batch) {
            (0, Some(batch)) => Context::new().with_remote_span_context(batch.clone()),
            _ => Context::new(),
        };
        let mut span = tracer
            .span_builder("put item")
            .with_kind(SpanKind::Internal)
            .with_attributes([KeyValue::new("faas.invocation_id", format!("inv-{w}"))])
            .start_with_context(&tracer, &parent);
        if w == 1 {
            span.add_event(
                "exception",
                vec![KeyValue::new("exception.type", "ConditionalCheckFailed")],
            );
        }
        if w == 2 {
            let mut record = logger.create_log_record();
            record.set_event_name("exception");
            record.set_body(AnyValue::from("throttled by the table"));
            record.set_severity_number(Severity::Error);
            let sc = span.span_context();
            record.set_trace_context(sc.trace_id(), sc.span_id(), None);
            logger.emit(record);
        }
        span.end();
    }

    // The consumer's lag: time lag per shard and record lag, never mixed.
    let meters = meter_provider(&endpoint, "page-view-counter");
    let meter = meters.meter("e2e");
    let age = meter
        .u64_gauge("pipeline.iterator_age")
        .with_unit("ms")
        .build();
    age.record(1500, &[KeyValue::new("shard", "shard-0")]);
    age.record(2500, &[KeyValue::new("shard", "shard-1")]);
    meter
        .u64_gauge("kafka.consumer_group.lag")
        .with_unit("{records}")
        .build()
        .record(42, &[KeyValue::new("partition", "0")]);

    for p in [&producer, &consumer, &writer] {
        p.force_flush().expect("spans acknowledged");
    }
    logs.force_flush().expect("logs acknowledged");
    consumer_logs.force_flush().expect("logs acknowledged");
    meters.force_flush().expect("metrics acknowledged");
}

fn component<'a>(all: &'a Value, name: &str) -> Option<&'a Value> {
    all["components"]
        .as_array()?
        .iter()
        .find(|c| c["component"] == name)
}

pub(crate) fn assert_health(weir: &Weir) {
    let health = wait_for("the components to add up", Duration::from_secs(30), || {
        let v = weir.get_json("/api/v1/components?window=15m");
        let done = component(&v, "clickstream-producer").is_some_and(|c| c["invocations"] == 10)
            && component(&v, "page-view-counter").is_some_and(|c| {
                c["invocations"] == 2 && c["max_lag"].as_array().is_some_and(|l| l.len() == 2)
            })
            && component(&v, "kv-writer")
                .is_some_and(|c| c["invocations"] == 4 && c["errors"] == 2);
        done.then_some(v)
    });
    let producer = component(&health, "clickstream-producer").unwrap();
    assert_eq!(producer["errors"], 0);
    assert_eq!(producer["error_rate"], 0.0);
    assert_eq!(producer["cold_starts"], 0);
    assert!(producer["p99_ms"].as_f64().is_some());

    let consumer = component(&health, "page-view-counter").unwrap();
    assert_eq!(consumer["errors"], 1);
    assert_eq!(consumer["error_rate"], 0.5);
    assert_eq!(consumer["cold_starts"], 1);
    assert_eq!(consumer["cold_start_rate"], 0.5);
    assert_eq!(consumer["records"], 10);
    let init = consumer["init_p50_ms"].as_f64().unwrap();
    assert!((init - 180.0).abs() / 180.0 <= 0.01, "{init}");
    let lag = consumer["max_lag"].as_array().unwrap();
    assert!(
        lag.contains(&serde_json::json!({"value": 2500.0, "unit": "ms"})),
        "{lag:?}"
    );
    assert!(
        lag.contains(&serde_json::json!({"value": 42.0, "unit": "records"})),
        "{lag:?}"
    );

    let writer = component(&health, "kv-writer").unwrap();
    assert_eq!(
        writer["errors"], 2,
        "one exception event, one exception log"
    );
    assert_eq!(writer["error_rate"], 0.5);
}

pub(crate) fn assert_lag_series(weir: &Weir) {
    let v = weir.get_json(
        "/api/v1/metrics?name=pipeline.iterator_age&step=1m&agg=max&match[shard]=shard-1",
    );
    let series = v["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{v}");
    assert_eq!(series[0]["service"], "page-view-counter");
    assert_eq!(series[0]["attributes"]["shard"], "shard-1");
    assert_eq!(series[0]["unit"], "ms");
    assert_eq!(series[0]["values"][0][1], 2500.0);
    let both = weir.get_json("/api/v1/metrics?name=pipeline.iterator_age&step=1m&agg=max");
    assert_eq!(
        both["series"].as_array().unwrap().len(),
        2,
        "one series per shard"
    );
    let bad = weir.get("/api/v1/metrics?name=pipeline.iterator_age&step=1m&agg=median");
    assert_eq!(bad.status(), 400);
}

pub(crate) fn assert_topology(weir: &Weir) {
    let edge = |v: &Value, from: &str, to: &str| -> Option<Value> {
        v["edges"]
            .as_array()?
            .iter()
            .find(|e| e["source"]["name"] == from && e["target"]["name"] == to)
            .cloned()
    };
    let topology = wait_for(
        "the stream between producer and consumer",
        Duration::from_secs(30),
        || {
            let v = weir.get_json("/api/v1/topology?window=15m");
            (edge(&v, "clickstream-producer", "clickstream").is_some()
                && edge(&v, "clickstream", "page-view-counter").is_some()
                && edge(&v, "page-view-counter", "kv-writer").is_some())
            .then_some(v)
        },
    );
    let published = edge(&topology, "clickstream-producer", "clickstream").unwrap();
    assert_eq!(published["source"]["kind"], "component");
    assert_eq!(published["target"]["kind"], "stream");
    assert_eq!(published["count"], 10);
    let consumed = edge(&topology, "clickstream", "page-view-counter").unwrap();
    assert_eq!(consumed["count"], 10, "one crossing per delivered record");
    assert_eq!(
        consumed["errors"], 5,
        "the five records of the failed batch"
    );
    assert_eq!(consumed["delivery_lag_samples"], 10);
    assert!(consumed["delivery_lag_p99_ms"].as_f64().unwrap() >= 0.0);
    let called = edge(&topology, "page-view-counter", "kv-writer").unwrap();
    assert_eq!(called["count"], 1);
    let stream = topology["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "clickstream")
        .unwrap();
    assert_eq!(stream["kind"], "stream");
    assert!(
        edge(&topology, "clickstream-producer", "page-view-counter").is_none(),
        "the stream stands between them"
    );
}

pub(crate) fn assert_correlation(weir: &Weir) {
    // Spans and logs commit independently: wait for the consumer's log too.
    let found = wait_for(
        "rec-3 across three components, with the consumer's log",
        Duration::from_secs(30),
        || {
            let v = weir.get_json("/api/v1/correlate/rec-3");
            let log = v["matches"]
                .as_array()?
                .iter()
                .any(|m| m["signal"] == "log" && m["service"] == "page-view-counter");
            (v["components"].as_array().map_or(0, |c| c.len()) >= 3 && log).then_some(v)
        },
    );
    let names: Vec<&str> = found["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["component"].as_str().unwrap())
        .collect();
    // In time order: the record is produced, consumed, then written.
    assert_eq!(
        names,
        ["clickstream-producer", "page-view-counter", "kv-writer"]
    );
    let matches = found["matches"].as_array().unwrap();
    assert!(
        matches
            .iter()
            .any(|m| m["signal"] == "span" && m["service"] == "clickstream-producer"),
        "{matches:?}"
    );
    assert!(
        matches
            .iter()
            .any(|m| m["signal"] == "log" && m["service"] == "page-view-counter"),
        "{matches:?}"
    );
    let traces = found["traces"].as_array().unwrap();
    let spans_of = |service: &str| {
        traces
            .iter()
            .flat_map(|t| t["spans"].as_array().unwrap())
            .filter(|s| s["service"] == service)
            .count()
    };
    assert!(
        spans_of("clickstream-producer") >= 2,
        "the producer's request and publish spans"
    );
    assert_eq!(
        spans_of("page-view-counter"),
        1,
        "the batch that carried rec-3"
    );
    assert_eq!(spans_of("kv-writer"), 1, "the write it called");
    let logs: usize = traces
        .iter()
        .map(|t| t["logs"].as_array().unwrap().len())
        .sum();
    assert!(logs >= 1);
    // The consumer's batch links to five producer traces: the other four
    // are other records' and stay out; the record's own producer trace and
    // the batch's trace (its log carries rec-3) are both direct.
    assert_eq!(
        traces.len(),
        2,
        "{:?}",
        traces.iter().map(|t| &t["trace_id"]).collect::<Vec<_>>()
    );
    assert!(traces.iter().all(|t| t["relation"] == "direct"));
    // The same answer from any of its ids: the consumer's trace id.
    let consumer_trace = traces
        .iter()
        .find(|t| {
            t["spans"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["service"] == "page-view-counter")
        })
        .unwrap()["trace_id"]
        .as_str()
        .unwrap()
        .to_string();
    let by_trace = weir.get_json(&format!("/api/v1/correlate/{consumer_trace}"));
    assert_eq!(
        by_trace["components"].as_array().unwrap().len(),
        3,
        "{by_trace}"
    );
}

#[test]
fn components_report_exact_invocations_errors_cold_starts_records_and_lag_on_sqlite() {
    // Nothing is committed before the kill: the rollups come from the replay.
    let mut weir = Weir::start("[ingest]\ncommit_interval = \"1h\"");
    run_pipeline(&weir);
    weir.kill9();
    weir.restart();
    assert_health(&weir);
    // A second crash and replay counts no invocation twice.
    weir.kill9();
    weir.restart();
    assert_health(&weir);
    assert_lag_series(&weir);
    assert_topology(&weir);
    assert_correlation(&weir);
}

#[test]
fn components_report_the_same_on_postgres() {
    let pg = Postgres::start();
    let weir = Weir::start(&format!("[database]\nurl = \"{}\"", pg.url));
    run_pipeline(&weir);
    assert_health(&weir);
    assert_lag_series(&weir);
    assert_topology(&weir);
    assert_correlation(&weir);
}
