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
use tonic::{Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Shared by the three services.
#[derive(Clone)]
pub struct GrpcReceiver {
    ingest: Arc<Ingest>,
    auth: IngestAuth,
}

/// The three services, ready to add to a tonic server.
pub fn services(
    ingest: Arc<Ingest>,
    auth: IngestAuth,
    max_message_bytes: usize,
) -> (
    TraceServiceServer<GrpcReceiver>,
    LogsServiceServer<GrpcReceiver>,
    MetricsServiceServer<GrpcReceiver>,
) {
    let r = GrpcReceiver { ingest, auth };
    (
        TraceServiceServer::new(r.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(max_message_bytes),
        LogsServiceServer::new(r.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(max_message_bytes),
        MetricsServiceServer::new(r)
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(max_message_bytes),
    )
}

impl GrpcReceiver {
    async fn export<T>(
        &self,
        signal: SignalKind,
        request: Request<T>,
        wrap: fn(T) -> ExportRequest,
    ) -> Result<Rejections, Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if !self.auth.allows(authorization) {
            self.ingest.telemetry().refused(signal, "unauthenticated");
            return Err(Status::unauthenticated(
                "missing or wrong ingest token: send authorization: Bearer <token> (one of auth.ingest_tokens)",
            ));
        }
        match self.ingest.export(wrap(request.into_inner())).await {
            Ok(r) => Ok(r),
            // OTLP: UNAVAILABLE with RetryInfo is what exporters retry on.
            Err(e @ IngestError::Overloaded(retry)) => Err(Status::with_error_details(
                tonic::Code::Unavailable,
                e.to_string(),
                ErrorDetails::with_retry_info(Some(retry)),
            )),
            Err(e @ IngestError::Unavailable(_)) => Err(Status::with_error_details(
                tonic::Code::Unavailable,
                e.to_string(),
                ErrorDetails::with_retry_info(Some(std::time::Duration::from_secs(1))),
            )),
        }
    }
}

#[tonic::async_trait]
impl TraceService for GrpcReceiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let r =
            GrpcReceiver::export(self, SignalKind::Traces, request, ExportRequest::Traces).await?;
        Ok(Response::new(response::traces(&r)))
    }
}

#[tonic::async_trait]
impl LogsService for GrpcReceiver {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let r = GrpcReceiver::export(self, SignalKind::Logs, request, ExportRequest::Logs).await?;
        Ok(Response::new(response::logs(&r)))
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcReceiver {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let r = GrpcReceiver::export(self, SignalKind::Metrics, request, ExportRequest::Metrics)
            .await?;
        Ok(Response::new(response::metrics(&r)))
    }
}
