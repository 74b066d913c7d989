//! Sends batches through the OpenTelemetry SDK: one tracer, logger and
//! meter provider per component (each its own `service.name`), batching
//! processors, OTLP over gRPC or HTTP/protobuf, gzip.

use crate::plan::{Batch, SpanKey};
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _};
use opentelemetry::metrics::{Gauge, MeterProvider as _};
use opentelemetry::trace::{
    Link, Span as _, SpanContext, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{
    Compression, LogExporter, MetricExporter, SpanExporter, WithExportConfig, WithHttpConfig,
    WithTonicConfig,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{BatchLogProcessor, SdkLogger, SdkLoggerProvider};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider,
};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC (port 4317 by convention).
    Grpc,
    /// OTLP/HTTP with protobuf bodies (port 4318).
    Http,
    /// OTLP/HTTP with JSON bodies (port 4318).
    HttpJson,
}

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://host:port`, without a path.
    pub endpoint: String,
    /// Transport.
    pub protocol: Protocol,
    /// Headers sent with every export (`authorization: Bearer <token>`,
    /// and whatever `OTEL_EXPORTER_OTLP_HEADERS` names).
    pub headers: Vec<(String, String)>,
}

/// Why the exporters could not be built or flushed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EmitError(String);

impl EmitError {
    /// An error with this message.
    pub fn from_message(message: String) -> Self {
        EmitError(message)
    }
}

/// How many span contexts are remembered for parents and links: enough for
/// every record a consumer may still be behind on.
const REMEMBERED_SPANS: usize = 200_000;

struct Component {
    tracer_provider: SdkTracerProvider,
    tracer: SdkTracer,
    logger_provider: SdkLoggerProvider,
    logger: SdkLogger,
    meter_provider: SdkMeterProvider,
    gauges: HashMap<&'static str, Gauge<f64>>,
}

/// Sends what scenarios plan.
pub struct Emitter {
    target: Target,
    components: HashMap<&'static str, Component>,
    contexts: HashMap<SpanKey, SpanContext>,
    order: VecDeque<SpanKey>,
    /// Spans, log records and gauge readings handed to the SDK.
    pub sent: (u64, u64, u64),
}

/// A span attribute value as a log attribute value.
fn any_value(value: opentelemetry::Value) -> AnyValue {
    match value {
        opentelemetry::Value::Bool(b) => AnyValue::Boolean(b),
        opentelemetry::Value::I64(i) => AnyValue::Int(i),
        opentelemetry::Value::F64(f) => AnyValue::Double(f),
        other => AnyValue::String(other.as_str().into_owned().into()),
    }
}

fn resource(component: &'static str) -> Resource {
    Resource::builder()
        .with_service_name(component)
        .with_attributes([
            KeyValue::new("cloud.provider", "aws"),
            KeyValue::new("cloud.region", "eu-west-1"),
            KeyValue::new("faas.name", component),
            KeyValue::new("deployment.environment.name", "demo"),
        ])
        .build()
}

fn headers(target: &Target) -> HashMap<String, String> {
    target.headers.iter().cloned().collect()
}

fn metadata(target: &Target) -> tonic::metadata::MetadataMap {
    let mut map = tonic::metadata::MetadataMap::new();
    for (k, v) in &target.headers {
        if let (Ok(k), Ok(v)) = (
            k.parse::<tonic::metadata::MetadataKey<_>>(),
            v.parse::<tonic::metadata::MetadataValue<_>>(),
        ) {
            map.insert(k, v);
        }
    }
    map
}

macro_rules! exporter {
    ($builder:expr, $target:expr, $path:literal) => {{
        let target: &Target = $target;
        match target.protocol {
            Protocol::Grpc => $builder
                .with_tonic()
                .with_endpoint(&target.endpoint)
                .with_compression(Compression::Gzip)
                .with_metadata(metadata(target))
                .build(),
            Protocol::Http | Protocol::HttpJson => $builder
                .with_http()
                .with_protocol(if target.protocol == Protocol::HttpJson {
                    opentelemetry_otlp::Protocol::HttpJson
                } else {
                    opentelemetry_otlp::Protocol::HttpBinary
                })
                .with_endpoint(format!(
                    "{}{}",
                    target.endpoint.trim_end_matches('/'),
                    $path
                ))
                .with_compression(Compression::Gzip)
                .with_headers(headers(target))
                .build(),
        }
        .map_err(|e| {
            EmitError(format!(
                "cannot build the OTLP exporter for {}: {e}",
                target.endpoint
            ))
        })
    }};
}

impl Emitter {
    /// Exporters are built per component as components first appear.
    pub fn new(target: Target) -> Self {
        Emitter {
            target,
            components: HashMap::new(),
            contexts: HashMap::new(),
            order: VecDeque::new(),
            sent: (0, 0, 0),
        }
    }

