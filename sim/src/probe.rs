//! One empty export before the simulation starts, so a wrong endpoint or
//! protocol is one line that says what to do — not the SDK's exporters
//! logging the same failure for every batch while the run goes on.

use crate::emit::{Protocol, Target};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use std::time::Duration;

/// How long the probe waits for an answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The endpoint did not take an OTLP export of the chosen protocol.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProbeError(String);

/// Sends one empty export of spans to `target`.
pub async fn probe(target: &Target) -> Result<(), ProbeError> {
    match target.protocol {
        Protocol::Grpc => probe_grpc(target).await,
        Protocol::Http | Protocol::HttpJson => probe_http(target).await,
    }
}

fn unreachable(target: &Target, cause: impl std::fmt::Display) -> ProbeError {
    ProbeError(format!(
        "nothing answers OTLP at {}: {cause}; start weir there, or pass --endpoint (or set OTEL_EXPORTER_OTLP_ENDPOINT)",
        target.endpoint
    ))
}

async fn probe_grpc(target: &Target) -> Result<(), ProbeError> {
    let endpoint = tonic::transport::Endpoint::from_shared(target.endpoint.clone())
        .map_err(|e| ProbeError(format!("--endpoint {:?}: {e}", target.endpoint)))?
        .connect_timeout(PROBE_TIMEOUT)
        .timeout(PROBE_TIMEOUT);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| unreachable(target, source_text(&e)))?;
    let mut request = tonic::Request::new(ExportTraceServiceRequest::default());
    for (k, v) in &target.headers {
        if let (Ok(k), Ok(v)) = (
            k.parse::<tonic::metadata::MetadataKey<_>>(),
            v.parse::<tonic::metadata::MetadataValue<_>>(),
        ) {
            request.metadata_mut().insert(k, v);
        }
    }
    match TraceServiceClient::new(channel).export(request).await {
        Ok(_) => Ok(()),
        // An HTTP server answers a gRPC call with 404 or 415, which gRPC
        // reads as Unimplemented or Unknown.
        Err(s) if matches!(s.code(), tonic::Code::Unimplemented | tonic::Code::Unknown) => {
            Err(ProbeError(format!(
                "{} answered as OTLP/HTTP, not gRPC; pass --protocol http (or set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf)",
                target.endpoint
            )))
        }
        Err(s) if s.code() == tonic::Code::Unauthenticated => Err(refused(target, s.message())),
        Err(s) if s.code() == tonic::Code::Unavailable => Err(unreachable(target, s.message())),
        // Anything else (overloaded, a quota) is weir answering: the run
        // may go on and the exporters retry.
        Err(_) => Ok(()),
    }
}

fn refused(target: &Target, why: &str) -> ProbeError {
    ProbeError(format!(
        "{} refused the export ({why}); pass --token (or set OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20<token>)",
        target.endpoint
    ))
}

async fn probe_http(target: &Target) -> Result<(), ProbeError> {
    let client = reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .build()
        .map_err(|e| ProbeError(format!("cannot build an HTTP client: {e}")))?;
    let json = target.protocol == Protocol::HttpJson;
    let mut request = client
        .post(format!(
            "{}/v1/traces",
            target.endpoint.trim_end_matches('/')
        ))
        .header(
            "content-type",
            if json {
                "application/json"
            } else {
                "application/x-protobuf"
            },
        )
        .body(if json { "{}".as_bytes() } else { &[][..] });
    for (k, v) in &target.headers {
        request = request.header(k, v);
    }
    let answer = match request.send().await {
        Ok(a) => a,
        Err(e) if e.is_connect() || e.is_timeout() => {
            return Err(unreachable(target, source_text(&e)));
        }
        // A gRPC server speaks only HTTP/2 and drops an HTTP/1.1 request.
        Err(e) => {
            return Err(ProbeError(format!(
                "{} did not answer as OTLP/HTTP ({}); if it is an OTLP/gRPC port (4317), pass --protocol grpc",
                target.endpoint,
                source_text(&e)
            )));
        }
    };
    let status = answer.status();
    if status.is_success() || status.as_u16() == 429 || status.as_u16() == 503 {
        return Ok(());
    }
    if status.as_u16() == 401 || status.as_u16() == 403 {
        return Err(refused(target, status.as_str()));
    }
    Err(ProbeError(format!(
        "{}/v1/traces answered {status}: not an OTLP/HTTP receiver; check --endpoint, or pass --protocol grpc for an OTLP/gRPC port",
        target.endpoint.trim_end_matches('/')
    )))
}

/// The innermost cause, which names what went wrong (`Connection refused`).
fn source_text(e: &dyn std::error::Error) -> String {
    let mut inner = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}
