//! OTLP/gRPC receiver: the three `Export` services, gzip accepted.

use crate::IngestAuth;
use crate::ingest::{Ingest, IngestError};
use crate::otlp::validate::Rejections;
use crate::otlp::{ExportRequest, SignalKind, response};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use std::sync::Arc;
use tonic::codec::CompressionEncoding;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Shared by the three services.
#[derive(Clone)]
pub struct GrpcReceiver {
    ingest: Arc<Ingest>,
}

/// The trace service, behind its gatekeeper.
pub type TraceServer = InterceptedService<TraceServiceServer<GrpcReceiver>, Gatekeeper>;
/// The logs service, behind its gatekeeper.
pub type LogsServer = InterceptedService<LogsServiceServer<GrpcReceiver>, Gatekeeper>;
/// The metrics service, behind its gatekeeper.
pub type MetricsServer = InterceptedService<MetricsServiceServer<GrpcReceiver>, Gatekeeper>;

/// The three services, ready to add to a tonic server.
pub fn services(
    ingest: Arc<Ingest>,
    auth: IngestAuth,
    max_message_bytes: usize,
) -> (TraceServer, LogsServer, MetricsServer) {
    let r = GrpcReceiver {
        ingest: ingest.clone(),
    };
    let gate = |signal| Gatekeeper {
        ingest: ingest.clone(),
        auth: auth.clone(),
        signal,
    };
    (
        InterceptedService::new(
            TraceServiceServer::new(r.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max_message_bytes),
            gate(SignalKind::Traces),
        ),
        InterceptedService::new(
            LogsServiceServer::new(r.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max_message_bytes),
            gate(SignalKind::Logs),
        ),
        InterceptedService::new(
            MetricsServiceServer::new(r)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max_message_bytes),
            gate(SignalKind::Metrics),
        ),
    )
}

/// Checks the token and the ingest budget from the request headers alone,
/// before the body is read and decoded: refusing an export must cost far
/// less than accepting one, or overload feeds itself.
#[derive(Clone)]
pub struct Gatekeeper {
    ingest: Arc<Ingest>,
    auth: IngestAuth,
    signal: SignalKind,
}

impl Interceptor for Gatekeeper {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if !self.auth.allows(authorization) {
            self.ingest
                .telemetry()
                .refused(self.signal, "unauthenticated");
            return Err(Status::unauthenticated(
                "missing or wrong ingest token: send authorization: Bearer <token> (one of auth.ingest_tokens)",
            ));
        }
        self.ingest.check_capacity(self.signal).map_err(to_status)?;
        Ok(request)
    }
}

fn to_status(e: IngestError) -> Status {
    let retry = match &e {
        IngestError::Overloaded(retry) => *retry,
        IngestError::Unavailable(_) => std::time::Duration::from_secs(1),
    };
    // OTLP: UNAVAILABLE with RetryInfo is what exporters retry on.
    Status::with_error_details(
        tonic::Code::Unavailable,
        e.to_string(),
        ErrorDetails::with_retry_info(Some(retry)),
    )
}

impl GrpcReceiver {
    async fn export<T>(
        &self,
        request: Request<T>,
        wrap: fn(T) -> ExportRequest,
    ) -> Result<Rejections, Status> {
        self.ingest
            .export(wrap(request.into_inner()))
            .await
            .map_err(to_status)
    }
}

#[tonic::async_trait]
impl TraceService for GrpcReceiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let r = GrpcReceiver::export(self, request, ExportRequest::Traces).await?;
        Ok(Response::new(response::traces(&r)))
    }
}

#[tonic::async_trait]
impl LogsService for GrpcReceiver {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let r = GrpcReceiver::export(self, request, ExportRequest::Logs).await?;
        Ok(Response::new(response::logs(&r)))
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcReceiver {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let r = GrpcReceiver::export(self, request, ExportRequest::Metrics).await?;
        Ok(Response::new(response::metrics(&r)))
    }
}

/// A malformed protobuf body is the client's fault: OTLP and weir's contract
/// answer INVALID_ARGUMENT, where tonic's prost codec says INTERNAL. Such
/// errors leave the server as trailers-only responses, so the status is in
/// the headers and can be corrected there.
pub fn decode_errors_as_invalid_argument<B>(mut response: http::Response<B>) -> http::Response<B> {
    let headers = response.headers_mut();
    let internal = headers.get("grpc-status").is_some_and(|v| v == "13");
    let decode_failure = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| {
            m.starts_with("failed%20to%20decode") || m.starts_with("failed to decode")
        });
    if internal && decode_failure {
        headers.insert("grpc-status", http::HeaderValue::from_static("3"));
    }
    response
}