    fn component(&mut self, name: &'static str) -> Result<&mut Component, EmitError> {
        if !self.components.contains_key(name) {
            let spans = exporter!(SpanExporter::builder(), &self.target, "/v1/traces")?;
            let logs = exporter!(LogExporter::builder(), &self.target, "/v1/logs")?;
            let metrics = exporter!(MetricExporter::builder(), &self.target, "/v1/metrics")?;
            // Batches leave at least every 500 ms; the queue holds a few
            // seconds of a busy component before the SDK drops.
            let span_batches = BatchConfigBuilder::default()
                .with_max_queue_size(65_536)
                .with_max_export_batch_size(2_048)
                .with_scheduled_delay(Duration::from_millis(500))
                .build();
            let tracer_provider = SdkTracerProvider::builder()
                .with_resource(resource(name))
                .with_span_processor(
                    BatchSpanProcessor::builder(spans)
                        .with_batch_config(span_batches)
                        .build(),
                )
                .build();
            let log_batches = opentelemetry_sdk::logs::BatchConfigBuilder::default()
                .with_max_queue_size(65_536)
                .with_max_export_batch_size(2_048)
                .with_scheduled_delay(Duration::from_millis(500))
                .build();
            let logger_provider = SdkLoggerProvider::builder()
                .with_resource(resource(name))
                .with_log_processor(
                    BatchLogProcessor::builder(logs)
                        .with_batch_config(log_batches)
                        .build(),
                )
                .build();
            let meter_provider = SdkMeterProvider::builder()
                .with_resource(resource(name))
                .with_reader(
                    PeriodicReader::builder(metrics)
                        .with_interval(Duration::from_secs(1))
                        .build(),
                )
                .build();
            self.components.insert(
                name,
                Component {
                    tracer: tracer_provider.tracer("weir-sim"),
                    tracer_provider,
                    logger: logger_provider.logger("weir-sim"),
                    logger_provider,
                    meter_provider,
                    gauges: HashMap::new(),
                },
            );
        }
        Ok(self.components.get_mut(name).expect("just inserted"))
    }

    /// Hands a batch to the SDK.
    pub fn emit(&mut self, batch: Batch) -> Result<(), EmitError> {
        for span in batch.spans {
            let parent = span
                .parent
                .and_then(|p| self.contexts.get(&p).cloned())
                .map_or_else(Context::new, |sc| {
                    Context::new().with_remote_span_context(sc)
                });
            let links: Vec<Link> = span
                .links
                .iter()
                .filter_map(|l| self.contexts.get(l).cloned())
                .map(Link::with_context)
                .collect();
            let component = self.component(span.component)?;
            let mut s = component
                .tracer
                .span_builder(span.name)
                .with_kind(span.kind)
                .with_start_time(span.start)
                .with_attributes(span.attributes)
                .with_links(links)
                .start_with_context(&component.tracer, &parent);
            if let Some((kind, message)) = &span.exception {
                s.add_event_with_timestamp(
                    "exception",
                    span.end,
                    vec![
                        KeyValue::new("exception.type", kind.clone()),
                        KeyValue::new("exception.message", message.clone()),
                    ],
                );
            }
            if let Some(message) = span.error {
                s.set_status(Status::error(message));
            }
            let context = s.span_context().clone();
            s.end_with_timestamp(span.end);
            self.remember(span.key, context);
            self.sent.0 += 1;
        }
        for log in batch.logs {
            let context = log.span.and_then(|k| self.contexts.get(&k).cloned());
            let component = self.component(log.component)?;
            let mut record = component.logger.create_log_record();
            record.set_timestamp(log.time);
            record.set_observed_timestamp(log.time);
            record.set_severity_number(log.severity);
            record.set_severity_text(log.severity.name());
            if let Some(name) = log.event_name {
                record.set_event_name(name);
            }
            record.set_body(AnyValue::from(log.body));
            for kv in log.attributes {
                record.add_attribute(kv.key, any_value(kv.value));
            }
            if let Some(sc) = context {
                record.set_trace_context(sc.trace_id(), sc.span_id(), Some(sc.trace_flags()));
            }
            component.logger.emit(record);
            self.sent.1 += 1;
        }
        for g in batch.gauges {
            let component = self.component(g.component)?;
            let gauge = component.gauges.entry(g.name).or_insert_with(|| {
                component
                    .meter_provider
                    .meter("weir-sim")
                    .f64_gauge(g.name)
                    .with_unit(g.unit)
                    .build()
            });
            gauge.record(g.value, &g.attributes);
            self.sent.2 += 1;
        }
        Ok(())
    }

    fn remember(&mut self, key: SpanKey, context: SpanContext) {
        self.contexts.insert(key, context);
        self.order.push_back(key);
        while self.order.len() > REMEMBERED_SPANS {
            if let Some(old) = self.order.pop_front() {
                self.contexts.remove(&old);
            }
        }
    }

    /// Flushes and stops every exporter; reports the first failure.
    pub fn shutdown(self) -> Result<(), EmitError> {
        let mut first = None;
        for (name, c) in self.components {
            let results = [
                c.tracer_provider.force_flush().map_err(|e| e.to_string()),
                c.logger_provider.force_flush().map_err(|e| e.to_string()),
                c.meter_provider.force_flush().map_err(|e| e.to_string()),
            ];
            for r in results {
                if let Err(e) = r {
                    first.get_or_insert_with(|| format!("{name}: {e}"));
                }
            }
            let _ = c.tracer_provider.shutdown();
            let _ = c.logger_provider.shutdown();
            let _ = c.meter_provider.shutdown();
        }
        match first {
            Some(e) => Err(EmitError(format!("not every export was acknowledged: {e}"))),
            None => Ok(()),
        }
    }
}
