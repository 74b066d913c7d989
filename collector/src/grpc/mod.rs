//! OTLP/gRPC receiver: the three `Export` services, gzip accepted.

mod arrived;
mod export_service;

pub use export_service::{ExportServer, Logs, Metrics, OtlpExport, Traces};

use crate::IngestAuth;
use crate::ingest::{Ingest, IngestError};
use crate::otlp::SignalKind;
use std::sync::Arc;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The trace service, behind its gatekeeper.
pub type TraceServer = InterceptedService<ExportServer<Traces>, Gatekeeper>;
/// The logs service, behind its gatekeeper.
pub type LogsServer = InterceptedService<ExportServer<Logs>, Gatekeeper>;
/// The metrics service, behind its gatekeeper.
pub type MetricsServer = InterceptedService<ExportServer<Metrics>, Gatekeeper>;

/// The three services, ready to add to a tonic server.
pub fn services(
    ingest: Arc<Ingest>,
    auth: IngestAuth,
    max_message_bytes: usize,
) -> (TraceServer, LogsServer, MetricsServer) {
    let gate = |signal| Gatekeeper {
        ingest: ingest.clone(),
        auth: auth.clone(),
        signal,
    };
    (
        InterceptedService::new(
            ExportServer::new(ingest.clone(), max_message_bytes),
            gate(SignalKind::Traces),
        ),
        InterceptedService::new(
            ExportServer::new(ingest.clone(), max_message_bytes),
            gate(SignalKind::Logs),
        ),
        InterceptedService::new(
            ExportServer::new(ingest.clone(), max_message_bytes),
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

pub(crate) fn to_status(e: IngestError) -> Status {
    let retry = match &e {
        IngestError::Overloaded(retry) | IngestError::IndexingBehind { retry, .. } => *retry,
        IngestError::Unavailable(_) => std::time::Duration::from_secs(1),
    };
    // OTLP: UNAVAILABLE with RetryInfo is what exporters retry on.
    Status::with_error_details(
        tonic::Code::Unavailable,
        e.to_string(),
        ErrorDetails::with_retry_info(Some(retry)),
    )
}
