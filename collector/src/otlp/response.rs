//! Export responses, shared by both receivers.

use super::SignalKind;
use super::validate::Rejections;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};

/// The record noun of a signal, for messages.
pub fn noun(signal: SignalKind) -> &'static str {
    match signal {
        SignalKind::Traces => "spans",
        SignalKind::Logs => "log records",
        SignalKind::Metrics => "data points",
    }
}

/// How many records were rejected and why; `None` on full success, where
/// OTLP says `partial_success` must be unset.
pub fn partial(signal: SignalKind, rejections: &Rejections) -> Option<(i64, String)> {
    let n = rejections.total() as i64;
    (n > 0).then(|| (n, rejections.message(noun(signal))))
}

/// The traces response.
pub fn traces(r: &Rejections) -> ExportTraceServiceResponse {
    ExportTraceServiceResponse {
        partial_success: partial(SignalKind::Traces, r).map(|(rejected_spans, error_message)| {
            ExportTracePartialSuccess {
                rejected_spans,
                error_message,
            }
        }),
    }
}

/// The logs response.
pub fn logs(r: &Rejections) -> ExportLogsServiceResponse {
    ExportLogsServiceResponse {
        partial_success: partial(SignalKind::Logs, r).map(
            |(rejected_log_records, error_message)| ExportLogsPartialSuccess {
                rejected_log_records,
                error_message,
            },
        ),
    }
}

/// The metrics response.
pub fn metrics(r: &Rejections) -> ExportMetricsServiceResponse {
    ExportMetricsServiceResponse {
        partial_success: partial(SignalKind::Metrics, r).map(
            |(rejected_data_points, error_message)| ExportMetricsPartialSuccess {
                rejected_data_points,
                error_message,
            },
        ),
    }
}
