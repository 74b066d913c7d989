//! OpenTelemetry SDK providers that export to weir over gRPC, as a function
//! configured only by its OTLP endpoint would: one place builds them.

use opentelemetry_otlp::{LogExporter, MetricExporter, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;

/// The runtime the exporters' channels live on; enter it before building a
/// provider and keep it until the provider is shut down.
pub fn exporter_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// The resource of a service with no other attributes.
pub fn service(name: &str) -> Resource {
    Resource::builder()
        .with_service_name(name.to_string())
        .build()
}

/// Spans of `service`, batched to `endpoint` (`http://host:port`).
pub fn tracer_provider(endpoint: &str, service_name: &str) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_resource(service(service_name))
        .with_batch_exporter(
            SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()
                .unwrap(),
        )
        .build()
}

/// Log records of `service`, batched to `endpoint`.
pub fn logger_provider(endpoint: &str, service_name: &str) -> SdkLoggerProvider {
    SdkLoggerProvider::builder()
        .with_resource(service(service_name))
        .with_batch_exporter(
            LogExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()
                .unwrap(),
        )
        .build()
}

/// Metrics of `service`, exported periodically (and on flush) to `endpoint`.
pub fn meter_provider(endpoint: &str, service_name: &str) -> SdkMeterProvider {
    SdkMeterProvider::builder()
        .with_resource(service(service_name))
        .with_periodic_exporter(
            MetricExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()
                .unwrap(),
        )
        .build()
}
