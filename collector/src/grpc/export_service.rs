//! The three OTLP `Export` services as tower services over
//! [`ArrivedCodec`]: what the generated `*ServiceServer`s do, except that the
//! handler receives the bytes the export arrived in, which the generated
//! servers (fixed to tonic's prost codec) throw away after decoding.

use super::arrived::{Arrived, ArrivedCodec};
use super::to_status;
use crate::ingest::Ingest;
use crate::otlp::validate::Rejections;
use crate::otlp::{ExportRequest, SignalKind, response};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::codegen::{
    Body, BoxFuture, CompressionEncoding, EnabledCompressionEncodings, Service, StdError, http,
};
use tonic::server::{NamedService, UnaryService};

/// What differs between the three services.
pub trait OtlpExport: Send + Sync + 'static {
    /// The gRPC service name.
    const NAME: &'static str;
    /// The signal it carries.
    const SIGNAL: SignalKind;
    /// The request message.
    type Request: prost::Message + Default + Send + 'static;
    /// The response message.
    type Response: prost::Message + Send + 'static;
    /// The request as the ingest path takes it.
    fn wrap(request: Self::Request) -> ExportRequest;
    /// The response to an accepted export.
    fn respond(rejections: &Rejections) -> Self::Response;
}

/// `opentelemetry.proto.collector.trace.v1.TraceService`.
pub struct Traces;
/// `opentelemetry.proto.collector.logs.v1.LogsService`.
pub struct Logs;
/// `opentelemetry.proto.collector.metrics.v1.MetricsService`.
pub struct Metrics;

impl OtlpExport for Traces {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const SIGNAL: SignalKind = SignalKind::Traces;
    type Request = ExportTraceServiceRequest;
    type Response = ExportTraceServiceResponse;
    fn wrap(request: Self::Request) -> ExportRequest {
        ExportRequest::Traces(request)
    }
    fn respond(rejections: &Rejections) -> Self::Response {
        response::traces(rejections)
    }
}

impl OtlpExport for Logs {
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const SIGNAL: SignalKind = SignalKind::Logs;
    type Request = ExportLogsServiceRequest;
    type Response = ExportLogsServiceResponse;
    fn wrap(request: Self::Request) -> ExportRequest {
        ExportRequest::Logs(request)
    }
    fn respond(rejections: &Rejections) -> Self::Response {
        response::logs(rejections)
    }
}

impl OtlpExport for Metrics {
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const SIGNAL: SignalKind = SignalKind::Metrics;
    type Request = ExportMetricsServiceRequest;
    type Response = ExportMetricsServiceResponse;
    fn wrap(request: Self::Request) -> ExportRequest {
        ExportRequest::Metrics(request)
    }
    fn respond(rejections: &Rejections) -> Self::Response {
        response::metrics(rejections)
    }
}

/// One export service: gzip both ways, a decoded-size limit.
pub struct ExportServer<S> {
    ingest: Arc<Ingest>,
    max_decoding_message_size: usize,
    service: PhantomData<fn() -> S>,
}

impl<S> ExportServer<S> {
    /// The service, refusing messages larger than `max_decoding_message_size` decoded.
    pub fn new(ingest: Arc<Ingest>, max_decoding_message_size: usize) -> Self {
        ExportServer {
            ingest,
            max_decoding_message_size,
            service: PhantomData,
        }
    }
}

impl<S> Clone for ExportServer<S> {
    fn clone(&self) -> Self {
        ExportServer {
            ingest: self.ingest.clone(),
            max_decoding_message_size: self.max_decoding_message_size,
            service: PhantomData,
        }
    }
}

impl<S: OtlpExport> NamedService for ExportServer<S> {
    const NAME: &'static str = S::NAME;
}

fn gzip() -> EnabledCompressionEncodings {
    let mut encodings = EnabledCompressionEncodings::default();
    encodings.enable(CompressionEncoding::Gzip);
    encodings
}

impl<S, B> Service<http::Request<B>> for ExportServer<S>
where
    S: OtlpExport,
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let is_export = request
            .uri()
            .path()
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(S::NAME))
            == Some("/Export");
        if !is_export {
            return Box::pin(async { Ok(tonic::Status::unimplemented("").into_http()) });
        }
        let method = ExportMethod::<S> {
            ingest: self.ingest.clone(),
            service: PhantomData,
        };
        let limit = self.max_decoding_message_size;
        Box::pin(async move {
            let mut grpc =
                tonic::server::Grpc::new(ArrivedCodec::<S::Request, S::Response>::default())
                    .apply_compression_config(gzip(), gzip())
                    .apply_max_message_size_config(Some(limit), None);
            Ok(grpc.unary(method, request).await)
        })
    }
}

struct ExportMethod<S> {
    ingest: Arc<Ingest>,
    service: PhantomData<fn() -> S>,
}

impl<S: OtlpExport> UnaryService<Arrived<S::Request>> for ExportMethod<S> {
    type Response = S::Response;
    type Future = BoxFuture<tonic::Response<S::Response>, tonic::Status>;

    fn call(&mut self, request: tonic::Request<Arrived<S::Request>>) -> Self::Future {
        let ingest = self.ingest.clone();
        Box::pin(async move {
            let Arrived { message, bytes } = request.into_inner();
            let rejections = ingest
                .export_as_sent(S::wrap(message), bytes)
                .await
                .map_err(to_status)?;
            Ok(tonic::Response::new(S::respond(&rejections)))
        })
    }
}
